//! Byte layout of a segment file (see `docs/store-format.md`).
//!
//! ```text
//! "CAIRNSG1"
//! block 0: column chunks …    (each chunk zstd-compressed or raw, with its own crc32c)
//! block 1: …
//! dictionary chunks           (one per dictionary: sites, each dimension, prop keys, prop values, currencies)
//! footer                      (block index and chunk table, varint-encoded)
//! [footer len u32][footer crc32c u32][version u32][0 u32]["CAIRNEND"]
//! ```

use cairn_timeline::{PropEntry, PropVal};

use crate::codec::{Cursor, DResult, DecodeError, put_ivarint, put_str, put_uvarint};

pub(crate) const MAGIC: &[u8; 8] = b"CAIRNSG1";
pub(crate) const END_MAGIC: &[u8; 8] = b"CAIRNEND";
/// The format this version writes: 2 added the partition's length in days (weekly
/// partitions), 3 stores a block's properties by key (`segment/props.rs`), 4 compresses
/// each key's values on their own ([`CODEC_BY_KEY`]). Files of versions 1 (one UTC day
/// each), 2 and 3 are still read.
pub(crate) const VERSION: u32 = 4;
pub(crate) const OLDEST_VERSION: u32 = 1;
pub(crate) const TRAILER_LEN: usize = 24;

/// Number of column chunks per block: runs, ts, one per dimension, props, revenue.
pub(crate) const DIMS: usize = cairn_model::Dim::ALL.len();
pub(crate) const COL_RUNS: usize = 0;
pub(crate) const COL_TS: usize = 1;
pub(crate) const COL_DIM0: usize = 2;
pub(crate) const COL_PROPS: usize = COL_DIM0 + DIMS;
pub(crate) const COL_REVENUE: usize = COL_PROPS + 1;
pub(crate) const COLS: usize = COL_REVENUE + 1;

/// Dictionaries: one per dimension, then these.
pub(crate) const DICT_PROP_KEYS: usize = DIMS;
pub(crate) const DICT_PROP_VALUES: usize = DIMS + 1;
pub(crate) const DICT_CURRENCIES: usize = DIMS + 2;
pub(crate) const DICTS: usize = DIMS + 3;

/// Where a chunk lies and how to check and decode it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Chunk {
    pub offset: u64,
    pub len: u32,
    pub raw_len: u32,
    pub crc: u32,
    /// 0 raw, 1 zstd, [`CODEC_BY_KEY`] (a properties chunk of format 4).
    pub codec: u8,
    /// For dimension columns: bytes per id in the low four bits (0 = every id is 0),
    /// and [`PER_RUN`] when the column holds one id per visitor run, not per row.
    pub width: u8,
}

/// [`Chunk::codec`] of a format 4 properties chunk: its parts (the rows' shapes, then
/// each key's values) stored one after another, each compressed on its own
/// (`segment/props.rs`), so that a scan decompresses only the keys it reads. Its
/// `raw_len` is the length of the format 3 chunk it unpacks to.
pub(crate) const CODEC_BY_KEY: u8 = 2;

/// Flag in [`Chunk::width`]: one id per visitor run (constant within each run).
pub(crate) const PER_RUN: u8 = 0x10;

impl Chunk {
    /// Bytes per id.
    pub(crate) fn id_width(&self) -> usize {
        usize::from(self.width & 0x0f)
    }

