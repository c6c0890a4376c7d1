//! Little-endian varint encoding and a bounds-checked cursor: bytes read from disk can
//! produce an error, never a panic.

use cairn_model::{Dim, Event, Identify, PropValue, Record, Revenue};

/// Decoding failed: the bytes are not what the writer wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DecodeError(pub &'static str);

pub(crate) type DResult<T> = Result<T, DecodeError>;

pub(crate) fn put_uvarint(buf: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        buf.push((v as u8) | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

pub(crate) fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

pub(crate) fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

pub(crate) fn put_ivarint(buf: &mut Vec<u8>, v: i64) {
    put_uvarint(buf, zigzag(v));
}

pub(crate) fn put_str(buf: &mut Vec<u8>, s: &str) {
    put_uvarint(buf, s.len() as u64);
    buf.extend_from_slice(s.as_bytes());
}

/// A read position in a byte slice.
pub(crate) struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Cursor { buf, pos: 0 }
    }

    /// A cursor at byte `pos` of `buf`.
    pub(crate) fn at(buf: &'a [u8], pos: usize) -> Self {
        Cursor { buf, pos }
    }

    /// The read position.
    pub(crate) fn pos(&self) -> usize {
        self.pos
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.pos >= self.buf.len()
    }

    #[inline]
    pub(crate) fn u8(&mut self) -> DResult<u8> {
        let b = *self
            .buf
            .get(self.pos)
            .ok_or(DecodeError("unexpected end"))?;
        self.pos += 1;
        Ok(b)
    }

    /// A varint. A single byte (most ids and lengths) is taken as it is. With eight bytes
    /// left, one that ends within them (up to 56 bits: every timestamp delta, id and
    /// length the writer puts) is decoded from one load, without a branch per byte;
    /// anything else takes [`Cursor::uvarint_slow`].
    #[inline(always)]
    pub(crate) fn uvarint(&mut self) -> DResult<u64> {
        if let Some(&b) = self.buf.get(self.pos)
            && b < 0x80
        {
            self.pos += 1;
            return Ok(u64::from(b));
        }
        if let Some(w) = self.buf.get(self.pos..self.pos + 8) {
            let x = u64::from_le_bytes([w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]]);
            // The high bit of each byte that ends a varint; the lowest is this one's end.
            let ends = !x & 0x8080_8080_8080_8080;
            if ends != 0 {
                let end = ends & ends.wrapping_neg();
                self.pos += (end.trailing_zeros() / 8 + 1) as usize;
                return Ok(gather(x & (end | (end - 1))));
            }
        }
        self.uvarint_slow()
    }

    /// `n` varints, each passed to `f` in order. Where the next eight bytes hold the
    /// ends of two varints, both are decoded from that one load.
    ///
    /// Decoding one varint a load made each wait for the one before it (its length, then
    /// the load of the next): a run's timestamps, two or three bytes each, were decoded
    /// at one every five nanoseconds. Two a load halves that chain; the second's bits
    /// are gathered while the next load is under way.
    #[inline]
    pub(crate) fn uvarints_each(&mut self, n: usize, mut f: impl FnMut(u64)) -> DResult<()> {
        let mut left = n;
        while left > 0 {
            let Some(w) = self.buf.get(self.pos..self.pos + 8) else {
                break;
            };
            let x = u64::from_le_bytes([w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]]);
            let ends = !x & 0x8080_8080_8080_8080;
            if ends == 0 {
                // Longer than eight bytes.
                break;
            }
            let first = ends & ends.wrapping_neg();
            let len = (first.trailing_zeros() / 8 + 1) as usize;
            f(gather(x & (first | (first - 1))));
            left -= 1;
            let rest = ends ^ first;
            if rest != 0 && left > 0 {
                // The second ends in the same eight bytes (so the first took at most
                // seven: the shift is under 64).
                let second = rest & rest.wrapping_neg();
                f(gather((x & (second | (second - 1))) >> (8 * len)));
                left -= 1;
                self.pos += (second.trailing_zeros() / 8 + 1) as usize;
            } else {
                self.pos += len;
            }
        }
        for _ in 0..left {
            f(self.uvarint()?);
        }
        Ok(())
    }

    /// A varint, one byte at a time: near the end of the buffer, longer than eight bytes,
    /// truncated or overflowing.
    #[cold]
    #[inline(never)]
    fn uvarint_slow(&mut self) -> DResult<u64> {
        let mut v: u64 = 0;
        let mut shift = 0u32;
        loop {
            let b = *self
                .buf
                .get(self.pos)
                .ok_or(DecodeError("truncated varint"))?;
            self.pos += 1;
            if shift == 63 && b > 1 {
                return Err(DecodeError("varint overflow"));
            }
            v |= u64::from(b & 0x7f) << shift;
            if b < 0x80 {
                return Ok(v);
            }
            shift += 7;
            if shift > 63 {
                return Err(DecodeError("varint overflow"));
            }
        }
    }

    /// `n` varints into `out`. When each takes one byte (every byte below 0x80: a
    /// block's run sites and most run lengths) they are copied as they are, without a
    /// branch per varint.
    pub(crate) fn uvarints_into(&mut self, n: usize, out: &mut Vec<u64>) -> DResult<()> {
        if let Some(s) = self.buf.get(self.pos..self.pos.saturating_add(n))
            && s.iter().fold(0u8, |acc, &b| acc | b) < 0x80
        {
            out.extend(s.iter().map(|&b| u64::from(b)));
            self.pos += n;
            return Ok(());
        }
        for _ in 0..n {
            out.push(self.uvarint()?);
        }
        Ok(())
    }

    #[inline]
    pub(crate) fn ivarint(&mut self) -> DResult<i64> {
        self.uvarint().map(unzigzag)
    }

    #[inline]
    pub(crate) fn len(&mut self, max: usize) -> DResult<usize> {
        let n = self.uvarint()?;
        if n > max as u64 || n as usize > self.buf.len().saturating_sub(self.pos) {
            return Err(DecodeError("length out of bounds"));
        }
        Ok(n as usize)
    }

    pub(crate) fn bytes(&mut self, n: usize) -> DResult<&'a [u8]> {
        let end = self
            .pos
            .checked_add(n)
            .ok_or(DecodeError("length overflow"))?;
        let s = self
            .buf
            .get(self.pos..end)
            .ok_or(DecodeError("unexpected end"))?;
        self.pos = end;
        Ok(s)
    }

    pub(crate) fn str(&mut self) -> DResult<&'a str> {
        let n = self.len(usize::MAX)?;
        std::str::from_utf8(self.bytes(n)?).map_err(|_| DecodeError("invalid UTF-8"))
    }

    #[inline]
    pub(crate) fn u64le(&mut self) -> DResult<u64> {
        let b = self.bytes(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }

    #[inline]
    pub(crate) fn f64le(&mut self) -> DResult<f64> {
        self.u64le().map(f64::from_bits)
    }
}

