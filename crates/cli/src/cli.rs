//! The command line's shape (clap derive). `docs/cli.md` documents it for users.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::args::{Count, TimeArg};

/// Cairn: self-hosted micro-conversion analytics.
#[derive(Debug, Parser)]
#[command(name = "cairn", version, propagate_version = true)]
pub struct Cli {
    /// The store's data directory.
    #[arg(
        long,
        global = true,
        env = "CAIRN_DATA",
        default_value = "./cairn-data",
        value_name = "DIR"
    )]
    pub data: PathBuf,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server: the dashboard, the tracker and every ingestion endpoint, and the
    /// query and management API.
    Serve(ServeArgs),
    /// Import events from NDJSON, CSV or Parquet files into the store.
    Import(ImportArgs),
    /// Export the store's events as Parquet, NDJSON or CSV.
    Export(ExportArgs),
    /// Events, visitors, sites, partitions and bytes on disk.
    Stats(StatsArgs),
    /// Run one query spec (goals, funnel or report) and print the result.
    Query(QueryArgs),
    /// Register sites and list them; events for unregistered sites are refused.
    #[command(subcommand)]
    Site(SiteCommand),
    /// Campaign spend: import it from CSV, list it, delete days of it (docs/campaigns.md).
    #[command(subcommand)]
    Spend(SpendCommand),
    /// Print the HTTP API's OpenAPI 3.1 document (as served at /api/openapi.json).
    Openapi,
    /// Dashboard users: add them and give them a role on sites.
    #[command(subcommand)]
    User(UserCommand),
    /// Fill an empty store with generated demo sites, or write generated events to a file.
    Demo(DemoArgs),
    /// Check the whole store without changing it: every segment against the manifest and
    /// every checksum, every log frame, files the manifest does not list. Exits 1 on any
    /// damage.
    Verify,
    /// Mend a damaged store, saying what it discards: drops damaged or replaced segments
    /// and damaged log frames, keeps every readable one, moves what it takes out to
    /// DIR/lost+found/.
    Repair,
    /// Write a consistent copy of the store to a new directory.
    Snapshot(SnapshotArgs),
    /// Drop events older than N days (whole UTC days).
    Retain(RetainArgs),
    /// Erase every event of some visitors or users of a site.
    Erase(EraseArgs),
    /// Copy the store's events and identity links into ClickHouse (resumable; checked by
    /// counts), before serving with `--backend clickhouse` (docs/clickhouse.md).
    Migrate(MigrateArgs),
}

/// A file format of `import` and `export`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// One JSON record per line (Cairn's own import format).
    Ndjson,
    /// Comma-separated values with a header row.
    Csv,
    /// Apache Parquet (zstd).
    Parquet,
}

/// What `import` does with rows that are not valid records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OnError {
    /// Report bad rows and import nothing (from any of the files).
    Reject,
    /// Report bad rows and import the good ones.
    Skip,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// Files to import; `-` reads standard input (NDJSON unless --format says otherwise).
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,

    /// The files' format (default: from each file's extension).
    #[arg(long, value_enum)]
    pub format: Option<Format>,

    /// How CSV columns map to Cairn fields, e.g. `Timestamp=ts,Client=visitor,Event=name,@site=shop.example`.
    #[arg(long, value_name = "SPEC")]
    pub csv_map: Option<String>,

    /// The CSV field delimiter: one character, or `tab`.
    #[arg(long, value_name = "CHAR", default_value = ",")]
    pub csv_delimiter: String,

    /// Bad rows: `reject` imports nothing unless every row of every file is valid; `skip`
    /// imports the good rows.
    #[arg(long, value_enum, default_value_t = OnError::Reject)]
    pub on_error: OnError,

    /// Leave the new segments as written instead of merging small ones afterwards.
    #[arg(long)]
    pub no_compact: bool,

    /// Events sorted in memory at a time and written as one run of segments: more means
    /// fewer, larger segments before compaction, and more memory (under 200 bytes per
    /// event once interned, plus its distinct strings; two batches at most).
    #[arg(long, value_name = "N", default_value = "1M")]
    pub batch: Count,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The output file; `-` writes to standard output.
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,

    /// The output format (default: from the file's extension; NDJSON for `-`).
    #[arg(long, value_enum)]
    pub format: Option<Format>,

    /// Only this site's events (repeat for several sites).
    #[arg(long = "site", value_name = "SITE")]
    pub sites: Vec<String>,

    /// Only events at or after this time (RFC 3339, or a UTC date such as 2026-09-01).
    #[arg(long, value_name = "TIME")]
    pub from: Option<TimeArg>,

    /// Only events before this time (RFC 3339, exclusive; a date includes that whole day).
    #[arg(long, value_name = "TIME")]
    pub to: Option<TimeArg>,

    /// Leave out the identify records (visitor → user links).
    #[arg(long)]
    pub events_only: bool,

    /// Export from ClickHouse (its HTTP interface, e.g. http://127.0.0.1:8123) instead
    /// of the store in --data.
    #[arg(long, value_name = "URL")]
    pub clickhouse_url: Option<String>,

    /// The ClickHouse database, with --clickhouse-url.
    #[arg(long, value_name = "NAME", default_value = "cairn")]
    pub clickhouse_database: String,
}

