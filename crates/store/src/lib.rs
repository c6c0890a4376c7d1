//! Cairn's embedded event store.
//!
//! * [`Store`] is the store: [`Store::append`] makes records durable through a
//!   checksummed write-ahead log with group commit; a background thread flushes the
//!   in-memory buffer to immutable columnar segments and compacts small ones.
//! * Segments hold one UTC-day partition each, rows sorted by (site, visitor, time),
//!   dictionary-encoded and zstd-compressed per column, checksummed per chunk.
//! * [`Store::scan`] prepares a [`Scan`]: each visitor's events in time order over a time
//!   range as a [`Timeline`], merged across segments and the buffer, with column
//!   projection, predicates as dictionary ids, identity stitching, and a split into
//!   disjoint [`VisitorRange`]s for parallel workers. The store is a
//!   [`TimelineSource`], the seam of `cairn-timeline` that the analyses read through.
//! * Retention ([`Store::retain_days`]), erasure ([`Store::erase`]), snapshots
//!   ([`Store::snapshot`]) and crash recovery ([`Store::open`] reports a [`Recovery`]).
//!
//! ```
//! use cairn_model::{Dim, Event, Record};
//! use cairn_store::{Options, ScanRequest, Store};
//! let dir = tempfile::tempdir()?;
//! let store = Store::open(dir.path(), Options { background: false, ..Options::default() })?;
//! let now = 1_800_000_000_000;
//! let ev = Event::new("shop.example", now - 5_000, 7, "pageview");
//! store.append(&[Record::Event(ev)], now)?;
//! store.flush()?;
//! let scan = store.scan(ScanRequest::new("shop.example").dims(&[Dim::Name]))?;
//! let mut seen = 0;
//! scan.for_each(|t| seen += t.len())?;
//! assert_eq!(seen, 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! The on-disk format is described in `docs/store-format.md`.

mod chunk_cache;
mod codec;
mod error;
mod faults;
mod fs;
mod manifest;
mod memtable;
mod recovery;
mod repair;
mod scan;
mod segment;
mod store;
mod user_links;
mod wal;

pub use cairn_timeline::{
    Place, PropEntry, PropVal, QueryDict, ScanRequest, SourceError, Summarized, Summary,
    SummaryRequest, Timeline, TimelineScan, TimelineSource, VisitorRange,
};
pub use chunk_cache::CacheStats;
pub use error::{Result, StoreError};
pub use faults::{Faults, FileKind};
pub use manifest::SegmentMeta;
pub use recovery::Problem;
pub use repair::{Repaired, Verified};
pub use scan::Scan;
pub use segment::Projection;
pub use store::compaction::{CompactionPolicy, Merge};
pub use store::{ImportItem, Options, Recovery, StagedImport, Stats, Store, partition_of};
pub use user_links::SiteUserLinks;
pub use wal::{Erasure, TornTail};
