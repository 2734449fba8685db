use crate::util::*;

/// A drop folder of its own on the S3 server: `(store of the folder, glob of its CSV objects)`.
fn drop_folder(s3: &S3Env, test: &str) -> (String, String) {
    let folder = format!("s3://{}/drop-{}-{}", s3.bucket, test, std::process::id());
    let glob = format!("{folder}/*.csv");
    (folder, glob)
}

/// Every row of the dataset, as (partition folder, event), read back from its Parquet files.
async fn rows_of(store: &dyn etl::store::ObjectStore, dataset: &str) -> Vec<(String, String)> {
    let mut rows = Vec::new();
    for key in data_keys(store, &format!("datasets/{dataset}/")).await {
        let df = read_parquet_bytes(store.get(&key).await.unwrap());
        let folder = key.rsplit_once('/').unwrap().0.rsplit('/').next().unwrap().to_owned();
        for event in strings(&df, "event") {
            rows.push((folder.clone(), event.unwrap()));
        }
    }
    rows.sort();
    rows
}

fn state_urls(state: &serde_json::Value) -> Vec<String> {
    state["objects"].as_array().unwrap().iter().map(|o| o["url"].as_str().unwrap().to_owned()).collect()
}

#[test]
fn a_drop_folder_loads_each_object_once_and_appends_new_ones() {
    let Some(s3) = s3_env() else { return };
    let dir = Dir::new();
    let target = s3.target("s3drop");
    let (folder, glob) = drop_folder(&s3, "once");
    let load = |dir: &Dir| {
        let mut cmd = dir.etl();
        s3.apply(&mut cmd).args([
            "load-s3",
            "--source",
            &glob,
            "--dataset-id",
            "drops",
            "--partition-col",
            "at",
            "--target",
            &target,
        ]);
        cmd
    };
    runtime().block_on(async {
        let drop = s3.store(&folder).await;
        drop.put("day1.csv", b"at,event\n2026-11-01,a\n2026-11-01,b\n".to_vec()).await.unwrap();
        drop.put("day2.csv", b"at,event\n2026-11-02,c\n2026-11-02,d\n".to_vec()).await.unwrap();
        // Not matched: another extension, a sub-folder.
        drop.put("notes.txt", b"x".to_vec()).await.unwrap();
        drop.put("old/day0.csv", b"at,event\n2026-10-31,z\n".to_vec()).await.unwrap();
    });

    let r = ok(&mut load(&dir));
    assert!(r.stderr.contains("4 rows read, 4 rows written, 2 partitions, 2 files"), "{r:?}");
    assert!(r.stderr.contains("all 2 matching objects loaded"), "{r:?}");

    // Nothing new: nothing read, nothing written.
    let r = ok(&mut load(&dir));
    assert!(r.stderr.contains("nothing new: all 2 matching objects were loaded before"), "{r:?}");
    assert!(r.stderr.contains("0 rows read"), "{r:?}");

    runtime().block_on(async {
        let store = s3.store(&target).await;
        let state: serde_json::Value =
            serde_json::from_slice(&store.get("datasets/drops/_state.json").await.unwrap()).unwrap();
        assert_eq!(state_urls(&state), vec![format!("{folder}/day1.csv"), format!("{folder}/day2.csv")]);
        assert!(state["objects"][0]["etag"].as_str().is_some_and(|e| !e.is_empty()), "{state}");
        // The second run wrote nothing but its record: ok, nothing new.
        let runs = store.list("datasets/drops/_runs/").await.unwrap();
        assert_eq!(runs.len(), 2, "{runs:?}");
        let second: serde_json::Value =
            serde_json::from_slice(&store.get(&runs[1].key).await.unwrap()).unwrap();
        assert_eq!(
            (second["status"].as_str(), second["rows_written"].as_u64()),
            (Some("ok"), Some(0)),
            "{second}"
        );
        assert!(second["note"].as_str().unwrap().contains("nothing new"), "{second}");
        assert!(second["files"].as_array().unwrap().is_empty(), "{second}");
        let drop = s3.store(&folder).await;
        drop.put("day3.csv", b"at,event\n2026-11-02,e\n2026-11-03,f\n".to_vec()).await.unwrap();
    });

    let r = ok(&mut load(&dir));
    assert!(r.stderr.contains("2 rows read, 2 rows written, 2 partitions, 2 files"), "{r:?}");
    assert!(r.stderr.contains("1 new objects loaded, 2 loaded before"), "{r:?}");
    runtime().block_on(async {
        let store = s3.store(&target).await;
        assert_eq!(
            data_keys(store.as_ref(), "datasets/drops/").await,
            vec![
                "datasets/drops/partitions/date=2026-11-01/part-0000.parquet",
                "datasets/drops/partitions/date=2026-11-02/part-0000.parquet",
                "datasets/drops/partitions/date=2026-11-02/part-0001.parquet",
                "datasets/drops/partitions/date=2026-11-03/part-0000.parquet",
            ]
        );
        let day = |d: &str, e: &str| (format!("date={d}"), e.to_owned());
        assert_eq!(
            rows_of(store.as_ref(), "drops").await,
            vec![
                day("2026-11-01", "a"),
                day("2026-11-01", "b"),
                day("2026-11-02", "c"),
                day("2026-11-02", "d"),
                day("2026-11-02", "e"),
                day("2026-11-03", "f"),
            ]
        );
        // A file an append uploaded before it stopped (the manifest does not list it): the next
        // run cannot trust the files, and loads every object again.
        store
            .put("datasets/drops/partitions/date=2026-11-02/part-0007.parquet", b"half".to_vec())
            .await
            .unwrap();
        let drop = s3.store(&folder).await;
        drop.put("day4.csv", b"at,event\n2026-11-04,g\n".to_vec()).await.unwrap();
    });
    let r = ok(&mut load(&dir));
    assert!(r.stderr.contains("differ from what its manifest lists"), "{r:?}");
    assert!(r.stderr.contains("all 4 matching objects loaded"), "{r:?}");
    runtime().block_on(async {
        let store = s3.store(&target).await;
        let keys = data_keys(store.as_ref(), "datasets/drops/").await;
        assert!(!keys.iter().any(|k| k.ends_with("part-0007.parquet")), "{keys:?}");
        assert_eq!(rows_of(store.as_ref(), "drops").await.len(), 7);
        // An object that changed since it was loaded: everything is loaded again, once.
        let drop = s3.store(&folder).await;
        drop.put("day4.csv", b"at,event\n2026-11-04,g2\n".to_vec()).await.unwrap();
        drop.put("day1.csv", b"at,event\n2026-11-01,a2\n".to_vec()).await.unwrap();
    });

    let r = ok(&mut load(&dir));
    assert!(
        r.stderr.contains("changed since they were loaded: loading all 4 matching objects again"),
        "{r:?}"
    );
    assert!(r.stderr.contains("all 4 matching objects loaded"), "{r:?}");
    runtime().block_on(async {
        let store = s3.store(&target).await;
        let day = |d: &str, e: &str| (format!("date={d}"), e.to_owned());
        assert_eq!(
            rows_of(store.as_ref(), "drops").await,
            vec![
                day("2026-11-01", "a2"),
                day("2026-11-02", "c"),
                day("2026-11-02", "d"),
                day("2026-11-02", "e"),
                day("2026-11-03", "f"),
                day("2026-11-04", "g2"),
            ]
        );
        let state: serde_json::Value =
            serde_json::from_slice(&store.get("datasets/drops/_state.json").await.unwrap()).unwrap();
        assert_eq!(state_urls(&state).len(), 4);
    });
}

