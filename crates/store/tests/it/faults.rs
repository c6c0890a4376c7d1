//! Injected disk failures (`Faults`: fail the Nth write or sync of a kind of file, tear a
//! write and go down), so that what the store promises when the disk fails is tested, not
//! assumed: an event is visible only once durable; a failed log write or fsync makes the
//! store refuse writes; after a crash (the store dropped, the directory reopened on the
//! real disk) every acknowledged event is there exactly once and no unacknowledged one; a
//! torn log write is a torn tail, not damage; a failed segment, manifest, identity-file or
//! directory write or sync, in a flush, a compaction, an import or retention, leaves a
//! store that opens with exactly the acknowledged events.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use cairn_model::{Dim, Event, Identify, Record};
use cairn_store::{
    CompactionPolicy, Faults, FileKind, Options, ScanRequest, Store, StoreError, TimelineScan,
};

use crate::model::{BASE, DAY, NOW};

const SITE: &str = "faults.example";

/// Event `id`: over three weeks (three partitions), the id in its path, every tenth with
/// a user id (identity links).
fn event(id: u64) -> Record {
    let ts = BASE - (id % 3) as i64 * 7 * DAY + (id * 7_919) as i64 % DAY;
    let mut e = Event::new(SITE, ts, id % 23, "pageview");
    e.set(Dim::Path, format!("/{id}"));
    if id.is_multiple_of(10) {
        e.set(Dim::User, format!("u{}", id % 7));
    }
    Record::Event(e)
}

fn options(faults: &Faults) -> Options {
    Options {
        background: false,
        flush_rows: usize::MAX,
        faults: faults.clone(),
        ..Options::default()
    }
}

/// Reopens the directory on the real disk, as after a crash and a restart.
fn reopen(dir: &Path) -> Store {
    Store::open(dir, options(&Faults::default())).unwrap_or_else(|e| panic!("reopen: {e}"))
}

/// Event ids a scan sees, sorted, duplicates kept.
fn scanned(store: &Store) -> Vec<u64> {
    let mut ids = Vec::new();
    let scan = store
        .scan(ScanRequest::new(SITE).dims(&[Dim::Path]))
        .unwrap();
    scan.for_each(|t| {
        for &p in t.dim(Dim::Path) {
            ids.push(scan.dict(Dim::Path).get(p)[1..].parse().unwrap());
        }
    })
    .unwrap();
    ids.sort_unstable();
    ids
}

/// Event ids an export sees, sorted, duplicates kept.
fn exported(store: &Store) -> Vec<u64> {
    let mut ids = Vec::new();
    store
        .for_each_event(|e| {
            ids.push(e.dim(Dim::Path)[1..].parse().unwrap());
            Ok(())
        })
        .unwrap();
    ids.sort_unstable();
    ids
}

/// Scans, the export and the stats see exactly the acknowledged events, each once.
fn assert_exactly(store: &Store, acked: &BTreeSet<u64>, what: &str) {
    let want: Vec<u64> = acked.iter().copied().collect();
    let got = scanned(store);
    if got != want {
        let extra: Vec<_> = got.iter().filter(|i| !acked.contains(i)).take(5).collect();
        let lost: Vec<_> = want
            .iter()
            .filter(|i| got.binary_search(i).is_err())
            .take(5)
            .collect();
        panic!(
            "{what}: {} events seen, {} acknowledged; lost {lost:?}, extra or twice {extra:?}",
            got.len(),
            want.len()
        );
    }
    assert_eq!(exported(store), want, "{what}: export");
    assert_eq!(
        store.stats().unwrap().events,
        acked.len() as u64,
        "{what}: stats"
    );
}

/// Opens the store again after a crash and checks it: it opens, holds exactly the
/// acknowledged events, and `verify_dir` finds nothing wrong.
fn assert_recovers(dir: &Path, acked: &BTreeSet<u64>, what: &str) -> Store {
    let s = reopen(dir);
    assert_exactly(&s, acked, &format!("{what}, reopened"));
    s.verify().unwrap();
    drop(s);
    let v = Store::verify_dir(dir).unwrap();
    assert!(v.problems.is_empty(), "{what}: {:?}", v.problems);
    reopen(dir)
}

/// A store in a fresh directory and the events it acknowledged.
struct Writer {
    _root: tempfile::TempDir,
    dir: PathBuf,
    faults: Faults,
    store: Store,
    acked: BTreeSet<u64>,
    next: u64,
}

impl Writer {
    fn new() -> Writer {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("s");
        let faults = Faults::default();
        let store = Store::open(&dir, options(&faults)).unwrap();
        Writer {
            _root: root,
            dir,
            faults,
            store,
            acked: BTreeSet::new(),
            next: 0,
        }
    }

