//! A naive in-memory model of the store and helpers to compare the real store with it.

use std::collections::{BTreeMap, HashMap};

use cairn_model::{Dim, Event, PropValue, Record};
use cairn_store::TimelineScan;
use cairn_store::{Options, PropVal, Scan, ScanRequest, Store, Timeline, VisitorRange};

pub const DAY: i64 = 86_400_000;
/// 2027-01-15T00:00:00Z: every generated event lies within a few days after it.
pub const BASE: i64 = 1_800_000_000_000 - 1_800_000_000_000 % DAY;
/// "Now" for validation and retention.
pub const NOW: i64 = BASE + 6 * DAY;
pub const SITES: [&str; 2] = ["a.example", "b.example"];

/// A store in `dir` without background work: merges run when a test calls for them.
pub fn open_foreground(dir: &std::path::Path) -> Store {
    let opts = Options {
        background: false,
        ..Options::default()
    };
    Store::open(dir, opts).unwrap()
}

/// One event as comparable text: every column, in a fixed order.
pub fn event_key(e: &Event) -> (i64, String) {
    let mut s = String::new();
    for d in Dim::ALL {
        s.push_str(e.dim(d));
        s.push('\u{1}');
    }
    for (k, v) in &e.props {
        match v {
            PropValue::Str(x) => s.push_str(&format!("{k}=s:{x};")),
            PropValue::Num(x) => s.push_str(&format!("{k}=n:{x:?};")),
            PropValue::Bool(x) => s.push_str(&format!("{k}=b:{x};")),
        }
    }
    if let Some(r) = &e.revenue {
        s.push_str(&format!("${}{}", r.micros, r.currency));
    }
    (e.ts, s)
}

/// Event i of a timeline projected with every column, as comparable text.
pub fn timeline_key(scan: &Scan, t: &Timeline, i: usize) -> (i64, String) {
    let mut s = String::new();
    for d in Dim::ALL {
        s.push_str(scan.dict(d).get(t.dim(d)[i]));
        s.push('\u{1}');
    }
    for p in t.props(i) {
        let k = scan.prop_keys().get(p.key);
        match p.val {
            PropVal::Str(x) => s.push_str(&format!("{k}=s:{};", scan.prop_values().get(x))),
            PropVal::Num(x) => s.push_str(&format!("{k}=n:{x:?};")),
            PropVal::Bool(x) => s.push_str(&format!("{k}=b:{x};")),
        }
    }
    if let Some((m, c)) = t.revenue[i] {
        s.push_str(&format!("${}{}", m, scan.currencies().get(c)));
    }
    (t.ts[i], s)
}

/// What a site's scan must return: visitor → events sorted by (time, content).
pub type Expected = BTreeMap<u64, Vec<(i64, String)>>;

/// The naive model: every acknowledged event in arrival order, and the identity links.
#[derive(Debug, Default, Clone)]
pub struct Model {
    pub events: Vec<Event>,
    /// (site, visitor) → (user, ts); the latest link wins, ties go to the later arrival.
    pub links: HashMap<(String, u64), (String, i64)>,
    pub drop_before: i64,
}

impl Model {
    pub fn new() -> Model {
        Model {
            drop_before: i64::MIN,
            ..Model::default()
        }
    }

    fn link(&mut self, site: &str, visitor: u64, user: &str, ts: i64) {
        let key = (site.to_string(), visitor);
        match self.links.get(&key) {
            Some((u, t)) if *t > ts || (u == user && *t == ts) => {}
            _ => {
                self.links.insert(key, (user.to_string(), ts));
            }
        }
    }

    pub fn add(&mut self, recs: &[Record]) {
        for r in recs {
            match r {
                Record::Event(e) => {
                    if !e.dim(Dim::User).is_empty() {
                        self.link(&e.site, e.visitor, e.dim(Dim::User), e.ts);
                    }
                    if e.ts >= self.drop_before {
                        self.events.push(e.clone());
                    }
                }
                Record::Identify(i) => self.link(&i.site, i.visitor, &i.user, i.ts),
            }
        }
    }

    pub fn erase(&mut self, site: &str, visitors: &[u64], users: &[String]) {
        let mut hit: Vec<u64> = visitors.to_vec();
        self.links.retain(|(s, v), (u, _)| {
            let h = s == site && (visitors.contains(v) || users.contains(u));
            if h {
                hit.push(*v);
            }
            !h
        });
        self.events
            .retain(|e| !(e.site == site && hit.contains(&e.visitor)));
    }

