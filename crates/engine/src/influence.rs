//! The `influence` analysis: for each candidate (a goal, or an event name), the macro
//! goal's rate among units that did it — before their first conversion, unless the
//! spec asks for `any` time — against units that did not; the difference and the ratio
//! with intervals, a test, Benjamini–Hochberg q-values across the ranked candidates, and
//! the Mantel–Haenszel estimate over strata of who the units are (device and channel by
//! default). Semantics: `docs/influence.md`.

use cairn_model::Dim;
use cairn_model::query::result::{CandidateKind, InfluenceResult, InfluenceRow, Ratio, Stratified};
use cairn_model::query::{
    Field, InfluenceSpec, MAX_EVENT_CANDIDATES, MAX_STRATA_FIELDS, PAGEVIEW, Precedence, Query,
    Unit,
};
use cairn_timeline::{MAX_CLASSES, Place, Summary, SummaryRequest, Timeline};
use rustc_hash::FxHashMap;

use crate::Error;
use crate::driver::{self, Analysis, Cx, Pass, Scope};
use crate::goals::{Key, unit_key};
use crate::matcher::{FieldReader, Needs};
use crate::paths::unit_ranges;
use crate::prepare::Prepared;
use crate::reports::NON_INTERACTIVE;
use crate::stats::{
    Table, benjamini_hochberg, mantel_haenszel, nearest_rank, newcombe, rate_ratio,
    two_proportion_p, wilson,
};

/// q-values under this are significant.
const FDR: f64 = 0.05;

pub(crate) fn run(cx: Cx<'_>, spec: &InfluenceSpec) -> Result<InfluenceResult, Error> {
    let q = cx.q;
    // The spec is checked by the plan: the macro goal and the candidates exist.
    let y = spec.macro_goal(&q.goals).unwrap_or_default();
    let candidates = spec.candidate_goals(&q.goals);
    let inf = Influence {
        q,
        spec,
        y: q.goals.iter().position(|g| g.name == y).unwrap_or(0),
        candidates: candidates
            .iter()
            .filter_map(|c| q.goals.iter().position(|g| &g.name == c))
            .collect(),
    };
    driver::run(cx, &inf, cx.r.from, cx.r.to)
}

struct Influence<'a> {
    q: &'a Query,
    spec: &'a InfluenceSpec,
    /// The macro goal (index into `q.goals`).
    y: usize,
    /// Candidate goals (indices into `q.goals`).
    candidates: Vec<usize>,
}

impl<'a> Analysis for Influence<'a> {
    type Pass = InfluencePass<'a>;

    fn goals(&self) -> Vec<&str> {
        std::iter::once(self.y)
            .chain(self.candidates.iter().copied())
            .map(|g| self.q.goals[g].name.as_str())
            .collect()
    }

    fn needs(&self, needs: &mut Needs) {
        for f in &self.spec.stratify {
            needs.add_field(f);
        }
        if self.spec.events {
            needs.dims[Dim::Name.index()] = true;
        }
    }

    fn stitch(&self) -> bool {
        self.spec.unit == Unit::Lead
    }

    /// By visitor, without filters, with goals that are each one event name (or a list
    /// of names), stratified by dimensions, and (with event names as candidates) no more
    /// names than classes: a visitor's summary holds all the pass reads. Class 0 is the
    /// macro goal, class 1 + i candidate i, then one class per candidate event name.
    fn summary(&self, sc: &Scope<'_>, pass: &InfluencePass<'a>) -> Option<SummaryRequest> {
        let spec = self.spec;
        let goal_classes = self.candidates.len() + 1;
        if spec.unit != Unit::Visitor
            || !sc.r.filters.is_empty()
            || goal_classes + pass.event_ids.len() > MAX_CLASSES
        {
            return None;
        }
        let dims = spec
            .stratify
            .iter()
            .map(|f| match f {
                Field::Dim(d) => Some(*d),
                _ => None,
            })
            .collect::<Option<Vec<Dim>>>()?;
        let names = sc.scan.dict(Dim::Name).len();
        let mut classes = vec![0u64; names];
        for (k, &g) in std::iter::once(&self.y).chain(&self.candidates).enumerate() {
            // The goal as the driver compiled it: one condition on the event name.
            driver::add_name_class(&mut classes, k, sc.goals.single(g))?;
        }
        for (j, &id) in pass.event_ids.iter().enumerate() {
            classes[id as usize] |= 1 << (goal_classes + j);
        }
        // Places are compared only with a conversion's (class 0). Without strata, a
        // visitor of no class is only counted.
        let others = dims.is_empty().then_some(u64::MAX);
        Some(SummaryRequest {
            classes,
            dims,
            dims_from: None,
            places: 1,
            timelines: None,
            timeline_rows: None,
            others,
        })
    }

