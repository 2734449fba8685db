//! `etl upload-csv`: one CSV file into one dataset, every column typed from all of its values.

use std::sync::Arc;

use super::context::{load_dataset, Context};
use crate::error::Result;
use crate::extract::csv::CsvFile;
use crate::load::WriteMode;
use crate::pipeline::commit::LoadRequest;
use crate::settings::UploadCsvSettings;
use crate::summary::Summary;

/// Runs the command.
pub async fn run(settings: UploadCsvSettings, ctx: &Context) -> Result<Summary> {
    let source = CsvFile::new(&settings.file, settings.read.csv.clone())?;
    let size = std::fs::metadata(&settings.file).ok().map(|m| m.len());
    let request = LoadRequest {
        source_size: size,
        progress: ctx.progress(&settings.dataset, size),
        partition_column: settings.partition_column,
        pins: settings.read.pins.with_decimal_comma(source.decimal_comma()),
        bad_rows: settings.read.csv.bad_rows,
        null_values: settings.read.null_values,
        ..LoadRequest::new("upload-csv", Arc::new(source), settings.dataset)
    }
    .written_as(&settings.write, WriteMode::Merge);
    load_dataset(request, ctx).await
}
