//! Per-timeline preparation shared by the analyses: the events kept by the query's
//! event filters, their sessions, and where each goal converts.

use cairn_model::Dim;
use cairn_model::query::{Condition, FilterKind, Goal, GoalDef, PAGEVIEW, Query, Resolved};
use cairn_timeline::{Timeline, TimelineScan};

use crate::matcher::{EventPred, Needs, Tables};
use crate::page_map::PageMap;

enum GoalEval {
    /// Not needed by this query: never evaluated.
    Skip,
    Event(EventPred),
    Duration(i64),
    Pages(u32),
    Count(u32, EventPred),
    Composite(u32, Vec<usize>),
}

/// The query's goals compiled for one scan.
pub struct Goals {
    /// Definitions, in spec order.
    pub defs: Vec<Goal>,
    evals: Vec<GoalEval>,
    /// Evaluation order: every composite after the goals it refers to.
    order: Vec<usize>,
    /// Lookup tables: pageviews, goals' single-condition predicates, and the necessary
    /// condition of event goals with property conditions (their candidates).
    tables: Tables,
    /// Event goals decided by the tables.
    event_mask: u64,
    /// Count goals whose counted events the tables decide.
    count_mask: u64,
    /// Event goals whose candidates the tables find (their necessary condition), each
    /// then tested.
    candidate_mask: u64,
}

/// The table bit of "is a pageview".
const PAGEVIEW_BIT: usize = 63;

impl Goals {
    /// The goals a query needs: those named in `roots` and in its behavioural filters,
    /// and every goal a needed composite refers to.
    pub fn used(q: &Query, r: &Resolved, roots: &[&str]) -> Vec<bool> {
        let mut used = vec![false; q.goals.len()];
        let mut stack: Vec<&str> = roots.to_vec();
        for f in &r.filters {
            if let FilterKind::Behaviour(name, _) = f {
                stack.push(name);
            }
        }
        while let Some(name) = stack.pop() {
            let Some(i) = q.goals.iter().position(|g| g.name == name) else {
                continue;
            };
            if used[i] {
                continue;
            }
            used[i] = true;
            let g = &q.goals[i];
            stack.extend(
                g.all_of
                    .iter()
                    .chain(&g.any_of)
                    .chain(&g.of)
                    .map(String::as_str),
            );
        }
        used
    }

    /// Records the columns the used goals read.
    pub fn needs(goals: &[Goal], used: &[bool], needs: &mut Needs) {
        needs.dims[Dim::Name.index()] = true;
        for g in goals.iter().zip(used).filter(|(_, u)| **u).map(|(g, _)| g) {
            match g.def() {
                GoalDef::Event(c) | GoalDef::Count { conds: c, .. } => needs.add_conds(&c),
                _ => {}
            }
            if matches!(g.value, Some(cairn_model::query::GoalValue::FromEvent(_))) {
                needs.revenue = true;
            }
        }
    }

    /// Compiles the used goals.
    pub fn new(scan: &dyn TimelineScan, pages: &PageMap, defs: &[Goal], used: &[bool]) -> Goals {
        let evals = defs
            .iter()
            .zip(used)
            .map(|(g, &u)| {
                if !u {
                    GoalEval::Skip
                } else {
                    match g.def() {
                        GoalDef::Event(c) => GoalEval::Event(EventPred::new(scan, pages, &[c])),
                        GoalDef::Duration(ms) => GoalEval::Duration(ms),
                        GoalDef::Pages(n) => GoalEval::Pages(n),
                        GoalDef::Count { min, conds } => {
                            GoalEval::Count(min, EventPred::new(scan, pages, &[conds]))
                        }
                        GoalDef::Composite { k, of } => GoalEval::Composite(
                            k,
                            of.iter()
                                .filter_map(|n| defs.iter().position(|d| &d.name == n))
                                .collect(),
                        ),
                    }
                }
            })
            .collect::<Vec<_>>();
        let mut order = Vec::new();
        let mut state = vec![0u8; defs.len()];
        fn visit(i: usize, evals: &[GoalEval], state: &mut [u8], order: &mut Vec<usize>) {
            if state[i] != 0 {
                return;
            }
            state[i] = 1;
            if let GoalEval::Composite(_, subs) = &evals[i] {
                for &s in subs {
                    visit(s, evals, state, order);
                }
            }
            state[i] = 2;
            order.push(i);
        }
        for i in 0..defs.len() {
            visit(i, &evals, &mut state, &mut order);
        }
        let pageview = EventPred::new(
            scan,
            pages,
            &[vec![Condition::eq_str(
                cairn_model::query::Field::Dim(Dim::Name),
                PAGEVIEW,
            )]],
        );
        // One lookup per event and dimension decides the pageview bit (63) and, for the
        // first 63 goals, event goals on dimensions only (an event name; a pageview on a
        // path) and the events counted by count goals. Bits of no goal are spare.
        let mut items: Vec<(usize, Vec<&EventPred>)> = vec![(PAGEVIEW_BIT, vec![&pageview])];
        let (mut events, mut counts) = (0u64, 0u64);
        for (g, e) in evals.iter().enumerate().take(PAGEVIEW_BIT) {
            match e {
                GoalEval::Event(p) => {
                    events |= 1 << g;
                    items.push((g, vec![p]));
                }
                GoalEval::Count(_, p) => {
                    counts |= 1 << g;
                    items.push((g, vec![p]));
                }
                _ => {}
            }
        }
        let used = match defs.len() {
            n if n >= PAGEVIEW_BIT => u64::MAX,
            n => ((1u64 << n) - 1) | (1 << PAGEVIEW_BIT),
        };
        let mut tables = Tables::new(items, !used);
        let (event_mask, count_mask) = (events & tables.covered, counts & tables.covered);
        let mut candidate_mask = 0u64;
        for (g, e) in evals.iter().enumerate().take(PAGEVIEW_BIT) {
            if let GoalEval::Event(p) = e
                && event_mask >> g & 1 == 0
                && tables.add_necessary(g, p)
            {
                candidate_mask |= 1 << g;
            }
        }
        Goals {
            defs: defs.to_vec(),
            tables,
            event_mask,
            count_mask,
            candidate_mask,
            evals,
            order,
        }
    }

