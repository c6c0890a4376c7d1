//! The last events that arrived for each registered site, newest first: those stored,
//! and those answered but not stored (bots, unsupported Segment messages) with why — the
//! dashboard's live view (`GET /api/v1/sites/{site}/live`). A stored event is recorded
//! only once it is durable. Kept in memory (a restart forgets them), at most [`KEPT`] per
//! site; never the client's address.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Mutex;

use cairn_model::query::Scalar;
use cairn_model::{Dim, Event, PropValue, Record};
use serde::Serialize;

use crate::ignored::Reason;
use crate::ingest::{Context, PageEvent};
use crate::sites::SiteInfo;

/// Events kept per site.
pub(crate) const KEPT: usize = 200;

/// One event that arrived, as the live view shows it. The fields are the stored event's.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub(crate) struct LiveEvent {
    /// When the server received it (ms since the epoch).
    pub received: i64,
    /// When it happened (ms), as stored (or as it would have been).
    pub ts: i64,
    /// The event name.
    pub name: String,
    /// The page's path ("" when none).
    pub path: String,
    /// Custom properties.
    pub props: BTreeMap<String, Scalar>,
    /// Classified referrer (pageviews from elsewhere).
    pub source: String,
    /// Device class.
    pub device: String,
    /// Browser.
    pub browser: String,
    /// Operating system.
    pub os: String,
    /// Country (ISO code), when a GeoIP database is configured.
    pub country: String,
    /// The first 8 hex digits of the stored visitor id; none for an event not stored.
    pub visitor: Option<String>,
    /// Why it was not stored; none for a stored event.
    pub ignored: Option<LiveIgnored>,
}

/// Why an event was answered but not stored.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub(crate) struct LiveIgnored {
    /// `bot` or `unsupported`.
    pub reason: Reason,
    /// The user agent taken for a bot; the Segment message type not stored.
    pub detail: String,
}

/// The answer of `GET /api/v1/sites/{site}/live`.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub(crate) struct LiveEvents {
    /// The last events, newest first.
    pub events: Vec<LiveEvent>,
    /// The most kept per site.
    pub kept: usize,
}

impl LiveEvent {
    /// A stored (or enriched, for an ignored one) event as the live view shows it.
    pub(crate) fn of(e: &Event, received: i64, ignored: Option<LiveIgnored>) -> LiveEvent {
        LiveEvent {
            received,
            ts: e.ts,
            name: e.name().to_string(),
            path: e.dim(Dim::Path).to_string(),
            props: e
                .props
                .iter()
                .map(|(k, v)| {
                    let v = match v {
                        PropValue::Str(s) => Scalar::Str(s.clone()),
                        PropValue::Num(x) => Scalar::Num(*x),
                        PropValue::Bool(b) => Scalar::Bool(*b),
                    };
                    (k.clone(), v)
                })
                .collect(),
            source: e.dim(Dim::Source).to_string(),
            device: e.dim(Dim::Device).to_string(),
            browser: e.dim(Dim::Browser).to_string(),
            os: e.dim(Dim::Os).to_string(),
            country: e.dim(Dim::Country).to_string(),
            visitor: ignored
                .is_none()
                .then(|| format!("{:016x}", e.visitor)[..8].to_string()),
            ignored,
        }
    }

    /// A browser (or Segment) event answered but not stored, enriched as it would have
    /// been; `None` for an identify.
    pub(crate) fn ignored(
        ev: PageEvent,
        site: &SiteInfo,
        cx: &Context<'_>,
        received: i64,
        why: LiveIgnored,
    ) -> Option<LiveEvent> {
        if ev.identify.is_some() {
            return None;
        }
        let (name, ts) = (ev.name.clone(), ev.ts);
        let path = cairn_model::split_url(&ev.url)
            .map(|p| p.path)
            .unwrap_or_default();
        Some(match crate::ingest::page_record(ev, site, cx) {
            Ok(Record::Event(e)) => LiveEvent::of(&e, received, Some(why)),
            // Not even storable: what it says.
            _ => LiveEvent::bare(name, ts, path, received, why),
        })
    }

