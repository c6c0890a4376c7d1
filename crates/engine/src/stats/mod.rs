//! Statistics: Wilson intervals for rates, Newcombe intervals for differences of rates,
//! ratios of rates, tests of association (two proportions, Cochran–Mantel–Haenszel),
//! Mantel–Haenszel pooling, Benjamini–Hochberg q-values, Pearson correlation with a
//! least-squares line and its prediction interval (Student's t), and time distributions.

mod ab;

pub use ab::{
    Cuped, Moments, Posterior, Sequential, Sums, Welch, chi_square_sf, cuped, fixed_sample_size,
    holm, holm_where, normal_quantile, posteriors, sample_ratio, sequential, sequential_means,
    sequential_sample_size, welch,
};

use cairn_model::query::result::{Diff, HistBin, Rate, Ratio, TimeStats};

/// z for a two-sided 95% interval.
pub const Z95: f64 = 1.959_963_984_540_054;

/// The Wilson score interval (95%) of `num / den`. With `den == 0` the rate is 0 and
/// the interval is the whole of [0, 1].
pub fn wilson(num: u64, den: u64) -> Rate {
    if den == 0 {
        return Rate {
            num,
            den,
            rate: 0.0,
            low: 0.0,
            high: 1.0,
        };
    }
    let n = den as f64;
    let p = num as f64 / n;
    let z2 = Z95 * Z95;
    let denom = 1.0 + z2 / n;
    let centre = (p + z2 / (2.0 * n)) / denom;
    let half = Z95 * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt() / denom;
    Rate {
        num,
        den,
        rate: p,
        low: (centre - half).max(0.0),
        high: (centre + half).min(1.0),
    }
}

/// The difference `a - b` of two independent rates with Newcombe's hybrid score
/// interval (method 10 of Newcombe 1998), built from the two Wilson intervals.
pub fn newcombe(a: &Rate, b: &Rate) -> Diff {
    let d = a.rate - b.rate;
    let low = d - ((a.rate - a.low).powi(2) + (b.high - b.rate).powi(2)).sqrt();
    let high = d + ((a.high - a.rate).powi(2) + (b.rate - b.low).powi(2)).sqrt();
    Diff {
        diff: d,
        low: low.max(-1.0),
        high: high.min(1.0),
    }
}

/// The complementary error function, with a relative error under 1.2e-7 everywhere
/// (the Chebyshev fit of Numerical Recipes, `erfcc`).
pub fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = -z * z - 1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98
                                + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    let r = t * poly.exp();
    if x >= 0.0 { r } else { 2.0 - r }
}

/// The two-sided p-value of a standard normal statistic.
pub fn two_sided_p(z: f64) -> f64 {
    if !z.is_finite() {
        return if z.is_nan() { 1.0 } else { 0.0 };
    }
    erfc(z.abs() / std::f64::consts::SQRT_2).min(1.0)
}

/// The two-sided p-value of the pooled two-proportion z test of `a/n1` against `c/n0`
/// (the χ² test of the 2×2 table without continuity correction). None when a group is
/// empty; 1 when every unit, or none, converted.
pub fn two_proportion_p(a: u64, n1: u64, c: u64, n0: u64) -> Option<f64> {
    if n1 == 0 || n0 == 0 {
        return None;
    }
    let (n1f, n0f) = (n1 as f64, n0 as f64);
    let pooled = (a + c) as f64 / (n1f + n0f);
    let var = pooled * (1.0 - pooled) * (1.0 / n1f + 1.0 / n0f);
    if var <= 0.0 {
        return Some(1.0);
    }
    Some(two_sided_p((a as f64 / n1f - c as f64 / n0f) / var.sqrt()))
}

/// The ratio of rates `(a/n1) / (c/n0)` with its log-scale (Katz) 95% interval. With a
/// zero count the interval takes ½ added to every cell (Haldane). None when a group is
/// empty or no unit of the second converted.
pub fn rate_ratio(a: u64, n1: u64, c: u64, n0: u64) -> Option<Ratio> {
    if n1 == 0 || n0 == 0 || c == 0 {
        return None;
    }
    let ratio = (a as f64 / n1 as f64) / (c as f64 / n0 as f64);
    let (ea, en1, ec, en0) = if a == 0 || a == n1 || c == n0 {
        (
            a as f64 + 0.5,
            n1 as f64 + 1.0,
            c as f64 + 0.5,
            n0 as f64 + 1.0,
        )
    } else {
        (a as f64, n1 as f64, c as f64, n0 as f64)
    };
    let centre = ((ea / en1) / (ec / en0)).ln();
    let se = (1.0 / ea - 1.0 / en1 + 1.0 / ec - 1.0 / en0)
        .max(0.0)
        .sqrt();
    Some(Ratio {
        ratio,
        low: (centre - Z95 * se).exp().min(ratio),
        high: (centre + Z95 * se).exp().max(ratio),
    })
}

