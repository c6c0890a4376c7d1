//! A slow, obviously correct reference implementation of every analysis, written
//! straight from `docs/analyses.md` and `docs/funnels.md`: events as strings, units as
//! event lists, funnel chains enumerated one by one. The property tests compare the
//! engine with it on random data.

#![allow(clippy::type_complexity)]

use std::collections::{BTreeMap, BTreeSet, HashMap};

use cairn_engine::stats::{
    Fit, Moments, Sums, Table, benjamini_hochberg, chi_square_sf, fixed_sample_size, holm,
    mantel_haenszel, nearest_rank, newcombe, pearson, posteriors, rate_ratio, sequential,
    sequential_sample_size, time_stats, two_proportion_p, wilson,
};
use cairn_engine::{Buckets, CupedMetric, cuped_metrics, revenue_metrics};
use cairn_model::query::result::*;
use cairn_model::query::*;
use cairn_model::{Dim, Event};

/// The events of one site in arrival order, and its visitor → user links.
pub struct Data {
    pub events: Vec<Event>,
    pub links: HashMap<u64, String>,
}

fn holds(c: &Condition, e: &Event) -> bool {
    let t = ValueTest::new(c);
    match &c.field {
        Field::Dim(d) => t.test(ValueRef::of_dim(e.dim(*d))),
        Field::Prop(k) => t.test(e.prop(k).map(ValueRef::of_prop)),
        Field::Page => t.test(ValueRef::of_dim(&page(e))),
        _ => true,
    }
}

fn all(conds: &[Condition], e: &Event) -> bool {
    conds.iter().all(|c| holds(c, e))
}

fn value_text(f: &Field, e: &Event) -> Option<String> {
    match f {
        Field::Dim(d) => ValueRef::of_dim(e.dim(*d)).map(|v| v.to_text()),
        Field::Prop(k) => match e.prop(k) {
            Some(cairn_model::PropValue::Str(s)) if s.is_empty() => None,
            v => v.map(|v| ValueRef::of_prop(v).to_text()),
        },
        Field::Page => ValueRef::of_dim(&page(e)).map(|v| v.to_text()),
        _ => None,
    }
}

fn is_pageview(e: &Event) -> bool {
    e.name() == PAGEVIEW
}

/// Visitors' event lists in the range after the event filters, sorted by time (ties in
/// arrival order).
fn timelines(q: &Query, r: &Resolved, d: &Data, from: i64, to: i64) -> BTreeMap<u64, Vec<Event>> {
    let mut m: BTreeMap<u64, Vec<Event>> = BTreeMap::new();
    for e in &d.events {
        if e.site != q.site || e.ts < from || e.ts > to {
            continue;
        }
        let ok = r.filters.iter().all(|f| match f {
            FilterKind::Event(c) => holds(c, e),
            FilterKind::Behaviour(..) => true,
        });
        if ok {
            m.entry(e.visitor).or_default().push(e.clone());
        }
    }
    for v in m.values_mut() {
        v.sort_by_key(|e| e.ts);
    }
    m
}

fn sessions(evs: &[Event], gap: i64) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut a = 0;
    for i in 1..evs.len() {
        if evs[i].ts - evs[i - 1].ts >= gap {
            out.push((a, i));
            a = i;
        }
    }
    if !evs.is_empty() {
        out.push((a, evs.len()));
    }
    out
}

/// Per goal, the positions in `evs` where it converts.
fn goal_hits(q: &Query, evs: &[Event]) -> Vec<Vec<usize>> {
    let ss = sessions(evs, q.session_gap.ms);
    let mut hits: Vec<Option<Vec<usize>>> = vec![None; q.goals.len()];
    fn eval(
        g: usize,
        q: &Query,
        evs: &[Event],
        ss: &[(usize, usize)],
        hits: &mut Vec<Option<Vec<usize>>>,
    ) -> Vec<usize> {
        if let Some(h) = &hits[g] {
            return h.clone();
        }
        let mut out = Vec::new();
        match q.goals[g].def() {
            GoalDef::Event(c) => out.extend((0..evs.len()).filter(|&i| all(&c, &evs[i]))),
            GoalDef::Duration(ms) => {
                for &(a, b) in ss {
                    if let Some(i) = (a..b).find(|&i| evs[i].ts - evs[a].ts >= ms) {
                        out.push(i);
                    }
                }
            }
            GoalDef::Pages(n) => {
                for &(a, b) in ss {
                    let pv: Vec<usize> = (a..b).filter(|&i| is_pageview(&evs[i])).collect();
                    if pv.len() >= n as usize {
                        out.push(pv[n as usize - 1]);
                    }
                }
            }
            GoalDef::Count { min, conds } => {
                for &(a, b) in ss {
                    let m: Vec<usize> = (a..b).filter(|&i| all(&conds, &evs[i])).collect();
                    if m.len() >= min as usize {
                        out.push(m[min as usize - 1]);
                    }
                }
            }
            GoalDef::Composite { k, of } => {
                let subs: Vec<Vec<usize>> = of
                    .iter()
                    .map(|n| {
                        let s = q.goals.iter().position(|x| &x.name == n).unwrap();
                        eval(s, q, evs, ss, hits)
                    })
                    .collect();
                for &(a, b) in ss {
                    let mut firsts: Vec<usize> = subs
                        .iter()
                        .filter_map(|h| h.iter().copied().find(|&i| i >= a && i < b))
                        .collect();
                    firsts.sort();
                    if firsts.len() >= k as usize {
                        out.push(firsts[k as usize - 1]);
                    }
                }
            }
        }
        hits[g] = Some(out.clone());
        out
    }
    (0..q.goals.len())
        .map(|g| eval(g, q, evs, &ss, &mut hits))
        .collect()
}

fn keeps(r: &Resolved, q: &Query, hits: &[Vec<usize>]) -> bool {
    r.filters.iter().all(|f| match f {
        FilterKind::Behaviour(name, did) => {
            let g = q.goals.iter().position(|x| &x.name == name).unwrap();
            hits[g].is_empty() != *did
        }
        FilterKind::Event(_) => true,
    })
}

fn goal_value(g: &Goal, e: &Event) -> Option<(String, i128)> {
    match &g.value {
        None => None,
        Some(GoalValue::Fixed { fixed, currency }) => {
            Some((currency.clone(), (fixed * 1e6).round() as i128))
        }
        Some(GoalValue::FromEvent(_)) => e
            .revenue
            .as_ref()
            .map(|r| (r.currency.clone(), r.micros as i128)),
    }
}

/// The breakdown value of a list of events (a session or a visitor's range).
fn unit_value(f: &Field, evs: &[Event]) -> Option<String> {
    match f {
        Field::LandingPage => evs
            .iter()
            .find(|e| is_pageview(e))
            .and_then(|e| ValueRef::of_dim(&page(e)).map(|v| v.to_text())),
        Field::ExitPage => evs
            .iter()
            .rev()
            .find(|e| is_pageview(e))
            .and_then(|e| ValueRef::of_dim(&page(e)).map(|v| v.to_text())),
        _ => evs.iter().find_map(|e| value_text(f, e)),
    }
}

fn label(v: &Option<String>) -> String {
    v.clone().unwrap_or_else(|| "(none)".into())
}

/// Top `limit` rows by their first total, the rest summed into "(other)".
fn top<T: Clone>(
    mut rows: Vec<(String, Vec<u64>, T)>,
    limit: usize,
    add: impl Fn(&mut T, &T),
) -> Vec<(String, Vec<u64>, T)> {
    rows.sort_by(|a, b| b.1[0].cmp(&a.1[0]).then_with(|| a.0.cmp(&b.0)));
    let mut out: Vec<(String, Vec<u64>, T)> = Vec::new();
    let mut other: Option<(Vec<u64>, T)> = None;
    for (i, (v, tot, x)) in rows.into_iter().enumerate() {
        if i < limit {
            out.push((v, tot, x));
        } else {
            match &mut other {
                None => other = Some((tot, x)),
                Some((t, y)) => {
                    for (a, b) in t.iter_mut().zip(&tot) {
                        *a += b;
                    }
                    add(y, &x);
                }
            }
        }
    }
    if let Some((t, y)) = other {
        out.push(("(other)".into(), t, y));
    }
    out
}

// ---------------------------------------------------------------------------------
// Goals

struct Period {
    totals: Vec<u64>,
    conv: Vec<Vec<u64>>,
    conversions: Vec<u64>,
    values: Vec<BTreeMap<String, i128>>,
    series_tot: Vec<Vec<u64>>,
    series_conv: Vec<Vec<Vec<u64>>>,
    bd: BTreeMap<Option<String>, (Vec<u64>, Vec<Vec<u64>>)>,
    /// Per breakdown value, per goal: the counted conversions' value (session and visitor
    /// first units).
    bd_values: BTreeMap<Option<String>, Vec<BTreeMap<String, i128>>>,
}

fn goals_period(
    q: &Query,
    r: &Resolved,
    spec: &GoalsSpec,
    d: &Data,
    from: i64,
    to: i64,
    buckets: Option<&Buckets>,
) -> Period {
    let report: Vec<usize> = if spec.goals.is_empty() {
        (0..q.goals.len()).collect()
    } else {
        spec.goals
            .iter()
            .map(|n| q.goals.iter().position(|g| &g.name == n).unwrap())
            .collect()
    };
    let mut units = spec.units.clone();
    units.dedup();
    let (nu, ng) = (units.len(), report.len());
    let nb = buckets.map_or(0, |b| b.len());
    let mut p = Period {
        totals: vec![0; nu],
        conv: vec![vec![0; nu]; ng],
        conversions: vec![0; ng],
        values: vec![BTreeMap::new(); ng],
        series_tot: vec![vec![0; nu]; nb],
        series_conv: vec![vec![vec![0; nu]; ng]; nb],
        bd: BTreeMap::new(),
        bd_values: BTreeMap::new(),
    };
    let counting: Vec<Counting> = report
        .iter()
        .map(|&g| match q.goals[g].count {
            Counting::Unit => match units[0] {
                Unit::Session => Counting::Session,
                Unit::Lead => Counting::Unit,
                _ => Counting::Visitor,
            },
            c => c,
        })
        .collect();
    let tls = timelines(q, r, d, from, to);
    let bd_field = spec.breakdown.as_ref().map(|b| b.by.clone());
    type Bd = BTreeMap<Option<String>, (Vec<u64>, Vec<Vec<u64>>)>;
    let bd_entry = |bd: &mut Bd, k: Option<String>| {
        bd.entry(k)
            .or_insert_with(|| (vec![0; nu], vec![vec![0; nu]; ng]));
    };
    // Lead facts: user -> list of (visitor events, hits).
    let mut leads: BTreeMap<String, Vec<(Vec<Event>, Vec<Vec<usize>>)>> = BTreeMap::new();
    for (v, evs) in &tls {
        let hits = goal_hits(q, evs);
        if units.contains(&Unit::Lead)
            && let Some(u) = d.links.get(v)
        {
            leads
                .entry(u.clone())
                .or_default()
                .push((evs.clone(), hits.clone()));
        }
        if !keeps(r, q, &hits) {
            continue;
        }
        let ss = sessions(evs, q.session_gap.ms);
        for (ui, unit) in units.iter().enumerate() {
            match unit {
                Unit::Session => {
                    for &(a, b) in &ss {
                        p.totals[ui] += 1;
                        let bi = buckets.map(|bk| bk.index(evs[a].ts));
                        if let Some(bi) = bi {
                            p.series_tot[bi][ui] += 1;
                        }
                        let key = bd_field.as_ref().map(|f| unit_value(f, &evs[a..b]));
                        if let Some(k) = &key {
                            bd_entry(&mut p.bd, k.clone());
                            let e = p.bd.get_mut(k).unwrap();
                            e.0[ui] += 1;
                        }
                        for (ri, &g) in report.iter().enumerate() {
                            if hits[g].iter().any(|&i| i >= a && i < b) {
                                p.conv[ri][ui] += 1;
                                if let Some(bi) = bi {
                                    p.series_conv[bi][ri][ui] += 1;
                                }
                                if let Some(k) = &key {
                                    bd_entry(&mut p.bd, k.clone());
                                    let e = p.bd.get_mut(k).unwrap();
                                    e.1[ri][ui] += 1;
                                }
                            }
                        }
                    }
                }
                Unit::Visitor => {
                    p.totals[ui] += 1;
                    let key = bd_field.as_ref().map(|f| unit_value(f, evs));
                    if let Some(k) = &key {
                        bd_entry(&mut p.bd, k.clone());
                        let e = p.bd.get_mut(k).unwrap();
                        e.0[ui] += 1;
                    }
                    if let Some(bk) = buckets {
                        let set: BTreeSet<usize> = evs.iter().map(|e| bk.index(e.ts)).collect();
                        for bi in set {
                            p.series_tot[bi][ui] += 1;
                        }
                    }
                    for (ri, &g) in report.iter().enumerate() {
                        if hits[g].is_empty() {
                            continue;
                        }
                        p.conv[ri][ui] += 1;
                        if let Some(k) = &key {
                            bd_entry(&mut p.bd, k.clone());
                            let e = p.bd.get_mut(k).unwrap();
                            e.1[ri][ui] += 1;
                        }
                        if let Some(bk) = buckets {
                            let set: BTreeSet<usize> =
                                hits[g].iter().map(|&i| bk.index(evs[i].ts)).collect();
                            for bi in set {
                                p.series_conv[bi][ri][ui] += 1;
                            }
                        }
                    }
                }
                _ => {}
            }
        }
        for (ri, &g) in report.iter().enumerate() {
            let h = &hits[g];
            let counted: Vec<usize> = match counting[ri] {
                Counting::Every => h.clone(),
                Counting::Session => ss
                    .iter()
                    .filter_map(|&(a, b)| h.iter().copied().find(|&i| i >= a && i < b))
                    .collect(),
                Counting::Visitor => h.first().copied().into_iter().collect(),
                Counting::Unit => Vec::new(),
            };
            p.conversions[ri] += counted.len() as u64;
            for i in counted {
                if let Some((c, m)) = goal_value(&q.goals[g], &evs[i]) {
                    // Under the value of the unit that converted: its session's or its
                    // visitor's.
                    let key = match (&bd_field, units[0]) {
                        (Some(f), Unit::Session) => {
                            let &(a, b) = ss.iter().find(|&&(a, b)| i >= a && i < b).unwrap();
                            Some(unit_value(f, &evs[a..b]))
                        }
                        (Some(f), Unit::Visitor) => Some(unit_value(f, evs)),
                        _ => None,
                    };
                    if let Some(k) = key {
                        *p.bd_values
                            .entry(k)
                            .or_insert_with(|| vec![BTreeMap::new(); ng])[ri]
                            .entry(c.clone())
                            .or_default() += m;
                    }
                    *p.values[ri].entry(c).or_default() += m;
                }
            }
        }
    }
    if let Some(ui) = units.iter().position(|u| *u == Unit::Lead) {
        for parts in leads.values() {
            // The lead reached a goal when any of its visitors did.
            let reached = |g: usize| parts.iter().any(|(_, h)| !h[g].is_empty());
            let ok = r.filters.iter().all(|f| match f {
                FilterKind::Behaviour(name, did) => {
                    reached(q.goals.iter().position(|x| &x.name == name).unwrap()) == *did
                }
                _ => true,
            });
            if !ok {
                continue;
            }
            p.totals[ui] += 1;
            // Breakdown: the value of the visitor whose value comes first in time (for
            // exit pages, the one whose last pageview is latest).
            let key = bd_field.as_ref().map(|f| {
                let mut best: Option<(i64, Option<String>)> = None;
                for (evs, _) in parts {
                    let (t, v) = match f {
                        Field::ExitPage => match evs.iter().rev().find(|e| is_pageview(e)) {
                            Some(e) => (-e.ts, unit_value(f, evs)),
                            None => (i64::MAX, None),
                        },
                        Field::LandingPage => match evs.iter().find(|e| is_pageview(e)) {
                            Some(e) => (e.ts, unit_value(f, evs)),
                            None => (i64::MAX, None),
                        },
                        _ => match evs.iter().find(|e| value_text(f, e).is_some()) {
                            Some(e) => (e.ts, value_text(f, e)),
                            None => (i64::MAX, None),
                        },
                    };
                    if best.as_ref().is_none_or(|(bt, _)| t < *bt) {
                        best = Some((t, v));
                    }
                }
                best.and_then(|b| b.1)
            });
            if let Some(k) = &key {
                bd_entry(&mut p.bd, k.clone());
                let e = p.bd.get_mut(k).unwrap();
                e.0[ui] += 1;
            }
            if let Some(bk) = buckets {
                let set: BTreeSet<usize> = parts
                    .iter()
                    .flat_map(|(evs, _)| evs.iter().map(|e| bk.index(e.ts)))
                    .collect();
                for bi in set {
                    p.series_tot[bi][ui] += 1;
                }
            }
            for (ri, &g) in report.iter().enumerate() {
                // First hit across the lead's visitors (earliest time).
                let first = parts
                    .iter()
                    .filter_map(|(evs, h)| h[g].first().map(|&i| &evs[i]))
                    .min_by_key(|e| e.ts);
                let Some(first) = first else { continue };
                p.conv[ri][ui] += 1;
                if let Some(k) = &key {
                    bd_entry(&mut p.bd, k.clone());
                    let e = p.bd.get_mut(k).unwrap();
                    e.1[ri][ui] += 1;
                }
                if let Some(bk) = buckets {
                    let set: BTreeSet<usize> = parts
                        .iter()
                        .flat_map(|(evs, h)| h[g].iter().map(|&i| bk.index(evs[i].ts)))
                        .collect();
                    for bi in set {
                        p.series_conv[bi][ri][ui] += 1;
                    }
                }
                if counting[ri] == Counting::Unit {
                    p.conversions[ri] += 1;
                    if let Some((c, m)) = goal_value(&q.goals[g], first) {
                        *p.values[ri].entry(c).or_default() += m;
                    }
                }
            }
        }
    }
    p
}

