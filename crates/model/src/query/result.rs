//! Results of the analyses: what both backends return for a query spec, serialised as
//! the JSON of `cairn query --json` and the HTTP API.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{Conversion, Role, Unit};

/// A proportion with its Wilson 95% interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Rate {
    /// Numerator.
    pub num: u64,
    /// Denominator.
    pub den: u64,
    /// num / den (0 when den is 0).
    pub rate: f64,
    /// Lower end of the 95% interval.
    pub low: f64,
    /// Upper end of the 95% interval.
    pub high: f64,
}

/// A difference of two rates (this period minus the other) with its 95% interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Diff {
    /// Difference of the rates.
    pub diff: f64,
    /// Lower end of the 95% interval (Newcombe's hybrid score method).
    pub low: f64,
    /// Upper end.
    pub high: f64,
}

/// A total monetary value in one currency.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Money {
    /// ISO 4217 code.
    pub currency: String,
    /// Total value.
    pub total: f64,
    /// Average per counted conversion.
    pub per_conversion: f64,
}

/// Distribution of times (milliseconds).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct TimeStats {
    /// Number of values.
    pub count: u64,
    /// 25th percentile.
    pub p25_ms: i64,
    /// Median.
    pub median_ms: i64,
    /// 75th percentile.
    pub p75_ms: i64,
    /// 90th percentile.
    pub p90_ms: i64,
    /// Mean.
    pub mean_ms: f64,
    /// Counts per bin.
    pub histogram: Vec<HistBin>,
}

/// One histogram bin: values in `[from_ms, to_ms)` (no upper end for the last).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct HistBin {
    /// Label, e.g. `1m–5m`.
    pub label: String,
    /// Lower end (inclusive).
    pub from_ms: i64,
    /// Upper end (exclusive), none for the last bin.
    pub to_ms: Option<i64>,
    /// Number of values.
    pub count: u64,
}

/// The number of units in the range, per unit kind.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct UnitTotal {
    /// Unit.
    pub unit: Unit,
    /// Units with at least one event in the range (after filters).
    pub total: u64,
}

/// One goal's rate for one unit kind.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct UnitRate {
    /// Unit.
    pub unit: Unit,
    /// Converting units / all units.
    pub rate: Rate,
    /// The same in the previous period (when compared).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<Rate>,
    /// This period minus the previous one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change: Option<Diff>,
}

/// One goal's row of the report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct GoalRow {
    /// Goal name.
    pub name: String,
    /// Micro or macro.
    pub conversion: Conversion,
    /// Milestone or secondary.
    pub role: Role,
    /// Conversions, counted as the goal says (once per unit, session, visitor, or every
    /// occurrence).
    pub conversions: u64,
    /// Conversions in the previous period (when compared).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_conversions: Option<u64>,
    /// Rates, one per requested unit.
    pub rates: Vec<UnitRate>,
    /// Value of the counted conversions, per currency.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub value: Vec<Money>,
}

/// One time bucket of a goal report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct GoalsBucket {
    /// Bucket start (ms).
    pub start: i64,
    /// Bucket start in the query's time zone, e.g. `2026-03-01` or `2026-03-01 14:00`.
    pub label: String,
    /// Units active in the bucket, per requested unit.
    pub totals: Vec<u64>,
    /// `rates[goal][unit]`, goals in report order.
    pub rates: Vec<Vec<Rate>>,
}

/// One value of a breakdown in a goal report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct GoalsBreakdownRow {
    /// The value; `(none)` when unset, `(other)` for values beyond the limit.
    pub value: String,
    /// Units with this value, per requested unit.
    pub totals: Vec<u64>,
    /// `rates[goal][unit]`.
    pub rates: Vec<Vec<Rate>>,
    /// Per goal, the value of its counted conversions under this value, per currency
    /// (when the first unit is a session or a visitor, and some goal has a value).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<BTreeMap<String, f64>>,
    /// The spend of the range on this value, in the spend's currency (breakdowns by
    /// campaign, source or medium of a query with spend); none when none was imported for
    /// it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost: Option<f64>,
    /// Per goal: `cost` ÷ the converting units (of the first unit); none without a cost
    /// or a conversion.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cost_per_conversion: Vec<Option<f64>>,
    /// Return on spend: the value of the report's first macro goal with a value, in the
    /// spend's currency, ÷ `cost`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub return_on_spend: Option<f64>,
}

/// The spend of a goal report's range.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SpendSummary {
    /// The currency of every cost.
    pub currency: String,
    /// All the spend of the range.
    pub total: f64,
    /// Spend on no value of the breakdown field (a row without a campaign, say): in the
    /// total, in no row.
    pub unattributed: f64,
}

