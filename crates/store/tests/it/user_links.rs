//! Identity stitching and erasure of a lead, worked by hand.

use cairn_model::{Dim, Event, Identify, Record};
use cairn_store::TimelineScan;
use cairn_store::{Options, ScanRequest, Store};

use crate::model::{BASE, NOW};

const SITE: &str = "shop.example";

fn ev(visitor: u64, minute: i64, name: &str) -> Record {
    Record::Event(Event::new(SITE, BASE + minute * 60_000, visitor, name))
}

fn names(store: &Store, stitch: bool) -> Vec<(u64, Vec<String>)> {
    let mut req = ScanRequest::new(SITE).dims(&[Dim::Name]);
    req.stitch = stitch;
    let scan = store.scan(req).unwrap();
    let mut out = Vec::new();
    scan.for_each(|t| {
        let n = t
            .dim(Dim::Name)
            .iter()
            .map(|&i| scan.dict(Dim::Name).get(i).to_string());
        out.push((t.visitor, n.collect()));
    })
    .unwrap();
    out.sort();
    out
}

/// A store without background work, in `dir`.
fn store_in(dir: &std::path::Path) -> Store {
    let opts = Options {
        background: false,
        ..Options::default()
    };
    Store::open(dir, opts).unwrap()
}

fn identify(visitor: u64, ts: i64, user: &str) -> Record {
    Record::Identify(Identify {
        site: SITE.into(),
        ts,
        visitor,
        user: user.into(),
    })
}

#[test]
fn a_leads_anonymous_visits_join_its_identified_ones() {
    let dir = tempfile::tempdir().unwrap();
    let opts = Options {
        background: false,
        ..Options::default()
    };
    let store = Store::open(dir.path(), opts.clone()).unwrap();
    // Visitor 20 browses anonymously on a phone, later signs up: identified as ann.
    // Visitor 10 (ann's laptop) comes back days later and buys. Visitor 30 never identifies.
    store
        .append(
            &[ev(20, 0, "pageview"), ev(20, 5, "whitepaper_download")],
            NOW,
        )
        .unwrap();
    store.flush().unwrap();
    store.append(&[ev(30, 1, "pageview")], NOW).unwrap();
    store
        .append(
            &[
                ev(20, 9, "signup"),
                Record::Identify(Identify {
                    site: SITE.into(),
                    ts: BASE + 9 * 60_000,
                    visitor: 20,
                    user: "ann".into(),
                }),
            ],
            NOW,
        )
        .unwrap();
    let mut buy = Event::new(SITE, BASE + 3_000 * 60_000, 10, "purchase");
    buy.set(Dim::User, "ann");
    store.append(&[Record::Event(buy)], NOW).unwrap();

    // Unstitched: three visitors.
    assert_eq!(
        names(&store, false),
        vec![
            (10, vec!["purchase".into()]),
            (
                20,
                vec![
                    "pageview".into(),
                    "whitepaper_download".into(),
                    "signup".into()
                ]
            ),
            (30, vec!["pageview".into()]),
        ]
    );
    // Stitched: ann's two devices are one journey under the smaller visitor id,
    // including the anonymous events from before she identified.
    let want = vec![
        (
            10,
            vec![
                "pageview".into(),
                "whitepaper_download".into(),
                "signup".into(),
                "purchase".into(),
            ],
        ),
        (30, vec!["pageview".into()]),
    ];
    assert_eq!(names(&store, true), want);
    let scan = store.scan(ScanRequest::new(SITE)).unwrap();
    assert_eq!(scan.user_of(20), Some("ann"));
    assert_eq!(scan.user_of(30), None);

    // The same after the buffer is flushed and the store reopened.
    store.close().unwrap();
    let store = Store::open(dir.path(), opts.clone()).unwrap();
    assert_eq!(names(&store, true), want);

    // Erasing the user erases both linked visitors' events, anonymous ones included.
    let erased = store.erase(SITE, &[], &["ann".to_string()]).unwrap();
    assert_eq!(erased, vec![10, 20]);
    assert_eq!(names(&store, true), vec![(30, vec!["pageview".into()])]);
    assert!(store.user_links(SITE).by_visitor.is_empty());
    drop(store);
    let store = Store::open(dir.path(), opts).unwrap();
    assert_eq!(names(&store, false), vec![(30, vec!["pageview".into()])]);
}