    /// The dimension and dictionary mask deciding event goal `g`, when it is one
    /// condition on one dimension (as compiled for this scan); `None` for any other goal.
    pub fn single(&self, g: usize) -> Option<(usize, &[bool])> {
        match self.evals.get(g) {
            Some(GoalEval::Event(p)) => p.single(),
            _ => None,
        }
    }

    /// Number of goals.
    pub fn len(&self) -> usize {
        self.defs.len()
    }
}

/// The query's filters (its audience) compiled for one scan.
pub struct Filters {
    event: Option<EventPred>,
    /// (goal index, must have reached it).
    pub behaviour: Vec<(usize, bool)>,
}

impl Filters {
    /// Records the columns the filters read.
    pub fn needs(r: &Resolved, needs: &mut Needs) {
        for f in &r.filters {
            if let FilterKind::Event(c) = f {
                needs.add_conds([c]);
            }
        }
    }

    /// Compiles the filters.
    pub fn new(scan: &dyn TimelineScan, pages: &PageMap, q: &Query, r: &Resolved) -> Filters {
        let conds: Vec<Condition> = r
            .filters
            .iter()
            .filter_map(|f| match f {
                FilterKind::Event(c) => Some(c.clone()),
                FilterKind::Behaviour(..) => None,
            })
            .collect();
        let behaviour = r
            .filters
            .iter()
            .filter_map(|f| match f {
                FilterKind::Behaviour(name, did) => q
                    .goals
                    .iter()
                    .position(|g| &g.name == name)
                    .map(|i| (i, *did)),
                FilterKind::Event(_) => None,
            })
            .collect();
        Filters {
            event: (!conds.is_empty()).then(|| EventPred::new(scan, pages, &[conds])),
            behaviour,
        }
    }

    /// Whether event `i` passes the event filters.
    pub fn keeps_event(&self, tl: &Timeline, i: usize) -> bool {
        self.event.as_ref().is_none_or(|p| p.test(tl, i))
    }

    /// Whether a unit whose goals are `reached` passes the behavioural filters.
    pub fn keeps(&self, reached: impl Fn(usize) -> bool) -> bool {
        self.behaviour.iter().all(|&(g, did)| reached(g) == did)
    }
}

/// One timeline, prepared.
#[derive(Debug, Default, Clone)]
pub struct Prepared {
    /// Indices (into the timeline) of the events kept by the event filters.
    pub kept: Vec<u32>,
    /// Their times.
    pub ts: Vec<i64>,
    /// Sessions as `[start, end)` ranges of positions in `kept`.
    pub sessions: Vec<(u32, u32)>,
    /// Per goal, the positions (in `kept`) where it converts, ascending.
    pub hits: Vec<Vec<u32>>,
    /// Per kept event, whether it is a pageview.
    pub pageview: Vec<bool>,
    /// Per kept event, the lookup-table bits of [`Goals`].
    bits: Vec<u64>,
}

