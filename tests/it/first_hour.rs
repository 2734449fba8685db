//! Issue 29: the first hour of a new user, again: what they run first and read first.

use crate::util::*;

/// Item 3: the flagship runs clean: its first run says the `Date`/`date=` note once, in its summary
/// (no warning: nothing is wrong); later runs do not repeat it.
#[test]
fn the_main_job_runs_without_a_warning() {
    let dir = Dir::new();
    sample_exports(&dir);
    let first = ok(dir.etl().arg("load-cursor-usage"));
    assert_eq!(first.stderr.lines().count(), 1, "one summary line, nothing else: {first:?}");
    assert!(!first.stderr.contains("WARN"), "{first:?}");
    assert!(first.stderr.contains("column `Date` has the name of the partition folders' key"), "{first:?}");
    assert!(first.stderr.contains("`etl inspect cursor-usage` prints reads that keep it"), "{first:?}");
    let again = ok(dir.etl().arg("load-cursor-usage"));
    assert_eq!(again.stderr.lines().count(), 1, "{again:?}");
    assert!(!again.stderr.contains("partition folders' key"), "{again:?}");
}

/// Item 4: messages that teach: the near name of a column or a dataset, the right exit code for a
/// column that is not a date and for a dataset that is not there (the same for `inspect`, `runs`
/// and `clear-dataset`), the bad character of an id, a name said once, a count's noun agreeing.
#[test]
fn mistakes_are_told_with_their_fix() {
    let dir = Dir::new();
    sample_exports(&dir);
    ok(dir.etl().arg("load-cursor-usage"));
    let export = "data_sources/team-usage-events-2026-11-01.csv";
    let r = run(dir.etl().args(["upload-csv", export, "--dataset-id", "u", "--partition-col", "date"]));
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("partition column `date`: no such column (did you mean `Date`?)"), "{r:?}");
    let r = run(dir.etl().args(["upload-csv", export, "--dataset-id", "u", "--partition-col", "User"]));
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("partition column `User` is not a date or timestamp column"), "{r:?}");
    assert!(!r.stderr.contains("pin the column's type"), "{r:?}");
    for command in [
        &["inspect", "cursor-usag"][..],
        &["runs", "cursor-usag"],
        &["clear-dataset", "cursor-usag", "--yes"],
    ] {
        let r = run(dir.etl().args(command));
        assert_eq!(r.code, 2, "{command:?}: {r:?}");
        assert!(
            r.stderr.contains("there is no dataset `cursor-usag`")
                && r.stderr.contains("(did you mean `cursor-usage`?)")
                && r.stderr.contains("its datasets: cursor-usage"),
            "{command:?}: {r:?}"
        );
    }
    assert!(dir.lake("datasets/cursor-usage/_manifest.json").exists(), "nothing was cleared");
    let r = run(dir.etl().args(["upload-csv", export, "--dataset-id", "user events"]));
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("character 5 is a space") && r.stderr.contains("`user-events`, say"), "{r:?}");
    assert_eq!(r.stderr.matches("letters, digits").count(), 1, "the rule said once: {r:?}");
    // A job's failure names the job once.
    dir.write(
        "jobs.yaml",
        "jobs:\n  - name: strict\n    dataset_id: strict\n    checks: [{row_count: {min: 1000}}]\n    \
         source: {kind: csv, path: data_sources/team-usage-events-2026-11-01.csv}\n  - name: other\n    \
         dataset_id: other\n    source: {kind: csv, path: data_sources/team-usage-events-2026-11-01.csv}\n",
    );
    let r = run(dir.etl().args(["run", "jobs.yaml", "--all"]));
    assert_eq!(r.code, 65, "{r:?}");
    assert!(r.stderr.contains("error: \"strict\": ") && !r.stderr.contains("\"strict\": strict:"), "{r:?}");
    // One file is one file.
    let r = ok(dir.etl().args(["upload-csv", export, "--dataset-id", "plan", "--dry-run"]));
    assert!(r.stdout.contains("would write 1 file ("), "{r:?}");
}

