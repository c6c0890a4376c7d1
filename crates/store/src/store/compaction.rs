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
use super::{
    Inner, PARTITION_DAYS, SEALED_DAYS, cores, four_weeks_of_day, lock, on_cores, week_of_day,
};
use crate::error::{Result, StoreError};
use crate::manifest::SegmentMeta;
use crate::recovery::seg_path;
use crate::segment::reader::{ChunkBuf, SegmentReader};
use crate::segment::rows::{Dict, Remap, SegmentRows};
use crate::segment::writer::{Compression, SegmentWriter};

/// When to merge the segments of a partition (a UTC week, or four sealed ones).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CompactionPolicy {
    /// Segments with at least this many rows are left alone; a merge's output is cut
    /// into segments of about this many rows (at visitor boundaries).
    pub target_rows: u64,
    /// Merge once a partition has at least this many small segments (or a segment of an
    /// older, shorter partition).
    pub min_segments: usize,
    /// Four sealed weeks of more segments than this first merge week by week (see
    /// [`CompactionPolicy::plan`]): every input holds a decoded block and its
    /// dictionaries while it merges, on each core.
    pub max_inputs: usize,
}

impl Default for CompactionPolicy {
    fn default() -> Self {
        CompactionPolicy {
            target_rows: 4_000_000,
            min_segments: 4,
            // An import of 100M events over 30 days gives four weeks of 400 segments
            // (batches of 1M; 800 with batches of 500,000), which merge at once
            // within 1 GiB.
            max_inputs: 1_000,
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
            max_inputs: usize::MAX,
        }
    }

    /// The merges to do, one per partition, each written as one merge cut into
    /// segments of about `target_rows`. The newest eight weeks (the four weeks of the
    /// newest week with events, and the four before) are partitioned by week:
    /// * the week's small segments once there are `min_segments` of them (the week
    ///   being written grows by tiers, as an LSM tree's level 0);
    /// * every segment of an older, shorter partition (so a store written before weekly
    ///   partitions becomes weekly);
    /// * every segment of a sealed week (any week before the newest) unless they all
    ///   come from one merge: then each visitor's week is one run in one segment. A week
    ///   written live is rewritten once, when the next week starts (and again only if
    ///   late events arrive for it).
    ///
    /// Older weeks are sealed four at a time ([`SEALED_DAYS`]): all the segments of
    /// four weeks merge into one run of one partition, unless they are one already (or
    /// one segment). They are rewritten once more, when the four weeks after the next
    /// begin, and again only if late events arrive for them. (So a range of the last 30
    /// days reads weeks only, and never 28 days of a sealed partition for a few.) Four weeks of more than `max_inputs`
    /// segments (a large import's batches) first merge week by week, left
    /// uncompressed; the four weeks merge at the next round.
    pub fn plan(&self, segments: &[SegmentMeta]) -> Vec<Merge> {
        if self.min_segments == usize::MAX {
            return Vec::new();
        }
        // The newest week with events; its four weeks and the four before stay weekly.
        let last_day = |s: &SegmentMeta| s.partition + i64::from(s.days.max(1)) - 1;
        let Some(newest) = segments.iter().map(|s| week_of_day(last_day(s))).max() else {
            return Vec::new();
        };
        let open = four_weeks_of_day(newest) - i64::from(SEALED_DAYS);
        let mut parts: BTreeMap<(i64, u32), Vec<&SegmentMeta>> = BTreeMap::new();
        for s in segments {
            let four = four_weeks_of_day(s.partition);
            let key = if four < open || s.days == SEALED_DAYS {
                (four, SEALED_DAYS)
            } else {
                (week_of_day(s.partition), PARTITION_DAYS)
            };
            parts.entry(key).or_default().push(s);
        }
        let mut out = Vec::new();
        for ((partition, days), segs) in parts {
            // Segments of days (older versions), or light ones (an import's batches,
            // not compressed), are merged even alone: a sealed week alone in its four
            // weeks, or one run of them, is left.
            let must = segs.iter().any(|s| s.days < PARTITION_DAYS || s.light);
            let sealed = days == SEALED_DAYS || partition != newest;
            let mut group: Vec<u64> = if sealed {
                // Sealed: all of it, unless it is one run already.
                let one_run = segs[0].run != 0 && segs.iter().all(|s| s.run == segs[0].run);
                if !must && (segs.len() == 1 || one_run) {
                    continue;
                }
                segs.iter().map(|s| s.id).collect()
            } else {
                let small: Vec<u64> = segs
                    .iter()
                    .filter(|s| s.days < days || s.light || s.rows < self.target_rows)
                    .map(|s| s.id)
                    .collect();
                if small.is_empty() || (!must && small.len() < self.min_segments.max(2)) {
                    continue;
                }
                small
            };
            if days == SEALED_DAYS && group.len() > self.max_inputs {
                let weeks = week_steps(&segs);
                if !weeks.is_empty() {
                    out.extend(weeks);
                    continue;
                }
            }
            group.sort_unstable();
            out.push(Merge {
                partition,
                days,
                segments: group,
                parts: sealed,
                light: false,
            });
        }
        out
    }
}

