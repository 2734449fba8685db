//! The row checks, judged on each typed batch as it streams to the staging files: counts, the first
//! examples, and (for checks at severity error) the offending rows in a rejects file; plus the
//! newest value of each `freshness` column.

use std::collections::{BTreeMap, HashMap};
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

/// The row checks of one run.
pub struct RowChecks {
    checks: Vec<Check>,
    sensitive: Vec<String>,
    /// `line` or `record`: how examples name a row.
    noun: &'static str,
    dir: tempfile::TempDir,
    columns: Vec<String>,
    states: Vec<State>,
    rejects: Option<(csv::Writer<std::fs::File>, u64)>,
    newest: BTreeMap<String, Newest>,
    budget: u64,
    /// The `unique` checks' keys, noted on a thread of their own; `uniques` are their checks' indexes.
    keys: Option<unique::Keys>,
    uniques: Vec<usize>,
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
    /// files go in a folder under `staging` (the store's staging parent).
    pub fn new(
        checks: Vec<Check>,
        sensitive: Vec<String>,
        staging: &std::path::Path,
        noun: &'static str,
    ) -> Result<Self> {
        std::fs::create_dir_all(staging).map_err(|e| Error::io(staging, e))?;
        let dir = tempfile::Builder::new()
            .prefix(".etl-staging-checks-")
            .tempdir_in(staging)
            .map_err(|e| Error::io(staging, e))?;
        let budget = std::env::var("ETL_UNIQUE_MEMORY")
            .ok()
            .and_then(|t| t.parse::<crate::bytesize::ByteSize>().ok())
            .map_or(unique::DEFAULT_BUDGET, |b| b.0);
        Ok(RowChecks {
            checks,
            sensitive,
            noun,
            dir,
            columns: Vec::new(),
            states: Vec::new(),
            rejects: None,
            newest: BTreeMap::new(),
            budget,
            keys: None,
            uniques: Vec::new(),
        })
    }

