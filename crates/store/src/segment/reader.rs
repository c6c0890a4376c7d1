//! Reads segment files: footer, dictionaries, and blocks decoded column by column.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use cairn_model::{Dim, Event, PropValue, Revenue};
pub use cairn_timeline::{PropEntry, PropVal};

use super::format::*;
use super::props::{self, PropsReader};
use crate::chunk_cache::{ChunkCache, Key};
use crate::codec::{Cursor, DecodeError};
use crate::error::{IoContext, Result, StoreError, corrupted};

/// Which columns a read decodes (timestamps and visitors always).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Projection {
    /// Dimensions to decode, by [`Dim::index`].
    pub dims: [bool; DIMS],
    /// Decode custom properties.
    pub props: bool,
    /// Decode revenue.
    pub revenue: bool,
}

impl Projection {
    /// Only visitors and timestamps.
    pub fn none() -> Projection {
        Projection {
            dims: [false; DIMS],
            props: false,
            revenue: false,
        }
    }

    /// Every column.
    pub fn all() -> Projection {
        Projection {
            dims: [true; DIMS],
            props: true,
            revenue: true,
        }
    }

    /// Adds a dimension.
    pub fn with(mut self, d: Dim) -> Projection {
        self.dims[d.index()] = true;
        self
    }
}

/// A visitor's rows in a block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Run {
    pub site: u32,
    pub visitor: u64,
    pub start: u32,
    pub len: u32,
}

/// A decoded block (ids are segment-local).
#[derive(Debug, Default)]
pub(crate) struct Block {
    pub runs: Vec<Run>,
    pub ts: Vec<i64>,
    pub dims: Vec<Option<Vec<u32>>>,
    /// Row i's properties are `prop_entries[prop_offsets[i]..prop_offsets[i + 1]]`.
    pub prop_offsets: Vec<u32>,
    pub prop_entries: Vec<PropEntry>,
    pub revenue: Option<Revenues>,
}

/// A block's revenue: the rows that have one, in row order, and their values (micros,
/// segment-local currency id). Most rows have none (a block of 65,536 rows held as one
/// `Option` per row was 1.5 MB written for every block a query read).
#[derive(Debug, Default)]
pub(crate) struct Revenues {
    rows: Vec<u32>,
    vals: Vec<(i64, u32)>,
    /// Where the last [`Revenues::range`] ended: scans ask for runs in row order, so
    /// the next range usually starts there. (Only a hint, checked before it is used:
    /// the in-memory buffer's block is read by several threads.)
    next: AtomicUsize,
}

impl Revenues {
    pub(crate) fn clear(&mut self) {
        self.rows.clear();
        self.vals.clear();
        self.next.store(0, Ordering::Relaxed);
    }

    /// Adds row `row`'s revenue; rows come in increasing order.
    pub(crate) fn push(&mut self, row: u32, v: (i64, u32)) {
        debug_assert!(self.rows.last().is_none_or(|&r| r < row));
        self.rows.push(row);
        self.vals.push(v);
    }

    /// Row `row`'s revenue (found as a range of one row, so reading rows in order, as
    /// an export does, starts each where the last ended).
    pub(crate) fn get(&self, row: usize) -> Option<(i64, u32)> {
        self.range(row, row + 1).iter().next().map(|(_, v)| v)
    }

    /// The revenue of rows `lo..hi`.
    pub(crate) fn range(&self, lo: usize, hi: usize) -> RevenueRange<'_> {
        let (lo32, hi32) = (lo as u32, hi as u32);
        let rows = &self.rows[..];
        let hint = self.next.load(Ordering::Relaxed).min(rows.len());
        let follows =
            (hint == 0 || rows[hint - 1] < lo32) && rows.get(hint).is_none_or(|&r| r >= lo32);
        let a = if follows {
            hint
        } else {
            rows.partition_point(|&r| r < lo32)
        };
        // A run holds few rows with revenue: walked, not searched.
        let mut b = a;
        while b < rows.len() && rows[b] < hi32 {
            b += 1;
        }
        self.next.store(b, Ordering::Relaxed);
        RevenueRange {
            lo: lo32,
            len: hi32 - lo32,
            rows: &rows[a..b],
            vals: &self.vals[a..b],
        }
    }
}

