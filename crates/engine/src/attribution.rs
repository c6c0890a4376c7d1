//! The `attribution` analysis: every unit's path of touches — micro goals in the order
//! first reached, or a field's value per session — up to its first macro conversion (the
//! whole range when it does not convert); the conversions and their value credited to
//! the touches by first touch, last touch, linear, position-based and the Markov chain
//! removal effect, with bootstrap intervals. Semantics: `docs/influence.md#attribution`.

use std::collections::BTreeMap;

use cairn_model::query::result::{AttributionResult, AttributionRow, Credit, MarkovCredit};
use cairn_model::query::{AttributionSpec, MAX_MARKOV_TOUCHES, Query, Unit};
use cairn_timeline::Timeline;
use rustc_hash::FxHashMap;

use crate::Error;
use crate::driver::{self, Analysis, Cx, Pass, Scope};
use crate::goals::{Key, conversion_value, unit_key};
use crate::markov;
use crate::matcher::{FieldReader, Needs};
use crate::prepare::Prepared;

pub(crate) fn run(cx: Cx<'_>, spec: &AttributionSpec) -> Result<AttributionResult, Error> {
    let q = cx.q;
    let y = spec.macro_goal(&q.goals).unwrap_or_default();
    let a = Attribution {
        q,
        spec,
        y: q.goals.iter().position(|g| g.name == y).unwrap_or(0),
        touches: spec
            .touch_goals(&q.goals)
            .iter()
            .filter_map(|c| q.goals.iter().position(|g| &g.name == c))
            .collect(),
    };
    driver::run(cx, &a, cx.r.from, cx.r.to)
}

struct Attribution<'a> {
    q: &'a Query,
    spec: &'a AttributionSpec,
    y: usize,
    /// Goals that are touches (indices into `q.goals`).
    touches: Vec<usize>,
}

impl<'a> Analysis for Attribution<'a> {
    type Pass = AttributionPass<'a>;

    fn goals(&self) -> Vec<&str> {
        std::iter::once(self.y)
            .chain(self.touches.iter().copied())
            .map(|g| self.q.goals[g].name.as_str())
            .collect()
    }

    fn needs(&self, needs: &mut Needs) {
        if let Some(f) = &self.spec.by {
            needs.add_field(f);
        }
        if matches!(
            self.q.goals[self.y].value,
            Some(cairn_model::query::GoalValue::FromEvent(_))
        ) {
            needs.revenue = true;
        }
    }

    fn stitch(&self) -> bool {
        self.spec.unit == Unit::Lead
    }

    fn compile(&self, sc: &Scope<'_>) -> AttributionPass<'a> {
        AttributionPass {
            q: self.q,
            spec: self.spec,
            y: self.y,
            touches: self.touches.clone(),
            reader: self
                .spec
                .by
                .as_ref()
                .map(|f| FieldReader::new(sc.scan, &sc.pages, f)),
        }
    }
}

pub(crate) struct AttributionPass<'a> {
    q: &'a Query,
    spec: &'a AttributionSpec,
    y: usize,
    touches: Vec<usize>,
    reader: Option<FieldReader>,
}

/// A touch: a goal (index into the touch goals) or a field's value (or none).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Touch {
    Goal(u32),
    Value(Key),
    /// A unit with no touch at all.
    Nothing,
}

/// The units that followed one path.
#[derive(Debug, Default)]
struct PathAcc {
    converted: u64,
    not: u64,
    /// The value of the converted units' first conversions, per currency (micros).
    value: BTreeMap<String, i128>,
}

#[derive(Default)]
pub(crate) struct Acc {
    paths: FxHashMap<Box<[Touch]>, PathAcc>,
    scratch: Vec<Touch>,
    order: Vec<(u32, Touch)>,
}

