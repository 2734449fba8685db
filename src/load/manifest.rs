//! Run records. `datasets/<id>/_manifest.json` describes the dataset as the last run left it (written
//! last, after every data file is in place and every stale one is gone); `datasets/<id>/_runs/<run-id>.json`
//! keeps one such record per run, the history. Readers that trust the manifest never see a file it
//! does not list.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::layout::DatasetId;
use crate::store::{ObjectStore, StoreError};
use crate::transform::ColumnPlan;

/// The manifest format this tool writes.
pub const FORMAT: u32 = 1;

/// Where the data came from.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct SourceRecord {
    pub kind: String,
    /// A path, URL or id; never a secret.
    pub location: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
}

/// One column of the schema.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ColumnRecord {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
}

/// One data file of the dataset. Files found in place that no earlier manifest described (written
/// before manifests, or by a run that stopped before its own) have no rows, checksum or run.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct FileRecord {
    pub key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rows: Option<u64>,
    pub bytes: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// The run that wrote it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
    /// The checksum the store computed when the file was uploaded (S3's ETag), which proves later
    /// that the object still holds these bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
}

impl FileRecord {
    /// The record of a file a run staged, under the key it publishes it at.
    pub fn of(file: &super::parquet::StagedFile, run_id: &str) -> Self {
        FileRecord {
            key: file.key.clone(),
            rows: Some(file.rows),
            bytes: file.bytes,
            sha256: Some(file.sha256.clone()),
            run_id: Some(run_id.to_owned()),
            etag: None,
        }
    }
}

/// A run's record, and (as `_manifest.json`) the dataset's description.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Manifest {
    pub format: u32,
    pub run_id: String,
    /// `etl 0.1.0`.
    pub tool: String,
    pub command: String,
    pub source: SourceRecord,
    /// RFC 3339, UTC.
    pub started: String,
    pub finished: String,
    /// `merge` or `replace`.
    pub mode: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition_column: Option<String>,
    /// The columns that identify a row (`--primary-key`): upserts replace rows by them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub primary_key: Vec<String>,
    pub schema: Vec<ColumnRecord>,
    /// Rows this run wrote.
    pub rows_written: u64,
    /// Per column, the non-empty values this run stored as null because they were null tokens
    /// (`NA`, `NULL`, ... in a typed column; in any column when the user named them).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub null_tokens: std::collections::BTreeMap<String, u64>,
    /// Objects of earlier runs this run deleted.
    pub deleted: usize,
    /// What an upsert did to the dataset's rows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upserted: Option<crate::summary::Upserted>,
    /// Every data file of the dataset after this run (including those earlier runs wrote, in the
    /// partitions a merge left alone), in key order.
    pub files: Vec<FileRecord>,
    /// `failed` for the record of a run that published nothing (a check failed at severity error,
    /// bad input, a store error), `cancelled` for one a signal stopped; only in `_runs/`, never the
    /// manifest. Absent for a published run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// Why a failed or cancelled run stopped (secrets redacted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The rows a failed or cancelled run had read and typed when it stopped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rows_read: Option<u64>,
    /// The exit code of a failed or cancelled run (1, 65, 75, 130, 143).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<u8>,
    /// The job of a job file (`etl run`) the run was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job: Option<String>,
    /// What a run that published nothing had to say (`nothing new since ...`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// The columns each file's rows are sorted by (`--sort-by`): later runs that leave it out keep it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sort_by: Vec<String>,
    /// The data a row group of each file holds at most (`--row-group-size`), kept as `sort_by` is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub row_group_bytes: Option<u64>,
    /// The outcome of each data-quality check the run declared.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub checks: Vec<crate::summary::CheckResult>,
    /// The newest value of each `freshness` column the dataset holds after this run, for the next
    /// run's check.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub newest: std::collections::BTreeMap<String, String>,
    /// The mode a run of the dataset uses when none is given (`--mode`, `mode:`): the last one given
    /// other than replace (append, merge, upsert); a replace given resets it. So that a forgotten
    /// `--mode append` never replaces a table that is appended to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_mode: Option<String>,
    /// `delta` for a dataset written as a Delta Lake table (absent: the Hive layout).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table_format: Option<String>,
    /// The version of the Delta table this run committed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delta_version: Option<u64>,
}

