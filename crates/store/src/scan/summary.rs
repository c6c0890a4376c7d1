//! Visitor summaries ([`Summary`]) straight from the runs, without timelines.
//!
//! For each visitor the cursors stand on its runs (one per source holding it), as for a
//! timeline. A run's classes are the union of a table over its event-name ids, read
//! where they lie. Its times are decoded only when they are needed: the run is not
//! wholly inside the range (rows must be cut), the run has an event of some class (its
//! first's place), or the visitor has runs in several sources and a dimension's first
//! value is asked for (places decide which run's value is first). Most runs of most
//! visitors need none of these, and the times are most of a scan's decoding.
//!
//! A place's `seq` is the run's position among the visitor's runs (sources in the
//! order the timeline concatenates them), then the row's in the run: events of the same
//! time are ordered as the timeline orders them.

use cairn_model::Dim;
use cairn_timeline::{Place, Summarized, Summary, SummaryRequest, Timeline, VisitorRange};

use super::{Cursor, Scan, SourceKind, members_of};
use crate::error::{Result, corrupted};
use crate::segment::packed::Meets;

/// The most dimensions the fast path takes (more: the timelines are summarised).
const MAX_DIMS: usize = 8;

/// Scratch of one summary: per requested dimension, the place and query id of the
/// first non-empty value so far.
type DimFirsts = Vec<Option<(Place, u32)>>;

impl Scan {
    /// Calls `f` with the summary or timeline of each visitor in `range` with an event
    /// in the scan, in visitor order (the contract of
    /// [`TimelineScan::summarize_range`](cairn_timeline::TimelineScan::summarize_range)).
    /// A visitor comes as its timeline when the classes of its runs (over the whole
    /// runs that have an event in the range, or may have: see [`Meets`]) ask for it.
    pub fn summarize_range(
        &self,
        range: VisitorRange,
        req: &SummaryRequest,
        mut f: impl FnMut(Summarized<'_>),
    ) -> Result<()> {
        let projected = |d: Dim| self.proj.dims[d.index()];
        if !projected(Dim::Name)
            || !req.dims.iter().all(|&d| projected(d))
            || req.dims.len() > MAX_DIMS
            || !self.req.filters.is_empty()
            || self.req.stitch
        {
            // Not what the fast path reads: summarise the timelines.
            let mut s = Summary::default();
            self.scan_range(range, |tl| req.visit(tl, &mut s, &mut f))?;
            return Ok(());
        }
        // Per source, per local event-name id: its classes.
        let locals: Vec<Vec<u64>> = self
            .sources
            .iter()
            .map(|s| {
                let mut t: Vec<u64> = match &s.remap.dims[Dim::Name.index()] {
                    Some(map) => map.iter().map(|&q| req.classes_of(q)).collect(),
                    // The buffer's ids are query ids.
                    None => req.classes.clone(),
                };
                // Every one-byte id has an entry: looked up without a bound check.
                if t.len() < 256 {
                    t.resize(256, 0);
                }
                t
            })
            .collect();
        let mut cursors = self.cursors(range, &locals)?;
        let mut sum = Summary::default();
        let mut firsts: DimFirsts = vec![None; req.dims.len()];
        let mut members: Vec<usize> = Vec::new();
        let mut ts: Vec<i64> = Vec::new();
        let mut run_classes: Vec<u64> = Vec::new();
        let mut tl = Timeline::empty();
        // Visitors counted, not summarised (the request's `others`).
        let mut others = 0u64;
        while let Some(v) = cursors.iter().filter_map(|c| c.cur).min() {
            members_of(&cursors, v, &mut members);
            let multi = members.len() > 1;
            // The visitor's classes (over-counted where a range cuts a run: enough to
            // decide whether its places or its timeline are needed).
            run_classes.clear();
            run_classes.extend(members.iter().map(|&m| cursors[m].cur_classes));
            let all = run_classes.iter().fold(0, |a, c| a | c);
            if req.wants_timeline(all) {
                // As `scan_range` builds it.
                tl.clear(v);
                for &m in &members {
                    cursors[m].emit(&self.req, &mut tl)?;
                    cursors[m].advance()?;
                }
                if !tl.is_empty() {
                    if multi {
                        tl.sort_by_time();
                    }
                    if req.timeline_rows.is_some() {
                        // Only the rows the analysis reads.
                        let keeps = |n: u32| req.keeps_row(req.classes_of(n));
                        if tl.dim(Dim::Name).iter().any(|&n| keeps(n)) {
                            tl.retain_by(Dim::Name, keeps);
                        } else {
                            // None in range: its summary, unless that asks for its
                            // timeline (whole, then).
                            Summary::of(&tl, req, &mut sum);
                            if !req.wants_timeline(sum.classes) {
                                f(Summarized::Summary(&sum));
                                continue;
                            }
                        }
                    }
                    f(Summarized::Timeline(&tl));
                }
                continue;
            }
            if let Some(m) = req.others
                && all & m == 0
                && members.iter().all(|&m| cursors[m].whole_in_range())
            {
                // Of no class asked for, with every event in range: counted.
                others += 1;
                for &m in &members {
                    cursors[m].advance()?;
                }
                continue;
            }
            sum.clear(v, req.dims.len());
            firsts.fill(None);
            let places = all & req.places != 0;
            let mut any = false;
            for (k, &m) in members.iter().enumerate() {
                let at = Member {
                    order: k as u64,
                    multi,
                    places,
                    classes: run_classes[k],
                };
                let local = &locals[cursors[m].source()];
                any |= cursors[m].summarize(
                    &self.req,
                    req,
                    local,
                    at,
                    &mut sum,
                    &mut firsts,
                    &mut ts,
                )?;
                cursors[m].advance()?;
            }
            if !any {
                continue;
            }
            for (slot, first) in sum.dims.iter_mut().zip(&firsts) {
                *slot = first.map(|(_, id)| id);
            }
            f(Summarized::Summary(&sum));
        }
        if others > 0 {
            f(Summarized::Others(others));
        }
        Ok(())
    }
}

/// Where a run stands among its visitor's runs.
#[derive(Clone, Copy)]
struct Member {
    /// Its position (the timeline's order of sources).
    order: u64,
    /// Whether the visitor has runs in other sources too.
    multi: bool,
    /// Whether the visitor's first places are needed.
    places: bool,
    /// The run's classes (its cursor's `cur_classes`).
    classes: u64,
}

impl Member {
    fn place(&self, ts: i64, row: usize) -> Place {
        Place {
            ts,
            seq: self.order << 32 | row as u64,
        }
    }
}

impl Cursor<'_> {
    /// Whether every row of the current run, of a segment block, is in the scan's time
    /// range (false for the in-memory buffer, whose rows are checked one by one): a
    /// block the range cuts says so run by run, any other lies in the range.
    fn whole_in_range(&self) -> bool {
        self.mem.is_none()
            && self.loaded
            && self.meets.get(self.run).is_none_or(|m| *m == Meets::All)
    }

