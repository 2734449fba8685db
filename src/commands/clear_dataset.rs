//! `etl clear-dataset <id>`: deletes every object under `datasets/<id>/` and nothing else, not
//! `datasets/<id>-old/`, not other prefixes. The store pages through listings and deletes in batches,
//! holding the dataset's lock, so a running load is never cleared from under it.

use std::io::{BufRead, IsTerminal, Write};
use std::time::{Duration, Instant};

use super::context::Context;
use crate::error::{Error, Result};
use crate::load::layout::new_run_id;
use crate::load::lock::DatasetLock;
use crate::settings::ClearDatasetSettings;
use crate::summary::{human_bytes, Status, Summary};

/// Runs the command.
pub async fn run(settings: ClearDatasetSettings, ctx: &Context) -> Result<Summary> {
    let started = Instant::now();
    let store = crate::store::open(&ctx.target).await?;
    let prefix = settings.dataset.prefix();
    let objects = store.list(&prefix).await?;
    let bytes: u64 = objects.iter().map(|o| o.size).sum();
    let mut summary = Summary::new("clear-dataset", store.url_of(&prefix));
    summary.dataset = Some(settings.dataset.to_string());
    summary.files = objects.len();
    summary.bytes = bytes;

    if objects.is_empty() {
        // A typo, as `inspect` and `runs` say it (exit 2), never "ok: nothing to delete".
        return Err(super::context::no_such_dataset(&settings.dataset, store.as_ref()).await);
    } else if settings.dry_run {
        let list: String = objects.iter().map(|o| format!("{}\n", o.key)).collect();
        // A closed pipe (`| head`) is not an error: the summary still says what would go.
        match crate::stdout::print(&list) {
            Ok(()) | Err(Error::ClosedOutput) => {}
            Err(e) => return Err(e),
        }
        summary.status = Status::DryRun;
    } else {
        if !settings.yes {
            confirm(&format!(
                "Delete {} objects ({}) under {}?",
                objects.len(),
                human_bytes(bytes),
                store.url_of(&prefix)
            ))?;
        }
        // Not while a run writes it: take its lock, delete everything else, then the lock.
        let run_id = new_run_id();
        let lock =
            DatasetLock::acquire(store.clone(), &settings.dataset, &run_id, "clear-dataset", Duration::ZERO)
                .await?;
        let lock_key = settings.dataset.lock_key();
        // Listed again under the lock: a run may have finished while the question was asked.
        let objects = store.list(&prefix).await?;
        let keys: Vec<String> = objects.into_iter().map(|o| o.key).filter(|k| *k != lock_key).collect();
        let deleted = store.delete_many(&keys).await;
        lock.release().await?;
        deleted?;
        summary.deleted = keys.len();
    }
    summary.seconds = started.elapsed().as_secs_f64();
    Ok(summary)
}

/// Asks on the terminal; refuses when stdin is not one (cron, CI), where `--yes` must be explicit.
fn confirm(question: &str) -> Result<()> {
    if !std::io::stdin().is_terminal() {
        return Err(Error::Usage(
            "refusing to delete without confirmation: stdin is not a terminal; pass --yes (or --dry-run to list)".into(),
        ));
    }
    eprint!("{question} [y/N] ");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer).map_err(|e| Error::io("<stdin>", e))?;
    if matches!(answer.trim(), "y" | "Y" | "yes" | "YES" | "Yes") {
        Ok(())
    } else {
        Err(Error::Cancelled)
    }
}
