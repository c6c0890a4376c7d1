//! [`EventChunk`]: events in columns, each string held once per chunk.
//!
//! A bulk import of a columnar file (Parquet) spends most of its time building, moving
//! and freeing one [`Event`] of nineteen strings per row, and then interning those
//! strings again. A chunk instead holds each distinct value of a column once, checked
//! once, and each row as ids into those lists; the store maps a chunk's ids to its own
//! once per distinct value. A chunk means exactly the records [`EventChunk::records`]
//! returns: its rows in file order, with the records that could not be rows (identify
//! records, rows of other shapes) between them where the file had them.
//!
//! Every value in a chunk has passed the same checks [`Event::validate`] makes: the
//! chunk's methods refuse (return `None` or `false`) what a record would be refused
//! for, and the caller then takes the record path for that row, whose answer (a record
//! or the error) is the reference.

use std::collections::HashMap;

use crate::event::{DIM_COUNT, check_props, check_site, check_str, check_ts};
use crate::{Dim, Event, PropValue, Record, Revenue, limits};

/// One row of a chunk: ids into the chunk's lists of distinct values.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ChunkRow {
    /// Into [`EventChunk::sites`].
    pub site: u32,
    /// Milliseconds since the Unix epoch, UTC.
    pub ts: i64,
    /// Visitor id.
    pub visitor: u64,
    /// Into [`EventChunk::values`] of each dimension, in [`Dim::ALL`] order; 0 is unset.
    pub dims: [u32; DIM_COUNT],
    /// Into [`EventChunk::prop_sets`]; 0 is no properties.
    pub props: u32,
    /// Amount in micros and an id into [`EventChunk::currencies`].
    pub revenue: Option<(i64, u32)>,
}

/// A property value of a chunk: strings are ids into [`EventChunk::prop_strings`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ChunkValue {
    /// A string.
    Str(u32),
    /// A finite number.
    Num(f64),
    /// A boolean.
    Bool(bool),
}

/// Events in columns; see the [module](self).
#[derive(Debug, Clone)]
pub struct EventChunk {
    sites: Vec<String>,
    /// Per dimension, its distinct values; value 0 is "" (unset).
    values: Vec<Vec<String>>,
    prop_keys: Vec<String>,
    prop_strings: Vec<String>,
    /// Distinct sets of properties, each a range of `prop_entries`; set 0 is empty.
    prop_sets: Vec<(u32, u32)>,
    prop_entries: Vec<(u32, ChunkValue)>,
    currencies: Vec<String>,
    rows: Vec<ChunkRow>,
    /// Records in file order among the rows: each comes after `rows[..at]`.
    records: Vec<(u32, Record)>,
    key_ids: HashMap<String, u32>,
    string_ids: HashMap<String, u32>,
}

impl Default for EventChunk {
    fn default() -> EventChunk {
        EventChunk::new()
    }
}

impl EventChunk {
    /// An empty chunk.
    pub fn new() -> EventChunk {
        EventChunk::with_capacity(0)
    }

    /// An empty chunk with room for `rows` rows.
    pub fn with_capacity(rows: usize) -> EventChunk {
        EventChunk {
            sites: Vec::new(),
            values: (0..DIM_COUNT).map(|_| vec![String::new()]).collect(),
            prop_keys: Vec::new(),
            prop_strings: Vec::new(),
            prop_sets: vec![(0, 0)],
            prop_entries: Vec::new(),
            currencies: Vec::new(),
            rows: Vec::with_capacity(rows),
            records: Vec::new(),
            key_ids: HashMap::new(),
            string_ids: HashMap::new(),
        }
    }

    /// Adds a distinct site; `None` if no event could have it.
    pub fn add_site(&mut self, site: &str) -> Option<u32> {
        check_site(site).ok()?;
        self.sites.push(site.to_string());
        Some(self.sites.len() as u32 - 1)
    }

    /// Adds a distinct value of a dimension (0 for ""); `None` if it is too long or has
    /// control characters.
    pub fn add_value(&mut self, d: Dim, v: &str) -> Option<u32> {
        if v.is_empty() {
            return Some(0);
        }
        check_str(d.as_str(), v, d.max_len()).ok()?;
        let list = &mut self.values[d.index()];
        list.push(v.to_string());
        Some(list.len() as u32 - 1)
    }

