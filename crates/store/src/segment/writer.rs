//! Streams sorted events into a segment file.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use cairn_model::{Dim, Event, PropValue};
use cairn_timeline::{PropEntry, PropVal};
use rustc_hash::FxHashMap;

use super::format::*;
use super::props::PropsBlock;
use crate::codec::{put_str, put_uvarint};
use crate::error::{IoContext, Result};
use crate::fs::{Fs, Sequential};

/// Rows per block, ended at the next visitor boundary.
pub(crate) const BLOCK_ROWS: usize = 65_536;
/// Rows in a block of a passing segment (see [`Compression::block_rows`]).
const PASSING_BLOCK_ROWS: usize = 8_192;

/// How hard a segment's chunks are compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Compression {
    /// zstd level 9: segments meant to stay (flushes, merges).
    Lasting,
    /// Not compressed: import batches, which the merge after an import reads once and
    /// compresses then. zstd level 3 (the form before 7 December) made the batches of
    /// 10M events over 90 days 81 MB on disk, raw they are 226 MB while they last, and
    /// the import takes 15% less CPU (bench/RESULTS.md).
    Passing,
}

impl Compression {
    /// Rows in a block (it ends at the first visitor boundary past them). A passing
    /// segment's blocks are small: a merge holds one decoded block of each input at a
    /// time, and an import's merge has hundreds of inputs.
    fn block_rows(self) -> usize {
        match self {
            Compression::Lasting => BLOCK_ROWS,
            Compression::Passing => PASSING_BLOCK_ROWS,
        }
    }

    /// The zstd level, if compressed at all.
    fn level(self) -> Option<i32> {
        match self {
            Compression::Lasting => Some(9),
            Compression::Passing => None,
        }
    }
}

/// How a lasting segment's chunk is searched for matches.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Matches {
    /// As zstd's level 9 does for the chunk's size.
    Level,
    /// One-byte dimension ids (one per row, or one per visitor run): level 9's window
    /// and tables for the chunk's size, with the lazy2 strategy, matches of six bytes
    /// at least, a search depth of 2⁴ and a target length of 8 (level 9 has 2⁵ and
    /// matches of four for chunks of 16 KiB to 256 KiB, and btlazy2 under 16 KiB). A
    /// row column repeats a visitor's or a session's value row after row, so its
    /// matches are long, and the short ones level 9 also looks for (a column's
    /// commonest ids, again) cost more to code than the literals they replace. On the
    /// 10M data over 90 days, compressed alone: the columns of one id per row 1.5% smaller
    /// in 72% of level 9's time, those stored per run in some or all blocks 4.8%
    /// smaller in 46%; together 1.586 → 1.549 bytes/event (zstd 1.5.7;
    /// bench/RESULTS.md).
    NarrowIds,
}

impl Matches {
    /// Sets `z` to compress at `level` this way (the other parameters follow from the
    /// level and the size of each input, as zstd's table has them).
    fn set(self, z: &mut zstd::bulk::Compressor<'_>, level: i32) -> std::io::Result<()> {
        use zstd::zstd_safe::{CParameter, ResetDirective, Strategy};
        let err = |code| std::io::Error::other(zstd::zstd_safe::get_error_name(code));
        z.context_mut()
            .reset(ResetDirective::Parameters)
            .map_err(err)?;
        z.set_parameter(CParameter::CompressionLevel(level))?;
        if self == Matches::NarrowIds {
            z.set_parameter(CParameter::Strategy(Strategy::ZSTD_lazy2))?;
            z.set_parameter(CParameter::MinMatch(6))?;
            z.set_parameter(CParameter::SearchLog(4))?;
            z.set_parameter(CParameter::TargetLength(8))?;
        }
        Ok(())
    }
}

/// Whether a chunk is stored as zstd made it (`compressed` bytes of `raw`) rather than
/// raw: when that saves at least a fifth. A block's times (millisecond gaps, varints)
/// compress to about 0.9 of their size; stored raw they take 4% more space in all
/// (0.26 bytes/event), and queries take 5-15% less CPU: decoding them cost more than
/// reading the bytes zstd saved (bench/RESULTS.md).
fn kept_compressed(compressed: usize, raw: usize) -> bool {
    compressed * 5 <= raw * 4
}

