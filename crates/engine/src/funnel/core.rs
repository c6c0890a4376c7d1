//! The funnel level of one unit: its events' times and, per event, a bit mask of the
//! steps it matches. Exact for the rules of `docs/funnels.md`, including events that
//! share a timestamp (whatever their arrival order) and events matching several steps.
//!
//! Ordered and strict funnels are one pass over groups of equal timestamps. The state
//! per level is the set of chains reaching it, reduced to the pairs (start, last step
//! time) that no other chain beats on both: a later start leaves more of the window, a
//! later last step more of a per-step window. Without per-step windows only the latest
//! start matters, and the set has one element. Inside a group, a chain may advance by
//! several steps when distinct events of the group can fill them (a small bipartite
//! matching; a group of one event advances by at most one step). An ordered funnel
//! without per-step windows over events at distinct times (most units) keeps just the
//! latest start per level and takes an event at a time, each step advancing the chains
//! of the level below as they stood before it: the same answer, checked against the
//! search over sets on random units, with a fifth less of the funnel's CPU.

use cairn_model::query::FunnelMode;
use rustc_hash::FxHashSet;

/// The rules of one funnel, for the core.
#[derive(Debug, Clone)]
pub struct Core {
    /// Number of steps (≤ 64).
    pub n: usize,
    /// Window from step 1 (ms, inclusive).
    pub window: i64,
    /// Per step (0-based), the window from the previous step, if any.
    pub within: Vec<Option<i64>>,
    /// Step order rule.
    pub mode: FunnelMode,
}

/// A unit's outcome.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outcome {
    /// Steps reached (0: none).
    pub level: usize,
    /// Start of the latest-starting chain that reaches `level`.
    pub start: i64,
    /// For j < level: the earliest time at which a valid chain from `start` reached
    /// step j + 1 (so `times[0] == start`).
    pub times: Vec<i64>,
}

/// Per-thread working memory of [`Core::run`], so that a unit costs no allocation.
#[derive(Default)]
struct Scratch {
    sets: Vec<Vec<(i64, i64)>>,
    best: Vec<Option<i64>>,
    fresh: Vec<Option<i64>>,
}

thread_local! {
    static SCRATCH: std::cell::RefCell<Scratch> = std::cell::RefCell::new(Scratch::default());
}

/// Groups of equal timestamps: `[a, b)` ranges.
fn groups(ts: &[i64]) -> impl Iterator<Item = (usize, usize)> + '_ {
    let mut a = 0;
    std::iter::from_fn(move || {
        if a >= ts.len() {
            return None;
        }
        let mut b = a + 1;
        while b < ts.len() && ts[b] == ts[a] {
            b += 1;
        }
        let r = (a, b);
        a = b;
        Some(r)
    })
}

/// The largest m such that steps `from..from+m` can be filled by distinct events of the
/// group (masks), capped at `n - from`.
fn max_run(masks: &[u64], from: usize, n: usize) -> usize {
    if masks.len() == 1 {
        return usize::from(from < n && masks[0] >> from & 1 == 1);
    }
    // Kuhn's augmenting paths, adding one step at a time.
    let mut owner: Vec<Option<usize>> = vec![None; masks.len()];
    let mut m = 0;
    while from + m < n {
        let step = from + m;
        let mut seen = vec![false; masks.len()];
        if !augment(step, masks, &mut owner, &mut seen) {
            break;
        }
        m += 1;
    }
    m
}

fn augment(step: usize, masks: &[u64], owner: &mut [Option<usize>], seen: &mut [bool]) -> bool {
    for e in 0..masks.len() {
        if masks[e] >> step & 1 == 1 && !seen[e] {
            seen[e] = true;
            let free = match owner[e] {
                None => true,
                Some(s) => augment(s, masks, owner, seen),
            };
            if free {
                owner[e] = Some(step);
                return true;
            }
        }
    }
    false
}

