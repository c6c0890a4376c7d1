//! Full-scan speed of visitor timelines (visitor, time, event name): the bound on every
//! analysis. `cargo run --release -p cairn-store --example scan -- DIR [THREADS]`
//!
//! Scans every site of the store in DIR, once on one thread and once on THREADS worker
//! threads (default: the number of cores), three times each, and prints the best run
//! in events per second and events per second per core.

use std::time::Instant;

use cairn_model::Dim;
use cairn_store::{Options, ScanRequest, Store};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let dir = args.next().ok_or("usage: scan DIR [THREADS]")?;
    let threads: usize = match args.next() {
        Some(t) => t.parse()?,
        None => std::thread::available_parallelism()?.get(),
    };
    let store = Store::open(
        &dir,
        Options {
            background: false,
            ..Options::default()
        },
    )?;
    let stats = store.stats()?;
    let sites: Vec<String> = stats.sites.keys().cloned().collect();
    println!(
        "{} events, {} visitors, {} segments, {:.2} bytes/event",
        stats.events,
        stats.visitors,
        stats.segments,
        (stats.segment_bytes + stats.wal_bytes) as f64 / stats.events.max(1) as f64
    );
    for (col, b) in store.column_bytes() {
        if b > 0 {
            println!(
                "  {col:>14}: {:.3} bytes/event",
                b as f64 / stats.events.max(1) as f64
            );
        }
    }
    for (label, n) in [("1 thread", 1usize), ("all threads", threads)] {
        let mut best = f64::MAX;
        let mut checksum = 0u64;
        for _ in 0..3 {
            let t0 = Instant::now();
            let mut events = 0u64;
            let mut sum = 0u64;
            for site in &sites {
                let scan = store.scan(ScanRequest::new(site.as_str()).dims(&[Dim::Name]))?;
                let scan: &dyn cairn_store::TimelineScan = &scan;
                let parts = scan.par_fold(
                    n,
                    || (0u64, 0u64),
                    |acc, t| {
                        acc.0 += t.len() as u64;
                        // Touch every column so nothing is optimised away.
                        let names: u64 = t.dim(Dim::Name).iter().map(|&x| u64::from(x)).sum();
                        acc.1 = acc
                            .1
                            .wrapping_add(t.visitor ^ names ^ t.ts[t.len() - 1] as u64);
                    },
                )?;
                for (e, s) in parts {
                    events += e;
                    sum = sum.wrapping_add(s);
                }
            }
            let secs = t0.elapsed().as_secs_f64();
            assert_eq!(events, stats.events, "every event scanned");
            best = best.min(secs);
            checksum = sum;
        }
        let rate = stats.events as f64 / best;
        println!(
            "{label:>12} ({n}): {:.3} s, {:.1} M events/s, {:.1} M events/s per core (checksum {checksum:x})",
            best,
            rate / 1e6,
            rate / 1e6 / n as f64
        );
    }
    Ok(())
}
