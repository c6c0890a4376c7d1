//! Visitor summaries read straight from the runs equal the summaries of the same scan's
//! timelines ([`Summary::of`], the definition): across weekly segments, several
//! segments of one week, the in-memory buffer, events at the same millisecond, ranges
//! that cut blocks, and visitor ranges split for workers. Visitors whose classes ask for
//! their timeline come as the scan's timeline.

use cairn_model::{Dim, Event, Record};
use cairn_store::{
    Options, Scan, ScanRequest, Store, Summarized, Summary, SummaryRequest, Timeline, TimelineScan,
};
use proptest::prelude::*;

use crate::model::{BASE, DAY, NOW};

const SITE: &str = "a.example";
const NAMES: [&str; 5] = ["pageview", "search", "cart", "buy", "share"];

/// The classes of each name: `cart` is in two.
fn classes_of(name: &str) -> u64 {
    match name {
        "search" => 0b001,
        "cart" => 0b110,
        "buy" => 0b100,
        "share" => 0b1000,
        _ => 0,
    }
}

fn event(v: u64, ts: i64, name: usize, device: usize, channel: usize) -> Record {
    let mut e = Event::new(SITE, ts, v, NAMES[name]);
    e.set(Dim::Device, ["", "mobile", "desktop"][device]);
    e.set(Dim::Channel, ["", "Direct", "Search"][channel]);
    Record::Event(e)
}

/// A visitor as the scan passed it.
enum Got {
    Summary(Box<Summary>),
    Timeline(Timeline),
    Others(u64),
}

fn summaries(scan: &Scan, req: &SummaryRequest, workers: usize) -> Vec<Got> {
    let mut out = Vec::new();
    for r in scan.split(workers) {
        scan.summarize_range(r, req, |x| {
            out.push(match x {
                Summarized::Summary(s) => Got::Summary(Box::new(s.clone())),
                Summarized::Timeline(t) => Got::Timeline(t.clone()),
                Summarized::Others(n) => Got::Others(n),
            })
        })
        .unwrap();
    }
    out
}

/// Each visitor's timeline and its summary.
fn reference(scan: &Scan, req: &SummaryRequest) -> Vec<(Timeline, Summary)> {
    let mut out = Vec::new();
    let mut s = Summary::default();
    scan.for_each(|tl| {
        Summary::of(tl, req, &mut s);
        out.push((tl.clone(), s.clone()));
    })
    .unwrap();
    out
}

