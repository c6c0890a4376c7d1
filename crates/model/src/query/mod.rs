//! The query spec: one JSON document describing an analysis — site, time range and time
//! zone, filters (the audience), goal definitions, and the analysis with its parameters. The
//! CLI, the HTTP API and both backends take this same spec; `docs/queries.md` documents
//! it with examples.

mod attribution;
mod cond;
mod events;
mod experiment;
mod funnel;
mod goal;
mod influence;
mod leading;
mod paths;
pub mod result;
mod spend;

use std::fmt;

use chrono::{NaiveDate, TimeZone};
use serde::{Deserialize, Serialize};

pub use cond::{
    CondValue, Condition, Field, Op, Scalar, ValueRef, ValueTest, op_name, wildcard_regex,
};
pub use funnel::{
    Attribution, Breakdown, Exclusion, FunnelMode, FunnelSpec, MAX_WINDOW_MS, Step, funnel_matchers,
};
pub use goal::{
    Conversion, Counting, Goal, GoalDef, GoalType, GoalValue, MAX_NAME, PAGEVIEW, PathMatch, Role,
    SCROLL_DEPTH_PROP, SCROLL_EVENT, check_name, validate_goals,
};

pub use attribution::{AttributionSpec, MAX_BOOTSTRAP, MAX_MARKOV_TOUCHES};
pub use events::{EventsSpec, MAX_EVENTS_LIMIT};
pub use experiment::{
    EXPOSURE_EVENT, ExperimentDef, ExperimentSpec, MAX_METRICS, MAX_VARIANTS, PlanSpec,
};
pub use influence::{InfluenceSpec, MAX_EVENT_CANDIDATES, MAX_STRATA_FIELDS, Precedence};
pub use leading::{LeadingSpec, MAX_EARLY_DAYS, MAX_HORIZON_DAYS};
pub use paths::{
    GroupMatch, MAX_PAGE_GROUPS, MAX_PATH_STEPS, MAX_TRANSITIONS, NodeKind, NodeRef, PageGroup,
    PageRules, PathsSpec, TransitionsSpec,
};
pub use spend::{MAX_SPEND_ROWS, Spend, SpendImport, SpendTotals, spend_totals, to_micros};

use crate::time::parse_timestamp;

/// A problem with a spec, with the JSON path of the offending field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct SpecError {
    /// Where, e.g. `analysis.steps[2].window`.
    pub path: String,
    /// What is wrong and what to do.
    pub message: String,
}

impl SpecError {
    /// An error at `path`.
    pub fn new(path: &str, message: String) -> SpecError {
        SpecError {
            path: if path.is_empty() {
                "(spec)".into()
            } else {
                path.to_string()
            },
            message,
        }
    }
}

/// What is counted: the denominator of a rate, the unit of a funnel.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    PartialOrd,
    Ord,
    schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Unit {
    /// A visit: a visitor's events with gaps under the session gap (30 minutes).
    Session,
    /// A unique visitor (device / browser).
    Visitor,
    /// An identified user: every visitor linked to one user id, stitched together.
    Lead,
    /// Funnels only: every entry into step 1 starts an attempt.
    Attempt,
}

impl Unit {
    /// The JSON name.
    pub fn as_str(self) -> &'static str {
        match self {
            Unit::Session => "session",
            Unit::Visitor => "visitor",
            Unit::Lead => "lead",
            Unit::Attempt => "attempt",
        }
    }
}

/// A time bucket size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Interval {
    /// Hours.
    Hour,
    /// Days.
    Day,
    /// ISO weeks, starting on Monday.
    Week,
    /// Calendar months.
    Month,
}

/// A length of time: JSON number of seconds, or a string such as `"30m"`, `"7d"`,
/// `"1h30m"` (units `ms`, `s`, `m`, `h`, `d`, `w`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Duration {
    /// Milliseconds.
    pub ms: i64,
}

impl Duration {
    /// From milliseconds.
    pub const fn from_ms(ms: i64) -> Duration {
        Duration { ms }
    }

