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

/// A store without a background thread, importing in batches of `import_batch`.
pub(crate) fn open(dir: &std::path::Path, import_batch: usize) -> Store {
    let opts = Options {
        background: false,
        import_batch,
        ..Options::default()
    };
    Store::open(dir, opts).unwrap()
}

#[test]
fn a_weeks_merge_is_cut_at_visitor_boundaries() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), 700);
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
        ..CompactionPolicy::default()
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

/// A week written live grows by tiers into overlapping segments; once the next week has
/// begun it is rewritten once into segments of one merge, disjoint by visitor.
#[test]
fn a_sealed_week_is_rewritten_into_one_run() {
    use crate::model::NOW;
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), Options::default().import_batch);
    let policy = CompactionPolicy {
        target_rows: 300,
        min_segments: 2,
        ..CompactionPolicy::default()
    };
    // The week before NOW's, written in 12 flushes of 100 events (visitors 0..60 each
    // time), compacted after every flush: tiers of segments that share visitors.
    // The Monday of the week before the one NOW (Thursday 2027-01-21) falls in.
    let last_week = BASE - 4 * DAY;
    let mut n = 0u64;
    for f in 0..12u64 {
        let records: Vec<Record> = (0..100u64)
            .map(|i| {
                n += 1;
                let ts = last_week + ((f * 100 + i) * 3_600_000) as i64 % (5 * DAY);
                Record::Event(Event::new("w.example", ts, i % 60, "pageview"))
            })
            .collect();
        store.append(&records, NOW).unwrap();
        store.flush().unwrap();
        store.compact(&policy).unwrap();
    }
    let week = |s: &cairn_store::SegmentMeta| s.partition;
    let lw = store.segments().iter().map(week).min().unwrap();
    let live = store.segments();
    assert!(live.len() > 1, "tiers: {live:?}");
    let before = all(&store);
    // A newer week begins: the sealed one is rewritten into one run.
    store
        .append(
            &[Record::Event(Event::new(
                "w.example",
                NOW - 1_000,
                1,
                "pageview",
            ))],
            NOW,
        )
        .unwrap();
    store.flush().unwrap();
    store.compact(&policy).unwrap();
    // (Its partition is the week, or the four weeks it ends when NOW's week begins the
    // next four.)
    let sealed: Vec<_> = store
        .segments()
        .into_iter()
        .filter(|s| s.max_ts < NOW - 1_000)
        .collect();
    assert!(sealed.iter().all(|s| s.partition <= lw));
    assert!(sealed.len() > 1, "cut near the target");
    assert!(sealed.iter().all(|s| s.run != 0 && s.run == sealed[0].run));
    let mut owner: BTreeMap<u64, u64> = BTreeMap::new();
    for s in &sealed {
        store
            .segment_events(s.id, |e| {
                let prev = owner.insert(e.visitor, s.id);
                assert!(
                    prev.is_none_or(|p| p == s.id),
                    "visitor {} in two",
                    e.visitor
                );
                ControlFlow::Continue(())
            })
            .unwrap();
    }
    let mut after = all(&store);
    after.retain(|e| e.2 < NOW - 1_000);
    assert_eq!(after, before, "nothing changed");
    assert_eq!(n, 1_200);
    // Nothing more to do until something changes.
    assert_eq!(store.compact(&policy).unwrap(), 0);
}