/// The revenue of some rows of a block ([`Revenues::range`]).
#[derive(Debug, Clone, Copy)]
pub(crate) struct RevenueRange<'a> {
    lo: u32,
    len: u32,
    rows: &'a [u32],
    vals: &'a [(i64, u32)],
}

impl<'a> RevenueRange<'a> {
    /// The rows in the range.
    pub(crate) fn len(&self) -> usize {
        self.len as usize
    }

    /// The rows that have revenue, as (offset in the range, value), in order.
    pub(crate) fn iter(self) -> impl Iterator<Item = (usize, (i64, u32))> + 'a {
        let lo = self.lo;
        self.rows
            .iter()
            .zip(self.vals)
            .map(move |(&r, &v)| ((r - lo) as usize, v))
    }
}

/// Reusable buffers for reading chunks.
#[derive(Default)]
pub(crate) struct ChunkBuf {
    comp: Vec<u8>,
    pub(super) raw: Vec<u8>,
    ids: Vec<u32>,
    sites: Vec<u64>,
    lens: Vec<u64>,
    pub(super) props: PropsReader,
    /// The wanted sections of a format 4 properties chunk ([`props::unpack`]).
    parts: Vec<(u32, props::Part)>,
    /// A zstd context, made once and kept (each is a few hundred KiB to set up).
    dctx: Option<zstd::bulk::Decompressor<'static>>,
    /// Where a scan's chunks are kept between scans (merges read around it).
    pub(crate) cache: Option<Arc<ChunkCache>>,
    /// The chunk just found in `cache`, read from there instead of `comp`.
    hit: Option<Arc<Vec<u8>>>,
}

impl ChunkBuf {
    /// Chunk `key`'s kept bytes from the cache into `raw`; whether they were kept.
    fn raw_from_cache(&mut self, key: Key) -> bool {
        let Some(kept) = self.cache.as_ref().and_then(|k| k.get(key)) else {
            return false;
        };
        self.raw.clear();
        self.raw.extend_from_slice(&kept);
        true
    }

    /// Keeps `raw` in the cache as chunk `key`'s bytes, if the cache admits them.
    fn keep_raw(&self, key: Key) {
        if let Some(k) = &self.cache
            && k.admits(key, self.raw.len())
        {
            k.insert(key, Arc::new(self.raw.clone()));
        }
    }
}

impl std::fmt::Debug for ChunkBuf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChunkBuf")
            .field("comp", &self.comp.capacity())
            .field("raw", &self.raw.capacity())
            .finish_non_exhaustive()
    }
}

/// A compressed chunk that decompresses to at most this many times its stored bytes is
/// kept in the [`ChunkCache`] decompressed (the dimension columns the benchmarks read:
/// event names and paths 3–5x, a campaign's ids 6–12x; the visitor runs, 1.4x), any
/// other compressed (revenue, 38x), to be decompressed from memory. A dimension column
/// holds at most four bytes a row decompressed; zstd on the columns kept compressed
/// at 4x (half the blocks' event names, just over it; campaigns) was 7% of a lift.
const DECODED_RATIO: u64 = 16;

/// A compressed chunk's stored bytes (see [`SegmentReader::read_stored`]) beside the
/// parts of its buffer that decompress them.
struct Stored<'b> {
    bytes: &'b [u8],
    dctx: &'b mut zstd::bulk::Decompressor<'static>,
    raw: &'b mut Vec<u8>,
    parts: &'b mut Vec<(u32, props::Part)>,
}

/// An open, verified-footer segment.
#[derive(Debug)]
pub(crate) struct SegmentReader {
    pub path: PathBuf,
    file: File,
    pub footer: Footer,
    /// The footer's checksum (from the trailer).
    pub footer_crc: u32,
    /// The file's length.
    pub len: u64,
    /// Its format version (see [`VERSION`]).
    pub version: u32,
    /// Its chunks' keys in the [`ChunkCache`] start with it.
    id: u64,
}

