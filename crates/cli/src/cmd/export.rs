//! `cairn export`: every event (and identify link) of the store, or of some sites and a
//! time range, as Parquet, NDJSON or CSV. A file is written under a temporary name and
//! renamed when complete.

use std::collections::{BTreeMap, HashSet};
use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use cairn_formats::{CsvWriter, FormatError, NdjsonWriter, ParquetWriter};
use cairn_model::{Event, Identify, Record};
use cairn_store::StoreError;

use crate::cli::{ExportArgs, Format};
use crate::cmd::import::format_of;
use crate::human;
use crate::progress::{Progress, Unit};
use crate::store;

pub(crate) type Out = Box<dyn Write + Send>;

/// One of the formats' writers.
pub(crate) enum Writer {
    Ndjson(NdjsonWriter<Out>),
    Csv(Box<CsvWriter<Out>>),
    Parquet(Box<ParquetWriter<Out>>),
}

impl Writer {
    pub(crate) fn new(format: Format, out: Out) -> Result<Writer, FormatError> {
        Ok(match format {
            Format::Ndjson => Writer::Ndjson(NdjsonWriter::new(out)),
            Format::Csv => Writer::Csv(Box::new(CsvWriter::new(out)?)),
            Format::Parquet => Writer::Parquet(Box::new(ParquetWriter::new(out)?)),
        })
    }

    pub(crate) fn write(&mut self, r: &Record) -> Result<(), FormatError> {
        match self {
            Writer::Ndjson(w) => w.write(r),
            Writer::Csv(w) => w.write(r),
            Writer::Parquet(w) => w.write_record(r),
        }
    }

    pub(crate) fn finish(self) -> Result<Out, FormatError> {
        match self {
            Writer::Ndjson(w) => w.finish(),
            Writer::Csv(w) => w.finish(),
            Writer::Parquet(w) => w.finish(),
        }
    }
}

pub fn run(data: &Path, args: ExportArgs) -> Result<ExitCode> {
    let started = Instant::now();
    let to_stdout = args.out.as_os_str() == "-";
    let format = match args.format {
        Some(f) => f,
        None if to_stdout => Format::Ndjson,
        None => format_of(&args.out)?,
    };
    let from = args.from.map_or(i64::MIN, |t| t.ms);
    let to = args.to.map_or(i64::MAX, |t| t.end_exclusive());
    if from >= to {
        bail!("--from must be before --to");
    }
    let src = Source::open(data, &args)?;
    let partial = partial_path(&args.out);
    let out: Out = if to_stdout {
        Box::new(BufWriter::with_capacity(1 << 20, io::stdout()))
    } else {
        let f = File::create(&partial)
            .with_context(|| format!("cannot create {}", partial.display()))?;
        Box::new(BufWriter::with_capacity(1 << 20, f))
    };
    let result = export(&src, &args, format, out, from, to);
    let (events, identifies) = match result {
        Ok(n) => n,
        Err(e) => {
            if !to_stdout {
                let _ = fs::remove_file(&partial);
            }
            return Err(e);
        }
    };
    let elapsed = started.elapsed();
    let line = if to_stdout {
        format!(
            "exported {} and {} in {} ({} events/s)",
            human::plural(events, "event"),
            human::plural(identifies, "identify record"),
            human::secs(elapsed),
            human::count(human::per_sec(events, elapsed))
        )
    } else {
        fs::rename(&partial, &args.out).with_context(|| {
            format!(
                "cannot rename {} to {}",
                partial.display(),
                args.out.display()
            )
        })?;
        let size = fs::metadata(&args.out).map(|m| m.len()).unwrap_or(0);
        format!(
            "exported {} and {} to {} ({}) in {} ({} events/s)",
            human::plural(events, "event"),
            human::plural(identifies, "identify record"),
            args.out.display(),
            human::bytes(size),
            human::secs(elapsed),
            human::count(human::per_sec(events, elapsed))
        )
    };
    if to_stdout {
        eprintln!("{line}");
    } else {
        println!("{line}");
    }
    Ok(ExitCode::SUCCESS)
}

/// Where `export` reads: the store in --data, or ClickHouse.
enum Source {
    Store(store::ReadStore),
    ClickHouse(Box<cairn_clickhouse::ClickHouse>),
}

