//! Bulk import: batches sorted in memory and written straight to segments (no log).
//! [`Store::import`](super::Store::import) makes one manifest change per batch, the
//! batch's user links with it; a [`StagedImport`] makes one for all its batches, when it
//! is committed, and none if it is dropped.

use std::sync::MutexGuard;

use cairn_model::{ChunkValue, Dim, Event, EventChunk, PropValue, Record};
use cairn_timeline::{PropEntry, PropVal};
use prefetch_index::prefetch_index;

use super::change::ManifestChange;
use super::{Inner, Store, lock};
use crate::error::Result;
use crate::manifest::SegmentMeta;
use crate::segment::format::{
    DICT_CURRENCIES, DICT_PROP_KEYS, DICT_PROP_VALUES, DICTS, DIMS, put_revenue,
};
use crate::segment::rows::Remap;
use crate::segment::writer::{Compression, Interner, SegmentWriter};
use crate::user_links::Link;

/// An import batch held as ids of batch-wide dictionaries: each event's strings are
/// interned as it arrives and the event is dropped. A row is 112 bytes where an event
/// was about 550 (a batch of 1M: 112 MB, not 550, all of which the kernel had to
/// zero for each new batch buffer), and segments are written by mapping each distinct
/// value once per segment, as merges do ([`Remap`]), instead of interning every
/// string of every row again.
pub(crate) struct Batch {
    sites: Interner,
    /// One per dimension, then property keys, property values and currencies (the
    /// segment's dictionaries, in the same order).
    dicts: Vec<Interner>,
    rows: Vec<Row>,
    /// Every row's property entries, with batch ids; row i's end at `rows[i].props_end`.
    props: Vec<PropEntry>,
}

/// In declaration order (`repr(C)`): [`Batch::prefetch`] names the fields that reach
/// each of its cache lines.
#[derive(Clone, Copy)]
#[repr(C)]
struct Row {
    visitor: u64,
    ts: i64,
    micros: i64,
    site: u32,
    dims: [u32; DIMS],
    props_end: u32,
    /// The revenue's currency id, or [`Row::NO_REVENUE`].
    currency: u32,
}

impl Row {
    const NO_REVENUE: u32 = u32::MAX;
}

const _: () = assert!(
    std::mem::size_of::<Row>() == 112
        && std::mem::offset_of!(Row, dims) == 28
        && std::mem::offset_of!(Row, currency) == 108,
    "Batch::prefetch's fields no longer reach each cache line of a row"
);

/// How many rows ahead of the one written [`Batch::prefetch`] asks for a row's
/// properties; its row twice as far ahead.
const AHEAD: usize = 16;

impl Batch {
    fn with_capacity(rows: usize) -> Batch {
        Batch {
            sites: Interner::new(),
            dicts: (0..DICTS).map(|_| Interner::new()).collect(),
            rows: Vec::with_capacity(rows),
            props: Vec::new(),
        }
    }

    fn len(&self) -> usize {
        self.rows.len()
    }

    /// Empties the batch, keeping its memory.
    fn clear(&mut self) {
        self.sites.clear();
        self.dicts.iter_mut().for_each(Interner::clear);
        self.rows.clear();
        self.props.clear();
    }

    fn push(&mut self, e: &Event) {
        let mut dims = [0u32; DIMS];
        for (id, (d, s)) in dims.iter_mut().zip(self.dicts.iter_mut().zip(&e.dims)) {
            // Most dimensions of most events are unset: "" is id 0 of every dictionary.
            if !s.is_empty() {
                *id = d.intern(s);
            }
        }
        for (k, v) in &e.props {
            let val = match v {
                PropValue::Str(s) => PropVal::Str(self.dicts[DICT_PROP_VALUES].intern(s)),
                PropValue::Num(n) => PropVal::Num(*n),
                PropValue::Bool(b) => PropVal::Bool(*b),
            };
            let key = self.dicts[DICT_PROP_KEYS].intern(k);
            self.props.push(PropEntry { key, val });
        }
        let (micros, currency) = match &e.revenue {
            Some(r) => (r.micros, self.dicts[DICT_CURRENCIES].intern(&r.currency)),
            None => (0, Row::NO_REVENUE),
        };
        self.rows.push(Row {
            visitor: e.visitor,
            ts: e.ts,
            micros,
            site: self.sites.intern(&e.site),
            dims,
            props_end: self.props.len() as u32,
            currency,
        });
    }

