//! What a person (or a machine) sees at the end of a run: one summary line (the progress display
//! while it works is [`crate::progress`]).

use std::io::Write;
use std::time::Instant;

use crate::logging::LogFormat;

/// `1.5 MiB`, `812 B`.
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// How a run (or one dataset of it) ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    Ok,
    /// `--dry-run`: planned, nothing written.
    DryRun,
    Failed,
    /// Stopped by a signal, or a confirmation declined.
    Cancelled,
}

impl Status {
    /// `ok`, `dry-run`, `failed`, `cancelled`.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::DryRun => "dry-run",
            Status::Failed => "failed",
            Status::Cancelled => "cancelled",
        }
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The one line every run ends with.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Summary {
    pub command: &'static str,
    /// The job of a job file `etl run` ran (`--job NAME`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub job: Option<String>,
    pub status: Status,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dataset: Option<String>,
    /// The run's id (its record is `datasets/<id>/_runs/<run-id>.json`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
    pub rows_read: u64,
    pub rows_written: u64,
    pub partitions: usize,
    pub files: usize,
    pub bytes: u64,
    /// Of `files`, those whose bytes were already stored (not uploaded again).
    pub unchanged: usize,
    /// Objects deleted: replaced by this run, or cleared.
    pub deleted: usize,
    pub seconds: f64,
    pub target: String,
    /// Where the seconds went (one load): shown at `-v` and in the JSON summary.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phases: Option<Phases>,
    /// One entry per dataset, for commands that load several (`--all`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub datasets: Vec<DatasetOutcome>,
    /// Extra facts worth a glance ("Cost: 12 values Included/Free/- made null").
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// What an upsert did to the dataset's rows.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upserted: Option<Upserted>,
    /// The outcome of each data-quality check the run declared (`--check`, `checks:`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub checks: Vec<CheckResult>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The process exit code when it is not the status's usual one (a batch stopped by a signal, or
    /// whose failures were all held locks).
    #[serde(skip)]
    pub exit_code: Option<u8>,
}

impl Summary {
    /// A summary with nothing done yet.
    pub fn new(command: &'static str, target: String) -> Self {
        Summary {
            command,
            job: None,
            status: Status::Ok,
            dataset: None,
            run_id: None,
            rows_read: 0,
            rows_written: 0,
            partitions: 0,
            files: 0,
            bytes: 0,
            unchanged: 0,
            deleted: 0,
            seconds: 0.0,
            target,
            phases: None,
            datasets: Vec::new(),
            notes: Vec::new(),
            upserted: None,
            checks: Vec::new(),
            error: None,
            exit_code: None,
        }
    }

    /// The summary of a load of `dataset` (at `target`) that found nothing to do: nothing read or
    /// written, one note.
    pub fn nothing_done(
        command: &'static str,
        target: String,
        dataset: &str,
        started: Instant,
        note: String,
    ) -> Self {
        let mut summary = Summary::new(command, target);
        summary.dataset = Some(dataset.to_owned());
        summary.seconds = started.elapsed().as_secs_f64();
        summary.notes.push(note);
        summary
    }

    /// Prints the summary on stderr, as text (dated when stderr is not a terminal) or as one JSON
    /// object with a `timestamp` and a `level` as every JSON log line has.
    pub fn print(&self, format: LogFormat) {
        match format {
            LogFormat::Json => {
                let line = serde_json::to_string(&serde_json::json!({
                    "timestamp": crate::logging::timestamp(),
                    "level": self.level(),
                    "event": "summary",
                    "summary": self,
                }))
                .expect("summary serialises");
                let _ = writeln!(std::io::stderr().lock(), "{}", crate::redact::redact(&line));
            }
            LogFormat::Text if self.datasets.is_empty() => crate::logging::eprint_lines(&self.text()),
            LogFormat::Text => {
                crate::logging::eprint_lines(&format!("{}{}", outcome_table(&self.datasets), self.text()))
            }
        }
    }

