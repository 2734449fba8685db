//! Splitting typed rows by partition: pure, no I/O.

use polars::prelude::*;
use std::collections::HashMap;

use super::layout::Partition;
use crate::error::{Error, Result};
use crate::transform::values::{DateFormat, DatetimeFormat};
use crate::transform::{calendar::day_of_micros, ColumnPlan, ColumnType};

/// Checks, before any row is read twice, that `column` exists and holds days or timestamps.
pub fn check_partition_column(plans: &[ColumnPlan], column: &str) -> Result<()> {
    let Some(plan) = plans.iter().find(|p| p.name == column) else {
        let names: Vec<&str> = plans.iter().map(|p| p.name.as_str()).collect();
        return Err(Error::Partition {
            column: column.to_owned(),
            message: format!(
                "no such column{}; the columns are: {}",
                crate::suggest::did_you_mean(column, names.iter().copied()),
                names.join(", ")
            ),
        });
    };
    match plan.parser.column_type() {
        ColumnType::Date | ColumnType::Datetime { .. } => Ok(()),
        // Dates beside timestamps (or text): kept as the text it is, each row in the day its value
        // names; a value that names none is refused when its row is split.
        ColumnType::String => {
            tracing::info!(
                "partition column `{column}` is String (its values mix dates and timestamps, or hold \
                 text): each row goes to the day its value names"
            );
            Ok(())
        }
        other => Err(Error::Partition {
            column: column.to_owned(),
            message: format!(
                "its values were read as {other}, not as dates or timestamps; every non-empty value \
                 must be a date (YYYY-MM-DD) or an ISO 8601 timestamp (run with -v to see the first \
                 value that is not)"
            ),
        }),
    }
}

/// The day a text value names: an ISO date, or the UTC day of an ISO 8601 timestamp (the day as
/// written, when it has no offset).
fn day_of_text(text: &str) -> Option<i32> {
    let v = text.trim().as_bytes();
    DateFormat::Iso.parse(v).or_else(|| DatetimeFormat::ISO.parse(v).map(|t| day_of_micros(t.micros)))
}

/// The partition of every row: the UTC day of the column's value, or [`Partition::Null`].
pub fn partition_of_rows(df: &DataFrame, column: &str) -> Result<Vec<Partition>> {
    let col = df.column(column)?.as_materialized_series();
    let physical = col.to_physical_repr();
    Ok(match col.dtype() {
        DataType::Date => physical.i32()?.iter().map(|d| d.map_or(Partition::Null, Partition::Day)).collect(),
        DataType::Datetime(TimeUnit::Microseconds, _) => physical
            .i64()?
            .iter()
            .map(|t| t.map_or(Partition::Null, |us| Partition::Day(day_of_micros(us))))
            .collect(),
        DataType::String => {
            let texts = physical.str()?;
            let keys = texts
                .iter()
                .map(|v| match v {
                    None => Some(Partition::Null),
                    Some(text) => day_of_text(text).map(Partition::Day),
                })
                .collect::<Option<Vec<_>>>();
            match keys {
                Some(keys) => keys,
                None => return Err(not_a_day(column, texts)),
            }
        }
        other => {
            return Err(Error::Partition {
                column: column.to_owned(),
                message: format!("type {other} cannot give a day"),
            })
        }
    })
}

/// The error of a text partition column with a value that names no day: a usage error when none of
/// its values names one (the column is not a date: `--partition-col User` of e-mail addresses), a
/// failed run naming the value otherwise (`soon` among dates).
fn not_a_day(column: &str, texts: &StringChunked) -> Error {
    let first_bad = texts.iter().flatten().find(|t| day_of_text(t).is_none()).unwrap_or_default();
    let shown = crate::redact::printable(first_bad);
    if texts.iter().flatten().all(|t| day_of_text(t).is_none()) {
        return Error::Usage(format!(
            "partition column `{column}` is not a date or timestamp column (a value: `{shown}`); \
             --partition-col takes a column of dates (YYYY-MM-DD) or ISO 8601 timestamps"
        ));
    }
    Error::Partition {
        column: column.to_owned(),
        message: format!(
            "the value `{shown}` is neither a date (YYYY-MM-DD) nor an ISO 8601 timestamp, so it names \
             no day to partition by; fix it at the source, or name it in --null-values if it means no value"
        ),
    }
}

