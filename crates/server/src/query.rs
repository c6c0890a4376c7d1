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
use axum::response::IntoResponse;
use cairn_engine::{Backend, Engine, SourceError};
use cairn_model::query::{Analysis, Query};
use serde_json::json;

use crate::AppState;
use crate::auth::{Need, Principal, allow};
use crate::error::{ApiError, Reply};

/// Queries running at once.
pub const MAX_QUERIES: usize = 4;

/// `POST /api/v1/query`.
pub(crate) async fn query(State(st): State<Arc<AppState>>, p: Principal, body: Bytes) -> Reply {
    use std::sync::atomic::Ordering::Relaxed;
    let text = crate::body::utf8(&body)?;
    let mut q = Query::from_json(text)
        .map_err(|e| ApiError::unprocessable(e).with(json!({ "see": "docs/queries.md" })))?;
    allow(&st, &p, &q.site, Need::Read).await?;
    // The site's stored goals and funnels, where the spec does not define its own.
    let mut stored = crate::manage::stored(&st, &q.site).await?;
    stored
        .goals
        .retain(|g| !q.goals.iter().any(|x| x.name == g.name));
    stored.funnels.retain(|n, _| !q.funnels.contains_key(n));
    q.merge_definitions(stored)
        .map_err(ApiError::unprocessable)?;
    // The site's stored spend, for a breakdown that can join it (docs/campaigns.md).
    if q.spend.is_empty() && matches!(&q.analysis, Analysis::Goals(g) if g.breakdown.is_some()) {
        let site = q.site.clone();
        q.spend = st
            .meta
            .read(move |m| m.spend(&site, None).map_err(ApiError::internal))
            .await??;
    }
    let plan = q.plan().map_err(ApiError::unprocessable)?;
    let permit = Arc::clone(&st.queries).try_acquire_owned().map_err(|_| {
        ApiError::overloaded(format!("{MAX_QUERIES} queries are running: retry shortly"))
    })?;
    let store = Arc::clone(&st.store);
    let ch = st.settings.clickhouse.as_ref().map(|c| Arc::clone(&c.ch));
    let t0 = Instant::now();
    let res = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        match &ch {
            // Shipped events only: those still waiting in the store are a few seconds
            // old (docs/clickhouse.md).
            Some(ch) => Backend::query(&Engine::new(&**ch), &plan),
            None => Backend::query(&Engine::new(&*store), &plan),
        }
    })
    .await;
    let m = &st.metrics;
    m.queries.fetch_add(1, Relaxed);
    m.query_micros
        .fetch_add(t0.elapsed().as_micros() as u64, Relaxed);
    match res {
        Ok(Ok(r)) => Ok(axum::Json(r).into_response()),
        Ok(Err(cairn_engine::Error::Spec(e))) => Err(ApiError::unprocessable(e)),
        Ok(Err(cairn_engine::Error::Source(SourceError::Unavailable(e)))) => Err(
            ApiError::unavailable("the event store cannot answer queries", e),
        ),
        Ok(Err(cairn_engine::Error::Source(SourceError::Unreachable(e)))) => Err(
            ApiError::unavailable("the event store (ClickHouse) cannot be reached", e),
        ),
        Ok(Err(e)) => Err(ApiError::internal(format!("the query failed: {e}"))),
        Err(e) => Err(ApiError::internal(format!("the query task failed: {e}"))),
    }
}
