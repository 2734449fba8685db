use polars::prelude::*;

use crate::util::*;

const CURRENT: &str = r#""Date","User","Cloud Agent ID","Automation ID","Kind","Model","Max Mode","Input (w/ Cache Write)","Input (w/o Cache Write)","Cache Read","Output Tokens","Total Tokens","Cost"
"2026-10-31T23:59:31.601Z","ana@example.com","","","Usage-based","gpt-5","Yes","100","20","3000","40","3160","$1,234.56"
"2026-10-31T10:00:00.000Z","li@example.com","bc-1","","Included","auto","No","1","2","3","4","10","Included"
"2026-10-30T08:00:00.000Z","li@example.com","","auto-7","Errored, No Charge","auto","No","0","0","0","0","0","-"
"2026-10-30T07:00:00.000Z","tom@example.com","","","Free","composer-1","No","5","5","5","5","20","Free"
"2026-10-29T07:00:00.000Z","tom@example.com","","","Usage-based","composer-1","No","5","5","5","5","20","$0.42"
"#;

/// The legacy export: different columns, different order, `Cost ($)`.
const LEGACY: &str = r#""Date","User","Kind","Max Mode","Model","Tokens","Cost ($)"
"2025-01-02T03:04:05.000Z","ana@example.com","Usage-based","No","gpt-4","1234","0.10"
"2025-01-02T23:59:59.999Z","ana@example.com","Included","Yes","gpt-4","99","Included"
"#;

#[test]
fn loads_the_newest_export_with_pinned_types() {
    let dir = Dir::new();
    dir.write("data_sources/team-usage-events-2026-10-01.csv", LEGACY);
    dir.write("data_sources/team-usage-events-2026-11-01.csv", CURRENT);
    dir.write("data_sources/other.csv", "x\n1\n");
    let r = ok(dir.etl().args(["load-cursor-usage"]));
    assert!(r.stderr.contains("5 rows read, 5 rows written, 3 partitions, 3 files"), "{r:?}");
    assert!(r.stderr.contains("Cost: 3 no-charge values"), "{r:?}");
    assert!(
        r.stderr.contains("; loaded data_sources/team-usage-events-2026-11-01.csv"),
        "which export, without -v: {r:?}"
    );

    assert_eq!(
        dir.lake_keys(),
        vec![
            "datasets/cursor-usage/partitions/date=2026-10-29/part-0000.parquet",
            "datasets/cursor-usage/partitions/date=2026-10-30/part-0000.parquet",
            "datasets/cursor-usage/partitions/date=2026-10-31/part-0000.parquet",
        ]
    );
    let df = read_parquet(&dir.lake("datasets/cursor-usage/partitions/date=2026-10-31/part-0000.parquet"));
    assert_eq!(dtype(&df, "Date"), DataType::Datetime(TimeUnit::Microseconds, Some(TimeZone::UTC)));
    assert_eq!(micros(&df, "Date")[0], Some(utc(2026, 10, 31, 23, 59, 31, 601_000)));
    assert_eq!(dtype(&df, "Max Mode"), DataType::Boolean);
    assert_eq!(bools(&df, "Max Mode"), vec![Some(true), Some(false)]);
    for tokens in
        ["Input (w/ Cache Write)", "Input (w/o Cache Write)", "Cache Read", "Output Tokens", "Total Tokens"]
    {
        assert_eq!(dtype(&df, tokens), DataType::Int64, "{tokens}");
    }
    assert_eq!(i64s(&df, "Total Tokens"), vec![Some(3160), Some(10)]);
    assert_eq!(dtype(&df, "Cost"), DataType::Float64);
    assert_eq!(f64s(&df, "Cost"), vec![Some(1234.56), None]);
    // Text columns stay text even when they are empty or look like something else.
    assert_eq!(dtype(&df, "Cloud Agent ID"), DataType::String);
    assert_eq!(strings(&df, "Cloud Agent ID"), vec![None, Some("bc-1".into())]);
}

#[test]
fn the_legacy_header_is_matched_by_name() {
    let dir = Dir::new();
    let file = dir.write("legacy.csv", LEGACY);
    let r = ok(dir.etl().args(["load-cursor-usage", "--file", file.to_str().unwrap()]));
    assert!(r.stderr.contains("2 rows written, 1 partition"), "{r:?}");
    let df = read_parquet(&dir.lake("datasets/cursor-usage/partitions/date=2025-01-02/part-0000.parquet"));
    assert_eq!(
        df.get_column_names(),
        vec!["Date", "User", "Kind", "Max Mode", "Model", "Tokens", "Cost ($)"]
    );
    assert_eq!(i64s(&df, "Tokens"), vec![Some(1234), Some(99)]);
    assert_eq!(f64s(&df, "Cost ($)"), vec![Some(0.10), None]);
    assert_eq!(bools(&df, "Max Mode"), vec![Some(false), Some(true)]);
}

#[test]
fn the_shipped_sample_loads() {
    let dir = Dir::new();
    let sample = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("data_sources");
    let r = ok(dir.etl().args(["load-cursor-usage", "--source-dir", sample.to_str().unwrap()]));
    assert!(r.stderr.contains("240 rows read, 240 rows written"), "{r:?}");
    assert!(dir.lake_keys().iter().all(|k| k.starts_with("datasets/cursor-usage/partitions/date=2026-")));
}

#[test]
fn a_pinned_column_with_a_foreign_value_fails_with_its_line() {
    let dir = Dir::new();
    let bad = CURRENT.replace("\"3160\"", "\"lots\"");
    let file = dir.write("bad.csv", bad);
    let r = run(dir.etl().args(["load-cursor-usage", "--file", file.to_str().unwrap()]));
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stderr.contains("bad.csv:2: column `Total Tokens`: \"lots\" is not an integer"), "{r:?}");
    assert!(dir.lake_keys().is_empty());
}

#[test]
fn no_export_in_the_folder_says_what_to_do() {
    let dir = Dir::new();
    std::fs::create_dir(dir.path().join("data_sources")).unwrap();
    let r = run(dir.etl().args(["load-cursor-usage"]));
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("no `team-usage-events-*.csv` file in `data_sources`; pass --file"), "{r:?}");
}
