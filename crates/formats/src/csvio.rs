//! CSV with a column mapping: each CSV column feeds one Cairn field.
//!
//! A row is turned into the JSON form of a record and read with
//! [`Record::from_value`], so a CSV row is checked exactly like an NDJSON line, and a
//! field's error names the CSV column it came from.

use std::fmt;
use std::io::{self, Read, Write};
use std::str::FromStr;

use cairn_model::{
    Dim, PropValue, Reason, Record, ValidationError, format_rfc3339_ms, limits, parse_timestamp,
    visitor_id_to_string,
};
use serde_json::{Map, Value};

use crate::error::{FormatError, MappingError, Row, RowError};
use crate::fast::dim_of;

/// A CSV row (all its cells) larger than this is refused as unreadable: the reader stops
/// rather than buffer it (an unclosed quote can swallow the rest of a file).
pub const CSV_ROW_BYTES_FATAL: usize = 1 << 20;

/// How an auto-typed or typed property column is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PropKind {
    /// `true`/`false` (any case) is a boolean, a JSON number (`42`, `-1.5`, `2e3`; not
    /// `007`, `+1`, `NaN`) is a number, anything else is a string.
    Auto,
    /// Always a string.
    String,
    /// A number (`12`, `1.5`, `+3`, `1e3`); anything else is a row error.
    Number,
    /// `true` or `false` (any case); anything else is a row error.
    Bool,
}

/// The Cairn field a CSV column feeds.
///
/// Written as in a mapping spec: `site`, `ts`, `visitor`, `type`, `url`, a dimension
/// name ([`Dim::as_str`]: `name`, `user`, `host`, `path`, `utm_source`, `country`…),
/// `revenue_amount`, `revenue_currency`, `props` (a JSON object of properties),
/// `props.<key>` with an optional `:string`, `:number` or `:bool` suffix, or `-` (ignore
/// the column).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Target {
    /// `site`.
    Site,
    /// `ts`: milliseconds since the epoch, or an RFC 3339 time; a time without an offset
    /// (`2026-03-01 10:00:00`, `2026-03-01T10:00:00.5`) or a bare date is taken as UTC.
    Ts,
    /// `visitor`: 16 hex digits are the id itself, anything else is hashed (as a JSON
    /// string would be).
    Visitor,
    /// `type`: `event` (the default when empty) or `identify`.
    Type,
    /// `url`: split into host, path and query (and UTM fields), as in JSON.
    Url,
    /// A string dimension; `user` is the user id of an identify record too.
    Dim(Dim),
    /// `revenue_amount`: a decimal number (`12.50`).
    RevenueAmount,
    /// `revenue_currency`: ISO 4217 code (`EUR`; lower case is accepted).
    RevenueCurrency,
    /// `props`: a JSON object of properties. `props.<key>` columns win over its keys.
    Props,
    /// `props.<key>`: one property.
    Prop {
        /// The property's key.
        key: String,
        /// How the cell is typed.
        kind: PropKind,
    },
    /// `-`: the column is read and dropped.
    Ignore,
}

impl FromStr for Target {
    type Err = MappingError;

    fn from_str(s: &str) -> Result<Target, MappingError> {
        let bad = || MappingError::BadTarget {
            target: s.to_string(),
        };
        Ok(match s {
            "site" => Target::Site,
            "ts" => Target::Ts,
            "visitor" => Target::Visitor,
            "type" => Target::Type,
            "url" => Target::Url,
            "revenue_amount" => Target::RevenueAmount,
            "revenue_currency" => Target::RevenueCurrency,
            "props" => Target::Props,
            "-" => Target::Ignore,
            other => {
                if let Some(rest) = other.strip_prefix("props.") {
                    let (key, kind) = match rest.rsplit_once(':') {
                        Some((k, "string")) => (k, PropKind::String),
                        Some((k, "number")) => (k, PropKind::Number),
                        Some((k, "bool" | "boolean")) => (k, PropKind::Bool),
                        Some((k, "auto")) => (k, PropKind::Auto),
                        _ => (rest, PropKind::Auto),
                    };
                    if key.is_empty() {
                        return Err(bad());
                    }
                    Target::Prop {
                        key: key.to_string(),
                        kind,
                    }
                } else {
                    Target::Dim(dim_of(other).ok_or_else(bad)?)
                }
            }
        })
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Site => f.write_str("site"),
            Target::Ts => f.write_str("ts"),
            Target::Visitor => f.write_str("visitor"),
            Target::Type => f.write_str("type"),
            Target::Url => f.write_str("url"),
            Target::Dim(d) => f.write_str(d.as_str()),
            Target::RevenueAmount => f.write_str("revenue_amount"),
            Target::RevenueCurrency => f.write_str("revenue_currency"),
            Target::Props => f.write_str("props"),
            Target::Prop { key, kind } => {
                write!(f, "props.{key}")?;
                match kind {
                    PropKind::Auto => Ok(()),
                    PropKind::String => f.write_str(":string"),
                    PropKind::Number => f.write_str(":number"),
                    PropKind::Bool => f.write_str(":bool"),
                }
            }
            Target::Ignore => f.write_str("-"),
        }
    }
}

