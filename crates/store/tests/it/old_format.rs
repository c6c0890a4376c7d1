//! Stores written by older versions, each of which this version must read unchanged,
//! and which compaction must rewrite in the current format without changing an event.
//!
//! * `tests/fixtures/v1` was made by Cairn 0.1.0 at commit 7c634ab (segment format 1:
//!   one UTC day per segment; manifest version 2) with
//!   `cairn demo --generate 400 --seed 3 --start 2026-09-01 --days 10` and `cairn import`.
//! * `tests/fixtures/v2` was made at commit 246d6ab (segment format 2: weeks, timestamps
//!   as varints; manifest version 3) from the same events with
//!   `cairn import --batch 200 --no-compact`: four import segments, two per week.
//! * `tests/fixtures/v3` was made at commit 5901586 (segment format 3: properties by
//!   shape and key in one zstd frame a block; manifest version 4) with
//!   `cairn demo --generate 400 --seed 3 --start 2026-09-01 --days 10 --out FILE` and
//!   `cairn import --batch 200 --no-compact`: four import segments, two per week.
//!
//! Each log file is committed without its zero padding (`.head`: the 48-byte header; the
//! file was created 32 MiB long), which the tests restore. `events.txt` lists every event
//! as that version read it back, one line each ([`line`]).

use std::fs;
use std::path::Path;

use cairn_model::{Dim, Event, PropValue};
use cairn_store::{CompactionPolicy, Options, Store};

const V1: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/v1");
const V2: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/v2");
const V3: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/v3");
/// The segment format this version writes.
const CURRENT_FORMAT: u32 = 4;
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

