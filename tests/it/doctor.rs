//! `etl doctor` against a folder, Garage (which ignores `If-None-Match`) and s3s-fs (which honours
//! it): every check named, the difference in conditional writes reported, nothing left behind, and
//! a bad key or a missing bucket failing with the server's own words.

use crate::util::*;

/// The lines of the check table, by check name: (result, detail).
fn checks(stdout: &str) -> Vec<(String, String, String)> {
    stdout
        .lines()
        .skip_while(|l| !l.starts_with("CHECK"))
        .skip(1)
        .take_while(|l| !l.is_empty())
        .map(|l| {
            let mut cells = l.split_whitespace();
            let mut name = cells.next().unwrap().to_owned();
            let mut result = cells.next().unwrap().to_owned();
            // Two-word names: `conditional create`, `multipart upload`, `server-side copy`.
            if !["ok", "warning", "FAILED", "skipped"].contains(&result.as_str()) {
                name = format!("{name} {result}");
                result = cells.next().unwrap().to_owned();
            }
            let _ms = cells.next();
            (name, result, cells.collect::<Vec<_>>().join(" "))
        })
        .collect()
}

const NAMES: [&str; 7] =
    ["list", "put", "get", "conditional create", "multipart upload", "server-side copy", "delete"];

fn result_of<'a>(table: &'a [(String, String, String)], name: &str) -> &'a str {
    &table.iter().find(|c| c.0 == name).unwrap_or_else(|| panic!("no check `{name}`: {table:?}")).1
}

#[test]
fn a_folder_passes_every_check_and_keeps_nothing() {
    let dir = Dir::new();
    let r = ok(dir.etl().args(["doctor", "--target", "lake"]));
    let table = checks(&r.stdout);
    assert_eq!(table.iter().map(|c| c.0.as_str()).collect::<Vec<_>>(), NAMES, "{r:?}");
    assert!(table.iter().all(|c| c.1 == "ok"), "{r:?}");
    assert!(r.stdout.contains("lock: exclusive"), "{r:?}");
    assert!(r.stderr.contains("etl doctor: ok: 7 checks passed; lock exclusive"), "{r:?}");
    assert_eq!(dir.all_lake_keys(), Vec::<String>::new(), "nothing is left under the target");
}

#[test]
fn garage_and_s3s_differ_in_conditional_writes() {
    let (Some(garage), Some(s3s)) = (s3_env(), s3s_env()) else { return };
    let dir = Dir::new();
    let prefix = format!("doctor-{}", std::process::id());

    let target = format!("s3://{}/{prefix}", garage.bucket);
    let r = ok(garage.apply(&mut dir.etl()).args(["doctor", "--target", &target]));
    let table = checks(&r.stdout);
    assert_eq!(table.iter().map(|c| c.0.as_str()).collect::<Vec<_>>(), NAMES, "{r:?}");
    assert_eq!(result_of(&table, "conditional create"), "warning", "{r:?}");
    assert!(r.stdout.contains("the store ignores If-None-Match"), "{r:?}");
    assert!(r.stdout.contains("lock: best effort"), "{r:?}");
    assert!(r.stdout.contains("addressing   path-style"), "{r:?}");
    assert!(!r.stdout.contains(&garage.vars.iter().find(|v| v.0 == "AWS_SECRET_ACCESS_KEY").unwrap().1));
    assert!(r.stderr.contains("6 checks passed, 1 warning; lock best effort"), "{r:?}");
    let left = runtime().block_on(async { garage.store(&target).await.list("").await.unwrap() });
    assert!(left.is_empty(), "doctor leaves nothing on Garage: {left:?}");

    let target = format!("s3://{}/{prefix}", s3s.bucket);
    let r = ok(s3s.apply(&mut dir.etl()).args(["doctor", "--target", &target, "--json"]));
    let report: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(report["lock"], "exclusive", "{r:?}");
    let outcomes: Vec<&str> =
        report["checks"].as_array().unwrap().iter().map(|c| c["outcome"].as_str().unwrap()).collect();
    assert_eq!(outcomes, ["ok"; 7], "{r:?}");

    // A wrong secret: the server's refusal, exit 1, the rest not tried.
    let r = run(garage.apply(&mut dir.etl()).env("AWS_SECRET_ACCESS_KEY", "wrong").args([
        "doctor",
        "--target",
        &target.replace(&s3s.bucket, &garage.bucket),
    ]));
    assert_eq!(r.code, 1, "{r:?}");
    let table = checks(&r.stdout);
    assert_eq!(result_of(&table, "list"), "FAILED", "{r:?}");
    assert_eq!(result_of(&table, "put"), "skipped", "{r:?}");
    assert!(r.stderr.contains("Invalid signature") && r.stderr.contains("AWS_SECRET_ACCESS_KEY"), "{r:?}");
    // A bucket that is not there.
    let r = run(garage.apply(&mut dir.etl()).args(["doctor", "--target", "s3://no-such-bucket-here"]));
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stderr.contains("NoSuchBucket"), "{r:?}");
}