/// The goal conversion report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct GoalsResult {
    /// Units in the range.
    pub totals: Vec<UnitTotal>,
    /// One row per goal.
    pub goals: Vec<GoalRow>,
    /// Time series (when an interval was asked).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub series: Vec<GoalsBucket>,
    /// The breakdown field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub breakdown_by: Option<String>,
    /// Breakdown rows, largest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub breakdown: Vec<GoalsBreakdownRow>,
    /// The previous period compared with, `[from, to]` in ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_period: Option<[i64; 2]>,
    /// The spend joined to the breakdown (campaign, source or medium breakdowns of a
    /// query with spend in the range).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spend: Option<SpendSummary>,
}

/// One step of a funnel result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct FunnelStepResult {
    /// Label.
    pub label: String,
    /// Whether the step may be skipped.
    pub optional: bool,
    /// Units that reached the step.
    pub count: u64,
    /// Open funnels: units whose first step in the funnel is this one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entrances: Option<u64>,
    /// Units that came here from the previous (required) step / units at that step.
    pub from_previous: Rate,
    /// Units at the previous step that did not reach this one.
    pub dropped: u64,
    /// dropped / units at the previous step.
    pub drop_off: f64,
    /// count / units at step 1 (the funnel's conversion to this step).
    pub from_start: Rate,
    /// Time from the previous step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_from_previous: Option<TimeStats>,
    /// Time from step 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_from_start: Option<TimeStats>,
}

/// One value of a funnel breakdown.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct FunnelBreakdownRow {
    /// The value (`(none)`, `(other)` as in goal reports).
    pub value: String,
    /// Units reaching each step.
    pub counts: Vec<u64>,
    /// Last step / first step.
    pub conversion: Rate,
}

/// One bucket of a funnel trend (units by the date of their first step).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct FunnelTrendPoint {
    /// Bucket start (ms).
    pub start: i64,
    /// Bucket label in the query's time zone.
    pub label: String,
    /// Units reaching each step.
    pub counts: Vec<u64>,
    /// Last step / first step.
    pub conversion: Rate,
}

/// A funnel result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct FunnelResult {
    /// Unit counted.
    pub unit: Unit,
    /// Steps.
    pub steps: Vec<FunnelStepResult>,
    /// Units removed because every attempt reaching their level was excluded.
    pub excluded: u64,
    /// The breakdown field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub breakdown_by: Option<String>,
    /// Breakdown rows, by units at step 1, largest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub breakdown: Vec<FunnelBreakdownRow>,
    /// Conversion by first-step date.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub trend: Vec<FunnelTrendPoint>,
    /// The funnel's flow, when asked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flow: Option<FunnelFlow>,
}

/// A funnel against the paths units really took.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct FunnelFlow {
    /// Per step: what the units that reached the previous required step but not this
    /// one did next, after the event of their last step: the next page or event, or the
    /// exit; then `other`. Sums to the step's `dropped` (empty for step 1 and optional
    /// steps).
    pub dropped_next: Vec<Vec<NodeUnits>>,
    /// Units that did the last step at all, through the funnel or not.
    pub converters: u64,
    /// Per step: converters that did it before they first did the last step (the last:
    /// every converter). `converters - reached_before[j]` skipped step j.
    pub reached_before: Vec<u64>,
    /// Converters that went through the funnel: the last required step's count.
    pub in_order: u64,
    /// Per pair of consecutive required steps (the first pair is steps 1 → 2 when both
    /// are required): the pages and events that are no step, between the two steps'
    /// events, among the units that completed the funnel; each counted once per unit.
    pub between: Vec<FlowGap>,
    /// A suggested funnel: the milestones (goals with the `milestone` role, or pages
    /// when no goal has it) that at least half the converters reached before
    /// converting, in the order they usually came.
    pub suggested: Vec<SuggestedStep>,
}

/// What sits between two steps of a funnel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct FlowGap {
    /// The earlier step (1-based).
    pub from_step: usize,
    /// The later step (1-based).
    pub to_step: usize,
    /// The most frequent nodes between them, then `other`.
    pub nodes: Vec<NodeUnits>,
}

/// One step of a suggested funnel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SuggestedStep {
    /// The milestone.
    pub node: PathNode,
    /// Converters that reached it before converting / converters.
    pub share: f64,
    /// Those converters.
    pub units: u64,
}

/// The cart abandonment report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct CartResult {
    /// Carts: sessions with at least one add-to-cart.
    pub carts: u64,
    /// Carts purchased in the same session.
    pub purchased: u64,
    /// Carts not purchased in their session.
    pub abandoned: u64,
    /// abandoned / carts.
    pub abandonment: Rate,
    /// Abandoned carts whose visitor purchased within the recovery time.
    pub recovered: u64,
    /// recovered / abandoned.
    pub recovery: Rate,
    /// Time from abandoning to the recovering purchase.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_to_recover: Option<TimeStats>,
}

/// One field of a form.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct FormFieldRow {
    /// Field name.
    pub field: String,
    /// Form starts that touched this field.
    pub touched: u64,
    /// Abandoned starts whose last touched field was this one.
    pub last_before_abandon: u64,
    /// Time spent in the field (until the next form event).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<TimeStats>,
}

