//! CSV files as people export them: any of the encodings [`super::input`] detects, gzip or zstd
//! compressed, delimited by `,` `;` tab `|` or `, ` (sniffed), RFC 4180 quoting (delimiters, doubled
//! quotes and line breaks inside quoted fields), CRLF or LF, with or without a header line, with
//! comment lines and a preamble above the header (detected, see [`super::dialect`]). Records that do
//! not fit (a wrong field count, an unclosed quote, bytes that are not text) fail the run, or are
//! skipped or quarantined, as [`BadRows`] says.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use encoding_rs::Encoding;

pub use super::dialect::{parse_comment_char, Delimiter};
use super::dialect::{CommentLines, DialectText, Setting};
use super::input::{TextInput, Tracker};
use super::records::{self, Record};
use super::sniff::{
    sniff_comment, sniff_delimiter, sniff_header, sniff_preamble, sniff_space_after, COMMENT_CANDIDATE,
};
use super::{BatchReader, Extract, SourceInfo};
use crate::batch::{BadRows, Reject, TextBatch};
use crate::error::{Error, Result};
use crate::transform::DecimalComma;

/// Text read to sniff the dialect.
const SNIFF_BYTES: usize = 256 << 10;

/// How to read a CSV file.
#[derive(Debug, Clone)]
pub struct CsvOptions {
    /// Field delimiter; `None`: sniffed among `,` `;` tab `|` (and `, `).
    pub delimiter: Option<Delimiter>,
    /// Lines starting with this character are comments (`#` detected when it starts lines that are
    /// not rows of the table).
    pub comment: Setting<u8>,
    /// Lines above the header to skip; `None`: a preamble (a title, blank rows) is detected.
    pub skip_rows: Option<u64>,
    /// Whether numbers are written with a decimal comma (`1.234,50`); `None`: when the file is
    /// `;`-separated and every value of a column reads so.
    pub decimal_comma: Option<bool>,
    /// The file's encoding; `None`: detected.
    pub encoding: Option<&'static Encoding>,
    /// Whether the first line names the columns (else they are `column_1`, `column_2`, ...); `None`:
    /// detected ([`sniff_header`]).
    pub header: Option<bool>,
    pub bad_rows: BadRows,
    /// Column names as snake_case ASCII.
    pub normalize_columns: bool,
}

impl Default for CsvOptions {
    fn default() -> Self {
        CsvOptions {
            delimiter: None,
            comment: Setting::Detect,
            skip_rows: None,
            decimal_comma: None,
            encoding: None,
            header: None,
            bad_rows: BadRows::Fail,
            normalize_columns: false,
        }
    }
}

impl CsvOptions {
    /// Exactly RFC 4180 in UTF-8 with a header: a machine's export (Domo's).
    pub fn strict() -> Self {
        CsvOptions {
            delimiter: Some(Delimiter::of(b',')),
            comment: Setting::Off,
            skip_rows: Some(0),
            decimal_comma: Some(false),
            encoding: Some(encoding_rs::UTF_8),
            header: Some(true),
            ..CsvOptions::default()
        }
    }
}

/// A delimiter as a person writes it (see [`Delimiter::parse`]).
pub fn parse_delimiter(text: &str) -> std::result::Result<Delimiter, String> {
    Delimiter::parse(text)
}

/// The last file in `dir`, by file name, whose name `matches` (exports named by date sort by date).
pub fn last_file_matching(dir: &Path, matches: impl Fn(&str) -> bool) -> std::io::Result<Option<PathBuf>> {
    let mut found: Vec<PathBuf> = fs::read_dir(dir)?
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_file())
        .map(|e| e.path())
        .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(&matches))
        .collect();
    found.sort();
    Ok(found.pop())
}

/// A CSV file on the local disk, its encoding and delimiter settled when it is opened first.
#[derive(Debug, Clone)]
pub struct CsvFile {
    path: PathBuf,
    options: CsvOptions,
    input: TextInput,
    delimiter: Delimiter,
    comment: Option<u8>,
    /// Lines above the header skipped, and whether that was detected (else given).
    skip_rows: u64,
    detected: Detected,
    /// How messages name the source, when the path alone would not tell a person what it is.
    display_name: Option<String>,
    kind: &'static str,
}

