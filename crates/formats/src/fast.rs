//! A fast path for NDJSON lines: deserialises a line straight into a [`Record`] with
//! serde, without building a `serde_json::Value` tree (no map nodes, no key strings, no
//! cloned values), which makes it several times faster than [`Record::from_json`].
//!
//! It is conservative: it accepts only what [`Record::from_json`] accepts and builds the
//! same record. Anything unusual (an error of any kind, a duplicate key, a `null` where a
//! value is required, an unknown field…) gives `None`, and the caller then runs
//! [`Record::from_json`], whose answer (the record, or the field-by-field error) is the
//! reference. A differential test (`tests/fast_path.rs`) holds the two together.

use std::fmt;
use std::sync::OnceLock;

use cairn_model::{
    Dim, Event, Identify, PropValue, Record, Revenue, limits, parse_timestamp, parse_visitor_id,
    split_url,
};
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, Visitor};

/// Parses one NDJSON line (already checked for size and UTF-8) on the fast path.
pub(crate) fn parse(line: &str, now_ms: i64) -> Option<Record> {
    if !enabled() {
        return None;
    }
    let raw: Raw = serde_json::from_str(line).ok()?;
    let rec = raw.into_record()?;
    rec.validate(now_ms).ok()?;
    Some(rec)
}

/// The fast path mirrors the model's reading of a `serde_json::Map`, which iterates keys
/// in sorted order unless serde_json's `preserve_order` feature is on somewhere in the
/// build. In that case (never so far) it is switched off rather than risk a difference.
fn enabled() -> bool {
    static SORTED: OnceLock<bool> = OnceLock::new();
    *SORTED.get_or_init(|| {
        let v: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(r#"{"b":0,"a":0}"#).unwrap_or_default();
        v.keys().next().map(String::as_str) == Some("a")
    })
}

/// The fields of a line, before they are checked together. The event is built in
/// place (moving a ~600-byte record around costs more than one would think).
struct Raw {
    identify: bool,
    has_site: bool,
    has_ts: bool,
    has_visitor: bool,
    /// A non-null `user` key appeared.
    has_user: bool,
    url: Option<String>,
    ev: Event,
    /// Keys other than type/site/ts/visitor/user appeared (an identify record refuses them).
    event_only_keys: bool,
}

impl Raw {
    fn into_record(self) -> Option<Record> {
        if !(self.has_site && self.has_ts && self.has_visitor) {
            return None;
        }
        let mut ev = self.ev;
        if self.identify {
            if self.event_only_keys || !self.has_user {
                return None;
            }
            return Some(Record::Identify(Identify {
                site: ev.site,
                ts: ev.ts,
                visitor: ev.visitor,
                user: std::mem::take(&mut ev.dims[Dim::User.index()]),
            }));
        }
        let mut url_given = false;
        if let Some(url) = self.url.filter(|u| !u.is_empty()) {
            if url.len() > limits::URL_PART_MAX * 2 {
                return None;
            }
            let parts = split_url(&url)?;
            url_given = true;
            ev.fill_from_url(parts);
        }
        if ev.name().is_empty() {
            return None;
        }
        if url_given {
            ev.fill_utm_from_query();
        }
        Some(Record::Event(ev))
    }
}

/// Every error of the fast path means "take the slow path".
fn fail<E: de::Error>() -> E {
    E::custom("fallback")
}

#[derive(Clone, Copy)]
enum Key {
    Type,
    Site,
    Ts,
    Visitor,
    Url,
    Props,
    Revenue,
    Dim(Dim),
    Other,
}

impl Key {
    /// Bit for duplicate detection.
    fn bit(self) -> u64 {
        match self {
            Key::Type => 1,
            Key::Site => 1 << 1,
            Key::Ts => 1 << 2,
            Key::Visitor => 1 << 3,
            Key::Url => 1 << 4,
            Key::Props => 1 << 5,
            Key::Revenue => 1 << 6,
            Key::Dim(d) => 1 << (8 + d.index()),
            Key::Other => 1 << 7,
        }
    }
}

/// The dimension named `s`; the literal match is the fast case, and the parse keeps any
/// dimension added to the model later working.
pub(crate) fn dim_of(s: &str) -> Option<Dim> {
    Some(match s {
        "name" => Dim::Name,
        "user" => Dim::User,
        "host" => Dim::Host,
        "path" => Dim::Path,
        "query" => Dim::Query,
        "referrer" => Dim::Referrer,
        "source" => Dim::Source,
        "channel" => Dim::Channel,
        "utm_source" => Dim::UtmSource,
        "utm_medium" => Dim::UtmMedium,
        "utm_campaign" => Dim::UtmCampaign,
        "utm_term" => Dim::UtmTerm,
        "utm_content" => Dim::UtmContent,
        "device" => Dim::Device,
        "browser" => Dim::Browser,
        "os" => Dim::Os,
        "country" => Dim::Country,
        "screen" => Dim::Screen,
        "language" => Dim::Language,
        other => return other.parse().ok(),
    })
}

struct KeySeed;

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = Key;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Key, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeySeed {
    type Value = Key;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a key")
    }
    fn visit_str<E: de::Error>(self, s: &str) -> Result<Key, E> {
        Ok(match s {
            "type" => Key::Type,
            "site" => Key::Site,
            "ts" => Key::Ts,
            "visitor" => Key::Visitor,
            "url" => Key::Url,
            "props" => Key::Props,
            "revenue" => Key::Revenue,
            other => match dim_of(other) {
                Some(d) => Key::Dim(d),
                None => Key::Other,
            },
        })
    }
}