/// A writer's compression state: its zstd context and level (none: chunks are stored
/// raw), the match parameters the context has, and the buffer it compresses into.
type Zstd<'a> = (
    &'a mut Option<(zstd::bulk::Compressor<'static>, i32)>,
    &'a mut Option<Matches>,
    &'a mut Vec<u8>,
);

/// Compresses `raw` into the state's buffer, searching for matches as `matches` says;
/// whether to keep that (see [`kept_compressed`]) rather than `raw`.
fn compress((zctx, cur, z): Zstd<'_>, tmp: &Path, raw: &[u8], matches: Matches) -> Result<bool> {
    let Some((zctx, level)) = zctx else {
        return Ok(false);
    };
    if raw.len() < 64 {
        return Ok(false);
    }
    if *cur != Some(matches) {
        *cur = None;
        matches.set(zctx, *level).at(tmp)?;
        *cur = Some(matches);
    }
    z.clear();
    z.reserve(zstd::zstd_safe::compress_bound(raw.len()));
    zctx.compress_to_buffer(raw, z).at(tmp)?;
    Ok(kept_compressed(z.len(), raw.len()))
}

/// Interns strings into ids; id 0 is always the empty string.
#[derive(Default)]
pub(crate) struct Interner {
    map: FxHashMap<String, u32>,
    list: Vec<String>,
    /// The id returned last: consecutive rows (one visitor's events) mostly repeat a value.
    last: u32,
}

impl Interner {
    pub(crate) fn new() -> Self {
        let mut i = Interner::default();
        i.intern("");
        i
    }

    #[inline]
    pub(crate) fn intern(&mut self, s: &str) -> u32 {
        if self.list.get(self.last as usize).is_some_and(|l| l == s) {
            return self.last;
        }
        if let Some(&id) = self.map.get(s) {
            self.last = id;
            return id;
        }
        let id = self.list.len() as u32;
        self.last = id;
        self.list.push(s.to_string());
        self.map.insert(s.to_string(), id);
        id
    }

    pub(crate) fn strings(&self) -> &[String] {
        &self.list
    }

    pub(crate) fn len(&self) -> usize {
        self.list.len()
    }

    /// Forgets every string but the empty one (id 0), keeping the memory.
    pub(crate) fn clear(&mut self) {
        self.map.clear();
        self.list.clear();
        self.last = 0;
        self.intern("");
    }
}

impl super::rows::Strings for [Interner] {
    fn string(&self, dict: usize, id: u32) -> &str {
        &self[dict].list[id as usize]
    }
}

/// Summary of a finished segment.
#[derive(Debug, Clone)]
pub(crate) struct Written {
    pub rows: u64,
    pub min_ts: i64,
    pub max_ts: i64,
    pub bytes: u64,
    pub sites: Vec<String>,
    pub footer_crc: u32,
    pub compression: Compression,
}

#[derive(Default)]
struct BlockBuf {
    /// (site id, visitor, len)
    runs: Vec<(u32, u64, u32)>,
    ts: Vec<i64>,
    dims: Vec<Vec<u32>>,
    props: PropsBlock,
    revenue: Vec<u8>,
}