#[test]
fn merge_and_partition_ranges_are_refused() {
    let Some(s3) = s3_env() else { return };
    let dir = Dir::new();
    let (_, glob) = drop_folder(&s3, "usage");
    for extra in [["--mode", "merge"], ["--partition-range", "2026-11-01..2026-11-02"]] {
        let r = run(s3
            .apply(&mut dir.etl())
            .args(["load-s3", "--source", &glob, "--dataset-id", "u"])
            .args(extra));
        assert_eq!(r.code, 2, "{r:?}");
        assert!(r.stderr.contains("load-s3"), "{r:?}");
    }
}

#[test]
fn a_bad_object_is_named_with_its_line_and_nothing_is_written() {
    let Some(s3) = s3_env() else { return };
    let dir = Dir::new();
    let target = s3.target("s3bad");
    let (folder, glob) = drop_folder(&s3, "bad");
    runtime().block_on(async {
        let drop = s3.store(&folder).await;
        drop.put("a.csv", b"n,event\n1,a\n2,b\n".to_vec()).await.unwrap();
        drop.put("b.csv", b"n,event\n3,c\nfour,d\n".to_vec()).await.unwrap();
    });
    let args = |dataset: &str, extra: &[&str]| {
        let mut cmd = dir.etl();
        s3.apply(&mut cmd).args(["load-s3", "--source", &glob, "--dataset-id", dataset, "--target", &target]);
        cmd.args(extra);
        cmd
    };
    let r = run(&mut args("bad", &["--types", "n=int64"]));
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stderr.contains(&format!("{folder}/b.csv:3: column `n`")), "{r:?}");
    // Skipping bad rows names them the same way, and loads the rest.
    let r = ok(&mut args("bad", &["--types", "n=int64", "--on-bad-rows", "skip"]));
    assert!(r.stderr.contains(&format!("{folder}/b.csv:3: bad row left out")), "{r:?}");
    assert!(r.stderr.contains("3 rows written"), "{r:?}");

    // A file whose header differs from the first file's is named too.
    runtime().block_on(async {
        let drop = s3.store(&folder).await;
        drop.put("c.csv", b"n,other\n5,e\n".to_vec()).await.unwrap();
    });
    let r = run(&mut args("bad2", &[]));
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stderr.contains(&format!("{folder}/c.csv:1: its columns (n, other) differ")), "{r:?}");
    // Loaded alone into the first dataset, its missing column is a schema change, refused.
    let r = run(&mut args("bad", &[]));
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stderr.contains("the schema of bad changed"), "{r:?}");
    runtime().block_on(async {
        let store = s3.store(&target).await;
        assert!(data_keys(store.as_ref(), "datasets/bad2/").await.is_empty(), "nothing written");
        let state: serde_json::Value =
            serde_json::from_slice(&store.get("datasets/bad/_state.json").await.unwrap()).unwrap();
        assert_eq!(state_urls(&state).len(), 2, "the failed run did not move the state");
    });

    // A glob that matches nothing says so, and writes nothing.
    let r = ok(s3.apply(&mut dir.etl()).args([
        "load-s3",
        "--source",
        &format!("{folder}/*.tsv"),
        "--dataset-id",
        "none",
        "--target",
        &target,
    ]));
    assert!(r.stderr.contains("no object matches"), "{r:?}");
}

