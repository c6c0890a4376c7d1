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

/// The mimalloc option that sets how long freed memory is kept before it goes back to the
/// system (default 10 ms, but only acted on at a later allocation in the same thread: an
/// idle server kept hundreds of MiB after a burst of queries).
const PURGE_DELAY: &str = "MIMALLOC_PURGE_DELAY";

/// The mimalloc option that lets the process use transparent huge pages. Cairn runs
/// without them: where another process had just used and freed a few GiB, the kernel's
/// first 2 MiB pages for a fresh `cairn query` took so long to find and zero that the
/// first query of the 10M benchmark's lift ran in 91–108 ms instead of 50–65; warm
/// queries ran as fast either way, and a 10M import slightly faster without them
/// (8.1–8.5 s against 8.6–8.8 s, 430 against 490 MiB). Unless an operator sets it, the
/// process turns them off itself ([`no_huge_pages`]).
const ALLOW_THP: &str = "MIMALLOC_ALLOW_THP";

fn main() -> ExitCode {
    no_huge_pages();
    let cli = cli::Cli::parse();
    let wanted = [(PURGE_DELAY, purge_delay(&cli.command))];
    let missing: Vec<(&str, &str)> = wanted
        .iter()
        .filter_map(|&(k, v)| Some((k, v?)))
        .filter(|(k, _)| std::env::var_os(k).is_none())
        .collect();
    if !missing.is_empty() {
        set_allocator_options(&missing);
    }
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

/// The allocator's purge delay a command runs with, when not the default:
/// * the server returns freed memory at once, so it is back near its idle size seconds
///   after its queries (docs/operations.md, "Memory");
/// * `cairn import` keeps it a second: each batch frees and allocates again about a
///   gigabyte of small strings, and with the default the kernel zeroed those pages anew
///   for every batch (a 10M import: 19–22 s, 6 s of it in the kernel; 15 s, 1.3 s).
fn purge_delay(c: &cli::Command) -> Option<&'static str> {
    match c {
        cli::Command::Serve(_) => Some("0"),
        cli::Command::Demo(d) if !d.no_serve && d.generate.is_none() => Some("0"),
        cli::Command::Import(_) => Some("1000"),
        _ => None,
    }
}

/// Turns transparent huge pages off for this process (and what it runs), as
/// `MIMALLOC_ALLOW_THP=0` would, unless that option is set: mimalloc reads it before
/// `main`, and the kernel's flag has the same effect on every page faulted in from here.
/// (Setting the option meant running the command a second time, as the purge delay
/// still does: a second process start and its relocations, 2–3 ms of a 22 ms cold
/// `cairn query` at 1M events.)
fn no_huge_pages() {
    if std::env::var_os(ALLOW_THP).is_none() {
        // Where the kernel has no such flag, pages are what they would have been.
        let _ = rustix::thread::disable_transparent_huge_pages(true);
    }
}

/// Runs this command again with the allocator's `options` set. The allocator reads its
/// options before `main`, and setting them from here would take `unsafe` code, so the
/// process replaces itself (same pid) with the options in its environment. An operator's
/// own setting of an option is kept (the caller passes only those not set); when the
/// process cannot be replaced it carries on with the defaults.
fn set_allocator_options(options: &[(&str, &str)]) {
    use std::os::unix::process::CommandExt;
    let Ok(exe) = std::env::current_exe() else {
        return;
    };
    let err = std::process::Command::new(exe)
        .args(std::env::args_os().skip(1))
        .envs(options.iter().copied())
        .exec();
    eprintln!("note: the allocator runs with its default options ({err})");
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|e| {
        e.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
