//! What every ingestion endpoint shares: the client's address and user agent, the site
//! registry cache, turning a browser event into a stored record (enrichment and visitor
//! id), rate limits and the durable write.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use cairn_meta::Identity;
use cairn_model::{Identify, Record, ValidationError};
use cairn_model::{query_param, split_url};
use cairn_store::Store;
use serde_json::value::RawValue;
use serde_json::{Map, Value, json};

use crate::failure::ApiError;

use crate::enrich::{self, UserAgent};
use crate::{AppState, boxed, error, identity};

/// The longest user agent kept for parsing and hashing.
const UA_MAX: usize = 1024;

/// Who sent a request: the client's address (from the connection, or from the proxy's
/// headers when `trust_proxy` is set) and its `User-Agent`.
pub(crate) struct Client {
    pub ip: IpAddr,
    pub user_agent: String,
    pub accept_language: String,
}

impl FromRequestParts<Arc<AppState>> for Client {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        st: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| {
                c.0.ip().to_canonical()
            });
        let ip = if st.settings.trust_proxy {
            forwarded_ip(&parts.headers).unwrap_or(peer)
        } else {
            peer
        };
        let text = |h: header::HeaderName| {
            let s = parts
                .headers
                .get(h)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            truncate(s, UA_MAX).to_string()
        };
        Ok(Client {
            ip,
            user_agent: text(header::USER_AGENT),
            accept_language: text(header::ACCEPT_LANGUAGE),
        })
    }
}

/// The client address a trusted reverse proxy reports: the last `X-Forwarded-For` entry
/// (the one the proxy itself added), else `X-Real-IP`.
fn forwarded_ip(h: &HeaderMap) -> Option<IpAddr> {
    // The last header line: a proxy that appends its own line (HAProxy) comes after any
    // line the client sent.
    if let Some(v) = h
        .get_all("x-forwarded-for")
        .iter()
        .next_back()
        .and_then(|v| v.to_str().ok())
        && let Some(last) = v.rsplit(',').next()
        && let Some(ip) = parse_addr(last)
    {
        return Some(ip);
    }
    parse_addr(h.get("x-real-ip")?.to_str().ok()?)
}

/// An address as proxies write it: `192.0.2.1`, `192.0.2.1:5000`, `2001:db8::1`,
/// `[2001:db8::1]:5000`.
fn parse_addr(s: &str) -> Option<IpAddr> {
    let s = s.trim();
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Some(ip.to_canonical());
    }
    s.parse::<SocketAddr>().ok().map(|a| a.ip().to_canonical())
}

/// The key of an address's rate limit: IPv4 addresses alone, IPv6 by their /64 (one
/// subscriber's allocation), so a client cannot dodge the limit by walking its own
/// prefix.
pub(crate) fn rate_key(ip: IpAddr) -> u128 {
    match ip.to_canonical() {
        IpAddr::V4(a) => u128::from(u32::from(a)),
        IpAddr::V6(a) => (u128::from(a) >> 64) | (1 << 127),
    }
}

/// `s` cut to at most `max` bytes at a character boundary.
pub(crate) fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// What the server needs to know of a registered site.
#[derive(Debug, Clone)]
pub(crate) struct SiteInfo {
    pub identity: Identity,
}

/// The registered sites, cached: a known site is re-read after a minute (so a change
/// of identity mode made with the CLI is seen), an unknown one after five seconds (so a
/// site registered while the server runs is soon accepted, and a flood of events for
/// unknown sites does not reach SQLite).
#[derive(Default)]
pub(crate) struct SiteCache {
    map: RwLock<HashMap<String, (Option<SiteInfo>, Instant)>>,
}

const KNOWN_TTL: Duration = Duration::from_secs(60);
const UNKNOWN_TTL: Duration = Duration::from_secs(5);
const CACHE_MAX: usize = 10_000;

