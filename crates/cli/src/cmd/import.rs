//! `cairn import FILE…`: NDJSON, CSV or Parquet into the store, through the bulk path
//! ([`cairn_store::Store::import`]).
//!
//! With `--on-error reject` (the default) nothing is stored unless every row of every
//! file is valid: the files are read once, into a staged import
//! ([`cairn_store::StagedImport`]) whose segments the store lists only when the last file
//! has been read without a bad row, and removes otherwise. After the first bad row the
//! rest is only checked, so that every bad row is reported. With `--on-error skip` each
//! file is read once and its good rows are imported; bad rows are reported either way.

use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use cairn_formats::{
    CsvMapping, CsvOptions, CsvReader, FormatError, NdjsonReader, ParquetReader, Piece, RowError,
    RowUnit,
};
use cairn_model::Record;
use cairn_store::{CompactionPolicy, ImportItem, Store};

use crate::args::now_ms;
use crate::cli::{Format, ImportArgs, OnError};
use crate::human;
use crate::pipe;
use crate::progress::{Progress, Unit};
use crate::store::{self, Open};

/// Bad rows printed per file; the rest are counted.
pub const SHOWN_ERRORS: u64 = 20;
/// Read buffer for input files.
const READ_BUF: usize = 1 << 20;

/// An input file as given on the command line.
struct Input {
    /// How it is named in messages.
    name: String,
    format: Format,
    source: Source,
}

enum Source {
    Stdin,
    File(PathBuf),
    /// Standard input copied to a temporary file.
    Spooled(File),
}

/// What a pass over one file found.
#[derive(Default)]
struct Tally {
    events: u64,
    identifies: u64,
    bad: u64,
    /// Rows read (good and bad), for the progress of row-counted formats.
    rows: u64,
    fatal: Option<FormatError>,
}

impl Tally {
    fn records(&self) -> u64 {
        self.events + self.identifies
    }
}

/// A file's rows: one at a time (NDJSON, CSV), or in chunks where the file's columns
/// allow (Parquet).
type Rows = Box<dyn Iterator<Item = Result<Piece, FormatError>> + Send>;

/// How far into a file a reader is.
enum Meter {
    /// Bytes read from the file (NDJSON, CSV); `total` is unknown for standard input.
    Bytes {
        read: Arc<AtomicU64>,
        total: Option<u64>,
    },
    /// Rows read out of the file's rows (Parquet).
    Rows { total: u64 },
}

impl Meter {
    fn progress(&self, prefix: &str) -> Progress {
        match self {
            Meter::Bytes { total, .. } => Progress::new(prefix, Unit::Bytes, *total),
            Meter::Rows { total } => Progress::new(prefix, Unit::Items, Some(*total)),
        }
    }

    fn position(&self, t: &Tally) -> u64 {
        match self {
            Meter::Bytes { read, .. } => read.load(Ordering::Relaxed),
            Meter::Rows { .. } => t.rows,
        }
    }
}

