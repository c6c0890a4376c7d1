//! Cairn's events in ClickHouse, for sites that outgrow one machine.
//!
//! * [`ClickHouse::connect`] reaches a server over its HTTP interface (the official
//!   `clickhouse` crate), creates the database and applies the numbered migrations of
//!   [`schema`] (recorded in `cairn_migrations`).
//! * [`ClickHouse::insert`] writes a batch of records with an insert deduplication
//!   token, so a batch sent again after a failure is stored once.
//! * [`ClickHouse`] is a [`TimelineSource`](cairn_timeline::TimelineSource): every
//!   analysis of `cairn-engine` reads visitor timelines streamed from ClickHouse in
//!   `(visitor, ts, seq)` order (`ORDER BY` the table's sorting key, so ClickHouse
//!   reads in order and sorts nothing), projected and filtered there, with user input
//!   only ever sent as query parameters. See `docs/clickhouse.md`.
//!
//! The crate's API is blocking, like the rest of the seam: it runs its requests on a
//! small runtime of its own, so callers need none (and may call it from inside one).

pub mod config;
mod events;
mod rowbinary;
pub mod schema;
mod source;

use std::future::Future;

use cairn_model::Record;
use clickhouse::Client;

pub use config::Config;

/// Why a request to ClickHouse failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The client or the server reported an error (the server's text, with its code).
    #[error("clickhouse: {0}")]
    Client(#[from] clickhouse::error::Error),
    /// The configuration is invalid.
    #[error("clickhouse configuration: {0}")]
    Config(String),
    /// The server's answer was not what Cairn's schema makes it send.
    #[error("clickhouse answered unexpectedly: {0}")]
    Protocol(String),
}

/// A connection to Cairn's database on a ClickHouse server or cluster.
pub struct ClickHouse {
    client: Client,
    config: Config,
    rt: tokio::runtime::Runtime,
}

impl std::fmt::Debug for ClickHouse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClickHouse")
            .field("url", &self.config.url)
            .field("database", &self.config.database)
            .finish()
    }
}

impl ClickHouse {
    /// Connects, creates the database when missing and applies pending migrations.
    pub fn connect(config: Config) -> Result<ClickHouse, Error> {
        config.validate().map_err(Error::Config)?;
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("cairn-clickhouse")
            .enable_all()
            .build()
            .map_err(|e| Error::Config(format!("cannot start the client's runtime: {e}")))?;
        let mut base = Client::default()
            .with_url(&config.url)
            .with_user(&config.user)
            .with_compression(if config.compression {
                clickhouse::Compression::Lz4
            } else {
                clickhouse::Compression::None
            })
            .with_setting(
                "max_execution_time",
                config.query_timeout_secs.max(1).to_string(),
            );
        if !config.password.is_empty() {
            base = base.with_password(&config.password);
        }
        let ch = ClickHouse {
            client: base.clone().with_database(&config.database),
            config,
            rt,
        };
        let create = format!(
            "CREATE DATABASE IF NOT EXISTS {}{}",
            ch.config.database,
            cluster_clause(&ch.config.cluster)
        );
        ch.block(async move { base.query(&create).execute().await })?;
        ch.migrate()?;
        Ok(ch)
    }

