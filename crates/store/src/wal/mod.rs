//! The write-ahead log.
//!
//! A log file is `wal/<number>.wal`, created at its full size (sparse, so unwritten space
//! costs no disk) under a temporary name and renamed into place, so it either exists whole
//! or not at all. Its length never changes afterwards: a log file of the wrong length has
//! been truncated or extended by something other than Cairn.
//!
//! ```text
//! header (48 bytes): "CAIRNWAL" | version u32 | 0 u32 | size u64 | first seq u64
//!                    | number u64 | crc32c(bytes 0..40) u32 | 0 u32
//! frame:             "CFRM" | payload len u32 | seq u64 | group u64
//!                    | crc32c(bytes 0..24) u32 | crc32c(payload) u32 | payload | 0xA5
//! ```
//!
//! Frames are numbered without gaps across files (`seq`); `group` is the seq of the first
//! frame of the write (group commit) that carried the frame. A file other than the newest
//! ends with a *seal* frame naming the next file, written only once that file durably
//! exists: a missing newest file is then told from a file that was never created. The
//! space after the last frame is zeros.
//!
//! Reading tells a torn tail from damage for certain (see [`FileScan`]): a frame the crash
//! cut (never acknowledged: its group's fsync never returned) lies in the newest file's last
//! group and covers a sector that was never written (all zeros); any other bad frame —
//! a whole frame whose checksum fails, a frame followed by a later group, a frame in a
//! sealed file, a missing or resized file, a gap in the sequence — is corruption.

use std::fs::{self, File};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use cairn_model::Record;

use crate::codec::{Cursor, DecodeError, decode_record, encode_record, put_str, put_uvarint};
use crate::error::{IoContext, Result, StoreError, corrupted};
use crate::fs::{Fs, WriteFile};

const MAGIC: &[u8; 8] = b"CAIRNWAL";
const VERSION: u32 = 2;
pub(crate) const HEADER_LEN: usize = 48;
const FRAME_MAGIC: &[u8; 4] = b"CFRM";
const FRAME_HEADER: usize = 32;
/// The byte that ends every frame: a whole frame never ends in a zero sector.
const FRAME_END: u8 = 0xA5;
/// Frame bytes besides the payload.
const FRAME_OVERHEAD: usize = FRAME_HEADER + 1;
/// The size of a new log file; a group larger than that gets a file of its own size.
pub(crate) const FILE_SIZE: u64 = 32 << 20;
/// Room kept at the end of every file for its seal frame.
const SEAL_ROOM: u64 = (FRAME_OVERHEAD + 16) as u64;
/// The unit a disk writes atomically at the least: a torn write leaves whole sectors unwritten.
const SECTOR: usize = 512;
/// Largest frame accepted on read (a sanity bound; appends are far smaller).
const FRAME_MAX: usize = 1 << 30;

const KIND_RECORDS: u8 = 1;
const KIND_ERASE: u8 = 2;
const KIND_SEAL: u8 = 3;

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
#[derive(Debug, Clone)]
pub(crate) enum Entry {
    Records(Vec<Record>),
    Erase(Erasure),
}

impl Entry {
    /// Events and identify records in it.
    pub(crate) fn records(&self) -> u64 {
        match self {
            Entry::Records(r) => r.len() as u64,
            Entry::Erase(_) => 0,
        }
    }
}

pub(crate) fn wal_path(dir: &Path, number: u64) -> PathBuf {
    dir.join(format!("{number:016}.wal"))
}

/// The log files in `dir`, by number.
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

/// Temporary files of log creations that never finished (`<number>.wal.tmp`).
pub(crate) fn unfinished(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for ent in fs::read_dir(dir).at(dir)? {
        let ent = ent.at(dir)?;
        let name = ent.file_name();
        let name = name.to_string_lossy();
        if name
            .strip_suffix(".wal.tmp")
            .is_some_and(|s| s.parse::<u64>().is_ok())
        {
            out.push(ent.path());
        }
    }
    Ok(out)
}

fn header_bytes(size: u64, first_seq: u64, number: u64) -> [u8; HEADER_LEN] {
    let mut h = [0u8; HEADER_LEN];
    h[..8].copy_from_slice(MAGIC);
    h[8..12].copy_from_slice(&VERSION.to_le_bytes());
    h[16..24].copy_from_slice(&size.to_le_bytes());
    h[24..32].copy_from_slice(&first_seq.to_le_bytes());
    h[32..40].copy_from_slice(&number.to_le_bytes());
    let crc = crc32c::crc32c(&h[..40]);
    h[40..44].copy_from_slice(&crc.to_le_bytes());
    h
}