    /// Adds a chunk's rows, each distinct value interned once, and its records in their
    /// places among the rows; the user links go to `links`.
    fn push_chunk(&mut self, mut c: EventChunk, links: &mut Vec<Link>) {
        let intern_all = |i: &mut Interner, list: &[String]| -> Vec<u32> {
            list.iter().map(|s| i.intern(s)).collect()
        };
        let sites = intern_all(&mut self.sites, c.sites());
        let dims: Vec<Vec<u32>> = Dim::ALL
            .iter()
            .zip(self.dicts.iter_mut())
            .map(|(&d, i)| intern_all(i, c.values(d)))
            .collect();
        let keys = intern_all(&mut self.dicts[DICT_PROP_KEYS], c.prop_keys());
        let strings = intern_all(&mut self.dicts[DICT_PROP_VALUES], c.prop_strings());
        let currencies = intern_all(&mut self.dicts[DICT_CURRENCIES], c.currencies());
        let mut records = c.take_records().into_iter().peekable();
        let user = Dim::User.index();
        for (i, r) in c.rows().iter().enumerate() {
            while let Some((_, rec)) = records.next_if(|(at, _)| *at as usize <= i) {
                add_record(self, links, rec);
            }
            let mut ids = [0u32; DIMS];
            for ((out, &id), map) in ids.iter_mut().zip(&r.dims).zip(&dims) {
                *out = map[id as usize];
            }
            for &(k, v) in c.prop_set(r.props) {
                let val = match v {
                    ChunkValue::Str(s) => PropVal::Str(strings[s as usize]),
                    ChunkValue::Num(n) => PropVal::Num(n),
                    ChunkValue::Bool(b) => PropVal::Bool(b),
                };
                self.props.push(PropEntry {
                    key: keys[k as usize],
                    val,
                });
            }
            let (micros, currency) = match r.revenue {
                Some((m, cur)) => (m, currencies[cur as usize]),
                None => (0, Row::NO_REVENUE),
            };
            if r.dims[user] != 0 {
                links.push((
                    c.sites()[r.site as usize].clone(),
                    r.visitor,
                    c.values(Dim::User)[r.dims[user] as usize].clone(),
                    r.ts,
                ));
            }
            self.rows.push(Row {
                visitor: r.visitor,
                ts: r.ts,
                micros,
                site: sites[r.site as usize],
                dims: ids,
                props_end: self.props.len() as u32,
                currency,
            });
        }
        for (_, rec) in records {
            add_record(self, links, rec);
        }
    }

    /// Writes rows `order` (sorted by site, visitor and time) to `w`, their ids mapped
    /// through `remap` (fresh for this segment).
    fn write_rows(&self, order: &[u32], w: &mut SegmentWriter) -> Result<()> {
        let mut remap = Remap::new(self.dicts.iter().map(Interner::len));
        let dicts = &self.dicts[..];
        let (mut props, mut revenue) = (Vec::new(), Vec::new());
        for (j, &i) in order.iter().enumerate() {
            self.prefetch(order, j);
            let r = &self.rows[i as usize];
            let mut ids = [0u32; DIMS];
            for (d, (out, &id)) in ids.iter_mut().zip(&r.dims).enumerate() {
                *out = remap.id(dicts, w, d, id);
            }
            let start = match i {
                0 => 0,
                i => self.rows[i as usize - 1].props_end,
            };
            let entries = &self.props[start as usize..r.props_end as usize];
            props.clear();
            for &e in entries {
                props.push(remap.prop(dicts, w, e));
            }
            revenue.clear();
            let rev = (r.currency != Row::NO_REVENUE)
                .then(|| (r.micros, remap.id(dicts, w, DICT_CURRENCIES, r.currency)));
            put_revenue(&mut revenue, rev);
            let site = &self.sites.strings()[r.site as usize];
            w.push_ids((site, r.visitor, r.ts), &ids, &props, &revenue)?;
        }
        Ok(())
    }

