//! `cairn demo`: generated demo sites (`cairn-gen`) into an empty store, or
//! `--generate N --out FILE` to write them as NDJSON.

use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use cairn_gen::{GenConfig, SITES, generate};
use cairn_model::Record;
use cairn_store::CompactionPolicy;

use crate::args::{DAY_MS, now_ms};
use crate::cli::Format;
use crate::cli::{DemoArgs, ServeArgs};
use crate::cmd::{export, import, serve, stats};
use crate::human;
use crate::pipe;
use crate::progress::{Progress, Unit};
use crate::store::{self, Open};

/// The demo's login (a superuser).
const DEMO_USER: &str = "demo@cairn.local";

/// The demo sites' goals and funnels: the documented examples, one file per site kind.
const DEFINITIONS: [(&str, &str); 3] = [
    (
        "shop.example",
        include_str!("../../../../docs/examples/shop.toml"),
    ),
    (
        "saas.example",
        include_str!("../../../../docs/examples/saas.toml"),
    ),
    (
        "news.example",
        include_str!("../../../../docs/examples/news.toml"),
    ),
];

/// Buffer in front of the output file.
const WRITE_BUF: usize = 8 << 20;

pub fn run(data: &Path, args: DemoArgs) -> Result<ExitCode> {
    let days = args.days;
    let now = now_ms();
    let filling = args.generate.is_none();
    // By default a file of generated events ends at today's midnight (UTC): recent,
    // complete days, exactly N events. The demo's own store instead runs through now:
    // its last day is today, and the events later than now are left out, so "today",
    // the visitors right now and the comparison with the previous period have data.
    let start_ms = match args.start {
        Some(t) => t.ms,
        None if filling => now.div_euclid(DAY_MS) * DAY_MS - i64::from(days - 1) * DAY_MS,
        None => now.div_euclid(DAY_MS) * DAY_MS - i64::from(days) * DAY_MS,
    };
    let through_now = filling && args.start.is_none();
    let end_ms = if through_now {
        now
    } else {
        start_ms.saturating_add(i64::from(days) * DAY_MS)
    };
    if end_ms > now_ms() + cairn_model::limits::MAX_FUTURE_MS {
        bail!(
            "the generated days would run into the future (past {}), where imports refuse events; pick an earlier --start or fewer --days",
            cairn_model::format_rfc3339_ms(now_ms() + cairn_model::limits::MAX_FUTURE_MS)
        );
    }
    match (args.generate, &args.out) {
        (Some(n), Some(out)) => {
            let cfg = GenConfig {
                seed: args.seed,
                events: n.0,
                start_ms,
                days,
            };
            write_file(&cfg, out)
        }
        _ => {
            let cfg = GenConfig {
                seed: args.seed,
                events: args.events.0,
                start_ms,
                days,
            };
            let serve = !args.no_serve;
            let listen = args
                .listen
                .unwrap_or_else(|| "127.0.0.1:8080".parse().expect("a valid address"));
            // Before anything is filled or printed: a login for a server that cannot
            // start would mislead.
            if serve {
                std::net::TcpListener::bind(listen).with_context(|| {
                    format!(
                        "cannot listen on {listen}: is another server using it? Choose another address with --listen ADDR"
                    )
                })?;
            }
            let cut = through_now.then_some(now);
            let spend = fill_store(data, &cfg, cut, serve)?;
            if !serve {
                return Ok(ExitCode::SUCCESS);
            }
            let mut meta = cairn_meta::Meta::open(data).context("opening the site registry")?;
            for site in SITES {
                if meta.site(site)?.is_none() {
                    meta.add_site(site, "UTC")?;
                }
                // Each site's goals and funnels (docs/examples/), unless it has its own.
                if meta.definitions(site)?.is_none()
                    && let Some((_, toml)) = DEFINITIONS.iter().find(|(d, _)| *d == site)
                {
                    let defs = cairn_model::query::Definitions::from_toml(toml)
                        .with_context(|| format!("the demo definitions of {site}"))?;
                    meta.set_definitions(site, &serde_json::to_string(&defs)?)?;
                }
            }
            // The shop's campaign spend (docs/campaigns.md), priced from the visits the
            // demo generated.
            if let Some(rows) = spend
                && meta.spend("shop.example", None)?.is_empty()
            {
                meta.import_spend("shop.example", &rows)?;
            }
            // A demo login, with a fresh password each start (only its hash is kept).
            let password = cairn_meta::Meta::random_password(16);
            if meta.user(DEMO_USER)?.is_none() {
                meta.add_user(DEMO_USER, &password, true)?;
            } else {
                meta.set_password(DEMO_USER, &password)?;
            }
            drop(meta);
            println!(
                "\nThe demo sites ({sites}) are registered.\n\
                 Dashboard: http://{listen}/ — log in as {DEMO_USER} with the password {password}\n\
                 (the API: docs/api.md; a read key for scripts: `cairn --data {d} site key shop.example`).\n\
                 A page sends events with\n  \
                 <script defer data-site=\"shop.example\" src=\"http://{listen}/cairn.js\"></script>\n",
                sites = SITES.join(", "),
                d = data.display()
            );
            serve::run(
                data,
                ServeArgs {
                    listen: Some(listen),
                    ..ServeArgs::default()
                },
            )
        }
    }
}

