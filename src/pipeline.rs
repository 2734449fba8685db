//! The Extract → Transform → Load run that every command drives.
//!
//! ```text
//! Extract::open ──TextBatch──▶ Transform::apply ──DataFrame──▶ Load::write ─▶ Load::finish ─▶ publish
//!      ▲ (pass 1: Transform::prepare reads the source once to settle the column types)
//! ```
//! Sources that need no inference (every column pinned) are read once.

use std::sync::Arc;
use std::time::Instant;

use polars::prelude::DataFrame;

use crate::error::{Error, Result};
pub use crate::extract::Extract;
use crate::extract::{BatchReader, SourceInfo, TextBatch};
use crate::load::layout::DatasetId;
use crate::load::parquet::StagedFile;
use crate::load::publish::{partitions_of, publish};
use crate::store::ObjectStore;
use crate::summary::Progress;
use crate::transform::convert::{convert_batch, ColumnPlan};
use crate::transform::infer::infer_plans;
use crate::transform::Pins;

/// Rows per text batch.
pub const BATCH_ROWS: usize = 65_536;

/// Turns text batches into typed frames.
pub trait Transform: Send {
    /// Settles the output columns, reading the source once if it must.
    fn prepare(&mut self, source: &dyn Extract, progress: &Progress) -> Result<Vec<ColumnPlan>>;
    /// Types one batch.
    fn apply(&mut self, batch: &TextBatch) -> Result<DataFrame>;
    /// Per column, the non-empty values deliberately made null (e.g. `Included` in a cost column).
    fn coerced_nulls(&self) -> Vec<(String, u64)>;
}

/// Receives typed frames and stages output files.
pub trait Load: Send {
    /// Called once with the final columns, before any row.
    fn begin(&mut self, plans: &[ColumnPlan]) -> Result<()>;
    /// Takes a batch of typed rows.
    fn write(&mut self, df: DataFrame) -> Result<()>;
    /// Closes every file; returns them, ready to publish.
    fn finish(&mut self) -> Result<Vec<StagedFile>>;
}

/// The standard transform: pinned columns as pinned, every other column inferred from all of its
/// values.
pub struct TypeColumns {
    pins: Pins,
    plans: Vec<ColumnPlan>,
    coerced: Vec<u64>,
    source: String,
}

impl TypeColumns {
    /// A transform with the given pinned columns.
    pub fn new(pins: Pins) -> Self {
        TypeColumns { pins, plans: Vec::new(), coerced: Vec::new(), source: String::new() }
    }
}

impl Transform for TypeColumns {
    fn prepare(&mut self, source: &dyn Extract, progress: &Progress) -> Result<Vec<ColumnPlan>> {
        self.source = source.info().location;
        let mut reader = source.open()?;
        let columns = reader.columns().to_vec();
        let all_pinned = columns.iter().all(|c| self.pins.get(c).is_some());
        self.plans = if all_pinned {
            columns
                .into_iter()
                .map(|name| ColumnPlan { parser: self.pins.get(&name).expect("pinned"), name })
                .collect()
        } else {
            infer_plans(reader.as_mut(), &self.pins, BATCH_ROWS, |bytes| {
                progress.update("reading types", bytes)
            })?
        };
        self.coerced = vec![0; self.plans.len()];
        Ok(self.plans.clone())
    }

    fn apply(&mut self, batch: &TextBatch) -> Result<DataFrame> {
        let (df, nulls) = convert_batch(&self.plans, batch).map_err(|bad| bad.into_error(&self.source))?;
        for (total, n) in self.coerced.iter_mut().zip(nulls) {
            *total += n;
        }
        Ok(df)
    }

    fn coerced_nulls(&self) -> Vec<(String, u64)> {
        self.plans
            .iter()
            .zip(&self.coerced)
            .filter(|(_, n)| **n > 0)
            .map(|(p, n)| (p.name.clone(), *n))
            .collect()
    }
}

/// What a run did, for the summary line.
#[derive(Debug, Clone)]
pub struct RunReport {
    pub source: SourceInfo,
    pub dataset: DatasetId,
    pub target: String,
    pub schema: Vec<ColumnPlan>,
    pub rows_read: u64,
    pub rows_written: u64,
    pub partitions: usize,
    pub files: usize,
    pub bytes: u64,
    pub replaced: usize,
    pub coerced_nulls: Vec<(String, u64)>,
    pub seconds: f64,
}

/// Runs extract → transform → load for one dataset and publishes the result into `store`.
pub async fn run(
    source: Arc<dyn Extract>,
    mut transform: Box<dyn Transform>,
    mut load: Box<dyn Load>,
    dataset: DatasetId,
    partitioned: bool,
    store: Arc<dyn ObjectStore>,
    progress: Progress,
) -> Result<RunReport> {
    let started = Instant::now();
    let info = source.info();
    // The CPU-bound part runs off the async runtime.
    let staged = tokio::task::spawn_blocking(move || -> Result<_> {
        let plans = transform.prepare(source.as_ref(), &progress)?;
        let schema: Vec<String> =
            plans.iter().map(|p| format!("{}: {}", p.name, p.parser.column_type())).collect();
        tracing::info!("schema: {}", schema.join(", "));
        load.begin(&plans)?;
        let mut reader: Box<dyn BatchReader> = source.open()?;
        let mut batch = TextBatch::new(plans.len());
        let mut rows = 0u64;
        while reader.next_batch(&mut batch, BATCH_ROWS)? {
            rows += batch.len() as u64;
            load.write(transform.apply(&batch)?)?;
            progress.update("writing", reader.bytes_read());
        }
        let files = load.finish()?;
        progress.clear();
        Ok((plans, rows, files, transform.coerced_nulls(), load))
    })
    .await
    .map_err(|e| Error::Internal(format!("the load task failed: {e}")))?;
    // `_load` owns the staging folder: it must outlive the publish.
    let (schema, rows_read, files, coerced_nulls, _load) = staged?;
    let rows_written = files.iter().map(|f| f.rows).sum();
    let published = publish(store.as_ref(), &dataset, &files, partitioned).await?;
    Ok(RunReport {
        source: info,
        target: store.url_of(&dataset.prefix()),
        dataset,
        schema,
        rows_read,
        rows_written,
        partitions: partitions_of(&files),
        files: published.files,
        bytes: published.bytes,
        replaced: published.deleted,
        coerced_nulls,
        seconds: started.elapsed().as_secs_f64(),
    })
}
