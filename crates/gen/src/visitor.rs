//! One visitor: their device profile, their sessions over the window, and the
//! event-building helpers the site modules use.

use cairn_model::{Dim, Event, Identify, PropValue, Record};

use crate::data::{Acq, Device, ENGAGEMENT, Land, RETURN_GAP_H, SITE_DEFS, SiteDef, SiteKind};
use crate::rng::{Rng, mix64};
use crate::tables::{DAY_MS, HOUR_MS, Tables, Utm};
use crate::{news, saas, shop};

const DIMS: usize = Dim::ALL.len();
const NAME: usize = Dim::Name as usize;
const USER: usize = Dim::User as usize;
const HOST: usize = Dim::Host as usize;
const PATH: usize = Dim::Path as usize;
const QUERY: usize = Dim::Query as usize;
const REFERRER: usize = Dim::Referrer as usize;
const SOURCE: usize = Dim::Source as usize;
const CHANNEL: usize = Dim::Channel as usize;
const UTM_SOURCE: usize = Dim::UtmSource as usize;
const UTM_MEDIUM: usize = Dim::UtmMedium as usize;
const UTM_CAMPAIGN: usize = Dim::UtmCampaign as usize;
const UTM_TERM: usize = Dim::UtmTerm as usize;
const UTM_CONTENT: usize = Dim::UtmContent as usize;
const DEVICE: usize = Dim::Device as usize;
const BROWSER: usize = Dim::Browser as usize;
const OS: usize = Dim::Os as usize;
const COUNTRY: usize = Dim::Country as usize;
const SCREEN: usize = Dim::Screen as usize;
const LANGUAGE: usize = Dim::Language as usize;

/// Longest pause between two events of one session: below the 30-minute session gap.
const MAX_GAP_MS: i64 = 25 * 60 * 1000;
/// Most sessions per visitor (the first one and up to 10 returns).
const MAX_SESSIONS: u32 = 11;

/// A visitor's device and locale: the same on every event.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Profile {
    pub device: Device,
    browser: &'static str,
    os: &'static str,
    screen: &'static str,
    country: &'static str,
    language: &'static str,
    tz_ms: i64,
}

/// The landing event's acquisition fields, pending until the session's first pageview.
#[derive(Debug, Clone, Copy)]
struct Landing<'a> {
    acq: &'static Acq,
    utm: Option<&'a Utm>,
}

/// The generation state of one visitor.
pub(crate) struct V<'a> {
    pub t: &'a Tables,
    pub site: &'static SiteDef,
    pub rng: Rng,
    pub id: u64,
    pub index: u64,
    pub prof: Profile,
    /// Lead id once identified; set on every later event.
    pub user: Option<String>,
    /// Visitor intent (multiplies conversion propensities).
    pub intent: f64,
    out: Vec<Record>,
    budget: u64,
    /// Time of the last event (ms).
    pub ts: i64,
    /// Set when the session (or the whole output) can take no more events.
    pub done: bool,
    /// Current page: its path and query.
    page: &'a str,
    query: &'a str,
    landing: Option<Landing<'a>>,
    /// This session's acquisition.
    pub acq: &'static Acq,
    /// This session's landing page kind.
    pub land: Land,
    /// This session's probability of going on to another page.
    pub cont: f64,
    /// 0 for the first session, 1 for the first return, …
    pub session_no: u32,
    /// Day of the window the session started on.
    pub day: i64,
}

/// Generates visitor `index` into `out` (cleared first), emitting at most `budget`
/// events. Returns the number of events emitted.
pub(crate) fn run(
    t: &Tables,
    seed: u64,
    index: u64,
    budget: u64,
    out: Vec<Record>,
) -> (Vec<Record>, u64) {
    let mut rng = Rng::new(mix64(mix64(seed ^ 0x6361_6972_6e2d_7631) ^ index));
    // A bijection of the index for a given seed: ids never collide within one output.
    let id = mix64(index ^ mix64(seed.wrapping_add(0x0076_6973_6974_6f72)));
    let site = &SITE_DEFS[rng.weighted(&t.site_weights)];
    let prof = profile(&mut rng, site);
    let intent = *rng.weighted_pick(site.intents);
    let mut v = V {
        t,
        site,
        rng,
        id,
        index,
        prof,
        user: None,
        intent,
        out,
        budget,
        ts: 0,
        done: false,
        page: "/",
        query: "",
        landing: None,
        acq: &site.first[0].0,
        land: Land::Home,
        cont: 0.5,
        session_no: 0,
        day: 0,
    };
    v.out.clear();
    let sessions = if v.rng.chance(site.return_p) {
        let mut n = 2;
        while n < MAX_SESSIONS && v.rng.chance(site.more_p) {
            n += 1;
        }
        n
    } else {
        1
    };
    let first = v.first_start();
    match site.kind {
        SiteKind::Shop => {
            let mut st = shop::State::default();
            v.sessions(first, sessions, |v| shop::session(v, &mut st));
        }
        SiteKind::Saas => {
            let mut st = saas::State::default();
            v.sessions(first, sessions, |v| saas::session(v, &mut st));
        }
        SiteKind::News => {
            let mut st = news::State::default();
            v.sessions(first, sessions, |v| news::session(v, &mut st));
        }
    }
    let emitted = budget - v.budget;
    (v.out, emitted)
}

