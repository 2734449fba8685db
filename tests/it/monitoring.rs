//! Knowing at 9 a.m. that last night's loads ran (issue 31): dated cron logs, a record for every run,
//! `etl status`, Prometheus metrics (checked by `promtool`, pushed to a real Pushgateway) and
//! OpenLineage run events (received by a real HTTP server on 127.0.0.1, validated against the spec's
//! JSON schemas kept in tests/openlineage/).
//!
//! The Pushgateway and promtool come from scripts/monitoring-up.sh (Debian's packages); without them
//! the metrics tests are skipped, unless ETL_REQUIRE_MONITORING=1. The schema validation runs with the
//! `ci` virtualenv of scripts/schedulers-up.sh (jsonschema with its format checkers).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::http_server::{self, Head, Reply};
use crate::util::*;

/// The Pushgateway's URL and promtool's path (scripts/monitoring-up.sh).
fn monitoring() -> Option<(String, PathBuf)> {
    match (initial_env("ETL_TEST_PUSHGATEWAY"), initial_env("ETL_TEST_PROMTOOL")) {
        (Some(url), Some(promtool)) => Some((url, promtool.into())),
        _ => {
            assert!(
                std::env::var("ETL_REQUIRE_MONITORING").is_err(),
                "ETL_REQUIRE_MONITORING is set but the Pushgateway is not: run scripts/test.sh"
            );
            eprintln!("skipped: no Pushgateway and promtool (run scripts/monitoring-up.sh)");
            None
        }
    }
}

/// A small CSV of two days, `rows` rows.
fn events(dir: &Dir, name: &str, rows: usize) -> PathBuf {
    let mut text = String::from("day,user,cost\n");
    for i in 0..rows {
        text += &format!("2026-11-0{},u{i},{}.5\n", 1 + i % 2, i);
    }
    dir.write(name, text)
}