pub fn goals(q: &Query, r: &Resolved, spec: &GoalsSpec, d: &Data) -> GoalsResult {
    let buckets = spec.interval.map(|iv| Buckets::new(r.from, r.to, iv, r.tz));
    let cur = goals_period(q, r, spec, d, r.from, r.to, buckets.as_ref());
    let len = r.to - r.from + 1;
    let prev = spec
        .compare
        .then(|| goals_period(q, r, spec, d, r.from - len, r.from - 1, None));
    let mut units = spec.units.clone();
    units.dedup();
    let report: Vec<usize> = if spec.goals.is_empty() {
        (0..q.goals.len()).collect()
    } else {
        spec.goals
            .iter()
            .map(|n| q.goals.iter().position(|g| &g.name == n).unwrap())
            .collect()
    };
    let ng = report.len();
    let nu = units.len();
    let money = |v: &BTreeMap<String, i128>, n: u64| -> Vec<Money> {
        v.iter()
            .map(|(c, &m)| Money {
                currency: c.clone(),
                total: m as f64 / 1e6,
                per_conversion: if n > 0 {
                    (m as f64 / 1e6) / n as f64
                } else {
                    0.0
                },
            })
            .collect()
    };
    // The spend of the range's days (in its time zone) per value of the field (the
    // model's own sum, so that costs add up in the same order).
    let day = |ms: i64| {
        use chrono::TimeZone;
        r.tz.timestamp_millis_opt(ms).single().unwrap().date_naive()
    };
    let spend = spec
        .breakdown
        .as_ref()
        .and_then(|b| spend_totals(&q.spend, &b.by, day(r.from), day(r.to)).expect("one currency"));
    type Cells = (Vec<Vec<u64>>, Vec<BTreeMap<String, i128>>);
    let breakdown = match &spec.breakdown {
        None => Vec::new(),
        Some(b) => {
            let rows: Vec<(String, Vec<u64>, Cells)> = cur
                .bd
                .iter()
                .map(|(k, (t, c))| {
                    let v = cur
                        .bd_values
                        .get(k)
                        .cloned()
                        .unwrap_or_else(|| vec![BTreeMap::new(); ng]);
                    (label(k), t.clone(), (c.clone(), v))
                })
                .collect();
            let mut rows = top(rows, b.limit, |a, b| {
                for (x, y) in a.0.iter_mut().zip(&b.0) {
                    for (p, q) in x.iter_mut().zip(y) {
                        *p += q;
                    }
                }
                for (x, y) in a.1.iter_mut().zip(&b.1) {
                    for (c, m) in y {
                        *x.entry(c.clone()).or_default() += m;
                    }
                }
            });
            // Spend on values not listed (visited or not) goes to `(other)`.
            let listed: BTreeSet<String> = rows
                .iter()
                .filter(|r| r.0 != "(other)")
                .map(|r| r.0.clone())
                .collect();
            let unlisted: Vec<String> = spend
                .as_ref()
                .map(|s| {
                    s.by_value
                        .keys()
                        .filter(|v| !listed.contains(*v))
                        .cloned()
                        .collect()
                })
                .unwrap_or_default();
            if !unlisted.is_empty() && !rows.iter().any(|r| r.0 == "(other)") {
                rows.push((
                    "(other)".into(),
                    vec![0; nu],
                    (vec![vec![0; nu]; ng], vec![BTreeMap::new(); ng]),
                ));
            }
            let valued_macro = report.iter().position(|&g| {
                q.goals[g].conversion == Conversion::Macro && q.goals[g].value.is_some()
            });
            let any_value = report.iter().any(|&g| q.goals[g].value.is_some())
                && matches!(units[0], Unit::Session | Unit::Visitor);
            rows.into_iter()
                .map(|(value, totals, (conv, vals))| {
                    let cost = spend.as_ref().and_then(|s| {
                        let names: Vec<&String> = if value == "(other)" {
                            unlisted.iter().collect()
                        } else {
                            vec![&value]
                        };
                        let known: Vec<f64> = names
                            .iter()
                            .filter_map(|n| s.by_value.get(*n).copied())
                            .collect();
                        (!known.is_empty()).then(|| to_micros(known.iter().sum::<f64>()))
                    });
                    let values: Vec<BTreeMap<String, f64>> = vals
                        .iter()
                        .map(|m| {
                            m.iter()
                                .map(|(c, v)| (c.clone(), *v as f64 / 1e6))
                                .collect()
                        })
                        .collect();
                    GoalsBreakdownRow {
                        rates: (0..ng)
                            .map(|ri| (0..nu).map(|ui| wilson(conv[ri][ui], totals[ui])).collect())
                            .collect(),
                        cost_per_conversion: match cost {
                            Some(c) => (0..ng)
                                .map(|ri| (conv[ri][0] > 0).then(|| c / conv[ri][0] as f64))
                                .collect(),
                            None => Vec::new(),
                        },
                        return_on_spend: match (cost, valued_macro, &spend) {
                            (Some(c), Some(ri), Some(s)) if c > 0.0 => {
                                Some(values[ri].get(&s.currency).copied().unwrap_or(0.0) / c)
                            }
                            _ => None,
                        },
                        cost,
                        values: if any_value { values } else { Vec::new() },
                        totals,
                        value,
                    }
                })
                .collect()
        }
    };
    GoalsResult {
        totals: units
            .iter()
            .enumerate()
            .map(|(ui, &unit)| UnitTotal {
                unit,
                total: cur.totals[ui],
            })
            .collect(),
        goals: report
            .iter()
            .enumerate()
            .map(|(ri, &g)| {
                let def = &q.goals[g];
                GoalRow {
                    name: def.name.clone(),
                    conversion: def.conversion,
                    role: def.role,
                    conversions: cur.conversions[ri],
                    previous_conversions: prev.as_ref().map(|p| p.conversions[ri]),
                    rates: units
                        .iter()
                        .enumerate()
                        .map(|(ui, &unit)| {
                            let rate = wilson(cur.conv[ri][ui], cur.totals[ui]);
                            let previous =
                                prev.as_ref().map(|p| wilson(p.conv[ri][ui], p.totals[ui]));
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
            .collect(),
        series: buckets
            .as_ref()
            .map(|bk| {
                (0..bk.len())
                    .map(|bi| GoalsBucket {
                        start: bk.start(bi),
                        label: bk.label(bi).to_string(),
                        totals: cur.series_tot[bi].clone(),
                        rates: (0..ng)
                            .map(|ri| {
                                (0..nu)
                                    .map(|ui| {
                                        wilson(cur.series_conv[bi][ri][ui], cur.series_tot[bi][ui])
                                    })
                                    .collect()
                            })
                            .collect(),
                    })
                    .collect()
            })
            .unwrap_or_default(),
        breakdown_by: spec.breakdown.as_ref().map(|b| b.by.to_string()),
        breakdown,
        previous_period: spec.compare.then_some([r.from - len, r.from - 1]),
        spend: spend.map(|s| SpendSummary {
            unattributed: to_micros(s.total - s.by_value.values().sum::<f64>()),
            currency: s.currency,
            total: s.total,
        }),
    }
}

// ---------------------------------------------------------------------------------
// Funnels

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
            Some(CondValue::One(Scalar::Str(p.clone()))),
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

/// Whether event i matches a step (any alternative; goal alternatives match where the
/// goal converts).
fn step_match(q: &Query, s: &Step, evs: &[Event], hits: &[Vec<usize>], i: usize) -> bool {
    let alts: Vec<&Step> = if s.any_of.is_empty() {
        vec![s]
    } else {
        s.any_of.iter().collect()
    };
    alts.iter().any(|a| {
        let goal_ok = match &a.goal {
            None => true,
            Some(g) => {
                let gi = q.goals.iter().position(|x| &x.name == g).unwrap();
                hits[gi].contains(&i)
            }
        };
        goal_ok && all(&step_conds(a), &evs[i])
    })
}

/// A unit for the funnel: times and, per event, the steps it matches.
struct FUnit {
    ts: Vec<i64>,
    m: Vec<Vec<bool>>,
    x: Vec<Vec<bool>>,
}

/// Every valid chain (list of event indices, step j filled by chain[j - first]) over
/// `steps` (indices into the funnel's steps), starting at step `steps[0]`.
fn chains(
    u: &FUnit,
    steps: &[usize],
    spec: &FunnelSpec,
    prev_within: &[Option<i64>],
) -> Vec<Vec<usize>> {
    let mut out = Vec::new();
    let n = u.ts.len();
    fn rec(
        u: &FUnit,
        steps: &[usize],
        spec: &FunnelSpec,
        pw: &[Option<i64>],
        chain: &mut Vec<usize>,
        out: &mut Vec<Vec<usize>>,
        n: usize,
    ) {
        out.push(chain.clone());
        let k = chain.len();
        if k == steps.len() {
            return;
        }
        let last = *chain.last().unwrap();
        for c in 0..n {
            if chain.contains(&c) || !u.m[c][steps[k]] || u.ts[c] < u.ts[last] {
                continue;
            }
            if u.ts[c] - u.ts[chain[0]] > spec.window.ms {
                continue;
            }
            if let Some(w) = pw[k]
                && u.ts[c] - u.ts[last] > w
            {
                continue;
            }
            if spec.mode == FunnelMode::Strict
                && (0..n)
                    .any(|o| u.ts[o] > u.ts[last] && u.ts[o] < u.ts[c] && !u.m[o][steps[k - 1]])
            {
                continue;
            }
            chain.push(c);
            rec(u, steps, spec, pw, chain, out, n);
            chain.pop();
        }
    }
    for e in 0..n {
        if u.m[e][steps[0]] {
            let mut ch = vec![e];
            rec(u, steps, spec, prev_within, &mut ch, &mut out, n);
        }
    }
    out
}

fn excluded(u: &FUnit, chain: &[usize], spec: &FunnelSpec) -> bool {
    spec.exclusions.iter().enumerate().any(|(xi, x)| {
        let (i, j) = (x.between[0] - 1, x.between[1] - 1);
        if i >= chain.len() {
            return false;
        }
        let ti = u.ts[chain[i]];
        (0..u.ts.len()).filter(|&e| u.x[e][xi]).any(|e| {
            let t = u.ts[e];
            if j < chain.len() {
                t > ti && t < u.ts[chain[j]]
            } else {
                t > ti && t <= u.ts[chain[0]] + spec.window.ms
            }
        })
    })
}

/// (reached steps, via previous, entrance, start, times as (step, time), optional times).
#[derive(Clone, Debug, Default)]
struct ROut {
    excluded: bool,
    reached: u64,
    via_prev: u64,
    entrance: Option<usize>,
    start: i64,
    times: Vec<(usize, i64)>,
    opt_times: Vec<(usize, i64, i64)>,
}

/// For chains over `steps`: (level, latest start reaching it, earliest time of each
/// step from that start).
fn level_of(
    u: &FUnit,
    steps: &[usize],
    spec: &FunnelSpec,
    chains: &[Vec<usize>],
    clean: impl Fn(&[usize]) -> bool,
) -> Option<(usize, i64, Vec<i64>)> {
    let _ = steps;
    let level = chains.iter().map(Vec::len).max()?;
    let start = chains
        .iter()
        .filter(|c| c.len() == level && clean(c))
        .map(|c| u.ts[c[0]])
        .max()?;
    let _ = spec;
    let times = (0..level)
        .map(|j| {
            chains
                .iter()
                .filter(|c| c.len() > j && u.ts[c[0]] == start)
                .map(|c| u.ts[c[j]])
                .min()
                .unwrap()
        })
        .collect();
    Some((level, start, times))
}

fn within_of(spec: &FunnelSpec, steps: &[usize]) -> Vec<Option<i64>> {
    steps
        .iter()
        .enumerate()
        .map(|(k, &j)| {
            if k == 0 {
                None
            } else {
                spec.steps[j].within.map(|d| d.ms)
            }
        })
        .collect()
}

fn max_matching(sets: &[Vec<bool>], n: usize) -> usize {
    // Exhaustive: assign steps one by one to an unused event or leave them out.
    fn rec(step: usize, n: usize, sets: &[Vec<bool>], used: &mut Vec<bool>) -> usize {
        if step == n {
            return 0;
        }
        let mut best = rec(step + 1, n, sets, used);
        for e in 0..sets.len() {
            if !used[e] && sets[e][step] {
                used[e] = true;
                best = best.max(1 + rec(step + 1, n, sets, used));
                used[e] = false;
            }
        }
        best
    }
    rec(0, n, sets, &mut vec![false; sets.len()])
}

fn unordered(u: &FUnit, spec: &FunnelSpec) -> Option<ROut> {
    let n = spec.steps.len();
    let w = spec.window.ms;
    let mut best: Option<(usize, i64)> = None;
    for &t in &u.ts {
        let set: Vec<Vec<bool>> = (0..u.ts.len())
            .filter(|&e| u.ts[e] >= t && u.ts[e] <= t + w)
            .map(|e| u.m[e].clone())
            .collect();
        let l = max_matching(&set, n);
        if l > 0 && best.is_none_or(|(bl, bt)| l > bl || (l == bl && t > bt)) {
            best = Some((l, t));
        }
    }
    let (level, start) = best?;
    let mut times = Vec::new();
    for j in 1..=level {
        let u_j =
            u.ts.iter()
                .copied()
                .filter(|&x| x >= start && x <= start + w)
                .filter(|&x| {
                    let set: Vec<Vec<bool>> = (0..u.ts.len())
                        .filter(|&e| u.ts[e] >= start && u.ts[e] <= x)
                        .map(|e| u.m[e].clone())
                        .collect();
                    max_matching(&set, n) >= j
                })
                .min()
                .unwrap();
        times.push((j - 1, u_j));
    }
    Some(ROut {
        reached: (1u64 << level) - 1,
        start,
        times,
        ..ROut::default()
    })
}

fn funnel_unit(u: &FUnit, spec: &FunnelSpec) -> Option<ROut> {
    let n = spec.steps.len();
    if spec.mode == FunnelMode::Unordered {
        return unordered(u, spec);
    }
    if spec.open {
        let mut out = ROut::default();
        let mut first: Option<(usize, i64, Vec<i64>)> = None;
        for k in 0..n {
            let steps: Vec<usize> = (k..n).collect();
            let cs = chains(u, &steps, spec, &within_of(spec, &steps));
            let Some((level, start, times)) = level_of(u, &steps, spec, &cs, |_| true) else {
                continue;
            };
            for l in 0..level {
                out.reached |= 1 << (k + l);
                if l > 0 {
                    out.via_prev |= 1 << (k + l);
                }
            }
            if first.is_none() {
                out.entrance = Some(k);
                first = Some((level, start, times.clone()));
                out.start = start;
                out.times = times.iter().enumerate().map(|(l, &t)| (k + l, t)).collect();
            }
        }
        first?;
        return Some(out);
    }
    let required: Vec<usize> = (0..n).filter(|&j| !spec.steps[j].optional).collect();
    let cs = chains(u, &required, spec, &within_of(spec, &required));
    let has_x = spec
        .exclusions
        .iter()
        .enumerate()
        .any(|(xi, _)| u.x.iter().any(|x| x[xi]));
    level_of(u, &required, spec, &cs, |_| true)?;
    let Some((level, start, times)) =
        level_of(u, &required, spec, &cs, |c| !has_x || !excluded(u, c, spec))
    else {
        // Keep the level (exclusions aside), so that held values compare by it.
        let level = cs.iter().map(Vec::len).max().unwrap_or(0);
        let reached = (0..level).fold(0u64, |r, k| r | 1 << required[k]);
        return Some(ROut {
            excluded: true,
            reached,
            ..ROut::default()
        });
    };
    let mut out = ROut {
        start,
        ..ROut::default()
    };
    for (k, &t) in times.iter().enumerate() {
        out.reached |= 1 << required[k];
        out.times.push((required[k], t));
    }
    let _ = level;
    for j in (0..n).filter(|&j| spec.steps[j].optional) {
        let mut steps: Vec<usize> = required.iter().copied().filter(|&r| r < j).collect();
        steps.push(j);
        let cs = chains(u, &steps, spec, &within_of(spec, &steps));
        if let Some((l, _, t)) = level_of(u, &steps, spec, &cs, |_| true)
            && l == steps.len()
        {
            out.reached |= 1 << j;
            let last = t[l - 1];
            let prev = if l >= 2 { t[l - 2] } else { last };
            out.opt_times.push((j, last - prev, last - t[0]));
        }
    }
    Some(out)
}

fn better(a: &ROut, b: &ROut) -> bool {
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
    if a.opt_times != b.opt_times {
        return a.opt_times < b.opt_times;
    }
    // Same rank: the partition reaching the later steps, so that the choice never
    // depends on the order the held values are tried in.
    (a.reached, a.via_prev) > (b.reached, b.via_prev)
}

#[derive(Default)]
struct FAcc {
    counts: Vec<u64>,
    via_prev: Vec<u64>,
    entrances: Vec<u64>,
    excluded: u64,
    from_prev: Vec<Vec<i64>>,
    from_start: Vec<Vec<i64>>,
    bd: BTreeMap<Option<String>, Vec<u64>>,
    trend: Vec<Vec<u64>>,
}

pub fn funnel(q: &Query, r: &Resolved, spec: &FunnelSpec, d: &Data) -> FunnelResult {
    let n = spec.steps.len();
    let buckets = spec.trend.map(|iv| Buckets::new(r.from, r.to, iv, r.tz));
    let mut acc = FAcc {
        counts: vec![0; n],
        via_prev: vec![0; n],
        entrances: vec![0; n],
        from_prev: vec![Vec::new(); n],
        from_start: vec![Vec::new(); n],
        trend: vec![vec![0; n]; buckets.as_ref().map_or(0, |b| b.len())],
        ..FAcc::default()
    };
    let tls = timelines(q, r, d, r.from, r.to);
    let required = (0..n).filter(|&j| !spec.steps[j].optional).count();
    let mut fr = FlowRef {
        dropped_next: vec![BTreeMap::new(); n],
        reached_before: vec![0; n],
        between: vec![BTreeMap::new(); required.saturating_sub(1)],
        ..FlowRef::default()
    };
    // Units' event lists (with goal hits computed per visitor, before stitching).
    let mut lists: Vec<(Vec<Event>, Vec<Vec<bool>>, Vec<Vec<bool>>)> = Vec::new();
    let mk = |evs: &[Event], hits: &[Vec<usize>]| -> (Vec<Vec<bool>>, Vec<Vec<bool>>) {
        let m = (0..evs.len())
            .map(|i| {
                spec.steps
                    .iter()
                    .map(|s| step_match(q, s, evs, hits, i))
                    .collect()
            })
            .collect();
        let x = (0..evs.len())
            .map(|i| {
                spec.exclusions
                    .iter()
                    .map(|e| step_match(q, &e.step, evs, hits, i))
                    .collect()
            })
            .collect();
        (m, x)
    };
    if spec.unit == Unit::Lead {
        // Stitch: a lead's visitors' events, in visitor order, then sorted by time.
        let mut by_user: BTreeMap<String, Vec<u64>> = BTreeMap::new();
        for v in tls.keys() {
            if let Some(u) = d.links.get(v) {
                by_user.entry(u.clone()).or_default().push(*v);
            }
        }
        for vs in by_user.values() {
            let mut evs: Vec<Event> = Vec::new();
            for v in vs {
                evs.extend(tls[v].iter().cloned());
            }
            evs.sort_by_key(|e| e.ts);
            let hits = goal_hits(q, &evs);
            if !keeps(r, q, &hits) {
                continue;
            }
            let (m, x) = mk(&evs, &hits);
            lists.push((evs, m, x));
        }
    } else {
        for evs in tls.values() {
            let hits = goal_hits(q, evs);
            if !keeps(r, q, &hits) {
                continue;
            }
            let (m, x) = mk(evs, &hits);
            if spec.unit == Unit::Session {
                for (a, b) in sessions(evs, q.session_gap.ms) {
                    lists.push((evs[a..b].to_vec(), m[a..b].to_vec(), x[a..b].to_vec()));
                }
            } else {
                lists.push((evs.clone(), m, x));
            }
        }
    }
    for (evs, m, x) in lists {
        let u = FUnit {
            ts: evs.iter().map(|e| e.ts).collect(),
            m,
            x,
        };
        if spec.unit == Unit::Attempt {
            attempts(&u, &evs, spec, &mut acc, buckets.as_ref());
            continue;
        }
        if u.m.iter().all(|m| m.iter().all(|b| !b)) {
            continue;
        }
        let out = funnel_outcome(spec, &evs, &u);
        if spec.flow {
            flow_unit(
                q,
                spec,
                &u,
                &evs,
                out.as_ref().filter(|o| !o.excluded),
                &mut fr,
            );
        }
        match out {
            None => {}
            Some(o) if o.excluded => acc.excluded += 1,
            Some(o) => count(&o, &u, &evs, spec, &mut acc, buckets.as_ref()),
        }
    }
    let mut res = build_funnel(spec, acc, buckets.as_ref());
    if spec.flow {
        let last = (0..n).rev().find(|&j| !spec.steps[j].optional).unwrap();
        res.flow = Some(build_flow(spec, fr, res.steps[last].count));
    }
    res
}

/// A unit's outcome in the funnel: with held properties, its best partition.
fn funnel_outcome(spec: &FunnelSpec, evs: &[Event], u: &FUnit) -> Option<ROut> {
    let n = spec.steps.len();
    if spec.hold.is_empty() {
        funnel_unit(u, spec)
    } else {
        let vals: BTreeSet<Vec<String>> = (0..evs.len())
            .filter(|&i| u.m[i].iter().any(|&b| b))
            .filter_map(|i| {
                spec.hold
                    .iter()
                    .map(|f| value_text(f, &evs[i]).map(|v| format!("{v:?}{}", kind(f, &evs[i]))))
                    .collect::<Option<Vec<_>>>()
            })
            .collect();
        let mut best: Option<ROut> = None;
        for v in vals {
            let held = FUnit {
                ts: u.ts.clone(),
                m: (0..evs.len())
                    .map(|i| {
                        let same = spec
                            .hold
                            .iter()
                            .map(|f| {
                                value_text(f, &evs[i]).map(|x| format!("{x:?}{}", kind(f, &evs[i])))
                            })
                            .collect::<Option<Vec<_>>>()
                            .as_ref()
                            == Some(&v);
                        if same { u.m[i].clone() } else { vec![false; n] }
                    })
                    .collect(),
                x: u.x.clone(),
            };
            if let Some(o) = funnel_unit(&held, spec)
                && best.as_ref().is_none_or(|b| better(&o, b))
            {
                best = Some(o);
            }
        }
        best
    }
}

/// The value's type, so that the string "1" and the number 1 stay apart.
fn kind(f: &Field, e: &Event) -> &'static str {
    match f {
        Field::Prop(k) => match e.prop(k) {
            Some(cairn_model::PropValue::Str(_)) => "s",
            Some(cairn_model::PropValue::Num(_)) => "n",
            Some(cairn_model::PropValue::Bool(_)) => "b",
            None => "",
        },
        _ => "s",
    }
}

fn attempts(
    u: &FUnit,
    evs: &[Event],
    spec: &FunnelSpec,
    acc: &mut FAcc,
    buckets: Option<&Buckets>,
) {
    let n = spec.steps.len();
    let steps: Vec<usize> = (0..n).collect();
    let cs = chains(u, &steps, spec, &within_of(spec, &steps));
    let has_x = spec
        .exclusions
        .iter()
        .enumerate()
        .any(|(xi, _)| u.x.iter().any(|x| x[xi]));
    let mut after = i64::MIN;
    while let Some(e) = (0..u.ts.len()).find(|&e| u.m[e][0] && u.ts[e] > after) {
        let start = u.ts[e];
        let mine: Vec<&Vec<usize>> = cs.iter().filter(|c| u.ts[c[0]] == start).collect();
        let level = mine.iter().map(|c| c.len()).max().unwrap_or(0);
        let times: Vec<i64> = (0..level)
            .map(|j| {
                mine.iter()
                    .filter(|c| c.len() > j)
                    .map(|c| u.ts[c[j]])
                    .min()
                    .unwrap()
            })
            .collect();
        let end = if level == n {
            times[n - 1]
        } else {
            start + spec.window.ms
        };
        let ok = !has_x
            || mine
                .iter()
                .any(|c| c.len() == level && !excluded(u, c, spec));
        if ok {
            let o = ROut {
                reached: (1u64 << level) - 1,
                start,
                times: times.iter().copied().enumerate().collect(),
                ..ROut::default()
            };
            // The attempt's own events: from its start to its end.
            let idx: Vec<usize> = (0..evs.len())
                .filter(|&i| u.ts[i] >= start && u.ts[i] <= end)
                .collect();
            let sub = FUnit {
                ts: idx.iter().map(|&i| u.ts[i]).collect(),
                m: idx.iter().map(|&i| u.m[i].clone()).collect(),
                x: idx.iter().map(|&i| u.x[i].clone()).collect(),
            };
            let sub_evs: Vec<Event> = idx.iter().map(|&i| evs[i].clone()).collect();
            count(&o, &sub, &sub_evs, spec, acc, buckets);
        } else {
            acc.excluded += 1;
        }
        after = end;
    }
}

fn count(
    o: &ROut,
    u: &FUnit,
    evs: &[Event],
    spec: &FunnelSpec,
    acc: &mut FAcc,
    buckets: Option<&Buckets>,
) {
    let n = spec.steps.len();
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
    if let Some(&(_, t0)) = o.times.first() {
        for w in o.times.windows(2) {
            acc.from_prev[w[1].0].push(w[1].1 - w[0].1);
            acc.from_start[w[1].0].push(w[1].1 - t0);
        }
    }
    for &(j, a, b) in &o.opt_times {
        acc.from_prev[j].push(a);
        acc.from_start[j].push(b);
    }
    if let Some(bk) = buckets {
        let bi = bk.index(o.start);
        for j in 0..n {
            if o.reached >> j & 1 == 1 {
                acc.trend[bi][j] += 1;
            }
        }
    }
    if let Some(b) = &spec.breakdown {
        let any = |i: usize| u.m[i].iter().any(|&x| x);
        let key = match b.attribution {
            Attribution::First => (0..evs.len())
                .filter(|&i| any(i))
                .find_map(|i| value_text(&b.by, &evs[i])),
            Attribution::Last => (0..evs.len())
                .rev()
                .filter(|&i| any(i))
                .find_map(|i| value_text(&b.by, &evs[i])),
            Attribution::Unit => evs.iter().find_map(|e| value_text(&b.by, e)),
            Attribution::Step => {
                let k = b.step.unwrap() - 1;
                o.times
                    .iter()
                    .find(|(j, _)| *j == k)
                    .and_then(|&(_, t)| (0..evs.len()).find(|&i| u.ts[i] == t && u.m[i][k]))
                    .and_then(|i| value_text(&b.by, &evs[i]))
            }
        };
        let e = acc.bd.entry(key).or_insert_with(|| vec![0; n]);
        for (j, x) in e.iter_mut().enumerate() {
            if o.reached >> j & 1 == 1 {
                *x += 1;
            }
        }
    }
}

fn build_funnel(spec: &FunnelSpec, acc: FAcc, buckets: Option<&Buckets>) -> FunnelResult {
    let n = spec.steps.len();
    let first = acc.counts[0];
    let steps = (0..n)
        .map(|j| {
            let prev = (0..j).rev().find(|&k| !spec.steps[k].optional);
            let (pc, came) = match prev {
                None => (acc.counts[j], acc.counts[j]),
                Some(k) if spec.open => (acc.counts[k], acc.via_prev[j]),
                Some(k) => (acc.counts[k], acc.counts[j]),
            };
            let dropped = pc.saturating_sub(came);
            FunnelStepResult {
                label: spec.steps[j].display(),
                optional: spec.steps[j].optional,
                count: acc.counts[j],
                entrances: spec.open.then_some(acc.entrances[j]),
                from_previous: wilson(came, pc),
                dropped,
                drop_off: if pc > 0 {
                    dropped as f64 / pc as f64
                } else {
                    0.0
                },
                from_start: wilson(acc.counts[j], first),
                time_from_previous: time_stats(acc.from_prev[j].clone()),
                time_from_start: time_stats(acc.from_start[j].clone()),
            }
        })
        .collect();
    let last_req = (0..n).rev().find(|&j| !spec.steps[j].optional).unwrap();
    let breakdown = match &spec.breakdown {
        None => Vec::new(),
        Some(b) => {
            let rows = acc
                .bd
                .iter()
                .map(|(k, v)| (label(k), v.clone(), ()))
                .collect();
            top(rows, b.limit, |_, _| {})
                .into_iter()
                .map(|(value, counts, ())| FunnelBreakdownRow {
                    conversion: wilson(counts[last_req], counts[0]),
                    value,
                    counts,
                })
                .collect()
        }
    };
    FunnelResult {
        unit: spec.unit,
        steps,
        excluded: acc.excluded,
        breakdown_by: spec.breakdown.as_ref().map(|b| b.by.to_string()),
        breakdown,
        trend: buckets
            .map(|bk| {
                (0..bk.len())
                    .map(|bi| FunnelTrendPoint {
                        start: bk.start(bi),
                        label: bk.label(bi).to_string(),
                        conversion: wilson(acc.trend[bi][last_req], acc.trend[bi][0]),
                        counts: acc.trend[bi].clone(),
                    })
                    .collect()
            })
            .unwrap_or_default(),
        flow: None,
    }
}

/// A funnel's flow, counted unit by unit.
#[derive(Default)]
struct FlowRef {
    dropped_next: Vec<BTreeMap<PathNode, u64>>,
    converters: u64,
    reached_before: Vec<u64>,
    between: Vec<BTreeMap<PathNode, u64>>,
    candidates: BTreeMap<PathNode, (u64, u64)>,
}

/// The event that gave step `s` its chain time `t`: the first matching one at that time
/// after `after` (or, if none, the first at all).
fn event_of(u: &FUnit, s: usize, t: i64, after: Option<usize>) -> Option<usize> {
    let at = |i: &usize| u.ts[*i] == t && u.m[*i][s];
    let n = u.ts.len();
    (after.map_or(0, |p| p + 1)..n)
        .find(at)
        .or_else(|| (0..n).find(at))
}

fn flow_unit(
    q: &Query,
    spec: &FunnelSpec,
    u: &FUnit,
    evs: &[Event],
    out: Option<&ROut>,
    f: &mut FlowRef,
) {
    let n = spec.steps.len();
    let required: Vec<usize> = (0..n).filter(|&j| !spec.steps[j].optional).collect();
    let last = *required.last().unwrap();
    let hits = goal_hits(q, evs);
    let nodes = unit_nodes(q, &spec.flow_nodes, &[], true, evs, &hits, 0, evs.len());
    if let Some(c) = (0..evs.len()).find(|&i| u.m[i][last]) {
        f.converters += 1;
        for j in 0..n {
            if j == last || (0..c).any(|i| u.m[i][j]) {
                f.reached_before[j] += 1;
            }
        }
        let milestones: Vec<usize> = (0..q.goals.len())
            .filter(|&g| q.goals[g].role == Role::Milestone)
            .collect();
        // (first index, goal index or 0, node)
        let mut seen: Vec<(usize, usize, PathNode)> = Vec::new();
        if milestones.is_empty() {
            for (node, i) in &nodes {
                if *i < c && node.kind == PathNodeKind::Page && !seen.iter().any(|x| &x.2 == node) {
                    seen.push((*i, 0, node.clone()));
                }
            }
        } else {
            for g in milestones {
                if let Some(&i) = hits[g].iter().find(|&&i| i < c) {
                    seen.push((i, g, pnode(PathNodeKind::Goal, &q.goals[g].name)));
                }
            }
        }
        seen.sort_by_key(|x| (x.0, x.1));
        for (rank, (_, _, node)) in seen.into_iter().enumerate() {
            let e = f.candidates.entry(node).or_default();
            e.0 += 1;
            e.1 += rank as u64;
        }
    }
    let Some(o) = out else { return };
    let time = |s: usize| o.times.iter().find(|x| x.0 == s).map(|x| x.1);
    let level = required
        .iter()
        .take_while(|&&s| o.reached >> s & 1 == 1)
        .count();
    let exit = pnode(PathNodeKind::Exit, "(exit)");
    if level >= 1 && level < required.len() {
        let s = required[level - 1];
        if let Some(p) = time(s).and_then(|t| event_of(u, s, t, None)) {
            let next = nodes.iter().find(|x| x.1 > p).map_or(exit, |x| x.0.clone());
            *f.dropped_next[required[level]].entry(next).or_default() += 1;
        }
    } else if level == required.len() {
        let mut prev: Option<usize> = None;
        for (gi, w) in required.windows(2).enumerate() {
            let p1 = prev.or_else(|| time(w[0]).and_then(|t| event_of(u, w[0], t, None)));
            let p2 = p1.and_then(|p1| time(w[1]).and_then(|t| event_of(u, w[1], t, Some(p1))));
            if let (Some(p1), Some(p2)) = (p1, p2) {
                let between: BTreeSet<PathNode> = nodes
                    .iter()
                    .filter(|x| x.1 > p1 && x.1 < p2 && u.m[x.1].iter().all(|b| !b))
                    .map(|x| x.0.clone())
                    .collect();
                for node in between {
                    *f.between[gi].entry(node).or_default() += 1;
                }
            }
            prev = p2;
        }
    }
}

fn build_flow(spec: &FunnelSpec, f: FlowRef, in_order: u64) -> FunnelFlow {
    let required: Vec<usize> = (0..spec.steps.len())
        .filter(|&j| !spec.steps[j].optional)
        .collect();
    let conv = f.converters;
    let mut cands: Vec<(PathNode, u64, u64)> = f
        .candidates
        .into_iter()
        .filter(|(_, (u, _))| *u > 0 && u * 2 >= conv)
        .map(|(n, (u, r))| (n, u, r))
        .collect();
    cands.sort_by(|x, y| {
        (x.2 as u128 * y.1 as u128)
            .cmp(&(y.2 as u128 * x.1 as u128))
            .then_with(|| x.0.cmp(&y.0))
    });
    cands.truncate(10);
    FunnelFlow {
        dropped_next: f
            .dropped_next
            .into_iter()
            .map(|m| top_nodes(m, 10))
            .collect(),
        converters: conv,
        reached_before: f.reached_before,
        in_order,
        between: required
            .windows(2)
            .zip(f.between)
            .map(|(w, m)| FlowGap {
                from_step: w[0] + 1,
                to_step: w[1] + 1,
                nodes: top_nodes(m, 10),
            })
            .collect(),
        suggested: cands
            .into_iter()
            .map(|(node, units, _)| SuggestedStep {
                node,
                share: if conv > 0 {
                    units as f64 / conv as f64
                } else {
                    0.0
                },
                units,
            })
            .collect(),
    }
}

// ---------------------------------------------------------------------------------
// Reports

/// Visitors kept by the behavioural filters, with their events.
fn kept(q: &Query, r: &Resolved, d: &Data) -> Vec<Vec<Event>> {
    timelines(q, r, d, r.from, r.to)
        .into_values()
        .filter(|evs| keeps(r, q, &goal_hits(q, evs)))
        .collect()
}

pub fn cart(q: &Query, r: &Resolved, spec: &CartSpec, d: &Data) -> CartResult {
    let (mut carts, mut purchased, mut recovered, mut ttr) = (0u64, 0u64, 0u64, Vec::new());
    for evs in kept(q, r, d) {
        for (a, b) in sessions(&evs, q.session_gap.ms) {
            let Some(c) = (a..b).find(|&i| evs[i].name() == spec.cart_event) else {
                continue;
            };
            carts += 1;
            if (c..b).any(|i| evs[i].name() == spec.purchase_event) {
                purchased += 1;
                continue;
            }
            let end = evs[b - 1].ts;
            if let Some(t) = evs
                .iter()
                .filter(|e| e.name() == spec.purchase_event && e.ts > end)
                .map(|e| e.ts)
                .min()
                && t - end <= spec.recovery.ms
            {
                recovered += 1;
                ttr.push(t - end);
            }
        }
    }
    let abandoned = carts - purchased;
    CartResult {
        carts,
        purchased,
        abandoned,
        abandonment: wilson(abandoned, carts),
        recovered,
        recovery: wilson(recovered, abandoned),
        time_to_recover: time_stats(ttr),
    }
}

pub fn forms(q: &Query, r: &Resolved, spec: &FormsSpec, d: &Data) -> FormsResult {
    #[derive(Default)]
    struct F {
        starts: u64,
        submits: u64,
        to_submit: Vec<i64>,
        fields: BTreeMap<String, (u64, u64, Vec<i64>)>,
    }
    let form_of = |e: &Event| value_text(&Field::Prop("form_id".into()), e);
    let field_of = |e: &Event| value_text(&Field::Prop("field".into()), e);
    let mut forms: BTreeMap<String, F> = BTreeMap::new();
    for evs in kept(q, r, d) {
        for (a, b) in sessions(&evs, q.session_gap.ms) {
            let mut started: Vec<(String, usize)> = Vec::new();
            for (i, e) in evs.iter().enumerate().take(b).skip(a) {
                if e.name() == "form_start"
                    && let Some(f) = form_of(e)
                    && !started.iter().any(|(g, _)| *g == f)
                {
                    started.push((f, i));
                }
            }
            for (form, s) in started {
                let acc = forms.entry(form.clone()).or_default();
                acc.starts += 1;
                let mut touched: Vec<String> = Vec::new();
                let mut open: Option<(String, i64)> = None;
                let mut last = None;
                let mut submitted = None;
                for e in &evs[s..b] {
                    let is_field = e.name() == "form_field";
                    let is_submit = e.name() == "form_submit";
                    if !(is_field || is_submit) || form_of(e).as_deref() != Some(form.as_str()) {
                        continue;
                    }
                    if let Some((f, t0)) = open.take() {
                        acc.fields.entry(f).or_default().2.push(e.ts - t0);
                    }
                    if is_submit {
                        submitted = Some(e.ts);
                        break;
                    }
                    if let Some(f) = field_of(e) {
                        if !touched.contains(&f) {
                            touched.push(f.clone());
                            acc.fields.entry(f.clone()).or_default().0 += 1;
                        }
                        open = Some((f.clone(), e.ts));
                        last = Some(f);
                    }
                }
                match submitted {
                    Some(t) => {
                        acc.submits += 1;
                        acc.to_submit.push(t - evs[s].ts);
                    }
                    None => {
                        if let Some(f) = last {
                            acc.fields.entry(f).or_default().1 += 1;
                        }
                    }
                }
            }
        }
    }
    let mut rows: Vec<FormRow> = forms
        .into_iter()
        .map(|(form, f)| {
            let mut fields: Vec<FormFieldRow> = f
                .fields
                .into_iter()
                .map(|(field, (t, l, times))| FormFieldRow {
                    field,
                    touched: t,
                    last_before_abandon: l,
                    time: time_stats(times),
                })
                .collect();
            fields.sort_by(|a, b| {
                b.touched
                    .cmp(&a.touched)
                    .then_with(|| a.field.cmp(&b.field))
            });
            FormRow {
                form,
                starts: f.starts,
                submissions: f.submits,
                submission_rate: wilson(f.submits, f.starts),
                abandonment: wilson(f.starts - f.submits, f.starts),
                time_to_submit: time_stats(f.to_submit),
                fields,
            }
        })
        .collect();
    rows.sort_by(|a, b| b.starts.cmp(&a.starts).then_with(|| a.form.cmp(&b.form)));
    rows.truncate(spec.limit);
    FormsResult { forms: rows }
}

/// The tracker's passive events: they neither stop a bounce nor make path nodes or
/// influence candidates.
fn passive(name: &str) -> bool {
    matches!(name, "scroll" | "engagement" | "experiment_exposure")
}

fn bounced(evs: &[Event]) -> bool {
    evs.iter().filter(|e| is_pageview(e)).count() == 1
        && evs.iter().all(|e| is_pageview(e) || passive(e.name()))
}

pub fn pages(q: &Query, r: &Resolved, spec: &PagesSpec, d: &Data) -> PagesResult {
    let mut m: BTreeMap<String, [u64; 5]> = BTreeMap::new();
    // A path, or its page when grouped.
    let key = |e: &Event| {
        if spec.grouped {
            page(e)
        } else {
            e.dim(Dim::Path).to_string()
        }
    };
    for evs in kept(q, r, d) {
        let mut seen = BTreeSet::new();
        for e in evs.iter().filter(|e| is_pageview(e)) {
            m.entry(key(e)).or_default()[0] += 1;
            seen.insert(key(e));
        }
        for p in seen {
            m.entry(p).or_default()[1] += 1;
        }
        for (a, b) in sessions(&evs, q.session_gap.ms) {
            let s = &evs[a..b];
            let Some(first) = s.iter().find(|e| is_pageview(e)) else {
                continue;
            };
            let last = s.iter().rev().find(|e| is_pageview(e)).unwrap();
            let x = m.entry(key(first)).or_default();
            x[2] += 1;
            if bounced(s) {
                x[4] += 1;
            }
            m.entry(key(last)).or_default()[3] += 1;
        }
    }
    let mut rows: Vec<PageRow> = m
        .into_iter()
        .map(|(p, v)| PageRow {
            group: if spec.grouped { None } else { group_of(&p) },
            path: if p.is_empty() { "(none)".into() } else { p },
            pageviews: v[0],
            visitors: v[1],
            entries: v[2],
            exits: v[3],
            exit_rate: wilson(v[3], v[0]),
            bounce_rate: wilson(v[4], v[2]),
        })
        .collect();
    rows.sort_by(|a, b| {
        b.pageviews
            .cmp(&a.pageviews)
            .then_with(|| a.path.cmp(&b.path))
    });
    rows.truncate(spec.limit);
    PagesResult { pages: rows }
}

fn figures(sessions_: &[&[Event]], visitors: u64) -> OverviewFigures {
    let n = sessions_.len() as u64;
    let pv: u64 = sessions_
        .iter()
        .map(|s| s.iter().filter(|e| is_pageview(e)).count() as u64)
        .sum();
    let mut durs: Vec<i64> = sessions_
        .iter()
        .map(|s| s[s.len() - 1].ts - s[0].ts)
        .collect();
    durs.sort();
    let sum: i128 = durs.iter().map(|&x| x as i128).sum();
    OverviewFigures {
        visitors,
        sessions: n,
        pageviews: pv,
        events: sessions_.iter().map(|s| s.len() as u64).sum(),
        bounce_rate: wilson(sessions_.iter().filter(|s| bounced(s)).count() as u64, n),
        pages_per_session: if n > 0 { pv as f64 / n as f64 } else { 0.0 },
        mean_duration_ms: if n > 0 { sum as f64 / n as f64 } else { 0.0 },
        median_duration_ms: cairn_engine::stats::nearest_rank(&durs, 0.5),
    }
}

pub fn overview(q: &Query, r: &Resolved, spec: &OverviewSpec, d: &Data) -> OverviewResult {
    let vis = kept(q, r, d);
    let all: Vec<&[Event]> = vis
        .iter()
        .flat_map(|evs| {
            sessions(evs, q.session_gap.ms)
                .into_iter()
                .map(move |(a, b)| &evs[a..b])
        })
        .collect();
    let buckets = spec.interval.map(|iv| Buckets::new(r.from, r.to, iv, r.tz));
    let series = buckets
        .map(|bk| {
            (0..bk.len())
                .map(|bi| {
                    let mut ss: Vec<&[Event]> = Vec::new();
                    let mut visitors = 0;
                    for evs in &vis {
                        let mine: Vec<&[Event]> = sessions(evs, q.session_gap.ms)
                            .into_iter()
                            .map(|(a, b)| &evs[a..b])
                            .filter(|s| bk.index(s[0].ts) == bi)
                            .collect();
                        if !mine.is_empty() {
                            visitors += 1;
                        }
                        ss.extend(mine);
                    }
                    OverviewBucket {
                        start: bk.start(bi),
                        label: bk.label(bi).to_string(),
                        figures: figures(&ss, visitors),
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    let table = |b: &Breakdown| overview_breakdown(q, b, &vis);
    OverviewResult {
        figures: figures(&all, vis.len() as u64),
        series,
        breakdown_by: spec.breakdown.as_ref().map(|b| b.by.to_string()),
        breakdown: spec.breakdown.as_ref().map(table).unwrap_or_default(),
        breakdowns: spec
            .breakdowns
            .iter()
            .map(|b| OverviewBreakdown {
                by: b.by.to_string(),
                rows: table(b),
            })
            .collect(),
    }
}

/// One overview breakdown: each session under its first value; a visitor under each of
/// its sessions' values; top `limit` by visitors, the rest summed into "(other)".
fn overview_breakdown(q: &Query, b: &Breakdown, vis: &[Vec<Event>]) -> Vec<OverviewBreakdownRow> {
    let mut by: BTreeMap<String, (Vec<&[Event]>, u64)> = BTreeMap::new();
    for evs in vis {
        let mut mine = BTreeSet::new();
        for (a, z) in sessions(evs, q.session_gap.ms) {
            let v = label(&unit_value(&b.by, &evs[a..z]));
            by.entry(v.clone()).or_default().0.push(&evs[a..z]);
            mine.insert(v);
        }
        for v in mine {
            by.get_mut(&v).unwrap().1 += 1;
        }
    }
    let rows: Vec<(String, Vec<u64>, (Vec<&[Event]>, u64))> =
        by.into_iter().map(|(v, x)| (v, vec![x.1], x)).collect();
    top(rows, b.limit, |a, b| {
        a.0.extend(b.0.iter().copied());
        a.1 += b.1;
    })
    .into_iter()
    .map(|(value, _, (ss, visitors))| OverviewBreakdownRow {
        value,
        figures: figures(&ss, visitors),
    })
    .collect()
}

pub fn checkout(q: &Query, r: &Resolved, spec: &CheckoutSpec, d: &Data) -> FunnelResult {
    let mut nums: Vec<f64> = d
        .events
        .iter()
        .filter(|e| {
            e.site == q.site && e.ts >= r.from && e.ts <= r.to && e.name() == spec.step_event
        })
        .filter(|e| {
            r.filters.iter().all(|f| match f {
                FilterKind::Event(c) => holds(c, e),
                FilterKind::Behaviour(..) => true,
            })
        })
        .filter_map(|e| match e.prop(&spec.step_prop) {
            Some(cairn_model::PropValue::Num(x)) => Some(*x),
            _ => None,
        })
        .collect();
    nums.sort_by(f64::total_cmp);
    nums.dedup();
    nums.truncate(30);
    let mut steps = vec![Step::event(&spec.start_event)];
    for x in nums {
        let mut s = Step::event(&spec.step_event);
        s.conditions.push(Condition::new(
            Field::Prop(spec.step_prop.clone()),
            Op::Eq,
            Some(CondValue::One(Scalar::Num(x))),
        ));
        s.label = Some(format!(
            "{} {}",
            spec.step_event,
            ValueRef::Num(x).to_label()
        ));
        steps.push(s);
    }
    steps.push(Step::event(&spec.end_event));
    let mut f = FunnelSpec::new(steps);
    f.unit = Unit::Session;
    f.window = Duration::from_ms(7 * 86_400_000);
    funnel(q, r, &f, d)
}

/// Runs any analysis.
pub fn run(q: &Query, d: &Data) -> QueryResult {
    let plan = q.plan().expect("valid spec");
    let (q, r) = (plan.query(), plan.resolved().clone());
    RULES.with(|x| {
        *x.borrow_mut() = Some(PageRules::new(&q.page_groups, "page_groups").expect("valid rules"))
    });
    match plan.analysis().clone() {
        Analysis::Goals(s) => QueryResult::Goals(goals(q, &r, &s, d)),
        Analysis::Funnel(s) => QueryResult::Funnel(funnel(q, &r, &s, d)),
        Analysis::CartAbandonment(s) => QueryResult::CartAbandonment(cart(q, &r, &s, d)),
        Analysis::Forms(s) => QueryResult::Forms(forms(q, &r, &s, d)),
        Analysis::Pages(s) => QueryResult::Pages(pages(q, &r, &s, d)),
        Analysis::Overview(s) => QueryResult::Overview(overview(q, &r, &s, d)),
        Analysis::Checkout(s) => QueryResult::Checkout(checkout(q, &r, &s, d)),
        Analysis::Paths(s) => QueryResult::Paths(paths(q, &r, &s, d)),
        Analysis::Transitions(s) => QueryResult::Transitions(transitions(q, &r, &s, d)),
        Analysis::Influence(s) => QueryResult::Influence(influence(q, &r, &s, d)),
        Analysis::Attribution(s) => QueryResult::Attribution(attribution(q, &r, &s, d)),
        Analysis::LeadingIndicators(s) => QueryResult::LeadingIndicators(leading(q, &r, &s, d)),
        Analysis::Experiment(s) => QueryResult::Experiment(experiment(q, &r, &s, d)),
        Analysis::ExperimentPlan(s) => QueryResult::ExperimentPlan(experiment_plan(q, &r, &s, d)),
        Analysis::Events(s) => QueryResult::Events(events(q, &r, &s, d)),
        Analysis::SavedFunnel(_) => unreachable!("a plan resolves it"),
    }
}

// ---------------------------------------------------------------------------------
// Pages and paths

thread_local! {
    /// The page grouping rules of the query being run (set by [`run`]).
    static RULES: std::cell::RefCell<Option<PageRules>> = const { std::cell::RefCell::new(None) };
}

/// The page of an event: its path after the grouping rules.
fn page(e: &Event) -> String {
    let path = e.dim(Dim::Path);
    RULES.with(|r| match &*r.borrow() {
        Some(rules) if !path.is_empty() => rules.page(path),
        _ => path.to_string(),
    })
}

/// The group of a path, when a rule matches it.
fn group_of(path: &str) -> Option<String> {
    RULES.with(|r| r.borrow().as_ref().and_then(|rules| rules.group(path)))
}

fn pnode(kind: PathNodeKind, name: &str) -> PathNode {
    PathNode {
        kind,
        name: name.to_string(),
    }
}

fn page_node(e: &Event) -> PathNode {
    let p = page(e);
    pnode(PathNodeKind::Page, if p.is_empty() { "(none)" } else { &p })
}

/// The nodes of events `[a, b)`: (node, index), in order, repeats collapsed when asked.
#[allow(clippy::too_many_arguments)]
fn unit_nodes(
    q: &Query,
    kinds: &[NodeKind],
    conds: &[Condition],
    collapse: bool,
    evs: &[Event],
    hits: &[Vec<usize>],
    a: usize,
    b: usize,
) -> Vec<(PathNode, usize)> {
    let mut out: Vec<(PathNode, usize)> = Vec::new();
    for (i, e) in evs.iter().enumerate().take(b).skip(a) {
        if !all(conds, e) {
            continue;
        }
        let goal = kinds
            .contains(&NodeKind::Goal)
            .then(|| (0..q.goals.len()).find(|&g| hits[g].contains(&i)))
            .flatten();
        let node = if let Some(g) = goal {
            pnode(PathNodeKind::Goal, &q.goals[g].name)
        } else if is_pageview(e) {
            if !kinds.contains(&NodeKind::Page) {
                continue;
            }
            page_node(e)
        } else {
            if !kinds.contains(&NodeKind::Event) || passive(e.name()) {
                continue;
            }
            pnode(PathNodeKind::Event, e.name())
        };
        if collapse && out.last().is_some_and(|(n, _)| *n == node) {
            continue;
        }
        out.push((node, i));
    }
    out
}

fn unit_ranges(unit: Unit, evs: &[Event], gap: i64) -> Vec<(usize, usize)> {
    match unit {
        Unit::Session => sessions(evs, gap),
        _ => vec![(0, evs.len())],
    }
}

fn top_nodes(counts: BTreeMap<PathNode, u64>, limit: usize) -> Vec<NodeUnits> {
    let mut rows: Vec<(PathNode, u64)> = counts.into_iter().collect();
    rows.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let mut out: Vec<NodeUnits> = rows
        .iter()
        .take(limit)
        .map(|(n, c)| NodeUnits {
            node: n.clone(),
            count: *c,
            nodes: None,
        })
        .collect();
    if rows.len() > limit {
        out.push(NodeUnits {
            node: pnode(PathNodeKind::Other, "(other)"),
            count: rows[limit..].iter().map(|r| r.1).sum(),
            nodes: Some((rows.len() - limit) as u64),
        });
    }
    out
}

pub fn paths(q: &Query, r: &Resolved, spec: &PathsSpec, d: &Data) -> PathsResult {
    let n = spec.steps;
    let backward = spec.end.is_some();
    let anchor = spec.start.as_deref().or(spec.end.as_deref());
    let mut units = 0u64;
    // Every followed unit's whole path (not cut), with the times of its nodes.
    let mut all_paths: Vec<Vec<(PathNode, i64)>> = Vec::new();
    for evs in kept(q, r, d) {
        let hits = goal_hits(q, &evs);
        for (a, b) in unit_ranges(spec.unit, &evs, q.session_gap.ms) {
            let nodes = unit_nodes(
                q,
                &spec.nodes,
                &spec.conditions,
                spec.collapse_repeats,
                &evs,
                &hits,
                a,
                b,
            );
            if !nodes.is_empty() {
                units += 1;
            }
            let path: Vec<(PathNode, usize)> = match anchor {
                None => nodes,
                Some(s) => {
                    let Some(i) = (a..b).find(|&i| step_match(q, s, &evs, &hits, i)) else {
                        continue;
                    };
                    let first = match (&s.goal, s.any_of.is_empty()) {
                        (Some(g), true) => pnode(PathNodeKind::Goal, g),
                        _ => {
                            let goal = spec
                                .nodes
                                .contains(&NodeKind::Goal)
                                .then(|| (0..q.goals.len()).find(|&g| hits[g].contains(&i)))
                                .flatten();
                            match goal {
                                Some(g) => pnode(PathNodeKind::Goal, &q.goals[g].name),
                                None if is_pageview(&evs[i]) => page_node(&evs[i]),
                                None => pnode(PathNodeKind::Event, evs[i].name()),
                            }
                        }
                    };
                    let mut path = vec![(first, i)];
                    let rest: Vec<(PathNode, usize)> = if backward {
                        nodes.into_iter().filter(|x| x.1 < i).rev().collect()
                    } else {
                        nodes.into_iter().filter(|x| x.1 > i).collect()
                    };
                    for x in rest {
                        if spec.collapse_repeats && path.last().unwrap().0 == x.0 {
                            continue;
                        }
                        path.push(x);
                    }
                    path
                }
            };
            if !path.is_empty() {
                all_paths.push(path.into_iter().map(|(p, i)| (p, evs[i].ts)).collect());
            }
        }
    }
    let end = if backward {
        pnode(PathNodeKind::Entrance, "(entrance)")
    } else {
        pnode(PathNodeKind::Exit, "(exit)")
    };
    let mut steps = Vec::new();
    let mut listed: Vec<BTreeSet<PathNode>> = Vec::new();
    for k in 0..n {
        let mut counts: BTreeMap<PathNode, u64> = BTreeMap::new();
        for p in &all_paths {
            if let Some((node, _)) = p.get(k) {
                *counts.entry(node.clone()).or_default() += 1;
            }
        }
        let nodes = top_nodes(counts, spec.limit);
        listed.push(
            nodes
                .iter()
                .filter(|x| x.node.kind != PathNodeKind::Other)
                .map(|x| x.node.clone())
                .collect(),
        );
        steps.push(PathStep {
            step: k + 1,
            units: all_paths.iter().filter(|p| p.len() > k).count() as u64,
            nodes,
            ended: if k == 0 {
                0
            } else {
                all_paths.iter().filter(|p| p.len() == k).count() as u64
            },
        });
    }
    let shown = |k: usize, node: &PathNode| {
        if listed[k].contains(node) {
            node.clone()
        } else {
            pnode(PathNodeKind::Other, "(other)")
        }
    };
    let mut links: BTreeMap<(usize, PathNode, PathNode), u64> = BTreeMap::new();
    for p in &all_paths {
        for k in 0..(n - 1).min(p.len()) {
            let to = match p.get(k + 1) {
                Some((x, _)) => shown(k + 1, x),
                None => end.clone(),
            };
            *links.entry((k + 1, shown(k, &p[k].0), to)).or_default() += 1;
        }
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
    let mut seqs: BTreeMap<(Vec<PathNode>, bool), Vec<i64>> = BTreeMap::new();
    for p in &all_paths {
        let cut = &p[..p.len().min(n)];
        let ms = (cut[cut.len() - 1].1 - cut[0].1).abs();
        let mut nodes: Vec<PathNode> = cut.iter().map(|x| x.0.clone()).collect();
        if backward {
            nodes.reverse();
        }
        seqs.entry((nodes, p.len() <= n)).or_default().push(ms);
    }
    let followed = all_paths.len() as u64;
    let mut seqs: Vec<((Vec<PathNode>, bool), Vec<i64>)> = seqs.into_iter().collect();
    seqs.sort_by(|a, b| {
        b.1.len()
            .cmp(&a.1.len())
            .then_with(|| a.0.0.cmp(&b.0.0))
            .then_with(|| b.0.1.cmp(&a.0.1))
    });
    seqs.truncate(spec.sequences);
    PathsResult {
        direction: if backward { "backward" } else { "forward" }.into(),
        unit: spec.unit,
        units,
        followed,
        steps,
        links,
        beyond: all_paths.iter().filter(|p| p.len() > n).count() as u64,
        sequences: seqs
            .into_iter()
            .map(|((nodes, complete), mut times)| {
                times.sort();
                PathSequence {
                    nodes,
                    complete,
                    units: times.len() as u64,
                    share: times.len() as f64 / followed as f64,
                    median_ms: cairn_engine::stats::nearest_rank(&times, 0.5),
                }
            })
            .collect(),
    }
}

pub fn transitions(q: &Query, r: &Resolved, spec: &TransitionsSpec, d: &Data) -> TransitionsResult {
    let mut kinds = spec.nodes.clone();
    if let Some(n) = &spec.node {
        kinds.push(n.kind);
    }
    let target = spec.node.as_ref().map(|n| {
        pnode(
            match n.kind {
                NodeKind::Page => PathNodeKind::Page,
                NodeKind::Event => PathNodeKind::Event,
                NodeKind::Goal => PathNodeKind::Goal,
            },
            &n.name,
        )
    });
    let exit = pnode(PathNodeKind::Exit, "(exit)");
    let (mut occurrences, mut units) = (0u64, 0u64);
    let mut previous: BTreeMap<PathNode, u64> = BTreeMap::new();
    let mut next: BTreeMap<PathNode, u64> = BTreeMap::new();
    let mut pairs: BTreeMap<(PathNode, PathNode), u64> = BTreeMap::new();
    for evs in kept(q, r, d) {
        let hits = goal_hits(q, &evs);
        for (a, b) in unit_ranges(spec.unit, &evs, q.session_gap.ms) {
            let seq: Vec<PathNode> = unit_nodes(
                q,
                &kinds,
                &spec.conditions,
                spec.collapse_repeats,
                &evs,
                &hits,
                a,
                b,
            )
            .into_iter()
            .map(|x| x.0)
            .collect();
            let after = |i: usize| seq.get(i + 1).cloned().unwrap_or_else(|| exit.clone());
            match &target {
                None => {
                    units += u64::from(!seq.is_empty());
                    occurrences += seq.len() as u64;
                    for (i, x) in seq.iter().enumerate() {
                        *pairs.entry((x.clone(), after(i))).or_default() += 1;
                    }
                }
                Some(t) => {
                    let at: Vec<usize> = (0..seq.len()).filter(|&i| &seq[i] == t).collect();
                    units += u64::from(!at.is_empty());
                    for i in at {
                        occurrences += 1;
                        let before = if i == 0 {
                            let s = evs[a].dim(Dim::Source);
                            pnode(
                                PathNodeKind::Entrance,
                                if s.is_empty() { "(direct)" } else { s },
                            )
                        } else {
                            seq[i - 1].clone()
                        };
                        *previous.entry(before).or_default() += 1;
                        *next.entry(after(i)).or_default() += 1;
                    }
                }
            }
        }
    }
    let mut rows: Vec<((PathNode, PathNode), u64)> = pairs.into_iter().collect();
    rows.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let mut out: Vec<NodePair> = rows
        .iter()
        .take(spec.limit)
        .map(|((from, to), count)| NodePair {
            from: from.clone(),
            to: to.clone(),
            count: *count,
        })
        .collect();
    if rows.len() > spec.limit {
        out.push(NodePair {
            from: pnode(PathNodeKind::Other, "(other)"),
            to: pnode(PathNodeKind::Other, "(other)"),
            count: rows[spec.limit..].iter().map(|r| r.1).sum(),
        });
    }
    let list = |m: BTreeMap<PathNode, u64>| {
        if target.is_some() {
            top_nodes(m, spec.limit)
        } else {
            Vec::new()
        }
    };
    TransitionsResult {
        unit: spec.unit,
        occurrences,
        units,
        previous: list(previous),
        next: list(next),
        pairs: out,
    }
}

// ---------------------------------------------------------------------------------
// Influence (docs/influence.md)

/// Every unit of an analysis over `unit`: (its events, goal hits over them, `[a, b)`).
/// Leads are their visitors' events stitched together; visitors and leads are kept by
/// the behavioural filters on what the visitor (or lead) did.
fn units_of(
    q: &Query,
    r: &Resolved,
    unit: Unit,
    d: &Data,
) -> Vec<(Vec<Event>, Vec<Vec<usize>>, usize, usize)> {
    let tls = timelines(q, r, d, r.from, r.to);
    let mut lists: Vec<Vec<Event>> = Vec::new();
    if unit == Unit::Lead {
        let mut by_user: BTreeMap<String, Vec<u64>> = BTreeMap::new();
        for v in tls.keys() {
            if let Some(u) = d.links.get(v) {
                by_user.entry(u.clone()).or_default().push(*v);
            }
        }
        for vs in by_user.values() {
            let mut evs: Vec<Event> = Vec::new();
            for v in vs {
                evs.extend(tls[v].iter().cloned());
            }
            evs.sort_by_key(|e| e.ts);
            lists.push(evs);
        }
    } else {
        lists.extend(tls.into_values());
    }
    let mut out = Vec::new();
    for evs in lists {
        let hits = goal_hits(q, &evs);
        if !keeps(r, q, &hits) {
            continue;
        }
        for (a, b) in unit_ranges(unit, &evs, q.session_gap.ms) {
            out.push((evs.clone(), hits.clone(), a, b));
        }
    }
    out
}

pub fn influence(q: &Query, r: &Resolved, spec: &InfluenceSpec, d: &Data) -> InfluenceResult {
    let y_name = spec.macro_goal(&q.goals).unwrap().to_string();
    let gi = |n: &str| q.goals.iter().position(|g| g.name == n).unwrap();
    let yi = gi(&y_name);
    let goals: Vec<usize> = spec.candidate_goals(&q.goals).into_iter().map(gi).collect();
    // Candidates by (kind, name); per stratum: units, converted, per candidate (did, did
    // and converted).
    type Strata = BTreeMap<Vec<Option<String>>, (u64, u64, BTreeMap<(u8, String), (u64, u64)>)>;
    let mut strata: Strata = BTreeMap::new();
    let mut after_only: BTreeMap<(u8, String), u64> = BTreeMap::new();
    let mut to_goal: BTreeMap<(u8, String), Vec<i64>> = BTreeMap::new();
    for (evs, hits, a, b) in units_of(q, r, spec.unit, d) {
        let key: Vec<Option<String>> = spec
            .stratify
            .iter()
            .map(|f| unit_value(f, &evs[a..b]))
            .collect();
        let first = |h: &[usize]| h.iter().copied().find(|&i| i >= a && i < b);
        let conv = first(&hits[yi]);
        let st = strata.entry(key).or_default();
        st.0 += 1;
        if conv.is_some() {
            st.1 += 1;
        }
        // Each candidate's first time in the unit.
        let mut done: Vec<((u8, String), usize)> = Vec::new();
        for &g in &goals {
            if let Some(i) = first(&hits[g]) {
                done.push(((0, q.goals[g].name.clone()), i));
            }
        }
        if spec.events {
            let mut seen: BTreeSet<String> = BTreeSet::new();
            for (i, e) in evs.iter().enumerate().take(b).skip(a) {
                let n = e.name();
                if n.is_empty() || is_pageview(e) || passive(n) {
                    continue;
                }
                if seen.insert(n.to_string()) {
                    done.push(((1, n.to_string()), i));
                }
            }
        }
        for (c, i) in done {
            let counts = match (spec.order, conv) {
                (Precedence::Before, Some(y)) => i < y,
                _ => true,
            };
            if !counts {
                *after_only.entry(c).or_default() += 1;
                continue;
            }
            let e = st.2.entry(c.clone()).or_default();
            e.0 += 1;
            if let Some(y) = conv {
                e.1 += 1;
                if i <= y {
                    to_goal.entry(c).or_default().push(evs[y].ts - evs[i].ts);
                }
            }
        }
    }
    let n: u64 = strata.values().map(|s| s.0).sum();
    let y: u64 = strata.values().map(|s| s.1).sum();
    let mut cands: Vec<(u8, String)> = goals
        .iter()
        .map(|&g| (0, q.goals[g].name.clone()))
        .collect();
    if spec.events {
        let mut support: BTreeMap<String, u64> = BTreeMap::new();
        for s in strata.values() {
            for ((k, name), (x, _)) in &s.2 {
                if *k == 1 {
                    *support.entry(name.clone()).or_default() += x;
                }
            }
        }
        let mut ev: Vec<(String, u64)> = support
            .into_iter()
            .filter(|(_, x)| *x >= spec.min_support)
            .collect();
        ev.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        ev.truncate(MAX_EVENT_CANDIDATES);
        cands.extend(ev.into_iter().map(|(name, _)| (1, name)));
    }
    let mut rows: Vec<InfluenceRow> = Vec::new();
    for c in cands {
        let tables: Vec<Table> = strata
            .values()
            .map(|(sn, sy, did)| {
                let (x, xy) = did.get(&c).copied().unwrap_or_default();
                Table {
                    a: xy,
                    b: x - xy,
                    c: sy - xy,
                    d: sn - sy - (x - xy),
                }
            })
            .collect();
        let (a, b): (u64, u64) = (
            tables.iter().map(|t| t.a).sum(),
            tables.iter().map(|t| t.b).sum(),
        );
        let (cc, dd): (u64, u64) = (
            tables.iter().map(|t| t.c).sum(),
            tables.iter().map(|t| t.d).sum(),
        );
        let with = wilson(a, a + b);
        let without = wilson(cc, cc + dd);
        let mut t = to_goal.remove(&c).unwrap_or_default();
        t.sort();
        rows.push(InfluenceRow {
            role: (c.0 == 0).then(|| q.goals[gi(&c.1)].role),
            kind: if c.0 == 0 {
                CandidateKind::Goal
            } else {
                CandidateKind::Event
            },
            support: a + b,
            diff: newcombe(&with, &without),
            with,
            without,
            lift: rate_ratio(a, a + b, cc, cc + dd),
            p_value: two_proportion_p(a, a + b, cc, cc + dd),
            stratified: (!spec.stratify.is_empty()).then(|| {
                let (lift, p_value, informative_strata) = mantel_haenszel(&tables);
                Stratified {
                    lift,
                    p_value,
                    informative_strata,
                }
            }),
            q_value: None,
            ranked: a + b >= spec.min_support && cc + dd > 0,
            significant: false,
            converters_share: wilson(a, y),
            after_only: after_only.get(&c).copied().unwrap_or(0),
            median_to_goal_ms: (!t.is_empty()).then(|| nearest_rank(&t, 0.5)),
            name: c.1,
        });
    }
    let adj = |r: &InfluenceRow| match &r.stratified {
        Some(s) => (s.lift, s.p_value),
        None => (r.lift, r.p_value.unwrap_or(1.0)),
    };
    let tested: Vec<usize> = (0..rows.len()).filter(|&i| rows[i].ranked).collect();
    let qs = benjamini_hochberg(&tested.iter().map(|&i| adj(&rows[i]).1).collect::<Vec<_>>());
    for (&i, qv) in tested.iter().zip(qs) {
        let (lift, _) = adj(&rows[i]);
        let row = &mut rows[i];
        row.q_value = Some(qv);
        row.significant = qv < 0.05
            && match lift {
                Some(l) => l.low > 1.0 || l.high < 1.0,
                None => row.diff.low > 0.0 || row.diff.high < 0.0,
            };
    }
    let key = |r: &InfluenceRow| match adj(r).0 {
        Some(l) => l.low,
        None if r.with.num > 0 => f64::INFINITY,
        None => 0.0,
    };
    rows.sort_by(|a, b| {
        b.ranked
            .cmp(&a.ranked)
            .then_with(|| {
                if a.ranked {
                    key(b).total_cmp(&key(a))
                } else {
                    b.support.cmp(&a.support)
                }
            })
            .then_with(|| a.name.cmp(&b.name))
    });
    let unit = spec.unit.as_str();
    InfluenceResult {
        precedence: match spec.order {
            Precedence::Before => format!(
                "A candidate counts only when a {unit} did it before its first {y_name} (or without converting); done only afterwards, it counts as not done (after_only)."
            ),
            Precedence::Any => format!(
                "A candidate counts whenever a {unit} did it, before or after {y_name}: an association in either direction."
            ),
        },
        goal: y_name,
        unit: spec.unit,
        order: spec.order,
        converted: wilson(y, n),
        stratified_by: spec.stratify.iter().map(|f| f.to_string()).collect(),
        strata: strata.len() as u64,
        min_support: spec.min_support,
        tested: tested.len() as u64,
        candidates: rows,
    }
}

// ---------------------------------------------------------------------------------
// Attribution (docs/influence.md#attribution)

/// The probability that the chain of `paths` (touch names, converted, not) converts,
/// with `removed` cut out, by value iteration (not the engine's linear solve).
fn chain_probability(paths: &[(Vec<String>, u64, u64)], removed: Option<&str>) -> f64 {
    let mut next: BTreeMap<&str, BTreeMap<&str, f64>> = BTreeMap::new();
    let mut conv: BTreeMap<&str, f64> = BTreeMap::new();
    let mut out: BTreeMap<&str, f64> = BTreeMap::new();
    let mut start: BTreeMap<&str, f64> = BTreeMap::new();
    let mut units = 0.0;
    for (p, c, x) in paths {
        let w = (c + x) as f64;
        units += w;
        *start.entry(&p[0]).or_default() += w;
        for i in 0..p.len() {
            *out.entry(&p[i]).or_default() += w;
            if i + 1 < p.len() {
                *next.entry(&p[i]).or_default().entry(&p[i + 1]).or_default() += w;
            }
        }
        *conv.entry(p.last().unwrap()).or_default() += *c as f64;
    }
    if units == 0.0 {
        return 0.0;
    }
    let mut prob: BTreeMap<&str, f64> = out.keys().map(|k| (*k, 0.0)).collect();
    for _ in 0..100_000 {
        let mut change = 0.0f64;
        let keys: Vec<&str> = prob.keys().copied().collect();
        for k in keys {
            let v = if Some(k) == removed {
                0.0
            } else {
                let o = out[k];
                conv.get(k).copied().unwrap_or(0.0) / o
                    + next
                        .get(k)
                        .map(|m| m.iter().map(|(j, w)| w / o * prob[j]).sum::<f64>())
                        .unwrap_or(0.0)
            };
            change = change.max((v - prob[k]).abs());
            prob.insert(k, v);
        }
        if change < 1e-15 {
            break;
        }
    }
    start.iter().map(|(k, w)| w * prob[k]).sum::<f64>() / units
}

fn credit(conversions: f64, total: u64, value: BTreeMap<String, f64>) -> Credit {
    Credit {
        conversions,
        share: if total > 0 {
            conversions / total as f64
        } else {
            0.0
        },
        value,
    }
}

pub fn attribution(q: &Query, r: &Resolved, spec: &AttributionSpec, d: &Data) -> AttributionResult {
    let y_name = spec.macro_goal(&q.goals).unwrap().to_string();
    let gi = |n: &str| q.goals.iter().position(|g| g.name == n).unwrap();
    let yi = gi(&y_name);
    let touch_goals: Vec<usize> = spec.touch_goals(&q.goals).into_iter().map(gi).collect();
    // Every unit's path (touch names), whether it converted, and its conversion's value.
    let mut units: Vec<(Vec<String>, bool, Option<(String, i128)>)> = Vec::new();
    for (evs, hits, a, b) in units_of(q, r, spec.unit, d) {
        let conv = hits[yi].iter().copied().find(|&i| i >= a && i < b);
        let mut path: Vec<String> = Vec::new();
        match &spec.by {
            Some(f) => {
                for (sa, sb) in sessions(&evs, q.session_gap.ms) {
                    if conv.is_some_and(|y| sa > y) {
                        break;
                    }
                    path.push(label(&unit_value(f, &evs[sa..sb])));
                }
            }
            None => {
                let mut firsts: Vec<(usize, usize)> = Vec::new();
                for (ti, &g) in touch_goals.iter().enumerate() {
                    if let Some(i) = hits[g].first().copied()
                        && conv.is_none_or(|y| i < y)
                    {
                        firsts.push((i, ti));
                    }
                }
                firsts.sort();
                path = firsts
                    .iter()
                    .map(|&(_, ti)| q.goals[touch_goals[ti]].name.clone())
                    .collect();
            }
        }
        if path.is_empty() {
            path.push("(none)".into());
        }
        let value = conv.and_then(|y| goal_value(&q.goals[yi], &evs[y]));
        units.push((path, conv.is_some(), value));
    }
    // Touches beyond the 30 most frequent (units with them on their path) are `(other)`.
    let mut freq: BTreeMap<String, u64> = BTreeMap::new();
    for (p, _, _) in &units {
        for t in p.iter().collect::<BTreeSet<_>>() {
            *freq.entry(t.clone()).or_default() += 1;
        }
    }
    let mut by_freq: Vec<(String, u64)> = freq.into_iter().collect();
    by_freq.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let kept: BTreeSet<String> = by_freq
        .iter()
        .take(MAX_MARKOV_TOUCHES)
        .map(|x| x.0.clone())
        .collect();
    for (p, _, _) in &mut units {
        for t in p.iter_mut() {
            if !kept.contains(t) {
                *t = "(other)".into();
            }
        }
    }
    let conversions = units.iter().filter(|u| u.1).count() as u64;
    let mut total_value: BTreeMap<String, f64> = BTreeMap::new();
    for (_, _, v) in &units {
        if let Some((c, m)) = v {
            *total_value.entry(c.clone()).or_default() += *m as f64 / 1e6;
        }
    }
    // The heuristic models, unit by unit.
    let names: BTreeSet<String> = units.iter().flat_map(|u| u.0.iter().cloned()).collect();
    let mut models: BTreeMap<String, [(f64, BTreeMap<String, f64>); 4]> = BTreeMap::new();
    let mut on_path: BTreeMap<String, u64> = BTreeMap::new();
    for n in &names {
        models.insert(n.clone(), Default::default());
        on_path.insert(n.clone(), 0);
    }
    for (p, converted, v) in &units {
        if !converted {
            continue;
        }
        let n = p.len();
        for (k, t) in p.iter().enumerate() {
            let weights = [
                if k == 0 { 1.0 } else { 0.0 },
                if k == n - 1 { 1.0 } else { 0.0 },
                1.0 / n as f64,
                match n {
                    1 => 1.0,
                    2 => 0.5,
                    _ if k == 0 || k == n - 1 => 0.4,
                    _ => 0.2 / (n - 2) as f64,
                },
            ];
            let m = models.get_mut(t).unwrap();
            for (slot, w) in m.iter_mut().zip(weights).filter(|(_, w)| *w > 0.0) {
                slot.0 += w;
                if let Some((c, x)) = v {
                    *slot.1.entry(c.clone()).or_default() += w * *x as f64 / 1e6;
                }
            }
        }
        for t in p.iter().collect::<BTreeSet<_>>() {
            *on_path.get_mut(t).unwrap() += 1;
        }
    }
    // The Markov chain.
    let chain: Vec<(Vec<String>, u64, u64)> = units
        .iter()
        .map(|(p, c, _)| (p.clone(), *c as u64, !*c as u64))
        .collect();
    let base = chain_probability(&chain, None);
    let effects: BTreeMap<String, f64> = names
        .iter()
        .map(|n| {
            let e = if base > 0.0 {
                (1.0 - chain_probability(&chain, Some(n)) / base).max(0.0)
            } else {
                0.0
            };
            (n.clone(), e)
        })
        .collect();
    let sum: f64 = effects.values().sum();
    let share = |n: &str| if sum > 0.0 { effects[n] / sum } else { 0.0 };
    let mut order: Vec<&String> = names
        .iter()
        .filter(|n| on_path[*n] > 0 || share(n) >= 1e-9)
        .collect();
    order.sort_by(|a, b| {
        (a.as_str() == "(other)")
            .cmp(&(b.as_str() == "(other)"))
            .then_with(|| on_path[*b].cmp(&on_path[*a]))
            .then_with(|| a.cmp(b))
    });
    let row_of = |touch: String, ns: &[&String]| -> AttributionRow {
        let m = |k: usize| {
            let mut c = 0.0;
            let mut v: BTreeMap<String, f64> = BTreeMap::new();
            for n in ns {
                c += models[*n][k].0;
                for (cur, x) in &models[*n][k].1 {
                    *v.entry(cur.clone()).or_default() += x;
                }
            }
            credit(c, conversions, v)
        };
        let sh: f64 = ns.iter().map(|n| share(n)).sum();
        AttributionRow {
            touch,
            paths: ns.iter().map(|n| on_path[*n]).sum(),
            first_touch: m(0),
            last_touch: m(1),
            linear: m(2),
            position: m(3),
            markov: MarkovCredit {
                removal_effect: ns.iter().map(|n| effects[*n]).sum(),
                credit: credit(
                    sh * conversions as f64,
                    conversions,
                    total_value
                        .iter()
                        .map(|(c, v)| (c.clone(), sh * v))
                        .collect(),
                ),
                low: None,
                high: None,
            },
        }
    };
    let mut touches = Vec::new();
    let mut rest: Vec<&String> = Vec::new();
    for (k, n) in order.iter().enumerate() {
        if k < spec.limit && n.as_str() != "(other)" {
            touches.push(row_of((*n).clone(), &[n]));
        } else {
            rest.push(n);
        }
    }
    if !rest.is_empty() {
        touches.push(row_of("(other)".into(), &rest));
    }
    AttributionResult {
        goal: y_name,
        unit: spec.unit,
        by: spec
            .by
            .as_ref()
            .map_or_else(|| "goals".into(), |f| f.to_string()),
        units: units.len() as u64,
        conversions,
        value: total_value,
        conversion_probability: base,
        bootstrap: spec.bootstrap,
        touches,
    }
}

// ---------------------------------------------------------------------------------
// Leading indicators (docs/campaigns.md#leading-indicators)

pub fn leading(q: &Query, r: &Resolved, spec: &LeadingSpec, d: &Data) -> LeadingResult {
    use chrono::{Datelike, TimeZone};
    const DAY: i64 = 86_400_000;
    let y_name = spec.macro_goal(&q.goals).unwrap().to_string();
    let gi = |n: &str| q.goals.iter().position(|g| g.name == n).unwrap();
    let mut names: Vec<String> = spec
        .candidate_goals(&q.goals)
        .into_iter()
        .map(String::from)
        .collect();
    names.push(y_name.clone());
    // (value, week's Monday) → (visitors, reached early per indicator, converted), and
    // the week's end.
    let mut cohorts: BTreeMap<(String, chrono::NaiveDate), (u64, Vec<u64>, u64)> = BTreeMap::new();
    for evs in timelines(q, r, d, r.from, r.to).into_values() {
        let hits = goal_hits(q, &evs);
        if !keeps(r, q, &hits) {
            continue;
        }
        let first = evs[0].ts;
        let (a, b) = sessions(&evs, q.session_gap.ms)[0];
        let value = label(&unit_value(&spec.by, &evs[a..b]));
        let day = r.tz.timestamp_millis_opt(first).unwrap().date_naive();
        let monday = match spec.period {
            Interval::Week => {
                day - chrono::Duration::days(day.weekday().num_days_from_monday() as i64)
            }
            _ => day,
        };
        let reached = |g: &str, days: u32| {
            hits[gi(g)]
                .iter()
                .any(|&i| evs[i].ts < first + days as i64 * DAY)
        };
        let c = cohorts
            .entry((value, monday))
            .or_insert_with(|| (0, vec![0; names.len()], 0));
        c.0 += 1;
        for (k, n) in names.iter().enumerate() {
            c.1[k] += reached(n, spec.early_days) as u64;
        }
        c.2 += reached(&y_name, spec.horizon_days) as u64;
    }
    let mut per_value: BTreeMap<String, u64> = BTreeMap::new();
    for ((v, _), c) in &cohorts {
        *per_value.entry(v.clone()).or_default() += c.0;
    }
    let mut values: Vec<(String, u64)> = per_value.into_iter().collect();
    values.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let visitors = values.iter().map(|v| v.1).sum();
    let other_visitors = values.iter().skip(spec.limit).map(|v| v.1).sum();
    let mut out: Vec<Cohort> = Vec::new();
    for (v, _) in values.iter().take(spec.limit) {
        for ((cv, monday), (n, early, conv)) in &cohorts {
            if cv != v {
                continue;
            }
            let days = if spec.period == Interval::Week { 7 } else { 1 };
            let end = local_midnight(r.tz, *monday + chrono::Duration::days(days)).unwrap();
            let status = if end + spec.horizon_days as i64 * DAY <= r.to + 1 {
                CohortStatus::Complete
            } else if end + spec.early_days as i64 * DAY <= r.to + 1 {
                CohortStatus::Early
            } else {
                CohortStatus::TooRecent
            };
            out.push(Cohort {
                value: v.clone(),
                period: monday.format("%Y-%m-%d").to_string(),
                visitors: *n,
                status,
                fitted: status == CohortStatus::Complete && *n >= spec.min_visitors,
                early: names
                    .iter()
                    .zip(early)
                    .map(|(g, &e)| (g.clone(), wilson(e, *n)))
                    .collect(),
                converted: wilson(*conv, *n),
                predicted: None,
            });
        }
    }
    let fitted: Vec<Cohort> = out.iter().filter(|c| c.fitted).cloned().collect();
    let fits: Vec<Option<Fit>> = names
        .iter()
        .map(|g| {
            let pts: Vec<(f64, f64)> = fitted
                .iter()
                .map(|c| (c.early[g].rate, c.converted.rate))
                .collect();
            pearson(&pts)
        })
        .collect();
    let with_p: Vec<usize> = (0..names.len()).filter(|&i| fits[i].is_some()).collect();
    let qs = benjamini_hochberg(
        &with_p
            .iter()
            .map(|&i| fits[i].unwrap().p_value)
            .collect::<Vec<_>>(),
    );
    let mut inds: Vec<(Indicator, Option<Fit>)> = Vec::new();
    for (i, g) in names.iter().enumerate() {
        let fit = fits[i];
        let q_value = with_p.iter().position(|&j| j == i).map(|k| qs[k]);
        let iv = fit.and_then(|f| f.interval);
        inds.push((
            Indicator {
                goal: g.clone(),
                baseline: i == names.len() - 1,
                cohorts: fitted.len() as u64,
                r: fit.map(|f| f.r),
                low: iv.map(|x| x.0),
                high: iv.map(|x| x.1),
                p_value: fit.map(|f| f.p_value),
                q_value,
                slope: fit.map(|f| f.slope),
                intercept: fit.map(|f| f.intercept),
                significant: q_value.is_some_and(|q| q < 0.05)
                    && iv.is_some_and(|(lo, hi)| lo > 0.0 || hi < 0.0),
            },
            fit,
        ));
    }
    // Best first: the lower end of r's interval, then r (none last), then the name.
    let key = |i: &Indicator| {
        (
            i.low.unwrap_or(f64::NEG_INFINITY),
            i.r.unwrap_or(f64::NEG_INFINITY),
        )
    };
    inds.sort_by(|(a, _), (b, _)| {
        key(b)
            .0
            .total_cmp(&key(a).0)
            .then(key(b).1.total_cmp(&key(a).1))
            .then(a.goal.cmp(&b.goal))
    });
    if let Some((best, Some(fit))) = inds.iter().find(|(i, _)| i.significant) {
        for c in &mut out {
            if c.status == CohortStatus::TooRecent {
                continue;
            }
            let (rate, low, high) = fit.predict(c.early[&best.goal].rate);
            c.predicted = Some(Prediction {
                indicator: best.goal.clone(),
                rate: rate.clamp(0.0, 1.0),
                low: low.clamp(0.0, 1.0),
                high: high.clamp(0.0, 1.0),
            });
        }
    }
    LeadingResult {
        goal: y_name,
        by: spec.by.to_string(),
        period: spec.period,
        early_days: spec.early_days,
        horizon_days: spec.horizon_days,
        min_visitors: spec.min_visitors,
        visitors,
        other_visitors,
        fitted: fitted.len() as u64,
        indicators: inds.into_iter().map(|(i, _)| i).collect(),
        cohorts: out,
    }
}

// ---------------------------------------------------------------------------------
// Experiments (docs/experiments.md)

pub fn experiment(q: &Query, r: &Resolved, spec: &ExperimentSpec, d: &Data) -> ExperimentResult {
    let mut metrics: Vec<String> = spec
        .metric_goals(&q.goals)
        .into_iter()
        .map(String::from)
        .collect();
    // The funnels come after the goals.
    let goals_n = metrics.len();
    metrics.extend(spec.funnels.iter().cloned());
    // When a unit's events `lo..hi` complete funnel `f` (its last required step's time).
    let completes = |f: &FunnelSpec, evs: &[Event], hits: &[Vec<usize>], lo: usize, hi: usize| {
        let u = FUnit {
            ts: evs[lo..hi].iter().map(|e| e.ts).collect(),
            m: (lo..hi)
                .map(|i| {
                    f.steps
                        .iter()
                        .map(|s| step_match(q, s, evs, hits, i))
                        .collect()
                })
                .collect(),
            x: (lo..hi)
                .map(|i| {
                    f.exclusions
                        .iter()
                        .map(|e| step_match(q, &e.step, evs, hits, i))
                        .collect()
                })
                .collect(),
        };
        if u.m.iter().all(|m| m.iter().all(|b| !b)) {
            return None;
        }
        let last = (0..f.steps.len()).rev().find(|&j| !f.steps[j].optional)?;
        let o = funnel_outcome(f, &evs[lo..hi], &u)?;
        if o.excluded {
            return None;
        }
        o.times.iter().find(|(j, _)| *j == last).map(|x| x.1)
    };
    let gi = |n: &str| q.goals.iter().position(|g| g.name == n).unwrap();
    let is_exposure = |e: &Event| {
        holds(&Condition::eq_str(Field::Dim(Dim::Name), EXPOSURE_EVENT), e)
            && holds(
                &Condition::eq_str(Field::Prop("experiment".into()), &spec.key),
                e,
            )
    };
    // Variant → (units, converted per metric).
    let mut arms: BTreeMap<String, (u64, Vec<u64>)> = BTreeMap::new();
    // Variant → currency → what each paying unit paid after its first exposure (micros).
    let mut paid: BTreeMap<String, BTreeMap<String, Vec<i128>>> = BTreeMap::new();
    let mut mixed = 0;
    // With a trend: per variant, the times of first exposures, and per metric those of
    // conversions.
    let mut times: BTreeMap<String, (Vec<i64>, Vec<Vec<i64>>)> = BTreeMap::new();
    // Variant → per metric: units that reached the goal before their first exposure, and
    // those of them that converted after it (CUPED's covariate).
    let mut history: BTreeMap<String, Vec<(u64, u64)>> = BTreeMap::new();
    for (evs, hits, a, b) in units_of(q, r, spec.unit, d) {
        let exposures: Vec<(usize, String)> = (a..b)
            .filter(|&i| is_exposure(&evs[i]))
            .filter_map(|i| value_text(&Field::Prop("variant".into()), &evs[i]).map(|v| (i, v)))
            .collect();
        let Some((first, variant)) = exposures.first().cloned() else {
            continue;
        };
        if exposures.iter().any(|(_, v)| *v != variant) {
            mixed += 1;
            continue;
        }
        let mut unit_paid: BTreeMap<String, i128> = BTreeMap::new();
        for e in &evs[first..b] {
            if let Some(r) = &e.revenue {
                *unit_paid.entry(r.currency.clone()).or_default() += i128::from(r.micros);
            }
        }
        for (c, x) in unit_paid {
            paid.entry(variant.clone())
                .or_default()
                .entry(c)
                .or_default()
                .push(x);
        }
        let arm = arms
            .entry(variant)
            .or_insert_with(|| (0, vec![0; metrics.len()]));
        arm.0 += 1;
        let t = times
            .entry(exposures[0].1.clone())
            .or_insert_with(|| (Vec::new(), vec![Vec::new(); metrics.len()]));
        t.0.push(evs[first].ts);
        let h = history
            .entry(exposures[0].1.clone())
            .or_insert_with(|| vec![(0, 0); metrics.len()]);
        for (k, m) in metrics.iter().enumerate() {
            let (before, after) = if k < goals_n {
                (
                    hits[gi(m)].iter().any(|&i| i >= a && i < first),
                    hits[gi(m)]
                        .iter()
                        .find(|&&i| i >= first && i < b)
                        .map(|&i| evs[i].ts),
                )
            } else {
                let f = &q.funnels[m];
                (
                    completes(f, &evs, &hits, a, first).is_some(),
                    completes(f, &evs, &hits, first, b),
                )
            };
            h[k].0 += u64::from(before);
            if let Some(ts) = after {
                arm.1[k] += 1;
                t.1[k].push(ts);
                h[k].1 += u64::from(before);
            }
        }
    }
    for v in spec.weights.keys() {
        arms.entry(v.clone())
            .or_insert_with(|| (0, vec![0; metrics.len()]));
    }
    let control = spec.control.clone().unwrap_or_else(|| {
        if arms.contains_key("control") {
            "control".into()
        } else {
            arms.keys().next().cloned().unwrap_or_default()
        }
    });
    arms.entry(control.clone())
        .or_insert_with(|| (0, vec![0; metrics.len()]));
    // The control first, then by name.
    let mut order: Vec<(String, (u64, Vec<u64>))> = arms.into_iter().collect();
    order.sort_by_key(|(n, _)| (*n != control, n.clone()));
    let weight = |n: &str| {
        if spec.weights.is_empty() {
            1.0
        } else {
            spec.weights.get(n).copied().unwrap_or(0.0)
        }
    };
    let total: u64 = order.iter().map(|(_, a)| a.0).sum();
    let wsum: f64 = order.iter().map(|(n, _)| weight(n)).sum();
    let unplanned = order.iter().any(|(n, a)| weight(n) == 0.0 && a.0 > 0);
    let sample_ratio = if unplanned {
        SampleRatio {
            chi_square: None,
            p_value: 0.0,
            mismatch: true,
        }
    } else {
        let planned: Vec<(u64, f64)> = order
            .iter()
            .filter(|(n, _)| weight(n) > 0.0)
            .map(|(n, a)| (a.0, weight(n)))
            .collect();
        let n: u64 = planned.iter().map(|p| p.0).sum();
        let ws: f64 = planned.iter().map(|p| p.1).sum();
        let (chi, p) = if planned.len() < 2 || n == 0 {
            (0.0, 1.0)
        } else {
            let chi: f64 = planned
                .iter()
                .map(|&(o, w)| {
                    let e = n as f64 * w / ws;
                    (o as f64 - e).powi(2) / e
                })
                .sum();
            (chi, chi_square_sf(chi, (planned.len() - 1) as f64))
        };
        SampleRatio {
            chi_square: Some(chi),
            p_value: p,
            mismatch: p < 0.001,
        }
    };
    let (cu, cconv) = (order[0].1.0, order[0].1.1.clone());
    // Every (metric, variant) test, in that order, for Holm.
    let mut ps = Vec::new();
    for k in 0..metrics.len() {
        for (_, (n, conv)) in order.iter().skip(1) {
            if let Some(s) = sequential(cconv[k], cu, conv[k], *n, spec.mde()) {
                ps.push(s.p_value);
            }
        }
    }
    let adjusted = holm(&ps);
    let mut next = 0;
    // CUPED: each variant's counts by brute force above; the fit, the comparisons and
    // Holm are the engine's (checked against scipy in its unit tests).
    let fits: Vec<Option<CupedMetric>> = if spec.cuped {
        let moments = (0..metrics.len())
            .map(|k| {
                order
                    .iter()
                    .map(|(name, (n, conv))| {
                        let (pre, both) = history.get(name).map_or((0, 0), |h| h[k]);
                        Moments::binary(*n, pre, conv[k], both)
                    })
                    .collect()
            })
            .collect();
        cuped_metrics(spec, moments).into_iter().map(Some).collect()
    } else {
        vec![None; metrics.len()]
    };
    let mut out = Vec::new();
    for (k, m) in metrics.iter().enumerate() {
        let post = posteriors(
            &order
                .iter()
                .map(|(_, (n, c))| (c[k], *n))
                .collect::<Vec<_>>(),
        );
        let mut variants = Vec::new();
        for (j, (name, (n, conv))) in order.iter().enumerate() {
            let mut vs_control = None;
            if j > 0
                && let Some(s) = sequential(cconv[k], cu, conv[k], *n, spec.mde())
            {
                let adjusted_p = adjusted[next];
                next += 1;
                let cuped = fits[k].as_ref().and_then(|f| f.2[j - 1].clone());
                // With CUPED the verdict is the adjusted comparison's, where it has one.
                let (p, diff) = cuped
                    .as_ref()
                    .and_then(|c| c.sequential.as_ref().map(|q| (q.adjusted_p, c.diff)))
                    .unwrap_or((adjusted_p, s.diff));
                let verdict = if *n < spec.min_units || cu < spec.min_units {
                    Verdict::TooEarly
                } else if sample_ratio.mismatch {
                    Verdict::CheckAssignment
                } else if p < 0.05 && diff > 0.0 {
                    Verdict::Better
                } else if p < 0.05 {
                    Verdict::Worse
                } else {
                    Verdict::NoDifferenceYet
                };
                vs_control = Some(Comparison {
                    sequential: result::Sequential {
                        low: s.low,
                        high: s.high,
                        p_value: s.p_value,
                        adjusted_p,
                    },
                    diff: newcombe(&wilson(conv[k], *n), &wilson(cconv[k], cu)),
                    lift: rate_ratio(conv[k], *n, cconv[k], cu),
                    p_value: two_proportion_p(conv[k], *n, cconv[k], cu),
                    cuped,
                    verdict,
                });
            }
            variants.push(VariantMetric {
                variant: name.clone(),
                rate: wilson(conv[k], *n),
                prob_best: post[j].prob_best,
                expected_loss: post[j].expected_loss,
                vs_control,
            });
        }
        // The trend: counts up to the end of each period, by brute force.
        let mut trend = Vec::new();
        if let Some(iv) = spec.trend {
            let b = Buckets::new(r.from, r.to, iv, r.tz);
            for p in 0..b.len() {
                let upto = |ts: &i64| b.index(*ts) <= p;
                let none = (Vec::new(), vec![Vec::new(); metrics.len()]);
                let counts: Vec<(u64, u64)> = order
                    .iter()
                    .map(|(n, _)| {
                        let t = times.get(n).unwrap_or(&none);
                        (
                            t.0.iter().filter(|x| upto(x)).count() as u64,
                            t.1[k].iter().filter(|x| upto(x)).count() as u64,
                        )
                    })
                    .collect();
                trend.push(TrendPoint {
                    period: b.label(p).to_string(),
                    units: counts.iter().map(|c| c.0).collect(),
                    converted: counts.iter().map(|c| c.1).collect(),
                    vs_control: counts
                        .iter()
                        .enumerate()
                        .map(|(j, c)| {
                            if j == 0 {
                                return None;
                            }
                            sequential(counts[0].1, counts[0].0, c.1, c.0, spec.mde()).map(|s| {
                                TrendBand {
                                    diff: s.diff,
                                    low: s.low,
                                    high: s.high,
                                    p_value: s.p_value,
                                }
                            })
                        })
                        .collect(),
                });
            }
        }
        out.push(ExperimentMetric {
            goal: m.clone(),
            primary: k == 0,
            guardrail: k < goals_n && spec.guardrails.contains(m),
            funnel: k >= goals_n,
            variants,
            trend,
            cuped: fits[k].as_ref().map(|(f, with_history, _)| CupedFit {
                theta: f.theta,
                with_history: *with_history,
                variance_reduction: f.r2,
            }),
        });
    }
    let revenue = experiment_revenue(spec, &order, &paid, sample_ratio.mismatch);
    ExperimentResult {
        key: spec.key.clone(),
        unit: spec.unit,
        control,
        variants: order
            .iter()
            .map(|(n, (u, _))| VariantUnits {
                name: n.clone(),
                units: *u,
                share: if total == 0 {
                    0.0
                } else {
                    *u as f64 / total as f64
                },
                expected_share: if wsum > 0.0 { weight(n) / wsum } else { 0.0 },
            })
            .collect(),
        mixed,
        sample_ratio,
        mde: spec.mde(),
        min_units: spec.min_units,
        revenue,
        metrics: out,
    }
}

/// Revenue per unit per currency: each unit's payments after exposure (the others 0),
/// summed by brute force; the comparisons are the engine's.
fn experiment_revenue(
    spec: &ExperimentSpec,
    order: &[(String, (u64, Vec<u64>))],
    paid: &BTreeMap<String, BTreeMap<String, Vec<i128>>>,
    mismatch: bool,
) -> Vec<RevenueMetric> {
    let currencies: BTreeSet<&String> = paid.values().flat_map(|m| m.keys()).collect();
    // Per currency, per variant: (units, Σx, Σx²) with x in the currency's units.
    let sums: BTreeMap<String, Vec<Sums>> = currencies
        .into_iter()
        .map(|c| {
            let v = order
                .iter()
                .map(|(name, (n, _))| {
                    let xs = paid.get(name).and_then(|m| m.get(c));
                    let sum: i128 = xs.map_or(0, |xs| xs.iter().sum());
                    let sq: u128 = xs.map_or(0, |xs| xs.iter().map(|x| (x * x) as u128).sum());
                    Sums {
                        n: *n,
                        sum: sum as f64 / 1e6,
                        sum_sq: sq as f64 / 1e12,
                    }
                })
                .collect();
            (c.clone(), v)
        })
        .collect();
    let names: Vec<String> = order.iter().map(|(n, _)| n.clone()).collect();
    revenue_metrics(spec, &names, sums, mismatch)
}

pub fn experiment_plan(q: &Query, r: &Resolved, spec: &PlanSpec, d: &Data) -> PlanResult {
    let names: Vec<String> = spec
        .metric_goals(&q.goals)
        .into_iter()
        .map(String::from)
        .collect();
    let gi = |n: &str| q.goals.iter().position(|g| g.name == n).unwrap();
    let units = units_of(q, r, spec.unit, d);
    let n = units.len() as u64;
    let y = spec.macro_goal(&q.goals).map(String::from);
    let micro: Vec<String> = names
        .iter()
        .filter(|m| Some(*m) != y.as_ref())
        .cloned()
        .collect();
    let inf = match &y {
        Some(y) if !micro.is_empty() => Some(influence(
            q,
            r,
            &InfluenceSpec {
                goal: Some(y.clone()),
                candidates: micro,
                events: false,
                unit: spec.unit,
                min_support: 30,
                stratify: vec![Field::Dim(Dim::Device), Field::Dim(Dim::Channel)],
                order: Precedence::Before,
            },
            d,
        )),
        _ => None,
    };
    // The span of the events the units are made of (after the filters).
    let all: Vec<i64> = units
        .iter()
        .flat_map(|(evs, ..)| evs.iter().map(|e| e.ts))
        .collect();
    let range_days = (r.to - r.from + 1) as f64 / 86_400_000.0;
    let days = match (all.iter().min(), all.iter().max()) {
        (Some(a), Some(b)) => ((b - a + 1) as f64 / 86_400_000.0).clamp(1.0, range_days.max(1.0)),
        _ => range_days,
    };
    let per_day = n as f64 / days;
    let days_for = |u: Option<f64>| {
        u.filter(|_| per_day > 0.0)
            .map(|u| u.ceil() * spec.variants as f64 / (per_day * spec.share))
    };
    let mut rows: Vec<PlanRow> = Vec::new();
    for m in &names {
        let reached = units
            .iter()
            .filter(|(_, hits, a, b)| hits[gi(m)].iter().any(|&i| i >= *a && i < *b))
            .count() as u64;
        let baseline = wilson(reached, n);
        let fixed = fixed_sample_size(baseline.rate, spec.mde, spec.power);
        let seq = sequential_sample_size(baseline.rate, spec.mde, spec.power);
        let row = inf
            .as_ref()
            .and_then(|i| i.candidates.iter().find(|c| &c.name == m));
        let lift = row.and_then(|c| c.stratified.as_ref().and_then(|s| s.lift).or(c.lift));
        rows.push(PlanRow {
            goal: m.clone(),
            is_macro: Some(m) == y.as_ref(),
            baseline,
            units_fixed: fixed.map(|x| x.ceil() as u64),
            units_sequential: seq.map(|x| x.ceil() as u64),
            days_sequential: days_for(seq),
            days_fixed: days_for(fixed),
            macro_lift: lift,
            proxy: row.is_some_and(|c| {
                c.significant
                    && match lift {
                        Some(l) => l.low > 1.0,
                        None => c.diff.low > 0.0,
                    }
            }),
        });
    }
    let macro_days = rows
        .iter()
        .find(|r| r.is_macro)
        .and_then(|r| r.days_sequential);
    for r in &mut rows {
        r.proxy = r.proxy
            && r.days_sequential.is_some()
            && macro_days.is_none_or(|m| r.days_sequential.unwrap() < m);
    }
    rows.sort_by(|a, b| {
        (!a.is_macro, !a.proxy).cmp(&(!b.is_macro, !b.proxy)).then(
            a.days_sequential
                .unwrap_or(f64::INFINITY)
                .total_cmp(&b.days_sequential.unwrap_or(f64::INFINITY)),
        )
    });
    PlanResult {
        goal: y,
        unit: spec.unit,
        mde: spec.mde,
        power: spec.power,
        variants: spec.variants,
        share: spec.share,
        days,
        units: n,
        units_per_day: per_day,
        metrics: rows,
    }
}

// ---------------------------------------------------------------------------------
// The events and properties explorer

/// A property value's place among values with as many events: strings by text, then
/// numbers, then booleans (false first).
fn scalar_order(a: &Scalar, b: &Scalar) -> std::cmp::Ordering {
    let kind = |s: &Scalar| match s {
        Scalar::Str(_) => 0,
        Scalar::Num(_) => 1,
        Scalar::Bool(_) => 2,
    };
    match (a, b) {
        (Scalar::Str(x), Scalar::Str(y)) => x.cmp(y),
        (Scalar::Num(x), Scalar::Num(y)) => x.total_cmp(y),
        (Scalar::Bool(x), Scalar::Bool(y)) => x.cmp(y),
        _ => kind(a).cmp(&kind(b)),
    }
}

pub fn events(q: &Query, r: &Resolved, spec: &EventsSpec, d: &Data) -> EventsResult {
    let vis = kept(q, r, d);
    let buckets = spec.interval.map(|iv| Buckets::new(r.from, r.to, iv, r.tz));
    // Per name: events, (visitor, session) pairs, visitors, events per bucket.
    let mut names: BTreeMap<String, (u64, BTreeSet<(usize, usize)>, BTreeSet<usize>, Vec<u64>)> =
        BTreeMap::new();
    // Per key: events, visitors, and per value (as JSON text, with the value): events,
    // visitors.
    let mut keys: BTreeMap<String, (u64, BTreeSet<usize>)> = BTreeMap::new();
    let mut values: BTreeMap<(String, String), (Scalar, u64, BTreeSet<usize>)> = BTreeMap::new();
    for (v, evs) in vis.iter().enumerate() {
        for (s, (a, b)) in sessions(evs, q.session_gap.ms).into_iter().enumerate() {
            for e in &evs[a..b] {
                let n = names.entry(e.name().to_string()).or_insert_with(|| {
                    (
                        0,
                        BTreeSet::new(),
                        BTreeSet::new(),
                        vec![0; buckets.as_ref().map_or(0, Buckets::len)],
                    )
                });
                n.0 += 1;
                n.1.insert((v, s));
                n.2.insert(v);
                if let Some(bk) = &buckets {
                    n.3[bk.index(e.ts)] += 1;
                }
                if !spec.properties || spec.event.as_deref().is_some_and(|x| x != e.name()) {
                    continue;
                }
                for (k, val) in &e.props {
                    let x = keys.entry(k.clone()).or_default();
                    x.0 += 1;
                    x.1.insert(v);
                    let sc = match val {
                        cairn_model::PropValue::Str(t) => Scalar::Str(t.clone()),
                        cairn_model::PropValue::Num(n) => Scalar::Num(*n),
                        cairn_model::PropValue::Bool(b) => Scalar::Bool(*b),
                    };
                    let text = serde_json::to_string(&sc).unwrap();
                    let y = values
                        .entry((k.clone(), text))
                        .or_insert_with(|| (sc, 0, BTreeSet::new()));
                    y.1 += 1;
                    y.2.insert(v);
                }
            }
        }
    }
    let mut rows: Vec<EventNameRow> = names
        .into_iter()
        .map(|(name, (n, ss, vs, series))| EventNameRow {
            name,
            events: n,
            sessions: ss.len() as u64,
            visitors: vs.len() as u64,
            series: buckets.as_ref().map(|_| series),
        })
        .collect();
    rows.sort_by(|a, b| b.events.cmp(&a.events).then_with(|| a.name.cmp(&b.name)));
    let distinct_names = rows.len() as u64;
    let total: u64 = rows.iter().map(|r| r.events).sum();
    let beyond = &rows[spec.limit.min(rows.len())..];
    let other = EventsOther {
        names: beyond.len() as u64,
        events: beyond.iter().map(|r| r.events).sum(),
    };
    rows.truncate(spec.limit);
    let properties = spec.properties.then(|| {
        let mut props: Vec<PropertyRow> = keys
            .into_iter()
            .map(|(key, (n, vs))| {
                let mut vals: Vec<PropertyValueRow> = values
                    .iter()
                    .filter(|((k, _), _)| *k == key)
                    .map(|(_, (sc, n, vs))| PropertyValueRow {
                        value: sc.clone(),
                        events: *n,
                        visitors: vs.len() as u64,
                    })
                    .collect();
                vals.sort_by(|a, b| {
                    b.events
                        .cmp(&a.events)
                        .then_with(|| scalar_order(&a.value, &b.value))
                });
                let distinct = vals.len() as u64;
                vals.truncate(spec.values);
                let listed: u64 = vals.iter().map(|x| x.events).sum();
                PropertyRow {
                    key,
                    events: n,
                    visitors: vs.len() as u64,
                    distinct,
                    values: vals,
                    other_events: n - listed,
                }
            })
            .collect();
        props.sort_by(|a, b| b.events.cmp(&a.events).then_with(|| a.key.cmp(&b.key)));
        props
    });
    EventsResult {
        buckets: buckets
            .map(|bk| {
                (0..bk.len())
                    .map(|i| EventsBucket {
                        start: bk.start(i),
                        label: bk.label(i).to_string(),
                    })
                    .collect()
            })
            .unwrap_or_default(),
        names: rows,
        other,
        distinct_names,
        events: total,
        event: spec.event.clone().filter(|_| spec.properties),
        properties,
    }
}
