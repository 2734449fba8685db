//! Prometheus metrics of a dataset's last run, in the text exposition format: written to
//! `<dir>/etl-<dataset>.prom` for the node exporter's textfile collector (whole or not at all: written
//! beside, then renamed), and pushed to a Pushgateway under `job="etl", dataset="<id>"`.
//!
//! The job-file job is the label `etl_job`, not `job`: `job` is Prometheus' own (the scrape's, and the
//! Pushgateway's grouping key), which a label of the same name would clash with.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use super::post::Sender;
use super::run::{Outcome, RunEnd, RunStart};

/// How long a push may hold up the end of a run.
pub const PUSH_TIMEOUT: Duration = Duration::from_secs(5);

/// Every metric: name, help, and its value for a run.
type Metric = (&'static str, &'static str, fn(&Values) -> f64);

/// A run's values, in the metrics' units.
struct Values {
    finished: f64,
    last_success: f64,
    duration: f64,
    exit_code: f64,
    success: f64,
    rows_read: f64,
    rows_written: f64,
    bytes: f64,
    files: f64,
    checks_failed: f64,
}

const METRICS: [Metric; 10] = [
    ("etl_last_run_timestamp_seconds", "When the dataset's last run ended (Unix time).", |v| v.finished),
    (
        "etl_last_success_timestamp_seconds",
        "When a run last published the dataset (Unix time; 0: never).",
        |v| v.last_success,
    ),
    ("etl_last_run_duration_seconds", "How long the dataset's last run took.", |v| v.duration),
    (
        "etl_last_run_exit_code",
        "The exit code of the dataset's last run (0 ok, 1 failed, 65 a check failed, 75 locked, 130/143 stopped by a signal).",
        |v| v.exit_code,
    ),
    ("etl_last_run_success", "1 if the dataset's last run published (or had nothing to do), else 0.", |v| {
        v.success
    }),
    ("etl_rows_read", "Rows the dataset's last run read.", |v| v.rows_read),
    ("etl_rows_written", "Rows the dataset's last run wrote (0 for a run that failed).", |v| v.rows_written),
    ("etl_bytes_written", "Bytes of Parquet the dataset's last run wrote.", |v| v.bytes),
    ("etl_files_written", "Parquet files the dataset's last run wrote.", |v| v.files),
    ("etl_checks_failed", "Data-quality checks the dataset's last run failed (at either severity).", |v| {
        v.checks_failed
    }),
];

const INTERRUPTED: &str = "etl_publish_interrupted";
const INTERRUPTED_HELP: &str = "1 while a publish of the dataset is under way or was interrupted (a killed run: \
                                readers may see old and new files together until the next run or `etl repair`).";
const INTERRUPTED_SINCE: &str = "etl_publish_interrupted_since_timestamp_seconds";
const INTERRUPTED_SINCE_HELP: &str =
    "When the publish etl_publish_interrupted reports began (Unix time; 0: none).";

fn seconds(time: SystemTime) -> f64 {
    time.duration_since(SystemTime::UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64())
}

/// `dataset="events",command="upload-csv"` (and `etl_job="nightly"` for a job-file job).
fn labels(start: &RunStart) -> String {
    let mut out = format!("dataset=\"{}\",command=\"{}\"", escape(&start.dataset), escape(start.command));
    if let Some(job) = &start.job {
        let _ = write!(out, ",etl_job=\"{}\"", escape(job));
    }
    out
}

/// A label value as the text format writes it: `\`, `"` and line breaks escaped.
fn escape(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// A number as the text format writes it (integers without a fraction).
fn number(value: f64) -> String {
    if value.fract() == 0.0 && value.abs() < 1e15 {
        format!("{}", value as i64)
    } else {
        format!("{value}")
    }
}

fn gauge(out: &mut String, name: &str, help: &str, labels: &str, value: f64) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge\n{name}{{{labels}}} {}", number(value));
}

/// The metrics of a run that ended at `finished`.
pub fn render(start: &RunStart, end: &RunEnd, finished: SystemTime) -> String {
    let ok = end.outcome == Outcome::Ok;
    let values = Values {
        finished: seconds(finished),
        last_success: match ok {
            true => seconds(finished),
            false => end.last_success.map_or(0.0, seconds),
        },
        duration: finished.duration_since(start.started).map_or(0.0, |d| d.as_secs_f64()),
        exit_code: f64::from(end.exit_code),
        success: if ok { 1.0 } else { 0.0 },
        rows_read: end.rows_read as f64,
        rows_written: end.rows_written as f64,
        bytes: end.bytes as f64,
        files: end.files as f64,
        checks_failed: end.checks.iter().filter(|c| c.broken()).count() as f64,
    };
    let labels = labels(start);
    let mut out = String::new();
    for (name, help, value) in METRICS {
        gauge(&mut out, name, help, &labels, value(&values));
    }
    gauge(&mut out, INTERRUPTED, INTERRUPTED_HELP, &labels, 0.0);
    gauge(&mut out, INTERRUPTED_SINCE, INTERRUPTED_SINCE_HELP, &labels, 0.0);
    out
}