/// Maximum matching between steps `0..n` and a set of events (masks).
pub(crate) fn matching(masks: &[u64], n: usize) -> usize {
    let mut owner: Vec<Option<usize>> = vec![None; masks.len()];
    let mut m = 0;
    for step in 0..n {
        let mut seen = vec![false; masks.len()];
        if augment(step, masks, &mut owner, &mut seen) {
            m += 1;
        }
    }
    m
}

fn push_pareto(set: &mut Vec<(i64, i64)>, s: i64, l: i64, single: bool) {
    if single {
        match set.first_mut() {
            Some(x) if x.0 >= s => {}
            Some(x) => *x = (s, l),
            None => set.push((s, l)),
        }
        return;
    }
    if set.iter().any(|&(a, b)| a >= s && b >= l) {
        return;
    }
    set.retain(|&(a, b)| !(s >= a && l >= b));
    set.push((s, l));
}

impl Core {
    /// The unit's level, latest start and step times.
    pub fn run(&self, ts: &[i64], masks: &[u64]) -> Outcome {
        debug_assert_eq!(ts.len(), masks.len());
        // Most units of most funnels never go past the first step (a pageview first step:
        // nearly every visitor). With no event of a later step, an ordered or strict
        // chain is the first step alone, and the latest start is the last first-step
        // event: what the chain search below gives, without it.
        if self.mode != FunnelMode::Unordered && masks.iter().all(|&m| m <= 1) {
            return match masks.iter().rposition(|&m| m == 1) {
                Some(e) => Outcome {
                    level: 1,
                    start: ts[e],
                    times: vec![ts[e]],
                },
                None => Outcome::default(),
            };
        }
        // Whether one latest start per level will do, found once for both passes.
        let one = self.one_chain(ts);
        let (level, start) = match self.mode {
            FunnelMode::Unordered => self.unordered_level(ts, masks),
            _ if one => self.ordered_level_distinct(ts, masks),
            _ => self.ordered_level_chains(ts, masks),
        };
        if level == 0 {
            return Outcome::default();
        }
        let times = match self.mode {
            FunnelMode::Unordered => self.unordered_times(ts, masks, start, level),
            _ if level == 1 => vec![start],
            _ if one => self.ordered_from_distinct(ts, masks, start).1,
            _ => self.ordered_from_chains(ts, masks, start).1,
        };
        Outcome {
            level,
            start,
            times,
        }
    }

    /// Whether an ordered funnel's state is one latest start per level, advanced one
    /// event at a time: no per-step windows, and no two events at the same time (every
    /// group of equal times is one event, which advances a chain by one step at most).
    fn one_chain(&self, ts: &[i64]) -> bool {
        self.mode == FunnelMode::Ordered
            && self.n <= 64
            && self.within.iter().all(Option::is_none)
            && ts.windows(2).all(|w| w[0] != w[1])
    }

    /// The steps of a mask a funnel of `n` steps reads.
    fn steps(&self, m: u64) -> u64 {
        m & u64::MAX.checked_shr(64 - self.n as u32).unwrap_or(0)
    }

    /// [`Core::ordered_level_chains`] where [`Core::one_chain`] holds: per level, the
    /// latest start of a chain reaching it so far.
    fn ordered_level_distinct(&self, ts: &[i64], masks: &[u64]) -> (usize, i64) {
        const NONE: i64 = i64::MIN;
        let mut latest = [NONE; 64];
        let latest = &mut latest[..self.n];
        for (&t, &m) in ts.iter().zip(masks) {
            let m = self.steps(m);
            // Later steps first: each extends the chains as they stood before this event.
            let mut later = m & !1;
            while later != 0 {
                let j = 63 - later.leading_zeros() as usize;
                later &= !(1 << j);
                let s = latest[j - 1];
                if s != NONE && t - s <= self.window && s > latest[j] {
                    latest[j] = s;
                }
            }
            if m & 1 == 1 {
                // Times ascend: the latest start yet.
                latest[0] = t;
            }
        }
        match latest.iter().rposition(|&s| s != NONE) {
            Some(k) => (k + 1, latest[k]),
            None => (0, 0),
        }
    }

