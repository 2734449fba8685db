//! One writer per dataset: the `_lock` object on the local target (the S3 variant needs a store that
//! honours `If-None-Match`, see the README).

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::util::*;

fn lock_body(run_id: &str, expires_in: i64) -> String {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64;
    serde_json::json!({
        "run_id": run_id,
        "host": "other-host",
        "pid": 4242,
        "command": "upload-csv",
        "started": "2026-11-23T10:00:00Z",
        "expires": "2026-11-23T10:10:00Z",
        "expires_unix": now + expires_in,
    })
    .to_string()
}

fn upload(dir: &Dir, extra: &[&str]) -> std::process::Command {
    let mut cmd = dir.etl();
    cmd.args(["upload-csv", "in.csv", "--dataset-id", "d"]).args(extra);
    cmd
}

#[test]
fn a_held_lock_fails_a_second_run_at_once_naming_the_holder() {
    let dir = Dir::new();
    dir.write("in.csv", "a\n1\n");
    dir.write("lake/datasets/d/_lock", lock_body("20261123T100000Z-beef", 600));
    let started = Instant::now();
    let r = run(&mut upload(&dir, &[]));
    assert_eq!(r.code, 75, "{r:?}");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(
        r.stderr.contains(
            "dataset d is being written by run 20261123T100000Z-beef (upload-csv on other-host, pid 4242)"
        ),
        "{r:?}"
    );
    assert!(r.stderr.contains("--wait-lock"), "{r:?}");
    assert_eq!(dir.keys_but_runs(), ["datasets/d/_lock"], "nothing written, the holder's lock kept");
    assert_eq!(dir.run_statuses("d"), ["failed"], "the run the lock turned away is on record");
}

#[test]
fn an_expired_lock_is_taken_over_and_released() {
    let dir = Dir::new();
    dir.write("in.csv", "a\n1\n");
    // Expired longer ago than a whole TTL: taken over at once (a lock expired moments ago waits to
    // be seen unrenewed, tests/it/forgotten.rs).
    dir.write("lake/datasets/d/_lock", lock_body("20261123T100000Z-dead", -700));
    let r = ok(&mut upload(&dir, &[]));
    assert!(r.stderr.contains("taking over the expired lock of d: run 20261123T100000Z-dead"), "{r:?}");
    assert!(!dir.lake("datasets/d/_lock").exists(), "released at the end");
    assert_eq!(dir.lake_keys(), ["datasets/d/data/part-0000.parquet"]);
}

#[test]
fn etl_run_wait_lock_is_every_jobs_wait() {
    // What a Kubernetes unit of `etl schedule export` runs: the job file's job, waiting for a held
    // lock itself (Kubernetes would try it again after seconds only).
    let dir = Dir::new();
    dir.write("in.csv", "a\n1\n");
    dir.write("jobs.yaml", "jobs:\n  - name: d\n    dataset_id: d\n    source: {kind: csv, path: in.csv}\n");
    let held = || dir.write("lake/datasets/d/_lock", lock_body("20261123T100000Z-busy", 600));
    let lock = held();
    let r = run(dir.etl().args(["run", "jobs.yaml", "--job", "d"]));
    assert_eq!(r.code, 75, "without it, a held lock is exit 75: {r:?}");
    let remover = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(1500));
        std::fs::remove_file(lock).unwrap();
    });
    let r = ok(dir.etl().args(["run", "jobs.yaml", "--job", "d", "--wait-lock", "30"]));
    remover.join().unwrap();
    assert!(r.stderr.contains("waiting for the lock of d"), "{r:?}");
    assert_eq!(dir.lake_keys(), ["datasets/d/data/part-0000.parquet"]);
}

#[test]
fn wait_lock_waits_for_the_holder() {
    let dir = Dir::new();
    dir.write("in.csv", "a\n1\n");
    let lock = dir.write("lake/datasets/d/_lock", lock_body("20261123T100000Z-busy", 600));
    let remover = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(1500));
        std::fs::remove_file(lock).unwrap();
    });
    let started = Instant::now();
    let r = ok(&mut upload(&dir, &["--wait-lock", "30"]));
    remover.join().unwrap();
    assert!(started.elapsed() >= Duration::from_millis(1500));
    assert!(r.stderr.contains("waiting for the lock of d"), "{r:?}");
    assert_eq!(dir.lake_keys(), ["datasets/d/data/part-0000.parquet"]);
}

