//! Recording a run: its record (what the manifest and `_runs/<run-id>.json` keep), the record of a
//! run its checks refused, and its summary (a dry run's too).

use crate::error::Error;
use crate::load::manifest::{self, Manifest, SourceRecord};
use crate::load::staged::WriteMode;
use crate::pipeline;
use crate::pipeline::checks::Judged;
use crate::summary::{Status, Summary};

use super::request::{LoadRequest, ModeGiven};
use super::Run;

/// A source's location as a run record keeps it: never a password or a token.
pub(super) fn recorded_location(location: &str) -> String {
    crate::redact::redact(&crate::config::mask_url(location)).into_owned()
}

/// The run's record as far as its source and schema go; the caller says what it wrote.
pub(super) fn run_record(request: &LoadRequest, staged: &pipeline::Staged, run_id: &str) -> Manifest {
    let source = SourceRecord {
        kind: staged.source.kind.to_owned(),
        location: recorded_location(&staged.source.location),
        bytes: staged.source_digest.as_ref().map(|d| d.0).or(request.source_size),
        sha256: staged.source_digest.as_ref().map(|d| d.1.clone()),
    };
    Manifest {
        mode: request.mode.name().into(),
        partition_column: request.partition_column.clone(),
        schema: manifest::schema_record(&staged.schema),
        job: crate::monitor::job(),
        ..Manifest::begun(run_id, request.command, source, staged.started_at)
    }
}

/// The record of a run about to publish: what it read, wrote and judged, and what the dataset keeps
/// from earlier runs (its primary key, the mode its runs give). The publish adds its files.
pub(super) fn published(
    run: &Run<'_>,
    staged: &pipeline::Staged,
    schema: Vec<manifest::ColumnRecord>,
    judged: &Judged,
    rows_written: u64,
) -> Manifest {
    let (request, previous) = (run.request, run.previous);
    let format = request.table_format.unwrap_or_default();
    Manifest {
        mode: staged.output.mode.name().into(),
        primary_key: match (&request.primary_key, previous) {
            (key, _) if !key.is_empty() => key.clone(),
            (_, Some(previous)) if request.mode != WriteMode::Replace => previous.primary_key.clone(),
            _ => Vec::new(),
        },
        schema,
        rows_written,
        null_tokens: staged.null_tokens.iter().cloned().collect(),
        upserted: staged.output.upserted,
        checks: judged.results.clone(),
        newest: judged.newest.clone(),
        default_mode: match request.mode_given {
            ModeGiven::User if request.mode == WriteMode::Replace => None,
            ModeGiven::User => Some(request.mode.name().to_owned()),
            _ => previous.and_then(|p| p.default_mode.clone()),
        },
        table_format: (format != crate::load::delta::TableFormat::Hive).then(|| format.name().to_owned()),
        sort_by: request.writer.sort_by.clone(),
        row_group_bytes: request.writer.row_group_bytes,
        ..run_record(request, staged, run.run_id)
    }
}

/// A dry run's summary and rendered plan: what a real run would write, leave and delete (for a Delta
/// table, remove from its newest version).
pub(super) async fn dry_run(
    run: &Run<'_>,
    staged: &mut pipeline::Staged,
    judged: &Judged,
    rows_written: u64,
    notes: &mut Vec<String>,
    excluded: u64,
) -> crate::error::Result<(Summary, String)> {
    let request = run.request;
    if request.table_format == Some(crate::load::delta::TableFormat::Delta) {
        // Named as a publish would name them: the files the table holds already are kept.
        let snapshot = crate::load::delta::log::read(run.store, &request.dataset).await?;
        let schema = manifest::schema_record(&staged.schema);
        crate::load::delta::name_files(
            &mut staged.output,
            snapshot.as_ref(),
            run.previous,
            &schema,
            run.run_id,
        );
    }
    let objects = super::remember::dataset_objects(run.store, &request.dataset, request.table_format).await?;
    let plan = staged.plan(run.store, run.previous, objects).await?;
    let unchanged = plan.unchanged;
    let same = unchanged > 0 && unchanged == staged.output.files.len() && plan.deletes.is_empty();
    let mut summary = Summary::new(request.command, plan.target.clone());
    summary.unchanged = unchanged;
    summary.status = Status::DryRun;
    summary.rows_written = rows_written;
    summary.upserted = super::plan::settle_upsert(notes, request, staged, same);
    summary.partitions = staged.output.partitions();
    summary.files = staged.output.files.len();
    summary.bytes = staged.output.bytes();
    notes.push("dry run: nothing was written or deleted".into());
    if judged.failed() {
        notes.push("a check failed: a real run would publish nothing (exit 65)".into());
        summary.exit_code = Some(65);
    }
    Ok((summary, plan.render(excluded)))
}

/// What every summary of a load says: its dataset, rows read, notes and checks, and how long each
/// phase took (also logged).
pub(super) fn finished(
    request: &LoadRequest,
    summary: &mut Summary,
    staged: &pipeline::Staged,
    rows_read: u64,
    notes: Vec<String>,
    checks: Vec<crate::summary::CheckResult>,
) {
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
}

/// A run whose checks failed at severity error: its record and offending rows kept (nothing else
/// written), and the error (exit 65) that carries its summary. `run`: its id, its lock, the rows it
/// read.
pub(super) async fn refused_by_checks(
    run: &Run<'_>,
    staged: &pipeline::Staged,
    judged: Judged,
    mut notes: Vec<String>,
    rows_read: u64,
) -> Error {
    let (request, store, previous, run_id, lock) =
        (run.request, run.store, run.previous, run.run_id, run.lock);
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
