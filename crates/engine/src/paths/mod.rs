//! Behaviour flow: the sequence of nodes (pages, events, goals) of each unit, and the
//! analyses over it — paths forward from a start or backward to an end ([`flow`]) and
//! transitions around a node ([`transitions`]). The funnel's flow (what units did after
//! dropping off, and the funnel against reality) reads the same nodes. Semantics:
//! `docs/paths.md`.

pub(crate) mod flow;
pub(crate) mod transitions;

use cairn_model::Dim;
use cairn_model::query::result::{PathNode, PathNodeKind};
use cairn_model::query::{Condition, NodeKind, Query, Unit};
use cairn_timeline::Timeline;

use crate::driver::Scope;
use crate::matcher::{EventPred, Needs};
use crate::prepare::Prepared;
use crate::reports::NON_INTERACTIVE;

/// A node, packed: kind in the high 32 bits, id in the low ones (page id, event name
/// id, goal index).
pub(crate) type NodeId = u64;

const PAGE: u64 = 0;
const EVENT: u64 = 1;
const GOAL: u64 = 2;

/// Whether a node is a page.
pub(crate) fn is_page(node: NodeId) -> bool {
    node >> 32 == PAGE
}

/// The node of goal `g`.
pub(crate) fn goal_node(g: usize) -> NodeId {
    GOAL << 32 | g as u64
}

/// What becomes a node, and how: from the query's node kinds and conditions.
pub(crate) struct NodeRules<'a> {
    pub kinds: &'a [NodeKind],
    pub conditions: &'a [Condition],
    pub collapse: bool,
}

impl NodeRules<'_> {
    /// The columns nodes read.
    pub fn needs(&self, needs: &mut Needs) {
        needs.dims[Dim::Path.index()] = true;
        needs.dims[Dim::Name.index()] = true;
        needs.add_conds(self.conditions);
    }

    /// The goals nodes name: every goal of the spec, when goals are nodes.
    pub fn goals<'q>(&self, q: &'q Query) -> Vec<&'q str> {
        if self.kinds.contains(&NodeKind::Goal) {
            q.goals.iter().map(|g| g.name.as_str()).collect()
        } else {
            Vec::new()
        }
    }

    /// Compiles the rules.
    pub fn compile(&self, sc: &Scope<'_>) -> Nodes {
        Nodes {
            page: self.kinds.contains(&NodeKind::Page),
            goal: self.kinds.contains(&NodeKind::Goal),
            only: (!self.conditions.is_empty())
                .then(|| EventPred::new(sc.scan, &sc.pages, &[self.conditions.to_vec()])),
            event_node: {
                let names = sc.scan.dict(Dim::Name);
                let event = self.kinds.contains(&NodeKind::Event);
                (0..names.len() as u32)
                    .map(|id| event && !NON_INTERACTIVE.contains(&names.get(id)))
                    .collect()
            },
            collapse: self.collapse,
        }
    }
}

/// Node rules compiled for one scan.
pub(crate) struct Nodes {
    page: bool,
    goal: bool,
    only: Option<EventPred>,
    /// Per event-name id: whether an event of that name that is not a pageview is a
    /// node (event nodes asked for, and not a passive event).
    event_node: Vec<bool>,
    collapse: bool,
}

/// One unit's nodes: (node, position in `prep.kept`), in time order, repeats collapsed
/// when asked.
#[derive(Default)]
pub(crate) struct UnitNodes {
    pub nodes: Vec<(NodeId, u32)>,
    /// Per position of the timeline's kept events, the first goal reached there.
    goal_at: Vec<u32>,
}

impl Nodes {
    /// The node an event is, whatever the node kinds: a goal it reaches when goals are
    /// nodes (the first in the spec's order), else its page, else its name.
    pub fn natural(&self, sc: &Scope<'_>, tl: &Timeline, prep: &Prepared, p: usize) -> NodeId {
        if self.goal {
            for (g, hits) in prep.hits.iter().enumerate() {
                if hits.binary_search(&(p as u32)).is_ok() {
                    return GOAL << 32 | g as u64;
                }
            }
        }
        let i = prep.kept[p] as usize;
        if prep.pageview[p] {
            PAGE << 32 | sc.pages.page(tl.dims[Dim::Path.index()][i]) as u64
        } else {
            EVENT << 32 | tl.dims[Dim::Name.index()][i] as u64
        }
    }