impl Target {
    /// Two targets that would write the same field (`props.plan` and `props.plan:number`).
    fn slot(&self) -> String {
        match self {
            Target::Prop { key, .. } => format!("props.{key}"),
            other => other.to_string(),
        }
    }
}

/// Maps CSV columns (by header name) to Cairn fields.
///
/// * A column named in the mapping feeds its [`Target`]; `-` drops it.
/// * Any other column whose header is itself a target (`site`, `ts`, `name`,
///   `props.plan`, `revenue_amount`…; fixed names in any letter case) maps to it.
/// * Any other column is an error ([`MappingError::UnknownColumn`]) unless unknown
///   columns are ignored ([`CsvMapping::ignore_unknown`], `*=-` in a spec).
/// * A constant (`@site=shop.example`) fills a field in every row where no column gives it
///   a value — e.g. the site for a file exported from one site's CRM.
/// * A column named in the mapping but absent from the file is an error
///   ([`MappingError::MissingColumn`]), as are two columns feeding one field.
/// * An empty cell is unset: as if the field were absent from the JSON record.
///
/// A spec string lists entries separated by commas:
///
/// ```
/// use cairn_formats::CsvMapping;
/// let m: CsvMapping = "Timestamp=ts, Client=visitor, Event=name, Page URL=url, \
///     Amount=revenue_amount, Currency=revenue_currency, Plan=props.plan, \
///     Seats=props.seats:number, Notes=-, @site=shop.example".parse()?;
/// # Ok::<(), cairn_formats::MappingError>(())
/// ```
///
/// `Column=target` splits at the last `=` and `@target=value` at the first, and both sides
/// are trimmed; a header containing `,` (or a property key containing `=`) cannot be
/// written in a spec, but can be mapped with [`CsvMapping::map`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CsvMapping {
    columns: Vec<(String, Target)>,
    constants: Vec<(Target, String)>,
    ignore_unknown: bool,
}

impl CsvMapping {
    /// The default mapping: headers that are Cairn field names, nothing else.
    pub fn new() -> CsvMapping {
        CsvMapping::default()
    }

    /// Parses a spec string (see the type's docs).
    pub fn parse(spec: &str) -> Result<CsvMapping, MappingError> {
        let mut m = CsvMapping::new();
        for entry in spec.split(',') {
            let entry = entry.trim();
            if entry.is_empty() {
                continue;
            }
            let bad = || MappingError::BadEntry {
                entry: entry.to_string(),
            };
            if let Some(rest) = entry.strip_prefix('@') {
                let (t, v) = rest.split_once('=').ok_or_else(bad)?;
                let target: Target = t.trim().parse()?;
                m = m.constant(target, v.trim());
                continue;
            }
            let (col, t) = entry.rsplit_once('=').ok_or_else(bad)?;
            let (col, t) = (col.trim(), t.trim());
            if col.is_empty() {
                return Err(bad());
            }
            if col == "*" {
                if t != "-" {
                    return Err(bad());
                }
                m.ignore_unknown = true;
                continue;
            }
            m = m.map(col, t.parse()?);
        }
        m.check()?;
        Ok(m)
    }

    /// Maps the column with header `column` to `target`.
    pub fn map(mut self, column: impl Into<String>, target: Target) -> CsvMapping {
        self.columns.push((column.into(), target));
        self
    }

