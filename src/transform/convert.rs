//! Turns a [`TextBatch`] into a typed polars [`DataFrame`] following one [`ColumnPlan`] per column.

use polars::prelude::*;
use rayon::prelude::*;

use super::pins::NullTokens;
use super::types::{ColumnPlan, ListOf, Parser, DECIMAL_PRECISION};
use super::values::{parse_bool, parse_decimal_comma, parse_fixed, parse_number, Number, Zone};
use crate::batch::{Kind, Native, TextBatch, Values};
use crate::error::{Error, Result};

/// Counts kept while converting: values that a parser deliberately turned into null.
pub type NullCounts = Vec<u64>;

/// Values of one column that did not fit; the caller adds the source name.
#[derive(Debug)]
pub struct BadValue {
    /// The first one's line, and what is wrong with it.
    pub line: u64,
    pub column: String,
    pub message: String,
    /// The column's index, and what its values must be (`an integer (Int64)`).
    pub col: usize,
    pub expected: String,
    /// Every row of the batch (0-based) whose value in this column does not fit.
    pub rows: Vec<usize>,
}

impl BadValue {
    /// The error with the source's name.
    pub fn into_error(self, source_name: &str) -> Error {
        Error::Value {
            source_name: source_name.to_owned(),
            line: self.line,
            column: self.column,
            message: self.message,
        }
    }
}

/// A column converted, and how many of its non-empty values were deliberately made null.
pub type Converted = (Column, u64);

/// Converts a batch, columns in parallel. Returns the frame and, per column, how many non-empty values
/// were deliberately made null (see [`Parser::Money`]).
///
/// `nulls` says, per column, what is null. `ready` holds columns of this batch converted already (by
/// the vote, see [`super::infer::Inference::observe`]); it may be shorter than `plans`. On failure,
/// every column's refused values, the earliest line first.
pub fn convert_batch(
    plans: &[ColumnPlan],
    batch: &TextBatch,
    nulls: &[NullTokens],
    mut ready: Vec<Option<Converted>>,
) -> Result<(DataFrame, NullCounts), Vec<BadValue>> {
    ready.resize_with(plans.len(), || None);
    let converted: Vec<Result<Converted, BadValue>> = plans
        .par_iter()
        .zip(ready)
        .enumerate()
        .map(|(col, (plan, ready))| match ready {
            Some(done) => Ok(done),
            None => convert_column(plan, batch, col, &nulls[col]),
        })
        .collect();
    let mut bad: Vec<BadValue> = Vec::new();
    let mut columns = Vec::with_capacity(plans.len());
    let mut coerced = Vec::with_capacity(plans.len());
    for result in converted {
        match result {
            Ok((column, n)) => {
                columns.push(column);
                coerced.push(n);
            }
            Err(b) => bad.push(b),
        }
    }
    if !bad.is_empty() {
        bad.sort_by_key(|b| b.line);
        return Err(bad);
    }
    let df = DataFrame::new(batch.len(), columns).expect("columns of one batch have equal lengths");
    Ok((df, coerced))
}

