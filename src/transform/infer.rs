//! Whole-source type inference: every value of a column votes, not a sample.
//!
//! Each column starts with every candidate type and loses a candidate at the first value that type
//! cannot parse; what is left at the end decides, in the order Int64, Decimal, Float64, Boolean, Date,
//! Datetime, else String. Parsers are those of [`super::values`], shared with the conversion.
//!
//! Once a column's candidates are exactly what its plan's parser accepts, converting a value and
//! voting with it are the same test: such a column votes by being converted (one parse per value, not
//! two), and only a value the parser refuses makes it vote value by value again.

use polars::prelude::{ChunkAgg, Column, DataType};
use rayon::prelude::*;

use super::convert::{convert_column, Converted};
use super::pins::{DecimalComma, NullTokens, Pins};
use super::types::{ColumnPlan, Parser};
use super::values::{
    parse_bool, parse_decimal_comma, parse_number, DateFormat, DatetimeFormat, Number, Zone,
};
use crate::batch::TextBatch;

const INT: u32 = 1;
const DECIMAL: u32 = 1 << 1;
const FLOAT: u32 = 1 << 2;
const BOOL: u32 = 1 << 3;
const NUMBERS: u32 = INT | DECIMAL | FLOAT;
/// One bit per date format, from bit 4; then one per timestamp format without offset, and one per
/// timestamp format with offsets.
const DATE0: u32 = 4;
const FORMATS: u32 = DateFormat::ALL.len() as u32;
const NAIVE0: u32 = DATE0 + FORMATS;
const OFFSET0: u32 = NAIVE0 + FORMATS;
const DATES: u32 = ((1 << FORMATS) - 1) << DATE0;
const DATETIMES: u32 = ((1 << (2 * FORMATS)) - 1) << NAIVE0;
const ALL: u32 = NUMBERS | BOOL | DATES | DATETIMES;
/// A number with a decimal comma (`1.234,50`): a candidate only where the source may write them.
const COMMA: u32 = 1 << (OFFSET0 + FORMATS);

const fn date_bit(i: usize) -> u32 {
    1 << (DATE0 + i as u32)
}
const fn naive_bit(i: usize) -> u32 {
    1 << (NAIVE0 + i as u32)
}
const fn offset_bit(i: usize) -> u32 {
    1 << (OFFSET0 + i as u32)
}

fn format_index(format: DateFormat) -> usize {
    DateFormat::ALL.iter().position(|f| *f == format).expect("listed")
}

/// The candidates a column keeps when its date format is given (`--date-format col=FMT`): numbers,
/// booleans, and dates and timestamps in that format only.
fn only_format(format: DateFormat) -> u32 {
    let i = format_index(format);
    NUMBERS | BOOL | date_bit(i) | naive_bit(i) | offset_bit(i)
}

/// What is known about one column after some of its values.
#[derive(Debug, Clone)]
pub struct ColumnInference {
    candidates: u32,
    non_null: u64,
    /// The value (and its line) that ruled out the last typed candidate.
    reason: Option<(u64, String)>,
    /// Whether values before the reason's had a type (a number column with one `12%`), rather than
    /// the first value being text.
    fell_back: bool,
    /// Whether a decimal-comma reading wins over a dot-decimal one that every value also fits.
    comma_first: bool,
}

impl Default for ColumnInference {
    fn default() -> Self {
        ColumnInference { candidates: ALL, non_null: 0, reason: None, fell_back: false, comma_first: false }
    }
}

