//! Loading: typed frames → Parquet files in a staging folder → objects in the store.
//!
//! [`Load`] is the stage's trait; [`staging::ParquetLoad`] its implementation. Nothing is visible to
//! readers until [`publish::publish`] moves finished files into place; only then are the objects
//! this run replaced deleted.

pub mod delta;
mod encode;
pub mod hive;
pub mod journal;
pub mod layout;
pub mod lock;
pub mod manifest;
pub mod parquet;
pub mod partition;
pub mod probe;
pub mod publish;
pub mod readers;
pub mod recover;
pub mod staged;
pub mod staging;
pub mod state;
pub mod upsert;

use polars::prelude::DataFrame;

use self::staged::StagedDataset;
use crate::batch::Reject;
use crate::error::{Error, Result};
use crate::transform::ColumnPlan;

pub use self::staged::WriteMode;

/// Receives typed frames and stages output files.
pub trait Load: Send {
    /// Called with the final columns before any row; called again, it starts over (whatever was
    /// staged is dropped).
    /// Checks the source's column names, as soon as they are known and before any value is read: a
    /// column the load needs that is not there is a usage error.
    fn expect_columns(&self, _columns: &[String]) -> Result<()> {
        Ok(())
    }
    fn begin(&mut self, plans: &[ColumnPlan]) -> Result<()>;
    /// Which rows of `df` [`Load::write`] would keep (rows outside `--partition-range` are left
    /// out); `None` when it keeps them all.
    fn kept(&self, _df: &DataFrame) -> Result<Option<Vec<bool>>> {
        Ok(None)
    }
    /// Takes a batch of typed rows.
    fn write(&mut self, df: DataFrame) -> Result<()>;
    /// Keeps the text of records left out by `--on-bad-rows quarantine`, under the source's header
    /// line (if it has one).
    fn reject(&mut self, header: Option<&[u8]>, rejects: &[Reject]) -> Result<()>;
    /// Closes every file; returns them, ready to publish.
    fn finish(&mut self) -> Result<StagedDataset>;
}

/// A fresh hidden folder next to `store`'s staging folder, for a source's download or spool (removed
/// when dropped; a killed run's is swept by [`sweep_stale_staging`]).
pub fn download_dir(store: &dyn crate::store::ObjectStore) -> Result<tempfile::TempDir> {
    let staging = store.staging_parent();
    std::fs::create_dir_all(&staging).map_err(|e| Error::io(&staging, e))?;
    let dir = tempfile::Builder::new()
        .prefix(".etl-download-")
        .tempdir_in(&staging)
        .map_err(|e| Error::io(&staging, e))?;
    keep_fresh(dir.path());
    Ok(dir)
}

/// Staging and download folders older than this belong to runs that were killed outright (a second
/// signal, SIGKILL, a power cut): they are removed when a later run starts.
pub const STALE_STAGING: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

/// How often a running process marks its staging and download folders as alive
/// ([`keep_fresh`]); `ETL_HEARTBEAT_SECS` shortens it, for the tests.
const HEARTBEAT: std::time::Duration = std::time::Duration::from_secs(3600);

/// The folders this process works in, for the heartbeat.
static LIVE_FOLDERS: std::sync::Mutex<Vec<std::path::PathBuf>> = std::sync::Mutex::new(Vec::new());

/// Keeps `dir` (a staging or download folder of this run) alive for [`sweep_stale_staging`] while
/// this process runs: its modification time is set to now every [`HEARTBEAT`], so that a run that
/// adds nothing to it for a day (a long COPY, a long wait for a lock) never has it swept by another
/// run. A folder that is gone is forgotten.
pub fn keep_fresh(dir: &std::path::Path) {
    static BEAT: std::sync::Once = std::sync::Once::new();
    LIVE_FOLDERS.lock().unwrap_or_else(|e| e.into_inner()).push(dir.to_owned());
    BEAT.call_once(|| {
        let every = std::env::var("ETL_HEARTBEAT_SECS")
            .ok()
            .and_then(|v| v.parse().ok())
            .map_or(HEARTBEAT, std::time::Duration::from_secs);
        let _ = std::thread::Builder::new().name("etl-heartbeat".into()).spawn(move || loop {
            std::thread::sleep(every);
            let mut live = LIVE_FOLDERS.lock().unwrap_or_else(|e| e.into_inner());
            live.retain(|dir| {
                std::fs::File::open(dir).and_then(|f| f.set_modified(std::time::SystemTime::now())).is_ok()
            });
        });
    });
}

/// Removes `.etl-staging-*` and `.etl-download-*` folders under `parent` not modified for
/// [`STALE_STAGING`] (a live run's are kept fresh by [`keep_fresh`]); returns how many.
pub fn sweep_stale_staging(parent: &std::path::Path) -> usize {
    let Ok(entries) = std::fs::read_dir(parent) else { return 0 };
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !(name.starts_with(".etl-staging-") || name.starts_with(".etl-download-")) {
            continue;
        }
        let old = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > STALE_STAGING);
        if old && entry.file_type().is_ok_and(|t| t.is_dir()) && std::fs::remove_dir_all(entry.path()).is_ok()
        {
            tracing::info!("removed {}, left by a run that was killed", entry.path().display());
            removed += 1;
        }
    }
    removed
}
