//! `--mode upsert --primary-key`: one row per key afterwards, the newest run's, wherever it was; on
//! the local target and on the S3 server.

use std::collections::BTreeMap;

use crate::util::*;

/// Each row of dataset `id` in `target`: its `id` column, with its folder's day (`None` when
/// unpartitioned) and the values of `columns` as text.
type Rows = Vec<(i64, Option<String>, Vec<Option<String>>)>;

fn table(target: &str, s3: Option<&S3Env>, id: &str, columns: &[&str]) -> Rows {
    runtime().block_on(async {
        let store = match s3 {
            Some(s3) => s3.store(target).await,
            None => etl::store::open(&etl::store::Target::parse(target).unwrap()).await.unwrap(),
        };
        let mut rows = Vec::new();
        for key in data_keys(store.as_ref(), &format!("datasets/{id}/")).await {
            if !key.ends_with(".parquet") {
                continue;
            }
            let day = key.split("date=").nth(1).map(|r| r[..10].to_owned());
            let df = read_parquet_bytes(store.get(&key).await.unwrap());
            let ids = i64s(&df, "id");
            let texts: Vec<Vec<Option<String>>> = columns
                .iter()
                .map(|c| {
                    let s = df.column(c).unwrap().cast(&polars::prelude::DataType::String).unwrap();
                    s.str().unwrap().iter().map(|v| v.map(str::to_owned)).collect()
                })
                .collect();
            for (i, id) in ids.into_iter().enumerate() {
                rows.push((id.expect("an id"), day.clone(), texts.iter().map(|t| t[i].clone()).collect()));
            }
        }
        rows.sort();
        rows
    })
}

/// `etl upload-csv FILE --dataset-id t --target TARGET ARGS --log-format json`.
fn upsert(dir: &Dir, s3: Option<&S3Env>, target: &str, file: &str, args: &[&str]) -> Run {
    let mut cmd = dir.etl();
    if let Some(s3) = s3 {
        s3.apply(&mut cmd);
    }
    run(cmd
        .args(["upload-csv", file, "--dataset-id", "t", "--target", target, "--log-format", "json"])
        .args(args))
}

fn row(id: i64, day: &str, v: &str) -> (i64, Option<String>, Vec<Option<String>>) {
    (id, Some(day.to_owned()), vec![Some(v.to_owned())])
}

/// Updates, a moved row, a key twice in one run, then the same run again: on any target.
fn updated_and_moved_rows_replace_their_old_versions(s3: Option<&S3Env>, target: &str) {
    let dir = Dir::new();
    dir.write("r1.csv", "id,day,v\n1,2026-01-01,a\n2,2026-01-01,b\n3,2026-01-02,c\n5,2026-01-05,e\n");
    dir.write("r2.csv", "id,day,v\n2,2026-01-01,B\n3,2026-01-03,C\n4,2026-01-02,d\n4,2026-01-02,D\n");
    let key = ["--partition-col", "day", "--primary-key", "id"];
    let first = upsert(&dir, s3, target, "r1.csv", &key);
    assert_eq!(first.code, 0, "{first:?}");
    assert_eq!(summary_of(&first)["upserted"]["inserted"], 4);
    let untouched = table(target, s3, "t", &["v"]).into_iter().find(|r| r.0 == 5).unwrap();

    let second = upsert(&dir, s3, target, "r2.csv", &key);
    assert_eq!(second.code, 0, "{second:?}");
    assert_eq!(
        table(target, s3, "t", &["v"]),
        vec![
            row(1, "2026-01-01", "a"),
            row(2, "2026-01-01", "B"),
            // Moved: gone from 2026-01-02.
            row(3, "2026-01-03", "C"),
            // The last of the run's two rows.
            row(4, "2026-01-02", "D"),
            untouched,
        ]
    );
    let s = summary_of(&second);
    assert_eq!(s["upserted"]["inserted"], 1, "{s}");
    assert_eq!(s["upserted"]["updated"], 2, "{s}");
    assert_eq!(s["upserted"]["moved"], 1, "{s}");
    assert_eq!(s["upserted"]["superseded"], 1, "{s}");
    // 2026-01-01 (changed), 2026-01-02 (lost 3, gained 4), 2026-01-03 (gained 3); not 2026-01-05.
    assert_eq!(s["upserted"]["partitions"], 3, "{s}");
    assert_eq!(s["rows_written"], 3, "{s}");
    assert!(
        second.stderr.contains("upsert by id: 1 inserted, 2 updated (1 moved to another day)"),
        "{second:?}"
    );

    // The same run again: every rewritten partition comes out byte for byte the same.
    let again = upsert(&dir, s3, target, "r2.csv", &key);
    assert_eq!(again.code, 0, "{again:?}");
    let s = summary_of(&again);
    assert_eq!(s["unchanged"], s["files"], "{s}");
    // ... and says so: nothing changed (issue 29; it said "3 updated").
    assert_eq!(s["upserted"]["updated"], 0, "{s}");
    assert_eq!(s["upserted"]["unchanged"], 3, "{s}");
    assert_eq!(table(target, s3, "t", &["v"]).len(), 5);
}

