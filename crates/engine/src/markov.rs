//! Attribution models over paths of touches: first touch, last touch, linear,
//! position-based (40/20/40) and the data-driven one — a first-order Markov chain
//! (start → touches → conversion or null) whose removal effects share the conversions,
//! with intervals from a Poisson bootstrap over the units. `docs/influence.md#attribution`.

use std::collections::{BTreeMap, BTreeSet};

use cairn_model::query::result::AttributionRow;

use crate::attribution::{Credits, MARKOV_TOUCHES, markov_credit, row};
use crate::stats::nearest_rank_f64;

/// The units that followed one path.
#[derive(Debug, Clone, Default)]
pub(crate) struct Path {
    /// The touches, in order (never empty).
    pub touches: Vec<String>,
    /// Units that converted after it, and units that did not.
    pub converted: u64,
    pub not: u64,
    /// The converted units' value, per currency (micros).
    pub value: BTreeMap<String, i128>,
}

/// Every model's credit per touch.
pub(crate) struct Model {
    pub units: u64,
    pub conversions: u64,
    pub value: BTreeMap<String, f64>,
    pub probability: f64,
    pub rows: Vec<AttributionRow>,
}

/// The touch that gathers those beyond the limits.
const OTHER: &str = "(other)";

/// Credits the conversions of `paths` by every model; `bootstrap` resamples for the
/// Markov intervals; `limit` rows, the rest in `(other)`.
pub(crate) fn attribute(paths: Vec<Path>, bootstrap: u32, limit: usize) -> Model {
    // Touches beyond the most frequent MARKOV_TOUCHES (by units with them on their
    // path) become one `(other)` touch, for every model.
    let mut freq: BTreeMap<&str, u64> = BTreeMap::new();
    for p in &paths {
        let set: BTreeSet<&str> = p.touches.iter().map(String::as_str).collect();
        for t in set {
            *freq.entry(t).or_default() += p.converted + p.not;
        }
    }
    let mut by_freq: Vec<(&str, u64)> = freq.into_iter().collect();
    by_freq.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
    let kept: BTreeSet<String> = by_freq
        .iter()
        .take(MARKOV_TOUCHES)
        .map(|(t, _)| t.to_string())
        .collect();
    let mut merged: BTreeMap<Vec<String>, Path> = BTreeMap::new();
    for p in paths {
        let touches: Vec<String> = p
            .touches
            .into_iter()
            .map(|t| if kept.contains(&t) { t } else { OTHER.into() })
            .collect();
        let e = merged.entry(touches.clone()).or_insert_with(|| Path {
            touches,
            ..Path::default()
        });
        e.converted += p.converted;
        e.not += p.not;
        for (c, m) in p.value {
            *e.value.entry(c).or_default() += m;
        }
    }
    let paths: Vec<Path> = merged.into_values().collect();

    let units: u64 = paths.iter().map(|p| p.converted + p.not).sum();
    let conversions: u64 = paths.iter().map(|p| p.converted).sum();
    let mut value: BTreeMap<String, f64> = BTreeMap::new();
    for p in &paths {
        for (c, m) in &p.value {
            *value.entry(c.clone()).or_default() += *m as f64 / 1e6;
        }
    }

    // The heuristic models, and the converting units on each touch's path.
    let names: Vec<String> = paths
        .iter()
        .flat_map(|p| p.touches.iter().cloned())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let index = |t: &str| names.binary_search_by(|n| n.as_str().cmp(t)).unwrap_or(0);
    let mut models: Vec<[Credits; 4]> = (0..names.len()).map(|_| Default::default()).collect();
    let mut on_path = vec![0u64; names.len()];
    for p in paths.iter().filter(|p| p.converted > 0) {
        let v: BTreeMap<String, f64> = p
            .value
            .iter()
            .map(|(c, m)| (c.clone(), *m as f64 / 1e6))
            .collect();
        let n = p.touches.len();
        for (k, t) in p.touches.iter().enumerate() {
            let m = &mut models[index(t)];
            if k == 0 {
                m[0].add(1.0, p.converted, &v);
            }
            if k == n - 1 {
                m[1].add(1.0, p.converted, &v);
            }
            m[2].add(1.0 / n as f64, p.converted, &v);
            m[3].add(position_weight(k, n), p.converted, &v);
        }
        for t in p.touches.iter().collect::<BTreeSet<_>>() {
            on_path[index(t)] += p.converted;
        }
    }

    // The Markov chain, and its bootstrap.
    let counts: Vec<(Vec<usize>, u64, u64)> = paths
        .iter()
        .map(|p| {
            (
                p.touches.iter().map(|t| index(t)).collect(),
                p.converted,
                p.not,
            )
        })
        .collect();
    let (probability, effects) = removal_effects(names.len(), &counts);
    let shares = normalise(&effects);
    let intervals: Vec<Option<(f64, f64)>> = if bootstrap > 0 && conversions > 0 {
        let mut rng = SplitMix(0x0c41_2e5e_ed00_0001);
        let mut draws: Vec<Vec<f64>> = vec![Vec::with_capacity(bootstrap as usize); names.len()];
        let mut resampled = counts.clone();
        for _ in 0..bootstrap {
            for (r, c) in resampled.iter_mut().zip(&counts) {
                r.1 = rng.poisson(c.1 as f64);
                r.2 = rng.poisson(c.2 as f64);
            }
            let (_, e) = removal_effects(names.len(), &resampled);
            for (d, s) in draws.iter_mut().zip(normalise(&e)) {
                d.push(s);
            }
        }
        draws
            .into_iter()
            .map(|mut d| {
                d.sort_by(f64::total_cmp);
                Some((nearest_rank_f64(&d, 0.025), nearest_rank_f64(&d, 0.975)))
            })
            .collect()
    } else {
        vec![None; names.len()]
    };

    // Rows: by converting units on their path, then name; beyond `limit`, `(other)`. A
    // touch on no converting path that the chain credits nothing (units without any
    // touch that never converted, say) is left out: it only fed the chain.
    let mut order: Vec<usize> = (0..names.len())
        .filter(|&i| on_path[i] > 0 || shares[i] >= 1e-9)
        .collect();
    order.sort_by(|&a, &b| {
        let other = |i: usize| names[i] == OTHER;
        other(a)
            .cmp(&other(b))
            .then_with(|| on_path[b].cmp(&on_path[a]))
            .then_with(|| names[a].cmp(&names[b]))
    });
    let markov_credits = |i: usize| Credits {
        conversions: shares[i] * conversions as f64,
        value: value
            .iter()
            .map(|(cur, v)| (cur.clone(), shares[i] * v))
            .collect(),
    };
    let mut rows = Vec::new();
    let mut rest: Option<([Credits; 4], Credits, f64, u64)> = None;
    for (k, &i) in order.iter().enumerate() {
        if k < limit && names[i] != OTHER {
            let m = &models[i];
            rows.push(row(
                names[i].clone(),
                on_path[i],
                [&m[0], &m[1], &m[2], &m[3]],
                markov_credit(effects[i], &markov_credits(i), conversions, intervals[i]),
                conversions,
            ));
        } else {
            let r = rest.get_or_insert_with(Default::default);
            for (into, from) in r.0.iter_mut().zip(&models[i]) {
                into.conversions += from.conversions;
                for (c, v) in &from.value {
                    *into.value.entry(c.clone()).or_default() += v;
                }
            }
            let mc = markov_credits(i);
            r.1.conversions += mc.conversions;
            for (c, v) in mc.value {
                *r.1.value.entry(c).or_default() += v;
            }
            r.2 += effects[i];
            r.3 += on_path[i];
        }
    }
    if let Some((m, mc, effect, n)) = rest {
        rows.push(row(
            OTHER.into(),
            n,
            [&m[0], &m[1], &m[2], &m[3]],
            markov_credit(effect, &mc, conversions, None),
            conversions,
        ));
    }
    Model {
        units,
        conversions,
        value,
        probability,
        rows,
    }
}

