//! Visitor summaries: per visitor, which classes of events it has in the range, where the
//! first event of each class is, and the first non-empty value of some dimensions.
//!
//! That is all an analysis that asks "did the visitor do X at all, and did X come before
//! Y" reads (the influence analysis by visitor). A source can compute it without a
//! timeline of every event: the embedded store reads the event names of a visitor's run
//! and decodes its times only where a class occurs or the range cuts the run.
//! [`Summary::of`] computes it from a timeline: the definition, and the default
//! [`TimelineScan::summarize_range`](crate::TimelineScan::summarize_range).

use cairn_model::Dim;

use crate::Timeline;

/// Classes are bits of a `u64`.
pub const MAX_CLASSES: usize = 64;

/// An event's place in its visitor's timeline: its time, then `seq`, which orders the
/// visitor's events of the same time as the timeline does (arrival order). Places of one
/// visitor compare as the events' positions in its timeline; `seq` means nothing across
/// visitors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Place {
    /// Time (ms).
    pub ts: i64,
    /// Order among the visitor's events at `ts`.
    pub seq: u64,
}

/// What a summary holds, against a scan's dictionaries.
#[derive(Debug, Clone, Default)]
pub struct SummaryRequest {
    /// Per id of the scan's event-name dictionary: the classes its events belong to (bit
    /// k: class k). Ids past the end belong to none.
    pub classes: Vec<u64>,
    /// Dimensions (projected by the scan) whose first non-empty value is wanted.
    pub dims: Vec<Dim>,
    /// Whose values `dims` takes: `None`, every event's; `Some(m)`, only those of events
    /// of some class in `m`.
    pub dims_from: Option<u64>,
    /// The classes that make a visitor's first places needed: a visitor with none of
    /// them gets its classes and values exactly, but its places may be stale, and a
    /// source need not find them (an analysis that compares places only with a
    /// conversion's asks for them only of converters). All bits set: every visitor's.
    pub places: u64,
    /// `Some(m)`: a visitor with events of every class in `m` comes as its timeline
    /// instead of its summary (a source may send other visitors' timelines too, when it
    /// cannot tell cheaply, but never a summary of such a visitor). `None`: summaries only.
    pub timelines: Option<u64>,
    /// `Some(m)`: a timeline sent for a visitor (see `timelines`) may hold only its events
    /// of some class in `m`, for an analysis that reads nothing of its other events (an
    /// ordered funnel: only its steps); a source that drops rows keeps at least one (a
    /// visitor with none in the range comes as its summary). `None`: every event.
    pub timeline_rows: Option<u64>,
    /// `Some(m)`: a visitor with no event of a class in `m` may come as a count
    /// ([`Summarized::Others`]) instead of its summary, for an analysis that reads nothing
    /// of such a visitor but that it is there (a source counts them where that is cheaper
    /// than summarising them, and sends the rest as summaries). `None`: no counts.
    pub others: Option<u64>,
}

impl SummaryRequest {
    /// Whether a visitor with `classes` must come as its timeline.
    #[inline]
    pub fn wants_timeline(&self, classes: u64) -> bool {
        self.timelines.is_some_and(|m| classes & m == m)
    }

    /// Whether an event of `classes` gives the summary's dimension values.
    #[inline]
    pub fn gives_dims(&self, classes: u64) -> bool {
        self.dims_from.is_none_or(|m| classes & m != 0)
    }

