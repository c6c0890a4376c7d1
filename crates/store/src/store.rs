//! The store: appends through the log, flushes to segments, compaction, retention,
//! erasure, snapshots and recovery.

use std::collections::{BTreeMap, HashSet};
use std::fs::{self, File};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use cairn_model::{Dim, Event, Record};
use rustc_hash::{FxHashMap, FxHashSet};

use crate::compaction::CompactionPolicy;
use crate::error::{IoContext, Result, StoreError, corrupted};
use crate::fsutil::sync_dir;
use crate::identity::Identities;
use crate::manifest::{self, Manifest, SegmentMeta};
use crate::memtable::Memtable;
use crate::recovery::{self, Found};
use crate::segment::reader::SegmentReader;
use crate::segment::writer::{SegmentWriter, Written};
use crate::wal::{self, Entry, Erasure, LogWriter, TornTail};

const DAY_MS: i64 = 86_400_000;

/// The UTC day of a timestamp: the store's time partition.
pub fn partition_of(ts: i64) -> i64 {
    ts.div_euclid(DAY_MS)
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

impl Stats {
    /// Bytes of every file of the store.
    pub fn bytes_on_disk(&self) -> u64 {
        self.segment_bytes + self.wal_bytes + self.other_bytes
    }

    /// Bytes on disk per event, when there are events.
    pub fn bytes_per_event(&self) -> Option<f64> {
        (self.events > 0).then(|| self.bytes_on_disk() as f64 / self.events as f64)
    }
}

/// Figures for `cairn stats`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// Events in the store.
    pub events: u64,
    /// Events still in the in-memory buffer (and the log).
    pub buffered: u64,
    /// Distinct visitors (per site, summed).
    pub visitors: u64,
    /// Distinct time partitions (UTC days).
    pub partitions: u64,
    /// Segment files.
    pub segments: u64,
    /// Bytes of segment files.
    pub segment_bytes: u64,
    /// Bytes of log files.
    pub wal_bytes: u64,
    /// Bytes of the other files: manifest, identity links, lock.
    pub other_bytes: u64,
    /// Earliest and latest event times.
    pub time_range: Option<(i64, i64)>,
    /// Events per site.
    pub sites: BTreeMap<String, u64>,
}

/// Frames waiting for the next group commit, and what they make visible once durable.
#[derive(Default)]
struct Pending {
    buf: Vec<u8>,
    entries: Vec<Entry>,
    /// Counts every queued frame: a caller waits until `synced` reaches its ticket.
    ticket: u64,
    /// The ticket through which frames were taken for writing.
    taken: u64,
    /// Tickets whose frames were never written (a failed write, or dropped when writes
    /// resumed): their callers get an error, whatever `synced` says later.
    dropped: Vec<std::ops::RangeInclusive<u64>>,
}

pub(crate) struct State {
    pub manifest: Manifest,
    pub segments: BTreeMap<u64, Arc<SegmentReader>>,
    pub active: Memtable,
    pub frozen: Vec<Memtable>,
    pub identities: Identities,
}

pub(crate) struct Inner {
    dir: PathBuf,
    opts: Options,
    _lock: File,
    wal: Mutex<Pending>,
    /// The log file; whoever holds it writes the pending frames for everyone (group commit).
    log: Mutex<LogWriter>,
    synced: AtomicU64,
    pub(crate) state: RwLock<State>,
    maint: Mutex<()>,
    poisoned: AtomicBool,
    stop: Mutex<bool>,
    wake: Condvar,
}

/// The embedded event store. Cheap to share behind an `Arc`; every method takes `&self`.
pub struct Store {
    pub(crate) inner: Arc<Inner>,
    bg: Mutex<Option<JoinHandle<()>>>,
    recovery: Recovery,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

use recovery::seg_path;

/// Takes the data directory's lock, waiting a little for a process that is just closing.
pub(crate) fn lock_dir(dir: &Path) -> Result<File> {
    let lock_path = dir.join("LOCK");
    let lock_file = File::create(&lock_path).at(&lock_path)?;
    // A process that just closed the store, or a child forked by this process
    // that has not reached exec yet, may hold the lock for a moment: wait a little.
    let deadline = Instant::now() + Duration::from_secs(2);
    while let Err(e) = lock_file.try_lock() {
        match e {
            std::fs::TryLockError::WouldBlock if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(20));
            }
            std::fs::TryLockError::WouldBlock => {
                return Err(StoreError::Locked(dir.to_path_buf()));
            }
            std::fs::TryLockError::Error(e) => {
                return Err(StoreError::Io {
                    path: lock_path,
                    source: e,
                });
            }
        }
    }
    Ok(lock_file)
}

