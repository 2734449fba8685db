//! `datasets/<id>/_state.json`: what an incremental source has loaded so far, so that the next run
//! asks only for what is new.
//!
//! It is written after every data file is in place and just before the manifest. A run that stops
//! before its state leaves the last finished run's state, and the next run loads the same new things
//! again (after removing the files the stopped run uploaded: see `commands::appendable`). A run that
//! stops between its state and its manifest leaves objects stamped with a run the manifest does not
//! know: [`State::trusted`] forgets them, so they are loaded again too.

use serde::{Deserialize, Serialize};

use super::layout::DatasetId;
use crate::error::{Error, Result};
use crate::store::{ObjectStore, StoreError};

/// The state format this tool writes.
pub const FORMAT: u32 = 1;

/// A dataset's state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    pub format: u32,
    /// The run that wrote it, and when (filled in when it is written).
    #[serde(default)]
    pub run_id: String,
    #[serde(default)]
    pub updated: String,
    /// Objects loaded so far (`load-s3`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub objects: Vec<LoadedObject>,
    /// The highest value of the incremental field loaded so far, newest last (`load-api`); a few
    /// earlier ones are kept so that [`State::trusted`] can step back.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub checkpoints: Vec<Checkpoint>,
}

/// How far an incremental load has come.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// The field compared (`updated_at`).
    pub field: String,
    /// Its highest value loaded, as the source wrote it.
    pub value: String,
    /// The run that loaded it (filled in when the state is written).
    #[serde(default)]
    pub run_id: String,
}

/// Checkpoints kept in the state.
const CHECKPOINTS_KEPT: usize = 5;

/// An object loaded by an earlier run: loaded again only if its ETag changes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoadedObject {
    /// `s3://bucket/key`.
    pub url: String,
    pub etag: String,
    pub bytes: u64,
    /// The run that loaded it (filled in when the state is written).
    #[serde(default)]
    pub run_id: String,
}

impl State {
    /// A state holding `objects`.
    pub fn with_objects(objects: Vec<LoadedObject>) -> Self {
        State { format: FORMAT, objects, ..Default::default() }
    }

    /// The ETag recorded for the object at `url`, if it was loaded.
    pub fn etag_of(&self, url: &str) -> Option<&str> {
        self.objects.iter().find(|o| o.url == url).map(|o| o.etag.as_str())
    }

    /// What the state says that the manifest of run `published` (the dataset's last finished run)
    /// backs: objects loaded by a later run, whose manifest never landed, are forgotten.
    pub fn trusted(mut self, published: Option<&str>) -> Self {
        // Run ids sort by time.
        self.objects.retain(|o| published.is_some_and(|p| o.run_id.as_str() <= p));
        self.checkpoints.retain(|c| published.is_some_and(|p| c.run_id.as_str() <= p));
        // A checkpoint only describes the dataset its own run left: a later run that wrote without
        // one (a plain load, replacing the data) makes it meaningless.
        if self.checkpoints.last().is_some_and(|c| Some(c.run_id.as_str()) != published) {
            self.checkpoints.clear();
        }
        self
    }

    /// Whether `other` says the same of what was loaded (objects and checkpoints; not who wrote it,
    /// or when).
    pub fn says_the_same(&self, other: &State) -> bool {
        self.objects == other.objects && self.checkpoints == other.checkpoints
    }

    /// The checkpoint of `field`, if the last one is of that field.
    pub fn checkpoint(&self, field: &str) -> Option<&str> {
        self.checkpoints.last().filter(|c| c.field == field).map(|c| c.value.as_str())
    }

    /// This state with `value` as the new checkpoint of `field`.
    pub fn moved_to(mut self, field: &str, value: String) -> Self {
        self.checkpoints.push(Checkpoint { field: field.to_owned(), value, run_id: String::new() });
        let extra = self.checkpoints.len().saturating_sub(CHECKPOINTS_KEPT);
        self.checkpoints.drain(..extra);
        self
    }

