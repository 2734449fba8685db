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

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use polars::prelude::*;

use super::layout::Partition;
use super::parquet::{PartitionedWriter, WriterOptions};
use super::staged::StagedDataset;
use crate::error::{Error, Result};
use crate::store::ObjectStore;

/// The staged column holding each row's place in the source (never published).
pub const ROW_COLUMN: &str = crate::transform::ROW_NUMBER_COLUMN;

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
    /// Its `--dedup-by` value (boxed: most upserts have none, and there is one entry per key).
    order: Option<Box<AnyValue<'static>>>,
    /// The partition the dataset held the key in, if it did.
    found: Option<Partition>,
}

/// A key hashed fast (the run's keys are many; no adversary chooses them).
type KeyMap<K> = std::collections::HashMap<K, Winner, foldhash::fast::RandomState>;

/// Turns `staged` (this run's rows, with [`ROW_COLUMN`]) into the files that replace the partitions
/// the upsert changes, reading the dataset's files (`objects`, as its readers see them; none: the
/// run's rows alone, one per key) from `store`; `schema` is the output's.
pub async fn combine(
    store: &dyn ObjectStore,
    staged: StagedDataset,
    key: &Key,
    schema: &Schema,
    options: WriterOptions,
    objects: Vec<crate::store::ObjectMeta>,
) -> Result<StagedDataset> {
    if let Some(column) = &key.dedup_by {
        if schema.get(column.as_str()).is_some_and(|t| t.is_nested() || matches!(t, DataType::Binary)) {
            return Err(Error::Refused(format!(
                "--dedup-by `{column}` holds lists or objects: their values cannot be ordered; choose a \
                 number, date, timestamp or text column"
            )));
        }
    }
    // One integer column (ids, dates, timestamps) is its own key; anything else is encoded as bytes.
    let integer = match key.columns.as_slice() {
        [one] => schema.get(one.as_str()).is_some_and(|t| {
            matches!(t.to_physical(), DataType::Int64 | DataType::Int32 | DataType::UInt32 | DataType::Int16)
        }),
        _ => false,
    };
    if integer {
        let column = key.columns[0].clone();
        combine_by(store, staged, key, schema, options, objects, move |df| int_keys(df, &column)).await
    } else {
        let columns = key.columns.clone();
        combine_by(store, staged, key, schema, options, objects, move |df| row_keys(df, &columns)).await
    }
}