/// Writes one segment: events must be pushed in (site, visitor, ts) order, all within
/// one partition (`days` UTC days from day `partition`). The file appears under its final name only after `finish`.
pub(crate) struct SegmentWriter {
    fs: Arc<dyn Fs>,
    tmp: PathBuf,
    path: PathBuf,
    out: BufWriter<Sequential>,
    offset: u64,
    partition: i64,
    days: u32,
    sites: Interner,
    dicts: Vec<Interner>,
    blocks: Vec<BlockMeta>,
    buf: BlockBuf,
    rows: u64,
    min_ts: i64,
    max_ts: i64,
    last_key: Option<(u32, u64, i64)>,
    scratch: Vec<u8>,
    /// One compression context for every chunk (one per chunk cost more than the
    /// compression of small chunks) and its level, none for a passing segment; and its
    /// output buffer.
    zctx: Option<(zstd::bulk::Compressor<'static>, i32)>,
    zbuf: Vec<u8>,
    compression: Compression,
    /// The match parameters `zctx` has now (none while they are being set: a failure
    /// midway leaves them unknown, and the next chunk sets them afresh).
    matches: Option<Matches>,
    /// A row's properties, for [`Self::push`].
    entries: Vec<PropEntry>,
}

impl SegmentWriter {
    pub(crate) fn create(
        fs: Arc<dyn Fs>,
        path: &Path,
        (partition, days): (i64, u32),
        compression: Compression,
    ) -> Result<SegmentWriter> {
        let tmp = path.with_extension("seg.tmp");
        let zctx = match compression.level() {
            Some(level) => Some((zstd::bulk::Compressor::new(level).at(&tmp)?, level)),
            None => None,
        };
        let f = fs.create(&tmp).at(&tmp)?;
        let mut out = BufWriter::with_capacity(1 << 20, Sequential(f));
        out.write_all(MAGIC).at(&tmp)?;
        let buf = BlockBuf {
            dims: vec![Vec::new(); DIMS],
            ..Default::default()
        };
        Ok(SegmentWriter {
            fs,
            tmp,
            path: path.to_path_buf(),
            out,
            offset: MAGIC.len() as u64,
            partition,
            days,
            sites: Interner::default(),
            dicts: (0..DICTS).map(|_| Interner::new()).collect(),
            blocks: Vec::new(),
            buf,
            rows: 0,
            min_ts: i64::MAX,
            max_ts: i64::MIN,
            last_key: None,
            scratch: Vec::new(),
            zctx,
            zbuf: Vec::new(),
            compression,
            matches: Some(Matches::Level),
            entries: Vec::new(),
        })
    }

    /// Starts a row: its visitor run and time (ending the block first at a visitor
    /// boundary once it is full).
    fn begin_row(&mut self, site: &str, visitor: u64, ts: i64) -> Result<()> {
        let site_id = self.sites.intern(site);
        let key = (site_id, visitor, ts);
        let new_run = match self.last_key {
            Some((s, v, t)) => {
                debug_assert!((s, v, t) <= key || *self.sites.strings()[s as usize] < *site);
                s != site_id || v != visitor
            }
            None => true,
        };
        if new_run && self.buf.ts.len() >= self.compression.block_rows() {
            self.flush_block()?;
        }
        self.last_key = Some(key);
        if new_run {
            self.buf.runs.push((site_id, visitor, 1));
        } else if let Some(r) = self.buf.runs.last_mut() {
            r.2 += 1;
        }
        self.buf.ts.push(ts);
        self.rows += 1;
        self.min_ts = self.min_ts.min(ts);
        self.max_ts = self.max_ts.max(ts);
        Ok(())
    }

    /// The id of `s` in dictionary `dict` (a dimension index or a `DICT_*` constant).
    pub(crate) fn intern(&mut self, dict: usize, s: &str) -> u32 {
        self.dicts[dict].intern(s)
    }

    /// Adds one row given as ids of this segment's dictionaries (see [`Self::intern`]),
    /// its properties, and its revenue encoded as [`Self::push`] encodes it. Rows must
    /// come sorted by (site, visitor, ts).
    pub(crate) fn push_ids(
        &mut self,
        (site, visitor, ts): (&str, u64, i64),
        dims: &[u32; DIMS],
        props: &[PropEntry],
        revenue: &[u8],
    ) -> Result<()> {
        self.begin_row(site, visitor, ts)?;
        for (col, &id) in self.buf.dims.iter_mut().zip(dims) {
            col.push(id);
        }
        self.buf.props.push(props);
        self.buf.revenue.extend_from_slice(revenue);
        Ok(())
    }