impl SiteCache {
    /// The site, if registered. A name that cannot be a site domain is answered
    /// without a lookup and without a cache entry (so a flood of made-up names costs
    /// neither SQLite nor memory).
    pub(crate) fn get(
        &self,
        st: &AppState,
        domain: &str,
    ) -> Result<Option<SiteInfo>, Box<Response>> {
        if cairn_meta::check_domain(domain).is_err() {
            return Ok(None);
        }
        let now = Instant::now();
        if let Ok(map) = self.map.read()
            && let Some((info, at)) = map.get(domain)
        {
            let ttl = if info.is_some() {
                KNOWN_TTL
            } else {
                UNKNOWN_TTL
            };
            if now.duration_since(*at) < ttl {
                return Ok(info.clone());
            }
        }
        let found = {
            let meta = match st.meta.lock() {
                Ok(m) => m,
                Err(p) => p.into_inner(),
            };
            meta.site(domain).map_err(|e| {
                Box::<Response>::from(ApiError::unavailable("the site registry cannot be read", e))
            })?
        };
        let info = found.map(|s| SiteInfo {
            identity: s.identity,
        });
        if let Ok(mut map) = self.map.write() {
            if map.len() >= CACHE_MAX {
                map.clear();
            }
            map.insert(domain.to_string(), (info.clone(), now));
        }
        Ok(info)
    }
}

/// The answer for a site that is not registered.
pub(crate) fn unknown_site(domain: &str) -> Response {
    error(
        StatusCode::NOT_FOUND,
        format!("no site `{domain}` is registered: add it with `cairn site add {domain}`"),
        json!({ "site": domain }),
    )
}

/// A browser-side event, as the tracker or a Plausible client reports it, before
/// enrichment.
#[derive(Debug, Default)]
pub(crate) struct PageEvent {
    pub site: String,
    pub name: String,
    pub url: String,
    pub referrer: String,
    pub props: Option<Value>,
    pub revenue: Option<Value>,
    pub screen: String,
    pub language: String,
    /// The tracker's first-party id, when the page sends one.
    pub vid: Option<String>,
    pub ts: i64,
    /// `Some(user)` makes an identify record instead of an event.
    pub identify: Option<String>,
    /// A visitor id given by the sender (server-side pipelines); the URL may then be
    /// empty.
    pub visitor: Option<String>,
    /// The user / lead id the sender knows the event by.
    pub user: String,
    /// Fields set by the sender that enrichment must not override (e.g. `utm_source`).
    pub fields: Vec<(&'static str, String)>,
}

/// Whether `referrer_host` is the page's own site (the same host, or `www.` of it).
fn is_internal(referrer_host: &str, page_host: &str) -> bool {
    let strip = |h: &str| h.strip_prefix("www.").unwrap_or(h).to_string();
    !referrer_host.is_empty() && strip(referrer_host) == strip(page_host)
}

/// Everything derived once per request from the client.
pub(crate) struct Context<'a> {
    pub client: &'a Client,
    pub ua: UserAgent,
    pub salt: [u8; 32],
    pub country: Option<String>,
}

