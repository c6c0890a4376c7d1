//! Reads and writes Cairn records ([`cairn_model::Record`]) in standard formats. It knows
//! nothing of storage: the CLI's `import` and `export` feed these readers and writers
//! to and from the store.
//!
//! * NDJSON — [`NdjsonReader`] / [`NdjsonWriter`]: one [`Record::from_json`] object per
//!   line, Cairn's own import and export format. [`NdjsonChunk::parse`] parses a block of
//!   lines on several threads, keeping order; the reader's iterator does so by itself.
//! * CSV — [`CsvReader`] with a [`CsvMapping`] from the file's columns to Cairn fields
//!   (`"Timestamp=ts,Client=visitor,Event=name,Plan=props.plan,Notes=-"`);
//!   [`CsvWriter`] writes a CSV the default mapping reads back.
//! * Parquet — [`ParquetWriter`] / [`ParquetReader`], zstd-compressed, in the schema of
//!   [`parquet_schema`] (one column per field, properties as a JSON text column).
//!   [`ParquetReader::pieces`] gives the same rows as [`Chunk`]s of
//!   [`cairn_model::EventChunk`]: each distinct value of a column checked and copied once
//!   per batch, the way a bulk import reads a columnar file.
//!
//! Every reader is an iterator of `Result<`[`Row`]`, `[`FormatError`]`>`, where
//! `Row = Result<Record, `[`RowError`]`>`: a [`FormatError`] is fatal (I/O, a corrupt
//! file, a mapping that does not fit the header) and ends the iteration; a [`RowError`]
//! rejects one row — with its line or row number, the file's column where known, and the
//! model's [`cairn_model::ValidationError`] — and reading goes on. Whether bad rows are
//! skipped or reject the file is the caller's choice; good rows are never lost, and a bad
//! row never yields a partial record. Every row goes through the model's validation:
//! CSV and Parquet rows are read through the same JSON form as NDJSON lines, so the rules
//! and the messages are the same.
//!
//! Speed: NDJSON is the bulk import path. Most valid lines take a fast path that
//! deserialises straight into the record with serde (no `serde_json::Value` tree), about
//! twice as fast as `Record::from_json`; any line it is not sure of goes through
//! `Record::from_json`, whose answer is the reference (a differential property test holds
//! the two together). [`NdjsonWriter`] writes the bytes of `Record::to_json` without
//! building the tree. Each record owns about fifteen small strings, so the allocator is
//! a large part of the cost: a binary that imports in bulk gains from a multi-threaded
//! allocator such as mimalloc (see the numbers in `examples/formats_bench.rs`).
//!
//! ```
//! use cairn_formats::{NdjsonReader, NdjsonWriter};
//! let input = br#"{"site":"shop.example","ts":"2026-03-01T10:00:00Z","visitor":"v1","name":"pageview"}
//! not json
//! "#;
//! let now = 1_900_000_000_000;
//! let mut good = Vec::new();
//! for item in NdjsonReader::new(&input[..], now) {
//!     match item? {
//!         Ok(record) => good.push(record),
//!         Err(bad) => assert_eq!(bad.line, 2),
//!     }
//! }
//! let mut w = NdjsonWriter::new(Vec::new());
//! w.write_all(&good)?;
//! let out = w.finish()?;
//! assert!(out.starts_with(b"{"));
//! # Ok::<(), cairn_formats::FormatError>(())
//! ```
//!
//! [`Record::from_json`]: cairn_model::Record::from_json

mod csvio;
mod error;
mod fast;
mod ndjson;
mod parquet_io;

pub use csvio::{
    CSV_ROW_BYTES_FATAL, CsvMapping, CsvOptions, CsvReader, CsvWriter, PropKind, Target,
    csv_columns, neutralise, restore,
};
pub use error::{FormatError, MappingError, Row, RowError, RowUnit};
pub use ndjson::{CHUNK_BYTES, CHUNK_LINES, NdjsonChunk, NdjsonReader, NdjsonWriter, parse_line};
pub use parquet_io::{
    Chunk, PARQUET_ROW_GROUP_ROWS, ParquetOptions, ParquetReadOptions, ParquetReader,
    ParquetWriter, Piece, Pieces, parquet_schema,
};

/// Parses one NDJSON line on the model's reference path only ([`cairn_model::Record::from_json`]),
/// skipping the fast path; for tests that hold the two together.
#[doc(hidden)]
pub fn parse_line_reference(
    line: &str,
    now_ms: i64,
) -> Result<cairn_model::Record, cairn_model::ValidationError> {
    cairn_model::Record::from_json(line, now_ms)
}

/// The fast path alone (`None` where it defers to the reference path); for tests.
#[doc(hidden)]
pub fn parse_line_fast(line: &str, now_ms: i64) -> Option<cairn_model::Record> {
    fast::parse(line, now_ms)
}

/// [`NdjsonWriter`]'s serialiser for one record, without the line ending; for tests.
#[doc(hidden)]
pub fn record_json_bytes(rec: &cairn_model::Record) -> Vec<u8> {
    let mut out = Vec::new();
    // Writing to a Vec cannot fail.
    let _ = ndjson::write_record_json(&mut out, rec);
    out
}