#[test]
fn two_runs_started_at_once_never_interleave() {
    let dir = Dir::new();
    let mut csv = String::from("day,n,text\n");
    for i in 0..300_000 {
        csv += &format!("2026-01-{:02},{i},row number {i}\n", i % 28 + 1);
    }
    dir.write("in.csv", csv);
    let start = || {
        upload(&dir, &["--partition-col", "day"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (start(), start());
    let codes: Vec<i32> =
        [a, b].into_iter().map(|c| c.wait_with_output().unwrap().status.code().unwrap()).collect();
    let mut sorted = codes.clone();
    sorted.sort();
    assert_eq!(sorted, [0, 75], "one loads, the other finds the lock: {codes:?}");
    assert_eq!(dir.lake_keys().len(), 28);
    assert!(!dir.lake("datasets/d/_lock").exists());
}

// ---- On S3, against s3s-fs (which honours If-None-Match, as MinIO does) ----

#[test]
fn s3_conditional_create_refuses_a_second_writer() {
    let Some(s3) = s3s_env() else { return };
    let target = s3.target("cond");
    runtime().block_on(async {
        let store = s3.store(&target).await;
        assert!(store.put_if_absent("datasets/x/_lock", b"first".to_vec()).await.unwrap());
        assert!(!store.put_if_absent("datasets/x/_lock", b"second".to_vec()).await.unwrap());
        assert_eq!(store.get("datasets/x/_lock").await.unwrap(), b"first");
    });
}

#[test]
fn s3_a_held_lock_fails_a_second_run_and_two_runs_never_interleave() {
    let Some(s3) = s3s_env() else { return };
    let dir = Dir::new();
    dir.write("in.csv", "a\n1\n");
    let target = s3.target("held");
    runtime().block_on(async {
        let store = s3.store(&target).await;
        store.put("datasets/d/_lock", lock_body("20261123T100000Z-s3", 600).into_bytes()).await.unwrap();
    });
    let r = run(s3.apply(&mut upload(&dir, &["--target", &target])));
    assert_eq!(r.code, 75, "{r:?}");
    assert!(r.stderr.contains("being written by run 20261123T100000Z-s3"), "{r:?}");

    let mut csv = String::from("day,n\n");
    for i in 0..200_000 {
        csv += &format!("2026-01-{:02},{i}\n", i % 28 + 1);
    }
    dir.write("in.csv", csv);
    let target = s3.target("race");
    let start = || {
        s3.apply(&mut upload(&dir, &["--target", &target, "--partition-col", "day"]))
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (start(), start());
    let mut codes: Vec<i32> =
        [a, b].into_iter().map(|c| c.wait_with_output().unwrap().status.code().unwrap()).collect();
    codes.sort();
    assert_eq!(codes, [0, 75]);
    runtime().block_on(async {
        let store = s3.store(&target).await;
        let keys: Vec<String> = store.list("datasets/d/").await.unwrap().into_iter().map(|o| o.key).collect();
        assert!(!keys.iter().any(|k| k.ends_with("/_lock")), "{keys:?}");
        assert_eq!(keys.iter().filter(|k| k.ends_with(".parquet")).count(), 28);
    });
}

#[test]
fn the_lock_of_a_process_gone_from_this_machine_is_taken_over() {
    let dir = Dir::new();
    dir.write("in.csv", "a\n1\n");
    let host = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown-host".to_owned());
    let mut gone = std::process::Command::new("true").spawn().unwrap();
    let pid = gone.id();
    gone.wait().unwrap();
    let mut body: serde_json::Value = serde_json::from_str(&lock_body("20261123T100000Z-gone", 600)).unwrap();
    body["host"] = host.into();
    body["pid"] = pid.into();
    // The same boot and pid namespace as the binary's (this process's own).
    let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").unwrap();
    let pidns = std::fs::read_link("/proc/self/ns/pid").unwrap();
    body["machine"] = format!("{}/{}", boot.trim(), pidns.display()).into();
    dir.write("lake/datasets/d/_lock", body.to_string());
    let r = ok(&mut upload(&dir, &[]));
    assert!(r.stderr.contains("taking over the abandoned (its process is gone) lock of d"), "{r:?}");

    // A lock from another machine (or one this process cannot vouch for) is never taken over so.
    body["machine"] = "another-boot/pid:[1]".into();
    dir.write("lake/datasets/d/_lock", body.to_string());
    assert_eq!(run(&mut upload(&dir, &[])).code, 75);
}

#[test]
fn an_unreadable_lock_is_reported_not_looped_on() {
    let dir = Dir::new();
    dir.write("in.csv", "a\n1\n");
    dir.write("lake/datasets/d/_lock", "not json");
    let started = Instant::now();
    let r = run(&mut upload(&dir, &["--wait-lock", "30"]));
    assert_eq!(r.code, 75, "{r:?}");
    assert!(r.stderr.contains("is not a lock this tool can read"), "{r:?}");
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[test]
fn clear_dataset_waits_for_no_one_and_refuses_a_held_dataset() {
    let dir = Dir::new();
    dir.write("in.csv", "a\n1\n");
    ok(&mut upload(&dir, &[]));
    dir.write("lake/datasets/d/_lock", lock_body("20261123T100000Z-busy", 600));
    let r = run(dir.etl().args(["clear-dataset", "d", "--yes"]));
    assert_eq!(r.code, 75, "{r:?}");
    assert!(dir.lake("datasets/d/data/part-0000.parquet").exists());
    std::fs::remove_file(dir.lake("datasets/d/_lock")).unwrap();
    ok(dir.etl().args(["clear-dataset", "d", "--yes"]));
    assert_eq!(dir.all_lake_keys(), Vec::<String>::new());
}

#[test]
fn range_jobs_that_wait_stage_side_by_side_and_take_turns_only_to_publish() {
    let dir = Dir::new();
    let mut text = String::from("day,n\n");
    for i in 0..40_000u32 {
        text += &format!("2026-{}-{:02},{i}\n", if i % 2 == 0 { 10 } else { 11 }, 1 + i % 28);
    }
    dir.write("in.csv", text);
    ok(&mut upload(&dir, &["--partition-col", "day", "--partition-range", "2026-10-01..2026-10-31"]));
    // Another writer holds the dataset: two range jobs that may wait start at once.
    let lock = dir.write("lake/datasets/d/_lock", lock_body("20261123T100000Z-busy", 600));
    let start = |range: &str, log: &str| {
        let log = std::fs::File::create(dir.path().join(log)).unwrap();
        upload(&dir, &["--partition-col", "day", "--partition-range", range, "--wait-lock", "60", "-v"])
            .stderr(log)
            .spawn()
            .unwrap()
    };
    let october = start("2026-10-01..2026-10-31", "october.log");
    let november = start("2026-11-01..2026-11-30", "november.log");
    // Both stage while the lock is held by the other writer.
    let staged =
        |log: &str| std::fs::read_to_string(dir.path().join(log)).unwrap().contains("rows typed and staged");
    let deadline = Instant::now() + Duration::from_secs(60);
    while !(staged("october.log") && staged("november.log")) {
        assert!(Instant::now() < deadline, "both runs stage before the lock is theirs");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(lock.exists(), "the holder still holds the dataset");
    assert!(!dir.lake_keys().iter().any(|k| k.contains("date=2026-11")), "nothing published while held");
    std::fs::remove_file(&lock).unwrap();
    for (name, child) in [("october", october), ("november", november)] {
        let out = child.wait_with_output().unwrap();
        let log = std::fs::read_to_string(dir.path().join(format!("{name}.log"))).unwrap();
        assert_eq!(out.status.code(), Some(0), "{name}: {log}");
    }
    // One after the other: the dataset holds both months, every day once.
    let keys = dir.lake_keys();
    let days = |month: &str| keys.iter().filter(|k| k.contains(&format!("date=2026-{month}-"))).count();
    assert_eq!((days("10"), days("11")), (14, 14), "{keys:?}");
    let r = ok(dir.etl().args(["inspect", "d", "--json"]));
    let inspect: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(inspect["rows"], 40_000, "{inspect}");
    assert!(!dir.lake("datasets/d/_lock").exists());
}