/// Counts the bytes read through it.
struct Counting<R> {
    inner: R,
    read: Arc<AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// Settings shared by every file of one import.
struct Ctx {
    now_ms: i64,
    mapping: CsvMapping,
    csv: CsvOptions,
}

pub fn run(data: &Path, args: ImportArgs) -> Result<ExitCode> {
    let started = Instant::now();
    let ctx = Ctx {
        now_ms: now_ms(),
        mapping: match &args.csv_map {
            Some(spec) => CsvMapping::parse(spec).context("in --csv-map")?,
            None => CsvMapping::new(),
        },
        csv: CsvOptions {
            delimiter: delimiter(&args.csv_delimiter)?,
            ..CsvOptions::default()
        },
    };
    let mut inputs = Vec::new();
    for f in &args.files {
        inputs.push(input(f, args.format)?);
    }
    if inputs
        .iter()
        .filter(|i| matches!(i.source, Source::Stdin))
        .count()
        > 1
    {
        bail!("standard input (`-`) can be imported only once per command");
    }
    for i in &inputs {
        if let Source::File(p) = &i.source {
            File::open(p).with_context(|| format!("cannot open {}", p.display()))?;
        }
    }
    // Opened before anything is read, so a store held by another process fails at once.
    let batch = usize::try_from(args.batch.0).unwrap_or(usize::MAX);
    let store = store::open_with(data, Open::Create, batch)?;
    for i in &mut inputs {
        // Parquet readers seek: standard input is copied to a temporary file first.
        if i.format == Format::Parquet {
            spool_stdin(i)?;
        }
    }
    let mut timings = Timings::default();
    let rows_before = segment_rows(&store);
    let (events, identifies, bad) = match args.on_error {
        OnError::Reject => import_checked(&store, &inputs, &ctx, &mut timings)?,
        OnError::Skip => import_skipping(&store, &inputs, &ctx, &mut timings)?,
    };
    // The store drops events older than the cut of `cairn retain` as it writes them.
    let stored = segment_rows(&store).saturating_sub(rows_before);
    let merges = if args.no_compact {
        0
    } else {
        let t = Instant::now();
        let n = store
            .compact(&CompactionPolicy::eager())
            .context("compacting the new segments")?;
        timings.compact = t.elapsed();
        n
    };
    let total_events = segment_rows(&store);
    store.close().context("closing the store")?;
    let elapsed = started.elapsed();
    let files = match inputs.len() {
        1 => "1 file".to_string(),
        n => format!("{n} files"),
    };
    println!(
        "imported {} and {} from {files} in {} ({} events/s)",
        human::plural(events, "event"),
        human::plural(identifies, "identify record"),
        human::secs(elapsed),
        human::count(human::per_sec(events, elapsed)),
    );
    let mut phases = Vec::new();
    phases.push(format!("stored {}", human::secs(timings.store)));
    if !args.no_compact {
        phases.push(format!(
            "compacted {} ({merges} merges)",
            human::secs(timings.compact)
        ));
    }
    println!("  {}", phases.join(", "));
    if stored < events {
        println!(
            "  {} older than the store's retention cut (`cairn retain`) were dropped",
            human::plural(events - stored, "event")
        );
    }
    println!(
        "  the store in {} holds {}",
        data.display(),
        human::plural(total_events, "event")
    );
    if bad > 0 {
        println!(
            "  skipped {} (listed on stderr)",
            human::plural(bad, "bad row")
        );
        return Ok(ExitCode::from(2));
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(Default)]
struct Timings {
    store: Duration,
    compact: Duration,
}

/// `--on-error reject`: every file read once into a staged import, committed only if no
/// row of any file was bad: all or nothing.
fn import_checked(
    store: &Store,
    inputs: &[Input],
    ctx: &Ctx,
    timings: &mut Timings,
) -> Result<(u64, u64, u64)> {
    let t = Instant::now();
    let mut staged = store
        .stage_import()
        .context("starting the import; nothing was imported")?;
    let mut bad_files = Vec::new();
    let (mut events, mut identifies, mut bad_rows) = (0, 0, 0);
    for i in inputs {
        let (rows, meter) = open_rows(i, ctx)?;
        let progress = meter.progress(if bad_rows == 0 {
            "importing"
        } else {
            "checking"
        });
        let clean = bad_rows == 0;
        let (tally, stored) = pipe::pipeline(
            |tx| {
                read_rows(rows, &meter, &progress, &i.name, |r, t| {
                    // After a bad row nothing will be committed: only check the rest.
                    !(clean && t.bad == 0) || send(tx, r)
                })
            },
            |records| staged.import(records),
        );
        progress.finish();
        stored.with_context(|| format!("importing {}; nothing was imported", i.name))?;
        if let Some(e) = tally.fatal {
            return Err(anyhow::Error::new(e)
                .context(format!("cannot read {}; nothing was imported", i.name)));
        }
        if tally.bad > 0 {
            bad_files.push(i.name.clone());
            bad_rows += tally.bad;
            report_more(&i.name, &tally);
        }
        events += tally.events;
        identifies += tally.identifies;
    }
    if bad_rows > 0 {
        // Dropped uncommitted: its segments are removed.
        drop(staged);
        bail!(
            "{} in {}; nothing was imported. Fix the rows and run the same command again, or pass --on-error skip to import the good rows",
            human::plural(bad_rows, "bad row"),
            bad_files.join(", ")
        );
    }
    staged
        .commit()
        .context("committing the import; nothing was imported")?;
    timings.store = t.elapsed();
    Ok((events, identifies, 0))
}

/// `--on-error skip`: each file once, good rows imported, bad ones reported.
fn import_skipping(
    store: &Store,
    inputs: &[Input],
    ctx: &Ctx,
    timings: &mut Timings,
) -> Result<(u64, u64, u64)> {
    let t = Instant::now();
    let (mut events, mut identifies, mut bad) = (0, 0, 0);
    for i in inputs {
        let tally = import_file(store, i, ctx, "importing")?;
        report_more(&i.name, &tally);
        events += tally.events;
        identifies += tally.identifies;
        bad += tally.bad;
        if let Some(e) = tally.fatal {
            return Err(anyhow::Error::new(e).context(format!(
                "cannot read {} on; {} events before the error were imported ({} in all)",
                i.name,
                human::count(tally.events),
                human::count(events)
            )));
        }
    }
    timings.store = t.elapsed();
    Ok((events, identifies, bad))
}

/// Reads a file on a second thread and feeds its good rows to the store's bulk import.
fn import_file(store: &Store, i: &Input, ctx: &Ctx, prefix: &str) -> Result<Tally> {
    let (rows, meter) = open_rows(i, ctx)?;
    let progress = meter.progress(prefix);
    let (tally, imported) = pipe::pipeline(
        |tx| read_rows(rows, &meter, &progress, &i.name, |r, _| send(tx, r)),
        |records| store.import(records),
    );
    progress.finish();
    let imported = imported.with_context(|| format!("importing {}", i.name))?;
    debug_assert_eq!(imported, tally.events);
    Ok(tally)
}

/// Sends a record or a chunk to the store's thread (a chunk at once: it is thousands of
/// events).
fn send(tx: &mut pipe::Sender<ImportItem>, item: ImportItem) -> bool {
    match item {
        ImportItem::Chunk(_) => tx.push_now(item),
        ImportItem::Record(_) => tx.push(item),
    }
}

/// Reads every row of a file: good records and chunks go to `sink` with the tally so far
/// (it returns false to stop), the first [`SHOWN_ERRORS`] bad rows are printed, a fatal
/// error ends the read.
fn read_rows(
    rows: Rows,
    meter: &Meter,
    progress: &Progress,
    name: &str,
    mut sink: impl FnMut(ImportItem, &Tally) -> bool,
) -> Tally {
    let mut t = Tally::default();
    let mut shown = 0;
    let bad_row_seen = |t: &mut Tally, bad: &RowError| {
        t.bad += 1;
        if t.bad <= SHOWN_ERRORS {
            progress.eprintln(&bad_row(name, bad));
        }
    };
    for item in rows {
        match item {
            Ok(Piece::Row(Ok(rec))) => {
                t.rows += 1;
                match rec {
                    Record::Event(_) => t.events += 1,
                    Record::Identify(_) => t.identifies += 1,
                }
                if !sink(ImportItem::Record(rec), &t) {
                    break;
                }
            }
            Ok(Piece::Row(Err(bad))) => {
                t.rows += 1;
                bad_row_seen(&mut t, &bad);
            }
            Ok(Piece::Chunk(c)) => {
                t.rows += c.rows();
                let events = c.events.events();
                t.events += events;
                t.identifies += c.events.len() as u64 - events;
                for bad in &c.bad {
                    bad_row_seen(&mut t, bad);
                }
                if !sink(ImportItem::Chunk(c.events), &t) {
                    break;
                }
            }
            Err(e) => {
                t.fatal = Some(e);
                break;
            }
        }
        if t.rows >= shown + pipe::BATCH as u64 {
            shown = t.rows;
            progress.update(meter.position(&t), t.records());
        }
    }
    t
}

/// `file:line: field `ts`: reason`, or `file: row N: …` for Parquet.
fn bad_row(name: &str, e: &RowError) -> String {
    let column = e
        .column
        .as_ref()
        .map(|c| format!("column `{c}`: "))
        .unwrap_or_default();
    match e.unit {
        RowUnit::Line => format!("{name}:{}: {column}{}", e.line, e.error),
        RowUnit::Row => format!("{name}: row {}: {column}{}", e.line, e.error),
    }
}

/// Says how many bad rows were not printed.
fn report_more(name: &str, t: &Tally) {
    if t.bad > SHOWN_ERRORS {
        eprintln!(
            "{name}: … and {} more bad rows ({} in all)",
            human::count(t.bad - SHOWN_ERRORS),
            human::count(t.bad)
        );
    }
}

/// Opens a reader of a file's rows.
fn open_rows(i: &Input, ctx: &Ctx) -> Result<(Rows, Meter)> {
    let read = Arc::new(AtomicU64::new(0));
    let (reader, total): (Box<dyn Read + Send>, Option<u64>) = match &i.source {
        Source::Stdin => (Box::new(io::stdin()), None),
        Source::File(p) => {
            let f = File::open(p).with_context(|| format!("cannot open {}", p.display()))?;
            if i.format == Format::Parquet {
                return parquet_rows(f, i, ctx);
            }
            let len = f.metadata().map(|m| m.len()).ok();
            (Box::new(f), len)
        }
        Source::Spooled(f) => {
            let mut f = f
                .try_clone()
                .context("reopening the copy of standard input")?;
            f.seek(SeekFrom::Start(0))
                .context("rewinding the copy of standard input")?;
            if i.format == Format::Parquet {
                return parquet_rows(f, i, ctx);
            }
            let len = f.metadata().map(|m| m.len()).ok();
            (Box::new(f), len)
        }
    };
    let counted = BufReader::with_capacity(
        READ_BUF,
        Counting {
            inner: reader,
            read: Arc::clone(&read),
        },
    );
    let meter = Meter::Bytes { read, total };
    let rows: Rows = match i.format {
        Format::Ndjson => {
            Box::new(NdjsonReader::new(counted, ctx.now_ms).map(|r| r.map(Piece::Row)))
        }
        Format::Csv => Box::new(
            CsvReader::with_options(counted, &ctx.mapping, ctx.now_ms, ctx.csv)
                .with_context(|| format!("cannot read {} as CSV", i.name))?
                .map(|r| r.map(Piece::Row)),
        ),
        Format::Parquet => unreachable!("Parquet input is always a file"),
    };
    Ok((rows, meter))
}

/// A Parquet file's rows, in chunks where its columns allow; its footer gives the count
/// for the progress bar.
fn parquet_rows(f: File, i: &Input, ctx: &Ctx) -> Result<(Rows, Meter)> {
    let r = ParquetReader::new(f, ctx.now_ms)
        .with_context(|| format!("cannot read {} as Parquet", i.name))?;
    let total = r.num_rows();
    Ok((Box::new(r.pieces()), Meter::Rows { total }))
}

/// The input for a command-line argument, its format from `--format` or its extension.
fn input(arg: &Path, format: Option<Format>) -> Result<Input> {
    if arg.as_os_str() == "-" {
        return Ok(Input {
            name: "<stdin>".into(),
            format: format.unwrap_or(Format::Ndjson),
            source: Source::Stdin,
        });
    }
    let name = arg.display().to_string();
    let format = match format {
        Some(f) => f,
        None => format_of(arg)?,
    };
    Ok(Input {
        name,
        format,
        source: Source::File(arg.to_path_buf()),
    })
}

/// A file's format from its extension.
pub fn format_of(path: &Path) -> Result<Format> {
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    Ok(match ext.as_str() {
        "ndjson" | "jsonl" | "json" => Format::Ndjson,
        "csv" => Format::Csv,
        "parquet" | "pq" => Format::Parquet,
        "gz" | "zst" | "zstd" | "bz2" | "xz" | "zip" => bail!(
            "{} is compressed, and cairn reads files as they are: decompress it first, or pipe it in, e.g. `zcat {} | cairn import -`",
            path.display(),
            path.display()
        ),
        _ => bail!(
            "cannot tell the format of {} from its extension (.ndjson, .jsonl, .json, .csv, .parquet); pass --format ndjson, csv or parquet",
            path.display()
        ),
    })
}

/// Copies standard input to an anonymous temporary file, so a Parquet reader can seek it.
fn spool_stdin(i: &mut Input) -> Result<()> {
    if !matches!(i.source, Source::Stdin) {
        return Ok(());
    }
    let tmp = tempfile::tempfile().context("creating a temporary file for standard input")?;
    let mut w = BufWriter::with_capacity(READ_BUF, tmp);
    io::copy(&mut io::stdin().lock(), &mut w).context("copying standard input")?;
    w.flush().context("copying standard input")?;
    let tmp = w
        .into_inner()
        .map_err(|e| e.into_error())
        .context("copying standard input")?;
    i.source = Source::Spooled(tmp);
    Ok(())
}

/// `--csv-delimiter`: one ASCII character, or `tab`.
fn delimiter(s: &str) -> Result<u8> {
    match s {
        "tab" | "\\t" | "\t" => Ok(b'\t'),
        _ if s.len() == 1 && s.is_ascii() => Ok(s.as_bytes()[0]),
        _ => bail!("--csv-delimiter must be one ASCII character or `tab`, not `{s}`"),
    }
}

/// Events in the store's segments, from the manifest.
fn segment_rows(store: &Store) -> u64 {
    store.segments().iter().map(|s| s.rows).sum()
}