/// Creates log file `number` durably: full size, synced, renamed into place, directory synced.
fn create_file(
    fs: &dyn Fs,
    dir: &Path,
    number: u64,
    first_seq: u64,
    size: u64,
) -> Result<Box<dyn WriteFile>> {
    let path = wal_path(dir, number);
    let tmp = path.with_extension("wal.tmp");
    {
        let mut f = fs.create(&tmp).at(&tmp)?;
        f.write_all(&header_bytes(size, first_seq, number))
            .at(&tmp)?;
        f.set_len(size).at(&tmp)?;
        f.sync_all().at(&tmp)?;
    }
    fs.rename(&tmp, &path).at(&path)?;
    crate::fs::sync_dir(fs, dir)?;
    fs.open_write(&path).at(&path)
}

/// Appends the frame for a batch of records to `buf` (seq and group are set when written).
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

fn end_frame(buf: &mut Vec<u8>, start: usize) {
    let payload = &buf[start + FRAME_HEADER..];
    let len = payload.len() as u32;
    let crc = crc32c::crc32c(payload);
    buf[start..start + 4].copy_from_slice(FRAME_MAGIC);
    buf[start + 4..start + 8].copy_from_slice(&len.to_le_bytes());
    buf[start + 28..start + 32].copy_from_slice(&crc.to_le_bytes());
    buf.push(FRAME_END);
}

/// Sets the sequence numbers of the frames in `buf` (from `first`, all in group `first`)
/// and their header checksums. Returns the number of frames.
fn number_frames(buf: &mut [u8], first: u64) -> u64 {
    let mut pos = 0;
    let mut seq = first;
    while pos < buf.len() {
        let len = u32::from_le_bytes(buf[pos + 4..pos + 8].try_into().expect("4 bytes")) as usize;
        buf[pos + 8..pos + 16].copy_from_slice(&seq.to_le_bytes());
        buf[pos + 16..pos + 24].copy_from_slice(&first.to_le_bytes());
        let hcrc = crc32c::crc32c(&buf[pos..pos + 24]);
        buf[pos + 24..pos + 28].copy_from_slice(&hcrc.to_le_bytes());
        pos += FRAME_OVERHEAD + len;
        seq += 1;
    }
    seq - first
}

fn seal_frame(next_number: u64, seq: u64) -> Vec<u8> {
    let mut buf = Vec::new();
    let start = begin_frame(&mut buf);
    buf.push(KIND_SEAL);
    put_uvarint(&mut buf, next_number);
    end_frame(&mut buf, start);
    number_frames(&mut buf, seq);
    buf
}

/// The open newest log file: only the thread that holds it writes, syncs or rotates.
pub(crate) struct LogWriter {
    fs: Arc<dyn Fs>,
    dir: PathBuf,
    file: Box<dyn WriteFile>,
    number: u64,
    /// Where the next frame goes.
    pos: u64,
    size: u64,
    /// Seq of the next frame.
    next_seq: u64,
}

impl LogWriter {
    /// Creates log file `number` with its first frame numbered `first_seq`.
    pub(crate) fn create(
        fs: Arc<dyn Fs>,
        dir: &Path,
        number: u64,
        first_seq: u64,
    ) -> Result<LogWriter> {
        let file = create_file(&*fs, dir, number, first_seq, FILE_SIZE)?;
        Ok(LogWriter {
            fs,
            dir: dir.to_path_buf(),
            file,
            number,
            pos: HEADER_LEN as u64,
            size: FILE_SIZE,
            next_seq: first_seq,
        })
    }

    /// Goes on writing the scanned (undamaged, unsealed) file after its last frame.
    pub(crate) fn resume(fs: Arc<dyn Fs>, dir: &Path, scan: &FileScan) -> Result<LogWriter> {
        let path = wal_path(dir, scan.number);
        let file = fs.open_write(&path).at(&path)?;
        Ok(LogWriter {
            fs,
            dir: dir.to_path_buf(),
            file,
            number: scan.number,
            pos: scan.end,
            size: scan.size,
            next_seq: scan.next_seq,
        })
    }

    fn path(&self) -> PathBuf {
        wal_path(&self.dir, self.number)
    }

