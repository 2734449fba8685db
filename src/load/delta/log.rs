//! The Delta log read (the table as of a version, [`Snapshot`]) and written (a commit).
//!
//! A commit is one object, `_delta_log/<version, 20 digits>.json`, one action a line, created only
//! if absent ([`ObjectStore::put_if_absent`]): of two writers racing for a version one wins, and the
//! other reads what won before it tries the next. Readers replay the log from the newest checkpoint
//! (`<version>.checkpoint.parquet`) on.

use std::collections::BTreeMap;

use futures::StreamExt;

pub use super::actions::{
    decoded, now_millis, stats_rows, Action, Add, Format, Metadata, Protocol, Remove, Snapshot, RUN_ID,
};
use crate::error::{Error, Result};
use crate::load::layout::DatasetId;
use crate::store::{ObjectStore, StoreError};

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
        None => Snapshot::empty(0, None),
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
