//! Issue 28: what happens when a person leaves something out, or the environment holds something
//! nobody thought of. One test (or a few) per item of the issue, each at the level a user meets it:
//! the binary, on the local target unless a server matters.

use crate::fake_api::{FakeApi, Response};
use crate::util::*;

/// What a desktop login (GNOME on Wayland, say) puts in every process's environment: names holding
/// `session`, `auth`, `key` whose values are ordinary words.
const DESKTOP_LOGIN: &[(&str, &str)] = &[
    ("XDG_SESSION_CLASS", "user"),
    ("XDG_SESSION_TYPE", "wayland"),
    ("XDG_SESSION_DESKTOP", "ubuntu"),
    ("XDG_SESSION_ID", "2"),
    ("DESKTOP_SESSION", "ubuntu"),
    ("DBUS_SESSION_BUS_ADDRESS", "unix:path=/run/user/1000/bus"),
    ("SSH_AUTH_SOCK", "/run/user/1000/keyring/ssh"),
    ("XAUTHORITY", "/run/user/1000/.mutter-Xwaylandauth.X1"),
    ("GNOME_KEYRING_CONTROL", "/run/user/1000/keyring"),
    ("SESSION_MANAGER", "local/desk:@/tmp/.ICE-unix/1234,unix/desk:/tmp/.ICE-unix/1234"),
];

/// What a docker-compose file's `environment:` typically holds for a development stack.
const DOCKER_COMPOSE: &[(&str, &str)] = &[
    ("POSTGRES_USER", "postgres"),
    ("POSTGRES_PASSWORD", "postgres"),
    ("POSTGRES_DB", "events"),
    ("MINIO_ROOT_USER", "minioadmin"),
    ("MINIO_ROOT_PASSWORD", "minioadmin"),
    ("REDIS_PASSWORD", "redis"),
    ("JWT_SECRET", "changeme"),
    ("SECRET_KEY", "data"),
    ("API_KEY", "value"),
];

fn with_env<'a>(cmd: &'a mut std::process::Command, vars: &[(&str, &str)]) -> &'a mut std::process::Command {
    for (k, v) in vars {
        cmd.env(k, v);
    }
    cmd
}