#[test]
fn updated_and_moved_rows_replace_their_old_versions_locally() {
    let dir = Dir::new();
    let target = dir.path().join("lake");
    updated_and_moved_rows_replace_their_old_versions(None, target.to_str().unwrap());
}

#[test]
fn updated_and_moved_rows_replace_their_old_versions_on_s3() {
    let Some(s3) = s3_env() else { return };
    let target = s3.target("upsert");
    updated_and_moved_rows_replace_their_old_versions(Some(&s3), &target);
}

#[test]
fn partitions_without_a_change_keep_their_files_and_an_emptied_one_goes() {
    let dir = Dir::new();
    let lake = dir.path().join("lake");
    let target = lake.to_str().unwrap();
    dir.write("r1.csv", "id,day,v\n1,2026-01-01,a\n2,2026-01-02,b\n3,2026-01-03,c\n");
    // Key 2 moves to 2026-01-03: its day is left with nothing.
    dir.write("r2.csv", "id,day,v\n2,2026-01-03,b\n");
    let key = ["--partition-col", "day", "--primary-key", "id"];
    assert_eq!(upsert(&dir, None, target, "r1.csv", &key).code, 0);
    let kept = std::fs::read(lake.join("datasets/t/partitions/date=2026-01-01/part-0000.parquet")).unwrap();
    let r = upsert(&dir, None, target, "r2.csv", &key);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(
        std::fs::read(lake.join("datasets/t/partitions/date=2026-01-01/part-0000.parquet")).unwrap(),
        kept
    );
    assert!(!lake.join("datasets/t/partitions/date=2026-01-02").exists());
    assert_eq!(
        table(target, None, "t", &["v"]),
        vec![row(1, "2026-01-01", "a"), row(2, "2026-01-03", "b"), row(3, "2026-01-03", "c")]
    );
    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(lake.join("datasets/t/_manifest.json")).unwrap()).unwrap();
    assert_eq!(m["mode"], "upsert");
    assert_eq!(m["primary_key"], serde_json::json!(["id"]));
    assert_eq!(m["files"].as_array().unwrap().len(), 2, "{m}");
}

#[test]
fn dedup_by_keeps_the_highest_value_and_a_composite_key_counts_as_one() {
    let dir = Dir::new();
    let lake = dir.path().join("lake");
    let target = lake.to_str().unwrap();
    // Key (id, line): (1, 1) three times, the newest `at` first in the file.
    dir.write(
        "r.csv",
        "id,line,at,v\n1,1,2026-01-03T00:00:00Z,newest\n1,2,2026-01-01T00:00:00Z,other line\n\
         1,1,2026-01-01T00:00:00Z,old\n1,1,2026-01-02T00:00:00Z,middle\n",
    );
    let r = upsert(&dir, None, target, "r.csv", &["--primary-key", "id,line", "--dedup-by", "at"]);
    assert_eq!(r.code, 0, "{r:?}");
    let rows = table(target, None, "t", &["line", "v"]);
    assert_eq!(
        rows,
        vec![
            (1, None, vec![Some("1".into()), Some("newest".into())]),
            (1, None, vec![Some("2".into()), Some("other line".into())]),
        ]
    );
    assert_eq!(summary_of(&r)["upserted"]["superseded"], 2);
    // Without --dedup-by, the last in the file wins.
    let r = upsert(&dir, None, target, "r.csv", &["--primary-key", "id,line"]);
    assert_eq!(r.code, 0, "{r:?}");
    let rows = table(target, None, "t", &["line", "v"]);
    assert_eq!(rows[0].2[1].as_deref(), Some("middle"));
    assert_eq!(summary_of(&r)["upserted"]["updated"], 2);
}

