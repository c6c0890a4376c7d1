//! The store: the [`Store`] type and its public methods, each a thin entry point into the
//! module of its concept.
//!
//! | module | concept |
//! |---|---|
//! | `open` | opening: the lock, a new store, recovery (leftovers, torn tail, replay) |
//! | `log` | appends: the log and group commit, poisoning after a failed write, resuming |
//! | `change` | manifest changes: one [`ManifestChange`](change::ManifestChange) applied atomically to the manifest and the read view |
//! | `state` | the read view: segments, buffers, user links; how a durable entry becomes visible |
//! | `flush` | the buffer to segments; writing segments |
//! | `import` | bulk import: sorted batches straight to segments |
//! | `compaction` | which segments to merge (the policy) and merging them |
//! | `retention` | dropping old partitions |
//! | `erasure` | erasing visitors from the buffer, the log's future replays and segments |
//! | `snapshot` | a consistent copy of the store |
//! | `stats` | `cairn stats` and column sizes |
//! | `background` | the thread that flushes, compacts and resumes writes |
//!
//! File-system changes go through an [`Fs`] (`crate::fs`); tests pass one that fails.

mod background;
mod change;
pub(crate) mod compaction;
mod erasure;
mod flush;
mod import;
mod log;
mod open;
mod retention;
mod snapshot;
mod state;
mod stats;

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, RwLock};
use std::thread::JoinHandle;
use std::time::Duration;

use cairn_model::{Checked, Event, Record};

use crate::error::{Result, StoreError};
use crate::fs::Fs;
use crate::manifest::SegmentMeta;
use crate::wal::{LogWriter, TornTail};
use compaction::CompactionPolicy;
pub use import::{ImportItem, StagedImport};
use log::Pending;
pub(crate) use open::lock_dir;
pub(crate) use state::State;
pub use stats::Stats;

const DAY_MS: i64 = 86_400_000;

/// Days in a time partition: a week, Monday to Sunday (UTC). A visitor's events of a
/// week are contiguous in a compacted segment, so a month's timelines merge a handful of
/// runs, not thirty daily ones; a week is short enough that a few days' range reads
/// little more than it needs.
pub const PARTITION_DAYS: u32 = 7;

/// Days in a sealed partition: four weeks. Once the store holds a week of the four weeks
/// after the next, four weeks merge into one visitor-ordered run (as ClickHouse merges a
/// month's parts), so a quarter's timelines merge about 7 runs, not 13; the newest eight
/// weeks stay weekly, so a range of the last 30 days reads only what it needs.
pub const SEALED_DAYS: u32 = 28;

/// The UTC day of a timestamp (days since the epoch).
pub fn day_of(ts: i64) -> i64 {
    ts.div_euclid(DAY_MS)
}

/// The store's time partition of a timestamp: the first day (a Monday) of its UTC week.
pub fn partition_of(ts: i64) -> i64 {
    week_of_day(day_of(ts))
}

/// The first day (a Monday) of the week of `day`. Day 4, 1970-01-05, was a Monday.
pub(crate) fn week_of_day(day: i64) -> i64 {
    (day - 4).div_euclid(7) * 7 + 4
}

/// The first day (a Monday) of the four weeks `day` is in; they start every 28 days
/// from day 4, 1970-01-05.
pub(crate) fn four_weeks_of_day(day: i64) -> i64 {
    (day - 4).div_euclid(28) * 28 + 4
}

/// The cores merges and large writes run on.
pub(crate) fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |t| t.get())
}

/// `f` of every job on up to `threads` threads (each takes the next job left), the
/// results in the jobs' order; on this thread when one is enough.
pub(crate) fn on_cores<T: Sync, R: Send>(
    jobs: &[T],
    threads: usize,
    f: impl Fn(&T) -> R + Sync,
) -> Vec<R> {
    let threads = threads.min(jobs.len());
    if threads <= 1 {
        return jobs.iter().map(f).collect();
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    let mut done: Vec<(usize, R)> = std::thread::scope(|sc| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                sc.spawn(|| {
                    let mut out = Vec::new();
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(job) = jobs.get(i) else { break };
                        out.push((i, f(job)));
                    }
                    out
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().expect("a store worker panicked"))
            .collect()
    });
    done.sort_by_key(|(i, _)| *i);
    done.into_iter().map(|(_, r)| r).collect()
}