    /// Parses `"7d"`, `"1h30m"`, `"90s"`, `"250ms"`.
    pub fn parse(s: &str) -> Result<Duration, String> {
        let bad = || format!("`{s}` is not a duration: write e.g. 90s, 30m, 2h, 7d, 1h30m");
        let s = s.trim();
        if s.is_empty() {
            return Err(bad());
        }
        let mut total: i64 = 0;
        let mut rest = s;
        while !rest.is_empty() {
            let digits = rest.bytes().take_while(|b| b.is_ascii_digit()).count();
            if digits == 0 {
                return Err(bad());
            }
            let n: i64 = rest[..digits].parse().map_err(|_| bad())?;
            rest = &rest[digits..];
            let unit_len = rest.bytes().take_while(|b| b.is_ascii_alphabetic()).count();
            let mult = match &rest[..unit_len] {
                "ms" => 1,
                "s" => 1000,
                "m" => 60_000,
                "h" => 3_600_000,
                "d" => 86_400_000,
                "w" => 7 * 86_400_000,
                _ => return Err(bad()),
            };
            rest = &rest[unit_len..];
            total = n
                .checked_mul(mult)
                .and_then(|x| total.checked_add(x))
                .ok_or_else(bad)?;
        }
        Ok(Duration { ms: total })
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.ms;
        for (unit, m) in [
            ("w", 7 * 86_400_000),
            ("d", 86_400_000),
            ("h", 3_600_000),
            ("m", 60_000),
            ("s", 1000),
        ] {
            if ms != 0 && ms % m == 0 {
                return write!(f, "{}{unit}", ms / m);
            }
        }
        write!(f, "{ms}ms")
    }
}

impl schemars::JsonSchema for Duration {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Duration".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "A duration: a number and a unit (`500ms`, `30s`, `10m`, `1h`, `7d`, `2w`), or seconds as a number.",
            "oneOf": [
                {"type": "string", "pattern": "^[0-9]+(\\.[0-9]+)?(ms|s|m|h|d|w)$"},
                {"type": "number", "minimum": 0}
            ]
        })
    }
}

impl Serialize for Duration {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Secs(f64),
            Text(String),
        }
        match Raw::deserialize(d)? {
            Raw::Secs(s) if s.is_finite() && (0.0..1e12).contains(&s) => Ok(Duration {
                ms: (s * 1000.0).round() as i64,
            }),
            Raw::Secs(s) => Err(serde::de::Error::custom(format!(
                "{s} is not a duration in seconds"
            ))),
            Raw::Text(t) => Duration::parse(&t).map_err(serde::de::Error::custom),
        }
    }
}

/// A point in time in a spec: a date (`2026-03-01`, midnight in the query's time zone;
/// as `to`, the end of that day), an RFC 3339 time, milliseconds since the epoch, or a
/// time relative to now: `now`, `today` and `yesterday` (dates in the time zone), `-30d`
/// (30 days before now).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(untagged)]
pub enum TimeSpec {
    /// Milliseconds since the Unix epoch.
    Ms(i64),
    /// A date or an RFC 3339 time.
    Text(String),
}

/// A filter of the audience: an event condition (`field`, `op`, `value`), or a behavioural one
/// (`did` / `did_not` a goal in the range).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Filter {
    /// Event field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<Field>,
    /// Operator (default `eq`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub op: Option<Op>,
    /// Value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<CondValue>,
    /// Keep units (visitors, or leads) that reached this goal in the range.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub did: Option<String>,
    /// Keep units that did not reach this goal in the range.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub did_not: Option<String>,
}

/// A filter, typed.
#[derive(Debug, Clone, PartialEq)]
pub enum FilterKind {
    /// Keep only events meeting the condition.
    Event(Condition),
    /// Keep units that did (true) or did not (false) reach the named goal.
    Behaviour(String, bool),
}

impl Filter {
    /// An event condition filter.
    pub fn condition(c: Condition) -> Filter {
        Filter {
            field: Some(c.field),
            op: Some(c.op),
            value: c.value,
            ..Filter::default()
        }
    }

    /// The typed filter, or why it is malformed.
    pub fn kind(&self, path: &str) -> Result<FilterKind, SpecError> {
        match (&self.field, &self.did, &self.did_not) {
            (Some(f), None, None) => {
                let c = Condition::new(f.clone(), self.op.unwrap_or_default(), self.value.clone());
                c.validate(path)?;
                Ok(FilterKind::Event(c))
            }
            (None, Some(g), None) if self.op.is_none() && self.value.is_none() => {
                Ok(FilterKind::Behaviour(g.clone(), true))
            }
            (None, None, Some(g)) if self.op.is_none() && self.value.is_none() => {
                Ok(FilterKind::Behaviour(g.clone(), false))
            }
            _ => Err(SpecError::new(
                path,
                "a filter is either {field, op, value} or {did: GOAL} or {did_not: GOAL}".into(),
            )),
        }
    }
}

