//! A dataset as a Delta Lake table (`--table-format delta`): readers of the table see one committed
//! version, never a mix, and can read an older one.
//!
//! The table's root is `datasets/<id>/`. A run's publish, holding the dataset's lock:
//! 1. names its files once ([`name_files`]): `part-0000-<run-id>.parquet`, or the file of the table
//!    already in place that has the same bytes in the same place (uploaded again by no one);
//! 2. writes its pending records (`_journal/<run-id>.json`: its files, and the run record, the
//!    state and the manifest it will write), then uploads its files;
//! 3. commits: one object `_delta_log/<version>.json` created only if absent, with the `remove`s of
//!    the files it replaces, the `add`s of its own (their stats read from their Parquet footers),
//!    the schema when it changed, and `commitInfo` naming the run. That object is the commit point:
//!    a run killed before it leaves only files no version references (`etl vacuum` removes them);
//! 4. writes its records, then drops the pending ones; every tenth version writes a checkpoint.
//!
//! A writer that committed the version first (another tool appending to the table) is read: if it
//! only added files where this run neither removes nor replaces any, the run commits the next
//! version; otherwise it removes its files and fails with exit 75, to be run again.

pub mod actions;
pub mod checkpoint;
pub mod log;
pub mod schema;
pub mod stats;

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use self::log::{Action, Add, Remove, Snapshot};
use super::layout::{unique_file_key, DatasetId, Partition, PARTITION_KEY};
use super::manifest::{ColumnRecord, Manifest};
use super::publish::{MakeRecords, PublishReport, Publisher, Publishing};
use super::staged::{StagedDataset, WriteMode};
use crate::error::{Error, Result};
use crate::store::{ObjectMeta, ObjectStore};

/// How a dataset's files are laid out for readers (`--table-format`, `table_format:`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TableFormat {
    /// Hive-partitioned Parquet: readers list the folders.
    #[default]
    Hive,
    /// A Delta Lake table: readers read its log.
    Delta,
}

impl TableFormat {
    pub fn name(self) -> &'static str {
        match self {
            TableFormat::Hive => "hive",
            TableFormat::Delta => "delta",
        }
    }
}

impl std::str::FromStr for TableFormat {
    type Err = String;

    fn from_str(text: &str) -> std::result::Result<Self, String> {
        match text.trim() {
            "hive" => Ok(TableFormat::Hive),
            "delta" => Ok(TableFormat::Delta),
            other => Err(format!("`{other}` is not a table format: hive or delta")),
        }
    }
}

impl std::fmt::Display for TableFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The files a Delta publish keeps and the ones it adds, once named ([`name_files`]).
#[derive(Debug, Default)]
pub struct Named {
    /// Keys of the table's files that hold a staged file's very bytes in its place: kept.
    pub kept: BTreeSet<String>,
}

/// Names the staged files as the table will hold them: a file whose bytes a file of the table
/// holds in the same place (the same partition and number, the same size and SHA-256 in the
/// manifest) takes that file's key and is kept as it is; every other one gets its own name
/// (`part-0000-<run-id>.parquet`).
pub fn name_files(
    staged: &mut StagedDataset,
    snapshot: Option<&Snapshot>,
    previous: Option<&Manifest>,
    schema: &[ColumnRecord],
    run_id: &str,
) -> Named {
    let dataset = staged.dataset.clone();
    // Readers of a partitioned table (polars) take its partition values from the folders' names:
    // the folders carry the partition column's name.
    if let Some(column) = partition_column(staged, snapshot, schema).filter(|c| c != PARTITION_KEY) {
        let (from, to) = (
            format!("{}{PARTITION_KEY}=", dataset.partitions_prefix()),
            format!("{}{column}=", dataset.partitions_prefix()),
        );
        for file in &mut staged.files {
            if let Some(rest) = file.key.strip_prefix(&from) {
                file.key = format!("{to}{rest}");
            }
        }
    }
    let in_table: BTreeMap<String, &str> = snapshot
        .into_iter()
        .flat_map(|s| s.files.keys())
        .map(|path| {
            let key = format!("{}{path}", dataset.prefix());
            (super::layout::slot_of_key(&key), path.as_str())
        })
        .collect();
    let mut named = Named::default();
    for file in &mut staged.files {
        let same = in_table.get(&file.key).map(|path| format!("{}{path}", dataset.prefix())).filter(|key| {
            previous.is_some_and(|m| {
                m.files.iter().any(|r| {
                    r.key == *key && r.bytes == file.bytes && r.sha256.as_deref() == Some(&file.sha256)
                })
            })
        });
        file.key = match same {
            Some(key) => {
                named.kept.insert(key.clone());
                key
            }
            None => unique_file_key(&file.key, run_id),
        };
    }
    named
}