/// The raw stderr of a run (as a cron log gets it): dated lines.
fn raw(cmd: &mut Command) -> (i32, String) {
    let out = cmd.output().unwrap();
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn every_line_of_a_cron_log_is_dated_and_the_json_summary_has_time_and_level() {
    let dir = Dir::new();
    events(&dir, "a.csv", 4);
    dir.write("bad.csv", "day,user\n2026-11-01,u1\n2026-11-02,u2,extra\n");
    dir.write(
        "jobs.yaml",
        "jobs:\n  - name: nightly\n    dataset_id: a\n    partition_column: day\n    source: {kind: csv, path: a.csv}\n  \
         - name: broken\n    dataset_id: b\n    source: {kind: csv, path: bad.csv}\n",
    );
    let cases: [(&[&str], i32); 5] = [
        (&["upload-csv", "a.csv", "--dataset-id", "a", "--partition-col", "day"], 0),
        (&["upload-csv", "bad.csv", "--dataset-id", "b"], 1),
        (&["run", "jobs.yaml", "--job", "nightly"], 0),
        (&["run", "jobs.yaml", "--job", "broken"], 1),
        (&["run", "jobs.yaml", "--all"], 1),
    ];
    for (args, code) in cases {
        let (got, stderr) = raw(dir.etl().args(args));
        assert_eq!(got, code, "{args:?}: {stderr}");
        for line in stderr.lines() {
            assert!(
                dated_at(&format!("{line}\n")).is_some(),
                "{args:?}: an undated line {line:?} in\n{stderr}"
            );
        }
    }
    // `etl run` says its job in its summary and its error line.
    let (_, stderr) = raw(dir.etl().args(["run", "jobs.yaml", "--job", "nightly"]));
    assert!(undated(&stderr).contains("etl run \"nightly\": ok: 4 rows read"), "{stderr}");
    let (_, stderr) = raw(dir.etl().args(["run", "jobs.yaml", "--job", "broken"]));
    let stderr = undated(&stderr);
    assert!(stderr.contains("error: \"broken\": bad.csv:3: expected 2 fields"), "{stderr}");
    assert!(stderr.contains("etl run \"broken\": failed after "), "{stderr}");
    // The JSON summary is a log line like the others: a time and a level.
    let (_, stderr) = raw(dir.etl().args(["run", "jobs.yaml", "--job", "broken", "--log-format", "json"]));
    let line: serde_json::Value = serde_json::from_str(stderr.lines().last().unwrap()).unwrap();
    assert_eq!((line["event"].as_str(), line["level"].as_str()), (Some("summary"), Some("ERROR")), "{line}");
    assert_eq!(line["summary"]["job"], "broken", "{line}");
    assert!(dated_at(&format!("{} summary", line["timestamp"].as_str().unwrap())).is_some(), "{line}");
    let (_, stderr) =
        raw(dir.etl().args(["upload-csv", "a.csv", "--dataset-id", "a", "--log-format", "json"]));
    let line: serde_json::Value = serde_json::from_str(stderr.lines().last().unwrap()).unwrap();
    assert_eq!(line["level"], "INFO", "{line}");
    // A person at a terminal reads them undated: etl's tests/it/first_hour.rs runs under a terminal
    // only by hand; what decides is `std::io::stderr().is_terminal()` (src/logging.rs).
}

#[test]
fn every_run_leaves_a_record_that_etl_runs_and_inspect_show() {
    let dir = Dir::new();
    events(&dir, "a.csv", 4);
    ok(dir.etl().args(["upload-csv", "a.csv", "--dataset-id", "d", "--partition-col", "day"]));
    // Bad input: failed, with its error and where.
    dir.write("bad.csv", "day,user,cost\n2026-11-01,u1,1\n2026-11-02,u2\n");
    let r = run(dir.etl().args(["upload-csv", "bad.csv", "--dataset-id", "d"]));
    assert_eq!(r.code, 1, "{r:?}");
    // Stopped by SIGTERM: cancelled, with the rows it had read.
    big_csv(&dir, 1_500_000);
    let load = ["upload-csv", "big.csv", "--dataset-id", "d", "--partition-col", "day", "--mode", "replace"];
    let child = spawn_until_locked(dir.etl().args(load), &dir, "d");
    stopped_by_sigterm(child, "a load");

    let r = ok(dir.etl().args(["runs", "d", "--json"]));
    let runs: Vec<serde_json::Value> = serde_json::from_str(&r.stdout).unwrap();
    let statuses: Vec<&str> = runs.iter().map(|m| m["status"].as_str().unwrap_or("ok")).collect();
    assert_eq!(statuses, ["cancelled", "failed", "ok"], "newest first: {}", r.stdout);
    let cancelled = &runs[0];
    assert_eq!(cancelled["exit_code"], 143, "{cancelled}");
    assert!(cancelled["error"].as_str().unwrap().contains("stopped by SIGTERM"), "{cancelled}");
    assert!(cancelled["rows_read"].as_u64().unwrap() > 0, "what it had read: {cancelled}");
    assert_eq!(cancelled["rows_written"], 0);
    let failed = &runs[1];
    assert!(failed["error"].as_str().unwrap().contains("bad.csv:3: expected 3 fields"), "{failed}");
    assert_eq!(
        (failed["exit_code"].as_u64(), failed["source"]["location"].as_str()),
        (Some(1), Some("bad.csv"))
    );
    // The table says the same; inspect names the runs since the published one.
    let table = ok(dir.etl().args(["runs", "d"])).stdout;
    let column: Vec<&str> = table.lines().skip(1).map(|l| l.split_whitespace().nth(4).unwrap()).collect();
    assert_eq!(column, ["cancelled", "failed", "ok"], "{table}");
    let inspect = ok(dir.etl().args(["inspect", "d"])).stdout;
    assert!(
        inspect.contains("(upload-csv replace, ") && inspect.contains(") was stopped and published nothing:"),
        "{inspect}"
    );
    assert!(inspect.contains(") failed and published nothing:\n  bad.csv:3: expected 3 fields"), "{inspect}");
    // The data is the first run's, whole.
    assert_eq!(dir.lake_keys().iter().filter(|k| k.ends_with(".parquet")).count(), 2);
}

/// `etl status` of the lake in `dir` (`args` after it): exit code, stdout, stderr.
fn status(dir: &Dir, args: &[&str]) -> Run {
    run(dir.etl().arg("status").args(args))
}

/// A manifest whose last publish was `finished`: the dataset as an old run left it.
fn age(dir: &Dir, dataset: &str, finished: &str) {
    let path = dir.lake(&format!("datasets/{dataset}/_manifest.json"));
    let mut manifest: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    manifest["finished"] = finished.into();
    std::fs::write(&path, serde_json::to_vec_pretty(&manifest).unwrap()).unwrap();
}

#[test]
fn etl_status_says_which_datasets_need_a_look() {
    let dir = Dir::new();
    // An empty target: nothing to look at, and it says so.
    let r = status(&dir, &["--stale-after", "26h"]);
    assert_eq!((r.code, r.stdout.as_str()), (0, ""), "{r:?}");
    assert!(r.stderr.contains("etl status: ok: no dataset in the target"), "{r:?}");

    events(&dir, "a.csv", 4);
    for id in ["fresh", "old", "broken", "halfway"] {
        ok(dir.etl().args(["upload-csv", "a.csv", "--dataset-id", id, "--partition-col", "day"]));
    }
    let r = status(&dir, &["--stale-after", "26h"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stderr.contains("etl status: ok: 4 datasets fine"), "{r:?}");
    assert_eq!(r.stdout.lines().count(), 5, "a header and a line each: {}", r.stdout);
    let line = r.stdout.lines().find(|l| l.starts_with("fresh ")).unwrap();
    let words: Vec<&str> = line.split_whitespace().collect();
    assert_eq!((words[1], words[2], words[4], words[7]), ("ok", "ok", "upload-csv", "4"), "{line}");

    // Stale: published three days ago.
    age(&dir, "old", "2026-01-01T00:00:00Z");
    // Failed: its last run did.
    dir.write("bad.csv", "day,user,cost\n2026-11-01,u1\n");
    assert_eq!(run(dir.etl().args(["upload-csv", "bad.csv", "--dataset-id", "broken"])).code, 1);
    // Interrupted: killed after the first of its two new files was in place.
    events(&dir, "b.csv", 6);
    let killed = run(dir.etl().env("ETL_FAULT", "kill:upload:2").args([
        "upload-csv",
        "b.csv",
        "--dataset-id",
        "halfway",
        "--partition-col",
        "day",
        "--mode",
        "replace",
    ]));
    assert_eq!(killed.code, -1, "{killed:?}");

    let r = status(&dir, &["--stale-after", "26h"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.stderr.contains("etl status: failed: 3 of 4 datasets need a look: broken (failed), halfway (interrupted), old (stale)"),
        "{r:?}"
    );
    assert!(
        r.stdout.contains("broken: its last run failed (upload-csv): bad.csv:2: expected 3 fields"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("old: last succeeded ") && r.stdout.contains("more than --stale-after 1d 2h"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("halfway: a publish was interrupted: run ")
            && r.stdout.contains("readers may see old and new files together; `etl repair halfway`"),
        "{}",
        r.stdout
    );
    // Without --stale-after nothing is stale; the others still need a look.
    let r = status(&dir, &[]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.stderr.contains("2 of 4 datasets need a look: broken (failed), halfway (interrupted)"),
        "{r:?}"
    );
    // JSON for a machine: the same verdicts.
    let r = status(&dir, &["--stale-after", "26h", "--json"]);
    let json: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let health: BTreeMap<String, String> = json["datasets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| (d["dataset"].as_str().unwrap().to_owned(), d["health"].as_str().unwrap().to_owned()))
        .collect();
    let want: BTreeMap<String, String> =
        [("broken", "failed"), ("fresh", "ok"), ("halfway", "interrupted"), ("old", "stale")]
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
    assert_eq!(health, want, "{}", r.stdout);
    assert_eq!(json["stale_after_seconds"], 26 * 3600);

    // inspect says the same of the interrupted one, and repair settles it.
    let inspect = ok(dir.etl().args(["inspect", "halfway"])).stdout;
    assert!(inspect.contains("publish pending: a publish was interrupted: run "), "{inspect}");
    let r = ok(dir.etl().args(["inspect", "halfway", "--json"]));
    let json: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(json["publish_pending"]["live"], false, "{json}");
    ok(dir.etl().args(["repair", "halfway"]));
    // A run that finds nothing new is a success: the dataset is fresh again.
    ok(dir.etl().args(["upload-csv", "a.csv", "--dataset-id", "broken", "--partition-col", "day"]));
    let r = status(&dir, &[]);
    assert_eq!(r.code, 0, "{r:?}");
}

#[test]
fn etl_status_reads_three_hundred_datasets_from_their_records() {
    let dir = Dir::new();
    events(&dir, "a.csv", 4);
    ok(dir.etl().args(["upload-csv", "a.csv", "--dataset-id", "d000", "--partition-col", "day"]));
    // 299 more, copies of the first (status reads their records, never their data).
    let first = dir.lake("datasets/d000");
    for i in 1..300 {
        let copy = dir.lake(&format!("datasets/d{i:03}"));
        let ok = Command::new("cp").arg("-r").arg(&first).arg(&copy).status().unwrap();
        assert!(ok.success());
    }
    let started = Instant::now();
    let r = status(&dir, &["--stale-after", "26h", "--json"]);
    let took = started.elapsed();
    assert_eq!(r.code, 0, "{}", r.stderr);
    let json: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let datasets = json["datasets"].as_array().unwrap();
    assert_eq!(datasets.len(), 300);
    assert!(datasets.iter().all(|d| d["health"] == "ok" && d["rows"] == 4), "{}", r.stdout);
    assert_eq!(datasets[299]["dataset"], "d299");
    // The goal (under 2 s locally) is a figure, not an assertion: bench/status.sh measures it.
    eprintln!("etl status of 300 datasets (a debug build): {:.2} s", took.as_secs_f64());
}

/// The value of `metric` in a text exposition `text`, for the series whose labels contain `labels`.
fn value(text: &str, metric: &str, labels: &str) -> Option<f64> {
    text.lines()
        .filter(|l| l.starts_with(&format!("{metric}{{")) && l.contains(labels))
        .find_map(|l| l.rsplit(' ').next()?.parse().ok())
}

/// `promtool check metrics` of `file`: its complaints, if any.
fn promtool_check(promtool: &Path, file: &Path) {
    let out = Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(std::fs::File::open(file).unwrap())
        .output()
        .unwrap();
    let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success() && said.trim().is_empty(), "promtool on {}: {said}", file.display());
}

#[test]
fn metrics_files_pass_promtool_and_two_datasets_at_once_leave_two_whole_files() {
    let Some((_, promtool)) = monitoring() else { return };
    let dir = Dir::new();
    events(&dir, "a.csv", 40);
    events(&dir, "b.csv", 6);
    dir.write(
        "jobs.yaml",
        "jobs:\n  - name: alpha\n    dataset_id: alpha\n    partition_column: day\n    source: {kind: csv, path: a.csv}\n    \
         checks: [{not_null: [user]}]\n  - name: beta\n    dataset_id: beta\n    source: {kind: csv, path: b.csv}\n",
    );
    let metrics = dir.path().join("metrics");
    ok(dir.etl().args(["run", "jobs.yaml", "--all", "--jobs", "2"]).env("ETL_METRICS_DIR", &metrics));
    let mut names: Vec<String> = std::fs::read_dir(&metrics)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["etl-alpha.prom", "etl-beta.prom"], "two files, no temporary one left");
    for name in &names {
        promtool_check(&promtool, &metrics.join(name));
    }
    let alpha = std::fs::read_to_string(metrics.join("etl-alpha.prom")).unwrap();
    let labels = "dataset=\"alpha\",command=\"upload-csv\",etl_job=\"alpha\"";
    assert_eq!(value(&alpha, "etl_rows_written", labels), Some(40.0), "{alpha}");
    assert_eq!(value(&alpha, "etl_files_written", labels), Some(2.0), "{alpha}");
    assert_eq!(value(&alpha, "etl_last_run_exit_code", labels), Some(0.0), "{alpha}");
    assert_eq!(value(&alpha, "etl_checks_failed", labels), Some(0.0), "{alpha}");
    assert_eq!(value(&alpha, "etl_publish_interrupted", labels), Some(0.0), "{alpha}");
    let success = value(&alpha, "etl_last_success_timestamp_seconds", labels).unwrap();
    assert_eq!(value(&alpha, "etl_last_run_timestamp_seconds", labels), Some(success));
    assert!(value(&alpha, "etl_bytes_written", labels).unwrap() > 0.0);
    let beta = std::fs::read_to_string(metrics.join("etl-beta.prom")).unwrap();
    assert_eq!(value(&beta, "etl_rows_written", "dataset=\"beta\""), Some(6.0), "{beta}");

    // A failed run: its exit code, and the last success kept from the dataset's record.
    dir.write("a.csv", "day,user,cost\n2026-11-03,,1.5\n");
    let r = run(dir.etl().args(["run", "jobs.yaml", "--job", "alpha"]).env("ETL_METRICS_DIR", &metrics));
    assert_eq!(r.code, 65, "{r:?}");
    let alpha = std::fs::read_to_string(metrics.join("etl-alpha.prom")).unwrap();
    promtool_check(&promtool, &metrics.join("etl-alpha.prom"));
    assert_eq!(value(&alpha, "etl_last_run_exit_code", labels), Some(65.0), "{alpha}");
    assert_eq!(value(&alpha, "etl_checks_failed", labels), Some(1.0), "{alpha}");
    assert_eq!(value(&alpha, "etl_rows_written", labels), Some(0.0), "{alpha}");
    assert_eq!(
        value(&alpha, "etl_last_success_timestamp_seconds", labels).map(f64::trunc),
        Some(success.trunc())
    );
    assert!(value(&alpha, "etl_last_run_timestamp_seconds", labels).unwrap() > success);

    // A publish killed half-way leaves the metrics saying so; repair settles them.
    events(&dir, "c.csv", 6);
    let killed = run(dir.etl().env("ETL_FAULT", "kill:upload:2").env("ETL_METRICS_DIR", &metrics).args([
        "upload-csv",
        "c.csv",
        "--dataset-id",
        "beta",
        "--partition-col",
        "day",
        "--mode",
        "replace",
    ]));
    assert_eq!(killed.code, -1, "{killed:?}");
    let beta = std::fs::read_to_string(metrics.join("etl-beta.prom")).unwrap();
    promtool_check(&promtool, &metrics.join("etl-beta.prom"));
    assert_eq!(value(&beta, "etl_publish_interrupted", "dataset=\"beta\""), Some(1.0), "{beta}");
    assert!(
        value(&beta, "etl_publish_interrupted_since_timestamp_seconds", "dataset=\"beta\"").unwrap() > 1.7e9
    );
    assert_eq!(
        value(&beta, "etl_rows_written", "dataset=\"beta\""),
        Some(6.0),
        "the last run's figures stay: {beta}"
    );
    ok(dir.etl().args(["repair", "beta"]).env("ETL_METRICS_DIR", &metrics));
    let beta = std::fs::read_to_string(metrics.join("etl-beta.prom")).unwrap();
    assert_eq!(value(&beta, "etl_publish_interrupted", "dataset=\"beta\""), Some(0.0), "{beta}");
}

#[test]
fn metrics_are_pushed_to_a_real_pushgateway() {
    let Some((gateway, _)) = monitoring() else { return };
    let dir = Dir::new();
    events(&dir, "a.csv", 8);
    let dataset = format!("pushed-{}", std::process::id());
    ok(dir
        .etl()
        .args(["upload-csv", "a.csv", "--dataset-id", &dataset, "--partition-col", "day"])
        .env("ETL_PUSHGATEWAY_URL", &gateway));
    let text = http_get(&format!("{gateway}/metrics"));
    let labels = format!("dataset=\"{dataset}\"");
    assert_eq!(value(&text, "etl_rows_written", &labels), Some(8.0), "{text}");
    let series = text.lines().find(|l| l.starts_with("etl_rows_written{") && l.contains(&labels)).unwrap();
    assert!(series.contains("job=\"etl\"") && series.contains("command=\"upload-csv\""), "{series}");
    // A second run replaces the group's metrics.
    events(&dir, "a.csv", 3);
    ok(dir
        .etl()
        .args(["upload-csv", "a.csv", "--dataset-id", &dataset, "--mode", "replace"])
        .env("ETL_PUSHGATEWAY_URL", &gateway));
    let text = http_get(&format!("{gateway}/metrics"));
    assert_eq!(value(&text, "etl_rows_written", &labels), Some(3.0), "{text}");
    let _ = Command::new("curl")
        .args(["-s", "-X", "DELETE", &format!("{gateway}/metrics/job/etl/dataset/{dataset}")])
        .status();

    // A Pushgateway that never answers: one warning, the load done.
    let stalled = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", stalled.local_addr().unwrap());
    let r = ok(dir
        .etl()
        .args(["upload-csv", "a.csv", "--dataset-id", &dataset])
        .env("ETL_PUSHGATEWAY_URL", &url));
    assert_eq!(r.stderr.matches("could not push the run's metrics").count(), 1, "{r:?}");
    assert!(r.stderr.contains("no answer in 5.0 s; this run pushes no more"), "{r:?}");
}

/// The body of a GET (curl: the test harness has no HTTP client of its own).
fn http_get(url: &str) -> String {
    let out = Command::new("curl").args(["-sf", url]).output().unwrap();
    assert!(out.status.success(), "GET {url}");
    String::from_utf8(out.stdout).unwrap()
}

/// A lineage receiver on 127.0.0.1: every event posted, and the requests' Authorization headers.
pub struct Receiver {
    pub url: String,
    events: Arc<Mutex<Vec<serde_json::Value>>>,
    auth: Arc<Mutex<Vec<String>>>,
}

impl Receiver {
    pub fn start() -> Receiver {
        let events = Arc::new(Mutex::new(Vec::new()));
        let auth = Arc::new(Mutex::new(Vec::new()));
        let (e, a) = (events.clone(), auth.clone());
        let url = http_server::start(move |request, _| {
            if request.method == "POST" && request.path == "/api/v1/lineage" {
                e.lock().unwrap().push(serde_json::from_slice(&request.body).unwrap());
                a.lock().unwrap().push(request.headers.get("authorization").cloned().unwrap_or_default());
            }
            Reply::Whole(Head { status: 201, reason: "Created", headers: Vec::new() }, Vec::new())
        });
        Receiver { url, events, auth }
    }

    /// The events received so far, emptied.
    pub fn take(&self) -> Vec<serde_json::Value> {
        std::mem::take(&mut *self.events.lock().unwrap())
    }
}

/// Checks `events` against the OpenLineage JSON schemas (tests/openlineage/validate.py).
pub fn validate(events: &[serde_json::Value]) {
    let Some(venv) = initial_env("ETL_CI_VENV") else {
        assert!(std::env::var("ETL_REQUIRE_SCHEDULERS").is_err(), "no ci virtualenv: run scripts/test.sh");
        eprintln!("skipped: the events are not validated (no ci virtualenv)");
        return;
    };
    let dir = Dir::new();
    let file = dir.write("events.json", serde_json::to_vec(events).unwrap());
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/openlineage/validate.py");
    let out = Command::new(Path::new(&venv).join("bin/python")).arg(script).arg(file).output().unwrap();
    assert!(
        out.status.success(),
        "events not valid OpenLineage:\n{}{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        serde_json::to_string_pretty(events).unwrap()
    );
}

/// The event types, in order, and the one run id they share.
fn types_and_run(events: &[serde_json::Value]) -> (Vec<String>, String) {
    let types = events.iter().map(|e| e["eventType"].as_str().unwrap().to_owned()).collect();
    let ids: std::collections::BTreeSet<&str> =
        events.iter().map(|e| e["run"]["runId"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 1, "one run id: {ids:?}");
    (types, ids.into_iter().next().unwrap().to_owned())
}

/// A command with the lineage variables pointing at `receiver`.
fn with_lineage<'a>(cmd: &'a mut Command, receiver: &Receiver) -> &'a mut Command {
    cmd.env("OPENLINEAGE_URL", &receiver.url)
        .env("OPENLINEAGE_API_KEY", "lineage-key-5f1e2d")
        .env("OPENLINEAGE_NAMESPACE", "nightly")
}

#[test]
fn lineage_events_tell_each_run_from_start_to_end() {
    let receiver = Receiver::start();
    let dir = Dir::new();
    events(&dir, "a.csv", 6);
    let checks = ["--check", "not_null: [user]", "--check", "{unique: [day, user]}"];

    // A load that succeeds: START, COMPLETE, one run id (the run's own, as a UUIDv7).
    let r = ok(with_lineage(
        dir.etl()
            .args([
                "upload-csv",
                "a.csv",
                "--dataset-id",
                "d",
                "--partition-col",
                "day",
                "--log-format",
                "json",
            ])
            .args(checks),
        &receiver,
    ));
    let run_id = summary_of(&r)["run_id"].as_str().unwrap().to_owned();
    let ok_events = receiver.take();
    let (types, uuid) = types_and_run(&ok_events);
    assert_eq!(types, ["START", "COMPLETE"]);
    assert_eq!(&uuid[14..15], "7", "a UUIDv7: {uuid}");
    assert!(uuid.ends_with(&run_id[run_id.len() - 8..]), "{uuid} is {run_id}");
    let (start, complete) = (&ok_events[0], &ok_events[1]);
    assert_eq!(start["job"]["namespace"], "nightly");
    assert_eq!(start["job"]["name"], "upload-csv.d");
    let input = &start["inputs"][0];
    assert!(input["namespace"].as_str().unwrap().starts_with("file://"), "{input}");
    let csv = dir.path().canonicalize().unwrap().join("a.csv");
    assert_eq!(input["name"].as_str().unwrap(), csv.display().to_string(), "{input}");
    let output = &complete["outputs"][0];
    assert_eq!(
        output["name"].as_str().unwrap(),
        format!("{}/datasets/d", dir.path().join("lake").canonicalize().unwrap().display())
    );
    let fields: Vec<(&str, &str)> = output["facets"]["schema"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["name"].as_str().unwrap(), f["type"].as_str().unwrap()))
        .collect();
    assert_eq!(fields, [("day", "Date"), ("user", "String"), ("cost", "Float64")], "{output}");
    assert_eq!(output["outputFacets"]["outputStatistics"]["rowCount"], 6, "{output}");
    assert_eq!(output["outputFacets"]["outputStatistics"]["fileCount"], 2, "{output}");
    assert_eq!(output["facets"]["lifecycleStateChange"]["lifecycleStateChange"], "CREATE", "{output}");
    let assertions = output["facets"]["dataQualityAssertions"]["assertions"].as_array().unwrap();
    assert!(
        assertions
            .iter()
            .any(|a| a["assertion"] == "not_null" && a["column"] == "user" && a["success"] == true),
        "{output}"
    );
    assert!(assertions.iter().all(|a| a["success"] == true), "{output}");
    // The key is sent as a bearer token, and never printed.
    assert!(receiver.auth.lock().unwrap().iter().all(|a| a == "Bearer lineage-key-5f1e2d"));
    assert!(!r.stderr.contains("lineage-key-5f1e2d"));

    // A replace overwrites.
    ok(with_lineage(
        dir.etl().args(["upload-csv", "a.csv", "--dataset-id", "d", "--mode", "replace"]),
        &receiver,
    ));
    let replaced = receiver.take();
    assert_eq!(
        replaced[1]["outputs"][0]["facets"]["lifecycleStateChange"]["lifecycleStateChange"],
        "OVERWRITE"
    );

    // Checks that fail: FAIL, the assertions that failed, the error.
    dir.write("dup.csv", "day,user,cost\n2026-11-01,u1,1\n2026-11-01,u1,2\n");
    let r = run(with_lineage(
        dir.etl().args(["upload-csv", "dup.csv", "--dataset-id", "d"]).args(checks),
        &receiver,
    ));
    assert_eq!(r.code, 65, "{r:?}");
    let failed_checks = receiver.take();
    assert_eq!(types_and_run(&failed_checks).0, ["START", "FAIL"]);
    let fail = &failed_checks[1];
    assert!(
        fail["run"]["facets"]["errorMessage"]["message"]
            .as_str()
            .unwrap()
            .contains("unique(day, user) failed"),
        "{fail}"
    );
    let assertions = fail["outputs"][0]["facets"]["dataQualityAssertions"]["assertions"].as_array().unwrap();
    assert!(assertions.iter().any(|a| a["name"] == "unique(day, user)" && a["success"] == false), "{fail}");
    assert!(fail["outputs"][0]["outputFacets"].get("outputStatistics").is_none(), "nothing written: {fail}");

    // Bad input: FAIL with the line.
    dir.write("bad.csv", "day,user,cost\n2026-11-01,u1\n");
    assert_eq!(
        run(with_lineage(dir.etl().args(["upload-csv", "bad.csv", "--dataset-id", "d"]), &receiver)).code,
        1
    );
    let bad = receiver.take();
    assert_eq!(types_and_run(&bad).0, ["START", "FAIL"]);
    assert!(
        bad[1]["run"]["facets"]["errorMessage"]["message"].as_str().unwrap().contains("bad.csv:2"),
        "{}",
        bad[1]
    );
    assert_eq!(bad[1]["run"]["facets"]["errorMessage"]["programmingLanguage"], "Rust");

    // Stopped by SIGTERM: ABORT.
    big_csv(&dir, 1_500_000);
    let child = with_lineage(
        dir.etl().args(["upload-csv", "big.csv", "--dataset-id", "big", "--partition-col", "day"]),
        &receiver,
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    let started = Instant::now();
    while receiver.events.lock().unwrap().is_empty() {
        assert!(started.elapsed() < Duration::from_secs(30), "no START");
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(300));
    stopped_by_sigterm(child, "a load with lineage");
    let aborted = receiver.take();
    assert_eq!(types_and_run(&aborted).0, ["START", "ABORT"]);
    assert!(aborted[1]["run"]["facets"]["errorMessage"]["message"]
        .as_str()
        .unwrap()
        .contains("stopped by SIGTERM"));

    // Every event is valid OpenLineage.
    let all: Vec<serde_json::Value> =
        [ok_events, replaced, failed_checks, bad, aborted].into_iter().flatten().collect();
    validate(&all);

    // OPENLINEAGE_DISABLED turns it off.
    ok(with_lineage(dir.etl().args(["upload-csv", "a.csv", "--dataset-id", "d"]), &receiver)
        .env("OPENLINEAGE_DISABLED", "true"));
    assert!(receiver.take().is_empty());
}

#[test]
fn lineage_names_a_postgres_table_and_an_api_by_the_conventions_and_a_job_by_its_name() {
    let receiver = Receiver::start();
    let dir = Dir::new();
    // An API that fails: the run began before its download, so it FAILs with what the API said.
    let api = http_server::start(|_, _| {
        Reply::Whole(
            Head { status: 500, reason: "Internal Server Error", headers: Vec::new() },
            b"down".to_vec(),
        )
    });
    let r = run(with_lineage(
        dir.etl().args([
            "load-api",
            "--url",
            &format!("{api}/v1/orders?token=s3cr3t-value"),
            "--dataset-id",
            "orders",
            "--retries",
            "0",
        ]),
        &receiver,
    ));
    assert_eq!(r.code, 1, "{r:?}");
    let events = receiver.take();
    assert_eq!(types_and_run(&events).0, ["START", "FAIL"]);
    let input = &events[0]["inputs"][0];
    assert_eq!(input["namespace"].as_str().unwrap(), api.as_str(), "{input}");
    assert_eq!(input["name"], "/v1/orders", "no query string, no secret: {input}");
    assert!(!serde_json::to_string(&events).unwrap().contains("s3cr3t-value"));
    assert_eq!(dir.run_statuses("orders"), ["failed"], "the failed download is on record");
    validate(&events);

    // A job of a job file is named by the job.
    events_csv(&dir);
    dir.write(
        "jobs.yaml",
        "jobs:\n  - name: nightly-events\n    dataset_id: ev\n    source: {kind: csv, path: ev.csv}\n",
    );
    ok(with_lineage(dir.etl().args(["run", "jobs.yaml", "--job", "nightly-events"]), &receiver));
    let events = receiver.take();
    assert!(events.iter().all(|e| e["job"]["name"] == "nightly-events"), "{events:?}");

    // A PostgreSQL table: postgres://host:port, db.schema.table.
    let Some(url) = pg_url() else { return };
    let db = pg_database(&url, "lineage");
    pg_exec(&db, "CREATE TABLE orders (id int PRIMARY KEY, total numeric(10,2)); INSERT INTO orders VALUES (1, 9.5), (2, 3);");
    ok(with_lineage(
        dir.etl().args(["load-postgres", "--url", &db, "--table", "orders", "--dataset-id", "pg-orders"]),
        &receiver,
    ));
    let events = receiver.take();
    assert_eq!(types_and_run(&events).0, ["START", "COMPLETE"]);
    let input = &events[0]["inputs"][0];
    let port = db.rsplit_once(':').unwrap().1.split('/').next().unwrap();
    assert_eq!(input["namespace"].as_str().unwrap(), format!("postgres://127.0.0.1:{port}"), "{input}");
    let database = db.rsplit('/').next().unwrap().split('?').next().unwrap();
    assert_eq!(input["name"].as_str().unwrap(), format!("{database}.public.orders"), "{input}");
    validate(&events);
}

fn events_csv(dir: &Dir) {
    dir.write("ev.csv", "id,kind\n1,a\n2,b\n");
}

#[test]
fn a_lineage_server_that_never_answers_costs_one_timeout_and_one_warning() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let accepted = Arc::new(Mutex::new(Vec::new()));
    let held = accepted.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            // Held open, never answered.
            held.lock().unwrap().push(stream);
        }
    });
    let dir = Dir::new();
    events(&dir, "a.csv", 4);
    let started = Instant::now();
    let r = ok(dir
        .etl()
        .args(["upload-csv", "a.csv", "--dataset-id", "d"])
        .env("OPENLINEAGE_URL", &url)
        .env("OPENLINEAGE__TRANSPORT__TIMEOUT", "1"));
    let took = started.elapsed();
    assert_eq!(r.stderr.matches("could not send the run's OpenLineage event").count(), 1, "{r:?}");
    assert!(r.stderr.contains("no answer in 1.0 s; this run sends no more (the load goes on)"), "{r:?}");
    // One wait: the START's; the end's was not tried.
    assert_eq!(accepted.lock().unwrap().len(), 1, "one connection");
    // (Not a speed goal: without the timeout the run would wait for ever.)
    assert!(took < Duration::from_secs(30), "{took:?}");
}

