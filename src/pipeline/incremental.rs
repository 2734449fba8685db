//! What incremental loads (`load-api --incremental-field`, `load-postgres --incremental-column`)
//! share: the checkpoint a run starts from (the one the dataset's manifest backs), and the write mode
//! and state it ends with. The first run, and `--full-refresh`, read everything and replace the
//! dataset; later runs append what is new, or upsert it when rows have a `--primary-key`.

use crate::error::{Error, Result};
use crate::load::layout::DatasetId;
use crate::load::manifest::{self, ColumnRecord};
use crate::load::state::{self, State, StateUpdate};
use crate::load::WriteMode;
use crate::pipeline::commit::WriteSettings;
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
    /// For the summary: where the checkpoint moved.
    pub note: Option<String>,
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
    if write.mode.is_some() || write.partition_range.is_some() {
        return Err(Error::Usage(format!(
            "{flag} appends what is new (or replaces everything with --full-refresh); --mode and \
             --partition-range do not apply"
        )));
    }
    let previous = state::read(store, dataset).await?;
    let last = manifest::read(store, dataset).await?;
    let published = last.as_ref().map(|m| m.run_id.clone());
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
        upsert: !write.primary_key.is_empty(),
    })
}

impl Start {
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
            return End { mode, state: None, note: None };
        };
        End {
            mode,
            note: Some(format!("checkpoint {} = {highest}", self.field)),
            state: Some(StateUpdate {
                next: self.known.clone().moved_to(&self.field, highest),
                based_on: self.known,
                published: self.published,
            }),
        }
    }
}
