//! Extractors: each source yields its records as [`TextBatch`]es of text fields.
//!
//! Text is the common ground of every source (CSV files, Domo's CSV export, a PostgreSQL `COPY`, JSON
//! flattened to fields); typing happens once, in [`crate::transform`]. A source can be opened more than
//! once, because whole-file type inference reads it twice (sources that cannot be re-read spool to a
//! local file first).

pub mod csv;
pub mod domo;
pub mod filter;

use crate::error::Result;

/// What a source is, for messages, summaries and (later) manifests.
#[derive(Debug, Clone)]
pub struct SourceInfo {
    /// `csv`, `domo`, ...
    pub kind: &'static str,
    /// A path, URL or id, as a person would recognise it. Never holds secrets.
    pub location: String,
}

/// A source of records.
pub trait Extract: Send + Sync {
    /// Describes the source.
    fn info(&self) -> SourceInfo;
    /// Opens a fresh pass over every record.
    fn open(&self) -> Result<Box<dyn BatchReader>>;
}

/// One pass over a source's records.
pub trait BatchReader: Send {
    /// Column names, cleaned (trimmed, unique, none empty).
    fn columns(&self) -> &[String];
    /// Clears `batch` and fills it with up to `max_rows` records; returns false at the end.
    fn next_batch(&mut self, batch: &mut TextBatch, max_rows: usize) -> Result<bool>;
    /// Bytes of the source consumed so far (for progress).
    fn bytes_read(&self) -> u64;
}

/// A batch of records, stored as one byte buffer plus field ends: no allocation per field.
///
/// Every field is valid UTF-8 (checked by the reader), so string columns need no second check.
#[derive(Debug, Default)]
pub struct TextBatch {
    columns: usize,
    data: Vec<u8>,
    ends: Vec<usize>,
    lines: Vec<u64>,
}

impl TextBatch {
    /// An empty batch for records of `columns` fields.
    pub fn new(columns: usize) -> Self {
        TextBatch { columns, ..Default::default() }
    }

    /// Number of records.
    pub fn len(&self) -> usize {
        self.lines.len()
    }

    /// Whether the batch holds no record.
    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    /// Number of fields in each record.
    pub fn columns(&self) -> usize {
        self.columns
    }

    /// Removes every record, keeping the buffers.
    pub fn clear(&mut self) {
        self.data.clear();
        self.ends.clear();
        self.lines.clear();
    }

    /// Appends a record; `fields` must yield exactly `columns()` UTF-8 fields.
    pub fn push<'a>(&mut self, fields: impl IntoIterator<Item = &'a [u8]>, line: u64) {
        for field in fields {
            self.data.extend_from_slice(field);
            self.ends.push(self.data.len());
        }
        self.lines.push(line);
        debug_assert_eq!(self.ends.len(), self.lines.len() * self.columns);
    }

    /// Field `col` of record `row`.
    #[inline]
    pub fn field(&self, row: usize, col: usize) -> &[u8] {
        let i = row * self.columns + col;
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        &self.data[start..self.ends[i]]
    }

    /// Field `col` of record `row` as text.
    #[inline]
    pub fn text(&self, row: usize, col: usize) -> &str {
        // The readers validate UTF-8 before pushing a record.
        unsafe { std::str::from_utf8_unchecked(self.field(row, col)) }
    }

    /// The source line on which record `row` starts (1-based, the header is line 1).
    pub fn line(&self, row: usize) -> u64 {
        self.lines[row]
    }
}
