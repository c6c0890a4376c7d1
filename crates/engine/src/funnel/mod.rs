//! Funnels: steps compiled to per-event step masks, units cut from timelines (visitor,
//! session, lead, attempt), the level of each unit from [`core`], and the step counts,
//! drop-offs, times to convert, breakdown and trend built from them.

pub mod core;
mod flow;

use cairn_model::Dim;
use cairn_model::query::result::{
    FunnelBreakdownRow, FunnelResult, FunnelStepResult, FunnelTrendPoint,
};
use cairn_model::query::{
    Attribution, Condition, Field, FunnelMode, FunnelSpec, PAGEVIEW, Query, Step, Unit,
};
use cairn_timeline::{MAX_CLASSES, Summary, SummaryRequest, Timeline, TimelineScan};
use rustc_hash::FxHashMap;

use self::core::{Core, CoreExclusion, Outcome};
use crate::Error;
use crate::buckets::Buckets;
use crate::driver::{self, Analysis, Cx, Pass, Scope};
use crate::goals::Key;
use crate::matcher::{EventPred, FieldReader, Needs, Tables};
use crate::prepare::Prepared;
use crate::stats::{time_stats, wilson};

/// One alternative of a step: an optional goal and event conditions.
pub(crate) struct Alt {
    goal: Option<usize>,
    pred: EventPred,
}

fn step_conds(s: &Step) -> Vec<Condition> {
    let mut c = Vec::new();
    if let Some(e) = &s.event {
        c.push(Condition::eq_str(Field::Dim(Dim::Name), e));
    }
    if let Some(p) = &s.path {
        if s.event.is_none() {
            c.push(Condition::eq_str(Field::Dim(Dim::Name), PAGEVIEW));
        }
        c.push(Condition::new(
            Field::Dim(Dim::Path),
            s.path_match.unwrap_or_default().op(),
            Some(cairn_model::query::CondValue::One(
                cairn_model::query::Scalar::Str(p.clone()),
            )),
        ));
    }
    if let Some(p) = &s.page {
        if s.event.is_none() {
            c.push(Condition::eq_str(Field::Dim(Dim::Name), PAGEVIEW));
        }
        c.push(Condition::eq_str(Field::Page, p));
    }
    c.extend(s.conditions.iter().cloned());
    c
}

pub(crate) fn step_needs(s: &Step, needs: &mut Needs) {
    for a in std::iter::once(s).chain(&s.any_of) {
        needs.add_conds(&step_conds(a));
    }
}

pub(crate) fn compile_step(sc: &Scope<'_>, q: &Query, s: &Step) -> Vec<Alt> {
    let alts: Vec<&Step> = if s.any_of.is_empty() {
        vec![s]
    } else {
        s.any_of.iter().collect()
    };
    alts.into_iter()
        .map(|a| Alt {
            goal: a
                .goal
                .as_ref()
                .and_then(|g| q.goals.iter().position(|x| &x.name == g)),
            pred: EventPred::new(sc.scan, &sc.pages, &[step_conds(a)]),
        })
        .collect()
}

pub(crate) fn alt_hit(alts: &[Alt], tl: &Timeline, prep: &Prepared, p: usize) -> bool {
    alts.iter().any(|a| {
        a.goal
            .is_none_or(|g| prep.hits[g].binary_search(&(p as u32)).is_ok())
            && a.pred.test(tl, prep.kept[p] as usize)
    })
}

/// Lookup tables for the steps without goals whose alternatives are conditions on
/// dimensions only (see [`Tables::new`]).
fn tables_of(sets: &[Vec<Alt>]) -> Tables {
    let items = sets.iter().enumerate().filter_map(|(j, alts)| {
        let preds: Option<Vec<&EventPred>> = alts
            .iter()
            .map(|a| a.goal.is_none().then_some(&a.pred))
            .collect();
        preds.filter(|v| !v.is_empty()).map(|v| (j, v))
    });
    let spare = match sets.len() {
        n if n >= 64 => 0,
        n => !((1u64 << n) - 1),
    };
    Tables::new(items, spare)
}

/// A unit's result in the funnel.
#[derive(Debug, Clone, Default)]
struct UnitOut {
    /// Every chain reaching the unit's level is excluded: the unit leaves the funnel.
    excluded: bool,
    /// Steps reached (bit j = step j).
    reached: u64,
    /// Open funnels: steps reached from the previous step.
    via_prev: u64,
    /// Open funnels: the step the unit entered at.
    entrance: Option<usize>,
    /// Start of the counted chain.
    start: i64,
    /// (step, time) of the counted chain's steps, in step order.
    times: Vec<(usize, i64)>,
    /// Optional steps: (step, time from the previous required step, time from step 1).
    optional_times: Vec<(usize, i64, i64)>,
}

