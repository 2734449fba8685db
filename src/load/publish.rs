//! Publishing staged files: upload (bounded concurrency), then delete what they replace.
//!
//! The run's files are all in place before anything is deleted. A staged file whose bytes the stored
//! object provably has (the previous manifest records the same size and SHA-256 for the key, and the
//! store proves the object still holds them: [`unchanged_files`]) is not uploaded again: the writer is deterministic, so a daily load of an
//! export that gained one day uploads about one partition. What is replaced:
//! - unpartitioned: every other object under `datasets/<id>/data/` and `datasets/<id>/partitions/`;
//! - partitioned, [`WriteMode::Merge`]: the other objects in the partition folders this run wrote (a
//!   partition that now needs fewer part files loses the stale ones) and any unpartitioned `data/`
//!   copy; partitions this run did not touch stay;
//! - partitioned, [`WriteMode::Replace`]: every other object under `data/` and `partitions/`, so
//!   that partitions gone from the source go from the dataset too; with a partition range, every
//!   other object in the partition folders of the range's days, and nothing outside them.

use std::collections::{BTreeSet, HashSet};

use futures::StreamExt;

use super::journal::Journal;
use super::layout::Partition;
use super::manifest::{FileRecord, Manifest};
use super::parquet::StagedFile;
use super::staged::{StagedDataset, WriteMode};
use crate::error::Result;
use crate::store::{ObjectMeta, ObjectStore};

/// Concurrent uploads.
const UPLOADS_IN_FLIGHT: usize = 16;

/// What a publish did.
#[derive(Debug, Clone, Default)]
pub struct PublishReport {
    pub files: usize,
    pub bytes: u64,
    /// Files left as they were: the stored object already had their bytes.
    pub unchanged: usize,
    /// Objects of earlier runs that this run replaced.
    pub deleted: Vec<String>,
    /// What the cleanup after the commit point could not do (the run is published all the same).
    pub left_behind: Option<String>,
    /// The version of the Delta table the run committed (a Delta table's publish).
    pub delta_version: Option<u64>,
}

/// Makes a run's records (run record, state, manifest: each key and body) for what its publish found.
pub type MakeRecords<'a> = &'a dyn Fn(&Publishing) -> Result<Vec<(String, Vec<u8>)>>;

/// What a publish found and will replace, for the run records written between the uploads and the
/// deletes.
#[derive(Debug)]
pub struct Publishing {
    /// The dataset's objects before the run.
    pub before: Vec<ObjectMeta>,
    /// The objects the run replaces (deleted last).
    pub stale: Vec<String>,
    /// The run's files that were already in place, byte for byte (not uploaded).
    pub unchanged: BTreeSet<String>,
    /// The checksum the store computed of each file uploaded (S3's ETag), by key.
    pub etags: std::collections::BTreeMap<String, String>,
    /// The version of the Delta table the run commits (a Delta table's publish).
    pub delta_version: Option<u64>,
}

impl Publishing {
    /// The files of the dataset after a publish: this run's, and the data files in place before it that
    /// it keeps (a merge's other partitions), described from the previous manifest where it knows them.
    pub fn files_after(&self, previous: Option<&Manifest>, new_files: Vec<FileRecord>) -> Vec<FileRecord> {
        let publishing = self;
        let written: BTreeSet<&str> = new_files.iter().map(|f| f.key.as_str()).collect();
        let gone: BTreeSet<&str> = publishing.stale.iter().map(String::as_str).collect();
        let known = |key: &str, bytes: u64| {
            previous.and_then(|p| p.files.iter().find(|f| f.key == key && f.bytes == bytes)).cloned()
        };
        let mut files: Vec<FileRecord> = publishing
            .before
            .iter()
            .filter(|o| {
                o.key.ends_with(".parquet") && (o.key.contains("/data/") || o.key.contains("/partitions/"))
            })
            .filter(|o| !written.contains(o.key.as_str()) && !gone.contains(o.key.as_str()))
            .map(|o| {
                known(&o.key, o.size).unwrap_or(FileRecord {
                    key: o.key.clone(),
                    rows: None,
                    bytes: o.size,
                    sha256: None,
                    run_id: None,
                    etag: None,
                })
            })
            .collect();
        // A file left in place keeps the record of the run that wrote its bytes.
        files.extend(new_files.into_iter().map(|f| match publishing.unchanged.contains(&f.key) {
            true => known(&f.key, f.bytes).unwrap_or(f),
            false => FileRecord { etag: publishing.etags.get(&f.key).cloned(), ..f },
        }));
        files.sort_by(|a, b| a.key.cmp(&b.key));
        files
    }
}

