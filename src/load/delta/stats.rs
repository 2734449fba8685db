//! An `add` action's `stats`, read from the data file's own Parquet footer: `numRecords`, and per
//! column `minValues`, `maxValues` and `nullCount`, which readers use to skip files.
//!
//! Bounds are only ever wider than the values: timestamps are written to the millisecond (the
//! minimum rounded down, the maximum up), a text minimum longer than 32 characters is cut (a
//! prefix sorts first), a longer maximum is left out, as are floats that are not finite, booleans
//! and lists (whose statistics readers do not use).

use std::path::Path;

use polars_parquet::parquet::statistics::Statistics;
use serde_json::{Map, Value};

use crate::error::{Error, Result};
use crate::load::manifest::ColumnRecord;
use crate::transform::calendar::{civil_from_days, format_day};

/// Text bounds longer than this are cut (the minimum) or left out (the maximum).
const TEXT_BOUND: usize = 32;

/// The stats of the Parquet file at `path`, whose columns are `schema`, as Delta's JSON text.
pub fn of_file(path: &Path, schema: &[ColumnRecord]) -> Result<String> {
    let mut file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let metadata = polars_parquet::parquet::read::read_metadata(&mut file)
        .map_err(|e| Error::Internal(format!("{}: not a Parquet file ({e})", path.display())))?;
    let (mut min, mut max, mut nulls) = (Map::new(), Map::new(), Map::new());
    for column in schema {
        let Some(bounds) = column_bounds(&metadata, column) else { continue };
        if let Some(n) = bounds.nulls {
            nulls.insert(column.name.clone(), Value::from(n));
        }
        if let Some(v) = bounds.min {
            min.insert(column.name.clone(), v);
        }
        if let Some(v) = bounds.max {
            max.insert(column.name.clone(), v);
        }
    }
    let stats = serde_json::json!({
        "numRecords": metadata.num_rows,
        "minValues": min,
        "maxValues": max,
        "nullCount": nulls,
    });
    Ok(stats.to_string())
}

/// One column's bounds over every row group.
#[derive(Debug, Default, PartialEq)]
struct Bounds {
    min: Option<Value>,
    max: Option<Value>,
    nulls: Option<i64>,
}

/// The column's bounds over the file's row groups: `None` for a list (or a column the file lacks).
fn column_bounds(
    metadata: &polars_parquet::parquet::metadata::FileMetadata,
    column: &ColumnRecord,
) -> Option<Bounds> {
    if column.kind.starts_with("List(") {
        return None;
    }
    let mut per_group = Vec::new();
    for group in &metadata.row_groups {
        let mut chunks = group.columns_under_root_iter(&column.name)?;
        let chunk = chunks.next()?;
        match chunk.statistics(&metadata.footer_buf) {
            Some(Ok(stats)) => per_group.push(Some((stats, chunk.num_values()))),
            _ => per_group.push(None),
        }
    }
    let mut bounds = Bounds { nulls: Some(0), ..Default::default() };
    let mut bounded = true;
    for stats in per_group {
        let Some((stats, values)) = stats else {
            return Some(Bounds::default());
        };
        let (nulls, lo, hi) = decoded(&stats);
        bounds.nulls = match (bounds.nulls, nulls) {
            (Some(a), Some(b)) => Some(a + b),
            _ => None,
        };
        match (lo, hi) {
            (Some(lo), Some(hi)) => {
                bounds.min = Some(match bounds.min.take() {
                    Some(m) if order(&m, &lo).is_le() => m,
                    _ => lo,
                });
                bounds.max = Some(match bounds.max.take() {
                    Some(m) if order(&m, &hi).is_ge() => m,
                    _ => hi,
                });
            }
            // A group of nulls only has no bounds, and widens none.
            _ if nulls == Some(values) => {}
            _ => bounded = false,
        }
    }
    if !bounded {
        bounds.min = None;
        bounds.max = None;
    }
    bounds.min = bounds.min.and_then(|v| finish(v, &column.kind, false));
    bounds.max = bounds.max.and_then(|v| finish(v, &column.kind, true));
    Some(bounds)
}

/// Orders two bounds of one column (numbers by value, texts by bytes).
fn order(a: &Value, b: &Value) -> std::cmp::Ordering {
    match (a, b) {
        (Value::String(a), Value::String(b)) => a.as_bytes().cmp(b.as_bytes()),
        (Value::Number(a), Value::Number(b)) => match (a.as_i64(), b.as_i64()) {
            (Some(a), Some(b)) => a.cmp(&b),
            _ => {
                let (a, b) = (a.to_string(), b.to_string());
                let (a, b) = (a.parse::<f64>().unwrap_or(0.0), b.parse::<f64>().unwrap_or(0.0));
                a.total_cmp(&b)
            }
        },
        _ => std::cmp::Ordering::Equal,
    }
}

