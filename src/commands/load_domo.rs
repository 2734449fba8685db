//! `etl load-domo`: the Domo datasets listed in a catalog (`config/domo_datasets.yaml`), each
//! exported as CSV, typed from Domo's schema (inference where it says nothing), filtered, and
//! loaded whole: the export is the whole dataset, so afterwards the dataset holds exactly its rows.

use std::path::PathBuf;
use std::sync::Arc;

use super::{load_into, Context, LoadRequest, Selection, WriteSettings};
use crate::catalog::{Catalog, DomoEntry, RawDomoEntry};
use crate::error::{Error, Result};
use crate::extract::domo::{check_columns, pins_from_schema, Credentials, DomoClient, DomoSettings};
use crate::load::WriteMode;
use crate::runner::{run_entries, NOTHING_TO_DO};
use crate::store::ObjectStore;
use crate::summary::{Progress, Summary};
use crate::transform::NullTokens;

/// Resolved arguments.
#[derive(Debug, Clone)]
pub struct Settings {
    pub config: PathBuf,
    pub selection: Selection,
    pub domo: DomoSettings,
    pub write: WriteSettings,
    /// Publish an export with no rows over a dataset that has some (emptying it).
    pub allow_empty: bool,
}

/// Runs the command; `None` when it only listed the catalog.
pub async fn run(settings: Settings, ctx: &Context) -> Result<Option<Summary>> {
    let catalog = Catalog::<DomoEntry>::load::<RawDomoEntry>(&settings.config)?;
    let selection = &settings.selection;
    if selection.list {
        print!("{}", catalog.list());
        return Ok(None);
    }
    let entries = catalog.select(&selection.names, selection.all)?;
    let store = crate::store::open(&ctx.target).await?;
    if entries.is_empty() {
        let mut summary = Summary::new("load-domo", store.url());
        summary.notes.push(NOTHING_TO_DO.into());
        return Ok(Some(summary));
    }
    let client = Arc::new(DomoClient::new(settings.domo.clone(), Credentials::from_env()?)?);
    // One token for the whole run; bad credentials fail here, once, before any dataset starts.
    client.check_credentials().await?;
    let summary =
        run_entries("load-domo", store.url(), entries, selection.options(ctx), |entry, progress| {
            load_one(entry, client.clone(), store.clone(), &settings, ctx, progress)
        })
        .await?;
    tracing::debug!("Domo access tokens fetched: {}", client.tokens_fetched());
    Ok(Some(summary))
}

async fn load_one(
    entry: &DomoEntry,
    client: Arc<DomoClient>,
    store: Arc<dyn ObjectStore>,
    settings: &Settings,
    ctx: &Context,
    progress: bool,
) -> Result<Summary> {
    tracing::info!("\"{}\": Domo dataset {} → {}", entry.name, entry.domo_id, entry.dataset);
    let schema = client.schema(&entry.domo_id).await?;
    let mut relied_on = Vec::new();
    if let Some(column) = &entry.partition_column {
        relied_on.push(("partition_column", column.as_str()));
    }
    if let Some((column, _)) = &entry.keep_rows {
        relied_on.push(("exclude_filter column", column.as_str()));
    }
    check_columns(&schema, &relied_on).map_err(|message| {
        Error::Usage(format!("{}: \"{}\": {message}", settings.config.display(), entry.name))
    })?;
    let bar = if progress { Progress::new(ctx.log_format, None) } else { Progress::disabled() };
    let export = client.download(&entry.domo_id, &entry.name, &schema, &store.staging_parent(), &bar).await?;
    let request = LoadRequest {
        source_size: Some(export.size()),
        partition_column: entry.partition_column.clone(),
        pins: pins_from_schema(&schema).overridden_by(&entry.pins),
        // Domo writes nulls as empty fields; `NA` is a value.
        null_values: NullTokens::empty_only(),
        keep_rows: entry.keep_rows.clone(),
        dry_run: settings.selection.dry_run,
        allow_empty: settings.allow_empty,
        progress,
        ..LoadRequest::new("load-domo", Arc::new(export), entry.dataset.clone())
    }
    // The export is the whole dataset: partitions gone from Domo go from the lake too.
    .written_as(&settings.write, WriteMode::Replace);
    // The export's folder goes when the load has read it (twice) and drops it.
    load_into(request, ctx, store).await
}
