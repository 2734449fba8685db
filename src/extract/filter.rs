//! A source seen through a row filter: only records whose column equals a value are kept (a catalog
//! entry's `exclude_filter`). Both passes, inference and loading, see the same rows, so a value in an
//! excluded row can never decide a column's type.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use super::{BatchReader, Extract, SourceInfo};
use crate::batch::TextBatch;
use crate::error::{Error, Result};

/// Keeps the records whose `column` equals `keep_value` exactly.
pub struct KeepRows {
    inner: Arc<dyn Extract>,
    column: String,
    keep_value: String,
    /// Records dropped by the latest complete pass.
    dropped: Arc<AtomicU64>,
}

impl KeepRows {
    pub fn new(inner: Arc<dyn Extract>, column: &str, keep_value: &str) -> Self {
        KeepRows {
            inner,
            column: column.to_owned(),
            keep_value: keep_value.to_owned(),
            dropped: Arc::new(AtomicU64::new(0)),
        }
    }

    /// What the filter keeps, for messages: `` `column` = "value" ``.
    pub fn describe(&self) -> String {
        format!("`{}` = {:?}", self.column, self.keep_value)
    }

    /// Records the filter dropped in the latest complete pass over the source.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

impl Extract for KeepRows {
    fn info(&self) -> SourceInfo {
        self.inner.info()
    }

    fn open(&self) -> Result<Box<dyn BatchReader>> {
        self.wrap(self.inner.open()?)
    }

    fn open_quiet(&self) -> Result<Box<dyn BatchReader>> {
        self.wrap(self.inner.open_quiet()?)
    }
}

impl KeepRows {
    fn wrap(&self, inner: Box<dyn BatchReader>) -> Result<Box<dyn BatchReader>> {
        let index = inner.columns().iter().position(|c| *c == self.column).ok_or_else(|| {
            Error::Usage(format!(
                "{}: the filter column `{}` is not in the data; its columns are: {}",
                self.inner.info().location,
                self.column,
                inner.columns().join(", ")
            ))
        })?;
        let columns = inner.columns().len();
        Ok(Box::new(KeepRowsReader {
            inner,
            index,
            keep_value: self.keep_value.clone(),
            scratch: TextBatch::new(columns),
            dropped: 0,
            total: self.dropped.clone(),
        }))
    }
}

struct KeepRowsReader {
    inner: Box<dyn BatchReader>,
    index: usize,
    keep_value: String,
    scratch: TextBatch,
    dropped: u64,
    total: Arc<AtomicU64>,
}

impl BatchReader for KeepRowsReader {
    fn columns(&self) -> &[String] {
        self.inner.columns()
    }

    fn next_batch(&mut self, batch: &mut TextBatch, max_rows: usize) -> Result<bool> {
        batch.clear();
        // Refill until some record is kept or the source ends, so a batch is only empty at the end.
        while batch.is_empty() {
            if !self.inner.next_batch(&mut self.scratch, max_rows)? {
                self.total.store(self.dropped, Ordering::Relaxed);
                return Ok(false);
            }
            for row in 0..self.scratch.len() {
                if self.scratch.field(row, self.index) == self.keep_value.as_bytes() {
                    batch.copy_row(&self.scratch, row);
                } else {
                    self.dropped += 1;
                }
            }
        }
        Ok(true)
    }

    fn bytes_read(&self) -> u64 {
        self.inner.bytes_read()
    }

    fn take_rejects(&mut self) -> Vec<crate::batch::Reject> {
        self.inner.take_rejects()
    }

    fn header_line(&self) -> Option<&[u8]> {
        self.inner.header_line()
    }

    fn source_digest(&self) -> Option<(u64, String)> {
        self.inner.source_digest()
    }
}
