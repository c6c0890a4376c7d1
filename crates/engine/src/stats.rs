//! Statistics: Wilson intervals for rates, Newcombe intervals for differences of rates,
//! and time distributions.

use cairn_model::query::result::{Diff, HistBin, Rate, TimeStats};

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

/// Distribution of durations: nearest-rank percentiles, mean and histogram. None when
/// there are no values.
pub fn time_stats(mut values: Vec<i64>) -> Option<TimeStats> {
    if values.is_empty() {
        return None;
    }
    values.sort_unstable();
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
        p25_ms: nearest_rank(&values, 0.25),
        median_ms: nearest_rank(&values, 0.5),
        p75_ms: nearest_rank(&values, 0.75),
        p90_ms: nearest_rank(&values, 0.9),
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
}
