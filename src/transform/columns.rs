//! The typing stage: the [`Transform`] trait, and [`TypeColumns`], the standard transform (pinned
//! columns as pinned, every other column inferred from all of its values).

use polars::prelude::DataFrame;

use super::convert::{convert_batch, takes, Converted};
use super::infer::Inference;
use super::pins::{NullTokens, Pins};
use super::types::{ColumnPlan, Parser};
use crate::batch::{BadRows, Reject, TextBatch};
use crate::error::{Error, Result};

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
    /// Facts about the values worth a line in the summary: per column, the non-empty values its
    /// parser deliberately made null (`Cost: 3 no-charge values (Included/Free/-) stored as null`).
    fn notes(&self) -> Vec<String>;
    /// Per column, the non-empty values made null because they were null tokens.
    fn null_tokens(&self) -> Vec<(String, u64)> {
        Vec::new()
    }
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
    /// Per column, the non-empty values made null as null tokens.
    tokens: Vec<u64>,
    /// Columns of the batch last observed that the vote converted already.
    ready: Vec<Option<Converted>>,
    source: String,
    /// Columns every row must have a value in (a primary key): a row without is a bad row.
    required: Vec<String>,
    /// The column that orders one run's rows of a key (`--dedup-by`).
    ordering: Option<String>,
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
            tokens: Vec::new(),
            coerced: Vec::new(),
            ready: Vec::new(),
            source: String::new(),
            required: Vec::new(),
            ordering: None,
        }
    }

    /// Makes a row with no value in one of `columns` (a primary key's) a bad row.
    pub fn requiring(mut self, columns: &[String], ordering: Option<&str>) -> Self {
        self.required = columns.to_vec();
        self.ordering = ordering.map(str::to_owned);
        self
    }

    /// Takes the rows of `df` with a null in a required column out of it and out of `batch`: an
    /// error, or rejects, as `bad_rows` says.
    fn check_required(
        &self,
        df: DataFrame,
        batch: &mut TextBatch,
        rejects: &mut Vec<Reject>,
    ) -> Result<DataFrame> {
        let mut refused: std::collections::BTreeMap<usize, &str> = Default::default();
        for name in &self.required {
            let column = df.column(name).map_err(|e| Error::Internal(e.to_string()))?;
            if column.null_count() == 0 {
                continue;
            }
            let nulls = column.is_null();
            for (row, null) in nulls.iter().enumerate() {
                if null == Some(true) {
                    refused.entry(row).or_insert(name);
                }
            }
        }
        let Some((&first, &column)) = refused.iter().next() else { return Ok(df) };
        let why = |column: &str| {
            format!(
                "no value, and `{column}` is part of the primary key ({}): a row without its key \
                 cannot be upserted",
                self.required.join(", ")
            )
        };
        if self.bad_rows == BadRows::Fail {
            return Err(Error::Value {
                source_name: self.source.clone(),
                line: batch.line(first),
                column: column.to_owned(),
                message: format!(
                    "{}; pass --on-bad-rows skip or quarantine to load the other rows",
                    why(column)
                ),
            });
        }
        for (&row, column) in &refused {
            let raw = batch.raw_record(row).map(<[u8]>::to_vec).unwrap_or_default();
            rejects.push(Reject {
                line: batch.line(row),
                reason: format!("column `{column}`: {}", why(column)),
                raw,
                part: None,
            });
        }
        batch.retain(|row| !refused.contains_key(&row));
        let keep: polars::prelude::BooleanChunked =
            (0..df.height()).map(|row| !refused.contains_key(&row)).collect();
        df.filter(&keep).map_err(|e| Error::Internal(e.to_string()))
    }
}

