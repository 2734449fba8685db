//! Which objects of a drop folder a `load-s3` run loads, and how.
//!
//! Objects already loaded (by key and ETag, in `datasets/<id>/_state.json`) are skipped: a run loads
//! only the new ones and appends their rows (new part files). An object that changed since it was
//! loaded cannot be taken out of the files it went into, so then every matching object is loaded
//! again and replaces the dataset; so too after a run that stopped half-way, and on the first run.

use std::collections::HashMap;

use crate::error::{Error, Result};
use crate::extract::objects::ObjectGlob;
use crate::load::layout::DatasetId;
use crate::load::manifest::{self, FileRecord, Manifest};
use crate::load::state::{self, LoadedObject, State, StateUpdate};
use crate::load::WriteMode;
use crate::pipeline::commit::WriteSettings;
use crate::store::{ObjectMeta, ObjectStore};

/// What a run of a drop folder does.
pub enum Decision {
    /// Nothing to load; the note says why.
    Nothing(String),
    Load(Box<ToLoad>),
}

/// The objects a run loads, and how.
pub struct ToLoad {
    /// The objects to load, in the listing's order.
    pub objects: Vec<ObjectMeta>,
    /// Append (new objects only) or replace (every matching object).
    pub mode: WriteMode,
    /// The state to write with the data.
    pub state: StateUpdate,
    /// How many objects match the glob.
    pub matching: usize,
}

impl ToLoad {
    /// The summary's note: what was loaded (or, for a dry run, would be).
    pub fn note(&self, dry_run: bool) -> String {
        let verb = if dry_run { "to load" } else { "loaded" };
        let count = self.objects.len();
        match self.mode {
            WriteMode::Append => {
                format!("{count} new objects {verb}, {} loaded before", self.matching - count)
            }
            _ => format!("all {count} matching objects {verb}"),
        }
    }
}

/// Checks the write settings `load-s3` takes: no partition range, no merge.
pub fn check(write: &WriteSettings) -> Result<()> {
    if let Some(range) = write.partition_range {
        return Err(Error::Usage(format!(
            "--partition-range {range} does not apply to load-s3: the rows it leaves out would count as \
             loaded with their objects"
        )));
    }
    if write.mode == Some(WriteMode::Merge) {
        return Err(Error::Usage(
            "load-s3 appends new objects, or with --mode replace loads every object again; --mode merge \
             would replace whole partitions with the new objects' rows alone"
                .into(),
        ));
    }
    Ok(())
}

/// Decides what to load of `objects` (the non-empty objects matching `glob`) into `dataset` of
/// `target`; `asked` is `--mode`.
pub async fn decide(
    glob: &ObjectGlob,
    objects: Vec<ObjectMeta>,
    target: &dyn ObjectStore,
    dataset: &DatasetId,
    asked: Option<WriteMode>,
) -> Result<Decision> {
    let previous = state::read(target, dataset).await?;
    let manifest = manifest::read(target, dataset).await?;
    let published = manifest.as_ref().map(|m| m.run_id.clone());
    let known = previous.clone().map(|s| s.trusted(published.as_deref())).unwrap_or_default();
    let url = |o: &ObjectMeta| glob.url_of(&o.key);
    let etag = |o: &ObjectMeta| o.etag.clone().unwrap_or_else(|| format!("size-{}", o.size));
    let changed: Vec<&ObjectMeta> =
        objects.iter().filter(|o| known.etag_of(&url(o)).is_some_and(|e| e != etag(o))).collect();
    let new: Vec<&ObjectMeta> = objects.iter().filter(|o| known.etag_of(&url(o)).is_none()).collect();

    if objects.is_empty() {
        tracing::warn!("no object matches {glob}");
        return Ok(Decision::Nothing(format!("no object matches {glob}: nothing to load")));
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
    } else if !intact(target, dataset, manifest.as_ref()).await? {
        Some("the dataset's files differ from what its manifest lists (a run stopped half-way)".to_owned())
    } else {
        None
    };
    let first = known.objects.is_empty();
    if why_all.is_none() && !first && new.is_empty() {
        let note = format!("nothing new: all {} matching objects were loaded before", objects.len());
        return Ok(Decision::Nothing(note));
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
    Ok(Decision::Load(Box::new(ToLoad {
        objects: load.into_iter().cloned().collect(),
        mode,
        state: StateUpdate { next, based_on: known.clone(), published },
        matching: objects.len(),
    })))
}

/// Whether the dataset's data files are exactly the ones its manifest lists, each provably holding
/// the bytes it records ([`ObjectStore::holds`], not the size alone).
async fn intact(store: &dyn ObjectStore, dataset: &DatasetId, manifest: Option<&Manifest>) -> Result<bool> {
    let Some(manifest) = manifest else { return Ok(false) };
    let listed: HashMap<&str, &FileRecord> = manifest.files.iter().map(|f| (f.key.as_str(), f)).collect();
    let found: Vec<ObjectMeta> = store
        .list(&dataset.prefix())
        .await?
        .into_iter()
        .filter(|o| dataset.part_of_key(&o.key).is_some())
        .collect();
    if found.len() != listed.len() {
        return Ok(false);
    }
    for object in &found {
        let Some(record) = listed.get(object.key.as_str()) else { return Ok(false) };
        let Some(sha256) = record.sha256.as_deref() else { return Ok(false) };
        if record.bytes != object.size || !store.holds(object, sha256, record.etag.as_deref()).await? {
            return Ok(false);
        }
    }
    Ok(true)
}
