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

    /// Keeps the events whose id of dimension `d` (projected) passes `keep`, in their
    /// order. In one pass over the times and those ids when no other column is projected.
    pub fn retain_by(&mut self, d: Dim, keep: impl Fn(u32) -> bool) {
        assert_eq!(
            self.dims[d.index()].len(),
            self.ts.len(),
            "retain_by: {d:?} is not projected"
        );
        let others = !self.revenue.is_empty()
            || !self.prop_offsets.is_empty()
            || (self.dims.iter().enumerate()).any(|(j, v)| j != d.index() && !v.is_empty());
        let ids = &mut self.dims[d.index()];
        if others {
            let mask: Vec<bool> = ids.iter().map(|&x| keep(x)).collect();
            return self.retain(&mask);
        }
        let mut k = 0;
        for i in 0..ids.len() {
            let id = ids[i];
            ids[k] = id;
            self.ts[k] = self.ts[i];
            k += usize::from(keep(id));
        }
        ids.truncate(k);
        self.ts.truncate(k);
    }

    /// Keeps the events `keep` marks (one flag per event), in their order.
    pub fn retain(&mut self, keep: &[bool]) {
        assert_eq!(keep.len(), self.len(), "retain: one flag per event");
        compact(&mut self.ts, keep);
        for d in self.dims.iter_mut().filter(|d| !d.is_empty()) {
            compact(d, keep);
        }
        if !self.revenue.is_empty() {
            compact(&mut self.revenue, keep);
        }
        if !self.prop_offsets.is_empty() {
            // Entries move down over those of the events dropped before them.
            let (mut at, mut k) = (0usize, 0usize);
            let mut start = self.prop_offsets[0] as usize;
            self.prop_offsets[0] = 0;
            for (i, &on) in keep.iter().enumerate() {
                let end = self.prop_offsets[i + 1] as usize;
                if on {
                    self.prop_entries.copy_within(start..end, at);
                    at += end - start;
                    k += 1;
                    self.prop_offsets[k] = at as u32;
                }
                start = end;
            }
            self.prop_offsets.truncate(k + 1);
            self.prop_entries.truncate(at);
        }
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

/// Keeps the values `keep` marks, in their order (`keep` as long as `v`).
fn compact<T: Copy>(v: &mut Vec<T>, keep: &[bool]) {
    let mut k = 0;
    for (i, &on) in keep.iter().enumerate() {
        v[k] = v[i];
        k += usize::from(on);
    }
    v.truncate(k);
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    /// A random timeline: a name and a device per event, some properties and revenue.
    fn random(rng: &mut impl Rng, n: usize) -> Timeline {
        let mut tl = Timeline::empty();
        tl.clear(9);
        tl.prop_offsets.push(0);
        for i in 0..n {
            tl.ts.push(i as i64 * 10);
            tl.dims[Dim::Name.index()].push(rng.gen_range(0..4));
            tl.dims[Dim::Device.index()].push(rng.gen_range(0..3));
            for k in 0..rng.gen_range(0..3) {
                tl.prop_entries.push(PropEntry {
                    key: k,
                    val: PropVal::Num(rng.gen_range(0..100) as f64),
                });
            }
            tl.prop_offsets.push(tl.prop_entries.len() as u32);
            tl.revenue
                .push(rng.gen_bool(0.3).then(|| (rng.gen_range(1..1000), 1)));
        }
        tl
    }

    #[test]
    fn retain_keeps_the_marked_events_whole_and_in_order() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        for n in [0, 1, 2, 7, 40] {
            for _ in 0..50 {
                let tl = random(&mut rng, n);
                let keep: Vec<bool> = (0..n).map(|_| rng.gen_bool(0.5)).collect();
                // The reference: the kept events appended one by one.
                let mut want = Timeline::empty();
                want.clear(tl.visitor);
                want.prop_offsets.push(0);
                for i in (0..n).filter(|&i| keep[i]) {
                    want.ts.push(tl.ts[i]);
                    for d in [Dim::Name, Dim::Device] {
                        want.dims[d.index()].push(tl.dims[d.index()][i]);
                    }
                    want.prop_entries.extend_from_slice(tl.props(i));
                    want.prop_offsets.push(want.prop_entries.len() as u32);
                    want.revenue.push(tl.revenue[i]);
                }
                let mut got = tl.clone();
                got.retain(&keep);
                assert_eq!(got.ts, want.ts);
                assert_eq!(got.dims, want.dims);
                assert_eq!(got.prop_offsets, want.prop_offsets);
                assert_eq!(got.prop_entries, want.prop_entries);
                assert_eq!(got.revenue, want.revenue);
                // By the names' ids: the same, with other columns or without.
                let names: Vec<bool> = (0..4).map(|_| rng.gen_bool(0.5)).collect();
                let by_name: Vec<bool> = tl.dims[Dim::Name.index()]
                    .iter()
                    .map(|&x| names[x as usize])
                    .collect();
                let mut want = tl.clone();
                want.retain(&by_name);
                let mut got = tl.clone();
                got.retain_by(Dim::Name, |x| names[x as usize]);
                assert_eq!(got.ts, want.ts);
                assert_eq!(got.dims, want.dims);
                assert_eq!(got.prop_entries, want.prop_entries);
                let mut bare = tl.clone();
                bare.dims[Dim::Device.index()].clear();
                bare.prop_offsets.clear();
                bare.prop_entries.clear();
                bare.revenue.clear();
                bare.retain_by(Dim::Name, |x| names[x as usize]);
                assert_eq!(bare.ts, want.ts);
                assert_eq!(bare.dims[Dim::Name.index()], want.dims[Dim::Name.index()]);
            }
        }
    }
}