    fn compile(&self, sc: &Scope<'_>) -> InfluencePass<'a> {
        InfluencePass {
            q: self.q,
            spec: self.spec,
            y: self.y,
            candidates: self.candidates.clone(),
            strata: self
                .spec
                .stratify
                .iter()
                .map(|f| FieldReader::new(sc.scan, &sc.pages, f))
                .collect(),
            names: FieldReader::new(sc.scan, &sc.pages, &Field::Dim(Dim::Name)),
            event_ids: if self.spec.events {
                let dict = sc.scan.dict(Dim::Name);
                (1..dict.len() as u32)
                    .filter(|&id| {
                        let name = dict.get(id);
                        name != PAGEVIEW && !NON_INTERACTIVE.contains(&name)
                    })
                    .collect()
            } else {
                Vec::new()
            },
        }
    }
}

pub(crate) struct InfluencePass<'a> {
    q: &'a Query,
    spec: &'a InfluenceSpec,
    y: usize,
    candidates: Vec<usize>,
    strata: Vec<FieldReader>,
    names: FieldReader,
    /// With event names as candidates: the ids of the names that are (not pageviews,
    /// not the tracker's passive events such as scroll and engagement), ascending.
    event_ids: Vec<u32>,
}

/// A candidate: a goal (index into the candidates) or an event name's token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Cand {
    Goal(u32),
    Event((u8, u64)),
}

impl Cand {
    /// Events of the name of id `id` (not 0).
    fn event(id: u32) -> Cand {
        Cand::Event((0, u64::from(id)))
    }
}

/// Per candidate: a goal's entry found by its index, an event name's by its token
/// (hashing every candidate of every visitor was 5% of a lift query).
#[derive(Debug, Clone)]
struct ByCand<T> {
    goals: Vec<T>,
    events: FxHashMap<(u8, u64), T>,
}

impl<T> Default for ByCand<T> {
    fn default() -> Self {
        ByCand {
            goals: Vec::new(),
            events: FxHashMap::default(),
        }
    }
}

impl<T: Default> ByCand<T> {
    fn entry(&mut self, c: Cand) -> &mut T {
        match c {
            Cand::Goal(i) => {
                let i = i as usize;
                if i >= self.goals.len() {
                    self.goals.resize_with(i + 1, T::default);
                }
                &mut self.goals[i]
            }
            Cand::Event(t) => self.events.entry(t).or_default(),
        }
    }

    fn get(&self, c: Cand) -> Option<&T> {
        match c {
            Cand::Goal(i) => self.goals.get(i as usize),
            Cand::Event(t) => self.events.get(&t),
        }
    }

    /// Takes candidate `c`'s entry out (the default if it had none).
    fn take(&mut self, c: Cand) -> T {
        match c {
            Cand::Goal(i) => self
                .goals
                .get_mut(i as usize)
                .map(std::mem::take)
                .unwrap_or_default(),
            Cand::Event(t) => self.events.remove(&t).unwrap_or_default(),
        }
    }

    fn into_iter(self) -> impl Iterator<Item = (Cand, T)> {
        let goals = (self.goals.into_iter().enumerate()).map(|(i, x)| (Cand::Goal(i as u32), x));
        goals.chain(self.events.into_iter().map(|(t, x)| (Cand::Event(t), x)))
    }
}

/// Per candidate and stratum: units that did it, and those of them that converted.
#[derive(Debug, Clone, Copy, Default)]
struct Did {
    x: u64,
    xy: u64,
}

#[derive(Default)]
struct Stratum {
    /// Units, and converted units.
    n: u64,
    y: u64,
    did: ByCand<Did>,
}

