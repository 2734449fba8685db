//! Upsert by primary key (`--mode upsert --primary-key COL[,COL...]`): afterwards the dataset holds,
//! for each key, exactly one row, the newest run's.
//!
//! The run's rows are staged as any load's, by partition, each with its place in the source
//! ([`ROW_COLUMN`]). [`combine`] then, under the dataset's lock:
//! 1. picks each key's row of this run: the last in the source, or the one with the highest
//!    `--dedup-by` value (the last among equals), holding one entry per distinct key of the run;
//! 2. reads the key columns only of every data file of the dataset, file by file, and notes the
//!    files that hold one of those keys (the dataset's own keys are never all held at once);
//! 3. rewrites the partitions that gain, lose or change rows: their rows whose key this run brings
//!    go, this run's rows for them are added after the others. A partition left with no row is
//!    emptied (its files go); the other partitions are not touched.
//!
//! The rewritten files replace their partitions as a merge's would, through the same journaled
//! publish; a rewrite that comes out byte for byte the same is left in place.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use polars::prelude::*;

use super::layout::Partition;
use super::parquet::{PartitionedWriter, WriterOptions};
use super::staged::StagedDataset;
use crate::error::{Error, Result};
use crate::store::ObjectStore;

/// The staged column holding each row's place in the source (never published).
pub const ROW_COLUMN: &str = "__etl_row";

pub use crate::summary::Upserted;

/// The key columns and how one run's rows of a key are chosen.
#[derive(Debug, Clone)]
pub struct Key {
    pub columns: Vec<String>,
    pub dedup_by: Option<String>,
}

/// This run's row for a key.
struct Winner {
    row: u64,
    partition: Partition,
    order: Option<AnyValue<'static>>,
    /// The partition the dataset held the key in, if it did.
    found: Option<Partition>,
}