/// Merges move rows as dictionary ids, mapped into each output's dictionaries: every
/// field of every event comes out as it went in, in the same order (ties between
/// segments in segment order), across blocks (over 65,536 rows), across several
/// outputs per merge (each with its own dictionaries), with ids of one, two and four
/// bytes, properties of every stored form and revenue in several currencies. The
/// reference is the store's event-by-event merge of the same segments before
/// compaction.
#[test]
fn a_merge_keeps_every_field_of_every_event() {
    use cairn_model::{Dim, PropValue, Revenue};
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(17);
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), 40_000);
    let sites = ["a.example", "b.example", "c.example"];
    let records: Vec<Record> = (0..150_000u64)
        .map(|i| {
            let site = sites[rng.gen_range(0..sites.len())];
            // Visitors return across batches; a coarse clock gives ties.
            let visitor = rng
                .gen_range(0..3_000u64)
                .wrapping_mul(0x9E37_79B9_7F4A_7C15);
            let ts = BASE - rng.gen_range(0..7 * 24) * 3_600_000;
            let mut e = Event::new(
                site,
                ts,
                visitor,
                ["pageview", "click", "buy"][i as usize % 3],
            );
            // 70,000 distinct paths: four-byte ids; device constant per visitor.
            e.set(Dim::Path, format!("/p/{}", rng.gen_range(0..70_000u32)));
            e.set(Dim::Device, ["desktop", "mobile"][(visitor % 2) as usize]);
            if rng.gen_bool(0.5) {
                e.set(Dim::UtmCampaign, format!("c{}", rng.gen_range(0..500u32)));
            }
            if rng.gen_bool(0.3) {
                let n = match rng.gen_range(0..4) {
                    0 => rng.gen_range(-1e6..1e6),
                    1 => rng.gen_range(-100_000i64..100_000) as f64 / 100.0,
                    2 => rng.gen_range(-1_000i64..1_000) as f64,
                    _ => -0.0,
                };
                e.props.push((format!("k{}", i % 7), PropValue::Num(n)));
                e.props.push(("flag".into(), PropValue::Bool(i % 2 == 0)));
                e.props
                    .push(("s".into(), PropValue::Str(format!("v{}", i % 300))));
            }
            if rng.gen_bool(0.05) {
                e.revenue = Some(Revenue {
                    micros: rng.gen_range(1..10_000_000_000),
                    currency: ["EUR", "USD", "GBP"][i as usize % 3].into(),
                });
            }
            Record::Event(e)
        })
        .collect();
    store.import(records).unwrap();
    let events = |s: &Store| {
        let mut out = Vec::new();
        s.for_each_event(|e| {
            out.push(e.clone());
            Ok(())
        })
        .unwrap();
        out
    };
    let before = events(&store);
    assert_eq!(before.len(), 150_000);
    assert!(store.segments().len() >= 8);
    let policy = CompactionPolicy {
        target_rows: 70_000,
        min_segments: 2,
        ..CompactionPolicy::default()
    };
    assert!(store.compact(&policy).unwrap() > 0);
    let segs = store.segments();
    assert!(
        segs.iter().any(|s| s.rows > 65_536),
        "a merge output spans blocks"
    );
    let weeks: std::collections::BTreeSet<i64> = segs.iter().map(|s| s.partition).collect();
    assert!(segs.len() > weeks.len(), "some merge has several outputs");
    assert!(
        segs.iter().all(|s| !s.light),
        "merged segments are compressed fully"
    );
    let after = events(&store);
    assert!(after == before, "a merge changes no event");
    // And after a reopen (the files, not a cache).
    drop(store);
    let store = open(dir.path(), 40_000);
    assert!(events(&store) == before);
}

/// An import batch is light (not compressed), to be merged; compaction merges it even
/// when it is its week's only segment (a small import, or a week one batch covers), so no
/// week stays uncompressed.
#[test]
fn an_import_batch_alone_in_its_week_is_merged_and_compressed() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), Options::default().import_batch);
    // One batch over three weeks: one segment per week, each alone.
    let records: Vec<Record> = (0..30_000u64)
        .map(|i| {
            let ts = BASE - (i % 21) as i64 * DAY + (i * 7_919) as i64 % DAY;
            let mut e = Event::new("w.example", ts, i * 2_654_435_761 % 3_000, "pageview");
            e.set(cairn_model::Dim::Path, format!("/p/{}", i % 400));
            Record::Event(e)
        })
        .collect();
    store.import(records).unwrap();
    let before = all(&store);
    let segs = store.segments();
    let weeks: std::collections::BTreeSet<i64> = segs.iter().map(|s| s.partition).collect();
    assert_eq!(segs.len(), weeks.len(), "one segment a week");
    assert!(segs.iter().all(|s| s.light));
    let light_bytes: u64 = segs.iter().map(|s| s.bytes).sum();
    assert_eq!(
        store.compact(&CompactionPolicy::default()).unwrap(),
        weeks.len()
    );
    let segs = store.segments();
    assert!(segs.iter().all(|s| !s.light));
    let bytes: u64 = segs.iter().map(|s| s.bytes).sum();
    assert!(bytes < light_bytes, "{bytes} bytes, {light_bytes} before");
    assert_eq!(all(&store), before);
    // Nothing left to do, also after a reopen (the flag is in the manifest).
    assert_eq!(store.compact(&CompactionPolicy::default()).unwrap(), 0);
    drop(store);
    let store = open(dir.path(), Options::default().import_batch);
    assert!(store.segments().iter().all(|s| !s.light));
    assert_eq!(store.compact(&CompactionPolicy::default()).unwrap(), 0);
}

/// `n` pageviews of `visitors` visitors over the `days` days that end four weeks before
/// BASE, but every `now_every`-th, which is in NOW's week.
fn weeks_ago(n: u64, days: u64, visitors: u64, now_every: u64) -> Vec<Record> {
    use crate::model::NOW;
    (0..n)
        .map(|i| {
            let ts = if i % now_every == now_every - 1 {
                NOW - 1_000 - i as i64
            } else {
                BASE - 28 * DAY - (i % days) as i64 * DAY + (i * 7_919) as i64 % DAY
            };
            let visitor = (i % visitors).wrapping_mul(0x9E37_79B9_7F4A_7C15);
            Record::Event(Event::new("w.example", ts, visitor, "pageview"))
        })
        .collect()
}