    /// Adds a distinct currency: upper-cased, it must be three letters.
    pub fn add_currency(&mut self, c: &str) -> Option<u32> {
        let c = c.to_ascii_uppercase();
        if c.len() != 3 || !c.bytes().all(|b| b.is_ascii_uppercase()) {
            return None;
        }
        self.currencies.push(c);
        Some(self.currencies.len() as u32 - 1)
    }

    /// Adds a distinct set of properties (0 for none); `None` if an event could not
    /// carry it.
    pub fn add_props(&mut self, props: &[(String, PropValue)]) -> Option<u32> {
        if props.is_empty() {
            return Some(0);
        }
        check_props(props).ok()?;
        let start = self.prop_entries.len() as u32;
        for (k, v) in props {
            let key = intern(&mut self.key_ids, &mut self.prop_keys, k);
            let val = match v {
                PropValue::Str(s) => {
                    ChunkValue::Str(intern(&mut self.string_ids, &mut self.prop_strings, s))
                }
                PropValue::Num(n) => ChunkValue::Num(*n),
                PropValue::Bool(b) => ChunkValue::Bool(*b),
            };
            self.prop_entries.push((key, val));
        }
        self.prop_sets.push((start, self.prop_entries.len() as u32));
        Some(self.prop_sets.len() as u32 - 1)
    }

    /// Adds a row whose ids came from this chunk's `add_…` methods. False (and nothing
    /// added) if the event would be invalid: a time out of range (`now_ms` is the
    /// receiver's clock), no name, revenue out of range, or an id the chunk does not
    /// have.
    pub fn push(&mut self, row: ChunkRow, now_ms: i64) -> bool {
        let ids_ok = (row.site as usize) < self.sites.len()
            && row
                .dims
                .iter()
                .zip(&self.values)
                .all(|(&id, list)| (id as usize) < list.len())
            && (row.props as usize) < self.prop_sets.len()
            && row
                .revenue
                .is_none_or(|(_, c)| (c as usize) < self.currencies.len());
        let max = (limits::REVENUE_ABS_MAX * 1e6) as i64;
        let valid = check_ts(row.ts, now_ms).is_ok()
            && row.dims[Dim::Name.index()] != 0
            && row.revenue.is_none_or(|(m, _)| m.abs() <= max);
        if ids_ok && valid {
            self.rows.push(row);
        }
        ids_ok && valid
    }

    /// Adds a record after the rows so far.
    pub fn push_record(&mut self, r: Record) {
        self.records.push((self.rows.len() as u32, r));
    }

    /// Rows and records.
    pub fn len(&self) -> usize {
        self.rows.len() + self.records.len()
    }

    /// No rows and no records.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The rows, in file order.
    pub fn rows(&self) -> &[ChunkRow] {
        &self.rows
    }

    /// Distinct sites.
    pub fn sites(&self) -> &[String] {
        &self.sites
    }

    /// A dimension's distinct values; value 0 is "".
    pub fn values(&self, d: Dim) -> &[String] {
        &self.values[d.index()]
    }

    /// Distinct property keys.
    pub fn prop_keys(&self) -> &[String] {
        &self.prop_keys
    }

    /// Distinct string property values.
    pub fn prop_strings(&self) -> &[String] {
        &self.prop_strings
    }

    /// Distinct currencies.
    pub fn currencies(&self) -> &[String] {
        &self.currencies
    }

    /// The entries of a set of properties: key ids and values.
    pub fn prop_set(&self, set: u32) -> &[(u32, ChunkValue)] {
        let (s, e) = self.prop_sets[set as usize];
        &self.prop_entries[s as usize..e as usize]
    }

    /// Takes the records that are not rows, each with the number of rows before it.
    pub fn take_records(&mut self) -> Vec<(u32, Record)> {
        std::mem::take(&mut self.records)
    }

    /// Events among the rows and records.
    pub fn events(&self) -> u64 {
        let records = self.records.iter();
        (self.rows.len()
            + records
                .filter(|(_, r)| matches!(r, Record::Event(_)))
                .count()) as u64
    }

    /// The event a row means.
    pub fn event(&self, row: &ChunkRow) -> Event {
        let mut e = Event::new(
            self.sites[row.site as usize].clone(),
            row.ts,
            row.visitor,
            String::new(),
        );
        for (slot, (&id, list)) in e.dims.iter_mut().zip(row.dims.iter().zip(&self.values)) {
            slot.clone_from(&list[id as usize]);
        }
        for &(k, v) in self.prop_set(row.props) {
            let v = match v {
                ChunkValue::Str(s) => PropValue::Str(self.prop_strings[s as usize].clone()),
                ChunkValue::Num(n) => PropValue::Num(n),
                ChunkValue::Bool(b) => PropValue::Bool(b),
            };
            e.props.push((self.prop_keys[k as usize].clone(), v));
        }
        e.revenue = row.revenue.map(|(micros, c)| Revenue {
            micros,
            currency: self.currencies[c as usize].clone(),
        });
        e
    }

