//! Parquet export and import (arrow-rs), in a schema DuckDB, pandas and warehouses read
//! as is.

use std::collections::VecDeque;
use std::io::Write;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

use arrow::array::{
    Array, ArrayRef, AsArray, Float64Array, Float64Builder, Int32Array, Int64Array, RecordBatch,
    StringArray, StringBuilder, StringDictionaryBuilder, TimestampMillisecondBuilder, UInt64Array,
    UInt64Builder,
};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Field, Int32Type, Schema, SchemaRef, TimeUnit};
use cairn_model::{
    Dim, Event, EventChunk, Identify, PropValue, Reason, Record, Revenue, ValidationError, limits,
    parse_visitor_id,
};
use parquet::arrow::ArrowWriter;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReader,
    ParquetRecordBatchReaderBuilder,
};
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use parquet::file::reader::ChunkReader;
use serde_json::{Map, Value};

use crate::error::{FormatError, Row, RowError};
use crate::fast::dim_of;

mod chunk;

/// Rows per row group written (about a million).
pub const PARQUET_ROW_GROUP_ROWS: usize = 1 << 20;
/// Records buffered before they are handed to the Parquet writer as one Arrow batch.
const BATCH_ROWS: usize = 64 * 1024;
/// Rows per batch decoded when reading.
const READ_BATCH_ROWS: usize = 8 * 1024;

/// The Arrow schema of Cairn's Parquet export:
///
/// | column | type | |
/// | --- | --- | --- |
/// | `site` | Dictionary(Int32, Utf8) | not null |
/// | `ts` | Timestamp(Millisecond, "UTC") | not null |
/// | `visitor` | UInt64 | not null |
/// | `type` | Utf8 | `event` or `identify` |
/// | `name`, `user`, `host`, … `language` | Utf8 | one per [`Dim`], in [`Dim::ALL`] order; null when unset; `user` is the identify record's user |
/// | `props` | Utf8 | a JSON object (`{"plan":"pro","seats":3,"trial":false}`), null when there are none |
/// | `revenue_amount` | Float64 | in currency units, null without revenue |
/// | `revenue_currency` | Utf8 | ISO 4217, null without revenue |
///
/// Properties are a JSON text column rather than a `Map`: DuckDB (`props->>'plan'`),
/// pandas (`json.loads`) and warehouses read it without nested-type support, and it keeps
/// each value's type (string, number, boolean).
pub fn parquet_schema() -> SchemaRef {
    let mut fields = vec![
        Field::new(
            "site",
            DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8)),
            false,
        ),
        Field::new(
            "ts",
            DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
            false,
        ),
        Field::new("visitor", DataType::UInt64, false),
        Field::new("type", DataType::Utf8, false),
    ];
    fields.extend(
        Dim::ALL
            .iter()
            .map(|d| Field::new(d.as_str(), DataType::Utf8, true)),
    );
    fields.extend([
        Field::new("props", DataType::Utf8, true),
        Field::new("revenue_amount", DataType::Float64, true),
        Field::new("revenue_currency", DataType::Utf8, true),
    ]);
    Arc::new(Schema::new(fields))
}

/// Options of [`ParquetWriter`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParquetOptions {
    /// Rows per row group (default [`PARQUET_ROW_GROUP_ROWS`]).
    pub row_group_rows: usize,
    /// zstd level, 1 to 22 (default 3).
    pub zstd_level: i32,
}

impl Default for ParquetOptions {
    fn default() -> ParquetOptions {
        ParquetOptions {
            row_group_rows: PARQUET_ROW_GROUP_ROWS,
            zstd_level: 3,
        }
    }
}

struct Builders {
    site: StringDictionaryBuilder<Int32Type>,
    ts: TimestampMillisecondBuilder,
    visitor: UInt64Builder,
    kind: StringBuilder,
    dims: Vec<StringBuilder>,
    props: StringBuilder,
    amount: Float64Builder,
    currency: StringBuilder,
    len: usize,
    json: Vec<u8>,
}

impl Builders {
    fn new() -> Builders {
        Builders {
            site: StringDictionaryBuilder::new(),
            ts: TimestampMillisecondBuilder::new(),
            visitor: UInt64Builder::new(),
            kind: StringBuilder::new(),
            dims: Dim::ALL.iter().map(|_| StringBuilder::new()).collect(),
            props: StringBuilder::new(),
            amount: Float64Builder::new(),
            currency: StringBuilder::new(),
            len: 0,
            json: Vec::new(),
        }
    }

