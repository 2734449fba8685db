//! The Extract → Transform → Load run that every command drives.
//!
//! ```text
//! Extract::open ──TextBatch──▶ Transform::observe ─▶ Transform::apply ──DataFrame──▶ Load::write
//!                                                                 ─▶ Load::finish ─▶ publish
//! ```
//! [`stage`] does everything up to the finished files in a staging folder; [`Staged::publish`] makes
//! them visible, and [`Staged::plan`] only says what publishing would do (`--dry-run`).
//!
//! Every value of a column votes on its type, yet a source is usually read once. The first batch's
//! vote is taken as the plan and the pass types and stages with it while every later batch votes
//! too. A column's candidates only ever go away, so the vote can only move off the plan, never back
//! onto it (String aside): when it moves, staging stops, the rest of the source only votes, and a
//! second pass stages with the settled types. Either way the output is what the whole-source vote
//! says, byte for byte. Sources whose columns are all pinned need no vote.

use std::sync::Arc;
use std::time::Instant;

use polars::prelude::DataFrame;

use crate::error::{Error, Result};
use crate::extract::ahead::ReadAhead;
pub use crate::extract::Extract;
use crate::extract::{BadRows, BatchReader, Reject, SourceInfo, TextBatch};
use crate::load::layout::DatasetId;
use crate::load::manifest::Manifest;
use crate::load::publish::unchanged_files;
use crate::load::{publish, stale_keys, Publishing, StagedDataset};
use crate::store::ObjectStore;
use crate::summary::{human_bytes, Progress};
use crate::transform::convert::{convert_batch, ColumnPlan, Converted};
use crate::transform::infer::Inference;
use crate::transform::{NullTokens, Parser, Pins};

/// Bad rows logged as warnings; the others at `-v`.
const SHOWN_REJECTS: u64 = 10;

/// Rows per text batch.
pub const BATCH_ROWS: usize = 65_536;

/// Turns text batches into typed frames.
pub trait Transform: Send {
    /// Starts on a source with `columns` (once, however many passes follow). Returns the plans when
    /// they are known without reading a value (every column pinned).
    fn start(&mut self, source: &str, columns: &[String]) -> Result<Option<Vec<ColumnPlan>>>;
    /// Lets the values of a batch vote on the column types. (It may type columns of the batch on the
    /// way, for the [`Transform::apply`] of the same batch.)
    fn observe(&mut self, batch: &TextBatch);
    /// The plans the values observed since [`Transform::start`] settle on. `last`: every value has
    /// voted (says why a column is String, once).
    fn inferred(&self, last: bool) -> Vec<ColumnPlan>;
    /// Types batches with `plans` from now on.
    fn use_plans(&mut self, plans: &[ColumnPlan]);
    /// Types one batch. Records whose values do not fit their column are an error, or (as the
    /// transform's [`BadRows`] says) are taken out of `batch` and added to `rejects`.
    fn apply(&mut self, batch: &mut TextBatch, rejects: &mut Vec<Reject>) -> Result<DataFrame>;
    /// Per column, the non-empty values deliberately made null (e.g. `Included` in a cost column).
    fn coerced_nulls(&self) -> Vec<(String, u64)>;
}

/// Receives typed frames and stages output files.
pub trait Load: Send {
    /// Called with the final columns before any row; called again, it starts over (whatever was
    /// staged is dropped).
    fn begin(&mut self, plans: &[ColumnPlan]) -> Result<()>;
    /// Takes a batch of typed rows.
    fn write(&mut self, df: DataFrame) -> Result<()>;
    /// Keeps the text of records left out by `--on-bad-rows quarantine`, under the source's header
    /// line (if it has one).
    fn reject(&mut self, header: Option<&[u8]>, rejects: &[Reject]) -> Result<()>;
    /// Closes every file; returns them, ready to publish.
    fn finish(&mut self) -> Result<StagedDataset>;
}

/// The standard transform: pinned columns as pinned, every other column inferred from all of its
/// values.
pub struct TypeColumns {
    pins: Pins,
    bad_rows: BadRows,
    nulls: NullTokens,
    inference: Option<Inference>,
    plans: Vec<ColumnPlan>,
    /// Per column, what is null: a pinned String column keeps its `NA`s (only empty is null).
    column_nulls: Vec<NullTokens>,
    coerced: Vec<u64>,
    /// Columns of the batch last observed that the vote converted already.
    ready: Vec<Option<Converted>>,
    source: String,
}