    /// Adds one event. Events must come sorted by (site, visitor, ts).
    pub(crate) fn push(&mut self, e: &Event) -> Result<()> {
        self.begin_row(&e.site, e.visitor, e.ts)?;
        for d in Dim::ALL {
            let id = self.dicts[d.index()].intern(e.dim(d));
            self.buf.dims[d.index()].push(id);
        }
        self.entries.clear();
        for (k, v) in &e.props {
            let key = self.dicts[DICT_PROP_KEYS].intern(k);
            let val = match v {
                PropValue::Str(s) => PropVal::Str(self.dicts[DICT_PROP_VALUES].intern(s)),
                PropValue::Num(n) => PropVal::Num(*n),
                PropValue::Bool(b) => PropVal::Bool(*b),
            };
            self.entries.push(PropEntry { key, val });
        }
        self.buf.props.push(&self.entries);
        let currencies = &mut self.dicts[DICT_CURRENCIES];
        let rev = e
            .revenue
            .as_ref()
            .map(|r| (r.micros, currencies.intern(&r.currency)));
        put_revenue(&mut self.buf.revenue, rev);
        Ok(())
    }

    fn write_chunk(&mut self, raw: &[u8], width: u8) -> Result<Chunk> {
        self.write_chunk_as(raw, width, Matches::Level)
    }

    fn write_chunk_as(&mut self, raw: &[u8], width: u8, matches: Matches) -> Result<Chunk> {
        let z = compress(
            (&mut self.zctx, &mut self.matches, &mut self.zbuf),
            &self.tmp,
            raw,
            matches,
        )?;
        let (codec, data) = if z { (1, &self.zbuf[..]) } else { (0, raw) };
        let chunk = Chunk {
            offset: self.offset,
            len: data.len() as u32,
            raw_len: raw.len() as u32,
            crc: crc32c::crc32c(data),
            codec,
            width,
        };
        self.out.write_all(data).at(&self.tmp)?;
        self.offset += data.len() as u64;
        Ok(chunk)
    }

    /// Writes the block's properties as a format 4 chunk: each part compressed on its
    /// own ([`CODEC_BY_KEY`]).
    fn write_props(&mut self, props: &mut PropsBlock, s: &mut Vec<u8>) -> Result<Chunk> {
        s.clear();
        let (z, tmp) = (
            (&mut self.zctx, &mut self.matches, &mut self.zbuf),
            &self.tmp,
        );
        let raw_len = props.finish_packed_into(s, |raw, out| {
            let kept = compress((&mut *z.0, &mut *z.1, &mut *z.2), tmp, raw, Matches::Level)?;
            let stored = if kept { &z.2[..] } else { raw };
            out.push(u8::from(kept));
            put_uvarint(out, raw.len() as u64);
            put_uvarint(out, stored.len() as u64);
            out.extend_from_slice(stored);
            Ok::<(), crate::error::StoreError>(())
        })?;
        let chunk = Chunk {
            offset: self.offset,
            len: s.len() as u32,
            raw_len: raw_len as u32,
            crc: crc32c::crc32c(s),
            codec: CODEC_BY_KEY,
            width: 0,
        };
        self.out.write_all(s).at(&self.tmp)?;
        self.offset += s.len() as u64;
        Ok(chunk)
    }

