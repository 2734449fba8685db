//! A run's output as staged: the dataset's finished files in the staging folder, and the write mode
//! that says what publishing them replaces.

use std::collections::BTreeSet;

use super::layout::{DatasetId, Partition, PartitionRange};
use super::parquet::StagedFile;

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
    /// Rows replace the dataset's rows of the same primary key, wherever they are; the partitions
    /// that gain, lose or change rows are rewritten, the others stay (see [`super::upsert`]).
    Upsert,
}

impl WriteMode {
    /// `merge`, `replace` or `append`.
    pub fn name(self) -> &'static str {
        match self {
            WriteMode::Merge => "merge",
            WriteMode::Replace => "replace",
            WriteMode::Append => "append",
            WriteMode::Upsert => "upsert",
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
            "upsert" => Ok(WriteMode::Upsert),
            other => Err(format!("`{other}` is not merge, replace, append or upsert")),
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
    /// An upsert's partitions whose every row went to another day (their files go).
    pub emptied: Vec<Partition>,
    /// What an upsert did to the dataset's rows, once its files are combined.
    pub upserted: Option<crate::summary::Upserted>,
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
        partitions_of(&self.files)
    }
}

/// The partitions among `files` (for the summary).
pub fn partitions_of(files: &[StagedFile]) -> usize {
    files
        .iter()
        .map(|f| f.partition)
        .filter(|p| *p != Partition::Unpartitioned)
        .collect::<BTreeSet<_>>()
        .len()
}