    /// Asks the cache for what writing row `order[j + 2 AHEAD]` reads, and the properties
    /// of row `order[j + AHEAD]`. The rows are read in sorted order, from all over a batch
    /// that is in arrival order (a hundred megabytes): each read missed the caches and
    /// the TLB, one at a time, since the work on a row is more than the processor looks
    /// ahead. A prefetch reads nothing and fails on nothing: indices past the end are
    /// ignored.
    #[inline]
    fn prefetch(&self, order: &[u32], j: usize) {
        if let Some(&k) = order.get(j + 2 * AHEAD) {
            let r = &self.rows[k as usize];
            // 112 bytes from an 8-byte boundary (the fields at 0, 48, 88 and 108): every
            // 64-byte line it spans holds one of these fields.
            prefetch_index(std::slice::from_ref(&r.visitor), 0);
            prefetch_index(&r.dims[..], 5);
            prefetch_index(&r.dims[..], 15);
            prefetch_index(std::slice::from_ref(&r.currency), 0);
            // Where its properties start: the row before it, in arrival order.
            if let Some(prev) = (k as usize).checked_sub(1) {
                prefetch_index(std::slice::from_ref(&self.rows[prev].props_end), 0);
            }
        }
        if let Some(&k) = order.get(j + AHEAD) {
            let start = match k {
                0 => 0,
                k => self.rows[k as usize - 1].props_end,
            };
            prefetch_index(&self.props, start as usize);
        }
    }
}

/// What a bulk import takes: records, or events in columns (a columnar file's rows,
/// each distinct value held once).
#[derive(Debug)]
#[allow(clippy::large_enum_variant)] // as in Record: boxing would cost an allocation each
pub enum ImportItem {
    /// One record.
    Record(Record),
    /// Many events (and records between them), in file order.
    Chunk(EventChunk),
}

impl From<Record> for ImportItem {
    fn from(r: Record) -> ImportItem {
        ImportItem::Record(r)
    }
}

impl From<EventChunk> for ImportItem {
    fn from(c: EventChunk) -> ImportItem {
        ImportItem::Chunk(c)
    }
}

/// Adds a record to a batch: an event to sort and write, and the user link it carries
/// (an identify record is only a link).
fn add_record(events: &mut Batch, links: &mut Vec<Link>, r: Record) {
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
            events.push(&e);
        }
        Record::Identify(i) => links.push((i.site, i.visitor, i.user, i.ts)),
    }
}

/// Records gathered into batches: events to sort and write, and the user links they
/// carry.
struct Batcher {
    size: usize,
    events: Batch,
    links: Vec<Link>,
}

impl Batcher {
    fn new(inner: &Inner) -> Batcher {
        let size = inner.opts.import_batch.max(1);
        Batcher {
            size,
            events: Batch::with_capacity(Batcher::capacity(size)),
            links: Vec::new(),
        }
    }

    /// Rows to reserve for a batch of `size`: a chunk may fill it past its size (by
    /// less than a chunk: a Parquet read batch is 8,192 rows), and growing the rows
    /// would copy them all.
    fn capacity(size: usize) -> usize {
        size.min(4 << 20) + 16_384
    }

