//! One middleware around every matched route: the request's time, one log line
//! (target `cairn::http`), and the per-route figures of `/metrics`; on the ingestion
//! endpoints, refusals counted by their reason ([`Reject`], set by [`ApiError`]).
//!
//! [`ApiError`]: crate::error::ApiError

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, RwLock};
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;

use crate::AppState;
use crate::error::Reject;

/// Routes that take events: their refusals are counted by reason.
const INGESTION: [&str; 10] = [
    "/api/v1/batch",
    "/api/v1/event",
    "/api/event",
    "/v1/track",
    "/v1/page",
    "/v1/identify",
    "/v1/batch",
    "/v1/screen",
    "/v1/group",
    "/v1/alias",
];

/// Routes polled or fetched often, logged at DEBUG rather than INFO.
const QUIET: [&str; 6] = [
    "/healthz",
    "/metrics",
    "/",
    "/app.js",
    "/app.css",
    "/cairn.js",
];

/// One route's figures.
#[derive(Default)]
pub(crate) struct RouteStats {
    /// Answers by status class: 1xx/2xx/3xx (index 0), 4xx (1), 5xx (2).
    pub(crate) answers: [AtomicU64; 3],
    /// Microseconds spent answering, in total.
    pub(crate) micros: AtomicU64,
}

/// Per-route figures, and ingestion refusals by reason.
#[derive(Default)]
pub(crate) struct RequestStats {
    routes: RwLock<BTreeMap<String, Arc<RouteStats>>>,
    /// Indexed like [`Reject::ALL`].
    pub(crate) rejected: [AtomicU64; Reject::ALL.len()],
}

impl RequestStats {
    fn route(&self, route: &str) -> Arc<RouteStats> {
        if let Some(r) = self
            .routes
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(route)
        {
            return Arc::clone(r);
        }
        let mut w = self.routes.write().unwrap_or_else(|p| p.into_inner());
        Arc::clone(w.entry(route.to_string()).or_default())
    }

    /// Every route seen, in order.
    pub(crate) fn routes(&self) -> Vec<(String, Arc<RouteStats>)> {
        let r = self.routes.read().unwrap_or_else(|p| p.into_inner());
        r.iter().map(|(k, v)| (k.clone(), Arc::clone(v))).collect()
    }

    /// Ingestion refusals for `reason`.
    pub(crate) fn rejected(&self, reason: Reject) -> u64 {
        Reject::ALL
            .iter()
            .position(|&r| r == reason)
            .map_or(0, |i| self.rejected[i].load(Relaxed))
    }
}

/// The middleware.
pub(crate) async fn observe(State(st): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    let t0 = Instant::now();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or("(unmatched)", MatchedPath::as_str)
        .to_string();
    let method = req.method().clone();
    let resp = next.run(req).await;
    let micros = t0.elapsed().as_micros() as u64;
    let status = resp.status().as_u16();
    let stats = &st.metrics.requests;
    let r = stats.route(&route);
    let class = match status {
        500.. => 2,
        400..=499 => 1,
        _ => 0,
    };
    r.answers[class].fetch_add(1, Relaxed);
    r.micros.fetch_add(micros, Relaxed);
    let reason = resp.extensions().get::<Reject>().copied();
    if INGESTION.contains(&route.as_str())
        && let Some(reason) = reason
        && let Some(i) = Reject::ALL.iter().position(|&x| x == reason)
    {
        stats.rejected[i].fetch_add(1, Relaxed);
    }
    match reason.map(Reject::label) {
        Some(reason) => {
            tracing::info!(target: "cairn::http", %route, %method, status, micros, reason, "request");
        }
        None if QUIET.contains(&route.as_str()) && status < 400 => {
            tracing::debug!(target: "cairn::http", %route, %method, status, micros, "request");
        }
        None => tracing::info!(target: "cairn::http", %route, %method, status, micros, "request"),
    }
    resp
}
