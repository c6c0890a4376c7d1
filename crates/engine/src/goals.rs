//! The goal conversion report: per goal and unit (session, visitor, lead), converting
//! units over all units with Wilson intervals; conversions and value; time series;
//! breakdown; comparison with the previous period.

use std::collections::BTreeMap;

use cairn_model::query::result::{
    GoalRow, GoalsBreakdownRow, GoalsBucket, GoalsResult, Money, SpendSummary, UnitRate, UnitTotal,
};
use cairn_model::query::{
    Conversion, Counting, Field, GoalValue, GoalsSpec, Query, SpecError, SpendTotals, Unit,
    spend_totals, to_micros,
};
use cairn_timeline::{Timeline, TimelineScan};
use rustc_hash::FxHashMap;

use crate::Error;
use crate::buckets::Buckets;
use crate::driver::{self, Analysis, Cx, Pass, Scope};
use crate::matcher::{FieldReader, Needs};
use crate::prepare::{Filters, Goals, Prepared};
use crate::stats::{newcombe, wilson};

/// A breakdown value: a dictionary token, or none.
pub(crate) type Key = Option<(u8, u64)>;

#[derive(Clone, Default)]
struct BdAcc {
    totals: Vec<u64>,
    conv: Vec<u64>,
    /// Per goal, its counted conversions' value under this key (session and visitor
    /// first units): currency → micros.
    values: Vec<BTreeMap<String, i128>>,
}

impl BdAcc {
    fn new(nu: usize, ng: usize) -> BdAcc {
        BdAcc {
            totals: vec![0; nu],
            conv: vec![0; ng * nu],
            values: vec![BTreeMap::new(); ng],
        }
    }

    fn add(&mut self, o: &BdAcc) {
        add(&mut self.totals, &o.totals);
        add(&mut self.conv, &o.conv);
        for (a, b) in self.values.iter_mut().zip(&o.values) {
            for (c, v) in b {
                *a.entry(c.clone()).or_default() += v;
            }
        }
    }
}

/// A conversion's value: (currency, micros), if it has one.
type Value = Option<(String, i128)>;

/// Per-lead facts gathered from its visitors.
#[derive(Default)]
struct LeadAcc {
    first_ts: i64,
    key: Option<(i64, Key)>,
    /// Per goal: first hit (ts, value).
    first: Vec<Option<(i64, Value)>>,
    buckets: Vec<u32>,
    bucket_goals: Vec<(u32, u32)>,
}

struct Acc {
    nu: usize,
    ng: usize,
    totals: Vec<u64>,
    conv: Vec<u64>,
    conversions: Vec<u64>,
    values: Vec<BTreeMap<String, i128>>,
    series_tot: Vec<u64>,
    series_conv: Vec<u64>,
    bd: FxHashMap<Key, BdAcc>,
    leads: FxHashMap<String, LeadAcc>,
}

impl Acc {
    fn new(nu: usize, ng: usize, nb: usize) -> Acc {
        Acc {
            nu,
            ng,
            totals: vec![0; nu],
            conv: vec![0; ng * nu],
            conversions: vec![0; ng],
            values: vec![BTreeMap::new(); ng],
            series_tot: vec![0; nb * nu],
            series_conv: vec![0; nb * ng * nu],
            bd: FxHashMap::default(),
            leads: FxHashMap::default(),
        }
    }

    fn merge(&mut self, o: Acc) {
        add(&mut self.totals, &o.totals);
        add(&mut self.conv, &o.conv);
        add(&mut self.conversions, &o.conversions);
        for (a, b) in self.values.iter_mut().zip(o.values) {
            for (c, v) in b {
                *a.entry(c).or_default() += v;
            }
        }
        add(&mut self.series_tot, &o.series_tot);
        add(&mut self.series_conv, &o.series_conv);
        for (k, v) in o.bd {
            self.bd
                .entry(k)
                .or_insert_with(|| BdAcc::new(self.nu, self.ng))
                .add(&v);
        }
        self.leads.reserve(o.leads.len());
        for (k, v) in o.leads {
            match self.leads.get_mut(&k) {
                None => {
                    self.leads.insert(k, v);
                }
                Some(l) => merge_lead(l, v),
            }
        }
    }
}

