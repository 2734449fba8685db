//! Job files (`etl run jobs.yaml`): any number of loads of any source in one YAML file, so that one
//! crontab line runs a team's whole load.
//!
//! ```yaml
//! schedule: "0 6 * * *"            # optional: when a scheduler runs the jobs (`etl schedule export`)
//! timezone: Europe/Berlin          # optional: the schedules' time zone (UTC)
//! jobs:
//!   - name: orders                 # unique; `--job orders` runs it
//!     dataset_id: orders           # datasets/<id>/
//!     schedule: "*/30 * * * *"     # optional: its own schedule
//!     slices: [..2025-12-31, 2026-01-01..]  # optional: one scheduler unit per range of days
//!     partition_column: created_at # optional
//!     mode: merge                  # optional: merge, replace, append, upsert
//!     primary_key: [id]            # optional: rows are upserted by it (as --primary-key)
//!     checks:                      # optional: judged before publishing (as --check; docs/checks.md)
//!       - not_null: [id]
//!       - row_count_change: {max_drop: 50%}
//!         severity: warn
//!     sensitive: [email]           # optional: never shown in check examples
//!     sort_by: [user]              # optional: each file's rows sorted by them (as --sort-by)
//!     enabled: true                # optional; false keeps it out of --all
//!     types: {total: float64}      # optional, as --types
//!     date_formats: {day: "%d/%m/%Y"}
//!     source:
//!       kind: api                  # csv, s3, api, postgres or domo
//!       url: https://api.example.com/v1/orders
//!       records: data.items        # every other key is the command's long option
//! ```
//!
//! A source's keys are the long options of its command (`upload-csv`, `load-s3`, `load-api`,
//! `load-postgres`, `load-domo`), with `_` or `-`: `true` gives the flag, a list repeats it, a map
//! gives `key=value` items. A `csv` source names its file with `path`, or with `source_dir` and
//! `file_pattern` (the last matching file by name, found when the job runs). A `domo` source names the
//! Domo dataset with `domo_dataset_id` (and may filter rows with `exclude_filter`).
//!
//! Each job becomes its command's own arguments ([`crate::cli::args`]) directly from the YAML: the
//! keys are checked against the command's options (clap's definition says which exist and which
//! take a list), the values read as the options' types, and the whole checked by
//! [`crate::settings::check`], before any job runs. Nothing is turned back into a command line.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use clap::{ArgAction, Args};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_yaml::{Mapping, Value};

