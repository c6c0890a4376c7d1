//! The Segment tracking API (`POST /v1/track`, `/v1/page`, `/v1/identify`,
//! `/v1/batch`), so Segment, RudderStack and other pipelines that speak it can forward
//! to Cairn by changing the host.
//!
//! Authentication: the site's write key as the user name of HTTP basic auth (as
//! Segment's libraries send it), or as `writeKey` in the body.
//!
//! Mapping (every message):
//! * the visitor is `anonymousId`, else `userId` (hashed to a visitor id, as the batch
//!   API does); `userId` is stored as the event's `user` and links the visitor;
//! * the time is `timestamp`; else `originalTimestamp` corrected by the sender's clock
//!   skew (`sentAt` against the receiving clock); else the time of receipt;
//! * `context.page.url`/`referrer`, `context.campaign` (UTM), `context.userAgent`
//!   (browser, OS, device; bots are skipped), `context.ip` (country, when a GeoIP
//!   database is configured; never stored), `context.locale`, `context.screen`;
//! * `track`: the event name is `event`; `properties` become props, except `revenue`
//!   (with `currency`, default USD) which becomes the revenue; nested values are kept as
//!   their JSON text;
//! * `page`: a `pageview`; `properties.url`/`path`/`referrer` take precedence over
//!   `context.page`; the page `name` and `category` become props;
//! * `identify`: links `anonymousId` to `userId` (traits are not stored);
//! * `screen`, `group` and `alias` are accepted and not stored (counted as `ignored`).
//!
//! All or nothing, durable before `200 {"success": true}`.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::IntoResponse;
use base64::Engine;
use cairn_model::{Checked, Reason, ValidationError, parse_timestamp};
use serde_json::value::RawValue;
use serde_json::{Map, Value, json};

use crate::AppState;
use crate::auth::write_key_site;
use crate::body::{Bounded, bounded_array};
use crate::client::Client;
use crate::error::{ApiError, Reply};
use crate::ingest::{self, Context, PageEvent};
use crate::tracker::json_type;

/// `POST /v1/track`.
pub(crate) async fn track(st: State<Arc<AppState>>, c: Client, h: HeaderMap, b: Bytes) -> Reply {
    handle(st, c, h, b, Some("track")).await
}

/// `POST /v1/page`.
pub(crate) async fn page(st: State<Arc<AppState>>, c: Client, h: HeaderMap, b: Bytes) -> Reply {
    handle(st, c, h, b, Some("page")).await
}

/// `POST /v1/identify`.
pub(crate) async fn identify(st: State<Arc<AppState>>, c: Client, h: HeaderMap, b: Bytes) -> Reply {
    handle(st, c, h, b, Some("identify")).await
}

/// `POST /v1/screen`, `/v1/group`, `/v1/alias`: authenticated, accepted, not stored.
pub(crate) async fn unsupported(
    st: State<Arc<AppState>>,
    uri: axum::http::Uri,
    c: Client,
    h: HeaderMap,
    b: Bytes,
) -> Reply {
    match uri.path() {
        "/v1/screen" => handle(st, c, h, b, Some("screen")).await,
        "/v1/group" => handle(st, c, h, b, Some("group")).await,
        _ => handle(st, c, h, b, Some("alias")).await,
    }
}

/// `POST /v1/batch`.
pub(crate) async fn batch(st: State<Arc<AppState>>, c: Client, h: HeaderMap, b: Bytes) -> Reply {
    handle(st, c, h, b, None).await
}

async fn handle(
    State(st): State<Arc<AppState>>,
    client: Client,
    headers: HeaderMap,
    body: Bytes,
    kind: Option<&'static str>,
) -> Reply {
    inner(&st, &client, &headers, &body, kind).await
}

