//! `etl load-domo`: the Domo datasets listed in a catalog (`config/domo_datasets.yaml`), each
//! exported as CSV, typed from Domo's schema (inference where it says nothing), filtered, and
//! loaded whole: the export is the whole dataset, so afterwards the dataset holds exactly its rows.

use std::path::PathBuf;
use std::sync::Arc;

use super::{load_into, Context, LoadRequest, Selection};
use crate::catalog::{Catalog, DomoEntry, RawDomoEntry};
use crate::error::{Error, Result};
use crate::extract::csv::{CsvFile, CsvOptions};
use crate::extract::domo::{pins_from_schema, Credentials, DomoClient, DomoSettings};
use crate::load::parquet::WriterOptions;
use crate::load::WriteMode;
use crate::runner::run_entries;
use crate::store::ObjectStore;
use crate::summary::{Progress, Summary};

/// Resolved arguments.
#[derive(Debug, Clone)]
pub struct Settings {
    pub config: PathBuf,
    pub selection: Selection,
    pub domo: DomoSettings,
    pub writer: WriterOptions,
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
        return run_entries("load-domo", store.url(), entries, selection.options(ctx), |_, _| async {
            unreachable!("there is no entry to load")
        })
        .await
        .map(Some);
    }
    let client = Arc::new(DomoClient::new(settings.domo.clone(), Credentials::from_env()?)?);
    // One token for the whole run; bad credentials fail here, once, before any dataset starts.
    client.token(None).await?;
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
    let columns = client.schema(&entry.domo_id).await?;
    let staging = store.staging_parent();
    std::fs::create_dir_all(&staging).map_err(|e| Error::io(&staging, e))?;
    let download = tempfile::Builder::new()
        .prefix(".etl-download-")
        .tempdir_in(&staging)
        .map_err(|e| Error::io(&staging, e))?;
    let path = download.path().join("export.csv");
    let bar = if progress { Progress::new(ctx.log_format, None) } else { Progress::disabled() };
    let size = client.export(&entry.domo_id, &path, &bar).await?;
    let source = CsvFile::new(&path, CsvOptions::default())?
        .named("domo", format!("Domo dataset {} (\"{}\")", entry.domo_id, entry.name));
    let request = LoadRequest {
        source_size: Some(size),
        partition_column: entry.partition_column.clone(),
        pins: pins_from_schema(&columns).overridden_by(&entry.pins),
        writer: settings.writer.clone(),
        // The export is the whole dataset: partitions gone from Domo go from the lake too.
        mode: WriteMode::Replace,
        keep_rows: entry.keep_rows.clone(),
        dry_run: settings.selection.dry_run,
        progress,
        ..LoadRequest::new("load-domo", Arc::new(source), entry.dataset.clone())
    };
    // `download` is removed when this returns, after the load has read the export twice.
    load_into(request, ctx, store).await
}
