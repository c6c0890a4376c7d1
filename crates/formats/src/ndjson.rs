//! NDJSON: one JSON record per line, in the form of [`Record::from_json`] /
//! [`Record::to_json`] — Cairn's import and export format.

use std::io::{BufRead, BufWriter, Read, Write};
use std::sync::OnceLock;

use cairn_model::{Dim, PropValue, Reason, Record, ValidationError, format_rfc3339_ms, limits};

use crate::error::{FormatError, Row, RowError};
use crate::fast;

/// Lines read per chunk by the iterator of [`NdjsonReader`].
pub const CHUNK_LINES: usize = 4 * 1024;
/// Bytes read per chunk at most (beyond the line that crosses it).
pub const CHUNK_BYTES: usize = 8 << 20;
/// A thread parses at least this many lines of a chunk; smaller chunks use fewer threads.
const MIN_LINES_PER_THREAD: usize = 512;

/// Parses one NDJSON line (without its line ending) into a row. `line_no` is the line's
/// 1-based number, used in the error.
///
/// The answer is exactly [`Record::from_json`]'s, but most valid lines take a fast path
/// that deserialises straight into the record (see the crate docs). Invalid UTF-8 and
/// lines over [`limits::RECORD_BYTES_MAX`] are row errors too.
pub fn parse_line(line: &[u8], line_no: u64, now_ms: i64) -> Row {
    if line.len() > limits::RECORD_BYTES_MAX {
        return Err(RowError::at_line(line_no, too_large()));
    }
    let text = match std::str::from_utf8(line) {
        Ok(t) => t,
        Err(e) => {
            return Err(RowError::at_line(
                line_no,
                ValidationError::new("record", Reason::BadJson(format!("invalid UTF-8: {e}"))),
            ));
        }
    };
    if let Some(rec) = fast::parse(text, now_ms) {
        return Ok(rec);
    }
    Record::from_json(text, now_ms).map_err(|e| RowError::at_line(line_no, e))
}

fn too_large() -> ValidationError {
    ValidationError::new(
        "record",
        Reason::RecordTooLarge {
            max: limits::RECORD_BYTES_MAX,
        },
    )
}

/// One line of a chunk.
#[derive(Debug, Clone, Copy)]
struct Span {
    line: u64,
    start: usize,
    end: usize,
    too_large: bool,
}

/// A block of NDJSON lines read by [`NdjsonReader::read_chunk`], to be parsed with
/// [`NdjsonChunk::parse`] on as many threads as you like. Blank lines are already left out.
#[derive(Debug, Default)]
pub struct NdjsonChunk {
    buf: Vec<u8>,
    lines: Vec<Span>,
}

impl NdjsonChunk {
    /// Builds a chunk from lines held elsewhere (each without its line ending), numbered
    /// from `first_line`. Blank lines count for numbering but give no row.
    pub fn from_lines<S: AsRef<[u8]>>(lines: &[S], first_line: u64) -> NdjsonChunk {
        let mut c = NdjsonChunk::default();
        for (i, l) in lines.iter().enumerate() {
            c.push(l.as_ref(), first_line + i as u64);
        }
        c
    }

    fn push(&mut self, line: &[u8], line_no: u64) {
        if is_blank(line) {
            return;
        }
        if line.len() > limits::RECORD_BYTES_MAX {
            self.push_too_large(line_no);
            return;
        }
        let start = self.buf.len();
        self.buf.extend_from_slice(line);
        self.lines.push(Span {
            line: line_no,
            start,
            end: self.buf.len(),
            too_large: false,
        });
    }

    fn push_too_large(&mut self, line_no: u64) {
        let at = self.buf.len();
        self.lines.push(Span {
            line: line_no,
            start: at,
            end: at,
            too_large: true,
        });
    }

    /// Rows (non-blank lines) in the chunk.
    pub fn len(&self) -> usize {
        self.lines.len()
    }

    /// Whether the chunk holds no row.
    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    /// Parses every line, in order, with up to `threads` threads (the calling thread is
    /// one of them). One row per non-blank line.
    pub fn parse(&self, now_ms: i64, threads: usize) -> Vec<Row> {
        let mut out = Vec::with_capacity(self.lines.len());
        self.parse_into(now_ms, threads, &mut out);
        out
    }

