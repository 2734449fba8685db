//! Planning what a judged run publishes: the schema it records, and, for a run with a primary key,
//! its rows combined by key (with the dataset's, for an upsert).

use crate::error::Result;
use crate::load::layout::DatasetId;
use crate::load::manifest::{self, ColumnRecord};
use crate::load::staged::{StagedDataset, WriteMode};
use crate::load::upsert;
use crate::pipeline;

use super::remember::dataset_objects;
use super::request::LoadRequest;
use super::Run;

/// The schema the run records: its own, or, for a run without rows (a header-only file, typed from
/// no value at all), the dataset's, which it keeps.
pub(super) fn schema(run: &Run<'_>, staged: &pipeline::Staged) -> Vec<ColumnRecord> {
    let no_rows = staged.rows_read == 0 && staged.output.rows() == 0;
    match run.previous {
        Some(previous) if no_rows => previous.schema.clone(),
        _ => manifest::schema_record(&staged.schema),
    }
}

/// Combines a keyed run's rows by key: an upsert with the dataset's, a replace with a key among its
/// own (one row per key); says what it did.
pub(super) async fn combine_keys(
    run: &Run<'_>,
    staged: &mut pipeline::Staged,
    notes: &mut Vec<String>,
) -> Result<()> {
    let request = run.request;
    if !request.keyed() {
        return Ok(());
    }
    let key = upsert::Key { columns: request.primary_key.clone(), dedup_by: request.dedup_by.clone() };
    let output = std::mem::replace(&mut staged.output, empty_output(&request.dataset));
    let files = crate::transform::types::schema_of(&staged.schema);
    let with_dataset = request.mode == WriteMode::Upsert;
    let objects = match with_dataset {
        true => dataset_objects(run.store, &request.dataset, request.table_format).await?,
        false => Vec::new(),
    };
    staged.output = upsert::combine(run.store, output, &key, &files, request.writer.clone(), objects).await?;
    match staged.output.upserted {
        Some(upserted) if !with_dataset => notes.push(format!(
            "one row per key ({}): {} keys{}",
            request.primary_key.join(", "),
            crate::summary::thousands(upserted.inserted),
            match upserted.superseded {
                0 => String::new(),
                n => format!("; {} gave way to a later one of the same key", crate::summary::count(n, "row")),
            }
        )),
        Some(upserted) => notes.push(upsert_note(&request.primary_key, &upserted, staged.output.partitioned)),
        None => {}
    }
    Ok(())
}

/// The rows this run brought: an upsert's rewritten files hold the dataset's other rows too.
pub(super) fn rows_written(staged: &pipeline::Staged) -> u64 {
    match &staged.output.upserted {
        Some(u) => u.inserted + u.updated,
        None => staged.output.rows(),
    }
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

/// The summary's line of an upsert: `upsert by id: 1 inserted, 2 updated; 2 partitions rewritten`.
pub(super) fn upsert_note(key: &[String], upserted: &crate::summary::Upserted, partitioned: bool) -> String {
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
pub(super) fn settle_upsert(
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
