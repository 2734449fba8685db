use crate::util::*;

/// Datasets whose names share a prefix with `a`, plus objects outside `datasets/`.
const NEIGHBOURS: [&str; 5] = [
    "datasets/a-old/data/part-0000.parquet",
    "datasets/ab/data/part-0000.parquet",
    "datasets/a.b/data/part-0000.parquet",
    "datasets-a/x.parquet",
    "other/datasets/a/data/part-0000.parquet",
];

fn seed(dir: &Dir) {
    for key in NEIGHBOURS.iter().chain(&[
        "datasets/a/data/part-0000.parquet",
        "datasets/a/partitions/date=2026-01-01/part-0000.parquet",
    ]) {
        dir.write(&format!("lake/{key}"), key);
    }
}

#[test]
fn clears_one_dataset_and_nothing_next_to_it() {
    let dir = Dir::new();
    seed(&dir);
    let r = ok(dir.etl().args(["clear-dataset", "a", "--yes"]));
    assert!(r.stderr.contains("deleted 2 objects"), "{r:?}");
    assert_eq!(dir.lake_keys(), {
        let mut n: Vec<String> = NEIGHBOURS.iter().map(|s| s.to_string()).collect();
        n.sort();
        n
    });
    // Running it again finds no dataset `a`: a usage error, as `inspect` and `runs` say it (issue 29),
    // naming the ids there are.
    let r = run(dir.etl().args(["clear-dataset", "a", "--yes"]));
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stderr.contains("there is no dataset `a`") && r.stderr.contains("its datasets: a-old, a.b, ab"),
        "{r:?}"
    );
}

#[test]
fn dry_run_lists_and_deletes_nothing() {
    let dir = Dir::new();
    seed(&dir);
    let r = ok(dir.etl().args(["clear-dataset", "a", "--dry-run"]));
    assert_eq!(
        r.stdout.lines().collect::<Vec<_>>(),
        vec!["datasets/a/data/part-0000.parquet", "datasets/a/partitions/date=2026-01-01/part-0000.parquet"]
    );
    assert_eq!(dir.lake_keys().len(), NEIGHBOURS.len() + 2);
}

#[test]
fn without_yes_and_without_a_terminal_it_refuses() {
    let dir = Dir::new();
    seed(&dir);
    let r = run(dir.etl().args(["clear-dataset", "a"]));
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("pass --yes"), "{r:?}");
    assert_eq!(dir.lake_keys().len(), NEIGHBOURS.len() + 2);
}

#[test]
fn ids_that_could_escape_the_dataset_are_refused() {
    let dir = Dir::new();
    seed(&dir);
    for id in ["a/..", "..", "a*", ""] {
        let r = run(dir.etl().args(["clear-dataset", id, "--yes"]));
        assert_eq!(r.code, 2, "{id:?} {r:?}");
    }
    assert_eq!(dir.lake_keys().len(), NEIGHBOURS.len() + 2);
}

#[test]
fn the_summary_says_what_was_or_would_be_deleted_or_that_nothing_was_there() {
    let dir = Dir::new();
    seed(&dir);
    let r = ok(dir.etl().args(["clear-dataset", "a", "--dry-run"]));
    assert!(r.stderr.contains("etl clear-dataset: dry-run: would delete 2 objects ("), "{r:?}");
    assert!(!r.stderr.contains("rows"), "a clear has no rows: {r:?}");
    let r = run(dir.etl().args(["clear-dataset", "typo", "--yes"]));
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("error: there is no dataset `typo`"), "{r:?}");
}
