//! Deterministic generator of realistic web analytics events, for demos, tests and
//! benchmarks.
//!
//! * [`GenConfig`] says how many events to make, from which seed, over which window.
//! * [`Generator`] (made by [`generate`]) is an iterator of [`cairn_model::Record`]s:
//!   events and the [`cairn_model::Identify`] records that link visitors to leads.
//! * [`SITES`] names the three generated sites.
//! * [`SpendTally`] prices the shop's paid campaigns per day from the generated visits:
//!   the demo's campaign spend.
//!
//! Three sites of kinds seen in practice share the events about 50/25/25:
//!
//! * `shop.example`, e-commerce: home, category (`/c/<cat>`), product (`/p/<id>`) and
//!   search (`/search?q=…`) pages; `view_item`, `search`, `add_to_wishlist`,
//!   `add_to_cart`, `begin_checkout`, `checkout_step` (step 1 shipping, 2 payment,
//!   3 review), and `purchase` with revenue in EUR on `/checkout/thanks`; and four
//!   secondary actions with planted effects on buying, so the `influence` analysis has
//!   a known answer: `video_play` (product videos: a real effect), `newsletter_signup`
//!   (more often on desktop and from email and referral traffic, which buy more anyway:
//!   confounded, no effect), `share` (network; no effect) and `write_review` (product
//!   and rating; mostly after a purchase).
//! * `saas.example`, B2B lead generation: pricing, features, blog, whitepapers,
//!   webinars, demo, trial and contact pages; `form_start`/`form_field`/`form_submit`,
//!   `whitepaper_download`, `webinar_signup`, `demo_request`, `trial_signup`,
//!   `callback_request`. A visitor's first submitted form emits an identify record
//!   (`lead-<n>`), and their later events carry that id in [`cairn_model::Dim::User`].
//! * `news.example`, content: articles (`/a/<slug>`), `scroll` (depth), `video_play`,
//!   `video_progress` (percent), `share` (network), `comment`, `newsletter_signup`.
//!
//! Visitors have one device, browser, OS, screen, country and language throughout;
//! about a third come back, 1 to 10 times, hours to days later. Sessions are
//! heavy-tailed (about half bounce, a few run to dozens of pages), events in a session
//! are seconds to minutes apart (always under 25 minutes, so a 30-minute session gap
//! recovers the generated sessions) and sessions of a visitor are at least an hour
//! apart. Traffic follows each site's local hours and weekdays. Sessions arrive
//! direct, from search engines, social networks, referring sites, newsletters and paid
//! campaigns; conversion propensity differs by device (phones abandon checkout and
//! forms more), by source and by campaign (e.g. `autumn_sale` converts far better than
//! `lookalike_audience`), and by visitor intent.
//!
//! # Output order
//!
//! Records come **visitor by visitor**: all of one visitor's records in time order
//! (identify records right after the `form_submit` that caused them), then the next
//! visitor's. Visitors overlap in time, so the stream as a whole is not sorted by
//! time. Exactly [`GenConfig::events`] events are produced (identify records are not
//! counted): the last visitor is cut short when the count is reached.
//!
//! # Which fields are set
//!
//! Every event sets `site`, `ts` (ms), `visitor`, and the dimensions `name`, `host`,
//! `path`, `device`, `browser`, `os`, `country`, `screen` and `language`. The
//! acquisition dimensions — `referrer`, `source`, `channel` and, for tagged campaign
//! traffic, `utm_source`, `utm_medium`, `utm_campaign`, `utm_content` (and `utm_term`
//! for paid search), with the same values in `query` — are set on the first event
//! (always a pageview) of each session only, as a tracker sends them. `query` is also
//! set on search pages. `user` is set once the visitor is identified. Custom
//! properties are listed in key order, so a record written with
//! [`cairn_model::Record::to_json`] reads back equal.
//!
//! # Determinism
//!
//! The same configuration gives the same records on every platform and in every
//! version of this crate that keeps the same generator (only integer arithmetic and
//! exactly rounded IEEE operations are used, never the platform's `libm`). Each
//! visitor is derived from the seed and the visitor's index alone.
//!
//! ```
//! use cairn_gen::{GenConfig, generate};
//! let cfg = GenConfig { seed: 7, events: 1000, ..GenConfig::default() };
//! let records: Vec<_> = generate(&cfg).collect();
//! let events = records.iter().filter(|r| matches!(r, cairn_model::Record::Event(_))).count();
//! assert_eq!(events, 1000);
//! assert!(records.iter().all(|r| r.validate(cfg.end_ms()).is_ok()));
//! ```