fn add(a: &mut [u64], b: &[u64]) {
    for (x, y) in a.iter_mut().zip(b) {
        *x += y;
    }
}

fn merge_lead(l: &mut LeadAcc, v: LeadAcc) {
    l.first_ts = l.first_ts.min(v.first_ts);
    if let Some((t, k)) = v.key {
        keep_earliest(&mut l.key, t, || k);
    }
    for (a, b) in l.first.iter_mut().zip(v.first) {
        if let Some((t, value)) = b {
            keep_earliest(a, t, || value);
        }
    }
    l.buckets.extend(v.buckets);
    l.bucket_goals.extend(v.bucket_goals);
}

/// A lead's fact from the earliest of its visitors: `slot` keeps the earlier of what it
/// holds and (`t`, `make()`), what it holds on a tie; `make` runs only when it wins.
fn keep_earliest<T>(slot: &mut Option<(i64, T)>, t: i64, make: impl FnOnce() -> T) {
    if slot.as_ref().is_none_or(|(held, _)| t < *held) {
        *slot = Some((t, make()));
    }
}

/// Everything fixed for one period's computation.
#[derive(Clone)]
struct Report<'a> {
    q: &'a Query,
    spec: &'a GoalsSpec,
    /// Report goal indices (into `q.goals`).
    report: Vec<usize>,
    units: Vec<Unit>,
    counting: Vec<Counting>,
    buckets: Option<Buckets>,
    /// The spend of the range per value of the breakdown field.
    spend: Option<SpendTotals>,
}

pub(crate) fn run(cx: Cx<'_>, spec: &GoalsSpec) -> Result<GoalsResult, Error> {
    let (q, r) = (cx.q, cx.r);
    let report: Vec<usize> = if spec.goals.is_empty() {
        (0..q.goals.len()).collect()
    } else {
        spec.goals
            .iter()
            .filter_map(|n| q.goals.iter().position(|g| &g.name == n))
            .collect()
    };
    let mut units = spec.units.clone();
    units.dedup();
    let first_unit = units[0];
    let counting = report
        .iter()
        .map(|&g| match q.goals[g].count {
            Counting::Unit => match first_unit {
                Unit::Session => Counting::Session,
                Unit::Lead => Counting::Unit,
                _ => Counting::Visitor,
            },
            c => c,
        })
        .collect();
    let spend = match &spec.breakdown {
        Some(b) => {
            let day = |ms: i64| {
                use chrono::TimeZone;
                r.tz.timestamp_millis_opt(ms)
                    .single()
                    .map(|d| d.date_naive())
            };
            match (day(r.from), day(r.to)) {
                (Some(from), Some(to)) => spend_totals(&q.spend, &b.by, from, to)
                    .map_err(|e| SpecError::new("spend", e.message))?,
                _ => None,
            }
        }
        None => None,
    };
    let rep = Report {
        q,
        spec,
        report,
        units,
        counting,
        buckets: spec.interval.map(|iv| Buckets::new(r.from, r.to, iv, r.tz)),
        spend,
    };
    let cur = driver::run(cx, &rep, r.from, r.to)?;
    let prev = if spec.compare {
        let len = r.to - r.from + 1;
        let p = Report {
            buckets: None,
            ..rep.clone()
        };
        let range = [r.from - len, r.from - 1];
        Some((driver::run(cx, &p, range[0], range[1])?, range))
    } else {
        None
    };
    Ok(build(&rep, cur, prev))
}

impl<'a> Analysis for Report<'a> {
    type Pass = GoalsPass<'a>;

    fn goals(&self) -> Vec<&str> {
        self.report
            .iter()
            .map(|&g| self.q.goals[g].name.as_str())
            .collect()
    }

    fn needs(&self, needs: &mut Needs) {
        if let Some(b) = &self.spec.breakdown {
            needs.add_field(&b.by);
        }
    }

    fn compile(&self, sc: &Scope<'_>) -> GoalsPass<'a> {
        GoalsPass {
            reader: self
                .spec
                .breakdown
                .as_ref()
                .map(|b| FieldReader::new(sc.scan, &sc.pages, &b.by)),
            rep: self.clone(),
        }
    }
}

/// One period's goals, compiled.
struct GoalsPass<'a> {
    rep: Report<'a>,
    reader: Option<FieldReader>,
}

