//! `etl load-api`: the records of a JSON REST API into one dataset (see [`crate::extract::api`]).

use std::sync::Arc;

use super::{load_into, Context, LoadRequest, WriteSettings};
use crate::error::{Error, Result};
use crate::extract::api::{self, ApiSettings};
use crate::load::layout::DatasetId;
use crate::load::WriteMode;
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
}

/// Runs the command.
pub async fn run(settings: Settings, ctx: &Context) -> Result<Summary> {
    let started = std::time::Instant::now();
    let target = crate::store::open(&ctx.target).await?;
    let staging = target.staging_parent();
    std::fs::create_dir_all(&staging).map_err(|e| Error::io(&staging, e))?;
    let spool_dir = tempfile::Builder::new()
        .prefix(".etl-download-")
        .tempdir_in(&staging)
        .map_err(|e| Error::io(&staging, e))?;
    let records = api::fetch(&settings.api, spool_dir.path()).await?;
    if records.records() == 0 {
        tracing::warn!("{}: no records", settings.api.url);
        let mut summary = Summary::new("load-api", target.url_of(&settings.dataset.prefix()));
        summary.dataset = Some(settings.dataset.to_string());
        summary.seconds = started.elapsed().as_secs_f64();
        summary.notes.push("the API returned no records: nothing written".into());
        return Ok(summary);
    }
    let request = LoadRequest {
        pins: records.pins(&settings.pins),
        partition_column: settings.partition_column,
        // JSON has its own null: a string "NA" is text.
        null_values: NullTokens::empty_only(),
        ..LoadRequest::new("load-api", Arc::new(records), settings.dataset)
    }
    .written_as(&settings.write, WriteMode::Merge);
    let summary = load_into(request, ctx, target).await?;
    drop(spool_dir);
    Ok(summary)
}