/// Turns a browser event into a record: the visitor id, the URL's parts and UTM
/// fields, and — on pageviews only — the acquisition fields (referrer, source, channel;
/// left out when the referrer is the site itself, so internal navigation does not
/// overwrite where the session came from); device, browser and OS from the user agent;
/// the country when a GeoIP database is configured.
pub(crate) fn page_record(
    ev: PageEvent,
    site: &SiteInfo,
    cx: &Context<'_>,
    now: i64,
) -> Result<Record, ValidationError> {
    let visitor = match (&ev.visitor, &ev.vid, site.identity) {
        (Some(v), _, _) => cairn_model::parse_visitor_id(v),
        (None, Some(vid), Identity::FirstParty) if !vid.is_empty() => {
            identity::first_party(&ev.site, vid)
        }
        _ => identity::cookieless(&cx.salt, &ev.site, cx.client.ip, &cx.client.user_agent),
    };
    if let Some(user) = ev.identify {
        let rec = Record::Identify(Identify {
            site: ev.site,
            ts: ev.ts,
            visitor,
            user,
        });
        rec.validate(now)?;
        return Ok(rec);
    }
    let page = if ev.url.is_empty() && ev.visitor.is_some() {
        cairn_model::UrlParts::default()
    } else {
        split_url(&ev.url)
            .filter(|p| !p.host.is_empty() || ev.visitor.is_some())
            .ok_or_else(|| ValidationError::new("url", cairn_model::Reason::BadUrl))?
    };
    let mut m = Map::new();
    m.insert("site".into(), ev.site.into());
    m.insert("ts".into(), ev.ts.into());
    m.insert("visitor".into(), visitor.into());
    m.insert("name".into(), ev.name.clone().into());
    // The URL's parts, cleaned rather than refused: a page cannot choose its URL's
    // length or bytes, and refusing it would lose every automatic event on that page.
    if !ev.url.is_empty() {
        for (k, v, max) in [
            ("host", &page.host, cairn_model::limits::HOST_MAX),
            ("path", &page.path, cairn_model::limits::URL_PART_MAX),
            ("query", &page.query, cairn_model::limits::URL_PART_MAX),
        ] {
            let v = clean(v, max);
            if !v.is_empty() {
                m.insert(k.into(), v.into());
            }
        }
    }
    if !ev.user.is_empty() {
        m.insert("user".into(), ev.user.into());
    }
    for (k, v) in ev.fields {
        let v = clean(&v, cairn_model::limits::UTM_MAX);
        if !v.is_empty() {
            m.insert(k.into(), v.into());
        }
    }
    for k in UTM_KEYS {
        if !m.contains_key(k)
            && let Some(v) = query_param(&page.query, k)
        {
            let v = clean(&v, cairn_model::limits::UTM_MAX);
            if !v.is_empty() {
                m.insert(k.into(), v.into());
            }
        }
    }
    if let Some(p) = ev.props {
        m.insert("props".into(), p);
    }
    if let Some(r) = ev.revenue {
        m.insert("revenue".into(), r);
    }
    if ev.name == "pageview" {
        let ref_host = split_url(&ev.referrer).map(|p| p.host).unwrap_or_default();
        if !is_internal(&ref_host, &page.host) {
            let q = |k: &str| match m.get(k) {
                Some(Value::String(s)) => s.clone(),
                _ => query_param(&page.query, k).unwrap_or_default(),
            };
            let src = enrich::classify_source(
                &ev.referrer,
                &page.host,
                &q("utm_source"),
                &q("utm_medium"),
            );
            if !ev.referrer.is_empty() {
                m.insert("referrer".into(), truncate(&ev.referrer, 2048).into());
            }
            m.insert("source".into(), truncate(&src.source, 64).into());
            m.insert("channel".into(), src.channel.into());
        }
    }
    let lang = if ev.language.is_empty() {
        enrich::language_tag(&cx.client.accept_language)
    } else {
        enrich::language_tag(&ev.language)
    };
    for (k, v) in [
        ("device", cx.ua.device),
        ("browser", cx.ua.browser),
        ("os", cx.ua.os),
        ("screen", ev.screen.as_str()),
        ("language", lang.as_str()),
        ("country", cx.country.as_deref().unwrap_or("")),
    ] {
        if !v.is_empty() && !m.contains_key(k) {
            m.insert(k.into(), v.into());
        }
    }
    Record::from_value(&Value::Object(m), now, None)
}

const UTM_KEYS: [&str; 5] = [
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "utm_term",
    "utm_content",
];

/// A value taken from a URL, made storable: control characters dropped, cut to `max`
/// bytes at a character boundary.
fn clean(v: &str, max: usize) -> String {
    let v: String = if v.chars().any(char::is_control) {
        v.chars().filter(|c| !c.is_control()).collect()
    } else {
        v.to_string()
    };
    truncate(&v, max).to_string()
}