/// One stratum's 2×2 table: units with the candidate that converted (`a`) and did not
/// (`b`); units without it that converted (`c`) and did not (`d`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Table {
    /// With, converted.
    pub a: u64,
    /// With, not converted.
    pub b: u64,
    /// Without, converted.
    pub c: u64,
    /// Without, not converted.
    pub d: u64,
}

/// The Mantel–Haenszel pooled rate ratio over strata, with the Greenland–Robins (1985)
/// 95% interval, the Cochran–Mantel–Haenszel test's two-sided p-value (no continuity
/// correction) and the number of informative strata (units both with and without).
/// The ratio is none when no informative stratum has a converter without the candidate.
///
/// The strata are summed in a fixed order (by their counts), so that the result does not
/// depend on the order they come in, to the last bit.
pub fn mantel_haenszel(strata: &[Table]) -> (Option<Ratio>, f64, u64) {
    let mut sorted = strata.to_vec();
    sorted.sort_unstable_by_key(|t| (t.a, t.b, t.c, t.d));
    let (mut r, mut s, mut v) = (0.0, 0.0, 0.0);
    let (mut obs, mut exp, mut var) = (0.0, 0.0, 0.0);
    let mut informative = 0;
    for t in &sorted {
        let (a, b, c, d) = (t.a as f64, t.b as f64, t.c as f64, t.d as f64);
        let (n1, n0) = (a + b, c + d);
        if n1 == 0.0 || n0 == 0.0 {
            continue;
        }
        informative += 1;
        let n = n1 + n0;
        let (m1, m0) = (a + c, b + d);
        r += a * n0 / n;
        s += c * n1 / n;
        v += (n1 * n0 * m1 - a * c * n) / (n * n);
        obs += a;
        exp += n1 * m1 / n;
        if n > 1.0 {
            var += n1 * n0 * m1 * m0 / (n * n * (n - 1.0));
        }
    }
    let p = if var > 0.0 {
        two_sided_p((obs - exp) / var.sqrt())
    } else {
        1.0
    };
    let lift = (s > 0.0).then(|| {
        let ratio = r / s;
        if r > 0.0 {
            let se = (v / (r * s)).max(0.0).sqrt();
            Ratio {
                ratio,
                low: (ratio.ln() - Z95 * se).exp(),
                high: (ratio.ln() + Z95 * se).exp(),
            }
        } else {
            Ratio {
                ratio,
                low: 0.0,
                high: 0.0,
            }
        }
    });
    (lift, p, informative)
}

/// Benjamini–Hochberg q-values (false discovery rate adjusted p-values), in the order
/// of `p`.
pub fn benjamini_hochberg(p: &[f64]) -> Vec<f64> {
    let m = p.len();
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|&i, &j| p[i].total_cmp(&p[j]));
    let mut q = vec![0.0; m];
    let mut running = 1.0f64;
    for (rank, &i) in order.iter().enumerate().rev() {
        running = running.min(p[i] * m as f64 / (rank + 1) as f64);
        q[i] = running.min(1.0);
    }
    q
}

/// ln Γ(x) for x > 0 (Lanczos' approximation, g = 7, 9 terms: relative error near
/// 1e-15).
pub(crate) fn ln_gamma(x: f64) -> f64 {
    const C: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        // Reflection: Γ(x) Γ(1 − x) = π / sin(πx).
        let pi = std::f64::consts::PI;
        return (pi / (pi * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let t = x + 7.5;
    let a = C[1..]
        .iter()
        .enumerate()
        .fold(C[0], |a, (i, c)| a + c / (x + i as f64 + 1.0));
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + a.ln()
}

/// The continued fraction of the incomplete beta function (modified Lentz; Numerical
/// Recipes' `betacf`).
fn beta_fraction(a: f64, b: f64, x: f64) -> f64 {
    const TINY: f64 = 1e-300;
    let nonzero = |v: f64| if v.abs() < TINY { TINY } else { v };
    let (qab, qap, qam) = (a + b, a + 1.0, a - 1.0);
    let mut c = 1.0;
    let mut d = 1.0 / nonzero(1.0 - qab * x / qap);
    let mut h = d;
    for m in 1..=500 {
        let m = m as f64;
        let m2 = 2.0 * m;
        let aa = m * (b - m) * x / ((qam + m2) * (a + m2));
        d = 1.0 / nonzero(1.0 + aa * d);
        c = nonzero(1.0 + aa / c);
        h *= d * c;
        let aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2));
        d = 1.0 / nonzero(1.0 + aa * d);
        c = nonzero(1.0 + aa / c);
        let step = d * c;
        h *= step;
        if (step - 1.0).abs() < 1e-15 {
            break;
        }
    }
    h
}