    fn push(&mut self, rec: &Record) -> Result<(), FormatError> {
        match rec {
            Record::Event(e) => {
                self.site.append_value(&e.site);
                self.ts.append_value(e.ts);
                self.visitor.append_value(e.visitor);
                self.kind.append_value("event");
                for (b, v) in self.dims.iter_mut().zip(&e.dims) {
                    if v.is_empty() {
                        b.append_null();
                    } else {
                        b.append_value(v);
                    }
                }
                if e.props.is_empty() {
                    self.props.append_null();
                } else {
                    props_json(&e.props, &mut self.json)?;
                    let s = std::str::from_utf8(&self.json).map_err(std::io::Error::other)?;
                    self.props.append_value(s);
                }
                match &e.revenue {
                    Some(r) => {
                        self.amount.append_value(r.amount());
                        self.currency.append_value(&r.currency);
                    }
                    None => {
                        self.amount.append_null();
                        self.currency.append_null();
                    }
                }
            }
            Record::Identify(i) => {
                self.site.append_value(&i.site);
                self.ts.append_value(i.ts);
                self.visitor.append_value(i.visitor);
                self.kind.append_value("identify");
                for (d, b) in Dim::ALL.iter().zip(self.dims.iter_mut()) {
                    if *d == Dim::User {
                        b.append_value(&i.user);
                    } else {
                        b.append_null();
                    }
                }
                self.props.append_null();
                self.amount.append_null();
                self.currency.append_null();
            }
        }
        self.len += 1;
        Ok(())
    }

    fn finish(&mut self, schema: &SchemaRef) -> Result<RecordBatch, FormatError> {
        let mut cols: Vec<ArrayRef> = vec![
            Arc::new(self.site.finish()),
            Arc::new(self.ts.finish().with_timezone("UTC")),
            Arc::new(self.visitor.finish()),
            Arc::new(self.kind.finish()),
        ];
        cols.extend(
            self.dims
                .iter_mut()
                .map(|b| Arc::new(b.finish()) as ArrayRef),
        );
        cols.push(Arc::new(self.props.finish()));
        cols.push(Arc::new(self.amount.finish()));
        cols.push(Arc::new(self.currency.finish()));
        self.len = 0;
        Ok(RecordBatch::try_new(schema.clone(), cols)?)
    }
}

/// Writes properties as one JSON object.
fn props_json(props: &[(String, PropValue)], out: &mut Vec<u8>) -> Result<(), FormatError> {
    let io = |e: serde_json::Error| FormatError::Io(e.into());
    out.clear();
    out.push(b'{');
    for (i, (k, v)) in props.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        serde_json::to_writer(&mut *out, k).map_err(io)?;
        out.push(b':');
        match v {
            PropValue::Str(s) => serde_json::to_writer(&mut *out, s).map_err(io)?,
            PropValue::Num(n) => serde_json::to_writer(&mut *out, n).map_err(io)?,
            PropValue::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        }
    }
    out.push(b'}');
    Ok(())
}

/// Writes records as zstd-compressed Parquet in the schema of [`parquet_schema`], with
/// row groups of about a million rows. Records are buffered and handed to
/// [`ArrowWriter`] in batches; call [`ParquetWriter::finish`] to write the footer.
pub struct ParquetWriter<W: Write + Send> {
    writer: ArrowWriter<W>,
    schema: SchemaRef,
    builders: Builders,
    written: u64,
}

impl<W: Write + Send> ParquetWriter<W> {
    /// A writer with the default options.
    pub fn new(w: W) -> Result<ParquetWriter<W>, FormatError> {
        ParquetWriter::with_options(w, ParquetOptions::default())
    }

    /// A writer with other row group size or zstd level.
    pub fn with_options(w: W, options: ParquetOptions) -> Result<ParquetWriter<W>, FormatError> {
        let schema = parquet_schema();
        let props = WriterProperties::builder()
            .set_compression(Compression::ZSTD(ZstdLevel::try_new(options.zstd_level)?))
            .set_max_row_group_row_count(Some(options.row_group_rows.max(1)))
            .set_created_by(format!("cairn {}", env!("CARGO_PKG_VERSION")))
            .build();
        let writer = ArrowWriter::try_new(w, schema.clone(), Some(props))?;
        Ok(ParquetWriter {
            writer,
            schema,
            builders: Builders::new(),
            written: 0,
        })
    }

