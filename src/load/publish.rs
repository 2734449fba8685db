//! Publishing a run's staged files: one interface, [`Publisher`], with two implementations: the
//! journaled publish of the Hive layout ([`super::hive::HivePublish`]) and a Delta table's commit
//! ([`super::delta::DeltaPublish`]); and what both share: which files are in place already
//! ([`unchanged_files`]), which ones a run replaces ([`stale_keys`]), the uploads, and the records a
//! run writes once its files are in place ([`MakeRecords`]).
//!
//! A staged file whose bytes the stored object provably has (the previous manifest records the same
//! size and SHA-256 for the key, and the store proves the object still holds them) is not uploaded
//! again: the writer is deterministic, so a daily load of an export that gained one day uploads
//! about one partition. What is replaced:
//! - unpartitioned: every other object under `datasets/<id>/data/` and `datasets/<id>/partitions/`;
//! - partitioned, [`WriteMode::Merge`]: the other objects in the partitions this run wrote (a
//!   partition that now needs fewer part files loses the stale ones) and any unpartitioned `data/`
//!   copy; partitions this run did not touch stay;
//! - partitioned, [`WriteMode::Replace`]: every other object under `data/` and `partitions/`, so
//!   that partitions gone from the source go from the dataset too; with a partition range, every
//!   other object in the partitions of the range's days, and nothing outside them.

use std::collections::{BTreeSet, HashSet};

use futures::StreamExt;

use super::layout::Partition;
use super::manifest::{FileRecord, Manifest};
use super::parquet::StagedFile;
use super::staged::{StagedDataset, WriteMode};
use crate::error::Result;
use crate::store::{ObjectMeta, ObjectStore};

/// Concurrent uploads.
pub(crate) const UPLOADS_IN_FLIGHT: usize = 16;

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
pub type MakeRecords<'a> = &'a (dyn Fn(&Publishing) -> Result<Vec<(String, Vec<u8>)>> + Sync);

/// Publishes a run's staged files and, once they are in place, its records: the one interface of
/// both table formats. (Chosen per run by `crate::pipeline::commit::TablePublisher`.)
// Its futures are awaited where they are made, never spawned: no `Send` bound to name.
#[allow(async_fn_in_trait)]
pub trait Publisher {
    /// Puts `staged` in place for readers, then the records `records` makes, and says what it did.
    async fn publish(
        &self,
        store: &dyn ObjectStore,
        staged: &StagedDataset,
        records: MakeRecords<'_>,
    ) -> Result<PublishReport>;
}

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
