//! The row checks, judged on each typed batch as it streams to the staging files: counts, the first
//! examples, and (for checks at severity error) the offending rows in a rejects file; plus the
//! newest value of each `freshness` column.

use std::collections::BTreeMap;
use std::path::PathBuf;

use polars::prelude::*;

use super::unique::{self, Seen};
use super::{Bound, Check, CheckResult, Kind, Severity};
use crate::batch::TextBatch;
use crate::error::{Error, Result};
use crate::extract::BatchReader;
use crate::transform::values::{DateFormat, DatetimeFormat};
use crate::transform::{ColumnPlan, ColumnType};

/// Examples kept per check.
pub const EXAMPLES: usize = 5;

/// Rows per batch when the source is read again for repeated keys.
const REREAD_ROWS: usize = 65_536;

/// Characters of a value an example shows.
const SHOWN_CHARS: usize = 40;

/// A freshness column's newest value: microseconds since the epoch (UTC), and whether the column
/// holds dates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Newest {
    pub micros: i64,
    pub date: bool,
}

impl Newest {
    /// `2026-10-31`, or `2026-10-31T22:57:15Z`.
    pub fn text(self) -> String {
        let day = crate::transform::calendar::day_of_micros(self.micros);
        if self.date {
            return crate::transform::calendar::format_day(day);
        }
        let secs = self.micros.div_euclid(1_000_000).rem_euclid(86_400);
        format!(
            "{}T{:02}:{:02}:{:02}Z",
            crate::transform::calendar::format_day(day),
            secs / 3600,
            secs / 60 % 60,
            secs % 60
        )
    }

    /// Reads [`Newest::text`] back.
    pub fn parse(text: &str) -> Option<Newest> {
        if let Some(days) = DateFormat::Iso.parse(text.as_bytes()) {
            return Some(Newest {
                micros: i64::from(days) * crate::transform::calendar::MICROS_PER_DAY,
                date: true,
            });
        }
        DatetimeFormat::ISO.parse(text.as_bytes()).map(|t| Newest { micros: t.micros, date: false })
    }
}

/// How a `range` compares: every value as a float (dates as days, timestamps as microseconds).
#[derive(Debug, Clone, Copy)]
struct Span {
    min: Option<f64>,
    max: Option<f64>,
}

/// One check's tally.
#[derive(Default)]
struct State {
    /// The columns it reads, by index.
    cols: Vec<usize>,
    /// Why it cannot be judged on this data (a column that is not there, or of another type).
    problem: Option<String>,
    rows: u64,
    examples: Vec<String>,
    seen: Option<Seen>,
    span: Option<Span>,
    /// `accepted_values` as a set, when the list is long.
    accepted: Option<std::collections::HashSet<String>>,
}

/// How examples and the rejects file name a row: `line 12` for files, `record 12` for REST records
/// and PostgreSQL rows (whose text comes a line after a header: `offset` 1).
#[derive(Debug, Clone, Copy)]
pub struct Places {
    pub noun: &'static str,
    pub offset: u64,
}

impl Places {
    /// How rows of a source of `kind` are named.
    pub fn of_source(kind: &str) -> Places {
        match kind {
            "api" => Places { noun: "record", offset: 0 },
            "postgres" => Places { noun: "record", offset: 1 },
            _ => Places { noun: "line", offset: 0 },
        }
    }
}

/// The row checks of one run.
pub struct RowChecks {
    checks: Vec<Check>,
    sensitive: Vec<String>,
    places: Places,
    /// Whether offending rows are kept (not for a dry run).
    keep_rejects: bool,
    /// The `unique` checks' keys, noted on a thread of their own; `uniques` are their checks'
    /// indexes. (Before `dir`: the thread is joined before its spill folder goes.)
    keys: Option<unique::Keys>,
    uniques: Vec<usize>,
    dir: tempfile::TempDir,
    columns: Vec<String>,
    /// The names of a source's files, by index.
    parts: BTreeMap<usize, String>,
    states: Vec<State>,
    rejects: Option<(csv::Writer<std::fs::File>, u64)>,
    /// The places of the rows written to the rejects file (a repeat found later is not counted twice).
    written: std::collections::HashSet<u64>,
    newest: BTreeMap<String, Newest>,
    budget: u64,
}