/// The two metrics that say a publish of the run began at `since` (and, until the run ends, has not
/// finished): what a run killed during its publish leaves.
pub fn publishing(start: &RunStart, since: SystemTime) -> String {
    let labels = labels(start);
    let mut out = String::new();
    gauge(&mut out, INTERRUPTED, INTERRUPTED_HELP, &labels, 1.0);
    gauge(&mut out, INTERRUPTED_SINCE, INTERRUPTED_SINCE_HELP, &labels, seconds(since));
    out
}

/// `<dir>/etl-<dataset>.prom`.
pub fn file_of(dir: &Path, dataset: &str) -> PathBuf {
    dir.join(format!("etl-{dataset}.prom"))
}

/// Writes `text` as the dataset's metrics file: to a temporary file in `dir` (a name the collector
/// does not read), then renamed over the old one, so that the collector reads the old file or the
/// new one, never half of one.
pub fn write(dir: &Path, dataset: &str, text: &str) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let mut staged = tempfile::Builder::new().prefix(".etl-").suffix(".tmp").tempfile_in(dir)?;
    std::io::Write::write_all(&mut staged, text.as_bytes())?;
    // Readable by the node exporter, which runs as another user (a temporary file is made 0600).
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        staged.as_file().set_permissions(std::fs::Permissions::from_mode(0o644))?;
    }
    staged.persist(file_of(dir, dataset)).map_err(|e| e.error)?;
    Ok(())
}

/// The dataset's metrics file with `replacement`'s metrics in place of the same-named ones it holds
/// (the rest kept): a publish that begins marks itself without losing the last run's values.
pub fn replace_metrics(old: &str, replacement: &str) -> String {
    let names: Vec<&str> = replacement
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    let of = |line: &str| -> Option<String> {
        let line = line.strip_prefix("# HELP ").or_else(|| line.strip_prefix("# TYPE ")).unwrap_or(line);
        line.split(|c: char| c == '{' || c.is_whitespace()).next().map(str::to_owned)
    };
    let mut out: String = old
        .lines()
        .filter(|l| of(l).is_none_or(|name| !names.contains(&name.as_str())))
        .map(|l| format!("{l}\n"))
        .collect();
    out.push_str(replacement);
    out
}

/// Marks a publish of `start`'s dataset, begun at `since`, as under way in the metrics the process
/// reports ([`settle`] unmarks it): the file's other metrics are kept; the Pushgateway's group keeps
/// its others (a POST replaces only the metrics of the same names).
pub async fn mark_publish(
    dir: Option<&Path>,
    pushgateway: Option<&str>,
    start: &RunStart,
    since: SystemTime,
) {
    let text = publishing(start, since);
    if let Some(dir) = dir {
        let old = std::fs::read_to_string(file_of(dir, &start.dataset)).unwrap_or_default();
        if let Err(e) = write(dir, &start.dataset, &replace_metrics(&old, &text)) {
            tracing::warn!("could not write the run's metrics in {}: {e}", dir.display());
        }
    }
    if let Some(url) = pushgateway {
        send(url, &start.dataset, &text, reqwest::Method::POST).await;
    }
}

/// Sets `etl_publish_interrupted` of `dataset` back to 0 in the metrics file (its labels kept) and
/// in the Pushgateway's group.
pub async fn settle(dir: Option<&Path>, pushgateway: Option<&str>, dataset: &str) {
    if let Some(dir) = dir {
        let path = file_of(dir, dataset);
        if let Ok(old) = std::fs::read_to_string(&path) {
            if let Err(e) = write(dir, dataset, &settled(&old)) {
                tracing::warn!("could not write the dataset's metrics in {}: {e}", dir.display());
            }
        }
    }
    if let Some(url) = pushgateway {
        let labels = format!("dataset=\"{}\"", escape(dataset));
        let mut text = String::new();
        gauge(&mut text, INTERRUPTED, INTERRUPTED_HELP, &labels, 0.0);
        gauge(&mut text, INTERRUPTED_SINCE, INTERRUPTED_SINCE_HELP, &labels, 0.0);
        send(url, dataset, &text, reqwest::Method::POST).await;
    }
}

