//! OpenLineage run events (spec 2-0-2): START when a load begins; COMPLETE, FAIL or ABORT when it
//! ends, under one run id (the run's own id as a UUIDv7: its start time and its random part). Posted
//! as JSON to `OPENLINEAGE_URL` + `OPENLINEAGE_ENDPOINT`, as OpenLineage's own clients do; a receiver
//! that is down or slow costs a run at most [`Config::timeout`] once, and one warning line: after the
//! first failure the process sends no more.
//!
//! Names follow OpenLineage's naming conventions: a file is `file://<host>` + its absolute path, an
//! S3 object `s3://<bucket>` + its key, a PostgreSQL table `postgres://<host>:<port>` +
//! `<db>.<schema>.<table>`, an API `<scheme>://<host>[:<port>]` + its path; the output is the
//! dataset's folder, `s3://<bucket>` + `[prefix/]datasets/<id>` or `file://<host>` + its path. Never a
//! secret: locations are those the run record keeps, passwords and query strings left out.

use std::time::{Duration, SystemTime};

use serde_json::{json, Value};

use super::post::Sender;
use super::run::{Outcome, RunEnd, RunStart};
use crate::summary::{CheckResult, CheckStatus};

/// The spec version of the events.
pub const SCHEMA_URL: &str = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent";

/// How long an event may hold up a run, unless `OPENLINEAGE__TRANSPORT__TIMEOUT` says otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// Where and how events go: the variables OpenLineage's own clients read.
#[derive(Debug, Clone)]
pub struct Config {
    /// `OPENLINEAGE_URL` + `OPENLINEAGE_ENDPOINT` (default `api/v1/lineage`).
    pub endpoint: String,
    /// `OPENLINEAGE_API_KEY`: sent as a bearer token (and redacted from every message).
    pub api_key: Option<String>,
    /// `OPENLINEAGE_NAMESPACE` (default `etl`): the jobs' namespace.
    pub namespace: String,
    /// `OPENLINEAGE__TRANSPORT__TIMEOUT` (seconds; default 5).
    pub timeout: Duration,
    /// The run that started this one (a scheduler's task): `OPENLINEAGE_CONTEXT`, or
    /// `OPENLINEAGE_PARENT_ID` and `OPENLINEAGE_ROOT_PARENT_ID`.
    pub parent: Option<Parent>,
    /// This machine's name, for `file://` namespaces.
    pub host: String,
}

/// A parent run (and the root of its tree), as the `parent` run facet names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parent {
    pub namespace: String,
    pub name: String,
    pub run_id: String,
    /// `(namespace, name, run id)` of the root run; the parent itself when not given.
    pub root: (String, String, String),
}