    /// The level and latest start of an ordered or strict funnel, by the sets of chains.
    fn ordered_level_chains(&self, ts: &[i64], masks: &[u64]) -> (usize, i64) {
        let n = self.n;
        let single = self.within.iter().all(Option::is_none);
        let strict = self.mode == FunnelMode::Strict;
        SCRATCH.with_borrow_mut(|sc| {
            sc.sets.iter_mut().for_each(Vec::clear);
            sc.sets.resize_with(n, Vec::new);
            sc.best.clear();
            sc.best.resize(n, None);
            sc.fresh.clear();
            sc.fresh.resize(n, None);
            self.ordered_level_with(ts, masks, single, strict, sc)
        })
    }

    fn ordered_level_with(
        &self,
        ts: &[i64],
        masks: &[u64],
        single: bool,
        strict: bool,
        sc: &mut Scratch,
    ) -> (usize, i64) {
        let n = self.n;
        let Scratch { sets, best, fresh } = sc;
        for (a, b) in groups(ts) {
            let t = ts[a];
            let g = &masks[a..b];
            let any = g.iter().fold(0u64, |x, &m| x | m);
            if any == 0 && !strict {
                continue;
            }
            fresh.iter_mut().for_each(|x| *x = None);
            if any & 1 == 1 {
                let k = max_run(g, 0, n);
                for x in fresh.iter_mut().take(k) {
                    *x = Some(t);
                }
            }
            for j in 1..n {
                if sets[j - 1].is_empty() || any >> j & 1 == 0 {
                    continue;
                }
                let s = sets[j - 1]
                    .iter()
                    .filter(|&&(s, l)| {
                        t - s <= self.window && self.within[j].is_none_or(|w| t - l <= w)
                    })
                    .map(|&(s, _)| s)
                    .max();
                let Some(s) = s else { continue };
                let k = max_run(g, j, n);
                for x in fresh.iter_mut().skip(j).take(k) {
                    *x = Some(x.map_or(s, |y| y.max(s)));
                }
            }
            if strict {
                for (j, set) in sets.iter_mut().enumerate() {
                    if g.iter().any(|&m| m >> j & 1 == 0) {
                        set.clear();
                    }
                }
            }
            for (k, f) in fresh.iter().enumerate() {
                if let Some(s) = *f {
                    push_pareto(&mut sets[k], s, t, single);
                    best[k] = Some(best[k].map_or(s, |y: i64| y.max(s)));
                }
            }
        }
        match best.iter().rposition(Option::is_some) {
            Some(k) => (k + 1, best[k].unwrap_or_default()),
            None => (0, 0),
        }
    }

    /// Chains that start at `start` only: the level they reach and, per level, the
    /// earliest time it is reached. Per level the state is the latest last-step time.
    pub(crate) fn ordered_from(&self, ts: &[i64], masks: &[u64], start: i64) -> (usize, Vec<i64>) {
        if self.one_chain(ts) {
            self.ordered_from_distinct(ts, masks, start)
        } else {
            self.ordered_from_chains(ts, masks, start)
        }
    }

    /// [`Core::ordered_from_chains`] where [`Core::one_chain`] holds: the levels reached
    /// so far, one bit each.
    fn ordered_from_distinct(&self, ts: &[i64], masks: &[u64], start: i64) -> (usize, Vec<i64>) {
        let mut first: Vec<i64> = Vec::new();
        let mut reached = 0u64;
        let lo = ts.partition_point(|&t| t < start);
        for (&t, &m) in ts[lo..].iter().zip(&masks[lo..]) {
            if t - start > self.window {
                break;
            }
            let m = self.steps(m);
            // Step j + 1 from a chain at level j as it stood before this event.
            let mut fresh = m & reached << 1;
            if t == start {
                fresh |= m & 1;
            }
            reached |= fresh;
            while fresh != 0 {
                let k = fresh.trailing_zeros() as usize;
                fresh &= fresh - 1;
                if first.len() == k {
                    first.push(t);
                }
            }
            if first.len() == self.n {
                break;
            }
        }
        (first.len(), first)
    }

