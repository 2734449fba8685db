//! Integration tests: the built `etl` binary against a local target and a real S3-compatible server
//! (Garage, started by scripts/test.sh), with the output read back and checked against the input.

/// Shared harness: temp folders, running the binary, reading Parquet back, the S3 server's settings.
mod util;

/// The module map: no import circles, no lower floor reaching up to the command line.
mod architecture;
/// `clear-dataset`: deletes one dataset and provably nothing next to it.
mod checks;
/// The CI smoke-job recipes of docs/ci/: valid by their platforms' schemas, run against Garage.
mod ci_recipes;
mod clear_dataset;
/// `--help`, exit codes, JSON logs.
mod cli;
/// The reading and typing rules, one small file each.
mod corpus;
/// `load-cursor-usage`: the usage-events export and its header variants.
mod cursor_usage;
mod delta;
/// `etl doctor`: a folder, Garage and s3s-fs tried the way a run uses them.
mod doctor;
/// `load-domo` against a real HTTP server playing Domo's API.
mod domo;
/// Reading the output as a Hive-partitioned table with DuckDB.
mod duckdb;
/// A real HTTP server playing a REST API, one handler per test.
mod fake_api;
/// The HTTP server playing Domo.
mod fake_domo;
/// The S3 server failing under a run: refused connections, uploads cut mid-body.
mod faults;
/// Issue 29: what a new user runs and reads first.
mod first_hour;
/// Issue 28: what a forgotten flag or a stray environment does: nothing lost.
mod forgotten;
/// Random bytes to the CSV reader and typing, the JSON page reader and the value parsers: no panic.
mod fuzz;
/// Runs refused rather than empty a dataset or mix two partition layouts.
mod guards;
/// Files and answers made to break a reader: exit codes, messages, time and memory bounds.
mod hostile;
/// The small HTTP/1.1 server under `fake_api` and `fake_domo`: socket, request parsing, responses.
mod http_server;
/// The container image built by scripts/image.sh, run with buildah.
mod image;
/// `etl run`: a job file mixing every kind of source.
mod jobs;
/// `load-api`: a REST API on 127.0.0.1 with pages, auth and faults.
mod load_api;
/// `load-csv`: catalog-driven CSV loads.
mod load_csv;
/// `load-postgres`: a real PostgreSQL server, types from its catalog, incremental reads.
mod load_postgres;
/// `load-s3`: a drop folder on the S3 server, each object loaded once.
mod load_s3;
/// One writer per dataset: the `_lock` object.
mod locks;
/// Knowing last night's loads ran: dated logs, run records, `etl status`, Prometheus metrics and
/// OpenLineage events, against promtool, a real Pushgateway and a lineage receiver.
mod monitoring;
/// A TCP proxy that misbehaves on demand.
mod proxy;
/// A publish killed or failing at every step: the old dataset or the new one, never a mix.
mod publish_faults;
/// DuckDB, polars, pyarrow and Spark read back every value, with the reads `inspect` prints.
mod readers;
/// Every example of the README, run (or checked against what it describes).
mod readme;
/// Run records, write modes, schema drift, `inspect` and `runs`.
mod records;
/// The same loads against the S3 server over HTTP.
mod s3;
/// `etl schedule export`: valid units for Kubernetes and Argo, DAGs and Dagster jobs that run.
mod schedule;
/// No secret in any form in any output: every source pointed at a server echoing its requests.
mod secrets;
/// SIGINT and SIGTERM sent to the running binary.
mod signals;
/// What a person reads, as reviewed snapshots: every `--help`, each command's main outputs.
mod snapshots;
/// The object-store contract, run against the local folder and the S3 server alike.
mod store_contract;
/// Re-runs leave unchanged partitions in place; partition ranges.
mod unchanged;
/// `upload-csv` on the local target: types, values, layout, partitions, errors.
mod upload_csv;
/// `--mode upsert --primary-key`: one row per key, the newest run's.
mod upsert;