/// Validates a screen size sent as `"WxH"`: kept when it is two numbers.
pub(crate) fn screen_of(s: &str) -> String {
    match s.split_once('x') {
        Some((w, h)) => match (w.parse::<u32>(), h.parse::<u32>()) {
            (Ok(w), Ok(h)) => enrich::screen_class(w, h),
            _ => String::new(),
        },
        None => String::new(),
    }
}

/// Answers `429` with `Retry-After` (whole seconds, at least 1).
pub(crate) fn too_many_requests(what: &str, wait: Duration) -> Response {
    let secs = wait.as_secs_f64().ceil().max(1.0) as u64;
    let mut r = error(
        StatusCode::TOO_MANY_REQUESTS,
        format!("rate limit of {what} exceeded: retry in {secs} s"),
        json!({}),
    );
    if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
        r.headers_mut().insert(header::RETRY_AFTER, v);
    }
    r
}

/// Applies the per-site event limit to a request's records.
pub(crate) fn check_site_rate(st: &AppState, records: &[Record]) -> Result<(), Box<Response>> {
    if !st.site_limit.enabled() {
        return Ok(());
    }
    let now = Instant::now();
    let mut counts: Vec<(&str, f64)> = Vec::new();
    for r in records {
        match counts.iter_mut().find(|(s, _)| *s == r.site()) {
            Some((_, n)) => *n += 1.0,
            None => counts.push((r.site(), 1.0)),
        }
    }
    for (site, n) in counts {
        st.site_limit
            .take(site, n, now)
            .map_err(|w| Box::new(too_many_requests(&format!("events for site `{site}`"), w)))?;
    }
    Ok(())
}

/// Applies the per-address request limit.
pub(crate) fn check_ip_rate(st: &AppState, client: &Client) -> Result<(), Box<Response>> {
    st.ip_limit
        .take(rate_key(client.ip), 1.0, Instant::now())
        .map_err(|w| Box::new(too_many_requests("requests from this address", w)))
}

/// One request's records, waiting for the writer.
struct Job {
    records: Vec<Record>,
    now: i64,
    reply: tokio::sync::oneshot::Sender<Result<(), String>>,
    /// The request's place among the writes in flight, held until it is answered (even
    /// when its client went away meanwhile).
    _permit: Option<tokio::sync::OwnedSemaphorePermit>,
    /// Counts the job in `cairn_writes_in_flight` until it is answered.
    _gauge: Gauge,
}

impl Job {
    /// Answers the request. Its permit and gauge are let go first, so a client that
    /// sends its next request on the answer never finds its own old write still counted.
    fn answer(self, res: Result<(), String>) {
        let Job {
            reply,
            _permit,
            _gauge,
            ..
        } = self;
        drop(_permit);
        drop(_gauge);
        let _ = reply.send(res);
    }
}

/// One write in flight, for the gauge; decremented when dropped.
struct Gauge(Arc<std::sync::atomic::AtomicU64>);

impl Gauge {
    fn new(g: &Arc<std::sync::atomic::AtomicU64>) -> Gauge {
        g.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Gauge(Arc::clone(g))
    }
}

impl Drop for Gauge {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
}

/// The durable writer: one thread that takes every request waiting, appends their
/// records to the store together (one write, one fsync) and then answers each. Under
/// load a round carries many requests, so a single-event request costs a share of an
/// fsync and no thread of its own.
pub(crate) struct Writer {
    tx: std::sync::mpsc::SyncSender<Job>,
    in_flight: Arc<std::sync::atomic::AtomicU64>,
}

/// Most records one writer round appends.
const ROUND_MAX: usize = 100_000;