/// Converts column `col` of `batch`; `nulls` says what is null.
pub fn convert_column(
    plan: &ColumnPlan,
    batch: &TextBatch,
    col: usize,
    nulls: &NullTokens,
) -> Result<Converted, BadValue> {
    let name = PlSmallStr::from_str(&plan.name);
    let rows = 0..batch.len();
    let bad = |rows: Vec<usize>, what: &str| BadValue {
        line: batch.line(rows[0]),
        column: plan.name.clone(),
        message: format!("{:?} is not {what}", batch.text(rows[0], col)),
        col,
        expected: what.to_owned(),
        rows,
    };
    if let Some(native) = batch.native(col) {
        assert!(takes(plan.parser, native.kind), "typed values under a plan that does not take them");
        return Ok((native_series(name, native, plan.parser).into_column(), 0));
    }
    let mut coerced = 0u64;
    let series = match plan.parser {
        Parser::Text => StringChunked::from_iter_options(
            name,
            rows.map(|r| Some(batch.text(r, col)).filter(|v| !nulls.is_null(v.as_bytes()))),
        )
        .into_series(),
        Parser::Int => {
            collect_native::<Int64Type>(name, batch, col, nulls, plan.trim, |v| match parse_number(v) {
                Number::Int(i) => Some(i),
                _ => None,
            })
            .map_err(|r| bad(r, "an integer (Int64)"))?
            .into_series()
        }
        Parser::Decimal => {
            collect_native::<Int128Type>(name, batch, col, nulls, plan.trim, |v| match parse_number(v) {
                Number::Int(i) => Some(i128::from(i)),
                Number::Big(i) => Some(i),
                _ => None,
            })
            .map_err(|r| bad(r, "an integer of at most 38 digits (Decimal)"))?
            .into_decimal_unchecked(DECIMAL_PRECISION, 0)
            .into_series()
        }
        Parser::Fixed(scale) => {
            collect_native::<Int128Type>(name, batch, col, nulls, plan.trim, |v| parse_fixed(v, scale))
                .map_err(|r| {
                    bad(r, &format!("a number with at most {scale} decimals (Decimal(38, {scale}))"))
                })?
                .into_decimal_unchecked(DECIMAL_PRECISION, usize::from(scale))
                .into_series()
        }
        Parser::List(of) => {
            let mut refused = Vec::new();
            let mut builder: Box<dyn ListBuilderTrait> = match of {
                ListOf::Int64 => Box::new(ListPrimitiveChunkedBuilder::<Int64Type>::new(
                    name,
                    batch.len(),
                    batch.len() * 4,
                    DataType::Int64,
                )),
                ListOf::Float64 => Box::new(ListPrimitiveChunkedBuilder::<Float64Type>::new(
                    name,
                    batch.len(),
                    batch.len() * 4,
                    DataType::Float64,
                )),
                ListOf::Boolean => {
                    Box::new(ListBooleanChunkedBuilder::new(name, batch.len(), batch.len() * 4))
                }
                ListOf::String => {
                    Box::new(ListStringChunkedBuilder::new(name, batch.len(), batch.len() * 16))
                }
            };
            for row in 0..batch.len() {
                let v = batch.field(row, col);
                if nulls.is_null(v) {
                    builder.append_null();
                    continue;
                }
                match list_series(v, of) {
                    Some(items) => builder.append_series(&items).expect("elements of the list's type"),
                    None => {
                        refused.push(row);
                        builder.append_null();
                    }
                }
            }
            if !refused.is_empty() {
                return Err(bad(refused, &format!("a JSON array of {} values", of.element())));
            }
            builder.finish().into_series()
        }
        Parser::Float => {
            collect_native::<Float64Type>(name, batch, col, nulls, plan.trim, |v| match parse_number(v) {
                // Past 2^53 an integer would be rounded: inference never gets here, a pin refuses it.
                // `-0` (as PostgreSQL writes a float's negative zero) keeps its sign.
                Number::Int(0) if v.first() == Some(&b'-') => Some(-0.0),
                Number::Int(i) if i.unsigned_abs() <= 1 << 53 => Some(i as f64),
                Number::Float(f) => Some(f),
                Number::Int(_) | Number::Big(_) | Number::No => None,
            })
            .map_err(|r| bad(r, "a number (Float64)"))?
            .into_series()
        }
        Parser::DecimalComma => {
            collect_native::<Float64Type>(name, batch, col, nulls, plan.trim, parse_decimal_comma)
                .map_err(|r| bad(r, "a number with a decimal comma (1.234,50)"))?
                .into_series()
        }
        Parser::Bool => {
            let values =
                collect(batch, col, nulls, plan.trim, parse_bool).map_err(|r| bad(r, "true or false"))?;
            BooleanChunked::from_iter_options(name, values.into_iter()).into_series()
        }
        Parser::YesNo => {
            let values =
                collect(batch, col, nulls, plan.trim, parse_yes_no).map_err(|r| bad(r, "Yes or No"))?;
            BooleanChunked::from_iter_options(name, values.into_iter()).into_series()
        }
        Parser::Money => {
            let mut values = Vec::with_capacity(batch.len());
            let mut invalid = Vec::new();
            for r in 0..batch.len() {
                let v = batch.field(r, col);
                if nulls.is_null(v) {
                    values.push(None);
                    continue;
                }
                values.push(match parse_money(v) {
                    Money::Amount(a) => Some(a),
                    Money::Empty => None,
                    Money::NoCharge => {
                        coerced += 1;
                        None
                    }
                    Money::Invalid => {
                        invalid.push(r);
                        None
                    }
                });
            }
            if !invalid.is_empty() {
                return Err(bad(invalid, "an amount of money"));
            }
            Float64Chunked::from_iter_options(name, values.into_iter()).into_series()
        }
        Parser::Date(format) => {
            collect_native::<Int32Type>(name, batch, col, nulls, plan.trim, |v| format.parse(v))
                .map_err(|r| bad(r, &format!("a date ({})", format.pattern())))?
                .into_date()
                .into_series()
        }
        Parser::Datetime(format, zone) => {
            let utc = zone != Zone::Naive;
            collect_native::<Int64Type>(name, batch, col, nulls, plan.trim, |v| {
                format.parse(v).filter(|t| zone.accepts(t)).map(|t| t.micros)
            })
            .map_err(|r| bad(r, zone.expected()))?
            .into_datetime(TimeUnit::Microseconds, utc.then_some(TimeZone::UTC))
            .into_series()
        }
    };
    Ok((series.into_column(), coerced))
}