use crate::catalog::{DomoEntry, Entry, RawDomoEntry, RawEntry};
use crate::cli::args::{DomoArgs, LoadApiArgs, LoadPostgresArgs, LoadS3Args, UploadCsvArgs, WriteArgs};
use crate::error::{Error, Result};
use crate::load::layout::{DatasetId, PartitionRange};
use crate::schedule::cron::{self, Cron};
use crate::settings::check;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JobFile {
    /// Each read on its own ([`RawJob`]), so that a mistake names its job, not `jobs[1]`.
    jobs: Vec<Value>,
    /// Every job's cron expression, unless it has its own (`etl schedule export`).
    #[serde(default)]
    schedule: Option<String>,
    /// The time zone the schedules are read in; UTC by default.
    #[serde(default)]
    timezone: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawJob {
    name: String,
    #[serde(default)]
    description: Option<String>,
    /// `minio_dataset_id` as catalogs name it is the same key.
    #[serde(alias = "minio_dataset_id")]
    dataset_id: String,
    #[serde(default)]
    partition_column: Option<String>,
    #[serde(default)]
    mode: Option<String>,
    /// `id`, `"order_id,line"` or a list: as --primary-key.
    #[serde(default)]
    primary_key: Option<Value>,
    #[serde(default)]
    dedup_by: Option<String>,
    /// `User`, `"User,Date"` or a list: as --sort-by.
    #[serde(default)]
    sort_by: Option<Value>,
    /// Data-quality checks: a list of items (or one), as `--check` takes each.
    #[serde(default)]
    checks: Option<Value>,
    /// Columns whose values check examples never show.
    #[serde(default)]
    sensitive: Option<Value>,
    #[serde(default = "enabled_by_default")]
    enabled: bool,
    /// When a scheduler runs it (a cron expression): `etl schedule export`.
    #[serde(default)]
    schedule: Option<String>,
    /// Ranges of days (`FROM..TO`) a scheduler runs as units of their own, each with
    /// `--partition-range`.
    #[serde(default)]
    slices: Vec<String>,
    #[serde(default)]
    types: BTreeMap<String, String>,
    #[serde(default)]
    date_formats: BTreeMap<String, String>,
    source: BTreeMap<String, Value>,
}

fn enabled_by_default() -> bool {
    true
}

/// A checked job.
#[derive(Debug)]
pub struct Job {
    pub name: String,
    pub description: Option<String>,
    pub dataset: DatasetId,
    /// `csv`, `s3`, `api`, `postgres` or `domo`.
    pub kind: String,
    pub enabled: bool,
    /// Its own schedule, if it has one (else the file's).
    pub schedule: Option<Cron>,
    /// The ranges of days a scheduler runs as units of their own.
    pub slices: Vec<PartitionRange>,
    /// What it loads, as its command's arguments.
    pub load: JobLoad,
}

/// A job file: its jobs, and when a scheduler runs them.
#[derive(Debug)]
pub struct JobsFile {
    pub jobs: Vec<Job>,
    /// The schedule of the jobs that have none of their own.
    pub schedule: Option<Cron>,
    /// The time zone of the schedules (an IANA name; `UTC` when the file gives none).
    pub timezone: String,
}

/// A job's load: the arguments of the command its source's `kind` runs.
#[derive(Debug)]
pub enum JobLoad {
    /// `upload-csv`; with `latest_in`, the file is the last one by name in that folder matching that
    /// pattern, found when the job runs.
    Csv {
        args: UploadCsvArgs,
        latest_in: Option<(PathBuf, glob::Pattern)>,
    },
    S3(LoadS3Args),
    Api(Box<LoadApiArgs>),
    Postgres(LoadPostgresArgs),
    /// `load-domo` of one dataset, the job's own catalog entry.
    Domo {
        entry: DomoEntry,
        domo: DomoArgs,
        write: WriteArgs,
        dry_run: bool,
    },
}

impl Job {
    /// A `csv` job's file: its `path`, or the latest match of its pattern.
    pub fn csv_file(
        &self,
        args: &UploadCsvArgs,
        latest_in: &Option<(PathBuf, glob::Pattern)>,
    ) -> Result<PathBuf> {
        let Some((dir, pattern)) = latest_in else { return Ok(args.csv_file.clone()) };
        crate::extract::csv::last_file_matching(dir, |name| pattern.matches(name))
            .map_err(|e| Error::io(dir, e))?
            .ok_or_else(|| {
                Error::Usage(format!(
                    "job \"{}\": no file in {} matches `{}`",
                    self.name,
                    dir.display(),
                    pattern.as_str()
                ))
            })
    }
}

impl Entry for Job {
    fn waits_on_a_server(&self) -> bool {
        matches!(self.kind.as_str(), "api" | "postgres" | "domo")
    }

    const NOUN: &'static str = "job";

    fn name(&self) -> &str {
        &self.name
    }

    fn dataset(&self) -> &DatasetId {
        &self.dataset
    }

    fn enabled(&self) -> bool {
        self.enabled
    }

    fn list_header() -> &'static [&'static str] {
        &["NAME", "KIND", "DATASET ID", "ENABLED", "DESCRIPTION"]
    }

    fn list_row(&self) -> Vec<String> {
        vec![
            self.name.clone(),
            self.kind.clone(),
            self.dataset.to_string(),
            if self.enabled { "yes" } else { "no" }.into(),
            self.description.clone().unwrap_or_default(),
        ]
    }
}

/// Reads and checks the job file at `path`. Every error names the file and the job.
pub fn load(path: &Path) -> Result<Vec<Job>> {
    read(path).map(|file| file.jobs)
}

