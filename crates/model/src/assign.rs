//! Experiment assignment: a unit's variant from its id and the experiment's key, the same
//! on the server (`POST /api/v1/assign`) and in the tracker (`cairn('experiment', …)`
//! with a persistent id), on every visit.

/// FNV-1a (32 bits) over the UTF-16 code units of `s`, as the tracker's `hash`.
pub fn fnv1a_utf16(s: &str) -> u32 {
    s.encode_utf16().fold(0x811c_9dc5u32, |h, u| {
        (h ^ u32::from(u)).wrapping_mul(0x0100_0193)
    })
}

/// The index of the variant of unit `id` in experiment `key` among `variants` (at least
/// one): `fnv1a(id + key) % variants`.
pub fn assign(id: &str, key: &str, variants: usize) -> usize {
    let mut s = String::with_capacity(id.len() + key.len());
    s.push_str(id);
    s.push_str(key);
    fnv1a_utf16(&s) as usize % variants.max(1)
}

/// The index of the variant of unit `id` in experiment `key`, split by `weights` (one
/// per variant, positive). Equal weights give [`assign`]'s answer, so the tracker (which
/// splits evenly) and the server agree; otherwise the hash, as a fraction of 2³², falls
/// into the variants' cumulative shares.
pub fn assign_weighted(id: &str, key: &str, weights: &[f64]) -> usize {
    let n = weights.len().max(1);
    if weights.windows(2).all(|w| w[0] == w[1]) {
        return assign(id, key, n);
    }
    let mut s = String::with_capacity(id.len() + key.len());
    s.push_str(id);
    s.push_str(key);
    let u = f64::from(fnv1a_utf16(&s)) / 4_294_967_296.0;
    let total: f64 = weights.iter().sum();
    let mut acc = 0.0;
    for (i, w) in weights.iter().enumerate() {
        acc += w / total;
        if u < acc {
            return i;
        }
    }
    n - 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a_matches_its_published_vectors() {
        // The FNV reference test vectors (Fowler, Noll, Vo): 32-bit FNV-1a of "", "a",
        // "foobar"; ASCII text is one UTF-16 unit per byte.
        assert_eq!(fnv1a_utf16(""), 0x811c_9dc5);
        assert_eq!(fnv1a_utf16("a"), 0xe40c_292c);
        assert_eq!(fnv1a_utf16("foobar"), 0xbf9c_f968);
    }

    #[test]
    fn assignment_is_uniform_and_stable() {
        // 100,000 ids over 3 variants: Pearson's χ² with 2 degrees of freedom stays
        // under 13.8 (p = 0.001).
        let mut counts = [0u64; 3];
        for i in 0..100_000 {
            let id = format!("{:016x}", (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15));
            counts[assign(&id, "cta_text", 3)] += 1;
        }
        let e = 100_000.0 / 3.0;
        let chi: f64 = counts.iter().map(|&c| (c as f64 - e).powi(2) / e).sum();
        assert!(chi < 13.8, "{counts:?}: χ² {chi}");
        assert_eq!(assign("v-1", "cta_text", 3), assign("v-1", "cta_text", 3));
        assert_eq!(assign("anything", "k", 1), 0);
    }

    #[test]
    fn weighted_assignment_follows_the_weights_and_equal_weights_agree_with_the_tracker() {
        // 90/10 over 100,000 ids: Pearson's χ² with 1 degree of freedom under 10.83
        // (p = 0.001).
        let mut counts = [0u64; 2];
        for i in 0..100_000 {
            let id = format!("{:016x}", (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15));
            counts[assign_weighted(&id, "cta_text", &[9.0, 1.0])] += 1;
        }
        let chi = (counts[0] as f64 - 90_000.0).powi(2) / 90_000.0
            + (counts[1] as f64 - 10_000.0).powi(2) / 10_000.0;
        assert!(chi < 10.83, "{counts:?}: χ² {chi}");
        for i in 0..1000 {
            let id = format!("v{i}");
            assert_eq!(
                assign_weighted(&id, "k", &[2.0, 2.0, 2.0]),
                assign(&id, "k", 3)
            );
            assert_eq!(
                assign_weighted(&id, "k", &[1.0, 3.0]),
                assign_weighted(&id, "k", &[1.0, 3.0])
            );
        }
    }
}
