//! The `transitions` analysis: for one node, what came just before each time a unit was
//! there (a node, or the unit's entrance, by source) and just after (a node, or the
//! exit); without a node, every pair of a node and what came next. Each list sums to
//! the node's occurrences.

use cairn_model::Dim;
use cairn_model::query::result::{NodePair, NodeUnits, PathNode, PathNodeKind, TransitionsResult};
use cairn_model::query::{NodeKind, Query, TransitionsSpec};
use cairn_timeline::Timeline;
use rustc_hash::FxHashMap;

use super::{
    NodeId, NodeRules, Nodes, UnitNodes, add_counts, describe, find, other, top, unit_ranges,
};
use crate::Error;
use crate::driver::{self, Analysis, Cx, Pass, Scope};
use crate::matcher::Needs;
use crate::prepare::Prepared;

pub(crate) fn run(cx: Cx<'_>, spec: &TransitionsSpec) -> Result<TransitionsResult, Error> {
    let mut kinds = spec.nodes.clone();
    if let Some(n) = &spec.node
        && !kinds.contains(&n.kind)
    {
        kinds.push(n.kind);
    }
    driver::run(
        cx,
        &Transitions {
            q: cx.q,
            spec,
            kinds,
        },
        cx.r.from,
        cx.r.to,
    )
}

struct Transitions<'a> {
    q: &'a Query,
    spec: &'a TransitionsSpec,
    kinds: Vec<NodeKind>,
}

impl Transitions<'_> {
    fn rules(&self) -> NodeRules<'_> {
        NodeRules {
            kinds: &self.kinds,
            conditions: &self.spec.conditions,
            collapse: self.spec.collapse_repeats,
        }
    }
}

impl<'a> Analysis for Transitions<'a> {
    type Pass = TransitionsPass<'a>;

    fn goals(&self) -> Vec<&str> {
        self.rules().goals(self.q)
    }

    fn needs(&self, needs: &mut Needs) {
        self.rules().needs(needs);
        // Entrances are named by their source (around a node only).
        if self.spec.node.is_some() {
            needs.dims[Dim::Source.index()] = true;
        }
    }

    fn compile(&self, sc: &Scope<'_>) -> TransitionsPass<'a> {
        TransitionsPass {
            q: self.q,
            spec: self.spec,
            nodes: self.rules().compile(sc),
            node: self.spec.node.as_ref().map(|n| {
                find(
                    sc,
                    self.q,
                    &PathNode {
                        kind: match n.kind {
                            NodeKind::Page => PathNodeKind::Page,
                            NodeKind::Event => PathNodeKind::Event,
                            NodeKind::Goal => PathNodeKind::Goal,
                        },
                        name: n.name.clone(),
                    },
                )
            }),
        }
    }
}

pub(crate) struct TransitionsPass<'a> {
    q: &'a Query,
    spec: &'a TransitionsSpec,
    nodes: Nodes,
    /// The node asked for (`Some(None)`: it never occurs in the range).
    node: Option<Option<NodeId>>,
}

/// A node before the first: the entrance, by the source id of the unit's first event.
const ENTRANCE: u64 = 1 << 63;
/// After the last: the exit.
const EXIT: NodeId = u64::MAX;

#[derive(Default)]
pub(crate) struct Acc {
    occurrences: u64,
    units: u64,
    previous: FxHashMap<NodeId, u64>,
    next: FxHashMap<NodeId, u64>,
    pairs: FxHashMap<(NodeId, NodeId), u64>,
    buf: UnitNodes,
}

impl TransitionsPass<'_> {
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
        let seq = &buf.nodes;
        match self.node {
            None => {
                if !seq.is_empty() {
                    acc.units += 1;
                }
                acc.occurrences += seq.len() as u64;
                for (i, &(n, _)) in seq.iter().enumerate() {
                    let to = seq.get(i + 1).map_or(EXIT, |x| x.0);
                    *acc.pairs.entry((n, to)).or_default() += 1;
                }
            }
            Some(None) => {}
            Some(Some(node)) => {
                let mut seen = false;
                for (i, &(n, _)) in seq.iter().enumerate() {
                    if n != node {
                        continue;
                    }
                    seen = true;
                    acc.occurrences += 1;
                    let prev = if i == 0 {
                        let src = tl.dims[Dim::Source.index()][prep.kept[a] as usize];
                        ENTRANCE | src as u64
                    } else {
                        seq[i - 1].0
                    };
                    *acc.previous.entry(prev).or_default() += 1;
                    let next = seq.get(i + 1).map_or(EXIT, |x| x.0);
                    *acc.next.entry(next).or_default() += 1;
                }
                acc.units += u64::from(seen);
            }
        }
        acc.buf = buf;
    }

    fn describe(&self, sc: &Scope<'_>, id: NodeId) -> PathNode {
        if id == EXIT {
            super::exit()
        } else if id & ENTRANCE != 0 {
            let src = sc.scan.dict(Dim::Source).get(id as u32);
            PathNode {
                kind: PathNodeKind::Entrance,
                name: if src.is_empty() {
                    "(direct)".into()
                } else {
                    src.to_string()
                },
            }
        } else {
            describe(sc, self.q, id)
        }
    }

    fn list(&self, sc: &Scope<'_>, m: FxHashMap<NodeId, u64>) -> Vec<NodeUnits> {
        let mut rows: FxHashMap<PathNode, u64> = FxHashMap::default();
        for (id, c) in m {
            *rows.entry(self.describe(sc, id)).or_default() += c;
        }
        top(rows.into_iter().collect(), self.spec.limit)
    }
}

impl Pass for TransitionsPass<'_> {
    type State = Acc;
    type Output = TransitionsResult;

    fn state(&self) -> Acc {
        Acc::default()
    }

    fn timeline(&self, sc: &Scope<'_>, tl: &Timeline, prep: &Prepared, st: &mut Acc) {
        for (a, b) in unit_ranges(self.spec.unit, prep) {
            self.unit(sc, tl, prep, a, b, st);
        }
    }

    fn merge(&self, into: &mut Acc, from: Acc) {
        into.occurrences += from.occurrences;
        into.units += from.units;
        add_counts(&mut into.previous, from.previous);
        add_counts(&mut into.next, from.next);
        add_counts(&mut into.pairs, from.pairs);
    }

    fn finish(self, sc: &Scope<'_>, acc: Acc) -> TransitionsResult {
        let limit = self.spec.limit;
        let mut pairs = Vec::new();
        if self.node.is_none() {
            let mut rows: Vec<(PathNode, PathNode, u64)> = acc
                .pairs
                .into_iter()
                .map(|((f, t), c)| (self.describe(sc, f), self.describe(sc, t), c))
                .collect();
            rows.sort_by(|a, b| {
                b.2.cmp(&a.2)
                    .then_with(|| a.0.cmp(&b.0))
                    .then_with(|| a.1.cmp(&b.1))
            });
            let rest: u64 = rows.iter().skip(limit).map(|r| r.2).sum();
            let more = rows.len() > limit;
            rows.truncate(limit);
            pairs = rows
                .into_iter()
                .map(|(from, to, count)| NodePair { from, to, count })
                .collect();
            if more {
                pairs.push(NodePair {
                    from: other(),
                    to: other(),
                    count: rest,
                });
            }
        }
        TransitionsResult {
            unit: self.spec.unit,
            occurrences: acc.occurrences,
            units: acc.units,
            previous: self.list(sc, acc.previous),
            next: self.list(sc, acc.next),
            pairs,
        }
    }
}
