//! `etl load-cursor-usage`: the AI editor's team usage-events export into dataset `cursor-usage`,
//! partitioned by the UTC day of its `Date` column.
//!
//! The export comes in several header variants (with or without `User`, `Cloud Agent ID`,
//! `Automation ID`, `Kind`, `Max Mode`; a legacy `Date,User,Kind,Max Mode,Model,Tokens,Cost ($)`), so
//! columns are matched by name, never by position, and their types are pinned rather than guessed.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::context::{load_dataset, Context};
use crate::error::{Error, Result};
use crate::extract::csv::{last_file_matching, CsvFile, CsvOptions};
use crate::extract::Extract;
use crate::load::WriteMode;
use crate::pipeline::commit::LoadRequest;
use crate::settings::CursorUsageSettings;
use crate::summary::Summary;
use crate::transform::values::{DatetimeFormat, Zone};
use crate::transform::{Parser, Pins};

/// File names of the export: `team-usage-events-<...><export date>.csv`.
const FILE_PREFIX: &str = "team-usage-events-";
/// The column the dataset is partitioned by.
const DATE_COLUMN: &str = "Date";
const TEXT_COLUMNS: [&str; 6] = ["User", "Kind", "Model", "Cloud Agent ID", "Automation ID", "Email"];
const TOKEN_COLUMNS: [&str; 7] = [
    "Input (w/ Cache Write)",
    "Input (w/o Cache Write)",
    "Cache Read",
    "Output",
    "Output Tokens",
    "Total Tokens",
    "Tokens",
];
const COST_COLUMNS: [&str; 2] = ["Cost", "Cost ($)"];

/// The types this command knows for the export's columns.
pub fn pins() -> Pins {
    let mut pins = Pins::none()
        .pin(DATE_COLUMN, Parser::Datetime(DatetimeFormat::ISO, Zone::Offset))
        .pin("Max Mode", Parser::YesNo);
    for c in TEXT_COLUMNS {
        pins = pins.pin(c, Parser::Text);
    }
    for c in TOKEN_COLUMNS {
        pins = pins.pin(c, Parser::Int);
    }
    for c in COST_COLUMNS {
        pins = pins.pin(c, Parser::Money);
    }
    pins
}

/// The last `team-usage-events-*.csv` in `dir`, by file name (names end in the export date).
pub fn latest_export(dir: &Path) -> Result<PathBuf> {
    let found =
        last_file_matching(dir, |n| n.starts_with(FILE_PREFIX) && n.ends_with(".csv")).map_err(|e| {
            Error::Usage(format!(
                "cannot read the export folder `{}`: {e}; pass --file or --source-dir",
                dir.display()
            ))
        })?;
    found.ok_or_else(|| {
        Error::Usage(format!(
            "no `{FILE_PREFIX}*.csv` file in `{}`; pass --file to choose one",
            dir.display()
        ))
    })
}

/// Runs the command.
pub async fn run(settings: CursorUsageSettings, ctx: &Context) -> Result<Summary> {
    let file = match settings.file {
        Some(file) => file,
        None => latest_export(&settings.source_dir)?,
    };
    tracing::info!("loading {}", file.display());
    let source = CsvFile::new(&file, CsvOptions::default())?;
    let columns = source.open()?.columns().to_vec();
    if !columns.iter().any(|c| c == DATE_COLUMN) {
        return Err(Error::Usage(format!(
            "`{}` has no `{DATE_COLUMN}` column, so it is not a usage-events export; its columns are: {}",
            file.display(),
            columns.join(", ")
        )));
    }
    let size = std::fs::metadata(&file).ok().map(|m| m.len());
    let request = LoadRequest {
        source_size: size,
        progress: ctx.progress(&settings.dataset, size),
        partition_column: Some(DATE_COLUMN.to_owned()),
        pins: pins().with_decimal_comma(source.decimal_comma()),
        ..LoadRequest::new("load-cursor-usage", Arc::new(source), settings.dataset)
    }
    .written_as(&settings.write, WriteMode::Merge);
    // The export was picked by name: the summary says which one.
    let mut summary = load_dataset(request, ctx).await?;
    summary.notes.insert(0, format!("loaded {}", file.display()));
    Ok(summary)
}
