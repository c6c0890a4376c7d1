//! A store written by an older version: `tests/fixtures/v1` was made by Cairn 0.1.0 at
//! commit 7c634ab (segment format 1: one UTC day per segment; manifest version 2) with
//! `cairn demo --generate 400 --seed 3 --start 2026-09-01 --days 10` and `cairn import`.
//! Its log file is committed without its zero padding (`.head`: the 48-byte header; the
//! file was created 32 MiB long), which the test restores. `events.txt` lists every event
//! as that version read it back, one line each ([`line`]).
//!
//! This version must read it unchanged, and compaction must rewrite it in the current
//! format without changing an event.

use std::fs;
use std::path::Path;

use cairn_model::{Dim, Event, PropValue};
use cairn_store::{CompactionPolicy, Options, Store};

const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/v1");
const WAL_SIZE: u64 = 32 << 20;

/// One event as a line of text: every field, in a fixed order.
fn line(e: &Event) -> String {
    let mut s = format!("{}\t{}\t{:016x}", e.site, e.ts, e.visitor);
    for d in Dim::ALL {
        s.push('\t');
        s.push_str(e.dim(d));
    }
    for (k, v) in &e.props {
        match v {
            PropValue::Str(x) => s.push_str(&format!("\t{k}=s:{x}")),
            PropValue::Num(x) => s.push_str(&format!("\t{k}=n:{x}")),
            PropValue::Bool(x) => s.push_str(&format!("\t{k}=b:{x}")),
        }
    }
    if let Some(r) = &e.revenue {
        s.push_str(&format!("\trevenue={}:{}", r.micros, r.currency));
    }
    s
}

/// A writable copy of the fixture, with the log's padding restored.
fn copy_fixture(to: &Path) {
    fs::create_dir_all(to.join("segments")).unwrap();
    fs::create_dir_all(to.join("wal")).unwrap();
    fs::copy(Path::new(FIXTURE).join("MANIFEST"), to.join("MANIFEST")).unwrap();
    for ent in fs::read_dir(Path::new(FIXTURE).join("segments")).unwrap() {
        let ent = ent.unwrap();
        fs::copy(ent.path(), to.join("segments").join(ent.file_name())).unwrap();
    }
    let wal = to.join("wal/0000000000000000.wal");
    fs::copy(
        Path::new(FIXTURE).join("wal/0000000000000000.wal.head"),
        &wal,
    )
    .unwrap();
    fs::OpenOptions::new()
        .write(true)
        .open(&wal)
        .unwrap()
        .set_len(WAL_SIZE)
        .unwrap();
}

fn lines(store: &Store) -> Vec<String> {
    let mut out = Vec::new();
    store
        .for_each_event(|e| {
            out.push(line(e));
            Ok(())
        })
        .unwrap();
    out
}

fn expected() -> Vec<String> {
    let text = fs::read_to_string(Path::new(FIXTURE).join("events.txt")).unwrap();
    text.lines().map(str::to_string).collect()
}

fn options() -> Options {
    Options {
        background: false,
        ..Options::default()
    }
}

#[test]
fn old_format_is_read_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    copy_fixture(dir.path());
    let store = Store::open(dir.path(), options()).unwrap();
    let got = lines(&store);
    if std::env::var_os("CAIRN_BLESS_V1").is_some() {
        fs::write(Path::new(FIXTURE).join("events.txt"), got.join("\n") + "\n").unwrap();
    }
    assert_eq!(got.len(), 400);
    assert_eq!(got, expected());
}