const TAG_EVENT: u8 = 0;
const TAG_IDENTIFY: u8 = 1;

/// Encodes one record (the WAL's record form).
pub(crate) fn encode_record(buf: &mut Vec<u8>, r: &Record) {
    match r {
        Record::Event(e) => {
            buf.push(TAG_EVENT);
            put_str(buf, &e.site);
            put_ivarint(buf, e.ts);
            buf.extend_from_slice(&e.visitor.to_le_bytes());
            let mut mask = 0u64;
            for d in Dim::ALL {
                if !e.dim(d).is_empty() {
                    mask |= 1 << d.index();
                }
            }
            put_uvarint(buf, mask);
            for d in Dim::ALL {
                if !e.dim(d).is_empty() {
                    put_str(buf, e.dim(d));
                }
            }
            put_uvarint(buf, e.props.len() as u64);
            for (k, v) in &e.props {
                put_str(buf, k);
                put_prop(buf, v);
            }
            match &e.revenue {
                None => buf.push(0),
                Some(r) => {
                    buf.push(1);
                    put_ivarint(buf, r.micros);
                    put_str(buf, &r.currency);
                }
            }
        }
        Record::Identify(i) => {
            buf.push(TAG_IDENTIFY);
            put_str(buf, &i.site);
            put_ivarint(buf, i.ts);
            buf.extend_from_slice(&i.visitor.to_le_bytes());
            put_str(buf, &i.user);
        }
    }
}

pub(crate) fn put_prop(buf: &mut Vec<u8>, v: &PropValue) {
    match v {
        PropValue::Str(s) => {
            buf.push(0);
            put_str(buf, s);
        }
        PropValue::Num(n) => {
            buf.push(1);
            buf.extend_from_slice(&n.to_bits().to_le_bytes());
        }
        PropValue::Bool(false) => buf.push(2),
        PropValue::Bool(true) => buf.push(3),
    }
}

pub(crate) fn get_prop(c: &mut Cursor<'_>) -> DResult<PropValue> {
    Ok(match c.u8()? {
        0 => PropValue::Str(c.str()?.to_string()),
        1 => PropValue::Num(c.f64le()?),
        2 => PropValue::Bool(false),
        3 => PropValue::Bool(true),
        _ => return Err(DecodeError("bad property tag")),
    })
}

