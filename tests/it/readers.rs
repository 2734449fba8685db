//! Readers read it right (issues 14 and 29): the reads `etl inspect` prints, run in DuckDB, polars,
//! pyarrow and Spark (pyspark on a JDK), and every data file opened by Daft, ClickHouse (chdb),
//! DataFusion, pandas and pyarrow 14 (which know no string views), give back every value of the source: a
//! timestamp column named `Date` (the partition column, so `date=` folders), a text column named
//! `date`, a 30-digit decimal, nulls, and the null partition; and sorted files, whose integers are
//! delta-encoded in pages of 2,048 rows. scripts/test.sh installs the readers
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
        if v is None or (isinstance(v, float) and v != v) or type(v).__name__ == "NaTType": return "None"
        from datetime import datetime, timezone
        if isinstance(v, datetime) and v.tzinfo is None and which in ("spark", "chdb"):
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
elif which in ("daft", "chdb", "datafusion", "pandas", "pyarrow14"):
    # Every data file of the dataset, read as a file (no folder names): the files themselves open.
    import glob, os
    files = sorted(glob.glob(os.path.join(sys.argv[4], "**", "*.parquet"), recursive=True))
    rows = []
    if which == "daft":
        import daft
        rows = daft.read_parquet(files).to_pylist()
    elif which == "chdb":
        import chdb
        for f in files:
            # ClickHouse reads `date=` folders into a column of that name unless told not to.
            sql = f"SELECT * FROM file('{os.path.abspath(f)}', Parquet) SETTINGS use_hive_partitioning = 0"
            rows += chdb.query(sql, "ArrowTable").to_pylist()
    elif which == "datafusion":
        from datafusion import SessionContext
        ctx = SessionContext()
        for f in files:
            rows += ctx.read_parquet(f).to_arrow_table().to_pylist()
    elif which == "pandas":
        import pandas as pd
        for f in files:
            rows += pd.read_parquet(f).to_dict("records")
    else:
        import pyarrow.parquet as pq
        for f in files:
            rows += pq.read_table(f).to_pylist()
    print(show(rows), flush=True)
    if which == "daft":
        # Daft's runtime can crash while the interpreter tears down (seen once in CI, with no word
        # on stderr): the rows are out, so leave at once.
        os._exit(0)
elif which == "spark":
    from pyspark.sql import SparkSession
    spark = SparkSession.builder.master("local[1]").config("spark.sql.session.timeZone", "UTC").getOrCreate()
    print(show([row.asDict() for row in eval(reads["spark"]).collect()]))
"#;

fn available(python: &std::path::Path, module: &str) -> bool {
    Command::new(python).args(["-c", &format!("import {module}")]).output().is_ok_and(|o| o.status.success())
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
    let dataset = format!("lake/datasets/{id}");
    // pyarrow 14 (still in many managed runtimes), in a virtualenv of its own (scripts/readers-up.sh).
    let pyarrow14 = std::path::Path::new(&initial_env("HOME").unwrap_or_default())
        .join(".cache/etl-readers/pyarrow14/bin/python");
    for (reader, module) in [
        ("duckdb", "duckdb"),
        ("polars", "polars"),
        ("pyarrow", "pyarrow"),
        ("spark", "pyspark"),
        ("daft", "daft"),
        ("chdb", "chdb"),
        ("datafusion", "datafusion"),
        ("pandas", "pandas"),
        ("pyarrow14", "pyarrow"),
    ] {
        let python = if reader == "pyarrow14" { pyarrow14.clone() } else { "python3".into() };
        if !available(&python, module) {
            assert!(
                !required,
                "ETL_REQUIRE_READERS is set but `{} -c 'import {module}'` fails",
                python.display()
            );
            eprintln!("skipped {reader}: {} -c 'import {module}' fails", python.display());
            continue;
        }
        let out = Command::new(&python)
            .current_dir(dir.path())
            .args(["-c", SCRIPT, &reads, reader, columns, &dataset])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{reader}: {} (stdout: {})\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
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
fn sorted_files_of_integers_in_deltas_and_pages_of_2048_rows_read_back_as_written() {
    // 6,000 rows over two days, sorted by `user`: two pages of each column but `user` (a
    // dictionary) a file, integers as deltas across several 256-value blocks, one of them short.
    let mut csv = String::from("Date,user,n,amount\n");
    let mut expected = Vec::new();
    for n in 1..=6_000u64 {
        let (day, user, amount) = (1 + n % 2, format!("u{:02}", n % 37), (n * 7_919) % 100_003);
        csv += &format!("2026-01-0{day}T12:00:00Z,{user},{n},{amount}\n");
        expected.push(format!("{n}|2026-01-0{day} 12:00:00+00:00|{user}|{amount}"));
    }
    reads_back(
        "sorted",
        &csv,
        &["--partition-col", "Date", "--sort-by", "user"],
        "n,Date,user,amount",
        &expected.join("\n"),
    );
}

#[test]
fn a_text_column_named_date_reads_back_as_written() {
    reads_back("dated", DATED, &["--partition-col", "at"], "n,at,date", DATED_READ);
}