    /// Whether the column holds one id per visitor run.
    pub(crate) fn per_run(&self) -> bool {
        self.width & PER_RUN != 0
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BlockMeta {
    pub rows: u32,
    pub min_ts: i64,
    pub max_ts: i64,
    /// (site id, visitor) of the first and last row.
    pub first: (u32, u64),
    pub last: (u32, u64),
    pub cols: Vec<Chunk>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Footer {
    /// First UTC day (days since the epoch) of the partition every row is in.
    pub partition: i64,
    /// The partition's length in days (7: a week; 28: four sealed weeks; 1 in version 1
    /// files).
    pub days: u32,
    pub rows: u64,
    pub min_ts: i64,
    pub max_ts: i64,
    pub sites: Vec<String>,
    pub dicts: Vec<(Chunk, u32)>,
    pub blocks: Vec<BlockMeta>,
}

fn put_chunk(b: &mut Vec<u8>, c: &Chunk) {
    put_uvarint(b, c.offset);
    put_uvarint(b, u64::from(c.len));
    put_uvarint(b, u64::from(c.raw_len));
    b.extend_from_slice(&c.crc.to_le_bytes());
    b.push(c.codec);
    b.push(c.width);
}

fn get_u32(c: &mut Cursor<'_>) -> DResult<u32> {
    u32::try_from(c.uvarint()?).map_err(|_| DecodeError("value out of range"))
}

/// Decodes a chunk's entry; `by_key` says whether it may be [`CODEC_BY_KEY`].
fn get_chunk(c: &mut Cursor<'_>, by_key: bool) -> DResult<Chunk> {
    let offset = c.uvarint()?;
    let len = get_u32(c)?;
    let raw_len = get_u32(c)?;
    let b = c.bytes(4)?;
    let crc = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
    let codec = c.u8()?;
    let width = c.u8()?;
    let codec_ok = codec <= 1 || (by_key && codec == CODEC_BY_KEY);
    if !codec_ok || !matches!(width & !PER_RUN, 0 | 1 | 2 | 4) {
        return Err(DecodeError("bad chunk codec or width"));
    }
    if codec == 0 && raw_len != len {
        return Err(DecodeError("raw chunk of two lengths"));
    }
    Ok(Chunk {
        offset,
        len,
        raw_len,
        crc,
        codec,
        width,
    })
}

impl Footer {
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut b = Vec::new();
        put_ivarint(&mut b, self.partition);
        put_uvarint(&mut b, u64::from(self.days));
        put_uvarint(&mut b, self.rows);
        put_ivarint(&mut b, self.min_ts);
        put_ivarint(&mut b, self.max_ts);
        put_uvarint(&mut b, self.sites.len() as u64);
        for s in &self.sites {
            put_str(&mut b, s);
        }
        put_uvarint(&mut b, self.dicts.len() as u64);
        for (c, n) in &self.dicts {
            put_chunk(&mut b, c);
            put_uvarint(&mut b, u64::from(*n));
        }
        put_uvarint(&mut b, self.blocks.len() as u64);
        for blk in &self.blocks {
            put_uvarint(&mut b, u64::from(blk.rows));
            put_ivarint(&mut b, blk.min_ts);
            put_ivarint(&mut b, blk.max_ts);
            put_uvarint(&mut b, u64::from(blk.first.0));
            b.extend_from_slice(&blk.first.1.to_le_bytes());
            put_uvarint(&mut b, u64::from(blk.last.0));
            b.extend_from_slice(&blk.last.1.to_le_bytes());
            for c in &blk.cols {
                put_chunk(&mut b, c);
            }
        }
        b
    }

    /// Decodes a footer of format `version` (see [`OLDEST_VERSION`]).
    pub(crate) fn decode(bytes: &[u8], version: u32) -> DResult<Footer> {
        let mut c = Cursor::new(bytes);
        let partition = c.ivarint()?;
        let days = if version >= 2 { get_u32(&mut c)? } else { 1 };
        if days == 0 {
            return Err(DecodeError("partition of zero days"));
        }
        let rows = c.uvarint()?;
        let min_ts = c.ivarint()?;
        let max_ts = c.ivarint()?;
        let n = c.len(bytes.len())?;
        let mut sites = Vec::with_capacity(n);
        for _ in 0..n {
            sites.push(c.str()?.to_string());
        }
        let n = c.len(bytes.len())?;
        if n != DICTS {
            return Err(DecodeError("wrong number of dictionaries"));
        }
        let mut dicts = Vec::with_capacity(n);
        for _ in 0..n {
            let ch = get_chunk(&mut c, false)?;
            dicts.push((ch, get_u32(&mut c)?));
        }
        let n = c.len(bytes.len())?;
        let mut blocks = Vec::with_capacity(n);
        for _ in 0..n {
            let rows = get_u32(&mut c)?;
            let min_ts = c.ivarint()?;
            let max_ts = c.ivarint()?;
            let first = (get_u32(&mut c)?, c.u64le()?);
            let last = (get_u32(&mut c)?, c.u64le()?);
            let mut cols = Vec::with_capacity(COLS);
            for col in 0..COLS {
                cols.push(get_chunk(&mut c, col == COL_PROPS && version >= 4)?);
            }
            blocks.push(BlockMeta {
                rows,
                min_ts,
                max_ts,
                first,
                last,
                cols,
            });
        }
        if !c.is_empty() {
            return Err(DecodeError("trailing bytes in footer"));
        }
        Ok(Footer {
            partition,
            days,
            rows,
            min_ts,
            max_ts,
            sites,
            dicts,
            blocks,
        })
    }
}

/// Writes a property value as the properties column stores it: a tag and the value (0:
/// a string's id; a number, see [`put_number`]; 2 false, 3 true).
#[inline]
pub(crate) fn put_prop_val(p: &mut Vec<u8>, v: PropVal) {
    match v {
        PropVal::Str(id) => {
            p.push(0);
            put_uvarint(p, u64::from(id));
        }
        PropVal::Num(n) => put_number(p, n),
        PropVal::Bool(false) => p.push(2),
        PropVal::Bool(true) => p.push(3),
    }
}

/// Reads one property entry of format 2's row layout (key id, then the value as
/// [`put_prop_val`] writes it), its ids checked against the dictionaries' sizes.
#[inline(always)]
pub(crate) fn get_prop_entry(c: &mut Cursor<'_>, nkeys: u32, nvals: u32) -> DResult<PropEntry> {
    let key = c.uvarint()?;
    if key >= u64::from(nkeys) {
        return Err(DecodeError("property key id out of range"));
    }
    Ok(PropEntry {
        key: key as u32,
        val: get_prop_val(c, nvals)?,
    })
}

/// Reads a property entry's tag and value (after its key), a string's id checked
/// against the dictionary's size.
#[inline(always)]
pub(crate) fn get_prop_val(c: &mut Cursor<'_>, nvals: u32) -> DResult<PropVal> {
    Ok(match c.u8()? {
        0 => {
            let v = c.uvarint()?;
            if v >= u64::from(nvals) {
                return Err(DecodeError("property value id out of range"));
            }
            PropVal::Str(v as u32)
        }
        1 => PropVal::Num(c.f64le()?),
        4 => PropVal::Num(c.ivarint()? as f64),
        5 => PropVal::Num(c.ivarint()? as f64 / 100.0),
        2 => PropVal::Bool(false),
        3 => PropVal::Bool(true),
        _ => return Err(DecodeError("bad property tag")),
    })
}

/// Writes one row's revenue as the revenue column stores it: 0, or 1 then the micros
/// and the currency's id.
pub(crate) fn put_revenue(r: &mut Vec<u8>, rev: Option<(i64, u32)>) {
    match rev {
        None => r.push(0),
        Some((micros, currency)) => {
            r.push(1);
            put_ivarint(r, micros);
            put_uvarint(r, u64::from(currency));
        }
    }
}

/// Reads one row's revenue written by [`put_revenue`], the currency's id checked.
#[inline(always)]
pub(crate) fn get_revenue(c: &mut Cursor<'_>, ncur: u32) -> DResult<Option<(i64, u32)>> {
    match c.u8()? {
        0 => Ok(None),
        1 => {
            let micros = c.ivarint()?;
            let cur = c.uvarint()?;
            if cur >= u64::from(ncur) {
                return Err(DecodeError("currency id out of range"));
            }
            Ok(Some((micros, cur as u32)))
        }
        _ => Err(DecodeError("bad revenue tag")),
    }
}

/// Encodes a number property: integers as zig-zag varints (tag 4), numbers with at most
/// two decimals (prices) as hundredths (tag 5), anything else as the f64's bits (tag 1).
/// Each form decodes to exactly the same f64.
pub(crate) fn put_number(p: &mut Vec<u8>, n: f64) {
    const LIMIT: f64 = 9.0e15;
    let negative_zero = n == 0.0 && n.is_sign_negative();
    if negative_zero {
        p.push(1);
        p.extend_from_slice(&n.to_bits().to_le_bytes());
        return;
    }
    if n.fract() == 0.0 && n.abs() < LIMIT {
        p.push(4);
        put_ivarint(p, n as i64);
        return;
    }
    let h = (n * 100.0).round();
    if h.abs() < LIMIT && (h / 100.0).to_bits() == n.to_bits() {
        p.push(5);
        put_ivarint(p, h as i64);
        return;
    }
    p.push(1);
    p.extend_from_slice(&n.to_bits().to_le_bytes());
}