/// Whether `parser` makes of the text of values of `kind` exactly those values: then a column handed
/// over typed is taken as it is (else it is written as text first, see
/// [`TextBatch::write_natives_as_text`]).
pub fn takes(parser: Parser, kind: Kind) -> bool {
    use super::values::{DateFormat, DatetimeFormat};
    match kind {
        Kind::Int64 => parser == Parser::Int,
        Kind::Float64 => parser == Parser::Float,
        Kind::Boolean => parser == Parser::Bool,
        Kind::Date => parser == Parser::Date(DateFormat::Iso),
        Kind::Timestamp => parser == Parser::Datetime(DatetimeFormat::ISO, Zone::Naive),
        Kind::TimestampUtc => parser == Parser::Datetime(DatetimeFormat::ISO, Zone::Offset),
    }
}

/// A column handed over typed, as the values `parser` (one that [`takes`] them) would have made of
/// its text.
fn native_series(name: PlSmallStr, native: &Native, parser: Parser) -> Series {
    let validity = (native.nulls > 0).then(|| {
        let mask: polars_arrow::bitmap::MutableBitmap = native.valid.iter().copied().collect();
        polars_arrow::bitmap::Bitmap::from(mask)
    });
    match (&native.values, parser) {
        (Values::I64(v), Parser::Int) => {
            Int64Chunked::from_vec_validity(name, v.clone(), validity).into_series()
        }
        (Values::I64(v), Parser::Date(_)) => {
            let days = v.iter().map(|&d| d as i32).collect();
            Int32Chunked::from_vec_validity(name, days, validity).into_date().into_series()
        }
        (Values::I64(v), Parser::Datetime(_, zone)) => {
            Int64Chunked::from_vec_validity(name, v.clone(), validity)
                .into_datetime(TimeUnit::Microseconds, (zone != Zone::Naive).then_some(TimeZone::UTC))
                .into_series()
        }
        (Values::F64(v), Parser::Float) => {
            Float64Chunked::from_vec_validity(name, v.clone(), validity).into_series()
        }
        (Values::Bool(v), Parser::Bool) => {
            let values = polars_arrow::bitmap::Bitmap::from_iter(v.iter().copied());
            let array = polars_arrow::array::BooleanArray::new(ArrowDataType::Boolean, values, validity);
            BooleanChunked::with_chunk(name, array).into_series()
        }
        (values, parser) => unreachable!("{parser:?} values handed over as {values:?}"),
    }
}

/// The value at `row`, `col`; without surrounding spaces when `trim` (see [`ColumnPlan::trim`]).
fn field(batch: &TextBatch, row: usize, col: usize, trim: bool) -> &[u8] {
    let v = batch.field(row, col);
    if trim {
        v.trim_ascii()
    } else {
        v
    }
}

/// Parses every value of a column; empty is null; `Err(rows)`: every row whose value `parse` refuses.
fn collect<T>(
    batch: &TextBatch,
    col: usize,
    nulls: &NullTokens,
    trim: bool,
    parse: impl Fn(&[u8]) -> Option<T>,
) -> Result<Vec<Option<T>>, Vec<usize>> {
    let mut out = Vec::with_capacity(batch.len());
    let mut refused = Vec::new();
    for row in 0..batch.len() {
        let v = field(batch, row, col, trim);
        if nulls.is_null(v) {
            out.push(None);
        } else {
            let parsed = parse(v);
            if parsed.is_none() {
                refused.push(row);
            }
            out.push(parsed);
        }
    }
    if refused.is_empty() {
        Ok(out)
    } else {
        Err(refused)
    }
}

