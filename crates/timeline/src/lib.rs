//! The seam between Cairn's analyses and where the events live.
//!
//! An analysis reads **visitor timelines**: each visitor's events in time order over a
//! time range, with only the columns it asked for. This crate holds the plain data types
//! of that exchange and the two traits a storage backend implements:
//!
//! * [`ScanRequest`] — the projection: site, time range, dimensions, property keys,
//!   revenue, dimension filters and identity stitching.
//! * [`TimelineSource`] — prepares a [`TimelineScan`] for a request over a fixed view of
//!   the data.
//! * [`TimelineScan`] — the scan: query-wide string dictionaries ([`QueryDict`]), the
//!   visitor → user links, a [`split`](TimelineScan::split) of the visitor space into
//!   [`VisitorRange`]s for parallel workers, and the timelines themselves
//!   ([`Timeline`]: columns side by side, strings as dictionary ids, so a worker reuses
//!   one buffer and allocates nothing per event), or per visitor a [`Summary`] of the
//!   classes of events it has and where the first of each is, for the analyses that
//!   read no more (or no more of most visitors: those whose classes ask for more come
//!   as timelines, [`Summarized`]).
//!
//! `cairn-store` implements the traits for the embedded store; [`memory::MemorySource`]
//! implements them over a `Vec<Event>`, as the plain reference every backend's answers
//! are checked against (`crates/conformance`). `cairn-engine` depends on this crate and
//! `cairn-model` only. See `docs/architecture.md`.

mod dict;
pub mod memory;
mod request;
mod scan;
mod summary;
mod timeline;

pub use dict::{QueryDict, ScanDicts};
pub use request::ScanRequest;
pub use scan::{SourceError, TimelineScan, TimelineSource, VisitorRange};
pub use summary::{MAX_CLASSES, Place, Summarized, Summary, SummaryRequest};
pub use timeline::{PropEntry, PropVal, Timeline};
