//! Argument values: counts with suffixes (`10M`) and times (RFC 3339 or a date).

use std::str::FromStr;

use chrono::NaiveDate;

pub const DAY_MS: i64 = 86_400_000;

/// A count such as `1000`, `100k`, `10M`, `1.5M`, `2G` or `10_000`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Count(pub u64);

impl FromStr for Count {
    type Err = String;

    fn from_str(s: &str) -> Result<Count, String> {
        let bad = || format!("`{s}` is not a count: write e.g. 5000, 100k, 10M or 1.5G");
        let t: String = s.trim().chars().filter(|&c| c != '_').collect();
        let (num, mult): (&str, u128) = match t.chars().last() {
            Some('k' | 'K') => (&t[..t.len() - 1], 1_000),
            Some('m' | 'M') => (&t[..t.len() - 1], 1_000_000),
            Some('g' | 'G' | 'b' | 'B') => (&t[..t.len() - 1], 1_000_000_000),
            _ => (&t[..], 1),
        };
        let (int, frac) = num.split_once('.').unwrap_or((num, ""));
        let digits = |x: &str| x.bytes().all(|b| b.is_ascii_digit());
        if int.is_empty() || !digits(int) || !digits(frac) || frac.len() > 9 {
            return Err(bad());
        }
        let int: u128 = int.parse().map_err(|_| bad())?;
        let scale = 10u128.pow(frac.len() as u32);
        let frac_v: u128 = if frac.is_empty() {
            0
        } else {
            frac.parse().map_err(|_| bad())?
        };
        let total = int
            .checked_mul(mult)
            .and_then(|v| v.checked_add(frac_v * mult / scale))
            .ok_or_else(bad)?;
        if !(frac_v * mult).is_multiple_of(scale) {
            return Err(format!("`{s}` is not a whole number of events"));
        }
        u64::try_from(total).map(Count).map_err(|_| bad())
    }
}

/// A point in time: an RFC 3339 time, integer milliseconds since the epoch, or a UTC
/// date (`2026-09-01`, midnight).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeArg {
    /// Milliseconds since the epoch.
    pub ms: i64,
    /// Whether it was written as a bare date.
    pub is_date: bool,
}

impl TimeArg {
    /// As an exclusive upper bound: a date includes its whole day.
    pub fn end_exclusive(self) -> i64 {
        if self.is_date {
            self.ms + DAY_MS
        } else {
            self.ms
        }
    }
}

impl FromStr for TimeArg {
    type Err = String;

    fn from_str(s: &str) -> Result<TimeArg, String> {
        let s = s.trim();
        if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
            let ms = d
                .and_hms_opt(0, 0, 0)
                .map(|t| t.and_utc().timestamp_millis())
                .ok_or_else(|| format!("`{s}` is out of range"))?;
            return Ok(TimeArg { ms, is_date: true });
        }
        if let Some(ms) = cairn_model::parse_timestamp(s) {
            return Ok(TimeArg { ms, is_date: false });
        }
        if let Ok(ms) = s.parse::<i64>() {
            return Ok(TimeArg { ms, is_date: false });
        }
        Err(format!(
            "`{s}` is not a time: write a UTC date (2026-09-01), an RFC 3339 time (2026-09-01T12:00:00Z) or milliseconds since the epoch"
        ))
    }
}

/// Milliseconds since the epoch, now.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts() {
        let c = |s: &str| s.parse::<Count>().map(|c| c.0);
        assert_eq!(c("1000"), Ok(1000));
        assert_eq!(c("100k"), Ok(100_000));
        assert_eq!(c("10M"), Ok(10_000_000));
        assert_eq!(c("1.5M"), Ok(1_500_000));
        assert_eq!(c("2G"), Ok(2_000_000_000));
        assert_eq!(c("10_000"), Ok(10_000));
        assert_eq!(c("0"), Ok(0));
        assert!(c("").is_err());
        assert!(c("M").is_err());
        assert!(c("1.5").is_err());
        assert!(c("-3").is_err());
        assert!(c("1e6").is_err());
        assert!(c("99999999999999999999G").is_err());
    }

    #[test]
    fn times() {
        let t: TimeArg = "2026-09-01".parse().unwrap();
        assert_eq!(t.ms, 1_788_220_800_000);
        assert_eq!(t.end_exclusive(), 1_788_220_800_000 + DAY_MS);
        let t: TimeArg = "2026-09-01T00:00:01Z".parse().unwrap();
        assert_eq!(
            (t.ms, t.end_exclusive()),
            (1_788_220_801_000, 1_788_220_801_000)
        );
        assert!("yesterday".parse::<TimeArg>().is_err());
    }
}
