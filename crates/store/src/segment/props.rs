//! A block's properties chunk, formats 3 and 4: each row's keys as a shape, the values
//! by key; in format 4 each key's values compressed on their own ([`unpack`]).
//!
//! Format 2 stored properties row by row (a count, then key, tag and value per entry),
//! so a scan that wanted one key parsed every entry of every row. Format 3 stores a
//! block's distinct key lists ("shapes": most events of one name send the same keys in
//! the same order), one shape id per row, and the values key by key:
//!
//! ```text
//! shapes         varint S, then shapes 1..S: its key count and key ids (varints);
//!                shape 0 is the empty one (no properties)
//! width          u8: bytes per row's shape id, 0 (every row shape 0), 1, 2 or 4
//! row shapes     rows × width, little-endian
//! sections       varint, then per key used (ids ascending): key id, body length
//!                (varints), and the body: the key's values (tag and value as format 2
//!                writes them) in row order
//! ```
//!
//! A scan that wants some keys reads each row's shape id (a fixed-width load) and only
//! those keys' sections; the others are passed over by their lengths. Format 4 stores
//! the same parts each compressed on its own, and [`unpack`] turns a block's chunk into
//! the format 3 one with only the sections of the keys a scan reads: the others are not
//! decompressed. A row's entries come back in the order the event had them. A block is
//! built row by row ([`PropsBlock`]) and read row by row ([`PropsReader`]): a merge
//! streams its inputs' rows, so neither ever holds a block's entries decoded.

use cairn_timeline::PropEntry;
use rustc_hash::FxHashMap;

use super::format::{get_prop_val, put_prop_val};
use crate::codec::{Cursor, DResult, DecodeError, put_uvarint};

/// A block's properties as they are pushed, row by row.
#[derive(Debug, Default)]
pub(crate) struct PropsBlock {
    /// Shape ids by their key lists' hashes, and every shape's keys (shape i + 1 is
    /// `shapes[i]`). A shape whose hash another has (never seen in practice) is found
    /// by a search of them all.
    shape_ids: FxHashMap<u64, u32>,
    shapes: Vec<Vec<u32>>,
    /// The last shape pushed and its hash: the next row's is usually the same.
    last: (u32, u64),
    row_shapes: Vec<u32>,
    /// (key, its values' bytes) per key, in first-use order (the first `used`), and
    /// each key id's place among them (`u32::MAX`: not used in this block).
    bodies: Vec<(u32, Vec<u8>)>,
    used: usize,
    body_of: Vec<u32>,
    keys: Vec<u32>,
    /// The head of the last chunk packed (its memory, kept).
    head: Vec<u8>,
}

/// Whether two key lists are equal (short: a loop beats a call to `memcmp`).
#[inline]
fn same(a: &[u32], b: &[u32]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x == y)
}

impl PropsBlock {
    /// Adds a row's properties.
    pub(crate) fn push(&mut self, entries: &[PropEntry]) {
        if entries.is_empty() {
            self.row_shapes.push(0);
            return;
        }
        self.keys.clear();
        let mut h = entries.len() as u64;
        for e in entries {
            let k = e.key as usize;
            if k >= self.body_of.len() {
                self.body_of.resize(k + 1, u32::MAX);
            }
            if self.body_of[k] == u32::MAX {
                self.body_of[k] = self.used as u32;
                if self.used == self.bodies.len() {
                    self.bodies.push((e.key, Vec::new()));
                }
                let b = &mut self.bodies[self.used];
                b.0 = e.key;
                b.1.clear();
                self.used += 1;
            }
            put_prop_val(&mut self.bodies[self.body_of[k] as usize].1, e.val);
            self.keys.push(e.key);
            h = (h.rotate_left(5) ^ u64::from(e.key)).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
        }
        let (last, last_h) = self.last;
        let shapes = &self.shapes;
        let shape = |id: u32| &shapes[id as usize - 1][..];
        let id = if last > 0 && last_h == h && same(shape(last), &self.keys) {
            Some(last)
        } else {
            match self.shape_ids.get(&h).copied() {
                Some(id) if same(shape(id), &self.keys) => Some(id),
                // Every shape's hash is in the map (with it, or with the shape first
                // seen with that hash): a hash not there is a new shape.
                None => {
                    self.shape_ids.insert(h, shapes.len() as u32 + 1);
                    None
                }
                Some(_) => (1..=shapes.len() as u32).find(|&i| same(shape(i), &self.keys)),
            }
        };
        let id = id.unwrap_or_else(|| {
            self.shapes.push(self.keys.clone());
            self.shapes.len() as u32
        });
        self.last = (id, h);
        self.row_shapes.push(id);
    }

