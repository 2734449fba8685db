//! A load as one transaction: what a run changes in the store, in one place.
//!
//! [`load`] takes the dataset's lock, then, holding it, goes through named steps:
//! 1. **remember** ([`remember`]): what the run left out, from the dataset (its table format,
//!    partition column, primary key, mode), and what it refuses (another layout, another key);
//! 2. **stage** ([`stage`]): read, type and write Parquet in a staging folder
//!    ([`crate::pipeline::stage`]), after checking the state an incremental run planned from;
//! 3. **judge** ([`judge`]): refuse what would lose or mix data (a filter that kept nothing, a run
//!    that would empty a dataset, a schema a merge's other partitions disagree with), and judge the
//!    data-quality checks;
//! 4. **plan** ([`plan`]): the schema it records, a keyed run's rows combined by key;
//! 5. **publish** ([`publish`]): one [`crate::load::publish::Publisher`] per table format, the
//!    journaled Hive publish or a Delta table's commit, puts the files in place and then the
//!    run's records;
//! 6. **record** ([`record`]): the run's record and its summary;
//!
//! and releases the lock. A dry run stages, judges and plans, takes no lock and writes nothing. The
//! transaction takes plain settings ([`LoadRequest`]), never command-line arguments.

mod judge;
mod plan;
mod publish;
mod record;
mod remember;
mod request;
#[cfg(test)]
mod tests;
mod watch;

use std::sync::Arc;

use crate::error::{Error, Result};
use crate::extract::filter::KeepRows;
use crate::extract::Extract;
use crate::load::delta::TableFormat;
use crate::load::layout::{new_run_id, DatasetId};
use crate::load::lock::DatasetLock;
use crate::load::manifest::{self, Manifest};
use crate::load::staged::WriteMode;
use crate::load::staging::ParquetLoad;
use crate::pipeline;
use crate::progress::Progress;
use crate::store::ObjectStore;
use crate::transform::TypeColumns;

pub(crate) use publish::TablePublisher;
pub use remember::dataset_objects;
pub use request::{checked_primary_key, primary_key, LoadRequest, Loaded, ModeGiven, WriteSettings};
pub use watch::Begun;

use remember::{appendable, check_layout, remember_layout, resolve_table_format};

/// One run of a load, as its steps see it: what it was asked, where, under which id and lock, over
/// the dataset as the last finished run left it.
pub(super) struct Run<'a> {
    pub request: &'a LoadRequest,
    pub store: &'a dyn ObjectStore,
    pub run_id: &'a str,
    pub lock: Option<&'a DatasetLock>,
    pub previous: Option<&'a Manifest>,
}

/// Finishes or rolls back a publish a killed run left, if there is one, before a run plans from the
/// dataset's state (an incremental or drop-folder run reads it before taking the lock): takes the
/// lock (waiting up to `wait`) only when a journal is there.
///
/// A dry run takes no lock and changes nothing: it says that a real run would recover first.
pub async fn recover_first(
    store: Arc<dyn ObjectStore>,
    dataset: &DatasetId,
    write: &WriteSettings,
) -> Result<Vec<crate::load::journal::Recovered>> {
    let wait = write.wait_lock;
    if write.dry_run {
        report_pending_publish(store.as_ref(), dataset).await?;
        return Ok(Vec::new());
    }
    if store.list(&dataset.journal_prefix()).await?.is_empty() {
        return Ok(Vec::new());
    }
    let lock = DatasetLock::acquire(store.clone(), dataset, &new_run_id(), "repair", wait).await?;
    let recovered = crate::load::recover::recover(store.as_ref(), dataset).await;
    lock.release().await?;
    recovered
}

/// Says, for a dry run, that a stopped run left a publish half-done that a real run finishes or rolls
/// back first (the dry run plans from the dataset as it is, and touches nothing).
async fn report_pending_publish(store: &dyn ObjectStore, dataset: &DatasetId) -> Result<()> {
    let pending = store.list(&dataset.journal_prefix()).await?;
    if !pending.is_empty() {
        tracing::warn!(
            "{dataset}: a stopped run left its publish half-done; a real run finishes or rolls it back \
             first (or `etl repair {dataset}` now); this dry run leaves it as it is"
        );
    }
    Ok(())
}

