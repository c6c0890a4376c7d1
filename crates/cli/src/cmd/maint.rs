//! Thin wrappers over the store's maintenance: `verify`, `snapshot`, `retain`, `erase`.

use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result};
use cairn_model::parse_visitor_id;

use crate::args::now_ms;
use crate::cli::{EraseArgs, RetainArgs, SnapshotArgs};
use crate::human;
use crate::store::{self, Open};
use cairn_store::{Options, Store};

/// `cairn verify`: checks everything, changes nothing; exit 1 on any damage.
pub fn verify(data: &Path) -> Result<ExitCode> {
    let started = Instant::now();
    store::require_existing(data)?;
    // While a server holds the store, check a consistent copy of it: its segments are
    // hard links to the same files, its log a copy taken now.
    let mut v = match Store::verify_dir(data) {
        Err(cairn_store::StoreError::Locked(_)) => {
            let copy = store::shared_copy(data)?;
            let v = Store::verify_dir(&copy);
            let _ = std::fs::remove_dir_all(&copy);
            v.map_err(|e| store::explain(data, e))?
        }
        v => v.map_err(|e| store::explain(data, e))?,
    };
    // The site registry lives beside the store: checked too (read only).
    if cairn_meta::Meta::exists(data) {
        for why in cairn_meta::Meta::check(data) {
            v.problems.push(cairn_store::Problem {
                path: data.join("meta.sqlite"),
                detail: format!("the site registry is damaged: {why}"),
                events: None,
            });
        }
    }
    if let Some(t) = &v.torn_tail {
        println!(
            "note: {} ends with {} bytes of a write that a crash interrupted (never acknowledged); opening the store cuts them",
            t.path.display(),
            t.bytes
        );
    }
    if !v.leftovers.is_empty() {
        println!(
            "note: {} leftover file(s) of interrupted writes; opening the store removes them",
            v.leftovers.len()
        );
    }
    if !v.problems.is_empty() {
        eprintln!(
            "the store in {} is damaged ({}):",
            data.display(),
            human::plural(v.problems.len() as u64, "problem")
        );
        for p in &v.problems {
            let lost = p
                .events
                .map(|n| format!(" [{} events]", human::count(n)))
                .unwrap_or_default();
            eprintln!("  {}: {}{lost}", p.path.display(), p.detail);
        }
        eprintln!(
            "restore the named files from a snapshot (`cairn snapshot`), or run `cairn --data {} repair` to drop what is damaged (it says what it drops)",
            data.display()
        );
        return Ok(ExitCode::FAILURE);
    }
    println!(
        "verified {} segments ({} events, {}) and the log ({} records) in {}: every checksum matches",
        human::count(v.segments),
        human::count(v.events),
        human::bytes(v.bytes),
        human::count(v.log_records),
        human::secs(started.elapsed())
    );
    Ok(ExitCode::SUCCESS)
}

/// `cairn repair`: mends a damaged store and says what it dropped.
pub fn repair(data: &Path) -> Result<ExitCode> {
    store::require_existing(data)?;
    let r = Store::repair(data, Options::default()).map_err(|e| store::explain(data, e))?;
    if r.problems.is_empty() {
        println!(
            "the store in {} is sound: nothing to repair",
            data.display()
        );
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "repaired {}:",
        human::plural(r.problems.len() as u64, "problem")
    );
    for p in &r.problems {
        println!("  {}: {}", p.path.display(), p.detail);
    }
    for (path, events) in &r.dropped_segments {
        println!(
            "dropped segment {} ({} events)",
            path.display(),
            human::count(*events)
        );
    }
    if r.lost_frames > 0 {
        println!(
            "dropped {} of the log (damaged or missing; their events cannot be counted)",
            human::plural(r.lost_frames, "append")
        );
    }
    for p in &r.lost_logs {
        println!("dropped log file {} (its header is damaged)", p.display());
    }
    println!("kept {} records from the log", human::count(r.kept_records));
    if let Some(lf) = &r.lost_found {
        println!("what was taken out is in {}", lf.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// `cairn snapshot DEST`.
pub fn snapshot(data: &Path, args: SnapshotArgs) -> Result<ExitCode> {
    store::require_existing(data)?;
    let opts = Options {
        background: false,
        ..Options::default()
    };
    let rows: u64 = match Store::open(data, opts.clone()) {
        Ok(store) => {
            store
                .snapshot(&args.dest)
                .with_context(|| format!("writing a snapshot to {}", args.dest.display()))?;
            let rows = store.segments().iter().map(|s| s.rows).sum();
            store.close().context("closing the store")?;
            rows
        }
        Err(cairn_store::StoreError::Locked(_)) => {
            // A running server holds it: an online copy, consistent as of now.
            Store::snapshot_shared(data, &args.dest).map_err(|e| store::explain(data, e))?;
            let copy = Store::open(&args.dest, opts).map_err(|e| store::explain(&args.dest, e))?;
            let rows = copy.stats().map(|s| s.events).unwrap_or(0);
            copy.close().context("closing the snapshot")?;
            rows
        }
        Err(e) => return Err(store::explain(data, e)),
    };
    let sites = cairn_meta::Meta::exists(data);
    if sites {
        cairn_meta::Meta::open(data)
            .and_then(|m| m.copy_into(&args.dest))
            .with_context(|| format!("copying the site registry to {}", args.dest.display()))?;
    }
    println!(
        "wrote a snapshot of {} events{} to {}; it opens as a store (`cairn --data {} stats`)",
        human::count(rows),
        if sites {
            " and the registered sites"
        } else {
            ""
        },
        args.dest.display(),
        args.dest.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// `cairn retain --days N`.
pub fn retain(data: &Path, args: RetainArgs) -> Result<ExitCode> {
    let store = store::open(data, Open::Existing)?;
    let dropped = store
        .retain_days(args.days, now_ms())
        .context("dropping old partitions")?;
    store.close().context("closing the store")?;
    println!(
        "dropped {} events older than {} days (whole UTC days; today counts as one)",
        human::count(dropped),
        args.days
    );
    Ok(ExitCode::SUCCESS)
}

/// `cairn erase --site S (--visitor ID | --user ID)…`.
pub fn erase(data: &Path, args: EraseArgs) -> Result<ExitCode> {
    let visitors: Vec<u64> = args.visitors.iter().map(|v| parse_visitor_id(v)).collect();
    if let Some(url) = &args.clickhouse_url {
        let config = cairn_clickhouse::Config {
            url: url.clone(),
            database: args.clickhouse_database.clone(),
            ..cairn_clickhouse::Config::default()
        };
        let ch = cairn_clickhouse::ClickHouse::connect(config)
            .with_context(|| format!("connecting to ClickHouse at {url}"))?;
        let erased = ch
            .erase(&args.site, &visitors, &args.users)
            .context("erasing in ClickHouse")?;
        println!(
            "erased every event and link of {} of {} in ClickHouse (gone from queries now, from disk as its parts merge)",
            human::plural(erased.len() as u64, "visitor"),
            args.site
        );
        // Then the events still waiting in this server's store for the shipper (none
        // when this machine keeps no store).
        if !data.exists() {
            return Ok(ExitCode::SUCCESS);
        }
    }
    let store = store::open(data, Open::Existing)?;
    let erased = store
        .erase(&args.site, &visitors, &args.users)
        .context("erasing")?;
    store.close().context("closing the store")?;
    println!(
        "erased every event of {} of {} from the log and every segment",
        human::plural(erased.len() as u64, "visitor"),
        args.site
    );
    Ok(ExitCode::SUCCESS)
}