    /// Numbers the frames in `buf`, writes them and syncs: durable on return. Starts a
    /// new file first when they do not fit.
    pub(crate) fn write_group(&mut self, buf: &mut [u8]) -> Result<()> {
        if buf.is_empty() {
            return Ok(());
        }
        let n = number_frames(buf, self.next_seq);
        if self.pos + buf.len() as u64 + SEAL_ROOM > self.size {
            self.rotate(buf.len() as u64)?;
        }
        let path = self.path();
        self.file.write_all_at(buf, self.pos).at(&path)?;
        self.file.sync_data().at(&path)?;
        self.pos += buf.len() as u64;
        self.next_seq += n;
        Ok(())
    }

    /// Goes on in a new file after a failed write, leaving the current one as it is
    /// (unsealed: the caller retires it). Returns the new file's number.
    pub(crate) fn restart(&mut self) -> Result<u64> {
        let next = self.number + 1;
        self.file = create_file(&*self.fs, &self.dir, next, self.next_seq, FILE_SIZE)?;
        self.number = next;
        self.pos = HEADER_LEN as u64;
        self.size = FILE_SIZE;
        Ok(next)
    }

    /// Creates the next file (with room for `need` bytes of frames), then seals this one.
    /// Returns the new file's number.
    pub(crate) fn rotate(&mut self, need: u64) -> Result<u64> {
        let next = self.number + 1;
        let size = FILE_SIZE.max(HEADER_LEN as u64 + need + SEAL_ROOM);
        let file = create_file(&*self.fs, &self.dir, next, self.next_seq, size)?;
        let seal = seal_frame(next, self.next_seq);
        let path = self.path();
        self.file.write_all_at(&seal, self.pos).at(&path)?;
        self.file.sync_data().at(&path)?;
        self.file = file;
        self.number = next;
        self.pos = HEADER_LEN as u64;
        self.size = size;
        Ok(next)
    }
}

/// Writes an empty log file `number` (for a new store or a snapshot).
pub(crate) fn create_empty(fs: &dyn Fs, dir: &Path, number: u64) -> Result<()> {
    create_file(fs, dir, number, 0, FILE_SIZE).map(drop)
}

/// A bad frame found while reading a log file.
#[derive(Debug, Clone)]
pub(crate) struct Damage {
    /// Where the bad frame starts.
    pub offset: u64,
    /// What is wrong.
    pub why: String,
    /// The seq the bad frame should have had.
    pub seq: u64,
    /// Whether it may be a torn tail: it covers a never-written (all-zero) sector, and no
    /// frame of a later group follows it. Only the newest file may have one.
    pub torn: bool,
    /// Where the last non-zero byte after `offset` ends.
    pub dirty_end: u64,
    /// Good frames after the damage (seq and entry), for an explicit repair.
    pub after: Vec<(u64, Entry)>,
}

/// A log file as read, without changing it.
#[derive(Debug)]
pub(crate) struct FileScan {
    pub number: u64,
    pub size: u64,
    pub first_seq: u64,
    /// The good frames, in order, up to the first damage (seq and entry).
    pub frames: Vec<(u64, Entry)>,
    /// Where the good frames end.
    pub end: u64,
    /// Seq of the frame after the good ones.
    pub next_seq: u64,
    /// The number of the next file, when this one is sealed.
    pub sealed: Option<u64>,
    /// Where the seal frame starts, when there is one.
    pub seal_at: Option<u64>,
    pub damage: Option<Damage>,
    /// Set when the file's length is not the one it was created with.
    pub resized: Option<String>,
}

impl FileScan {
    /// Whether the file holds anything: frames, a seal or damage.
    pub(crate) fn is_empty(&self) -> bool {
        self.frames.is_empty()
            && self.sealed.is_none()
            && self.damage.is_none()
            && self.resized.is_none()
    }
}