/// Summaries equal but for `seq`, whose only meaning is the order of one visitor's
/// places, and for the places of visitors with none of the `places` classes; a
/// timeline wherever the request asks for one, equal to the scan's; and, where the
/// request allows counts, the visitors with none of its `others` classes that are not
/// passed are as many as the counts say.
fn assert_same(got: &[Got], want: &[(Timeline, Summary)], req: &SummaryRequest) {
    let places = req.places;
    let counted: u64 = got
        .iter()
        .map(|g| match g {
            Got::Others(n) => *n,
            _ => 0,
        })
        .sum();
    assert!(
        req.others.is_some() || counted == 0,
        "counts where none were asked for"
    );
    let got: Vec<&Got> = got
        .iter()
        .filter(|g| !matches!(g, Got::Others(_)))
        .collect();
    let visitor = |g: &Got| match g {
        Got::Summary(s) => s.visitor,
        Got::Timeline(t) => t.visitor,
        Got::Others(_) => unreachable!(),
    };
    let mut at = 0;
    let mut missing = 0;
    for (tl, w) in want {
        let Some(&g) = got.get(at).filter(|&&g| visitor(g) == w.visitor) else {
            let m = req.others.expect("a visitor neither passed nor countable");
            assert_eq!(
                w.classes & m,
                0,
                "visitor {}: counted, with classes",
                w.visitor
            );
            missing += 1;
            continue;
        };
        at += 1;
        let g = match g {
            Got::Timeline(t) => {
                // A source may send a timeline it was not asked for (a range cut the
                // visitor's runs), but it is the visitor's timeline: the store's, with
                // only the rows the request's `timeline_rows` keep, when it keeps any.
                let names = tl.dim(Dim::Name);
                let keep: Vec<bool> = names
                    .iter()
                    .map(|&n| req.keeps_row(req.classes_of(n)))
                    .collect();
                let mut tl = tl.clone();
                if keep.contains(&true) {
                    tl.retain(&keep);
                }
                assert_eq!(
                    (t.visitor, &t.ts, &t.dims),
                    (tl.visitor, &tl.ts, &tl.dims),
                    "timeline"
                );
                continue;
            }
            Got::Summary(s) => s,
            Got::Others(_) => unreachable!(),
        };
        assert!(
            !req.wants_timeline(w.classes),
            "visitor {}: a summary where its timeline was asked for",
            w.visitor
        );
        assert_eq!(
            (g.visitor, g.classes, &g.dims),
            (w.visitor, w.classes, &w.dims)
        );
        if w.classes & places == 0 {
            continue;
        }
        let set: Vec<usize> = (0..64).filter(|&k| w.classes >> k & 1 == 1).collect();
        for &a in &set {
            assert_eq!(
                g.first[a].ts, w.first[a].ts,
                "visitor {}: class {a}",
                g.visitor
            );
            for &b in &set {
                let order = |s: &Summary| s.first[a].cmp(&s.first[b]);
                assert_eq!(
                    order(g),
                    order(w),
                    "visitor {}: classes {a}, {b}",
                    g.visitor
                );
            }
        }
    }
    assert_eq!(at, got.len(), "visitors passed that the scan does not have");
    assert_eq!(missing, counted, "visitors counted");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn summaries_from_runs_are_summaries_of_timelines(
        old in prop::collection::vec((1u64..40, 0i64..24, 0i64..4, 0usize..5, 0usize..3, 0usize..3), 1..400),
        recent in prop::collection::vec((1u64..40, 0i64..4, 0usize..5, 0usize..3, 0usize..3), 0..60),
        batch in 5usize..200,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let opts = Options { background: false, import_batch: batch, ..Options::default() };
        let store = Store::open(dir.path(), opts).unwrap();
        // Three weeks of imports (times on a coarse grid: many at the same millisecond),
        // then a flushed append and an append left in the buffer, a day before now.
        let imported: Vec<Record> = old
            .iter()
            .map(|&(v, day, t, n, d, c)| event(v, BASE - 20 * DAY + day * DAY + t * 1000, n, d, c))
            .collect();
        store.import(imported).unwrap();
        let late = |part: &[(u64, i64, usize, usize, usize)]| -> Vec<Record> {
            part.iter().map(|&(v, t, n, d, c)| event(v, NOW - DAY + t * 1000, n, d, c)).collect()
        };
        let (a, b) = recent.split_at(recent.len() / 2);
        store.append(&late(a), NOW).unwrap();
        store.flush().unwrap();
        store.append(&late(b), NOW).unwrap();
        for (from, to) in [(i64::MIN, i64::MAX), (BASE - 13 * DAY + 3_600_000, BASE - 2 * DAY - 1)] {
            let mut sreq = ScanRequest::new(SITE).range(from, to).dims(&[Dim::Name, Dim::Device, Dim::Channel]);
            sreq.stitch = false;
            let scan = store.scan(sreq).unwrap();
            let names = scan.dict(Dim::Name);
            let classes: Vec<u64> = (0..names.len() as u32).map(|id| classes_of(names.get(id))).collect();
            for dims in [vec![], vec![Dim::Device], vec![Dim::Channel, Dim::Device]] {
                for places in [u64::MAX, 0b100, 0] {
                    // Values of every event, or of some classes' (`share` has none but
                    // its own); timelines of those with `search` and `buy` or `cart`,
                    // or with `share`.
                    // Timelines of every row, or of the rows of some classes only.
                    for (dims_from, timelines, timeline_rows, others) in [
                        (None, None, None, None),
                        (Some(0b100), Some(0b101), None, None),
                        (Some(0b100), Some(0b101), Some(0b111), None),
                        (Some(0b1001), Some(0b1000), None, None),
                        (Some(0b1001), Some(0b1000), Some(0b1), None),
                        (None, None, Some(0b1), Some(0b101)),
                        (None, Some(0b1000), None, Some(u64::MAX)),
                        (None, Some(0b110), Some(0b1100), Some(0b111)),
                    ] {
                        let req = SummaryRequest {
                            classes: classes.clone(),
                            dims: dims.clone(),
                            dims_from,
                            places,
                            timelines,
                            timeline_rows,
                            others,
                        };
                        let want = reference(&scan, &req);
                        for workers in [1, 3] {
                            assert_same(&summaries(&scan, &req, workers), &want, &req);
                        }
                    }
                }
            }
        }
    }
}

