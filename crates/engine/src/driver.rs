//! The one driver every analysis runs on.
//!
//! An analysis says what it reads ([`Analysis::needs`], the goals it names, whether units
//! are leads) and how it compiles against a scan's dictionaries ([`Analysis::compile`]);
//! the compiled [`Pass`] folds one visitor's prepared timeline into a per-worker state,
//! merges states and finishes. [`run`] does everything else, once, for all of them:
//!
//! projection (columns of the analysis, its goals and the filters) → scan of the range →
//! goals and filters compiled → each timeline prepared (events kept by the filters,
//! sessions, goal hits) and folded per worker → states merged → finished. An analysis
//! that reads no more than a summary per visitor (which classes of events it has, where
//! the first of each is), or no more of most visitors, folds summaries instead, which a
//! source computes without building timelines.
//!
//! Analyses that need two passes (goals compared with the previous period, checkout's
//! step discovery before its funnel) call [`run`] twice.

use std::sync::Arc;

use cairn_model::query::{PageRules, Query, Resolved};
use cairn_timeline::{Summarized, Summary, SummaryRequest, Timeline, TimelineScan, TimelineSource};

use crate::matcher::Needs;
use crate::page_map::PageMap;
use crate::prepare::{Filters, Goals, Prepared};
use crate::{Error, RunOptions, scan_request};

/// One query being run: its plan, the source and the options.
#[derive(Clone, Copy)]
pub(crate) struct Cx<'p> {
    /// The spec (its analysis already planned).
    pub q: &'p Query,
    /// Its resolved range, time zone and filters.
    pub r: &'p Resolved,
    /// Where timelines come from.
    pub source: &'p dyn TimelineSource,
    /// Threads.
    pub opts: &'p RunOptions,
}

/// What every pass over one scan shares: the scan with its dictionaries, and
/// the goals and filters compiled against them.
pub(crate) struct Scope<'s> {
    /// The query's resolved range, time zone and filters (a pass may scan another
    /// range: goals' previous period).
    pub r: &'s Resolved,
    /// The scan: dictionaries, user links.
    pub scan: &'s dyn TimelineScan,
    /// The goals the analysis and the behavioural filters use.
    pub goals: Goals,
    /// The query's filters (its audience).
    pub filters: Filters,
    /// Pages: paths after the page grouping rules.
    pub pages: Arc<PageMap>,
}

/// An analysis as the driver sees it: what it reads, and how it compiles.
pub(crate) trait Analysis {
    /// The compiled analysis.
    type Pass: Pass;

    /// The goals it names. The driver compiles those, the goals they refer to and those
    /// of behavioural filters.
    fn goals(&self) -> Vec<&str> {
        Vec::new()
    }

    /// The columns it reads beyond those of its goals and the filters.
    fn needs(&self, _needs: &mut Needs) {}

    /// Whether its units are leads: timelines stitched by user, and visitors without a
    /// user left out.
    fn stitch(&self) -> bool {
        false
    }

    /// Compiles against one scan.
    fn compile(&self, sc: &Scope<'_>) -> Self::Pass;

    /// When a visitor's [`Summary`] is all the analysis reads (compiled against one
    /// scan as `pass`), of every visitor or of those whose classes do not ask for the timeline
    /// (the request's `timelines`): what it summarises. The driver then folds summaries
    /// with [`Pass::summary`] and the other visitors' timelines as usual, and a source
    /// computes summaries without building timelines. `None` (the default): timelines.
    fn summary(&self, _sc: &Scope<'_>, _pass: &Self::Pass) -> Option<SummaryRequest> {
        None
    }
}

/// A compiled analysis: a fold over prepared timelines.
pub(crate) trait Pass: Sync {
    /// Per-worker state (an accumulator and any scratch space).
    type State: Send;
    /// What the pass computes.
    type Output;

    /// Whether a visitor must pass the behavioural filters to be folded at all. Passes
    /// that apply them per unit themselves (goals, for leads) say `false`.
    const VISITOR_FILTERS: bool = true;

    /// A fresh state.
    fn state(&self) -> Self::State;

