//! Keeping a dataset in shape, each under the dataset's lock and after settling what a stopped run
//! left: `etl convert` turns a Hive dataset into a Delta table in place, `etl vacuum` deletes the
//! files no version within the retention reads, `etl compact` rewrites partitions grown to many
//! small files into one file each.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use polars::prelude::*;

use crate::error::{Error, Result};
use crate::load::delta::{self, log};
use crate::load::layout::{new_run_id, DatasetId, Partition, PartitionRange};
use crate::load::lock::DatasetLock;
use crate::load::manifest::{self, Manifest};
use crate::load::publish::Publisher;
use crate::load::staged::{StagedDataset, WriteMode};
use crate::pipeline::commit::TablePublisher;
use crate::store::{ObjectMeta, ObjectStore};
use crate::summary::{count, human_bytes, Summary};

/// Delta's default retention: files another version still reads are kept this long.
pub const DEFAULT_RETAIN: Duration = Duration::from_secs(168 * 3600);

/// Runs `work` holding the dataset's lock (taken for `command`, waiting up to `wait`), after
/// settling a publish a stopped run left; its notes say what was settled.
async fn locked<F, Fut>(
    store: &Arc<dyn ObjectStore>,
    dataset: &DatasetId,
    command: &'static str,
    wait: Duration,
    work: F,
) -> Result<Summary>
where
    F: FnOnce(String, DatasetLock) -> Fut,
    Fut: std::future::Future<Output = (DatasetLock, Result<Summary>)>,
{
    let run_id = new_run_id();
    let lock = DatasetLock::acquire(store.clone(), dataset, &run_id, command, wait).await?;
    let recovered = match super::commit::on_taking_the_lock(store.as_ref(), dataset).await {
        Ok(recovered) => recovered,
        Err(e) => {
            let _ = lock.release().await;
            return Err(e);
        }
    };
    let (lock, done) = work(run_id, lock).await;
    if let Err(e) = lock.release().await {
        tracing::warn!("could not release the dataset's lock: {e}");
    }
    let mut summary = done?;
    summary.notes.splice(0..0, recovered.iter().map(ToString::to_string));
    Ok(summary)
}

/// The dataset's manifest, which maintenance needs (its schema and layout).
async fn manifest_of(store: &dyn ObjectStore, dataset: &DatasetId, command: &str) -> Result<Manifest> {
    manifest::read(store, dataset).await?.ok_or_else(|| {
        Error::Usage(format!(
            "{dataset} has no manifest in {}: `etl {command}` works on a dataset etl loaded (load it first)",
            store.url()
        ))
    })
}

/// A file of the dataset, on this machine: the store's own file, or a download into `scratch`.
async fn local_copy(
    store: &dyn ObjectStore,
    key: &str,
    scratch: &std::path::Path,
    n: usize,
) -> Result<PathBuf> {
    if let Some(path) = store.local_file(key) {
        return Ok(path);
    }
    let path = scratch.join(format!("{n}.parquet"));
    store.get_to_file(key, &path).await?;
    Ok(path)
}

/// `etl convert <id> --to delta`: makes the dataset's files, as they are, version 0 of a Delta table
/// (no file is rewritten; stats are read from their footers). Later runs name their files once and
/// never overwrite one.
pub async fn convert(store: Arc<dyn ObjectStore>, dataset: &DatasetId, wait: Duration) -> Result<Summary> {
    let started = Instant::now();
    let work = |run_id: String, lock: DatasetLock| {
        let store = store.clone();
        async move {
            let done = convert_locked(store.as_ref(), dataset, &run_id, &lock).await;
            (lock, done)
        }
    };
    let summary = locked(&store, dataset, "convert", wait, work).await?;
    Ok(Summary { seconds: started.elapsed().as_secs_f64(), ..summary })
}

