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

/// `cairn verify`: reads every segment and checks every checksum.
pub fn verify(data: &Path) -> Result<ExitCode> {
    let started = Instant::now();
    let store = store::open(data, Open::Existing)?;
    let segs = store.segments();
    let rows: u64 = segs.iter().map(|s| s.rows).sum();
    let bytes: u64 = segs.iter().map(|s| s.bytes).sum();
    store.verify().with_context(|| {
        format!(
            "the store in {} is damaged: restore the named file from a snapshot (`cairn snapshot`) or an export",
            data.display()
        )
    })?;
    println!(
        "verified {} segments ({} events, {}) in {}: every checksum matches",
        human::count(segs.len() as u64),
        human::count(rows),
        human::bytes(bytes),
        human::secs(started.elapsed())
    );
    Ok(ExitCode::SUCCESS)
}

/// `cairn snapshot DEST`.
pub fn snapshot(data: &Path, args: SnapshotArgs) -> Result<ExitCode> {
    let store = store::open(data, Open::Existing)?;
    store
        .snapshot(&args.dest)
        .with_context(|| format!("writing a snapshot to {}", args.dest.display()))?;
    let rows: u64 = store.segments().iter().map(|s| s.rows).sum();
    store.close().context("closing the store")?;
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
    let store = store::open(data, Open::Existing)?;
    let visitors: Vec<u64> = args.visitors.iter().map(|v| parse_visitor_id(v)).collect();
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
