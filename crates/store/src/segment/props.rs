//! A block's properties chunk, format 3: each row's keys as a shape, the values by key.
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
//! those keys' sections; the others are passed over by their lengths. A row's entries
//! come back in the order the event had them. The writer's buffer keeps format 2's row
//! layout (rows are pushed one at a time, and a merge copies its inputs' rows); a block
//! is recoded when it is written.

use cairn_timeline::{PropEntry, PropVal};
use rustc_hash::FxHashMap;

use super::format::{get_prop_val, put_prop_entry};
use crate::codec::{Cursor, DResult, DecodeError, put_uvarint};

/// Buffers kept from block to block.
#[derive(Debug, Default)]
pub(crate) struct PropsScratch {
    /// Writing: shape ids by key list, and every shape's keys.
    shape_ids: FxHashMap<Vec<u32>, u32>,
    shapes: Vec<Vec<u32>>,
    row_shapes: Vec<u32>,
    row_keys: Vec<u32>,
    /// Writing: (key, values' bytes) per key, in first-use order.
    bodies: Vec<(u32, Vec<u8>)>,
    body_of: FxHashMap<u32, usize>,
    /// Reading: every shape's wanted keys as (key, section), flat, and each shape's
    /// range of them.
    wanted: Vec<(u32, u32)>,
    ranges: Vec<(u32, u32)>,
    /// Reading: the sections' keys and their bodies' (start, end) in the chunk.
    sections: Vec<(u32, usize, usize)>,
    /// Reading: each section's read position.
    at: Vec<usize>,
    /// A whole block decoded, to be recoded into rows.
    block: (Vec<u32>, Vec<PropEntry>),
}

/// Recodes `rows` rows of properties in format 2's row layout (trusted: written by this
/// process), appending format 3's chunk to `out`.
pub(crate) fn encode_by_key(
    row_major: &[u8],
    rows: usize,
    out: &mut Vec<u8>,
    s: &mut PropsScratch,
) -> DResult<()> {
    s.shape_ids.clear();
    s.shapes.clear();
    s.row_shapes.clear();
    s.body_of.clear();
    for b in &mut s.bodies {
        b.1.clear();
    }
    let mut used = 0;
    let mut c = Cursor::new(row_major);
    for _ in 0..rows {
        let n = c.len(row_major.len())?;
        s.row_keys.clear();
        for _ in 0..n {
            let key = c.uvarint()? as u32;
            let start = c.pos();
            get_prop_val(&mut c, u32::MAX)?;
            let i = *s.body_of.entry(key).or_insert_with(|| {
                used += 1;
                used - 1
            });
            if i == s.bodies.len() {
                s.bodies.push((key, Vec::new()));
            }
            s.bodies[i].0 = key;
            s.bodies[i].1.extend_from_slice(&row_major[start..c.pos()]);
            s.row_keys.push(key);
        }
        let id = if n == 0 {
            0
        } else if let Some(&id) = s.shape_ids.get(&s.row_keys[..]) {
            id
        } else {
            s.shapes.push(s.row_keys.clone());
            let id = s.shapes.len() as u32;
            s.shape_ids.insert(s.row_keys.clone(), id);
            id
        };
        s.row_shapes.push(id);
    }
    if !c.is_empty() {
        return Err(DecodeError("properties beyond the block's rows"));
    }
    put_uvarint(out, s.shapes.len() as u64);
    for shape in &s.shapes {
        put_uvarint(out, shape.len() as u64);
        for &k in shape {
            put_uvarint(out, u64::from(k));
        }
    }
    let width: u8 = match s.shapes.len() {
        0 => 0,
        1..=0xff => 1,
        0x100..=0xffff => 2,
        _ => 4,
    };
    out.push(width);
    for &id in &s.row_shapes {
        out.extend_from_slice(&id.to_le_bytes()[..usize::from(width)]);
    }
    let bodies = &mut s.bodies[..used];
    bodies.sort_unstable_by_key(|b| b.0);
    put_uvarint(out, bodies.len() as u64);
    for (key, body) in bodies.iter() {
        put_uvarint(out, u64::from(*key));
        put_uvarint(out, body.len() as u64);
        out.extend_from_slice(body);
    }
    Ok(())
}