/// The funnel's rules, compiled.
struct Plan {
    n: usize,
    core: Core,
    /// The core over the required steps (with optional steps), made once.
    required_core: Option<Core>,
    required: Vec<usize>,
    optional: Vec<usize>,
    open: bool,
    exclusions: Vec<(usize, usize)>,
}

impl Plan {
    fn new(spec: &FunnelSpec) -> Plan {
        let n = spec.steps.len();
        let required: Vec<usize> = (0..n).filter(|&j| !spec.steps[j].optional).collect();
        let optional: Vec<usize> = (0..n).filter(|&j| spec.steps[j].optional).collect();
        let core = Core {
            n,
            window: spec.window.ms,
            within: spec.steps.iter().map(|s| s.within.map(|d| d.ms)).collect(),
            mode: spec.mode,
        };
        let mut plan = Plan {
            n,
            core,
            required_core: None,
            required,
            optional,
            open: spec.open,
            exclusions: spec
                .exclusions
                .iter()
                .map(|e| (e.between[0] - 1, e.between[1] - 1))
                .collect(),
        };
        if !plan.optional.is_empty() {
            plan.required_core = Some(plan.sub_core(&plan.required));
        }
        plan
    }

    /// A core over a subset of steps (in order): masks must be projected with [`project`].
    fn sub_core(&self, steps: &[usize]) -> Core {
        Core {
            n: steps.len(),
            window: self.core.window,
            within: steps
                .iter()
                .enumerate()
                .map(|(k, &j)| if k == 0 { None } else { self.core.within[j] })
                .collect(),
            mode: self.core.mode,
        }
    }

    /// The outcome of one unit (events `ts`, step masks, exclusion masks), or `None`
    /// when the unit does not enter the funnel or is excluded.
    fn unit(
        &self,
        ts: &[i64],
        masks: &[u64],
        xmasks: &[u64],
        buf: &mut Vec<u64>,
    ) -> Option<UnitOut> {
        if self.open {
            return self.open_unit(ts, masks, buf);
        }
        let (core, sub_masks): (&Core, &[u64]) = match &self.required_core {
            None => (&self.core, masks),
            Some(c) => {
                project(masks, &self.required, buf);
                (c, &buf[..])
            }
        };
        let o = core.run(ts, sub_masks);
        if o.level == 0 {
            return None;
        }
        let mut start = o.start;
        let mut times = o.times;
        if !self.exclusions.is_empty() {
            let excl = self.exclusions_of(ts, xmasks);
            if excl.iter().any(|x| !x.times.is_empty()) {
                let Some(s) = core.clean_start(ts, sub_masks, o.level, &excl, None) else {
                    // Keep the level, so that held partitions compare by it.
                    let reached = (0..o.level).fold(0u64, |r, k| {
                        r | 1
                            << if self.optional.is_empty() {
                                k
                            } else {
                                self.required[k]
                            }
                    });
                    return Some(UnitOut {
                        excluded: true,
                        reached,
                        ..UnitOut::default()
                    });
                };
                start = s;
                times = core.ordered_from(ts, sub_masks, start).1;
                times.truncate(o.level);
            }
        }
        let mut out = UnitOut {
            start,
            ..UnitOut::default()
        };
        for (k, &t) in times.iter().enumerate() {
            let j = if self.optional.is_empty() {
                k
            } else {
                self.required[k]
            };
            out.reached |= 1 << j;
            out.times.push((j, t));
        }
        if !self.optional.is_empty() {
            let mut sub = Vec::new();
            for &j in &self.optional {
                let mut steps: Vec<usize> =
                    self.required.iter().copied().filter(|&r| r < j).collect();
                steps.push(j);
                project(masks, &steps, &mut sub);
                let c = self.sub_core(&steps);
                let so = c.run(ts, &sub);
                if so.level == steps.len() {
                    out.reached |= 1 << j;
                    let t = so.times[so.level - 1];
                    let prev = if so.level >= 2 {
                        so.times[so.level - 2]
                    } else {
                        t
                    };
                    out.optional_times.push((j, t - prev, t - so.times[0]));
                }
            }
        }
        Some(out)
    }

    fn exclusions_of(&self, ts: &[i64], xmasks: &[u64]) -> Vec<CoreExclusion> {
        let pos = |j: usize| {
            if self.optional.is_empty() {
                j
            } else {
                self.required.iter().position(|&r| r == j).unwrap_or(j)
            }
        };
        self.exclusions
            .iter()
            .enumerate()
            .map(|(x, &(i, j))| CoreExclusion {
                i: pos(i),
                j: pos(j),
                times: (0..ts.len())
                    .filter(|&e| xmasks[e] >> x & 1 == 1)
                    .map(|e| ts[e])
                    .collect(),
            })
            .collect()
    }