/// Loads the manifest, or makes a new store when the directory holds no store files at
/// all. Store files without a manifest are refused, never overwritten.
pub(crate) fn load_or_create(dir: &Path) -> Result<Manifest> {
    if let Some(m) = Manifest::load(dir)? {
        return Ok(m);
    }
    let orphans = recovery::orphans(dir)?;
    if let Some(first) = orphans.first() {
        return Err(corrupted(
            dir.join(manifest::FILE),
            format!(
                "missing, but the directory holds {} store file(s) ({}{}): Cairn will not start an empty store over them; restore MANIFEST (and the store) from a snapshot",
                orphans.len(),
                first.display(),
                if orphans.len() > 1 { ", …" } else { "" }
            ),
        ));
    }
    // A new store, or a creation cut short (empty log files, temporary files): start over.
    let waldir = dir.join("wal");
    for n in wal::list(&waldir)? {
        let p = wal::wal_path(&waldir, n);
        fs::remove_file(&p).at(&p)?;
    }
    wal::create_empty(&waldir, 0)?;
    let m = Manifest::new();
    m.store(dir)?;
    Ok(m)
}

impl Store {
    /// Opens (or creates) the store in `dir`, recovering from the log.
    ///
    /// A directory that holds store files but no manifest, a listed segment that is
    /// missing, damaged or another file, a file the manifest does not list and that is
    /// not provably a leftover, and any damage in the log other than a torn tail are
    /// refused with [`StoreError::Damaged`]: nothing is deleted or cut then.
    /// `cairn verify` lists every problem; [`Store::repair`] mends them explicitly.
    pub fn open(dir: impl AsRef<Path>, opts: Options) -> Result<Store> {
        let dir = dir.as_ref().to_path_buf();
        for d in [dir.clone(), dir.join("wal"), dir.join("segments")] {
            fs::create_dir_all(&d).at(&d)?;
        }
        let lock_file = lock_dir(&dir)?;
        let manifest = load_or_create(&dir)?;
        let found = recovery::inspect(&dir, manifest)?;
        if !found.problems.is_empty() {
            return Err(StoreError::Damaged(found.problems));
        }
        Store::start(dir, opts, lock_file, found)
    }

