//! A timeline source over events held in a `Vec`: the plain reference the other sources
//! are checked against, and a source for tests and small tools.

use std::collections::{BTreeMap, HashMap};

use cairn_model::{Dim, Event, PropValue};
use rustc_hash::FxHashMap;

use crate::{
    PropEntry, PropVal, QueryDict, ScanDicts, ScanRequest, SourceError, Timeline, TimelineScan,
    TimelineSource, VisitorRange,
};

/// Events in arrival order, and visitor → user links (any sites).
#[derive(Debug, Clone, Default)]
pub struct MemorySource {
    /// The events, in arrival order.
    pub events: Vec<Event>,
    /// Visitor → user links (visitor ids are per site: hold one site per source when
    /// they collide).
    pub links: HashMap<u64, String>,
}

impl MemorySource {
    /// A source over `events` and `links`.
    pub fn new(events: Vec<Event>, links: HashMap<u64, String>) -> MemorySource {
        MemorySource { events, links }
    }
}

struct MemoryScan<'a> {
    src: &'a MemorySource,
    req: ScanRequest,
    dicts: ScanDicts,
    /// Single visitors' timelines, by visitor.
    single: Vec<Timeline>,
    /// Stitched leads' timelines, by smallest visitor id.
    stitched: Vec<Timeline>,
}

impl TimelineSource for MemorySource {
    fn scan(&self, req: ScanRequest) -> Result<Box<dyn TimelineScan + '_>, SourceError> {
        let mut dicts = vec![QueryDict::default(); Dim::ALL.len()];
        let mut prop_keys = QueryDict::default();
        let mut prop_values = QueryDict::default();
        let mut currencies = QueryDict::default();
        let mut by_visitor: BTreeMap<u64, Timeline> = BTreeMap::new();
        for e in &self.events {
            if e.site != req.site || e.ts < req.from || e.ts > req.to {
                continue;
            }
            if !req
                .filters
                .iter()
                .all(|(d, vals)| vals.iter().any(|v| v == e.dim(*d)))
            {
                continue;
            }
            let tl = by_visitor.entry(e.visitor).or_insert_with(|| {
                let mut t = Timeline::empty();
                t.visitor = e.visitor;
                t
            });
            tl.ts.push(e.ts);
            for &d in &req.dims {
                tl.dims[d.index()].push(dicts[d.index()].intern(e.dim(d)));
            }
            if req.props {
                if tl.prop_offsets.is_empty() {
                    tl.prop_offsets.push(0);
                }
                for (k, v) in e.props.iter().filter(|(k, _)| req.wants_key(k)) {
                    let val = match v {
                        PropValue::Str(_) if !req.prop_strings => PropVal::Str(0),
                        PropValue::Str(s) => PropVal::Str(prop_values.intern(s)),
                        PropValue::Num(n) => PropVal::Num(*n),
                        PropValue::Bool(b) => PropVal::Bool(*b),
                    };
                    let key = prop_keys.intern(k);
                    tl.prop_entries.push(PropEntry { key, val });
                }
                tl.prop_offsets.push(tl.prop_entries.len() as u32);
            }
            if req.revenue {
                tl.revenue.push(
                    e.revenue
                        .as_ref()
                        .map(|r| (r.micros, currencies.intern(&r.currency))),
                );
            }
        }
        for tl in by_visitor.values_mut() {
            tl.sort_by_time();
        }
        // Leads: users linked to more than one visitor (of the whole site, as the
        // store's identities are), stitched when asked.
        let mut canonical: FxHashMap<u64, u64> = FxHashMap::default();
        if req.stitch {
            let mut by_user: HashMap<&str, Vec<u64>> = HashMap::new();
            for (v, u) in &self.links {
                by_user.entry(u).or_default().push(*v);
            }
            for vs in by_user.values_mut().filter(|vs| vs.len() > 1) {
                vs.sort_unstable();
                for &v in vs.iter() {
                    canonical.insert(v, vs[0]);
                }
            }
        }
        let mut single = Vec::new();
        let mut leads: BTreeMap<u64, Timeline> = BTreeMap::new();
        for (v, tl) in by_visitor {
            match canonical.get(&v) {
                None => single.push(tl),
                Some(&c) => {
                    let lead = leads.entry(c).or_insert_with(|| {
                        let mut t = Timeline::empty();
                        t.visitor = c;
                        t
                    });
                    lead.append(&tl, req.props);
                }
            }
        }
        let mut stitched: Vec<Timeline> = leads.into_values().collect();
        for tl in &mut stitched {
            tl.sort_by_time();
        }
        Ok(Box::new(MemoryScan {
            src: self,
            req,
            dicts: ScanDicts {
                dims: dicts,
                prop_keys,
                prop_values,
                currencies,
            },
            single,
            stitched,
        }))
    }
}

impl TimelineScan for MemoryScan<'_> {
    fn request(&self) -> &ScanRequest {
        &self.req
    }

    fn dicts(&self) -> &ScanDicts {
        &self.dicts
    }

    fn user_of(&self, visitor: u64) -> Option<&str> {
        self.src.links.get(&visitor).map(String::as_str)
    }

    fn split(&self, n: usize) -> Vec<VisitorRange> {
        // Cut at visitors so that each range holds about as many timelines.
        let n = n.max(1);
        let per = self.single.len().div_ceil(n).max(1);
        let mut out = Vec::new();
        let mut lo = 0u64;
        for chunk in self.single.chunks(per).skip(1) {
            let cut = chunk[0].visitor;
            out.push(VisitorRange { lo, hi: cut - 1 });
            lo = cut;
        }
        out.push(VisitorRange { lo, hi: u64::MAX });
        out
    }

    fn scan_range(
        &self,
        range: VisitorRange,
        f: &mut dyn FnMut(&Timeline),
    ) -> Result<Vec<Timeline>, SourceError> {
        for tl in self.single.iter().filter(|t| range.contains(t.visitor)) {
            f(tl);
        }
        Ok(self
            .stitched
            .iter()
            .filter(|t| range.contains(t.visitor))
            .cloned()
            .collect())
    }

    fn finish_stitched(&self, mut deferred: Vec<Timeline>, f: &mut dyn FnMut(&Timeline)) {
        deferred.sort_by_key(|t| t.visitor);
        for tl in &deferred {
            f(tl);
        }
    }
}
