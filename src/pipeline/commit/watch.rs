//! A run as its records and the monitoring see it, from the moment its command names its dataset
//! (before any download) to its end, whatever the end: its START event when it begins; then its
//! record (`_runs/<run-id>.json`: `ok`, `failed` or `cancelled`), its metrics and its COMPLETE, FAIL
//! or ABORT event. A command that works before it hands its request over (a download, a query)
//! begins the run itself ([`Begun::new`]) and ends it ([`Begun::end`]) if the transaction never
//! took it over; otherwise [`super::load`] begins and ends it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use crate::error::{Error, Result};
use crate::extract::SourceInfo;
use crate::load::layout::{new_run_id, DatasetId};
use crate::load::manifest::{self, Manifest, SourceRecord};
use crate::monitor::{Outcome, RunEnd, RunStart, Watch};
use crate::store::ObjectStore;
use crate::summary::Summary;

use super::record::recorded_location;
use super::request::{LoadRequest, Loaded};

/// A run that has begun: its id, its START event sent.
#[derive(Clone)]
pub struct Begun(Arc<Inner>);

struct Inner {
    run_id: String,
    start: RunStart,
    dataset: DatasetId,
    source: Mutex<SourceRecord>,
    /// What the transaction settles: its mode and partition column.
    layout: Mutex<(String, Option<String>)>,
    /// The rows typed so far (the transaction counts them).
    rows_typed: Arc<AtomicU64>,
    /// Taken by whoever ends the run: the transaction, or the command before it.
    watch: Mutex<Option<Watch>>,
}

impl Begun {
    /// A run of `command` into `dataset` from `source` begins now: its id is made and its START event
    /// sent.
    pub async fn new(
        command: &'static str,
        dataset: &DatasetId,
        source: &SourceInfo,
        store: &dyn ObjectStore,
    ) -> Begun {
        Self::at(command, dataset, source, store, SystemTime::now()).await
    }

    async fn at(
        command: &'static str,
        dataset: &DatasetId,
        source: &SourceInfo,
        store: &dyn ObjectStore,
        started: SystemTime,
    ) -> Begun {
        let run_id = new_run_id();
        let location = recorded_location(&source.location);
        let start = RunStart {
            command,
            job: crate::monitor::job(),
            dataset: dataset.to_string(),
            run_id: run_id.clone(),
            started,
            source_kind: source.kind.to_owned(),
            source_location: location.clone(),
            target: store.url(),
        };
        let watch = Watch::start(start.clone()).await;
        Begun(Arc::new(Inner {
            run_id,
            start,
            dataset: dataset.clone(),
            source: Mutex::new(SourceRecord {
                kind: source.kind.to_owned(),
                location,
                bytes: None,
                sha256: None,
            }),
            layout: Mutex::new((String::new(), None)),
            rows_typed: Arc::default(),
            watch: Mutex::new(Some(watch)),
        }))
    }

    /// The run of `request`, begun when its command began it, or now.
    pub(super) async fn of(request: &mut LoadRequest, store: &dyn ObjectStore) -> Begun {
        let begun = match request.begun.take() {
            Some(begun) => begun,
            None => {
                let started = SystemTime::now() - request.began.elapsed();
                Self::at(request.command, &request.dataset, &request.source.info(), store, started).await
            }
        };
        let inner = &begun.0;
        request.rows_typed = inner.rows_typed.clone();
        request.monitored = Some(inner.start.clone());
        let mut source = inner.source.lock().expect("source");
        source.bytes = request.source_size.or(source.bytes);
        drop(source);
        begun.laid_out(request);
        // Kept with the request, so that the layout the dataset's manifest settles is recorded.
        request.begun = Some(begun.clone());
        begun
    }

    /// Takes the mode and partition column the run goes with (once the dataset's manifest settled
    /// what the request left out), for its record.
    pub(super) fn laid_out(&self, request: &LoadRequest) {
        *self.0.layout.lock().expect("layout") =
            (request.mode.name().to_owned(), request.partition_column.clone());
    }

    /// The run's id.
    pub fn run_id(&self) -> &str {
        &self.0.run_id
    }

    fn rows_read(&self) -> u64 {
        self.0.rows_typed.load(Ordering::Relaxed)
    }

    /// Ends a run its command ended before the transaction took it over: one that failed (a download,
    /// a query) or found nothing to do keeps its record and reports. A run the transaction took over
    /// was ended there; `result` is handed back either way.
    pub async fn end(self, store: &dyn ObjectStore, result: Result<Summary>) -> Result<Summary> {
        let Some(watch) = self.0.watch.lock().expect("watch").take() else { return result };
        let previous = manifest::read(store, &self.0.dataset).await.ok().flatten();
        match &result {
            Ok(summary) => {
                if let Err(e) = self.keep(store, ok_record(self.record(), summary)).await {
                    self.unkept("ok", &e);
                }
                let mut end = self.run_end(previous.as_ref());
                end.rows_read = summary.rows_read;
                watch.end(end).await;
            }
            Err(error) => {
                self.keep_failed(store, error).await;
                watch.end(self.failed_end(error, previous.as_ref())).await;
            }
        }
        result
    }

