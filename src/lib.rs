//! `etl`: batch loads from CSV files, S3 drop folders, REST APIs, PostgreSQL and Domo into typed,
//! Hive-partitioned Parquet on S3 or a local folder.
//!
//! The flow is always Extract → Transform → Load ([`pipeline`]): an extractor yields batches of text
//! records ([`batch`]), the transform types them (inferred from every value, or pinned by the
//! command), and the loader writes Parquet into a staging folder; the load transaction
//! ([`pipeline::commit`]) then publishes it through an [`store::ObjectStore`] under the dataset's
//! lock. All key naming lives in [`load::layout`]. docs/architecture.md maps the modules.

pub mod batch;
pub mod bytesize;
pub mod catalog;
pub mod checks;
pub mod cli;
pub mod commands;
pub mod config;
pub mod error;
pub mod extract;
pub mod faults;
pub mod http;
pub mod jobs;
pub mod load;
pub mod logging;
pub mod monitor;
pub mod pipeline;
pub mod progress;
pub mod redact;
pub mod runner;
pub mod schedule;
pub mod settings;
pub mod signals;
pub mod stdout;
pub mod store;
pub mod suggest;
pub mod summary;
pub mod transform;

pub use error::{Error, Result};

/// Runs the command line and returns the process exit status (0 success, 1 failure, 2 bad usage).
pub fn main(args: impl IntoIterator<Item = std::ffi::OsString>) -> std::process::ExitCode {
    cli::run(args, |command, target, log_format| {
        Box::pin(commands::execute(command, commands::Context { target, log_format }))
    })
}
