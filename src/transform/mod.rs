//! Typing: text batches in, typed polars frames out.
//!
//! [`infer`] decides each column's type from every value of the column (one pass over the source);
//! [`convert`] then parses each batch with exactly that type's parser, so a value the inference saw can
//! never fail or turn silently into a null. Commands that know their source pin column types instead.

pub mod convert;
pub mod infer;
pub mod values;

use std::fmt;

pub use convert::{ColumnPlan, Parser};
use values::DateFormat;

/// The logical type of an output column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnType {
    String,
    Int64,
    /// Decimal(38, 0): integers past 64 bits.
    Decimal,
    Float64,
    Boolean,
    Date,
    /// Microsecond timestamp; `utc` when the source carried offsets (stored UTC-adjusted).
    Datetime {
        utc: bool,
    },
}

impl fmt::Display for ColumnType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ColumnType::String => "String",
            ColumnType::Int64 => "Int64",
            ColumnType::Decimal => "Decimal(38, 0)",
            ColumnType::Float64 => "Float64",
            ColumnType::Boolean => "Boolean",
            ColumnType::Date => "Date",
            ColumnType::Datetime { utc: true } => "Datetime(us, UTC)",
            ColumnType::Datetime { utc: false } => "Datetime(us)",
        })
    }
}

/// Column types fixed by the caller instead of inferred, matched by column name; and date formats
/// given for columns whose type is still inferred (`--date-format`).
#[derive(Debug, Clone, Default)]
pub struct Pins {
    types: Vec<(String, Parser)>,
    date_formats: Vec<(String, DateFormat)>,
}

impl Pins {
    /// No pinned column.
    pub fn none() -> Self {
        Pins::default()
    }

    /// Pins column `name` (exact name after trimming) to `parser`; a later pin of the same name wins.
    pub fn pin(mut self, name: &str, parser: Parser) -> Self {
        self.types.push((name.to_owned(), parser));
        self
    }

    /// Says that column `name`'s dates (if it has dates) are in `format`.
    pub fn date_format_of(mut self, name: &str, format: DateFormat) -> Self {
        self.date_formats.push((name.to_owned(), format));
        self
    }

    /// These pins, with `other`'s added on top (where both pin a column, `other` wins).
    pub fn overridden_by(mut self, other: &Pins) -> Self {
        self.types.extend(other.types.iter().cloned());
        self.date_formats.extend(other.date_formats.iter().cloned());
        self
    }

    /// The parser pinned for `name`, if any.
    pub fn get(&self, name: &str) -> Option<Parser> {
        self.types.iter().rev().find(|(n, _)| n == name).map(|(_, p)| *p)
    }

    /// The date format given for `name`, if any.
    pub fn date_format(&self, name: &str) -> Option<DateFormat> {
        self.date_formats.iter().rev().find(|(n, _)| n == name).map(|(_, f)| *f)
    }
}
