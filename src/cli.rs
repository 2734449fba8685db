//! The command line: clap's definitions ([`Cli`], [`Command`]; each command's options in [`args`])
//! and the edge where a run's outcome becomes a summary line and an exit code. Turning arguments into
//! settings is [`crate::settings`]'s; running them, [`crate::commands`]'.

pub mod args;

use std::ffi::OsString;
use std::process::ExitCode;
use std::time::Instant;

use clap::{Args, Parser, Subcommand};
use futures::future::LocalBoxFuture;

use self::args::{
    ClearDatasetArgs, CompactArgs, ConvertArgs, DoctorArgs, JobsArgs, LoadApiArgs, LoadCsvArgs,
    LoadCursorUsageArgs, LoadDomoArgs, LoadPostgresArgs, LoadS3Args, RecordArgs, RepairArgs, ScheduleArgs,
    StatusArgs, UploadCsvArgs, VacuumArgs,
};
use crate::config;
use crate::logging::{self, LogFormat};
use crate::store::{Target, DEFAULT_TARGET};
use crate::summary::{Status, Summary};

/// Load CSV files, S3 drop folders, REST APIs, PostgreSQL and Domo into typed, date-partitioned
/// Parquet on S3 or a local folder.
///
/// Datasets are laid out as `datasets/<id>/data/part-0000.parquet` or
/// `datasets/<id>/partitions/date=YYYY-MM-DD/part-0000.parquet`, readable as a Hive-partitioned table.
#[derive(Debug, Parser)]
#[command(
    name = "etl",
    version,
    propagate_version = true,
    max_term_width = 100,
    after_help = crate::error::exit_codes_help()
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    #[command(flatten)]
    pub global: GlobalArgs,
}

/// Options every subcommand takes.
#[derive(Debug, Args)]
#[command(next_help_heading = "Global options")]
pub struct GlobalArgs {
    /// Where datasets live: `s3://bucket[/prefix]` or a local folder [default: ./lake].
    ///
    /// S3 settings come from the usual AWS chain (AWS_ACCESS_KEY_ID, AWS_PROFILE, ...);
    /// AWS_ENDPOINT_URL points at MinIO or another S3-compatible server.
    #[arg(long, env = "ETL_TARGET", hide_env_values = true, global = true, value_name = "URL|DIR")]
    pub target: Option<String>,

    /// More detail in the logs (-v: info, -vv: debug, -vvv: trace). RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,

    /// Log and summary format on stderr.
    #[arg(long, value_enum, env = "ETL_LOG_FORMAT", hide_env_values = true, default_value_t = LogFormat::Text, global = true)]
    pub log_format: LogFormat,

    /// Colour in the logs: `auto` colours only a terminal, unless NO_COLOR is set (CLICOLOR_FORCE=1
    /// colours anything).
    #[arg(long, value_enum, env = "ETL_COLOR", hide_env_values = true, default_value_t = logging::Color::Auto, global = true)]
    pub color: logging::Color,

    /// After every load, write its Prometheus metrics to DIR/etl-<dataset>.prom (the node exporter's
    /// textfile collector reads them; written whole, then renamed).
    #[arg(long, env = "ETL_METRICS_DIR", hide_env_values = true, global = true, value_name = "DIR")]
    pub metrics_dir: Option<std::path::PathBuf>,

    /// After every load, push its metrics to this Prometheus Pushgateway (group job="etl",
    /// dataset="<id>"; waits at most 5 s).
    #[arg(long, env = "ETL_PUSHGATEWAY_URL", hide_env_values = true, global = true, value_name = "URL")]
    pub pushgateway_url: Option<String>,