/// Streams generated records into `sink` on this thread while the generator runs on
/// another, with a progress bar counting events. Records later than `cut` are left out
/// (and counted in the returned number).
fn generated<U>(
    cfg: &GenConfig,
    prefix: &str,
    cut: Option<i64>,
    mut see: impl FnMut(&Record) + Send,
    sink: impl FnOnce(pipe::Received<Record>, &Progress) -> U,
) -> (U, u64) {
    let progress = Progress::new(prefix, Unit::Items, Some(cfg.events));
    let (later, out) = pipe::pipeline(
        |tx| {
            let mut events = 0u64;
            let mut later = 0u64;
            for r in generate(cfg) {
                if cut.is_some_and(|c| r.ts() > c) {
                    later += u64::from(matches!(r, Record::Event(_)));
                    continue;
                }
                see(&r);
                if matches!(r, Record::Event(_)) {
                    events += 1;
                    if events.is_multiple_of(pipe::BATCH as u64) {
                        progress.update(events, events);
                    }
                }
                if !tx.push(r) {
                    break;
                }
            }
            later
        },
        |records| sink(records, &progress),
    );
    progress.finish();
    (out, later)
}

/// `--generate N --out FILE`.
fn write_file(cfg: &GenConfig, out: &Path) -> Result<ExitCode> {
    let started = Instant::now();
    let to_stdout = out.as_os_str() == "-";
    // NDJSON unless the name says CSV or Parquet.
    let format = if to_stdout {
        Format::Ndjson
    } else {
        import::format_of(out).unwrap_or(Format::Ndjson)
    };
    let w: export::Out = if to_stdout {
        Box::new(BufWriter::with_capacity(WRITE_BUF, io::stdout()))
    } else {
        let f = File::create(out).with_context(|| format!("cannot create {}", out.display()))?;
        Box::new(BufWriter::with_capacity(WRITE_BUF, f))
    };
    let mut w = export::Writer::new(format, w)?;
    let written = generated(
        cfg,
        "generating",
        None,
        |_| {},
        |records, _| -> Result<u64> {
            let mut identifies = 0u64;
            for r in records {
                if matches!(r, Record::Identify(_)) {
                    identifies += 1;
                }
                w.write(&r).context("writing the events")?;
            }
            Ok(identifies)
        },
    )
    .0
    .and_then(|ids| {
        let mut inner = w.finish().context("writing the events")?;
        inner.flush().context("writing the events")?;
        Ok(ids)
    });
    let identifies = match written {
        Ok(n) => n,
        Err(e) => {
            if !to_stdout {
                let _ = fs::remove_file(out);
            }
            return Err(e);
        }
    };
    let elapsed = started.elapsed();
    let size = if to_stdout {
        String::new()
    } else {
        let n = fs::metadata(out).map(|m| m.len()).unwrap_or(0);
        format!(" to {} ({})", out.display(), human::bytes(n))
    };
    let line = format!(
        "wrote {} and {}{size} in {} ({} events/s); import them with `cairn import`",
        human::plural(cfg.events, "event"),
        human::plural(identifies, "identify record"),
        human::secs(elapsed),
        human::count(human::per_sec(cfg.events, elapsed)),
    );
    if to_stdout {
        eprintln!("{line}");
    } else {
        println!("{line}");
    }
    Ok(ExitCode::SUCCESS)
}

/// `cairn demo`: fills an empty store.
/// Fills an empty store with the demo's events; the shop's campaign spend, tallied from
/// them (none when the store held events already).
fn fill_store(
    data: &Path,
    cfg: &GenConfig,
    cut: Option<i64>,
    serving: bool,
) -> Result<Option<Vec<cairn_model::query::Spend>>> {
    let mut spend = None;
    let store = store::open(data, Open::Create)?;
    let held = store.stats().context("reading the store's statistics")?;
    if held.events > 0 {
        println!(
            "the store in {} already holds {} events; the demo leaves it as it is (use another --data directory for a fresh demo)\n",
            data.display(),
            human::count(held.events)
        );
    } else {
        let started = Instant::now();
        let mut tally = cairn_gen::SpendTally::new(cfg);
        let (imported, later) = generated(
            cfg,
            "generating",
            cut,
            |r| tally.see(r),
            |records, _| store.import(records),
        );
        let imported = imported.context("importing the demo events")?;
        spend = Some(tally.rows());
        store
            .compact(&CompactionPolicy::eager())
            .context("compacting the demo segments")?;
        let window = match cut {
            Some(_) => format!(
                "over {} days through now ({} later than now left out)",
                cfg.days,
                human::count(later)
            ),
            None => format!("over {} days", cfg.days),
        };
        println!(
            "generated {} demo events for {} {window} (seed {}) in {} ({} events/s)\n",
            human::count(imported),
            SITES.join(", "),
            cfg.seed,
            human::secs(started.elapsed()),
            human::count(human::per_sec(imported, started.elapsed())),
        );
    }
    stats::print_table(data, &store)?;
    store.close().context("closing the store")?;
    if serving {
        return Ok(spend);
    }
    println!(
        "\n`cairn demo` (without --no-serve) also runs the server with the dashboard, ready to collect."
    );
    println!(
        "Analyse the demo from the command line, e.g. the shop's goals and its purchase funnel:\n  \
         cairn --data {d} query --spec docs/examples/goals.json --defs docs/examples/shop.toml\n  \
         cairn --data {d} query --spec docs/examples/funnel.json\n\
         or export it for DuckDB or pandas: `cairn --data {d} export --out events.parquet`.",
        d = data.display()
    );
    Ok(spend)
}
