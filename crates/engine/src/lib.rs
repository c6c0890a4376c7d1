//! Cairn's analysis engine: goals and conversion rates, funnels, and the built-in
//! micro-conversion reports, computed over visitor timelines.
//!
//! [`Engine`] is a [`Backend`]: it takes a [`Query`] (the query spec of `cairn-model`),
//! reads the visitor timelines it needs from any [`TimelineSource`] (the seam of
//! `cairn-timeline`: the embedded store, the in-memory source, …), and returns a
//! [`QueryResult`]. Work is split across threads by visitor ranges
//! ([`TimelineScan::par_fold`](cairn_timeline::TimelineScan)); each worker folds its
//! timelines into a small accumulator and the accumulators are merged. The engine knows
//! nothing of how a source stores its events.
//!
//! The semantics of every number are documented in `docs/analyses.md` and
//! `docs/funnels.md`; `crates/conformance` checks this engine on every source against a
//! slow reference implementation of those documents on random event streams.

mod buckets;
mod funnel;
mod goals;
mod matcher;
mod prepare;
mod reports;
pub mod stats;

use cairn_model::query::result::QueryResult;
use cairn_model::query::{Analysis, Query, SpecError};
use cairn_timeline::{ScanRequest, TimelineSource};

pub use buckets::Buckets;
pub use cairn_timeline::SourceError;
pub use funnel::core::{Core, CoreExclusion, Outcome};

/// Why a query failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The spec is invalid: the client's mistake, with the field at fault.
    #[error("invalid query: {0}")]
    Spec(#[from] SpecError),
    /// The timeline source failed. Its text is for the operator's log (it may name
    /// files), not for clients.
    #[error("the event source failed: {0}")]
    Source(#[from] SourceError),
}

/// Answers query specs: the seam between the server or CLI and whatever computes the
/// answer. Every backend returns the same [`QueryResult`] for the same spec and data.
pub trait Backend: Sync {
    /// Runs one query.
    fn query(&self, q: &Query) -> Result<QueryResult, Error>;
}

/// This engine's analyses over a timeline source, as a [`Backend`].
pub struct Engine<'a> {
    /// Where the timelines come from.
    pub source: &'a dyn TimelineSource,
    /// Threads and other options.
    pub opts: RunOptions,
}

impl<'a> Engine<'a> {
    /// The analyses over `source`, on every available core.
    pub fn new(source: &'a dyn TimelineSource) -> Engine<'a> {
        Engine {
            source,
            opts: RunOptions::default(),
        }
    }
}

impl Backend for Engine<'_> {
    fn query(&self, q: &Query) -> Result<QueryResult, Error> {
        run(self.source, q, &self.opts)
    }
}

/// How to run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Worker threads.
    pub threads: usize,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
        }
    }
}

/// Runs a query over a timeline source.
pub fn run(
    source: &dyn TimelineSource,
    q: &Query,
    opts: &RunOptions,
) -> Result<QueryResult, Error> {
    let r = q.resolve()?;
    Ok(match &q.effective_analysis() {
        Analysis::Goals(spec) => QueryResult::Goals(goals::run(source, q, &r, spec, opts)?),
        Analysis::Funnel(spec) => QueryResult::Funnel(funnel::run(source, q, &r, spec, opts)?),
        Analysis::Checkout(spec) => {
            QueryResult::Checkout(reports::checkout(source, q, &r, spec, opts)?)
        }
        Analysis::CartAbandonment(spec) => {
            QueryResult::CartAbandonment(reports::cart(source, q, &r, spec, opts)?)
        }
        Analysis::Forms(spec) => QueryResult::Forms(reports::forms(source, q, &r, spec, opts)?),
        Analysis::Pages(spec) => QueryResult::Pages(reports::pages(source, q, &r, spec, opts)?),
        Analysis::Overview(spec) => {
            QueryResult::Overview(reports::overview(source, q, &r, spec, opts)?)
        }
        Analysis::SavedFunnel(s) => {
            return Err(Error::Spec(SpecError::new(
                "analysis.name",
                format!("no funnel named `{}`", s.name),
            )));
        }
    })
}

pub(crate) fn scan_request(
    q: &Query,
    from: i64,
    to: i64,
    needs: &matcher::Needs,
    stitch: bool,
) -> ScanRequest {
    let mut req = ScanRequest::new(q.site.clone())
        .range(from, to)
        .dims(&needs.dim_list());
    req.props = !needs.prop_keys.is_empty();
    req.prop_keys = Some(needs.prop_keys.iter().cloned().collect());
    req.prop_strings = needs.prop_strings;
    req.revenue = needs.revenue;
    req.stitch = stitch;
    req
}
