//! The `experiment` analysis: units exposed to an experiment's variants (the tracker's
//! `experiment_exposure` events), each in the variant of its first exposure (units seen
//! in two variants are left out and counted); per goal, the units that reached it after
//! their first exposure; every variant against the control with the always-valid
//! (sequential) comparison, Holm-adjusted across metrics and variants, the fixed-size
//! comparison beside it, Beta posteriors, and the sample ratio check. Semantics:
//! `docs/experiments.md`.

use std::collections::BTreeMap;

use cairn_model::Dim;
use cairn_model::query::result::{
    Comparison, CupedComparison, CupedFit, ExperimentMetric, ExperimentResult, MeanComparison,
    PlanResult, PlanRow, RevenueMetric, SampleRatio, Sequential, TrendBand, TrendPoint,
    VariantMetric, VariantRevenue, VariantUnits, Verdict,
};
use cairn_model::query::{
    Condition, EXPOSURE_EVENT, ExperimentSpec, Field, FunnelSpec, InfluenceSpec, PlanSpec,
    Precedence, Query, Unit,
};
use cairn_timeline::Timeline;
use rustc_hash::FxHashMap;

use crate::Error;
use crate::buckets::Buckets;
use crate::driver::{self, Analysis, Cx, Pass, Scope};
use crate::funnel::{Completion, CompletionScratch};
use crate::matcher::{EventPred, FieldReader, Needs};
use crate::paths::unit_ranges;
use crate::prepare::Prepared;
use crate::stats::{
    Cuped, Moments, Sums, cuped, fixed_sample_size, holm, holm_where, newcombe, posteriors,
    rate_ratio, sample_ratio, sequential, sequential_means, sequential_sample_size,
    two_proportion_p, welch, wilson,
};

/// Adjusted sequential p-values under this decide.
const ALPHA: f64 = 0.05;

/// Sample ratio p-values under this raise the alarm.
const SRM_ALPHA: f64 = 0.001;

/// The property of an exposure naming the experiment.
const KEY_PROP: &str = "experiment";

/// The property of an exposure naming the variant.
const VARIANT_PROP: &str = "variant";

pub(crate) fn run(cx: Cx<'_>, spec: &ExperimentSpec) -> Result<ExperimentResult, Error> {
    let q = cx.q;
    let metrics = spec
        .metric_goals(&q.goals)
        .into_iter()
        .filter_map(|m| q.goals.iter().position(|g| g.name == m))
        .collect();
    let periods = spec
        .trend
        .map(|iv| Buckets::new(cx.r.from, cx.r.to, iv, cx.r.tz));
    // Checked by the spec: stored, and not open.
    let funnels = spec
        .funnels
        .iter()
        .filter_map(|f| q.funnels.get(f).map(|x| (f.as_str(), x)))
        .collect();
    driver::run(
        cx,
        &Experiment {
            q,
            spec,
            metrics,
            funnels,
            periods,
        },
        cx.r.from,
        cx.r.to,
    )
}

struct Experiment<'a> {
    q: &'a Query,
    spec: &'a ExperimentSpec,
    /// The metrics' goals (indices into `q.goals`).
    metrics: Vec<usize>,
    /// The funnels compared after them, by name.
    funnels: Vec<(&'a str, &'a FunnelSpec)>,
    /// With a trend: its periods.
    periods: Option<Buckets>,
}

fn exposure_conditions(key: &str) -> Vec<Condition> {
    vec![
        Condition::eq_str(Field::Dim(Dim::Name), EXPOSURE_EVENT),
        Condition::eq_str(Field::Prop(KEY_PROP.into()), key),
    ]
}

impl<'a> Analysis for Experiment<'a> {
    type Pass = ExperimentPass<'a>;

    fn goals(&self) -> Vec<&str> {
        let mut g: Vec<&str> = self
            .metrics
            .iter()
            .map(|&g| self.q.goals[g].name.as_str())
            .collect();
        for (_, f) in &self.funnels {
            g.extend(Completion::goals(f));
        }
        g
    }

    fn needs(&self, needs: &mut Needs) {
        for c in exposure_conditions(&self.spec.key) {
            needs.add_field(&c.field);
        }
        needs.add_field(&Field::Prop(VARIANT_PROP.into()));
        needs.revenue = true;
        for (_, f) in &self.funnels {
            Completion::needs(self.q, f, needs);
        }
    }