    fn flush_block(&mut self) -> Result<()> {
        if self.buf.ts.is_empty() {
            return Ok(());
        }
        let mut buf = std::mem::take(&mut self.buf);
        let mut cols = Vec::with_capacity(COLS);
        // Runs: count; every run's site id; every run's length; then the visitor id
        // deltas as eight byte planes (all low bytes, then all second bytes, …). Hashed
        // visitor ids are random, so a delta's low bytes are noise, but its high bytes
        // are zero and a plane of zeros costs nothing once compressed.
        let mut s = std::mem::take(&mut self.scratch);
        s.clear();
        put_uvarint(&mut s, buf.runs.len() as u64);
        for &(site, _, _) in &buf.runs {
            put_uvarint(&mut s, u64::from(site));
        }
        for &(_, _, n) in &buf.runs {
            put_uvarint(&mut s, u64::from(n));
        }
        let mut prev = 0u64;
        let deltas: Vec<u64> = buf
            .runs
            .iter()
            .map(|&(_, v, _)| {
                let d = v.wrapping_sub(prev);
                prev = v;
                d
            })
            .collect();
        for plane in 0..8 {
            s.extend(deltas.iter().map(|d| (d >> (8 * plane)) as u8));
        }
        cols.push(self.write_chunk(&s, 0)?);
        // Timestamps: per run, first as offset from the block minimum, then deltas.
        let min_ts = buf.ts.iter().copied().min().unwrap_or(0);
        let max_ts = buf.ts.iter().copied().max().unwrap_or(0);
        s.clear();
        let mut i = 0usize;
        for &(_, _, n) in &buf.runs {
            let run = &buf.ts[i..i + n as usize];
            put_uvarint(&mut s, (run[0] - min_ts) as u64);
            for w in run.windows(2) {
                put_uvarint(&mut s, (w[1] - w[0]) as u64);
            }
            i += n as usize;
        }
        cols.push(self.write_chunk(&s, 0)?);
        // Dimensions: fixed-width ids, as narrow as the block's largest id allows. A
        // dimension that is constant within every visitor run of the block (device,
        // browser, OS, country, screen, language usually are) is stored once per run.
        let mut per_run_ids: Vec<u32> = Vec::with_capacity(buf.runs.len());
        for all_ids in &buf.dims {
            per_run_ids.clear();
            let mut constant = true;
            let mut i = 0usize;
            for &(_, _, n) in &buf.runs {
                let run = &all_ids[i..i + n as usize];
                constant &= run.iter().all(|&x| x == run[0]);
                per_run_ids.push(run[0]);
                i += n as usize;
            }
            let per_run = constant && buf.runs.len() < all_ids.len();
            let ids: &[u32] = if per_run { &per_run_ids } else { all_ids };
            let max = ids.iter().copied().max().unwrap_or(0);
            let width: u8 = match max {
                0 => 0,
                1..=0xff => 1,
                0x100..=0xffff => 2,
                _ => 4,
            };
            s.clear();
            match width {
                1 => s.extend(ids.iter().map(|&x| x as u8)),
                2 => ids
                    .iter()
                    .for_each(|&x| s.extend_from_slice(&(x as u16).to_le_bytes())),
                4 => ids
                    .iter()
                    .for_each(|&x| s.extend_from_slice(&x.to_le_bytes())),
                _ => {}
            }
            let mode = if per_run && width > 0 { PER_RUN } else { 0 };
            let matches = if width == 1 {
                Matches::NarrowIds
            } else {
                Matches::Level
            };
            cols.push(self.write_chunk_as(&s, width | mode, matches)?);
        }
        cols.push(self.write_props(&mut buf.props, &mut s)?);
        cols.push(self.write_chunk(&buf.revenue, 0)?);
        let first = buf.runs.first().map(|r| (r.0, r.1)).unwrap_or_default();
        let last = buf.runs.last().map(|r| (r.0, r.1)).unwrap_or_default();
        self.blocks.push(BlockMeta {
            rows: buf.ts.len() as u32,
            min_ts,
            max_ts,
            first,
            last,
            cols,
        });
        self.scratch = s;
        // Reuse every allocation: fresh buffers per block cost a page fault per 4 KiB.
        let BlockBuf {
            mut runs,
            mut ts,
            mut dims,
            props,
            mut revenue,
        } = buf;
        runs.clear();
        ts.clear();
        dims.iter_mut().for_each(Vec::clear);
        revenue.clear();
        self.buf = BlockBuf {
            runs,
            ts,
            dims,
            props,
            revenue,
        };
        Ok(())
    }

    /// Writes the dictionaries and footer, syncs, and renames the file into place. On
    /// failure the temporary file is removed (when the disk allows).
    pub(crate) fn finish(self) -> Result<Written> {
        let (fs, tmp) = (Arc::clone(&self.fs), self.tmp.clone());
        let r = self.finish_inner();
        if r.is_err() {
            let _ = fs.remove_file(&tmp);
        }
        r
    }

