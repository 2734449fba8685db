//! What every command shares: the run's [`Context`], and the way into the load transaction
//! ([`load_into`]).

use std::sync::Arc;

use crate::error::{Error, Result};
use crate::load::layout::DatasetId;
use crate::logging::LogFormat;
use crate::pipeline::commit::{self, Begun, LoadRequest};
use crate::progress::Progress;
use crate::store::{ObjectStore, Target};
use crate::summary::Summary;

/// What every command gets besides its own settings.
#[derive(Debug, Clone)]
pub struct Context {
    pub target: Target,
    pub log_format: LogFormat,
}

impl Context {
    /// The progress display of a load into `dataset` of a source of `size` bytes: drawn when
    /// stderr is a terminal showing text logs.
    pub fn progress(&self, dataset: &DatasetId, size: Option<u64>) -> Progress {
        use std::io::IsTerminal;
        let terminal = self.log_format == LogFormat::Text && std::io::stderr().is_terminal();
        Progress::new(terminal, dataset.as_str(), size)
    }
}

/// The summary of a load of `dataset` that found nothing to do.
pub fn nothing_done(
    command: &'static str,
    store: &dyn ObjectStore,
    dataset: &DatasetId,
    started: std::time::Instant,
    note: String,
) -> Summary {
    Summary::nothing_done(command, store.url_of(&dataset.prefix()), dataset.as_str(), started, note)
}

/// Runs `work`, a load whose command works before handing its request over (a download, a query),
/// as a run that begins now: its START event is sent and, should it fail or find nothing to do
/// before the transaction takes it over, its record kept and its end reported. A dry run is no run.
/// `work` gets the run, to hand over with its request.
pub async fn watched<Fut>(
    command: &'static str,
    dataset: &DatasetId,
    source: crate::extract::SourceInfo,
    store: &dyn ObjectStore,
    dry_run: bool,
    work: impl FnOnce(Option<Begun>) -> Fut,
) -> Result<Summary>
where
    Fut: std::future::Future<Output = Result<Summary>>,
{
    if dry_run {
        return work(None).await;
    }
    let begun = Begun::new(command, dataset, &source, store).await;
    let result = work(Some(begun.clone())).await;
    begun.end(store, result).await
}

/// Runs a load into `ctx`'s target.
pub async fn load_dataset(request: LoadRequest, ctx: &Context) -> Result<Summary> {
    let store = crate::store::open(&ctx.target).await?;
    load_into(request, store).await
}

/// Runs a load into `store` (opened once and shared when several datasets load in one run) and
/// prints a dry run's plan on stdout.
pub async fn load_into(request: LoadRequest, store: Arc<dyn ObjectStore>) -> Result<Summary> {
    let loaded = commit::load(request, store).await?;
    if let Some(plan) = loaded.plan {
        // The run is done (a dry run publishes nothing): a closed pipe only ends the listing.
        let _ = crate::stdout::print(&plan);
    }
    Ok(loaded.summary)
}

/// The usage error (exit 2) of a dataset id that names no dataset in `store`: with the nearest id
/// (`cursor-usag`: did you mean `cursor-usage`?) and the ids there are.
pub async fn no_such_dataset(dataset: &DatasetId, store: &dyn ObjectStore) -> Error {
    let ids: Vec<String> = match store.list("datasets/").await {
        Ok(objects) => {
            let mut ids: Vec<String> = objects
                .iter()
                .filter_map(|o| o.key.strip_prefix("datasets/")?.split('/').next().map(str::to_owned))
                .collect();
            ids.dedup();
            ids.sort();
            ids.dedup();
            ids
        }
        Err(_) => Vec::new(),
    };
    let hint = crate::suggest::did_you_mean(dataset.as_str(), ids.iter().map(String::as_str));
    let there = match ids.len() {
        0 => "it holds no dataset".to_owned(),
        n if n <= 20 => format!("its datasets: {}", ids.join(", ")),
        n => format!("{n} datasets, among them {}, ...", ids[..20].join(", ")),
    };
    Error::Usage(format!("there is no dataset `{dataset}` in {}{hint}; {there}", store.url()))
}