/// The goal conversion report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GoalsSpec {
    /// Denominators to report (default `["visitor"]`).
    #[serde(default = "default_units")]
    pub units: Vec<Unit>,
    /// Goals to report, by name (default: every goal of the spec).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub goals: Vec<String>,
    /// Time series of each rate in buckets of this size.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<Interval>,
    /// Also run the previous period of equal length and compare.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub compare: bool,
    /// Rates per value of a field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub breakdown: Option<Breakdown>,
}

fn default_units() -> Vec<Unit> {
    vec![Unit::Visitor]
}

/// The cart abandonment report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CartSpec {
    /// Event that puts something in the cart (default `add_to_cart`).
    #[serde(default = "default_cart_event")]
    pub cart_event: String,
    /// Event of the purchase (default `purchase`).
    #[serde(default = "default_purchase_event")]
    pub purchase_event: String,
    /// An abandoned cart is recovered when its visitor purchases within this time of
    /// abandoning it (default 7 days).
    #[serde(default = "default_recovery")]
    pub recovery: Duration,
}

fn default_cart_event() -> String {
    "add_to_cart".into()
}
fn default_purchase_event() -> String {
    "purchase".into()
}
fn default_recovery() -> Duration {
    Duration::from_ms(7 * 86_400_000)
}

/// The checkout step drop-off report: a per-session funnel from the checkout's start
/// through each step to the purchase.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckoutSpec {
    /// Event that starts the checkout (default `begin_checkout`).
    #[serde(default = "default_checkout_start")]
    pub start_event: String,
    /// Event of each checkout step (default `checkout_step`).
    #[serde(default = "default_step_event")]
    pub step_event: String,
    /// Numeric property giving the step's number (default `step`).
    #[serde(default = "default_step_prop")]
    pub step_prop: String,
    /// Event that completes it (default `purchase`).
    #[serde(default = "default_purchase_event")]
    pub end_event: String,
}

fn default_checkout_start() -> String {
    "begin_checkout".into()
}
fn default_step_event() -> String {
    "checkout_step".into()
}
fn default_step_prop() -> String {
    "step".into()
}

/// The form analytics report, from the tracker's form events.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FormsSpec {
    /// Top N forms (default 10).
    #[serde(default = "default_ten")]
    pub limit: usize,
}

fn default_ten() -> usize {
    10
}

/// The pages report: pageviews, entries, exits, exit and bounce rates per page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PagesSpec {
    /// Top N pages by pageviews (default 10).
    #[serde(default = "default_ten")]
    pub limit: usize,
    /// One row per page (paths after the page grouping rules) rather than per path.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub grouped: bool,
}

/// The overview: visitors, sessions, pageviews, bounce rate, pages per session and
/// session duration, optionally per time bucket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OverviewSpec {
    /// Time series in buckets of this size.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<Interval>,
    /// The figures per value of a field (sources, campaigns, devices, countries, landing
    /// pages, …): each session counts under its first value, a visitor under each value
    /// of its sessions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub breakdown: Option<Breakdown>,
    /// Several breakdowns answered in the same pass over the timelines (the dashboard's
    /// sources, campaigns, devices and countries in one query): each as `breakdown` alone
    /// would give it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub breakdowns: Vec<Breakdown>,
}

impl OverviewSpec {
    /// Every breakdown: the single `breakdown` first, then `breakdowns` in order.
    pub fn all_breakdowns(&self) -> impl Iterator<Item = &Breakdown> {
        self.breakdown.iter().chain(&self.breakdowns)
    }
}

/// The analysis to run.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Analysis {
    /// Conversion rates per goal.
    Goals(GoalsSpec),
    /// A funnel.
    Funnel(FunnelSpec),
    /// Cart abandonment and recovery.
    CartAbandonment(CartSpec),
    /// Checkout step drop-off.
    Checkout(CheckoutSpec),
    /// Form starts, submissions, abandonment and field drop-off.
    Forms(FormsSpec),
    /// Per-page pageviews, entries, exits, exit and bounce rates.
    Pages(PagesSpec),
    /// Visitors, sessions, bounce rate, pages per session, duration.
    Overview(OverviewSpec),
    /// The behaviour flow: paths forward from a start or backward to an end.
    Paths(PathsSpec),
    /// Where units came from and went to around one node, or every pair of nodes.
    Transitions(TransitionsSpec),
    /// Which micro conversions are associated with the macro conversion.
    Influence(InfluenceSpec),
    /// The macro conversions credited to the touches before them, by five models.
    Attribution(AttributionSpec),
    /// How well micro rates in new visitors' first days predict the macro rate later,
    /// across cohorts of campaign × week.
    LeadingIndicators(LeadingSpec),
    /// An A/B test's variants compared on goals reached after exposure.
    Experiment(ExperimentSpec),
    /// How long a test would take per goal on the site's traffic, and which micro goals
    /// go with the macro goal.
    ExperimentPlan(PlanSpec),
    /// A funnel kept in the spec's (or the definitions file's) `funnels`, by name.
    SavedFunnel(SavedFunnel),
    /// Event names with their counts, and property keys with their top values.
    Events(EventsSpec),
}

