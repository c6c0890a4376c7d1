//! Per path, or per page (paths after the grouping rules): pageviews, unique visitors,
//! entries, exits, exit rate and bounce rate.

use cairn_model::Dim;
use cairn_model::query::PagesSpec;
use cairn_model::query::result::{PageRow, PagesResult};
use cairn_timeline::Timeline;
use rustc_hash::FxHashMap;

use super::{bounced, passive_pred};
use crate::Error;
use crate::driver::{self, Analysis, Cx, Pass, Scope};
use crate::matcher::{EventPred, Needs};
use crate::prepare::Prepared;
use crate::stats::wilson;

pub(crate) fn run(cx: Cx<'_>, spec: &PagesSpec) -> Result<PagesResult, Error> {
    driver::run(cx, &Pages { spec }, cx.r.from, cx.r.to)
}

struct Pages<'a> {
    spec: &'a PagesSpec,
}

impl<'a> Analysis for Pages<'a> {
    type Pass = PagesPass<'a>;

    fn needs(&self, needs: &mut Needs) {
        needs.dims[Dim::Path.index()] = true;
    }

    fn compile(&self, sc: &Scope<'_>) -> PagesPass<'a> {
        PagesPass {
            spec: self.spec,
            passive: passive_pred(sc),
        }
    }
}

struct PagesPass<'a> {
    spec: &'a PagesSpec,
    passive: EventPred,
}

#[derive(Default)]
struct PageAcc {
    pageviews: u64,
    visitors: u64,
    entries: u64,
    exits: u64,
    bounces: u64,
}

/// Per path id: its counts; then scratch space (passive flags, paths seen).
type State = (FxHashMap<u32, PageAcc>, Vec<bool>, Vec<u32>);

impl Pass for PagesPass<'_> {
    type State = State;
    type Output = PagesResult;

    fn state(&self) -> State {
        Default::default()
    }

    fn timeline(&self, sc: &Scope<'_>, tl: &Timeline, prep: &Prepared, st: &mut State) {
        let (m, pas, seen) = st;
        pas.clear();
        pas.extend(prep.kept.iter().map(|&i| self.passive.test(tl, i as usize)));
        let grouped = self.spec.grouped;
        let path = |p: usize| {
            let id = tl.dims[Dim::Path.index()][prep.kept[p] as usize];
            if grouped { sc.pages.page(id) } else { id }
        };
        seen.clear();
        for p in 0..prep.kept.len() {
            if prep.pageview[p] {
                m.entry(path(p)).or_default().pageviews += 1;
                seen.push(path(p));
            }
        }
        seen.sort_unstable();
        seen.dedup();
        for &s in seen.iter() {
            m.entry(s).or_default().visitors += 1;
        }
        for &(a, b) in &prep.sessions {
            let (a, b) = (a as usize, b as usize);
            let Some(first) = (a..b).find(|&p| prep.pageview[p]) else {
                continue;
            };
            let last = (a..b).rev().find(|&p| prep.pageview[p]).unwrap_or(first);
            let e = m.entry(path(first)).or_default();
            e.entries += 1;
            if bounced(prep, pas, a, b) {
                e.bounces += 1;
            }
            m.entry(path(last)).or_default().exits += 1;
        }
    }

    fn merge(&self, into: &mut State, from: State) {
        for (k, v) in from.0 {
            let e = into.0.entry(k).or_default();
            e.pageviews += v.pageviews;
            e.visitors += v.visitors;
            e.entries += v.entries;
            e.exits += v.exits;
            e.bounces += v.bounces;
        }
    }

    fn finish(self, sc: &Scope<'_>, (all, ..): State) -> PagesResult {
        let dict = sc.scan.dict(Dim::Path);
        let grouped = self.spec.grouped;
        let mut rows: Vec<PageRow> = all
            .into_iter()
            .map(|(k, v)| PageRow {
                path: if k == 0 {
                    "(none)".into()
                } else if grouped {
                    sc.pages.name(sc.scan, k).to_string()
                } else {
                    dict.get(k).to_string()
                },
                group: if grouped {
                    None
                } else {
                    sc.pages.group_of(k).map(str::to_string)
                },
                pageviews: v.pageviews,
                visitors: v.visitors,
                entries: v.entries,
                exits: v.exits,
                exit_rate: wilson(v.exits, v.pageviews),
                bounce_rate: wilson(v.bounces, v.entries),
            })
            .collect();
        rows.sort_by(|a, b| {
            b.pageviews
                .cmp(&a.pageviews)
                .then_with(|| a.path.cmp(&b.path))
        });
        rows.truncate(self.spec.limit);
        PagesResult { pages: rows }
    }
}
