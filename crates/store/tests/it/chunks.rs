//! A bulk import of chunks ([`EventChunk`]: events in columns, records between them)
//! stores exactly what the import of the same records one by one stores: the same
//! events in the same order (ties included) and the same user links.

use std::collections::HashMap;

use cairn_model::{ChunkRow, Dim, Event, EventChunk, Identify, PropValue, Record, Revenue};
use cairn_store::{ImportItem, Store};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::model::{BASE, DAY, NOW, SITES};
use crate::weeks::open;

/// Varied records: ties in time for one visitor, users on events and in identify
/// records, properties of each type, revenue.
fn records(n: usize, rng: &mut StdRng) -> Vec<Record> {
    (0..n)
        .map(|_| {
            let site = SITES[rng.gen_range(0..SITES.len())];
            // Few visitors and coarse times: many events share (visitor, ts).
            let ts = BASE + rng.gen_range(0..3) * DAY + rng.gen_range(0..20) * 1000;
            let visitor = rng.gen_range(0..30);
            if rng.gen_bool(0.05) {
                return Record::Identify(Identify {
                    site: site.into(),
                    ts,
                    visitor,
                    user: format!("lead-{}", rng.gen_range(0..5)),
                });
            }
            let mut e = Event::new(
                site,
                ts,
                visitor,
                ["pageview", "signup", "buy"][rng.gen_range(0..3)],
            );
            e.set(Dim::Path, format!("/{}", rng.gen_range(0..40)));
            if rng.gen_bool(0.1) {
                e.set(Dim::User, format!("u{}", rng.gen_range(0..5)));
            }
            if rng.gen_bool(0.3) {
                e.set(Dim::Device, ["mobile", "desktop"][rng.gen_range(0..2)]);
            }
            if rng.gen_bool(0.3) {
                e.props = vec![
                    (
                        "plan".into(),
                        PropValue::Str(["pro", "free"][rng.gen_range(0..2)].into()),
                    ),
                    ("seats".into(), PropValue::Num(rng.gen_range(1..9) as f64)),
                    ("trial".into(), PropValue::Bool(rng.gen_bool(0.5))),
                ];
            }
            if rng.gen_bool(0.1) {
                e.revenue = Some(Revenue {
                    micros: rng.gen_range(1..1_000_000_000),
                    currency: ["EUR", "USD"][rng.gen_range(0..2)].into(),
                });
            }
            Record::Event(e)
        })
        .collect()
}

/// The records as chunks of `size`, some of each chunk's events kept as records.
fn chunks(recs: &[Record], size: usize, rng: &mut StdRng) -> Vec<EventChunk> {
    recs.chunks(size)
        .map(|part| {
            let mut c = EventChunk::new();
            let mut ids: HashMap<(usize, String), u32> = HashMap::new();
            let mut id = |c: &mut EventChunk, col: usize, v: &str| -> u32 {
                if let Some(&i) = ids.get(&(col, v.to_string())) {
                    return i;
                }
                let i = match col {
                    0 => c.add_site(v),
                    d => c.add_value(Dim::ALL[d - 1], v),
                }
                .unwrap();
                ids.insert((col, v.to_string()), i);
                i
            };
            for r in part {
                let e = match r {
                    Record::Event(e) if rng.gen_bool(0.9) => e,
                    r => {
                        c.push_record(r.clone());
                        continue;
                    }
                };
                let mut dims = [0; Dim::ALL.len()];
                for (d, slot) in dims.iter_mut().enumerate() {
                    *slot = id(&mut c, d + 1, &e.dims[d]);
                }
                let row = ChunkRow {
                    site: id(&mut c, 0, &e.site),
                    ts: e.ts,
                    visitor: e.visitor,
                    dims,
                    props: c.add_props(&e.props).unwrap(),
                    revenue: e
                        .revenue
                        .as_ref()
                        .map(|r| (r.micros, c.add_currency(&r.currency).unwrap())),
                };
                assert!(c.push(row, NOW));
            }
            c
        })
        .collect()
}

fn everything(store: &Store) -> (Vec<Event>, Vec<String>) {
    let mut events = Vec::new();
    store
        .for_each_event(|e| {
            events.push(e.clone());
            Ok(())
        })
        .unwrap();
    let links = SITES
        .iter()
        .map(|s| format!("{:?}", store.user_links(s).by_visitor))
        .collect();
    (events, links)
}

#[test]
fn chunks_store_what_their_records_store() {
    for seed in 0..6u64 {
        let mut rng = StdRng::seed_from_u64(seed);
        let recs = records(rng.gen_range(1..3000), &mut rng);
        let chunked = chunks(&recs, rng.gen_range(1..700), &mut rng);
        let expanded: Vec<Record> = chunked.iter().flat_map(EventChunk::records).collect();
        assert_eq!(expanded, recs, "the test's chunks mean the records");
        // Batches smaller and larger than a chunk: a chunk may fill a batch past its size.
        let batch = [10, 500, 100_000][seed as usize % 3];
        let root = tempfile::tempdir().unwrap();
        let a = open(&root.path().join("a"), batch);
        let b = open(&root.path().join("b"), batch);
        a.import(recs.clone()).unwrap();
        b.import(chunked.into_iter().map(ImportItem::Chunk))
            .unwrap();
        let (want, got) = (everything(&a), everything(&b));
        assert_eq!(got.0.len(), want.0.len());
        assert!(got.0 == want.0, "seed {seed}: events differ");
        assert_eq!(got.1, want.1, "seed {seed}: user links differ");
    }
}