impl TypeColumns {
    /// A transform with the given pinned columns; `nulls` are null; values that do not fit their
    /// pinned type are handled as `bad_rows` says.
    pub fn new(pins: Pins, bad_rows: BadRows, nulls: NullTokens) -> Self {
        TypeColumns {
            pins,
            bad_rows,
            nulls,
            inference: None,
            plans: Vec::new(),
            column_nulls: Vec::new(),
            coerced: Vec::new(),
            ready: Vec::new(),
            source: String::new(),
        }
    }
}

impl Transform for TypeColumns {
    fn start(&mut self, source: &str, columns: &[String]) -> Result<Option<Vec<ColumnPlan>>> {
        self.source = source.to_owned();
        let unknown = self.pins.named_but_missing(columns);
        if !unknown.is_empty() {
            return Err(Error::Usage(format!(
                "{}: no column named {} (types and date formats name columns as the file's header does, \
                 after --normalize-columns if given); its columns are: {}",
                self.source,
                unknown.iter().map(|c| format!("`{c}`")).collect::<Vec<_>>().join(", "),
                columns.join(", ")
            )));
        }
        let inference = Inference::new(columns, &self.pins);
        let all_pinned = columns.iter().all(|c| self.pins.get(c).is_some());
        let known = all_pinned.then(|| inference.plans());
        self.inference = Some(inference);
        Ok(known)
    }

    fn observe(&mut self, batch: &TextBatch) {
        let inference = self.inference.as_mut().expect("start() comes first");
        // While the vote is on the plans, columns that vote by being converted are converted here,
        // once, and kept for `apply`.
        let on_plans = !self.plans.is_empty() && inference.plans() == self.plans;
        self.ready = inference.observe(&self.nulls, batch, on_plans.then_some(&self.plans[..]));
    }

    fn inferred(&self, last: bool) -> Vec<ColumnPlan> {
        let inference = self.inference.as_ref().expect("start() comes first");
        if last {
            inference.report();
        }
        inference.plans()
    }

    fn use_plans(&mut self, plans: &[ColumnPlan]) {
        self.plans = plans.to_vec();
        self.ready.clear();
        self.column_nulls = self
            .plans
            .iter()
            .map(|p| {
                let pinned_text = p.parser == Parser::Text && self.pins.get(&p.name).is_some();
                if pinned_text {
                    NullTokens::empty_only()
                } else {
                    self.nulls.clone()
                }
            })
            .collect();
        self.coerced = vec![0; self.plans.len()];
    }

    fn apply(&mut self, batch: &mut TextBatch, rejects: &mut Vec<Reject>) -> Result<DataFrame> {
        let ready = std::mem::take(&mut self.ready);
        let (df, coerced) = match convert_batch(&self.plans, batch, &self.column_nulls, ready) {
            Ok(done) => done,
            Err(mut bad) if self.bad_rows == BadRows::Fail => {
                return Err(bad.remove(0).into_error(&self.source))
            }
            Err(bad) => {
                // Every refused row, once, with the first reason found for it; then the rest.
                let mut refused: std::collections::BTreeMap<usize, String> = Default::default();
                for b in &bad {
                    for &row in &b.rows {
                        refused.entry(row).or_insert_with(|| {
                            format!(
                                "column `{}`: {:?} is not {}",
                                b.column,
                                batch.text(row, b.col),
                                b.expected
                            )
                        });
                    }
                }
                for (&row, reason) in &refused {
                    let raw = batch.raw_record(row).map(<[u8]>::to_vec).unwrap_or_default();
                    rejects.push(Reject { line: batch.line(row), reason: reason.clone(), raw, part: None });
                }
                batch.retain(|row| !refused.contains_key(&row));
                convert_batch(&self.plans, batch, &self.column_nulls, Vec::new())
                    .map_err(|mut bad| bad.remove(0).into_error(&self.source))?
            }
        };
        for (total, n) in self.coerced.iter_mut().zip(coerced) {
            *total += n;
        }
        Ok(df)
    }

