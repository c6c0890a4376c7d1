//! The JSON form of a record: one object per line in NDJSON imports and exports, and the
//! body of Cairn's own ingestion protocol. Field by field errors, never a panic.

use serde_json::{Map, Value};

use crate::event::{DIM_COUNT, check_revenue};
use crate::validate::{Reason, ValidationError};
use crate::{
    Dim, Event, Identify, PropValue, Record, Revenue, format_rfc3339_ms, limits, parse_timestamp,
    parse_visitor_id, visitor_id_to_string,
};

/// How an error message names a JSON value's type: `"a string"`, `"an object"`, ….
pub fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn wrong(field: &str, expected: &'static str, v: &Value) -> ValidationError {
    ValidationError::new(
        field,
        Reason::WrongType {
            expected,
            found: json_type(v),
        },
    )
}

fn string_field(field: &str, v: &Value) -> Result<String, ValidationError> {
    match v {
        Value::String(s) => Ok(s.clone()),
        Value::Null => Ok(String::new()),
        other => Err(wrong(field, "a string", other)),
    }
}

fn ts_field(v: &Value) -> Result<i64, ValidationError> {
    match v {
        Value::Number(n) => n
            .as_i64()
            .or_else(|| {
                n.as_f64()
                    .filter(|f| f.fract() == 0.0 && f.abs() < 9e15)
                    .map(|f| f as i64)
            })
            .ok_or_else(|| ValidationError::new("ts", Reason::BadTimestamp)),
        Value::String(s) => {
            parse_timestamp(s).ok_or_else(|| ValidationError::new("ts", Reason::BadTimestamp))
        }
        other => Err(wrong("ts", "a number or an RFC 3339 string", other)),
    }
}

fn visitor_field(v: &Value) -> Result<u64, ValidationError> {
    match v {
        Value::String(s) if s.is_empty() => Err(ValidationError::new("visitor", Reason::Empty)),
        Value::String(s) if s.len() > 256 => Err(ValidationError::new(
            "visitor",
            Reason::TooLong {
                max: 256,
                len: s.len(),
            },
        )),
        Value::String(s) => Ok(parse_visitor_id(s)),
        Value::Number(n) => n
            .as_u64()
            .ok_or_else(|| wrong("visitor", "a string or a non-negative integer", v)),
        other => Err(wrong(
            "visitor",
            "a string or a non-negative integer",
            other,
        )),
    }
}

/// Parses an amount given as a JSON number or decimal string into millionths.
pub(crate) fn amount_micros(v: &Value) -> Result<i64, ValidationError> {
    let f = match v {
        Value::Number(n) => n.as_f64().unwrap_or(f64::NAN),
        Value::String(s) => s
            .trim()
            .parse::<f64>()
            .map_err(|_| wrong("revenue.amount", "a number", v))?,
        other => return Err(wrong("revenue.amount", "a number", other)),
    };
    if !f.is_finite() {
        return Err(ValidationError::new("revenue.amount", Reason::NotFinite));
    }
    if f.abs() > limits::REVENUE_ABS_MAX {
        return Err(ValidationError::new("revenue.amount", Reason::OutOfRange));
    }
    Ok((f * 1e6).round() as i64)
}

/// Reads revenue from a JSON object `{amount, currency}` (`null`: none), checked.
pub fn revenue_from_json(v: &Value) -> Result<Option<Revenue>, ValidationError> {
    let obj = match v {
        Value::Null => return Ok(None),
        Value::Object(o) => o,
        other => return Err(wrong("revenue", "an object {amount, currency}", other)),
    };
    let mut micros = None;
    let mut currency = None;
    for (k, v) in obj {
        match k.as_str() {
            "amount" => micros = Some(amount_micros(v)?),
            "currency" => currency = Some(string_field("revenue.currency", v)?),
            _ => {
                return Err(ValidationError::new(
                    format!("revenue.{k}"),
                    Reason::UnknownField,
                ));
            }
        }
    }
    let micros = micros.ok_or_else(|| ValidationError::new("revenue.amount", Reason::Missing))?;
    let currency =
        currency.ok_or_else(|| ValidationError::new("revenue.currency", Reason::Missing))?;
    let r = Revenue {
        micros,
        currency: currency.to_ascii_uppercase(),
    };
    check_revenue(&r)?;
    Ok(Some(r))
}

