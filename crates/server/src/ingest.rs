//! What the browser ingestion endpoints share: turning a browser event into a stored
//! record (enrichment and visitor id), the rate limits, and the answer naming invalid
//! records. Who the client is: [`crate::client`]; the registered sites:
//! [`crate::sites`]; the durable write: [`crate::write`].

use std::time::Instant;

use cairn_meta::VisitorIdMode;
use cairn_model::query::PAGEVIEW;
use cairn_model::{Dim, Event, Identify, Record, ValidationError};
use cairn_model::{props_from_json, query_param, revenue_from_json, split_url};
use serde_json::{Value, json};

use crate::client::{Client, rate_key, truncate};
use crate::enrich::{self, UserAgent};
use crate::error::ApiError;
use crate::sites::SiteInfo;
use crate::{AppState, visitor_id};

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
    pub fields: Vec<(Dim, String)>,
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
/// the country when a GeoIP database is configured. Not validated: the caller checks it
/// once, as it adds it to a [`cairn_model::Checked`].
pub(crate) fn page_record(
    ev: PageEvent,
    site: &SiteInfo,
    cx: &Context<'_>,
) -> Result<Record, ValidationError> {
    let visitor = match (&ev.visitor, &ev.vid, site.identity) {
        (Some(v), _, _) => cairn_model::parse_visitor_id(v),
        (None, Some(vid), VisitorIdMode::FirstParty) if !vid.is_empty() => {
            visitor_id::first_party(&ev.site, vid)
        }
        _ => visitor_id::cookieless(&cx.salt, &ev.site, cx.client.ip, &cx.client.user_agent),
    };
    if let Some(user) = ev.identify {
        return Ok(Record::Identify(Identify {
            site: ev.site,
            ts: ev.ts,
            visitor,
            user,
        }));
    }
    let page = if ev.url.is_empty() && ev.visitor.is_some() {
        cairn_model::UrlParts::default()
    } else {
        split_url(&ev.url)
            .filter(|p| !p.host.is_empty() || ev.visitor.is_some())
            .ok_or_else(|| ValidationError::new("url", cairn_model::Reason::BadUrl))?
    };
    let mut e = Event::new(ev.site, ev.ts, visitor, ev.name);
    // Unset (empty) dimensions take `v` when it is not empty.
    let fill = |e: &mut Event, d: Dim, v: &str| {
        if e.dim(d).is_empty() && !v.is_empty() {
            e.set(d, v);
        }
    };
    // The URL's parts, cleaned rather than refused: a page cannot choose its URL's
    // length or bytes, and refusing it would lose every automatic event on that page.
    if !ev.url.is_empty() {
        for (d, v, max) in [
            (Dim::Host, &page.host, cairn_model::limits::HOST_MAX),
            (Dim::Path, &page.path, cairn_model::limits::URL_PART_MAX),
            (Dim::Query, &page.query, cairn_model::limits::URL_PART_MAX),
        ] {
            fill(&mut e, d, &clean(v, max));
        }
    }
    fill(&mut e, Dim::User, &ev.user);
    // Fields the sender set: enrichment does not override them.
    for (d, v) in &ev.fields {
        fill(&mut e, *d, &clean(v, cairn_model::limits::UTM_MAX));
    }
    for (d, k) in UTM {
        if let Some(v) = query_param(&page.query, k) {
            fill(&mut e, d, &clean(&v, cairn_model::limits::UTM_MAX));
        }
    }
    if let Some(p) = &ev.props {
        e.props = props_from_json(p)?;
    }
    if let Some(r) = &ev.revenue {
        e.revenue = revenue_from_json(r)?;
    }
    if e.name() == PAGEVIEW {
        let ref_host = split_url(&ev.referrer).map(|p| p.host).unwrap_or_default();
        if !is_internal(&ref_host, &page.host) {
            let src = enrich::classify_source(
                &ev.referrer,
                &page.host,
                e.dim(Dim::UtmSource),
                e.dim(Dim::UtmMedium),
            );
            fill(&mut e, Dim::Referrer, truncate(&ev.referrer, 2048));
            fill(&mut e, Dim::Source, truncate(&src.source, 64));
            fill(&mut e, Dim::Channel, src.channel);
        }
    }
    let lang = if ev.language.is_empty() {
        enrich::language_tag(&cx.client.accept_language)
    } else {
        enrich::language_tag(&ev.language)
    };
    for (d, v) in [
        (Dim::Device, cx.ua.device),
        (Dim::Browser, cx.ua.browser),
        (Dim::Os, cx.ua.os),
        (Dim::Screen, ev.screen.as_str()),
        (Dim::Language, lang.as_str()),
        (Dim::Country, cx.country.as_deref().unwrap_or("")),
    ] {
        fill(&mut e, d, v);
    }
    Ok(Record::Event(e))
}

/// The UTM fields and the query parameters they come from.
const UTM: [(Dim, &str); 5] = [
    (Dim::UtmSource, "utm_source"),
    (Dim::UtmMedium, "utm_medium"),
    (Dim::UtmCampaign, "utm_campaign"),
    (Dim::UtmTerm, "utm_term"),
    (Dim::UtmContent, "utm_content"),
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

/// Applies the per-site event limit to a request's records.
pub(crate) fn check_site_rate(st: &AppState, records: &[Record]) -> Result<(), ApiError> {
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
            .map_err(|w| ApiError::rate_limited(&format!("events for site `{site}`"), w))?;
    }
    Ok(())
}

/// Applies the per-address request limit.
pub(crate) fn check_ip_rate(st: &AppState, client: &Client) -> Result<(), ApiError> {
    st.ip_limit
        .take(rate_key(client.ip), 1.0, Instant::now())
        .map_err(|w| ApiError::rate_limited("requests from this address", w))
}

/// A `422` naming each invalid record; nothing was stored.
pub(crate) fn invalid(errors: Vec<Value>) -> ApiError {
    let n = errors.len();
    let mut errors = errors;
    errors.truncate(100);
    ApiError::unprocessable(format!("{n} invalid record(s): nothing was stored"))
        .with(json!({ "invalid": n, "errors": errors }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_referrers() {
        assert!(is_internal("shop.example", "shop.example"));
        assert!(is_internal("www.shop.example", "shop.example"));
        assert!(!is_internal("", "shop.example"));
        assert!(!is_internal("google.com", "shop.example"));
    }

    #[test]
    fn url_values_are_cleaned() {
        assert_eq!(clean("spring\nsale", 256), "springsale");
        assert_eq!(clean(&"é".repeat(200), 255).len(), 254);
    }

    #[test]
    fn screens_and_truncation() {
        assert_eq!(screen_of("x"), "");
        assert_eq!(screen_of("12xa"), "");
    }
}