#[derive(Debug, Default, Args)]
pub struct ServeArgs {
    /// Configuration file (TOML; see docs/ingestion.md). Flags and environment
    /// variables override it.
    #[arg(long, env = "CAIRN_CONFIG", value_name = "FILE.toml")]
    pub config: Option<PathBuf>,

    /// Address to listen on (default 127.0.0.1:8080).
    #[arg(long, env = "CAIRN_LISTEN", value_name = "ADDR")]
    pub listen: Option<std::net::SocketAddr>,

    /// Bearer token for /metrics; without one, /metrics answers only clients on this
    /// machine.
    #[arg(
        long,
        env = "CAIRN_METRICS_TOKEN",
        value_name = "TOKEN",
        hide_env_values = true
    )]
    pub metrics_token: Option<String>,

    /// Largest request body, in bytes (default 8 MiB).
    #[arg(long, value_name = "BYTES")]
    pub max_body: Option<usize>,

    /// Most records in one batch request (default 10,000).
    #[arg(long, value_name = "N")]
    pub max_batch: Option<usize>,

    /// Requests per second one client address may send to the tracker and Plausible
    /// endpoints (default 50, bursts of 500); 0 turns the limit off.
    #[arg(long, value_name = "N")]
    pub per_ip_rate: Option<f64>,

    /// Events per second one site may store (default 50,000, bursts of 200,000); 0 turns
    /// the limit off.
    #[arg(long, value_name = "N")]
    pub per_site_rate: Option<f64>,

    /// Take the client address from X-Forwarded-For / X-Real-IP: only behind a reverse
    /// proxy that sets them.
    #[arg(long, env = "CAIRN_TRUST_PROXY")]
    pub trust_proxy: bool,

    /// Start with a new, empty site registry although the store holds events (its
    /// meta.sqlite is gone): without it, serve refuses such a store.
    #[arg(long)]
    pub new_registry: bool,
    /// Memory for segment chunks kept between queries, in MiB (default 512); 0 turns the
    /// cache off. See docs/operations.md, "Memory of a running server".
    #[arg(long, env = "CAIRN_CACHE_MIB", value_name = "MIB")]
    pub cache_mib: Option<usize>,

    /// A MaxMind-format country database (.mmdb) for the `country` field.
    #[arg(long, env = "CAIRN_GEOIP", value_name = "FILE.mmdb")]
    pub geoip: Option<PathBuf>,

    /// Where events are kept and queried: `embedded` (default) or `clickhouse` (the
    /// store in --data then only holds events until ClickHouse has them; see
    /// docs/clickhouse.md).
    #[arg(long, env = "CAIRN_BACKEND", value_name = "BACKEND")]
    pub backend: Option<Backend>,

    /// ClickHouse's HTTP interface, e.g. http://127.0.0.1:8123 (overrides the
    /// configuration's [clickhouse] url).
    #[arg(long, env = "CAIRN_CLICKHOUSE_URL", value_name = "URL")]
    pub clickhouse_url: Option<String>,

    /// The ClickHouse database (default `cairn`).
    #[arg(long, env = "CAIRN_CLICKHOUSE_DATABASE", value_name = "NAME")]
    pub clickhouse_database: Option<String>,
}

/// Where a server keeps and queries its events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Backend {
    /// The embedded store in --data.
    Embedded,
    /// A ClickHouse server or cluster.
    Clickhouse,
}

#[derive(Debug, Subcommand)]
pub enum SiteCommand {
    /// Register a site and print its write key (shown once).
    Add(SiteAddArgs),
    /// List the registered sites.
    List(SiteListArgs),
    /// Change a site's time zone or visitor identity mode.
    Set(SiteSetArgs),
    /// Create another key for a site: a read key (for `/api/v1/query`) or, with
    /// `--write`, a write key; printed once.
    Key(SiteKeyArgs),
}

