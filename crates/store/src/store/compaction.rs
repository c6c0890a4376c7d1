//! Compaction: which segments to merge ([`CompactionPolicy::plan`], a pure function of
//! segment metadata, so the policy is tested without I/O), and merging them: a k-way
//! merge of sorted segments into new ones, swapped in by one manifest change. A merge's
//! output is cut into segments of about `target_rows` at visitor boundaries, so the
//! segments of one merge hold disjoint visitors: a visitor's week is one run in one of
//! them. Segments of older versions (one UTC day each) merge into their week's. The same
//! merge serves erasure and retention (keeping what is not dropped) and export.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use cairn_model::Event;

use super::change::ManifestChange;
use super::flush::segment_meta;
use super::{Inner, PARTITION_DAYS, cores, lock, on_cores, week_of_day};
use crate::error::{Result, StoreError};
use crate::manifest::SegmentMeta;
use crate::recovery::seg_path;
use crate::segment::reader::{ChunkBuf, SegmentReader};
use crate::segment::rows::{Dict, Remap, SegmentRows};
use crate::segment::writer::{Compression, SegmentWriter};

/// When to merge the segments of a partition (a UTC week).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CompactionPolicy {
    /// Segments with at least this many rows are left alone; a merge's output is cut
    /// into segments of about this many rows (at visitor boundaries).
    pub target_rows: u64,
    /// Merge once a partition has at least this many small segments (or a segment of an
    /// older, shorter partition).
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

    /// Groups of segment ids to merge, one per week, each written as one merge cut into
    /// segments of about `target_rows`:
    /// * the week's small segments once there are `min_segments` of them (the week
    ///   being written grows by tiers, as an LSM tree's level 0);
    /// * every segment of an older, shorter partition (so a store written before weekly
    ///   partitions becomes weekly);
    /// * every segment of a sealed week (any week before the newest) unless they all
    ///   come from one merge: then each visitor's week is one run in one segment. A week
    ///   written live is rewritten once, when the next week starts (and again only if
    ///   late events arrive for it).
    pub fn plan(&self, segments: &[SegmentMeta]) -> Vec<Vec<u64>> {
        if self.min_segments == usize::MAX {
            return Vec::new();
        }
        let mut by_week: BTreeMap<i64, Vec<&SegmentMeta>> = BTreeMap::new();
        for s in segments {
            by_week.entry(week_of_day(s.partition)).or_default().push(s);
        }
        let newest = by_week.keys().next_back().copied();
        let mut out = Vec::new();
        for (week, segs) in by_week {
            let old = |s: &SegmentMeta| s.days != PARTITION_DAYS;
            // Old or lightly compressed segments are merged even alone.
            let must = segs.iter().any(|s| old(s) || s.light);
            let mut group: Vec<u64> = if Some(week) != newest {
                // Sealed: all of it, unless it is one run already.
                let one_run = segs[0].run != 0 && segs.iter().all(|s| s.run == segs[0].run);
                if !must && (segs.len() == 1 || one_run) {
                    continue;
                }
                segs.iter().map(|s| s.id).collect()
            } else {
                let small: Vec<u64> = segs
                    .iter()
                    .filter(|s| old(s) || s.light || s.rows < self.target_rows)
                    .map(|s| s.id)
                    .collect();
                if small.is_empty() || (!must && small.len() < self.min_segments.max(2)) {
                    continue;
                }
                small
            };
            group.sort_unstable();
            out.push(group);
        }
        out
    }
}

impl Inner {
    pub(super) fn compact(&self, policy: &CompactionPolicy) -> Result<usize> {
        let _m = lock(&self.maint);
        let plan = policy.plan(&self.read().manifest.segments);
        let n = plan.len();
        // Weeks merge independently: as many at once as there are cores, the next week
        // taken by whichever core is free (in rounds of one week per core, a core sat
        // idle while the other finished a larger week). Each is committed as soon as it
        // is done, one commit at a time. A failed merge leaves its segments as they
        // were; after a failure no merge starts, and those that finish are not
        // committed: no manifest lists them, so their files go.
        let first_err: Mutex<Option<StoreError>> = Mutex::new(None);
        on_cores(&plan, cores(), |group| {
            if lock(&first_err).is_some() {
                return;
            }
            let merged = self.merge_group(group, policy);
            let mut first_err = lock(&first_err);
            match merged {
                // A failed commit's files are left to recovery, as a failed flush's:
                // whether the manifest got them is not known here.
                Ok(add) if first_err.is_none() => {
                    if let Err(e) = self.commit(ManifestChange {
                        add,
                        remove: group.clone(),
                        ..ManifestChange::default()
                    }) {
                        *first_err = Some(e);
                    }
                }
                Ok(add) => self.discard(&add.iter().map(|m| m.id).collect::<Vec<_>>()),
                Err(e) => {
                    first_err.get_or_insert(e);
                }
            }
        });
        if let Some(e) = first_err.into_inner().unwrap_or_else(|p| p.into_inner()) {
            return Err(e);
        }
        Ok(n)
    }