    /// Builds the store from an inspected directory: removes the provable leftovers,
    /// cuts the torn tail and replays the log. `found` has no problems, or a repair has
    /// taken them out of it.
    pub(crate) fn start(
        dir: PathBuf,
        opts: Options,
        lock_file: File,
        found: Found,
    ) -> Result<Store> {
        let mut recovery = Recovery::default();
        let waldir = dir.join("wal");
        for p in &found.leftovers {
            fs::remove_file(p).at(p)?;
            recovery.removed_leftovers.push(p.clone());
        }
        if !found.leftovers.is_empty() {
            for d in [&dir, &waldir, &dir.join("segments")] {
                sync_dir(d)?;
            }
            tracing::warn!(files = ?found.leftovers, "removed leftovers of interrupted writes");
        }
        let Found {
            manifest,
            segments: readers,
            logs,
            torn,
            ..
        } = found;
        let current = logs
            .last()
            .ok_or_else(|| corrupted(&waldir, "no log file to write to"))?;
        if let Some(d) = &torn {
            wal::zero(&waldir, current.number, d.offset, d.dirty_end)?;
            let t = TornTail {
                path: wal::wal_path(&waldir, current.number),
                offset: d.offset,
                bytes: d.dirty_end - d.offset,
            };
            tracing::warn!(torn = ?t, "cut off a torn log tail (never acknowledged)");
            recovery.torn_tail = Some(t);
        }
        let writer = LogWriter::resume(&waldir, current)?;
        let identities = match &manifest.identities {
            Some(f) => Identities::load(&dir.join(f))?,
            None => Identities::default(),
        };
        let segments = readers
            .into_iter()
            .map(|(id, r)| (id, Arc::new(r)))
            .collect();
        let mut state = State {
            manifest,
            segments,
            active: Memtable::default(),
            frozen: Vec::new(),
            identities,
        };
        let mut erasures = Vec::new();
        for scan in logs {
            for (_, entry) in scan.frames {
                recovery.replayed += entry.records();
                if let Entry::Erase(e) = &entry {
                    erasures.push(e.clone());
                }
                state.apply(entry);
            }
        }
        let inner = Arc::new(Inner {
            dir,
            opts,
            _lock: lock_file,
            wal: Mutex::new(Pending::default()),
            log: Mutex::new(writer),
            synced: AtomicU64::new(0),
            state: RwLock::new(state),
            maint: Mutex::new(()),
            poisoned: AtomicBool::new(false),
            stop: Mutex::new(false),
            wake: Condvar::new(),
        });
        // Erasures logged but perhaps not yet applied to segments: apply again (idempotent).
        for e in &erasures {
            let _m = lock(&inner.maint);
            inner.erase_in_segments(&e.site, &e.visitors)?;
        }
        let bg = if inner.opts.background {
            let i2 = Arc::clone(&inner);
            Some(
                std::thread::Builder::new()
                    .name("cairn-store".into())
                    .spawn(move || i2.background())
                    .at("thread")?,
            )
        } else {
            None
        };
        Ok(Store {
            inner,
            bg: Mutex::new(bg),
            recovery,
        })
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
    /// is invalid nothing is written.
    pub fn append(&self, records: &[Record], now_ms: i64) -> Result<()> {
        for r in records {
            r.validate(now_ms)?;
        }
        self.inner.append(records)
    }

    /// Bulk import: sorts batches in memory and writes them straight to segments (no
    /// log), committing each batch atomically. Records must be valid. Returns the number
    /// of events written (events older than the retention cut are not).
    pub fn import(&self, records: impl IntoIterator<Item = Record>) -> Result<u64> {
        self.inner.check()?;
        let batch = self.inner.opts.import_batch.max(1);
        let mut buf = Vec::with_capacity(batch.min(4 << 20));
        let mut n = 0u64;
        let mut links = Vec::new();
        for r in records {
            match r {
                Record::Event(e) => {
                    if !e.dim(Dim::User).is_empty() {
                        links.push((
                            e.site.clone(),
                            e.visitor,
                            e.dim(Dim::User).to_string(),
                            e.ts,
                        ));
                    }
                    buf.push(e);
                }
                Record::Identify(i) => links.push((i.site, i.visitor, i.user, i.ts)),
            }
            if buf.len() >= batch {
                // The buffer keeps its capacity: no fresh pages to fault in per batch.
                n += self
                    .inner
                    .write_batch(&mut buf, std::mem::take(&mut links))?;
            }
        }
        if !buf.is_empty() || !links.is_empty() {
            n += self.inner.write_batch(&mut buf, links)?;
        }
        Ok(n)
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
        let cutoff = (partition_of(now_ms) - i64::from(days) + 1) * DAY_MS;
        self.inner.drop_before(cutoff)
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

    /// The identity links of a site.
    pub fn identities(&self, site: &str) -> crate::identity::SiteIdentities {
        self.inner
            .read()
            .identities
            .sites
            .get(site)
            .cloned()
            .unwrap_or_default()
    }

    /// Compressed bytes on disk per column over every segment, largest first: `runs`
    /// (visitor ids and run lengths), `ts`, each dimension, `props`, `revenue`,
    /// `dictionaries`, and `footers` (block index, chunk tables and trailers).
    pub fn column_bytes(&self) -> Vec<(String, u64)> {
        use crate::segment::format::{COL_DIM0, COL_PROPS, COL_REVENUE, COL_RUNS, COL_TS};
        let segs: Vec<_> = self.inner.read().segments.values().cloned().collect();
        let mut names: Vec<String> = vec![String::new(); COL_REVENUE + 1];
        names[COL_RUNS] = "runs".into();
        names[COL_TS] = "ts".into();
        for d in Dim::ALL {
            names[COL_DIM0 + d.index()] = d.as_str().into();
        }
        names[COL_PROPS] = "props".into();
        names[COL_REVENUE] = "revenue".into();
        let mut bytes = vec![0u64; names.len()];
        let (mut dicts, mut footers) = (0u64, 0u64);
        for s in &segs {
            let mut data = 0u64;
            for b in &s.footer.blocks {
                for (i, c) in b.cols.iter().enumerate() {
                    bytes[i] += u64::from(c.len);
                    data += u64::from(c.len);
                }
            }
            let d: u64 = s.footer.dicts.iter().map(|(c, _)| u64::from(c.len)).sum();
            dicts += d;
            let size = fs::metadata(&s.path).map(|m| m.len()).unwrap_or(0);
            footers += size.saturating_sub(data + d);
        }
        let mut out: Vec<(String, u64)> = names.into_iter().zip(bytes).collect();
        out.push(("dictionaries".into(), dicts));
        out.push(("footers".into(), footers));
        out.sort_by_key(|x| std::cmp::Reverse(x.1));
        out
    }

    /// Counts for `cairn stats`.
    pub fn stats(&self) -> Result<Stats> {
        self.inner.stats()
    }

    /// Every event, site by site, visitor by visitor, in time order (export).
    pub fn for_each_event(&self, mut f: impl FnMut(&Event) -> Result<()>) -> Result<()> {
        let (segs, mem) = self.inner.snapshot_view();
        let mut iters = Vec::new();
        for s in &segs {
            iters.push(s.events()?);
        }
        let mut sources: Vec<Box<dyn Iterator<Item = Result<Event>> + '_>> = iters
            .into_iter()
            .map(|i| Box::new(i) as Box<dyn Iterator<Item = Result<Event>>>)
            .collect();
        let memv: Vec<Event> = mem.sorted().into_iter().cloned().collect();
        sources.push(Box::new(memv.into_iter().map(Ok)));
        merge_sorted(sources, |e| f(&e))
    }

    /// Flushes and stops the background thread.
    pub fn close(self) -> Result<()> {
        self.stop_background();
        self.inner.flush()
    }

    fn stop_background(&self) {
        *lock(&self.inner.stop) = true;
        self.inner.wake.notify_all();
        if let Some(h) = lock(&self.bg).take() {
            let _ = h.join();
        }
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        // No flush here: everything acknowledged is in the log already.
        self.stop_background();
    }
}

impl State {
    /// Makes a durable log entry visible: records to the buffer and the identity links,
    /// an erasure to both. Replay on open does exactly the same.
    fn apply(&mut self, entry: Entry) {
        match entry {
            Entry::Records(recs) => {
                let evs = absorb(&mut self.identities, recs, self.manifest.drop_before);
                self.active.push(evs);
            }
            Entry::Erase(e) => {
                // The visitors were resolved when the erasure was logged; links made
                // later come in later entries.
                self.identities.erase(&e.site, &e.visitors, &e.users);
                let hit =
                    |ev: &Event| ev.site == e.site && e.visitors.binary_search(&ev.visitor).is_ok();
                self.active.retain(|ev| !hit(ev));
                for f in self.frozen.iter_mut() {
                    f.retain(|ev| !hit(ev));
                }
            }
        }
    }
}

/// Updates identity links from records and returns the events, minus those before `drop_before`.
fn absorb(ids: &mut Identities, recs: Vec<Record>, drop_before: i64) -> Vec<Event> {
    let mut evs = Vec::with_capacity(recs.len());
    for r in recs {
        match r {
            Record::Event(e) => {
                if !e.dim(Dim::User).is_empty() {
                    ids.link(&e.site, e.visitor, e.dim(Dim::User), e.ts);
                }
                if e.ts >= drop_before {
                    evs.push(e);
                }
            }
            Record::Identify(i) => ids.link(&i.site, i.visitor, &i.user, i.ts),
        }
    }
    evs
}

/// The manifest entry of a segment just written.
fn segment_meta(id: u64, partition: i64, written: Written) -> SegmentMeta {
    SegmentMeta {
        id,
        partition,
        rows: written.rows,
        min_ts: written.min_ts,
        max_ts: written.max_ts,
        bytes: written.bytes,
        sites: written.sites,
        footer_crc: written.footer_crc,
    }
}

/// K-way merge of sorted event streams by (site, visitor, ts); ties go to the earlier
/// source. A heap keeps it O(log k) per event, for stores with many segments.
pub(crate) fn merge_sorted<'a>(
    mut sources: Vec<Box<dyn Iterator<Item = Result<Event>> + 'a>>,
    mut f: impl FnMut(Event) -> Result<()>,
) -> Result<()> {
    use std::cmp::Reverse;
    use std::collections::BinaryHeap;
    let mut heads: Vec<Option<Event>> = Vec::with_capacity(sources.len());
    let mut heap = BinaryHeap::with_capacity(sources.len());
    for (i, s) in sources.iter_mut().enumerate() {
        let h = s.next().transpose()?;
        if let Some(e) = &h {
            heap.push(Reverse((e.site.clone(), e.visitor, e.ts, i)));
        }
        heads.push(h);
    }
    while let Some(Reverse((site, _, _, i))) = heap.pop() {
        let next = sources[i].next().transpose()?;
        if let Some(n) = &next {
            // Reuse the popped key's site string when the next event has the same site.
            let key_site = if n.site == site { site } else { n.site.clone() };
            heap.push(Reverse((key_site, n.visitor, n.ts, i)));
        }
        if let Some(e) = std::mem::replace(&mut heads[i], next) {
            f(e)?;
        }
    }
    Ok(())
}

impl Inner {
    pub(crate) fn read(&self) -> std::sync::RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(|p| p.into_inner())
    }