/// The staged files whose bytes the store provably holds under the same key: the previous manifest
/// records the same bytes (size and SHA-256) for the key, and the store proves the object listed in
/// `before` still holds them ([`ObjectStore::holds`]: its own checksum, or the object hashed; never
/// the size alone, so an object altered out of band is uploaded again).
pub async fn unchanged_files(
    store: &dyn ObjectStore,
    staged: &StagedDataset,
    previous: Option<&Manifest>,
    before: &[ObjectMeta],
) -> Result<BTreeSet<String>> {
    let Some(previous) = previous else { return Ok(BTreeSet::new()) };
    let candidates = staged.files.iter().filter_map(|f| {
        let recorded = previous.files.iter().find(|r| {
            r.key == f.key && r.bytes == f.bytes && r.sha256.as_deref() == Some(f.sha256.as_str())
        })?;
        let listed = before.iter().find(|o| o.key == f.key && o.size == f.bytes)?;
        Some((f, recorded, listed))
    });
    let proven: Vec<Option<String>> =
        futures::stream::iter(candidates.map(|(f, recorded, listed)| async move {
            let held = store.holds(listed, &f.sha256, recorded.etag.as_deref()).await?;
            Ok::<_, crate::store::StoreError>(held.then(|| f.key.clone()))
        }))
        .buffered(UPLOADS_IN_FLIGHT)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<std::result::Result<_, _>>()?;
    Ok(proven.into_iter().flatten().collect())
}

/// Uploads the staged files into `store`; then writes the objects `records` makes (the run record,
/// the state, and last the manifest: their keys are `record_keys`), so that a manifest only ever
/// lists files in place; then removes the objects the run replaced. It is journaled (see
/// [`super::journal`]): a failure or a signal before the manifest rolls every change back, one
/// after it finishes the deletes (or leaves the journal for the next run to finish).
pub async fn publish(
    store: &dyn ObjectStore,
    staged: &StagedDataset,
    previous: Option<&Manifest>,
    run_id: &str,
    lock: Option<&super::lock::DatasetLock>,
    record_keys: &[String],
    records: MakeRecords<'_>,
) -> Result<PublishReport> {
    let dataset = &staged.dataset;
    let before = store.list(&dataset.prefix()).await?;
    let stale = stale_keys(before.clone(), staged);
    let unchanged = unchanged_files(store, staged, previous, &before).await?;
    let files = &staged.files;
    if !unchanged.is_empty() {
        tracing::info!(
            "{} of {} unchanged since the last run: not uploaded",
            unchanged.len(),
            crate::summary::count(files.len() as u64, "file")
        );
    }
    let uploads: Vec<&StagedFile> =
        files.iter().filter(|f| !unchanged.contains(&f.key)).chain(&staged.rejects).collect();
    let writes: Vec<String> =
        uploads.iter().map(|f| f.key.clone()).chain(record_keys.iter().cloned()).collect();
    let keys_before: Vec<String> = before.iter().map(|o| o.key.clone()).collect();
    let journal = Journal::new(dataset, run_id, &writes, &keys_before, stale.clone());

    crate::signals::check()?;
    let started = std::time::Instant::now();
    let unchanged_before = unchanged.len();
    let committed = async {
        journal.begin(store, dataset).await?;
        let etags = upload(store, &uploads).await?;
        // A run that lost its lock while uploading changes nothing more: it rolls back.
        if let Some(lock) = lock {
            lock.ensure_held().await?;
        }
        // Every new file is in place: the records finish even if a signal came, so that what a
        // reader sees matches the manifest.
        let unchanged_count = unchanged.len();
        let manifest_key = dataset.manifest_key();
        let publishing = Publishing { before, stale: stale.clone(), unchanged, etags, delta_version: None };
        for (key, body) in records(&publishing)? {
            store.put(&key, body).await?;
            let point = match key {
                k if k == manifest_key => "manifest",
                k if k == dataset.state_key() => "state",
                _ => "record",
            };
            crate::faults::point(point)?;
        }
        Ok::<_, crate::error::Error>(unchanged_count)
    }
    .await;
    let unchanged_count = match committed {
        Ok(n) => n,
        Err(e) => {
            // The manifest may have been written just before the error: it decides.
            let manifest = super::manifest::read(store, dataset).await.ok().flatten();
            if manifest.is_some_and(|m| m.run_id == run_id) {
                // Past the commit point: the run is published, whatever failed after it.
                tracing::debug!("after the manifest of run {run_id}: {e:#}");
                let left_behind = finish_after_commit(&journal, store, dataset, &stale).await;
                return Ok(PublishReport {
                    files: files.len(),
                    bytes: files.iter().map(|f| f.bytes).sum(),
                    unchanged: unchanged_before,
                    deleted: if left_behind.is_some() { Vec::new() } else { stale },
                    left_behind,
                    delta_version: None,
                });
            }
            tracing::warn!("the publish of run {run_id} failed: putting back what it changed");
            match journal.roll_back(store, dataset).await {
                Ok(()) => tracing::info!("rolled back: {dataset} is as it was before the run"),
                Err(undo) => tracing::error!(
                    "could not roll back ({undo:#}): the next run of {dataset}, or `etl repair {dataset}`, will"
                ),
            }
            return Err(e);
        }
    };
    tracing::info!(
        "published in {:.2} s (the time in which a reader could see some new files beside old ones)",
        started.elapsed().as_secs_f64()
    );
    if !stale.is_empty() {
        tracing::info!("removing {} object(s) replaced by this run", stale.len());
    }
    let left_behind = finish_after_commit(&journal, store, dataset, &stale).await;
    Ok(PublishReport {
        files: files.len(),
        bytes: files.iter().map(|f| f.bytes).sum(),
        unchanged: unchanged_count,
        deleted: if left_behind.is_some() { Vec::new() } else { stale },
        left_behind,
        delta_version: None,
    })
}