impl CsvFile {
    /// A CSV source; fails early, with the path, if the file cannot be opened, is not text, or its
    /// encoding cannot be told.
    pub fn new(path: impl Into<PathBuf>, options: CsvOptions) -> Result<Self> {
        let path = path.into();
        let meta = fs::metadata(&path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => Error::Usage(format!(
                "`{}` does not exist; check the path (relative paths start at the current folder)",
                path.display()
            )),
            _ => Error::io(&path, e),
        })?;
        if meta.is_dir() {
            return Err(Error::Usage(format!("`{}` is a folder, not a CSV file", path.display())));
        }
        let input = TextInput::inspect(&path, options.encoding)?;
        Self::of_input(path, options, input)
    }

    /// A machine's export (see [`CsvOptions::strict`]) that is still being written to `path`: read
    /// as it grows, to the end `growing` says (see [`super::growing`]).
    pub fn growing(path: impl Into<PathBuf>, growing: Arc<super::growing::Growing>) -> Result<Self> {
        let path = path.into();
        let input = TextInput::utf8_growing(&path, growing);
        Self::of_input(path, CsvOptions::strict(), input)
    }

    fn of_input(path: PathBuf, options: CsvOptions, input: TextInput) -> Result<Self> {
        let sniffs = options.delimiter.is_none()
            || options.comment == Setting::Detect
            || (options.skip_rows.is_none() && options.header != Some(false))
            || options.header.is_none();
        let head = if sniffs { input.head_text(SNIFF_BYTES)? } else { Vec::new() };
        let complete = head.len() < SNIFF_BYTES;
        let mut detected = Detected::default();
        let comment = match options.comment {
            Setting::Given(c) => Some(c),
            Setting::Off => None,
            Setting::Detect => {
                detected.comment = sniff_comment(&head, complete);
                detected.comment.then_some(COMMENT_CANDIDATE)
            }
        };
        let delimiter = options.delimiter.unwrap_or_else(|| {
            let byte = sniff_delimiter(&head, complete, comment);
            Delimiter { byte, space_after: byte == b',' && sniff_space_after(&head, byte, comment) }
        });
        let skip_rows = match options.skip_rows {
            Some(n) => n,
            None if options.header != Some(false) => {
                let n = sniff_preamble(&head, delimiter.byte, comment, complete);
                detected.preamble = n > 0;
                n
            }
            None => 0,
        };
        let header = options.header.unwrap_or_else(|| {
            let header = sniff_header(&head, delimiter.byte, comment, complete, skip_rows);
            detected.no_header = !header;
            header
        });
        let options = CsvOptions { header: Some(header), ..options };
        tracing::info!(
            "{}: {}, delimiter `{delimiter}`{}{}",
            path.display(),
            input.describe(),
            comment.map(|c| format!(", comment lines start with `{}`", char::from(c))).unwrap_or_default(),
            if skip_rows > 0 { format!(", {skip_rows} lines above the header") } else { String::new() },
        );
        Ok(CsvFile {
            path,
            options,
            input,
            delimiter,
            comment,
            skip_rows,
            detected,
            display_name: None,
            kind: "csv",
        })
    }

    /// Names the source `name` (of kind `kind`) in messages, instead of by its path: a download is
    /// better known by where it came from.
    pub fn named(self, kind: &'static str, name: impl Into<String>) -> Self {
        CsvFile { display_name: Some(name.into()), kind, ..self }
    }

    fn name(&self) -> String {
        self.display_name.clone().unwrap_or_else(|| self.path.display().to_string())
    }

    /// The delimiter, given or sniffed.
    pub fn delimiter(&self) -> Delimiter {
        self.delimiter
    }

    /// Whether numbers in the file may be written with a decimal comma: as given, else when the
    /// file is `;`-separated (each column then reads so only if every value agrees).
    pub fn decimal_comma(&self) -> DecimalComma {
        match self.options.decimal_comma {
            None if self.delimiter.byte != b';' => DecimalComma::Off,
            given => DecimalComma::from_setting(given),
        }
    }
}

/// What was told from the file rather than given, for the summary's notes.
#[derive(Debug, Clone, Copy, Default)]
struct Detected {
    comment: bool,
    preamble: bool,
    /// The first line is data, not names.
    no_header: bool,
}

impl Extract for CsvFile {
    fn info(&self) -> SourceInfo {
        SourceInfo { kind: self.kind, location: self.name() }
    }

    fn open(&self) -> Result<Box<dyn BatchReader>> {
        self.open_reader(self.options.bad_rows == BadRows::Quarantine, true)
    }

    fn open_quiet(&self) -> Result<Box<dyn BatchReader>> {
        self.open_reader(false, false)
    }
}

impl CsvFile {
    /// A pass over the records, as [`Extract::open`] without the file's checksum: for a file that is
    /// one part of a source, whose parts have no checksum of their own to record.
    pub(super) fn open_unhashed(&self) -> Result<Box<dyn BatchReader>> {
        self.open_reader(self.options.bad_rows == BadRows::Quarantine, false)
    }