/// Reads and checks the job file at `path`, with its schedules.
pub fn read(path: &Path) -> Result<JobsFile> {
    let config_error = |message: String| Error::Config { path: path.to_owned(), message };
    let text = std::fs::read_to_string(path).map_err(|e| {
        config_error(match e.kind() {
            std::io::ErrorKind::NotFound => "no such file".into(),
            _ => format!("cannot be read: {e}"),
        })
    })?;
    let file: JobFile = serde_yaml::from_str(&text).map_err(|e| config_error(e.to_string()))?;
    let mut jobs: Vec<Job> = Vec::new();
    for (i, value) in file.jobs.into_iter().enumerate() {
        let name = match value.get("name").and_then(Value::as_str) {
            Some(name) => format!("job \"{name}\""),
            None => format!("job {} of the file", i + 1),
        };
        let raw: RawJob = serde_yaml::from_value(value).map_err(|e| {
            let hint = if e.to_string().contains("unknown field") {
                "; a command's options (decimal_comma, skip_rows, url, ...) go under the job's `source:`"
            } else {
                ""
            };
            config_error(format!("{name}: {e}{hint}"))
        })?;
        let name = raw.name.clone();
        let job = job_of(raw).map_err(|e| config_error(format!("job \"{name}\": {e}")))?;
        if jobs.iter().any(|j| j.name == job.name) {
            return Err(config_error(format!("two jobs are named \"{name}\"")));
        }
        jobs.push(job);
    }
    let schedule = file
        .schedule
        .map(|s| Cron::parse(&s))
        .transpose()
        .map_err(|e| config_error(format!("schedule: {e}")))?;
    let timezone = match file.timezone {
        Some(tz) => cron::timezone(&tz).map_err(|e| config_error(format!("timezone: {e}")))?,
        None => "UTC".to_owned(),
    };
    Ok(JobsFile { jobs, schedule, timezone })
}

/// Options that belong to the whole run, not to one job.
const RUN_WIDE: [&str; 4] = ["target", "log-format", "verbose", "print-config"];

fn job_of(raw: RawJob) -> std::result::Result<Job, String> {
    if raw.name.trim().is_empty() {
        return Err("`name` is empty".into());
    }
    let dataset = DatasetId::parse(&raw.dataset_id).map_err(|e| format!("dataset_id: {e}"))?;
    let schedule =
        raw.schedule.as_deref().map(Cron::parse).transpose().map_err(|e| format!("schedule: {e}"))?;
    let slices = raw
        .slices
        .iter()
        .map(|s| s.parse::<PartitionRange>().map_err(|e| format!("slices: `{s}`: {e}")))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    if !slices.is_empty() {
        if raw.partition_column.is_none() {
            return Err("slices: a job split into ranges of days needs its `partition_column`".into());
        }
        if raw.source.keys().any(|k| k.replace('-', "_") == "partition_range") {
            return Err("slices: the job gives `partition_range` too; give one or the other".into());
        }
    }
    let mut source = raw.source.clone();
    let kind = match source.remove("kind") {
        Some(Value::String(kind)) => kind,
        _ => return Err("source: `kind` is missing (csv, s3, api, postgres or domo)".into()),
    };
    let load = match kind.as_str() {
        "csv" => {
            let (path, latest_in) =
                match (source.remove("path"), source.remove("source_dir"), source.remove("file_pattern")) {
                    (Some(path), None, None) => (scalar(&path).ok_or("source: `path` is not a path")?, None),
                    (None, Some(dir), Some(pattern)) => {
                        let dir = scalar(&dir).ok_or("source: `source_dir` is not a folder")?;
                        let pattern = scalar(&pattern).ok_or("source: `file_pattern` is not a pattern")?;
                        let pattern =
                            glob::Pattern::new(&pattern).map_err(|e| format!("source: file_pattern: {e}"))?;
                        // The file is found when the job runs.
                        (String::new(), Some((PathBuf::from(dir), pattern)))
                    }
                    _ => {
                        return Err(
                            "source: a csv source needs `path`, or `source_dir` and `file_pattern`".into()
                        )
                    }
                };
            let mut options = Options::of::<UploadCsvArgs>("upload-csv", source)?;
            options.job_fields(&raw, true)?;
            options.set("csv_file", Value::String(path));
            options.required()?;
            let args: UploadCsvArgs = options.read()?;
            check::write(&args.write).and_then(|()| check::read(&args.read)).map_err(|e| e.to_string())?;
            JobLoad::Csv { args, latest_in }
        }
        "s3" => {
            let mut options = Options::of::<LoadS3Args>("load-s3", source)?;
            options.job_fields(&raw, true)?;
            options.required()?;
            let args: LoadS3Args = options.read()?;
            check::s3(&args).map_err(|e| e.to_string())?;
            JobLoad::S3(args)
        }
        "api" => {
            let mut options = Options::of::<LoadApiArgs>("load-api", source)?;
            options.job_fields(&raw, true)?;
            options.required()?;
            let args: LoadApiArgs = options.read()?;
            check::api(&args).map_err(|e| e.to_string())?;
            JobLoad::Api(Box::new(args))
        }
        "postgres" => {
            let mut options = Options::of::<LoadPostgresArgs>("load-postgres", source)?;
            options.job_fields(&raw, true)?;
            options.required()?;
            let args: LoadPostgresArgs = options.read()?;
            check::postgres(&args).map_err(|e| e.to_string())?;
            JobLoad::Postgres(args)
        }
        "domo" => domo_job(&raw, source)?,
        other => return Err(format!("source: kind `{other}` is not csv, s3, api, postgres or domo")),
    };
    Ok(Job {
        name: raw.name,
        description: raw.description,
        dataset,
        kind,
        enabled: raw.enabled,
        schedule,
        slices,
        load,
    })
}

