//! Cairn's HTTP server (`cairn serve`).
//!
//! * `GET /healthz` — the server is up and the store is open.
//! * `GET /cairn.js` and `POST /api/v1/event` — the browser tracker and its endpoint
//!   ([`tracker`]); `POST /api/event` — Plausible's event API ([`plausible`]);
//!   `POST /v1/track|page|identify|batch` — the Segment tracking API ([`segment`]).
//!   Browser events are enriched once, at ingest ([`enrich`], [`ingest`]), and get a
//!   cookieless visitor id unless the site opted in to a first-party id ([`identity`]).
//! * `POST /api/v1/batch` — the server-side ingestion API: Cairn records (events and
//!   `identify` records, the NDJSON import format) as a JSON array or as NDJSON,
//!   authenticated by a site's write key (`Authorization: Bearer cairn_w_…`). Every
//!   record is checked first; if any is wrong, nothing is stored and the answer names
//!   each bad record. The answer `200` comes only after the records are in the fsynced
//!   write-ahead log: an acknowledged event survives a crash.
//!
//! * `GET /metrics` — Prometheus counters: records accepted, requests rejected by
//!   reason, durable-write latency, writes in flight.
//!
//! Requests are answered `503` with `Retry-After` when too many writes are waiting,
//! rather than queued without bound.

/// The `Ok` value of a `Result<T, Box<Response>>`, or return the error response from the
/// handler: the shared early exit of every endpoint.
macro_rules! try_reply {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(r) => return *r,
        }
    };
}

pub mod enrich;
mod failure;
mod geoip;
/// Writes a small MaxMind-format country database mapping IPv4 prefixes
/// `([a, b, c, d], prefix length, country code)`, for tests and demos.
#[doc(hidden)]
pub use geoip::testdb::build as test_geoip_db;
pub mod auth;
mod conn;
mod identity;
mod ignored;
mod ingest;
mod manage;
pub mod openapi;
mod plausible;
mod query;
mod ratelimit;
mod segment;
mod tracker;
mod web;

pub use conn::ConnLimits;

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, patch, post, put};
use cairn_meta::{Meta, Scope};
use cairn_model::Record;
use cairn_store::Store;
use serde_json::{Value, json};
use tokio::sync::Semaphore;

/// Limits on what one request may carry.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest request body (bytes).
    pub max_body: usize,
    /// Most records in one batch.
    pub max_batch: usize,
    /// Most write requests in flight at once; more are refused with 503.
    pub max_inflight_writes: usize,
    /// Requests per second one client address may send to the open (keyless) endpoints
    /// on average; 0 turns the limit off.
    pub per_ip_rate: f64,
    /// Burst allowed above `per_ip_rate`.
    pub per_ip_burst: f64,
    /// Events per second one site may store on average, on every endpoint; 0 turns the
    /// limit off.
    pub per_site_rate: f64,
    /// Burst allowed above `per_site_rate`.
    pub per_site_burst: f64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body: 8 << 20,
            max_batch: 10_000,
            max_inflight_writes: 64,
            per_ip_rate: 50.0,
            per_ip_burst: 500.0,
            per_site_rate: 50_000.0,
            per_site_burst: 200_000.0,
        }
    }
}

/// How the server treats clients, beyond limits.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    /// Request limits.
    pub limits: Limits,
    /// Take the client address from `X-Forwarded-For` / `X-Real-IP` (only behind a
    /// reverse proxy that sets them).
    pub trust_proxy: bool,
    /// A MaxMind-format (`.mmdb`) country or city database, for the `country` field.
    pub geoip: Option<std::path::PathBuf>,
    /// Connection caps and timeouts.
    pub conn: ConnLimits,
    /// The bearer token `/metrics` asks for; without one, `/metrics` answers only
    /// clients on this machine (loopback).
    pub metrics_token: Option<String>,
}

/// Why a request was refused, for `/metrics`.
#[derive(Debug, Clone, Copy)]
enum Reject {
    Unauthorized,
    Forbidden,
    Malformed,
    Invalid,
    TooLarge,
    Overloaded,
    StoreError,
    UnknownSite,
    RateLimited,
}

