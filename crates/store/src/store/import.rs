//! Bulk import: batches sorted in memory and written straight to segments (no log).
//! [`Store::import`](super::Store::import) makes one manifest change per batch, the
//! batch's user links with it; a [`StagedImport`] makes one for all its batches, when it
//! is committed, and none if it is dropped.

use std::sync::MutexGuard;

use cairn_model::{Dim, Event, Record};
use rustc_hash::{FxHashMap, FxHashSet};

use super::change::ManifestChange;
use super::{Inner, Store, lock};
use crate::error::Result;
use crate::manifest::SegmentMeta;
use crate::segment::writer::Compression;
use crate::user_links::Link;

/// Records gathered into batches: events to sort and write, and the user links they
/// carry.
struct Batcher {
    size: usize,
    events: Vec<Event>,
    links: Vec<Link>,
}

impl Batcher {
    fn new(inner: &Inner) -> Batcher {
        let size = inner.opts.import_batch.max(1);
        Batcher {
            size,
            events: Vec::with_capacity(size.min(4 << 20)),
            links: Vec::new(),
        }
    }

    /// Adds a record; true when the batch is full.
    fn add(&mut self, r: Record) -> bool {
        match r {
            Record::Event(e) => {
                if !e.dim(Dim::User).is_empty() {
                    self.links.push((
                        e.site.clone(),
                        e.visitor,
                        e.dim(Dim::User).to_string(),
                        e.ts,
                    ));
                }
                self.events.push(e);
            }
            Record::Identify(i) => self.links.push((i.site, i.visitor, i.user, i.ts)),
        }
        self.events.len() >= self.size
    }

    fn is_empty(&self) -> bool {
        self.events.is_empty() && self.links.is_empty()
    }

    /// Adds `records`, handing each full batch to `write` on a second thread while the
    /// next one fills, so that reading, sorting and compressing overlap (the import
    /// writes its weeks in parallel, but between batches one core waited). `write`
    /// empties the events it is given; the emptied buffer comes back for reuse, so two
    /// batches at most are in memory. Stops at `write`'s first error; what stays in
    /// the batch (less than a full one) is the caller's to write.
    fn pipeline(
        &mut self,
        records: impl IntoIterator<Item = Record>,
        mut write: impl FnMut(&mut Vec<Event>, Vec<Link>) -> Result<()> + Send,
    ) -> Result<()> {
        use std::sync::mpsc::{channel, sync_channel};
        std::thread::scope(|s| {
            let (full_tx, full_rx) = sync_channel::<(Vec<Event>, Vec<Link>)>(0);
            let (empty_tx, empty_rx) = channel::<Vec<Event>>();
            let writer = s.spawn(move || -> Result<()> {
                for (mut events, links) in full_rx {
                    write(&mut events, links)?;
                    let _ = empty_tx.send(events);
                }
                Ok(())
            });
            for r in records {
                if self.add(r) {
                    let spare = empty_rx
                        .try_recv()
                        .unwrap_or_else(|_| Vec::with_capacity(self.size.min(4 << 20)));
                    let full = std::mem::replace(&mut self.events, spare);
                    if full_tx
                        .send((full, std::mem::take(&mut self.links)))
                        .is_err()
                    {
                        // The writer stopped at an error: it says which.
                        break;
                    }
                }
            }
            drop(full_tx);
            match writer.join() {
                Ok(r) => r,
                Err(panic) => std::panic::resume_unwind(panic),
            }
        })
    }
}

impl Inner {
    /// [`Store::import`](super::Store::import).
    pub(super) fn import(&self, records: impl IntoIterator<Item = Record>) -> Result<u64> {
        self.check()?;
        let mut b = Batcher::new(self);
        let mut n = 0u64;
        b.pipeline(records, |events, links| {
            n += self.write_batch(events, links)?;
            Ok(())
        })?;
        if !b.is_empty() {
            n += self.write_batch(&mut b.events, b.links)?;
        }
        Ok(n)
    }

