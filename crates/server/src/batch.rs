//! `POST /api/v1/batch`: the server-side ingestion API. Cairn records (events and
//! `identify` records, the NDJSON import format) as a JSON array or as NDJSON,
//! authenticated by a site's write key (`Authorization: Bearer cairn_w_…`). Every record
//! is checked first; if any is wrong, nothing is stored and the answer names each bad
//! record. The answer `200` comes only after the records are in the fsynced write-ahead
//! log: an acknowledged event survives a crash.

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::IntoResponse;
use cairn_model::{Checked, Record};
use serde_json::{Value, json};

use crate::AppState;
use crate::auth::write_key_site;
use crate::body::{Bounded, bounded_array};
use crate::error::{ApiError, Reply};

/// `POST /api/v1/batch`.
pub(crate) async fn batch(
    State(st): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Reply {
    let site = write_key_site(&st, crate::bearer(&headers)).await?;
    let now = crate::now_ms();
    let records = parse_batch(&body, now, st.limits.max_batch)?;
    if let Some((i, r)) = records
        .records()
        .iter()
        .enumerate()
        .find(|(_, r)| r.site() != site)
    {
        return Err(ApiError::forbidden(format!(
            "record {i} is for site `{}`, but the key belongs to `{site}`: nothing was stored",
            r.site()
        )));
    }
    crate::ingest::check_site_rate(&st, records.records())?;
    let live = crate::live::Live::pending(records.records(), now);
    let n = crate::write::write_durably(&st, records).await?;
    st.live.record(live);
    st.metrics.batches.fetch_add(1, Relaxed);
    Ok(axum::Json(json!({ "accepted": n })).into_response())
}

/// Parses a batch body: a JSON array of records, or NDJSON (one record per line).
/// Returns the records, or the errors as (index, field, reason).
fn parse_batch(body: &[u8], now: i64, max: usize) -> Result<Checked, ApiError> {
    let text = crate::body::utf8(body)?;
    let trimmed = text.trim_start();
    let mut records = Checked::default();
    let mut errors = Vec::new();
    if trimmed.starts_with('[') {
        let values = bounded_array(trimmed, max).map_err(|e| match e {
            Bounded::TooMany(n) => ApiError::too_large(format!(
                "{n} or more records in one batch; send at most {max} per request"
            )),
            Bounded::Invalid(e) => {
                ApiError::bad_request(format!("the body is not a JSON array of records: {e}"))
            }
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
            match Record::parse_value(&v, None).and_then(|r| records.push(r, now)) {
                Ok(()) => {}
                Err(e) => errors
                    .push(json!({"record": i, "field": e.field, "reason": e.reason.to_string()})),
            }
        }
    } else {
        let lines = text.lines().filter(|l| !l.trim().is_empty()).count();
        if lines > max {
            return Err(ApiError::too_large(format!(
                "{lines} records in one batch; send at most {max} per request"
            )));
        }
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            match Record::parse_json(line).and_then(|r| records.push(r, now)) {
                Ok(()) => {}
                Err(e) => errors
                    .push(json!({"line": i + 1, "field": e.field, "reason": e.reason.to_string()})),
            }
        }
    }
    if !errors.is_empty() {
        return Err(crate::ingest::invalid(errors));
    }
    if records.is_empty() {
        return Err(ApiError::bad_request("the batch is empty"));
    }
    Ok(records)
}
