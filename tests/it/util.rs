use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use polars::prelude::*;

/// Events around midnight UTC: offsets that move a row to the next day, and a null timestamp.
pub const EVENTS_CSV: &str = "\
event,at,value
a,2026-10-31T23:30:00Z,1
b,2026-10-31T23:30:00-02:00,2
c,,3
d,2026-10-30T01:00:00Z,4
e,2026-10-31T00:00:00Z,5
f,2026-11-01T00:00:00.000Z,6
";

/// `big.csv` in `dir`: `rows` rows of `day,n,text`, the days spread over a month (a load that takes
/// seconds in a debug build: long enough to stop it, or to watch its progress).
pub fn big_csv(dir: &Dir, rows: u32) {
    let mut csv = String::from("day,n,text\n");
    for i in 0..rows {
        csv += &format!("2026-01-{:02},{i},row number {i}\n", i % 28 + 1);
    }
    dir.write("big.csv", csv);
}

/// A temp working folder in which `etl` runs; `./lake` inside it is the default target.
pub struct Dir {
    pub tmp: tempfile::TempDir,
}

impl Dir {
    pub fn new() -> Self {
        Dir { tmp: tempfile::tempdir().unwrap() }
    }

    pub fn path(&self) -> &Path {
        self.tmp.path()
    }

    /// Writes a file (creating folders) and returns its path.
    pub fn write(&self, name: &str, content: impl AsRef<[u8]>) -> PathBuf {
        let path = self.path().join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, content).unwrap();
        path
    }

    /// `lake/<key>`.
    pub fn lake(&self, key: &str) -> PathBuf {
        self.path().join("lake").join(key)
    }

    /// Every file under `lake/`, as keys, sorted, without the run records (`_manifest.json`,
    /// `_runs/`): the data a reader sees.
    pub fn lake_keys(&self) -> Vec<String> {
        self.all_lake_keys().into_iter().filter(|k| !is_run_record(k)).collect()
    }

    /// Every file under `lake/` but the records of runs (`_runs/`): what a run that failed or was
    /// stopped leaves as it found it (it adds only its record).
    pub fn keys_but_runs(&self) -> Vec<String> {
        self.all_lake_keys().into_iter().filter(|k| !k.contains("/_runs/")).collect()
    }

    /// The status of each run record of `dataset` (`ok`, `failed`, `cancelled`), oldest first.
    pub fn run_statuses(&self, dataset: &str) -> Vec<String> {
        self.all_lake_keys()
            .into_iter()
            .filter(|k| k.starts_with(&format!("datasets/{dataset}/_runs/")))
            .map(|k| {
                let record: serde_json::Value =
                    serde_json::from_slice(&std::fs::read(self.lake(&k)).unwrap()).unwrap();
                record["status"].as_str().unwrap_or("ok").to_owned()
            })
            .collect()
    }

    /// Every file under `lake/`, run records included.
    pub fn all_lake_keys(&self) -> Vec<String> {
        let mut out = Vec::new();
        let root = self.path().join("lake");
        let mut stack = vec![root.clone()];
        while let Some(dir) = stack.pop() {
            let Ok(entries) = std::fs::read_dir(&dir) else { continue };
            for e in entries {
                let p = e.unwrap().path();
                if p.is_dir() {
                    stack.push(p);
                } else {
                    out.push(p.strip_prefix(&root).unwrap().to_string_lossy().replace('\\', "/"));
                }
            }
        }
        out.sort();
        out
    }

    /// A folder `.bin/` in the working folder holding `etl` (the binary under test), for a PATH
    /// that scripts run with as a user's shell would.
    pub fn etl_on_path(&self) -> PathBuf {
        let bin = self.path().join(".bin");
        std::fs::create_dir_all(&bin).unwrap();
        let link = bin.join("etl");
        if !link.exists() {
            std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_etl"), &link).unwrap();
        }
        bin
    }

    /// A command running the built binary in this folder, with no AWS or ETL settings inherited.
    pub fn etl(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_etl"));
        cmd.current_dir(self.path()).stdin(Stdio::null());
        for (key, _) in std::env::vars() {
            if ["AWS_", "ETL_", "DOMO_", "API_"].iter().any(|p| key.starts_with(p))
                || key == "RUST_LOG"
                || key == "DATABASE_URL"
            {
                cmd.env_remove(key);
            }
        }
        // No run of a test ever asks the real EC2 metadata address (a test that means to points
        // AWS_EC2_METADATA_SERVICE_ENDPOINT at a listener of its own and removes this).
        cmd.env("AWS_EC2_METADATA_DISABLED", "true");
        cmd
    }
}

