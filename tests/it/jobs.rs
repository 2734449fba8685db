use serde_json::json;

use crate::fake_api::{FakeApi, Response};
use crate::fake_domo::{FakeDataset, FakeDomo};
use crate::util::*;

const DOMO_ID: &str = "c1cddf9d-0000-4000-8000-0000000000aa";

#[test]
fn one_job_file_runs_every_kind_of_source() {
    let api =
        FakeApi::start(|_, _| Response::json(json!({"items": [{"id": 1, "at": "2026-11-01T00:00:00Z"}]})));
    let domo = FakeDomo::start(&[(
        DOMO_ID,
        FakeDataset { columns: vec![("n", "LONG"), ("s", "STRING")], csv: "n,s\n1,a\n2,b\n".to_owned() },
    )]);
    let s3 = s3_env();
    let dir = Dir::new();
    dir.write("drops/events-2026-10.csv", "day,v\n2026-10-01,1\n");
    dir.write("drops/events-2026-11.csv", "day,v\n2026-11-01,1\n2026-11-02,2\n");
    dir.write("one.csv", "a,b\n1,x\n");
    dir.write("shaped.csv", "Kassenbericht\n% Filiale 3\nid;betrag\n1;1.234,5\n% Ende\n");
    let mut jobs = format!(
        r#"jobs:
  - name: events
    description: the newest monthly export
    dataset_id: events
    partition_column: day
    source: {{kind: csv, source_dir: drops, file_pattern: "events-*.csv"}}
  - name: one
    dataset_id: one
    types: {{a: string}}
    source: {{kind: csv, path: one.csv, delimiter: ","}}
  - name: shaped
    dataset_id: shaped
    source: {{kind: csv, path: shaped.csv, skip_rows: 1, comment_char: "%", decimal_comma: true}}
  - name: api
    dataset_id: api
    partition_column: at
    source: {{kind: api, url: "{}/items", records: items, max_pages: 3}}
  - name: domo
    dataset_id: domo
    source: {{kind: domo, domo_dataset_id: "{DOMO_ID}"}}
  - name: off
    dataset_id: off
    enabled: false
    source: {{kind: csv, path: missing.csv}}
"#,
        api.url
    );
    if let Some(s3) = &s3 {
        let folder = format!("s3://{}/jobs-drop-{}", s3.bucket, std::process::id());
        runtime().block_on(async {
            let store = s3.store(&folder).await;
            store.put("a.csv", b"k\n1\n2\n3\n".to_vec()).await.unwrap();
        });
        jobs += &format!(
            "  - name: s3\n    dataset_id: s3\n    source: {{kind: s3, source: \"{folder}/*.csv\"}}\n"
        );
    }
    let pg = pg_url().map(|server| pg_database(&server, "jobs"));
    if let Some(url) = &pg {
        pg_exec(url, "CREATE TABLE t (n int, at date); INSERT INTO t VALUES (1, '2026-11-05')");
        jobs += &format!(
            "  - name: pg\n    dataset_id: pg\n    partition_column: at\n    source: {{kind: postgres, url: \"{url}\", table: t}}\n"
        );
    }
    let file = dir.write("jobs.yaml", jobs);
    let with_env = |cmd: &mut std::process::Command| {
        for (k, v) in domo.env() {
            cmd.env(k, v);
        }
        if let Some(s3) = &s3 {
            s3.apply(cmd);
        }
    };

    let mut list = dir.etl();
    list.args(["run", file.to_str().unwrap(), "--list"]);
    let r = ok(&mut list);
    assert!(r.stdout.contains("events") && r.stdout.contains("the newest monthly export"), "{r:?}");
    assert!(r.stdout.contains("off") && r.stdout.contains("no"), "{r:?}");

    let mut all = dir.etl();
    all.args(["run", file.to_str().unwrap(), "--all", "--jobs", "2", "--target", "lake"]);
    with_env(&mut all);
    let r = ok(&mut all);
    let kinds = 5 + usize::from(s3.is_some()) + usize::from(pg.is_some());
    assert!(r.stderr.contains(&format!("{kinds} datasets")), "{r:?}");
    let keys = dir.lake_keys();
    for key in [
        "datasets/events/partitions/date=2026-11-01/part-0000.parquet",
        "datasets/events/partitions/date=2026-11-02/part-0000.parquet",
        "datasets/one/data/part-0000.parquet",
        "datasets/api/partitions/date=2026-11-01/part-0000.parquet",
        "datasets/domo/data/part-0000.parquet",
    ] {
        assert!(keys.contains(&key.to_owned()), "{key} missing: {keys:?}");
    }
    assert!(!keys.iter().any(|k| k.contains("2026-10-01")), "only the newest export: {keys:?}");
    assert!(!keys.iter().any(|k| k.starts_with("datasets/off/")), "a disabled job does not run");
    if s3.is_some() {
        assert!(keys.contains(&"datasets/s3/data/part-0000.parquet".to_owned()), "{keys:?}");
    }
    if pg.is_some() {
        assert!(
            keys.contains(&"datasets/pg/partitions/date=2026-11-05/part-0000.parquet".to_owned()),
            "{keys:?}"
        );
    }
    let one = read_parquet(&dir.lake("datasets/one/data/part-0000.parquet"));
    assert_eq!(strings(&one, "a"), vec![Some("1".into())], "the job's types pin the column");
    let shaped = read_parquet(&dir.lake("datasets/shaped/data/part-0000.parquet"));
    assert_eq!(shaped.column("betrag").unwrap().f64().unwrap().get(0), Some(1234.5), "{shaped}");
    assert!(
        r.stderr.contains("skipped line 1 above the header") || r.stdout.contains("skipped line 1"),
        "{r:?}"
    );

    // One job by name, as a dry run: nothing more is written.
    let before = dir.all_lake_keys();
    let mut dry = dir.etl();
    dry.args(["run", file.to_str().unwrap(), "--job", "api", "--dry-run", "--target", "lake"]);
    let r = ok(&mut dry);
    assert!(r.stdout.contains("would write"), "{r:?}");
    assert_eq!(dir.all_lake_keys(), before);

    // A mistake is reported before anything runs, naming the job.
    let bad = dir.write(
        "bad.yaml",
        "jobs:\n  - name: typo\n    dataset_id: t\n    source: {kind: api, url: http://x, pagination: page}\n",
    );
    let r = run(dir.etl().args(["run", bad.to_str().unwrap(), "--all"]));
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("job \"typo\"") && r.stderr.contains("--pagination"), "{r:?}");
}

