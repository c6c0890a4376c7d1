//! Where the ClickHouse server is and how to talk to it.

use std::time::Duration;

/// How to reach ClickHouse (`[clickhouse]` in the server's TOML configuration, or
/// `cairn serve --backend clickhouse --clickhouse-url …`).
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// The HTTP interface, e.g. `http://127.0.0.1:8123`, or `https://…:8443` (TLS,
    /// checked against the system's certificate authorities, or those of the file
    /// named by `SSL_CERT_FILE`).
    pub url: String,
    /// The database Cairn's tables live in (created when missing).
    pub database: String,
    /// The user.
    pub user: String,
    /// The password (empty: none).
    pub password: String,
    /// A cluster name: tables are created `ON CLUSTER` as ReplicatedMergeTree on every
    /// shard, with a Distributed table sharded by visitor in front of them. Empty: a
    /// single server with plain MergeTree tables.
    pub cluster: String,
    /// Events per insert: the shipper sends batches of at most this many.
    pub batch_rows: usize,
    /// Ship a non-empty backlog at least this often (seconds).
    pub batch_interval_secs: u64,
    /// Compress requests and responses with LZ4 (ClickHouse's own framing).
    pub compression: bool,
    /// Longest a query may run (seconds): sent as `max_execution_time`.
    pub query_timeout_secs: u64,
    /// Most bytes of events a server keeps on its own disk while ClickHouse does not
    /// take them; beyond it, writes are refused (`503`) until ClickHouse is back.
    pub backlog_max_bytes: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            url: "http://127.0.0.1:8123".into(),
            database: "cairn".into(),
            user: "default".into(),
            password: String::new(),
            cluster: String::new(),
            batch_rows: 100_000,
            batch_interval_secs: 5,
            compression: true,
            query_timeout_secs: 300,
            backlog_max_bytes: 10 << 30,
        }
    }
}

impl Config {
    /// [`Config::batch_interval_secs`] as a duration.
    pub fn batch_interval(&self) -> Duration {
        Duration::from_secs(self.batch_interval_secs.max(1))
    }

    /// Checks the fields a server cannot work without.
    pub fn validate(&self) -> Result<(), String> {
        if !(self.url.starts_with("http://") || self.url.starts_with("https://")) {
            return Err(format!(
                "clickhouse.url must start with http:// or https://, not `{}`",
                self.url
            ));
        }
        let ident = |s: &str| {
            !s.is_empty()
                && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                && !s.starts_with(|c: char| c.is_ascii_digit())
        };
        if !ident(&self.database) {
            return Err(format!(
                "clickhouse.database must be letters, digits and _, not `{}`",
                self.database
            ));
        }
        if !self.cluster.is_empty() && !ident(&self.cluster) {
            return Err(format!(
                "clickhouse.cluster must be letters, digits and _, not `{}`",
                self.cluster
            ));
        }
        if self.batch_rows == 0 {
            return Err("clickhouse.batch_rows must be at least 1".into());
        }
        Ok(())
    }
}
