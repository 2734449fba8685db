//! Several CSV files read as one source (the objects of a drop folder): the first file's header,
//! then every file's records in order. Every file must have the same columns; messages name the file
//! a record came from and its own line numbers.

use std::sync::Arc;

use super::csv::CsvFile;
use super::{BatchReader, Extract, SourceInfo};
use crate::batch::{Reject, TextBatch};
use crate::error::{Error, Result};

/// CSV files loaded together into one dataset.
pub struct CsvParts {
    kind: &'static str,
    location: String,
    parts: Arc<Vec<CsvFile>>,
}

impl CsvParts {
    /// `parts` in the order their records are read; `location` names them all (a glob).
    pub fn new(kind: &'static str, location: impl Into<String>, parts: Vec<CsvFile>) -> Self {
        CsvParts { kind, location: location.into(), parts: Arc::new(parts) }
    }

    fn reader(&self, quiet: bool) -> Result<Box<dyn BatchReader>> {
        let Some(first) = self.parts.first() else {
            return Err(Error::Internal("a source of no files".into()));
        };
        let current = open(first, quiet)?;
        Ok(Box::new(PartsReader {
            parts: self.parts.clone(),
            quiet,
            index: 0,
            columns: current.columns().to_vec(),
            header: current.header_line().map(<[u8]>::to_vec),
            name: first.info().location,
            current,
            bytes_before: 0,
            pending: Vec::new(),
            notes: Vec::new(),
        }))
    }
}

impl Extract for CsvParts {
    fn info(&self) -> SourceInfo {
        SourceInfo { kind: self.kind, location: self.location.clone() }
    }

    fn open(&self) -> Result<Box<dyn BatchReader>> {
        self.reader(false)
    }

    fn open_quiet(&self) -> Result<Box<dyn BatchReader>> {
        self.reader(true)
    }
}

/// A pass over `part`: its bytes are not hashed (a source of parts records no checksum; hashing a
/// PostgreSQL COPY's spool took 7 % of the load's CPU for nothing).
fn open(part: &CsvFile, quiet: bool) -> Result<Box<dyn BatchReader>> {
    match quiet {
        true => part.open_quiet(),
        false => part.open_unhashed(),
    }
}

/// A pass over every part, one file open at a time. A batch never spans two files.
struct PartsReader {
    parts: Arc<Vec<CsvFile>>,
    quiet: bool,
    index: usize,
    columns: Vec<String>,
    header: Option<Vec<u8>>,
    /// The current file's name.
    name: String,
    current: Box<dyn BatchReader>,
    /// Bytes of the files before the current one.
    bytes_before: u64,
    /// Rejects of the files before the current one, not yet taken.
    pending: Vec<Reject>,
    /// The notes of the files before the current one, each with its file's name.
    notes: Vec<String>,
}

impl PartsReader {
    fn note(&mut self, notes: Vec<String>) {
        let name = &self.name;
        self.notes.extend(notes.into_iter().map(|n| format!("{name}: {n}")));
    }

    /// The current file's rejects, each saying which file it is in.
    fn tagged_rejects(&mut self) -> Vec<Reject> {
        let part = (self.index, self.name.clone());
        let mut rejects = self.current.take_rejects();
        for r in &mut rejects {
            r.part = Some(part.clone());
        }
        rejects
    }
}

impl BatchReader for PartsReader {
    fn columns(&self) -> &[String] {
        &self.columns
    }

    fn next_batch(&mut self, batch: &mut TextBatch, max_rows: usize) -> Result<bool> {
        loop {
            if self.current.next_batch(batch, max_rows)? {
                return Ok(true);
            }
            if self.index + 1 >= self.parts.len() {
                return Ok(false);
            }
            let mut left = self.tagged_rejects();
            self.pending.append(&mut left);
            self.note(self.current.notes());
            self.index += 1;
            let part = &self.parts[self.index];
            self.bytes_before += self.current.bytes_read();
            self.current = open(part, self.quiet)?;
            self.name = part.info().location;
            if self.current.columns() != self.columns.as_slice() {
                return Err(Error::Csv {
                    source_name: self.name.clone(),
                    line: 1,
                    message: format!(
                        "its columns ({}) differ from those of {} ({}); files loaded together must \
                         have the same header",
                        self.current.columns().join(", "),
                        self.parts[0].info().location,
                        self.columns.join(", ")
                    ),
                });
            }
        }
    }

    fn bytes_read(&self) -> u64 {
        self.bytes_before + self.current.bytes_read()
    }

    fn take_rejects(&mut self) -> Vec<Reject> {
        let mut rejects = std::mem::take(&mut self.pending);
        rejects.append(&mut self.tagged_rejects());
        rejects
    }

    fn header_line(&self) -> Option<&[u8]> {
        self.header.as_deref()
    }

    fn part(&self) -> Option<(usize, &str)> {
        Some((self.index, &self.name))
    }

    fn notes(&self) -> Vec<String> {
        let name = &self.name;
        let current = self.current.notes().into_iter().map(|n| format!("{name}: {n}"));
        self.notes.iter().cloned().chain(current).collect()
    }
}