    /// A pass over the records; with `capture`, the text of each record is kept (to quarantine);
    /// with `hash`, the file's checksum is taken on the way.
    fn open_reader(&self, capture: bool, hash: bool) -> Result<Box<dyn BatchReader>> {
        let name = self.name();
        let mut reader = self.csv_reader(capture, hash)?;
        let mut first = Record::new();
        // Where the header starts in the text: after the lines skipped above it.
        let mut header_start = 0;
        let mut more = reader.0.read(&mut first).map_err(|e| read_error(&name, &e, 1))?;
        // Blank lines before the header (the parser skips `\n` ones itself; a `\r\n` one reads as a
        // field holding `\r`) are not the header, nor are the lines above it that are skipped.
        while more
            && ((first.len() == 1 && first[0].trim_ascii().is_empty())
                || start_line(&reader.0, &first) <= self.skip_rows)
        {
            header_start = reader.0.byte();
            more = reader.0.read(&mut first).map_err(|e| read_error(&name, &e, 1))?;
        }
        if !more {
            let comments = reader.1 .1.count();
            let message = if comments > 0 {
                format!(
                    "the file holds only comment lines ({comments} starting with `{}`): expected a header line; \
                     --comment-char none reads them as rows",
                    char::from(self.comment.unwrap_or(b'#'))
                )
            } else if self.skip_rows > 0 {
                format!(
                    "nothing after the {} lines skipped above the header: expected a header line",
                    self.skip_rows
                )
            } else {
                "the file is empty: expected a header line with column names".into()
            };
            return Err(Error::Csv { source_name: name, line: 1, message });
        }
        let (mut columns, header_line, skip_through) = if self.options.header != Some(false) {
            let end = reader.0.byte();
            let mut raw = reader.1 .0.take_captured(header_start, end);
            trim_record_text(&mut raw, self.comment);
            let raw = raw.strip_prefix(b"\xEF\xBB\xBF").map(<[u8]>::to_vec).unwrap_or(raw);
            (header_names(&name, &first)?, capture.then_some(raw), 0)
        } else {
            // The first line is data: read again from the start, with names for its fields.
            let names: Vec<String> = (1..=first.len()).map(|i| format!("column_{i}")).collect();
            reader = self.csv_reader(capture, hash)?;
            (names, None, self.skip_rows)
        };
        if self.options.normalize_columns {
            columns = normalize_names(&columns);
        }
        let (reader, (tracker, comments)) = reader;
        let (byte, line) = (reader.byte(), reader.line());
        tracker.record_starts(byte, line);
        Ok(Box::new(CsvReader {
            name,
            reader,
            record: Record::new(),
            columns,
            next_line: line,
            tracker,
            record_start: byte,
            delimiter: self.delimiter.byte,
            encoding: self.input.encoding().name(),
            bad_rows: self.options.bad_rows,
            capture,
            header_line,
            rejects: Vec::new(),
            comment: self.comment,
            comments,
            skip_through,
            skipped: self.skip_rows,
            empty_rows: (0, Vec::new()),
            detected: self.detected,
        }))
    }

    fn csv_reader(&self, capture: bool, hash: bool) -> Result<(TextReader, Followers)> {
        let comments = Arc::new(CommentLines::default());
        let (delimiter, comment, counted) = (self.delimiter, self.comment, comments.clone());
        let plain = !delimiter.space_after && comment.is_none();
        let (text, tracker) = self.input.open_through(capture, hash, move |text| {
            if plain {
                text
            } else {
                Box::new(DialectText::new(text, delimiter, comment, counted))
            }
        })?;
        // Records end at `\n` only, and a `\r` before it is stripped below: with csv's default CRLF
        // terminator the `\n` of `\r\n` is consumed with the next record, which puts every line
        // number of a CRLF file one line early.
        let reader = records::Reader::new(text, self.delimiter.byte, self.comment);
        Ok((reader, (tracker, comments)))
    }
}

/// The line a record just read starts on: the parser's position is past its line break.
fn start_line(reader: &TextReader, record: &Record) -> u64 {
    let breaks = record.as_slice().iter().filter(|&&b| b == b'\n').count() as u64;
    reader.line().saturating_sub(breaks + 1).max(1)
}

/// The record reader over a file's UTF-8 text.
type TextReader = records::Reader<Box<dyn Read + Send>>;

/// What follows the text beside the parser: the tracker, and the comment lines met.
type Followers = (Arc<Tracker>, Arc<CommentLines>);

/// A record's text without the blank and comment lines before it and the line break after it.
fn trim_record_text(raw: &mut Vec<u8>, comment: Option<u8>) {
    let mut lead = 0;
    loop {
        lead += raw[lead..].iter().take_while(|b| matches!(b, b'\n' | b'\r')).count();
        match raw.get(lead) {
            Some(&b) if Some(b) == comment => {
                lead += raw[lead..].iter().position(|&b| b == b'\n').map_or(raw.len() - lead, |i| i + 1);
            }
            _ => break,
        }
    }
    raw.drain(..lead);
    while raw.last().is_some_and(|b| matches!(b, b'\n' | b'\r')) {
        raw.pop();
    }
}

/// Cleans header names: strips a UTF-8 BOM, trims; an empty name becomes `column_<n>`, a repeated one
/// gets `_2`, `_3`, ... (with a warning).
fn header_names(name: &str, header: &Record) -> Result<Vec<String>> {
    let mut names: Vec<String> = Vec::with_capacity(header.len());
    let last = header.len().saturating_sub(1);
    for (i, raw) in header.iter().enumerate() {
        let raw = if i == 0 { raw.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(raw) } else { raw };
        let raw = if i == last { raw.strip_suffix(b"\r").unwrap_or(raw) } else { raw };
        let text = std::str::from_utf8(raw).map_err(|_| Error::Csv {
            source_name: name.to_owned(),
            line: 1,
            message: format!(
                "header field {} is not valid UTF-8; pass --encoding with the file's encoding",
                i + 1
            ),
        })?;
        names.push(text.to_owned());
    }
    Ok(column_names(name, names))
}

