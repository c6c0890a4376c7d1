//! Cairn's analysis engine: goals and conversion rates, funnels, and the built-in
//! micro-conversion reports, computed over visitor timelines.
//!
//! [`Engine`] is a [`Backend`]: it takes a [`Query`] (the query spec of `cairn-model`),
//! reads the visitor timelines it needs from any [`TimelineSource`] (the seam of
//! `cairn-timeline`: the embedded store, the in-memory source, …), and returns a
//! [`QueryResult`]. Every analysis runs on one driver (`driver.rs`): the query is
//! planned once ([`Query::plan`]), the analysis says which columns it reads and compiles
//! against the scan's dictionaries, and the driver scans, prepares each visitor's
//! timeline (filters, sessions, goal hits) and folds it per worker across visitor
//! ranges ([`TimelineScan::par_fold`](cairn_timeline::TimelineScan)), then merges the
//! workers' states and finishes. The engine knows nothing of how a source stores its
//! events.
//!
//! The semantics of every number are documented in `docs/analyses.md` and
//! `docs/funnels.md`; `crates/conformance` checks this engine on every source against a
//! slow reference implementation of those documents on random event streams.

mod attribution;
mod buckets;
mod driver;
mod experiment;
mod funnel;
mod goals;
mod influence;
mod leading;
mod markov;
mod matcher;
mod page_map;
mod paths;
mod prepare;
mod reports;
pub mod stats;

use cairn_model::query::result::QueryResult;
use cairn_model::query::{Analysis, Plan, Query, SpecError};
use cairn_timeline::{ScanRequest, TimelineSource};

pub use buckets::Buckets;
pub use cairn_timeline::SourceError;
pub use experiment::{CupedMetric, cuped_metrics, revenue_metrics};
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
    /// Runs one planned query ([`Query::plan`]).
    fn query(&self, plan: &Plan) -> Result<QueryResult, Error>;
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
    fn query(&self, plan: &Plan) -> Result<QueryResult, Error> {
        run(self.source, plan, &self.opts)
    }
}

/// How to run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Worker threads, at most.
    pub threads: usize,
    /// Bytes the workers of one scan may hold together (decoded blocks and buffers, as
    /// the source estimates them: [`TimelineScan::worker_bytes`]); fewer workers run
    /// when more would need more. One worker always runs.
    ///
    /// [`TimelineScan::worker_bytes`]: cairn_timeline::TimelineScan::worker_bytes
    pub memory_budget: u64,
}

/// The default [`RunOptions::memory_budget`]: 512 MiB.
pub const MEMORY_BUDGET: u64 = 512 << 20;

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            memory_budget: MEMORY_BUDGET,
        }
    }
}

impl RunOptions {
    /// Workers for a scan whose workers hold `worker_bytes` each: as many as the budget
    /// allows, at most `threads`, at least one.
    pub fn workers(&self, worker_bytes: u64) -> usize {
        let fit = self.memory_budget / worker_bytes.max(1);
        (fit.min(self.threads as u64) as usize).max(1)
    }
}

/// Runs a planned query over a timeline source.
pub fn run(
    source: &dyn TimelineSource,
    plan: &Plan,
    opts: &RunOptions,
) -> Result<QueryResult, Error> {
    let cx = driver::Cx {
        q: plan.query(),
        r: plan.resolved(),
        source,
        opts,
    };
    Ok(match plan.analysis() {
        Analysis::Goals(spec) => QueryResult::Goals(goals::run(cx, spec)?),
        Analysis::Funnel(spec) => QueryResult::Funnel(funnel::run(cx, spec)?),
        Analysis::Checkout(spec) => QueryResult::Checkout(reports::checkout::run(cx, spec)?),
        Analysis::CartAbandonment(spec) => {
            QueryResult::CartAbandonment(reports::cart::run(cx, spec)?)
        }
        Analysis::Forms(spec) => QueryResult::Forms(reports::forms::run(cx, spec)?),
        Analysis::Pages(spec) => QueryResult::Pages(reports::pages::run(cx, spec)?),
        Analysis::Overview(spec) => QueryResult::Overview(reports::overview::run(cx, spec)?),
        Analysis::Paths(spec) => QueryResult::Paths(paths::flow::run(cx, spec)?),
        Analysis::Transitions(spec) => QueryResult::Transitions(paths::transitions::run(cx, spec)?),
        Analysis::Influence(spec) => QueryResult::Influence(influence::run(cx, spec)?),
        Analysis::Attribution(spec) => QueryResult::Attribution(attribution::run(cx, spec)?),
        Analysis::Experiment(spec) => QueryResult::Experiment(experiment::run(cx, spec)?),
        Analysis::ExperimentPlan(spec) => QueryResult::ExperimentPlan(experiment::plan(cx, spec)?),
        Analysis::LeadingIndicators(spec) => {
            QueryResult::LeadingIndicators(leading::run(cx, spec)?)
        }
        Analysis::Events(spec) => QueryResult::Events(reports::events::run(cx, spec)?),
        // A plan replaces a saved funnel by its definition.
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
    req.props = needs.all_props || !needs.prop_keys.is_empty();
    req.prop_keys = (!needs.all_props).then(|| needs.prop_keys.iter().cloned().collect());
    req.prop_strings = needs.all_props || needs.prop_strings;
    req.revenue = needs.revenue;
    req.stitch = stitch;
    // Leads are linked visitors: the driver passes over the others.
    req.linked_only = stitch;
    req
}

/// Random inputs of the unit tests' random cases, from `seed` (rand's seeded generator,
/// as the store's tests use).
#[cfg(test)]
pub(crate) fn random(seed: u64) -> impl FnMut() -> u64 {
    use rand::{RngCore, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    move || rng.next_u64()
}

#[cfg(test)]
mod tests {
    use super::RunOptions;

    #[test]
    fn item14_workers_fit_the_memory_budget() {
        let o = RunOptions {
            threads: 8,
            memory_budget: 100,
        };
        assert_eq!(o.workers(0), 8, "nothing held per worker: every thread");
        assert_eq!(o.workers(10), 8);
        assert_eq!(o.workers(30), 3);
        assert_eq!(o.workers(100), 1);
        assert_eq!(o.workers(1_000), 1, "one worker always runs");
    }
}
