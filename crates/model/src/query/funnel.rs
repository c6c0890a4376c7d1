//! Funnel definitions. The semantics are in `docs/funnels.md`.

use serde::{Deserialize, Serialize};

use super::cond::{Condition, Field};
use super::goal::{PAGEVIEW, PathMatch};
use super::{Duration, Interval, NodeKind, SpecError, Unit};

/// How steps must follow each other.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum FunnelMode {
    /// Steps in order; other events may happen in between.
    #[default]
    Ordered,
    /// Steps in order with nothing else in between (repeats of the current step allowed).
    Strict,
    /// Steps in any order, all within the window.
    Unordered,
}

/// One funnel step: an event, a destination or a goal, with conditions; or a set of
/// alternatives.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// Label shown in reports (default: derived from the step).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// Event name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event: Option<String>,
    /// A pageview of this path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// How `path` matches (default `equals`).
    #[serde(default, rename = "match", skip_serializing_if = "Option::is_none")]
    pub path_match: Option<PathMatch>,
    /// A pageview of this page: a path after the page grouping rules.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page: Option<String>,
    /// A goal, by name (event, destination and scroll goals, and session goals at the
    /// event where they are reached).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub goal: Option<String>,
    /// Further conditions on the event.
    #[serde(default, rename = "where", skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// Alternatives: the step is done by any of these.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub any_of: Vec<Step>,
    /// This step must follow the previous one within this time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub within: Option<Duration>,
    /// The step may be skipped.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub optional: bool,
}

impl Step {
    /// A step on an event name.
    pub fn event(name: &str) -> Step {
        Step {
            event: Some(name.into()),
            ..Step::default()
        }
    }

    /// A step on a pageview of a path.
    pub fn path(path: &str) -> Step {
        Step {
            path: Some(path.into()),
            ..Step::default()
        }
    }

    /// The label shown in reports.
    pub fn display(&self) -> String {
        if let Some(l) = &self.label {
            return l.clone();
        }
        if !self.any_of.is_empty() {
            return self
                .any_of
                .iter()
                .map(Step::display)
                .collect::<Vec<_>>()
                .join(" or ");
        }
        let mut s = match (&self.goal, &self.event, &self.path) {
            (Some(g), _, _) => format!("goal {g}"),
            _ if self.page.is_some() => self.page.clone().unwrap_or_default(),
            (_, Some(e), Some(p)) => format!("{e} {p}"),
            (_, Some(e), None) => e.clone(),
            (_, None, Some(p)) => format!("{PAGEVIEW} {p}"),
            _ => "any event".to_string(),
        };
        for c in &self.conditions {
            s.push_str(&format!(" [{}]", c.field));
        }
        s
    }

    pub(crate) fn validate_matcher(&self, path: &str, nested: bool) -> Result<(), SpecError> {
        if !self.any_of.is_empty() {
            if nested {
                return Err(SpecError::new(path, "alternatives cannot be nested".into()));
            }
            if self.event.is_some()
                || self.path.is_some()
                || self.page.is_some()
                || self.goal.is_some()
                || !self.conditions.is_empty()
            {
                return Err(SpecError::new(
                    path,
                    "a step with `any_of` takes its conditions from the alternatives".into(),
                ));
            }
            for (i, s) in self.any_of.iter().enumerate() {
                let p = format!("{path}.any_of[{i}]");
                if s.within.is_some() || s.optional || s.label.is_some() {
                    return Err(SpecError::new(
                        &p,
                        "`within`, `optional` and `label` belong on the step, not on an alternative"
                            .into(),
                    ));
                }
                s.validate_matcher(&p, true)?;
            }
            return Ok(());
        }
        if [
            self.goal.is_some(),
            self.path.is_some(),
            self.page.is_some(),
        ]
        .iter()
        .filter(|&&b| b)
        .count()
            > 1
            || (self.goal.is_some() && self.event.is_some())
        {
            return Err(SpecError::new(
                path,
                "a step is an event, a path, a page or a goal, not several".into(),
            ));
        }
        if self.path_match.is_some() && self.path.is_none() {
            return Err(SpecError::new(path, "`match` needs `path`".into()));
        }
        if self.path_match == Some(PathMatch::Regex)
            && let Some(p) = &self.path
        {
            regex::Regex::new(p).map_err(|e| {
                SpecError::new(
                    &format!("{path}.path"),
                    format!("invalid regular expression: {e}"),
                )
            })?;
        }
        for (i, c) in self.conditions.iter().enumerate() {
            c.validate(&format!("{path}.where[{i}]"))?;
        }
        Ok(())
    }
}

