//! A block as a scan reads it: its visitor runs decoded, its timestamps and dimension
//! ids left as their decompressed bytes and decoded one visitor run at a time, straight
//! into the run's timeline.
//!
//! Decoding a whole block first (65,536 rows: half a megabyte of times and a quarter
//! per dimension) wrote every value to memory that no core's cache holds, only for the
//! scan to read it back when it copied each run into a timeline: those two passes were
//! the scan's largest costs. Decoding a run where it is copied touches each value once.
//! The checks of [`SegmentReader::block_into`] are all made: ids against their
//! dictionaries when the block is loaded, a run's times when it is decoded.

use super::format::*;
use super::reader::{ChunkBuf, Projection, Revenues, Run, SegmentReader};
use crate::codec::Cursor;
use crate::error::{Result, corrupted};
use cairn_timeline::PropEntry;

/// One dimension's column as stored: ids of `width` bytes (0: every id is 0), one per
/// row or one per visitor run. Scans and merges read blocks this way.
#[derive(Debug, Default)]
pub(crate) struct Col {
    pub raw: Vec<u8>,
    pub width: usize,
    pub per_run: bool,
}

impl Col {
    /// The id at `at` (a row, or a run for a per-run column).
    #[inline]
    pub(crate) fn get(&self, at: usize) -> u32 {
        let r = &self.raw;
        match self.width {
            0 => 0,
            1 => u32::from(r[at]),
            2 => u32::from(u16::from_le_bytes([r[2 * at], r[2 * at + 1]])),
            _ => u32::from_le_bytes([r[4 * at], r[4 * at + 1], r[4 * at + 2], r[4 * at + 3]]),
        }
    }

    /// The largest id (0 for an empty column).
    fn max(&self) -> u32 {
        match self.width {
            0 => 0,
            1 => self.raw.iter().copied().max().map_or(0, u32::from),
            2 => self
                .raw
                .chunks_exact(2)
                .map(|x| u16::from_le_bytes([x[0], x[1]]))
                .max()
                .map_or(0, u32::from),
            _ => self
                .raw
                .chunks_exact(4)
                .map(|x| u32::from_le_bytes([x[0], x[1], x[2], x[3]]))
                .max()
                .unwrap_or(0),
        }
    }
}

/// A loaded block: see the module's documentation. Properties and revenue, when
/// projected, are decoded whole (few scans read them).
#[derive(Debug, Default)]
pub(crate) struct Packed {
    pub runs: Vec<Run>,
    min_ts: i64,
    max_ts: i64,
    ts_raw: Vec<u8>,
    /// Where the timestamps of run `ts_run` start in `ts_raw`: runs are decoded in
    /// order, the ones skipped walked over.
    ts_run: usize,
    ts_pos: usize,
    /// Per dimension; `None` when not projected.
    dims: Vec<Option<Col>>,
    /// Row i's properties are `prop_entries[prop_offsets[i]..prop_offsets[i + 1]]`.
    pub prop_offsets: Vec<u32>,
    pub prop_entries: Vec<PropEntry>,
    pub revenue: Option<Revenues>,
}

/// How a run's rows meet a time range, told by its first and last times.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Meets {
    /// No row is in the range: it ends before the run's first or starts after its last.
    None,
    /// Maybe some rows, not all: the range starts or ends within the run's times (and
    /// may fall between two rows).
    Some,
    /// Every row is.
    All,
}