/// Deletes what a published run replaced, and its journal. A failure here (a bucket policy without
/// `s3:DeleteObject`, the store gone) does not make the run fail: it is published, and a scheduler
/// that retried it would load its rows again. It is a warning, and what it left is said: the journal
/// stays, so that the next run of the dataset, or `etl repair`, finishes the deletes.
async fn finish_after_commit(
    journal: &Journal,
    store: &dyn ObjectStore,
    dataset: &crate::load::layout::DatasetId,
    stale: &[String],
) -> Option<String> {
    let error = journal.finish(store, dataset).await.err()?;
    let left = format!(
        "published, but the cleanup after it failed ({error:#}): up to {} replaced object(s) may still \
         be in place beside the new files; the next run of {dataset} removes them, or `etl repair \
         {dataset}` now",
        stale.len()
    );
    tracing::warn!("{left}");
    Some(left)
}

/// Uploads `files` (16 at a time); returns the checksums the store computed, by key.
pub(crate) async fn upload(
    store: &dyn ObjectStore,
    files: &[&StagedFile],
) -> Result<std::collections::BTreeMap<String, String>> {
    let results = futures::stream::iter(files.iter().map(|f| async move {
        if let Some(signo) = crate::signals::requested() {
            return Err(crate::signals::Interrupted(signo).into());
        }
        tracing::debug!(key = %f.key, rows = f.rows, bytes = f.bytes, "uploading");
        let etag = store.put_file(&f.key, &f.path).await?;
        crate::faults::point("upload")?;
        Ok::<_, crate::error::Error>(etag.map(|etag| (f.key.clone(), etag)))
    }))
    .buffer_unordered(UPLOADS_IN_FLIGHT)
    // Every upload runs to its end (a failed multipart upload aborts itself) before the first error
    // is reported: dropping them mid-flight would orphan their parts.
    .collect::<Vec<_>>()
    .await;
    Ok(results.into_iter().collect::<Result<Vec<_>>>()?.into_iter().flatten().collect())
}

/// The objects of `existing` (a listing of the dataset) that publishing `staged` replaces.
pub fn stale_keys(existing: Vec<ObjectMeta>, staged: &StagedDataset) -> Vec<String> {
    let dataset = &staged.dataset;
    if staged.mode == WriteMode::Append {
        return Vec::new();
    }
    let written: HashSet<&str> = staged.files.iter().map(|f| f.key.as_str()).collect();
    if let (Some((range, _)), WriteMode::Replace) = (staged.range, staged.mode) {
        // Replacing a range of days: every other file of those days goes, nothing outside them.
        return existing
            .into_iter()
            .map(|o| o.key)
            .filter(|k| !written.contains(k.as_str()))
            .filter(|k| dataset.partition_of_key(k).is_some_and(|p| range.contains(&p)))
            .collect();
    }
    // The partitions whose every file goes (`Unpartitioned`: the `data/` folder), or all of them.
    let replaced: Option<BTreeSet<Partition>> = if staged.mode == WriteMode::Upsert {
        // The partitions an upsert rewrote or emptied, and nothing else.
        let touched = staged.files.iter().map(|f| f.partition).chain(staged.emptied.iter().copied());
        Some(touched.chain(staged.partitioned.then_some(Partition::Unpartitioned)).collect())
    } else if staged.partitioned && staged.mode == WriteMode::Merge {
        // An unpartitioned copy from an earlier run would make readers of the whole dataset see
        // its rows twice.
        Some(staged.files.iter().map(|f| f.partition).chain([Partition::Unpartitioned]).collect())
    } else {
        None
    };
    let partition_of = |key: &str| match key.starts_with(&dataset.data_prefix()) {
        true => Some(Partition::Unpartitioned),
        false => dataset.partition_of_key(key),
    };
    // A Delta table's log goes too, when a replace lays the dataset out anew as Hive folders.
    let whole = [dataset.data_prefix(), dataset.partitions_prefix(), dataset.delta_log_prefix()];
    existing
        .into_iter()
        .map(|o| o.key)
        .filter(|k| {
            !written.contains(k.as_str())
                && match &replaced {
                    Some(partitions) => partition_of(k).is_some_and(|p| partitions.contains(&p)),
                    None => whole.iter().any(|f| k.starts_with(f.as_str())),
                }
        })
        .collect()
}