    /// Adds the current run's rows in the scan's range to `sum` and `firsts`; whether it
    /// had any.
    #[allow(clippy::too_many_arguments)]
    fn summarize(
        &mut self,
        sreq: &cairn_timeline::ScanRequest,
        req: &SummaryRequest,
        local: &[u64],
        at: Member,
        sum: &mut Summary,
        firsts: &mut DimFirsts,
        ts: &mut Vec<i64>,
    ) -> Result<bool> {
        let in_range = |t: i64| t >= sreq.from && t <= sreq.to;
        let name = Dim::Name.index();
        if let Some(b) = &self.mem {
            // The buffer: times and query ids, decoded.
            let r = b.runs[self.run];
            let (lo, hi) = (r.start as usize, (r.start + r.len) as usize);
            let names = b.dims[name].as_deref().unwrap_or_default();
            let mut any = false;
            for i in lo..hi {
                let t = b.ts[i];
                if !in_range(t) {
                    continue;
                }
                any = true;
                let classes = req.classes_of(names.get(i).copied().unwrap_or(0));
                add_event(sum, firsts, req, at.place(t, i - lo), classes, |d| {
                    b.dims[d.index()].as_ref().map_or(0, |v| v[i])
                });
            }
            return Ok(any);
        }
        if !self.loaded {
            return Ok(false);
        }
        let SourceKind::Segment { reader, .. } = &self.src.kind else {
            return Ok(false);
        };
        let whole = self.whole_in_range();
        let remap = &self.src.remap;
        let p = &mut self.packed;
        let r = p.runs[self.run];
        let (lo, n) = (r.start as usize, r.len as usize);
        let query_id = |d: Dim, id: u32| match &remap.dims[d.index()] {
            Some(map) => map.get(id as usize).copied().unwrap_or(0),
            None => id,
        };
        if !whole {
            // The range cuts the run: its times decide which rows count.
            ts.clear();
            p.ts_into(self.run, ts)
                .map_err(|e| corrupted(&reader.path, e.0))?;
            // A run's times ascend: its rows in range are one stretch.
            let a = ts.partition_point(|&t| t < sreq.from);
            let b = a + ts[a..].partition_point(|&t| t <= sreq.to);
            for (i, &t) in ts.iter().enumerate().take(b).skip(a) {
                let classes = p.lookup(name, self.run, lo + i, local);
                add_event(sum, firsts, req, at.place(t, i), classes, |d| {
                    query_id(d, p.id(d.index(), self.run, lo + i))
                });
            }
            return Ok(a < b);
        }
        // Every row is in range. The rows whose place is needed: each class's first in
        // the run and, when the visitor's other runs compete for it, each dimension's
        // first non-empty value; times are decoded up to the last of them.
        let run_classes = at.classes;
        let mut hits: [(u64, usize); 8] = [(0, 0); 8];
        let mut nhits = 0;
        let mut need = 0usize;
        if run_classes != 0 && !at.places {
            // The classes only: no place is read.
            sum.classes |= run_classes;
        } else if run_classes != 0 {
            let mut seen = 0u64;
            for i in 0..n {
                let c = p.lookup(name, self.run, lo + i, local);
                let new = c & !seen;
                if new != 0 {
                    seen |= new;
                    if nhits == hits.len() {
                        // More distinct first rows than kept: read the whole run.
                        need = n;
                        nhits = 0;
                        break;
                    }
                    hits[nhits] = (new, i);
                    nhits += 1;
                    need = i + 1;
                    if seen == run_classes {
                        break;
                    }
                }
            }
        }
        let mut dim_rows: [Option<(usize, u32)>; MAX_DIMS] = [None; MAX_DIMS];
        for (j, &d) in req.dims.iter().enumerate() {
            if query_id(d, 0) == 0 && p.run_ids_zero(d.index(), self.run) {
                // Empty on every row (most runs, for a campaign): none to find.
                continue;
            }
            dim_rows[j] = (0..n).find_map(|i| {
                if req.dims_from.is_some() {
                    let c = p.lookup(name, self.run, lo + i, local);
                    if !req.gives_dims(c) {
                        return None;
                    }
                }
                let q = query_id(d, p.id(d.index(), self.run, lo + i));
                (q != 0).then_some((i, q))
            });
            if at.multi
                && let Some((i, _)) = dim_rows[j]
            {
                need = need.max(i + 1);
            }
        }
        ts.clear();
        if need > 0 {
            p.ts_prefix_into(self.run, need, ts)
                .map_err(|e| corrupted(&reader.path, e.0))?;
        }
        if nhits == 0 && run_classes != 0 && at.places {
            // The whole run was read: each row's classes, in order.
            for (i, &t) in ts.iter().enumerate() {
                sum.add(p.lookup(name, self.run, lo + i, local), at.place(t, i));
            }
        }
        for &(c, i) in &hits[..nhits] {
            sum.add(c, at.place(ts[i], i));
        }
        for (first, row) in firsts.iter_mut().zip(&dim_rows) {
            let Some((i, q)) = *row else { continue };
            // Without competing runs the place is not compared: its time is not read.
            let place = at.place(ts.get(i).copied().unwrap_or(0), i);
            if first.is_none_or(|(p, _)| place < p) {
                *first = Some((place, q));
            }
        }
        Ok(n > 0)
    }
}

/// Adds one event in range, at `place`, of `classes`, with `id(d)` its query id of
/// dimension `d` (0: empty): its classes' firsts and the dimensions' first values (if
/// its classes give them), in any order of places.
fn add_event(
    sum: &mut Summary,
    firsts: &mut DimFirsts,
    req: &SummaryRequest,
    place: Place,
    classes: u64,
    id: impl Fn(Dim) -> u32,
) {
    sum.add(classes, place);
    if !req.gives_dims(classes) {
        return;
    }
    for (first, &d) in firsts.iter_mut().zip(&req.dims) {
        if first.is_some_and(|(q, _)| q < place) {
            continue;
        }
        let q = id(d);
        if q != 0 {
            *first = Some((place, q));
        }
    }
}
