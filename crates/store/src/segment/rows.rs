//! A segment's rows one at a time as segment-local ids, with their properties and
//! revenue still encoded: what a merge reads. A merge maps each input's ids into its
//! output's dictionaries once per distinct value ([`Remap`]) instead of rebuilding every
//! event's strings, and holds one block per input as its decompressed column bytes (not
//! decoded vectors), so merging hundreds of segments stays small. Every check of [`SegmentReader::block_into`] is made here too: a damaged
//! segment is reported, never merged.

use super::format::*;
use super::packed::Col;
use super::props::PropsReader;
use super::reader::{ChunkBuf, Run, SegmentReader};
use super::writer::SegmentWriter;
use cairn_timeline::{PropEntry, PropVal};

use crate::codec::{Cursor, DecodeError};
use crate::error::{Result, corrupted};

/// A dictionary's strings in one buffer.
#[derive(Debug, Default)]
pub(crate) struct Dict {
    text: String,
    /// String i is `text[ends[i - 1]..ends[i]]` (from 0 for the first).
    ends: Vec<u32>,
}

impl Dict {
    pub(crate) fn len(&self) -> usize {
        self.ends.len()
    }

    pub(crate) fn get(&self, i: u32) -> &str {
        let i = i as usize;
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        &self.text[start..self.ends[i] as usize]
    }
}

/// Cursor over a segment's rows. [`SegmentRows::advance`] moves to the next row, whose
/// fields are then in `site`, `visitor`, `ts`, `ids`, [`SegmentRows::props`] and
/// [`SegmentRows::revenue`].
pub(crate) struct SegmentRows<'a> {
    seg: &'a SegmentReader,
    pub dicts: Vec<Dict>,
    next_block: usize,
    /// The block after the last one to read.
    end_block: usize,
    max_ts: i64,
    runs: Vec<Run>,
    /// The current row's run, and the next row's index within it.
    run: usize,
    in_run: u32,
    /// The next row's index in the block.
    row: usize,
    ts_raw: Vec<u8>,
    ts_pos: usize,
    dims: Vec<Col>,
    props_raw: Vec<u8>,
    /// Format 3: the block's properties, parsed; format 2: where the next row's start.
    props_reader: PropsReader,
    props_pos: usize,
    /// The current row's properties (segment-local ids).
    props: Vec<PropEntry>,
    revenue_raw: Vec<u8>,
    revenue: (usize, usize),
    /// The current row (segment-local site and dictionary ids).
    pub site: u32,
    pub visitor: u64,
    pub ts: i64,
    pub ids: [u32; DIMS],
}

impl<'a> SegmentRows<'a> {
    /// A cursor before the first row of the segment's `blocks`; reads its dictionaries.
    pub(crate) fn new(
        seg: &'a SegmentReader,
        blocks: std::ops::Range<usize>,
        buf: &mut ChunkBuf,
    ) -> Result<Self> {
        let mut dicts = Vec::with_capacity(DICTS);
        for &(c, n) in &seg.footer.dicts {
            seg.read_chunk_into(&c, "dictionary", buf)?;
            let mut cur = Cursor::new(&buf.raw);
            let mut d = Dict {
                text: String::with_capacity(buf.raw.len()),
                ends: Vec::with_capacity(n as usize),
            };
            for _ in 0..n {
                let s = cur.str().map_err(|e| seg.decode_err("dictionary", e))?;
                d.text.push_str(s);
                d.ends.push(d.text.len() as u32);
            }
            if !cur.is_empty() {
                return Err(corrupted(&seg.path, "dictionary: trailing bytes"));
            }
            dicts.push(d);
        }
        Ok(SegmentRows {
            seg,
            dicts,
            next_block: blocks.start,
            end_block: blocks.end.min(seg.footer.blocks.len()),
            max_ts: 0,
            runs: Vec::new(),
            run: 0,
            in_run: 0,
            row: 0,
            ts_raw: Vec::new(),
            ts_pos: 0,
            dims: (0..DIMS).map(|_| Col::default()).collect(),
            props_raw: Vec::new(),
            props_reader: PropsReader::default(),
            props_pos: 0,
            props: Vec::new(),
            revenue_raw: Vec::new(),
            revenue: (0, 0),
            site: 0,
            visitor: 0,
            ts: 0,
            ids: [0; DIMS],
        })
    }

    /// The current row's properties, with this segment's ids.
    pub(crate) fn props(&self) -> &[PropEntry] {
        &self.props
    }

    /// The current row's revenue, encoded with this segment's currency ids.
    pub(crate) fn revenue(&self) -> &[u8] {
        &self.revenue_raw[self.revenue.0..self.revenue.1]
    }