impl Writer {
    /// Starts the writer thread; it stops when the writer is dropped.
    pub(crate) fn start(
        store: &Arc<Store>,
        queue: usize,
        in_flight: Arc<std::sync::atomic::AtomicU64>,
    ) -> std::io::Result<Writer> {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Job>(queue.max(1));
        let store = Arc::downgrade(store);
        std::thread::Builder::new()
            .name("cairn-writer".into())
            .spawn(move || {
                let mut next: Option<Job> = None;
                loop {
                    let first = match next.take() {
                        Some(j) => j,
                        None => match rx.recv() {
                            Ok(j) => j,
                            Err(_) => return,
                        },
                    };
                    let mut n = first.records.len();
                    let mut jobs = vec![first];
                    // Take every request already waiting, up to a round's worth.
                    while n < ROUND_MAX {
                        match rx.try_recv() {
                            Ok(j) if n + j.records.len() <= ROUND_MAX => {
                                n += j.records.len();
                                jobs.push(j);
                            }
                            Ok(j) => {
                                next = Some(j);
                                break;
                            }
                            Err(_) => break,
                        }
                    }
                    match store.upgrade() {
                        Some(store) => round(&store, jobs, n),
                        None => {
                            for j in jobs {
                                j.answer(Err("the store is closed".to_string()));
                            }
                        }
                    }
                }
            })?;
        Ok(Writer { tx, in_flight })
    }
}

/// One writer round: the jobs' records appended together (one write, one fsync), each
/// job answered. Requests are all or nothing each, not together: if the joint append
/// fails, each job is tried alone and answered for itself.
fn round(store: &Store, mut jobs: Vec<Job>, n: usize) {
    if jobs.len() == 1 {
        let j = jobs.remove(0);
        let res = store.append(&j.records, j.now).map_err(|e| e.to_string());
        j.answer(res);
        return;
    }
    let now = jobs.iter().map(|j| j.now).max().unwrap_or(0);
    let lens: Vec<usize> = jobs.iter().map(|j| j.records.len()).collect();
    let mut all = Vec::with_capacity(n);
    for j in &mut jobs {
        all.append(&mut j.records);
    }
    if store.append(&all, now).is_ok() {
        for j in jobs {
            j.answer(Ok(()));
        }
        return;
    }
    let mut rest = all.into_iter();
    for (j, len) in jobs.into_iter().zip(lens) {
        let mine: Vec<Record> = rest.by_ref().take(len).collect();
        let res = store.append(&mine, j.now).map_err(|e| e.to_string());
        j.answer(res);
    }
}

/// Stores records and waits until they are durable. `Err` is the answer to send:
/// 503 with `Retry-After` when too many writes are in flight, or when the store fails.
pub(crate) async fn write_durably(
    st: &Arc<AppState>,
    records: Vec<Record>,
    now: i64,
) -> Result<usize, Box<Response>> {
    use std::sync::atomic::Ordering::Relaxed;
    let overloaded = || {
        let mut r = error(
            StatusCode::SERVICE_UNAVAILABLE,
            "too many writes in flight: retry shortly",
            json!({}),
        );
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        Box::new(r)
    };
    // An event older than the retention cut would be acknowledged and then not kept:
    // refuse it instead.
    if let Some(cut) = st.store.retention_cut() {
        let old: Vec<Value> = records
            .iter()
            .enumerate()
            .filter(|(_, r)| matches!(r, Record::Event(e) if e.ts < cut))
            .map(|(i, r)| {
                json!({"record": i, "field": "ts", "reason": format!(
                    "{} is before the retention cut {}: it would not be kept",
                    cairn_model::format_rfc3339_ms(r.ts()),
                    cairn_model::format_rfc3339_ms(cut)
                )})
            })
            .collect();
        if !old.is_empty() {
            return Err(Box::new(invalid(old)));
        }
    }
    let Ok(permit) = Arc::clone(&st.writes).try_acquire_owned() else {
        return Err(overloaded());
    };
    let n = records.len();
    let events = records
        .iter()
        .filter(|r| matches!(r, Record::Event(_)))
        .count() as u64;
    let m = &st.metrics;
    let t0 = Instant::now();
    let (reply, answer) = tokio::sync::oneshot::channel();
    let job = Job {
        records,
        now,
        reply,
        _permit: Some(permit),
        _gauge: Gauge::new(&st.writer.in_flight),
    };
    let res = match st.writer.tx.try_send(job) {
        Ok(()) => answer
            .await
            .unwrap_or_else(|_| Err("the writer stopped".to_string())),
        Err(std::sync::mpsc::TrySendError::Full(_)) => return Err(overloaded()),
        Err(std::sync::mpsc::TrySendError::Disconnected(_)) => {
            Err("the writer is not running".to_string())
        }
    };
    match res {
        Ok(()) => {
            m.write_micros
                .fetch_add(t0.elapsed().as_micros() as u64, Relaxed);
            m.writes.fetch_add(1, Relaxed);
            m.events.fetch_add(events, Relaxed);
            m.identifies.fetch_add(n as u64 - events, Relaxed);
            Ok(n)
        }
        Err(e) => Err(ApiError::unavailable("the store cannot take the records", e).into()),
    }
}

