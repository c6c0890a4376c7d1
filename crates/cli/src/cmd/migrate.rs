//! `cairn migrate --to clickhouse`: copies the store's events and identity links into
//! ClickHouse with the shipper of the ClickHouse backend (`cairn_server::ship`), keeping
//! the store as it is. Resumable: the segments copied are recorded in the data
//! directory, and a segment interrupted half way is sent again with the same
//! deduplication tokens, so it is stored once. Checked by counting every site's events
//! on both sides.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use cairn_clickhouse::{ClickHouse, Config};
use cairn_server::ship::Shipper;
use cairn_store::{CompactionPolicy, Options};

use crate::cli::{MigrateArgs, MigrateTarget};
use crate::human;
use crate::store::{self, Open};

pub fn run(data: &Path, args: MigrateArgs) -> Result<ExitCode> {
    let MigrateTarget::Clickhouse = args.to;
    let started = Instant::now();
    // No compaction while copying: a merged segment would be copied again.
    let opts = Options {
        background: false,
        compaction: CompactionPolicy::never(),
        ..Options::default()
    };
    let store = Arc::new(store::open_opts(data, Open::Existing, opts)?);
    store.flush().context("flushing the store's buffer")?;
    let config = Config {
        url: args.clickhouse_url.clone(),
        database: args.clickhouse_database.clone(),
        batch_rows: args.batch_rows.max(1),
        ..Config::default()
    };
    let ch = Arc::new(
        ClickHouse::connect(config)
            .with_context(|| format!("connecting to ClickHouse at {}", args.clickhouse_url))?,
    );
    let mut shipper = Shipper::new(data, Arc::clone(&store), Arc::clone(&ch), args.batch_rows)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let before = shipper.state().copied.len();
    let done = shipper.round(false).map_err(|e| {
        anyhow::anyhow!("copying to ClickHouse: {e} (run the command again to resume)")
    })?;
    println!(
        "copied {} in {} segment(s) and {} identity link(s) in {} ({} segment(s) were copied before)",
        human::plural(done.events, "event"),
        done.segments,
        done.links,
        human::secs(started.elapsed()),
        before
    );
    // Every site's events, on both sides.
    let mut local: BTreeMap<String, u64> = BTreeMap::new();
    store
        .for_each_event(|e| {
            match local.get_mut(&e.site) {
                Some(n) => *n += 1,
                None => {
                    local.insert(e.site.clone(), 1);
                }
            }
            Ok(())
        })
        .context("counting the store's events")?;
    let mut bad = Vec::new();
    for (site, n) in &local {
        let m = ch.count_events(Some(site))?;
        println!(
            "  {site}: {} here, {} in ClickHouse",
            human::count(*n),
            human::count(m)
        );
        if m != *n {
            bad.push(site.clone());
        }
    }
    if !bad.is_empty() {
        bail!(
            "the counts differ for {}: ClickHouse holds other events of these sites (a copy from another store, or segments this store merged after an earlier copy); see docs/clickhouse.md",
            bad.join(", ")
        );
    }
    println!(
        "verified: ClickHouse holds exactly the store's events; serve them with `cairn serve --backend clickhouse --clickhouse-url {}`",
        args.clickhouse_url
    );
    Ok(ExitCode::SUCCESS)
}
