//! The S3 server failing under a run, for real: connections refused, uploads cut mid-body by a TCP
//! proxy. The run fails with exit 1, no object is partial or orphaned, the previous manifest still
//! describes the data, and a re-run after recovery gives exactly a clean run's data.

use crate::proxy::{Mode, Proxy};
use crate::util::*;

/// The S3 settings with the endpoint replaced by the proxy's.
fn through(s3: &S3Env, proxy: &Proxy) -> S3Env {
    let vars =
        s3.vars
            .iter()
            .map(|(k, v)| {
                if k == "AWS_ENDPOINT_URL" {
                    (k.clone(), proxy.url.clone())
                } else {
                    (k.clone(), v.clone())
                }
            })
            .collect();
    S3Env { vars, bucket: s3.bucket.clone() }
}

fn endpoint(s3: &S3Env) -> String {
    s3.vars.iter().find(|(k, _)| k == "AWS_ENDPOINT_URL").unwrap().1.clone()
}

/// An SDK client of the server, to look behind the tool's back.
fn sdk_client(s3: &S3Env) -> aws_sdk_s3::Client {
    let get = |k: &str| s3.vars.iter().find(|(n, _)| n == k).unwrap().1.clone();
    let conf = aws_sdk_s3::config::Builder::new()
        .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
        .endpoint_url(get("AWS_ENDPOINT_URL"))
        .region(aws_sdk_s3::config::Region::new(get("AWS_REGION")))
        .credentials_provider(aws_sdk_s3::config::Credentials::new(
            get("AWS_ACCESS_KEY_ID"),
            get("AWS_SECRET_ACCESS_KEY"),
            None,
            None,
            "test",
        ))
        .force_path_style(true)
        .build();
    aws_sdk_s3::Client::from_conf(conf)
}

/// Multipart uploads in progress under `prefix`, straight from the server.
async fn uploads_in_progress(s3: &S3Env, prefix: &str) -> usize {
    let out = sdk_client(s3).list_multipart_uploads().bucket(&s3.bucket).prefix(prefix).send().await.unwrap();
    out.uploads().len()
}

fn big_csv(dir: &Dir) -> std::path::PathBuf {
    // About 75 MB of poorly compressible text: a Parquet file over the 32 MiB multipart threshold.
    let mut csv = String::from("id,blob\n");
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for i in 0..500_000 {
        let mut blob = String::with_capacity(140);
        for _ in 0..9 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            blob += &format!("{x:016x}");
        }
        csv += &format!("{i},{blob}\n");
    }
    dir.write("big.csv", csv)
}

#[test]
fn an_unreachable_server_fails_in_bounded_time_and_writes_nothing() {
    let Some(s3) = s3_env() else { return };
    let proxy = Proxy::start(&endpoint(&s3));
    proxy.set(Mode::Refuse);
    let via = through(&s3, &proxy);
    let dir = Dir::new();
    dir.write("in.csv", "a\n1\n");
    let target = s3.target("refused");
    let started = std::time::Instant::now();
    // The read timeout bounds a connection the proxy has not accepted yet (a test process starved of
    // threads under the suite's load once left one in the backlog for the default 60 s).
    let r = run(via
        .apply(dir.etl().args(["-v", "upload-csv", "in.csv", "--dataset-id", "d", "--target", &target]))
        .env("ETL_S3_READ_TIMEOUT", "15"));
    assert_eq!(r.code, 1, "{r:?}");
    assert!(started.elapsed() < std::time::Duration::from_secs(40), "took {:?}: {r:?}", started.elapsed());
    runtime().block_on(async {
        let store = s3.store(&target).await;
        assert!(store.list("").await.unwrap().is_empty());
    });
}