/// Marks an error message that carries the path inside the analysis, so that
/// [`Query::from_json`] can report `analysis.steps[1].window` rather than `analysis`.
const INNER: char = '\u{1}';

impl<'de> Deserialize<'de> for Analysis {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Analysis, D::Error> {
        use serde::de::Error as _;
        let mut map = serde_json::Map::deserialize(d)?;
        let kind = match map.remove("type") {
            Some(serde_json::Value::String(s)) => s,
            Some(_) => return Err(D::Error::custom("`type` must be a string")),
            None => return Err(D::Error::custom("missing field `type`")),
        };
        let v = serde_json::Value::Object(map);
        fn inner<T: serde::de::DeserializeOwned, E: serde::de::Error>(
            v: serde_json::Value,
        ) -> Result<T, E> {
            serde_path_to_error::deserialize(v).map_err(|e| {
                let path = e.path().to_string();
                if path == "." {
                    E::custom(e.into_inner())
                } else {
                    E::custom(format!("{INNER}{path}{INNER}{}", e.into_inner()))
                }
            })
        }
        Ok(match kind.as_str() {
            "goals" => Analysis::Goals(inner(v)?),
            "funnel" => Analysis::Funnel(inner(v)?),
            "cart_abandonment" => Analysis::CartAbandonment(inner(v)?),
            "checkout" => Analysis::Checkout(inner(v)?),
            "forms" => Analysis::Forms(inner(v)?),
            "pages" => Analysis::Pages(inner(v)?),
            "overview" => Analysis::Overview(inner(v)?),
            "paths" => Analysis::Paths(inner(v)?),
            "transitions" => Analysis::Transitions(inner(v)?),
            "influence" => Analysis::Influence(inner(v)?),
            "attribution" => Analysis::Attribution(inner(v)?),
            "leading_indicators" => Analysis::LeadingIndicators(inner(v)?),
            "experiment" => Analysis::Experiment(inner(v)?),
            "experiment_plan" => Analysis::ExperimentPlan(inner(v)?),
            "saved_funnel" => Analysis::SavedFunnel(inner(v)?),
            "events" => Analysis::Events(inner(v)?),
            other => {
                return Err(D::Error::custom(format!(
                    "unknown analysis `{other}`: use goals, funnel, saved_funnel, checkout, cart_abandonment, forms, pages, overview, paths, transitions, influence, attribution, leading_indicators, experiment, experiment_plan or events"
                )));
            }
        })
    }
}

/// Joins an outer path and an error message that may carry an inner path.
fn spec_error(outer: &str, message: String) -> SpecError {
    let outer = if outer == "." { "" } else { outer };
    let mut parts = message.splitn(3, INNER);
    match (parts.next(), parts.next(), parts.next()) {
        (Some(_), Some(inner), Some(rest)) => {
            let path = if outer.is_empty() {
                inner.to_string()
            } else {
                format!("{outer}.{inner}")
            };
            SpecError::new(&path, rest.to_string())
        }
        _ => SpecError::new(outer, message),
    }
}

/// A reference to a named funnel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SavedFunnel {
    /// The funnel's name.
    pub name: String,
}

