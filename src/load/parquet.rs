//! Writing partitioned Parquet files into a local staging folder.
//!
//! Memory is bounded by row groups, not partitions: each partition buffers rows until it has a full
//! row group, and when all buffers together pass a byte budget the largest one is written out early.
//! The flushing depends only on the data, so the same input always gives the same bytes.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use polars::prelude::*;

use super::encode::Columns;
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
    /// Files only this run reads again (an upsert's staged rows): not compressed.
    pub scratch: bool,
    /// Rows are written sorted by these columns within each file (`--sort-by`), ties in the order
    /// they came: readers' statistics then skip the row groups a filter on them cannot match.
    pub sort_by: Vec<String>,
    /// Row groups are cut at about this much data as well as at [`WriterOptions::row_group_rows`]
    /// (`--row-group-size`).
    pub row_group_bytes: Option<u64>,
}

impl Default for WriterOptions {
    fn default() -> Self {
        WriterOptions {
            row_group_rows: 122_880,
            max_rows_per_file: None,
            buffer_bytes: 64 << 20,
            scratch: false,
            sort_by: Vec::new(),
            row_group_bytes: None,
        }
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
        let (bytes, sha256) = crate::store::sha256_of_file(&path).map_err(|e| Error::io(&path, e))?;
        Ok(StagedFile { key, path, partition, rows, bytes, sha256 })
    }
}

/// The size and SHA-256 of what went through an [`AppendFile`], shared with whoever finishes it.
type Digest = std::sync::Arc<std::sync::Mutex<(u64, sha2::Sha256)>>;

/// A Parquet file being written: polars' writer of the file (its layout, footer and metadata), and
/// our choice of each column's encoding ([`Columns`]).
struct FileSink {
    file: polars::io::parquet::write::BatchedWriter<AppendFile>,
    columns: Columns,
}

impl FileSink {
    /// Writes `rows` as row groups of at most `group_bytes` of data each (and at most the writer's
    /// usual rows), all of a size, so that the same rows always give the same groups.
    fn write_groups(&mut self, rows: &DataFrame, group_bytes: Option<u64>) -> Result<()> {
        let most = WriterOptions::default().row_group_rows;
        let step = match group_bytes {
            Some(bytes) if rows.height() > 0 => {
                let per_row = data_bytes(rows).div_ceil(rows.height()).max(1) as u64;
                (bytes / per_row).clamp(1, most as u64) as usize
            }
            _ => most,
        };
        let mut offset = 0;
        while offset < rows.height() {
            self.write_batch(&rows.slice(offset as i64, step))?;
            offset += step;
        }
        Ok(())
    }

    /// Writes `group` as one row group (none when it has no rows).
    fn write_batch(&mut self, group: &DataFrame) -> Result<()> {
        if group.height() == 0 {
            return Ok(());
        }
        let pages = self.columns.encode(group)?;
        self.file.write_row_group(group.height() as u64, &pages).map_err(Error::Parquet)
    }

    fn finish(self) -> Result<()> {
        self.file.finish().map_err(Error::Parquet)?;
        Ok(())
    }
}

#[derive(Default)]
struct PartitionState {
    next_part: u32,
    /// The file being written: its number and rows so far.
    open: Option<(u64, u64)>,
    buffer: Vec<DataFrame>,
    buffered_rows: usize,
    buffered_bytes: usize,
}

/// Writes frames into one or more part files per partition. Deciding what goes where happens on the
/// caller's thread; encoding and compressing happen on an [`Encoder`] thread, so that the two
/// overlap.
pub struct PartitionedWriter {
    dataset: DatasetId,
    staging: PathBuf,
    schema: Schema,
    options: WriterOptions,
    partitions: BTreeMap<Partition, PartitionState>,
    buffered_bytes: usize,
    files_started: u64,
    /// File `n` is encoded by `encoders[n % len]`, so each file's row groups keep their order.
    encoders: Vec<Encoder>,
    /// The first part number of each partition (0 unless appending to a dataset).
    first_parts: BTreeMap<Partition, u32>,
}

/// Encoder threads: two keep both cores busy when the last row groups are written at the end.
const ENCODERS: usize = 2;

