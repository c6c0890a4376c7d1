//! Behaviour flow: page grouping rules, the `paths` and `transitions` analyses. The
//! semantics are in `docs/paths.md`.

use serde::{Deserialize, Serialize};

use super::cond::Condition;
use super::funnel::{Step, check_limit};
use super::{SpecError, Unit};

/// How a page group's pattern matches a path.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum GroupMatch {
    /// The whole path, where `*` matches any run of characters and `:name` one path
    /// segment (no `/`), captured as `name`: `/product/*`, `/blog/:slug`.
    #[default]
    Wildcard,
    /// A regular expression (Rust `regex` syntax, unanchored); named groups
    /// (`(?P<name>…)`) are captures.
    Regex,
}

/// One page grouping rule: paths matching `pattern` are the page `name`. A site's rules
/// are an ordered list; a path takes the first rule that matches, and a path no rule
/// matches is its own page. `name` may insert captures: `Docs: {section}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PageGroup {
    /// The page's name, with `{capture}` for a capture of the pattern.
    pub name: String,
    /// The pattern.
    pub pattern: String,
    /// How the pattern matches (default `wildcard`).
    #[serde(default, rename = "match")]
    pub kind: GroupMatch,
}

/// The most page grouping rules a site or a spec may have.
pub const MAX_PAGE_GROUPS: usize = 500;

/// Page grouping rules, checked and compiled: the path → page function.
#[derive(Debug, Clone)]
pub struct PageRules {
    rules: Vec<(regex::Regex, Vec<Piece>)>,
}

#[derive(Debug, Clone)]
enum Piece {
    Text(String),
    Capture(String),
}

impl PageGroup {
    /// The rule's regular expression.
    fn regex_source(&self) -> String {
        match self.kind {
            GroupMatch::Regex => self.pattern.clone(),
            GroupMatch::Wildcard => {
                let mut out = String::from("^");
                let mut rest = self.pattern.as_str();
                while let Some(c) = rest.chars().next() {
                    if c == '*' {
                        out.push_str(".*");
                        rest = &rest[1..];
                    } else if c == ':'
                        && rest[1..]
                            .chars()
                            .next()
                            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                    {
                        let n = rest[1..]
                            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                            .map_or(rest.len(), |i| i + 1);
                        out.push_str(&format!("(?P<{}>[^/]+)", &rest[1..n]));
                        rest = &rest[n..];
                    } else {
                        out.push_str(&regex::escape(&c.to_string()));
                        rest = &rest[c.len_utf8()..];
                    }
                }
                out.push('$');
                out
            }
        }
    }

    fn compile(&self, path: &str) -> Result<(regex::Regex, Vec<Piece>), SpecError> {
        let err = |field: &str, m: String| SpecError::new(&format!("{path}.{field}"), m);
        if self.name.trim().is_empty() || self.name.len() > 200 {
            return Err(err("name", "must be 1 to 200 characters".into()));
        }
        if self.pattern.is_empty() || self.pattern.len() > 1000 {
            return Err(err("pattern", "must be 1 to 1000 characters".into()));
        }
        let re = regex::RegexBuilder::new(&self.regex_source())
            .size_limit(1 << 20)
            .build()
            .map_err(|e| err("pattern", format!("invalid pattern: {e}")))?;
        let names: Vec<&str> = re.capture_names().flatten().collect();
        let mut pieces = Vec::new();
        let mut rest = self.name.as_str();
        while let Some(i) = rest.find('{') {
            if i > 0 {
                pieces.push(Piece::Text(rest[..i].to_string()));
            }
            let Some(j) = rest[i..].find('}') else {
                return Err(err("name", "a `{` without its `}`".into()));
            };
            let cap = &rest[i + 1..i + j];
            if !names.contains(&cap) {
                return Err(err(
                    "name",
                    format!(
                        "`{{{cap}}}` is not a capture of the pattern (its captures: {})",
                        if names.is_empty() {
                            "none".to_string()
                        } else {
                            names.join(", ")
                        }
                    ),
                ));
            }
            pieces.push(Piece::Capture(cap.to_string()));
            rest = &rest[i + j + 1..];
        }
        if !rest.is_empty() {
            pieces.push(Piece::Text(rest.to_string()));
        }
        Ok((re, pieces))
    }
}

impl PageRules {
    /// Checks and compiles an ordered list of rules; errors name the rule at `path[i]`.
    pub fn new(groups: &[PageGroup], path: &str) -> Result<PageRules, SpecError> {
        if groups.len() > MAX_PAGE_GROUPS {
            return Err(SpecError::new(
                path,
                format!("at most {MAX_PAGE_GROUPS} page grouping rules"),
            ));
        }
        let rules = groups
            .iter()
            .enumerate()
            .map(|(i, g)| g.compile(&format!("{path}[{i}]")))
            .collect::<Result<_, _>>()?;
        Ok(PageRules { rules })
    }