    /// Appends `n` new events; whether they were acknowledged.
    fn append(&mut self, n: u64) -> bool {
        let recs: Vec<Record> = (self.next..self.next + n).map(event).collect();
        let ok = self.store.append(&recs, NOW).is_ok();
        if ok {
            self.acked.extend(self.next..self.next + n);
        }
        self.next += n;
        ok
    }

    /// Imports `n` new events; whether the import returned Ok.
    fn import(&mut self, n: u64) -> bool {
        let recs: Vec<Record> = (self.next..self.next + n).map(event).collect();
        let ok = self.store.import(recs).is_ok();
        if ok {
            self.acked.extend(self.next..self.next + n);
        }
        self.next += n;
        ok
    }

    fn check(&self, what: &str) {
        assert_exactly(&self.store, &self.acked, what);
    }

    /// Drops the store (no flush: a crash) and reopens the directory on the real disk.
    fn crash_and_reopen(self, what: &str) -> Store {
        let Writer {
            dir, store, acked, ..
        } = self;
        drop(store);
        assert_recovers(&dir, &acked, what)
    }
}

/// (a) A failed fsync of the log poisons the store: that append and every later write is
/// refused, and the failed commit's events are never visible, before or after a restart.
#[test]
fn a_failed_log_fsync_poisons_the_store_and_its_events_are_never_visible() {
    let mut w = Writer::new();
    for _ in 0..5 {
        assert!(w.append(40));
    }
    w.faults.fail_sync(FileKind::Log, 1);
    assert!(!w.append(40), "the append whose fsync failed is refused");
    assert!(matches!(w.store.writable(), Err(StoreError::Poisoned)));
    assert!(matches!(
        w.store.append(&[event(1_000_000)], NOW),
        Err(StoreError::Poisoned)
    ));
    assert!(matches!(
        w.store.import([event(1_000_001)]),
        Err(StoreError::Poisoned)
    ));
    assert!(w.store.flush().is_err(), "a flush is refused too");
    w.check("after the failed fsync");
    assert_eq!(w.store.stats().unwrap().buffered, 200);
    let s = w.crash_and_reopen("failed fsync");
    assert!(s.recovery().torn_tail.is_none());
    s.writable().unwrap();
}

/// (a) Under concurrent appends sharing group commits, the fsync that fails fails every
/// append it carried: what is visible is exactly what was acknowledged, then and after
/// writes resume and after a restart.
#[test]
fn group_commit_with_a_failed_fsync_acknowledges_exactly_what_is_visible() {
    let w = Writer::new();
    let store = Arc::new(w.store);
    let acked = Arc::new(Mutex::new(BTreeSet::new()));
    // Every writer stops once one append has failed (or after 20,000 batches).
    let failed = Arc::new(AtomicBool::new(false));
    let threads: Vec<_> = (0..4u64)
        .map(|t| {
            let (store, acked, failed) =
                (Arc::clone(&store), Arc::clone(&acked), Arc::clone(&failed));
            std::thread::spawn(move || {
                let mut next = t * 10_000_000;
                for _ in 0..20_000 {
                    if failed.load(Ordering::SeqCst) {
                        return;
                    }
                    let recs: Vec<Record> = (next..next + 7).map(event).collect();
                    if store.append(&recs, NOW).is_err() {
                        failed.store(true, Ordering::SeqCst);
                        return;
                    }
                    acked.lock().unwrap().extend(next..next + 7);
                    next += 7;
                }
            })
        })
        .collect();
    while acked.lock().unwrap().len() < 2_000 {
        std::thread::yield_now();
    }
    w.faults.fail_sync(FileKind::Log, 1);
    for t in threads {
        t.join().unwrap();
    }
    assert!(failed.load(Ordering::SeqCst), "an append failed");
    let mut acked = Arc::try_unwrap(acked).unwrap().into_inner().unwrap();
    assert!(store.writable().is_err());
    assert_exactly(&store, &acked, "after the failed group commit");
    // Writes resume on a new log file; the doubtful one is retired.
    store.resume_writes().unwrap();
    let recs: Vec<Record> = (90_000_000..90_000_050).map(event).collect();
    store.append(&recs, NOW).unwrap();
    acked.extend(90_000_000..90_000_050);
    assert_exactly(&store, &acked, "after resuming");
    drop(Arc::try_unwrap(store).ok().unwrap());
    assert_recovers(&w.dir, &acked, "resumed, then crashed");
}

