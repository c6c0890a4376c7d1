//! The browser tracker's endpoint and script.
//!
//! * `GET /cairn.js` — the tracker (built from `tracker/`, embedded in the binary):
//!   every feature; `?f=forms,video` the core and those features ([`features`]), `?f=`
//!   or `?f=core` the core alone, each assembled from the chunks once and kept.
//! * `POST /api/v1/event` — one event (a JSON object) or several (an array of up to
//!   [`MAX_EVENTS`]), as `text/plain` (no CORS preflight) or `application/json`; open to
//!   every origin (CORS). No key: the site must be registered, the visitor id is
//!   derived by the server ([`crate::visitor_id`]), the event is enriched once
//!   ([`crate::ingest::page_record`]). All or nothing, durable before `202`.

use std::sync::{Arc, OnceLock};

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use cairn_model::{Checked, Reason, ValidationError};
use serde_json::{Value, json};

use crate::AppState;
use crate::client::Client;
use crate::error::{ApiError, Reply};
use crate::ingest::{self, Context, PageEvent};

/// Most events in one tracker request.
pub const MAX_EVENTS: usize = 50;
/// The oldest an event may be when the tracker finally sends it (its `age`).
pub const MAX_AGE_MS: i64 = 86_400_000;

/// The tracker script with every feature, built by `tracker/build.mjs`: what
/// `GET /cairn.js` serves.
pub(crate) const SCRIPT: &str = include_str!("../../../tracker/dist/cairn.js");

/// The core's chunk (`tracker/src/cairn.ts`): always last.
const CORE: &str = include_str!("../../../tracker/dist/core.js");

/// The autocapture features, by their `?f=` (and `data-exclude`) name, with their chunks,
/// in the order of an assembled script (`ORDER` in `tracker/build.mjs`): the click
/// listeners go share, downloads, outbound, CTA. Bit `i` of a build's mask is
/// `FEATURES[i]`.
pub(crate) const FEATURES: [(&str, &str); 7] = [
    (
        "share",
        include_str!("../../../tracker/dist/features/share.js"),
    ),
    (
        "downloads",
        include_str!("../../../tracker/dist/features/downloads.js"),
    ),
    (
        "outbound",
        include_str!("../../../tracker/dist/features/outbound.js"),
    ),
    ("cta", include_str!("../../../tracker/dist/features/cta.js")),
    (
        "forms",
        include_str!("../../../tracker/dist/features/forms.js"),
    ),
    (
        "video",
        include_str!("../../../tracker/dist/features/video.js"),
    ),
    (
        "search",
        include_str!("../../../tracker/dist/features/search.js"),
    ),
];

/// The mask of every feature.
const ALL: u8 = (1 << FEATURES.len()) - 1;

/// What wraps an assembled script (`HEAD` and `TAIL` in `tracker/build.mjs`): the
/// function whose parameter is the list the features register in.
const HEAD: &str = "\"use strict\";(cairnF=>{";
const TAIL: &str = "})([]);\n";

/// The script with the features of `mask`: the same text as `tracker/build.mjs`
/// `assemble` (for every feature, [`SCRIPT`]).
fn assemble(mask: u8) -> String {
    let mut s = String::from(HEAD);
    for (i, (_, chunk)) in FEATURES.iter().enumerate() {
        if mask & (1 << i) != 0 {
            s.push_str(chunk);
        }
    }
    s.push_str(CORE);
    s.push_str(TAIL);
    s
}

/// The features a `?f=` list names (separated by commas or spaces, in any order, repeats
/// and case left aside; `core` names none) as a mask, or the error for an unknown name.
pub(crate) fn features(list: &str) -> Result<u8, String> {
    let mut mask = 0;
    for name in list
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|n| !n.is_empty())
    {
        if name.eq_ignore_ascii_case("core") {
            continue;
        }
        match FEATURES
            .iter()
            .position(|(f, _)| name.eq_ignore_ascii_case(f))
        {
            Some(i) => mask |= 1 << i,
            None => {
                let known: Vec<&str> = FEATURES.iter().map(|(f, _)| *f).collect();
                return Err(format!(
                    "unknown tracker feature {name:?} in /cairn.js?f=: the features are {} \
                     (or `core` for none)",
                    known.join(", ")
                ));
            }
        }
    }
    Ok(mask)
}