    /// Drops the column with header `column`.
    pub fn ignore(self, column: impl Into<String>) -> CsvMapping {
        self.map(column, Target::Ignore)
    }

    /// Fills `target` with `value` in every row where no column gives it one.
    pub fn constant(mut self, target: Target, value: impl Into<String>) -> CsvMapping {
        self.constants.push((target, value.into()));
        self
    }

    /// Whether columns that are neither mapped nor Cairn field names are dropped (rather
    /// than refused).
    pub fn ignore_unknown(mut self, yes: bool) -> CsvMapping {
        self.ignore_unknown = yes;
        self
    }

    fn check(&self) -> Result<(), MappingError> {
        for (i, (c, _)) in self.columns.iter().enumerate() {
            if self.columns[..i].iter().any(|(c2, _)| c2 == c) {
                return Err(MappingError::DuplicateColumn { column: c.clone() });
            }
        }
        for (t, v) in &self.constants {
            let reason = match t {
                Target::Ignore => Some("`-` is not a field".to_string()),
                _ => cell_value(t, v).err().map(|e| e.reason.to_string()),
            };
            if let Some(reason) = reason {
                return Err(MappingError::BadConstant {
                    target: t.to_string(),
                    value: v.clone(),
                    reason,
                });
            }
        }
        Ok(())
    }

    /// Resolves the mapping against a file's headers.
    fn resolve(&self, headers: &[String]) -> Result<Plan, MappingError> {
        self.check()?;
        for (c, _) in &self.columns {
            if !headers.iter().any(|h| h == c) {
                return Err(MappingError::MissingColumn { column: c.clone() });
            }
        }
        let mut cols: Vec<Col> = Vec::new();
        for (index, h) in headers.iter().enumerate() {
            let target = match self.columns.iter().find(|(c, _)| c == h) {
                Some((_, t)) => t.clone(),
                None => match identity(h) {
                    Some(t) => t,
                    None if self.ignore_unknown => Target::Ignore,
                    None => return Err(MappingError::UnknownColumn { column: h.clone() }),
                },
            };
            if target == Target::Ignore {
                continue;
            }
            if let Some(first) = cols.iter().find(|c| c.target.slot() == target.slot()) {
                return Err(MappingError::DuplicateTarget {
                    target: target.slot(),
                    first: first.header.clone(),
                    second: h.clone(),
                });
            }
            cols.push(Col {
                index,
                header: h.clone(),
                target,
            });
        }
        // A JSON `props` column is merged first, so that `props.<key>` columns win.
        cols.sort_by_key(|c| (c.target != Target::Props, c.index));
        let mut constants = Vec::new();
        for (t, v) in &self.constants {
            // Checked above.
            if let Ok(value) = cell_value(t, v) {
                constants.push((t.clone(), value));
            }
        }
        Ok(Plan { cols, constants })
    }
}

impl FromStr for CsvMapping {
    type Err = MappingError;
    fn from_str(s: &str) -> Result<CsvMapping, MappingError> {
        CsvMapping::parse(s)
    }
}

/// The target a header names by itself, if any.
fn identity(h: &str) -> Option<Target> {
    match h.parse::<Target>() {
        Ok(Target::Ignore) => None,
        Ok(t) => Some(t),
        Err(_) => match h.to_ascii_lowercase().parse::<Target>() {
            Ok(Target::Prop { .. } | Target::Ignore) | Err(_) => None,
            Ok(t) => Some(t),
        },
    }
}

struct Col {
    index: usize,
    header: String,
    target: Target,
}

struct Plan {
    cols: Vec<Col>,
    constants: Vec<(Target, CellValue)>,
}

/// What a cell contributes to the JSON record.
#[derive(Clone)]
enum CellValue {
    One(Value),
    Props(Map<String, Value>),
}

fn wrong(field: String, expected: &'static str) -> ValidationError {
    ValidationError::new(
        field,
        Reason::WrongType {
            expected,
            found: "a string",
        },
    )
}