fn profile(rng: &mut Rng, site: &SiteDef) -> Profile {
    let device = Device::ALL[rng.weighted(&site.devices)];
    let os = rng.weighted_pick(device.systems());
    let browser = *rng.weighted_pick(os.browsers);
    let screen = *rng.weighted_pick(os.screens);
    let country = rng.weighted_pick(site.countries);
    // Some people browse with an English browser wherever they live.
    let language = if !country.english && rng.chance(0.12) {
        "en-US"
    } else {
        country.lang
    };
    Profile {
        device,
        browser,
        os: os.name,
        screen,
        country: country.code,
        language,
        tz_ms: country.tz_min * 60_000,
    }
}

impl<'a> V<'a> {
    /// A time within the visitor's local day `day_start_local`, at a busy hour for the site.
    fn at_local_hour(&mut self, local_midnight: i64) -> i64 {
        let hour = self.rng.weighted(&self.site.hours) as i64;
        local_midnight + hour * HOUR_MS + self.rng.range(0, HOUR_MS) - self.prof.tz_ms
    }

    /// When the first session starts: a weighted day, a busy local hour.
    fn first_start(&mut self) -> i64 {
        let t = self.t;
        let day = t.day_tables[site_index(self.site)].draw(&mut self.rng);
        let mut ts = self.at_local_hour(t.start + day * DAY_MS);
        if ts < t.start {
            ts += DAY_MS;
        }
        if ts >= t.end {
            ts -= DAY_MS;
        }
        ts.clamp(t.start, t.end - 1)
    }

    /// When the next session starts, after the last event.
    fn next_start(&mut self) -> i64 {
        let hours = *self.rng.weighted_pick(RETURN_GAP_H);
        let gap = hours * HOUR_MS * self.rng.range(600, 1400) / 1000;
        let next = self.ts + gap;
        if hours < 20 {
            return next;
        }
        // Days later: at one of the site's busy local hours that day.
        let local = next + self.prof.tz_ms;
        let midnight = local - (local - self.t.start).rem_euclid(DAY_MS);
        let snapped = self.at_local_hour(midnight);
        if snapped > self.ts + HOUR_MS {
            snapped
        } else {
            next
        }
    }

    fn sessions(&mut self, first: i64, n: u32, mut f: impl FnMut(&mut V<'a>)) {
        let mut start = first;
        for s in 0..n {
            if start >= self.t.end || self.budget == 0 {
                break;
            }
            self.begin_session(start, s);
            f(self);
            start = self.next_start();
        }
    }

    fn begin_session(&mut self, start: i64, session_no: u32) {
        let t = self.t;
        let si = site_index(self.site);
        let list = if session_no == 0 {
            self.site.first
        } else {
            self.site.returning
        };
        let day = (start - t.start) / DAY_MS;
        let mut ai = self.rng.weighted_pick_index(list);
        if let Some(c) = list[ai].0.campaign
            && !t.active(c.active, day)
        {
            // The campaign is not running: those people find the site by search.
            ai = list
                .iter()
                .position(|(a, _)| a.channel == "search" && a.campaign.is_none())
                .unwrap_or(0);
        }
        let acq = &list[ai].0;
        let variants = &t.utm[si][usize::from(session_no > 0)][ai];
        let utm = if variants.is_empty() {
            None
        } else {
            Some(self.rng.pick(variants))
        };
        let l = acq.lands;
        self.land = [Land::Home, Land::Deep, Land::Hub, Land::Special]
            [self.rng.weighted(&[l.home, l.deep, l.hub, l.special])];
        self.acq = acq;
        self.landing = Some(Landing { acq, utm });
        self.cont = *self.rng.weighted_pick(ENGAGEMENT);
        self.session_no = session_no;
        self.day = day;
        self.ts = start - 1;
        self.done = false;
    }

    /// Whether the visitor browses on a phone.
    pub(crate) fn mobile(&self) -> bool {
        self.prof.device == Device::Mobile
    }

    /// The campaign's landing focus, "" for none.
    pub(crate) fn focus(&self) -> &'static str {
        self.acq.campaign.map_or("", |c| c.focus)
    }

    /// A pause drawn from an exponential with the given mean plus a minimum (seconds).
    pub(crate) fn think(&mut self, min_s: f64, mean_s: f64) -> i64 {
        ((min_s + self.rng.exp(mean_s)) * 1000.0) as i64 + self.rng.range(0, 1000)
    }

