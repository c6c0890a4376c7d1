//! Token-bucket rate limits, per client address and per site.
//!
//! A bucket holds up to `burst` tokens and refills at `rate` tokens per second; a request
//! takes one token per unit (a request, or an event). Buckets are keyed by a 64-bit hash
//! (the client address is hashed with a per-process random key, so no address is kept);
//! the table is split into shards to keep lock hold times short, and idle buckets (full
//! again) are dropped when a shard grows past a bound, so memory stays bounded under a
//! flood of distinct addresses.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hash};
use std::sync::Mutex;
use std::time::{Duration, Instant};

const SHARDS: usize = 16;
/// Buckets per shard before idle ones are swept.
const SWEEP_AT: usize = 16_384;

#[derive(Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// A rate limit: `rate` units per second on average, bursts of up to `burst`.
pub struct Limiter {
    rate: f64,
    burst: f64,
    keys: std::collections::hash_map::RandomState,
    shards: Vec<Mutex<HashMap<u64, Bucket>>>,
}

impl Limiter {
    /// A limiter; `rate == 0` turns it off.
    pub fn new(rate: f64, burst: f64) -> Limiter {
        Limiter {
            rate,
            burst: burst.max(1.0),
            keys: std::collections::hash_map::RandomState::new(),
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
        }
    }

    /// Whether the limit is on.
    pub fn enabled(&self) -> bool {
        self.rate > 0.0
    }

    /// Takes `cost` units for `key` at time `now`; `Err(wait)` when the bucket is short,
    /// with how long until it holds enough (nothing is taken then).
    pub fn take<K: Hash>(&self, key: K, cost: f64, now: Instant) -> Result<(), Duration> {
        if !self.enabled() {
            return Ok(());
        }
        let h = self.keys.hash_one(key);
        let shard = &self.shards[(h as usize) % SHARDS];
        let mut map = match shard.lock() {
            Ok(m) => m,
            Err(p) => p.into_inner(),
        };
        if map.len() >= SWEEP_AT && !map.contains_key(&h) {
            let (rate, burst) = (self.rate, self.burst);
            map.retain(|_, b| {
                b.tokens + now.saturating_duration_since(b.at).as_secs_f64() * rate < burst
            });
            if map.len() >= SWEEP_AT {
                // Every bucket is in use: make room by forgetting the oldest half.
                let mut ats: Vec<Instant> = map.values().map(|b| b.at).collect();
                ats.sort_unstable();
                let cut = ats[ats.len() / 2];
                map.retain(|_, b| b.at > cut);
            }
        }
        let b = map.entry(h).or_insert(Bucket {
            tokens: self.burst,
            at: now,
        });
        let elapsed = now.saturating_duration_since(b.at).as_secs_f64();
        b.tokens = (b.tokens + elapsed * self.rate).min(self.burst);
        b.at = now;
        // A cost above the burst can never be met: let it through an empty bucket once
        // (the debt is paid before the next request passes).
        if b.tokens >= cost || (cost > self.burst && b.tokens >= self.burst) {
            b.tokens -= cost;
            Ok(())
        } else {
            let short = cost.min(self.burst) - b.tokens;
            Err(Duration::from_secs_f64(short / self.rate))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bursts_then_refills_at_the_rate() {
        let l = Limiter::new(10.0, 5.0);
        let t0 = Instant::now();
        for _ in 0..5 {
            l.take("a", 1.0, t0).unwrap();
        }
        let wait = l.take("a", 1.0, t0).unwrap_err();
        assert!((wait.as_secs_f64() - 0.1).abs() < 1e-9, "{wait:?}");
        // Another key has its own bucket.
        l.take("b", 1.0, t0).unwrap();
        // 0.3 s later three tokens are back.
        let t1 = t0 + Duration::from_millis(300);
        for _ in 0..3 {
            l.take("a", 1.0, t1).unwrap();
        }
        assert!(l.take("a", 1.0, t1).is_err());
    }

    #[test]
    fn a_cost_above_the_burst_passes_a_full_bucket_once() {
        let l = Limiter::new(100.0, 50.0);
        let t0 = Instant::now();
        l.take(1u64, 80.0, t0).unwrap();
        let wait = l.take(1u64, 1.0, t0).unwrap_err();
        assert!(wait >= Duration::from_millis(300), "{wait:?}");
    }

    #[test]
    fn off_when_the_rate_is_zero() {
        let l = Limiter::new(0.0, 0.0);
        let t0 = Instant::now();
        for _ in 0..1000 {
            l.take("a", 1.0, t0).unwrap();
        }
    }

    #[test]
    fn memory_stays_bounded_under_a_flood_of_keys() {
        let l = Limiter::new(1.0, 2.0);
        let t0 = Instant::now();
        for k in 0..200_000u64 {
            let _ = l.take(k, 1.0, t0 + Duration::from_micros(k));
        }
        let total: usize = l.shards.iter().map(|s| s.lock().unwrap().len()).sum();
        assert!(total <= SHARDS * SWEEP_AT, "{total}");
    }
}
