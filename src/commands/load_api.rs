//! `etl load-api`: the records of a JSON REST API into one dataset (see [`crate::extract::api`]).

use std::sync::Arc;

use super::context::{load_into, nothing_done, watched, Context};
use crate::error::{Error, Result};
use crate::extract::api;
use crate::extract::SourceInfo;
use crate::load::download_dir;
use crate::load::{manifest, WriteMode};
use crate::pipeline::commit::{Begun, LoadRequest};
use crate::pipeline::incremental;
use crate::settings::LoadApiSettings;
use crate::store::ObjectStore;
use crate::summary::Summary;
use crate::transform::{NullTokens, Pins};

/// Runs the command.
pub async fn run(settings: LoadApiSettings, ctx: &Context) -> Result<Summary> {
    let target = crate::store::open(&ctx.target).await?;
    let source = SourceInfo { kind: "api", location: api::source_name(&settings.api) };
    let (dataset, dry_run) = (settings.dataset.clone(), settings.write.dry_run);
    watched("load-api", &dataset, source, target.as_ref(), dry_run, |begun| {
        load(settings, ctx, target.clone(), begun)
    })
    .await
}

/// The run: the records fetched, then loaded.
async fn load(
    mut settings: LoadApiSettings,
    ctx: &Context,
    target: Arc<dyn ObjectStore>,
    begun: Option<Begun>,
) -> Result<Summary> {
    let started = std::time::Instant::now();
    crate::pipeline::commit::recover_first(target.clone(), &settings.dataset, &settings.write).await?;
    let incremental = match &settings.incremental {
        Some(inc) => {
            let flag = "--incremental-field";
            let start = incremental::start(
                target.as_ref(),
                &settings.dataset,
                &inc.field,
                inc.full_refresh,
                &settings.write,
                flag,
            )
            .await?;
            settings.api.since = start.checkpoint.clone().map(|v| (inc.param.clone(), v));
            settings.api.track = Some(inc.field.clone());
            settings.api.keep_at_checkpoint = start.upserts();
            Some(start)
        }
        None => None,
    };
    let spool_dir = download_dir(target.as_ref())?;
    let download = ctx.progress(&settings.dataset, None);
    let records = api::fetch(&settings.api, spool_dir.path(), &download).await?;
    let dropped = settings.incremental.as_ref().and_then(|inc| {
        let checkpoint = &settings.api.since.as_ref()?.1;
        incremental::dropped_note(&inc.field, &inc.param, checkpoint, records.dropped())
    });
    if records.records() == 0 {
        let note = match &incremental {
            Some(start) => match &dropped {
                Some(dropped) => format!("{}; {dropped}", start.nothing_new()),
                None => start.nothing_new(),
            },
            None => {
                tracing::warn!("{}: no records", settings.api.url);
                "the API returned no records: nothing written".into()
            }
        };
        return Ok(nothing_done("load-api", target.as_ref(), &settings.dataset, started, note));
    }
    let end = match incremental {
        Some(start) if records.highest().is_none() && start.checkpoint.is_none() => {
            return Err(Error::Refused(format!(
                "no record has the field `{}`: there is no checkpoint to keep. Nothing was written; check \
                 --incremental-field (a flattened name, like `meta.updated_at`)",
                start.field
            )))
        }
        Some(start) => {
            let schema = start.schema.clone();
            Some((start.end(records.highest().map(str::to_owned)), schema))
        }
        None => None,
    };
    // An append (or upsert) keeps the dataset's columns and types: the new records alone could say otherwise
    // (a column they lack, a price that happens to be whole).
    let (records, pins) = match &end {
        Some((end, schema)) if matches!(end.mode, WriteMode::Append | WriteMode::Upsert) => {
            let names: Vec<String> = schema.iter().map(|c| c.name.clone()).collect();
            let kept = schema.iter().fold(Pins::none(), |pins, c| match manifest::parser_of_type(&c.kind) {
                Some(parser) => pins.pin(&c.name, parser),
                None => pins,
            });
            (records.with_columns(&names), kept.overridden_by(&settings.pins))
        }
        _ => (records, settings.pins.clone()),
    };
    let request = LoadRequest {
        began: started,
        pins: records.pins(&pins),
        progress: ctx.progress(&settings.dataset, None),
        partition_column: settings.partition_column,
        // JSON has its own null: a string "NA" is text.
        null_values: NullTokens::empty_only(),
        state: end.as_ref().and_then(|(e, _)| e.state.clone()),
        begun,
        ..LoadRequest::new("load-api", Arc::new(records), settings.dataset)
    }
    .written_as(&settings.write, WriteMode::Merge);
    let request = match &end {
        Some((end, _)) => LoadRequest {
            mode: end.mode,
            mode_given: incremental::mode_given(end, &settings.write),
            ..request
        },
        None => request,
    };
    let mut summary = load_into(request, target).await?;
    summary.notes.extend(dropped);
    summary.notes.extend(end.map(|(e, _)| e.notes).unwrap_or_default());
    drop(spool_dir);
    Ok(summary)
}
