//! Typing: text batches in, typed polars frames out.
//!
//! [`types`] is the vocabulary (column types, parsers, plans); [`pins`] what users and sources say
//! about columns; [`values`] and [`calendar`] parse single values; [`columns`] is the stage itself
//! (the [`Transform`] trait and [`TypeColumns`]).
//! [`infer`] decides each column's type from every value of the column (one pass over the source);
//! [`convert`] then parses each batch with exactly that type's parser, so a value the inference saw can
//! never fail or turn silently into a null. Commands that know their source pin column types instead.

pub mod calendar;
pub mod columns;
pub mod convert;
pub mod infer;
pub mod pins;
pub mod types;
pub mod values;

pub use columns::{Transform, TypeColumns};
pub use pins::{parse_assignments, pins_from, DecimalComma, NullTokens, Pins, DEFAULT_NULL_VALUES};
pub use types::{ColumnPlan, ColumnType, ListOf, Parser, ROW_NUMBER_COLUMN};
