//! Plausible's Events API: `POST /api/event`, so Plausible's script and its
//! integrations send to Cairn by changing the host.
//!
//! Fields, long or short as Plausible's script sends them: `name`/`n`, `url`/`u`,
//! `domain`/`d` (several sites separated by commas: the event is stored for each),
//! `referrer`/`r`, `props`/`p` (an object, or the JSON text of one; `meta`/`m` is the
//! older name), `revenue`/`$` (`{"amount": number or string, "currency": "EUR"}`).
//! `interactive`/`i`, `hash`/`h` and `v` are read and not stored; other fields are
//! ignored, as Plausible does. The client address and user agent come from the request
//! (`X-Forwarded-For` is used when `trust_proxy` is set).
//!
//! Plausible's own event names are mapped to Cairn's so the same goals and reports
//! work: `Outbound Link: Click` → `outbound_click`, `File Download` →
//! `file_download`, `Form: Submission` → `form_submit`, and the `engagement` event's
//! `e` (engaged milliseconds) and `sd` (scroll depth) become Cairn's `engagement`
//! (`engaged_ms`) and `scroll` (`depth`) events. Answers `202 ok`, as Plausible does.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use cairn_model::{Reason, ValidationError};
use serde_json::{Map, Value, json};

use crate::AppState;
use crate::client::Client;
use crate::error::Reply;
use crate::ingest::{self, PageEvent};
use crate::tracker::{self, json_type};

/// Most sites one event may name.
const MAX_DOMAINS: usize = 10;

/// `POST /api/event`.
pub(crate) async fn event(
    State(st): State<Arc<AppState>>,
    client: Client,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Reply {
    let body = tracker::open_body(body)?;
    ingest::check_ip_rate(&st, &client)?;
    let v = crate::body::json(&body)?;
    let now = crate::now_ms();
    let events = events(&v, now).map_err(|e| {
        ingest::invalid(vec![
            json!({"field": e.field, "reason": e.reason.to_string()}),
        ])
    })?;
    if events.is_empty() {
        // No site named (`"domain": " "`): answered as for an unknown site, not 202.
        let domain = v
            .get("domain")
            .or_else(|| v.get("d"))
            .and_then(Value::as_str);
        return Err(crate::sites::unknown_site(domain.unwrap_or("").trim()));
    }
    let resp = tracker::ingest_page_events(&st, &client, &Value::Null, events, now, None).await?;
    if resp.status() == StatusCode::ACCEPTED {
        return Ok((StatusCode::ACCEPTED, "ok").into_response());
    }
    Ok(resp)
}

fn get<'a>(obj: &'a Map<String, Value>, long: &str, short: &str) -> Option<&'a Value> {
    obj.get(long)
        .filter(|v| !v.is_null())
        .or_else(|| obj.get(short).filter(|v| !v.is_null()))
}

fn text(obj: &Map<String, Value>, long: &str, short: &str) -> Result<String, ValidationError> {
    match get(obj, long, short) {
        None => Ok(String::new()),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(other) => Err(ValidationError::new(
            long,
            Reason::WrongType {
                expected: "a string",
                found: json_type(other),
            },
        )),
    }
}

/// An object given as itself or as its JSON text; `null` values dropped (Plausible
/// allows them and stores nothing).
fn object(field: &str, v: &Value) -> Result<Option<Value>, ValidationError> {
    let parsed;
    let v = match v {
        Value::String(s) => {
            parsed = serde_json::from_str::<Value>(s)
                .map_err(|e| ValidationError::new(field, Reason::BadJson(e.to_string())))?;
            &parsed
        }
        v => v,
    };
    match v {
        Value::Object(o) => {
            let kept: Map<String, Value> = o
                .iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            Ok((!kept.is_empty()).then_some(Value::Object(kept)))
        }
        Value::Null => Ok(None),
        other => Err(ValidationError::new(
            field,
            Reason::WrongType {
                expected: "an object",
                found: json_type(other),
            },
        )),
    }
}

/// Plausible's revenue: the amount may be a string.
fn revenue(v: &Value) -> Result<Option<Value>, ValidationError> {
    let Some(Value::Object(o)) = object("revenue", v)? else {
        return Ok(None);
    };
    let mut o = o;
    if let Some(Value::String(a)) = o.get("amount") {
        let n: f64 = a
            .trim()
            .parse()
            .map_err(|_| ValidationError::new("revenue.amount", Reason::OutOfRange))?;
        let n = serde_json::Number::from_f64(n)
            .ok_or_else(|| ValidationError::new("revenue.amount", Reason::NotFinite))?;
        o.insert("amount".into(), Value::Number(n));
    }
    Ok(Some(Value::Object(o)))
}

