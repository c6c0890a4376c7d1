//! Cairn's HTTP server (`cairn serve`).
//!
//! * `GET /healthz` — the server is up and the store is open.
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

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
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
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body: 8 << 20,
            max_batch: 10_000,
            max_inflight_writes: 64,
        }
    }
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
}

const REJECTS: [(Reject, &str); 7] = [
    (Reject::Unauthorized, "unauthorized"),
    (Reject::Forbidden, "forbidden"),
    (Reject::Malformed, "malformed"),
    (Reject::Invalid, "invalid"),
    (Reject::TooLarge, "too_large"),
    (Reject::Overloaded, "overloaded"),
    (Reject::StoreError, "store_error"),
];

/// Counters for `/metrics`.
#[derive(Default)]
struct Metrics {
    events: AtomicU64,
    identifies: AtomicU64,
    batches: AtomicU64,
    rejected: [AtomicU64; 7],
    write_micros: AtomicU64,
    writes: AtomicU64,
    in_flight: AtomicU64,
}

/// The server's configuration file (TOML). Every field is optional; command-line flags
/// and environment variables override it.
///
/// ```toml
/// listen = "0.0.0.0:8080"
/// data = "/var/lib/cairn"
///
/// [limits]
/// max_body = 8388608
/// max_batch = 10000
/// max_inflight_writes = 64
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Address to listen on.
    pub listen: Option<SocketAddr>,
    /// Data directory.
    pub data: Option<std::path::PathBuf>,
    /// Request limits.
    #[serde(default)]
    pub limits: LimitsConfig,
}

/// The `[limits]` table.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsConfig {
    /// Largest request body (bytes).
    pub max_body: Option<usize>,
    /// Most records in one batch.
    pub max_batch: Option<usize>,
    /// Most write requests in flight.
    pub max_inflight_writes: Option<usize>,
}

impl Config {
    /// Reads a configuration; errors name the field (and line).
    pub fn from_toml(text: &str) -> Result<Config, String> {
        let de = toml::Deserializer::parse(text).map_err(|e| e.to_string().trim().to_string())?;
        serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            let msg = e.into_inner().to_string();
            let msg = msg.trim();
            if path == "." {
                msg.to_string()
            } else {
                format!("{path}: {msg}")
            }
        })
    }

    /// The limits, defaults filled in.
    pub fn limits(&self) -> Result<Limits, String> {
        let d = Limits::default();
        let l = Limits {
            max_body: self.limits.max_body.unwrap_or(d.max_body),
            max_batch: self.limits.max_batch.unwrap_or(d.max_batch),
            max_inflight_writes: self
                .limits
                .max_inflight_writes
                .unwrap_or(d.max_inflight_writes),
        };
        if l.max_body == 0 || l.max_batch == 0 || l.max_inflight_writes == 0 {
            return Err("limits: every limit must be at least 1".into());
        }
        Ok(l)
    }
}

/// What the handlers share.
pub struct AppState {
    store: Arc<Store>,
    meta: Mutex<Meta>,
    limits: Limits,
    writes: Semaphore,
    metrics: Metrics,
}

impl AppState {
    /// State over an open store and site registry.
    pub fn new(store: Arc<Store>, meta: Meta, limits: Limits) -> Arc<AppState> {
        let writes = Semaphore::new(limits.max_inflight_writes.max(1));
        Arc::new(AppState {
            store,
            meta: Mutex::new(meta),
            limits,
            writes,
            metrics: Metrics::default(),
        })
    }
}

/// The routes.
pub fn router(state: Arc<AppState>) -> Router {
    let limit = state.limits.max_body;
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .route("/api/v1/batch", post(batch))
        .layer(DefaultBodyLimit::max(limit))
        .with_state(state)
}

/// A JSON error answer: `{"error": message, …details}`.
fn error(status: StatusCode, message: impl Into<String>, details: Value) -> Response {
    let mut body = json!({ "error": message.into() });
    if let (Some(o), Value::Object(d)) = (body.as_object_mut(), details) {
        o.extend(d);
    }
    (status, axum::Json(body)).into_response()
}

fn boxed(status: StatusCode, message: impl Into<String>, details: Value) -> Box<Response> {
    Box::new(error(status, message, details))
}

async fn metrics(State(st): State<Arc<AppState>>) -> Response {
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
        "cairn_writes_in_flight",
        "gauge",
        "Write requests waiting for their records to be durable.",
        vec![(String::new(), m.in_flight.load(Relaxed))],
    );
    out.push_str(&format!(
        "# HELP cairn_durable_write_seconds Time from a batch's write to its fsynced acknowledgement.\n\
         # TYPE cairn_durable_write_seconds summary\n\
         cairn_durable_write_seconds_sum {}\ncairn_durable_write_seconds_count {}\n",
        m.write_micros.load(Relaxed) as f64 / 1e6,
        m.writes.load(Relaxed)
    ));
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], out).into_response()
}