/// A `422` naming each invalid record; nothing was stored.
pub(crate) fn invalid(errors: Vec<Value>) -> Response {
    let n = errors.len();
    let mut errors = errors;
    errors.truncate(100);
    error(
        StatusCode::UNPROCESSABLE_ENTITY,
        format!("{n} invalid record(s): nothing was stored"),
        json!({ "invalid": n, "errors": errors }),
    )
}

/// The body as text, or a `400` naming the first byte that is not UTF-8.
pub(crate) fn utf8(body: &[u8]) -> Result<&str, Box<Response>> {
    std::str::from_utf8(body).map_err(|e| {
        boxed(
            StatusCode::BAD_REQUEST,
            format!("the body is not UTF-8 (at byte {})", e.valid_up_to()),
            json!({}),
        )
    })
}

/// Why [`bounded_array`] refused a body.
pub(crate) enum Bounded {
    /// More than the allowed number of elements (at least this many).
    TooMany(usize),
    /// Not a JSON array.
    Invalid(serde_json::Error),
}

/// The elements of a JSON array as raw text, refusing more than `max` of them as soon as
/// the count is passed: no element is built into a JSON tree before the count is known,
/// so memory stays a small multiple of the body however many tiny elements it holds.
pub(crate) fn bounded_array(text: &str, max: usize) -> Result<Vec<&RawValue>, Bounded> {
    use serde::de::{DeserializeSeed, SeqAccess, Visitor};
    struct Seed<'c> {
        max: usize,
        over: &'c std::cell::Cell<bool>,
    }
    impl<'de> Visitor<'de> for Seed<'_> {
        type Value = Vec<&'de RawValue>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a JSON array")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let mut out = Vec::new();
            while let Some(v) = seq.next_element::<&'de RawValue>()? {
                if out.len() == self.max {
                    self.over.set(true);
                    return Err(serde::de::Error::custom("too many elements"));
                }
                out.push(v);
            }
            Ok(out)
        }
    }
    impl<'de> DeserializeSeed<'de> for Seed<'_> {
        type Value = Vec<&'de RawValue>;
        fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_seq(self)
        }
    }
    let over = std::cell::Cell::new(false);
    let mut de = serde_json::Deserializer::from_str(text);
    let r = Seed { max, over: &over }
        .deserialize(&mut de)
        .and_then(|v| de.end().map(|()| v));
    match r {
        Ok(v) => Ok(v),
        Err(_) if over.get() => Err(Bounded::TooMany(max + 1)),
        Err(e) => Err(Bounded::Invalid(e)),
    }
}