/// Converts a non-empty cell for its target.
fn cell_value(t: &Target, cell: &str) -> Result<CellValue, ValidationError> {
    Ok(CellValue::One(match t {
        Target::Ts => ts_value(cell),
        Target::RevenueAmount => Value::String(cell.trim().to_string()),
        Target::Props => {
            let v: Value = serde_json::from_str(cell)
                .map_err(|e| ValidationError::new("props", Reason::BadJson(e.to_string())))?;
            return match v {
                Value::Object(m) => Ok(CellValue::Props(m)),
                _ => Err(wrong("props".into(), "a JSON object")),
            };
        }
        Target::Prop { key, kind } => prop_value(key, *kind, cell)?,
        _ => Value::String(restore(cell).to_string()),
    }))
}

/// What a spreadsheet takes for the start of a formula (OWASP's list for CSV injection).
const FORMULA_START: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// A text cell as written to CSV: one `'` before a value that a spreadsheet would run
/// as a formula (`=HYPERLINK(…)` in a hostile UTM value), as OWASP recommends. A value
/// made of quotes and then a formula start gets one more quote, so that [`restore`]
/// gives back exactly the value: exports re-import unchanged.
pub fn neutralise(s: &str) -> std::borrow::Cow<'_, str> {
    if s.trim_start_matches('\'').starts_with(FORMULA_START) {
        std::borrow::Cow::Owned(format!("'{s}"))
    } else {
        std::borrow::Cow::Borrowed(s)
    }
}

/// The value of a text cell that [`neutralise`] wrote.
pub fn restore(s: &str) -> &str {
    match s.strip_prefix('\'') {
        Some(rest) if rest.trim_start_matches('\'').starts_with(FORMULA_START) => rest,
        _ => s,
    }
}

fn prop_value(key: &str, kind: PropKind, cell: &str) -> Result<Value, ValidationError> {
    let t = cell.trim();
    let boolean = || {
        if t.eq_ignore_ascii_case("true") {
            Some(true)
        } else if t.eq_ignore_ascii_case("false") {
            Some(false)
        } else {
            None
        }
    };
    Ok(match kind {
        PropKind::String => Value::String(cell.to_string()),
        PropKind::Auto => {
            if let Some(b) = boolean() {
                Value::Bool(b)
            } else if let Ok(n) = t.parse::<serde_json::Number>() {
                Value::Number(n)
            } else {
                Value::String(cell.to_string())
            }
        }
        PropKind::Bool => {
            Value::Bool(boolean().ok_or_else(|| wrong(format!("props.{key}"), "true or false"))?)
        }
        PropKind::Number => {
            let f: f64 = t
                .parse()
                .map_err(|_| wrong(format!("props.{key}"), "a number"))?;
            if !f.is_finite() {
                return Err(ValidationError::new(
                    format!("props.{key}"),
                    Reason::NotFinite,
                ));
            }
            Value::from(f)
        }
    })
}

/// A timestamp cell: integer milliseconds, RFC 3339, or a UTC time without offset.
fn ts_value(cell: &str) -> Value {
    let t = cell.trim();
    let digits = t.strip_prefix('-').unwrap_or(t);
    if !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && let Ok(n) = t.parse::<i64>()
    {
        return Value::from(n);
    }
    if let Some(ms) = parse_timestamp(t).or_else(|| parse_naive_utc(t)) {
        return Value::from(ms);
    }
    Value::String(t.to_string())
}

/// `2026-03-01`, `2026-03-01 10:00:00`, `2026-03-01T10:00:00.250`: taken as UTC.
fn parse_naive_utc(t: &str) -> Option<i64> {
    let b = t.as_bytes();
    if b.len() < 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    if b.len() == 10 {
        return parse_timestamp(&format!("{t}T00:00:00Z"));
    }
    if b[10] != b' ' && b[10] != b'T' {
        return None;
    }
    let time = &t[11..];
    // An offset or `Z` would have parsed as RFC 3339 already (or is malformed).
    if time.contains(['Z', 'z', '+', '-']) {
        return None;
    }
    parse_timestamp(&format!("{}T{time}Z", &t[..10]))
}

