//! The [`ObjectStore`] trait (see the guarantees in [`crate::store`]), the objects it lists and its
//! errors.

use std::path::{Path, PathBuf};

use crate::signals::Interrupted;

/// An error from a store, naming the object or file it concerns.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A local file operation failed.
    // The cause is part of the message, not a `source()`: `{:#}` would print it twice.
    #[error("{path}: {error}")]
    Io { path: PathBuf, error: std::io::Error },
    /// The object does not exist.
    #[error("`{key}` does not exist in {store}")]
    NotFound { store: String, key: String },
    /// SIGINT or SIGTERM stopped the transfer (a multipart upload is aborted first).
    #[error(transparent)]
    Interrupted(#[from] Interrupted),
    /// An S3 request failed (after the SDK's retries).
    #[error("S3 {operation} of `{key}` failed: {message}")]
    S3 { operation: &'static str, key: String, message: String },
    /// `--target` / `ETL_TARGET` is neither `s3://bucket[/prefix]` nor a folder.
    #[error("invalid target `{target}`: {reason}")]
    InvalidTarget { target: String, reason: String },
    /// The store cannot be set up as configured (no region, no credentials).
    #[error("{0}")]
    Config(String),
}

impl StoreError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        StoreError::Io { path: path.into(), error: source }
    }

    /// Whether the fault is in the settings (exit code 2) rather than in a run.
    pub fn is_usage(&self) -> bool {
        matches!(self, StoreError::InvalidTarget { .. } | StoreError::Config(_))
    }
}

/// One object found by [`ObjectStore::list`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectMeta {
    pub key: String,
    pub size: u64,
    /// The object's ETag as the server gives it (quotes removed); `None` from a local folder.
    pub etag: Option<String>,
}

/// A place objects are written to.
#[async_trait::async_trait]
pub trait ObjectStore: Send + Sync {
    /// Where this store writes, for messages (`s3://bucket/prefix` or a folder path).
    fn url(&self) -> String;
    /// The URL of one key.
    fn url_of(&self, key: &str) -> String {
        format!("{}/{}", self.url().trim_end_matches('/'), key)
    }
    /// A local folder in which to stage files before `put_file`; for a local store it is on the same
    /// file system, so publishing is a rename.
    fn staging_parent(&self) -> PathBuf;
    /// Stores `body` under `key`.
    async fn put(&self, key: &str, body: Vec<u8>) -> Result<(), StoreError>;
    /// Stores `body` under `key` only if no object is there; `false` when one was. Stores that ignore
    /// conditional writes (Garage) overwrite and answer `true`: see [`crate::load::lock`].
    async fn put_if_absent(&self, key: &str, body: Vec<u8>) -> Result<bool, StoreError>;
    /// Stores the content of the local file `path` under `key`; the file may be moved away. Returns
    /// the checksum the store computed of the object, if it keeps one (S3's ETag).
    async fn put_file(&self, key: &str, path: &Path) -> Result<Option<String>, StoreError>;
    /// Whether the object `listed` provably holds the bytes whose SHA-256 is `sha256` and whose
    /// store checksum was `etag` when they were uploaded: proven by the store (an ETag it computed
    /// then and lists now) or by hashing the object. `false` when the store cannot prove it; never
    /// by size alone.
    async fn holds(
        &self,
        _listed: &ObjectMeta,
        _sha256: &str,
        _etag: Option<&str>,
    ) -> Result<bool, StoreError> {
        Ok(false)
    }
    /// Copies the object `from` to `to` (replacing `to` atomically), inside the store: a server-side
    /// copy on S3, a hard link in a folder.
    async fn copy(&self, from: &str, to: &str) -> Result<(), StoreError>;
    /// Reads the object `key`.
    async fn get(&self, key: &str) -> Result<Vec<u8>, StoreError>;
    /// Writes the object `key` into the local file `path` (streamed where the backend can).
    async fn get_to_file(&self, key: &str, path: &Path) -> Result<u64, StoreError> {
        let body = self.get(key).await?;
        tokio::fs::write(path, &body).await.map_err(|e| StoreError::io(path, e))?;
        Ok(body.len() as u64)
    }
    /// The file that holds object `key`, when the store is a folder on this machine (read in place
    /// rather than copied).
    fn local_file(&self, _key: &str) -> Option<PathBuf> {
        None
    }
    /// Every object whose key starts with `prefix`, in key order.
    async fn list(&self, prefix: &str) -> Result<Vec<ObjectMeta>, StoreError>;
    /// The objects under `prefix` whose keys sort after `after` (S3: a listing that starts there):
    /// the run records newer than the manifest's, without listing a year of older ones.
    async fn list_after(&self, prefix: &str, after: &str) -> Result<Vec<ObjectMeta>, StoreError> {
        Ok(self.list(prefix).await?.into_iter().filter(|o| o.key.as_str() > after).collect())
    }
    /// The names of the folders right under `prefix` (which ends with `/`) that hold objects, sorted:
    /// `list_folders("datasets/")` is every dataset id, without listing their files (S3: a
    /// delimiter listing).
    async fn list_folders(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        let mut names: Vec<String> = self
            .list(prefix)
            .await?
            .into_iter()
            .filter_map(|o| Some(o.key.strip_prefix(prefix)?.split_once('/')?.0.to_owned()))
            .collect();
        names.dedup();
        Ok(names)
    }
    /// Aborts the unfinished multipart uploads under `prefix` (a run that died mid-upload leaves its
    /// parts behind); returns how many. Only call it while holding the dataset's lock.
    async fn abort_unfinished_uploads(&self, _prefix: &str) -> Result<usize, StoreError> {
        Ok(0)
    }
    /// Deletes `keys` (in batches where the backend has a limit).
    async fn delete_many(&self, keys: &[String]) -> Result<(), StoreError>;
    /// As [`ObjectStore::put_file`], through the way large files go (S3's multipart upload) whatever
    /// the file's size: for `etl doctor` to try it with a small file.
    async fn put_file_in_parts(&self, key: &str, path: &Path) -> Result<Option<String>, StoreError> {
        self.put_file(key, path).await
    }
    /// How the store is reached, as facts for a person (`endpoint`, `addressing`, `region`,
    /// `credentials`); never a secret.
    fn facts(&self) -> Vec<(&'static str, String)> {
        vec![("folder", self.url())]
    }
}

/// Where a remote target's files are staged before upload, and sources downloaded: `ETL_STAGING_DIR`
/// when set, else the system temp folder (`TMPDIR`, `/tmp`). That folder needs room for a dataset's
/// Parquet files; on many machines `/tmp` is in RAM (tmpfs), so point `ETL_STAGING_DIR` at a disk for
/// big loads. (A local target stages inside itself, so that publishing is a rename.)
pub fn staging_outside_the_target() -> std::path::PathBuf {
    match std::env::var_os("ETL_STAGING_DIR") {
        Some(dir) if !dir.is_empty() => std::path::PathBuf::from(dir),
        _ => std::env::temp_dir(),
    }
}
