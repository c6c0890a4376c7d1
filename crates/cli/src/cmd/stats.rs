//! `cairn stats [--json]`: what the store holds and what it costs on disk.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result};
use cairn_model::format_rfc3339_ms;
use cairn_store::{Stats, Store};
use serde_json::json;

use crate::cli::StatsArgs;
use crate::human;
use crate::store;

pub fn run(data: &Path, args: StatsArgs) -> Result<ExitCode> {
    let store = store::open_read(data)?;
    let stats = store.stats().context("reading the store's statistics")?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&to_json(data, &stats))?);
    } else {
        print!("{}", table(data, &stats));
    }
    drop(store);
    Ok(ExitCode::SUCCESS)
}

/// Prints the statistics of an open store as a table (for `cairn demo`).
pub fn print_table(data: &Path, store: &Store) -> Result<()> {
    let stats = store.stats().context("reading the store's statistics")?;
    print!("{}", table(data, &stats));
    Ok(())
}

/// The JSON form: every figure as a number, times as RFC 3339.
fn to_json(data: &Path, s: &Stats) -> serde_json::Value {
    json!({
        "data_dir": data.display().to_string(),
        "events": s.events,
        "buffered": s.buffered,
        "visitors": s.visitors,
        "partitions": s.partitions,
        "segments": s.segments,
        "bytes_on_disk": s.bytes_on_disk(),
        "segment_bytes": s.segment_bytes,
        "wal_bytes": s.wal_bytes,
        "other_bytes": s.other_bytes,
        "bytes_per_event": s.bytes_per_event(),
        "time_range": s.time_range.map(|(a, b)| json!({
            "first": format_rfc3339_ms(a),
            "last": format_rfc3339_ms(b),
        })),
        "sites": s.sites,
    })
}

fn table(data: &Path, s: &Stats) -> String {
    let mut out = String::new();
    let mut row = |k: &str, v: String| out.push_str(&format!("{k:<12} {v}\n"));
    row("store", data.display().to_string());
    row(
        "events",
        format!(
            "{} ({} buffered in the log)",
            human::count(s.events),
            human::count(s.buffered)
        ),
    );
    row("visitors", human::count(s.visitors));
    row(
        "time range",
        match s.time_range {
            Some((a, b)) => format!("{} .. {}", format_rfc3339_ms(a), format_rfc3339_ms(b)),
            None => "-".into(),
        },
    );
    row(
        "partitions",
        format!(
            "{} (UTC weeks from Monday, sealed ones four weeks)",
            human::count(s.partitions)
        ),
    );
    row("segments", human::count(s.segments));
    row(
        "on disk",
        format!(
            "{} (segments {}, log {}, other {})",
            human::bytes(s.bytes_on_disk()),
            human::bytes(s.segment_bytes),
            human::bytes(s.wal_bytes),
            human::bytes(s.other_bytes)
        ),
    );
    row(
        "bytes/event",
        s.bytes_per_event()
            .map_or("-".into(), |b| format!("{b:.2}")),
    );
    if !s.sites.is_empty() {
        let w = s.sites.keys().map(|k| k.len()).max().unwrap_or(4).max(4);
        out.push_str(&format!("\n{:<w$}  {:>12}\n", "site", "events"));
        for (site, n) in &s.sites {
            out.push_str(&format!("{site:<w$}  {:>12}\n", human::count(*n)));
        }
    }
    out
}
