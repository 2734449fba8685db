//! `etl run <jobs.yaml>`: the selected jobs of a job file, each run as its own command would run it,
//! from the arguments [`crate::jobs`] read out of the file (checked, every one, before any runs).

use super::context::Context;
use super::{load_api, load_domo, load_postgres, load_s3, upload_csv};
use crate::catalog::Catalog;
use crate::cli::args::{JobsArgs, SelectArgs, WriteArgs};
use crate::error::Result;
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

/// One job: its arguments resolved into settings (secrets read now), then its command's run.
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
            args.csv_file = job.csv_file(&args, latest_in)?;
            args.dataset.dry_run |= dry_run;
            overrides.apply(&mut args.write);
            upload_csv::run(UploadCsvSettings::resolve(args)?, ctx).await
        }
        JobLoad::S3(args) => {
            let mut args = args.clone();
            args.dataset.dry_run |= dry_run;
            overrides.apply(&mut args.write);
            load_s3::run(LoadS3Settings::resolve(args)?, ctx).await
        }
        JobLoad::Api(args) => {
            let mut args = (**args).clone();
            args.dataset.dry_run |= dry_run;
            overrides.apply(&mut args.write);
            load_api::run(LoadApiSettings::resolve(args)?, ctx).await
        }
        JobLoad::Postgres(args) => {
            let mut args = args.clone();
            args.dataset.dry_run |= dry_run;
            overrides.apply(&mut args.write);
            load_postgres::run(LoadPostgresSettings::resolve(args)?, ctx).await
        }
        JobLoad::Domo { entry, domo, write, dry_run: own } => {
            let mut write = write.clone();
            overrides.apply(&mut write);
            let settings = LoadDomoSettings::resolve(domo, &write)?;
            let options = RunOptions { jobs: 1, batch: false, log_format: ctx.log_format };
            load_domo::load_entries(vec![entry], file, options, dry_run || *own, &settings, ctx).await
        }
    }
}
