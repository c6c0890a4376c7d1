//! A funnel's flow: what the units that dropped at a step did next, and the funnel
//! against the paths converters really took (which steps they did before converting,
//! what sits between two steps, a suggested funnel). Semantics: `docs/paths.md`.

use cairn_model::query::result::{FlowGap, FunnelFlow, SuggestedStep};
use cairn_model::query::{FunnelSpec, Query, Role};
use cairn_timeline::Timeline;
use rustc_hash::FxHashMap;

use crate::driver::Scope;
use crate::paths::{NodeId, NodeRules, Nodes, UnitNodes, add_counts, describe, exit, is_page, top};
use crate::prepare::Prepared;

/// Rows listed per list, the rest under `other`.
const LIMIT: usize = 10;
/// Steps of a suggested funnel, at most.
const SUGGESTED: usize = 10;

/// After the last node: the exit.
const EXIT: NodeId = u64::MAX;

/// The flow's rules for one scan.
pub(super) struct FlowPlan {
    nodes: Nodes,
    /// Goals with the milestone role: a suggested funnel's candidates (pages without any).
    milestones: Vec<usize>,
    required: Vec<usize>,
    n: usize,
}

/// The rules nodes follow in a funnel's flow: the spec's node kinds, repeats collapsed.
pub(super) fn rules(spec: &FunnelSpec) -> NodeRules<'_> {
    NodeRules {
        kinds: &spec.flow_nodes,
        conditions: &[],
        collapse: true,
    }
}

/// The goals the flow reads: those with the milestone role (a suggested funnel's
/// candidates), and every goal when goals are nodes.
pub(super) fn goals<'q>(q: &'q Query, spec: &FunnelSpec) -> Vec<&'q str> {
    let mut g = rules(spec).goals(q);
    g.extend(
        q.goals
            .iter()
            .filter(|g| g.role == Role::Milestone)
            .map(|g| g.name.as_str()),
    );
    g
}

/// Per-worker counts.
#[derive(Default)]
pub(super) struct FlowAcc {
    dropped_next: Vec<FxHashMap<NodeId, u64>>,
    converters: u64,
    reached_before: Vec<u64>,
    between: Vec<FxHashMap<NodeId, u64>>,
    /// Candidate → (converters reaching it first, sum of its ranks among their
    /// candidates).
    candidates: FxHashMap<NodeId, (u64, u64)>,
    buf: UnitNodes,
    seen: Vec<(u32, NodeId)>,
}

impl FlowAcc {
    pub fn merge(&mut self, o: FlowAcc) {
        for (a, b) in self
            .dropped_next
            .iter_mut()
            .chain(self.between.iter_mut())
            .zip(o.dropped_next.into_iter().chain(o.between))
        {
            add_counts(a, b);
        }
        self.converters += o.converters;
        for (a, b) in self.reached_before.iter_mut().zip(o.reached_before) {
            *a += b;
        }
        for (k, (u, r)) in o.candidates {
            let e = self.candidates.entry(k).or_default();
            e.0 += u;
            e.1 += r;
        }
    }
}

/// The position (in `prep.kept`, from `a`) of the event that gave step `s` its time `t`
/// in a chain: the first matching one at that time, after `after` when given.
fn event_of(
    prep: &Prepared,
    a: usize,
    masks: &[u64],
    s: usize,
    t: i64,
    after: Option<usize>,
) -> Option<usize> {
    let from = after.map_or(0, |p| p + 1 - a);
    (from..masks.len())
        .find(|&p| prep.ts[a + p] == t && masks[p] >> s & 1 == 1)
        .or_else(|| (0..masks.len()).find(|&p| prep.ts[a + p] == t && masks[p] >> s & 1 == 1))
        .map(|p| a + p)
}

impl FlowPlan {
    pub fn new(sc: &Scope<'_>, q: &Query, spec: &FunnelSpec) -> FlowPlan {
        FlowPlan {
            nodes: rules(spec).compile(sc),
            milestones: (0..q.goals.len())
                .filter(|&g| q.goals[g].role == Role::Milestone)
                .collect(),
            required: (0..spec.steps.len())
                .filter(|&j| !spec.steps[j].optional)
                .collect(),
            n: spec.steps.len(),
        }
    }

    pub fn acc(&self) -> FlowAcc {
        FlowAcc {
            dropped_next: vec![FxHashMap::default(); self.n],
            reached_before: vec![0; self.n],
            between: vec![FxHashMap::default(); self.required.len().saturating_sub(1)],
            ..FlowAcc::default()
        }
    }