/// The position-based weight of touch `k` of `n`: 40% to the first and to the last, 20%
/// shared by those between; one touch takes all, two take half each.
pub(crate) fn position_weight(k: usize, n: usize) -> f64 {
    match n {
        1 => 1.0,
        2 => 0.5,
        _ if k == 0 || k == n - 1 => 0.4,
        _ => 0.2 / (n - 2) as f64,
    }
}

fn normalise(effects: &[f64]) -> Vec<f64> {
    let sum: f64 = effects.iter().sum();
    effects
        .iter()
        .map(|&e| if sum > 0.0 { e / sum } else { 0.0 })
        .collect()
}

/// The chain's conversion probability and each node's removal effect: 1 − the
/// probability with the node removed (every transition into it going to null) ÷ the
/// probability. `paths`: (nodes, units converted, units not).
pub(crate) fn removal_effects(n: usize, paths: &[(Vec<usize>, u64, u64)]) -> (f64, Vec<f64>) {
    let mut start = vec![0.0; n];
    let mut trans = vec![0.0; n * n];
    let mut conv = vec![0.0; n];
    let mut out = vec![0.0; n];
    let mut units = 0.0;
    for (nodes, c, x) in paths {
        let w = (*c + *x) as f64;
        if w == 0.0 {
            continue;
        }
        units += w;
        start[nodes[0]] += w;
        for pair in nodes.windows(2) {
            trans[pair[0] * n + pair[1]] += w;
            out[pair[0]] += w;
        }
        let last = *nodes.last().expect("a path has a touch");
        conv[last] += *c as f64;
        out[last] += w;
    }
    if units == 0.0 {
        return (0.0, vec![0.0; n]);
    }
    let prob = |removed: Option<usize>| -> f64 {
        // (I − Q) p = r, with a removed node's p fixed at 0.
        let mut a = vec![0.0; n * n];
        let mut r = vec![0.0; n];
        for i in 0..n {
            a[i * n + i] = 1.0;
            if Some(i) == removed || out[i] == 0.0 {
                continue;
            }
            for j in 0..n {
                if Some(j) != removed {
                    a[i * n + j] -= trans[i * n + j] / out[i];
                }
            }
            r[i] = conv[i] / out[i];
        }
        let p = solve(n, &mut a, &mut r);
        (0..n).map(|j| start[j] * p[j]).sum::<f64>() / units
    };
    let base = prob(None);
    let effects = (0..n)
        .map(|m| {
            if base > 0.0 {
                (1.0 - prob(Some(m)) / base).max(0.0)
            } else {
                0.0
            }
        })
        .collect();
    (base, effects)
}