/// Item 4: `--help` shows which variable an option reads, never its value (an empty `ETL_TARGET=`
/// looked like a setting), and `--print-config` says where the target came from.
#[test]
fn help_and_print_config_say_where_settings_come_from() {
    let dir = Dir::new();
    let r = ok(dir.etl().env("ETL_TARGET", "s3://from-env").args(["upload-csv", "--help"]));
    assert!(r.stdout.contains("[env: ETL_TARGET]") && !r.stdout.contains("from-env"), "{r:?}");
    let r = ok(dir.etl().args(["--print-config", "inspect", "x"]));
    assert!(
        r.stdout.contains("target: ./lake (the default: no --target, ETL_TARGET or .env entry)"),
        "{r:?}"
    );
    dir.write(".env", "ETL_TARGET=elsewhere\n");
    let r = ok(dir.etl().args(["--print-config", "inspect", "x"]));
    assert!(r.stdout.contains("target: elsewhere (ETL_TARGET, from .env)"), "{r:?}");
    let r = ok(dir.etl().args(["--print-config", "--target", "there", "inspect", "x"]));
    assert!(r.stdout.contains("target: there (--target)"), "{r:?}");
}

/// Item 6: a job file's mistake names its job (never `jobs[1]`) and says where a command's options
/// go; an Airflow or Dagster export says which paths of this machine it baked in.
#[test]
fn job_file_mistakes_name_the_job_and_exports_name_their_paths() {
    let dir = Dir::new();
    dir.write("a.csv", "id\n1\n");
    dir.write(
        "jobs.yaml",
        "jobs:\n  - name: first\n    dataset_id: first\n    source: {kind: csv, path: a.csv}\n  - name: usage\n    \
         dataset_id: usage\n    decimal_comma: true\n    source: {kind: csv, path: a.csv}\n",
    );
    let r = run(dir.etl().args(["run", "jobs.yaml", "--all"]));
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("job \"usage\": unknown field `decimal_comma`"), "{r:?}");
    assert!(r.stderr.contains("go under the job's `source:`") && !r.stderr.contains("jobs[1]"), "{r:?}");
    // As the README writes it: under `source:`.
    dir.write(
        "jobs.yaml",
        "schedule: \"0 3 * * *\"\njobs:\n  - name: usage\n    dataset_id: usage\n    \
         source: {kind: csv, path: a.csv, decimal_comma: true, skip_rows: 0}\n",
    );
    ok(dir.etl().args(["run", "jobs.yaml", "--all"]));
    let r = ok(dir.etl().args(["schedule", "export", "jobs.yaml", "--to", "airflow"]));
    let here = std::fs::canonicalize(dir.path()).unwrap();
    assert!(r.stderr.contains(&format!("the job file {}", here.join("jobs.yaml").display())), "{r:?}");
    assert!(r.stderr.contains("--job-file, --workdir and --executable change them"), "{r:?}");
}

/// Item 5: a column of numbers that one value made text says so in the summary and in the dry run's
/// plan, with the line and the value (a number with spaces around it, first or not, with the pin
/// that reads it); a column of text from its first value says nothing.
#[test]
fn a_column_one_value_made_text_is_said_with_that_value() {
    let dir = Dir::new();
    dir.write(
        "q.csv",
        "name,qty,share,price,code\nalice,1,10%,1.50, 7 \nbob, 42 ,12%,\"1,234.50\",8\ncarol,3,1%,2,9\n",
    );
    let r = ok(dir.etl().args(["upload-csv", "q.csv", "--dataset-id", "q"]));
    let said = [
        "qty: kept as text: line 3 has \" 42 \", with spaces around it (--types 'qty=<type>' reads values trimmed)",
        "price: kept as text: line 3 has \"1,234.50\", which fits no type its earlier values have",
        "code: kept as text: line 2 has \" 7 \", with spaces around it",
    ];
    for note in said {
        assert!(r.stderr.contains(note), "{note}: {r:?}");
    }
    assert!(!r.stderr.contains("name: kept as text") && !r.stderr.contains("share: kept as text"), "{r:?}");
    let r = ok(dir.etl().args(["upload-csv", "q.csv", "--dataset-id", "q", "--dry-run"]));
    let notes = r.stdout.split_once("notes:\n").map(|(_, rest)| rest).unwrap_or_default();
    for note in said {
        assert!(notes.contains(note), "the plan says {note}: {r:?}");
    }
}

