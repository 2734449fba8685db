//! What a run tells the monitoring a team already watches: Prometheus metrics ([`metrics`]: the node
//! exporter's textfile collector, a Pushgateway), OpenLineage run events ([`lineage`]), and the
//! overview of every dataset's last run (`etl status`, [`status`]).
//!
//! A load reports through a [`Watch`]: [`Watch::start`] when it begins, [`Watch::end`] when it ends,
//! whatever the outcome. Nothing here fails or holds up a load: a receiver that is down or slow is a
//! warning line, after a bounded wait. The settings come from the environment and the command line
//! once per process ([`configure`]); a library user that configures nothing reports nothing.

pub mod lineage;
pub mod metrics;
mod post;
mod run;
pub mod status;

pub use run::{Outcome, RunEnd, RunStart};

use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::SystemTime;

tokio::task_local! {
    /// The job-file job a load runs as (`etl run`).
    static JOB: String;
}

/// Runs `work` as the job `name` of a job file: its loads' records, metrics and lineage name it.
pub async fn in_job<F: std::future::Future>(name: &str, work: F) -> F::Output {
    JOB.scope(name.to_owned(), work).await
}

/// The job-file job the current load runs as, if any.
pub fn job() -> Option<String> {
    JOB.try_with(Clone::clone).ok()
}

/// Where a process reports its runs.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    /// `--metrics-dir`, `ETL_METRICS_DIR`: a textfile collector's folder.
    pub metrics_dir: Option<PathBuf>,
    /// `ETL_PUSHGATEWAY_URL`.
    pub pushgateway: Option<String>,
    /// `OPENLINEAGE_URL` and the other `OPENLINEAGE_*` variables.
    pub lineage: Option<lineage::Config>,
}

static SETTINGS: OnceLock<Settings> = OnceLock::new();

/// Sets where this process reports its runs (once; later calls are ignored).
pub fn configure(settings: Settings) {
    let _ = SETTINGS.set(settings);
}

fn settings() -> Option<&'static Settings> {
    SETTINGS.get()
}

/// Marks, in the metrics this process writes, that a publish of `start`'s dataset begins: a run killed
/// before it ends leaves them saying `etl_publish_interrupted 1`.
pub async fn publish_begins(start: &RunStart) {
    if let Some(settings) = settings().filter(|s| s.metrics_dir.is_some() || s.pushgateway.is_some()) {
        metrics::mark_publish(
            settings.metrics_dir.as_deref(),
            settings.pushgateway.as_deref(),
            start,
            SystemTime::now(),
        )
        .await;
    }
}

/// Marks, in the metrics this process writes, that no publish of `dataset` is pending any more
/// (`etl repair` settled the one a killed run left).
pub async fn publish_settled(dataset: &str) {
    if let Some(settings) = settings() {
        metrics::settle(settings.metrics_dir.as_deref(), settings.pushgateway.as_deref(), dataset).await;
    }
}

/// One load's reports: START when it begins, the end's metrics and events when it ends.
pub struct Watch {
    start: RunStart,
}

impl Watch {
    /// Reports that `start` began (an OpenLineage START event).
    pub async fn start(start: RunStart) -> Watch {
        if let Some(config) = settings().and_then(|s| s.lineage.as_ref()) {
            lineage::emit(config, &lineage::start_event(config, &start)).await;
        }
        Watch { start }
    }

    /// Reports how the load ended: metrics written and pushed, a COMPLETE, FAIL or ABORT event.
    pub async fn end(self, end: RunEnd) {
        let Some(settings) = settings() else { return };
        let finished = SystemTime::now();
        if settings.metrics_dir.is_some() || settings.pushgateway.is_some() {
            let text = metrics::render(&self.start, &end, finished);
            if let Some(dir) = &settings.metrics_dir {
                if let Err(e) = metrics::write(dir, &self.start.dataset, &text) {
                    tracing::warn!("could not write the run's metrics in {}: {e}", dir.display());
                }
            }
            if let Some(url) = &settings.pushgateway {
                metrics::push(url, &self.start.dataset, &text).await;
            }
        }
        if let Some(config) = &settings.lineage {
            lineage::emit(config, &lineage::end_event(config, &self.start, &end, finished)).await;
        }
    }
}