/// The Cairn events of one Plausible request.
fn events(v: &Value, now: i64) -> Result<Vec<PageEvent>, ValidationError> {
    let Value::Object(obj) = v else {
        return Err(ValidationError::new(
            "event",
            Reason::WrongType {
                expected: "a JSON object",
                found: json_type(v),
            },
        ));
    };
    let name = text(obj, "name", "n")?;
    let url = text(obj, "url", "u")?;
    let domains = text(obj, "domain", "d")?;
    for (f, val) in [("name", &name), ("url", &url), ("domain", &domains)] {
        if val.is_empty() {
            return Err(ValidationError::new(f, Reason::Missing));
        }
    }
    let referrer = text(obj, "referrer", "r")?;
    let mut props = match get(obj, "props", "p").or_else(|| get(obj, "meta", "m")) {
        Some(p) => object("props", p)?,
        None => None,
    };
    let revenue = match get(obj, "revenue", "$") {
        Some(r) => revenue(r)?,
        None => None,
    };
    let mut names: Vec<(String, Option<Value>)> = Vec::new();
    match name.as_str() {
        "engagement" => {
            let num = |k: &str| obj.get(k).and_then(Value::as_f64).filter(|n| n.is_finite());
            if let Some(e) = num("e") {
                names.push((
                    "engagement".into(),
                    Some(json!({ "engaged_ms": e.round() })),
                ));
            }
            if let Some(sd) = num("sd").filter(|d| *d >= 0.0) {
                names.push((
                    "scroll".into(),
                    Some(json!({ "depth": sd.round().min(100.0) })),
                ));
            }
            if names.is_empty() {
                names.push(("engagement".into(), props.take()));
            }
        }
        other => {
            let mapped = match other {
                "Outbound Link: Click" => "outbound_click",
                "File Download" => "file_download",
                "Form: Submission" => "form_submit",
                n => n,
            };
            names.push((mapped.to_string(), props.take()));
        }
    }
    // A domain named twice counts once ("a.example,a.example" is one event, not two).
    let mut sites: Vec<&str> = Vec::new();
    for d in domains.split(',').map(str::trim).filter(|d| !d.is_empty()) {
        if !sites.contains(&d) {
            sites.push(d);
        }
    }
    if sites.len() > MAX_DOMAINS {
        return Err(ValidationError::new(
            "domain",
            Reason::TooMany { max: MAX_DOMAINS },
        ));
    }
    let mut out = Vec::new();
    for site in sites {
        for (n, p) in &names {
            out.push(PageEvent {
                site: site.to_string(),
                name: n.clone(),
                url: url.clone(),
                referrer: referrer.clone(),
                props: p.clone(),
                revenue: revenue.clone(),
                ts: now,
                ..PageEvent::default()
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_and_long_fields() {
        let v = json!({"n":"Signup","u":"https://a.example/x","d":"a.example, b.example",
                       "r":"https://google.com/","p":"{\"plan\":\"pro\",\"gone\":null}",
                       "$":{"amount":"12.50","currency":"EUR"}});
        let e = events(&v, 5).unwrap();
        assert_eq!(e.len(), 2);
        assert_eq!(
            (e[0].site.as_str(), e[1].site.as_str()),
            ("a.example", "b.example")
        );
        assert_eq!(e[0].props, Some(json!({"plan":"pro"})));
        assert_eq!(e[0].revenue, Some(json!({"amount":12.5,"currency":"EUR"})));
        let long = json!({"name":"pageview","url":"https://a.example/","domain":"a.example"});
        assert_eq!(events(&long, 5).unwrap()[0].name, "pageview");
    }

    #[test]
    fn plausible_names_are_mapped() {
        let v = json!({"n":"engagement","u":"https://a.example/","d":"a.example","e":5300,"sd":87});
        let e = events(&v, 5).unwrap();
        assert_eq!(e[0].name, "engagement");
        assert_eq!(e[0].props, Some(json!({"engaged_ms": 5300.0})));
        assert_eq!(e[1].name, "scroll");
        assert_eq!(e[1].props, Some(json!({"depth": 87.0})));
        let v = json!({"n":"Outbound Link: Click","u":"https://a.example/","d":"a.example","p":{"url":"https://b.example/"}});
        assert_eq!(events(&v, 5).unwrap()[0].name, "outbound_click");
    }

    #[test]
    fn errors_name_the_field() {
        let e = events(&json!({"n":"x","u":"https://a.example/"}), 5).unwrap_err();
        assert_eq!(e.field, "domain");
        let e = events(&json!({"n":1,"u":"u","d":"d"}), 5).unwrap_err();
        assert_eq!(e.field, "name");
        let e = events(&json!({"n":"x","u":"u","d":"d","p":"{nope"}), 5).unwrap_err();
        assert_eq!(e.field, "props");
        let e = events(
            &json!({"n":"x","u":"u","d":"d","$":{"amount":"ten","currency":"EUR"}}),
            5,
        )
        .unwrap_err();
        assert_eq!(e.field, "revenue.amount");
        assert!(events(&json!([1]), 5).is_err());
    }
}
