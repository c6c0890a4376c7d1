//! Time buckets (hour, day, week, month) in a time zone, computed once per query as a
//! sorted list of bucket starts so that each event's bucket is a binary search.

use cairn_model::query::{Interval, local_midnight};
use chrono::{Datelike, Duration, NaiveDate, TimeZone, Timelike};
use chrono_tz::Tz;

/// The buckets covering `[from, to]`.
#[derive(Debug, Clone)]
pub struct Buckets {
    starts: Vec<i64>,
    labels: Vec<String>,
}

impl Buckets {
    /// Buckets of `interval` in `tz` covering `[from, to]`; the first starts at or
    /// before `from`.
    pub fn new(from: i64, to: i64, interval: Interval, tz: Tz) -> Buckets {
        let mut starts = Vec::new();
        let mut labels = Vec::new();
        let local = tz
            .timestamp_millis_opt(from)
            .single()
            .map(|d| d.naive_local());
        let Some(local) = local else {
            return Buckets { starts, labels };
        };
        match interval {
            Interval::Hour => {
                // Hours are absolute: each bucket is 3600 s from a local hour boundary.
                let first = from
                    - (local.minute() as i64 * 60_000
                        + local.second() as i64 * 1000
                        + (from.rem_euclid(1000)));
                let mut t = first;
                while t <= to {
                    starts.push(t);
                    let l = tz
                        .timestamp_millis_opt(t)
                        .single()
                        .map(|d| d.format("%Y-%m-%d %H:00").to_string());
                    labels.push(l.unwrap_or_default());
                    t += 3_600_000;
                }
            }
            Interval::Day | Interval::Week | Interval::Month => {
                let mut d: NaiveDate = local.date();
                d = match interval {
                    Interval::Week => d - Duration::days(d.weekday().num_days_from_monday() as i64),
                    Interval::Month => d.with_day(1).unwrap_or(d),
                    _ => d,
                };
                while let Some(t) = local_midnight(tz, d) {
                    if t > to {
                        break;
                    }
                    starts.push(t);
                    labels.push(match interval {
                        Interval::Month => d.format("%Y-%m").to_string(),
                        _ => d.format("%Y-%m-%d").to_string(),
                    });
                    let next = match interval {
                        Interval::Day => d.succ_opt(),
                        Interval::Week => d.checked_add_signed(Duration::days(7)),
                        _ => {
                            let (y, m) = if d.month() == 12 {
                                (d.year() + 1, 1)
                            } else {
                                (d.year(), d.month() + 1)
                            };
                            NaiveDate::from_ymd_opt(y, m, 1)
                        }
                    };
                    match next {
                        Some(n) => d = n,
                        None => break,
                    }
                }
            }
        }
        Buckets { starts, labels }
    }

    /// Number of buckets.
    pub fn len(&self) -> usize {
        self.starts.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.starts.is_empty()
    }

    /// The bucket of a time inside the range.
    pub fn index(&self, ts: i64) -> usize {
        self.starts.partition_point(|&s| s <= ts).saturating_sub(1)
    }

    /// Appends the bucket of each time, leaving out one equal to the bucket appended
    /// just before it: for times in ascending order, each bucket they fall in, once.
    /// The search runs only when a time leaves the bounds of the bucket before it (a
    /// visitor's events mostly share a day), not per event.
    pub fn distinct_into(&self, ts: impl IntoIterator<Item = i64>, out: &mut Vec<u32>) {
        let mut last: Option<u32> = None;
        // The last bucket's bounds, [lo, hi); empty at first.
        let (mut lo, mut hi) = (i64::MAX, i64::MIN);
        for t in ts {
            if lo <= t && t < hi {
                continue;
            }
            let i = self.index(t);
            lo = if i == 0 { i64::MIN } else { self.starts[i] };
            hi = self.starts.get(i + 1).copied().unwrap_or(i64::MAX);
            if last != Some(i as u32) {
                out.push(i as u32);
                last = Some(i as u32);
            }
        }
    }

    /// Start of bucket `i` (ms).
    pub fn start(&self, i: usize) -> i64 {
        self.starts[i]
    }

    /// Label of bucket `i` in the time zone.
    pub fn label(&self, i: usize) -> &str {
        &self.labels[i]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_model::parse_timestamp;

    fn ms(s: &str) -> i64 {
        parse_timestamp(s).unwrap()
    }

    #[test]
    fn days_follow_the_time_zone_across_dst() {
        let tz: Tz = "Europe/Berlin".parse().unwrap();
        // 2026-03-29: clocks go forward at 02:00, the day has 23 hours.
        let b = Buckets::new(
            ms("2026-03-27T23:00:00Z"),
            ms("2026-03-30T21:59:59Z"),
            Interval::Day,
            tz,
        );
        assert_eq!(b.len(), 3);
        assert_eq!(b.label(0), "2026-03-28");
        assert_eq!(b.start(1), ms("2026-03-28T23:00:00Z"));
        assert_eq!(b.start(2), ms("2026-03-29T22:00:00Z"));
        assert_eq!(b.index(ms("2026-03-29T21:59:59Z")), 1);
        assert_eq!(b.index(ms("2026-03-29T22:00:00Z")), 2);
    }

    #[test]
    fn weeks_start_on_monday_and_months_on_the_first() {
        let tz: Tz = "UTC".parse().unwrap();
        let b = Buckets::new(
            ms("2026-03-04T10:00:00Z"),
            ms("2026-03-20T00:00:00Z"),
            Interval::Week,
            tz,
        );
        assert_eq!(b.label(0), "2026-03-02");
        assert_eq!(b.len(), 3);
        let b = Buckets::new(
            ms("2026-01-15T00:00:00Z"),
            ms("2026-03-01T00:00:00Z"),
            Interval::Month,
            tz,
        );
        assert_eq!((b.len(), b.label(0), b.label(2)), (3, "2026-01", "2026-03"));
        let b = Buckets::new(
            ms("2026-01-15T10:30:00Z"),
            ms("2026-01-15T11:59:59Z"),
            Interval::Hour,
            tz,
        );
        assert_eq!((b.len(), b.label(0)), (2, "2026-01-15 10:00"));
        assert_eq!(b.index(ms("2026-01-15T11:59:59Z")), 1);
    }

    /// `distinct_into` against its definition: every time's bucket, adjacent repeats
    /// dropped; on ascending times and on any order, inside and outside the range.
    #[test]
    fn distinct_buckets_are_the_deduplicated_map() {
        let tz: Tz = "Europe/Berlin".parse().unwrap();
        let (from, to) = (ms("2026-03-20T00:00:00Z"), ms("2026-04-05T00:00:00Z"));
        let b = Buckets::new(from, to, Interval::Day, tz);
        let mut rng = crate::random(1);
        let mut next = move |m: i64| (rng() % m as u64) as i64;
        for case in 0..2000 {
            let n = next(40);
            let spread = [3_600_000i64, 86_400_000, 20 * 86_400_000][case % 3];
            let mut ts: Vec<i64> = (0..n).map(|_| from - 86_400_000 + next(spread)).collect();
            if case % 2 == 0 {
                ts.sort_unstable();
            }
            let mut want: Vec<u32> = ts.iter().map(|&t| b.index(t) as u32).collect();
            want.dedup();
            let mut got = vec![99];
            b.distinct_into(ts.iter().copied(), &mut got);
            assert_eq!(got[1..], want[..], "{ts:?}");
        }
    }
}