    /// A message answered but not stored that is no event (a Segment `screen`, …).
    pub(crate) fn unsupported(name: &str, ts: i64, received: i64, detail: &str) -> LiveEvent {
        let why = LiveIgnored {
            reason: Reason::Unsupported,
            detail: detail.to_string(),
        };
        LiveEvent::bare(name.to_string(), ts, String::new(), received, why)
    }

    /// What an ignored message says of itself, nothing enriched.
    fn bare(name: String, ts: i64, path: String, received: i64, why: LiveIgnored) -> LiveEvent {
        LiveEvent {
            received,
            ts,
            name,
            path,
            props: BTreeMap::new(),
            source: String::new(),
            device: String::new(),
            browser: String::new(),
            os: String::new(),
            country: String::new(),
            visitor: None,
            ignored: Some(why),
        }
    }
}

/// The last events of each site, oldest first.
#[derive(Default)]
pub(crate) struct Live(Mutex<HashMap<String, VecDeque<LiveEvent>>>);

/// The events of a request to record once it is answered: per site, at most [`KEPT`],
/// in arrival order.
pub(crate) type Pending = Vec<(String, LiveEvent)>;

impl Live {
    /// The events of `records` as the live view shows them, made before the records go
    /// to the store (which takes them): the last [`KEPT`] of each site. Record them with
    /// [`Live::record`] once the write is durable.
    pub(crate) fn pending(records: &[Record], received: i64) -> Pending {
        let mut per_site: HashMap<&str, usize> = HashMap::new();
        let mut out: Pending = Vec::new();
        for r in records.iter().rev() {
            let Record::Event(e) = r else { continue };
            let n = per_site.entry(e.site.as_str()).or_default();
            if *n == KEPT {
                continue;
            }
            *n += 1;
            out.push((e.site.clone(), LiveEvent::of(e, received, None)));
        }
        out.reverse();
        out
    }

    /// Records events of registered sites, in arrival order.
    pub(crate) fn record(&self, events: Pending) {
        if events.is_empty() {
            return;
        }
        let mut t = self.0.lock().unwrap_or_else(|p| p.into_inner());
        for (site, e) in events {
            let q = t.entry(site).or_default();
            if q.len() == KEPT {
                q.pop_front();
            }
            q.push_back(e);
        }
    }

    /// The last `limit` events of `site`, newest first.
    pub(crate) fn last(&self, site: &str, limit: usize) -> Vec<LiveEvent> {
        let t = self.0.lock().unwrap_or_else(|p| p.into_inner());
        t.get(site)
            .map(|q| q.iter().rev().take(limit).cloned().collect())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_last_of_each_site_newest_first() {
        let live = Live::default();
        let ev = |site: &str, i: i64| {
            let mut e = Event::new(site, i, 0xabcdef0123456789, format!("e{i}"));
            e.props.push(("n".into(), PropValue::Num(i as f64)));
            Record::Event(e)
        };
        let mut records: Vec<Record> = (0..250).map(|i| ev("a.example", i)).collect();
        records.push(ev("b.example", 7));
        let p = Live::pending(&records, 1);
        assert_eq!(p.len(), KEPT + 1, "at most KEPT per site");
        live.record(p);
        live.record(Live::pending(&[ev("a.example", 250)], 2));
        let last = live.last("a.example", 3);
        let names: Vec<&str> = last.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["e250", "e249", "e248"]);
        assert_eq!(last[0].visitor.as_deref(), Some("abcdef01"));
        assert_eq!(last[0].props["n"], Scalar::Num(250.0));
        assert_eq!(live.last("a.example", 1000).len(), KEPT);
        assert_eq!(live.last("b.example", 10).len(), 1);
        assert!(live.last("c.example", 10).is_empty());
    }
}