async fn combine_by<K>(
    store: &dyn ObjectStore,
    mut staged: StagedDataset,
    key: &Key,
    schema: &Schema,
    options: WriterOptions,
    objects: Vec<crate::store::ObjectMeta>,
    keys_of: impl Fn(&DataFrame) -> Result<Vec<Option<K>>> + Sync,
) -> Result<StagedDataset>
where
    K: std::hash::Hash + Eq + Clone + Send + Sync,
{
    use rayon::prelude::*;
    let Some(first) = staged.files.first().filter(|_| staged.rows() > 0) else {
        // Nothing brought: nothing changes (not even an unpartitioned dataset's file).
        staged.files.clear();
        staged.upserted = Some(Upserted::default());
        return Ok(staged);
    };
    let folder = first.path.parent().expect("a staged file is in a folder").join("upsert");
    let downloads = folder.join("dataset");
    std::fs::create_dir_all(&downloads).map_err(|e| Error::io(&downloads, e))?;
    let dataset = staged.dataset.clone();

    let began = std::time::Instant::now();
    // 1. This run's row for each key (its key columns, row numbers and --dedup-by read only).
    let mut wanted = key.columns.clone();
    wanted.push(ROW_COLUMN.to_owned());
    wanted.extend(key.dedup_by.iter().filter(|c| !key.columns.contains(c)).cloned());
    // Sized for every staged row at once: no rehash of a large table while it fills.
    let staged_rows = staged.files.iter().map(|f| f.rows as usize).sum();
    let mut winners: KeyMap<K> = KeyMap::with_capacity_and_hasher(staged_rows, Default::default());
    let mut rows = 0u64;
    for file in &staged.files {
        let df = read(&file.path, Some(&wanted))?;
        let numbers = row_numbers(&df)?;
        let order = key.dedup_by.as_ref().map(|c| df.column(c).map_err(polars_error)).transpose()?;
        for (i, k) in keys_of(&df)?.into_iter().enumerate() {
            rows += 1;
            let k = k.ok_or_else(|| Error::Internal("a staged row without its key".into()))?;
            let value = order
                .map(|c| c.get(i).map(|v| Box::new(v.into_static())).map_err(polars_error))
                .transpose()?;
            let candidate = Winner { row: numbers[i], partition: file.partition, order: value, found: None };
            match winners.get_mut(&k) {
                Some(held) if later(&candidate, held) => *held = candidate,
                Some(_) => {}
                None => {
                    winners.insert(k, candidate);
                }
            }
        }
    }

    // 2. The dataset's files that hold one of those keys, read by their key columns only (in
    // place in a folder; downloaded once from S3), on every core.
    let mut existing: Vec<(String, Partition, PathBuf)> = Vec::new();
    for (n, object) in objects.into_iter().enumerate() {
        let Some((partition, _)) = dataset.part_of_key(&object.key) else { continue };
        let path = match store.local_file(&object.key) {
            Some(path) => path,
            None => {
                let path = downloads.join(format!("{n}.parquet"));
                store.get_to_file(&object.key, &path).await?;
                path
            }
        };
        existing.push((object.key, partition, path));
    }
    let hits: Vec<Vec<K>> = existing
        .par_iter()
        .map(|(object, _, path)| {
            // A file written before a key column existed holds no key of this run.
            let Some(df) = read_keys(path, &key.columns).map_err(|e| unreadable(object, e))? else {
                return Ok(Vec::new());
            };
            Ok(keys_of(&df)?.into_iter().flatten().filter(|k| winners.contains_key(k)).collect())
        })
        .collect::<Result<_>>()?;
    tracing::info!(
        "upsert: {} keys among this run's {} rows; the dataset's {} files read by their key columns \
         in {:.2} s",
        crate::summary::thousands(winners.len() as u64),
        crate::summary::thousands(rows),
        existing.len(),
        began.elapsed().as_secs_f64()
    );
    let began = std::time::Instant::now();
    let mut holding: BTreeSet<Partition> = BTreeSet::new();
    for ((_, partition, _), found) in existing.iter().zip(hits) {
        if !found.is_empty() {
            holding.insert(*partition);
        }
        for k in found {
            let w = winners.get_mut(&k).expect("a hit is a winner");
            // Found in its own partition too: an update in place.
            if w.found != Some(w.partition) {
                w.found = Some(*partition);
            }
        }
    }

    // 3. The partitions that change, rewritten: a few at a time, read and filtered on every core,
    // written in order.
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
    let affected: Vec<Partition> = affected.into_iter().collect();
    for chunk in affected.chunks(2 * rayon::current_num_threads().max(1)) {
        let frames: Vec<Vec<DataFrame>> = chunk
            .par_iter()
            .map(|partition| {
                let mut frames = Vec::new();
                // The partition's other rows first, as they were.
                for (object, _, path) in existing.iter().filter(|(_, p, _)| p == partition) {
                    let df = read(path, None).map_err(|e| unreadable(object, e))?;
                    if key.columns.iter().any(|c| df.column(c).is_err()) {
                        // Written before a key column existed: its rows hold no key of this run.
                        frames.push(conform(df, schema).map_err(|e| unreadable(object, e))?);
                        continue;
                    }
                    let keep: BooleanChunked = keys_of(&df)?
                        .iter()
                        .map(|k| k.as_ref().is_none_or(|k| !winners.contains_key(k)))
                        .collect();
                    let kept = df.filter(&keep).map_err(polars_error)?;
                    frames.push(conform(kept, schema).map_err(|e| unreadable(object, e))?);
                }
                // Then this run's rows for it, in source order.
                for file in staged.files.iter().filter(|f| f.partition == *partition) {
                    let df = read(&file.path, None)?;
                    let numbers = row_numbers(&df)?;
                    let keep: BooleanChunked = keys_of(&df)?
                        .iter()
                        .zip(numbers)
                        .map(|(k, row)| k.as_ref().and_then(|k| winners.get(k)).is_some_and(|w| w.row == row))
                        .collect();
                    frames.push(
                        df.filter(&keep).map_err(polars_error)?.drop(ROW_COLUMN).map_err(polars_error)?,
                    );
                }
                Ok(frames)
            })
            .collect::<Result<_>>()?;
        for (partition, frames) in chunk.iter().zip(frames) {
            if frames.iter().all(|f| f.height() == 0) {
                emptied.push(*partition);
            }
            for frame in frames {
                writer.write(*partition, frame)?;
            }
        }
    }
    counts.partitions = affected.len();
    let _ = std::fs::remove_dir_all(&downloads);
    tracing::info!(
        "upsert: {} partitions rewritten in {:.2} s",
        affected.len(),
        began.elapsed().as_secs_f64()
    );
    staged.files = writer.finish(staged.partitioned)?;
    staged.emptied = emptied;
    staged.upserted = Some(counts);
    Ok(staged)
}

/// The staged rows' places in the source.
fn row_numbers(df: &DataFrame) -> Result<Vec<u64>> {
    Ok(df
        .column(ROW_COLUMN)
        .map_err(polars_error)?
        .u64()
        .map_err(polars_error)?
        .into_no_null_iter()
        .collect())
}

/// A one-column integer key (dates and timestamps by their number).
fn int_keys(df: &DataFrame, column: &str) -> Result<Vec<Option<i64>>> {
    let series = df.column(column).map_err(polars_error)?.as_materialized_series().to_physical_repr();
    let ints = series.cast(&DataType::Int64).map_err(polars_error)?;
    Ok(ints.i64().map_err(polars_error)?.iter().collect())
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

/// Each row's key, as bytes that are equal exactly when the key columns' values are; `None` when
/// one of them is null (this run's keys never are: such a row matches nothing).
pub fn row_keys(df: &DataFrame, columns: &[String]) -> Result<Vec<Option<Vec<u8>>>> {
    let mut keys = vec![Some(Vec::new()); df.height()];
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
                    match (k.as_mut(), v) {
                        (Some(k), Some(v)) => k.extend_from_slice(&$bytes(v)),
                        _ => *k = None,
                    }
                }
            };
        }
        match series.dtype() {
            DataType::String => {
                // Length-prefixed: a composite key's parts cannot run into each other.
                let text = |v: &str| [&(v.len() as u64).to_le_bytes()[..], v.as_bytes()].concat();
                encode!(series.str().map_err(polars_error)?, text)
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

/// A Parquet file's `columns`, or `None` when it lacks one of them.
fn read_keys(path: &Path, columns: &[String]) -> Result<Option<DataFrame>> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let schema = ParquetReader::new(file).schema().map_err(polars_error)?;
    if columns.iter().any(|c| !schema.contains(c.as_str())) {
        return Ok(None);
    }
    read(path, Some(columns)).map(Some)
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
        assert_eq!(keys[3], None);
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
            order: Some(Box::new(v.map_or(AnyValue::Null, AnyValue::Int64))),
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