/// A row group's null count and raw bounds (integers as numbers, texts as text, decimals as their
/// unscaled integer's text).
fn decoded(stats: &Statistics) -> (Option<i64>, Option<Value>, Option<Value>) {
    match stats {
        Statistics::Int64(s) => (s.null_count, s.min_value.map(Value::from), s.max_value.map(Value::from)),
        Statistics::Int32(s) => (s.null_count, s.min_value.map(Value::from), s.max_value.map(Value::from)),
        Statistics::Double(s) => {
            let finite = |v: Option<f64>| {
                v.filter(|v| v.is_finite()).and_then(serde_json::Number::from_f64).map(Value::Number)
            };
            (s.null_count, finite(s.min_value), finite(s.max_value))
        }
        Statistics::Float(s) => (s.null_count, None, None),
        Statistics::Boolean(s) => (s.null_count, None, None),
        Statistics::Binary(s) => {
            let text = |v: &Option<Vec<u8>>| {
                v.as_ref().and_then(|b| String::from_utf8(b.clone()).ok()).map(Value::String)
            };
            (s.null_count, text(&s.min_value), text(&s.max_value))
        }
        Statistics::FixedLen(s) => {
            let unscaled = |v: &Option<Vec<u8>>| {
                v.as_ref().filter(|b| b.len() <= 16).map(|b| {
                    let fill = if b.first().is_some_and(|x| x & 0x80 != 0) { 0xff } else { 0 };
                    let mut bytes = [fill; 16];
                    bytes[16 - b.len()..].copy_from_slice(b);
                    Value::String(i128::from_be_bytes(bytes).to_string())
                })
            };
            (s.null_count, unscaled(&s.min_value), unscaled(&s.max_value))
        }
        Statistics::Int96(s) => (s.null_count, None, None),
    }
}

/// A raw bound as Delta writes it for a column of `kind`; `None` where it is left out.
fn finish(value: Value, kind: &str, upper: bool) -> Option<Value> {
    match kind {
        "Int64" | "Float64" => Some(value),
        "Boolean" => None,
        "Date" => Some(Value::String(format_day(value.as_i64()? as i32))),
        "Datetime(us, UTC)" | "Datetime(us)" => {
            let micros = value.as_i64()?;
            let millis = if upper {
                micros.div_euclid(1000) + i64::from(micros.rem_euclid(1000) != 0)
            } else {
                micros.div_euclid(1000)
            };
            let zone = if kind == "Datetime(us)" { "" } else { "Z" };
            Some(Value::String(format!("{}{zone}", timestamp_millis(millis))))
        }
        "String" => {
            let text = value.as_str()?;
            match text.chars().count() {
                n if n <= TEXT_BOUND => Some(value),
                _ if upper => None,
                _ => Some(Value::String(text.chars().take(TEXT_BOUND).collect())),
            }
        }
        other if other.starts_with("Decimal(38, ") => {
            let scale: usize = other.strip_prefix("Decimal(38, ")?.strip_suffix(')')?.parse().ok()?;
            let unscaled = value.as_str()?;
            let (sign, digits) = match unscaled.strip_prefix('-') {
                Some(d) => ("-", d),
                None => ("", unscaled),
            };
            let digits = format!("{digits:0>width$}", width = scale + 1);
            let (int, frac) = digits.split_at(digits.len() - scale);
            let text = if scale == 0 { format!("{sign}{int}") } else { format!("{sign}{int}.{frac}") };
            serde_json::from_str(&text).ok()
        }
        _ => None,
    }
}

/// `2026-11-01T13:04:26.123` for milliseconds since the epoch.
fn timestamp_millis(millis: i64) -> String {
    let secs = millis.div_euclid(1000);
    let (days, s) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days as i32);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}",
        s / 3600,
        s / 60 % 60,
        s % 60,
        millis.rem_euclid(1000)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_are_written_as_delta_reads_them() {
        assert_eq!(finish(Value::from(20_393), "Date", false), Some(Value::from("2025-11-01")));
        // 2026-11-01T00:00:00.000500: the minimum rounds down, the maximum up.
        let micros = 1_793_491_200_000_500i64;
        assert_eq!(
            finish(Value::from(micros), "Datetime(us, UTC)", false),
            Some(Value::from("2026-11-01T00:00:00.000Z"))
        );
        assert_eq!(
            finish(Value::from(micros), "Datetime(us, UTC)", true),
            Some(Value::from("2026-11-01T00:00:00.001Z"))
        );
        assert_eq!(
            finish(Value::from(micros), "Datetime(us)", false),
            Some(Value::from("2026-11-01T00:00:00.000"))
        );
        assert_eq!(
            finish(Value::from("-12345"), "Decimal(38, 2)", false),
            Some(serde_json::from_str("-123.45").unwrap())
        );
        assert_eq!(
            finish(Value::from("5"), "Decimal(38, 3)", false),
            Some(serde_json::from_str("0.005").unwrap())
        );
        let long = "x".repeat(40);
        assert_eq!(finish(Value::from(long.clone()), "String", false), Some(Value::from("x".repeat(32))));
        assert_eq!(finish(Value::from(long), "String", true), None);
        assert_eq!(finish(Value::from(true), "Boolean", false), None);
    }
}
