//! Writing partitioned Parquet files into a local staging folder.
//!
//! Memory is bounded by row groups, not partitions: each partition buffers rows until it has a full
//! row group, and when all buffers together pass a byte budget the largest one is written out early.
//! The flushing depends only on the data, so the same input always gives the same bytes.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use polars::prelude::*;

use super::layout::{DatasetId, Partition};
use crate::error::{Error, Result};

/// Tuning of the Parquet writer.
#[derive(Debug, Clone)]
pub struct WriterOptions {
    /// Rows per row group.
    pub row_group_rows: usize,
    /// Start a new part file after this many rows (`None`: one file per partition).
    pub max_rows_per_file: Option<u64>,
    /// Bytes all partitions may buffer before the largest buffer is written out.
    pub buffer_bytes: usize,
}

impl Default for WriterOptions {
    fn default() -> Self {
        WriterOptions { row_group_rows: 122_880, max_rows_per_file: None, buffer_bytes: 256 << 20 }
    }
}

/// A finished file in the staging folder, with the key it will have in the store.
#[derive(Debug, Clone)]
pub struct StagedFile {
    pub key: String,
    pub path: PathBuf,
    pub partition: Partition,
    pub rows: u64,
    pub bytes: u64,
    /// Hex SHA-256 of the file's bytes (for the manifest).
    pub sha256: String,
}

impl StagedFile {
    /// Describes the finished file at `path`, reading it once for its checksum.
    pub fn finished(key: String, path: PathBuf, partition: Partition, rows: u64) -> Result<Self> {
        let (bytes, sha256) = super::manifest::sha256_of_file(&path).map_err(|e| Error::io(&path, e))?;
        Ok(StagedFile { key, path, partition, rows, bytes, sha256 })
    }
}

type FileSink = polars::io::parquet::write::BatchedWriter<AppendFile>;

#[derive(Default)]
struct PartitionState {
    next_part: u32,
    open: Option<(FileSink, PathBuf, u64)>,
    buffer: Vec<DataFrame>,
    buffered_rows: usize,
    buffered_bytes: usize,
}

/// Writes frames into one or more part files per partition.
pub struct PartitionedWriter {
    dataset: DatasetId,
    staging: PathBuf,
    schema: Schema,
    options: WriterOptions,
    partitions: BTreeMap<Partition, PartitionState>,
    buffered_bytes: usize,
    files: Vec<StagedFile>,
    files_started: u64,
}

impl PartitionedWriter {
    /// A writer that stages files under `staging`.
    pub fn new(dataset: DatasetId, staging: &Path, schema: Schema, options: WriterOptions) -> Self {
        PartitionedWriter {
            dataset,
            staging: staging.to_owned(),
            schema,
            options,
            partitions: BTreeMap::new(),
            buffered_bytes: 0,
            files: Vec::new(),
            files_started: 0,
        }
    }

    /// Adds rows to `partition`.
    pub fn write(&mut self, partition: Partition, df: DataFrame) -> Result<()> {
        if df.height() == 0 {
            return Ok(());
        }
        let size = df.estimated_size();
        let state = self.partitions.entry(partition).or_default();
        state.buffered_rows += df.height();
        state.buffered_bytes += size;
        state.buffer.push(df);
        self.buffered_bytes += size;
        if state.buffered_rows >= self.options.row_group_rows {
            self.flush(partition, false)?;
        }
        while self.buffered_bytes > self.options.buffer_bytes {
            let largest = self
                .partitions
                .iter()
                .filter(|(_, s)| s.buffered_rows > 0)
                .max_by_key(|(p, s)| (s.buffered_bytes, std::cmp::Reverse(**p)))
                .map(|(p, _)| *p);
            match largest {
                Some(p) => self.flush(p, true)?,
                None => break,
            }
        }
        Ok(())
    }

