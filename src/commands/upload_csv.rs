//! `etl upload-csv`: one CSV file into one dataset, every column typed from all of its values.

use std::path::PathBuf;
use std::sync::Arc;

use super::{load_dataset, Context, LoadRequest, WriteSettings};
use crate::error::Result;
use crate::extract::csv::{CsvFile, CsvOptions};
use crate::load::layout::DatasetId;
use crate::load::WriteMode;
use crate::summary::Summary;
use crate::transform::{NullTokens, Pins};

/// Resolved arguments.
#[derive(Debug, Clone)]
pub struct Settings {
    pub file: PathBuf,
    pub dataset: DatasetId,
    pub partition_column: Option<String>,
    pub csv: CsvOptions,
    /// `--types` and `--date-format`.
    pub pins: Pins,
    /// `--null-values`.
    pub null_values: NullTokens,
    pub write: WriteSettings,
}

/// Runs the command.
pub async fn run(settings: Settings, ctx: &Context) -> Result<Summary> {
    let source = CsvFile::new(&settings.file, settings.csv.clone())?;
    let size = std::fs::metadata(&settings.file).ok().map(|m| m.len());
    let request = LoadRequest {
        source_size: size,
        partition_column: settings.partition_column,
        pins: settings.pins,
        bad_rows: settings.csv.bad_rows,
        null_values: settings.null_values,
        ..LoadRequest::new("upload-csv", Arc::new(source), settings.dataset)
    }
    .written_as(&settings.write, WriteMode::Merge);
    load_dataset(request, ctx).await
}