impl ColumnInference {
    /// A column whose date format is known.
    pub fn with_date_format(format: DateFormat) -> Self {
        ColumnInference { candidates: only_format(format), ..Default::default() }
    }

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
        if c & NUMBERS != 0 {
            match parse_number(v) {
                // Beyond 2^53 a Float64 would round the integer.
                Number::Int(i) if i.unsigned_abs() > 1 << 53 => c &= !FLOAT,
                Number::Int(_) => {}
                Number::Big(_) => c &= !(INT | FLOAT),
                Number::Float(_) => c &= !(INT | DECIMAL),
                Number::No => c &= !NUMBERS,
            }
        }
        if c & COMMA != 0 && parse_decimal_comma(v).is_none() {
            c &= !COMMA;
        }
        if c & BOOL != 0 && parse_bool(v).is_none() {
            c &= !BOOL;
        }
        if c & (DATES | DATETIMES) != 0 {
            if !v[0].is_ascii_digit() {
                c &= !(DATES | DATETIMES);
            } else {
                for (i, format) in DateFormat::ALL.into_iter().enumerate() {
                    if c & date_bit(i) != 0 && format.parse(v).is_none() {
                        c &= !date_bit(i);
                    }
                    if c & (naive_bit(i) | offset_bit(i)) != 0 {
                        match (DatetimeFormat { date: format }).parse(v) {
                            Some(t) if t.has_offset => c &= !naive_bit(i),
                            Some(_) => c &= !offset_bit(i),
                            None => c &= !(naive_bit(i) | offset_bit(i)),
                        }
                    }
                }
            }
        }
        if c == 0 {
            self.reason = Some((line, String::from_utf8_lossy(v).into_owned()));
            // Typed values before it, or a typed value but for its spaces (`" 42 "`, first or not).
            self.fell_back = self.non_null > 1 || spaced(v);
        }
        self.candidates = c;
    }

    /// Whether converting values with `parser` votes as they would: the parser accepts a value exactly
    /// when the vote keeps `parser`'s type, and the candidates left beside it are ones that
    /// [`ColumnInference::converted`] can update from the converted column.
    fn votes_by_converting(&self, parser: Parser) -> bool {
        let c = self.candidates;
        match parser {
            // An integer keeps Decimal, and Float64 up to 2^53.
            Parser::Int => c & INT != 0 && c & !NUMBERS == 0,
            Parser::Decimal => c == DECIMAL,
            Parser::Float => c == FLOAT,
            Parser::Bool => c == BOOL,
            Parser::Date(format) => c == date_bit(format_index(format)),
            Parser::Datetime(format, Zone::Offset) => c == offset_bit(format_index(format.date)),
            Parser::Datetime(format, Zone::Naive) => c == naive_bit(format_index(format.date)),
            _ => false,
        }
    }

    /// Takes into account a batch's values that `parser` converted into `column` without a refusal,
    /// when [`ColumnInference::votes_by_converting`] allowed it.
    fn converted(&mut self, parser: Parser, column: &Column) {
        self.non_null += (column.len() - column.null_count()) as u64;
        if parser == Parser::Int && self.candidates & FLOAT != 0 && *column.dtype() == DataType::Int64 {
            let ints = column.as_materialized_series().i64().expect("an Int64 column");
            let beyond = |i: Option<i64>| i.is_some_and(|i| i.unsigned_abs() > 1 << 53);
            if beyond(ints.min()) || beyond(ints.max()) {
                self.candidates &= !FLOAT;
            }
        }
    }

    /// Lets the values of column `col` of `batch` vote one by one.
    fn observe_column(&mut self, nulls: &NullTokens, batch: &TextBatch, col: usize) {
        for row in 0..batch.len() {
            if self.candidates == 0 {
                break;
            }
            let v = batch.field(row, col);
            if !nulls.is_null(v) {
                self.observe(v, batch.line(row));
            }
        }
    }

    /// The parser for the column, given everything observed.
    pub fn resolve(&self) -> Parser {
        let c = self.candidates;
        if self.non_null == 0 {
            return Parser::Text;
        }
        if c & INT != 0 {
            return Parser::Int;
        }
        if c & DECIMAL != 0 {
            return Parser::Decimal;
        }
        if c & COMMA != 0 && (self.comma_first || c & FLOAT == 0) {
            return Parser::DecimalComma;
        }
        if c & FLOAT != 0 {
            return Parser::Float;
        }
        if c & BOOL != 0 {
            return Parser::Bool;
        }
        // In DateFormat::ALL's order: month-first wins over day-first when every value allows both.
        for (i, format) in DateFormat::ALL.into_iter().enumerate() {
            if c & date_bit(i) != 0 {
                return Parser::Date(format);
            }
        }
        for (i, format) in DateFormat::ALL.into_iter().enumerate() {
            if c & offset_bit(i) != 0 {
                return Parser::Datetime(DatetimeFormat { date: format }, Zone::Offset);
            }
            if c & naive_bit(i) != 0 {
                return Parser::Datetime(DatetimeFormat { date: format }, Zone::Naive);
            }
        }
        Parser::Text
    }

    /// Whether every slash date of the column reads both month-first and day-first (so month-first
    /// was a guess).
    pub fn ambiguous_day_month(&self) -> bool {
        let mdy = format_index(DateFormat::Mdy);
        let dmy = format_index(DateFormat::Dmy);
        let c = self.candidates;
        match self.resolve() {
            Parser::Date(DateFormat::Mdy) => c & date_bit(dmy) != 0,
            Parser::Datetime(DatetimeFormat { date: DateFormat::Mdy }, _) => {
                c & (naive_bit(dmy) | offset_bit(dmy)) != 0 && c & (naive_bit(mdy) | offset_bit(mdy)) != 0
            }
            _ => false,
        }
    }

    /// Why the column is String, when a value ruled out every other type.
    pub fn reason(&self) -> Option<&(u64, String)> {
        self.reason.as_ref()
    }

    /// The value that made a column of typed values text (its line and text), if one did.
    pub fn fallback(&self) -> Option<&(u64, String)> {
        self.reason.as_ref().filter(|_| self.fell_back)
    }
}