/// Reads custom properties from a JSON object (`null`: none).
pub fn props_from_json(v: &Value) -> Result<Vec<(String, PropValue)>, ValidationError> {
    let obj = match v {
        Value::Null => return Ok(Vec::new()),
        Value::Object(o) => o,
        other => return Err(wrong("props", "an object", other)),
    };
    if obj.len() > limits::PROPS_MAX {
        return Err(ValidationError::new(
            "props",
            Reason::TooMany {
                max: limits::PROPS_MAX,
            },
        ));
    }
    let mut out = Vec::with_capacity(obj.len());
    for (k, v) in obj {
        let field = format!("props.{k}");
        let pv = match v {
            Value::String(s) => PropValue::Str(s.clone()),
            Value::Bool(b) => PropValue::Bool(*b),
            Value::Number(n) => PropValue::Num(n.as_f64().unwrap_or(f64::NAN)),
            other => return Err(wrong(&field, "a string, number or boolean", other)),
        };
        out.push((k.clone(), pv));
    }
    Ok(out)
}

/// The parts of an http(s) URL or an absolute path.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct UrlParts {
    /// Lower-case host (with port, if any).
    pub host: String,
    /// Path, at least `/`.
    pub path: String,
    /// Query string without `?`.
    pub query: String,
}

impl Event {
    /// Sets host, path and query from a split URL, where they are not set already.
    pub fn fill_from_url(&mut self, parts: UrlParts) {
        for (d, v) in [
            (Dim::Host, parts.host),
            (Dim::Path, parts.path),
            (Dim::Query, parts.query),
        ] {
            if self.dim(d).is_empty() {
                self.set(d, v);
            }
        }
    }

    /// Sets the UTM fields not set already from the `utm_*` parameters of the query.
    pub fn fill_utm_from_query(&mut self) {
        for (d, key) in UTM {
            if self.dim(d).is_empty()
                && let Some(v) = query_param(self.dim(Dim::Query), key)
            {
                self.set(d, v);
            }
        }
    }
}

/// Splits `https://host/path?query#fragment` (or `/path?query`) into its parts.
pub fn split_url(url: &str) -> Option<UrlParts> {
    let rest = if let Some(r) = url.strip_prefix("https://") {
        r
    } else if let Some(r) = url.strip_prefix("http://") {
        r
    } else if url.starts_with('/') {
        let (path, query) = split_path_query(url);
        return Some(UrlParts {
            host: String::new(),
            path,
            query,
        });
    } else {
        return None;
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let host = &rest[..end];
    let host = host.rsplit('@').next().unwrap_or(host);
    if host.is_empty() {
        return None;
    }
    let (path, query) = split_path_query(&rest[end..]);
    Some(UrlParts {
        host: host.to_ascii_lowercase(),
        path,
        query,
    })
}

fn split_path_query(s: &str) -> (String, String) {
    let s = s.split('#').next().unwrap_or("");
    let (p, q) = match s.find('?') {
        Some(i) => (&s[..i], &s[i + 1..]),
        None => (s, ""),
    };
    let p = if p.is_empty() { "/" } else { p };
    (p.to_string(), q.to_string())
}

/// Decodes `%XX` escapes and `+` in a query-string value.
pub fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = |c: u8| (c as char).to_digit(16);
                match (
                    b.get(i + 1).copied().and_then(hex),
                    b.get(i + 2).copied().and_then(hex),
                ) {
                    (Some(h), Some(l)) => {
                        out.push((h * 16 + l) as u8);
                        i += 2;
                    }
                    _ => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The value of a query parameter, decoded.
pub fn query_param(query: &str, key: &str) -> Option<String> {
    query.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        (k == key).then(|| percent_decode(v))
    })
}

const UTM: [(Dim, &str); 5] = [
    (Dim::UtmSource, "utm_source"),
    (Dim::UtmMedium, "utm_medium"),
    (Dim::UtmCampaign, "utm_campaign"),
    (Dim::UtmTerm, "utm_term"),
    (Dim::UtmContent, "utm_content"),
];

impl Record {
    /// Parses one JSON record (a line of NDJSON) and validates it. `now_ms` bounds
    /// future timestamps.
    pub fn from_json(line: &str, now_ms: i64) -> Result<Record, ValidationError> {
        let rec = Record::parse_json(line)?;
        rec.validate(now_ms)?;
        Ok(rec)
    }

    /// Reads one JSON record (a line of NDJSON) without validating it: for a caller
    /// that checks it once, into a [`crate::Checked`].
    pub fn parse_json(line: &str) -> Result<Record, ValidationError> {
        if line.len() > limits::RECORD_BYTES_MAX {
            return Err(ValidationError::new(
                "record",
                Reason::RecordTooLarge {
                    max: limits::RECORD_BYTES_MAX,
                },
            ));
        }
        let v: Value = serde_json::from_str(line)
            .map_err(|e| ValidationError::new("record", Reason::BadJson(e.to_string())))?;
        Record::parse_value(&v, None)
    }

    /// Reads a record from a parsed JSON value and validates it. A missing `ts` takes
    /// `default_ts` when given.
    pub fn from_value(
        v: &Value,
        now_ms: i64,
        default_ts: Option<i64>,
    ) -> Result<Record, ValidationError> {
        let rec = Record::parse_value(v, default_ts)?;
        rec.validate(now_ms)?;
        Ok(rec)
    }