/// A complete query.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Query {
    /// Site.
    pub site: String,
    /// Start (inclusive).
    pub from: TimeSpec,
    /// End (inclusive; a date means the end of that day).
    pub to: TimeSpec,
    /// IANA time zone for dates and time buckets (default `UTC`).
    #[serde(default = "default_tz")]
    pub timezone: String,
    /// Filters of the audience (all must hold).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub filters: Vec<Filter>,
    /// Goal definitions, used by the analysis, funnel steps and `did` filters.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub goals: Vec<Goal>,
    /// Named funnels, for `{"type": "saved_funnel", "name": …}`.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub funnels: std::collections::BTreeMap<String, FunnelSpec>,
    /// Experiments by key: an `experiment` analysis of a key here takes what it leaves
    /// out from the definition (docs/experiments.md).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub experiments: std::collections::BTreeMap<String, ExperimentDef>,
    /// Page grouping rules, in order: a path is the page of the first rule it matches
    /// (docs/paths.md). Without any, the site's stored rules apply.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub page_groups: Vec<PageGroup>,
    /// Campaign spend, per day ([campaigns.md](../../../docs/campaigns.md)): a goal report
    /// broken down by `utm_campaign`, `utm_source` or `utm_medium` gains cost, cost per
    /// conversion and return on spend. Without any, the site's stored spend applies.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub spend: Vec<Spend>,
    /// Inactivity that ends a session (default 30 minutes).
    #[serde(default = "default_gap")]
    pub session_gap: Duration,
    /// What to compute.
    pub analysis: Analysis,
}

fn default_tz() -> String {
    "UTC".into()
}

fn default_gap() -> Duration {
    Duration::from_ms(30 * 60_000)
}

/// The checked, resolved form of a [`Query`]: times in milliseconds.
#[derive(Debug, Clone, PartialEq)]
pub struct Resolved {
    /// First millisecond (inclusive).
    pub from: i64,
    /// Last millisecond (inclusive).
    pub to: i64,
    /// Time zone.
    pub tz: chrono_tz::Tz,
    /// Typed filters.
    pub filters: Vec<FilterKind>,
}

/// A query checked and resolved once, ready for a backend: made by [`Query::plan`].
/// Its analysis is never [`Analysis::SavedFunnel`] (the saved funnel is replaced by its
/// definition), its times are absolute and its filters typed.
#[derive(Debug, Clone)]
pub struct Plan {
    query: Query,
    resolved: Resolved,
}

impl Plan {
    /// The spec, with a saved funnel replaced by its definition.
    pub fn query(&self) -> &Query {
        &self.query
    }

    /// Its resolved times and filters.
    pub fn resolved(&self) -> &Resolved {
        &self.resolved
    }

    /// The analysis to run.
    pub fn analysis(&self) -> &Analysis {
        &self.query.analysis
    }
}

