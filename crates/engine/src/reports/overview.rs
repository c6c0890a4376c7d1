//! The overview: visitors, sessions, pageviews, events, bounce rate, pages per session
//! and session duration (last event − first event), for the range, per bucket of
//! session start, and per value of each breakdown (all in one pass).

use cairn_model::query::result::{
    OverviewBreakdown, OverviewBreakdownRow, OverviewBucket, OverviewFigures, OverviewResult,
};
use cairn_model::query::{Breakdown, OverviewSpec};
use cairn_timeline::Timeline;
use rustc_hash::FxHashMap;

use super::{bounced, passive_pred};
use crate::Error;
use crate::buckets::Buckets;
use crate::driver::{self, Analysis, Cx, Pass, Scope};
use crate::goals::{Key, unit_key};
use crate::matcher::{EventPred, FieldReader, Needs};
use crate::prepare::Prepared;
use crate::stats::{nearest_rank, wilson};

pub(crate) fn run(cx: Cx<'_>, spec: &OverviewSpec) -> Result<OverviewResult, Error> {
    driver::run(cx, &Overview { spec }, cx.r.from, cx.r.to)
}

struct Overview<'a> {
    spec: &'a OverviewSpec,
}

impl<'a> Analysis for Overview<'a> {
    type Pass = OverviewPass<'a>;

    fn needs(&self, needs: &mut Needs) {
        for b in self.spec.all_breakdowns() {
            needs.add_field(&b.by);
        }
    }

    fn compile(&self, sc: &Scope<'_>) -> OverviewPass<'a> {
        OverviewPass {
            spec: self.spec,
            passive: passive_pred(sc),
            readers: self
                .spec
                .all_breakdowns()
                .map(|b| FieldReader::new(sc.scan, &sc.pages, &b.by))
                .collect(),
            buckets: self
                .spec
                .interval
                .map(|iv| Buckets::new(sc.r.from, sc.r.to, iv, sc.r.tz)),
        }
    }
}

struct OverviewPass<'a> {
    spec: &'a OverviewSpec,
    passive: EventPred,
    /// One per breakdown, in [`OverviewSpec::all_breakdowns`]'s order.
    readers: Vec<FieldReader>,
    buckets: Option<Buckets>,
}

#[derive(Default, Clone)]
struct Fig {
    visitors: u64,
    sessions: u64,
    pageviews: u64,
    events: u64,
    bounces: u64,
    durations: Vec<i64>,
}

impl Fig {
    fn add(&mut self, o: Fig) {
        self.visitors += o.visitors;
        self.sessions += o.sessions;
        self.pageviews += o.pageviews;
        self.events += o.events;
        self.bounces += o.bounces;
        self.durations.extend(o.durations);
    }

    fn figures(mut self) -> OverviewFigures {
        self.durations.sort_unstable();
        let sum: i128 = self.durations.iter().map(|&d| d as i128).sum();
        OverviewFigures {
            visitors: self.visitors,
            sessions: self.sessions,
            pageviews: self.pageviews,
            events: self.events,
            bounce_rate: wilson(self.bounces, self.sessions),
            pages_per_session: if self.sessions > 0 {
                self.pageviews as f64 / self.sessions as f64
            } else {
                0.0
            },
            mean_duration_ms: if self.sessions > 0 {
                sum as f64 / self.sessions as f64
            } else {
                0.0
            },
            median_duration_ms: nearest_rank(&self.durations, 0.5),
        }
    }
}

/// Figures for the range, per bucket and per value of each breakdown, and scratch space.
struct State {
    all: Fig,
    per: Vec<Fig>,
    by: Vec<FxHashMap<Key, Fig>>,
    passive: Vec<bool>,
    seen_buckets: Vec<usize>,
    /// (breakdown, value) of the visitor's sessions.
    seen_keys: Vec<(usize, Key)>,
}