/// Whether `v` has spaces around a value of some type other than text (`" 42 "`).
pub fn spaced(v: &[u8]) -> bool {
    let trimmed = v.trim_ascii();
    if trimmed.len() == v.len() || trimmed.is_empty() {
        return false;
    }
    let mut alone = ColumnInference::default();
    alone.observe(trimmed, 0);
    alone.candidates != 0
}

/// A month-first date parser as its day-first twin (`03/04/2024` as 3 April).
fn day_first(parser: Parser) -> Parser {
    match parser {
        Parser::Date(DateFormat::Mdy) => Parser::Date(DateFormat::Dmy),
        Parser::Datetime(DatetimeFormat { date: DateFormat::Mdy }, zone) => {
            Parser::Datetime(DatetimeFormat { date: DateFormat::Dmy }, zone)
        }
        other => other,
    }
}

/// The vote of every value seen so far, column by column. Pinned columns do not vote.
#[derive(Debug, Clone)]
pub struct Inference {
    columns: Vec<String>,
    states: Vec<ColumnInference>,
    pinned: Vec<Option<Parser>>,
}

impl Inference {
    /// No value seen yet.
    pub fn new(columns: &[String], pins: &Pins) -> Self {
        Inference {
            columns: columns.to_vec(),
            states: columns
                .iter()
                .map(|c| {
                    let mut state = pins
                        .date_format(c)
                        .map_or_else(ColumnInference::default, ColumnInference::with_date_format);
                    match pins.decimal_comma() {
                        DecimalComma::Off => {}
                        DecimalComma::IfEveryValue => state.candidates |= COMMA,
                        DecimalComma::Always => {
                            state.candidates |= COMMA;
                            state.comma_first = true;
                        }
                    }
                    if pins.is_temporal(c) {
                        state.candidates &= DATES | DATETIMES;
                    }
                    state
                })
                .collect(),
            pinned: columns.iter().map(|c| pins.get(c)).collect(),
        }
    }