    /// The level of the summary's JSON line: `INFO` for a run that did what it was asked, `WARN` for
    /// one stopped, `ERROR` for one that failed.
    pub fn level(&self) -> &'static str {
        match self.status {
            Status::Ok | Status::DryRun if self.exit_code.is_none() => "INFO",
            Status::Cancelled => "WARN",
            _ => "ERROR",
        }
    }

    fn text(&self) -> String {
        let head = match &self.job {
            Some(job) => format!("etl {} \"{job}\": {}", self.command, self.status),
            None => format!("etl {}: {}", self.command, self.status),
        };
        let tail = format!("{:.2} s, target {}", self.seconds, self.target);
        let mut line = if self.command == "clear-dataset" {
            // A clear reads and writes no rows: it says what it deleted (or would, or found none).
            let objects = count(self.files as u64, "object");
            match (self.status, self.files, self.deleted) {
                // Refused or failed before it counted anything.
                (Status::Failed, 0, _) => format!("{head} after {tail}"),
                (_, 0, _) => format!("{head}: nothing to delete, {tail}"),
                (Status::DryRun, ..) => {
                    format!("{head}: would delete {objects} ({}), {tail}", human_bytes(self.bytes))
                }
                (_, _, deleted) if deleted > 0 => format!(
                    "{head}: deleted {} ({}), {tail}",
                    count(deleted as u64, "object"),
                    human_bytes(self.bytes)
                ),
                _ => format!("{head}: {objects} left as they were, {tail}"),
            }
        } else if matches!(self.command, "doctor" | "repair" | "convert" | "vacuum" | "compact")
            && self.status != Status::Failed
            || self.command == "status"
        {
            // No rows: what it found is in its notes (the checks' verdict; what was repaired).
            return format!("{head}: {}, {tail}", self.notes.join("; "));
        } else if self.status == Status::Failed && self.rows_read == 0 && self.files == 0 {
            // Nothing was done: no row counts to report.
            format!("{head} after {tail}")
        } else {
            let written = if self.status == Status::DryRun { "to write" } else { "written" };
            let mut line = format!(
                "{head}: {} read, {} {written}",
                count(self.rows_read, "row"),
                count(self.rows_written, "row")
            );
            // An unpartitioned dataset has no partitions to count.
            if self.partitions > 0 {
                line += &format!(", {}", count(self.partitions as u64, "partition"));
            }
            line += &format!(", {} ({})", count(self.files as u64, "file"), human_bytes(self.bytes));
            if self.unchanged > 0 {
                line += &format!(", {} unchanged (not uploaded)", thousands(self.unchanged as u64));
            }
            if self.deleted > 0 {
                line += &format!(", {} deleted", count(self.deleted as u64, "object"));
            }
            format!("{line}, {tail}")
        };
        for note in &self.notes {
            line += &format!("; {note}");
        }
        if !self.checks.is_empty() {
            line += &format!("; checks: {}", checks_verdict(&self.checks));
            // A failed run's error line has named its failed checks already.
            let said = |c: &&CheckResult| self.status == Status::Failed && c.status == CheckStatus::Failed;
            for check in self.checks.iter().filter(|c| c.broken() && !said(c)) {
                line += &format!("; {}", check.describe());
            }
        }
        line
    }
}

/// What an upsert did to the dataset's rows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Upserted {
    /// Keys the dataset did not hold.
    pub inserted: u64,
    /// Keys it held, whose row this run replaced.
    pub updated: u64,
    /// Of those, rows that moved to another partition (deleted from their old one).
    pub moved: u64,
    /// Rows of this run that a later row of the same key (or a higher --dedup-by) replaced.
    pub superseded: u64,
    /// Partitions rewritten (or emptied).
    pub partitions: usize,
    /// Keys it held whose row this run brought again as it was: the rewritten files came out byte
    /// for byte as they were (a re-run of the same input).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub unchanged: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl Upserted {
    /// The counts once the publish knows whether the rewritten files came out as they were
    /// (`same`): then no key's row changed, and its `updated` are `unchanged`.
    pub fn settled(self, same: bool) -> Self {
        match same && self.inserted == 0 && self.moved == 0 {
            true => Upserted { unchanged: self.updated, updated: 0, ..self },
            false => self,
        }
    }

    /// `100 inserted, 900 updated (12 moved to another day)`.
    pub fn describe(&self) -> String {
        if self.unchanged > 0 && self.updated == 0 && self.inserted == 0 {
            return format!(
                "nothing changed: the dataset held the rows of all {} already",
                count(self.unchanged, "key")
            );
        }
        let mut text = format!("{} inserted, {} updated", thousands(self.inserted), thousands(self.updated));
        if self.moved > 0 {
            text.push_str(&format!(" ({} moved to another day)", thousands(self.moved)));
        }
        if self.superseded > 0 {
            text.push_str(&format!(
                "; {} of this run gave way to a later one of the same key",
                count(self.superseded, "row")
            ));
        }
        text
    }
}