fn manifest(dir: &Dir, id: &str) -> serde_json::Value {
    let text = std::fs::read_to_string(dir.lake(&format!("datasets/{id}/_manifest.json"))).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// Every row of a dataset on the local target: the number of rows in all its data files.
fn rows_in(dir: &Dir, id: &str) -> usize {
    dir.lake_keys()
        .iter()
        .filter(|k| k.starts_with(&format!("datasets/{id}/")) && k.ends_with(".parquet"))
        .map(|k| read_parquet(&dir.lake(k)).height())
        .sum()
}

/// Item 1: a desktop login's `XDG_SESSION_CLASS=user` and a compose file's `POSTGRES_PASSWORD` are no
/// secrets: a dataset `user-events` with a `user_id` column keeps its names in the records, and an
/// append then an upsert keep every row.
#[test]
fn ordinary_variables_are_no_secrets_and_an_append_keeps_every_row() {
    let dir = Dir::new();
    dir.write("a.csv", "user_id,event,at\n1,login,2026-01-01\n2,login,2026-01-01\n3,view,2026-01-02\n");
    dir.write("b.csv", "user_id,event,at\n4,logout,2026-01-03\n");
    dir.write("c.csv", "user_id,event,at\n2,postgres,2026-01-01\n5,view,2026-01-04\n");
    let env: Vec<(&str, &str)> = DESKTOP_LOGIN.iter().chain(DOCKER_COMPOSE).copied().collect();
    let load = |file: &str, args: &[&str]| {
        ok(with_env(&mut dir.etl(), &env)
            .args(["upload-csv", file, "--dataset-id", "user-events"])
            .args(args))
    };
    let first = load("a.csv", &[]);
    assert!(!first.stderr.contains("[redacted]"), "{first:?}");
    assert!(first.stderr.contains("user-events"), "{first:?}");
    load("b.csv", &["--mode", "append"]);
    assert_eq!(
        rows_in(&dir, "user-events"),
        4,
        "the append kept the first run's rows: {:?}",
        dir.lake_keys()
    );
    let upsert = load("c.csv", &["--mode", "upsert", "--primary-key", "user_id"]);
    assert!(!upsert.stderr.contains("[redacted]"), "{upsert:?}");
    assert_eq!(rows_in(&dir, "user-events"), 5);
    let record = manifest(&dir, "user-events");
    let text = record.to_string();
    assert!(!text.contains("[redacted]"), "{text}");
    assert!(record["files"][0]["key"].as_str().unwrap().starts_with("datasets/user-events/"), "{text}");
    assert_eq!(record["schema"][0]["name"], "user_id", "{text}");
    for key in dir.all_lake_keys().iter().filter(|k| k.contains("/_runs/")) {
        let run = std::fs::read_to_string(dir.lake(key)).unwrap();
        assert!(!run.contains("[redacted]"), "{key}: {run}");
    }
    let inspect = ok(with_env(&mut dir.etl(), &env).args(["inspect", "user-events"]));
    assert!(inspect.stdout.contains("user_id") && !inspect.stdout.contains("[redacted]"), "{inspect:?}");
}

/// Item 1: data files that the manifest does not list are deleted by an append only where a stopped
/// append explains them; a manifest that disagrees with the files otherwise (its keys are not the
/// dataset's) deletes nothing.
#[test]
fn an_append_never_deletes_files_on_a_disagreeing_manifests_word() {
    let dir = Dir::new();
    dir.write("a.csv", "id,v\n1,a\n2,b\n3,c\n");
    dir.write("b.csv", "id,v\n4,d\n");
    dir.write("c.csv", "id,v\n5,e\n");
    ok(dir.etl().args(["upload-csv", "a.csv", "--dataset-id", "t"]));
    // A manifest written by an older etl that rewrote the dataset's name in it.
    let path = dir.lake("datasets/t/_manifest.json");
    let text = std::fs::read_to_string(&path).unwrap().replace("datasets/t/", "datasets/[redacted]/");
    std::fs::write(&path, text).unwrap();
    let r = ok(dir.etl().args(["upload-csv", "b.csv", "--dataset-id", "t", "--mode", "append"]));
    assert!(r.stderr.contains("disagree"), "{r:?}");
    assert_eq!(rows_in(&dir, "t"), 4, "{:?}", dir.lake_keys());

    // A stopped append's file (numbered after every listed one) is still removed.
    let stray = dir.lake("datasets/t/data/part-0009.parquet");
    std::fs::copy(dir.lake("datasets/t/data/part-0000.parquet"), &stray).unwrap();
    let r = ok(dir.etl().args(["upload-csv", "c.csv", "--dataset-id", "t", "--mode", "append"]));
    assert!(r.stderr.contains("stopped append"), "{r:?}");
    assert!(!stray.exists());
    assert_eq!(rows_in(&dir, "t"), 5, "{:?}", dir.lake_keys());
}

/// Item 1: `etl schedule export` on stdout is the file as made: an `auth: api-key` job's Dagster and
/// Airflow files parse, and name the job as it is.
#[test]
fn exported_scheduler_files_on_stdout_are_not_rewritten() {
    let dir = Dir::new();
    dir.write(
        "jobs.yaml",
        "schedule: \"0 3 * * *\"\njobs:\n  - name: tokens\n    dataset_id: tokens\n    source:\n      \
         kind: api\n      url: https://api.example.com/tokens\n      auth: api-key\n      \
         api_key_header: X-Api-Key\n      api_key_env: API_KEY\n",
    );
    for to in ["dagster", "airflow"] {
        let r = ok(with_env(&mut dir.etl(), DESKTOP_LOGIN).env("API_KEY", "tokens").args([
            "schedule",
            "export",
            "jobs.yaml",
            "--to",
            to,
        ]));
        assert!(!r.stdout.contains("[redacted]"), "{to}: {}", r.stdout);
        assert!(r.stdout.contains("--job") && r.stdout.contains("tokens"), "{to}: {}", r.stdout);
        let parsed = std::process::Command::new("python3")
            .args(["-c", "import ast, sys; ast.parse(sys.stdin.read())"])
            .stdin(std::process::Stdio::piped())
            .spawn()
            .and_then(|mut child| {
                use std::io::Write;
                child.stdin.take().unwrap().write_all(r.stdout.as_bytes())?;
                child.wait()
            })
            .unwrap();
        assert!(parsed.success(), "{to}: the file does not parse:\n{}", r.stdout);
    }
}

/// Done-when of item 1: every loading command run with a desktop login's and a compose file's
/// environment records the real names: no run record or manifest says `[redacted]` where no secret was.
#[test]
fn every_command_records_real_names_under_a_desktop_and_a_compose_environment() {
    for (label, env) in [("desktop login", DESKTOP_LOGIN), ("docker-compose", DOCKER_COMPOSE)] {
        let dir = Dir::new();
        sample_exports(&dir);
        dir.write("drops/user-data.csv", "user,session_id,value\nuser,changeme,1\nminioadmin,redis,2\n");
        dir.write(
            "csv.yaml",
            "datasets:\n  - name: user-data\n    minio_dataset_id: user-data\n    source_dir: drops\n    \
             file_pattern: \"*.csv\"\n",
        );
        let api = FakeApi::start(|_, _| {
            Response::json(serde_json::json!({"items": [{"user": "user", "session": "data", "value": 1}]}))
        });
        dir.write(
            "jobs.yaml",
            format!(
                "jobs:\n  - name: user-sessions\n    dataset_id: user-sessions\n    source:\n      kind: api\n      \
                 url: {}/items\n      records: items\n",
                api.url
            ),
        );
        let mut commands: Vec<Vec<String>> = vec![
            vec![
                "upload-csv".into(),
                "drops/user-data.csv".into(),
                "--dataset-id".into(),
                "user-upload".into(),
            ],
            vec!["load-cursor-usage".into()],
            vec!["load-csv".into(), "--config".into(), "csv.yaml".into(), "--all".into()],
            vec![
                "load-api".into(),
                "--url".into(),
                format!("{}/items", api.url),
                "--records".into(),
                "items".into(),
                "--dataset-id".into(),
                "user-api".into(),
            ],
            vec!["run".into(), "jobs.yaml".into(), "--all".into()],
        ];
        if let Some(url) = pg_url() {
            let db = pg_database(&url, &format!("forgotten_{}", label.replace(['-', ' '], "_")));
            pg_exec(&db, "CREATE TABLE user_events (user_id int, session text); INSERT INTO user_events VALUES (1, 'user')");
            commands.push(vec![
                "load-postgres".into(),
                "--url".into(),
                db,
                "--table".into(),
                "user_events".into(),
                "--dataset-id".into(),
                "user-pg".into(),
            ]);
        }
        // Domo, against the fake Domo, and a drop folder on the S3 server (loaded into the local lake).
        let domo = crate::fake_domo::FakeDomo::start(&[(
            "c1cddf9d-0000-4000-8000-000000000001",
            crate::fake_domo::FakeDataset {
                columns: vec![("user", "STRING"), ("session", "STRING")],
                csv: "user,session\nuser,data\n".into(),
            },
        )]);
        dir.write(
            "domo.yaml",
            "datasets:\n  - name: user-domo\n    domo_dataset_id: \"c1cddf9d-0000-4000-8000-000000000001\"\n    \
             minio_dataset_id: user-domo\n",
        );
        commands.push(vec!["load-domo".into(), "--config".into(), "domo.yaml".into(), "--all".into()]);
        let mut extra: Vec<(String, String)> =
            domo.env().into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
        if let Some(s3) = s3_env() {
            let folder =
                format!("s3://{}/drop-user-{}-{}", s3.bucket, label.replace(' ', "-"), std::process::id());
            runtime().block_on(async {
                let drop = s3.store(&folder).await;
                drop.put("user-data.csv", b"user,session_id\nuser,changeme\n".to_vec()).await.unwrap();
            });
            commands.push(vec![
                "load-s3".into(),
                "--source".into(),
                format!("{folder}/*.csv"),
                "--dataset-id".into(),
                "user-s3".into(),
            ]);
            extra.extend(s3.vars.iter().cloned());
        }
        for args in &commands {
            let mut cmd = dir.etl();
            cmd.envs(extra.iter().map(|(k, v)| (k.as_str(), v.as_str())));
            let r = ok(with_env(&mut cmd, env).args(args));
            assert!(!r.stderr.contains("[redacted]"), "{label}: {args:?}: {r:?}");
        }
        let records: Vec<String> = dir.all_lake_keys().into_iter().filter(|k| is_run_record(k)).collect();
        assert!(records.len() >= 2 * commands.len(), "{label}: {records:?}");
        for key in records {
            let text = std::fs::read_to_string(dir.lake(&key)).unwrap();
            assert!(!text.contains("[redacted]"), "{label}: {key}: {text}");
        }
    }
}

/// The data files of dataset `id` on the local target, as keys under `datasets/<id>/`.
fn data_files(dir: &Dir, id: &str) -> Vec<String> {
    let prefix = format!("datasets/{id}/");
    dir.lake_keys().into_iter().filter(|k| k.starts_with(&prefix) && k.ends_with(".parquet")).collect()
}

/// Item 2: a partitioned dataset with a primary key, loaded again without `--partition-col` and
/// `--primary-key`, keeps its partitions and its key: the run upserts into the layout it has, and
/// says so.
#[test]
fn a_forgotten_partition_column_and_key_are_the_datasets_own() {
    let dir = Dir::new();
    dir.write("a.csv", "id,day,v\n1,2026-01-01,a\n2,2026-01-02,b\n3,2026-01-03,c\n");
    dir.write("b.csv", "id,day,v\n2,2026-01-02,B\n4,2026-01-04,d\n");
    ok(dir.etl().args([
        "upload-csv",
        "a.csv",
        "--dataset-id",
        "t",
        "--partition-col",
        "day",
        "--primary-key",
        "id",
    ]));
    let r = ok(dir.etl().args(["upload-csv", "b.csv", "--dataset-id", "t", "--log-format", "json"]));
    let summary = summary_of(&r);
    let notes = summary["notes"].to_string();
    assert!(notes.contains("partitioned by `day`, as t is (--partition-col left out)"), "{notes}");
    assert!(notes.contains("primary key (id)"), "{notes}");
    assert_eq!(summary["upserted"]["updated"], 1, "{summary}");
    let files = data_files(&dir, "t");
    assert_eq!(files.len(), 4, "every day kept its partition: {files:?}");
    assert!(
        files.iter().all(|k| k.contains("/partitions/day=") || k.contains("/partitions/date=")),
        "{files:?}"
    );
    assert_eq!(rows_in(&dir, "t"), 4);
    let record = manifest(&dir, "t");
    assert_eq!(record["partition_column"], "day");
    assert_eq!(record["primary_key"], serde_json::json!(["id"]));
    // An append given over a keyed dataset would give its keys second rows: refused, as
    // `--mode append --primary-key id` is.
    let r = run(dir.etl().args(["upload-csv", "b.csv", "--dataset-id", "t", "--mode", "append"]));
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stderr.contains("is upserted by its primary key (id)"), "{r:?}");
    assert_eq!(rows_in(&dir, "t"), 4);
}

