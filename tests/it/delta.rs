//! Delta Lake tables (issue 30): every table the tests write is read by three readers installed from
//! PyPI, deltalake (delta-rs), polars' `scan_delta` and DuckDB 1.4.4's `delta_scan`, on a folder and
//! on the S3 server, and each version's rows equal what the same runs give on the Hive layout; an
//! older version read by deltalake equals what that version's run wrote. scripts/readers-up.sh
//! installs the readers (DuckDB 1.4.4 in a virtualenv of its own).

use std::path::PathBuf;
use std::process::Command;

use crate::util::*;

/// Reads a table (or, for `hive`, a Hive dataset with polars) and prints its rows in one canonical
/// form: sorted, each `column=value` in column order, the Delta partition column left out.
const SCRIPT: &str = r#"
import json, os, sys
cfg = json.loads(sys.argv[1])
reader, path, version, s3 = cfg["reader"], cfg["path"], cfg.get("version"), cfg.get("s3")
opts = None
if s3:
    opts = {"AWS_ENDPOINT_URL": s3["endpoint"], "AWS_ACCESS_KEY_ID": s3["key"], "AWS_SECRET_ACCESS_KEY": s3["secret"],
            "AWS_REGION": s3["region"], "AWS_ALLOW_HTTP": "true"}
def text(v):
    from datetime import datetime, timezone
    if v is None or (isinstance(v, float) and v != v): return "null"
    if isinstance(v, datetime) and v.tzinfo is not None: v = v.astimezone(timezone.utc).replace(tzinfo=None).isoformat() + "Z"
    if isinstance(v, datetime): v = v.isoformat()
    return str(v)
if reader == "deltalake":
    from deltalake import DeltaTable
    rows = DeltaTable(path, version=version, storage_options=opts).to_pyarrow_table().to_pylist()
elif reader == "polars":
    import polars as pl
    rows = pl.scan_delta(path, version=version, storage_options=opts).collect().to_dicts()
elif reader == "duckdb":
    import duckdb, duckdb_ext
    ext = os.path.join(os.path.dirname(duckdb_ext.__path__[0]), "duckdb_ext", "extensions")
    con = duckdb.connect(config={"extension_directory": ext, "autoinstall_known_extensions": False})
    con.execute("LOAD delta")
    if s3:
        host = s3["endpoint"].split("://", 1)[1]
        con.execute(f"CREATE SECRET s (TYPE S3, KEY_ID '{s3['key']}', SECRET '{s3['secret']}', REGION '{s3['region']}', "
                    f"ENDPOINT '{host}', URL_STYLE 'path', USE_SSL false)")
        con.execute("LOAD httpfs")
    rel = con.sql(f"SELECT * FROM delta_scan('{path}')")
    rows = [dict(zip(rel.columns, r)) for r in rel.fetchall()]
elif reader == "hive":
    import polars as pl
    rows = pl.read_parquet(path + "/**/*.parquet", hive_partitioning=False, storage_options=opts).to_dicts()
drop = cfg.get("drop")
lines = sorted("|".join(f"{k}={text(v)}" for k, v in r.items() if k != drop) for r in rows)
print("\n".join(lines))
# deltalake's threads abort the interpreter's exit now and then: leave at once.
sys.stdout.flush()
os._exit(0)
"#;

/// Where a table is, for the readers.
enum Place {
    Folder(PathBuf),
    S3(S3Env, String),
}

impl Place {
    fn target(&self) -> String {
        match self {
            Place::Folder(p) => p.display().to_string(),
            Place::S3(_, target) => target.clone(),
        }
    }

    fn apply<'a>(&self, cmd: &'a mut Command) -> &'a mut Command {
        cmd.args(["--target", &self.target()]);
        if let Place::S3(env, _) = self {
            env.apply(cmd);
        }
        cmd
    }

    /// The readers' settings for the place (its S3 server).
    fn s3(&self) -> serde_json::Value {
        match self {
            Place::Folder(_) => serde_json::Value::Null,
            Place::S3(env, _) => {
                let get = |k: &str| env.vars.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()).unwrap();
                serde_json::json!({
                    "endpoint": get("AWS_ENDPOINT_URL"),
                    "key": get("AWS_ACCESS_KEY_ID"),
                    "secret": get("AWS_SECRET_ACCESS_KEY"),
                    "region": get("AWS_REGION"),
                })
            }
        }
    }
}

/// The Python each reader runs in (`None`, skipped, when it is not installed; a failure under
/// ETL_REQUIRE_READERS).
fn python_of(reader: &str) -> Option<PathBuf> {
    let (python, module): (PathBuf, &str) = match reader {
        "duckdb" => (
            PathBuf::from(initial_env("HOME").unwrap_or_default())
                .join(".cache/etl-readers/duckdb144/bin/python"),
            "duckdb_ext",
        ),
        "deltalake" => ("python3".into(), "deltalake"),
        _ => ("python3".into(), "polars"),
    };
    let there = Command::new(&python)
        .args(["-c", &format!("import {module}")])
        .output()
        .is_ok_and(|o| o.status.success());
    if !there {
        assert!(
            std::env::var("ETL_REQUIRE_READERS").is_err(),
            "ETL_REQUIRE_READERS is set but `{} -c 'import {module}'` fails: run scripts/readers-up.sh",
            python.display()
        );
        eprintln!("skipped {reader}: {} -c 'import {module}' fails", python.display());
        return None;
    }
    Some(python)
}

