//! Issue 29, item 9: the container image. `scripts/image.sh` builds the Containerfile with buildah
//! around the binary under test; inside it, `etl --version` answers, the main job loads the sample
//! export into a mounted folder (the very bytes a run outside writes) and `etl doctor` reaches the S3
//! server. Skipped without buildah unless ETL_REQUIRE_IMAGE=1 (scripts/test.sh installs it).

use std::process::Command;

use crate::util::*;

/// buildah, with the storage and isolation that work without a daemon or overlay mounts (CI's).
fn buildah() -> Command {
    let mut cmd = Command::new("buildah");
    cmd.env("STORAGE_DRIVER", "vfs").env("BUILDAH_ISOLATION", "chroot");
    cmd
}

fn have_buildah() -> bool {
    let found = Command::new("buildah").arg("--version").output().is_ok_and(|o| o.status.success());
    if !found {
        assert!(
            std::env::var("ETL_REQUIRE_IMAGE").is_err(),
            "ETL_REQUIRE_IMAGE is set but buildah is missing"
        );
        eprintln!("skipped: no buildah (scripts/test.sh installs it)");
    }
    found
}

/// The image and a working container of it, removed when dropped.
struct Image {
    tag: String,
    container: String,
}

impl Image {
    fn build() -> Image {
        let tag = format!("localhost/etl-test:{}", std::process::id());
        let built = ok(Command::new("bash")
            .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/image.sh"))
            .arg(&tag)
            .env("ETL_BINARY", env!("CARGO_BIN_EXE_etl"))
            .env("STORAGE_DRIVER", "vfs")
            .env("BUILDAH_ISOLATION", "chroot"));
        assert_eq!(built.stdout.trim(), tag, "the script prints the tag it built: {built:?}");
        let container = ok(buildah().args(["from", &tag])).stdout.trim().to_owned();
        Image { tag, container }
    }

    /// `args` run inside the container, as its user in its working folder, with `mounts`
    /// (`host:container`) and `env`.
    fn run(&self, mounts: &[String], env: &[(String, String)], args: &[&str]) -> Run {
        let mut cmd = buildah();
        cmd.arg("run");
        for m in mounts {
            cmd.args(["--volume", m]);
        }
        for (k, v) in env {
            cmd.args(["--env", &format!("{k}={v}")]);
        }
        cmd.arg(&self.container).arg("--").args(args);
        run(&mut cmd)
    }
}

impl Drop for Image {
    fn drop(&mut self) {
        let _ = buildah().args(["rm", &self.container]).output();
        let _ = buildah().args(["rmi", "--force", &self.tag]).output();
    }
}

#[test]
fn the_image_runs_the_main_job_and_reaches_the_store() {
    if !have_buildah() {
        return;
    }
    let image = Image::build();
    // What the image is: etl as its entry point, an unprivileged user, /work, nothing else to run.
    let config = ok(buildah().args(["inspect", "--type", "image", &image.tag])).stdout;
    let config: serde_json::Value = serde_json::from_str(&config).unwrap();
    let config = &config["OCIv1"]["config"];
    assert_eq!(config["Entrypoint"], serde_json::json!(["etl"]), "{config}");
    assert_eq!(config["User"], "65532:65532", "{config}");
    assert_eq!(config["WorkingDir"], "/work", "{config}");
    let r = image.run(&[], &[], &["sh", "-c", "true"]);
    assert_ne!(r.code, 0, "no shell in the image: {r:?}");

    let version = ok(Command::new(env!("CARGO_BIN_EXE_etl")).arg("--version")).stdout;
    let r = image.run(&[], &[], &["etl", "--version"]);
    assert_eq!((r.code, r.stdout.as_str()), (0, version.as_str()), "{r:?}");

    // The main job, as the README runs it, in a folder mounted at the image's working folder (open
    // to the image's user); then the same outside: the same bytes.
    let inside = Dir::new();
    sample_exports(&inside);
    let open = |path: &std::path::Path| {
        ok(Command::new("chmod").args(["-R", "a+rwX"]).arg(path));
    };
    open(inside.path());
    let r = image.run(&[format!("{}:/work", inside.path().display())], &[], &["etl", "load-cursor-usage"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stderr.contains("etl load-cursor-usage: ok: 240 rows read"), "{r:?}");
    let outside = Dir::new();
    sample_exports(&outside);
    ok(outside.etl().arg("load-cursor-usage"));
    let files = |dir: &Dir| -> Vec<(String, Vec<u8>)> {
        let keys: Vec<String> = dir.lake_keys().into_iter().filter(|k| k.ends_with(".parquet")).collect();
        keys.into_iter().map(|k| (k.clone(), std::fs::read(dir.lake(&k)).unwrap())).collect()
    };
    let (a, b) = (files(&inside), files(&outside));
    assert_eq!(a.len(), 11, "{:?}", a.iter().map(|f| &f.0).collect::<Vec<_>>());
    assert!(a == b, "the image writes the bytes a run outside it writes");

    // The S3 server, from inside (the host's network): every check of `etl doctor` passes.
    let Some(s3) = s3_env() else { return };
    let mut env = s3.vars.clone();
    env.push(("ETL_TARGET".into(), s3.target("image-doctor")));
    let r = image.run(&[], &env, &["etl", "doctor"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stderr.contains("etl doctor: ok: 6 checks passed"), "{r:?}");
    assert!(r.stdout.contains("credentials  AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"), "{r:?}");
}
