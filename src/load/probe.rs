//! `etl doctor`: the target's store tried the way a run uses it, under a scratch prefix of its own
//! ([`layout::doctor_prefix`]), and what the dataset lock can promise there. Each check is one
//! operation a load makes: listing, a PUT and a GET, a create-only-if-absent (the lock), a multipart
//! upload (large Parquet files), a server-side copy (the journal's backups) and a delete.

use std::time::Instant;

use super::layout;
use crate::store::{ObjectStore, StoreError};

/// How one check went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    /// It worked, but not as a run would want it to (conditional writes ignored).
    Warning,
    Failed,
    /// Not tried: an earlier check failed.
    Skipped,
}

impl Outcome {
    pub fn label(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Warning => "warning",
            Outcome::Failed => "FAILED",
            Outcome::Skipped => "skipped",
        }
    }
}

/// One check: what was tried, how it went, what was seen, and how long it took.
#[derive(Debug, Clone)]
pub struct Check {
    pub name: &'static str,
    pub outcome: Outcome,
    pub detail: String,
    pub millis: u128,
}

/// What the lock can promise on the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockPromise {
    /// A second create of the lock is refused by the store: one writer per dataset, always.
    Exclusive,
    /// The store overwrites: the lock is read back after it is written.
    BestEffort,
    /// The checks did not get that far.
    Unknown,
}

impl LockPromise {
    pub fn describe(self) -> &'static str {
        match self {
            LockPromise::Exclusive => {
                "exclusive: the store refuses a second create of a dataset's lock, so two runs of one \
                 dataset never both write (the second waits with --wait-lock, or exits 75)"
            }
            LockPromise::BestEffort => {
                "best effort: the store overwrites on a create-only-if-absent (it ignores \
                 If-None-Match), so the lock is read back after it is written; that catches runs that \
                 overlap, but not two that start within the same instant. Start one writer per dataset \
                 (a scheduler's concurrency limit), or use a store that honours conditional writes"
            }
            LockPromise::Unknown => "unknown: the conditional-create check was not reached",
        }
    }
}

/// Everything `etl doctor` found.
#[derive(Debug)]
pub struct Report {
    pub checks: Vec<Check>,
    pub lock: LockPromise,
    /// The first failure, as the store reported it.
    pub error: Option<StoreError>,
}

/// Bytes of the file sent through the multipart path (one part: a part may be small when it is the
/// last).
const MULTIPART_BYTES: usize = 256 << 10;