    /// Appends the format 3 chunk of the rows pushed to `out`, and empties the block.
    #[cfg(test)]
    pub(crate) fn finish_into(&mut self, out: &mut Vec<u8>) {
        self.head_into(out);
        let sections = self.sections();
        put_uvarint(out, sections.len() as u64);
        for (key, body) in sections {
            put_uvarint(out, u64::from(*key));
            put_uvarint(out, body.len() as u64);
            out.extend_from_slice(body);
        }
        self.clear();
    }

    /// Appends the format 4 chunk of the rows pushed to `out` (see [`unpack`]), each
    /// part stored by `pack`, and empties the block; returns the length of the format 3
    /// chunk it unpacks to. `pack(raw, out)` appends a part as [`unpack`] reads it:
    /// codec, raw length, stored length, stored bytes.
    pub(crate) fn finish_packed_into<E>(
        &mut self,
        out: &mut Vec<u8>,
        mut pack: impl FnMut(&[u8], &mut Vec<u8>) -> Result<(), E>,
    ) -> Result<usize, E> {
        let mut head = std::mem::take(&mut self.head);
        head.clear();
        self.head_into(&mut head);
        let r = pack(&head, out).and_then(|()| {
            let sections = self.sections();
            let mut raw_len = head.len() + uvarint_len(sections.len() as u64);
            put_uvarint(out, sections.len() as u64);
            for (key, body) in sections {
                put_uvarint(out, u64::from(*key));
                pack(body, out)?;
                raw_len += uvarint_len(u64::from(*key)) + uvarint_len(body.len() as u64);
                raw_len += body.len();
            }
            Ok(raw_len)
        });
        self.head = head;
        self.clear();
        r
    }

    /// Appends the shapes, the width and the row shapes to `out`.
    fn head_into(&self, out: &mut Vec<u8>) {
        put_uvarint(out, self.shapes.len() as u64);
        for shape in &self.shapes {
            put_uvarint(out, shape.len() as u64);
            for &k in shape {
                put_uvarint(out, u64::from(k));
            }
        }
        let width: u8 = match self.shapes.len() {
            0 => 0,
            1..=0xff => 1,
            0x100..=0xffff => 2,
            _ => 4,
        };
        out.push(width);
        for &id in &self.row_shapes {
            out.extend_from_slice(&id.to_le_bytes()[..usize::from(width)]);
        }
    }

    /// Each key used and its values, key ids ascending.
    fn sections(&mut self) -> &[(u32, Vec<u8>)] {
        let bodies = &mut self.bodies[..self.used];
        bodies.sort_unstable_by_key(|b| b.0);
        bodies
    }

    /// Empties the block (keeping its memory).
    fn clear(&mut self) {
        for (key, _) in &self.bodies[..self.used] {
            self.body_of[*key as usize] = u32::MAX;
        }
        self.used = 0;
        self.shape_ids.clear();
        self.shapes.clear();
        self.last = (0, 0);
        self.row_shapes.clear();
    }
}

/// A part of a format 4 chunk: its codec (0 raw, 1 zstd), raw length, and where its
/// stored bytes lie in the chunk.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Part {
    codec: u8,
    raw_len: usize,
    start: usize,
    end: usize,
}

fn get_part(c: &mut Cursor<'_>, max: usize) -> DResult<Part> {
    let codec = c.u8()?;
    let raw_len = c.uvarint()?;
    if raw_len > max as u64 {
        return Err(DecodeError("property part too long"));
    }
    let raw_len = raw_len as usize;
    let stored_len = c.uvarint()?;
    let start = c.pos();
    let stored = c.bytes(usize::try_from(stored_len).map_err(|_| DecodeError("part too long"))?)?;
    if codec > 1 || (codec == 0 && stored.len() != raw_len) {
        return Err(DecodeError("bad property part codec or length"));
    }
    Ok(Part {
        codec,
        raw_len,
        start,
        end: start + stored.len(),
    })
}

