//! The `attribution` analysis: the macro conversions (and their value) credited to the
//! touches on the way — micro goals, or a field's value per session (channel, source,
//! campaign) — by five models. The semantics are in `docs/influence.md#attribution`.

use serde::{Deserialize, Serialize};

use super::cond::Field;
use super::goal::Goal;
use super::influence::{InfluenceSpec, candidate_goals, macro_goal};
use super::{SpecError, Unit};

/// The most bootstrap resamples.
pub const MAX_BOOTSTRAP: u32 = 2000;

/// The most touches the Markov model keeps apart (the others are one `(other)` touch).
pub const MAX_MARKOV_TOUCHES: usize = 30;

/// Attribution of the macro conversions to the touches before them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AttributionSpec {
    /// The macro goal (default: the spec's first goal with `conversion = "macro"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub goal: Option<String>,
    /// Touches are this field's value, one per session (its first value; `(none)`
    /// without one): `channel`, `source`, `utm_campaign`, … Without it, touches are
    /// micro goals.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<Field>,
    /// With goals as touches, which (default: every micro goal).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub candidates: Vec<String>,
    /// The unit: `visitor` (default) or `lead`.
    #[serde(default = "default_unit")]
    pub unit: Unit,
    /// Bootstrap resamples for the Markov model's intervals (default 200; 0 for none).
    #[serde(default = "default_bootstrap")]
    pub bootstrap: u32,
    /// Touches listed, by credited conversions (default 20); the rest are summed into
    /// `(other)`.
    #[serde(default = "default_limit")]
    pub limit: usize,
}

fn default_unit() -> Unit {
    Unit::Visitor
}

fn default_bootstrap() -> u32 {
    200
}

fn default_limit() -> usize {
    20
}

impl AttributionSpec {
    /// As an influence spec: the same macro goal and candidates (for their defaults and
    /// checks).
    fn as_influence(&self) -> InfluenceSpec {
        InfluenceSpec {
            goal: self.goal.clone(),
            candidates: self.candidates.clone(),
            events: self.by.is_some(),
            unit: self.unit,
            min_support: 1,
            stratify: Vec::new(),
            order: Default::default(),
        }
    }

    /// The macro goal's name.
    pub fn macro_goal<'a>(&'a self, goals: &'a [Goal]) -> Option<&'a str> {
        macro_goal(self.goal.as_deref(), goals)
    }

    /// The goals that are touches (none when touches are a field's values).
    pub fn touch_goals<'a>(&'a self, goals: &'a [Goal]) -> Vec<&'a str> {
        if self.by.is_some() {
            return Vec::new();
        }
        candidate_goals(&self.candidates, self.macro_goal(goals), goals)
    }

    /// Checks the spec against the query's goals; `path` is the analysis's JSON path.
    pub fn validate(&self, goals: &[Goal], path: &str) -> Result<(), SpecError> {
        self.as_influence().validate(goals, path)?;
        if !matches!(self.unit, Unit::Visitor | Unit::Lead) {
            return Err(SpecError::new(
                &format!("{path}.unit"),
                "attribution credits a visitor's or a lead's conversion: use visitor or lead"
                    .into(),
            ));
        }
        if self.by.is_some() && !self.candidates.is_empty() {
            return Err(SpecError::new(
                &format!("{path}.candidates"),
                "touches are either goals (`candidates`) or a field's values (`by`), not both"
                    .into(),
            ));
        }
        if let Some(f) = &self.by
            && !f.is_event_field()
        {
            return Err(SpecError::new(
                &format!("{path}.by"),
                format!("`{f}` is not a field of an event: use e.g. channel, source, utm_campaign"),
            ));
        }
        if self.bootstrap > MAX_BOOTSTRAP {
            return Err(SpecError::new(
                &format!("{path}.bootstrap"),
                format!("at most {MAX_BOOTSTRAP} resamples"),
            ));
        }
        super::funnel::check_limit(self.limit, path)?;
        Ok(())
    }
}