const REJECTS: [(Reject, &str); 9] = [
    (Reject::Unauthorized, "unauthorized"),
    (Reject::Forbidden, "forbidden"),
    (Reject::Malformed, "malformed"),
    (Reject::Invalid, "invalid"),
    (Reject::TooLarge, "too_large"),
    (Reject::Overloaded, "overloaded"),
    (Reject::StoreError, "store_error"),
    (Reject::UnknownSite, "unknown_site"),
    (Reject::RateLimited, "rate_limited"),
];

/// Counters for `/metrics`.
#[derive(Default)]
struct Metrics {
    events: AtomicU64,
    identifies: AtomicU64,
    batches: AtomicU64,
    rejected: [AtomicU64; 9],
    bots: AtomicU64,
    ignored: AtomicU64,
    write_micros: AtomicU64,
    writes: AtomicU64,
    in_flight: Arc<AtomicU64>,
    conns_open: Arc<AtomicU64>,
    conns_refused: AtomicU64,
    queries: AtomicU64,
    query_micros: AtomicU64,
}

/// The server's configuration file (TOML). Every field is optional; command-line flags
/// and environment variables override it.
///
/// ```toml
/// listen = "0.0.0.0:8080"
/// data = "/var/lib/cairn"
/// trust_proxy = true                      # behind nginx, Caddy, a load balancer
/// geoip = "/var/lib/GeoLite2-Country.mmdb"
/// metrics_token = "a-long-random-string"  # /metrics with `Authorization: Bearer …`
///
/// [limits]
/// max_body = 8388608
/// max_batch = 10000
/// max_inflight_writes = 64
/// per_ip_rate = 50
/// per_ip_burst = 500
/// per_site_rate = 50000
/// per_site_burst = 200000
///
/// [connections]
/// max = 10000                             # open at once (lowered to fit ulimit -n)
/// max_per_ip = 512
/// header_timeout = 10                     # seconds; also the idle keep-alive timeout
/// body_timeout = 30                       # seconds to send a whole body
/// body_budget = 268435456                 # bytes of bodies in flight, all requests
/// shutdown_timeout = 10                   # seconds for requests in flight at SIGTERM
///
/// [[sites]]                               # registered (or updated) at start
/// domain = "shop.example"
/// timezone = "Europe/Berlin"
/// identity = "first-party"                # or "cookieless" (the default)
/// ```
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Address to listen on.
    pub listen: Option<SocketAddr>,
    /// Data directory.
    pub data: Option<std::path::PathBuf>,
    /// Trust `X-Forwarded-For` / `X-Real-IP`.
    pub trust_proxy: Option<bool>,
    /// MaxMind-format database for countries.
    pub geoip: Option<std::path::PathBuf>,
    /// Bearer token for `/metrics` (without one, only loopback clients may read it).
    pub metrics_token: Option<String>,
    /// Request limits.
    #[serde(default)]
    pub limits: LimitsConfig,
    /// Connection caps and timeouts.
    #[serde(default)]
    pub connections: ConnectionsConfig,
    /// Sites to register (or bring up to date) when the server starts.
    #[serde(default)]
    pub sites: Vec<SiteConfig>,
}

/// The `[limits]` table.
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsConfig {
    /// Largest request body (bytes).
    pub max_body: Option<usize>,
    /// Most records in one batch.
    pub max_batch: Option<usize>,
    /// Most write requests in flight.
    pub max_inflight_writes: Option<usize>,
    /// Requests per second per client address on the open endpoints (0: off).
    pub per_ip_rate: Option<f64>,
    /// Burst above `per_ip_rate`.
    pub per_ip_burst: Option<f64>,
    /// Events per second per site (0: off).
    pub per_site_rate: Option<f64>,
    /// Burst above `per_site_rate`.
    pub per_site_burst: Option<f64>,
}

/// The `[connections]` table (times in seconds).
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectionsConfig {
    /// Open connections at once.
    pub max: Option<usize>,
    /// Open connections per client address.
    pub max_per_ip: Option<usize>,
    /// Seconds to send a request's headers (and to start the next on a kept-alive one).
    pub header_timeout: Option<f64>,
    /// Seconds to send a whole request body.
    pub body_timeout: Option<f64>,
    /// Bytes of request bodies in flight.
    pub body_budget: Option<usize>,
    /// Seconds for requests in flight after SIGTERM.
    pub shutdown_timeout: Option<f64>,
}