/// Solves `a x = b` (n × n, row-major) by Gaussian elimination with partial pivoting;
/// `a` and `b` are overwritten. `a` is non-singular here: every chain is absorbing.
fn solve(n: usize, a: &mut [f64], b: &mut [f64]) -> Vec<f64> {
    for col in 0..n {
        let pivot = (col..n)
            .max_by(|&i, &j| a[i * n + col].abs().total_cmp(&a[j * n + col].abs()))
            .unwrap_or(col);
        if pivot != col {
            for k in 0..n {
                a.swap(col * n + k, pivot * n + k);
            }
            b.swap(col, pivot);
        }
        let d = a[col * n + col];
        if d == 0.0 {
            continue;
        }
        for row in col + 1..n {
            let f = a[row * n + col] / d;
            if f == 0.0 {
                continue;
            }
            for k in col..n {
                a[row * n + k] -= f * a[col * n + k];
            }
            b[row] -= f * b[col];
        }
    }
    let mut x = vec![0.0; n];
    for i in (0..n).rev() {
        let s: f64 = (i + 1..n).map(|k| a[i * n + k] * x[k]).sum();
        let d = a[i * n + i];
        x[i] = if d == 0.0 { 0.0 } else { (b[i] - s) / d };
    }
    x
}

/// SplitMix64: a small, fixed-seed generator, so that a report's intervals are the same
/// every time it is run on the same data.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn uniform(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// A Poisson(λ) draw: by multiplication of uniforms under 10, by Hörmann's
    /// transformed rejection (PTRS, 1993) from 10.
    fn poisson(&mut self, lam: f64) -> u64 {
        if lam <= 0.0 {
            return 0;
        }
        if lam < 10.0 {
            let limit = (-lam).exp();
            let mut k = 0;
            let mut prod = self.uniform();
            while prod > limit {
                k += 1;
                prod *= self.uniform();
            }
            return k;
        }
        let slam = lam.sqrt();
        let loglam = lam.ln();
        let b = 0.931 + 2.53 * slam;
        let a = -0.059 + 0.02483 * b;
        let inv_alpha = 1.1239 + 1.1328 / (b - 3.4);
        let vr = 0.9277 - 3.6224 / (b - 2.0);
        loop {
            let u = self.uniform() - 0.5;
            let v = self.uniform();
            let us = 0.5 - u.abs();
            let k = ((2.0 * a / us + b) * u + lam + 0.43).floor();
            if us >= 0.07 && v <= vr {
                return k as u64;
            }
            if k < 0.0 || (us < 0.013 && v > us) {
                continue;
            }
            if v.ln() + inv_alpha.ln() - (a / (us * us) + b).ln()
                <= -lam + k * loglam - ln_factorial(k)
            {
                return k as u64;
            }
        }
    }
}