/// One form.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct FormRow {
    /// Form id.
    pub form: String,
    /// Form starts (first interaction with the form in a session).
    pub starts: u64,
    /// Starts followed by a submit in the same session.
    pub submissions: u64,
    /// submissions / starts.
    pub submission_rate: Rate,
    /// (starts − submissions) / starts.
    pub abandonment: Rate,
    /// Time from start to submit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_to_submit: Option<TimeStats>,
    /// Fields, in order of first touch (most touched first on ties).
    pub fields: Vec<FormFieldRow>,
}

/// The form analytics report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct FormsResult {
    /// Forms by starts, largest first.
    pub forms: Vec<FormRow>,
}

/// One page of the pages report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PageRow {
    /// Path (the page, when the report is `grouped`).
    pub path: String,
    /// The page this path belongs to by the grouping rules, when one matches (not when
    /// `grouped`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// Pageviews.
    pub pageviews: u64,
    /// Unique visitors with a pageview of it.
    pub visitors: u64,
    /// Sessions that began on it.
    pub entries: u64,
    /// Sessions whose last pageview was it.
    pub exits: u64,
    /// exits / pageviews.
    pub exit_rate: Rate,
    /// Bounced sessions among the entries on it.
    pub bounce_rate: Rate,
}

/// The pages report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PagesResult {
    /// Pages by pageviews, largest first.
    pub pages: Vec<PageRow>,
}

/// Overview figures for a period or a bucket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct OverviewFigures {
    /// Unique visitors.
    pub visitors: u64,
    /// Sessions.
    pub sessions: u64,
    /// Pageviews.
    pub pageviews: u64,
    /// Events of every kind.
    pub events: u64,
    /// Bounced sessions / sessions.
    pub bounce_rate: Rate,
    /// Pageviews / sessions.
    pub pages_per_session: f64,
    /// Mean session duration.
    pub mean_duration_ms: f64,
    /// Median session duration.
    pub median_duration_ms: i64,
}

/// One bucket of the overview.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct OverviewBucket {
    /// Bucket start (ms).
    pub start: i64,
    /// Label in the query's time zone.
    pub label: String,
    /// Figures of the sessions that began in the bucket (visitors: those with such a
    /// session).
    pub figures: OverviewFigures,
}

/// The overview.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct OverviewResult {
    /// The whole range.
    pub figures: OverviewFigures,
    /// Per bucket, when asked.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub series: Vec<OverviewBucket>,
    /// The breakdown field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub breakdown_by: Option<String>,
    /// Breakdown rows, most visitors first; the rest summed into "(other)" (its visitors
    /// may count a visitor more than once).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub breakdown: Vec<OverviewBreakdownRow>,
    /// The spec's `breakdowns`, in its order, each as `breakdown` alone would give it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub breakdowns: Vec<OverviewBreakdown>,
}

/// One of an overview's `breakdowns`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct OverviewBreakdown {
    /// The breakdown field.
    pub by: String,
    /// Rows, most visitors first; the rest summed into "(other)".
    pub rows: Vec<OverviewBreakdownRow>,
}

/// The overview's figures for one value of the breakdown field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct OverviewBreakdownRow {
    /// The value ("(none)" for sessions without one).
    pub value: String,
    /// Figures of the sessions whose first value this is (visitors: those with such a
    /// session).
    pub figures: OverviewFigures,
}

/// What a node of a path is.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum PathNodeKind {
    /// A page (a path after the page grouping rules).
    Page,
    /// An event, by name.
    Event,
    /// A goal.
    Goal,
    /// Every node of the step not listed, summed.
    Other,
    /// The unit ended: no further node.
    Exit,
    /// The unit began here (backward paths, previous nodes of transitions); its name is
    /// the source of the unit's first event (`(direct)` without one).
    Entrance,
}

/// One node of a path.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, schemars::JsonSchema,
)]
pub struct PathNode {
    /// What it is.
    pub kind: PathNodeKind,
    /// Its page, event or goal name; `(other)`, `(exit)`, or an entrance's source.
    pub name: String,
}

/// A node and the units (or times) that went through it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct NodeUnits {
    /// The node.
    pub node: PathNode,
    /// Units at the node (for transitions: times).
    pub count: u64,
    /// Those of the nodes listed beside it under `other` (other rows only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nodes: Option<u64>,
}

/// One step of the behaviour flow.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PathStep {
    /// 1 is the start (forward) or the end (backward).
    pub step: usize,
    /// Units that reached this step: the sum of `nodes` (the `other` row included).
    pub units: u64,
    /// The top nodes by units, then an `other` row when nodes were left out.
    pub nodes: Vec<NodeUnits>,
    /// Units that were at the previous step and went no further: exits (forward) or
    /// entrances (backward). `units + ended` is the previous step's `units`.
    pub ended: u64,
}