/// The table's partition column for a run writing `staged` (of columns `schema`): the table's own
/// (none for a table converted from folders whose key a column has in another case: its readers
/// skip files by that column's stats), or, for a new table or one a replace lays out anew, `date`
/// (`partition_date` when a column is named `date` in any case).
pub fn partition_column(
    staged: &StagedDataset,
    snapshot: Option<&Snapshot>,
    schema: &[ColumnRecord],
) -> Option<String> {
    let anew = staged.mode == WriteMode::Replace && staged.range.is_none();
    match snapshot {
        Some(s) if !anew => s.metadata.partition_columns.first().cloned(),
        _ => staged.partitioned.then(|| schema::partition_column_name(schema)),
    }
}

/// A run's commit to a Delta table, its files named ([`name_files`]).
pub struct DeltaPublish<'a> {
    pub named: Named,
    pub commit: Commit<'a>,
}

impl Publisher for DeltaPublish<'_> {
    async fn publish(
        &self,
        store: &dyn ObjectStore,
        staged: &StagedDataset,
        records: MakeRecords<'_>,
    ) -> Result<PublishReport> {
        publish(store, staged, &self.named, &self.commit, records).await
    }
}

/// What a Delta publish needs besides the staged files.
pub struct Commit<'a> {
    pub run_id: &'a str,
    pub command: &'a str,
    /// The table as the run found it under its lock (`None`: no table yet).
    pub snapshot: Option<&'a Snapshot>,
    /// The schema of the table after the run.
    pub schema: &'a [ColumnRecord],
    pub lock: Option<&'a super::lock::DatasetLock>,
    /// The dataset's objects, listed (a Hive dataset a replace turns into a table: its files go).
    pub listed: Vec<ObjectMeta>,
    /// `dataChange: false`: the rows stay what they were (a compaction).
    pub rearranged: bool,
}

/// A run's records waiting for its commit: written in `_journal/<run-id>.json` before the commit,
/// so that a run killed after it has them written by the next run (or `etl repair`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Pending {
    pub run_id: String,
    /// The version the run meant to commit (a later one if another writer took it).
    pub delta_version: u64,
    /// The data files it uploaded (removed if it never committed).
    pub uploads: Vec<String>,
    /// The records to write once committed, in order: key and body.
    pub records: Vec<(String, String)>,
}

/// Publishes `staged` (named by [`name_files`]) as the table's next version; see the module's
/// header for the steps. `records` makes the run's records for the version it commits.
async fn publish(
    store: &dyn ObjectStore,
    staged: &StagedDataset,
    named: &Named,
    commit: &Commit<'_>,
    records: MakeRecords<'_>,
) -> Result<PublishReport> {
    let dataset = &staged.dataset;
    let run = Changes::of(staged, named, commit)?;
    if let (true, Some(snapshot)) = (run.changes_nothing(), commit.snapshot) {
        // Every file in place already, nothing removed, the schema as it was: no version to commit.
        let pending = run.pending(commit, snapshot.version, Vec::new(), records)?;
        write_records(store, &pending).await?;
        return Ok(run.report(staged, named, Vec::new(), None, snapshot.version));
    }
    let started = std::time::Instant::now();
    crate::signals::check()?;
    let mut run = run;
    let pending = match commit_changes(store, staged, commit, &mut run, records).await {
        Ok(pending) => pending,
        Err(e) => {
            // Not committed: no version references the run's files.
            tracing::warn!(
                "the publish of run {} failed before its commit: removing its files",
                commit.run_id
            );
            let mut gone = run.uploads.clone();
            gone.push(dataset.journal_key(commit.run_id));
            if let Err(undo) = store.delete_many(&gone).await {
                tracing::warn!("could not remove them ({undo:#}): `etl vacuum {dataset}` will");
            }
            return Err(e);
        }
    };
    tracing::info!(
        "committed version {} of {dataset} in {:.2} s (readers saw version {} until then)",
        pending.delta_version,
        started.elapsed().as_secs_f64(),
        commit.snapshot.map_or("none".to_owned(), |s| s.version.to_string())
    );
    let left_behind = after_commit(store, dataset, &pending, commit, staged).await;
    Ok(run.report(staged, named, run.stale.clone(), left_behind, pending.delta_version))
}

/// What a run changes in the table: the files it removes (`stale`) and uploads, and the commit's
/// actions (their stats read first: a local store moves the staged files into place).
struct Changes {
    /// The table's files before the run.
    before: Vec<ObjectMeta>,
    stale: Vec<String>,
    uploads: Vec<String>,
    kept: BTreeSet<String>,
    actions: Vec<Action>,
}