/// Loads `request` into `store` as one transaction, holding the dataset's lock from start to end (a
/// dry run writes nothing and takes none); see the module's header for the steps.
///
/// Whatever the outcome, a run leaves its record (`_runs/<run-id>.json`: `ok`, `failed` or
/// `cancelled`) and reports to the monitoring ([`crate::monitor`]); a dry run neither.
pub async fn load(mut request: LoadRequest, store: Arc<dyn ObjectStore>) -> Result<Loaded> {
    crate::signals::check()?;
    if request.dry_run {
        let previous = manifest::read(store.as_ref(), &request.dataset).await?;
        return load_run(request, store, new_run_id(), previous).await;
    }
    let begun = Begun::of(&mut request, store.as_ref()).await;
    // What the run left out comes from the dataset as it is (read again under the lock, where a
    // layout another run changed meanwhile is refused).
    let (result, previous) = match manifest::read(store.as_ref(), &request.dataset).await {
        Ok(previous) => {
            let run_id = begun.run_id().to_owned();
            (load_run(request, store.clone(), run_id, previous.clone()).await, previous)
        }
        Err(e) => (Err(e), None),
    };
    begun.finish(store.as_ref(), &result, previous.as_ref()).await;
    result
}

/// [`load`]'s steps, from the dataset's manifest as the run found it (`previous`).
async fn load_run(
    mut request: LoadRequest,
    store: Arc<dyn ObjectStore>,
    run_id: String,
    previous: Option<Manifest>,
) -> Result<Loaded> {
    resolve_table_format(&mut request, previous.as_ref(), store.as_ref()).await?;
    if let Some(previous) = previous {
        remember_layout(&mut request, &previous)?;
    }
    if let Some(begun) = &request.begun {
        begun.laid_out(&request);
    }
    if request.dry_run {
        report_pending_publish(store.as_ref(), &request.dataset).await?;
        return load_locked(request, store, run_id, LockAt::DryRun).await;
    }
    crate::load::sweep_stale_staging(&store.staging_parent());
    // A run that will wait for the lock anyway (--wait-lock), and whose staging reads nothing of
    // the dataset (merge and replace, no incremental or drop-folder state): staged first, so that
    // range jobs of one dataset stage side by side and take turns only to publish.
    if !request.wait_lock.is_zero() && request.mode != WriteMode::Append && request.state.is_none() {
        return load_locked(request, store, run_id, LockAt::AfterStaging).await;
    }
    let lock =
        DatasetLock::acquire(store.clone(), &request.dataset, &run_id, request.command, request.wait_lock)
            .await?;
    let recovered = match on_taking_the_lock(store.as_ref(), &request.dataset).await {
        Ok(recovered) => recovered,
        Err(e) => {
            let _ = lock.release().await;
            return Err(e);
        }
    };
    let result = load_locked(request, store, run_id, LockAt::Held(&lock)).await.map(|mut loaded| {
        let notes = recovered.iter().map(ToString::to_string);
        loaded.summary.notes.splice(0..0, notes);
        loaded
    });
    if let Err(e) = lock.release().await {
        tracing::warn!("could not release the dataset's lock: {e}");
    }
    result
}

/// When a load takes the dataset's lock.
#[derive(Clone, Copy)]
enum LockAt<'a> {
    /// Taken before anything else: this one.
    Held(&'a DatasetLock),
    /// Taken once the rows are staged, waiting as long as the run may.
    AfterStaging,
    /// Never: a dry run writes nothing.
    DryRun,
}

/// What a run does first on taking a dataset's lock: aborts the unfinished uploads a stopped run
/// left under it, then finishes or rolls back a publish a killed run left half-done.
pub(crate) async fn on_taking_the_lock(
    store: &dyn ObjectStore,
    dataset: &DatasetId,
) -> Result<Vec<crate::load::journal::Recovered>> {
    // With the lock held, an unfinished upload under the dataset belongs to a run that died.
    match store.abort_unfinished_uploads(&dataset.prefix()).await {
        Ok(0) => {}
        Ok(n) => tracing::warn!("aborted {n} unfinished upload(s) a stopped run left under {dataset}"),
        Err(e) => tracing::warn!("could not look for unfinished uploads: {e}"),
    }
    crate::load::recover::recover(store, dataset).await
}

