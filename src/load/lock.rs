//! One writer per dataset. A run that writes `datasets/<id>/` first creates `datasets/<id>/_lock`
//! (its run id, host, pid, command, start and expiry) with a create-only-if-absent write: an atomic
//! no-clobber link on a local folder, `If-None-Match: *` on S3. A second run fails at once naming the
//! holder, or waits (`--wait-lock`); an expired lock, or one whose process on this machine is gone,
//! is taken over, with a warning, by one run only: the one that creates the takeover marker of that
//! very lock (`_lock.takeover-<run>-<expiry>`, create-only-if-absent). A lock expired by less than
//! 5 minutes (by this machine's clock, which may run ahead of the holder's) is taken over only once
//! it has been seen unrenewed for longer than a holder renews it.
//! The holder renews the expiry while it works and deletes the lock when it ends.
//!
//! Stores that ignore `If-None-Match` (Garage 2.5) let a second create overwrite the first: there the
//! lock is read back after it is written, which catches most overlaps but not two runs starting
//! within the same instant.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::layout::DatasetId;
use super::manifest::rfc3339;
use crate::error::{Error, Result};
use crate::store::{ObjectStore, StoreError};

/// How long a lock holds without renewal: a run killed outright blocks its dataset this long.
pub const TTL: Duration = Duration::from_secs(10 * 60);
/// How often a running holder renews its lock.
const RENEW_EVERY: Duration = Duration::from_secs(2 * 60);
/// How often a waiting run looks again.
const POLL: Duration = Duration::from_millis(500);
/// How far a lock may have expired by this machine's clock and still be a live run's whose clock is
/// behind: a holder renews every [`RENEW_EVERY`], so its expiry stays 8 minutes ahead of its own
/// clock; past this, a takeover needs a clock 13 minutes apart to be wrong.
const SKEW: Duration = Duration::from_secs(5 * 60);
/// How long a takeover marker holds: a taker that died while taking a lock over blocks it this long.
const TAKEOVER: Duration = Duration::from_secs(60);

/// What the lock object says.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct LockRecord {
    pub run_id: String,
    pub host: String,
    pub pid: u32,
    pub command: String,
    pub started: String,
    pub expires: String,
    /// `expires` as seconds since the epoch (what is compared).
    pub expires_unix: u64,
    /// The host's boot id and pid namespace: two processes with equal values see the same pids.
    #[serde(default)]
    pub machine: String,
}

impl LockRecord {
    fn new(run_id: &str, command: &str, started: SystemTime) -> Self {
        let expires = SystemTime::now() + TTL;
        LockRecord {
            run_id: run_id.to_owned(),
            host: hostname(),
            pid: std::process::id(),
            command: command.to_owned(),
            started: rfc3339(started),
            expires: rfc3339(expires),
            expires_unix: expires.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs(),
            machine: machine(),
        }
    }

    fn expired(&self) -> bool {
        SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_secs() > self.expires_unix
    }

    /// How long ago the lock expired, by this machine's clock (zero if it has not).
    fn expired_for(&self) -> Duration {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
        Duration::from_secs(now.saturating_sub(self.expires_unix))
    }

    /// Whether the holder is a process of this machine that no longer exists (a run killed outright,
    /// or one that failed while the store was down and could not delete its lock).
    fn holder_is_gone(&self) -> bool {
        let proc = std::path::Path::new("/proc");
        let here = machine();
        !here.is_empty()
            && self.machine == here
            && self.pid != std::process::id()
            && proc.is_dir()
            && !proc.join(self.pid.to_string()).exists()
    }

    fn body(&self) -> Vec<u8> {
        serde_json::to_vec_pretty(self).expect("a lock record serialises")
    }

    fn describe(&self) -> String {
        format!(
            "run {} ({} on {}, pid {}) since {}; its lock expires at {}",
            self.run_id, self.command, self.host, self.pid, self.started, self.expires
        )
    }
}

/// This kernel's boot id and this process's pid namespace (empty where they cannot be read): a lock
/// from the same boot and namespace names a pid this process can look up.
fn machine() -> String {
    let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").unwrap_or_default();
    let pidns = std::fs::read_link("/proc/self/ns/pid").map(|p| p.display().to_string()).unwrap_or_default();
    if boot.trim().is_empty() || pidns.is_empty() {
        String::new()
    } else {
        format!("{}/{pidns}", boot.trim())
    }
}

fn hostname() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown-host".to_owned())
}

/// A held lock; [`DatasetLock::release`] it when the run ends.
pub struct DatasetLock {
    store: Arc<dyn ObjectStore>,
    key: String,
    run_id: String,
    renewal: tokio::task::JoinHandle<()>,
    /// Set when the renewal finds the lock taken over.
    lost: Arc<AtomicBool>,
}