    fn coerced_nulls(&self) -> Vec<(String, u64)> {
        self.plans
            .iter()
            .zip(&self.coerced)
            .filter(|(_, n)| **n > 0)
            .map(|(p, n)| (p.name.clone(), *n))
            .collect()
    }
}

/// What a run did, for the summary line.
#[derive(Debug, Clone)]
pub struct RunReport {
    pub source: SourceInfo,
    pub dataset: DatasetId,
    pub target: String,
    pub schema: Vec<ColumnPlan>,
    pub rows_read: u64,
    pub rows_written: u64,
    pub partitions: usize,
    pub files: usize,
    pub bytes: u64,
    /// Files whose bytes were already in place (not uploaded).
    pub unchanged: usize,
    /// The objects of earlier runs this run deleted.
    pub replaced: Vec<String>,
    pub coerced_nulls: Vec<(String, u64)>,
    pub seconds: f64,
}

/// A run's output, complete in the staging folder and not yet visible to anyone.
pub struct Staged {
    pub source: SourceInfo,
    pub schema: Vec<ColumnPlan>,
    /// Rows delivered by the source (left-out bad rows not included).
    pub rows_read: u64,
    /// Bad rows left out (skipped or quarantined).
    pub rejected: u64,
    /// The source's size and SHA-256, when the source can tell.
    pub source_digest: Option<(u64, String)>,
    pub coerced_nulls: Vec<(String, u64)>,
    pub output: StagedDataset,
    /// Owns the staging folder, which must outlive the publish.
    _load: Box<dyn Load>,
    started: Instant,
    /// When the run started, for the run record.
    pub started_at: std::time::SystemTime,
}

/// What a publish would do: written to stdout by `--dry-run`.
#[derive(Debug, Clone)]
pub struct Plan {
    pub source: SourceInfo,
    pub target: String,
    pub schema: Vec<ColumnPlan>,
    pub rows_read: u64,
    pub partitions: usize,
    /// Key, rows, bytes of each file to upload.
    pub writes: Vec<(String, u64, u64)>,
    /// Files whose bytes are already in place (left as they are).
    pub unchanged: usize,
    pub deletes: Vec<String>,
}

impl Plan {
    /// The plan for people: schema, rows (`excluded` by a filter before this pipeline saw them),
    /// partitions, the keys to write and to delete.
    pub fn render(&self, excluded: u64) -> String {
        let mut out = format!("dry run: {} {} → {}\n", self.source.kind, self.source.location, self.target);
        out += &format!("schema ({} columns):\n", self.schema.len());
        for c in &self.schema {
            out += &format!("  {}  {}\n", c.name, c.parser.column_type());
        }
        let rows: u64 = self.writes.iter().map(|w| w.1).sum();
        out += &format!("rows: {} read", self.rows_read + excluded);
        if excluded > 0 {
            out += &format!(", {excluded} excluded by the filter");
        }
        out += &format!(", {rows} to write\npartitions: {}\n", self.partitions);
        let bytes = self.writes.iter().map(|w| w.2).sum();
        out += &format!("would write {} files ({}):\n", self.writes.len(), human_bytes(bytes));
        for (key, rows, bytes) in &self.writes {
            out += &format!("  {key}  ({rows} rows, {})\n", human_bytes(*bytes));
        }
        if self.unchanged > 0 {
            out += &format!("would leave {} unchanged files as they are\n", self.unchanged);
        }
        if self.deletes.is_empty() {
            out += "would delete nothing\n";
        } else {
            out += &format!("would delete {} objects it replaces:\n", self.deletes.len());
            for key in &self.deletes {
                out += &format!("  {key}\n");
            }
        }
        out
    }
}