/// Decodes one record written by [`encode_record`].
pub(crate) fn decode_record(c: &mut Cursor<'_>) -> DResult<Record> {
    match c.u8()? {
        TAG_EVENT => {
            let site = c.str()?.to_string();
            let ts = c.ivarint()?;
            let visitor = c.u64le()?;
            let mut e = Event::new(site, ts, visitor, String::new());
            let mask = c.uvarint()?;
            if mask >> Dim::ALL.len() != 0 {
                return Err(DecodeError("bad dimension mask"));
            }
            for d in Dim::ALL {
                if mask & (1 << d.index()) != 0 {
                    e.set(d, c.str()?);
                }
            }
            let n = c.len(1 << 16)?;
            for _ in 0..n {
                let k = c.str()?.to_string();
                let v = get_prop(c)?;
                e.props.push((k, v));
            }
            e.revenue = match c.u8()? {
                0 => None,
                1 => {
                    let micros = c.ivarint()?;
                    Some(Revenue {
                        micros,
                        currency: c.str()?.to_string(),
                    })
                }
                _ => return Err(DecodeError("bad revenue tag")),
            };
            Ok(Record::Event(e))
        }
        TAG_IDENTIFY => {
            let site = c.str()?.to_string();
            let ts = c.ivarint()?;
            let visitor = c.u64le()?;
            let user = c.str()?.to_string();
            Ok(Record::Identify(Identify {
                site,
                ts,
                visitor,
                user,
            }))
        }
        _ => Err(DecodeError("bad record tag")),
    }
}