/// Whether `key` is a run record (`datasets/<id>/_manifest.json`, `_state.json` or `_runs/...`).
pub fn is_run_record(key: &str) -> bool {
    key.ends_with("/_manifest.json") || key.ends_with("/_state.json") || key.contains("/_runs/")
}

/// The keys under `prefix` in `store`, without the run records: the data a reader sees.
pub async fn data_keys(store: &dyn etl::store::ObjectStore, prefix: &str) -> Vec<String> {
    store.list(prefix).await.unwrap().into_iter().map(|o| o.key).filter(|k| !is_run_record(k)).collect()
}

/// What a run printed and returned.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl std::fmt::Debug for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "exit {}\n--- stdout\n{}\n--- stderr\n{}", self.code, self.stdout, self.stderr)
    }
}

/// Runs `cmd`. Its stderr is kept as a person at a terminal reads it: the time etl writes in front
/// of its own lines on a pipe (tests/it/monitoring.rs checks it) is left out; the logs' lines
/// (`<time>  WARN ...`) keep theirs.
pub fn run(cmd: &mut Command) -> Run {
    let Output { status, stdout, stderr } = cmd.output().expect("etl runs");
    Run {
        code: status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: undated(&String::from_utf8_lossy(&stderr)),
    }
}

/// `text` without the time etl writes in front of its own lines on a pipe (`2026-12-06T22:40:00.123456Z
/// error: ...` is `error: ...`).
pub fn undated(text: &str) -> String {
    text.split_inclusive('\n')
        .map(|line| match dated_at(line) {
            // The logs' own lines (`<time>  WARN ...`) keep their time.
            Some(rest) if is_log_level(rest) => line,
            Some(rest) => rest,
            None => line,
        })
        .collect()
}

/// Whether a dated line is one of the logs' (` WARN `, `ERROR `, ` INFO `, ...).
fn is_log_level(rest: &str) -> bool {
    let trimmed = rest.strip_prefix(' ').unwrap_or(rest);
    ["TRACE ", "DEBUG ", "INFO ", "WARN ", "ERROR "].iter().any(|level| trimmed.starts_with(level))
}

/// What follows a line's leading `2026-12-06T22:40:00.123456Z `, if it has one.
pub fn dated_at(line: &str) -> Option<&str> {
    let bytes = line.as_bytes();
    let stamp = bytes.len() > 28
        && bytes[4] == b'-'
        && bytes[10] == b'T'
        && bytes[19] == b'.'
        && bytes[26] == b'Z'
        && bytes[27] == b' '
        && bytes[..4].iter().all(u8::is_ascii_digit);
    stamp.then(|| &line[28..])
}

/// The JSON summary a run printed with `--log-format json`.
pub fn summary_of(r: &Run) -> serde_json::Value {
    r.stderr
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["event"] == "summary")
        .unwrap_or_else(|| panic!("no summary in {r:?}"))["summary"]
        .clone()
}

/// Each check of a summary or run record as `name status` (`not_null(Date) passed`).
pub fn check_verdicts(record: &serde_json::Value) -> Vec<String> {
    record["checks"]
        .as_array()
        .unwrap_or_else(|| panic!("no checks in {record}"))
        .iter()
        .map(|c| format!("{} {}", c["check"].as_str().unwrap(), c["status"].as_str().unwrap()))
        .collect()
}

/// The verdicts of the cursor-usage checks that the shipped catalog and the README's job file
/// declare, on a first load of the sample export.
pub const SHIPPED_CHECKS_ON_THE_SAMPLE: [&str; 5] = [
    "not_null(Date) passed",
    "not_null(Kind) passed",
    "accepted_values(Kind) passed",
    "freshness(Date) passed",
    "row_count_change skipped",
];

/// The repository's sample export, in `dir`'s `data_sources/`.
pub fn sample_exports(dir: &Dir) {
    let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("data_sources");
    for entry in std::fs::read_dir(sample).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "csv") {
            dir.write(
                &format!("data_sources/{}", path.file_name().unwrap().to_str().unwrap()),
                std::fs::read(&path).unwrap(),
            );
        }
    }
}

/// Runs and asserts exit 0.
pub fn ok(cmd: &mut Command) -> Run {
    let r = run(cmd);
    assert_eq!(r.code, 0, "{r:?}");
    r
}

