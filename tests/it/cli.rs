use crate::util::*;

#[test]
fn help_lists_the_commands_and_exits_zero() {
    let dir = Dir::new();
    let r = ok(dir.etl().arg("--help"));
    for cmd in ["upload-csv", "load-cursor-usage", "clear-dataset", "--target", "--log-format"] {
        assert!(r.stdout.contains(cmd), "{cmd}: {r:?}");
    }
    let r = ok(dir.etl().args(["upload-csv", "--help"]));
    assert!(r.stdout.contains("--partition-col") && r.stdout.contains("--max-rows-per-file"), "{r:?}");
}

#[test]
fn bad_usage_exits_two() {
    let dir = Dir::new();
    assert_eq!(run(dir.etl().arg("no-such-command")).code, 2);
    assert_eq!(run(dir.etl().args(["upload-csv", "x.csv"])).code, 2, "--dataset-id is required");
    assert_eq!(
        run(dir.etl().args(["upload-csv", "x.csv", "--dataset-id", "x", "--target", "gs://b"])).code,
        2
    );
}

#[test]
fn json_logs_end_with_a_machine_readable_summary() {
    let dir = Dir::new();
    let csv = dir.write("a.csv", "n,at\n1,2026-01-01\n2,2026-01-02\n");
    let r = ok(dir.etl().args([
        "--log-format",
        "json",
        "upload-csv",
        csv.to_str().unwrap(),
        "--dataset-id",
        "a",
        "--partition-col",
        "at",
    ]));
    let last = r.stderr.lines().last().unwrap();
    let v: serde_json::Value = serde_json::from_str(last).unwrap();
    assert_eq!(v["event"], "summary");
    assert_eq!(v["summary"]["status"], "ok");
    assert_eq!(v["summary"]["rows_written"], 2);
    assert_eq!(v["summary"]["partitions"], 2);
    assert_eq!(v["summary"]["dataset"], "a");

    let r = run(dir.etl().args(["--log-format", "json", "upload-csv", "missing.csv", "--dataset-id", "a"]));
    let v: serde_json::Value = serde_json::from_str(r.stderr.lines().last().unwrap()).unwrap();
    assert_eq!(v["summary"]["status"], "failed");
    assert!(v["summary"]["error"].as_str().unwrap().contains("missing.csv"));
}

#[test]
fn a_malformed_env_file_is_reported_without_its_content() {
    let dir = Dir::new();
    dir.write(".env", "ETL_LOG_FORMAT=text\nDOMO_CLIENT_SECRET='never-print-this-secret\n");
    let r = run(dir.etl().args(["load-domo", "--list"]));
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("`.env` in the current folder: line 2 cannot be parsed"), "{r:?}");
    assert!(!r.stderr.contains("never-print-this-secret"), "{r:?}");
}

#[test]
fn print_config_masks_secrets() {
    let dir = Dir::new();
    dir.write(".env", "DOMO_CLIENT_SECRET=dotenv-secret-value\nETL_TARGET=./somewhere\n");
    let r = ok(dir
        .etl()
        .args(["--print-config", "load-domo", "--list"])
        .env("AWS_SECRET_ACCESS_KEY", "aws-secret-value")
        .env("AWS_REGION", "eu-west-1")
        .env("DATABASE_URL", "postgres://etl:pg-password@db/x"));
    for needle in [
        "command: load-domo",
        "target: ./somewhere",
        "AWS_REGION: eu-west-1",
        "AWS_SECRET_ACCESS_KEY: set (16 characters, masked)",
        "DOMO_CLIENT_SECRET: set (19 characters, masked)",
        "DATABASE_URL: set (",
    ] {
        assert!(r.stdout.contains(needle), "{needle:?} missing from {r:?}");
    }
    for secret in ["aws-secret-value", "dotenv-secret-value", "pg-password"] {
        assert!(!r.stdout.contains(secret) && !r.stderr.contains(secret), "{secret} leaked: {r:?}");
    }
}