    /// Print the effective configuration (flags, environment, .env; secrets masked) and exit.
    #[arg(long, global = true)]
    pub print_config: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Load one CSV file into a dataset, typing every column from all of its values.
    UploadCsv(UploadCsvArgs),
    /// Load the editor's team usage-events export into the `cursor-usage` dataset, partitioned by day.
    LoadCursorUsage(LoadCursorUsageArgs),
    /// Load Domo datasets listed in a catalog (config/domo_datasets.yaml) through Domo's API.
    ///
    /// Needs DOMO_CLIENT_ID and DOMO_CLIENT_SECRET (environment or .env) of an API client with the
    /// `data` scope. Columns are typed from Domo's schema; columns it does not type are inferred.
    #[command(mut_arg("dataset", |a| a.help(
        "Load this dataset, named by its `name`, its dataset id (`minio_dataset_id`) or its Domo id \
         (repeatable). A dataset disabled in the catalog is loaded when named."
    )))]
    #[command(mut_arg("mode", |a| a.help(
        "replace (the default here): afterwards the dataset holds exactly this export; merge: the \
         partitions this run writes are replaced whole, the others stay; append: this run's files are \
         added beside the dataset's."
    )))]
    LoadDomo(LoadDomoArgs),
    /// Load CSV datasets listed in a catalog (config/csv_datasets.yaml): for each, the last file by
    /// name in its folder that matches its pattern.
    LoadCsv(LoadCsvArgs),
    /// Load the records of a JSON REST API into one dataset: every page, nested objects flattened to
    /// `parent.child` columns, typed from the JSON values.
    ///
    /// Secrets come from the environment or .env only (API_KEY, API_TOKEN, API_USER / API_PASSWORD,
    /// API_CLIENT_ID / API_CLIENT_SECRET by default; the --*-env options name other variables).
    LoadApi(Box<LoadApiArgs>),
    /// Load the rows of a PostgreSQL query or table into one dataset, typed by PostgreSQL.
    ///
    /// The URL comes from --url or DATABASE_URL (environment or .env); TLS when it says
    /// sslmode=require (or prefer). Its password is never printed.
    LoadPostgres(LoadPostgresArgs),
    /// Load the CSV objects of a drop folder (`s3://bucket/drop/*.csv`) into one dataset; objects
    /// loaded before (same key and ETag, kept in datasets/<id>/_state.json) are skipped.
    ///
    /// New objects are appended (new part files); if an object loaded before has changed, every
    /// matching object is loaded again and replaces the dataset. Uses the same AWS settings as the
    /// target (AWS_ENDPOINT_URL, credentials).
    #[command(mut_arg("mode", |a| a.help(
        "append (the default here): each new object's rows are added beside the dataset's, nothing is \
         replaced; merge: the partitions this run writes are replaced whole; replace: afterwards the \
         dataset holds exactly this run's objects."
    )))]
    LoadS3(LoadS3Args),
    /// Run the jobs of a job file (any sources: csv, s3, api, postgres, domo), so that one crontab line runs a
    /// team's whole load: --list, --job NAME, or --all; --jobs N at once.
    Run(JobsArgs),
    /// Hand a job file's jobs to a scheduler: `etl schedule export` writes Kubernetes CronJobs, Argo
    /// CronWorkflows, an Airflow DAG file or Dagster definitions that run them.
    Schedule(ScheduleArgs),
    /// Delete every object of one dataset (`datasets/<id>/`), and nothing else.
    ClearDataset(ClearDatasetArgs),
    /// Finish or roll back the publish a killed run left half-done (the next load does it too).
    Repair(RepairArgs),
    /// Turn a Hive dataset into a Delta Lake table in place: its files, as they are, become version 0
    /// (none is rewritten); later runs commit versions.
    Convert(ConvertArgs),
    /// Delete the files of a Delta table that no version of the last --retain hours reads, and those
    /// of runs that never committed. Never touches `_` folders; a Hive dataset has nothing to vacuum.
    Vacuum(VacuumArgs),
    /// Rewrite each partition grown to many small files (appends, drop folders) into one file: one
    /// commit that changes no row on a Delta table, a journaled publish on the Hive layout.
    Compact(CompactArgs),
    /// Show a dataset: schema, partitions, rows, bytes and its last run (from its manifest).
    Inspect(RecordArgs),
    /// One line per dataset of the target: its last run, its last success and its rows. Exits 1 when
    /// one needs a look: its last run failed or was stopped, a publish was interrupted, or
    /// (--stale-after) no run has succeeded for too long. Reads run records only, never data.
    Status(StatusArgs),
    /// List a dataset's runs, newest first.
    Runs(RecordArgs),
    /// Check the target the way a run uses it: reach it with the credentials, then PUT, GET, a
    /// create-only-if-absent (the lock), a multipart upload, a server-side copy and a delete, under a
    /// scratch prefix (`_doctor/<run-id>/`, emptied after); say what the dataset lock can promise.
    ///
    /// Exits 0 when every check passes (a store that ignores conditional writes is a warning), 1 when
    /// one fails, 2 when the target is misconfigured. Touches no dataset.
    Doctor(DoctorArgs),
    /// Print a shell completion script on stdout: `etl completions bash > /etc/bash_completion.d/etl`,
    /// `etl completions zsh > ~/.zfunc/_etl`, `etl completions fish > ~/.config/fish/completions/etl.fish`.
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff) on stdout: `etl man > /usr/local/share/man/man1/etl.1`.
    Man,
}