#[derive(Debug, Subcommand)]
pub enum SpendCommand {
    /// Import spend from a CSV file with the columns date, source, medium, campaign,
    /// cost, currency (a header line; source, medium or campaign may be empty).
    Import(SpendImportArgs),
    /// List a site's spend, per day, source, medium and campaign.
    List(SpendListArgs),
    /// Delete a site's spend of the days FROM to TO.
    Delete(SpendDeleteArgs),
}

#[derive(Debug, Args)]
pub struct SpendImportArgs {
    /// The site.
    #[arg(long)]
    pub site: String,
    /// The CSV file (`-`: standard input).
    pub file: std::path::PathBuf,
    /// The currency the spend is kept in (default: the file's, when it has only one).
    #[arg(long)]
    pub currency: Option<String>,
    /// The rate of another currency of the file: `USD=0.92` (one USD is worth 0.92 of
    /// the spend's currency). Repeat for each currency; without one, its rows are refused.
    #[arg(long = "rate", value_name = "CUR=RATE")]
    pub rates: Vec<String>,
}

#[derive(Debug, Args)]
pub struct SpendListArgs {
    /// The site.
    #[arg(long)]
    pub site: String,
    /// From this day (with --to).
    #[arg(long, requires = "to")]
    pub from: Option<chrono::NaiveDate>,
    /// To this day (with --from).
    #[arg(long, requires = "from")]
    pub to: Option<chrono::NaiveDate>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct SpendDeleteArgs {
    /// The site.
    #[arg(long)]
    pub site: String,
    /// The first day.
    #[arg(long)]
    pub from: chrono::NaiveDate,
    /// The last day.
    #[arg(long)]
    pub to: chrono::NaiveDate,
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Add a user; the password comes from CAIRN_PASSWORD or the first line of standard
    /// input, and is kept only as its Argon2id hash.
    Add(UserAddArgs),
    /// Give a user a role on a site (`--role none` takes it away).
    Grant(UserGrantArgs),
}

#[derive(Debug, Args)]
pub struct UserAddArgs {
    /// The user's email, their login name.
    pub email: String,

    /// May add sites and administers every site.
    #[arg(long)]
    pub superuser: bool,
}

/// A role on a site.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum RoleArg {
    /// Sees the site's reports.
    Viewer,
    /// Also changes its settings, goals, funnels and keys.
    Admin,
    /// No access.
    None,
}

#[derive(Debug, Args)]
pub struct UserGrantArgs {
    /// The user's email.
    pub email: String,

    /// The site's domain.
    pub site: String,

    /// The role.
    #[arg(long, value_enum)]
    pub role: RoleArg,
}

#[derive(Debug, Args)]
pub struct SiteKeyArgs {
    /// The site's domain.
    pub domain: String,

    /// A write key (for sending events) instead of a read key.
    #[arg(long)]
    pub write: bool,
}

/// How the server identifies a site's visitors.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum IdentityArg {
    /// A daily-salted hash of site, address and user agent; no cookie (default).
    Cookieless,
    /// A random id the tracker keeps in local storage (ask your visitors' consent).
    FirstParty,
}

impl From<IdentityArg> for cairn_meta::VisitorIdMode {
    fn from(a: IdentityArg) -> Self {
        match a {
            IdentityArg::Cookieless => cairn_meta::VisitorIdMode::Cookieless,
            IdentityArg::FirstParty => cairn_meta::VisitorIdMode::FirstParty,
        }
    }
}

#[derive(Debug, Args)]
pub struct SiteSetArgs {
    /// The site's domain.
    pub domain: String,

    /// A new IANA time zone.
    #[arg(long, value_name = "TZ")]
    pub timezone: Option<String>,

    /// How visitors are identified.
    #[arg(long, value_enum)]
    pub identity: Option<IdentityArg>,
}

#[derive(Debug, Args)]
pub struct SiteAddArgs {
    /// The site's domain, in lower case, as events name it (e.g. shop.example).
    pub domain: String,

    /// The site's IANA time zone, for dates and time buckets in reports.
    #[arg(long, default_value = "UTC", value_name = "TZ")]
    pub timezone: String,

