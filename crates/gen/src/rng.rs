//! A small, fast and portable pseudo-random number generator.
//!
//! SplitMix64 (Steele, Lea and Flood) is used both to derive per-visitor streams from
//! the seed and as the stream itself. Only integer operations and IEEE 754 basic
//! arithmetic (`+ - * /`, exactly rounded on every platform) are used, never the
//! platform's `libm` (whose `ln`/`exp` may differ in the last bit between systems), so
//! the same seed gives the same output everywhere.

/// SplitMix64's finaliser: a bijection on `u64` that spreads bits.
#[inline]
pub(crate) fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// 2^-53.
const UNIT: f64 = 1.0 / (1u64 << 53) as f64;

/// SplitMix64 stream.
#[derive(Debug, Clone)]
pub(crate) struct Rng(u64);

impl Rng {
    /// A stream starting from `seed`.
    pub(crate) fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// The next 64 random bits.
    #[inline]
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        mix64(self.0)
    }

    /// Uniform in `0..n` (`n > 0`), by Lemire's multiply-shift.
    #[inline]
    pub(crate) fn below(&mut self, n: usize) -> usize {
        ((u128::from(self.next_u64()) * n as u128) >> 64) as usize
    }

    /// Uniform in `lo..hi` (`hi > lo`).
    #[inline]
    pub(crate) fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + ((u128::from(self.next_u64()) * (hi - lo) as u128) >> 64) as i64
    }

    /// Uniform in `[0, 1)`.
    #[inline]
    pub(crate) fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * UNIT
    }

    /// True with probability `p`.
    #[inline]
    pub(crate) fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    /// An element of a non-empty slice, uniformly.
    #[inline]
    pub(crate) fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len())]
    }

    /// An index drawn with the given integer weights (not all zero).
    #[inline]
    pub(crate) fn weighted(&mut self, weights: &[u32]) -> usize {
        let total: u32 = weights.iter().sum();
        let mut x = self.below(total as usize) as u32;
        for (i, &w) in weights.iter().enumerate() {
            if x < w {
                return i;
            }
            x -= w;
        }
        weights.len() - 1
    }

    /// An element of `(item, weight)` pairs, drawn by weight.
    #[inline]
    pub(crate) fn weighted_pick<'a, T>(&mut self, xs: &'a [(T, u32)]) -> &'a T {
        &xs[self.weighted_pick_index(xs)].0
    }

    /// The index of one of `(item, weight)` pairs, drawn by weight.
    #[inline]
    pub(crate) fn weighted_pick_index<T>(&mut self, xs: &[(T, u32)]) -> usize {
        let total: u32 = xs.iter().map(|x| x.1).sum();
        let mut x = self.below(total as usize) as u32;
        for (i, (_, w)) in xs.iter().enumerate() {
            if x < *w {
                return i;
            }
            x -= w;
        }
        xs.len() - 1
    }

    /// Exponentially distributed with the given mean.
    #[inline]
    pub(crate) fn exp(&mut self, mean: f64) -> f64 {
        // u in (0, 1]: never zero, never subnormal.
        let u = ((self.next_u64() >> 11) + 1) as f64 * UNIT;
        -ln(u) * mean
    }

    /// A heavy-headed index in `0..n`: small indexes are much more likely
    /// (density ~ x^(-2/3), a Zipf-like popularity curve).
    #[inline]
    pub(crate) fn popular(&mut self, n: usize) -> usize {
        let u = self.unit();
        ((u * u * u * n as f64) as usize).min(n - 1)
    }
}

/// Natural logarithm of a positive, finite, normal `x`, from basic arithmetic only
/// (so bit-identical on every IEEE 754 platform). Relative error below 1e-10, ample for
/// sampling.
pub(crate) fn ln(x: f64) -> f64 {
    const LN_2: f64 = std::f64::consts::LN_2;
    const SQRT_2: f64 = std::f64::consts::SQRT_2;
    let bits = x.to_bits();
    let mut e = ((bits >> 52) & 0x7ff) as i64 - 1023;
    let mut m = f64::from_bits((bits & 0x000f_ffff_ffff_ffff) | 0x3ff0_0000_0000_0000);
    if m > SQRT_2 {
        m *= 0.5;
        e += 1;
    }
    // ln(m) = 2 atanh(s), s = (m - 1) / (m + 1), |s| < 0.172.
    let f = m - 1.0;
    let s = f / (2.0 + f);
    let z = s * s;
    let series = s
        * (2.0
            + z * (2.0 / 3.0
                + z * (2.0 / 5.0
                    + z * (2.0 / 7.0
                        + z * (2.0 / 9.0
                            + z * (2.0 / 11.0 + z * (2.0 / 13.0 + z * (2.0 / 15.0))))))));
    e as f64 * LN_2 + series
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ln_is_accurate() {
        for &x in &[
            1e-16, 1e-9, 0.001, 0.1, 0.5, 0.7, 1.0, 1.4, 2.0, 3.0, 10.0, 12345.678,
        ] {
            let (a, b) = (ln(x), x.ln());
            assert!((a - b).abs() <= 1e-10 * b.abs().max(1.0), "{x}: {a} vs {b}");
        }
    }

    #[test]
    fn samplers_stay_in_range() {
        let mut r = Rng::new(7);
        let mut sum = 0.0;
        for _ in 0..100_000 {
            assert!(r.below(10) < 10);
            let x = r.range(-5, 5);
            assert!((-5..5).contains(&x));
            let u = r.unit();
            assert!((0.0..1.0).contains(&u));
            assert!(r.popular(100) < 100);
            let e = r.exp(2.0);
            assert!(e >= 0.0 && e.is_finite());
            sum += e;
            assert!(r.weighted(&[0, 3, 0, 1]) % 2 == 1);
        }
        let mean = sum / 100_000.0;
        assert!((1.9..2.1).contains(&mean), "{mean}");
    }
}
