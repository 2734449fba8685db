//! `etl schedule export`: what it writes is valid for each scheduler, checked offline against the
//! schedulers' own schemas and loaders (kubernetes-validate for CronJobs, Argo's models for
//! CronWorkflows, Airflow's DagBag, Dagster's definitions), and runs: a generated Airflow DAG
//! (`airflow dags test`) and Dagster job (`dagster job execute`) load two datasets of a job file
//! into the test S3 server (s3s-fs, which honours the dataset lock), trying again a run that found
//! its dataset locked and never a run whose checks failed.
//!
//! The schedulers are installed by scripts/schedulers-up.sh (scripts/test.sh runs it); without them
//! these tests are skipped, unless ETL_REQUIRE_SCHEDULERS=1.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::util::*;

/// The virtualenvs of scripts/schedulers-up.sh.
struct Schedulers {
    airflow: PathBuf,
    dagster: PathBuf,
}

fn schedulers() -> Option<Schedulers> {
    match (initial_env("ETL_AIRFLOW_VENV"), initial_env("ETL_DAGSTER_VENV")) {
        (Some(airflow), Some(dagster)) => {
            Some(Schedulers { airflow: airflow.into(), dagster: dagster.into() })
        }
        _ => {
            assert!(
                std::env::var("ETL_REQUIRE_SCHEDULERS").is_err(),
                "ETL_REQUIRE_SCHEDULERS is set but the schedulers are not: run scripts/test.sh"
            );
            eprintln!("skipped: no schedulers installed (run scripts/test.sh)");
            None
        }
    }
}

fn helper(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/schedulers").join(name)
}

/// A command of a virtualenv, with none of this process's AWS, ETL or scheduler settings.
fn tool(venv: &Path, program: &str, dir: &Dir) -> Command {
    let mut cmd = Command::new(venv.join("bin").join(program));
    cmd.current_dir(dir.path()).stdin(Stdio::null());
    for (key, _) in std::env::vars() {
        if ["AWS_", "ETL_", "DOMO_", "API_", "AIRFLOW", "DAGSTER"].iter().any(|p| key.starts_with(p))
            || key == "DATABASE_URL"
        {
            cmd.env_remove(key);
        }
    }
    cmd
}

fn export(dir: &Dir, args: &[&str]) -> Run {
    run(dir.etl().args(["schedule", "export"]).args(args))
}

/// `jobs.yaml` exported for `to` into `out`, running this build of etl, tried again after 1 s.
fn export_to(dir: &Dir, to: &str, out: &str) -> Run {
    let r = export(
        dir,
        &[
            "jobs.yaml",
            "--to",
            to,
            "--out",
            out,
            "--executable",
            env!("CARGO_BIN_EXE_etl"),
            "--retry-delay",
            "1s",
        ],
    );
    assert_eq!(r.code, 0, "{r:?}");
    r
}

/// `dagster job execute` of the exported file's `job`, loading into `target`.
fn dagster_execute(s: &Schedulers, dir: &Dir, job: &str, target: &str, s3: &S3Env) -> Command {
    let mut cmd = tool(&s.dagster, "dagster", dir);
    cmd.args(["job", "execute", "-f", "etl_jobs_dagster.py", "-j", job])
        .env("DAGSTER_HOME", dir.path())
        .env("ETL_TARGET", target)
        .envs(s3.vars.iter().cloned());
    cmd
}

/// The Airflow Variable `etl` of the exported DAGs: the test S3 server's settings and `target`.
fn airflow_variable(s3: &S3Env, target: &str) -> serde_json::Map<String, serde_json::Value> {
    let mut variable: serde_json::Map<String, serde_json::Value> =
        s3.vars.iter().map(|(k, v)| (k.clone(), v.clone().into())).collect();
    variable.insert("ETL_TARGET".into(), target.into());
    variable
}