    fn check(&self) -> Result<()> {
        if self.poisoned.load(Ordering::Acquire) {
            return Err(StoreError::Poisoned);
        }
        Ok(())
    }

    fn poison<T>(&self, r: Result<T>) -> Result<T> {
        if r.is_err() {
            self.poisoned.store(true, Ordering::Release);
        }
        r
    }

    /// Segments and buffered events as of now.
    pub(crate) fn snapshot_view(&self) -> (Vec<Arc<SegmentReader>>, Memtable) {
        let st = self.read();
        let segs = st.segments.values().cloned().collect();
        let mut mem = Memtable::default();
        for m in st.frozen.iter().chain(std::iter::once(&st.active)) {
            for c in &m.chunks {
                mem.rows += c.len();
                mem.chunks.push(Arc::clone(c));
            }
        }
        (segs, mem)
    }

    fn append(&self, records: &[Record]) -> Result<()> {
        self.check()?;
        let mut frame = Vec::with_capacity(64 * records.len() + 64);
        wal::frame_records(&mut frame, records);
        let ticket = self.enqueue(&frame, Entry::Records(records.to_vec()));
        self.sync_to(ticket)
    }

    /// Queues a frame for the next group commit; returns the ticket to wait for.
    fn enqueue(&self, frame: &[u8], entry: Entry) -> u64 {
        let mut w = lock(&self.wal);
        w.buf.extend_from_slice(frame);
        w.entries.push(entry);
        w.ticket += 1;
        w.ticket
    }

    /// Makes every frame up to `ticket` durable; one caller writes and fsyncs for all
    /// waiting ones.
    fn sync_to(&self, ticket: u64) -> Result<()> {
        let dropped = || lock(&self.wal).dropped.iter().any(|r| r.contains(&ticket));
        if self.synced.load(Ordering::Acquire) >= ticket {
            return if dropped() {
                Err(StoreError::Poisoned)
            } else {
                Ok(())
            };
        }
        let mut log = lock(&self.log);
        if self.synced.load(Ordering::Acquire) >= ticket || dropped() {
            return if dropped() {
                Err(StoreError::Poisoned)
            } else {
                Ok(())
            };
        }
        self.check()?;
        self.write_pending(&mut log)
    }

