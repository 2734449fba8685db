//! A load as the monitoring sees it: when it begins ([`RunStart`]) and how it ended ([`RunEnd`]).

use std::time::SystemTime;

/// A load as the monitoring sees it when it begins.
#[derive(Debug, Clone)]
pub struct RunStart {
    /// `upload-csv`, `load-postgres`, ...
    pub command: &'static str,
    /// The job-file job (`etl run`).
    pub job: Option<String>,
    pub dataset: String,
    /// The run's id (`20261206T222756.703Z-27006dcc`).
    pub run_id: String,
    pub started: SystemTime,
    /// The source's kind (`csv`, `postgres`, `api`, `domo`, `s3`) and location as the run record
    /// keeps it (no secret).
    pub source_kind: String,
    pub source_location: String,
    /// The target's root URL (`s3://bucket/prefix/`, `/srv/lake/`).
    pub target: String,
}

/// How a load ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    /// Failed: bad input, a store error, a check, a held lock.
    Failed,
    /// Stopped by a signal.
    Cancelled,
}

/// A load as the monitoring sees it when it ends.
#[derive(Debug, Clone)]
pub struct RunEnd {
    pub outcome: Outcome,
    /// The process's exit code for this load alone (0, 1, 65, 75, 130, 143).
    pub exit_code: u8,
    pub error: Option<String>,
    pub mode: Option<String>,
    /// The columns and types the run wrote (`Int64`, `String`, ...).
    pub schema: Vec<(String, String)>,
    pub rows_read: u64,
    pub rows_written: u64,
    pub bytes: u64,
    pub files: u64,
    pub checks: Vec<crate::summary::CheckResult>,
    /// When the dataset was last published before this run (its manifest's `finished`).
    pub last_success: Option<SystemTime>,
    /// Whether this run made the dataset (it had no manifest).
    pub created: bool,
}