pub fn read_parquet(path: &Path) -> DataFrame {
    let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    ParquetReader::new(file).finish().unwrap()
}

pub fn read_parquet_bytes(bytes: Vec<u8>) -> DataFrame {
    ParquetReader::new(std::io::Cursor::new(bytes)).finish().unwrap()
}

pub fn dtype(df: &DataFrame, column: &str) -> DataType {
    df.column(column).unwrap().dtype().clone()
}

pub fn strings(df: &DataFrame, column: &str) -> Vec<Option<String>> {
    df.column(column).unwrap().str().unwrap().iter().map(|v| v.map(str::to_owned)).collect()
}

pub fn i64s(df: &DataFrame, column: &str) -> Vec<Option<i64>> {
    df.column(column).unwrap().i64().unwrap().iter().collect()
}

pub fn f64s(df: &DataFrame, column: &str) -> Vec<Option<f64>> {
    df.column(column).unwrap().f64().unwrap().iter().collect()
}

pub fn bools(df: &DataFrame, column: &str) -> Vec<Option<bool>> {
    df.column(column).unwrap().bool().unwrap().iter().collect()
}

/// Microseconds since the epoch of a timestamp column.
pub fn micros(df: &DataFrame, column: &str) -> Vec<Option<i64>> {
    let s = df.column(column).unwrap().as_materialized_series().to_physical_repr().into_owned();
    s.i64().unwrap().iter().collect()
}

/// Days since the epoch of a date column.
pub fn days(df: &DataFrame, column: &str) -> Vec<Option<i32>> {
    let s = df.column(column).unwrap().as_materialized_series().to_physical_repr().into_owned();
    s.i32().unwrap().iter().collect()
}

/// Microseconds of a UTC time, for expectations.
pub fn utc(y: i32, m: u32, d: u32, h: i64, mi: i64, s: i64, us: i64) -> i64 {
    i64::from(etl::transform::calendar::days_from_civil(y, m, d)) * 86_400_000_000
        + ((h * 60 + mi) * 60 + s) * 1_000_000
        + us
}

/// The S3-compatible server's settings, from scripts/s3-up.sh. `None` (test skipped) unless
/// ETL_REQUIRE_S3=1, where a missing server is a failure.
pub struct S3Env {
    pub vars: Vec<(String, String)>,
    pub bucket: String,
}

/// A variable as this test process started with it: `S3Env::store` sets the AWS variables of the
/// server a test uses while it makes its client, and another test must not read those.
pub fn initial_env(key: &str) -> Option<String> {
    let environ = std::fs::read("/proc/self/environ").expect("/proc/self/environ");
    environ.split(|&b| b == 0).find_map(|entry| {
        let entry = std::str::from_utf8(entry).ok()?;
        let (k, v) = entry.split_once('=')?;
        (k == key).then(|| v.to_owned())
    })
}

pub fn s3_env() -> Option<S3Env> {
    let keys =
        ["AWS_ENDPOINT_URL", "AWS_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "ETL_TEST_BUCKET"];
    let vars: Vec<(String, String)> =
        keys.iter().filter_map(|k| initial_env(k).map(|v| (k.to_string(), v))).collect();
    if vars.len() != keys.len() {
        assert!(
            std::env::var("ETL_REQUIRE_S3").is_err(),
            "ETL_REQUIRE_S3 is set but the S3 settings are not: run scripts/test.sh"
        );
        eprintln!("skipped: no S3 server configured (run scripts/test.sh)");
        return None;
    }
    let bucket = vars.iter().find(|(k, _)| k == "ETL_TEST_BUCKET").unwrap().1.clone();
    Some(S3Env { vars, bucket })
}

impl S3Env {
    /// A target of its own for one test, so tests never see each other's objects.
    pub fn target(&self, test: &str) -> String {
        format!("s3://{}/{}-{}", self.bucket, test, std::process::id())
    }

    /// Gives `cmd` the S3 settings.
    pub fn apply<'a>(&self, cmd: &'a mut Command) -> &'a mut Command {
        for (k, v) in &self.vars {
            cmd.env(k, v);
        }
        cmd
    }

    /// A store on `target`, through the library (the same code the binary uses). The SDK reads its
    /// settings from the environment when the client is made: one test at a time does that.
    pub async fn store(&self, target: &str) -> std::sync::Arc<dyn etl::store::ObjectStore> {
        static ENV: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
        let guard = ENV.lock().await;
        for (k, v) in &self.vars {
            std::env::set_var(k, v);
        }
        let store = etl::store::open(&etl::store::Target::parse(target).unwrap()).await.unwrap();
        // The SDK reads the credentials at the first request, not when the client is made: make
        // one while the variables are this server's, so that the client keeps them (another test
        // may set another server's a moment later).
        store.list("datasets/.warm-up/").await.unwrap();
        drop(guard);
        store
    }
}

