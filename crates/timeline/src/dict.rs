//! Query-wide string dictionaries.

use cairn_model::Dim;
use rustc_hash::FxHashMap;

/// A query-wide string dictionary. Id 0 is the empty string (unset). Ids are assigned
/// by the source in any order: analyses compare and group by id, and turn ids into
/// strings only for output (so results never depend on id order).
///
/// A scan interns every string of its sources' dictionaries (tens of thousands of
/// property values per segment), so the strings share one buffer and the map holds
/// hashes, not copies: two allocations per string were most of a 10M A/B test's start
/// (20–26 ms; 12 ms with one buffer).
#[derive(Debug, Clone)]
pub struct QueryDict {
    /// Every string, one after another; string `i` ends at `ends[i]`.
    bytes: String,
    ends: Vec<usize>,
    /// A string's hash to the last id interned with it; `same_hash[id]`, the id before
    /// with the same hash ([`NONE`] at the first). Hashes of 32 bits: a map of a million
    /// entries half the size misses the cache less (a 100M A/B test's start: 169–193 ms
    /// with 64-bit hashes, 128–143 ms with these), and a chain is walked only as often
    /// as two strings share a hash.
    by_hash: FxHashMap<u32, u32>,
    same_hash: Vec<u32>,
}

/// No id.
const NONE: u32 = u32::MAX;

impl Default for QueryDict {
    fn default() -> Self {
        let mut d = QueryDict {
            bytes: String::new(),
            ends: Vec::new(),
            by_hash: FxHashMap::default(),
            same_hash: Vec::new(),
        };
        d.intern("");
        d
    }
}

impl QueryDict {
    fn hash(s: &str) -> u32 {
        use std::hash::BuildHasher;
        (rustc_hash::FxBuildHasher.hash_one(s) >> 32) as u32
    }

    /// The id of `s` whose hash is `h`, if interned.
    fn find(&self, s: &str, h: u32) -> Option<u32> {
        let mut id = *self.by_hash.get(&h)?;
        while id != NONE {
            if self.get(id) == s {
                return Some(id);
            }
            id = self.same_hash[id as usize];
        }
        None
    }

    /// The id of `s`, adding it if new.
    pub fn intern(&mut self, s: &str) -> u32 {
        self.intern_hashed(s, Self::hash(s))
    }

    /// [`QueryDict::intern`] of `s` whose hash is `h`.
    fn intern_hashed(&mut self, s: &str, h: u32) -> u32 {
        if let Some(id) = self.find(s, h) {
            return id;
        }
        let id = self.ends.len() as u32;
        self.bytes.push_str(s);
        self.ends.push(self.bytes.len());
        self.same_hash
            .push(self.by_hash.insert(h, id).unwrap_or(NONE));
        id
    }

    /// Room for `n` more strings.
    pub fn reserve(&mut self, n: usize) {
        self.ends.reserve(n);
        self.same_hash.reserve(n);
        self.by_hash.reserve(n);
    }

    /// The string of an id.
    pub fn get(&self, id: u32) -> &str {
        let i = id as usize;
        let Some(&end) = self.ends.get(i) else {
            return "";
        };
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        &self.bytes[start..end]
    }

    /// The id of a string, if any event in the scan has it.
    pub fn id(&self, s: &str) -> Option<u32> {
        self.find(s, Self::hash(s))
    }

    /// Number of distinct strings (including the empty one).
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// Whether only the empty string is present.
    pub fn is_empty(&self) -> bool {
        self.ends.len() <= 1
    }
}

/// A scan's dictionaries: one per dimension (by [`Dim::index`]), property keys, string
/// property values, currencies.
#[derive(Debug, Clone)]
pub struct ScanDicts {
    /// Per dimension.
    pub dims: Vec<QueryDict>,
    /// Property keys.
    pub prop_keys: QueryDict,
    /// String property values.
    pub prop_values: QueryDict,
    /// Currencies.
    pub currencies: QueryDict,
}

impl Default for ScanDicts {
    fn default() -> Self {
        ScanDicts {
            dims: vec![QueryDict::default(); Dim::ALL.len()],
            prop_keys: QueryDict::default(),
            prop_values: QueryDict::default(),
            currencies: QueryDict::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_stable_and_strings_come_back() {
        // The reference: a map of owned strings. Short strings over a small alphabet
        // repeat often.
        use rand::{RngCore, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let mut next = move || rng.next_u64();
        let mut d = QueryDict::default();
        let mut want: std::collections::HashMap<String, u32> = [(String::new(), 0)].into();
        for _ in 0..20_000 {
            let len = (next() % 4) as usize;
            let s: String = (0..len)
                .map(|_| ['a', 'b', 'é', '/'][next() as usize % 4])
                .collect();
            let n = want.len() as u32;
            let id = *want.entry(s.clone()).or_insert(n);
            assert_eq!(d.intern(&s), id, "{s:?}");
            assert_eq!(d.id(&s), Some(id));
        }
        assert_eq!(d.len(), want.len());
        for (s, &id) in &want {
            assert_eq!(d.get(id), s);
        }
        assert_eq!(d.get(d.len() as u32), "");
        assert_eq!(d.id("not there"), None);
        assert!(!d.is_empty());
        assert!(QueryDict::default().is_empty());
    }

    #[test]
    fn strings_of_one_hash_are_told_apart() {
        // Every string given one of two hashes: each lookup walks a chain.
        let mut d = QueryDict::default();
        let words: Vec<String> = (0..300).map(|i| format!("w{i}")).collect();
        for round in 0..2 {
            for (i, w) in words.iter().enumerate() {
                assert_eq!(
                    d.intern_hashed(w, i as u32 % 2),
                    i as u32 + 1,
                    "round {round}"
                );
            }
        }
        for (i, w) in words.iter().enumerate() {
            assert_eq!(d.find(w, i as u32 % 2), Some(i as u32 + 1));
            assert_eq!(d.find(w, 7), None);
            assert_eq!(d.get(i as u32 + 1), w);
        }
    }
}