/// Reads log file `number` in `dir`. A damaged header or a wrong number is an error; a
/// wrong length is reported in [`FileScan::resized`], a bad frame in [`FileScan::damage`].
pub(crate) fn scan(dir: &Path, number: u64) -> Result<FileScan> {
    let path = wal_path(dir, number);
    let (data, file_len) = read_written(&path)?;
    if data.len() < HEADER_LEN || &data[..8] != MAGIC {
        return Err(corrupted(&path, "not a Cairn log file (bad header)"));
    }
    let word = |at: usize| u32::from_le_bytes(data[at..at + 4].try_into().expect("4 bytes"));
    let long = |at: usize| u64::from_le_bytes(data[at..at + 8].try_into().expect("8 bytes"));
    let version = word(8);
    if version != VERSION {
        return Err(StoreError::Incompatible {
            path,
            found: version,
            supported: VERSION,
        });
    }
    if crc32c::crc32c(&data[..40]) != word(40) || word(12) != 0 || word(44) != 0 {
        return Err(corrupted(&path, "damaged log header (checksum mismatch)"));
    }
    let (size, first_seq, own) = (long(16), long(24), long(32));
    if own != number {
        return Err(corrupted(
            &path,
            format!("the file is log {own}, not log {number} (copied or renamed)"),
        ));
    }
    let resized = (size != file_len).then(|| {
        format!(
            "the file is {file_len} bytes long but was created with {size}: truncated or extended"
        )
    });
    let mut out = FileScan {
        number,
        size,
        first_seq,
        frames: Vec::new(),
        end: HEADER_LEN as u64,
        next_seq: first_seq,
        sealed: None,
        seal_at: None,
        damage: None,
        resized,
    };
    let mut pos = HEADER_LEN;
    loop {
        let tail = &data[pos..];
        if tail.iter().all(|&b| b == 0) {
            break;
        }
        if out.sealed.is_some() {
            out.damage = Some(damage(&data, pos, out.next_seq, "data after the seal"));
            break;
        }
        match parse_frame(&data, pos) {
            Ok(f) if f.seq != out.next_seq => {
                let why = format!("frame {} where frame {} belongs", f.seq, out.next_seq);
                out.damage = Some(damage(&data, pos, out.next_seq, &why));
                break;
            }
            Ok(f) => {
                let at = pos as u64;
                pos = f.end;
                out.end = f.end as u64;
                match f.entry {
                    Parsed::Seal(next) => {
                        out.sealed = Some(next);
                        out.seal_at = Some(at);
                    }
                    Parsed::Entry(e) => {
                        out.frames.push((f.seq, e));
                        out.next_seq += 1;
                    }
                }
            }
            Err(why) => {
                out.damage = Some(damage(&data, pos, out.next_seq, why));
                break;
            }
        }
    }
    Ok(out)
}

/// Whether every byte is zero, 64 bytes at a time.
fn all_zero(b: &[u8]) -> bool {
    let mut blocks = b.chunks_exact(64);
    blocks.by_ref().all(|c| {
        c.chunks_exact(8).fold(0u64, |acc, w| {
            acc | u64::from_le_bytes(w.try_into().expect("8 bytes"))
        }) == 0
    }) && blocks.remainder().iter().all(|&x| x == 0)
}

/// Reads a log file without its unwritten end: the bytes up to the last sector holding
/// anything but zeros, then one sector of zeros (cut at the file's end), and the file's
/// length. Log files are created at their full size (32 MiB) and are mostly unwritten
/// holes: reading them whole made opening a store hold tens of MiB it never needed. The
/// scan sees the same bytes as in the whole file wherever a frame can be, and the sector
/// of zeros after the last written one (see [`damage`]).
fn read_written(path: &Path) -> Result<(Vec<u8>, u64)> {
    const CHUNK: usize = 64 << 10;
    let mut f = File::open(path).at(path)?;
    let mut data = Vec::new();
    let mut chunk = vec![0u8; CHUNK];
    // Zero bytes read but not yet appended: appended only when more data follows.
    let mut zeros = 0u64;
    let mut len = 0u64;
    loop {
        let mut n = 0;
        while n < CHUNK {
            match f.read(&mut chunk[n..]).at(path)? {
                0 => break,
                k => n += k,
            }
        }
        if n == 0 {
            break;
        }
        len += n as u64;
        let got = &chunk[..n];
        // Most of a log is its zero padding: test a chunk for zeros a word at a time
        // before looking for its last byte of data (a byte at a time, that was most of
        // the time it takes to open a store).
        let last = if all_zero(got) {
            None
        } else {
            got.iter().rposition(|&b| b != 0)
        };
        match last {
            None => zeros += n as u64,
            Some(last) => {
                data.resize(data.len() + zeros as usize, 0);
                zeros = 0;
                // Trailing zeros of the chunk wait too.
                data.extend_from_slice(&got[..=last]);
                zeros += (n - last - 1) as u64;
            }
        }
        if n < CHUNK {
            break;
        }
    }
    // Up to the end of the last written sector, and one sector more.
    let pad = (SECTOR - data.len() % SECTOR) % SECTOR + SECTOR;
    data.resize(data.len() + zeros.min(pad as u64) as usize, 0);
    Ok((data, len))
}