    /// How visitors are identified (default: cookieless).
    #[arg(long, value_enum)]
    pub identity: Option<IdentityArg>,

    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct SiteListArgs {
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct QueryArgs {
    /// The query spec (JSON, see docs/queries.md); `-` reads standard input.
    #[arg(long, value_name = "FILE")]
    pub spec: PathBuf,

    /// Goals and funnels kept as code (TOML), added to the spec's own (the site's stored
    /// ones are added too, where neither defines one of the same name).
    #[arg(long, value_name = "FILE.toml")]
    pub defs: Option<PathBuf>,

    /// Print JSON instead of tables.
    #[arg(long, conflicts_with = "csv")]
    pub json: bool,

    /// Print CSV (pages, paths and transitions: every row the query asked for).
    #[arg(long)]
    pub csv: bool,

    /// Worker threads (default: every core).
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,

    /// Print how long the query took (to standard error).
    #[arg(long)]
    pub time: bool,

    /// Run the query this many times in one process (warm runs, for benchmarks); with
    /// --time, prints each run's time and the median.
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub repeat: usize,

    /// Answer from ClickHouse (its HTTP interface, e.g. http://127.0.0.1:8123) instead of
    /// the store in --data (whose site registry still gives the stored definitions).
    #[arg(long, value_name = "URL")]
    pub clickhouse_url: Option<String>,

    /// The ClickHouse database, with --clickhouse-url.
    #[arg(long, value_name = "NAME", default_value = "cairn")]
    pub clickhouse_database: String,
}

#[derive(Debug, Args)]
pub struct StatsArgs {
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Write this many generated events (e.g. 100k, 10M) to --out instead of filling the store.
    #[arg(long, value_name = "N", requires = "out")]
    pub generate: Option<Count>,

    /// With --generate: the NDJSON file to write (`-` for standard output).
    #[arg(long, value_name = "FILE", requires = "generate")]
    pub out: Option<PathBuf>,

    /// Without --generate: how many events the demo store gets.
    #[arg(
        long,
        value_name = "N",
        default_value = "1M",
        conflicts_with = "generate"
    )]
    pub events: Count,

    /// The generator's seed: the same seed, count and window give the same events.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,

    /// Days of traffic (60: the dashboard's last 30 days and the 30 before, to compare).
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u32).range(1..=3650))]
    pub days: u32,

    /// First day of traffic (a UTC date or RFC 3339 time). Default: the demo's store runs
    /// through now (its last day is today, events later than now left out); a file
    /// (--generate) holds the --days days before today, UTC.
    #[arg(long, value_name = "DATE")]
    pub start: Option<TimeArg>,

    /// Only fill the store: do not register the demo sites nor start the server.
    #[arg(long, conflicts_with = "generate")]
    pub no_serve: bool,

    /// Serve after filling (the default; kept for scripts that say it).
    #[arg(long, hide = true, conflicts_with_all = ["generate", "no_serve"])]
    pub serve: bool,

    /// The address the server listens on (default 127.0.0.1:8080).
    #[arg(long, value_name = "ADDR", conflicts_with_all = ["generate", "no_serve"])]
    pub listen: Option<std::net::SocketAddr>,
}

#[derive(Debug, Args)]
pub struct SnapshotArgs {
    /// A new (or empty) directory for the copy.
    #[arg(value_name = "DEST")]
    pub dest: PathBuf,
}

#[derive(Debug, Args)]
pub struct RetainArgs {
    /// Keep this many UTC days, today included; drop everything older.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub days: u32,
}

#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// Where to: `clickhouse`.
    #[arg(long, value_enum)]
    pub to: MigrateTarget,

    /// ClickHouse's HTTP interface.
    #[arg(
        long,
        env = "CAIRN_CLICKHOUSE_URL",
        value_name = "URL",
        default_value = "http://127.0.0.1:8123"
    )]
    pub clickhouse_url: String,

    /// The ClickHouse database.
    #[arg(
        long,
        env = "CAIRN_CLICKHOUSE_DATABASE",
        value_name = "NAME",
        default_value = "cairn"
    )]
    pub clickhouse_database: String,

    /// Events per insert.
    #[arg(long, value_name = "N", default_value_t = 100_000)]
    pub batch_rows: usize,
}

/// Where `cairn migrate` copies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum MigrateTarget {
    /// A ClickHouse server or cluster.
    Clickhouse,
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("who").required(true).multiple(true).args(["visitors", "users"])))]
pub struct EraseArgs {
    /// The site.
    #[arg(long, value_name = "SITE")]
    pub site: String,

    /// A visitor id as in the import formats: 16 hex digits, or any other string (hashed).
    #[arg(long = "visitor", value_name = "ID")]
    pub visitors: Vec<String>,

    /// A user or lead id: every visitor linked to it is erased.
    #[arg(long = "user", value_name = "ID")]
    pub users: Vec<String>,

    /// Erase in ClickHouse too (its HTTP interface), for a server with the ClickHouse
    /// backend: there first, then in the store in --data (events not shipped yet).
    #[arg(long, value_name = "URL")]
    pub clickhouse_url: Option<String>,

    /// The ClickHouse database, with --clickhouse-url.
    #[arg(long, value_name = "NAME", default_value = "cairn")]
    pub clickhouse_database: String,
}