impl Changes {
    fn of(staged: &StagedDataset, named: &Named, commit: &Commit<'_>) -> Result<Self> {
        let before: Vec<ObjectMeta> = commit.snapshot.map(|s| s.objects(&staged.dataset)).unwrap_or_default();
        let stale = super::publish::stale_keys(before.clone(), staged);
        let uploads = uploads_of(staged, &named.kept).iter().map(|f| f.key.clone()).collect();
        let actions = actions(staged, commit, &stale, named)?;
        Ok(Changes { before, stale, uploads, kept: named.kept.clone(), actions })
    }

    /// Whether the commit would hold nothing but its `commitInfo`.
    fn changes_nothing(&self) -> bool {
        self.actions.iter().all(|a| a.commit_info.is_some())
    }

    /// What the run's records see of its publish, committing `version`.
    fn publishing(&self, version: u64) -> Publishing {
        Publishing {
            before: self.before.clone(),
            stale: self.stale.clone(),
            unchanged: self.kept.clone(),
            etags: BTreeMap::new(),
            delta_version: Some(version),
        }
    }

    /// The run's pending records, for `version`, its `uploads` named.
    fn pending(
        &self,
        commit: &Commit<'_>,
        version: u64,
        uploads: Vec<String>,
        records: MakeRecords<'_>,
    ) -> Result<Pending> {
        let records = records(&self.publishing(version))?;
        Ok(Pending {
            run_id: commit.run_id.to_owned(),
            delta_version: version,
            uploads,
            records: records
                .into_iter()
                .map(|(k, body)| (k, String::from_utf8_lossy(&body).into_owned()))
                .collect(),
        })
    }

    fn report(
        &self,
        staged: &StagedDataset,
        named: &Named,
        deleted: Vec<String>,
        left_behind: Option<String>,
        version: u64,
    ) -> PublishReport {
        PublishReport {
            files: staged.files.len(),
            bytes: staged.files.iter().map(|f| f.bytes).sum(),
            unchanged: named.kept.len(),
            deleted,
            left_behind,
            delta_version: Some(version),
        }
    }
}

/// The staged files a run uploads: those the table does not hold already, and its rejects.
fn uploads_of<'s>(staged: &'s StagedDataset, kept: &BTreeSet<String>) -> Vec<&'s super::parquet::StagedFile> {
    staged.files.iter().filter(|f| !kept.contains(&f.key)).chain(&staged.rejects).collect()
}

/// Writes the run's pending records, uploads its files, and commits its version: the next one, or,
/// after a writer that took it first, the one after (see [`after_a_race`]). The pending records come
/// before the uploads: a run killed while uploading has its files removed by the next one.
async fn commit_changes(
    store: &dyn ObjectStore,
    staged: &StagedDataset,
    commit: &Commit<'_>,
    run: &mut Changes,
    records: MakeRecords<'_>,
) -> Result<Pending> {
    let dataset = &staged.dataset;
    let mut version = commit.snapshot.map_or(0, |s| s.version + 1);
    let mut uploaded = false;
    loop {
        let pending = run.pending(commit, version, run.uploads.clone(), records)?;
        let body = serde_json::to_vec_pretty(&pending).map_err(|e| Error::Internal(e.to_string()))?;
        store.put(&dataset.journal_key(commit.run_id), body).await?;
        crate::faults::point("journal")?;
        if !uploaded {
            super::publish::upload(store, &uploads_of(staged, &run.kept)).await?;
            uploaded = true;
        }
        if let Some(lock) = commit.lock {
            lock.ensure_held().await?;
        }
        set_read_version(&mut run.actions, version);
        if log::try_commit(store, dataset, version, &run.actions).await? {
            crate::faults::point("commit")?;
            return Ok(pending);
        }
        version = after_a_race(store, dataset, version, &run.actions, staged.mode).await?;
    }
}