/// A `[[sites]]` entry.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SiteConfig {
    /// The site's domain.
    pub domain: String,
    /// IANA time zone (default UTC for a new site; unchanged for an existing one).
    pub timezone: Option<String>,
    /// `cookieless` (default) or `first-party`.
    pub identity: Option<String>,
}

impl Config {
    /// Reads a configuration; errors name the field (and line).
    pub fn from_toml(text: &str) -> Result<Config, String> {
        let de = toml::Deserializer::parse(text).map_err(|e| e.to_string().trim().to_string())?;
        let c: Config = serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            let msg = e.into_inner().to_string();
            let msg = msg.trim();
            if path == "." {
                msg.to_string()
            } else {
                format!("{path}: {msg}")
            }
        })?;
        for (i, s) in c.sites.iter().enumerate() {
            if let Some(id) = &s.identity
                && cairn_meta::Identity::parse(id).is_none()
            {
                return Err(format!(
                    "sites[{i}].identity: `{id}` is neither `cookieless` nor `first-party`"
                ));
            }
        }
        Ok(c)
    }

    /// The limits, defaults filled in.
    pub fn limits(&self) -> Result<Limits, String> {
        let d = Limits::default();
        let c = &self.limits;
        let l = Limits {
            max_body: c.max_body.unwrap_or(d.max_body),
            max_batch: c.max_batch.unwrap_or(d.max_batch),
            max_inflight_writes: c.max_inflight_writes.unwrap_or(d.max_inflight_writes),
            per_ip_rate: c.per_ip_rate.unwrap_or(d.per_ip_rate),
            per_ip_burst: c.per_ip_burst.unwrap_or(d.per_ip_burst),
            per_site_rate: c.per_site_rate.unwrap_or(d.per_site_rate),
            per_site_burst: c.per_site_burst.unwrap_or(d.per_site_burst),
        };
        if l.max_body == 0 || l.max_batch == 0 || l.max_inflight_writes == 0 {
            return Err(
                "limits: max_body, max_batch and max_inflight_writes must be at least 1".into(),
            );
        }
        for (name, v) in [
            ("per_ip_rate", l.per_ip_rate),
            ("per_ip_burst", l.per_ip_burst),
            ("per_site_rate", l.per_site_rate),
            ("per_site_burst", l.per_site_burst),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                return Err(format!("limits.{name}: must be a number ≥ 0"));
            }
        }
        Ok(l)
    }

    /// The connection caps and timeouts, defaults filled in.
    pub fn connections(&self) -> Result<ConnLimits, String> {
        let d = ConnLimits::default();
        let c = &self.connections;
        let secs = |name: &str, v: Option<f64>, default: Duration| -> Result<Duration, String> {
            match v {
                None => Ok(default),
                Some(s) if s.is_finite() && s > 0.0 && s <= 86_400.0 => {
                    Ok(Duration::from_secs_f64(s))
                }
                Some(_) => Err(format!(
                    "connections.{name}: must be a number of seconds above 0 and at most 86400"
                )),
            }
        };
        let l = ConnLimits {
            max: c.max.unwrap_or(d.max),
            max_per_ip: c.max_per_ip.unwrap_or(d.max_per_ip),
            header_timeout: secs("header_timeout", c.header_timeout, d.header_timeout)?,
            body_timeout: secs("body_timeout", c.body_timeout, d.body_timeout)?,
            body_budget: c.body_budget.unwrap_or(d.body_budget),
            shutdown_timeout: secs("shutdown_timeout", c.shutdown_timeout, d.shutdown_timeout)?,
        };
        if l.max == 0 || l.max_per_ip == 0 {
            return Err("connections: max and max_per_ip must be at least 1".into());
        }
        Ok(l)
    }

    /// Registers the `[[sites]]` that are missing and brings the others' time zone and
    /// identity mode up to date. Returns the write keys of the sites it created.
    pub fn apply_sites(&self, meta: &mut Meta) -> Result<Vec<(String, String)>, String> {
        let mut created = Vec::new();
        for s in &self.sites {
            let known = meta.site(&s.domain).map_err(|e| e.to_string())?;
            if known.is_none() {
                let tz = s.timezone.as_deref().unwrap_or("UTC");
                let (_, key) = meta.add_site(&s.domain, tz).map_err(|e| e.to_string())?;
                created.push((s.domain.clone(), key));
            } else if let Some(tz) = &s.timezone {
                meta.set_timezone(&s.domain, tz)
                    .map_err(|e| e.to_string())?;
            }
            if let Some(id) = s.identity.as_deref().and_then(cairn_meta::Identity::parse) {
                meta.set_identity(&s.domain, id)
                    .map_err(|e| e.to_string())?;
            }
        }
        Ok(created)
    }
}