/// `airflow ARGS` with an Airflow home of `dir`'s own, the DAGs in `dir/dags` and the Variable `etl`.
fn airflow_in(
    s: &Schedulers,
    dir: &Dir,
    variable: &serde_json::Map<String, serde_json::Value>,
    args: &[&str],
) -> Command {
    let mut cmd = tool(&s.airflow, "airflow", dir);
    cmd.args(args)
        .env("AIRFLOW_HOME", dir.path().join("airflow-home"))
        .env("AIRFLOW__CORE__DAGS_FOLDER", dir.path().join("dags"))
        .env("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
        .env("AIRFLOW_VAR_ETL", serde_json::Value::Object(variable.clone()).to_string());
    cmd
}

/// The last line of a helper's stdout, as JSON.
fn json_of(r: &Run) -> serde_json::Value {
    let line = r.stdout.lines().last().unwrap_or_else(|| panic!("no output: {r:?}"));
    serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {r:?}"))
}

#[test]
fn the_readme_job_file_exports_valid_units_for_every_scheduler() {
    let Some(s) = schedulers() else { return };
    let dir = Dir::new();
    sample_exports(&dir);
    dir.write("jobs.yaml", readme_job_file());
    // Secrets in the exporting machine's environment are never copied into what it writes.
    let secrets = [("ORDERS_TOKEN", "tok-5ecret-orders"), ("DOMO_CLIENT_SECRET", "domo-5ecret")];
    let commands = readme_schedule_commands();
    let mut out = Vec::new();
    for line in commands.lines().filter(|l| l.starts_with("etl schedule export")) {
        let args: Vec<String> = shell_words(line.split(" | ").next().unwrap());
        let mut cmd = dir.etl();
        cmd.args(&args[1..]).envs(secrets);
        let r = run(&mut cmd);
        assert_eq!(r.code, 0, "{line}: {r:?}");
        out.push((line.to_owned(), r));
    }
    assert_eq!(out.len(), 4, "the README shows one export per scheduler");
    let text = |path: &str| std::fs::read_to_string(dir.path().join(path)).unwrap();
    // Kubernetes: printed on stdout (the README pipes it to kubectl).
    let k8s = &out[0].1.stdout;
    dir.write("k8s.yaml", k8s);
    let r = run(tool(&s.dagster, "kubernetes-validate", &dir).args(["--strict", "k8s.yaml"]));
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(r.stdout.matches("passed for resource cronjob/").count(), 5, "{r:?}");
    let docs: Vec<serde_yaml::Value> =
        k8s.split("\n---\n").map(|d| serde_yaml::from_str(d).unwrap()).collect();
    let cron_job = |name: &str| {
        docs.iter()
            .find(|d| d["kind"] == "CronJob" && d["metadata"]["name"] == name)
            .unwrap_or_else(|| panic!("{name}"))
    };
    let usage = cron_job("etl-jobs-usage");
    assert_eq!(usage["spec"]["schedule"], "0 6 * * *");
    assert_eq!(usage["spec"]["timeZone"], "Europe/Berlin");
    assert_eq!(usage["spec"]["concurrencyPolicy"], "Forbid");
    let job = &usage["spec"]["jobTemplate"]["spec"];
    assert_eq!(job["backoffLimit"], 3);
    assert_eq!(
        job["podFailurePolicy"]["rules"][0]["onExitCodes"]["values"],
        serde_yaml::from_str::<serde_yaml::Value>("[2, 65]").unwrap()
    );
    let container = &job["template"]["spec"]["containers"][0];
    assert_eq!(
        container["command"],
        serde_yaml::from_str::<serde_yaml::Value>(
            "[etl, run, /etc/etl/jobs.yaml, --job, usage, --wait-lock, '300', --log-format, json]"
        )
        .unwrap()
    );
    assert_eq!(container["envFrom"][0]["secretRef"]["name"], "etl");
    assert_eq!(cron_job("etl-jobs-orders")["spec"]["schedule"], "*/30 * * * *");
    let config_map = docs.iter().find(|d| d["kind"] == "ConfigMap").unwrap();
    assert_eq!(
        config_map["data"]["jobs.yaml"].as_str().unwrap().trim_end(),
        readme_job_file().trim_end(),
        "the job file, whole"
    );

    // Argo: against Argo's own models, strictly.
    let argo = text("deploy/etl-jobs.argo.yaml");
    let r = run(tool(&s.dagster, "python", &dir)
        .arg(helper("validate_argo.py"))
        .arg("deploy/etl-jobs.argo.yaml"));
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(r.stdout.matches(": valid").count(), 2, "one CronWorkflow per schedule: {r:?}");
    let r =
        run(tool(&s.dagster, "kubernetes-validate", &dir).args(["--strict", "deploy/etl-jobs.argo.yaml"]));
    assert!(r.stdout.contains("passed for resource configmap/etl-jobs-jobs"), "{r:?}");
    assert!(argo.contains("expression: '!(asInt(lastRetry.exitCode) in [2, 65])'"), "{argo}");
    assert!(argo.contains("- name: etl-cursor-usage"), "a mutex per dataset: {argo}");

    // Airflow: the folder loads as Airflow's scheduler loads it, with no import error.
    let airflow_home = dir.path().join("airflow-home");
    let r = run(tool(&s.airflow, "python", &dir)
        .arg(helper("describe_airflow.py"))
        .arg("dags")
        .env("AIRFLOW_HOME", &airflow_home));
    assert_eq!(r.code, 0, "{r:?}");
    let found = json_of(&r);
    assert_eq!(found["errors"], serde_json::json!({}));
    let dags = &found["dags"];
    assert_eq!(dags["etl_jobs"]["schedule"], "0 6 * * *");
    assert_eq!(dags["etl_jobs"]["timezone"], "Europe/Berlin");
    assert_eq!(dags["etl_jobs"]["max_active_runs"], 1);
    let tasks: Vec<&String> = dags["etl_jobs"]["tasks"].as_object().unwrap().keys().collect();
    assert_eq!(tasks, ["usage", "drops", "sales", "customers"]);
    assert_eq!(dags["etl_jobs"]["tasks"]["usage"]["retries"], 3);
    assert_eq!(dags["etl_jobs_orders"]["schedule"], "*/30 * * * *");

    // Dagster: the definitions load, one job and one schedule per schedule, a pool per dataset.
    let r = run(tool(&s.dagster, "python", &dir)
        .arg(helper("describe_dagster.py"))
        .arg("orchestration/etl_jobs_dagster.py"));
    assert_eq!(r.code, 0, "{r:?}");
    let found = json_of(&r);
    assert_eq!(found["schedules"]["etl_jobs_schedule"]["cron"], "0 6 * * *");
    assert_eq!(found["schedules"]["etl_jobs_orders_schedule"]["cron"], "*/30 * * * *");
    assert_eq!(found["schedules"]["etl_jobs_schedule"]["timezone"], "Europe/Berlin");
    assert_eq!(found["jobs"]["etl_jobs"]["ops"]["usage"]["pool"], "etl-cursor-usage");
    assert_eq!(found["jobs"]["etl_jobs_orders"]["ops"]["orders"]["pool"], "etl-orders");
    assert_eq!(found["resources"], serde_json::json!(["etl"]));

    // No secret anywhere; each file names what the jobs need instead.
    let written =
        [k8s.clone(), argo, text("dags/etl_jobs_dag.py"), text("orchestration/etl_jobs_dagster.py")];
    for file in &written {
        for (_, secret) in secrets {
            assert!(!file.contains(secret), "a secret was written:\n{file}");
        }
        assert!(
            file.contains("DATABASE_URL, DOMO_CLIENT_ID, DOMO_CLIENT_SECRET, ETL_TARGET, ORDERS_TOKEN"),
            "{file}"
        );
    }
    let lines: Vec<&str> =
        out[1..].iter().map(|(_, r)| r.stderr.lines().last().unwrap_or_default()).collect();
    assert_eq!(
        lines,
        [
            "wrote deploy/etl-jobs.argo.yaml: 2 CronWorkflows and a ConfigMap for 5 jobs",
            "wrote dags/etl_jobs_dag.py: 2 DAGs for 5 jobs",
            "wrote orchestration/etl_jobs_dagster.py: 2 jobs and 2 schedules for 5 jobs",
        ]
    );
}

/// A lock on `dataset` as another run holds it, for 10 minutes.
fn held_lock() -> Vec<u8> {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
    serde_json::json!({
        "run_id": "20261130T060000Z-held",
        "host": "other-host",
        "pid": 4242,
        "command": "upload-csv",
        "started": "2026-11-30T06:00:00Z",
        "expires": "2026-11-30T06:10:00Z",
        "expires_unix": now + 600,
    })
    .to_string()
    .into_bytes()
}

/// The job file both schedulers run: two datasets on the file's schedule, and a job whose check
/// fails, on its own.
const TWO_DATASETS: &str = r#"schedule: "0 6 * * *"
jobs:
  - name: usage
    dataset_id: usage
    partition_column: Date
    source: {kind: csv, source_dir: data_sources, file_pattern: "team-usage-events-*.csv"}
  - name: orders
    dataset_id: orders
    source: {kind: csv, path: orders.csv}
  - name: too-few
    dataset_id: too-few
    schedule: "0 7 * * *"
    checks: [{row_count: {min: 1000}}]
    source: {kind: csv, path: orders.csv}
"#;

/// Runs `cmd` (a scheduler running the exported jobs) while `orders`' lock is held, and lets the
/// lock go when the scheduler's log says etl found it held: the next try must then load.
fn run_while_locked(cmd: &mut Command, s3: &S3Env, target: &str) -> Run {
    let release = || {
        runtime().block_on(async {
            s3.store(target).await.delete_many(&["datasets/orders/_lock".to_owned()]).await.unwrap()
        })
    };
    runtime()
        .block_on(async { s3.store(target).await.put("datasets/orders/_lock", held_lock()).await.unwrap() });
    let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let released = std::sync::atomic::AtomicBool::new(false);
    // Each scheduler logs on a stream of its own choosing: both are watched.
    let watch = |stream: Box<dyn std::io::Read + Send>| {
        let mut text = String::new();
        for line in std::io::BufReader::new(stream).lines() {
            let line = line.unwrap();
            if line.contains("etl exited 75") && !released.swap(true, std::sync::atomic::Ordering::SeqCst) {
                release();
            }
            text.push_str(&line);
            text.push('\n');
        }
        text
    };
    let (out, err) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
    let (stdout, stderr) = std::thread::scope(|scope| {
        let err = scope.spawn(|| watch(Box::new(err)));
        (watch(Box::new(out)), err.join().unwrap())
    });
    let code = child.wait().unwrap().code().unwrap_or(-1);
    Run { code, stdout, stderr }
}

fn two_datasets_dir() -> Dir {
    let dir = Dir::new();
    sample_exports(&dir);
    dir.write("orders.csv", "id,total\n1,10.5\n2,20\n3,7.25\n");
    dir.write("jobs.yaml", TWO_DATASETS);
    dir
}

/// Both datasets, read back from the store: usage's 240 rows in 11 days, orders' 3 rows.
fn assert_loaded(s3: &S3Env, target: &str) {
    runtime().block_on(async {
        let store = s3.store(target).await;
        let usage = data_keys(&*store, "datasets/usage/").await;
        assert_eq!(usage.len(), 11, "{usage:?}");
        let mut rows = 0;
        for key in &usage {
            rows += read_parquet_bytes(store.get(key).await.unwrap()).height();
        }
        assert_eq!(rows, 240);
        let orders = read_parquet_bytes(store.get("datasets/orders/data/part-0000.parquet").await.unwrap());
        assert_eq!(orders.height(), 3);
        assert!(store.get("datasets/orders/_lock").await.is_err(), "the lock is let go");
        assert!(data_keys(&*store, "datasets/too-few/").await.is_empty(), "a failed check publishes nothing");
    });
}

#[test]
fn an_airflow_dag_loads_two_datasets_and_retries_a_held_lock() {
    let (Some(s), Some(s3)) = (schedulers(), s3s_env()) else { return };
    let dir = two_datasets_dir();
    export_to(&dir, "airflow", "dags");
    let target = s3.target("airflow");
    // The environment comes from the Airflow Variable `etl` (Airflow reads AIRFLOW_VAR_ETL as it).
    let variable = airflow_variable(&s3, &target);
    let airflow = |args: &[&str]| airflow_in(&s, &dir, &variable, args);
    let r = run(&mut airflow(&["db", "migrate"]));
    assert_eq!(r.code, 0, "{r:?}");
    let r = run_while_locked(&mut airflow(&["dags", "test", "etl_jobs", "2026-11-30"]), &s3, &target);
    let log = format!("{}{}", r.stdout, r.stderr);
    assert!(log.contains("DagRun Finished: dag_id=etl_jobs") && log.contains("state=success"), "{r:?}");
    // Tried again once the lock was let go (twice, if the lock went slower than the retry came).
    assert!(log.contains("etl exited 75 (another run holds the dataset)"), "{log}");
    // The summary is the task's XCom.
    assert!(
        log.contains(
            "Returned value was: {'command': 'run', 'job': 'orders', 'status': 'ok', 'dataset': 'orders'"
        ),
        "{log}"
    );
    assert!(
        !log.contains(&s3.vars.iter().find(|(k, _)| k == "AWS_SECRET_ACCESS_KEY").unwrap().1),
        "a secret in the log"
    );

    // A failed check fails the task once: no try again.
    let r = run(&mut airflow(&["dags", "test", "etl_jobs_too_few", "2026-11-30"]));
    let log = format!("{}{}", r.stdout, r.stderr);
    assert!(log.contains("state=failed"), "{log}");
    assert_eq!(log.matches("etl exited 65 (data-quality checks failed").count(), 1, "{log}");
    assert_loaded(&s3, &target);

    // A worker without the Variable (and no ETL_TARGET of its own) fails at once, naming what is
    // missing, rather than load into a folder of its own.
    let r = run(airflow(&["dags", "test", "etl_jobs_too_few", "2026-11-30"]).env_remove("AIRFLOW_VAR_ETL"));
    let log = format!("{}{}", r.stdout, r.stderr);
    assert!(log.contains("state=failed"), "{log}");
    assert!(
        log.contains("etl needs ETL_TARGET: set them in the Airflow Variable 'etl' (a JSON object) or in the workers' environment"),
        "{log}"
    );
    assert!(!dir.path().join("lake").exists(), "nothing written where the worker runs");
}

#[test]
fn a_dagster_job_loads_two_datasets_and_retries_a_held_lock() {
    let (Some(s), Some(s3)) = (schedulers(), s3s_env()) else { return };
    let dir = two_datasets_dir();
    export_to(&dir, "dagster", ".");
    let target = s3.target("dagster");
    let dagster = |job: &str| dagster_execute(&s, &dir, job, &target, &s3);
    std::fs::write(dir.path().join("dagster.yaml"), "telemetry:\n  enabled: false\n").unwrap();
    let r = run_while_locked(&mut dagster("etl_jobs"), &s3, &target);
    let log = format!("{}{}", r.stdout, r.stderr);
    assert_eq!(r.code, 0, "{log}");
    assert!(log.contains("RUN_SUCCESS"), "{log}");
    assert!(log.contains("etl exited 75 (another run holds the dataset)"), "{log}");
    // Tried again: Dagster logs STEP_UP_FOR_RETRY, then the second attempt's STEP_RESTARTED (its
    // multiprocess log at times drops the first; either shows the retry).
    assert!(log.contains("STEP_UP_FOR_RETRY") || log.contains("(attempt # 2)"), "{log}");
    // The summary is each op's output, its figures the output's metadata.
    let r = run(tool(&s.dagster, "python", &dir)
        .arg(helper("dagster_outputs.py"))
        .env("DAGSTER_HOME", dir.path()));
    let outputs = json_of(&r);
    assert_eq!(outputs["orders"]["rows_written"], 3, "{outputs}");
    assert_eq!(outputs["usage"]["rows_written"], 240, "{outputs}");
    assert_eq!(outputs["usage"]["status"], "ok", "{outputs}");

    let r = run(&mut dagster("etl_jobs_too_few"));
    let log = format!("{}{}", r.stdout, r.stderr);
    assert_ne!(r.code, 0, "{log}");
    assert!(log.contains("etl exited 65 (data-quality checks failed"), "{log}");
    assert!(!log.contains("STEP_UP_FOR_RETRY") && !log.contains("STEP_RESTARTED"), "not tried again: {log}");
    assert_loaded(&s3, &target);
}

#[test]
fn slices_of_one_dataset_run_at_once_wait_their_turn() {
    let (Some(s), Some(s3)) = (schedulers(), s3s_env()) else { return };
    let dir = Dir::new();
    let mut csv = String::from("day,n,text\n");
    for i in 0..200_000 {
        csv += &format!("2026-01-{:02},{i},row number {i}\n", i % 31 + 1);
    }
    dir.write("events.csv", csv);
    dir.write(
        "jobs.yaml",
        "schedule: \"@daily\"\njobs:\n  - name: events\n    dataset_id: events\n    partition_column: day\n    \
         mode: replace\n    slices: [..2026-01-15, 2026-01-16..]\n    source: {kind: csv, path: events.csv, wait_lock: 600}\n",
    );
    let r = export_to(&dir, "dagster", ".");
    assert_eq!(
        r.stderr.lines().last().unwrap_or_default(),
        "wrote ./etl_jobs_dagster.py: 1 job and 1 schedule for 1 job (2 units)"
    );
    let target = s3.target("slices");
    let r = run(&mut dagster_execute(&s, &dir, "etl_jobs", &target, &s3));
    let log = format!("{}{}", r.stdout, r.stderr);
    assert_eq!(r.code, 0, "{log}");
    // Both slices ran at once, in the same Dagster run, each writing its own days; the one that
    // found the dataset locked waited its turn to publish (`wait_lock`), it did not fail.
    assert!(!log.contains("etl exited 75"), "{log}");
    // (Dagster's own STEP_SUCCESS line of a step is at times missing from its multiprocess log:
    // each op's etl summary says it ran, and RUN_SUCCESS that every step succeeded.)
    assert!(log.contains("RUN_SUCCESS"), "{log}");
    for op in ["events_start_2026_01_15", "events_2026_01_16_end"] {
        assert!(
            log.lines().any(|l| l.contains(&format!(" - {op} - "))
                && l.contains(r#""event":"summary""#)
                && l.contains(r#""status":"ok""#)),
            "{op}: {log}"
        );
    }
    runtime().block_on(async {
        let store = s3.store(&target).await;
        let keys = data_keys(&*store, "datasets/events/").await;
        assert_eq!(keys.len(), 31, "{keys:?}");
        let mut rows = 0;
        for key in &keys {
            rows += read_parquet_bytes(store.get(key).await.unwrap()).height();
        }
        assert_eq!(rows, 200_000, "every row once");
        let runs = store.list("datasets/events/_runs/").await.unwrap();
        assert_eq!(runs.len(), 2, "one run per slice");
        // Nothing interleaved: the manifest the second publish left holds both slices' files.
        let manifest: serde_json::Value =
            serde_json::from_slice(&store.get("datasets/events/_manifest.json").await.unwrap()).unwrap();
        let files = manifest["files"].as_array().unwrap();
        assert_eq!(files.len(), 31);
        assert_eq!(files.iter().map(|f| f["rows"].as_u64().unwrap()).sum::<u64>(), 200_000);
        let runs: std::collections::BTreeSet<&str> =
            files.iter().map(|f| f["run_id"].as_str().unwrap()).collect();
        assert_eq!(runs.len(), 2, "each slice's days from its own run: {runs:?}");
    });
}

/// The README's job file.
fn readme_job_file() -> String {
    crate::readme::block_starting_with("schedule: \"0 6 * * *\"")
}

/// The README's `etl schedule export` commands.
fn readme_schedule_commands() -> String {
    crate::readme::block_starting_with("etl schedule export jobs.yaml --to k8s-cronjob")
}

/// A command line's words (the README's commands quote nothing but plain words).
fn shell_words(line: &str) -> Vec<String> {
    line.split_whitespace().map(|w| w.trim_matches('"').to_owned()).collect()
}

/// A job whose source answers nothing: its run stays in the middle of its read until stopped. Gives
/// the job file and the listener (which sees etl's connection come, and go when etl stops).
fn stalled_job(dir: &Dir) -> std::net::TcpListener {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/records", listener.local_addr().unwrap());
    dir.write(
        "jobs.yaml",
        format!("schedule: \"@daily\"\njobs:\n  - name: slow\n    dataset_id: slow\n    source: {{kind: api, url: \"{url}\"}}\n"),
    );
    listener
}

/// Waits for etl to connect to `listener`, runs `stop`, then waits for etl's side of the connection
/// to close: etl stopped with its scheduler.
fn stop_in_the_middle(what: &str, listener: &std::net::TcpListener, stop: impl FnOnce()) {
    use std::io::Read;
    // Not forever: a scheduler that fails before it runs etl fails the test.
    listener.set_nonblocking(true).unwrap();
    let waited = std::time::Instant::now();
    let mut socket = loop {
        match listener.accept() {
            Ok((socket, _)) => break socket,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                assert!(waited.elapsed() < std::time::Duration::from_secs(120), "{what}: etl never started");
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            Err(e) => panic!("{what}: {e}"),
        }
    };
    socket.set_nonblocking(false).unwrap();
    stop();
    socket.set_read_timeout(Some(std::time::Duration::from_secs(30))).unwrap();
    let mut rest = Vec::new();
    // Its request, then the end of the connection (an error if etl is still there after 30 s).
    if let Err(e) = socket.read_to_end(&mut rest) {
        panic!("{what}: etl still holds its connection 30 s after its run was stopped: {e}");
    }
}

/// The etl process running a job of the job file in `dir`, and its parent: `(pid, parent pid)`.
fn etl_process(dir: &Dir) -> Option<(i32, i32)> {
    let job_file = dir.path().join("jobs.yaml").display().to_string();
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else { continue };
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else { continue };
        let args: Vec<String> =
            cmdline.split(|&b| b == 0).map(|a| String::from_utf8_lossy(a).into_owned()).collect();
        if args.first().is_some_and(|a| a == env!("CARGO_BIN_EXE_etl")) && args.contains(&job_file) {
            let stat = std::fs::read_to_string(entry.path().join("stat")).ok()?;
            // `pid (comm) state ppid ...`: the fields after the last `)`.
            let ppid = stat.rsplit_once(')')?.1.split_whitespace().nth(1)?.parse().ok()?;
            return Some((pid, ppid));
        }
    }
    None
}

#[test]
fn a_stopped_scheduler_run_stops_etl_and_leaves_nothing() {
    // Dagster stops a run with SIGTERM, which its executor passes on to the op's process; a worker
    // can also be killed outright (SIGKILL, out of memory), which it cannot pass on: etl sees its
    // parent gone (ETL_STOP_WITH_PARENT, set by the unit) and stops the same clean way.
    let Some(s) = schedulers() else { return };
    for (to, how) in
        [("dagster", "SIGTERM to `dagster job execute`"), ("airflow", "SIGKILL to the task's process")]
    {
        let dir = Dir::new();
        let listener = stalled_job(&dir);
        let out = if to == "airflow" { "dags" } else { "." };
        export_to(&dir, to, out);
        let lake = dir.path().join("lake");
        let mut cmd = if to == "dagster" {
            let mut cmd = tool(&s.dagster, "dagster", &dir);
            cmd.args(["job", "execute", "-f", "etl_jobs_dagster.py", "-j", "etl_jobs"])
                .env("DAGSTER_HOME", dir.path());
            cmd
        } else {
            let home = dir.path().join("airflow-home");
            let migrate =
                run(tool(&s.airflow, "airflow", &dir).args(["db", "migrate"]).env("AIRFLOW_HOME", &home));
            assert_eq!(migrate.code, 0, "{migrate:?}");
            let mut cmd = tool(&s.airflow, "airflow", &dir);
            cmd.args(["dags", "test", "etl_jobs", "2026-11-30"])
                .env("AIRFLOW_HOME", &home)
                .env("AIRFLOW__CORE__DAGS_FOLDER", dir.path().join("dags"))
                .env("AIRFLOW__CORE__LOAD_EXAMPLES", "False");
            cmd
        };
        // A process group of its own, so that whatever the scheduler leaves behind is cleaned up.
        let mut child = std::os::unix::process::CommandExt::process_group(&mut cmd, 0)
            .env("ETL_TARGET", &lake)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        stop_in_the_middle(&format!("{to}, {how}"), &listener, || {
            let (_, parent) = etl_process(&dir).expect("etl runs");
            let (pid, signal) =
                if to == "dagster" { (child.id() as i32, libc::SIGTERM) } else { (parent, libc::SIGKILL) };
            assert_eq!(unsafe { libc::kill(pid, signal) }, 0);
        });
        let stopped = std::time::Instant::now();
        while etl_process(&dir).is_some() {
            assert!(stopped.elapsed() < std::time::Duration::from_secs(10), "{to}: etl still runs");
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        assert!(!lake.join("datasets/slow/_lock").exists(), "{to}: the lock is let go");
        // Nothing but the stopped run's record.
        let left: Vec<String> = walk(&lake).into_iter().filter(|k| !k.contains("/_runs/")).collect();
        assert!(left.is_empty(), "{to}: nothing written: {left:?}");
        unsafe { libc::kill(-(child.id() as i32), libc::SIGKILL) };
        let _ = child.wait();
    }
}

/// Every file under `dir` (none if it does not exist).
fn walk(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else { return out };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path.display().to_string());
        }
    }
    out
}

/// The events etl sent (its producer's), of the run whose job is `job`.
fn etl_events<'a>(events: &'a [serde_json::Value], job: &str) -> Vec<&'a serde_json::Value> {
    events
        .iter()
        .filter(|e| {
            e["producer"].as_str().is_some_and(|p| p.contains("crates/etl/")) && e["job"]["name"] == job
        })
        .collect()
}

