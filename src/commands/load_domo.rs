//! `etl load-domo`: the Domo datasets listed in a catalog (`config/domo_datasets.yaml`), each
//! exported as CSV, typed from Domo's schema (inference where it says nothing), filtered, and
//! loaded whole: the export is the whole dataset, so afterwards the dataset holds exactly its rows.

use std::path::Path;
use std::sync::Arc;

use super::context::{load_into, watched, Context};
use crate::catalog::{Catalog, DomoEntry, RawDomoEntry};
use crate::error::{Error, Result};
use crate::extract::domo::{self, check_columns, pins_from_schema, Credentials, DomoClient};
use crate::extract::SourceInfo;
use crate::load::WriteMode;
use crate::pipeline::commit::{Begun, LoadRequest};
use crate::runner::{run_entries, RunOptions, NOTHING_TO_DO};
use crate::settings::{LoadDomoSettings, Selection};
use crate::store::ObjectStore;
use crate::summary::Summary;
use crate::transform::NullTokens;

/// Runs the command on the catalog at `config`; `None` when it only listed the catalog.
pub async fn run(
    config: &Path,
    selection: Selection,
    settings: LoadDomoSettings,
    ctx: &Context,
) -> Result<Option<Summary>> {
    let catalog = Catalog::<DomoEntry>::load::<RawDomoEntry>(config)?;
    if selection.list {
        crate::stdout::print(&catalog.list())?;
        return Ok(None);
    }
    let entries = catalog.select(&selection.names, selection.all)?;
    let options = selection.options(ctx.log_format);
    load_entries(entries, config, options, selection.dry_run, &settings, ctx).await.map(Some)
}

/// Loads Domo datasets (`entries`, written in the file `from`), as the runner's `options` say.
pub async fn load_entries(
    entries: Vec<&DomoEntry>,
    from: &Path,
    options: RunOptions,
    dry_run: bool,
    settings: &LoadDomoSettings,
    ctx: &Context,
) -> Result<Summary> {
    let store = crate::store::open(&ctx.target).await?;
    if entries.is_empty() {
        let mut summary = Summary::new("load-domo", store.url());
        summary.notes.push(NOTHING_TO_DO.into());
        return Ok(summary);
    }
    let client = Arc::new(DomoClient::new(settings.domo.clone(), Credentials::from_env()?)?);
    // One token for the whole run; bad credentials fail here, once, before any dataset starts.
    client.check_credentials().await?;
    let summary = run_entries("load-domo", store.url(), entries, options, |entry| {
        let one = One { client: client.clone(), store: store.clone(), from, dry_run, settings, ctx };
        one.load(entry)
    })
    .await?;
    tracing::debug!("Domo access tokens fetched: {}", client.tokens_fetched());
    Ok(summary)
}

/// What loading one entry needs.
struct One<'a> {
    client: Arc<DomoClient>,
    store: Arc<dyn ObjectStore>,
    from: &'a Path,
    dry_run: bool,
    settings: &'a LoadDomoSettings,
    ctx: &'a Context,
}

impl One<'_> {
    /// One entry's run: begun before its schema is asked for.
    async fn load(self, entry: &DomoEntry) -> Result<Summary> {
        let store = self.store.clone();
        let dry_run = self.dry_run || self.settings.write.dry_run;
        let source = SourceInfo { kind: "domo", location: domo::source_name(&entry.domo_id, &entry.name) };
        watched("load-domo", &entry.dataset, source, store.as_ref(), dry_run, |begun| {
            self.load_entry(entry, begun)
        })
        .await
    }

    async fn load_entry(self, entry: &DomoEntry, begun: Option<Begun>) -> Result<Summary> {
        let began = std::time::Instant::now();
        tracing::info!("\"{}\": Domo dataset {} → {}", entry.name, entry.domo_id, entry.dataset);
        let schema = self.client.schema(&entry.domo_id).await?;
        let mut relied_on = Vec::new();
        if let Some(column) = &entry.partition_column {
            relied_on.push(("partition_column", column.as_str()));
        }
        if let Some((column, _)) = &entry.keep_rows {
            relied_on.push(("exclude_filter column", column.as_str()));
        }
        check_columns(&schema, &relied_on).map_err(|message| {
            Error::Usage(format!("{}: \"{}\": {message}", self.from.display(), entry.name))
        })?;
        let bar = self.ctx.progress(&entry.dataset, None);
        let staging = self.store.staging_parent();
        let export = self.client.download(&entry.domo_id, &entry.name, &schema, &staging, &bar).await?;
        let request = LoadRequest {
            began,
            source_size: Some(export.size()),
            partition_column: entry.partition_column.clone(),
            pins: pins_from_schema(&schema).overridden_by(&entry.pins),
            // Domo writes nulls as empty fields; `NA` is a value.
            null_values: NullTokens::empty_only(),
            keep_rows: entry.keep_rows.clone(),
            dry_run: self.dry_run,
            progress: self.ctx.progress(&entry.dataset, Some(export.size())),
            begun,
            ..LoadRequest::new("load-domo", Arc::new(export), entry.dataset.clone())
        }
        // The export is the whole dataset: partitions gone from Domo go from the lake too.
        .written_as(&entry.write(&self.settings.write), WriteMode::Replace);
        // The export's folder goes when the load has read it (twice) and drops it.
        load_into(request, self.store).await
    }
}