impl Merge {
    fn compression(&self) -> Compression {
        match self.light {
            true => Compression::Passing,
            false => Compression::Lasting,
        }
    }
}

/// The first step of sealing four weeks of many segments: each week's segments merged
/// into one run, not compressed (passing), as they are merged again next.
fn week_steps(segs: &[&SegmentMeta]) -> Vec<Merge> {
    let mut weeks: BTreeMap<i64, Vec<u64>> = BTreeMap::new();
    for s in segs.iter().filter(|s| s.days <= PARTITION_DAYS) {
        weeks
            .entry(week_of_day(s.partition))
            .or_default()
            .push(s.id);
    }
    weeks
        .into_iter()
        .filter(|(_, ids)| ids.len() > 1)
        .map(|(partition, mut ids)| {
            ids.sort_unstable();
            Merge {
                partition,
                days: PARTITION_DAYS,
                segments: ids,
                parts: false,
                light: true,
            }
        })
        .collect()
}

/// One merge of a compaction's plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Merge {
    /// The partition it writes: its first UTC day, and its length in days.
    pub partition: i64,
    pub days: u32,
    /// The segments it merges.
    pub segments: Vec<u64>,
    /// Whether it may be cut into parts (see `compact`): a sealed partition's merge,
    /// whose run is then left alone. The newest week's merges are not, so their outputs
    /// stay at the sizes its tiers go by.
    pub parts: bool,
    /// Whether its output is light (not compressed), to be merged again at once.
    pub light: bool,
}

/// The rows of a merge whose (site, visitor) key is at least `from` and below `to`
/// (`None`: no bound): a part of a merge, cut between visitors.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct KeyRange {
    from: Option<(String, u64)>,
    to: Option<(String, u64)>,
}

impl KeyRange {
    /// Every row.
    pub(super) const ALL: KeyRange = KeyRange {
        from: None,
        to: None,
    };

    /// Whether `key` is at or past `from`.
    fn reached(&self, key: (&str, u64)) -> bool {
        self.from
            .as_ref()
            .is_none_or(|f| key >= (f.0.as_str(), f.1))
    }

    /// Whether `key` is below `to`.
    fn before_end(&self, key: (&str, u64)) -> bool {
        self.to.as_ref().is_none_or(|t| key < (t.0.as_str(), t.1))
    }

    /// The blocks of `seg` that may hold keys in the range.
    fn blocks(&self, seg: &SegmentReader) -> std::ops::Range<usize> {
        let f = &seg.footer;
        let key = |k: (u32, u64)| (f.sites.get(k.0 as usize).map_or("", String::as_str), k.1);
        let start = f.blocks.partition_point(|b| !self.reached(key(b.last)));
        let end = f.blocks.partition_point(|b| self.before_end(key(b.first)));
        start..end.max(start)
    }