    /// Every record the chunk means, in file order.
    pub fn records(&self) -> Vec<Record> {
        let mut out = Vec::with_capacity(self.len());
        let mut others = self.records.iter().peekable();
        for (i, row) in self.rows.iter().enumerate() {
            while let Some((_, r)) = others.next_if(|(at, _)| *at as usize <= i) {
                out.push(r.clone());
            }
            out.push(Record::Event(self.event(row)));
        }
        out.extend(others.map(|(_, r)| r.clone()));
        out
    }
}

fn intern(ids: &mut HashMap<String, u32>, list: &mut Vec<String>, s: &str) -> u32 {
    if let Some(&id) = ids.get(s) {
        return id;
    }
    list.push(s.to_string());
    ids.insert(s.to_string(), list.len() as u32 - 1);
    list.len() as u32 - 1
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_900_000_000_000;

    fn row(c: &mut EventChunk, name: &str, ts: i64) -> ChunkRow {
        let site = c.add_site("shop.example").unwrap();
        let mut dims = [0; DIM_COUNT];
        dims[Dim::Name.index()] = c.add_value(Dim::Name, name).unwrap();
        ChunkRow {
            site,
            ts,
            visitor: 7,
            dims,
            props: 0,
            revenue: None,
        }
    }

    #[test]
    fn records_keep_file_order() {
        let mut c = EventChunk::new();
        c.push_record(Record::Identify(crate::Identify {
            site: "shop.example".into(),
            ts: NOW - 10,
            visitor: 7,
            user: "u1".into(),
        }));
        let r = row(&mut c, "pageview", NOW - 5);
        assert!(c.push(r, NOW));
        let set = c
            .add_props(&[
                ("plan".into(), PropValue::Str("pro".into())),
                ("seats".into(), PropValue::Num(3.0)),
            ])
            .unwrap();
        let cur = c.add_currency("eur").unwrap();
        let mut r = row(&mut c, "purchase", NOW - 1);
        r.props = set;
        r.revenue = Some((12_500_000, cur));
        assert!(c.push(r, NOW));
        c.push_record(Record::Event(Event::new("shop.example", NOW, 8, "late")));
        let recs = c.records();
        assert_eq!(recs.len(), 4);
        assert!(matches!(&recs[0], Record::Identify(i) if i.user == "u1"));
        let Record::Event(e) = &recs[2] else { panic!() };
        assert_eq!(e.name(), "purchase");
        assert_eq!(e.prop("plan"), Some(&PropValue::Str("pro".into())));
        assert_eq!(e.revenue.as_ref().unwrap().currency, "EUR");
        assert!(e.validate(NOW).is_ok());
        assert!(matches!(&recs[3], Record::Event(e) if e.name() == "late"));
        assert_eq!(c.events(), 3);
    }

    #[test]
    fn what_a_record_would_be_refused_for_is_refused() {
        let mut c = EventChunk::new();
        assert_eq!(c.add_site(""), None);
        assert_eq!(c.add_site("a b"), None);
        assert_eq!(c.add_value(Dim::Path, "/a\u{7}"), None);
        assert_eq!(c.add_value(Dim::Device, &"x".repeat(65)), None);
        assert_eq!(c.add_currency("eu"), None);
        let dup = [
            ("a".to_string(), PropValue::Bool(true)),
            ("a".to_string(), PropValue::Bool(false)),
        ];
        assert_eq!(c.add_props(&dup), None);
        let unnamed = row(&mut c, "", NOW);
        assert!(!c.push(unnamed, NOW));
        let future = row(&mut c, "x", NOW + limits::MAX_FUTURE_MS + 1);
        assert!(!c.push(future, NOW));
        let mut bad_id = row(&mut c, "x", NOW);
        bad_id.dims[Dim::Os.index()] = 5;
        assert!(!c.push(bad_id, NOW));
        let cur = c.add_currency("usd").unwrap();
        let mut rich = row(&mut c, "x", NOW);
        rich.revenue = Some((i64::MAX, cur));
        assert!(!c.push(rich, NOW));
        assert!(c.is_empty());
    }
}