    /// Loads block `bi`'s columns, decompressed and checked for length.
    fn load(&mut self, bi: usize, buf: &mut ChunkBuf) -> Result<()> {
        let seg = self.seg;
        let meta = &seg.footer.blocks[bi];
        seg.runs_into(bi, &mut self.runs, buf)?;
        seg.read_chunk_to(&meta.cols[COL_TS], "timestamps", buf, &mut self.ts_raw)?;
        for (d, col) in self.dims.iter_mut().enumerate() {
            let ch = &meta.cols[COL_DIM0 + d];
            col.width = ch.id_width();
            col.per_run = ch.per_run();
            col.raw.clear();
            if col.width == 0 {
                continue;
            }
            seg.read_chunk_to(ch, "dimension column", buf, &mut col.raw)?;
            let count = if col.per_run {
                self.runs.len()
            } else {
                meta.rows as usize
            };
            if col.raw.len() != count * col.width {
                return Err(corrupted(
                    &seg.path,
                    "dimension column has the wrong length",
                ));
            }
        }
        seg.read_chunk_to(
            &meta.cols[COL_PROPS],
            "properties",
            buf,
            &mut self.props_raw,
        )?;
        if seg.version >= 3 {
            let dicts = (
                self.dicts[DICT_PROP_KEYS].len() as u32,
                self.dicts[DICT_PROP_VALUES].len() as u32,
            );
            self.props_reader
                .parse(&self.props_raw, meta.rows as usize, dicts, None)
                .map_err(|e| seg.decode_err("properties", e))?;
        }
        seg.read_chunk_to(
            &meta.cols[COL_REVENUE],
            "revenue",
            buf,
            &mut self.revenue_raw,
        )?;
        self.max_ts = meta.max_ts;
        self.ts_pos = 0;
        self.props_pos = 0;
        self.revenue = (0, 0);
        self.run = 0;
        self.in_run = 0;
        self.row = 0;
        Ok(())
    }

    /// Moves to the next row; false at the end of the blocks.
    pub(crate) fn advance(&mut self, buf: &mut ChunkBuf) -> Result<bool> {
        loop {
            if self.run < self.runs.len() && self.in_run == self.runs[self.run].len {
                self.run += 1;
                self.in_run = 0;
            }
            if self.run < self.runs.len() {
                break;
            }
            if self.next_block >= self.end_block {
                return Ok(false);
            }
            let bi = self.next_block;
            self.next_block += 1;
            self.load(bi, buf)?;
        }
        let seg = self.seg;
        let meta = &seg.footer.blocks[self.next_block - 1];
        let run = self.runs[self.run];
        // Timestamps: the run's first as an offset from the block's minimum, then rising
        // deltas, none past the block's maximum.
        let de = |e| seg.decode_err("timestamps", e);
        let mut c = Cursor::at(&self.ts_raw, self.ts_pos);
        let d = c.uvarint().map_err(de)? as i64;
        let ts = if self.in_run == 0 {
            meta.min_ts.wrapping_add(d)
        } else {
            let t = self.ts.wrapping_add(d);
            if t < self.ts {
                return Err(out_of_order(seg));
            }
            t
        };
        if ts > self.max_ts {
            return Err(out_of_order(seg));
        }
        self.ts_pos = c.pos();
        for (d, col) in self.dims.iter().enumerate() {
            let at = if col.per_run { self.run } else { self.row };
            let id = col.get(at);
            if id as usize >= self.dicts[d].len() {
                return Err(corrupted(&seg.path, "dimension id beyond its dictionary"));
            }
            self.ids[d] = id;
        }
        self.read_props(self.row)?;
        self.revenue = (self.revenue.1, self.check_revenue()?);
        self.site = run.site;
        self.visitor = run.visitor;
        self.ts = ts;
        self.in_run += 1;
        self.row += 1;
        Ok(true)
    }

    /// Reads row `row`'s properties (rows are read in order).
    fn read_props(&mut self, row: usize) -> Result<()> {
        let seg = self.seg;
        let de = |e| seg.decode_err("properties", e);
        self.props.clear();
        if seg.version >= 3 {
            let r = &mut self.props_reader;
            r.row(&self.props_raw, row, &mut self.props).map_err(de)?;
            // The block's last row: every value was some row's.
            if row + 1 == seg.footer.blocks[self.next_block - 1].rows as usize {
                r.finish().map_err(de)?;
            }
            return Ok(());
        }
        // Format 2: the row's count, then its entries.
        let raw = &self.props_raw;
        let (nkeys, nvals) = (
            self.dicts[DICT_PROP_KEYS].len() as u32,
            self.dicts[DICT_PROP_VALUES].len() as u32,
        );
        let mut c = Cursor::at(raw, self.props_pos);
        let n = c.len(raw.len()).map_err(de)?;
        for _ in 0..n {
            self.props
                .push(get_prop_entry(&mut c, nkeys, nvals).map_err(de)?);
        }
        self.props_pos = c.pos();
        Ok(())
    }