    /// [`Core::ordered_from`] by the state of every level.
    fn ordered_from_chains(&self, ts: &[i64], masks: &[u64], start: i64) -> (usize, Vec<i64>) {
        let n = self.n;
        let strict = self.mode == FunnelMode::Strict;
        let mut last: Vec<Option<i64>> = vec![None; n];
        let mut first: Vec<i64> = Vec::new();
        let mut fresh: Vec<bool> = vec![false; n];
        let lo = ts.partition_point(|&t| t < start);
        for (a, b) in groups(&ts[lo..]) {
            let (a, b) = (a + lo, b + lo);
            let t = ts[a];
            if t - start > self.window {
                break;
            }
            let g = &masks[a..b];
            let any = g.iter().fold(0u64, |x, &m| x | m);
            fresh.iter_mut().for_each(|x| *x = false);
            if t == start && any & 1 == 1 {
                let k = max_run(g, 0, n);
                fresh.iter_mut().take(k).for_each(|x| *x = true);
            }
            for j in 1..n {
                let Some(l) = last[j - 1] else { continue };
                if any >> j & 1 == 0 || self.within[j].is_some_and(|w| t - l > w) {
                    continue;
                }
                let k = max_run(g, j, n);
                fresh.iter_mut().skip(j).take(k).for_each(|x| *x = true);
            }
            if strict {
                for (j, l) in last.iter_mut().enumerate() {
                    if g.iter().any(|&m| m >> j & 1 == 0) {
                        *l = None;
                    }
                }
            }
            for k in 0..n {
                if fresh[k] {
                    last[k] = Some(t);
                    if first.len() == k {
                        first.push(t);
                    }
                }
            }
            if first.len() == n {
                break;
            }
        }
        (first.len(), first)
    }

    fn unordered_level(&self, ts: &[i64], masks: &[u64]) -> (usize, i64) {
        let n = self.n;
        let simple = masks.iter().all(|m| m.count_ones() <= 1);
        let mut best = (0usize, 0i64);
        let mut counts = vec![0u32; n];
        let mut distinct = 0usize;
        let (mut lo, mut hi) = (0usize, 0usize);
        for (a, _) in groups(ts) {
            let t = ts[a];
            // Window [t, t + W]: drop events before t, add events up to t + W.
            while lo < a {
                if simple && masks[lo] != 0 {
                    let s = masks[lo].trailing_zeros() as usize;
                    counts[s] -= 1;
                    if counts[s] == 0 {
                        distinct -= 1;
                    }
                }
                lo += 1;
            }
            while hi < ts.len() && ts[hi] - t <= self.window {
                if simple && masks[hi] != 0 {
                    let s = masks[hi].trailing_zeros() as usize;
                    if counts[s] == 0 {
                        distinct += 1;
                    }
                    counts[s] += 1;
                }
                hi += 1;
            }
            if masks[a..hi].iter().all(|&m| m == 0) {
                continue;
            }
            let level = if simple {
                distinct
            } else {
                let set: Vec<u64> = masks[a..hi].iter().copied().filter(|&m| m != 0).collect();
                matching(&set, n)
            };
            if level >= best.0 && level > 0 {
                best = (level, t);
            }
        }
        best
    }

    fn unordered_times(&self, ts: &[i64], masks: &[u64], start: i64, level: usize) -> Vec<i64> {
        let lo = ts.partition_point(|&t| t < start);
        let mut out = Vec::with_capacity(level);
        let mut set: Vec<u64> = Vec::new();
        let mut i = lo;
        while i < ts.len() && ts[i] - start <= self.window && out.len() < level {
            let t = ts[i];
            while i < ts.len() && ts[i] == t {
                if masks[i] != 0 {
                    set.push(masks[i]);
                }
                i += 1;
            }
            let m = matching(&set, self.n);
            while out.len() < m.min(level) {
                out.push(t);
            }
        }
        out
    }
}

/// An exclusion for the core: 0-based steps `i < j` and the sorted times of the
/// unit's events that match it.
#[derive(Debug, Clone)]
pub struct CoreExclusion {
    /// Step after which the event must not happen.
    pub i: usize,
    /// Step before which it must not happen.
    pub j: usize,
    /// Times of the unit's matching events, ascending.
    pub times: Vec<i64>,
}