/// The conversion, holding the lock: version 0 committed, then the manifest says so.
async fn convert_locked(
    store: &dyn ObjectStore,
    dataset: &DatasetId,
    run_id: &str,
    lock: &DatasetLock,
) -> Result<Summary> {
    let mut summary = Summary::new("convert", store.url_of(&dataset.prefix()));
    summary.dataset = Some(dataset.to_string());
    if let Some(snapshot) = log::read(store, dataset).await? {
        summary.notes.push(format!(
            "{dataset} is a Delta table already (version {}): nothing to convert",
            snapshot.version
        ));
        return Ok(summary);
    }
    let previous = manifest_of(store, dataset, "convert").await?;
    let files = files_in_place(store, dataset, &previous).await?;
    // Partitioned by `date`, the folders' key: unless a column has that name in another case
    // (`Date`); the table is then not partitioned in Delta's terms (its files stay where they are,
    // and readers skip them by that column's stats).
    let partition = previous
        .partition_column
        .as_ref()
        .map(|_| delta::schema::partition_column_name(&previous.schema))
        .filter(|name| name == crate::load::layout::PARTITION_KEY);
    let actions = version_zero(store, dataset, &previous, &files, partition.as_deref(), run_id).await?;
    lock.ensure_held().await?;
    if !log::try_commit(store, dataset, 0, &actions).await? {
        return Err(Error::Locked(format!(
            "another writer created a Delta table in {dataset} meanwhile: nothing was changed"
        )));
    }
    crate::faults::point("commit")?;
    let record = Manifest { table_format: Some("delta".into()), delta_version: Some(0), ..previous.clone() };
    // The conversion's own record (`etl runs` shows it made version 0); the manifest keeps the last
    // load's, which later runs compare theirs with.
    let now = manifest::rfc3339(std::time::SystemTime::now());
    let run = Manifest {
        run_id: run_id.to_owned(),
        command: "convert".into(),
        started: now.clone(),
        finished: now,
        rows_written: 0,
        deleted: 0,
        upserted: None,
        ..record.clone()
    };
    for (key, record) in [(dataset.run_key(run_id), &run), (dataset.manifest_key(), &record)] {
        let body = serde_json::to_vec_pretty(record).map_err(|e| Error::Internal(e.to_string()))?;
        store.put(&key, body).await?;
    }
    summary.files = files.len();
    summary.bytes = files.iter().map(|f| f.bytes).sum();
    summary.notes.push(format!(
        "{dataset} is now a Delta table: version 0 holds its {} as they were ({}); later runs commit \
         versions, and `etl vacuum {dataset}` deletes the files no version within a week reads",
        count(files.len() as u64, "file"),
        human_bytes(summary.bytes)
    ));
    if let (Some(column), None) = (&record.partition_column, &partition) {
        summary.notes.push(format!(
            "not partitioned in Delta's terms: a column has the name of its folders' key `{}` in another \
             case; readers skip files by the stats of `{column}` instead",
            crate::load::layout::PARTITION_KEY
        ));
    }
    Ok(summary)
}

/// The files the manifest lists, each in place as it describes it (else the conversion is refused:
/// a stopped publish to settle first).
async fn files_in_place(
    store: &dyn ObjectStore,
    dataset: &DatasetId,
    previous: &Manifest,
) -> Result<Vec<manifest::FileRecord>> {
    let listed: BTreeMap<String, u64> =
        store.list(&dataset.prefix()).await?.into_iter().map(|o| (o.key, o.size)).collect();
    let files: Vec<manifest::FileRecord> =
        previous.files.iter().filter(|f| listed.get(&f.key) == Some(&f.bytes)).cloned().collect();
    if files.len() != previous.files.len() {
        return Err(Error::Refused(format!(
            "{} of the files {dataset}'s manifest lists are not in place as it describes them: nothing was \
             changed; run a load of {dataset} (or `etl repair {dataset}`) first",
            previous.files.len() - files.len()
        )));
    }
    Ok(files)
}