/// Decodes a format 3 properties chunk of `rows` rows into `offsets` and `entries`
/// (emptied first): row i's are `entries[offsets[i]..offsets[i + 1]]`, in the order the
/// event had them. `keys`, when given, says per key id whether its entries are wanted:
/// the other keys' values are passed over unread. Ids are checked against the
/// dictionaries' sizes (`nkeys`, `nvals`).
pub(crate) fn decode_by_key(
    raw: &[u8],
    rows: usize,
    (nkeys, nvals): (u32, u32),
    keys: Option<&[bool]>,
    (offsets, entries): (&mut Vec<u32>, &mut Vec<PropEntry>),
    s: &mut PropsScratch,
) -> DResult<()> {
    let wanted = |k: u32| keys.is_none_or(|w| w.get(k as usize).copied().unwrap_or(false));
    offsets.clear();
    entries.clear();
    let mut c = Cursor::new(raw);
    // The shapes, their keys for now (sections are found below).
    let nshapes = c.len(raw.len())?;
    s.wanted.clear();
    s.ranges.clear();
    s.ranges.push((0, 0));
    for _ in 0..nshapes {
        let n = c.len(raw.len())?;
        let lo = s.wanted.len() as u32;
        for _ in 0..n {
            let key = c.uvarint()?;
            if key >= u64::from(nkeys) {
                return Err(DecodeError("property key id out of range"));
            }
            if wanted(key as u32) {
                s.wanted.push((key as u32, 0));
            }
        }
        s.ranges.push((lo, s.wanted.len() as u32));
    }
    let width = usize::from(c.u8()?);
    if !matches!(width, 0 | 1 | 2 | 4) || (width == 0) != (nshapes == 0) {
        return Err(DecodeError("bad property shape width"));
    }
    let ids = c.bytes(rows * width)?;
    let nsections = c.len(raw.len())?;
    s.sections.clear();
    for _ in 0..nsections {
        let key = c.uvarint()?;
        if key >= u64::from(nkeys) || s.sections.last().is_some_and(|x| u64::from(x.0) >= key) {
            return Err(DecodeError("property key id out of range or out of order"));
        }
        let len = c.len(raw.len())?;
        let start = c.pos();
        c.bytes(len)?;
        s.sections.push((key as u32, start, start + len));
    }
    if !c.is_empty() {
        return Err(DecodeError("trailing bytes in properties"));
    }
    for w in &mut s.wanted {
        w.1 = s
            .sections
            .binary_search_by_key(&w.0, |x| x.0)
            .map_err(|_| DecodeError("property key without values"))? as u32;
    }
    s.at.clear();
    s.at.extend(s.sections.iter().map(|x| x.1));
    let mut val = |sec: u32| -> DResult<PropVal> {
        let (_, _, end) = s.sections[sec as usize];
        let at = &mut s.at[sec as usize];
        let mut v = Cursor::at(&raw[..end], *at);
        let val = get_prop_val(&mut v, nvals)?;
        *at = v.pos();
        Ok(val)
    };
    offsets.reserve(rows + 1);
    offsets.push(0);
    for r in 0..rows {
        let id = match width {
            0 => 0,
            1 => usize::from(ids[r]),
            2 => usize::from(u16::from_le_bytes([ids[2 * r], ids[2 * r + 1]])),
            _ => u32::from_le_bytes([ids[4 * r], ids[4 * r + 1], ids[4 * r + 2], ids[4 * r + 3]])
                as usize,
        };
        let &(lo, hi) = s
            .ranges
            .get(id)
            .ok_or(DecodeError("property shape id out of range"))?;
        for &(key, sec) in &s.wanted[lo as usize..hi as usize] {
            entries.push(PropEntry {
                key,
                val: val(sec)?,
            });
        }
        offsets.push(entries.len() as u32);
    }
    // Every value of a key read was some row's.
    for w in &s.wanted {
        if s.at[w.1 as usize] != s.sections[w.1 as usize].2 {
            return Err(DecodeError("property values without rows"));
        }
    }
    Ok(())
}