/// How much a failed check matters: an error publishes nothing (exit 65), a warning publishes and is
/// counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    #[default]
    Error,
    Warn,
}

/// How a check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CheckStatus {
    Passed,
    /// Failed at severity error: nothing published.
    Failed,
    /// Failed at severity warn: published, and counted.
    Warned,
    /// Nothing to judge by (no previous run to compare with).
    Skipped,
}

/// One data-quality check's outcome: in the summary, the run record, `etl inspect`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CheckResult {
    /// `not_null(Date)`, `unique(Date, User)`, `row_count_change`.
    pub check: String,
    pub severity: Severity,
    pub status: CheckStatus,
    /// Rows that broke it (row checks).
    #[serde(default)]
    pub rows: u64,
    /// Up to five of them: `line 12: "Foo"` (never the value of a sensitive column).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub examples: Vec<String>,
    /// What was measured: `newest 2026-10-31T22:57:15Z, 1 h before 2026-11-01T00:00:00Z (at most 2d)`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub detail: String,
}

impl CheckResult {
    /// Whether it failed (at either severity).
    pub fn broken(&self) -> bool {
        matches!(self.status, CheckStatus::Failed | CheckStatus::Warned)
    }

    /// `not_null(Date) failed: 3 rows (line 4, line 9); ...` for a summary note or an error.
    pub fn describe(&self) -> String {
        let verdict = match self.status {
            CheckStatus::Passed => "passed",
            CheckStatus::Failed => "failed",
            CheckStatus::Warned => "failed (warning)",
            CheckStatus::Skipped => "skipped",
        };
        let mut text = format!("{} {verdict}", self.check);
        let mut parts = Vec::new();
        if self.rows > 0 {
            parts.push(count(self.rows, "row"));
        }
        if !self.detail.is_empty() {
            parts.push(self.detail.clone());
        }
        if !parts.is_empty() {
            text += &format!(": {}", parts.join(", "));
        }
        if !self.examples.is_empty() {
            text += &format!(" (e.g. {})", self.examples.join(", "));
        }
        text
    }
}

/// `5 passed`, `1 failed, 4 passed`: the checks of a run in a few words, for `etl runs`.
pub fn checks_verdict(checks: &[CheckResult]) -> String {
    if checks.is_empty() {
        return "-".into();
    }
    let n = |status: CheckStatus| checks.iter().filter(|c| c.status == status).count();
    let parts: Vec<String> = [
        (CheckStatus::Failed, "failed"),
        (CheckStatus::Warned, "warned"),
        (CheckStatus::Passed, "passed"),
        (CheckStatus::Skipped, "skipped"),
    ]
    .iter()
    .filter(|(s, _)| n(*s) > 0)
    .map(|(s, word)| format!("{} {word}", n(*s)))
    .collect();
    parts.join(", ")
}

/// `n` with thousands separators: `10,000,000`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, d) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(d);
    }
    out
}

/// `1 row`, `2 rows`, `10,000 rows`.
pub fn count(n: u64, noun: &str) -> String {
    format!("{} {noun}{}", thousands(n), if n == 1 { "" } else { "s" })
}

/// The seconds of one load, by phase: downloads before the rows are read (a REST API's pages, a Domo
/// export, S3 objects); reading, typing and staging (a PostgreSQL COPY streams during it); and
/// publishing (uploads, the run record, the manifest, deletes) or planning a dry run.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct Phases {
    pub extract: f64,
    pub typing: f64,
    pub publish: f64,
}

/// How one dataset of a multi-dataset run went.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DatasetOutcome {
    /// The catalog entry's name.
    pub name: String,
    pub dataset: String,
    pub status: Status,
    pub rows: u64,
    pub partitions: usize,
    pub seconds: f64,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub checks: Vec<CheckResult>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