/// One period's counts, with breakdown values as text.
struct Period {
    acc: Acc,
    breakdown: Vec<(String, BdAcc)>,
}

impl Pass for GoalsPass<'_> {
    type State = (Acc, Vec<u32>);
    type Output = Period;

    /// Lead units are filtered on what all of a lead's visitors did.
    const VISITOR_FILTERS: bool = false;

    fn state(&self) -> Self::State {
        let nb = self.rep.buckets.as_ref().map_or(0, Buckets::len);
        (
            Acc::new(self.rep.units.len(), self.rep.report.len(), nb),
            Vec::new(),
        )
    }

    fn timeline(&self, sc: &Scope<'_>, tl: &Timeline, prep: &Prepared, st: &mut Self::State) {
        let (acc, scratch) = st;
        visit(
            &self.rep,
            sc.scan,
            &sc.goals,
            &sc.filters,
            self.reader.as_ref(),
            tl,
            prep,
            acc,
            scratch,
        );
    }

    fn merge(&self, into: &mut Self::State, from: Self::State) {
        into.0.merge(from.0);
    }

    fn finish(self, sc: &Scope<'_>, (mut acc, _): Self::State) -> Period {
        finish_leads(&self.rep, &sc.filters, &mut acc);
        let breakdown = match &self.reader {
            Some(rd) => std::mem::take(&mut acc.bd)
                .into_iter()
                .map(|(k, v)| {
                    let text = k.map_or_else(|| "(none)".to_string(), |t| rd.text(sc.scan, t));
                    (text, v)
                })
                .collect(),
            None => Vec::new(),
        };
        Period { acc, breakdown }
    }
}

