//! A load as one transaction: what a run changes in the store, in one place.
//!
//! [`load`] takes the dataset's lock, then, holding it:
//! 1. checks that the state it planned from (`_state.json`, read before the lock) still holds;
//! 2. removes the files a stopped append uploaded without its manifest (append only);
//! 3. stages the source ([`crate::pipeline::stage`]): read, type, write Parquet in a staging folder;
//! 4. refuses what would lose data: an empty source over a dataset's files, a filter that kept
//!    nothing, a schema change that a merge's untouched partitions would disagree with;
//! 5. publishes ([`crate::load::publish`]): the new files first, then the run record, the state and
//!    the manifest (written last, so it only ever lists files in place), then deletes what they
//!    replaced;
//! 6. releases the lock.
//!
//! A dry run stages and plans (step 3 and 4, then [`crate::pipeline::Staged::plan`]), takes no lock
//! and writes nothing. The transaction takes plain settings ([`LoadRequest`]), never command-line
//! arguments.

use std::sync::Arc;

use crate::batch::BadRows;
use crate::checks::Check;
use crate::error::{Error, Result};
use crate::extract::filter::KeepRows;
use crate::extract::Extract;
use crate::load::delta::TableFormat;
use crate::load::layout::{new_run_id, DatasetId, PartitionRange};
use crate::load::lock::DatasetLock;
use crate::load::manifest::{self, Drift, FileRecord, Manifest, SourceRecord};
use crate::load::parquet::WriterOptions;
use crate::load::staged::{StagedDataset, WriteMode};
use crate::load::staging::ParquetLoad;
use crate::load::upsert;
use crate::pipeline;
use crate::progress::Progress;
use crate::store::ObjectStore;
use crate::summary::{Status, Summary};
use crate::transform::{NullTokens, Pins, TypeColumns};

/// How a loading command writes: `--max-rows-per-file`, `--mode`, `--allow-schema-change`.
#[derive(Debug, Clone, Default)]
pub struct WriteSettings {
    pub files: WriterOptions,
    /// `None`: the command's default (merge, or replace for a source exported whole).
    pub mode: Option<WriteMode>,
    pub allow_schema_change: bool,
    /// Publish a run that leaves a dataset holding rows with none (`--allow-empty`).
    pub allow_empty: bool,
    /// Append a source the dataset's last append loaded already (`--append-again`).
    pub append_again: bool,
    /// How long to wait for another run's lock on the dataset.
    pub wait_lock: std::time::Duration,
    /// Stage and plan only (`--dry-run` of single-file commands; catalogs select it per run).
    pub dry_run: bool,
    /// Only these days are written (and, with replace, replaced).
    pub partition_range: Option<PartitionRange>,
    /// The columns that identify a row (`--primary-key`): the default mode is then upsert.
    pub primary_key: Vec<String>,
    /// Of one run's rows with the same key, the one with the highest value of this column wins.
    pub dedup_by: Option<String>,
    /// The data-quality checks judged before publishing (`--check`, `checks:`).
    pub checks: Vec<Check>,
    /// Columns whose values no message shows (`--sensitive`, `sensitive:`).
    pub sensitive: Vec<String>,
    /// `--table-format`, `table_format:` (`None`: the dataset's, or Hive for a new one).
    pub table_format: Option<TableFormat>,
}

/// `--primary-key`'s columns (`a,b` in one item, as a job file or catalog may give them).
pub fn primary_key(items: &[String]) -> Vec<String> {
    items
        .iter()
        .flat_map(|i| i.split(','))
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(str::to_owned)
        .collect()
}

/// A primary key's columns, each named once (catalogs and the command line alike).
pub fn checked_primary_key(items: &[String]) -> std::result::Result<Vec<String>, String> {
    let key = primary_key(items);
    match key.iter().enumerate().find(|(i, c)| key[..*i].contains(c)) {
        Some((_, twice)) => Err(format!("`{twice}` is named twice")),
        None => Ok(key),
    }
}

/// Who chose a load's write mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModeGiven {
    /// Nobody: the command's default for the layout.
    Default,
    /// The command, for what it loads (an incremental run appends what is new, a drop folder its
    /// new objects).
    Command,
    /// The user: `--mode`, or `mode:` in a catalog or job file.
    User,
}

/// What to load and how: the part shared by every loading command.
pub struct LoadRequest {
    pub command: &'static str,
    pub source: Arc<dyn Extract>,
    pub source_size: Option<u64>,
    pub dataset: DatasetId,
    pub partition_column: Option<String>,
    /// Only rows of these days are written (`--partition-range`).
    pub partition_range: Option<PartitionRange>,
    pub pins: Pins,
    pub writer: WriterOptions,
    pub mode: WriteMode,
    /// Who chose `mode`: a default gives way to the mode the dataset remembers, and only a replace
    /// the user gave changes the layout the dataset remembers ([`remember_layout`]).
    pub mode_given: ModeGiven,
    /// The command's default mode for a partitioned load, for a run that takes the dataset's
    /// remembered partition column.
    pub partitioned_default: WriteMode,
    /// What to do with values that do not fit a pinned type (the reader has its own copy for rows
    /// that do not parse).
    pub bad_rows: BadRows,
    /// What is null besides the empty field.
    pub null_values: NullTokens,
    /// Keep only the records whose column (first) equals the value (second).
    pub keep_rows: Option<(String, String)>,
    /// Publish even when the dataset, holding rows, would be left with none.
    pub allow_empty: bool,
    /// Append a source the dataset's last append loaded already.
    pub append_again: bool,
    /// Let a merge publish a schema that removes columns or changes types.
    pub allow_schema_change: bool,
    /// How long to wait for another run's lock on the dataset.
    pub wait_lock: std::time::Duration,
    /// Stage and plan, print the plan on stdout, publish nothing.
    pub dry_run: bool,
    /// The progress line (disabled when several loads run at once, or stderr is no terminal).
    pub progress: Progress,
    /// When the command began this load, before any download: the summary's seconds count from
    /// here (a load made with [`LoadRequest::new`] began then).
    pub began: std::time::Instant,
    /// The dataset's state once this load is published (`_state.json`, written with the manifest).
    pub state: Option<crate::load::state::StateUpdate>,
    /// The columns that identify a row (upsert; recorded in the manifest).
    pub primary_key: Vec<String>,
    /// Of one run's rows with the same key, the one with the highest value of this column wins.
    pub dedup_by: Option<String>,
    /// The data-quality checks judged before anything is published.
    pub checks: Vec<Check>,
    /// Columns whose values check examples never show.
    pub sensitive: Vec<String>,
    /// What the run took from the dataset's manifest because it was left out (for the summary).
    pub remembered: Vec<String>,
    /// How readers see the dataset's files: given, or (once [`load`] resolved it) the dataset's.
    pub table_format: Option<TableFormat>,
}

