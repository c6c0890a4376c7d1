//! Narrow projections return exactly the corresponding part of a full scan: only the
//! property keys asked for, string values erased when their text is not wanted, time
//! ranges cutting runs, across segments, imports and the in-memory buffer.

use cairn_model::{Dim, Event, PropValue, Record};
use cairn_store::TimelineScan;
use cairn_store::{Options, PropEntry, PropVal, ScanRequest, Store};

use crate::model::{BASE, NOW};

const SITE: &str = "shop.example";

fn events() -> Vec<Record> {
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
type Rows = Vec<(u64, Vec<(i64, String, String, Vec<(String, String)>)>)>;

fn rows(store: &Store, req: ScanRequest) -> Rows {
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

fn request(from: i64, to: i64) -> ScanRequest {
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