    /// Folds one visitor's timeline. `prep` holds at least one kept event.
    fn timeline(&self, sc: &Scope<'_>, tl: &Timeline, prep: &Prepared, st: &mut Self::State);

    /// Folds one visitor's summary, for an analysis whose [`Analysis::summary`] asked
    /// for them: the same as folding its timeline.
    fn summary(&self, _sc: &Scope<'_>, _s: &Summary, _st: &mut Self::State) {
        unreachable!("summaries are folded only by passes that ask for them")
    }

    /// Folds `n` visitors with no event of a class in the summary request's `others`,
    /// for an analysis whose request allowed counts: the same as folding their
    /// summaries.
    fn others(&self, _sc: &Scope<'_>, _n: u64, _st: &mut Self::State) {
        unreachable!("counts are folded only by passes that ask for them")
    }

    /// Adds `from` into `into`.
    fn merge(&self, into: &mut Self::State, from: Self::State);

    /// The result, from the merged state.
    fn finish(self, sc: &Scope<'_>, st: Self::State) -> Self::Output;
}

/// Puts the events of the names `single` selects in class `k` of a summary request's
/// `classes` (per event-name id), when `single` is one condition on the event name (an
/// [`EventPred::single`](crate::matcher::EventPred::single)); `None` otherwise.
pub(crate) fn add_name_class(
    classes: &mut [u64],
    k: usize,
    single: Option<(usize, &[bool])>,
) -> Option<()> {
    let (_, mask) = single.filter(|(d, _)| *d == cairn_model::Dim::Name.index())?;
    for (c, &hit) in classes.iter_mut().zip(mask) {
        if hit {
            *c |= 1 << k;
        }
    }
    Some(())
}

/// Runs analysis `a` over the timelines of `[from, to]`.
pub(crate) fn run<A: Analysis>(
    cx: Cx<'_>,
    a: &A,
    from: i64,
    to: i64,
) -> Result<<A::Pass as Pass>::Output, Error> {
    let (q, r) = (cx.q, cx.r);
    let used = Goals::used(q, r, &a.goals());
    let mut needs = Needs::default();
    Goals::needs(&q.goals, &used, &mut needs);
    Filters::needs(r, &mut needs);
    a.needs(&mut needs);
    let stitch = a.stitch();
    let scan = cx.source.scan(scan_request(q, from, to, &needs, stitch))?;
    let pages = Arc::new(PageMap::new(
        &*scan,
        &PageRules::new(&q.page_groups, "page_groups")?,
    ));
    let sc = Scope {
        r,
        scan: &*scan,
        goals: Goals::new(&*scan, &pages, &q.goals, &used),
        filters: Filters::new(&*scan, &pages, q, r),
        pages,
    };
    let pass = a.compile(&sc);
    let gap = q.session_gap.ms;
    let workers = cx.opts.workers(scan.worker_bytes());
    // One visitor's timeline: prepared (filters, sessions, goal hits) and folded.
    let fold = |(st, prep): &mut (<A::Pass as Pass>::State, Prepared), tl: &Timeline| {
        if stitch && sc.scan.user_of(tl.visitor).is_none() {
            return;
        }
        prep.fill(tl, &sc.filters, &sc.goals, gap);
        if prep.kept.is_empty()
            || (A::Pass::VISITOR_FILTERS && !sc.filters.keeps(|g| !prep.hits[g].is_empty()))
        {
            return;
        }
        pass.timeline(&sc, tl, prep, st);
    };
    let init = || (pass.state(), Prepared::default());
    let states = match a.summary(&sc, &pass) {
        Some(req) => scan.par_fold_summaries(workers, &req, init, |st, x| match x {
            Summarized::Summary(s) => pass.summary(&sc, s, &mut st.0),
            Summarized::Timeline(tl) => fold(st, tl),
            Summarized::Others(n) => pass.others(&sc, n, &mut st.0),
        })?,
        None => scan.par_fold(workers, init, fold)?,
    };
    let mut states = states.into_iter().map(|(st, _)| st);
    let mut st = states.next().unwrap_or_else(|| pass.state());
    for s in states {
        pass.merge(&mut st, s);
    }
    Ok(pass.finish(&sc, st))
}
