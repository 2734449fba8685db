//! The type vocabulary: a column's output type ([`ColumnType`]), the parser that produces it
//! ([`Parser`]), and a column's plan (its name and parser).

use std::fmt;

use polars::prelude::{DataType, Field, Schema, TimeUnit, TimeZone};

use super::values::{DateFormat, DatetimeFormat, Zone};

/// The logical type of an output column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnType {
    String,
    Int64,
    /// Decimal(38, scale): integers past 64 bits (scale 0), or exact numbers with `scale` fraction
    /// digits (PostgreSQL's `numeric`).
    Decimal(u8),
    Float64,
    Boolean,
    Date,
    /// Microsecond timestamp; `utc` when the source carried offsets (stored UTC-adjusted).
    Datetime {
        utc: bool,
    },
    /// A list of values (PostgreSQL arrays).
    List(ListOf),
}

/// What a list column's elements are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListOf {
    Int64,
    Float64,
    Boolean,
    String,
}

impl ListOf {
    /// The element's type, as a column type.
    pub fn element(self) -> ColumnType {
        match self {
            ListOf::Int64 => ColumnType::Int64,
            ListOf::Float64 => ColumnType::Float64,
            ListOf::Boolean => ColumnType::Boolean,
            ListOf::String => ColumnType::String,
        }
    }
}

impl fmt::Display for ColumnType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let ColumnType::Decimal(scale) = self {
            return write!(f, "Decimal(38, {scale})");
        }
        if let ColumnType::List(of) = self {
            return write!(f, "List({})", of.element());
        }
        f.write_str(match self {
            ColumnType::String => "String",
            ColumnType::Int64 => "Int64",
            ColumnType::Decimal(_) | ColumnType::List(_) => unreachable!("written above"),
            ColumnType::Float64 => "Float64",
            ColumnType::Boolean => "Boolean",
            ColumnType::Date => "Date",
            ColumnType::Datetime { utc: true } => "Datetime(us, UTC)",
            ColumnType::Datetime { utc: false } => "Datetime(us)",
        })
    }
}

/// How one column's text becomes values. Empty text is null for every parser.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parser {
    /// Kept as text.
    Text,
    /// Int64 (leading zeros refused).
    Int,
    /// Decimal(38, 0): integers of up to 38 digits.
    Decimal,
    /// Decimal(38, s): exact numbers with at most `s` fraction digits (PostgreSQL's `numeric`).
    Fixed(u8),
    /// A list, written as a JSON array (`[1, 2, null]`), of elements of one type.
    List(ListOf),
    /// Float64.
    Float,
    /// `true` / `false` in any case.
    Bool,
    /// A date in the given format.
    Date(DateFormat),
    /// A timestamp in the given format, with offsets as [`Zone`] says.
    Datetime(DatetimeFormat, Zone),
    /// `Yes` / `No` (and `true` / `false`) in any case, as Boolean.
    YesNo,
    /// A number with a decimal comma and dots between thousands (`1.234,50`), as Float64.
    DecimalComma,
    /// An amount of money as Float64: `$` and thousands separators stripped; `Included`, `Free` and `-`
    /// are null (and counted).
    Money,
}

impl Parser {
    /// The non-empty values this parser makes null, for the summary's count of them.
    pub fn made_null(self) -> Option<&'static str> {
        match self {
            Parser::Money => Some("no-charge values (Included/Free/-)"),
            _ => None,
        }
    }

    /// The parser of a list's elements.
    pub fn element_parser(of: ListOf) -> Parser {
        match of {
            ListOf::Int64 => Parser::Int,
            ListOf::Float64 => Parser::Float,
            ListOf::Boolean => Parser::Bool,
            ListOf::String => Parser::Text,
        }
    }

    /// The output type.
    pub fn column_type(self) -> ColumnType {
        match self {
            Parser::Text => ColumnType::String,
            Parser::Int => ColumnType::Int64,
            Parser::Decimal => ColumnType::Decimal(0),
            Parser::Fixed(scale) => ColumnType::Decimal(scale),
            Parser::List(of) => ColumnType::List(of),
            Parser::Float | Parser::DecimalComma | Parser::Money => ColumnType::Float64,
            Parser::Bool | Parser::YesNo => ColumnType::Boolean,
            Parser::Date(_) => ColumnType::Date,
            Parser::Datetime(_, zone) => ColumnType::Datetime { utc: zone != Zone::Naive },
        }
    }

    /// The polars type of the output column.
    pub fn dtype(self) -> DataType {
        match self.column_type() {
            ColumnType::String => DataType::String,
            ColumnType::Int64 => DataType::Int64,
            ColumnType::Decimal(scale) => DataType::Decimal(DECIMAL_PRECISION, usize::from(scale)),
            ColumnType::List(of) => DataType::List(Box::new(Parser::element_parser(of).dtype())),
            ColumnType::Float64 => DataType::Float64,
            ColumnType::Boolean => DataType::Boolean,
            ColumnType::Date => DataType::Date,
            ColumnType::Datetime { utc } => {
                DataType::Datetime(TimeUnit::Microseconds, utc.then_some(TimeZone::UTC))
            }
        }
    }
}

