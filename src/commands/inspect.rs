//! `etl inspect <id>` and `etl runs <id>`: what a dataset holds and how it got there, from its run
//! records (or, for a dataset written before them, from a listing).

use super::context::Context;
use crate::error::{Error, Result};
use crate::load::layout::DatasetId;
use crate::load::manifest;
use crate::summary::{checks_verdict, human_bytes, table};

/// Prints the dataset's schema, partitions, rows, bytes and last run.
pub async fn inspect(dataset: &DatasetId, json: bool, ctx: &Context) -> Result<()> {
    let store = crate::store::open(&ctx.target).await?;
    let url = store.url_of(&dataset.prefix());
    let published = manifest::read(store.as_ref(), dataset).await?;
    let failed = failed_since(store.as_ref(), dataset, published.as_ref().map(|m| m.run_id.as_str())).await?;
    let table = crate::load::delta::log::read(store.as_ref(), dataset).await?;
    // A publish a killed run left half-done: what readers see until it is settled.
    let pending = crate::monitor::status::pending_publish(store.as_ref(), dataset).await?;
    let pending_line =
        pending.as_ref().map(|p| format!("publish pending: {}\n", p.describe(dataset))).unwrap_or_default();
    let out = match published {
        Some(m) if json => serde_json::to_string_pretty(&serde_json::json!({
            "dataset": dataset.as_str(),
            "target": url,
            "table_format": if table.is_some() { "delta" } else { "hive" },
            "delta": table.as_ref().map(delta_json),
            "schema": m.schema,
            "primary_key": m.primary_key,
            "partitions": m.partitions().len(),
            "files": m.files.len(),
            "rows": m.rows(),
            "bytes": m.bytes(),
            "last_run": m.last_run(),
            "failed_since": failed.iter().map(manifest::Manifest::last_run).collect::<Vec<_>>(),
            "publish_pending": pending,
            "read": reads_of(&m, &url, table.is_some()),
        }))
        .map_err(|e| Error::Internal(e.to_string()))?,
        Some(m) => {
            let r = reads_of(&m, &url, table.is_some());
            let failed = pending_line.clone() + &failed.iter().map(describe_failed).collect::<String>();
            match &table {
                None => format!(
                    "{}{failed}read it with (all values as written; see README \"Reading the output\"):\n  duckdb:   {}\n  \
                     polars:   {}\n  pyarrow:  {}\n  pyspark:  {}\n",
                    m.describe(dataset, &url),
                    r.duckdb,
                    r.polars,
                    r.pyarrow,
                    r.spark
                ),
                Some(t) => format!(
                    "{}{}{failed}read it with a Delta reader (one committed version, never a mix; see \
                     docs/delta.md):\n  duckdb:    {}\n  polars:    {}\n  deltalake: {}\n  pyspark:   {}\n  \
                     an older version: pl.scan_delta('{root}', version={older}), DeltaTable('{root}', version={older})\n",
                    m.describe(dataset, &url),
                    describe_table(t),
                    r.duckdb,
                    r.polars,
                    r.pyarrow,
                    r.spark,
                    root = url.trim_end_matches('/'),
                    older = t.version.saturating_sub(1),
                ),
            }
        }
        // Only runs that failed their checks: nothing was ever published.
        None if !failed.is_empty() && json => serde_json::to_string_pretty(&serde_json::json!({
            "dataset": dataset.as_str(),
            "target": url,
            "last_run": null,
            "failed_since": failed.iter().map(manifest::Manifest::last_run).collect::<Vec<_>>(),
            "publish_pending": pending,
        }))
        .map_err(|e| Error::Internal(e.to_string()))?,
        None if !failed.is_empty() => format!(
            "dataset {dataset} ({url})\nnothing published yet\n{pending_line}{}",
            failed.iter().map(describe_failed).collect::<String>()
        ),
        None => {
            let objects = store.list(&dataset.prefix()).await?;
            if objects.is_empty() {
                return Err(no_dataset(dataset, store.as_ref()).await);
            }
            let data: Vec<_> = objects.iter().filter(|o| o.key.ends_with(".parquet")).collect();
            let partitions: std::collections::BTreeSet<&str> =
                data.iter().filter_map(|o| o.key.split('/').find(|s| s.starts_with("date="))).collect();
            let bytes: u64 = data.iter().map(|o| o.size).sum();
            if json {
                serde_json::to_string_pretty(&serde_json::json!({
                    "dataset": dataset.as_str(),
                    "target": url,
                    "partitions": partitions.len(),
                    "files": data.len(),
                    "bytes": bytes,
                    "last_run": null,
                }))
                .map_err(|e| Error::Internal(e.to_string()))?
            } else {
                format!(
                    "dataset {dataset} ({url})\nno run record (written before manifests): {}, {}, {}\n",
                    crate::summary::count(data.len() as u64, "file"),
                    crate::summary::count(partitions.len() as u64, "partition"),
                    human_bytes(bytes)
                )
            }
        }
    };
    crate::stdout::print(&if json { format!("{out}\n") } else { out })
}

/// The usage error (exit 2) for a dataset with no run record: there is no such dataset, or it was
/// written before run records (then `inspect` describes it from a listing).
async fn no_dataset(dataset: &DatasetId, store: &dyn crate::store::ObjectStore) -> Error {
    match store.list(&dataset.prefix()).await {
        Ok(objects) if !objects.is_empty() => Error::Usage(format!(
            "dataset `{dataset}` in {} has no run record (it was written before run records): `etl inspect \
             {dataset}` describes it",
            store.url()
        )),
        _ => crate::commands::context::no_such_dataset(dataset, store).await,
    }
}