impl Query {
    /// Reads a spec from JSON; errors name the offending field.
    pub fn from_json(s: &str) -> Result<Query, SpecError> {
        let de = &mut serde_json::Deserializer::from_str(s);
        serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            spec_error(&path, e.into_inner().to_string())
        })
    }

    /// Checks and resolves the spec once into the [`Plan`] a backend runs.
    pub fn plan(&self) -> Result<Plan, SpecError> {
        self.plan_at(chrono::Utc::now().timestamp_millis())
    }

    /// [`Query::plan`], with relative times taken from `now_ms`.
    pub fn plan_at(&self, now_ms: i64) -> Result<Plan, SpecError> {
        let resolved = self.resolve_at(now_ms)?;
        let mut query = self.clone();
        if let Analysis::SavedFunnel(SavedFunnel { name }) = &self.analysis {
            // `resolve_at` has checked that the funnel exists.
            if let Some(f) = self.funnels.get(name) {
                query.analysis = Analysis::Funnel(f.clone());
            }
        }
        if let Analysis::Experiment(x) = &self.analysis {
            query.analysis = Analysis::Experiment(self.experiment_spec(x));
        }
        Ok(Plan { query, resolved })
    }

    /// An experiment's spec with what it leaves out taken from its definition, if the
    /// query has one for its key.
    fn experiment_spec(&self, x: &ExperimentSpec) -> ExperimentSpec {
        match self.experiments.get(&x.key) {
            Some(d) => x.with_definition(d),
            None => x.clone(),
        }
    }

    /// Adds goals and funnels kept as code; a name defined twice is an error.
    pub fn merge_definitions(&mut self, d: Definitions) -> Result<(), SpecError> {
        for g in d.goals {
            if self.goals.iter().any(|x| x.name == g.name) {
                return Err(SpecError::new(
                    "goals",
                    format!(
                        "goal `{}` is defined both in the spec and in the definitions file",
                        g.name
                    ),
                ));
            }
            self.goals.push(g);
        }
        for (name, f) in d.funnels {
            if self.funnels.contains_key(&name) {
                return Err(SpecError::new(
                    "funnels",
                    format!(
                        "funnel `{name}` is defined both in the spec and in the definitions file"
                    ),
                ));
            }
            self.funnels.insert(name, f);
        }
        for (key, x) in d.experiments {
            if self.experiments.contains_key(&key) {
                return Err(SpecError::new(
                    "experiments",
                    format!(
                        "experiment `{key}` is defined both in the spec and in the definitions file"
                    ),
                ));
            }
            self.experiments.insert(key, x);
        }
        // Rules are an ordered list: the spec's own replace the file's.
        if self.page_groups.is_empty() {
            self.page_groups = d.page_groups;
        }
        Ok(())
    }

    /// Writes the spec as JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// Checks the whole spec and resolves times.
    pub fn resolve(&self) -> Result<Resolved, SpecError> {
        self.resolve_at(chrono::Utc::now().timestamp_millis())
    }

    /// [`Query::resolve`], with relative times (`now`, `today`, `-30d`) taken from
    /// `now_ms`.
    pub fn resolve_at(&self, now_ms: i64) -> Result<Resolved, SpecError> {
        if self.site.is_empty() {
            return Err(SpecError::new("site", "is empty".into()));
        }
        let tz: chrono_tz::Tz = self.timezone.parse().map_err(|_| {
            SpecError::new(
                "timezone",
                format!(
                    "unknown time zone `{}`: use an IANA name such as Europe/Berlin",
                    self.timezone
                ),
            )
        })?;
        let from =
            resolve_time(&self.from, tz, false, now_ms).map_err(|m| SpecError::new("from", m))?;
        let to = resolve_time(&self.to, tz, true, now_ms).map_err(|m| SpecError::new("to", m))?;
        if to < from {
            return Err(SpecError::new("to", "is before `from`".into()));
        }
        if self.session_gap.ms <= 0 || self.session_gap.ms > MAX_WINDOW_MS {
            return Err(SpecError::new(
                "session_gap",
                "must be positive and at most 3650 days".into(),
            ));
        }
        validate_goals(&self.goals, "goals")?;
        PageRules::new(&self.page_groups, "page_groups")?;
        for (i, s) in self.spend.iter().enumerate() {
            s.validate(&format!("spend[{i}]"))?;
        }
        for (name, f) in &self.funnels {
            check_name(&format!("funnels.{name}"), name)?;
            f.validate(&format!("funnels.{name}"))?;
        }
        let known = |name: &str, path: &str| -> Result<(), SpecError> {
            if self.goals.iter().any(|g| g.name == name) {
                Ok(())
            } else {
                Err(SpecError::new(
                    path,
                    format!("unknown goal `{name}`: define it in `goals`"),
                ))
            }
        };
        let mut filters = Vec::new();
        for (i, f) in self.filters.iter().enumerate() {
            let p = format!("filters[{i}]");
            let k = f.kind(&p)?;
            if let FilterKind::Behaviour(g, _) = &k {
                known(g, &p)?;
            }
            filters.push(k);
        }
        // A kept experiment's targeting narrows every query of it.
        if let Analysis::Experiment(x) = &self.analysis
            && let Some(d) = self.experiments.get(&x.key)
        {
            for (i, f) in d.targeting.iter().enumerate() {
                let p = format!("experiments.{}.targeting[{i}]", x.key);
                let k = f.kind(&p)?;
                if let FilterKind::Behaviour(g, _) = &k {
                    known(g, &p)?;
                }
                filters.push(k);
            }
        }
        match &self.analysis {
            Analysis::Goals(g) => {
                if g.units.is_empty() {
                    return Err(SpecError::new(
                        "analysis.units",
                        "name at least one unit".into(),
                    ));
                }
                if g.units.contains(&Unit::Attempt) {
                    return Err(SpecError::new(
                        "analysis.units",
                        "`attempt` is a funnel unit; goals use session, visitor or lead".into(),
                    ));
                }
                for (i, n) in g.goals.iter().enumerate() {
                    known(n, &format!("analysis.goals[{i}]"))?;
                }
                if g.goals.is_empty() && self.goals.is_empty() {
                    return Err(SpecError::new(
                        "goals",
                        "a goals report needs at least one goal definition".into(),
                    ));
                }
                if let Some(b) = &g.breakdown {
                    check_first_value_breakdown(b, "goal reports attribute each unit")?;
                }
                if let Some(iv) = g.interval {
                    check_buckets(from, to, iv)?;
                }
            }
            Analysis::SavedFunnel(SavedFunnel { name }) => {
                let Some(f) = self.funnels.get(name) else {
                    return Err(SpecError::new(
                        "analysis.name",
                        format!("no funnel named `{name}` in `funnels` (or the definitions file)"),
                    ));
                };
                let mut q = self.clone();
                q.analysis = Analysis::Funnel(f.clone());
                return q.resolve();
            }
            Analysis::Funnel(f) => {
                f.validate("analysis")?;
                for (p, s) in funnel_matchers(f, "analysis") {
                    if let Some(g) = &s.goal {
                        known(g, &p)?;
                    }
                }
                if let Some(iv) = f.trend {
                    check_buckets(from, to, iv)?;
                }
            }
            Analysis::Forms(FormsSpec { limit }) | Analysis::Pages(PagesSpec { limit, .. }) => {
                funnel::check_limit(*limit, "analysis")?;
            }
            Analysis::Paths(p) => {
                p.validate("analysis")?;
                for (a, s) in [("start", &p.start), ("end", &p.end)] {
                    for (i, s) in s
                        .iter()
                        .flat_map(|s| std::iter::once(&**s).chain(&s.any_of))
                        .enumerate()
                    {
                        if let Some(g) = &s.goal {
                            known(
                                g,
                                &format!(
                                    "analysis.{a}{}",
                                    if i > 0 {
                                        format!(".any_of[{}]", i - 1)
                                    } else {
                                        String::new()
                                    }
                                ),
                            )?;
                        }
                    }
                }
            }
            Analysis::Transitions(t) => {
                t.validate("analysis")?;
                if let Some(n) = &t.node
                    && n.kind == NodeKind::Goal
                {
                    known(&n.name, "analysis.node.name")?;
                }
            }
            Analysis::Influence(i) => {
                i.validate(&self.goals, "analysis")?;
            }
            Analysis::Attribution(a) => {
                a.validate(&self.goals, "analysis")?;
            }
            Analysis::LeadingIndicators(l) => {
                l.validate(&self.goals, "analysis")?;
            }
            Analysis::Experiment(x) => {
                let x = self.experiment_spec(x);
                x.validate(&self.goals, "analysis")?;
                x.validate_funnels(&self.funnels, "analysis")?;
                if let Some(iv) = x.trend {
                    check_buckets(from, to, iv)?;
                }
            }
            Analysis::ExperimentPlan(x) => {
                x.validate(&self.goals, "analysis")?;
            }
            Analysis::Overview(o) => {
                if let Some(iv) = o.interval {
                    check_buckets(from, to, iv)?;
                }
                if o.breakdowns.len() > MAX_BREAKDOWNS {
                    return Err(SpecError::new(
                        "analysis.breakdowns",
                        format!("at most {MAX_BREAKDOWNS} breakdowns in one overview"),
                    ));
                }
                for b in o.all_breakdowns() {
                    check_first_value_breakdown(b, "the overview attributes each session")?;
                }
            }
            Analysis::Events(e) => {
                e.validate("analysis")?;
                if let Some(iv) = e.interval {
                    check_buckets(from, to, iv)?;
                }
            }
            Analysis::CartAbandonment(c) => {
                if c.cart_event.is_empty() || c.purchase_event.is_empty() {
                    return Err(SpecError::new(
                        "analysis",
                        "event names must not be empty".into(),
                    ));
                }
            }
            Analysis::Checkout(c) => {
                if c.start_event.is_empty() || c.step_event.is_empty() || c.end_event.is_empty() {
                    return Err(SpecError::new(
                        "analysis",
                        "event names must not be empty".into(),
                    ));
                }
            }
        }
        Ok(Resolved {
            from,
            to,
            tz,
            filters,
        })
    }
}

