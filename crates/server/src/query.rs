//! `POST /api/v1/query`: every analysis over HTTP. The body is a query spec
//! (docs/queries.md), the answer the engine's result as JSON — the same document
//! `cairn query --json` prints. Authenticated by a **read** key of the spec's site
//! (`Authorization: Bearer cairn_r_…`: a key sees its own site's data only) or a
//! dashboard session with a role on the site ([`crate::auth`]). The site's stored goals
//! and funnels ([`crate::manage`]) can be named in the spec; the spec's own win.
//!
//! Queries run on blocking threads, at most [`MAX_QUERIES`] at once (each already
//! uses every core); more are answered `503` with `Retry-After`.

use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use cairn_model::query::Query;
use serde_json::json;

use crate::failure::ApiError;
use crate::{AppState, error};
use cairn_engine::SourceError;

/// Queries running at once.
pub const MAX_QUERIES: usize = 4;

/// `POST /api/v1/query`.
pub(crate) async fn query(
    State(st): State<Arc<AppState>>,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let t0 = Instant::now();
    let resp = query_inner(&st, &method, &headers, &body).await;
    tracing::info!(
        target: "cairn::query",
        status = resp.status().as_u16(),
        micros = t0.elapsed().as_micros() as u64,
        "query"
    );
    resp
}

async fn query_inner(
    st: &Arc<AppState>,
    method: &Method,
    headers: &HeaderMap,
    body: &[u8],
) -> Response {
    use std::sync::atomic::Ordering::Relaxed;
    let p = try_reply!(crate::auth::principal(st, method, headers));
    let Ok(text) = std::str::from_utf8(body) else {
        return error(StatusCode::BAD_REQUEST, "the body is not UTF-8", json!({}));
    };
    let q = match Query::from_json(text) {
        Ok(q) => q,
        Err(e) => {
            return error(
                StatusCode::UNPROCESSABLE_ENTITY,
                e.to_string(),
                json!({ "see": "docs/queries.md" }),
            );
        }
    };
    let mut q = q;
    try_reply!(crate::auth::allow(st, &p, &q.site, crate::auth::Need::Read));
    // The site's stored goals and funnels, where the spec does not define its own.
    let mut stored = try_reply!(crate::manage::stored(st, &q.site));
    stored
        .goals
        .retain(|g| !q.goals.iter().any(|x| x.name == g.name));
    stored.funnels.retain(|n, _| !q.funnels.contains_key(n));
    if let Err(e) = q.merge_definitions(stored) {
        return error(StatusCode::UNPROCESSABLE_ENTITY, e.to_string(), json!({}));
    }
    let plan = match q.plan() {
        Ok(p) => p,
        Err(e) => return error(StatusCode::UNPROCESSABLE_ENTITY, e.to_string(), json!({})),
    };
    let Ok(permit) = Arc::clone(&st.queries).try_acquire_owned() else {
        let mut r = error(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("{MAX_QUERIES} queries are running: retry shortly"),
            json!({}),
        );
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        return r;
    };
    let store = Arc::clone(&st.store);
    let t0 = Instant::now();
    let res = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        cairn_engine::Backend::query(&cairn_engine::Engine::new(&*store), &plan)
    })
    .await;
    let m = &st.metrics;
    m.queries.fetch_add(1, Relaxed);
    m.query_micros
        .fetch_add(t0.elapsed().as_micros() as u64, Relaxed);
    match res {
        Ok(Ok(r)) => axum::Json(r).into_response(),
        Ok(Err(cairn_engine::Error::Spec(e))) => {
            error(StatusCode::UNPROCESSABLE_ENTITY, e.to_string(), json!({}))
        }
        Ok(Err(cairn_engine::Error::Source(SourceError::Unavailable(e)))) => {
            ApiError::unavailable("the event store cannot answer queries", e).into_response()
        }
        Ok(Err(e)) => ApiError::internal(format!("the query failed: {e}")).into_response(),
        Err(e) => ApiError::internal(format!("the query task failed: {e}")).into_response(),
    }
}
