//! Text batches: what every source hands to the typing. A batch holds records as text fields (every
//! source, CSV, Domo's export, PostgreSQL's `COPY`, flattened JSON, is text first), with each
//! record's line for messages; records that do not fit are [`Reject`]s, handled as [`BadRows`] says.
//!
//! A reader that gets values already typed (a PostgreSQL binary `COPY`'s numbers, booleans and
//! timestamps) may hand a column over as [`Native`] values instead of text: the typing takes them as
//! they are when the column's plan is the parser that reads their [`Kind`] from text, and
//! [`TextBatch::write_natives_as_text`] turns them into the text the source would have given
//! wherever text is needed.

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

/// The values of a column handed over typed, one per record (`valid[row]` false: null).
#[derive(Debug, Clone)]
pub enum Values {
    /// Integers, timestamps (microseconds since 1970-01-01) and dates (days since 1970-01-01).
    I64(Vec<i64>),
    F64(Vec<f64>),
    Bool(Vec<bool>),
}

impl Values {
    fn clear(&mut self) {
        match self {
            Values::I64(v) => v.clear(),
            Values::F64(v) => v.clear(),
            Values::Bool(v) => v.clear(),
        }
    }

    fn copy(&mut self, from: &Values, row: usize) {
        match (self, from) {
            (Values::I64(to), Values::I64(from)) => to.push(from[row]),
            (Values::F64(to), Values::F64(from)) => to.push(from[row]),
            (Values::Bool(to), Values::Bool(from)) => to.push(from[row]),
            _ => unreachable!("a column's values are of one kind"),
        }
    }
}

/// What typed values are: the values the source's text of them would read as (integers; floats
/// exact; `true`/`false`; ISO dates and timestamps, `TimestampUtc` with their offset).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Int64,
    Float64,
    Boolean,
    /// Days since 1970-01-01.
    Date,
    /// Microseconds since 1970-01-01, of a time without a zone, or of an instant.
    Timestamp,
    TimestampUtc,
}

/// Writes value `row` of typed values as the text the source would have given.
pub type WriteText = fn(&Values, usize, &mut Vec<u8>);

/// A column a reader handed over typed: its text fields are empty.
#[derive(Debug, Clone)]
pub struct Native {
    pub kind: Kind,
    pub values: Values,
    /// Per record, whether it has a value.
    pub valid: Vec<bool>,
    /// How many records have none.
    pub nulls: usize,
    /// Writes the value of record `row` as the text the source would have given.
    pub text: WriteText,
}

impl Native {
    /// An empty column of `kind`, held in `values`, written as text by `text`.
    pub fn new(kind: Kind, values: Values, text: WriteText) -> Self {
        Native { kind, values, valid: Vec::new(), nulls: 0, text }
    }

    /// An empty column of the same kind.
    pub fn empty_like(&self) -> Native {
        let values = match self.values {
            Values::I64(_) => Values::I64(Vec::new()),
            Values::F64(_) => Values::F64(Vec::new()),
            Values::Bool(_) => Values::Bool(Vec::new()),
        };
        Native::new(self.kind, values, self.text)
    }

    /// Appends a null.
    #[inline]
    pub fn push_null(&mut self) {
        match &mut self.values {
            Values::I64(v) => v.push(0),
            Values::F64(v) => v.push(0.0),
            Values::Bool(v) => v.push(false),
        }
        self.valid.push(false);
        self.nulls += 1;
    }

    /// Appends an integer (a column of [`Values::I64`]).
    #[inline]
    pub fn push_i64(&mut self, x: i64) {
        let Values::I64(v) = &mut self.values else { unreachable!("a column of integers") };
        v.push(x);
        self.valid.push(true);
    }

    /// Appends a float (a column of [`Values::F64`]).
    #[inline]
    pub fn push_f64(&mut self, x: f64) {
        let Values::F64(v) = &mut self.values else { unreachable!("a column of floats") };
        v.push(x);
        self.valid.push(true);
    }

    /// Appends a boolean (a column of [`Values::Bool`]).
    #[inline]
    pub fn push_bool(&mut self, x: bool) {
        let Values::Bool(v) = &mut self.values else { unreachable!("a column of booleans") };
        v.push(x);
        self.valid.push(true);
    }

    fn clear(&mut self) {
        self.values.clear();
        self.valid.clear();
        self.nulls = 0;
    }

