//! Whole-source type inference: every value of a column votes, not a sample.
//!
//! Each column starts with every candidate type and loses a candidate at the first value that type
//! cannot parse; what is left at the end decides, in the order Int64, Float64, Boolean, Date,
//! Datetime, else String. Parsers are those of [`super::values`], shared with the conversion.

use rayon::prelude::*;

use super::convert::{ColumnPlan, Parser};
use super::values::{parse_bool, parse_number, DateFormat, DatetimeFormat, Number, Zone};
use super::Pins;
use crate::error::Result;
use crate::extract::{BatchReader, TextBatch};

const INT: u8 = 1;
const FLOAT: u8 = 1 << 1;
const BOOL: u8 = 1 << 2;
const DATE: u8 = 1 << 3;
const DATETIME_NAIVE: u8 = 1 << 4;
const DATETIME_UTC: u8 = 1 << 5;
const ALL: u8 = INT | FLOAT | BOOL | DATE | DATETIME_NAIVE | DATETIME_UTC;

/// What is known about one column after some of its values.
#[derive(Debug, Clone)]
pub struct ColumnInference {
    candidates: u8,
    non_null: u64,
    /// The value (and its line) that ruled out the last typed candidate.
    reason: Option<(u64, String)>,
}

impl Default for ColumnInference {
    fn default() -> Self {
        ColumnInference { candidates: ALL, non_null: 0, reason: None }
    }
}

impl ColumnInference {
    /// Takes one value into account. Empty values are nulls and say nothing about the type.
    #[inline]
    pub fn observe(&mut self, v: &[u8], line: u64) {
        if v.is_empty() {
            return;
        }
        self.non_null += 1;
        let before = self.candidates;
        if before == 0 {
            return;
        }
        let mut c = before;
        if c & (INT | FLOAT) != 0 {
            match parse_number(v) {
                // Beyond 2^53 a Float64 would round the integer: it may only stay Int64.
                Number::Int(i) if i.unsigned_abs() > 1 << 53 => c &= !FLOAT,
                Number::Int(_) => {}
                Number::Float(_) => c &= !INT,
                Number::No => c &= !(INT | FLOAT),
            }
        }
        if c & BOOL != 0 && parse_bool(v).is_none() {
            c &= !BOOL;
        }
        if c & DATE != 0 && DateFormat::Iso.parse(v).is_none() {
            c &= !DATE;
        }
        if c & (DATETIME_NAIVE | DATETIME_UTC) != 0 {
            match DatetimeFormat::Iso.parse(v) {
                Some(t) if t.has_offset => c &= !DATETIME_NAIVE,
                Some(_) => c &= !DATETIME_UTC,
                None => c &= !(DATETIME_NAIVE | DATETIME_UTC),
            }
        }
        if c == 0 {
            self.reason = Some((line, String::from_utf8_lossy(v).into_owned()));
        }
        self.candidates = c;
    }

    /// The parser for the column, given everything observed.
    pub fn resolve(&self) -> Parser {
        let c = self.candidates;
        if self.non_null == 0 {
            Parser::Text
        } else if c & INT != 0 {
            Parser::Int
        } else if c & FLOAT != 0 {
            Parser::Float
        } else if c & BOOL != 0 {
            Parser::Bool
        } else if c & DATE != 0 {
            Parser::Date(DateFormat::Iso)
        } else if c & DATETIME_UTC != 0 {
            Parser::Datetime(DatetimeFormat::Iso, Zone::Offset)
        } else if c & DATETIME_NAIVE != 0 {
            Parser::Datetime(DatetimeFormat::Iso, Zone::Naive)
        } else {
            Parser::Text
        }
    }

    /// Why the column is String, when a value ruled out every other type.
    pub fn reason(&self) -> Option<&(u64, String)> {
        self.reason.as_ref()
    }
}