/// Item 2: a year of daily partitions loaded again with one day's file and no `--partition-col`:
/// the day is merged into its partition, the other days stay.
#[test]
fn a_forgotten_partition_column_never_wipes_the_other_days() {
    let dir = Dir::new();
    let mut year = String::from("day,v\n");
    for d in 0..365 {
        let (y, m, dd) = etl::transform::calendar::civil_from_days(20454 + d);
        year += &format!("{y:04}-{m:02}-{dd:02},{d}\n");
    }
    dir.write("year.csv", year);
    dir.write("day.csv", "day,v\n2026-03-01,1000\n");
    ok(dir.etl().args(["upload-csv", "year.csv", "--dataset-id", "y", "--partition-col", "day"]));
    assert_eq!(data_files(&dir, "y").len(), 365);
    let r = ok(dir.etl().args(["upload-csv", "day.csv", "--dataset-id", "y"]));
    assert!(r.stderr.contains("partitioned by `day`"), "{r:?}");
    assert_eq!(data_files(&dir, "y").len(), 365);
    assert_eq!(rows_in(&dir, "y"), 365);
    // A layout change is said, not defaulted into: another column without --mode is refused...
    dir.write("other.csv", "day,v,other_day\n2026-03-01,1,2026-03-02\n");
    let r =
        run(dir.etl().args(["upload-csv", "other.csv", "--dataset-id", "y", "--partition-col", "other_day"]));
    assert_ne!(r.code, 0, "{r:?}");
    assert!(r.stderr.contains("--mode replace"), "{r:?}");
    assert_eq!(data_files(&dir, "y").len(), 365);
    // A source without the remembered column says where the column came from.
    dir.write("nodays.csv", "v\n1\n");
    let r = run(dir.etl().args(["upload-csv", "nodays.csv", "--dataset-id", "y"]));
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stderr.contains("--partition-col was left out") && r.stderr.contains("--mode replace"),
        "{r:?}"
    );
    // ... and a replace given explicitly lays the dataset out anew.
    let r = ok(dir.etl().args(["upload-csv", "day.csv", "--dataset-id", "y", "--mode", "replace"]));
    assert!(!r.stderr.contains("left out"), "{r:?}");
    assert_eq!(data_files(&dir, "y"), ["datasets/y/data/part-0000.parquet"]);
    assert!(manifest(&dir, "y")["partition_column"].is_null());
}

/// Item 2: a table appended to keeps being appended to when `--mode append` is forgotten (an
/// unpartitioned load's default, replace, would leave only the last file).
#[test]
fn a_forgotten_append_mode_is_the_datasets_own() {
    let dir = Dir::new();
    dir.write("a.csv", "id,v\n1,a\n2,b\n");
    dir.write("b.csv", "id,v\n3,c\n");
    dir.write("c.csv", "id,v\n4,d\n");
    ok(dir.etl().args(["upload-csv", "a.csv", "--dataset-id", "log", "--mode", "append"]));
    ok(dir.etl().args(["upload-csv", "b.csv", "--dataset-id", "log", "--mode", "append"]));
    let r = ok(dir.etl().args(["upload-csv", "c.csv", "--dataset-id", "log"]));
    assert!(r.stderr.contains("mode append, as log is (--mode left out)"), "{r:?}");
    assert_eq!(rows_in(&dir, "log"), 4);
    // A replace given resets it.
    ok(dir.etl().args(["upload-csv", "a.csv", "--dataset-id", "log", "--mode", "replace"]));
    ok(dir.etl().args(["upload-csv", "a.csv", "--dataset-id", "log"]));
    assert_eq!(rows_in(&dir, "log"), 2);
}

/// Item 3: `etl run` with no selector is a usage error (it loaded nothing and said ok), and `--all`
/// with `--job` too (it ran every job).
#[test]
fn etl_run_needs_one_selector() {
    let dir = Dir::new();
    dir.write("a.csv", "id\n1\n");
    let jobs = "jobs:\n  - name: one\n    dataset_id: one\n    source: {kind: csv, path: a.csv}\n  \
                - name: two\n    dataset_id: two\n    source: {kind: csv, path: a.csv}\n";
    dir.write("jobs.yaml", jobs);
    let r = run(dir.etl().args(["run", "jobs.yaml"]));
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("--list") && r.stderr.contains("--job") && r.stderr.contains("--all"), "{r:?}");
    let r = run(dir.etl().args(["run", "jobs.yaml", "--all", "--job", "one"]));
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("cannot be used with"), "{r:?}");
    assert!(dir.lake_keys().is_empty(), "{:?}", dir.lake_keys());
    ok(dir.etl().args(["run", "jobs.yaml", "--job", "one", "--job", "two"]));
    assert_eq!(dir.lake_keys().len(), 2, "{:?}", dir.lake_keys());
}

/// Item 5: rows of delimiters only (Excel's `;;;;` past the data) are skipped and counted with their
/// lines, never loaded as all-null rows (nor into `__HIVE_DEFAULT_PARTITION__`).
#[test]
fn rows_with_no_value_at_all_are_skipped_and_counted() {
    let dir = Dir::new();
    dir.write("excel.csv", "day;item;qty\r\n2026-01-01;a;1\r\n;;\r\n2026-01-02;b;2\r\n;;\r\n;;\r\n");
    let r = ok(dir.etl().args(["upload-csv", "excel.csv", "--dataset-id", "x", "--partition-col", "day"]));
    assert!(r.stderr.contains("skipped 3 rows with no value at all"), "{r:?}");
    assert!(r.stderr.contains("lines 3, 5, 6"), "{r:?}");
    let files = data_files(&dir, "x");
    assert_eq!(files.len(), 2, "{files:?}");
    assert!(!files.iter().any(|k| k.contains("__HIVE_DEFAULT_PARTITION__")), "{files:?}");
    assert_eq!(rows_in(&dir, "x"), 2);
    assert_eq!(manifest(&dir, "x")["rows_written"], 2);
}