/// Why a run's timestamps could not be decoded (the caller names the file).
pub(crate) struct BadTimes(pub &'static str);

impl Packed {
    /// Whether dimension `d` was loaded.
    pub(crate) fn has_dim(&self, d: usize) -> bool {
        self.dims.get(d).is_some_and(Option::is_some)
    }

    /// Appends run `r`'s timestamps to `out`. Runs must be asked for in increasing order.
    pub(crate) fn ts_into(&mut self, r: usize, out: &mut Vec<i64>) -> Result<(), BadTimes> {
        self.ts_prefix_into(r, usize::MAX, out)
    }

    /// Appends the first `n` of run `r`'s timestamps (all of them when it has fewer) to
    /// `out`. Runs must be asked for in increasing order; a run read in part is walked
    /// over by the next call.
    pub(crate) fn ts_prefix_into(
        &mut self,
        r: usize,
        n: usize,
        out: &mut Vec<i64>,
    ) -> Result<(), BadTimes> {
        if r < self.ts_run {
            return Err(BadTimes("timestamps: a run read twice"));
        }
        // Walk over the runs in between: a varint ends at each byte under 0x80.
        let skip: u64 = self.runs[self.ts_run..r]
            .iter()
            .map(|x| u64::from(x.len))
            .sum();
        let mut pos = self.ts_pos;
        let mut left = skip;
        // Varints end at bytes under 0x80: each byte's flag (its high bit, inverted, moved
        // to the low bit) is 0 or 1, and a multiply sums a word's flags into its top
        // byte (`count_ones` without the popcnt instruction, which the portable build
        // has not, was most of the walk). Thirty-two bytes at a time while the varints
        // ending in them are all walked over, then eight.
        const LOW: u64 = 0x0101_0101_0101_0101;
        let ends = |w: &[u8]| (!u64::from_le_bytes(w.try_into().unwrap_or([0xff; 8])) >> 7) & LOW;
        while left >= 32 {
            let Some(w) = self.ts_raw.get(pos..pos + 32) else {
                break;
            };
            // Each byte of the sum is at most 4: no carry between bytes.
            let sum = ends(&w[..8]) + ends(&w[8..16]) + ends(&w[16..24]) + ends(&w[24..]);
            left -= sum.wrapping_mul(LOW) >> 56;
            pos += 32;
        }
        while left >= 8 {
            let Some(w) = self.ts_raw.get(pos..pos + 8) else {
                break;
            };
            left -= ends(w).wrapping_mul(LOW) >> 56;
            pos += 8;
        }
        while left > 0 {
            let b = *self
                .ts_raw
                .get(pos)
                .ok_or(BadTimes("timestamps: truncated"))?;
            pos += 1;
            left -= u64::from(b < 0x80);
        }
        let run = self.runs[r];
        let take = n.min(run.len as usize);
        if take < run.len as usize {
            // Read in part: the next call walks over this run from its start.
            self.ts_run = r;
            self.ts_pos = pos;
        }
        if take == 0 {
            return Ok(());
        }
        let mut c = Cursor::at(&self.ts_raw, pos);
        run_times_into(&mut c, take, (self.min_ts, self.max_ts), out)?;
        if take == run.len as usize {
            self.ts_run = r + 1;
            self.ts_pos = c.pos();
        }
        Ok(())
    }

    /// Per run of the block, how it meets `[from, to]` ([`Meets`]; a run's times ascend,
    /// so its first and last time tell), into `out`: one pass over the block's times with
    /// its own reader (the position [`Self::ts_prefix_into`] keeps is left alone), every
    /// run's times checked as [`run_times_into`] checks them.
    pub(crate) fn runs_meeting_into(
        &self,
        from: i64,
        to: i64,
        out: &mut Vec<Meets>,
    ) -> Result<(), BadTimes> {
        let mut c = Cursor::new(&self.ts_raw);
        out.clear();
        out.reserve(self.runs.len());
        for run in &self.runs {
            if run.len == 0 {
                out.push(Meets::None);
                continue;
            }
            let (first, last) = run_times_each(&mut c, run.len as usize, self.bounds(), |_| {})?;
            out.push(if first >= from && last <= to {
                Meets::All
            } else if first <= to && last >= from {
                Meets::Some
            } else {
                Meets::None
            });
        }
        Ok(())
    }

    /// The block's time bounds (every row's time is within them).
    pub(crate) fn bounds(&self) -> (i64, i64) {
        (self.min_ts, self.max_ts)
    }

    /// The id of dimension `d` (loaded) on `row` of the block, in run `r`.
    #[inline]
    pub(crate) fn id(&self, d: usize, r: usize, row: usize) -> u32 {
        match &self.dims[d] {
            Some(col) if col.per_run || col.width == 0 => col.get(r),
            Some(col) => col.get(row),
            None => 0,
        }
    }

    /// Whether every id of dimension `d` (loaded) in run `r` is 0: its bytes, compared
    /// at once.
    #[inline]
    pub(crate) fn run_ids_zero(&self, d: usize, r: usize) -> bool {
        match &self.dims[d] {
            Some(col) if col.per_run || col.width == 0 => col.get(r) == 0,
            Some(col) => {
                let run = self.runs[r];
                let (lo, hi) = (run.start as usize, (run.start + run.len) as usize);
                col.raw[lo * col.width..hi * col.width]
                    .iter()
                    .all(|&b| b == 0)
            }
            None => true,
        }
    }

    /// `table[id]` for the id of dimension `d` (loaded) on `row` of the block, in run `r`;
    /// 0 for an id past the table's end.
    #[inline]
    pub(crate) fn lookup(&self, d: usize, r: usize, row: usize, table: &[u64]) -> u64 {
        table.get(self.id(d, r, row) as usize).copied().unwrap_or(0)
    }

    /// Per run of the block, in order: the union of `table[id]` over its ids of
    /// dimension `d` (loaded; ids past the table's end count as 0), into `out`
    /// (`starts`: scratch).
    ///
    /// With one-byte ids and a table of at least 256 entries, the rows are walked once
    /// without a branch: a flag marks each run's first row, which starts the union
    /// afresh, and every row writes its run's union so far. A loop per run ended on a
    /// mispredicted branch per run, and a test per row of whether its entry is 0
    /// mispredicts where a class is common (a funnel's pageviews).
    pub(crate) fn unions_into(
        &self,
        d: usize,
        table: &[u64],
        out: &mut Vec<u64>,
        starts: &mut Vec<u8>,
    ) {
        out.clear();
        let Some(col) = &self.dims[d] else {
            out.resize(self.runs.len(), 0);
            return;
        };
        let look = |id: u32| table.get(id as usize).copied().unwrap_or(0);
        if col.per_run || col.width == 0 {
            out.extend((0..self.runs.len()).map(|r| look(col.get(r))));
            return;
        }
        // The runs cover the rows in order, one after the other.
        let rows = col.raw.len() / col.width;
        let tiled = self.runs.first().is_none_or(|r| r.start == 0)
            && self
                .runs
                .windows(2)
                .all(|w| w[0].start + w[0].len == w[1].start)
            && self.runs.last().map_or(0, |r| (r.start + r.len) as usize) == rows;
        match (col.width, table.get(..256)) {
            (1, Some(t)) if tiled && !self.runs.is_empty() => {
                out.resize(self.runs.len(), 0);
                starts.clear();
                starts.resize(rows, 0);
                for r in &self.runs {
                    starts[r.start as usize] = 1;
                }
                // Row 0 starts run 0: `r` wraps to 0 there.
                let mut r = usize::MAX;
                let mut acc = 0u64;
                for (&x, &s) in col.raw.iter().zip(starts.iter()) {
                    r = r.wrapping_add(usize::from(s));
                    acc = (acc & u64::from(s).wrapping_sub(1)) | t[x as usize];
                    out[r] = acc;
                }
            }
            _ => out.extend(self.runs.iter().map(|run| {
                let (lo, hi) = (run.start as usize, (run.start + run.len) as usize);
                (lo..hi).fold(0, |acc, i| acc | look(col.get(i)))
            })),
        }
    }

    /// Appends run `r`'s ids of dimension `d` (loaded), each mapped through `map`.
    #[inline]
    pub(crate) fn ids_into(&self, d: usize, r: usize, map: Option<&[u32]>, out: &mut Vec<u32>) {
        let Some(col) = &self.dims[d] else { return };
        let run = self.runs[r];
        let (lo, hi) = (run.start as usize, (run.start + run.len) as usize);
        let m = |id: u32| map.map_or(id, |m| m[id as usize]);
        if col.per_run || col.width == 0 {
            let id = m(col.get(r));
            out.resize(out.len() + run.len as usize, id);
            return;
        }
        match (col.width, map) {
            (1, Some(map)) => out.extend(col.raw[lo..hi].iter().map(|&x| map[x as usize])),
            (1, None) => out.extend(col.raw[lo..hi].iter().map(|&x| u32::from(x))),
            // Two bytes an id (paths, mostly): read as such, not width by width.
            (2, Some(map)) => out.extend(
                col.raw[2 * lo..2 * hi]
                    .chunks_exact(2)
                    .map(|x| map[usize::from(u16::from_le_bytes([x[0], x[1]]))]),
            ),
            (2, None) => out.extend(
                col.raw[2 * lo..2 * hi]
                    .chunks_exact(2)
                    .map(|x| u32::from(u16::from_le_bytes([x[0], x[1]]))),
            ),
            _ => out.extend((lo..hi).map(|i| m(col.get(i)))),
        }
    }
}

const OUT_OF_ORDER: &str = "timestamps out of order or outside the block's range";

/// Appends the first `n` (at least 1) times of a run at `c` to `out`: the first as an
/// offset from the block's minimum, then rising gaps, every one within the block's
/// `bounds` (scans copy whole runs that start and end in range, so a gap that wraps is
/// corruption). Scans and whole-block decoding read times through it.
pub(crate) fn run_times_into(
    c: &mut Cursor<'_>,
    n: usize,
    bounds: (i64, i64),
    out: &mut Vec<i64>,
) -> Result<(), BadTimes> {
    out.reserve(n);
    run_times_each(c, n, bounds, |t| out.push(t))?;
    Ok(())
}

/// Passes the first `n` (at least 1) times of a run at `c` to `f`, checked as
/// [`run_times_into`] says; its first and last.
#[inline(always)]
fn run_times_each(
    c: &mut Cursor<'_>,
    n: usize,
    (min_ts, max_ts): (i64, i64),
    mut f: impl FnMut(i64),
) -> Result<(i64, i64), BadTimes> {
    let truncated = |_| BadTimes("timestamps: truncated");
    let first = min_ts.wrapping_add(c.uvarint().map_err(truncated)? as i64);
    f(first);
    let mut t = first;
    let mut wrapped = false;
    c.uvarints_each(n - 1, |d| {
        let next = t.wrapping_add(d as i64);
        wrapped |= next < t;
        t = next;
        f(t);
    })
    .map_err(truncated)?;
    if wrapped || first < min_ts || t > max_ts {
        return Err(BadTimes(OUT_OF_ORDER));
    }
    Ok((first, t))
}

impl SegmentReader {
    /// Loads block `bi` into `p` for a scan, reusing its memory: runs, the projected
    /// columns' bytes (ids checked against their dictionaries), and the properties
    /// (`keys`: see [`SegmentReader::props_into`]) and revenue when projected.
    pub(crate) fn packed_into(
        &self,
        bi: usize,
        proj: &Projection,
        keys: Option<&[bool]>,
        p: &mut Packed,
        buf: &mut ChunkBuf,
    ) -> Result<()> {
        let meta = &self.footer.blocks[bi];
        let rows = meta.rows as usize;
        self.runs_into(bi, &mut p.runs, buf)?;
        self.read_chunk_to(&meta.cols[COL_TS], "timestamps", buf, &mut p.ts_raw)?;
        p.min_ts = meta.min_ts;
        p.max_ts = meta.max_ts;
        p.ts_run = 0;
        p.ts_pos = 0;
        p.dims.resize_with(DIMS, || None);
        for d in 0..DIMS {
            if !proj.dims[d] {
                p.dims[d] = None;
                continue;
            }
            let ch = &meta.cols[COL_DIM0 + d];
            let col = p.dims[d].get_or_insert_with(Col::default);
            col.width = ch.id_width();
            col.per_run = ch.per_run();
            col.raw.clear();
            let count = if col.per_run { p.runs.len() } else { rows };
            if col.width > 0 {
                self.read_chunk_to(ch, "dimension column", buf, &mut col.raw)?;
                if col.raw.len() != count * col.width {
                    return Err(corrupted(
                        &self.path,
                        "dimension column has the wrong length",
                    ));
                }
            }
            if count > 0 && col.max() >= self.footer.dicts[d].1 {
                return Err(corrupted(&self.path, "dimension id beyond its dictionary"));
            }
        }
        self.props_into(
            bi,
            proj.props,
            keys,
            &mut p.prop_offsets,
            &mut p.prop_entries,
            buf,
        )?;
        self.revenue_into(bi, proj.revenue, &mut p.revenue, buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::put_uvarint;
    use proptest::prelude::*;

    /// A block of `lens` runs whose timestamps are `min + first`, then rising by `gaps`.
    fn block(runs: &[(u64, Vec<u64>)], min_ts: i64) -> (Packed, Vec<Vec<i64>>) {
        let mut p = Packed {
            min_ts,
            ..Packed::default()
        };
        let mut want = Vec::new();
        let mut start = 0u32;
        for (first, gaps) in runs {
            let len = gaps.len() as u32 + 1;
            p.runs.push(Run {
                site: 0,
                visitor: u64::from(start),
                start,
                len,
            });
            start += len;
            put_uvarint(&mut p.ts_raw, *first);
            let mut t = min_ts + *first as i64;
            let mut ts = vec![t];
            for &g in gaps {
                put_uvarint(&mut p.ts_raw, g);
                t += g as i64;
                ts.push(t);
            }
            want.push(ts);
        }
        p.max_ts = want.iter().flatten().copied().max().unwrap_or(min_ts);
        (p, want)
    }

    proptest! {
        /// Any runs asked for in order, whole or their first few, the others walked
        /// over (one byte or a word at a time), read as decoding every run would.
        #[test]
        fn runs_read_in_order_skipping_others(
            runs in prop::collection::vec(
                (0u64..1 << 40, prop::collection::vec(0u64..1 << 30, 0..20)), 1..60),
            pick in prop::collection::vec((0u8..3, 0usize..25), 60),
        ) {
            let (mut p, want) = block(&runs, 1_700_000_000_000);
            for (r, ts) in want.iter().enumerate() {
                let mut out = vec![-1];
                match pick[r] {
                    (0, _) => continue,
                    (1, _) => prop_assert!(p.ts_into(r, &mut out).is_ok()),
                    (_, k) => {
                        prop_assert!(p.ts_prefix_into(r, k, &mut out).is_ok());
                        prop_assert_eq!(&out[1..], &ts[..k.min(ts.len())]);
                        continue;
                    }
                }
                prop_assert_eq!(&out[1..], &ts[..]);
            }
        }

        /// How each run meets a time range (bounds at, between or around its times),
        /// read in one pass, is what its decoded times say row by row.
        #[test]
        fn runs_meet_a_range_as_their_rows_do(
            runs in prop::collection::vec(
                (0u64..1 << 12, prop::collection::vec(0u64..1 << 10, 0..20)), 1..60),
            a in 0i64..1 << 14,
            len in 0i64..1 << 13,
        ) {
            let min_ts = 1_700_000_000_000;
            let (p, want) = block(&runs, min_ts);
            let (from, to) = (min_ts + a, min_ts + a + len);
            let mut got = vec![Meets::All];
            prop_assert!(p.runs_meeting_into(from, to, &mut got).is_ok());
            prop_assert_eq!(got.len(), want.len());
            for (m, ts) in got.iter().zip(&want) {
                let inside = ts.iter().filter(|&&t| t >= from && t <= to).count();
                match m {
                    // Exact: every row in the range, or the range before or after them all.
                    Meets::All => prop_assert_eq!(inside, ts.len()),
                    Meets::None => prop_assert_eq!(inside, 0),
                    // Maybe some: the range starts or ends within the run's times (it may
                    // fall between two rows).
                    Meets::Some => prop_assert!(
                        inside < ts.len() && ts[0] <= to && ts[ts.len() - 1] >= from
                    ),
                }
            }
        }
    }

    /// A block of 1–39 runs with one dimension in every column form (0, 1, 2 or 4 bytes
    /// an id, an id a row or a run), its ids under `below` (and what the width holds).
    fn one_column(below: u32) -> impl Strategy<Value = Packed> {
        (
            prop::collection::vec(1u32..12, 1..40),
            prop::collection::vec(0..below, 500),
            prop::sample::select(vec![0usize, 1, 2, 4]),
            any::<bool>(),
        )
            .prop_map(move |(lens, ids, width, per_run)| {
                let max = match width {
                    0 => 0,
                    1 => 255,
                    2 => 65_535.min(below - 1),
                    _ => below - 1,
                };
                let mut p = Packed::default();
                let mut start = 0;
                for (r, &len) in lens.iter().enumerate() {
                    p.runs.push(Run {
                        site: 0,
                        visitor: r as u64,
                        start,
                        len,
                    });
                    start += len;
                }
                let rows = if per_run { lens.len() } else { start as usize };
                let raw: Vec<u8> = (0..rows)
                    .map(|i| ids[i % ids.len()].min(max))
                    .flat_map(|v| v.to_le_bytes().into_iter().take(width))
                    .collect();
                p.dims = vec![Some(Col {
                    raw,
                    width,
                    per_run,
                })];
                p
            })
    }

    /// The id of `row` (of run `r`) in `p`'s one column, read on its own.
    fn id_at(p: &Packed, r: usize, row: u32) -> u32 {
        let col = p.dims[0].as_ref().unwrap();
        col.get(if col.per_run || col.width == 0 {
            r
        } else {
            row as usize
        })
    }

    proptest! {
        /// Each run's union of table entries over its ids, for every column form and
        /// tables shorter or longer than one-byte ids, equals a fold over the run's rows.
        #[test]
        fn run_unions_fold_each_runs_ids(
            p in one_column(300),
            table in prop::collection::vec(prop::sample::select(vec![0u64, 0, 0, 1, 2, 6, 1 << 40]), 0..400),
        ) {
            let look = |id: u32| table.get(id as usize).copied().unwrap_or(0);
            let want: Vec<u64> = p
                .runs
                .iter()
                .enumerate()
                .map(|(r, run)| {
                    (run.start..run.start + run.len).fold(0, |acc, row| acc | look(id_at(&p, r, row)))
                })
                .collect();
            let mut got = vec![7];
            p.unions_into(0, &table, &mut got, &mut vec![1, 2]);
            prop_assert_eq!(got, want);
        }

        /// A run's ids, for every column form, with a map and without, are its rows'
        /// ids read one by one (and mapped).
        #[test]
        fn run_ids_are_its_rows_ids(p in one_column(70_000), mapped in any::<bool>()) {
            let map: Vec<u32> = (0..70_000u32).map(|i| i.wrapping_mul(2_654_435_761)).collect();
            let map = mapped.then_some(map.as_slice());
            for (r, run) in p.runs.iter().enumerate() {
                let want: Vec<u32> = (run.start..run.start + run.len)
                    .map(|row| {
                        let id = id_at(&p, r, row);
                        map.map_or(id, |m| m[id as usize])
                    })
                    .collect();
                let mut got = vec![9];
                p.ids_into(0, r, map, &mut got);
                prop_assert_eq!(&got[1..], &want[..]);
            }
        }
    }

    #[test]
    fn damaged_times_are_refused() {
        let runs = [(5u64, vec![1u64, 2]), (7, vec![3])];
        // A run past the block's maximum.
        let (mut p, _) = block(&runs, 1000);
        p.max_ts = 1006;
        let mut out = Vec::new();
        assert!(p.ts_into(0, &mut out).is_err());
        // A delta that wraps (time going back).
        let (mut p, _) = block(&[(5, vec![u64::MAX - 2])], 1000);
        p.max_ts = i64::MAX;
        assert!(p.ts_into(0, &mut Vec::new()).is_err());
        // Truncated: the bytes end inside the second run, read or walked over.
        let (mut p, _) = block(&runs, 1000);
        p.ts_raw.pop();
        assert!(p.ts_into(1, &mut Vec::new()).is_err());
        let (mut p, _) = block(&runs, 1000);
        p.ts_raw.truncate(2);
        assert!(p.ts_into(1, &mut Vec::new()).is_err());
        // A run asked for again.
        let (mut p, _) = block(&runs, 1000);
        assert!(p.ts_into(1, &mut Vec::new()).is_ok());
        assert!(p.ts_into(0, &mut Vec::new()).is_err());
        // Each damage refused by the pass that tells how runs meet a range too.
        let meets = |p: &Packed| p.runs_meeting_into(1003, 1010, &mut Vec::new()).is_err();
        let (mut p, _) = block(&runs, 1000);
        p.max_ts = 1006;
        assert!(meets(&p));
        let (mut p, _) = block(&[(5, vec![u64::MAX - 2])], 1000);
        p.max_ts = i64::MAX;
        assert!(meets(&p));
        let (mut p, _) = block(&runs, 1000);
        p.ts_raw.pop();
        assert!(meets(&p));
        let (p, _) = block(&runs, 1000);
        assert!(!meets(&p));
    }
}
