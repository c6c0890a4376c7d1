//! `cairn serve [--listen ADDR]`: the HTTP server.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result};
use cairn_server::{AppState, Config, Settings};
use cairn_store::Options;

use crate::cli::{Backend, ServeArgs};
use crate::store::{self, Open};

pub fn run(data: &Path, args: ServeArgs) -> Result<ExitCode> {
    // Structured logs to standard error: one JSON object per line; `CAIRN_LOG` (or
    // `RUST_LOG`) sets the level, e.g. `CAIRN_LOG=cairn=debug`.
    let filter = tracing_subscriber::EnvFilter::try_from_env("CAIRN_LOG")
        .or_else(|_| tracing_subscriber::EnvFilter::try_from_default_env())
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
    let mut config = Config::default();
    if let Some(path) = &args.config {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading the configuration {}", path.display()))?;
        config =
            Config::from_toml(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    }
    // --data (or CAIRN_DATA) wins over the file's `data`.
    let data_given = std::env::var_os("CAIRN_DATA").is_some()
        || std::env::args().any(|a| a == "--data" || a.starts_with("--data="));
    let data_buf;
    let data = match (&config.data, data_given) {
        (Some(d), false) => {
            data_buf = d.clone();
            data_buf.as_path()
        }
        _ => data,
    };
    let mut limits = config
        .limits()
        .map_err(|e| anyhow::anyhow!("configuration: {e}"))?;
    if let Some(b) = args.max_body {
        limits.max_body = b.max(1);
    }
    if let Some(b) = args.max_batch {
        limits.max_batch = b.max(1);
    }
    if let Some(r) = args.per_ip_rate {
        anyhow::ensure!(
            r.is_finite() && r >= 0.0,
            "--per-ip-rate must be a number ≥ 0"
        );
        limits.per_ip_rate = r;
    }
    if let Some(r) = args.per_site_rate {
        anyhow::ensure!(
            r.is_finite() && r >= 0.0,
            "--per-site-rate must be a number ≥ 0"
        );
        limits.per_site_rate = r;
    }
    let listen = args
        .listen
        .or(config.listen)
        .unwrap_or_else(|| "127.0.0.1:8080".parse().expect("a valid address"));
    let backend = match (args.backend, config.backend.as_deref()) {
        (Some(b), _) => b,
        (None, None | Some("embedded")) => Backend::Embedded,
        (None, Some("clickhouse")) => Backend::Clickhouse,
        (None, Some(other)) => anyhow::bail!(
            "configuration: backend must be \"embedded\" or \"clickhouse\", not {other:?}"
        ),
    };
    let ch_config = match backend {
        Backend::Embedded => None,
        Backend::Clickhouse => {
            let mut c = config.clickhouse.clone().unwrap_or_default();
            if let Some(u) = &args.clickhouse_url {
                c.url = u.clone();
            }
            if let Some(d) = &args.clickhouse_database {
                c.database = d.clone();
            }
            Some(c)
        }
    };
    let opts = match &ch_config {
        // The store is the write-ahead log and backlog: segments stay as flushed (no
        // compaction), so each is shipped once, and small batches are flushed often.
        Some(c) => Options {
            compaction: cairn_store::CompactionPolicy::never(),
            flush_rows: c.batch_rows,
            flush_interval: c.batch_interval(),
            ..Options::default()
        },
        None => Options::default(),
    };
    let opts = match args.cache_mib {
        Some(mib) => Options {
            chunk_cache: mib.saturating_mul(1 << 20),
            ..opts
        },
        None => opts,
    };
    let store = Arc::new(store::open_opts(data, Open::Create, opts)?);
    let holds_events = !store.segments().is_empty() || store.recovery().replayed > 0;
    if holds_events && !cairn_meta::Meta::exists(data) && !args.new_registry {
        anyhow::bail!(
            "the store in {} holds events but its site registry (meta.sqlite) is missing: restore it from a snapshot (`cairn snapshot` copies it), or start with an empty registry with `cairn serve --new-registry` (sites, users and keys must then be added again)",
            data.display()
        );
    }
    let mut meta = cairn_meta::Meta::open(data).context("opening the site registry")?;
    for (site, key) in config
        .apply_sites(&mut meta)
        .map_err(|e| anyhow::anyhow!("configuration: sites: {e}"))?
    {
        println!("registered {site} from the configuration; write key: {key}");
    }
    if meta.sites()?.is_empty() {
        eprintln!(
            "note: no site is registered yet, so every event will be refused: `cairn --data {} site add DOMAIN`",
            data.display()
        );
    }
    let conn = config
        .connections()
        .map_err(|e| anyhow::anyhow!("configuration: {e}"))?;
    let clickhouse = match ch_config {
        None => None,
        Some(c) => {
            let url = c.url.clone();
            let backlog_bytes = c.backlog_max_bytes;
            let interval = c.batch_interval();
            let batch_rows = c.batch_rows;
            let ch = Arc::new(
                cairn_clickhouse::ClickHouse::connect(c)
                    .with_context(|| format!("connecting to ClickHouse at {url}"))?,
            );
            let shipper = cairn_server::ship::Shipper::new(
                data,
                Arc::clone(&store),
                Arc::clone(&ch),
                batch_rows,
            )
            .map_err(|e| anyhow::anyhow!("the ClickHouse shipper: {e}"))?;
            let status = cairn_server::ship::spawn(shipper, interval);
            println!("events are shipped to ClickHouse at {url} and queried there");
            Some(cairn_server::ClickHouseBackend {
                ch,
                status,
                backlog_bytes,
            })
        }
    };
    let ship_status = clickhouse.as_ref().map(|c| Arc::clone(&c.status));
    let settings = Settings {
        clickhouse,
        limits,
        trust_proxy: args.trust_proxy || config.trust_proxy.unwrap_or(false),
        geoip: args.geoip.or(config.geoip),
        conn,
        metrics_token: args
            .metrics_token
            .or(config.metrics_token)
            .filter(|t| !t.is_empty()),
    };
    let state = AppState::with_settings(Arc::clone(&store), meta, settings)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| {
                format!(
                    "cannot listen on {listen}: is another server using it? Choose another address with --listen ADDR"
                )
            })?;
        let addr = listener.local_addr()?;
        println!("listening on http://{addr} (data in {})", data.display());
        tracing::info!(target: "cairn::serve", %addr, data = %data.display(), "listening");
        cairn_server::serve_on(listener, state)
            .await
            .context("serving")
    })?;
    drop(rt);
    if let Some(s) = ship_status {
        // Whatever is not shipped yet stays in the store and goes at the next start.
        s.stop(std::time::Duration::from_secs(10));
    }
    match Arc::try_unwrap(store) {
        Ok(s) => s.close().context("closing the store")?,
        Err(_) => eprintln!("note: the store is still in use; it was flushed"),
    }
    eprintln!("stopped; every acknowledged event is stored");
    Ok(ExitCode::SUCCESS)
}
