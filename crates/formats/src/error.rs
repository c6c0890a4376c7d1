//! Errors: fatal [`FormatError`]s end a read or write; [`RowError`]s reject one row.

use std::fmt;

use cairn_model::ValidationError;

/// One row read from a file: a valid record, or why that row was rejected.
///
/// Readers yield `Result<Row, FormatError>`: the outer error is fatal (the file cannot be
/// read on), the inner one rejects that row only and reading goes on.
pub type Row = Result<cairn_model::Record, RowError>;

/// How [`RowError::line`] counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowUnit {
    /// A 1-based line of a text file (NDJSON, CSV; a CSV row spanning several lines is
    /// reported at its first line).
    Line,
    /// A 1-based row number of a Parquet file.
    Row,
}

/// A row that is not a valid record. Such a row never yields a partial record.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub struct RowError {
    /// Where the row is: a 1-based line (NDJSON, CSV) or row number (Parquet), see `unit`.
    pub line: u64,
    /// Whether `line` is a line or a row number.
    pub unit: RowUnit,
    /// The file's column that holds the bad field, where one does (CSV, Parquet).
    pub column: Option<String>,
    /// What is wrong, with Cairn's field name (`ts`, `props.plan`, `revenue.amount`…).
    pub error: ValidationError,
}

impl RowError {
    /// An error at a text line.
    pub fn at_line(line: u64, error: ValidationError) -> RowError {
        RowError {
            line,
            unit: RowUnit::Line,
            column: None,
            error,
        }
    }

    /// An error at a row of a Parquet file.
    pub fn at_row(row: u64, error: ValidationError) -> RowError {
        RowError {
            line: row,
            unit: RowUnit::Row,
            column: None,
            error,
        }
    }

    /// The same error, naming the file's column.
    pub fn in_column(mut self, column: Option<String>) -> RowError {
        self.column = column;
        self
    }
}

impl fmt::Display for RowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.unit {
            RowUnit::Line => write!(f, "line {}", self.line)?,
            RowUnit::Row => write!(f, "row {}", self.line)?,
        }
        if let Some(c) = &self.column {
            write!(f, ", column `{c}`")?;
        }
        write!(f, ": {}", self.error)
    }
}

/// A CSV column mapping that cannot be used (see [`crate::CsvMapping`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MappingError {
    /// A spec entry is not `Column=target` or `@target=value`.
    #[error("mapping entry `{entry}` is not `Column=field`, `Column=-` or `@field=value`")]
    BadEntry {
        /// The entry as written.
        entry: String,
    },
    /// A target is not a Cairn field.
    #[error(
        "`{target}` is not a Cairn field; use one of site, ts, visitor, type, url, user, name, host, path, query, referrer, source, channel, utm_source, utm_medium, utm_campaign, utm_term, utm_content, device, browser, os, country, screen, language, revenue_amount, revenue_currency, props, props.<key>[:string|number|bool], or - to ignore the column"
    )]
    BadTarget {
        /// The target as written.
        target: String,
    },
    /// The file has a column that is neither mapped nor a Cairn field name.
    #[error(
        "CSV column `{column}` is not a Cairn field: map it (`{column}=<field>`), ignore it (`{column}=-`), or ignore every unknown column (`*=-`)"
    )]
    UnknownColumn {
        /// The column's header.
        column: String,
    },
    /// The mapping names a column that the file does not have.
    #[error("the mapping names column `{column}`, which the CSV header lacks")]
    MissingColumn {
        /// The column's header.
        column: String,
    },
    /// Two columns map to the same field.
    #[error("CSV columns `{first}` and `{second}` both map to `{target}`")]
    DuplicateTarget {
        /// The field.
        target: String,
        /// The first column.
        first: String,
        /// The second column.
        second: String,
    },
    /// The mapping maps one column twice.
    #[error("the mapping maps column `{column}` twice")]
    DuplicateColumn {
        /// The column's header.
        column: String,
    },
    /// A constant is not valid for its field.
    #[error("constant `@{target}={value}`: {reason}")]
    BadConstant {
        /// The field.
        target: String,
        /// The value.
        value: String,
        /// Why.
        reason: String,
    },
}

/// A fatal error: the file cannot be read or written on. Rows already yielded stay valid.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FormatError {
    /// Reading or writing failed.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// The Parquet file is unreadable (corrupt, truncated, not Parquet) or could not be written.
    #[error("Parquet error: {0}")]
    Parquet(#[from] parquet::errors::ParquetError),
    /// Arrow could not build or decode a batch.
    #[error("Arrow error: {0}")]
    Arrow(#[from] arrow::error::ArrowError),
    /// The CSV file is unreadable.
    #[error("CSV error: {0}")]
    Csv(#[from] csv::Error),
    /// The CSV column mapping does not fit the file.
    #[error("CSV mapping: {0}")]
    Mapping(#[from] MappingError),
    /// A column of a Parquet file has a type Cairn cannot read, or is required and absent.
    #[error("Parquet column `{column}`: {message}")]
    Schema {
        /// The column.
        column: String,
        /// What is wrong with it.
        message: String,
    },
    /// A CSV row is so large that reading it would exhaust memory; the file is rejected.
    #[error(
        "CSV row after line {line} is larger than {max} bytes (an unclosed quote?); the file cannot be read on"
    )]
    RowTooLarge {
        /// The last line read before the row.
        line: u64,
        /// The limit in bytes.
        max: usize,
    },
}