    /// Writes and fsyncs every queued frame, then makes what they hold visible: an event
    /// is never seen by a query before it is durable, and one whose write failed never
    /// is. Called with the log lock held.
    fn write_pending(&self, log: &mut LogWriter) -> Result<()> {
        let (mut buf, entries, target, first) = {
            let mut w = lock(&self.wal);
            let first = w.taken + 1;
            w.taken = w.ticket;
            (
                std::mem::take(&mut w.buf),
                std::mem::take(&mut w.entries),
                w.ticket,
                first,
            )
        };
        let r = self
            .opts
            .faults
            .log_write(&self.dir.join("wal"))
            .and_then(|()| log.write_group(&mut buf));
        if let Err(e) = r {
            if first <= target {
                lock(&self.wal).dropped.push(first..=target);
            }
            return self.poison(Err(e));
        }
        let rows = {
            let mut st = self.write();
            for e in entries {
                st.apply(e);
            }
            st.active.rows
        };
        self.synced.store(target, Ordering::Release);
        if rows >= self.opts.flush_rows {
            self.wake.notify_all();
        }
        Ok(())
    }

    /// Syncs the current log file and starts a new one; the active buffer becomes frozen.
    /// Returns the frozen buffer and the first log number that is not reflected in it.
    fn rotate(&self, force: bool) -> Result<Option<(Memtable, u64)>> {
        let mut log = lock(&self.log);
        self.check()?;
        self.write_pending(&mut log)?;
        if !force {
            let st = self.read();
            if st.active.rows == 0 && !st.identities.dirty && st.frozen.is_empty() {
                return Ok(None);
            }
        }
        let next = self.poison(log.rotate(0))?;
        Ok(Some((self.freeze(), next)))
    }

    /// Moves the active buffer to the frozen ones; returns every frozen buffer as one:
    /// a buffer whose flush failed earlier is written with the next one, never left out.
    fn freeze(&self) -> Memtable {
        let mut st = self.write();
        let mem = std::mem::take(&mut st.active);
        st.frozen.push(mem);
        let mut all = Memtable::default();
        for m in &st.frozen {
            for c in &m.chunks {
                all.rows += c.len();
                all.chunks.push(Arc::clone(c));
            }
        }
        all
    }

    /// After a failed log write the store refuses writes: the log's tail may not be on
    /// disk as written. Once the disk takes writes again this starts a new log file,
    /// writes every acknowledged event held in memory to segments, and commits a manifest
    /// whose log starts at the new file, so the doubtful file is retired, not read again.
    /// Frames queued meanwhile are dropped (their callers got errors).
    fn resume_writes(&self) -> Result<()> {
        if !self.poisoned.load(Ordering::Acquire) {
            return Ok(());
        }
        let _m = lock(&self.maint);
        let mut log = lock(&self.log);
        {
            let mut w = lock(&self.wal);
            let (first, last) = (w.taken + 1, w.ticket);
            if first <= last {
                w.dropped.push(first..=last);
            }
            w.taken = w.ticket;
            w.buf.clear();
            w.entries.clear();
        }
        let next = log.restart()?;
        let mem = self.freeze();
        let drop_before = self.read().manifest.drop_before;
        let sorted: Vec<&Event> = mem
            .sorted()
            .into_iter()
            .filter(|e| e.ts >= drop_before)
            .collect();
        let new = self.write_segments(&sorted)?;
        self.commit(new, &[], Some(next), None, true)?;
        drop(log);
        let waldir = self.dir.join("wal");
        for n in wal::list(&waldir)?.into_iter().filter(|&n| n < next) {
            let p = wal::wal_path(&waldir, n);
            let _ = fs::remove_file(&p);
        }
        self.poisoned.store(false, Ordering::Release);
        tracing::warn!(
            log = next,
            "writes resumed on a new log file after a failed write"
        );
        Ok(())
    }

    fn flush(&self) -> Result<()> {
        let _m = lock(&self.maint);
        self.flush_locked(false)
    }

    /// Flushes even an empty buffer, so that the log starts anew.
    pub(crate) fn flush_forced(&self) -> Result<()> {
        let _m = lock(&self.maint);
        self.flush_locked(true)
    }

    /// Flushes with the maintenance lock held; `force` rotates the log even when the
    /// buffer is empty (to retire an erasure frame).
    fn flush_locked(&self, force: bool) -> Result<()> {
        let Some((mem, cut)) = self.rotate(force)? else {
            return Ok(());
        };
        let drop_before = self.read().manifest.drop_before;
        let sorted: Vec<&Event> = mem
            .sorted()
            .into_iter()
            .filter(|e| e.ts >= drop_before)
            .collect();
        let new = self.write_segments(&sorted)?;
        // The frozen buffer leaves the read view in the same step as its segments enter it.
        self.commit(new, &[], Some(cut), None, true)?;
        let waldir = self.dir.join("wal");
        for n in wal::list(&waldir)?.into_iter().filter(|&n| n < cut) {
            let p = wal::wal_path(&waldir, n);
            fs::remove_file(&p).at(&p)?;
        }
        Ok(())
    }