/// (b) A failed write, a failed fsync or a torn write of the log, whichever write it hits
/// (an append's frames, a seal, a new log file's header), then a crash: every
/// acknowledged event is recovered, exactly once, and no unacknowledged one appears.
#[test]
fn acknowledged_events_survive_a_failed_or_torn_log_write_and_a_crash() {
    type Arm = fn(&Faults, u32);
    let arms: [(&str, Arm); 3] = [
        ("failed write", |f, n| f.fail_write(FileKind::Log, n)),
        ("failed fsync", |f, n| f.fail_sync(FileKind::Log, n)),
        ("torn write", |f, n| f.tear_write(FileKind::Log, n, 1_500)),
    ];
    for (name, arm) in arms {
        for nth in 1..=12 {
            let what = format!("{name} #{nth}");
            let mut w = Writer::new();
            arm(&w.faults, nth);
            let mut failed = false;
            for i in 0..12 {
                if i % 4 == 3 {
                    failed |= w.store.flush().is_err();
                } else {
                    failed |= !w.append(30);
                }
            }
            assert!(failed, "{what}: the fault fired");
            assert!(w.store.writable().is_err(), "{what}: writes refused");
            w.check(&what);
            w.crash_and_reopen(&what);
        }
    }
}

/// (c) A torn log write (only its first sectors reached the disk before the machine went
/// down) is recovered as a torn tail: `verify` notes it without a problem, open cuts it,
/// and nothing acknowledged is lost.
#[test]
fn a_torn_log_write_is_a_torn_tail_not_damage() {
    let mut w = Writer::new();
    for _ in 0..5 {
        assert!(w.append(200));
    }
    w.faults.tear_write(FileKind::Log, 1, 3_000);
    assert!(!w.append(200), "the torn append is refused");
    assert!(w.faults.is_down());
    w.check("after the torn write");
    let (dir, acked) = (w.dir.clone(), w.acked.clone());
    drop(w.store);
    let v = Store::verify_dir(&dir).unwrap();
    assert!(v.problems.is_empty(), "not damage: {:?}", v.problems);
    let noted = v.torn_tail.expect("verify notes the torn tail");
    assert!(noted.bytes >= 2_000, "{noted:?}");
    let s = reopen(&dir);
    assert_eq!(
        s.recovery().torn_tail.as_ref(),
        Some(&noted),
        "open cuts it"
    );
    assert_exactly(&s, &acked, "reopened");
    drop(s);
    let v = Store::verify_dir(&dir).unwrap();
    assert!(v.problems.is_empty() && v.torn_tail.is_none(), "{v:?}");
    // The store goes on from there.
    let s = reopen(&dir);
    let recs: Vec<Record> = (5_000..5_010).map(event).collect();
    s.append(&recs, NOW).unwrap();
    drop(s);
    let mut acked = acked;
    acked.extend(5_000..5_010);
    assert_recovers(&dir, &acked, "after the torn tail");
}

type Arm = fn(&Faults);

/// Failures of the files a flush, compaction or import writes besides the log.
fn store_file_faults() -> Vec<(&'static str, Arm)> {
    vec![
        ("segment write 1", |f| f.fail_write(FileKind::Segment, 1)),
        ("segment write 2", |f| f.fail_write(FileKind::Segment, 2)),
        ("segment write 3", |f| f.fail_write(FileKind::Segment, 3)),
        ("segment sync 1", |f| f.fail_sync(FileKind::Segment, 1)),
        ("segment sync 2", |f| f.fail_sync(FileKind::Segment, 2)),
        ("segment sync 3", |f| f.fail_sync(FileKind::Segment, 3)),
        ("segment torn", |f| f.tear_write(FileKind::Segment, 2, 700)),
        ("manifest write", |f| f.fail_write(FileKind::Manifest, 1)),
        ("manifest sync", |f| f.fail_sync(FileKind::Manifest, 1)),
        ("identities write", |f| f.fail_write(FileKind::UserLinks, 1)),
        ("identities sync", |f| f.fail_sync(FileKind::UserLinks, 1)),
        ("directory sync 1", |f| f.fail_sync(FileKind::Directory, 1)),
        ("directory sync 2", |f| f.fail_sync(FileKind::Directory, 2)),
        ("directory sync 3", |f| f.fail_sync(FileKind::Directory, 3)),
        ("directory sync 4", |f| f.fail_sync(FileKind::Directory, 4)),
    ]
}

/// Goes on after a failure: brings the machine up again and resumes writes if needed.
fn carry_on(w: &Writer, what: &str) {
    if w.faults.is_down() {
        w.faults.clear();
    }
    if w.store.writable().is_err() {
        w.store
            .resume_writes()
            .unwrap_or_else(|e| panic!("{what}: resume: {e}"));
    }
}