#[allow(clippy::too_many_arguments)]
fn visit(
    plan: &Report<'_>,
    scan: &dyn TimelineScan,
    goals: &Goals,
    filters: &Filters,
    reader: Option<&FieldReader>,
    tl: &Timeline,
    prep: &Prepared,
    acc: &mut Acc,
    scratch: &mut Vec<u32>,
) {
    let nu = acc.nu;
    let report = &plan.report;
    let lead = plan
        .units
        .contains(&Unit::Lead)
        .then(|| scan.user_of(tl.visitor))
        .flatten();
    // Lead facts are gathered before the visitor-level behavioural filter: a lead is
    // filtered on what all of its visitors did.
    if let Some(user) = lead {
        // The lead's facts, merged with this visitor's in place (a lead is looked up
        // by its user without a copy of the name, and its lists grow without a list
        // per visitor).
        let l = match acc.leads.get_mut(user) {
            Some(l) => l,
            None => acc
                .leads
                .entry(user.to_string())
                .or_insert_with(|| LeadAcc {
                    first_ts: i64::MAX,
                    first: vec![None; goals.len()],
                    ..LeadAcc::default()
                }),
        };
        l.first_ts = l.first_ts.min(prep.ts[0]);
        if let Some(rd) = reader {
            keep_earliest(&mut l.key, visitor_key_ts(rd, tl, prep), || {
                unit_key(rd, tl, prep, 0, prep.kept.len() as u32)
            });
        }
        for (g, slot) in l.first.iter_mut().enumerate() {
            if let Some(&p) = prep.hits[g].first() {
                keep_earliest(slot, prep.ts[p as usize], || {
                    value_of(plan, scan, tl, prep, g, p)
                });
            }
        }
        if let Some(b) = &plan.buckets {
            let mut last = u32::MAX;
            for &t in &prep.ts {
                let i = b.index(t) as u32;
                if i != last {
                    l.buckets.push(i);
                    last = i;
                }
            }
            for (ri, &g) in report.iter().enumerate() {
                l.bucket_goals.extend(
                    prep.hits[g]
                        .iter()
                        .map(|&p| (b.index(prep.ts[p as usize]) as u32, ri as u32)),
                );
            }
        }
    }
    if !filters.keeps(|g| !prep.hits[g].is_empty()) {
        return;
    }
    for (ui, unit) in plan.units.iter().enumerate() {
        match unit {
            Unit::Session if reader.is_none() => {
                // Without a breakdown: each goal's hits walked with the sessions, a
                // session counted at its first hit (no search per session and goal).
                acc.totals[ui] += prep.sessions.len() as u64;
                let bucket = |a: u32| {
                    plan.buckets
                        .as_ref()
                        .map(|bk| bk.index(prep.ts[a as usize]))
                };
                if plan.buckets.is_some() {
                    for &(a, _) in &prep.sessions {
                        if let Some(bi) = bucket(a) {
                            acc.series_tot[bi * nu + ui] += 1;
                        }
                    }
                }
                for (ri, &g) in report.iter().enumerate() {
                    let mut s = 0;
                    let mut counted = usize::MAX;
                    for &p in &prep.hits[g] {
                        while prep.sessions[s].1 <= p {
                            s += 1;
                        }
                        if s == counted {
                            continue;
                        }
                        counted = s;
                        acc.conv[ri * nu + ui] += 1;
                        if let Some(bi) = bucket(prep.sessions[s].0) {
                            acc.series_conv[(bi * acc.ng + ri) * nu + ui] += 1;
                        }
                    }
                }
            }
            Unit::Session => {
                acc.totals[ui] += prep.sessions.len() as u64;
                for (si, &(a, b)) in prep.sessions.iter().enumerate() {
                    let bucket = plan
                        .buckets
                        .as_ref()
                        .map(|bk| bk.index(prep.ts[a as usize]));
                    if let Some(bi) = bucket {
                        acc.series_tot[bi * nu + ui] += 1;
                    }
                    let key = reader.map(|rd| unit_key(rd, tl, prep, a, b));
                    let conv_in = |g: usize| {
                        let h = &prep.hits[g];
                        let at = h.partition_point(|&p| p < a);
                        h.get(at).is_some_and(|&p| p < b)
                    };
                    if let Some(k) = key {
                        let e = bd_entry(acc, k);
                        e.totals[ui] += 1;
                    }
                    for (ri, &g) in report.iter().enumerate() {
                        if conv_in(g) {
                            acc.conv[ri * nu + ui] += 1;
                            if let Some(bi) = bucket {
                                acc.series_conv[(bi * acc.ng + ri) * nu + ui] += 1;
                            }
                            if let Some(k) = key {
                                bd_entry(acc, k).conv[ri * nu + ui] += 1;
                            }
                        }
                    }
                    let _ = si;
                }
            }
            Unit::Visitor => {
                acc.totals[ui] += 1;
                let key = reader.map(|rd| unit_key(rd, tl, prep, 0, prep.kept.len() as u32));
                if let Some(k) = key {
                    bd_entry(acc, k).totals[ui] += 1;
                }
                if let Some(bk) = &plan.buckets {
                    scratch.clear();
                    bk.distinct_into(prep.ts.iter().copied(), scratch);
                    for &bi in scratch.iter() {
                        acc.series_tot[bi as usize * nu + ui] += 1;
                    }
                }
                for (ri, &g) in report.iter().enumerate() {
                    if prep.hits[g].is_empty() {
                        continue;
                    }
                    acc.conv[ri * nu + ui] += 1;
                    if let Some(k) = key {
                        bd_entry(acc, k).conv[ri * nu + ui] += 1;
                    }
                    if let Some(bk) = &plan.buckets {
                        scratch.clear();
                        bk.distinct_into(
                            prep.hits[g].iter().map(|&p| prep.ts[p as usize]),
                            scratch,
                        );
                        for &bi in scratch.iter() {
                            acc.series_conv[(bi as usize * acc.ng + ri) * nu + ui] += 1;
                        }
                    }
                }
            }
            Unit::Lead | Unit::Attempt => {}
        }
    }
    // Conversions and value (lead counting is settled in `finish_leads`).
    for (ri, &g) in report.iter().enumerate() {
        let hits = &prep.hits[g];
        if hits.is_empty() {
            continue;
        }
        // The counted conversions, without collecting them: every hit, the first of
        // each session, or the first of the visitor.
        let mut last_session = usize::MAX;
        let counted = hits
            .iter()
            .copied()
            .enumerate()
            .filter(|&(k, p)| match plan.counting[ri] {
                Counting::Every => true,
                Counting::Session => {
                    let s = prep.session_of(p);
                    std::mem::replace(&mut last_session, s) != s
                }
                Counting::Visitor => k == 0,
                Counting::Unit => false,
            });
        let has_value = plan.q.goals[g].value.is_some();
        for (_, p) in counted {
            acc.conversions[ri] += 1;
            if has_value && let Some((c, v)) = value_of(plan, scan, tl, prep, g, p) {
                // Under the breakdown value of the unit that converted: the session's,
                // or the visitor's (a lead's is known only once all its visitors are).
                let key = match (reader, plan.units[0]) {
                    (Some(rd), Unit::Session) => {
                        let (a, b) = prep.sessions[prep.session_of(p)];
                        Some(unit_key(rd, tl, prep, a, b))
                    }
                    (Some(rd), Unit::Visitor) => {
                        Some(unit_key(rd, tl, prep, 0, prep.kept.len() as u32))
                    }
                    _ => None,
                };
                if let Some(k) = key {
                    *bd_entry(acc, k).values[ri].entry(c.clone()).or_default() += v;
                }
                *acc.values[ri].entry(c).or_default() += v;
            }
        }
    }
}

