//! A publish killed or failing at every step boundary leaves readers the old dataset or the new one,
//! never a mix, once the next run or `etl repair` has looked (issue 14). Each case loads A, then
//! merges B over it (one partition shrinks from two files to one, one is rewritten, one is new, one
//! is left alone) with `ETL_FAULT` stopping B at one point, then repairs and compares every object.

use std::collections::BTreeMap;

use crate::util::*;

/// A: day 1 (2 rows), day 2 (4 rows: two files of 2), day 3 (2 rows).
const A: &str = "day,n\n2026-01-01,1\n2026-01-01,2\n2026-01-02,3\n2026-01-02,4\n2026-01-02,5\n2026-01-02,6\n\
                 2026-01-03,7\n2026-01-03,8\n";
/// B: day 2 (2 rows: one file, so its second goes), day 3 rewritten, day 4 new.
const B: &str =
    "day,n\n2026-01-02,30\n2026-01-02,40\n2026-01-03,70\n2026-01-03,80\n2026-01-04,90\n2026-01-04,91\n";

/// Where the dataset lives: a folder, or the S3 server.
enum Lake<'a> {
    Local,
    S3(&'a S3Env, String),
}

impl Lake<'_> {
    fn target(&self, dir: &Dir) -> String {
        match self {
            Lake::Local => dir.path().join("lake").to_string_lossy().into_owned(),
            Lake::S3(_, target) => target.clone(),
        }
    }

    fn etl(&self, dir: &Dir, args: &[&str], fault: Option<&str>) -> Run {
        let mut cmd = dir.etl();
        if let Lake::S3(s3, _) = self {
            s3.apply(&mut cmd);
        }
        if let Some(fault) = fault {
            cmd.env("ETL_FAULT", fault);
        }
        run(cmd.args(["--target", &self.target(dir)]).args(args))
    }

    fn load(&self, dir: &Dir, csv: &str, fault: Option<&str>) -> Run {
        let file = dir.write(&format!("{}.csv", fastrand::u32(..)), csv);
        let args = ["upload-csv", file.to_str().unwrap(), "--dataset-id", "d", "--partition-col", "day"];
        self.etl(dir, &[&args[..], &["--max-rows-per-file", "2"]].concat(), fault)
    }

    /// Every object of the dataset with its bytes' SHA-256 (not a killed run's hidden staging
    /// folder: no reader sees it, and the next run a day later sweeps it).
    fn objects(&self, dir: &Dir) -> BTreeMap<String, String> {
        let digest = |bytes: &[u8]| hex::encode(<sha2::Sha256 as sha2::Digest>::digest(bytes));
        match self {
            Lake::Local => dir
                .all_lake_keys()
                .into_iter()
                .filter(|k| !k.split('/').any(|segment| segment.starts_with('.')))
                .map(|k| {
                    let bytes = std::fs::read(dir.lake(&k)).unwrap();
                    (k, digest(&bytes))
                })
                .collect(),
            Lake::S3(s3, target) => runtime().block_on(async {
                let store = s3.store(target).await;
                let mut out = BTreeMap::new();
                for o in store.list("datasets/d/").await.unwrap() {
                    let bytes = store.get(&o.key).await.unwrap();
                    out.insert(o.key, digest(&bytes));
                }
                out
            }),
        }
    }

    /// Removes the dataset (each S3 case shares one target).
    fn clear(&self, dir: &Dir) {
        if let Lake::S3(..) = self {
            assert_eq!(self.etl(dir, &["clear-dataset", "d", "--yes"], None).code, 0);
        }
    }
}

/// The data files a reader sees.
fn data(objects: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    objects.iter().filter(|(k, _)| k.ends_with(".parquet")).map(|(k, v)| (k.clone(), v.clone())).collect()
}

/// Every boundary of B's publish: the journal, 3 backups (days 2 and 3, the manifest), 3 uploads,
/// the run record, the manifest, 1 delete.
const POINTS: [(&str, u32); 10] = [
    ("journal", 1),
    ("backup", 1),
    ("backup", 2),
    ("backup", 3),
    ("upload", 1),
    ("upload", 2),
    ("upload", 3),
    ("record", 1),
    ("manifest", 1),
    ("delete", 1),
];