/// Column names as given, cleaned as a header's are: trimmed; an empty name becomes `column_<n>`, a
/// repeated one gets `_2`, `_3`, ... (with a warning naming the source `name`).
pub(super) fn column_names(name: &str, raw: Vec<String>) -> Vec<String> {
    let names = raw
        .into_iter()
        .enumerate()
        .map(|(i, text)| {
            let text = text.trim();
            if text.is_empty() {
                format!("column_{}", i + 1)
            } else {
                text.to_owned()
            }
        })
        .collect();
    dedupe(name, names)
}

/// `_2`, `_3`, ... for names seen before (with a warning).
fn dedupe(name: &str, raw: Vec<String>) -> Vec<String> {
    // Linear in the number of columns (a file of 100,000 repeated names is a header, not an attack
    // on the lock it holds): the names taken, and per name the next suffix worth trying. Names are
    // only ever added, so the smallest free suffix never goes below the last one chosen.
    let mut taken: std::collections::HashSet<String> = std::collections::HashSet::with_capacity(raw.len());
    let mut next: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    let mut names: Vec<String> = Vec::with_capacity(raw.len());
    let mut renamed = 0usize;
    for candidate in raw {
        let chosen = if taken.contains(&candidate) {
            let n = next.entry(candidate.clone()).or_insert(2);
            while taken.contains(&format!("{candidate}_{n}")) {
                *n += 1;
            }
            let chosen = format!("{candidate}_{n}");
            *n += 1;
            renamed += 1;
            if renamed <= SHOWN_RENAMES {
                tracing::warn!(
                    "{name}: column `{candidate}` appears more than once; the copy is named `{chosen}`"
                );
            }
            chosen
        } else {
            candidate
        };
        taken.insert(chosen.clone());
        names.push(chosen);
    }
    if renamed > SHOWN_RENAMES {
        tracing::warn!("{name}: {renamed} repeated column names in all, each renamed with `_2`, `_3`, ...");
    }
    names
}

/// Repeated column names warned about one by one; the rest are counted.
const SHOWN_RENAMES: usize = 10;

/// Column names as snake_case ASCII (`Input (w/ Cache Write)` → `input_w_cache_write`), for engines
/// that dislike spaces; a name left with nothing becomes `column_<n>`.
pub fn normalize_names(names: &[String]) -> Vec<String> {
    let raw: Vec<String> = names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let mut out = String::new();
            let mut prev_lower = false;
            for ch in name.chars() {
                if ch.is_ascii_alphanumeric() {
                    if ch.is_ascii_uppercase() && prev_lower && !out.ends_with('_') {
                        out.push('_');
                    }
                    prev_lower = ch.is_ascii_lowercase() || ch.is_ascii_digit();
                    out.push(ch.to_ascii_lowercase());
                } else {
                    prev_lower = false;
                    if !out.is_empty() && !out.ends_with('_') {
                        out.push('_');
                    }
                }
            }
            let out = out.trim_end_matches('_').to_owned();
            if out.is_empty() {
                format!("column_{}", i + 1)
            } else {
                out
            }
        })
        .collect();
    dedupe("normalized names", raw)
}

fn read_error(name: &str, e: &std::io::Error, line: u64) -> Error {
    Error::Csv { source_name: name.to_owned(), line, message: format!("cannot read the file: {e}") }
}

struct CsvReader {
    name: String,
    reader: TextReader,
    record: Record,
    columns: Vec<String>,
    /// The line after the last record read: a record starting further down skipped blank lines.
    next_line: u64,
    tracker: Arc<Tracker>,
    /// Where in the text the record being read starts (after the previous one).
    record_start: u64,
    delimiter: u8,
    /// The file's encoding, for messages.
    encoding: &'static str,
    bad_rows: BadRows,
    /// Whether each record's text is kept (to quarantine bad rows).
    capture: bool,
    header_line: Option<Vec<u8>>,
    rejects: Vec<Reject>,
    comment: Option<u8>,
    comments: Arc<CommentLines>,
    /// Records starting on this line or above are skipped (lines above a header-less file's data).
    skip_through: u64,
    /// Lines skipped above the header or the data, for the notes.
    skipped: u64,
    /// The rows skipped for holding no value at all (delimiters only), and the first lines of them,
    /// for the notes.
    empty_rows: (u64, Vec<u64>),
    detected: Detected,
}

/// The line numbers a note lists.
const LINES_SHOWN: usize = 8;

/// `line 4`, `lines 4, 9, 12`, `lines 4, 5, 6 and 120 more`: the first lines of `count`, for a note.
fn lines_list(count: u64, first: &[u64]) -> String {
    let shown: Vec<String> = first.iter().map(ToString::to_string).collect();
    let more = count.saturating_sub(first.len() as u64);
    format!(
        "line{} {}{}",
        if count == 1 { "" } else { "s" },
        shown.join(", "),
        if more > 0 { format!(" and {more} more") } else { String::new() }
    )
}

/// What is wrong with a record.
enum Fault {
    /// In the given column.
    Value(usize, String),
    Record(String),
}