    /// The file's bytes, stamped with the run that writes it (and that loaded its new objects).
    pub fn body(&self, run_id: &str) -> Result<Vec<u8>> {
        let mut state = State {
            format: FORMAT,
            run_id: run_id.to_owned(),
            updated: super::manifest::rfc3339(std::time::SystemTime::now()),
            ..self.clone()
        };
        for object in state.objects.iter_mut().filter(|o| o.run_id.is_empty()) {
            object.run_id = run_id.to_owned();
        }
        for checkpoint in state.checkpoints.iter_mut().filter(|c| c.run_id.is_empty()) {
            checkpoint.run_id = run_id.to_owned();
        }
        serde_json::to_vec_pretty(&state).map_err(|e| Error::Internal(e.to_string()))
    }
}

/// The state a load writes when it publishes, and the state it was computed from.
#[derive(Debug, Clone)]
pub struct StateUpdate {
    pub next: State,
    /// What the load planned from: the state as the manifest read before the load backed it (see
    /// [`State::trusted`]), and that manifest's run (`None`: there was none). If another run changed
    /// either meanwhile, the load is refused rather than load the same things twice. (What a run
    /// that never reached its manifest added, and a rollback took away, is no change.)
    pub based_on: State,
    pub published: Option<String>,
}

/// The dataset's state, or `None` before its first incremental run. A state that cannot be read is
/// an error: loading as if there were none could load everything twice.
pub async fn read(store: &dyn ObjectStore, dataset: &DatasetId) -> Result<Option<State>> {
    let key = dataset.state_key();
    match store.get(&key).await {
        Ok(bytes) => match serde_json::from_slice::<State>(&bytes) {
            Ok(state) if state.format <= FORMAT => Ok(Some(state)),
            Ok(state) => Err(Error::Refused(format!(
                "{} has format {}, newer than this etl reads ({FORMAT}); use a newer etl",
                store.url_of(&key),
                state.format
            ))),
            Err(e) => Err(Error::Refused(format!(
                "{} is not a state file etl can read ({e}). Nothing was changed; mend it, or delete it \
                 to load everything again on the next run",
                store.url_of(&key)
            ))),
        },
        Err(StoreError::NotFound { .. }) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_finds_objects() {
        let object = |url: &str, run: &str| LoadedObject {
            url: url.into(),
            etag: "abc".into(),
            bytes: 3,
            run_id: run.into(),
        };
        let state = State::with_objects(vec![
            object("s3://drop/a.csv", "20261101T000000.000Z-1"),
            object("s3://drop/b.csv", ""),
        ]);
        let body = state.body("20261102T000000.000Z-2").unwrap();
        let back: State = serde_json::from_slice(&body).unwrap();
        assert_eq!(back.run_id, "20261102T000000.000Z-2");
        assert_eq!(back.etag_of("s3://drop/a.csv"), Some("abc"));
        assert_eq!(back.etag_of("s3://drop/c.csv"), None);
        // New objects carry the run that loaded them; the others keep theirs.
        assert_eq!(back.objects[0].run_id, "20261101T000000.000Z-1");
        assert_eq!(back.objects[1].run_id, "20261102T000000.000Z-2");
        // A manifest of the first run only backs the first object; no manifest backs none.
        let trusted = back.clone().trusted(Some("20261101T000000.000Z-1"));
        assert_eq!(trusted.objects.len(), 1);
        assert!(back.clone().trusted(None).objects.is_empty());
        assert_eq!(back.clone().trusted(Some("20261102T000000.000Z-2")).objects.len(), 2);

        // Checkpoints: the newest the manifest backs.
        let one = State::default().moved_to("updated", "2026-11-01".into());
        let one: State = serde_json::from_slice(&one.body("20261101T000000.000Z-1").unwrap()).unwrap();
        let two = one.moved_to("updated", "2026-11-02".into());
        let two: State = serde_json::from_slice(&two.body("20261102T000000.000Z-2").unwrap()).unwrap();
        assert_eq!(two.checkpoint("updated"), Some("2026-11-02"));
        assert_eq!(two.checkpoint("other"), None);
        assert_eq!(
            two.clone().trusted(Some("20261101T000000.000Z-1")).checkpoint("updated"),
            Some("2026-11-01")
        );
        // A later run that wrote no checkpoint: none holds.
        assert_eq!(two.clone().trusted(Some("20261103T000000.000Z-3")).checkpoint("updated"), None);
        let mut many = two;
        for i in 0..10 {
            many = many.moved_to("updated", format!("v{i}"));
        }
        assert_eq!(many.checkpoints.len(), CHECKPOINTS_KEPT);
        assert_eq!(many.checkpoint("updated"), Some("v9"));
    }
}