/// Recodes a format 3 properties chunk into format 2's row layout (a merge reads its
/// inputs' rows that way), appending to `out`.
pub(crate) fn by_key_to_rows(
    raw: &[u8],
    rows: usize,
    dicts: (u32, u32),
    out: &mut Vec<u8>,
    s: &mut PropsScratch,
) -> DResult<()> {
    let (mut offsets, mut entries) = std::mem::take(&mut s.block);
    let r = decode_by_key(raw, rows, dicts, None, (&mut offsets, &mut entries), s);
    if r.is_ok() {
        for w in offsets.windows(2) {
            put_uvarint(out, u64::from(w[1] - w[0]));
            for &e in &entries[w[0] as usize..w[1] as usize] {
                put_prop_entry(out, e);
            }
        }
    }
    s.block = (offsets, entries);
    r
}

#[cfg(test)]
mod tests {
    use super::*;
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

    fn row_major(rows: &[Vec<PropEntry>]) -> Vec<u8> {
        let mut b = Vec::new();
        for r in rows {
            put_uvarint(&mut b, r.len() as u64);
            for &e in r {
                put_prop_entry(&mut b, e);
            }
        }
        b
    }

    #[test]
    fn every_row_reads_back_as_written_whole_or_by_key() {
        let mut rng = StdRng::seed_from_u64(7);
        let mut s = PropsScratch::default();
        for _ in 0..300 {
            let n = rng.gen_range(0..400);
            let rows = random_rows(&mut rng, n);
            let mut enc = Vec::new();
            encode_by_key(&row_major(&rows), n, &mut enc, &mut s).unwrap();
            let (mut off, mut ent) = (Vec::new(), Vec::new());
            decode_by_key(&enc, n, (12, 50), None, (&mut off, &mut ent), &mut s).unwrap();
            assert_eq!(off.len(), n + 1);
            for (i, r) in rows.iter().enumerate() {
                assert_eq!(&ent[off[i] as usize..off[i + 1] as usize], &r[..]);
            }
            // Some keys: each row's entries of those keys, in the row's order.
            let want: Vec<bool> = (0..12).map(|_| rng.gen_bool(0.4)).collect();
            decode_by_key(&enc, n, (12, 50), Some(&want), (&mut off, &mut ent), &mut s).unwrap();
            for (i, r) in rows.iter().enumerate() {
                let kept: Vec<PropEntry> =
                    r.iter().copied().filter(|e| want[e.key as usize]).collect();
                assert_eq!(&ent[off[i] as usize..off[i + 1] as usize], &kept[..]);
            }
            let mut back = Vec::new();
            by_key_to_rows(&enc, n, (12, 50), &mut back, &mut s).unwrap();
            assert_eq!(back, row_major(&rows));
        }
    }

    #[test]
    fn damaged_chunks_are_errors_never_panics() {
        let mut rng = StdRng::seed_from_u64(11);
        let mut s = PropsScratch::default();
        let (mut off, mut ent) = (Vec::new(), Vec::new());
        for _ in 0..300 {
            let n = rng.gen_range(1..100);
            let rows = random_rows(&mut rng, n);
            let mut enc = Vec::new();
            encode_by_key(&row_major(&rows), n, &mut enc, &mut s).unwrap();
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
            if decode_by_key(&bad, n, (12, 50), None, (&mut off, &mut ent), &mut s).is_ok() {
                assert_eq!(off.len(), n + 1);
                assert_eq!(*off.last().unwrap() as usize, ent.len());
            }
        }
        // Too few rows for the entries.
        let rows = vec![
            vec![PropEntry {
                key: 1,
                val: PropVal::Bool(true),
            }];
            3
        ];
        let mut enc = Vec::new();
        encode_by_key(&row_major(&rows), 3, &mut enc, &mut s).unwrap();
        assert!(decode_by_key(&enc, 2, (12, 50), None, (&mut off, &mut ent), &mut s).is_err());
        assert!(decode_by_key(&enc, 3, (1, 50), None, (&mut off, &mut ent), &mut s).is_err());
    }
}
