//! A load's data-quality checks ([`crate::checks`]) in its transaction: the row checks that stream
//! with the staging, the verdict before anything is published, and what a run that failed them
//! keeps (its record and its offending rows; nothing else).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::checks::dataset::{Previous, Run};
use crate::checks::rows::{Places, RowChecks};
use crate::checks::{Check, CheckResult, CheckStatus};
use crate::error::Result;
use crate::load::layout::DatasetId;
use crate::load::lock::DatasetLock;
use crate::load::manifest::Manifest;
use crate::store::ObjectStore;

/// The row checks of a run declaring `checks` on a source of `kind` (none without checks); a dry
/// run keeps no offending rows.
pub fn row_checks(
    checks: &[Check],
    sensitive: &[String],
    kind: &str,
    staging: &Path,
    dry_run: bool,
) -> Result<Option<RowChecks>> {
    if checks.is_empty() {
        return Ok(None);
    }
    let budget = crate::checks::unique::budget_from_env();
    let places = Places::of_source(kind);
    RowChecks::new(checks.to_vec(), sensitive.to_vec(), staging, places, !dry_run, budget).map(Some)
}

/// The verdict on a run's checks.
pub struct Judged {
    /// Each check's result, in the order declared.
    pub results: Vec<CheckResult>,
    /// The newest value of each freshness column, for the manifest.
    pub newest: BTreeMap<String, String>,
}

impl Judged {
    /// Whether a check failed at severity error.
    pub fn failed(&self) -> bool {
        self.results.iter().any(|c| c.status == CheckStatus::Failed)
    }
}

/// Judges the checks of a staged run that writes `rows_written` rows (the row checks as they
/// streamed, the others now, against the `previous` manifest); `keeps_previous`: the dataset keeps
/// earlier rows (not a replace).
pub fn judge(
    checks: &[Check],
    staged: &super::Staged,
    previous: Option<&Manifest>,
    rows_written: u64,
    keeps_previous: bool,
    sensitive: &[String],
) -> Judged {
    if checks.is_empty() {
        return Judged { results: Vec::new(), newest: BTreeMap::new() };
    }
    let previous = previous.map(|m| Previous {
        run_id: m.run_id.clone(),
        rows_written: m.rows_written,
        columns: m.schema.iter().map(|c| c.name.clone()).collect(),
        newest: m.newest.clone(),
    });
    let columns: Vec<String> = staged.schema.iter().map(|c| c.name.clone()).collect();
    let run = Run {
        rows_written,
        columns: &columns,
        source: &staged.source.location,
        keeps_previous,
        sensitive,
        now: std::time::SystemTime::now(),
    };
    let (results, newest) =
        crate::checks::dataset::judge(checks, staged.checks.as_ref(), &run, previous.as_ref());
    for check in results.iter().filter(|c| c.status == CheckStatus::Warned) {
        tracing::info!("check {}", check.describe());
    }
    Judged { results, newest }
}

/// Keeps what a run that failed its checks leaves: the offending rows (`rejects`, the file and its
/// rows) as `_rejects/<run-id>.csv`, then its `record` as `_runs/<run-id>.json`, under `lock`.
/// Returns where the rows went; a failure to keep them is logged (the run failed anyway).
pub async fn keep_failed_run(
    store: &dyn ObjectStore,
    dataset: &DatasetId,
    lock: Option<&DatasetLock>,
    record: Manifest,
    rejects: Option<(PathBuf, u64)>,
) -> Option<(String, u64)> {
    let kept = async {
        if let Some(lock) = lock {
            lock.ensure_held().await?;
        }
        let mut kept = None;
        if let Some((path, rows)) = rejects {
            let key = dataset.rejects_key(&record.run_id);
            store.put_file(&key, &path).await?;
            kept = Some((store.url_of(&key), rows));
        }
        let body = serde_json::to_string_pretty(&record)
            .map_err(|e| crate::error::Error::Internal(e.to_string()))?
            .into_bytes();
        store.put(&dataset.run_key(&record.run_id), body).await?;
        Ok::<_, crate::error::Error>(kept)
    }
    .await;
    kept.unwrap_or_else(|e| {
        tracing::warn!("could not keep the failed run's record and rows: {e}");
        None
    })
}

/// The error of a run whose checks failed: each failed check, and where its rows went.
pub fn failed_message(
    dataset: &DatasetId,
    results: &[CheckResult],
    had_data: bool,
    kept: &Option<(String, u64)>,
) -> String {
    let failed: Vec<String> =
        results.iter().filter(|c| c.status == CheckStatus::Failed).map(CheckResult::describe).collect();
    let mut message = format!(
        "{dataset}: {} failed; nothing was published{}: {}",
        crate::summary::count(failed.len() as u64, "check"),
        if had_data { ", the previous data is in place" } else { "" },
        failed.join("; ")
    );
    if let Some((url, rows)) = kept {
        let these = if *rows == 1 {
            "the row that broke them is".to_owned()
        } else {
            format!("the {} rows that broke them are", crate::summary::thousands(*rows))
        };
        message += &format!("; {these} in {url}");
    }
    message
}