    /// Merges one planned group into its week's segments (not yet committed).
    fn merge_group(&self, group: &[u64], policy: &CompactionPolicy) -> Result<Vec<SegmentMeta>> {
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
                .map(|s| week_of_day(s.partition));
            (rs, part.unwrap_or(0))
        };
        self.merge_into(
            (partition, PARTITION_DAYS),
            &readers,
            |_, _, _| true,
            policy.target_rows,
        )
    }

    /// Merges segments into new ones of partition `(first day, days)`, keeping rows for
    /// which `keep(site, visitor, ts)` holds, cut into segments of about `split_rows`
    /// rows at visitor boundaries (so no visitor spans two of them). Returns nothing when
    /// nothing is kept. A merge that fails leaves no file behind.
    ///
    /// Rows move as dictionary ids (see [`SegmentRows`]): each input's ids are mapped to
    /// the output's once per distinct value, and no event is rebuilt.
    pub(super) fn merge_into(
        &self,
        (partition, days): (i64, u32),
        readers: &[Arc<SegmentReader>],
        keep: impl Fn(&str, u64, i64) -> bool,
        split_rows: u64,
    ) -> Result<Vec<SegmentMeta>> {
        let mut done: Vec<SegmentMeta> = Vec::new();
        // The segment being written: its id, writer and rows so far.
        let mut cur: Option<(u64, SegmentWriter, u64)> = None;
        let r = self.merge_rows(readers, keep, |row, remap, site, scratch| {
            if row.new_visitor && cur.as_ref().is_some_and(|c| c.2 >= split_rows) {
                let (id, w, _) = cur.take().expect("checked");
                done.push(self.finish_merged(id, (partition, days), w)?);
            }
            if cur.is_none() {
                let id = self.next_ids(1);
                let path = seg_path(&self.dir, id);
                let w = SegmentWriter::create(
                    Arc::clone(&self.fs),
                    &path,
                    (partition, days),
                    Compression::Lasting,
                )?;
                cur = Some((id, w, 0));
                // A new output has new dictionaries.
                remap.iter_mut().for_each(Remap::reset);
            }
            let c = cur.as_mut().expect("set above");
            c.2 += 1;
            remap[row.input].write_row(row.rows, site, &mut c.1, scratch)
        });
        let r = r.and_then(|()| match cur.take() {
            Some((id, w, _)) => self
                .finish_merged(id, (partition, days), w)
                .map(|m| done.push(m)),
            None => Ok(()),
        });
        // One run: the outputs hold disjoint visitors.
        let run = done.first().map_or(0, |m| m.id);
        for m in &mut done {
            m.run = run;
        }
        if let Err(e) = r {
            if let Some((_, w, _)) = cur {
                w.abandon();
            }
            let ids: Vec<u64> = done.iter().map(|m| m.id).collect();
            self.discard(&ids);
            return Err(e);
        }
        Ok(done)
    }

    /// The k-way merge under [`Self::merge_into`]: calls `f` with every kept row in
    /// (site, visitor, ts) order (ties to the earlier input), the inputs' id maps, the
    /// row's site and scratch buffers.
    fn merge_rows(
        &self,
        readers: &[Arc<SegmentReader>],
        keep: impl Fn(&str, u64, i64) -> bool,
        mut f: impl FnMut(MergedRow<'_, '_>, &mut [Remap], &str, Scratch<'_>) -> Result<()>,
    ) -> Result<()> {
        use std::cmp::Reverse;
        use std::collections::BinaryHeap;
        let mut buf = ChunkBuf::default();
        let mut inputs = Vec::with_capacity(readers.len());
        for r in readers {
            inputs.push(SegmentRows::new(r, &mut buf)?);
        }
        let mut remap: Vec<Remap> = inputs
            .iter()
            .map(|i| Remap::new(i.dicts.iter().map(Dict::len)))
            .collect();
        // Sites are compared by their rank among every input's sites.
        let mut sites: Vec<&str> = readers
            .iter()
            .flat_map(|r| r.footer.sites.iter().map(String::as_str))
            .collect();
        sites.sort_unstable();
        sites.dedup();
        let rank: Vec<Vec<u32>> = readers
            .iter()
            .map(|r| {
                let of = |s: &String| sites.binary_search(&s.as_str()).unwrap_or(0) as u32;
                r.footer.sites.iter().map(of).collect()
            })
            .collect();
        let mut heap = BinaryHeap::with_capacity(inputs.len());
        for (i, rows) in inputs.iter_mut().enumerate() {
            if rows.advance(&mut buf)? {
                heap.push(Reverse((
                    rank[i][rows.site as usize],
                    rows.visitor,
                    rows.ts,
                    i,
                )));
            }
        }
        let (mut props, mut revenue) = (Vec::new(), Vec::new());
        let mut last: Option<(u32, u64)> = None;
        while let Some(Reverse((site, visitor, ts, i))) = heap.pop() {
            let name = sites[site as usize];
            if keep(name, visitor, ts) {
                let new_visitor = last != Some((site, visitor));
                last = Some((site, visitor));
                let row = MergedRow {
                    input: i,
                    rows: &inputs[i],
                    new_visitor,
                };
                f(row, &mut remap, name, (&mut props, &mut revenue))?;
            }
            let rows = &mut inputs[i];
            if rows.advance(&mut buf)? {
                heap.push(Reverse((
                    rank[i][rows.site as usize],
                    rows.visitor,
                    rows.ts,
                    i,
                )));
            }
        }
        Ok(())
    }

    /// Finishes one output segment of a merge (a failed finish leaves no file).
    fn finish_merged(
        &self,
        id: u64,
        (partition, days): (i64, u32),
        w: SegmentWriter,
    ) -> Result<SegmentMeta> {
        match w.finish() {
            Ok(written) => Ok(segment_meta(id, partition, days, written)),
            Err(e) => {
                self.discard(&[id]);
                Err(e)
            }
        }
    }
}