impl SegmentReader {
    pub(crate) fn open(path: &Path) -> Result<SegmentReader> {
        let file = File::open(path).at(path)?;
        let len = file.metadata().at(path)?.len();
        let bad = |d: &str| corrupted(path, d.to_string());
        if len < (MAGIC.len() + TRAILER_LEN) as u64 {
            return Err(bad("file too short to be a segment"));
        }
        let mut t = [0u8; TRAILER_LEN];
        file.read_exact_at(&mut t, len - TRAILER_LEN as u64)
            .at(path)?;
        if &t[16..24] != END_MAGIC {
            return Err(bad("missing end marker (truncated or not a segment)"));
        }
        if t[12..16] != [0; 4] {
            return Err(bad("damaged trailer (reserved bytes are not zero)"));
        }
        let version = u32::from_le_bytes([t[8], t[9], t[10], t[11]]);
        if !(OLDEST_VERSION..=VERSION).contains(&version) {
            return Err(StoreError::Incompatible {
                path: path.to_path_buf(),
                found: version,
                supported: VERSION,
            });
        }
        let flen = u64::from(u32::from_le_bytes([t[0], t[1], t[2], t[3]]));
        let fcrc = u32::from_le_bytes([t[4], t[5], t[6], t[7]]);
        if flen + (TRAILER_LEN + MAGIC.len()) as u64 > len {
            return Err(bad("footer length out of bounds"));
        }
        let mut fb = vec![0u8; flen as usize];
        file.read_exact_at(&mut fb, len - TRAILER_LEN as u64 - flen)
            .at(path)?;
        if crc32c::crc32c(&fb) != fcrc {
            return Err(bad("footer checksum mismatch"));
        }
        let mut head = [0u8; 8];
        file.read_exact_at(&mut head, 0).at(path)?;
        if &head != MAGIC {
            return Err(bad("bad magic number"));
        }
        let footer = Footer::decode(&fb, version).map_err(|e| bad(&format!("footer: {}", e.0)))?;
        let data_end = len - TRAILER_LEN as u64 - flen;
        let chunks = footer
            .dicts
            .iter()
            .map(|d| &d.0)
            .chain(footer.blocks.iter().flat_map(|b| &b.cols));
        for c in chunks {
            if c.offset + u64::from(c.len) > data_end {
                return Err(bad("chunk beyond the data area"));
            }
        }
        Ok(SegmentReader {
            path: path.to_path_buf(),
            file,
            footer,
            footer_crc: fcrc,
            len,
            version,
            id: crate::chunk_cache::reader_id(),
        })
    }

    /// Chunk `c`'s key in the [`ChunkCache`].
    fn cache_key(&self, c: &Chunk) -> Key {
        (self.id, c.offset)
    }

    /// Whether `data`, read for chunk `c`, has its checksum.
    fn check(&self, c: &Chunk, what: &str, data: &[u8]) -> Result<()> {
        if crc32c::crc32c(data) != c.crc {
            return Err(corrupted(
                &self.path,
                format!("checksum mismatch in {what} at byte {}", c.offset),
            ));
        }
        Ok(())
    }

    /// Reads and decompresses a chunk into a buffer of its own (a dictionary's, once per
    /// segment).
    fn read_chunk(&self, c: &Chunk, what: &str) -> Result<Vec<u8>> {
        let mut buf = ChunkBuf::default();
        self.read_chunk_into(c, what, &mut buf)?;
        Ok(buf.raw)
    }

    pub(super) fn decode_err(&self, what: &str, e: DecodeError) -> StoreError {
        corrupted(&self.path, format!("{what}: {}", e.0))
    }

    /// Loads dictionary `i` (a dimension index, or one of the `DICT_*` constants).
    pub(crate) fn dict(&self, i: usize) -> Result<Vec<String>> {
        self.dict_with(i, str::to_string)
    }

    /// `f` of each string of dictionary `i`, in id order, without a copy of the strings
    /// (a scan interns each into its query dictionary).
    pub(crate) fn dict_with<T>(&self, i: usize, mut f: impl FnMut(&str) -> T) -> Result<Vec<T>> {
        let (c, n) = self.footer.dicts[i];
        let raw = self.read_chunk(&c, "dictionary")?;
        let mut cur = Cursor::new(&raw);
        let mut out = Vec::with_capacity(n as usize);
        for _ in 0..n {
            out.push(f(cur
                .str()
                .map_err(|e| self.decode_err("dictionary", e))?));
        }
        if !cur.is_empty() {
            return Err(corrupted(&self.path, "dictionary: trailing bytes"));
        }
        Ok(out)
    }