impl Manifest {
    /// The record of run `run_id` of `command`, reading `source`, begun at `started`, before it says
    /// what it wrote, judged or left out: no schema, file, check or status yet.
    pub fn begun(run_id: &str, command: &str, source: SourceRecord, started: std::time::SystemTime) -> Self {
        Manifest {
            format: FORMAT,
            run_id: run_id.to_owned(),
            tool: format!("etl {}", env!("CARGO_PKG_VERSION")),
            command: command.to_owned(),
            source,
            started: rfc3339(started),
            finished: String::new(),
            mode: String::new(),
            partition_column: None,
            primary_key: Vec::new(),
            schema: Vec::new(),
            rows_written: 0,
            null_tokens: Default::default(),
            deleted: 0,
            upserted: None,
            files: Vec::new(),
            status: None,
            checks: Vec::new(),
            newest: Default::default(),
            default_mode: None,
            table_format: None,
            delta_version: None,
            error: None,
            rows_read: None,
            exit_code: None,
            job: None,
            note: None,
            sort_by: Vec::new(),
            row_group_bytes: None,
        }
    }

    /// The last run, as `inspect --json` shows it.
    pub fn last_run(&self) -> serde_json::Value {
        let m = self;
        let mut out = serde_json::json!({
            "run_id": m.run_id,
            "command": m.command,
            "mode": m.mode,
            "started": m.started,
            "finished": m.finished,
            "source": m.source,
            "rows_written": m.rows_written,
            "upserted": m.upserted,
            "status": m.status.as_deref().unwrap_or("ok"),
            "checks": m.checks,
            "tool": m.tool,
        });
        // What only some runs have: a failed run's error, a job-file job.
        for (key, value) in [("error", &m.error), ("job", &m.job)] {
            if let (Some(value), Some(object)) = (value, out.as_object_mut()) {
                object.insert(key.into(), value.clone().into());
            }
        }
        out
    }

    /// The dataset as `inspect` shows it: rows, files, partitions, schema, last run.
    pub fn describe(&self, dataset: &DatasetId, url: &str) -> String {
        let m = self;
        let mut out = format!("dataset {dataset} ({url})\n");
        let partitions = m.partitions();
        out += &format!(
            "{} in {}, {}, {}\n",
            crate::summary::count(m.rows(), "row"),
            crate::summary::count(m.files.len() as u64, "file"),
            crate::summary::human_bytes(m.bytes()),
            match (&m.partition_column, partitions.len()) {
                (Some(column), n) => format!(
                    "partitioned by `{column}` into {n} partitions ({} … {})",
                    partitions.first().map_or("", |p| p.trim_start_matches("date=")),
                    partitions.last().map_or("", |p| p.trim_start_matches("date="))
                ),
                (None, _) => "unpartitioned".to_owned(),
            }
        );
        if !m.primary_key.is_empty() {
            out += &format!("primary key: {} (an upsert replaces rows by it)\n", m.primary_key.join(", "));
        }
        out += "schema (and the --types name that pins each column so):\n";
        let rows: Vec<Vec<String>> = m
            .schema
            .iter()
            .map(|c| {
                let name = crate::transform::types::type_name_of(&c.kind).unwrap_or("-");
                vec![format!("  {}", c.name), c.kind.clone(), name.to_owned()]
            })
            .collect();
        out += crate::summary::table(&["", "", ""], &rows).split_once('\n').map_or("", |(_, rest)| rest);
        let upserted = m.upserted.map(|u| format!(": {}", u.describe())).unwrap_or_default();
        out += &format!(
            "last run: {} ({} {}, {} written{upserted}, {} → {})\nsource: {} {}{}\n",
            m.run_id,
            m.command,
            m.mode,
            crate::summary::count(m.rows_written, "row"),
            m.started,
            m.finished,
            m.source.kind,
            m.source.location,
            m.source.sha256.as_deref().map(|s| format!(" (sha256 {s})")).unwrap_or_default()
        );
        if !m.checks.is_empty() {
            out += &format!("checks: {}\n", crate::summary::checks_verdict(&m.checks));
            for check in &m.checks {
                out += &format!("  {}\n", check.describe());
            }
        }
        out
    }