/// Stages the run (holding the lock, or not yet: `lock_at`), then finishes it.
async fn load_locked(
    mut request: LoadRequest,
    store: Arc<dyn ObjectStore>,
    run_id: String,
    lock_at: LockAt<'_>,
) -> Result<Loaded> {
    // The dataset as the last finished run left it (read once: the lock keeps it so until publish;
    // read again under the lock when it is taken after staging).
    let previous = manifest::read(store.as_ref(), &request.dataset).await?;
    let held = match lock_at {
        LockAt::Held(lock) => Some(lock),
        _ => None,
    };
    check_request(&request, store.as_ref(), previous.as_ref(), held.is_some()).await?;
    let (staged, filter) =
        stage(&mut request, store.as_ref(), &run_id, previous.as_ref(), held.is_some()).await?;
    match lock_at {
        LockAt::Held(lock) => finish(request, store, run_id, Some(lock), previous, staged, filter).await,
        LockAt::DryRun => finish(request, store, run_id, None, previous, staged, filter).await,
        LockAt::AfterStaging => finish_after_staging(request, store, run_id, staged, filter).await,
    }
}

/// Refuses a request that cannot be loaded as asked, before anything is read: a range without a
/// partition column or with an upsert, a state another run changed while this one waited for the
/// lock (`held`), a layout other than the dataset's.
async fn check_request(
    request: &LoadRequest,
    store: &dyn ObjectStore,
    previous: Option<&Manifest>,
    held: bool,
) -> Result<()> {
    if let (Some(range), None) = (request.partition_range, &request.partition_column) {
        return Err(Error::Usage(format!(
            "--partition-range {range} needs a partitioned load: {} has no partition column",
            request.dataset
        )));
    }
    if let (Some(range), WriteMode::Upsert) = (request.partition_range, request.mode) {
        return Err(Error::Usage(format!(
            "--partition-range {range} does not go with an upsert: a key's newest row may lie outside \
             the range, and its older one would win"
        )));
    }
    if let (Some(update), true) = (&request.state, held) {
        // Read before the lock was taken: another run may have loaded the same things meanwhile.
        let published = previous.map(|m| m.run_id.clone());
        let now = crate::load::state::read(store, &request.dataset)
            .await?
            .map(|s| s.trusted(published.as_deref()))
            .unwrap_or_default();
        if !now.says_the_same(&update.based_on) || published != update.published {
            return Err(Error::Locked(format!(
                "another run wrote {} while this one waited for the lock; nothing was written: run \
                 again to load what is still new",
                request.dataset
            )));
        }
    }
    if let Some(previous) = previous {
        check_layout(previous, request)?;
    }
    Ok(())
}

/// Reads, types and writes the source into a staging folder; with the filter it read through.
async fn stage(
    request: &mut LoadRequest,
    store: &dyn ObjectStore,
    run_id: &str,
    previous: Option<&Manifest>,
    held: bool,
) -> Result<(pipeline::Staged, Option<Arc<KeepRows>>)> {
    let mut load = ParquetLoad::new(
        request.dataset.clone(),
        request.partition_column.clone(),
        request.partition_range,
        request.mode,
        request.writer.clone(),
        &store.staging_parent(),
        run_id,
    )?
    .keyed(request.keyed());
    if request.mode == WriteMode::Append {
        let existing = match request.table_format {
            // Files a Delta table removed stay for older versions: no stopped append explains them.
            Some(TableFormat::Delta) => {
                dataset_objects(store, &request.dataset, request.table_format).await?
            }
            _ => appendable(store, &request.dataset, previous, held).await?,
        };
        load = load.numbered_after(&existing);
    }
    let filter = request
        .keep_rows
        .take()
        .map(|(column, value)| Arc::new(KeepRows::new(request.source.clone(), &column, &value)));
    let source: Arc<dyn Extract> = match &filter {
        Some(filter) => filter.clone(),
        None => request.source.clone(),
    };
    let transform = TypeColumns::new(
        std::mem::take(&mut request.pins),
        request.bad_rows,
        std::mem::take(&mut request.null_values),
    )
    .requiring(&request.primary_key, request.dedup_by.as_deref());
    let progress = std::mem::replace(&mut request.progress, Progress::disabled());
    let checks = pipeline::checks::row_checks(
        &request.checks,
        &request.sensitive,
        request.source.info().kind,
        &store.staging_parent(),
        request.dry_run,
    )?;
    let remembered_column = request.remembered.iter().any(|n| n.contains("--partition-col left out"));
    let counted = request.rows_typed.clone();
    let staged = pipeline::stage(source, Box::new(transform), Box::new(load), progress, checks, counted)
        .await
        .map_err(|e| {
            match e {
                // The column came from the dataset's manifest, not from the person: say where.
                Error::Usage(message) if remembered_column && message.starts_with("partition column") => {
                    Error::Usage(format!(
                    "{message}. {} is partitioned by it (its manifest; --partition-col was left out): give \
                     the source that column, or --mode replace to lay the dataset out anew",
                    request.dataset
                ))
                }
                e => e,
            }
        })?;
    Ok((staged, filter))
}

