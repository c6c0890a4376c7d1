//! The ClickHouse backend's ingestion: events acknowledged by the embedded store reach
//! ClickHouse exactly once, through an outage of ClickHouse and a crash of the shipper
//! between an insert and the segment's removal.
//!
//! ClickHouse here is chDB behind `scripts/chfront` (ClickHouse's HTTP interface over
//! the embedded ClickHouse of PyPI's `chdb-core`), started and killed by the test.
//! `scripts/test` makes its Python (bench/.venv) and sets `CAIRN_CLICKHOUSE_REQUIRED`;
//! without that venv the test says so and passes only when not required.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;

use cairn_clickhouse::{ClickHouse, Config};
use cairn_model::{Dim, Event, Identify, Record};
use cairn_server::ship::Shipper;
use cairn_store::{CompactionPolicy, Options, ScanRequest, Store, TimelineSource};
use cairn_timeline::memory::MemorySource;

const SITE: &str = "shop.example";
const T0: i64 = 1_772_409_600_000;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A chfront process serving `dir` on `port` (0: any free port).
struct Front {
    child: Child,
    port: u16,
}

impl Front {
    fn start(python: &Path, dir: &Path, port: u16) -> Front {
        let mut child = Command::new(python)
            .arg(repo().join("scripts/chfront/chfront.py"))
            .args(["--port", &port.to_string(), "--path"])
            .arg(dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start scripts/chfront/chfront.py");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line
            .trim()
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("chfront did not start: {line:?}"));
        Front { child, port }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Dies at once, as a crashed server would.
    fn kill(mut self) -> u16 {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
        self.port
    }
}

impl Drop for Front {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The venv's Python with chDB, if this machine has it.
fn python() -> Option<PathBuf> {
    let p = repo().join("bench/.venv/bin/python");
    if p.exists() {
        return Some(p);
    }
    assert!(
        std::env::var_os("CAIRN_CLICKHOUSE_REQUIRED").is_none(),
        "CAIRN_CLICKHOUSE_REQUIRED is set but bench/.venv (bench/venv makes it) is missing"
    );
    eprintln!("skipped: no bench/.venv with chDB (run bench/venv)");
    None
}

fn events(from: u64, n: u64) -> Vec<Record> {
    (from..from + n)
        .map(|i| {
            let mut e = Event::new(SITE, T0 + (i as i64) * 1_000, i % 17, "pageview");
            e.set(Dim::Path, format!("/p/{}", i % 5));
            if i % 10 == 0 {
                e.set(Dim::User, format!("u{}", i % 3));
            }
            Record::Event(e)
        })
        .collect()
}

/// Every (visitor, time, name, path) a source holds for the site, in scan order.
fn contents(src: &dyn TimelineSource) -> Vec<(u64, i64, String, String)> {
    let scan = src
        .scan(ScanRequest::new(SITE).dims(&[Dim::Name, Dim::Path]))
        .unwrap();
    let mut out = Vec::new();
    scan.for_each(|t| {
        for i in 0..t.len() {
            out.push((
                t.visitor,
                t.ts[i],
                scan.dict(Dim::Name).get(t.dim(Dim::Name)[i]).to_string(),
                scan.dict(Dim::Path).get(t.dim(Dim::Path)[i]).to_string(),
            ));
        }
    })
    .unwrap();
    out
}

#[test]
fn acknowledged_events_reach_clickhouse_exactly_once_through_an_outage_and_a_crash() {
    let Some(python) = python() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let chdir = tmp.path().join("ch");
    let front = Front::start(&python, &chdir, 0);
    let config = Config {
        url: front.url(),
        database: "cairn_ship".into(),
        ..Config::default()
    };
    let ch = Arc::new(ClickHouse::connect(config.clone()).unwrap());
    let opts = || Options {
        background: false,
        compaction: CompactionPolicy::never(),
        ..Options::default()
    };
    let store = Arc::new(Store::open(&data, opts()).unwrap());
    let now = T0 + 86_400_000;
    let mut acked: Vec<Record> = Vec::new();
    let mut append = |store: &Store, recs: Vec<Record>| {
        store.append(&recs, now).unwrap();
        store.flush().unwrap();
        acked.extend(recs);
    };
    let mut shipper = Shipper::new(&data, Arc::clone(&store), Arc::clone(&ch), 7).unwrap();

    // Shipping while ClickHouse answers: the segment leaves the store.
    append(&store, events(0, 40));
    let done = shipper.round(true).unwrap();
    assert_eq!((done.segments, done.events), (1, 40));
    assert!(store.segments().is_empty());

    // ClickHouse dies: the events wait in the store, every round fails.
    let port = front.kill();
    append(&store, events(40, 30));
    assert!(shipper.round(true).is_err());
    append(&store, events(70, 25));
    let identify = Record::Identify(Identify {
        site: SITE.into(),
        // Later than visitor 3's event with user u2 (event 20): the latest link wins.
        ts: T0 + 500_000,
        visitor: 3,
        user: "u1".into(),
    });
    append(&store, vec![identify]);
    assert!(shipper.round(true).is_err());
    assert_eq!(store.segments().len(), 2, "the backlog stays on disk");

    // ClickHouse is back; the shipper dies right after a segment's inserts, before
    // the segment leaves the store. A new shipper (a restarted server) sends that
    // segment again, with the same tokens: it is stored once.
    let front = Front::start(&python, &chdir, port);
    shipper.crash_after_next_insert();
    assert!(shipper.round(true).is_err());
    assert_eq!(store.segments().len(), 2, "not removed before the crash");
    drop(shipper);
    let mut shipper = Shipper::new(&data, Arc::clone(&store), Arc::clone(&ch), 7).unwrap();
    let done = shipper.round(true).unwrap();
    assert_eq!(done.segments, 2);
    assert!(store.segments().is_empty());
    assert_eq!(
        shipper.round(true).unwrap().events,
        0,
        "nothing left to ship"
    );

    // Exactly the acknowledged events, once each, in the same order as the reference.
    let evs: Vec<Event> = acked
        .iter()
        .filter_map(|r| match r {
            Record::Event(e) => Some(e.clone()),
            Record::Identify(_) => None,
        })
        .collect();
    assert_eq!(ch.count_events(Some(SITE)).unwrap(), evs.len() as u64);
    let memory = MemorySource::new(evs, HashMap::new());
    assert_eq!(contents(&*ch), contents(&memory));
    // The links arrived too (from events with a user, and the identify record).
    let scan = ch.scan(ScanRequest::new(SITE)).unwrap();
    assert_eq!(scan.user_of(3), Some("u1"));
    assert_eq!(scan.user_of(10), Some("u1"), "event 10 carries user u1");
    drop(scan);
    drop(front);
}
