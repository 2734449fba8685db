//! The transaction against the local store, every call it makes recorded in order.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::*;
use crate::extract::csv::{CsvFile, CsvOptions};
use crate::store::{LocalStore, ObjectMeta, StoreError};
use crate::summary::Status;

/// The local store, with a log of every write and delete (and whether the dataset's lock object
/// was there when it was made).
struct Recorded {
    inner: LocalStore,
    root: PathBuf,
    log: Mutex<Vec<String>>,
}

impl Recorded {
    fn note(&self, op: &str, key: &str) {
        let locked = self.root.join("datasets/d/_lock").exists();
        self.log.lock().unwrap().push(format!("{op} {key}{}", if locked { " (locked)" } else { "" }));
    }

    fn log(&self) -> Vec<String> {
        std::mem::take(&mut *self.log.lock().unwrap())
    }
}

#[async_trait::async_trait]
impl ObjectStore for Recorded {
    fn url(&self) -> String {
        self.inner.url()
    }
    fn staging_parent(&self) -> PathBuf {
        self.inner.staging_parent()
    }
    async fn put(&self, key: &str, body: Vec<u8>) -> std::result::Result<(), StoreError> {
        self.note("put", key);
        self.inner.put(key, body).await
    }
    async fn put_if_absent(&self, key: &str, body: Vec<u8>) -> std::result::Result<bool, StoreError> {
        let created = self.inner.put_if_absent(key, body).await?;
        self.note("create", key);
        Ok(created)
    }
    async fn put_file(&self, key: &str, path: &Path) -> std::result::Result<Option<String>, StoreError> {
        self.note("put", key);
        self.inner.put_file(key, path).await
    }
    async fn holds(
        &self,
        listed: &ObjectMeta,
        sha256: &str,
        etag: Option<&str>,
    ) -> std::result::Result<bool, StoreError> {
        self.inner.holds(listed, sha256, etag).await
    }
    async fn copy(&self, from: &str, to: &str) -> std::result::Result<(), StoreError> {
        self.note("copy", &format!("{from} → {to}"));
        self.inner.copy(from, to).await
    }
    async fn get(&self, key: &str) -> std::result::Result<Vec<u8>, StoreError> {
        self.inner.get(key).await
    }
    async fn list(&self, prefix: &str) -> std::result::Result<Vec<ObjectMeta>, StoreError> {
        self.inner.list(prefix).await
    }
    async fn delete_many(&self, keys: &[String]) -> std::result::Result<(), StoreError> {
        for key in keys {
            self.note("delete", key);
        }
        self.inner.delete_many(keys).await
    }
}

fn store() -> (tempfile::TempDir, Arc<Recorded>) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("lake");
    let inner = LocalStore::new(&root).unwrap();
    (dir, Arc::new(Recorded { inner, root, log: Mutex::default() }))
}

/// Loads `csv` into dataset `d`, partitioned by `day` when `partitioned`.
fn load_csv(
    store: &Arc<Recorded>,
    dir: &Path,
    csv: &str,
    partitioned: bool,
    mode: WriteMode,
) -> Result<Loaded> {
    let path = dir.join(format!("{}.csv", fastrand::u32(..)));
    std::fs::write(&path, csv).unwrap();
    let source = CsvFile::new(&path, CsvOptions::default()).unwrap();
    let request = LoadRequest {
        partition_column: partitioned.then(|| "day".to_owned()),
        mode,
        mode_given: ModeGiven::User,
        ..LoadRequest::new("test", Arc::new(source), DatasetId::parse("d").unwrap())
    };
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(load(request, store.clone()))
}

const TWO_DAYS: &str = "day,n\n2026-11-01,1\n2026-11-02,2\n";

#[test]
fn every_write_is_made_under_the_lock_which_goes_last() {
    let (dir, store) = store();
    load_csv(&store, dir.path(), TWO_DAYS, true, WriteMode::Merge).unwrap();
    let log = store.log();
    assert_eq!(log.first().map(String::as_str), Some("create datasets/d/_lock (locked)"), "{log:#?}");
    assert_eq!(log.last().map(String::as_str), Some("delete datasets/d/_lock (locked)"), "{log:#?}");
    assert!(log.iter().all(|op| op.ends_with("(locked)")), "{log:#?}");
    assert!(!store.root.join("datasets/d/_lock").exists());
}