    fn stitch(&self) -> bool {
        self.spec.unit == Unit::Lead
    }

    fn compile(&self, sc: &Scope<'_>) -> ExperimentPass<'a> {
        ExperimentPass {
            q: self.q,
            spec: self.spec,
            metrics: self.metrics.clone(),
            funnels: self
                .funnels
                .iter()
                .map(|&(name, f)| (name, Completion::compile(sc, self.q, f)))
                .collect(),
            periods: self.periods.clone(),
            exposure: EventPred::new(sc.scan, &sc.pages, &[exposure_conditions(&self.spec.key)]),
            variant: FieldReader::new(sc.scan, &sc.pages, &Field::Prop(VARIANT_PROP.into())),
        }
    }
}

pub(crate) struct ExperimentPass<'a> {
    q: &'a Query,
    spec: &'a ExperimentSpec,
    metrics: Vec<usize>,
    /// The funnels compared after the goals: metric `metrics.len() + k` is funnel `k`.
    funnels: Vec<(&'a str, Completion<'a>)>,
    periods: Option<Buckets>,
    exposure: EventPred,
    variant: FieldReader,
}

/// A variant's units and, per metric, those that converted after exposure; with a
/// trend, the same per period of the first exposure (units) and of the conversion.
#[derive(Debug, Clone, Default)]
pub(crate) struct Arm {
    units: u64,
    converted: Vec<u64>,
    units_by: Vec<u64>,
    converted_by: Vec<Vec<u64>>,
    /// Per metric: units that reached its goal before their first exposure (CUPED's
    /// covariate), and those of them that converted after it.
    pre: Vec<u64>,
    pre_converted: Vec<u64>,
    /// Revenue per unit after its first exposure, per currency id of the scan: Σx and
    /// Σx² in micros, exact whatever the order of the sums, over the units that paid
    /// (the others count as 0 with `units`).
    rev: FxHashMap<u32, (i128, u128)>,
}

impl Arm {
    fn new(metrics: usize, periods: usize) -> Arm {
        Arm {
            units: 0,
            converted: vec![0; metrics],
            units_by: vec![0; periods],
            converted_by: vec![vec![0; periods]; metrics],
            pre: vec![0; metrics],
            pre_converted: vec![0; metrics],
            rev: FxHashMap::default(),
        }
    }

    fn add(&mut self, from: Arm) {
        self.units += from.units;
        for (x, y) in self.converted.iter_mut().zip(from.converted) {
            *x += y;
        }
        for (x, y) in self.units_by.iter_mut().zip(from.units_by) {
            *x += y;
        }
        for (xs, ys) in self.converted_by.iter_mut().zip(from.converted_by) {
            for (x, y) in xs.iter_mut().zip(ys) {
                *x += y;
            }
        }
        for (x, y) in self.pre.iter_mut().zip(from.pre) {
            *x += y;
        }
        for (x, y) in self.pre_converted.iter_mut().zip(from.pre_converted) {
            *x += y;
        }
        for (c, (s, q)) in from.rev {
            let e = self.rev.entry(c).or_default();
            e.0 += s;
            e.1 += q;
        }
    }
}

#[derive(Default)]
pub(crate) struct Acc {
    arms: FxHashMap<(u8, u64), Arm>,
    mixed: u64,
    /// The funnels' buffers (not merged).
    scratch: Vec<CompletionScratch>,
}

