//! CSV files: RFC 4180 quoting (delimiters, doubled quotes and line breaks inside quoted fields),
//! CRLF or LF, an optional UTF-8 byte-order mark.

use std::path::{Path, PathBuf};

use std::fs;

use super::{BatchReader, Extract, SourceInfo, TextBatch};
use crate::error::{Error, Result};

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
        Ok(CsvFile { path, options })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn name(&self) -> String {
        self.path.display().to_string()
    }
}

impl Extract for CsvFile {
    fn info(&self) -> SourceInfo {
        SourceInfo { kind: "csv", location: self.name() }
    }

    fn open(&self) -> Result<Box<dyn BatchReader>> {
        let file = fs::File::open(&self.path).map_err(|e| Error::io(&self.path, e))?;
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .delimiter(self.options.delimiter)
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
        Ok(Box::new(CsvReader { name, reader, record: csv::ByteRecord::new(), columns }))
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
        if let Err(e) = std::str::from_utf8(record.as_slice()) {
            let at = e.valid_up_to();
            let col = (0..record.len()).find(|&i| record.range(i).is_some_and(|r| r.end > at)).unwrap_or(0);
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
            let line = self.record.position().map_or(0, |p| p.line());
            self.check_record(line)?;
            batch.push(self.record.iter(), line);
        }
        Ok(!batch.is_empty())
    }

    fn bytes_read(&self) -> u64 {
        self.reader.position().byte()
    }
}
