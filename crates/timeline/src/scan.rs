//! The two traits a storage backend implements, and the parallel fold over them.

use cairn_model::Dim;

use crate::{QueryDict, ScanDicts, ScanRequest, Summarized, Summary, SummaryRequest, Timeline};

/// Why a source could not answer. The message is for the operator's log: it may name
/// files and internal state, so servers show a generic message to clients instead.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The source refuses to serve until an operator acts (damage found, writes
    /// poisoned): retrying will not help.
    #[error("{0}")]
    Unavailable(Box<dyn std::error::Error + Send + Sync>),
    /// A remote backend cannot be reached now (network, timeout): retrying later may
    /// help, so servers answer `503` with `Retry-After`.
    #[error("{0}")]
    Unreachable(Box<dyn std::error::Error + Send + Sync>),
    /// Any other failure (I/O, a remote backend's error).
    #[error("{0}")]
    Failed(Box<dyn std::error::Error + Send + Sync>),
}

/// An inclusive range of visitor ids for one worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VisitorRange {
    /// First visitor id.
    pub lo: u64,
    /// Last visitor id (inclusive).
    pub hi: u64,
}

impl VisitorRange {
    /// Every visitor.
    pub const ALL: VisitorRange = VisitorRange {
        lo: 0,
        hi: u64::MAX,
    };

    /// Whether `v` is in the range.
    pub fn contains(&self, v: u64) -> bool {
        self.lo <= v && v <= self.hi
    }
}

/// Where visitor timelines come from: the embedded store, a remote database, a `Vec`.
pub trait TimelineSource: Sync {
    /// Prepares a scan over a fixed view of the data: events appended later are not seen.
    fn scan(&self, req: ScanRequest) -> Result<Box<dyn TimelineScan + '_>, SourceError>;
}

/// A prepared scan: dictionaries, user links and the timelines of one request.
///
/// Contract (checked for every source by `crates/conformance`):
/// * each visitor with at least one event in the range (after the request's filters) is
///   passed exactly once, with its events ordered by time (ties in arrival order), and
///   only the projected columns filled;
/// * with `stitch`, the visitors linked to one user and to at least one other visitor
///   are passed once together, as one timeline under the smallest visitor id, by
///   [`finish_stitched`](TimelineScan::finish_stitched), never by
///   [`scan_range`](TimelineScan::scan_range);
/// * strings are ids of the scan's dictionaries, the same for every range.
pub trait TimelineScan: Sync {
    /// The request.
    fn request(&self) -> &ScanRequest;
    /// The scan's dictionaries.
    fn dicts(&self) -> &ScanDicts;
    /// The dictionary of a dimension.
    fn dict(&self, d: Dim) -> &QueryDict {
        &self.dicts().dims[d.index()]
    }
    /// The dictionary of property keys.
    fn prop_keys(&self) -> &QueryDict {
        &self.dicts().prop_keys
    }
    /// The dictionary of string property values.
    fn prop_values(&self) -> &QueryDict {
        &self.dicts().prop_values
    }
    /// The dictionary of currencies.
    fn currencies(&self) -> &QueryDict {
        &self.dicts().currencies
    }
    /// The user linked to a visitor, if any.
    fn user_of(&self, visitor: u64) -> Option<&str>;
    /// Up to `n` disjoint ranges covering every visitor, with about equal work each.
    fn split(&self, n: usize) -> Vec<VisitorRange>;
    /// About how many bytes one worker holds while it scans a range (decoded blocks and
    /// read buffers; not what the caller folds into): [`par_fold`](dyn TimelineScan)
    /// runs no more workers than a memory budget allows. 0 when nothing is held per
    /// worker (a source that hands out what it keeps anyway).
    fn worker_bytes(&self) -> u64 {
        0
    }
    /// Calls `f` for each visitor in `range`, in visitor order. Visitors of a stitched
    /// lead are not passed to `f` but returned, for
    /// [`finish_stitched`](TimelineScan::finish_stitched) once every range is done.
    fn scan_range(
        &self,
        range: VisitorRange,
        f: &mut dyn FnMut(&Timeline),
    ) -> Result<Vec<Timeline>, SourceError>;
    /// Merges the timelines `scan_range` held back and passes each lead's timeline to `f`.
    fn finish_stitched(&self, deferred: Vec<Timeline>, f: &mut dyn FnMut(&Timeline));
    /// Calls `f` with each visitor in `range` that has an event in the scan, in visitor
    /// order: its summary, the [`Summary::of`] its timeline but for `seq`, which need
    /// only order a visitor's places as its timeline does; or its timeline, for a
    /// visitor the request's `timelines` ask it of (holding only the events its
    /// `timeline_rows` keep, where the source drops the others). The scan projects the
    /// event name and `req.dims`, and does not stitch. The default summarises each
    /// timeline; a source may compute the same without building them.
    fn summarize_range(
        &self,
        range: VisitorRange,
        req: &SummaryRequest,
        f: &mut dyn FnMut(Summarized<'_>),
    ) -> Result<(), SourceError> {
        if self.request().stitch {
            return Err(SourceError::Failed("summaries of a stitched scan".into()));
        }
        let mut s = Summary::default();
        self.scan_range(range, &mut |tl| req.visit(tl, &mut s, f))?;
        Ok(())
    }
}

impl dyn TimelineScan + '_ {
    /// Every timeline, single-threaded, stitched ones last.
    pub fn for_each(&self, mut f: impl FnMut(&Timeline)) -> Result<(), SourceError> {
        let deferred = self.scan_range(VisitorRange::ALL, &mut f)?;
        self.finish_stitched(deferred, &mut f);
        Ok(())
    }