    /// Writes records (buffered: they reach the file in batches and row groups).
    pub fn write(&mut self, recs: &[Record]) -> Result<(), FormatError> {
        for r in recs {
            self.write_record(r)?;
        }
        Ok(())
    }

    /// Writes one record.
    pub fn write_record(&mut self, rec: &Record) -> Result<(), FormatError> {
        self.builders.push(rec)?;
        self.written += 1;
        if self.builders.len >= BATCH_ROWS {
            self.flush_batch()?;
        }
        Ok(())
    }

    fn flush_batch(&mut self) -> Result<(), FormatError> {
        if self.builders.len > 0 {
            let batch = self.builders.finish(&self.schema)?;
            self.writer.write(&batch)?;
        }
        Ok(())
    }

    /// Records written so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Writes what is buffered and the footer; returns the underlying writer.
    pub fn finish(mut self) -> Result<W, FormatError> {
        self.flush_batch()?;
        Ok(self.writer.into_inner()?)
    }
}

/// Options of [`ParquetReader`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ParquetReadOptions {
    /// Drop columns that are not Cairn fields, rather than refuse the file.
    pub ignore_unknown_columns: bool,
}

/// How a column is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Str,
    Ts,
    Visitor,
    Amount,
}

fn kind_of(name: &str) -> Option<Kind> {
    match name {
        "ts" => Some(Kind::Ts),
        "visitor" => Some(Kind::Visitor),
        "revenue_amount" => Some(Kind::Amount),
        "site" | "type" | "url" | "props" | "revenue_currency" => Some(Kind::Str),
        n => dim_of(n).map(|_| Kind::Str),
    }
}

fn is_string(dt: &DataType) -> bool {
    match dt {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => true,
        DataType::Dictionary(_, v) => is_string(v),
        _ => false,
    }
}

fn check_type(name: &str, kind: Kind, dt: &DataType) -> Result<(), FormatError> {
    let ok = is_string(dt)
        || match kind {
            Kind::Str => false,
            Kind::Ts => matches!(
                dt,
                DataType::Timestamp(..)
                    | DataType::Date32
                    | DataType::Date64
                    | DataType::Int8
                    | DataType::Int16
                    | DataType::Int32
                    | DataType::Int64
                    | DataType::UInt8
                    | DataType::UInt16
                    | DataType::UInt32
                    | DataType::UInt64
            ),
            Kind::Visitor => dt.is_integer(),
            Kind::Amount => dt.is_numeric(),
        };
    if ok {
        return Ok(());
    }
    let expected = match kind {
        Kind::Str => "a string column",
        Kind::Ts => "a timestamp, date, integer (milliseconds) or RFC 3339 string column",
        Kind::Visitor => "an integer or string column",
        Kind::Amount => "a numeric or string column",
    };
    Err(FormatError::Schema {
        column: name.to_string(),
        message: format!("has type {dt}, expected {expected}"),
    })
}

/// Reads records from a Parquet file: Cairn's own export ([`parquet_schema`]), or any
/// file with columns of those names in compatible types.
///
/// * `site`, `ts` and `visitor` are required; every other column may be absent.
/// * `ts` may be a timestamp of any unit and time zone, a date, integer milliseconds or an
///   RFC 3339 string; `visitor` an unsigned or signed integer or a string (hashed unless
///   16 hex digits, as in JSON); string columns may be Utf8, LargeUtf8, Utf8View or
///   dictionary-encoded; `revenue_amount` any numeric type; `props` a JSON object string;
///   a `url` column is split as in JSON.
/// * Other columns are refused ([`FormatError::Schema`]) unless
///   [`ParquetReadOptions::ignore_unknown_columns`].
///
/// Each row goes through the same validation as a JSON record (null is unset); a bad row
/// gives a [`RowError`] with its 1-based row number and column, and reading goes on.
/// A corrupt or truncated file gives a [`FormatError`].
pub struct ParquetReader {
    batches: ParquetRecordBatchReader,
    now_ms: i64,
    num_rows: u64,
    /// Rows decoded so far (the next batch's first row is this + 1).
    decoded: u64,
    /// What comes next, in file order: rows, or the error that ends the file.
    ready: VecDeque<Ready>,
    /// The thread converting every other batch, and whether the batch sent to it last
    /// is still to be received (it comes before everything decoded since).
    helper: Option<Helper>,
    pending: bool,
    /// Batches become chunks where they can ([`ParquetReader::pieces`]).
    chunked: bool,
    /// No batch is left to decode (the end, or an error).
    ended: bool,
}