impl<'de> de::Deserialize<'de> for Raw {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Raw, D::Error> {
        d.deserialize_map(RawVisitor)
    }
}

struct RawVisitor;

impl<'de> Visitor<'de> for RawVisitor {
    type Value = Raw;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a record")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Raw, A::Error> {
        let mut raw = Raw {
            identify: false,
            has_site: false,
            has_ts: false,
            has_visitor: false,
            has_user: false,
            url: None,
            ev: Event::new(String::new(), 0, 0, String::new()),
            event_only_keys: false,
        };
        let mut seen = 0u64;
        while let Some(key) = map.next_key_seed(KeySeed)? {
            if seen & key.bit() != 0 {
                return Err(fail());
            }
            seen |= key.bit();
            match key {
                Key::Type => match map.next_value::<Option<String>>()?.as_deref() {
                    None | Some("event") => {}
                    Some("identify") => raw.identify = true,
                    Some(_) => return Err(fail()),
                },
                Key::Site => {
                    raw.ev.site = map.next_value::<Option<String>>()?.ok_or_else(fail)?;
                    raw.has_site = true;
                }
                Key::Ts => {
                    raw.ev.ts = map.next_value_seed(TsSeed)?;
                    raw.has_ts = true;
                }
                Key::Visitor => {
                    raw.ev.visitor = map.next_value_seed(VisitorSeed)?;
                    raw.has_visitor = true;
                }
                Key::Url => {
                    raw.event_only_keys = true;
                    raw.url = map.next_value::<Option<String>>()?;
                }
                Key::Props => {
                    raw.event_only_keys = true;
                    raw.ev.props = map.next_value_seed(PropsSeed)?;
                }
                Key::Revenue => {
                    raw.event_only_keys = true;
                    raw.ev.revenue = map.next_value_seed(RevenueSeed)?;
                }
                Key::Dim(d) => {
                    if d != Dim::User {
                        raw.event_only_keys = true;
                    }
                    let v = map.next_value::<Option<String>>()?;
                    if d == Dim::User {
                        raw.has_user = v.is_some();
                    }
                    raw.ev.dims[d.index()] = v.unwrap_or_default();
                }
                Key::Other => return Err(fail()),
            }
        }
        Ok(raw)
    }
}

struct TsSeed;

