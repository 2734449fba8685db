//! One module per subcommand. Commands are thin: they receive resolved settings, assemble a source
//! and a [`LoadRequest`], and hand it to the load transaction ([`crate::pipeline::commit`], via
//! [`load_into`]).

pub mod clear_dataset;
pub mod context;
pub mod doctor;
pub mod inspect;
pub mod load_api;
pub mod load_csv;
pub mod load_cursor_usage;
pub mod load_domo;
pub mod load_postgres;
pub mod load_s3;
pub mod maintain;
pub mod repair;
pub mod run;
pub mod schedule;
pub mod status;
pub mod upload_csv;

pub use context::Context;

use crate::cli::Command;
use crate::error::Result;
use crate::load::layout::DatasetId;
use crate::settings::{
    self, ClearDatasetSettings, CursorUsageSettings, LoadApiSettings, LoadCsvSettings, LoadDomoSettings,
    LoadPostgresSettings, LoadS3Settings, UploadCsvSettings,
};
use crate::summary::Summary;

/// Resolves a parsed command's arguments into settings and runs it; `None` when it only printed a
/// listing (no summary).
pub async fn execute(command: Command, ctx: Context) -> Result<Option<Summary>> {
    let ctx = &ctx;
    let summary = match command {
        Command::UploadCsv(args) => upload_csv::run(UploadCsvSettings::resolve(args)?, ctx).await?,
        Command::LoadCursorUsage(args) => {
            load_cursor_usage::run(CursorUsageSettings::resolve(args)?, ctx).await?
        }
        Command::LoadDomo(args) => {
            let selection = settings::selection(args.select, &args.run);
            let domo = LoadDomoSettings::resolve(&args.domo, &args.write)?;
            return load_domo::run(&args.config, selection, domo, ctx).await;
        }
        Command::LoadCsv(args) => {
            let settings = LoadCsvSettings::resolve(args.config, args.select, &args.run, &args.write);
            return load_csv::run(settings, ctx).await;
        }
        Command::LoadApi(args) => load_api::run(LoadApiSettings::resolve(*args)?, ctx).await?,
        Command::LoadPostgres(args) => load_postgres::run(LoadPostgresSettings::resolve(args)?, ctx).await?,
        Command::LoadS3(args) => load_s3::run(LoadS3Settings::resolve(args)?, ctx).await?,
        Command::Run(args) => return run::run(args, ctx).await,
        Command::Schedule(args) => {
            let crate::cli::args::ScheduleCommand::Export(args) = args.command;
            schedule::export(args)?;
            return Ok(None);
        }
        Command::Inspect(args) => {
            inspect::inspect(&DatasetId::parse(&args.id)?, args.json, ctx).await?;
            return Ok(None);
        }
        Command::Runs(args) => {
            inspect::runs(&DatasetId::parse(&args.id)?, args.json, ctx).await?;
            return Ok(None);
        }
        Command::Status(args) => status::run(args, ctx).await?,
        Command::Doctor(args) => doctor::run(args.json, ctx).await?,
        Command::Repair(args) => repair::run(DatasetId::parse(&args.id)?, ctx).await?,
        Command::Convert(args) => maintain::convert(args, ctx).await?,
        Command::Vacuum(args) => maintain::vacuum(args, ctx).await?,
        Command::Compact(args) => maintain::compact(args, ctx).await?,
        Command::ClearDataset(args) => clear_dataset::run(ClearDatasetSettings::resolve(args)?, ctx).await?,
        // Printed at the edge, from clap's definition (`crate::cli::run`).
        Command::Completions { .. } | Command::Man => return Ok(None),
    };
    Ok(Some(summary))
}