/// Version 0 of a converted table: its protocol, schema, and every file as it is (stats read from
/// its footer, downloaded from S3 to a scratch folder).
async fn version_zero(
    store: &dyn ObjectStore,
    dataset: &DatasetId,
    previous: &Manifest,
    files: &[manifest::FileRecord],
    partition: Option<&str>,
    run_id: &str,
) -> Result<Vec<log::Action>> {
    let now = log::now_millis();
    let metadata = delta::schema::metadata(&previous.schema, partition, None, now)?;
    let mut actions = vec![
        log::Action::commit_info(serde_json::json!({
            "timestamp": now,
            "operation": "CONVERT",
            "operationParameters": {},
            "engineInfo": format!("etl {}", env!("CARGO_PKG_VERSION")),
            "etlCommand": "convert",
            log::RUN_ID: run_id,
        })),
        log::Action::protocol(delta::schema::protocol(&metadata, None)),
        log::Action::metadata(metadata),
    ];
    let scratch = crate::load::download_dir(store)?;
    for (n, file) in files.iter().enumerate() {
        let path = local_copy(store, &file.key, scratch.path(), n).await?;
        let values: BTreeMap<String, Option<String>> = partition
            .map(|column| {
                let day = dataset.partition_of_key(&file.key).filter(|p| matches!(p, Partition::Day(_)));
                (column.to_owned(), day.map(|d| d.value()))
            })
            .into_iter()
            .collect();
        actions.push(log::Action::add(log::Add {
            path: dataset.relative(&file.key).unwrap_or(&file.key).to_owned(),
            partition_values: values,
            size: file.bytes as i64,
            modification_time: now,
            data_change: true,
            stats: Some(delta::stats::of_file(&path, &previous.schema)?),
        }));
    }
    Ok(actions)
}

/// What `etl vacuum` deletes, and why.
#[derive(Debug, Default)]
struct Sweep {
    /// Files the table removed longer ago than the retention.
    expired: Vec<ObjectMeta>,
    /// Files of runs that never committed: no version ever read them.
    leftovers: Vec<ObjectMeta>,
    /// Files removed within the retention: older versions still read them.
    kept: usize,
    /// Files no version references that etl did not name: left as they are.
    foreign: Vec<String>,
}

/// `etl vacuum <id> [--retain HOURS] [--dry-run]`: deletes the data files of a Delta table that no
/// version within the retention reads (removed longer ago than `retain`), and those of runs that
/// never committed. It looks only in `data/` and `partitions/`, never under a `_` or `.` folder.
pub async fn vacuum(
    store: Arc<dyn ObjectStore>,
    dataset: &DatasetId,
    retain: Duration,
    dry_run: bool,
    wait: Duration,
) -> Result<Summary> {
    let started = Instant::now();
    let summary = if dry_run {
        // A dry run takes no lock and changes nothing.
        vacuum_with(store.as_ref(), dataset, retain, None).await?
    } else {
        let work = |_run_id: String, lock: DatasetLock| {
            let store = store.clone();
            async move {
                let done = vacuum_with(store.as_ref(), dataset, retain, Some(&lock)).await;
                (lock, done)
            }
        };
        locked(&store, dataset, "vacuum", wait, work).await?
    };
    Ok(Summary { seconds: started.elapsed().as_secs_f64(), ..summary })
}