impl Plan {
    /// The column a validation error's field came from.
    fn column_for(&self, field: &str) -> Option<String> {
        let find = |pred: &dyn Fn(&Target) -> bool| {
            self.cols
                .iter()
                .find(|c| pred(&c.target))
                .map(|c| c.header.clone())
        };
        match field {
            "site" => find(&|t| *t == Target::Site),
            "ts" => find(&|t| *t == Target::Ts),
            "visitor" => find(&|t| *t == Target::Visitor),
            "type" => find(&|t| *t == Target::Type),
            "url" => find(&|t| *t == Target::Url),
            "revenue.amount" => find(&|t| *t == Target::RevenueAmount),
            "revenue.currency" => find(&|t| *t == Target::RevenueCurrency),
            "revenue" => find(&|t| matches!(t, Target::RevenueAmount | Target::RevenueCurrency)),
            "props" => find(&|t| *t == Target::Props),
            f => {
                if let Some(key) = f.strip_prefix("props.") {
                    return find(&|t| matches!(t, Target::Prop { key: k, .. } if k == key))
                        .or_else(|| find(&|t| *t == Target::Props));
                }
                let d = dim_of(f)?;
                find(&|t| *t == Target::Dim(d)).or_else(|| {
                    if d.comes_from_url() {
                        find(&|t| *t == Target::Url)
                    } else {
                        None
                    }
                })
            }
        }
    }

    /// Builds and validates the record of one CSV row.
    fn row(&self, rec: &csv::ByteRecord, width: usize, line: u64, now_ms: i64) -> Option<Row> {
        let err =
            |e: ValidationError, col: Option<String>| RowError::at_line(line, e).in_column(col);
        if rec
            .iter()
            .all(|c| c.iter().all(|b| matches!(b, b' ' | b'\t')))
        {
            return None; // a blank row
        }
        if rec.len() != width {
            let found = if rec.len() < width {
                "a shorter row"
            } else {
                "a longer row"
            };
            let e = ValidationError::new(
                "record",
                Reason::WrongType {
                    expected: "a row with one cell per header column",
                    found,
                },
            );
            return Some(Err(err(e, None)));
        }
        if rec.as_slice().len() > limits::RECORD_BYTES_MAX {
            let e = ValidationError::new(
                "record",
                Reason::RecordTooLarge {
                    max: limits::RECORD_BYTES_MAX,
                },
            );
            return Some(Err(err(e, None)));
        }
        let mut obj = Map::new();
        let mut props = Map::new();
        let mut revenue = Map::new();
        let mut put = |t: &Target, v: CellValue| match (t, v) {
            (_, CellValue::Props(m)) => props.extend(m),
            (Target::RevenueAmount, CellValue::One(v)) => {
                revenue.insert("amount".into(), v);
            }
            (Target::RevenueCurrency, CellValue::One(v)) => {
                revenue.insert("currency".into(), v);
            }
            (Target::Prop { key, .. }, CellValue::One(v)) => {
                props.insert(key.clone(), v);
            }
            (t, CellValue::One(v)) => {
                obj.insert(t.to_string(), v);
            }
        };
        for (t, v) in &self.constants {
            put(t, v.clone());
        }
        for c in &self.cols {
            let raw = rec.get(c.index).unwrap_or_default();
            if raw.is_empty() {
                continue;
            }
            let cell = match std::str::from_utf8(raw) {
                Ok(s) => s,
                Err(_) => {
                    let e = ValidationError::new(
                        field_of(&c.target),
                        Reason::WrongType {
                            expected: "UTF-8 text",
                            found: "invalid UTF-8",
                        },
                    );
                    return Some(Err(err(e, Some(c.header.clone()))));
                }
            };
            match cell_value(&c.target, cell) {
                Ok(v) => put(&c.target, v),
                Err(e) => return Some(Err(err(e, Some(c.header.clone())))),
            }
        }
        if !props.is_empty() {
            obj.insert("props".into(), Value::Object(props));
        }
        if !revenue.is_empty() {
            obj.insert("revenue".into(), Value::Object(revenue));
        }
        Some(
            Record::from_value(&Value::Object(obj), now_ms, None).map_err(|e| {
                let col = self.column_for(&e.field);
                err(e, col)
            }),
        )
    }
}

/// The JSON field name of a target, for errors.
fn field_of(t: &Target) -> String {
    match t {
        Target::RevenueAmount => "revenue.amount".into(),
        Target::RevenueCurrency => "revenue.currency".into(),
        Target::Prop { key, .. } => format!("props.{key}"),
        other => other.to_string(),
    }
}