    /// Lets every value of `batch` vote (columns in parallel). `plans`, when given, must be the
    /// current vote ([`Inference::plans`]): a column whose vote its plan's conversion tells is converted
    /// instead, and returned (the others are `None`) for [`super::convert::convert_batch`].
    pub fn observe(
        &mut self,
        nulls: &NullTokens,
        batch: &TextBatch,
        plans: Option<&[ColumnPlan]>,
    ) -> Vec<Option<Converted>> {
        let pinned = &self.pinned;
        self.states
            .par_iter_mut()
            .enumerate()
            .map(|(col, state)| {
                if pinned[col].is_some() {
                    return None;
                }
                if let Some(plan) = plans.map(|p| &p[col]).filter(|p| state.votes_by_converting(p.parser)) {
                    // A refused value moves the vote off the plan: it votes value by value below, which
                    // names the line that moved it.
                    if let Ok(done) = convert_column(plan, batch, col, nulls) {
                        state.converted(plan.parser, &done.0);
                        return Some(done);
                    }
                }
                state.observe_column(nulls, batch, col);
                None
            })
            .collect()
    }

    /// The plan of every column given the values seen so far: pinned columns as pinned. Dates that
    /// read both ways are month first, unless the file writes decimal commas (European): day first.
    pub fn plans(&self) -> Vec<ColumnPlan> {
        let european = self.european();
        self.columns
            .iter()
            .zip(&self.states)
            .zip(&self.pinned)
            .map(|((name, state), pin)| ColumnPlan {
                name: name.clone(),
                trim: pin.is_some_and(|p| p != Parser::Text),
                parser: pin.unwrap_or_else(|| match european && state.ambiguous_day_month() {
                    true => day_first(state.resolve()),
                    false => state.resolve(),
                }),
            })
            .collect()
    }

    /// Whether some column reads with decimal commas (`1.234,50`): a European file, whose dates are
    /// day first.
    fn european(&self) -> bool {
        self.states
            .iter()
            .zip(&self.pinned)
            .any(|(state, pin)| pin.unwrap_or_else(|| state.resolve()) == Parser::DecimalComma)
    }

    /// The columns (not pinned) that their values made text though earlier ones had a type: name, line
    /// and the value (`Qty`, line 5, `" 42 "`), for the summary.
    pub fn fallbacks(&self) -> Vec<(String, u64, String)> {
        self.columns
            .iter()
            .zip(&self.states)
            .zip(&self.pinned)
            .filter(|((_, state), pin)| pin.is_none() && state.resolve() == Parser::Text)
            .filter_map(|((name, state), _)| {
                state.fallback().map(|(line, v)| (name.clone(), *line, v.clone()))
            })
            .collect()
    }

