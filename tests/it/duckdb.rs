//! DuckDB reads what `etl` writes as one Hive-partitioned table. Needs Python's `duckdb` package
//! (scripts/test.sh installs it and sets ETL_REQUIRE_DUCKDB=1).

use std::process::Command;

use crate::util::*;

pub fn duckdb(script: &str) -> Option<String> {
    let probe = Command::new("python3").args(["-c", "import duckdb"]).output();
    if !probe.is_ok_and(|o| o.status.success()) {
        assert!(
            std::env::var("ETL_REQUIRE_DUCKDB").is_err(),
            "ETL_REQUIRE_DUCKDB is set but `import duckdb` fails"
        );
        eprintln!("skipped: python3 -c 'import duckdb' fails");
        return None;
    }
    let out = Command::new("python3").args(["-c", script]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    Some(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

#[test]
fn duckdb_reads_the_cursor_usage_dataset_as_a_hive_table() {
    let dir = Dir::new();
    let sample = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("data_sources");
    ok(dir.etl().args(["load-cursor-usage", "--source-dir", sample.to_str().unwrap()]));
    let glob = dir.lake("datasets/cursor-usage/partitions/*/*.parquet");
    let script = format!(
        r#"
import duckdb
rel = duckdb.sql("""SELECT count(*), count(DISTINCT date), min(date)::VARCHAR,
                           sum("Total Tokens"), round(sum("Cost"), 2),
                           count(*) FILTER (WHERE CAST("Date" AS DATE) <> date)
                    FROM read_parquet('{}', hive_partitioning = true)""")
print(*rel.fetchall()[0], sep="|")
"#,
        glob.display()
    );
    let Some(out) = duckdb(&script) else { return };
    let fields: Vec<&str> = out.split('|').collect();
    assert_eq!(fields[0], "240", "{out}");
    assert_eq!(fields[1], "11", "{out}");
    assert_eq!(fields[2], "2026-10-21", "{out}");
    // Every row sits in the partition of its own UTC day.
    assert_eq!(fields[5], "0", "{out}");
}
