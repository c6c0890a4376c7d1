//! Cairn's HTTP server (`cairn serve`).
//!
//! * `GET /healthz` — the server is up and the store is open.
//! * `GET /cairn.js` and `POST /api/v1/event` — the browser tracker and its endpoint
//!   ([`tracker`]); `POST /api/event` — Plausible's event API ([`plausible`]);
//!   `POST /v1/track|page|identify|batch` — the Segment tracking API ([`segmentio`]).
//!   Browser events are enriched once, at ingest ([`enrich`], [`ingest`]), and get a
//!   cookieless visitor id unless the site opted in to a first-party id ([`visitor_id`]).
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

mod assign;
mod batch;
mod body;
mod client;
mod config;
mod docs;
pub mod enrich;
mod error;
mod geoip;
/// Writes a small MaxMind-format country database mapping IPv4 prefixes
/// `([a, b, c, d], prefix length, country code)`, for tests and demos.
#[doc(hidden)]
pub use geoip::testdb::build as test_geoip_db;
pub mod auth;
mod conn;
mod ignored;
mod ingest;
mod live;
mod manage;
mod metrics;
pub mod openapi;
mod plausible;
mod query;
mod ratelimit;
mod registry;
mod requests;
mod segmentio;
pub mod ship;
mod sites;
mod tracker;
mod visitor_id;
mod web;
mod write;

pub use config::{
    ClickHouseBackend, Config, ConnectionsConfig, Limits, LimitsConfig, Settings, SiteConfig,
};
pub use conn::ConnLimits;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, patch, post, put};
use cairn_meta::Meta;
use cairn_store::Store;
use serde_json::json;
use tokio::sync::Semaphore;

use crate::error::ApiError;
use crate::metrics::Metrics;
use crate::registry::Registry;

/// What the handlers share.
pub struct AppState {
    store: Arc<Store>,
    meta: Registry,
    limits: Limits,
    settings: Settings,
    writes: Arc<Semaphore>,
    queries: Arc<Semaphore>,
    /// Bytes of request bodies in flight (`ConnLimits::body_budget`).
    bodies: Arc<Semaphore>,
    metrics: Metrics,
    /// Events answered but not stored, per site and reason, over the last hour.
    ignored: ignored::Ignored,
    /// The last events of each site, stored or ignored, for the live view.
    live: live::Live,
    sites: sites::SiteCache,
    salts: visitor_id::Salts,
    ip_limit: ratelimit::Limiter,
    site_limit: ratelimit::Limiter,
    /// Login attempts per client address, and per account.
    login_ip: ratelimit::Limiter,
    login_account: ratelimit::Limiter,
    geoip: Option<geoip::GeoIp>,
}

impl AppState {
    /// State over an open store and site registry, with default settings but `limits`,
    /// for tests: panics where [`AppState::with_settings`] fails.
    pub fn new(store: Arc<Store>, meta: Meta, limits: Limits) -> Arc<AppState> {
        let settings = Settings {
            limits,
            ..Settings::default()
        };
        match AppState::with_settings(store, meta, settings) {
            Ok(s) => s,
            Err(e) => panic!("cannot set up the server: {e}"),
        }
    }

