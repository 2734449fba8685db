//! What a person reads, as snapshots reviewed in the diff (`tests/it/snapshots/*.snap`, made with
//! `insta`): every `--help` page, and the output of each command's success and main failure paths.
//! Times, temporary paths, run ids and sizes that vary are replaced by placeholders; everything else
//! is compared to the letter. After an intended change, `INSTA_UPDATE=always bash scripts/test.sh
//! snapshots` rewrites them (or `cargo insta review`), and the diff shows what a person now reads.

use clap::CommandFactory;

use crate::util::*;

/// What varies between runs, replaced so that a snapshot holds only what is meant.
fn filters(dir: &Dir) -> Vec<(String, String)> {
    let root = regex_escape(&dir.path().display().to_string());
    vec![
        (root, "[dir]".into()),
        (r"\d{8}T\d{6}\.\d{3}Z-[0-9a-f]{8}".into(), "[run-id]".into()),
        (r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z".into(), "[time]".into()),
        (r"\d+\.\d\d s\b".into(), "[secs] s".into()),
        (r"\b\d+(\.\d)? (B|KiB|MiB)\b".into(), "[size]".into()),
        (r"[0-9a-f]{64}".into(), "[sha256]".into()),
        // The doctor's milliseconds, and the seconds column of a multi-dataset table.
        (
            // (Right-aligned: the spaces before the number vary with its width.)
            r"(?m)^((list|put|get|conditional create|multipart upload|server-side copy|delete)\s+(ok|warning|FAILED|skipped))\s+\d+".into(),
            "$1 [ms]".into(),
        ),
        (r"(?m)(\s)\d+\.\d$".into(), "$1[s]".into()),
        (r#""ms": ?\d+"#.into(), r#""ms": [ms]"#.into()),
        (r#""(seconds|extract|typing|publish)": ?[0-9.e-]+"#.into(), r#""$1": [secs]"#.into()),
        (r#""(bytes|size)": ?\d+"#.into(), r#""$1": [bytes]"#.into()),
    ]
}

fn regex_escape(text: &str) -> String {
    text.chars()
        .map(|c| if "\\.+*?()|[]{}^$".contains(c) { format!("\\{c}") } else { c.to_string() })
        .collect()
}

/// Snapshots `text` under `name`, with `dir`'s varying parts filtered out.
fn snap(dir: &Dir, name: &str, text: &str) {
    let filters = filters(dir);
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path("snapshots");
    settings.set_prepend_module_to_snapshot(false);
    for (from, to) in &filters {
        settings.add_filter(from, to.as_str());
    }
    settings.bind(|| insta::assert_snapshot!(name, text));
}

/// A run's streams and code, as one text.
fn shown(r: &Run) -> String {
    format!("exit {}\n--- stdout\n{}--- stderr\n{}", r.code, r.stdout, r.stderr)
}

#[test]
fn every_help_page() {
    let dir = Dir::new();
    snap(&dir, "help", &ok(dir.etl().arg("--help")).stdout);
    for command in etl::cli::Cli::command().get_subcommands() {
        let name = command.get_name();
        snap(&dir, &format!("help-{name}"), &ok(dir.etl().args([name, "--help"])).stdout);
        // `etl schedule export`: a command's own subcommands.
        for sub in command.get_subcommands().map(|s| s.get_name()).filter(|s| *s != "help") {
            snap(&dir, &format!("help-{name}-{sub}"), &ok(dir.etl().args([name, sub, "--help"])).stdout);
        }
    }
}

#[test]
fn what_schedule_export_writes_for_each_scheduler() {
    let dir = Dir::new();
    dir.write(
        "jobs.yaml",
        "schedule: \"0 6 * * 1-5\"\njobs:\n  - name: events\n    dataset_id: events\n    partition_column: day\n    \
         source: {kind: csv, path: events.csv}\n  - name: orders\n    dataset_id: orders\n    schedule: \"@hourly\"\n    \
         slices: [..2025-12-31, 2026-01-01..]\n    partition_column: created\n    \
         source: {kind: api, url: \"http://api.example.com/orders\", auth: bearer, token_env: ORDERS_TOKEN}\n  \
         - name: old\n    dataset_id: old\n    enabled: false\n    source: {kind: csv, path: old.csv}\n",
    );
    let image = ["--image", "registry.example.com/etl:1.4"];
    let exports: [(&str, &[&str]); 4] = [
        ("schedule-k8s-cronjob", &["--to", "k8s-cronjob", image[0], image[1]]),
        ("schedule-argo", &["--to", "argo", image[0], image[1]]),
        ("schedule-airflow", &["--to", "airflow", "--executable", "/usr/local/bin/etl"]),
        ("schedule-dagster", &["--to", "dagster", "--retries", "5", "--retry-delay", "90s"]),
    ];
    for (name, args) in exports {
        snap(&dir, name, &shown(&ok(dir.etl().args(["schedule", "export", "jobs.yaml"]).args(args))));
    }
    snap(
        &dir,
        "schedule-export-out",
        &shown(&ok(dir.etl().args(["schedule", "export", "jobs.yaml", "--to", "airflow", "--out", "dags"]))),
    );
    dir.write(
        "unscheduled.yaml",
        "jobs:\n  - name: events\n    dataset_id: events\n    source: {kind: csv, path: events.csv}\n",
    );
    dir.write("badcron.yaml", "schedule: \"0 25 * * *\"\njobs:\n  - name: events\n    dataset_id: events\n    source: {kind: csv, path: events.csv}\n");
    dir.write("clash.yaml", "schedule: \"@daily\"\njobs:\n  - name: a-b\n    dataset_id: ab\n    source: {kind: csv, path: x.csv}\n  - name: a_b\n    dataset_id: ab2\n    source: {kind: csv, path: y.csv}\n");
    dir.write("secret.yaml", "schedule: \"@daily\"\njobs:\n  - name: t\n    dataset_id: t\n    source: {kind: postgres, table: t, url: \"postgres://etl:hunter2@db/x\"}\n");
    dir.write("overlap.yaml", "schedule: \"@daily\"\njobs:\n  - name: t\n    dataset_id: t\n    partition_column: d\n    slices: [2026-01-01..2026-01-31, 2026-01-15..]\n    source: {kind: csv, path: t.csv}\n");
    let failures: [(&str, &[&str]); 7] = [
        ("fail-schedule-name-clash", &["clash.yaml", "--to", "airflow"]),
        ("fail-schedule-secret-in-job-file", &["secret.yaml", "--to", "argo", "--image", "etl:1"]),
        ("fail-schedule-overlapping-slices", &["overlap.yaml", "--to", "dagster"]),
        ("fail-schedule-without-image", &["jobs.yaml", "--to", "k8s-cronjob"]),
        ("fail-schedule-without-schedule", &["unscheduled.yaml", "--to", "airflow"]),
        ("fail-schedule-bad-cron", &["badcron.yaml", "--to", "dagster"]),
        ("fail-schedule-bad-delay", &["jobs.yaml", "--to", "dagster", "--retry-delay", "soon"]),
    ];
    for (name, args) in failures {
        let r = run(dir.etl().args(["schedule", "export"]).args(args));
        assert_eq!(r.code, 2, "{name}: {r:?}");
        snap(&dir, name, &shown(&r));
    }
}

#[test]
fn a_csv_load_from_start_to_end() {
    let dir = Dir::new();
    dir.write("events.csv", "day,kind,cost\n2026-11-01,chat,0.5\n2026-11-02,edit,1.25\n2026-11-02,chat,NA\n");
    let load = ["upload-csv", "events.csv", "--dataset-id", "events", "--partition-col", "day"];
    snap(&dir, "upload-csv-dry-run", &shown(&ok(dir.etl().args(load).arg("--dry-run"))));
    snap(&dir, "upload-csv", &shown(&ok(dir.etl().args(load))));
    snap(&dir, "upload-csv-again", &shown(&ok(dir.etl().args(load))));
    snap(&dir, "inspect", &shown(&ok(dir.etl().args(["inspect", "events"]))));
    snap(&dir, "inspect-json", &shown(&ok(dir.etl().args(["inspect", "events", "--json"]))));
    snap(&dir, "runs", &shown(&ok(dir.etl().args(["runs", "events"]))));
    snap(
        &dir,
        "clear-dataset-dry-run",
        &shown(&ok(dir.etl().args(["clear-dataset", "events", "--dry-run"]))),
    );
    snap(&dir, "clear-dataset", &shown(&ok(dir.etl().args(["clear-dataset", "events", "--yes"]))));
    snap(&dir, "clear-dataset-nothing", &shown(&run(dir.etl().args(["clear-dataset", "events", "--yes"]))));
    snap(&dir, "repair-nothing", &shown(&ok(dir.etl().args(["repair", "events"]))));
    snap(&dir, "doctor", &shown(&ok(dir.etl().arg("doctor"))));
    snap(&dir, "json-summary", &shown(&ok(dir.etl().args(["--log-format", "json"]).args(load))));
}

#[test]
fn the_main_failures() {
    let dir = Dir::new();
    dir.write("ragged.csv", "id,name\n1,a\n2,b,extra\n");
    dir.write("events.csv", "day,kind\n2026-11-01,chat\n");
    let failures: [(&str, &[&str]); 10] = [
        ("fail-bad-row", &["upload-csv", "ragged.csv", "--dataset-id", "r"]),
        ("fail-missing-file", &["upload-csv", "nosuch.csv", "--dataset-id", "r"]),
        ("fail-bad-dataset-id", &["upload-csv", "events.csv", "--dataset-id", "../x"]),
        (
            "fail-missing-partition-column",
            &["upload-csv", "events.csv", "--dataset-id", "e", "--partition-col", "when"],
        ),
        ("fail-unknown-option", &["upload-csv", "events.csv", "--dataset-id", "e", "--partiton-col", "day"]),
        ("fail-inspect-nosuch", &["inspect", "nosuch"]),
        ("fail-clear-without-yes", &["clear-dataset", "events"]),
        ("fail-load-postgres-without-url", &["load-postgres", "--table", "t", "--dataset-id", "t"]),
        ("fail-load-domo-without-credentials", &["load-domo", "--all"]),
        ("fail-run-unknown-job", &["run", "jobs.yaml", "--job", "nosuch"]),
    ];
    dir.write(
        "jobs.yaml",
        "jobs:\n  - name: events\n    dataset_id: events\n    source: {kind: csv, path: events.csv}\n",
    );
    ok(dir.etl().args(["upload-csv", "events.csv", "--dataset-id", "events"]));
    dir.write("config/domo_datasets.yaml", "datasets:\n  - name: sales\n    domo_dataset_id: c1cddf9d-0000-4000-8000-0000000000aa\n    minio_dataset_id: sales\n");
    for (name, args) in failures {
        let r = run(dir.etl().args(args).env_remove("DOMO_CLIENT_ID").env_remove("DATABASE_URL"));
        assert_ne!(r.code, 0, "{name}: {r:?}");
        snap(&dir, name, &shown(&r));
    }
}

#[test]
fn listings_and_the_configuration() {
    let dir = Dir::new();
    dir.write("jobs.yaml", "jobs:\n  - name: events\n    description: the usage export\n    dataset_id: events\n    partition_column: day\n    source: {kind: csv, path: events.csv}\n  - name: orders\n    dataset_id: orders\n    enabled: false\n    source: {kind: postgres, table: orders}\n");
    snap(&dir, "run-list", &shown(&ok(dir.etl().args(["run", "jobs.yaml", "--list"]))));
    let r = ok(dir.etl().env("ETL_TARGET", "s3://bucket/lake").args([
        "--print-config",
        "upload-csv",
        "events.csv",
        "--dataset-id",
        "events",
    ]));
    // The environment's own variables (PATH, HOME...) differ between machines: the command's part only.
    let own = r.stdout.split("\nenvironment").next().unwrap_or(&r.stdout).to_owned();
    snap(&dir, "print-config", &own);
}

/// `[dir]`-free URLs of the fake servers, for the snapshots of the commands that reach them.
fn without_ports(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(i) = rest.find("http://127.0.0.1:") {
        out += &rest[..i];
        out += "http://127.0.0.1:[port]";
        rest = &rest[i + "http://127.0.0.1:".len()..];
        rest = rest.trim_start_matches(|c: char| c.is_ascii_digit());
    }
    out + rest
}

#[test]
fn each_loading_command() {
    use crate::fake_api::{FakeApi, Response};
    use crate::fake_domo::{FakeDataset, FakeDomo};
    let dir = Dir::new();
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let sample = std::fs::read(repo.join("data_sources/team-usage-events-2026-11-01.csv")).unwrap();
    dir.write("data_sources/team-usage-events-2026-11-01.csv", &sample);
    dir.write("config/csv_datasets.yaml", std::fs::read(repo.join("config/csv_datasets.yaml")).unwrap());
    snap(&dir, "load-cursor-usage", &shown(&ok(dir.etl().arg("load-cursor-usage"))));
    snap(&dir, "load-csv-list", &shown(&ok(dir.etl().args(["load-csv", "--list"]))));
    snap(&dir, "load-csv-all", &shown(&ok(dir.etl().args(["load-csv", "--all"]))));

    let id = "c1cddf9d-0000-4000-8000-0000000000aa";
    let domo = FakeDomo::start(&[(
        id,
        FakeDataset {
            columns: vec![("region", "STRING"), ("total", "DOUBLE")],
            csv: "region,total\nEU,10.5\nUS,20\n".into(),
        },
    )]);
    dir.write(
        "config/domo_datasets.yaml",
        format!("datasets:\n  - name: sales\n    domo_dataset_id: {id}\n    minio_dataset_id: sales\n"),
    );
    let mut cmd = dir.etl();
    for (k, v) in domo.env() {
        cmd.env(k, v);
    }
    snap(&dir, "load-domo-list", &shown(&ok(cmd.args(["load-domo", "--list"]))));
    let mut cmd = dir.etl();
    for (k, v) in domo.env() {
        cmd.env(k, v);
    }
    snap(&dir, "load-domo", &without_ports(&shown(&ok(cmd.args(["load-domo", "--dataset", "sales"])))));

    let api = FakeApi::start(|_, _| {
        Response::json(serde_json::json!([{"id": 1, "at": "2026-11-01T10:00:00Z", "tags": ["a"]}]))
    });
    let url = format!("{}/items", api.url);
    let r = ok(dir.etl().args(["load-api", "--url", &url, "--dataset-id", "items", "--partition-col", "at"]));
    snap(&dir, "load-api", &without_ports(&shown(&r)));

    // Several datasets at once: a table, then the run's summary.
    dir.write("jobs.yaml", "jobs:\n  - name: usage\n    dataset_id: usage\n    partition_column: Date\n    source: {kind: csv, source_dir: data_sources, file_pattern: \"team-usage-events-*.csv\"}\n  - name: broken\n    dataset_id: broken\n    source: {kind: csv, path: nosuch.csv}\n");
    let r = run(dir.etl().args(["run", "jobs.yaml", "--all", "--jobs", "1"]));
    assert_eq!(r.code, 1, "{r:?}");
    snap(&dir, "run-all-one-failed", &shown(&r));
}

/// Issue 29, item 4: a new user's mistakes and what they are told, each with its fix: a column's
/// near name, a partition column that is not a date, a dataset that is not there (one exit code for
/// `inspect`, `runs` and `clear-dataset`), an id's bad character, a job named once, a usage line
/// without what `.env` set, the plan's note of a column one value kept as text.
#[test]
fn a_new_users_mistakes() {
    let dir = Dir::new();
    sample_exports(&dir);
    ok(dir.etl().arg("load-cursor-usage"));
    let export = "data_sources/team-usage-events-2026-11-01.csv";
    let mut text = String::new();
    let mut say = |what: &str, r: Run| text += &format!("$ {what}\n{}\n", shown(&r));
    say(
        "--partition-col date",
        run(dir.etl().args(["upload-csv", export, "--dataset-id", "u", "--partition-col", "date"])),
    );
    say(
        "--partition-col User",
        run(dir.etl().args(["upload-csv", export, "--dataset-id", "u", "--partition-col", "User"])),
    );
    for command in ["inspect", "runs", "clear-dataset"] {
        let mut args = vec![command, "cursor-usag"];
        if command == "clear-dataset" {
            args.push("--yes");
        }
        say(&args.join(" "), run(dir.etl().args(&args)));
    }
    say(
        "--dataset-id 'user events'",
        run(dir.etl().args(["upload-csv", export, "--dataset-id", "user events"])),
    );
    dir.write(
        "jobs.yaml",
        "jobs:\n  - name: strict\n    dataset_id: strict\n    checks: [{row_count: {min: 1000}}]\n    \
         source: {kind: csv, path: data_sources/team-usage-events-2026-11-01.csv}\n",
    );
    say("run jobs.yaml --all (a check fails)", run(dir.etl().args(["run", "jobs.yaml", "--all"])));
    dir.write(".env", "ETL_TARGET=./lake\n");
    say("upload-csv (with a .env)", run(dir.etl().arg("upload-csv")));
    dir.write("q.csv", "name,qty\nalice,1\nbob, 42 \n");
    say(
        "upload-csv q.csv --dry-run",
        run(dir.etl().args(["upload-csv", "q.csv", "--dataset-id", "q", "--dry-run"])),
    );
    snap(&dir, "first-hour-mistakes", &text);
}