/// Item 6: a target that looks like a URL but is not a valid `s3://` one is a usage error, never a
/// local folder named `s3:`.
#[test]
fn a_mistyped_s3_target_is_a_usage_error() {
    let dir = Dir::new();
    dir.write("a.csv", "id\n1\n");
    for target in ["s3:/bucket", "s3:bucket/x", "s3//bucket", "https://bucket.example.com/x"] {
        let r = run(dir.etl().args(["upload-csv", "a.csv", "--dataset-id", "a", "--target", target]));
        assert_eq!(r.code, 2, "{target}: {r:?}");
        assert!(r.stderr.contains("s3://bucket"), "{target}: {r:?}");
        let r = run(dir.etl().env("ETL_TARGET", target).args(["upload-csv", "a.csv", "--dataset-id", "a"]));
        assert_eq!(r.code, 2, "{target} in ETL_TARGET: {r:?}");
    }
    let entries: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(entries, ["a.csv"], "nothing was written");
}

/// Item 7: a failure after the commit point (deleting what the run replaced, as a bucket policy
/// without `s3:DeleteObject` refuses) leaves the run published: exit 0, a warning saying what was
/// left and how `etl repair` removes it; the retried append (as a scheduler would retry an exit 1)
/// adds no row twice.
#[test]
fn a_run_past_its_commit_point_has_succeeded_and_a_retried_append_adds_nothing() {
    let dir = Dir::new();
    dir.write("a.csv", "id,day\n1,2026-01-01\n2,2026-01-02\n");
    dir.write("b.csv", "id,day\n3,2026-01-01\n");
    ok(dir.etl().args(["upload-csv", "a.csv", "--dataset-id", "d", "--partition-col", "day"]));
    // A replace whose delete of the replaced day fails.
    let r = run(dir.etl().env("ETL_FAULT", "fail:delete:1").args([
        "upload-csv",
        "b.csv",
        "--dataset-id",
        "d",
        "--mode",
        "replace",
        "--partition-col",
        "day",
    ]));
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stderr.contains("published, but the cleanup after it failed"), "{r:?}");
    assert!(r.stderr.contains("etl repair d"), "{r:?}");
    assert!(!r.stderr.contains("nothing was published"), "{r:?}");
    let r = ok(dir.etl().args(["repair", "d"]));
    assert!(r.stderr.contains("finished"), "{r:?}");
    assert_eq!(rows_in(&dir, "d"), 1, "{:?}", dir.lake_keys());

    // An append, retried: the second run sees the same bytes appended already.
    ok(dir.etl().args(["upload-csv", "a.csv", "--dataset-id", "d", "--mode", "append"]));
    assert_eq!(rows_in(&dir, "d"), 3);
    let retry = ok(dir.etl().args(["upload-csv", "a.csv", "--dataset-id", "d", "--mode", "append"]));
    assert!(retry.stderr.contains("nothing appended"), "{retry:?}");
    assert_eq!(rows_in(&dir, "d"), 3, "{:?}", dir.lake_keys());
    ok(dir.etl().args(["upload-csv", "a.csv", "--dataset-id", "d", "--mode", "append", "--append-again"]));
    assert_eq!(rows_in(&dir, "d"), 5);
}

/// Item 8: a replace of a range of days whose types differ from the dataset's is refused, as a merge
/// is: the days outside the range would keep the old Parquet type and a read of all of them fail.
#[test]
fn a_range_replace_over_a_changed_type_is_refused() {
    let dir = Dir::new();
    dir.write("a.csv", "day,qty\n2026-01-01,1\n2026-01-02,2\n2026-01-03,3\n");
    dir.write("b.csv", "day,qty\n2026-01-02,2.5\n");
    ok(dir.etl().args(["upload-csv", "a.csv", "--dataset-id", "r", "--partition-col", "day"]));
    let before = dir.all_lake_keys();
    let r = run(dir.etl().args([
        "upload-csv",
        "b.csv",
        "--dataset-id",
        "r",
        "--partition-col",
        "day",
        "--mode",
        "replace",
        "--partition-range",
        "2026-01-02..2026-01-02",
    ]));
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stderr.contains("the days outside --partition-range would disagree"), "{r:?}");
    assert!(r.stderr.contains("`qty`"), "{r:?}");
    assert_eq!(
        dir.all_lake_keys().into_iter().filter(|k| !k.contains("/_runs/")).collect::<Vec<_>>(),
        before.into_iter().filter(|k| !k.contains("/_runs/")).collect::<Vec<_>>()
    );
}

/// Item 9: a dry run takes no lock and writes nothing, on every command, even where a stopped run
/// left a publish half-done: it says so, and leaves it for the real run.
#[test]
fn a_dry_run_writes_nothing_even_over_a_pending_journal() {
    let dir = Dir::new();
    dir.write("a.csv", "id,day\n1,2026-01-01\n");
    dir.write("b.csv", "id,day\n2,2026-01-02\n");
    ok(dir.etl().args(["upload-csv", "a.csv", "--dataset-id", "p", "--partition-col", "day"]));
    let killed =
        run(dir.etl().env("ETL_FAULT", "kill:upload:1").args(["upload-csv", "b.csv", "--dataset-id", "p"]));
    assert_eq!(killed.code, -1, "{killed:?}");
    let listing = |dir: &Dir| -> Vec<(String, Vec<u8>)> {
        dir.all_lake_keys().into_iter().map(|k| (k.clone(), std::fs::read(dir.lake(&k)).unwrap())).collect()
    };
    let before = listing(&dir);
    assert!(before.iter().any(|(k, _)| k.contains("/_journal/")), "{:?}", dir.all_lake_keys());
    let api = FakeApi::start(|_, _| Response::json(serde_json::json!([{"id": 3, "day": "2026-01-03"}])));
    let mut dry_runs: Vec<Vec<String>> = vec![
        vec!["upload-csv".into(), "b.csv".into(), "--dataset-id".into(), "p".into(), "--dry-run".into()],
        vec![
            "load-api".into(),
            "--url".into(),
            api.url.clone(),
            "--dataset-id".into(),
            "p".into(),
            "--dry-run".into(),
        ],
        vec![
            "load-api".into(),
            "--url".into(),
            api.url.clone(),
            "--dataset-id".into(),
            "p".into(),
            "--incremental-field".into(),
            "id".into(),
            "--since-param".into(),
            "since".into(),
            "--dry-run".into(),
        ],
    ];
    if let Some(url) = pg_url() {
        let db = pg_database(&url, "forgotten_dry");
        pg_exec(&db, "CREATE TABLE t (id int, day date); INSERT INTO t VALUES (4, '2026-01-04')");
        dry_runs.push(vec![
            "load-postgres".into(),
            "--url".into(),
            db.clone(),
            "--table".into(),
            "t".into(),
            "--dataset-id".into(),
            "p".into(),
            "--dry-run".into(),
        ]);
        dry_runs.push(vec![
            "load-postgres".into(),
            "--url".into(),
            db,
            "--table".into(),
            "t".into(),
            "--dataset-id".into(),
            "p".into(),
            "--incremental-column".into(),
            "id".into(),
            "--dry-run".into(),
        ]);
    }
    for args in &dry_runs {
        let r = ok(dir.etl().args(args));
        assert!(r.stderr.contains("a stopped run left its publish half-done"), "{args:?}: {r:?}");
        assert_eq!(listing(&dir), before, "{args:?}: the dry run changed the target: {r:?}");
    }
    let repaired = ok(dir.etl().args(["repair", "p"]));
    assert!(repaired.stderr.contains("rolled back"), "{repaired:?}");
}

