//! Loading: typed frames → Parquet files in a staging folder → objects in the store.
//!
//! Nothing is visible to readers until [`publish`] moves finished files into place; only then are
//! the objects this run replaced deleted.

pub mod layout;
pub mod parquet;
pub mod partition;
pub mod publish;

use polars::prelude::DataFrame;

use self::layout::{DatasetId, Partition};
use self::parquet::{PartitionedWriter, StagedFile, WriterOptions};
use crate::error::{Error, Result};
use crate::pipeline::Load;
use crate::transform::{convert::schema_of, ColumnPlan};

pub use publish::{publish, stale_keys, PublishReport};

/// What a load replaces of the dataset's earlier objects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WriteMode {
    /// The partitions this run writes are replaced whole; the others stay. (For an unpartitioned
    /// load, the whole dataset is one partition.)
    #[default]
    Merge,
    /// Afterwards the dataset holds exactly this run's data: a source exported whole (Domo).
    Replace,
}

/// A dataset's finished files, in the staging folder, with what a publish needs to know.
#[derive(Debug)]
pub struct StagedDataset {
    pub dataset: DatasetId,
    pub partitioned: bool,
    pub mode: WriteMode,
    pub files: Vec<StagedFile>,
}

impl StagedDataset {
    /// Rows in all files.
    pub fn rows(&self) -> u64 {
        self.files.iter().map(|f| f.rows).sum()
    }

    /// Bytes in all files.
    pub fn bytes(&self) -> u64 {
        self.files.iter().map(|f| f.bytes).sum()
    }

    /// Number of distinct partitions written (0 when unpartitioned).
    pub fn partitions(&self) -> usize {
        publish::partitions_of(&self.files)
    }
}

/// Writes a dataset's Parquet files, partitioned by a date column or not, into a staging folder.
pub struct ParquetLoad {
    dataset: DatasetId,
    partition_column: Option<String>,
    mode: WriteMode,
    options: WriterOptions,
    staging: tempfile::TempDir,
    writer: Option<PartitionedWriter>,
}

impl ParquetLoad {
    /// A loader staging its files in a fresh hidden folder under `staging_parent`.
    pub fn new(
        dataset: DatasetId,
        partition_column: Option<String>,
        mode: WriteMode,
        options: WriterOptions,
        staging_parent: &std::path::Path,
    ) -> Result<Self> {
        std::fs::create_dir_all(staging_parent).map_err(|e| Error::io(staging_parent, e))?;
        let staging = tempfile::Builder::new()
            .prefix(".etl-staging-")
            .tempdir_in(staging_parent)
            .map_err(|e| Error::io(staging_parent, e))?;
        Ok(ParquetLoad { dataset, partition_column, mode, options, staging, writer: None })
    }
}

impl Load for ParquetLoad {
    fn begin(&mut self, plans: &[ColumnPlan]) -> Result<()> {
        if let Some(column) = &self.partition_column {
            partition::check_partition_column(plans, column)?;
        }
        self.writer = Some(PartitionedWriter::new(
            self.dataset.clone(),
            self.staging.path(),
            schema_of(plans),
            self.options.clone(),
        ));
        Ok(())
    }

    fn write(&mut self, df: DataFrame) -> Result<()> {
        let writer = self.writer.as_mut().expect("begin() comes before write()");
        match &self.partition_column {
            None => writer.write(Partition::Unpartitioned, df),
            Some(column) => {
                let keys = partition::partition_of_rows(&df, column)?;
                for (partition, part) in partition::split_by_partition(df, &keys)? {
                    writer.write(partition, part)?;
                }
                Ok(())
            }
        }
    }

    fn finish(&mut self) -> Result<StagedDataset> {
        let writer = self.writer.take().expect("begin() comes before finish()");
        let partitioned = self.partition_column.is_some();
        Ok(StagedDataset {
            dataset: self.dataset.clone(),
            partitioned,
            mode: self.mode,
            files: writer.finish(partitioned)?,
        })
    }
}