impl PartitionedWriter {
    /// A writer that stages files under `staging`.
    pub fn new(
        dataset: DatasetId,
        staging: &Path,
        schema: Schema,
        options: WriterOptions,
        first_parts: BTreeMap<Partition, u32>,
    ) -> Self {
        // An upsert's scratch files are read back whole by this run alone: as they come.
        let shape = match options.scratch {
            true => Shape { sort_by: Vec::new(), group_bytes: None },
            false => Shape { sort_by: options.sort_by.clone(), group_bytes: options.row_group_bytes },
        };
        let encoders =
            (0..ENCODERS).map(|_| Encoder::start(schema.clone(), options.scratch, shape.clone())).collect();
        PartitionedWriter {
            dataset,
            staging: staging.to_owned(),
            schema,
            options,
            partitions: BTreeMap::new(),
            buffered_bytes: 0,
            files_started: 0,
            encoders,
            first_parts,
        }
    }

    /// Adds rows to `partition`.
    pub fn write(&mut self, partition: Partition, df: DataFrame) -> Result<()> {
        if df.height() == 0 {
            return Ok(());
        }
        let size = df.estimated_size();
        let first_part = self.first_parts.get(&partition).copied().unwrap_or(0);
        let state = self
            .partitions
            .entry(partition)
            .or_insert_with(|| PartitionState { next_part: first_part, ..Default::default() });
        state.buffered_rows += df.height();
        state.buffered_bytes += size;
        state.buffer.push(df);
        self.buffered_bytes += size;
        if state.buffered_rows >= self.options.row_group_rows {
            self.flush(partition, false)?;
        }
        while self.buffered_bytes > self.options.buffer_bytes {
            // The largest buffer other than the one just added to: in a file sorted by the partition
            // column that is a finished partition, written whole as one row group, so its bytes do
            // not depend on where the file starts (unchanged partitions are then left in place).
            let largest = self
                .partitions
                .iter()
                .filter(|(_, s)| s.buffered_rows > 0)
                .max_by_key(|(p, s)| (**p != partition, s.buffered_bytes, std::cmp::Reverse(**p)))
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
            let (file, file_rows) = match state.open {
                Some(open) => open,
                None => {
                    let file = self.files_started;
                    self.files_started += 1;
                    let path = self.staging.join(format!("{file:06}.parquet"));
                    let key = self.dataset.file_key(&partition, state.next_part);
                    state.next_part += 1;
                    send(&mut self.encoders, file, Job::Open { file, path, key, partition })?;
                    (file, 0)
                }
            };
            let room = self.options.max_rows_per_file.map_or(usize::MAX, |max| (max - file_rows) as usize);
            let take = rg.min(room).min(df.height() - offset);
            let mut group = df.slice(offset as i64, take);
            group.rechunk_mut();
            send(&mut self.encoders, file, Job::Write { file, group })?;
            let file_rows = file_rows + take as u64;
            state.open = Some((file, file_rows));
            offset += take;
            if self.options.max_rows_per_file == Some(file_rows) {
                self.close(partition)?;
            }
        }
        Ok(())
    }