impl Config {
    /// The configuration the environment gives (`env`: a variable's value); `None` when
    /// `OPENLINEAGE_URL` is not set or `OPENLINEAGE_DISABLED` is true.
    pub fn from_env(env: impl Fn(&str) -> Option<String>) -> Option<Config> {
        let set = |name: &str| env(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        if set("OPENLINEAGE_DISABLED")
            .is_some_and(|v| matches!(v.to_ascii_lowercase().as_str(), "true" | "1" | "yes"))
        {
            return None;
        }
        let url = set("OPENLINEAGE_URL")?;
        let endpoint = set("OPENLINEAGE_ENDPOINT").unwrap_or_else(|| "api/v1/lineage".to_owned());
        let timeout = set("OPENLINEAGE__TRANSPORT__TIMEOUT")
            .and_then(|v| v.parse::<f64>().ok())
            .filter(|s| *s > 0.0 && s.is_finite())
            .map_or(DEFAULT_TIMEOUT, Duration::from_secs_f64);
        Some(Config {
            endpoint: format!("{}/{}", url.trim_end_matches('/'), endpoint.trim_start_matches('/')),
            api_key: set("OPENLINEAGE_API_KEY"),
            namespace: set("OPENLINEAGE_NAMESPACE").unwrap_or_else(|| "etl".to_owned()),
            timeout,
            parent: parent_of(&set),
            host: hostname(),
        })
    }
}

/// The parent run the environment names: `OPENLINEAGE_CONTEXT` (`{"parent": {"run": {"runId"},
/// "job": {"namespace", "name"}, "root": {...}}}`), else `OPENLINEAGE_PARENT_ID`
/// (`namespace/name/runId`) with `OPENLINEAGE_ROOT_PARENT_ID`, as dbt-ol reads them.
fn parent_of(set: &dyn Fn(&str) -> Option<String>) -> Option<Parent> {
    if let Some(context) = set("OPENLINEAGE_CONTEXT") {
        let parsed = serde_json::from_str::<Value>(&context).ok().and_then(|v| {
            let p = v.get("parent")?;
            let run_id = p["run"]["runId"].as_str()?.to_owned();
            let namespace = p["job"]["namespace"].as_str()?.to_owned();
            let name = p["job"]["name"].as_str()?.to_owned();
            let root = match (
                p["root"]["job"]["namespace"].as_str(),
                p["root"]["job"]["name"].as_str(),
                p["root"]["run"]["runId"].as_str(),
            ) {
                (Some(ns), Some(n), Some(r)) => (ns.to_owned(), n.to_owned(), r.to_owned()),
                _ => (namespace.clone(), name.clone(), run_id.clone()),
            };
            Some(Parent { namespace, name, run_id, root })
        });
        match parsed {
            Some(parent) => return Some(parent),
            None => tracing::warn!("OPENLINEAGE_CONTEXT is not {{\"parent\": {{\"run\": {{\"runId\"}}, \"job\": {{\"namespace\", \"name\"}}}}}}: no parent run"),
        }
    }
    let triple = |text: String| -> Option<(String, String, String)> {
        let mut parts = text.splitn(3, '/');
        let (ns, name) = (parts.next()?, parts.next()?);
        // A job name may hold `/`: the run id is the last part.
        let rest = parts.next()?;
        let (name_tail, run_id) = match rest.rsplit_once('/') {
            Some((more, run)) => (format!("/{more}"), run),
            None => (String::new(), rest),
        };
        Some((ns.to_owned(), format!("{name}{name_tail}"), run_id.to_owned()))
    };
    let (namespace, name, run_id) = match set("OPENLINEAGE_PARENT_ID").map(triple) {
        Some(Some(parent)) => parent,
        Some(None) => {
            tracing::warn!("OPENLINEAGE_PARENT_ID is not namespace/job/runId: no parent run");
            return None;
        }
        None => return None,
    };
    let root = set("OPENLINEAGE_ROOT_PARENT_ID")
        .and_then(triple)
        .unwrap_or_else(|| (namespace.clone(), name.clone(), run_id.clone()));
    Some(Parent { namespace, name, run_id, root })
}

/// This machine's name (`file://<host>`).
fn hostname() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok().map(|h| h.trim().to_owned()))
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_owned())
}

/// A run id (`20261206T222756.703Z-27006dcc`) as a UUIDv7: the start time's milliseconds, then the
/// random part (`019af5d4-a2df-7000-8000-000027006dcc`). The same id always gives the same UUID.
pub fn run_uuid(run_id: &str) -> String {
    let millis = run_millis(run_id).unwrap_or(0);
    let random = run_id.rsplit_once('-').and_then(|(_, r)| u32::from_str_radix(r, 16).ok()).unwrap_or(0);
    format!("{:08x}-{:04x}-7000-8000-0000{random:08x}", (millis >> 16) & 0xffff_ffff, millis & 0xffff)
}

/// The milliseconds since 1970 a run id starts with.
fn run_millis(run_id: &str) -> Option<u64> {
    let started = crate::load::layout::run_started(run_id)?;
    Some(started.duration_since(SystemTime::UNIX_EPOCH).ok()?.as_millis() as u64)
}

/// `2026-12-06T22:40:00.123Z`.
fn time(at: SystemTime) -> String {
    let since = at.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
    let text = crate::load::manifest::rfc3339(at);
    format!("{}.{:03}Z", text.trim_end_matches('Z'), since.subsec_millis())
}

const PRODUCER: &str = concat!("https://crates.io/crates/etl/", env!("CARGO_PKG_VERSION"));

/// A facet's `_producer` and `_schemaURL`, and its own fields.
fn facet(schema: &str, fields: Value) -> Value {
    let name = schema.rsplit('/').next().unwrap_or(schema).trim_end_matches(".json");
    let mut out = json!({
        "_producer": PRODUCER,
        "_schemaURL": format!("https://openlineage.io/spec/facets/{schema}#/$defs/{name}"),
    });
    if let (Some(out), Value::Object(fields)) = (out.as_object_mut(), fields) {
        out.extend(fields);
    }
    out
}

/// A dataset's OpenLineage name: namespace and name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Named {
    pub namespace: String,
    pub name: String,
}