#[test]
fn a_scan_keeps_the_links_it_started_with() {
    // A scan shares the site's links with the store: a link made while it runs is the
    // next scan's, and the one before keeps what it saw.
    let dir = tempfile::tempdir().unwrap();
    let store = store_in(dir.path());
    let identify =
        |visitor: u64, minute: i64, user: &str| identify(visitor, BASE + minute * 60_000, user);
    store
        .append(&[ev(1, 0, "pageview"), identify(1, 0, "ann")], NOW)
        .unwrap();
    let before = store.scan(ScanRequest::new(SITE)).unwrap();
    store
        .append(
            &[
                ev(2, 1, "pageview"),
                identify(2, 1, "bob"),
                identify(1, 2, "cy"),
            ],
            NOW,
        )
        .unwrap();
    let after = store.scan(ScanRequest::new(SITE)).unwrap();
    assert_eq!(before.user_of(1), Some("ann"));
    assert_eq!(before.user_of(2), None);
    assert_eq!(after.user_of(1), Some("cy"));
    assert_eq!(after.user_of(2), Some("bob"));
    // The store's own links are the new ones; the old scan's are still its own.
    assert_eq!(store.user_links(SITE).by_visitor[&1].0, "cy");
    drop(after);
    assert_eq!(before.user_of(1), Some("ann"));
}

#[test]
fn a_scan_of_leads_only_leaves_out_exactly_the_unlinked_visitors() {
    // Linked visitors among many, in segments and in the buffer, scanned in ranges: the
    // scan that may leave out unlinked visitors gives what the full scan gives for the
    // linked ones, stitched alike.
    let dir = tempfile::tempdir().unwrap();
    let store = store_in(dir.path());
    for round in 0..3u64 {
        let mut recs = Vec::new();
        for k in 0..400u64 {
            // Visitor ids spread over the whole space (as hashes are).
            let v = (k * 7 + round).wrapping_mul(0x9E37_79B9_7F4A_7C15);
            recs.push(ev(v, (k % 50) as i64 + round as i64 * 60, "pageview"));
            if k % 5 == 0 {
                // Some users have two visitors (k and k + 5 share user k / 10), some one.
                let user = if k % 15 == 0 {
                    format!("solo{round}-{k}")
                } else {
                    format!("u{}", k / 10)
                };
                recs.push(identify(v, BASE, &user));
            }
        }
        store.append(&recs, NOW).unwrap();
        if round < 2 {
            store.flush().unwrap();
        }
    }
    let collect = |linked_only: bool, n: usize| {
        let mut req = ScanRequest::new(SITE).dims(&[Dim::Name]);
        req.stitch = true;
        req.linked_only = linked_only;
        let scan = store.scan(req).unwrap();
        let mut out = Vec::new();
        let mut deferred = Vec::new();
        for r in scan.split(n) {
            deferred.extend(
                scan.scan_range(r, |t: &cairn_store::Timeline| {
                    if scan.user_of(t.visitor).is_some() {
                        out.push((t.visitor, t.ts.clone()));
                    }
                })
                .unwrap(),
            );
        }
        scan.finish_stitched(deferred, |t: &cairn_store::Timeline| {
            out.push((t.visitor, t.ts.clone()))
        });
        out.sort();
        out
    };
    let want = collect(false, 1);
    // 27 users of one visitor a round, and users of several visitors.
    assert!(want.len() > 81, "{} leads", want.len());
    for n in 1..5 {
        assert_eq!(collect(true, n), want, "{n} ranges");
    }
}