impl LoadRequest {
    /// Takes the write settings; `default_mode` applies to a partitioned load when `--mode` is not
    /// given (an unpartitioned load replaces the dataset).
    pub fn written_as(self, write: &WriteSettings, default_mode: WriteMode) -> Self {
        let partitioned_default = default_mode;
        // A key makes upsert the default, except where the command or entry replaces (a whole export).
        let default_mode = if !write.primary_key.is_empty() && default_mode != WriteMode::Replace {
            WriteMode::Upsert
        } else if self.partition_column.is_some() {
            default_mode
        } else {
            WriteMode::Replace
        };
        LoadRequest {
            writer: write.files.clone(),
            mode: write.mode.unwrap_or(default_mode),
            mode_given: if write.mode.is_some() { ModeGiven::User } else { ModeGiven::Default },
            partitioned_default,
            primary_key: write.primary_key.clone(),
            dedup_by: write.dedup_by.clone(),
            checks: write.checks.clone(),
            sensitive: write.sensitive.clone(),
            allow_schema_change: write.allow_schema_change,
            allow_empty: self.allow_empty || write.allow_empty,
            append_again: write.append_again,
            wait_lock: write.wait_lock,
            dry_run: self.dry_run || write.dry_run,
            partition_range: write.partition_range,
            table_format: write.table_format.or(self.table_format),
            ..self
        }
    }

    /// Whether the run's rows are combined by their key before publishing: an upsert, or a replace
    /// with a key (one row per key of the run).
    pub fn keyed(&self) -> bool {
        !self.primary_key.is_empty() && matches!(self.mode, WriteMode::Upsert | WriteMode::Replace)
    }

    /// A request with the defaults: no pins, no filter, default files, no progress line, for real.
    pub fn new(command: &'static str, source: Arc<dyn Extract>, dataset: DatasetId) -> Self {
        LoadRequest {
            command,
            source,
            source_size: None,
            dataset,
            partition_column: None,
            partition_range: None,
            pins: Pins::none(),
            writer: WriterOptions::default(),
            mode: WriteMode::Merge,
            mode_given: ModeGiven::Default,
            partitioned_default: WriteMode::Merge,
            bad_rows: BadRows::Fail,
            null_values: NullTokens::standard(),
            keep_rows: None,
            allow_empty: false,
            append_again: false,
            allow_schema_change: false,
            wait_lock: std::time::Duration::ZERO,
            dry_run: false,
            progress: Progress::disabled(),
            began: std::time::Instant::now(),
            state: None,
            primary_key: Vec::new(),
            dedup_by: None,
            checks: Vec::new(),
            sensitive: Vec::new(),
            remembered: Vec::new(),
            table_format: None,
        }
    }

    /// The mode when none is given, for this request's layout: upsert with a key (unless the
    /// command replaces, a whole export), the command's own for a partitioned load, else replace.
    fn default_mode(&self) -> WriteMode {
        if !self.primary_key.is_empty() && self.partitioned_default != WriteMode::Replace {
            WriteMode::Upsert
        } else if self.partition_column.is_some() {
            self.partitioned_default
        } else {
            WriteMode::Replace
        }
    }
}