/// The regularized incomplete beta function I_x(a, b).
pub(crate) fn beta_inc(a: f64, b: f64, x: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    if x >= 1.0 {
        return 1.0;
    }
    let front =
        (ln_gamma(a + b) - ln_gamma(a) - ln_gamma(b) + a * x.ln() + b * (1.0 - x).ln()).exp();
    if x < (a + 1.0) / (a + b + 2.0) {
        front * beta_fraction(a, b, x) / a
    } else {
        1.0 - front * beta_fraction(b, a, 1.0 - x) / b
    }
}

/// The two-sided p-value of Student's t statistic with `df` degrees of freedom.
pub fn t_two_sided_p(t: f64, df: f64) -> f64 {
    if t.is_nan() {
        return 1.0;
    }
    if t.is_infinite() {
        return 0.0;
    }
    beta_inc(df / 2.0, 0.5, df / (df + t * t)).clamp(0.0, 1.0)
}

/// Student's t quantile for a two-sided 95% interval with `df` degrees of freedom
/// (bisection on [`t_two_sided_p`]).
pub fn t95(df: f64) -> f64 {
    let (mut lo, mut hi) = (0.0, 1e4);
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if t_two_sided_p(mid, df) > 0.05 {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    0.5 * (lo + hi)
}

/// Pearson's correlation of paired points with the least-squares line of `y` on `x`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Fit {
    /// Points.
    pub n: u64,
    /// The correlation coefficient.
    pub r: f64,
    /// Its 95% interval (Fisher's z transformation); none under 4 points.
    pub interval: Option<(f64, f64)>,
    /// Two-sided p-value of r = 0 (Student's t with n − 2 degrees of freedom, the exact
    /// test for bivariate normal data).
    pub p_value: f64,
    /// The line `y = intercept + slope · x`.
    pub slope: f64,
    /// Its intercept.
    pub intercept: f64,
    mean_x: f64,
    sxx: f64,
    /// The residuals' standard deviation (n − 2 degrees of freedom).
    s: f64,
    /// Student's t for a two-sided 95% interval with n − 2 degrees of freedom (found once:
    /// every cohort's prediction uses it).
    t: f64,
}

/// Pearson's r of `(x, y)` with its interval and p-value, and the least-squares line.
/// None under 3 points or when either variable is constant.
pub fn pearson(points: &[(f64, f64)]) -> Option<Fit> {
    let n = points.len();
    if n < 3 {
        return None;
    }
    let constant = |v: &dyn Fn(&(f64, f64)) -> f64| points.iter().all(|p| v(p) == v(&points[0]));
    if constant(&|p| p.0) || constant(&|p| p.1) {
        return None;
    }
    let nf = n as f64;
    let mean_x = points.iter().map(|p| p.0).sum::<f64>() / nf;
    let mean_y = points.iter().map(|p| p.1).sum::<f64>() / nf;
    let (mut sxx, mut syy, mut sxy) = (0.0, 0.0, 0.0);
    for &(x, y) in points {
        let (dx, dy) = (x - mean_x, y - mean_y);
        sxx += dx * dx;
        syy += dy * dy;
        sxy += dx * dy;
    }
    let r = (sxy / (sxx * syy).sqrt()).clamp(-1.0, 1.0);
    let df = nf - 2.0;
    let p_value = if r.abs() >= 1.0 {
        0.0
    } else {
        t_two_sided_p(r * (df / (1.0 - r * r)).sqrt(), df)
    };
    let interval = (n >= 4).then(|| {
        if r.abs() >= 1.0 {
            return (r, r);
        }
        let z = r.atanh();
        let se = 1.0 / (nf - 3.0).sqrt();
        ((z - Z95 * se).tanh(), (z + Z95 * se).tanh())
    });
    let slope = sxy / sxx;
    let sse = (syy - slope * sxy).max(0.0);
    Some(Fit {
        n: n as u64,
        r,
        interval,
        p_value,
        slope,
        intercept: mean_y - slope * mean_x,
        mean_x,
        sxx,
        s: (sse / df).sqrt(),
        t: t95(df),
    })
}