impl Source {
    fn open(data: &Path, args: &ExportArgs) -> Result<Source> {
        Ok(match &args.clickhouse_url {
            None => Source::Store(store::open_read(data)?),
            Some(url) => {
                let config = cairn_clickhouse::Config {
                    url: url.clone(),
                    database: args.clickhouse_database.clone(),
                    ..cairn_clickhouse::Config::default()
                };
                Source::ClickHouse(Box::new(
                    cairn_clickhouse::ClickHouse::connect(config)
                        .with_context(|| format!("connecting to ClickHouse at {url}"))?,
                ))
            }
        })
    }

    /// Visitor → (user, time of the link) of a site.
    fn links(&self, site: &str) -> Result<Vec<(u64, String, i64)>> {
        Ok(match self {
            Source::Store(s) => {
                let mut v: Vec<(u64, String, i64)> = s
                    .user_links(site)
                    .by_visitor
                    .iter()
                    .map(|(v, (u, t))| (*v, u.clone(), *t))
                    .collect();
                v.sort_unstable_by_key(|l| l.0);
                v
            }
            Source::ClickHouse(ch) => ch.user_links(site)?,
        })
    }
}

/// Writes the selected events, then the identify links of the visitors among them.
fn export(
    src: &Source,
    args: &ExportArgs,
    format: Format,
    out: Out,
    from: i64,
    to: i64,
) -> Result<(u64, u64)> {
    let mut w = Writer::new(format, out).context("starting the output")?;
    let total = match src {
        Source::Store(s) => Some(s.segments().iter().map(|s| s.rows).sum()),
        Source::ClickHouse(_) => None,
    };
    let progress = Progress::new("exporting", Unit::Items, total);
    let mut seen: BTreeMap<String, HashSet<u64>> = BTreeMap::new();
    let mut slot = Record::Event(Event::new("", 0, 0, ""));
    let mut events = 0u64;
    let mut scanned = 0u64;
    let mut failed: Option<FormatError> = None;
    let keep_site = |s: &str| args.sites.is_empty() || args.sites.iter().any(|x| x == s);
    // Writes one event if selected; false once the output failed.
    let mut handle = |e: &Event| -> bool {
        scanned += 1;
        if scanned.is_multiple_of(65_536) {
            progress.update(scanned, events);
        }
        if e.ts < from || e.ts >= to || !keep_site(&e.site) {
            return true;
        }
        if let Record::Event(dst) = &mut slot {
            copy_event(dst, e);
        }
        if let Err(err) = w.write(&slot) {
            failed = Some(err);
            return false;
        }
        events += 1;
        if !args.events_only {
            match seen.get_mut(&e.site) {
                Some(v) => {
                    v.insert(e.visitor);
                }
                None => {
                    seen.insert(e.site.clone(), HashSet::from([e.visitor]));
                }
            }
        }
        true
    };
    let scan: Result<()> = match src {
        Source::Store(store) => store
            .for_each_event(|e| {
                if handle(e) {
                    Ok(())
                } else {
                    // Any error ends the scan; the real one is in `failed`.
                    Err(StoreError::Closed)
                }
            })
            .context("reading the store"),
        Source::ClickHouse(ch) => ch
            .for_each_event(&args.sites, from, to, |e| {
                if handle(&e) {
                    Ok(())
                } else {
                    Err(cairn_clickhouse::Error::Protocol(
                        "the output failed".into(),
                    ))
                }
            })
            .map(drop)
            .context("reading from ClickHouse"),
    };
    progress.finish();
    if let Some(e) = failed {
        return Err(anyhow::Error::new(e).context("writing the output"));
    }
    scan?;
    let mut identifies = 0u64;
    for (site, visitors) in &seen {
        for (visitor, user, ts) in src.links(site)? {
            if !visitors.contains(&visitor) {
                continue;
            }
            let rec = Record::Identify(Identify {
                site: site.clone(),
                ts,
                visitor,
                user,
            });
            w.write(&rec).context("writing the output")?;
            identifies += 1;
        }
    }
    let mut out = w.finish().context("finishing the output")?;
    out.flush().context("writing the output")?;
    Ok((events, identifies))
}

/// Copies an event into a reused one, keeping its string buffers.
fn copy_event(dst: &mut Event, src: &Event) {
    dst.site.clone_from(&src.site);
    dst.ts = src.ts;
    dst.visitor = src.visitor;
    for (d, s) in dst.dims.iter_mut().zip(&src.dims) {
        d.clone_from(s);
    }
    dst.props.clone_from(&src.props);
    dst.revenue.clone_from(&src.revenue);
}

/// Where a file is written before it is complete: beside it, so the rename is atomic.
fn partial_path(out: &Path) -> PathBuf {
    let name = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "export".into());
    out.with_file_name(format!(".{name}.cairn-partial"))
}
