//! The `experiment` analysis: an A/B test's variants compared on goals reached after the
//! first exposure, with an always-valid (sequential) interval safe to check every day,
//! the fixed-horizon test, Bayesian chances to be best, and a sample-ratio-mismatch
//! alarm. The semantics are in `docs/experiments.md`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::goal::Goal;
use super::{SpecError, Unit};

/// The event the tracker's `cairn('experiment', …)` sends, with properties `experiment`
/// (the key) and `variant`.
pub const EXPOSURE_EVENT: &str = "experiment_exposure";

/// The most variants an experiment compares.
pub const MAX_VARIANTS: usize = 20;

/// The most metrics an experiment reports.
pub const MAX_METRICS: usize = 20;

/// An experiment's results.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExperimentSpec {
    /// The experiment's key: the `experiment` property of its exposure events.
    pub key: String,
    /// Goals compared (default: every goal of the spec, macro goals first); the first is
    /// the primary metric.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub metrics: Vec<String>,
    /// The unit: `visitor` (default) or `lead` (a user's visitors together, across
    /// devices).
    #[serde(default = "default_unit")]
    pub unit: Unit,
    /// The variant the others are compared with (default: `control` if there is one,
    /// else the first by name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub control: Option<String>,
    /// The traffic share each variant was given (default: equal), for the sample ratio
    /// check.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub weights: BTreeMap<String, f64>,
    /// The relative change the test is tuned to detect (default: the experiment's
    /// definition's, else 0.1: a tenth of the control's rate).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mde: Option<f64>,
    /// Goals that must not get worse, compared after the metrics (flagged `guardrail`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub guardrails: Vec<String>,
    /// Units every variant needs before a verdict (default 100).
    #[serde(default = "default_min_units")]
    pub min_units: u64,
    /// The comparison as it stood at the end of each `day` or `week` of the range
    /// (cumulative), to watch the interval narrow.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trend: Option<super::Interval>,
    /// CUPED: adjust each metric for whether the unit reached the same goal before its
    /// first exposure (in the range: start the range before the experiment to give
    /// returning units a history). The verdicts then come from the adjusted comparison.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub cuped: bool,
    /// Funnels (the spec's or the site's stored ones, by name) compared after the goals:
    /// a unit converts when it completes the funnel with its events from its first
    /// exposure on, by the funnel's rules (not open funnels).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub funnels: Vec<String>,
}

fn default_unit() -> Unit {
    Unit::Visitor
}

fn default_mde() -> f64 {
    0.1
}

fn default_min_units() -> u64 {
    100
}

/// Checks that the funnels an experiment compares (`names`, at `path.funnels`) are among
/// `funnels`, not open, and listed once.
fn check_funnels(
    names: &[String],
    funnels: &BTreeMap<String, super::FunnelSpec>,
    path: &str,
) -> Result<(), SpecError> {
    for (i, f) in names.iter().enumerate() {
        let at = format!("{path}.funnels[{i}]");
        match funnels.get(f) {
            None => {
                return Err(SpecError::new(
                    &at,
                    format!("unknown funnel `{f}`: define it in `funnels` or store it"),
                ));
            }
            Some(x) if x.open => {
                return Err(SpecError::new(
                    &at,
                    format!("`{f}` is an open funnel: it has no completion to compare"),
                ));
            }
            Some(_) if names[..i].contains(f) => {
                return Err(SpecError::new(&at, format!("`{f}` is listed twice")));
            }
            Some(_) => {}
        }
    }
    Ok(())
}

/// The goals `given`, or every goal, macro goals first (each kind in its order).
fn metric_goals<'a>(given: &'a [String], goals: &'a [Goal]) -> Vec<&'a str> {
    if !given.is_empty() {
        return given.iter().map(String::as_str).collect();
    }
    let of_kind = |m: bool| {
        goals
            .iter()
            .filter(move |g| (g.conversion == super::Conversion::Macro) == m)
            .map(|g| g.name.as_str())
    };
    of_kind(true)
        .chain(of_kind(false))
        .take(MAX_METRICS)
        .collect()
}