impl Fit {
    /// The line's value at `x` with the 95% prediction interval of one new point there
    /// (not of the line's mean).
    pub fn predict(&self, x: f64) -> (f64, f64, f64) {
        let y = self.intercept + self.slope * x;
        let n = self.n as f64;
        let dx = x - self.mean_x;
        let half = self.t * self.s * (1.0 + 1.0 / n + dx * dx / self.sxx).sqrt();
        (y, y - half, y + half)
    }
}

/// Histogram bin edges (ms): under 10 s, 1 min, 5 min, 15 min, 1 h, 6 h, 1 day, 3 days,
/// 7 days, and above.
pub const BIN_EDGES: [i64; 9] = [
    10_000,
    60_000,
    300_000,
    900_000,
    3_600_000,
    21_600_000,
    86_400_000,
    259_200_000,
    604_800_000,
];

fn short(ms: i64) -> String {
    match ms {
        x if x % 86_400_000 == 0 => format!("{}d", x / 86_400_000),
        x if x % 3_600_000 == 0 => format!("{}h", x / 3_600_000),
        x if x % 60_000 == 0 => format!("{}m", x / 60_000),
        x => format!("{}s", x / 1000),
    }
}

/// Percentile by the nearest-rank method: the value at rank ⌈p·n⌉ of the sorted values.
pub fn nearest_rank(sorted: &[i64], p: f64) -> i64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = (p * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// [`nearest_rank`] of sorted real values.
pub fn nearest_rank_f64(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = (p * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Distribution of durations: nearest-rank percentiles, mean and histogram. None when
/// there are no values.
pub fn time_stats(mut values: Vec<i64>) -> Option<TimeStats> {
    if values.is_empty() {
        return None;
    }
    // The percentiles by selection, not a sort: a funnel's step times are gathered from
    // every core's part and this ran on one core after them (a sort of the 10M funnel's
    // times was 2.4% of its CPU). From the largest rank down, each within the values
    // below the one before, which holds the smaller ranks.
    let n = values.len();
    let mut below = n;
    let mut at_rank = |p: f64| {
        let r = ((p * n as f64).ceil() as usize).clamp(1, n) - 1;
        let (_, &mut x, _) = values[..below].select_nth_unstable(r);
        below = r + 1;
        x
    };
    let (p90_ms, p75_ms, median_ms, p25_ms) =
        (at_rank(0.9), at_rank(0.75), at_rank(0.5), at_rank(0.25));
    let mut counts = [0u64; BIN_EDGES.len() + 1];
    for &v in &values {
        let b = BIN_EDGES.partition_point(|&e| e <= v);
        counts[b] += 1;
    }
    let mut histogram = Vec::with_capacity(counts.len());
    let mut lo = 0i64;
    for (i, &c) in counts.iter().enumerate() {
        let hi = BIN_EDGES.get(i).copied();
        let label = match hi {
            Some(h) if lo == 0 => format!("<{}", short(h)),
            Some(h) => format!("{}–{}", short(lo), short(h)),
            None => format!("≥{}", short(lo)),
        };
        histogram.push(HistBin {
            label,
            from_ms: lo,
            to_ms: hi,
            count: c,
        });
        if let Some(h) = hi {
            lo = h;
        }
    }
    let sum: i128 = values.iter().map(|&v| v as i128).sum();
    Some(TimeStats {
        count: values.len() as u64,
        p25_ms,
        median_ms,
        p75_ms,
        p90_ms,
        mean_ms: sum as f64 / values.len() as f64,
        histogram,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 5e-5
    }

    #[test]
    fn wilson_matches_published_values() {
        // Newcombe (1998), table I: 81/263 -> 0.2553 to 0.3662; 15/148 -> 0.0624 to 0.1605.
        let r = wilson(81, 263);
        assert!(close(r.low, 0.2553) && close(r.high, 0.3662), "{r:?}");
        let r = wilson(15, 148);
        assert!(close(r.low, 0.0624) && close(r.high, 0.1605), "{r:?}");
        // 0/10 -> 0 to 0.2775; 10/10 -> 0.7225 to 1.
        let r = wilson(0, 10);
        assert!(close(r.low, 0.0) && close(r.high, 0.2775), "{r:?}");
        let r = wilson(10, 10);
        assert!(close(r.low, 0.7225) && close(r.high, 1.0), "{r:?}");
        let r = wilson(0, 0);
        assert_eq!((r.rate, r.low, r.high), (0.0, 0.0, 1.0));
    }

    #[test]
    fn newcombe_matches_published_values() {
        // Newcombe (1998), table II, example (a): 56/70 vs 48/80 -> 0.0524 to 0.3339.
        let d = newcombe(&wilson(56, 70), &wilson(48, 80));
        assert!(close(d.diff, 0.2), "{d:?}");
        assert!(close(d.low, 0.0524) && close(d.high, 0.3339), "{d:?}");
        // Example (d): 5/56 vs 0/29 -> -0.0381 to 0.1926.
        let d = newcombe(&wilson(5, 56), &wilson(0, 29));
        assert!(close(d.low, -0.0381) && close(d.high, 0.1926), "{d:?}");
    }

    fn rel(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-6 * b.abs().max(1e-300)
    }

    // Values below from scipy 1.17.1 and statsmodels 0.15.0 (Python 3):
    //   2 * scipy.stats.norm.sf(z);
    //   statsmodels.stats.proportion.proportions_ztest([a, c], [n1, n0]);
    //   Table2x2([[a, n1 - a], [c, n0 - c]]).riskratio, .riskratio_confint();
    //   StratifiedTable(tables).riskratio_pooled, .test_null_odds(correction=False);
    //   statsmodels.stats.multitest.multipletests(p, method="fdr_bh")[1].

    #[test]
    fn normal_p_values_match_scipy() {
        for (z, want) in [
            (0.5, 0.6170750774519738),
            (1.96, 0.04999579029644087),
            (3.0, 0.0026997960632601866),
            (5.0, 5.733031437583866e-07),
            (8.0, 1.244192114854348e-15),
        ] {
            let p = two_sided_p(z);
            assert!((p - want).abs() <= 1.2e-7 * want, "z {z}: {p} vs {want}");
            assert_eq!(two_sided_p(-z), p);
        }
        assert_eq!(two_sided_p(0.0), 1.0);
    }

    #[test]
    fn two_proportion_tests_and_ratios_match_statsmodels() {
        for ((a, n1, c, n0), p, rr, lo, hi) in [
            (
                (56, 70, 48, 80),
                0.00804508136819656,
                1.3333333333333335,
                1.0766264227631928,
                1.6512485112663873,
            ),
            (
                (30, 200, 40, 1000),
                1.3686219992713937e-09,
                3.75,
                2.3950044112137876,
                5.871596701098822,
            ),
            (
                (5, 56, 1, 29),
                0.3496710496276836,
                2.5892857142857144,
                0.3171736750503823,
                21.137947558665154,
            ),
        ] {
            let got = two_proportion_p(a, n1, c, n0).unwrap();
            assert!(
                rel(got, p) || (got - p).abs() < 1e-7 * p.max(1e-9) * 10.0,
                "{got} vs {p}"
            );
            let r = rate_ratio(a, n1, c, n0).unwrap();
            assert!(
                rel(r.ratio, rr) && rel(r.low, lo) && rel(r.high, hi),
                "{r:?}"
            );
            // One stratum: the Greenland–Robins interval is Katz's.
            let (m, _, k) = mantel_haenszel(&[Table {
                a,
                b: n1 - a,
                c,
                d: n0 - c,
            }]);
            let m = m.unwrap();
            assert_eq!(k, 1);
            assert!(
                rel(m.ratio, rr) && rel(m.low, lo) && rel(m.high, hi),
                "{m:?}"
            );
        }
        assert_eq!(two_proportion_p(0, 0, 1, 2), None);
        assert_eq!(two_proportion_p(0, 10, 0, 20), Some(1.0));
        assert!(rate_ratio(3, 10, 0, 20).is_none(), "no converter without");
        let r = rate_ratio(0, 10, 2, 20).unwrap();
        assert_eq!((r.ratio, r.low), (0.0, 0.0));
        assert!(r.high > 1.0);
    }

    #[test]
    fn mantel_haenszel_matches_statsmodels() {
        let t = |a, b, c, d| Table { a, b, c, d };
        let strata = [t(20, 80, 10, 190), t(15, 35, 30, 120), t(5, 5, 8, 40)];
        let (m, p, k) = mantel_haenszel(&strata);
        let m = m.unwrap();
        assert!(rel(m.ratio, 2.351764705882353), "{m:?}");
        // CMH χ² = 19.38863028588103 (1 df).
        assert!((p - 1.0664005593130632e-05).abs() <= 1.2e-7 * p, "{p}");
        assert_eq!(k, 3);
        // The Greenland–Robins variance by hand: Σ(n1 n0 m1 − a c N)/N² over R·S.
        let (mut r, mut s, mut v) = (0.0, 0.0, 0.0);
        for x in &strata {
            let (a, b, c, d) = (x.a as f64, x.b as f64, x.c as f64, x.d as f64);
            let (n1, n0, n) = (a + b, c + d, a + b + c + d);
            r += a * n0 / n;
            s += c * n1 / n;
            v += (n1 * n0 * (a + c) - a * c * n) / (n * n);
        }
        let se = (v / (r * s)).sqrt();
        assert!(rel(m.low, (m.ratio.ln() - Z95 * se).exp()));
        assert!(m.low < m.ratio && m.ratio < m.high);
        // Strata with units on one side only carry nothing.
        let (m2, p2, k2) = mantel_haenszel(&[strata[0], t(0, 0, 5, 5), t(3, 3, 0, 0)]);
        let (m1, p1, _) = mantel_haenszel(&strata[..1]);
        assert_eq!((m2, p2, k2), (m1, p1, 1));
        assert_eq!(mantel_haenszel(&[]), (None, 1.0, 0));
    }

    #[test]
    fn benjamini_hochberg_matches_statsmodels() {
        let q = benjamini_hochberg(&[0.01, 0.04, 0.03, 0.005, 0.5, 0.2]);
        let want = [0.03, 0.06, 0.06, 0.03, 0.5, 0.24];
        for (a, b) in q.iter().zip(want) {
            assert!((a - b).abs() < 1e-12, "{q:?}");
        }
        assert!(benjamini_hochberg(&[]).is_empty());
        assert_eq!(benjamini_hochberg(&[0.7]), vec![0.7]);
    }

    // scipy 1.17.1 / statsmodels 0.15.0:
    //   scipy.stats.t.sf(abs(t), df) * 2; scipy.stats.t.ppf(0.975, df);
    //   r = scipy.stats.pearsonr(x, y): r.statistic, r.pvalue, r.confidence_interval(0.95);
    //   m = statsmodels.api.OLS(y, add_constant(x)).fit(): m.params,
    //   m.get_prediction([[1, x0]]).summary_frame(alpha=0.05): mean, obs_ci_lower/upper.

    #[test]
    fn student_t_matches_scipy() {
        for (df, t, want) in [
            (1.0, 0.5, 0.7048327646991335),
            (3.0, -2.0, 0.13932596855884305),
            (5.0, 2.571, 0.0499746346838514),
            (10.0, 1.0, 0.34089313230206),
            (30.0, 3.5, 0.0014768074376442532),
            (200.0, 1.96, 0.051384840845813295),
        ] {
            let p = t_two_sided_p(t, df);
            assert!(rel(p, want), "df {df}, t {t}: {p} vs {want}");
        }
        assert_eq!(t_two_sided_p(0.0, 4.0), 1.0);
        for (df, want) in [
            (1.0, 12.706204736174694),
            (2.0, 4.302652729749462),
            (5.0, 2.5705818356363146),
            (10.0, 2.228138851986274),
            (30.0, 2.0422724563012378),
            (100.0, 1.9839715185235518),
        ] {
            assert!(rel(t95(df), want), "df {df}: {} vs {want}", t95(df));
        }
    }

    #[test]
    fn pearson_and_prediction_match_scipy_and_statsmodels() {
        let x = [0.12, 0.18, 0.05, 0.22, 0.15, 0.09, 0.30];
        let y = [0.010, 0.022, 0.004, 0.025, 0.012, 0.011, 0.035];
        let pts: Vec<(f64, f64)> = x.into_iter().zip(y).collect();
        let f = pearson(&pts).unwrap();
        assert_eq!(f.n, 7);
        assert!(rel(f.r, 0.9760769111812683), "{f:?}");
        assert!(rel(f.p_value, 0.00016784493513327122), "{f:?}");
        let (lo, hi) = f.interval.unwrap();
        assert!(
            rel(lo, 0.8417157998591152) && rel(hi, 0.9965951195266259),
            "{f:?}"
        );
        assert!(rel(f.slope, 0.12486486486486487), "{f:?}");
        assert!(
            (f.intercept - -0.0027999999999999935).abs() < 1e-12,
            "{f:?}"
        );
        let (m, lo, hi) = f.predict(0.2);
        assert!(
            rel(m, 0.022172972972972983) && rel(lo, 0.015020038594407089),
            "{m} {lo}"
        );
        assert!(rel(hi, 0.029325907351538876), "{hi}");
        let (_, lo, hi) = f.predict(0.4);
        assert!(
            rel(lo, 0.03670545567597162) && rel(hi, 0.05758643621592029),
            "{lo} {hi}"
        );
        // No correlation: r 0, p 1, the interval symmetric.
        let pts = [(0.1, 0.3), (0.2, 0.1), (0.3, 0.4), (0.4, 0.2)];
        let f = pearson(&pts).unwrap();
        assert!(f.r.abs() < 1e-12 && (f.p_value - 1.0).abs() < 1e-9, "{f:?}");
        let (lo, hi) = f.interval.unwrap();
        assert!(
            rel(hi, 0.9610870825606609) && rel(-lo, 0.9610870825606609),
            "{f:?}"
        );
        // Too few points, or a constant variable: nothing to say.
        assert!(pearson(&pts[..2]).is_none());
        assert!(pearson(&[(0.1, 0.2), (0.1, 0.3), (0.1, 0.4)]).is_none());
        assert!(pearson(&pts[..3]).unwrap().interval.is_none());
    }

    #[test]
    fn percentiles_by_nearest_rank() {
        let v = vec![15, 20, 35, 40, 50];
        assert_eq!(nearest_rank(&v, 0.05), 15);
        assert_eq!(nearest_rank(&v, 0.3), 20);
        assert_eq!(nearest_rank(&v, 0.4), 20);
        assert_eq!(nearest_rank(&v, 0.5), 35);
        assert_eq!(nearest_rank(&v, 1.0), 50);
        let s = time_stats(vec![5_000, 70_000, 70_000, 700_000_000]).unwrap();
        assert_eq!(
            (s.p25_ms, s.median_ms, s.p90_ms),
            (5_000, 70_000, 700_000_000)
        );
        let counts: Vec<u64> = s.histogram.iter().map(|b| b.count).collect();
        assert_eq!(counts, vec![1, 0, 2, 0, 0, 0, 0, 0, 0, 1]);
        assert_eq!(s.histogram[0].label, "<10s");
        assert_eq!(s.histogram[9].label, "≥7d");
        assert!(time_stats(Vec::new()).is_none());
    }

    #[test]
    fn time_stats_agree_with_percentiles_of_the_sorted_values() {
        // The reference: sort, then rank.
        let mut next = crate::random(1);
        for case in 0..500 {
            let n = 1 + (next() % if case % 10 == 0 { 2_000 } else { 12 }) as usize;
            // Few distinct values in some cases: ties at the ranks.
            let spread = [3, 1_000, 900_000_000][case % 3];
            let values: Vec<i64> = (0..n).map(|_| (next() % spread) as i64).collect();
            let s = time_stats(values.clone()).unwrap();
            let mut sorted = values.clone();
            sorted.sort_unstable();
            let want = [0.25, 0.5, 0.75, 0.9].map(|p| nearest_rank(&sorted, p));
            assert_eq!(
                [s.p25_ms, s.median_ms, s.p75_ms, s.p90_ms],
                want,
                "{values:?}"
            );
            assert_eq!(s.count, n as u64);
            let mean = sorted.iter().map(|&v| v as f64).sum::<f64>() / n as f64;
            assert!((s.mean_ms - mean).abs() <= 1e-6 * mean.max(1.0));
            let mut counts = vec![0u64; BIN_EDGES.len() + 1];
            for &v in &sorted {
                counts[BIN_EDGES.iter().filter(|&&e| e <= v).count()] += 1;
            }
            let got: Vec<u64> = s.histogram.iter().map(|b| b.count).collect();
            assert_eq!(got, counts);
        }
    }
}