    fn finish_inner(mut self) -> Result<Written> {
        self.flush_block()?;
        let mut dicts = Vec::with_capacity(DICTS);
        let all: Vec<Vec<String>> = self.dicts.iter().map(|d| d.strings().to_vec()).collect();
        for strings in &all {
            let mut s = Vec::new();
            for x in strings {
                put_str(&mut s, x);
            }
            let c = self.write_chunk(&s, 0)?;
            dicts.push((c, strings.len() as u32));
        }
        let footer = Footer {
            partition: self.partition,
            days: self.days,
            rows: self.rows,
            min_ts: self.min_ts,
            max_ts: self.max_ts,
            sites: self.sites.strings().to_vec(),
            dicts,
            blocks: std::mem::take(&mut self.blocks),
        };
        let fb = footer.encode();
        let footer_crc = crc32c::crc32c(&fb);
        let mut trailer = Vec::with_capacity(TRAILER_LEN);
        trailer.extend_from_slice(&(fb.len() as u32).to_le_bytes());
        trailer.extend_from_slice(&footer_crc.to_le_bytes());
        trailer.extend_from_slice(&VERSION.to_le_bytes());
        trailer.extend_from_slice(&0u32.to_le_bytes());
        trailer.extend_from_slice(END_MAGIC);
        self.out.write_all(&fb).at(&self.tmp)?;
        self.out.write_all(&trailer).at(&self.tmp)?;
        let bytes = self.offset + fb.len() as u64 + trailer.len() as u64;
        let Sequential(mut f) = self
            .out
            .into_inner()
            .map_err(|e| e.into_error())
            .at(&self.tmp)?;
        f.sync_all().at(&self.tmp)?;
        drop(f);
        self.fs.rename(&self.tmp, &self.path).at(&self.path)?;
        Ok(Written {
            rows: self.rows,
            min_ts: self.min_ts,
            max_ts: self.max_ts,
            bytes,
            sites: footer.sites,
            footer_crc,
            compression: self.compression,
        })
    }

    /// Abandons the segment, removing its temporary file.
    pub(crate) fn abandon(self) {
        let (fs, tmp) = (Arc::clone(&self.fs), self.tmp.clone());
        drop(self);
        let _ = fs.remove_file(&tmp);
    }
}

#[cfg(test)]
mod tests {
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    use super::*;
    use crate::fs::StdFs;
    use crate::segment::reader::SegmentReader;

    /// Times at random milliseconds barely compress: their chunks are stored raw, and
    /// names, which compress well, as zstd made them (a passing segment's are all raw);
    /// both read back as written.
    #[test]
    fn chunks_that_barely_compress_are_stored_raw() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("1.seg");
        let mut rng = StdRng::seed_from_u64(7);
        let day = 20_000i64;
        let mut events = Vec::new();
        for visitor in 0..3_000u64 {
            let mut ts = day * 86_400_000 + rng.gen_range(0..86_400_000 / 2);
            for _ in 0..rng.gen_range(1..20) {
                let name = ["pageview", "click", "search"][rng.gen_range(0..3)];
                events.push(Event::new("a.example", ts, visitor, name));
                ts += rng.gen_range(0..600_000);
            }
        }
        for compression in [Compression::Lasting, Compression::Passing] {
            let mut w =
                SegmentWriter::create(Arc::new(StdFs), &path, (day, 7), compression).unwrap();
            for e in &events {
                w.push(e).unwrap();
            }
            w.finish().unwrap();
            let r = SegmentReader::open(&path).unwrap();
            for b in &r.footer.blocks {
                let (ts, names) = (&b.cols[COL_TS], &b.cols[COL_DIM0 + Dim::Name.index()]);
                assert_eq!((ts.codec, ts.len), (0, ts.raw_len), "times raw");
                if compression == Compression::Passing {
                    // The properties' parts raw, each on its own.
                    let props = |i| i == COL_PROPS;
                    let codecs = b.cols.iter().enumerate();
                    assert!(
                        codecs
                            .map(|(i, c)| (props(i), c.codec))
                            .all(|x| matches!(x, (false, 0) | (true, CODEC_BY_KEY))),
                        "a passing block raw"
                    );
                    continue;
                }
                assert_eq!(names.codec, 1, "names compressed");
                assert!(kept_compressed(names.len as usize, names.raw_len as usize));
            }
            if compression == Compression::Passing {
                assert!(r.footer.dicts.iter().all(|(c, _)| c.codec == 0));
            }
            let back: Vec<Event> = r.events().unwrap().map(|e| e.unwrap()).collect();
            assert_eq!(back, events);
        }
    }

