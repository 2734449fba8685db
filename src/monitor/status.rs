//! `etl status`: every dataset of a target, its last run, how long ago a run last succeeded, and what
//! needs a look: a last run that failed or was stopped, no publish for longer than `--stale-after`,
//! a publish a killed run left half-done. Read from run records (the manifest, the run records after
//! it, the journal and the lock), never from data: a target of hundreds of datasets answers at once.

use std::time::{Duration, SystemTime};

use futures::StreamExt;

use crate::error::Result;
use crate::load::layout::{run_started, DatasetId};
use crate::load::manifest::{self, parse_rfc3339, Manifest};
use crate::store::ObjectStore;

/// Datasets read at once.
const AT_ONCE: usize = 16;

/// What needs a look, worst first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Health {
    Ok,
    /// A publish is under way now (a live run holds the lock).
    Publishing,
    /// No publish for longer than `--stale-after`.
    Stale,
    /// The last run failed or was stopped.
    Failed,
    /// A killed run left its publish half-done: readers may see old and new files together.
    Interrupted,
}

impl Health {
    /// Whether it makes `etl status` exit 1.
    pub fn is_problem(self) -> bool {
        matches!(self, Health::Stale | Health::Failed | Health::Interrupted)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Health::Ok => "ok",
            Health::Publishing => "publishing",
            Health::Stale => "stale",
            Health::Failed => "failed",
            Health::Interrupted => "interrupted",
        }
    }
}