enum Ready {
    Pieces(std::vec::IntoIter<Piece>),
    Fatal(FormatError),
}

/// What [`ParquetReader::pieces`] yields: one row, or a chunk of consecutive rows.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)] // rows dominate; boxing them would cost an allocation each
pub enum Piece {
    /// One row.
    Row(Row),
    /// Consecutive rows.
    Chunk(Chunk),
}

/// Consecutive rows of a file: the good ones as an [`EventChunk`] (with the records it
/// could not hold as rows between them), the bad ones as errors.
#[derive(Debug)]
pub struct Chunk {
    /// The good rows, in file order.
    pub events: EventChunk,
    /// The bad rows, in file order.
    pub bad: Vec<RowError>,
}

impl Chunk {
    /// Rows of the file it covers.
    pub fn rows(&self) -> u64 {
        (self.events.len() + self.bad.len()) as u64
    }
}

/// A second thread turning decoded batches into rows. Building and checking each row's
/// record is most of reading a file, and a bulk import waited on it (the reader's thread
/// was busy all the time while the store's were not); with this, two batches are
/// converted at a time.
struct Helper {
    jobs: Option<SyncSender<(Batch, u64)>>,
    rows: Receiver<Vec<Piece>>,
    thread: Option<JoinHandle<()>>,
}

impl Helper {
    fn start(now_ms: i64, chunked: bool) -> Helper {
        let (jobs, job_rx) = sync_channel::<(Batch, u64)>(1);
        let (rows_tx, rows) = sync_channel(1);
        let thread = std::thread::spawn(move || {
            for (b, first) in job_rx {
                if rows_tx.send(b.convert(first, now_ms, chunked)).is_err() {
                    break;
                }
            }
        });
        Helper {
            jobs: Some(jobs),
            rows,
            thread: Some(thread),
        }
    }

    /// The rows of the batch sent last.
    fn receive(&mut self) -> Vec<Piece> {
        match self.rows.recv() {
            Ok(rows) => rows,
            // The thread ended without answering: it panicked, and so does the reader.
            Err(_) => match self.thread.take().map(JoinHandle::join) {
                Some(Err(panic)) => std::panic::resume_unwind(panic),
                _ => unreachable!("the conversion thread ended with a batch to convert"),
            },
        }
    }
}