/// The write key of HTTP basic auth (`key:` base64-encoded).
fn basic_key(headers: &HeaderMap) -> Option<String> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let b64 = v.strip_prefix("Basic ")?.trim();
    let raw = base64::engine::general_purpose::STANDARD.decode(b64).ok()?;
    let text = String::from_utf8(raw).ok()?;
    let key = text.split_once(':').map_or(text.as_str(), |(k, _)| k);
    (!key.is_empty()).then(|| key.to_string())
}

async fn inner(
    st: &Arc<AppState>,
    client: &Client,
    headers: &HeaderMap,
    body: &[u8],
    kind: Option<&'static str>,
) -> Reply {
    // Authenticate before building anything from the body: a key in basic auth is
    // checked first; one in the body is read from its top level alone.
    let basic = basic_key(headers);
    if basic.is_some() {
        write_key_site(st, basic.as_deref()).await?;
    }
    let text = crate::body::utf8(body)?;
    let fields: Vec<(String, &RawValue)> =
        match serde_json::from_str::<std::collections::BTreeMap<String, &RawValue>>(text) {
            Ok(f) => f.into_iter().collect(),
            Err(e) => {
                // Say what the body is from its first character: building it would cost
                // memory for a body nobody has authenticated.
                let found = match text.trim_start().chars().next() {
                    None => "nothing",
                    Some('[') => "an array",
                    Some('"') => "a string",
                    Some('t' | 'f') => "a boolean",
                    Some('n') => "null",
                    Some('{') => {
                        return Err(ApiError::bad_request(format!("the body is not JSON: {e}")));
                    }
                    Some(_) => "a number or not JSON",
                };
                return Err(ApiError::bad_request(format!(
                    "the body must be a JSON object, found {found}"
                )));
            }
        };
    let key = basic.or_else(|| {
        fields
            .iter()
            .find(|(k, _)| k == "writeKey")
            .and_then(|(_, raw)| serde_json::from_str::<String>(raw.get()).ok())
    });
    let site = write_key_site(st, key.as_deref()).await?;
    let now = crate::now_ms();
    // The top level but the batch, then the batch's messages one by one, after their
    // count is known to be within the limit.
    let mut top = Map::new();
    let mut batch_raw = None;
    for (k, raw) in &fields {
        if k == "batch" && kind.is_none() {
            batch_raw = Some(*raw);
        } else {
            match serde_json::from_str::<Value>(raw.get()) {
                Ok(v) => {
                    top.insert(k.clone(), v);
                }
                Err(e) => {
                    return Err(ApiError::bad_request(format!("the body is not JSON: {e}")));
                }
            }
        }
    }
    let items: Vec<Value> = match (kind, batch_raw) {
        (Some(_), _) => Vec::new(),
        (None, None) => {
            return Err(ApiError::bad_request(
                "a batch needs `batch`: an array of messages",
            ));
        }
        (None, Some(raw)) => {
            let max = st.limits.max_batch;
            let elems = match bounded_array(raw.get(), max) {
                Ok(e) => e,
                Err(Bounded::TooMany(n)) => {
                    return Err(ApiError::too_large(format!(
                        "{n} or more messages in one batch; send at most {max} per request"
                    )));
                }
                Err(Bounded::Invalid(_)) => {
                    return Err(ApiError::bad_request(
                        "a batch needs `batch`: an array of messages",
                    ));
                }
            };
            let mut items = Vec::with_capacity(elems.len());
            for e in elems {
                match serde_json::from_str(e.get()) {
                    Ok(v) => items.push(v),
                    Err(e) => {
                        return Err(ApiError::bad_request(format!("the body is not JSON: {e}")));
                    }
                }
            }
            items
        }
    };
    let top = &top;
    let messages: Vec<(String, &Map<String, Value>, &'static str)> = match kind {
        Some(k) => vec![(String::new(), top, k)],
        None => {
            let mut out = Vec::new();
            let mut errors = Vec::new();
            for (i, m) in items.iter().enumerate() {
                let prefix = format!("batch[{i}].");
                match m {
                    Value::Object(o) => match o.get("type").and_then(Value::as_str) {
                        Some(t @ ("track" | "page" | "identify" | "screen" | "group" | "alias")) => {
                            let t: &'static str = match t {
                                "track" => "track",
                                "page" => "page",
                                "identify" => "identify",
                                "screen" => "screen",
                                "group" => "group",
                                _ => "alias",
                            };
                            out.push((prefix, o, t));
                        }
                        other => errors.push(json!({"field": format!("{prefix}type"),
                            "reason": match other {
                                Some(t) => format!("unknown message type `{t}`"),
                                None => "is missing: track, page, identify, screen, group or alias".into(),
                            }})),
                    },
                    other => errors.push(json!({"field": format!("batch[{i}]"),
                        "reason": format!("must be an object, found {}", json_type(other))})),
                }
            }
            if !errors.is_empty() {
                return Err(ingest::invalid(errors));
            }
            out
        }
    };
    let batch_context = top.get("context").and_then(Value::as_object);
    let salt = [0u8; 32]; // Segment messages carry their own visitor ids.
    let mut records = Checked::default();
    let mut errors = Vec::new();
    let mut ignored = 0u64;
    let mut unsupported = 0u64;
    let mut bots = 0u64;
    // What the live view shows of the messages not stored, once the request is answered.
    let mut live: crate::live::Pending = Vec::new();
    let mut warnings: Vec<String> = Vec::new();
    let Some(site_info) = st.sites.get(st, &site).await? else {
        return Err(crate::sites::unknown_site(&site));
    };
    for (prefix, msg, t) in messages {
        if matches!(t, "screen" | "group" | "alias") {
            ignored += 1;
            unsupported += 1;
            let name = ["name", "event"]
                .iter()
                .find_map(|k| msg.get(*k).and_then(Value::as_str))
                .map_or(t, |n| crate::client::truncate(n, 120));
            live.push((
                site.clone(),
                crate::live::LiveEvent::unsupported(name, now, now, t),
            ));
            continue;
        }
        let mut notes = Vec::new();
        let ev = match message(&site, msg, batch_context, t, now, &mut notes) {
            Ok(Some(e)) => {
                warnings.extend(notes.into_iter().map(|n| format!("{prefix}{n}")));
                e
            }
            Ok(None) => {
                ignored += 1;
                unsupported += 1;
                live.push((
                    site.clone(),
                    crate::live::LiveEvent::unsupported(t, now, now, "identify without userId"),
                ));
                continue;
            }
            Err(e) => {
                errors.push(json!({"field": format!("{prefix}{}", e.field), "reason": e.reason.to_string()}));
                continue;
            }
        };
        let ctx = context_of(msg, batch_context);
        let ua_text = crate::client::truncate(
            ctx.and_then(|c| c.get("userAgent"))
                .and_then(Value::as_str)
                .unwrap_or(""),
            1024,
        )
        .to_string();
        let ua = crate::enrich::parse_user_agent(&ua_text);
        let bot = !ua_text.is_empty() && ua.bot;
        let ip = ctx
            .and_then(|c| c.get("ip"))
            .and_then(Value::as_str)
            .and_then(|s| s.trim().parse().ok());
        let msg_client = Client {
            ip: ip.unwrap_or(client.ip),
            user_agent: ua_text.clone(),
            accept_language: String::new(),
        };
        let cx = Context {
            client: &msg_client,
            ua: if ua_text.is_empty() {
                crate::enrich::UserAgent {
                    browser: "",
                    os: "",
                    device: "",
                    bot: false,
                }
            } else {
                ua
            },
            salt,
            country: ip.and_then(|ip| st.country(ip)),
        };
        if bot {
            st.metrics
                .bots
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            ignored += 1;
            bots += 1;
            let why = crate::live::LiveIgnored {
                reason: crate::ignored::Reason::Bot,
                detail: ua_text,
            };
            if let Some(l) = crate::live::LiveEvent::ignored(ev, &site_info, &cx, now, why) {
                live.push((site.clone(), l));
            }
            continue;
        }
        match ingest::page_record(ev, &site_info, &cx).and_then(|r| records.push(r, now)) {
            Ok(()) => {}
            Err(e) => errors.push(json!({"field": format!("{prefix}{}", segment_field(&e.field)), "reason": e.reason.to_string()})),
        }
    }
    if !errors.is_empty() {
        return Err(ingest::invalid(errors));
    }
    st.metrics
        .ignored
        .fetch_add(unsupported, std::sync::atomic::Ordering::Relaxed);
    st.ignored
        .add(&site, crate::ignored::Reason::Unsupported, unsupported, now);
    st.ignored
        .add(&site, crate::ignored::Reason::Bot, bots, now);
    st.live.record(live);
    if records.is_empty() {
        return Ok(axum::Json(
            json!({ "success": true, "accepted": 0, "ignored": ignored, "warnings": warnings }),
        )
        .into_response());
    }
    ingest::check_site_rate(st, records.records())?;
    let stored = crate::live::Live::pending(records.records(), now);
    let n = crate::write::write_durably(st, records).await?;
    st.live.record(stored);
    Ok(axum::Json(
        json!({ "success": true, "accepted": n, "ignored": ignored, "warnings": warnings }),
    )
    .into_response())
}