static SCRIPT_FILE: crate::web::Embedded = crate::web::Embedded::new(SCRIPT);

/// The scripts with fewer than every feature, assembled (and compressed) on first use
/// and kept: at most 127.
static BUILDS: [OnceLock<crate::web::Embedded>; ALL as usize] =
    [const { OnceLock::new() }; ALL as usize];

/// The script of a mask.
fn build(mask: u8) -> &'static crate::web::Embedded {
    match BUILDS.get(usize::from(mask)) {
        Some(cell) => cell.get_or_init(|| {
            // Kept for the life of the process, like the embedded files (bounded: one
            // per mask).
            crate::web::Embedded::new(assemble(mask).leak())
        }),
        // Every feature: the committed script.
        None => &SCRIPT_FILE,
    }
}

/// `GET /cairn.js[?f=…]`: gzip-compressed when the browser takes it; `400` for an unknown
/// feature. Every `f` parameter counts (`?f=forms&f=video` is `?f=forms,video`).
pub(crate) async fn script(
    Query(query): Query<Vec<(String, String)>>,
    headers: HeaderMap,
) -> Response {
    let mut mask = ALL;
    let mut lists = query.iter().filter(|(k, _)| k == "f").peekable();
    if lists.peek().is_some() {
        mask = 0;
        for (_, list) in lists {
            match features(list) {
                Ok(m) => mask |= m,
                Err(e) => {
                    let mut r = (StatusCode::BAD_REQUEST, e).into_response();
                    r.headers_mut().insert(
                        header::ACCESS_CONTROL_ALLOW_ORIGIN,
                        HeaderValue::from_static("*"),
                    );
                    return r;
                }
            }
        }
    }
    let mut r = build(mask).answer(&headers);
    if r.status() == StatusCode::NOT_MODIFIED {
        return r;
    }
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/javascript; charset=utf-8"),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    r
}

/// Adds the CORS headers of the open tracker endpoints.
pub(crate) fn cors(mut r: Response) -> Response {
    let h = r.headers_mut();
    h.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("POST, OPTIONS"),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static("Content-Type"),
    );
    h.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static("86400"),
    );
    r
}

/// `OPTIONS` on a tracker endpoint: the CORS preflight.
pub(crate) async fn preflight() -> Response {
    cors(StatusCode::NO_CONTENT.into_response())
}

/// The body of a request to an open endpoint, or the refusal for it (the body
/// limit's), counted like any other refusal.
pub(crate) fn open_body(
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<Bytes, ApiError> {
    body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::too_large(e.body_text())
        } else {
            ApiError::bad_request(e.body_text()).status(e.status())
        }
    })
}

