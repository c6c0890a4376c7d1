//! `cairn serve [--listen ADDR]`: the HTTP server.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result};
use cairn_server::{AppState, Limits};
use cairn_store::Options;

use crate::cli::ServeArgs;
use crate::store::{self, Open};

pub fn run(data: &Path, args: ServeArgs) -> Result<ExitCode> {
    let store = Arc::new(store::open_opts(data, Open::Create, Options::default())?);
    let meta = cairn_meta::Meta::open(data).context("opening the site registry")?;
    if meta.sites()?.is_empty() {
        eprintln!(
            "note: no site is registered yet, so every event will be refused: `cairn --data {} site add DOMAIN`",
            data.display()
        );
    }
    let limits = Limits {
        max_body: args.max_body,
        max_batch: args.max_batch,
        ..Limits::default()
    };
    let state = AppState::new(Arc::clone(&store), meta, limits);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .with_context(|| {
                format!(
                    "cannot listen on {}: is another server using it?",
                    args.listen
                )
            })?;
        let addr = listener.local_addr()?;
        println!("listening on http://{addr} (data in {})", data.display());
        cairn_server::serve_on(listener, state)
            .await
            .context("serving")
    })?;
    drop(rt);
    match Arc::try_unwrap(store) {
        Ok(s) => s.close().context("closing the store")?,
        Err(_) => eprintln!("note: the store is still in use; it was flushed"),
    }
    eprintln!("stopped; every acknowledged event is stored");
    Ok(ExitCode::SUCCESS)
}
