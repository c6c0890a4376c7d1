//! Narrow projections return exactly the corresponding part of a full scan: only the
//! property keys asked for, string values erased when their text is not wanted, time
//! ranges cutting runs, across segments, imports and the in-memory buffer.

use cairn_model::{Dim, Event, PropValue, Record};
use cairn_store::TimelineScan;
use cairn_store::{CompactionPolicy, Options, PropEntry, PropVal, ScanRequest, Store};

use crate::model::{BASE, NOW};

const SITE: &str = "shop.example";

pub(crate) fn events() -> Vec<Record> {
    let mut out = Vec::new();
    for v in 1..=40u64 {
        for k in 0..(v % 7 + 1) as i64 {
            let mut e = Event::new(
                SITE,
                BASE + (v as i64 * 13 + k * 61) * 60_000,
                v,
                if k % 2 == 0 { "a" } else { "b" },
            );
            e.set(Dim::Path, format!("/p/{}", k % 3));
            if k % 2 == 0 {
                e.props
                    .push(("plan".into(), PropValue::Str(format!("plan-{}", v % 3))));
            }
            if k % 3 == 0 {
                e.props
                    .push(("price".into(), PropValue::Num(v as f64 + 0.5)));
            }
            if v % 4 == 0 {
                e.props.push(("vip".into(), PropValue::Bool(k % 2 == 1)));
            }
            out.push(Record::Event(e));
        }
    }
    out
}

/// Per visitor: (time, name, path, properties as (key, value) with strings as text).
pub(crate) type Rows = Vec<(u64, Vec<(i64, String, String, Vec<(String, String)>)>)>;

pub(crate) fn rows(store: &Store, req: ScanRequest) -> Rows {
    let scan = store.scan(req).unwrap();
    let mut out = Vec::new();
    scan.for_each(|t| {
        let evs = (0..t.len())
            .map(|i| {
                let props = t
                    .props(i)
                    .iter()
                    .map(|PropEntry { key, val }| {
                        let v = match val {
                            PropVal::Str(s) => format!("s:{}", scan.prop_values().get(*s)),
                            PropVal::Num(x) => format!("n:{x}"),
                            PropVal::Bool(b) => format!("b:{b}"),
                        };
                        (scan.prop_keys().get(*key).to_string(), v)
                    })
                    .collect();
                (
                    t.ts[i],
                    scan.dict(Dim::Name).get(t.dim(Dim::Name)[i]).to_string(),
                    scan.dict(Dim::Path).get(t.dim(Dim::Path)[i]).to_string(),
                    props,
                )
            })
            .collect();
        out.push((t.visitor, evs));
    })
    .unwrap();
    out.sort();
    out
}

pub(crate) fn request(from: i64, to: i64) -> ScanRequest {
    let mut r = ScanRequest::new(SITE)
        .range(from, to)
        .dims(&[Dim::Name, Dim::Path]);
    r.props = true;
    r
}

#[test]
fn narrow_projections_are_slices_of_the_full_scan() {
    let dir = tempfile::tempdir().unwrap();
    let opts = Options {
        background: false,
        import_batch: 23,
        ..Options::default()
    };
    let store = Store::open(dir.path(), opts).unwrap();
    let all = events();
    let (a, b) = all.split_at(all.len() / 2);
    store.import(a.to_vec()).unwrap();
    let (b1, b2) = b.split_at(b.len() / 2);
    store.append(b1, NOW).unwrap();
    store.flush().unwrap();
    store.append(b2, NOW).unwrap();
    for (from, to) in [
        (i64::MIN, i64::MAX),
        (BASE + 100 * 60_000, BASE + 400 * 60_000),
    ] {
        let full = rows(&store, request(from, to));
        assert!(!full.is_empty());
        // Only some keys.
        let mut r = request(from, to);
        r.prop_keys = Some(vec!["price".into(), "vip".into()]);
        let want: Rows = full
            .iter()
            .map(|(v, evs)| {
                let evs = evs
                    .iter()
                    .map(|(t, n, p, props)| {
                        let kept = props.iter().filter(|(k, _)| k != "plan").cloned().collect();
                        (*t, n.clone(), p.clone(), kept)
                    })
                    .collect();
                (*v, evs)
            })
            .collect();
        assert_eq!(rows(&store, r), want);
        // Strings erased: every string value reads as the empty string.
        let mut r = request(from, to);
        r.prop_strings = false;
        let want: Rows = full
            .iter()
            .map(|(v, evs)| {
                let evs = evs
                    .iter()
                    .map(|(t, n, p, props)| {
                        let erased = props
                            .iter()
                            .map(|(k, val)| {
                                let val = if val.starts_with("s:") {
                                    "s:".to_string()
                                } else {
                                    val.clone()
                                };
                                (k.clone(), val)
                            })
                            .collect();
                        (*t, n.clone(), p.clone(), erased)
                    })
                    .collect();
                (*v, evs)
            })
            .collect();
        assert_eq!(rows(&store, r), want);
    }
}

/// Hardening item 14: what a worker holds while it scans follows the blocks it decodes,
/// so a small site's long range stays small, and a full block still counts in full
/// (the engine runs fewer workers when they would hold more than its budget).
#[test]
fn item14_worker_memory_follows_the_blocks() {
    const DAY_MS: i64 = 86_400_000;
    let worker_bytes = |records: Vec<Record>| {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::model::open_foreground(dir.path());
        store.import(records).unwrap();
        // As `cairn import` leaves it: merged, in blocks of up to 65,536 rows (an
        // import batch's are smaller).
        store.compact(&CompactionPolicy::eager()).unwrap();
        let scan = store
            .scan(
                ScanRequest::new(SITE)
                    .range(i64::MIN, i64::MAX)
                    .dims(&[Dim::Name, Dim::Path]),
            )
            .unwrap();
        scan.worker_bytes()
    };
    // 365 days of 20 events: a small block a day.
    let small: Vec<Record> = (0..365 * 20)
        .map(|i| {
            let mut e = Event::new(
                SITE,
                BASE - 400 * DAY_MS + (i / 20) * DAY_MS + i % 20,
                (i % 20) as u64 + 1,
                "pageview",
            );
            e.set(Dim::Path, "/");
            Record::Event(e)
        })
        .collect();
    let year = worker_bytes(small);
    assert!(year > 0);
    assert!(
        year < 365 * 16 * 1024,
        "{year} bytes for 365 blocks of 20 rows"
    );
    // One day of 70,000 events: a full block of 65,536 rows (a scan holds its
    // timestamps as decompressed varints: a byte or more a row).
    let full: Vec<Record> = (0..70_000)
        .map(|i| {
            Record::Event(Event::new(
                SITE,
                BASE + i,
                (i % 5_000) as u64 + 1,
                "pageview",
            ))
        })
        .collect();
    let day = worker_bytes(full);
    assert!(day >= 65_536, "{day} bytes for a full block");
}
