//! `etl run <jobs.yaml>`: the selected jobs of a job file, each run as its own command would run it,
//! from the arguments [`crate::jobs`] read out of the file (checked, every one, before any runs).

use super::context::{watched, Context};
use super::{load_api, load_domo, load_postgres, load_s3, upload_csv};
use crate::catalog::Catalog;
use crate::cli::args::{JobsArgs, SelectArgs, WriteArgs};
use crate::error::Result;
use crate::extract::SourceInfo;
use crate::jobs::{self, Job, JobLoad};
use crate::load::layout::PartitionRange;
use crate::runner::{run_entries, RunOptions};
use crate::settings::{
    self, LoadApiSettings, LoadDomoSettings, LoadPostgresSettings, LoadS3Settings, UploadCsvSettings,
};
use crate::summary::Summary;

/// Runs the command; `None` when it only listed the jobs.
pub async fn run(args: JobsArgs, ctx: &Context) -> Result<Option<Summary>> {
    let catalog = Catalog { path: args.file.clone(), entries: jobs::load(&args.file)? };
    if args.list {
        crate::stdout::print(&catalog.list())?;
        return Ok(None);
    }
    let selection =
        settings::selection(SelectArgs { list: false, dataset: args.job, all: args.all }, &args.run);
    let entries = catalog.select(&selection.names, selection.all)?;
    let target = crate::store::open(&ctx.target).await?.url();
    let dry_run = selection.dry_run;
    let file = &args.file;
    let overrides = Overrides { partition_range: args.partition_range, wait_lock: args.wait_lock };
    run_entries("run", target, entries, selection.options(ctx.log_format), |job| {
        // Its loads' records, metrics and lineage events name the job.
        Box::pin(crate::monitor::in_job(&job.name, run_job(job, dry_run, overrides, file, ctx)))
    })
    .await
    .map(Some)
}

/// What `etl run` sets for every job, in place of the job's own.
#[derive(Clone, Copy)]
struct Overrides {
    partition_range: Option<PartitionRange>,
    wait_lock: Option<u64>,
}

impl Overrides {
    fn apply(self, write: &mut WriteArgs) {
        write.partition_range = self.partition_range.or(write.partition_range);
        write.wait_lock = self.wait_lock.unwrap_or(write.wait_lock);
    }
}

/// One job: its arguments resolved into settings (secrets read now), then its command's run. A job
/// that fails before its command begins its run (its file not there, a setting missing) is a failed
/// run of its dataset all the same: recorded and reported ([`failed_before`]).
async fn run_job(
    job: &Job,
    dry_run: bool,
    overrides: Overrides,
    file: &std::path::Path,
    ctx: &Context,
) -> Result<Summary> {
    tracing::info!("job \"{}\": {} → {}", job.name, job.kind, job.dataset);
    match &job.load {
        JobLoad::Csv { args, latest_in } => {
            let mut args = args.clone();
            let dry_run = dry_run || args.dataset.dry_run;
            let settings = job.csv_file(&args, latest_in).and_then(|csv_file| {
                args.csv_file = csv_file;
                args.dataset.dry_run = dry_run;
                overrides.apply(&mut args.write);
                UploadCsvSettings::resolve(args)
            });
            match settings {
                Ok(settings) => upload_csv::run(settings, ctx).await,
                Err(e) => failed_before(job, "upload-csv", job_location(job), dry_run, e, ctx).await,
            }
        }
        JobLoad::S3(args) => {
            let mut args = args.clone();
            args.dataset.dry_run |= dry_run;
            overrides.apply(&mut args.write);
            let dry_run = args.dataset.dry_run;
            match LoadS3Settings::resolve(args) {
                Ok(settings) => load_s3::run(settings, ctx).await,
                Err(e) => failed_before(job, "load-s3", job_location(job), dry_run, e, ctx).await,
            }
        }
        JobLoad::Api(args) => {
            let mut args = (**args).clone();
            args.dataset.dry_run |= dry_run;
            overrides.apply(&mut args.write);
            let dry_run = args.dataset.dry_run;
            match LoadApiSettings::resolve(args) {
                Ok(settings) => load_api::run(settings, ctx).await,
                Err(e) => failed_before(job, "load-api", job_location(job), dry_run, e, ctx).await,
            }
        }
        JobLoad::Postgres(args) => {
            let mut args = args.clone();
            args.dataset.dry_run |= dry_run;
            overrides.apply(&mut args.write);
            let dry_run = args.dataset.dry_run;
            match LoadPostgresSettings::resolve(args) {
                Ok(settings) => load_postgres::run(settings, ctx).await,
                Err(e) => failed_before(job, "load-postgres", job_location(job), dry_run, e, ctx).await,
            }
        }
        JobLoad::Domo { entry, domo, write, dry_run: own } => {
            let mut write = write.clone();
            overrides.apply(&mut write);
            let dry_run = dry_run || *own;
            let settings = match LoadDomoSettings::resolve(domo, &write) {
                Ok(settings) => settings,
                Err(e) => return failed_before(job, "load-domo", job_location(job), dry_run, e, ctx).await,
            };
            let options = RunOptions { jobs: Some(1), batch: false, log_format: ctx.log_format };
            load_domo::load_entries(vec![entry], file, options, dry_run, &settings, ctx).await
        }
    }
}

/// Where a job reads, as its record names a source it never got to open: a CSV job's file or
/// pattern, else its kind.
fn job_location(job: &Job) -> String {
    match &job.load {
        JobLoad::Csv { latest_in: Some((dir, pattern)), .. } => {
            format!("{}/{}", dir.display(), pattern.as_str())
        }
        JobLoad::Csv { args, .. } => args.csv_file.display().to_string(),
        JobLoad::S3(args) => args.source.as_ref().map_or_else(|| job.kind.clone(), ToString::to_string),
        JobLoad::Domo { entry, .. } => crate::extract::domo::source_name(&entry.domo_id, &entry.name),
        _ => job.kind.clone(),
    }
}

/// The run of a job that failed before its command could begin it: its record kept, its failure
/// reported, `error` returned.
async fn failed_before(
    job: &Job,
    command: &'static str,
    location: String,
    dry_run: bool,
    error: crate::error::Error,
    ctx: &Context,
) -> Result<Summary> {
    let kind: &'static str = match job.kind.as_str() {
        "csv" => "csv",
        "s3" => "s3",
        "api" => "api",
        "postgres" => "postgres",
        _ => "domo",
    };
    let store = crate::store::open(&ctx.target).await?;
    let source = SourceInfo { kind, location };
    watched(command, &job.dataset, source, store.as_ref(), dry_run, |_| async { Err(error) }).await
}