fn bd_entry(acc: &mut Acc, k: Key) -> &mut BdAcc {
    let (nu, ng) = (acc.nu, acc.ng);
    acc.bd.entry(k).or_insert_with(|| BdAcc::new(nu, ng))
}

/// The value of goal `g`'s conversion at kept position `p`: (currency, micros).
fn value_of(
    plan: &Report<'_>,
    scan: &dyn TimelineScan,
    tl: &Timeline,
    prep: &Prepared,
    g: usize,
    p: u32,
) -> Option<(String, i128)> {
    conversion_value(&plan.q.goals[g], scan, tl, prep, p)
}

/// The value of a conversion of goal `g` at kept position `p`: (currency, micros), if it
/// has one.
pub(crate) fn conversion_value(
    g: &cairn_model::query::Goal,
    scan: &dyn TimelineScan,
    tl: &Timeline,
    prep: &Prepared,
    p: u32,
) -> Option<(String, i128)> {
    match &g.value {
        None => None,
        Some(GoalValue::Fixed { fixed, currency }) => {
            Some((currency.clone(), (fixed * 1e6).round() as i128))
        }
        Some(GoalValue::FromEvent(_)) => {
            let i = prep.kept[p as usize] as usize;
            let (m, c) = tl.revenue.get(i).copied().flatten()?;
            Some((scan.currencies().get(c).to_string(), m as i128))
        }
    }
}

/// The breakdown key of the unit made of kept positions `[a, b)`: the first non-empty
/// value; for landing and exit pages, the path of the first or last pageview.
pub(crate) fn unit_key(rd: &FieldReader, tl: &Timeline, prep: &Prepared, a: u32, b: u32) -> Key {
    match rd.field() {
        Field::LandingPage => (a..b)
            .find(|&p| prep.pageview[p as usize])
            .and_then(|p| rd.page_token(tl, prep.kept[p as usize] as usize)),
        Field::ExitPage => (a..b)
            .rev()
            .find(|&p| prep.pageview[p as usize])
            .and_then(|p| rd.page_token(tl, prep.kept[p as usize] as usize)),
        _ => (a..b).find_map(|p| rd.token(tl, prep.kept[p as usize] as usize)),
    }
}

/// The time of the event that gives a visitor its breakdown key (for ordering a lead's
/// visitors).
fn visitor_key_ts(rd: &FieldReader, tl: &Timeline, prep: &Prepared) -> i64 {
    let n = prep.kept.len() as u32;
    let pos = match rd.field() {
        Field::LandingPage => (0..n).find(|&p| prep.pageview[p as usize]),
        Field::ExitPage => (0..n).rev().find(|&p| prep.pageview[p as usize]),
        _ => (0..n).find(|&p| rd.token(tl, prep.kept[p as usize] as usize).is_some()),
    };
    match (rd.field(), pos) {
        // The latest exit page wins: order by negated time.
        (Field::ExitPage, Some(p)) => -prep.ts[p as usize],
        (_, Some(p)) => prep.ts[p as usize],
        (_, None) => i64::MAX,
    }
}