/// Where a Cairn field came from in a Segment message, for error messages.
fn segment_field(cairn: &str) -> String {
    if let Some(p) = cairn.strip_prefix("props.") {
        return format!("properties.{p}");
    }
    match cairn {
        "props" => "properties".into(),
        "name" => "event".into(),
        "user" => "userId".into(),
        "visitor" => "anonymousId".into(),
        "url" => "context.page.url".into(),
        "revenue.amount" | "revenue" => "properties.revenue".into(),
        "revenue.currency" => "properties.currency".into(),
        other => other.into(),
    }
}

fn context_of<'a>(
    msg: &'a Map<String, Value>,
    batch: Option<&'a Map<String, Value>>,
) -> Option<&'a Map<String, Value>> {
    msg.get("context").and_then(Value::as_object).or(batch)
}

fn text(o: &Map<String, Value>, k: &str, field: &str) -> Result<String, ValidationError> {
    match o.get(k) {
        None | Some(Value::Null) => Ok(String::new()),
        Some(Value::String(s)) => Ok(s.clone()),
        // Segment ids may be numbers.
        Some(Value::Number(n)) if k.ends_with("Id") => Ok(n.to_string()),
        Some(other) => Err(ValidationError::new(
            field,
            Reason::WrongType {
                expected: "a string",
                found: json_type(other),
            },
        )),
    }
}