/// A flow between nodes of consecutive steps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PathLink {
    /// The step of `from`; `to` is at the next step.
    pub step: usize,
    /// A node of step `step` (or its `other`).
    pub from: PathNode,
    /// A node of step `step + 1`, its `other`, or the exit (entrance, backward).
    pub to: PathNode,
    /// Units.
    pub units: u64,
}

/// A complete sequence of nodes and the units that followed it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PathSequence {
    /// The nodes in time order: forward from the start to the exit, backward from the
    /// entrance to the end.
    pub nodes: Vec<PathNode>,
    /// Whether the sequence is whole. A longer one is cut after `steps` nodes (forward:
    /// the unit went on; backward: it began earlier).
    pub complete: bool,
    /// Units.
    pub units: u64,
    /// units / the units followed (forward: that reached the start; backward: the
    /// converters).
    pub share: f64,
    /// Median time from the sequence's first node to its last.
    pub median_ms: i64,
}

/// The behaviour flow.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PathsResult {
    /// `forward` (from a start) or `backward` (to an end).
    pub direction: String,
    /// The unit followed.
    pub unit: Unit,
    /// Units in the range with at least one node.
    pub units: u64,
    /// Units followed: those that reached the start (or the end); step 1's units.
    pub followed: u64,
    /// Steps 1 to `steps`.
    pub steps: Vec<PathStep>,
    /// Flows between consecutive steps.
    pub links: Vec<PathLink>,
    /// Units at the last step that went further (forward) or began earlier (backward).
    pub beyond: u64,
    /// The most frequent sequences.
    pub sequences: Vec<PathSequence>,
}

/// A pair of consecutive nodes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct NodePair {
    /// The first node, or the entrance.
    pub from: PathNode,
    /// The next node, or the exit.
    pub to: PathNode,
    /// Times.
    pub count: u64,
}

/// Transitions of one node (or all pairs).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct TransitionsResult {
    /// The unit.
    pub unit: Unit,
    /// Times the node was passed (every node, without one).
    pub occurrences: u64,
    /// Units that passed it.
    pub units: u64,
    /// What came just before: nodes, and entrances by source; then `other`. Sums to
    /// `occurrences`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub previous: Vec<NodeUnits>,
    /// What came just after: nodes and the exit; then `other`. Sums to `occurrences`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub next: Vec<NodeUnits>,
    /// Without a node: every pair of a node and what came next (the exit included), most
    /// frequent first, then an `(other)` → `(other)` row. Sums to `occurrences`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pairs: Vec<NodePair>,
}

/// A query's result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum QueryResult {
    /// Goal report.
    Goals(GoalsResult),
    /// Funnel.
    Funnel(FunnelResult),
    /// Cart abandonment.
    CartAbandonment(CartResult),
    /// Checkout drop-off.
    Checkout(FunnelResult),
    /// Forms.
    Forms(FormsResult),
    /// Pages.
    Pages(PagesResult),
    /// Overview.
    Overview(OverviewResult),
    /// Behaviour flow.
    Paths(PathsResult),
    /// Transitions.
    Transitions(TransitionsResult),
    /// Influence of micro conversions on the macro conversion.
    Influence(InfluenceResult),
    /// Attribution of the macro conversions.
    Attribution(AttributionResult),
    /// Leading indicators of the macro conversion.
    LeadingIndicators(LeadingResult),
    /// An experiment's results.
    Experiment(ExperimentResult),
    /// A test's plan.
    ExperimentPlan(PlanResult),
    /// Event names and their properties.
    Events(EventsResult),
}

/// Conversions (and value) credited to a touch by one model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Credit {
    /// Conversions credited (fractions add up across touches to every conversion).
    pub conversions: f64,
    /// Share of all conversions.
    pub share: f64,
    /// Value credited, per currency.
    pub value: std::collections::BTreeMap<String, f64>,
}

/// The data-driven (Markov chain) credit of a touch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct MarkovCredit {
    /// The removal effect: the share of the conversion probability lost when the touch
    /// is removed from every path.
    pub removal_effect: f64,
    /// Conversions and value credited: the removal effects normalised to add up to 1.
    #[serde(flatten)]
    pub credit: Credit,
    /// The share's 95% bootstrap interval (percentiles); none without resamples.
    pub low: Option<f64>,
    /// Upper end.
    pub high: Option<f64>,
}

/// One touch's credit under each model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct AttributionRow {
    /// The touch: a goal's name, a field's value, `(none)` (a conversion with no touch
    /// before it) or `(other)`.
    pub touch: String,
    /// Converting units with the touch on their path.
    pub paths: u64,
    /// All to the first touch.
    pub first_touch: Credit,
    /// All to the last touch.
    pub last_touch: Credit,
    /// Equal parts to every touch.
    pub linear: Credit,
    /// 40% to the first, 40% to the last, 20% shared by those between (one touch: all;
    /// two: half each).
    pub position: Credit,
    /// The Markov chain removal effect.
    pub markov: MarkovCredit,
}