    /// Reads and checks every chunk.
    pub(crate) fn verify(&self) -> Result<()> {
        for i in 0..DICTS {
            self.dict(i)?;
        }
        for b in 0..self.footer.blocks.len() {
            self.block(b, &Projection::all())?;
        }
        Ok(())
    }

    /// Decodes the visitor runs of block `bi`.
    pub(crate) fn runs(&self, bi: usize) -> Result<Vec<Run>> {
        let mut runs = Vec::new();
        self.runs_into(bi, &mut runs, &mut ChunkBuf::default())?;
        Ok(runs)
    }

    /// Decodes block `bi`'s visitor runs into `runs`, reusing the buffers' memory.
    pub(crate) fn runs_into(
        &self,
        bi: usize,
        runs: &mut Vec<Run>,
        buf: &mut ChunkBuf,
    ) -> Result<()> {
        let meta = &self.footer.blocks[bi];
        let rows = meta.rows as usize;
        runs.clear();
        self.read_chunk_into(&meta.cols[COL_RUNS], "visitor runs", buf)?;
        let raw = &buf.raw;
        let de = |e| self.decode_err("visitor runs", e);
        let mut c = Cursor::new(raw);
        let n = c.len(rows).map_err(de)?;
        runs.reserve(n);
        let sites = &mut buf.sites;
        sites.clear();
        c.uvarints_into(n, sites).map_err(de)?;
        let lens = &mut buf.lens;
        lens.clear();
        c.uvarints_into(n, lens).map_err(de)?;
        let planes = c.bytes(n * 8).map_err(de)?;
        if !c.is_empty() {
            return Err(corrupted(&self.path, "visitor runs: trailing bytes"));
        }
        let mut prev = 0u64;
        let mut start = 0u32;
        for i in 0..n {
            let mut delta = 0u64;
            for plane in 0..8 {
                delta |= u64::from(planes[plane * n + i]) << (8 * plane);
            }
            let v = prev.wrapping_add(delta);
            let (site, len) = (sites[i], lens[i]);
            if site >= self.footer.sites.len() as u64 || len == 0 || len > u64::from(u32::MAX) {
                return Err(corrupted(&self.path, "visitor runs: bad site or length"));
            }
            let (site, len) = (site as u32, len as u32);
            runs.push(Run {
                site,
                visitor: v,
                start,
                len,
            });
            start = start
                .checked_add(len)
                .ok_or_else(|| corrupted(&self.path, "runs overflow"))?;
            prev = v;
        }
        if start as usize != rows {
            return Err(corrupted(
                &self.path,
                "visitor runs do not add up to the block's rows",
            ));
        }
        Ok(())
    }

    /// (site, visitor, events) of every visitor run in the segment, the site as its index
    /// in the footer's sites.
    pub(crate) fn visitor_runs(&self) -> Result<Vec<(u32, u64, u64)>> {
        let mut out: Vec<(u32, u64, u64)> = Vec::new();
        for bi in 0..self.footer.blocks.len() {
            for r in self.runs(bi)? {
                match out.last_mut() {
                    Some(l) if l.0 == r.site && l.1 == r.visitor => l.2 += u64::from(r.len),
                    _ => out.push((r.site, r.visitor, u64::from(r.len))),
                }
            }
        }
        Ok(out)
    }