/// An exclusion: an attempt in which `step` happens between steps `between[0]` and
/// `between[1]` (1-based) does not count.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Exclusion {
    /// What must not happen.
    pub step: Step,
    /// Between which steps (1-based, first < second).
    pub between: [usize; 2],
}

/// Which value of the breakdown field a unit is counted under.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Attribution {
    /// The earliest non-empty value among the unit's funnel events.
    #[default]
    First,
    /// The latest non-empty value among the events of the unit's chain.
    Last,
    /// The value on the event of step `step`.
    Step,
    /// The earliest non-empty value among all the unit's events in the range, funnel
    /// events or not: the session's (or visitor's, lead's) acquisition, for fields such
    /// as `utm_campaign` or `source` that only a landing pageview carries.
    Unit,
}

/// A breakdown by a field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Breakdown {
    /// The field.
    pub by: Field,
    /// Top N values, the rest under "(other)" (default 10).
    #[serde(default = "default_limit")]
    pub limit: usize,
    /// Attribution (funnels only; default first touch).
    #[serde(default)]
    pub attribution: Attribution,
    /// The step for `attribution: "step"` (1-based).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<usize>,
}

fn default_limit() -> usize {
    10
}

/// A funnel analysis.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FunnelSpec {
    /// Steps, at least two.
    pub steps: Vec<Step>,
    /// Unit counted (default visitor).
    #[serde(default = "default_funnel_unit")]
    pub unit: Unit,
    /// Step order rule.
    #[serde(default)]
    pub mode: FunnelMode,
    /// Conversion window from the first step (default 7 days).
    #[serde(default = "default_window")]
    pub window: Duration,
    /// Units may enter at any step.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub open: bool,
    /// Events that take a unit out of the funnel.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exclusions: Vec<Exclusion>,
    /// Properties or dimensions that must have one value across the chain.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hold: Vec<Field>,
    /// Breakdown of the steps by a field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub breakdown: Option<Breakdown>,
    /// Trend of the conversion by first-step date.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trend: Option<Interval>,
    /// Also the funnel's flow (closed funnels, units other than attempts): what the
    /// units that dropped at each step did next, and the funnel against the paths
    /// converters really took (docs/paths.md).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub flow: bool,
    /// What the flow's nodes are (default pages and events).
    #[serde(
        default = "default_flow_nodes",
        skip_serializing_if = "is_default_flow_nodes"
    )]
    pub flow_nodes: Vec<NodeKind>,
}

fn default_flow_nodes() -> Vec<NodeKind> {
    vec![NodeKind::Page, NodeKind::Event]
}

fn is_default_flow_nodes(n: &Vec<NodeKind>) -> bool {
    *n == default_flow_nodes()
}

fn default_funnel_unit() -> Unit {
    Unit::Visitor
}

fn default_window() -> Duration {
    Duration::from_ms(7 * 86_400_000)
}

impl FunnelSpec {
    /// A funnel over these steps with every option at its default.
    pub fn new(steps: Vec<Step>) -> FunnelSpec {
        FunnelSpec {
            steps,
            unit: Unit::Visitor,
            mode: FunnelMode::Ordered,
            window: default_window(),
            open: false,
            exclusions: Vec::new(),
            hold: Vec::new(),
            breakdown: None,
            trend: None,
            flow: false,
            flow_nodes: default_flow_nodes(),
        }
    }