    /// One unit: kept positions `[a, b)`, their step masks, and its funnel outcome
    /// (`None` when it did not enter, or was excluded). `times` are the counted chain's
    /// (step, time) pairs.
    #[allow(clippy::too_many_arguments)]
    pub fn unit(
        &self,
        sc: &Scope<'_>,
        tl: &Timeline,
        prep: &Prepared,
        a: usize,
        b: usize,
        masks: &[u64],
        outcome: Option<(u64, &[(usize, i64)])>,
        acc: &mut FlowAcc,
    ) {
        let last = *self.required.last().unwrap_or(&(self.n - 1));
        let conv = masks.iter().position(|&m| m >> last & 1 == 1);
        let mut buf = std::mem::take(&mut acc.buf);
        self.nodes.fill(sc, tl, prep, a, b, &mut buf);
        if let Some(c) = conv {
            acc.converters += 1;
            for j in 0..self.n {
                if j == last || masks[..c].iter().any(|&m| m >> j & 1 == 1) {
                    acc.reached_before[j] += 1;
                }
            }
            // The candidates reached before converting, by first position.
            let seen = &mut acc.seen;
            seen.clear();
            if self.milestones.is_empty() {
                for &(node, p) in &buf.nodes {
                    if (p as usize) < a + c && is_page(node) && !seen.iter().any(|x| x.1 == node) {
                        seen.push((p, node));
                    }
                }
            } else {
                for &g in &self.milestones {
                    let h = &prep.hits[g];
                    let at = h.partition_point(|&p| (p as usize) < a);
                    if let Some(&p) = h.get(at).filter(|&&p| (p as usize) < a + c) {
                        seen.push((p, crate::paths::goal_node(g)));
                    }
                }
            }
            seen.sort_unstable();
            for (rank, &(_, node)) in seen.iter().enumerate() {
                let e = acc.candidates.entry(node).or_default();
                e.0 += 1;
                e.1 += rank as u64;
            }
        }
        if let Some((reached, times)) = outcome {
            let time = |s: usize| times.iter().find(|x| x.0 == s).map(|x| x.1);
            let level = self
                .required
                .iter()
                .take_while(|&&s| reached >> s & 1 == 1)
                .count();
            if level >= 1 && level < self.required.len() {
                let s = self.required[level - 1];
                if let Some(p) = time(s).and_then(|t| event_of(prep, a, masks, s, t, None)) {
                    let next = buf
                        .nodes
                        .iter()
                        .find(|x| x.1 as usize > p)
                        .map_or(EXIT, |x| x.0);
                    *acc.dropped_next[self.required[level]]
                        .entry(next)
                        .or_default() += 1;
                }
            } else if level == self.required.len() {
                let mut prev: Option<usize> = None;
                for (i, w) in self.required.windows(2).enumerate() {
                    let (s1, s2) = (w[0], w[1]);
                    let p1 = match prev {
                        Some(p) => Some(p),
                        None => time(s1).and_then(|t| event_of(prep, a, masks, s1, t, None)),
                    };
                    let p2 = p1.and_then(|p1| {
                        time(s2).and_then(|t| event_of(prep, a, masks, s2, t, Some(p1)))
                    });
                    if let (Some(p1), Some(p2)) = (p1, p2) {
                        let seen = &mut acc.seen;
                        seen.clear();
                        for &(node, p) in &buf.nodes {
                            let p = p as usize;
                            if p > p1
                                && p < p2
                                && masks[p - a] == 0
                                && !seen.iter().any(|x| x.1 == node)
                            {
                                seen.push((0, node));
                                *acc.between[i].entry(node).or_default() += 1;
                            }
                        }
                    }
                    prev = p2;
                }
            }
        }
        acc.buf = buf;
    }

    pub fn finish(&self, sc: &Scope<'_>, q: &Query, acc: FlowAcc, in_order: u64) -> FunnelFlow {
        let list = |m: FxHashMap<NodeId, u64>| {
            top(
                m.into_iter()
                    .map(|(id, c)| {
                        (
                            if id == EXIT {
                                exit()
                            } else {
                                describe(sc, q, id)
                            },
                            c,
                        )
                    })
                    .collect(),
                LIMIT,
            )
        };
        let mut cands: Vec<(cairn_model::query::result::PathNode, u64, u64)> = acc
            .candidates
            .into_iter()
            .filter(|(_, (u, _))| u * 2 >= acc.converters && *u > 0)
            .map(|(id, (u, r))| (describe(sc, q, id), u, r))
            .collect();
        // By mean rank (exactly: r1 / u1 against r2 / u2), then by name.
        cands.sort_by(|x, y| {
            (x.2 as u128 * y.1 as u128)
                .cmp(&(y.2 as u128 * x.1 as u128))
                .then_with(|| x.0.cmp(&y.0))
        });
        cands.truncate(SUGGESTED);
        FunnelFlow {
            dropped_next: acc.dropped_next.into_iter().map(list).collect(),
            converters: acc.converters,
            reached_before: acc.reached_before,
            in_order,
            between: self
                .required
                .windows(2)
                .zip(acc.between)
                .map(|(w, m)| FlowGap {
                    from_step: w[0] + 1,
                    to_step: w[1] + 1,
                    nodes: list(m),
                })
                .collect(),
            suggested: cands
                .into_iter()
                .map(|(node, units, _)| SuggestedStep {
                    node,
                    share: if acc.converters > 0 {
                        units as f64 / acc.converters as f64
                    } else {
                        0.0
                    },
                    units,
                })
                .collect(),
        }
    }
}