/// A `domo` job: its own catalog entry (checked as the catalog's are), and `load-domo`'s options.
fn domo_job(raw: &RawJob, mut source: BTreeMap<String, Value>) -> std::result::Result<JobLoad, String> {
    let id = source
        .remove("domo_dataset_id")
        .and_then(|v| scalar(&v))
        .ok_or("source: `domo_dataset_id` is missing")?;
    let mut entry = Mapping::new();
    let mut put = |k: &str, v: Value| {
        entry.insert(Value::String(k.into()), v);
    };
    put("name", Value::String(raw.name.clone()));
    put("domo_dataset_id", Value::String(id));
    put("minio_dataset_id", Value::String(raw.dataset_id.clone()));
    if let Some(col) = &raw.partition_column {
        put("partition_column", Value::String(col.clone()));
    }
    if !raw.types.is_empty() {
        put("types", serde_yaml::to_value(&raw.types).map_err(|e| e.to_string())?);
    }
    if !raw.date_formats.is_empty() {
        return Err("date_formats: a domo job takes its dates' types from Domo's schema".into());
    }
    if let Some(filter) = source.remove("exclude_filter") {
        put("exclude_filter", filter);
    }
    if let Some(checks) = &raw.checks {
        put("checks", checks.clone());
    }
    if let Some(columns) = &raw.sensitive {
        put("sensitive", columns.clone());
    }
    if let Some(columns) = &raw.sort_by {
        put("sort_by", columns.clone());
    }
    let entry: RawDomoEntry =
        serde_yaml::from_value(Value::Mapping(entry)).map_err(|e| format!("source: {e}"))?;
    let entry = entry.check().map_err(|(field, e)| format!("{field}: {e}"))?;
    let command = WriteArgs::augment_args(DomoArgs::augment_args(clap::Command::new("load-domo")))
        .arg(clap::Arg::new("dry_run").long("dry-run").action(ArgAction::SetTrue));
    let mut options = Options::new("load-domo", command, source)?;
    if let Some(mode) = &raw.mode {
        if options.values.contains_key("mode") {
            return Err("source: `mode` is the job's `mode`: give it once, on the job".into());
        }
        options.set("mode", Value::String(mode.clone()));
    }
    check::domo_environment().map_err(|e| e.to_string())?;
    let dry_run = options.values.get("dry_run").is_some_and(|v| v == &Value::Bool(true));
    let (domo, write): (DomoArgs, WriteArgs) = (options.read()?, options.read()?);
    check::write(&write).map_err(|e| e.to_string())?;
    Ok(JobLoad::Domo { entry, domo, write, dry_run })
}

