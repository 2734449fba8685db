//! Extractors: each source yields its records as [`TextBatch`]es of text fields.
//!
//! Text is the common ground of every source (CSV files, Domo's CSV export, a PostgreSQL `COPY`, JSON
//! flattened to fields); typing happens once, in [`crate::transform`]. A source can be opened more than
//! once, because whole-file type inference reads it twice (sources that cannot be re-read spool to a
//! local file first).

pub mod ahead;
pub mod api;
pub mod csv;
pub mod dialect;
pub mod domo;
pub mod filter;
pub mod growing;
pub mod input;
pub mod json;
pub mod objects;
pub mod page;
pub mod parts;
pub mod pgbinary;
pub mod postgres;
pub mod records;
pub mod sniff;

use crate::batch::{Reject, TextBatch};
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
    /// Opens a pass that only looks at values (type inference): bad rows are left out, but their
    /// text need not be kept.
    fn open_quiet(&self) -> Result<Box<dyn BatchReader>> {
        self.open()
    }
}

/// One pass over a source's records.
pub trait BatchReader: Send {
    /// Column names, cleaned (trimmed, unique, none empty).
    fn columns(&self) -> &[String];
    /// Clears `batch` and fills it with up to `max_rows` records; returns false at the end.
    fn next_batch(&mut self, batch: &mut TextBatch, max_rows: usize) -> Result<bool>;
    /// Bytes of the source consumed so far (for progress).
    fn bytes_read(&self) -> u64;
    /// The records left out since the last call (see [`crate::batch::BadRows`]).
    fn take_rejects(&mut self) -> Vec<Reject> {
        Vec::new()
    }
    /// The source's header line as written, when bad rows are being quarantined (their file starts
    /// with it).
    fn header_line(&self) -> Option<&[u8]> {
        None
    }
    /// The source's size and hex SHA-256, once a full pass has read it (for the manifest).
    fn source_digest(&self) -> Option<(u64, String)> {
        None
    }
    /// When the source is several files: the number and name of the one the last batch came from
    /// (its line numbers are that file's).
    fn part(&self) -> Option<(usize, &str)> {
        None
    }
    /// What the pass did that a person should know of, once it has ended (lines skipped above the
    /// header, comment lines), for the summary.
    fn notes(&self) -> Vec<String> {
        Vec::new()
    }
}
