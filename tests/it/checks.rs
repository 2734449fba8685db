//! Data-quality checks (`--check`, `checks:`): a passing run publishes; a failed check at severity
//! error publishes nothing, exits 65 and names the rows; a warning publishes and is recorded; on
//! the local target and on the S3 server.

use crate::util::*;

/// `etl upload-csv FILE --dataset-id t --target TARGET ARGS --log-format json`.
fn load(dir: &Dir, s3: Option<&S3Env>, target: &str, file: &str, args: &[&str]) -> Run {
    let mut cmd = dir.etl();
    if let Some(s3) = s3 {
        s3.apply(&mut cmd);
    }
    run(cmd
        .args(["upload-csv", file, "--dataset-id", "t", "--target", target, "--log-format", "json"])
        .args(args))
}

/// Every object under the dataset, with its bytes.
fn objects(s3: Option<&S3Env>, target: &str) -> Vec<(String, Vec<u8>)> {
    runtime().block_on(async {
        let store = match s3 {
            Some(s3) => s3.store(target).await,
            None => etl::store::open(&etl::store::Target::parse(target).unwrap()).await.unwrap(),
        };
        let mut out = Vec::new();
        for o in store.list("datasets/t/").await.unwrap() {
            let bytes = store.get(&o.key).await.unwrap();
            out.push((o.key, bytes));
        }
        out
    })
}

fn check<'a>(summary: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    summary["checks"]
        .as_array()
        .unwrap_or_else(|| panic!("no checks in {summary}"))
        .iter()
        .find(|c| c["check"] == name)
        .unwrap_or_else(|| panic!("no check {name} in {summary}"))
}

const ROW_CHECKS: [&str; 6] = [
    "--check",
    "not_null: [id, kind]",
    "--check",
    "{unique: [day, user], accepted_values: {kind: [a, b]}}",
    "--check",
    "{range: {cost: {min: 0, max: 100}, day: {min: 2026-01-01}}, matches: {user: '^u[0-9]+$'}}",
];

const GOOD: &str = "id,day,user,kind,cost\n1,2026-01-01,u1,a,10\n2,2026-01-01,u2,b,20\n3,2026-01-02,u1,a,0\n";

/// Line 3 repeats line 2's key; line 4 has no kind, a cost out of range and a kind not accepted is
/// on line 5; line 6's user does not match, and its day is before the range.
const BAD: &str = "id,day,user,kind,cost\n1,2026-01-01,u1,a,10\n2,2026-01-01,u1,b,20\n3,2026-01-02,u2,,500\n\
                   4,2026-01-02,u3,c,5\n5,2025-12-31,bob,a,5\n";