/// Where every block is in range, visitors of no class the request's `others` name are
/// counted, not summarised, and the others come as their summaries.
#[test]
fn visitors_of_no_wanted_class_are_counted() {
    let dir = tempfile::tempdir().unwrap();
    let store = crate::model::open_foreground(dir.path());
    // Visitors 1..=30 view pages; every third also searches.
    let events: Vec<Record> = (1..=30u64)
        .flat_map(|v| {
            let name = if v % 3 == 0 { 1 } else { 0 };
            [
                event(v, BASE + v as i64 * 1000, 0, 1, 1),
                event(v, BASE + v as i64 * 1000 + 1, name, 1, 1),
            ]
        })
        .collect();
    store.import(events).unwrap();
    let mut sreq = ScanRequest::new(SITE).dims(&[Dim::Name]);
    sreq.stitch = false;
    let scan = store.scan(sreq).unwrap();
    let names = scan.dict(Dim::Name);
    let req = SummaryRequest {
        classes: (0..names.len() as u32)
            .map(|id| classes_of(names.get(id)))
            .collect(),
        others: Some(u64::MAX),
        ..SummaryRequest::default()
    };
    let got = summaries(&scan, &req, 1);
    let counted: u64 = got
        .iter()
        .map(|g| if let Got::Others(n) = g { *n } else { 0 })
        .sum();
    let passed: Vec<u64> = got
        .iter()
        .filter_map(|g| {
            if let Got::Summary(s) = g {
                Some(s.visitor)
            } else {
                None
            }
        })
        .collect();
    assert_eq!(counted, 20);
    assert_eq!(passed, (1..=10).map(|k| 3 * k).collect::<Vec<u64>>());
}

/// Segments of many blocks (a cursor moves on from block to block while others stand
/// in theirs), of two sites (a block's runs of the other site are passed over), with
/// visitors in several weeks: summaries and counts as the timelines say, over the
/// whole time, a range that cuts blocks, and ranges split for workers.
#[test]
fn summaries_across_many_blocks_and_sites() {
    use rand::{Rng, SeedableRng};
    let dir = tempfile::tempdir().unwrap();
    let opts = Options {
        background: false,
        import_batch: 1_000_000,
        ..Options::default()
    };
    let store = Store::open(dir.path(), opts).unwrap();
    let mut rng = rand::rngs::StdRng::seed_from_u64(17);
    let mut events = Vec::new();
    for _ in 0..60_000 {
        let v = rng.gen_range(1..6_000u64);
        let at = BASE - 20 * DAY + rng.gen_range(0..20 * DAY);
        // Mostly pageviews: most visitors have no class.
        let name = if rng.gen_bool(0.9) {
            0
        } else {
            rng.gen_range(1..5)
        };
        let mut e = event(v, at, name, rng.gen_range(0..3), rng.gen_range(0..3));
        if rng.gen_bool(0.3)
            && let Record::Event(e) = &mut e
        {
            e.site = "b.example".into();
        }
        events.push(e);
    }
    store.import(events).unwrap();
    for (from, to) in [
        (i64::MIN, i64::MAX),
        (BASE - 13 * DAY + 3_600_000, BASE - 2 * DAY - 1),
    ] {
        let mut sreq = ScanRequest::new(SITE)
            .range(from, to)
            .dims(&[Dim::Name, Dim::Device]);
        sreq.stitch = false;
        let scan = store.scan(sreq).unwrap();
        let names = scan.dict(Dim::Name);
        let classes: Vec<u64> = (0..names.len() as u32)
            .map(|id| classes_of(names.get(id)))
            .collect();
        for (dims, places, others) in [
            (vec![], 1, Some(u64::MAX)),
            (vec![], u64::MAX, Some(0b101)),
            (vec![Dim::Device], 0, Some(0b1)),
        ] {
            let req = SummaryRequest {
                classes: classes.clone(),
                dims,
                places,
                others,
                ..SummaryRequest::default()
            };
            let want = reference(&scan, &req);
            for workers in [1, 2, 5] {
                assert_same(&summaries(&scan, &req, workers), &want, &req);
            }
        }
    }
}