/// The attribution report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct AttributionResult {
    /// The macro goal.
    pub goal: String,
    /// The unit.
    pub unit: Unit,
    /// What the touches are: `goals`, or a field.
    pub by: String,
    /// Units followed (their paths feed the Markov model).
    pub units: u64,
    /// Converting units: each unit's first conversion is credited.
    pub conversions: u64,
    /// The value of those conversions, per currency.
    pub value: std::collections::BTreeMap<String, f64>,
    /// The probability that a path converts, from the Markov chain.
    pub conversion_probability: f64,
    /// Bootstrap resamples behind the Markov intervals.
    pub bootstrap: u32,
    /// Touches by the converting units whose path they are on (most first, then by
    /// name), then `(other)`.
    pub touches: Vec<AttributionRow>,
}

/// A ratio of two rates (`with / without`: the relative lift plus one) with its 95%
/// interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Ratio {
    /// The ratio.
    pub ratio: f64,
    /// Lower end of the 95% interval.
    pub low: f64,
    /// Upper end of the 95% interval.
    pub high: f64,
}

/// What a candidate is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CandidateKind {
    /// A goal of the spec.
    Goal,
    /// An event name.
    Event,
}

/// The Mantel–Haenszel estimate over strata of who the units are.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Stratified {
    /// The Mantel–Haenszel rate ratio with its Greenland–Robins 95% interval; none when
    /// no stratum has converters without the candidate.
    pub lift: Option<Ratio>,
    /// Two-sided p-value of the Cochran–Mantel–Haenszel test (no continuity correction).
    pub p_value: f64,
    /// Strata with units both with and without the candidate (the others carry no
    /// information about it).
    pub informative_strata: u64,
}

/// One candidate of the influence report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct InfluenceRow {
    /// The goal's or event's name.
    pub name: String,
    /// Goal or event.
    pub kind: CandidateKind,
    /// A goal's role: a milestone of the path (whose lift is high by construction) or a
    /// secondary action.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
    /// Units that did it (before converting, or without converting): the support.
    pub support: u64,
    /// The macro rate among units that did it.
    pub with: Rate,
    /// The macro rate among the others (those that did it only after converting
    /// included).
    pub without: Rate,
    /// `with − without`, with Newcombe's hybrid score interval.
    pub diff: Diff,
    /// `with / without`, with a log-scale (Katz) interval; none when no unit without it
    /// converted.
    pub lift: Option<Ratio>,
    /// Two-sided p-value of the two-proportion z test (pooled; the χ² test without
    /// correction); none when a group is empty.
    pub p_value: Option<f64>,
    /// The same adjusted for who the units are, when the report is stratified.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stratified: Option<Stratified>,
    /// Benjamini–Hochberg q-value over the ranked candidates, from the stratified p-value
    /// when there is one, else the raw one; none when not ranked.
    pub q_value: Option<f64>,
    /// Whether it is ranked: support at least `min_support` and units without it.
    pub ranked: bool,
    /// Ranked, q-value under 0.05 and an interval of the (stratified) lift wholly above
    /// or below 1.
    pub significant: bool,
    /// Share of the converting units that did it first.
    pub converters_share: Rate,
    /// Units that did it only after their first conversion: not counted as having done
    /// it (with `order = before`).
    pub after_only: u64,
    /// Median time from the first time a converting unit did it to its first conversion.
    pub median_to_goal_ms: Option<i64>,
}

/// The influence report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct InfluenceResult {
    /// The macro goal.
    pub goal: String,
    /// The unit.
    pub unit: Unit,
    /// Which actions counted.
    pub order: crate::query::Precedence,
    /// What the comparison means, in one sentence for the reader.
    pub precedence: String,
    /// Units, and those that converted.
    pub converted: Rate,
    /// The fields of the strata (empty: not stratified).
    pub stratified_by: Vec<String>,
    /// Strata with at least one unit.
    pub strata: u64,
    /// Units a candidate needs to be ranked.
    pub min_support: u64,
    /// Candidates ranked (and tested).
    pub tested: u64,
    /// Ranked candidates by the lower end of their (stratified) lift's interval, then
    /// the others by support.
    pub candidates: Vec<InfluenceRow>,
}

/// One indicator: a goal's early rate, set against the macro rate at the horizon across
/// the fitted cohorts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Indicator {
    /// The goal.
    pub goal: String,
    /// Whether it is the macro goal itself (its early rate: the baseline a micro goal
    /// has to beat).
    pub baseline: bool,
    /// Cohorts fitted (the points of the correlation).
    pub cohorts: u64,
    /// Pearson's correlation between the cohorts' early rate of the goal and their macro
    /// rate at the horizon; none under 3 cohorts or when either rate is the same in all.
    pub r: Option<f64>,
    /// Lower end of r's 95% interval (Fisher's z); none under 4 cohorts.
    pub low: Option<f64>,
    /// Upper end.
    pub high: Option<f64>,
    /// Two-sided p-value of r = 0 (Student's t, cohorts − 2 degrees of freedom).
    pub p_value: Option<f64>,
    /// Benjamini–Hochberg q-value across the indicators with a p-value.
    pub q_value: Option<f64>,
    /// The least-squares line: macro rate = intercept + slope × early rate.
    pub slope: Option<f64>,
    /// Its intercept.
    pub intercept: Option<f64>,
    /// q under 0.05 and r's interval clear of 0.
    pub significant: bool,
}