impl<'de> DeserializeSeed<'de> for TsSeed {
    type Value = i64;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<i64, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for TsSeed {
    type Value = i64;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a timestamp")
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<i64, E> {
        Ok(v)
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<i64, E> {
        i64::try_from(v).map_err(|_| fail())
    }
    fn visit_f64<E: de::Error>(self, f: f64) -> Result<i64, E> {
        if f.fract() == 0.0 && f.abs() < 9e15 {
            Ok(f as i64)
        } else {
            Err(fail())
        }
    }
    fn visit_str<E: de::Error>(self, s: &str) -> Result<i64, E> {
        parse_timestamp(s).ok_or_else(fail)
    }
}

struct VisitorSeed;

impl<'de> DeserializeSeed<'de> for VisitorSeed {
    type Value = u64;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<u64, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for VisitorSeed {
    type Value = u64;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a visitor id")
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<u64, E> {
        Ok(v)
    }
    fn visit_str<E: de::Error>(self, s: &str) -> Result<u64, E> {
        if s.is_empty() || s.len() > 256 {
            return Err(fail());
        }
        Ok(parse_visitor_id(s))
    }
}

struct PropsSeed;

impl<'de> DeserializeSeed<'de> for PropsSeed {
    type Value = Vec<(String, PropValue)>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for PropsSeed {
    type Value = Vec<(String, PropValue)>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("props")
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Vec::new())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut out: Vec<(String, PropValue)> = Vec::new();
        while let Some(k) = map.next_key::<String>()? {
            if out.len() == limits::PROPS_MAX {
                return Err(fail());
            }
            let v = map.next_value_seed(PropSeed)?;
            out.push((k, v));
        }
        // The model keeps props in a sorted map's order, and a duplicate key there keeps
        // its last value: sort, and leave duplicates to the slow path.
        out.sort_by(|a, b| a.0.cmp(&b.0));
        if out.windows(2).any(|w| w[0].0 == w[1].0) {
            return Err(fail());
        }
        Ok(out)
    }
}

struct PropSeed;

impl<'de> DeserializeSeed<'de> for PropSeed {
    type Value = PropValue;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<PropValue, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for PropSeed {
    type Value = PropValue;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a property value")
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<PropValue, E> {
        Ok(PropValue::Bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<PropValue, E> {
        Ok(PropValue::Num(v as f64))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<PropValue, E> {
        Ok(PropValue::Num(v as f64))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<PropValue, E> {
        Ok(PropValue::Num(v))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<PropValue, E> {
        Ok(PropValue::Str(v.to_owned()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<PropValue, E> {
        Ok(PropValue::Str(v))
    }
}

struct RevenueSeed;

impl<'de> DeserializeSeed<'de> for RevenueSeed {
    type Value = Option<Revenue>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for RevenueSeed {
    type Value = Option<Revenue>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("revenue")
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut amount = None;
        let mut currency = None;
        while let Some(k) = map.next_key::<String>()? {
            match k.as_str() {
                "amount" if amount.is_none() => amount = Some(map.next_value_seed(AmountSeed)?),
                "currency" if currency.is_none() => {
                    currency = Some(map.next_value::<Option<String>>()?.unwrap_or_default());
                }
                _ => return Err(fail()),
            }
        }
        let (Some(f), Some(currency)) = (amount, currency) else {
            return Err(fail());
        };
        if !f.is_finite() || f.abs() > limits::REVENUE_ABS_MAX {
            return Err(fail());
        }
        Ok(Some(Revenue {
            micros: (f * 1e6).round() as i64,
            currency: currency.to_ascii_uppercase(),
        }))
    }
}

struct AmountSeed;

impl<'de> DeserializeSeed<'de> for AmountSeed {
    type Value = f64;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<f64, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for AmountSeed {
    type Value = f64;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an amount")
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<f64, E> {
        Ok(v as f64)
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<f64, E> {
        Ok(v as f64)
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<f64, E> {
        Ok(v)
    }
    fn visit_str<E: de::Error>(self, s: &str) -> Result<f64, E> {
        s.trim().parse::<f64>().map_err(|_| fail())
    }
}