    /// Finishes the open file of `partition`, if any.
    fn close(&mut self, partition: Partition) -> Result<()> {
        let state = self.partitions.get_mut(&partition).expect("partition exists");
        if let Some((file, rows)) = state.open.take() {
            send(&mut self.encoders, file, Job::Close { file, rows })?;
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
        let mut files = Vec::new();
        for encoder in &mut self.encoders {
            files.append(&mut encoder.finish()?);
        }
        if !partitioned && files.is_empty() {
            let empty = DataFrame::empty_with_schema(&self.schema);
            let path = self.staging.join("empty.parquet");
            let (mut sink, _) = sink_at(&path, &self.schema, self.options.scratch, None)?;
            sink.write_batch(&empty)?;
            sink.finish()?;
            let part = self.first_parts.get(&Partition::Unpartitioned).copied().unwrap_or(0);
            let key = self.dataset.file_key(&Partition::Unpartitioned, part);
            files.push(StagedFile::finished(key, path, Partition::Unpartitioned, 0)?);
        }
        files.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(files)
    }
}

/// zstd's level 1: on the 10 M-row usage file, 6 % less wall time than level 3 (the default) for
/// 1 % more bytes (214 MB against 212; DuckDB's own output: 201 MB).
fn zstd_level() -> Option<polars_parquet::write::ZstdLevel> {
    polars_parquet::write::ZstdLevel::try_new(ZSTD_LEVEL).ok()
}

const ZSTD_LEVEL: i32 = 1;

/// Tables wider than this are compressed with Snappy rather than zstd.
const WIDE_TABLE: usize = 10_000;

/// A Parquet writer into a new file at `path`, and the digest of the bytes it writes.
fn sink_at(
    path: &Path,
    schema: &Schema,
    scratch: bool,
    page_rows: Option<usize>,
) -> Result<(FileSink, Digest)> {
    let file = AppendFile::new(path.to_owned(), !scratch);
    let digest = file.digest.clone();
    // zstd sets up a compression context per column chunk: past some thousands of columns that set-up
    // is most of the run (100,000 columns: 58 % of it, and 0.9 GB). Snappy needs none.
    let compression = if scratch {
        ParquetCompression::Uncompressed
    } else if schema.len() > WIDE_TABLE {
        ParquetCompression::Snappy
    } else {
        ParquetCompression::Zstd(zstd_level())
    };
    let mut file = ParquetWriter::new(file)
        .with_compression(compression)
        .with_key_value_metadata(Some(arrow_schema_metadata(schema)))
        .batched(schema)?;
    let types = file.parquet_schema().fields().to_vec();
    let columns = Columns::new(schema, types, compression.into(), page_rows);
    Ok((FileSink { file, columns }, digest))
}

/// The Arrow schema a file carries (`ARROW:schema`), at the oldest compatibility level: text as
/// `large_string`, not the string *views* polars writes by default, which Daft, pyarrow before 15
/// and other Arrow readers cannot open (`Unsupported Arrow DataType: Utf8View`). The Parquet columns
/// are the same either way (UTF-8 byte arrays); only the type a reader makes of them differs.
fn arrow_schema_metadata(schema: &Schema) -> polars::io::parquet::write::KeyValueMetadata {
    let arrow = schema.to_arrow(CompatLevel::oldest());
    polars::io::parquet::write::KeyValueMetadata::Static(vec![polars_parquet::write::schema_to_metadata_key(
        &arrow,
    )])
}

/// `df` sorted by `columns` (nulls last), rows that tie in the order they came; as it is without any.
fn sorted(df: DataFrame, columns: &[String]) -> Result<DataFrame> {
    if columns.is_empty() || df.height() < 2 {
        return Ok(df);
    }
    if let [column] = columns {
        if let Some(order) = text_order(&df, column) {
            return df.take(&order).map_err(Error::Parquet);
        }
    }
    let options = SortMultipleOptions::default().with_maintain_order(true).with_nulls_last(true);
    df.sort(columns.to_vec(), options).map_err(Error::Parquet)
}

/// Distinct values past which [`text_order`] leaves a column to polars' sort.
const FEW_VALUES: usize = 1 << 16;

/// The order of `df`'s rows sorted by the text column `column`, as polars' stable sort gives it
/// (bytes in order, nulls last, ties as they came), by counting: each value's rank among the
/// column's distinct values, then each row placed by its rank. A dashboard's sort column (a user, a
/// customer, a region) has few values, and this is several times faster than comparing strings.
/// `None` for a column that is not text or has more than [`FEW_VALUES`] values.
fn text_order(df: &DataFrame, column: &str) -> Option<IdxCa> {
    let text = df.column(column).ok()?.as_materialized_series().str().ok()?.clone();
    let mut index: PlHashMap<&str, u32> = PlHashMap::with_capacity(1024);
    let mut keys: Vec<u32> = Vec::with_capacity(text.len());
    for value in text.iter() {
        let key = match value {
            None => u32::MAX,
            Some(value) => {
                let next = index.len() as u32;
                let key = *index.entry(value).or_insert(next);
                if index.len() > FEW_VALUES {
                    return None;
                }
                key
            }
        };
        keys.push(key);
    }
    let mut values: Vec<(&str, u32)> = index.into_iter().collect();
    values.sort_unstable();
    // Bucket of each key: its value's rank; nulls in the last bucket.
    let nulls = values.len();
    let mut bucket = vec![0usize; values.len()];
    for (rank, (_, key)) in values.iter().enumerate() {
        bucket[*key as usize] = rank;
    }
    let bucket_of = |key: u32| if key == u32::MAX { nulls } else { bucket[key as usize] };
    let mut starts = vec![0usize; nulls + 1];
    for &key in &keys {
        starts[bucket_of(key)] += 1;
    }
    let mut next = 0;
    for start in starts.iter_mut() {
        (*start, next) = (next, next + *start);
    }
    let mut order: Vec<IdxSize> = vec![0; keys.len()];
    for (row, &key) in keys.iter().enumerate() {
        let b = bucket_of(key);
        order[starts[b]] = row as IdxSize;
        starts[b] += 1;
    }
    Some(IdxCa::from_vec(PlSmallStr::EMPTY, order))
}

/// Rewrites the staged file at `path`, whose row groups were each sorted, as one sorted whole (the
/// row groups hold the file's rows in the order they came, so a stable sort of them all is the
/// sort of the rows as they came). Holds the file's rows in memory while it does: a sorted dataset
/// keeps its files to a size that fits (`--max-rows-per-file`, partitions). Returns the new bytes'
/// digest.
fn rewrite_sorted(path: &Path, schema: &Schema, shape: &Shape) -> Result<Digest> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let rows = ParquetReader::new(file).finish().map_err(Error::Parquet)?;
    let rows = sorted(rows, &shape.sort_by)?;
    let again = path.with_extension("sorting");
    let (mut sink, digest) = sink_at(&again, schema, false, shape.page_rows())?;
    sink.write_groups(&rows, shape.group_bytes)?;
    sink.finish()?;
    std::fs::rename(&again, path).map_err(|e| Error::io(path, e))?;
    Ok(digest)
}