    /// Rows in the whole dataset (of the files whose rows are known).
    pub fn rows(&self) -> u64 {
        self.files.iter().filter_map(|f| f.rows).sum()
    }

    /// Bytes in the whole dataset.
    pub fn bytes(&self) -> u64 {
        self.files.iter().map(|f| f.bytes).sum()
    }

    /// The partition folders (`date=...`) of the dataset.
    pub fn partitions(&self) -> BTreeSet<String> {
        self.files
            .iter()
            .filter_map(|f| f.key.split('/').find(|seg| seg.starts_with("date=")).map(str::to_owned))
            .collect()
    }
}

/// The schema as recorded.
pub fn schema_record(plans: &[ColumnPlan]) -> Vec<ColumnRecord> {
    plans
        .iter()
        .map(|p| ColumnRecord { name: p.name.clone(), kind: p.parser.column_type().to_string() })
        .collect()
}

/// The parser that gives a column of a recorded type back (timestamps read as ISO 8601), for loads
/// that must keep a dataset's types (appends).
pub fn parser_of_type(kind: &str) -> Option<crate::transform::Parser> {
    use crate::transform::values::{DateFormat, DatetimeFormat, Zone};
    use crate::transform::Parser;
    Some(match kind {
        "String" => Parser::Text,
        "Int64" => Parser::Int,
        "Decimal(38, 0)" => Parser::Decimal,
        "List(Int64)" => Parser::List(crate::transform::ListOf::Int64),
        "List(Float64)" => Parser::List(crate::transform::ListOf::Float64),
        "List(Boolean)" => Parser::List(crate::transform::ListOf::Boolean),
        "List(String)" => Parser::List(crate::transform::ListOf::String),
        other if other.starts_with("Decimal(38, ") => {
            Parser::Fixed(other.strip_prefix("Decimal(38, ")?.strip_suffix(')')?.parse().ok()?)
        }
        "Float64" => Parser::Float,
        "Boolean" => Parser::Bool,
        "Date" => Parser::Date(DateFormat::Iso),
        "Datetime(us, UTC)" => Parser::Datetime(DatetimeFormat::ISO, Zone::AssumeUtc),
        "Datetime(us)" => Parser::Datetime(DatetimeFormat::ISO, Zone::Naive),
        _ => return None,
    })
}