    fn open_unit(&self, ts: &[i64], masks: &[u64], buf: &mut Vec<u64>) -> Option<UnitOut> {
        let mut out = UnitOut::default();
        let mut first: Option<Outcome> = None;
        let mut first_k = 0;
        for k in 0..self.n {
            let steps: Vec<usize> = (k..self.n).collect();
            project(masks, &steps, buf);
            let o = self.sub_core(&steps).run(ts, buf);
            if o.level == 0 {
                continue;
            }
            for l in 0..o.level {
                out.reached |= 1 << (k + l);
                if l > 0 {
                    out.via_prev |= 1 << (k + l);
                }
            }
            if first.is_none() {
                first_k = k;
                first = Some(o);
            }
        }
        let o = first?;
        out.entrance = Some(first_k);
        out.start = o.start;
        out.times = o
            .times
            .iter()
            .enumerate()
            .map(|(l, &t)| (first_k + l, t))
            .collect();
        Some(out)
    }
}

/// Which of two held partitions a unit counts with: more steps (exclusions aside), then
/// not excluded, then the later start, then the earlier step times. A unit whose best
/// partition is excluded is removed, as a unit whose best level is reached only by
/// excluded attempts.
fn better(a: &UnitOut, b: &UnitOut) -> bool {
    let ka = (a.reached.count_ones(), !a.excluded, a.start);
    let kb = (b.reached.count_ones(), !b.excluded, b.start);
    if ka != kb {
        return ka > kb;
    }
    let (ta, tb): (Vec<i64>, Vec<i64>) = (
        a.times.iter().map(|x| x.1).collect(),
        b.times.iter().map(|x| x.1).collect(),
    );
    if ta != tb {
        return ta < tb;
    }
    if a.optional_times != b.optional_times {
        return a.optional_times < b.optional_times;
    }
    // Same rank: the partition reaching the later steps, so that the choice never
    // depends on the order the held values are tried in.
    (a.reached, a.via_prev) > (b.reached, b.via_prev)
}

/// Keeps, per event, the bits of `steps` (in that order) of its mask.
fn project(masks: &[u64], steps: &[usize], out: &mut Vec<u64>) {
    out.clear();
    out.extend(masks.iter().map(|&m| {
        let mut r = 0u64;
        for (k, &j) in steps.iter().enumerate() {
            r |= (m >> j & 1) << k;
        }
        r
    }));
}

/// Times per step (from the previous step, or from step 1).
type StepTimes = Vec<Vec<i64>>;

/// Aggregated results (mergeable across workers).
#[derive(Default)]
struct Acc {
    counts: Vec<u64>,
    via_prev: Vec<u64>,
    entrances: Vec<u64>,
    excluded: u64,
    from_prev: Vec<Vec<i64>>,
    from_start: Vec<Vec<i64>>,
    /// Other workers' times, joined once in `build` (no growing copies).
    parts: Vec<(StepTimes, StepTimes)>,
    bd: FxHashMap<Key, Vec<u64>>,
    /// Summarised visitors (level 1 only) per query id of the breakdown dimension,
    /// joined into `bd` once, in `build`: an increment a visitor, not a hash lookup
    /// (the lookup was 4% of a funnel by campaign).
    bd_summaries: Vec<u64>,
    trend: Vec<u64>,
    flow: Option<flow::FlowAcc>,
}

impl Acc {
    fn new(n: usize, nb: usize) -> Acc {
        Acc {
            counts: vec![0; n],
            via_prev: vec![0; n],
            entrances: vec![0; n],
            excluded: 0,
            from_prev: vec![Vec::new(); n],
            from_start: vec![Vec::new(); n],
            parts: Vec::new(),
            bd: FxHashMap::default(),
            bd_summaries: Vec::new(),
            trend: vec![0; nb * n],
            flow: None,
        }
    }

    fn merge(&mut self, o: Acc) {
        for (a, b) in [
            (&mut self.counts, &o.counts),
            (&mut self.via_prev, &o.via_prev),
            (&mut self.entrances, &o.entrances),
            (&mut self.trend, &o.trend),
        ] {
            for (x, y) in a.iter_mut().zip(b) {
                *x += y;
            }
        }
        self.excluded += o.excluded;
        if let (Some(a), Some(b)) = (&mut self.flow, o.flow) {
            a.merge(b);
        }
        // Times are kept per worker and joined once, in `build`.
        self.parts.push((o.from_prev, o.from_start));
        self.parts.extend(o.parts);
        for (k, v) in o.bd {
            let e = self.bd.entry(k).or_insert_with(|| vec![0; v.len()]);
            for (x, y) in e.iter_mut().zip(v) {
                *x += y;
            }
        }
        if self.bd_summaries.len() < o.bd_summaries.len() {
            self.bd_summaries.resize(o.bd_summaries.len(), 0);
        }
        for (x, y) in self.bd_summaries.iter_mut().zip(o.bd_summaries) {
            *x += y;
        }
    }

