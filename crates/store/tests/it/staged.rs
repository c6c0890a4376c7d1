//! Staged imports: nothing of one is visible until it is committed, then all of it is;
//! dropped, or cut short by a crash, it leaves nothing behind.

use std::collections::BTreeSet;
use std::path::Path;

use cairn_model::{Dim, Event, Identify, Record};
use cairn_store::{Options, Store};

use crate::model::{BASE, DAY};

const SITE: &str = "staged.example";

/// A store without a background thread, importing in batches of 50.
fn open(dir: &Path) -> Store {
    let opts = Options {
        background: false,
        import_batch: 50,
        ..Options::default()
    };
    Store::open(dir, opts).unwrap()
}

/// Events `ids`, and a link of visitor `10_000 + ids.start` to user `lead-{ids.start}`.
fn records(ids: std::ops::Range<u64>) -> Vec<Record> {
    let first = ids.start;
    let mut out: Vec<Record> = ids
        .map(|i| {
            // Two weeks, so that each batch writes more than one segment.
            let ts = BASE - (i % 2) as i64 * 7 * DAY + (i * 7_919) as i64 % DAY;
            let mut e = Event::new(SITE, ts, i % 17, "pageview");
            e.set(Dim::Path, format!("/{i}"));
            Record::Event(e)
        })
        .collect();
    out.push(Record::Identify(Identify {
        site: SITE.into(),
        ts: BASE,
        visitor: 10_000 + first,
        user: format!("lead-{first}"),
    }));
    out
}

fn linked(store: &Store, first: u64) -> bool {
    store
        .user_links(SITE)
        .by_visitor
        .get(&(10_000 + first))
        .is_some_and(|u| u.0 == format!("lead-{first}"))
}

/// Paths of every event, sorted.
fn paths(store: &Store) -> Vec<String> {
    let mut out = Vec::new();
    store
        .for_each_event(|e| {
            out.push(e.dim(Dim::Path).to_string());
            Ok(())
        })
        .unwrap();
    out.sort();
    out
}

fn segment_files(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir.join("segments"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

/// A store in `root/s` holding events 0..20 (imported, committed), and its segment
/// files.
fn a_store() -> (
    tempfile::TempDir,
    std::path::PathBuf,
    Store,
    BTreeSet<String>,
) {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("s");
    let store = open(&dir);
    store.import(records(0..20)).unwrap();
    let before = segment_files(&dir);
    (root, dir, store, before)
}

fn want(ids: std::ops::Range<u64>) -> Vec<String> {
    let mut v: Vec<String> = ids.map(|i| format!("/{i}")).collect();
    v.sort();
    v
}

#[test]
fn a_staged_import_is_seen_whole_once_committed() {
    let (_root, dir, store, before) = a_store();
    let mut staged = store.stage_import().unwrap();
    staged.import(records(100..400)).unwrap();
    // Written (six batches, two weeks each), not seen.
    assert!(segment_files(&dir).len() >= before.len() + 6);
    assert_eq!(paths(&store), want(0..20));
    assert!(!linked(&store, 100));
    assert_eq!(staged.commit().unwrap(), 300);
    let mut all = want(0..20);
    all.extend(want(100..400));
    all.sort();
    assert_eq!(paths(&store), all);
    assert!(linked(&store, 0) && linked(&store, 100));
    drop(store);
    let store = open(&dir);
    assert_eq!(paths(&store), all);
    assert!(linked(&store, 100));
    store.verify().unwrap();
}

#[test]
fn a_dropped_staged_import_leaves_nothing() {
    let (_root, dir, store, before) = a_store();
    let mut staged = store.stage_import().unwrap();
    staged.import(records(100..400)).unwrap();
    drop(staged);
    assert_eq!(segment_files(&dir), before);
    assert_eq!(paths(&store), want(0..20));
    assert!(!linked(&store, 100));
    // The store goes on: another import, then a restart.
    store.import(records(500..510)).unwrap();
    drop(store);
    let store = open(&dir);
    let mut all = want(0..20);
    all.extend(want(500..510));
    all.sort();
    assert_eq!(paths(&store), all);
    assert!(store.recovery().removed_leftovers.is_empty());
    store.verify().unwrap();
}

/// A crash before the commit: the directory as it is then (segments written and synced,
/// the manifest not changed) opens as before the import, its segments removed as
/// leftovers.
#[test]
fn a_crash_before_the_commit_leaves_the_store_as_it_was() {
    let (root, dir, store, before) = a_store();
    let mut staged = store.stage_import().unwrap();
    staged.import(records(100..400)).unwrap();
    let copy = root.path().join("copy");
    copy_dir(&dir, &copy);
    drop(staged);
    drop(store);
    let store = open(&copy);
    assert_eq!(paths(&store), want(0..20));
    assert!(!store.recovery().removed_leftovers.is_empty());
    assert_eq!(segment_files(&copy), before);
    assert!(linked(&store, 0) && !linked(&store, 100));
    store.verify().unwrap();
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let p = e.path();
        if p.is_dir() {
            copy_dir(&p, &to.join(e.file_name()));
        } else {
            std::fs::copy(&p, to.join(e.file_name())).unwrap();
        }
    }
}
