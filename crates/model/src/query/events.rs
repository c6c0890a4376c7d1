//! The `events` analysis: the events and properties explorer. Every event name stored in
//! the range (pageviews and the tracker's passive events included) with its events,
//! sessions and visitors, optionally per time bucket; and, when asked, every property
//! key with its top values. The semantics are in `docs/analyses.md#events-and-properties`.

use serde::{Deserialize, Serialize};

use super::{Interval, SpecError};
use crate::limits::NAME_MAX;

/// The most names, and values per property key, an `events` analysis lists.
pub const MAX_EVENTS_LIMIT: usize = 1000;

/// Event names with their counts and, when asked, property keys with their top values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EventsSpec {
    /// Top N event names by events (default 50); the rest are summed into `other`.
    #[serde(default = "default_limit")]
    pub limit: usize,
    /// Each name's events per bucket of this size (the event's own time).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<Interval>,
    /// Also list the property keys with their top values.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub properties: bool,
    /// Restricts the properties to events of this name (the names are listed all the
    /// same).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event: Option<String>,
    /// Top values per property key, by events (default 10).
    #[serde(default = "default_values")]
    pub values: usize,
}

fn default_limit() -> usize {
    50
}

fn default_values() -> usize {
    10
}

impl Default for EventsSpec {
    fn default() -> Self {
        EventsSpec {
            limit: default_limit(),
            interval: None,
            properties: false,
            event: None,
            values: default_values(),
        }
    }
}

impl EventsSpec {
    /// Checks the bounds; `path` is the analysis's (`analysis`).
    pub fn validate(&self, path: &str) -> Result<(), SpecError> {
        for (name, n) in [("limit", self.limit), ("values", self.values)] {
            if n == 0 || n > MAX_EVENTS_LIMIT {
                return Err(SpecError::new(
                    &format!("{path}.{name}"),
                    format!("must be between 1 and {MAX_EVENTS_LIMIT}"),
                ));
            }
        }
        if let Some(e) = &self.event {
            if e.is_empty() {
                return Err(SpecError::new(
                    &format!("{path}.event"),
                    "is empty: name an event, or leave `event` out for every event".into(),
                ));
            }
            if e.len() > NAME_MAX {
                return Err(SpecError::new(
                    &format!("{path}.event"),
                    format!("is longer than {NAME_MAX} bytes, longer than any event name"),
                ));
            }
        }
        Ok(())
    }
}
