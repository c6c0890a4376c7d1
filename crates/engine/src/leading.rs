//! The `leading_indicators` analysis: new visitors in cohorts of a field's value (the
//! campaign, by default) × the week (or day) of their first visit; per cohort the share who
//! reached each indicator goal within their first days and the share who reached the
//! macro goal within the horizon; across the complete cohorts, Pearson's r of each
//! indicator's early rate with the macro rate, with intervals, q-values and the
//! least-squares line that predicts the cohorts still under way. Semantics:
//! `docs/campaigns.md#leading-indicators`.

use std::collections::BTreeMap;

use cairn_model::query::result::{Cohort, CohortStatus, Indicator, LeadingResult, Prediction};
use cairn_model::query::{LeadingSpec, Query};
use cairn_timeline::Timeline;
use rustc_hash::FxHashMap;

use crate::Error;
use crate::buckets::Buckets;
use crate::driver::{self, Analysis, Cx, Pass, Scope};
use crate::goals::{Key, unit_key};
use crate::matcher::{FieldReader, Needs};
use crate::prepare::Prepared;
use crate::stats::{Fit, benjamini_hochberg, pearson, wilson};

const DAY_MS: i64 = 86_400_000;

/// q-values under this are significant.
const FDR: f64 = 0.05;

pub(crate) fn run(cx: Cx<'_>, spec: &LeadingSpec) -> Result<LeadingResult, Error> {
    let q = cx.q;
    // The spec is checked by the plan: the macro goal and the candidates exist.
    let y = spec.macro_goal(&q.goals).unwrap_or_default();
    let index = |n: &str| q.goals.iter().position(|g| g.name == n).unwrap_or(0);
    let mut indicators: Vec<usize> = spec
        .candidate_goals(&q.goals)
        .into_iter()
        .map(index)
        .collect();
    // The macro goal's own early rate: the baseline, last.
    indicators.push(index(y));
    // Period starts past the range's end, so that the last period has an end.
    let periods = Buckets::new(cx.r.from, cx.r.to + 8 * DAY_MS, spec.period, cx.r.tz);
    let a = Leading {
        q,
        spec,
        y: index(y),
        indicators,
        periods,
    };
    driver::run(cx, &a, cx.r.from, cx.r.to)
}

struct Leading<'a> {
    q: &'a Query,
    spec: &'a LeadingSpec,
    /// The macro goal (index into `q.goals`).
    y: usize,
    /// Indicator goals (indices into `q.goals`), the macro goal last.
    indicators: Vec<usize>,
    periods: Buckets,
}

impl<'a> Analysis for Leading<'a> {
    type Pass = LeadingPass<'a>;

    fn goals(&self) -> Vec<&str> {
        self.indicators
            .iter()
            .map(|&g| self.q.goals[g].name.as_str())
            .collect()
    }

    fn needs(&self, needs: &mut Needs) {
        needs.add_field(&self.spec.by);
    }

    fn compile(&self, sc: &Scope<'_>) -> LeadingPass<'a> {
        LeadingPass {
            q: self.q,
            spec: self.spec,
            y: self.y,
            indicators: self.indicators.clone(),
            periods: self.periods.clone(),
            by: FieldReader::new(sc.scan, &sc.pages, &self.spec.by),
        }
    }
}

pub(crate) struct LeadingPass<'a> {
    q: &'a Query,
    spec: &'a LeadingSpec,
    y: usize,
    indicators: Vec<usize>,
    periods: Buckets,
    by: FieldReader,
}

/// One cohort's counts: new visitors, those who reached each indicator early, and those
/// who converted within the horizon.
#[derive(Debug, Clone, Default)]
pub(crate) struct Counts {
    n: u64,
    early: Vec<u64>,
    converted: u64,
}

pub(crate) type Acc = FxHashMap<(Key, u32), Counts>;

impl Pass for LeadingPass<'_> {
    type State = Acc;
    type Output = LeadingResult;

    fn state(&self) -> Acc {
        Acc::default()
    }

    fn timeline(&self, _sc: &Scope<'_>, tl: &Timeline, prep: &Prepared, acc: &mut Acc) {
        let Some(&(a, b)) = prep.sessions.first() else {
            return;
        };
        let first = prep.ts[0];
        let key = unit_key(&self.by, tl, prep, a, b);
        let period = self.periods.index(first) as u32;
        let c = acc.entry((key, period)).or_insert_with(|| Counts {
            early: vec![0; self.indicators.len()],
            ..Counts::default()
        });
        c.n += 1;
        // Hits are ascending: the first one tells whether the goal was reached in time.
        let by = |g: usize, days: u32| {
            prep.hits[g]
                .first()
                .is_some_and(|&p| prep.ts[p as usize] < first + i64::from(days) * DAY_MS)
        };
        for (e, &g) in c.early.iter_mut().zip(&self.indicators) {
            *e += by(g, self.spec.early_days) as u64;
        }
        c.converted += by(self.y, self.spec.horizon_days) as u64;
    }

    fn merge(&self, into: &mut Acc, from: Acc) {
        for (k, c) in from {
            match into.get_mut(&k) {
                Some(e) => {
                    e.n += c.n;
                    e.converted += c.converted;
                    for (x, y) in e.early.iter_mut().zip(c.early) {
                        *x += y;
                    }
                }
                None => {
                    into.insert(k, c);
                }
            }
        }
    }

    fn finish(self, sc: &Scope<'_>, acc: Acc) -> LeadingResult {
        let names: Vec<String> = self
            .indicators
            .iter()
            .map(|&g| self.q.goals[g].name.clone())
            .collect();
        let label = |k: Key| k.map_or_else(|| "(none)".to_string(), |t| self.by.text(sc.scan, t));
        let cohorts: Vec<(String, usize, Counts)> = acc
            .into_iter()
            .map(|((k, w), c)| (label(k), w as usize, c))
            .collect();
        let periods = &self.periods;
        build(
            self.spec,
            &names,
            cohorts,
            |w| periods.label(w).to_string(),
            |w| (periods.start(w + 1), sc.r.to),
        )
    }
}