/// What the handlers share.
pub struct AppState {
    store: Arc<Store>,
    meta: Mutex<Meta>,
    limits: Limits,
    settings: Settings,
    writes: Arc<Semaphore>,
    queries: Arc<Semaphore>,
    /// Bytes of request bodies in flight (`ConnLimits::body_budget`).
    bodies: Arc<Semaphore>,
    metrics: Metrics,
    /// Events answered but not stored, per site and reason, over the last hour.
    ignored: ignored::Ignored,
    sites: ingest::SiteCache,
    salts: identity::Salts,
    ip_limit: ratelimit::Limiter,
    site_limit: ratelimit::Limiter,
    /// Login attempts per client address, and per account.
    login_ip: ratelimit::Limiter,
    login_account: ratelimit::Limiter,
    geoip: Option<geoip::GeoIp>,
    writer: ingest::Writer,
}

impl AppState {
    /// State over an open store and site registry, with default settings but `limits`.
    pub fn new(store: Arc<Store>, meta: Meta, limits: Limits) -> Arc<AppState> {
        let settings = Settings {
            limits,
            ..Settings::default()
        };
        match AppState::with_settings(store, meta, settings) {
            Ok(s) => s,
            Err(e) => unreachable!("no GeoIP database to fail: {e}"),
        }
    }

    /// State with every setting; fails when the GeoIP database cannot be read.
    pub fn with_settings(
        store: Arc<Store>,
        meta: Meta,
        settings: Settings,
    ) -> Result<Arc<AppState>, String> {
        let limits = settings.limits.clone();
        let geoip = match &settings.geoip {
            Some(p) => Some(geoip::GeoIp::open(p)?),
            None => None,
        };
        let metrics = Metrics::default();
        // The hash unknown accounts are checked against, made before the first login.
        cairn_meta::warm_up_logins();
        let writer = ingest::Writer::start(
            &store,
            limits.max_inflight_writes,
            Arc::clone(&metrics.in_flight),
        )
        .map_err(|e| format!("cannot start the writer thread: {e}"))?;
        if settings.conn.body_budget < limits.max_body {
            return Err(format!(
                "connections.body_budget ({}) must be at least limits.max_body ({})",
                settings.conn.body_budget, limits.max_body
            ));
        }
        let bodies = Arc::new(Semaphore::new(
            settings.conn.body_budget.min(Semaphore::MAX_PERMITS),
        ));
        Ok(Arc::new(AppState {
            bodies,
            store,
            meta: Mutex::new(meta),
            writes: Arc::new(Semaphore::new(limits.max_inflight_writes.max(1))),
            queries: Arc::new(Semaphore::new(query::MAX_QUERIES)),
            ip_limit: ratelimit::Limiter::new(limits.per_ip_rate, limits.per_ip_burst),
            site_limit: ratelimit::Limiter::new(limits.per_site_rate, limits.per_site_burst),
            login_ip: ratelimit::Limiter::new(LOGIN_IP_RATE, LOGIN_IP_BURST),
            login_account: ratelimit::Limiter::new(LOGIN_ACCOUNT_RATE, LOGIN_ACCOUNT_BURST),
            limits,
            settings,
            metrics,
            ignored: ignored::Ignored::default(),
            sites: ingest::SiteCache::default(),
            salts: identity::Salts::default(),
            geoip,
            writer,
        }))
    }