/// Appends the raw bytes of `chunk`'s part `p` to `out` (which has room for them: no
/// zeroing first when it is the first part).
fn unpack_part(
    chunk: &[u8],
    p: Part,
    out: &mut Vec<u8>,
    dctx: &mut zstd::bulk::Decompressor<'static>,
) -> DResult<()> {
    let stored = &chunk[p.start..p.end];
    if p.codec == 0 {
        out.extend_from_slice(stored);
        return Ok(());
    }
    let at = out.len();
    let n = if at == 0 {
        // Into the spare capacity, without zeroing it first.
        dctx.decompress_to_buffer(stored, out)
    } else {
        out.resize(at + p.raw_len, 0);
        dctx.decompress_to_buffer(stored, &mut out[at..])
    }
    .map_err(|_| DecodeError("bad zstd frame in properties"))?;
    if out.len() != at + p.raw_len || n != p.raw_len {
        return Err(DecodeError("property part of the wrong length"));
    }
    Ok(())
}

/// Unpacks a format 4 properties chunk into the format 3 chunk [`PropsReader`] reads,
/// with only the sections of the keys `keys` wants (`None`: every key); `raw_len` is
/// the format 3 chunk's length, the footer's.
///
/// ```text
/// part           u8 codec (0 raw, 1 zstd), varint raw length, varint stored length,
///                the stored bytes
/// head           a part: format 3's shapes, width and row shapes
/// sections       varint, then per key used (ids ascending): key id (varint), a part
///                of its values
/// ```
///
/// Each part is compressed on its own, so a scan that reads one key (a goal's
/// condition on `items`) decompresses the rows' shapes and that key's values, not every
/// key's (which a block's single zstd frame of format 3 made it do).
pub(crate) fn unpack(
    chunk: &[u8],
    raw_len: usize,
    keys: Option<&[bool]>,
    dctx: &mut zstd::bulk::Decompressor<'static>,
    out: &mut Vec<u8>,
    sections: &mut Vec<(u32, Part)>,
) -> DResult<()> {
    let wanted = |k: u32| keys.is_none_or(|w| w.get(k as usize).copied().unwrap_or(false));
    let mut c = Cursor::new(chunk);
    let head = get_part(&mut c, raw_len)?;
    let n = c.len(chunk.len())?;
    // The wanted sections (key, part), and the format 3 chunk's length with them.
    sections.clear();
    let mut full = head.raw_len + uvarint_len(n as u64);
    let mut len = head.raw_len;
    for _ in 0..n {
        let key = c.uvarint()?;
        let key = u32::try_from(key).map_err(|_| DecodeError("property key id out of range"))?;
        let p = get_part(&mut c, raw_len)?;
        let entry = uvarint_len(u64::from(key)) + uvarint_len(p.raw_len as u64) + p.raw_len;
        full += entry;
        if wanted(key) {
            sections.push((key, p));
            len += entry;
        }
    }
    if !c.is_empty() {
        return Err(DecodeError("trailing bytes in properties"));
    }
    len += uvarint_len(sections.len() as u64);
    if full != raw_len || len > raw_len {
        return Err(DecodeError("properties of the wrong length"));
    }
    out.clear();
    if out.capacity() < len {
        *out = Vec::with_capacity(len);
    }
    unpack_part(chunk, head, out, dctx)?;
    put_uvarint(out, sections.len() as u64);
    for &(key, p) in sections.iter() {
        put_uvarint(out, u64::from(key));
        put_uvarint(out, p.raw_len as u64);
        unpack_part(chunk, p, out, dctx)?;
    }
    debug_assert_eq!(out.len(), len);
    Ok(())
}

/// The length of `x` as a varint.
fn uvarint_len(x: u64) -> usize {
    (64 - (x | 1).leading_zeros() as usize).div_ceil(7)
}

/// A format 3 properties chunk, parsed, read row by row in order.
#[derive(Debug, Default)]
pub(crate) struct PropsReader {
    /// Every shape's wanted keys as (key, section), flat, and each shape's range of
    /// them (shape 0, the empty one, first).
    wanted: Vec<(u32, u32)>,
    ranges: Vec<(u32, u32)>,
    /// The row shape ids: where they start in the chunk, and their width.
    ids: usize,
    width: usize,
    rows: usize,
    nvals: u32,
    /// The sections' keys and their bodies' (start, end) in the chunk, and each one's
    /// read position.
    sections: Vec<(u32, usize, usize)>,
    at: Vec<usize>,
}

