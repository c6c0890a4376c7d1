//! `POST /api/v1/assign`: server-side experiment assignment, for server-rendered pages
//! and back ends. Authenticated by a site's write key. The unit is the tracker's
//! persistent id (`vid`: the exposure then joins that browser's events) or a back end's
//! own visitor id (`visitor`, as in `/api/v1/batch`); with `user`, the variant is the
//! user's on every device. Equal shares give the tracker's variant for the same id
//! (`fnv1a(id + key) % variants`, [`cairn_model::assign`]); `weights` (or a kept
//! experiment's) split unevenly. With `expose`, the exposure event is recorded too,
//! durably before the answer, as `/api/v1/batch` would.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::IntoResponse;
use cairn_model::query::{EXPOSURE_EVENT, MAX_VARIANTS};
use cairn_model::{Checked, Record};
use serde::Deserialize;
use serde_json::json;

use crate::AppState;
use crate::auth::write_key_site;
use crate::error::{ApiError, Reply};

/// The longest key, variant name or id.
const MAX_TEXT: usize = 200;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AssignBody {
    /// The experiment's key.
    experiment: String,
    /// Its variants, in the order the tracker is given them.
    variants: Vec<String>,
    /// The tracker's persistent id (`localStorage.cairn_id`, sent as `vid`) on a
    /// first-party site: the exposure is that browser visitor's.
    #[serde(default)]
    vid: Option<String>,
    /// Or a back end's own visitor id, as the `visitor` of `/api/v1/batch` records.
    #[serde(default)]
    visitor: Option<String>,
    /// An identified user (a lead): the variant is then the user's, the same on every
    /// device, and the exposure carries the user, linking the visitor to it.
    #[serde(default)]
    user: Option<String>,
    /// Traffic shares, one per variant (default: the kept experiment's weights for the
    /// same variants, else equal, as the tracker splits).
    #[serde(default)]
    weights: Option<Vec<f64>>,
    /// Also record the exposure (an `experiment_exposure` event for visitor `id`).
    #[serde(default)]
    expose: bool,
}

/// `POST /api/v1/assign`.
pub(crate) async fn assign(
    State(st): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Reply {
    let site = write_key_site(&st, crate::bearer(&headers)).await?;
    let b: AssignBody = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request(format!("the body: {e}")))?;
    let text = |field: &str, v: &str| {
        if v.trim().is_empty() || v.len() > MAX_TEXT {
            Err(ApiError::unprocessable(format!(
                "{field}: between 1 and {MAX_TEXT} bytes, not blank"
            )))
        } else {
            Ok(())
        }
    };
    text("experiment", &b.experiment)?;
    let id = match (&b.vid, &b.visitor) {
        (Some(v), None) => {
            text("vid", v)?;
            let first_party = st
                .sites
                .get(&st, &site)
                .await?
                .is_some_and(|i| i.identity == cairn_meta::VisitorIdMode::FirstParty);
            if !first_party {
                return Err(ApiError::unprocessable(format!(
                    "vid: `{site}` is cookieless, so its tracker keeps no id: pass `visitor`, a back end's own id (or register the site with --identity first-party)"
                )));
            }
            v
        }
        (None, Some(v)) => {
            text("visitor", v)?;
            v
        }
        _ => {
            return Err(ApiError::unprocessable(
                "vid or visitor: give exactly one — the tracker's persistent id, or a back end's own visitor id",
            ));
        }
    };
    if b.variants.is_empty() || b.variants.len() > MAX_VARIANTS {
        return Err(ApiError::unprocessable(format!(
            "variants: between 1 and {MAX_VARIANTS}"
        )));
    }
    for (i, v) in b.variants.iter().enumerate() {
        text(&format!("variants[{i}]"), v)?;
        if b.variants[..i].contains(v) {
            return Err(ApiError::unprocessable(format!(
                "variants[{i}]: `{v}` is listed twice"
            )));
        }
    }
    if let Some(u) = &b.user {
        text("user", u)?;
    }
    let weights: Vec<f64> = match &b.weights {
        Some(w) => {
            if w.len() != b.variants.len() {
                return Err(ApiError::unprocessable(format!(
                    "weights: one per variant ({}), not {}",
                    b.variants.len(),
                    w.len()
                )));
            }
            if let Some(i) = w.iter().position(|x| !(x.is_finite() && *x > 0.0)) {
                return Err(ApiError::unprocessable(format!(
                    "weights[{i}]: must be a positive number"
                )));
            }
            w.clone()
        }
        // A kept experiment of this key with these variants: its planned shares.
        None => {
            let kept = crate::manage::stored(&st, &site).await?.experiments;
            match kept.get(&b.experiment) {
                Some(d) if d.variants == b.variants && !d.weights.is_empty() => b
                    .variants
                    .iter()
                    .map(|v| d.weights.get(v).copied().unwrap_or(0.0))
                    .collect(),
                _ => vec![1.0; b.variants.len()],
            }
        }
    };
    // The unit assigned: the user when given (the same on every device), else the id.
    let unit = b.user.as_deref().unwrap_or(id);
    let index = cairn_model::assign::assign_weighted(unit, &b.experiment, &weights);
    let variant = &b.variants[index];
    if b.expose {
        let now = crate::now_ms();
        // The tracker's id is hashed with the site, as its own events are.
        let visitor = match &b.vid {
            Some(v) => cairn_model::visitor_id_to_string(crate::visitor_id::first_party(&site, v)),
            None => id.clone(),
        };
        let mut ev = json!({
            "site": site, "ts": now, "visitor": visitor, "name": EXPOSURE_EVENT,
            "props": {"experiment": b.experiment, "variant": variant},
        });
        if let Some(u) = &b.user {
            ev["user"] = json!(u);
        }
        let line = ev.to_string();
        let rec = Record::from_json(&line, now).map_err(ApiError::unprocessable)?;
        let mut records = Checked::with_capacity(1);
        records.push(rec, now).map_err(ApiError::unprocessable)?;
        crate::ingest::check_site_rate(&st, records.records())?;
        crate::write::write_durably(&st, records).await?;
    }
    Ok(
        axum::Json(json!({"variant": variant, "index": index, "exposed": b.expose}))
            .into_response(),
    )
}