    /// State with every setting; fails when the GeoIP database or the registry cannot be
    /// read.
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
            meta: Registry::new(meta)?,
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
            live: live::Live::default(),
            sites: sites::SiteCache::default(),
            salts: visitor_id::Salts::default(),
            geoip,
        }))
    }

    /// The country of a client address, from the GeoIP database when there is one.
    fn country(&self, ip: IpAddr) -> Option<String> {
        self.geoip.as_ref()?.country(ip)
    }

    /// Today's visitor-id salt: from memory, else from the registry on a blocking
    /// thread.
    async fn salt(self: &Arc<Self>, now: i64) -> Result<[u8; 32], ApiError> {
        if let Some(s) = self.salts.cached(now) {
            return Ok(s);
        }
        let st = Arc::clone(self);
        tokio::task::spawn_blocking(move || st.salts.get(&st.meta, now))
            .await
            .map_err(ApiError::internal)?
            .map_err(|e| ApiError::unavailable("visitor ids cannot be made", e.0))
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
        .route_layer(axum::middleware::from_fn_with_state(
            Arc::clone(&state),
            requests::observe,
        ))
        .layer(axum::middleware::map_response(open_cors));
    Router::new()
        .route("/", get(web::index))
        .route("/app.js", get(web::app_js))
        .route("/app.css", get(web::app_css))
        .route("/docs/{name}", get(docs::serve))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics::metrics))
        .route("/api/v1/batch", post(batch::batch))
        .route("/api/v1/assign", post(assign::assign))
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
        .route("/api/v1/sites/{site}/live", get(manage::live))
        .route(
            "/api/v1/sites/{site}/goals/{name}",
            put(manage::put_goal).delete(manage::delete_goal),
        )
        .route("/api/v1/sites/{site}/funnels", get(manage::funnels))
        .route(
            "/api/v1/sites/{site}/page-groups",
            get(manage::page_groups).put(manage::put_page_groups),
        )
        .route(
            "/api/v1/sites/{site}/spend",
            get(manage::spend)
                .put(manage::put_spend)
                .delete(manage::delete_spend),
        )
        .route(
            "/api/v1/sites/{site}/funnels/{name}",
            put(manage::put_funnel).delete(manage::delete_funnel),
        )
        .route("/api/v1/sites/{site}/experiments", get(manage::experiments))
        .route(
            "/api/v1/sites/{site}/experiments/{key}",
            put(manage::put_experiment).delete(manage::delete_experiment),
        )
        .route("/v1/track", post(segmentio::track))
        .route("/v1/page", post(segmentio::page))
        .route("/v1/identify", post(segmentio::identify))
        .route("/v1/batch", post(segmentio::batch))
        .route("/v1/screen", post(segmentio::unsupported))
        .route("/v1/group", post(segmentio::unsupported))
        .route("/v1/alias", post(segmentio::unsupported))
        .layer(DefaultBodyLimit::max(limit))
        .route_layer(axum::middleware::from_fn_with_state(
            (Arc::clone(&state), limit),
            conn::read_body,
        ))
        .route_layer(axum::middleware::from_fn_with_state(
            Arc::clone(&state),
            requests::observe,
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

/// `GET /healthz`: 200 while the store takes writes; 503 once it refuses them (after a
/// failed fsync), so a load balancer stops sending events here.
async fn healthz(State(st): State<Arc<AppState>>) -> Response {
    let segments = st.store.segments().len();
    let mut body = json!({ "status": "ok", "segments": segments });
    if let Some(ch) = &st.settings.clickhouse {
        let waiting: u64 =
            st.store.segments().iter().map(|s| s.rows).sum::<u64>() + st.store.buffered_events();
        let mut c = json!({
            "status": "ok",
            "waiting_events": waiting,
            "shipped_events": ch.status.shipped_events(),
        });
        if let Some((error, since)) = ch.status.failing() {
            // Writes are still taken (they wait on disk) until the backlog is full.
            c["status"] = json!("unreachable");
            c["error"] = json!(error);
            c["failing_seconds"] = json!(since.as_secs());
            body["status"] = json!("degraded");
        }
        body["clickhouse"] = c;
    }
    match st.store.writable() {
        Ok(()) => axum::Json(body).into_response(),
        // The failure itself was logged when it happened (the write's 503, the
        // background flush); a load balancer's polls add nothing to the log.
        Err(_) => {
            body["error"] =
                json!("the store refuses writes: see the server's log (`cairn verify`, restart)");
            body["status"] = json!("failing");
            (
                axum::http::StatusCode::SERVICE_UNAVAILABLE,
                axum::Json(body),
            )
                .into_response()
        }
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

pub(crate) fn bearer(headers: &HeaderMap) -> Option<&str> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    v.strip_prefix("Bearer ").map(str::trim)
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
            let _ = st.salt(now_ms()).await;
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