impl Transform for TypeColumns {
    fn start(&mut self, source: &str, columns: &[String]) -> Result<Option<Vec<ColumnPlan>>> {
        self.source = source.to_owned();
        if let Some(key) = self.required.iter().find(|k| !columns.contains(k)) {
            return Err(Error::Usage(format!(
                "{}: primary key column `{key}`: no such column{}; its columns are: {}",
                self.source,
                crate::suggest::did_you_mean(key, columns.iter().map(String::as_str)),
                columns.join(", ")
            )));
        }
        if let Some(column) = self.ordering.as_ref().filter(|c| !columns.contains(c)) {
            return Err(Error::Usage(format!(
                "{}: --dedup-by `{column}`: no such column{}; its columns are: {}",
                self.source,
                crate::suggest::did_you_mean(column, columns.iter().map(String::as_str)),
                columns.join(", ")
            )));
        }
        if !self.required.is_empty() && columns.iter().any(|c| c == super::types::ROW_NUMBER_COLUMN) {
            return Err(Error::Usage(format!(
                "{}: a column is named `{}`, the name an upsert numbers its rows with; rename it",
                self.source,
                super::types::ROW_NUMBER_COLUMN
            )));
        }
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
                // A text column keeps `NA`, `NULL`, ... as the text they are, unless the user named
                // them as null; one pinned to string keeps them even then.
                let pinned = self.pins.get(&p.name).is_some();
                if p.parser == Parser::Text && (pinned || !self.nulls.named()) {
                    NullTokens::empty_only()
                } else {
                    self.nulls.clone()
                }
            })
            .collect();
        self.coerced = vec![0; self.plans.len()];
        self.tokens = vec![0; self.plans.len()];
    }

    fn apply(&mut self, batch: &mut TextBatch, rejects: &mut Vec<Reject>) -> Result<DataFrame> {
        // Values handed over typed are taken as they are only under the plan they stand for.
        let plans = &self.plans;
        batch.write_natives_as_text(|col, native| {
            plans.get(col).is_some_and(|p| takes(p.parser, native.kind))
        });
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
        let df = if self.required.is_empty() { df } else { self.check_required(df, batch, rejects)? };
        for (total, n) in self.coerced.iter_mut().zip(coerced) {
            *total += n;
        }
        // Null tokens made null, counted where there are nulls at all (most columns have none: no
        // pass over them).
        for (col, column) in df.columns().iter().enumerate() {
            let nulls = &self.column_nulls[col];
            if nulls.has_tokens() && column.null_count() > 0 {
                self.tokens[col] += (0..batch.len())
                    .filter(|&row| {
                        let v = batch.field(row, col);
                        !v.is_empty() && nulls.is_null(v)
                    })
                    .count() as u64;
            }
        }
        Ok(df)
    }

    fn notes(&self) -> Vec<String> {
        let coerced =
            self.plans.iter().zip(&self.coerced).filter(|(_, n)| **n > 0).filter_map(|(p, n)| {
                Some(format!("{}: {n} {} stored as null", p.name, p.parser.made_null()?))
            });
        let tokens = self.null_tokens().into_iter().map(|(column, n)| {
            let values = if n == 1 { "1 value" } else { &format!("{n} values") };
            format!("{column}: {values} among {} stored as null", self.nulls.describe())
        });
        let commas: Vec<&str> =
            self.plans.iter().filter(|p| p.parser == Parser::DecimalComma).map(|p| p.name.as_str()).collect();
        let commas = (!commas.is_empty())
            .then(|| format!("read with decimal commas (1.234,50): {}", commas.join(", ")));
        // A column of numbers or dates that one value made text: said, with the value, so that the
        // source (or a pin) can be fixed rather than the column found as text in a dashboard.
        let fallbacks = self.inference.iter().flat_map(|i| i.fallbacks()).map(|(name, line, value)| {
            let why = if super::infer::spaced(value.as_bytes()) {
                format!("with spaces around it (--types '{name}=<type>' reads values trimmed)")
            } else {
                "which fits no type its earlier values have".to_owned()
            };
            let value = crate::redact::printable(&value).into_owned();
            format!("{name}: kept as text: line {line} has {value:?}, {why}")
        });
        commas.into_iter().chain(fallbacks).chain(coerced).chain(tokens).collect()
    }

    fn null_tokens(&self) -> Vec<(String, u64)> {
        self.plans
            .iter()
            .zip(&self.tokens)
            .filter(|(_, n)| **n > 0)
            .map(|(p, n)| (p.name.clone(), *n))
            .collect()
    }
}