/// `POST /api/v1/event`.
pub(crate) async fn event(
    State(st): State<Arc<AppState>>,
    client: Client,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Reply {
    let body = open_body(body)?;
    ingest::check_ip_rate(&st, &client)?;
    let v = crate::body::json(&body)?;
    let items: Vec<&Value> = match &v {
        Value::Array(a) => {
            if a.len() > MAX_EVENTS {
                return Err(ApiError::too_large(format!(
                    "{} events in one request; the tracker sends at most {MAX_EVENTS}",
                    a.len()
                )));
            }
            if a.is_empty() {
                return Err(ApiError::bad_request("the batch is empty"));
            }
            a.iter().collect()
        }
        one => vec![one],
    };
    let now = crate::now_ms();
    let mut events = Vec::with_capacity(items.len());
    let mut errors = Vec::new();
    for (i, item) in items.iter().enumerate() {
        match page_event(item, now) {
            Ok(e) => events.push(e),
            Err(e) => errors.push(item_error(&v, i, &e)),
        }
    }
    if !errors.is_empty() {
        return Err(ingest::invalid(errors));
    }
    ingest_page_events(&st, &client, &v, events, now, None).await
}

/// Enriches and stores browser events (tracker and Plausible endpoints): drops bots,
/// checks the sites, the per-site limit, and writes durably. `country` overrides the
/// GeoIP lookup.
pub(crate) async fn ingest_page_events(
    st: &Arc<AppState>,
    client: &Client,
    body: &Value,
    events: Vec<PageEvent>,
    now: i64,
    country: Option<String>,
) -> Reply {
    use std::sync::atomic::Ordering::Relaxed;
    let ua = crate::enrich::parse_user_agent(&client.user_agent);
    if ua.bot {
        let n = events.len();
        st.metrics.bots.fetch_add(n as u64, Relaxed);
        // Counted per registered site for the setup page, and shown in its live view
        // (enriched as they would have been, with the user agent taken for a bot).
        let cx = Context {
            client,
            ua,
            salt: [0; 32],
            country: country.or_else(|| st.country(client.ip)),
        };
        let mut per_site: std::collections::BTreeMap<String, u64> = Default::default();
        let mut live = Vec::new();
        for e in events {
            let Ok(Some(site)) = st.sites.get(st, &e.site).await else {
                continue;
            };
            *per_site.entry(e.site.clone()).or_default() += 1;
            let domain = e.site.clone();
            let why = crate::live::LiveIgnored {
                reason: crate::ignored::Reason::Bot,
                detail: client.user_agent.clone(),
            };
            if let Some(l) = crate::live::LiveEvent::ignored(e, &site, &cx, now, why) {
                live.push((domain, l));
            }
        }
        for (site, n) in per_site {
            st.ignored.add(&site, crate::ignored::Reason::Bot, n, now);
        }
        st.live.record(live);
        return Ok((
            StatusCode::ACCEPTED,
            axum::Json(json!({ "accepted": 0, "ignored": n, "reason": "bot" })),
        )
            .into_response());
    }
    let salt = st.salt(now).await?;
    let cx = Context {
        client,
        ua,
        salt,
        country: country.or_else(|| st.country(client.ip)),
    };
    let mut records = Checked::with_capacity(events.len());
    let mut errors = Vec::new();
    for (i, ev) in events.into_iter().enumerate() {
        let Some(site) = st.sites.get(st, &ev.site).await? else {
            return Err(crate::sites::unknown_site(&ev.site));
        };
        match ingest::page_record(ev, &site, &cx).and_then(|r| records.push(r, now)) {
            Ok(()) => {}
            Err(e) => errors.push(item_error(body, i, &e)),
        }
    }
    if !errors.is_empty() {
        return Err(ingest::invalid(errors));
    }
    ingest::check_site_rate(st, records.records())?;
    let live = crate::live::Live::pending(records.records(), now);
    let n = crate::write::write_durably(st, records).await?;
    st.live.record(live);
    Ok((StatusCode::ACCEPTED, axum::Json(json!({ "accepted": n }))).into_response())
}

/// An error entry: `{"field", "reason"}`, with `"event": i` when the body is an array.
pub(crate) fn item_error(body: &Value, i: usize, e: &ValidationError) -> Value {
    if body.is_array() {
        json!({ "event": i, "field": e.field, "reason": e.reason.to_string() })
    } else {
        json!({ "field": e.field, "reason": e.reason.to_string() })
    }
}

fn text(obj: &serde_json::Map<String, Value>, k: &str) -> Result<String, ValidationError> {
    match obj.get(k) {
        None | Some(Value::Null) => Ok(String::new()),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(other) => Err(ValidationError::new(
            k,
            Reason::WrongType {
                expected: "a string",
                found: json_type(other),
            },
        )),
    }
}

pub(crate) use cairn_model::json_type;

fn required(obj: &serde_json::Map<String, Value>, k: &str) -> Result<String, ValidationError> {
    let s = text(obj, k)?;
    if s.is_empty() {
        return Err(ValidationError::new(k, Reason::Missing));
    }
    Ok(s)
}

/// Reads one tracker event (or identify) object.
fn page_event(v: &Value, now: i64) -> Result<PageEvent, ValidationError> {
    let Value::Object(obj) = v else {
        return Err(ValidationError::new(
            "event",
            Reason::WrongType {
                expected: "a JSON object",
                found: json_type(v),
            },
        ));
    };
    for k in obj.keys() {
        if !matches!(
            k.as_str(),
            "type"
                | "site"
                | "name"
                | "url"
                | "referrer"
                | "props"
                | "revenue"
                | "screen"
                | "language"
                | "vid"
                | "age"
                | "user"
        ) {
            return Err(ValidationError::new(k.as_str(), Reason::UnknownField));
        }
    }
    let age = match obj.get("age") {
        None | Some(Value::Null) => 0,
        Some(Value::Number(n)) => match n.as_i64() {
            Some(a) if (0..=MAX_AGE_MS).contains(&a) => a,
            _ => return Err(ValidationError::new("age", Reason::OutOfRange)),
        },
        Some(other) => {
            return Err(ValidationError::new(
                "age",
                Reason::WrongType {
                    expected: "a number of milliseconds",
                    found: json_type(other),
                },
            ));
        }
    };
    let site = required(obj, "site")?;
    let vid = Some(text(obj, "vid")?).filter(|s| !s.is_empty());
    if vid.as_ref().is_some_and(|s| s.len() > 128) {
        return Err(ValidationError::new(
            "vid",
            Reason::TooLong {
                max: 128,
                len: vid.as_ref().map_or(0, String::len),
            },
        ));
    }
    let kind = text(obj, "type")?;
    let ts = now - age;
    match kind.as_str() {
        "" | "event" => {}
        "identify" => {
            return Ok(PageEvent {
                site,
                vid,
                ts,
                identify: Some(required(obj, "user")?),
                ..PageEvent::default()
            });
        }
        other => {
            return Err(ValidationError::new(
                "type",
                Reason::UnknownType(other.to_string()),
            ));
        }
    }
    if obj.contains_key("user") {
        return Err(ValidationError::new("user", Reason::UnknownField));
    }
    Ok(PageEvent {
        site,
        name: required(obj, "name")?,
        url: required(obj, "url")?,
        referrer: text(obj, "referrer")?,
        props: obj.get("props").filter(|p| !p.is_null()).cloned(),
        revenue: obj.get("revenue").filter(|p| !p.is_null()).cloned(),
        screen: ingest::screen_of(&text(obj, "screen")?),
        language: text(obj, "language")?,
        vid,
        ts,
        ..PageEvent::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_feature_assembled_is_the_built_script() {
        assert_eq!(assemble(ALL), SCRIPT, "run `node tracker/build.mjs`");
        assert!(assemble(0).starts_with(HEAD) && assemble(0).ends_with(&format!("{CORE}{TAIL}")));
    }

    #[test]
    fn feature_lists_are_normalised() {
        assert_eq!(features("forms,video"), features("video , forms,forms"));
        assert_eq!(
            features("Forms+video".replace('+', " ").as_str()),
            features("forms,video")
        );
        assert_eq!(features(""), Ok(0));
        assert_eq!(features("core"), Ok(0));
        assert_eq!(features("core,share"), Ok(1));
        let all: Vec<&str> = FEATURES.iter().map(|(f, _)| *f).collect();
        assert_eq!(features(&all.join(",")), Ok(ALL));
        let e = features("forms,vidoe").unwrap_err();
        assert!(
            e.contains("\"vidoe\"") && e.contains("outbound, cta"),
            "{e}"
        );
    }
}