/// A row of a merge: its input (whose cursor is at it), and whether it starts a visitor
/// (of the rows kept).
struct MergedRow<'r, 'a> {
    input: usize,
    rows: &'r SegmentRows<'a>,
    new_visitor: bool,
}

/// Scratch buffers for a row's re-encoded properties and revenue.
type Scratch<'s> = (&'s mut Vec<u8>, &'s mut Vec<u8>);

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

    /// A segment of the week starting on day `partition` (a Monday: 4 + 7k).
    fn seg(id: u64, partition: i64, rows: u64) -> SegmentMeta {
        SegmentMeta {
            id,
            partition,
            days: PARTITION_DAYS,
            run: 0,
            rows,
            min_ts: 0,
            max_ts: 0,
            bytes: 0,
            sites: vec![],
            footer_crc: 0,
            light: false,
        }
    }

    #[test]
    fn merges_a_weeks_small_segments() {
        let p = CompactionPolicy {
            target_rows: 100,
            min_segments: 3,
        };
        let segs = [
            seg(1, 4, 10),
            seg(2, 4, 20),
            seg(3, -3, 5),
            seg(4, 4, 30),
            seg(5, 4, 500),
            seg(6, 4, 90),
        ];
        // The week's small segments, however many rows together (the merge cuts its
        // output); the large one is left alone.
        assert_eq!(p.plan(&segs), vec![vec![1, 2, 4, 6]]);
        assert!(p.plan(&segs[..2]).is_empty());
        assert!(CompactionPolicy::never().plan(&segs).is_empty());
        // Once a newer week begins, the week is sealed: all its segments merge into one
        // run (the large one too), unless they come from one merge already.
        let mut sealed = segs.to_vec();
        sealed.push(seg(7, 11, 5));
        assert_eq!(p.plan(&sealed), vec![vec![1, 2, 4, 5, 6]]);
        for s in sealed.iter_mut().filter(|s| s.partition == 4) {
            s.run = 1;
        }
        assert!(p.plan(&sealed).is_empty());
    }

    #[test]
    fn a_lightly_compressed_segment_is_merged_even_alone() {
        let p = CompactionPolicy {
            target_rows: 100,
            min_segments: 4,
        };
        let light = |id, part, rows| SegmentMeta {
            light: true,
            ..seg(id, part, rows)
        };
        // Alone in a sealed week, alone in the newest week, large, or among others.
        assert_eq!(p.plan(&[light(1, 4, 500)]), vec![vec![1]]);
        assert_eq!(
            p.plan(&[light(1, 4, 50), light(2, 11, 50), seg(3, 18, 50)]),
            vec![vec![1], vec![2]]
        );
        assert_eq!(p.plan(&[seg(1, 4, 50), light(2, 4, 50)]), vec![vec![1, 2]]);
        // Merged, they are not light: nothing more to do.
        assert!(p.plan(&[seg(1, 4, 500), seg(2, 11, 50)]).is_empty());
    }

    #[test]
    fn old_daily_segments_merge_into_their_week() {
        let p = CompactionPolicy {
            target_rows: 100,
            min_segments: 4,
        };
        let day = |id, d, rows| SegmentMeta {
            days: 1,
            ..seg(id, d, rows)
        };
        // Days 4..=10 are one week (Monday 1970-01-05 to Sunday); day 11 starts the next.
        let segs = [day(1, 4, 500), day(2, 10, 5), day(3, 11, 5), seg(4, 11, 5)];
        assert_eq!(p.plan(&segs), vec![vec![1, 2], vec![3, 4]]);
        assert_eq!(week_of_day(10), 4);
        assert_eq!(week_of_day(11), 11);
        assert_eq!(week_of_day(3), -3);
    }
}