/// A source's keys, checked against a command's options and normalised to what serde reads into its
/// arguments: keyed by the option's field, a flag as a boolean, a repeatable option as a list of
/// texts, any other as one text (as it would be on a command line).
struct Options {
    command: clap::Command,
    values: Mapping,
}

impl Options {
    fn of<T: Args>(name: &'static str, source: BTreeMap<String, Value>) -> std::result::Result<Self, String> {
        Options::new(name, T::augment_args(clap::Command::new(name)), source)
    }

    fn new(
        name: &str,
        command: clap::Command,
        source: BTreeMap<String, Value>,
    ) -> std::result::Result<Self, String> {
        let mut options = Options { command, values: Mapping::new() };
        for (key, value) in source {
            let flag = key.replace('_', "-");
            if RUN_WIDE.contains(&flag.as_str()) {
                return Err(format!(
                    "source: `{key}` is an option of the whole run (etl --{flag} ... run), not of one job"
                ));
            }
            let arg = options
                .command
                .get_arguments()
                .find(|a| a.get_long() == Some(flag.as_str()))
                .ok_or_else(|| format!("source: `{key}` is not an option of {name} (it has no --{flag})"))?
                .clone();
            let texts = |value: Value| -> std::result::Result<Vec<Value>, String> {
                let text =
                    |v: &Value| scalar(v).map(Value::String).ok_or(format!("source: {key}: not a value"));
                match value {
                    // As on a command line: `false` and nothing leave the option out.
                    Value::Null | Value::Bool(false) => Ok(Vec::new()),
                    Value::Bool(true) => Err(format!("source: {key}: --{flag} needs a value, not `true`")),
                    Value::Sequence(items) => items.iter().map(text).collect(),
                    Value::Mapping(map) => map
                        .iter()
                        .map(|(k, v)| {
                            scalar(k)
                                .zip(scalar(v))
                                .map(|(k, v)| Value::String(format!("{k}={v}")))
                                .ok_or_else(|| format!("source: {key}: not key: value"))
                        })
                        .collect(),
                    other => Ok(vec![text(&other)?]),
                }
            };
            let field = Value::String(arg.get_id().to_string());
            let twice =
                || format!("source: `{key}`: --{flag} is given twice (`_` and `-` name the same option)");
            let value = match arg.get_action() {
                ArgAction::SetTrue => match value {
                    Value::Bool(b) => Value::Bool(b),
                    Value::Null => continue,
                    _ => return Err(format!("source: {key}: a flag, `true` or `false`")),
                },
                ArgAction::Append => {
                    let mut items = match options.values.remove(&field) {
                        Some(Value::Sequence(items)) => items,
                        _ => Vec::new(),
                    };
                    items.extend(texts(value)?);
                    Value::Sequence(items)
                }
                _ => match texts(value)?.as_slice() {
                    [] => continue,
                    [one] => one.clone(),
                    _ => return Err(format!("source: {key}: --{flag} takes one value")),
                },
            };
            if !matches!(arg.get_action(), ArgAction::Append) && options.values.contains_key(&field) {
                return Err(twice());
            }
            options.values.insert(field, value);
        }
        Ok(options)
    }

    /// Refuses a job that leaves out an option its command requires.
    fn required(&self) -> std::result::Result<(), String> {
        for arg in self.command.get_arguments().filter(|a| a.is_required_set()) {
            if !self.values.contains_key(arg.get_id().as_str()) {
                let flag = arg.get_long().unwrap_or(arg.get_id().as_str());
                return Err(format!(
                    "source: `{}` is missing (--{flag} is required)",
                    flag.replace('-', "_")
                ));
            }
        }
        Ok(())
    }

