//! The Delta log: its actions, the table they add up to at a version ([`Snapshot`]), and a commit.
//!
//! A commit is one object, `_delta_log/<version, 20 digits>.json`, one action a line, created only
//! if absent ([`ObjectStore::put_if_absent`]): of two writers racing for a version one wins, and the
//! other reads what won before it tries the next. Readers replay the log from the newest checkpoint
//! (`<version>.checkpoint.parquet`) on.

use std::collections::BTreeMap;

use futures::StreamExt;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::load::layout::DatasetId;
use crate::store::{ObjectStore, StoreError};

/// A data file added to the table.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Add {
    /// Relative to the table's root (`partitions/date=2026-11-01/part-0000-<run>.parquet`).
    pub path: String,
    pub partition_values: BTreeMap<String, Option<String>>,
    pub size: i64,
    /// Milliseconds since the epoch.
    pub modification_time: i64,
    pub data_change: bool,
    /// `{"numRecords": …, "minValues": …, "maxValues": …, "nullCount": …}`, as text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stats: Option<String>,
}

/// A data file removed from the table (its object stays for older versions until a vacuum).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Remove {
    pub path: String,
    /// Milliseconds since the epoch: when the file stopped being part of the table.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion_timestamp: Option<i64>,
    pub data_change: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extended_file_metadata: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition_values: Option<BTreeMap<String, Option<String>>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<i64>,
}

/// The file format of the table's data files.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Format {
    pub provider: String,
    #[serde(default)]
    pub options: BTreeMap<String, String>,
}

/// The table's id, schema, partition columns and settings.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Metadata {
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    pub format: Format,
    /// The schema as Delta's JSON struct type, in a string.
    pub schema_string: String,
    pub partition_columns: Vec<String>,
    #[serde(default)]
    pub configuration: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_time: Option<i64>,
}

/// What a reader and a writer must support to use the table.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Protocol {
    pub min_reader_version: i32,
    pub min_writer_version: i32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reader_features: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub writer_features: Option<Vec<String>>,
}

/// One line of a commit: one action (the others absent). Actions this tool does not write
/// (`txn`, `cdc`, `domainMetadata`, …) are read past.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Action {
    #[serde(default, skip_serializing_if = "Option::is_none", rename = "commitInfo")]
    pub commit_info: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<Protocol>,
    #[serde(default, skip_serializing_if = "Option::is_none", rename = "metaData")]
    pub metadata: Option<Metadata>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remove: Option<Remove>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub add: Option<Add>,
}

impl Action {
    pub fn add(add: Add) -> Self {
        Action { add: Some(add), ..Default::default() }
    }
    pub fn remove(remove: Remove) -> Self {
        Action { remove: Some(remove), ..Default::default() }
    }
    pub fn metadata(metadata: Metadata) -> Self {
        Action { metadata: Some(metadata), ..Default::default() }
    }
    pub fn protocol(protocol: Protocol) -> Self {
        Action { protocol: Some(protocol), ..Default::default() }
    }
    pub fn commit_info(info: serde_json::Value) -> Self {
        Action { commit_info: Some(info), ..Default::default() }
    }
}

/// The key in `commitInfo` that names the etl run that made a version.
pub const RUN_ID: &str = "etlRunId";

/// The table as of one version: what a reader of that version reads.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub version: u64,
    pub protocol: Protocol,
    pub metadata: Metadata,
    /// The table's data files, by path (as the log writes it, percent-decoded).
    pub files: BTreeMap<String, Add>,
    /// Files removed and not added again, by path: what older versions still read.
    pub tombstones: BTreeMap<String, Remove>,
    /// The newest checkpoint the snapshot was read from, if any.
    pub checkpoint: Option<u64>,
    /// Each version's `commitInfo` read (those after the checkpoint).
    pub infos: BTreeMap<u64, serde_json::Value>,
}

impl Snapshot {
    /// The run that made `version`, if an etl run did (and the version was read).
    pub fn run_of(&self, version: u64) -> Option<&str> {
        self.infos.get(&version)?.get(RUN_ID)?.as_str()
    }

    /// The keys of the table's data files (`datasets/<id>/…`), with their sizes.
    pub fn objects(&self, dataset: &DatasetId) -> Vec<crate::store::ObjectMeta> {
        self.files
            .values()
            .map(|a| crate::store::ObjectMeta {
                key: format!("{}{}", dataset.prefix(), a.path),
                size: a.size as u64,
                etag: None,
            })
            .collect()
    }

    /// Rows in the table, where every file's stats say how many.
    pub fn rows(&self) -> Option<u64> {
        self.files.values().map(|a| stats_rows(a.stats.as_deref())).sum()
    }

    /// Applies one commit's actions.
    fn apply(&mut self, version: u64, actions: Vec<Action>) {
        self.version = version;
        for action in actions {
            if let Some(info) = action.commit_info {
                self.infos.insert(version, info);
            }
            if let Some(protocol) = action.protocol {
                self.protocol = protocol;
            }
            if let Some(metadata) = action.metadata {
                self.metadata = metadata;
            }
            if let Some(remove) = action.remove {
                let path = decoded(&remove.path);
                self.files.remove(&path);
                self.tombstones.insert(path, remove);
            }
            if let Some(add) = action.add {
                let path = decoded(&add.path);
                self.tombstones.remove(&path);
                self.files.insert(path.clone(), Add { path, ..add });
            }
        }
    }
}