/// Item 5: a column pinned to a number or a date reads values with spaces around them (`" 42 "`
/// was refused), and a value of spaces only is null.
#[test]
fn pinned_types_read_values_with_spaces_around_them() {
    let dir = Dir::new();
    dir.write("q.csv", "id,qty,price,day,ok\n1, 42 ,1.5 ,2024-03-01 , true\n2,7,  ,2024-03-02,false\n");
    let types = "qty=int64,price=float64,day=date,ok=boolean";
    ok(dir.etl().args(["upload-csv", "q.csv", "--dataset-id", "q", "--types", types]));
    let df = read_parquet(&dir.lake("datasets/q/data/part-0000.parquet"));
    assert_eq!(i64s(&df, "qty"), [Some(42), Some(7)]);
    assert_eq!(f64s(&df, "price"), [Some(1.5), None]);
    assert_eq!(days(&df, "day")[0], Some(etl::transform::calendar::days_from_civil(2024, 3, 1)));
    assert_eq!(bools(&df, "ok"), [Some(true), Some(false)]);
    // Text keeps its spaces, pinned or not.
    ok(dir.etl().args(["upload-csv", "q.csv", "--dataset-id", "t", "--types", "qty=string"]));
    let df = read_parquet(&dir.lake("datasets/t/data/part-0000.parquet"));
    assert_eq!(strings(&df, "qty")[0].as_deref(), Some(" 42 "));
}

/// Item 4: with a `.env`, clap's usage line showed its values' options as if they had to be typed
/// (`Usage: etl upload-csv --dataset-id <DATASET_ID> --target <URL|DIR> --log-format ...`).
#[test]
fn a_usage_error_does_not_list_what_the_environment_set() {
    let dir = Dir::new();
    dir.write(".env", "ETL_TARGET=./elsewhere\nETL_LOG_FORMAT=text\n");
    for args in [&["upload-csv"][..], &["load-domo"]] {
        let r = run(dir.etl().args(args));
        assert_eq!(r.code, 2, "{r:?}");
        let usage = r.stderr.lines().find(|l| l.starts_with("Usage: ")).unwrap_or_default();
        assert!(!usage.contains("--target") && !usage.contains("--log-format"), "{r:?}");
    }
    let r = run(dir.etl().args(["upload-csv", "--target", "x"]));
    assert!(
        r.stderr.contains("Usage: etl upload-csv --dataset-id <DATASET_ID> --target <URL|DIR> <CSV_FILE>"),
        "{r:?}"
    );
}

/// Item 4: numbers are written one way on a screen: `etl runs` and the `etl run` table group
/// thousands as the summary does (they printed `1500` beside `1,500 rows`).
#[test]
fn counts_are_grouped_alike_everywhere() {
    let dir = Dir::new();
    big_csv(&dir, 1500);
    let r = ok(dir.etl().args(["upload-csv", "big.csv", "--dataset-id", "big"]));
    assert!(r.stderr.contains("1,500 rows written"), "{r:?}");
    let r = ok(dir.etl().args(["runs", "big"]));
    assert!(r.stdout.contains(" 1,500 ") && !r.stdout.contains("1500"), "{r:?}");
    dir.write(
        "jobs.yaml",
        "jobs:\n  - name: big\n    dataset_id: big2\n    source: {kind: csv, path: big.csv}\n",
    );
    let r = ok(dir.etl().args(["run", "jobs.yaml", "--all"]));
    assert!(r.stdout.contains("1,500") || r.stderr.contains("1,500"), "{r:?}");
    assert!(!r.stdout.contains("1500") && !r.stderr.contains("1500"), "{r:?}");
}

/// Item 7: on a terminal the progress shows its phases, no rate or time left before there is one to
/// show ("measuring", "estimating"), and "source read" (never "0s left") while the rows read ahead
/// are still typed and written.
#[test]
fn progress_shows_its_phases_and_no_empty_estimate() {
    let dir = Dir::new();
    big_csv(&dir, 1_500_000);
    // `script` gives etl a terminal and keeps what it draws.
    let command =
        format!("{} upload-csv big.csv --dataset-id big --partition-col day", env!("CARGO_BIN_EXE_etl"));
    let mut script = std::process::Command::new("script");
    script
        .current_dir(dir.path())
        .env("TERM", "xterm")
        .env("COLUMNS", "200")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .args(["-qec", &command, "/dev/null"]);
    let r = run(&mut script);
    assert_eq!(r.code, 0, "{r:?}");
    let drawn = r.stdout.replace('\r', "\n");
    assert!(drawn.contains("estimating") || drawn.contains("measuring"), "{drawn}");
    assert!(drawn.contains("typing and writing"), "{drawn}");
    assert!(!drawn.contains(", 0s left"), "{drawn}");
    assert!(drawn.contains("etl upload-csv: ok: 1,500,000 rows read"), "{drawn}");
}

