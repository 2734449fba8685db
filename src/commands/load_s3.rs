//! `etl load-s3`: the CSV objects of a drop folder (`s3://bucket/drop/*.csv`) into one dataset.
//!
//! Objects already loaded (by key and ETag, in `datasets/<id>/_state.json`) are skipped: a run loads
//! only the new ones and appends their rows (new part files). An object that changed since it was
//! loaded cannot be taken out of the files it went into, so then every matching object is loaded
//! again and replaces the dataset.

use std::sync::Arc;

use super::{load_into, Context, LoadRequest, WriteSettings};
use crate::error::{Error, Result};
use crate::extract::csv::{CsvFile, CsvOptions};
use crate::extract::objects::{self, ObjectGlob};
use crate::extract::parts::CsvParts;
use crate::load::layout::DatasetId;
use crate::load::manifest;
use crate::load::state::{self, LoadedObject, State, StateUpdate};
use crate::load::WriteMode;
use crate::store::ObjectMeta;
use crate::summary::Summary;
use crate::transform::{NullTokens, Pins};

/// Resolved arguments.
#[derive(Debug, Clone)]
pub struct Settings {
    pub source: ObjectGlob,
    pub dataset: DatasetId,
    pub partition_column: Option<String>,
    pub csv: CsvOptions,
    pub pins: Pins,
    pub null_values: NullTokens,
    pub write: WriteSettings,
}

/// Runs the command.
pub async fn run(settings: Settings, ctx: &Context) -> Result<Summary> {
    let started = std::time::Instant::now();
    let bucket = crate::store::open(&settings.source.bucket()).await?;
    let objects = settings.source.list(bucket.as_ref()).await?;
    let target = crate::store::open(&ctx.target).await?;
    let previous = state::read(target.as_ref(), &settings.dataset).await?;
    let published = manifest::read(target.as_ref(), &settings.dataset).await?.map(|m| m.run_id);
    let known = previous.clone().map(|s| s.trusted(published.as_deref())).unwrap_or_default();
    let url = |o: &ObjectMeta| settings.source.url_of(&o.key);
    let etag = |o: &ObjectMeta| o.etag.clone().unwrap_or_else(|| format!("size-{}", o.size));
    let changed: Vec<&ObjectMeta> =
        objects.iter().filter(|o| known.etag_of(&url(o)).is_some_and(|e| e != etag(o))).collect();
    let new: Vec<&ObjectMeta> = objects.iter().filter(|o| known.etag_of(&url(o)).is_none()).collect();

    let nothing = |note: String| {
        let mut summary = Summary::new("load-s3", target.url_of(&settings.dataset.prefix()));
        summary.dataset = Some(settings.dataset.to_string());
        summary.seconds = started.elapsed().as_secs_f64();
        summary.notes.push(note);
        Ok(summary)
    };
    if objects.is_empty() {
        tracing::warn!("no object matches {}", settings.source);
        return nothing(format!("no object matches {}: nothing to load", settings.source));
    }
    if new.is_empty() && changed.is_empty() {
        return nothing(format!("nothing new: all {} matching objects were loaded before", objects.len()));
    }
    let asked = settings.write.mode;
    let (load, mode, kept): (Vec<&ObjectMeta>, WriteMode, Vec<LoadedObject>) = if !changed.is_empty() {
        let names: Vec<String> = changed.iter().map(|o| url(o)).collect();
        tracing::warn!(
            "{} changed since {} loaded: loading all {} matching objects again, replacing the dataset",
            names.join(", "),
            if names.len() == 1 { "it was" } else { "they were" },
            objects.len()
        );
        (objects.iter().collect(), WriteMode::Replace, Vec::new())
    } else if asked == Some(WriteMode::Replace) {
        (objects.iter().collect(), WriteMode::Replace, Vec::new())
    } else {
        (new, asked.unwrap_or(WriteMode::Append), known.objects.clone())
    };
    let loaded = load.iter().map(|o| LoadedObject {
        url: url(o),
        etag: etag(o),
        bytes: o.size,
        run_id: String::new(),
    });
    let next = State::with_objects(kept.into_iter().chain(loaded).collect());
    tracing::info!("{} of {} matching objects to load", load.len(), objects.len());

    let staging = target.staging_parent();
    std::fs::create_dir_all(&staging).map_err(|e| Error::io(&staging, e))?;
    let downloads = tempfile::Builder::new()
        .prefix(".etl-download-")
        .tempdir_in(&staging)
        .map_err(|e| Error::io(&staging, e))?;
    let picked: Vec<ObjectMeta> = load.iter().map(|o| (*o).clone()).collect();
    let files = objects::download(bucket.as_ref(), &picked, downloads.path()).await?;
    let parts = files
        .into_iter()
        .zip(&picked)
        .map(|(path, o)| Ok(CsvFile::new(path, settings.csv.clone())?.named("s3", url(o))))
        .collect::<Result<Vec<_>>>()?;
    let source = CsvParts::new("s3", settings.source.to_string(), parts);
    let count = picked.len();
    let request = LoadRequest {
        source_size: Some(picked.iter().map(|o| o.size).sum()),
        partition_column: settings.partition_column,
        pins: settings.pins,
        bad_rows: settings.csv.bad_rows,
        null_values: settings.null_values,
        state: Some(StateUpdate { next, based_on: previous.map(|s| s.run_id) }),
        ..LoadRequest::new("load-s3", Arc::new(source), settings.dataset)
    }
    .written_as(&settings.write, mode);
    let request = LoadRequest { mode, ..request };
    let mut summary = load_into(request, ctx, target).await?;
    drop(downloads);
    summary.notes.insert(
        0,
        match mode {
            WriteMode::Replace => format!("all {count} matching objects loaded"),
            _ => format!("{count} new objects loaded, {} loaded before", objects.len() - count),
        },
    );
    Ok(summary)
}