    /// Like [`NdjsonChunk::parse`], appending to `out` (whose capacity is reused: keep
    /// one `Vec` across chunks to spare the allocator).
    pub fn parse_into(&self, now_ms: i64, threads: usize, out: &mut Vec<Row>) {
        let start = out.len();
        out.resize_with(start + self.lines.len(), placeholder);
        let slots = &mut out[start..];
        let n = threads
            .max(1)
            .min(self.lines.len().div_ceil(MIN_LINES_PER_THREAD))
            .max(1);
        let fill = |spans: &[Span], slots: &mut [Row]| {
            for (s, slot) in spans.iter().zip(slots) {
                *slot = if s.too_large {
                    Err(RowError::at_line(s.line, too_large()))
                } else {
                    parse_line(&self.buf[s.start..s.end], s.line, now_ms)
                };
            }
        };
        if n == 1 {
            fill(&self.lines, slots);
            return;
        }
        let per = self.lines.len().div_ceil(n);
        let mut parts = self.lines.chunks(per).zip(slots.chunks_mut(per));
        let first = parts.next();
        std::thread::scope(|scope| {
            let handles: Vec<_> = parts
                .map(|(spans, slots)| scope.spawn(move || fill(spans, slots)))
                .collect();
            if let Some((spans, slots)) = first {
                fill(spans, slots);
            }
            for h in handles {
                if let Err(panic) = h.join() {
                    std::panic::resume_unwind(panic);
                }
            }
        });
    }
}

/// A row that allocates nothing, to fill slots before they are parsed into.
fn placeholder() -> Row {
    Err(RowError::at_line(
        0,
        ValidationError::new(String::new(), Reason::Missing),
    ))
}

fn is_blank(line: &[u8]) -> bool {
    line.iter().all(|b| matches!(b, b' ' | b'\t' | b'\r'))
}

/// Reads NDJSON records from a buffered reader.
///
/// As an iterator it yields `Result<Row, FormatError>`: `Ok(Ok(record))` for a good line,
/// `Ok(Err(row_error))` for a bad one (reading goes on), and `Err(_)` once for a fatal
/// I/O error, after which it ends. Lines are read with a bounded reader: a line longer than
/// [`limits::RECORD_BYTES_MAX`] costs no more memory than that and gives a
/// [`Reason::RecordTooLarge`] row error. Blank lines are skipped, `\r\n` endings and a
/// leading UTF-8 byte-order mark are accepted.
///
/// The iterator reads chunks of [`CHUNK_LINES`] lines and parses each on
/// [`NdjsonReader::with_threads`] threads (default: the machine's available parallelism),
/// keeping the file's order. [`NdjsonReader::read_chunk`] gives the chunks themselves.
pub struct NdjsonReader<R> {
    reader: R,
    now_ms: i64,
    threads: usize,
    chunk_lines: usize,
    line: u64,
    eof: bool,
    error: Option<FormatError>,
    chunk: NdjsonChunk,
    rows: Vec<Row>,
    pos: usize,
}

impl<R: BufRead> NdjsonReader<R> {
    /// A reader; `now_ms` is the receiver's clock, which bounds future timestamps.
    pub fn new(reader: R, now_ms: i64) -> NdjsonReader<R> {
        NdjsonReader {
            reader,
            now_ms,
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            chunk_lines: CHUNK_LINES,
            line: 0,
            eof: false,
            error: None,
            chunk: NdjsonChunk::default(),
            rows: Vec::new(),
            pos: 0,
        }
    }

    /// Sets how many threads the iterator parses with (at least 1).
    pub fn with_threads(mut self, threads: usize) -> NdjsonReader<R> {
        self.threads = threads.max(1);
        self
    }

    /// Sets how many lines the iterator reads and parses at a time (at least 1).
    pub fn with_chunk_lines(mut self, lines: usize) -> NdjsonReader<R> {
        self.chunk_lines = lines.max(1);
        self
    }

    /// Lines read so far.
    pub fn lines_read(&self) -> u64 {
        self.line
    }

    /// Reads up to `max_lines` non-blank lines (and at most about [`CHUNK_BYTES`]).
    /// `Ok(None)` at the end of input. An I/O error after some lines were read is returned
    /// on the next call, so the lines before it are never lost.
    pub fn read_chunk(&mut self, max_lines: usize) -> Result<Option<NdjsonChunk>, FormatError> {
        let mut chunk = NdjsonChunk::default();
        Ok(self
            .read_chunk_into(&mut chunk, max_lines)?
            .then_some(chunk))
    }