/// (d) A flush whose segment, manifest, identity-file or directory write or sync fails
/// (or whose segment write is torn) shows every acknowledged event exactly once, and the
/// store opens with exactly those, whether the process dies at once or carries on and
/// flushes again.
#[test]
fn a_failed_flush_leaves_a_store_that_opens_with_every_acknowledged_event_once() {
    for (name, arm) in store_file_faults() {
        for crash_at_once in [true, false] {
            let what = format!("flush, {name}, crash at once: {crash_at_once}");
            let mut w = Writer::new();
            for _ in 0..3 {
                assert!(w.append(50));
            }
            arm(&w.faults);
            assert!(w.store.flush().is_err(), "{what}: the fault fired");
            w.check(&what);
            if !crash_at_once {
                carry_on(&w, &what);
                assert!(w.append(50));
                w.store
                    .flush()
                    .unwrap_or_else(|e| panic!("{what}: flush: {e}"));
                w.check(&format!("{what}, flushed again"));
                assert!(w.append(50));
            }
            w.crash_and_reopen(&what);
        }
    }
}

/// (d) The same for compaction: a merge whose write, sync or commit fails leaves the
/// segments it would have replaced, and no second copy of their events.
#[test]
fn a_failed_compaction_leaves_a_store_that_opens_with_every_acknowledged_event_once() {
    let arms: Vec<(&str, Arm)> = vec![
        ("segment write", |f| f.fail_write(FileKind::Segment, 1)),
        ("segment sync", |f| f.fail_sync(FileKind::Segment, 1)),
        ("segment torn", |f| f.tear_write(FileKind::Segment, 1, 700)),
        ("manifest write", |f| f.fail_write(FileKind::Manifest, 1)),
        ("manifest sync", |f| f.fail_sync(FileKind::Manifest, 1)),
        ("directory sync 1", |f| f.fail_sync(FileKind::Directory, 1)),
        ("directory sync 2", |f| f.fail_sync(FileKind::Directory, 2)),
    ];
    for (name, arm) in arms {
        for crash_at_once in [true, false] {
            let what = format!("compaction, {name}, crash at once: {crash_at_once}");
            let mut w = Writer::new();
            for _ in 0..4 {
                assert!(w.append(40));
                w.store.flush().unwrap();
            }
            assert!(w.import(100));
            let before = w.store.segments().len();
            arm(&w.faults);
            assert!(
                w.store.compact(&CompactionPolicy::eager()).is_err(),
                "{what}: the fault fired"
            );
            w.check(&what);
            if !crash_at_once {
                carry_on(&w, &what);
                w.store
                    .compact(&CompactionPolicy::eager())
                    .unwrap_or_else(|e| panic!("{what}: compact: {e}"));
                assert!(w.store.segments().len() < before, "{what}: merged");
                w.check(&format!("{what}, compacted"));
            }
            w.crash_and_reopen(&what);
        }
    }
}

/// A store with 30 events flushed and `arm`ed, and what the import tests import: events
/// 1,000..1,100 and a link of visitor 999 to `lead-999`.
fn before_import(arm: Arm) -> (Writer, Vec<Record>) {
    let mut w = Writer::new();
    assert!(w.append(30));
    w.store.flush().unwrap();
    arm(&w.faults);
    let mut recs: Vec<Record> = (1_000..1_100).map(event).collect();
    recs.push(Record::Identify(Identify {
        site: SITE.into(),
        ts: BASE,
        visitor: 999,
        user: "lead-999".into(),
    }));
    (w, recs)
}

/// An import whose segment, manifest or identity-file write fails shows nothing of its
/// batch: neither its events nor its identity links, before or after a restart.
#[test]
fn a_failed_import_shows_neither_its_events_nor_its_links() {
    for (name, arm) in store_file_faults() {
        let what = format!("import, {name}");
        let (mut w, recs) = before_import(arm);
        if w.store.import(recs).is_ok() {
            // The fault hit nothing this import writes.
            w.acked.extend(1_000..1_100);
            assert!(
                w.store.user_links(SITE).by_visitor.contains_key(&999),
                "{what}"
            );
            continue;
        }
        w.check(&what);
        let links = w.store.user_links(SITE);
        assert!(!links.by_visitor.contains_key(&999), "{what}: link visible");
        let dir = w.dir.clone();
        let s = w.crash_and_reopen(&what);
        assert!(
            !s.user_links(SITE).by_visitor.contains_key(&999),
            "{what}: link after restart"
        );
        drop(s);
        // Importing again works and shows both.
        let faults = Faults::default();
        let s = Store::open(&dir, options(&faults)).unwrap();
        s.import([Record::Identify(Identify {
            site: SITE.into(),
            ts: BASE,
            visitor: 999,
            user: "lead-999".into(),
        })])
        .unwrap();
        drop(s);
        assert!(reopen(&dir).user_links(SITE).by_visitor.contains_key(&999));
    }
}