/// How far a cohort's windows have run by the end of the range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CohortStatus {
    /// Every visitor's horizon has passed: the macro rate is final.
    Complete,
    /// Every visitor's early window has passed, not every horizon: the macro rate is so
    /// far, and the prediction is what the indicator says it will be.
    Early,
    /// Some visitors' early windows are still running.
    TooRecent,
}

/// A prediction of a cohort's macro rate at the horizon.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Prediction {
    /// The indicator it comes from (the best-ranked significant one).
    pub indicator: String,
    /// The predicted macro rate.
    pub rate: f64,
    /// Lower end of the 95% prediction interval (of one cohort, not of the line), at
    /// least 0.
    pub low: f64,
    /// Upper end, at most 1.
    pub high: f64,
}

/// A cohort: the new visitors of one value of the field in one week (or day).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Cohort {
    /// The value of the field on the visitors' first session (`(none)` without one).
    pub value: String,
    /// The period of their first visit: its first day (a week's Monday), in the query's
    /// time zone.
    pub period: String,
    /// New visitors: first seen in the range that week.
    pub visitors: u64,
    /// How far its windows have run.
    pub status: CohortStatus,
    /// Whether it is a point of the fits: complete, with at least `min_visitors`.
    pub fitted: bool,
    /// Per indicator (by goal name), the share of the visitors who reached it within
    /// their early window (so far, when too recent).
    pub early: std::collections::BTreeMap<String, Rate>,
    /// The share who reached the macro goal within the horizon (so far, unless complete).
    pub converted: Rate,
    /// The macro rate the best significant indicator predicts, once the early window is
    /// over.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub predicted: Option<Prediction>,
}

/// The leading indicators report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct LeadingResult {
    /// The macro goal.
    pub goal: String,
    /// The field a cohort is a value of.
    pub by: String,
    /// The cohorts' period of first visit: week or day.
    pub period: crate::query::Interval,
    /// The early window, in days from the first visit.
    pub early_days: u32,
    /// The horizon, in days from the first visit.
    pub horizon_days: u32,
    /// Cohorts need this many new visitors to be fitted.
    pub min_visitors: u64,
    /// New visitors in the range (their first event in it).
    pub visitors: u64,
    /// New visitors of the values not listed.
    pub other_visitors: u64,
    /// Cohorts fitted.
    pub fitted: u64,
    /// Indicators, the best first: by the lower end of r's interval, then by r.
    pub indicators: Vec<Indicator>,
    /// Cohorts: values by new visitors (most first), each value's periods in order.
    pub cohorts: Vec<Cohort>,
}

/// A variant's units.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct VariantUnits {
    /// The variant.
    pub name: String,
    /// Units exposed to it (and to no other variant).
    pub units: u64,
    /// Its share of the units.
    pub share: f64,
    /// The share it was given (the spec's weights, or equal).
    pub expected_share: f64,
}

/// The sample ratio check: were units split as the weights say?
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SampleRatio {
    /// Pearson's χ² of the units per variant against the weights; none when units
    /// reached a variant the weights give no traffic (a mismatch whatever the numbers).
    pub chi_square: Option<f64>,
    /// Its p-value (variants − 1 degrees of freedom); 1 with one variant.
    pub p_value: f64,
    /// p under 0.001: the assignment or the tracking is broken, and no verdict holds.
    pub mismatch: bool,
}

/// The always-valid comparison: holds at every look, however often one checks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Sequential {
    /// Lower end of the 95% confidence sequence of the difference (variant − control).
    pub low: f64,
    /// Upper end.
    pub high: f64,
    /// The always-valid p-value (mixture sequential probability ratio test).
    pub p_value: f64,
    /// The same adjusted (Holm) across every metric and variant of the experiment.
    pub adjusted_p: f64,
}

/// What the comparison says so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// A variant has fewer than `min_units` units: no verdict yet.
    TooEarly,
    /// The units were not split as the weights say: fix that before reading results.
    CheckAssignment,
    /// Better than the control (sequential, adjusted p under 0.05).
    Better,
    /// Worse than the control.
    Worse,
    /// No difference shown yet: keep running, or stop at the planned size.
    NoDifferenceYet,
}