fn finish_leads(plan: &Report<'_>, filters: &Filters, acc: &mut Acc) {
    let Some(ui) = plan.units.iter().position(|u| *u == Unit::Lead) else {
        return;
    };
    let nu = acc.nu;
    let leads = std::mem::take(&mut acc.leads);
    for (_, mut l) in leads {
        if !filters.keeps(|g| l.first[g].is_some()) {
            continue;
        }
        acc.totals[ui] += 1;
        let key = l.key.as_ref().map(|(_, k)| *k);
        if let Some(k) = key {
            bd_entry(acc, k).totals[ui] += 1;
        }
        l.buckets.sort_unstable();
        l.buckets.dedup();
        for &b in &l.buckets {
            acc.series_tot[b as usize * nu + ui] += 1;
        }
        l.bucket_goals.sort_unstable();
        l.bucket_goals.dedup();
        for &(b, ri) in &l.bucket_goals {
            acc.series_conv[(b as usize * acc.ng + ri as usize) * nu + ui] += 1;
        }
        for (ri, &g) in plan.report.iter().enumerate() {
            let Some((_, v)) = &l.first[g] else { continue };
            acc.conv[ri * nu + ui] += 1;
            if let Some(k) = key {
                bd_entry(acc, k).conv[ri * nu + ui] += 1;
            }
            if plan.counting[ri] == Counting::Unit {
                acc.conversions[ri] += 1;
                if let Some((c, m)) = v {
                    *acc.values[ri].entry(c.clone()).or_default() += *m;
                }
            }
        }
    }
}

fn money(values: &BTreeMap<String, i128>, conversions: u64) -> Vec<Money> {
    values
        .iter()
        .map(|(c, &m)| {
            let total = m as f64 / 1e6;
            Money {
                currency: c.clone(),
                total,
                per_conversion: if conversions > 0 {
                    total / conversions as f64
                } else {
                    0.0
                },
            }
        })
        .collect()
}