impl Pass for OverviewPass<'_> {
    type State = State;
    type Output = OverviewResult;

    fn state(&self) -> State {
        State {
            all: Fig::default(),
            per: vec![Fig::default(); self.buckets.as_ref().map_or(0, Buckets::len)],
            by: vec![FxHashMap::default(); self.readers.len()],
            passive: Vec::new(),
            seen_buckets: Vec::new(),
            seen_keys: Vec::new(),
        }
    }

    fn timeline(&self, _: &Scope<'_>, tl: &Timeline, prep: &Prepared, st: &mut State) {
        let State {
            all,
            per,
            by,
            passive,
            seen_buckets: seen,
            seen_keys: keys,
        } = st;
        passive.clear();
        passive.extend(prep.kept.iter().map(|&i| self.passive.test(tl, i as usize)));
        all.visitors += 1;
        seen.clear();
        keys.clear();
        for &(a, b) in &prep.sessions {
            let first = keys.len();
            for (i, rd) in self.readers.iter().enumerate() {
                keys.push((i, unit_key(rd, tl, prep, a, b)));
            }
            let (a, b) = (a as usize, b as usize);
            let pv = prep.pageview[a..b].iter().filter(|&&x| x).count() as u64;
            let bounce = u64::from(bounced(prep, passive, a, b));
            let dur = prep.ts[b - 1] - prep.ts[a];
            let bucket = self.buckets.as_ref().map(|bk| {
                let bi = bk.index(prep.ts[a]);
                seen.push(bi);
                &mut per[bi]
            });
            let add = |f: &mut Fig| {
                f.sessions += 1;
                f.pageviews += pv;
                f.events += (b - a) as u64;
                f.bounces += bounce;
                f.durations.push(dur);
            };
            add(all);
            if let Some(f) = bucket {
                add(f);
            }
            for &(i, k) in &keys[first..] {
                add(by[i].entry(k).or_default());
            }
        }
        seen.sort_unstable();
        seen.dedup();
        for &bi in seen.iter() {
            per[bi].visitors += 1;
        }
        keys.sort_unstable();
        keys.dedup();
        for &(i, k) in keys.iter() {
            by[i].entry(k).or_default().visitors += 1;
        }
    }

    fn merge(&self, into: &mut State, from: State) {
        into.all.add(from.all);
        for (x, y) in into.per.iter_mut().zip(from.per) {
            x.add(y);
        }
        for (into, from) in into.by.iter_mut().zip(from.by) {
            for (k, f) in from {
                into.entry(k).or_default().add(f);
            }
        }
    }

    fn finish(self, sc: &Scope<'_>, st: State) -> OverviewResult {
        let spec = self.spec;
        let mut tables = spec
            .all_breakdowns()
            .zip(&self.readers)
            .zip(st.by)
            .map(|((b, rd), by)| rows(sc, b, rd, by));
        let breakdown = if spec.breakdown.is_some() {
            tables.next().unwrap_or_default()
        } else {
            Vec::new()
        };
        let breakdowns = spec
            .breakdowns
            .iter()
            .zip(tables)
            .map(|(b, rows)| OverviewBreakdown {
                by: b.by.to_string(),
                rows,
            })
            .collect();
        let series = self
            .buckets
            .map(|bk| {
                st.per
                    .into_iter()
                    .enumerate()
                    .map(|(bi, f)| OverviewBucket {
                        start: bk.start(bi),
                        label: bk.label(bi).to_string(),
                        figures: f.figures(),
                    })
                    .collect()
            })
            .unwrap_or_default();
        OverviewResult {
            figures: st.all.figures(),
            series,
            breakdown_by: spec.breakdown.as_ref().map(|b| b.by.to_string()),
            breakdown,
            breakdowns,
        }
    }
}

/// A breakdown's rows: most visitors first (the figure the dashboard shows first), the
/// rest after `limit` summed into "(other)".
fn rows(
    sc: &Scope<'_>,
    b: &Breakdown,
    rd: &FieldReader,
    by: FxHashMap<Key, Fig>,
) -> Vec<OverviewBreakdownRow> {
    let mut rows: Vec<(String, Fig)> = by
        .into_iter()
        .map(|(k, f)| {
            let v = k.map_or_else(|| "(none)".to_string(), |t| rd.text(sc.scan, t));
            (v, f)
        })
        .collect();
    rows.sort_by(|x, y| y.1.visitors.cmp(&x.1.visitors).then_with(|| x.0.cmp(&y.0)));
    let mut out = Vec::new();
    let mut other: Option<Fig> = None;
    for (i, (value, f)) in rows.into_iter().enumerate() {
        if i < b.limit {
            out.push(OverviewBreakdownRow {
                value,
                figures: f.figures(),
            });
        } else {
            other.get_or_insert_with(Fig::default).add(f);
        }
    }
    if let Some(o) = other {
        out.push(OverviewBreakdownRow {
            value: "(other)".to_string(),
            figures: o.figures(),
        });
    }
    out
}