    /// Folds every timeline on up to `threads` worker threads, one state per worker;
    /// stitched leads go to the first state.
    pub fn par_fold<S: Send>(
        &self,
        threads: usize,
        init: impl Fn() -> S + Sync,
        f: impl Fn(&mut S, &Timeline) + Sync,
    ) -> Result<Vec<S>, SourceError> {
        let (mut states, deferred) =
            self.fold_ranges(threads, init, |r, s| self.scan_range(r, &mut |t| f(s, t)))?;
        if let Some(s) = states.first_mut() {
            self.finish_stitched(deferred, &mut |t| f(s, t));
        }
        Ok(states)
    }

    /// Folds every visitor's summary or timeline (see
    /// [`TimelineScan::summarize_range`]) on up to `threads` worker threads, one state
    /// per worker.
    pub fn par_fold_summaries<S: Send>(
        &self,
        threads: usize,
        req: &SummaryRequest,
        init: impl Fn() -> S + Sync,
        f: impl Fn(&mut S, Summarized<'_>) + Sync,
    ) -> Result<Vec<S>, SourceError> {
        let (states, _) = self.fold_ranges(threads, init, |r, s| {
            self.summarize_range(r, req, &mut |x| f(s, x))?;
            Ok(Vec::new())
        })?;
        Ok(states)
    }

    /// Runs `work` over each of up to `threads` ranges on its own thread and state; the
    /// states in range order, and the timelines held back.
    fn fold_ranges<S: Send>(
        &self,
        threads: usize,
        init: impl Fn() -> S + Sync,
        work: impl Fn(VisitorRange, &mut S) -> Result<Vec<Timeline>, SourceError> + Sync,
    ) -> Result<(Vec<S>, Vec<Timeline>), SourceError> {
        let ranges = self.split(threads.max(1));
        type Part<S> = Result<(S, Vec<Timeline>), SourceError>;
        let results: Vec<Part<S>> = std::thread::scope(|sc| {
            let handles: Vec<_> = ranges
                .iter()
                .map(|&r| {
                    let (init, work) = (&init, &work);
                    sc.spawn(move || {
                        let mut s = init();
                        let d = work(r, &mut s)?;
                        Ok((s, d))
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
                .collect()
        });
        let mut states = Vec::new();
        let mut deferred = Vec::new();
        for r in results {
            let (s, d) = r?;
            states.push(s);
            deferred.extend(d);
        }
        Ok((states, deferred))
    }
}