    /// [`Record::from_value`] without the validation.
    pub fn parse_value(v: &Value, default_ts: Option<i64>) -> Result<Record, ValidationError> {
        let obj = match v {
            Value::Object(o) => o,
            other => return Err(wrong("record", "a JSON object", other)),
        };
        let kind = match obj.get("type") {
            None | Some(Value::Null) => "event",
            Some(Value::String(s)) => s.as_str(),
            Some(other) => return Err(wrong("type", "a string", other)),
        };
        let rec = match kind {
            "event" => Record::Event(event_from_obj(obj, default_ts)?),
            "identify" => Record::Identify(identify_from_obj(obj, default_ts)?),
            t => {
                return Err(ValidationError::new(
                    "type",
                    Reason::UnknownType(t.to_string()),
                ));
            }
        };
        Ok(rec)
    }

    /// Writes the record as one JSON object (the NDJSON export format).
    pub fn to_json(&self) -> Value {
        match self {
            Record::Event(e) => e.to_json(),
            Record::Identify(i) => {
                let mut m = Map::new();
                m.insert("type".into(), "identify".into());
                m.insert("site".into(), i.site.clone().into());
                m.insert("ts".into(), format_rfc3339_ms(i.ts).into());
                m.insert("visitor".into(), visitor_id_to_string(i.visitor).into());
                m.insert("user".into(), i.user.clone().into());
                Value::Object(m)
            }
        }
    }
}

fn required<'a>(obj: &'a Map<String, Value>, k: &str) -> Result<&'a Value, ValidationError> {
    match obj.get(k) {
        None | Some(Value::Null) => Err(ValidationError::new(k, Reason::Missing)),
        Some(v) => Ok(v),
    }
}

fn ts_of(obj: &Map<String, Value>, default_ts: Option<i64>) -> Result<i64, ValidationError> {
    match (obj.get("ts"), default_ts) {
        (None | Some(Value::Null), Some(d)) => Ok(d),
        _ => ts_field(required(obj, "ts")?),
    }
}

fn identify_from_obj(
    obj: &Map<String, Value>,
    default_ts: Option<i64>,
) -> Result<Identify, ValidationError> {
    for k in obj.keys() {
        if !matches!(k.as_str(), "type" | "site" | "ts" | "visitor" | "user") {
            return Err(ValidationError::new(k.as_str(), Reason::UnknownField));
        }
    }
    Ok(Identify {
        site: string_field("site", required(obj, "site")?)?,
        ts: ts_of(obj, default_ts)?,
        visitor: visitor_field(required(obj, "visitor")?)?,
        user: string_field("user", required(obj, "user")?)?,
    })
}

fn event_from_obj(
    obj: &Map<String, Value>,
    default_ts: Option<i64>,
) -> Result<Event, ValidationError> {
    let site = string_field("site", required(obj, "site")?)?;
    let ts = ts_of(obj, default_ts)?;
    let visitor = visitor_field(required(obj, "visitor")?)?;
    let mut ev = Event::new(site, ts, visitor, String::new());
    let mut url_given = false;
    for (k, v) in obj {
        match k.as_str() {
            "type" | "site" | "ts" | "visitor" => {}
            "url" => {
                let s = string_field("url", v)?;
                if s.is_empty() {
                    continue;
                }
                if s.len() > limits::URL_PART_MAX * 2 {
                    return Err(ValidationError::new(
                        "url",
                        Reason::TooLong {
                            max: limits::URL_PART_MAX * 2,
                            len: s.len(),
                        },
                    ));
                }
                let parts =
                    split_url(&s).ok_or_else(|| ValidationError::new("url", Reason::BadUrl))?;
                url_given = true;
                ev.fill_from_url(parts);
            }
            "props" => ev.props = props_from_json(v)?,
            "revenue" => ev.revenue = revenue_from_json(v)?,
            other => match other.parse::<Dim>() {
                Ok(d) => {
                    let s = string_field(d.as_str(), v)?;
                    ev.set(d, s);
                }
                Err(_) => return Err(ValidationError::new(other, Reason::UnknownField)),
            },
        }
    }
    if ev.name().is_empty() && !obj.contains_key("name") {
        return Err(ValidationError::new("name", Reason::Missing));
    }
    if url_given {
        ev.fill_utm_from_query();
    }
    Ok(ev)
}