/// What the row checks found once every row has streamed by.
pub struct RowOutcome {
    /// Per check (in declaration order): the result of a row check; `None` for the others.
    pub results: Vec<Option<CheckResult>>,
    /// Per check: why it could not be judged (a missing column, another type).
    pub problems: Vec<Option<String>>,
    /// The newest value of each `freshness` column (absent: the run has no value in it).
    pub newest: BTreeMap<String, Newest>,
    /// The rows that broke a check at severity error, as CSV, and how many.
    pub rejects: Option<(PathBuf, u64)>,
    /// Holds the rejects file.
    pub dir: tempfile::TempDir,
}

impl RowChecks {
    /// The row checks among `checks`; examples leave out the values of `sensitive` columns. Work
    /// files go in a folder under `staging` (the store's staging parent); `unique` checks share
    /// `budget` bytes of memory.
    pub fn new(
        checks: Vec<Check>,
        sensitive: Vec<String>,
        staging: &std::path::Path,
        places: Places,
        keep_rejects: bool,
        budget: u64,
    ) -> Result<Self> {
        std::fs::create_dir_all(staging).map_err(|e| Error::io(staging, e))?;
        let dir = tempfile::Builder::new()
            .prefix(".etl-staging-checks-")
            .tempdir_in(staging)
            .map_err(|e| Error::io(staging, e))?;
        crate::load::keep_fresh(dir.path());
        Ok(RowChecks {
            checks,
            sensitive,
            places,
            keep_rejects,
            keys: None,
            uniques: Vec::new(),
            dir,
            columns: Vec::new(),
            parts: BTreeMap::new(),
            states: Vec::new(),
            rejects: None,
            written: Default::default(),
            newest: BTreeMap::new(),
            budget,
        })
    }

    /// Starts (or starts over) with the pass's column plans.
    pub fn begin(&mut self, plans: &[ColumnPlan]) -> Result<()> {
        // A pass that starts over drops what the last one handed over, its thread first.
        self.keys = None;
        self.uniques.clear();
        self.columns = plans.iter().map(|p| p.name.clone()).collect();
        self.rejects = None;
        self.written.clear();
        self.newest.clear();
        let index = |name: &str| plans.iter().position(|p| p.name == name);
        let uniques = self.checks.iter().filter(|c| matches!(c.kind, Kind::Unique(_))).count().max(1);
        let mut states = Vec::new();
        for (i, check) in self.checks.iter().enumerate() {
            let mut state = State::default();
            let missing: Vec<&str> = check.columns().into_iter().filter(|c| index(c).is_none()).collect();
            if !missing.is_empty() {
                state.problem = Some(format!(
                    "no column {} in the source (its columns: {})",
                    missing.iter().map(|c| format!("`{c}`")).collect::<Vec<_>>().join(", "),
                    self.columns.join(", ")
                ));
                states.push(state);
                continue;
            }
            state.cols = check.columns().into_iter().filter_map(index).collect();
            let kind_of = |col: usize| plans[col].parser.column_type();
            match &check.kind {
                Kind::Unique(columns) => {
                    if let Some(list) =
                        state.cols.iter().find(|&&c| matches!(kind_of(c), ColumnType::List(_)))
                    {
                        state.problem = Some(format!(
                            "`{}` holds lists: a key is made of values (of {})",
                            plans[*list].name,
                            columns.join(", ")
                        ));
                    } else {
                        let spill = self.dir.path().join(format!("unique-{i}"));
                        if spill.exists() {
                            std::fs::remove_dir_all(&spill).map_err(|e| Error::io(&spill, e))?;
                        }
                        state.seen = Some(Seen::new(spill, self.budget / uniques as u64));
                    }
                }
                Kind::Range { column, min, max } => match span(kind_of(state.cols[0]), min, max) {
                    Ok(span) => state.span = Some(span),
                    Err(e) => state.problem = Some(format!("`{column}`: {e}")),
                },
                Kind::Freshness { column, .. }
                    if !matches!(kind_of(state.cols[0]), ColumnType::Date | ColumnType::Datetime { .. }) =>
                {
                    state.problem =
                        Some(format!("`{column}` is {}, not a date or a timestamp", kind_of(state.cols[0])));
                }
                Kind::AcceptedValues { values, .. } if values.len() > 8 => {
                    state.accepted = Some(values.iter().cloned().collect());
                }
                _ => {}
            }
            states.push(state);
        }
        self.states = states;
        let mut seen = Vec::new();
        for (i, state) in self.states.iter_mut().enumerate() {
            if let Some(s) = state.seen.take() {
                self.uniques.push(i);
                seen.push(s);
            }
        }
        if !seen.is_empty() {
            self.keys = Some(unique::Keys::start(seen)?);
        }
        Ok(())
    }