/// A variant against the control on one metric.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Comparison {
    /// The sequential (default) inference.
    pub sequential: Sequential,
    /// The difference with Newcombe's interval: valid only at a size fixed in advance.
    pub diff: Diff,
    /// The ratio of rates with its Katz interval (fixed size, as `diff`).
    pub lift: Option<Ratio>,
    /// The two-proportion z test's p-value (fixed size, as `diff`).
    pub p_value: Option<f64>,
    /// With `cuped`: the difference adjusted for what units did before their exposure.
    /// The verdict is then this one's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cuped: Option<CupedComparison>,
    /// What it says.
    pub verdict: Verdict,
}

/// A variant against the control on one metric, adjusted by CUPED.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct CupedComparison {
    /// The adjusted difference (variant − control).
    pub diff: f64,
    /// Lower end of its 95% interval at a size fixed in advance (Welch's t on the
    /// adjusted values).
    pub low: f64,
    /// Upper end.
    pub high: f64,
    /// Welch's two-sided p-value (fixed size, as the interval).
    pub p_value: f64,
    /// The always-valid comparison of the adjusted values; its adjusted p is Holm's
    /// across the metrics and variants. None when neither side varies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sequential: Option<Sequential>,
}

/// How CUPED adjusted a metric: the covariate is whether the unit reached the same goal
/// before its first exposure, within the range.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct CupedFit {
    /// θ: the slope of the metric on the covariate, over every variant's units.
    pub theta: f64,
    /// Units that reached the goal before their first exposure, every variant together.
    pub with_history: u64,
    /// The share of the metric's variance the adjustment removes (the squared
    /// correlation of the covariate and the metric). Under 0.05 it helps little: new
    /// visitors have no history, and a range that starts with the experiment gives none.
    pub variance_reduction: f64,
}

/// One variant on one metric.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct VariantMetric {
    /// The variant.
    pub variant: String,
    /// Units that reached the goal after their first exposure, of the variant's units.
    pub rate: Rate,
    /// The posterior probability that it has the highest rate (Beta(1, 1) priors).
    pub prob_best: f64,
    /// The rate lost, in expectation, by choosing it over the best (posterior).
    pub expected_loss: f64,
    /// Against the control; none for the control itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vs_control: Option<Comparison>,
}

/// A variant against the control as it stood at the end of a period.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct TrendBand {
    /// The difference so far (variant − control).
    pub diff: f64,
    /// Its sequential 95% interval so far.
    pub low: f64,
    /// Upper end.
    pub high: f64,
    /// The always-valid p-value so far (not adjusted).
    pub p_value: f64,
}

/// The experiment as it stood at the end of one period: every count cumulative.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct TrendPoint {
    /// The period's first day, in the query's time zone.
    pub period: String,
    /// Per variant (in the order of `variants`): units exposed by the period's end.
    pub units: Vec<u64>,
    /// Per variant: those that converted by then.
    pub converted: Vec<u64>,
    /// Per variant: against the control (none for the control, or with an empty side).
    pub vs_control: Vec<Option<TrendBand>>,
}

/// One metric of an experiment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ExperimentMetric {
    /// The goal.
    pub goal: String,
    /// Whether it is the primary metric (the first).
    pub primary: bool,
    /// Whether it is a guardrail: a goal that must not get worse (`worse` is the alarm).
    pub guardrail: bool,
    /// A funnel's completion, not a goal (`goal` is the funnel's name).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub funnel: bool,
    /// Every variant, the control first.
    pub variants: Vec<VariantMetric>,
    /// With `trend`: the comparison at the end of each period.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub trend: Vec<TrendPoint>,
    /// With `cuped`: how the metric was adjusted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cuped: Option<CupedFit>,
}

/// A variant against the control on a mean (revenue per unit).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct MeanComparison {
    /// The difference of means (variant − control).
    pub diff: f64,
    /// Lower end of Welch's 95% interval (valid at a size fixed in advance).
    pub low: f64,
    /// Upper end.
    pub high: f64,
    /// Welch's t test's two-sided p-value (fixed size, as the interval).
    pub p_value: f64,
    /// Welch–Satterthwaite degrees of freedom.
    pub df: f64,
    /// The always-valid comparison (none while the control's mean is 0 or a side has
    /// no spread); its adjusted p is Holm's across the revenue comparisons.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sequential: Option<Sequential>,
    /// What it says.
    pub verdict: Verdict,
}

/// One variant's revenue per unit in one currency.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct VariantRevenue {
    /// The variant.
    pub variant: String,
    /// Its units (every one counts; those that paid nothing as 0).
    pub units: u64,
    /// Revenue after the first exposure, its units together, in the currency.
    pub total: f64,
    /// Revenue per unit.
    pub mean: f64,
    /// The standard deviation of revenue per unit.
    pub sd: f64,
    /// Against the control (Welch); none for the control itself or below two units.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vs_control: Option<MeanComparison>,
}

/// Revenue per unit after the first exposure, in one currency (never summed across
/// currencies).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RevenueMetric {
    /// ISO 4217 code.
    pub currency: String,
    /// Every variant, the control first.
    pub variants: Vec<VariantRevenue>,
}