    /// Joins the summarised visitors' counts into `bd` (`n` steps).
    fn join_summaries(&mut self, n: usize) {
        for (id, c) in std::mem::take(&mut self.bd_summaries)
            .into_iter()
            .enumerate()
        {
            if c > 0 {
                let key = FieldReader::id_token(id as u32);
                self.bd.entry(key).or_insert_with(|| vec![0; n])[0] += c;
            }
        }
    }
}

/// Everything a worker needs.
struct Ctx<'a> {
    spec: &'a FunnelSpec,
    plan: Plan,
    steps: Vec<Vec<Alt>>,
    excl: Vec<Vec<Alt>>,
    step_tables: Tables,
    excl_tables: Tables,
    hold: Vec<FieldReader>,
    breakdown: Option<FieldReader>,
    buckets: Option<Buckets>,
    q: &'a Query,
    flow: Option<flow::FlowPlan>,
}

#[derive(Default)]
struct Scratch {
    masks: Vec<u64>,
    xmasks: Vec<u64>,
    m2: Vec<u64>,
    buf: Vec<u64>,
}

/// A funnel as an experiment's metric: when a unit completes it with some of its kept
/// events only (those from its first exposure on). The funnel's steps, mode, windows,
/// optional steps, exclusions and held properties apply; its unit does not (the events
/// given are one unit). Open funnels have no completion and are refused by the spec.
pub(crate) struct Completion<'a> {
    ctx: Ctx<'a>,
    /// The last required step.
    last: usize,
}

/// A [`Completion`]'s buffers, reused across timelines.
#[derive(Default)]
pub(crate) struct CompletionScratch(Scratch);

impl<'a> Completion<'a> {
    /// The goals its steps and exclusions name.
    pub(crate) fn goals(spec: &FunnelSpec) -> Vec<&str> {
        cairn_model::query::funnel_matchers(spec, "")
            .into_iter()
            .filter_map(|(_, s)| s.goal.as_deref())
            .collect()
    }

    /// The columns it reads.
    pub(crate) fn needs(q: &Query, spec: &FunnelSpec, needs: &mut Needs) {
        let mut s = spec.clone();
        s.flow = false;
        s.breakdown = None;
        Funnel { q, spec: &s }.needs(needs);
    }

    pub(crate) fn compile(sc: &Scope<'_>, q: &'a Query, spec: &'a FunnelSpec) -> Completion<'a> {
        let mut ctx = Funnel { q, spec }.compile(sc);
        ctx.flow = None;
        ctx.breakdown = None;
        ctx.buckets = None;
        let last = (0..spec.steps.len())
            .rev()
            .find(|&j| !spec.steps[j].optional)
            .unwrap_or(0);
        Completion { ctx, last }
    }

    /// Reads a timeline's step masks: once per timeline, before [`Completion::time`].
    pub(crate) fn read(&self, tl: &Timeline, prep: &Prepared, s: &mut CompletionScratch) {
        self.ctx.fill_masks(tl, prep, &mut s.0);
    }

    /// When the unit made of kept positions `[a, b)` completes the funnel (the time of its
    /// last required step), if it does.
    pub(crate) fn time(
        &self,
        tl: &Timeline,
        prep: &Prepared,
        a: usize,
        b: usize,
        s: &mut CompletionScratch,
    ) -> Option<i64> {
        let Scratch {
            masks,
            xmasks,
            m2,
            buf,
        } = &mut s.0;
        let o = self
            .ctx
            .outcome(tl, prep, a, b, masks, xmasks, m2, buf)
            .flatten()?;
        if o.excluded || o.reached >> self.last & 1 == 0 {
            return None;
        }
        o.times.iter().find(|(j, _)| *j == self.last).map(|x| x.1)
    }
}

/// A funnel over the plan's range.
pub(crate) fn run(cx: Cx<'_>, spec: &FunnelSpec) -> Result<FunnelResult, Error> {
    driver::run(cx, &Funnel { q: cx.q, spec }, cx.r.from, cx.r.to)
}

/// A funnel, as an analysis.
struct Funnel<'a> {
    q: &'a Query,
    spec: &'a FunnelSpec,
}

impl<'a> Analysis for Funnel<'a> {
    type Pass = Ctx<'a>;

    fn goals(&self) -> Vec<&str> {
        let mut g: Vec<&str> = cairn_model::query::funnel_matchers(self.spec, "")
            .into_iter()
            .filter_map(|(_, s)| s.goal.as_deref())
            .collect();
        if self.spec.flow {
            g.extend(flow::goals(self.q, self.spec));
        }
        g
    }

    fn needs(&self, needs: &mut Needs) {
        let spec = self.spec;
        for s in spec
            .steps
            .iter()
            .chain(spec.exclusions.iter().map(|e| &e.step))
        {
            step_needs(s, needs);
        }
        for f in &spec.hold {
            needs.add_field(f);
        }
        if let Some(b) = &spec.breakdown {
            needs.add_field(&b.by);
        }
        if spec.flow {
            flow::rules(spec).needs(needs);
        }
    }