/// Per candidate, across strata.
#[derive(Default)]
struct Extra {
    /// Units that did it only after converting.
    after_only: u64,
    /// Per converting unit that did it first: ms from the first time to the conversion.
    to_goal: Vec<i64>,
}

/// Strata in the order first met, found by key. The one used last is tried first:
/// without stratification every unit is in one stratum, and hashing its key per unit
/// was 5% of a lift query.
#[derive(Default)]
struct Strata {
    list: Vec<([Key; MAX_STRATA_FIELDS], Stratum)>,
    index: FxHashMap<[Key; MAX_STRATA_FIELDS], usize>,
    last: usize,
}

impl Strata {
    fn get(&mut self, key: [Key; MAX_STRATA_FIELDS]) -> &mut Stratum {
        if self.list.get(self.last).is_none_or(|(k, _)| *k != key) {
            let list = &mut self.list;
            self.last = *self.index.entry(key).or_insert_with(|| {
                list.push((key, Stratum::default()));
                list.len() - 1
            });
        }
        &mut self.list[self.last].1
    }

    fn values(&self) -> impl Iterator<Item = &Stratum> {
        self.list.iter().map(|(_, s)| s)
    }
}

#[derive(Default)]
pub(crate) struct Acc {
    strata: Strata,
    extra: ByCand<Extra>,
    /// Scratch: one unit's candidate event names (ids), with the first position of each.
    seen: FxHashMap<u32, usize>,
}

impl InfluencePass<'_> {
    /// The first hit of goal `g` in `[a, b)`.
    fn first(prep: &Prepared, g: usize, a: usize, b: usize) -> Option<usize> {
        let h = &prep.hits[g];
        let at = h.partition_point(|&p| (p as usize) < a);
        h.get(at).map(|&p| p as usize).filter(|&p| p < b)
    }

    /// Counts one candidate first done at `p` by a unit converting first at `conv`
    /// (places in the unit's timeline).
    fn count(
        &self,
        st: &mut Stratum,
        extra: &mut ByCand<Extra>,
        c: Cand,
        p: Place,
        conv: Option<Place>,
    ) {
        let counts = match (self.spec.order, conv) {
            (Precedence::Before, Some(y)) => p < y,
            _ => true,
        };
        if !counts {
            extra.entry(c).after_only += 1;
            return;
        }
        let d = st.did.entry(c);
        d.x += 1;
        if let Some(y) = conv {
            d.xy += 1;
            // Under `any`, a candidate after the conversion has no time to it.
            if p <= y {
                extra.entry(c).to_goal.push(y.ts - p.ts);
            }
        }
    }
}