impl Pass for ExperimentPass<'_> {
    type State = Acc;
    type Output = ExperimentResult;

    fn state(&self) -> Acc {
        Acc::default()
    }

    fn timeline(&self, _sc: &Scope<'_>, tl: &Timeline, prep: &Prepared, acc: &mut Acc) {
        acc.scratch
            .resize_with(self.funnels.len(), CompletionScratch::default);
        for ((_, f), s) in self.funnels.iter().zip(acc.scratch.iter_mut()) {
            f.read(tl, prep, s);
        }
        // Most events are ruled out by one lookup (the exposure's event name): 8% of an
        // A/B test's CPU was the whole test on every event.
        let necessary = self.exposure.necessary();
        for (a, b) in unit_ranges(self.spec.unit, prep) {
            // The first exposure with a variant, and whether another variant follows.
            let mut first: Option<(usize, (u8, u64))> = None;
            let mut mixed = false;
            for p in a..b {
                let i = prep.kept[p] as usize;
                if necessary.is_some_and(|(d, mask)| !mask[tl.dims[d][i] as usize])
                    || !self.exposure.test(tl, i)
                {
                    continue;
                }
                let Some(v) = self.variant.token(tl, i) else {
                    continue;
                };
                match first {
                    None => first = Some((p, v)),
                    Some((_, f)) if f != v => {
                        mixed = true;
                        break;
                    }
                    Some(_) => {}
                }
            }
            let Some((p0, v)) = first else {
                continue;
            };
            if mixed {
                acc.mixed += 1;
                continue;
            }
            let n = self.periods.as_ref().map_or(0, Buckets::len);
            let arm = acc
                .arms
                .entry(v)
                .or_insert_with(|| Arm::new(self.metrics.len() + self.funnels.len(), n));
            arm.units += 1;
            let period = |p: usize| self.periods.as_ref().map(|b| b.index(prep.ts[p]));
            if let Some(k) = period(p0) {
                arm.units_by[k] += 1;
            }
            // Revenue after the first exposure, per currency, for this unit.
            let mut paid: Vec<(u32, i128)> = Vec::new();
            for p in p0..b {
                let i = prep.kept[p] as usize;
                if let Some(Some((micros, c))) = tl.revenue.get(i) {
                    let x = i128::from(*micros);
                    match paid.iter_mut().find(|(k, _)| k == c) {
                        Some(e) => e.1 += x,
                        None => paid.push((*c, x)),
                    }
                }
            }
            for (c, x) in paid {
                let e = arm.rev.entry(c).or_default();
                e.0 += x;
                e.1 += (x * x) as u128;
            }
            for (m, &g) in self.metrics.iter().enumerate() {
                let h = &prep.hits[g];
                let at = h.partition_point(|&p| (p as usize) < p0);
                let before = at > 0 && h[at - 1] as usize >= a;
                arm.pre[m] += u64::from(before);
                if let Some(&p) = h.get(at).filter(|&&p| (p as usize) < b) {
                    arm.converted[m] += 1;
                    arm.pre_converted[m] += u64::from(before);
                    if let Some(k) = period(p as usize) {
                        arm.converted_by[m][k] += 1;
                    }
                }
            }
            // The funnels: completed with the events from the first exposure on; the
            // covariate, completed with those before it.
            let g = self.metrics.len();
            for (k, ((_, f), s)) in self.funnels.iter().zip(acc.scratch.iter_mut()).enumerate() {
                let m = g + k;
                let before = p0 > a && f.time(tl, prep, a, p0, s).is_some();
                arm.pre[m] += u64::from(before);
                if let Some(t) = f.time(tl, prep, p0, b, s) {
                    arm.converted[m] += 1;
                    arm.pre_converted[m] += u64::from(before);
                    if let Some(x) = self.periods.as_ref().map(|bk| bk.index(t)) {
                        arm.converted_by[m][x] += 1;
                    }
                }
            }
        }
    }

    fn merge(&self, into: &mut Acc, from: Acc) {
        into.mixed += from.mixed;
        for (v, arm) in from.arms {
            match into.arms.get_mut(&v) {
                Some(e) => e.add(arm),
                None => {
                    into.arms.insert(v, arm);
                }
            }
        }
    }

    fn finish(self, sc: &Scope<'_>, acc: Acc) -> ExperimentResult {
        let mut arms: Vec<(String, Arm)> = acc
            .arms
            .into_iter()
            .map(|(t, arm)| (self.variant.text(sc.scan, t), arm))
            .collect();
        // Variants the weights name but no unit saw count as empty arms.
        let n = self.periods.as_ref().map_or(0, Buckets::len);
        for v in self.spec.weights.keys() {
            if !arms.iter().any(|(name, _)| name == v) {
                arms.push((
                    v.clone(),
                    Arm::new(self.metrics.len() + self.funnels.len(), n),
                ));
            }
        }
        let names: Vec<String> = self
            .metrics
            .iter()
            .map(|&g| self.q.goals[g].name.clone())
            .chain(self.funnels.iter().map(|(f, _)| f.to_string()))
            .collect();
        let labels: Vec<String> = self.periods.as_ref().map_or_else(Vec::new, |b| {
            (0..b.len()).map(|i| b.label(i).to_string()).collect()
        });
        let currencies = |c: u32| sc.scan.currencies().get(c).to_string();
        build(
            self.spec,
            &names,
            self.metrics.len(),
            arms,
            &labels,
            acc.mixed,
            &currencies,
        )
    }
}