    fn stitch(&self) -> bool {
        self.spec.unit == Unit::Lead
    }

    /// A closed ordered (or strict) funnel by visitor, of steps that are each one event
    /// name (or a list of names), without exclusions, optional steps, held properties,
    /// flow, trend or filters, broken down (if at all) by a dimension's first value: a
    /// visitor without a step-2 event has level 1 if it has a step-1 event, and its
    /// summary says all the funnel reads of it. Class j is step j; visitors with events
    /// of steps 1 and 2 come as timelines.
    fn summary(&self, sc: &Scope<'_>, pass: &Ctx<'a>) -> Option<SummaryRequest> {
        let spec = self.spec;
        let n = spec.steps.len();
        if spec.unit != Unit::Visitor
            || !matches!(spec.mode, FunnelMode::Ordered | FunnelMode::Strict)
            || spec.open
            || !(2..=MAX_CLASSES).contains(&n)
            || !pass.plan.optional.is_empty()
            || !spec.exclusions.is_empty()
            || !spec.hold.is_empty()
            || pass.flow.is_some()
            || pass.buckets.is_some()
            || !sc.r.filters.is_empty()
        {
            return None;
        }
        // Class j is step j.
        let steps = u64::MAX >> (64 - n);
        let (dims, dims_from) = match &spec.breakdown {
            None => (Vec::new(), None),
            Some(b) => match (&b.by, b.attribution) {
                (Field::Dim(d), Attribution::First) => (vec![*d], Some(steps)),
                (Field::Dim(d), Attribution::Unit) => (vec![*d], None),
                _ => return None,
            },
        };
        let mut classes = vec![0u64; sc.scan.dict(Dim::Name).len()];
        for (j, alts) in pass.steps.iter().enumerate() {
            for a in alts {
                // Each alternative one condition on the event name, no goal.
                let single = a.pred.single().filter(|_| a.goal.is_none());
                driver::add_name_class(&mut classes, j, single)?;
            }
        }
        // An ordered funnel reads only its steps' events: the others may be left out of
        // the timelines (a strict one reads every event; a breakdown by the unit's first
        // value, any event's).
        let timeline_rows = (spec.mode == FunnelMode::Ordered
            && (dims.is_empty() || dims_from == Some(steps)))
        .then_some(steps);
        Some(SummaryRequest {
            classes,
            dims,
            dims_from,
            places: 0,
            timelines: Some(0b11),
            timeline_rows,
            // Visitors without a step-1 event are not in the funnel.
            others: Some(1),
        })
    }

    fn compile(&self, sc: &Scope<'_>) -> Ctx<'a> {
        let (q, spec, scan) = (self.q, self.spec, sc.scan);
        let steps: Vec<Vec<Alt>> = spec.steps.iter().map(|s| compile_step(sc, q, s)).collect();
        let excl: Vec<Vec<Alt>> = spec
            .exclusions
            .iter()
            .map(|e| compile_step(sc, q, &e.step))
            .collect();
        Ctx {
            spec,
            plan: Plan::new(spec),
            step_tables: tables_of(&steps),
            excl_tables: tables_of(&excl),
            steps,
            excl,
            hold: spec
                .hold
                .iter()
                .map(|f| FieldReader::new(scan, &sc.pages, f))
                .collect(),
            breakdown: spec
                .breakdown
                .as_ref()
                .map(|b| FieldReader::new(scan, &sc.pages, &b.by)),
            buckets: spec
                .trend
                .map(|iv| Buckets::new(sc.r.from, sc.r.to, iv, sc.r.tz)),
            q,
            flow: spec.flow.then(|| flow::FlowPlan::new(sc, q, spec)),
        }
    }
}

impl Pass for Ctx<'_> {
    type State = (Acc, Scratch);
    type Output = FunnelResult;

    fn state(&self) -> Self::State {
        let nb = self.buckets.as_ref().map_or(0, Buckets::len);
        let mut acc = Acc::new(self.spec.steps.len(), nb);
        acc.flow = self.flow.as_ref().map(flow::FlowPlan::acc);
        (acc, Scratch::default())
    }

    fn timeline(&self, sc: &Scope<'_>, tl: &Timeline, prep: &Prepared, st: &mut Self::State) {
        self.fold(sc, tl, prep, &mut st.0, &mut st.1);
    }

    /// A visitor without step 2 (see [`Funnel::summary`]): level 1 if it has step 1,
    /// under its first value.
    fn summary(&self, _sc: &Scope<'_>, s: &Summary, (acc, _): &mut Self::State) {
        if s.classes & 1 == 0 {
            return;
        }
        acc.counts[0] += 1;
        if self.breakdown.is_some() {
            // Query id 0 is the empty value, as `FieldReader::id_token` has it.
            let id = s.dims.first().copied().flatten().unwrap_or(0) as usize;
            if acc.bd_summaries.len() <= id {
                acc.bd_summaries.resize(id + 1, 0);
            }
            acc.bd_summaries[id] += 1;
        }
    }