fn outcome_table(outcomes: &[DatasetOutcome]) -> String {
    let rows: Vec<Vec<String>> = outcomes
        .iter()
        .map(|o| {
            let failed = o.status == Status::Failed;
            vec![
                o.name.clone(),
                o.dataset.clone(),
                o.status.to_string(),
                if failed { "-".into() } else { thousands(o.rows) },
                if failed { "-".into() } else { thousands(o.partitions as u64) },
                format!("{:.1}", o.seconds),
            ]
        })
        .collect();
    table(&["NAME", "DATASET ID", "STATUS", "ROWS", "PARTITIONS", "SECONDS"], &rows)
}

/// A plain text table, each column as wide as its widest cell, numbers right-aligned; ends in a
/// line break.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let numeric: Vec<bool> = (0..header.len())
        .map(|c| {
            !rows.is_empty()
                && rows.iter().all(|r| {
                    r[c] == "-" || r[c].chars().all(|ch| ch.is_ascii_digit() || ch == '.' || ch == ',')
                })
                && rows.iter().any(|r| r[c] != "-")
        })
        .collect();
    let line = |cells: Vec<&str>| {
        let padded: Vec<String> = cells
            .iter()
            .enumerate()
            .map(|(c, cell)| {
                let pad = " ".repeat(widths[c] - cell.chars().count());
                if numeric[c] {
                    format!("{pad}{cell}")
                } else {
                    format!("{cell}{pad}")
                }
            })
            .collect();
        padded.join("  ").trim_end().to_owned() + "\n"
    };
    let mut out = line(header.to_vec());
    for row in rows {
        out += &line(row.iter().map(String::as_str).collect());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_well() {
        assert_eq!(human_bytes(812), "812 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(3 << 30), "3.0 GiB");
    }

    #[test]
    fn counts_read_well() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(10_000_000), "10,000,000");
        assert_eq!(count(1, "row"), "1 row");
        assert_eq!(count(0, "file"), "0 files");
        assert_eq!(count(1234, "partition"), "1,234 partitions");
    }

    #[test]
    fn summary_lines_say_what_happened() {
        let mut s = Summary::new("upload-csv", "./lake".into());
        s.rows_read = 1;
        s.rows_written = 1;
        s.files = 1;
        s.bytes = 812;
        assert_eq!(
            s.text(),
            "etl upload-csv: ok: 1 row read, 1 row written, 1 file (812 B), 0.00 s, target ./lake"
        );
        s.rows_read = 12_345;
        s.rows_written = 12_345;
        s.partitions = 3;
        s.files = 3;
        s.unchanged = 2;
        assert_eq!(
            s.text(),
            "etl upload-csv: ok: 12,345 rows read, 12,345 rows written, 3 partitions, 3 files (812 B), 2 \
             unchanged (not uploaded), 0.00 s, target ./lake"
        );
        let mut failed = Summary::new("inspect", "./lake".into());
        failed.status = Status::Failed;
        assert_eq!(failed.text(), "etl inspect: failed after 0.00 s, target ./lake");
        let mut clear = Summary::new("clear-dataset", "./lake/datasets/x/".into());
        assert_eq!(
            clear.text(),
            "etl clear-dataset: ok: nothing to delete, 0.00 s, target ./lake/datasets/x/"
        );
        clear.files = 5;
        clear.bytes = 2048;
        clear.status = Status::DryRun;
        assert_eq!(
            clear.text(),
            "etl clear-dataset: dry-run: would delete 5 objects (2.0 KiB), 0.00 s, target ./lake/datasets/x/"
        );
        clear.status = Status::Ok;
        clear.deleted = 5;
        assert_eq!(
            clear.text(),
            "etl clear-dataset: ok: deleted 5 objects (2.0 KiB), 0.00 s, target ./lake/datasets/x/"
        );
    }

    #[test]
    fn tables_align() {
        let rows = vec![vec!["a".to_owned(), "10".to_owned()], vec!["long name".to_owned(), "2".to_owned()]];
        assert_eq!(table(&["NAME", "N"], &rows), "NAME        N\na          10\nlong name   2\n");
    }
}