/// Reads the dataset's manifest; `None` if there is none (or it is unreadable, which is logged).
pub async fn read(store: &dyn ObjectStore, dataset: &DatasetId) -> crate::Result<Option<Manifest>> {
    let key = dataset.manifest_key();
    match store.get(&key).await {
        Ok(bytes) => match serde_json::from_slice::<Manifest>(&bytes) {
            Ok(m) => Ok(Some(m)),
            Err(e) => {
                tracing::warn!(
                    "{}: not a manifest this tool can read ({e}); ignoring it",
                    store.url_of(&key)
                );
                Ok(None)
            }
        },
        Err(StoreError::NotFound { .. }) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Every run record of the dataset, newest first (unreadable ones are skipped with a warning).
pub async fn history(store: &dyn ObjectStore, dataset: &DatasetId) -> crate::Result<Vec<Manifest>> {
    let mut out = Vec::new();
    for object in store.list(&dataset.runs_prefix()).await? {
        let bytes = store.get(&object.key).await?;
        match serde_json::from_slice::<Manifest>(&bytes) {
            Ok(m) => out.push(m),
            Err(e) => tracing::warn!("{}: unreadable run record ({e})", store.url_of(&object.key)),
        }
    }
    // Run ids start with the UTC start time: they sort by time.
    out.sort_by(|a, b| b.run_id.cmp(&a.run_id));
    Ok(out)
}

/// How the new schema differs from the previous one.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Drift {
    pub added: Vec<String>,
    pub removed: Vec<String>,
    /// Column, old type, new type.
    pub changed: Vec<(String, String, String)>,
}

impl Drift {
    /// Compares schemas by column name.
    pub fn between(old: &[ColumnRecord], new: &[ColumnRecord]) -> Self {
        let mut drift = Drift::default();
        for n in new {
            match old.iter().find(|o| o.name == n.name) {
                None => drift.added.push(n.name.clone()),
                Some(o) if o.kind != n.kind => {
                    drift.changed.push((n.name.clone(), o.kind.clone(), n.kind.clone()))
                }
                Some(_) => {}
            }
        }
        drift.removed =
            old.iter().filter(|o| !new.iter().any(|n| n.name == o.name)).map(|o| o.name.clone()).collect();
        drift
    }

    /// Whether old partitions would disagree with new ones.
    pub fn is_breaking(&self) -> bool {
        !self.removed.is_empty() || !self.changed.is_empty()
    }

    /// The `--types` value that keeps the old type of each column that became text (`qty=int64`):
    /// one value (`" 42 "`, `n/a`) made it so, and a pin reads the column as before.
    pub fn pins(&self) -> Option<String> {
        let pins: Vec<String> = self
            .changed
            .iter()
            .filter(|(_, _, new)| new == "String")
            .filter_map(|(c, old, _)| Some(format!("{c}={}", crate::transform::types::type_name_of(old)?)))
            .collect();
        (!pins.is_empty()).then(|| pins.join(","))
    }

    /// `removed: a; changed: b Int64 → String`.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if !self.removed.is_empty() {
            parts.push(format!("removed: {}", self.removed.join(", ")));
        }
        if !self.changed.is_empty() {
            let changed: Vec<String> =
                self.changed.iter().map(|(c, o, n)| format!("`{c}` {o} → {n}")).collect();
            parts.push(format!("changed: {}", changed.join(", ")));
        }
        if !self.added.is_empty() {
            parts.push(format!("added: {}", self.added.join(", ")));
        }
        parts.join("; ")
    }
}

/// `2026-11-23T13:04:26Z` for a system time.
pub fn rfc3339(time: std::time::SystemTime) -> String {
    let secs = time.duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_secs();
    let (y, m, d) = crate::transform::calendar::civil_from_days((secs / 86_400) as i32);
    let s = secs % 86_400;
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", s / 3600, s / 60 % 60, s % 60)
}

/// The time an [`rfc3339`] text names (`2026-11-23T13:04:26Z`, fractions of a second ignored).
pub fn parse_rfc3339(text: &str) -> Option<std::time::SystemTime> {
    let num = |range: std::ops::Range<usize>| text.get(range)?.parse::<u64>().ok();
    if text.as_bytes().get(10) != Some(&b'T') {
        return None;
    }
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, s) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let days = crate::transform::calendar::days_from_civil(y as i32, m as u32, d as u32);
    let secs = u64::try_from(days).ok()? * 86_400 + h * 3600 + mi * 60 + s;
    Some(std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn col(name: &str, kind: &str) -> ColumnRecord {
        ColumnRecord { name: name.into(), kind: kind.into() }
    }

    #[test]
    fn drift_names_columns_and_types() {
        let old = [col("a", "Int64"), col("b", "String"), col("c", "Date")];
        let new = [col("a", "String"), col("c", "Date"), col("d", "Boolean")];
        let drift = Drift::between(&old, &new);
        assert!(drift.is_breaking());
        assert_eq!(drift.describe(), "removed: b; changed: `a` Int64 → String; added: d");
        assert_eq!(drift.pins().as_deref(), Some("a=int64"));
        let additive = Drift::between(
            &old,
            &[col("a", "Int64"), col("b", "String"), col("c", "Date"), col("x", "Int64")],
        );
        assert!(!additive.is_breaking());
    }

    #[test]
    fn times_are_rfc3339_utc() {
        let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_795_957_466);
        assert_eq!(rfc3339(t), "2026-11-29T13:04:26Z");
        assert_eq!(parse_rfc3339("2026-11-29T13:04:26Z"), Some(t));
        assert_eq!(parse_rfc3339("yesterday"), None);
    }
}