    /// Cuts the merge of `readers` into parts of up to about `rows` rows each, between
    /// visitors. Each part reads only the blocks that may hold its visitors, so an
    /// input of few blocks is read almost whole by every part: no more parts than two
    /// or half the inputs' blocks each, whichever is more. The parts' outputs hold
    /// disjoint visitors, in key order: together they are one merge's. The cuts come
    /// from a sample of the inputs' visitor runs (a key every 1/1024 of a part's rows in
    /// each input).
    fn parts(readers: &[Arc<SegmentReader>], rows: u64) -> Result<Vec<KeyRange>> {
        let total: u64 = readers.iter().map(|r| r.footer.rows).sum();
        let blocks: usize = readers.iter().map(|r| r.footer.blocks.len()).sum();
        let per_input = (blocks / readers.len().max(1)) as u64;
        let n = total
            .div_ceil(rows.max(1))
            .min((per_input / 2).max(2))
            .max(1);
        if n == 1 {
            return Ok(vec![KeyRange::ALL]);
        }
        let every = (total / n / 1024).max(1);
        // (key, rows of its input from the previous sample up to it)
        let mut samples: Vec<((&str, u64), u64)> = Vec::new();
        let (mut runs, mut buf) = (Vec::new(), ChunkBuf::default());
        for r in readers {
            let mut acc = 0u64;
            for bi in 0..r.footer.blocks.len() {
                r.runs_into(bi, &mut runs, &mut buf)?;
                for run in &runs {
                    if acc >= every {
                        let site = r.footer.sites[run.site as usize].as_str();
                        samples.push(((site, run.visitor), acc));
                        acc = 0;
                    }
                    acc += u64::from(run.len);
                }
            }
        }
        samples.sort_unstable();
        let step = total / n;
        let mut cuts: Vec<(&str, u64)> = Vec::new();
        let mut acc = 0u64;
        for (key, rows) in samples {
            acc += rows;
            if acc >= step * (cuts.len() as u64 + 1)
                && (cuts.len() as u64) + 1 < n
                && cuts.last().is_none_or(|c| *c < key)
            {
                cuts.push(key);
            }
        }
        let mut out = Vec::with_capacity(cuts.len() + 1);
        let mut from = None;
        for c in cuts {
            let to = Some((c.0.to_string(), c.1));
            out.push(KeyRange {
                from: from.take(),
                to: to.clone(),
            });
            from = to;
        }
        out.push(KeyRange { from, to: None });
        Ok(out)
    }
}

/// Marks the outputs of one merge (or of its parts) as one run, named after the first
/// of them.
fn one_run(outputs: &mut [SegmentMeta]) {
    let run = outputs.iter().map(|m| m.id).min().unwrap_or(0);
    outputs.iter_mut().for_each(|m| m.run = run);
}

/// Gives what a segment was rewritten into (by an erasure or a retention cut: some of
/// its rows, no others) the run it was part of: its visitors are still disjoint from the
/// run's other segments', so sealed four weeks stay one run and are not merged again.
pub(super) fn keep_run(rewritten: &mut [SegmentMeta], of: &SegmentMeta) {
    if of.run != 0 {
        rewritten.iter_mut().for_each(|m| m.run = of.run);
    }
}

/// How a compaction's merges are getting on: each one's parts not yet done and the
/// segments its parts wrote, and the first error.
struct Progress {
    left: Vec<usize>,
    written: Vec<Vec<SegmentMeta>>,
    err: Option<StoreError>,
}

impl Inner {
    /// Merges as planned, again while the plan has more (four weeks of many segments
    /// take two rounds); returns the number of merges.
    pub(super) fn compact(&self, policy: &CompactionPolicy) -> Result<usize> {
        let _m = lock(&self.maint);
        let mut merges = 0;
        // Each round plans afresh from what the last one left. A plan settles in two
        // rounds at most (weeks, then their four weeks): three bound a plan that would
        // not.
        for _ in 0..3 {
            let plan = policy.plan(&self.read().manifest.segments);
            if plan.is_empty() {
                break;
            }
            merges += plan.len();
            self.merge_planned(&plan, policy)?;
        }
        Ok(merges)
    }