/// The rows `reader` reads of dataset `id` at `place` (a version of a Delta table with `version`).
fn read(reader: &str, place: &Place, id: &str, version: Option<u64>) -> Option<String> {
    let python = python_of(reader)?;
    let path = match place {
        Place::Folder(p) => p.join("datasets").join(id).display().to_string(),
        Place::S3(_, target) => format!("{target}/datasets/{id}"),
    };
    let cfg = serde_json::json!({
        "reader": reader, "path": path, "version": version, "s3": place.s3(), "drop": "date",
    });
    let out = Command::new(python).args(["-c", SCRIPT, &cfg.to_string()]).output().unwrap();
    assert!(out.status.success(), "{reader} reading {path}: {}", String::from_utf8_lossy(&out.stderr));
    Some(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// Every Delta reader's rows of table `id` equal `expected` (`what` says which step).
fn delta_readers_read(place: &Place, id: &str, expected: &str, what: &str) {
    for reader in ["deltalake", "polars", "duckdb"] {
        if let Some(rows) = read(reader, place, id, None) {
            assert_eq!(rows, expected, "{reader} reading {id} after {what}");
        }
    }
}

/// One run of a scenario: a CSV and the arguments it is loaded with.
struct Step {
    csv: &'static str,
    args: &'static [&'static str],
}

/// Runs `steps` into a Hive dataset and into a Delta table, and after each one reads both: every
/// Delta reader's rows equal the Hive layout's. Then each older version read by deltalake equals
/// what its run left.
fn same_as_hive(place: &Place, name: &str, steps: &[Step]) {
    let dir = Dir::new();
    let (hive, delta) = (format!("{name}-hive"), format!("{name}-delta"));
    let mut versions = Vec::new();
    for (n, step) in steps.iter().enumerate() {
        let file = dir.write(&format!("{name}-{n}.csv"), step.csv);
        for (id, format) in [(&hive, "hive"), (&delta, "delta")] {
            let mut cmd = dir.etl();
            cmd.args(["upload-csv", file.to_str().unwrap(), "--dataset-id", id, "--table-format", format]);
            ok(place.apply(&mut cmd).args(step.args));
        }
        let what = format!("step {n} ({:?})", step.args);
        let expected = read("hive", place, &hive, None).expect("polars reads the Hive layout");
        assert!(!expected.is_empty() || step.args.contains(&"--allow-empty"), "{what}: no rows");
        delta_readers_read(place, &delta, &expected, &what);
        versions.push(expected);
    }
    for (version, expected) in versions.iter().enumerate() {
        if let Some(rows) = read("deltalake", place, &delta, Some(version as u64)) {
            assert_eq!(&rows, expected, "deltalake reading version {version} of {delta}");
        }
    }
}

const DAYS_1_2: &str = "day,n,name,at,price\n\
    2026-11-01,1,alpha,2026-11-01T10:00:00Z,1.5\n\
    2026-11-01,2,beta,2026-11-01T11:00:00+02:00,2.25\n\
    2026-11-02,3,,2026-11-02T12:00:00.5Z,3.75\n\
    ,4,no day,,4\n";
const DAYS_2_3: &str = "day,n,name,at,price\n\
    2026-11-02,3,gamma,2026-11-02T13:00:00Z,30.5\n\
    2026-11-03,5,epsilon,2026-11-03T09:00:00Z,5\n";
const DAYS_1_3: &str = "day,n,name,at,price\n\
    2026-11-01,1,alpha,2026-11-01T10:00:00Z,1.5\n\
    2026-11-02,3,c,2026-11-02T12:00:00Z,3\n\
    2026-11-03,6,f,2026-11-03T12:00:00Z,6\n";

/// The scenarios: each mode, run twice over a dataset.
fn every_mode(place: &Place) {
    let partitioned: &[&str] = &["--partition-col", "day"];
    same_as_hive(
        place,
        "merge",
        &[Step { csv: DAYS_1_2, args: partitioned }, Step { csv: DAYS_2_3, args: partitioned }],
    );
    same_as_hive(
        place,
        "append",
        &[
            Step { csv: DAYS_1_2, args: &["--partition-col", "day", "--mode", "append"] },
            Step { csv: DAYS_2_3, args: &["--partition-col", "day", "--mode", "append"] },
            Step { csv: DAYS_2_3, args: &["--partition-col", "day", "--mode", "append", "--append-again"] },
        ],
    );
    same_as_hive(
        place,
        "replace",
        &[
            Step { csv: DAYS_1_2, args: partitioned },
            Step { csv: DAYS_2_3, args: &["--partition-col", "day", "--mode", "replace"] },
        ],
    );
    same_as_hive(
        place,
        "range",
        &[
            Step { csv: DAYS_1_3, args: partitioned },
            Step {
                csv: DAYS_2_3,
                args: &[
                    "--partition-col",
                    "day",
                    "--mode",
                    "replace",
                    "--partition-range",
                    "2026-11-02..2026-11-02",
                ],
            },
        ],
    );
    same_as_hive(
        place,
        "upsert",
        &[
            Step { csv: DAYS_1_2, args: &["--partition-col", "day", "--primary-key", "n"] },
            Step { csv: DAYS_2_3, args: &["--partition-col", "day", "--primary-key", "n"] },
            Step { csv: DAYS_1_3, args: &["--partition-col", "day", "--primary-key", "n"] },
        ],
    );
    same_as_hive(place, "whole", &[Step { csv: DAYS_1_2, args: &[] }, Step { csv: DAYS_2_3, args: &[] }]);
}

#[test]
fn every_mode_gives_the_rows_the_hive_layout_gives_on_a_folder() {
    let dir = Dir::new();
    every_mode(&Place::Folder(dir.path().join("lake")));
}

#[test]
fn every_mode_gives_the_rows_the_hive_layout_gives_on_s3() {
    let Some(env) = s3_env() else { return };
    let target = env.target("delta-modes");
    every_mode(&Place::S3(env, target));
}
