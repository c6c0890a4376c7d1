//! The events and properties explorer: every event name in the range (pageviews and
//! passive events included) with its events, sessions and visitors, optionally per
//! bucket of the event's time; and every property key with its events, visitors,
//! distinct values and top values.
//!
//! Names and keys are counted in dense arrays by dictionary id; values in a map by
//! (key, value). A visitor or session is counted once per name, key or value by a stamp:
//! the number of the last visitor (session) that counted it.

use std::cmp::Ordering;

use cairn_model::Dim;
use cairn_model::query::result::{
    EventNameRow, EventsBucket, EventsOther, EventsResult, PropertyRow, PropertyValueRow,
};
use cairn_model::query::{EventsSpec, Scalar};
use cairn_timeline::{PropVal, Timeline, TimelineScan};
use rustc_hash::FxHashMap;

use crate::Error;
use crate::buckets::Buckets;
use crate::driver::{self, Analysis, Cx, Pass, Scope};
use crate::matcher::Needs;
use crate::prepare::Prepared;

pub(crate) fn run(cx: Cx<'_>, spec: &EventsSpec) -> Result<EventsResult, Error> {
    driver::run(cx, &Events { spec }, cx.r.from, cx.r.to)
}

struct Events<'a> {
    spec: &'a EventsSpec,
}

impl<'a> Analysis for Events<'a> {
    type Pass = EventsPass<'a>;

    fn needs(&self, needs: &mut Needs) {
        needs.dims[Dim::Name.index()] = true;
        if self.spec.properties {
            needs.all_props = true;
        }
    }

    fn compile(&self, sc: &Scope<'_>) -> EventsPass<'a> {
        EventsPass {
            spec: self.spec,
            names: sc.scan.dict(Dim::Name).len(),
            keys: sc.scan.prop_keys().len(),
            props_of: match (self.spec.properties, &self.spec.event) {
                (false, _) => PropsOf::Nobody,
                (true, None) => PropsOf::Every,
                (true, Some(n)) => sc
                    .scan
                    .dict(Dim::Name)
                    .id(n)
                    .map_or(PropsOf::Unseen, PropsOf::Name),
            },
            buckets: self
                .spec
                .interval
                .map(|iv| Buckets::new(sc.r.from, sc.r.to, iv, sc.r.tz)),
        }
    }
}

struct EventsPass<'a> {
    spec: &'a EventsSpec,
    /// Name ids in the scan.
    names: usize,
    /// Property key ids in the scan.
    keys: usize,
    props_of: PropsOf,
    buckets: Option<Buckets>,
}

/// Whose properties are counted.
#[derive(Clone, Copy, PartialEq)]
enum PropsOf {
    /// Properties are not asked for.
    Nobody,
    /// Every event's.
    Every,
    /// Events of this name id.
    Name(u32),
    /// Events of a name no event in the scan has: none, but an (empty) list is asked for.
    Unseen,
}

/// Counts of a name, a key or a value, and the stamps of the last session and visitor
/// counted.
#[derive(Default, Clone)]
struct Acc {
    events: u64,
    sessions: u64,
    visitors: u64,
    last_session: u64,
    last_visitor: u64,
}

impl Acc {
    fn count(&mut self, session: u64, visitor: u64) {
        self.events += 1;
        if self.last_session != session {
            self.last_session = session;
            self.sessions += 1;
        }
        if self.last_visitor != visitor {
            self.last_visitor = visitor;
            self.visitors += 1;
        }
    }

    fn add(&mut self, o: &Acc) {
        self.events += o.events;
        self.sessions += o.sessions;
        self.visitors += o.visitors;
    }
}

/// A property value: (kind, id or bits): 0 a string (its dictionary id), 1 a number (its
/// bits), 2 a boolean.
type Value = (u8, u64);

struct State {
    names: Vec<Acc>,
    /// Per name, events per bucket (empty until the name's first event).
    series: Vec<Vec<u64>>,
    keys: Vec<Acc>,
    values: FxHashMap<(u32, Value), Acc>,
    /// Stamps of the current session and visitor.
    session: u64,
    visitor: u64,
}

