//! Fields and conditions: what a filter, a goal or a funnel step tests on one event.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::SpecError;
use crate::Dim;

/// What a condition or a breakdown reads from an event.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Field {
    /// A string dimension (`device`, `path`, `utm_campaign`, …).
    Dim(Dim),
    /// A custom property, written `props.KEY`.
    Prop(String),
    /// The page: the path after the page grouping rules (the path itself when no rule
    /// matches).
    Page,
    /// The path of the session's first pageview (breakdowns only).
    LandingPage,
    /// The path of the session's last pageview (breakdowns only).
    ExitPage,
}

impl Field {
    /// Whether the field can be tested on a single event.
    pub fn is_event_field(&self) -> bool {
        matches!(self, Field::Dim(_) | Field::Prop(_) | Field::Page)
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Field::Dim(d) => f.write_str(d.as_str()),
            Field::Prop(k) => write!(f, "props.{k}"),
            Field::Page => f.write_str("page"),
            Field::LandingPage => f.write_str("landing_page"),
            Field::ExitPage => f.write_str("exit_page"),
        }
    }
}

impl FromStr for Field {
    type Err = String;
    fn from_str(s: &str) -> Result<Field, String> {
        if let Some(k) = s.strip_prefix("props.") {
            if k.is_empty() {
                return Err("`props.` needs a property name, e.g. `props.plan`".into());
            }
            return Ok(Field::Prop(k.to_string()));
        }
        match s {
            "landing_page" | "entry_page" => return Ok(Field::LandingPage),
            "exit_page" => return Ok(Field::ExitPage),
            "page" => return Ok(Field::Page),
            _ => {}
        }
        s.parse::<Dim>().map(Field::Dim).map_err(|_| {
            format!(
                "unknown field `{s}`: use a dimension ({}), `props.NAME`, `page`, `landing_page` or `exit_page`",
                Dim::ALL.map(|d| d.as_str()).join(", ")
            )
        })
    }
}

impl schemars::JsonSchema for Field {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Field".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "description": "An event field: a dimension (`name`, `path`, `device`, `utm_campaign`, …), `props.KEY`, `page` (the path after the page grouping rules), `landing_page` (or `entry_page`) or `exit_page`.",
        })
    }
}

impl Serialize for Field {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Field {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Field, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// A comparison.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    /// Equal to the value (string, number or boolean, compared with its own type).
    #[default]
    Eq,
    /// Not equal (true when the field is missing).
    Neq,
    /// One of a list of values.
    In,
    /// None of a list of values (true when missing).
    NotIn,
    /// String contains the value.
    Contains,
    /// String does not contain the value (true when missing).
    NotContains,
    /// String starts with the value.
    Prefix,
    /// Whole-string glob: `*` matches any run of characters.
    Wildcard,
    /// Regular expression (Rust `regex` syntax, unanchored).
    Regex,
    /// Does not match the regular expression (true when missing).
    NotRegex,
    /// Number greater than.
    Gt,
    /// Number greater than or equal.
    Gte,
    /// Number less than.
    Lt,
    /// Number less than or equal.
    Lte,
    /// The field is set.
    Exists,
    /// The field is not set.
    Missing,
}

impl Op {
    /// Whether the condition holds on an event where the field is missing.
    pub fn holds_on_missing(self) -> bool {
        matches!(
            self,
            Op::Neq | Op::NotIn | Op::NotContains | Op::NotRegex | Op::Missing
        )
    }

    fn needs(self) -> Needs {
        match self {
            Op::Eq | Op::Neq => Needs::Scalar,
            Op::In | Op::NotIn => Needs::List,
            Op::Contains
            | Op::NotContains
            | Op::Prefix
            | Op::Wildcard
            | Op::Regex
            | Op::NotRegex => Needs::Str,
            Op::Gt | Op::Gte | Op::Lt | Op::Lte => Needs::Num,
            Op::Exists | Op::Missing => Needs::Nothing,
        }
    }
}

enum Needs {
    Scalar,
    List,
    Str,
    Num,
    Nothing,
}

/// A scalar value in a condition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(untagged)]
pub enum Scalar {
    /// A string.
    Str(String),
    /// A number.
    Num(f64),
    /// A boolean.
    Bool(bool),
}

/// A condition's value: one scalar or a list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(untagged)]
pub enum CondValue {
    /// One value.
    One(Scalar),
    /// A list (for `in` and `not_in`).
    List(Vec<Scalar>),
}

/// One test on one event: `field op value`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Condition {
    /// What is tested.
    pub field: Field,
    /// How (default `eq`).
    #[serde(default)]
    pub op: Op,
    /// Against what (absent for `exists` and `missing`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<CondValue>,
}

