use crate::Dim;
use crate::limits;
use crate::validate::{Reason, ValidationError};

/// Number of string dimensions on an event.
pub const DIM_COUNT: usize = Dim::ALL.len();

/// A custom property value.
#[derive(Debug, Clone, PartialEq)]
pub enum PropValue {
    /// A string.
    Str(String),
    /// A finite number.
    Num(f64),
    /// A boolean.
    Bool(bool),
}

/// Revenue attached to an event (a purchase, a lead's value).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revenue {
    /// Amount in millionths of the currency unit (exact; 12.5 EUR is 12_500_000).
    pub micros: i64,
    /// ISO 4217 currency code, three upper-case letters.
    pub currency: String,
}

impl Revenue {
    /// The amount as a decimal number.
    pub fn amount(&self) -> f64 {
        self.micros as f64 / 1e6
    }
}

/// One web event: a pageview or a custom micro/macro conversion.
///
/// String dimensions live in `dims`, indexed by [`Dim`]; an empty string means unset.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// Site id (its domain as registered).
    pub site: String,
    /// Milliseconds since the Unix epoch, UTC.
    pub ts: i64,
    /// Visitor id (a salted hash, or the hash of a first-party id).
    pub visitor: u64,
    /// String dimensions, indexed by [`Dim::index`].
    pub dims: [String; DIM_COUNT],
    /// Custom properties, keys unique.
    pub props: Vec<(String, PropValue)>,
    /// Revenue, for conversions that carry money.
    pub revenue: Option<Revenue>,
}

impl Event {
    /// A new event with every dimension unset.
    pub fn new(site: impl Into<String>, ts: i64, visitor: u64, name: impl Into<String>) -> Event {
        let mut ev = Event {
            site: site.into(),
            ts,
            visitor,
            dims: Default::default(),
            props: Vec::new(),
            revenue: None,
        };
        ev.dims[Dim::Name.index()] = name.into();
        ev
    }

    /// The value of a dimension ("" when unset).
    pub fn dim(&self, d: Dim) -> &str {
        &self.dims[d.index()]
    }

    /// Sets a dimension.
    pub fn set(&mut self, d: Dim, v: impl Into<String>) -> &mut Self {
        self.dims[d.index()] = v.into();
        self
    }

    /// The event name.
    pub fn name(&self) -> &str {
        self.dim(Dim::Name)
    }

    /// Looks up a custom property.
    pub fn prop(&self, key: &str) -> Option<&PropValue> {
        self.props.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// Checks every field against the documented limits. `now_ms` is the receiver's clock.
    pub fn validate(&self, now_ms: i64) -> Result<(), ValidationError> {
        check_site(&self.site)?;
        check_ts(self.ts, now_ms)?;
        for d in Dim::ALL {
            let v = self.dim(d);
            check_str(d.as_str(), v, d.max_len())?;
        }
        if self.name().is_empty() {
            return Err(ValidationError::new("name", Reason::Empty));
        }
        check_props(&self.props)?;
        if let Some(r) = &self.revenue {
            check_revenue(r)?;
        }
        Ok(())
    }
}

/// Links a visitor id to a user or lead id: the visitor's events, earlier anonymous
/// ones included, belong to that lead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identify {
    /// Site id.
    pub site: String,
    /// When the link was made (ms, UTC).
    pub ts: i64,
    /// The visitor.
    pub visitor: u64,
    /// The user / lead id.
    pub user: String,
}

impl Identify {
    /// Checks every field against the documented limits.
    pub fn validate(&self, now_ms: i64) -> Result<(), ValidationError> {
        check_site(&self.site)?;
        check_ts(self.ts, now_ms)?;
        if self.user.is_empty() {
            return Err(ValidationError::new("user", Reason::Empty));
        }
        check_str("user", &self.user, limits::USER_MAX)
    }
}

/// The unit of ingestion and import.
#[derive(Debug, Clone, PartialEq)]
#[allow(clippy::large_enum_variant)] // events dominate; boxing them would cost an allocation each
pub enum Record {
    /// An event.
    Event(Event),
    /// A visitor → user link.
    Identify(Identify),
}

impl Record {
    /// The record's site.
    pub fn site(&self) -> &str {
        match self {
            Record::Event(e) => &e.site,
            Record::Identify(i) => &i.site,
        }
    }

    /// The record's timestamp.
    pub fn ts(&self) -> i64 {
        match self {
            Record::Event(e) => e.ts,
            Record::Identify(i) => i.ts,
        }
    }

    /// Validates the record.
    pub fn validate(&self, now_ms: i64) -> Result<(), ValidationError> {
        match self {
            Record::Event(e) => e.validate(now_ms),
            Record::Identify(i) => i.validate(now_ms),
        }
    }
}

pub(crate) fn check_site(site: &str) -> Result<(), ValidationError> {
    if site.is_empty() {
        return Err(ValidationError::new("site", Reason::Empty));
    }
    check_str("site", site, limits::SITE_MAX)?;
    if site.chars().any(|c| c.is_whitespace()) {
        return Err(ValidationError::new("site", Reason::Whitespace));
    }
    Ok(())
}

pub(crate) fn check_ts(ts: i64, now_ms: i64) -> Result<(), ValidationError> {
    if ts < limits::MIN_TS_MS {
        return Err(ValidationError::new("ts", Reason::TooOld));
    }
    if ts > now_ms.saturating_add(limits::MAX_FUTURE_MS) {
        return Err(ValidationError::new("ts", Reason::InFuture));
    }
    Ok(())
}

pub(crate) fn check_str(field: &str, v: &str, max: usize) -> Result<(), ValidationError> {
    if v.len() > max {
        return Err(ValidationError::new(
            field,
            Reason::TooLong { max, len: v.len() },
        ));
    }
    if v.chars().any(|c| c.is_control()) {
        return Err(ValidationError::new(field, Reason::ControlChar));
    }
    Ok(())
}

/// Checks custom properties: at most [`limits::PROPS_MAX`], keys non-empty, unique and
/// short enough, string values short enough, numbers finite.
pub(crate) fn check_props(props: &[(String, PropValue)]) -> Result<(), ValidationError> {
    if props.len() > limits::PROPS_MAX {
        return Err(ValidationError::new(
            "props",
            Reason::TooMany {
                max: limits::PROPS_MAX,
            },
        ));
    }
    for (i, (k, v)) in props.iter().enumerate() {
        if k.is_empty() {
            return Err(ValidationError::new("props", Reason::EmptyKey));
        }
        check_str("props", k, limits::PROP_KEY_MAX)
            .map_err(|e| ValidationError::new(format!("props.{k}"), e.reason))?;
        if props[..i].iter().any(|(k2, _)| k2 == k) {
            return Err(ValidationError::new(
                format!("props.{k}"),
                Reason::Duplicate,
            ));
        }
        match v {
            PropValue::Str(s) => check_str(&format!("props.{k}"), s, limits::PROP_VALUE_MAX)?,
            PropValue::Num(n) if !n.is_finite() => {
                return Err(ValidationError::new(
                    format!("props.{k}"),
                    Reason::NotFinite,
                ));
            }
            _ => {}
        }
    }
    Ok(())
}

pub(crate) fn check_revenue(r: &Revenue) -> Result<(), ValidationError> {
    let max = (limits::REVENUE_ABS_MAX * 1e6) as i64;
    if r.micros.abs() > max {
        return Err(ValidationError::new("revenue.amount", Reason::OutOfRange));
    }
    if r.currency.len() != 3 || !r.currency.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(ValidationError::new(
            "revenue.currency",
            Reason::BadCurrency,
        ));
    }
    Ok(())
}