    fn next_ids(&self, n: usize) -> u64 {
        let mut st = self.write();
        let first = st.manifest.next_id;
        st.manifest.next_id += n as u64;
        first
    }

    /// Writes sorted events as one segment per partition (not yet in the manifest).
    fn write_segments(&self, sorted: &[&Event]) -> Result<Vec<SegmentMeta>> {
        let mut parts: BTreeMap<i64, Vec<&Event>> = BTreeMap::new();
        for e in sorted {
            parts.entry(partition_of(e.ts)).or_default().push(e);
        }
        let first = self.next_ids(parts.len());
        let mut out = Vec::new();
        for (i, (part, evs)) in parts.into_iter().enumerate() {
            let id = first + i as u64;
            out.push(self.write_segment(id, part, evs.into_iter().map(Ok))?);
        }
        Ok(out)
    }

    fn write_segment<'e>(
        &self,
        id: u64,
        partition: i64,
        events: impl Iterator<Item = Result<&'e Event>>,
    ) -> Result<SegmentMeta> {
        let path = seg_path(&self.dir, id);
        self.opts.faults.segment_write(&path)?;
        let mut w = SegmentWriter::create(&path, partition)?;
        for e in events {
            let pushed = e.and_then(|e| w.push(e));
            if let Err(err) = pushed {
                w.abandon();
                return Err(err);
            }
        }
        Ok(segment_meta(id, partition, w.finish()?))
    }

    /// Atomically adds and removes segments in the manifest (and moves the log start).
    fn commit(
        &self,
        add: Vec<SegmentMeta>,
        remove: &[u64],
        wal_start: Option<u64>,
        drop_before: Option<i64>,
        clear_frozen: bool,
    ) -> Result<()> {
        sync_dir(&self.dir.join("segments"))?;
        let mut readers = Vec::new();
        for s in &add {
            readers.push(Arc::new(SegmentReader::open(&seg_path(&self.dir, s.id))?));
        }
        let mut st = self.write();
        let mut m = st.manifest.clone();
        // What this change removes, recorded so that recovery can prove the files are
        // leftovers if the process dies before they are deleted.
        let mut retired: Vec<String> = m
            .retired
            .iter()
            .filter(|r| self.dir.join(r).exists())
            .cloned()
            .collect();
        retired.extend(remove.iter().map(|id| format!("segments/{id:016}.seg")));
        if st.identities.dirty {
            let name = format!("identities-{:016}", m.next_id);
            m.next_id += 1;
            st.identities.save(&self.dir.join(&name))?;
            if let Some(old) = m.identities.replace(name) {
                retired.push(old);
            }
        }
        m.retired = retired;
        m.segments.retain(|s| !remove.contains(&s.id));
        m.segments.extend(add.iter().cloned());
        m.segments.sort_by_key(|s| (s.partition, s.id));
        if let Some(w) = wal_start {
            m.wal_start = w;
        }
        if let Some(d) = drop_before {
            m.drop_before = m.drop_before.max(d);
        }
        m.store(&self.dir)?;
        let gone = m.retired.clone();
        st.manifest = m;
        st.identities.dirty = false;
        if clear_frozen {
            st.frozen.clear();
        }
        for id in remove {
            st.segments.remove(id);
        }
        for (s, r) in add.iter().zip(readers) {
            st.segments.insert(s.id, r);
        }
        drop(st);
        // Open readers keep a removed segment readable until they are dropped.
        for rel in gone {
            let _ = fs::remove_file(self.dir.join(rel));
        }
        Ok(())
    }

    /// Sorts and writes a batch of events (emptying `events`, keeping its capacity).
    /// Returns the number written: events before the retention cut are dropped.
    fn write_batch(
        &self,
        events: &mut Vec<Event>,
        links: Vec<(String, u64, String, i64)>,
    ) -> Result<u64> {
        let _m = lock(&self.maint);
        {
            let mut st = self.write();
            for (s, v, u, t) in &links {
                st.identities.link(s, *v, u, *t);
            }
            let drop_before = st.manifest.drop_before;
            events.retain(|e| e.ts >= drop_before);
        }
        // Sort small keys, not the (large) events: site rank, visitor, time, and the
        // arrival index last, so ties keep arrival order.
        let mut sites: Vec<&str> = Vec::new();
        let mut seen: FxHashSet<&str> = FxHashSet::default();
        for e in events.iter() {
            if seen.insert(e.site.as_str()) {
                sites.push(&e.site);
            }
        }
        sites.sort_unstable();
        let rank: FxHashMap<&str, u32> = sites
            .iter()
            .enumerate()
            .map(|(i, s)| (*s, i as u32))
            .collect();
        let mut keys: Vec<(u32, u64, i64, u32)> = events
            .iter()
            .enumerate()
            .map(|(i, e)| (rank[e.site.as_str()], e.visitor, e.ts, i as u32))
            .collect();
        drop((sites, seen, rank));
        keys.sort_unstable();
        let refs: Vec<&Event> = keys.iter().map(|k| &events[k.3 as usize]).collect();
        let new = self.write_segments(&refs)?;
        drop(refs);
        let written = events.len() as u64;
        events.clear();
        self.commit(new, &[], None, None, false)?;
        Ok(written)
    }

    fn compact(&self, policy: &CompactionPolicy) -> Result<usize> {
        let _m = lock(&self.maint);
        let plan = policy.plan(&self.read().manifest.segments);
        let n = plan.len();
        for group in plan {
            let (readers, partition) = {
                let st = self.read();
                let rs: Vec<Arc<SegmentReader>> = group
                    .iter()
                    .filter_map(|id| st.segments.get(id).cloned())
                    .collect();
                let part = st
                    .manifest
                    .segments
                    .iter()
                    .find(|s| s.id == group[0])
                    .map(|s| s.partition);
                (rs, part.unwrap_or(0))
            };
            let id = self.next_ids(1);
            let meta = self.merge_into(id, partition, &readers, |_| true)?;
            self.commit(meta.into_iter().collect(), &group, None, None, false)?;
        }
        Ok(n)
    }

    /// Merges segments into a new one, keeping events for which `keep` holds. Returns
    /// None when nothing is kept.
    fn merge_into(
        &self,
        id: u64,
        partition: i64,
        readers: &[Arc<SegmentReader>],
        keep: impl Fn(&Event) -> bool,
    ) -> Result<Option<SegmentMeta>> {
        let mut iters = Vec::new();
        for r in readers {
            iters.push(r.events()?);
        }
        let sources = iters
            .into_iter()
            .map(|i| Box::new(i) as Box<dyn Iterator<Item = Result<Event>>>)
            .collect();
        let path = seg_path(&self.dir, id);
        let mut w = SegmentWriter::create(&path, partition)?;
        let mut rows = 0u64;
        let r = merge_sorted(sources, |e| {
            if keep(&e) {
                rows += 1;
                w.push(&e)
            } else {
                Ok(())
            }
        });
        if let Err(e) = r {
            w.abandon();
            return Err(e);
        }
        if rows == 0 {
            w.abandon();
            return Ok(None);
        }
        Ok(Some(segment_meta(id, partition, w.finish()?)))
    }

    fn drop_before(&self, cutoff: i64) -> Result<u64> {
        let _m = lock(&self.maint);
        let (remove, dropped): (Vec<u64>, u64) = {
            let st = self.read();
            let old: Vec<&SegmentMeta> = st
                .manifest
                .segments
                .iter()
                .filter(|s| s.max_ts < cutoff)
                .collect();
            (
                old.iter().map(|s| s.id).collect(),
                old.iter().map(|s| s.rows).sum(),
            )
        };
        {
            let mut st = self.write();
            st.active.retain(|e| e.ts >= cutoff);
            for f in st.frozen.iter_mut() {
                f.retain(|e| e.ts >= cutoff);
            }
        }
        self.commit(Vec::new(), &remove, None, Some(cutoff), false)?;
        Ok(dropped)
    }

    fn erase(&self, site: &str, visitors: &[u64], users: &[String]) -> Result<Vec<u64>> {
        self.check()?;
        let _m = lock(&self.maint);
        // Resolve users to visitors, log the erasure, then purge memory and segments.
        let ids = {
            let st = self.read();
            let mut v: Vec<u64> = visitors.to_vec();
            if let Some(s) = st.identities.sites.get(site) {
                for (vis, (u, _)) in &s.by_visitor {
                    if users.contains(u) {
                        v.push(*vis);
                    }
                }
            }
            v.sort_unstable();
            v.dedup();
            v
        };
        let er = Erasure {
            site: site.to_string(),
            visitors: ids.clone(),
            users: users.to_vec(),
        };
        let mut frame = Vec::new();
        wal::frame_erase(&mut frame, &er);
        let ticket = self.enqueue(&frame, Entry::Erase(er));
        self.sync_to(ticket)?;
        self.erase_in_segments(site, &ids)?;
        // Retire the erasure frame at once: replayed later, it would also hit events
        // imported after it.
        self.flush_locked(true)?;
        Ok(ids)
    }

    /// Rewrites the segments that hold events of these visitors without them.
    fn erase_in_segments(&self, site: &str, visitors: &[u64]) -> Result<()> {
        if visitors.is_empty() {
            return Ok(());
        }
        let candidates: Vec<(SegmentMeta, Arc<SegmentReader>)> = {
            let st = self.read();
            st.manifest
                .segments
                .iter()
                .filter(|s| s.sites.iter().any(|x| x == site))
                .filter_map(|s| st.segments.get(&s.id).map(|r| (s.clone(), Arc::clone(r))))
                .collect()
        };
        for (meta, reader) in candidates {
            if !reader.contains_any(site, visitors)? {
                continue;
            }
            let id = self.next_ids(1);
            let keep = |e: &Event| !(e.site == site && visitors.binary_search(&e.visitor).is_ok());
            let new = self.merge_into(id, meta.partition, &[reader], keep)?;
            self.commit(new.into_iter().collect(), &[meta.id], None, None, false)?;
        }
        Ok(())
    }

    fn snapshot(&self, dest: &Path) -> Result<()> {
        self.flush()?;
        let _m = lock(&self.maint);
        if dest.exists() && fs::read_dir(dest).at(dest)?.next().is_some() {
            return Err(StoreError::Io {
                path: dest.to_path_buf(),
                source: std::io::Error::new(
                    std::io::ErrorKind::AlreadyExists,
                    "snapshot target is not empty",
                ),
            });
        }
        for d in [dest.to_path_buf(), dest.join("wal"), dest.join("segments")] {
            fs::create_dir_all(&d).at(&d)?;
        }
        let mut m = self.read().manifest.clone();
        for s in &m.segments {
            let (src, dst) = (seg_path(&self.dir, s.id), seg_path(dest, s.id));
            if fs::hard_link(&src, &dst).is_err() {
                fs::copy(&src, &dst).at(&dst)?;
                File::open(&dst).at(&dst)?.sync_all().at(&dst)?;
            }
        }
        if let Some(f) = &m.identities {
            let dst = dest.join(f);
            fs::copy(self.dir.join(f), &dst).at(&dst)?;
            File::open(&dst).at(&dst)?.sync_all().at(&dst)?;
        }
        m.wal_start = 0;
        m.retired.clear();
        wal::create_empty(&dest.join("wal"), 0)?;
        sync_dir(&dest.join("segments"))?;
        m.store(dest)
    }

    fn stats(&self) -> Result<Stats> {
        let (segs, mem) = self.snapshot_view();
        let mut st = Stats::default();
        let mut visitors: HashSet<(String, u64)> = HashSet::new();
        let mut parts = HashSet::new();
        let mut range: Option<(i64, i64)> = None;
        let mut widen = |lo: i64, hi: i64| {
            range = Some(range.map_or((lo, hi), |(a, b)| (a.min(lo), b.max(hi))));
        };
        for s in &segs {
            st.segments += 1;
            st.segment_bytes += fs::metadata(&s.path).map(|m| m.len()).unwrap_or(0);
            st.events += s.footer.rows;
            parts.insert(s.footer.partition);
            widen(s.footer.min_ts, s.footer.max_ts);
            for (site, v, n) in s.visitor_runs()? {
                visitors.insert((site.clone(), v));
                *st.sites.entry(site).or_default() += n;
            }
        }
        for e in mem.iter() {
            st.events += 1;
            st.buffered += 1;
            parts.insert(partition_of(e.ts));
            widen(e.ts, e.ts);
            visitors.insert((e.site.clone(), e.visitor));
            *st.sites.entry(e.site.clone()).or_default() += 1;
        }
        let waldir = self.dir.join("wal");
        for n in wal::list(&waldir)? {
            // Log files are sparse: count the space they take, not their length.
            st.wal_bytes += fs::metadata(wal::wal_path(&waldir, n))
                .map(|m| (m.blocks() * 512).min(m.len()))
                .unwrap_or(0);
        }
        for ent in fs::read_dir(&self.dir).at(&self.dir)?.flatten() {
            if let Ok(m) = ent.metadata()
                && m.is_file()
            {
                st.other_bytes += m.len();
            }
        }
        st.visitors = visitors.len() as u64;
        st.partitions = parts.len() as u64;
        st.time_range = range;
        Ok(st)
    }

    fn background(self: Arc<Self>) {
        let mut last_flush = Instant::now();
        let mut last_resume = Instant::now();
        loop {
            {
                let stop = lock(&self.stop);
                if *stop {
                    return;
                }
                let (stop, _) = self
                    .wake
                    .wait_timeout(stop, Duration::from_millis(500))
                    .unwrap_or_else(|p| p.into_inner());
                if *stop {
                    return;
                }
            }
            if self.poisoned.load(Ordering::Acquire) {
                if last_resume.elapsed() >= Duration::from_secs(5) {
                    last_resume = Instant::now();
                    if let Err(e) = self.resume_writes() {
                        tracing::warn!(error = %e, "writes still refused; retrying in 5 s");
                    }
                }
                continue;
            }
            let (rows, stuck) = {
                let st = self.read();
                (st.active.rows, !st.frozen.is_empty())
            };
            let due = rows >= self.opts.flush_rows
                || ((rows > 0 || stuck) && last_flush.elapsed() >= self.opts.flush_interval);
            if due {
                if let Err(e) = self.flush() {
                    tracing::error!(error = %e, "background flush failed; the log still holds the events");
                }
                last_flush = Instant::now();
            }
            if let Err(e) = self.compact(&self.opts.compaction) {
                tracing::error!(error = %e, "background compaction failed");
            }
        }
    }
}
