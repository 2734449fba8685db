//! Job files (`etl run jobs.yaml`): any number of loads of any source in one YAML file, so that one
//! crontab line runs a team's whole load.
//!
//! ```yaml
//! jobs:
//!   - name: orders                 # unique; `--job orders` runs it
//!     dataset_id: orders           # datasets/<id>/
//!     partition_column: created_at # optional
//!     mode: merge                  # optional: merge, replace, append
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
//! `load-postgres`), with `_`
//! or `-`: `true` gives the flag, a list repeats it, a map gives `key=value` items. A `csv` source
//! names its file with `path`, or with `source_dir` and `file_pattern` (the last matching file by
//! name, found when the job runs). A `domo` source names the Domo dataset with `domo_dataset_id`.
//! Every job is checked (with the command's own parser) before any runs.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_yaml::Value;

use crate::catalog::Entry;
use crate::error::{Error, Result};
use crate::load::layout::DatasetId;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JobFile {
    jobs: Vec<RawJob>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawJob {
    name: String,
    #[serde(default)]
    description: Option<String>,
    dataset_id: String,
    #[serde(default)]
    partition_column: Option<String>,
    #[serde(default)]
    mode: Option<String>,
    #[serde(default = "enabled_by_default")]
    enabled: bool,
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
    pub kind: String,
    pub enabled: bool,
    /// The command line it runs (without `etl`), but for a `csv` source's file.
    pub argv: Vec<String>,
    /// A `csv` source's folder and pattern: the file is the last match when the job runs.
    pub latest_in: Option<(PathBuf, glob::Pattern)>,
    /// A `domo` job's one-entry catalog, written when the file is read.
    _catalog: Option<tempfile::TempDir>,
}

impl Job {
    /// The full command line (`upload-csv <file> ...`), finding a `csv` source's latest file.
    pub fn command_line(&self) -> Result<Vec<String>> {
        let mut argv = self.argv.clone();
        if let Some((dir, pattern)) = &self.latest_in {
            let file = crate::extract::csv::last_file_matching(dir, |name| pattern.matches(name))
                .map_err(|e| Error::io(dir, e))?
                .ok_or_else(|| {
                    Error::Usage(format!(
                        "job \"{}\": no file in {} matches `{}`",
                        self.name,
                        dir.display(),
                        pattern.as_str()
                    ))
                })?;
            argv.insert(1, file.to_string_lossy().into_owned());
        }
        Ok(argv)
    }
}

impl Entry for Job {
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
        &["name", "kind", "dataset", "enabled", "description"]
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

/// Reads the job file at `path`; `check` parses each job's command line (the CLI's own parser) and
/// says what is wrong with it. Every error names the file and the job.
pub fn load(path: &Path, check: impl Fn(&[String]) -> std::result::Result<(), String>) -> Result<Vec<Job>> {
    let config_error = |message: String| Error::Config { path: path.to_owned(), message };
    let text = std::fs::read_to_string(path).map_err(|e| {
        config_error(match e.kind() {
            std::io::ErrorKind::NotFound => "no such file".into(),
            _ => format!("cannot be read: {e}"),
        })
    })?;
    let file: JobFile = serde_yaml::from_str(&text).map_err(|e| config_error(e.to_string()))?;
    let mut jobs: Vec<Job> = Vec::new();
    for raw in file.jobs {
        let name = raw.name.clone();
        let job = job_of(raw).map_err(|e| config_error(format!("job \"{name}\": {e}")))?;
        if jobs.iter().any(|j| j.name == job.name) {
            return Err(config_error(format!("two jobs are named \"{name}\"")));
        }
        if job.latest_in.is_none() {
            check(&job.argv).map_err(|e| config_error(format!("job \"{name}\": {e}")))?;
        } else {
            // The file is found when the job runs; check the rest with a stand-in.
            let mut argv = job.argv.clone();
            argv.insert(1, "file.csv".into());
            check(&argv).map_err(|e| config_error(format!("job \"{name}\": {e}")))?;
        }
        jobs.push(job);
    }
    Ok(jobs)
}

fn job_of(raw: RawJob) -> std::result::Result<Job, String> {
    if raw.name.trim().is_empty() {
        return Err("`name` is empty".into());
    }
    let dataset = DatasetId::parse(&raw.dataset_id).map_err(|e| format!("dataset_id: {e}"))?;
    let mut source = raw.source;
    let kind = match source.remove("kind") {
        Some(Value::String(kind)) => kind,
        _ => return Err("source: `kind` is missing (csv, s3, api, postgres or domo)".into()),
    };
    let mut argv: Vec<String> = Vec::new();
    let mut latest_in = None;
    let mut catalog = None;
    let common = |argv: &mut Vec<String>| {
        argv.extend(["--dataset-id".into(), raw.dataset_id.clone()]);
        if let Some(col) = &raw.partition_column {
            argv.extend(["--partition-col".into(), col.clone()]);
        }
        if let Some(mode) = &raw.mode {
            argv.extend(["--mode".into(), mode.clone()]);
        }
        for (column, ty) in &raw.types {
            argv.extend(["--types".into(), format!("{column}={ty}")]);
        }
        for (column, format) in &raw.date_formats {
            argv.extend(["--date-format".into(), format!("{column}={format}")]);
        }
    };
    match kind.as_str() {
        "csv" => {
            argv.push("upload-csv".into());
            match (source.remove("path"), source.remove("source_dir"), source.remove("file_pattern")) {
                (Some(path), None, None) => argv.push(scalar(&path).ok_or("source: `path` is not a path")?),
                (None, Some(dir), Some(pattern)) => {
                    let dir = scalar(&dir).ok_or("source: `source_dir` is not a folder")?;
                    let pattern = scalar(&pattern).ok_or("source: `file_pattern` is not a pattern")?;
                    let pattern =
                        glob::Pattern::new(&pattern).map_err(|e| format!("source: file_pattern: {e}"))?;
                    latest_in = Some((PathBuf::from(dir), pattern));
                }
                _ => {
                    return Err("source: a csv source needs `path`, or `source_dir` and `file_pattern`".into())
                }
            }
            common(&mut argv);
        }
        "s3" => {
            argv.push("load-s3".into());
            common(&mut argv);
        }
        "api" => {
            argv.push("load-api".into());
            common(&mut argv);
        }
        "postgres" => {
            argv.push("load-postgres".into());
            common(&mut argv);
        }
        "domo" => {
            // load-domo reads a catalog: this job's entry, written to a file of its own.
            let id = source
                .remove("domo_dataset_id")
                .and_then(|v| scalar(&v))
                .ok_or("source: `domo_dataset_id` is missing")?;
            let mut entry = serde_yaml::Mapping::new();
            let mut put = |k: &str, v: Value| {
                entry.insert(Value::String(k.into()), v);
            };
            put("name", Value::String(raw.name.clone()));
            put("domo_dataset_id", Value::String(id));
            put("minio_dataset_id", Value::String(raw.dataset_id.clone()));
            put("enabled", Value::Bool(true));
            if let Some(col) = &raw.partition_column {
                put("partition_column", Value::String(col.clone()));
            }
            if !raw.types.is_empty() {
                put("types", serde_yaml::to_value(&raw.types).map_err(|e| e.to_string())?);
            }
            if !raw.date_formats.is_empty() {
                put("date_formats", serde_yaml::to_value(&raw.date_formats).map_err(|e| e.to_string())?);
            }
            if let Some(filter) = source.remove("exclude_filter") {
                put("exclude_filter", filter);
            }
            let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
            let path = dir.path().join("domo.yaml");
            let mut file = serde_yaml::Mapping::new();
            file.insert(Value::String("datasets".into()), Value::Sequence(vec![Value::Mapping(entry)]));
            std::fs::write(&path, serde_yaml::to_string(&file).map_err(|e| e.to_string())?)
                .map_err(|e| e.to_string())?;
            argv.extend(["load-domo".into(), "--config".into(), path.to_string_lossy().into_owned()]);
            argv.extend(["--dataset".into(), raw.name.clone()]);
            if let Some(mode) = &raw.mode {
                argv.extend(["--mode".into(), mode.clone()]);
            }
            catalog = Some(dir);
        }
        other => return Err(format!("source: kind `{other}` is not csv, s3, api, postgres or domo")),
    }
    for (key, value) in source {
        let flag = format!("--{}", key.replace('_', "-"));
        if ["--target", "--log-format", "--verbose", "--print-config"].contains(&flag.as_str()) {
            return Err(format!(
                "source: `{key}` is an option of the whole run (etl {flag} ... run), not of one job"
            ));
        }
        match value {
            Value::Bool(true) => argv.push(flag),
            Value::Bool(false) | Value::Null => {}
            Value::Sequence(items) => {
                for item in items {
                    argv.extend([
                        flag.clone(),
                        scalar(&item).ok_or_else(|| format!("source: {key}: not a value"))?,
                    ]);
                }
            }
            Value::Mapping(map) => {
                for (k, v) in map {
                    let (k, v) =
                        scalar(&k).zip(scalar(&v)).ok_or_else(|| format!("source: {key}: not key: value"))?;
                    argv.extend([flag.clone(), format!("{k}={v}")]);
                }
            }
            other => {
                argv.extend([flag, scalar(&other).ok_or_else(|| format!("source: {key}: not a value"))?])
            }
        }
    }
    Ok(Job {
        name: raw.name,
        description: raw.description,
        dataset,
        kind,
        enabled: raw.enabled,
        argv,
        latest_in,
        _catalog: catalog,
    })
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
        load(&path, |_| Ok(()))
    }

    #[test]
    fn sources_become_command_lines() {
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
        assert_eq!(
            jobs[0].argv,
            [
                "load-api",
                "--dataset-id",
                "orders",
                "--partition-col",
                "created",
                "--types",
                "total=float64",
                "--header",
                "A: 1",
                "--header",
                "B: 2",
                "--max-pages",
                "5",
                "--query",
                "limit=10",
                "--url",
                "http://x/orders"
            ]
        );
        assert_eq!(jobs[1].argv, ["load-s3", "--dataset-id", "drops", "--source", "s3://b/d/*.csv"]);
        assert!(!jobs[1].enabled);
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
        assert!(err("jobs:\n  - name: a\n    dataset_id: a\n    source: {kind: s3}\n  - name: a\n    dataset_id: b\n    source: {kind: s3}\n")
            .contains("two jobs are named \"a\""));
        assert!(err("jobs:\n  - name: a\n    dataset: a\n    source: {kind: s3}\n").contains("unknown field"));
        assert!(err("jobs:\n  - name: a\n    dataset_id: a\n    source: {kind: s3, target: s3://x}\n")
            .contains("of the whole run"));
    }
}
