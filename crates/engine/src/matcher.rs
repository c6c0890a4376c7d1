//! Event predicates compiled against a scan's dictionaries: every string test is decided
//! once per dictionary entry, so testing an event is a few array lookups.

use cairn_model::Dim;
use cairn_model::query::{Condition, Field, ValueRef, ValueTest};

const DIM_COUNT: usize = Dim::ALL.len();
use cairn_timeline::{PropVal, QueryDict, Timeline, TimelineScan};
use std::sync::Arc;

use crate::page_map::PageMap;

/// What a query needs projected from the store.
#[derive(Debug, Clone, Default)]
pub struct Needs {
    /// Dimensions.
    pub dims: [bool; DIM_COUNT],
    /// Custom properties, by key.
    pub prop_keys: std::collections::BTreeSet<String>,
    /// Whether the text of string property values matters (string conditions,
    /// breakdowns, held properties). When it does not, the scan skips the property-value
    /// dictionaries, and every string value reads as the empty string: conditions with
    /// numeric or boolean values, `exists` and `missing` give the same answer on any
    /// string.
    pub prop_strings: bool,
    /// Revenue.
    pub revenue: bool,
    /// Every property key, with string values as text (the events explorer).
    pub all_props: bool,
}

impl Needs {
    /// Records the columns a field's values are read from, as text.
    pub fn add_field(&mut self, f: &Field) {
        match f {
            Field::Dim(d) => self.dims[d.index()] = true,
            Field::Prop(k) => {
                self.prop_keys.insert(k.clone());
                self.prop_strings = true;
            }
            Field::Page => self.dims[Dim::Path.index()] = true,
            Field::LandingPage | Field::ExitPage => {
                self.dims[Dim::Path.index()] = true;
                self.dims[Dim::Name.index()] = true;
            }
        }
    }

    /// Records the columns conditions read.
    pub fn add_conds<'a>(&mut self, conds: impl IntoIterator<Item = &'a Condition>) {
        for c in conds {
            match &c.field {
                Field::Prop(k) => {
                    self.prop_keys.insert(k.clone());
                    if needs_text(c) {
                        self.prop_strings = true;
                    }
                }
                f => self.add_field(f),
            }
        }
    }

    /// Records a numeric property read by its value only.
    pub fn add_number(&mut self, key: &str) {
        self.prop_keys.insert(key.to_string());
    }

    /// The projected dimensions.
    pub fn dim_list(&self) -> Vec<Dim> {
        Dim::ALL
            .into_iter()
            .filter(|d| self.dims[d.index()])
            .collect()
    }
}

/// Whether a condition's answer depends on the text of a string value.
fn needs_text(c: &Condition) -> bool {
    use cairn_model::query::{CondValue, Op, Scalar};
    let text_op = matches!(
        c.op,
        Op::Contains | Op::NotContains | Op::Prefix | Op::Wildcard | Op::Regex | Op::NotRegex
    );
    let text_value = match &c.value {
        Some(CondValue::One(Scalar::Str(_))) => true,
        Some(CondValue::List(l)) => l.iter().any(|v| matches!(v, Scalar::Str(_))),
        _ => false,
    };
    text_op || text_value
}

struct PropTest {
    key: Option<u32>,
    test: ValueTest,
    /// Over the property-value dictionary.
    str_ok: Vec<bool>,
    on_missing: bool,
}

struct Conj {
    dims: Vec<(usize, Vec<bool>)>,
    props: Vec<PropTest>,
}

/// A disjunction of conjunctions of conditions, compiled for one scan.
pub struct EventPred {
    alts: Vec<Conj>,
    always: bool,
    /// The common case of one condition on one dimension: (dimension, mask).
    single: Option<(usize, Vec<bool>)>,
    /// Otherwise, a condition on one dimension that every matching event meets (the
    /// alternatives' conditions on a dimension they all test, joined).
    necessary: Option<(usize, Vec<bool>)>,
    /// One alternative of conditions on dimensions only (a destination goal: a pageview
    /// on a path): per dimension tested, the mask of its conditions on it joined.
    conj: Option<Vec<(usize, Vec<bool>)>>,
}

/// For alternatives that all test one dimension: that dimension, and per dictionary id
/// whether some alternative's conditions on it all hold (a necessary condition of the
/// disjunction). Of several such dimensions, the one whose condition holds for the
/// fewest ids: a destination goal (a pageview on a path) is ruled out for most events by
/// its path, not by its event name, which most events (pageviews) have.
fn necessary_of(alts: &[Conj]) -> Option<(usize, Vec<bool>)> {
    let first = alts.first()?;
    first
        .dims
        .iter()
        .map(|(d, _)| *d)
        .filter(|d| alts.iter().all(|c| c.dims.iter().any(|(e, _)| e == d)))
        .filter_map(|d| necessary_on(alts, d))
        .min_by_key(|(_, mask)| mask.iter().filter(|&&x| x).count())
}