    /// The nodes of the kept positions `[a, b)`.
    pub fn fill(
        &self,
        sc: &Scope<'_>,
        tl: &Timeline,
        prep: &Prepared,
        a: usize,
        b: usize,
        out: &mut UnitNodes,
    ) {
        out.nodes.clear();
        if self.goal {
            out.goal_at.clear();
            out.goal_at.resize(b - a, u32::MAX);
            for (g, hits) in prep.hits.iter().enumerate() {
                let from = hits.partition_point(|&p| (p as usize) < a);
                for &p in hits[from..].iter().take_while(|&&p| (p as usize) < b) {
                    let slot = &mut out.goal_at[p as usize - a];
                    if *slot == u32::MAX {
                        *slot = g as u32;
                    }
                }
            }
        }
        for p in a..b {
            let i = prep.kept[p] as usize;
            if self.only.as_ref().is_some_and(|o| !o.test(tl, i)) {
                continue;
            }
            let node = if self.goal && out.goal_at[p - a] != u32::MAX {
                GOAL << 32 | out.goal_at[p - a] as u64
            } else if prep.pageview[p] {
                if !self.page {
                    continue;
                }
                PAGE << 32 | sc.pages.page(tl.dims[Dim::Path.index()][i]) as u64
            } else {
                if !self.event_node[tl.dims[Dim::Name.index()][i] as usize] {
                    continue;
                }
                EVENT << 32 | tl.dims[Dim::Name.index()][i] as u64
            };
            if self.collapse && out.nodes.last().is_some_and(|&(n, _)| n == node) {
                continue;
            }
            out.nodes.push((node, p as u32));
        }
    }
}

/// A node's kind and name.
pub(crate) fn describe(sc: &Scope<'_>, q: &Query, node: NodeId) -> PathNode {
    let id = node as u32;
    match node >> 32 {
        PAGE => PathNode {
            kind: PathNodeKind::Page,
            name: if id == 0 {
                "(none)".into()
            } else {
                sc.pages.name(sc.scan, id).to_string()
            },
        },
        EVENT => PathNode {
            kind: PathNodeKind::Event,
            name: sc.scan.dict(Dim::Name).get(id).to_string(),
        },
        _ => PathNode {
            kind: PathNodeKind::Goal,
            name: q.goals[id as usize].name.clone(),
        },
    }
}

/// The node named by `node` in this scan, if it occurs in it.
pub(crate) fn find(sc: &Scope<'_>, q: &Query, node: &PathNode) -> Option<NodeId> {
    match node.kind {
        PathNodeKind::Page => (0..sc.pages.len() as u32)
            .find(|&id| id != 0 && sc.pages.name(sc.scan, id) == node.name)
            .map(|id| PAGE << 32 | id as u64),
        PathNodeKind::Event => {
            let d = sc.scan.dict(Dim::Name);
            (1..d.len() as u32)
                .find(|&id| d.get(id) == node.name)
                .map(|id| EVENT << 32 | id as u64)
        }
        PathNodeKind::Goal => q
            .goals
            .iter()
            .position(|g| g.name == node.name)
            .map(|g| GOAL << 32 | g as u64),
        _ => None,
    }
}

/// The exit: no further node in the unit.
pub(crate) fn exit() -> PathNode {
    PathNode {
        kind: PathNodeKind::Exit,
        name: "(exit)".into(),
    }
}

/// The unit's units: `[a, b)` ranges of kept positions, one per session or the whole
/// timeline (a visitor).
pub(crate) fn unit_ranges(
    unit: Unit,
    prep: &Prepared,
) -> impl Iterator<Item = (usize, usize)> + '_ {
    let per_session = unit == Unit::Session;
    let sessions: &[(u32, u32)] = if per_session { &prep.sessions } else { &[] };
    let whole = (!per_session).then_some((0, prep.kept.len()));
    sessions
        .iter()
        .map(|&(a, b)| (a as usize, b as usize))
        .chain(whole)
}

/// Adds the counts of `from` into `into`.
pub(crate) fn add_counts<K: std::hash::Hash + Eq>(
    into: &mut rustc_hash::FxHashMap<K, u64>,
    from: rustc_hash::FxHashMap<K, u64>,
) {
    for (k, v) in from {
        *into.entry(k).or_default() += v;
    }
}

/// The `other` node.
pub(crate) fn other() -> PathNode {
    PathNode {
        kind: PathNodeKind::Other,
        name: "(other)".into(),
    }
}

/// Ranks `(node, count)` rows: most first, then by kind and name; keeps `limit` and
/// sums the rest into an `other` row that says how many nodes it holds.
pub(crate) fn top(
    mut rows: Vec<(PathNode, u64)>,
    limit: usize,
) -> Vec<cairn_model::query::result::NodeUnits> {
    use cairn_model::query::result::NodeUnits;
    rows.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let mut out: Vec<NodeUnits> = Vec::with_capacity(limit.min(rows.len()) + 1);
    let (mut rest, mut rest_nodes) = (0u64, 0u64);
    for (i, (node, count)) in rows.into_iter().enumerate() {
        if i < limit {
            out.push(NodeUnits {
                node,
                count,
                nodes: None,
            });
        } else {
            rest += count;
            rest_nodes += 1;
        }
    }
    if rest_nodes > 0 {
        out.push(NodeUnits {
            node: other(),
            count: rest,
            nodes: Some(rest_nodes),
        });
    }
    out
}