impl CsvReader {
    /// Whether the record ending at `end` has a quote that never closes: it ends the text, and either
    /// it swallowed line breaks into its last field without the text ending in the closing quote, or
    /// (on one line) its last line leaves a quoted field open.
    fn unclosed_quote(&self, end: u64) -> bool {
        if self.tracker.text_len() != Some(end) {
            return false;
        }
        let multi_line = self.record.iter().next_back().is_some_and(|f| f.contains(&b'\n'));
        if multi_line {
            self.tracker.last_content() != b'"'
        } else {
            self.tracker.ends_unterminated_at(end) && self.tracker.last_line_leaves_quote_open(self.delimiter)
        }
    }

    /// What is wrong with the record that starts on `line`, if anything.
    fn check_record(&self, line: u64, unclosed: bool) -> Option<Fault> {
        let record = &self.record;
        if unclosed {
            return Some(Fault::Record(format!(
                "a quoted field opened on line {line} or after is never closed (a missing `\"`); the \
                 rest of the file would be one value"
            )));
        }
        if record.len() != self.columns.len() {
            return Some(Fault::Record(format!(
                "expected {} fields (as in the header), found {}; a field that contains the delimiter, \
                 a quote or a line break must be quoted",
                self.columns.len(),
                record.len()
            )));
        }
        // ASCII (most records) is UTF-8 whatever the split. Otherwise each field on its own: two
        // invalid halves can make a valid joined record (`\xC3,\xA9`).
        if record.as_slice().is_ascii() {
            return None;
        }
        record.iter().position(|field| std::str::from_utf8(field).is_err()).map(|col| {
            Fault::Value(
                col,
                format!(
                    "bytes that are not valid {}: the file mixes encodings, or is not in the one \
                     detected; pass --encoding with the file's encoding",
                    self.encoding
                ),
            )
        })
    }

    /// The first characters of the record, for messages.
    fn snippet(&self) -> String {
        let joined: Vec<String> =
            self.record.iter().map(|f| String::from_utf8_lossy(f).into_owned()).collect();
        let text = joined.join(&char::from(self.delimiter).to_string()).replace('\r', "");
        let text = crate::redact::printable(&text);
        match text.char_indices().nth(80) {
            Some((cut, _)) => format!("{}…", &text[..cut]),
            None => text.into_owned(),
        }
    }

    /// Handles a bad record as the policy says: an error, or a reject (with its text when
    /// quarantining).
    fn bad(&mut self, line: u64, fault: Fault, start: u64, end: u64) -> Result<()> {
        let (column, message) = match fault {
            Fault::Value(col, m) => (Some(self.columns[col].clone()), m),
            Fault::Record(m) => (None, m),
        };
        if self.bad_rows == BadRows::Fail {
            let message = format!(
                "{message} (the row: {}); pass --on-bad-rows skip or quarantine to load the other rows",
                self.snippet()
            );
            return Err(match column {
                Some(column) => Error::Value { source_name: self.name.clone(), line, column, message },
                None => Error::Csv { source_name: self.name.clone(), line, message },
            });
        }
        let mut raw = self.tracker.take_captured(start, end);
        trim_record_text(&mut raw, self.comment);
        let reason = match column {
            Some(column) => format!("column `{column}`: {message}"),
            None => message,
        };
        self.rejects.push(Reject { line, reason, raw, part: None });
        Ok(())
    }
}

impl BatchReader for CsvReader {
    fn columns(&self) -> &[String] {
        &self.columns
    }

