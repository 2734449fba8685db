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
drop = cfg.get("drop", [])
lines = sorted("|".join(f"{k}={text(v)}" for k, v in r.items() if k not in drop) for r in rows)
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
        "reader": reader, "path": path, "version": version, "s3": place.s3(),
        // The Delta table's partition column, which the Hive layout has only in its folders' names.
        "drop": ["date", "partition_date"],
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

/// One run of a scenario.
enum Step {
    /// `upload-csv` of a CSV into both datasets, with these arguments.
    Load(&'static str, &'static [&'static str]),
    /// A command run on both datasets (`compact`, `vacuum`): the dataset's id is added.
    Both(&'static [&'static str]),
    /// A command run on the Delta one only (`convert --to delta`).
    DeltaOnly(&'static [&'static str]),
}

/// The Delta table's version, by `etl inspect --json`.
fn version_of(dir: &Dir, place: &Place, id: &str) -> Option<u64> {
    let mut cmd = dir.etl();
    let r = ok(place.apply(cmd.args(["inspect", id, "--json"])));
    serde_json::from_str::<serde_json::Value>(&r.stdout).unwrap()["delta"]["version"].as_u64()
}

/// Runs `steps` into a Hive dataset and into a Delta table (`--table-format` given to the first
/// load only, unless `convert` is a step: later runs keep the dataset's format), and after each
/// one reads both: every Delta reader's rows equal the Hive layout's. Then each version read by
/// deltalake equals what its run left.
fn same_as_hive(place: &Place, name: &str, steps: &[Step]) {
    let dir = Dir::new();
    let (hive, delta) = (format!("{name}-hive"), format!("{name}-delta"));
    let converts = steps.iter().any(|s| matches!(s, Step::DeltaOnly(_)));
    let mut versions = std::collections::BTreeMap::new();
    let mut loaded = false;
    for (n, step) in steps.iter().enumerate() {
        let what = format!("{name} step {n}");
        match step {
            Step::Load(csv, args) => {
                let file = dir.write(&format!("{name}-{n}.csv"), csv);
                for (id, format) in [(&hive, "hive"), (&delta, "delta")] {
                    let mut cmd = dir.etl();
                    cmd.args(["upload-csv", file.to_str().unwrap(), "--dataset-id", id]);
                    if !loaded && !converts {
                        cmd.args(["--table-format", format]);
                    }
                    ok(place.apply(&mut cmd).args(*args));
                }
                loaded = true;
            }
            Step::Both(args) => {
                if args.contains(&"--retain") {
                    // The versions before a vacuum with a short retention are no longer read.
                    versions.clear();
                }
                for id in [&hive, &delta] {
                    let mut cmd = dir.etl();
                    ok(place.apply(cmd.args(*args).arg(id)));
                }
            }
            Step::DeltaOnly(args) => {
                let mut cmd = dir.etl();
                ok(place.apply(cmd.args(*args).arg(&delta)));
            }
        }
        let expected = read("hive", place, &hive, None).expect("polars reads the Hive layout");
        assert!(!expected.is_empty(), "{what}: no rows");
        if let Some(version) = version_of(&dir, place, &delta) {
            delta_readers_read(place, &delta, &expected, &what);
            versions.insert(version, expected);
        }
    }
    assert!(!versions.is_empty(), "{name}: never a Delta table");
    for (version, expected) in &versions {
        if let Some(rows) = read("deltalake", place, &delta, Some(*version)) {
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

const USAGE_1: &str = "Date,User,Tokens\n\
    2026-10-31T22:57:15.644Z,tom,10\n\
    2026-11-01T01:00:00Z,maria,20\n\
    ,nobody,0\n";
const USAGE_2: &str = "Date,User,Tokens\n\
    2026-11-01T02:00:00Z,maria,25\n\
    2026-11-02T03:00:00Z,tom,30\n";

/// The scenarios: each mode run over a dataset, and convert, compact and vacuum between runs.
fn every_mode(place: &Place) {
    use Step::*;
    let by_day: &[&str] = &["--partition-col", "day"];
    let append: &[&str] = &["--partition-col", "day", "--mode", "append"];
    let keyed: &[&str] = &["--partition-col", "day", "--primary-key", "n"];
    same_as_hive(place, "merge", &[Load(DAYS_1_2, by_day), Load(DAYS_2_3, &[])]);
    same_as_hive(
        place,
        "append",
        &[
            Load(DAYS_1_2, append),
            Load(DAYS_2_3, &[]),
            Load(DAYS_2_3, &["--append-again"]),
            Both(&["compact"]),
            Both(&["vacuum", "--retain", "0"]),
            Load(DAYS_1_3, &[]),
        ],
    );
    same_as_hive(place, "replace", &[Load(DAYS_1_2, by_day), Load(DAYS_2_3, &["--mode", "replace"])]);
    same_as_hive(
        place,
        "range",
        &[
            Load(DAYS_1_3, by_day),
            Load(DAYS_2_3, &["--mode", "replace", "--partition-range", "2026-11-02..2026-11-02"]),
        ],
    );
    same_as_hive(
        place,
        "upsert",
        &[Load(DAYS_1_2, keyed), Load(DAYS_2_3, &[]), Load(DAYS_1_3, &[]), Both(&["vacuum"])],
    );
    same_as_hive(place, "whole", &[Load(DAYS_1_2, &[]), Load(DAYS_2_3, &[])]);
    // A timestamp named `Date`, as the usage export has: the table's partition column is
    // `partition_date`; converted, the table is not partitioned in Delta's terms.
    let dated: &[&str] = &["--partition-col", "Date"];
    same_as_hive(
        place,
        "dated",
        &[Load(USAGE_1, dated), Load(USAGE_2, &[]), Load(USAGE_2, &["--mode", "append"])],
    );
    same_as_hive(
        place,
        "dated-convert",
        &[
            Load(USAGE_1, dated),
            DeltaOnly(&["convert", "--to", "delta"]),
            Load(USAGE_2, &[]),
            Load(USAGE_1, &["--mode", "replace", "--partition-col", "Date"]),
        ],
    );
    same_as_hive(
        place,
        "convert",
        &[
            Load(DAYS_1_2, append),
            Load(DAYS_2_3, &[]),
            DeltaOnly(&["convert", "--to", "delta"]),
            Load(DAYS_1_3, &[]),
            Both(&["compact"]),
            Both(&["vacuum", "--retain", "0"]),
            Load(DAYS_2_3, &["--mode", "merge"]),
        ],
    );
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

/// The data files under `partitions/` and `data/` of dataset `id` that the table's newest version
/// does not read (deltalake's own list of the version's files).
fn unreferenced(place: &Place, id: &str, dir: &Dir) -> Vec<String> {
    let Some(python) = python_of("deltalake") else { return Vec::new() };
    let path = match place {
        Place::Folder(p) => p.join("datasets").join(id).display().to_string(),
        Place::S3(_, target) => format!("{target}/datasets/{id}"),
    };
    let script = r#"
import json, os, sys
from deltalake import DeltaTable
cfg = json.loads(sys.argv[1])
s3 = cfg["s3"]
opts = None if not s3 else {"AWS_ENDPOINT_URL": s3["endpoint"], "AWS_ACCESS_KEY_ID": s3["key"],
    "AWS_SECRET_ACCESS_KEY": s3["secret"], "AWS_REGION": s3["region"], "AWS_ALLOW_HTTP": "true"}
print("\n".join(DeltaTable(cfg["path"], storage_options=opts).file_uris()))
sys.stdout.flush()
os._exit(0)
"#;
    let cfg = serde_json::json!({"path": path, "s3": place.s3()});
    let out = Command::new(python).args(["-c", script, &cfg.to_string()]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let read: std::collections::BTreeSet<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|uri| uri.split(&format!("datasets/{id}/")).nth(1).map(str::to_owned))
        .collect();
    let keys: Vec<String> = match place {
        Place::Folder(p) => walk(&p.join("datasets").join(id)),
        Place::S3(env, target) => {
            let runtime = runtime();
            runtime.block_on(async {
                let store = env.store(target).await;
                store.list(&format!("datasets/{id}/")).await.unwrap().into_iter().map(|o| o.key).collect()
            })
        }
    };
    let _ = dir;
    keys.into_iter()
        .filter_map(|k| k.split(&format!("datasets/{id}/")).nth(1).map(str::to_owned))
        .filter(|k| (k.starts_with("partitions/") || k.starts_with("data/")) && !read.contains(k))
        .collect()
}

/// Every file under `root`, as `datasets/<id>/...` keys.
fn walk(root: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_owned()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let rel = path.strip_prefix(root.parent().unwrap().parent().unwrap()).unwrap();
                out.push(rel.display().to_string());
            }
        }
    }
    out
}

/// Kills a merge into a Delta table at every step of its publish: after each kill, with no repair,
/// deltalake reads exactly the last committed version (the one before, until the commit; the run's
/// own, from it on); the next run commits the next version; `vacuum` then leaves no file that no
/// version reads.
fn killed_at_every_step(place: &Place) {
    let dir = Dir::new();
    let first = dir.write("first.csv", DAYS_1_3);
    let second = dir.write("second.csv", DAYS_2_3);
    let third = dir.write("third.csv", DAYS_1_2);
    let points = [
        ("upload", 1, false),
        ("upload", 2, false),
        ("journal", 1, false),
        ("commit", 1, true),
        ("record", 1, true),
        ("manifest", 1, true),
    ];
    // What the merge gives, from a run that was not killed.
    let clean = "clean";
    for file in [&first, &second] {
        let mut cmd = dir.etl();
        let args = ["upload-csv", file.to_str().unwrap(), "--dataset-id", clean, "--partition-col", "day"];
        ok(place.apply(cmd.args(args).args(["--table-format", "delta"])));
    }
    let merged = read("deltalake", place, clean, None);
    for (point, nth, committed) in points {
        let id = format!("killed-{point}-{nth}");
        let load = |file: &PathBuf, fault: Option<String>| {
            let mut cmd = dir.etl();
            cmd.args(["upload-csv", file.to_str().unwrap(), "--dataset-id", &id, "--partition-col", "day"]);
            cmd.args(["--table-format", "delta"]);
            if let Some(fault) = fault {
                cmd.env("ETL_FAULT", fault);
            }
            run(place.apply(&mut cmd))
        };
        assert_eq!(load(&first, None).code, 0);
        let before = read("deltalake", place, &id, None);
        let killed = load(&second, Some(format!("kill:{point}:{nth}")));
        assert_eq!(killed.code, -1, "{point} #{nth}: {killed:?}");
        assert!(killed.stderr.contains("ETL_FAULT: killed"), "{point} #{nth}: {killed:?}");
        let after = read("deltalake", place, &id, None);
        let expected = if committed { &merged } else { &before };
        assert_eq!(&after, expected, "deltalake after a kill at {point} #{nth}");
        let version = version_of(&dir, place, &id).unwrap();
        assert_eq!(version, u64::from(committed), "{point} #{nth}");
        // The next run settles what the killed one left, and commits the next version.
        let next = load(&third, None);
        assert_eq!(next.code, 0, "{point} #{nth}: {next:?}");
        let said = if committed { "after its commit" } else { "before its commit" };
        assert!(next.stderr.contains(said), "{point} #{nth}: {}", next.stderr);
        assert_eq!(version_of(&dir, place, &id), Some(version + 1), "{point} #{nth}");
        let mut cmd = dir.etl();
        ok(place.apply(cmd.args(["vacuum", &id, "--retain", "0"])));
        assert_eq!(unreferenced(place, &id, &dir), Vec::<String>::new(), "{point} #{nth}");
        // The runs' records say which version each made.
        let mut cmd = dir.etl();
        let runs = ok(place.apply(cmd.args(["runs", &id, "--json"])));
        let runs: Vec<serde_json::Value> = serde_json::from_str(&runs.stdout).unwrap();
        let made: Vec<Option<u64>> = runs.iter().map(|r| r["delta_version"].as_u64()).collect();
        let want = if committed { vec![Some(2), Some(1), Some(0)] } else { vec![Some(1), Some(0)] };
        assert_eq!(made, want, "{point} #{nth}");
    }
}

#[test]
fn a_delta_publish_killed_at_any_step_leaves_the_last_version_on_a_folder() {
    let dir = Dir::new();
    killed_at_every_step(&Place::Folder(dir.path().join("lake")));
}

#[test]
fn a_delta_publish_killed_at_any_step_leaves_the_last_version_on_s3() {
    let Some(env) = s3_env() else { return };
    let target = env.target("delta-kills");
    killed_at_every_step(&Place::S3(env, target));
}

/// Waits until process `pid` has stopped itself (SIGSTOP at an `ETL_FAULT=stop:` point).
fn wait_stopped(pid: u32) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        if stat.rsplit(')').next().is_some_and(|rest| rest.trim_start().starts_with('T')) {
            return;
        }
        assert!(std::time::Instant::now() < deadline, "etl never stopped at its fault point");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// deltalake appends one row (`n`, on `day`) to the table at `path`: a writer of its own that takes
/// no etl lock, committing the next version.
fn deltalake_appends(path: &std::path::Path, day: &str, n: i64) {
    let Some(python) = python_of("deltalake") else { return };
    let script = r#"
import datetime, os, sys
import pyarrow as pa
from deltalake import DeltaTable, write_deltalake
path, day, n = sys.argv[1], datetime.date.fromisoformat(sys.argv[2]), int(sys.argv[3])
schema = pa.schema(DeltaTable(path).schema().to_arrow())
row = {"day": [day], "n": [n], "date": [day]}
table = pa.table({f.name: pa.array(row.get(f.name, [None]), type=f.type) for f in schema})
write_deltalake(path, table, mode="append")
sys.stdout.flush()
os._exit(0)
"#;
    let out = Command::new(python)
        .args(["-c", script, path.to_str().unwrap(), day, &n.to_string()])
        .output()
        .unwrap();
    assert!(out.status.success(), "deltalake append: {}", String::from_utf8_lossy(&out.stderr));
}

/// Runs `etl` (`cmd`) until it stops itself just before its commit, lets `other` write meanwhile,
/// then lets etl go on: its exit code and stderr.
fn raced(cmd: &mut Command, other: impl FnOnce()) -> (Option<i32>, String) {
    let piped = std::process::Stdio::piped;
    let child = cmd.env("ETL_FAULT", "stop:journal:1").stdout(piped()).stderr(piped()).spawn().unwrap();
    wait_stopped(child.id());
    other();
    assert!(Command::new("kill").args(["-CONT", &child.id().to_string()]).status().unwrap().success());
    let out = child.wait_with_output().unwrap();
    (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
}

/// Two writers race for one version: etl, stopped just before its commit, and a deltalake writer
/// appending meanwhile. An etl append then commits the version after deltalake's (both are kept);
/// an etl merge of the day deltalake wrote to is refused with exit 75 and leaves no file of its
/// own. No version is lost or overwritten.
#[test]
fn two_writers_racing_for_a_version_both_commit_or_one_is_refused() {
    if python_of("deltalake").is_none() {
        return;
    }
    let dir = Dir::new();
    let place = Place::Folder(dir.path().join("lake"));
    let table = dir.path().join("lake/datasets/raced");
    let first = dir.write("first.csv", "day,n\n2026-11-01,1\n2026-11-02,2\n");
    let more = dir.write("more.csv", "day,n\n2026-11-02,20\n2026-11-03,30\n");
    let load = |file: &PathBuf, extra: &[&str]| {
        let mut cmd = dir.etl();
        cmd.args(["upload-csv", file.to_str().unwrap(), "--dataset-id", "raced", "--partition-col", "day"]);
        place.apply(&mut cmd).args(extra);
        cmd
    };
    ok(&mut load(&first, &["--table-format", "delta", "--mode", "append"]));

    // An append, raced by another append: both commit, one after the other.
    let (code, stderr) = raced(&mut load(&more, &[]), || deltalake_appends(&table, "2026-11-04", 40));
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stderr.contains("committed version 2 of the Delta table"), "{stderr}");
    let rows = read("deltalake", &place, "raced", None).unwrap();
    let ns: Vec<&str> = rows.lines().map(|l| l.split('|').nth(1).unwrap()).collect();
    assert_eq!(ns.len(), 5, "{rows}");
    for n in ["n=1", "n=2", "n=20", "n=30", "n=40"] {
        assert!(ns.contains(&n), "{n} in {rows}");
    }
    let log = |v: u64| std::fs::read_to_string(table.join(format!("_delta_log/{v:020}.json"))).unwrap();
    assert!(!log(1).contains("etlRunId"), "version 1 is deltalake's: {}", log(1));
    assert!(log(2).contains("etlRunId"), "version 2 is etl's");

    // A merge of day 2026-11-05, raced by an append to that very day: refused, exit 75.
    let merge = dir.write("merge.csv", "day,n\n2026-11-05,50\n");
    let (code, stderr) =
        raced(&mut load(&merge, &["--mode", "merge"]), || deltalake_appends(&table, "2026-11-05", 51));
    assert_eq!(code, Some(75), "{stderr}");
    assert!(stderr.contains("committed version 3 of raced while this run published"), "{stderr}");
    assert!(!table.join("_delta_log/00000000000000000004.json").exists());
    let rows = read("deltalake", &place, "raced", None).unwrap();
    assert!(rows.contains("n=51") && !rows.contains("n=50|"), "{rows}");
    // The refused run's files are gone: nothing of it is left.
    assert_eq!(unreferenced(&place, "raced", &dir), Vec::<String>::new());
    assert!(!walk(&table).iter().any(|k| k.contains("_journal/")), "{:?}", walk(&table));
}

/// A table of 30 daily runs opens from its checkpoint: deltalake, polars and DuckDB read it with
/// every commit before the checkpoint deleted (in a copy), and `etl inspect` reads the checkpoint
/// and no commit before it (the time it took is printed, not asserted).
#[test]
fn a_table_of_thirty_daily_runs_opens_from_its_checkpoint() {
    let dir = Dir::new();
    let place = Place::Folder(dir.path().join("lake"));
    for day in 1..=30 {
        let file = dir.write("day.csv", format!("day,n,note\n2026-11-{day:02},{day},d{day}\n"));
        let mut cmd = dir.etl();
        cmd.args(["upload-csv", file.to_str().unwrap(), "--dataset-id", "daily", "--partition-col", "day"]);
        ok(place.apply(&mut cmd).args(["--table-format", "delta", "--mode", "append"]));
    }
    let log = dir.path().join("lake/datasets/daily/_delta_log");
    let last: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(log.join("_last_checkpoint")).unwrap()).unwrap();
    assert_eq!(last["version"], 20, "{last}");
    let started = std::time::Instant::now();
    let mut cmd = dir.etl();
    let inspect = ok(place.apply(cmd.args(["inspect", "daily", "--json"])));
    eprintln!("etl inspect of 30 versions: {:.3} s", started.elapsed().as_secs_f64());
    let delta: serde_json::Value =
        serde_json::from_str::<serde_json::Value>(&inspect.stdout).unwrap()["delta"].clone();
    assert_eq!(
        (delta["version"].as_u64(), delta["checkpoint"].as_u64(), delta["commits_read"].as_u64()),
        (Some(29), Some(20), Some(9)),
        "{delta}"
    );
    let all = read("deltalake", &place, "daily", None).unwrap();
    assert_eq!(all.lines().count(), 30);
    // A copy without the commits the checkpoint stands for: every reader must use it.
    let copy = dir.path().join("copy/datasets/daily");
    std::fs::create_dir_all(copy.parent().unwrap()).unwrap();
    assert!(Command::new("cp")
        .args(["-r", dir.path().join("lake/datasets/daily").to_str().unwrap(), copy.to_str().unwrap()])
        .status()
        .unwrap()
        .success());
    for v in 0..20 {
        std::fs::remove_file(copy.join(format!("_delta_log/{v:020}.json"))).unwrap();
    }
    delta_readers_read(
        &Place::Folder(dir.path().join("copy")),
        "daily",
        &all,
        "its commits before the checkpoint deleted",
    );
    let mut cmd = dir.etl();
    let copied =
        ok(cmd.args(["inspect", "daily", "--json", "--target", dir.path().join("copy").to_str().unwrap()]));
    assert!(copied.stdout.contains("\"checkpoint\": 20"), "{}", copied.stdout);
}

