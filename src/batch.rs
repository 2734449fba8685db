//! Text batches: what every source hands to the typing. A batch holds records as text fields (every
//! source, CSV, Domo's export, PostgreSQL's `COPY`, flattened JSON, is text first), with each
//! record's line for messages; records that do not fit are [`Reject`]s, handled as [`BadRows`] says.

/// What to do with a record that does not fit: a wrong number of fields, an unclosed quote, text
/// that is not valid in the file's encoding, a value that does not fit its column's pinned type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BadRows {
    /// Stop with an error that names the line (nothing is written).
    #[default]
    Fail,
    /// Leave it out, and count it in the summary.
    Skip,
    /// Leave it out, count it, and keep its text in `datasets/<id>/_rejects/<run-id>.csv`.
    Quarantine,
}

impl std::str::FromStr for BadRows {
    type Err = String;

    fn from_str(text: &str) -> std::result::Result<Self, String> {
        match text.trim().to_ascii_lowercase().as_str() {
            "fail" => Ok(BadRows::Fail),
            "skip" => Ok(BadRows::Skip),
            "quarantine" => Ok(BadRows::Quarantine),
            other => Err(format!("`{other}` is not fail, skip or quarantine")),
        }
    }
}

/// A record left out by [`BadRows::Skip`] or [`BadRows::Quarantine`].
#[derive(Debug, Clone)]
pub struct Reject {
    /// The line it starts on.
    pub line: u64,
    /// What is wrong with it.
    pub reason: String,
    /// Its text as read (UTF-8), without its line break; empty unless quarantining.
    pub raw: Vec<u8>,
    /// The file it is in, when the source is several files (see `BatchReader::part`).
    pub part: Option<(usize, String)>,
}

/// Text a batch holds at most (give or take one record): with wide rows, batches hold fewer rows.
pub const BATCH_BYTES: usize = 16 << 20;

/// A batch of records, stored as one byte buffer plus field ends: no allocation per field.
///
/// Every field is valid UTF-8 (checked by the reader), so string columns need no second check.
#[derive(Debug, Default)]
pub struct TextBatch {
    columns: usize,
    data: Vec<u8>,
    ends: Vec<usize>,
    lines: Vec<u64>,
    /// Each record's text as read, when the reader keeps it (to quarantine bad rows).
    raw: Vec<u8>,
    raw_ends: Vec<usize>,
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

    /// Whether the batch has reached `max_rows` records or [`BATCH_BYTES`] of text: memory per batch
    /// stays bounded however wide the rows are.
    pub fn is_full(&self, max_rows: usize) -> bool {
        self.len() >= max_rows || self.data.len() + self.raw.len() >= BATCH_BYTES
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
        self.raw.clear();
        self.raw_ends.clear();
    }

    /// Keeps the text of the record pushed next (or just pushed), as read.
    pub fn push_raw(&mut self, raw: &[u8]) {
        self.raw.extend_from_slice(raw);
        self.raw_ends.push(self.raw.len());
    }

    /// Record `row`'s text as read, if the reader kept it.
    pub fn raw_record(&self, row: usize) -> Option<&[u8]> {
        let end = *self.raw_ends.get(row)?;
        let start = if row == 0 { 0 } else { self.raw_ends[row - 1] };
        Some(&self.raw[start..end])
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

    /// Appends a record whose fields lie back to back in `text`, field `i` ending at `ends[i]` (one
    /// copy for the whole record); `ends` must yield exactly `columns()` offsets of UTF-8 fields.
    pub fn push_packed(&mut self, text: &[u8], ends: impl IntoIterator<Item = usize>, line: u64) {
        let base = self.data.len();
        self.data.extend_from_slice(text);
        self.ends.extend(ends.into_iter().map(|e| base + e));
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

    /// Keeps only the records for which `keep(row)` holds.
    pub fn retain(&mut self, keep: impl Fn(usize) -> bool) {
        let old = std::mem::take(self);
        let mut kept = TextBatch { columns: old.columns, ..Default::default() };
        for row in (0..old.len()).filter(|&r| keep(r)) {
            kept.copy_row(&old, row);
        }
        *self = kept;
    }

    /// Appends record `row` of `other` (with its text, if kept).
    pub fn copy_row(&mut self, other: &TextBatch, row: usize) {
        self.push((0..other.columns).map(|c| other.field(row, c)), other.line(row));
        if let Some(raw) = other.raw_record(row) {
            self.push_raw(raw);
        }
    }

    /// The source line on which record `row` starts (1-based, the header is line 1).
    pub fn line(&self, row: usize) -> u64 {
        self.lines[row]
    }
}