/// ln(k!) for a whole k ≥ 0: exact products under 20, Stirling's series above (error
/// under 1e-12).
fn ln_factorial(k: f64) -> f64 {
    if k < 20.0 {
        return (2..=k as u64).map(|i| (i as f64).ln()).sum();
    }
    let x = k + 1.0;
    (x - 0.5) * x.ln() - x + 0.5 * (2.0 * std::f64::consts::PI).ln() + 1.0 / (12.0 * x)
        - 1.0 / (360.0 * x.powi(3))
        + 1.0 / (1260.0 * x.powi(5))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(t: &[&str], converted: u64, not: u64) -> Path {
        Path {
            touches: t.iter().map(|s| s.to_string()).collect(),
            converted,
            not,
            value: BTreeMap::new(),
        }
    }

    #[test]
    fn removal_effects_of_the_hand_worked_chain() {
        // A → B → conversion, A → null, B → conversion (one unit each):
        // start → A 2/3, start → B 1/3; A → B 1/2, A → null 1/2; B → conversion 1.
        // P = 2/3·1/2 + 1/3 = 2/3. Without A: 1/3, effect 1/2. Without B: 0, effect 1.
        // Shares: A 1/3, B 2/3.
        let m = attribute(
            vec![
                path(&["A", "B"], 1, 0),
                path(&["A"], 0, 1),
                path(&["B"], 1, 0),
            ],
            0,
            20,
        );
        assert!((m.probability - 2.0 / 3.0).abs() < 1e-12);
        let a = m.rows.iter().find(|r| r.touch == "A").unwrap();
        let b = m.rows.iter().find(|r| r.touch == "B").unwrap();
        assert!((a.markov.removal_effect - 0.5).abs() < 1e-12);
        assert!((b.markov.removal_effect - 1.0).abs() < 1e-12);
        assert!((a.markov.credit.share - 1.0 / 3.0).abs() < 1e-12);
        assert!((b.markov.credit.conversions - 4.0 / 3.0).abs() < 1e-12);
        // First touch: A 1, B 1; last touch: B 2; linear: A ½, B 1½.
        assert_eq!(a.first_touch.conversions, 1.0);
        assert_eq!(b.last_touch.conversions, 2.0);
        assert_eq!(a.linear.conversions, 0.5);
        assert_eq!(b.linear.conversions, 1.5);
        assert_eq!((a.paths, b.paths), (1, 2));
        assert_eq!(b.touch, "B", "{:?}", m.rows);
        assert_eq!(m.rows[0].touch, "B", "most converting paths first");
    }

    #[test]
    fn position_weights_add_up() {
        for n in 1..8 {
            let s: f64 = (0..n).map(|k| position_weight(k, n)).sum();
            assert!((s - 1.0).abs() < 1e-12, "{n}");
        }
        assert_eq!(position_weight(1, 4), 0.1);
    }

    #[test]
    fn poisson_draws_have_the_right_mean_and_variance() {
        let mut rng = SplitMix(7);
        for lam in [0.5, 3.0, 12.0, 250.0, 40_000.0] {
            let n = 20_000;
            let xs: Vec<f64> = (0..n).map(|_| rng.poisson(lam) as f64).collect();
            let mean = xs.iter().sum::<f64>() / n as f64;
            let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
            // Five standard errors of the mean; the variance within 8%.
            assert!(
                (mean - lam).abs() < 5.0 * (lam / n as f64).sqrt(),
                "λ {lam}: mean {mean}"
            );
            assert!((var / lam - 1.0).abs() < 0.08, "λ {lam}: variance {var}");
        }
    }

    #[test]
    fn ln_factorial_is_exact_enough() {
        let exact: f64 = (2..=30).map(|i| (i as f64).ln()).sum();
        assert!((ln_factorial(30.0) - exact).abs() < 1e-10);
        assert_eq!(ln_factorial(0.0), 0.0);
        assert_eq!(ln_factorial(1.0), 0.0);
    }

    #[test]
    fn bootstrap_intervals_hold_the_estimate_and_shrink_with_data() {
        let small = attribute(
            vec![
                path(&["A", "B"], 5, 5),
                path(&["A"], 2, 20),
                path(&["B"], 6, 10),
            ],
            300,
            20,
        );
        let big = attribute(
            vec![
                path(&["A", "B"], 500, 500),
                path(&["A"], 200, 2000),
                path(&["B"], 600, 1000),
            ],
            300,
            20,
        );
        for m in [&small, &big] {
            for r in &m.rows {
                let (lo, hi) = (r.markov.low.unwrap(), r.markov.high.unwrap());
                assert!(
                    lo <= r.markov.credit.share && r.markov.credit.share <= hi,
                    "{r:?}"
                );
            }
        }
        let width = |m: &Model| m.rows[0].markov.high.unwrap() - m.rows[0].markov.low.unwrap();
        assert!(width(&big) < width(&small) / 3.0);
        // The same data gives the same intervals.
        let again = attribute(
            vec![
                path(&["A", "B"], 5, 5),
                path(&["A"], 2, 20),
                path(&["B"], 6, 10),
            ],
            300,
            20,
        );
        assert_eq!(again.rows, small.rows);
    }

    #[test]
    fn touches_beyond_the_limit_are_summed_into_other() {
        let paths: Vec<Path> = (0..5)
            .map(|i| path(&[&format!("t{i}")], i + 1, 1))
            .collect();
        let m = attribute(paths, 0, 3);
        assert_eq!(m.rows.len(), 4);
        assert_eq!(m.rows[3].touch, "(other)");
        let sum: f64 = m.rows.iter().map(|r| r.linear.conversions).sum();
        assert!((sum - m.conversions as f64).abs() < 1e-9);
        let sum: f64 = m.rows.iter().map(|r| r.markov.credit.conversions).sum();
        assert!((sum - m.conversions as f64).abs() < 1e-9);
    }
}