fn build(plan: &Report<'_>, cur: Period, prev: Option<(Period, [i64; 2])>) -> GoalsResult {
    let Period {
        acc: cur,
        breakdown: rows,
    } = cur;
    let prev = prev.map(|(p, range)| (p.acc, range));
    let nu = cur.nu;
    let totals = plan
        .units
        .iter()
        .enumerate()
        .map(|(ui, &unit)| UnitTotal {
            unit,
            total: cur.totals[ui],
        })
        .collect();
    let goals = plan
        .report
        .iter()
        .enumerate()
        .map(|(ri, &g)| {
            let def = &plan.q.goals[g];
            GoalRow {
                name: def.name.clone(),
                conversion: def.conversion,
                role: def.role,
                conversions: cur.conversions[ri],
                previous_conversions: prev.as_ref().map(|(p, _)| p.conversions[ri]),
                rates: plan
                    .units
                    .iter()
                    .enumerate()
                    .map(|(ui, &unit)| {
                        let rate = wilson(cur.conv[ri * nu + ui], cur.totals[ui]);
                        let previous = prev
                            .as_ref()
                            .map(|(p, _)| wilson(p.conv[ri * nu + ui], p.totals[ui]));
                        UnitRate {
                            unit,
                            rate,
                            change: previous.as_ref().map(|pr| newcombe(&rate, pr)),
                            previous,
                        }
                    })
                    .collect(),
                value: money(&cur.values[ri], cur.conversions[ri]),
            }
        })
        .collect();
    let ng = cur.ng;
    let series = plan
        .buckets
        .as_ref()
        .map(|b| {
            (0..b.len())
                .map(|bi| GoalsBucket {
                    start: b.start(bi),
                    label: b.label(bi).to_string(),
                    totals: cur.series_tot[bi * nu..(bi + 1) * nu].to_vec(),
                    rates: (0..ng)
                        .map(|ri| {
                            (0..nu)
                                .map(|ui| {
                                    wilson(
                                        cur.series_conv[(bi * ng + ri) * nu + ui],
                                        cur.series_tot[bi * nu + ui],
                                    )
                                })
                                .collect()
                        })
                        .collect(),
                })
                .collect()
        })
        .unwrap_or_default();
    let mut breakdown = Vec::new();
    if let Some(b) = &plan.spec.breakdown {
        let mut rows = rows;
        rows.sort_by(|a, b| {
            b.1.totals[0]
                .cmp(&a.1.totals[0])
                .then_with(|| a.0.cmp(&b.0))
        });
        let mut other: Option<(BdAcc, Vec<String>)> = None;
        for (i, (v, acc)) in rows.into_iter().enumerate() {
            if i < b.limit {
                breakdown.push((v, acc, Vec::new()));
            } else {
                let o = other.get_or_insert_with(|| (BdAcc::new(nu, ng), Vec::new()));
                o.0.add(&acc);
                o.1.push(v);
            }
        }
        // `(other)` bears the spend of every value not listed, visited or not.
        let listed: std::collections::BTreeSet<&str> =
            breakdown.iter().map(|(v, _, _)| v.as_str()).collect();
        let unlisted: Vec<String> = plan
            .spend
            .as_ref()
            .map(|s| {
                s.by_value
                    .keys()
                    .filter(|v| !listed.contains(v.as_str()))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        if other.is_some() || !unlisted.is_empty() {
            let o = other.unwrap_or_else(|| (BdAcc::new(nu, ng), Vec::new()));
            breakdown.push(("(other)".to_string(), o.0, unlisted));
        }
    }
    // The first macro goal with a value: its value over the cost is the return on spend.
    let valued_macro = plan.report.iter().position(|&g| {
        plan.q.goals[g].conversion == Conversion::Macro && plan.q.goals[g].value.is_some()
    });
    let any_value = plan.report.iter().any(|&g| plan.q.goals[g].value.is_some())
        && matches!(plan.units[0], Unit::Session | Unit::Visitor);
    let breakdown = breakdown
        .into_iter()
        .map(|(value, a, others)| {
            let cost = plan.spend.as_ref().and_then(|s| {
                let names: Vec<&str> = if value == "(other)" {
                    others.iter().map(String::as_str).collect()
                } else {
                    vec![value.as_str()]
                };
                let known: Vec<f64> = names
                    .iter()
                    .filter_map(|n| s.by_value.get(*n).copied())
                    .collect();
                (!known.is_empty()).then(|| to_micros(known.iter().sum::<f64>()))
            });
            let values: Vec<BTreeMap<String, f64>> = a
                .values
                .iter()
                .map(|m| {
                    m.iter()
                        .map(|(c, v)| (c.clone(), *v as f64 / 1e6))
                        .collect()
                })
                .collect();
            let return_on_spend = match (cost, valued_macro, &plan.spend) {
                (Some(c), Some(ri), Some(s)) if c > 0.0 => {
                    Some(values[ri].get(&s.currency).copied().unwrap_or(0.0) / c)
                }
                _ => None,
            };
            GoalsBreakdownRow {
                rates: (0..ng)
                    .map(|ri| {
                        (0..nu)
                            .map(|ui| wilson(a.conv[ri * nu + ui], a.totals[ui]))
                            .collect()
                    })
                    .collect(),
                cost_per_conversion: match cost {
                    Some(c) => (0..ng)
                        .map(|ri| {
                            let n = a.conv[ri * nu];
                            (n > 0).then(|| c / n as f64)
                        })
                        .collect(),
                    None => Vec::new(),
                },
                cost,
                return_on_spend,
                values: if any_value { values } else { Vec::new() },
                totals: a.totals,
                value,
            }
        })
        .collect();
    GoalsResult {
        totals,
        goals,
        series,
        breakdown_by: plan.spec.breakdown.as_ref().map(|b| b.by.to_string()),
        breakdown,
        previous_period: prev.map(|(_, p)| p),
        spend: plan.spend.as_ref().map(|s| SpendSummary {
            currency: s.currency.clone(),
            total: s.total,
            unattributed: to_micros(s.total - s.by_value.values().sum::<f64>()),
        }),
    }
}