impl Drop for Helper {
    fn drop(&mut self) {
        // Closing the job channel ends the thread (after the batch it may be on).
        drop(self.jobs.take());
        while self.rows.try_recv().is_ok() {}
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl ParquetReader {
    /// A reader over a file (or anything else that implements [`ChunkReader`], such as
    /// `bytes::Bytes`); `now_ms` bounds future timestamps.
    pub fn new<T: ChunkReader + 'static>(input: T, now_ms: i64) -> Result<Self, FormatError> {
        ParquetReader::with_options(input, now_ms, ParquetReadOptions::default())
    }

    /// A reader over Parquet bytes in memory.
    pub fn from_vec(bytes: Vec<u8>, now_ms: i64) -> Result<Self, FormatError> {
        ParquetReader::new(bytes::Bytes::from(bytes), now_ms)
    }

    /// A reader with options.
    pub fn with_options<T: ChunkReader + 'static>(
        input: T,
        now_ms: i64,
        options: ParquetReadOptions,
    ) -> Result<Self, FormatError> {
        let plain = ArrowReaderMetadata::load(&input, ArrowReaderOptions::new())?;
        let schema = plain.schema().clone();
        let mut keep = Vec::new();
        for (i, f) in schema.fields().iter().enumerate() {
            match kind_of(f.name()) {
                Some(kind) => {
                    check_type(f.name(), kind, f.data_type())?;
                    keep.push(i);
                }
                None if options.ignore_unknown_columns => {}
                None => {
                    return Err(FormatError::Schema {
                        column: f.name().clone(),
                        message: "is not a Cairn field (site, ts, visitor, type, url, a dimension, props, revenue_amount, revenue_currency); drop it or ignore unknown columns".into(),
                    });
                }
            }
        }
        for required in ["site", "ts", "visitor"] {
            if schema.field_with_name(required).is_err() {
                return Err(FormatError::Schema {
                    column: required.into(),
                    message: "is required but the file lacks it".into(),
                });
            }
        }
        // String columns of Cairn fields are read as dictionaries: each distinct value
        // once per column chunk (as the file stores them) and a key per row.
        let hinted: Vec<Field> = schema
            .fields()
            .iter()
            .map(|f| match (kind_of(f.name()), f.data_type()) {
                (Some(Kind::Str), DataType::Utf8) => f.as_ref().clone().with_data_type(
                    DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8)),
                ),
                _ => f.as_ref().clone(),
            })
            .collect();
        let hint = Arc::new(Schema::new_with_metadata(hinted, schema.metadata().clone()));
        let meta = ArrowReaderMetadata::try_new(
            plain.metadata().clone(),
            ArrowReaderOptions::new().with_schema(hint),
        )?;
        let builder = ParquetRecordBatchReaderBuilder::new_with_metadata(input, meta);
        let num_rows = u64::try_from(builder.metadata().file_metadata().num_rows()).unwrap_or(0);
        let mask = ProjectionMask::roots(builder.parquet_schema(), keep);
        let batches = builder
            .with_projection(mask)
            .with_batch_size(READ_BATCH_ROWS)
            .build()?;
        Ok(ParquetReader {
            batches,
            now_ms,
            num_rows,
            decoded: 0,
            ready: VecDeque::new(),
            helper: None,
            pending: false,
            chunked: false,
            ended: false,
        })
    }

    /// Rows in the file, from its footer.
    pub fn num_rows(&self) -> u64 {
        self.num_rows
    }

    /// The next decoded batch and the number of its first row; `None` at the end.
    fn decode(&mut self) -> Result<Option<(Batch, u64)>, FormatError> {
        if self.ended {
            return Ok(None);
        }
        let decoded = match self.batches.next() {
            None => Ok(None),
            Some(Err(e)) => Err(e.into()),
            Some(Ok(rb)) => Batch::new(&rb).map(Some),
        };
        match decoded {
            Ok(Some(b)) => {
                let first = self.decoded + 1;
                self.decoded += b.len as u64;
                Ok(Some((b, first)))
            }
            other => {
                self.ended = true;
                other.map(|_| None)
            }
        }
    }

    /// Converts the next batch here while the helper converts the one sent to it
    /// before (which comes first), then sends it the batch after.
    fn refill(&mut self) {
        let here = self.decode();
        let after = match &here {
            Ok(Some(_)) => self.decode(),
            _ => Ok(None),
        };
        let (now_ms, chunked) = (self.now_ms, self.chunked);
        let here = here.map(|b| b.map(|(b, first)| b.convert(first, now_ms, chunked)));
        if std::mem::take(&mut self.pending)
            && let Some(h) = &mut self.helper
        {
            self.ready.push_back(Ready::Pieces(h.receive().into_iter()));
        }
        match here {
            Ok(Some(rows)) => self.ready.push_back(Ready::Pieces(rows.into_iter())),
            Ok(None) => {}
            Err(e) => self.ready.push_back(Ready::Fatal(e)),
        }
        match after {
            Ok(Some(job)) => {
                let h = self
                    .helper
                    .get_or_insert_with(|| Helper::start(now_ms, chunked));
                if let Some(jobs) = &h.jobs
                    && jobs.send(job).is_ok()
                {
                    self.pending = true;
                }
            }
            Ok(None) => {}
            Err(e) => self.ready.push_back(Ready::Fatal(e)),
        }
    }
}

impl ParquetReader {
    /// The file as pieces: each batch of rows a [`Chunk`] where its columns allow
    /// (string columns read as dictionaries, timestamps and visitor ids as integers),
    /// rows otherwise. The records are those the row iterator gives, in the same order,
    /// and so are the bad rows.
    pub fn pieces(mut self) -> Pieces {
        self.chunked = true;
        Pieces(self)
    }

    fn next_piece(&mut self) -> Option<Result<Piece, FormatError>> {
        loop {
            match self.ready.front_mut() {
                Some(Ready::Pieces(pieces)) => match pieces.next() {
                    Some(p) => return Some(Ok(p)),
                    None => {
                        self.ready.pop_front();
                    }
                },
                Some(Ready::Fatal(_)) => {
                    let Some(Ready::Fatal(e)) = self.ready.pop_front() else {
                        unreachable!()
                    };
                    // Nothing is read after a fatal error.
                    self.ready.clear();
                    self.ended = true;
                    self.pending = false;
                    return Some(Err(e));
                }
                None if self.ended && !self.pending => return None,
                None => self.refill(),
            }
        }
    }
}

impl Iterator for ParquetReader {
    type Item = Result<Row, FormatError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_piece().map(|p| {
            p.map(|p| match p {
                Piece::Row(r) => r,
                Piece::Chunk(_) => unreachable!("chunks are made only by ParquetReader::pieces"),
            })
        })
    }
}