/// The commit's actions: what the table's version adds, removes and changes.
fn actions(
    staged: &StagedDataset,
    commit: &Commit<'_>,
    stale: &[String],
    named: &Named,
) -> Result<Vec<Action>> {
    let dataset = &staged.dataset;
    let now = log::now_millis();
    let previous = commit.snapshot.map(|s| &s.metadata);
    let partition = partition_column(staged, commit.snapshot, commit.schema);
    // The table keeps its id and its columns their mapping ids (new columns get new ones).
    let metadata = schema::metadata(commit.schema, partition.as_deref(), previous, now)?;
    let protocol = schema::protocol(&metadata, commit.snapshot.map(|s| &s.protocol));
    let mut out = vec![Action::commit_info(serde_json::json!({
        "timestamp": now,
        "operation": if commit.rearranged { "OPTIMIZE" } else { "WRITE" },
        "operationParameters": {
            "mode": if staged.mode == WriteMode::Append { "Append" } else { "Overwrite" },
            "partitionBy": serde_json::to_string(&partition.iter().collect::<Vec<_>>()).unwrap_or_default(),
            "etlMode": staged.mode.name(),
        },
        "readVersion": commit.snapshot.map(|s| s.version),
        "isBlindAppend": staged.mode == WriteMode::Append && !commit.rearranged,
        "engineInfo": format!("etl {}", env!("CARGO_PKG_VERSION")),
        "etlCommand": commit.command,
        log::RUN_ID: commit.run_id,
    }))];
    if commit.snapshot.is_none_or(|s| s.protocol != protocol) {
        out.push(Action::protocol(protocol));
    }
    if commit.snapshot.is_none_or(|s| !same_metadata(&s.metadata, &metadata)) {
        out.push(Action::metadata(metadata));
    }
    let snapshot_files = commit.snapshot.map(|s| &s.files);
    for key in stale {
        let Some(path) = dataset.relative(key) else { continue };
        let Some(add) = snapshot_files.and_then(|f| f.get(path)) else { continue };
        out.push(Action::remove(Remove {
            path: path.to_owned(),
            deletion_timestamp: Some(now),
            data_change: !commit.rearranged,
            extended_file_metadata: Some(true),
            partition_values: Some(add.partition_values.clone()),
            size: Some(add.size),
        }));
    }
    for file in staged.files.iter().filter(|f| !named.kept.contains(&f.key)) {
        let path = dataset.relative(&file.key).unwrap_or(&file.key).to_owned();
        let mut values = BTreeMap::new();
        if let Some(column) = &partition {
            values.insert(
                column.clone(),
                match file.partition {
                    Partition::Day(_) => Some(file.partition.value()),
                    Partition::Null | Partition::Unpartitioned => None,
                },
            );
        }
        out.push(Action::add(Add {
            path,
            partition_values: values,
            size: file.bytes as i64,
            modification_time: now,
            data_change: !commit.rearranged,
            stats: Some(stats::of_file(&file.path, commit.schema)?),
        }));
    }
    Ok(out)
}

/// Whether two metadata actions describe the same table (the creation time aside).
fn same_metadata(a: &log::Metadata, b: &log::Metadata) -> bool {
    a.id == b.id
        && a.schema_string == b.schema_string
        && a.partition_columns == b.partition_columns
        && a.configuration == b.configuration
}

/// Sets `commitInfo.readVersion` to the version before `version`.
fn set_read_version(actions: &mut [Action], version: u64) {
    if let Some(info) = actions.first_mut().and_then(|a| a.commit_info.as_mut()) {
        info["readVersion"] = match version {
            0 => serde_json::Value::Null,
            v => serde_json::json!(v - 1),
        };
    }
}

/// After another writer committed `version` first: the next version to try, if what it (and any
/// after it) committed leaves this run's changes valid; else the run is refused (exit 75).
async fn after_a_race(
    store: &dyn ObjectStore,
    dataset: &DatasetId,
    version: u64,
    ours: &[Action],
    mode: WriteMode,
) -> Result<u64> {
    let mut next = version;
    while let Some(theirs) = log::read_commit(store, dataset, next).await? {
        if let Some(why) = conflict(ours, &theirs, mode) {
            let by = theirs
                .iter()
                .find_map(|a| a.commit_info.as_ref())
                .and_then(|i| {
                    i.get("engineInfo")
                        .or_else(|| i.get("clientVersion"))
                        .and_then(|v| v.as_str())
                        .map(str::to_owned)
                })
                .unwrap_or_else(|| "another writer".to_owned());
            return Err(Error::Locked(format!(
                "{by} committed version {next} of {dataset} while this run published, and {why}; nothing \
                 was published: run again to load onto the table as it is now"
            )));
        }
        tracing::info!(
            "{dataset}: version {next} was committed by another writer meanwhile; trying {}",
            next + 1
        );
        next += 1;
    }
    Ok(next)
}