/// What is at the lock's key.
enum Found {
    Absent,
    Lock(LockRecord),
    /// Something this tool cannot read as a lock (a hand-made file, a future format).
    Unreadable,
}

async fn read(store: &dyn ObjectStore, key: &str) -> Result<Found> {
    match store.get(key).await {
        Ok(bytes) => Ok(serde_json::from_slice(&bytes).map_or(Found::Unreadable, Found::Lock)),
        Err(StoreError::NotFound { .. }) => Ok(Found::Absent),
        Err(e) => Err(e.into()),
    }
}

/// The run holding `dataset`'s lock, if one holds it, its lock has not expired and it is not a
/// process of this machine known to be gone (what `etl status` and `inspect` tell a publish under way
/// from one killed half-way by).
pub async fn live_holder(store: &dyn ObjectStore, dataset: &DatasetId) -> Result<Option<LockRecord>> {
    Ok(match read(store, &dataset.lock_key()).await? {
        Found::Lock(record) if !record.expired() && !record.holder_is_gone() => Some(record),
        _ => None,
    })
}

impl DatasetLock {
    /// Takes the dataset's lock for `run_id`, waiting up to `wait` for a live holder to finish.
    pub async fn acquire(
        store: Arc<dyn ObjectStore>,
        dataset: &DatasetId,
        run_id: &str,
        command: &str,
        wait: Duration,
    ) -> Result<Self> {
        let key = dataset.lock_key();
        let started = SystemTime::now();
        let deadline = Instant::now() + wait;
        let mut said_waiting = false;
        // An expired lock seen unchanged since then: its run, its expiry, when first seen.
        let mut watching: Option<(String, u64, Instant)> = None;
        loop {
            crate::signals::check()?;
            // Look first: on a store that ignores `If-None-Match`, the create below would overwrite
            // a live holder's lock.
            let mut found = read(store.as_ref(), &key).await?;
            if matches!(found, Found::Absent) {
                let record = LockRecord::new(run_id, command, started);
                let created = store.put_if_absent(&key, record.body()).await?;
                // Read back: the store may have let another run overwrite (no `If-None-Match`), or a
                // retried create of ours may have found our own first attempt.
                found = match read(store.as_ref(), &key).await {
                    Ok(found) => found,
                    Err(e) => {
                        if created {
                            let _ = store.delete_many(std::slice::from_ref(&key)).await;
                        }
                        return Err(e);
                    }
                };
                if let Found::Lock(back) = &found {
                    if back.run_id == run_id {
                        let lost = Arc::new(AtomicBool::new(false));
                        let renewal = tokio::spawn(renew(
                            store.clone(),
                            key.clone(),
                            record,
                            run_id.to_owned(),
                            lost.clone(),
                        ));
                        return Ok(DatasetLock { store, key, run_id: run_id.to_owned(), renewal, lost });
                    }
                }
            }
            let holder = match found {
                Found::Absent => continue,
                Found::Lock(holder) => holder,
                Found::Unreadable => {
                    return Err(Error::Locked(format!(
                        "{} exists but is not a lock this tool can read; if no run is writing dataset \
                         {dataset}, delete it",
                        store.url_of(&key)
                    )))
                }
            };
            let gone = holder.holder_is_gone();
            // A lock past its expiry by this machine's clock, but by less than [`SKEW`], may be a live
            // run's whose clock is behind this one's (a takeover would roll its publish back under
            // it): it is taken over only once it has gone unrenewed here for longer than a holder
            // renews it. Past that, or when its process is gone, at once.
            let unrenewed = match &watching {
                Some((run, expires, since)) if *run == holder.run_id && *expires == holder.expires_unix => {
                    since.elapsed() > RENEW_EVERY + RENEW_EVERY / 4
                }
                _ => {
                    watching = Some((holder.run_id.clone(), holder.expires_unix, Instant::now()));
                    false
                }
            };
            let long_expired = holder.expired_for() > SKEW;
            if gone || (holder.expired() && (long_expired || unrenewed)) {
                let why = if gone { "abandoned (its process is gone)" } else { "expired" };
                // One taker only: the run that creates the takeover marker of this very lock (its run
                // and expiry; create-only-if-absent, as the lock itself) takes it over, the others
                // look again. A delete-then-create alone let several runs take one lock at once.
                let marker = format!("{key}.takeover-{}-{}", holder.run_id, holder.expires_unix);
                let mut claim = LockRecord::new(run_id, command, started);
                let soon = SystemTime::now() + TAKEOVER;
                claim.expires_unix = soon.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
                claim.expires = rfc3339(soon);
                if !store.put_if_absent(&marker, claim.body()).await? {
                    // Another run is taking it over; a marker whose taker died goes after a minute.
                    if let Found::Lock(taker) = read(store.as_ref(), &marker).await? {
                        if taker.expired() {
                            store.delete_many(std::slice::from_ref(&marker)).await?;
                            continue;
                        }
                    }
                    if Instant::now() >= deadline {
                        return Err(Error::Locked(format!(
                            "another run is taking over the {why} lock of dataset {dataset}. Nothing was \
                             done; try again later"
                        )));
                    }
                    tokio::time::sleep(POLL).await;
                    continue;
                }
                // Only the lock just read: another run that took it over a moment ago has written
                // its own, which must not be removed.
                let taken = match read(store.as_ref(), &key).await {
                    Ok(Found::Lock(again))
                        if again.run_id == holder.run_id && again.expires_unix == holder.expires_unix =>
                    {
                        tracing::warn!("taking over the {why} lock of {}: {}", dataset, holder.describe());
                        store.delete_many(std::slice::from_ref(&key)).await.map_err(Error::from)
                    }
                    Ok(_) => {
                        tracing::info!("the {why} lock of {dataset} changed hands meanwhile: looking again");
                        Ok(())
                    }
                    Err(e) => Err(e),
                };
                let _ = store.delete_many(std::slice::from_ref(&marker)).await;
                taken?;
                continue;
            }
            if Instant::now() >= deadline {
                let expired = if holder.expired() {
                    format!(
                        " (expired {} s ago by this machine's clock: it is taken over once it has gone \
                         unrenewed for {} s, as a clock ahead of the holder's could take a live run's lock)",
                        holder.expired_for().as_secs(),
                        (RENEW_EVERY + RENEW_EVERY / 4).as_secs()
                    )
                } else {
                    String::new()
                };
                return Err(Error::Locked(format!(
                    "dataset {dataset} is being written by {}{expired}. Nothing was done; try again later{}",
                    holder.describe(),
                    if command == "clear-dataset" { "" } else { ", or pass --wait-lock SECS to wait for it" }
                )));
            }
            if !said_waiting {
                tracing::warn!("waiting for the lock of {dataset}, held by {}", holder.describe());
                said_waiting = true;
            }
            tokio::time::sleep(POLL.min(deadline.saturating_duration_since(Instant::now()))).await;
        }
    }