/// [`ParquetReader::pieces`].
pub struct Pieces(ParquetReader);

impl Pieces {
    /// Rows in the file, from its footer.
    pub fn num_rows(&self) -> u64 {
        self.0.num_rows
    }
}

impl Iterator for Pieces {
    type Item = Result<Piece, FormatError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.0.next_piece()
    }
}

enum TsCol {
    Absent,
    /// Raw integers and how to turn them into milliseconds.
    Int(Int64Array, TimeUnit),
    Str(Strs),
}

enum VisitorCol {
    Absent,
    U64(UInt64Array),
    I64(Int64Array),
    Str(Strs),
}

enum AmountCol {
    Absent,
    F64(Float64Array),
    Str(Strs),
}

/// A decoded batch, its columns normalised.
struct Batch {
    len: usize,
    site: Option<Strs>,
    ts: TsCol,
    visitor: VisitorCol,
    kind: Option<Strs>,
    url: Option<Strs>,
    dims: Vec<Option<Strs>>,
    props: Option<Strs>,
    amount: AmountCol,
    currency: Option<Strs>,
}

/// A string column: plain, or each distinct value once and a key per row (how the reader
/// asks for string columns, so that a chunk checks and copies each distinct value once).
enum Strs {
    Plain(StringArray),
    Dict {
        keys: Int32Array,
        values: StringArray,
    },
}

impl Strs {
    /// Row i's value; `None` when null.
    fn get(&self, i: usize) -> Option<&str> {
        match self {
            Strs::Plain(a) => (!a.is_null(i)).then(|| a.value(i)),
            Strs::Dict { keys, values } => {
                let k = usize::try_from(keys.value(i)).ok()?;
                (keys.is_valid(i) && k < values.len() && values.is_valid(k))
                    .then(|| values.value(k))
            }
        }
    }
}

fn strings(col: &ArrayRef) -> Result<Strs, FormatError> {
    if let DataType::Dictionary(k, v) = col.data_type()
        && **k == DataType::Int32
        && **v == DataType::Utf8
    {
        let d = col.as_dictionary::<Int32Type>();
        return Ok(Strs::Dict {
            keys: d.keys().clone(),
            values: d.values().as_string::<i32>().clone(),
        });
    }
    Ok(Strs::Plain(
        cast(col, &DataType::Utf8)?.as_string::<i32>().clone(),
    ))
}

fn opt_str(a: &Option<Strs>, i: usize) -> Option<&str> {
    a.as_ref().and_then(|a| a.get(i))
}

/// A `props` cell as properties, on the fast path: `None` where it defers to the JSON
/// form (not an object of strings, numbers and booleans, or too many).
fn fast_props(p: &str) -> Option<Vec<(String, PropValue)>> {
    let m: Map<String, Value> = serde_json::from_str(p).ok()?;
    if m.len() > limits::PROPS_MAX {
        return None;
    }
    m.into_iter()
        .map(|(k, v)| {
            let pv = match v {
                Value::String(s) => PropValue::Str(s),
                Value::Bool(b) => PropValue::Bool(b),
                Value::Number(n) => PropValue::Num(n.as_f64()?),
                _ => return None,
            };
            Some((k, pv))
        })
        .collect()
}

/// A revenue amount in micros, on the fast path: `None` where it defers to the JSON
/// form (not finite, or out of range).
fn fast_micros(f: f64) -> Option<i64> {
    (f.is_finite() && f.abs() <= limits::REVENUE_ABS_MAX).then(|| (f * 1e6).round() as i64)
}