/// A dead end of the exclusion search: depth, last event, open exclusions' start times,
/// chain events tied with the last one.
type DeadEnd = (usize, usize, Vec<i64>, Vec<usize>);

fn any_in(times: &[i64], lo_excl: i64, hi: i64, hi_inclusive: bool) -> bool {
    let k = times.partition_point(|&x| x <= lo_excl);
    times
        .get(k)
        .is_some_and(|&x| if hi_inclusive { x <= hi } else { x < hi })
}

impl Core {
    /// The latest start of a chain reaching `level` that no exclusion excludes (only
    /// starts equal to `only`, when given). Ordered and strict funnels; a depth-first
    /// search, used only for units that have excluded events.
    pub fn clean_start(
        &self,
        ts: &[i64],
        masks: &[u64],
        level: usize,
        excl: &[CoreExclusion],
        only: Option<i64>,
    ) -> Option<i64> {
        let mut starts: Vec<usize> = (0..ts.len())
            .filter(|&e| masks[e] & 1 == 1 && only.is_none_or(|s| ts[e] == s))
            .collect();
        starts.sort_by_key(|&e| std::cmp::Reverse(ts[e]));
        let mut chain = Vec::with_capacity(level);
        let mut failed = FxHashSet::default();
        for e in starts {
            chain.clear();
            chain.push(e);
            failed.clear();
            if self.dfs(ts, masks, level, excl, &mut chain, &mut failed) {
                return Some(ts[e]);
            }
        }
        None
    }

    /// Whether `chain` extends to `level` steps without exclusion. Dead ends are
    /// remembered by what decides the rest of the search: the depth, the last event, the
    /// times of the open exclusions' start steps, and the chain's events that share the
    /// last event's time (the only ones a later step could otherwise reuse).
    fn dfs(
        &self,
        ts: &[i64],
        masks: &[u64],
        level: usize,
        excl: &[CoreExclusion],
        chain: &mut Vec<usize>,
        failed: &mut FxHashSet<DeadEnd>,
    ) -> bool {
        let m = chain.len();
        let last = *chain.last().unwrap_or(&0);
        let key = (
            m,
            last,
            excl.iter()
                .filter(|x| x.i < m && x.j >= m)
                .map(|x| ts[chain[x.i]])
                .collect::<Vec<_>>(),
            {
                let mut tied: Vec<usize> = chain
                    .iter()
                    .copied()
                    .filter(|&c| ts[c] == ts[last])
                    .collect();
                tied.sort_unstable();
                tied
            },
        );
        if failed.contains(&key) {
            return false;
        }
        let ok = self.dfs_step(ts, masks, level, excl, chain, failed);
        if !ok {
            failed.insert(key);
        }
        ok
    }