    fn copy(&mut self, from: &Native, row: usize) {
        self.values.copy(&from.values, row);
        self.valid.push(from.valid[row]);
        self.nulls += usize::from(!from.valid[row]);
    }
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
    /// Each record's text as read, when the reader keeps it (to quarantine bad rows).
    raw: Vec<u8>,
    raw_ends: Vec<usize>,
    /// Per column, its values when the reader handed them over typed (see [`Native`]).
    natives: Vec<Option<Native>>,
    /// Bytes the typed columns hold per record.
    native_bytes: usize,
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
        self.len() >= max_rows
            || self.data.len() + self.raw.len() + self.len() * self.native_bytes >= BATCH_BYTES
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
        for native in self.natives.iter_mut().flatten() {
            native.clear();
        }
    }

    /// Column `col`'s typed values, if the reader handed it over typed.
    pub fn native(&self, col: usize) -> Option<&Native> {
        self.natives.get(col)?.as_ref()
    }

    /// Makes column `col` typed from now on (kept through [`TextBatch::clear`]), or text (`None`);
    /// only while the batch is empty. Its values are pushed with [`TextBatch::native_mut`], beside
    /// an empty text field for each record.
    pub fn set_native(&mut self, col: usize, native: Option<Native>) {
        debug_assert!(self.is_empty(), "a column's kind changes only between batches");
        if self.natives.len() < self.columns {
            self.natives.resize_with(self.columns, || None);
        }
        self.natives[col] = native;
        self.count_native_bytes();
    }

    /// A value and its validity: what a typed column holds per record.
    fn count_native_bytes(&mut self) {
        self.native_bytes = self.natives.iter().flatten().count() * (std::mem::size_of::<i64>() + 1);
    }

    /// Column `col`'s typed values, to push to.
    #[inline]
    pub fn native_mut(&mut self, col: usize) -> &mut Native {
        self.natives[col].as_mut().expect("a typed column")
    }

    /// Turns the typed columns for which `keep(col, native)` is false into text fields (the text the
    /// source would have given), for whatever needs a column's text: a plan of another parser, a
    /// vote, checks of values.
    pub fn write_natives_as_text(&mut self, keep: impl Fn(usize, &Native) -> bool) {
        let written: Vec<usize> = (0..self.natives.len())
            .filter(|&col| self.natives[col].as_ref().is_some_and(|n| !keep(col, n)))
            .collect();
        if written.is_empty() {
            return;
        }
        let old = std::mem::take(&mut self.data);
        let old_ends = std::mem::take(&mut self.ends);
        self.data.reserve(old.len() + self.len() * written.len() * 8);
        self.ends.reserve(old_ends.len());
        let mut start = 0;
        for (i, &end) in old_ends.iter().enumerate() {
            let (row, col) = (i / self.columns, i % self.columns);
            match &self.natives[col] {
                Some(native) if written.contains(&col) => {
                    if native.valid[row] {
                        (native.text)(&native.values, row, &mut self.data);
                    }
                }
                _ => self.data.extend_from_slice(&old[start..end]),
            }
            self.ends.push(self.data.len());
            start = end;
        }
        for col in written {
            self.natives[col] = None;
        }
        self.count_native_bytes();
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

    /// Appends a field of the record being pushed (UTF-8; empty for a typed column).
    #[inline]
    pub fn push_field(&mut self, field: &[u8]) {
        self.data.extend_from_slice(field);
        self.ends.push(self.data.len());
    }

    /// The text of the record being pushed, to write a field into (then [`TextBatch::end_field`]).
    #[inline]
    pub fn field_text(&mut self) -> &mut Vec<u8> {
        &mut self.data
    }

    /// Ends the field written into [`TextBatch::field_text`].
    #[inline]
    pub fn end_field(&mut self) {
        self.ends.push(self.data.len());
    }

    /// Ends the record whose fields were pushed one by one, and says on which line it starts.
    #[inline]
    pub fn end_record(&mut self, line: u64) {
        self.lines.push(line);
        debug_assert_eq!(self.ends.len(), self.lines.len() * self.columns);
    }

    /// Takes back the fields pushed since the last whole record (a record cut short).
    pub fn drop_partial_record(&mut self) {
        let whole = self.lines.len() * self.columns;
        if self.ends.len() > whole {
            self.ends.truncate(whole);
            self.data.truncate(self.ends.last().copied().unwrap_or(0));
        }
        for native in self.natives.iter_mut().flatten() {
            while native.valid.len() > self.lines.len() {
                native.nulls -= usize::from(!native.valid.pop().expect("longer"));
                match &mut native.values {
                    Values::I64(v) => drop(v.pop()),
                    Values::F64(v) => drop(v.pop()),
                    Values::Bool(v) => drop(v.pop()),
                }
            }
        }
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
        let natives = old.natives.iter().map(|n| n.as_ref().map(Native::empty_like));
        let mut kept = TextBatch {
            columns: old.columns,
            natives: natives.collect(),
            native_bytes: old.native_bytes,
            ..Default::default()
        };
        for row in (0..old.len()).filter(|&r| keep(r)) {
            kept.copy_row(&old, row);
        }
        *self = kept;
    }

    /// Appends record `row` of `other` (with its text, if kept). A column typed in both stays
    /// typed; typed in one only, it is text here (typed from `other` when this batch is empty).
    pub fn copy_row(&mut self, other: &TextBatch, row: usize) {
        if self.natives.len() < self.columns {
            self.natives.resize_with(self.columns, || None);
        }
        let theirs = |col: usize| other.natives.get(col).and_then(Option::as_ref);
        for col in 0..self.columns {
            match (&self.natives[col], theirs(col)) {
                (None, Some(native)) if self.is_empty() => {
                    self.natives[col] = Some(native.empty_like());
                    self.count_native_bytes();
                }
                (Some(_), None) => self.write_natives_as_text(|c, _| c != col),
                _ => {}
            }
        }
        for col in 0..self.columns {
            match (self.natives[col].as_mut(), theirs(col)) {
                (Some(mine), Some(native)) => mine.copy(native, row),
                (None, Some(native)) if native.valid[row] => {
                    (native.text)(&native.values, row, &mut self.data)
                }
                (None, Some(_)) => {}
                (_, None) => self.data.extend_from_slice(other.field(row, col)),
            }
            self.ends.push(self.data.len());
        }
        self.lines.push(other.line(row));
        if let Some(raw) = other.raw_record(row) {
            self.push_raw(raw);
        }
    }

    /// The source line on which record `row` starts (1-based, the header is line 1).
    pub fn line(&self, row: usize) -> u64 {
        self.lines[row]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn int_text(values: &Values, row: usize, out: &mut Vec<u8>) {
        let Values::I64(v) = values else { unreachable!() };
        out.extend_from_slice(v[row].to_string().as_bytes());
    }

    /// A batch of a text column and a typed one: rows `(name, n)`, `None` a null.
    fn batch(rows: &[(&str, Option<i64>)]) -> TextBatch {
        let mut b = TextBatch::new(2);
        b.set_native(1, Some(Native::new(Kind::Int64, Values::I64(Vec::new()), int_text)));
        for (i, (name, n)) in rows.iter().enumerate() {
            b.push_field(name.as_bytes());
            match n {
                Some(n) => b.native_mut(1).push_i64(*n),
                None => b.native_mut(1).push_null(),
            }
            b.push_field(b"");
            b.end_record(i as u64 + 2);
        }
        b
    }

    #[test]
    fn typed_columns_follow_their_rows_and_become_text_on_demand() {
        let mut b = batch(&[("a", Some(1)), ("b", None), ("c", Some(-3))]);
        b.retain(|row| row != 0);
        assert_eq!(b.len(), 2);
        let native = b.native(1).unwrap();
        assert_eq!((&native.valid[..], native.nulls), (&[false, true][..], 1));
        // A record cut short is taken back, its typed value with it.
        b.push_field(b"d");
        b.native_mut(1).push_i64(9);
        b.drop_partial_record();
        assert_eq!(b.native(1).unwrap().valid.len(), 2);
        b.write_natives_as_text(|_, _| false);
        assert!(b.native(1).is_none());
        let rows: Vec<(&str, &str, u64)> =
            (0..b.len()).map(|r| (b.text(r, 0), b.text(r, 1), b.line(r))).collect();
        assert_eq!(rows, [("b", "", 3), ("c", "-3", 4)]);
        // Typed values count toward a batch's bytes: wide typed rows make short batches.
        let mut b = batch(&[]);
        let mut rows = 0;
        while !b.is_full(usize::MAX) {
            b.push_field(b"");
            b.native_mut(1).push_i64(rows);
            b.push_field(b"");
            b.end_record(1);
            rows += 1;
        }
        assert_eq!(rows as usize, BATCH_BYTES.div_ceil(9));
        // Copied into a batch that holds the column as text, a typed value is its text.
        let typed = batch(&[("x", Some(5)), ("y", None)]);
        let mut text = TextBatch::new(2);
        text.push([&b"w"[..], b"4"], 9);
        text.copy_row(&typed, 0);
        text.copy_row(&typed, 1);
        let rows: Vec<(&str, &str)> = (0..text.len()).map(|r| (text.text(r, 0), text.text(r, 1))).collect();
        assert_eq!(rows, [("w", "4"), ("x", "5"), ("y", "")]);
        assert!(text.native(1).is_none());
        // Cleared, a batch keeps its typed columns (empty) for the next records.
        let mut b = batch(&[("a", Some(1))]);
        b.clear();
        assert!(b.native(1).is_some_and(|n| n.valid.is_empty() && n.nulls == 0));
    }
}