/// Item 10: a header-only file passes a merge and an upsert unchanged: its columns, typed from no
/// value at all, are no schema change (and never rewrite the dataset's types to String).
#[test]
fn a_header_only_file_changes_nothing_in_a_merge_or_an_upsert() {
    let dir = Dir::new();
    dir.write("a.csv", "id,day,qty\n1,2026-01-01,5\n2,2026-01-02,6\n");
    dir.write("empty.csv", "id,day,qty\n");
    ok(dir.etl().args(["upload-csv", "a.csv", "--dataset-id", "m", "--partition-col", "day"]));
    ok(dir.etl().args([
        "upload-csv",
        "a.csv",
        "--dataset-id",
        "u",
        "--partition-col",
        "day",
        "--primary-key",
        "id",
    ]));
    for (id, extra) in [
        ("m", vec!["--mode", "merge"]),
        ("u", vec!["--mode", "upsert", "--primary-key", "id"]),
        ("m", vec!["--allow-schema-change"]),
    ] {
        let schema = manifest(&dir, id)["schema"].clone();
        let files = data_files(&dir, id);
        let r = ok(dir.etl().args(["upload-csv", "empty.csv", "--dataset-id", id]).args(&extra));
        assert!(!r.stderr.contains("schema"), "{id} {extra:?}: {r:?}");
        assert_eq!(manifest(&dir, id)["schema"], schema, "{id} {extra:?}");
        assert_eq!(data_files(&dir, id), files, "{id} {extra:?}");
        assert_eq!(rows_in(&dir, id), 2, "{id} {extra:?}");
    }
}