impl ExperimentSpec {
    /// The metrics: the given goals (or every goal, macro goals first, in their order),
    /// then the guardrails not among them.
    pub fn metric_goals<'a>(&'a self, goals: &'a [Goal]) -> Vec<&'a str> {
        let mut out = metric_goals(&self.metrics, goals);
        for g in &self.guardrails {
            if !out.contains(&g.as_str()) {
                out.push(g);
            }
        }
        out
    }

    /// The relative change the sequential test is tuned to.
    pub fn mde(&self) -> f64 {
        self.mde.unwrap_or_else(default_mde)
    }

    /// The spec with what it leaves out taken from the experiment's definition: its
    /// metrics and guardrails, its first variant as the control, its weights (or equal
    /// shares of its variants, so that a variant nobody saw still counts), its MDE.
    pub fn with_definition(&self, d: &ExperimentDef) -> ExperimentSpec {
        let mut x = self.clone();
        if x.metrics.is_empty() {
            x.metrics = d.metrics.clone();
        }
        if x.guardrails.is_empty() {
            x.guardrails = d.guardrails.clone();
        }
        if x.funnels.is_empty() {
            x.funnels = d.funnels.clone();
        }
        if x.control.is_none() {
            x.control = d.variants.first().cloned();
        }
        if x.weights.is_empty() {
            x.weights = if d.weights.is_empty() {
                d.variants.iter().map(|v| (v.clone(), 1.0)).collect()
            } else {
                d.weights.clone()
            };
        }
        if x.mde.is_none() {
            x.mde = d.mde;
        }
        x
    }

    /// Checks the funnels it compares against the query's.
    pub fn validate_funnels(
        &self,
        funnels: &BTreeMap<String, super::FunnelSpec>,
        path: &str,
    ) -> Result<(), SpecError> {
        check_funnels(&self.funnels, funnels, path)
    }

    /// Checks the spec against the query's goals; `path` is the analysis's JSON path.
    pub fn validate(&self, goals: &[Goal], path: &str) -> Result<(), SpecError> {
        let err = |field: &str, m: String| Err(SpecError::new(&format!("{path}.{field}"), m));
        if self.key.trim().is_empty() {
            return err("key", "name the experiment's key".into());
        }
        if !matches!(self.unit, Unit::Visitor | Unit::Lead) {
            return err(
                "unit",
                "variants are assigned to visitors (or users): use visitor or lead".into(),
            );
        }
        if self.metrics.len() > MAX_METRICS {
            return err("metrics", format!("at most {MAX_METRICS}"));
        }
        for (i, m) in self.metrics.iter().enumerate() {
            if !goals.iter().any(|g| &g.name == m) {
                return err(
                    &format!("metrics[{i}]"),
                    format!("unknown goal `{m}`: define it in `goals`"),
                );
            }
            if self.metrics[..i].contains(m) {
                return err(&format!("metrics[{i}]"), format!("`{m}` is listed twice"));
            }
        }
        if self.metric_goals(goals).len() + self.funnels.len() > MAX_METRICS {
            return err(
                "guardrails",
                format!("at most {MAX_METRICS} metrics in all"),
            );
        }
        if self.metric_goals(goals).is_empty() {
            return err(
                "metrics",
                "no metrics: define goals, or name them in `metrics`".into(),
            );
        }
        for (v, w) in &self.weights {
            if !(w.is_finite() && *w > 0.0) {
                return err(&format!("weights.{v}"), "must be a positive number".into());
            }
        }
        if self.weights.len() > MAX_VARIANTS {
            return err("weights", format!("at most {MAX_VARIANTS} variants"));
        }
        check_mde(self.mde(), &format!("{path}.mde"))?;
        for (i, m) in self.guardrails.iter().enumerate() {
            if !goals.iter().any(|g| &g.name == m) {
                return err(
                    &format!("guardrails[{i}]"),
                    format!("unknown goal `{m}`: define it in `goals`"),
                );
            }
        }
        if self.min_units == 0 {
            return err("min_units", "must be at least 1".into());
        }
        if let Some(iv) = self.trend
            && !matches!(iv, super::Interval::Day | super::Interval::Week)
        {
            return err("trend", "`day` or `week`".into());
        }
        Ok(())
    }
}

