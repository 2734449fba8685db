//! Unchanged partitions are left in place (a re-run uploads only the files whose bytes differ from
//! what the previous manifest records and the store holds), and `--partition-range` limits a run to
//! some days.

use std::os::unix::fs::MetadataExt;

use crate::util::*;

/// Usage-like rows, newest first, `per_day` rows for each day in `days` (`2026-10-DD`).
fn export(days: &[u32], per_day: u32, cost: impl Fn(u32, u32) -> f64) -> String {
    let mut csv = String::from("Date,User,Cost\n");
    for &day in days.iter().rev() {
        for i in (0..per_day).rev() {
            csv += &format!(
                "2026-10-{day:02}T{:02}:{:02}:00Z,user{},{}\n",
                i / 60 % 24,
                i % 60,
                i % 7,
                cost(day, i)
            );
        }
    }
    csv
}

fn summary(r: &Run) -> serde_json::Value {
    let v: serde_json::Value = serde_json::from_str(r.stderr.lines().last().unwrap()).unwrap();
    v["summary"].clone()
}

fn load(dir: &Dir, csv: &std::path::Path, extra: &[&str]) -> Run {
    ok(dir
        .etl()
        .args([
            "--log-format",
            "json",
            "upload-csv",
            csv.to_str().unwrap(),
            "--dataset-id",
            "u",
            "--partition-col",
        ])
        .args(["Date"])
        .args(extra))
}

fn partition(day: u32) -> String {
    format!("datasets/u/partitions/date=2026-10-{day:02}/part-0000.parquet")
}

#[test]
fn a_daily_export_uploads_only_the_new_day() {
    let dir = Dir::new();
    let cost = |day: u32, i: u32| f64::from(day * 1000 + i) / 100.0;
    let monday = dir.write("mon.csv", export(&[1, 2, 3], 500, cost));
    let first = summary(&load(&dir, &monday, &[]));
    assert_eq!((first["files"].as_u64(), first["unchanged"].as_u64()), (Some(3), Some(0)));
    let inode = |day| std::fs::metadata(dir.lake(&partition(day))).unwrap().ino();
    let before: Vec<u64> = [1, 2, 3].map(inode).to_vec();

    // The next day's export: one more day on top, the others byte for byte as before.
    let tuesday = dir.write("tue.csv", export(&[1, 2, 3, 4], 500, cost));
    let second = summary(&load(&dir, &tuesday, &[]));
    assert_eq!((second["files"].as_u64(), second["unchanged"].as_u64()), (Some(4), Some(3)), "{second}");
    assert_eq!([1, 2, 3].map(inode).to_vec(), before, "unchanged files were rewritten");
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.lake("datasets/u/_manifest.json")).unwrap()).unwrap();
    let run_of = |day: u32| {
        manifest["files"].as_array().unwrap().iter().find(|f| f["key"] == partition(day)).unwrap()["run_id"]
            .clone()
    };
    assert_eq!(run_of(1), first["run_id"], "a file left in place keeps the run that wrote it");
    assert_eq!(run_of(4), second["run_id"]);

    // A corrected value in one day re-uploads that day only, and its new bytes are what readers see.
    let fixed = dir
        .write("fix.csv", export(&[1, 2, 3, 4], 500, |d, i| if d == 2 && i == 7 { 0.5 } else { cost(d, i) }));
    let third = summary(&load(&dir, &fixed, &[]));
    assert_eq!(third["unchanged"].as_u64(), Some(3), "{third}");
    let df = read_parquet(&dir.lake(&partition(2)));
    assert!(f64s(&df, "Cost").contains(&Some(0.5)));
    assert_ne!(inode(2), before[1]);
}

#[test]
fn a_stored_object_that_differs_from_the_manifest_is_uploaded_again() {
    let dir = Dir::new();
    let csv = dir.write("a.csv", export(&[1, 2], 50, |d, i| f64::from(d + i)));
    load(&dir, &csv, &[]);
    // Someone overwrote a partition by hand.
    std::fs::write(dir.lake(&partition(1)), b"not parquet").unwrap();
    let again = summary(&load(&dir, &csv, &[]));
    assert_eq!(again["unchanged"].as_u64(), Some(1), "{again}");
    assert_eq!(read_parquet(&dir.lake(&partition(1))).height(), 50);
}

#[test]
fn a_stored_object_of_the_same_size_but_other_bytes_is_uploaded_again() {
    let dir = Dir::new();
    let csv = dir.write("a.csv", export(&[1, 2], 50, |d, i| f64::from(d + i)));
    load(&dir, &csv, &[]);
    // Someone (or a run that failed half-way) changed a partition's bytes, not its size.
    let path = dir.lake(&partition(1));
    let mut bytes = std::fs::read(&path).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(&path, &bytes).unwrap();
    let again = summary(&load(&dir, &csv, &[]));
    assert_eq!(again["unchanged"].as_u64(), Some(1), "only the untouched partition is skipped: {again}");
    assert_eq!(read_parquet(&path).height(), 50);
}

