//! Readers read it right (issue 14): the reads `etl inspect` prints, run in DuckDB, polars, pyarrow
//! and Spark (pyspark on a JDK) give back every value of the source: a
//! timestamp column named `Date` (the partition column, so `date=` folders), a text column named
//! `date`, a 30-digit decimal, nulls, and the null partition. scripts/test.sh installs the readers
//! (scripts/readers-up.sh) and sets ETL_REQUIRE_READERS=1.

use std::process::Command;

use crate::util::*;

/// The sources, and what every reader must give back for them (rows by `n`; `None` is null).
/// (Not one dataset with both `Date` and `date`: DuckDB, whose names have no case, renames one.)
const USAGE: &str = "Date,big,n,note\n\
    2026-01-01T10:00:00Z,123456789012345678901234567890,1,NA\n\
    2026-01-02T23:30:00+02:00,,2,\n\
    ,7,3,plain\n\
    2026-01-02T01:00:00Z,-5,4,N/A\n";
const USAGE_READ: &str = "1|2026-01-01 10:00:00+00:00|123456789012345678901234567890|NA
2|2026-01-02 21:30:00+00:00|None|None
3|None|7|plain
4|2026-01-02 01:00:00+00:00|-5|N/A";
const DATED: &str = "at,date,n\n2026-03-01,first,1\n2026-03-02,,2\n,third,3\n";
const DATED_READ: &str = "1|2026-03-01|first
2|2026-03-02|None
3|None|third";

/// Runs each read and prints its rows in one canonical form.
const SCRIPT: &str = r#"
import json, sys
reads = json.loads(sys.argv[1])
which = sys.argv[2]
def show(rows):
    def text(v):
        if v is None: return "None"
        from datetime import datetime, timezone
        if isinstance(v, datetime) and v.tzinfo is None and which == "spark":
            # Spark's TIMESTAMP is an instant, shown in the session's time zone (UTC here).
            v = v.replace(tzinfo=timezone.utc)
        if isinstance(v, datetime) and v.tzinfo is not None:
            v = v.astimezone(timezone.utc)
        return str(v)
    out = []
    for r in sorted(rows, key=lambda r: r["n"]):
        out.append("|".join(text(r[c]) for c in sys.argv[3].split(",")))
    return "\n".join(out)
if which == "duckdb":
    import duckdb
    rel = duckdb.sql(reads["duckdb"])
    print(show([dict(zip(rel.columns, row)) for row in rel.fetchall()]))
elif which == "polars":
    import polars as pl
    print(show(eval(reads["polars"]).collect().to_dicts()))
elif which == "pyarrow":
    import pyarrow.dataset as ds
    print(show(eval(reads["pyarrow"]).to_table().to_pylist()))
elif which == "spark":
    from pyspark.sql import SparkSession
    spark = SparkSession.builder.master("local[1]").config("spark.sql.session.timeZone", "UTC").getOrCreate()
    print(show([row.asDict() for row in eval(reads["spark"]).collect()]))
"#;

fn available(module: &str) -> bool {
    Command::new("python3")
        .args(["-c", &format!("import {module}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Loads `csv` into dataset `id` (extra arguments `args`), then reads it back with every reader
/// available, by the reads `etl inspect` prints, comparing `columns` with `expected`.
fn reads_back(id: &str, csv: &str, args: &[&str], columns: &str, expected: &str) {
    let dir = Dir::new();
    let file = dir.write("source.csv", csv);
    let r = ok(dir.etl().args(["upload-csv", file.to_str().unwrap(), "--dataset-id", id]).args(args));
    assert!(r.stderr.contains("has the name of the partition folders' key `date`"), "{r:?}");
    // Said when the dataset is made; a cron job's every later run does not repeat it (but at -v).
    let again = ok(dir.etl().args(["upload-csv", file.to_str().unwrap(), "--dataset-id", id]).args(args));
    assert!(!again.stderr.contains("partition folders' key"), "{again:?}");
    let inspect = ok(dir.etl().args(["inspect", id, "--json"]));
    let reads = serde_json::from_str::<serde_json::Value>(&inspect.stdout).unwrap()["read"].to_string();
    let text = ok(dir.etl().args(["inspect", id]));
    assert!(text.stdout.contains("hive_partitioning = false"), "{text:?}");

    let required = std::env::var("ETL_REQUIRE_READERS").is_ok();
    for (reader, module) in
        [("duckdb", "duckdb"), ("polars", "polars"), ("pyarrow", "pyarrow"), ("spark", "pyspark")]
    {
        if !available(module) {
            assert!(!required, "ETL_REQUIRE_READERS is set but `import {module}` fails");
            eprintln!("skipped {reader}: python3 -c 'import {module}' fails");
            continue;
        }
        let out = Command::new("python3")
            .current_dir(dir.path())
            .args(["-c", SCRIPT, &reads, reader, columns])
            .output()
            .unwrap();
        assert!(out.status.success(), "{reader}: {}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), expected, "{reader} with {reads}");
    }
}

#[test]
fn a_timestamp_named_date_decimals_nulls_and_the_null_partition_read_back_as_written() {
    reads_back(
        "usage",
        USAGE,
        &["--partition-col", "Date", "--types", "big=decimal"],
        "n,Date,big,note",
        USAGE_READ,
    );
}

#[test]
fn a_text_column_named_date_reads_back_as_written() {
    reads_back("dated", DATED, &["--partition-col", "at"], "n,at,date", DATED_READ);
}
