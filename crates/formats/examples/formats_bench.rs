//! Throughput of the readers and writers on generated web events, in memory (no disk).
//!
//! `cargo run --release -p cairn-formats --example formats_bench -- [EVENTS] [RUNS]`
//!
//! Environment knobs: `ONLY_NDJSON=1` stops after NDJSON; `INTERLEAVE=x` alternates 1-
//! and 2-thread NDJSON reads (fairer on a noisy machine), `INTERLEAVE=1` or `2` repeats
//! one; `CHUNK=N` sets the reader's lines per chunk.
//!
//! Measured on the 2-core development VM (1M events, 298 bytes each as NDJSON; medians of
//! several runs; the machine is noisy, runs vary by ±20%):
//!
//! | | glibc malloc | mimalloc |
//! | --- | --- | --- |
//! | `Record::from_json` alone, 1 thread | 0.57M/s | 0.66M/s |
//! | NDJSON read, 1 thread | 0.85M/s | 1.1M/s |
//! | NDJSON read, 2 threads | 1.3M/s | 1.5M/s |
//! | NDJSON write | 0.9–2.1M/s | 1.1–2.1M/s |
//! | Parquet write (zstd 3; 11.1 bytes/event) | 1.55M/s | 1.6M/s |
//! | Parquet read | 1.35M/s | 1.9M/s |
//! | CSV write / read | 0.9M/s / 0.38M/s | 0.83M/s / 0.5M/s |

use std::time::Instant;

use cairn_formats::{
    CsvMapping, CsvReader, CsvWriter, NdjsonReader, NdjsonWriter, ParquetReader, ParquetWriter,
};
use cairn_model::{Dim, Event, Identify, PropValue, Record, Revenue};

const NOW: i64 = 1_900_000_000_000;

/// A small deterministic generator of realistic events (xorshift).
struct Gen(u64);

impl Gen {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[(self.next() % xs.len() as u64) as usize]
    }
    fn chance(&mut self, p: f64) -> bool {
        (self.next() % 10_000) as f64 / 10_000.0 < p
    }
}

fn events(n: usize) -> Vec<Record> {
    let mut g = Gen(0x2545_f491_4f6c_dd1d);
    let mut ts = 1_767_225_600_000i64;
    (0..n)
        .map(|_| {
            ts += (g.next() % 2000) as i64;
            let visitor = g.next() % 200_000;
            if g.chance(0.01) {
                return Record::Identify(Identify {
                    site: "shop.example".into(),
                    ts,
                    visitor,
                    user: format!("lead-{}", g.next() % 10_000),
                });
            }
            let name = if g.chance(0.7) {
                "pageview"
            } else {
                g.pick(&[
                    "add_to_cart",
                    "signup",
                    "newsletter",
                    "video_play",
                    "purchase",
                ])
            };
            let mut e = Event::new("shop.example", ts, visitor, name);
            e.set(Dim::Host, "shop.example");
            e.set(
                Dim::Path,
                format!(
                    "{}{}",
                    g.pick(&["/", "/p/", "/blog/", "/cart", "/c/"]),
                    g.next() % 500
                ),
            );
            if g.chance(0.3) {
                e.set(Dim::Referrer, "https://www.google.com/");
                e.set(Dim::Source, "Google");
                e.set(Dim::Channel, "search");
            } else {
                e.set(Dim::Channel, "direct");
            }
            if g.chance(0.15) {
                e.set(Dim::UtmSource, "newsletter");
                e.set(Dim::UtmMedium, "email");
                e.set(Dim::UtmCampaign, "spring_sale");
            }
            e.set(Dim::Device, g.pick(&["desktop", "mobile", "tablet"]));
            e.set(
                Dim::Browser,
                g.pick(&["Chrome", "Safari", "Firefox", "Edge"]),
            );
            e.set(
                Dim::Os,
                g.pick(&["Windows", "macOS", "iOS", "Android", "Linux"]),
            );
            e.set(Dim::Country, g.pick(&["DE", "US", "FR", "GB", "JP", "BR"]));
            e.set(Dim::Screen, g.pick(&["s", "m", "l"]));
            e.set(Dim::Language, g.pick(&["en-US", "de-DE", "fr-FR"]));
            if name != "pageview" {
                e.props.push((
                    "plan".into(),
                    PropValue::Str(g.pick(&["free", "pro", "team"]).into()),
                ));
                e.props
                    .push(("value".into(), PropValue::Num((g.next() % 1000) as f64)));
            }
            if name == "purchase" {
                e.revenue = Some(Revenue {
                    micros: (g.next() % 500_000) as i64 * 100,
                    currency: "EUR".into(),
                });
            }
            Record::Event(e)
        })
        .collect()
}