    /// Whether any of `visitors` (sorted) of `site` has events here.
    pub(crate) fn contains_any(&self, site: &str, visitors: &[u64]) -> Result<bool> {
        let Some(sid) = self.footer.sites.iter().position(|s| s == site) else {
            return Ok(false);
        };
        let sid = sid as u32;
        for (bi, b) in self.footer.blocks.iter().enumerate() {
            if (sid, visitors[0]) > b.last || (sid, visitors[visitors.len() - 1]) < b.first {
                continue;
            }
            if self
                .runs(bi)?
                .iter()
                .any(|r| r.site == sid && visitors.binary_search(&r.visitor).is_ok())
            {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Decodes block `bi` with the given projection (verification and export; scans
    /// load blocks as [`Packed`](super::packed::Packed) instead).
    pub(crate) fn block(&self, bi: usize, proj: &Projection) -> Result<Block> {
        let mut b = Block::default();
        self.block_into(bi, proj, &mut b, &mut ChunkBuf::default())?;
        Ok(b)
    }

    /// Reads and decompresses a chunk into `buf.raw`, reusing the buffers' memory (a
    /// properties chunk of format 4 with every key: see [`Self::read_props_into`]).
    pub(super) fn read_chunk_into(&self, c: &Chunk, what: &str, buf: &mut ChunkBuf) -> Result<()> {
        // The buffers are read over, not cleared first: a resize zeroes only what a
        // buffer grows by (zeroing each chunk before reading it was 2% of a lift).
        if c.codec == 0 {
            // Stored raw: read where it is decoded from.
            let key = self.cache_key(c);
            if buf.raw_from_cache(key) {
                return Ok(());
            }
            buf.raw.resize(c.len as usize, 0);
            self.file
                .read_exact_at(&mut buf.raw, c.offset)
                .at(&self.path)?;
            self.check(c, what, &buf.raw)?;
            buf.keep_raw(key);
            return Ok(());
        }
        if c.codec == CODEC_BY_KEY {
            return self.read_props_into(c, None, buf);
        }
        // Kept decompressed where that costs at most `DECODED_RATIO` times the bytes.
        let key = self.cache_key(c);
        let decoded =
            buf.cache.is_some() && u64::from(c.raw_len) <= DECODED_RATIO * u64::from(c.len);
        if decoded && buf.raw_from_cache(key) {
            return Ok(());
        }
        {
            let Stored {
                bytes, dctx, raw, ..
            } = self.read_stored(c, what, buf, !decoded)?;
            // Into the spare capacity: no zeroing first, and no copy of what it held.
            raw.clear();
            if raw.capacity() < c.raw_len as usize {
                *raw = Vec::with_capacity(c.raw_len as usize);
            }
            let n = dctx
                .decompress_to_buffer(bytes, raw)
                .map_err(|e| corrupted(&self.path, format!("{what}: {e}")))?;
            if n != c.raw_len as usize {
                return Err(corrupted(
                    &self.path,
                    format!("{what}: wrong decompressed length"),
                ));
            }
        }
        if decoded {
            buf.keep_raw(key);
        }
        Ok(())
    }

    /// Reads a block's properties chunk `c` into `buf.raw` as format 3 lays it out:
    /// a format 4 chunk ([`CODEC_BY_KEY`]) with the sections of the keys `keys` wants
    /// only (`None`: every key; see [`props::unpack`]).
    pub(super) fn read_props_into(
        &self,
        c: &Chunk,
        keys: Option<&[bool]>,
        buf: &mut ChunkBuf,
    ) -> Result<()> {
        if c.codec != CODEC_BY_KEY {
            return self.read_chunk_into(c, "properties", buf);
        }
        let Stored {
            bytes,
            dctx,
            raw,
            parts,
        } = self.read_stored(c, "properties", buf, true)?;
        props::unpack(bytes, c.raw_len as usize, keys, dctx, raw, parts)
            .map_err(|e| self.decode_err("properties", e))
    }

    /// Chunk `c`'s stored bytes, checked: kept in the buffer's cache, or read into the
    /// front of its `comp` (which keeps the length of the largest chunk it held, as
    /// columns of every size pass through it) and kept there (`cached`: else the cache
    /// is not asked). With them, the buffer's zstd context, made on first use.
    fn read_stored<'b>(
        &self,
        c: &Chunk,
        what: &str,
        buf: &'b mut ChunkBuf,
        cached: bool,
    ) -> Result<Stored<'b>> {
        let len = c.len as usize;
        let key = self.cache_key(c);
        let cache = buf.cache.as_ref().filter(|_| cached);
        buf.hit = cache.and_then(|k| k.get(key));
        match cache {
            _ if buf.hit.is_some() => {}
            Some(k) if k.admits(key, len) => {
                // Read where the cache keeps it: no copy.
                let mut stored = vec![0; len];
                self.file
                    .read_exact_at(&mut stored, c.offset)
                    .at(&self.path)?;
                self.check(c, what, &stored)?;
                let stored = Arc::new(stored);
                k.insert(key, Arc::clone(&stored));
                buf.hit = Some(stored);
            }
            _ => {
                if buf.comp.len() < len {
                    buf.comp.resize(len, 0);
                }
                let stored = &mut buf.comp[..len];
                self.file.read_exact_at(stored, c.offset).at(&self.path)?;
                self.check(c, what, stored)?;
            }
        }
        let dctx = match &mut buf.dctx {
            Some(d) => d,
            d => d.insert(zstd::bulk::Decompressor::new().at(&self.path)?),
        };
        let bytes = match &buf.hit {
            Some(kept) => &kept[..],
            None => &buf.comp[..len],
        };
        Ok(Stored {
            bytes,
            dctx,
            raw: &mut buf.raw,
            parts: &mut buf.parts,
        })
    }

    /// [`SegmentReader::read_chunk_into`] `out`, which keeps its memory from block to
    /// block (a buffer passed from column to column would grow again and again: fresh
    /// pages the kernel zeroes).
    pub(crate) fn read_chunk_to(
        &self,
        c: &Chunk,
        what: &str,
        buf: &mut ChunkBuf,
        out: &mut Vec<u8>,
    ) -> Result<()> {
        std::mem::swap(&mut buf.raw, out);
        let r = self.read_chunk_into(c, what, buf);
        std::mem::swap(&mut buf.raw, out);
        r
    }

    /// Decodes block `bi` into `b`, every check made.
    pub(crate) fn block_into(
        &self,
        bi: usize,
        proj: &Projection,
        b: &mut Block,
        buf: &mut ChunkBuf,
    ) -> Result<()> {
        let meta = &self.footer.blocks[bi];
        let rows = meta.rows as usize;
        self.runs_into(bi, &mut b.runs, buf)?;
        // Timestamps.
        self.read_chunk_into(&meta.cols[COL_TS], "timestamps", buf)?;
        let mut c = Cursor::new(&buf.raw);
        b.ts.clear();
        b.ts.reserve(rows);
        for r in &b.runs {
            super::packed::run_times_into(
                &mut c,
                r.len as usize,
                (meta.min_ts, meta.max_ts),
                &mut b.ts,
            )
            .map_err(|e| corrupted(&self.path, e.0))?;
        }
        // Dimensions.
        b.dims.resize(DIMS, None);
        for d in 0..DIMS {
            let mut ids = b.dims[d].take().unwrap_or_default();
            if !proj.dims[d] {
                continue;
            }
            ids.clear();
            let ch = &meta.cols[COL_DIM0 + d];
            let per_run = ch.per_run();
            let count = if per_run { b.runs.len() } else { rows };
            if !per_run {
                ids.reserve(rows);
            }
            let ids_of = if per_run { &mut buf.ids } else { &mut ids };
            ids_of.clear();
            match ch.id_width() {
                0 => ids_of.resize(count, 0),
                w => {
                    self.read_chunk_into(ch, "dimension column", buf)?;
                    let ids_of = if per_run { &mut buf.ids } else { &mut ids };
                    if buf.raw.len() != count * w {
                        return Err(corrupted(
                            &self.path,
                            "dimension column has the wrong length",
                        ));
                    }
                    match w {
                        1 => ids_of.extend(buf.raw.iter().map(|&x| u32::from(x))),
                        2 => ids_of.extend(
                            buf.raw
                                .chunks_exact(2)
                                .map(|x| u32::from(u16::from_le_bytes([x[0], x[1]]))),
                        ),
                        _ => ids_of.extend(
                            buf.raw
                                .chunks_exact(4)
                                .map(|x| u32::from_le_bytes([x[0], x[1], x[2], x[3]])),
                        ),
                    }
                }
            }
            let n = self.footer.dicts[d].1;
            let decoded = if per_run { &buf.ids } else { &ids };
            if decoded.iter().any(|&i| i >= n) {
                return Err(corrupted(&self.path, "dimension id beyond its dictionary"));
            }
            if per_run {
                ids.reserve(rows);
                for (r, &id) in b.runs.iter().zip(&buf.ids) {
                    ids.resize(ids.len() + r.len as usize, id);
                }
            }
            b.dims[d] = Some(ids);
        }
        self.props_into(
            bi,
            proj.props,
            None,
            &mut b.prop_offsets,
            &mut b.prop_entries,
            buf,
        )?;
        self.revenue_into(bi, proj.revenue, &mut b.revenue, buf)
    }

    /// Decodes block `bi`'s properties (when `wanted`) into `offsets` and `entries`,
    /// emptied first: row i's are `entries[offsets[i]..offsets[i + 1]]`. `keys`, when
    /// given, says per segment-local key whether to keep its entries (the others are
    /// checked and skipped).
    pub(crate) fn props_into(
        &self,
        bi: usize,
        wanted: bool,
        keys: Option<&[bool]>,
        offsets: &mut Vec<u32>,
        entries: &mut Vec<PropEntry>,
        buf: &mut ChunkBuf,
    ) -> Result<()> {
        offsets.clear();
        entries.clear();
        if !wanted {
            return Ok(());
        }
        let rows = self.footer.blocks[bi].rows as usize;
        self.read_props_into(&self.footer.blocks[bi].cols[COL_PROPS], keys, buf)?;
        let raw = &buf.raw;
        let de = |e| self.decode_err("properties", e);
        let nkeys = self.footer.dicts[DICT_PROP_KEYS].1;
        let nvals = self.footer.dicts[DICT_PROP_VALUES].1;
        if self.version >= 3 {
            return props::decode_by_key(
                raw,
                rows,
                (nkeys, nvals),
                keys,
                (offsets, entries),
                &mut buf.props,
            )
            .map_err(de);
        }
        // Format 2: row by row, every entry walked.
        let mut c = Cursor::new(raw);
        offsets.reserve(rows + 1);
        offsets.push(0);
        for _ in 0..rows {
            let n = c.len(raw.len()).map_err(de)?;
            for _ in 0..n {
                let e = get_prop_entry(&mut c, nkeys, nvals).map_err(de)?;
                if keys.is_some_and(|k| !k.get(e.key as usize).copied().unwrap_or(false)) {
                    continue;
                }
                entries.push(e);
            }
            offsets.push(entries.len() as u32);
        }
        Ok(())
    }

    /// Decodes block `bi`'s revenue into `revenue` (its memory reused) when `wanted`;
    /// else sets it to `None`.
    pub(crate) fn revenue_into(
        &self,
        bi: usize,
        wanted: bool,
        revenue: &mut Option<Revenues>,
        buf: &mut ChunkBuf,
    ) -> Result<()> {
        let mut rev = revenue.take().unwrap_or_default();
        if !wanted {
            return Ok(());
        }
        let meta = &self.footer.blocks[bi];
        self.read_chunk_into(&meta.cols[COL_REVENUE], "revenue", buf)?;
        let raw = &buf.raw;
        let de = |e| self.decode_err("revenue", e);
        let ncur = self.footer.dicts[DICT_CURRENCIES].1;
        let mut c = Cursor::new(raw);
        rev.clear();
        let mut row = 0;
        while row < meta.rows {
            // A row without revenue is one zero byte: eight of them are passed over at
            // once.
            if meta.rows - row >= 8 && raw.get(c.pos()..c.pos() + 8) == Some(&[0; 8]) {
                c = Cursor::at(raw, c.pos() + 8);
                row += 8;
                continue;
            }
            if let Some(v) = get_revenue(&mut c, ncur).map_err(de)? {
                rev.push(row, v);
            }
            row += 1;
        }
        *revenue = Some(rev);
        Ok(())
    }

    /// Every event of the segment, in order, fully materialised (compaction, export).
    pub(crate) fn events(&self) -> Result<EventIter<'_>> {
        let dicts = (0..DICTS)
            .map(|i| self.dict(i))
            .collect::<Result<Vec<_>>>()?;
        Ok(EventIter {
            seg: self,
            dicts,
            block: 0,
            cur: None,
            run: 0,
            row: 0,
        })
    }
}

/// Iterator over a segment's events.
pub(crate) struct EventIter<'a> {
    seg: &'a SegmentReader,
    dicts: Vec<Vec<String>>,
    block: usize,
    cur: Option<Block>,
    run: usize,
    row: usize,
}

