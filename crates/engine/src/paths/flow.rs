//! The `paths` analysis: per unit, the sequence of nodes forward from a start (or from
//! its first node) or backward to an end, counted step by step so that every step adds
//! up: step k's nodes plus the units that ended after step k − 1 are the units of step
//! k − 1.

use cairn_model::query::result::{
    PathLink, PathNode, PathNodeKind, PathSequence, PathStep, PathsResult,
};
use cairn_model::query::{PathsSpec, Query, Step};
use cairn_timeline::Timeline;
use rustc_hash::FxHashMap;

use super::{NodeId, NodeRules, Nodes, UnitNodes, add_counts, describe, other, top, unit_ranges};
use crate::Error;
use crate::driver::{self, Analysis, Cx, Pass, Scope};
use crate::funnel::{Alt, alt_hit, compile_step, step_needs};
use crate::matcher::Needs;
use crate::prepare::Prepared;

pub(crate) fn run(cx: Cx<'_>, spec: &PathsSpec) -> Result<PathsResult, Error> {
    driver::run(cx, &Paths { q: cx.q, spec }, cx.r.from, cx.r.to)
}

struct Paths<'a> {
    q: &'a Query,
    spec: &'a PathsSpec,
}

impl<'a> Paths<'a> {
    fn rules(&self) -> NodeRules<'a> {
        NodeRules {
            kinds: &self.spec.nodes,
            conditions: &self.spec.conditions,
            collapse: self.spec.collapse_repeats,
        }
    }

    fn anchor(&self) -> Option<&'a Step> {
        self.spec.start.as_deref().or(self.spec.end.as_deref())
    }
}

impl<'a> Analysis for Paths<'a> {
    type Pass = PathsPass<'a>;

    fn goals(&self) -> Vec<&str> {
        let mut g = self.rules().goals(self.q);
        if let Some(a) = self.anchor() {
            g.extend(
                std::iter::once(a)
                    .chain(&a.any_of)
                    .filter_map(|s| s.goal.as_deref()),
            );
        }
        g
    }

    fn needs(&self, needs: &mut Needs) {
        self.rules().needs(needs);
        if let Some(a) = self.anchor() {
            step_needs(a, needs);
        }
    }

    fn compile(&self, sc: &Scope<'_>) -> PathsPass<'a> {
        let anchor = self.anchor().map(|a| {
            let alts = compile_step(sc, self.q, a);
            // An anchor on a goal is that goal's node.
            let goal = if a.any_of.is_empty() {
                a.goal
                    .as_ref()
                    .and_then(|g| self.q.goals.iter().position(|x| &x.name == g))
            } else {
                None
            };
            (alts, goal)
        });
        PathsPass {
            q: self.q,
            spec: self.spec,
            nodes: self.rules().compile(sc),
            anchor,
            backward: self.spec.end.is_some(),
        }
    }
}

pub(crate) struct PathsPass<'a> {
    q: &'a Query,
    spec: &'a PathsSpec,
    nodes: Nodes,
    anchor: Option<(Vec<Alt>, Option<usize>)>,
    backward: bool,
}

/// Per-worker counts.
#[derive(Default)]
pub(crate) struct Acc {
    /// Units with at least one node.
    units: u64,
    /// Per step (0-based), units per node.
    steps: Vec<FxHashMap<NodeId, u64>>,
    /// Per step (0-based, from 1), units that ended after the previous step.
    ended: Vec<u64>,
    /// (step, from, to or `END`) → units.
    links: FxHashMap<(u8, NodeId, NodeId), u64>,
    /// Units beyond the last step.
    beyond: u64,
    /// (nodes, complete) → durations.
    sequences: FxHashMap<Sequence, Vec<i64>>,
    /// Scratch: the unit's nodes, and its path.
    buf: UnitNodes,
    path: Vec<(NodeId, u32)>,
}

/// A sequence of nodes in time order, and whether it is whole.
type Sequence = (Vec<NodeId>, bool);

/// The end of a path: exit (forward) or entrance (backward).
const END: NodeId = u64::MAX;