/// How the store behaves.
#[derive(Debug, Clone)]
pub struct Options {
    /// Flush the in-memory buffer to segments once it holds this many events.
    pub flush_rows: usize,
    /// Flush a non-empty buffer at least this often.
    pub flush_interval: Duration,
    /// Run flushes and compactions on a background thread.
    pub background: bool,
    /// When to merge segments.
    pub compaction: CompactionPolicy,
    /// Events per sorted run during bulk import.
    pub import_batch: usize,
    /// Bytes of segment chunks scans keep in memory between queries (0: none; see
    /// `docs/store-format.md`, "Scans").
    pub chunk_cache: usize,
    /// Failures to inject (tests only).
    pub faults: crate::Faults,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            flush_rows: 200_000,
            flush_interval: Duration::from_secs(10),
            background: true,
            compaction: CompactionPolicy::default(),
            import_batch: 2_000_000,
            chunk_cache: 512 << 20,
            faults: crate::Faults::default(),
        }
    }
}

/// What recovery found on open.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recovery {
    /// Records replayed from the log.
    pub replayed: u64,
    /// A torn log tail that was cut off (never acknowledged).
    pub torn_tail: Option<TornTail>,
    /// Leftover files of interrupted flushes or compactions that were removed.
    pub removed_leftovers: Vec<PathBuf>,
}

/// What the store's threads share.
pub(crate) struct Inner {
    dir: PathBuf,
    opts: Options,
    /// Every change to a file goes through it.
    fs: Arc<dyn Fs>,
    _lock: File,
    /// Frames waiting for the next group commit.
    wal: Mutex<Pending>,
    /// The log file; whoever holds it writes the pending frames for everyone (group commit).
    log: Mutex<LogWriter>,
    /// The ticket through which frames are durable and visible.
    synced: AtomicU64,
    pub(crate) state: RwLock<State>,
    /// Held by flushes, compactions, imports, retention, erasure and snapshots: one
    /// maintenance change at a time.
    maint: Mutex<()>,
    /// Set after a failed log write or sync: writes are refused until resumed.
    poisoned: AtomicBool,
    stop: Mutex<bool>,
    wake: Condvar,
    /// Appends handed to the committer thread ([`Store::append_then`]).
    waiters: Mutex<log::Waiters>,
    waiters_cv: Condvar,
    /// Decode buffers kept between scans.
    pub(crate) scan_bufs: Arc<crate::scan::ScanBufs>,
}

/// The embedded event store. Cheap to share behind an `Arc`; every method takes `&self`.
pub struct Store {
    pub(crate) inner: Arc<Inner>,
    bg: Mutex<Option<JoinHandle<()>>>,
    /// The committer thread, started by the first [`Store::append_then`].
    committer: Mutex<Option<JoinHandle<()>>>,
    recovery: Recovery,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Inner {
    pub(crate) fn read(&self) -> std::sync::RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(|p| p.into_inner())
    }
}

impl Store {
    /// Opens (or creates) the store in `dir`, recovering from the log.
    ///
    /// A directory that holds store files but no manifest, a listed segment that is
    /// missing, damaged or another file, a file the manifest does not list and that is
    /// not provably a leftover, and any damage in the log other than a torn tail are
    /// refused with [`StoreError::Damaged`](crate::StoreError::Damaged): nothing is
    /// deleted or cut then. `cairn verify` lists every problem; [`Store::repair`] mends
    /// them explicitly.
    pub fn open(dir: impl AsRef<Path>, opts: Options) -> Result<Store> {
        open::open(dir.as_ref(), opts)
    }