    /// Judges the rows of one typed batch (`df`, the rows of `batch`); `part` is the file of a
    /// source of several; `kept`, when given, says which rows the run writes (the others, outside
    /// `--partition-range`, are not judged).
    pub fn observe(
        &mut self,
        df: &DataFrame,
        batch: &TextBatch,
        part: Option<(usize, &str)>,
        kept: Option<&[bool]>,
    ) -> Result<()> {
        let polars = |e: PolarsError| Error::Internal(format!("judging a check: {e}"));
        if let Some((i, name)) = part {
            self.parts.entry(i).or_insert_with(|| name.to_owned());
        }
        let keep = |row: usize| kept.is_none_or(|k| k[row]);
        // Rows that broke a check at severity error, with the checks' names.
        let mut failing: BTreeMap<usize, Vec<String>> = BTreeMap::new();
        for (check, state) in self.checks.iter().zip(self.states.iter_mut()) {
            if state.problem.is_some() {
                continue;
            }
            let offenders: Vec<usize> = match &check.kind {
                Kind::NotNull(_) => {
                    let column = &df.columns()[state.cols[0]];
                    if column.null_count() == 0 {
                        continue;
                    }
                    let nulls = column.is_null();
                    (0..df.height()).filter(|&r| nulls.get(r) == Some(true) && keep(r)).collect()
                }
                // Both judge the value as the source wrote it (`Yes`, `1`, `2026-01-01T10:00+02:00`),
                // not as typed; nulls pass.
                Kind::AcceptedValues { values, .. } => {
                    let accepted = |v: &str| match &state.accepted {
                        Some(set) => set.contains(v),
                        None => values.iter().any(|a| a == v),
                    };
                    let col = state.cols[0];
                    let nulls = non_null(&df.columns()[col]);
                    (0..batch.len())
                        .filter(|&r| {
                            keep(r) && nulls.as_ref().is_none_or(|n| n[r]) && !accepted(batch.text(r, col))
                        })
                        .collect()
                }
                Kind::Matches { pattern, .. } => {
                    let col = state.cols[0];
                    let nulls = non_null(&df.columns()[col]);
                    (0..batch.len())
                        .filter(|&r| {
                            keep(r)
                                && nulls.as_ref().is_none_or(|n| n[r])
                                && !pattern.is_match(batch.text(r, col))
                        })
                        .collect()
                }
                Kind::Range { .. } => {
                    let span = state.span.expect("set by begin");
                    let values = as_floats(&df.columns()[state.cols[0]]).map_err(polars)?;
                    let values = values.f64().map_err(polars)?;
                    // Most batches lie within: their minimum and maximum say so.
                    let inside = |v: f64| span.min.is_none_or(|m| v >= m) && span.max.is_none_or(|m| v <= m);
                    if values.min().is_none_or(inside) && values.max().is_none_or(inside) {
                        continue;
                    }
                    values
                        .iter()
                        .enumerate()
                        .filter(|(r, v)| keep(*r) && v.is_some_and(|v| !inside(v)))
                        .map(|(r, _)| r)
                        .collect()
                }
                // Handed to the keys' thread below.
                Kind::Unique(_) => continue,
                Kind::Freshness { column, .. } => {
                    let values =
                        df.columns()[state.cols[0]].as_materialized_series().to_physical_repr().into_owned();
                    let date = matches!(values.dtype(), DataType::Int32);
                    let values = values.cast(&DataType::Int64).map_err(polars)?;
                    let values = values.i64().map_err(polars)?;
                    let max = match kept {
                        None => values.max(),
                        Some(k) => values.iter().zip(k).filter(|(_, k)| **k).filter_map(|(v, _)| v).max(),
                    };
                    if let Some(max) = max {
                        let micros =
                            if date { max * crate::transform::calendar::MICROS_PER_DAY } else { max };
                        let newest = self.newest.entry(column.clone()).or_insert(Newest { micros, date });
                        newest.micros = newest.micros.max(micros);
                    }
                    continue;
                }
                Kind::RowCount { .. } | Kind::RowCountChange { .. } | Kind::Columns { .. } => continue,
            };
            state.rows += offenders.len() as u64;
            let shown = !check.columns().iter().any(|c| self.sensitive.iter().any(|s| s == c));
            for &row in offenders.iter().take(EXAMPLES.saturating_sub(state.examples.len())) {
                let at = where_(self.places, part.map(|p| p.1), batch.line(row));
                state.examples.push(match (&check.kind, shown) {
                    (Kind::NotNull(_), _) | (_, false) => at,
                    (_, true) => format!("{at}: {}", shown_value(batch.text(row, state.cols[0]))),
                });
            }
            if check.severity == Severity::Error && self.keep_rejects {
                for row in offenders {
                    failing.entry(row).or_default().push(check.name());
                }
            }
        }
        if let Some(keys) = self.keys.as_mut() {
            let file = part.map_or(0, |p| p.0);
            // A row the run does not write is not a key (`unique::SKIP`).
            let places: Vec<u64> = (0..batch.len())
                .map(|row| if keep(row) { unique::place(file, batch.line(row)) } else { unique::SKIP })
                .collect();
            let columns: Vec<DataFrame> = self
                .uniques
                .iter()
                .map(|&i| {
                    let cols: Vec<Column> =
                        self.states[i].cols.iter().map(|&c| df.columns()[c].clone()).collect();
                    DataFrame::new(df.height(), cols).map_err(polars)
                })
                .collect::<Result<_>>()?;
            keys.send(columns, places)?;
        }
        let file = part.map_or(0, |p| p.0);
        for (row, names) in failing {
            let fields: Vec<&[u8]> = (0..batch.columns()).map(|c| batch.field(row, c)).collect();
            self.reject(part.map(|p| p.1), batch.line(row), &names.join("; "), &fields)?;
            self.written.insert(unique::place(file, batch.line(row)));
        }
        Ok(())
    }