/// `table_format:` in a job's source and in a catalog entry makes a Delta table; a later run that
/// leaves the format out keeps it; one that gives the other format is refused, changing nothing,
/// unless it replaces the dataset (then the log goes with the files).
#[test]
fn the_format_comes_from_job_files_and_catalogs_and_is_kept_when_left_out() {
    let dir = Dir::new();
    dir.write("a.csv", "day,n\n2026-11-01,1\n");
    dir.write(
        "jobs.yaml",
        "jobs:\n  - name: j\n    dataset_id: from-job\n    partition_column: day\n    source: {kind: csv, path: a.csv, table_format: delta}\n",
    );
    ok(dir.etl().args(["run", "jobs.yaml", "--all"]));
    assert!(dir.lake("datasets/from-job/_delta_log/00000000000000000000.json").exists());
    std::fs::create_dir_all(dir.path().join("drops")).unwrap();
    dir.write("drops/e-1.csv", "day,n\n2026-11-02,2\n");
    dir.write(
        "catalog.yaml",
        "datasets:\n  - name: c\n    minio_dataset_id: from-catalog\n    source_dir: drops\n    file_pattern: \"e-*.csv\"\n    partition_column: day\n    table_format: delta\n",
    );
    ok(dir.etl().args(["load-csv", "--config", "catalog.yaml", "--all"]));
    assert!(dir.lake("datasets/from-catalog/_delta_log/00000000000000000000.json").exists());

    // A dry run plans as the publish would: the table's file with the same bytes is left as it is.
    let dry = ok(dir.etl().args(["upload-csv", "a.csv", "--dataset-id", "from-job", "--dry-run"]));
    assert!(
        dry.stderr.contains("1 unchanged (not uploaded)") && dry.stdout.contains("would delete nothing"),
        "{dry:?}"
    );
    // A type change that the table's other files would not hold: refused even when allowed.
    dir.write("b.csv", "day,n\n2026-11-03,x\n");
    let changed =
        run(dir.etl().args(["upload-csv", "b.csv", "--dataset-id", "from-job", "--allow-schema-change"]));
    assert_eq!(changed.code, 1, "{changed:?}");
    assert!(
        changed.stderr.contains("a Delta table's readers read every file with the table's types"),
        "{changed:?}"
    );
    // A dataset that is not there: said, with the nearest ids (exit 2), by each maintenance command.
    for command in
        [&["vacuum", "from-jobs"][..], &["compact", "from-jobs"], &["convert", "from-jobs", "--to", "delta"]]
    {
        let missing = run(dir.etl().args(command));
        assert_eq!(missing.code, 2, "{missing:?}");
        assert!(
            missing.stderr.contains("there is no dataset `from-jobs`")
                && missing.stderr.contains("`from-job`"),
            "{missing:?}"
        );
    }
    // Left out: the table stays a table.
    let again = ok(dir.etl().args(["upload-csv", "a.csv", "--dataset-id", "from-job"]));
    assert!(again.stderr.contains("the Delta table stays at version 0: nothing changed"), "{}", again.stderr);
    // The other format: refused, nothing changed.
    let before = dir.keys_but_runs();
    let refused =
        run(dir.etl().args(["upload-csv", "a.csv", "--dataset-id", "from-job", "--table-format", "hive"]));
    assert_eq!(refused.code, 1, "{refused:?}");
    assert!(refused.stderr.contains("from-job is a delta table"), "{}", refused.stderr);
    assert!(refused.stderr.contains("--mode replace"), "{}", refused.stderr);
    assert_eq!(dir.keys_but_runs(), before, "only the refused run's record is new");
    assert_eq!(dir.run_statuses("from-job").last().map(String::as_str), Some("failed"));
    let convert_hint =
        run(dir.etl().args(["upload-csv", "a.csv", "--dataset-id", "h", "--partition-col", "day"]));
    assert_eq!(convert_hint.code, 0);
    let refused =
        run(dir.etl().args(["upload-csv", "a.csv", "--dataset-id", "h", "--table-format", "delta"]));
    assert!(refused.stderr.contains("etl convert h --to delta"), "{}", refused.stderr);
    // A replace given lays it out anew: the log goes with the old files.
    ok(dir.etl().args([
        "upload-csv",
        "a.csv",
        "--dataset-id",
        "from-job",
        "--table-format",
        "hive",
        "--mode",
        "replace",
    ]));
    let keys = dir.all_lake_keys();
    assert!(!keys.iter().any(|k| k.contains("from-job/_delta_log")), "{keys:?}");
    // (Unpartitioned: a replace given lays the dataset out as its own flags say.)
    let data: Vec<&String> =
        keys.iter().filter(|k| k.ends_with(".parquet") && k.contains("from-job/")).collect();
    assert_eq!(data, ["datasets/from-job/data/part-0000.parquet"], "{keys:?}");
}

