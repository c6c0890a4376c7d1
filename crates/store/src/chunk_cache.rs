//! The chunk cache: segment chunks, kept in memory between scans.
//!
//! A scan reads each block's chunks with `pread`: the kernel copies them out of the
//! page cache on every query, a tenth of a lift's time. Scans keep the chunks they read
//! here after their checksum passed, decompressed where that costs at most 16 times
//! the bytes (the reader's `DECODED_RATIO`: most dimension columns, visitor runs), as
//! stored otherwise (revenue, nearly empty columns), and the next scan of the same
//! chunk copies or decompresses it from memory. Segments never change once written, so
//! an entry is never stale; a segment's entries outlive it only until they are evicted
//! (a reader's id is never reused). Merges read around it: each of their chunks is read
//! once.
//!
//! A chunk is kept the second time it is read, not the first: a process that queries
//! once (`cairn query`) or a range read once does not pay for copies it will not use
//! (the first query of a lift in a fresh process took 12% longer when every chunk read
//! went into fresh memory), and what is read once does not push out what is read
//! again. The chunks read once are remembered by key only, up to as many as the budget
//! holds chunks of 4 KiB (at least 1,024), then forgotten all at once.
//!
//! When the budget is full, a chunk not read for a minute makes room; while every
//! chunk kept has been read within the minute, nothing is evicted and new chunks are
//! not kept. So scans over more than the budget (every query reading all of a store
//! larger than it) keep finding the same part of their chunks in memory, instead of
//! each pushing out what the next needs first and paying for copies nobody reads
//! (as least-recently-used eviction would). A hand walks the entries, a few at each
//! insert, to find the idle ones. A chunk larger than an eighth of the budget is not
//! kept.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rustc_hash::{FxHashMap, FxHashSet};

/// A chunk: its segment reader's id and its offset in the file.
pub(crate) type Key = (u64, u64);

/// Segment chunks, up to a budget of bytes.
#[derive(Debug)]
pub(crate) struct ChunkCache {
    budget: usize,
    /// How long an entry must go unread before it may make room for another.
    idle: Duration,
    start: Instant,
    held: Mutex<Held>,
    hits: AtomicU64,
    misses: AtomicU64,
}

#[derive(Debug, Default)]
struct Held {
    /// Chunks read once, not kept.
    seen: FxHashSet<Key>,
    map: FxHashMap<Key, usize>,
    slots: Vec<Slot>,
    /// Empty slots.
    free: Vec<usize>,
    hand: usize,
    bytes: usize,
}

#[derive(Debug)]
struct Slot {
    key: Key,
    data: Option<Arc<Vec<u8>>>,
    /// When it was last read or kept (since the cache's start).
    last: Duration,
}

/// The most entries one insert's hand looks at.
const HAND_STEPS: usize = 64;

/// What the cache holds and how it has served.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Bytes held.
    pub bytes: u64,
    /// The most it holds.
    pub budget: u64,
    /// Chunk reads served from memory.
    pub hits: u64,
    /// Chunk reads from the file.
    pub misses: u64,
}

impl ChunkCache {
    pub(crate) fn new(budget: usize) -> ChunkCache {
        ChunkCache::with_idle(budget, Duration::from_secs(60))
    }

