//! SIGINT and SIGTERM sent to the running binary: exit 130 / 143, nothing half-written, the lock
//! released, the staging folder gone.

use std::process::Stdio;
use std::time::Duration;

use crate::util::*;

fn stopped_by(signal: &str, code: i32) {
    let dir = Dir::new();
    big_csv(&dir, 1_500_000);
    let child = spawn_until_locked(
        dir.etl().args(["upload-csv", "big.csv", "--dataset-id", "d", "--partition-col", "day"]),
        &dir,
        "d",
    );
    let sent = std::process::Command::new("kill").args([signal, &child.id().to_string()]).status().unwrap();
    assert!(sent.success());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "{stderr}");
    assert!(stderr.contains("stopped by SIG"), "{stderr}");
    // Nothing published, no lock, no staging folder left behind: only the stopped run's record.
    assert_eq!(dir.keys_but_runs(), Vec::<String>::new());
    assert_eq!(dir.run_statuses("d"), ["cancelled"]);
    let leftovers: Vec<_> = std::fs::read_dir(dir.path().join("lake"))
        .map(|d| d.filter_map(|e| e.ok()).map(|e| e.file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default();
    assert!(leftovers.iter().all(|n| !n.starts_with(".etl-")), "{leftovers:?}");
}

#[test]
fn sigint_stops_a_load_cleanly_with_130() {
    stopped_by("-INT", 130);
}

#[test]
fn sigterm_stops_a_load_cleanly_with_143() {
    stopped_by("-TERM", 143);
}

#[test]
fn staging_left_by_a_killed_run_is_swept_by_the_next() {
    let dir = Dir::new();
    dir.write("in.csv", "a\n1\n");
    dir.write("lake/.etl-staging-killed/000000.parquet", "half a file");
    dir.write("lake/.etl-staging-running/000000.parquet", "another run's, still young");
    let old = dir.lake(".etl-staging-killed");
    let touched = std::process::Command::new("touch").args(["-d", "3 days ago"]).arg(&old).status().unwrap();
    assert!(touched.success());
    ok(dir.etl().args(["upload-csv", "in.csv", "--dataset-id", "d"]));
    assert!(!old.exists(), "a folder left days ago is removed");
    assert!(dir.lake(".etl-staging-running").exists(), "a young one may be a live run's: kept");
}

#[test]
fn sigterm_ends_a_request_the_server_never_answers_at_once() {
    // A scheduler stopping its task sends SIGTERM and waits a grace period (Kubernetes: 30 s): a
    // run waiting on a server that answers nothing must stop now, not at its 60 s request timeout.
    let dir = Dir::new();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/records", listener.local_addr().unwrap());
    let child = dir
        .etl()
        .args(["load-api", "--url", &url, "--dataset-id", "d"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (_socket, _) = listener.accept().unwrap();
    std::thread::sleep(Duration::from_millis(200));
    stopped_by_sigterm(child, "a request with no answer");
    assert!(dir.keys_but_runs().is_empty(), "{:?}", dir.all_lake_keys());
    assert_eq!(dir.run_statuses("d"), ["cancelled"]);
}
