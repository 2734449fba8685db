//! The Extract → Transform → Load run that every command drives: this module chains the three
//! stages (each stage's trait lives with its implementations: [`Extract`] in [`crate::extract`],
//! [`Transform`] in [`crate::transform`], [`Load`] in [`crate::load`]); [`commit`] runs it as one
//! transaction on a dataset; [`incremental`] and [`drop_folder`] decide what an incremental or a
//! drop-folder run reads and how it writes.
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

pub mod checks;
pub mod commit;
pub mod drop_folder;
pub mod incremental;
pub mod maintain;

use std::sync::Arc;
use std::time::Instant;

use crate::batch::{Reject, TextBatch};
use crate::checks::rows::{RowChecks, RowOutcome};
use crate::error::{Error, Result};
use crate::extract::ahead::ReadAhead;
use crate::extract::{BatchReader, Extract, SourceInfo};
use crate::load::manifest::Manifest;
use crate::load::publish::{stale_keys, unchanged_files};
use crate::load::staged::StagedDataset;
use crate::load::Load;
use crate::progress::Progress;
use crate::store::ObjectStore;
use crate::summary::human_bytes;
use crate::transform::{ColumnPlan, Transform};

/// Bad rows logged as warnings; the others at `-v`.
const SHOWN_REJECTS: u64 = 10;

/// Rows per text batch.
pub const BATCH_ROWS: usize = 65_536;

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
    /// What the transform noted of the values (see [`Transform::notes`]).
    pub notes: Vec<String>,
    /// Per column, the values made null as null tokens (see [`Transform::null_tokens`]).
    pub null_tokens: Vec<(String, u64)>,
    /// What the row checks found, when the run declared checks.
    pub checks: Option<RowOutcome>,
    pub output: StagedDataset,
    /// Owns the staging folder, which must outlive the publish.
    _load: Box<dyn Load>,
    started: Instant,
    /// When staging ended.
    finished: Instant,
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
    /// Rows the dataset's files would hold for this run (uploaded or already in place): what the
    /// summary calls rows to write.
    pub rows: u64,
    pub partitions: usize,
    /// Key, rows, bytes of each file to upload.
    pub writes: Vec<(String, u64, u64)>,
    /// Files whose bytes are already in place (left as they are).
    pub unchanged: usize,
    pub deletes: Vec<String>,
    /// What the reader and the transform noted of the values (a column one value made text, with
    /// its line), as the summary says them.
    pub notes: Vec<String>,
}

impl Plan {
    /// The plan for people: schema, rows (`excluded` by a filter before this pipeline saw them),
    /// partitions, the keys to write and to delete.
    pub fn render(&self, excluded: u64) -> String {
        let mut out = format!("dry run: {} {} → {}\n", self.source.kind, self.source.location, self.target);
        out += &format!("schema ({} columns):\n", self.schema.len());
        let width = self.schema.iter().map(|c| c.name.chars().count()).max().unwrap_or(0);
        for c in &self.schema {
            let pad = " ".repeat(width - c.name.chars().count());
            out += &format!("  {}{pad}  {}\n", c.name, c.parser.column_type());
        }
        if !self.notes.is_empty() {
            out += "notes:\n";
            for note in &self.notes {
                out += &format!("  {note}\n");
            }
        }
        out += &format!("rows: {} read", crate::summary::thousands(self.rows_read + excluded));
        if excluded > 0 {
            out += &format!(", {} excluded by the filter", crate::summary::thousands(excluded));
        }
        out += &format!(
            ", {} to write\npartitions: {}\n",
            crate::summary::thousands(self.rows),
            crate::summary::thousands(self.partitions as u64)
        );
        let bytes = self.writes.iter().map(|w| w.2).sum();
        out += &format!(
            "would write {} ({}):\n",
            crate::summary::count(self.writes.len() as u64, "file"),
            human_bytes(bytes)
        );
        for (key, rows, bytes) in &self.writes {
            out += &format!("  {key}  ({}, {})\n", crate::summary::count(*rows, "row"), human_bytes(*bytes));
        }
        if self.unchanged > 0 {
            out += &format!(
                "would leave {} as {} (unchanged)\n",
                crate::summary::count(self.unchanged as u64, "file"),
                if self.unchanged == 1 { "it is" } else { "they are" }
            );
        }
        if self.deletes.is_empty() {
            out += "would delete nothing\n";
        } else {
            out += &format!(
                "would delete {} it replaces:\n",
                crate::summary::count(self.deletes.len() as u64, "object")
            );
            for key in &self.deletes {
                out += &format!("  {key}\n");
            }
        }
        out
    }
}