/// The bytes `rows` hold as data: fixed-width values at their width, text and binary values at their
/// length and four bytes more (as Parquet's plain encoding), not the buffers a slice shares with
/// rows it does not hold.
fn data_bytes(rows: &DataFrame) -> usize {
    let column = |c: &Column| {
        let series = c.as_materialized_series();
        match series.dtype() {
            DataType::String => {
                series.str().map_or(0, |s| s.downcast_iter().map(|a| a.total_bytes_len()).sum())
            }
            DataType::Binary => {
                series.binary().map_or(0, |s| s.downcast_iter().map(|a| a.total_bytes_len()).sum())
            }
            _ => return series.estimated_size(),
        }
        .saturating_add(4 * series.len())
    };
    rows.columns().iter().map(column).sum()
}

/// How an encoder lays out the rows of its files: sorted by these columns, in row groups of at
/// most this much data.
#[derive(Debug, Clone)]
struct Shape {
    sort_by: Vec<String>,
    group_bytes: Option<u64>,
}

/// Rows in a data page of a sorted file's columns that are not dictionaries. With the page index
/// (written for every file), a filter on the sort column lets DuckDB and polars skip the pages of
/// the other columns that hold none of its rows: one user of 400 in the usage file is read in
/// 0.51 x the time DuckDB's own files take, against 0.83 x in pages of a whole row group; pages of
/// 1,024 or 4,096 rows measured the same within noise, and queries that read every row no slower.
const SORTED_PAGE_ROWS: usize = 2048;

impl Shape {
    /// The rows of a data page: [`SORTED_PAGE_ROWS`] in sorted files, else one page a row group.
    fn page_rows(&self) -> Option<usize> {
        (!self.sort_by.is_empty()).then_some(SORTED_PAGE_ROWS)
    }
}

/// Queues a job for the encoder of `file`.
fn send(encoders: &mut [Encoder], file: u64, job: Job) -> Result<()> {
    let n = encoders.len() as u64;
    encoders[(file % n) as usize].send(job)
}

/// What the encoder thread is asked to do.
enum Job {
    Open { file: u64, path: PathBuf, key: String, partition: Partition },
    Write { file: u64, group: DataFrame },
    Close { file: u64, rows: u64 },
}

/// Jobs queued for the encoder: enough to keep it busy while the next batch is typed.
const QUEUED_JOBS: usize = 8;

/// A thread that encodes row groups into their files, in the order they are sent.
struct Encoder {
    jobs: Option<std::sync::mpsc::SyncSender<Job>>,
    thread: Option<std::thread::JoinHandle<Result<Vec<StagedFile>>>>,
}

/// A file an encoder is writing: its sink, the digest of its bytes, where, and row groups so far.
struct OpenFile {
    sink: FileSink,
    digest: Digest,
    path: PathBuf,
    key: String,
    partition: Partition,
    groups: usize,
}