/// A metrics file with its publish marks at 0.
fn settled(old: &str) -> String {
    old.lines()
        .map(|line| {
            match line.starts_with(&format!("{INTERRUPTED}{{"))
                || line.starts_with(&format!("{INTERRUPTED_SINCE}{{"))
            {
                true => match line.rsplit_once(' ') {
                    Some((series, _)) => format!("{series} 0\n"),
                    None => format!("{line}\n"),
                },
                false => format!("{line}\n"),
            }
        })
        .collect()
}

/// Pushes `text` as the metrics of the group `job="etl", dataset="<dataset>"` (replacing the group's
/// metrics), waiting at most [`PUSH_TIMEOUT`]; a failure is a warning.
pub async fn push(url: &str, dataset: &str, text: &str) {
    send(url, dataset, text, reqwest::Method::PUT).await;
}

/// Sends `text` to the dataset's group with `method` (PUT replaces the group, POST the metrics of the
/// same names).
async fn send(url: &str, dataset: &str, text: &str, method: reqwest::Method) {
    static PUSHES: Sender =
        Sender::new("push the run's metrics to the Pushgateway", "this run pushes no more");
    let endpoint = group_url(url, dataset);
    PUSHES
        .send(url, PUSH_TIMEOUT, |client| {
            client
                .request(method, &endpoint)
                .header("Content-Type", "text/plain; version=0.0.4")
                .body(text.to_owned())
        })
        .await;
}

/// `<url>/metrics/job/etl/dataset/<dataset>`: the Pushgateway's group of a dataset.
pub fn group_url(url: &str, dataset: &str) -> String {
    format!("{}/metrics/job/etl/dataset/{dataset}", url.trim_end_matches('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn start(job: Option<&str>) -> RunStart {
        RunStart {
            command: "upload-csv",
            job: job.map(str::to_owned),
            dataset: "events".into(),
            run_id: "20261206T222756.703Z-27006dcc".into(),
            started: SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000),
            source_kind: "csv".into(),
            source_location: "events.csv".into(),
            target: "/lake/".into(),
        }
    }

    fn end(outcome: Outcome, exit_code: u8) -> RunEnd {
        RunEnd {
            outcome,
            exit_code,
            error: None,
            mode: Some("merge".into()),
            schema: Vec::new(),
            rows_read: 10,
            rows_written: if outcome == Outcome::Ok { 10 } else { 0 },
            bytes: 2048,
            files: 2,
            checks: Vec::new(),
            last_success: Some(SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000)),
            created: false,
        }
    }

    #[test]
    fn a_failed_run_keeps_the_last_success() {
        let finished = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_012);
        let ok = render(&start(Some("nightly")), &end(Outcome::Ok, 0), finished);
        assert!(ok.contains(
            "etl_last_success_timestamp_seconds{dataset=\"events\",command=\"upload-csv\",etl_job=\"nightly\"} 1800000012"
        ));
        assert!(ok.contains(
            "etl_last_run_duration_seconds{dataset=\"events\",command=\"upload-csv\",etl_job=\"nightly\"} 12"
        ));
        let failed = render(&start(None), &end(Outcome::Failed, 65), finished);
        assert!(failed.contains(
            "etl_last_success_timestamp_seconds{dataset=\"events\",command=\"upload-csv\"} 1700000000"
        ));
        assert!(failed.contains("etl_last_run_exit_code{dataset=\"events\",command=\"upload-csv\"} 65"));
        assert_eq!(failed.matches("# TYPE ").count(), METRICS.len() + 2);
    }

    #[test]
    fn a_publish_marks_itself_and_keeps_the_rest() {
        let finished = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_012);
        let old = render(&start(None), &end(Outcome::Ok, 0), finished);
        let marked = replace_metrics(&old, &publishing(&start(None), finished));
        assert!(marked.contains("etl_publish_interrupted{dataset=\"events\",command=\"upload-csv\"} 1\n"));
        assert!(!marked.contains("etl_publish_interrupted{dataset=\"events\",command=\"upload-csv\"} 0\n"));
        assert!(marked.contains("etl_rows_written{dataset=\"events\",command=\"upload-csv\"} 10\n"));
        assert_eq!(marked.matches("# TYPE etl_publish_interrupted gauge").count(), 1);
        assert_eq!(marked.lines().count(), old.lines().count());
        assert_eq!(settled(&marked), old, "repair sets the marks back");
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
