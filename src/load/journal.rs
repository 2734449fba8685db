//! The publish journal: readers see the old dataset or the new one, never a mix that stays.
//!
//! Before a publish changes any live key, it writes `datasets/<id>/_journal/<run-id>.json` saying
//! which keys it will overwrite (each first copied, inside the store, to a backup under
//! `_journal/<run-id>/`), which keys it will create, and which it will delete once its manifest is
//! written. The manifest is the commit point:
//! - a publish that fails before its manifest is rolled back at once (backups copied back, created
//!   keys deleted); one that fails after it is finished (the stale keys deleted);
//! - a run killed outright leaves its journal; the next run to take the dataset's lock (or
//!   `etl repair`) finds it and rolls back (the manifest is not the journal's run) or finishes (it
//!   is), before anything else.
//!
//! Every step is idempotent, so a recovery that is itself killed is simply done again.

use serde::{Deserialize, Serialize};

use super::layout::DatasetId;
use crate::error::{Error, Result};
use crate::store::{ObjectStore, StoreError};

/// What a publish changes in the store.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Journal {
    pub run_id: String,
    /// Live keys the publish overwrites, each with the key of its backup.
    pub backups: Vec<(String, String)>,
    /// Keys the publish creates (nothing was there).
    pub created: Vec<String>,
    /// Keys the publish deletes once its manifest is written.
    pub stale: Vec<String>,
}

/// How a recovery ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recovered {
    /// The run's manifest was not written: the dataset is as it was before the run.
    RolledBack(String),
    /// The run's manifest was written: the objects it replaced are gone, as it would have done.
    Finished(String),
    /// A Delta table's run stopped before its commit: its files are removed (no version read them).
    NotCommitted(String),
    /// A Delta table's run stopped after its commit: its records are written, as it would have done.
    Committed(String),
}

impl std::fmt::Display for Recovered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Recovered::RolledBack(run) => {
                write!(f, "run {run} stopped during its publish, before its manifest: rolled back")
            }
            Recovered::Finished(run) => {
                write!(f, "run {run} stopped during its publish, after its manifest: finished")
            }
            Recovered::NotCommitted(run) => write!(
                f,
                "run {run} stopped during its publish, before its commit: its files removed (no version read them)"
            ),
            Recovered::Committed(run) => {
                write!(f, "run {run} stopped during its publish, after its commit: its records written")
            }
        }
    }
}

impl Journal {
    /// The journal of a publish by `run_id` of `dataset` that writes `writes` (data files, then
    /// the run's records) and deletes `stale`, over the objects `before` (keys).
    pub fn new(
        dataset: &DatasetId,
        run_id: &str,
        writes: &[String],
        before: &[String],
        stale: Vec<String>,
    ) -> Self {
        let existing: std::collections::HashSet<&str> = before.iter().map(String::as_str).collect();
        let (mut backups, mut created) = (Vec::new(), Vec::new());
        for key in writes {
            if existing.contains(key.as_str()) {
                backups.push((key.clone(), dataset.backup_key(run_id, backups.len())));
            } else {
                created.push(key.clone());
            }
        }
        Journal { run_id: run_id.to_owned(), backups, created, stale }
    }

    /// Writes the journal, then the backups: after this, the publish may change live keys.
    pub async fn begin(&self, store: &dyn ObjectStore, dataset: &DatasetId) -> Result<()> {
        let body = serde_json::to_vec_pretty(self).map_err(|e| Error::Internal(e.to_string()))?;
        store.put(&dataset.journal_key(&self.run_id), body).await?;
        crate::faults::point("journal")?;
        for (live, backup) in &self.backups {
            store.copy(live, backup).await?;
            crate::faults::point("backup")?;
        }
        Ok(())
    }

    /// Puts back what the publish changed: each backup over its live key, the created keys
    /// deleted; then the journal goes.
    pub async fn roll_back(&self, store: &dyn ObjectStore, dataset: &DatasetId) -> Result<()> {
        for (live, backup) in &self.backups {
            match store.copy(backup, live).await {
                Ok(()) => {}
                // Not copied yet when the run stopped: the live key was not touched either.
                Err(StoreError::NotFound { .. }) => {}
                Err(StoreError::Io { error, .. }) if error.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e.into()),
            }
        }
        store.delete_many(&self.created).await?;
        self.end(store, dataset).await
    }

    /// Deletes what the committed publish replaced; then the journal goes.
    pub async fn finish(&self, store: &dyn ObjectStore, dataset: &DatasetId) -> Result<()> {
        if crate::faults::active() {
            for key in &self.stale {
                store.delete_many(std::slice::from_ref(key)).await?;
                crate::faults::point("delete")?;
            }
        } else {
            store.delete_many(&self.stale).await?;
        }
        self.end(store, dataset).await
    }

    /// Removes the backups and, last, the journal itself.
    async fn end(&self, store: &dyn ObjectStore, dataset: &DatasetId) -> Result<()> {
        let backups: Vec<String> = self.backups.iter().map(|(_, b)| b.clone()).collect();
        store.delete_many(&backups).await?;
        store.delete_many(&[dataset.journal_key(&self.run_id)]).await?;
        Ok(())
    }
}

/// Finishes or rolls back the publish of `journal` (its body, read from `key`), which a stopped run
/// left: finished when the manifest is the run's (it committed), rolled back when not. Call it
/// holding the dataset's lock (see [`super::recover`]).
pub async fn settle(
    store: &dyn ObjectStore,
    dataset: &DatasetId,
    key: &str,
    body: &[u8],
) -> Result<Recovered> {
    let journal: Journal = serde_json::from_slice(body).map_err(|e| {
        Error::Internal(format!(
            "{}: not a journal ({e}); remove it by hand after checking",
            store.url_of(key)
        ))
    })?;
    let manifest = super::manifest::read(store, dataset).await?;
    Ok(if manifest.is_some_and(|m| m.run_id == journal.run_id) {
        journal.finish(store, dataset).await?;
        Recovered::Finished(journal.run_id)
    } else {
        journal.roll_back(store, dataset).await?;
        Recovered::RolledBack(journal.run_id)
    })
}
