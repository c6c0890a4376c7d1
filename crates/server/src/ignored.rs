//! Events answered but not stored, per site and reason, over the last hour: the setup
//! page shows them ("17 events from bots ignored in the last hour") so that a site owner
//! testing the tracker with a headless browser sees why nothing arrives. Kept in memory
//! (a restart forgets them), per minute, for registered sites only. The events themselves,
//! with the user agent taken for a bot, are in the live view ([`crate::live`]).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Mutex;

/// Minutes kept.
pub(crate) const WINDOW_MINUTES: i64 = 60;

/// Why an event was answered but not stored.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Reason {
    /// A crawler or headless browser, by its user agent.
    Bot,
    /// A Segment `screen`, `group` or `alias` message.
    Unsupported,
}

impl Reason {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Reason::Bot => "bot",
            Reason::Unsupported => "unsupported",
        }
    }
}

/// (minute, events) of one site and reason, oldest first.
type Minutes = VecDeque<(i64, u64)>;

/// Counts per (site, reason), per minute.
#[derive(Default)]
pub(crate) struct Ignored(Mutex<HashMap<(String, Reason), Minutes>>);

impl Ignored {
    /// Counts `n` ignored events of `site` at `now_ms`.
    pub(crate) fn add(&self, site: &str, reason: Reason, n: u64, now_ms: i64) {
        if n == 0 {
            return;
        }
        let minute = now_ms.div_euclid(60_000);
        let mut t = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let q = t.entry((site.to_string(), reason)).or_default();
        match q.back_mut() {
            Some((m, c)) if *m == minute => *c += n,
            _ => q.push_back((minute, n)),
        }
        while q
            .front()
            .is_some_and(|(m, _)| *m <= minute - WINDOW_MINUTES)
        {
            q.pop_front();
        }
    }

    /// Ignored events of `site` per reason over the last hour (reasons with none left out).
    pub(crate) fn last_hour(&self, site: &str, now_ms: i64) -> BTreeMap<&'static str, u64> {
        let since = now_ms.div_euclid(60_000) - WINDOW_MINUTES;
        let t = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let mut out = BTreeMap::new();
        for ((s, r), q) in t.iter() {
            if s != site {
                continue;
            }
            let n: u64 = q.iter().filter(|(m, _)| *m > since).map(|(_, c)| c).sum();
            if n > 0 {
                out.insert(r.as_str(), n);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_fall_out_of_the_hour() {
        let i = Ignored::default();
        let t0 = 1_800_000_000_000;
        i.add("a.example", Reason::Bot, 3, t0);
        i.add("a.example", Reason::Bot, 2, t0 + 1_000);
        i.add("a.example", Reason::Unsupported, 1, t0 + 30 * 60_000);
        i.add("b.example", Reason::Bot, 9, t0);
        let h = i.last_hour("a.example", t0 + 31 * 60_000);
        assert_eq!(h.get("bot"), Some(&5));
        assert_eq!(h.get("unsupported"), Some(&1));
        let later = i.last_hour("a.example", t0 + 61 * 60_000);
        assert_eq!(later.get("bot"), None);
        assert_eq!(later.get("unsupported"), Some(&1));
    }
}
