//! `etl repair <id>`: finishes or rolls back the publish a killed run left half-done (see
//! [`crate::load::journal`]), holding the dataset's lock; the next load would do the same first.

use std::time::Instant;

use super::context::Context;
use crate::error::Result;
use crate::load::layout::DatasetId;
use crate::summary::Summary;

/// Runs the command.
pub async fn run(dataset: DatasetId, ctx: &Context) -> Result<Summary> {
    let started = Instant::now();
    let store = crate::store::open(&ctx.target).await?;
    let recovered =
        crate::pipeline::commit::recover_first(store.clone(), &dataset, &Default::default()).await;
    let mut summary = Summary::new("repair", store.url_of(&dataset.prefix()));
    summary.dataset = Some(dataset.to_string());
    let recovered = recovered?;
    if !recovered.is_empty() {
        // The metrics a killed run left saying its publish was under way now say it is settled.
        crate::monitor::publish_settled(dataset.as_str()).await;
    }
    summary.notes = recovered.iter().map(ToString::to_string).collect();
    if summary.notes.is_empty() {
        summary.notes.push("nothing to repair: no publish was left half-done".into());
    }
    summary.seconds = started.elapsed().as_secs_f64();
    Ok(summary)
}
