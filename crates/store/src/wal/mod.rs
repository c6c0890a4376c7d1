//! The write-ahead log.
//!
//! A log file is `wal/<number>.wal`: a 16-byte header (`CAIRNWAL`, format version, zero)
//! followed by frames `[len: u32 LE][crc32c(payload): u32 LE][payload]`. A frame is
//! what one `append` wrote; group commit writes many frames and fsyncs once.
//!
//! Recovery reads the files in order. A frame that is cut short or fails its checksum at
//! the end of the newest file is a torn tail (the crash hit while writing it, so it was
//! never acknowledged): it is truncated and reported. A bad frame followed by good ones,
//! or in an older file, is corruption and is reported as such.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use cairn_model::Record;

use crate::codec::{Cursor, DecodeError, decode_record, encode_record, put_str, put_uvarint};
use crate::error::{IoContext, Result, corrupted};

const MAGIC: &[u8; 8] = b"CAIRNWAL";
const VERSION: u32 = 1;
pub(crate) const HEADER_LEN: usize = 16;
const FRAME_HEADER: usize = 8;
/// Largest frame accepted on read (a sanity bound; appends are far smaller).
const FRAME_MAX: usize = 1 << 30;

const KIND_RECORDS: u8 = 1;
const KIND_ERASE: u8 = 2;

/// What to erase: every event of these visitors, and of the visitors linked to these users.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Erasure {
    /// The site.
    pub site: String,
    /// Visitor ids.
    pub visitors: Vec<u64>,
    /// User / lead ids.
    pub users: Vec<String>,
}

/// One decoded frame.
#[derive(Debug)]
pub(crate) enum Entry {
    Records(Vec<Record>),
    Erase(Erasure),
}

pub(crate) fn wal_path(dir: &Path, number: u64) -> PathBuf {
    dir.join(format!("{number:016}.wal"))
}

/// The WAL files in `dir`, by number.
pub(crate) fn list(dir: &Path) -> Result<Vec<u64>> {
    let mut out = Vec::new();
    for ent in fs::read_dir(dir).at(dir)? {
        let ent = ent.at(dir)?;
        let name = ent.file_name();
        let name = name.to_string_lossy();
        if let Some(n) = name
            .strip_suffix(".wal")
            .and_then(|s| s.parse::<u64>().ok())
        {
            out.push(n);
        }
    }
    out.sort_unstable();
    Ok(out)
}

/// Creates a new, empty, synced log file.
pub(crate) fn create(dir: &Path, number: u64) -> Result<File> {
    let path = wal_path(dir, number);
    let mut f = OpenOptions::new()
        .create_new(true)
        .append(true)
        .open(&path)
        .at(&path)?;
    let mut h = Vec::with_capacity(HEADER_LEN);
    h.extend_from_slice(MAGIC);
    h.extend_from_slice(&VERSION.to_le_bytes());
    h.extend_from_slice(&0u32.to_le_bytes());
    f.write_all(&h).at(&path)?;
    f.sync_all().at(&path)?;
    crate::fsutil::sync_dir(dir)?;
    Ok(f)
}

/// Appends the frame for a batch of records to `buf`.
pub(crate) fn frame_records(buf: &mut Vec<u8>, records: &[Record]) {
    let start = begin_frame(buf);
    buf.push(KIND_RECORDS);
    put_uvarint(buf, records.len() as u64);
    for r in records {
        encode_record(buf, r);
    }
    end_frame(buf, start);
}

/// Appends the frame for an erasure to `buf`.
pub(crate) fn frame_erase(buf: &mut Vec<u8>, e: &Erasure) {
    let start = begin_frame(buf);
    buf.push(KIND_ERASE);
    put_str(buf, &e.site);
    put_uvarint(buf, e.visitors.len() as u64);
    for v in &e.visitors {
        buf.extend_from_slice(&v.to_le_bytes());
    }
    put_uvarint(buf, e.users.len() as u64);
    for u in &e.users {
        put_str(buf, u);
    }
    end_frame(buf, start);
}

fn begin_frame(buf: &mut Vec<u8>) -> usize {
    let start = buf.len();
    buf.extend_from_slice(&[0u8; FRAME_HEADER]);
    start
}