    /// Visitors without a step-1 event: not in the funnel.
    fn others(&self, _sc: &Scope<'_>, _n: u64, _st: &mut Self::State) {}

    fn merge(&self, into: &mut Self::State, from: Self::State) {
        into.0.merge(from.0);
    }

    fn finish(self, sc: &Scope<'_>, (mut acc, _): Self::State) -> FunnelResult {
        let flow = acc.flow.take();
        let mut r = self.build(sc.scan, acc);
        if let (Some(plan), Some(f)) = (&self.flow, flow) {
            let last = (0..r.steps.len())
                .rev()
                .find(|&j| !self.spec.steps[j].optional)
                .unwrap_or(r.steps.len() - 1);
            r.flow = Some(plan.finish(sc, self.q, f, r.steps[last].count));
        }
        r
    }
}

impl Ctx<'_> {
    /// Every kept event's step and exclusion masks, into `s.masks` and `s.xmasks`.
    fn fill_masks(&self, tl: &Timeline, prep: &Prepared, s: &mut Scratch) {
        s.masks.clear();
        s.xmasks.clear();
        for (t, alts, out) in [
            (&self.step_tables, &self.steps, &mut s.masks),
            (&self.excl_tables, &self.excl, &mut s.xmasks),
        ] {
            // The table lookups decide most steps column by column; the rest are tested
            // event by event.
            t.bits_into(tl, Some(&prep.kept), out);
            for (j, alts) in alts.iter().enumerate() {
                if t.covered >> j & 1 == 1 {
                    continue;
                }
                for (p, m) in out.iter_mut().enumerate() {
                    if alt_hit(alts, tl, prep, p) {
                        *m |= 1 << j;
                    }
                }
            }
        }
    }

    fn fold(&self, sc: &Scope<'_>, tl: &Timeline, prep: &Prepared, acc: &mut Acc, s: &mut Scratch) {
        self.fill_masks(tl, prep, s);
        match self.spec.unit {
            Unit::Session => {
                for &(a, b) in &prep.sessions {
                    let (a, b) = (a as usize, b as usize);
                    self.one_unit(
                        sc, tl, prep, a, b, &s.masks, &s.xmasks, acc, &mut s.m2, &mut s.buf,
                    );
                }
            }
            Unit::Attempt => self.attempts(tl, prep, &s.masks, &s.xmasks, acc),
            Unit::Visitor | Unit::Lead => {
                let n = prep.kept.len();
                self.one_unit(
                    sc, tl, prep, 0, n, &s.masks, &s.xmasks, acc, &mut s.m2, &mut s.buf,
                );
            }
        }
    }

    /// The unit made of kept positions `[a, b)`, with hold-constant partitions.
    #[allow(clippy::too_many_arguments)]
    fn one_unit(
        &self,
        sc: &Scope<'_>,
        tl: &Timeline,
        prep: &Prepared,
        a: usize,
        b: usize,
        masks: &[u64],
        xmasks: &[u64],
        acc: &mut Acc,
        m2: &mut Vec<u64>,
        buf: &mut Vec<u64>,
    ) {
        let Some(out) = self.outcome(tl, prep, a, b, masks, xmasks, m2, buf) else {
            return;
        };
        let masks = &masks[a..b];
        if let (Some(plan), Some(f)) = (&self.flow, &mut acc.flow) {
            let outcome = out
                .as_ref()
                .filter(|o| !o.excluded)
                .map(|o| (o.reached, o.times.as_slice()));
            plan.unit(sc, tl, prep, a, b, masks, outcome, f);
        }
        match out {
            Some(o) if o.excluded => acc.excluded += 1,
            Some(o) => self.count(tl, prep, a, b, masks, &o, acc),
            None => {}
        }
    }