/// The results from each variant's (name, counts); `labels` are the trend's periods.
#[allow(clippy::too_many_arguments)]
fn build(
    spec: &ExperimentSpec,
    metrics: &[String],
    goals: usize,
    arms: Vec<(String, Arm)>,
    labels: &[String],
    mixed: u64,
    currencies: &dyn Fn(u32) -> String,
) -> ExperimentResult {
    let by_name: std::collections::BTreeMap<String, Arm> = arms.into_iter().collect();
    let mut arms: Vec<(String, u64, Vec<u64>)> = by_name
        .iter()
        .map(|(n, a)| (n.clone(), a.units, a.converted.clone()))
        .collect();
    let control = spec.control.clone().unwrap_or_else(|| {
        if arms.iter().any(|a| a.0 == "control") {
            "control".into()
        } else {
            arms.iter().map(|a| a.0.clone()).min().unwrap_or_default()
        }
    });
    if !arms.iter().any(|a| a.0 == control) {
        arms.push((control.clone(), 0, vec![0; metrics.len()]));
    }
    arms.sort_by(|a, b| (a.0 != control).cmp(&(b.0 != control)).then(a.0.cmp(&b.0)));
    let total: u64 = arms.iter().map(|a| a.1).sum();
    let weights: Vec<f64> = arms
        .iter()
        .map(|a| match spec.weights.is_empty() {
            true => 1.0,
            // A variant the weights leave out was given no traffic.
            false => spec.weights.get(&a.0).copied().unwrap_or(0.0),
        })
        .collect();
    let weight_sum: f64 = weights.iter().sum();
    let units: Vec<u64> = arms.iter().map(|a| a.1).collect();
    // A variant given no traffic that has units breaks the split outright.
    let unplanned = arms.iter().zip(&weights).any(|(a, &w)| w == 0.0 && a.1 > 0);
    let (chi_square, p_value) = if unplanned {
        (None, 0.0)
    } else {
        let planned: Vec<(u64, f64)> = units
            .iter()
            .zip(&weights)
            .filter(|&(_, &w)| w > 0.0)
            .map(|(&u, &w)| (u, w))
            .collect();
        let (u, w): (Vec<u64>, Vec<f64>) = planned.into_iter().unzip();
        let (chi, p) = sample_ratio(&u, &w);
        (Some(chi), p)
    };
    let sample_ratio = SampleRatio {
        chi_square,
        p_value,
        mismatch: p_value < SRM_ALPHA,
    };
    let enough = |n: u64| n >= spec.min_units;
    let (ca, cu) = (&arms[0].2, arms[0].1);
    // Every comparison's sequential test, then Holm across all of them.
    let mut tests: Vec<Vec<Option<crate::stats::Sequential>>> = Vec::new();
    for (m, _) in metrics.iter().enumerate() {
        tests.push(
            arms.iter()
                .skip(1)
                .map(|(_, n, conv)| sequential(ca[m], cu, conv[m], *n, spec.mde()))
                .collect(),
        );
    }
    let flat: Vec<f64> = tests
        .iter()
        .flatten()
        .flatten()
        .map(|s| s.p_value)
        .collect();
    let mut adjusted = holm(&flat).into_iter();
    // CUPED: per metric, the fit over every arm and each variant's adjusted comparison,
    // then Holm across those.
    let moments = |m: usize| -> Vec<Moments> {
        arms.iter()
            .map(|(name, n, conv)| {
                let (pre, both) = by_name
                    .get(name)
                    .map_or((0, 0), |a| (a.pre[m], a.pre_converted[m]));
                Moments::binary(*n, pre, conv[m], both)
            })
            .collect()
    };
    let fits: Vec<Option<CupedMetric>> = if spec.cuped {
        cuped_metrics(spec, (0..metrics.len()).map(moments).collect())
            .into_iter()
            .map(Some)
            .collect()
    } else {
        vec![None; metrics.len()]
    };
    let out: Vec<ExperimentMetric> = metrics
        .iter()
        .enumerate()
        .map(|(m, goal)| {
            let post = posteriors(&arms.iter().map(|a| (a.2[m], a.1)).collect::<Vec<_>>());
            let variants = arms
                .iter()
                .enumerate()
                .map(|(k, (name, n, conv))| {
                    let vs_control = (k > 0).then(|| tests[m][k - 1]).flatten().map(|s| {
                        let adjusted_p = adjusted.next().unwrap_or(1.0);
                        let cuped = fits[m].as_ref().and_then(|f| f.2[k - 1].clone());
                        // The verdict's test: the adjusted one with CUPED.
                        let (p, diff) = match cuped
                            .as_ref()
                            .and_then(|c| c.sequential.as_ref().map(|q| (q.adjusted_p, c.diff)))
                        {
                            Some(x) => x,
                            None => (adjusted_p, s.diff),
                        };
                        let verdict = verdict(
                            enough(*n) && enough(cu),
                            sample_ratio.mismatch,
                            Some(p),
                            diff,
                        );
                        Comparison {
                            sequential: Sequential {
                                low: s.low,
                                high: s.high,
                                p_value: s.p_value,
                                adjusted_p,
                            },
                            diff: newcombe(&wilson(conv[m], *n), &wilson(ca[m], cu)),
                            lift: rate_ratio(conv[m], *n, ca[m], cu),
                            p_value: two_proportion_p(conv[m], *n, ca[m], cu),
                            cuped,
                            verdict,
                        }
                    });
                    VariantMetric {
                        variant: name.clone(),
                        rate: wilson(conv[m], *n),
                        prob_best: post[k].prob_best,
                        expected_loss: post[k].expected_loss,
                        vs_control,
                    }
                })
                .collect();
            ExperimentMetric {
                goal: goal.clone(),
                primary: m == 0,
                guardrail: m < goals && spec.guardrails.contains(goal),
                funnel: m >= goals,
                variants,
                trend: trend(spec, &arms, &by_name, m, labels),
                cuped: fits[m].as_ref().map(|(f, with_history, _)| CupedFit {
                    theta: f.theta,
                    with_history: *with_history,
                    variance_reduction: f.r2,
                }),
            }
        })
        .collect();
    let revenue = revenue(spec, &arms, &by_name, &sample_ratio, currencies);
    ExperimentResult {
        key: spec.key.clone(),
        unit: spec.unit,
        control,
        variants: arms
            .iter()
            .zip(&weights)
            .map(|((name, n, _), &w)| VariantUnits {
                name: name.clone(),
                units: *n,
                share: if total == 0 {
                    0.0
                } else {
                    *n as f64 / total as f64
                },
                expected_share: if weight_sum > 0.0 {
                    w / weight_sum
                } else {
                    0.0
                },
            })
            .collect(),
        mixed,
        sample_ratio,
        mde: spec.mde(),
        min_units: spec.min_units,
        metrics: out,
        revenue,
    }
}

