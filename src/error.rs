//! Typed errors of the library. Each message says what went wrong and, where it can, what to do.

use std::path::PathBuf;

use crate::signals::Interrupted;
use crate::store::StoreError;

/// Result alias used throughout the library.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can make a run fail.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The dataset id is not usable as a key segment.
    #[error("invalid dataset id `{id}`: {reason}")]
    InvalidDatasetId { id: String, reason: String },

    /// Arguments that parse but do not make sense together, or name things that are not there.
    #[error("{0}")]
    Usage(String),

    /// A dataset catalog (YAML) is malformed; the message names the entry and the field.
    #[error("{path}: {message}")]
    Config { path: PathBuf, message: String },

    /// A remote source (Domo, an HTTP API) failed or refused the request.
    #[error("{source_name}: {message}")]
    Remote { source_name: String, message: String },

    /// The run stopped rather than publish something that would lose data (an empty export over a
    /// full dataset, a filter that kept nothing).
    #[error("{0}")]
    Refused(String),

    /// A data-quality check at severity error failed: nothing was published (exit 65). The summary
    /// of the run (with every check's outcome) goes with it.
    #[error("{message}")]
    Checks { message: String, summary: Box<crate::summary::Summary> },

    /// SIGINT or SIGTERM stopped the run.
    #[error("{0}: nothing half-written is visible (uploads aborted, the lock released)")]
    Interrupted(Interrupted),

    /// Another run holds the dataset's lock.
    #[error("{0}")]
    Locked(String),

    /// A file could not be read or written.
    // The cause is part of the message, not a `source()`: `{:#}` would print it twice.
    #[error("{path}: {error}")]
    Io { path: PathBuf, error: std::io::Error },

    /// The CSV input is malformed at a known place.
    #[error("{source_name}:{line}: {message}")]
    Csv { source_name: String, line: u64, message: String },

    /// A value does not fit the type its column was given.
    #[error("{source_name}:{line}: column `{column}`: {message}")]
    Value { source_name: String, line: u64, column: String, message: String },

    /// The partition column is missing or cannot be turned into a day.
    #[error("partition column `{column}`: {message}")]
    Partition { column: String, message: String },

    /// Encoding Parquet failed.
    #[error("writing Parquet: {0}")]
    Parquet(polars::error::PolarsError),

    /// The object store failed.
    #[error(transparent)]
    Store(#[from] StoreError),

    /// A bug: something that should not happen did.
    #[error("internal error: {0} (please report this)")]
    Internal(String),

    /// The user declined a confirmation prompt: nothing done, and nothing failed (exit 0).
    #[error("cancelled: nothing was deleted")]
    Cancelled,

    /// Standard output was closed by its reader (`| head`): the command stops quietly (exit 0).
    #[error("standard output was closed")]
    ClosedOutput,
}

/// Every exit code of every command, as `--help` and docs/commands.md list them.
pub const EXIT_CODES: [(u8, &str); 7] = [
    (
        0,
        "success; also nothing to do, a cancelled confirmation, or output closed by its reader (`| head`); \
         also a run published whose cleanup after the commit point failed (a warning says what was left, \
         which the next run or `etl repair` removes)",
    ),
    (1, "the run failed: nothing was published, the previous data is in place"),
    (
        2,
        "bad usage: an unknown option, an invalid dataset id or target, a missing file, column or dataset, a \
         catalog or job-file error, missing credentials",
    ),
    (
        65,
        "a data-quality check (--check, `checks:`) failed at severity error: nothing was published, the \
         previous data is in place; rows that broke a row check are in the dataset's _rejects/<run-id>.csv \
         (EX_DATAERR)",
    ),
    (75, "another run holds the dataset's lock: try again later (EX_TEMPFAIL)"),
    (130, "stopped by SIGINT (Ctrl-C): nothing half-written is visible"),
    (143, "stopped by SIGTERM: nothing half-written is visible"),
];

/// [`EXIT_CODES`] as the text `--help` ends with.
pub fn exit_codes_help() -> String {
    // Wrapped by hand, each line under the meaning's column (clap leaves after-help text as it is).
    const WIDTH: usize = 100 - 7;
    let mut out = String::from("Exit codes:\n");
    for (code, meaning) in EXIT_CODES {
        let mut line = format!("  {code:>3} ");
        let mut used = 0;
        for word in meaning.split(' ') {
            if used > 0 && used + 1 + word.len() > WIDTH {
                line += &format!("\n{:6}", "");
                used = 0;
            }
            line += " ";
            line += word;
            used += word.len() + 1;
        }
        out += &line;
        out += "\n";
    }
    out
}

impl Error {
    /// Whether this is bad usage (exit code 2) rather than a failed run (exit code 1).
    pub fn is_usage(&self) -> bool {
        matches!(self, Error::InvalidDatasetId { .. } | Error::Usage(_) | Error::Config { .. })
            || matches!(self, Error::Store(e) if e.is_usage())
    }

    /// The process exit code for this error: 2 bad usage, 65 (EX_DATAERR) a failed check, 75 (EX_TEMPFAIL: try again later) another
    /// run holds the dataset, 130 / 143 stopped by SIGINT / SIGTERM, 1 any other failure.
    pub fn exit_code(&self) -> u8 {
        match self {
            e if e.is_usage() => 2,
            Error::Locked(_) => 75,
            Error::Checks { .. } => 65,
            Error::Cancelled | Error::ClosedOutput => 0,
            e => e.interrupted().map_or(1, Interrupted::exit_code),
        }
    }

    /// The signal that stopped the run, whichever layer it surfaced in.
    pub fn interrupted(&self) -> Option<Interrupted> {
        match self {
            Error::Interrupted(signal) | Error::Store(StoreError::Interrupted(signal)) => Some(*signal),
            _ => None,
        }
    }

    /// An I/O error that names its path.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io { path: path.into(), error: source }
    }
}

/// By hand rather than `#[from]`, which would also make the signal a `source()` that `{:#}` prints a
/// second time.
impl From<Interrupted> for Error {
    fn from(signal: Interrupted) -> Self {
        Error::Interrupted(signal)
    }
}

/// By hand rather than `#[from]`, which would also make the polars error a `source()` that `{:#}`
/// prints a second time.
impl From<polars::error::PolarsError> for Error {
    fn from(e: polars::error::PolarsError) -> Self {
        Error::Parquet(e)
    }
}