/// The report from each cohort's counts (value, week, counts). `period_end(w)` gives the
/// end of week `w` and the end of the range (ms).
fn build(
    spec: &LeadingSpec,
    names: &[String],
    cohorts: Vec<(String, usize, Counts)>,
    period_label: impl Fn(usize) -> String,
    period_end: impl Fn(usize) -> (i64, i64),
) -> LeadingResult {
    // Values by new visitors, the most first; the first `limit` are listed.
    let mut per_value: BTreeMap<&str, u64> = BTreeMap::new();
    for (v, _, c) in &cohorts {
        *per_value.entry(v).or_default() += c.n;
    }
    let mut values: Vec<(&str, u64)> = per_value.into_iter().collect();
    values.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
    let visitors: u64 = values.iter().map(|v| v.1).sum();
    let rank: BTreeMap<&str, usize> = values
        .iter()
        .take(spec.limit)
        .enumerate()
        .map(|(i, v)| (v.0, i))
        .collect();
    let other_visitors = values.iter().skip(spec.limit).map(|v| v.1).sum();
    let mut listed: Vec<(usize, usize, &String, &Counts)> = cohorts
        .iter()
        .filter_map(|(v, w, c)| rank.get(v.as_str()).map(|&r| (r, *w, v, c)))
        .collect();
    listed.sort_by_key(|&(r, w, ..)| (r, w));
    let mut out: Vec<Cohort> = listed
        .iter()
        .map(|&(_, w, v, c)| {
            let (end, range_end) = period_end(w);
            // Every visitor of the period is first seen before `end`; a window of d days
            // has passed for all of them when end + d ≤ the range's end (inclusive).
            let passed = |days: u32| end + i64::from(days) * DAY_MS <= range_end + 1;
            let status = if passed(spec.horizon_days) {
                CohortStatus::Complete
            } else if passed(spec.early_days) {
                CohortStatus::Early
            } else {
                CohortStatus::TooRecent
            };
            Cohort {
                value: v.clone(),
                period: period_label(w),
                visitors: c.n,
                status,
                fitted: status == CohortStatus::Complete && c.n >= spec.min_visitors,
                early: names
                    .iter()
                    .zip(&c.early)
                    .map(|(g, &e)| (g.clone(), wilson(e, c.n)))
                    .collect(),
                converted: wilson(c.converted, c.n),
                predicted: None,
            }
        })
        .collect();
    // One fit per indicator over the fitted cohorts.
    let fits: Vec<Option<Fit>> = names
        .iter()
        .map(|g| {
            let points: Vec<(f64, f64)> = out
                .iter()
                .filter(|c| c.fitted)
                .map(|c| (c.early[g].rate, c.converted.rate))
                .collect();
            pearson(&points)
        })
        .collect();
    let fitted = out.iter().filter(|c| c.fitted).count() as u64;
    let tested: Vec<usize> = (0..fits.len()).filter(|&i| fits[i].is_some()).collect();
    let ps: Vec<f64> = tested
        .iter()
        .filter_map(|&i| fits[i].map(|f| f.p_value))
        .collect();
    let mut qs: Vec<Option<f64>> = vec![None; fits.len()];
    for (&i, q) in tested.iter().zip(benjamini_hochberg(&ps)) {
        qs[i] = Some(q);
    }
    let mut indicators: Vec<(Indicator, Option<Fit>)> = names
        .iter()
        .zip(fits)
        .zip(qs)
        .enumerate()
        .map(|(i, ((g, fit), q))| {
            let interval = fit.and_then(|f| f.interval);
            let significant =
                q.is_some_and(|q| q < FDR) && interval.is_some_and(|(lo, hi)| lo > 0.0 || hi < 0.0);
            (
                Indicator {
                    goal: g.clone(),
                    baseline: i + 1 == names.len(),
                    cohorts: fitted,
                    r: fit.map(|f| f.r),
                    low: interval.map(|i| i.0),
                    high: interval.map(|i| i.1),
                    p_value: fit.map(|f| f.p_value),
                    q_value: q,
                    slope: fit.map(|f| f.slope),
                    intercept: fit.map(|f| f.intercept),
                    significant,
                },
                fit,
            )
        })
        .collect();
    indicators.sort_by(|(a, _), (b, _)| {
        let key = |i: &Indicator| {
            (
                i.low.unwrap_or(f64::NEG_INFINITY),
                i.r.unwrap_or(f64::NEG_INFINITY),
            )
        };
        let (ka, kb) = (key(a), key(b));
        kb.0.total_cmp(&ka.0)
            .then_with(|| kb.1.total_cmp(&ka.1))
            .then_with(|| a.goal.cmp(&b.goal))
    });
    // Predictions from the best significant indicator, for every cohort past its early
    // window.
    if let Some((best, Some(fit))) = indicators.iter().find(|(i, _)| i.significant) {
        for c in out
            .iter_mut()
            .filter(|c| c.status != CohortStatus::TooRecent)
        {
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
        goal: names.last().cloned().unwrap_or_default(),
        by: spec.by.to_string(),
        period: spec.period,
        early_days: spec.early_days,
        horizon_days: spec.horizon_days,
        min_visitors: spec.min_visitors,
        visitors,
        other_visitors,
        fitted,
        indicators: indicators.into_iter().map(|(i, _)| i).collect(),
        cohorts: out,
    }
}
