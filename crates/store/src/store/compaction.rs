//! Compaction: which segments to merge ([`CompactionPolicy::plan`], a pure function of
//! segment metadata, so the policy is tested without I/O), and merging them: a k-way
//! merge of sorted segments into a new one, swapped in by one manifest change. The same
//! merge serves erasure (keeping what is not erased) and export.

use std::collections::BTreeMap;
use std::sync::Arc;

use cairn_model::Event;

use super::change::ManifestChange;
use super::flush::segment_meta;
use super::{Inner, lock};
use crate::error::Result;
use crate::manifest::SegmentMeta;
use crate::recovery::seg_path;
use crate::segment::reader::SegmentReader;
use crate::segment::writer::SegmentWriter;

/// When to merge the segments of a partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CompactionPolicy {
    /// Segments with at least this many rows are left alone.
    pub target_rows: u64,
    /// Merge once a partition has at least this many small segments.
    pub min_segments: usize,
}

impl Default for CompactionPolicy {
    fn default() -> Self {
        CompactionPolicy {
            target_rows: 4_000_000,
            min_segments: 4,
        }
    }
}

impl CompactionPolicy {
    /// A policy that merges whenever a partition has two or more small segments.
    pub fn eager() -> Self {
        CompactionPolicy {
            min_segments: 2,
            ..Self::default()
        }
    }

    /// A policy that never merges: segments stay as flushed (the ClickHouse shipper
    /// ships and removes them one by one).
    pub fn never() -> Self {
        CompactionPolicy {
            target_rows: 0,
            min_segments: usize::MAX,
        }
    }

    /// Groups of segment ids to merge, each within one partition and together at most
    /// about `target_rows` rows.
    pub fn plan(&self, segments: &[SegmentMeta]) -> Vec<Vec<u64>> {
        let mut by_part: BTreeMap<i64, Vec<&SegmentMeta>> = BTreeMap::new();
        for s in segments.iter().filter(|s| s.rows < self.target_rows) {
            by_part.entry(s.partition).or_default().push(s);
        }
        let mut out = Vec::new();
        for (_, mut segs) in by_part {
            if segs.len() < self.min_segments.max(2) {
                continue;
            }
            segs.sort_by_key(|s| (s.rows, s.id));
            let mut group = Vec::new();
            let mut rows = 0u64;
            for s in segs {
                if !group.is_empty() && rows + s.rows > self.target_rows {
                    if group.len() >= 2 {
                        out.push(std::mem::take(&mut group));
                    }
                    group.clear();
                    rows = 0;
                }
                group.push(s.id);
                rows += s.rows;
            }
            if group.len() >= 2 {
                out.push(group);
            }
        }
        out
    }
}

impl Inner {
    pub(super) fn compact(&self, policy: &CompactionPolicy) -> Result<usize> {
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
            self.commit(ManifestChange {
                add: meta.into_iter().collect(),
                remove: group,
                ..ManifestChange::default()
            })?;
        }
        Ok(n)
    }

    /// Merges segments into a new one, keeping events for which `keep` holds. Returns
    /// None when nothing is kept. A merge that fails leaves no file behind.
    pub(super) fn merge_into(
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
        let mut w = SegmentWriter::create(Arc::clone(&self.fs), &path, partition)?;
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
        match w.finish() {
            Ok(written) => Ok(Some(segment_meta(id, partition, written))),
            Err(e) => {
                self.discard(&[id]);
                Err(e)
            }
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(id: u64, partition: i64, rows: u64) -> SegmentMeta {
        SegmentMeta {
            id,
            partition,
            rows,
            min_ts: 0,
            max_ts: 0,
            bytes: 0,
            sites: vec![],
            footer_crc: 0,
        }
    }

    #[test]
    fn merges_small_segments_per_partition() {
        let p = CompactionPolicy {
            target_rows: 100,
            min_segments: 3,
        };
        let segs = [
            seg(1, 0, 10),
            seg(2, 0, 20),
            seg(3, 1, 5),
            seg(4, 0, 30),
            seg(5, 0, 500),
        ];
        assert_eq!(p.plan(&segs), vec![vec![1, 2, 4]]);
        assert!(p.plan(&segs[..2]).is_empty());
        // Groups stay near the target size.
        let many: Vec<_> = (0..10).map(|i| seg(i, 7, 40)).collect();
        let plan = p.plan(&many);
        assert!(
            plan.iter()
                .all(|g| g.len() >= 2 && g.len() as u64 * 40 <= 100)
        );
        assert_eq!(plan.iter().map(Vec::len).sum::<usize>(), 10);
    }
}