    /// Whether the store still takes writes: an error after a failed fsync or write
    /// (the store refuses further writes until it is reopened).
    pub fn writable(&self) -> Result<()> {
        self.inner.check()
    }

    /// Takes writes again after a failed log write, once the disk allows (see
    /// `docs/store-format.md`); the background thread tries this every 5 s by itself.
    pub fn resume_writes(&self) -> Result<()> {
        self.inner.resume_writes()
    }

    /// The retention cut (`cairn retain`): events before this time (ms) are not kept,
    /// even when appended; `None` when no retention was applied.
    pub fn retention_cut(&self) -> Option<i64> {
        let cut = self.inner.read().manifest.drop_before;
        (cut != i64::MIN).then_some(cut)
    }

    /// What recovery found when the store was opened.
    pub fn recovery(&self) -> &Recovery {
        &self.recovery
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// Appends records durably: returns once they are in the fsynced log. Concurrent
    /// appends share one fsync (group commit). Every record is validated first; if any
    /// is invalid nothing is written. The events become visible to scans when, and only
    /// when, they are durable.
    pub fn append(&self, records: &[Record], now_ms: i64) -> Result<()> {
        for r in records {
            r.validate(now_ms)?;
        }
        self.inner.append(records.to_vec())
    }

    /// [`Store::append`] of records checked already (once, by whoever made the
    /// [`Checked`]: the server, as it reads a request), without checking them again.
    pub fn append_checked(&self, records: Checked) -> Result<()> {
        self.inner.append(records.into_records())
    }

    /// [`Store::append_checked`] for a caller that cannot wait (an async task): queues
    /// the records for the next group commit and returns at once; `done` is called on
    /// the store's committer thread once they are durable and visible, or with the
    /// error. Appends waiting at the same moment share one write and one fsync, whether
    /// they came this way or through [`Store::append`].
    pub fn append_then(&self, records: Checked, done: impl FnOnce(Result<()>) + Send + 'static) {
        let mut c = lock(&self.committer);
        if c.is_none() {
            let inner = Arc::clone(&self.inner);
            match std::thread::Builder::new()
                .name("cairn-commit".into())
                .spawn(move || inner.committer())
            {
                Ok(h) => *c = Some(h),
                Err(e) => {
                    return done(Err(StoreError::Io {
                        path: self.inner.dir.clone(),
                        source: e,
                    }));
                }
            }
        }
        drop(c);
        self.inner
            .append_then(records.into_records(), Box::new(done));
    }

    /// Bulk import: sorts batches in memory and writes them straight to segments (no
    /// log), committing each batch atomically. Records must be valid; chunks are valid
    /// by construction ([`EventChunk`](cairn_model::EventChunk)). Returns the number of
    /// events written (events older than the retention cut are not).
    pub fn import(&self, records: impl IntoIterator<Item = impl Into<ImportItem>>) -> Result<u64> {
        self.inner.import(records)
    }

    /// Writes the in-memory buffer to segments and trims the log.
    pub fn flush(&self) -> Result<()> {
        self.inner.flush()
    }

    /// Merges small segments per the policy; returns the number of merges.
    pub fn compact(&self, policy: &CompactionPolicy) -> Result<usize> {
        self.inner.compact(policy)
    }

    /// Drops every event older than `days` days before `now_ms` (whole UTC-day partitions).
    /// Returns the number of events dropped from segments.
    pub fn retain_days(&self, days: u32, now_ms: i64) -> Result<u64> {
        self.inner.retain_days(days, now_ms)
    }

    /// Erases every event of these visitors and of the visitors linked to these users,
    /// from the buffer, the log's future replays and every segment. Returns the visitor ids erased.
    pub fn erase(&self, site: &str, visitors: &[u64], users: &[String]) -> Result<Vec<u64>> {
        self.inner.erase(site, visitors, users)
    }

    /// Writes a consistent copy of the store to `dest` (a new directory) that opens as a
    /// store. Everything acknowledged before the call is in it; appends may continue.
    pub fn snapshot(&self, dest: impl AsRef<Path>) -> Result<()> {
        self.inner.snapshot(dest.as_ref())
    }

    /// Reads and checks every byte of every segment.
    pub fn verify(&self) -> Result<()> {
        let segs: Vec<_> = self.inner.read().segments.values().cloned().collect();
        segs.iter().try_for_each(|s| s.verify())
    }

    /// Live segments.
    pub fn segments(&self) -> Vec<SegmentMeta> {
        self.inner.read().manifest.segments.clone()
    }

    /// The visitor → user links of a site.
    pub fn user_links(&self, site: &str) -> Arc<crate::user_links::SiteUserLinks> {
        self.inner
            .read()
            .user_links
            .sites
            .get(site)
            .cloned()
            .unwrap_or_default()
    }

    /// Compressed bytes on disk per column over every segment, largest first: `runs`
    /// (visitor ids and run lengths), `ts`, each dimension, `props`, `revenue`,
    /// `dictionaries`, and `footers` (block index, chunk tables and trailers).
    pub fn column_bytes(&self) -> Vec<(String, u64)> {
        self.inner.column_bytes()
    }

    /// Counts for `cairn stats`.
    pub fn stats(&self) -> Result<Stats> {
        self.inner.stats()
    }

    /// What the chunk cache holds and how it has served scans (see
    /// [`Options::chunk_cache`]).
    pub fn cache_stats(&self) -> crate::CacheStats {
        self.inner.scan_bufs.cache().stats()
    }

    /// Calls `f` with every event of one live segment, in its order (site, visitor,
    /// time; ties in arrival order), until it breaks. `Ok(false)`: no live segment has
    /// that id.
    pub fn segment_events(
        &self,
        id: u64,
        mut f: impl FnMut(Event) -> std::ops::ControlFlow<()>,
    ) -> Result<bool> {
        let seg = self.inner.read().segments.get(&id).cloned();
        let Some(seg) = seg else {
            return Ok(false);
        };
        for e in seg.events()? {
            if f(e?).is_break() {
                break;
            }
        }
        Ok(true)
    }

    /// Removes live segments, and their events, from the store in one durable change:
    /// for a backend that keeps the events elsewhere once they are safely there (the
    /// ClickHouse shipper). Ids of no live segment are ignored.
    pub fn remove_segments(&self, ids: &[u64]) -> Result<()> {
        let _m = lock(&self.inner.maint);
        let live: Vec<u64> = {
            let st = self.inner.read();
            ids.iter()
                .copied()
                .filter(|id| st.segments.contains_key(id))
                .collect()
        };
        if live.is_empty() {
            return Ok(());
        }
        self.inner.commit(change::ManifestChange {
            remove: live,
            ..change::ManifestChange::default()
        })
    }

    /// Events acknowledged but not yet in a segment (the in-memory buffer).
    pub fn buffered_events(&self) -> u64 {
        let st = self.inner.read();
        (st.active.rows + st.frozen.iter().map(|m| m.rows).sum::<usize>()) as u64
    }

    /// The visitor → user links of every site.
    pub fn all_user_links(&self) -> HashMap<String, Arc<crate::user_links::SiteUserLinks>> {
        self.inner.read().user_links.sites.clone()
    }

    /// Every event, site by site, visitor by visitor, in time order (export).
    pub fn for_each_event(&self, f: impl FnMut(&Event) -> Result<()>) -> Result<()> {
        self.inner.for_each_event(f)
    }

    /// Flushes and stops the background thread.
    pub fn close(self) -> Result<()> {
        self.stop_background();
        self.stop_committer();
        self.inner.flush()
    }

    /// Ends the committer thread once it has answered every append handed to it.
    fn stop_committer(&self) {
        lock(&self.inner.waiters).stop = true;
        self.inner.waiters_cv.notify_all();
        if let Some(h) = lock(&self.committer).take() {
            let _ = h.join();
        }
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        // No flush here: everything acknowledged is in the log already.
        self.stop_background();
        self.stop_committer();
    }
}