/// Item 11: jobs of one file that write one dataset run one after the other, in the file's order,
/// whatever `--jobs` says (at once, one failed on the other's lock, exit 75, naming its own pid).
#[test]
fn jobs_of_one_file_on_one_dataset_take_turns_in_file_order() {
    let dir = Dir::new();
    let mut jobs = String::from("jobs:\n");
    for (i, name) in ["a", "b", "c"].iter().enumerate() {
        let mut csv = String::from("id,day\n");
        for row in 0..2000 {
            csv += &format!("{},2026-01-0{}\n", i * 10_000 + row, i + 1);
        }
        dir.write(&format!("{name}.csv"), csv);
        jobs += &format!(
            "  - name: {name}\n    dataset_id: shared\n    partition_column: day\n    source: {{kind: csv, path: {name}.csv}}\n"
        );
        jobs += &format!("  - name: other-{name}\n    dataset_id: other-{name}\n    source: {{kind: csv, path: {name}.csv}}\n");
    }
    dir.write("jobs.yaml", jobs);
    let r = run(dir.etl().args(["run", "jobs.yaml", "--all", "--jobs", "4"]));
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(rows_in(&dir, "shared"), 6000);
    // The runs of `shared`, by their ids (which sort by time), came from a, b, c in that order.
    let mut runs: Vec<String> =
        dir.all_lake_keys().into_iter().filter(|k| k.starts_with("datasets/shared/_runs/")).collect();
    runs.sort();
    let sources: Vec<String> = runs
        .iter()
        .map(|k| {
            let record: serde_json::Value =
                serde_json::from_slice(&std::fs::read(dir.lake(k)).unwrap()).unwrap();
            record["source"]["location"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(sources, ["a.csv", "b.csv", "c.csv"], "{r:?}");
}

/// Item 4: an API that ignores the since-parameter (here a misspelt one) sends every record again:
/// what the checkpoint says was loaded is dropped, counted and warned about, never appended twice.
#[test]
fn an_api_that_ignores_its_since_parameter_loads_no_record_twice() {
    let dir = Dir::new();
    let events = std::sync::Arc::new(std::sync::Mutex::new(vec![
        serde_json::json!({"id": 1, "updated_at": "2026-11-01T10:00:00Z"}),
        serde_json::json!({"id": 2, "updated_at": "2026-11-02T10:00:00Z"}),
    ]));
    let api = FakeApi::events_since(events.clone(), false);
    let load = || {
        ok(dir.etl().args(["load-api", "--url", &format!("{}/events", api.url), "--records", "events"]).args(
            [
                "--dataset-id",
                "ev",
                "--incremental-field",
                "updated_at",
                "--since-param",
                "updatedSince",
                "--log-format",
                "json",
            ],
        ))
    };
    let first = summary_of(&load());
    assert!(first["notes"].to_string().contains("no primary key"), "{first}");
    events.lock().unwrap().push(serde_json::json!({"id": 3, "updated_at": "2026-11-03T10:00:00Z"}));
    let r = load();
    let second = summary_of(&r);
    assert_eq!(second["rows_written"], 1, "{second}");
    assert!(
        r.stderr.contains("2 records at or before the checkpoint updated_at = 2026-11-02T10:00:00Z dropped"),
        "{r:?}"
    );
    assert!(r.stderr.contains("the API seems to ignore `updatedSince`"), "{r:?}");
    let third = summary_of(&load());
    assert_eq!(third["rows_written"], 0, "{third}");
    assert_eq!(rows_in(&dir, "ev"), 3);
}

/// Item 4: a PostgreSQL table with its own `PRIMARY KEY`, loaded incrementally without
/// `--primary-key`, upserts by that key: an updated row replaces its old version.
#[test]
fn a_postgres_tables_own_primary_key_upserts_incremental_loads() {
    let Some(url) = pg_url() else { return };
    let db = pg_database(&url, "forgotten_pk");
    pg_exec(
        &db,
        "CREATE TABLE orders (id int PRIMARY KEY, status text, updated_at timestamptz); \
         INSERT INTO orders VALUES (1, 'new', '2026-11-01T10:00:00Z'), (2, 'new', '2026-11-01T11:00:00Z')",
    );
    let dir = Dir::new();
    let load = || {
        ok(dir
            .etl()
            .args(["load-postgres", "--url", &db, "--table", "orders", "--dataset-id", "orders"])
            .args(["--incremental-column", "updated_at"]))
    };
    let r = load();
    assert!(r.stderr.contains("primary key (id)"), "{r:?}");
    pg_exec(&db, "UPDATE orders SET status = 'shipped', updated_at = '2026-11-02T10:00:00Z' WHERE id = 1");
    let r = load();
    assert!(r.stderr.contains("1 updated"), "{r:?}");
    assert_eq!(rows_in(&dir, "orders"), 2, "{:?}", dir.lake_keys());
    assert_eq!(manifest(&dir, "orders")["primary_key"], serde_json::json!(["id"]));
    // `--mode append` says otherwise: every version of a row is kept, and the run says so.
    let log = || {
        ok(dir
            .etl()
            .args(["load-postgres", "--url", &db, "--table", "orders", "--dataset-id", "log"])
            .args(["--incremental-column", "updated_at", "--mode", "append"]))
    };
    log();
    pg_exec(&db, "UPDATE orders SET status = 'delivered', updated_at = '2026-11-03T10:00:00Z' WHERE id = 1");
    let r = log();
    assert!(r.stderr.contains("no primary key: a row updated upstream"), "{r:?}");
    assert_eq!(rows_in(&dir, "log"), 3, "{:?}", dir.lake_keys());
}

/// Item 15: a file without a header row keeps its first row: its values have the types of the
/// values below them (a date, numbers), so it is data; the columns get generated names and the
/// summary says so. `--header` reads it as names where a person knows better.
#[test]
fn a_file_without_a_header_keeps_its_first_row() {
    let dir = Dir::new();
    dir.write("raw.csv", "2024-01-01,alice,10.5\n2024-01-02,bob,3\n2024-01-03,carol,7.25\n");
    let r = ok(dir.etl().args(["upload-csv", "raw.csv", "--dataset-id", "raw"]));
    assert!(r.stderr.contains("3 rows read"), "{r:?}");
    assert!(r.stderr.contains("no header line (detected"), "{r:?}");
    let record = manifest(&dir, "raw");
    let names: Vec<&str> =
        record["schema"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["column_1", "column_2", "column_3"]);
    assert_eq!(record["schema"][0]["type"], "Date", "{record}");
    assert_eq!(rows_in(&dir, "raw"), 3);
    let r = ok(dir.etl().args(["upload-csv", "raw.csv", "--dataset-id", "named", "--header"]));
    assert!(r.stderr.contains("2 rows read"), "{r:?}");
    // A header of names over typed values is still a header.
    dir.write("named.csv", "day,name,qty\n2024-01-01,alice,10.5\n");
    let r = ok(dir.etl().args(["upload-csv", "named.csv", "--dataset-id", "n2"]));
    assert!(!r.stderr.contains("no header line"), "{r:?}");
    assert_eq!(manifest(&dir, "n2")["schema"][0]["name"], "day");
}

/// Runs `code` with the Python of the Dagster virtualenv (where scripts/test.sh made one), else with
/// the machine's `python3` (which has no Dagster: `code` must not need it then).
fn python(dir: &Dir, code: &str, needs_dagster: bool) -> Option<Run> {
    let venv = initial_env("ETL_DAGSTER_VENV");
    let program = match &venv {
        Some(venv) => std::path::Path::new(venv).join("bin/python"),
        None if needs_dagster => {
            assert!(std::env::var("ETL_REQUIRE_SCHEDULERS").is_err(), "ETL_DAGSTER_VENV is not set");
            return None;
        }
        None => "python3".into(),
    };
    Some(run(std::process::Command::new(program).current_dir(dir.path()).args(["-c", code])))
}

/// Item 13: the scheduler files parse and load for any name the checks accept (a variable named
/// `class` or `model_config`); a job name with Argo's braces, and a secret written into a job
/// file's header or query, are refused; files written with --out are readable by others (0644).
#[test]
fn scheduler_files_hold_for_any_name_and_never_a_secret() {
    let dir = Dir::new();
    let job = |name: &str, auth: &str| {
        format!(
            "  - name: {name}\n    dataset_id: {name}\n    source:\n      kind: api\n      url: https://api.example.com/x\n{auth}"
        )
    };
    dir.write(
        "jobs.yaml",
        format!(
            "schedule: \"0 3 * * *\"\njobs:\n{}{}",
            job("one", "      auth: bearer\n      token_env: class\n"),
            job("two", "      auth: api-key\n      api_key_env: model_config\n"),
        ),
    );
    let r = ok(dir.etl().args(["schedule", "export", "jobs.yaml", "--to", "dagster", "--out", "out"]));
    let file = std::fs::read_dir(dir.path().join("out")).unwrap().next().unwrap().unwrap().path();
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o644, "{r:?}");
    let parse = format!("import ast; ast.parse(open({:?}).read())", file.to_str().unwrap());
    let parsed = python(&dir, &parse, false).unwrap();
    assert_eq!(parsed.code, 0, "{parsed:?}");
    let load = format!(
        "import runpy; m = runpy.run_path({:?}); \
         print(sorted(m['EtlEnvironment'](var_class='a', var_model_config='b', var_ETL_TARGET='t').variables().items()))",
        file.to_str().unwrap()
    );
    if let Some(loaded) = python(&dir, &load, true) {
        assert_eq!(loaded.code, 0, "{loaded:?}");
        assert!(
            loaded.stdout.contains("[('ETL_TARGET', 't'), ('class', 'a'), ('model_config', 'b')]"),
            "{loaded:?}"
        );
    }

    // Argo reads `{{...}}` as its own: refused, naming the job.
    let braces = job("x", "").replacen("name: x", "name: x{{workflow.name}}", 1);
    dir.write("argo.yaml", format!("schedule: \"0 3 * * *\"\njobs:\n{braces}"));
    let r = run(dir.etl().args(["schedule", "export", "argo.yaml", "--to", "argo", "--image", "etl:1"]));
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("x{{workflow.name}}") && r.stderr.contains("rename the job"), "{r:?}");

    // A token written into the job file never reaches a ConfigMap.
    for (label, source) in [
        ("header", "      header: [\"PRIVATE-TOKEN: glpat-abcdef123456\"]\n"),
        ("query", "      query: {access_token: abcdef123456}\n"),
    ] {
        dir.write("secret.yaml", format!("schedule: \"0 3 * * *\"\njobs:\n{}", job("s", source)));
        for to in ["k8s-cronjob", "argo"] {
            let r =
                run(dir.etl().args(["schedule", "export", "secret.yaml", "--to", to, "--image", "etl:1"]));
            assert_eq!(r.code, 2, "{label} {to}: {r:?}");
            assert!(r.stderr.contains("holds a secret's value"), "{label} {to}: {r:?}");
            assert!(!r.stdout.contains("abcdef123456") && !r.stderr.contains("abcdef123456"), "{r:?}");
        }
    }
}

/// A listener on 127.0.0.1 standing in for the EC2 instance metadata service: it counts the
/// connections it is asked, and answers none.
fn metadata_listener() -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let asked = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let count = asked.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            drop(stream);
        }
    });
    (url, asked)
}