/// Tries `store`'s operations under [`layout::doctor_prefix`]`(run_id)`, staging the multipart file
/// in `scratch`; leaves nothing behind (what it wrote is deleted even when a check fails).
pub async fn probe(store: &dyn ObjectStore, run_id: &str, scratch: &std::path::Path) -> Report {
    let prefix = layout::doctor_prefix(run_id);
    let remote = store.url().starts_with("s3://");
    let mut probe = Probe { checks: Vec::new(), error: None, written: Vec::new() };
    let object = format!("{prefix}object");
    let body = format!("etl doctor {run_id}\n").into_bytes();

    probe
        .check("list", async {
            let found = store.list(&prefix).await?;
            let reached = if remote { "reached, credentials accepted" } else { "reached" };
            Ok((Outcome::Ok, format!("{reached} ({} objects under {prefix})", found.len())))
        })
        .await;
    probe.written.push(object.clone());
    probe
        .check("put", async {
            store.put(&object, body.clone()).await?;
            Ok((Outcome::Ok, format!("wrote {} ({} bytes)", store.url_of(&object), body.len())))
        })
        .await;
    probe
        .check("get", async {
            let read = store.get(&object).await?;
            Ok(if read == body {
                (Outcome::Ok, "read back the bytes written".to_owned())
            } else {
                (
                    Outcome::Failed,
                    format!("read back {} bytes that differ from the {} written", read.len(), body.len()),
                )
            })
        })
        .await;
    let lock = format!("{prefix}lock");
    probe.written.push(lock.clone());
    let mut promise = LockPromise::Unknown;
    probe
        .check("conditional create", async {
            if !store.put_if_absent(&lock, b"first".to_vec()).await? {
                return Ok((
                    Outcome::Failed,
                    "a create of a new key answered that it was there already".into(),
                ));
            }
            let second = store.put_if_absent(&lock, b"second".to_vec()).await?;
            let kept = store.get(&lock).await?;
            Ok(match (second, kept.as_slice()) {
                (false, b"first") => {
                    promise = LockPromise::Exclusive;
                    let how = if remote { "If-None-Match: * honoured" } else { "a link that never replaces" };
                    (Outcome::Ok, format!("a second create of the same key was refused ({how})"))
                }
                _ => {
                    promise = LockPromise::BestEffort;
                    (
                        Outcome::Warning,
                        "a second create of the same key overwrote the first: the store ignores \
                         If-None-Match: *"
                            .into(),
                    )
                }
            })
        })
        .await;
    let parts = format!("{prefix}multipart");
    probe.written.push(parts.clone());
    probe
        .check("multipart upload", async {
            let file = scratch.join(format!("etl-doctor-{run_id}"));
            let bytes: Vec<u8> = (0..MULTIPART_BYTES).map(|i| (i % 251) as u8).collect();
            tokio::fs::write(&file, &bytes).await.map_err(|e| StoreError::io(&file, e))?;
            let sent = store.put_file_in_parts(&parts, &file).await;
            let _ = tokio::fs::remove_file(&file).await;
            sent?;
            let read = store.get(&parts).await?;
            Ok(if read == bytes {
                let how =
                    if remote { "as a multipart upload" } else { "from a file (a folder needs no parts)" };
                (Outcome::Ok, format!("uploaded {} KiB {how} and read it back", MULTIPART_BYTES >> 10))
            } else {
                (Outcome::Failed, "the object read back differs from the file uploaded in parts".into())
            })
        })
        .await;
    let copy = format!("{prefix}copy");
    probe.written.push(copy.clone());
    probe
        .check("server-side copy", async {
            store.copy(&object, &copy).await?;
            Ok(if store.get(&copy).await? == body {
                (Outcome::Ok, "copied an object inside the store (a publish's backups)".into())
            } else {
                (Outcome::Failed, "the copy holds other bytes than its original".into())
            })
        })
        .await;
    let written = probe.written.clone();
    probe
        .check("delete", async {
            store.delete_many(&written).await?;
            let left = store.list(&prefix).await?;
            Ok(if left.is_empty() {
                (
                    Outcome::Ok,
                    format!("deleted the {} objects written; nothing left under {prefix}", written.len()),
                )
            } else {
                (Outcome::Failed, format!("{} objects are still listed after their delete", left.len()))
            })
        })
        .await;
    if probe.error.is_some() {
        // Whatever was written before a failure goes too.
        let _ = store.delete_many(&probe.written).await;
    }
    Report { checks: probe.checks, lock: promise, error: probe.error }
}

struct Probe {
    checks: Vec<Check>,
    error: Option<StoreError>,
    /// Keys this probe may have written.
    written: Vec<String>,
}

impl Probe {
    /// Runs one check unless an earlier one failed.
    async fn check(
        &mut self,
        name: &'static str,
        run: impl std::future::Future<Output = Result<(Outcome, String), StoreError>>,
    ) {
        if self.checks.iter().any(|c| c.outcome == Outcome::Failed) {
            let detail = "an earlier check failed".to_owned();
            self.checks.push(Check { name, outcome: Outcome::Skipped, detail, millis: 0 });
            return;
        }
        let started = Instant::now();
        let (outcome, detail) = match run.await {
            Ok(done) => done,
            Err(e) => {
                let detail = crate::redact::redact(&e.to_string()).into_owned();
                self.error.get_or_insert(e);
                (Outcome::Failed, detail)
            }
        };
        self.checks.push(Check { name, outcome, detail, millis: started.elapsed().as_millis() });
    }
}