/// Once the store holds a week of the four after the next, four sealed weeks merge into
/// one partition of 28 days: one run, cut by visitor into parts merged on every core,
/// its segments of about the target size. The newest eight weeks stay weekly.
#[test]
fn four_sealed_weeks_merge_into_one_run_in_parts() {
    use crate::model::NOW;
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), 700);
    // 15,500 events of 1,500 visitors over the 30 days that end four weeks before BASE
    // (the end of one four weeks and the whole next), and 500 in NOW's week, which
    // begins the four weeks after the four after those.
    store.import(weeks_ago(16_000, 30, 1_500, 32)).unwrap();
    let before = all(&store);
    let policy = CompactionPolicy {
        target_rows: 1_000,
        min_segments: 2,
        ..CompactionPolicy::default()
    };
    assert!(store.compact(&policy).unwrap() > 0);
    assert_eq!(all(&store), before, "a merge changes no event");
    let now_week = NOW / DAY - (NOW / DAY - 4).rem_euclid(7);
    let mut parts: BTreeMap<i64, Vec<cairn_store::SegmentMeta>> = BTreeMap::new();
    for s in store.segments() {
        if s.partition == now_week {
            assert_eq!(s.days, 7, "the newest weeks stay weekly");
        } else {
            assert_eq!(s.days, 28, "{s:?}");
            assert!(s.partition + 28 + 28 <= now_week);
            parts.entry(s.partition).or_default().push(s);
        }
    }
    assert_eq!(parts.len(), 2, "the ends of two four weeks");
    let big = parts.values().max_by_key(|p| p.len()).unwrap();
    assert!(big.len() >= 8, "cut in parts: {big:?}");
    for segs in parts.values() {
        assert!(segs.iter().all(|s| s.run != 0 && s.run == segs[0].run));
        let mut owner: BTreeMap<u64, u64> = BTreeMap::new();
        for s in segs {
            assert!(s.rows < 1_000 + 100, "cut near the target: {} rows", s.rows);
            store
                .segment_events(s.id, |e| {
                    let prev = owner.insert(e.visitor, s.id);
                    assert!(prev.is_none_or(|p| p == s.id), "visitor in two parts");
                    ControlFlow::Continue(())
                })
                .unwrap();
        }
    }
    assert_eq!(store.compact(&policy).unwrap(), 0);
    drop(store);
    let store = open(dir.path(), 700);
    assert_eq!(all(&store), before);
    // Erasing a visitor rewrites the segment that holds it into the same run: nothing
    // to merge again.
    let gone = 7u64.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    store.erase("w.example", &[gone], &[]).unwrap();
    let mut want = before.clone();
    want.retain(|e| e.1 != gone);
    assert!(want.len() < before.len());
    assert_eq!(all(&store), want);
    assert_eq!(store.compact(&policy).unwrap(), 0);
}

/// Four sealed weeks of more segments than a merge takes at once (an import's batches)
/// merge week by week first, then as four weeks: two rounds of one compaction, which
/// change no event.
#[test]
fn four_weeks_of_many_segments_seal_in_two_rounds() {
    use crate::model::NOW;
    let dir = tempfile::tempdir().unwrap();
    // Batches of 40 events over 20 days four weeks before BASE: about 3 segments a
    // batch, over 300 in all.
    let store = open(dir.path(), 40);
    store.import(weeks_ago(4_000, 20, 700, 100)).unwrap();
    let sealed_inputs = store
        .segments()
        .iter()
        .filter(|s| s.max_ts < NOW - 2 * DAY)
        .count();
    assert!(sealed_inputs > 100, "{sealed_inputs}");
    let before = all(&store);
    let policy = CompactionPolicy {
        target_rows: 1_000,
        min_segments: 2,
        max_inputs: 100,
    };
    // The weeks, then the four weeks; the newest week merges in the first round.
    assert!(store.compact(&policy).unwrap() >= 5);
    assert_eq!(all(&store), before);
    let segs = store.segments();
    assert!(segs.iter().all(|s| !s.light));
    let sealed: Vec<_> = segs.iter().filter(|s| s.days == 28).collect();
    assert!(sealed.len() >= 3, "{segs:?}");
    assert!(sealed.iter().all(|s| s.run == sealed[0].run));
    assert_eq!(store.compact(&policy).unwrap(), 0);
}