    /// The configuration it was opened with.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Runs `f` on the client's runtime and waits for it (from any thread, inside a
    /// runtime or not).
    pub(crate) fn block<T: Send + 'static>(
        &self,
        f: impl Future<Output = Result<T, clickhouse::error::Error>> + Send + 'static,
    ) -> Result<T, Error> {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        self.rt.spawn(async move {
            let _ = tx.send(f.await);
        });
        rx.recv()
            .map_err(|_| Error::Protocol("the client's runtime stopped".into()))?
            .map_err(Error::from)
    }

    pub(crate) fn client(&self) -> &Client {
        &self.client
    }

    pub(crate) fn runtime(&self) -> &tokio::runtime::Runtime {
        &self.rt
    }

    /// Applies every migration not yet recorded; returns how many ran.
    pub fn migrate(&self) -> Result<usize, Error> {
        let cluster = self.config.cluster.clone();
        let c = self.client.clone();
        let table = schema::migrations_table(&cluster);
        self.block(async move { c.query(&table).execute().await })?;
        let c = self.client.clone();
        let done: Vec<u32> = self.block(async move {
            c.query("SELECT DISTINCT version FROM cairn_migrations ORDER BY version")
                .fetch_all::<u32>()
                .await
        })?;
        let mut ran = 0;
        for m in schema::MIGRATIONS {
            if done.contains(&m.version) {
                continue;
            }
            for stmt in (m.statements)(&cluster) {
                let c = self.client.clone();
                self.block(async move { c.query(&stmt).execute().await })?;
            }
            let c = self.client.clone();
            let (v, name) = (m.version, m.name);
            self.block(async move {
                c.query(
                    "INSERT INTO cairn_migrations (version, name) VALUES ({v:UInt32}, {n:String})",
                )
                .param("v", v)
                .param("n", name)
                .execute()
                .await
            })?;
            tracing::info!(version = v, name, "clickhouse migration applied");
            ran += 1;
        }
        Ok(ran)
    }

    /// The newest migration applied.
    pub fn schema_version(&self) -> Result<u32, Error> {
        let c = self.client.clone();
        self.block(async move {
            c.query("SELECT max(version) FROM cairn_migrations")
                .fetch_one::<u32>()
                .await
        })
    }

    /// Whether the server answers.
    pub fn ping(&self) -> Result<(), Error> {
        let c = self.client.clone();
        self.block(async move { c.query("SELECT 1").execute().await })
    }

    /// Writes `records` (validated already) in one insert per table. Record i gets the
    /// arrival sequence number `first_seq + i`, which orders events of equal time and
    /// bounds what a scan sees. `token` names the batch: sending the same batch with the
    /// same token again (a retry after a failure whose outcome is unknown) stores it
    /// once.
    pub fn insert(&self, records: &[Record], first_seq: u64, token: &str) -> Result<(), Error> {
        let mut events = Vec::new();
        let mut ids = Vec::new();
        for (i, r) in records.iter().enumerate() {
            let seq = first_seq + i as u64;
            match r {
                Record::Event(e) => rowbinary::encode_event(&mut events, e, seq),
                Record::Identify(id) => rowbinary::encode_identify(&mut ids, id, seq),
            }
        }
        if !events.is_empty() {
            let sql = format!(
                "INSERT INTO events ({}) FORMAT RowBinary",
                schema::event_column_names()
            );
            self.insert_bytes(sql, events, format!("{token}/events"))?;
        }
        if !ids.is_empty() {
            let sql = "INSERT INTO identities (site, visitor, `user`, ts, seq) FORMAT RowBinary";
            self.insert_bytes(sql.into(), ids, format!("{token}/identities"))?;
        }
        Ok(())
    }

    fn insert_bytes(&self, sql: String, data: Vec<u8>, token: String) -> Result<(), Error> {
        let c = self.client.clone();
        self.block(async move {
            let mut ins = c
                .insert_formatted_with(sql)
                .with_setting("async_insert", "0")
                .with_setting("insert_deduplicate", "1")
                .with_setting("insert_deduplication_token", token);
            ins.send(bytes::Bytes::from(data)).await?;
            ins.end().await
        })
    }

    /// The highest arrival sequence number stored (0 when empty).
    pub fn max_seq(&self) -> Result<u64, Error> {
        let c = self.client.clone();
        self.block(async move {
            c.query(
                "SELECT greatest(ifNull((SELECT max(seq) FROM events), 0), \
                 ifNull((SELECT max(seq) FROM identities), 0))",
            )
            .fetch_one::<u64>()
            .await
        })
    }

    /// Drops Cairn's database and everything in it.
    pub fn drop_database(self) -> Result<(), Error> {
        let sql = format!(
            "DROP DATABASE IF EXISTS {}{} SYNC",
            self.config.database,
            cluster_clause(&self.config.cluster)
        );
        let c = self.client.clone();
        self.block(async move { c.query(&sql).execute().await })
    }

    /// Erases every event and link of some visitors of a site, and of every visitor
    /// linked to one of `users` (GDPR erasure), with lightweight `DELETE`s: the rows
    /// disappear from queries at once and from disk as parts merge (docs/clickhouse.md).
    /// Returns the visitors erased.
    pub fn erase(&self, site: &str, visitors: &[u64], users: &[String]) -> Result<Vec<u64>, Error> {
        let c = self.client.clone();
        let (s, u) = (site.to_string(), users.to_vec());
        let mut all: Vec<u64> = self.block(async move {
            c.query(
                "SELECT DISTINCT visitor FROM (\
                   SELECT visitor FROM events WHERE site = {s:String} AND has({u:Array(String)}, `user`) \
                   UNION ALL SELECT visitor FROM identities WHERE site = {s:String} AND has({u:Array(String)}, `user`))",
            )
            .param("s", s)
            .param("u", u)
            .fetch_all::<u64>()
            .await
        })?;
        all.extend_from_slice(visitors);
        all.sort_unstable();
        all.dedup();
        for table in ["events", "identities"] {
            let c = self.client.clone();
            let (s, v) = (site.to_string(), all.clone());
            let sql = format!(
                "DELETE FROM {table} WHERE site = {{s:String}} AND has({{v:Array(UInt64)}}, visitor)"
            );
            self.block(async move { c.query(&sql).param("s", s).param("v", v).execute().await })?;
        }
        Ok(all)
    }

    /// Events stored for a site (every site: `None`).
    pub fn count_events(&self, site: Option<&str>) -> Result<u64, Error> {
        let c = self.client.clone();
        let site = site.map(str::to_string);
        self.block(async move {
            match site {
                Some(s) => {
                    c.query("SELECT count() FROM events WHERE site = {s:String}")
                        .param("s", s)
                        .fetch_one::<u64>()
                        .await
                }
                None => {
                    c.query("SELECT count() FROM events")
                        .fetch_one::<u64>()
                        .await
                }
            }
        })
    }
}

fn cluster_clause(cluster: &str) -> String {
    if cluster.is_empty() {
        String::new()
    } else {
        format!(" ON CLUSTER {cluster}")
    }
}