/// The necessary condition of `alts` on dimension `d`, which each of them tests.
fn necessary_on(alts: &[Conj], d: usize) -> Option<(usize, Vec<bool>)> {
    let mut mask: Vec<bool> = Vec::new();
    for c in alts {
        let mut conj: Option<Vec<bool>> = None;
        for (_, m) in c.dims.iter().filter(|(e, _)| *e == d) {
            conj = Some(match conj {
                None => m.clone(),
                Some(x) => x.iter().zip(m).map(|(a, b)| *a && *b).collect(),
            });
        }
        let conj = conj?;
        if mask.len() < conj.len() {
            mask.resize(conj.len(), false);
        }
        for (x, y) in mask.iter_mut().zip(&conj) {
            *x |= *y;
        }
    }
    Some((d, mask))
}

fn dict_mask(dict: &QueryDict, test: &ValueTest) -> Vec<bool> {
    (0..dict.len() as u32)
        .map(|id| test.test(ValueRef::of_dim(dict.get(id))))
        .collect()
}

impl EventPred {
    /// Compiles alternatives (any of), each a list of conditions (all of). An empty
    /// conjunction matches every event.
    pub fn new(scan: &dyn TimelineScan, pages: &PageMap, alts: &[Vec<Condition>]) -> EventPred {
        let mut out = Vec::new();
        for conds in alts {
            let mut c = Conj {
                dims: Vec::new(),
                props: Vec::new(),
            };
            for cond in conds {
                let test = ValueTest::new(cond);
                match &cond.field {
                    Field::Dim(d) => c.dims.push((d.index(), dict_mask(scan.dict(*d), &test))),
                    Field::Page => {
                        let page_ok: Vec<bool> = (0..pages.len() as u32)
                            .map(|pg| test.test(ValueRef::of_dim(pages.name(scan, pg))))
                            .collect();
                        let paths = scan.dict(Dim::Path).len() as u32;
                        c.dims.push((
                            Dim::Path.index(),
                            (0..paths)
                                .map(|id| page_ok[pages.page(id) as usize])
                                .collect(),
                        ));
                    }
                    Field::Prop(k) => {
                        let vals = scan.prop_values();
                        let str_ok = (0..vals.len() as u32)
                            .map(|id| test.test(Some(ValueRef::Str(vals.get(id)))))
                            .collect();
                        c.props.push(PropTest {
                            key: scan.prop_keys().id(k),
                            on_missing: test.test(None),
                            test,
                            str_ok,
                        });
                    }
                    Field::LandingPage | Field::ExitPage => {}
                }
            }
            out.push(c);
        }
        let always = out.iter().any(|c| c.dims.is_empty() && c.props.is_empty());
        let single = match out.as_slice() {
            [c] if c.dims.len() == 1 && c.props.is_empty() => Some(c.dims[0].clone()),
            _ => None,
        };
        let necessary = if always || single.is_some() {
            None
        } else {
            necessary_of(&out)
        };
        let conj = match out.as_slice() {
            [c] if !always && c.props.is_empty() => {
                let mut by_dim: Vec<(usize, Vec<bool>)> = Vec::new();
                for (d, m) in &c.dims {
                    match by_dim.iter_mut().find(|(e, _)| e == d) {
                        Some((_, have)) => {
                            have.iter_mut().zip(m).for_each(|(a, b)| *a &= *b);
                        }
                        None => by_dim.push((*d, m.clone())),
                    }
                }
                Some(by_dim)
            }
            _ => None,
        };
        EventPred {
            alts: out,
            always,
            single,
            necessary,
            conj,
        }
    }

    /// A dimension and dictionary mask that every event the predicate matches meets
    /// (events outside it need no test: a lookup that rules most events out), when there
    /// is one.
    pub fn necessary(&self) -> Option<(usize, &[bool])> {
        self.single
            .as_ref()
            .or(self.necessary.as_ref())
            .map(|(d, m)| (*d, m.as_slice()))
    }

    /// The predicate's dimension and dictionary mask, when it is one condition on one
    /// dimension (the common case, which a lookup table can evaluate).
    pub fn single(&self) -> Option<(usize, &[bool])> {
        self.single.as_ref().map(|(d, m)| (*d, m.as_slice()))
    }

    /// The predicate as conditions on dimensions that must all hold, one mask per
    /// dimension, when it is that (one alternative, no property conditions): what
    /// [`Tables`] can decide.
    pub fn dims_only(&self) -> Option<Vec<(usize, &[bool])>> {
        match &self.single {
            Some((d, m)) => Some(vec![(*d, m.as_slice())]),
            None => self
                .conj
                .as_ref()
                .map(|c| c.iter().map(|(d, m)| (*d, m.as_slice())).collect()),
        }
    }