/// Rows typed by every pass of this process (a second pass, after a type changed, counts again): what
/// the summary of a run stopped by a signal says it had done ([`rows_typed`]).
static ROWS_TYPED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Rows typed so far by this process's loads.
pub fn rows_typed() -> u64 {
    ROWS_TYPED.load(std::sync::atomic::Ordering::Relaxed)
}

/// Reads the source, types it and stages the output files: everything but the publish.
pub async fn stage(
    source: Arc<dyn Extract>,
    mut transform: Box<dyn Transform>,
    mut load: Box<dyn Load>,
    progress: Progress,
    mut checks: Option<RowChecks>,
    counted: Arc<std::sync::atomic::AtomicU64>,
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
            checks: checks.as_mut(),
            counted: &counted,
        };
        let mut reader: Box<dyn BatchReader> = Box::new(ReadAhead::new(source.open()?, BATCH_ROWS));
        pass.load.expect_columns(reader.columns())?;
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
        progress.update("closing files", progress.position(), Some(staged.rows));
        let checks = checks.map(|c| c.finish(|| source.open_quiet())).transpose()?;
        let output = load.finish()?;
        progress.clear();
        tracing::info!("rows typed and staged in {:.2} s", started.elapsed().as_secs_f64());
        Ok(Staged {
            source: info,
            schema: staged.plans,
            rows_read: staged.rows,
            rejected: staged.rejected,
            source_digest,
            notes: reader.notes().into_iter().chain(transform.notes()).collect(),
            null_tokens: transform.null_tokens(),
            checks,
            output,
            _load: load,
            started,
            finished: Instant::now(),
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
    /// The row checks, judged on every typed batch.
    checks: Option<&'a mut RowChecks>,
    /// The rows this load has typed (every pass): what a run that fails or is stopped had read.
    counted: &'a std::sync::atomic::AtomicU64,
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
            self.begin_checks(plans)?;
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
                // A vote reads text.
                batch.write_natives_as_text(|_, _| false);
                self.transform.observe(&batch);
                let vote = self.transform.inferred(false);
                match &plans {
                    None => {
                        self.transform.use_plans(&vote);
                        // A partition column that the first batch cannot settle (all empty, say)
                        // is judged on the whole source's vote.
                        staging = self.load.begin(&vote).is_ok();
                        self.begin_checks(&vote)?;
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
                self.progress.update("reading types", reader.bytes_read(), None);
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
                ROWS_TYPED.fetch_add(batch.len() as u64, std::sync::atomic::Ordering::Relaxed);
                self.counted.fetch_add(batch.len() as u64, std::sync::atomic::Ordering::Relaxed);
                if let Some(checks) = self.checks.as_deref_mut() {
                    // Checks of values read their text.
                    batch.write_natives_as_text(|_, _| false);
                    let kept = self.load.kept(&df)?;
                    let part = part.as_ref().map(|(i, name)| (*i, name.as_str()));
                    checks.observe(&df, &batch, part, kept.as_deref())?;
                }
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
            self.progress.update("typing and writing", reader.bytes_read(), Some(rows));
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
                self.begin_checks(&settled)?;
                plans = Some(settled);
            }
        }
        Ok(PassEnd::Staged(PassRows { plans: plans.expect("settled above"), rows, rejected }))
    }

    /// Starts the row checks (over) with the plans the pass stages with.
    fn begin_checks(&mut self, plans: &[ColumnPlan]) -> Result<()> {
        match self.checks.as_deref_mut() {
            Some(checks) => checks.begin(plans),
            None => Ok(()),
        }
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
    /// What publishing would write and delete, from the dataset's objects as readers see them (reads
    /// only).
    /// `existing`: the dataset's objects as its readers see them.
    pub async fn plan(
        &self,
        store: &dyn ObjectStore,
        previous: Option<&Manifest>,
        existing: Vec<crate::store::ObjectMeta>,
    ) -> Result<Plan> {
        let unchanged = unchanged_files(store, &self.output, previous, &existing).await?;
        Ok(Plan {
            source: self.source.clone(),
            target: store.url_of(&self.output.dataset.prefix()),
            schema: self.schema.clone(),
            rows_read: self.rows_read,
            rows: self.output.rows(),
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
            notes: self.notes.clone(),
        })
    }

    /// How long each phase of a load that `began` then has taken, up to now.
    pub fn phases(&self, began: Instant) -> crate::summary::Phases {
        let seconds = |d: std::time::Duration| d.as_secs_f64();
        crate::summary::Phases {
            extract: seconds(self.started.saturating_duration_since(began)),
            typing: seconds(self.finished.saturating_duration_since(self.started)),
            publish: seconds(self.finished.elapsed()),
        }
    }
}