/// Item 7: a run stopped by Ctrl-C says how many rows it had read (it said 0 after 900 k).
#[test]
fn a_stopped_run_counts_the_rows_it_read() {
    let dir = Dir::new();
    big_csv(&dir, 1_500_000);
    let child = dir
        .etl()
        .args(["upload-csv", "big.csv", "--dataset-id", "d", "--partition-col", "day"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let lock = dir.lake("datasets/d/_lock");
    let started = std::time::Instant::now();
    while !lock.exists() {
        assert!(started.elapsed() < std::time::Duration::from_secs(30), "the run never took its lock");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    std::thread::sleep(std::time::Duration::from_millis(1500));
    assert!(std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap()
        .success());
    let out = child.wait_with_output().unwrap();
    let stderr = undated(&String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    let summary = stderr.lines().find(|l| l.starts_with("etl upload-csv:")).unwrap_or_default();
    let read: u64 = summary
        .split(" rows read")
        .next()
        .and_then(|head| head.rsplit(' ').next())
        .map(|n| n.replace(',', ""))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(read > 0, "the summary counts what was read: {stderr}");
}

/// Item 4: an upsert run again with the same input says nothing changed (it said "3 updated"), in
/// the summary and the run record; a real change still counts as updated.
#[test]
fn an_upsert_of_the_same_input_says_nothing_changed() {
    let dir = Dir::new();
    dir.write("o.csv", "id,day,status\n1,2026-01-01,new\n2,2026-01-01,new\n3,2026-01-02,new\n");
    let load = |dir: &Dir| {
        ok(dir.etl().args([
            "upload-csv",
            "o.csv",
            "--dataset-id",
            "o",
            "--partition-col",
            "day",
            "--primary-key",
            "id",
        ]))
    };
    load(&dir);
    let r = load(&dir);
    assert!(
        r.stderr.contains("upsert by id: nothing changed: the dataset held the rows of all 3 keys already"),
        "{r:?}"
    );
    let record: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.lake("datasets/o/_manifest.json")).unwrap())
            .unwrap();
    assert_eq!(record["upserted"]["updated"], 0, "{record}");
    assert_eq!(record["upserted"]["unchanged"], 3, "{record}");
    dir.write("o.csv", "id,day,status\n1,2026-01-01,shipped\n");
    let r = load(&dir);
    assert!(r.stderr.contains("upsert by id: 0 inserted, 1 updated"), "{r:?}");
}

/// Item 5: a file whose dialect says European (`;` and decimal commas) reads dates that could be
/// either way day first, and says so; a comma file keeps month first.
#[test]
fn a_european_file_reads_ambiguous_dates_day_first() {
    let dir = Dir::new();
    dir.write("eu.csv", "day;amount\n03/04/2024;1,50\n05/06/2024;2,25\n");
    dir.write("us.csv", "day,amount\n03/04/2024,1.50\n05/06/2024,2.25\n");
    let r = ok(dir.etl().args(["upload-csv", "eu.csv", "--dataset-id", "eu"]));
    assert!(r.stderr.contains("taken as day first (DD/MM/YYYY), as the file writes decimal commas"), "{r:?}");
    let eu = read_parquet(&dir.lake("datasets/eu/data/part-0000.parquet"));
    let april_3 = etl::transform::calendar::days_from_civil(2024, 4, 3);
    assert_eq!(days(&eu, "day")[0], Some(april_3));
    let r = ok(dir.etl().args(["upload-csv", "us.csv", "--dataset-id", "us"]));
    assert!(r.stderr.contains("taken as month first"), "{r:?}");
    let us = read_parquet(&dir.lake("datasets/us/data/part-0000.parquet"));
    assert_eq!(days(&us, "day")[0], Some(etl::transform::calendar::days_from_civil(2024, 3, 4)));
}

/// A local target's files are readable as the user's other files are (umask 022: 0644): the
/// manifest and run records were 0600 beside 0644 data files, so another user (a dashboard's) could
/// read the data but `etl inspect` could not.
#[test]
fn a_local_datasets_files_share_one_mode() {
    use std::os::unix::fs::PermissionsExt;
    let dir = Dir::new();
    sample_exports(&dir);
    ok(dir.etl().arg("load-cursor-usage"));
    let mode = |key: &str| std::fs::metadata(dir.lake(key)).unwrap().permissions().mode() & 0o777;
    let data = dir.lake_keys().into_iter().find(|k| k.ends_with(".parquet")).unwrap();
    let manifest = "datasets/cursor-usage/_manifest.json";
    assert_eq!(mode(manifest), mode(&data), "{manifest} and {data}");
    let record = dir.all_lake_keys().into_iter().find(|k| is_run_record(k)).unwrap();
    assert_eq!(mode(&record), mode(&data), "{record}");
}
