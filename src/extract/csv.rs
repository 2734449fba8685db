//! CSV files: RFC 4180 quoting (delimiters, doubled quotes and line breaks inside quoted fields),
//! CRLF or LF, an optional UTF-8 byte-order mark.

use std::path::{Path, PathBuf};

use std::fs;

use super::{BatchReader, Extract, SourceInfo, TextBatch};
use crate::error::{Error, Result};

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

/// How to read a CSV file.
#[derive(Debug, Clone)]
pub struct CsvOptions {
    /// Field delimiter.
    pub delimiter: u8,
}

impl Default for CsvOptions {
    fn default() -> Self {
        CsvOptions { delimiter: b',' }
    }
}

/// A CSV file on the local disk.
#[derive(Debug, Clone)]
pub struct CsvFile {
    path: PathBuf,
    options: CsvOptions,
    /// How messages name the source, when the path alone would not tell a person what it is.
    display_name: Option<String>,
    kind: &'static str,
}

impl CsvFile {
    /// A CSV source; fails early, with the path, if the file cannot be opened.
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
        Ok(CsvFile { path, options, display_name: None, kind: "csv" })
    }

    /// Names the source `name` (of kind `kind`) in messages, instead of by its path: a download is
    /// better known by where it came from.
    pub fn named(self, kind: &'static str, name: impl Into<String>) -> Self {
        CsvFile { display_name: Some(name.into()), kind, ..self }
    }

    fn name(&self) -> String {
        self.display_name.clone().unwrap_or_else(|| self.path.display().to_string())
    }
}

impl Extract for CsvFile {
    fn info(&self) -> SourceInfo {
        SourceInfo { kind: self.kind, location: self.name() }
    }

    fn open(&self) -> Result<Box<dyn BatchReader>> {
        let file = fs::File::open(&self.path).map_err(|e| Error::io(&self.path, e))?;
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .delimiter(self.options.delimiter)
            // Records end at `\n` only, and a `\r` before it is stripped below: with csv's default
            // CRLF terminator the `\n` of `\r\n` is consumed with the next record, which puts every
            // line number of a CRLF file one line early.
            .terminator(csv::Terminator::Any(b'\n'))
            .buffer_capacity(1 << 20)
            .from_reader(file);
        let mut header = csv::ByteRecord::new();
        let name = self.name();
        let more = reader.read_byte_record(&mut header).map_err(|e| csv_error(&name, &e))?;
        if !more {
            return Err(Error::Csv {
                source_name: name,
                line: 1,
                message: "the file is empty: expected a header line with column names".into(),
            });
        }
        let columns = header_names(&name, &header)?;
        let next_line = reader.position().line();
        let (len, ends_with_newline) = file_end(&self.path)?;
        Ok(Box::new(CsvReader {
            name,
            reader,
            record: csv::ByteRecord::new(),
            columns,
            next_line,
            len,
            ends_with_newline,
        }))
    }
}

/// Cleans header names: strips a UTF-8 BOM, trims; an empty name becomes `column_<n>`, a repeated one
/// gets `_2`, `_3`, ... (with a warning).
fn header_names(name: &str, header: &csv::ByteRecord) -> Result<Vec<String>> {
    let mut names: Vec<String> = Vec::with_capacity(header.len());
    for (i, raw) in header.iter().enumerate() {
        let raw = if i == 0 { raw.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(raw) } else { raw };
        let text = std::str::from_utf8(raw).map_err(|_| Error::Csv {
            source_name: name.to_owned(),
            line: 1,
            message: format!("header field {} is not valid UTF-8; save the file as UTF-8", i + 1),
        })?;
        let text = text.trim();
        let mut candidate = if text.is_empty() { format!("column_{}", i + 1) } else { text.to_owned() };
        if names.contains(&candidate) {
            let mut n = 2;
            while names.contains(&format!("{candidate}_{n}")) {
                n += 1;
            }
            let renamed = format!("{candidate}_{n}");
            tracing::warn!(
                "{name}: column `{candidate}` appears more than once; the copy is named `{renamed}`"
            );
            candidate = renamed;
        }
        names.push(candidate);
    }
    Ok(names)
}

fn csv_error(name: &str, e: &csv::Error) -> Error {
    let line = e.position().map_or(0, |p| p.line());
    Error::Csv { source_name: name.to_owned(), line, message: e.to_string() }
}

