//! A file read while it is being written: a download spooled to disk (a PostgreSQL COPY) is read
//! and typed as it arrives, instead of after it has all arrived. The writer says how far the file
//! is whole ([`Growing::wrote`]) and how it ended ([`Growing::finish`]); a [`Following`] reader
//! waits at the file's current end for more, and ends where the writer ended, or fails as it failed.

use std::fs::File;
use std::io::{self, Read};
use std::sync::{Arc, Condvar, Mutex};

/// How far a file being written is whole, and how its writing ended.
#[derive(Debug, Default)]
pub struct Growing {
    state: Mutex<State>,
    changed: Condvar,
}

#[derive(Debug, Default)]
struct State {
    written: u64,
    /// `None` while writing; the writer's error message, if it failed.
    ended: Option<Result<(), String>>,
}

impl Growing {
    /// The file holds `total` whole bytes now.
    pub fn wrote(&self, total: u64) {
        self.state.lock().expect("growing file").written = total;
        self.changed.notify_all();
    }

    /// The writer is done: every byte is written, or it failed with `result`'s message. Said
    /// twice, the first word stands.
    pub fn finish(&self, result: Result<(), String>) {
        self.state.lock().expect("growing file").ended.get_or_insert(result);
        self.changed.notify_all();
    }

    /// Waits until the file holds more than `position` bytes (`true`), or has ended at it (`false`).
    fn wait_beyond(&self, position: u64) -> io::Result<bool> {
        let mut state = self.state.lock().expect("growing file");
        loop {
            if state.written > position {
                return Ok(true);
            }
            match &state.ended {
                Some(Ok(())) => return Ok(false),
                Some(Err(message)) => return Err(io::Error::other(message.clone())),
                None => state = self.changed.wait(state).expect("growing file"),
            }
        }
    }
}

/// A reader of a file that `growing` says is still being written.
pub struct Following {
    file: File,
    position: u64,
    growing: Arc<Growing>,
}

impl Following {
    pub fn new(file: File, growing: Arc<Growing>) -> Self {
        Following { file, position: 0, growing }
    }
}

impl Read for Following {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            let n = self.file.read(buf)?;
            if n > 0 {
                self.position += n as u64;
                return Ok(n);
            }
            if !self.growing.wait_beyond(self.position)? {
                return Ok(0);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn a_reader_follows_the_writer_to_its_end_or_its_failure() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("spool");
        for fails in [false, true] {
            let growing = Arc::new(Growing::default());
            let mut out = File::create(&path).unwrap();
            let mut reader = Following::new(File::open(&path).unwrap(), growing.clone());
            let writer = {
                let growing = growing.clone();
                std::thread::spawn(move || {
                    for i in 0..50u64 {
                        out.write_all(format!("line {i}\n").as_bytes()).unwrap();
                        growing.wrote(out.metadata().unwrap().len());
                        std::thread::sleep(std::time::Duration::from_millis(1));
                    }
                    growing.finish(if fails { Err("the server went away".into()) } else { Ok(()) });
                })
            };
            let mut text = String::new();
            let read = reader.read_to_string(&mut text);
            writer.join().unwrap();
            if fails {
                assert_eq!(read.unwrap_err().to_string(), "the server went away");
            } else {
                read.unwrap();
                assert_eq!(text.lines().count(), 50);
                assert!(text.ends_with("line 49\n"));
            }
        }
    }
}