impl Pass for EventsPass<'_> {
    type State = State;
    type Output = EventsResult;

    fn state(&self) -> State {
        State {
            names: vec![Acc::default(); self.names],
            series: vec![Vec::new(); self.names],
            keys: vec![
                Acc::default();
                if self.props_of == PropsOf::Nobody {
                    0
                } else {
                    self.keys
                }
            ],
            values: FxHashMap::default(),
            session: 0,
            visitor: 0,
        }
    }

    fn timeline(&self, _: &Scope<'_>, tl: &Timeline, prep: &Prepared, st: &mut State) {
        st.visitor += 1;
        let visitor = st.visitor;
        let names = tl.dim(Dim::Name);
        for &(a, b) in &prep.sessions {
            st.session += 1;
            let session = st.session;
            for p in a as usize..b as usize {
                let i = prep.kept[p] as usize;
                let name = names[i];
                st.names[name as usize].count(session, visitor);
                if let Some(bk) = &self.buckets {
                    let s = &mut st.series[name as usize];
                    if s.is_empty() {
                        s.resize(bk.len(), 0);
                    }
                    s[bk.index(prep.ts[p])] += 1;
                }
                let wanted = match self.props_of {
                    PropsOf::Nobody | PropsOf::Unseen => false,
                    PropsOf::Every => true,
                    PropsOf::Name(id) => id == name,
                };
                if !wanted {
                    continue;
                }
                for e in tl.props(i) {
                    st.keys[e.key as usize].count(session, visitor);
                    let v = match e.val {
                        PropVal::Str(id) => (0, id as u64),
                        PropVal::Num(x) => (1, x.to_bits()),
                        PropVal::Bool(b) => (2, b as u64),
                    };
                    st.values
                        .entry((e.key, v))
                        .or_default()
                        .count(session, visitor);
                }
            }
        }
    }

    fn merge(&self, into: &mut State, from: State) {
        for (x, y) in into.names.iter_mut().zip(&from.names) {
            x.add(y);
        }
        for (x, y) in into.series.iter_mut().zip(from.series) {
            if x.is_empty() {
                *x = y;
            } else {
                for (a, b) in x.iter_mut().zip(y) {
                    *a += b;
                }
            }
        }
        for (x, y) in into.keys.iter_mut().zip(&from.keys) {
            x.add(y);
        }
        for (k, v) in from.values {
            into.values.entry(k).or_default().add(&v);
        }
    }

    fn finish(self, sc: &Scope<'_>, st: State) -> EventsResult {
        let spec = self.spec;
        let dict = sc.scan.dict(Dim::Name);
        let mut rows: Vec<EventNameRow> = st
            .names
            .iter()
            .zip(st.series)
            .enumerate()
            .filter(|(_, (a, _))| a.events > 0)
            .map(|(id, (a, s))| EventNameRow {
                name: dict.get(id as u32).to_string(),
                events: a.events,
                sessions: a.sessions,
                visitors: a.visitors,
                series: self.buckets.as_ref().map(|_| s),
            })
            .collect();
        rows.sort_by(|a, b| b.events.cmp(&a.events).then_with(|| a.name.cmp(&b.name)));
        let distinct_names = rows.len() as u64;
        let events = rows.iter().map(|r| r.events).sum();
        let mut other = EventsOther::default();
        for r in rows.iter().skip(spec.limit) {
            other.names += 1;
            other.events += r.events;
        }
        rows.truncate(spec.limit);
        let properties = (self.props_of != PropsOf::Nobody)
            .then(|| properties(sc.scan, spec.values, &st.keys, st.values));
        EventsResult {
            buckets: self
                .buckets
                .as_ref()
                .map(|bk| {
                    (0..bk.len())
                        .map(|i| EventsBucket {
                            start: bk.start(i),
                            label: bk.label(i).to_string(),
                        })
                        .collect()
                })
                .unwrap_or_default(),
            names: rows,
            other,
            distinct_names,
            events,
            event: spec.event.clone().filter(|_| spec.properties),
            properties,
        }
    }
}

/// The order of values with as many events: strings (by text), then numbers, then
/// booleans (false first).
fn value_order(scan: &dyn TimelineScan, a: Value, b: Value) -> Ordering {
    match (a, b) {
        ((0, x), (0, y)) => scan
            .prop_values()
            .get(x as u32)
            .cmp(scan.prop_values().get(y as u32)),
        ((1, x), (1, y)) => f64::from_bits(x).total_cmp(&f64::from_bits(y)),
        _ => a.cmp(&b),
    }
}

fn scalar(scan: &dyn TimelineScan, v: Value) -> Scalar {
    match v {
        (0, id) => Scalar::Str(scan.prop_values().get(id as u32).to_string()),
        (1, bits) => Scalar::Num(f64::from_bits(bits)),
        (_, b) => Scalar::Bool(b != 0),
    }
}

/// The property rows: keys by events, then key; each with its top `limit` values.
fn properties(
    scan: &dyn TimelineScan,
    limit: usize,
    keys: &[Acc],
    values: FxHashMap<(u32, Value), Acc>,
) -> Vec<PropertyRow> {
    let mut per_key: Vec<Vec<(Value, Acc)>> = vec![Vec::new(); keys.len()];
    for ((k, v), a) in values {
        per_key[k as usize].push((v, a));
    }
    let mut rows: Vec<PropertyRow> = keys
        .iter()
        .zip(per_key)
        .enumerate()
        .filter(|(_, (a, _))| a.events > 0)
        .map(|(k, (a, mut vals))| {
            vals.sort_by(|(x, ax), (y, ay)| {
                ay.events
                    .cmp(&ax.events)
                    .then_with(|| value_order(scan, *x, *y))
            });
            let distinct = vals.len() as u64;
            vals.truncate(limit);
            let listed: u64 = vals.iter().map(|(_, a)| a.events).sum();
            PropertyRow {
                key: scan.prop_keys().get(k as u32).to_string(),
                events: a.events,
                visitors: a.visitors,
                distinct,
                values: vals
                    .into_iter()
                    .map(|(v, a)| PropertyValueRow {
                        value: scalar(scan, v),
                        events: a.events,
                        visitors: a.visitors,
                    })
                    .collect(),
                other_events: a.events - listed,
            }
        })
        .collect();
    rows.sort_by(|a, b| b.events.cmp(&a.events).then_with(|| a.key.cmp(&b.key)));
    rows
}