impl Event {
    /// Writes the event as one JSON object; unset dimensions are left out.
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("site".into(), self.site.clone().into());
        m.insert("ts".into(), format_rfc3339_ms(self.ts).into());
        m.insert("visitor".into(), visitor_id_to_string(self.visitor).into());
        for d in Dim::ALL.iter().take(DIM_COUNT) {
            let v = self.dim(*d);
            if !v.is_empty() {
                m.insert(d.as_str().into(), v.into());
            }
        }
        if !self.props.is_empty() {
            let mut p = Map::new();
            for (k, v) in &self.props {
                let jv = match v {
                    PropValue::Str(s) => Value::from(s.clone()),
                    PropValue::Num(n) => Value::from(*n),
                    PropValue::Bool(b) => Value::from(*b),
                };
                p.insert(k.clone(), jv);
            }
            m.insert("props".into(), Value::Object(p));
        }
        if let Some(r) = &self.revenue {
            let mut o = Map::new();
            o.insert("amount".into(), Value::from(r.amount()));
            o.insert("currency".into(), r.currency.clone().into());
            m.insert("revenue".into(), Value::Object(o));
        }
        Value::Object(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_900_000_000_000;

    fn ev(line: &str) -> Event {
        match Record::from_json(line, NOW) {
            Ok(Record::Event(e)) => e,
            other => panic!("{other:?}"),
        }
    }

    fn err(line: &str) -> ValidationError {
        Record::from_json(line, NOW).expect_err(line)
    }

    #[test]
    fn url_is_split_and_utm_extracted() {
        let e = ev(
            r#"{"site":"a.example","ts":1700000000000,"visitor":"x","name":"pageview",
            "url":"https://A.example/shop/p?utm_source=news%20letter&utm_campaign=spring+sale#top"}"#,
        );
        assert_eq!(e.dim(Dim::Host), "a.example");
        assert_eq!(e.dim(Dim::Path), "/shop/p");
        assert_eq!(e.dim(Dim::UtmSource), "news letter");
        assert_eq!(e.dim(Dim::UtmCampaign), "spring sale");
        assert_eq!(e.visitor, crate::visitor_id_from_str("x"));
    }

    #[test]
    fn round_trip_through_json() {
        let e = ev(
            r#"{"site":"a.example","ts":"2026-01-02T03:04:05.678Z","visitor":"00000000000000ff",
            "name":"purchase","path":"/thanks","device":"mobile","user":"lead-7",
            "props":{"plan":"pro","seats":3,"trial":false},"revenue":{"amount":"12.50","currency":"eur"}}"#,
        );
        assert_eq!(e.visitor, 255);
        assert_eq!(e.revenue.as_ref().map(|r| r.micros), Some(12_500_000));
        assert_eq!(e.revenue.as_ref().map(|r| r.currency.as_str()), Some("EUR"));
        let back = ev(&e.to_json().to_string());
        assert_eq!(back, e);
    }

    #[test]
    fn errors_name_the_field() {
        assert_eq!(
            err(r#"{"site":"a","ts":1700000000000,"visitor":"x"}"#).field,
            "name"
        );
        assert_eq!(
            err(r#"{"site":"a","ts":5,"visitor":"x","name":"n"}"#).reason,
            Reason::TooOld
        );
        let e = err(r#"{"site":"a","ts":1990000000000,"visitor":"x","name":"n"}"#);
        assert_eq!(e.reason, Reason::InFuture);
        let e = err(r#"{"site":"a","ts":1700000000000,"visitor":"x","name":7}"#);
        assert_eq!(e.field, "name");
        assert!(matches!(e.reason, Reason::WrongType { .. }));
        let e =
            err(r#"{"site":"a","ts":1700000000000,"visitor":"x","name":"n","props":{"k":[1]}}"#);
        assert_eq!(e.field, "props.k");
        let e = err(r#"{"site":"a","ts":1700000000000,"visitor":"x","name":"n","colour":"red"}"#);
        assert_eq!(
            (e.field.as_str(), e.reason),
            ("colour", Reason::UnknownField)
        );
        let long = "x".repeat(121);
        let e = err(&format!(
            r#"{{"site":"a","ts":1700000000000,"visitor":"x","name":"{long}"}}"#
        ));
        assert_eq!(e.reason, Reason::TooLong { max: 120, len: 121 });
        assert!(matches!(err("{not json").reason, Reason::BadJson(_)));
        let e = err(
            r#"{"site":"a","ts":1700000000000,"visitor":"x","name":"n","revenue":{"amount":1,"currency":"EURO"}}"#,
        );
        assert_eq!(e.field, "revenue.currency");
        assert_eq!(err("[1]").field, "record");
    }

    #[test]
    fn identify_records() {
        let r = Record::from_json(
            r#"{"type":"identify","site":"a","ts":1700000000000,"visitor":"x","user":"u1"}"#,
            NOW,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(&r, Record::Identify(i) if i.user == "u1"));
        let back =
            Record::from_json(&r.to_json().to_string(), NOW).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(back, r);
    }

    #[test]
    fn percent_decoding_edges() {
        assert_eq!(percent_decode("a%2Fb"), "a/b");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz"), "%zz");
        assert_eq!(percent_decode("%4"), "%4");
    }
}
