use std::process::Command;

use polars::prelude::*;

use crate::util::*;

#[test]
fn upload_csv_to_the_s3_server_and_read_it_back() {
    let Some(s3) = s3_env() else { return };
    let dir = Dir::new();
    let csv = dir.write("events.csv", EVENTS_CSV);
    let target = s3.target("upload");
    let r = ok(s3.apply(&mut dir.etl()).args([
        "upload-csv",
        csv.to_str().unwrap(),
        "--dataset-id",
        "events",
        "--partition-col",
        "at",
        "--target",
        &target,
    ]));
    assert!(r.stderr.contains("6 rows read, 6 rows written, 4 partitions, 4 files"), "{r:?}");
    assert!(r.stderr.contains(&format!("target {target}/datasets/events/")), "{r:?}");
    assert!(!dir.path().join("lake").exists(), "nothing is written locally");

    runtime().block_on(async {
        let store = s3.store(&target).await;
        let all: Vec<String> = store.list("").await.unwrap().into_iter().map(|o| o.key).collect();
        // The run records sit beside the data: the manifest lists exactly the data files.
        let keys: Vec<String> = all.iter().filter(|k| !is_run_record(k)).cloned().collect();
        assert!(all.contains(&"datasets/events/_manifest.json".to_owned()), "{all:?}");
        let manifest: serde_json::Value =
            serde_json::from_slice(&store.get("datasets/events/_manifest.json").await.unwrap()).unwrap();
        let listed: Vec<&str> =
            manifest["files"].as_array().unwrap().iter().map(|f| f["key"].as_str().unwrap()).collect();
        assert_eq!(listed, keys);
        assert_eq!(
            keys,
            vec![
                "datasets/events/partitions/date=2026-10-30/part-0000.parquet",
                "datasets/events/partitions/date=2026-10-31/part-0000.parquet",
                "datasets/events/partitions/date=2026-11-01/part-0000.parquet",
                "datasets/events/partitions/date=__HIVE_DEFAULT_PARTITION__/part-0000.parquet",
            ]
        );
        let df = read_parquet_bytes(
            store.get("datasets/events/partitions/date=2026-11-01/part-0000.parquet").await.unwrap(),
        );
        assert_eq!(strings(&df, "event"), vec![Some("b".into()), Some("f".into())]);
        assert_eq!(dtype(&df, "value"), DataType::Int64);
        assert_eq!(
            micros(&df, "at"),
            vec![Some(utc(2026, 11, 1, 1, 30, 0, 0)), Some(utc(2026, 11, 1, 0, 0, 0, 0))]
        );
    });
}

#[test]
fn clear_dataset_on_the_s3_server_pages_batches_and_spares_neighbours() {
    let Some(s3) = s3_env() else { return };
    let target = s3.target("clear");
    let neighbours =
        ["datasets/a-old/data/part-0000.parquet", "datasets/ab/x", "datasets-a/x", "other/datasets/a/x"];
    runtime().block_on(async {
        let store = s3.store(&target).await;
        let mine: Vec<String> =
            (0..2100).map(|i| format!("datasets/a/partitions/date=2026-01-01/part-{i:04}.parquet")).collect();
        futures::future::try_join_all(
            mine.iter().map(String::as_str).chain(neighbours).map(|k| store.put(k, b"x".to_vec())),
        )
        .await
        .unwrap();
    });
    let dir = Dir::new();
    let r = ok(s3.apply(&mut dir.etl()).args(["clear-dataset", "a", "--yes", "--target", &target]));
    assert!(r.stderr.contains("deleted 2,100 objects"), "{r:?}");
    runtime().block_on(async {
        let store = s3.store(&target).await;
        let left: Vec<String> = store.list("").await.unwrap().into_iter().map(|o| o.key).collect();
        let mut expected: Vec<String> = neighbours.iter().map(|s| s.to_string()).collect();
        expected.sort();
        assert_eq!(left, expected);
        store.delete_many(&left).await.unwrap();
    });
}

