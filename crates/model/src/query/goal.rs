//! Goals: micro and macro conversions, defined at query time.

use serde::{Deserialize, Serialize};

use super::SpecError;
use super::cond::{CondValue, Condition, Field, Op, Scalar};
use crate::Dim;

/// The event name of a pageview.
pub const PAGEVIEW: &str = "pageview";
/// The event name the tracker sends with a page's scroll depth.
pub const SCROLL_EVENT: &str = "scroll";
/// The property holding the scroll depth in percent.
pub const SCROLL_DEPTH_PROP: &str = "depth";

/// Micro or macro conversion.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Conversion {
    /// A step or signal on the way.
    #[default]
    Micro,
    /// The site's main goal (purchase, sign-up, lead).
    Macro,
}

/// Process milestone or secondary action.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// A step of the path to the macro goal.
    #[default]
    Milestone,
    /// A signal of interest (share, comment, download).
    Secondary,
}

/// How conversions of a goal are counted.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Counting {
    /// Once per unit of the query (session, visitor or lead).
    #[default]
    Unit,
    /// Once per session.
    Session,
    /// Once per visitor.
    Visitor,
    /// Every occurrence.
    Every,
}

/// The goal's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum GoalType {
    /// A custom event, with property conditions.
    Event,
    /// A pageview of a URL path.
    Destination,
    /// A session lasting at least `seconds`.
    Duration,
    /// A session with at least `pages` pageviews.
    Pages,
    /// At least `min` matching events in one session.
    Count,
    /// All of, any of, or at least K of other goals, in one session.
    Composite,
    /// Scrolled at least `depth` percent on a page.
    Scroll,
}

/// A goal's monetary value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(untagged)]
pub enum GoalValue {
    /// `"revenue"`: the revenue carried by the converting event.
    FromEvent(String),
    /// A fixed value per conversion.
    Fixed {
        /// Amount per conversion.
        fixed: f64,
        /// ISO 4217 currency (default `USD`).
        #[serde(default = "default_currency")]
        currency: String,
    },
}

fn default_currency() -> String {
    "USD".into()
}

/// How a destination or scroll goal matches the path.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum PathMatch {
    /// The whole path.
    #[default]
    Equals,
    /// The path starts with the pattern.
    Prefix,
    /// Glob over the whole path (`*` = any characters).
    Wildcard,
    /// Regular expression.
    Regex,
}

impl PathMatch {
    /// The condition operator.
    pub fn op(self) -> Op {
        match self {
            PathMatch::Equals => Op::Eq,
            PathMatch::Prefix => Op::Prefix,
            PathMatch::Wildcard => Op::Wildcard,
            PathMatch::Regex => Op::Regex,
        }
    }
}

/// One goal. Which fields apply depends on `type`; [`Goal::validate`] says exactly which
/// are missing or out of place.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Goal {
    /// Unique name, shown in reports.
    pub name: String,
    /// The goal's type.
    #[serde(rename = "type")]
    pub kind: GoalType,
    /// Micro (default) or macro.
    #[serde(default)]
    pub conversion: Conversion,
    /// Milestone (default) or secondary action.
    #[serde(default)]
    pub role: Role,
    /// How conversions are counted (default: once per unit of the query).
    #[serde(default)]
    pub count: Counting,
    /// Monetary value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<GoalValue>,
    /// Event name (event and count goals; scroll goals default to `scroll`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event: Option<String>,
    /// Property and dimension conditions on the event (event and count goals).
    #[serde(default, rename = "where", skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// Path pattern (destination and scroll goals).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// A page: a path after the page grouping rules (destination goals, instead of
    /// `path`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page: Option<String>,
    /// How `path` matches (default `equals`).
    #[serde(default, rename = "match", skip_serializing_if = "Option::is_none")]
    pub path_match: Option<PathMatch>,
    /// Host the destination must be on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// Minimum session length in seconds (duration goals).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seconds: Option<f64>,
    /// Minimum pageviews in the session (pages goals).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pages: Option<u32>,
    /// Minimum matching events in the session (count goals).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<u32>,
    /// Minimum scroll depth in percent (scroll goals).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub depth: Option<f64>,
    /// Composite: every one of these goals.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub all_of: Vec<String>,
    /// Composite: any one of these goals.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub any_of: Vec<String>,
    /// Composite: at least this many of the goals in `of`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at_least: Option<u32>,
    /// Composite: the goals counted by `at_least`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub of: Vec<String>,
}

