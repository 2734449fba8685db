//! The journaled publish of the Hive layout: readers list the folders, so a publish changes live
//! keys, and its journal ([`super::journal`]) lets a failure or a kill roll it back (before the
//! manifest) or finish it (after).

use super::journal::Journal;
use super::manifest::Manifest;
use super::parquet::StagedFile;
use super::publish::{
    stale_keys, unchanged_files, upload, MakeRecords, PublishReport, Publisher, Publishing,
};
use super::staged::StagedDataset;
use crate::error::Result;
use crate::store::ObjectStore;

/// The journaled publish of one run.
pub struct HivePublish<'a> {
    /// The dataset's manifest before the run (it says which files are unchanged).
    pub previous: Option<&'a Manifest>,
    pub run_id: &'a str,
    pub lock: Option<&'a super::lock::DatasetLock>,
    /// The keys of the records the run writes (journaled with the files).
    pub record_keys: Vec<String>,
}

impl Publisher for HivePublish<'_> {
    async fn publish(
        &self,
        store: &dyn ObjectStore,
        staged: &StagedDataset,
        records: MakeRecords<'_>,
    ) -> Result<PublishReport> {
        publish(store, staged, self.previous, self.run_id, self.lock, &self.record_keys, records).await
    }
}

/// Uploads the staged files into `store`; then writes the objects `records` makes (the run record,
/// the state, and last the manifest: their keys are `record_keys`), so that a manifest only ever
/// lists files in place; then removes the objects the run replaced. It is journaled (see
/// [`super::journal`]): a failure or a signal before the manifest rolls every change back, one
/// after it finishes the deletes (or leaves the journal for the next run to finish).
async fn publish(
    store: &dyn ObjectStore,
    staged: &StagedDataset,
    previous: Option<&Manifest>,
    run_id: &str,
    lock: Option<&super::lock::DatasetLock>,
    record_keys: &[String],
    records: MakeRecords<'_>,
) -> Result<PublishReport> {
    let dataset = &staged.dataset;
    let plan = Plan::of(store, staged, previous, run_id, record_keys).await?;
    crate::signals::check()?;
    let started = std::time::Instant::now();
    if let Err(e) = put_in_place(store, staged, &plan, lock, records).await {
        // The manifest may have been written just before the error: it decides.
        let manifest = super::manifest::read(store, dataset).await.ok().flatten();
        if manifest.is_none_or(|m| m.run_id != run_id) {
            roll_back(store, dataset, run_id, &plan.journal).await;
            return Err(e);
        }
        // Past the commit point: the run is published, whatever failed after it.
        tracing::debug!("after the manifest of run {run_id}: {e:#}");
    } else {
        tracing::info!(
            "published in {:.2} s (the time in which a reader could see some new files beside old ones)",
            started.elapsed().as_secs_f64()
        );
    }
    if !plan.stale.is_empty() {
        tracing::info!("removing {} object(s) replaced by this run", plan.stale.len());
    }
    let left_behind = finish_after_commit(&plan.journal, store, dataset, &plan.stale).await;
    Ok(PublishReport {
        files: staged.files.len(),
        bytes: staged.files.iter().map(|f| f.bytes).sum(),
        unchanged: plan.unchanged.len(),
        deleted: if left_behind.is_some() { Vec::new() } else { plan.stale },
        left_behind,
        delta_version: None,
    })
}

/// What a publish will change: the dataset's objects before it, what it replaces, the files it
/// leaves in place (the store holds their bytes) and its journal.
struct Plan {
    before: Vec<crate::store::ObjectMeta>,
    stale: Vec<String>,
    unchanged: std::collections::BTreeSet<String>,
    journal: Journal,
}

impl Plan {
    async fn of(
        store: &dyn ObjectStore,
        staged: &StagedDataset,
        previous: Option<&Manifest>,
        run_id: &str,
        record_keys: &[String],
    ) -> Result<Self> {
        let dataset = &staged.dataset;
        let before = store.list(&dataset.prefix()).await?;
        let stale = stale_keys(before.clone(), staged);
        let unchanged = unchanged_files(store, staged, previous, &before).await?;
        if !unchanged.is_empty() {
            tracing::info!(
                "{} of {} unchanged since the last run: not uploaded",
                unchanged.len(),
                crate::summary::count(staged.files.len() as u64, "file")
            );
        }
        let writes: Vec<String> = uploads_of(staged, &unchanged)
            .iter()
            .map(|f| f.key.clone())
            .chain(record_keys.iter().cloned())
            .collect();
        let keys_before: Vec<String> = before.iter().map(|o| o.key.clone()).collect();
        let journal = Journal::new(dataset, run_id, &writes, &keys_before, stale.clone());
        Ok(Plan { before, stale, unchanged, journal })
    }
}

/// The staged files a publish uploads: those not `unchanged`, and the rejects.
fn uploads_of<'s>(
    staged: &'s StagedDataset,
    unchanged: &std::collections::BTreeSet<String>,
) -> Vec<&'s StagedFile> {
    staged.files.iter().filter(|f| !unchanged.contains(&f.key)).chain(&staged.rejects).collect()
}

/// The journal and backups, the uploads, then the records, the manifest last: the commit point.
async fn put_in_place(
    store: &dyn ObjectStore,
    staged: &StagedDataset,
    plan: &Plan,
    lock: Option<&super::lock::DatasetLock>,
    records: MakeRecords<'_>,
) -> Result<()> {
    let dataset = &staged.dataset;
    plan.journal.begin(store, dataset).await?;
    let etags = upload(store, &uploads_of(staged, &plan.unchanged)).await?;
    // A run that lost its lock while uploading changes nothing more: it rolls back.
    if let Some(lock) = lock {
        lock.ensure_held().await?;
    }
    // Every new file is in place: the records finish even if a signal came, so that what a reader
    // sees matches the manifest.
    let publishing = Publishing {
        before: plan.before.clone(),
        stale: plan.stale.clone(),
        unchanged: plan.unchanged.clone(),
        etags,
        delta_version: None,
    };
    let manifest_key = dataset.manifest_key();
    for (key, body) in records(&publishing)? {
        store.put(&key, body).await?;
        let point = match key {
            k if k == manifest_key => "manifest",
            k if k == dataset.state_key() => "state",
            _ => "record",
        };
        crate::faults::point(point)?;
    }
    Ok(())
}

/// Puts back what a publish that failed before its manifest changed.
async fn roll_back(
    store: &dyn ObjectStore,
    dataset: &crate::load::layout::DatasetId,
    run_id: &str,
    journal: &Journal,
) {
    tracing::warn!("the publish of run {run_id} failed: putting back what it changed");
    match journal.roll_back(store, dataset).await {
        Ok(()) => tracing::info!("rolled back: {dataset} is as it was before the run"),
        Err(undo) => tracing::error!(
            "could not roll back ({undo:#}): the next run of {dataset}, or `etl repair {dataset}`, will"
        ),
    }
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
