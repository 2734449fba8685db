//! What incremental loads (`load-api --incremental-field`, `load-postgres --incremental-column`)
//! share: the checkpoint a run starts from (the one the dataset's manifest backs), and the write mode
//! and state it ends with. The first run, and `--full-refresh`, read everything and replace the
//! dataset; later runs append what is new, or upsert it when rows have a `--primary-key`.

use crate::error::{Error, Result};
use crate::load::layout::DatasetId;
use crate::load::manifest::{self, ColumnRecord};
use crate::load::state::{self, State, StateUpdate};
use crate::load::WriteMode;
use crate::pipeline::commit::{ModeGiven, WriteSettings};
use crate::store::ObjectStore;

/// Where an incremental run starts.
pub struct Start {
    pub field: String,
    /// The value to read after; `None`: read everything.
    pub checkpoint: Option<String>,
    /// The dataset's columns as its last run left them.
    pub schema: Vec<ColumnRecord>,
    published: Option<String>,
    known: State,
    /// Rows have a primary key: what is new is upserted, not appended.
    upsert: bool,
}

/// How an incremental run ends.
pub struct End {
    pub mode: WriteMode,
    /// The state to write with the data (`None`: keep the state as it is).
    pub state: Option<StateUpdate>,
    /// For the summary: where the checkpoint moved, and that updated rows are appended (no key).
    pub notes: Vec<String>,
}

/// Reads the state and the manifest of `dataset`; `flag` names the option in messages. `--mode` and
/// `--partition-range` are refused: the run decides between append and replace itself.
pub async fn start(
    store: &dyn ObjectStore,
    dataset: &DatasetId,
    field: &str,
    full_refresh: bool,
    write: &WriteSettings,
    flag: &str,
) -> Result<Start> {
    // `--mode append` says: no key, even the source's own (a log whose rows never change).
    let append_only = write.mode == Some(WriteMode::Append);
    if (write.mode.is_some() && !append_only) || write.partition_range.is_some() {
        return Err(Error::Usage(format!(
            "{flag} appends what is new, or upserts it by a key (or replaces everything with \
             --full-refresh); --mode takes only append (no key, even the table's own), and \
             --partition-range does not apply"
        )));
    }
    let previous = state::read(store, dataset).await?;
    let last = manifest::read(store, dataset).await?;
    let published = last.as_ref().map(|m| m.run_id.clone());
    let last_key = last.as_ref().is_some_and(|m| !m.primary_key.is_empty());
    let known = previous.map(|s| s.trusted(published.as_deref())).unwrap_or_default();
    let checkpoint = known.checkpoint(field).filter(|_| !full_refresh).map(str::to_owned);
    match &checkpoint {
        Some(value) => tracing::info!("reading what is after {field} = {value}"),
        None => tracing::info!("no checkpoint for {field}: reading everything"),
    }
    Ok(Start {
        field: field.to_owned(),
        checkpoint,
        schema: last.map(|m| m.schema).unwrap_or_default(),
        published,
        known,
        // The dataset's own key counts as given (a run that leaves it out upserts by it).
        upsert: !append_only && (!write.primary_key.is_empty() || last_key),
    })
}

/// Who chose an incremental run's mode: the user where `--mode append` made it an append (no key,
/// not even the dataset's), else the run itself (append or upsert what is new, replace at first).
pub fn mode_given(end: &End, write: &WriteSettings) -> ModeGiven {
    match (end.mode, write.mode) {
        (WriteMode::Append, Some(WriteMode::Append)) => ModeGiven::User,
        _ => ModeGiven::Command,
    }
}

/// What an incremental run without a primary key says: a row updated upstream comes again, and is
/// appended beside its old version.
pub fn appended_note(field: &str) -> String {
    format!(
        "no primary key: a row updated upstream (a newer {field}) will be appended beside its old \
         version; --primary-key upserts it instead"
    )
}

/// What an incremental read says of the records it dropped for being at (first) or before (second)
/// the checkpoint `field` = `checkpoint`: records before it mean that the source ignored the
/// since-parameter `param` (a warning); records at it, that it reads inclusively (a note).
pub fn dropped_note(field: &str, param: &str, checkpoint: &str, (at, before): (u64, u64)) -> Option<String> {
    if before > 0 {
        let text = format!(
            "{} at or before the checkpoint {field} = {checkpoint} dropped (loaded by an earlier run): \
             the API seems to ignore `{param}`; check --since-param",
            crate::summary::count(at + before, "record")
        );
        tracing::warn!("{text}");
        return Some(text);
    }
    (at > 0).then(|| {
        format!(
            "{} at the checkpoint {field} = {checkpoint} dropped (loaded by an earlier run)",
            crate::summary::count(at, "record")
        )
    })
}

impl Start {
    /// Whether what is new is upserted by a key (rather than appended).
    pub fn upserts(&self) -> bool {
        self.upsert
    }

    /// What "nothing new" says.
    pub fn nothing_new(&self) -> String {
        match &self.checkpoint {
            Some(c) => format!("nothing new after {} = {c}", self.field),
            None => "nothing to read: nothing written".into(),
        }
    }

    /// The end of a run whose highest value of the field is `highest` (`None`: no row had one).
    pub fn end(self, highest: Option<String>) -> End {
        let mode = match (&self.checkpoint, self.upsert) {
            (None, _) => WriteMode::Replace,
            (Some(_), false) => WriteMode::Append,
            // A row read again (an inclusive `since`, a row updated upstream) replaces its old self.
            (Some(_), true) => WriteMode::Upsert,
        };
        let highest = match (highest, self.checkpoint.clone()) {
            (Some(h), Some(c)) if crate::extract::json::later_text(&c, &h) => Some(c),
            (Some(h), _) => Some(h),
            (None, c) => c,
        };
        let Some(highest) = highest else {
            // Everything read, and nothing to keep: the dataset is replaced, the state left alone.
            return End { mode, state: None, notes: Vec::new() };
        };
        End {
            mode,
            notes: std::iter::once(format!("checkpoint {} = {highest}", self.field))
                .chain((!self.upsert).then(|| appended_note(&self.field)))
                .collect(),
            state: Some(StateUpdate {
                next: self.known.clone().moved_to(&self.field, highest),
                based_on: self.known,
                published: self.published,
            }),
        }
    }
}