/// A goal's definition, typed.
#[derive(Debug, Clone, PartialEq)]
pub enum GoalDef {
    /// Events matching all conditions (the name is a condition on `name`).
    Event(Vec<Condition>),
    /// Session lasting at least this many milliseconds.
    Duration(i64),
    /// Session with at least this many pageviews.
    Pages(u32),
    /// At least `min` events matching the conditions in one session.
    Count {
        /// Threshold.
        min: u32,
        /// Event conditions.
        conds: Vec<Condition>,
    },
    /// At least `k` of the named goals reached in one session.
    Composite {
        /// Threshold.
        k: u32,
        /// Goal names.
        of: Vec<String>,
    },
}

impl Goal {
    /// An event goal on an event name.
    pub fn event(name: &str, event: &str) -> Goal {
        Goal {
            name: name.into(),
            kind: GoalType::Event,
            conversion: Conversion::Micro,
            role: Role::Milestone,
            count: Counting::Unit,
            value: None,
            event: Some(event.into()),
            conditions: Vec::new(),
            path: None,
            page: None,
            path_match: None,
            host: None,
            seconds: None,
            pages: None,
            min: None,
            depth: None,
            all_of: Vec::new(),
            any_of: Vec::new(),
            at_least: None,
            of: Vec::new(),
        }
    }

    /// A goal of another type with only the common fields set; fill in the rest.
    pub fn of_type(name: &str, kind: GoalType) -> Goal {
        Goal {
            kind,
            event: None,
            ..Goal::event(name, "")
        }
    }

