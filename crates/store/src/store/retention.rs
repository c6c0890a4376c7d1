//! Retention: dropping whole UTC-day partitions before a cut. The cut is recorded in the
//! manifest, so events before it are not kept even when appended or replayed later.

use super::change::ManifestChange;
use super::{DAY_MS, Inner, lock, partition_of};
use crate::error::Result;
use crate::manifest::SegmentMeta;

impl Inner {
    /// [`Store::retain_days`](super::Store::retain_days).
    pub(super) fn retain_days(&self, days: u32, now_ms: i64) -> Result<u64> {
        let cutoff = (partition_of(now_ms) - i64::from(days) + 1) * DAY_MS;
        self.drop_before(cutoff)
    }

    /// Drops the segments whose events are all before `cutoff`, and the buffered events
    /// before it, in one change. Returns the number of events dropped from segments.
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
        // The buffered events before the cut leave the read view with the change, once
        // it is durable (see `ManifestChange::drop_before`).
        self.commit(ManifestChange {
            remove,
            drop_before: Some(cutoff),
            ..ManifestChange::default()
        })?;
        Ok(dropped)
    }
}