/// The records of runs after the `published` one (the manifest's) that failed their checks
/// (published nothing), newest first.
async fn failed_since(
    store: &dyn crate::store::ObjectStore,
    dataset: &DatasetId,
    published: Option<&str>,
) -> Result<Vec<manifest::Manifest>> {
    let after = published.unwrap_or_default();
    let mut keys: Vec<String> = store
        .list(&dataset.runs_prefix())
        .await?
        .into_iter()
        .map(|o| o.key)
        .filter(|k| k.rsplit('/').next().is_some_and(|name| name.trim_end_matches(".json") > after))
        .collect();
    keys.sort();
    let mut out = Vec::new();
    for key in keys.iter().rev() {
        if let Ok(m) = serde_json::from_slice::<manifest::Manifest>(&store.get(key).await?) {
            if matches!(m.status.as_deref(), Some("failed" | "cancelled")) {
                out.push(m);
            }
        }
    }
    Ok(out)
}

/// A failed run's lines in `inspect`.
fn describe_failed(m: &manifest::Manifest) -> String {
    let what = match (m.status.as_deref(), m.checks.iter().any(|c| c.broken())) {
        (Some("cancelled"), _) => "was stopped and published nothing",
        (_, true) => "failed its checks and published nothing",
        _ => "failed and published nothing",
    };
    let mut out = format!("run {} ({} {}, {}) {what}:\n", m.run_id, m.command, m.mode, m.finished);
    if let Some(error) = &m.error {
        out += &format!("  {error}\n");
    }
    for check in &m.checks {
        out += &format!("  {}\n", check.describe());
    }
    out
}

/// How DuckDB, polars, pyarrow and Spark read the dataset `m` describes, at `url` (a Delta table's
/// readers read its log).
fn reads_of(m: &manifest::Manifest, url: &str, delta: bool) -> crate::load::readers::Reads {
    if delta {
        return crate::load::readers::delta_reads(url);
    }
    let columns: Vec<String> = m.schema.iter().map(|c| c.name.clone()).collect();
    crate::load::readers::reads(url, m.partition_column.is_some(), &columns)
}

/// A Delta table's lines in `inspect`: its version, and what reading it took.
fn describe_table(t: &crate::load::delta::log::Snapshot) -> String {
    format!(
        "Delta table: version {}, {}{} ({}); partition column {}\n",
        t.version,
        crate::summary::count(t.files.len() as u64, "file"),
        t.rows().map(|r| format!(", {}", crate::summary::count(r, "row"))).unwrap_or_default(),
        match t.checkpoint {
            Some(c) => format!(
                "read from the checkpoint of version {c} and {} after it",
                crate::summary::count(t.version - c, "commit")
            ),
            None => format!("read from {}", crate::summary::count(t.version + 1, "commit")),
        },
        t.metadata.partition_columns.first().map_or("none".to_owned(), |c| format!("`{c}`")),
    )
}

/// A Delta table in `inspect --json`.
fn delta_json(t: &crate::load::delta::log::Snapshot) -> serde_json::Value {
    serde_json::json!({
        "version": t.version,
        "checkpoint": t.checkpoint,
        "commits_read": t.version + 1 - t.checkpoint.map_or(0, |c| c + 1),
        "files": t.files.len(),
        "rows": t.rows(),
        "partition_columns": t.metadata.partition_columns,
        "protocol": t.protocol,
    })
}

/// Prints the dataset's runs, newest first.
pub async fn runs(dataset: &DatasetId, json: bool, ctx: &Context) -> Result<()> {
    let store = crate::store::open(&ctx.target).await?;
    let history = manifest::history(store.as_ref(), dataset).await?;
    if json {
        if history.is_empty() {
            return Err(no_dataset(dataset, store.as_ref()).await);
        }
        let text = serde_json::to_string_pretty(&history).map_err(|e| Error::Internal(e.to_string()))?;
        return crate::stdout::print(&format!("{text}\n"));
    }
    if history.is_empty() {
        return Err(no_dataset(dataset, store.as_ref()).await);
    }
    let rows: Vec<Vec<String>> = history
        .iter()
        .map(|m| {
            vec![
                m.run_id.clone(),
                m.finished.clone(),
                m.command.clone(),
                m.mode.clone(),
                m.status.clone().unwrap_or_else(|| "ok".into()),
                m.delta_version.map_or("-".to_owned(), |v| v.to_string()),
                crate::summary::thousands(m.rows_written),
                crate::summary::thousands(m.deleted as u64),
                checks_verdict(&m.checks),
                m.source.location.clone(),
            ]
        })
        .collect();
    // The Delta version each run committed, for a table (a Hive dataset has none).
    let delta = history.iter().any(|m| m.delta_version.is_some());
    let (mut header, mut rows) = (
        vec![
            "RUN", "FINISHED", "COMMAND", "MODE", "STATUS", "VERSION", "ROWS", "DELETED", "CHECKS", "SOURCE",
        ],
        rows,
    );
    if !delta {
        header.remove(5);
        rows.iter_mut().for_each(|r| {
            r.remove(5);
        });
    }
    crate::stdout::print(&table(&header, &rows))
}