    fn with_idle(budget: usize, idle: Duration) -> ChunkCache {
        ChunkCache {
            budget,
            idle,
            start: Instant::now(),
            held: Mutex::new(Held::default()),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Held> {
        self.held.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The bytes of chunk `key`, if kept (a miss is counted: the caller reads the file).
    pub(crate) fn get(&self, key: Key) -> Option<Arc<Vec<u8>>> {
        self.get_at(key, self.start.elapsed())
    }

    fn get_at(&self, key: Key, now: Duration) -> Option<Arc<Vec<u8>>> {
        if self.budget == 0 {
            return None;
        }
        let mut c = self.lock();
        let found = c.map.get(&key).copied().and_then(|i| {
            let s = &mut c.slots[i];
            s.last = now;
            s.data.clone()
        });
        drop(c);
        let counter = if found.is_some() {
            &self.hits
        } else {
            &self.misses
        };
        counter.fetch_add(1, Ordering::Relaxed);
        found
    }

    /// Whether a chunk of `len` bytes can be kept at all.
    fn fits(&self, len: usize) -> bool {
        len > 0 && len <= self.budget / 8
    }

    /// Whether chunk `key` of `len` bytes, not found by [`Self::get`], is to be kept
    /// now ([`Self::insert`]): when read before. Remembers it otherwise.
    pub(crate) fn admits(&self, key: Key, len: usize) -> bool {
        if !self.fits(len) {
            return false;
        }
        let mut c = self.lock();
        if c.seen.remove(&key) {
            return true;
        }
        if c.seen.len() >= (self.budget / 4096).max(1024) {
            c.seen.clear();
        }
        c.seen.insert(key);
        false
    }

    /// Keeps `data` as chunk `key`'s bytes if there is room, or room made by entries
    /// idle for long enough.
    pub(crate) fn insert(&self, key: Key, data: Arc<Vec<u8>>) {
        self.insert_at(key, data, self.start.elapsed());
    }

    fn insert_at(&self, key: Key, data: Arc<Vec<u8>>, now: Duration) {
        let len = data.len();
        if !self.fits(len) {
            return;
        }
        let mut c = self.lock();
        if c.map.contains_key(&key) {
            return;
        }
        let mut steps = HAND_STEPS.min(c.slots.len());
        while c.bytes + len > self.budget && steps > 0 {
            steps -= 1;
            let i = c.hand;
            c.hand = (c.hand + 1) % c.slots.len();
            let s = &mut c.slots[i];
            let Some(d) = &s.data else { continue };
            if now.saturating_sub(s.last) < self.idle {
                continue;
            }
            let (k, n) = (s.key, d.len());
            s.data = None;
            c.bytes -= n;
            c.map.remove(&k);
            c.free.push(i);
        }
        if c.bytes + len > self.budget {
            return;
        }
        let slot = Slot {
            key,
            data: Some(data),
            last: now,
        };
        let i = match c.free.pop() {
            Some(i) => {
                c.slots[i] = slot;
                i
            }
            None => {
                c.slots.push(slot);
                c.slots.len() - 1
            }
        };
        c.map.insert(key, i);
        c.bytes += len;
    }

    pub(crate) fn stats(&self) -> CacheStats {
        CacheStats {
            bytes: self.lock().bytes as u64,
            budget: self.budget as u64,
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
        }
    }
}

/// A new segment reader's id in the cache's keys: never reused in a process.
pub(crate) fn reader_id() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Random reads and inserts: the budget holds, the books balance, and what comes
    /// back is what was put in.
    #[test]
    fn keeps_within_its_budget_and_gives_back_what_it_was_given() {
        let mut next = {
            let mut x = 0x9e37_79b9_7f4a_7c15u64;
            move || {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x
            }
        };
        for (budget, idle) in [
            (0, 0),
            (1, 0),
            (100, 0),
            (1_000, 0),
            (10_000, 0),
            (10_000, 60),
        ] {
            let c = ChunkCache::with_idle(budget, Duration::from_secs(idle));
            for _ in 0..5_000 {
                let key = (next() % 3, next() % 40);
                let len = (next() % 300) as usize;
                // A chunk's bytes are a function of its key: what comes back is checked.
                let data: Vec<u8> = (0..len)
                    .map(|i| (key.0 * 7 + key.1 + i as u64) as u8)
                    .collect();
                match c.get(key) {
                    Some(d) => assert!(
                        d.iter()
                            .enumerate()
                            .all(|(i, &b)| b == (key.0 * 7 + key.1 + i as u64) as u8)
                    ),
                    None if c.admits(key, len) => c.insert(key, Arc::new(data)),
                    None => {}
                }
                let s = c.stats();
                assert!(s.bytes <= budget as u64, "{s:?}");
                let h = c.lock();
                let sum: usize = h
                    .slots
                    .iter()
                    .filter_map(|s| s.data.as_ref())
                    .map(|d| d.len())
                    .sum();
                assert_eq!(sum, h.bytes);
                assert_eq!(
                    h.map.len(),
                    h.slots.iter().filter(|s| s.data.is_some()).count()
                );
                for (k, &i) in &h.map {
                    assert_eq!(h.slots[i].key, *k);
                }
            }
            let s = c.stats();
            if budget >= 1_000 {
                assert!(s.hits > 0, "{s:?}");
            }
        }
    }

    #[test]
    fn a_chunk_is_kept_when_read_a_second_time() {
        let c = ChunkCache::new(800);
        assert!(!c.admits((1, 0), 100));
        assert!(!c.admits((1, 1), 100));
        assert!(c.admits((1, 0), 100));
        // Too large for the budget, however often it is read.
        assert!(!c.admits((2, 0), 101));
        assert!(!c.admits((2, 0), 101));
        // No cache at all.
        let none = ChunkCache::new(0);
        assert!(!none.admits((1, 0), 1));
        assert!(!none.admits((1, 0), 1));
    }

    #[test]
    fn a_full_cache_keeps_what_is_read_and_makes_room_with_what_is_not() {
        let sec = Duration::from_secs;
        let c = ChunkCache::with_idle(800, sec(60));
        for k in 0..8 {
            c.insert_at((1, k), Arc::new(vec![1; 100]), sec(0));
        }
        // Full, every entry read within the minute: a new chunk is not kept.
        c.insert_at((2, 0), Arc::new(vec![2; 100]), sec(30));
        assert!(c.get_at((2, 0), sec(30)).is_none());
        // Half of them read again; a minute after the others were last read, new
        // chunks take their place, and the ones read lately stay.
        for k in 0..4 {
            assert!(c.get_at((1, k), sec(40)).is_some());
        }
        for k in 0..6 {
            c.insert_at((2, k), Arc::new(vec![2; 100]), sec(61));
        }
        for k in 0..4 {
            assert!(c.get_at((1, k), sec(62)).is_some(), "read lately: {k}");
            assert!(
                c.get_at((2, k), sec(62)).is_some(),
                "took an idle one's room: {k}"
            );
        }
        for k in 4..6 {
            assert!(c.get_at((2, k), sec(62)).is_none(), "no more room: {k}");
        }
        for k in 4..8 {
            assert!(c.get_at((1, k), sec(62)).is_none(), "idle, gone: {k}");
        }
        assert_eq!(c.stats().bytes, 800);
        // Too large for the budget: not kept.
        c.insert_at((3, 0), Arc::new(vec![3; 101]), sec(200));
        assert!(c.get_at((3, 0), sec(200)).is_none());
    }
}