/// Plans a test: each metric's baseline over the range, the units per variant and the
/// days its fixed-size and sequential tests need, and which micro goals go with the
/// macro goal (the influence report over the same range and audience).
pub(crate) fn plan(cx: Cx<'_>, spec: &PlanSpec) -> Result<PlanResult, Error> {
    let q = cx.q;
    let names = spec.metric_goals(&q.goals);
    let metrics: Vec<usize> = names
        .iter()
        .filter_map(|m| q.goals.iter().position(|g| &g.name == m))
        .collect();
    let (units, reached, span) = driver::run(
        cx,
        &Reach {
            q,
            unit: spec.unit,
            metrics: metrics.clone(),
        },
        cx.r.from,
        cx.r.to,
    )?;
    let y = spec.macro_goal(&q.goals);
    let micro: Vec<String> = names
        .iter()
        .filter(|&&n| Some(n) != y)
        .map(|n| n.to_string())
        .collect();
    let influence = match y {
        Some(y) if !micro.is_empty() => Some(crate::influence::run(
            cx,
            &InfluenceSpec {
                goal: Some(y.to_string()),
                candidates: micro,
                events: false,
                unit: spec.unit,
                min_support: 30,
                stratify: vec![Field::Dim(Dim::Device), Field::Dim(Dim::Channel)],
                order: Precedence::Before,
            },
        )?),
        _ => None,
    };
    // Traffic is measured over the days the range has data: a site that started
    // tracking last week is not planned on a month's average.
    let range_days = (cx.r.to - cx.r.from + 1) as f64 / 86_400_000.0;
    let days = match span {
        Some((a, b)) => ((b - a + 1) as f64 / 86_400_000.0).clamp(1.0, range_days.max(1.0)),
        None => range_days,
    };
    let per_day = units as f64 / days;
    let days_for = |n: Option<f64>| {
        n.filter(|_| per_day > 0.0)
            .map(|n| n.ceil() * spec.variants as f64 / (per_day * spec.share))
    };
    let mut rows: Vec<PlanRow> = names
        .iter()
        .zip(&reached)
        .map(|(&name, &r)| {
            let baseline = wilson(r, units);
            let fixed = fixed_sample_size(baseline.rate, spec.mde, spec.power);
            let seq = sequential_sample_size(baseline.rate, spec.mde, spec.power);
            let found = influence
                .as_ref()
                .and_then(|i| i.candidates.iter().find(|c| c.name == name));
            let adjusted =
                found.and_then(|c| c.stratified.as_ref().and_then(|s| s.lift).or(c.lift));
            PlanRow {
                goal: name.to_string(),
                is_macro: Some(name) == y,
                baseline,
                units_fixed: fixed.map(|n| n.ceil() as u64),
                units_sequential: seq.map(|n| n.ceil() as u64),
                days_sequential: days_for(seq),
                days_fixed: days_for(fixed),
                macro_lift: adjusted,
                // Significant and above 1; with no lift (every converter reached it: a
                // milestone), the difference above 0.
                proxy: found.is_some_and(|c| {
                    c.significant && adjusted.map_or(c.diff.low > 0.0, |l| l.low > 1.0)
                }),
            }
        })
        .collect();
    // A proxy must also be quicker than the macro goal itself.
    let macro_days = rows
        .iter()
        .find(|r| r.is_macro)
        .and_then(|r| r.days_sequential);
    for r in &mut rows {
        r.proxy &= match (r.days_sequential, macro_days) {
            (Some(d), Some(m)) => d < m,
            (Some(_), None) => true,
            (None, _) => false,
        };
    }
    let rank = |r: &PlanRow| (!r.is_macro, !r.proxy);
    rows.sort_by(|a, b| {
        rank(a).cmp(&rank(b)).then_with(|| {
            let d = |r: &PlanRow| r.days_sequential.unwrap_or(f64::INFINITY);
            d(a).total_cmp(&d(b))
        })
    });
    Ok(PlanResult {
        goal: y.map(String::from),
        unit: spec.unit,
        mde: spec.mde,
        power: spec.power,
        variants: spec.variants,
        share: spec.share,
        days,
        units,
        units_per_day: per_day,
        metrics: rows,
    })
}