impl Batch {
    fn new(rb: &RecordBatch) -> Result<Batch, FormatError> {
        let col = |n: &str| rb.column_by_name(n);
        let str_col = |n: &str| col(n).map(strings).transpose();
        let ts = match col("ts") {
            None => TsCol::Absent,
            Some(c) => match c.data_type() {
                dt if is_string(dt) => TsCol::Str(strings(c)?),
                DataType::Timestamp(unit, _) => {
                    TsCol::Int(cast(c, &DataType::Int64)?.as_primitive().clone(), *unit)
                }
                DataType::Date32 | DataType::Date64 => {
                    let d = cast(c, &DataType::Date64)?;
                    TsCol::Int(
                        cast(&d, &DataType::Int64)?.as_primitive().clone(),
                        TimeUnit::Millisecond,
                    )
                }
                _ => TsCol::Int(
                    cast(c, &DataType::Int64)?.as_primitive().clone(),
                    TimeUnit::Millisecond,
                ),
            },
        };
        let visitor = match col("visitor") {
            None => VisitorCol::Absent,
            Some(c) => match c.data_type() {
                dt if is_string(dt) => VisitorCol::Str(strings(c)?),
                DataType::UInt8 | DataType::UInt16 | DataType::UInt32 | DataType::UInt64 => {
                    VisitorCol::U64(cast(c, &DataType::UInt64)?.as_primitive().clone())
                }
                _ => VisitorCol::I64(cast(c, &DataType::Int64)?.as_primitive().clone()),
            },
        };
        let amount = match col("revenue_amount") {
            None => AmountCol::Absent,
            Some(c) if is_string(c.data_type()) => AmountCol::Str(strings(c)?),
            Some(c) => AmountCol::F64(cast(c, &DataType::Float64)?.as_primitive().clone()),
        };
        let mut dims = Vec::with_capacity(Dim::ALL.len());
        for d in Dim::ALL {
            dims.push(str_col(d.as_str())?);
        }
        Ok(Batch {
            len: rb.num_rows(),
            site: str_col("site")?,
            ts,
            visitor,
            kind: str_col("type")?,
            url: str_col("url")?,
            dims,
            props: str_col("props")?,
            amount,
            currency: str_col("revenue_currency")?,
        })
    }

    fn ts_ms(&self, i: usize) -> Option<i64> {
        match &self.ts {
            TsCol::Int(a, unit) if !a.is_null(i) => {
                let v = a.value(i);
                Some(match unit {
                    TimeUnit::Second => v.saturating_mul(1000),
                    TimeUnit::Millisecond => v,
                    TimeUnit::Microsecond => v.div_euclid(1000),
                    TimeUnit::Nanosecond => v.div_euclid(1_000_000),
                })
            }
            _ => None,
        }
    }

    /// The batch as a chunk if it can be one (and `chunked`), else as rows.
    fn convert(&self, first: u64, now_ms: i64, chunked: bool) -> Vec<Piece> {
        if chunked && let Some(c) = self.chunk(first, now_ms) {
            return vec![Piece::Chunk(c)];
        }
        self.rows(first, now_ms)
            .into_iter()
            .map(Piece::Row)
            .collect()
    }

    /// Every row, the first numbered `first`.
    fn rows(&self, first: u64, now_ms: i64) -> Vec<Row> {
        (0..self.len)
            .map(|i| self.row(i, first + i as u64, now_ms))
            .collect()
    }

    /// One row: the fast path builds the record from typed columns; any row it cannot
    /// take for certain goes through the JSON form, whose answer is the reference.
    fn row(&self, i: usize, row_no: u64, now_ms: i64) -> Row {
        if let Some(rec) = self.fast_row(i)
            && rec.validate(now_ms).is_ok()
        {
            return Ok(rec);
        }
        let v = self.json_row(i).map_err(|e| RowError::at_row(row_no, e))?;
        Record::from_value(&v, now_ms, None).map_err(|e| {
            let col = self.column_for(&e.field);
            RowError::at_row(row_no, e).in_column(col)
        })
    }

    fn fast_row(&self, i: usize) -> Option<Record> {
        let site = opt_str(&self.site, i)?;
        let ts = self.ts_ms(i)?;
        let visitor = match &self.visitor {
            VisitorCol::U64(a) if !a.is_null(i) => a.value(i),
            VisitorCol::I64(a) if !a.is_null(i) => u64::try_from(a.value(i)).ok()?,
            VisitorCol::Str(a) if a.get(i).is_some() => {
                let s = a.get(i)?;
                if s.is_empty() || s.len() > 256 {
                    return None;
                }
                parse_visitor_id(s)
            }
            _ => return None,
        };
        if opt_str(&self.url, i).is_some() {
            return None;
        }
        let identify = match opt_str(&self.kind, i) {
            None | Some("event") => false,
            Some("identify") => true,
            Some(_) => return None,
        };
        let amount = match &self.amount {
            AmountCol::F64(a) if !a.is_null(i) => Some(a.value(i)),
            AmountCol::Str(a) if a.get(i).is_some() => return None,
            _ => None,
        };
        let currency = opt_str(&self.currency, i);
        let props = opt_str(&self.props, i);
        if identify {
            let only_user = self
                .dims
                .iter()
                .enumerate()
                .all(|(d, a)| d == Dim::User.index() || opt_str(a, i).is_none());
            if !only_user || props.is_some() || amount.is_some() || currency.is_some() {
                return None;
            }
            return Some(Record::Identify(Identify {
                site: site.to_string(),
                ts,
                visitor,
                user: opt_str(&self.dims[Dim::User.index()], i)?.to_string(),
            }));
        }
        let mut ev = Event::new(site, ts, visitor, String::new());
        for (slot, a) in ev.dims.iter_mut().zip(&self.dims) {
            if let Some(s) = opt_str(a, i) {
                s.clone_into(slot);
            }
        }
        if ev.name().is_empty() {
            return None;
        }
        if let Some(p) = props {
            ev.props = fast_props(p)?;
        }
        ev.revenue = match (amount, currency) {
            (None, None) => None,
            (Some(f), Some(c)) => Some(Revenue {
                micros: fast_micros(f)?,
                currency: c.to_ascii_uppercase(),
            }),
            _ => return None,
        };
        Some(Record::Event(ev))
    }