/// A `400` for a body that is not UTF-8 JSON.
pub(crate) fn parse_json(body: &[u8]) -> Result<Value, Box<Response>> {
    let text = utf8(body)?;
    if text.trim().is_empty() {
        return Err(boxed(
            StatusCode::BAD_REQUEST,
            "the body is empty",
            json!({}),
        ));
    }
    serde_json::from_str(text).map_err(|e| {
        boxed(
            StatusCode::BAD_REQUEST,
            format!("the body is not JSON: {e}"),
            json!({}),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forwarded_addresses() {
        let mut h = HeaderMap::new();
        h.append("x-forwarded-for", "1.2.3.4".parse().unwrap());
        h.append("x-forwarded-for", "198.51.100.1".parse().unwrap());
        assert_eq!(
            forwarded_ip(&h),
            Some("198.51.100.1".parse().unwrap()),
            "the proxy's own line"
        );
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", "203.0.113.9, 10.0.0.1".parse().unwrap());
        assert_eq!(forwarded_ip(&h), Some("10.0.0.1".parse().unwrap()));
        let mut h = HeaderMap::new();
        h.insert("x-real-ip", " 2001:db8::1 ".parse().unwrap());
        assert_eq!(forwarded_ip(&h), Some("2001:db8::1".parse().unwrap()));
        h.insert("x-forwarded-for", "garbage".parse().unwrap());
        assert_eq!(forwarded_ip(&h), Some("2001:db8::1".parse().unwrap()));
    }

    #[test]
    fn internal_referrers() {
        assert!(is_internal("shop.example", "shop.example"));
        assert!(is_internal("www.shop.example", "shop.example"));
        assert!(!is_internal("", "shop.example"));
        assert!(!is_internal("google.com", "shop.example"));
    }

    #[test]
    fn a_bad_request_in_a_round_fails_alone() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(
            dir.path(),
            cairn_store::Options {
                background: false,
                ..cairn_store::Options::default()
            },
        )
        .unwrap();
        let ev = |name: &str| {
            Record::Event(cairn_model::Event::new(
                "shop.example",
                1_700_000_000_000,
                7,
                name,
            ))
        };
        let gauge = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let mut answers = Vec::new();
        let mut jobs = Vec::new();
        for records in [vec![ev("a"), ev("b")], vec![ev("")], vec![ev("c")]] {
            let (reply, rx) = tokio::sync::oneshot::channel();
            jobs.push(Job {
                records,
                now: 1_700_000_000_000,
                reply,
                _permit: None,
                _gauge: Gauge::new(&gauge),
            });
            answers.push(rx);
        }
        assert_eq!(gauge.load(std::sync::atomic::Ordering::Relaxed), 3);
        round(&store, jobs, 4);
        assert_eq!(
            gauge.load(std::sync::atomic::Ordering::Relaxed),
            0,
            "answered: out of the gauge"
        );
        let got: Vec<bool> = answers
            .into_iter()
            .map(|mut rx| rx.try_recv().unwrap().is_ok())
            .collect();
        assert_eq!(got, [true, false, true]);
        let mut names = Vec::new();
        store
            .for_each_event(|e| {
                names.push(e.name().to_string());
                Ok(())
            })
            .unwrap();
        names.sort();
        assert_eq!(
            names,
            ["a", "b", "c"],
            "each good request once, nothing of the bad"
        );
    }

    #[test]
    fn url_values_are_cleaned() {
        assert_eq!(clean("spring\nsale", 256), "springsale");
        assert_eq!(clean(&"é".repeat(200), 255).len(), 254);
        let key = |s: &str| rate_key(s.parse().unwrap());
        assert_eq!(key("2001:db8::1"), key("2001:db8::ffff"));
        assert_ne!(key("2001:db8::1"), key("2001:db8:0:1::1"));
        assert_eq!(key("::ffff:192.0.2.1"), key("192.0.2.1"));
        assert_eq!(
            parse_addr("[2001:db8::1]:443"),
            Some("2001:db8::1".parse().unwrap())
        );
        assert_eq!(
            parse_addr("192.0.2.1:80"),
            Some("192.0.2.1".parse().unwrap())
        );
    }

    #[test]
    fn screens_and_truncation() {
        assert_eq!(screen_of("x"), "");
        assert_eq!(screen_of("12xa"), "");
        assert_eq!(truncate("héllo", 2), "h");
    }
}
