//! `etl load-api`: the records of a JSON REST API into one dataset (see [`crate::extract::api`]).

use std::sync::Arc;

use super::{load_into, Context, LoadRequest, WriteSettings};
use crate::error::{Error, Result};
use crate::extract::api::{self, ApiSettings};
use crate::load::layout::DatasetId;
use crate::load::state::{self, StateUpdate};
use crate::load::{manifest, WriteMode};
use crate::summary::Summary;
use crate::transform::{NullTokens, Pins};

/// Resolved arguments.
#[derive(Debug, Clone)]
pub struct Settings {
    pub api: ApiSettings,
    pub dataset: DatasetId,
    pub partition_column: Option<String>,
    /// `--types` and `--date-format`, over the types the JSON values give.
    pub pins: Pins,
    pub write: WriteSettings,
    pub incremental: Option<Incremental>,
}

/// `--incremental-field`, `--since-param`, `--full-refresh`.
#[derive(Debug, Clone)]
pub struct Incremental {
    pub field: String,
    pub param: String,
    pub full_refresh: bool,
}

/// Runs the command.
pub async fn run(mut settings: Settings, ctx: &Context) -> Result<Summary> {
    let started = std::time::Instant::now();
    let target = crate::store::open(&ctx.target).await?;
    // An incremental load starts from the checkpoint its manifest backs.
    let mut incremental = None;
    let mut schema: Vec<manifest::ColumnRecord> = Vec::new();
    if let Some(inc) = &settings.incremental {
        if settings.write.mode.is_some() || settings.write.partition_range.is_some() {
            return Err(Error::Usage(
                "--incremental-field appends what is new (or replaces everything with --full-refresh); \
                 --mode and --partition-range do not apply"
                    .into(),
            ));
        }
        let previous = state::read(target.as_ref(), &settings.dataset).await?;
        let last = manifest::read(target.as_ref(), &settings.dataset).await?;
        let published = last.as_ref().map(|m| m.run_id.clone());
        schema = last.map(|m| m.schema).unwrap_or_default();
        let known = previous.clone().map(|s| s.trusted(published.as_deref())).unwrap_or_default();
        let checkpoint = known.checkpoint(&inc.field).filter(|_| !inc.full_refresh).map(str::to_owned);
        match &checkpoint {
            Some(value) => tracing::info!("asking for records after {} = {value}", inc.field),
            None => tracing::info!("no checkpoint for {}: fetching everything", inc.field),
        }
        settings.api.since = checkpoint.clone().map(|v| (inc.param.clone(), v));
        settings.api.track = Some(inc.field.clone());
        incremental = Some((inc.clone(), previous, published, known, checkpoint));
    }
    let staging = target.staging_parent();
    std::fs::create_dir_all(&staging).map_err(|e| Error::io(&staging, e))?;
    let spool_dir = tempfile::Builder::new()
        .prefix(".etl-download-")
        .tempdir_in(&staging)
        .map_err(|e| Error::io(&staging, e))?;
    let records = api::fetch(&settings.api, spool_dir.path()).await?;
    if records.records() == 0 {
        let note = match &incremental {
            Some((inc, _, _, _, Some(since))) => format!("nothing new after {} = {since}", inc.field),
            _ => {
                tracing::warn!("{}: no records", settings.api.url);
                "the API returned no records: nothing written".into()
            }
        };
        let mut summary = Summary::new("load-api", target.url_of(&settings.dataset.prefix()));
        summary.dataset = Some(settings.dataset.to_string());
        summary.seconds = started.elapsed().as_secs_f64();
        summary.notes.push(note);
        return Ok(summary);
    }
    let mut notes = Vec::new();
    let (mode, state) = match incremental {
        None => (None, None),
        Some((inc, previous, published, known, checkpoint)) => {
            let highest = match (records.highest(), &checkpoint) {
                (Some(h), Some(c)) if crate::extract::json::later_text(c, h) => c.clone(),
                (Some(h), _) => h.to_owned(),
                (None, Some(c)) => c.clone(),
                (None, None) => {
                    return Err(Error::Refused(format!(
                        "no record has the field `{}`: there is no checkpoint to keep. Nothing was written; \
                         check --incremental-field (a flattened name, like `meta.updated_at`)",
                        inc.field
                    )))
                }
            };
            notes.push(format!("checkpoint {} = {highest}", inc.field));
            // Without a checkpoint the fetch was everything: it replaces the dataset.
            let mode = if checkpoint.is_some() { WriteMode::Append } else { WriteMode::Replace };
            let next = known.moved_to(&inc.field, highest);
            (Some(mode), Some(StateUpdate { next, based_on: previous.map(|s| s.run_id), published }))
        }
    };
    // An append keeps the dataset's columns and types: the new records alone could say otherwise
    // (a column they lack, a price that happens to be whole).
    let (records, pins) = if mode == Some(WriteMode::Append) {
        let names: Vec<String> = schema.iter().map(|c| c.name.clone()).collect();
        let kept = schema.iter().fold(Pins::none(), |pins, c| match manifest::parser_of_type(&c.kind) {
            Some(parser) => pins.pin(&c.name, parser),
            None => pins,
        });
        (records.with_columns(&names), kept.overridden_by(&settings.pins))
    } else {
        (records, settings.pins.clone())
    };
    let request = LoadRequest {
        pins: records.pins(&pins),
        partition_column: settings.partition_column,
        // JSON has its own null: a string "NA" is text.
        null_values: NullTokens::empty_only(),
        state,
        ..LoadRequest::new("load-api", Arc::new(records), settings.dataset)
    }
    .written_as(&settings.write, WriteMode::Merge);
    let request = match mode {
        Some(mode) => LoadRequest { mode, ..request },
        None => request,
    };
    let mut summary = load_into(request, ctx, target).await?;
    summary.notes.extend(notes);
    drop(spool_dir);
    Ok(summary)
}