fn row_checks_judge_every_row(s3: Option<&S3Env>, target: &str) {
    let dir = Dir::new();
    dir.write("good.csv", GOOD);
    dir.write("bad.csv", BAD);
    let args = [&["--partition-col", "day"][..], &ROW_CHECKS].concat();

    // A passing run publishes, and says so.
    let good = load(&dir, s3, target, "good.csv", &args);
    assert_eq!(good.code, 0, "{good:?}");
    let s = summary_of(&good);
    assert_eq!(s["checks"].as_array().unwrap().len(), 7, "{s}");
    assert!(s["checks"].as_array().unwrap().iter().all(|c| c["status"] == "passed"), "{s}");
    let before = objects(s3, target);
    assert!(before.iter().any(|(k, _)| k.ends_with("date=2026-01-02/part-0000.parquet")));

    // A failing one publishes nothing, exits 65, and names counts and lines.
    let bad = load(&dir, s3, target, "bad.csv", &args);
    assert_eq!(bad.code, 65, "{bad:?}");
    let s = summary_of(&bad);
    assert_eq!(s["status"], "failed");
    let expect = |name: &str, rows: u64, examples: &[&str]| {
        let c = check(&s, name);
        assert_eq!(c["status"], "failed", "{c}");
        assert_eq!(c["severity"], "error", "{c}");
        assert_eq!(c["rows"], rows, "{c}");
        let shown: Vec<&str> =
            c["examples"].as_array().unwrap().iter().map(|e| e.as_str().unwrap()).collect();
        assert_eq!(shown, examples, "{c}");
    };
    expect("not_null(kind)", 1, &["line 4"]);
    expect("unique(day, user)", 1, &["line 3 repeats line 2"]);
    expect("accepted_values(kind)", 1, &["line 5: \"c\""]);
    expect("range(cost)", 1, &["line 4: \"500\""]);
    expect("range(day)", 1, &["line 6: \"2025-12-31\""]);
    expect("matches(user)", 1, &["line 6: \"bob\""]);
    assert_eq!(check(&s, "not_null(id)")["status"], "passed");
    let error = s["error"].as_str().unwrap();
    assert!(
        error.starts_with("t: 6 checks failed; nothing was published, the previous data is in place"),
        "{error}"
    );

    // The data, the manifest and the state are as they were; the run's record and its rows are kept.
    let after = objects(s3, target);
    let run_id = s["run_id"].as_str().unwrap();
    let new: Vec<&(String, Vec<u8>)> = after.iter().filter(|o| !before.contains(o)).collect();
    let keys: Vec<&str> = new.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        keys,
        [format!("datasets/t/_rejects/{run_id}.csv"), format!("datasets/t/_runs/{run_id}.json")]
    );
    assert_eq!(after.len(), before.len() + 2);
    let rejects = String::from_utf8(new[0].1.clone()).unwrap();
    assert_eq!(
        rejects,
        "_line,_check,id,day,user,kind,cost\n\
         4,not_null(kind); range(cost),3,2026-01-02,u2,,500\n\
         5,accepted_values(kind),4,2026-01-02,u3,c,5\n\
         6,range(day); matches(user),5,2025-12-31,bob,a,5\n\
         3,\"unique(day, user)\",2,2026-01-01,u1,b,20\n"
    );
    let record: serde_json::Value = serde_json::from_slice(&new[1].1).unwrap();
    assert_eq!(record["status"], "failed");
    assert_eq!(record["rows_written"], 0);
    assert_eq!(record["checks"], s["checks"]);

    // At severity warn the same rows publish, and are counted and recorded.
    let warn = [
        "--partition-col",
        "day",
        "--check",
        "{not_null: [kind], unique: [day, user], severity: warn}",
        "--check",
        "{accepted_values: {kind: [a, b]}, severity: warn}",
    ];
    let warned = load(&dir, s3, target, "bad.csv", &warn);
    assert_eq!(warned.code, 0, "{warned:?}");
    let s = summary_of(&warned);
    assert_eq!(s["rows_written"], 5);
    assert_eq!(check(&s, "not_null(kind)")["status"], "warned");
    assert_eq!(check(&s, "unique(day, user)")["rows"], 1);
    let manifest = objects(s3, target).into_iter().find(|(k, _)| k.ends_with("/_manifest.json")).unwrap();
    let manifest: serde_json::Value = serde_json::from_slice(&manifest.1).unwrap();
    assert_eq!(manifest["run_id"], s["run_id"]);
    assert_eq!(manifest["checks"], s["checks"]);
    assert!(!objects(s3, target)
        .iter()
        .any(|(k, _)| k.contains(&format!("_rejects/{}", s["run_id"].as_str().unwrap()))));

    // `etl runs` has a column for them; `etl inspect` shows the last run's.
    let mut cmd = dir.etl();
    if let Some(s3) = s3 {
        s3.apply(&mut cmd);
    }
    let runs = ok(cmd.args(["runs", "t", "--target", target]));
    let lines: Vec<&str> = runs.stdout.lines().collect();
    assert!(lines[0].contains("STATUS") && lines[0].contains("CHECKS"), "{}", runs.stdout);
    assert!(lines[1].contains(" ok ") && lines[1].contains("3 warned"), "{}", runs.stdout);
    assert!(lines[2].contains(" failed ") && lines[2].contains("6 failed, 1 passed"), "{}", runs.stdout);
    assert!(lines[3].contains("7 passed"), "{}", runs.stdout);
    let mut cmd = dir.etl();
    if let Some(s3) = s3 {
        s3.apply(&mut cmd);
    }
    let inspect = ok(cmd.args(["inspect", "t", "--target", target]));
    assert!(
        inspect.stdout.contains(
            "checks: 3 warned\n  not_null(kind) failed (warning): 1 row, without a value (e.g. line 4)\n"
        ),
        "{}",
        inspect.stdout
    );
}

#[test]
fn row_checks_judge_every_row_locally() {
    let dir = Dir::new();
    let target = dir.path().join("lake");
    row_checks_judge_every_row(None, target.to_str().unwrap());
}