#[test]
fn an_upload_cut_mid_body_leaves_no_partial_object_and_a_rerun_recovers() {
    let Some(s3) = s3_env() else { return };
    let proxy = Proxy::start(&endpoint(&s3));
    let via = through(&s3, &proxy);
    let dir = Dir::new();
    big_csv(&dir);
    dir.write("small.csv", "id,blob\n1,first\n");
    let target = s3.target("cut");
    let load = |file: &str| {
        run(via.apply(dir.etl().args(["upload-csv", file, "--dataset-id", "d", "--target", &target])))
    };

    // A first, clean run: the manifest to keep.
    assert_eq!(load("small.csv").code, 0);
    let (before, manifest_before) = runtime().block_on(async {
        let store = s3.store(&target).await;
        let keys: Vec<String> = store.list("").await.unwrap().into_iter().map(|o| o.key).collect();
        (keys, store.get("datasets/d/_manifest.json").await.unwrap())
    });

    // Every connection is reset once it has carried 8 MiB upstream: small requests pass, parts do not.
    proxy.set(Mode::CutAfter(8 << 20));
    let r = load("big.csv");
    assert_eq!(r.code, 1, "{r:?}");
    runtime().block_on(async {
        let store = s3.store(&target).await;
        let keys: Vec<String> = store.list("").await.unwrap().into_iter().map(|o| o.key).collect();
        // Exactly what was there: no new object but the failed run's record, and its lock released.
        let (records, keys): (Vec<String>, Vec<String>) =
            keys.into_iter().partition(|k| k.contains("/_runs/") && !before.contains(k));
        assert_eq!(keys, before);
        assert_eq!(records.len(), 1, "the failed run's record: {records:?}");
        assert_eq!(
            store.get("datasets/d/_manifest.json").await.unwrap(),
            manifest_before,
            "the old manifest stands"
        );
        let old = read_parquet_bytes(store.get("datasets/d/data/part-0000.parquet").await.unwrap());
        assert_eq!(old.height(), 1, "the previous data is still whole and readable");
        let prefix = target.trim_start_matches(&format!("s3://{}/", s3.bucket)).to_owned();
        assert_eq!(uploads_in_progress(&s3, &prefix).await, 0, "no orphaned parts");
    });

    // After recovery, a re-run gives exactly a clean run's data.
    proxy.set(Mode::Pass);
    let r = load("big.csv");
    assert_eq!(r.code, 0, "{r:?}");
    let clean = Dir::new();
    big_csv(&clean);
    ok(clean.etl().args(["upload-csv", "big.csv", "--dataset-id", "d"]));
    let expected = std::fs::read(clean.lake("datasets/d/data/part-0000.parquet")).unwrap();
    assert!(expected.len() > 32 << 20, "the file must take the multipart path: {} bytes", expected.len());
    runtime().block_on(async {
        let store = s3.store(&target).await;
        assert_eq!(store.get("datasets/d/data/part-0000.parquet").await.unwrap(), expected);
    });
}

#[test]
fn parts_a_dead_run_left_are_aborted_by_the_next_run() {
    let Some(s3) = s3_env() else { return };
    let target = s3.target("orphans");
    let prefix = target.trim_start_matches(&format!("s3://{}/", s3.bucket)).to_owned();
    runtime().block_on(async {
        // Runs that died mid-upload: multipart uploads started under the dataset, never finished;
        // more than one page of the listing (1,000).
        use futures::StreamExt;
        let client = sdk_client(&s3);
        let started: Vec<_> = futures::stream::iter(0..1005)
            .map(|i| {
                client
                    .create_multipart_upload()
                    .bucket(&s3.bucket)
                    .key(format!("{prefix}/datasets/d/partitions/date=2026-01-01/part-{i:04}.parquet"))
                    .send()
            })
            .buffer_unordered(32)
            .collect()
            .await;
        assert!(started.iter().all(Result::is_ok));
        assert!(uploads_in_progress(&s3, &prefix).await > 0);
    });
    let dir = Dir::new();
    dir.write("in.csv", "a\n1\n");
    let r = ok(s3.apply(dir.etl().args(["upload-csv", "in.csv", "--dataset-id", "d", "--target", &target])));
    assert!(r.stderr.contains("aborted 1005 unfinished upload(s)"), "{r:?}");
    runtime().block_on(async { assert_eq!(uploads_in_progress(&s3, &prefix).await, 0) });
}

/// An s3s-fs server of this test's own, on `dir`, that the test can stop and start again.
struct OwnServer {
    child: std::process::Child,
    port: u16,
    dir: std::path::PathBuf,
}

impl OwnServer {
    fn start(dir: &std::path::Path, port: u16) -> OwnServer {
        std::fs::create_dir_all(dir.join("bucket")).unwrap();
        let child = std::process::Command::new("s3s-fs")
            .args([
                "--host",
                "127.0.0.1",
                "--port",
                &port.to_string(),
                "--access-key",
                "k",
                "--secret-key",
                "s",
            ])
            .arg(dir)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("s3s-fs is installed by scripts/test.sh");
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        OwnServer { child, port, dir: dir.to_owned() }
    }

