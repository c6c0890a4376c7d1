//! Retention: dropping the events before a cut at the start of a UTC day. Segments all
//! before it are dropped; a segment across it (partitions are weeks) is rewritten without
//! the events before it, in the same change. The cut is recorded in the manifest, so
//! events before it are not kept even when appended or replayed later.

use super::compaction::{KeyRange, keep_run};
use crate::segment::writer::Compression;
use std::sync::Arc;

use super::change::ManifestChange;
use super::{DAY_MS, Inner, day_of, lock};
use crate::error::Result;
use crate::manifest::SegmentMeta;
use crate::segment::reader::SegmentReader;

impl Inner {
    /// [`Store::retain_days`](super::Store::retain_days).
    pub(super) fn retain_days(&self, days: u32, now_ms: i64) -> Result<u64> {
        let cutoff = (day_of(now_ms) - i64::from(days) + 1) * DAY_MS;
        self.drop_before(cutoff)
    }

    /// Drops the events before `cutoff`: segments whose events are all before it,
    /// segments across it rewritten without them, and the buffered events before it, in
    /// one change. Returns the number of events dropped from segments.
    fn drop_before(&self, cutoff: i64) -> Result<u64> {
        let _m = lock(&self.maint);
        let (old, across): (Vec<SegmentMeta>, Vec<(SegmentMeta, Arc<SegmentReader>)>) = {
            let st = self.read();
            let old = st
                .manifest
                .segments
                .iter()
                .filter(|s| s.max_ts < cutoff)
                .cloned()
                .collect();
            let across = st
                .manifest
                .segments
                .iter()
                .filter(|s| s.min_ts < cutoff && s.max_ts >= cutoff)
                .filter_map(|s| st.segments.get(&s.id).map(|r| (s.clone(), Arc::clone(r))))
                .collect();
            (old, across)
        };
        let mut dropped: u64 = old.iter().map(|s| s.rows).sum();
        let mut remove: Vec<u64> = old.iter().map(|s| s.id).collect();
        let mut add: Vec<SegmentMeta> = Vec::new();
        for (meta, reader) in across {
            let kept = self.merge_into(
                (meta.partition, meta.days),
                &[reader],
                &KeyRange::ALL,
                |_, _, ts| ts >= cutoff,
                (u64::MAX, Compression::Lasting),
            );
            let kept = match kept {
                Ok(mut k) => {
                    keep_run(&mut k, &meta);
                    k
                }
                Err(e) => {
                    self.discard(&add.iter().map(|m| m.id).collect::<Vec<_>>());
                    return Err(e);
                }
            };
            dropped += meta.rows - kept.iter().map(|m| m.rows).sum::<u64>();
            remove.push(meta.id);
            add.extend(kept);
        }
        // The buffered events before the cut leave the read view with the change, once
        // it is durable (see `ManifestChange::drop_before`).
        self.commit(ManifestChange {
            add,
            remove,
            drop_before: Some(cutoff),
            ..ManifestChange::default()
        })?;
        Ok(dropped)
    }
}