#[test]
fn a_job_whose_file_never_came_is_a_failed_run_of_its_dataset() {
    let receiver = Receiver::start();
    let dir = Dir::new();
    std::fs::create_dir_all(dir.path().join("in")).unwrap();
    dir.write(
        "jobs.yaml",
        "jobs:\n  - name: nightly\n    dataset_id: orders\n    source: {kind: csv, source_dir: in, file_pattern: \"orders-*.csv\"}\n",
    );
    let metrics = dir.path().join("metrics");
    let r = run(with_lineage(dir.etl().args(["run", "jobs.yaml", "--job", "nightly"]), &receiver)
        .env("ETL_METRICS_DIR", &metrics));
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("no file in in matches `orders-*.csv`"), "{r:?}");
    // On record, in the metrics, in lineage and in etl status: the night's load did not happen.
    assert_eq!(dir.run_statuses("orders"), ["failed"]);
    let prom = std::fs::read_to_string(metrics.join("etl-orders.prom")).unwrap();
    assert_eq!(value(&prom, "etl_last_run_exit_code", "etl_job=\"nightly\""), Some(2.0), "{prom}");
    assert_eq!(value(&prom, "etl_last_success_timestamp_seconds", "dataset=\"orders\""), Some(0.0), "{prom}");
    let events = receiver.take();
    assert_eq!(types_and_run(&events).0, ["START", "FAIL"]);
    assert_eq!(
        events[0]["inputs"][0]["name"].as_str().unwrap(),
        dir.path().canonicalize().unwrap().join("in/orders-*.csv").display().to_string()
    );
    let s = status(&dir, &[]);
    assert_eq!(s.code, 1, "{s:?}");
    assert!(
        s.stdout.contains("orders: its last run failed (upload-csv): job \"nightly\": no file in in matches"),
        "{s:?}"
    );
    // A dry run is no run: nothing recorded.
    let dry = Dir::new();
    std::fs::create_dir_all(dry.path().join("in")).unwrap();
    dry.write("jobs.yaml", std::fs::read_to_string(dir.path().join("jobs.yaml")).unwrap());
    assert_eq!(run(dry.etl().args(["run", "jobs.yaml", "--job", "nightly", "--dry-run"])).code, 2);
    assert!(dry.all_lake_keys().is_empty());
}
