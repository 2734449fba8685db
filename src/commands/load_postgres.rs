//! `etl load-postgres`: the rows of a PostgreSQL query or table into one dataset, typed by
//! PostgreSQL (see [`crate::extract::postgres`]).

use std::sync::Arc;

use super::{load_into, Context, LoadRequest, WriteSettings};
use crate::error::{Error, Result};
use crate::extract::postgres::{self, PgSource};
use crate::load::layout::DatasetId;
use crate::load::state::{self, StateUpdate};
use crate::load::{manifest, WriteMode};
use crate::summary::Summary;
use crate::transform::{NullTokens, Pins};

/// Resolved arguments.
#[derive(Debug, Clone)]
pub struct Settings {
    pub source: PgSource,
    pub dataset: DatasetId,
    pub partition_column: Option<String>,
    /// `--types` and `--date-format`, over PostgreSQL's types.
    pub pins: Pins,
    pub write: WriteSettings,
    /// `--incremental-column`, and `--full-refresh`.
    pub incremental: Option<(String, bool)>,
}

/// Runs the command.
pub async fn run(mut settings: Settings, ctx: &Context) -> Result<Summary> {
    let started = std::time::Instant::now();
    let target = crate::store::open(&ctx.target).await?;
    let mut update = None;
    if let Some((column, full_refresh)) = &settings.incremental {
        if settings.write.mode.is_some() || settings.write.partition_range.is_some() {
            return Err(Error::Usage(
                "--incremental-column appends what is new (or replaces everything with --full-refresh); \
                 --mode and --partition-range do not apply"
                    .into(),
            ));
        }
        let previous = state::read(target.as_ref(), &settings.dataset).await?;
        let published = manifest::read(target.as_ref(), &settings.dataset).await?.map(|m| m.run_id);
        let known = previous.clone().map(|s| s.trusted(published.as_deref())).unwrap_or_default();
        let checkpoint = known.checkpoint(column).filter(|_| !full_refresh).map(str::to_owned);
        settings.source.incremental = Some((column.clone(), checkpoint.clone()));
        update = Some((column.clone(), previous, published, known, checkpoint));
    }
    let staging = target.staging_parent();
    std::fs::create_dir_all(&staging).map_err(|e| Error::io(&staging, e))?;
    let dir = tempfile::Builder::new()
        .prefix(".etl-download-")
        .tempdir_in(&staging)
        .map_err(|e| Error::io(&staging, e))?;
    let rows = postgres::read(&settings.source, dir.path()).await?;
    let mut notes = Vec::new();
    let (mode, state) = match update {
        None => (None, None),
        Some((column, previous, published, known, checkpoint)) => match (rows.highest.clone(), &checkpoint) {
            (Some(highest), _) => {
                notes.push(format!("checkpoint {column} = {highest}"));
                let mode = if checkpoint.is_some() { WriteMode::Append } else { WriteMode::Replace };
                let next = known.moved_to(&column, highest);
                (Some(mode), Some(StateUpdate { next, based_on: previous.map(|s| s.run_id), published }))
            }
            // Everything was read and no row has a value: the dataset is replaced, no checkpoint kept.
            (None, None) => (Some(WriteMode::Replace), None),
            (None, Some(c)) => {
                let mut summary = Summary::new("load-postgres", target.url_of(&settings.dataset.prefix()));
                summary.dataset = Some(settings.dataset.to_string());
                summary.seconds = started.elapsed().as_secs_f64();
                summary.notes.push(format!("nothing new after {column} = {c}"));
                return Ok(summary);
            }
        },
    };
    let request = LoadRequest {
        source_size: Some(rows.bytes),
        pins: rows.pins.overridden_by(&settings.pins),
        partition_column: settings.partition_column,
        // PostgreSQL has its own null: a text "NA" is text.
        null_values: NullTokens::empty_only(),
        state,
        ..LoadRequest::new("load-postgres", Arc::new(rows.csv), settings.dataset)
    }
    .written_as(&settings.write, WriteMode::Merge);
    let request = match mode {
        Some(mode) => LoadRequest { mode, ..request },
        None => request,
    };
    let mut summary = load_into(request, ctx, target).await?;
    summary.notes.extend(notes);
    drop(dir);
    Ok(summary)
}
