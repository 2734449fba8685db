use crate::util::*;

const REPO: &str = env!("CARGO_MANIFEST_DIR");

/// A folder with the repository's shipped catalog and sample export, as a user's checkout has.
fn checkout() -> Dir {
    let dir = Dir::new();
    dir.write("config/csv_datasets.yaml", std::fs::read(format!("{REPO}/config/csv_datasets.yaml")).unwrap());
    let sample = "team-usage-events-2026-11-01.csv";
    dir.write(
        &format!("data_sources/{sample}"),
        std::fs::read(format!("{REPO}/data_sources/{sample}")).unwrap(),
    );
    dir
}

fn files(dir: &Dir) -> Vec<(String, Vec<u8>)> {
    dir.lake_keys().into_iter().map(|k| (k.clone(), std::fs::read(dir.lake(&k)).unwrap())).collect()
}

#[test]
fn the_shipped_cursor_usage_entry_writes_what_load_cursor_usage_writes() {
    let dir = checkout();
    let listed = ok(dir.etl().args(["load-csv", "--list"]));
    assert!(listed.stdout.contains("cursor-usage  data_sources/team-usage-events-*.csv"), "{listed:?}");

    let r = ok(dir.etl().args(["load-csv", "--dataset", "cursor-usage"]));
    assert!(r.stderr.contains("240 rows read, 240 rows written, 11 partitions"), "{r:?}");
    let by_catalog = files(&dir);
    std::fs::remove_dir_all(dir.path().join("lake")).unwrap();
    ok(dir.etl().args(["load-cursor-usage"]));
    // Same types, same deterministic writer: byte for byte the same files.
    assert_eq!(files(&dir), by_catalog);
}

#[test]
fn the_last_matching_file_by_name_is_loaded() {
    let dir = Dir::new();
    dir.write(
        "catalog.yaml",
        "datasets:\n  - name: sales\n    minio_dataset_id: sales\n    source_dir: drops\n    file_pattern: \"sales-*.csv\"\n",
    );
    dir.write("drops/sales-2026-10-31.csv", "id\n1\n");
    dir.write("drops/sales-2026-11-02.csv", "id\n2\n3\n");
    dir.write("drops/sales-2026-11-03.txt", "id\n9\n");
    dir.write("drops/other-2026-12-01.csv", "id\n9\n");
    let r = ok(dir.etl().args(["load-csv", "--config", "catalog.yaml", "--all"]));
    assert!(r.stderr.contains("2 rows read"), "{r:?}");
    let df = read_parquet(&dir.lake("datasets/sales/data/part-0000.parquet"));
    assert_eq!(i64s(&df, "id"), [Some(2), Some(3)]);

    std::fs::remove_dir_all(dir.path().join("drops")).unwrap();
    dir.write("drops/other.csv", "id\n1\n");
    let r = run(dir.etl().args(["load-csv", "--config", "catalog.yaml", "--dataset", "sales"]));
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("no file in `drops` matches `sales-*.csv`"), "{r:?}");
}

#[test]
fn options_filters_types_and_disabled_entries() {
    let dir = Dir::new();
    dir.write(
        "catalog.yaml",
        r#"
datasets:
  - name: eu
    description: semicolons, a filter and a pinned type
    minio_dataset_id: eu-orders
    source_dir: in
    file_pattern: "eu.csv"
    partition_column: day
    enabled: true
    csv_options: {delimiter: ";", encoding: UTF-8}
    exclude_filter: {column: status, keep_value: keep}
    types: {zip: string}
  - name: old
    minio_dataset_id: old
    source_dir: in
    file_pattern: "old.csv"
    enabled: false
"#,
    );
    dir.write(
        "in/eu.csv",
        "day;zip;status\n2026-01-01;75001;keep\n2026-01-01;x;drop\n2026-01-02;10115;keep\n",
    );
    dir.write("in/old.csv", "a\n1\n");
    let r = ok(dir.etl().args(["load-csv", "--config", "catalog.yaml", "--all"]));
    assert!(r.stderr.contains("1 rows excluded by the filter"), "{r:?}");
    assert_eq!(
        dir.lake_keys(),
        [
            "datasets/eu-orders/partitions/date=2026-01-01/part-0000.parquet",
            "datasets/eu-orders/partitions/date=2026-01-02/part-0000.parquet",
        ]
    );
    let df = read_parquet(&dir.lake("datasets/eu-orders/partitions/date=2026-01-01/part-0000.parquet"));
    assert_eq!(strings(&df, "zip"), [Some("75001".into())]);

    // A disabled entry still loads when named.
    let r = ok(dir.etl().args(["load-csv", "--config", "catalog.yaml", "--dataset", "old"]));
    assert!(r.stderr.contains("disabled"), "{r:?}");
    assert!(dir.lake_keys().contains(&"datasets/old/data/part-0000.parquet".to_owned()));
}

#[test]
fn a_bad_catalog_is_a_usage_error_naming_the_entry() {
    let dir = Dir::new();
    dir.write(
        "catalog.yaml",
        "datasets:\n  - name: sales\n    minio_dataset_id: sales\n    source_dir: drops\n    file_patern: \"*.csv\"\n",
    );
    let r = run(dir.etl().args(["load-csv", "--config", "catalog.yaml", "--list"]));
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stderr.contains("catalog.yaml: entry 1 (\"sales\"), line 5: unknown field `file_patern`"),
        "{r:?}"
    );
    let r = run(dir.etl().args(["load-csv", "--config", "catalog.yaml"]));
    assert_eq!(r.code, 2, "one of --list, --dataset or --all is required: {r:?}");
}

#[test]
fn csv_options_reach_the_reader() {
    let dir = Dir::new();
    dir.write(
        "catalog.yaml",
        r#"
datasets:
  - name: jp
    minio_dataset_id: jp
    source_dir: in
    file_pattern: "*.csv"
    csv_options: {encoding: cp932, delimiter: tab, header: false, null_values: ["-"], on_bad_rows: skip}
    date_formats: {column_3: "%d/%m/%Y"}
"#,
    );
    let text = "東京\t-\t01/02/2026\n大阪\t5\t03/04/2026\n壊れた行\n";
    dir.write("in/a.csv", encoding_rs::SHIFT_JIS.encode(text).0);
    let r = ok(dir.etl().args(["load-csv", "--config", "catalog.yaml", "--dataset", "jp"]));
    assert!(r.stderr.contains("1 bad row skipped"), "{r:?}");
    let df = read_parquet(&dir.lake("datasets/jp/data/part-0000.parquet"));
    assert_eq!(strings(&df, "column_1"), [Some("東京".into()), Some("大阪".into())]);
    assert_eq!(i64s(&df, "column_2"), [None, Some(5)]);
    assert_eq!(
        days(&df, "column_3"),
        [
            Some(etl::transform::calendar::days_from_civil(2026, 2, 1)),
            Some(etl::transform::calendar::days_from_civil(2026, 4, 3))
        ]
    );
}