    fn next_batch(&mut self, batch: &mut TextBatch, max_rows: usize) -> Result<bool> {
        batch.clear();
        while !batch.is_full(max_rows) {
            let more =
                self.reader.read(&mut self.record).map_err(|e| read_error(&self.name, &e, self.next_line))?;
            if !more {
                break;
            }
            // The record's first line, counted back from where it ended: csv's own record position
            // is where it started skipping blank lines, not where the record starts.
            let (end, after) = (self.reader.byte(), self.reader.line());
            let start = std::mem::replace(&mut self.record_start, end);
            self.tracker.record_starts(end, after);
            let text = self.record.as_slice();
            // Without quotes a record spans its fields, their delimiters and one `\n`, and holds no
            // line break; quotes or blank lines before it make the span longer, and then it is looked
            // at. (The text's last record may open a quote it never closes: always looked at.)
            let plain = end - start <= (text.len() + self.record.len()) as u64
                && self.tracker.text_len() != Some(end);
            let breaks = if !plain && text.contains(&b'\n') {
                text.iter().filter(|&&b| b == b'\n').count() as u64
            } else {
                0
            };
            let unclosed = self.unclosed_quote(end);
            // A record that is not followed by a line break: the last, or one whose unclosed quote
            // took the final line break into its field.
            let terminated = !self.tracker.ends_unterminated_at(end) && !unclosed;
            let line = after - breaks - u64::from(terminated);
            let fields = self.record.len();
            // The line's `\r` of a CRLF ending, if any, belongs to no field.
            let cr = self.record.get(fields - 1).is_some_and(|f| f.ends_with(b"\r"));
            let blank_crlf = fields == 1 && cr && self.record[0].len() == 1;
            if blank_crlf {
                // Skipped like a blank LF line (csv skips those itself); in a one-column file it is
                // an empty value once a record follows it.
                self.tracker.release(end);
                continue;
            }
            if line <= self.skip_through {
                self.tracker.release(end);
                self.next_line = after;
                continue;
            }
            // A row of delimiters only (`;;;;`, which Excel writes wherever formatting ran past the
            // data) holds no value at all: skipped and counted, like a blank line.
            let content = self.record.as_slice().len() - usize::from(cr);
            if fields > 1 && content == 0 {
                self.tracker.release(end);
                self.next_line = after;
                self.empty_rows.0 += 1;
                if self.empty_rows.1.len() < LINES_SHOWN {
                    self.empty_rows.1.push(line);
                }
                continue;
            }
            if self.columns.len() == 1 {
                // The csv parser skips blank lines; in a one-column file each one is an empty value
                // (trailing blank lines, with no record after them, stay ignored). Comment lines are
                // not values.
                for blank in self.next_line..line {
                    if self.comment.is_some() && self.comments.is_comment(blank) {
                        continue;
                    }
                    batch.push([&b""[..]], blank);
                    if self.capture {
                        batch.push_raw(b"");
                    }
                }
            }
            self.next_line = after;
            if let Some(fault) = self.check_record(line, unclosed) {
                self.bad(line, fault, start, end)?;
                continue;
            }
            if self.capture {
                let mut raw = self.tracker.take_captured(start, end);
                trim_record_text(&mut raw, self.comment);
                batch.push_raw(&raw);
            }
            let record = &self.record;
            let text = record.as_slice();
            let text = if cr { &text[..text.len() - 1] } else { text };
            let n = text.len();
            batch.push_packed(text, record.ends().iter().map(|&e| e.min(n)), line);
        }
        Ok(!batch.is_empty())
    }

    fn bytes_read(&self) -> u64 {
        self.tracker.file_bytes()
    }

    fn take_rejects(&mut self) -> Vec<Reject> {
        std::mem::take(&mut self.rejects)
    }

    fn header_line(&self) -> Option<&[u8]> {
        self.header_line.as_deref()
    }

    fn source_digest(&self) -> Option<(u64, String)> {
        self.tracker.file_digest()
    }

    fn notes(&self) -> Vec<String> {
        let mut notes = Vec::new();
        if self.skipped > 0 {
            let lines =
                if self.skipped == 1 { "line 1".to_owned() } else { format!("lines 1-{}", self.skipped) };
            let how = if self.detected.preamble {
                " (a title or blank rows, detected; --skip-rows 0 reads them)"
            } else {
                ""
            };
            let above = if self.skip_through > 0 { "the data" } else { "the header" };
            notes.push(format!("skipped {lines} above {above}{how}"));
        }
        if self.empty_rows.0 > 0 {
            notes.push(format!(
                "skipped {} with no value at all (only delimiters, as spreadsheets write past the \
                 data): {}",
                crate::summary::count(self.empty_rows.0, "row"),
                lines_list(self.empty_rows.0, &self.empty_rows.1)
            ));
        }
        if self.detected.no_header {
            notes.push(format!(
                "no header line (detected: the first line's values have the types of the values below \
                 them): columns named column_1 to column_{}; --header reads the first line as names",
                self.columns.len()
            ));
        }
        let comments = self.comments.count();
        if let (Some(c), true) = (self.comment, comments > 0) {
            let how = if self.detected.comment {
                " (detected; --comment-char none reads them as rows)"
            } else {
                ""
            };
            notes.push(format!(
                "skipped {} starting with `{}`{how}",
                crate::summary::count(comments, "comment line"),
                char::from(c)
            ));
        }
        notes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_names_take_the_smallest_free_suffix_in_linear_time() {
        let names = |list: &[&str]| dedupe("t", list.iter().map(|s| s.to_string()).collect());
        assert_eq!(names(&["a", "a", "a_3", "a"]), ["a", "a_2", "a_3", "a_4"]);
        assert_eq!(names(&["a", "a_2", "a", "b", "a"]), ["a", "a_2", "a_3", "b", "a_4"]);
        // 100,000 times the same name: once quadratic (minutes), now a blink.
        let many = dedupe("t", vec!["x".to_owned(); 100_000]);
        assert_eq!((many[1].as_str(), many[99_999].as_str()), ("x_2", "x_100000"));
    }

    fn read_all(content: &[u8]) -> Result<Vec<(u64, Vec<String>)>> {
        read_with(content, CsvOptions::default()).map(|(rows, _)| rows)
    }

    /// The rows (line, fields) and the rejects of a file with this content.
    type Rows = Vec<(u64, Vec<String>)>;

    fn read_with(content: &[u8], options: CsvOptions) -> Result<(Rows, Vec<Reject>)> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.csv");
        std::fs::write(&path, content).unwrap();
        let mut reader = CsvFile::new(&path, options)?.open()?;
        let mut batch = TextBatch::new(reader.columns().len());
        let mut out = Vec::new();
        while reader.next_batch(&mut batch, 2)? {
            for row in 0..batch.len() {
                out.push((
                    batch.line(row),
                    (0..batch.columns()).map(|c| batch.text(row, c).to_owned()).collect(),
                ));
            }
        }
        Ok((out, reader.take_rejects()))
    }