#[test]
fn an_object_with_a_name_too_long_for_a_file_is_loaded() {
    // A key's last segment past what a file name may be (255 bytes) once failed every poll with
    // ENAMETOOLONG (issue 15).
    let Some(s3) = s3_env() else { return };
    let dir = Dir::new();
    let (folder, glob) = drop_folder(&s3, "long");
    let name = format!("{}.csv", "é-long-export-name".repeat(20));
    assert!(name.len() > 300);
    runtime().block_on(async {
        s3.store(&folder).await.put(&name, b"at,event\n2026-11-01,a\n".to_vec()).await.unwrap();
    });
    let mut cmd = dir.etl();
    let target = s3.target("s3long");
    let r = ok(s3.apply(&mut cmd).args([
        "load-s3",
        "--source",
        &glob,
        "--dataset-id",
        "long",
        "--target",
        &target,
    ]));
    assert!(r.stderr.contains("1 row written"), "{r:?}");
}

/// With a primary key, a re-delivered export (the same rows again, some updated, in a new object)
/// replaces the rows it repeats instead of adding them twice.
#[test]
fn a_redelivered_export_with_a_key_loads_no_row_twice() {
    let Some(s3) = s3_env() else { return };
    let dir = Dir::new();
    let target = s3.target("s3upsert");
    let (folder, glob) = drop_folder(&s3, "upsert");
    let load = |dir: &Dir| {
        let mut cmd = dir.etl();
        s3.apply(&mut cmd).args([
            "load-s3",
            "--source",
            &glob,
            "--dataset-id",
            "drops",
            "--partition-col",
            "at",
        ]);
        ok(cmd.args(["--primary-key", "event", "--target", &target]))
    };
    let drop = |name: &'static str, body: &'static str| {
        runtime()
            .block_on(async { s3.store(&folder).await.put(name, body.as_bytes().to_vec()).await.unwrap() })
    };
    // The first run loads every object, `a` twice: once.
    drop("export-0.csv", "at,event\n2026-11-01,a\n");
    drop("export-1.csv", "at,event\n2026-11-01,a\n2026-11-01,b\n");
    let r = load(&dir);
    assert!(r.stderr.contains("one row per key (event): 2 keys"), "{r:?}");
    // The same export delivered again under a new name, with `b` moved to the next day and a new `c`.
    drop("export-1-again.csv", "at,event\n2026-11-01,a\n2026-11-02,b\n2026-11-02,c\n");
    let r = load(&dir);
    assert!(r.stderr.contains("upsert by event: 1 inserted, 2 updated (1 moved to another day)"), "{r:?}");
    let rows = runtime().block_on(async { rows_of(s3.store(&target).await.as_ref(), "drops").await });
    assert_eq!(
        rows,
        [
            ("date=2026-11-01".to_owned(), "a".to_owned()),
            ("date=2026-11-02".to_owned(), "b".to_owned()),
            ("date=2026-11-02".to_owned(), "c".to_owned()),
        ]
    );
}