    /// The country of a client address, from the GeoIP database when there is one.
    fn country(&self, ip: IpAddr) -> Option<String> {
        self.geoip.as_ref()?.country(ip)
    }
}

/// The routes.
pub fn router(state: Arc<AppState>) -> Router {
    let limit = state.limits.max_body;
    // The open endpoints (no key, any origin): CORS on every answer, including the
    // extractors' own refusals, and a small body limit, since anyone may call them.
    let open = Router::new()
        .route("/cairn.js", get(tracker::script))
        .route(
            "/api/v1/event",
            post(tracker::event).options(tracker::preflight),
        )
        .route(
            "/api/event",
            post(plausible::event).options(tracker::preflight),
        )
        .layer(DefaultBodyLimit::max(limit.min(OPEN_BODY_MAX)))
        .route_layer(axum::middleware::from_fn_with_state(
            (Arc::clone(&state), limit.min(OPEN_BODY_MAX)),
            conn::read_body,
        ))
        .layer(axum::middleware::map_response(open_cors));
    Router::new()
        .route("/", get(web::index))
        .route("/app.js", get(web::app_js))
        .route("/app.css", get(web::app_css))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .route("/api/v1/batch", post(batch))
        .route("/api/v1/query", post(query::query))
        .route("/api/openapi.json", get(openapi::serve))
        .route("/api/v1/login", post(auth::login))
        .route("/api/v1/logout", post(auth::logout))
        .route("/api/v1/me", get(auth::me))
        .route("/api/v1/users", get(manage::users).post(manage::add_user))
        .route("/api/v1/users/{email}/sites/{site}", put(manage::grant))
        .route("/api/v1/sites", get(manage::sites).post(manage::add_site))
        .route("/api/v1/sites/{site}", patch(manage::patch_site))
        .route(
            "/api/v1/sites/{site}/keys",
            get(manage::keys).post(manage::add_key),
        )
        .route(
            "/api/v1/sites/{site}/keys/{prefix}",
            delete(manage::revoke_key),
        )
        .route("/api/v1/sites/{site}/goals", get(manage::goals))
        .route("/api/v1/sites/{site}/ignored", get(manage::ignored))
        .route(
            "/api/v1/sites/{site}/goals/{name}",
            put(manage::put_goal).delete(manage::delete_goal),
        )
        .route("/api/v1/sites/{site}/funnels", get(manage::funnels))
        .route(
            "/api/v1/sites/{site}/funnels/{name}",
            put(manage::put_funnel).delete(manage::delete_funnel),
        )
        .route("/v1/track", post(segment::track))
        .route("/v1/page", post(segment::page))
        .route("/v1/identify", post(segment::identify))
        .route("/v1/batch", post(segment::batch))
        .route("/v1/screen", post(segment::unsupported))
        .route("/v1/group", post(segment::unsupported))
        .route("/v1/alias", post(segment::unsupported))
        .layer(DefaultBodyLimit::max(limit))
        .route_layer(axum::middleware::from_fn_with_state(
            (Arc::clone(&state), limit),
            conn::read_body,
        ))
        .merge(open)
        .with_state(state)
}

/// Login attempts from one address: 10 at once, then one every 5 s.
pub const LOGIN_IP_BURST: f64 = 10.0;
/// See [`LOGIN_IP_BURST`].
pub const LOGIN_IP_RATE: f64 = 0.2;
/// Login attempts for one account, from anywhere: 5 at once, then one every 30 s.
pub const LOGIN_ACCOUNT_BURST: f64 = 5.0;
/// See [`LOGIN_ACCOUNT_BURST`].
pub const LOGIN_ACCOUNT_RATE: f64 = 1.0 / 30.0;

/// Largest body on the open endpoints: a tracker request is at most 50 small events.
pub const OPEN_BODY_MAX: usize = 256 << 10;

async fn open_cors(r: Response) -> Response {
    tracker::cors(r)
}

