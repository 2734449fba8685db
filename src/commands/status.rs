//! `etl status`: one line per dataset of the target, and exit 1 when one needs a look
//! ([`crate::monitor::status`] reads them).

use super::context::Context;
use crate::cli::args::StatusArgs;
use crate::error::{Error, Result};
use crate::monitor::status::{self, DatasetStatus, Health};
use crate::summary::{count, thousands, Status, Summary};

/// Prints the table (or JSON) on stdout; the summary says what needs a look.
pub async fn run(args: StatusArgs, ctx: &Context) -> Result<Summary> {
    let started = std::time::Instant::now();
    let store = crate::store::open(&ctx.target).await?;
    let now = std::time::SystemTime::now();
    let datasets = status::gather(store.as_ref(), args.stale_after, now).await?;
    if args.json {
        let text = serde_json::to_string_pretty(&serde_json::json!({
            "target": store.url(),
            "checked_at": crate::load::manifest::rfc3339(now),
            "stale_after_seconds": args.stale_after.map(|d| d.as_secs()),
            "datasets": datasets,
        }))
        .map_err(|e| Error::Internal(e.to_string()))?;
        crate::stdout::print(&format!("{text}\n"))?;
    } else if !datasets.is_empty() {
        crate::stdout::print(&table(&datasets))?;
    }
    let mut summary = Summary::new("status", store.url());
    summary.seconds = started.elapsed().as_secs_f64();
    let look: Vec<&DatasetStatus> = datasets.iter().filter(|d| d.health.is_problem()).collect();
    summary.notes.push(match (datasets.len(), look.len()) {
        (0, _) => "no dataset in the target".to_owned(),
        (n, 0) => format!("{} fine", count(n as u64, "dataset")),
        (n, _) => {
            summary.status = Status::Failed;
            let named: Vec<String> =
                look.iter().map(|d| format!("{} ({})", d.dataset, d.health.as_str())).collect();
            format!(
                "{} of {} need{} a look: {}",
                look.len(),
                count(n as u64, "dataset"),
                if look.len() == 1 { "s" } else { "" },
                named.join(", ")
            )
        }
    });
    if args.stale_after.is_none() && !datasets.is_empty() {
        summary.notes.push("no --stale-after: a dataset is never stale".to_owned());
    }
    Ok(summary)
}

/// The table `etl status` prints: the datasets that need a look say why, on a line of their own.
fn table(datasets: &[DatasetStatus]) -> String {
    let rows: Vec<Vec<String>> = datasets
        .iter()
        .map(|d| {
            let run = d.last_run.as_ref();
            vec![
                d.dataset.clone(),
                d.health.as_str().to_owned(),
                run.map_or("-".into(), |r| r.status.clone()),
                run.map_or("-".into(), |r| r.finished.clone()),
                run.map_or("-".into(), |r| r.job.clone().unwrap_or_else(|| r.command.clone())),
                d.last_success.clone().unwrap_or_else(|| "never".into()),
                d.age_seconds.map_or("-".into(), crate::checks::human_age),
                d.rows.map_or("-".into(), thousands),
            ]
        })
        .collect();
    let mut out = crate::summary::table(
        &["DATASET", "HEALTH", "LAST RUN", "FINISHED", "BY", "LAST SUCCESS", "AGE", "ROWS"],
        &rows,
    );
    for d in datasets.iter().filter(|d| d.health != Health::Ok) {
        if let Some(note) = &d.note {
            out += &format!("{}: {note}\n", d.dataset);
        }
    }
    out
}