/// A staged import whose segment, manifest or identity-file write fails shows nothing:
/// neither its events nor its links, before or after a restart (its segments gone, or
/// left for the next open to remove).
#[test]
fn a_failed_staged_import_shows_nothing() {
    let mut failed = 0;
    for (name, arm) in store_file_faults() {
        let what = format!("staged import, {name}");
        let (mut w, recs) = before_import(arm);
        let done = w
            .store
            .stage_import()
            .and_then(|mut s| s.import(recs).and_then(|()| s.commit()));
        if done.is_ok() {
            w.acked.extend(1_000..1_100);
            assert!(
                w.store.user_links(SITE).by_visitor.contains_key(&999),
                "{what}"
            );
            continue;
        }
        failed += 1;
        w.check(&what);
        assert!(
            !w.store.user_links(SITE).by_visitor.contains_key(&999),
            "{what}: link visible"
        );
        let s = w.crash_and_reopen(&what);
        assert!(
            !s.user_links(SITE).by_visitor.contains_key(&999),
            "{what}: link after restart"
        );
    }
    // The faults fired (14 of the 15 when written: a fourth directory sync is not
    // reached), so the checks above ran.
    assert!(failed >= 12, "only {failed} imports failed");
}

/// Retention whose manifest change fails drops nothing: the buffered events before the
/// cut stay visible (the cut is not durable, so a restart would bring them back).
#[test]
fn a_failed_retention_drops_nothing() {
    let mut w = Writer::new();
    assert!(w.append(60));
    w.store.flush().unwrap();
    assert!(w.append(60));
    w.faults.fail_sync(FileKind::Manifest, 1);
    // NOW is day 6 after BASE: keeping 6 days cuts the first of the three.
    assert!(w.store.retain_days(6, NOW).is_err());
    assert_eq!(w.store.retention_cut(), None);
    w.check("after the failed retention");
    let cut = BASE + DAY;
    w.store.retain_days(6, NOW).unwrap();
    assert_eq!(w.store.retention_cut(), Some(cut));
    let kept: BTreeSet<u64> = w
        .acked
        .iter()
        .copied()
        .filter(|&id| match event(id) {
            Record::Event(e) => e.ts >= cut,
            Record::Identify(_) => true,
        })
        .collect();
    assert!(kept.len() < w.acked.len());
    w.acked = kept;
    w.check("after the retention");
    w.crash_and_reopen("retained");
}

/// `append_then` (the server's way: no thread waits) shares the group commit: every
/// callback that says Ok is an acknowledged event, visible and still there after a
/// reopen; a failed fsync answers every waiting callback with an error and shows none of
/// their events; the callbacks all run.
#[test]
fn append_then_acknowledges_only_durable_events() {
    use std::sync::mpsc;
    let dir = tempfile::tempdir().unwrap();
    let faults = Faults::default();
    let store = Store::open(dir.path(), options(&faults)).unwrap();
    let (tx, rx) = mpsc::channel::<(u64, bool)>();
    let send = |store: &Store, id: u64| {
        let mut c = cairn_model::Checked::default();
        c.push(event(id), NOW).unwrap();
        let tx = tx.clone();
        store.append_then(c, move |r| {
            let _ = tx.send((id, r.is_ok()));
        });
    };
    for id in 0..200 {
        send(&store, id);
    }
    let mut acked = BTreeSet::new();
    for _ in 0..200 {
        let (id, ok) = rx.recv().unwrap();
        assert!(ok, "event {id} refused");
        acked.insert(id);
    }
    assert_exactly(&store, &acked, "after 200 appends handed to the committer");
    faults.fail_sync(FileKind::Log, 1);
    for id in 200..260 {
        send(&store, id);
    }
    let mut refused = 0;
    for _ in 200..260 {
        let (id, ok) = rx.recv().unwrap();
        if ok {
            acked.insert(id);
        } else {
            refused += 1;
        }
    }
    assert!(refused > 0, "the failed fsync refused nothing");
    assert!(
        store.writable().is_err(),
        "writes are refused after a failed fsync"
    );
    assert_exactly(&store, &acked, "after the failed fsync");
    drop(store);
    assert_exactly(&reopen(dir.path()), &acked, "after a reopen");
}