/// The most buckets a time series may have.
pub const MAX_BUCKETS: i64 = 5000;

/// Most breakdowns in one overview query.
pub const MAX_BREAKDOWNS: usize = 16;

/// A breakdown of a report that counts each unit under its first value: a limit, and no
/// other attribution.
fn check_first_value_breakdown(b: &Breakdown, what: &str) -> Result<(), SpecError> {
    funnel::check_limit(b.limit, "analysis.breakdown")?;
    if b.attribution != Attribution::First || b.step.is_some() {
        return Err(SpecError::new(
            "analysis.breakdown.attribution",
            format!("{what} to its first value"),
        ));
    }
    Ok(())
}

fn check_buckets(from: i64, to: i64, iv: Interval) -> Result<(), SpecError> {
    let approx = match iv {
        Interval::Hour => 3_600_000,
        Interval::Day => 86_400_000,
        Interval::Week => 7 * 86_400_000,
        Interval::Month => 28 * 86_400_000,
    };
    if (to - from) / approx > MAX_BUCKETS {
        return Err(SpecError::new(
            "analysis.interval",
            format!("more than {MAX_BUCKETS} buckets: choose a larger interval or a shorter range"),
        ));
    }
    Ok(())
}

fn resolve_time(t: &TimeSpec, tz: chrono_tz::Tz, end: bool, now_ms: i64) -> Result<i64, String> {
    let today = || {
        tz.timestamp_millis_opt(now_ms)
            .single()
            .map(|d| d.date_naive())
            .ok_or_else(|| "the current time is out of range".to_string())
    };
    match t {
        TimeSpec::Ms(ms) => Ok(*ms),
        TimeSpec::Text(s) => {
            let s = s.trim();
            let day = match s {
                "now" => return Ok(now_ms),
                "today" => Some(today()?),
                "yesterday" => Some(today()?.pred_opt().ok_or("date out of range")?),
                _ => NaiveDate::parse_from_str(s, "%Y-%m-%d").ok(),
            };
            if let Some(rel) = s.strip_prefix('-') {
                let d = Duration::parse(rel)?;
                return Ok(now_ms.saturating_sub(d.ms));
            }
            if let Some(d) = day {
                let day = if end {
                    d.succ_opt().ok_or("date out of range")?
                } else {
                    d
                };
                let start = local_midnight(tz, day).ok_or("date out of range")?;
                Ok(if end { start - 1 } else { start })
            } else {
                parse_timestamp(s).ok_or_else(|| {
                    format!(
                        "`{s}` is not a time: write a date (2026-03-01), an RFC 3339 time, milliseconds, `now`, `today`, `yesterday`, or a time before now such as `-30d`"
                    )
                })
            }
        }
    }
}