/// As [`collect`], into a numeric column: values and a validity mask built side by side (no
/// per-value builder; a column without nulls gets no mask).
fn collect_native<T: PolarsNumericType>(
    name: PlSmallStr,
    batch: &TextBatch,
    col: usize,
    nulls: &NullTokens,
    trim: bool,
    parse: impl Fn(&[u8]) -> Option<T::Native>,
) -> Result<ChunkedArray<T>, Vec<usize>> {
    let mut values: Vec<T::Native> = Vec::with_capacity(batch.len());
    let mut validity: Option<polars_arrow::bitmap::MutableBitmap> = None;
    let mut refused = Vec::new();
    for row in 0..batch.len() {
        let v = field(batch, row, col, trim);
        let parsed = if nulls.is_null(v) {
            None
        } else {
            let parsed = parse(v);
            if parsed.is_none() {
                refused.push(row);
            }
            parsed
        };
        match parsed {
            Some(x) => {
                values.push(x);
                if let Some(mask) = &mut validity {
                    mask.push(true);
                }
            }
            None => {
                values.push(T::Native::default());
                validity
                    .get_or_insert_with(|| {
                        let mut mask = polars_arrow::bitmap::MutableBitmap::with_capacity(batch.len());
                        mask.extend_constant(row, true);
                        mask
                    })
                    .push(false);
            }
        }
    }
    if !refused.is_empty() {
        return Err(refused);
    }
    Ok(ChunkedArray::from_vec_validity(name, values, validity.map(Into::into)))
}

/// A JSON array's elements as a series of the list's element type; `None` when it is not an array
/// of such values (`null` elements are null).
fn list_series(v: &[u8], of: ListOf) -> Option<Series> {
    use serde_json::Value;
    let items: Vec<Value> = serde_json::from_slice(v).ok()?;
    let name = PlSmallStr::EMPTY;
    Some(match of {
        ListOf::Int64 => {
            let values: Option<Vec<Option<i64>>> =
                items.iter().map(|i| if i.is_null() { Some(None) } else { i.as_i64().map(Some) }).collect();
            Int64Chunked::from_iter_options(name, values?.into_iter()).into_series()
        }
        ListOf::Float64 => {
            let values: Option<Vec<Option<f64>>> = items
                .iter()
                .map(|i| match i {
                    Value::Null => Some(None),
                    Value::Number(n) => n.to_string().parse().ok().map(Some),
                    // PostgreSQL writes these floats as strings in JSON.
                    Value::String(s) if matches!(s.as_str(), "NaN" | "Infinity" | "-Infinity") => {
                        s.parse::<f64>().ok().map(Some)
                    }
                    _ => None,
                })
                .collect();
            Float64Chunked::from_iter_options(name, values?.into_iter()).into_series()
        }
        ListOf::Boolean => {
            let values: Option<Vec<Option<bool>>> =
                items.iter().map(|i| if i.is_null() { Some(None) } else { i.as_bool().map(Some) }).collect();
            BooleanChunked::from_iter_options(name, values?.into_iter()).into_series()
        }
        ListOf::String => {
            let values: Option<Vec<Option<String>>> = items
                .iter()
                .map(|i| match i {
                    Value::Null => Some(None),
                    Value::String(s) => Some(Some(s.clone())),
                    Value::Array(_) => None,
                    other => Some(Some(other.to_string())),
                })
                .collect();
            StringChunked::from_iter_options(name, values?.into_iter()).into_series()
        }
    })
}

fn parse_yes_no(v: &[u8]) -> Option<bool> {
    if v.eq_ignore_ascii_case(b"yes") {
        Some(true)
    } else if v.eq_ignore_ascii_case(b"no") {
        Some(false)
    } else {
        parse_bool(v)
    }
}

/// What a money field holds.
#[derive(Debug, PartialEq)]
pub enum Money {
    Amount(f64),
    Empty,
    /// `Included`, `Free` or `-`: no charge, kept as null (a sum over the column stays right).
    NoCharge,
    Invalid,
}

