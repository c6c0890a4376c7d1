//! The chunk cache ([`Options::chunk_cache`]): scans read the same timelines through it
//! as without it, keep a chunk from its second read on, and hold no more than the budget.

use cairn_store::{CompactionPolicy, Options, Store};

use crate::model::{BASE, NOW};
use crate::projection::{events, request, rows};

fn store(dir: &std::path::Path, chunk_cache: usize) -> Store {
    let opts = Options {
        background: false,
        import_batch: 23,
        chunk_cache,
        ..Options::default()
    };
    let store = Store::open(dir, opts).unwrap();
    let all = events();
    let (a, b) = all.split_at(all.len() / 2);
    // Many small segments (batches of 23), then a flushed one and the buffer.
    store.import(a.to_vec()).unwrap();
    store.append(b, NOW).unwrap();
    store.flush().unwrap();
    store
}

#[test]
fn scans_read_the_same_timelines_through_the_cache() {
    let ranges = [
        (i64::MIN, i64::MAX),
        (BASE + 100 * 60_000, BASE + 400 * 60_000),
    ];
    let dir = tempfile::tempdir().unwrap();
    let without = store(dir.path(), 0);
    let want: Vec<_> = ranges
        .iter()
        .map(|&(a, b)| rows(&without, request(a, b)))
        .collect();
    assert!(want.iter().all(|w| !w.is_empty()));
    let s = without.cache_stats();
    assert_eq!((s.bytes, s.hits), (0, 0), "{s:?}");
    drop(without);

    for budget in [512 << 20, 4096] {
        let dir = tempfile::tempdir().unwrap();
        let store = store(dir.path(), budget);
        for round in 0..3 {
            for (k, (&(a, b), want)) in ranges.iter().zip(&want).enumerate() {
                assert_eq!(
                    &rows(&store, request(a, b)),
                    want,
                    "round {round}, budget {budget}"
                );
                let s = store.cache_stats();
                assert!(s.bytes <= s.budget, "{s:?}");
                if (round, k) == (0, 0) {
                    // Read once: nothing kept yet.
                    assert_eq!((s.bytes, s.hits), (0, 0), "{s:?}");
                }
            }
            let s = store.cache_stats();
            // Read twice: kept; read again: found.
            assert!(s.bytes > 0, "{s:?}");
            if round > 0 {
                assert!(s.hits > 0, "{s:?}");
            }
        }
    }
}

#[test]
fn a_merge_leaves_the_cache_as_it_was_and_scans_read_the_new_segments() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path(), 512 << 20);
    let all = (i64::MIN, i64::MAX);
    let want = rows(&store, request(all.0, all.1));
    rows(&store, request(all.0, all.1));
    let before = store.cache_stats();
    assert!(before.bytes > 0, "{before:?}");
    // Merged into new segments: the merge reads around the cache.
    assert!(store.compact(&CompactionPolicy::eager()).unwrap() > 0);
    let s = store.cache_stats();
    assert_eq!(
        (s.bytes, s.hits, s.misses),
        (before.bytes, before.hits, before.misses)
    );
    assert_eq!(rows(&store, request(all.0, all.1)), want);
}