    /// Whether event `i` of the timeline matches.
    #[inline]
    pub fn test(&self, tl: &Timeline, i: usize) -> bool {
        if self.always {
            return true;
        }
        if let Some((d, mask)) = &self.single {
            return mask[tl.dims[*d][i] as usize];
        }
        'alt: for c in &self.alts {
            for (d, mask) in &c.dims {
                if !mask[tl.dims[*d][i] as usize] {
                    continue 'alt;
                }
            }
            for p in &c.props {
                let hit = match p.key {
                    None => p.on_missing,
                    Some(k) => match tl.props(i).iter().find(|e| e.key == k) {
                        None => p.on_missing,
                        Some(e) => match e.val {
                            PropVal::Str(id) => p.str_ok[id as usize],
                            PropVal::Num(x) => p.test.test(Some(ValueRef::Num(x))),
                            PropVal::Bool(b) => p.test.test(Some(ValueRef::Bool(b))),
                        },
                    },
                };
                if !hit {
                    continue 'alt;
                }
            }
            return true;
        }
        false
    }
}

/// Reads a field's value on event `i` as text (for breakdowns); `None` when missing.
pub struct FieldReader {
    field: Field,
    key: Option<u32>,
    pages: Arc<PageMap>,
}

impl FieldReader {
    /// A reader for an event field (dimension, property or page), or of landing and exit
    /// pages.
    pub fn new(scan: &dyn TimelineScan, pages: &Arc<PageMap>, field: &Field) -> FieldReader {
        let key = match field {
            Field::Prop(k) => scan.prop_keys().id(k),
            _ => None,
        };
        FieldReader {
            field: field.clone(),
            key,
            pages: Arc::clone(pages),
        }
    }

    /// The token of a dimension's (or a page's) id: `None` for 0, the empty value.
    #[inline]
    pub fn id_token(id: u32) -> Option<(u8, u64)> {
        (id != 0).then_some((0, u64::from(id)))
    }

    /// The token of the page of event `i` (landing and exit pages, `page`).
    pub fn page_token(&self, tl: &Timeline, i: usize) -> Option<(u8, u64)> {
        Self::id_token(self.pages.page(tl.dims[Dim::Path.index()][i]))
    }

    /// A cheap identity of the value on event `i`, to compare values without building
    /// strings: (kind, id or bits). `None` when missing.
    pub fn token(&self, tl: &Timeline, i: usize) -> Option<(u8, u64)> {
        match &self.field {
            Field::Dim(d) => Self::id_token(tl.dims[d.index()][i]),
            Field::Prop(_) => {
                let k = self.key?;
                let e = tl.props(i).iter().find(|e| e.key == k)?;
                Some(match e.val {
                    // The empty string counts as missing, as an empty dimension does.
                    PropVal::Str(0) => return None,
                    PropVal::Str(id) => (1, id as u64),
                    PropVal::Num(x) => (2, x.to_bits()),
                    PropVal::Bool(b) => (3, b as u64),
                })
            }
            Field::Page => self.page_token(tl, i),
            Field::LandingPage | Field::ExitPage => None,
        }
    }
}

impl FieldReader {
    /// The field read.
    pub fn field(&self) -> &Field {
        &self.field
    }

    /// The text of a token from [`FieldReader::token`] (or a path token for landing and
    /// exit pages).
    pub fn text(&self, scan: &dyn TimelineScan, token: (u8, u64)) -> String {
        match (token, &self.field) {
            ((0, id), Field::Dim(d)) => scan.dict(*d).get(id as u32).to_string(),
            ((0, id), _) => self.pages.name(scan, id as u32).to_string(),
            ((1, id), _) => scan.prop_values().get(id as u32).to_string(),
            ((2, bits), _) => ValueRef::Num(f64::from_bits(bits)).to_text(),
            ((_, b), _) => ValueRef::Bool(b != 0).to_text(),
        }
    }
}

/// Sets `bit` in dimension `d`'s table for the ids of `mask`.
fn add_mask(tables: &mut Vec<(usize, Vec<u64>)>, d: usize, mask: &[bool], bit: u64) {
    let k = match tables.iter().position(|(x, _)| *x == d) {
        Some(k) => k,
        None => {
            tables.push((d, Vec::new()));
            tables.len() - 1
        }
    };
    let t = &mut tables[k].1;
    if t.len() < mask.len() {
        t.resize(mask.len(), 0);
    }
    for (id, &ok) in mask.iter().enumerate() {
        if ok {
            t[id] |= bit;
        }
    }
}