impl PathsPass<'_> {
    fn unit(
        &self,
        sc: &Scope<'_>,
        tl: &Timeline,
        prep: &Prepared,
        a: usize,
        b: usize,
        acc: &mut Acc,
    ) {
        let mut buf = std::mem::take(&mut acc.buf);
        self.nodes.fill(sc, tl, prep, a, b, &mut buf);
        let n = self.spec.steps;
        if !buf.nodes.is_empty() {
            acc.units += 1;
        }
        let path = &mut acc.path;
        path.clear();
        match &self.anchor {
            None => path.extend(buf.nodes.iter().take(n + 1)),
            Some((alts, goal)) => {
                let Some(p) = (a..b).find(|&p| alt_hit(alts, tl, prep, p)) else {
                    acc.buf = buf;
                    return;
                };
                let first = match goal {
                    Some(g) => super::goal_node(*g),
                    None => self.nodes.natural(sc, tl, prep, p),
                };
                path.push((first, p as u32));
                let p = p as u32;
                if self.backward {
                    let before = buf.nodes.partition_point(|&(_, q)| q < p);
                    for &(node, q) in buf.nodes[..before].iter().rev() {
                        if path.len() > n {
                            break;
                        }
                        if self.spec.collapse_repeats && path.last().is_some_and(|x| x.0 == node) {
                            continue;
                        }
                        path.push((node, q));
                    }
                } else {
                    let after = buf.nodes.partition_point(|&(_, q)| q <= p);
                    for &(node, q) in &buf.nodes[after..] {
                        if path.len() > n {
                            break;
                        }
                        if self.spec.collapse_repeats && path.last().is_some_and(|x| x.0 == node) {
                            continue;
                        }
                        path.push((node, q));
                    }
                }
            }
        }
        acc.buf = buf;
        let len = path.len();
        if len == 0 {
            return;
        }
        let shown = len.min(n);
        for (k, &(node, _)) in path[..shown].iter().enumerate() {
            *acc.steps[k].entry(node).or_default() += 1;
        }
        for k in 0..shown.min(n - 1) {
            let to = if k + 1 < len { path[k + 1].0 } else { END };
            *acc.links.entry((k as u8, path[k].0, to)).or_default() += 1;
        }
        if len < n {
            acc.ended[len] += 1;
        }
        let complete = len <= n;
        if !complete {
            acc.beyond += 1;
        }
        if self.spec.sequences > 0 {
            let t = |x: &(NodeId, u32)| prep.ts[x.1 as usize];
            let ms = (t(&path[shown - 1]) - t(&path[0])).abs();
            let mut key: Vec<NodeId> = path[..shown].iter().map(|x| x.0).collect();
            if self.backward {
                key.reverse();
            }
            acc.sequences.entry((key, complete)).or_default().push(ms);
        }
    }
}

