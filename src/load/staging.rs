//! The standard loader: typed frames → Parquet files, split by partition, in a staging folder
//! (and the quarantined bad rows beside them).

use polars::prelude::DataFrame;

use super::layout::{DatasetId, Partition, PartitionRange};
use super::parquet::{PartitionedWriter, StagedFile, WriterOptions};
use super::partition;
use super::staged::{StagedDataset, WriteMode};
use super::Load;
use crate::batch::Reject;
use crate::error::{Error, Result};
use crate::transform::{types::schema_of, ColumnPlan};

/// Writes a dataset's Parquet files, partitioned by a date column or not, into a staging folder.
pub struct ParquetLoad {
    dataset: DatasetId,
    partition_column: Option<String>,
    /// Only these days are written; the count of rows left out.
    range: Option<(PartitionRange, u64)>,
    mode: WriteMode,
    options: WriterOptions,
    staging: tempfile::TempDir,
    writer: Option<PartitionedWriter>,
    run_id: String,
    /// The quarantine file being written, and its rows.
    rejects: Option<(std::io::BufWriter<std::fs::File>, u64)>,
    /// The first part number of each partition's files (after the dataset's own, when appending).
    first_parts: std::collections::BTreeMap<Partition, u32>,
    /// Rows written so far (an upsert numbers them, in source order).
    rows: u64,
}

impl ParquetLoad {
    /// A loader staging its files in a fresh hidden folder under `staging_parent`; with `range`, only
    /// rows of those days are written (it needs a partition column).
    pub fn new(
        dataset: DatasetId,
        partition_column: Option<String>,
        range: Option<PartitionRange>,
        mode: WriteMode,
        options: WriterOptions,
        staging_parent: &std::path::Path,
        run_id: &str,
    ) -> Result<Self> {
        std::fs::create_dir_all(staging_parent).map_err(|e| Error::io(staging_parent, e))?;
        let staging = tempfile::Builder::new()
            .prefix(".etl-staging-")
            .tempdir_in(staging_parent)
            .map_err(|e| Error::io(staging_parent, e))?;
        super::keep_fresh(staging.path());
        Ok(ParquetLoad {
            dataset,
            partition_column,
            range: range.map(|r| (r, 0)),
            mode,
            options,
            staging,
            writer: None,
            run_id: run_id.to_owned(),
            rejects: None,
            first_parts: Default::default(),
            rows: 0,
        })
    }

    /// Stages rows numbered in source order, into scratch files read again once: rows with a key
    /// (an upsert, or a replace with one) are combined by it before anything is published.
    pub fn keyed(mut self, keyed: bool) -> Self {
        self.options.scratch = keyed;
        self
    }

    /// Numbers new files after the dataset's `existing` data files (for [`WriteMode::Append`]).
    pub fn numbered_after(mut self, existing: &[crate::store::ObjectMeta]) -> Self {
        for (partition, part) in existing.iter().filter_map(|o| self.dataset.part_of_key(&o.key)) {
            let next = self.first_parts.entry(partition).or_insert(0);
            *next = (*next).max(part + 1);
        }
        self
    }

    fn rejects_path(&self) -> std::path::PathBuf {
        self.staging.path().join("rejects.csv")
    }
}

impl Load for ParquetLoad {
    fn expect_columns(&self, columns: &[String]) -> Result<()> {
        let missing = |what: &str, column: &str| {
            Error::Usage(format!(
                "{what} `{column}`: no such column{}; the columns are: {}",
                crate::suggest::did_you_mean(column, columns.iter().map(String::as_str)),
                columns.join(", ")
            ))
        };
        match &self.partition_column {
            Some(column) if !columns.contains(column) => return Err(missing("partition column", column)),
            _ => {}
        }
        match self.options.sort_by.iter().find(|c| !columns.contains(c)) {
            Some(column) => Err(missing("--sort-by column", column)),
            None => Ok(()),
        }
    }