fn end_frame(buf: &mut [u8], start: usize) {
    let payload = &buf[start + FRAME_HEADER..];
    let len = payload.len() as u32;
    let crc = crc32c::crc32c(payload);
    buf[start..start + 4].copy_from_slice(&len.to_le_bytes());
    buf[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
}

fn decode_payload(p: &[u8]) -> Result<Entry, DecodeError> {
    let mut c = Cursor::new(p);
    let entry = match c.u8()? {
        KIND_RECORDS => {
            let n = c.len(p.len())?;
            let mut v = Vec::with_capacity(n);
            for _ in 0..n {
                v.push(decode_record(&mut c)?);
            }
            Entry::Records(v)
        }
        KIND_ERASE => {
            let site = c.str()?.to_string();
            let n = c.len(p.len())?;
            let mut visitors = Vec::with_capacity(n);
            for _ in 0..n {
                visitors.push(c.u64le()?);
            }
            let n = c.len(p.len())?;
            let mut users = Vec::with_capacity(n);
            for _ in 0..n {
                users.push(c.str()?.to_string());
            }
            Entry::Erase(Erasure {
                site,
                visitors,
                users,
            })
        }
        _ => return Err(DecodeError("unknown frame kind")),
    };
    if !c.is_empty() {
        return Err(DecodeError("trailing bytes in frame"));
    }
    Ok(entry)
}

/// A torn tail found (and cut off) during recovery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TornTail {
    /// The log file.
    pub path: PathBuf,
    /// Offset where the valid log ends.
    pub offset: u64,
    /// Bytes cut off.
    pub bytes: u64,
}

/// Reads a log file. `last` says whether it is the newest one, whose torn tail is
/// truncated (and returned) rather than reported as corruption.
pub(crate) fn read(path: &Path, last: bool) -> Result<(Vec<Entry>, Option<TornTail>)> {
    let mut data = Vec::new();
    File::open(path).at(path)?.read_to_end(&mut data).at(path)?;
    if data.len() < HEADER_LEN || &data[..8] != MAGIC {
        if last && data.len() < HEADER_LEN && MAGIC.starts_with(&data[..data.len().min(8)]) {
            // Crashed while creating the file: nothing in it was ever acknowledged.
            fs::write(path, header_bytes()).at(path)?;
            let torn = TornTail {
                path: path.to_path_buf(),
                offset: 0,
                bytes: data.len() as u64,
            };
            return Ok((Vec::new(), Some(torn)));
        }
        return Err(corrupted(path, "not a Cairn log file (bad header)"));
    }
    if data[12..16] != [0; 4] {
        return Err(corrupted(
            path,
            "damaged log header (reserved bytes are not zero)",
        ));
    }
    let version = u32::from_le_bytes([data[8], data[9], data[10], data[11]]);
    if version != VERSION {
        return Err(crate::StoreError::Incompatible {
            path: path.to_path_buf(),
            found: version,
            supported: VERSION,
        });
    }
    let mut entries = Vec::new();
    let mut pos = HEADER_LEN;
    while pos < data.len() {
        match parse_frame(&data, pos) {
            Ok((entry, next)) => {
                entries.push(entry);
                pos = next;
            }
            Err(why) => {
                // Is there a good frame anywhere after this one? Then it is not a torn
                // tail but damage in the middle (a flipped length, say): refuse to cut.
                let later_good = (pos + 1..data.len()).any(|p| parse_frame(&data, p).is_ok());
                if !last || later_good {
                    return Err(corrupted(
                        path,
                        format!("bad log frame at byte {pos}: {why}"),
                    ));
                }
                let torn = TornTail {
                    path: path.to_path_buf(),
                    offset: pos as u64,
                    bytes: (data.len() - pos) as u64,
                };
                let f = OpenOptions::new().write(true).open(path).at(path)?;
                f.set_len(pos as u64).at(path)?;
                f.sync_all().at(path)?;
                return Ok((entries, Some(torn)));
            }
        }
    }
    Ok((entries, None))
}

fn header_bytes() -> Vec<u8> {
    let mut h = Vec::with_capacity(HEADER_LEN);
    h.extend_from_slice(MAGIC);
    h.extend_from_slice(&VERSION.to_le_bytes());
    h.extend_from_slice(&0u32.to_le_bytes());
    h
}

fn frame_len(data: &[u8], pos: usize) -> Option<usize> {
    let h = data.get(pos..pos + 4)?;
    let n = u32::from_le_bytes([h[0], h[1], h[2], h[3]]) as usize;
    (n <= FRAME_MAX).then_some(n)
}

fn parse_frame(data: &[u8], pos: usize) -> Result<(Entry, usize), &'static str> {
    let len = frame_len(data, pos).ok_or("frame header cut short or length out of bounds")?;
    let h = data.get(pos + 4..pos + 8).ok_or("frame header cut short")?;
    let crc = u32::from_le_bytes([h[0], h[1], h[2], h[3]]);
    let payload = data.get(pos + 8..pos + 8 + len).ok_or("frame cut short")?;
    if crc32c::crc32c(payload) != crc {
        return Err("checksum mismatch");
    }
    let entry = decode_payload(payload).map_err(|e| e.0)?;
    Ok((entry, pos + 8 + len))
}