/// A run staged while other runs of the dataset staged too: only now does it wait its turn, and
/// then it plans from the dataset as it is now.
async fn finish_after_staging(
    request: LoadRequest,
    store: Arc<dyn ObjectStore>,
    run_id: String,
    staged: pipeline::Staged,
    filter: Option<Arc<KeepRows>>,
) -> Result<Loaded> {
    let lock =
        DatasetLock::acquire(store.clone(), &request.dataset, &run_id, request.command, request.wait_lock)
            .await?;
    let finished = async {
        let recovered = on_taking_the_lock(store.as_ref(), &request.dataset).await?;
        let previous = manifest::read(store.as_ref(), &request.dataset).await?;
        if let Some(previous) = &previous {
            check_layout(previous, &request)?;
        }
        let mut loaded =
            finish(request, store.clone(), run_id, Some(&lock), previous, staged, filter).await?;
        loaded.summary.notes.splice(0..0, recovered.iter().map(ToString::to_string));
        Ok(loaded)
    }
    .await;
    if let Err(e) = lock.release().await {
        tracing::warn!("could not release the dataset's lock: {e}");
    }
    finished
}

/// The rest of a load once its rows are staged, under `lock`: judge it, plan what it records,
/// publish it (or, for a dry run, say what it would), and make its summary.
async fn finish(
    request: LoadRequest,
    store: Arc<dyn ObjectStore>,
    run_id: String,
    lock: Option<&DatasetLock>,
    previous: Option<Manifest>,
    mut staged: pipeline::Staged,
    filter: Option<Arc<KeepRows>>,
) -> Result<Loaded> {
    let run =
        Run { request: &request, store: store.as_ref(), run_id: &run_id, lock, previous: previous.as_ref() };
    let excluded = filter.as_ref().map_or(0, |f| f.dropped());
    let rows_read = staged.rows_read + excluded + staged.rejected;
    let mut notes = judge::notes(&run, &staged, excluded);
    if let Some(summary) = judge::before_planning(&run, &staged, filter.as_deref(), rows_read).await? {
        return Ok(Loaded { summary, plan: None, schema: Vec::new(), mode: None });
    }
    let schema = plan::schema(&run, &staged);
    judge::schema(&run, &schema, &staged)?;
    plan::combine_keys(&run, &mut staged, &mut notes).await?;
    let rows_written = plan::rows_written(&staged);
    let judged = pipeline::checks::judge(
        &request.checks,
        &staged,
        run.previous,
        rows_written,
        request.mode != WriteMode::Replace,
        &request.sensitive,
    );
    if judged.failed() && !request.dry_run {
        return Err(record::refused_by_checks(&run, &staged, judged, notes, rows_read).await);
    }
    let (mut summary, plan) = if request.dry_run {
        let (summary, plan) =
            record::dry_run(&run, &mut staged, &judged, rows_written, &mut notes, excluded).await?;
        (summary, Some(plan))
    } else {
        let record = record::published(&run, &staged, schema.clone(), &judged, rows_written);
        if let Some(start) = &request.monitored {
            // Until the run ends, the metrics say a publish is under way: a run killed now leaves
            // them saying so (readers may see old and new files together until it is settled).
            crate::monitor::publish_begins(start).await;
        }
        (publish::publish(&run, &mut staged, record, &mut notes).await?, None)
    };
    record::finished(&request, &mut summary, &staged, rows_read, notes, judged.results);
    let mode = Some(staged.output.mode.name().to_owned());
    Ok(Loaded { summary, plan, schema, mode })
}