/// Planning a test: how long each goal would take to show a change, on the site's own
/// traffic, and which micro goals go with the macro goal (proxies).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PlanSpec {
    /// The macro goal (default: the spec's first goal with `conversion = "macro"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub goal: Option<String>,
    /// Goals planned for (default: every goal, macro goals first).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub metrics: Vec<String>,
    /// The unit: `visitor` (default) or `lead`.
    #[serde(default = "default_unit")]
    pub unit: Unit,
    /// The relative change to detect (default 0.1).
    #[serde(default = "default_mde")]
    pub mde: f64,
    /// The chance to detect it (default 0.8).
    #[serde(default = "default_power")]
    pub power: f64,
    /// Variants, the control included (default 2).
    #[serde(default = "default_variants")]
    pub variants: u32,
    /// The share of the traffic in the test (default 1).
    #[serde(default = "default_share")]
    pub share: f64,
}

fn default_power() -> f64 {
    0.8
}

fn default_variants() -> u32 {
    2
}

fn default_share() -> f64 {
    1.0
}

impl PlanSpec {
    /// The metrics, as for an experiment.
    pub fn metric_goals<'a>(&'a self, goals: &'a [Goal]) -> Vec<&'a str> {
        metric_goals(&self.metrics, goals)
    }

    /// The macro goal, if any.
    pub fn macro_goal<'a>(&'a self, goals: &'a [Goal]) -> Option<&'a str> {
        super::influence::macro_goal(self.goal.as_deref(), goals)
    }

    fn as_experiment(&self) -> ExperimentSpec {
        ExperimentSpec {
            key: "plan".into(),
            metrics: self.metrics.clone(),
            unit: self.unit,
            control: None,
            weights: BTreeMap::new(),
            mde: Some(self.mde),
            guardrails: Vec::new(),
            min_units: 1,
            trend: None,
            cuped: false,
            funnels: Vec::new(),
        }
    }

    /// Checks the spec against the query's goals; `path` is the analysis's JSON path.
    pub fn validate(&self, goals: &[Goal], path: &str) -> Result<(), SpecError> {
        self.as_experiment().validate(goals, path)?;
        if let Some(g) = &self.goal
            && !goals.iter().any(|x| &x.name == g)
        {
            return Err(SpecError::new(
                &format!("{path}.goal"),
                format!("unknown goal `{g}`: define it in `goals`"),
            ));
        }
        if !(self.power > 0.5 && self.power < 1.0) {
            return Err(SpecError::new(
                &format!("{path}.power"),
                "between 0.5 and 1 (e.g. 0.8)".into(),
            ));
        }
        if !(2..=MAX_VARIANTS as u32).contains(&self.variants) {
            return Err(SpecError::new(
                &format!("{path}.variants"),
                format!("between 2 and {MAX_VARIANTS}, the control included"),
            ));
        }
        if !(self.share > 0.0 && self.share <= 1.0) {
            return Err(SpecError::new(
                &format!("{path}.share"),
                "a share of the traffic above 0 and at most 1".into(),
            ));
        }
        Ok(())
    }
}

fn check_mde(mde: f64, path: &str) -> Result<(), SpecError> {
    if mde.is_finite() && mde > 0.0 && mde <= 10.0 {
        Ok(())
    } else {
        Err(SpecError::new(
            path,
            "a relative change above 0 and at most 10 (1000%)".into(),
        ))
    }
}