#[test]
fn a_rerun_with_fewer_parts_replaces_them_on_s3() {
    let Some(s3) = s3_env() else { return };
    let dir = Dir::new();
    let mut csv = String::from("at,n\n");
    for i in 0..9 {
        csv += &format!("2026-10-31T12:00:00Z,{i}\n");
    }
    let path = dir.write("nine.csv", csv);
    let target = s3.target("rerun");
    let load = |n: &str| {
        ok(s3.apply(&mut dir.etl()).args([
            "upload-csv",
            path.to_str().unwrap(),
            "--dataset-id",
            "nine",
            "--partition-col",
            "at",
            "--max-rows-per-file",
            n,
            "--target",
            &target,
        ]))
    };
    load("3");
    let r = load("9");
    assert!(r.stderr.contains("2 objects deleted"), "{r:?}");
    runtime().block_on(async {
        let store = s3.store(&target).await;
        let keys = data_keys(store.as_ref(), "datasets/nine/").await;
        assert_eq!(keys, vec!["datasets/nine/partitions/date=2026-10-31/part-0000.parquet"]);
        let df = read_parquet_bytes(store.get(&keys[0]).await.unwrap());
        assert_eq!(i64s(&df, "n"), (0..9).map(Some).collect::<Vec<_>>());
    });
}

#[test]
fn an_unreachable_server_fails_fast_with_a_hint() {
    let Some(s3) = s3_env() else { return };
    let dir = Dir::new();
    let csv = dir.write("events.csv", EVENTS_CSV);
    let started = std::time::Instant::now();
    let r = run(s3
        .apply(&mut dir.etl())
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        .env("AWS_MAX_ATTEMPTS", "2")
        .args(["upload-csv", csv.to_str().unwrap(), "--dataset-id", "events", "--target", "s3://nowhere/x"]));
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stderr.contains("could not reach http://127.0.0.1:9"), "{r:?}");
    assert!(started.elapsed().as_secs() < 60);
    assert!(
        !r.stderr.contains(&s3.vars.iter().find(|(k, _)| k == "AWS_SECRET_ACCESS_KEY").unwrap().1),
        "secret printed"
    );
}

#[test]
fn missing_credentials_are_named_in_one_line_and_an_empty_variable_is_unset() {
    // No server needed: the SDK looks for credentials before it sends anything.
    let dir = Dir::new();
    dir.write(".env", "AWS_ENDPOINT_URL=http://127.0.0.1:9\nAWS_REGION=us-east-1\nAWS_PROFILE=\n");
    let r = run(dir
        .etl()
        .env("HOME", dir.path())
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .args(["inspect", "x", "--target", "s3://b"]));
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("no AWS credentials were found"), "{r:?}");
    assert!(!r.stderr.contains("DispatchFailure(") && !r.stderr.contains("profile"), "one line: {r:?}");
}

#[test]
fn staging_for_s3_goes_to_etl_staging_dir_or_tmpdir() {
    let Some(s3) = s3_env() else { return };
    let dir = Dir::new();
    let csv = dir.write("events.csv", EVENTS_CSV);
    let target = s3.target("staging-dir");
    // A run killed at its first upload leaves its staging folder where it staged: the folder named
    // by ETL_STAGING_DIR (made if missing), else TMPDIR's.
    for (var, folder) in [("ETL_STAGING_DIR", "stage/here"), ("TMPDIR", "tmp")] {
        let place = dir.path().join(folder);
        std::fs::create_dir_all(dir.path().join("tmp")).unwrap();
        let r = run(s3.apply(&mut dir.etl()).env(var, &place).env("ETL_FAULT", "kill:upload:1").args([
            "upload-csv",
            csv.to_str().unwrap(),
            "--dataset-id",
            "events",
            "--target",
            &target,
        ]));
        assert_ne!(r.code, 0, "{r:?}");
        let staged: Vec<String> = std::fs::read_dir(&place)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with(".etl-staging-"))
            .collect();
        assert_eq!(staged.len(), 1, "{var}: {staged:?} {r:?}");
        std::fs::remove_dir_all(place.join(&staged[0])).unwrap();
    }
    ok(s3.apply(&mut dir.etl()).args(["repair", "events", "--target", &target]));
}

