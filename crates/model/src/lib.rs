//! Cairn's shared data types.
//!
//! * [`Event`] is one web event (a pageview or a custom micro/macro conversion) as Cairn
//!   stores it: site, time, visitor, URL, referrer and source, UTM fields, device,
//!   custom properties and revenue.
//! * [`Identify`] links a visitor to a user or lead id.
//! * [`Record`] is either of them, the unit of ingestion and import.
//! * [`EventChunk`] holds events in columns, each distinct value once: how a bulk
//!   import of a columnar file hands rows to the store.
//! * [`Dim`] names every string dimension of an event; stores, analyses and imports
//!   address columns through it.
//! * [`ValidationError`] says which field of a record is wrong, and why.
//!
//! Records are read from JSON with [`Record::from_json`] (the NDJSON import format and
//! Cairn's own ingestion protocol) and written with [`Record::to_json`].
//!
//! ```
//! use cairn_model::{Record, Dim};
//! let line = r#"{"site":"shop.example","ts":"2026-03-01T10:00:00Z","visitor":"v1",
//!                "name":"pageview","url":"https://shop.example/p/42?utm_source=news"}"#;
//! let now = 1_900_000_000_000;
//! let Record::Event(ev) = Record::from_json(line, now)? else { unreachable!() };
//! assert_eq!(ev.dim(Dim::Path), "/p/42");
//! assert_eq!(ev.dim(Dim::UtmSource), "news");
//! # Ok::<(), cairn_model::ValidationError>(())
//! ```

pub mod assign;
mod checked;
mod chunk;
mod dim;
mod event;
mod json;
pub use json::{
    UrlParts, json_type, percent_decode, props_from_json, query_param, revenue_from_json, split_url,
};
pub mod limits;
pub mod query;
mod time;
mod validate;
mod visitor;

pub use checked::Checked;
pub use chunk::{ChunkRow, ChunkValue, EventChunk};
pub use dim::Dim;
pub use event::{Event, Identify, PropValue, Record, Revenue};
pub use time::{format_rfc3339_ms, parse_timestamp};
pub use validate::{Reason, ValidationError};
pub use visitor::{parse_visitor_id, visitor_id_from_str, visitor_id_to_string};
