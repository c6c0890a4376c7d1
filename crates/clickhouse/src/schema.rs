//! Cairn's tables in ClickHouse and their numbered migrations.
//!
//! Every migration is a list of statements applied once, in order, and recorded in
//! `cairn_migrations` (version, name, time). Statements are idempotent (`IF NOT
//! EXISTS`), so a migration interrupted half way is simply run again.
//!
//! * `events`: one row per event, `ORDER BY (site, visitor, ts, seq)` (a visitor's
//!   timeline is one sorted run), partitioned by month, time and arrival sequence
//!   delta-coded, dimensions `LowCardinality`, properties in three maps by type
//!   (queryable by key: `props_str['plan']`). Single node: `MergeTree` with a
//!   deduplication window, so a retried insert with the same token is stored once. On a
//!   cluster: `ReplicatedMergeTree` on every shard (`events_local`) and a
//!   `Distributed` table `events` sharded by visitor, so a visitor lives on one shard.
//! * `identities`: visitor → user links from `identify` records (events carrying a
//!   user link too: see [`crate::source`]).

use cairn_model::Dim;

/// The ClickHouse column of a dimension.
pub fn column(d: Dim) -> &'static str {
    // Dimension names are plain identifiers; `user` and `query` are quoted where used.
    d.as_str()
}

/// Whether a dimension has few distinct values (stored `LowCardinality`).
fn low_cardinality(d: Dim) -> bool {
    !matches!(
        d,
        Dim::User | Dim::Path | Dim::Query | Dim::Referrer | Dim::UtmTerm | Dim::UtmContent
    )
}

/// The events table's columns, in insert order (the order of
/// [`crate::rowbinary::encode_event`]).
pub fn event_columns() -> String {
    let mut cols = vec![
        "site LowCardinality(String)".to_string(),
        "visitor UInt64".into(),
        "ts DateTime64(3, 'UTC') CODEC(DoubleDelta, ZSTD(1))".into(),
        "seq UInt64 CODEC(Delta, ZSTD(1))".into(),
    ];
    for d in Dim::ALL {
        let ty = if low_cardinality(d) {
            "LowCardinality(String)"
        } else {
            "String CODEC(ZSTD(3))"
        };
        cols.push(format!("`{}` {ty}", column(d)));
    }
    cols.push("props_str Map(String, String) CODEC(ZSTD(3))".into());
    cols.push("props_num Map(String, Float64) CODEC(ZSTD(3))".into());
    cols.push("props_bool Map(String, Bool) CODEC(ZSTD(3))".into());
    cols.push("revenue_micros Nullable(Int64)".into());
    cols.push("currency LowCardinality(String)".into());
    cols.join(",\n  ")
}

/// The names of the events table's columns, in insert order.
pub fn event_column_names() -> String {
    let mut cols: Vec<String> = ["site", "visitor", "ts", "seq"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    cols.extend(Dim::ALL.iter().map(|d| format!("`{}`", column(*d))));
    cols.extend(
        [
            "props_str",
            "props_num",
            "props_bool",
            "revenue_micros",
            "currency",
        ]
        .iter()
        .map(|s| s.to_string()),
    );
    cols.join(", ")
}

/// One migration: its number, what it does, its statements.
pub struct Migration {
    /// Applied in increasing order, once.
    pub version: u32,
    /// What it does.
    pub name: &'static str,
    /// The statements, for a single server (`cluster` empty) or a cluster.
    pub statements: fn(cluster: &str) -> Vec<String>,
}

/// Every migration, oldest first.
pub const MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    name: "events and identities",
    statements: v1,
}];

/// `ON CLUSTER x` or nothing.
fn on_cluster(cluster: &str) -> String {
    if cluster.is_empty() {
        String::new()
    } else {
        format!(" ON CLUSTER {cluster}")
    }
}

/// The engine of a table: plain on one server (with a deduplication window for
/// idempotent retried inserts), replicated on a cluster (which deduplicates inserts
/// itself).
fn engine(cluster: &str, table: &str) -> String {
    if cluster.is_empty() {
        "MergeTree".into()
    } else {
        format!(
            "ReplicatedMergeTree('/clickhouse/tables/{{shard}}/{{database}}/{table}', '{{replica}}')"
        )
    }
}

fn v1(cluster: &str) -> Vec<String> {
    let on = on_cluster(cluster);
    let local = |t: &str| {
        if cluster.is_empty() {
            t.to_string()
        } else {
            format!("{t}_local")
        }
    };
    let dedup = if cluster.is_empty() {
        " SETTINGS non_replicated_deduplication_window = 10000"
    } else {
        ""
    };
    let mut out = vec![
        format!(
            "CREATE TABLE IF NOT EXISTS {}{on} (\n  {}\n) ENGINE = {}\nPARTITION BY toYYYYMM(ts)\nORDER BY (site, visitor, ts, seq){dedup}",
            local("events"),
            event_columns(),
            engine(cluster, "events"),
        ),
        format!(
            "CREATE TABLE IF NOT EXISTS {}{on} (\n  site LowCardinality(String),\n  visitor UInt64,\n  `user` String,\n  ts DateTime64(3, 'UTC'),\n  seq UInt64\n) ENGINE = {}\nORDER BY (site, visitor, ts, seq){dedup}",
            local("identities"),
            engine(cluster, "identities"),
        ),
    ];
    if !cluster.is_empty() {
        for t in ["events", "identities"] {
            out.push(format!(
                "CREATE TABLE IF NOT EXISTS {t}{on} AS {t}_local ENGINE = Distributed({cluster}, currentDatabase(), {t}_local, cityHash64(visitor))"
            ));
        }
    }
    out
}

/// The migrations table.
pub fn migrations_table(cluster: &str) -> String {
    let on = on_cluster(cluster);
    let engine = if cluster.is_empty() {
        "MergeTree".to_string()
    } else {
        "ReplicatedMergeTree('/clickhouse/tables/{database}/cairn_migrations', '{replica}')"
            .to_string()
    };
    format!(
        "CREATE TABLE IF NOT EXISTS cairn_migrations{on} (version UInt32, name String, applied DateTime DEFAULT now()) ENGINE = {engine} ORDER BY version"
    )
}