/// Options of the CSV dialect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CsvOptions {
    /// Field delimiter (default `,`; `;` and `\t` are common too).
    pub delimiter: u8,
    /// Quote character (default `"`).
    pub quote: u8,
}

impl Default for CsvOptions {
    fn default() -> CsvOptions {
        CsvOptions {
            delimiter: b',',
            quote: b'"',
        }
    }
}

/// Counts the bytes read since the last reset, and refuses to read past a limit.
struct Guard<R> {
    inner: R,
    since: usize,
    tripped: bool,
}

impl<R: Read> Read for Guard<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.since > CSV_ROW_BYTES_FATAL {
            self.tripped = true;
            return Err(io::Error::other("CSV row too large"));
        }
        let n = self.inner.read(buf)?;
        self.since += n;
        Ok(n)
    }
}

/// Reads records from a CSV file with a header row, through a [`CsvMapping`].
///
/// The mapping is checked against the header when the reader is made. As an iterator it
/// yields `Result<Row, FormatError>` like [`crate::NdjsonReader`]: rows that are not valid
/// records give a [`RowError`] with the row's (first) line and the column at fault, and
/// reading goes on; an I/O error, or a row over [`CSV_ROW_BYTES_FATAL`], ends it. Rows over
/// [`limits::RECORD_BYTES_MAX`] bytes, rows with a different number of cells than the
/// header and cells that are not UTF-8 are row errors. Blank rows are skipped.
pub struct CsvReader<R: Read> {
    rdr: csv::Reader<Guard<R>>,
    plan: Plan,
    headers: Vec<String>,
    now_ms: i64,
    record: csv::ByteRecord,
    done: bool,
}

impl<R: Read> CsvReader<R> {
    /// A reader of comma-separated values; `now_ms` bounds future timestamps.
    pub fn new(reader: R, mapping: &CsvMapping, now_ms: i64) -> Result<CsvReader<R>, FormatError> {
        CsvReader::with_options(reader, mapping, now_ms, CsvOptions::default())
    }

    /// A reader with another delimiter or quote.
    pub fn with_options(
        reader: R,
        mapping: &CsvMapping,
        now_ms: i64,
        options: CsvOptions,
    ) -> Result<CsvReader<R>, FormatError> {
        let guard = Guard {
            inner: reader,
            since: 0,
            tripped: false,
        };
        let mut rdr = csv::ReaderBuilder::new()
            .has_headers(true)
            .flexible(true)
            .delimiter(options.delimiter)
            .quote(options.quote)
            .from_reader(guard);
        let headers: Vec<String> = match rdr.byte_headers() {
            Ok(h) => h
                .iter()
                .enumerate()
                .map(|(i, h)| {
                    let h = if i == 0 {
                        h.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(h)
                    } else {
                        h
                    };
                    String::from_utf8_lossy(h).trim().to_string()
                })
                .collect(),
            Err(e) => {
                if rdr.get_ref().tripped {
                    return Err(FormatError::RowTooLarge {
                        line: 0,
                        max: CSV_ROW_BYTES_FATAL,
                    });
                }
                return Err(e.into());
            }
        };
        let empty = headers.is_empty() || (headers.len() == 1 && headers[0].is_empty());
        let plan = if empty {
            // An empty file: no rows, nothing to map.
            Plan {
                cols: Vec::new(),
                constants: Vec::new(),
            }
        } else {
            mapping.resolve(&headers)?
        };
        rdr.get_mut().since = 0;
        Ok(CsvReader {
            rdr,
            plan,
            headers,
            now_ms,
            record: csv::ByteRecord::new(),
            done: empty,
        })
    }

    /// The file's header names (trimmed).
    pub fn headers(&self) -> &[String] {
        &self.headers
    }
}

impl<R: Read> Iterator for CsvReader<R> {
    type Item = Result<Row, FormatError>;

    fn next(&mut self) -> Option<Self::Item> {
        while !self.done {
            match self.rdr.read_byte_record(&mut self.record) {
                Ok(false) => self.done = true,
                Ok(true) => {
                    self.rdr.get_mut().since = 0;
                    let line = self.record.position().map_or(0, |p| p.line());
                    if let Some(row) =
                        self.plan
                            .row(&self.record, self.headers.len(), line, self.now_ms)
                    {
                        return Some(Ok(row));
                    }
                }
                Err(e) => {
                    self.done = true;
                    if self.rdr.get_ref().tripped {
                        return Some(Err(FormatError::RowTooLarge {
                            line: self.rdr.position().line(),
                            max: CSV_ROW_BYTES_FATAL,
                        }));
                    }
                    return Some(Err(e.into()));
                }
            }
        }
        None
    }
}

