//! Publishing a judged run: its files named for the dataset's table format, its records made for
//! what the publish finds, and the publisher of that format ([`crate::load::publish::Publisher`]):
//! the journaled Hive publish or a Delta table's commit.

use crate::error::{Error, Result};
use crate::load::delta::{self, TableFormat};
use crate::load::hive::HivePublish;
use crate::load::manifest::{self, FileRecord, Manifest};
use crate::load::publish::{PublishReport, Publisher, Publishing};
use crate::pipeline;
use crate::summary::Summary;

use super::Run;

/// Publishes `staged` with its record (`record`, which the publish completes with its files), and
/// makes its summary.
pub(super) async fn publish(
    run: &Run<'_>,
    staged: &mut pipeline::Staged,
    record: Manifest,
    notes: &mut Vec<String>,
) -> Result<Summary> {
    let request = run.request;
    let snapshot = match request.table_format.unwrap_or_default() {
        TableFormat::Delta => Some(delta::log::read(run.store, &request.dataset).await?),
        TableFormat::Hive => None,
    };
    // A Delta table names each new file once, and keeps in place the files whose bytes it holds.
    let named = snapshot.as_ref().map(|snapshot| {
        delta::name_files(&mut staged.output, snapshot.as_ref(), run.previous, &record.schema, run.run_id)
    });
    if let Some(lock) = run.lock {
        lock.ensure_held().await?;
    }
    let state = request.state.as_ref().map(|s| s.next.body(run.run_id)).transpose()?;
    let new_files: Vec<FileRecord> =
        staged.output.files.iter().map(|f| FileRecord::of(f, run.run_id)).collect();
    let make = |publishing: &Publishing| records(run, &record, &new_files, state.as_deref(), publishing);
    let publisher = match (named, &snapshot) {
        (Some(named), Some(snapshot)) => TablePublisher::Delta(delta::DeltaPublish {
            named,
            commit: delta::Commit {
                run_id: run.run_id,
                command: request.command,
                snapshot: snapshot.as_ref(),
                schema: &record.schema,
                lock: run.lock,
                // A Hive dataset a replace turns into a table: its files go once the table has them.
                listed: match snapshot {
                    None => run.store.list(&request.dataset.prefix()).await?,
                    Some(_) => Vec::new(),
                },
                rearranged: false,
            },
        }),
        _ => TablePublisher::Hive(HivePublish {
            previous: run.previous,
            run_id: run.run_id,
            lock: run.lock,
            record_keys: record_keys(run, state.is_some()),
        }),
    };
    let report = publisher.publish(run.store, &staged.output, &make).await?;
    if let Some(None) = &snapshot {
        notes.extend(partition_column_note(staged, &record.schema));
    }
    notes.extend(version_note(&report));
    let same = report.files > 0 && report.unchanged == report.files && report.deleted.is_empty();
    let mut summary = Summary::new(request.command, run.store.url_of(&request.dataset.prefix()));
    summary.rows_written = record.rows_written;
    summary.upserted = super::plan::settle_upsert(notes, request, staged, same);
    summary.partitions = staged.output.partitions();
    summary.files = report.files;
    summary.bytes = report.bytes;
    summary.unchanged = report.unchanged;
    // A Delta table's replaced files stay for older versions: none is deleted.
    summary.deleted = if report.delta_version.is_some() { 0 } else { report.deleted.len() };
    notes.extend(report.left_behind);
    summary.run_id = Some(run.run_id.to_owned());
    Ok(summary)
}

/// The publisher of a run's table format.
pub(crate) enum TablePublisher<'a> {
    Hive(HivePublish<'a>),
    Delta(delta::DeltaPublish<'a>),
}

impl Publisher for TablePublisher<'_> {
    async fn publish(
        &self,
        store: &dyn crate::store::ObjectStore,
        staged: &crate::load::staged::StagedDataset,
        records: crate::load::publish::MakeRecords<'_>,
    ) -> Result<PublishReport> {
        match self {
            TablePublisher::Hive(hive) => hive.publish(store, staged, records).await,
            TablePublisher::Delta(delta) => delta.publish(store, staged, records).await,
        }
    }
}

/// The keys of the run's records, in the order they are written (the run record, the state, the
/// manifest: see [`records`]).
fn record_keys(run: &Run<'_>, state: bool) -> Vec<String> {
    let dataset = &run.request.dataset;
    let mut keys = vec![dataset.run_key(run.run_id)];
    keys.extend(state.then(|| dataset.state_key()));
    keys.push(dataset.manifest_key());
    keys
}

/// The run's records once its files are in place: the run record, the state (before the manifest:
/// see `crate::load::state`), and last the manifest, which only ever lists files in place.
fn records(
    run: &Run<'_>,
    record: &Manifest,
    new_files: &[FileRecord],
    state: Option<&[u8]>,
    publishing: &Publishing,
) -> Result<Vec<(String, Vec<u8>)>> {
    let new_count = new_files.len();
    let same = new_count > 0 && publishing.unchanged.len() == new_count && publishing.stale.is_empty();
    let record = Manifest {
        upserted: record.upserted.map(|u| u.settled(same)),
        finished: manifest::rfc3339(std::time::SystemTime::now()),
        deleted: publishing.stale.len(),
        files: publishing.files_after(run.previous, new_files.to_vec()),
        delta_version: publishing.delta_version,
        ..record.clone()
    };
    // Not redacted as a whole: a value equal to a secret's would rewrite keys and column names that
    // later runs read back. The one field that can carry a secret, the source's location, is
    // masked in `record::run_record`.
    let body =
        serde_json::to_string_pretty(&record).map_err(|e| Error::Internal(e.to_string()))?.into_bytes();
    let dataset = &run.request.dataset;
    let mut records = vec![(dataset.run_key(run.run_id), body.clone())];
    records.extend(state.map(|state| (dataset.state_key(), state.to_vec())));
    records.push((dataset.manifest_key(), body));
    Ok(records)
}

/// A new Delta table's partition column, when it is not the folders' usual key.
fn partition_column_note(staged: &pipeline::Staged, schema: &[manifest::ColumnRecord]) -> Option<String> {
    let column = delta::partition_column(&staged.output, None, schema)?;
    (column != crate::load::layout::PARTITION_KEY).then(|| {
        format!(
            "the table's partition column is `{column}` (its folders `{column}=`): a column of the data \
             has the name `{}` in another case",
            crate::load::layout::PARTITION_KEY
        )
    })
}

/// What a Delta publish did to the table's versions.
fn version_note(report: &PublishReport) -> Option<String> {
    let version = report.delta_version?;
    let same = report.files == report.unchanged && report.deleted.is_empty();
    Some(match report.deleted.len() {
        _ if same => format!("the Delta table stays at version {version}: nothing changed"),
        0 => format!("committed version {version} of the Delta table"),
        n => format!(
            "committed version {version} of the Delta table; {} it replaced stay for older versions until \
             `etl vacuum`",
            crate::summary::count(n as u64, "file")
        ),
    })
}