#[test]
fn a_row_without_its_key_is_a_bad_row() {
    let dir = Dir::new();
    let lake = dir.path().join("lake");
    let target = lake.to_str().unwrap();
    dir.write("r.csv", "id,v\n1,a\n,b\n3,c\n");
    let r = upsert(&dir, None, target, "r.csv", &["--primary-key", "id"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.stderr.contains("r.csv:3: column `id`: no value, and `id` is part of the primary key (id)"),
        "{r:?}"
    );
    assert!(!lake.join("datasets/t/_manifest.json").exists());
    let r = upsert(&dir, None, target, "r.csv", &["--primary-key", "id", "--on-bad-rows", "quarantine"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(table(target, None, "t", &["v"]).len(), 2);
    let rejects: Vec<String> = dir.all_lake_keys().into_iter().filter(|k| k.contains("_rejects/")).collect();
    assert_eq!(rejects.len(), 1);
    assert_eq!(std::fs::read_to_string(dir.lake(&rejects[0])).unwrap(), "id,v\n,b\n");
}

#[test]
fn the_key_is_checked_before_anything_is_read_or_written() {
    let dir = Dir::new();
    let lake = dir.path().join("lake");
    let target = lake.to_str().unwrap();
    dir.write("r.csv", "id,other,v\n1,9,a\n");
    let cases: [(&[&str], i32, &str); 5] = [
        (&["--mode", "upsert"], 2, "--mode upsert: needs --primary-key"),
        (&["--primary-key", "id", "--mode", "merge"], 2, "--mode merge does not use one"),
        (&["--dedup-by", "v"], 2, "--dedup-by needs --primary-key"),
        (&["--primary-key", "id,id"], 2, "`id` is named twice"),
        (&["--primary-key", "nope"], 2, "primary key column `nope`: no such column"),
    ];
    for (args, code, says) in cases {
        let r = upsert(&dir, None, target, "r.csv", args);
        assert_eq!(r.code, code, "{args:?}: {r:?}");
        assert!(r.stderr.contains(says), "{args:?}: {r:?}");
    }
    assert!(!lake.exists() || dir.lake_keys().is_empty());
    // Another key later is a schema change: refused unless the dataset is reloaded under it.
    assert_eq!(upsert(&dir, None, target, "r.csv", &["--primary-key", "id"]).code, 0);
    let r = upsert(&dir, None, target, "r.csv", &["--primary-key", "other"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stderr.contains("the primary key of t is (id)"), "{r:?}");
    let r = upsert(&dir, None, target, "r.csv", &["--primary-key", "other", "--mode", "replace"]);
    assert_eq!(r.code, 0, "{r:?}");
    let r = upsert(&dir, None, target, "r.csv", &["--primary-key", "other"]);
    assert_eq!(r.code, 0, "{r:?}");
}

#[test]
fn an_upsert_dry_run_counts_and_writes_nothing() {
    let dir = Dir::new();
    let lake = dir.path().join("lake");
    let target = lake.to_str().unwrap();
    dir.write("r1.csv", "id,day,v\n1,2026-01-01,a\n2,2026-01-02,b\n");
    dir.write("r2.csv", "id,day,v\n2,2026-01-01,b\n3,2026-01-03,c\n");
    let key = ["--partition-col", "day", "--primary-key", "id"];
    assert_eq!(upsert(&dir, None, target, "r1.csv", &key).code, 0);
    let before: BTreeMap<String, Vec<u8>> =
        dir.all_lake_keys().into_iter().map(|k| (k.clone(), std::fs::read(dir.lake(&k)).unwrap())).collect();
    let r = upsert(&dir, None, target, "r2.csv", &[&key[..], &["--dry-run"]].concat());
    assert_eq!(r.code, 0, "{r:?}");
    let s = summary_of(&r);
    assert_eq!(s["upserted"]["inserted"], 1, "{s}");
    assert_eq!(s["upserted"]["moved"], 1, "{s}");
    assert!(r.stdout.contains("date=2026-01-02"), "{r:?}");
    let after: BTreeMap<String, Vec<u8>> =
        dir.all_lake_keys().into_iter().map(|k| (k.clone(), std::fs::read(dir.lake(&k)).unwrap())).collect();
    assert_eq!(before, after);
}

/// Ten runs of inserts, updates, moved rows and keys repeated within a run, upserted one after the
/// other, read back by DuckDB: the same rows as DuckDB's own answer over all the inputs (each key's
/// row of the latest run, the last in its file).
#[test]
fn duckdb_agrees_with_a_reference_over_ten_runs() {
    let dir = Dir::new();
    let lake = dir.path().join("lake");
    let mut rng = fastrand::Rng::with_seed(18);
    let mut next_key = 0u32;
    for run_no in 0..10 {
        let mut csv = String::from("id,day,v,amount,run,seq\n");
        for seq in 0..80 {
            let id = if next_key < 20 || rng.u8(..100) < 35 {
                next_key += 1;
                next_key
            } else {
                // An earlier key: updated, often on another day (moved), sometimes twice a run.
                rng.u32(1..=next_key)
            };
            let day = 1 + rng.u32(..12);
            let amount = f64::from(rng.u32(..100_000)) / 100.0;
            csv.push_str(&format!("{id},2026-03-{day:02},r{run_no}s{seq},{amount},{run_no},{seq}\n"));
        }
        let file = dir.write(&format!("run{run_no:02}.csv"), &csv);
        let r = upsert(
            &dir,
            None,
            lake.to_str().unwrap(),
            file.to_str().unwrap(),
            &["--partition-col", "day", "--primary-key", "id"],
        );
        assert_eq!(r.code, 0, "run {run_no}: {r:?}");
    }
    let script = format!(
        r#"
import duckdb
ref = """SELECT id, day, v, amount, run, seq FROM read_csv('{inputs}/run*.csv')
         QUALIFY row_number() OVER (PARTITION BY id ORDER BY run DESC, seq DESC) = 1"""
ours = """SELECT id, day, v, amount, run, seq FROM read_parquet('{lake}/datasets/t/partitions/*/*.parquet',
          hive_partitioning = true) WHERE CAST(day AS VARCHAR) = CAST(date AS VARCHAR)"""
print(duckdb.sql(f"SELECT count(*) FROM ({{ref}})").fetchall()[0][0],
      duckdb.sql(f"SELECT count(*) FROM read_parquet('{lake}/datasets/t/partitions/*/*.parquet')").fetchall()[0][0],
      duckdb.sql(f"SELECT count(*) FROM (({{ref}}) EXCEPT ({{ours}}))").fetchall()[0][0],
      duckdb.sql(f"SELECT count(*) FROM (({{ours}}) EXCEPT ({{ref}}))").fetchall()[0][0],
      duckdb.sql(f"SELECT count(*) - count(DISTINCT id) FROM ({{ours}})").fetchall()[0][0],
      sep="|")
"#,
        inputs = dir.path().display(),
        lake = lake.display()
    );
    let Some(out) = crate::duckdb::duckdb(&script) else { return };
    let fields: Vec<u64> = out.split('|').map(|f| f.parse().unwrap()).collect();
    assert!(fields[0] > 200, "{out}");
    assert_eq!(fields[1], fields[0], "one row per key, in its own day's folder: {out}");
    assert_eq!(&fields[2..], [0, 0, 0], "{out}");
}

/// `primary_key:` in a job file (on the job) and in a CSV catalog entry: the second load of an
/// updated export upserts.
#[test]
fn job_files_and_catalogs_name_the_key() {
    let dir = Dir::new();
    dir.write("in/orders-1.csv", "id,status\n1,new\n2,new\n");
    dir.write(
        "jobs.yaml",
        "jobs:\n  - name: orders\n    dataset_id: o\n    primary_key: id\n    source:\n      kind: csv\n      \
         path: in/orders.csv\n",
    );
    dir.write(
        "config/csv_datasets.yaml",
        "datasets:\n  - name: orders\n    minio_dataset_id: c\n    source_dir: in\n    file_pattern: \
         'orders-*.csv'\n    primary_key: [id]\n",
    );
    let ids = |id: &str| {
        let df = read_parquet(&dir.lake(&format!("datasets/{id}/data/part-0000.parquet")));
        let mut rows: Vec<(i64, String)> = i64s(&df, "id")
            .into_iter()
            .zip(strings(&df, "status"))
            .map(|(i, s)| (i.unwrap(), s.unwrap()))
            .collect();
        rows.sort();
        rows
    };
    std::fs::copy(dir.path().join("in/orders-1.csv"), dir.path().join("in/orders.csv")).unwrap();
    ok(dir.etl().args(["run", "jobs.yaml", "--job", "orders"]));
    ok(dir.etl().args(["load-csv", "--dataset", "orders"]));
    dir.write("in/orders.csv", "id,status\n2,shipped\n3,new\n");
    dir.write("in/orders-2.csv", "id,status\n2,shipped\n3,new\n");
    let r = ok(dir.etl().args(["run", "jobs.yaml", "--job", "orders"]));
    assert!(r.stderr.contains("upsert by id: 1 inserted, 1 updated"), "{r:?}");
    let r = ok(dir.etl().args(["load-csv", "--dataset", "orders"]));
    assert!(r.stderr.contains("upsert by id: 1 inserted, 1 updated"), "{r:?}");
    let expected: Vec<(i64, String)> = vec![(1, "new".into()), (2, "shipped".into()), (3, "new".into())];
    assert_eq!(ids("o"), expected);
    assert_eq!(ids("c"), expected);
}

#[test]
fn a_type_change_is_refused_and_a_new_column_is_null_in_older_rows() {
    let dir = Dir::new();
    let lake = dir.path().join("lake");
    let target = lake.to_str().unwrap();
    dir.write("r1.csv", "id,n\n1,10\n2,20\n");
    dir.write("r2.csv", "id,n\n2,twenty\n");
    dir.write("r3.csv", "id,n,note\n2,21,late\n");
    assert_eq!(upsert(&dir, None, target, "r1.csv", &["--primary-key", "id"]).code, 0);
    let r = upsert(&dir, None, target, "r2.csv", &["--primary-key", "id", "--allow-schema-change"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stderr.contains("an upsert rewrites partitions that keep the dataset's other rows"), "{r:?}");
    let r = upsert(&dir, None, target, "r3.csv", &["--primary-key", "id"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(
        table(target, None, "t", &["n", "note"]),
        vec![
            (1, None, vec![Some("10".into()), None]),
            (2, None, vec![Some("21".into()), Some("late".into())]),
        ]
    );
}

/// A replace with a key keeps one row per key of the run (a first load, a full refresh, a drop
/// folder's reload); a partition range and an unknown --dedup-by column are refused up front.
#[test]
fn a_replace_with_a_key_keeps_one_row_per_key_and_bad_combinations_are_refused() {
    let dir = Dir::new();
    let lake = dir.path().join("lake");
    let target = lake.to_str().unwrap();
    dir.write("r.csv", "id,day,v\n1,2026-01-01,a\n1,2026-01-02,b\n2,2026-01-01,c\n");
    let r = upsert(
        &dir,
        None,
        target,
        "r.csv",
        &["--partition-col", "day", "--primary-key", "id", "--mode", "replace"],
    );
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        r.stderr.contains("one row per key (id): 2 keys; 1 row gave way to a later one of the same key"),
        "{r:?}"
    );
    assert_eq!(table(target, None, "t", &["v"]), vec![row(1, "2026-01-02", "b"), row(2, "2026-01-01", "c")]);
    let r = upsert(
        &dir,
        None,
        target,
        "r.csv",
        &["--partition-col", "day", "--primary-key", "id", "--partition-range", "2026-01-01..2026-01-01"],
    );
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("does not go with an upsert"), "{r:?}");
    let (dir, lake) = (Dir::new(), dir.path().join("other"));
    let target = lake.to_str().unwrap();
    dir.write("r.csv", "id,v\n1,a\n");
    let r = upsert(&dir, None, target, "r.csv", &["--primary-key", "id", "--dedup-by", "nope"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("--dedup-by `nope`: no such column"), "{r:?}");
    dir.write("odd.csv", "id,__etl_row\n1,2\n");
    let r = upsert(&dir, None, target, "odd.csv", &["--primary-key", "id"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("the name an upsert numbers its rows with"), "{r:?}");
}