    /// Like [`NdjsonReader::read_chunk`], refilling `chunk` (its buffers are reused);
    /// false at the end of input.
    pub fn read_chunk_into(
        &mut self,
        chunk: &mut NdjsonChunk,
        max_lines: usize,
    ) -> Result<bool, FormatError> {
        chunk.buf.clear();
        chunk.lines.clear();
        if let Some(e) = self.error.take() {
            self.eof = true;
            return Err(e);
        }
        if self.eof {
            return Ok(false);
        }
        let max_lines = max_lines.max(1);
        while chunk.lines.len() < max_lines && chunk.buf.len() < CHUNK_BYTES {
            match self.read_line(chunk) {
                Ok(true) => {}
                Ok(false) => {
                    self.eof = true;
                    break;
                }
                Err(e) => {
                    if chunk.is_empty() {
                        self.eof = true;
                        return Err(e.into());
                    }
                    self.error = Some(e.into());
                    break;
                }
            }
        }
        Ok(!chunk.is_empty())
    }

    /// Reads one line into the chunk; false at end of input.
    fn read_line(&mut self, chunk: &mut NdjsonChunk) -> std::io::Result<bool> {
        let start = chunk.buf.len();
        // Content, `\r` and `\n`: anything longer is too large whatever its ending.
        let cap = limits::RECORD_BYTES_MAX as u64 + 2;
        let n = (&mut self.reader)
            .take(cap)
            .read_until(b'\n', &mut chunk.buf)?;
        if n == 0 {
            return Ok(false);
        }
        self.line += 1;
        let line_no = self.line;
        let mut end = chunk.buf.len();
        let ended = chunk.buf[end - 1] == b'\n';
        if !ended && n as u64 == cap {
            chunk.buf.truncate(start);
            self.reader.skip_until(b'\n')?;
            chunk.push_too_large(line_no);
            return Ok(true);
        }
        if ended {
            end -= 1;
            if end > start && chunk.buf[end - 1] == b'\r' {
                end -= 1;
            }
        }
        let mut begin = start;
        if line_no == 1 && chunk.buf[start..end].starts_with(b"\xEF\xBB\xBF") {
            begin += 3;
        }
        let line = &chunk.buf[begin..end];
        if is_blank(line) {
            chunk.buf.truncate(start);
        } else if line.len() > limits::RECORD_BYTES_MAX {
            chunk.buf.truncate(start);
            chunk.push_too_large(line_no);
        } else {
            chunk.buf.truncate(end);
            chunk.lines.push(Span {
                line: line_no,
                start: begin,
                end,
                too_large: false,
            });
        }
        Ok(true)
    }
}

impl<R: BufRead> Iterator for NdjsonReader<R> {
    type Item = Result<Row, FormatError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(slot) = self.rows.get_mut(self.pos) {
                self.pos += 1;
                return Some(Ok(std::mem::replace(slot, placeholder())));
            }
            self.rows.clear();
            self.pos = 0;
            let mut chunk = std::mem::take(&mut self.chunk);
            let res = self.read_chunk_into(&mut chunk, self.chunk_lines);
            if let Ok(true) = res {
                chunk.parse_into(self.now_ms, self.threads, &mut self.rows);
            }
            self.chunk = chunk;
            match res {
                Ok(true) => {}
                Ok(false) => return None,
                Err(e) => return Some(Err(e)),
            }
        }
    }
}

/// A top-level key of an event's JSON form.
#[derive(Clone, Copy)]
enum EventKey {
    Site,
    Ts,
    Visitor,
    Dim(Dim),
    Props,
    Revenue,
}