/// The source a run reads, named as OpenLineage names it, from its kind and the location its run
/// record keeps (`events.csv`, `s3://drop/in/*.csv`, `GET https://api.example.com/v1/orders`,
/// `postgres://etl@db:5432/shop table public.orders`).
pub fn input_of(kind: &str, location: &str, host: &str) -> Named {
    let url_parts = |url: &str| -> Option<Named> {
        let (scheme, rest) = url.split_once("://")?;
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let authority = rest[..end].rsplit_once('@').map_or(&rest[..end], |(_, host)| host);
        let path = rest[end..].split(['?', '#']).next().unwrap_or("");
        Some(Named { namespace: format!("{scheme}://{authority}"), name: path.to_owned() })
    };
    match kind {
        "postgres" => {
            let (url, table) = match location.split_once(" table ") {
                Some((url, table)) => (url, Some(table)),
                None => (location.split(" (").next().unwrap_or(location), None),
            };
            let Some(mut named) = url_parts(url) else { return fallback(kind, location) };
            let db = named.name.trim_start_matches('/').to_owned();
            named.name = match table {
                Some(table) => {
                    let table = table.replace('"', "");
                    match table.contains('.') {
                        true => format!("{db}.{table}"),
                        false => format!("{db}.public.{table}"),
                    }
                }
                None => db,
            };
            named
        }
        "api" => {
            let url = location.rsplit(' ').next().unwrap_or(location);
            url_parts(url).unwrap_or_else(|| fallback(kind, location))
        }
        "domo" => {
            // `Domo dataset <id> ("<name>")`.
            let id = location.split_whitespace().nth(2).unwrap_or(location);
            Named { namespace: "https://api.domo.com".into(), name: format!("v1/datasets/{id}") }
        }
        _ if location.starts_with("s3://") => {
            let rest = &location[5..];
            let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
            // A drop folder's glob: the folder it matches in.
            let key = match key.find(['*', '?', '[', '{']) {
                Some(at) => &key[..key[..at].rfind('/').map_or(0, |i| i + 1)],
                None => key,
            };
            Named {
                namespace: format!("s3://{bucket}"),
                name: if key.is_empty() { "/".into() } else { key.into() },
            }
        }
        _ if location.contains("://") => url_parts(location).unwrap_or_else(|| fallback(kind, location)),
        _ => {
            let path = std::path::Path::new(location);
            let absolute = match path.is_absolute() {
                true => path.to_path_buf(),
                false => std::env::current_dir().map(|d| d.join(path)).unwrap_or_else(|_| path.to_path_buf()),
            };
            Named { namespace: format!("file://{host}"), name: absolute.display().to_string() }
        }
    }
}

fn fallback(kind: &str, location: &str) -> Named {
    Named { namespace: kind.to_owned(), name: location.to_owned() }
}

/// The dataset a run writes: its folder in the target (`s3://bucket/prefix/` or a local folder).
pub fn output_of(target: &str, dataset: &str, host: &str) -> Named {
    let target = target.trim_end_matches('/');
    match target.strip_prefix("s3://") {
        Some(rest) => {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            let prefix = prefix.trim_matches('/');
            let name = match prefix.is_empty() {
                true => format!("datasets/{dataset}"),
                false => format!("{prefix}/datasets/{dataset}"),
            };
            Named { namespace: format!("s3://{bucket}"), name }
        }
        None => Named { namespace: format!("file://{host}"), name: format!("{target}/datasets/{dataset}") },
    }
}

/// The job's name: the job-file job, or `<command>.<dataset>` (one job per command and dataset, as
/// Airflow's are `<dag>.<task>`).
pub fn job_name(start: &RunStart) -> String {
    start.job.clone().unwrap_or_else(|| format!("{}.{}", start.command, start.dataset))
}

fn base(config: &Config, start: &RunStart, event_type: &str, at: SystemTime) -> Value {
    let mut run_facets = serde_json::Map::new();
    run_facets.insert(
        "processing_engine".into(),
        facet(
            "1-1-1/ProcessingEngineRunFacet.json",
            json!({"name": "etl", "version": env!("CARGO_PKG_VERSION"), "openlineageAdapterVersion": env!("CARGO_PKG_VERSION")}),
        ),
    );
    if let Some(parent) = &config.parent {
        run_facets.insert(
            "parent".into(),
            facet(
                "1-2-0/ParentRunFacet.json",
                json!({
                    "run": {"runId": parent.run_id},
                    "job": {"namespace": parent.namespace, "name": parent.name},
                    "root": {
                        "run": {"runId": parent.root.2},
                        "job": {"namespace": parent.root.0, "name": parent.root.1},
                    },
                }),
            ),
        );
    }
    let input = input_of(&start.source_kind, &start.source_location, &config.host);
    json!({
        "eventType": event_type,
        "eventTime": time(at),
        "producer": PRODUCER,
        "schemaURL": SCHEMA_URL,
        "run": {"runId": run_uuid(&start.run_id), "facets": run_facets},
        "job": {
            "namespace": config.namespace,
            "name": job_name(start),
            "facets": {
                "jobType": facet(
                    "2-0-4/JobTypeJobFacet.json",
                    json!({"processingType": "BATCH", "integration": "ETL", "jobType": "JOB"}),
                ),
            },
        },
        "inputs": [{"namespace": input.namespace, "name": input.name, "facets": {}}],
        "outputs": [],
    })
}