/// Reads the source, types it and stages the output files: everything but the publish.
pub async fn stage(
    source: Arc<dyn Extract>,
    mut transform: Box<dyn Transform>,
    mut load: Box<dyn Load>,
    progress: Progress,
) -> Result<Staged> {
    let started = Instant::now();
    let started_at = std::time::SystemTime::now();
    let info = source.info();
    // The CPU-bound part runs off the async runtime.
    tokio::task::spawn_blocking(move || -> Result<_> {
        let mut shown = Shown::default();
        let mut pass = Pass {
            transform: transform.as_mut(),
            load: load.as_mut(),
            progress: &progress,
            location: &info.location,
            shown: &mut shown,
        };
        let mut reader: Box<dyn BatchReader> = Box::new(ReadAhead::new(source.open()?, BATCH_ROWS));
        let known = pass.transform.start(&info.location, reader.columns())?;
        let staged = match pass.run(reader.as_mut(), known)? {
            PassEnd::Staged(staged) => staged,
            PassEnd::Retype(plans) => {
                drop(reader);
                reader = Box::new(ReadAhead::new(source.open()?, BATCH_ROWS));
                match pass.run(reader.as_mut(), Some(plans))? {
                    PassEnd::Staged(staged) => staged,
                    PassEnd::Retype(_) => unreachable!("a pass that does not vote cannot retype"),
                }
            }
        };
        let schema: Vec<String> =
            staged.plans.iter().map(|p| format!("{}: {}", p.name, p.parser.column_type())).collect();
        tracing::info!("schema: {}", schema.join(", "));
        let source_digest = reader.source_digest();
        let output = load.finish()?;
        progress.clear();
        tracing::info!("rows typed and staged in {:.2} s", started.elapsed().as_secs_f64());
        Ok(Staged {
            source: info,
            schema: staged.plans,
            rows_read: staged.rows,
            rejected: staged.rejected,
            source_digest,
            coerced_nulls: transform.coerced_nulls(),
            output,
            _load: load,
            started,
            started_at,
        })
    })
    .await
    .map_err(|e| Error::Internal(format!("the load task failed: {e}")))?
}

/// Bad rows already logged, so that a second pass does not log them again.
#[derive(Default)]
struct Shown {
    /// The last one logged: its file (when the source is several) and line.
    through: (usize, u64),
    count: u64,
}

/// What one pass over the source needs.
struct Pass<'a> {
    transform: &'a mut dyn Transform,
    load: &'a mut dyn Load,
    progress: &'a Progress,
    location: &'a str,
    shown: &'a mut Shown,
}

/// How a pass ended.
enum PassEnd {
    /// Every row typed and staged with `plans`.
    Staged(PassRows),
    /// The vote of the whole source departed from the plans the pass staged with: stage again with
    /// these.
    Retype(Vec<ColumnPlan>),
}

struct PassRows {
    plans: Vec<ColumnPlan>,
    rows: u64,
    rejected: u64,
}