#[test]
fn the_scheduler_units_make_their_run_the_parent_of_etls_lineage_events() {
    let (Some(s), Some(s3)) = (schedulers(), s3s_env()) else { return };
    let receiver = crate::monitoring::Receiver::start();
    let dir = Dir::new();
    dir.write("orders.csv", "id,total\n1,10.5\n2,20\n");
    dir.write(
        "jobs.yaml",
        "schedule: \"0 6 * * *\"\njobs:\n  - name: orders\n    dataset_id: orders\n    source: {kind: csv, path: orders.csv}\n",
    );

    // Airflow, with its OpenLineage provider sending the task's own events to the same receiver.
    export_to(&dir, "airflow", "dags");
    let target = s3.target("lineage-airflow");
    let mut variable = airflow_variable(&s3, &target);
    variable.insert("OPENLINEAGE_URL".into(), receiver.url.clone().into());
    let transport = serde_json::json!({"type": "http", "url": receiver.url, "endpoint": "api/v1/lineage"});
    let airflow = |args: &[&str]| {
        let mut cmd = airflow_in(&s, &dir, &variable, args);
        cmd.env("AIRFLOW__OPENLINEAGE__NAMESPACE", "airflow-test")
            .env("AIRFLOW__OPENLINEAGE__TRANSPORT", transport.to_string());
        cmd
    };
    let r = run(&mut airflow(&["db", "migrate"]));
    assert_eq!(r.code, 0, "{r:?}");
    let r = run(&mut airflow(&["dags", "test", "etl_jobs", "2026-11-30"]));
    let log = format!("{}{}", r.stdout, r.stderr);
    assert!(log.contains("state=success"), "{log}");
    let events = receiver.take();
    let etl = etl_events(&events, "orders");
    let types: Vec<&str> = etl.iter().map(|e| e["eventType"].as_str().unwrap()).collect();
    assert_eq!(types, ["START", "COMPLETE"], "{events:#?}");
    let parent = &etl[0]["run"]["facets"]["parent"];
    assert_eq!(parent["job"]["namespace"], "airflow-test", "{parent}");
    assert_eq!(parent["job"]["name"], "etl_jobs.orders", "the DAG's task: {parent}");
    assert_eq!(parent["root"]["job"]["name"], "etl_jobs", "the DAG: {parent}");
    // The parent is the task's run as Airflow's own events name it.
    let task_runs: Vec<&str> = events
        .iter()
        .filter(|e| e["job"]["name"] == "etl_jobs.orders")
        .filter_map(|e| e["run"]["runId"].as_str())
        .collect();
    assert!(!task_runs.is_empty(), "Airflow's own events: {events:#?}");
    assert!(task_runs.contains(&parent["run"]["runId"].as_str().unwrap()), "{parent} in {task_runs:?}");
    crate::monitoring::validate(&etl.into_iter().cloned().collect::<Vec<_>>());

    // Dagster: the Dagster run (its job, its id) is the parent.
    export_to(&dir, "dagster", ".");
    std::fs::write(dir.path().join("dagster.yaml"), "telemetry:\n  enabled: false\n").unwrap();
    let target = s3.target("lineage-dagster");
    let r = run(dagster_execute(&s, &dir, "etl_jobs", &target, &s3).env("OPENLINEAGE_URL", &receiver.url));
    let log = format!("{}{}", r.stdout, r.stderr);
    assert_eq!(r.code, 0, "{log}");
    let events = receiver.take();
    let etl = etl_events(&events, "orders");
    assert_eq!(etl.len(), 2, "{events:#?}");
    let parent = &etl[0]["run"]["facets"]["parent"];
    assert_eq!(
        (parent["job"]["namespace"].as_str(), parent["job"]["name"].as_str()),
        (Some("default"), Some("etl_jobs")),
        "{parent}"
    );
    let run_id = parent["run"]["runId"].as_str().unwrap();
    assert!(log.contains(run_id), "the Dagster run's id {run_id} in its log: {log}");
    crate::monitoring::validate(&etl.into_iter().cloned().collect::<Vec<_>>());
}
