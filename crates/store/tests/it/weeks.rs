//! Weekly partitions: a week's small segments merge into segments cut at visitor
//! boundaries, so a visitor's week is one run in one segment, and nothing changes.

use std::collections::BTreeMap;
use std::ops::ControlFlow;

use cairn_model::{Event, Record};
use cairn_store::{CompactionPolicy, Options, Store};

use crate::model::{BASE, DAY};

/// Every event, as (site, visitor, ts, path), in the store's order.
fn all(store: &Store) -> Vec<(String, u64, i64, String)> {
    let mut out = Vec::new();
    store
        .for_each_event(|e| {
            out.push((
                e.site.clone(),
                e.visitor,
                e.ts,
                e.dim(cairn_model::Dim::Path).to_string(),
            ));
            Ok(())
        })
        .unwrap();
    out
}

#[test]
fn a_weeks_merge_is_cut_at_visitor_boundaries() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(
        dir.path(),
        Options {
            background: false,
            import_batch: 700,
            ..Options::default()
        },
    )
    .unwrap();
    // 5,000 events of 300 visitors over three weeks, imported in batches of 700: each
    // batch writes a segment per week.
    let records: Vec<Record> = (0..5_000u64)
        .map(|i| {
            let ts = BASE - (i % 21) as i64 * DAY + (i * 7_919) as i64 % DAY;
            let mut e = Event::new("w.example", ts, i * 2_654_435_761 % 300, "pageview");
            e.set(cairn_model::Dim::Path, format!("/{i}"));
            Record::Event(e)
        })
        .collect();
    store.import(records).unwrap();
    let before = all(&store);
    assert_eq!(before.len(), 5_000);
    let segs = store.segments();
    let weeks: std::collections::BTreeSet<i64> = segs.iter().map(|s| s.partition).collect();
    assert!(weeks.len() >= 3 && segs.len() > 3 * weeks.len());
    let policy = CompactionPolicy {
        target_rows: 400,
        min_segments: 2,
    };
    assert_eq!(store.compact(&policy).unwrap(), weeks.len());
    assert_eq!(all(&store), before, "a merge changes no event");
    // Per week: several segments (about 400 rows each), and no visitor in two of them.
    let segs = store.segments();
    let mut owner: BTreeMap<(i64, u64), u64> = BTreeMap::new();
    for s in &segs {
        assert!(s.rows < 400 + 200, "cut near the target: {} rows", s.rows);
        store
            .segment_events(s.id, |e| {
                let prev = owner.insert((s.partition, e.visitor), s.id);
                assert!(
                    prev.is_none_or(|p| p == s.id),
                    "visitor {} of week {} in segments {prev:?} and {}",
                    e.visitor,
                    s.partition,
                    s.id
                );
                ControlFlow::Continue(())
            })
            .unwrap();
    }
    assert!(segs.len() > weeks.len());
    // Nothing left to merge: the cut segments are at the target, and a week's small
    // remainder is alone.
    assert_eq!(store.compact(&policy).unwrap(), 0);
    assert_eq!(all(&store), before);
}