    /// The row as a JSON record; null cells are left out.
    fn json_row(&self, i: usize) -> Result<Value, ValidationError> {
        let mut m = Map::new();
        let mut put = |k: &str, v: Option<&str>| {
            if let Some(v) = v {
                m.insert(k.to_string(), Value::from(v));
            }
        };
        put("site", opt_str(&self.site, i));
        put("type", opt_str(&self.kind, i));
        put("url", opt_str(&self.url, i));
        for (d, a) in Dim::ALL.iter().zip(&self.dims) {
            put(d.as_str(), opt_str(a, i));
        }
        match &self.ts {
            TsCol::Str(a) => put("ts", a.get(i)),
            TsCol::Int(..) => {
                if let Some(ms) = self.ts_ms(i) {
                    m.insert("ts".into(), Value::from(ms));
                }
            }
            TsCol::Absent => {}
        }
        let visitor = match &self.visitor {
            VisitorCol::U64(a) if !a.is_null(i) => Some(Value::from(a.value(i))),
            VisitorCol::I64(a) if !a.is_null(i) => Some(Value::from(a.value(i))),
            VisitorCol::Str(a) => a.get(i).map(Value::from),
            _ => None,
        };
        if let Some(v) = visitor {
            m.insert("visitor".into(), v);
        }
        if let Some(p) = opt_str(&self.props, i) {
            let v: Value = serde_json::from_str(p)
                .map_err(|e| ValidationError::new("props", Reason::BadJson(e.to_string())))?;
            m.insert("props".into(), v);
        }
        let mut revenue = Map::new();
        let amount = match &self.amount {
            AmountCol::F64(a) if !a.is_null(i) => Some(Value::from(a.value(i))),
            AmountCol::Str(a) => a.get(i).map(Value::from),
            _ => None,
        };
        if let Some(a) = amount {
            // A NaN or infinite amount has no JSON form; say so here.
            if a.is_null() {
                return Err(ValidationError::new("revenue.amount", Reason::NotFinite));
            }
            revenue.insert("amount".into(), a);
        }
        if let Some(c) = opt_str(&self.currency, i) {
            revenue.insert("currency".into(), Value::from(c));
        }
        if !revenue.is_empty() {
            m.insert("revenue".into(), Value::Object(revenue));
        }
        Ok(Value::Object(m))
    }

    /// The Parquet column a validation error's field came from.
    fn column_for(&self, field: &str) -> Option<String> {
        let has = |n: &str| match n {
            "site" => self.site.is_some(),
            "type" => self.kind.is_some(),
            "url" => self.url.is_some(),
            "ts" => !matches!(self.ts, TsCol::Absent),
            "visitor" => !matches!(self.visitor, VisitorCol::Absent),
            "revenue_amount" => !matches!(self.amount, AmountCol::Absent),
            "revenue_currency" => self.currency.is_some(),
            "props" => self.props.is_some(),
            d => dim_of(d).is_some_and(|d| self.dims[d.index()].is_some()),
        };
        let name = match field {
            "revenue.amount" | "revenue" => "revenue_amount",
            "revenue.currency" => "revenue_currency",
            f if f == "props" || f.starts_with("props.") => "props",
            f => f,
        };
        if has(name) {
            return Some(name.to_string());
        }
        // Host, path, query and UTM fields may come from the url column.
        let from_url = dim_of(name).is_some_and(Dim::comes_from_url);
        (from_url && has("url")).then(|| "url".to_string())
    }
}