/// A JSON error answer: `{"error": message, …details}`.
fn error(status: StatusCode, message: impl Into<String>, details: Value) -> Response {
    let mut body = json!({ "error": message.into() });
    if let (Some(o), Value::Object(d)) = (body.as_object_mut(), details) {
        o.extend(d);
    }
    (status, axum::Json(body)).into_response()
}

pub(crate) fn boxed(
    status: StatusCode,
    message: impl Into<String>,
    details: Value,
) -> Box<Response> {
    Box::new(error(status, message, details))
}

async fn metrics(
    State(st): State<Arc<AppState>>,
    client: ingest::Client,
    headers: HeaderMap,
) -> Response {
    // With a token, every reader shows it; without one, only this machine may read.
    let allowed = match &st.settings.metrics_token {
        Some(token) => bearer(&headers).is_some_and(|b| {
            use sha2::Digest;
            // Compared as hashes: the time taken says nothing of the token.
            sha2::Sha256::digest(b.as_bytes()) == sha2::Sha256::digest(token.as_bytes())
        }),
        None => client.ip.is_loopback() || client.ip.is_unspecified(),
    };
    if !allowed {
        let msg = if st.settings.metrics_token.is_some() {
            "send the metrics token: `Authorization: Bearer <metrics_token>`"
        } else {
            "/metrics answers clients on this machine only; set `metrics_token` to read it from elsewhere"
        };
        return error(StatusCode::UNAUTHORIZED, msg, json!({}));
    }
    let m = &st.metrics;
    let mut out = String::new();
    let mut put = |name: &str, kind: &str, help: &str, lines: Vec<(String, u64)>| {
        out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} {kind}\n"));
        for (labels, v) in lines {
            out.push_str(&format!("{name}{labels} {v}\n"));
        }
    };
    put(
        "cairn_records_accepted_total",
        "counter",
        "Records stored and acknowledged, by kind.",
        vec![
            ("{kind=\"event\"}".into(), m.events.load(Relaxed)),
            ("{kind=\"identify\"}".into(), m.identifies.load(Relaxed)),
        ],
    );
    put(
        "cairn_batches_accepted_total",
        "counter",
        "Batch requests stored and acknowledged.",
        vec![(String::new(), m.batches.load(Relaxed))],
    );
    put(
        "cairn_requests_rejected_total",
        "counter",
        "Ingestion requests refused, by reason.",
        REJECTS
            .iter()
            .map(|&(r, name)| {
                (
                    format!("{{reason=\"{name}\"}}"),
                    m.rejected[r as usize].load(Relaxed),
                )
            })
            .collect(),
    );
    put(
        "cairn_events_ignored_total",
        "counter",
        "Browser events answered but not stored, by reason.",
        vec![
            ("{reason=\"bot\"}".into(), m.bots.load(Relaxed)),
            ("{reason=\"unsupported\"}".into(), m.ignored.load(Relaxed)),
        ],
    );
    put(
        "cairn_connections_open",
        "gauge",
        "Open client connections.",
        vec![(String::new(), m.conns_open.load(Relaxed))],
    );
    put(
        "cairn_connections_refused_total",
        "counter",
        "Connections closed at once: over connections.max or connections.max_per_ip.",
        vec![(String::new(), m.conns_refused.load(Relaxed))],
    );
    put(
        "cairn_writes_in_flight",
        "gauge",
        "Write requests waiting for their records to be durable.",
        vec![(String::new(), m.in_flight.load(Relaxed))],
    );
    out.push_str(&format!(
        "# HELP cairn_query_seconds Time to run a query of /api/v1/query.\n\
         # TYPE cairn_query_seconds summary\n\
         cairn_query_seconds_sum {}\ncairn_query_seconds_count {}\n",
        m.query_micros.load(Relaxed) as f64 / 1e6,
        m.queries.load(Relaxed)
    ));
    out.push_str(&format!(
        "# HELP cairn_durable_write_seconds Time from a batch's write to its fsynced acknowledgement.\n\
         # TYPE cairn_durable_write_seconds summary\n\
         cairn_durable_write_seconds_sum {}\ncairn_durable_write_seconds_count {}\n",
        m.write_micros.load(Relaxed) as f64 / 1e6,
        m.writes.load(Relaxed)
    ));
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], out).into_response()
}