/// Why `ours` cannot follow `theirs`, if it cannot: they changed the table's schema or protocol,
/// removed a file this run removes too, or added files where this run replaces (any but a blind
/// append).
fn conflict(ours: &[Action], theirs: &[Action], mode: WriteMode) -> Option<String> {
    if theirs.iter().any(|a| a.metadata.is_some() || a.protocol.is_some()) {
        return Some("changed the table's schema".into());
    }
    let removed: BTreeSet<&str> =
        ours.iter().filter_map(|a| a.remove.as_ref()).map(|r| r.path.as_str()).collect();
    if let Some(r) =
        theirs.iter().filter_map(|a| a.remove.as_ref()).find(|r| removed.contains(r.path.as_str()))
    {
        return Some(format!("removed {} too", r.path));
    }
    let added = theirs.iter().filter_map(|a| a.add.as_ref());
    match mode {
        WriteMode::Append => None,
        _ => {
            let touched: BTreeSet<&BTreeMap<String, Option<String>>> = ours
                .iter()
                .filter_map(|a| a.remove.as_ref().and_then(|r| r.partition_values.as_ref()))
                .chain(ours.iter().filter_map(|a| a.add.as_ref()).map(|a| &a.partition_values))
                .collect();
            let whole = mode == WriteMode::Replace;
            added
                .into_iter()
                .find(|a| whole || touched.contains(&a.partition_values))
                .map(|a| format!("added {} where this {} run replaces the rows", a.path, mode.name()))
        }
    }
}

/// What follows a commit: the run's records, then the pending ones dropped, the files of a Hive
/// dataset the table replaced deleted, and every tenth version a checkpoint. A failure here is a
/// warning (the version is committed); the pending records stay for the next run to write.
async fn after_commit(
    store: &dyn ObjectStore,
    dataset: &DatasetId,
    pending: &Pending,
    commit: &Commit<'_>,
    staged: &StagedDataset,
) -> Option<String> {
    let done = async {
        write_records(store, pending).await?;
        if commit.snapshot.is_none() {
            // The first version: files of the Hive layout the table replaces are in no version.
            let ours: BTreeSet<&str> = staged.files.iter().map(|f| f.key.as_str()).collect();
            let old: Vec<String> = commit
                .listed
                .iter()
                .map(|o| o.key.clone())
                .filter(|k| dataset.part_of_key(k).is_some() && !ours.contains(k.as_str()))
                .collect();
            store.delete_many(&old).await?;
        }
        store.delete_many(&[dataset.journal_key(&pending.run_id)]).await?;
        Ok::<_, Error>(())
    }
    .await;
    if pending.delta_version > 0 && pending.delta_version % checkpoint::INTERVAL == 0 {
        let written = async {
            let snapshot =
                log::read(store, dataset).await?.ok_or_else(|| Error::Internal("no log".into()))?;
            checkpoint::write(store, dataset, &snapshot).await
        }
        .await;
        if let Err(e) = written {
            tracing::warn!("{dataset}: could not write the checkpoint of version {} ({e:#}); readers replay the log instead", pending.delta_version);
        }
    }
    let error = done.err()?;
    let left = format!(
        "committed version {} of {dataset}, but writing its records failed ({error:#}): the next run of \
         {dataset} writes them, or `etl repair {dataset}` now",
        pending.delta_version
    );
    tracing::warn!("{left}");
    Some(left)
}

/// Writes a committed run's records (run record, state, manifest: in that order).
async fn write_records(store: &dyn ObjectStore, pending: &Pending) -> Result<()> {
    for (key, body) in &pending.records {
        store.put(key, body.clone().into_bytes()).await?;
        let point = match key.rsplit('/').next() {
            Some("_manifest.json") => "manifest",
            Some("_state.json") => "state",
            _ => "record",
        };
        crate::faults::point(point)?;
    }
    Ok(())
}

/// Settles a run's pending records (`body`, from its journal): written if the table has the run's
/// commit, its uploads removed if not. Returns whether it had committed.
pub async fn recover(
    store: &dyn ObjectStore,
    dataset: &DatasetId,
    body: &[u8],
) -> Result<Option<(String, bool)>> {
    let Ok(pending) = serde_json::from_slice::<Pending>(body) else { return Ok(None) };
    let mut version = pending.delta_version;
    let mut committed = false;
    while let Some(actions) = log::read_commit(store, dataset, version).await? {
        let run = actions
            .iter()
            .find_map(|a| a.commit_info.as_ref())
            .and_then(|i| i.get(log::RUN_ID)?.as_str().map(str::to_owned));
        if run.as_deref() == Some(pending.run_id.as_str()) {
            committed = true;
            break;
        }
        version += 1;
    }
    if committed {
        write_records(store, &pending).await?;
    } else {
        store.delete_many(&pending.uploads).await?;
    }
    store.delete_many(&[dataset.journal_key(&pending.run_id)]).await?;
    Ok(Some((pending.run_id, committed)))
}
