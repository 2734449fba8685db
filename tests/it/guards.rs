//! Runs that would change a dataset in a way nobody asked for are refused, with nothing changed:
//! emptying a dataset that holds rows, and mixing two partition layouts (issue 14).

use crate::util::*;

fn upload(dir: &Dir, csv: &std::path::Path, args: &[&str]) -> Run {
    run(dir.etl().args(["upload-csv", csv.to_str().unwrap(), "--dataset-id", "d"]).args(args))
}

/// Every object of the dataset with its bytes.
/// Every object and its bytes, but the runs' records (a refused run adds its own, and nothing else).
fn snapshot(dir: &Dir) -> Vec<(String, Vec<u8>)> {
    dir.keys_but_runs().into_iter().map(|k| (k.clone(), std::fs::read(dir.lake(&k)).unwrap())).collect()
}

#[test]
fn a_header_only_file_does_not_empty_an_unpartitioned_dataset() {
    let dir = Dir::new();
    let full = dir.write("full.csv", "a,b\n1,x\n2,y\n");
    let header = dir.write("header.csv", "a,b\n");
    assert_eq!(upload(&dir, &full, &[]).code, 0);
    let before = snapshot(&dir);

    let r = upload(&dir, &header, &[]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stderr.contains("has no rows; publishing it would delete all 1 data file of"), "{r:?}");
    assert!(r.stderr.contains("--allow-empty"), "{r:?}");
    assert_eq!(snapshot(&dir), before, "nothing changed");
    assert_eq!(dir.run_statuses("d"), ["ok", "failed"], "the refused run is on record");

    let r = upload(&dir, &header, &["--allow-empty"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(read_parquet(&dir.lake("datasets/d/data/part-0000.parquet")).height(), 0);
}

#[test]
fn an_empty_replace_of_a_partitioned_dataset_is_refused_but_an_empty_merge_changes_nothing() {
    let dir = Dir::new();
    let full = dir.write("full.csv", "day,n\n2026-01-01,1\n2026-01-02,2\n");
    let header = dir.write("header.csv", "day,n\n");
    assert_eq!(upload(&dir, &full, &["--partition-col", "day"]).code, 0);
    let data = |dir: &Dir| dir.lake_keys();
    let before = data(&dir);

    // (An empty column has no type to infer: the partition column's is pinned.)
    let r = upload(
        &dir,
        &header,
        &["--partition-col", "day", "--types", "day=date,n=int64", "--mode", "replace"],
    );
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stderr.contains("would delete all 2 data files"), "{r:?}");
    assert_eq!(data(&dir), before);

    // A merge of no rows replaces no partition: the dataset keeps its rows.
    let r = upload(&dir, &header, &["--partition-col", "day", "--types", "day=date,n=int64"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(data(&dir), before);
}

#[test]
fn a_merge_with_another_partition_column_is_refused_naming_both() {
    let dir = Dir::new();
    let csv =
        dir.write("orders.csv", "ship_date,created_at,n\n2026-01-05,2026-01-01,1\n2026-01-06,2026-01-02,2\n");
    assert_eq!(upload(&dir, &csv, &["--partition-col", "ship_date"]).code, 0);
    let before = snapshot(&dir);

    let r = upload(&dir, &csv, &["--partition-col", "created_at"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.stderr.contains("is partitioned by `ship_date`")
            && r.stderr.contains("is partitioned by `created_at`"),
        "{r:?}"
    );
    assert!(r.stderr.contains("--mode replace"), "{r:?}");
    assert_eq!(snapshot(&dir), before, "nothing changed");

    // Replacing takes the new layout whole: the rows are there once.
    let r = upload(&dir, &csv, &["--partition-col", "created_at", "--mode", "replace"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stderr.contains("was partitioned by `ship_date`"), "says so: {r:?}");
    let keys = dir.lake_keys();
    assert_eq!(
        keys,
        [
            "datasets/d/partitions/date=2026-01-01/part-0000.parquet",
            "datasets/d/partitions/date=2026-01-02/part-0000.parquet"
        ]
    );
}

#[test]
fn an_unpartitioned_replace_over_a_partitioned_dataset_replaces_it_and_says_so() {
    let dir = Dir::new();
    let csv = dir.write("in.csv", "day,n\n2026-01-01,1\n2026-01-02,2\n");
    assert_eq!(upload(&dir, &csv, &["--partition-col", "day"]).code, 0);
    // Left out, the partition column is the dataset's own (issue 28): nothing is re-laid out.
    let r = upload(&dir, &csv, &[]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stderr.contains("partitioned by `day`, as d is (--partition-col left out)"), "{r:?}");
    assert_eq!(dir.lake_keys().len(), 2, "{:?}", dir.lake_keys());
    // A replace given lays it out anew.
    let r = upload(&dir, &csv, &["--mode", "replace"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stderr.contains("was partitioned by `day`") && r.stderr.contains("not partitioned"), "{r:?}");
    assert_eq!(dir.lake_keys(), ["datasets/d/data/part-0000.parquet"]);

    // And back: a merge partitioned by `day` over the unpartitioned dataset is refused.
    let r = upload(&dir, &csv, &["--partition-col", "day"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stderr.contains("is not partitioned"), "{r:?}");
}

#[test]
fn null_tokens_stay_text_in_text_columns_and_are_counted_where_they_become_null() {
    // A real shape: airports whose state is `NA` (not a null), and an elevation column with `N/A`.
    let dir = Dir::new();
    let csv =
        dir.write("airports.csv", "code,state,elevation\nYKA,NA,1133\nYQB,QC,N/A\nJFK,NY,13\nXXX,,NULL\n");
    let r = run(dir.etl().args([
        "--log-format",
        "json",
        "upload-csv",
        csv.to_str().unwrap(),
        "--dataset-id",
        "a",
    ]));
    assert_eq!(r.code, 0, "{r:?}");
    let df = read_parquet(&dir.lake("datasets/a/data/part-0000.parquet"));
    assert_eq!(strings(&df, "state"), [Some("NA".into()), Some("QC".into()), Some("NY".into()), None]);
    assert_eq!(i64s(&df, "elevation"), [Some(1133), None, Some(13), None]);
    let summary = r.stderr.lines().last().unwrap();
    assert!(summary.contains("elevation: 2 values among NULL, null, NA, N/A stored as null"), "{r:?}");
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.lake("datasets/a/_manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["null_tokens"], serde_json::json!({"elevation": 2}));
}
