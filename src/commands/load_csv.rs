//! `etl load-csv`: the CSV datasets listed in a catalog (`config/csv_datasets.yaml`), each loaded
//! from the last file (by name) in its folder that matches its pattern.

use std::sync::Arc;

use super::context::{load_into, watched, Context};
use crate::catalog::{Catalog, CsvEntry, RawCsvEntry};
use crate::error::Result;
use crate::extract::csv::CsvFile;
use crate::extract::SourceInfo;
use crate::load::WriteMode;
use crate::pipeline::commit::LoadRequest;
use crate::runner::run_entries;
use crate::settings::LoadCsvSettings;
use crate::store::ObjectStore;
use crate::summary::Summary;

/// Runs the command; `None` when it only listed the catalog.
pub async fn run(settings: LoadCsvSettings, ctx: &Context) -> Result<Option<Summary>> {
    let catalog = Catalog::<CsvEntry>::load::<RawCsvEntry>(&settings.config)?;
    let selection = &settings.selection;
    if selection.list {
        crate::stdout::print(&catalog.list())?;
        return Ok(None);
    }
    let entries = catalog.select(&selection.names, selection.all)?;
    let store = crate::store::open(&ctx.target).await?;
    run_entries("load-csv", store.url(), entries, selection.options(ctx.log_format), |entry| {
        load_one(entry, store.clone(), &settings, ctx)
    })
    .await
    .map(Some)
}

async fn load_one(
    entry: &CsvEntry,
    store: Arc<dyn ObjectStore>,
    settings: &LoadCsvSettings,
    ctx: &Context,
) -> Result<Summary> {
    let file = match entry.latest_file() {
        Ok(file) => file,
        // The night's file did not come: a failed run of the dataset, recorded and reported.
        Err(e) => {
            let location = format!("{}/{}", entry.source_dir.display(), entry.file_pattern.as_str());
            let source = SourceInfo { kind: "csv", location };
            let dry_run = settings.selection.dry_run || settings.write.dry_run;
            return watched("load-csv", &entry.dataset, source, store.as_ref(), dry_run, |_| async {
                Err(e)
            })
            .await;
        }
    };
    tracing::info!("\"{}\": {} → {}", entry.name, file.display(), entry.dataset);
    let source = CsvFile::new(&file, entry.csv.clone())?;
    let size = std::fs::metadata(&file).ok().map(|m| m.len());
    let request = LoadRequest {
        source_size: size,
        partition_column: entry.partition_column.clone(),
        pins: entry.pins.clone().with_decimal_comma(source.decimal_comma()),
        bad_rows: entry.csv.bad_rows,
        null_values: entry.null_values.clone(),
        keep_rows: entry.keep_rows.clone(),
        dry_run: settings.selection.dry_run,
        progress: ctx.progress(&entry.dataset, size),
        ..LoadRequest::new("load-csv", Arc::new(source), entry.dataset.clone())
    }
    .written_as(&entry.write(&settings.write), WriteMode::Merge);
    load_into(request, store).await
}