    /// Writes a row that broke checks to the rejects file (opened at the first one).
    fn reject(&mut self, file: Option<&str>, line: u64, checks: &str, fields: &[&[u8]]) -> Result<()> {
        let path = self.dir.path().join("rejects.csv");
        let io = |e: csv::Error| Error::io(&path, std::io::Error::other(e));
        if self.rejects.is_none() {
            let mut out = csv::Writer::from_path(&path).map_err(io)?;
            let mut header: Vec<String> = Vec::new();
            if file.is_some() {
                header.push("_file".into());
            }
            header.extend([format!("_{}", self.places.noun), "_check".into()]);
            header.extend(self.columns.iter().cloned());
            out.write_record(&header).map_err(io)?;
            self.rejects = Some((out, 0));
        }
        let (out, count) = self.rejects.as_mut().expect("opened above");
        let number = line.saturating_sub(self.places.offset).to_string();
        let mut record: Vec<&[u8]> = Vec::new();
        if let Some(file) = file {
            record.push(file.as_bytes());
        }
        record.extend([number.as_bytes(), checks.as_bytes()]);
        record.extend(fields);
        out.write_record(&record).map_err(io)?;
        *count += 1;
        Ok(())
    }

    /// Finishes the tally once every row has been seen. The rows a `unique` check at severity error
    /// found repeated are fetched for the rejects file by reading the source once more
    /// (`reopen`): only then, and only those.
    pub fn finish(mut self, reopen: impl FnOnce() -> Result<Box<dyn BatchReader>>) -> Result<RowOutcome> {
        if let Some(keys) = self.keys.take() {
            for (i, seen) in self.uniques.iter().zip(keys.finish()?) {
                self.states[*i].seen = Some(seen);
            }
        }
        // The repeated rows to fetch, each with the unique checks (by index) that found it.
        // The repeated rows to fetch, each with a unique check (by index) that found it, by place:
        // the order the source reads them in again.
        let mut refetch: Vec<(u64, u32)> = Vec::new();
        for (i, (check, state)) in self.checks.iter().zip(self.states.iter_mut()).enumerate() {
            let Some(seen) = state.seen.take() else { continue };
            if seen.spilled() {
                tracing::info!("{}: more keys than fit ETL_UNIQUE_MEMORY: spilled to disk", check.name());
            }
            let began = std::time::Instant::now();
            let dups = seen.duplicates()?;
            tracing::debug!("{}: repeats found in {:.2} s", check.name(), began.elapsed().as_secs_f64());
            state.rows = dups.len() as u64;
            for &(at, first) in dups.iter().take(EXAMPLES) {
                let name = |at: u64| {
                    let (file, line) = unique::unplace(at);
                    where_(self.places, self.parts.get(&file).map(String::as_str), line)
                };
                state.examples.push(format!("{} repeats {}", name(at), name(first)));
            }
            if check.severity == Severity::Error && self.keep_rejects {
                refetch.extend(dups.into_iter().map(|(at, _)| (at, i as u32)));
            }
        }
        refetch.sort_unstable();
        if !refetch.is_empty() {
            let mut reader = reopen()?;
            let mut batch = TextBatch::new(reader.columns().len());
            // The next repeated row to fetch.
            let mut next = 0;
            while next < refetch.len() && reader.next_batch(&mut batch, REREAD_ROWS)? {
                batch.write_natives_as_text(|_, _| false);
                let part = reader.part().map(|(i, name)| (i, name.to_owned()));
                for row in 0..batch.len() {
                    let at = unique::place(part.as_ref().map_or(0, |p| p.0), batch.line(row));
                    while next < refetch.len() && refetch[next].0 < at {
                        next += 1;
                    }
                    let found: Vec<u32> = refetch[next..]
                        .iter()
                        .take_while(|(place, _)| *place == at)
                        .map(|(_, i)| *i)
                        .collect();
                    if !found.is_empty() {
                        next += found.len();
                        let fields: Vec<&[u8]> = (0..batch.columns()).map(|c| batch.field(row, c)).collect();
                        let names: Vec<String> =
                            found.iter().map(|&i| self.checks[i as usize].name()).collect();
                        let already = self.written.contains(&at);
                        self.reject(
                            part.as_ref().map(|p| p.1.as_str()),
                            batch.line(row),
                            &names.join("; "),
                            &fields,
                        )?;
                        if already {
                            // The same row, written once already for a row check: one row.
                            if let Some((_, count)) = self.rejects.as_mut() {
                                *count -= 1;
                            }
                        }
                    }
                }
                let _ = reader.take_rejects();
            }
        }
        let rejects = match self.rejects.take() {
            Some((mut out, n)) => {
                out.flush().map_err(|e| Error::io(self.dir.path().join("rejects.csv"), e))?;
                Some((self.dir.path().join("rejects.csv"), n))
            }
            None => None,
        };
        let mut results = Vec::new();
        let mut problems = Vec::new();
        for (check, state) in self.checks.iter().zip(std::mem::take(&mut self.states)) {
            problems.push(state.problem.clone());
            if !check.on_rows() {
                results.push(None);
                continue;
            }
            let mut result = check.result(check.judged(state.rows == 0 && state.problem.is_none()));
            result.rows = state.rows;
            result.examples = state.examples;
            result.detail = match (&state.problem, &check.kind) {
                (Some(problem), _) => problem.clone(),
                (None, _) if state.rows == 0 => String::new(),
                (None, Kind::NotNull(_)) => "without a value".into(),
                (None, Kind::Unique(_)) => "repeat an earlier row's key".into(),
                (None, Kind::AcceptedValues { values, .. }) => format!(
                    "not one of {}",
                    values.iter().take(10).map(|v| format!("{v:?}")).collect::<Vec<_>>().join(", ")
                        + if values.len() > 10 { ", ..." } else { "" }
                ),
                (None, Kind::Range { min, max, .. }) => format!(
                    "outside {}..{}",
                    min.as_ref().map(Bound::to_string).unwrap_or_default(),
                    max.as_ref().map(Bound::to_string).unwrap_or_default()
                ),
                (None, Kind::Matches { pattern, .. }) => format!("do not match `{pattern}`"),
                (None, _) => String::new(),
            };
            results.push(Some(result));
        }
        let newest = std::mem::take(&mut self.newest);
        Ok(RowOutcome { results, problems, newest, rejects, dir: self.dir })
    }
}