fn every_boundary(lake: &Lake) {
    // What a clean B over A leaves.
    let dir = Dir::new();
    assert_eq!(lake.load(&dir, A, None).code, 0);
    let a = lake.objects(&dir);
    assert_eq!(lake.load(&dir, B, None).code, 0);
    let b = data(&lake.objects(&dir));
    assert_ne!(data(&a), b);
    lake.clear(&dir);

    for (point, n) in POINTS {
        let committed = matches!(point, "manifest" | "delete");
        for action in ["kill", "fail"] {
            let case = format!("{action}:{point}:{n}");
            let dir = Dir::new();
            assert_eq!(lake.load(&dir, A, None).code, 0, "{case}");
            let before = lake.objects(&dir);
            let stopped = lake.load(&dir, B, Some(&case));
            match action {
                "kill" => assert_eq!(stopped.code, -1, "{case}: killed by a signal: {stopped:?}"),
                // Past the commit point the run is published: a failure after it is a warning
                // (issue 28: a scheduler retrying an exit 1 would load the rows again).
                _ if committed => {
                    assert_eq!(stopped.code, 0, "{case}: {stopped:?}");
                    if point == "delete" {
                        assert!(
                            stopped.stderr.contains("the cleanup after it failed"),
                            "{case}: {stopped:?}"
                        );
                        assert!(stopped.stderr.contains("etl repair d"), "{case}: {stopped:?}");
                    }
                }
                _ => assert_eq!(stopped.code, 1, "{case}: {stopped:?}"),
            }
            if action == "fail" && !committed {
                // A failure rolls back at once: the failed run itself leaves the old dataset, and
                // its record.
                let mut after = lake.objects(&dir);
                let new: Vec<String> = after.keys().filter(|k| !before.contains_key(*k)).cloned().collect();
                assert!(new.len() == 1 && new[0].contains("/_runs/"), "{case}: {new:?}");
                after.remove(&new[0]);
                assert_eq!(after, before, "{case}: {stopped:?}");
            }
            let repaired = lake.etl(&dir, &["repair", "d"], None);
            assert_eq!(repaired.code, 0, "{case}: {repaired:?}");
            let after = lake.objects(&dir);
            assert!(
                !after.keys().any(|k| k.contains("/_journal/")),
                "{case}: journal left: {:?}",
                after.keys()
            );
            if committed {
                assert_eq!(data(&after), b, "{case}: the new dataset, whole");
            } else {
                // The failed run's record is the one thing it adds.
                let after: BTreeMap<String, String> = after
                    .into_iter()
                    .filter(|(k, _)| before.contains_key(k) || !k.contains("/_runs/"))
                    .collect();
                assert_eq!(after, before, "{case}: the old dataset, whole, and nothing else");
            }
            if action == "kill" {
                let said = if committed { "finished" } else { "rolled back" };
                assert!(repaired.stderr.contains(said), "{case}: {repaired:?}");
            }
            // And a clean run writes a clean run's bytes.
            assert_eq!(lake.load(&dir, B, None).code, 0, "{case}");
            assert_eq!(data(&lake.objects(&dir)), b, "{case}: a re-run");
            lake.clear(&dir);
        }
    }
}

#[test]
fn a_publish_stopped_at_any_step_leaves_the_old_or_the_new_dataset_locally() {
    every_boundary(&Lake::Local);
}

#[test]
fn a_publish_stopped_at_any_step_leaves_the_old_or_the_new_dataset_on_the_s3_server() {
    let Some(s3) = s3_env() else { return };
    let target = s3.target("publish-faults");
    every_boundary(&Lake::S3(&s3, target));
}

#[test]
fn the_next_load_repairs_first_and_says_so() {
    let dir = Dir::new();
    let lake = Lake::Local;
    assert_eq!(lake.load(&dir, A, None).code, 0);
    let before = lake.objects(&dir);
    assert_ne!(lake.load(&dir, B, Some("kill:upload:2")).code, 0);
    // Readers may see a mix now, until the next run takes the lock:
    let r = lake.load(&dir, A, None);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stderr.contains("stopped during its publish, before its manifest: rolled back"), "{r:?}");
    assert_eq!(data(&lake.objects(&dir)), data(&before), "A again, exactly");
    assert!(lake.etl(&dir, &["repair", "d"], None).stderr.contains("nothing to repair"));
}