/// Every type etl writes, from PostgreSQL (decimals with their scale, arrays, naive timestamps and
/// timestamps with a zone, dates, booleans, a 30-digit number), read by every Delta reader as the
/// Hive layout gives it; a naive timestamp turns on the `timestampNtz` feature.
#[test]
fn every_type_reads_back_from_a_delta_table() {
    let Some(url) = pg_url() else { return };
    let url = pg_database(&url, "delta_types");
    pg_exec(
        &url,
        "CREATE TABLE t (n int PRIMARY KEY, day date, amount numeric(12,3), big numeric(30,0), \
         at timestamp, seen timestamptz, ok boolean, tags text[], counts int[], note text); \
         INSERT INTO t VALUES \
         (1, '2026-11-01', 1234.5, 123456789012345678901234567890, '2026-11-01 10:00:00.123456', \
          '2026-11-01 10:00:00+02', true, '{a,b}', '{1,2,3}', 'x'), \
         (2, '2026-11-02', -0.001, NULL, NULL, NULL, NULL, NULL, '{}', NULL), \
         (3, NULL, NULL, 7, '1999-12-31 23:59:59', '2000-01-01 00:00:00+00', false, '{\"\"}', NULL, 'z')",
    );
    let dir = Dir::new();
    let place = Place::Folder(dir.path().join("lake"));
    for (id, format) in [("types-hive", "hive"), ("types-delta", "delta")] {
        let args =
            ["load-postgres", "--url", &url, "--table", "t", "--dataset-id", id, "--partition-col", "day"];
        ok(dir.etl().args(args).args(["--table-format", format]));
    }
    let expected = read("hive", &place, "types-hive", None).unwrap();
    assert_eq!(expected.lines().count(), 3, "{expected}");
    for value in [
        "amount=1234.500",
        "tags=['a', 'b']",
        "at=2026-11-01T10:00:00.123456|",
        "big=123456789012345678901234567890",
    ] {
        assert!(expected.contains(value), "{value} in {expected}");
    }
    delta_readers_read(&place, "types-delta", &expected, "a load from PostgreSQL");
    let first = std::fs::read_to_string(
        dir.path().join("lake/datasets/types-delta/_delta_log/00000000000000000000.json"),
    )
    .unwrap();
    assert!(first.contains("\"readerFeatures\":[\"timestampNtz\"]"), "{first}");
    assert!(first.contains(r#"\"type\":\"decimal(38,3)\""#), "{first}");
    assert!(
        first.contains(r#"\"elementType\":\"long\""#) || first.contains(r#"\"elementType\":\"string\""#),
        "{first}"
    );
}