    fn line_of(err: Error) -> u64 {
        match err {
            Error::Csv { line, .. } | Error::Value { line, .. } => line,
            other => panic!("{other}"),
        }
    }

    #[test]
    fn line_numbers_count_crlf_blank_lines_and_quoted_breaks() {
        assert_eq!(line_of(read_all(b"a,b\r\n1,2\r\n3,4,5\r\n").unwrap_err()), 3);
        assert_eq!(line_of(read_all(b"a,b\n1,2\n\n3,4,5\n").unwrap_err()), 4);
        assert_eq!(line_of(read_all(b"a,b\n\"x\ny\",2\n3,4,5\n").unwrap_err()), 4);
        let rows = read_all(b"a,b\r\n1,2\r\n\"x\r\ny\",3\r\n").unwrap();
        assert_eq!(rows.iter().map(|r| r.0).collect::<Vec<_>>(), vec![2, 3]);
    }

    #[test]
    fn blank_lines_in_a_one_column_file_are_null_values() {
        let rows = read_all(b"a\n1\n\n2\n\n\n3\n\n").unwrap();
        let values: Vec<&str> = rows.iter().map(|r| r.1[0].as_str()).collect();
        assert_eq!(values, vec!["1", "", "2", "", "", "3"]);
        assert_eq!(rows.iter().map(|r| r.0).collect::<Vec<_>>(), vec![2, 3, 4, 5, 6, 7]);
    }

    #[test]
    fn crlf_blank_lines_count_like_lf_ones() {
        let rows = read_all(b"a\r\n1\r\n\r\n2\r\n\r\n").unwrap();
        let values: Vec<(u64, &str)> = rows.iter().map(|r| (r.0, r.1[0].as_str())).collect();
        assert_eq!(values, [(2, "1"), (3, ""), (4, "2")]);
        // A line holding only `""` is a value, not a blank line: one field where two are expected.
        assert_eq!(line_of(read_all(b"a,b\n1,2\n\"\"\n").unwrap_err()), 3);
    }

    #[test]
    fn split_invalid_utf8_is_caught_per_field() {
        let utf8 = CsvOptions { encoding: Some(encoding_rs::UTF_8), ..CsvOptions::default() };
        let err = read_with(b"a,b\n\xC3,\xA9\n", utf8).unwrap_err();
        assert!(matches!(err, Error::Value { line: 2, ref column, .. } if column == "a"), "{err}");
    }