/// `GET /healthz`: 200 while the store takes writes; 503 once it refuses them (after a
/// failed fsync), so a load balancer stops sending events here.
async fn healthz(State(st): State<Arc<AppState>>) -> Response {
    let segments = st.store.segments().len();
    match st.store.writable() {
        Ok(()) => axum::Json(json!({ "status": "ok", "segments": segments })).into_response(),
        // The failure itself was logged when it happened (the write's 503, the
        // background flush); a load balancer's polls add nothing to the log.
        Err(_) => error(
            StatusCode::SERVICE_UNAVAILABLE,
            "the store refuses writes: see the server's log (`cairn verify`, restart)",
            json!({ "status": "failing", "segments": segments }),
        ),
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Parses a batch body: a JSON array of records, or NDJSON (one record per line).
/// Returns the records, or the errors as (index, field, reason).
fn parse_batch(body: &[u8], now: i64, max: usize) -> Result<Vec<Record>, Box<Response>> {
    let text = ingest::utf8(body)?;
    let trimmed = text.trim_start();
    let mut records = Vec::new();
    let mut errors = Vec::new();
    if trimmed.starts_with('[') {
        let values = ingest::bounded_array(trimmed, max).map_err(|e| match e {
            ingest::Bounded::TooMany(n) => Box::new(too_many_at_least(n, max)),
            ingest::Bounded::Invalid(e) => boxed(
                StatusCode::BAD_REQUEST,
                format!("the body is not a JSON array of records: {e}"),
                json!({}),
            ),
        })?;
        for (i, raw) in values.iter().enumerate() {
            // The same per-record size limit as NDJSON lines.
            let len = raw.get().len();
            if len > cairn_model::limits::RECORD_BYTES_MAX {
                errors.push(json!({"record": i, "field": "record", "reason": format!(
                    "is {len} bytes, more than {} allowed for one record",
                    cairn_model::limits::RECORD_BYTES_MAX
                )}));
                continue;
            }
            // One record's JSON tree at a time.
            let v: Value = match serde_json::from_str(raw.get()) {
                Ok(v) => v,
                Err(e) => {
                    errors.push(json!({"record": i, "field": "record", "reason": e.to_string()}));
                    continue;
                }
            };
            match Record::from_value(&v, now, None) {
                Ok(r) => records.push(r),
                Err(e) => errors
                    .push(json!({"record": i, "field": e.field, "reason": e.reason.to_string()})),
            }
        }
    } else {
        let lines = text.lines().filter(|l| !l.trim().is_empty()).count();
        if lines > max {
            return Err(Box::new(too_many(lines, max)));
        }
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            match Record::from_json(line, now) {
                Ok(r) => records.push(r),
                Err(e) => errors
                    .push(json!({"line": i + 1, "field": e.field, "reason": e.reason.to_string()})),
            }
        }
    }
    if !errors.is_empty() {
        let n = errors.len();
        errors.truncate(100);
        return Err(boxed(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("{n} invalid record(s): nothing was stored"),
            json!({ "invalid": n, "errors": errors }),
        ));
    }
    if records.is_empty() {
        return Err(boxed(
            StatusCode::BAD_REQUEST,
            "the batch is empty",
            json!({}),
        ));
    }
    Ok(records)
}

/// [`too_many`] when only a lower bound of the count is known.
fn too_many_at_least(n: usize, max: usize) -> Response {
    error(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!("{n} or more records in one batch; send at most {max} per request"),
        json!({}),
    )
}

fn too_many(n: usize, max: usize) -> Response {
    error(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!("{n} records in one batch; send at most {max} per request"),
        json!({}),
    )
}

pub(crate) fn bearer(headers: &HeaderMap) -> Option<&str> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    v.strip_prefix("Bearer ").map(str::trim)
}

async fn batch(State(st): State<Arc<AppState>>, headers: HeaderMap, body: Bytes) -> Response {
    let t0 = std::time::Instant::now();
    let resp = batch_inner(&st, &headers, &body).await;
    finish(&st, "/api/v1/batch", body.len(), t0, resp)
}