impl Condition {
    /// A condition `field op value`.
    pub fn new(field: Field, op: Op, value: Option<CondValue>) -> Condition {
        Condition { field, op, value }
    }

    /// `field eq "value"`.
    pub fn eq_str(field: Field, value: &str) -> Condition {
        Condition::new(
            field,
            Op::Eq,
            Some(CondValue::One(Scalar::Str(value.into()))),
        )
    }

    /// Checks the value's shape against the operator, and compiles regular expressions.
    pub fn validate(&self, path: &str) -> Result<(), SpecError> {
        let err = |m: String| Err(SpecError::new(path, m));
        if !self.field.is_event_field() {
            return err(format!(
                "`{}` can only be used as a breakdown, not in a condition",
                self.field
            ));
        }
        let is_dim = matches!(self.field, Field::Dim(_) | Field::Page);
        match (self.op.needs(), &self.value) {
            (Needs::Nothing, None) => Ok(()),
            (Needs::Nothing, Some(_)) => err(format!("`{:?}` takes no value", self.op)),
            (_, None) => err(format!("`{}` needs a `value`", op_name(self.op))),
            (Needs::Scalar, Some(CondValue::One(v))) => {
                if is_dim && !matches!(v, Scalar::Str(_)) {
                    return err(format!(
                        "`{}` is a string dimension: give a string",
                        self.field
                    ));
                }
                Ok(())
            }
            (Needs::Scalar, Some(CondValue::List(_))) => err(format!(
                "`{}` takes one value; use `in` for a list",
                op_name(self.op)
            )),
            (Needs::List, Some(CondValue::List(l))) => {
                if l.is_empty() {
                    return err("the list is empty".into());
                }
                if is_dim && l.iter().any(|v| !matches!(v, Scalar::Str(_))) {
                    return err(format!(
                        "`{}` is a string dimension: give strings",
                        self.field
                    ));
                }
                Ok(())
            }
            (Needs::List, Some(CondValue::One(_))) => {
                err(format!("`{}` takes a list of values", op_name(self.op)))
            }
            (Needs::Str, Some(CondValue::One(Scalar::Str(s)))) => {
                if matches!(self.op, Op::Regex | Op::NotRegex) {
                    regex::Regex::new(s).map_err(|e| {
                        SpecError::new(path, format!("invalid regular expression: {e}"))
                    })?;
                }
                Ok(())
            }
            (Needs::Str, Some(_)) => err(format!("`{}` takes a string", op_name(self.op))),
            (Needs::Num, Some(CondValue::One(Scalar::Num(n)))) if n.is_finite() => {
                if is_dim {
                    return err(format!(
                        "`{}` is a string dimension: numeric comparisons apply to properties",
                        self.field
                    ));
                }
                Ok(())
            }
            (Needs::Num, Some(_)) => err(format!("`{}` takes a number", op_name(self.op))),
        }
    }
}

/// The JSON name of an operator.
pub fn op_name(op: Op) -> &'static str {
    match op {
        Op::Eq => "eq",
        Op::Neq => "neq",
        Op::In => "in",
        Op::NotIn => "not_in",
        Op::Contains => "contains",
        Op::NotContains => "not_contains",
        Op::Prefix => "prefix",
        Op::Wildcard => "wildcard",
        Op::Regex => "regex",
        Op::NotRegex => "not_regex",
        Op::Gt => "gt",
        Op::Gte => "gte",
        Op::Lt => "lt",
        Op::Lte => "lte",
        Op::Exists => "exists",
        Op::Missing => "missing",
    }
}

/// Translates a glob (`*` = any run of characters) into an anchored regular expression.
pub fn wildcard_regex(glob: &str) -> String {
    let mut out = String::from("^");
    for (i, part) in glob.split('*').enumerate() {
        if i > 0 {
            out.push_str(".*");
        }
        out.push_str(&regex::escape(part));
    }
    out.push('$');
    out
}

/// A field's value on one event, borrowed. A missing property, or an empty dimension,
/// is `None`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ValueRef<'a> {
    /// A string.
    Str(&'a str),
    /// A number.
    Num(f64),
    /// A boolean.
    Bool(bool),
}