impl Command {
    /// Whether the command works on the target (its summary line names it); `schedule export` only
    /// writes files for a scheduler.
    pub fn uses_target(&self) -> bool {
        !matches!(self, Command::Schedule(_) | Command::Completions { .. } | Command::Man)
    }

    /// The command's name, for summaries.
    pub fn name(&self) -> &'static str {
        match self {
            Command::UploadCsv(_) => "upload-csv",
            Command::LoadCursorUsage(_) => "load-cursor-usage",
            Command::LoadDomo(_) => "load-domo",
            Command::LoadCsv(_) => "load-csv",
            Command::LoadApi(_) => "load-api",
            Command::LoadPostgres(_) => "load-postgres",
            Command::LoadS3(_) => "load-s3",
            Command::Run(_) => "run",
            Command::Schedule(_) => "schedule",
            Command::ClearDataset(_) => "clear-dataset",
            Command::Repair(_) => "repair",
            Command::Convert(_) => "convert",
            Command::Vacuum(_) => "vacuum",
            Command::Compact(_) => "compact",
            Command::Inspect(_) => "inspect",
            Command::Status(_) => "status",
            Command::Runs(_) => "runs",
            Command::Doctor(_) => "doctor",
            Command::Completions { .. } => "completions",
            Command::Man => "man",
        }
    }
}

/// What runs a parsed command: [`crate::commands::execute`] (passed in by [`crate::main`], so that the
/// command line does not depend on the commands it names). `Ok(None)`: the command printed a listing
/// and has no summary.
pub type Execute = fn(Command, Target, LogFormat) -> LocalBoxFuture<'static, crate::Result<Option<Summary>>>;