/// An experiment kept as code (`[experiments.KEY]` in a definitions file) or in the
/// registry: what a query of it leaves out comes from here.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExperimentDef {
    /// What the change is expected to do, in words.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub hypothesis: String,
    /// The variants, the control first (as given to the tracker or `/api/v1/assign`).
    pub variants: Vec<String>,
    /// Planned traffic shares (default: equal).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub weights: BTreeMap<String, f64>,
    /// Goals compared, the primary first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub metrics: Vec<String>,
    /// Goals that must not get worse.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub guardrails: Vec<String>,
    /// Stored funnels whose completion is compared after the goals.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub funnels: Vec<String>,
    /// The relative change it is planned to detect.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mde: Option<f64>,
    /// Who is in the experiment: filters added to every query of it (an event
    /// condition such as `{"field": "device", "value": "mobile"}`, or `{"did": GOAL}`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub targeting: Vec<super::Filter>,
    /// First day (`2026-11-03`), in the site's calendar.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<String>,
    /// Last day, once stopped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop: Option<String>,
}

impl ExperimentDef {
    /// Checks the funnels it compares against the site's (or the file's).
    pub fn validate_funnels(
        &self,
        funnels: &BTreeMap<String, super::FunnelSpec>,
        path: &str,
    ) -> Result<(), SpecError> {
        check_funnels(&self.funnels, funnels, path)
    }

    /// Checks the definition; `goals` are those it may name, `path` its own.
    pub fn validate(&self, goals: &[Goal], path: &str) -> Result<(), SpecError> {
        let err = |field: &str, m: String| Err(SpecError::new(&format!("{path}.{field}"), m));
        if !(2..=MAX_VARIANTS).contains(&self.variants.len()) {
            return err(
                "variants",
                format!("between 2 and {MAX_VARIANTS}, the control first"),
            );
        }
        for (i, v) in self.variants.iter().enumerate() {
            if v.trim().is_empty() || v.len() > 200 {
                return err(
                    &format!("variants[{i}]"),
                    "1 to 200 bytes, not blank".into(),
                );
            }
            if self.variants[..i].contains(v) {
                return err(&format!("variants[{i}]"), format!("`{v}` is listed twice"));
            }
        }
        for (v, w) in &self.weights {
            if !self.variants.contains(v) {
                return err(&format!("weights.{v}"), format!("`{v}` is not a variant"));
            }
            if !(w.is_finite() && *w > 0.0) {
                return err(&format!("weights.{v}"), "must be a positive number".into());
            }
        }
        for (i, f) in self.targeting.iter().enumerate() {
            let p = format!("{path}.targeting[{i}]");
            if let super::FilterKind::Behaviour(g, _) = f.kind(&p)?
                && !goals.iter().any(|x| x.name == g)
            {
                return Err(SpecError::new(&p, format!("unknown goal `{g}`")));
            }
        }
        for (field, list) in [("metrics", &self.metrics), ("guardrails", &self.guardrails)] {
            for (i, m) in list.iter().enumerate() {
                if !goals.iter().any(|g| &g.name == m) {
                    return err(
                        &format!("{field}[{i}]"),
                        format!("unknown goal `{m}`: define it in `goals`"),
                    );
                }
            }
        }
        if let Some(m) = self.mde {
            check_mde(m, &format!("{path}.mde"))?;
        }
        let day = |field: &str, d: &Option<String>| match d {
            None => Ok(None),
            Some(s) => chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
                .map(Some)
                .map_err(|_| {
                    SpecError::new(
                        &format!("{path}.{field}"),
                        format!("`{s}` is not a day like 2026-11-03"),
                    )
                }),
        };
        if let (Some(a), Some(b)) = (day("start", &self.start)?, day("stop", &self.stop)?)
            && b < a
        {
            return err("stop", format!("{b} is before the start, {a}"));
        }
        Ok(())
    }
}