/// The s3s-fs server's settings, from scripts/s3s-up.sh: a store that honours `If-None-Match`, for the
/// lock tests. `None` (skipped) unless ETL_REQUIRE_S3S=1.
pub fn s3s_env() -> Option<S3Env> {
    let get = initial_env;
    match (get("ETL_S3S_ENDPOINT"), get("ETL_S3S_BUCKET"), get("ETL_S3S_KEY"), get("ETL_S3S_SECRET")) {
        (Some(endpoint), Some(bucket), Some(key), Some(secret)) => Some(S3Env {
            vars: vec![
                ("AWS_ENDPOINT_URL".into(), endpoint),
                ("AWS_REGION".into(), "us-east-1".into()),
                ("AWS_ACCESS_KEY_ID".into(), key),
                ("AWS_SECRET_ACCESS_KEY".into(), secret),
            ],
            bucket,
        }),
        _ => {
            assert!(
                std::env::var("ETL_REQUIRE_S3S").is_err(),
                "ETL_REQUIRE_S3S is set but the s3s-fs settings are not: run scripts/test.sh"
            );
            eprintln!("skipped: no s3s-fs server configured (run scripts/test.sh)");
            None
        }
    }
}

/// The PostgreSQL server's URL, from scripts/pg-up.sh. `None` (test skipped) unless ETL_REQUIRE_PG=1,
/// where a missing server is a failure.
pub fn pg_url() -> Option<String> {
    match initial_env("ETL_TEST_DATABASE_URL") {
        Some(url) => Some(url),
        None => {
            assert!(
                std::env::var("ETL_REQUIRE_PG").is_err(),
                "ETL_REQUIRE_PG is set but ETL_TEST_DATABASE_URL is not: run scripts/test.sh"
            );
            eprintln!("skipped: no PostgreSQL configured (run scripts/test.sh)");
            None
        }
    }
}

/// Runs SQL statements on the test server (a database of the test's own is made by the caller).
pub fn pg_exec(url: &str, sql: &str) {
    runtime().block_on(async {
        let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await.unwrap();
        tokio::spawn(connection);
        client.batch_execute(sql).await.unwrap();
    });
}

/// A database of its own for one test, on the test server: its URL.
pub fn pg_database(url: &str, name: &str) -> String {
    let db = format!("{name}_{}", std::process::id());
    pg_exec(url, &format!("DROP DATABASE IF EXISTS {db}"));
    pg_exec(url, &format!("CREATE DATABASE {db}"));
    match url.rsplit_once('/') {
        Some((base, _)) => format!("{base}/{db}"),
        None => url.to_owned(),
    }
}

pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

/// Starts `cmd` (a load into `dir`'s lake) with its output piped, and waits until it holds the lock of
/// `dataset` (under way, and listening for signals), then a moment more.
pub fn spawn_until_locked(cmd: &mut Command, dir: &Dir, dataset: &str) -> std::process::Child {
    let child =
        cmd.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped()).spawn().unwrap();
    let lock = dir.lake(&format!("datasets/{dataset}/_lock"));
    let started = std::time::Instant::now();
    while !lock.exists() {
        assert!(started.elapsed() < std::time::Duration::from_secs(30), "the run never took its lock");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    std::thread::sleep(std::time::Duration::from_millis(200));
    child
}

/// Sends SIGTERM to a running etl and checks that it stops the clean way (exit 143, saying so) within
/// 10 s, whatever it was waiting on; returns its stderr.
pub fn stopped_by_sigterm(child: std::process::Child, what: &str) -> String {
    let sent = std::time::Instant::now();
    assert!(Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap().success());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(143), "{what}: {stderr}");
    assert!(
        sent.elapsed() < std::time::Duration::from_secs(10),
        "{what}: stopped after {:?}: {stderr}",
        sent.elapsed()
    );
    assert!(stderr.contains("stopped by SIGTERM"), "{what}: {stderr}");
    stderr
}