/// Item 14: S3 settings problems are one line each, and the instance metadata service is asked
/// nothing where an endpoint and keys are configured, or with AWS_EC2_METADATA_DISABLED=true.
#[test]
fn s3_settings_problems_are_one_line_and_never_ask_the_metadata_service() {
    let dir = Dir::new();
    dir.write("a.csv", "id\n1\n");
    // A port nothing listens on: the S3 server is down.
    let down = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    // What is set, the exit code, what the error says.
    type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, i32, &'a str);
    let cases: [Case; 4] = [
        (
            "an endpoint, no keys",
            vec![("AWS_ENDPOINT_URL", &down)],
            2,
            "no AWS credentials were found for the S3 server",
        ),
        (
            "an endpoint and keys, no region",
            vec![("AWS_ENDPOINT_URL", &down), ("AWS_ACCESS_KEY_ID", "k"), ("AWS_SECRET_ACCESS_KEY", "s")],
            1,
            "could not reach",
        ),
        ("nothing, metadata disabled", vec![("AWS_EC2_METADATA_DISABLED", "true")], 2, "no AWS region"),
        (
            "a region, no keys, metadata disabled",
            vec![("AWS_EC2_METADATA_DISABLED", "true"), ("AWS_REGION", "eu-west-1")],
            2,
            "no AWS credentials",
        ),
    ];
    for (label, vars, code, said) in cases {
        let (metadata, asked) = metadata_listener();
        let mut cmd = dir.etl();
        cmd.env_remove("AWS_EC2_METADATA_DISABLED");
        cmd.env("HOME", dir.path())
            .env("AWS_EC2_METADATA_SERVICE_ENDPOINT", &metadata)
            .env("AWS_MAX_ATTEMPTS", "1");
        let r = run(with_env(&mut cmd, &vars).args([
            "upload-csv",
            "a.csv",
            "--dataset-id",
            "a",
            "--target",
            "s3://bucket",
        ]));
        assert_eq!(r.code, code, "{label}: {r:?}");
        assert!(r.stderr.contains(said), "{label}: {r:?}");
        assert_eq!(r.stderr.lines().count(), 2, "{label}: the error and the summary, nothing else: {r:?}");
        assert!(r.stderr.lines().all(|l| l.len() < 400), "{label}: {r:?}");
        assert_eq!(
            asked.load(std::sync::atomic::Ordering::SeqCst),
            0,
            "{label}: the metadata service was asked"
        );
    }
}