    /// Whether there are no rules (every path is its own page).
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The page of a path: the name of the first rule matching it, or `None` when no
    /// rule does (the path is its own page).
    pub fn group(&self, path: &str) -> Option<String> {
        for (re, pieces) in &self.rules {
            if let Some(c) = re.captures(path) {
                let mut out = String::new();
                for p in pieces {
                    match p {
                        Piece::Text(t) => out.push_str(t),
                        Piece::Capture(n) => out.push_str(c.name(n).map_or("", |m| m.as_str())),
                    }
                }
                return Some(out);
            }
        }
        None
    }

    /// The page of a path: its group, or the path itself.
    pub fn page(&self, path: &str) -> String {
        self.group(path).unwrap_or_else(|| path.to_string())
    }
}

/// What becomes a node of a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum NodeKind {
    /// Pageviews, as pages (paths after the page grouping rules).
    Page,
    /// Other events, by name (the tracker's passive `scroll`, `engagement` and
    /// `experiment_exposure` are never nodes).
    Event,
    /// Goals of the spec, at the event where they are reached (an event reaching several
    /// is the first of them in the spec's order).
    Goal,
}

fn default_nodes() -> Vec<NodeKind> {
    vec![NodeKind::Page]
}

fn default_path_steps() -> usize {
    5
}

fn default_path_limit() -> usize {
    8
}

fn default_true() -> bool {
    true
}

fn default_session() -> Unit {
    Unit::Session
}

/// The most steps of a path.
pub const MAX_PATH_STEPS: usize = 20;

/// The behaviour flow: the sequences of nodes (pages, events, goals) units go through,
/// forward from a start or backward to an end, step by step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PathsSpec {
    /// Forward from the first event matching this (a page, a path pattern, an event or a
    /// goal) in each unit. Without `start` or `end`: forward from each unit's first node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<Box<Step>>,
    /// Backward to the first event matching this in each unit ("paths to purchase").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end: Option<Box<Step>>,
    /// Steps shown, the start (or end) included: 2 to 20 (default 5).
    #[serde(default = "default_path_steps")]
    pub steps: usize,
    /// `session` (default) or `visitor`.
    #[serde(default = "default_session")]
    pub unit: Unit,
    /// What becomes a node (default `["page"]`).
    #[serde(default = "default_nodes")]
    pub nodes: Vec<NodeKind>,
    /// Only events meeting these conditions become nodes (e.g. `props.category`).
    #[serde(default, rename = "where", skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// A node repeated immediately (a reload) counts once (default true).
    #[serde(default = "default_true")]
    pub collapse_repeats: bool,
    /// Nodes shown per step, the rest summed into `other` (default 8, at most 1000).
    #[serde(default = "default_path_limit")]
    pub limit: usize,
    /// Complete sequences listed, most frequent first (default 10, at most 1000).
    #[serde(default = "default_sequences")]
    pub sequences: usize,
}

fn default_sequences() -> usize {
    10
}

impl PathsSpec {
    /// Checks the spec (goal names are checked by the query).
    pub fn validate(&self, path: &str) -> Result<(), SpecError> {
        if self.start.is_some() && self.end.is_some() {
            return Err(SpecError::new(
                &format!("{path}.end"),
                "a path goes forward from `start` or backward to `end`, not both".into(),
            ));
        }
        for (a, s) in [("start", &self.start), ("end", &self.end)] {
            if let Some(s) = s {
                if s.within.is_some() || s.optional {
                    return Err(SpecError::new(
                        &format!("{path}.{a}"),
                        "`within` and `optional` belong to funnel steps".into(),
                    ));
                }
                s.validate_matcher(&format!("{path}.{a}"), false)?;
            }
        }
        if !(2..=MAX_PATH_STEPS).contains(&self.steps) {
            return Err(SpecError::new(
                &format!("{path}.steps"),
                format!("must be between 2 and {MAX_PATH_STEPS}"),
            ));
        }
        check_what_is_followed(self.unit, &self.nodes, &self.conditions, path)?;
        check_limit(self.limit, path)?;
        if self.sequences > 1000 {
            return Err(SpecError::new(
                &format!("{path}.sequences"),
                "must be at most 1000".into(),
            ));
        }
        Ok(())
    }
}