/// A writable copy of a fixture, with the log's padding restored.
fn copy_fixture(fixture: &str, to: &Path) {
    fs::create_dir_all(to.join("segments")).unwrap();
    fs::create_dir_all(to.join("wal")).unwrap();
    fs::copy(Path::new(fixture).join("MANIFEST"), to.join("MANIFEST")).unwrap();
    for ent in fs::read_dir(Path::new(fixture).join("segments")).unwrap() {
        let ent = ent.unwrap();
        fs::copy(ent.path(), to.join("segments").join(ent.file_name())).unwrap();
    }
    let wal = to.join("wal/0000000000000000.wal");
    fs::copy(
        Path::new(fixture).join("wal/0000000000000000.wal.head"),
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

fn expected(fixture: &str) -> Vec<String> {
    let text = fs::read_to_string(Path::new(fixture).join("events.txt")).unwrap();
    text.lines().map(str::to_string).collect()
}

fn options() -> Options {
    Options {
        background: false,
        ..Options::default()
    }
}

/// The segment format version in a segment file's trailer.
fn format_version(seg: &Path) -> u32 {
    let b = fs::read(seg).unwrap();
    let t = &b[b.len() - 16..b.len() - 12];
    u32::from_le_bytes([t[0], t[1], t[2], t[3]])
}

fn segment_versions(dir: &Path) -> Vec<u32> {
    let mut v: Vec<u32> = fs::read_dir(dir.join("segments"))
        .unwrap()
        .map(|e| format_version(&e.unwrap().path()))
        .collect();
    v.sort();
    v
}

/// Opens a copy of `fixture` and checks that it reads as that version read it.
fn read_unchanged(fixture: &str, bless: &str) {
    let dir = tempfile::tempdir().unwrap();
    copy_fixture(fixture, dir.path());
    let store = Store::open(dir.path(), options()).unwrap();
    let got = lines(&store);
    if std::env::var_os(bless).is_some() {
        fs::write(Path::new(fixture).join("events.txt"), got.join("\n") + "\n").unwrap();
    }
    assert_eq!(got.len(), 400);
    assert_eq!(got, expected(fixture));
}

#[test]
fn old_format_is_read_unchanged() {
    read_unchanged(V1, "CAIRN_BLESS_V1");
}

#[test]
fn format_2_is_read_unchanged() {
    read_unchanged(V2, "CAIRN_BLESS_V2");
}

#[test]
fn format_3_is_read_unchanged() {
    read_unchanged(V3, "CAIRN_BLESS_V3");
}

#[test]
fn compaction_rewrites_the_old_format_into_weeks() {
    let dir = tempfile::tempdir().unwrap();
    copy_fixture(V1, dir.path());
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
    assert_eq!(lines(&store), expected(V1));
    reopens_unchanged(store, dir.path(), V1);
    let manifest = fs::read_to_string(dir.path().join("MANIFEST")).unwrap();
    assert!(manifest.contains("\"version\": 4"), "{manifest}");
}

/// Compacts a copy of `fixture` (four import segments of segment format `version`, two
/// a week) into two segments of the current format, every event unchanged.
fn compaction_rewrites_in_the_current_format(fixture: &str, version: u32) {
    let dir = tempfile::tempdir().unwrap();
    copy_fixture(fixture, dir.path());
    assert_eq!(segment_versions(dir.path()), vec![version; 4]);
    let store = Store::open(dir.path(), options()).unwrap();
    assert_eq!(store.segments().len(), 4);
    assert_eq!(store.compact(&CompactionPolicy::default()).unwrap(), 2);
    assert_eq!(store.segments().len(), 2);
    assert_eq!(lines(&store), expected(fixture));
    reopens_unchanged(store, dir.path(), fixture);
    assert_eq!(segment_versions(dir.path()), vec![CURRENT_FORMAT; 2]);
}

#[test]
fn compaction_rewrites_format_2_in_the_current_format() {
    compaction_rewrites_in_the_current_format(V2, 2);
}

#[test]
fn compaction_rewrites_format_3_in_the_current_format() {
    compaction_rewrites_in_the_current_format(V3, 3);
}

/// A weekly store (format 2, manifest version 3) gains partitions of four weeks once it
/// holds a week of the four after the next: its two weeks merge into one run of 28
/// days, and the manifest is written as version 4.
#[test]
fn format_2_weeks_are_sealed_four_at_a_time() {
    let dir = tempfile::tempdir().unwrap();
    copy_fixture(V2, dir.path());
    let store = Store::open(dir.path(), options()).unwrap();
    // The fixture's weeks begin on days 20696 and 20703, the first two of the four weeks
    // 20696..=20723; day 20724 begins the next four, and day 20752 the four after.
    let later = 20_752 * 86_400_000 + 3_600_000;
    let e = Event::new("shop.example", later, 7, "pageview");
    store
        .append(&[cairn_model::Record::Event(e.clone())], later + 1_000)
        .unwrap();
    store.flush().unwrap();
    store.compact(&CompactionPolicy::default()).unwrap();
    let segs = store.segments();
    let sealed: Vec<_> = segs.iter().filter(|s| s.partition == 20696).collect();
    assert!(!sealed.is_empty());
    assert!(
        sealed
            .iter()
            .all(|s| s.days == 28 && s.run == sealed[0].run)
    );
    assert!(
        segs.iter()
            .all(|s| s.partition == 20696 || s.partition == 20752)
    );
    let mut want = expected(V2);
    want.push(line(&e));
    let mut got = lines(&store);
    got.sort();
    want.sort();
    assert_eq!(got, want);
    assert_eq!(store.compact(&CompactionPolicy::default()).unwrap(), 0);
    store.close().unwrap();
    let manifest = fs::read_to_string(dir.path().join("MANIFEST")).unwrap();
    assert!(manifest.contains("\"version\": 4"), "{manifest}");
    let store = Store::open(dir.path(), options()).unwrap();
    store.verify().unwrap();
}

/// Closes `store`, opens it again and checks every event and every file.
fn reopens_unchanged(store: Store, dir: &Path, fixture: &str) {
    store.close().unwrap();
    let store = Store::open(dir, options()).unwrap();
    assert_eq!(lines(&store), expected(fixture));
    store.verify().unwrap();
}

#[test]
fn retention_cuts_a_week_at_a_day() {
    let dir = tempfile::tempdir().unwrap();
    copy_fixture(V1, dir.path());
    let store = Store::open(dir.path(), options()).unwrap();
    store.compact(&CompactionPolicy::default()).unwrap();
    // Keep 2026-09-04 on: the first week's segment is cut in its middle.
    let cut = 20700 * 86_400_000;
    let now = cut + 3 * 86_400_000 + 5;
    let dropped = store.retain_days(4, now).unwrap();
    let want: Vec<String> = expected(V1)
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