impl PropsReader {
    /// Parses a chunk of `rows` rows, `keys` saying per key id whether its entries are
    /// wanted (`None`: every key). Ids are checked against the dictionaries' sizes.
    pub(crate) fn parse(
        &mut self,
        raw: &[u8],
        rows: usize,
        (nkeys, nvals): (u32, u32),
        keys: Option<&[bool]>,
    ) -> DResult<()> {
        let wanted = |k: u32| keys.is_none_or(|w| w.get(k as usize).copied().unwrap_or(false));
        let mut c = Cursor::new(raw);
        let nshapes = c.len(raw.len())?;
        self.wanted.clear();
        self.ranges.clear();
        self.ranges.push((0, 0));
        for _ in 0..nshapes {
            let n = c.len(raw.len())?;
            let lo = self.wanted.len() as u32;
            for _ in 0..n {
                let key = c.uvarint()?;
                if key >= u64::from(nkeys) {
                    return Err(DecodeError("property key id out of range"));
                }
                if wanted(key as u32) {
                    self.wanted.push((key as u32, 0));
                }
            }
            self.ranges.push((lo, self.wanted.len() as u32));
        }
        let width = usize::from(c.u8()?);
        if !matches!(width, 0 | 1 | 2 | 4) || (width == 0) != (nshapes == 0) {
            return Err(DecodeError("bad property shape width"));
        }
        self.ids = c.pos();
        c.bytes(rows * width)?;
        let nsections = c.len(raw.len())?;
        self.sections.clear();
        for _ in 0..nsections {
            let key = c.uvarint()?;
            if key >= u64::from(nkeys)
                || self.sections.last().is_some_and(|x| u64::from(x.0) >= key)
            {
                return Err(DecodeError("property key id out of range or out of order"));
            }
            let len = c.len(raw.len())?;
            let start = c.pos();
            c.bytes(len)?;
            self.sections.push((key as u32, start, start + len));
        }
        if !c.is_empty() {
            return Err(DecodeError("trailing bytes in properties"));
        }
        for w in &mut self.wanted {
            w.1 = self
                .sections
                .binary_search_by_key(&w.0, |x| x.0)
                .map_err(|_| DecodeError("property key without values"))? as u32;
        }
        self.at.clear();
        self.at.extend(self.sections.iter().map(|x| x.1));
        (self.width, self.rows, self.nvals) = (width, rows, nvals);
        Ok(())
    }

    /// Appends row `r`'s wanted entries to `out`. Rows must be read in order, none
    /// skipped.
    #[inline]
    pub(crate) fn row(&mut self, raw: &[u8], r: usize, out: &mut Vec<PropEntry>) -> DResult<()> {
        debug_assert!(r < self.rows);
        let ids = &raw[self.ids..];
        let id = match self.width {
            0 => 0,
            1 => usize::from(ids[r]),
            2 => usize::from(u16::from_le_bytes([ids[2 * r], ids[2 * r + 1]])),
            _ => u32::from_le_bytes([ids[4 * r], ids[4 * r + 1], ids[4 * r + 2], ids[4 * r + 3]])
                as usize,
        };
        self.shape_row(raw, id, out)
    }

    /// Appends the wanted entries of a row of shape `id`: each wanted key's next value.
    #[inline(always)]
    fn shape_row(&mut self, raw: &[u8], id: usize, out: &mut Vec<PropEntry>) -> DResult<()> {
        let &(lo, hi) = self
            .ranges
            .get(id)
            .ok_or(DecodeError("property shape id out of range"))?;
        for &(key, sec) in &self.wanted[lo as usize..hi as usize] {
            let end = self.sections[sec as usize].2;
            let at = &mut self.at[sec as usize];
            let mut v = Cursor::at(&raw[..end], *at);
            let val = get_prop_val(&mut v, self.nvals)?;
            *at = v.pos();
            out.push(PropEntry { key, val });
        }
        Ok(())
    }