#[test]
fn the_manifest_is_written_after_the_files_it_lists_and_stale_keys_go_after_it() {
    let (dir, store) = store();
    load_csv(&store, dir.path(), TWO_DAYS, true, WriteMode::Merge).unwrap();
    store.log();
    // A replace with one day: 2026-11-01 is rewritten, 2026-11-02 goes.
    let loaded = load_csv(&store, dir.path(), "day,n\n2026-11-01,5\n", true, WriteMode::Replace).unwrap();
    assert_eq!(loaded.summary.deleted, 1);
    let log: Vec<String> = store
        .log()
        .into_iter()
        .map(|op| op.trim_end_matches(" (locked)").to_owned())
        .filter(|op| !op.ends_with("_lock"))
        .collect();
    let at = |wanted: &str| {
        log.iter().position(|op| op.starts_with(wanted)).unwrap_or_else(|| panic!("{wanted}: {log:#?}"))
    };
    let new_file = at("put datasets/d/partitions/date=2026-11-01/part-0000.parquet");
    let run_record = at("put datasets/d/_runs/");
    let manifest = at("put datasets/d/_manifest.json");
    let stale = at("delete datasets/d/partitions/date=2026-11-02/part-0000.parquet");
    assert!(new_file < run_record && run_record < manifest && manifest < stale, "{log:#?}");
    assert_eq!(manifest, log.iter().rposition(|op| op.starts_with("put")).unwrap(), "{log:#?}");
    // Journaled: the journal first, each live key copied aside before it is overwritten, the
    // journal removed last.
    assert!(log[0].starts_with("put datasets/d/_journal/") && log[0].ends_with(".json"), "{log:#?}");
    let backup = at("copy datasets/d/partitions/date=2026-11-01/part-0000.parquet → datasets/d/_journal/");
    assert!(backup < new_file && at("copy datasets/d/_manifest.json → ") < new_file, "{log:#?}");
    assert!(log.last().unwrap().starts_with("delete datasets/d/_journal/"), "{log:#?}");
    assert!(log[stale + 1..].iter().all(|op| op.starts_with("delete datasets/d/_journal/")), "{log:#?}");
}

#[test]
fn a_schema_change_that_a_merge_would_mix_is_refused_before_any_write() {
    let (dir, store) = store();
    load_csv(&store, dir.path(), TWO_DAYS, true, WriteMode::Merge).unwrap();
    store.log();
    let before = store.inner_keys();
    let err = load_csv(&store, dir.path(), "day,n\n2026-11-03,x\n", true, WriteMode::Merge).unwrap_err();
    assert!(matches!(err, Error::Refused(_)), "{err}");
    assert!(err.to_string().contains("`n` Int64 → String"), "{err}");
    let log = store.log();
    assert_eq!(
        log[..2],
        ["create datasets/d/_lock (locked)", "delete datasets/d/_lock (locked)"],
        "{log:#?}"
    );
    // Nothing of the dataset changed: only the refused run's record was added, after the lock.
    assert_eq!(log.len(), 3, "{log:#?}");
    assert!(log[2].starts_with("put datasets/d/_runs/") && log[2].ends_with(".json"), "{log:#?}");
    let mut after = store.inner_keys();
    let record = log[2].trim_start_matches("put ").to_owned();
    after.retain(|k| *k != record);
    assert_eq!(after, before, "nothing changed");
    // A replace leaves no old partition to disagree with: it goes through.
    load_csv(&store, dir.path(), "day,n\n2026-11-03,x\n", true, WriteMode::Replace).unwrap();
}

#[test]
fn a_dry_run_takes_no_lock_and_writes_nothing() {
    let (dir, store) = store();
    let path = dir.path().join("a.csv");
    std::fs::write(&path, TWO_DAYS).unwrap();
    let source = CsvFile::new(&path, CsvOptions::default()).unwrap();
    let request = LoadRequest {
        partition_column: Some("day".into()),
        dry_run: true,
        ..LoadRequest::new("test", Arc::new(source), DatasetId::parse("d").unwrap())
    };
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let loaded = runtime.block_on(load(request, store.clone())).unwrap();
    assert_eq!(loaded.summary.status, Status::DryRun);
    assert!(loaded.plan.unwrap().contains("would write 2 files"));
    assert_eq!(store.log(), Vec::<String>::new());
}

impl Recorded {
    fn inner_keys(&self) -> Vec<String> {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(self.inner.list("")).unwrap().into_iter().map(|o| o.key).collect()
    }
}