    /// The outcome of the unit made of kept positions `[a, b)`: `None` when none of its
    /// events matches a step, `Some(None)` when it does not enter the funnel.
    #[allow(clippy::too_many_arguments)]
    fn outcome(
        &self,
        tl: &Timeline,
        prep: &Prepared,
        a: usize,
        b: usize,
        masks: &[u64],
        xmasks: &[u64],
        m2: &mut Vec<u64>,
        buf: &mut Vec<u64>,
    ) -> Option<Option<UnitOut>> {
        let ts = &prep.ts[a..b];
        let (masks, xmasks) = (&masks[a..b], &xmasks[a..b]);
        if masks.iter().all(|&m| m == 0) {
            return None;
        }
        Some(if self.hold.is_empty() {
            self.plan.unit(ts, masks, xmasks, buf)
        } else {
            // One funnel per held value; the unit counts with its best one.
            let tokens: Vec<Option<Vec<(u8, u64)>>> = (a..b)
                .map(|p| {
                    let i = prep.kept[p] as usize;
                    self.hold
                        .iter()
                        .map(|h| h.token(tl, i))
                        .collect::<Option<Vec<_>>>()
                })
                .collect();
            let mut values: Vec<&Vec<(u8, u64)>> = tokens
                .iter()
                .zip(masks)
                .filter(|(_, m)| **m != 0)
                .filter_map(|(t, _)| t.as_ref())
                .collect();
            values.sort();
            values.dedup();
            let mut best: Option<UnitOut> = None;
            for v in values {
                m2.clear();
                m2.extend(
                    masks
                        .iter()
                        .zip(&tokens)
                        .map(|(&m, t)| if t.as_ref() == Some(v) { m } else { 0 }),
                );
                if let Some(o) = self.plan.unit(ts, m2, xmasks, buf)
                    && best.as_ref().is_none_or(|b| better(&o, b))
                {
                    best = Some(o);
                }
            }
            best
        })
    }