/// `numRecords` of an add's stats.
pub fn stats_rows(stats: Option<&str>) -> Option<u64> {
    let stats: serde_json::Value = serde_json::from_str(stats?).ok()?;
    stats.get("numRecords")?.as_u64()
}

/// A path of the log with its percent-escapes decoded (`a%20b` is the object `a b`).
fn decoded(path: &str) -> String {
    percent_encoding::percent_decode_str(path).decode_utf8_lossy().into_owned()
}

/// The versions and checkpoints the dataset's log holds.
#[derive(Debug, Default)]
pub struct Listing {
    pub commits: Vec<u64>,
    pub checkpoints: Vec<u64>,
}

impl Listing {
    /// The newest version committed.
    pub fn latest(&self) -> Option<u64> {
        self.commits.iter().chain(&self.checkpoints).max().copied()
    }
}

/// Lists the dataset's log.
pub async fn list(store: &dyn ObjectStore, dataset: &DatasetId) -> Result<Listing> {
    let mut listing = Listing::default();
    for object in store.list(&dataset.delta_log_prefix()).await? {
        if let Some(v) = dataset.delta_version_of_key(&object.key) {
            listing.commits.push(v);
        } else if let Some(v) = dataset.delta_checkpoint_of_key(&object.key) {
            listing.checkpoints.push(v);
        }
    }
    listing.commits.sort_unstable();
    listing.checkpoints.sort_unstable();
    Ok(listing)
}

/// Whether the dataset has a Delta log.
pub async fn exists(store: &dyn ObjectStore, dataset: &DatasetId) -> Result<bool> {
    Ok(list(store, dataset).await?.latest().is_some())
}

/// Reads the table as of its newest version; `None` when the dataset has no log.
pub async fn read(store: &dyn ObjectStore, dataset: &DatasetId) -> Result<Option<Snapshot>> {
    read_at(store, dataset, None).await
}

/// Reads the table as of `version` (the newest when `None`), from the newest checkpoint at or
/// before it on.
pub async fn read_at(
    store: &dyn ObjectStore,
    dataset: &DatasetId,
    version: Option<u64>,
) -> Result<Option<Snapshot>> {
    let listing = list(store, dataset).await?;
    let Some(latest) = listing.latest() else { return Ok(None) };
    let target = version.unwrap_or(latest);
    if target > latest {
        return Err(Error::Usage(format!("{dataset} has no version {target}: its newest is {latest}")));
    }
    let checkpoint = listing.checkpoints.iter().rev().find(|v| **v <= target).copied();
    let mut snapshot = match checkpoint {
        Some(v) => super::checkpoint::read(store, dataset, v).await?,
        None => Snapshot {
            version: 0,
            protocol: Protocol {
                min_reader_version: 1,
                min_writer_version: 2,
                reader_features: None,
                writer_features: None,
            },
            metadata: Metadata {
                id: String::new(),
                name: None,
                description: None,
                format: Format { provider: "parquet".into(), options: BTreeMap::new() },
                schema_string: String::new(),
                partition_columns: Vec::new(),
                configuration: BTreeMap::new(),
                created_time: None,
            },
            files: BTreeMap::new(),
            tombstones: BTreeMap::new(),
            checkpoint: None,
            infos: BTreeMap::new(),
        },
    };
    let from = checkpoint.map_or(0, |v| v + 1);
    let wanted: Vec<u64> = (from..=target).collect();
    let missing: Vec<u64> =
        wanted.iter().filter(|v| listing.commits.binary_search(v).is_err()).copied().collect();
    if let Some(v) = missing.first() {
        return Err(Error::Internal(format!(
            "{}: version {v} of the table's log is missing (the log must hold every version after its \
             newest checkpoint); nothing was changed",
            store.url_of(&dataset.delta_log_prefix())
        )));
    }
    let commits: Vec<Result<(u64, Vec<Action>)>> = futures::stream::iter(
        wanted
            .into_iter()
            .map(|v| async move { Ok((v, read_commit(store, dataset, v).await?.unwrap_or_default())) }),
    )
    .buffered(16)
    .collect()
    .await;
    for commit in commits {
        let (v, actions) = commit?;
        snapshot.apply(v, actions);
    }
    if snapshot.metadata.schema_string.is_empty() {
        return Err(Error::Internal(format!(
            "{}: the table's log has no metaData action up to version {target}",
            store.url_of(&dataset.delta_log_prefix())
        )));
    }
    snapshot.version = target;
    Ok(Some(snapshot))
}