impl EventIter<'_> {
    fn materialise(&self, b: &Block, run: &Run, i: usize) -> Event {
        let site = &self.seg.footer.sites[run.site as usize];
        let mut e = Event::new(site.clone(), b.ts[i], run.visitor, String::new());
        for d in Dim::ALL {
            if let Some(ids) = &b.dims[d.index()] {
                let s = &self.dicts[d.index()][ids[i] as usize];
                if !s.is_empty() {
                    e.set(d, s.clone());
                }
            }
        }
        let (lo, hi) = (b.prop_offsets[i] as usize, b.prop_offsets[i + 1] as usize);
        for p in &b.prop_entries[lo..hi] {
            let key = self.dicts[DICT_PROP_KEYS][p.key as usize].clone();
            let v = match p.val {
                PropVal::Str(id) => {
                    PropValue::Str(self.dicts[DICT_PROP_VALUES][id as usize].clone())
                }
                PropVal::Num(n) => PropValue::Num(n),
                PropVal::Bool(x) => PropValue::Bool(x),
            };
            e.props.push((key, v));
        }
        if let Some((m, c)) = b.revenue.as_ref().and_then(|r| r.get(i)) {
            let currency = self.dicts[DICT_CURRENCIES][c as usize].clone();
            e.revenue = Some(Revenue {
                micros: m,
                currency,
            });
        }
        e
    }
}

