//! The chunk cache: segment chunks' stored bytes, kept in memory between scans.
//!
//! A scan reads each block's chunks with `pread`: the kernel copies them out of the
//! page cache on every query, a tenth of a lift's time. Scans keep the bytes they read
//! here (as stored, compressed or not, after their checksum passed), and the next scan
//! of the same chunk copies or decompresses them from memory. Segments never change
//! once written, so an entry is never stale; a segment's entries outlive it only until
//! they are evicted (a reader's id is never reused). Merges read around it: each of
//! their chunks is read once.
//!
//! A chunk is kept the second time it is read, not the first: a process that queries
//! once (`cairn query`) or a range read once does not pay for copies it will not use
//! (the first query of a lift in a fresh process took 12% longer when every chunk read
//! went into fresh memory), and what is read once does not push out what is read
//! again. The chunks read once are remembered by key only, up to as many as the budget
//! holds chunks of 4 KiB (at least 1,024), then forgotten all at once.
//!
//! Eviction is CLOCK (second chance) over a budget of bytes: an entry read since the
//! hand last passed it stays one more round. A chunk larger than an eighth of the
//! budget is not kept.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use rustc_hash::{FxHashMap, FxHashSet};

/// A chunk: its segment reader's id and its offset in the file.
pub(crate) type Key = (u64, u64);

/// Segment chunks' stored bytes, up to a budget.
#[derive(Debug)]
pub(crate) struct ChunkCache {
    budget: usize,
    clock: Mutex<Clock>,
    hits: AtomicU64,
    misses: AtomicU64,
}

#[derive(Debug, Default)]
struct Clock {
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
    referenced: bool,
}

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
        ChunkCache {
            budget,
            clock: Mutex::new(Clock::default()),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Clock> {
        self.clock.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The bytes of chunk `key`, if kept (a miss is counted: the caller reads the file).
    pub(crate) fn get(&self, key: Key) -> Option<Arc<Vec<u8>>> {
        if self.budget == 0 {
            return None;
        }
        let mut c = self.lock();
        let found = c.map.get(&key).copied().and_then(|i| {
            let s = &mut c.slots[i];
            s.referenced = true;
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

    /// Keeps `data` as chunk `key`'s bytes, evicting what the budget needs.
    pub(crate) fn insert(&self, key: Key, data: Arc<Vec<u8>>) {
        let len = data.len();
        if !self.fits(len) {
            return;
        }
        let mut c = self.lock();
        if c.map.contains_key(&key) {
            return;
        }
        // Each round clears the marks it passes: two rounds free every byte if need be.
        let mut steps = 2 * c.slots.len();
        while c.bytes + len > self.budget && steps > 0 {
            steps -= 1;
            let i = c.hand;
            c.hand = (c.hand + 1) % c.slots.len();
            let s = &mut c.slots[i];
            let Some(d) = &s.data else { continue };
            if s.referenced {
                s.referenced = false;
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
            referenced: false,
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
        for budget in [0, 1, 100, 1_000, 10_000] {
            let c = ChunkCache::new(budget);
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
                let clock = c.lock();
                let held: usize = clock
                    .slots
                    .iter()
                    .filter_map(|s| s.data.as_ref())
                    .map(|d| d.len())
                    .sum();
                assert_eq!(held, clock.bytes);
                assert_eq!(
                    clock.map.len(),
                    clock.slots.iter().filter(|s| s.data.is_some()).count()
                );
                for (k, &i) in &clock.map {
                    assert_eq!(clock.slots[i].key, *k);
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
    fn a_chunk_read_again_stays_while_others_go() {
        let c = ChunkCache::new(800);
        c.insert((1, 0), Arc::new(vec![1; 100]));
        for k in 1..30 {
            // Chunk (1, 0) read before every insert: the hand passes it by.
            assert!(c.get((1, 0)).is_some(), "evicted at {k}");
            c.insert((2, k), Arc::new(vec![2; 100]));
        }
        assert!(c.get((2, 1)).is_none());
        assert!(c.get((2, 29)).is_some());
        // Too large for the budget: not kept.
        c.insert((3, 0), Arc::new(vec![3; 101]));
        assert!(c.get((3, 0)).is_none());
    }
}