/// Units, and per goal the units that reached it, over the range.
struct Reach<'a> {
    q: &'a Query,
    unit: Unit,
    metrics: Vec<usize>,
}

impl Analysis for Reach<'_> {
    type Pass = Self;

    fn goals(&self) -> Vec<&str> {
        self.metrics
            .iter()
            .map(|&g| self.q.goals[g].name.as_str())
            .collect()
    }

    fn stitch(&self) -> bool {
        self.unit == Unit::Lead
    }

    fn compile(&self, _sc: &Scope<'_>) -> Self {
        Reach {
            q: self.q,
            unit: self.unit,
            metrics: self.metrics.clone(),
        }
    }
}

/// Units, per goal the units that reached it, and the first and last time of an event.
type Reached = (u64, Vec<u64>, Option<(i64, i64)>);

impl Pass for Reach<'_> {
    type State = Reached;
    type Output = Reached;

    fn state(&self) -> Self::State {
        (0, vec![0; self.metrics.len()], None)
    }

    fn timeline(&self, _sc: &Scope<'_>, _tl: &Timeline, prep: &Prepared, st: &mut Self::State) {
        let (first, last) = (prep.ts[0], prep.ts[prep.ts.len() - 1]);
        st.2 = Some(st.2.map_or((first, last), |(a, b)| (a.min(first), b.max(last))));
        for (a, b) in unit_ranges(self.unit, prep) {
            st.0 += 1;
            for (c, &g) in st.1.iter_mut().zip(&self.metrics) {
                let h = &prep.hits[g];
                let at = h.partition_point(|&p| (p as usize) < a);
                *c += h.get(at).is_some_and(|&p| (p as usize) < b) as u64;
            }
        }
    }

    fn merge(&self, into: &mut Self::State, from: Self::State) {
        into.0 += from.0;
        for (x, y) in into.1.iter_mut().zip(from.1) {
            *x += y;
        }
        into.2 = match (into.2, from.2) {
            (Some((a, b)), Some((c, d))) => Some((a.min(c), b.max(d))),
            (x, y) => x.or(y),
        };
    }

    fn finish(self, _sc: &Scope<'_>, st: Self::State) -> Self::State {
        st
    }
}