    /// Starts (or starts over) with the pass's column plans.
    pub fn begin(&mut self, plans: &[ColumnPlan]) -> Result<()> {
        self.columns = plans.iter().map(|p| p.name.clone()).collect();
        self.rejects = None;
        self.newest.clear();
        let index = |name: &str| plans.iter().position(|p| p.name == name);
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
                Kind::Unique(_) => {
                    let spill = self.dir.path().join(format!("unique-{i}"));
                    if spill.exists() {
                        std::fs::remove_dir_all(&spill).map_err(|e| Error::io(&spill, e))?;
                    }
                    state.seen = Some(Seen::new(spill, self.budget));
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
        // A pass that starts over drops what the last one handed over.
        self.keys = None;
        self.uniques.clear();
        let mut seen = Vec::new();
        for (i, state) in self.states.iter_mut().enumerate() {
            if let Some(s) = state.seen.take() {
                self.uniques.push(i);
                seen.push(s);
            }
        }
        if !seen.is_empty() {
            self.keys = Some(unique::Keys::start(seen));
        }
        Ok(())
    }

    /// Judges the rows of one typed batch (`df`, the rows of `batch`); `part` is the file of a
    /// source of several.
    pub fn observe(&mut self, df: &DataFrame, batch: &TextBatch, part: Option<(usize, &str)>) -> Result<()> {
        let polars = |e: PolarsError| Error::Internal(format!("judging a check: {e}"));
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
                    column
                        .is_null()
                        .iter()
                        .enumerate()
                        .filter(|(_, n)| *n == Some(true))
                        .map(|(r, _)| r)
                        .collect()
                }
                Kind::AcceptedValues { values, .. } => {
                    let series = df.columns()[state.cols[0]].as_materialized_series();
                    let text = match series.dtype() {
                        DataType::String => series.clone(),
                        _ => series.cast(&DataType::String).map_err(polars)?,
                    };
                    let text = text.str().map_err(polars)?;
                    let accepted = |v: &str| match &state.accepted {
                        Some(set) => set.contains(v),
                        None => values.iter().any(|a| a == v),
                    };
                    text.iter()
                        .enumerate()
                        .filter(|(_, v)| v.is_some_and(|v| !accepted(v)))
                        .map(|(r, _)| r)
                        .collect()
                }
                Kind::Matches { pattern, .. } => {
                    let series = df.columns()[state.cols[0]].as_materialized_series();
                    let text = match series.dtype() {
                        DataType::String => series.clone(),
                        _ => series.cast(&DataType::String).map_err(polars)?,
                    };
                    let text = text.str().map_err(polars)?;
                    text.iter()
                        .enumerate()
                        .filter(|(_, v)| v.is_some_and(|v| !pattern.is_match(v)))
                        .map(|(r, _)| r)
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
                        .filter(|(_, v)| v.is_some_and(|v| !inside(v)))
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
                    if let Some(max) = values.i64().map_err(polars)?.max() {
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
                let at = where_(self.noun, part, batch.line(row));
                state.examples.push(match (&check.kind, shown) {
                    (Kind::NotNull(_), _) | (_, false) => at,
                    (_, true) => format!("{at}: {}", shown_value(batch.text(row, state.cols[0]))),
                });
            }
            if check.severity == Severity::Error {
                for row in offenders {
                    failing.entry(row).or_default().push(check.name());
                }
            }
        }
        if let Some(keys) = self.keys.as_mut() {
            let file = part.map_or(0, |p| p.0);
            let places: Vec<u64> = (0..batch.len()).map(|row| unique::place(file, batch.line(row))).collect();
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
        for (row, names) in failing {
            let fields: Vec<&[u8]> = (0..batch.columns()).map(|c| batch.field(row, c)).collect();
            self.reject(part.map(|p| p.1), batch.line(row), &names.join("; "), &fields)?;
        }
        Ok(())
    }

    /// Writes a row that broke checks to the rejects file (opened at the first one).
    fn reject(&mut self, file: Option<&str>, line: u64, checks: &str, fields: &[&[u8]]) -> Result<()> {
        let path = self.dir.path().join("rejects.csv");
        let io = |e: csv::Error| Error::Internal(format!("{}: {e}", path.display()));
        if self.rejects.is_none() {
            let mut out = csv::Writer::from_path(&path).map_err(io)?;
            let mut header: Vec<&str> = Vec::new();
            if file.is_some() {
                header.push("_file");
            }
            header.extend(["_line", "_check"]);
            header.extend(self.columns.iter().map(String::as_str));
            out.write_record(&header).map_err(io)?;
            self.rejects = Some((out, 0));
        }
        let (out, count) = self.rejects.as_mut().expect("opened above");
        let line = line.to_string();
        let mut record: Vec<&[u8]> = Vec::new();
        if let Some(file) = file {
            record.push(file.as_bytes());
        }
        record.extend([line.as_bytes(), checks.as_bytes()]);
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
        let mut refetch: HashMap<u64, Vec<String>> = HashMap::new();
        for (check, state) in self.checks.iter().zip(self.states.iter_mut()) {
            let Some(seen) = state.seen.take() else { continue };
            if seen.spilled() {
                tracing::info!("{}: more keys than fit ETL_UNIQUE_MEMORY: spilled to disk", check.name());
            }
            let began = std::time::Instant::now();
            let dups = seen.duplicates()?;
            tracing::debug!("{}: repeats found in {:.2} s", check.name(), began.elapsed().as_secs_f64());
            state.rows = dups.len() as u64;
            for &(at, first) in dups.iter().take(EXAMPLES) {
                let (_, line) = unique::unplace(at);
                let (_, first_line) = unique::unplace(first);
                state.examples.push(format!("{} {line} repeats {} {first_line}", self.noun, self.noun));
            }
            if check.severity == Severity::Error {
                for (at, _) in dups {
                    refetch.entry(at).or_default().push(check.name());
                }
            }
        }
        if !refetch.is_empty() {
            let mut reader = reopen()?;
            let mut batch = TextBatch::new(reader.columns().len());
            while reader.next_batch(&mut batch, REREAD_ROWS)? {
                let part = reader.part().map(|(i, name)| (i, name.to_owned()));
                for row in 0..batch.len() {
                    let at = unique::place(part.as_ref().map_or(0, |p| p.0), batch.line(row));
                    if let Some(names) = refetch.get(&at) {
                        let fields: Vec<&[u8]> = (0..batch.columns()).map(|c| batch.field(row, c)).collect();
                        let names = names.join("; ");
                        self.reject(part.as_ref().map(|p| p.1.as_str()), batch.line(row), &names, &fields)?;
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
        for (check, state) in self.checks.iter().zip(self.states) {
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
        Ok(RowOutcome { results, problems, newest: self.newest, rejects, dir: self.dir })
    }
}

/// `line 12`, `record 12`, or `b.csv:12` in a source of several files.
fn where_(noun: &str, part: Option<(usize, &str)>, line: u64) -> String {
    match part {
        Some((_, name)) => format!("{name}:{line}"),
        None => format!("{noun} {line}"),
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
        assert_eq!(where_("line", None, 12), "line 12");
        assert_eq!(where_("record", Some((1, "b.csv")), 3), "b.csv:3");
    }
}
