//! Documented limits on every field of a record (see `docs/events.md`).

/// Earliest accepted timestamp: 2000-01-01T00:00:00Z in milliseconds.
pub const MIN_TS_MS: i64 = 946_684_800_000;
/// How far in the future a timestamp may be, relative to the receiver's clock.
pub const MAX_FUTURE_MS: i64 = 24 * 3600 * 1000;
/// Longest site id (a domain name).
pub const SITE_MAX: usize = 253;
/// Longest event name.
pub const NAME_MAX: usize = 120;
/// Longest user / lead id.
pub const USER_MAX: usize = 256;
/// Longest host.
pub const HOST_MAX: usize = 253;
/// Longest URL path, query string or referrer.
pub const URL_PART_MAX: usize = 2048;
/// Longest UTM value.
pub const UTM_MAX: usize = 256;
/// Longest value of the short descriptive dimensions (device, browser, OS, country,
/// screen class, language, source, channel).
pub const SHORT_MAX: usize = 64;
/// Most custom properties on one event.
pub const PROPS_MAX: usize = 32;
/// Longest property key.
pub const PROP_KEY_MAX: usize = 64;
/// Longest string property value.
pub const PROP_VALUE_MAX: usize = 512;
/// Largest absolute revenue amount.
pub const REVENUE_ABS_MAX: f64 = 1e12;
/// Longest JSON record accepted on one line.
pub const RECORD_BYTES_MAX: usize = 64 * 1024;