/// The START event of a run.
pub fn start_event(config: &Config, start: &RunStart) -> Value {
    let mut event = base(config, start, "START", start.started);
    let output = output_of(&start.target, &start.dataset, &config.host);
    event["outputs"] = json!([{"namespace": output.namespace, "name": output.name, "facets": {}}]);
    event
}

/// The COMPLETE, FAIL or ABORT event of a run that ended at `finished`: for a published run, the
/// output's schema, statistics, checks and (for a replace) its overwrite; for a failed one, its error.
pub fn end_event(config: &Config, start: &RunStart, end: &RunEnd, finished: SystemTime) -> Value {
    let kind = match end.outcome {
        Outcome::Ok => "COMPLETE",
        Outcome::Failed => "FAIL",
        Outcome::Cancelled => "ABORT",
    };
    let mut event = base(config, start, kind, finished);
    if let Some(message) = &end.error {
        event["run"]["facets"]["errorMessage"] = facet(
            "1-0-1/ErrorMessageRunFacet.json",
            json!({"message": message, "programmingLanguage": "Rust"}),
        );
    }
    let output = output_of(&start.target, &start.dataset, &config.host);
    let mut facets = serde_json::Map::new();
    let mut output_facets = serde_json::Map::new();
    if end.outcome == Outcome::Ok {
        if !end.schema.is_empty() {
            let fields: Vec<Value> = end
                .schema
                .iter()
                .enumerate()
                .map(|(i, (name, kind))| json!({"name": name, "type": kind, "ordinal_position": i + 1}))
                .collect();
            facets.insert("schema".into(), facet("1-2-0/SchemaDatasetFacet.json", json!({"fields": fields})));
        }
        let change = match end.mode.as_deref() {
            _ if end.created => Some("CREATE"),
            Some("replace") => Some("OVERWRITE"),
            _ => None,
        };
        if let Some(change) = change {
            facets.insert(
                "lifecycleStateChange".into(),
                facet("1-0-1/LifecycleStateChangeDatasetFacet.json", json!({"lifecycleStateChange": change})),
            );
        }
        output_facets.insert(
            "outputStatistics".into(),
            facet(
                "1-0-2/OutputStatisticsOutputDatasetFacet.json",
                json!({"rowCount": end.rows_written, "size": end.bytes, "fileCount": end.files}),
            ),
        );
    }
    if !end.checks.is_empty() {
        let assertions: Vec<Value> = end.checks.iter().map(assertion).collect();
        facets.insert(
            "dataQualityAssertions".into(),
            facet("1-1-0/DataQualityAssertionsDatasetFacet.json", json!({"assertions": assertions})),
        );
    }
    event["outputs"] = json!([{
        "namespace": output.namespace,
        "name": output.name,
        "facets": facets,
        "outputFacets": output_facets,
    }]);
    event
}

/// A check as a data-quality assertion: `not_null(Date)` is the assertion `not_null` on the column
/// `Date`.
fn assertion(check: &CheckResult) -> Value {
    let (kind, args) = match check.check.split_once('(') {
        Some((kind, rest)) => (kind, rest.trim_end_matches(')')),
        None => (check.check.as_str(), ""),
    };
    let mut out = json!({
        "assertion": kind,
        "success": !check.broken(),
        "name": check.check,
        "severity": match check.severity {
            crate::summary::Severity::Error => "error",
            crate::summary::Severity::Warn => "warn",
        },
    });
    let columns: Vec<&str> = args.split(',').map(str::trim).filter(|c| !c.is_empty()).collect();
    if let [column] = columns.as_slice() {
        out["column"] = json!(column);
    }
    if check.status != CheckStatus::Skipped && (check.rows > 0 || !check.detail.is_empty()) {
        out["actual"] = json!(match check.rows {
            0 => check.detail.clone(),
            rows => format!("{rows} rows broke it"),
        });
    }
    out
}