/// Parses `$1,234.50`, `-$3`, `0.42`; `Included`, `Free`, `-` and empty are no amount.
pub fn parse_money(v: &[u8]) -> Money {
    let v = v.trim_ascii();
    if v.is_empty() {
        return Money::Empty;
    }
    if v == b"-" || v.eq_ignore_ascii_case(b"included") || v.eq_ignore_ascii_case(b"free") {
        return Money::NoCharge;
    }
    let (negative, rest) = match v.strip_prefix(b"-") {
        Some(r) => (true, r),
        None => (false, v),
    };
    let rest = rest.strip_prefix(b"$").unwrap_or(rest);
    let Ok(text) = std::str::from_utf8(rest) else { return Money::Invalid };
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    // Commas only as thousands separators: `1,234.5`, never `0,42` or `1.234,56`.
    let mut groups = whole.split(',');
    let first = groups.next().unwrap_or("");
    let grouped = groups.all(|g| g.len() == 3) && (!whole.contains(',') || (1..=3).contains(&first.len()));
    let digits_only = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if !grouped
        || !digits_only(&whole.replace(',', ""))
        || !digits_only(fraction)
        || whole.is_empty() && fraction.is_empty()
    {
        return Money::Invalid;
    }
    match format!("{}.{fraction}", whole.replace(',', "")).trim_end_matches('.').parse::<f64>() {
        Ok(f) if f.is_finite() => Money::Amount(if negative { -f } else { f }),
        _ => Money::Invalid,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transform::values::DatetimeFormat;

    #[test]
    fn money() {
        assert_eq!(parse_money(b"$1,234.50"), Money::Amount(1234.5));
        assert_eq!(parse_money(b"0.42"), Money::Amount(0.42));
        assert_eq!(parse_money(b"-$3"), Money::Amount(-3.0));
        assert_eq!(parse_money(b"Included"), Money::NoCharge);
        assert_eq!(parse_money(b"free"), Money::NoCharge);
        assert_eq!(parse_money(b"-"), Money::NoCharge);
        assert_eq!(parse_money(b""), Money::Empty);
        assert_eq!(parse_money(b"ten dollars"), Money::Invalid);
        assert_eq!(parse_money(b"$--1"), Money::Invalid);
        assert_eq!(parse_money(b"$1,234,567"), Money::Amount(1_234_567.0));
        assert_eq!(parse_money(b".5"), Money::Amount(0.5));
        for bad in ["0,42", "1.234,56", "12,34", "1,2345", ",123", "$", "1.2.3"] {
            assert_eq!(parse_money(bad.as_bytes()), Money::Invalid, "{bad}");
        }
    }

    #[test]
    fn converts_a_batch_and_reports_the_line_of_a_bad_value() {
        let mut batch = TextBatch::new(3);
        batch.push([&b"1"[..], b"2026-10-31T23:59:31.601Z", b"$1.50"], 2);
        batch.push([&b""[..], b"2026-11-01T00:00:00Z", b"Included"], 3);
        let plans = vec![
            ColumnPlan { name: "n".into(), parser: Parser::Int, trim: false },
            ColumnPlan {
                name: "t".into(),
                parser: Parser::Datetime(DatetimeFormat::ISO, Zone::Offset),
                trim: false,
            },
            ColumnPlan { name: "c".into(), parser: Parser::Money, trim: false },
        ];
        let nulls = vec![NullTokens::standard(); 3];
        let (df, coerced) = convert_batch(&plans, &batch, &nulls, Vec::new()).unwrap();
        assert_eq!(df.height(), 2);
        assert_eq!(coerced, vec![0, 0, 1]);
        assert_eq!(
            df.schema().get("t"),
            Some(&DataType::Datetime(TimeUnit::Microseconds, Some(TimeZone::UTC)))
        );
        assert_eq!(df.column("n").unwrap().i64().unwrap().get(1), None);
        assert_eq!(df.column("c").unwrap().f64().unwrap().get(0), Some(1.5));

        batch.push([&b"NA"[..], b"", b"N/A"], 4);
        assert!(convert_batch(&plans, &batch, &nulls, Vec::new()).is_ok(), "null tokens are nulls");
        batch.push([&b"x"[..], b"", b"?"], 5);
        batch.push([&b"1"[..], b"", b"oops"], 6);
        let err = convert_batch(&plans, &batch, &nulls, Vec::new()).unwrap_err();
        // Every column's refusals, the earliest line first.
        let found: Vec<(u64, &str, Vec<usize>)> =
            err.iter().map(|b| (b.line, b.column.as_str(), b.rows.clone())).collect();
        assert!(
            found == [(5, "n", vec![3]), (5, "c", vec![3, 4])]
                || found == [(5, "c", vec![3, 4]), (5, "n", vec![3])]
        );
    }
}