/// Splits `df` into one frame per partition, in order of first appearance; rows keep source order.
pub fn split_by_partition(df: DataFrame, keys: &[Partition]) -> Result<Vec<(Partition, DataFrame)>> {
    let Some(&first) = keys.first() else { return Ok(vec![]) };
    if keys.iter().all(|&k| k == first) {
        return Ok(vec![(first, df)]);
    }
    let mut order: Vec<(Partition, Vec<IdxSize>)> = Vec::new();
    let mut index: HashMap<Partition, usize> = HashMap::new();
    // Rows of one day usually come in runs: the previous row's slot is tried first.
    let mut last = (first, 0);
    for (row, &key) in keys.iter().enumerate() {
        let slot = if row > 0 && key == last.0 {
            last.1
        } else {
            *index.entry(key).or_insert_with(|| {
                order.push((key, Vec::new()));
                order.len() - 1
            })
        };
        last = (key, slot);
        order[slot].1.push(row as IdxSize);
    }
    order
        .into_iter()
        .map(|(key, rows)| {
            let (start, len) = (rows[0] as usize, rows.len());
            let contiguous = rows[len - 1] as usize == start + len - 1;
            let part = if contiguous {
                df.slice(start as i64, len)
            } else {
                df.take(&IdxCa::from_vec(PlSmallStr::EMPTY, rows))?
            };
            Ok((key, part))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_keep_source_order_and_first_appearance() {
        let df = df!("v" => [1i64, 2, 3, 4, 5]).unwrap();
        let keys =
            [Partition::Day(2), Partition::Day(1), Partition::Day(2), Partition::Null, Partition::Day(1)];
        let parts = split_by_partition(df, &keys).unwrap();
        let got: Vec<(Partition, Vec<i64>)> = parts
            .iter()
            .map(|(k, df)| (*k, df.column("v").unwrap().i64().unwrap().into_no_null_iter().collect()))
            .collect();
        assert_eq!(
            got,
            vec![
                (Partition::Day(2), vec![1, 3]),
                (Partition::Day(1), vec![2, 5]),
                (Partition::Null, vec![4]),
            ]
        );
    }

    #[test]
    fn days_come_from_utc_timestamps() {
        let micros = Int64Chunked::from_iter_options(
            "t".into(),
            [Some(86_400_000_000i64 - 1), Some(86_400_000_000), None].into_iter(),
        )
        .into_datetime(TimeUnit::Microseconds, Some(TimeZone::UTC));
        let df = DataFrame::new(3, vec![micros.into_series().into_column()]).unwrap();
        assert_eq!(
            partition_of_rows(&df, "t").unwrap(),
            vec![Partition::Day(0), Partition::Day(1), Partition::Null]
        );
    }

    #[test]
    fn a_column_of_dates_and_timestamps_partitions_by_the_day_each_names() {
        let values = ["1970-01-02", "1970-01-01T23:30:00-01:00", "1970-01-01 10:00", ""];
        let text = StringChunked::from_iter_options(
            "t".into(),
            values.map(|v| (!v.is_empty()).then_some(v)).into_iter(),
        );
        let df = DataFrame::new(4, vec![text.into_series().into_column()]).unwrap();
        let days = partition_of_rows(&df, "t").unwrap();
        assert_eq!(days, [Partition::Day(1), Partition::Day(1), Partition::Day(0), Partition::Null]);
        let text =
            StringChunked::from_iter_options("t".into(), [Some("1970-01-01"), Some("soon")].into_iter());
        let df = DataFrame::new(2, vec![text.into_series().into_column()]).unwrap();
        let e = partition_of_rows(&df, "t").unwrap_err().to_string();
        assert!(e.contains("`soon` is neither a date"), "{e}");
    }
}