/// Turns `staged` (this run's rows, with [`ROW_COLUMN`]) into the files that replace the partitions
/// the upsert changes, reading the dataset's files from `store`; `schema` is the output's.
pub async fn combine(
    store: &dyn ObjectStore,
    mut staged: StagedDataset,
    key: &Key,
    schema: &Schema,
    options: WriterOptions,
) -> Result<StagedDataset> {
    let Some(first) = staged.files.first() else {
        staged.upserted = Some(Upserted::default());
        return Ok(staged);
    };
    let folder = first.path.parent().expect("a staged file is in a folder").join("upsert");
    let downloads = folder.join("dataset");
    std::fs::create_dir_all(&downloads).map_err(|e| Error::io(&downloads, e))?;
    let dataset = staged.dataset.clone();

    // 1. This run's row for each key.
    let mut winners: HashMap<Vec<u8>, Winner> = HashMap::new();
    let mut rows = 0u64;
    for file in &staged.files {
        let df = read(&file.path, None)?;
        let keys = row_keys(&df, &key.columns)?;
        let numbers = df.column(ROW_COLUMN).map_err(polars_error)?.u64().map_err(polars_error)?.clone();
        let order = key.dedup_by.as_ref().map(|c| df.column(c).map_err(polars_error)).transpose()?;
        for (i, k) in keys.into_iter().enumerate() {
            rows += 1;
            let row = numbers.get(i).expect("a row number");
            let value = order.map(|c| c.get(i).map(|v| v.into_static()).map_err(polars_error)).transpose()?;
            let candidate = Winner { row, partition: file.partition, order: value, found: None };
            match winners.get_mut(&k) {
                Some(held) if later(&candidate, held) => *held = candidate,
                Some(_) => {}
                None => {
                    winners.insert(k, candidate);
                }
            }
        }
    }

    // 2. The dataset's files that hold one of those keys, read by their key columns only.
    let existing: Vec<(String, Partition)> = store
        .list(&dataset.prefix())
        .await?
        .into_iter()
        .filter_map(|o| dataset.part_of_key(&o.key).map(|(p, _)| (o.key, p)))
        .collect();
    let mut holding: BTreeSet<Partition> = BTreeSet::new();
    let mut old_files: BTreeMap<Partition, Vec<(String, PathBuf)>> = BTreeMap::new();
    for (n, (object, partition)) in existing.iter().enumerate() {
        let path = downloads.join(format!("{n}.parquet"));
        store.get_to_file(object, &path).await?;
        let df = read(&path, Some(&key.columns)).map_err(|e| unreadable(object, e))?;
        let mut hit = false;
        for k in row_keys(&df, &key.columns)? {
            if let Some(w) = winners.get_mut(&k) {
                hit = true;
                if w.found.is_none() || w.found != Some(w.partition) {
                    w.found = Some(*partition);
                }
            }
        }
        if hit {
            holding.insert(*partition);
        }
        old_files.entry(*partition).or_default().push((object.clone(), path));
    }

    // 3. The partitions that change, rewritten.
    let mut affected = holding;
    affected.extend(staged.files.iter().map(|f| f.partition));
    let mut counts = Upserted { superseded: rows - winners.len() as u64, ..Default::default() };
    for w in winners.values() {
        match w.found {
            None => counts.inserted += 1,
            Some(p) => {
                counts.updated += 1;
                counts.moved += u64::from(p != w.partition);
            }
        }
    }
    let out = folder.join("files");
    std::fs::create_dir_all(&out).map_err(|e| Error::io(&out, e))?;
    let mut writer = PartitionedWriter::new(dataset.clone(), &out, schema.clone(), options, BTreeMap::new());
    let mut emptied = Vec::new();
    for partition in &affected {
        let mut written = 0;
        // The partition's other rows first, as they were (a file without any of the keys is kept
        // whole; it is still rewritten, as the partition's files are one set).
        for (object, path) in old_files.get(partition).map(Vec::as_slice).unwrap_or_default() {
            let df = read(path, None).map_err(|e| unreadable(object, e))?;
            let keys = row_keys(&df, &key.columns)?;
            let keep: BooleanChunked = keys.iter().map(|k| !winners.contains_key(k)).collect();
            let kept = df.filter(&keep).map_err(polars_error)?;
            let kept = conform(kept, schema).map_err(|e| unreadable(object, e))?;
            written += kept.height();
            writer.write(*partition, kept)?;
        }
        for file in staged.files.iter().filter(|f| f.partition == *partition) {
            let df = read(&file.path, None)?;
            let keys = row_keys(&df, &key.columns)?;
            let numbers = df.column(ROW_COLUMN).map_err(polars_error)?.u64().map_err(polars_error)?.clone();
            let keep: BooleanChunked = keys
                .iter()
                .zip(numbers.into_no_null_iter())
                .map(|(k, row)| winners.get(k).is_some_and(|w| w.row == row))
                .collect();
            let kept = df.filter(&keep).map_err(polars_error)?.drop(ROW_COLUMN).map_err(polars_error)?;
            written += kept.height();
            writer.write(*partition, kept)?;
        }
        if written == 0 {
            emptied.push(*partition);
        }
    }
    counts.partitions = affected.len();
    let _ = std::fs::remove_dir_all(&downloads);
    staged.files = writer.finish(staged.partitioned)?;
    staged.emptied = emptied;
    staged.upserted = Some(counts);
    Ok(staged)
}

/// Whether `candidate`, a row of this run, wins over `held` for their key: the highest `--dedup-by`
/// value (null lowest), then the later row in the source.
fn later(candidate: &Winner, held: &Winner) -> bool {
    use std::cmp::Ordering;
    let by_value = match (&candidate.order, &held.order) {
        (Some(a), Some(b)) => match (a.is_null(), b.is_null()) {
            (true, true) => Ordering::Equal,
            (true, false) => Ordering::Less,
            (false, true) => Ordering::Greater,
            (false, false) => a.partial_cmp(b).unwrap_or(Ordering::Equal),
        },
        _ => Ordering::Equal,
    };
    by_value.then(candidate.row.cmp(&held.row)) == Ordering::Greater
}