#[test]
fn row_checks_judge_every_row_on_s3() {
    let Some(s3) = s3_env() else { return };
    let target = s3.target("checks");
    row_checks_judge_every_row(Some(&s3), &target);
}

/// Today, `days` ago, as `YYYY-MM-DD`.
fn day(days_ago: i32) -> String {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    etl::transform::calendar::format_day((now / 86_400) as i32 - days_ago)
}

fn changes_and_freshness_read_the_previous_manifest(s3: Option<&S3Env>, target: &str) {
    let dir = Dir::new();
    let rows = |n: usize, days_ago: i32| {
        let mut text = String::from("id,day\n");
        for i in 0..n {
            text += &format!("{i},{}\n", day(days_ago + (i % 3) as i32));
        }
        text
    };
    dir.write("ten.csv", rows(10, 0));
    dir.write("four.csv", rows(4, 0));
    dir.write("old.csv", rows(8, 30));
    let checks = [
        "--partition-col",
        "day",
        "--check",
        "row_count_change: {max_drop: 50%, max_growth: 300%}",
        "--check",
        "freshness: {column: day, max_age: 3d}",
    ];
    // The first run has nothing to compare with.
    let first = load(&dir, s3, target, "ten.csv", &checks);
    assert_eq!(first.code, 0, "{first:?}");
    let s = summary_of(&first);
    assert_eq!(check(&s, "row_count_change")["status"], "skipped");
    assert_eq!(check(&s, "freshness(day)")["status"], "passed");
    let first_id = s["run_id"].as_str().unwrap().to_owned();

    // 4 rows after 10: 60% fewer, and fewer than `row_count` wants; the columns are the dataset's.
    let more = [
        "--mode",
        "replace",
        "--check",
        "row_count: {min: 5, max: 100}",
        "--check",
        "columns: {required: [id, day], allow_new: false}",
    ];
    let dropped = load(&dir, s3, target, "four.csv", &[&checks[..], &more].concat());
    assert_eq!(dropped.code, 65, "{dropped:?}");
    let s = summary_of(&dropped);
    assert_eq!(check(&s, "row_count")["detail"], "4 rows written (between 5 and 100)");
    assert_eq!(check(&s, "row_count")["status"], "failed");
    assert_eq!(check(&s, "columns")["status"], "passed");
    assert_eq!(
        check(&s, "row_count_change")["detail"],
        format!("4 rows, 60% fewer than the 10 of run {first_id} (at most 50% fewer)")
    );

    // A merge of old days (a backfill) keeps the dataset's newest value: fresh; 8 rows: -20%.
    let backfill = load(&dir, s3, target, "old.csv", &checks);
    assert_eq!(backfill.code, 0, "{backfill:?}");
    let s = summary_of(&backfill);
    assert_eq!(check(&s, "freshness(day)")["status"], "passed", "{s}");
    assert!(check(&s, "freshness(day)")["detail"]
        .as_str()
        .unwrap()
        .starts_with(&format!("newest {} is", day(0))));
    // A replace with only those old days is stale.
    let stale = load(&dir, s3, target, "old.csv", &[&checks[..], &["--mode", "replace"]].concat());
    assert_eq!(stale.code, 65, "{stale:?}");
    let s = summary_of(&stale);
    let freshness = check(&s, "freshness(day)");
    assert_eq!(freshness["status"], "failed");
    let detail = freshness["detail"].as_str().unwrap();
    assert!(detail.starts_with(&format!("newest {} is 30d", day(30))), "{detail}");
    assert!(detail.ends_with(" old as of now (at most 3d)"), "{detail}");
    assert_eq!(check(&s, "row_count_change")["status"], "passed", "8 after 8");
}

#[test]
fn changes_and_freshness_read_the_previous_manifest_locally() {
    let dir = Dir::new();
    let target = dir.path().join("lake");
    changes_and_freshness_read_the_previous_manifest(None, target.to_str().unwrap());
}

#[test]
fn changes_and_freshness_read_the_previous_manifest_on_s3() {
    let Some(s3) = s3_env() else { return };
    let target = s3.target("checks-change");
    changes_and_freshness_read_the_previous_manifest(Some(&s3), &target);
}

