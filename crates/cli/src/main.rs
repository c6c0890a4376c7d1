//! `cairn`, the command line: parses arguments and calls into the library crates
//! (`cairn-store`, `cairn-formats`, `cairn-gen`). One module per command under `cmd/`.
//!
//! Exit codes: 0 success; 1 an error (nothing more was done than the message says);
//! 2 `import --on-error skip` skipped bad rows (the good rows were imported).

use std::process::ExitCode;

use clap::Parser;

mod args;
mod cli;
mod cmd;
mod human;
mod pipe;
mod progress;
mod store;

/// Records own many small strings: mimalloc makes bulk import and export faster.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    match cmd::run(cli) {
        Ok(code) => code,
        Err(err) => {
            if is_broken_pipe(&err) {
                // `cairn export --out - | head`: the reader has gone, which is not an error.
                return ExitCode::SUCCESS;
            }
            eprintln!("error: {err}");
            let mut last = err.to_string();
            for cause in err.chain().skip(1) {
                let text = cause.to_string();
                // Messages that already quote their cause need not repeat it.
                if !last.contains(&text) {
                    eprintln!("  caused by: {text}");
                }
                last = text;
            }
            ExitCode::FAILURE
        }
    }
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|e| {
        e.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
