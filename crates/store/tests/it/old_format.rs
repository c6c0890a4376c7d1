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

#[test]
fn compaction_rewrites_the_old_format_into_weeks() {
    let dir = tempfile::tempdir().unwrap();
    copy_fixture(dir.path());
    let store = Store::open(dir.path(), options()).unwrap();
    assert!(store.segments().iter().all(|s| s.days == 1));
    assert_eq!(store.segments().len(), 10);
    // 2026-09-01 .. 2026-09-10 lie in two weeks (Monday 2026-08-31 and 2026-09-07).
    assert_eq!(store.compact(&CompactionPolicy::default()).unwrap(), 2);
    let segs = store.segments();
    assert_eq!(segs.len(), 2);
    assert!(segs.iter().all(|s| s.days == 7));
    assert_eq!(
        segs.iter().map(|s| s.partition).collect::<Vec<_>>(),
        vec![20696, 20703]
    );
    assert_eq!(lines(&store), expected());
    store.close().unwrap();
    let manifest = fs::read_to_string(dir.path().join("MANIFEST")).unwrap();
    assert!(manifest.contains("\"version\": 3"), "{manifest}");
    let store = Store::open(dir.path(), options()).unwrap();
    assert_eq!(lines(&store), expected());
    store.verify().unwrap();
}

#[test]
fn retention_cuts_a_week_at_a_day() {
    let dir = tempfile::tempdir().unwrap();
    copy_fixture(dir.path());
    let store = Store::open(dir.path(), options()).unwrap();
    store.compact(&CompactionPolicy::default()).unwrap();
    // Keep 2026-09-04 on: the first week's segment is cut in its middle.
    let cut = 20700 * 86_400_000;
    let now = cut + 3 * 86_400_000 + 5;
    let dropped = store.retain_days(4, now).unwrap();
    let want: Vec<String> = expected()
        .into_iter()
        .filter(|l| l.split('\t').nth(1).unwrap().parse::<i64>().unwrap() >= cut)
        .collect();
    assert_eq!(dropped as usize, 400 - want.len());
    assert!(want.len() < 400 && !want.is_empty());
    let mut got = lines(&store);
    got.sort();
    let mut want = want;
    want.sort();
    assert_eq!(got, want);
    assert!(store.segments().iter().all(|s| s.min_ts >= cut));
}