/// The vacuum, under `lock` (`None`: a dry run, which deletes nothing).
async fn vacuum_with(
    store: &dyn ObjectStore,
    dataset: &DatasetId,
    retain: Duration,
    lock: Option<&DatasetLock>,
) -> Result<Summary> {
    let dry_run = lock.is_none();
    let mut summary = Summary::new("vacuum", store.url_of(&dataset.prefix()));
    summary.dataset = Some(dataset.to_string());
    let Some(snapshot) = log::read(store, dataset).await? else {
        summary.notes.push(format!(
            "{dataset} is a Hive dataset: its runs delete the files they replace as they publish, and \
             keep no older versions; nothing to vacuum"
        ));
        return Ok(summary);
    };
    let sweep = sweep(store, dataset, &snapshot, retain).await?;
    let gone: Vec<&ObjectMeta> = sweep.expired.iter().chain(&sweep.leftovers).collect();
    summary.bytes = gone.iter().map(|o| o.size).sum();
    summary.deleted = gone.len();
    let verb = if dry_run { "would delete" } else { "deleted" };
    let mut why = Vec::new();
    if !sweep.expired.is_empty() {
        why.push(format!("{} removed from the table more than {} ago", sweep.expired.len(), hours(retain)));
    }
    if !sweep.leftovers.is_empty() {
        why.push(format!("{} left by runs that never committed", sweep.leftovers.len()));
    }
    summary.notes.push(match gone.len() {
        0 => format!("nothing to delete: every data file is read by a version of the last {}", hours(retain)),
        n => {
            format!("{verb} {} ({}): {}", count(n as u64, "file"), human_bytes(summary.bytes), why.join(", "))
        }
    });
    if sweep.kept > 0 {
        summary.notes.push(format!(
            "kept {} removed within the last {}: older versions still read them",
            count(sweep.kept as u64, "file"),
            hours(retain)
        ));
    }
    if retain < DEFAULT_RETAIN && !sweep.expired.is_empty() {
        summary.notes.push(format!(
            "with --retain {}, versions older than {} ago can no longer be read (their files are gone); \
             version {} reads as before",
            hours(retain),
            hours(retain),
            snapshot.version
        ));
    }
    if !sweep.foreign.is_empty() {
        summary.notes.push(format!(
            "left {} that no version reads and etl did not write ({}{})",
            count(sweep.foreign.len() as u64, "file"),
            sweep.foreign.iter().take(3).cloned().collect::<Vec<_>>().join(", "),
            if sweep.foreign.len() > 3 { ", ..." } else { "" }
        ));
    }
    let Some(lock) = lock else {
        summary.status = crate::summary::Status::DryRun;
        summary.notes.extend(gone.iter().map(|o| format!("would delete {}", o.key)));
        return Ok(summary);
    };
    lock.ensure_held().await?;
    let keys: Vec<String> = gone.iter().map(|o| o.key.clone()).collect();
    store.delete_many(&keys).await?;
    Ok(summary)
}

/// `168 h`.
fn hours(d: Duration) -> String {
    format!("{} h", d.as_secs() / 3600)
}

/// Sorts the table's data files into what a vacuum deletes and keeps.
async fn sweep(
    store: &dyn ObjectStore,
    dataset: &DatasetId,
    snapshot: &log::Snapshot,
    retain: Duration,
) -> Result<Sweep> {
    let removed = log::removals(store, dataset).await?;
    let cutoff = log::now_millis() - retain.as_millis() as i64;
    let mut sweep = Sweep::default();
    for object in store.list(&dataset.prefix()).await? {
        let Some(path) = dataset.relative(&object.key) else { continue };
        let data = path.starts_with("data/") || path.starts_with("partitions/");
        if !data || path.split('/').any(|seg| seg.starts_with('_') || seg.starts_with('.')) {
            continue;
        }
        if snapshot.files.contains_key(path) {
            continue;
        }
        match removed.get(path) {
            Some(when) if *when > cutoff => sweep.kept += 1,
            Some(_) => sweep.expired.push(object),
            None if dataset.part_of_key(&object.key).is_some() => sweep.leftovers.push(object),
            None => sweep.foreign.push(object.key),
        }
    }
    Ok(sweep)
}

/// `etl compact <id> [--partition-range FROM..TO]`: rewrites each partition of more than one file
/// (appends, drop folders) into one, its rows in the order of its files. On a Delta table it is one
/// commit whose actions change no data (`dataChange: false`); on the Hive layout it goes through the
/// journaled publish, as a merge of those partitions.
pub async fn compact(
    store: Arc<dyn ObjectStore>,
    dataset: &DatasetId,
    range: Option<PartitionRange>,
    wait: Duration,
) -> Result<Summary> {
    let started = Instant::now();
    let summary = locked(&store, dataset, "compact", wait, |run_id, lock| {
        let store = store.clone();
        async move {
            let done = compact_locked(store, dataset, range, &run_id, &lock).await;
            (lock, done)
        }
    })
    .await?;
    Ok(Summary { seconds: started.elapsed().as_secs_f64(), ..summary })
}

