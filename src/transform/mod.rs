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

/// The logical type of an output column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnType {
    String,
    Int64,
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
            ColumnType::Float64 => "Float64",
            ColumnType::Boolean => "Boolean",
            ColumnType::Date => "Date",
            ColumnType::Datetime { utc: true } => "Datetime(us, UTC)",
            ColumnType::Datetime { utc: false } => "Datetime(us)",
        })
    }
}

/// Column types fixed by the caller instead of inferred, matched by column name.
#[derive(Debug, Clone, Default)]
pub struct Pins(Vec<(String, Parser)>);

impl Pins {
    /// No pinned column.
    pub fn none() -> Self {
        Pins::default()
    }

    /// Pins column `name` (exact name after trimming) to `parser`; a later pin of the same name wins.
    pub fn pin(mut self, name: &str, parser: Parser) -> Self {
        self.0.push((name.to_owned(), parser));
        self
    }

    /// These pins, with `other`'s added on top (where both pin a column, `other` wins).
    pub fn overridden_by(mut self, other: &Pins) -> Self {
        self.0.extend(other.0.iter().cloned());
        self
    }

    /// The parser pinned for `name`, if any.
    pub fn get(&self, name: &str) -> Option<Parser> {
        self.0.iter().rev().find(|(n, _)| n == name).map(|(_, p)| *p)
    }
}
