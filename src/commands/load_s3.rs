//! `etl load-s3`: the CSV objects of a drop folder (`s3://bucket/drop/*.csv`) into one dataset; which
//! objects a run loads, and whether it appends or replaces, is [`crate::pipeline::drop_folder`]'s.

use std::sync::Arc;

use super::context::{load_into, nothing_done, watched, Context};
use crate::error::Result;
use crate::extract::csv::CsvFile;
use crate::extract::objects;
use crate::extract::parts::CsvParts;
use crate::extract::SourceInfo;
use crate::load::{download_dir, WriteMode};
use crate::pipeline::commit::{Begun, LoadRequest, ModeGiven};
use crate::pipeline::drop_folder::{self, Decision};
use crate::settings::LoadS3Settings;
use crate::store::{ObjectMeta, ObjectStore};
use crate::summary::Summary;

/// Runs the command.
pub async fn run(settings: LoadS3Settings, ctx: &Context) -> Result<Summary> {
    drop_folder::check(&settings.write)?;
    let target = crate::store::open(&ctx.target).await?;
    let source = SourceInfo { kind: "s3", location: settings.source.to_string() };
    let (dataset, dry_run) = (settings.dataset.clone(), settings.write.dry_run);
    watched("load-s3", &dataset, source, target.as_ref(), dry_run, |begun| {
        load(settings, ctx, target.clone(), begun)
    })
    .await
}

/// The run: the new objects listed and downloaded, then loaded.
async fn load(
    settings: LoadS3Settings,
    ctx: &Context,
    target: Arc<dyn ObjectStore>,
    begun: Option<Begun>,
) -> Result<Summary> {
    let started = std::time::Instant::now();
    let glob = &settings.source;
    let bucket = crate::store::open(&glob.bucket()).await?;
    let objects: Vec<ObjectMeta> = glob
        .list(bucket.as_ref())
        .await?
        .into_iter()
        .filter(|o| {
            if o.size == 0 {
                tracing::warn!("{}: empty (no header line), left out", glob.url_of(&o.key));
            }
            o.size > 0
        })
        .collect();
    crate::pipeline::commit::recover_first(target.clone(), &settings.dataset, &settings.write).await?;
    let dataset = &settings.dataset;
    let to_load =
        match drop_folder::decide(glob, objects, target.as_ref(), dataset, settings.write.mode).await? {
            Decision::Nothing(note) => {
                return Ok(nothing_done("load-s3", target.as_ref(), dataset, started, note))
            }
            Decision::Load(to_load) => to_load,
        };
    let downloads = download_dir(target.as_ref())?;
    let files = objects::download(bucket.as_ref(), &to_load.objects, downloads.path()).await?;
    let parts = files
        .into_iter()
        .zip(&to_load.objects)
        .map(|(path, o)| Ok(CsvFile::new(path, settings.read.csv.clone())?.named("s3", glob.url_of(&o.key))))
        .collect::<Result<Vec<_>>>()?;
    // The files are loaded as one table: numbers read with decimal commas if the first file says so.
    let decimal_comma = parts.first().map(CsvFile::decimal_comma).unwrap_or_default();
    let source = CsvParts::new("s3", glob.to_string(), parts);
    let size = to_load.objects.iter().map(|o| o.size).sum();
    let request = LoadRequest {
        began: started,
        source_size: Some(size),
        progress: ctx.progress(&settings.dataset, Some(size)),
        partition_column: settings.partition_column,
        pins: settings.read.pins.with_decimal_comma(decimal_comma),
        bad_rows: settings.read.csv.bad_rows,
        null_values: settings.read.null_values,
        state: Some(to_load.state.clone()),
        begun,
        ..LoadRequest::new("load-s3", Arc::new(source), settings.dataset.clone())
    }
    .written_as(&settings.write, to_load.mode);
    // New objects with a primary key: their rows replace the ones of the same key (a re-delivered
    // export under a new name loads no row twice).
    let mode = match to_load.mode {
        WriteMode::Append if !settings.write.primary_key.is_empty() => WriteMode::Upsert,
        mode => mode,
    };
    let mode_given = if settings.write.mode.is_some() { ModeGiven::User } else { ModeGiven::Command };
    let request = LoadRequest { mode, mode_given, ..request };
    let dry_run = request.dry_run;
    let mut summary = load_into(request, target).await?;
    drop(downloads);
    summary.notes.insert(0, to_load.note(dry_run));
    Ok(summary)
}