fn time(o: &Map<String, Value>, k: &str) -> Result<Option<i64>, ValidationError> {
    match o.get(k) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => parse_timestamp(s)
            .map(Some)
            .ok_or_else(|| ValidationError::new(k, Reason::BadTimestamp)),
        Some(other) => Err(ValidationError::new(
            k,
            Reason::WrongType {
                expected: "an ISO 8601 string",
                found: json_type(other),
            },
        )),
    }
}

/// Props from Segment `properties`, without the keys that became fields. Nested values
/// are kept as their JSON text; what Cairn cannot store (a nested value over the
/// property length limit, properties past the 32nd) is left out and named in `notes`,
/// rather than refusing a pipeline's whole batch for it.
fn props(p: &Map<String, Value>, skip: &[&str], notes: &mut Vec<String>) -> Map<String, Value> {
    let mut out = Map::new();
    for (k, v) in p {
        if skip.contains(&k.as_str()) || v.is_null() {
            continue;
        }
        let v = match v {
            Value::Array(_) | Value::Object(_) => {
                let text = v.to_string();
                if text.len() > cairn_model::limits::PROP_VALUE_MAX {
                    notes.push(format!(
                        "properties.{k}: {} bytes as JSON text, over {}: not stored",
                        text.len(),
                        cairn_model::limits::PROP_VALUE_MAX
                    ));
                    continue;
                }
                Value::String(text)
            }
            v => v.clone(),
        };
        if out.len() == cairn_model::limits::PROPS_MAX {
            notes.push(format!(
                "properties.{k}: more than {} properties: not stored",
                cairn_model::limits::PROPS_MAX
            ));
            continue;
        }
        out.insert(k.clone(), v);
    }
    out
}