    pub fn retain(&mut self, cutoff: i64) {
        self.drop_before = self.drop_before.max(cutoff);
        let c = self.drop_before;
        self.events.retain(|e| e.ts >= c);
    }

    /// The expected unstitched scan of a site over [from, to], optionally restricted to
    /// events whose name is one of `names`.
    pub fn expected(&self, site: &str, from: i64, to: i64, names: Option<&[String]>) -> Expected {
        let mut out: Expected = BTreeMap::new();
        for e in &self.events {
            if e.site != site || e.ts < from || e.ts > to {
                continue;
            }
            if let Some(ns) = names
                && !ns.iter().any(|n| n == e.name())
            {
                continue;
            }
            out.entry(e.visitor).or_default().push(event_key(e));
        }
        for v in out.values_mut() {
            v.sort();
        }
        out
    }

    /// The expected stitched scan: visitors linked to the same user merge under the
    /// smallest of the visitor ids linked to that user.
    pub fn expected_stitched(&self, site: &str) -> Expected {
        let mut by_user: HashMap<&str, Vec<u64>> = HashMap::new();
        for ((s, v), (u, _)) in &self.links {
            if s == site {
                by_user.entry(u).or_default().push(*v);
            }
        }
        let mut canon: HashMap<u64, u64> = HashMap::new();
        for vs in by_user.values() {
            let min = *vs.iter().min().unwrap();
            for &v in vs {
                canon.insert(v, min);
            }
        }
        let mut out: Expected = BTreeMap::new();
        for (v, evs) in self.expected(site, i64::MIN, i64::MAX, None) {
            let c = canon.get(&v).copied().unwrap_or(v);
            out.entry(c).or_default().extend(evs);
        }
        for v in out.values_mut() {
            v.sort();
        }
        out
    }
}

/// Asserts two expectations are equal, naming the first visitor that differs.
#[track_caller]
pub fn assert_same(got: &Expected, want: &Expected, what: &str) {
    if got == want {
        return;
    }
    let short = |v: &[(i64, String)]| -> Vec<String> {
        v.iter()
            .map(|(t, s)| format!("{}@{}", s.replace('\u{1}', "|"), t - BASE))
            .collect()
    };
    for k in got.keys().chain(want.keys()) {
        let (g, w) = (got.get(k), want.get(k));
        if g != w {
            panic!(
                "{what}: visitor {k} differs\n got: {:?}\nwant: {:?}\n({} vs {} visitors)",
                g.map(|v| short(v)),
                w.map(|v| short(v)),
                got.len(),
                want.len()
            );
        }
    }
}

/// Collects a scan into the comparable form, checking that each timeline is in time order
/// and that no visitor comes twice.
pub fn collect(scan: &Scan) -> Expected {
    let mut out: Expected = BTreeMap::new();
    let mut dup = None;
    scan.for_each(|t| {
        assert!(
            t.ts.windows(2).all(|w| w[0] <= w[1]),
            "timeline out of order"
        );
        let evs: Vec<_> = (0..t.len()).map(|i| timeline_key(scan, t, i)).collect();
        if out.insert(t.visitor, evs).is_some() {
            dup = Some(t.visitor);
        }
    })
    .expect("scan");
    assert_eq!(dup, None, "a visitor came twice");
    for v in out.values_mut() {
        v.sort();
    }
    out
}

/// A request projecting every column.
pub fn full_request(site: &str) -> ScanRequest {
    let mut r = ScanRequest::new(site).dims(&Dim::ALL);
    r.props = true;
    r.revenue = true;
    r
}