/// Posts `event`, waiting at most the configured timeout; the first failure is one warning, after
/// which this process sends nothing more.
pub async fn emit(config: &Config, event: &Value) {
    static EVENTS: Sender =
        Sender::new("send the run's OpenLineage event to", "this run sends no more (the load goes on)");
    EVENTS
        .send(&config.endpoint, config.timeout, |client| {
            let request = client.post(&config.endpoint).json(event);
            match &config.api_key {
                Some(key) => request.bearer_auth(key),
                None => request,
            }
        })
        .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_id_is_a_uuid_v7_of_its_start() {
        let uuid = run_uuid("20261206T222756.703Z-27006dcc");
        assert_eq!(uuid.len(), 36);
        assert_eq!(&uuid[14..15], "7", "version 7: {uuid}");
        assert!(uuid.ends_with("27006dcc"));
        let millis = u64::from_str_radix(&uuid[..8], 16).unwrap() << 16
            | u64::from_str_radix(&uuid[9..13], 16).unwrap();
        // 2026-12-06T22:27:56.703Z
        assert_eq!(millis, 1_796_596_076_703);
        assert_eq!(run_uuid("20261206T222756.703Z-27006dcc"), uuid, "the same id, the same UUID");
    }

    #[test]
    fn sources_are_named_by_the_conventions() {
        let named = |kind: &str, location: &str| {
            let n = input_of(kind, location, "box");
            format!("{} {}", n.namespace, n.name)
        };
        assert_eq!(named("csv", "/data/events.csv"), "file://box /data/events.csv");
        assert_eq!(named("s3", "s3://drop/in/2026/*.csv"), "s3://drop in/2026/");
        assert_eq!(
            named("api", "GET https://api.example.com:8443/v1/orders"),
            "https://api.example.com:8443 /v1/orders"
        );
        assert_eq!(
            named("postgres", "postgres://etl@db.internal:5432/shop table \"sales\".\"orders\""),
            "postgres://db.internal:5432 shop.sales.orders"
        );
        assert_eq!(
            named("postgres", "postgres://etl@db:5433/shop table orders"),
            "postgres://db:5433 shop.public.orders"
        );
        assert_eq!(named("postgres", "postgres://etl@db:5432/shop (query)"), "postgres://db:5432 shop");
        assert_eq!(named("domo", "Domo dataset 4c1f (\"Sales\")"), "https://api.domo.com v1/datasets/4c1f");
        let out = output_of("s3://lake/prod/", "events", "box");
        assert_eq!((out.namespace.as_str(), out.name.as_str()), ("s3://lake", "prod/datasets/events"));
        let out = output_of("/srv/lake/", "events", "box");
        assert_eq!((out.namespace.as_str(), out.name.as_str()), ("file://box", "/srv/lake/datasets/events"));
    }

    #[test]
    fn the_parent_comes_from_the_context_or_the_legacy_variables() {
        let env = |pairs: Vec<(&'static str, String)>| {
            move |name: &str| pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| v.clone())
        };
        let legacy = Config::from_env(env(vec![
            ("OPENLINEAGE_URL", "http://127.0.0.1:5000/".into()),
            ("OPENLINEAGE_PARENT_ID", "airflow/nightly.events/01932c1e-0000-7000-8000-000000000001".into()),
        ]))
        .unwrap();
        assert_eq!(legacy.endpoint, "http://127.0.0.1:5000/api/v1/lineage");
        assert_eq!(legacy.namespace, "etl");
        let parent = legacy.parent.unwrap();
        assert_eq!((parent.namespace.as_str(), parent.name.as_str()), ("airflow", "nightly.events"));
        assert_eq!(parent.root.2, parent.run_id, "the root is the parent when not given");
        let context = Config::from_env(env(vec![
            ("OPENLINEAGE_URL", "http://h".into()),
            (
                "OPENLINEAGE_CONTEXT",
                r#"{"parent":{"run":{"runId":"r1"},"job":{"namespace":"dagster","name":"nightly"},"root":{"run":{"runId":"r0"},"job":{"namespace":"d","name":"top"}}}}"#.into(),
            ),
        ]))
        .unwrap();
        assert_eq!(context.parent.unwrap().root, ("d".into(), "top".into(), "r0".into()));
        assert!(Config::from_env(env(vec![
            ("OPENLINEAGE_URL", "http://h".into()),
            ("OPENLINEAGE_DISABLED", "true".into())
        ]))
        .is_none());
        assert!(Config::from_env(env(vec![])).is_none());
    }
}