    /// Adds a record or a chunk; true when the batch is full (a chunk may fill it past
    /// its size).
    fn add(&mut self, item: ImportItem) -> bool {
        match item {
            ImportItem::Record(r) => add_record(&mut self.events, &mut self.links, r),
            ImportItem::Chunk(c) => self.events.push_chunk(c, &mut self.links),
        }
        self.events.len() >= self.size
    }

    fn is_empty(&self) -> bool {
        self.events.len() == 0 && self.links.is_empty()
    }

    /// Adds `records`, handing each full batch to `write` on a second thread while the
    /// next one fills, so that reading, sorting and compressing overlap (the import
    /// writes its weeks in parallel, but between batches one core waited). `write`
    /// empties the batch it is given; the emptied batch comes back for reuse, so two
    /// batches at most are in memory. Stops at `write`'s first error; what stays in
    /// the batch (less than a full one) is the caller's to write.
    fn pipeline(
        &mut self,
        records: impl IntoIterator<Item = impl Into<ImportItem>>,
        mut write: impl FnMut(&mut Batch, Vec<Link>) -> Result<()> + Send,
    ) -> Result<()> {
        use std::sync::mpsc::{channel, sync_channel};
        std::thread::scope(|s| {
            let (full_tx, full_rx) = sync_channel::<(Batch, Vec<Link>)>(0);
            let (empty_tx, empty_rx) = channel::<Batch>();
            let writer = s.spawn(move || -> Result<()> {
                for (mut events, links) in full_rx {
                    write(&mut events, links)?;
                    let _ = empty_tx.send(events);
                }
                Ok(())
            });
            for r in records {
                if self.add(r.into()) {
                    let spare = empty_rx
                        .try_recv()
                        .unwrap_or_else(|_| Batch::with_capacity(Batcher::capacity(self.size)));
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
    pub(super) fn import(
        &self,
        records: impl IntoIterator<Item = impl Into<ImportItem>>,
    ) -> Result<u64> {
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

    /// Sorts and writes a batch (emptying it, keeping its memory) and commits it.
    /// Returns the number written: events before the retention cut are dropped.
    fn write_batch(&self, events: &mut Batch, links: Vec<Link>) -> Result<u64> {
        let _m = lock(&self.maint);
        let (add, written) = self.write_sorted(events)?;
        self.commit(ManifestChange {
            add,
            links,
            ..ManifestChange::default()
        })?;
        Ok(written)
    }

    /// Sorts and writes a batch to new segments, not yet listed (the caller holds the
    /// maintenance lock and commits them), and empties it.
    fn write_sorted(&self, b: &mut Batch) -> Result<(Vec<SegmentMeta>, u64)> {
        let drop_before = self.read().manifest.drop_before;
        // Sort small keys: site rank, visitor, time, and the arrival index last, so
        // ties keep arrival order.
        let sites = b.sites.strings();
        let mut by_name: Vec<u32> = (0..sites.len() as u32).collect();
        by_name.sort_unstable_by_key(|&i| &sites[i as usize]);
        let mut rank = vec![0u32; sites.len()];
        for (r, &i) in by_name.iter().enumerate() {
            rank[i as usize] = r as u32;
        }
        let mut keys: Vec<(u32, u64, i64, u32)> = b
            .rows
            .iter()
            .enumerate()
            .filter(|(_, r)| r.ts >= drop_before)
            .map(|(i, r)| (rank[r.site as usize], r.visitor, r.ts, i as u32))
            .collect();
        keys.sort_unstable();
        let batch = &*b;
        let add = self.write_partitioned(
            &keys,
            |k| k.2,
            Compression::Passing,
            |w, rows| batch.write_rows(&rows.iter().map(|k| k.3).collect::<Vec<u32>>(), w),
        )?;
        let written = keys.len() as u64;
        b.clear();
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
    fn write(&mut self, inner: &Inner, events: &mut Batch, mut links: Vec<Link>) -> Result<()> {
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
    pub fn import(
        &mut self,
        records: impl IntoIterator<Item = impl Into<ImportItem>>,
    ) -> Result<()> {
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
