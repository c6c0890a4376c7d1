//! Cairn's analysis engine: goals and conversion rates, funnels, and the built-in
//! micro-conversion reports, computed over the store's visitor timelines.
//!
//! [`run`] takes a [`Query`] (the query spec of `cairn-model`), reads the visitor
//! timelines it needs from a [`Store`] scan, and returns a [`QueryResult`]. Work is split
//! across threads by visitor ranges ([`cairn_store::Scan::par_fold`]); each worker folds
//! its timelines into a small accumulator and the accumulators are merged.
//!
//! The semantics of every number are documented in `docs/analyses.md` and
//! `docs/funnels.md`; the tests check this engine against a slow reference
//! implementation of those documents on random event streams.

mod buckets;
mod funnel;
mod goals;
mod matcher;
mod prepare;
mod reports;
pub mod stats;

use cairn_model::query::result::QueryResult;
use cairn_model::query::{Analysis, Query, SpecError};
use cairn_store::{ScanRequest, Store, StoreError};

pub use buckets::Buckets;
pub use funnel::core::{Core, CoreExclusion, Outcome};

/// Why a query failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The spec is invalid.
    #[error("invalid query: {0}")]
    Spec(#[from] SpecError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Another backend failed.
    #[error(transparent)]
    Backend(Box<dyn std::error::Error + Send + Sync>),
}

/// Where the events live, behind the query spec: the seam between the analyses and a
/// storage backend. Every backend returns the same [`QueryResult`] for the same spec.
pub trait Backend {
    /// Runs one query.
    fn query(&self, q: &Query) -> Result<QueryResult, Error>;
}

/// The embedded store as a backend.
pub struct Embedded<'a> {
    /// The store.
    pub store: &'a Store,
    /// Threads and other options.
    pub opts: RunOptions,
}

impl Backend for Embedded<'_> {
    fn query(&self, q: &Query) -> Result<QueryResult, Error> {
        run(self.store, q, &self.opts)
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

/// Runs a query against the embedded store.
pub fn run(store: &Store, q: &Query, opts: &RunOptions) -> Result<QueryResult, Error> {
    let r = q.resolve()?;
    Ok(match &q.effective_analysis() {
        Analysis::Goals(spec) => QueryResult::Goals(goals::run(store, q, &r, spec, opts)?),
        Analysis::Funnel(spec) => QueryResult::Funnel(funnel::run(store, q, &r, spec, opts)?),
        Analysis::Checkout(spec) => {
            QueryResult::Checkout(reports::checkout(store, q, &r, spec, opts)?)
        }
        Analysis::CartAbandonment(spec) => {
            QueryResult::CartAbandonment(reports::cart(store, q, &r, spec, opts)?)
        }
        Analysis::Forms(spec) => QueryResult::Forms(reports::forms(store, q, &r, spec, opts)?),
        Analysis::Pages(spec) => QueryResult::Pages(reports::pages(store, q, &r, spec, opts)?),
        Analysis::Overview(spec) => {
            QueryResult::Overview(reports::overview(store, q, &r, spec, opts)?)
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