    /// Sets a field the job gives outside its source.
    fn set(&mut self, field: &str, value: Value) {
        self.values.insert(Value::String(field.into()), value);
    }

    /// The job's own fields: its dataset, partition column, mode, types and date formats; a source
    /// may not give the ones the job gives.
    fn job_fields(&mut self, raw: &RawJob, date_formats: bool) -> std::result::Result<(), String> {
        let mut given = |field: &str, option: &str, value: Value| {
            if self.values.contains_key(field) {
                return Err(format!("source: `{field}` is the job's `{option}`: give it once, on the job"));
            }
            self.set(field, value);
            Ok(())
        };
        given("dataset_id", "dataset_id", Value::String(raw.dataset_id.clone()))?;
        if let Some(column) = &raw.partition_column {
            given("partition_col", "partition_column", Value::String(column.clone()))?;
        }
        if let Some(mode) = &raw.mode {
            given("mode", "mode", Value::String(mode.clone()))?;
        }
        if let Some(key) = &raw.primary_key {
            let columns = match key {
                Value::Sequence(items) => items.clone(),
                Value::String(_) => vec![key.clone()],
                _ => return Err("primary_key: a column name, `a,b`, or a list of names".into()),
            };
            given("primary_key", "primary_key", Value::Sequence(columns))?;
        }
        if let Some(column) = &raw.dedup_by {
            given("dedup_by", "dedup_by", Value::String(column.clone()))?;
        }
        if let Some(columns) = &raw.sort_by {
            let columns = match columns {
                Value::Sequence(items) => items.clone(),
                Value::String(_) => vec![columns.clone()],
                _ => return Err("sort_by: a column name, `a,b`, or a list of names".into()),
            };
            given("sort_by", "sort_by", Value::Sequence(columns))?;
        }
        if let Some(columns) = &raw.sensitive {
            let columns = crate::checks::sensitive_columns(columns).map_err(|e| format!("sensitive: {e}"))?;
            given(
                "sensitive",
                "sensitive",
                Value::Sequence(columns.into_iter().map(Value::String).collect()),
            )?;
        }
        if !raw.types.is_empty() {
            self.extend("types", pairs(&raw.types));
        }
        if !raw.date_formats.is_empty() {
            if !date_formats || !self.command.get_arguments().any(|a| a.get_id() == "date_format") {
                return Err(format!("date_formats: {} has no --date-format", self.command.get_name()));
            }
            self.extend("date_format", pairs(&raw.date_formats));
        }
        if let Some(checks) = raw.checks.as_ref().filter(|c| !c.is_null()) {
            crate::checks::parse(checks).map_err(|e| format!("checks: {e}"))?;
            let items = match checks {
                Value::Sequence(items) => items.clone(),
                other => vec![other.clone()],
            };
            // Each item as the text `--check` would take (after the source's own `check:`, if any).
            let texts: Vec<Value> = items
                .iter()
                .map(|i| serde_yaml::to_string(i).map(Value::String).map_err(|e| format!("checks: {e}")))
                .collect::<std::result::Result<_, _>>()?;
            self.extend("check", texts.into_iter());
        }
        Ok(())
    }

    /// Puts the job's `items` before the source's own (a pin given later wins, as on a command line
    /// where the job's `--types` came first).
    fn extend(&mut self, field: &str, items: impl Iterator<Item = Value>) {
        let key = Value::String(field.into());
        let mut list: Vec<Value> = items.collect();
        if let Some(Value::Sequence(own)) = self.values.remove(&key) {
            list.extend(own);
        }
        self.values.insert(key, Value::Sequence(list));
    }

    /// The arguments of type `T`; a value that is not of its option's type is named by its key.
    fn read<T: DeserializeOwned>(&self) -> std::result::Result<T, String> {
        serde_yaml::from_value(Value::Mapping(self.values.clone())).map_err(|e| {
            // Which key: the first that alone fails the same way.
            let key = self.values.iter().find_map(|(k, v)| {
                let mut one = Mapping::new();
                one.insert(k.clone(), v.clone());
                serde_yaml::from_value::<T>(Value::Mapping(one))
                    .err()
                    .map(|_| k.as_str().unwrap_or_default().to_owned())
            });
            match key {
                Some(key) => format!("source: `{key}`: {e}"),
                None => format!("source: {e}"),
            }
        })
    }
}