/// Revenue per unit per currency: each variant's sums (in the order of `arms`), then
/// [`revenue_metrics`].
fn revenue(
    spec: &ExperimentSpec,
    arms: &[(String, u64, Vec<u64>)],
    by_name: &std::collections::BTreeMap<String, Arm>,
    sample_ratio: &SampleRatio,
    currencies: &dyn Fn(u32) -> String,
) -> Vec<RevenueMetric> {
    // Currency → variant (in `arms` order) → sums.
    let mut by_cur: BTreeMap<String, Vec<Sums>> = BTreeMap::new();
    for (k, (name, n, _)) in arms.iter().enumerate() {
        let Some(arm) = by_name.get(name) else {
            continue;
        };
        for (&c, &(sum, sum_sq)) in &arm.rev {
            let v = by_cur.entry(currencies(c)).or_insert_with(|| {
                arms.iter()
                    .map(|a| Sums {
                        n: a.1,
                        ..Sums::default()
                    })
                    .collect()
            });
            v[k] = Sums {
                n: *n,
                sum: sum as f64 / 1e6,
                sum_sq: sum_sq as f64 / 1e12,
            };
        }
    }
    let names: Vec<String> = arms.iter().map(|a| a.0.clone()).collect();
    revenue_metrics(spec, &names, by_cur, sample_ratio.mismatch)
}

/// Revenue per unit per currency from each variant's sums (`names` in the order of the
/// sums, the control first): every variant against the control with Welch's test and the
/// always-valid comparison, Holm across the revenue comparisons.
pub fn revenue_metrics(
    spec: &ExperimentSpec,
    names: &[String],
    by_currency: BTreeMap<String, Vec<Sums>>,
    mismatch: bool,
) -> Vec<RevenueMetric> {
    let enough = |n: u64| n >= spec.min_units;
    let tests: Vec<Vec<Option<crate::stats::Sequential>>> = by_currency
        .values()
        .map(|v| {
            v.iter()
                .skip(1)
                .map(|b| sequential_means(v[0], *b, spec.mde()))
                .collect()
        })
        .collect();
    let adjusted = holm_where(
        &tests
            .iter()
            .map(|t| t.iter().map(|s| s.map(|s| s.p_value)).collect())
            .collect::<Vec<_>>(),
    );
    by_currency
        .into_iter()
        .zip(tests.into_iter().zip(adjusted))
        .map(|((currency, sums), (tests, adjusted))| {
            let variants = sums
                .iter()
                .enumerate()
                .map(|(k, x)| {
                    let vs_control = (k > 0).then(|| welch(sums[0], *x)).flatten().map(|w| {
                        let sequential = tests[k - 1].map(|s| Sequential {
                            low: s.low,
                            high: s.high,
                            p_value: s.p_value,
                            adjusted_p: adjusted[k - 1].unwrap_or(1.0),
                        });
                        MeanComparison {
                            diff: w.diff,
                            low: w.low,
                            high: w.high,
                            p_value: w.p_value,
                            df: w.df,
                            verdict: verdict(
                                enough(x.n) && enough(sums[0].n),
                                mismatch,
                                sequential.as_ref().map(|s| s.adjusted_p),
                                w.diff,
                            ),
                            sequential,
                        }
                    });
                    VariantRevenue {
                        variant: names[k].clone(),
                        units: x.n,
                        total: x.sum,
                        mean: x.mean(),
                        sd: x.variance().sqrt(),
                        vs_control,
                    }
                })
                .collect();
            RevenueMetric { currency, variants }
        })
        .collect()
}