/// An experiment's results.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ExperimentResult {
    /// The experiment's key.
    pub key: String,
    /// The unit.
    pub unit: crate::query::Unit,
    /// The control variant.
    pub control: String,
    /// Variants, the control first, then by name.
    pub variants: Vec<VariantUnits>,
    /// Units exposed to more than one variant: left out (and a sign of broken
    /// assignment when many).
    pub mixed: u64,
    /// The sample ratio check.
    pub sample_ratio: SampleRatio,
    /// The relative change the sequential test is tuned to.
    pub mde: f64,
    /// Units every variant needs before a verdict.
    pub min_units: u64,
    /// Metrics, the primary first.
    pub metrics: Vec<ExperimentMetric>,
    /// Revenue per unit, per currency (by code), when any unit paid after exposure.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub revenue: Vec<RevenueMetric>,
}

/// One goal of a test's plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PlanRow {
    /// The goal.
    pub goal: String,
    /// Whether it is the macro goal.
    pub is_macro: bool,
    /// Its rate over the range: the baseline.
    pub baseline: Rate,
    /// Units per variant for the fixed-size test (checked once, at that size); none
    /// when the baseline or the changed rate is not strictly between 0 and 1.
    pub units_fixed: Option<u64>,
    /// Units per variant for the sequential test (checked as often as one likes).
    pub units_sequential: Option<u64>,
    /// Days the sequential test needs at the range's traffic.
    pub days_sequential: Option<f64>,
    /// Days the fixed-size test needs.
    pub days_fixed: Option<f64>,
    /// For a micro goal: the macro rate of units that reached it (before converting)
    /// over that of the others, with its 95% interval (the influence report's lift).
    pub macro_lift: Option<Ratio>,
    /// A micro goal associated with the macro goal (significant in the influence report,
    /// its lift's interval above 1, or with no lift because every converter reached it,
    /// its difference's) that shows a change sooner than it: a proxy worth testing on.
    pub proxy: bool,
}

/// A test's plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PlanResult {
    /// The macro goal, if the spec has one.
    pub goal: Option<String>,
    /// The unit.
    pub unit: crate::query::Unit,
    /// The relative change planned for.
    pub mde: f64,
    /// The chance to detect it.
    pub power: f64,
    /// Variants, the control included.
    pub variants: u32,
    /// The share of the traffic in the test.
    pub share: f64,
    /// The days of traffic measured: from the range's first event to its last (at least
    /// 1, at most the range), so that a site tracked for a week is planned on that week.
    pub days: f64,
    /// Units in the range.
    pub units: u64,
    /// Units a day (`units / days`), all of the traffic.
    pub units_per_day: f64,
    /// Goals: the macro goal first, then the proxies by days needed, then the others.
    pub metrics: Vec<PlanRow>,
}

/// One time bucket of the events explorer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct EventsBucket {
    /// Bucket start (ms).
    pub start: i64,
    /// Bucket start in the query's time zone, e.g. `2026-03-01` or `2026-03-01 14:00`.
    pub label: String,
}

/// One event name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct EventNameRow {
    /// The event name.
    pub name: String,
    /// Events of this name in the range (after the filters).
    pub events: u64,
    /// Sessions with at least one.
    pub sessions: u64,
    /// Visitors with at least one.
    pub visitors: u64,
    /// Events per bucket, aligned with the result's `buckets` (with `interval`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub series: Option<Vec<u64>>,
}

/// What is beyond a list's limit.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
pub struct EventsOther {
    /// Names left out.
    pub names: u64,
    /// Their events.
    pub events: u64,
}

/// One value of a property.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PropertyValueRow {
    /// The value as stored: a string, a number or a boolean.
    pub value: crate::query::Scalar,
    /// Events carrying the key with this value.
    pub events: u64,
    /// Visitors with at least one such event.
    pub visitors: u64,
}

/// One property key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PropertyRow {
    /// The key (`props.KEY` in conditions and breakdowns).
    pub key: String,
    /// Events carrying the key.
    pub events: u64,
    /// Visitors with at least one.
    pub visitors: u64,
    /// Distinct values.
    pub distinct: u64,
    /// The top values by events, then by value (strings, then numbers, then booleans).
    pub values: Vec<PropertyValueRow>,
    /// Events whose value is not among `values`.
    pub other_events: u64,
}

/// The events and properties explorer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct EventsResult {
    /// The buckets of every name's `series` (with `interval`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub buckets: Vec<EventsBucket>,
    /// The top names by events, then by name.
    pub names: Vec<EventNameRow>,
    /// The names beyond the limit, and their events.
    pub other: EventsOther,
    /// Distinct event names in the range.
    pub distinct_names: u64,
    /// Events in the range (after the filters), of every name.
    pub events: u64,
    /// The event name the properties are restricted to (`event` of the spec).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event: Option<String>,
    /// Property keys by events, then by key (with `properties`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub properties: Option<Vec<PropertyRow>>,
}