impl Encoder {
    /// `shape.sort_by`: each row group is sorted by these columns as it comes, and a file of several
    /// row groups is read back at its close and written again whole, sorted.
    fn start(schema: Schema, scratch: bool, shape: Shape) -> Self {
        let (jobs, queue) = std::sync::mpsc::sync_channel::<Job>(QUEUED_JOBS);
        let thread = std::thread::Builder::new()
            .name("etl-encoder".into())
            .spawn(move || {
                let mut open: std::collections::HashMap<u64, OpenFile> = Default::default();
                let mut files = Vec::new();
                for job in queue {
                    match job {
                        Job::Open { file, path, key, partition } => {
                            let (sink, digest) = sink_at(&path, &schema, scratch, shape.page_rows())?;
                            open.insert(file, OpenFile { sink, digest, path, key, partition, groups: 0 });
                        }
                        Job::Write { file, group } => {
                            let open = open.get_mut(&file).expect("opened first");
                            open.groups += 1;
                            open.sink.write_groups(&sorted(group, &shape.sort_by)?, shape.group_bytes)?;
                        }
                        Job::Close { file, rows } => {
                            let f = open.remove(&file).expect("opened first");
                            f.sink.finish()?;
                            let digest = match f.groups > 1 && !shape.sort_by.is_empty() {
                                true => rewrite_sorted(&f.path, &schema, &shape)?,
                                false => f.digest,
                            };
                            let (bytes, hasher) = &*digest.lock().expect("digest lock");
                            let sha256 = hex::encode(sha2::Digest::finalize(hasher.clone()));
                            let (key, path, partition) = (f.key, f.path, f.partition);
                            files.push(StagedFile { key, path, partition, rows, bytes: *bytes, sha256 });
                        }
                    }
                }
                Ok(files)
            })
            .expect("the encoder thread starts");
        Encoder { jobs: Some(jobs), thread: Some(thread) }
    }

    /// Queues a job; when the thread has stopped on an error, returns that error.
    fn send(&mut self, job: Job) -> Result<()> {
        let jobs = self.jobs.as_ref().expect("not finished");
        if jobs.send(job).is_err() {
            return Err(self
                .finish()
                .err()
                .unwrap_or_else(|| Error::Internal("the Parquet encoder stopped without an error".into())));
        }
        Ok(())
    }

    /// Waits for every queued job; returns the finished files (or the error that stopped the thread).
    fn finish(&mut self) -> Result<Vec<StagedFile>> {
        self.jobs = None;
        match self.thread.take().expect("joined once").join() {
            Ok(result) => result,
            Err(_) => Err(Error::Internal("the Parquet encoder panicked".into())),
        }
    }
}

impl Drop for Encoder {
    /// A writer dropped unfinished (an error, a signal) stops its thread before its files go.
    fn drop(&mut self) {
        self.jobs = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A file written through a small buffer and reopened for each flush, so that thousands of partitions
/// never hold thousands of open file descriptors.
pub struct AppendFile {
    path: PathBuf,
    buf: Vec<u8>,
    /// Every byte written, hashed on the way (the file is not read again for its checksum).
    digest: Digest,
    /// A scratch file is counted, not hashed (it is never published).
    hashed: bool,
}

const APPEND_BUFFER: usize = 64 << 10;

impl AppendFile {
    fn new(path: PathBuf, hashed: bool) -> Self {
        AppendFile { path, buf: Vec::new(), digest: Default::default(), hashed }
    }

    fn append(&self, data: &[u8]) -> std::io::Result<()> {
        let mut file = std::fs::OpenOptions::new().create(true).append(true).open(&self.path)?;
        file.write_all(data)?;
        let mut digest = self.digest.lock().expect("digest lock");
        digest.0 += data.len() as u64;
        if self.hashed {
            sha2::Digest::update(&mut digest.1, data);
        }
        Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counting_by_text_sorts_as_polars_stable_sort_does() {
        let users: Vec<Option<&str>> = (0..5_000u32)
            .map(|i| (i % 13 != 5).then(|| ["b", "a", "é", "B", "ab", "a "][(i * 7 % 6) as usize]))
            .collect();
        let ids: Vec<u32> = (0..5_000).collect();
        let df =
            DataFrame::new(5_000, vec![Column::new("user".into(), users), Column::new("id".into(), ids)])
                .unwrap();
        let ours = df.take(&text_order(&df, "user").expect("six values")).unwrap();
        let options = SortMultipleOptions::default().with_maintain_order(true).with_nulls_last(true);
        let theirs = df.sort(["user"], options).unwrap();
        assert!(ours.equals_missing(&theirs));
        assert!(text_order(&df, "id").is_none(), "not text: polars sorts it");
    }
}
