//! What a load is asked to do: plain settings ([`LoadRequest`], [`WriteSettings`]), never
//! command-line arguments, so that the transaction is testable without a process.

use std::sync::Arc;

use crate::batch::BadRows;
use crate::checks::Check;
use crate::extract::Extract;
use crate::load::delta::TableFormat;
use crate::load::layout::{DatasetId, PartitionRange};
use crate::load::parquet::WriterOptions;
use crate::load::staged::WriteMode;
use crate::progress::Progress;
use crate::summary::Summary;
use crate::transform::{NullTokens, Pins};

/// How a loading command writes: `--max-rows-per-file`, `--mode`, `--allow-schema-change`.
#[derive(Debug, Clone, Default)]
pub struct WriteSettings {
    pub files: WriterOptions,
    /// `None`: the command's default (merge, or replace for a source exported whole).
    pub mode: Option<WriteMode>,
    pub allow_schema_change: bool,
    /// Publish a run that leaves a dataset holding rows with none (`--allow-empty`).
    pub allow_empty: bool,
    /// Append a source the dataset's last append loaded already (`--append-again`).
    pub append_again: bool,
    /// How long to wait for another run's lock on the dataset.
    pub wait_lock: std::time::Duration,
    /// Stage and plan only (`--dry-run` of single-file commands; catalogs select it per run).
    pub dry_run: bool,
    /// Only these days are written (and, with replace, replaced).
    pub partition_range: Option<PartitionRange>,
    /// The columns that identify a row (`--primary-key`): the default mode is then upsert.
    pub primary_key: Vec<String>,
    /// Of one run's rows with the same key, the one with the highest value of this column wins.
    pub dedup_by: Option<String>,
    /// The data-quality checks judged before publishing (`--check`, `checks:`).
    pub checks: Vec<Check>,
    /// Columns whose values no message shows (`--sensitive`, `sensitive:`).
    pub sensitive: Vec<String>,
    /// `--table-format`, `table_format:` (`None`: the dataset's, or Hive for a new one).
    pub table_format: Option<TableFormat>,
}

/// `--primary-key`'s columns (`a,b` in one item, as a job file or catalog may give them).
pub fn primary_key(items: &[String]) -> Vec<String> {
    items
        .iter()
        .flat_map(|i| i.split(','))
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(str::to_owned)
        .collect()
}

/// A primary key's columns, each named once (catalogs and the command line alike).
pub fn checked_primary_key(items: &[String]) -> std::result::Result<Vec<String>, String> {
    let key = primary_key(items);
    match key.iter().enumerate().find(|(i, c)| key[..*i].contains(c)) {
        Some((_, twice)) => Err(format!("`{twice}` is named twice")),
        None => Ok(key),
    }
}

/// Who chose a load's write mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModeGiven {
    /// Nobody: the command's default for the layout.
    Default,
    /// The command, for what it loads (an incremental run appends what is new, a drop folder its
    /// new objects).
    Command,
    /// The user: `--mode`, or `mode:` in a catalog or job file.
    User,
}

/// What to load and how: the part shared by every loading command.
pub struct LoadRequest {
    pub command: &'static str,
    pub source: Arc<dyn Extract>,
    pub source_size: Option<u64>,
    pub dataset: DatasetId,
    pub partition_column: Option<String>,
    /// Only rows of these days are written (`--partition-range`).
    pub partition_range: Option<PartitionRange>,
    pub pins: Pins,
    pub writer: WriterOptions,
    pub mode: WriteMode,
    /// Who chose `mode`: a default gives way to the mode the dataset remembers, and only a replace
    /// the user gave changes the layout the dataset remembers ([`remember_layout`]).
    pub mode_given: ModeGiven,
    /// The command's default mode for a partitioned load, for a run that takes the dataset's
    /// remembered partition column.
    pub partitioned_default: WriteMode,
    /// What to do with values that do not fit a pinned type (the reader has its own copy for rows
    /// that do not parse).
    pub bad_rows: BadRows,
    /// What is null besides the empty field.
    pub null_values: NullTokens,
    /// Keep only the records whose column (first) equals the value (second).
    pub keep_rows: Option<(String, String)>,
    /// Publish even when the dataset, holding rows, would be left with none.
    pub allow_empty: bool,
    /// Append a source the dataset's last append loaded already.
    pub append_again: bool,
    /// Let a merge publish a schema that removes columns or changes types.
    pub allow_schema_change: bool,
    /// How long to wait for another run's lock on the dataset.
    pub wait_lock: std::time::Duration,
    /// Stage and plan, print the plan on stdout, publish nothing.
    pub dry_run: bool,
    /// The progress line (disabled when several loads run at once, or stderr is no terminal).
    pub progress: Progress,
    /// When the command began this load, before any download: the summary's seconds count from
    /// here (a load made with [`LoadRequest::new`] began then).
    pub began: std::time::Instant,
    /// The dataset's state once this load is published (`_state.json`, written with the manifest).
    pub state: Option<crate::load::state::StateUpdate>,
    /// The columns that identify a row (upsert; recorded in the manifest).
    pub primary_key: Vec<String>,
    /// Of one run's rows with the same key, the one with the highest value of this column wins.
    pub dedup_by: Option<String>,
    /// The data-quality checks judged before anything is published.
    pub checks: Vec<Check>,
    /// Columns whose values check examples never show.
    pub sensitive: Vec<String>,
    /// What the run took from the dataset's manifest because it was left out (for the summary).
    pub remembered: Vec<String>,
    /// How readers see the dataset's files: given, or (once [`load`] resolved it) the dataset's.
    pub table_format: Option<TableFormat>,
    /// The rows typed so far (every pass): what a run that fails or is stopped had read.
    pub rows_typed: Arc<std::sync::atomic::AtomicU64>,
    /// The run as the monitoring knows it (set by [`super::load`]): a publish that begins marks
    /// itself in the metrics.
    pub monitored: Option<crate::monitor::RunStart>,
    /// The run, when its command began it before handing the request over (a download first).
    pub begun: Option<super::Begun>,
}