/// Which rows of a column hold a value; `None` when all do.
fn non_null(column: &Column) -> Option<Vec<bool>> {
    (column.null_count() > 0).then(|| column.is_not_null().iter().map(|v| v == Some(true)).collect())
}

/// `line 12`, `record 12`, or `b.csv:12` in a source of several files.
fn where_(places: Places, file: Option<&str>, line: u64) -> String {
    let number = line.saturating_sub(places.offset);
    match file {
        Some(name) => format!("{name}:{number}"),
        None => format!("{} {number}", places.noun),
    }
}

/// A value as an example shows it: quoted, at most [`SHOWN_CHARS`] characters.
fn shown_value(text: &str) -> String {
    match text.char_indices().nth(SHOWN_CHARS) {
        Some((cut, _)) => format!("{:?}…", &text[..cut]),
        None => format!("{text:?}"),
    }
}

/// A column's values as floats: numbers as they are, dates as days, timestamps as microseconds.
fn as_floats(column: &Column) -> PolarsResult<Series> {
    let series = column.as_materialized_series();
    match series.dtype() {
        DataType::Date | DataType::Datetime(..) => series.to_physical_repr().cast(&DataType::Float64),
        _ => series.cast(&DataType::Float64),
    }
}

/// A `range`'s bounds on the scale of [`as_floats`] for a column of type `kind`.
fn span(kind: ColumnType, min: &Option<Bound>, max: &Option<Bound>) -> std::result::Result<Span, String> {
    let on_scale = |bound: &Option<Bound>| -> std::result::Result<Option<f64>, String> {
        let Some(bound) = bound else { return Ok(None) };
        match (kind, bound) {
            (ColumnType::Int64 | ColumnType::Float64 | ColumnType::Decimal(_), Bound::Number(n)) => {
                Ok(Some(*n))
            }
            (ColumnType::Date | ColumnType::Datetime { .. }, Bound::Text(t)) => {
                let micros = match DateFormat::Iso.parse(t.as_bytes()) {
                    Some(days) => i64::from(days) * crate::transform::calendar::MICROS_PER_DAY,
                    None => DatetimeFormat::ISO
                        .parse(t.as_bytes())
                        .map(|t| t.micros)
                        .ok_or_else(|| format!("`{t}` is not a date (YYYY-MM-DD) or an ISO timestamp"))?,
                };
                Ok(Some(match kind {
                    ColumnType::Date => micros.div_euclid(crate::transform::calendar::MICROS_PER_DAY) as f64,
                    _ => micros as f64,
                }))
            }
            (ColumnType::Date | ColumnType::Datetime { .. }, Bound::Number(n)) => {
                Err(format!("{kind} values are bounded by a date (`2026-01-01`), not {n}"))
            }
            (ColumnType::Int64 | ColumnType::Float64 | ColumnType::Decimal(_), Bound::Text(t)) => {
                Err(format!("{kind} values are bounded by a number, not `{t}`"))
            }
            _ => Err(format!("{kind} values have no range: a range checks numbers, dates and timestamps")),
        }
    };
    Ok(Span { min: on_scale(min)?, max: on_scale(max)? })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newest_values_read_back() {
        let t = Newest::parse("2026-10-31T22:57:15Z").unwrap();
        assert_eq!(t.text(), "2026-10-31T22:57:15Z");
        let d = Newest::parse("2026-10-31").unwrap();
        assert!(d.date);
        assert_eq!(d.text(), "2026-10-31");
    }

    #[test]
    fn examples_are_quoted_and_cut() {
        assert_eq!(shown_value("Foo"), "\"Foo\"");
        let long = "x".repeat(60);
        assert_eq!(shown_value(&long), format!("\"{}\"…", "x".repeat(40)));
        assert_eq!(where_(Places::of_source("csv"), None, 12), "line 12");
        assert_eq!(where_(Places::of_source("postgres"), None, 12), "record 11");
        assert_eq!(where_(Places::of_source("csv"), Some("b.csv"), 3), "b.csv:3");
    }
}
