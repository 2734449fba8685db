//! `etl load-s3`: the CSV objects of a drop folder (`s3://bucket/drop/*.csv`) into one dataset.
//!
//! Objects already loaded (by key and ETag, in `datasets/<id>/_state.json`) are skipped: a run loads
//! only the new ones and appends their rows (new part files). An object that changed since it was
//! loaded cannot be taken out of the files it went into, so then every matching object is loaded
//! again and replaces the dataset.

use std::sync::Arc;

use super::context::{load_into, nothing_done, Context};
use crate::load::download_dir;
use crate::pipeline::commit::LoadRequest;
use crate::settings::LoadS3Settings;
use crate::error::{Error, Result};
use crate::extract::csv::CsvFile;
use crate::extract::objects;
use crate::extract::parts::CsvParts;
use crate::load::layout::DatasetId;
use crate::load::manifest;
use crate::load::state::{self, LoadedObject, State, StateUpdate};
use crate::load::WriteMode;
use crate::store::ObjectMeta;
use crate::summary::Summary;

/// Runs the command.
pub async fn run(settings: LoadS3Settings, ctx: &Context) -> Result<Summary> {
    let started = std::time::Instant::now();
    if let Some(range) = settings.write.partition_range {
        return Err(Error::Usage(format!(
            "--partition-range {range} does not apply to load-s3: the rows it leaves out would count as \
             loaded with their objects"
        )));
    }
    let asked = settings.write.mode;
    if asked == Some(WriteMode::Merge) {
        return Err(Error::Usage(
            "load-s3 appends new objects, or with --mode replace loads every object again; --mode merge \
             would replace whole partitions with the new objects' rows alone"
                .into(),
        ));
    }
    let bucket = crate::store::open(&settings.source.bucket()).await?;
    let objects: Vec<ObjectMeta> = settings
        .source
        .list(bucket.as_ref())
        .await?
        .into_iter()
        .filter(|o| {
            if o.size == 0 {
                tracing::warn!("{}: empty (no header line), left out", settings.source.url_of(&o.key));
            }
            o.size > 0
        })
        .collect();
    let target = crate::store::open(&ctx.target).await?;
    let dataset = &settings.dataset;
    let previous = state::read(target.as_ref(), dataset).await?;
    let manifest = manifest::read(target.as_ref(), dataset).await?;
    let published = manifest.as_ref().map(|m| m.run_id.clone());
    let known = previous.clone().map(|s| s.trusted(published.as_deref())).unwrap_or_default();
    let url = |o: &ObjectMeta| settings.source.url_of(&o.key);
    let etag = |o: &ObjectMeta| o.etag.clone().unwrap_or_else(|| format!("size-{}", o.size));
    let changed: Vec<&ObjectMeta> =
        objects.iter().filter(|o| known.etag_of(&url(o)).is_some_and(|e| e != etag(o))).collect();
    let new: Vec<&ObjectMeta> = objects.iter().filter(|o| known.etag_of(&url(o)).is_none()).collect();

    let nothing = |note: String| Ok(nothing_done("load-s3", target.as_ref(), dataset, started, note));
    if objects.is_empty() {
        tracing::warn!("no object matches {}", settings.source);
        return nothing(format!("no object matches {}: nothing to load", settings.source));
    }
    // Appending is only safe onto exactly what the state and the manifest describe; anything else
    // (a first run, a changed object, a run that stopped half-way) loads every object again.
    let why_all = if asked == Some(WriteMode::Replace) {
        Some("--mode replace".to_owned())
    } else if !changed.is_empty() {
        let names: Vec<String> = changed.iter().map(|o| url(o)).collect();
        Some(format!(
            "{} changed since {} loaded",
            names.join(", "),
            if names.len() == 1 { "it was" } else { "they were" }
        ))
    } else if previous.as_ref().is_some_and(|p| p.objects.len() > known.objects.len()) {
        Some("the last run stopped before its manifest".to_owned())
    } else if known.objects.is_empty() {
        None
    } else if !intact(target.as_ref(), dataset, manifest.as_ref()).await? {
        Some("the dataset's files differ from what its manifest lists (a run stopped half-way)".to_owned())
    } else {
        None
    };
    let first = known.objects.is_empty();
    if why_all.is_none() && !first && new.is_empty() {
        return nothing(format!("nothing new: all {} matching objects were loaded before", objects.len()));
    }
    let (load, mode, kept): (Vec<&ObjectMeta>, WriteMode, Vec<LoadedObject>) = match &why_all {
        Some(why) => {
            tracing::warn!(
                "{why}: loading all {} matching objects again, replacing the dataset",
                objects.len()
            );
            (objects.iter().collect(), WriteMode::Replace, Vec::new())
        }
        // Nothing loaded yet: the dataset becomes the folder's objects.
        None if first => (objects.iter().collect(), WriteMode::Replace, Vec::new()),
        None => (new, WriteMode::Append, known.objects.clone()),
    };
    let loaded = load.iter().map(|o| LoadedObject {
        url: url(o),
        etag: etag(o),
        bytes: o.size,
        run_id: String::new(),
    });
    let next = State::with_objects(kept.into_iter().chain(loaded).collect());
    tracing::info!("{} of {} matching objects to load", load.len(), objects.len());

    let downloads = download_dir(target.as_ref())?;
    let picked: Vec<ObjectMeta> = load.iter().map(|o| (*o).clone()).collect();
    let files = objects::download(bucket.as_ref(), &picked, downloads.path()).await?;
    let parts = files
        .into_iter()
        .zip(&picked)
        .map(|(path, o)| Ok(CsvFile::new(path, settings.csv.clone())?.named("s3", url(o))))
        .collect::<Result<Vec<_>>>()?;
    let source = CsvParts::new("s3", settings.source.to_string(), parts);
    let count = picked.len();
    let size = picked.iter().map(|o| o.size).sum();
    let request = LoadRequest {
        source_size: Some(size),
        progress: ctx.progress(true, Some(size)),
        partition_column: settings.partition_column,
        pins: settings.pins,
        bad_rows: settings.csv.bad_rows,
        null_values: settings.null_values,
        state: Some(StateUpdate { next, based_on: previous.map(|s| s.run_id), published }),
        ..LoadRequest::new("load-s3", Arc::new(source), settings.dataset.clone())
    }
    .written_as(&settings.write, mode);
    let request = LoadRequest { mode, ..request };
    let dry_run = request.dry_run;
    let mut summary = load_into(request, target).await?;
    drop(downloads);
    let verb = if dry_run { "to load" } else { "loaded" };
    summary.notes.insert(
        0,
        match mode {
            WriteMode::Append => {
                format!("{count} new objects {verb}, {} loaded before", objects.len() - count)
            }
            _ => format!("all {count} matching objects {verb}"),
        },
    );
    Ok(summary)
}

/// Whether the dataset's data files are exactly the ones its manifest lists, with their sizes.
async fn intact(
    store: &dyn crate::store::ObjectStore,
    dataset: &DatasetId,
    manifest: Option<&manifest::Manifest>,
) -> Result<bool> {
    let Some(manifest) = manifest else { return Ok(false) };
    let listed: std::collections::HashMap<&str, u64> =
        manifest.files.iter().map(|f| (f.key.as_str(), f.bytes)).collect();
    let found: Vec<ObjectMeta> = store
        .list(&dataset.prefix())
        .await?
        .into_iter()
        .filter(|o| dataset.part_of_key(&o.key).is_some())
        .collect();
    Ok(found.len() == listed.len() && found.iter().all(|o| listed.get(o.key.as_str()) == Some(&o.size)))
}
