//! One visitor's events, column by column.

use cairn_model::Dim;

/// A property value with strings as dictionary ids.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum PropVal {
    /// String, as an id into the property-value dictionary.
    Str(u32),
    /// Number.
    Num(f64),
    /// Boolean.
    Bool(bool),
}

/// One property of an event: key id and value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PropEntry {
    /// Key, as an id into the property-key dictionary.
    pub key: u32,
    /// Value.
    pub val: PropVal,
}

/// One visitor's events in time order (columns side by side).
#[derive(Debug, Clone, Default)]
pub struct Timeline {
    /// The visitor (for a stitched lead: the smallest linked visitor id).
    pub visitor: u64,
    /// Event times (ms), ascending; ties keep arrival order.
    pub ts: Vec<i64>,
    /// Per dimension (by [`Dim::index`]): query-dictionary ids, one per event; empty
    /// for dimensions not projected.
    pub dims: Vec<Vec<u32>>,
    /// Event i's properties are `prop_entries[prop_offsets[i]..prop_offsets[i+1]]`
    /// (when properties are projected).
    pub prop_offsets: Vec<u32>,
    /// Properties, with query-dictionary ids.
    pub prop_entries: Vec<PropEntry>,
    /// Revenue per event: (micros, currency id), when projected.
    pub revenue: Vec<Option<(i64, u32)>>,
}

impl Timeline {
    /// An empty timeline with a slot for every dimension.
    pub fn empty() -> Timeline {
        Timeline {
            dims: vec![Vec::new(); Dim::ALL.len()],
            ..Timeline::default()
        }
    }

    /// Number of events.
    pub fn len(&self) -> usize {
        self.ts.len()
    }

    /// Whether there are no events.
    pub fn is_empty(&self) -> bool {
        self.ts.is_empty()
    }

    /// Ids of a projected dimension.
    pub fn dim(&self, d: Dim) -> &[u32] {
        &self.dims[d.index()]
    }

    /// Properties of event i.
    pub fn props(&self, i: usize) -> &[PropEntry] {
        match (self.prop_offsets.get(i), self.prop_offsets.get(i + 1)) {
            (Some(&a), Some(&b)) => &self.prop_entries[a as usize..b as usize],
            _ => &[],
        }
    }

    /// Empties the timeline for `visitor`, keeping its memory.
    pub fn clear(&mut self, visitor: u64) {
        self.visitor = visitor;
        self.ts.clear();
        self.dims.iter_mut().for_each(Vec::clear);
        self.prop_offsets.clear();
        self.prop_entries.clear();
        self.revenue.clear();
    }

    /// Appends `src`'s events after this timeline's (`props`: properties are projected).
    pub fn append(&mut self, src: &Timeline, props: bool) {
        self.ts.extend_from_slice(&src.ts);
        for (d, s) in self.dims.iter_mut().zip(&src.dims) {
            d.extend_from_slice(s);
        }
        if props {
            if self.prop_offsets.is_empty() {
                self.prop_offsets.push(0);
            }
            for i in 0..src.len() {
                self.prop_entries.extend_from_slice(src.props(i));
                self.prop_offsets.push(self.prop_entries.len() as u32);
            }
        }
        self.revenue.extend_from_slice(&src.revenue);
    }

    /// Orders the events by time (stable: ties keep their order).
    pub fn sort_by_time(&mut self) {
        if self.ts.windows(2).all(|w| w[0] <= w[1]) {
            return;
        }
        let mut idx: Vec<usize> = (0..self.ts.len()).collect();
        idx.sort_by_key(|&i| self.ts[i]);
        self.ts = idx.iter().map(|&i| self.ts[i]).collect();
        for d in self.dims.iter_mut().filter(|d| !d.is_empty()) {
            *d = idx.iter().map(|&i| d[i]).collect();
        }
        if !self.revenue.is_empty() {
            self.revenue = idx.iter().map(|&i| self.revenue[i]).collect();
        }
        if !self.prop_offsets.is_empty() {
            let mut offs = Vec::with_capacity(idx.len() + 1);
            let mut ents = Vec::with_capacity(self.prop_entries.len());
            offs.push(0);
            for &i in &idx {
                ents.extend_from_slice(self.props(i));
                offs.push(ents.len() as u32);
            }
            self.prop_offsets = offs;
            self.prop_entries = ents;
        }
    }
}