    /// Writes the buffered rows of `partition`: whole row groups only, unless `all`.
    fn flush(&mut self, partition: Partition, all: bool) -> Result<()> {
        let rg = self.options.row_group_rows;
        let state = self.partitions.get_mut(&partition).expect("flushed partition exists");
        let mut df = match state.buffer.len() {
            0 => return Ok(()),
            _ => {
                let mut parts = std::mem::take(&mut state.buffer).into_iter();
                let mut df = parts.next().expect("non-empty buffer");
                for more in parts {
                    df.vstack_mut_owned(more)?;
                }
                df
            }
        };
        self.buffered_bytes -= state.buffered_bytes;
        let writable = if all { df.height() } else { df.height() / rg * rg };
        let rest = df.slice(writable as i64, df.height() - writable);
        df = df.slice(0, writable);
        state.buffered_rows = rest.height();
        state.buffered_bytes = if rest.height() > 0 { rest.estimated_size() } else { 0 };
        self.buffered_bytes += state.buffered_bytes;
        if rest.height() > 0 {
            state.buffer.push(rest);
        }

        let mut offset = 0usize;
        while offset < df.height() {
            let state = self.partitions.get_mut(&partition).expect("partition exists");
            if state.open.is_none() {
                let path = self.staging.join(format!("{:06}.parquet", self.files_started));
                self.files_started += 1;
                let sink = ParquetWriter::new(AppendFile::new(path.clone()))
                    .with_compression(ParquetCompression::Zstd(None))
                    .set_parallel(true)
                    .batched(&self.schema)?;
                state.open = Some((sink, path, 0));
            }
            let (sink, _, file_rows) = state.open.as_mut().expect("opened above");
            let room = self.options.max_rows_per_file.map_or(usize::MAX, |max| (max - *file_rows) as usize);
            let take = rg.min(room).min(df.height() - offset);
            let mut group = df.slice(offset as i64, take);
            group.rechunk_mut();
            sink.write_batch(&group)?;
            *file_rows += take as u64;
            offset += take;
            if self.options.max_rows_per_file == Some(*file_rows) {
                self.close(partition)?;
            }
        }
        Ok(())
    }

    /// Finishes the open file of `partition`, if any.
    fn close(&mut self, partition: Partition) -> Result<()> {
        let state = self.partitions.get_mut(&partition).expect("partition exists");
        if let Some((sink, path, rows)) = state.open.take() {
            sink.finish()?;
            let key = self.dataset.file_key(&partition, state.next_part);
            state.next_part += 1;
            self.files.push(StagedFile::finished(key, path, partition, rows)?);
        }
        Ok(())
    }

    /// Writes everything still buffered and closes every file. An unpartitioned dataset with no rows
    /// still gets one (empty) file, so readers see its schema.
    pub fn finish(mut self, partitioned: bool) -> Result<Vec<StagedFile>> {
        let keys: Vec<Partition> = self.partitions.keys().copied().collect();
        for p in keys {
            self.flush(p, true)?;
            self.close(p)?;
        }
        if !partitioned && self.files.is_empty() {
            let empty = DataFrame::empty_with_schema(&self.schema);
            let path = self.staging.join("empty.parquet");
            let mut sink = ParquetWriter::new(AppendFile::new(path.clone()))
                .with_compression(ParquetCompression::Zstd(None))
                .batched(&self.schema)?;
            sink.write_batch(&empty)?;
            sink.finish()?;
            let key = self.dataset.file_key(&Partition::Unpartitioned, 0);
            self.files.push(StagedFile::finished(key, path, Partition::Unpartitioned, 0)?);
        }
        self.files.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(self.files)
    }
}

/// A file written through a small buffer and reopened for each flush, so that thousands of partitions
/// never hold thousands of open file descriptors.
pub struct AppendFile {
    path: PathBuf,
    buf: Vec<u8>,
}

const APPEND_BUFFER: usize = 64 << 10;

impl AppendFile {
    fn new(path: PathBuf) -> Self {
        AppendFile { path, buf: Vec::new() }
    }

    fn append(&self, data: &[u8]) -> std::io::Result<()> {
        let mut file = std::fs::OpenOptions::new().create(true).append(true).open(&self.path)?;
        file.write_all(data)
    }
}

impl Write for AppendFile {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        if self.buf.len() + data.len() > APPEND_BUFFER {
            self.flush()?;
        }
        if data.len() >= APPEND_BUFFER {
            self.append(data)?;
        } else {
            self.buf.extend_from_slice(data);
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if !self.buf.is_empty() {
            self.append(&self.buf)?;
            self.buf.clear();
        }
        Ok(())
    }
}