/// The columns [`CsvWriter`] writes, in order: `type`, `site`, `ts`, `visitor`, one per
/// dimension, `revenue_amount`, `revenue_currency`, `props` (a JSON object).
pub fn csv_columns() -> Vec<&'static str> {
    let mut c = vec!["type", "site", "ts", "visitor"];
    c.extend(Dim::ALL.iter().map(|d| d.as_str()));
    c.extend(["revenue_amount", "revenue_currency", "props"]);
    c
}

/// Writes records as CSV with the columns of [`csv_columns`], which [`CsvReader`] reads
/// back with the default mapping. Times are RFC 3339 (UTC, milliseconds), visitors 16 hex
/// digits, amounts exact decimals, properties a JSON object in the `props` column.
pub struct CsvWriter<W: Write> {
    w: csv::Writer<W>,
    written: u64,
    row: Vec<String>,
}

impl<W: Write> CsvWriter<W> {
    /// A writer; the header row is written at once.
    pub fn new(w: W) -> Result<CsvWriter<W>, FormatError> {
        let mut w = csv::WriterBuilder::new().from_writer(w);
        w.write_record(csv_columns())?;
        Ok(CsvWriter {
            w,
            written: 0,
            row: Vec::new(),
        })
    }

    /// Writes one record.
    pub fn write(&mut self, rec: &Record) -> Result<(), FormatError> {
        let n = csv_columns().len();
        self.row.clear();
        self.row.resize(n, String::new());
        let dim0 = 4;
        match rec {
            Record::Event(e) => {
                self.row[0] = "event".into();
                self.row[1] = neutralise(&e.site).into_owned();
                self.row[2] = format_rfc3339_ms(e.ts);
                self.row[3] = visitor_id_to_string(e.visitor);
                for (i, v) in e.dims.iter().enumerate() {
                    self.row[dim0 + i] = neutralise(v).into_owned();
                }
                if let Some(r) = &e.revenue {
                    self.row[n - 3] = decimal_micros(r.micros);
                    self.row[n - 2] = neutralise(&r.currency).into_owned();
                }
                if !e.props.is_empty() {
                    let mut m = Map::new();
                    for (k, v) in &e.props {
                        let v = match v {
                            PropValue::Str(s) => Value::from(s.as_str()),
                            PropValue::Num(x) => Value::from(*x),
                            PropValue::Bool(b) => Value::from(*b),
                        };
                        m.insert(k.clone(), v);
                    }
                    self.row[n - 1] = Value::Object(m).to_string();
                }
            }
            Record::Identify(i) => {
                self.row[0] = "identify".into();
                self.row[1] = neutralise(&i.site).into_owned();
                self.row[2] = format_rfc3339_ms(i.ts);
                self.row[3] = visitor_id_to_string(i.visitor);
                self.row[dim0 + Dim::User.index()] = neutralise(&i.user).into_owned();
            }
        }
        self.w.write_record(&self.row)?;
        self.written += 1;
        Ok(())
    }

    /// Writes records in order.
    pub fn write_all(&mut self, recs: &[Record]) -> Result<(), FormatError> {
        recs.iter().try_for_each(|r| self.write(r))
    }

    /// Records written so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Flushes and returns the underlying writer.
    pub fn finish(self) -> Result<W, FormatError> {
        self.w
            .into_inner()
            .map_err(|e| FormatError::Io(io::Error::new(e.error().kind(), e.error().to_string())))
    }
}

/// Millionths as an exact decimal: `12500000` → `12.5`.
pub(crate) fn decimal_micros(micros: i64) -> String {
    let sign = if micros < 0 { "-" } else { "" };
    let a = micros.unsigned_abs();
    let (int, frac) = (a / 1_000_000, a % 1_000_000);
    if frac == 0 {
        return format!("{sign}{int}");
    }
    let f = format!("{frac:06}");
    format!("{sign}{int}.{}", f.trim_end_matches('0'))
}