impl Pass for AttributionPass<'_> {
    type State = Acc;
    type Output = AttributionResult;

    fn state(&self) -> Acc {
        Acc::default()
    }

    fn timeline(&self, sc: &Scope<'_>, tl: &Timeline, prep: &Prepared, acc: &mut Acc) {
        let conv = prep.hits[self.y].first().map(|&p| p as usize);
        let before = |p: usize| conv.is_none_or(|y| p < y);
        let mut path = std::mem::take(&mut acc.scratch);
        path.clear();
        match &self.reader {
            // One touch per session that began at or before the conversion.
            Some(rd) => {
                for &(a, b) in &prep.sessions {
                    if conv.is_some_and(|y| a as usize > y) {
                        break;
                    }
                    path.push(Touch::Value(unit_key(rd, tl, prep, a, b)));
                }
            }
            // Goals in the order first reached, before the conversion.
            None => {
                acc.order.clear();
                for (ti, &g) in self.touches.iter().enumerate() {
                    if let Some(&p) = prep.hits[g].first()
                        && before(p as usize)
                    {
                        acc.order.push((p, Touch::Goal(ti as u32)));
                    }
                }
                acc.order.sort_unstable_by_key(|&(p, t)| {
                    (
                        p,
                        match t {
                            Touch::Goal(i) => i,
                            _ => 0,
                        },
                    )
                });
                path.extend(acc.order.iter().map(|&(_, t)| t));
            }
        }
        if path.is_empty() {
            path.push(Touch::Nothing);
        }
        let e = match acc.paths.get_mut(&path[..]) {
            Some(e) => e,
            None => acc.paths.entry(path.clone().into()).or_default(),
        };
        match conv {
            Some(y) => {
                e.converted += 1;
                if let Some((c, m)) =
                    conversion_value(&self.q.goals[self.y], sc.scan, tl, prep, y as u32)
                {
                    *e.value.entry(c).or_default() += m;
                }
            }
            None => e.not += 1,
        }
        acc.scratch = path;
    }

    fn merge(&self, into: &mut Acc, from: Acc) {
        for (k, v) in from.paths {
            let e = into.paths.entry(k).or_default();
            e.converted += v.converted;
            e.not += v.not;
            for (c, m) in v.value {
                *e.value.entry(c).or_default() += m;
            }
        }
    }

    fn finish(self, sc: &Scope<'_>, acc: Acc) -> AttributionResult {
        let name = |t: Touch| -> String {
            match t {
                Touch::Goal(i) => self.q.goals[self.touches[i as usize]].name.clone(),
                Touch::Value(Some(tok)) => self
                    .reader
                    .as_ref()
                    .map(|rd| rd.text(sc.scan, tok))
                    .unwrap_or_default(),
                Touch::Value(None) | Touch::Nothing => "(none)".into(),
            }
        };
        let paths: Vec<markov::Path> = acc
            .paths
            .into_iter()
            .map(|(k, v)| markov::Path {
                touches: k.iter().map(|&t| name(t)).collect(),
                converted: v.converted,
                not: v.not,
                value: v.value,
            })
            .collect();
        let model = markov::attribute(paths, self.spec.bootstrap, self.spec.limit);
        AttributionResult {
            goal: self.q.goals[self.y].name.clone(),
            unit: self.spec.unit,
            by: self
                .spec
                .by
                .as_ref()
                .map_or_else(|| "goals".to_string(), |f| f.to_string()),
            units: model.units,
            conversions: model.conversions,
            value: model.value,
            conversion_probability: model.probability,
            bootstrap: self.spec.bootstrap,
            touches: model.rows,
        }
    }
}

/// Credits under one model, as they accumulate.
#[derive(Debug, Clone, Default)]
pub(crate) struct Credits {
    pub conversions: f64,
    pub value: BTreeMap<String, f64>,
}

impl Credits {
    pub fn add(&mut self, weight: f64, converted: u64, value: &BTreeMap<String, f64>) {
        self.conversions += weight * converted as f64;
        for (c, v) in value {
            *self.value.entry(c.clone()).or_default() += weight * v;
        }
    }

    pub fn credit(&self, total: u64) -> Credit {
        Credit {
            conversions: self.conversions,
            share: if total > 0 {
                self.conversions / total as f64
            } else {
                0.0
            },
            value: self.value.clone(),
        }
    }
}

/// The shares of the Markov removal effects to report for one row.
pub(crate) fn markov_credit(
    removal_effect: f64,
    credits: &Credits,
    total: u64,
    interval: Option<(f64, f64)>,
) -> MarkovCredit {
    MarkovCredit {
        removal_effect,
        credit: credits.credit(total),
        low: interval.map(|i| i.0),
        high: interval.map(|i| i.1),
    }
}

/// Rows in report order; used by [`markov::attribute`].
pub(crate) fn row(
    touch: String,
    paths: u64,
    models: [&Credits; 4],
    markov: MarkovCredit,
    total: u64,
) -> AttributionRow {
    AttributionRow {
        touch,
        paths,
        first_touch: models[0].credit(total),
        last_touch: models[1].credit(total),
        linear: models[2].credit(total),
        position: models[3].credit(total),
        markov,
    }
}

/// At most this many touches are modelled apart.
pub(crate) const MARKOV_TOUCHES: usize = MAX_MARKOV_TOUCHES;