    fn dfs_step(
        &self,
        ts: &[i64],
        masks: &[u64],
        level: usize,
        excl: &[CoreExclusion],
        chain: &mut Vec<usize>,
        failed: &mut FxHashSet<DeadEnd>,
    ) -> bool {
        let m = chain.len();
        let s = ts[chain[0]];
        if m == level {
            // Exclusions whose end step was not reached: nothing within the window after
            // their start step.
            return excl
                .iter()
                .filter(|x| x.i < level && x.j >= level)
                .all(|x| {
                    !any_in(
                        &x.times,
                        ts[chain[x.i]],
                        s.saturating_add(self.window),
                        true,
                    )
                });
        }
        let last = *chain.last().unwrap_or(&0);
        let lt = ts[last];
        for c in 0..ts.len() {
            let t = ts[c];
            if t < lt || masks[c] >> m & 1 == 0 || chain.contains(&c) {
                continue;
            }
            if t - s > self.window || self.within[m].is_some_and(|w| t - lt > w) {
                continue;
            }
            if self.mode == FunnelMode::Strict
                && (0..ts.len()).any(|k| ts[k] > lt && ts[k] < t && masks[k] >> (m - 1) & 1 == 0)
            {
                continue;
            }
            if excl
                .iter()
                .any(|x| x.j == m && any_in(&x.times, ts[chain[x.i]], t, false))
            {
                continue;
            }
            chain.push(c);
            if self.dfs(ts, masks, level, excl, chain, failed) {
                return true;
            }
            chain.pop();
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pseudo-random numbers below the bound asked for (xorshift from `seed`).
    fn below(mut seed: u64) -> impl FnMut(u64) -> u64 {
        move |m| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % m
        }
    }

    /// The first-step shortcut of [`Core::run`] gives what the chain search gives, on
    /// units whose events are first-step events or none, with ties, in both modes it
    /// takes.
    #[test]
    fn first_step_shortcut_is_the_chain_search() {
        let mut next = below(0x9e37_79b9_7f4a_7c15);
        for case in 0..2000 {
            let core = Core {
                n: 1 + next(4) as usize,
                window: 1 + next(50) as i64,
                within: vec![None; 5],
                mode: if case % 2 == 0 {
                    FunnelMode::Ordered
                } else {
                    FunnelMode::Strict
                },
            };
            let len = next(12) as usize;
            let mut t = 0;
            let ts: Vec<i64> = (0..len)
                .map(|_| {
                    t += next(3) as i64;
                    t
                })
                .collect();
            let masks: Vec<u64> = (0..len).map(|_| next(2)).collect();
            let (level, start) = core.ordered_level_chains(&ts, &masks);
            let want = if level == 0 {
                Outcome::default()
            } else {
                Outcome {
                    level,
                    start,
                    times: vec![start],
                }
            };
            assert_eq!(core.run(&ts, &masks), want, "{ts:?} {masks:?} {core:?}");
        }
    }

    /// An ordered funnel without per-step windows over events at distinct times (one
    /// latest start per level) gives what the search over sets of chains gives: level,
    /// start and step times, with events matching several steps, other bits set, and
    /// starts in and out of the window.
    #[test]
    fn one_chain_per_level_is_the_chain_search() {
        let mut next = below(0x2545_f491_4f6c_dd1d);
        let mut advanced = 0;
        for _ in 0..20_000 {
            let n = 1 + next(5) as usize;
            let core = Core {
                n,
                window: 1 + next(40) as i64,
                within: vec![None; n],
                mode: FunnelMode::Ordered,
            };
            let len = next(16) as usize;
            let mut t = 0;
            let ts: Vec<i64> = (0..len)
                .map(|_| {
                    t += 1 + next(6) as i64;
                    t
                })
                .collect();
            // Mostly one step an event, some several, some none; bits past the last step.
            let masks: Vec<u64> = (0..len)
                .map(|_| match next(10) {
                    0 => next(1 << 7),
                    1 => 0,
                    _ => 1 << next(n as u64 + 1),
                })
                .collect();
            assert!(core.one_chain(&ts));
            let level = core.ordered_level_distinct(&ts, &masks);
            assert_eq!(
                level,
                core.ordered_level_chains(&ts, &masks),
                "{ts:?} {masks:?} {core:?}"
            );
            advanced += usize::from(level.0 > 1);
            for start in ts.iter().copied().chain([0, t + 1]) {
                assert_eq!(
                    core.ordered_from_distinct(&ts, &masks, start),
                    core.ordered_from_chains(&ts, &masks, start),
                    "from {start}: {ts:?} {masks:?} {core:?}"
                );
            }
        }
        assert!(advanced > 2_000, "{advanced} units past step 1");
        // Ties, per-step windows and strict funnels take the search over sets.
        let core = |mode, within| Core {
            n: 2,
            window: 10,
            within: vec![None, within],
            mode,
        };
        assert!(!core(FunnelMode::Ordered, None).one_chain(&[1, 2, 2]));
        assert!(!core(FunnelMode::Ordered, Some(5)).one_chain(&[1, 2]));
        assert!(!core(FunnelMode::Strict, None).one_chain(&[1, 2]));
        assert!(core(FunnelMode::Ordered, None).one_chain(&[1, 2]));
    }
}