    fn begin(&mut self, plans: &[ColumnPlan]) -> Result<()> {
        if let Some(column) = &self.partition_column {
            partition::check_partition_column(plans, column)?;
        }
        let (writer, rejects) = (self.writer.take(), self.rejects.take());
        if writer.is_some() || rejects.is_some() {
            drop((writer, rejects));
            if let Some((_, outside)) = &mut self.range {
                *outside = 0;
            }
            // Starting over: nothing staged so far is kept.
            let dir = self.staging.path();
            for entry in std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?.flatten() {
                std::fs::remove_file(entry.path()).map_err(|e| Error::io(entry.path(), e))?;
            }
        }
        let mut schema = schema_of(plans);
        if self.options.scratch {
            // Each row's place in the source, for the upsert to tell which of a key's rows is last.
            schema
                .insert_at_index(
                    schema.len(),
                    super::upsert::ROW_COLUMN.into(),
                    polars::prelude::DataType::UInt64,
                )
                .map_err(|e| Error::Internal(e.to_string()))?;
        }
        self.rows = 0;
        self.writer = Some(PartitionedWriter::new(
            self.dataset.clone(),
            self.staging.path(),
            schema,
            self.options.clone(),
            self.first_parts.clone(),
        ));
        Ok(())
    }

    fn kept(&self, df: &DataFrame) -> Result<Option<Vec<bool>>> {
        let (Some((range, _)), Some(column)) = (&self.range, &self.partition_column) else { return Ok(None) };
        let keys = partition::partition_of_rows(df, column)?;
        let kept: Vec<bool> = keys.iter().map(|p| range.contains(p)).collect();
        Ok((!kept.iter().all(|k| *k)).then_some(kept))
    }

    fn write(&mut self, mut df: DataFrame) -> Result<()> {
        if self.options.scratch {
            let numbers: Vec<u64> = (self.rows..self.rows + df.height() as u64).collect();
            self.rows += df.height() as u64;
            df.with_column(polars::prelude::Column::new(super::upsert::ROW_COLUMN.into(), numbers))
                .map_err(|e| Error::Internal(e.to_string()))?;
        }
        let writer = self.writer.as_mut().expect("begin() comes before write()");
        match &self.partition_column {
            None => writer.write(Partition::Unpartitioned, df),
            Some(column) => {
                let keys = partition::partition_of_rows(&df, column)?;
                for (partition, part) in partition::split_by_partition(df, &keys)? {
                    match &mut self.range {
                        Some((range, outside)) if !range.contains(&partition) => {
                            *outside += part.height() as u64
                        }
                        _ => writer.write(partition, part)?,
                    }
                }
                Ok(())
            }
        }
    }

    fn reject(&mut self, header: Option<&[u8]>, rejects: &[Reject]) -> Result<()> {
        use std::io::Write;
        let path = self.rejects_path();
        for reject in rejects.iter().filter(|r| !r.raw.is_empty()) {
            if self.rejects.is_none() {
                // Opened at the first text to keep: `skip` writes nothing.
                let file = std::fs::File::create(&path).map_err(|e| Error::io(&path, e))?;
                let mut out = std::io::BufWriter::new(file);
                // The source's own header line, so that the file loads like the source once mended.
                if let Some(header) = header {
                    out.write_all(header)
                        .and_then(|()| out.write_all(b"\n"))
                        .map_err(|e| Error::io(&path, e))?;
                }
                self.rejects = Some((out, 0));
            }
            let (out, count) = self.rejects.as_mut().expect("opened above");
            out.write_all(&reject.raw)
                .and_then(|()| out.write_all(b"\n"))
                .map_err(|e| Error::io(&path, e))?;
            *count += 1;
        }
        Ok(())
    }

    fn finish(&mut self) -> Result<StagedDataset> {
        use std::io::Write;
        let writer = self.writer.take().expect("begin() comes before finish()");
        let partitioned = self.partition_column.is_some();
        let rejects = match self.rejects.take() {
            Some((mut out, rows)) if rows > 0 => {
                let path = self.rejects_path();
                out.flush().map_err(|e| Error::io(&path, e))?;
                let key = self.dataset.rejects_key(&self.run_id);
                Some(StagedFile::finished(key, path, Partition::Unpartitioned, rows)?)
            }
            _ => None,
        };
        Ok(StagedDataset {
            dataset: self.dataset.clone(),
            partitioned,
            mode: self.mode,
            files: writer.finish(partitioned)?,
            rejects,
            range: self.range,
            emptied: Vec::new(),
            upserted: None,
        })
    }
}