impl<'a> ValueRef<'a> {
    /// The value of a stored property.
    pub fn of_prop(v: &'a crate::PropValue) -> ValueRef<'a> {
        match v {
            crate::PropValue::Str(s) => ValueRef::Str(s),
            crate::PropValue::Num(n) => ValueRef::Num(*n),
            crate::PropValue::Bool(b) => ValueRef::Bool(*b),
        }
    }

    /// The value of a dimension (`None` when empty).
    pub fn of_dim(s: &'a str) -> Option<ValueRef<'a>> {
        (!s.is_empty()).then_some(ValueRef::Str(s))
    }

    /// The value as text, the form breakdowns show: strings as they are, numbers as in
    /// JSON, booleans as `true` / `false`.
    pub fn to_text(self) -> String {
        match self {
            ValueRef::Str(s) => s.to_string(),
            ValueRef::Num(n) => serde_json::Number::from_f64(n)
                .map(|x| x.to_string())
                .unwrap_or_else(|| n.to_string()),
            ValueRef::Bool(b) => b.to_string(),
        }
    }

    /// The value as a person reads it in a label: a whole number without a decimal
    /// point (`checkout_step 2`, not `checkout_step 2.0`), anything else as
    /// [`ValueRef::to_text`].
    pub fn to_label(self) -> String {
        match self {
            ValueRef::Num(n) if n.fract() == 0.0 && n.abs() < 9.0e15 => (n as i64).to_string(),
            v => v.to_text(),
        }
    }
}

/// A condition ready to test values: regular expressions and globs compiled once.
#[derive(Debug, Clone)]
pub struct ValueTest {
    op: Op,
    values: Vec<Scalar>,
    regex: Option<regex::Regex>,
}

impl ValueTest {
    /// Compiles a validated condition.
    pub fn new(c: &Condition) -> ValueTest {
        let values = match &c.value {
            None => Vec::new(),
            Some(CondValue::One(v)) => vec![v.clone()],
            Some(CondValue::List(l)) => l.clone(),
        };
        let regex = match (c.op, values.first()) {
            (Op::Regex | Op::NotRegex, Some(Scalar::Str(s))) => regex::Regex::new(s).ok(),
            (Op::Wildcard, Some(Scalar::Str(s))) => regex::Regex::new(&wildcard_regex(s)).ok(),
            _ => None,
        };
        ValueTest {
            op: c.op,
            values,
            regex,
        }
    }

    /// Whether the condition holds for this value (`None`: the field is missing).
    ///
    /// Values compare with their own type only: the string `"5"` does not equal the
    /// number 5. Negated operators are the exact negation of their positive form, and
    /// hold on a missing field; every other operator fails on a missing field.
    pub fn test(&self, v: Option<ValueRef<'_>>) -> bool {
        let Some(v) = v else {
            return self.op.holds_on_missing();
        };
        match self.op {
            Op::Exists => true,
            Op::Missing => false,
            Op::Eq | Op::In => self.values.iter().any(|s| scalar_eq(s, v)),
            Op::Neq | Op::NotIn => !self.values.iter().any(|s| scalar_eq(s, v)),
            Op::Contains | Op::NotContains | Op::Prefix => {
                let hit = match (v, self.values.first()) {
                    (ValueRef::Str(x), Some(Scalar::Str(p))) => {
                        if self.op == Op::Prefix {
                            x.starts_with(p.as_str())
                        } else {
                            x.contains(p.as_str())
                        }
                    }
                    _ => false,
                };
                hit != (self.op == Op::NotContains)
            }
            Op::Wildcard | Op::Regex | Op::NotRegex => {
                let hit = match (v, &self.regex) {
                    (ValueRef::Str(x), Some(r)) => r.is_match(x),
                    _ => false,
                };
                hit != (self.op == Op::NotRegex)
            }
            Op::Gt | Op::Gte | Op::Lt | Op::Lte => match (v, self.values.first()) {
                (ValueRef::Num(x), Some(Scalar::Num(t))) => match self.op {
                    Op::Gt => x > *t,
                    Op::Gte => x >= *t,
                    Op::Lt => x < *t,
                    _ => x <= *t,
                },
                _ => false,
            },
        }
    }
}

fn scalar_eq(s: &Scalar, v: ValueRef<'_>) -> bool {
    match (s, v) {
        (Scalar::Str(a), ValueRef::Str(b)) => a == b,
        (Scalar::Num(a), ValueRef::Num(b)) => *a == b,
        (Scalar::Bool(a), ValueRef::Bool(b)) => *a == b,
        _ => false,
    }
}