    /// Checks steps, windows, exclusions and options.
    pub fn validate(&self, path: &str) -> Result<(), SpecError> {
        let n = self.steps.len();
        if self.flow_nodes.is_empty() {
            return Err(SpecError::new(
                &format!("{path}.flow_nodes"),
                "name at least one of page, event, goal".into(),
            ));
        }
        if self.flow && (self.open || self.unit == Unit::Attempt) {
            return Err(SpecError::new(
                &format!("{path}.flow"),
                "the funnel's flow needs a closed funnel counted per session, visitor or lead"
                    .into(),
            ));
        }
        if n < 2 {
            return Err(SpecError::new(
                &format!("{path}.steps"),
                "a funnel needs at least two steps".into(),
            ));
        }
        if n > 32 {
            return Err(SpecError::new(
                &format!("{path}.steps"),
                "a funnel has at most 32 steps".into(),
            ));
        }
        if self.window.ms <= 0 || self.window.ms > MAX_WINDOW_MS {
            return Err(SpecError::new(
                &format!("{path}.window"),
                "must be positive and at most 3650 days".into(),
            ));
        }
        for (i, s) in self.steps.iter().enumerate() {
            let p = format!("{path}.steps[{i}]");
            s.validate_matcher(&p, false)?;
            if let Some(w) = s.within {
                if i == 0 {
                    return Err(SpecError::new(
                        &format!("{p}.within"),
                        "the first step has no previous step to be within".into(),
                    ));
                }
                if w.ms < 0 {
                    return Err(SpecError::new(
                        &format!("{p}.within"),
                        "must not be negative".into(),
                    ));
                }
            }
        }
        if self.steps[0].optional {
            return Err(SpecError::new(
                &format!("{path}.steps[0].optional"),
                "the first step cannot be optional: it is where units enter".into(),
            ));
        }
        if self.unit == Unit::Attempt {
            let clash = if self.mode == FunnelMode::Unordered {
                Some("an unordered funnel")
            } else if self.open {
                Some("an open funnel")
            } else if self.steps.iter().any(|s| s.optional) {
                Some("optional steps")
            } else if !self.hold.is_empty() {
                Some("`hold`")
            } else {
                None
            };
            if let Some(c) = clash {
                return Err(SpecError::new(
                    &format!("{path}.unit"),
                    format!(
                        "attempts are counted on ordered or strict closed funnels, not with {c}"
                    ),
                ));
            }
        }
        if !self.exclusions.is_empty() && self.steps.iter().any(|s| s.optional) {
            return Err(SpecError::new(
                &format!("{path}.exclusions"),
                "exclusions cannot be combined with optional steps".into(),
            ));
        }
        if self.mode != FunnelMode::Ordered {
            let mode = if self.mode == FunnelMode::Strict {
                "strict"
            } else {
                "unordered"
            };
            if self.steps.iter().any(|s| s.optional) {
                return Err(SpecError::new(
                    &format!("{path}.steps"),
                    format!("optional steps need an ordered funnel, not {mode}"),
                ));
            }
            if self.open {
                return Err(SpecError::new(
                    &format!("{path}.open"),
                    format!("open funnels need an ordered funnel, not {mode}"),
                ));
            }
            if self.mode == FunnelMode::Unordered && self.steps.iter().any(|s| s.within.is_some()) {
                return Err(SpecError::new(
                    &format!("{path}.steps"),
                    "per-step windows need an order: use an ordered or strict funnel".into(),
                ));
            }
            if !self.exclusions.is_empty() && self.mode == FunnelMode::Unordered {
                return Err(SpecError::new(
                    &format!("{path}.exclusions"),
                    "exclusions between steps need an order: use an ordered or strict funnel"
                        .into(),
                ));
            }
        }
        if self.open && (!self.exclusions.is_empty() || self.steps.iter().any(|s| s.optional)) {
            return Err(SpecError::new(
                &format!("{path}.open"),
                "open funnels take neither exclusions nor optional steps".into(),
            ));
        }
        if self.exclusions.len() > 16 {
            return Err(SpecError::new(
                &format!("{path}.exclusions"),
                "a funnel has at most 16 exclusions".into(),
            ));
        }
        for (i, e) in self.exclusions.iter().enumerate() {
            let p = format!("{path}.exclusions[{i}]");
            e.step.validate_matcher(&p, false)?;
            if e.step.within.is_some() || e.step.optional {
                return Err(SpecError::new(
                    &p,
                    "an exclusion takes no `within` or `optional`".into(),
                ));
            }
            let [a, b] = e.between;
            if !(1 <= a && a < b && b <= n) {
                return Err(SpecError::new(
                    &format!("{p}.between"),
                    format!("needs two steps i < j between 1 and {n}"),
                ));
            }
            if self.steps[a - 1].optional || self.steps[b - 1].optional {
                return Err(SpecError::new(
                    &format!("{p}.between"),
                    "an exclusion must lie between required steps".into(),
                ));
            }
        }
        for (i, f) in self.hold.iter().enumerate() {
            if !f.is_event_field() {
                return Err(SpecError::new(
                    &format!("{path}.hold[{i}]"),
                    format!("`{f}` is not a field of an event"),
                ));
            }
        }
        if let Some(b) = &self.breakdown {
            let p = format!("{path}.breakdown");
            if !b.by.is_event_field() {
                return Err(SpecError::new(
                    &format!("{p}.by"),
                    "funnels break down by an event field (a dimension or `props.NAME`)".into(),
                ));
            }
            check_limit(b.limit, &p)?;
            if b.attribution == Attribution::Step
                && (self.mode == FunnelMode::Unordered || self.open)
            {
                return Err(SpecError::new(
                    &format!("{p}.attribution"),
                    "`attribution: step` needs a closed ordered or strict funnel".into(),
                ));
            }
            match (b.attribution, b.step) {
                (Attribution::Step, Some(k))
                    if (1..=n).contains(&k) && !self.steps[k - 1].optional => {}
                (Attribution::Step, _) => {
                    return Err(SpecError::new(
                        &format!("{p}.step"),
                        format!(
                            "`attribution: step` needs `step`: a required step between 1 and {n}"
                        ),
                    ));
                }
                (_, Some(_)) => {
                    return Err(SpecError::new(
                        &format!("{p}.step"),
                        "`step` goes with `attribution: step`".into(),
                    ));
                }
                _ => {}
            }
        }
        Ok(())
    }
}

/// The longest window or time limit a spec may give (3650 days).
pub const MAX_WINDOW_MS: i64 = 3650 * 86_400_000;

/// Every step and exclusion of a funnel, with its JSON path: the alternatives too.
pub fn funnel_matchers<'a>(f: &'a FunnelSpec, path: &str) -> Vec<(String, &'a Step)> {
    let mut out = Vec::new();
    let steps = f
        .steps
        .iter()
        .enumerate()
        .map(|(i, s)| (format!("{path}.steps[{i}]"), s))
        .chain(
            f.exclusions
                .iter()
                .enumerate()
                .map(|(i, e)| (format!("{path}.exclusions[{i}].step"), &e.step)),
        );
    for (p, s) in steps {
        out.push((p.clone(), s));
        for (j, a) in s.any_of.iter().enumerate() {
            out.push((format!("{p}.any_of[{j}]"), a));
        }
    }
    out
}

pub(crate) fn check_limit(limit: usize, path: &str) -> Result<(), SpecError> {
    if limit == 0 || limit > 1000 {
        return Err(SpecError::new(
            &format!("{path}.limit"),
            "must be between 1 and 1000".into(),
        ));
    }
    Ok(())
}