/// What a load did: its summary and, for a dry run, the plan to show (on stdout).
#[derive(Debug)]
pub struct Loaded {
    pub summary: Summary,
    /// The rendered plan of a dry run ([`crate::pipeline::Plan::render`]).
    pub plan: Option<String>,
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
    let recovered = crate::load::journal::recover(store.as_ref(), dataset).await;
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
pub async fn load(mut request: LoadRequest, store: Arc<dyn ObjectStore>) -> Result<Loaded> {
    crate::signals::check()?;
    // What the run left out, from the dataset as it is (read again under the lock, where a layout
    // another run changed meanwhile is refused).
    let previous = manifest::read(store.as_ref(), &request.dataset).await?;
    resolve_table_format(&mut request, previous.as_ref(), store.as_ref()).await?;
    if let Some(previous) = previous {
        remember_layout(&mut request, &previous)?;
    }
    let run_id = new_run_id();
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
    crate::load::journal::recover(store, dataset).await
}

async fn load_locked(
    mut request: LoadRequest,
    store: Arc<dyn ObjectStore>,
    run_id: String,
    lock_at: LockAt<'_>,
) -> Result<Loaded> {
    // The dataset as the last finished run left it (read once: the lock keeps it so until publish;
    // read again under the lock when it is taken after staging).
    let previous = manifest::read(store.as_ref(), &request.dataset).await?;
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
    let held = match lock_at {
        LockAt::Held(lock) => Some(lock),
        _ => None,
    };
    if let (Some(update), Some(_)) = (&request.state, held) {
        // Read before the lock was taken: another run may have loaded the same things meanwhile.
        let published = previous.as_ref().map(|m| m.run_id.clone());
        let now = crate::load::state::read(store.as_ref(), &request.dataset)
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
    if let Some(previous) = &previous {
        check_layout(previous, &request)?;
    }
    let mut load = ParquetLoad::new(
        request.dataset.clone(),
        request.partition_column.clone(),
        request.partition_range,
        request.mode,
        request.writer.clone(),
        &store.staging_parent(),
        &run_id,
    )?;
    load = load.keyed(request.keyed());
    if request.mode == WriteMode::Append {
        let existing = match request.table_format {
            // Files a Delta table removed stay for older versions: no stopped append explains them.
            Some(TableFormat::Delta) => {
                dataset_objects(store.as_ref(), &request.dataset, request.table_format).await?
            }
            _ => appendable(store.as_ref(), &request.dataset, previous.as_ref(), held.is_some()).await?,
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
    let staged = pipeline::stage(source, Box::new(transform), Box::new(load), progress, checks)
        .await
        .map_err(|e| match e {
            // The column came from the dataset's manifest, not from the person: say where.
            Error::Usage(message) if remembered_column && message.starts_with("partition column") => {
                Error::Usage(format!(
                    "{message}. {} is partitioned by it (its manifest; --partition-col was left out): give \
                     the source that column, or --mode replace to lay the dataset out anew",
                    request.dataset
                ))
            }
            e => e,
        })?;
    match lock_at {
        LockAt::Held(lock) => finish(request, store, run_id, Some(lock), previous, staged, filter).await,
        LockAt::DryRun => finish(request, store, run_id, None, previous, staged, filter).await,
        LockAt::AfterStaging => {
            // Staged while other runs of the dataset staged too: only now does it wait its turn, and
            // then it plans from the dataset as it is now.
            let lock = DatasetLock::acquire(
                store.clone(),
                &request.dataset,
                &run_id,
                request.command,
                request.wait_lock,
            )
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
    }
}

/// The rest of a load once its rows are staged: the checks before any write, then the publish (or
/// a dry run's plan), under `lock`.
async fn finish(
    request: LoadRequest,
    store: Arc<dyn ObjectStore>,
    run_id: String,
    lock: Option<&DatasetLock>,
    previous: Option<Manifest>,
    mut staged: pipeline::Staged,
    filter: Option<Arc<KeepRows>>,
) -> Result<Loaded> {
    let excluded = filter.as_ref().map_or(0, |f| f.dropped());
    let rows_read = staged.rows_read + excluded + staged.rejected;
    let mut notes = request.remembered.clone();
    notes.extend(staged.notes.iter().cloned());
    if excluded > 0 {
        notes.push(format!("{excluded} rows excluded by the filter"));
    }
    if let Some((range, outside)) = staged.output.range.filter(|(_, n)| *n > 0) {
        notes.push(format!("{outside} rows outside --partition-range {range} left out"));
    }
    match (&staged.output.rejects, staged.rejected) {
        (_, 0) => {}
        (Some(file), n) if request.dry_run => notes.push(format!(
            "{} would be quarantined in {}",
            crate::summary::count(n, "bad row"),
            store.url_of(&file.key)
        )),
        (Some(file), n) => notes.push(format!(
            "{} quarantined in {}",
            crate::summary::count(n, "bad row"),
            store.url_of(&file.key)
        )),
        (None, n) => notes.push(format!("{} skipped", crate::summary::count(n, "bad row"))),
    }
    if staged.rows_read == 0 && staged.rejected == 0 && excluded == 0 {
        tracing::warn!("{}: no rows, only a header: the dataset gets none", staged.source.location);
    }
    if let Some(filter) = &filter {
        if staged.rows_read == 0 && excluded > 0 {
            return Err(Error::Refused(format!(
                "the filter kept none of the {excluded} rows: no row has {}; check exclude_filter's \
                 keep_value (nothing was written)",
                filter.describe()
            )));
        }
    }
    if let Some(last) = appended_already(&request, previous.as_ref(), &staged) {
        let mut summary = Summary::nothing_done(
            request.command,
            store.url_of(&request.dataset.prefix()),
            request.dataset.as_str(),
            request.began,
            format!(
                "nothing appended: run {last} appended the same source ({}, the same bytes) already; a \
                 retried run never adds its rows twice (--append-again appends them again)",
                staged.source.location
            ),
        );
        summary.rows_read = rows_read;
        return Ok(Loaded { summary, plan: None });
    }
    if staged.output.rows() == 0 && !request.allow_empty && request.mode != WriteMode::Upsert {
        check_not_emptied(store.as_ref(), previous.as_ref(), &staged, request.table_format).await?;
    }
    // Said in the summary when the dataset is made (a reader must know it once; no warning: nothing
    // is wrong), then at -v; `etl inspect` prints the reads that keep it.
    // (A Delta table's partition column is named so as to clash with none: see `load::delta::schema`.)
    if request.partition_column.is_some() && request.table_format != Some(TableFormat::Delta) {
        for column in
            staged.schema.iter().filter(|c| crate::load::readers::collides_with_partition_key(&c.name))
        {
            let first = previous.is_none();
            let mut say = |text: String| if first { notes.push(text) } else { tracing::info!("{text}") };
            say(format!(
                "column `{}` has the name of the partition folders' key `{}`: a Hive-partitioned read \
                 (DuckDB and Spark match names without case) shows the folder's day in its place; \
                 `etl inspect {}` prints reads that keep it",
                column.name,
                crate::load::layout::PARTITION_KEY,
                request.dataset
            ));
        }
    }
    // A run without rows (a header-only file) typed its columns from no value at all: that is no
    // schema of its own, and the dataset keeps the one it has.
    let no_rows = staged.rows_read == 0 && staged.output.rows() == 0;
    let schema = match &previous {
        Some(previous) if no_rows => previous.schema.clone(),
        _ => manifest::schema_record(&staged.schema),
    };
    if let Some(previous) = &previous {
        check_schema_drift(previous, &schema, &staged.output, request.allow_schema_change)?;
        check_primary_key(previous, &request)?;
    }
    if request.keyed() {
        // An upsert combines the run's rows with the dataset's; a replace with a key keeps one row
        // per key of the run alone.
        let key = upsert::Key { columns: request.primary_key.clone(), dedup_by: request.dedup_by.clone() };
        let output = std::mem::replace(&mut staged.output, empty_output(&request.dataset));
        let files = crate::transform::types::schema_of(&staged.schema);
        let with_dataset = request.mode == WriteMode::Upsert;
        let objects = match with_dataset {
            true => dataset_objects(store.as_ref(), &request.dataset, request.table_format).await?,
            false => Vec::new(),
        };
        staged.output =
            upsert::combine(store.as_ref(), output, &key, &files, request.writer.clone(), objects).await?;
        if let Some(upserted) = staged.output.upserted.filter(|_| !with_dataset) {
            notes.push(format!(
                "one row per key ({}): {} keys{}",
                request.primary_key.join(", "),
                crate::summary::thousands(upserted.inserted),
                match upserted.superseded {
                    0 => String::new(),
                    n => format!(
                        "; {} gave way to a later one of the same key",
                        crate::summary::count(n, "row")
                    ),
                }
            ));
        } else if let Some(upserted) = &staged.output.upserted {
            notes.push(upsert_note(&request.primary_key, upserted, staged.output.partitioned));
        }
    }
    let primary_key = match (&request.primary_key, &previous) {
        (key, _) if !key.is_empty() => key.clone(),
        (_, Some(previous)) if request.mode != WriteMode::Replace => previous.primary_key.clone(),
        _ => Vec::new(),
    };
    // What this run brought: an upsert's rewritten files hold the dataset's other rows too.
    let rows_written = match &staged.output.upserted {
        Some(u) => u.inserted + u.updated,
        None => staged.output.rows(),
    };
    let judged = pipeline::checks::judge(
        &request.checks,
        &staged,
        previous.as_ref(),
        rows_written,
        request.mode != WriteMode::Replace,
        &request.sensitive,
    );
    let failed = judged.failed();
    if failed && !request.dry_run {
        let run = (run_id.as_str(), lock, rows_read);
        return Err(refused_by_checks(
            &request,
            store.as_ref(),
            run,
            previous.as_ref(),
            &staged,
            judged,
            notes,
        )
        .await);
    }
    let (checks, newest) = (judged.results, judged.newest);
    let mut plan_text = None;
    let mut summary = if request.dry_run {
        let objects = dataset_objects(store.as_ref(), &request.dataset, request.table_format).await?;
        let plan = staged.plan(store.as_ref(), previous.as_ref(), objects).await?;
        plan_text = Some(plan.render(excluded));
        let unchanged = plan.unchanged;
        let same = unchanged > 0 && unchanged == staged.output.files.len() && plan.deletes.is_empty();
        let mut summary = Summary::new(request.command, plan.target);
        summary.unchanged = unchanged;
        summary.status = Status::DryRun;
        summary.rows_written = rows_written;
        summary.upserted = settle_upsert(&mut notes, &request, &staged, same);
        summary.partitions = staged.output.partitions();
        summary.files = staged.output.files.len();
        summary.bytes = staged.output.bytes();
        notes.push("dry run: nothing was written or deleted".into());
        if failed {
            notes.push("a check failed: a real run would publish nothing (exit 65)".into());
            summary.exit_code = Some(65);
        }
        summary
    } else {
        let mode = staged.output.mode;
        let format = request.table_format.unwrap_or_default();
        // A Delta table names each new file once, and keeps in place the files whose bytes it holds.
        let delta = match format {
            TableFormat::Delta => {
                let snapshot = crate::load::delta::log::read(store.as_ref(), &request.dataset).await?;
                let named = crate::load::delta::name_files(
                    &mut staged.output,
                    snapshot.as_ref(),
                    previous.as_ref(),
                    &schema,
                    &run_id,
                );
                Some((snapshot, named))
            }
            TableFormat::Hive => None,
        };
        let new_files: Vec<FileRecord> = staged
            .output
            .files
            .iter()
            .map(|f| FileRecord {
                key: f.key.clone(),
                rows: Some(f.rows),
                bytes: f.bytes,
                sha256: Some(f.sha256.clone()),
                run_id: Some(run_id.clone()),
                etag: None,
            })
            .collect();
        let table_schema = schema.clone();
        let record = Manifest {
            mode: mode.name().into(),
            primary_key,
            schema,
            rows_written,
            null_tokens: staged.null_tokens.iter().cloned().collect(),
            upserted: staged.output.upserted,
            checks: checks.clone(),
            newest,
            default_mode: match request.mode_given {
                ModeGiven::User if request.mode == WriteMode::Replace => None,
                ModeGiven::User => Some(request.mode.name().to_owned()),
                _ => previous.as_ref().and_then(|p| p.default_mode.clone()),
            },
            table_format: (format != TableFormat::Hive).then(|| format.name().to_owned()),
            ..run_record(&request, &staged, &run_id)
        };
        if let Some(lock) = lock {
            lock.ensure_held().await?;
        }
        let (run_key, manifest_key) = (request.dataset.run_key(&run_id), request.dataset.manifest_key());
        let state = request.state.as_ref().map(|s| s.next.body(&run_id)).transpose()?;
        let state_key = request.dataset.state_key();
        // The run record and the manifest go after the uploads and before the deletes: a manifest
        // only ever lists files in place.
        let mut record_keys = vec![run_key.clone()];
        record_keys.extend(state.is_some().then(|| state_key.clone()));
        record_keys.push(manifest_key.clone());
        let new_count = new_files.len();
        let records = |publishing: &crate::load::publish::Publishing| {
            let same =
                new_count > 0 && publishing.unchanged.len() == new_count && publishing.stale.is_empty();
            let record = Manifest {
                upserted: record.upserted.map(|u| u.settled(same)),
                finished: manifest::rfc3339(std::time::SystemTime::now()),
                deleted: publishing.stale.len(),
                files: publishing.files_after(previous.as_ref(), new_files.clone()),
                delta_version: publishing.delta_version,
                ..record.clone()
            };
            // Not redacted as a whole: a value equal to a secret's would rewrite keys and column
            // names that later runs read back. The one field that can carry a secret, the
            // source's location, is masked in `run_record`.
            let body = serde_json::to_string_pretty(&record)
                .map_err(|e| Error::Internal(e.to_string()))?
                .into_bytes();
            // The state before the manifest: see `crate::load::state`.
            let mut records = vec![(run_key.clone(), body.clone())];
            records.extend(state.clone().map(|state| (state_key.clone(), state)));
            records.push((manifest_key.clone(), body));
            Ok(records)
        };
        let report = match &delta {
            None => {
                staged
                    .publish(store.as_ref(), previous.as_ref(), &run_id, lock, &record_keys, &records)
                    .await?
            }
            Some((snapshot, named)) => {
                let listed = match snapshot {
                    None => store.list(&request.dataset.prefix()).await?,
                    Some(_) => Vec::new(),
                };
                let commit = crate::load::delta::Commit {
                    run_id: &run_id,
                    command: request.command,
                    snapshot: snapshot.as_ref(),
                    schema: &table_schema,
                    lock,
                    listed,
                    rearranged: false,
                };
                let report =
                    crate::load::delta::publish(store.as_ref(), &staged.output, named, commit, &records)
                        .await?;
                let column =
                    crate::load::delta::partition_column(&staged.output, snapshot.as_ref(), &table_schema);
                if let Some(column) =
                    column.filter(|c| snapshot.is_none() && c != crate::load::layout::PARTITION_KEY)
                {
                    notes.push(format!(
                        "the table's partition column is `{column}` (its folders `{column}=`): a column of \
                         the data has the name `{}` in another case",
                        crate::load::layout::PARTITION_KEY
                    ));
                }
                report
            }
        };
        if let Some(version) = report.delta_version {
            let same = report.files == report.unchanged && report.deleted.is_empty();
            notes.push(match report.deleted.len() {
                _ if same => format!("the Delta table stays at version {version}: nothing changed"),
                0 => format!("committed version {version} of the Delta table"),
                n => format!(
                    "committed version {version} of the Delta table; {} it replaced stay for older versions until `etl vacuum`",
                    crate::summary::count(n as u64, "file")
                ),
            });
        }
        let same = report.files > 0 && report.unchanged == report.files && report.deleted.is_empty();
        let mut summary = Summary::new(request.command, store.url_of(&request.dataset.prefix()));
        summary.rows_written = rows_written;
        summary.upserted = settle_upsert(&mut notes, &request, &staged, same);
        summary.partitions = staged.output.partitions();
        summary.files = report.files;
        summary.bytes = report.bytes;
        summary.unchanged = report.unchanged;
        summary.deleted = if report.delta_version.is_some() { 0 } else { report.deleted.len() };
        notes.extend(report.left_behind);
        summary.run_id = Some(run_id);
        summary
    };
    summary.dataset = Some(request.dataset.to_string());
    summary.rows_read = rows_read;
    summary.notes = notes;
    summary.checks = checks;
    let phases = staged.phases(request.began);
    summary.seconds = request.began.elapsed().as_secs_f64();
    tracing::info!(
        "{}: {:.2} s in all: {:.2} s extracting (downloads before the rows are read), {:.2} s reading, \
         typing and staging, {:.2} s {}",
        request.dataset,
        summary.seconds,
        phases.extract,
        phases.typing,
        phases.publish,
        if request.dry_run { "planning" } else { "publishing" }
    );
    summary.phases = Some(phases);
    Ok(Loaded { summary, plan: plan_text })
}

/// The summary's line of an upsert: `upsert by id: 1 inserted, 2 updated; 2 partitions rewritten`.
fn upsert_note(key: &[String], upserted: &crate::summary::Upserted, partitioned: bool) -> String {
    let sets =
        crate::summary::count(upserted.partitions as u64, if partitioned { "partition" } else { "file set" });
    let rewritten = match upserted.updated + upserted.inserted {
        0 if upserted.unchanged > 0 => format!("{sets} came out as they were"),
        _ => format!("{sets} rewritten"),
    };
    format!("upsert by {}: {}; {rewritten}", key.join(", "), upserted.describe())
}

/// An upsert's counts once the publish (or the plan) knows whether its rewritten files came out as
/// they were (`same`): a re-run of the same input says nothing changed, not "3 updated". The note
/// said before the publish is said again with them.
fn settle_upsert(
    notes: &mut [String],
    request: &LoadRequest,
    staged: &pipeline::Staged,
    same: bool,
) -> Option<crate::summary::Upserted> {
    let before = staged.output.upserted?;
    let settled = before.settled(same);
    if settled != before && request.mode == WriteMode::Upsert {
        let said = upsert_note(&request.primary_key, &before, staged.output.partitioned);
        if let Some(note) = notes.iter_mut().find(|n| **n == said) {
            *note = upsert_note(&request.primary_key, &settled, staged.output.partitioned);
        }
    }
    Some(settled)
}

/// The run that last appended the very source this append read (its location and bytes, by size and
/// SHA-256, with the same partition column), if the dataset's last run is that one: a scheduler's
/// retry of an append that committed, whose rows a second append would add again.
fn appended_already(
    request: &LoadRequest,
    previous: Option<&Manifest>,
    staged: &pipeline::Staged,
) -> Option<String> {
    let (previous, (bytes, sha256)) = (previous?, staged.source_digest.as_ref()?);
    let same = request.mode == WriteMode::Append
        && !request.append_again
        && previous.mode == WriteMode::Append.name()
        && previous.source.location == recorded_location(&staged.source.location)
        && previous.source.bytes == Some(*bytes)
        && previous.source.sha256.as_deref() == Some(sha256.as_str())
        && previous.partition_column == request.partition_column;
    same.then(|| previous.run_id.clone())
}

/// A source's location as a run record keeps it: never a password or a token.
fn recorded_location(location: &str) -> String {
    crate::redact::redact(&crate::config::mask_url(location)).into_owned()
}

/// The run's record as far as its source and schema go; the caller says what it wrote.
fn run_record(request: &LoadRequest, staged: &pipeline::Staged, run_id: &str) -> Manifest {
    Manifest {
        format: manifest::FORMAT,
        run_id: run_id.to_owned(),
        tool: format!("etl {}", env!("CARGO_PKG_VERSION")),
        command: request.command.to_owned(),
        source: SourceRecord {
            kind: staged.source.kind.to_owned(),
            location: recorded_location(&staged.source.location),
            bytes: staged.source_digest.as_ref().map(|d| d.0).or(request.source_size),
            sha256: staged.source_digest.as_ref().map(|d| d.1.clone()),
        },
        started: manifest::rfc3339(staged.started_at),
        finished: String::new(),
        mode: request.mode.name().into(),
        partition_column: request.partition_column.clone(),
        primary_key: Vec::new(),
        schema: manifest::schema_record(&staged.schema),
        rows_written: 0,
        null_tokens: Default::default(),
        deleted: 0,
        upserted: None,
        files: Vec::new(),
        status: None,
        checks: Vec::new(),
        newest: Default::default(),
        default_mode: None,
        table_format: None,
        delta_version: None,
    }
}

/// A run whose checks failed at severity error: its record and offending rows kept (nothing else
/// written), and the error (exit 65) that carries its summary. `run`: its id, its lock, the rows it
/// read.
async fn refused_by_checks(
    request: &LoadRequest,
    store: &dyn ObjectStore,
    run: (&str, Option<&DatasetLock>, u64),
    previous: Option<&Manifest>,
    staged: &pipeline::Staged,
    judged: pipeline::checks::Judged,
    mut notes: Vec<String>,
) -> Error {
    let (run_id, lock, rows_read) = run;
    let record = Manifest {
        finished: manifest::rfc3339(std::time::SystemTime::now()),
        primary_key: previous.map(|m| m.primary_key.clone()).unwrap_or_default(),
        files: previous.map(|m| m.files.clone()).unwrap_or_default(),
        status: Some("failed".into()),
        checks: judged.results.clone(),
        newest: previous.map(|m| m.newest.clone()).unwrap_or_default(),
        default_mode: previous.and_then(|m| m.default_mode.clone()),
        ..run_record(request, staged, run_id)
    };
    let rejects = staged.checks.as_ref().and_then(|c| c.rejects.clone());
    let kept = pipeline::checks::keep_failed_run(store, &request.dataset, lock, record, rejects).await;
    let message =
        pipeline::checks::failed_message(&request.dataset, &judged.results, previous.is_some(), &kept);
    if let Some((url, rows)) = &kept {
        notes.push(format!("{} that broke checks kept in {url}", crate::summary::count(*rows, "row")));
    }
    if staged.rejected > 0 && staged.output.rejects.is_some() {
        // Their file was not published: say so where the note said it would be.
        notes.retain(|n| !n.contains("quarantined in"));
        notes.push(format!(
            "{} left out and not kept (the run failed its checks; a run that passes them quarantines them)",
            crate::summary::count(staged.rejected, "bad row")
        ));
    }
    let mut summary = Summary::new(request.command, store.url_of(&request.dataset.prefix()));
    summary.status = Status::Failed;
    summary.dataset = Some(request.dataset.to_string());
    summary.run_id = Some(run_id.to_owned());
    summary.rows_read = rows_read;
    summary.notes = notes;
    summary.checks = judged.results;
    summary.seconds = request.began.elapsed().as_secs_f64();
    summary.exit_code = Some(65);
    Error::Checks { message, summary: Box::new(summary) }
}

/// The dataset's data files that an append numbers its files after. Files its `manifest` does not list
/// were uploaded by an append that stopped before its manifest: with the lock held (`locked`) they are
/// deleted, so that loading the same source again does not add its rows twice.
///
/// Only when a stopped append explains them ([`stopped_append_explains`]): every file the manifest
/// lists is in place, and each unlisted file is numbered after every listed one of its folder. Any
/// other disagreement (a manifest whose keys are not the dataset's, files copied in by hand) keeps
/// every file and says so: the manifest's word alone never deletes data.
async fn appendable(
    store: &dyn ObjectStore,
    dataset: &DatasetId,
    manifest: Option<&Manifest>,
    locked: bool,
) -> Result<Vec<crate::store::ObjectMeta>> {
    let existing = store.list(&dataset.prefix()).await?;
    let Some(manifest) = manifest else { return Ok(existing) };
    let listed: std::collections::HashSet<&str> = manifest.files.iter().map(|f| f.key.as_str()).collect();
    let (orphans, kept): (Vec<_>, Vec<_>) = existing
        .into_iter()
        .partition(|o| dataset.part_of_key(&o.key).is_some() && !listed.contains(o.key.as_str()));
    if orphans.is_empty() {
        return Ok(kept);
    }
    let orphan_keys: Vec<&str> = orphans.iter().map(|o| o.key.as_str()).collect();
    let present: Vec<&str> = kept.iter().map(|o| o.key.as_str()).collect();
    if !stopped_append_explains(dataset, &manifest.files, &present, &orphan_keys) {
        tracing::warn!(
            "{dataset}: its manifest (run {}) and its files disagree: {} data file(s) in place that it              does not list ({}{}); kept, since no stopped append explains them",
            manifest.run_id,
            orphan_keys.len(),
            orphan_keys.iter().take(3).copied().collect::<Vec<_>>().join(", "),
            if orphan_keys.len() > 3 { ", ..." } else { "" }
        );
        return Ok(kept.into_iter().chain(orphans).collect());
    }
    if locked {
        let keys: Vec<String> = orphans.into_iter().map(|o| o.key).collect();
        tracing::warn!(
            "removing {} data file(s) of {dataset} that a stopped append uploaded without its manifest",
            keys.len()
        );
        store.delete_many(&keys).await?;
        return Ok(kept);
    }
    Ok(kept.into_iter().chain(orphans).collect())
}

/// Whether an append stopped before its manifest explains the data files in place that the manifest
/// does not list (`orphans`): the manifest's files are all in place (`present`), and in every folder
/// each orphan is numbered after every file the manifest lists there (an append numbers its files
/// after the existing ones).
fn stopped_append_explains(
    dataset: &DatasetId,
    listed: &[FileRecord],
    present: &[&str],
    orphans: &[&str],
) -> bool {
    let present: std::collections::HashSet<&str> = present.iter().copied().collect();
    if listed.iter().any(|f| !present.contains(f.key.as_str())) {
        return false;
    }
    let mut highest = std::collections::HashMap::new();
    for (partition, part) in listed.iter().filter_map(|f| dataset.part_of_key(&f.key)) {
        let top = highest.entry(partition).or_insert(part);
        *top = (*top).max(part);
    }
    orphans
        .iter()
        .filter_map(|key| dataset.part_of_key(key))
        .all(|(partition, part)| highest.get(&partition).is_none_or(|top| part > *top))
}

/// The dataset's table format for this run: the one given, else the dataset's (a Delta table when it
/// has a Delta log), else Hive for a new dataset. Another
/// format than the dataset's needs a replace the user gives: a forgotten `--table-format` never
/// turns a Delta table back into folders, nor a flag given by mistake the other way.
async fn resolve_table_format(
    request: &mut LoadRequest,
    previous: Option<&Manifest>,
    store: &dyn ObjectStore,
) -> Result<()> {
    // The log decides (a conversion killed before its manifest was written made a table all the same).
    let was = match crate::load::delta::log::exists(store, &request.dataset).await? {
        true => Some(TableFormat::Delta),
        false => previous.map(|_| TableFormat::Hive),
    };
    let (Some(was), Some(now)) = (was, request.table_format) else {
        request.table_format = request.table_format.or(was).or(Some(TableFormat::Hive));
        return Ok(());
    };
    let replaced = request.mode == WriteMode::Replace
        && request.mode_given == ModeGiven::User
        && request.partition_range.is_none();
    if now == was {
        return Ok(());
    }
    if replaced {
        tracing::warn!("{} was a {was} table; this run replaces it as a {now} table", request.dataset);
        return Ok(());
    }
    let how = match now {
        TableFormat::Delta => format!(
            ", or turn it into a Delta table in place with `etl convert {} --to delta`",
            request.dataset
        ),
        TableFormat::Hive => String::new(),
    };
    Err(Error::Refused(format!(
        "{} is a {was} table{}; this run's --table-format is {now}. Nothing was changed; leave          --table-format out to load it as it is, or lay it out anew with --mode replace{how}",
        request.dataset,
        previous.map(|m| format!(" (run {})", m.run_id)).unwrap_or_default(),
    )))
}

/// The dataset's objects as its readers see them: all of them for the Hive layout (listed), the
/// files of the table's newest version for a Delta table (files it removed stay, for older
/// versions, until a vacuum).
pub async fn dataset_objects(
    store: &dyn ObjectStore,
    dataset: &DatasetId,
    format: Option<TableFormat>,
) -> Result<Vec<crate::store::ObjectMeta>> {
    match format.unwrap_or_default() {
        TableFormat::Hive => Ok(store.list(&dataset.prefix()).await?),
        TableFormat::Delta => Ok(crate::load::delta::log::read(store, dataset)
            .await?
            .map(|s| s.objects(dataset))
            .unwrap_or_default()),
    }
}

/// What a run that leaves something out takes from the dataset it loads (its manifest, `previous`):
/// the partition column, the primary key, and the mode the dataset's runs give
/// ([`Manifest::default_mode`]), each said in the summary. A forgotten `--partition-col` so never
/// turns a year of daily partitions into one unpartitioned file, nor a forgotten `--mode append` a
/// table into its last file. Only a replace the user gives (`--mode replace`, of every day) loads as
/// told.
fn remember_layout(request: &mut LoadRequest, previous: &Manifest) -> Result<()> {
    // A replace of a range of days keeps the layout of the days around it.
    if request.mode_given == ModeGiven::User
        && request.mode == WriteMode::Replace
        && request.partition_range.is_none()
    {
        return Ok(());
    }
    let dataset = request.dataset.clone();
    let remembered = |what: String, flag: &str| format!("{what}, as {dataset} is ({flag} left out)");
    if let (None, Some(column)) = (&request.partition_column, &previous.partition_column) {
        request.partition_column = Some(column.clone());
        request.remembered.push(remembered(format!("partitioned by `{column}`"), "--partition-col"));
    }
    let told_no_key =
        request.mode_given == ModeGiven::User && matches!(request.mode, WriteMode::Merge | WriteMode::Append);
    if request.primary_key.is_empty() && !previous.primary_key.is_empty() && told_no_key {
        // As `--mode append --primary-key id` is refused: an append would add a second row for every
        // key the run brings again, a merge drop the rows of the partitions it rewrites.
        return Err(Error::Refused(format!(
            "{} is upserted by its primary key ({}) (run {}): --mode {} would give keys it holds a \
             second row, or lose rows beside them. Nothing was changed; leave --mode out (an upsert \
             by the key), or reload everything without a key with --mode replace",
            request.dataset,
            previous.primary_key.join(", "),
            previous.run_id,
            request.mode.name()
        )));
    }
    if request.primary_key.is_empty() && !previous.primary_key.is_empty() {
        request.primary_key = previous.primary_key.clone();
        let key = previous.primary_key.join(", ");
        request
            .remembered
            .push(remembered(format!("rows upserted by the primary key ({key})"), "--primary-key"));
        // A drop folder's or an incremental run's new rows replace their keys' old ones.
        if request.mode_given == ModeGiven::Command && request.mode == WriteMode::Append {
            request.mode = WriteMode::Upsert;
        }
    }
    if request.mode_given == ModeGiven::Default {
        let given_before = previous.default_mode.as_deref().and_then(|m| m.parse::<WriteMode>().ok());
        request.mode = match given_before {
            Some(mode) if mode != request.default_mode() => {
                request.remembered.push(remembered(format!("mode {}", mode.name()), "--mode"));
                mode
            }
            _ => request.default_mode(),
        };
    }
    Ok(())
}

/// Refuses a merge or an append whose partition column is not the dataset's (a column, another, or
/// none): the files it leaves would be laid out one way and its own another, and readers would see
/// the rows of both. A replace the user or the command chose (which leaves nothing of the old
/// layout) only says so; a default one is refused too: a layout changes only when someone says so.
fn check_layout(previous: &Manifest, request: &LoadRequest) -> Result<()> {
    if previous.partition_column == request.partition_column || previous.files.is_empty() {
        return Ok(());
    }
    let layout = |column: &Option<String>| match column {
        Some(column) => format!("partitioned by `{column}`"),
        None => "not partitioned".to_owned(),
    };
    let (was, now) = (layout(&previous.partition_column), layout(&request.partition_column));
    // A replace the user or the command chose (`--full-refresh`) lays the dataset out anew; a default
    // one does not.
    if request.mode == WriteMode::Replace && request.mode_given != ModeGiven::Default {
        tracing::warn!(
            "{} was {was} (run {}); this run replaces it, {now}",
            request.dataset,
            previous.run_id
        );
        return Ok(());
    }
    Err(Error::Refused(format!(
        "{} is {was} (run {}), this {} load is {now}: the files it leaves would disagree with the \
         ones it writes, and readers would see rows twice. Nothing was changed; give the same \
         --partition-col (`partition_column:`), or reload everything (--mode replace, `mode: replace`; \
         --full-refresh for an incremental load)",
        request.dataset,
        previous.run_id,
        request.mode.name()
    )))
}

/// Refuses a run whose primary key is not the dataset's: its upserts would match rows on other
/// columns than the ones that made them unique (only a replace sets a new key).
fn check_primary_key(previous: &Manifest, request: &LoadRequest) -> Result<()> {
    let (was, now) = (&previous.primary_key, &request.primary_key);
    if was.is_empty() || now.is_empty() || was == now || request.mode == WriteMode::Replace {
        return Ok(());
    }
    Err(Error::Refused(format!(
        "the primary key of {} is ({}) (run {}), this run's is ({}): rows would be matched on other \
         columns than the ones that made them unique. Nothing was changed; give --primary-key {}, or \
         reload everything under the new key with --mode replace",
        request.dataset,
        was.join(", "),
        previous.run_id,
        now.join(", "),
        was.join(",")
    )))
}

/// A placeholder while an upsert combines the staged output.
fn empty_output(dataset: &DatasetId) -> StagedDataset {
    StagedDataset {
        dataset: dataset.clone(),
        partitioned: false,
        mode: WriteMode::Upsert,
        files: Vec::new(),
        rejects: None,
        range: None,
        emptied: Vec::new(),
        upserted: None,
    }
}

/// Refuses to publish a run without rows that would leave the dataset, which holds rows, with none
/// (an empty export, a header-only file: more often an accident upstream than an emptied table).
async fn check_not_emptied(
    store: &dyn ObjectStore,
    previous: Option<&Manifest>,
    staged: &pipeline::Staged,
    format: Option<TableFormat>,
) -> Result<()> {
    let dataset = &staged.output.dataset;
    let existing = dataset_objects(store, dataset, format).await?;
    let data: Vec<String> =
        existing.iter().filter(|o| dataset.part_of_key(&o.key).is_some()).map(|o| o.key.clone()).collect();
    let stale: std::collections::BTreeSet<String> =
        crate::load::publish::stale_keys(existing, &staged.output).into_iter().collect();
    let written: std::collections::BTreeSet<&str> =
        staged.output.files.iter().map(|f| f.key.as_str()).collect();
    // A file's rows as the manifest records them; a file it does not know may hold some.
    let rows_of = |key: &str| {
        previous.and_then(|m| m.files.iter().find(|f| f.key == key)).map_or(1, |f| f.rows.unwrap_or(1))
    };
    let (gone, kept): (Vec<&String>, Vec<&String>) =
        data.iter().partition(|k| stale.contains(*k) || written.contains(k.as_str()));
    let held: u64 = data.iter().map(|k| rows_of(k)).sum();
    if held == 0 || gone.is_empty() || kept.iter().any(|k| rows_of(k) > 0) {
        return Ok(());
    }
    Err(Error::Refused(format!(
        "{} has no rows; publishing it would delete all {} data file{} of {}. Nothing was changed; pass \
         --allow-empty to empty the dataset",
        staged.source.location,
        gone.len(),
        if gone.len() == 1 { "" } else { "s" },
        store.url_of(&dataset.prefix())
    )))
}

/// Compares the new schema with the previous run's: new columns pass with a warning; a removed column
/// or a changed type fails a partitioned merge (old partitions would disagree with new ones) unless
/// allowed, and warns otherwise.
fn check_schema_drift(
    previous: &Manifest,
    schema: &[manifest::ColumnRecord],
    output: &StagedDataset,
    allowed: bool,
) -> Result<()> {
    let drift = Drift::between(&previous.schema, schema);
    if drift == Drift::default() {
        return Ok(());
    }
    // Files this run leaves in place must agree with the ones it writes (an upsert's rewritten ones
    // hold the dataset's rows too).
    // A replace of a range of days leaves the other days as they are, as a merge does.
    let merge = matches!(output.mode, WriteMode::Append | WriteMode::Upsert)
        || (output.partitioned && output.mode == WriteMode::Merge)
        || (output.mode == WriteMode::Replace && output.range.is_some());
    if drift.is_breaking() && merge && (!allowed || output.mode == WriteMode::Upsert) {
        // A column one value made text is kept as it was by a pin: said first, as what was most
        // likely left out (the other ways out rewrite the column as text).
        let keep = drift.pins();
        return Err(Error::Refused(format!(
            "the schema of {} changed since run {} ({}): {}. Nothing was changed; {}reload everything with \
             --mode replace{} (`mode: replace` in a job){}",
            output.dataset,
            previous.run_id,
            drift.describe(),
            match output.mode {
                WriteMode::Upsert => "an upsert rewrites partitions that keep the dataset's other rows",
                WriteMode::Replace =>
                    "the days outside --partition-range would disagree with the ones it writes",
                _ => "the partitions this merge leaves would disagree with the ones it writes",
            },
            keep.as_ref()
                .map(|pins| format!(
                    "keep the dataset's types with --types '{pins}' (`types:` in a job), or "
                ))
                .unwrap_or_default(),
            if output.range.is_some() { " and no --partition-range" } else { "" },
            match output.mode {
                WriteMode::Upsert if keep.is_some() => "",
                WriteMode::Upsert => ", or, for a type that changed, pin the column's type with --types",
                _ => ", or pass --allow-schema-change (`allow_schema_change: true` in a job's source)",
            }
        )));
    }
    tracing::warn!(
        "the schema of {} changed since run {}: {}",
        output.dataset,
        previous.run_id,
        drift.describe()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    //! The transaction against the local store, every call it makes recorded in order.

    use std::path::{Path, PathBuf};
    use std::sync::Mutex;

    use super::*;
    use crate::extract::csv::{CsvFile, CsvOptions};
    use crate::store::{LocalStore, ObjectMeta, StoreError};

    /// The local store, with a log of every write and delete (and whether the dataset's lock object
    /// was there when it was made).
    struct Recorded {
        inner: LocalStore,
        root: PathBuf,
        log: Mutex<Vec<String>>,
    }

    impl Recorded {
        fn note(&self, op: &str, key: &str) {
            let locked = self.root.join("datasets/d/_lock").exists();
            self.log.lock().unwrap().push(format!("{op} {key}{}", if locked { " (locked)" } else { "" }));
        }

        fn log(&self) -> Vec<String> {
            std::mem::take(&mut *self.log.lock().unwrap())
        }
    }

    #[async_trait::async_trait]
    impl ObjectStore for Recorded {
        fn url(&self) -> String {
            self.inner.url()
        }
        fn staging_parent(&self) -> PathBuf {
            self.inner.staging_parent()
        }
        async fn put(&self, key: &str, body: Vec<u8>) -> std::result::Result<(), StoreError> {
            self.note("put", key);
            self.inner.put(key, body).await
        }
        async fn put_if_absent(&self, key: &str, body: Vec<u8>) -> std::result::Result<bool, StoreError> {
            let created = self.inner.put_if_absent(key, body).await?;
            self.note("create", key);
            Ok(created)
        }
        async fn put_file(&self, key: &str, path: &Path) -> std::result::Result<Option<String>, StoreError> {
            self.note("put", key);
            self.inner.put_file(key, path).await
        }
        async fn holds(
            &self,
            listed: &ObjectMeta,
            sha256: &str,
            etag: Option<&str>,
        ) -> std::result::Result<bool, StoreError> {
            self.inner.holds(listed, sha256, etag).await
        }
        async fn copy(&self, from: &str, to: &str) -> std::result::Result<(), StoreError> {
            self.note("copy", &format!("{from} → {to}"));
            self.inner.copy(from, to).await
        }
        async fn get(&self, key: &str) -> std::result::Result<Vec<u8>, StoreError> {
            self.inner.get(key).await
        }
        async fn list(&self, prefix: &str) -> std::result::Result<Vec<ObjectMeta>, StoreError> {
            self.inner.list(prefix).await
        }
        async fn delete_many(&self, keys: &[String]) -> std::result::Result<(), StoreError> {
            for key in keys {
                self.note("delete", key);
            }
            self.inner.delete_many(keys).await
        }
    }

    fn store() -> (tempfile::TempDir, Arc<Recorded>) {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("lake");
        let inner = LocalStore::new(&root).unwrap();
        (dir, Arc::new(Recorded { inner, root, log: Mutex::default() }))
    }

    /// Loads `csv` into dataset `d`, partitioned by `day` when `partitioned`.
    fn load_csv(
        store: &Arc<Recorded>,
        dir: &Path,
        csv: &str,
        partitioned: bool,
        mode: WriteMode,
    ) -> Result<Loaded> {
        let path = dir.join(format!("{}.csv", fastrand::u32(..)));
        std::fs::write(&path, csv).unwrap();
        let source = CsvFile::new(&path, CsvOptions::default()).unwrap();
        let request = LoadRequest {
            partition_column: partitioned.then(|| "day".to_owned()),
            mode,
            mode_given: ModeGiven::User,
            ..LoadRequest::new("test", Arc::new(source), DatasetId::parse("d").unwrap())
        };
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(load(request, store.clone()))
    }

    const TWO_DAYS: &str = "day,n\n2026-11-01,1\n2026-11-02,2\n";

    #[test]
    fn every_write_is_made_under_the_lock_which_goes_last() {
        let (dir, store) = store();
        load_csv(&store, dir.path(), TWO_DAYS, true, WriteMode::Merge).unwrap();
        let log = store.log();
        assert_eq!(log.first().map(String::as_str), Some("create datasets/d/_lock (locked)"), "{log:#?}");
        assert_eq!(log.last().map(String::as_str), Some("delete datasets/d/_lock (locked)"), "{log:#?}");
        assert!(log.iter().all(|op| op.ends_with("(locked)")), "{log:#?}");
        assert!(!store.root.join("datasets/d/_lock").exists());
    }

    #[test]
    fn the_manifest_is_written_after_the_files_it_lists_and_stale_keys_go_after_it() {
        let (dir, store) = store();
        load_csv(&store, dir.path(), TWO_DAYS, true, WriteMode::Merge).unwrap();
        store.log();
        // A replace with one day: 2026-11-01 is rewritten, 2026-11-02 goes.
        let loaded = load_csv(&store, dir.path(), "day,n\n2026-11-01,5\n", true, WriteMode::Replace).unwrap();
        assert_eq!(loaded.summary.deleted, 1);
        let log: Vec<String> = store
            .log()
            .into_iter()
            .map(|op| op.trim_end_matches(" (locked)").to_owned())
            .filter(|op| !op.ends_with("_lock"))
            .collect();
        let at = |wanted: &str| {
            log.iter().position(|op| op.starts_with(wanted)).unwrap_or_else(|| panic!("{wanted}: {log:#?}"))
        };
        let new_file = at("put datasets/d/partitions/date=2026-11-01/part-0000.parquet");
        let run_record = at("put datasets/d/_runs/");
        let manifest = at("put datasets/d/_manifest.json");
        let stale = at("delete datasets/d/partitions/date=2026-11-02/part-0000.parquet");
        assert!(new_file < run_record && run_record < manifest && manifest < stale, "{log:#?}");
        assert_eq!(manifest, log.iter().rposition(|op| op.starts_with("put")).unwrap(), "{log:#?}");
        // Journaled: the journal first, each live key copied aside before it is overwritten, the
        // journal removed last.
        assert!(log[0].starts_with("put datasets/d/_journal/") && log[0].ends_with(".json"), "{log:#?}");
        let backup =
            at("copy datasets/d/partitions/date=2026-11-01/part-0000.parquet → datasets/d/_journal/");
        assert!(backup < new_file && at("copy datasets/d/_manifest.json → ") < new_file, "{log:#?}");
        assert!(log.last().unwrap().starts_with("delete datasets/d/_journal/"), "{log:#?}");
        assert!(log[stale + 1..].iter().all(|op| op.starts_with("delete datasets/d/_journal/")), "{log:#?}");
    }

    #[test]
    fn a_schema_change_that_a_merge_would_mix_is_refused_before_any_write() {
        let (dir, store) = store();
        load_csv(&store, dir.path(), TWO_DAYS, true, WriteMode::Merge).unwrap();
        store.log();
        let before = store.inner_keys();
        let err = load_csv(&store, dir.path(), "day,n\n2026-11-03,x\n", true, WriteMode::Merge).unwrap_err();
        assert!(matches!(err, Error::Refused(_)), "{err}");
        assert!(err.to_string().contains("`n` Int64 → String"), "{err}");
        let log = store.log();
        assert_eq!(log, ["create datasets/d/_lock (locked)", "delete datasets/d/_lock (locked)"], "{log:#?}");
        assert_eq!(store.inner_keys(), before, "nothing changed");
        // A replace leaves no old partition to disagree with: it goes through.
        load_csv(&store, dir.path(), "day,n\n2026-11-03,x\n", true, WriteMode::Replace).unwrap();
    }

    #[test]
    fn a_dry_run_takes_no_lock_and_writes_nothing() {
        let (dir, store) = store();
        let path = dir.path().join("a.csv");
        std::fs::write(&path, TWO_DAYS).unwrap();
        let source = CsvFile::new(&path, CsvOptions::default()).unwrap();
        let request = LoadRequest {
            partition_column: Some("day".into()),
            dry_run: true,
            ..LoadRequest::new("test", Arc::new(source), DatasetId::parse("d").unwrap())
        };
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let loaded = runtime.block_on(load(request, store.clone())).unwrap();
        assert_eq!(loaded.summary.status, Status::DryRun);
        assert!(loaded.plan.unwrap().contains("would write 2 files"));
        assert_eq!(store.log(), Vec::<String>::new());
    }

    impl Recorded {
        fn inner_keys(&self) -> Vec<String> {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            runtime.block_on(self.inner.list("")).unwrap().into_iter().map(|o| o.key).collect()
        }
    }
}
