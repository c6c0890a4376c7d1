//! Which segments to merge: a pure function of segment metadata, so the policy is
//! tested without I/O.

use std::collections::BTreeMap;

use crate::manifest::SegmentMeta;

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
