//! ClickHouse's `RowBinary` format for the few types Cairn's tables use: written for
//! inserts, read for scans. Strings are a LEB128 length and the bytes, numbers little
//! endian, `Nullable` a null byte first, `Map` a length and the pairs.

use cairn_model::{Dim, Event, Identify, PropValue};

/// Appends a LEB128 unsigned integer.
fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    put_varint(out, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

/// Appends one event row, columns in the order of
/// [`event_column_names`](crate::schema::event_column_names).
pub fn encode_event(out: &mut Vec<u8>, e: &Event, seq: u64) {
    put_str(out, &e.site);
    out.extend_from_slice(&e.visitor.to_le_bytes());
    out.extend_from_slice(&e.ts.to_le_bytes());
    out.extend_from_slice(&seq.to_le_bytes());
    for d in Dim::ALL {
        put_str(out, e.dim(d));
    }
    let strs = e.props.iter().filter_map(|(k, v)| match v {
        PropValue::Str(s) => Some((k, s)),
        _ => None,
    });
    put_varint(out, strs.clone().count() as u64);
    for (k, s) in strs {
        put_str(out, k);
        put_str(out, s);
    }
    let nums = e.props.iter().filter_map(|(k, v)| match v {
        PropValue::Num(n) => Some((k, *n)),
        _ => None,
    });
    put_varint(out, nums.clone().count() as u64);
    for (k, n) in nums {
        put_str(out, k);
        out.extend_from_slice(&n.to_le_bytes());
    }
    let bools = e.props.iter().filter_map(|(k, v)| match v {
        PropValue::Bool(b) => Some((k, *b)),
        _ => None,
    });
    put_varint(out, bools.clone().count() as u64);
    for (k, b) in bools {
        put_str(out, k);
        out.push(b as u8);
    }
    match &e.revenue {
        Some(r) => {
            out.push(0);
            out.extend_from_slice(&r.micros.to_le_bytes());
            put_str(out, &r.currency);
        }
        None => {
            out.push(1);
            put_str(out, "");
        }
    }
}

/// Appends one identity row: site, visitor, user, ts, seq.
pub fn encode_identify(out: &mut Vec<u8>, i: &Identify, seq: u64) {
    put_str(out, &i.site);
    out.extend_from_slice(&i.visitor.to_le_bytes());
    put_str(out, &i.user);
    out.extend_from_slice(&i.ts.to_le_bytes());
    out.extend_from_slice(&seq.to_le_bytes());
}

/// The input ended inside a row.
#[derive(Debug)]
pub struct Short;

/// Reads values from a buffer of whole or partial rows.
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// A reader at the start of `buf`.
    pub fn new(buf: &'a [u8]) -> Reader<'a> {
        Reader { buf, pos: 0 }
    }

    /// Bytes read so far.
    pub fn pos(&self) -> usize {
        self.pos
    }

    /// Whether every byte has been read.
    #[cfg(test)]
    pub fn at_end(&self) -> bool {
        self.pos >= self.buf.len()
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], Short> {
        let end = self.pos.checked_add(n).ok_or(Short)?;
        let s = self.buf.get(self.pos..end).ok_or(Short)?;
        self.pos = end;
        Ok(s)
    }

    /// A LEB128 unsigned integer.
    pub fn varint(&mut self) -> Result<u64, Short> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = *self.buf.get(self.pos).ok_or(Short)?;
            self.pos += 1;
            v |= u64::from(b & 0x7f) << shift;
            if b < 0x80 {
                return Ok(v);
            }
        }
        Err(Short)
    }

    /// A `UInt64`.
    pub fn u64(&mut self) -> Result<u64, Short> {
        Ok(u64::from_le_bytes(
            self.take(8)?.try_into().expect("8 bytes"),
        ))
    }

    /// An `Int64`.
    pub fn i64(&mut self) -> Result<i64, Short> {
        Ok(i64::from_le_bytes(
            self.take(8)?.try_into().expect("8 bytes"),
        ))
    }

    /// A `Float64`.
    pub fn f64(&mut self) -> Result<f64, Short> {
        Ok(f64::from_le_bytes(
            self.take(8)?.try_into().expect("8 bytes"),
        ))
    }

    /// A `UInt8` or `Bool`.
    pub fn u8(&mut self) -> Result<u8, Short> {
        Ok(self.take(1)?[0])
    }

    /// A `String` (bytes; ClickHouse strings are not checked UTF-8).
    pub fn bytes(&mut self) -> Result<&'a [u8], Short> {
        let n = self.varint()?;
        self.take(usize::try_from(n).map_err(|_| Short)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_round_trip() {
        for v in [0u64, 1, 127, 128, 300, u32::MAX as u64, u64::MAX] {
            let mut b = Vec::new();
            put_varint(&mut b, v);
            let mut r = Reader::new(&b);
            assert_eq!(r.varint().unwrap(), v);
            assert!(r.at_end());
        }
        assert!(Reader::new(&[0x80]).varint().is_err());
    }

    #[test]
    fn strings_and_numbers_read_back_and_short_input_is_reported() {
        let mut b = Vec::new();
        put_str(&mut b, "héllo");
        b.extend_from_slice(&(-5i64).to_le_bytes());
        let mut r = Reader::new(&b);
        assert_eq!(r.bytes().unwrap(), "héllo".as_bytes());
        assert_eq!(r.i64().unwrap(), -5);
        assert!(r.at_end());
        let mut r = Reader::new(&b[..3]);
        assert!(r.bytes().is_err());
    }
}