#[test]
fn a_dry_run_judges_the_checks_and_writes_nothing() {
    let dir = Dir::new();
    dir.write("bad.csv", BAD);
    let lake = dir.path().join("lake");
    let r = load(&dir, None, lake.to_str().unwrap(), "bad.csv", &[&["--dry-run"][..], &ROW_CHECKS].concat());
    assert_eq!(r.code, 65, "{r:?}");
    let s = summary_of(&r);
    assert_eq!(s["status"], "dry-run");
    assert_eq!(check(&s, "not_null(kind)")["rows"], 1);
    assert!(s["notes"]
        .as_array()
        .unwrap()
        .iter()
        .any(|n| n == "a check failed: a real run would publish nothing (exit 65)"));
    assert!(r.stdout.starts_with("dry run: csv"), "the plan is printed: {r:?}");
    assert!(!lake.exists() || dir.all_lake_keys().is_empty(), "{:?}", dir.all_lake_keys());
}

#[test]
fn unique_past_its_memory_spills_and_still_finds_every_repeat() {
    let dir = Dir::new();
    let mut csv = String::from("id,name\n");
    for i in 0..20_000 {
        // Every 4,000th id comes back 7,000 rows later.
        let id = if i >= 7000 && (i - 7000) % 4000 == 0 { i - 7000 } else { i };
        csv += &format!("{id},n{i}\n");
    }
    dir.write("many.csv", &csv);
    let lake = dir.path().join("lake");
    let mut cmd = dir.etl();
    cmd.env("ETL_UNIQUE_MEMORY", "16KiB");
    let r = run(cmd
        .args(["upload-csv", "many.csv", "--dataset-id", "t", "--target", lake.to_str().unwrap()])
        .args(["--log-format", "json", "--check", "unique: [id]"]));
    assert_eq!(r.code, 65, "{r:?}");
    let s = summary_of(&r);
    let c = check(&s, "unique(id)");
    assert_eq!(c["rows"], 4);
    assert_eq!(c["examples"][0], "line 7002 repeats line 2");
    // The repeated rows, read again for the rejects file.
    let rejects = std::fs::read_to_string(
        lake.join(format!("datasets/t/_rejects/{}.csv", s["run_id"].as_str().unwrap())),
    )
    .unwrap();
    let lines: Vec<&str> = rejects.lines().collect();
    assert_eq!(
        lines,
        [
            "_line,_check,id,name",
            "7002,unique(id),0,n7000",
            "11002,unique(id),4000,n11000",
            "15002,unique(id),8000,n15000",
            "19002,unique(id),12000,n19000"
        ]
    );
}

#[test]
fn sensitive_columns_are_never_shown() {
    let dir = Dir::new();
    dir.write("p.csv", "id,email\n1,alice@example.com\n2,not-an-email\n");
    let lake = dir.path().join("lake");
    let r = load(
        &dir,
        None,
        lake.to_str().unwrap(),
        "p.csv",
        &["--check", "matches: {email: '@'}", "--sensitive", "email"],
    );
    assert_eq!(r.code, 65, "{r:?}");
    assert!(!r.stderr.contains("not-an-email"), "{r:?}");
    assert_eq!(check(&summary_of(&r), "matches(email)")["examples"][0], "line 3");
    // Without it, the value is shown, cut at 40 characters.
    let long = "x".repeat(60);
    dir.write("q.csv", format!("id,email\n1,{long}\n"));
    let r = load(&dir, None, lake.to_str().unwrap(), "q.csv", &["--check", "matches: {email: '@'}"]);
    assert_eq!(
        check(&summary_of(&r), "matches(email)")["examples"][0],
        format!("line 2: \"{}\"…", "x".repeat(40))
    );
}

#[test]
fn columns_checks_name_missing_and_new_columns() {
    let dir = Dir::new();
    dir.write("a.csv", "id,v\n1,2\n");
    dir.write("b.csv", "id,w\n1,2\n");
    let lake = dir.path().join("lake");
    let target = lake.to_str().unwrap();
    let args = ["--check", "columns: {required: [id, v], allow_new: false}"];
    assert_eq!(load(&dir, None, target, "a.csv", &args).code, 0);
    let r = load(&dir, None, target, "b.csv", &args);
    assert_eq!(r.code, 65, "{r:?}");
    let detail = check(&summary_of(&r), "columns")["detail"].as_str().unwrap().to_owned();
    assert!(detail.starts_with("missing: v; new since run "), "{detail}");
    assert!(detail.ends_with(": w"), "{detail}");
    // A row check on a column that is not there fails, and says so.
    let r = load(&dir, None, target, "a.csv", &["--check", "not_null: [nope]"]);
    assert_eq!(r.code, 65, "{r:?}");
    assert_eq!(
        check(&summary_of(&r), "not_null(nope)")["detail"],
        "no column `nope` in the source (its columns: id, v)"
    );
}

