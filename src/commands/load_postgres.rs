//! `etl load-postgres`: the rows of a PostgreSQL query or table into one dataset, typed by
//! PostgreSQL (see [`crate::extract::postgres`]).

use std::sync::Arc;

use super::context::{load_into, nothing_done, watched, Context};
use crate::error::Result;
use crate::extract::postgres;
use crate::extract::SourceInfo;
use crate::load::download_dir;
use crate::load::WriteMode;
use crate::pipeline::commit::{Begun, LoadRequest};
use crate::pipeline::incremental;
use crate::settings::LoadPostgresSettings;
use crate::store::ObjectStore;
use crate::summary::Summary;
use crate::transform::NullTokens;

/// Runs the command.
pub async fn run(settings: LoadPostgresSettings, ctx: &Context) -> Result<Summary> {
    let target = crate::store::open(&ctx.target).await?;
    let source = SourceInfo { kind: "postgres", location: postgres::source_name(&settings.source) };
    let (dataset, dry_run) = (settings.dataset.clone(), settings.write.dry_run);
    watched("load-postgres", &dataset, source, target.as_ref(), dry_run, |begun| {
        load(settings, ctx, target.clone(), begun)
    })
    .await
}

/// The run: the query started, its rows loaded as they come.
async fn load(
    mut settings: LoadPostgresSettings,
    ctx: &Context,
    target: Arc<dyn ObjectStore>,
    begun: Option<Begun>,
) -> Result<Summary> {
    let started = std::time::Instant::now();
    crate::pipeline::commit::recover_first(target.clone(), &settings.dataset, &settings.write).await?;
    let mut notes = Vec::new();
    if let (Some(_), Some(table)) = (&settings.incremental, &settings.source.table) {
        // Rows updated upstream come again: the table's own key upserts them (two versions of
        // every updated row otherwise), unless the run gives its own.
        // `--mode append`: the user says rows never change, and keeps them all.
        if settings.write.primary_key.is_empty() && settings.write.mode != Some(WriteMode::Append) {
            let key = postgres::primary_key(&settings.source.url, table).await?;
            if !key.is_empty() {
                notes.push(format!("rows upserted by {table}'s primary key ({})", key.join(", ")));
                settings.write.primary_key = key;
            }
        }
    }
    let incremental = match &settings.incremental {
        Some((column, full_refresh)) => {
            let flag = "--incremental-column";
            let start = incremental::start(
                target.as_ref(),
                &settings.dataset,
                column,
                *full_refresh,
                &settings.write,
                flag,
            )
            .await?;
            settings.source.incremental = Some((column.clone(), start.checkpoint.clone()));
            Some(start)
        }
        None => None,
    };
    let dir = download_dir(target.as_ref())?;
    // Checks may read the rows again, to fetch those they refuse.
    let again = !settings.write.checks.is_empty();
    let rows = postgres::read(&settings.source, dir.path(), again).await?;
    let end = match incremental {
        Some(start) if rows.highest.is_none() && start.checkpoint.is_some() => {
            let note = start.nothing_new();
            return Ok(nothing_done("load-postgres", target.as_ref(), &settings.dataset, started, note));
        }
        Some(start) => Some(start.end(rows.highest.clone())),
        None => None,
    };
    let postgres::PgRows { rows: source, pins, copy, .. } = rows;
    // Read and typed while the COPY still writes it: its size is known at the end.
    let request = LoadRequest {
        began: started,
        source_size: None,
        progress: ctx.progress(&settings.dataset, None),
        pins: pins.overridden_by(&settings.pins),
        partition_column: settings.partition_column,
        // PostgreSQL has its own null: a text "NA" is text.
        null_values: NullTokens::empty_only(),
        state: end.as_ref().and_then(|e| e.state.clone()),
        begun,
        ..LoadRequest::new("load-postgres", source, settings.dataset)
    }
    .written_as(&settings.write, WriteMode::Merge);
    let request = match &end {
        Some(end) => LoadRequest {
            mode: end.mode,
            mode_given: incremental::mode_given(end, &settings.write),
            ..request
        },
        None => request,
    };
    let loaded = load_into(request, target).await;
    // A COPY that failed is why the load failed (its reader only saw the file end early).
    let copied = copy.finish().await;
    let mut summary = match (loaded, copied) {
        (Err(_), Err(copy)) => return Err(copy),
        (loaded, _) => loaded?,
    };
    summary.notes.extend(notes);
    summary.notes.extend(end.map(|e| e.notes).unwrap_or_default());
    drop(dir);
    Ok(summary)
}