fn rate(label: &str, n: usize, t: Instant) -> f64 {
    let s = t.elapsed().as_secs_f64();
    println!("{label:<40} {:>10.0} events/s  ({s:.3} s)", n as f64 / s);
    n as f64 / s
}

/// Runs `f` `runs` times and prints each rate.
fn best_of<F: FnMut() -> Result<(), Box<dyn std::error::Error>>>(
    label: &str,
    n: usize,
    runs: usize,
    mut f: F,
) -> Result<(), Box<dyn std::error::Error>> {
    for _ in 0..runs {
        let t = Instant::now();
        f()?;
        rate(label, n, t);
    }
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let n: usize = args
        .next()
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(1_000_000);
    let runs: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(3);
    let recs = events(n);
    println!(
        "{n} events, {} cores",
        std::thread::available_parallelism()?.get()
    );

    let mut nd = Vec::new();
    best_of("NDJSON write", n, runs, || {
        let mut w = NdjsonWriter::new(Vec::with_capacity(n * 320));
        w.write_all(&recs)?;
        nd = w.finish()?;
        Ok(())
    })?;
    println!("  {:.0} bytes/event", nd.len() as f64 / n as f64);

    best_of("NDJSON parse, Record::from_json only", n, runs, || {
        let mut ok = 0;
        for line in nd.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
            ok += usize::from(Record::from_json(std::str::from_utf8(line)?, NOW).is_ok());
        }
        assert_eq!(ok, n);
        Ok(())
    })?;
    let order: Vec<usize> = match std::env::var("INTERLEAVE") {
        Ok(v) if v == "1" || v == "2" => vec![v.parse()?; runs],
        Ok(_) => (0..runs).flat_map(|_| [1, 2]).collect(),
        Err(_) => vec![1, 2],
    };
    let runs = if std::env::var_os("INTERLEAVE").is_some() {
        1
    } else {
        runs
    };
    for threads in order {
        best_of(
            &format!("NDJSON read, {threads} thread(s)"),
            n,
            runs,
            || {
                let mut ok = 0;
                let chunk: usize = std::env::var("CHUNK")
                    .ok()
                    .and_then(|c| c.parse().ok())
                    .unwrap_or(cairn_formats::CHUNK_LINES);
                for item in NdjsonReader::new(&nd[..], NOW)
                    .with_threads(threads)
                    .with_chunk_lines(chunk)
                {
                    ok += usize::from(item?.is_ok());
                }
                assert_eq!(ok, n);
                Ok(())
            },
        )?;
    }

    if std::env::var_os("ONLY_NDJSON").is_some() {
        return Ok(());
    }
    let mut csv = Vec::new();
    best_of("CSV write", n, runs, || {
        let mut w = CsvWriter::new(Vec::with_capacity(n * 300))?;
        w.write_all(&recs)?;
        csv = w.finish()?;
        Ok(())
    })?;
    best_of("CSV read", n, runs, || {
        let mut ok = 0;
        for item in CsvReader::new(&csv[..], &CsvMapping::new(), NOW)? {
            ok += usize::from(item?.is_ok());
        }
        assert_eq!(ok, n);
        Ok(())
    })?;

    let mut pq = Vec::new();
    best_of("Parquet write (zstd 3)", n, runs, || {
        let mut w = ParquetWriter::new(Vec::with_capacity(n * 20))?;
        w.write(&recs)?;
        pq = w.finish()?;
        Ok(())
    })?;
    println!("  {:.2} bytes/event", pq.len() as f64 / n as f64);
    best_of("Parquet read", n, runs, || {
        let mut ok = 0;
        for item in ParquetReader::from_vec(pq.clone(), NOW)? {
            ok += usize::from(item?.is_ok());
        }
        assert_eq!(ok, n);
        Ok(())
    })?;
    Ok(())
}