/// Each row's key, as bytes that are equal exactly when the key columns' values are (a null never
/// equals anything: this run's keys have none).
pub fn row_keys(df: &DataFrame, columns: &[String]) -> Result<Vec<Vec<u8>>> {
    let mut keys = vec![Vec::new(); df.height()];
    for name in columns {
        let column = df.column(name).map_err(polars_error)?;
        let series = column.as_materialized_series().to_physical_repr();
        let series = match series.dtype() {
            DataType::String
            | DataType::Int64
            | DataType::Int32
            | DataType::UInt64
            | DataType::UInt32
            | DataType::Boolean
            | DataType::Float64 => series.into_owned(),
            _ => series.cast(&DataType::String).map_err(polars_error)?,
        };
        macro_rules! encode {
            ($values:expr, $bytes:expr) => {
                for (k, v) in keys.iter_mut().zip($values.iter()) {
                    match v {
                        Some(v) => {
                            k.push(1);
                            k.extend_from_slice(&$bytes(v));
                        }
                        None => k.extend_from_slice(&[0, 0xff]),
                    }
                }
            };
        }
        match series.dtype() {
            DataType::String => {
                for (k, v) in keys.iter_mut().zip(series.str().map_err(polars_error)?.iter()) {
                    match v {
                        Some(v) => {
                            k.push(1);
                            k.extend_from_slice(&(v.len() as u64).to_le_bytes());
                            k.extend_from_slice(v.as_bytes());
                        }
                        None => k.extend_from_slice(&[0, 0xff]),
                    }
                }
            }
            DataType::Int64 => encode!(series.i64().map_err(polars_error)?, |v: i64| v.to_le_bytes()),
            DataType::Int32 => encode!(series.i32().map_err(polars_error)?, |v: i32| v.to_le_bytes()),
            DataType::UInt64 => encode!(series.u64().map_err(polars_error)?, |v: u64| v.to_le_bytes()),
            DataType::UInt32 => encode!(series.u32().map_err(polars_error)?, |v: u32| v.to_le_bytes()),
            DataType::Boolean => encode!(series.bool().map_err(polars_error)?, |v: bool| [u8::from(v)]),
            DataType::Float64 => {
                // -0.0 and 0.0 are one key.
                encode!(series.f64().map_err(polars_error)?, |v: f64| (v + 0.0).to_bits().to_le_bytes())
            }
            other => return Err(Error::Internal(format!("a key column of type {other}"))),
        }
    }
    Ok(keys)
}

/// A Parquet file's rows (only `columns`, when given).
fn read(path: &Path, columns: Option<&[String]>) -> Result<DataFrame> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    ParquetReader::new(file).with_columns(columns.map(<[String]>::to_vec)).finish().map_err(polars_error)
}

/// The dataset's rows in the output's columns: a column added since is null for them.
fn conform(df: DataFrame, schema: &Schema) -> Result<DataFrame> {
    let height = df.height();
    let columns = schema
        .iter()
        .map(|(name, dtype)| match df.column(name) {
            Ok(c) if c.dtype() == dtype => Ok(c.clone()),
            Ok(c) => Err(Error::Refused(format!(
                "column `{name}` is {} in the dataset and {dtype} in this run: an upsert keeps the \
                 dataset's types; pin it with --types, or reload everything with --mode replace",
                c.dtype()
            ))),
            Err(_) => Ok(Column::full_null(name.clone(), height, dtype)),
        })
        .collect::<Result<Vec<_>>>()?;
    DataFrame::new(height, columns).map_err(polars_error)
}

fn unreadable(object: &str, e: Error) -> Error {
    match e {
        Error::Refused(m) => Error::Refused(format!("{object}: {m}")),
        other => Error::Refused(format!(
            "{object} cannot be read to upsert into it ({other}); nothing was changed: `etl repair` or \
             a reload with --mode replace mends the dataset"
        )),
    }
}

fn polars_error(e: PolarsError) -> Error {
    Error::Internal(e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_equal_exactly_when_the_values_are() {
        let df = df!(
            "a" => [Some("x"), Some("x"), Some("x,"), None],
            "b" => [Some(1i64), Some(1), Some(1), Some(1)],
        )
        .unwrap();
        let keys = row_keys(&df, &["a".into(), "b".into()]).unwrap();
        assert_eq!(keys[0], keys[1]);
        assert_ne!(keys[0], keys[2]);
        assert_ne!(keys[3], keys[0]);
        // A composite key's parts cannot run into each other.
        let df = df!("a" => ["ab", "a"], "b" => ["c", "bc"]).unwrap();
        let keys = row_keys(&df, &["a".into(), "b".into()]).unwrap();
        assert_ne!(keys[0], keys[1]);
    }

    #[test]
    fn the_highest_dedup_value_wins_then_the_later_row() {
        let w = |row, v: Option<i64>| Winner {
            row,
            partition: Partition::Unpartitioned,
            order: Some(v.map_or(AnyValue::Null, AnyValue::Int64)),
            found: None,
        };
        assert!(later(&w(2, Some(5)), &w(1, Some(5))));
        assert!(!later(&w(2, Some(4)), &w(1, Some(5))));
        assert!(later(&w(1, Some(6)), &w(2, Some(5))));
        assert!(!later(&w(2, None), &w(1, Some(5))));
        let plain = |row| Winner { row, partition: Partition::Unpartitioned, order: None, found: None };
        assert!(later(&plain(3), &plain(2)));
    }
}