/// Checks every way of reading the store against the model.
pub fn check(store: &Store, model: &Model, salt: u64) {
    for site in SITES {
        let want = model.expected(site, i64::MIN, i64::MAX, None);
        let scan = store.scan(full_request(site)).expect("scan");
        assert_same(&collect(&scan), &want, &format!("full scan of {site}"));

        // Split into ranges: the union of the parts is the whole, with no overlap.
        let n = 1 + (salt % 4) as usize;
        let ranges = scan.split(n);
        let mut parts: Expected = BTreeMap::new();
        let mut prev_hi: Option<u64> = None;
        for r in &ranges {
            if let Some(h) = prev_hi {
                assert_eq!(r.lo, h + 1, "ranges are contiguous");
            }
            prev_hi = Some(r.hi);
            let d = scan
                .scan_range(*r, |t| {
                    assert!(t.visitor >= r.lo && t.visitor <= r.hi);
                    let mut evs: Vec<_> = (0..t.len()).map(|i| timeline_key(&scan, t, i)).collect();
                    evs.sort();
                    assert!(parts.insert(t.visitor, evs).is_none());
                })
                .expect("range");
            assert!(d.is_empty(), "nothing deferred without stitching");
        }
        assert_eq!(ranges.first().map(|r| r.lo), Some(0));
        assert_eq!(ranges.last().map(|r| r.hi), Some(u64::MAX));
        assert_same(&parts, &want, &format!("split scan of {site}"));

        // A time range and a predicate.
        let from = BASE + (salt % 3) as i64 * DAY / 2;
        let to = from + DAY + (salt % 7) as i64 * 3_600_000;
        // The range alone (blocks it cuts: runs with no row in it passed over, runs
        // wholly in it copied whole).
        let scan = store
            .scan(full_request(site).range(from, to))
            .expect("scan");
        assert_same(
            &collect(&scan),
            &model.expected(site, from, to, None),
            &format!("range scan of {site}"),
        );
        let names = vec!["signup".to_string(), "purchase".to_string()];
        let mut req = full_request(site).range(from, to);
        req.filters.push((Dim::Name, names.clone()));
        let scan = store.scan(req).expect("scan");
        assert_same(
            &collect(&scan),
            &model.expected(site, from, to, Some(&names)),
            &format!("filtered range scan of {site}"),
        );

        // Stitched: leads' visitors merged.
        let mut req = full_request(site);
        req.stitch = true;
        let scan = store.scan(req).expect("scan");
        assert_same(
            &collect(&scan),
            &model.expected_stitched(site),
            &format!("stitched {site}"),
        );
        let folded = (&scan as &dyn TimelineScan)
            .par_fold(2, || 0usize, |n, t| *n += t.len())
            .expect("par_fold");
        let total: usize = model.events.iter().filter(|e| e.site == site).count();
        assert_eq!(folded.iter().sum::<usize>(), total, "par_fold of {site}");
    }

    // Export order: site, visitor, time.
    let mut exported = Vec::new();
    store
        .for_each_event(|e| {
            exported.push(e.clone());
            Ok(())
        })
        .expect("export");
    assert!(
        exported
            .windows(2)
            .all(|w| (&w[0].site, w[0].visitor, w[0].ts) <= (&w[1].site, w[1].visitor, w[1].ts)),
        "export is ordered"
    );
    let mut a: Vec<_> = exported
        .iter()
        .map(|e| (e.site.clone(), e.visitor, event_key(e)))
        .collect();
    let mut b: Vec<_> = model
        .events
        .iter()
        .map(|e| (e.site.clone(), e.visitor, event_key(e)))
        .collect();
    a.sort();
    b.sort();
    assert_eq!(a, b, "export");

    let st = store.stats().expect("stats");
    assert_eq!(st.events, model.events.len() as u64, "stats.events");
    let mut per_site: std::collections::BTreeMap<String, u64> = Default::default();
    for e in &model.events {
        *per_site.entry(e.site.clone()).or_default() += 1;
    }
    assert_eq!(st.sites, per_site, "stats.sites");
    let visitors: std::collections::HashSet<(&str, u64)> = model
        .events
        .iter()
        .map(|e| (e.site.as_str(), e.visitor))
        .collect();
    assert_eq!(st.visitors, visitors.len() as u64, "stats.visitors");

    for site in SITES {
        let ids = store.user_links(site);
        let mut got: Vec<(u64, String)> = ids
            .by_visitor
            .iter()
            .map(|(v, (u, _))| (*v, u.clone()))
            .collect();
        let mut want: Vec<(u64, String)> = model
            .links
            .iter()
            .filter(|((s, _), _)| s == site)
            .map(|((_, v), (u, _))| (*v, u.clone()))
            .collect();
        got.sort();
        want.sort();
        assert_eq!(got, want, "identity links of {site}");
    }
    let _ = VisitorRange::ALL;
}
