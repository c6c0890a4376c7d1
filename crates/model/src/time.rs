use chrono::{DateTime, SecondsFormat, Utc};

/// Parses milliseconds since the epoch from an RFC 3339 string
/// (`2026-03-01T10:00:00Z`, `2026-03-01T11:00:00.250+01:00`).
pub fn parse_timestamp(s: &str) -> Option<i64> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|d| d.timestamp_millis())
}

/// Formats milliseconds since the epoch as RFC 3339 in UTC with milliseconds.
pub fn format_rfc3339_ms(ms: i64) -> String {
    match DateTime::<Utc>::from_timestamp_millis(ms) {
        Some(d) => d.to_rfc3339_opts(SecondsFormat::Millis, true),
        None => ms.to_string(),
    }
}
