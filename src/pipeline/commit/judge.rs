//! Judging a staged run before anything is written: what it refuses (a filter that kept nothing, an
//! append of what the last one appended, a run that would empty a dataset, a schema a merge's other
//! partitions would disagree with, another primary key) and what it says (its notes).

use crate::error::{Error, Result};
use crate::extract::filter::KeepRows;
use crate::load::delta::TableFormat;
use crate::load::manifest::{self, Drift, Manifest};
use crate::load::staged::{StagedDataset, WriteMode};
use crate::pipeline;
use crate::store::ObjectStore;
use crate::summary::Summary;

use super::remember::{check_primary_key, dataset_objects};
use super::request::LoadRequest;
use super::Run;

/// Refuses a type change that a Delta table's other files would not hold, even with
/// `--allow-schema-change`: Delta readers read every file with the table's types. Only a run that
/// replaces every file changes one.
fn delta_types(
    run: &Run<'_>,
    previous: &Manifest,
    schema: &[manifest::ColumnRecord],
    output: &StagedDataset,
) -> Result<()> {
    let whole = output.mode == WriteMode::Replace && output.range.is_none();
    if run.request.table_format != Some(TableFormat::Delta) || whole {
        return Ok(());
    }
    let drift = Drift::between(&previous.schema, schema);
    if drift.changed.is_empty() || !run.request.allow_schema_change {
        return Ok(());
    }
    Err(Error::Refused(format!(
        "the schema of {} changed since run {} ({}): a Delta table's readers read every file with the \
         table's types, so a type changes only when every file is replaced. Nothing was changed; keep \
         the type with --types{}, or reload everything with --mode replace",
        run.request.dataset,
        previous.run_id,
        drift.describe(),
        drift.pins().map(|p| format!(" '{p}'")).unwrap_or_default()
    )))
}

/// What a staged run says in its summary before it is judged: what was remembered, the staging's
/// notes, rows left out by the filter or the range, bad rows and where they went.
pub(super) fn notes(run: &Run<'_>, staged: &pipeline::Staged, excluded: u64) -> Vec<String> {
    let (request, store) = (run.request, run.store);
    let mut notes = request.remembered.clone();
    notes.extend(staged.notes.iter().cloned());
    if excluded > 0 {
        notes.push(format!("{excluded} rows excluded by the filter"));
    }
    if let Some((range, outside)) = staged.output.range.filter(|(_, n)| *n > 0) {
        notes.push(format!("{outside} rows outside --partition-range {range} left out"));
    }
    let bad = |n| crate::summary::count(n, "bad row");
    match (&staged.output.rejects, staged.rejected) {
        (_, 0) => {}
        (Some(file), n) if request.dry_run => {
            notes.push(format!("{} would be quarantined in {}", bad(n), store.url_of(&file.key)))
        }
        (Some(file), n) => notes.push(format!("{} quarantined in {}", bad(n), store.url_of(&file.key))),
        (None, n) => notes.push(format!("{} skipped", bad(n))),
    }
    if staged.rows_read == 0 && staged.rejected == 0 && excluded == 0 {
        tracing::warn!("{}: no rows, only a header: the dataset gets none", staged.source.location);
    }
    if request.partition_column.is_some() && request.table_format != Some(TableFormat::Delta) {
        notes.extend(partition_key_notes(run, staged));
    }
    notes
}

/// A column with the name of the partition folders' key: said in the summary when the dataset is
/// made (a reader must know it once; no warning: nothing is wrong), then at -v; `etl inspect`
/// prints the reads that keep it. (A Delta table's partition column clashes with none.)
fn partition_key_notes(run: &Run<'_>, staged: &pipeline::Staged) -> Vec<String> {
    let mut notes = Vec::new();
    for column in staged.schema.iter().filter(|c| crate::load::readers::collides_with_partition_key(&c.name))
    {
        let text = format!(
            "column `{}` has the name of the partition folders' key `{}`: a Hive-partitioned read \
             (DuckDB and Spark match names without case) shows the folder's day in its place; \
             `etl inspect {}` prints reads that keep it",
            column.name,
            crate::load::layout::PARTITION_KEY,
            run.request.dataset
        );
        match run.previous {
            None => notes.push(text),
            Some(_) => tracing::info!("{text}"),
        }
    }
    notes
}

/// Refuses what a staged run must not publish, before its schema is planned: a filter that kept
/// nothing, a run that would empty a dataset holding rows. `Some`: a retried append of the very
/// bytes the last one appended, which appends nothing (its summary).
pub(super) async fn before_planning(
    run: &Run<'_>,
    staged: &pipeline::Staged,
    filter: Option<&KeepRows>,
    rows_read: u64,
) -> Result<Option<Summary>> {
    let request = run.request;
    let excluded = filter.map_or(0, |f| f.dropped());
    if let Some(filter) = filter.filter(|_| staged.rows_read == 0 && excluded > 0) {
        return Err(Error::Refused(format!(
            "the filter kept none of the {excluded} rows: no row has {}; check exclude_filter's \
             keep_value (nothing was written)",
            filter.describe()
        )));
    }
    if let Some(last) = appended_already(request, run.previous, staged) {
        let mut summary = Summary::nothing_done(
            request.command,
            run.store.url_of(&request.dataset.prefix()),
            request.dataset.as_str(),
            request.began,
            format!(
                "nothing appended: run {last} appended the same source ({}, the same bytes) already; a \
                 retried run never adds its rows twice (--append-again appends them again)",
                staged.source.location
            ),
        );
        summary.rows_read = rows_read;
        return Ok(Some(summary));
    }
    if staged.output.rows() == 0 && !request.allow_empty && request.mode != WriteMode::Upsert {
        check_not_emptied(run.store, run.previous, staged, request.table_format).await?;
    }
    Ok(None)
}

/// Refuses a schema the dataset's other files would disagree with, and another primary key.
pub(super) fn schema(
    run: &Run<'_>,
    schema: &[manifest::ColumnRecord],
    staged: &pipeline::Staged,
) -> Result<()> {
    if let Some(previous) = run.previous {
        delta_types(run, previous, schema, &staged.output)?;
        check_schema_drift(previous, schema, &staged.output, run.request.allow_schema_change)?;
        check_primary_key(previous, run.request)?;
    }
    Ok(())
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
        && previous.source.location == super::record::recorded_location(&staged.source.location)
        && previous.source.bytes == Some(*bytes)
        && previous.source.sha256.as_deref() == Some(sha256.as_str())
        && previous.partition_column == request.partition_column;
    same.then(|| previous.run_id.clone())
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