#[test]
fn unchanged_partitions_stay_on_the_s3_server_and_dry_run_says_so() {
    let Some(s3) = s3_env() else { return };
    let dir = Dir::new();
    let target = s3.target("unchanged");
    let run = |csv: &std::path::Path, extra: &[&str]| {
        run(s3
            .apply(&mut dir.etl())
            .args(["--log-format", "json", "upload-csv", csv.to_str().unwrap()])
            .args(["--dataset-id", "u", "--partition-col", "Date", "--target", &target])
            .args(extra))
    };
    let cost = |d: u32, i: u32| f64::from(d * 10 + i);
    let first = dir.write("1.csv", export(&[1, 2, 3], 200, cost));
    assert_eq!(run(&first, &[]).code, 0);
    let second = dir.write("2.csv", export(&[1, 2, 3, 4], 200, cost));
    let plan = run(&second, &["--dry-run"]);
    assert_eq!(plan.code, 0, "{plan:?}");
    assert!(plan.stdout.contains("would write 1 file ("), "{plan:?}");
    assert!(plan.stdout.contains("would leave 3 files as they are (unchanged)"), "{plan:?}");
    let r = run(&second, &[]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(summary(&r)["unchanged"].as_u64(), Some(3));
    runtime().block_on(async {
        let store = s3.store(&target).await;
        let keys = data_keys(store.as_ref(), "datasets/u/partitions/").await;
        assert_eq!(keys, [1, 2, 3, 4].map(partition).to_vec());
        for key in &keys {
            assert_eq!(read_parquet_bytes(store.get(key).await.unwrap()).height(), 200);
        }
        // An object altered out of band, same size, other bytes: its ETag changes, so it is
        // uploaded again.
        let key = partition(2);
        let mut bytes = store.get(&key).await.unwrap();
        let middle = bytes.len() / 2;
        bytes[middle] ^= 0xff;
        store.put(&key, bytes).await.unwrap();
    });
    let r = run(&second, &[]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(summary(&r)["unchanged"].as_u64(), Some(3), "3 of 4 proven, the altered one uploaded: {r:?}");
    runtime().block_on(async {
        let store = s3.store(&target).await;
        assert_eq!(read_parquet_bytes(store.get(&partition(2)).await.unwrap()).height(), 200);
    });
}

#[test]
fn a_partition_range_writes_and_replaces_only_its_days() {
    let dir = Dir::new();
    let first = dir.write("1.csv", export(&[1, 2, 3, 4, 5], 10, |d, _| f64::from(d) + 0.125));
    load(&dir, &first, &[]);
    let costs = |day: u32| f64s(&read_parquet(&dir.lake(&partition(day))), "Cost")[0];

    // A corrected export of every day, loaded for days 2 and 3 only.
    let fixed = dir.write("2.csv", export(&[1, 2, 3, 4, 5], 10, |d, _| f64::from(d) + 0.5));
    let r = load(&dir, &fixed, &["--partition-range", "2026-10-02..2026-10-03"]);
    let s = summary(&r);
    assert_eq!(s["rows_written"].as_u64(), Some(20), "{s}");
    assert!(
        s["notes"][0].as_str().unwrap().contains("30 rows outside --partition-range 2026-10-02..2026-10-03"),
        "{s}"
    );
    assert_eq!([1, 2, 3, 4, 5].map(costs), [Some(1.125), Some(2.5), Some(3.5), Some(4.125), Some(5.125)]);

    // Replace within days 4 and 5 from an export that no longer has day 5: day 5 goes, 1-3 stay.
    let shorter = dir.write("3.csv", export(&[1, 4], 10, |d, _| f64::from(d) + 0.25));
    load(&dir, &shorter, &["--mode", "replace", "--partition-range", "2026-10-04.."]);
    let keys: Vec<String> = dir.lake_keys().into_iter().filter(|k| k.ends_with(".parquet")).collect();
    assert_eq!(keys, [1, 2, 3, 4].map(partition).to_vec());
    assert_eq!([1, 2, 3, 4].map(costs), [Some(1.125), Some(2.5), Some(3.5), Some(4.25)]);
}

#[test]
fn a_partition_range_needs_a_partitioned_load_and_a_valid_range() {
    let dir = Dir::new();
    let csv = dir.write("a.csv", export(&[1], 3, |_, _| 1.0));
    let r = run(dir
        .etl()
        .args(["upload-csv", csv.to_str().unwrap(), "--dataset-id", "u"])
        .args(["--partition-range", "2026-10-01.."]));
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("needs a partitioned load"), "{r:?}");
    let r = run(dir.etl().args(["upload-csv", csv.to_str().unwrap(), "--dataset-id", "u"]).args([
        "--partition-col",
        "Date",
        "--partition-range",
        "2026-10-31..2026-10-01",
    ]));
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("ends before it starts"), "{r:?}");
    assert!(dir.lake_keys().is_empty());
}