/// Bit masks by dictionary id for predicates that are one condition on one dimension
/// (an event name, a path): one lookup per event and dimension decides all of them,
/// instead of one test per predicate. A predicate of conditions on several dimensions
/// that must all hold (a pageview on a path) takes a spare bit for each dimension after
/// its first: its own bit stays set only where those bits are all set. A bit added by
/// [`Tables::add_necessary`] marks an item's candidates, which its test then decides.
pub struct Tables {
    /// (dimension, bits per dictionary id).
    tables: Vec<(usize, Vec<u64>)>,
    /// Bit j set: item j is fully decided by the tables.
    pub covered: u64,
    /// (an item's bit, its spare bits), and every spare bit taken.
    conj: Vec<(u64, u64)>,
    spares: u64,
}

impl Tables {
    /// Tables for items `(bit, alternatives)`: any of several single-condition
    /// predicates, or one predicate of conditions on dimensions only (as long as
    /// `spare`, bits no item uses, has bits enough). The other items are left out.
    pub fn new<'a>(
        items: impl IntoIterator<Item = (usize, Vec<&'a EventPred>)>,
        mut spare: u64,
    ) -> Tables {
        let mut tables: Vec<(usize, Vec<u64>)> = Vec::new();
        let (mut covered, mut conj, mut spares) = (0u64, Vec::new(), 0u64);
        for (j, alts) in items {
            if j >= 64 {
                continue;
            }
            let Some(dims) = alts
                .iter()
                .map(|p| p.dims_only())
                .collect::<Option<Vec<_>>>()
            else {
                continue;
            };
            match dims.as_slice() {
                [] => continue,
                [one] if one.len() > 1 => {
                    if (spare.count_ones() as usize) < one.len() - 1 {
                        continue;
                    }
                    add_mask(&mut tables, one[0].0, one[0].1, 1 << j);
                    let mut mine = 0u64;
                    for &(d, mask) in &one[1..] {
                        let bit = 1u64 << spare.trailing_zeros();
                        spare &= !bit;
                        mine |= bit;
                        add_mask(&mut tables, d, mask, bit);
                    }
                    conj.push((1u64 << j, mine));
                    spares |= mine;
                }
                alts if alts.iter().all(|a| a.len() == 1) => {
                    for a in alts {
                        add_mask(&mut tables, a[0].0, a[0].1, 1 << j);
                    }
                }
                _ => continue,
            }
            covered |= 1 << j;
        }
        Tables {
            tables,
            covered,
            conj,
            spares,
        }
    }

    /// Sets bit `j` (one no item took) on the events that meet `pred`'s necessary
    /// condition: the candidates a test decides, instead of a lookup an event apart.
    /// Whether it did (a predicate with such a condition).
    pub fn add_necessary(&mut self, j: usize, pred: &EventPred) -> bool {
        debug_assert!(j < 64);
        let bit = 1u64 << j;
        debug_assert!((self.covered | self.spares) & bit == 0);
        let Some((d, mask)) = pred.necessary() else {
            return false;
        };
        add_mask(&mut self.tables, d, mask, bit);
        true
    }

    /// Appends to `out` the bits of the covered items that each event matches (and of
    /// the items whose candidates it is, for bits of [`Tables::add_necessary`]): every
    /// event of `tl`, or those at `at`.
    pub fn bits_into(&self, tl: &Timeline, at: Option<&[u32]>, out: &mut Vec<u64>) {
        let start = out.len();
        let n = at.map_or(tl.len(), <[u32]>::len);
        let Some(((d0, t0), rest)) = self.tables.split_first() else {
            out.resize(start + n, 0);
            return;
        };
        let look = |t: &[u64], id: u32| t.get(id as usize).copied().unwrap_or(0);
        let ids = &tl.dims[*d0];
        match at {
            None => out.extend(ids.iter().map(|&id| look(t0, id))),
            Some(at) => out.extend(at.iter().map(|&i| look(t0, ids[i as usize]))),
        }
        for (d, t) in rest {
            let ids = &tl.dims[*d];
            let out = &mut out[start..];
            match at {
                None => out
                    .iter_mut()
                    .zip(ids)
                    .for_each(|(b, &id)| *b |= look(t, id)),
                Some(at) => out
                    .iter_mut()
                    .zip(at)
                    .for_each(|(b, &i)| *b |= look(t, ids[i as usize])),
            }
        }
        if self.spares != 0 {
            for b in &mut out[start..] {
                let mut x = *b;
                for &(bit, mine) in &self.conj {
                    if x & mine != mine {
                        x &= !bit;
                    }
                }
                *b = x & !self.spares;
            }
        }
    }
}