impl Iterator for EventIter<'_> {
    type Item = Result<Event>;
    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if self.cur.is_none() {
                if self.block >= self.seg.footer.blocks.len() {
                    return None;
                }
                match self.seg.block(self.block, &Projection::all()) {
                    Ok(b) => self.cur = Some(b),
                    Err(e) => {
                        self.block = usize::MAX;
                        return Some(Err(e));
                    }
                }
                self.block += 1;
                self.run = 0;
                self.row = 0;
            }
            let b = self.cur.as_ref()?;
            if self.run >= b.runs.len() {
                self.cur = None;
                continue;
            }
            let run = b.runs[self.run];
            let i = run.start as usize + self.row;
            let e = self.materialise(b, &run, i);
            self.row += 1;
            if self.row >= run.len as usize {
                self.row = 0;
                self.run += 1;
            }
            return Some(Ok(e));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    /// A block's revenue by row ranges agrees with one value per row, for runs asked in
    /// row order (the hint used) and in any order (the hint refused).
    #[test]
    fn revenue_ranges_agree_with_one_value_per_row() {
        for seed in 0..200 {
            let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
            let rows = rng.gen_range(0..300usize);
            let share = [0.0, 0.01, 0.3, 1.0][seed as usize % 4];
            let dense: Vec<Option<(i64, u32)>> = (0..rows)
                .map(|_| {
                    rng.gen_bool(share)
                        .then(|| (rng.gen_range(-5..1_000_000), rng.gen_range(0..3)))
                })
                .collect();
            let mut rev = Revenues::default();
            for (i, v) in dense.iter().enumerate() {
                if let Some(v) = *v {
                    rev.push(i as u32, v);
                }
            }
            let check = |lo: usize, hi: usize| {
                let r = rev.range(lo, hi);
                assert_eq!(r.len(), hi - lo);
                let mut got = vec![None; hi - lo];
                for (at, v) in r.iter() {
                    assert!(got[at].is_none());
                    got[at] = Some(v);
                }
                assert_eq!(got, dense[lo..hi], "seed {seed}, rows {lo}..{hi}");
            };
            // Runs in order, some passed over.
            let mut lo = 0;
            while lo < rows {
                let hi = (lo + rng.gen_range(1..20)).min(rows);
                if rng.gen_bool(0.7) {
                    check(lo, hi);
                }
                lo = hi;
            }
            for _ in 0..50 {
                let lo = rng.gen_range(0..=rows);
                let hi = rng.gen_range(lo..=rows);
                check(lo, hi);
            }
            for (i, v) in dense.iter().enumerate() {
                assert_eq!(rev.get(i), *v);
            }
        }
    }
}