#[test]
fn a_check_that_does_not_parse_is_bad_usage() {
    let dir = Dir::new();
    dir.write("a.csv", "id\n1\n");
    let r = run(dir.etl().args(["upload-csv", "a.csv", "--dataset-id", "t", "--check", "not_nul: [id]"]));
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stderr.contains("error: --check: `not_nul` is not a check; the checks are: not_null,"),
        "{r:?}"
    );
}

#[test]
fn job_files_and_catalogs_declare_checks() {
    let dir = Dir::new();
    dir.write("drops/e-2026-01-02.csv", "id,day,kind\n1,2026-01-01,a\n2,2026-01-02,z\n");
    dir.write(
        "jobs.yaml",
        "jobs:\n  - name: e\n    dataset_id: e\n    partition_column: day\n    sensitive: {kind: true}\n    checks:\n      - not_null: [id]\n      \
         - accepted_values: {kind: [a, b]}\n        severity: warn\n      - freshness: {column: day, max_age: 1d, as_of: file_name}\n    \
         source:\n      kind: csv\n      source_dir: drops\n      file_pattern: 'e-*.csv'\n",
    );
    let r = run(dir.etl().args(["--log-format", "json", "run", "jobs.yaml", "--job", "e"]));
    assert_eq!(r.code, 0, "{r:?}");
    let s = summary_of(&r);
    assert_eq!(check(&s, "accepted_values(kind)")["status"], "warned");
    assert_eq!(
        check(&s, "accepted_values(kind)")["examples"],
        serde_json::json!(["line 3"]),
        "sensitive: true"
    );
    assert_eq!(
        check(&s, "freshness(day)")["detail"],
        "newest 2026-01-02 is 0s old as of 2026-01-02, the file's date (at most 1d)"
    );
    dir.write(
        "config/csv_datasets.yaml",
        "datasets:\n  - name: e\n    minio_dataset_id: e2\n    source_dir: drops\n    file_pattern: 'e-*.csv'\n    \
         checks: {accepted_values: {kind: [a, b]}}\n",
    );
    let r = run(dir.etl().args(["--log-format", "json", "load-csv", "--dataset", "e"]));
    assert_eq!(r.code, 65, "{r:?}");
    assert_eq!(check(&summary_of(&r), "accepted_values(kind)")["rows"], 1);
    // A mistake in a catalog's checks names the entry and the field.
    dir.write(
        "config/csv_datasets.yaml",
        "datasets:\n  - name: e\n    minio_dataset_id: e2\n    source_dir: drops\n    file_pattern: 'e-*.csv'\n    \
         checks: {row_count: {minimum: 1}}\n",
    );
    let r = run(dir.etl().args(["load-csv", "--dataset", "e"]));
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stderr.contains(
            "entry 1 (\"e\"), field `checks`: row_count: `minimum` is not one of its keys (min, max)"
        ),
        "{r:?}"
    );
}

#[test]
fn the_shipped_catalog_checks_pass_on_the_sample_export() {
    let repo = env!("CARGO_MANIFEST_DIR");
    let dir = Dir::new();
    dir.write("config/csv_datasets.yaml", std::fs::read(format!("{repo}/config/csv_datasets.yaml")).unwrap());
    sample_exports(&dir);
    let r = ok(dir.etl().args(["--log-format", "json", "load-csv", "--dataset", "cursor-usage"]));
    let s = summary_of(&r);
    assert_eq!(check_verdicts(&s), SHIPPED_CHECKS_ON_THE_SAMPLE);
    assert_eq!(
        check(&s, "freshness(Date)")["detail"],
        "newest 2026-10-31T22:57:15Z is 1h old as of 2026-11-01, the file's date (at most 2d)"
    );
}

