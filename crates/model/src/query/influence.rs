//! The `influence` analysis: which micro conversions are associated with the macro
//! conversion. The semantics are in `docs/influence.md`.

use serde::{Deserialize, Serialize};

use super::cond::Field;
use super::goal::{Conversion, Goal};
use super::{SpecError, Unit};
use crate::Dim;

/// Which of a unit's candidate actions count.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Precedence {
    /// Only a candidate done before the unit's first conversion (or by a unit that never
    /// converted): an action after the purchase cannot have led to it.
    #[default]
    Before,
    /// A candidate done at any time in the unit: the raw comparison "did X at all".
    Any,
}

/// The most fields a query may stratify by.
pub const MAX_STRATA_FIELDS: usize = 3;

/// The most event candidates listed.
pub const MAX_EVENT_CANDIDATES: usize = 100;

/// The influence report: for each candidate X, the macro goal's rate among units that
/// did X (before converting) against units that did not, with intervals, p-values,
/// false-discovery-rate q-values and an estimate stratified by who the units are.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct InfluenceSpec {
    /// The macro goal (default: the spec's first goal with `conversion = "macro"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub goal: Option<String>,
    /// Candidate goals by name (default: every micro goal).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub candidates: Vec<String>,
    /// Also every event name done by at least `min_support` units, up to 100 names by
    /// support (pageviews and the tracker's passive `scroll`, `engagement` and
    /// `experiment_exposure` aside).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub events: bool,
    /// The unit: `visitor` (default), `session` or `lead`.
    #[serde(default = "default_unit")]
    pub unit: Unit,
    /// Candidates done by fewer units are listed but not ranked or tested (default 30).
    #[serde(default = "default_min_support")]
    pub min_support: u64,
    /// Fields whose values (each unit's first) define the strata of the Mantel–Haenszel
    /// estimate (default `["device", "channel"]`; `[]` for none; at most 3).
    #[serde(default = "default_stratify")]
    pub stratify: Vec<Field>,
    /// Which candidate actions count: `before` the first conversion (default) or `any`.
    #[serde(default)]
    pub order: Precedence,
}

fn default_unit() -> Unit {
    Unit::Visitor
}

fn default_min_support() -> u64 {
    30
}

fn default_stratify() -> Vec<Field> {
    vec![Field::Dim(Dim::Device), Field::Dim(Dim::Channel)]
}

/// The macro goal of an analysis: `given`, or the first goal with `conversion = "macro"`.
pub(crate) fn macro_goal<'a>(given: Option<&'a str>, goals: &'a [Goal]) -> Option<&'a str> {
    given.or_else(|| {
        goals
            .iter()
            .find(|g| g.conversion == Conversion::Macro)
            .map(|g| g.name.as_str())
    })
}

/// The goals an analysis weighs against the macro goal `y`: `given`, or every micro goal
/// other than `y`.
pub(crate) fn candidate_goals<'a>(
    given: &'a [String],
    y: Option<&str>,
    goals: &'a [Goal],
) -> Vec<&'a str> {
    if given.is_empty() {
        goals
            .iter()
            .filter(|g| g.conversion == Conversion::Micro && Some(g.name.as_str()) != y)
            .map(|g| g.name.as_str())
            .collect()
    } else {
        given.iter().map(String::as_str).collect()
    }
}

impl InfluenceSpec {
    /// The macro goal's name: the given one, or the first macro goal of `goals`.
    pub fn macro_goal<'a>(&'a self, goals: &'a [Goal]) -> Option<&'a str> {
        macro_goal(self.goal.as_deref(), goals)
    }

    /// The candidate goals: the given ones, or every micro goal other than the macro
    /// goal.
    pub fn candidate_goals<'a>(&'a self, goals: &'a [Goal]) -> Vec<&'a str> {
        candidate_goals(&self.candidates, self.macro_goal(goals), goals)
    }

    /// Checks the spec against the query's goals; `path` is the analysis's JSON path.
    pub fn validate(&self, goals: &[Goal], path: &str) -> Result<(), SpecError> {
        let known = |name: &str, p: &str| {
            if goals.iter().any(|g| g.name == name) {
                Ok(())
            } else {
                Err(SpecError::new(
                    p,
                    format!("unknown goal `{name}`: define it in `goals`"),
                ))
            }
        };
        let Some(y) = self.macro_goal(goals) else {
            return Err(SpecError::new(
                &format!("{path}.goal"),
                "name the macro goal, or define a goal with `conversion = \"macro\"`".into(),
            ));
        };
        known(y, &format!("{path}.goal"))?;
        if matches!(self.unit, Unit::Attempt) {
            return Err(SpecError::new(
                &format!("{path}.unit"),
                "`attempt` is a funnel unit; influence uses visitor, session or lead".into(),
            ));
        }
        for (i, c) in self.candidates.iter().enumerate() {
            let p = format!("{path}.candidates[{i}]");
            known(c, &p)?;
            if c == y {
                return Err(SpecError::new(
                    &p,
                    format!("`{c}` is the macro goal itself; it cannot be a candidate"),
                ));
            }
            if self.candidates[..i].contains(c) {
                return Err(SpecError::new(&p, format!("`{c}` is listed twice")));
            }
        }
        if self.candidate_goals(goals).is_empty() && !self.events {
            return Err(SpecError::new(
                &format!("{path}.candidates"),
                "no candidates: name goals, define micro goals, or set `events: true`".into(),
            ));
        }
        if self.min_support == 0 {
            return Err(SpecError::new(
                &format!("{path}.min_support"),
                "must be at least 1".into(),
            ));
        }
        if self.stratify.len() > MAX_STRATA_FIELDS {
            return Err(SpecError::new(
                &format!("{path}.stratify"),
                format!("at most {MAX_STRATA_FIELDS} fields"),
            ));
        }
        for (i, f) in self.stratify.iter().enumerate() {
            if self.stratify[..i].contains(f) {
                return Err(SpecError::new(
                    &format!("{path}.stratify[{i}]"),
                    format!("`{f}` is listed twice"),
                ));
            }
        }
        Ok(())
    }
}