/// The job file of docs/catalogs-and-jobs.md, as the page shows it.
fn readme_jobs() -> String {
    crate::readme::block_starting_with("schedule: \"0 6 * * *\"")
}

#[test]
fn the_readme_job_loads_into_the_readme_main_dataset() {
    let dir = Dir::new();
    let sample =
        std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/data_sources/team-usage-events-2026-11-01.csv"))
            .unwrap();
    dir.write("data_sources/team-usage-events-2026-11-01.csv", &sample);
    // The README's main command, then its example job into the same dataset: the job's types agree
    // with the command's, so the merge goes through.
    ok(dir.etl().arg("load-cursor-usage"));
    dir.write("jobs.yaml", readme_jobs());
    let r = ok(dir.etl().args(["run", "jobs.yaml", "--job", "usage"]));
    assert!(r.stderr.contains("etl run \"usage\": ok: 240 rows read, 240 rows written"), "{r:?}");
    // A job whose types disagree with the dataset's is refused with a hint in job-file words.
    dir.write(
        "jobs.yaml",
        readme_jobs().replace("types: {Max Mode: yes_no, Cost: money}", "types: {Max Mode: yes_no}"),
    );
    let r = run(dir.etl().args(["run", "jobs.yaml", "--job", "usage"]));
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.stderr.contains("`mode: replace` in a job") && r.stderr.contains("`allow_schema_change: true`"),
        "{r:?}"
    );
    dir.write("jobs.yaml", readme_jobs());
    // Every job of the README's file is a valid job (checked before any runs), and is listed.
    let r = ok(dir.etl().args(["run", "jobs.yaml", "--list"]));
    for name in ["usage", "orders", "drops", "sales", "customers"] {
        assert!(r.stdout.contains(name), "{name}: {r:?}");
    }
}