    /// Checks that exactly the fields of the goal's type are set, with sane values.
    pub fn validate(&self, path: &str) -> Result<(), SpecError> {
        let err = |f: &str, m: String| Err(SpecError::new(&format!("{path}.{f}"), m));
        check_name(&format!("{path}.name"), &self.name)?;
        let t = type_name(self.kind);
        let allowed: &[&str] = match self.kind {
            GoalType::Event => &["event", "where"],
            GoalType::Destination => &["path", "page", "match", "host"],
            GoalType::Duration => &["seconds"],
            GoalType::Pages => &["pages"],
            GoalType::Count => &["event", "where", "min"],
            GoalType::Composite => &["all_of", "any_of", "at_least", "of"],
            GoalType::Scroll => &["event", "path", "match", "depth"],
        };
        for (f, set) in self.set_fields() {
            if set && !allowed.contains(&f) {
                return err(f, format!("`{f}` does not apply to a {t} goal"));
            }
        }
        let need = |f: &str, ok: bool| -> Result<(), SpecError> {
            if ok {
                Ok(())
            } else {
                Err(SpecError::new(
                    &format!("{path}.{f}"),
                    format!("a {t} goal needs `{f}`"),
                ))
            }
        };
        match self.kind {
            GoalType::Event => {
                if self.event.is_none() && self.conditions.is_empty() {
                    return err("event", "an event goal needs `event` or `where`".into());
                }
            }
            GoalType::Destination => {
                if self.path.is_some() == self.page.is_some() {
                    return err(
                        "path",
                        "a destination goal needs `path` or `page` (one of them)".into(),
                    );
                }
                if self.page.is_some() && self.path_match.is_some() {
                    return err("match", "`match` goes with `path`, not `page`".into());
                }
            }
            GoalType::Duration => {
                need("seconds", self.seconds.is_some())?;
                let s = self.seconds.unwrap_or(0.0);
                if !(s.is_finite() && s > 0.0) {
                    return err("seconds", "must be a positive number".into());
                }
            }
            GoalType::Pages => {
                need("pages", self.pages.is_some())?;
                if self.pages == Some(0) {
                    return err("pages", "must be at least 1".into());
                }
            }
            GoalType::Count => {
                need("min", self.min.is_some())?;
                if self.min == Some(0) {
                    return err("min", "must be at least 1".into());
                }
                if self.event.is_none() && self.conditions.is_empty() {
                    return err("event", "a count goal needs `event` or `where`".into());
                }
            }
            GoalType::Composite => {
                let forms = [
                    !self.all_of.is_empty(),
                    !self.any_of.is_empty(),
                    self.at_least.is_some() || !self.of.is_empty(),
                ];
                if forms.iter().filter(|&&b| b).count() != 1 {
                    return err(
                        "all_of",
                        "a composite goal needs exactly one of `all_of`, `any_of`, or `at_least` with `of`"
                            .into(),
                    );
                }
                if forms[2] {
                    need("at_least", self.at_least.is_some())?;
                    need("of", !self.of.is_empty())?;
                    let k = self.at_least.unwrap_or(0);
                    if k == 0 || k as usize > self.of.len() {
                        return err(
                            "at_least",
                            format!("must be between 1 and the {} goals in `of`", self.of.len()),
                        );
                    }
                }
            }
            GoalType::Scroll => {
                need("depth", self.depth.is_some())?;
                let d = self.depth.unwrap_or(-1.0);
                if !(d.is_finite() && d > 0.0 && d <= 100.0) {
                    return err("depth", "must be a percentage in (0, 100]".into());
                }
            }
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
        match &self.value {
            Some(GoalValue::FromEvent(s)) if s != "revenue" => {
                return err(
                    "value",
                    "use \"revenue\" or {\"fixed\": AMOUNT, \"currency\": \"EUR\"}".into(),
                );
            }
            Some(GoalValue::Fixed { fixed, currency }) => {
                if !fixed.is_finite() || *fixed < 0.0 {
                    return err("value.fixed", "must be a non-negative number".into());
                }
                if currency.len() != 3 || !currency.bytes().all(|b| b.is_ascii_uppercase()) {
                    return err(
                        "value.currency",
                        "must be an ISO 4217 code such as EUR".into(),
                    );
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn set_fields(&self) -> [(&'static str, bool); 14] {
        [
            ("event", self.event.is_some()),
            ("where", !self.conditions.is_empty()),
            ("path", self.path.is_some()),
            ("page", self.page.is_some()),
            ("match", self.path_match.is_some()),
            ("host", self.host.is_some()),
            ("seconds", self.seconds.is_some()),
            ("pages", self.pages.is_some()),
            ("min", self.min.is_some()),
            ("depth", self.depth.is_some()),
            ("all_of", !self.all_of.is_empty()),
            ("any_of", !self.any_of.is_empty()),
            ("at_least", self.at_least.is_some()),
            ("of", !self.of.is_empty()),
        ]
    }

    /// The typed definition (after [`Goal::validate`]). Event, destination and scroll
    /// goals become event conditions.
    pub fn def(&self) -> GoalDef {
        let name_cond = |n: &str| Condition::eq_str(Field::Dim(Dim::Name), n);
        let path_cond = |p: &str| {
            Condition::new(
                Field::Dim(Dim::Path),
                self.path_match.unwrap_or_default().op(),
                Some(CondValue::One(Scalar::Str(p.to_string()))),
            )
        };
        let event_conds = || {
            let mut c = Vec::new();
            if let Some(e) = &self.event {
                c.push(name_cond(e));
            }
            c.extend(self.conditions.iter().cloned());
            c
        };
        match self.kind {
            GoalType::Event => GoalDef::Event(event_conds()),
            GoalType::Destination => {
                let mut c = vec![name_cond(PAGEVIEW)];
                if let Some(p) = &self.path {
                    c.push(path_cond(p));
                }
                if let Some(p) = &self.page {
                    c.push(Condition::eq_str(Field::Page, p));
                }
                if let Some(h) = &self.host {
                    c.push(Condition::eq_str(Field::Dim(Dim::Host), h));
                }
                GoalDef::Event(c)
            }
            GoalType::Scroll => {
                let mut c = vec![name_cond(self.event.as_deref().unwrap_or(SCROLL_EVENT))];
                if let Some(p) = &self.path {
                    c.push(path_cond(p));
                }
                c.push(Condition::new(
                    Field::Prop(SCROLL_DEPTH_PROP.into()),
                    Op::Gte,
                    Some(CondValue::One(Scalar::Num(self.depth.unwrap_or(100.0)))),
                ));
                GoalDef::Event(c)
            }
            GoalType::Duration => {
                GoalDef::Duration((self.seconds.unwrap_or(0.0) * 1000.0).round() as i64)
            }
            GoalType::Pages => GoalDef::Pages(self.pages.unwrap_or(1)),
            GoalType::Count => GoalDef::Count {
                min: self.min.unwrap_or(1),
                conds: event_conds(),
            },
            GoalType::Composite => {
                if !self.all_of.is_empty() {
                    GoalDef::Composite {
                        k: self.all_of.len() as u32,
                        of: self.all_of.clone(),
                    }
                } else if !self.any_of.is_empty() {
                    GoalDef::Composite {
                        k: 1,
                        of: self.any_of.clone(),
                    }
                } else {
                    GoalDef::Composite {
                        k: self.at_least.unwrap_or(1),
                        of: self.of.clone(),
                    }
                }
            }
        }
    }

    /// Whether the goal is decided per event (event, destination, scroll) rather than
    /// per session (duration, pages, count, composite).
    pub fn is_event_goal(&self) -> bool {
        matches!(self.def(), GoalDef::Event(_))
    }
}

fn type_name(t: GoalType) -> &'static str {
    match t {
        GoalType::Event => "event",
        GoalType::Destination => "destination",
        GoalType::Duration => "duration",
        GoalType::Pages => "pages",
        GoalType::Count => "count",
        GoalType::Composite => "composite",
        GoalType::Scroll => "scroll",
    }
}

/// Longest goal or funnel name, in bytes.
pub const MAX_NAME: usize = 200;

/// The one rule for every goal and funnel name, as for event names: not blank, at most
/// [`MAX_NAME`] bytes, no control characters (tab and NUL included).
pub fn check_name(path: &str, name: &str) -> Result<(), SpecError> {
    if name.trim().is_empty() {
        return Err(SpecError::new(path, "a name must not be blank".into()));
    }
    if name.len() > MAX_NAME {
        return Err(SpecError::new(
            path,
            format!(
                "a name must be at most {MAX_NAME} bytes, not {}",
                name.len()
            ),
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(SpecError::new(
            path,
            "a name must not contain control characters".into(),
        ));
    }
    Ok(())
}

/// Validates a list of goals together: unique names, composites that refer to known
/// goals, and no composite cycles.
pub fn validate_goals(goals: &[Goal], path: &str) -> Result<(), SpecError> {
    for (i, g) in goals.iter().enumerate() {
        let p = format!("{path}[{i}]");
        g.validate(&p)?;
        if goals[..i].iter().any(|h| h.name == g.name) {
            return Err(SpecError::new(
                &format!("{p}.name"),
                format!("two goals are named `{}`", g.name),
            ));
        }
    }
    for (i, g) in goals.iter().enumerate() {
        if let GoalDef::Composite { of, .. } = g.def() {
            for name in &of {
                if !goals.iter().any(|h| &h.name == name) {
                    return Err(SpecError::new(
                        &format!("{path}[{i}]"),
                        format!(
                            "composite goal `{}` refers to unknown goal `{name}`",
                            g.name
                        ),
                    ));
                }
            }
        }
    }
    // Cycles: depth-first search over composite references.
    fn visit<'a>(goals: &'a [Goal], name: &'a str, stack: &mut Vec<&'a str>) -> Result<(), String> {
        if stack.contains(&name) {
            stack.push(name);
            return Err(stack.join(" -> "));
        }
        let Some(g) = goals.iter().find(|g| g.name == name) else {
            return Ok(());
        };
        if let GoalDef::Composite { .. } = g.def() {
            stack.push(name);
            for n in g.all_of.iter().chain(&g.any_of).chain(&g.of) {
                visit(goals, n, stack)?;
            }
            stack.pop();
        }
        Ok(())
    }
    for g in goals {
        visit(goals, &g.name, &mut Vec::new()).map_err(|c| {
            SpecError::new(path, format!("composite goals refer to each other: {c}"))
        })?;
    }
    Ok(())
}