#[test]
fn a_rest_api_s_examples_name_records() {
    let api = crate::fake_api::FakeApi::start(|_, _| {
        crate::fake_api::Response::json(serde_json::json!({"items": [
            {"id": 1, "email": "a@example.com", "status": "paid"},
            {"id": 2, "email": null, "status": "lost"},
            {"id": 3, "email": "c@example.com", "status": "paid"},
        ]}))
    });
    let dir = Dir::new();
    let r = run(dir
        .etl()
        .args(["--log-format", "json", "load-api", "--url", &format!("{}/v1/orders", api.url)])
        .args([
            "--records",
            "items",
            "--dataset-id",
            "orders",
            "--check",
            "not_null: [email]",
            "--check",
            "accepted_values: {status: [paid, open]}",
            "--sensitive",
            "status",
        ]));
    assert_eq!(r.code, 65, "{r:?}");
    let s = summary_of(&r);
    assert_eq!(check(&s, "not_null(email)")["examples"], serde_json::json!(["record 2"]));
    assert_eq!(
        check(&s, "accepted_values(status)")["examples"],
        serde_json::json!(["record 2"]),
        "sensitive"
    );
    assert!(!r.stderr.contains("lost"), "{r:?}");
    assert!(!dir.lake_keys().iter().any(|k| k.ends_with(".parquet")), "{:?}", dir.lake_keys());
}

#[test]
fn a_batch_whose_failures_are_all_checks_exits_65() {
    let dir = Dir::new();
    dir.write("a.csv", "id\n1\n2\n");
    dir.write("b.csv", "id\n1\n1\n");
    dir.write(
        "jobs.yaml",
        "jobs:\n  - name: a\n    dataset_id: a\n    checks: {unique: [id]}\n    source: {kind: csv, path: a.csv}\n  \
         - name: b\n    dataset_id: b\n    checks: {unique: [id]}\n    source: {kind: csv, path: b.csv}\n",
    );
    let r = run(dir.etl().args(["--log-format", "json", "run", "jobs.yaml", "--all"]));
    assert_eq!(r.code, 65, "{r:?}");
    let s = summary_of(&r);
    assert_eq!(s["datasets"][0]["status"], "ok");
    assert_eq!(s["datasets"][0]["checks"][0]["status"], "passed");
    assert_eq!(s["datasets"][1]["status"], "failed");
    assert_eq!(s["datasets"][1]["checks"][0]["examples"], serde_json::json!(["line 3 repeats line 2"]));
    // In text, the line of the failed job names the check.
    let r = run(dir.etl().args(["run", "jobs.yaml", "--all"]));
    assert_eq!(r.code, 65, "{r:?}");
    assert!(
        r.stderr.contains("error: \"b\": 1 check failed; nothing was published: unique(id) failed: 1 row"),
        "{r:?}"
    );
}

#[test]
fn a_quarantining_run_that_fails_its_checks_says_its_bad_rows_were_not_kept() {
    let dir = Dir::new();
    dir.write("n.csv", "id,amt\n1,5\n2,x\n,7\n");
    let lake = dir.path().join("lake");
    let r = load(
        &dir,
        None,
        lake.to_str().unwrap(),
        "n.csv",
        &["--on-bad-rows", "quarantine", "--types", "amt=int64", "--check", "not_null: [id]"],
    );
    assert_eq!(r.code, 65, "{r:?}");
    let s = summary_of(&r);
    let notes: Vec<&str> = s["notes"].as_array().unwrap().iter().map(|n| n.as_str().unwrap()).collect();
    assert!(!notes.iter().any(|n| n.contains("quarantined in")), "{notes:?}");
    assert!(notes.contains(&"1 bad row left out and not kept (the run failed its checks; a run that passes them quarantines them)"), "{notes:?}");
    assert!(s["error"].as_str().unwrap().contains("; the row that broke them is in "), "{s}");
    // The rejects file holds the row that broke the check.
    let rejects = std::fs::read_to_string(
        lake.join(format!("datasets/t/_rejects/{}.csv", s["run_id"].as_str().unwrap())),
    )
    .unwrap();
    assert_eq!(rejects, "_line,_check,id,amt\n4,not_null(id),,7\n");
}

#[test]
fn values_are_judged_as_the_source_wrote_them() {
    let dir = Dir::new();
    dir.write("v.csv", "flag,amount,at\nYes,1,2026-01-01T10:00:00+02:00\nNo,2,2026-01-02T10:00:00+02:00\n");
    let lake = dir.path().join("lake");
    let r = load(
        &dir,
        None,
        lake.to_str().unwrap(),
        "v.csv",
        &[
            "--types",
            "flag=yes_no,amount=float64",
            "--check",
            "accepted_values: {flag: [Yes, No], amount: [1, 2]}",
            "--check",
            "matches: {at: '\\+02:00$'}",
        ],
    );
    assert_eq!(r.code, 0, "{r:?}");
    assert!(summary_of(&r)["checks"].as_array().unwrap().iter().all(|c| c["status"] == "passed"), "{r:?}");
}