    fn env(&self) -> S3Env {
        S3Env {
            vars: vec![
                ("AWS_ENDPOINT_URL".into(), format!("http://127.0.0.1:{}", self.port)),
                ("AWS_REGION".into(), "us-east-1".into()),
                ("AWS_ACCESS_KEY_ID".into(), "k".into()),
                ("AWS_SECRET_ACCESS_KEY".into(), "s".into()),
            ],
            bucket: "bucket".into(),
        }
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for OwnServer {
    fn drop(&mut self) {
        self.kill();
    }
}

#[test]
fn the_server_killed_mid_run_fails_the_run_and_a_rerun_after_recovery_is_clean() {
    if s3s_env().is_none() {
        return;
    }
    let data = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut server = OwnServer::start(data.path(), port);
    let s3 = server.env();
    let dir = Dir::new();
    big_csv(&dir);
    let target = "s3://bucket/killed";
    let child = s3
        .apply(dir.etl().args(["upload-csv", "big.csv", "--dataset-id", "d", "--target", target]))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Stop the server while the run works (it has taken its lock, and is staging or uploading).
    let lock = server.dir.join("bucket/killed/datasets/d/_lock");
    let started = std::time::Instant::now();
    while !lock.exists() {
        assert!(started.elapsed() < std::time::Duration::from_secs(60), "the run never took its lock");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    std::thread::sleep(std::time::Duration::from_millis(500));
    server.kill();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));

    // Back up: no data object of the failed run is visible, and a re-run is a clean run.
    let server = OwnServer::start(data.path(), port);
    let s3 = server.env();
    let data_files: Vec<_> =
        walk(&server.dir.join("bucket/killed")).into_iter().filter(|p| p.ends_with(".parquet")).collect();
    assert!(data_files.is_empty(), "{data_files:?}");
    let r = run(s3.apply(dir.etl().args(["upload-csv", "big.csv", "--dataset-id", "d", "--target", target])));
    assert_eq!(r.code, 0, "{r:?}");
    let clean = Dir::new();
    big_csv(&clean);
    ok(clean.etl().args(["upload-csv", "big.csv", "--dataset-id", "d"]));
    let expected = std::fs::read(clean.lake("datasets/d/data/part-0000.parquet")).unwrap();
    let written = std::fs::read(server.dir.join("bucket/killed/datasets/d/data/part-0000.parquet")).unwrap();
    assert!(written == expected, "the re-run's file differs from a clean run's");
}

/// Every file under `root`, as paths relative to it.
fn walk(root: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_owned()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p.strip_prefix(root).unwrap().to_string_lossy().into_owned());
            }
        }
    }
    out
}

#[test]
fn a_stalled_server_times_out_and_writes_nothing() {
    let Some(s3) = s3_env() else { return };
    let proxy = Proxy::start(&endpoint(&s3));
    proxy.set(Mode::Stall);
    let via = through(&s3, &proxy);
    let dir = Dir::new();
    dir.write("in.csv", "a\n1\n");
    let target = s3.target("stalled");
    let started = std::time::Instant::now();
    let r = run(via
        .apply(dir.etl().args(["upload-csv", "in.csv", "--dataset-id", "d", "--target", &target]))
        .env("ETL_S3_READ_TIMEOUT", "1"));
    assert_eq!(r.code, 1, "{r:?}");
    assert!(started.elapsed() < std::time::Duration::from_secs(30), "took {:?}", started.elapsed());
    runtime().block_on(async {
        let store = s3.store(&target).await;
        assert!(store.list("").await.unwrap().is_empty());
    });
}

#[test]
fn a_server_answering_500_fails_the_run_after_its_retries_and_writes_nothing() {
    let Some(s3) = s3_env() else { return };
    let proxy = Proxy::start(&endpoint(&s3));
    proxy.set(Mode::Fail500);
    let via = through(&s3, &proxy);
    let dir = Dir::new();
    dir.write("in.csv", "a\n1\n");
    let target = s3.target("fivehundred");
    let r =
        run(via.apply(dir.etl().args(["upload-csv", "in.csv", "--dataset-id", "d", "--target", &target])));
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stderr.contains("500"), "{r:?}");
    runtime().block_on(async {
        let store = s3.store(&target).await;
        assert!(store.list("").await.unwrap().is_empty());
    });
}