/// Reads the whole source once and returns a plan for every column: pinned columns as pinned, the
/// others inferred from all of their values.
pub fn infer_plans(
    reader: &mut dyn BatchReader,
    pins: &Pins,
    batch_rows: usize,
    mut on_batch: impl FnMut(u64),
) -> Result<Vec<ColumnPlan>> {
    let columns = reader.columns().to_vec();
    let mut states = vec![ColumnInference::default(); columns.len()];
    let pinned: Vec<bool> = columns.iter().map(|c| pins.get(c).is_some()).collect();
    let mut batch = TextBatch::new(columns.len());
    while reader.next_batch(&mut batch, batch_rows)? {
        observe_batch(&mut states, &pinned, &batch);
        on_batch(reader.bytes_read());
    }
    Ok(columns
        .into_iter()
        .zip(states)
        .map(|(name, state)| {
            let parser = pins.get(&name).unwrap_or_else(|| state.resolve());
            if let (Parser::Text, Some((line, value))) = (parser, state.reason()) {
                tracing::debug!(
                    "column `{name}` is String: line {line} has {value:?}, which fits no other type"
                );
            }
            ColumnPlan { name, parser }
        })
        .collect())
}

fn observe_batch(states: &mut [ColumnInference], skip: &[bool], batch: &TextBatch) {
    states.par_iter_mut().enumerate().for_each(|(col, state)| {
        if skip[col] {
            return;
        }
        for row in 0..batch.len() {
            if state.candidates == 0 {
                break;
            }
            state.observe(batch.field(row, col), batch.line(row));
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn infer(values: &[&str]) -> Parser {
        let mut s = ColumnInference::default();
        for (i, v) in values.iter().enumerate() {
            s.observe(v.as_bytes(), i as u64 + 2);
        }
        s.resolve()
    }

    #[test]
    fn every_value_votes() {
        let mut ints: Vec<&str> = vec!["1"; 100_000];
        assert_eq!(infer(&ints), Parser::Int);
        // A float on the last line makes the column Float64, text makes it String.
        ints.push("2.5");
        assert_eq!(infer(&ints), Parser::Float);
        ints.push("n/a?");
        assert_eq!(infer(&ints), Parser::Text);
    }

    #[test]
    fn types() {
        assert_eq!(infer(&["1", "", "-3"]), Parser::Int);
        assert_eq!(infer(&["1", "1e3"]), Parser::Float);
        assert_eq!(infer(&["true", "FALSE", ""]), Parser::Bool);
        assert_eq!(infer(&["0", "1"]), Parser::Int);
        assert_eq!(infer(&["2026-01-01", "2026-1-2"]), Parser::Date(DateFormat::Iso));
        assert_eq!(
            infer(&["2026-01-01T10:00:00Z", "2026-01-01T10:00:00.5+01:00"]),
            Parser::Datetime(DatetimeFormat::Iso, Zone::Offset)
        );
        assert_eq!(
            infer(&["2026-01-01 10:00:00", "2026-01-01T10:00"]),
            Parser::Datetime(DatetimeFormat::Iso, Zone::Naive)
        );
        // Mixing zoned and naive timestamps, or dates and timestamps, would need a guess: String.
        assert_eq!(infer(&["2026-01-01T10:00:00Z", "2026-01-01T10:00:00"]), Parser::Text);
        assert_eq!(infer(&["2026-01-01", "2026-01-01T10:00:00"]), Parser::Text);
        assert_eq!(infer(&["007", "12"]), Parser::Text);
        assert_eq!(infer(&["", ""]), Parser::Text);
        assert_eq!(infer(&["99999999999999999999"]), Parser::Text);
        // 2^53 + 1 cannot be a Float64 without rounding: with a float beside it, the column is text.
        assert_eq!(infer(&["9007199254740993", "1.5"]), Parser::Text);
        assert_eq!(infer(&["9007199254740993", "1"]), Parser::Int);
    }

    #[test]
    fn the_reason_names_the_first_offending_value() {
        let mut s = ColumnInference::default();
        s.observe(b"2026-01-01", 2);
        s.observe(b"soon", 3);
        s.observe(b"later", 4);
        assert_eq!(s.reason(), Some(&(3, "soon".to_owned())));
    }
}