enum Parsed {
    Entry(Entry),
    Seal(u64),
}

struct Frame {
    seq: u64,
    group: u64,
    entry: Parsed,
    end: usize,
}

/// The frame header at `pos`: (payload length, seq, group), when whole and checked.
fn frame_header(data: &[u8], pos: usize) -> Option<(usize, u64, u64)> {
    let h = data.get(pos..pos + FRAME_HEADER)?;
    if &h[..4] != FRAME_MAGIC
        || crc32c::crc32c(&h[..24]) != u32::from_le_bytes(h[24..28].try_into().ok()?)
    {
        return None;
    }
    let len = u32::from_le_bytes(h[4..8].try_into().ok()?) as usize;
    let seq = u64::from_le_bytes(h[8..16].try_into().ok()?);
    let group = u64::from_le_bytes(h[16..24].try_into().ok()?);
    (len <= FRAME_MAX).then_some((len, seq, group))
}

fn parse_frame(data: &[u8], pos: usize) -> Result<Frame, &'static str> {
    let (len, seq, group) = frame_header(data, pos).ok_or("bad frame header")?;
    let end = pos + FRAME_OVERHEAD + len;
    if end > data.len() {
        return Err("frame runs past the end of the file");
    }
    let crc = u32::from_le_bytes(data[pos + 28..pos + 32].try_into().expect("4 bytes"));
    let payload = &data[pos + FRAME_HEADER..end - 1];
    if crc32c::crc32c(payload) != crc || data[end - 1] != FRAME_END {
        return Err("checksum mismatch");
    }
    let entry = decode_payload(payload).map_err(|e| e.0)?;
    Ok(Frame {
        seq,
        group,
        entry,
        end,
    })
}

/// Describes the bad frame at `pos` (which should have been frame `seq`).
fn damage(data: &[u8], pos: usize, seq: u64, why: &str) -> Damage {
    // The bytes the bad frame covers: its whole extent when its header is good.
    let extent = match frame_header(data, pos) {
        Some((len, _, _)) => (pos + FRAME_OVERHEAD + len).min(data.len()),
        None => (pos + FRAME_HEADER).min(data.len()),
    };
    // A sector the write never reached reads as zeros. The part of a sector before `pos`
    // may hold an earlier, synced write, so only the frame's own bytes in each sector are
    // looked at: a whole frame has none that are all zero (it starts with its magic, ends
    // with FRAME_END, and a middle sector of a payload is never 512 zeros).
    let first = pos / SECTOR * SECTOR;
    let unwritten = (first..extent).step_by(SECTOR).any(|s| {
        let (a, b) = (s.max(pos), (s + SECTOR).min(extent));
        a < b && data[a..b].iter().all(|&x| x == 0)
    });
    // Good frames further on, found by their magic and checked headers: bounded work
    // (a memmem search), never a full parse at every byte.
    let mut after = Vec::new();
    let mut later_group = false;
    let mut at = pos + 1;
    let finder = memchr::memmem::Finder::new(FRAME_MAGIC);
    while let Some(i) = finder.find(&data[at..]) {
        let p = at + i;
        match parse_frame(data, p) {
            Ok(f) => {
                later_group |= f.group > seq;
                if let Parsed::Entry(e) = f.entry {
                    after.push((f.seq, e));
                }
                at = f.end;
            }
            Err(_) => at = p + 1,
        }
    }
    let dirty_end = data
        .iter()
        .rposition(|&b| b != 0)
        .map_or(pos, |i| i + 1)
        .max(pos);
    Damage {
        offset: pos as u64,
        why: why.to_string(),
        seq,
        torn: unwritten && !later_group,
        dirty_end: dirty_end as u64,
        after,
    }
}

/// Zeroes `[from, to)` of log file `number` and syncs: cuts a torn tail, keeping the
/// file's length.
pub(crate) fn zero(fs: &dyn Fs, dir: &Path, number: u64, from: u64, to: u64) -> Result<()> {
    let path = wal_path(dir, number);
    let mut f = fs.open_write(&path).at(&path)?;
    let zeros = vec![0u8; (to.saturating_sub(from)) as usize];
    f.write_all_at(&zeros, from).at(&path)?;
    f.sync_data().at(&path)
}