    /// Passes `tl` to `f` as what the request asks of its visitor: its summary (computed
    /// into `scratch`) or the timeline itself.
    pub fn visit(&self, tl: &Timeline, scratch: &mut Summary, f: &mut dyn FnMut(Summarized<'_>)) {
        Summary::of(tl, self, scratch);
        if self.wants_timeline(scratch.classes) {
            f(Summarized::Timeline(tl));
        } else {
            f(Summarized::Summary(scratch));
        }
    }

    /// Whether a timeline's event of `classes` must be kept (see `timeline_rows`).
    #[inline]
    pub fn keeps_row(&self, classes: u64) -> bool {
        self.timeline_rows.is_none_or(|m| classes & m != 0)
    }

    /// The classes of the events named by id `name`.
    #[inline]
    pub fn classes_of(&self, name: u32) -> u64 {
        self.classes.get(name as usize).copied().unwrap_or(0)
    }
}

/// A visitor as a summarising scan passes it: its summary, or (when the request's
/// `timelines` say so) its timeline.
#[derive(Debug, Clone, Copy)]
pub enum Summarized<'a> {
    /// The visitor's summary.
    Summary(&'a Summary),
    /// The visitor's timeline.
    Timeline(&'a Timeline),
    /// This many visitors, each with an event in the scan's range and none of a class in
    /// the request's `others`, in no particular place among the others.
    Others(u64),
}

/// One visitor's summary over the scan's range.
#[derive(Debug, Clone)]
pub struct Summary {
    /// The visitor.
    pub visitor: u64,
    /// The classes it has an event of.
    pub classes: u64,
    /// Per class k whose bit is set: the place of its first event (other entries are
    /// stale, and so are all when the visitor has none of the request's `places`).
    pub first: [Place; MAX_CLASSES],
    /// Per dimension of the request: the id of its first non-empty value, if any.
    pub dims: Vec<Option<u32>>,
}

impl Default for Summary {
    fn default() -> Self {
        Summary {
            visitor: 0,
            classes: 0,
            first: [Place::default(); MAX_CLASSES],
            dims: Vec::new(),
        }
    }
}

impl Summary {
    /// Empties the summary for `visitor`, keeping its memory.
    pub fn clear(&mut self, visitor: u64, dims: usize) {
        self.visitor = visitor;
        self.classes = 0;
        self.dims.clear();
        self.dims.resize(dims, None);
    }

    /// The place of the first event of class `k`, if the visitor has one.
    #[inline]
    pub fn first_of(&self, k: usize) -> Option<Place> {
        (k < MAX_CLASSES && self.classes >> k & 1 == 1).then(|| self.first[k])
    }

    /// Adds an event of `classes` at `place`, later than every event added before it.
    #[inline]
    pub fn add_in_order(&mut self, classes: u64, place: Place) {
        let mut new = classes & !self.classes;
        while new != 0 {
            let k = new.trailing_zeros() as usize;
            self.first[k] = place;
            new &= new - 1;
        }
        self.classes |= classes;
    }

    /// Adds an event of `classes` at `place`, in any order.
    #[inline]
    pub fn add(&mut self, classes: u64, place: Place) {
        let mut bits = classes;
        while bits != 0 {
            let k = bits.trailing_zeros() as usize;
            if self.classes >> k & 1 == 0 || place < self.first[k] {
                self.first[k] = place;
            }
            bits &= bits - 1;
        }
        self.classes |= classes;
    }

    /// The summary of a timeline (which projects the event name and `req.dims`): each
    /// event's place is its time and position.
    pub fn of(tl: &Timeline, req: &SummaryRequest, out: &mut Summary) {
        out.clear(tl.visitor, req.dims.len());
        let names = tl.dim(Dim::Name);
        for (i, (&ts, &name)) in tl.ts.iter().zip(names).enumerate() {
            out.add_in_order(req.classes_of(name), Place { ts, seq: i as u64 });
        }
        for (slot, d) in out.dims.iter_mut().zip(&req.dims) {
            *slot = tl
                .dim(*d)
                .iter()
                .zip(names)
                .find(|&(&id, &name)| id != 0 && req.gives_dims(req.classes_of(name)))
                .map(|(&id, _)| id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_timeline_is_summarised_by_first_places() {
        let mut tl = Timeline::empty();
        tl.clear(7);
        tl.ts = vec![10, 10, 20, 30];
        tl.dims[Dim::Name.index()] = vec![1, 2, 1, 3];
        tl.dims[Dim::Device.index()] = vec![0, 0, 5, 6];
        let req = SummaryRequest {
            classes: vec![0, 0b01, 0b10, 0b110],
            dims: vec![Dim::Device],
            dims_from: None,
            places: u64::MAX,
            timelines: None,
            timeline_rows: None,
            others: None,
        };
        let mut s = Summary::default();
        Summary::of(&tl, &req, &mut s);
        assert_eq!(s.visitor, 7);
        assert_eq!(s.classes, 0b111);
        assert_eq!(s.first_of(0), Some(Place { ts: 10, seq: 0 }));
        assert_eq!(s.first_of(1), Some(Place { ts: 10, seq: 1 }));
        assert_eq!(s.first_of(2), Some(Place { ts: 30, seq: 3 }));
        assert_eq!(s.first_of(3), None);
        assert_eq!(s.dims, vec![Some(5)]);
        // Values from events of class 2 only (name 3).
        let from = SummaryRequest {
            dims_from: Some(0b100),
            ..req.clone()
        };
        Summary::of(&tl, &from, &mut s);
        assert_eq!(s.dims, vec![Some(6)]);
        // A visitor with classes 0 and 2 comes as its timeline; one without class 3 not.
        for (m, timeline) in [(0b101, true), (0b1001, false)] {
            let r = SummaryRequest {
                timelines: Some(m),
                ..req.clone()
            };
            let mut got = None;
            r.visit(&tl, &mut s, &mut |x| {
                got = Some(matches!(x, Summarized::Timeline(t) if t.visitor == 7));
            });
            assert_eq!(got, Some(timeline), "{m:b}");
        }
        // Out of order, the earliest place wins.
        let mut t = Summary::default();
        t.clear(7, 0);
        t.add(0b1, Place { ts: 30, seq: 0 });
        t.add(0b1, Place { ts: 20, seq: 9 });
        t.add(0b1, Place { ts: 20, seq: 10 });
        assert_eq!(t.first_of(0), Some(Place { ts: 20, seq: 9 }));
    }
}