/// One Segment message as a page event (not yet enriched).
fn message(
    site: &str,
    msg: &Map<String, Value>,
    batch_context: Option<&Map<String, Value>>,
    kind: &str,
    now: i64,
    notes: &mut Vec<String>,
) -> Result<Option<PageEvent>, ValidationError> {
    let anon = text(msg, "anonymousId", "anonymousId")?;
    let user = text(msg, "userId", "userId")?;
    if anon.is_empty() && user.is_empty() {
        return Err(ValidationError::new("anonymousId", Reason::Missing));
    }
    let visitor = if anon.is_empty() { user.clone() } else { anon };
    let ts = match time(msg, "timestamp")? {
        Some(t) => t,
        None => match (time(msg, "originalTimestamp")?, time(msg, "sentAt")?) {
            (Some(o), Some(s)) => now - (s - o),
            (Some(o), None) => o,
            _ => now,
        },
    };
    let empty = Map::new();
    let ctx = context_of(msg, batch_context).unwrap_or(&empty);
    let obj = |o: &Map<String, Value>,
               k: &str,
               field: &str|
     -> Result<Map<String, Value>, ValidationError> {
        match o.get(k) {
            None | Some(Value::Null) => Ok(Map::new()),
            Some(Value::Object(m)) => Ok(m.clone()),
            Some(other) => Err(ValidationError::new(
                field,
                Reason::WrongType {
                    expected: "an object",
                    found: json_type(other),
                },
            )),
        }
    };
    let page = obj(ctx, "page", "context.page")?;
    let campaign = obj(ctx, "campaign", "context.campaign")?;
    let screen = obj(ctx, "screen", "context.screen")?;
    let properties = obj(msg, "properties", "properties")?;
    let mut ev = PageEvent {
        site: site.to_string(),
        ts,
        visitor: Some(visitor),
        ..PageEvent::default()
    };
    if kind == "identify" {
        // An anonymous identify (traits only) links nothing: accepted, not stored.
        if user.is_empty() {
            return Ok(None);
        }
        ev.identify = Some(user);
        return Ok(Some(ev));
    }
    ev.user = user;
    ev.url = text(&page, "url", "context.page.url")?;
    ev.referrer = text(&page, "referrer", "context.page.referrer")?;
    ev.language = text(ctx, "locale", "context.locale")?;
    if let (Some(w), Some(h)) = (
        screen.get("width").and_then(Value::as_u64),
        screen.get("height").and_then(Value::as_u64),
    ) {
        ev.screen = crate::enrich::screen_class(
            w.min(u32::MAX as u64) as u32,
            h.min(u32::MAX as u64) as u32,
        );
    }
    for (seg, cairn) in [
        ("source", cairn_model::Dim::UtmSource),
        ("medium", cairn_model::Dim::UtmMedium),
        ("name", cairn_model::Dim::UtmCampaign),
        ("term", cairn_model::Dim::UtmTerm),
        ("content", cairn_model::Dim::UtmContent),
    ] {
        let v = text(&campaign, seg, "context.campaign")?;
        if !v.is_empty() {
            ev.fields.push((cairn, v));
        }
    }
    match kind {
        "page" => {
            ev.name = "pageview".into();
            let u = text(&properties, "url", "properties.url")?;
            let path = text(&properties, "path", "properties.path")?;
            if !u.is_empty() {
                ev.url = u;
            } else if ev.url.is_empty() && !path.is_empty() {
                ev.url = path;
            }
            let r = text(&properties, "referrer", "properties.referrer")?;
            if !r.is_empty() {
                ev.referrer = r;
            }
            let mut p = props(
                &properties,
                &[
                    "url", "path", "referrer", "search", "title", "name", "category",
                ],
                notes,
            );
            for (k, v) in [("name", "page_name"), ("category", "page_category")] {
                let s = text(msg, k, k)?;
                if !s.is_empty() {
                    p.insert(v.into(), s.into());
                }
            }
            if !p.is_empty() {
                ev.props = Some(Value::Object(p));
            }
        }
        _ => {
            ev.name = text(msg, "event", "event")?;
            if ev.name.is_empty() {
                return Err(ValidationError::new("event", Reason::Missing));
            }
            let p = props(&properties, &["revenue", "currency"], notes);
            if !p.is_empty() {
                ev.props = Some(Value::Object(p));
            }
            if let Some(r) = properties.get("revenue").filter(|v| !v.is_null()) {
                let currency = match properties.get("currency") {
                    Some(Value::String(c)) => c.to_ascii_uppercase(),
                    _ => "USD".to_string(),
                };
                ev.revenue = Some(json!({ "amount": r, "currency": currency }));
            }
        }
    }
    // A page URL that is not http(s) (an app's `file://` or `capacitor://` page) is left
    // out rather than refusing the message.
    if !ev.url.is_empty() && cairn_model::split_url(&ev.url).is_none() {
        notes.push(format!(
            "context.page.url: `{}` is not an http(s) URL or a path: not stored",
            crate::client::truncate(&ev.url, 100)
        ));
        ev.url.clear();
    }
    Ok(Some(ev))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_auth_keys() {
        let mut h = HeaderMap::new();
        let enc = base64::engine::general_purpose::STANDARD.encode("cairn_w_abc:");
        h.insert(
            header::AUTHORIZATION,
            format!("Basic {enc}").parse().unwrap(),
        );
        assert_eq!(basic_key(&h).as_deref(), Some("cairn_w_abc"));
        h.insert(header::AUTHORIZATION, "Basic !!!".parse().unwrap());
        assert_eq!(basic_key(&h), None);
    }

    #[test]
    fn timestamps_correct_the_senders_clock() {
        let m = json!({"anonymousId":"a","event":"x",
            "originalTimestamp":"2026-01-01T00:00:10Z","sentAt":"2026-01-01T00:00:20Z"});
        let now = parse_timestamp("2026-01-01T00:00:25Z").unwrap();
        let ev = message(
            "s",
            m.as_object().unwrap(),
            None,
            "track",
            now,
            &mut Vec::new(),
        )
        .unwrap()
        .unwrap();
        assert_eq!(ev.ts, now - 10_000);
    }

    #[test]
    fn messages_map_to_events() {
        let m = json!({"type":"track","userId":"u1","event":"Order Completed",
            "properties":{"revenue":"oops","currency":"eur","products":[{"id":1}],"coupon":null},
            "context":{"campaign":{"source":"news","name":"nov"}}});
        let mut notes = Vec::new();
        let ev = message("s", m.as_object().unwrap(), None, "track", 5, &mut notes)
            .unwrap()
            .unwrap();
        assert!(notes.is_empty(), "{notes:?}");
        assert_eq!(ev.visitor.as_deref(), Some("u1"));
        assert_eq!(ev.user, "u1");
        assert_eq!(ev.props, Some(json!({"products": "[{\"id\":1}]"})));
        assert_eq!(ev.revenue, Some(json!({"amount":"oops","currency":"EUR"})));
        assert_eq!(
            ev.fields,
            vec![
                (cairn_model::Dim::UtmSource, "news".to_string()),
                (cairn_model::Dim::UtmCampaign, "nov".to_string())
            ]
        );
        let e = message(
            "s",
            json!({"event":"x"}).as_object().unwrap(),
            None,
            "track",
            5,
            &mut Vec::new(),
        )
        .unwrap_err();
        assert_eq!(e.field, "anonymousId");
    }
}