    #[test]
    fn header_names_are_cleaned() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.csv");
        std::fs::write(&path, b"\xEF\xBB\xBF id , ,id,id\n1,2,3,4\n").unwrap();
        let reader = CsvFile::new(&path, CsvOptions::default()).unwrap().open().unwrap();
        assert_eq!(reader.columns(), ["id", "column_2", "id_2", "id_3"]);
    }

    #[test]
    fn names_normalize_to_snake_case() {
        let names: Vec<String> = ["Input (w/ Cache Write)", "userId", "東京", "Cost ($)", "cost"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(normalize_names(&names), ["input_w_cache_write", "user_id", "column_3", "cost", "cost_2"]);
    }

    #[test]
    fn bad_rows_fail_skip_or_quarantine() {
        let text = b"a,b\n1,2\n3,4,5\n6,7\n\"8,9\n10,11\n";
        let err = read_all(text).unwrap_err();
        assert!(err.to_string().contains(":3: expected 2 fields"), "{err}");
        assert!(err.to_string().contains("(the row: 3,4,5)"), "{err}");
        let skip = CsvOptions { bad_rows: BadRows::Skip, ..CsvOptions::default() };
        let (rows, rejects) = read_with(text, skip).unwrap();
        assert_eq!(rows.iter().map(|r| r.0).collect::<Vec<_>>(), [2, 4]);
        assert_eq!(rejects.iter().map(|r| r.line).collect::<Vec<_>>(), [3, 5]);
        assert!(rejects[1].reason.contains("never closed"), "{:?}", rejects[1]);
        assert!(rejects.iter().all(|r| r.raw.is_empty()));
        let quarantine = CsvOptions { bad_rows: BadRows::Quarantine, ..CsvOptions::default() };
        let (_, rejects) = read_with(text, quarantine).unwrap();
        let raw: Vec<&[u8]> = rejects.iter().map(|r| r.raw.as_slice()).collect();
        assert_eq!(raw, [&b"3,4,5"[..], &b"\"8,9\n10,11"[..]]);
    }

    /// Rows and notes of a file read with the default (detecting) options.
    fn read_noted(content: &[u8], options: CsvOptions) -> (Vec<String>, Rows, Vec<String>) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.csv");
        std::fs::write(&path, content).unwrap();
        let mut reader = CsvFile::new(&path, options).unwrap().open().unwrap();
        let mut batch = TextBatch::new(reader.columns().len());
        let mut rows = Vec::new();
        while reader.next_batch(&mut batch, 2).unwrap() {
            for row in 0..batch.len() {
                rows.push((
                    batch.line(row),
                    (0..batch.columns()).map(|c| batch.text(row, c).to_owned()).collect(),
                ));
            }
        }
        (reader.columns().to_vec(), rows, reader.notes())
    }

    fn row(line: u64, fields: &[&str]) -> (u64, Vec<String>) {
        (line, fields.iter().map(|f| f.to_string()).collect())
    }

    #[test]
    fn comment_lines_are_detected_skipped_and_counted() {
        let text = b"# Exported by Billing 4.2\n# 2026-11-30, all accounts\nid,name\n1,a\n# a note\n2,#b\n";
        let (columns, rows, notes) = read_noted(text, CsvOptions::default());
        assert_eq!(columns, ["id", "name"]);
        assert_eq!(rows, [row(4, &["1", "a"]), row(6, &["2", "#b"])]);
        assert_eq!(
            notes,
            ["skipped 3 comment lines starting with `#` (detected; --comment-char none reads them as rows)"]
        );
        // Switched off (and no preamble looked for), the first comment is the header.
        let off = CsvOptions {
            comment: Setting::Off,
            skip_rows: Some(0),
            bad_rows: BadRows::Skip,
            ..CsvOptions::default()
        };
        let (columns, _, _) = read_noted(text, off);
        assert_eq!(columns, ["# Exported by Billing 4.2"]);
        // In a one-column file a comment line is not a blank value.
        let one = CsvOptions { comment: Setting::Given(b'#'), ..CsvOptions::default() };
        let (_, rows, _) = read_noted(b"a\n1\n# c\n\n2\n", one);
        assert_eq!(rows, [row(2, &["1"]), row(4, &[""]), row(5, &["2"])]);
        // Only comments: said so, not "empty".
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.csv");
        std::fs::write(&path, b"# one, two\n# three\n").unwrap();
        let e = CsvFile::new(&path, CsvOptions::default()).unwrap().open().err().unwrap().to_string();
        assert!(e.contains("only comment lines (2 starting with `#`)"), "{e}");
    }

    #[test]
    fn quarantined_rows_leave_comment_lines_out() {
        let options = CsvOptions { bad_rows: BadRows::Quarantine, ..CsvOptions::default() };
        let (rows, rejects) =
            read_with(b"# about\n# this file, 2\na,b\n1,2\n# x\n3\n4,5\n", options).unwrap();
        assert_eq!(rows.iter().map(|r| r.0).collect::<Vec<_>>(), [4, 7]);
        assert_eq!(rejects.iter().map(|r| (r.line, r.raw.as_slice())).collect::<Vec<_>>(), [(6, &b"3"[..])]);
    }

    #[test]
    fn a_preamble_above_the_header_is_skipped_and_said() {
        let text = b"Usage report,,,\nGenerated 2026-11-30,,,\n,,,\nid,name,cost,day\n1,a,2,x\n2,b,3,y\n";
        let (columns, rows, notes) = read_noted(text, CsvOptions::default());
        assert_eq!(columns, ["id", "name", "cost", "day"]);
        assert_eq!(rows[0], row(5, &["1", "a", "2", "x"]));
        assert_eq!(notes, ["skipped lines 1-3 above the header (a title or blank rows, detected; --skip-rows 0 reads them)"]);
        // Given: as many lines as said, whatever they hold.
        let given = CsvOptions { skip_rows: Some(1), ..CsvOptions::default() };
        let (columns, rows, notes) = read_noted(b"Title\na,b\n1,2\n", given);
        assert_eq!((columns, rows.len()), (vec!["a".to_owned(), "b".to_owned()], 1));
        assert_eq!(notes, ["skipped line 1 above the header"]);
        let headless = CsvOptions { skip_rows: Some(2), header: Some(false), ..CsvOptions::default() };
        let (_, rows, _) = read_noted(b"Title\n\n1,2\n3,4\n", headless);
        assert_eq!(rows, [row(3, &["1", "2"]), row(4, &["3", "4"])]);
    }

    #[test]
    fn comma_and_space_separated_fields_are_read_without_the_space() {
        let text = b"id, name, note\n1, Smith, \"a, b\"\n2, Doe,  x\n";
        let (columns, rows, _) = read_noted(text, CsvOptions::default());
        assert_eq!(columns, ["id", "name", "note"]);
        assert_eq!(rows, [row(2, &["1", "Smith", "a, b"]), row(3, &["2", "Doe", " x"])]);
    }

    #[test]
    fn no_header_reads_the_first_line_as_data() {
        let options = CsvOptions { header: Some(false), ..CsvOptions::default() };
        let (rows, _) = read_with(b"\n1,NA\n2,x\n", options).unwrap();
        // Null tokens are the transform's business: the reader keeps the text.
        assert_eq!(
            rows,
            [(2, vec!["1".to_owned(), "NA".to_owned()]), (3, vec!["2".to_owned(), "x".to_owned()])]
        );
    }
}