    /// A uniformly drawn short pause in milliseconds.
    pub(crate) fn ms(&mut self, lo: i64, hi: i64) -> i64 {
        self.rng.range(lo, hi)
    }

    /// Emits a pageview of `path?query` after `gap_ms`. Returns false when the session
    /// (or the output) is over.
    pub(crate) fn pageview(&mut self, gap_ms: i64, path: &'a str, query: &'a str) -> bool {
        self.page = path;
        self.query = query;
        self.emit(gap_ms, "pageview").is_some()
    }

    /// Emits a custom event on the current page after `gap_ms`.
    pub(crate) fn event(&mut self, gap_ms: i64, name: &str) -> Option<&mut Event> {
        self.emit(gap_ms, name)
    }

    fn emit(&mut self, gap_ms: i64, name: &str) -> Option<&mut Event> {
        if self.done {
            return None;
        }
        let ts = self.ts + gap_ms.clamp(1, MAX_GAP_MS);
        if self.budget == 0 || ts >= self.t.end {
            self.done = true;
            return None;
        }
        self.ts = ts;
        self.budget -= 1;
        let p = &self.prof;
        let host = self.site.host;
        let mut dims: [String; DIMS] = Default::default();
        dims[NAME] = name.to_owned();
        if let Some(u) = &self.user {
            dims[USER] = u.clone();
        }
        dims[HOST] = host.to_owned();
        dims[PATH] = self.page.to_owned();
        dims[DEVICE] = p.device.as_str().to_owned();
        dims[BROWSER] = p.browser.to_owned();
        dims[OS] = p.os.to_owned();
        dims[COUNTRY] = p.country.to_owned();
        dims[SCREEN] = p.screen.to_owned();
        dims[LANGUAGE] = p.language.to_owned();
        match self.landing.take() {
            None => {
                if !self.query.is_empty() {
                    dims[QUERY] = self.query.to_owned();
                }
            }
            Some(l) => {
                let referrer = if p.device != Device::Desktop && !l.acq.referrer_mobile.is_empty() {
                    l.acq.referrer_mobile
                } else {
                    l.acq.referrer
                };
                dims[REFERRER] = referrer.to_owned();
                dims[SOURCE] = l.acq.source.to_owned();
                dims[CHANNEL] = l.acq.channel.to_owned();
                match l.utm {
                    Some(u) => {
                        let c = l.acq.campaign.unwrap_or_else(|| unreachable!());
                        dims[UTM_SOURCE] = c.source.to_owned();
                        dims[UTM_MEDIUM] = c.medium.to_owned();
                        dims[UTM_CAMPAIGN] = c.name.to_owned();
                        dims[UTM_TERM] = u.term.to_owned();
                        dims[UTM_CONTENT] = u.content.to_owned();
                        dims[QUERY] = if self.query.is_empty() {
                            u.query.clone()
                        } else {
                            format!("{}&{}", self.query, u.query)
                        };
                    }
                    None => dims[QUERY] = self.query.to_owned(),
                }
            }
        }
        self.out.push(Record::Event(Event {
            site: host.to_owned(),
            ts,
            visitor: self.id,
            dims,
            props: Vec::new(),
            revenue: None,
        }));
        match self.out.last_mut() {
            Some(Record::Event(e)) => Some(e),
            _ => None,
        }
    }

    /// Links the visitor to a lead id (1 ms after the last event); later events carry it.
    pub(crate) fn identify(&mut self, user: String) {
        if self.done || self.budget == 0 || self.ts + 1 >= self.t.end {
            return;
        }
        self.ts += 1;
        self.out.push(Record::Identify(Identify {
            site: self.site.host.to_owned(),
            ts: self.ts,
            visitor: self.id,
            user: user.clone(),
        }));
        self.user = Some(user);
    }
}

fn site_index(site: &SiteDef) -> usize {
    match site.kind {
        SiteKind::Shop => 0,
        SiteKind::Saas => 1,
        SiteKind::News => 2,
    }
}

/// Adds a string property. Callers add properties in key order, the order JSON
/// objects read back in, so records survive a JSON round trip unchanged.
pub(crate) fn prop_str(e: &mut Event, key: &str, value: &str) {
    e.props
        .push((key.to_owned(), PropValue::Str(value.to_owned())));
}

/// Adds a numeric property.
pub(crate) fn prop_num(e: &mut Event, key: &str, value: f64) {
    e.props.push((key.to_owned(), PropValue::Num(value)));
}

/// A completion probability `p` adjusted by a propensity multiplier `m`: the drop-off
/// `1 - p` is divided by `m`.
pub(crate) fn adjust(p: f64, m: f64) -> f64 {
    (1.0 - (1.0 - p) / m.max(0.2)).clamp(0.05, 0.98)
}