/// The type names a person can pin a column to (`types:` in YAML catalogs), with their parsers.
pub const TYPE_NAMES: [(&str, Parser); 11] = [
    ("string", Parser::Text),
    ("int64", Parser::Int),
    ("decimal", Parser::Decimal),
    ("float64", Parser::Float),
    ("boolean", Parser::Bool),
    ("date", Parser::Date(DateFormat::Iso)),
    ("datetime", Parser::Datetime(DatetimeFormat::ISO, Zone::Naive)),
    ("datetime_utc", Parser::Datetime(DatetimeFormat::ISO, Zone::AssumeUtc)),
    ("datetime_offset", Parser::Datetime(DatetimeFormat::ISO, Zone::Offset)),
    ("money", Parser::Money),
    ("yes_no", Parser::YesNo),
];

/// The `--types` name that pins a column to the storage type `kind` (as `inspect` shows it:
/// `Datetime(us, UTC)` → `datetime_utc`); `None` for types no name pins (lists).
pub fn type_name_of(kind: &str) -> Option<&'static str> {
    Some(match kind {
        "String" => "string",
        "Int64" => "int64",
        "Float64" => "float64",
        "Boolean" => "boolean",
        "Date" => "date",
        "Datetime(us)" => "datetime",
        "Datetime(us, UTC)" => "datetime_utc",
        k if k.starts_with("Decimal(") => "decimal",
        _ => return None,
    })
}

impl std::str::FromStr for Parser {
    type Err = String;

    /// A parser from its type name (case-insensitive), or a message listing the names.
    fn from_str(name: &str) -> Result<Self, String> {
        TYPE_NAMES.iter().find(|(n, _)| n.eq_ignore_ascii_case(name.trim())).map(|(_, p)| *p).ok_or_else(
            || {
                let names: Vec<&str> = TYPE_NAMES.iter().map(|(n, _)| *n).collect();
                format!("unknown type `{name}`; use one of: {}", names.join(", "))
            },
        )
    }
}

/// The precision of Decimal columns: 38 digits, the most a 128-bit decimal holds.
pub const DECIMAL_PRECISION: usize = 38;

/// A column's name and parser.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnPlan {
    pub name: String,
    pub parser: Parser,
    /// Values are read without surrounding spaces (`" 42 "` as 42): a column pinned to a type other
    /// than text. An inferred column never trims: a value with spaces makes it text, and says so.
    pub trim: bool,
}

/// The polars schema a list of plans produces.
/// The column an upsert numbers its staged rows with, in source order (never published; a source
/// column of that name is refused when upserting).
pub const ROW_NUMBER_COLUMN: &str = "__etl_row";

pub fn schema_of(plans: &[ColumnPlan]) -> Schema {
    plans.iter().map(|p| Field::new(p.name.as_str().into(), p.parser.dtype())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_stored_type_names_the_types_name_that_pins_it() {
        for (name, parser) in TYPE_NAMES {
            let kind = parser.column_type().to_string();
            let shown = type_name_of(&kind).unwrap_or_else(|| panic!("{kind} has no name"));
            let pinned: Parser = shown.parse().unwrap();
            assert_eq!(
                pinned.column_type().to_string(),
                kind,
                "{name} is stored as {kind}, shown as {shown}"
            );
        }
    }
}