impl Pass for PathsPass<'_> {
    type State = Acc;
    type Output = PathsResult;

    fn state(&self) -> Acc {
        Acc {
            steps: vec![FxHashMap::default(); self.spec.steps],
            ended: vec![0; self.spec.steps],
            ..Acc::default()
        }
    }

    fn timeline(&self, sc: &Scope<'_>, tl: &Timeline, prep: &Prepared, st: &mut Acc) {
        for (a, b) in unit_ranges(self.spec.unit, prep) {
            self.unit(sc, tl, prep, a, b, st);
        }
    }

    fn merge(&self, into: &mut Acc, from: Acc) {
        into.units += from.units;
        into.beyond += from.beyond;
        for (a, b) in into.steps.iter_mut().zip(from.steps) {
            add_counts(a, b);
        }
        for (a, b) in into.ended.iter_mut().zip(from.ended) {
            *a += b;
        }
        add_counts(&mut into.links, from.links);
        for (k, mut v) in from.sequences {
            into.sequences.entry(k).or_default().append(&mut v);
        }
    }

    fn finish(self, sc: &Scope<'_>, acc: Acc) -> PathsResult {
        let q = self.q;
        let end = if self.backward {
            PathNode {
                kind: PathNodeKind::Entrance,
                name: "(entrance)".into(),
            }
        } else {
            super::exit()
        };
        // Per step: the nodes listed; the others are `other`.
        let mut listed: Vec<FxHashMap<NodeId, PathNode>> = Vec::new();
        let mut steps = Vec::with_capacity(acc.steps.len());
        for (k, counts) in acc.steps.into_iter().enumerate() {
            let units: u64 = counts.values().sum();
            let mut by_name: Vec<(PathNode, u64)> = Vec::with_capacity(counts.len());
            let mut ids: FxHashMap<PathNode, NodeId> = FxHashMap::default();
            for (id, c) in counts {
                let node = describe(sc, q, id);
                ids.insert(node.clone(), id);
                by_name.push((node, c));
            }
            let nodes = top(by_name, self.spec.limit);
            listed.push(
                nodes
                    .iter()
                    .filter(|r| r.node.kind != PathNodeKind::Other)
                    .map(|r| (ids[&r.node], r.node.clone()))
                    .collect(),
            );
            steps.push(PathStep {
                step: k + 1,
                units,
                nodes,
                ended: acc.ended[k],
            });
        }
        let name = |k: usize, id: NodeId| -> PathNode {
            if id == END {
                return end.clone();
            }
            listed[k].get(&id).cloned().unwrap_or_else(other)
        };
        let mut links: FxHashMap<(usize, PathNode, PathNode), u64> = FxHashMap::default();
        for ((k, from, to), units) in acc.links {
            let k = k as usize;
            *links
                .entry((k + 1, name(k, from), name(k + 1, to)))
                .or_default() += units;
        }
        let mut links: Vec<PathLink> = links
            .into_iter()
            .map(|((step, from, to), units)| PathLink {
                step,
                from,
                to,
                units,
            })
            .collect();
        links.sort_by(|a, b| {
            a.step
                .cmp(&b.step)
                .then(b.units.cmp(&a.units))
                .then_with(|| a.from.cmp(&b.from))
                .then_with(|| a.to.cmp(&b.to))
        });
        let followed = steps.first().map_or(0, |s| s.units);
        let mut seqs: Vec<(Sequence, Vec<i64>)> = acc.sequences.into_iter().collect();
        let key = |s: &(Sequence, Vec<i64>)| s.1.len();
        let mut described: Vec<(Vec<PathNode>, bool, Vec<i64>)> = Vec::new();
        if self.spec.sequences > 0 {
            seqs.sort_by_key(|s| std::cmp::Reverse(key(s)));
            // Ties at the cut are decided by the nodes' names: describe every sequence
            // with as many units as the last one kept.
            let cut = seqs.get(self.spec.sequences - 1).map_or(0, |s| s.1.len());
            for ((ids, complete), times) in seqs.into_iter().take_while(|s| s.1.len() >= cut) {
                described.push((
                    ids.iter().map(|&id| describe(sc, q, id)).collect(),
                    complete,
                    times,
                ));
            }
            described.sort_by(|a, b| {
                b.2.len()
                    .cmp(&a.2.len())
                    .then_with(|| a.0.cmp(&b.0))
                    .then_with(|| b.1.cmp(&a.1))
            });
            described.truncate(self.spec.sequences);
        }
        let sequences = described
            .into_iter()
            .map(|(nodes, complete, mut times)| {
                times.sort_unstable();
                let units = times.len() as u64;
                PathSequence {
                    nodes,
                    complete,
                    units,
                    share: if followed > 0 {
                        units as f64 / followed as f64
                    } else {
                        0.0
                    },
                    median_ms: crate::stats::nearest_rank(&times, 0.5),
                }
            })
            .collect();
        PathsResult {
            direction: if self.backward { "backward" } else { "forward" }.into(),
            unit: self.spec.unit,
            units: acc.units,
            followed,
            steps,
            links,
            beyond: acc.beyond,
            sequences,
        }
    }
}