/// Every file a commit of the log removed and no later one added again, with when it was removed
/// (milliseconds since the epoch): the files older versions read. (The log keeps every commit;
/// the tombstones of a checkpoint stand for commits before the oldest one kept.)
pub async fn removals(store: &dyn ObjectStore, dataset: &DatasetId) -> Result<BTreeMap<String, i64>> {
    let listing = list(store, dataset).await?;
    let mut removed = BTreeMap::new();
    let first = listing.commits.first().copied().unwrap_or(0);
    if first > 0 {
        if let Some(v) = listing.checkpoints.iter().rev().find(|v| **v + 1 >= first) {
            let snapshot = super::checkpoint::read(store, dataset, *v).await?;
            for (path, remove) in snapshot.tombstones {
                removed.insert(path, remove.deletion_timestamp.unwrap_or(0));
            }
        }
    }
    let commits: Vec<Result<Vec<Action>>> = futures::stream::iter(
        listing
            .commits
            .iter()
            .map(|v| async move { Ok(read_commit(store, dataset, *v).await?.unwrap_or_default()) }),
    )
    .buffered(16)
    .collect()
    .await;
    for actions in commits {
        for action in actions? {
            if let Some(r) = action.remove {
                removed.insert(decoded(&r.path), r.deletion_timestamp.unwrap_or(0));
            }
            if let Some(a) = action.add {
                removed.remove(&decoded(&a.path));
            }
        }
    }
    Ok(removed)
}

/// The actions of one commit; `None` if that version was never committed.
pub async fn read_commit(
    store: &dyn ObjectStore,
    dataset: &DatasetId,
    version: u64,
) -> Result<Option<Vec<Action>>> {
    let key = dataset.delta_commit_key(version);
    let body = match store.get(&key).await {
        Ok(body) => body,
        Err(StoreError::NotFound { .. }) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let text = String::from_utf8_lossy(&body);
    let mut actions = Vec::new();
    for (n, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let action: Action = serde_json::from_str(line).map_err(|e| {
            Error::Internal(format!("{} line {}: not a Delta action ({e})", store.url_of(&key), n + 1))
        })?;
        actions.push(action);
    }
    Ok(Some(actions))
}

/// Commits `actions` as `version`: creates its log entry only if absent. `false`: another writer
/// committed that version first.
///
/// On a store that ignores `If-None-Match` (Garage), as the dataset's lock does: it looks first,
/// and reads its entry back after writing it (which catches a writer that overlaps, not one that
/// writes in the same instant).
pub async fn try_commit(
    store: &dyn ObjectStore,
    dataset: &DatasetId,
    version: u64,
    actions: &[Action],
) -> Result<bool> {
    let mut body = Vec::new();
    for action in actions {
        serde_json::to_writer(&mut body, action).map_err(|e| Error::Internal(e.to_string()))?;
        body.push(b'\n');
    }
    let key = dataset.delta_commit_key(version);
    match store.get(&key).await {
        Ok(_) => return Ok(false),
        Err(StoreError::NotFound { .. }) => {}
        Err(e) => return Err(e.into()),
    }
    if !store.put_if_absent(&key, body.clone()).await? {
        return Ok(false);
    }
    Ok(store.get(&key).await? == body)
}

/// Milliseconds since the epoch, now.
pub fn now_millis() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

#[cfg(test)]
pub(crate) mod tests_support {
    use super::*;

    /// A small table: three files (one of null days), one of them removed since.
    pub fn snapshot() -> Snapshot {
        let columns =
            [crate::load::manifest::ColumnRecord { name: "Max Mode".into(), kind: "String".into() }];
        let metadata = super::super::schema::metadata(&columns, Some("date"), None, 1).unwrap();
        let protocol = super::super::schema::protocol(&metadata, None);
        let add = |day: &str, n: i64| Add {
            path: format!("partitions/date={day}/part-0000-r{n}.parquet"),
            partition_values: [("date".to_owned(), Some(day.to_owned()))].into(),
            size: 100 + n,
            modification_time: 1_000 + n,
            data_change: true,
            stats: Some(format!("{{\"numRecords\":{n}}}")),
        };
        let mut snapshot = Snapshot {
            version: 0,
            protocol,
            metadata,
            files: BTreeMap::new(),
            tombstones: BTreeMap::new(),
            checkpoint: None,
            infos: BTreeMap::new(),
        };
        let nulls = Add {
            partition_values: [("date".to_owned(), None)].into(),
            ..add("__HIVE_DEFAULT_PARTITION__", 3)
        };
        let actions =
            vec![Action::add(add("2026-11-01", 1)), Action::add(add("2026-11-02", 2)), Action::add(nulls)];
        snapshot.apply(1, actions);
        let gone = Remove {
            path: "partitions/date=2026-11-02/part-0000-r2.parquet".into(),
            deletion_timestamp: Some(2_000),
            data_change: true,
            extended_file_metadata: Some(true),
            partition_values: Some([("date".to_owned(), Some("2026-11-02".to_owned()))].into()),
            size: Some(102),
        };
        snapshot.apply(2, vec![Action::remove(gone)]);
        snapshot
    }

    #[test]
    fn a_replayed_log_holds_what_was_added_and_not_removed() {
        let s = snapshot();
        assert_eq!(s.files.len(), 2);
        assert_eq!(s.tombstones.len(), 1);
        assert_eq!(s.rows(), Some(4));
    }
}
