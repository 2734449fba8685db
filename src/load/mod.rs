//! Loading: typed frames → Parquet files in a staging folder → objects in the store.
//!
//! Nothing is visible to readers until [`publish`] moves finished files into place; only then are
//! the objects this run replaced deleted.

pub mod layout;
pub mod lock;
pub mod manifest;
pub mod parquet;
pub mod partition;
pub mod publish;
pub mod state;

use polars::prelude::DataFrame;

use self::layout::{DatasetId, Partition, PartitionRange};
use self::parquet::{PartitionedWriter, StagedFile, WriterOptions};
use crate::error::{Error, Result};
use crate::extract::Reject;
use crate::pipeline::Load;
use crate::transform::{convert::schema_of, ColumnPlan};

pub use publish::{publish, stale_keys, PublishReport, Publishing};

/// What a load replaces of the dataset's earlier objects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WriteMode {
    /// The partitions this run writes are replaced whole; the others stay. (For an unpartitioned
    /// load, the whole dataset is one partition.)
    #[default]
    Merge,
    /// Afterwards the dataset holds exactly this run's data: a source exported whole (Domo).
    Replace,
    /// This run's files are added beside the dataset's (new part numbers); nothing is replaced: new
    /// objects of a drop folder (`load-s3`).
    Append,
}

impl WriteMode {
    /// `merge`, `replace` or `append`.
    pub fn name(self) -> &'static str {
        match self {
            WriteMode::Merge => "merge",
            WriteMode::Replace => "replace",
            WriteMode::Append => "append",
        }
    }
}

impl std::str::FromStr for WriteMode {
    type Err = String;

    fn from_str(text: &str) -> std::result::Result<Self, String> {
        match text.trim() {
            "merge" => Ok(WriteMode::Merge),
            "replace" => Ok(WriteMode::Replace),
            "append" => Ok(WriteMode::Append),
            other => Err(format!("`{other}` is not merge, replace or append")),
        }
    }
}

/// A dataset's finished files, in the staging folder, with what a publish needs to know.
#[derive(Debug)]
pub struct StagedDataset {
    pub dataset: DatasetId,
    pub partitioned: bool,
    pub mode: WriteMode,
    pub files: Vec<StagedFile>,
    /// The quarantined bad rows (`_rejects/<run-id>.csv`), if any.
    pub rejects: Option<StagedFile>,
    /// The days the run was limited to, and the rows it left out for being outside them.
    pub range: Option<(PartitionRange, u64)>,
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

/// Staging and download folders older than this belong to runs that were killed outright (a second
/// signal, SIGKILL, a power cut): they are removed when a later run starts.
pub const STALE_STAGING: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

/// Removes `.etl-staging-*` and `.etl-download-*` folders under `parent` not modified for
/// [`STALE_STAGING`]; returns how many.
pub fn sweep_stale_staging(parent: &std::path::Path) -> usize {
    let Ok(entries) = std::fs::read_dir(parent) else { return 0 };
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !(name.starts_with(".etl-staging-") || name.starts_with(".etl-download-")) {
            continue;
        }
        let old = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > STALE_STAGING);
        if old && entry.file_type().is_ok_and(|t| t.is_dir()) && std::fs::remove_dir_all(entry.path()).is_ok()
        {
            tracing::info!("removed {}, left by a run that was killed", entry.path().display());
            removed += 1;
        }
    }
    removed
}

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
        })
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
        self.writer = Some(PartitionedWriter::new(
            self.dataset.clone(),
            self.staging.path(),
            schema_of(plans),
            self.options.clone(),
            self.first_parts.clone(),
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
        })
    }
}