impl LoadRequest {
    /// Takes the write settings; `default_mode` applies to a partitioned load when `--mode` is not
    /// given (an unpartitioned load replaces the dataset).
    pub fn written_as(self, write: &WriteSettings, default_mode: WriteMode) -> Self {
        let partitioned_default = default_mode;
        // A key makes upsert the default, except where the command or entry replaces (a whole export).
        let default_mode = if !write.primary_key.is_empty() && default_mode != WriteMode::Replace {
            WriteMode::Upsert
        } else if self.partition_column.is_some() {
            default_mode
        } else {
            WriteMode::Replace
        };
        LoadRequest {
            writer: write.files.clone(),
            mode: write.mode.unwrap_or(default_mode),
            mode_given: if write.mode.is_some() { ModeGiven::User } else { ModeGiven::Default },
            partitioned_default,
            primary_key: write.primary_key.clone(),
            dedup_by: write.dedup_by.clone(),
            checks: write.checks.clone(),
            sensitive: write.sensitive.clone(),
            allow_schema_change: write.allow_schema_change,
            allow_empty: self.allow_empty || write.allow_empty,
            append_again: write.append_again,
            wait_lock: write.wait_lock,
            dry_run: self.dry_run || write.dry_run,
            partition_range: write.partition_range,
            table_format: write.table_format.or(self.table_format),
            ..self
        }
    }

    /// Whether the run's rows are combined by their key before publishing: an upsert, or a replace
    /// with a key (one row per key of the run).
    pub fn keyed(&self) -> bool {
        !self.primary_key.is_empty() && matches!(self.mode, WriteMode::Upsert | WriteMode::Replace)
    }

    /// A request with the defaults: no pins, no filter, default files, no progress line, for real.
    pub fn new(command: &'static str, source: Arc<dyn Extract>, dataset: DatasetId) -> Self {
        LoadRequest {
            command,
            source,
            source_size: None,
            dataset,
            partition_column: None,
            partition_range: None,
            pins: Pins::none(),
            writer: WriterOptions::default(),
            mode: WriteMode::Merge,
            mode_given: ModeGiven::Default,
            partitioned_default: WriteMode::Merge,
            bad_rows: BadRows::Fail,
            null_values: NullTokens::standard(),
            keep_rows: None,
            allow_empty: false,
            append_again: false,
            allow_schema_change: false,
            wait_lock: std::time::Duration::ZERO,
            dry_run: false,
            progress: Progress::disabled(),
            began: std::time::Instant::now(),
            state: None,
            primary_key: Vec::new(),
            dedup_by: None,
            checks: Vec::new(),
            sensitive: Vec::new(),
            remembered: Vec::new(),
            table_format: None,
            rows_typed: Arc::default(),
            monitored: None,
            begun: None,
        }
    }

    /// The mode when none is given, for this request's layout: upsert with a key (unless the
    /// command replaces, a whole export), the command's own for a partitioned load, else replace.
    pub(super) fn default_mode(&self) -> WriteMode {
        if !self.primary_key.is_empty() && self.partitioned_default != WriteMode::Replace {
            WriteMode::Upsert
        } else if self.partition_column.is_some() {
            self.partitioned_default
        } else {
            WriteMode::Replace
        }
    }
}

/// What a load did: its summary and, for a dry run, the plan to show (on stdout).
#[derive(Debug)]
pub struct Loaded {
    pub summary: Summary,
    /// The rendered plan of a dry run ([`crate::pipeline::Plan::render`]).
    pub plan: Option<String>,
    /// The columns and types the run wrote (none when it had nothing to do).
    pub schema: Vec<crate::load::manifest::ColumnRecord>,
    /// The mode it published with (`merge`, `replace`, ...).
    pub mode: Option<String>,
}