    /// Appends every row's wanted entries to `entries` and their ends to `offsets`.
    /// The width is matched once, not per row, and a row whose shape has no wanted key
    /// (most rows, when a scan wants one key) is one load and one push.
    fn all_rows(
        &mut self,
        raw: &[u8],
        offsets: &mut Vec<u32>,
        entries: &mut Vec<PropEntry>,
    ) -> DResult<()> {
        let ids = &raw[self.ids..self.ids + self.rows * self.width];
        match self.width {
            0 => {
                offsets.resize(offsets.len() + self.rows, entries.len() as u32);
                Ok(())
            }
            1 => self.rows_of(raw, ids.iter().map(|&b| usize::from(b)), offsets, entries),
            2 => self.rows_of(
                raw,
                ids.chunks_exact(2)
                    .map(|b| usize::from(u16::from_le_bytes([b[0], b[1]]))),
                offsets,
                entries,
            ),
            _ => self.rows_of(
                raw,
                ids.chunks_exact(4)
                    .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize),
                offsets,
                entries,
            ),
        }
    }

    #[inline(always)]
    fn rows_of(
        &mut self,
        raw: &[u8],
        ids: impl Iterator<Item = usize>,
        offsets: &mut Vec<u32>,
        entries: &mut Vec<PropEntry>,
    ) -> DResult<()> {
        for id in ids {
            self.shape_row(raw, id, entries)?;
            offsets.push(entries.len() as u32);
        }
        Ok(())
    }

    /// Checks, once every row is read, that each wanted key's values were all some
    /// row's.
    pub(crate) fn finish(&self) -> DResult<()> {
        for w in &self.wanted {
            if self.at[w.1 as usize] != self.sections[w.1 as usize].2 {
                return Err(DecodeError("property values without rows"));
            }
        }
        Ok(())
    }
}