    /// Says (at `-v`) why a column is String, and warns about month-first guesses: once, when every
    /// value has voted.
    pub fn report(&self) {
        for ((name, state), pin) in self.columns.iter().zip(&self.states).zip(&self.pinned) {
            if pin.is_some() {
                continue;
            }
            if let (Parser::Text, Some((line, value))) = (state.resolve(), state.reason()) {
                tracing::info!(
                    "column `{name}` is String: line {line} has {value:?}, which fits no other type \
                     that its earlier values fit"
                );
            }
            if state.ambiguous_day_month() && self.european() {
                tracing::warn!(
                    "column `{name}`: every date reads both as month/day and as day/month; taken as \
                     day first (DD/MM/YYYY), as the file writes decimal commas. If that is wrong, pass \
                     --date-format '{name}=%m/%d/%Y'"
                );
            } else if state.ambiguous_day_month() {
                tracing::warn!(
                    "column `{name}`: every date reads both as month/day and as day/month; taken as \
                     month first (MM/DD/YYYY). If that is wrong, pass --date-format '{name}=%d/%m/%Y'"
                );
            }
        }
    }
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
            Parser::Datetime(DatetimeFormat::ISO, Zone::Offset)
        );
        assert_eq!(
            infer(&["2026-01-01 10:00:00", "2026-01-01T10:00"]),
            Parser::Datetime(DatetimeFormat::ISO, Zone::Naive)
        );
        // Mixing zoned and naive timestamps, or dates and timestamps, would need a guess: String.
        assert_eq!(infer(&["2026-01-01T10:00:00Z", "2026-01-01T10:00:00"]), Parser::Text);
        assert_eq!(infer(&["2026-01-01", "2026-01-01T10:00:00"]), Parser::Text);
        assert_eq!(infer(&["007", "12"]), Parser::Text);
        assert_eq!(infer(&["", ""]), Parser::Text);
        assert_eq!(infer(&["99999999999999999999"]), Parser::Decimal);
        assert_eq!(infer(&["99999999999999999999", "-1"]), Parser::Decimal);
        assert_eq!(infer(&["99999999999999999999", "1.5"]), Parser::Text);
        assert_eq!(infer(&["123456789012345678901234567890123456789"]), Parser::Text);
        // 2^53 + 1 cannot be a Float64 without rounding: with a float beside it, the column is text.
        assert_eq!(infer(&["9007199254740993", "1.5"]), Parser::Text);
        assert_eq!(infer(&["9007199254740993", "1"]), Parser::Int);
    }

    #[test]
    fn date_formats_and_their_order() {
        let date = Parser::Date;
        assert_eq!(infer(&["2026/1/2", "2026/12/31"]), date(DateFormat::YmdSlash));
        assert_eq!(infer(&["2026年1月2日"]), date(DateFormat::Japanese));
        assert_eq!(infer(&["1.2.2026", "31.12.2026"]), date(DateFormat::DmyDot));
        // A day past 12 proves the order; a column that proves both is text.
        assert_eq!(infer(&["01/02/2026", "13/04/2026"]), date(DateFormat::Dmy));
        assert_eq!(infer(&["01/02/2026", "12/31/2026"]), date(DateFormat::Mdy));
        assert_eq!(infer(&["13/02/2026", "12/31/2026"]), Parser::Text);
        // Ambiguous in every row: month first, flagged.
        let mut s = ColumnInference::default();
        for v in ["01/02/2026", "03/04/2026"] {
            s.observe(v.as_bytes(), 2);
        }
        assert_eq!(s.resolve(), date(DateFormat::Mdy));
        assert!(s.ambiguous_day_month());
        // Unless the format is given.
        let mut s = ColumnInference::with_date_format(DateFormat::Dmy);
        for v in ["01/02/2026", "03/04/2026"] {
            s.observe(v.as_bytes(), 2);
        }
        assert_eq!(s.resolve(), date(DateFormat::Dmy));
        assert!(!s.ambiguous_day_month());
        // Excel timestamps.
        assert_eq!(
            infer(&["1/2/2026 3:04 PM", "1/13/2026 10:00 AM"]),
            Parser::Datetime(DatetimeFormat { date: DateFormat::Mdy }, Zone::Naive)
        );
        assert_eq!(
            infer(&["2026/01/02 03:04:05+09:00"]),
            Parser::Datetime(DatetimeFormat { date: DateFormat::YmdSlash }, Zone::Offset)
        );
    }

    /// Votes `batches` of one-column rows twice: value by value, and converting while the vote is on
    /// the plan (as a pass does). Both must agree after every batch; returns the last vote and reason.
    fn vote_both_ways(batches: &[&[&str]]) -> (Parser, Option<(u64, String)>) {
        let columns = vec!["c".to_owned()];
        let nulls = NullTokens::standard();
        let (mut plain, mut fused) =
            (Inference::new(&columns, &Pins::none()), Inference::new(&columns, &Pins::none()));
        let mut plans: Option<Vec<ColumnPlan>> = None;
        let mut line = 2;
        for values in batches {
            let mut batch = TextBatch::new(1);
            for v in *values {
                batch.push([v.as_bytes()], line);
                line += 1;
            }
            plain.observe(&nulls, &batch, None);
            let on_plan = plans.as_ref().filter(|p| **p == fused.plans());
            let ready = fused.observe(&nulls, &batch, on_plan.map(Vec::as_slice));
            assert_eq!(plain.plans(), fused.plans(), "after {values:?}");
            assert_eq!(plain.states[0].candidates, fused.states[0].candidates, "after {values:?}");
            if ready[0].is_some() {
                assert_eq!(ready[0].as_ref().unwrap().0.len(), values.len());
            }
            plans.get_or_insert_with(|| fused.plans());
        }
        (fused.states[0].resolve(), fused.states[0].reason().cloned())
    }

    #[test]
    fn converting_votes_as_every_value_does() {
        assert_eq!(vote_both_ways(&[&["1", "2"], &["3", ""], &["4"]]).0, Parser::Int);
        // An integer past 2^53 converts, yet rules Float64 out for later.
        assert_eq!(vote_both_ways(&[&["1"], &["9007199254740993"], &["1.5"]]).0, Parser::Text);
        assert_eq!(vote_both_ways(&[&["1"], &["2"], &["1.5"]]).0, Parser::Float);
        assert_eq!(vote_both_ways(&[&["1.5"], &["2"], &["9007199254740993"]]).0, Parser::Text);
        assert_eq!(vote_both_ways(&[&["99999999999999999999"], &["1"]]).0, Parser::Decimal);
        assert_eq!(vote_both_ways(&[&["true"], &["NA", "false"]]).0, Parser::Bool);
        let (parser, reason) = vote_both_ways(&[&["2026-01-01"], &["2026-01-02", "soon"], &["later"]]);
        assert_eq!((parser, reason), (Parser::Text, Some((4, "soon".to_owned()))));
        let zoned = Parser::Datetime(DatetimeFormat::ISO, Zone::Offset);
        assert_eq!(vote_both_ways(&[&["2026-01-01T10:00:00Z"], &["2026-01-01T11:00:00+01:00"]]).0, zoned);
        assert_eq!(vote_both_ways(&[&["2026-01-01T10:00:00Z"], &["2026-01-01T11:00:00"]]).0, Parser::Text);
        // Both orders of day and month still open: voted value by value.
        let (parser, _) = vote_both_ways(&[&["01/02/2026"], &["03/04/2026"], &["13/04/2026"]]);
        assert_eq!(parser, Parser::Date(DateFormat::Dmy));
        // Empty in the first batch: String until a value says otherwise.
        assert_eq!(vote_both_ways(&[&[""], &["1"], &["2"]]).0, Parser::Int);
    }

    #[test]
    fn decimal_commas_win_where_the_source_may_write_them_and_every_value_agrees() {
        let vote = |mode: DecimalComma, values: &[&str]| {
            let columns = vec!["c".to_owned()];
            let mut inference = Inference::new(&columns, &Pins::none().with_decimal_comma(mode));
            let mut batch = TextBatch::new(1);
            for v in values {
                batch.push([v.as_bytes()], 2);
            }
            inference.observe(&NullTokens::standard(), &batch, None);
            inference.plans()[0].parser
        };
        let european = ["1.234,50", "12,5", "7", ""];
        assert_eq!(vote(DecimalComma::IfEveryValue, &european), Parser::DecimalComma);
        assert_eq!(vote(DecimalComma::Off, &european), Parser::Text);
        // Values a dot-decimal reading fits stay so, unless the source is said to use commas.
        assert_eq!(vote(DecimalComma::IfEveryValue, &["1.234", "2.5"]), Parser::Float);
        assert_eq!(vote(DecimalComma::IfEveryValue, &["1.234", "2.500"]), Parser::Float);
        assert_eq!(vote(DecimalComma::Always, &["1.234", "2.500"]), Parser::DecimalComma);
        assert_eq!(vote(DecimalComma::Always, &["1.5", "2,5"]), Parser::Text);
        assert_eq!(vote(DecimalComma::IfEveryValue, &["1", "2"]), Parser::Int);
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
