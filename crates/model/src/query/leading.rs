//! The `leading_indicators` analysis: how well a campaign's micro-conversion rates in its
//! visitors' first days predict its macro-conversion rate weeks later, across cohorts of
//! campaign × week of first visit — so that a campaign can be judged before it produces
//! sales. The semantics are in `docs/campaigns.md#leading-indicators`.

use serde::{Deserialize, Serialize};

use super::cond::Field;
use super::goal::Goal;
use super::influence::{InfluenceSpec, candidate_goals, macro_goal};
use super::{Interval, SpecError, Unit};
use crate::Dim;

/// The longest early window, in days.
pub const MAX_EARLY_DAYS: u32 = 30;

/// The longest horizon, in days.
pub const MAX_HORIZON_DAYS: u32 = 180;

/// Leading indicators of the macro conversion, over cohorts of new visitors.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LeadingSpec {
    /// The macro goal (default: the spec's first goal with `conversion = "macro"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub goal: Option<String>,
    /// The micro goals weighed as indicators (default: every micro goal). The macro
    /// goal's own early rate is always weighed beside them, as the baseline.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub candidates: Vec<String>,
    /// What a cohort is made of, beside the week: the value of this field on each
    /// visitor's first session (default `utm_campaign`; `source`, `channel`,
    /// `landing_page`, … too).
    #[serde(default = "default_by")]
    pub by: Field,
    /// The cohorts' period of first visit: `week` (default; Monday to Sunday in the
    /// query's time zone) or `day`.
    #[serde(default = "default_period")]
    pub period: Interval,
    /// The early window: a visitor's first days, from its first visit (default 3).
    #[serde(default = "default_early_days")]
    pub early_days: u32,
    /// The horizon: the macro conversions counted, from the first visit (default 14).
    #[serde(default = "default_horizon_days")]
    pub horizon_days: u32,
    /// Cohorts with fewer new visitors are listed but not fitted (default 30).
    #[serde(default = "default_min_visitors")]
    pub min_visitors: u64,
    /// Values of `by` listed, by new visitors (default 20); the rest are left out and
    /// counted in `other_visitors`.
    #[serde(default = "default_limit")]
    pub limit: usize,
}

fn default_by() -> Field {
    Field::Dim(Dim::UtmCampaign)
}

fn default_period() -> Interval {
    Interval::Week
}

fn default_early_days() -> u32 {
    3
}

fn default_horizon_days() -> u32 {
    14
}

fn default_min_visitors() -> u64 {
    30
}

fn default_limit() -> usize {
    20
}

impl LeadingSpec {
    /// The macro goal's name.
    pub fn macro_goal<'a>(&'a self, goals: &'a [Goal]) -> Option<&'a str> {
        macro_goal(self.goal.as_deref(), goals)
    }

    /// The micro goals weighed (the macro goal's early rate aside).
    pub fn candidate_goals<'a>(&'a self, goals: &'a [Goal]) -> Vec<&'a str> {
        candidate_goals(&self.candidates, self.macro_goal(goals), goals)
    }

    /// Checks the spec against the query's goals; `path` is the analysis's JSON path.
    pub fn validate(&self, goals: &[Goal], path: &str) -> Result<(), SpecError> {
        InfluenceSpec {
            goal: self.goal.clone(),
            candidates: self.candidates.clone(),
            // The macro goal's early rate is always an indicator: no micro goal is fine.
            events: true,
            unit: Unit::Visitor,
            min_support: 1,
            stratify: Vec::new(),
            order: Default::default(),
        }
        .validate(goals, path)?;
        if !self.by.is_event_field() && self.by != Field::LandingPage {
            return Err(SpecError::new(
                &format!("{path}.by"),
                format!(
                    "`{}` cannot group visitors: use a field of an event (utm_campaign, source, channel, …) or landing_page",
                    self.by
                ),
            ));
        }
        if !matches!(self.period, Interval::Day | Interval::Week) {
            return Err(SpecError::new(
                &format!("{path}.period"),
                "cohorts are of a `day` or a `week`".into(),
            ));
        }
        if !(1..=MAX_EARLY_DAYS).contains(&self.early_days) {
            return Err(SpecError::new(
                &format!("{path}.early_days"),
                format!("must be between 1 and {MAX_EARLY_DAYS}"),
            ));
        }
        if self.horizon_days < self.early_days || self.horizon_days > MAX_HORIZON_DAYS {
            return Err(SpecError::new(
                &format!("{path}.horizon_days"),
                format!(
                    "must be between early_days ({}) and {MAX_HORIZON_DAYS}",
                    self.early_days
                ),
            ));
        }
        if self.min_visitors == 0 {
            return Err(SpecError::new(
                &format!("{path}.min_visitors"),
                "must be at least 1".into(),
            ));
        }
        super::funnel::check_limit(self.limit, path)
    }
}