struct CsvReader {
    name: String,
    reader: csv::Reader<fs::File>,
    record: csv::ByteRecord,
    columns: Vec<String>,
    /// The line after the last record read: a record starting further down skipped blank lines.
    next_line: u64,
    /// The file's size, and whether its last byte is a line break (to know whether the last record
    /// ended with one).
    len: u64,
    ends_with_newline: bool,
}

fn file_end(path: &Path) -> Result<(u64, bool)> {
    use std::io::{Read, Seek, SeekFrom};
    let mut file = fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let len = file.metadata().map_err(|e| Error::io(path, e))?.len();
    let mut last = [0u8];
    if len > 0 {
        file.seek(SeekFrom::End(-1))
            .and_then(|_| file.read_exact(&mut last))
            .map_err(|e| Error::io(path, e))?;
    }
    Ok((len, last[0] == b'\n'))
}

impl CsvReader {
    fn check_record(&self, line: u64) -> Result<()> {
        let record = &self.record;
        if record.len() != self.columns.len() {
            // A blank line is one empty field: csv skips those, but a lone space is not blank.
            return Err(Error::Csv {
                source_name: self.name.clone(),
                line,
                message: format!(
                    "expected {} fields (as in the header), found {}; a field that contains the \
                     delimiter, a quote or a line break must be quoted",
                    self.columns.len(),
                    record.len()
                ),
            });
        }
        // Each field on its own: two invalid halves can make a valid joined record (`\xC3,\xA9`).
        if let Some(col) = record.iter().position(|field| std::str::from_utf8(field).is_err()) {
            return Err(Error::Value {
                source_name: self.name.clone(),
                line,
                column: self.columns[col].clone(),
                message: "not valid UTF-8: the file is probably in a legacy encoding \
                          (Windows-1252, Latin-1, Shift_JIS); convert it to UTF-8 first, e.g. \
                          `iconv -f cp1252 -t utf-8 in.csv > out.csv`"
                    .into(),
            });
        }
        Ok(())
    }
}

impl BatchReader for CsvReader {
    fn columns(&self) -> &[String] {
        &self.columns
    }

    fn next_batch(&mut self, batch: &mut TextBatch, max_rows: usize) -> Result<bool> {
        batch.clear();
        while batch.len() < max_rows {
            let more =
                self.reader.read_byte_record(&mut self.record).map_err(|e| csv_error(&self.name, &e))?;
            if !more {
                break;
            }
            // The record's first line, counted back from where it ended: csv's own record position
            // is where it started skipping blank lines, not where the record starts.
            let end = self.reader.position();
            let after = end.line();
            let breaks = self.record.as_slice().iter().filter(|&&b| b == b'\n').count() as u64;
            let terminated = end.byte() < self.len || self.ends_with_newline;
            let line = after - breaks - u64::from(terminated);
            let fields = self.record.len();
            // The line's `\r` of a CRLF ending, if any, belongs to no field.
            let cr = self.record.get(fields - 1).is_some_and(|f| f.ends_with(b"\r"));
            if self.columns.len() == 1 {
                // The csv parser skips blank lines; in a one-column file each one is an empty value
                // (trailing blank lines, with no record after them, stay ignored).
                for blank in self.next_line..line {
                    batch.push([&b""[..]], blank);
                }
            } else if fields == 1 && self.record[0].len() == usize::from(cr) {
                // A blank CRLF line.
                self.next_line = after;
                continue;
            }
            self.next_line = after;
            self.check_record(line)?;
            let last = fields - 1;
            let record = &self.record;
            batch.push(
                record.iter().enumerate().map(|(i, f)| if i == last && cr { &f[..f.len() - 1] } else { f }),
                line,
            );
        }
        Ok(!batch.is_empty())
    }

    fn bytes_read(&self) -> u64 {
        self.reader.position().byte()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(content: &[u8]) -> Result<Vec<(u64, Vec<String>)>> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.csv");
        std::fs::write(&path, content).unwrap();
        let mut reader = CsvFile::new(&path, CsvOptions::default())?.open()?;
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
        Ok(out)
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
    fn split_invalid_utf8_is_caught_per_field() {
        let err = read_all(b"a,b\n\xC3,\xA9\n").unwrap_err();
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
}