/// A metric under CUPED: the fit, the units with a history, and each variant's adjusted
/// comparison with the control (in the order of the arms after the control).
pub type CupedMetric = (Cuped, u64, Vec<Option<CupedComparison>>);

/// CUPED for every metric from its variants' moments (the control first): the fit over
/// every variant, each variant's adjusted comparison (Welch and the always-valid test),
/// Holm across all of the adjusted sequential tests.
pub fn cuped_metrics(spec: &ExperimentSpec, moments: Vec<Vec<Moments>>) -> Vec<CupedMetric> {
    let mut fits: Vec<CupedMetric> = moments
        .iter()
        .map(|ms| {
            let fit = cuped(ms);
            let adj: Vec<Sums> = ms.iter().map(|x| fit.adjust(x)).collect();
            let vs = adj[1..]
                .iter()
                .map(|b| {
                    welch(adj[0], *b).map(|w| CupedComparison {
                        diff: w.diff,
                        low: w.low,
                        high: w.high,
                        p_value: w.p_value,
                        sequential: sequential_means(adj[0], *b, spec.mde()).map(|s| Sequential {
                            low: s.low,
                            high: s.high,
                            p_value: s.p_value,
                            adjusted_p: 1.0,
                        }),
                    })
                })
                .collect();
            (fit, ms.iter().map(|x| x.x as u64).sum(), vs)
        })
        .collect();
    let ps: Vec<Vec<Option<f64>>> = fits
        .iter()
        .map(|f| {
            f.2.iter()
                .map(|c| {
                    c.as_ref()
                        .and_then(|c| c.sequential.as_ref())
                        .map(|s| s.p_value)
                })
                .collect()
        })
        .collect();
    for (f, adj) in fits.iter_mut().zip(holm_where(&ps)) {
        for (c, a) in f.2.iter_mut().zip(adj) {
            if let (Some(s), Some(a)) = (c.as_mut().and_then(|c| c.sequential.as_mut()), a) {
                s.adjusted_p = a;
            }
        }
    }
    fits
}

/// What a comparison says: too early without enough units on both sides, check the
/// assignment on a sample ratio mismatch, else better or worse when the adjusted
/// always-valid p is under [`ALPHA`], else no difference yet.
fn verdict(enough: bool, mismatch: bool, adjusted_p: Option<f64>, diff: f64) -> Verdict {
    if !enough {
        Verdict::TooEarly
    } else if mismatch {
        Verdict::CheckAssignment
    } else if adjusted_p.is_some_and(|p| p < ALPHA) {
        if diff > 0.0 {
            Verdict::Better
        } else {
            Verdict::Worse
        }
    } else {
        Verdict::NoDifferenceYet
    }
}

/// Metric `m`'s comparison at the end of every period: cumulative counts per variant
/// (in the order of `arms`, the control first) and the sequential interval so far.
fn trend(
    spec: &ExperimentSpec,
    arms: &[(String, u64, Vec<u64>)],
    by_name: &std::collections::BTreeMap<String, Arm>,
    m: usize,
    labels: &[String],
) -> Vec<TrendPoint> {
    let empty = Arm::new(m + 1, labels.len());
    let counts: Vec<&Arm> = arms
        .iter()
        .map(|(n, ..)| by_name.get(n).unwrap_or(&empty))
        .collect();
    let mut units = vec![0u64; arms.len()];
    let mut converted = vec![0u64; arms.len()];
    labels
        .iter()
        .enumerate()
        .map(|(k, label)| {
            for (j, a) in counts.iter().enumerate() {
                units[j] += a.units_by.get(k).copied().unwrap_or(0);
                converted[j] += a
                    .converted_by
                    .get(m)
                    .and_then(|c| c.get(k))
                    .copied()
                    .unwrap_or(0);
            }
            TrendPoint {
                period: label.clone(),
                units: units.clone(),
                converted: converted.clone(),
                vs_control: (0..arms.len())
                    .map(|j| {
                        (j > 0)
                            .then(|| {
                                sequential(
                                    converted[0],
                                    units[0],
                                    converted[j],
                                    units[j],
                                    spec.mde(),
                                )
                            })
                            .flatten()
                            .map(|s| TrendBand {
                                diff: s.diff,
                                low: s.low,
                                high: s.high,
                                p_value: s.p_value,
                            })
                    })
                    .collect(),
            }
        })
        .collect()
}