/// `.env.example` as shipped, with `values` filled in (`NAME=` lines replaced; others appended).
fn env_example_with(values: &[(&str, String)]) -> String {
    let mut text = include_str!("../../.env.example").to_owned();
    for (name, value) in values {
        let line = format!("\n{name}=");
        match text.find(&line) {
            Some(at) => {
                let end = text[at + 1..].find('\n').map_or(text.len(), |i| at + 1 + i);
                text.replace_range(at..end, &format!("\n{name}={value}"));
            }
            None => text += &format!("{name}={value}\n"),
        }
    }
    text
}

#[test]
fn env_example_copied_and_filled_in_runs_against_s3_and_says_when_credentials_are_missing() {
    let Some(s3) = s3_env() else { return };
    let dir = Dir::new();
    dir.write("events.csv", EVENTS_CSV);
    let target = s3.target("env-example");
    let get = |k: &str| s3.vars.iter().find(|(n, _)| n == k).unwrap().1.clone();
    // `cp .env.example .env`, then the values filled in: the run works with nothing else set.
    let filled = env_example_with(&[
        ("ETL_TARGET", target.clone()),
        ("AWS_REGION", get("AWS_REGION")),
        ("AWS_ACCESS_KEY_ID", get("AWS_ACCESS_KEY_ID")),
        ("AWS_SECRET_ACCESS_KEY", get("AWS_SECRET_ACCESS_KEY")),
        ("AWS_ENDPOINT_URL", get("AWS_ENDPOINT_URL")),
    ]);
    dir.write(".env", &filled);
    let r =
        ok(dir.etl().env("HOME", dir.path()).args(["upload-csv", "events.csv", "--dataset-id", "events"]));
    assert!(r.stderr.contains(&format!("target {target}/datasets/events/")), "{r:?}");
    ok(dir.etl().env("HOME", dir.path()).args(["clear-dataset", "events", "--yes"]));
    // As shipped, but for the target: no credentials, said in one line.
    dir.write(".env", env_example_with(&[("ETL_TARGET", target.clone())]));
    let r = run(dir.etl().env("HOME", dir.path()).env("AWS_EC2_METADATA_DISABLED", "true").args([
        "upload-csv",
        "events.csv",
        "--dataset-id",
        "events",
    ]));
    assert_eq!(r.code, 2, "{r:?}");
    let first = r.stderr.lines().next().unwrap_or_default();
    assert!(first.starts_with("error: ") && first.contains("no AWS credentials were found"), "{r:?}");
    assert!(r.stderr.lines().count() <= 2, "one line and the summary: {r:?}");
}

#[test]
fn refused_credentials_and_a_missing_bucket_are_named_in_one_line() {
    let Some(s3) = s3_env() else { return };
    let dir = Dir::new();
    let csv = dir.write("events.csv", EVENTS_CSV);
    let upload = |cmd: &mut Command, target: &str| {
        run(cmd.args(["upload-csv", csv.to_str().unwrap(), "--dataset-id", "events", "--target", target]))
    };
    let r = upload(
        s3.apply(&mut dir.etl()).env("AWS_SECRET_ACCESS_KEY", "not-the-secret-at-all"),
        &s3.target("refused"),
    );
    assert_eq!(r.code, 1, "{r:?}");
    let first = r.stderr.lines().next().unwrap();
    assert!(
        first.contains("(HTTP 403)") && first.contains("check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"),
        "{r:?}"
    );
    assert!(
        !first.contains("Error {") && !first.contains("service error"),
        "the server's words, not the SDK's: {r:?}"
    );
    let r = upload(s3.apply(&mut dir.etl()), "s3://no-such-bucket-etl/x");
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.stderr.lines().next().unwrap().contains("(no bucket `no-such-bucket-etl`: check the target)"),
        "{r:?}"
    );
}