#![warn(missing_docs)]

pub use spend::SpendTally;

mod data;
mod news;
mod rng;
mod saas;
mod shop;
mod spend;
mod tables;
mod visitor;

use cairn_model::Record;

/// The hosts (and site ids) of the generated sites: e-commerce, B2B lead generation,
/// content.
pub const SITES: [&str; 3] = ["shop.example", "saas.example", "news.example"];

/// 2026-09-01T00:00:00Z in milliseconds since the Unix epoch: the default start.
pub const DEFAULT_START_MS: i64 = 1_788_220_800_000;

/// What to generate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenConfig {
    /// Seed: the same configuration always gives the same records.
    pub seed: u64,
    /// Exactly how many events to emit (identify records come on top).
    pub events: u64,
    /// Start of the time window (ms since the epoch, UTC). Default
    /// [`DEFAULT_START_MS`], 2026-09-01T00:00:00Z.
    pub start_ms: i64,
    /// Length of the window in days (0 is taken as 1). Every record's timestamp lies in
    /// `[start_ms, start_ms + days × 86 400 000)`. Default 30.
    pub days: u32,
}

impl Default for GenConfig {
    fn default() -> Self {
        GenConfig {
            seed: 1,
            events: 1_000_000,
            start_ms: DEFAULT_START_MS,
            days: 30,
        }
    }
}

impl GenConfig {
    /// End of the time window (exclusive): every record is earlier. Any `now` at or
    /// after it accepts every generated record.
    pub fn end_ms(&self) -> i64 {
        self.start_ms
            .saturating_add(i64::from(self.days.max(1)) * tables::DAY_MS)
    }
}

/// Iterator over generated records; see the [crate documentation](crate) for what
/// it produces and in which order.
#[derive(Debug)]
pub struct Generator {
    seed: u64,
    tables: tables::Tables,
    /// Index of the next visitor to generate.
    next_visitor: u64,
    /// Events not yet generated.
    remaining: u64,
    /// Events handed out so far.
    emitted: u64,
    /// The current visitor's records, in reverse order.
    buf: Vec<Record>,
}

impl Generator {
    /// A generator for `cfg`.
    pub fn new(cfg: &GenConfig) -> Generator {
        Generator {
            seed: cfg.seed,
            tables: tables::Tables::new(cfg),
            next_visitor: 0,
            remaining: cfg.events,
            emitted: 0,
            buf: Vec::new(),
        }
    }

    /// Events handed out so far.
    pub fn events_emitted(&self) -> u64 {
        self.emitted
    }

    /// Visitors started so far (the last one may still be being handed out).
    pub fn visitors_started(&self) -> u64 {
        self.next_visitor
    }
}

impl Iterator for Generator {
    type Item = Record;

    fn next(&mut self) -> Option<Record> {
        loop {
            if let Some(r) = self.buf.pop() {
                if matches!(r, Record::Event(_)) {
                    self.emitted += 1;
                }
                return Some(r);
            }
            if self.remaining == 0 {
                return None;
            }
            let buf = std::mem::take(&mut self.buf);
            let (mut buf, n) = visitor::run(
                &self.tables,
                self.seed,
                self.next_visitor,
                self.remaining,
                buf,
            );
            buf.reverse();
            self.buf = buf;
            self.remaining -= n;
            self.next_visitor += 1;
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let pending_events = self
            .buf
            .iter()
            .filter(|r| matches!(r, Record::Event(_)))
            .count() as u64;
        let lower = self.remaining + pending_events;
        (usize::try_from(lower).unwrap_or(usize::MAX), None)
    }
}

impl std::iter::FusedIterator for Generator {}

/// Generates `cfg.events` events (and the identify records that go with them); see
/// the [crate documentation](crate).
pub fn generate(cfg: &GenConfig) -> Generator {
    Generator::new(cfg)
}