async fn compact_locked(
    store: Arc<dyn ObjectStore>,
    dataset: &DatasetId,
    range: Option<PartitionRange>,
    run_id: &str,
    lock: &DatasetLock,
) -> Result<Summary> {
    let previous = manifest_of(store.as_ref(), dataset, "compact").await?;
    let snapshot = log::read(store.as_ref(), dataset).await?;
    let groups = small_files(store.as_ref(), dataset, &previous, snapshot.as_ref(), range).await?;
    let mut summary = Summary::new("compact", store.url_of(&dataset.prefix()));
    summary.dataset = Some(dataset.to_string());
    if groups.is_empty() {
        summary.notes.push("nothing to compact: every partition is one file".into());
        return Ok(summary);
    }
    let before: usize = groups.values().map(Vec::len).sum();
    let mut rewritten = rewrite(store.as_ref(), dataset, &previous, groups).await?;
    let staged = &mut rewritten.output;
    let named = snapshot
        .as_ref()
        .map(|table| delta::name_files(staged, Some(table), Some(&previous), &previous.schema, run_id));
    let new_files: Vec<manifest::FileRecord> =
        staged.files.iter().map(|f| manifest::FileRecord::of(f, run_id)).collect();
    // The dataset's record as it was (its source and mode: a compaction loads nothing), by this run.
    let record = Manifest {
        run_id: run_id.to_owned(),
        command: "compact".into(),
        started: manifest::rfc3339(std::time::SystemTime::now()),
        rows_written: 0,
        upserted: None,
        status: None,
        ..previous.clone()
    };
    let records = |publishing: &crate::load::publish::Publishing| {
        let record = Manifest {
            finished: manifest::rfc3339(std::time::SystemTime::now()),
            deleted: publishing.stale.len(),
            files: publishing.files_after(Some(&previous), new_files.clone()),
            delta_version: publishing.delta_version,
            ..record.clone()
        };
        let body = serde_json::to_vec_pretty(&record).map_err(|e| Error::Internal(e.to_string()))?;
        Ok(vec![(dataset.run_key(run_id), body.clone()), (dataset.manifest_key(), body)])
    };
    let publisher = match named {
        Some(named) => TablePublisher::Delta(delta::DeltaPublish {
            named,
            commit: delta::Commit {
                run_id,
                command: "compact",
                snapshot: snapshot.as_ref(),
                schema: &previous.schema,
                lock: Some(lock),
                listed: Vec::new(),
                rearranged: true,
            },
        }),
        None => TablePublisher::Hive(crate::load::hive::HivePublish {
            previous: Some(&previous),
            run_id,
            lock: Some(lock),
            record_keys: vec![dataset.run_key(run_id), dataset.manifest_key()],
        }),
    };
    let report = publisher.publish(store.as_ref(), &rewritten.output, &records).await?;
    let partitions = rewritten.output.files.len();
    summary.files = report.files;
    summary.bytes = report.bytes;
    summary.partitions = partitions;
    summary.run_id = Some(run_id.to_owned());
    summary.notes.push(format!(
        "compacted {}: {} into {}{}",
        count(partitions as u64, "partition"),
        count(before as u64, "file"),
        count(partitions as u64, "file"),
        match report.delta_version {
            Some(v) => format!(
                " (version {v} of the Delta table, which changes no row; the small files stay for older \
                 versions until `etl vacuum`)"
            ),
            None => String::new(),
        }
    ));
    summary.notes.extend(report.left_behind);
    Ok(summary)
}

/// The dataset's partitions (in `range`) of more than one file, each with its files: a Delta
/// table's from its newest version, a Hive dataset's from its manifest (those in place).
async fn small_files(
    store: &dyn ObjectStore,
    dataset: &DatasetId,
    previous: &Manifest,
    snapshot: Option<&log::Snapshot>,
    range: Option<PartitionRange>,
) -> Result<BTreeMap<Partition, Vec<ObjectMeta>>> {
    let files: Vec<ObjectMeta> = match snapshot {
        Some(s) => s.objects(dataset),
        None => {
            let listed: BTreeSet<String> =
                store.list(&dataset.prefix()).await?.into_iter().map(|o| o.key).collect();
            let meta =
                |f: &manifest::FileRecord| ObjectMeta { key: f.key.clone(), size: f.bytes, etag: None };
            previous.files.iter().filter(|f| listed.contains(&f.key)).map(meta).collect()
        }
    };
    let mut groups: BTreeMap<Partition, Vec<ObjectMeta>> = BTreeMap::new();
    for file in files {
        let Some((partition, _)) = dataset.part_of_key(&file.key) else { continue };
        if range.is_none_or(|r| r.contains(&partition)) {
            groups.entry(partition).or_default().push(file);
        }
    }
    groups.retain(|_, files| files.len() > 1);
    Ok(groups)
}