/// Parses `args`, runs the command with `execute` and turns the outcome into an exit code.
pub fn run(args: impl IntoIterator<Item = OsString>, execute: Execute) -> ExitCode {
    // `.env` first, so that clap's `env = ...` options see its variables.
    let dotenv = config::load_dotenv();
    // Parsed once: `--print-config` reads where each value came from in the matches.
    let args: Vec<OsString> = args.into_iter().collect();
    let parsed = <Cli as clap::CommandFactory>::command()
        .try_get_matches_from(&args)
        .and_then(|matches| Ok((<Cli as clap::FromArgMatches>::from_arg_matches(&matches)?, matches)));
    let (cli, matches) = match parsed {
        Ok(parsed) => parsed,
        Err(e) if e.use_stderr() => {
            // clap's usage line names every option it found a value for, the environment's (and
            // `.env`'s) too, as if the person had to type them: those are left out of it.
            let text = e.render().to_string();
            let unset = usage_without_environment(&text, &args);
            use std::io::IsTerminal;
            if unset == text && std::io::stderr().is_terminal() {
                // clap's colours, for a person.
                let _ = e.print();
            } else {
                crate::logging::eprint_lines(&unset);
            }
            return ExitCode::from(2);
        }
        Err(e) => {
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
    };
    crate::redact::register_environment();
    logging::init(cli.global.log_format, cli.global.verbose, cli.global.color);
    crate::monitor::configure(crate::monitor::Settings {
        metrics_dir: cli.global.metrics_dir.clone(),
        pushgateway: cli.global.pushgateway_url.clone().filter(|u| !u.trim().is_empty()),
        lineage: crate::monitor::lineage::Config::from_env(|name| std::env::var(name).ok()),
    });
    // Printed from clap's own definition: nothing to run, no summary.
    match &cli.command {
        Command::Completions { shell } => {
            let mut text = Vec::new();
            clap_complete::generate(*shell, &mut <Cli as clap::CommandFactory>::command(), "etl", &mut text);
            let _ = crate::stdout::print(&String::from_utf8_lossy(&text));
            return ExitCode::SUCCESS;
        }
        Command::Man => {
            let mut text = Vec::new();
            return match clap_mangen::Man::new(<Cli as clap::CommandFactory>::command()).render(&mut text) {
                Ok(()) => {
                    let _ = crate::stdout::print(&String::from_utf8_lossy(&text));
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    crate::logging::eprint_lines(&format!("error: could not write the man page: {e}"));
                    ExitCode::FAILURE
                }
            };
        }
        _ => {}
    }
    if cli.global.print_config {
        let target = cli.global.target.clone().unwrap_or_else(|| DEFAULT_TARGET.to_owned());
        let definition = <Cli as clap::CommandFactory>::command();
        let options = matches
            .subcommand()
            .and_then(|(name, sub)| Some(options_of(definition.find_subcommand(name)?, sub)))
            .unwrap_or_default();
        let from_dotenv = || {
            std::fs::read_to_string(".env").is_ok_and(|text| {
                text.lines()
                    .any(|l| l.trim_start().strip_prefix("ETL_TARGET=").is_some_and(|v| !v.trim().is_empty()))
            })
        };
        let target_source = match matches.value_source("target") {
            Some(clap::parser::ValueSource::CommandLine) => "--target",
            Some(clap::parser::ValueSource::EnvVariable) if from_dotenv() => "ETL_TARGET, from .env",
            Some(clap::parser::ValueSource::EnvVariable) => "ETL_TARGET in the environment",
            _ => "the default: no --target, ETL_TARGET or .env entry",
        };
        let target = format!("{target} ({target_source})");
        let text = config::describe(cli.command.name(), &target, cli.global.log_format, &options);
        // A closed pipe is the reader's choice, not a failure.
        let _ = crate::stdout::print(&text);
        return ExitCode::SUCCESS;
    }
    let started = Instant::now();
    let name = cli.command.name();
    // `etl run <file> --job NAME`: its summary and error lines name the job.
    let job = match &cli.command {
        Command::Run(args) if args.job.len() == 1 => Some(args.job[0].clone()),
        _ => None,
    };
    let uses_target = cli.command.uses_target();
    let target_text = cli.global.target.clone().unwrap_or_else(|| DEFAULT_TARGET.to_owned());
    let result = dotenv
        // A command that touches no target does not stop on one it would not use.
        .and_then(|()| Ok(Target::parse(if uses_target { &target_text } else { DEFAULT_TARGET })?))
        .map_err(anyhow::Error::from)
        .and_then(|target| {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .map_err(|e| anyhow::anyhow!("could not start the async runtime: {e}"))?;
            let outcome = runtime.block_on(async {
                crate::signals::listen();
                execute(cli.command, target, cli.global.log_format).await
            });
            // Work still running on blocking threads after an error (a stopped stage) is not waited for.
            runtime.shutdown_background();
            outcome.map_err(anyhow::Error::from)
        });
    match result {
        // Listing prints its table and no summary.
        Ok(None) => ExitCode::SUCCESS,
        Ok(Some(summary)) => {
            summary.print(cli.global.log_format);
            match (summary.exit_code, summary.status) {
                (Some(code), _) => ExitCode::from(code),
                (None, Status::Failed) => ExitCode::FAILURE,
                _ => ExitCode::SUCCESS,
            }
        }
        // The reader of stdout has seen enough (`| head`): no error, no summary.
        Err(err) if matches!(err.downcast_ref::<crate::Error>(), Some(crate::Error::ClosedOutput)) => {
            ExitCode::SUCCESS
        }
        Err(err) => {
            // A run stopped by a signal says so, whatever error the stop surfaced as (a Domo request
            // whose retries the signal ended, say).
            let signal = crate::signals::requested();
            let code = match signal {
                Some(signo) => 128 + signo as u8,
                None => err.downcast_ref::<crate::Error>().map_or(1, crate::Error::exit_code),
            };
            let cancelled = signal.is_some()
                || err
                    .downcast_ref::<crate::Error>()
                    .is_some_and(|e| matches!(e, crate::Error::Cancelled) || e.interrupted().is_some());
            // A failed check carries the run's summary, with every check's outcome.
            let mut summary = match err.downcast_ref::<crate::Error>() {
                Some(crate::Error::Checks { summary, .. }) => (**summary).clone(),
                _ => Summary::new(name, target_text),
            };
            summary.status = if cancelled { Status::Cancelled } else { Status::Failed };
            if cancelled && summary.rows_read == 0 {
                // What it had done when stopped (nothing of it published).
                summary.rows_read = crate::pipeline::rows_typed();
            }
            summary.seconds = started.elapsed().as_secs_f64();
            summary.job = summary.job.or(job.clone());
            let message = crate::redact::redact(&format!("{err:#}")).into_owned();
            let declined = matches!(err.downcast_ref::<crate::Error>(), Some(crate::Error::Cancelled));
            if cli.global.log_format == LogFormat::Text {
                // A declined confirmation is the person's choice, not an error.
                // Named once: an error that names the job already (`no job `nosuch``) goes as it is.
                let named = job
                    .as_ref()
                    .filter(|j| !message.contains(&format!("`{j}`")))
                    .map(|j| format!("\"{j}\": "))
                    .unwrap_or_default();
                let message = message.strip_prefix(&named).unwrap_or(&message);
                crate::logging::eprint_lines(&format!(
                    "{}{named}{message}",
                    if declined { "" } else { "error: " }
                ));
                if !uses_target {
                    // Nothing was read or written: the error is the whole story.
                    return ExitCode::from(code);
                }
            } else {
                summary.error = Some(message);
            }
            summary.print(cli.global.log_format);
            ExitCode::from(code)
        }
    }
}

/// `error` (clap's rendered usage error) with every `--option <VALUE>` of its `Usage:` line left
/// out whose value came from an environment variable rather than `args`.
fn usage_without_environment(error: &str, args: &[OsString]) -> String {
    let root = <Cli as clap::CommandFactory>::command();
    let typed = |long: &str| {
        args.iter().any(|a| {
            let a = a.to_string_lossy();
            a.strip_prefix("--").is_some_and(|rest| rest == long || rest.starts_with(&format!("{long}=")))
        })
    };
    let from_environment: Vec<String> = std::iter::once(&root)
        .chain(root.get_subcommands())
        .flat_map(clap::Command::get_arguments)
        .filter(|arg| arg.get_env().is_some_and(|var| std::env::var_os(var).is_some_and(|v| !v.is_empty())))
        .filter_map(|arg| arg.get_long().filter(|long| !typed(long)).map(|long| format!(" --{long} <")))
        .collect();
    error
        .lines()
        .map(|line| {
            let Some(usage) = line.strip_prefix("Usage: ") else { return line.to_owned() };
            let mut usage = usage.to_owned();
            for option in &from_environment {
                while let Some(at) = usage.find(option.as_str()) {
                    let end = usage[at..].find('>').map_or(usage.len(), |i| at + i + 1);
                    usage.replace_range(at..end, "");
                }
            }
            format!("Usage: {usage}")
        })
        .map(|line| line + "\n")
        .collect()
}

/// Every option of the command as it takes effect: `(name, value, where it came from)`, the global
/// options last; an option without a value says so, and what then happens (its help's
/// `[default: ...]`).
fn options_of(command: &clap::Command, matches: &clap::ArgMatches) -> Vec<(String, String, String)> {
    let root = <Cli as clap::CommandFactory>::command();
    let globals = root.get_arguments().filter(|a| a.is_global_set());
    let mut out = Vec::new();
    for arg in command.get_arguments().chain(globals) {
        let id = arg.get_id().as_str();
        if matches!(id, "print_config" | "target" | "log_format" | "help" | "version") || arg.is_hide_set() {
            continue;
        }
        let name = match arg.get_long() {
            Some(long) => format!("--{long}"),
            None => format!("<{}>", id.replace('_', "-")),
        };
        let help = arg.get_long_help().or(arg.get_help()).map(ToString::to_string).unwrap_or_default();
        let otherwise =
            help.split_once("[default: ").and_then(|(_, rest)| rest.rsplit_once(']')).map(|(default, _)| {
                format!("default: {}", default.split_whitespace().collect::<Vec<_>>().join(" "))
            });
        match matches.try_get_raw(id) {
            Ok(Some(values)) => {
                let values: Vec<String> = values.map(|v| v.to_string_lossy().into_owned()).collect();
                let source = match matches.value_source(id) {
                    Some(clap::parser::ValueSource::CommandLine) => "command line".to_owned(),
                    Some(clap::parser::ValueSource::EnvVariable) => "environment".to_owned(),
                    _ => otherwise.unwrap_or_else(|| "default".to_owned()),
                };
                out.push((name, values.join(", "), source));
            }
            _ => out.push((name, "not set".to_owned(), otherwise.unwrap_or_default())),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cli_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