#[test]
fn a_second_pass_judges_each_row_once() {
    // Line 70,002 makes `n` text after 65,536 rows were staged as integers: a second pass.
    let mut csv = String::from("id,n,v\n");
    for i in 0..70_000 {
        let id = if i == 50_000 { 7 } else { i };
        let n = if i == 70_000 - 1 { "x".to_owned() } else { i.to_string() };
        let v = if i == 10 { "" } else { "a" };
        csv += &format!("{id},{n},{v}\n");
    }
    let dir = Dir::new();
    dir.write("big.csv", &csv);
    let lake = dir.path().join("lake");
    let r = load(
        &dir,
        None,
        lake.to_str().unwrap(),
        "big.csv",
        &["--check", "{not_null: [v], unique: [id], severity: warn}"],
    );
    assert_eq!(r.code, 0, "{r:?}");
    let s = summary_of(&r);
    assert_eq!(check(&s, "not_null(v)")["rows"], 1, "{s}");
    assert_eq!(check(&s, "unique(id)")["rows"], 1, "{s}");
    assert_eq!(check(&s, "unique(id)")["examples"], serde_json::json!(["line 50002 repeats line 9"]));
}

#[test]
fn rows_outside_the_partition_range_are_not_judged() {
    let dir = Dir::new();
    dir.write("r.csv", "day,v\n2026-01-01,\n2026-01-02,a\n2026-01-03,\n");
    let lake = dir.path().join("lake");
    let args =
        ["--partition-col", "day", "--partition-range", "2026-01-02..2026-01-02", "--check", "not_null: [v]"];
    let r = load(&dir, None, lake.to_str().unwrap(), "r.csv", &args);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(check(&summary_of(&r), "not_null(v)")["status"], "passed");
}

#[test]
fn an_incremental_load_that_fails_its_checks_leaves_its_state() {
    let events = std::sync::Arc::new(std::sync::Mutex::new(vec![
        serde_json::json!({"id": 1, "updated_at": "2026-11-01T10:00:00Z"}),
        serde_json::json!({"id": 2, "updated_at": "2026-11-02T10:00:00Z"}),
    ]));
    let api = crate::fake_api::FakeApi::events_since(events.clone(), false);
    let dir = Dir::new();
    let load = |check: &str| {
        run(dir
            .etl()
            .args(["--log-format", "json", "load-api", "--url", &format!("{}/events", api.url)])
            .args([
                "--records",
                "events",
                "--dataset-id",
                "ev",
                "--incremental-field",
                "updated_at",
                "--since-param",
                "updated_since",
                "--check",
                check,
            ]))
    };
    assert_eq!(load("row_count: {min: 1}").code, 0);
    let state = std::fs::read(dir.lake("datasets/ev/_state.json")).unwrap();
    events.lock().unwrap().push(serde_json::json!({"id": 3, "updated_at": "2026-11-03T10:00:00Z"}));
    let failed = load("row_count: {min: 2}");
    assert_eq!(failed.code, 65, "{failed:?}");
    assert_eq!(std::fs::read(dir.lake("datasets/ev/_state.json")).unwrap(), state, "the state did not move");
    // The next run asks for the same record again, and loads it.
    let again = load("row_count: {min: 1}");
    assert_eq!(again.code, 0, "{again:?}");
    assert_eq!(summary_of(&again)["rows_written"], 1);
    assert_eq!(api.seen().last().unwrap().param("updated_since"), Some("2026-11-02T10:00:00Z"));
}

#[test]
fn a_key_of_lists_is_a_failed_check_not_a_crash() {
    let Some(pg) = pg_url() else { return };
    let url = pg_database(&pg, "checks_lists");
    pg_exec(&url, "CREATE TABLE t (id int, tags int[]); INSERT INTO t VALUES (1, '{1,2}'), (2, '{3}')");
    let dir = Dir::new();
    let r = run(dir
        .etl()
        .args(["--log-format", "json", "load-postgres", "--url", &url, "--table", "t"])
        .args(["--dataset-id", "t", "--check", "unique: [tags]", "--check", "not_null: [nope]"]));
    assert_eq!(r.code, 65, "{r:?}");
    let s = summary_of(&r);
    assert_eq!(check(&s, "unique(tags)")["detail"], "`tags` holds lists: a key is made of values (of tags)");
}