async fn healthz(State(st): State<Arc<AppState>>) -> Response {
    let stats = st.store.segments().len();
    axum::Json(json!({ "status": "ok", "segments": stats })).into_response()
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Parses a batch body: a JSON array of records, or NDJSON (one record per line).
/// Returns the records, or the errors as (index, field, reason).
fn parse_batch(body: &[u8], now: i64, max: usize) -> Result<Vec<Record>, Box<Response>> {
    let text = std::str::from_utf8(body).map_err(|e| {
        boxed(
            StatusCode::BAD_REQUEST,
            format!("the body is not UTF-8 (at byte {})", e.valid_up_to()),
            json!({}),
        )
    })?;
    let trimmed = text.trim_start();
    let mut records = Vec::new();
    let mut errors = Vec::new();
    if trimmed.starts_with('[') {
        let values: Vec<Value> = serde_json::from_str(trimmed).map_err(|e| {
            boxed(
                StatusCode::BAD_REQUEST,
                format!("the body is not a JSON array of records: {e}"),
                json!({}),
            )
        })?;
        if values.len() > max {
            return Err(Box::new(too_many(values.len(), max)));
        }
        for (i, v) in values.iter().enumerate() {
            match Record::from_value(v, now, None) {
                Ok(r) => records.push(r),
                Err(e) => errors
                    .push(json!({"record": i, "field": e.field, "reason": e.reason.to_string()})),
            }
        }
    } else {
        let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
        if lines.len() > max {
            return Err(Box::new(too_many(lines.len(), max)));
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

fn too_many(n: usize, max: usize) -> Response {
    error(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!("{n} records in one batch; send at most {max} per request"),
        json!({}),
    )
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    v.strip_prefix("Bearer ").map(str::trim)
}

async fn batch(State(st): State<Arc<AppState>>, headers: HeaderMap, body: Bytes) -> Response {
    let t0 = std::time::Instant::now();
    let resp = batch_inner(&st, &headers, &body).await;
    tracing::info!(
        target: "cairn::ingest",
        endpoint = "/api/v1/batch",
        status = resp.status().as_u16(),
        bytes = body.len(),
        micros = t0.elapsed().as_micros() as u64,
        "batch"
    );
    let reason = match resp.status() {
        StatusCode::OK => None,
        StatusCode::UNAUTHORIZED => Some(Reject::Unauthorized),
        StatusCode::FORBIDDEN => Some(Reject::Forbidden),
        StatusCode::BAD_REQUEST => Some(Reject::Malformed),
        StatusCode::UNPROCESSABLE_ENTITY => Some(Reject::Invalid),
        StatusCode::PAYLOAD_TOO_LARGE => Some(Reject::TooLarge),
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

async fn batch_inner(st: &Arc<AppState>, headers: &HeaderMap, body: &Bytes) -> Response {
    let Some(key) = bearer(headers) else {
        return error(
            StatusCode::UNAUTHORIZED,
            "missing write key: send `Authorization: Bearer <write key>` (from `cairn site add`)",
            json!({}),
        );
    };
    let site = {
        let meta = match st.meta.lock() {
            Ok(m) => m,
            Err(p) => p.into_inner(),
        };
        match meta.check_key(key) {
            Ok(Some((site, Scope::Write))) => site,
            Ok(Some((_, Scope::Read))) => {
                return error(
                    StatusCode::FORBIDDEN,
                    "this key may only read; use a write key",
                    json!({}),
                );
            }
            Ok(None) => return error(StatusCode::UNAUTHORIZED, "unknown write key", json!({})),
            Err(e) => return error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string(), json!({})),
        }
    };
    let now = now_ms();
    let records = match parse_batch(body, now, st.limits.max_batch) {
        Ok(r) => r,
        Err(resp) => return *resp,
    };
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
    let Ok(permit) = st.writes.try_acquire() else {
        let mut r = error(
            StatusCode::SERVICE_UNAVAILABLE,
            "too many writes in flight: retry shortly",
            json!({}),
        );
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        return r;
    };
    let n = records.len();
    let events = records
        .iter()
        .filter(|r| matches!(r, Record::Event(_)))
        .count() as u64;
    let store = Arc::clone(&st.store);
    let m = &st.metrics;
    m.in_flight.fetch_add(1, Relaxed);
    let t0 = std::time::Instant::now();
    let res = tokio::task::spawn_blocking(move || store.append(&records, now)).await;
    m.in_flight.fetch_sub(1, Relaxed);
    drop(permit);
    match res {
        Ok(Ok(())) => {
            m.write_micros
                .fetch_add(t0.elapsed().as_micros() as u64, Relaxed);
            m.writes.fetch_add(1, Relaxed);
            m.batches.fetch_add(1, Relaxed);
            m.events.fetch_add(events, Relaxed);
            m.identifies.fetch_add(n as u64 - events, Relaxed);
            axum::Json(json!({ "accepted": n })).into_response()
        }
        Ok(Err(e)) => error(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("the store could not take the records: {e}"),
            json!({}),
        ),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string(), json!({})),
    }
}

/// Serves until Ctrl-C or SIGTERM, then stops taking requests, finishes those in flight
/// and flushes the store.
pub async fn serve(addr: SocketAddr, state: Arc<AppState>) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    serve_on(listener, state).await
}

/// [`serve`] on a bound listener.
pub async fn serve_on(
    listener: tokio::net::TcpListener,
    state: Arc<AppState>,
) -> std::io::Result<()> {
    let store = Arc::clone(&state.store);
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown())
        .await?;
    tokio::task::spawn_blocking(move || store.flush())
        .await
        .map_err(std::io::Error::other)?
        .map_err(std::io::Error::other)?;
    Ok(())
}

async fn shutdown() {
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