    fn attempts(
        &self,
        tl: &Timeline,
        prep: &Prepared,
        masks: &[u64],
        xmasks: &[u64],
        acc: &mut Acc,
    ) {
        let core = &self.plan.core;
        let ts = &prep.ts[..];
        let n = self.plan.n;
        let mut p = 0usize;
        while let Some(e) = (p..ts.len()).find(|&e| masks[e] & 1 == 1) {
            let start = ts[e];
            let (level, times) = core.ordered_from(ts, masks, start);
            let end = if level == n {
                times[n - 1]
            } else {
                start.saturating_add(core.window)
            };
            // The attempt's own events, for its breakdown value.
            let (a, b) = (
                ts.partition_point(|&t| t < start),
                ts.partition_point(|&t| t <= end),
            );
            let mut ok = true;
            if !self.plan.exclusions.is_empty() {
                let excl = self.plan.exclusions_of(ts, xmasks);
                if excl.iter().any(|x| !x.times.is_empty()) {
                    ok = core
                        .clean_start(ts, masks, level, &excl, Some(start))
                        .is_some();
                }
            }
            if ok {
                let o = UnitOut {
                    reached: if level >= 64 {
                        u64::MAX
                    } else {
                        (1u64 << level) - 1
                    },
                    start,
                    times: times.iter().copied().enumerate().collect(),
                    ..UnitOut::default()
                };
                self.count(tl, prep, a, b, &masks[a..b], &o, acc);
            } else {
                acc.excluded += 1;
            }
            p = ts.partition_point(|&t| t <= end);
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn count(
        &self,
        tl: &Timeline,
        prep: &Prepared,
        a: usize,
        b: usize,
        masks: &[u64],
        o: &UnitOut,
        acc: &mut Acc,
    ) {
        let n = self.plan.n;
        for j in 0..n {
            if o.reached >> j & 1 == 1 {
                acc.counts[j] += 1;
            }
            if o.via_prev >> j & 1 == 1 {
                acc.via_prev[j] += 1;
            }
        }
        if let Some(e) = o.entrance {
            acc.entrances[e] += 1;
        }
        if let Some((_, t0)) = o.times.first() {
            for w in o.times.windows(2) {
                let (j, t) = w[1];
                acc.from_prev[j].push(t - w[0].1);
                acc.from_start[j].push(t - t0);
            }
        }
        for &(j, dp, ds) in &o.optional_times {
            acc.from_prev[j].push(dp);
            acc.from_start[j].push(ds);
        }
        if let Some(bk) = &self.buckets {
            let bi = bk.index(o.start);
            for j in 0..n {
                if o.reached >> j & 1 == 1 {
                    acc.trend[bi * n + j] += 1;
                }
            }
        }
        if let (Some(rd), Some(bd)) = (&self.breakdown, &self.spec.breakdown) {
            let key = self.unit_key(rd, bd.attribution, bd.step, tl, prep, a, b, masks, o);
            let e = acc.bd.entry(key).or_insert_with(|| vec![0; n]);
            for (j, x) in e.iter_mut().enumerate() {
                if o.reached >> j & 1 == 1 {
                    *x += 1;
                }
            }
        }
    }

    /// The breakdown value of a unit: first (or last) non-empty value among its events
    /// that match a step, the value on the event of step k of its chain, or the first
    /// non-empty value among all its events.
    #[allow(clippy::too_many_arguments)]
    fn unit_key(
        &self,
        rd: &FieldReader,
        attr: Attribution,
        step: Option<usize>,
        tl: &Timeline,
        prep: &Prepared,
        a: usize,
        b: usize,
        masks: &[u64],
        o: &UnitOut,
    ) -> Key {
        let tok = |p: usize| rd.token(tl, prep.kept[a + p] as usize);
        match attr {
            Attribution::First => (0..b - a).filter(|&p| masks[p] != 0).find_map(tok),
            Attribution::Last => (0..b - a).rev().filter(|&p| masks[p] != 0).find_map(tok),
            Attribution::Unit => (0..b - a).find_map(tok),
            Attribution::Step => {
                let k = step.unwrap_or(1) - 1;
                let (_, t) = *o.times.iter().find(|(j, _)| *j == k)?;
                let ts = &prep.ts[a..b];
                (0..b - a)
                    .find(|&p| ts[p] == t && masks[p] >> k & 1 == 1)
                    .and_then(tok)
            }
        }
    }

    fn build(&self, scan: &dyn TimelineScan, mut acc: Acc) -> FunnelResult {
        let n = self.plan.n;
        let spec = self.spec;
        let first = acc.counts[0];
        let mut steps = Vec::with_capacity(n);
        let mut from_prev = std::mem::take(&mut acc.from_prev);
        let mut from_start = std::mem::take(&mut acc.from_start);
        let join = |j: usize, mine: &mut Vec<Vec<i64>>, which: usize| -> Vec<i64> {
            let own = std::mem::take(&mut mine[j]);
            let total = own.len()
                + acc
                    .parts
                    .iter()
                    .map(|p| {
                        if which == 0 {
                            p.0[j].len()
                        } else {
                            p.1[j].len()
                        }
                    })
                    .sum::<usize>();
            let mut all = Vec::with_capacity(total);
            all.extend_from_slice(&own);
            for p in &acc.parts {
                all.extend_from_slice(if which == 0 { &p.0[j] } else { &p.1[j] });
            }
            all
        };
        for j in 0..n {
            let s = &spec.steps[j];
            // The previous step a unit must have passed: the previous required one.
            let prev = (0..j).rev().find(|&k| !spec.steps[k].optional);
            let (prev_count, came) = match prev {
                None => (acc.counts[j], acc.counts[j]),
                Some(k) if self.plan.open => (acc.counts[k], acc.via_prev[j]),
                Some(k) => (acc.counts[k], acc.counts[j]),
            };
            let dropped = prev_count.saturating_sub(came);
            steps.push(FunnelStepResult {
                label: s.display(),
                optional: s.optional,
                count: acc.counts[j],
                entrances: self.plan.open.then_some(acc.entrances[j]),
                from_previous: wilson(came, prev_count),
                dropped,
                drop_off: if prev_count > 0 {
                    dropped as f64 / prev_count as f64
                } else {
                    0.0
                },
                from_start: wilson(acc.counts[j], first),
                time_from_previous: time_stats(join(j, &mut from_prev, 0)),
                time_from_start: time_stats(join(j, &mut from_start, 1)),
            });
        }
        let last_required = (0..n)
            .rev()
            .find(|&j| !spec.steps[j].optional)
            .unwrap_or(n - 1);
        let mut breakdown = Vec::new();
        if let (Some(rd), Some(b)) = (&self.breakdown, &spec.breakdown) {
            acc.join_summaries(n);
            let mut rows: Vec<(String, Vec<u64>)> = acc
                .bd
                .into_iter()
                .map(|(k, v)| {
                    (
                        k.map_or_else(|| "(none)".to_string(), |t| rd.text(scan, t)),
                        v,
                    )
                })
                .collect();
            rows.sort_by(|x, y| y.1[0].cmp(&x.1[0]).then_with(|| x.0.cmp(&y.0)));
            let mut other: Option<Vec<u64>> = None;
            for (i, (v, c)) in rows.into_iter().enumerate() {
                if i < b.limit {
                    breakdown.push((v, c));
                } else {
                    let o = other.get_or_insert_with(|| vec![0; n]);
                    for (x, y) in o.iter_mut().zip(c) {
                        *x += y;
                    }
                }
            }
            if let Some(o) = other {
                breakdown.push(("(other)".to_string(), o));
            }
        }
        let breakdown = breakdown
            .into_iter()
            .map(|(value, counts)| FunnelBreakdownRow {
                conversion: wilson(counts[last_required], counts[0]),
                value,
                counts,
            })
            .collect();
        let trend = self
            .buckets
            .as_ref()
            .map(|bk| {
                (0..bk.len())
                    .map(|bi| {
                        let counts = acc.trend[bi * n..(bi + 1) * n].to_vec();
                        FunnelTrendPoint {
                            start: bk.start(bi),
                            label: bk.label(bi).to_string(),
                            conversion: wilson(counts[last_required], counts[0]),
                            counts,
                        }
                    })
                    .collect()
            })
            .unwrap_or_default();
        FunnelResult {
            flow: None,
            unit: spec.unit,
            steps,
            excluded: acc.excluded,
            breakdown_by: spec.breakdown.as_ref().map(|b| b.by.to_string()),
            breakdown,
            trend,
        }
    }
}