    /// A lasting segment compresses each chunk with the parameters of its kind, switching
    /// back and forth as a block's columns go by: each stored chunk is what a fresh
    /// compressor set for its kind makes of it.
    #[test]
    fn a_writer_compresses_each_chunk_with_the_parameters_of_its_kind() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("1.seg");
        let mut rng = StdRng::seed_from_u64(5);
        let day = 20_000i64;
        let mut w =
            SegmentWriter::create(Arc::new(StdFs), &path, (day, 7), Compression::Lasting).unwrap();
        for visitor in 0..20_000u64 {
            let mut ts = day * 86_400_000 + rng.gen_range(0..86_400_000 / 2);
            let browser = ["firefox", "chrome", "safari"][rng.gen_range(0..3)];
            for _ in 0..rng.gen_range(1..8) {
                let name = ["pageview", "click", "search"][rng.gen_range(0..3)];
                let mut e = Event::new("a.example", ts, visitor, name);
                e.set(Dim::Path, format!("/p/{}", rng.gen_range(0..2_000)));
                e.set(Dim::Browser, browser);
                w.push(&e).unwrap();
                ts += rng.gen_range(0..600_000);
            }
        }
        w.finish().unwrap();
        let r = SegmentReader::open(&path).unwrap();
        let file = std::fs::read(&path).unwrap();
        let mut checked = [0; 2];
        for b in &r.footer.blocks {
            for (col, c) in b.cols.iter().enumerate() {
                if c.codec != 1 {
                    continue;
                }
                let stored = &file[c.offset as usize..][..c.len as usize];
                let raw = zstd::bulk::decompress(stored, c.raw_len as usize).unwrap();
                let dim = col.checked_sub(COL_DIM0).filter(|&d| d < DIMS);
                let matches = match dim.map(|_| c.width & !PER_RUN) {
                    Some(1) => Matches::NarrowIds,
                    _ => Matches::Level,
                };
                let mut z = zstd::bulk::Compressor::new(9).unwrap();
                matches.set(&mut z, 9).unwrap();
                assert_eq!(z.compress(&raw).unwrap(), stored, "column {col}");
                checked[(matches == Matches::NarrowIds) as usize] += 1;
            }
        }
        assert!(checked[0] > 0 && checked[1] > 0, "{checked:?}");
    }

    /// Narrow ids are compressed with their own match parameters, which decompress to
    /// the same bytes, and setting the level back compresses as a fresh level 9 does.
    #[test]
    fn match_parameters_apply_to_their_chunks_only() {
        let mut rng = StdRng::seed_from_u64(11);
        // A column of one-byte ids: runs of a visitor's value, some values common.
        let mut ids = Vec::new();
        while ids.len() < 60_000 {
            let v: u8 = if rng.gen_bool(0.5) {
                rng.gen_range(0..4)
            } else {
                rng.gen_range(0..=255)
            };
            ids.extend(std::iter::repeat_n(v, rng.gen_range(1..12)));
        }
        let text: Vec<u8> = (0..40_000)
            .map(|i| b"abcabd"[(i * 7 + i / 5) % 6])
            .collect();
        let fresh = |data: &[u8]| zstd::bulk::compress(data, 9).unwrap();
        let mut z = zstd::bulk::Compressor::new(9).unwrap();
        Matches::NarrowIds.set(&mut z, 9).unwrap();
        let narrow = z.compress(&ids).unwrap();
        assert_ne!(narrow, fresh(&ids), "the parameters were applied");
        assert_eq!(zstd::bulk::decompress(&narrow, ids.len()).unwrap(), ids);
        Matches::Level.set(&mut z, 9).unwrap();
        assert_eq!(z.compress(&text).unwrap(), fresh(&text));
        assert_eq!(z.compress(&ids).unwrap(), fresh(&ids));
    }
}
