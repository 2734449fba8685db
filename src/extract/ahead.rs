//! A reader on a thread of its own, a few batches ahead of whoever consumes them: parsing the CSV
//! (one core) overlaps typing and encoding (the other), instead of taking turns with them.

use std::sync::mpsc::{sync_channel, Receiver, SyncSender};

use super::BatchReader;
use crate::batch::{Reject, TextBatch};
use crate::error::Result;

/// Batches read ahead: enough to keep both sides busy, few enough to keep memory flat.
const AHEAD: usize = 2;

/// What the reading thread hands over.
enum Message {
    Batch { batch: TextBatch, rejects: Vec<Reject>, bytes: u64, part: Option<(usize, String)> },
    End { rejects: Vec<Reject>, bytes: u64, digest: Option<(u64, String)>, notes: Vec<String> },
}

/// Reads `inner` on its own thread; behaves as the reader it wraps.
pub struct ReadAhead {
    columns: Vec<String>,
    header: Option<Vec<u8>>,
    batches: Receiver<Result<Message>>,
    /// Emptied batches go back to the reading thread, to be filled again.
    spare: SyncSender<TextBatch>,
    rejects: Vec<Reject>,
    bytes: u64,
    digest: Option<(u64, String)>,
    notes: Vec<String>,
    /// The file the last batch came from (see [`BatchReader::part`]).
    part: Option<(usize, String)>,
    done: bool,
}

impl ReadAhead {
    /// Starts reading `inner` in batches of `max_rows` on a new thread.
    pub fn new(mut inner: Box<dyn BatchReader>, max_rows: usize) -> Self {
        let columns = inner.columns().to_vec();
        let header = inner.header_line().map(<[u8]>::to_vec);
        let (tx, batches) = sync_channel::<Result<Message>>(AHEAD);
        let (spare, spares) = sync_channel::<TextBatch>(AHEAD + 2);
        let width = columns.len();
        std::thread::spawn(move || loop {
            let mut batch = spares.try_recv().unwrap_or_else(|_| TextBatch::new(width));
            let message = crate::signals::check()
                .map_err(Into::into)
                .and_then(|()| inner.next_batch(&mut batch, max_rows))
                .map(|more| {
                    let rejects = inner.take_rejects();
                    let bytes = inner.bytes_read();
                    if more {
                        let part = inner.part().map(|(i, name)| (i, name.to_owned()));
                        Message::Batch { batch, rejects, bytes, part }
                    } else {
                        Message::End { rejects, bytes, digest: inner.source_digest(), notes: inner.notes() }
                    }
                });
            let last = !matches!(message, Ok(Message::Batch { .. }));
            // The consumer is gone (an error, a signal): stop reading.
            if tx.send(message).is_err() || last {
                return;
            }
        });
        ReadAhead {
            columns,
            header,
            batches,
            spare,
            rejects: Vec::new(),
            bytes: 0,
            digest: None,
            notes: Vec::new(),
            part: None,
            done: false,
        }
    }
}

impl BatchReader for ReadAhead {
    fn columns(&self) -> &[String] {
        &self.columns
    }

    fn next_batch(&mut self, batch: &mut TextBatch, _max_rows: usize) -> Result<bool> {
        batch.clear();
        if self.done {
            return Ok(false);
        }
        let message = self
            .batches
            .recv()
            .map_err(|_| crate::Error::Internal("the reading thread stopped without a word".into()))??;
        match message {
            Message::Batch { batch: mut filled, rejects, bytes, part } => {
                self.part = part;
                std::mem::swap(batch, &mut filled);
                filled.clear();
                let _ = self.spare.try_send(filled);
                self.rejects.extend(rejects);
                self.bytes = bytes;
                Ok(true)
            }
            Message::End { rejects, bytes, digest, notes } => {
                self.notes = notes;
                self.rejects.extend(rejects);
                self.bytes = bytes;
                self.digest = digest;
                self.done = true;
                Ok(false)
            }
        }
    }

    fn bytes_read(&self) -> u64 {
        self.bytes
    }

    fn take_rejects(&mut self) -> Vec<Reject> {
        std::mem::take(&mut self.rejects)
    }

    fn header_line(&self) -> Option<&[u8]> {
        self.header.as_deref()
    }

    fn source_digest(&self) -> Option<(u64, String)> {
        self.digest.clone()
    }

    fn part(&self) -> Option<(usize, &str)> {
        self.part.as_ref().map(|(i, name)| (*i, name.as_str()))
    }

    fn notes(&self) -> Vec<String> {
        self.notes.clone()
    }
}
