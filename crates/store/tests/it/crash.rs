//! Crash test: a child process appends (and imports) while flushes and compactions run
//! in the background; the parent SIGKILLs it at random instants, reopens the store and
//! checks that every acknowledged event is there exactly once. Many cycles on one store.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cairn_model::{Dim, Event, Record};
use cairn_store::TimelineScan;
use cairn_store::{CompactionPolicy, Options, ScanRequest, Store};
use rand::{Rng, SeedableRng};

use crate::model::{BASE, DAY, NOW};

const SITE: &str = "crash.example";
const DIR_VAR: &str = "CAIRN_CRASH_DIR";
const CYCLE_VAR: &str = "CAIRN_CRASH_CYCLE";

fn options() -> Options {
    Options {
        flush_rows: 400,
        flush_interval: Duration::from_millis(30),
        background: true,
        compaction: CompactionPolicy {
            target_rows: 6_000,
            min_segments: 3,
            ..CompactionPolicy::default()
        },
        import_batch: 700,
        ..Options::default()
    }
}

fn event(id: u64) -> Record {
    // Spread over visitors and three days; the id is in the path.
    let mut e = Event::new(
        SITE,
        BASE + (id * 7_919) as i64 % (3 * DAY),
        id % 101,
        "pageview",
    );
    e.set(Dim::Path, format!("/{id}"));
    Record::Event(e)
}

/// The writer, run as a child process of [`acknowledged_events_survive_sigkill`].
#[test]
#[ignore = "run by the crash test as its child process"]
fn crash_child() {
    let Ok(dir) = std::env::var(DIR_VAR) else {
        return;
    };
    let cycle: u64 = std::env::var(CYCLE_VAR).unwrap().parse().unwrap();
    let store = Arc::new(Store::open(&dir, options()).expect("child open"));
    let out = Arc::new(Mutex::new(std::io::stdout()));
    let mut handles = Vec::new();
    for worker in 0..3u64 {
        let (store, out) = (Arc::clone(&store), Arc::clone(&out));
        handles.push(std::thread::spawn(move || {
            let mut rng = rand::rngs::StdRng::seed_from_u64(cycle * 31 + worker);
            let mut next = cycle * 100_000_000 + worker * 10_000_000;
            loop {
                let n = if worker == 2 {
                    rng.gen_range(200..1500)
                } else {
                    rng.gen_range(1..40)
                };
                let recs: Vec<Record> = (next..next + n).map(event).collect();
                if worker == 2 {
                    // Bulk import straight to segments.
                    store.import(recs).expect("import");
                } else {
                    store.append(&recs, NOW).expect("append");
                }
                let mut o = out.lock().unwrap();
                writeln!(o, "ack {next} {}", next + n).unwrap();
                o.flush().unwrap();
                drop(o);
                next += n;
                if worker == 2 {
                    std::thread::sleep(Duration::from_millis(rng.gen_range(0..20)));
                }
            }
        }));
    }
    // The writers never stop: the parent kills this process.
    drop(handles);
    loop {
        std::thread::park();
    }
}

#[test]
fn acknowledged_events_survive_sigkill() {
    let cycles: u64 = std::env::var("CAIRN_CRASH_CYCLES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(25);
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("store");
    let exe = std::env::current_exe().unwrap();
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let mut acked: Vec<(u64, u64)> = Vec::new();
    let mut torn = 0;
    let started = Instant::now();
    for cycle in 1..=cycles {
        let mut child = Command::new(&exe)
            .args([
                "crash::crash_child",
                "--exact",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(DIR_VAR, &dir)
            .env(CYCLE_VAR, cycle.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            let mut got = Vec::new();
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(rest) = line.strip_prefix("ack ") {
                    let mut it = rest.split(' ').map(|x| x.parse::<u64>().unwrap());
                    got.push((it.next().unwrap(), it.next().unwrap()));
                }
            }
            got
        });
        std::thread::sleep(Duration::from_millis(rng.gen_range(40..400)));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let got = reader.join().unwrap();
        acked.extend(got);

        let store = Store::open(
            &dir,
            Options {
                background: false,
                ..options()
            },
        )
        .unwrap_or_else(|e| panic!("cycle {cycle}: reopen failed: {e}"));
        if store.recovery().torn_tail.is_some() {
            torn += 1;
        }
        let mut seen: HashMap<u64, u32> = HashMap::new();
        let scan = store
            .scan(ScanRequest::new(SITE).dims(&[Dim::Path]))
            .unwrap();
        scan.for_each(|t| {
            for &p in t.dim(Dim::Path) {
                let id: u64 = scan.dict(Dim::Path).get(p)[1..].parse().unwrap();
                *seen.entry(id).or_default() += 1;
            }
        })
        .unwrap();
        let dups: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).take(5).collect();
        assert!(dups.is_empty(), "cycle {cycle}: duplicated events {dups:?}");
        let mut lost = Vec::new();
        for &(a, b) in &acked {
            lost.extend((a..b).filter(|id| !seen.contains_key(id)).take(5));
        }
        assert!(
            lost.is_empty(),
            "cycle {cycle}: acknowledged events lost: {lost:?}"
        );
        store.verify().unwrap();
        drop(store);
    }
    let total: u64 = acked.iter().map(|(a, b)| b - a).sum();
    eprintln!(
        "crash test: {cycles} kills, {total} acknowledged events all present once, \
         {torn} torn log tails cut, {:.1?}",
        started.elapsed()
    );
    assert!(total > 0);
}
