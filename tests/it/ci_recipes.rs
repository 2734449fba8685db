//! Issue 29, item 9: the CI smoke-job recipes of docs/ci/, as a user copies them. Each is valid by
//! its platform's schema (check-jsonschema's built-in GitHub-workflow and GitLab-CI schemas, from
//! the `ci` venv of scripts/schedulers-up.sh), and its etl steps, run as written with bash, load into
//! the S3 server (Garage, the stand-in for the recipes' MinIO) and read the rows back with polars.
//! What sets the machine up (MinIO, the bucket, installing etl and polars) is the test's own: each
//! such step is named here, so that a new step is either run or said to be set-up.

use std::path::Path;

use serde_yaml::Value;

use crate::util::*;

const GITHUB: &str = include_str!("../../docs/ci/github-actions.yml");
const GITLAB: &str = include_str!("../../docs/ci/gitlab-ci.yml");

/// check-jsonschema, or `None` (skipped) without the schedulers' venvs unless they are required.
fn check_jsonschema() -> Option<String> {
    match initial_env("ETL_CI_VENV") {
        Some(venv) => Some(format!("{venv}/bin/check-jsonschema")),
        None => {
            assert!(
                std::env::var("ETL_REQUIRE_SCHEDULERS").is_err(),
                "ETL_REQUIRE_SCHEDULERS is set but ETL_CI_VENV is not: run scripts/test.sh"
            );
            eprintln!("skipped: no check-jsonschema (run scripts/test.sh)");
            None
        }
    }
}

#[test]
fn the_recipes_are_valid_by_their_platforms_schemas() {
    let Some(check) = check_jsonschema() else { return };
    let docs = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/ci");
    for (file, schema) in
        [("github-actions.yml", "vendor.github-workflows"), ("gitlab-ci.yml", "vendor.gitlab-ci")]
    {
        let r = run(std::process::Command::new(&check)
            .args(["--builtin-schema", schema])
            .arg(Path::new(docs).join(file)));
        assert_eq!(r.code, 0, "{file} against {schema}: {r:?}");
    }
    // And the validator does judge: a misspelt key is refused.
    let dir = Dir::new();
    let bad = dir.write("bad.yml", GITHUB.replace("runs-on:", "run-on:"));
    let r = run(std::process::Command::new(&check)
        .args(["--builtin-schema", "vendor.github-workflows"])
        .arg(bad));
    assert_ne!(r.code, 0, "{r:?}");
}

/// Runs `script` with bash as the platform does (`-e`: the first failing command fails the step)
/// in `dir`, with `etl` and the readers' python on the PATH and `env` (the recipe's variables, the
/// S3 server's in place of MinIO's).
fn step(dir: &Dir, script: &str, env: &[(String, String)]) -> Run {
    let bin = dir.etl_on_path();
    run(std::process::Command::new("bash")
        .current_dir(dir.path())
        .env_clear()
        // The test's own PATH after etl's: the readers' python3 is on it (scripts/readers-up.sh).
        .env("PATH", format!("{}:{}", bin.display(), initial_env("PATH").unwrap_or_default()))
        .env("HOME", initial_env("HOME").unwrap_or_default())
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .envs(env.iter().map(|(k, v)| (k, v)))
        .args(["--noprofile", "--norc", "-eo", "pipefail", "-c", script]))
}

/// The recipe's variables (`env:` or `variables:`), with the S3 server's settings and a target of
/// the test's own in place of MinIO's.
fn variables(map: &Value, s3: &S3Env, test: &str) -> Vec<(String, String)> {
    let mut vars: Vec<(String, String)> = map
        .as_mapping()
        .expect("a map of variables")
        .iter()
        .map(|(k, v)| (k.as_str().unwrap().to_owned(), v.as_str().unwrap().to_owned()))
        .filter(|(k, _)| !k.starts_with("AWS_") && k != "ETL_TARGET")
        .collect();
    vars.extend(s3.vars.iter().filter(|(k, _)| k.starts_with("AWS_")).cloned());
    vars.push(("ETL_TARGET".into(), s3.target(test)));
    vars
}

/// What every recipe's steps must have said: the store checked, three rows loaded into two
/// partitions, and polars reading them back.
fn assert_loaded_and_read_back(outputs: &[Run]) {
    let stderr: String = outputs.iter().map(|r| r.stderr.as_str()).collect();
    let stdout: String = outputs.iter().map(|r| r.stdout.as_str()).collect();
    assert!(stderr.contains("etl doctor: ok:"), "{outputs:?}");
    assert!(stderr.contains("etl upload-csv: ok: 3 rows read, 3 rows written, 2 partitions"), "{outputs:?}");
    assert!(stdout.contains("dataset ci-smoke") && stdout.contains("shape: (3, 3)"), "{outputs:?}");
}

#[test]
fn the_github_workflow_loads_and_reads_back_against_the_s3_server() {
    let Some(s3) = s3_env() else { return };
    let workflow: Value = serde_yaml::from_str(GITHUB).unwrap();
    let job = &workflow["jobs"]["smoke"];
    let env = variables(&job["env"], &s3, "ci-github");
    // The machine's set-up, which this test's machine has: Garage and its bucket, etl, polars.
    let set_up = [
        "Check out",
        "Start MinIO",
        "Create the bucket",
        "Cache etl",
        "Install etl",
        "Install polars (the read-back)",
    ];
    let dir = Dir::new();
    let mut outputs = Vec::new();
    for s in job["steps"].as_sequence().unwrap() {
        let name = s["name"].as_str().expect("every step is named");
        if set_up.contains(&name) {
            continue;
        }
        let script =
            s["run"].as_str().unwrap_or_else(|| panic!("step `{name}`: neither set-up nor a `run:`"));
        let r = step(&dir, script, &env);
        assert_eq!(r.code, 0, "step `{name}`: {r:?}");
        outputs.push(r);
    }
    assert_eq!(outputs.len(), 3, "doctor, load, read-back");
    assert_loaded_and_read_back(&outputs);
}

#[test]
fn the_gitlab_job_loads_and_reads_back_against_the_s3_server() {
    let Some(s3) = s3_env() else { return };
    let pipeline: Value = serde_yaml::from_str(GITLAB).unwrap();
    let job = &pipeline["etl-smoke"];
    assert_eq!(job["services"][0]["command"], serde_yaml::from_str::<Value>("[server, /data]").unwrap());
    let env = variables(&job["variables"], &s3, "ci-gitlab");
    // `before_script:` is the machine's set-up (apt, polars, etl, the bucket); `script:` runs as
    // GitLab runs it, one shell, stopping at the first failure.
    let script: Vec<&str> =
        job["script"].as_sequence().unwrap().iter().map(|l| l.as_str().unwrap()).collect();
    let dir = Dir::new();
    let r = step(&dir, &script.join("\n"), &env);
    assert_eq!(r.code, 0, "{r:?}");
    assert_loaded_and_read_back(&[r]);
}
