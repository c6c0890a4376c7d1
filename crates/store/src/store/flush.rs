//! Flushing: the log is rotated, the frozen buffer is written as one segment per
//! partition (UTC week), one manifest change lists them and moves the log start, then the old log files
//! are deleted. Also writing sorted events to segments, for flushes, imports and resumes.

use std::collections::BTreeMap;
use std::sync::Arc;

use cairn_model::Event;

use super::change::ManifestChange;
use super::{Inner, PARTITION_DAYS, cores, lock, on_cores, partition_of};
use crate::error::Result;
use crate::manifest::SegmentMeta;
use crate::memtable::Memtable;
use crate::recovery::seg_path;
use crate::segment::writer::{Compression, SegmentWriter, Written};

/// Batches of at least this many events write their partitions in parallel.
const PARALLEL_ROWS: usize = 100_000;

impl Inner {
    pub(super) fn flush(&self) -> Result<()> {
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
    pub(super) fn flush_locked(&self, force: bool) -> Result<()> {
        let Some((mem, cut)) = self.rotate(force)? else {
            return Ok(());
        };
        self.write_frozen(&mem, cut)?;
        self.remove_logs_before(cut, true)
    }

    /// Writes a frozen buffer to segments and commits them with the log's new start
    /// `wal_start`: the buffer leaves the read view in the same step as its segments
    /// enter it.
    pub(super) fn write_frozen(&self, mem: &Memtable, wal_start: u64) -> Result<()> {
        let drop_before = self.read().manifest.drop_before;
        let sorted: Vec<&Event> = mem
            .sorted()
            .into_iter()
            .filter(|e| e.ts >= drop_before)
            .collect();
        let add = self.write_segments(&sorted, Compression::Lasting)?;
        self.commit(ManifestChange {
            add,
            wal_start: Some(wal_start),
            clear_frozen: true,
            ..ManifestChange::default()
        })
    }

    /// Writes sorted events as one segment per partition (week), not yet in the
    /// manifest (see [`Inner::write_partitioned`]).
    pub(super) fn write_segments(
        &self,
        sorted: &[&Event],
        compression: Compression,
    ) -> Result<Vec<SegmentMeta>> {
        self.write_partitioned(
            sorted,
            |e| e.ts,
            compression,
            |w, evs| evs.iter().try_for_each(|e| w.push(e)),
        )
    }

    /// Writes sorted rows as one segment per partition (week), not yet in the
    /// manifest: `fill` writes a partition's rows (in order) to its segment. Large
    /// batches (an import's) write their weeks on every core. When one fails, those
    /// already written are discarded.
    pub(super) fn write_partitioned<T: Sync>(
        &self,
        sorted: &[T],
        ts: impl Fn(&T) -> i64,
        compression: Compression,
        fill: impl Fn(&mut SegmentWriter, &[&T]) -> Result<()> + Sync,
    ) -> Result<Vec<SegmentMeta>> {
        let mut parts: BTreeMap<i64, Vec<&T>> = BTreeMap::new();
        for r in sorted {
            parts.entry(partition_of(ts(r))).or_default().push(r);
        }
        let first = self.next_ids(parts.len());
        let jobs: Vec<(u64, i64, Vec<&T>)> = parts
            .into_iter()
            .enumerate()
            .map(|(i, (part, rows))| (first + i as u64, part, rows))
            .collect();
        let threads = if sorted.len() >= PARALLEL_ROWS {
            cores()
        } else {
            1
        };
        let results = on_cores(&jobs, threads, |(id, part, rows)| {
            self.write_segment(*id, *part, compression, |w| fill(w, rows))
        });
        results
            .into_iter()
            .collect::<Result<Vec<_>>>()
            .inspect_err(|_| {
                self.discard(&jobs.iter().map(|j| j.0).collect::<Vec<_>>());
            })
    }

    /// Writes one segment, its rows written by `fill`.
    fn write_segment(
        &self,
        id: u64,
        partition: i64,
        compression: Compression,
        fill: impl FnOnce(&mut SegmentWriter) -> Result<()>,
    ) -> Result<SegmentMeta> {
        let path = seg_path(&self.dir, id);
        let mut w = SegmentWriter::create(
            Arc::clone(&self.fs),
            &path,
            (partition, PARTITION_DAYS),
            compression,
        )?;
        if let Err(err) = fill(&mut w) {
            w.abandon();
            return Err(err);
        }
        Ok(segment_meta(id, partition, PARTITION_DAYS, w.finish()?))
    }
}

/// The manifest entry of a segment just written.
pub(super) fn segment_meta(id: u64, partition: i64, days: u32, written: Written) -> SegmentMeta {
    SegmentMeta {
        id,
        partition,
        days,
        run: 0,
        rows: written.rows,
        min_ts: written.min_ts,
        max_ts: written.max_ts,
        bytes: written.bytes,
        sites: written.sites,
        footer_crc: written.footer_crc,
        light: written.compression == Compression::Passing,
    }
}