    /// Runs one round of merges.
    fn merge_planned(&self, plan: &[Merge], policy: &CompactionPolicy) -> Result<()> {
        let inputs: Vec<Vec<Arc<SegmentReader>>> = {
            let st = self.read();
            let reader = |id| st.segments.get(id).cloned();
            plan.iter()
                .map(|m| m.segments.iter().filter_map(reader).collect())
                .collect()
        };
        // A sealed partition's merge is cut by visitor into parts of about
        // `target_rows` or less, each written as about one segment (cut as any merge's
        // output is): four weeks sealed at once do not merge on one core while the
        // others idle. Parts run on every core, the largest first, the next taken by
        // whichever core is free. A merge is committed once its last part is done, one
        // commit at a time. A failed part leaves its merge's segments as they were;
        // after a failure no part starts, and the merges not committed are discarded:
        // no manifest lists their files.
        // (merge, part, about how many rows it has)
        let mut jobs: Vec<(usize, KeyRange, u64)> = Vec::new();
        for (i, merge) in plan.iter().enumerate() {
            let rows: u64 = inputs[i].iter().map(|r| r.footer.rows).sum();
            let parts = match merge.parts {
                true => KeyRange::parts(&inputs[i], policy.target_rows)?,
                false => vec![KeyRange::ALL],
            };
            let n = parts.len() as u64;
            jobs.extend(parts.into_iter().map(|p| (i, p, rows / n)));
        }
        jobs.sort_by_key(|j| std::cmp::Reverse(j.2));
        let mut left = vec![0; plan.len()];
        for (i, ..) in &jobs {
            left[*i] += 1;
        }
        let progress = Mutex::new(Progress {
            left,
            written: vec![Vec::new(); plan.len()],
            err: None,
        });
        on_cores(&jobs, cores(), |(i, part, _)| {
            if lock(&progress).err.is_some() {
                return;
            }
            let (merge, i) = (&plan[*i], *i);
            let merged = self.merge_into(
                (merge.partition, merge.days),
                &inputs[i],
                part,
                |_, _, _| true,
                (policy.target_rows, merge.compression()),
            );
            let mut p = lock(&progress);
            match merged {
                Ok(add) => {
                    p.written[i].extend(add);
                    p.left[i] -= 1;
                    if p.left[i] > 0 || p.err.is_some() {
                        return;
                    }
                    let mut add = std::mem::take(&mut p.written[i]);
                    // The parts hold disjoint visitors.
                    one_run(&mut add);
                    // A failed commit's files are left to recovery, as a failed flush's:
                    // whether the manifest got them is not known here.
                    if let Err(e) = self.commit(ManifestChange {
                        add,
                        remove: merge.segments.clone(),
                        ..ManifestChange::default()
                    }) {
                        p.err = Some(e);
                    }
                }
                Err(e) => {
                    p.err.get_or_insert(e);
                }
            }
        });
        let p = progress.into_inner().unwrap_or_else(|p| p.into_inner());
        for w in &p.written {
            if !w.is_empty() {
                self.discard(&w.iter().map(|m| m.id).collect::<Vec<_>>());
            }
        }
        match p.err {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Merges segments into new ones of partition `(first day, days)`, keeping the rows
    /// of `range` for which `keep(site, visitor, ts)` holds, cut into segments of about
    /// `split_rows` rows at visitor boundaries (so no visitor spans two of them) and
    /// compressed as `compression` says. Returns nothing when nothing is kept. A merge that fails leaves no file behind.
    ///
    /// Rows move as dictionary ids (see [`SegmentRows`]): each input's ids are mapped to
    /// the output's once per distinct value, and no event is rebuilt.
    pub(super) fn merge_into(
        &self,
        (partition, days): (i64, u32),
        readers: &[Arc<SegmentReader>],
        range: &KeyRange,
        keep: impl Fn(&str, u64, i64) -> bool,
        (split_rows, compression): (u64, Compression),
    ) -> Result<Vec<SegmentMeta>> {
        let mut done: Vec<SegmentMeta> = Vec::new();
        // The segment being written: its id, writer and rows so far.
        let mut cur: Option<(u64, SegmentWriter, u64)> = None;
        let r = self.merge_rows(readers, range, keep, |row, remap, site, scratch| {
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
                    compression,
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
        // The outputs hold disjoint visitors.
        one_run(&mut done);
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

    /// The k-way merge under [`Self::merge_into`]: calls `f` with every kept row of
    /// `range` in (site, visitor, ts) order (ties to the earlier input), the inputs' id
    /// maps, the row's site and scratch buffers.
    fn merge_rows(
        &self,
        readers: &[Arc<SegmentReader>],
        range: &KeyRange,
        keep: impl Fn(&str, u64, i64) -> bool,
        mut f: impl FnMut(MergedRow<'_, '_>, &mut [Remap], &str, Scratch<'_>) -> Result<()>,
    ) -> Result<()> {
        use std::cmp::Reverse;
        use std::collections::BinaryHeap;
        let mut buf = ChunkBuf::default();
        let mut inputs = Vec::with_capacity(readers.len());
        for r in readers {
            inputs.push(SegmentRows::new(r, range.blocks(r), &mut buf)?);
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
        // The range's bounds as (site rank, visitor): a site not among the inputs' is
        // placed before the sites after it.
        let bound = |k: &Option<(String, u64)>| {
            k.as_ref()
                .map(|(site, v)| match sites.binary_search(&site.as_str()) {
                    Ok(r) => (r as u32, *v),
                    Err(r) => (r as u32, 0),
                })
        };
        let (lo, hi) = (bound(&range.from), bound(&range.to));
        // Moves an input to its next row in the range; false when it has none.
        let next = |rank: &[u32], rows: &mut SegmentRows<'_>, buf: &mut ChunkBuf| {
            while rows.advance(buf)? {
                let key = (rank[rows.site as usize], rows.visitor);
                if hi.is_some_and(|h| key >= h) {
                    return Ok(false);
                }
                if lo.is_none_or(|l| key >= l) {
                    return Ok(true);
                }
            }
            Ok::<bool, StoreError>(false)
        };
        let mut heap = BinaryHeap::with_capacity(inputs.len());
        for (i, rows) in inputs.iter_mut().enumerate() {
            if next(&rank[i], rows, &mut buf)? {
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
            if next(&rank[i], rows, &mut buf)? {
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

/// Scratch buffers for a row's mapped properties and re-encoded revenue.
type Scratch<'s> = (&'s mut Vec<cairn_timeline::PropEntry>, &'s mut Vec<u8>);

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

    /// A sealed four weeks' merge of `segments`, starting on day `partition`.
    fn sealed(partition: i64, segments: Vec<u64>) -> Merge {
        Merge {
            partition,
            days: SEALED_DAYS,
            segments,
            parts: true,
            light: false,
        }
    }

    /// The segments of each planned merge.
    fn ids(plan: Vec<Merge>) -> Vec<Vec<u64>> {
        plan.into_iter().map(|m| m.segments).collect()
    }

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
            ..CompactionPolicy::default()
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
        assert_eq!(ids(p.plan(&segs)), vec![vec![1, 2, 4, 6]]);
        assert!(p.plan(&segs[..2]).is_empty());
        assert!(CompactionPolicy::never().plan(&segs).is_empty());
        // Once a newer week begins, the week is sealed: all its segments merge into one
        // run (the large one too), unless they come from one merge already.
        let mut sealed = segs.to_vec();
        sealed.push(seg(7, 11, 5));
        assert_eq!(ids(p.plan(&sealed)), vec![vec![1, 2, 4, 5, 6]]);
        for s in sealed.iter_mut().filter(|s| s.partition == 4) {
            s.run = 1;
        }
        assert!(p.plan(&sealed).is_empty());
    }

    #[test]
    fn a_light_segment_is_merged_even_alone() {
        let p = CompactionPolicy {
            target_rows: 100,
            min_segments: 4,
            ..CompactionPolicy::default()
        };
        let light = |id, part, rows| SegmentMeta {
            light: true,
            ..seg(id, part, rows)
        };
        // Alone in a sealed week, alone in the newest week, large, or among others.
        assert_eq!(ids(p.plan(&[light(1, 4, 500)])), vec![vec![1]]);
        assert_eq!(
            ids(p.plan(&[light(1, 4, 50), light(2, 11, 50), seg(3, 18, 50)])),
            vec![vec![1], vec![2]]
        );
        assert_eq!(
            ids(p.plan(&[seg(1, 4, 50), light(2, 4, 50)])),
            vec![vec![1, 2]]
        );
        // Merged, they are not light: nothing more to do.
        assert!(p.plan(&[seg(1, 4, 500), seg(2, 11, 50)]).is_empty());
    }

    #[test]
    fn old_daily_segments_merge_into_their_week() {
        let p = CompactionPolicy {
            target_rows: 100,
            min_segments: 4,
            ..CompactionPolicy::default()
        };
        let day = |id, d, rows| SegmentMeta {
            days: 1,
            ..seg(id, d, rows)
        };
        // Days 4..=10 are one week (Monday 1970-01-05 to Sunday); day 11 starts the next.
        let segs = [day(1, 4, 500), day(2, 10, 5), day(3, 11, 5), seg(4, 11, 5)];
        assert_eq!(ids(p.plan(&segs)), vec![vec![1, 2], vec![3, 4]]);
        assert_eq!(week_of_day(10), 4);
        assert_eq!(week_of_day(11), 11);
        assert_eq!(week_of_day(3), -3);
    }

    #[test]
    fn four_sealed_weeks_merge_into_one_partition() {
        let p = CompactionPolicy {
            target_rows: 100,
            min_segments: 4,
            ..CompactionPolicy::default()
        };
        let run = |id, part, rows, run| SegmentMeta {
            run,
            ..seg(id, part, rows)
        };
        // Weeks 4, 11, 18 and 25 are four weeks (days 4..=31); week 32 starts the next,
        // and week 60 the four after.
        assert_eq!(four_weeks_of_day(31), 4);
        assert_eq!(four_weeks_of_day(32), 32);
        assert_eq!(four_weeks_of_day(3), -24);
        let four = [
            run(1, 4, 500, 1),
            run(2, 4, 500, 1),
            run(3, 11, 50, 3),
            seg(4, 18, 50),
            run(5, 25, 50, 5),
        ];
        // While their last week is the newest, they are weeks: sealed weeks of one run
        // are left, and the newest grows by tiers. So while the newest is in the next
        // four weeks.
        assert!(p.plan(&four).is_empty());
        let mut segs = four.to_vec();
        segs.push(seg(6, 53, 50));
        assert!(p.plan(&segs).is_empty());
        // Once the four weeks after those begin, the four merge into one partition of
        // 28 days.
        segs.push(seg(11, 60, 50));
        assert_eq!(p.plan(&segs), vec![sealed(4, vec![1, 2, 3, 4, 5])]);
        // Merged, they are one run: nothing to do, also when a later week is sealed.
        let merged = |id| SegmentMeta {
            days: SEALED_DAYS,
            ..run(id, 4, 200, 7)
        };
        let mut segs = vec![merged(7), merged(8), seg(6, 60, 50), seg(9, 67, 50)];
        assert!(p.plan(&segs).is_empty());
        // Late events for them (a week's segment) merge the four weeks again.
        segs.push(seg(10, 18, 5));
        assert_eq!(p.plan(&segs), vec![sealed(4, vec![7, 8, 10])]);
        // A sealed week alone in its four weeks is left as it is; days of an older
        // version merge even alone.
        assert!(p.plan(&[seg(1, 4, 50), seg(2, 60, 50)]).is_empty());
        let day = SegmentMeta {
            days: 1,
            ..seg(1, 5, 50)
        };
        assert_eq!(ids(p.plan(&[day, seg(2, 60, 50)])), vec![vec![1]]);
    }

    #[test]
    fn four_weeks_of_many_segments_merge_week_by_week_first() {
        let p = CompactionPolicy {
            max_inputs: 100,
            ..CompactionPolicy::default()
        };
        // Four sealed weeks of 30 segments each (an import's batches), and a later week.
        let mut segs: Vec<SegmentMeta> = (0..120u64)
            .map(|i| SegmentMeta {
                light: true,
                ..seg(i + 1, 4 + 7 * (i as i64 % 4), 1_000)
            })
            .collect();
        segs.push(seg(200, 60, 10));
        let plan = p.plan(&segs);
        assert_eq!(plan.len(), 4);
        for (w, m) in plan.iter().enumerate() {
            assert_eq!((m.partition, m.days), (4 + 7 * w as i64, PARTITION_DAYS));
            assert_eq!(m.segments.len(), 30);
            assert!(m.light && !m.parts);
        }
        // Merged so, they are 4 light runs: the four weeks merge into one.
        let weekly: Vec<SegmentMeta> = (0..4)
            .map(|w| SegmentMeta {
                light: true,
                run: 300 + w,
                ..seg(300 + w, 4 + 7 * w as i64, 30_000)
            })
            .chain([seg(200, 60, 10)])
            .collect();
        assert_eq!(p.plan(&weekly), vec![sealed(4, vec![300, 301, 302, 303])]);
    }
}