/// `COL=VALUE` items of a job's `types:` or `date_formats:` map.
fn pairs(map: &BTreeMap<String, String>) -> impl Iterator<Item = Value> + '_ {
    map.iter().map(|(c, v)| Value::String(format!("{c}={v}")))
}

/// A YAML scalar as text.
fn scalar(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jobs(text: &str) -> Result<Vec<Job>> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("jobs.yaml");
        std::fs::write(&path, text).unwrap();
        load(&path)
    }

    #[test]
    fn sources_become_their_commands_arguments() {
        let jobs = jobs(
            r#"
jobs:
  - name: orders
    dataset_id: orders
    partition_column: created
    types: {total: float64}
    source:
      kind: api
      url: http://x/orders
      max_pages: 5
      header: ["A: 1", "B: 2"]
      query: {limit: 10}
      dry_run: false
  - name: drops
    dataset_id: drops
    enabled: false
    source: {kind: s3, source: "s3://b/d/*.csv"}
"#,
        )
        .unwrap();
        let JobLoad::Api(api) = &jobs[0].load else { panic!("{:?}", jobs[0].load) };
        assert_eq!(api.dataset.dataset_id, "orders");
        assert_eq!(api.dataset.partition_col.as_deref(), Some("created"));
        assert_eq!(api.types, ["total=float64"]);
        assert_eq!(api.headers, ["A: 1", "B: 2"]);
        assert_eq!(api.max_pages, 5);
        assert_eq!(api.query, ["limit=10"]);
        assert_eq!(api.url, "http://x/orders");
        assert!(!api.dataset.dry_run);
        assert_eq!((api.method.as_str(), api.retries), ("GET", 5), "the command's defaults");
        let JobLoad::S3(s3) = &jobs[1].load else { panic!("{:?}", jobs[1].load) };
        assert_eq!(s3.dataset.dataset_id, "drops");
        assert_eq!(s3.source.as_ref().map(ToString::to_string).as_deref(), Some("s3://b/d/*.csv"));
        assert!(!jobs[1].enabled);
    }

    #[test]
    fn values_read_as_a_command_line_would_take_them() {
        let jobs = jobs(
            r#"
jobs:
  - name: a
    dataset_id: a
    types: {n: int64}
    source:
      kind: api
      url: [http://x]
      header: false
      types: {n: string}
      date-format: [d=dmy]
      date_format: [e=mdy]
"#,
        )
        .unwrap();
        let JobLoad::Api(api) = &jobs[0].load else { panic!("{:?}", jobs[0].load) };
        assert_eq!(api.url, "http://x", "one item is the value");
        assert!(api.headers.is_empty(), "false leaves an option out");
        assert_eq!(api.types, ["n=int64", "n=string"], "the job's first, so the source's wins");
        assert_eq!(api.date_format, ["d=dmy", "e=mdy"], "both spellings, joined");
    }

    #[test]
    fn schedules_and_slices_are_checked() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("jobs.yaml");
        let read = |text: &str| {
            std::fs::write(&path, text).unwrap();
            read(&path)
        };
        let file = read(
            "schedule: \"@daily\"\ntimezone: Europe/Berlin\njobs:\n  - name: a\n    dataset_id: a\n    \
             partition_column: day\n    schedule: \"*/15 * * * MON-FRI\"\n    slices: [..2025-12-31, 2026-01-01..]\n    \
             source: {kind: s3, source: \"s3://b/*\"}\n",
        )
        .unwrap();
        assert_eq!(file.schedule.unwrap().as_str(), "0 0 * * *");
        assert_eq!(file.timezone, "Europe/Berlin");
        let job = &file.jobs[0];
        assert_eq!(job.schedule.as_ref().unwrap().as_str(), "*/15 * * * 1-5");
        let slices: Vec<String> = job.slices.iter().map(ToString::to_string).collect();
        assert_eq!(slices, ["..2025-12-31", "2026-01-01.."]);
        assert_eq!(read("jobs: []\n").unwrap().timezone, "UTC", "UTC unless given");
        let err = |text: &str| read(text).unwrap_err().to_string();
        let job = "jobs:\n  - name: a\n    dataset_id: a\n    source: {kind: s3, source: \"s3://b/*\"}\n";
        assert!(err(&format!("schedule: \"0 6 * *\"\n{job}")).contains("schedule: `0 6 * *` has 4 fields"));
        assert!(
            err(&format!("timezone: Mars/Base\n{job}")).contains("timezone: `Mars/Base` is not a time zone")
        );
        assert!(err(&job.replace("    source", "    schedule: \"0 6 * * 8\"\n    source"))
            .contains("job \"a\": schedule: `0 6 * * 8`: the day of week field `8` has 8, outside 0-7"));
        assert!(err(&job.replace("    source", "    slices: [2026-01-01..]\n    source"))
            .contains("job \"a\": slices: a job split into ranges of days needs its `partition_column`"));
        assert!(err(&job.replace("    source", "    partition_column: d\n    slices: [soon]\n    source"))
            .contains("job \"a\": slices: `soon`"));
    }

    #[test]
    fn mistakes_name_the_job() {
        let err = |text: &str| jobs(text).unwrap_err().to_string();
        assert!(err("jobs:\n  - name: a\n    dataset_id: a\n    source: {url: x}\n")
            .contains("job \"a\": source: `kind` is missing"));
        assert!(err("jobs:\n  - name: a\n    dataset_id: a/b\n    source: {kind: s3}\n")
            .contains("job \"a\": dataset_id"));
        assert!(
            err("jobs:\n  - name: a\n    dataset_id: a\n    source: {kind: ftp}\n").contains("kind `ftp`")
        );
        assert!(
            err("jobs:\n  - name: a\n    dataset_id: a\n    source: {kind: csv}\n").contains("needs `path`")
        );
        assert!(err("jobs:\n  - name: a\n    dataset_id: a\n    source: {kind: s3, source: \"s3://b/*\"}\n  - name: a\n    dataset_id: b\n    source: {kind: s3, source: \"s3://b/*\"}\n")
            .contains("two jobs are named \"a\""));
        assert!(err("jobs:\n  - name: a\n    dataset: a\n    source: {kind: s3}\n").contains("unknown field"));
        assert!(err("jobs:\n  - name: a\n    dataset_id: a\n    source: {kind: s3, target: s3://x}\n")
            .contains("of the whole run"));
        // What clap would refuse on a command line is refused here, naming the key.
        assert!(err("jobs:\n  - name: a\n    dataset_id: a\n    source: {kind: api, url: http://x, pagination: page}\n")
            .contains("--pagination"));
        assert!(err("jobs:\n  - name: a\n    dataset_id: a\n    source: {kind: api, url: http://x, max_pages: lots}\n")
            .contains("`max_pages`"));
        assert!(err("jobs:\n  - name: a\n    dataset_id: a\n    source: {kind: api, url: http://x, paginate: pages}\n")
            .contains("--paginate"));
        assert!(err("jobs:\n  - name: a\n    dataset_id: a\n    source: {kind: postgres}\n")
            .contains("--query or --table"));
        assert!(err("jobs:\n  - name: a\n    dataset_id: a\n    source: {kind: api}\n")
            .contains("--url is required"));
        assert!(err(
            "jobs:\n  - name: a\n    dataset_id: a\n    source: {kind: api, url: http://x, records: true}\n"
        )
        .contains("needs a value"));
        assert!(err("jobs:\n  - name: a\n    dataset_id: a\n    source: {kind: api, url: http://x, max_pages: 2, max-pages: 3}\n")
            .contains("given twice"));
        assert!(err(
            "jobs:\n  - name: a\n    dataset_id: a\n    source: {kind: api, url: [http://x, http://y]}\n"
        )
        .contains("takes one value"));
    }
}