/// Item 12: an abandoned lock is taken over by one run only, whatever number of runs find it at
/// once: every run that waits for the lock ends with its rows in, and one says it took it over.
#[test]
fn an_abandoned_lock_is_taken_over_by_one_run_only() {
    let dir = Dir::new();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let lock = serde_json::json!({
        "run_id": "20261123T100000Z-dead", "host": "other-host", "pid": 4242, "command": "upload-csv",
        "started": "2026-11-23T10:00:00Z", "expires": "2026-11-23T10:10:00Z", "expires_unix": now - 700,
    });
    for round in 0..3 {
        dir.write("lake/datasets/d/_lock", lock.to_string());
        let children: Vec<std::process::Child> = (0..6)
            .map(|i| {
                dir.write(&format!("r{round}-{i}.csv"), format!("id\n{}\n", round * 10 + i));
                dir.etl()
                    .args([
                        "upload-csv",
                        &format!("r{round}-{i}.csv"),
                        "--dataset-id",
                        "d",
                        "--mode",
                        "append",
                    ])
                    .args(["--wait-lock", "60"])
                    .stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        let outputs: Vec<std::process::Output> =
            children.into_iter().map(|c| c.wait_with_output().unwrap()).collect();
        let stderr: Vec<String> =
            outputs.iter().map(|o| String::from_utf8_lossy(&o.stderr).into_owned()).collect();
        for (o, e) in outputs.iter().zip(&stderr) {
            assert_eq!(o.status.code(), Some(0), "round {round}: {e}");
        }
        let takers = stderr.iter().filter(|e| e.contains("taking over the expired lock")).count();
        assert_eq!(takers, 1, "round {round}: {stderr:#?}");
        assert_eq!(rows_in(&dir, "d"), 6 * (round + 1), "round {round}");
        let leftovers: Vec<String> =
            dir.all_lake_keys().into_iter().filter(|k| k.contains("_lock")).collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }
}

/// Item 12: a run's staging is swept by another run only when its heartbeat is stale: a run that
/// adds nothing to its folder for a day (a long download, here an API that answers late) keeps it.
#[test]
fn a_live_runs_staging_is_never_swept() {
    let dir = Dir::new();
    let release = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let held = release.clone();
    let api = FakeApi::start(move |_, _| {
        while !held.load(std::sync::atomic::Ordering::SeqCst) {
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        Response::json(serde_json::json!([{"id": 1}]))
    });
    std::fs::create_dir_all(dir.lake("")).unwrap();
    let slow = dir
        .etl()
        .env("ETL_HEARTBEAT_SECS", "1")
        .args(["load-api", "--url", &api.url, "--dataset-id", "slow"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Its download folder, made a day and more ago as far as its modification time says.
    let folder = (0..100)
        .find_map(|_| {
            std::thread::sleep(std::time::Duration::from_millis(100));
            std::fs::read_dir(dir.lake(""))
                .unwrap()
                .flatten()
                .map(|e| e.path())
                .find(|p| p.file_name().unwrap().to_string_lossy().starts_with(".etl-download-"))
        })
        .expect("the slow run's download folder");
    let two_days_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(2 * 86_400);
    std::fs::File::open(&folder).unwrap().set_modified(two_days_ago).unwrap();
    // A killed run's folder of the same age beside it.
    let dead = dir.lake(".etl-staging-dead");
    std::fs::create_dir_all(&dead).unwrap();
    std::fs::File::open(&dead).unwrap().set_modified(two_days_ago).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(2500));
    dir.write("b.csv", "id\n2\n");
    ok(dir.etl().args(["upload-csv", "b.csv", "--dataset-id", "other"]));
    assert!(!dead.exists(), "the killed run's folder is swept");
    assert!(folder.exists(), "the live run's folder is kept");
    release.store(true, std::sync::atomic::Ordering::SeqCst);
    let out = slow.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(rows_in(&dir, "slow"), 1);
}

/// Item 12: a journal's backup of an object larger than one `CopyObject` takes (5 GiB on AWS) is
/// copied in parts: here the limit is lowered to 0 bytes so that every backup is, and a publish that
/// fails after its backups puts the dataset back from them, on the S3 server.
#[test]
fn backups_past_the_copy_limit_are_copied_in_parts_and_restore_the_dataset() {
    let Some(s3) = s3_env() else { return };
    let target = s3.target("multipart-copy");
    let dir = Dir::new();
    // A data file of several MiB (a part of a copy is 5 MiB at least, but the last), in two days.
    let mut big = String::from("id,day,noise\n");
    let mut seed = 0x9E37_79B9_7F4A_7C15u64;
    for i in 0..250_000 {
        let mut noise = String::with_capacity(40);
        for _ in 0..40 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            noise.push(char::from(
                b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"[(seed % 64) as usize],
            ));
        }
        big += &format!("{i},2026-01-0{},{noise}\n", 1 + i % 2);
    }
    dir.write("a.csv", big);
    dir.write("b.csv", "id,day,noise\n3,2026-01-01,x\n4,2026-01-02,y\n");
    let load = |file: &str, extra: &[(&str, &str)]| {
        let mut cmd = dir.etl();
        // Past 1 MiB, a copy is made in parts: the data files, not the manifest.
        s3.apply(&mut cmd).env("ETL_S3_COPY_LIMIT", "1048576").envs(extra.iter().copied());
        run(cmd.args([
            "upload-csv",
            file,
            "--dataset-id",
            "d",
            "--partition-col",
            "day",
            "--target",
            &target,
        ]))
    };
    assert_eq!(load("a.csv", &[]).code, 0);
    let objects = || {
        runtime().block_on(async {
            let store = s3.store(&target).await;
            let mut out = Vec::new();
            for key in data_keys(store.as_ref(), "datasets/d/").await {
                out.push((key.clone(), store.get(&key).await.unwrap()));
            }
            out
        })
    };
    let before = objects();
    let failed = load("b.csv", &[("ETL_FAULT", "fail:upload:2"), ("RUST_LOG", "etl=debug")]);
    assert_eq!(failed.code, 1, "{failed:?}");
    assert!(
        failed.stderr.contains("part(s)") && failed.stderr.contains("datasets/d/_journal/"),
        "{failed:?}"
    );
    assert!(failed.stderr.contains("rolled back"), "{failed:?}");
    let after: Vec<(String, Vec<u8>)> =
        objects().into_iter().filter(|(k, _)| !k.contains("/_journal/")).collect();
    assert_eq!(after, before, "the dataset as it was, from its backups");
    assert_eq!(load("b.csv", &[]).code, 0);
}

/// Item 9 on the S3 server: `load-s3 --dry-run` over a dataset a stopped run left half-published
/// takes no lock, rolls nothing back and writes nothing.
#[test]
fn a_load_s3_dry_run_writes_nothing_on_the_s3_server() {
    let Some(s3) = s3_env() else { return };
    let target = s3.target("dry-s3");
    let folder = format!("s3://{}/drop-dry-{}", s3.bucket, std::process::id());
    let dir = Dir::new();
    dir.write("a.csv", "at,event\n2026-11-01,a\n");
    let etl = |args: &[&str], fault: Option<&str>| {
        let mut cmd = dir.etl();
        s3.apply(&mut cmd).args(args).args(["--target", &target]);
        if let Some(fault) = fault {
            cmd.env("ETL_FAULT", fault);
        }
        run(&mut cmd)
    };
    assert_eq!(etl(&["upload-csv", "a.csv", "--dataset-id", "drops", "--partition-col", "at"], None).code, 0);
    runtime().block_on(async {
        let drop = s3.store(&folder).await;
        drop.put("day2.csv", b"at,event\n2026-11-02,b\n".to_vec()).await.unwrap();
    });
    let glob = format!("{folder}/*.csv");
    let killed = etl(&["load-s3", "--source", &glob, "--dataset-id", "drops"], Some("kill:upload:1"));
    assert_eq!(killed.code, -1, "{killed:?}");
    let listing = || {
        runtime().block_on(async {
            let store = s3.store(&target).await;
            let mut out = Vec::new();
            for o in store.list("datasets/drops/").await.unwrap() {
                out.push((o.key.clone(), store.get(&o.key).await.unwrap()));
            }
            out
        })
    };
    let before = listing();
    assert!(before.iter().any(|(k, _)| k.contains("/_journal/")), "{before:?}");
    let r = etl(&["load-s3", "--source", &glob, "--dataset-id", "drops", "--dry-run"], None);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stderr.contains("a stopped run left its publish half-done"), "{r:?}");
    assert_eq!(listing(), before, "the dry run changed the target: {r:?}");
    let r = etl(&["load-s3", "--source", &glob, "--dataset-id", "drops"], None);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stderr.contains("rolled back"), "{r:?}");
}

/// Item 12: a lock that expired moments ago by this machine's clock may be a live run's whose clock
/// is behind: it is not taken over at once (its publish would be rolled back under it), only once
/// seen unrenewed for longer than a holder renews it.
#[test]
fn a_lock_expired_moments_ago_is_not_taken_over_at_once() {
    let dir = Dir::new();
    dir.write("a.csv", "id\n1\n");
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let lock = serde_json::json!({
        "run_id": "20261123T100000Z-skew", "host": "other-host", "pid": 4242, "command": "upload-csv",
        "started": "2026-11-23T10:00:00Z", "expires": "2026-11-23T10:10:00Z", "expires_unix": now - 5,
    })
    .to_string();
    dir.write("lake/datasets/d/_lock", &lock);
    let r = run(dir.etl().args(["upload-csv", "a.csv", "--dataset-id", "d", "--wait-lock", "2"]));
    assert_eq!(r.code, 75, "{r:?}");
    assert!(r.stderr.contains("by this machine's clock"), "{r:?}");
    assert_eq!(std::fs::read_to_string(dir.lake("datasets/d/_lock")).unwrap(), lock, "the lock is untouched");
    assert!(data_files(&dir, "d").is_empty());
}

/// A pin left out on a later run: the column one value kept as text would have changed its type.
/// The run is refused, and its message leads with the pin that keeps the type (the other ways out
/// rewrite the column as text); the pin, taken as said, loads the file with nothing doubled.
#[test]
fn a_forgotten_pin_is_named_in_the_refusal() {
    let dir = Dir::new();
    dir.write("q.csv", "id,qty,day\n1, 42 ,2024-03-01\n2,7,2024-03-02\n");
    ok(dir.etl().args([
        "upload-csv",
        "q.csv",
        "--dataset-id",
        "q",
        "--partition-col",
        "day",
        "--types",
        "qty=int64",
    ]));
    let r = run(dir.etl().args(["upload-csv", "q.csv", "--dataset-id", "q"]));
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.stderr.contains("Nothing was changed; keep the dataset's types with --types 'qty=int64'"),
        "{r:?}"
    );
    dir.write("q.csv", "id,qty,day\n1, 43 ,2024-03-01\n2,7,2024-03-02\n");
    ok(dir.etl().args(["upload-csv", "q.csv", "--dataset-id", "q", "--types", "qty=int64"]));
    let mut rows: Vec<(i64, i64)> = Vec::new();
    for key in dir.lake_keys().into_iter().filter(|k| k.ends_with(".parquet")) {
        let df = read_parquet(&dir.lake(&key));
        rows.extend(i64s(&df, "id").into_iter().zip(i64s(&df, "qty")).map(|(a, b)| (a.unwrap(), b.unwrap())));
    }
    rows.sort();
    assert_eq!(rows, [(1, 43), (2, 7)]);
}