    /// Fails if the lock is no longer this run's (taken over after a renewal gap, or by a racing
    /// takeover): checked before anything is published or deleted.
    pub async fn ensure_held(&self) -> Result<()> {
        let found = read(self.store.as_ref(), &self.key).await?;
        let still = matches!(found, Found::Lock(held) if held.run_id == self.run_id);
        if still && !self.lost.load(Ordering::SeqCst) {
            return Ok(());
        }
        self.lost.store(true, Ordering::SeqCst);
        Err(Error::Locked(format!(
            "this run lost the lock of {} (another run took it over): it stops before publishing",
            self.key.trim_end_matches("/_lock")
        )))
    }

    /// Stops renewing and deletes the lock, if it is still this run's.
    pub async fn release(self) -> Result<()> {
        self.renewal.abort();
        match read(self.store.as_ref(), &self.key).await? {
            Found::Lock(held) if held.run_id == self.run_id => {
                self.store.delete_many(std::slice::from_ref(&self.key)).await?;
            }
            Found::Lock(held) => tracing::warn!("the lock is no longer this run's: {}", held.describe()),
            Found::Absent | Found::Unreadable => {}
        }
        Ok(())
    }
}

impl Drop for DatasetLock {
    fn drop(&mut self) {
        self.renewal.abort();
    }
}

/// Pushes the lock's expiry forward while the run works; stops, and marks the lock lost, if it is no
/// longer this run's.
async fn renew(
    store: Arc<dyn ObjectStore>,
    key: String,
    mut record: LockRecord,
    run_id: String,
    lost: Arc<AtomicBool>,
) {
    loop {
        tokio::time::sleep(RENEW_EVERY).await;
        match read(store.as_ref(), &key).await {
            Ok(Found::Lock(held)) if held.run_id == run_id => {}
            Ok(_) => {
                tracing::warn!("the lock {key} is no longer this run's: the run will stop before publishing");
                lost.store(true, Ordering::SeqCst);
                return;
            }
            Err(e) => {
                tracing::warn!("could not check the lock {key}: {e}");
                continue;
            }
        }
        let expires = SystemTime::now() + TTL;
        record.expires = rfc3339(expires);
        record.expires_unix = expires.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
        if let Err(e) = store.put(&key, record.body()).await {
            tracing::warn!("could not renew the lock {key}: {e}");
        }
    }
}
