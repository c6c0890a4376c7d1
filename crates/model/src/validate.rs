use std::fmt;

/// A record field that failed validation, and why.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("field `{field}`: {reason}")]
pub struct ValidationError {
    /// Dotted path of the field, e.g. `props.color` or `revenue.currency`.
    pub field: String,
    /// What is wrong with it.
    pub reason: Reason,
}

impl ValidationError {
    /// Builds an error.
    pub fn new(field: impl Into<String>, reason: Reason) -> ValidationError {
        ValidationError {
            field: field.into(),
            reason,
        }
    }
}

/// Why a field is invalid.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Reason {
    /// A required field is absent.
    Missing,
    /// The value is empty where it must not be.
    Empty,
    /// A map has an empty key.
    EmptyKey,
    /// The value is longer than allowed.
    TooLong {
        /// Limit in bytes.
        max: usize,
        /// Actual length in bytes.
        len: usize,
    },
    /// Too many entries.
    TooMany {
        /// Limit.
        max: usize,
    },
    /// A key appears twice.
    Duplicate,
    /// The JSON type is wrong.
    WrongType {
        /// What was expected.
        expected: &'static str,
        /// What was found.
        found: &'static str,
    },
    /// The field is not part of the format.
    UnknownField,
    /// A timestamp before 2000-01-01.
    TooOld,
    /// A timestamp more than a day ahead of the receiver's clock.
    InFuture,
    /// A timestamp string that is not RFC 3339.
    BadTimestamp,
    /// A number that is NaN or infinite.
    NotFinite,
    /// A number out of its range.
    OutOfRange,
    /// Not a three-letter upper-case ISO 4217 code.
    BadCurrency,
    /// Contains whitespace.
    Whitespace,
    /// Contains a control character.
    ControlChar,
    /// Not a URL Cairn can read.
    BadUrl,
    /// The record is not valid JSON.
    BadJson(String),
    /// The record is larger than allowed.
    RecordTooLarge {
        /// Limit in bytes.
        max: usize,
    },
    /// An unknown record type.
    UnknownType(String),
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::Missing => f.write_str("is required but missing"),
            Reason::Empty => f.write_str("must not be empty"),
            Reason::EmptyKey => f.write_str("has an empty key"),
            Reason::TooLong { max, len } => {
                write!(f, "is {len} bytes long, the limit is {max}")
            }
            Reason::TooMany { max } => write!(f, "has more than {max} entries"),
            Reason::Duplicate => f.write_str("appears twice"),
            Reason::WrongType { expected, found } => {
                write!(f, "must be {expected}, found {found}")
            }
            Reason::UnknownField => f.write_str("is not a known field"),
            Reason::TooOld => f.write_str("is before 2000-01-01T00:00:00Z"),
            Reason::InFuture => f.write_str("is more than 24 hours in the future"),
            Reason::BadTimestamp => f.write_str(
                "must be milliseconds since the Unix epoch or an RFC 3339 time such as 2026-03-01T10:00:00Z",
            ),
            Reason::NotFinite => f.write_str("must be a finite number"),
            Reason::OutOfRange => f.write_str("is out of range"),
            Reason::BadCurrency => f.write_str("must be a three-letter upper-case ISO 4217 code"),
            Reason::Whitespace => f.write_str("must not contain whitespace"),
            Reason::ControlChar => f.write_str("must not contain control characters"),
            Reason::BadUrl => f.write_str("is not an http(s) URL or an absolute path"),
            Reason::BadJson(e) => write!(f, "is not valid JSON: {e}"),
            Reason::RecordTooLarge { max } => write!(f, "is larger than {max} bytes"),
            Reason::UnknownType(t) => {
                write!(f, "is `{t}`; expected `event` or `identify`")
            }
        }
    }
}
