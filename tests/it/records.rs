//! Run records (`_manifest.json`, `_runs/`), write modes, schema drift, `inspect` and `runs`.

use sha2::Digest;

use crate::util::*;

fn sha256(bytes: &[u8]) -> String {
    hex::encode(sha2::Sha256::digest(bytes))
}

fn manifest(dir: &Dir, id: &str) -> serde_json::Value {
    let path = dir.lake(&format!("datasets/{id}/_manifest.json"));
    serde_json::from_slice(&std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
        .unwrap()
}

fn listed(m: &serde_json::Value) -> Vec<String> {
    m["files"].as_array().unwrap().iter().map(|f| f["key"].as_str().unwrap().to_owned()).collect()
}

fn upload(dir: &Dir, file: &str, args: &[&str]) -> Run {
    let path = dir.path().join(file);
    run(dir
        .etl()
        .args(["upload-csv", path.to_str().unwrap(), "--dataset-id", "d", "--log-format", "json"])
        .args(args))
}

#[test]
fn the_manifest_describes_the_run_and_every_file() {
    let dir = Dir::new();
    let csv = dir.write("in.csv", "day,n\n2026-01-01,1\n2026-01-02,2\n2026-01-02,3\n");
    let r = upload(&dir, "in.csv", &["--partition-col", "day"]);
    assert_eq!(r.code, 0, "{r:?}");
    let run_id = summary_of(&r)["run_id"].as_str().unwrap().to_owned();
    let m = manifest(&dir, "d");
    assert_eq!(m["format"], 1);
    assert_eq!(m["run_id"], run_id.as_str());
    assert_eq!(m["tool"], format!("etl {}", env!("CARGO_PKG_VERSION")));
    assert_eq!(m["command"], "upload-csv");
    assert_eq!(m["mode"], "merge");
    assert_eq!(m["partition_column"], "day");
    let source = std::fs::read(&csv).unwrap();
    assert_eq!(m["source"]["kind"], "csv");
    assert_eq!(m["source"]["bytes"], source.len());
    assert_eq!(m["source"]["sha256"], sha256(&source));
    assert_eq!(
        m["schema"],
        serde_json::json!([{"name": "day", "type": "Date"}, {"name": "n", "type": "Int64"}])
    );
    assert_eq!(m["rows_written"], 3);
    assert!(m["started"].as_str().unwrap() <= m["finished"].as_str().unwrap());
    // Every data file, with its rows, bytes and checksum; nothing else.
    assert_eq!(listed(&m), dir.lake_keys());
    for f in m["files"].as_array().unwrap() {
        let bytes = std::fs::read(dir.lake(f["key"].as_str().unwrap())).unwrap();
        assert_eq!(f["bytes"], bytes.len());
        assert_eq!(f["sha256"], sha256(&bytes));
        assert_eq!(f["run_id"], run_id.as_str());
    }
    assert_eq!(m["files"][1]["rows"], 2);
    // The history holds the same record.
    let record = dir.lake(&format!("datasets/d/_runs/{run_id}.json"));
    assert_eq!(serde_json::from_slice::<serde_json::Value>(&std::fs::read(record).unwrap()).unwrap(), m);
}

#[test]
fn merge_keeps_other_partitions_and_replace_keeps_nothing_else() {
    let dir = Dir::new();
    dir.write("a.csv", "day,n\n2026-01-01,1\n2026-01-02,2\n");
    dir.write("b.csv", "day,n\n2026-01-02,20\n2026-01-03,30\n");
    assert_eq!(upload(&dir, "a.csv", &["--partition-col", "day"]).code, 0);
    let first = manifest(&dir, "d")["run_id"].as_str().unwrap().to_owned();
    assert_eq!(upload(&dir, "b.csv", &["--partition-col", "day"]).code, 0);
    let m = manifest(&dir, "d");
    assert_eq!(listed(&m), dir.lake_keys());
    assert_eq!(dir.lake_keys().len(), 3);
    // The untouched partition is still the first run's.
    assert_eq!(m["files"][0]["run_id"], first.as_str());
    assert_ne!(m["files"][1]["run_id"], first.as_str());

    let r = upload(&dir, "b.csv", &["--partition-col", "day", "--mode", "replace"]);
    assert_eq!(r.code, 0, "{r:?}");
    let m = manifest(&dir, "d");
    assert_eq!(m["mode"], "replace");
    assert_eq!(
        dir.lake_keys(),
        [
            "datasets/d/partitions/date=2026-01-02/part-0000.parquet",
            "datasets/d/partitions/date=2026-01-03/part-0000.parquet"
        ]
    );
    assert_eq!(listed(&m), dir.lake_keys());
}

#[test]
fn a_changed_type_fails_a_merge_unless_allowed_and_warns_a_replace() {
    let dir = Dir::new();
    dir.write("a.csv", "day,n,gone\n2026-01-01,1,x\n");
    dir.write("b.csv", "day,n,new\n2026-01-02,one,y\n");
    assert_eq!(upload(&dir, "a.csv", &["--partition-col", "day"]).code, 0);
    let before = (dir.keys_but_runs(), manifest(&dir, "d"));
    let r = upload(&dir, "b.csv", &["--partition-col", "day"]);
    assert_eq!(r.code, 1, "{r:?}");
    let error = summary_of(&r)["error"].as_str().unwrap().to_owned();
    assert!(error.contains("removed: gone; changed: `n` Int64 → String; added: new"), "{error}");
    assert!(error.contains("--allow-schema-change"), "{error}");
    assert_eq!((dir.keys_but_runs(), manifest(&dir, "d")), before, "a refused run changes nothing");

    let r = upload(&dir, "b.csv", &["--partition-col", "day", "--allow-schema-change"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stderr.contains("the schema of d changed"), "{r:?}");
    let r = upload(&dir, "a.csv", &["--partition-col", "day", "--mode", "replace"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stderr.contains("the schema of d changed"), "{r:?}");
}

#[test]
fn inspect_and_runs() {
    let dir = Dir::new();
    dir.write("a.csv", "day,n\n2026-01-01,1\n2026-01-02,2\n");
    dir.write("b.csv", "day,n\n2026-01-03,3\n");
    let first = summary_of(&upload(&dir, "a.csv", &["--partition-col", "day"]))["run_id"]
        .as_str()
        .unwrap()
        .to_owned();
    // Run ids carry the second they start: wait for the next one, so that the order is certain.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let second = summary_of(&upload(&dir, "b.csv", &["--partition-col", "day"]))["run_id"]
        .as_str()
        .unwrap()
        .to_owned();

    let r = ok(dir.etl().args(["inspect", "d"]));
    for needle in [
        "3 rows in 3 files",
        "partitioned by `day` into 3 partitions (2026-01-01 … 2026-01-03)",
        "  day  Date",
        "schema (and the --types name that pins each column so):",
        &format!("last run: {second} (upload-csv merge, 1 row written"),
    ] {
        assert!(r.stdout.contains(needle), "{needle:?} missing from {r:?}");
    }
    let j: serde_json::Value =
        serde_json::from_str(&ok(dir.etl().args(["inspect", "d", "--json"])).stdout).unwrap();
    assert_eq!(
        (j["rows"].as_u64(), j["partitions"].as_u64(), j["files"].as_u64()),
        (Some(3), Some(3), Some(3))
    );
    assert_eq!(j["last_run"]["run_id"], second.as_str());

    let r = ok(dir.etl().args(["runs", "d"]));
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert!(lines[0].starts_with("RUN"), "{r:?}");
    assert!(lines[1].starts_with(&second) && lines[2].starts_with(&first), "newest first: {r:?}");
    let j: serde_json::Value =
        serde_json::from_str(&ok(dir.etl().args(["runs", "d", "--json"])).stdout).unwrap();
    assert_eq!(j.as_array().unwrap().len(), 2);

    let r = run(dir.etl().args(["inspect", "nope"]));
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("there is no dataset `nope`"), "{r:?}");
}