    /// Ends the run the transaction ran: `previous` is the dataset's manifest as it found it.
    pub(super) async fn finish(
        &self,
        store: &dyn ObjectStore,
        result: &Result<Loaded>,
        previous: Option<&Manifest>,
    ) {
        let Some(watch) = self.0.watch.lock().expect("watch").take() else { return };
        let end = match result {
            Ok(loaded) => {
                let s = &loaded.summary;
                if loaded.mode.is_none() {
                    // Nothing to do (the source unchanged): no record of its own yet.
                    if let Err(e) = self.keep(store, ok_record(self.record(), s)).await {
                        self.unkept("ok", &e);
                    }
                }
                RunEnd {
                    rows_read: s.rows_read,
                    rows_written: s.rows_written,
                    bytes: s.bytes,
                    files: s.files as u64,
                    checks: s.checks.clone(),
                    mode: loaded.mode.clone(),
                    schema: loaded.schema.iter().map(|c| (c.name.clone(), c.kind.clone())).collect(),
                    ..self.run_end(previous)
                }
            }
            Err(error) => {
                self.keep_failed(store, error).await;
                self.failed_end(error, previous)
            }
        };
        watch.end(end).await;
    }

    /// What a record of this run says before the run adds its outcome.
    fn record(&self) -> Manifest {
        let inner = &self.0;
        let (mode, partition_column) = inner.layout.lock().expect("layout").clone();
        let source = inner.source.lock().expect("source").clone();
        Manifest {
            finished: manifest::rfc3339(SystemTime::now()),
            mode,
            partition_column,
            rows_read: Some(self.rows_read()),
            job: inner.start.job.clone(),
            ..Manifest::begun(&inner.run_id, inner.start.command, source, inner.start.started)
        }
    }

    /// Keeps the record of a run that failed or was stopped before it published (`failed` or
    /// `cancelled`, with its error and the rows it had read); never the manifest, which still
    /// describes the data in place. A run its checks refused kept its own.
    async fn keep_failed(&self, store: &dyn ObjectStore, error: &Error) {
        if matches!(error, Error::Checks { .. } | Error::Cancelled | Error::ClosedOutput) {
            return;
        }
        let record = Manifest {
            status: Some(if cancelled(error) { "cancelled" } else { "failed" }.into()),
            error: Some(crate::redact::redact(&format!("{error:#}")).into_owned()),
            exit_code: Some(exit_code(error)),
            ..self.record()
        };
        match (self.keep(store, record).await, error) {
            (Ok(()), _) => {}
            // The run's own error says the store failed: its line is the log's word on it.
            (Err(e), Error::Store(_)) => {
                tracing::info!("{}: no record of this run: the store failed again ({e})", self.0.dataset)
            }
            (Err(e), _) => self.unkept("failed", &e),
        }
    }

    /// Writes `record` as `_runs/<run-id>.json`.
    async fn keep(&self, store: &dyn ObjectStore, record: Manifest) -> std::result::Result<(), String> {
        let body = serde_json::to_vec_pretty(&record).map_err(|e| e.to_string())?;
        store.put(&self.0.dataset.run_key(&self.0.run_id), body).await.map_err(|e| e.to_string())
    }

    /// Says that the record of this `status` run could not be written.
    fn unkept(&self, status: &str, error: &str) {
        tracing::warn!(
            "{}: the record of this {status} run could not be written ({error}): `etl runs` will not show it",
            self.0.dataset
        );
    }

    /// The end of a run that did what it was asked, before its figures are added.
    fn run_end(&self, previous: Option<&Manifest>) -> RunEnd {
        RunEnd {
            outcome: Outcome::Ok,
            exit_code: 0,
            error: None,
            mode: None,
            schema: Vec::new(),
            rows_read: self.rows_read(),
            rows_written: 0,
            bytes: 0,
            files: 0,
            checks: Vec::new(),
            last_success: previous.and_then(|m| manifest::parse_rfc3339(&m.finished)),
            created: previous.is_none(),
        }
    }

    fn failed_end(&self, error: &Error, previous: Option<&Manifest>) -> RunEnd {
        let mut end = self.run_end(previous);
        end.outcome = if cancelled(error) { Outcome::Cancelled } else { Outcome::Failed };
        end.exit_code = exit_code(error);
        end.error = Some(crate::redact::redact(&format!("{error:#}")).into_owned());
        if let Error::Checks { summary, .. } = error {
            end.checks = summary.checks.clone();
            end.rows_read = summary.rows_read;
        }
        end
    }
}

/// The record of a run that ended well without publishing (nothing new, the source unchanged).
fn ok_record(record: Manifest, summary: &Summary) -> Manifest {
    Manifest {
        status: Some("ok".into()),
        rows_read: Some(summary.rows_read),
        note: (!summary.notes.is_empty()).then(|| summary.notes.join("; ")),
        ..record
    }
}

/// Whether `error` stopped the run by a signal (whatever layer it surfaced in).
fn cancelled(error: &Error) -> bool {
    error.interrupted().is_some() || crate::signals::requested().is_some()
}

/// The exit code `error` gives the process for this run.
fn exit_code(error: &Error) -> u8 {
    match crate::signals::requested() {
        Some(signo) => 128 + signo as u8,
        None => error.exit_code(),
    }
}