impl Pass for InfluencePass<'_> {
    type State = Acc;
    type Output = InfluenceResult;

    fn state(&self) -> Acc {
        Acc::default()
    }

    fn timeline(&self, _sc: &Scope<'_>, tl: &Timeline, prep: &Prepared, acc: &mut Acc) {
        let place = |p: usize| Place {
            ts: prep.ts[p],
            seq: p as u64,
        };
        for (a, b) in unit_ranges(self.spec.unit, prep) {
            let mut key: [Key; MAX_STRATA_FIELDS] = [None; MAX_STRATA_FIELDS];
            for (k, rd) in key.iter_mut().zip(&self.strata) {
                *k = unit_key(rd, tl, prep, a as u32, b as u32);
            }
            let conv = Self::first(prep, self.y, a, b).map(place);
            // The unit's stratum, looked up once.
            let st = acc.strata.get(key);
            st.n += 1;
            st.y += conv.is_some() as u64;
            for (ci, &g) in self.candidates.iter().enumerate() {
                if let Some(p) = Self::first(prep, g, a, b) {
                    self.count(st, &mut acc.extra, Cand::Goal(ci as u32), place(p), conv);
                }
            }
            if self.spec.events {
                let mut seen = std::mem::take(&mut acc.seen);
                seen.clear();
                let names = tl.dim(Dim::Name);
                for p in a..b {
                    let id = names[prep.kept[p] as usize];
                    if self.event_ids.binary_search(&id).is_ok() {
                        seen.entry(id).or_insert(p);
                    }
                }
                let st = acc.strata.get(key);
                for (&id, &p) in &seen {
                    self.count(st, &mut acc.extra, Cand::event(id), place(p), conv);
                }
                acc.seen = seen;
            }
        }
    }

    /// A visitor's summary (see [`Influence::summary`]): its stratum from its first
    /// values, as [`unit_key`] reads them from a timeline.
    fn summary(&self, _sc: &Scope<'_>, s: &Summary, acc: &mut Acc) {
        let mut key: [Key; MAX_STRATA_FIELDS] = [None; MAX_STRATA_FIELDS];
        for (k, v) in key.iter_mut().zip(&s.dims) {
            *k = v.and_then(FieldReader::id_token);
        }
        let conv = s.first_of(0);
        let st = acc.strata.get(key);
        st.n += 1;
        st.y += conv.is_some() as u64;
        for ci in 0..self.candidates.len() {
            if let Some(p) = s.first_of(ci + 1) {
                self.count(st, &mut acc.extra, Cand::Goal(ci as u32), p, conv);
            }
        }
        // The event names' classes follow the goals'.
        let base = self.candidates.len() + 1;
        let mut names = s.classes.checked_shr(base as u32).unwrap_or(0);
        while names != 0 {
            let j = names.trailing_zeros() as usize;
            let c = Cand::event(self.event_ids[j]);
            self.count(st, &mut acc.extra, c, s.first[base + j], conv);
            names &= names - 1;
        }
    }

    /// Visitors of no class, without strata: units that neither converted nor did a
    /// candidate.
    fn others(&self, _sc: &Scope<'_>, n: u64, acc: &mut Acc) {
        acc.strata.get([None; MAX_STRATA_FIELDS]).n += n;
    }

    fn merge(&self, into: &mut Acc, from: Acc) {
        for (k, s) in from.strata.list {
            let e = into.strata.get(k);
            e.n += s.n;
            e.y += s.y;
            for (c, d) in s.did.into_iter() {
                let x = e.did.entry(c);
                x.x += d.x;
                x.xy += d.xy;
            }
        }
        for (c, x) in from.extra.into_iter() {
            let e = into.extra.entry(c);
            e.after_only += x.after_only;
            e.to_goal.extend(x.to_goal);
        }
    }

    fn finish(self, sc: &Scope<'_>, mut acc: Acc) -> InfluenceResult {
        let spec = self.spec;
        let (n, y) = acc
            .strata
            .values()
            .fold((0, 0), |(n, y), s| (n + s.n, y + s.y));
        // Candidates: every goal asked for; event names with enough support, the most
        // supported first.
        let mut cands: Vec<(Cand, String, CandidateKind)> = self
            .candidates
            .iter()
            .enumerate()
            .map(|(ci, &g)| {
                (
                    Cand::Goal(ci as u32),
                    self.q.goals[g].name.clone(),
                    CandidateKind::Goal,
                )
            })
            .collect();
        if spec.events {
            let mut support: FxHashMap<Cand, u64> = FxHashMap::default();
            for s in acc.strata.values() {
                for (&t, d) in &s.did.events {
                    *support.entry(Cand::Event(t)).or_default() += d.x;
                }
            }
            let mut events: Vec<(Cand, String, u64)> = support
                .into_iter()
                .filter(|&(_, x)| x >= spec.min_support)
                .map(|(c, x)| {
                    let Cand::Event(t) = c else { unreachable!() };
                    (c, self.names.text(sc.scan, t), x)
                })
                .collect();
            events.sort_by(|a, b| b.2.cmp(&a.2).then_with(|| a.1.cmp(&b.1)));
            events.truncate(MAX_EVENT_CANDIDATES);
            cands.extend(
                events
                    .into_iter()
                    .map(|(c, name, _)| (c, name, CandidateKind::Event)),
            );
        }
        let stratified = !spec.stratify.is_empty();
        let mut rows: Vec<InfluenceRow> = cands
            .into_iter()
            .map(|(c, name, kind)| {
                let tables: Vec<Table> = acc
                    .strata
                    .values()
                    .map(|s| {
                        let d = s.did.get(c).copied().unwrap_or_default();
                        Table {
                            a: d.xy,
                            b: d.x - d.xy,
                            c: s.y - d.xy,
                            d: s.n - s.y - (d.x - d.xy),
                        }
                    })
                    .collect();
                let t = tables.iter().fold(Table::default(), |t, s| Table {
                    a: t.a + s.a,
                    b: t.b + s.b,
                    c: t.c + s.c,
                    d: t.d + s.d,
                });
                let extra = acc.extra.take(c);
                let (n1, n0) = (t.a + t.b, t.c + t.d);
                let with = wilson(t.a, n1);
                let without = wilson(t.c, n0);
                let mut to_goal = extra.to_goal;
                to_goal.sort_unstable();
                InfluenceRow {
                    role: match c {
                        Cand::Goal(ci) => Some(self.q.goals[self.candidates[ci as usize]].role),
                        Cand::Event(_) => None,
                    },
                    name,
                    kind,
                    support: n1,
                    diff: newcombe(&with, &without),
                    with,
                    without,
                    lift: rate_ratio(t.a, n1, t.c, n0),
                    p_value: two_proportion_p(t.a, n1, t.c, n0),
                    stratified: stratified.then(|| {
                        let (lift, p_value, informative) = mantel_haenszel(&tables);
                        Stratified {
                            lift,
                            p_value,
                            informative_strata: informative,
                        }
                    }),
                    q_value: None,
                    ranked: n1 >= spec.min_support && n0 > 0,
                    significant: false,
                    converters_share: wilson(t.a, y),
                    after_only: extra.after_only,
                    median_to_goal_ms: (!to_goal.is_empty()).then(|| nearest_rank(&to_goal, 0.5)),
                }
            })
            .collect();
        // q-values over the ranked candidates, from the estimate used for ranking.
        let tested: Vec<usize> = (0..rows.len()).filter(|&i| rows[i].ranked).collect();
        let ps: Vec<f64> = tested.iter().map(|&i| adjusted_p(&rows[i])).collect();
        for (&i, q) in tested.iter().zip(benjamini_hochberg(&ps)) {
            let row = &mut rows[i];
            row.q_value = Some(q);
            // Without a lift (no converter without it), the difference's interval says.
            row.significant = q < FDR
                && match adjusted_lift(row) {
                    Some(l) => l.low > 1.0 || l.high < 1.0,
                    None => row.diff.low > 0.0 || row.diff.high < 0.0,
                };
        }
        rows.sort_by(|a, b| {
            b.ranked
                .cmp(&a.ranked)
                .then_with(|| {
                    if a.ranked {
                        rank_key(b).total_cmp(&rank_key(a))
                    } else {
                        b.support.cmp(&a.support)
                    }
                })
                .then_with(|| a.name.cmp(&b.name))
        });
        let goal = self.q.goals[self.y].name.clone();
        InfluenceResult {
            precedence: match spec.order {
                Precedence::Before => format!(
                    "A candidate counts only when a {unit} did it before its first {goal} (or without converting); done only afterwards, it counts as not done (after_only).",
                    unit = spec.unit.as_str()
                ),
                Precedence::Any => format!(
                    "A candidate counts whenever a {unit} did it, before or after {goal}: an association in either direction.",
                    unit = spec.unit.as_str()
                ),
            },
            goal,
            unit: spec.unit,
            order: spec.order,
            converted: wilson(y, n),
            stratified_by: spec.stratify.iter().map(|f| f.to_string()).collect(),
            strata: acc.strata.values().filter(|s| s.n > 0).count() as u64,
            min_support: spec.min_support,
            tested: tested.len() as u64,
            candidates: rows,
        }
    }
}

/// The lift used for ranking and significance: the stratified one when there is one.
fn adjusted_lift(r: &InfluenceRow) -> Option<Ratio> {
    match &r.stratified {
        Some(s) => s.lift,
        None => r.lift,
    }
}

/// The p-value behind the q-value: the stratified one when there is one.
fn adjusted_p(r: &InfluenceRow) -> f64 {
    match &r.stratified {
        Some(s) => s.p_value,
        None => r.p_value.unwrap_or(1.0),
    }
}

/// Ranked candidates order by the lower end of their adjusted lift's interval (the
/// lift one can be confident of); without a lift (no converter without it), first.
fn rank_key(r: &InfluenceRow) -> f64 {
    match adjusted_lift(r) {
        Some(l) => l.low,
        None if r.with.num > 0 => f64::INFINITY,
        None => 0.0,
    }
}