/// An incremental load killed after writing its state (its checkpoint) but before its manifest: the
/// state is rolled back with the rest, so the next run fetches the new records again rather than
/// skip them; killed after its manifest, the next run finds nothing new. Either way every record
/// is in the dataset exactly once.
#[test]
fn a_checkpoint_written_before_a_kill_is_rolled_back_with_the_data() {
    use crate::fake_api::{FakeApi, Response};
    use serde_json::json;
    for (point, committed) in [("state", false), ("manifest", true)] {
        let events = std::sync::Arc::new(std::sync::Mutex::new(vec![
            json!({"id": 1, "at": "2026-11-01T10:00:00Z"}),
            json!({"id": 2, "at": "2026-11-02T10:00:00Z"}),
        ]));
        let served = events.clone();
        let api = FakeApi::start(move |req, _| {
            let since = req.param("since").unwrap_or("").to_owned();
            let newer: Vec<_> = served
                .lock()
                .unwrap()
                .iter()
                .filter(|e| e["at"].as_str().unwrap() > since.as_str())
                .cloned()
                .collect();
            Response::json(json!({"events": newer}))
        });
        let dir = Dir::new();
        let load =
            |fault: Option<&str>| {
                let mut cmd = dir.etl();
                cmd.args(["load-api", "--url", &format!("{}/events", api.url), "--records", "events"])
                    .args(["--dataset-id", "ev", "--incremental-field", "at", "--since-param", "since"]);
                if let Some(fault) = fault {
                    cmd.env("ETL_FAULT", fault);
                }
                run(&mut cmd)
            };
        let ids = |dir: &Dir| {
            let mut ids: Vec<i64> =
                i64s(&read_parquet(&dir.lake("datasets/ev/data/part-0000.parquet")), "id")
                    .into_iter()
                    .flatten()
                    .collect();
            let more = dir.lake("datasets/ev/data/part-0001.parquet");
            if more.exists() {
                ids.extend(i64s(&read_parquet(&more), "id").into_iter().flatten());
            }
            ids.sort();
            ids
        };
        assert_eq!(load(None).code, 0);
        events.lock().unwrap().push(json!({"id": 3, "at": "2026-11-03T10:00:00Z"}));
        let killed = load(Some(&format!("kill:{point}:1")));
        assert_eq!(killed.code, -1, "{point}: {killed:?}");
        let r = load(None);
        assert_eq!(r.code, 0, "{point}: {r:?}");
        let said = if committed { "finished" } else { "rolled back" };
        assert!(r.stderr.contains(said), "{point}: {r:?}");
        if committed {
            assert!(r.stderr.contains("nothing new"), "{point}: the checkpoint had moved: {r:?}");
        } else {
            assert!(r.stderr.contains("1 row written"), "{point}: fetched again: {r:?}");
        }
        assert_eq!(ids(&dir), [1, 2, 3], "{point}: every record once");
    }
}

/// An upsert killed at each step of its publish: the old dataset or the new one once repaired, as
/// any publish. B moves keys 2 and 3 off day 2 (emptied: its file is deleted), updates key 4 and adds
/// key 5 on day 3, and makes day 4; day 1 is left alone.
#[test]
fn an_upsert_stopped_at_any_step_leaves_the_old_or_the_new_dataset() {
    const A: &str = "id,day,v\n1,2026-01-01,a\n2,2026-01-02,b\n3,2026-01-02,c\n4,2026-01-03,d\n";
    const B: &str = "id,day,v\n2,2026-01-04,B\n3,2026-01-04,C\n4,2026-01-03,D\n5,2026-01-03,e\n";
    let lake = Lake::Local;
    let load = |dir: &Dir, csv: &str, fault: Option<&str>| {
        let file = dir.write(&format!("{}.csv", fastrand::u32(..)), csv);
        let args = ["upload-csv", file.to_str().unwrap(), "--dataset-id", "d", "--partition-col", "day"];
        lake.etl(dir, &[&args[..], &["--primary-key", "id"]].concat(), fault)
    };
    let dir = Dir::new();
    assert_eq!(load(&dir, A, None).code, 0);
    assert_eq!(load(&dir, B, None).code, 0);
    let b = data(&lake.objects(&dir));
    assert!(!b.keys().any(|k| k.contains("date=2026-01-02")), "{b:?}");
    for (point, committed) in [
        ("journal:1", false),
        ("backup:1", false),
        ("upload:1", false),
        ("upload:2", false),
        ("record:1", false),
        ("manifest:1", true),
        ("delete:1", true),
    ] {
        let case = format!("kill:{point}");
        let dir = Dir::new();
        assert_eq!(load(&dir, A, None).code, 0, "{case}");
        let before = lake.objects(&dir);
        let stopped = load(&dir, B, Some(&case));
        assert_eq!(stopped.code, -1, "{case}: killed by a signal: {stopped:?}");
        let repaired = lake.etl(&dir, &["repair", "d"], None);
        assert_eq!(repaired.code, 0, "{case}: {repaired:?}");
        let after = lake.objects(&dir);
        if committed {
            assert_eq!(data(&after), b, "{case}: the new dataset, whole");
        } else {
            assert_eq!(after, before, "{case}: the old dataset, whole, and nothing else");
        }
        // The upsert run again gives the same dataset as a clean one.
        assert_eq!(load(&dir, B, None).code, 0, "{case}");
        assert_eq!(data(&lake.objects(&dir)), b, "{case}: a re-run");
    }
}