/// The first instant of a local date in a time zone (skipping a DST gap at midnight).
pub fn local_midnight(tz: chrono_tz::Tz, d: NaiveDate) -> Option<i64> {
    let mut t = d.and_hms_opt(0, 0, 0)?;
    for _ in 0..4 {
        if let Some(x) = tz.from_local_datetime(&t).earliest() {
            return Some(x.timestamp_millis());
        }
        t += chrono::Duration::minutes(30);
    }
    None
}

/// Goals and funnels kept as code: a TOML file per site.
///
/// ```toml
/// [[goals]]
/// name = "Purchase"
/// type = "event"
/// event = "purchase"
/// conversion = "macro"
/// value = "revenue"
///
/// [funnels.checkout]
/// window = "1d"
/// steps = [{ event = "add_to_cart" }, { path = "/checkout" }, { goal = "Purchase" }]
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Definitions {
    /// Goals.
    #[serde(default)]
    pub goals: Vec<Goal>,
    /// Named funnels.
    #[serde(default)]
    pub funnels: std::collections::BTreeMap<String, FunnelSpec>,
    /// Page grouping rules, in order (docs/paths.md).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub page_groups: Vec<PageGroup>,
    /// Experiments by key (docs/experiments.md).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub experiments: std::collections::BTreeMap<String, ExperimentDef>,
}

impl Definitions {
    /// Reads and checks a TOML definitions file; errors name the field (and line).
    pub fn from_toml(s: &str) -> Result<Definitions, SpecError> {
        let de = toml::Deserializer::parse(s)
            .map_err(|e| SpecError::new("", e.to_string().trim().to_string()))?;
        let d: Definitions = serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            SpecError::new(
                if path == "." { "" } else { &path },
                e.into_inner().to_string().trim().to_string(),
            )
        })?;
        d.validate()?;
        Ok(d)
    }

    /// Checks every goal, funnel and experiment, and that they name only goals defined
    /// here.
    pub fn validate(&self) -> Result<(), SpecError> {
        validate_goals(&self.goals, "goals")?;
        for (key, x) in &self.experiments {
            let p = format!("experiments.{key}");
            check_name(&p, key)?;
            x.validate(&self.goals, &p)?;
            x.validate_funnels(&self.funnels, &p)?;
        }
        PageRules::new(&self.page_groups, "page_groups")?;
        for (name, f) in &self.funnels {
            let p = format!("funnels.{name}");
            check_name(&p, name)?;
            f.validate(&p)?;
            for (path, s) in funnel_matchers(f, &p) {
                if let Some(g) = &s.goal
                    && !self.goals.iter().any(|x| &x.name == g)
                {
                    return Err(SpecError::new(&path, format!("unknown goal `{g}`")));
                }
            }
        }
        Ok(())
    }
}