    /// Sorts and writes a batch of events (emptying `events`, keeping its capacity) and
    /// commits it. Returns the number written: events before the retention cut are
    /// dropped.
    fn write_batch(&self, events: &mut Vec<Event>, links: Vec<Link>) -> Result<u64> {
        let _m = lock(&self.maint);
        let (add, written) = self.write_sorted(events)?;
        self.commit(ManifestChange {
            add,
            links,
            ..ManifestChange::default()
        })?;
        Ok(written)
    }

    /// Sorts and writes a batch of events to new segments, not yet listed (the caller
    /// holds the maintenance lock and commits them).
    fn write_sorted(&self, events: &mut Vec<Event>) -> Result<(Vec<SegmentMeta>, u64)> {
        let drop_before = self.read().manifest.drop_before;
        events.retain(|e| e.ts >= drop_before);
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
        let add = self.write_segments(&refs, Compression::Passing)?;
        drop(refs);
        let written = events.len() as u64;
        events.clear();
        Ok((add, written))
    }
}

/// An import that becomes visible all at once, when committed, or not at all: its
/// batches are written to segments the manifest does not list until
/// [`StagedImport::commit`]. Dropped uncommitted (a bad row found late, an error), it
/// removes them; after a crash they are leftovers the next open removes (their ids are
/// past the manifest's).
///
/// It holds the store's maintenance lock until it ends: flushes, compactions,
/// retention and erasure wait (an erasure must not miss events not listed yet). Meant
/// for `cairn import`, which has the store to itself.
pub struct StagedImport<'s> {
    inner: &'s Inner,
    _maint: MutexGuard<'s, ()>,
    batch: Batcher,
    staged: Staged,
}

/// What a staged import has written so far: its segments, the links they carry, and
/// the events in them.
#[derive(Default)]
struct Staged {
    add: Vec<SegmentMeta>,
    links: Vec<Link>,
    written: u64,
}

impl Staged {
    /// Sorts and writes one batch (emptying `events`), unlisted.
    fn write(
        &mut self,
        inner: &Inner,
        events: &mut Vec<Event>,
        mut links: Vec<Link>,
    ) -> Result<()> {
        let (add, n) = inner.write_sorted(events)?;
        self.add.extend(add);
        self.links.append(&mut links);
        self.written += n;
        Ok(())
    }
}

impl Store {
    /// Starts a [`StagedImport`].
    pub fn stage_import(&self) -> Result<StagedImport<'_>> {
        let inner = &*self.inner;
        inner.check()?;
        Ok(StagedImport {
            inner,
            _maint: lock(&inner.maint),
            batch: Batcher::new(inner),
            staged: Staged::default(),
        })
    }
}

impl StagedImport<'_> {
    /// Writes `records` (valid ones) in batches, not yet visible.
    pub fn import(&mut self, records: impl IntoIterator<Item = Record>) -> Result<()> {
        let (inner, staged) = (self.inner, &mut self.staged);
        self.batch
            .pipeline(records, |events, links| staged.write(inner, events, links))
    }

    /// Makes every event imported visible, in one manifest change. Returns the number
    /// written: events before the retention cut are dropped.
    pub fn commit(mut self) -> Result<u64> {
        if !self.batch.is_empty() {
            let links = std::mem::take(&mut self.batch.links);
            self.staged
                .write(self.inner, &mut self.batch.events, links)?;
        }
        // Taken: once the change is tried its files are the commit's to retire (a
        // failed commit may leave a manifest that lists them), not the drop's to remove.
        self.inner.commit(ManifestChange {
            add: std::mem::take(&mut self.staged.add),
            links: std::mem::take(&mut self.staged.links),
            ..ManifestChange::default()
        })?;
        Ok(self.staged.written)
    }
}

impl Drop for StagedImport<'_> {
    /// Not committed: the segments written so far are removed.
    fn drop(&mut self) {
        let ids: Vec<u64> = self.staged.add.iter().map(|s| s.id).collect();
        if !ids.is_empty() {
            self.inner.discard(&ids);
        }
    }
}
