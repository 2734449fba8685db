//! SIGINT and SIGTERM (Ctrl-C, cron's or CI's timeout): noted, then seen by every long-running step at
//! its next check, which stops the run the clean way: staging folders removed, multipart uploads
//! aborted, the dataset's lock released, nothing deleted that was not replaced. A second signal stops
//! the process at once.

use std::sync::atomic::{AtomicI32, Ordering};

static SIGNAL: AtomicI32 = AtomicI32::new(0);

/// Starts listening for SIGINT and SIGTERM (call from within the async runtime).
pub fn listen() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        // Registered here, before any work starts, not in the task (which may run later).
        let (Ok(mut interrupt), Ok(mut terminate)) =
            (signal(SignalKind::interrupt()), signal(SignalKind::terminate()))
        else {
            tracing::warn!("cannot listen for SIGINT and SIGTERM: a signal will stop the run abruptly");
            return;
        };
        watch_parent();
        tokio::spawn(async move {
            loop {
                let signo = tokio::select! {
                    _ = interrupt.recv() => 2,
                    _ = terminate.recv() => 15,
                };
                if SIGNAL.swap(signo, Ordering::SeqCst) != 0 {
                    crate::logging::eprint_lines(&format!("etl: {} again: stopping now", name(signo)));
                    std::process::exit(128 + signo);
                }
                tracing::warn!(
                    "{} received: stopping at the next safe point (uploads aborted, lock released); send it \
                 again to stop at once",
                    name(signo)
                );
            }
        });
    }
}

/// With `ETL_STOP_WITH_PARENT=1` (the units `etl schedule export` writes set it), a run whose
/// parent process is gone (a scheduler's task killed, even with SIGKILL, which it could not pass on)
/// stops as on SIGTERM rather than run on unwatched with the dataset's lock.
#[cfg(unix)]
fn watch_parent() {
    if std::env::var("ETL_STOP_WITH_PARENT").ok().as_deref() != Some("1") {
        return;
    }
    let parent = std::os::unix::process::parent_id();
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(std::time::Duration::from_millis(250)).await;
            if std::os::unix::process::parent_id() != parent {
                if SIGNAL.compare_exchange(0, 15, Ordering::SeqCst, Ordering::SeqCst).is_ok() {
                    tracing::warn!(
                        "the process that started etl (pid {parent}) is gone: stopping at the next safe point \
                         (ETL_STOP_WITH_PARENT)"
                    );
                }
                return;
            }
        }
    });
}

/// The signal received, if any.
pub fn requested() -> Option<i32> {
    match SIGNAL.load(Ordering::SeqCst) {
        0 => None,
        signo => Some(signo),
    }
}

/// A run stopped by SIGINT or SIGTERM: the one value every layer (the store, a source, the pipeline)
/// stops with, so that the edge knows the signal whatever error it surfaced as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Interrupted(pub i32);

impl Interrupted {
    /// The exit code of a process stopped by this signal: 130 for SIGINT, 143 for SIGTERM.
    pub fn exit_code(self) -> u8 {
        128 + self.0 as u8
    }
}

impl std::fmt::Display for Interrupted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "stopped by {}", name(self.0))
    }
}

impl std::error::Error for Interrupted {}

/// `Err(Interrupted)` once a signal has been received.
pub fn check() -> Result<(), Interrupted> {
    match requested() {
        Some(signo) => Err(Interrupted(signo)),
        None => Ok(()),
    }
}

/// Waits for `duration`, or less when a signal comes; returns the signal, if one came.
pub async fn sleep(duration: std::time::Duration) -> Option<i32> {
    tokio::time::timeout(duration, wait()).await.ok()
}

/// Waits until a signal comes (checked every 100 ms); returns it.
pub async fn wait() -> i32 {
    loop {
        if let Some(signo) = requested() {
            return signo;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// `SIGINT`, `SIGTERM`.
pub fn name(signo: i32) -> &'static str {
    match signo {
        2 => "SIGINT",
        15 => "SIGTERM",
        _ => "a signal",
    }
}