/// Decodes a format 3 properties chunk of `rows` rows into `offsets` and `entries`
/// (emptied first): row i's are `entries[offsets[i]..offsets[i + 1]]`, in the order the
/// event had them. `keys`, when given, says per key id whether its entries are wanted:
/// the other keys' values are passed over unread.
pub(crate) fn decode_by_key(
    raw: &[u8],
    rows: usize,
    dicts: (u32, u32),
    keys: Option<&[bool]>,
    (offsets, entries): (&mut Vec<u32>, &mut Vec<PropEntry>),
    r: &mut PropsReader,
) -> DResult<()> {
    offsets.clear();
    entries.clear();
    r.parse(raw, rows, dicts, keys)?;
    offsets.reserve(rows + 1);
    offsets.push(0);
    r.all_rows(raw, offsets, entries)?;
    r.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_timeline::PropVal;
    use rand::{Rng, SeedableRng, rngs::StdRng};

    fn random_rows(rng: &mut StdRng, rows: usize) -> Vec<Vec<PropEntry>> {
        let keys = rng.gen_range(1..12u32);
        let share = [0.0, 0.05, 0.5, 1.0][rng.gen_range(0..4)];
        (0..rows)
            .map(|_| {
                if !rng.gen_bool(share) {
                    return Vec::new();
                }
                let n = rng.gen_range(1..5);
                let mut row: Vec<PropEntry> = (0..n)
                    .map(|_| PropEntry {
                        key: rng.gen_range(0..keys),
                        val: match rng.gen_range(0..4) {
                            0 => PropVal::Str(rng.gen_range(0..50)),
                            1 => PropVal::Num(f64::from(rng.gen_range(-500..5000)) / 100.0),
                            2 => PropVal::Num(rng.r#gen::<f64>()),
                            _ => PropVal::Bool(rng.gen_bool(0.5)),
                        },
                    })
                    .collect();
                // Most events send their keys in one order.
                if rng.gen_bool(0.8) {
                    row.sort_by_key(|e| e.key);
                }
                row
            })
            .collect()
    }

    fn encode(rows: &[Vec<PropEntry>], b: &mut PropsBlock) -> Vec<u8> {
        for r in rows {
            b.push(r);
        }
        let mut out = Vec::new();
        b.finish_into(&mut out);
        out
    }

    /// Checks that row i's decoded entries, `ent[off[i]..off[i + 1]]`, are row i's
    /// entries of the keys `keys` wants (`None`: every key), in the row's order.
    fn assert_rows(rows: &[Vec<PropEntry>], keys: Option<&[bool]>, off: &[u32], ent: &[PropEntry]) {
        assert_eq!(off.len(), rows.len() + 1);
        for (i, row) in rows.iter().enumerate() {
            let kept: Vec<PropEntry> = row
                .iter()
                .copied()
                .filter(|e| keys.is_none_or(|w| w[e.key as usize]))
                .collect();
            assert_eq!(&ent[off[i] as usize..off[i + 1] as usize], &kept[..]);
        }
    }

    #[test]
    fn every_row_reads_back_as_written_whole_or_by_key() {
        let mut rng = StdRng::seed_from_u64(7);
        // One builder and one reader for every block, as a segment's writer and a scan
        // keep theirs.
        let (mut b, mut r) = (PropsBlock::default(), PropsReader::default());
        let (mut off, mut ent) = (Vec::new(), Vec::new());
        for _ in 0..300 {
            let n = rng.gen_range(0..400);
            let rows = random_rows(&mut rng, n);
            let enc = encode(&rows, &mut b);
            decode_by_key(&enc, n, (12, 50), None, (&mut off, &mut ent), &mut r).unwrap();
            assert_rows(&rows, None, &off, &ent);
            // Some keys: each row's entries of those keys, in the row's order.
            let want: Vec<bool> = (0..12).map(|_| rng.gen_bool(0.4)).collect();
            decode_by_key(&enc, n, (12, 50), Some(&want), (&mut off, &mut ent), &mut r).unwrap();
            assert_rows(&rows, Some(&want), &off, &ent);
        }
    }

    /// Packs as a segment's writer does (format 4): each part compressed when zstd
    /// saves a fifth of it, else raw. Returns the chunk and its unpacked length.
    fn pack(rows: &[Vec<PropEntry>], b: &mut PropsBlock) -> (Vec<u8>, usize) {
        for r in rows {
            b.push(r);
        }
        let mut out = Vec::new();
        let raw_len = b
            .finish_packed_into(&mut out, |raw, out| {
                let z = zstd::bulk::compress(raw, 3).unwrap();
                let kept = raw.len() >= 64 && z.len() * 5 <= raw.len() * 4;
                let stored = if kept { &z[..] } else { raw };
                out.push(u8::from(kept));
                put_uvarint(out, raw.len() as u64);
                put_uvarint(out, stored.len() as u64);
                out.extend_from_slice(stored);
                Ok::<(), ()>(())
            })
            .unwrap();
        (out, raw_len)
    }

    #[test]
    fn a_packed_chunk_unpacks_to_format_3_whole_or_by_key() {
        let mut rng = StdRng::seed_from_u64(5);
        let (mut b, mut r) = (PropsBlock::default(), PropsReader::default());
        let mut dctx = zstd::bulk::Decompressor::new().unwrap();
        let (mut raw, mut parts) = (Vec::new(), Vec::new());
        let (mut off, mut ent) = (Vec::new(), Vec::new());
        let (mut packed_with, mut kept) = (0, 0);
        for _ in 0..300 {
            let n = rng.gen_range(0..2000);
            let rows = random_rows(&mut rng, n);
            let whole = encode(&rows, &mut b);
            let (chunk, raw_len) = pack(&rows, &mut b);
            assert_eq!(raw_len, whole.len());
            unpack(&chunk, raw_len, None, &mut dctx, &mut raw, &mut parts).unwrap();
            assert_eq!(raw, whole, "every key: the format 3 chunk itself");
            packed_with += usize::from(chunk.len() < whole.len());
            // Some keys: only their sections, which read as format 3's do.
            let want: Vec<bool> = (0..12).map(|_| rng.gen_bool(0.3)).collect();
            unpack(
                &chunk,
                raw_len,
                Some(&want),
                &mut dctx,
                &mut raw,
                &mut parts,
            )
            .unwrap();
            assert!(raw.len() <= whole.len());
            decode_by_key(&raw, n, (12, 50), Some(&want), (&mut off, &mut ent), &mut r).unwrap();
            assert_rows(&rows, Some(&want), &off, &ent);
            assert!(
                parts.iter().all(|p| want[p.0 as usize]),
                "only the wanted keys"
            );
            kept += usize::from(!parts.is_empty());
        }
        // Chunks with compressed parts, and reads of some keys that found sections of
        // theirs, were both met.
        assert!(packed_with > 100 && kept > 100, "{packed_with} {kept}");
    }

    #[test]
    fn damaged_packed_chunks_are_errors_never_panics() {
        let mut rng = StdRng::seed_from_u64(13);
        let (mut b, mut r) = (PropsBlock::default(), PropsReader::default());
        let mut dctx = zstd::bulk::Decompressor::new().unwrap();
        let (mut raw, mut parts) = (Vec::new(), Vec::new());
        let (mut off, mut ent) = (Vec::new(), Vec::new());
        for _ in 0..2000 {
            let n = rng.gen_range(1..300);
            let rows = random_rows(&mut rng, n);
            let (chunk, raw_len) = pack(&rows, &mut b);
            let mut bad = chunk.clone();
            let mut len = raw_len;
            match rng.gen_range(0..4) {
                0 => bad.truncate(rng.gen_range(0..bad.len())),
                1 => {
                    let i = rng.gen_range(0..bad.len());
                    bad[i] ^= 1 << rng.gen_range(0..8);
                }
                2 => bad.push(rng.r#gen()),
                _ => len = rng.gen_range(0..raw_len * 2),
            }
            let want: Vec<bool> = (0..12).map(|_| rng.gen_bool(0.5)).collect();
            for keys in [None, Some(&want[..])] {
                if unpack(&bad, len, keys, &mut dctx, &mut raw, &mut parts).is_ok()
                    && decode_by_key(&raw, n, (12, 50), keys, (&mut off, &mut ent), &mut r).is_ok()
                {
                    assert_eq!(off.len(), n + 1);
                    assert_eq!(*off.last().unwrap() as usize, ent.len());
                }
            }
        }
    }

    #[test]
    fn many_shapes_take_wider_ids() {
        let (mut b, mut r) = (PropsBlock::default(), PropsReader::default());
        let (mut off, mut ent) = (Vec::new(), Vec::new());
        // 300 shapes (two-byte ids), then 70,000 (four-byte ids), each row's keys in an
        // order of its own.
        for n in [300u32, 70_000] {
            let rows: Vec<Vec<PropEntry>> = (0..n)
                .map(|i| {
                    [i % 400, 400 + i / 400, i % 7]
                        .iter()
                        .map(|&key| PropEntry {
                            key,
                            val: PropVal::Num(f64::from(i)),
                        })
                        .collect()
                })
                .collect();
            let enc = encode(&rows, &mut b);
            let want: Vec<bool> = (0..1000).map(|k| k % 3 == 0).collect();
            for keys in [None, Some(&want[..])] {
                decode_by_key(
                    &enc,
                    n as usize,
                    (1000, 1),
                    keys,
                    (&mut off, &mut ent),
                    &mut r,
                )
                .unwrap();
                assert_rows(&rows, keys, &off, &ent);
            }
        }
    }

    #[test]
    fn damaged_chunks_are_errors_never_panics() {
        let mut rng = StdRng::seed_from_u64(11);
        let (mut b, mut r) = (PropsBlock::default(), PropsReader::default());
        let (mut off, mut ent) = (Vec::new(), Vec::new());
        for _ in 0..2000 {
            let n = rng.gen_range(1..100);
            let rows = random_rows(&mut rng, n);
            let enc = encode(&rows, &mut b);
            let mut bad = enc.clone();
            match rng.gen_range(0..3) {
                0 => bad.truncate(rng.gen_range(0..bad.len())),
                1 => {
                    let i = rng.gen_range(0..bad.len());
                    bad[i] ^= 1 << rng.gen_range(0..8);
                }
                _ => bad.push(rng.r#gen()),
            }
            // Either an error or rows that decode within their bounds.
            if decode_by_key(&bad, n, (12, 50), None, (&mut off, &mut ent), &mut r).is_ok() {
                assert_eq!(off.len(), n + 1);
                assert_eq!(*off.last().unwrap() as usize, ent.len());
            }
        }
        // More rows than the chunk has, a key beyond the dictionary.
        let rows = vec![
            vec![PropEntry {
                key: 1,
                val: PropVal::Bool(true),
            }];
            3
        ];
        let enc = encode(&rows, &mut b);
        assert!(decode_by_key(&enc, 4, (12, 50), None, (&mut off, &mut ent), &mut r).is_err());
        assert!(decode_by_key(&enc, 3, (1, 50), None, (&mut off, &mut ent), &mut r).is_err());
        decode_by_key(&enc, 3, (12, 50), None, (&mut off, &mut ent), &mut r).unwrap();
    }
}