    /// Checks the revenue after the current one; returns where it ends.
    fn check_revenue(&self) -> Result<usize> {
        let de = |e| self.seg.decode_err("revenue", e);
        let mut c = Cursor::at(&self.revenue_raw, self.revenue.1);
        let ncur = self.dicts[DICT_CURRENCIES].len() as u32;
        get_revenue(&mut c, ncur).map_err(de)?;
        Ok(c.pos())
    }
}

fn out_of_order(seg: &SegmentReader) -> crate::error::StoreError {
    corrupted(
        &seg.path,
        "timestamps out of order or outside the block's range",
    )
}

/// Dictionaries rows are mapped from: a segment's ([`Dict`]) or an import batch's.
pub(crate) trait Strings {
    /// The string of id `id` of dictionary `dict`.
    fn string(&self, dict: usize, id: u32) -> &str;
}

impl Strings for [Dict] {
    fn string(&self, dict: usize, id: u32) -> &str {
        self[dict].get(id)
    }
}

/// Maps one input's dictionary ids (a segment's, or an import batch's) to an output
/// segment's, each the first time it is met (so a value costs one string lookup per
/// output segment, not one per row).
pub(crate) struct Remap {
    /// Per dictionary: input id → output id, or [`Remap::NONE`].
    maps: Vec<Vec<u32>>,
}

impl Remap {
    const NONE: u32 = u32::MAX;

    /// A map from dictionaries of these sizes.
    pub(crate) fn new(sizes: impl IntoIterator<Item = usize>) -> Remap {
        Remap {
            maps: sizes.into_iter().map(|n| vec![Self::NONE; n]).collect(),
        }
    }

    /// Forgets every mapping (for the next output segment).
    pub(crate) fn reset(&mut self) {
        for m in &mut self.maps {
            m.fill(Self::NONE);
        }
    }

    /// The output id of input id `id` of dictionary `dict`.
    #[inline]
    pub(crate) fn id<S: Strings + ?Sized>(
        &mut self,
        dicts: &S,
        w: &mut SegmentWriter,
        dict: usize,
        id: u32,
    ) -> u32 {
        let slot = &mut self.maps[dict][id as usize];
        if *slot == Self::NONE {
            *slot = w.intern(dict, dicts.string(dict, id));
        }
        *slot
    }

    /// A property entry's ids mapped.
    #[inline]
    pub(crate) fn prop<S: Strings + ?Sized>(
        &mut self,
        dicts: &S,
        w: &mut SegmentWriter,
        mut e: PropEntry,
    ) -> PropEntry {
        e.key = self.id(dicts, w, DICT_PROP_KEYS, e.key);
        if let PropVal::Str(v) = &mut e.val {
            *v = self.id(dicts, w, DICT_PROP_VALUES, *v);
        }
        e
    }

    /// Writes the current row of `rows` to `w`, its ids mapped. `props` and `revenue`
    /// are scratch space.
    pub(crate) fn write_row(
        &mut self,
        rows: &SegmentRows<'_>,
        site: &str,
        w: &mut SegmentWriter,
        (props, revenue): (&mut Vec<PropEntry>, &mut Vec<u8>),
    ) -> Result<()> {
        let dicts = &rows.dicts[..];
        let mut ids = [0u32; DIMS];
        for (d, out) in ids.iter_mut().enumerate() {
            *out = self.id(dicts, w, d, rows.ids[d]);
        }
        let n = |d: usize| dicts[d].len() as u32;
        props.clear();
        for &e in rows.props() {
            props.push(self.prop(dicts, w, e));
        }
        let bad = |e: DecodeError| rows.seg.decode_err("revenue", e);
        let mut c = Cursor::new(rows.revenue());
        let rev = get_revenue(&mut c, n(DICT_CURRENCIES)).map_err(bad)?;
        revenue.clear();
        put_revenue(
            revenue,
            rev.map(|(micros, cur)| (micros, self.id(dicts, w, DICT_CURRENCIES, cur))),
        );
        w.push_ids((site, rows.visitor, rows.ts), &ids, props, revenue)
    }
}