/// What paths and transitions follow: the unit (a session or a visitor), the node kinds
/// (at least one) and the conditions on nodes.
fn check_what_is_followed(
    unit: Unit,
    nodes: &[NodeKind],
    conditions: &[Condition],
    path: &str,
) -> Result<(), SpecError> {
    if !matches!(unit, Unit::Session | Unit::Visitor) {
        return Err(SpecError::new(
            &format!("{path}.unit"),
            "paths follow a `session` or a `visitor`".into(),
        ));
    }
    if nodes.is_empty() {
        return Err(SpecError::new(
            &format!("{path}.nodes"),
            "name at least one of page, event, goal".into(),
        ));
    }
    for (i, c) in conditions.iter().enumerate() {
        c.validate(&format!("{path}.where[{i}]"))?;
    }
    Ok(())
}

fn default_transitions_limit() -> usize {
    20
}

/// Transitions: for one node, where units came from (previous nodes, or an entrance by
/// source) and where they went (next nodes, or an exit); without a node, every
/// from → to pair.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TransitionsSpec {
    /// The node: `{"kind": "page", "name": "Product page"}`, an `event` or a `goal` (its
    /// kind is a node kind whatever `nodes` says). Without it, every pair of consecutive
    /// nodes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<NodeRef>,
    /// `session` (default) or `visitor`.
    #[serde(default = "default_session")]
    pub unit: Unit,
    /// What becomes a node (default `["page"]`).
    #[serde(default = "default_nodes")]
    pub nodes: Vec<NodeKind>,
    /// Only events meeting these conditions become nodes.
    #[serde(default, rename = "where", skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// A node repeated immediately counts once (default true).
    #[serde(default = "default_true")]
    pub collapse_repeats: bool,
    /// Rows listed in each list, the rest summed into `other` (default 20, at most
    /// 100000: ask for all of them for a full export).
    #[serde(default = "default_transitions_limit")]
    pub limit: usize,
}

/// A node, by kind and name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NodeRef {
    /// `page`, `event` or `goal`.
    pub kind: NodeKind,
    /// The page (after the grouping rules), the event's name, or the goal's name.
    pub name: String,
}

/// The most rows of a transitions list.
pub const MAX_TRANSITIONS: usize = 100_000;

impl TransitionsSpec {
    /// Checks the spec.
    pub fn validate(&self, path: &str) -> Result<(), SpecError> {
        if let Some(n) = &self.node
            && n.name.is_empty()
        {
            return Err(SpecError::new(
                &format!("{path}.node.name"),
                "is empty".into(),
            ));
        }
        check_what_is_followed(self.unit, &self.nodes, &self.conditions, path)?;
        if self.limit == 0 || self.limit > MAX_TRANSITIONS {
            return Err(SpecError::new(
                &format!("{path}.limit"),
                format!("must be between 1 and {MAX_TRANSITIONS}"),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(name: &str, pattern: &str, kind: GroupMatch) -> PageGroup {
        PageGroup {
            name: name.into(),
            pattern: pattern.into(),
            kind,
        }
    }

    #[test]
    fn the_first_matching_rule_names_the_page() {
        let r = PageRules::new(
            &[
                rule("Product page", "/product/*", GroupMatch::Wildcard),
                rule("Blog", "/blog/:slug", GroupMatch::Wildcard),
                rule(
                    "Docs: {section}",
                    "^/docs/(?P<section>[^/]+)",
                    GroupMatch::Regex,
                ),
                rule(
                    "Everything under /product",
                    "/product*",
                    GroupMatch::Wildcard,
                ),
            ],
            "page_groups",
        )
        .unwrap();
        assert_eq!(r.page("/product/42"), "Product page");
        assert_eq!(r.page("/product"), "Everything under /product");
        assert_eq!(r.page("/blog/hello"), "Blog");
        assert_eq!(r.page("/blog/hello/comments"), "/blog/hello/comments");
        assert_eq!(r.page("/docs/api/keys"), "Docs: api");
        assert_eq!(r.page("/pricing"), "/pricing");
        assert_eq!(r.page("/a.b"), "/a.b");
    }

    #[test]
    fn bad_rules_are_named() {
        let e = PageRules::new(
            &[
                rule("ok", "/x", GroupMatch::Wildcard),
                rule("Docs {nope}", "/docs/:section", GroupMatch::Wildcard),
            ],
            "page_groups",
        )
        .unwrap_err();
        assert_eq!(e.path, "page_groups[1].name");
        assert!(e.message.contains("section"), "{e}");
        let e = PageRules::new(&[rule("x", "(", GroupMatch::Regex)], "page_groups").unwrap_err();
        assert_eq!(e.path, "page_groups[0].pattern");
    }
}