/// The staged output of a compaction: each group's files read in order (a file's rows as it holds
/// them, missing columns null) and written as one file.
struct Rewritten {
    output: StagedDataset,
    _staging: tempfile::TempDir,
}

async fn rewrite(
    store: &dyn ObjectStore,
    dataset: &DatasetId,
    previous: &Manifest,
    groups: BTreeMap<Partition, Vec<ObjectMeta>>,
) -> Result<Rewritten> {
    let schema: Schema = previous
        .schema
        .iter()
        .map(|c| {
            let dtype = manifest::parser_of_type(&c.kind).map_or(DataType::String, |p| p.dtype());
            Field::new(c.name.as_str().into(), dtype)
        })
        .collect();
    let staging = crate::load::download_dir(store)?;
    let downloads = staging.path().join("downloads");
    std::fs::create_dir_all(&downloads).map_err(|e| Error::io(&downloads, e))?;
    // A sorted dataset's files stay sorted, the compacted one whole.
    let options = crate::load::parquet::WriterOptions {
        sort_by: previous.sort_by.clone(),
        row_group_bytes: previous.row_group_bytes,
        ..Default::default()
    };
    let mut writer = crate::load::parquet::PartitionedWriter::new(
        dataset.clone(),
        staging.path(),
        schema.clone(),
        options,
        BTreeMap::new(),
    );
    let mut n = 0;
    for (partition, mut files) in groups {
        // In the order they were written: by run (a Delta file's name ends with its run id), then number.
        files.sort_by_key(|f| written_order(dataset, &f.key));
        for file in files {
            let path = local_copy(store, &file.key, &downloads, n).await?;
            n += 1;
            let df = read_aligned(&path, &schema)?;
            writer.write(partition, df)?;
        }
    }
    let files = writer.finish(true)?;
    let partitioned = previous.partition_column.is_some();
    Ok(Rewritten {
        output: StagedDataset {
            dataset: dataset.clone(),
            partitioned,
            mode: WriteMode::Merge,
            files,
            rejects: None,
            range: None,
            emptied: Vec::new(),
            upserted: None,
        },
        _staging: staging,
    })
}

/// Where a data file comes in the order its rows were written: its run (a Delta file's name ends
/// with it; a Hive file has none), then its number.
fn written_order(dataset: &DatasetId, key: &str) -> (String, u32) {
    let part = dataset.part_of_key(key).map_or(0, |(_, n)| n);
    let name = key.rsplit('/').next().unwrap_or(key);
    let run = name
        .strip_suffix(".parquet")
        .and_then(|stem| stem.strip_prefix("part-"))
        .and_then(|rest| rest.split_once('-'))
        .map_or(String::new(), |(_, run)| run.to_owned());
    (run, part)
}

/// A data file's rows with the dataset's columns, in its order (a column the file lacks is null).
fn read_aligned(path: &std::path::Path, schema: &Schema) -> Result<DataFrame> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let df =
        ParquetReader::new(file).finish().map_err(|e| Error::Internal(format!("{}: {e}", path.display())))?;
    let height = df.height();
    let columns: Vec<Column> = schema
        .iter()
        .map(|(name, dtype)| match df.column(name.as_str()) {
            Ok(c) if c.dtype() == dtype => Ok(c.clone()),
            Ok(c) => c.cast(dtype),
            Err(_) => Ok(Column::full_null(name.clone(), height, dtype)),
        })
        .collect::<PolarsResult<_>>()?;
    Ok(DataFrame::new(height, columns)?)
}
