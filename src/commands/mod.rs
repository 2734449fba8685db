//! One module per subcommand. Commands are thin: they receive resolved settings, assemble an
//! extractor, a transform and a loader, and hand them to [`crate::pipeline::run`].

pub mod clear_dataset;
pub mod load_cursor_usage;
pub mod upload_csv;

use std::sync::Arc;

use crate::config::Target;
use crate::error::Result;
use crate::extract::Extract;
use crate::load::layout::DatasetId;
use crate::load::parquet::WriterOptions;
use crate::load::ParquetLoad;
use crate::logging::LogFormat;
use crate::pipeline::{self, TypeColumns};
use crate::summary::{Progress, Summary};
use crate::transform::Pins;

/// What every command gets besides its own settings.
#[derive(Debug, Clone)]
pub struct Context {
    pub target: Target,
    pub log_format: LogFormat,
}

/// What to load and how: the part shared by every loading command.
pub struct LoadRequest {
    pub command: &'static str,
    pub source: Arc<dyn Extract>,
    pub source_size: Option<u64>,
    pub dataset: DatasetId,
    pub partition_column: Option<String>,
    pub pins: Pins,
    pub writer: WriterOptions,
}

/// Runs a load and turns its report into the summary line.
pub async fn load_dataset(request: LoadRequest, ctx: &Context) -> Result<Summary> {
    let store = crate::store::open(&ctx.target).await?;
    let partitioned = request.partition_column.is_some();
    let load = ParquetLoad::new(
        request.dataset.clone(),
        request.partition_column,
        request.writer,
        &store.staging_parent(),
    )?;
    let report = pipeline::run(
        request.source,
        Box::new(TypeColumns::new(request.pins)),
        Box::new(load),
        request.dataset,
        partitioned,
        store,
        Progress::new(ctx.log_format, request.source_size),
    )
    .await?;
    let mut summary = Summary::new(request.command, report.target);
    summary.dataset = Some(report.dataset.to_string());
    summary.rows_read = report.rows_read;
    summary.rows_written = report.rows_written;
    summary.partitions = report.partitions;
    summary.files = report.files;
    summary.bytes = report.bytes;
    summary.deleted = report.replaced;
    summary.seconds = report.seconds;
    summary.notes = report
        .coerced_nulls
        .iter()
        .map(|(column, n)| format!("{column}: {n} no-charge values (Included/Free/-) stored as null"))
        .collect();
    Ok(summary)
}