/// An event's keys in the order `Record::to_json` writes them (a sorted map's order).
fn event_keys() -> &'static [(&'static str, EventKey)] {
    static KEYS: OnceLock<Vec<(&'static str, EventKey)>> = OnceLock::new();
    KEYS.get_or_init(|| {
        let mut keys = vec![
            ("site", EventKey::Site),
            ("ts", EventKey::Ts),
            ("visitor", EventKey::Visitor),
            ("props", EventKey::Props),
            ("revenue", EventKey::Revenue),
        ];
        keys.extend(Dim::ALL.iter().map(|d| (d.as_str(), EventKey::Dim(*d))));
        keys.sort_by(|a, b| a.0.cmp(b.0));
        keys
    })
}

fn json_str<W: Write>(w: &mut W, s: &str) -> std::io::Result<()> {
    serde_json::to_writer(w, s).map_err(std::io::Error::from)
}

fn json_f64<W: Write>(w: &mut W, f: f64) -> std::io::Result<()> {
    serde_json::to_writer(w, &f).map_err(std::io::Error::from)
}

/// Writes a record's JSON form: byte for byte `serde_json::to_writer(w, &rec.to_json())`,
/// without building the `Value` tree (several times faster).
pub(crate) fn write_record_json<W: Write>(w: &mut W, rec: &Record) -> std::io::Result<()> {
    let ev = match rec {
        Record::Identify(i) => {
            w.write_all(b"{\"site\":")?;
            json_str(w, &i.site)?;
            w.write_all(b",\"ts\":\"")?;
            w.write_all(format_rfc3339_ms(i.ts).as_bytes())?;
            w.write_all(b"\",\"type\":\"identify\",\"user\":")?;
            json_str(w, &i.user)?;
            return write!(w, ",\"visitor\":\"{:016x}\"}}", i.visitor);
        }
        Record::Event(e) => e,
    };
    let mut first = true;
    for (name, key) in event_keys() {
        let present = match key {
            EventKey::Site | EventKey::Ts | EventKey::Visitor => true,
            EventKey::Dim(d) => !ev.dim(*d).is_empty(),
            EventKey::Props => !ev.props.is_empty(),
            EventKey::Revenue => ev.revenue.is_some(),
        };
        if !present {
            continue;
        }
        w.write_all(if first { b"{\"" } else { b",\"" })?;
        first = false;
        w.write_all(name.as_bytes())?;
        w.write_all(b"\":")?;
        match key {
            EventKey::Site => json_str(w, &ev.site)?,
            EventKey::Ts => {
                w.write_all(b"\"")?;
                w.write_all(format_rfc3339_ms(ev.ts).as_bytes())?;
                w.write_all(b"\"")?;
            }
            EventKey::Visitor => write!(w, "\"{:016x}\"", ev.visitor)?,
            EventKey::Dim(d) => json_str(w, ev.dim(*d))?,
            EventKey::Props => {
                // A sorted map's order; a repeated key keeps its last value.
                let mut props: Vec<&(String, PropValue)> = ev.props.iter().collect();
                props.sort_by(|a, b| a.0.cmp(&b.0));
                let mut sep = b"{";
                for (i, (k, v)) in props.iter().map(|p| (&p.0, &p.1)).enumerate() {
                    if props.get(i + 1).is_some_and(|next| next.0 == *k) {
                        continue;
                    }
                    w.write_all(sep)?;
                    sep = b",";
                    json_str(w, k)?;
                    w.write_all(b":")?;
                    match v {
                        PropValue::Str(s) => json_str(w, s)?,
                        PropValue::Num(n) => json_f64(w, *n)?,
                        PropValue::Bool(b) => w.write_all(if *b { b"true" } else { b"false" })?,
                    }
                }
                w.write_all(b"}")?;
            }
            EventKey::Revenue => {
                if let Some(r) = &ev.revenue {
                    w.write_all(b"{\"amount\":")?;
                    json_f64(w, r.amount())?;
                    w.write_all(b",\"currency\":")?;
                    json_str(w, &r.currency)?;
                    w.write_all(b"}")?;
                }
            }
        }
    }
    w.write_all(b"}")
}

/// Writes records as NDJSON, one [`Record::to_json`] object per line, through a buffer.
///
/// The bytes are exactly those of `serde_json::to_writer(w, &record.to_json())`, written
/// without building the JSON tree.
pub struct NdjsonWriter<W: Write> {
    out: BufWriter<W>,
    written: u64,
}

impl<W: Write> NdjsonWriter<W> {
    /// A writer over `w` (buffered here; no need to pass a `BufWriter`).
    pub fn new(w: W) -> NdjsonWriter<W> {
        NdjsonWriter {
            out: BufWriter::with_capacity(1 << 16, w),
            written: 0,
        }
    }

    /// Writes one record.
    pub fn write(&mut self, rec: &Record) -> Result<(), FormatError> {
        write_record_json(&mut self.out, rec)?;
        self.out.write_all(b"\n")?;
        self.written += 1;
        Ok(())
    }

    /// Writes records in order.
    pub fn write_all(&mut self, recs: &[Record]) -> Result<(), FormatError> {
        recs.iter().try_for_each(|r| self.write(r))
    }

    /// Records written so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Flushes and returns the underlying writer.
    pub fn finish(self) -> Result<W, FormatError> {
        self.out
            .into_inner()
            .map_err(|e| FormatError::Io(e.into_error()))
    }
}