/// A dataset's last run, as its record says.
#[derive(Debug, Clone, serde::Serialize)]
pub struct LastRun {
    pub run_id: String,
    pub command: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub job: Option<String>,
    /// `ok`, `failed`, `cancelled`.
    pub status: String,
    pub finished: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A publish a run began and has not finished: killed, or (`live`) under way now.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PendingPublish {
    pub run_id: String,
    /// When that run started.
    pub since: String,
    /// A live run holds the lock: it is publishing now.
    pub live: bool,
    /// A Delta table: readers read the last committed version, never a mix.
    pub delta: bool,
}

impl PendingPublish {
    /// What it means for readers and what to do, in one sentence.
    pub fn describe(&self, dataset: &DatasetId) -> String {
        match (self.live, self.delta) {
            (true, _) => format!("run {} is publishing now (started {})", self.run_id, self.since),
            (false, false) => format!(
                "a publish was interrupted: run {} (started {}) was stopped half-way, so readers may see old \
                 and new files together; `etl repair {dataset}` (or the next run) settles it",
                self.run_id, self.since
            ),
            (false, true) => format!(
                "run {} (started {}) was stopped during its publish: readers read the last committed version; \
                 `etl repair {dataset}` (or the next run) settles its files",
                self.run_id, self.since
            ),
        }
    }
}

/// One dataset's line.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DatasetStatus {
    pub dataset: String,
    pub health: Health,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_run: Option<LastRun>,
    /// When a run of it last succeeded: published (its manifest), or found nothing new.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_success: Option<String>,
    /// Seconds since `last_success`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub age_seconds: Option<u64>,
    /// Rows it holds (its manifest's files).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rows: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub publish: Option<PendingPublish>,
    /// Why it needs a look.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// Every dataset of `store`, in id order; `stale_after`: the longest a dataset may go without a
/// publish.
pub async fn gather(
    store: &dyn ObjectStore,
    stale_after: Option<Duration>,
    now: SystemTime,
) -> Result<Vec<DatasetStatus>> {
    let ids = store.list_folders("datasets/").await?;
    let mut out: Vec<DatasetStatus> = futures::stream::iter(ids)
        .filter_map(|id| async move { DatasetId::parse(&id).ok() })
        .map(|dataset| async move { of(store, &dataset, stale_after, now).await })
        .buffer_unordered(AT_ONCE)
        .collect::<Vec<Result<Option<DatasetStatus>>>>()
        .await
        .into_iter()
        .collect::<Result<Vec<_>>>()?
        .into_iter()
        .flatten()
        .collect();
    out.sort_by(|a, b| a.dataset.cmp(&b.dataset));
    Ok(out)
}

/// A publish of `dataset` begun and not finished, if its journal holds one.
pub async fn pending_publish(store: &dyn ObjectStore, dataset: &DatasetId) -> Result<Option<PendingPublish>> {
    let journals = store.list(&dataset.journal_prefix()).await?;
    let Some(run_id) = journals
        .iter()
        .filter_map(|o| o.key.rsplit('/').next()?.strip_suffix(".json"))
        .max()
        .map(str::to_owned)
    else {
        return Ok(None);
    };
    let holder = crate::load::lock::live_holder(store, dataset).await?;
    let delta = !store.list(&dataset.delta_log_prefix()).await?.is_empty();
    let since = run_started(&run_id).map(manifest::rfc3339).unwrap_or_default();
    Ok(Some(PendingPublish { live: holder.is_some_and(|h| h.run_id == run_id), run_id, since, delta }))
}

/// One dataset's status; `None` for a folder with no run record (not a dataset this tool wrote).
async fn of(
    store: &dyn ObjectStore,
    dataset: &DatasetId,
    stale_after: Option<Duration>,
    now: SystemTime,
) -> Result<Option<DatasetStatus>> {
    let published = manifest::read(store, dataset).await?;
    // Runs that started after the published one (failed, stopped, refused, or that found nothing
    // new): listed from there on, and read.
    let after = match &published {
        Some(m) => dataset.run_key(&m.run_id),
        None => dataset.runs_prefix(),
    };
    let mut later = Vec::new();
    for object in store.list_after(&dataset.runs_prefix(), &after).await? {
        if let Ok(record) = serde_json::from_slice::<Manifest>(&store.get(&object.key).await?) {
            later.push(record);
        }
    }
    let publish = pending_publish(store, dataset).await?;
    if published.is_none() && later.is_empty() && publish.is_none() {
        return Ok(None);
    }
    // The last run is the one that finished last (a run refused by a held lock starts after the one
    // holding it, and finishes before it).
    let last = published.iter().chain(later.iter()).max_by(|a, b| {
        (a.finished.as_str(), a.run_id.as_str()).cmp(&(b.finished.as_str(), b.run_id.as_str()))
    });
    let last_run = last.map(|m| LastRun {
        run_id: m.run_id.clone(),
        command: m.command.clone(),
        job: m.job.clone(),
        status: m.status.clone().unwrap_or_else(|| "ok".into()),
        finished: m.finished.clone(),
        error: m.error.clone().or_else(|| {
            let failed: Vec<String> = m.checks.iter().filter(|c| c.broken()).map(|c| c.describe()).collect();
            (!failed.is_empty()).then(|| failed.join("; "))
        }),
    });
    // The last run that did what it was asked: published, or found nothing new to publish.
    let last_success = published
        .iter()
        .chain(later.iter().filter(|m| m.status.as_deref().is_none_or(|s| s == "ok")))
        .map(|m| m.finished.clone())
        .max();
    let age = last_success
        .as_deref()
        .and_then(parse_rfc3339)
        .map(|t| now.duration_since(t).unwrap_or_default().as_secs());
    let (health, note) = match (&publish, &last_run, age, stale_after) {
        (Some(p), ..) if !p.live => (Health::Interrupted, Some(p.describe(dataset))),
        (_, Some(run), ..) if run.status != "ok" => (
            Health::Failed,
            Some(format!(
                "its last run {} ({}): {}",
                if run.status == "cancelled" { "was stopped" } else { "failed" },
                run.command,
                run.error.as_deref().unwrap_or("no error recorded")
            )),
        ),
        (_, _, None, Some(limit)) => (
            Health::Stale,
            Some(format!("never succeeded (--stale-after {})", crate::checks::human_age(limit.as_secs()))),
        ),
        (_, _, Some(age), Some(limit)) if age > limit.as_secs() => (
            Health::Stale,
            Some(format!(
                "last succeeded {} ago, more than --stale-after {}",
                crate::checks::human_age(age),
                crate::checks::human_age(limit.as_secs())
            )),
        ),
        (Some(p), ..) => (Health::Publishing, Some(p.describe(dataset))),
        _ => (Health::Ok, None),
    };
    Ok(Some(DatasetStatus {
        dataset: dataset.to_string(),
        health,
        last_run,
        last_success,
        age_seconds: age,
        rows: published.as_ref().map(Manifest::rows),
        publish,
        note,
    }))
}