/// Logs an ingestion request and counts a refusal by its reason.
fn finish(
    st: &AppState,
    endpoint: &'static str,
    bytes: usize,
    t0: std::time::Instant,
    resp: Response,
) -> Response {
    tracing::info!(
        target: "cairn::ingest",
        endpoint,
        status = resp.status().as_u16(),
        bytes,
        micros = t0.elapsed().as_micros() as u64,
        "ingest"
    );
    let reason = match resp.status() {
        s if s.is_success() => None,
        StatusCode::UNAUTHORIZED => Some(Reject::Unauthorized),
        StatusCode::FORBIDDEN => Some(Reject::Forbidden),
        StatusCode::BAD_REQUEST => Some(Reject::Malformed),
        StatusCode::UNPROCESSABLE_ENTITY => Some(Reject::Invalid),
        StatusCode::PAYLOAD_TOO_LARGE => Some(Reject::TooLarge),
        StatusCode::NOT_FOUND => Some(Reject::UnknownSite),
        StatusCode::TOO_MANY_REQUESTS => Some(Reject::RateLimited),
        StatusCode::SERVICE_UNAVAILABLE if resp.headers().contains_key(header::RETRY_AFTER) => {
            Some(Reject::Overloaded)
        }
        _ => Some(Reject::StoreError),
    };
    if let Some(r) = reason {
        st.metrics.rejected[r as usize].fetch_add(1, Relaxed);
    }
    resp
}

/// The site of a write key, or the answer refusing it.
fn key_site(st: &AppState, key: Option<&str>) -> Result<String, Box<Response>> {
    let Some(key) = key else {
        return Err(boxed(
            StatusCode::UNAUTHORIZED,
            "missing write key: send `Authorization: Bearer <write key>` (from `cairn site add`)",
            json!({}),
        ));
    };
    let meta = match st.meta.lock() {
        Ok(m) => m,
        Err(p) => p.into_inner(),
    };
    match meta.check_key(key) {
        Ok(Some((site, Scope::Write))) => Ok(site),
        Ok(Some((_, Scope::Read))) => Err(boxed(
            StatusCode::FORBIDDEN,
            "this key may only read; use a write key",
            json!({}),
        )),
        Ok(None) => Err(boxed(
            StatusCode::UNAUTHORIZED,
            "unknown write key",
            json!({}),
        )),
        Err(e) => Err(failure::ApiError::internal(e).into()),
    }
}

async fn batch_inner(st: &Arc<AppState>, headers: &HeaderMap, body: &Bytes) -> Response {
    let site = try_reply!(key_site(st, bearer(headers)));
    let now = now_ms();
    let records = try_reply!(parse_batch(body, now, st.limits.max_batch));
    if let Some((i, r)) = records.iter().enumerate().find(|(_, r)| r.site() != site) {
        return error(
            StatusCode::FORBIDDEN,
            format!(
                "record {i} is for site `{}`, but the key belongs to `{site}`: nothing was stored",
                r.site()
            ),
            json!({}),
        );
    }
    try_reply!(ingest::check_site_rate(st, &records));
    match ingest::write_durably(st, records, now).await {
        Ok(n) => {
            st.metrics.batches.fetch_add(1, Relaxed);
            axum::Json(json!({ "accepted": n })).into_response()
        }
        Err(r) => *r,
    }
}

/// Serves until Ctrl-C or SIGTERM, then stops taking requests, finishes those in flight
/// and flushes the store.
pub async fn serve(addr: SocketAddr, state: Arc<AppState>) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    serve_on(listener, state).await
}

pub use conn::serve_on;

/// Rotates the visitor-id salt at midnight UTC even when no event arrives, so
/// yesterday's salt does not outlive its day on a quiet server.
fn spawn_salt_rotation(state: &Arc<AppState>) -> tokio::task::JoinHandle<()> {
    let state = Arc::clone(state);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(60));
        loop {
            tick.tick().await;
            let st = Arc::clone(&state);
            let _ = tokio::task::spawn_blocking(move || st.salts.get(&st.meta, now_ms())).await;
        }
    })
}

pub(crate) async fn shutdown() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tokio::time::sleep(Duration::from_millis(0)).await;
}