impl Pass<'_> {
    /// Reads `reader` to the end, typing and staging every batch with `plans`. Without `plans`,
    /// every batch votes first, and the first batch's vote holds while the votes agree.
    fn run(&mut self, reader: &mut dyn BatchReader, mut plans: Option<Vec<ColumnPlan>>) -> Result<PassEnd> {
        let infer = plans.is_none();
        if let Some(plans) = &plans {
            self.transform.use_plans(plans);
            self.load.begin(plans)?;
        }
        let header = reader.header_line().map(<[u8]>::to_vec);
        let mut batch = TextBatch::new(reader.columns().len());
        let (mut rows, mut rejected) = (0u64, 0u64);
        let mut rejects = Vec::new();
        // Cleared when the vote leaves the plans: the rest of the source only votes.
        let mut staging = true;
        loop {
            crate::signals::check()?;
            let more = reader.next_batch(&mut batch, BATCH_ROWS)?;
            rejects.append(&mut reader.take_rejects());
            if more && infer {
                self.transform.observe(&batch);
                let vote = self.transform.inferred(false);
                match &plans {
                    None => {
                        self.transform.use_plans(&vote);
                        // A partition column that the first batch cannot settle (all empty, say)
                        // is judged on the whole source's vote.
                        staging = self.load.begin(&vote).is_ok();
                        plans = Some(vote);
                    }
                    Some(p) if staging && *p != vote => {
                        let moved: Vec<String> = p
                            .iter()
                            .zip(&vote)
                            .filter(|(a, b)| a != b)
                            .map(|(a, b)| {
                                format!(
                                    "`{}` {} → {}",
                                    a.name,
                                    a.parser.column_type(),
                                    b.parser.column_type()
                                )
                            })
                            .collect();
                        tracing::info!(
                            "{}: types changed by line {}: {}; reading on to settle them, then writing again",
                            self.location,
                            batch.line(batch.len() - 1),
                            moved.join(", ")
                        );
                        staging = false;
                    }
                    Some(_) => {}
                }
            }
            if !staging {
                rejects.clear();
                self.progress.update("reading types", reader.bytes_read());
                if more {
                    continue;
                }
                break;
            }
            if more {
                let typed = self.transform.apply(&mut batch, &mut rejects);
                // A source of several files: the value's own file names it, and its rows.
                let part = reader.part().map(|(i, name)| (i, name.to_owned()));
                for r in rejects.iter_mut().filter(|r| r.part.is_none()) {
                    r.part = part.clone();
                }
                let df = typed.map_err(|e| match (e, &part) {
                    (Error::Value { line, column, message, .. }, Some((_, name))) => {
                        Error::Value { source_name: name.clone(), line, column, message }
                    }
                    (e, _) => e,
                })?;
                rows += batch.len() as u64;
                self.load.write(df)?;
            }
            if !rejects.is_empty() {
                rejects.sort_by_key(|r| (r.part.as_ref().map_or(0, |p| p.0), r.line));
                for r in &rejects {
                    self.show(r);
                    rejected += 1;
                }
                self.load.reject(header.as_deref(), &rejects)?;
                rejects.clear();
            }
            self.progress.update("writing", reader.bytes_read());
            if !more {
                break;
            }
        }
        if infer {
            let settled = self.transform.inferred(true);
            if !staging || plans.as_ref().is_some_and(|p| *p != settled) {
                return Ok(PassEnd::Retype(settled));
            }
            if plans.is_none() {
                // No rows at all.
                self.transform.use_plans(&settled);
                self.load.begin(&settled)?;
                plans = Some(settled);
            }
        }
        Ok(PassEnd::Staged(PassRows { plans: plans.expect("settled above"), rows, rejected }))
    }

    /// Logs a bad row left out: the first few for everyone, all of them with -v; each once.
    fn show(&mut self, r: &Reject) {
        let at = (r.part.as_ref().map_or(0, |p| p.0), r.line);
        if at <= self.shown.through {
            return;
        }
        self.shown.through = at;
        let file = r.part.as_ref().map_or(self.location, |p| p.1.as_str());
        if self.shown.count < SHOWN_REJECTS {
            tracing::warn!("{file}:{}: bad row left out: {}", r.line, r.reason);
        } else {
            tracing::info!("{file}:{}: bad row left out: {}", r.line, r.reason);
        }
        self.shown.count += 1;
    }
}

impl Staged {
    /// Publishes the staged files into `store` and reports the run.
    /// `records` makes the run's records (see [`publish`]).
    /// `previous` is the dataset's manifest before the run (it says which files are unchanged).
    pub async fn publish(
        self,
        store: &dyn ObjectStore,
        previous: Option<&Manifest>,
        records: impl FnOnce(&Publishing) -> Result<Vec<(String, Vec<u8>)>>,
    ) -> Result<RunReport> {
        let published = publish(store, &self.output, previous, records).await?;
        Ok(RunReport {
            source: self.source,
            target: store.url_of(&self.output.dataset.prefix()),
            dataset: self.output.dataset.clone(),
            schema: self.schema,
            rows_read: self.rows_read,
            rows_written: self.output.rows(),
            partitions: self.output.partitions(),
            files: published.files,
            bytes: published.bytes,
            unchanged: published.unchanged,
            replaced: published.deleted,
            coerced_nulls: self.coerced_nulls,
            seconds: self.started.elapsed().as_secs_f64(),
        })
    }

    /// What [`Staged::publish`] would write and delete, found by listing the dataset (reads only).
    pub async fn plan(&self, store: &dyn ObjectStore, previous: Option<&Manifest>) -> Result<Plan> {
        let existing = store.list(&self.output.dataset.prefix()).await?;
        let unchanged = unchanged_files(&self.output, previous, &existing);
        Ok(Plan {
            source: self.source.clone(),
            target: store.url_of(&self.output.dataset.prefix()),
            schema: self.schema.clone(),
            rows_read: self.rows_read,
            partitions: self.output.partitions(),
            writes: self
                .output
                .files
                .iter()
                .chain(&self.output.rejects)
                .filter(|f| !unchanged.contains(&f.key))
                .map(|f| (f.key.clone(), f.rows, f.bytes))
                .collect(),
            unchanged: unchanged.len(),
            deletes: stale_keys(existing, &self.output),
        })
    }

    /// Seconds since the run started.
    pub fn seconds(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }
}