/// The value of a varint's bytes (`x`, little-endian, nothing past its last byte):
/// the low seven bits of each, packed. Pairs of 7-bit groups are joined into 14 bits,
/// pairs of those into 28, then the two halves: 13 operations, where moving each of the
/// eight groups to its place took 22.
#[inline(always)]
fn gather(x: u64) -> u64 {
    let x = x & 0x7f7f_7f7f_7f7f_7f7f;
    let x = (x & 0x007f_007f_007f_007f) | (x >> 1 & 0x3f80_3f80_3f80_3f80);
    let x = (x & 0x0000_3fff_0000_3fff) | (x >> 2 & 0x0fff_c000_0fff_c000);
    (x & 0x0fff_ffff) | (x >> 4 & 0x00ff_ffff_f000_0000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_round_trip() {
        let mut b = Vec::new();
        let vals = [0u64, 1, 127, 128, 300, u32::MAX as u64, u64::MAX];
        for v in vals {
            put_uvarint(&mut b, v);
        }
        for v in [0i64, -1, 1, i64::MIN, i64::MAX] {
            put_ivarint(&mut b, v);
        }
        let mut c = Cursor::new(&b);
        for v in vals {
            assert_eq!(c.uvarint(), Ok(v));
        }
        for v in [0i64, -1, 1, i64::MIN, i64::MAX] {
            assert_eq!(c.ivarint(), Ok(v));
        }
        assert!(c.is_empty());
        assert!(Cursor::new(&[0xff; 11]).uvarint().is_err());
    }

    /// Random test inputs from `seed`, drawn as the store's other tests draw them.
    fn random(seed: u64) -> impl FnMut() -> u64 {
        use rand::{RngCore, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        move || rng.next_u64()
    }

    /// The one-load path decodes exactly what the byte-at-a-time one does, on encoded
    /// values of every length at every distance from the end, and on arbitrary bytes
    /// (non-minimal encodings, truncation, overflow).
    #[test]
    fn fast_varints_agree_with_the_byte_loop() {
        let mut next = random(1);
        for _ in 0..20_000 {
            let bits = next() % 65;
            let v = if bits == 0 { 0 } else { next() >> (64 - bits) };
            let mut b = Vec::new();
            put_uvarint(&mut b, v);
            let pad = (next() % 10) as usize;
            b.extend((0..pad).map(|_| next() as u8));
            let mut c = Cursor::new(&b);
            assert_eq!(c.uvarint(), Ok(v));
            let mut s = Cursor::new(&b);
            assert_eq!(s.uvarint_slow(), Ok(v));
            assert_eq!(c.pos, s.pos);
        }
        for _ in 0..50_000 {
            let len = (next() % 14) as usize;
            // Mostly continuation bytes, so long and overflowing varints are common.
            let b: Vec<u8> = (0..len)
                .map(|_| {
                    let r = next();
                    if r.is_multiple_of(4) {
                        r as u8 & 0x7f
                    } else {
                        r as u8 | 0x80
                    }
                })
                .collect();
            let (mut c, mut s) = (Cursor::new(&b), Cursor::new(&b));
            let (fast, slow) = (c.uvarint(), s.uvarint_slow());
            assert_eq!(fast, slow, "{b:x?}");
            if fast.is_ok() {
                assert_eq!(c.pos, s.pos);
            }
        }
    }

    /// Varints two a load decode as one at a time do: encoded values of every length
    /// (two in eight bytes or not), near the end, and arbitrary bytes (errors, and the
    /// values before them).
    #[test]
    fn varints_two_a_load_agree_with_one_at_a_time() {
        let mut next = random(2);
        for round in 0..20_000 {
            let mut b = Vec::new();
            let n = (next() % 12) as usize;
            if round % 2 == 0 {
                for _ in 0..n {
                    // Mostly short, as a run's time gaps are.
                    let bits = next() % if next().is_multiple_of(4) { 65 } else { 25 };
                    let v = if bits == 0 { 0 } else { next() >> (64 - bits) };
                    put_uvarint(&mut b, v);
                }
            } else {
                let len = (next() % 24) as usize;
                b.extend((0..len).map(|_| {
                    let r = next();
                    if r.is_multiple_of(3) {
                        r as u8 & 0x7f
                    } else {
                        r as u8 | 0x80
                    }
                }));
            }
            let want = (next() % 14) as usize;
            let mut one = Cursor::new(&b);
            let expect: Vec<DResult<u64>> = (0..want).map(|_| one.uvarint()).collect();
            let ok = expect.iter().take_while(|r| r.is_ok()).count();
            let mut got = Vec::new();
            let mut c = Cursor::new(&b);
            let r = c.uvarints_each(want, |v| got.push(v));
            let firsts: Vec<u64> = expect[..ok].iter().map(|r| *r.as_ref().unwrap()).collect();
            // The values before an error, and no more.
            assert_eq!(got, firsts, "{b:x?}");
            if ok == want {
                assert_eq!(r, Ok(()), "{b:x?}");
                assert_eq!(c.pos, one.pos);
            } else {
                assert!(r.is_err(), "{b:x?}: {want} asked, {ok} there");
            }
        }
    }

    /// Many varints at once decode as one at a time do: all one byte (copied), some
    /// longer, too few bytes, and arbitrary bytes.
    #[test]
    fn varints_at_once_agree_with_one_at_a_time() {
        let mut next = random(2);
        for _ in 0..20_000 {
            let n = (next() % 40) as usize;
            let mut b = Vec::new();
            match next() % 3 {
                0 => (0..n).for_each(|_| put_uvarint(&mut b, next() % 128)),
                1 => (0..n).for_each(|_| put_uvarint(&mut b, next() % 300)),
                _ => b.extend((0..n).map(|_| next() as u8)),
            }
            // Sometimes more varints are asked for than there are.
            let want = n + (next() % 3) as usize;
            let (mut c, mut s) = (Cursor::new(&b), Cursor::new(&b));
            let mut many = Vec::new();
            let r = c.uvarints_into(want, &mut many);
            let one: DResult<Vec<u64>> = (0..want).map(|_| s.uvarint()).collect();
            match one {
                Ok(v) => {
                    assert_eq!(r, Ok(()), "{b:x?}");
                    assert_eq!(many, v);
                    assert_eq!(c.pos, s.pos);
                }
                Err(e) => assert_eq!(r, Err(e), "{b:x?}"),
            }
        }
    }

    #[test]
    fn records_round_trip() {
        let mut e = Event::new("s.example", 1_700_000_000_123, 42, "purchase");
        e.set(Dim::Path, "/thanks").set(Dim::Country, "DE");
        e.props = vec![
            ("a".into(), PropValue::Str("x".into())),
            ("n".into(), PropValue::Num(2.5)),
            ("b".into(), PropValue::Bool(true)),
        ];
        e.revenue = Some(Revenue {
            micros: -5,
            currency: "EUR".into(),
        });
        let recs = [
            Record::Event(e),
            Record::Identify(Identify {
                site: "s".into(),
                ts: 1,
                visitor: 2,
                user: "u".into(),
            }),
        ];
        let mut b = Vec::new();
        for r in &recs {
            encode_record(&mut b, r);
        }
        let mut c = Cursor::new(&b);
        for r in &recs {
            assert_eq!(
                &decode_record(&mut c).unwrap_or_else(|e| panic!("{e:?}")),
                r
            );
        }
        // Every truncation is an error, never a panic.
        for n in 0..b.len() {
            let mut c = Cursor::new(&b[..n]);
            let _ = decode_record(&mut c).and_then(|_| decode_record(&mut c));
        }
    }
}