fn decode_payload(p: &[u8]) -> Result<Parsed, DecodeError> {
    let mut c = Cursor::new(p);
    let entry = match c.u8()? {
        KIND_RECORDS => {
            let n = c.len(p.len())?;
            let mut v = Vec::with_capacity(n);
            for _ in 0..n {
                v.push(decode_record(&mut c)?);
            }
            Parsed::Entry(Entry::Records(v))
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
            Parsed::Entry(Entry::Erase(Erasure {
                site,
                visitors,
                users,
            }))
        }
        KIND_SEAL => Parsed::Seal(c.uvarint()?),
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
    /// Bytes cut off (zeroed).
    pub bytes: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::StdFs;
    use cairn_model::Event;

    #[test]
    fn all_zero_finds_any_byte_set() {
        for len in [0usize, 1, 7, 63, 64, 65, 200, 4096] {
            let mut b = vec![0u8; len];
            assert!(all_zero(&b));
            for at in 0..len {
                b[at] = 1 << (at % 8);
                assert!(!all_zero(&b), "len {len}, byte {at}");
                b[at] = 0;
            }
        }
    }

    fn records(n: usize, tag: i64) -> Vec<Record> {
        (0..n)
            .map(|i| {
                Record::Event(Event::new(
                    "s.example",
                    tag * 1000 + i as i64,
                    7,
                    "pageview",
                ))
            })
            .collect()
    }

    fn group(batches: &[Vec<Record>]) -> Vec<u8> {
        let mut buf = Vec::new();
        for b in batches {
            frame_records(&mut buf, b);
        }
        buf
    }

    #[test]
    fn frames_round_trip_across_a_rotation() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = LogWriter::create(Arc::new(StdFs), dir.path(), 0, 0).unwrap();
        w.write_group(&mut group(&[records(3, 1), records(2, 2)]))
            .unwrap();
        assert_eq!(w.rotate(0).unwrap(), 1);
        w.write_group(&mut group(&[records(1, 3)])).unwrap();
        let a = scan(dir.path(), 0).unwrap();
        assert_eq!(a.frames.len(), 2);
        assert_eq!(a.sealed, Some(1));
        assert!(a.damage.is_none());
        let b = scan(dir.path(), 1).unwrap();
        assert_eq!((b.first_seq, b.next_seq, b.frames.len()), (2, 3, 1));
        assert_eq!(b.sealed, None);
    }

    #[test]
    fn a_cut_write_is_torn_and_a_flipped_byte_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = LogWriter::create(Arc::new(StdFs), dir.path(), 0, 0).unwrap();
        w.write_group(&mut group(&[records(50, 1)])).unwrap();
        let end = w.pos;
        w.write_group(&mut group(&[records(50, 2), records(50, 3)]))
            .unwrap();
        let path = wal_path(dir.path(), 0);
        let pristine = fs::read(&path).unwrap();
        // The second group's last sector never reached the disk.
        let mut torn = pristine.clone();
        let last = pristine.iter().rposition(|&b| b != 0).unwrap();
        let frame = memchr::memmem::rfind(&pristine, FRAME_MAGIC).unwrap();
        torn[(last / SECTOR * SECTOR).max(frame)..=last].fill(0);
        fs::write(&path, &torn).unwrap();
        let d = scan(dir.path(), 0).unwrap().damage.unwrap();
        assert!(d.torn, "{d:?}");
        assert!(d.offset >= end);
        // One flipped byte in the last, whole frame: corruption.
        let mut flipped = pristine.clone();
        flipped[last - 40] ^= 0x10;
        fs::write(&path, &flipped).unwrap();
        let d = scan(dir.path(), 0).unwrap().damage.unwrap();
        assert!(!d.torn, "{d:?}");
        // A flipped byte in the first group, followed by the second: corruption.
        let mut early = pristine.clone();
        early[HEADER_LEN + 40] ^= 0x01;
        fs::write(&path, &early).unwrap();
        let d = scan(dir.path(), 0).unwrap().damage.unwrap();
        assert!(!d.torn, "{d:?}");
        assert_eq!(d.after.len(), 2);
        // Truncation: a wrong length.
        fs::write(&path, &pristine[..pristine.len() / 2]).unwrap();
        assert!(scan(dir.path(), 0).unwrap().resized.is_some());
    }
}