impl Prepared {
    /// Fills in a timeline: filters, sessions (a gap of `gap` ms or more starts a new
    /// one), and goal conversions.
    pub fn fill(&mut self, tl: &Timeline, filters: &Filters, goals: &Goals, gap: i64) {
        self.kept.clear();
        self.ts.clear();
        self.sessions.clear();
        self.pageview.clear();
        self.bits.clear();
        // Column by column: the events kept, their times, their table bits.
        if filters.event.is_none() {
            self.kept.extend(0..tl.len() as u32);
            self.ts.extend_from_slice(&tl.ts);
            goals.tables.bits_into(tl, None, &mut self.bits);
        } else {
            self.kept
                .extend((0..tl.len() as u32).filter(|&i| filters.keeps_event(tl, i as usize)));
            self.ts.extend(self.kept.iter().map(|&i| tl.ts[i as usize]));
            goals.tables.bits_into(tl, Some(&self.kept), &mut self.bits);
        }
        self.pageview
            .extend(self.bits.iter().map(|b| b >> PAGEVIEW_BIT & 1 == 1));
        let n = self.kept.len() as u32;
        let mut start = 0u32;
        for (p, w) in (1u32..).zip(self.ts.windows(2)) {
            if w[1] - w[0] >= gap {
                self.sessions.push((start, p));
                start = p;
            }
        }
        if n > 0 {
            self.sessions.push((start, n));
        }
        self.hits.resize_with(goals.len(), Vec::new);
        // Goals the tables decide, and those whose candidates they find.
        let (covered, candidates) = (goals.event_mask, goals.candidate_mask);
        let found = covered | candidates;
        if found != 0 {
            for (g, h) in self.hits.iter_mut().enumerate() {
                if g < 64 && found >> g & 1 == 1 {
                    h.clear();
                }
            }
            for (p, &b) in self.bits.iter().enumerate() {
                let mut bits = b & found;
                while bits != 0 {
                    let g = bits.trailing_zeros() as usize;
                    bits &= bits - 1;
                    if candidates >> g & 1 == 1
                        && let GoalEval::Event(pred) = &goals.evals[g]
                        && !pred.test(tl, self.kept[p] as usize)
                    {
                        continue;
                    }
                    self.hits[g].push(p as u32);
                }
            }
        }
        for &g in &goals.order {
            if g < 64 && found >> g & 1 == 1 {
                continue;
            }
            let mut out = std::mem::take(&mut self.hits[g]);
            out.clear();
            match &goals.evals[g] {
                GoalEval::Skip => {}
                GoalEval::Event(pred) => match pred.necessary() {
                    // Most events are ruled out by one lookup (the goal's event name).
                    Some((d, mask)) => {
                        let ids = &tl.dims[d];
                        for (p, &i) in self.kept.iter().enumerate() {
                            let i = i as usize;
                            if mask[ids[i] as usize] && pred.test(tl, i) {
                                out.push(p as u32);
                            }
                        }
                    }
                    None => {
                        for (p, &i) in self.kept.iter().enumerate() {
                            if pred.test(tl, i as usize) {
                                out.push(p as u32);
                            }
                        }
                    }
                },
                GoalEval::Duration(ms) => {
                    for &(a, b) in &self.sessions {
                        // Times ascend within a session: the first event `ms` after its
                        // start, by bisection, in a session that lasts that long.
                        let ts = &self.ts[a as usize..b as usize];
                        let t0 = ts[0];
                        if ts[ts.len() - 1] - t0 >= *ms {
                            out.push(a + ts.partition_point(|&t| t - t0 < *ms) as u32);
                        }
                    }
                }
                GoalEval::Pages(k) => {
                    for &(a, b) in &self.sessions {
                        let pv = &self.pageview[a as usize..b as usize];
                        push_kth(pv.iter().copied(), *k, a, &mut out);
                    }
                }
                GoalEval::Count(k, _) if g < 64 && goals.count_mask >> g & 1 == 1 => {
                    for &(a, b) in &self.sessions {
                        let bits = &self.bits[a as usize..b as usize];
                        push_kth(bits.iter().map(|&v| v >> g & 1 == 1), *k, a, &mut out);
                    }
                }
                GoalEval::Count(k, pred) => {
                    let necessary = pred.necessary();
                    for &(a, b) in &self.sessions {
                        let mut seen = 0;
                        for p in a..b {
                            let i = self.kept[p as usize] as usize;
                            let hit = necessary.is_none_or(|(d, m)| m[tl.dims[d][i] as usize])
                                && pred.test(tl, i);
                            if hit {
                                seen += 1;
                                if seen == *k {
                                    out.push(p);
                                    break;
                                }
                            }
                        }
                    }
                }
                GoalEval::Composite(k, subs) => {
                    let mut firsts: Vec<u32> = Vec::with_capacity(subs.len());
                    for &(a, b) in &self.sessions {
                        firsts.clear();
                        for &s in subs {
                            let h = &self.hits[s];
                            let at = h.partition_point(|&p| p < a);
                            if let Some(&p) = h.get(at).filter(|&&p| p < b) {
                                firsts.push(p);
                            }
                        }
                        if firsts.len() >= *k as usize {
                            firsts.sort_unstable();
                            out.push(firsts[*k as usize - 1]);
                        }
                    }
                }
            }
            self.hits[g] = out;
        }
    }

    /// The session holding position `p`.
    pub fn session_of(&self, p: u32) -> usize {
        self.sessions.partition_point(|&(_, b)| b <= p)
    }
}

/// Pushes `start` plus the index of the `k`-th `true` of `flags` (`k` from 1), if it
/// has as many. Most sessions have fewer: they are counted without a branch an event.
fn push_kth(flags: impl Iterator<Item = bool> + Clone, k: u32, start: u32, out: &mut Vec<u32>) {
    if k == 0 || flags.clone().map(u32::from).sum::<u32>() < k {
        return;
    }
    let mut seen = 0;
    for (p, f) in (start..).zip(flags) {
        seen += u32::from(f);
        if seen == k {
            out.push(p);
            return;
        }
    }
}
