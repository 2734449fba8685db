//! Settings: each command's arguments (from the command line or a job file, see [`crate::cli::args`])
//! resolved into validated, plain values before the command runs, as uv's `settings.rs` does.
//! Commands receive these, never raw flags.
//!
//! [`check`] holds what a job file must pass before any job runs: the rules clap applies on the
//! command line (allowed values, ranges, options that need each other), without reading the
//! environment; `resolve` (per command) then reads secrets and URLs from it.

use std::path::PathBuf;
use std::time::Duration;

use crate::cli::args::{
    ClearDatasetArgs, DomoArgs, LoadApiArgs, LoadCursorUsageArgs, LoadPostgresArgs, LoadS3Args, ReadArgs,
    RunArgs, SelectArgs, UploadCsvArgs, WriteArgs,
};
use crate::error::{Error, Result};
use crate::extract::api::{ApiSettings, Auth, Paging, Secret};
use crate::extract::csv::{parse_comment_char, parse_delimiter, CsvOptions};
use crate::extract::domo::DomoSettings;
use crate::extract::input::encoding_for_label;
use crate::extract::objects::ObjectGlob;
use crate::extract::postgres::{table_name, PgSource};
use crate::http::RetryPolicy;
use crate::load::layout::DatasetId;
use crate::load::parquet::WriterOptions;
use crate::logging::LogFormat;
use crate::pipeline::commit::{primary_key, WriteSettings};
use crate::runner::RunOptions;
use crate::transform::{parse_assignments, pins_from, NullTokens, Pins};

/// `etl upload-csv`.
#[derive(Debug, Clone)]
pub struct UploadCsvSettings {
    pub file: PathBuf,
    pub dataset: DatasetId,
    pub partition_column: Option<String>,
    pub read: CsvRead,
    pub write: WriteSettings,
}

/// How a CSV source is read and typed (upload-csv, load-s3).
#[derive(Debug, Clone)]
pub struct CsvRead {
    pub csv: CsvOptions,
    /// `--types` and `--date-format`.
    pub pins: Pins,
    /// `--null-values`.
    pub null_values: NullTokens,
}

/// `etl load-cursor-usage`.
#[derive(Debug, Clone)]
pub struct CursorUsageSettings {
    pub file: Option<PathBuf>,
    pub source_dir: PathBuf,
    pub dataset: DatasetId,
    pub write: WriteSettings,
}

/// Which catalog entries a catalog-driven command (`load-domo`, `load-csv`, `run`) works on.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// Only print the catalog.
    pub list: bool,
    /// Entries named by name, dataset id or source id.
    pub names: Vec<String>,
    /// Every enabled entry.
    pub all: bool,
    /// Loads at once (`None`: sized from the cores and the sources, [`crate::runner::default_jobs`]).
    pub jobs: Option<usize>,
    pub dry_run: bool,
}

impl Selection {
    /// How the runner runs the selected entries.
    pub fn options(&self, log_format: LogFormat) -> RunOptions {
        RunOptions { jobs: self.jobs, batch: self.all || self.names.len() > 1, log_format }
    }
}

/// `etl load-csv`.
#[derive(Debug, Clone)]
pub struct LoadCsvSettings {
    pub config: PathBuf,
    pub selection: Selection,
    pub write: WriteSettings,
}

/// `etl load-domo`, and a `domo` job.
#[derive(Debug, Clone)]
pub struct LoadDomoSettings {
    pub domo: DomoSettings,
    pub write: WriteSettings,
}

/// `etl load-api`.
#[derive(Debug, Clone)]
pub struct LoadApiSettings {
    pub api: ApiSettings,
    pub dataset: DatasetId,
    pub partition_column: Option<String>,
    /// `--types` and `--date-format`, over the types the JSON values give.
    pub pins: Pins,
    pub write: WriteSettings,
    pub incremental: Option<ApiIncremental>,
}

/// `--incremental-field`, `--since-param`, `--full-refresh`.
#[derive(Debug, Clone)]
pub struct ApiIncremental {
    pub field: String,
    pub param: String,
    pub full_refresh: bool,
}

/// `etl load-postgres`.
#[derive(Debug, Clone)]
pub struct LoadPostgresSettings {
    pub source: PgSource,
    pub dataset: DatasetId,
    pub partition_column: Option<String>,
    /// `--types`, over PostgreSQL's types.
    pub pins: Pins,
    pub write: WriteSettings,
    /// `--incremental-column`, and `--full-refresh`.
    pub incremental: Option<(String, bool)>,
}

/// `etl load-s3`.
#[derive(Debug, Clone)]
pub struct LoadS3Settings {
    pub source: ObjectGlob,
    pub dataset: DatasetId,
    pub partition_column: Option<String>,
    pub read: CsvRead,
    pub write: WriteSettings,
}

/// `etl clear-dataset`.
#[derive(Debug, Clone)]
pub struct ClearDatasetSettings {
    pub dataset: DatasetId,
    pub dry_run: bool,
    pub yes: bool,
}

impl UploadCsvSettings {
    pub fn resolve(args: UploadCsvArgs) -> Result<Self> {
        check::write(&args.write)?;
        Ok(UploadCsvSettings {
            read: read(&args.read)?,
            file: args.csv_file,
            dataset: DatasetId::parse(&args.dataset.dataset_id)?,
            partition_column: args.dataset.partition_col,
            write: write(&args.write, args.dataset.dry_run),
        })
    }
}

impl CursorUsageSettings {
    pub fn resolve(args: LoadCursorUsageArgs) -> Result<Self> {
        Ok(CursorUsageSettings {
            file: args.file,
            source_dir: args.source_dir,
            dataset: DatasetId::parse(&args.dataset_id)?,
            write: write(&args.write, args.dry_run),
        })
    }
}

impl LoadCsvSettings {
    pub fn resolve(config: PathBuf, select: SelectArgs, run: &RunArgs, write_args: &WriteArgs) -> Self {
        LoadCsvSettings { config, selection: selection(select, run), write: write(write_args, false) }
    }
}

impl LoadDomoSettings {
    pub fn resolve(domo: &DomoArgs, write_args: &WriteArgs) -> Result<Self> {
        check::write(write_args)?;
        Ok(LoadDomoSettings {
            domo: DomoSettings {
                host: domo.domo_host.clone(),
                token_timeout: Duration::from_secs(domo.token_timeout),
                export_timeout: Duration::from_secs(domo.export_timeout),
                retry: RetryPolicy { retries: domo.retries, ..Default::default() },
            },
            write: write(write_args, false),
        })
    }
}

impl LoadApiSettings {
    pub fn resolve(args: LoadApiArgs) -> Result<Self> {
        check::api(&args)?;
        // The pins first: a mistake in them is reported before one in the request.
        let pins = pins_of(&args.types, &args.date_format)?;
        Ok(LoadApiSettings {
            api: api(&args)?,
            pins,
            dataset: DatasetId::parse(&args.dataset.dataset_id)?,
            partition_column: args.dataset.partition_col,
            incremental: args.incremental_field.zip(args.since_param).map(|(field, param)| ApiIncremental {
                field,
                param,
                full_refresh: args.full_refresh,
            }),
            write: write(&args.write, args.dataset.dry_run),
        })
    }
}

impl LoadPostgresSettings {
    pub fn resolve(args: LoadPostgresArgs) -> Result<Self> {
        check::postgres(&args)?;
        let pins = pins_of(&args.types, &[])?;
        let (query, table) = match (&args.query, &args.table) {
            (Some(query), _) => (query.clone(), None),
            (None, Some(table)) => {
                let table = table_name(table).map_err(|e| usage("--table", e))?;
                (format!("SELECT * FROM {table}"), Some(table))
            }
            (None, None) => return Err(Error::Usage("give --query or --table".into())),
        };
        let url = match args.url {
            Some(url) => url,
            None => std::env::var(&args.url_env).map_err(|_| {
                Error::Usage(format!(
                    "no PostgreSQL URL: pass --url, or set {} in the environment or .env",
                    args.url_env
                ))
            })?,
        };
        crate::extract::postgres::register_password(&url);
        Ok(LoadPostgresSettings {
            source: PgSource { url, query, table, incremental: None },
            dataset: DatasetId::parse(&args.dataset.dataset_id)?,
            partition_column: args.dataset.partition_col,
            pins,
            write: write(&args.write, args.dataset.dry_run),
            incremental: args.incremental_column.map(|c| (c, args.full_refresh)),
        })
    }
}

impl LoadS3Settings {
    pub fn resolve(args: LoadS3Args) -> Result<Self> {
        check::s3(&args)?;
        Ok(LoadS3Settings {
            read: read(&args.read)?,
            source: args.source.ok_or_else(|| Error::Usage("--source is missing".into()))?,
            dataset: DatasetId::parse(&args.dataset.dataset_id)?,
            partition_column: args.dataset.partition_col,
            write: write(&args.write, args.dataset.dry_run),
        })
    }
}

impl ClearDatasetSettings {
    pub fn resolve(args: ClearDatasetArgs) -> Result<Self> {
        Ok(ClearDatasetSettings {
            dataset: DatasetId::parse(&args.id)?,
            dry_run: args.dry_run,
            yes: args.yes,
        })
    }
}

/// The selection of `--list`, `--dataset`/`--job`, `--all`, with `--jobs` and `--dry-run`.
pub fn selection(select: SelectArgs, run: &RunArgs) -> Selection {
    Selection {
        list: select.list,
        names: select.dataset,
        all: select.all,
        jobs: run.jobs.map(usize::from),
        dry_run: run.dry_run,
    }
}

/// How a loading command writes (`dry_run`: `--dry-run` of a single-dataset command).
pub fn write(args: &WriteArgs, dry_run: bool) -> WriteSettings {
    WriteSettings {
        files: WriterOptions {
            max_rows_per_file: args.max_rows_per_file,
            sort_by: primary_key(&args.sort_by),
            row_group_bytes: args.row_group_size.map(|size| size.0),
            ..Default::default()
        },
        mode: args.mode.as_deref().and_then(|m| m.parse().ok()),
        allow_schema_change: args.allow_schema_change,
        allow_empty: args.allow_empty,
        append_again: args.append_again,
        wait_lock: Duration::from_secs(args.wait_lock),
        dry_run,
        partition_range: args.partition_range,
        primary_key: primary_key(&args.primary_key),
        dedup_by: args.dedup_by.as_deref().map(str::trim).map(str::to_owned),
        // Checked by `check::write` before any run.
        checks: args.check.iter().flat_map(|c| crate::checks::parse_flag(c).unwrap_or_default()).collect(),
        sensitive: primary_key(&args.sensitive),
        table_format: args.table_format.as_deref().and_then(|f| f.parse().ok()),
    }
}

/// A usage error naming the option.
fn usage(flag: &str, e: String) -> Error {
    Error::Usage(format!("{flag}: {e}"))
}

/// The reader's options, the pins and the null tokens of a CSV source, or a usage error naming the
/// option.
pub fn read(args: &ReadArgs) -> Result<CsvRead> {
    check::read(args)?;
    let delimiter =
        args.delimiter.as_deref().map(parse_delimiter).transpose().map_err(|e| usage("--delimiter", e))?;
    let encoding = args
        .encoding
        .as_deref()
        .map(|label| {
            encoding_for_label(label).ok_or_else(|| {
                usage("--encoding", format!("`{label}` is unknown; use e.g. utf-8, windows-1252, shift_jis"))
            })
        })
        .transpose()?;
    let pins = pins_of(&args.types, &args.date_format)?;
    let comment = args
        .comment_char
        .as_deref()
        .map(parse_comment_char)
        .transpose()
        .map_err(|e| usage("--comment-char", e))?
        .unwrap_or_default();
    let options = CsvOptions {
        delimiter,
        comment,
        skip_rows: args.skip_rows,
        decimal_comma: args.decimal_comma.then_some(true),
        encoding,
        header: match (args.header, args.no_header) {
            (true, _) => Some(true),
            (_, true) => Some(false),
            _ => None,
        },
        bad_rows: args.on_bad_rows.parse().map_err(|e| usage("--on-bad-rows", e))?,
        normalize_columns: args.normalize_columns,
    };
    let nulls = match &args.null_values {
        Some(list) => NullTokens::new(&list.split(',').collect::<Vec<_>>()),
        None => NullTokens::standard(),
    };
    Ok(CsvRead { csv: options, pins, null_values: nulls })
}

/// The pins of `--types` and `--date-format` (each repeatable, each a `COL=VALUE,...` list).
pub fn pins_of(types: &[String], date_formats: &[String]) -> Result<Pins> {
    let mut pairs = Vec::new();
    for text in types {
        pairs.extend(parse_assignments(text).map_err(|e| usage("--types", e))?);
    }
    let mut formats = Vec::new();
    for text in date_formats {
        formats.extend(parse_assignments(text).map_err(|e| usage("--date-format", e))?);
    }
    pins_from(&pairs, &formats).map_err(|e| usage("--types/--date-format", e))
}

/// The request, auth and paging of `load-api`; secrets are read from the environment here.
fn api(args: &LoadApiArgs) -> Result<ApiSettings> {
    let url =
        crate::http::check_url("--url", &args.url, "give credentials with --auth").map_err(Error::Usage)?;
    let method = reqwest::Method::from_bytes(args.method.to_ascii_uppercase().as_bytes())
        .map_err(|e| usage("--method", e.to_string()))?;
    let headers = args
        .headers
        .iter()
        .map(|h| {
            h.split_once(':')
                .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
                .ok_or_else(|| usage("--header", format!("`{h}` is not `Name: value`")))
        })
        .collect::<Result<Vec<_>>>()?;
    let query = args
        .query
        .iter()
        .map(|q| {
            q.split_once('=')
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .ok_or_else(|| usage("--query", format!("`{q}` is not `name=value`")))
        })
        .collect::<Result<Vec<_>>>()?;
    let auth = match args.auth.as_str() {
        "api-key" => {
            let key = Secret::from_env(&args.api_key_env, "--auth api-key")?;
            match &args.api_key_query {
                Some(name) => Auth::KeyQuery { name: name.clone(), key },
                None => Auth::KeyHeader {
                    name: args.api_key_header.clone().unwrap_or_else(|| "X-Api-Key".into()),
                    key,
                },
            }
        }
        "bearer" => Auth::Bearer(Secret::from_env(&args.token_env, "--auth bearer")?),
        "basic" => Auth::basic(
            Secret::from_env(&args.user_env, "--auth basic")?,
            Secret::from_env(&args.password_env, "--auth basic")?,
        ),
        "oauth2" => {
            let token_url = args
                .token_url
                .as_deref()
                .ok_or_else(|| usage("--auth oauth2", "needs --token-url".into()))?;
            Auth::oauth2(
                crate::http::check_url("--token-url", token_url, "give the client's id and secret in the environment (--client-id-env, --client-secret-env)")
                    .map_err(Error::Usage)?,
                Secret::from_env(&args.client_id_env, "--auth oauth2")?,
                Secret::from_env(&args.client_secret_env, "--auth oauth2")?,
                args.scope.clone(),
            )
        }
        _ => Auth::None,
    };
    let paging = match args.paginate.as_str() {
        "page" => Paging::Page {
            param: args.page_param.clone(),
            start: args.page_start,
            size: args
                .page_size
                .map(|n| (args.page_size_param.clone().unwrap_or_else(|| "per_page".into()), n)),
        },
        "offset" => Paging::Offset {
            offset_param: args.offset_param.clone(),
            limit_param: args.limit_param.clone(),
            limit: args.page_size.ok_or_else(|| usage("--paginate offset", "needs --page-size".into()))?,
        },
        "cursor" => Paging::Cursor {
            path: args
                .cursor_path
                .clone()
                .ok_or_else(|| usage("--paginate cursor", "needs --cursor-path".into()))?,
            param: args.cursor_param.clone(),
        },
        "link" => Paging::Link,
        _ => Paging::None,
    };
    if args.max_rps.is_some_and(|r| r.is_nan() || !(0.001..=10_000.0).contains(&r)) {
        return Err(usage("--max-rps", "must be between 0.001 and 10000".into()));
    }
    Ok(ApiSettings {
        url,
        method,
        headers,
        query,
        auth,
        records: args.records.clone(),
        paging,
        max_pages: args.max_pages.max(1),
        max_page_bytes: args.max_page_bytes.0,
        max_rps: args.max_rps,
        retry: RetryPolicy { retries: args.retries, ..Default::default() },
        timeout: Duration::from_secs(args.timeout.max(1)),
        since: None,
        track: None,
        keep_at_checkpoint: false,
        explode: args.explode.clone(),
    })
}

/// What clap checks on the command line, for options that come from a job file: values among the
/// allowed ones, numbers in range, options that need or exclude each other. Nothing here reads the
/// environment.
pub mod check {
    use super::{usage, Error, Result};
    use crate::cli::args::{LoadApiArgs, LoadPostgresArgs, LoadS3Args, ReadArgs, WriteArgs};

    /// The least `--row-group-size`: a few hundred rows of a typical table.
    const MIN_ROW_GROUP_BYTES: u64 = 16 << 10;

    fn one_of(flag: &str, value: &str, allowed: &[&str]) -> Result<()> {
        if allowed.contains(&value) {
            return Ok(());
        }
        Err(usage(flag, format!("`{value}` is not one of {}", allowed.join(", "))))
    }

    fn needs(flag: &str, given: bool, other: &str, other_given: bool) -> Result<()> {
        match given && !other_given {
            true => Err(Error::Usage(format!("{flag} needs {other}"))),
            false => Ok(()),
        }
    }

    pub fn write(args: &WriteArgs) -> Result<()> {
        if let Some(mode) = &args.mode {
            one_of("--mode", mode, &["merge", "replace", "append", "upsert"])?;
        }
        let key = crate::pipeline::commit::checked_primary_key(&args.primary_key)
            .map_err(|e| usage("--primary-key", e))?;
        match args.mode.as_deref() {
            Some("upsert") if key.is_empty() => {
                return Err(usage(
                    "--mode upsert",
                    "needs --primary-key: the columns that identify a row".into(),
                ))
            }
            Some(mode @ ("merge" | "append")) if !key.is_empty() => {
                return Err(usage(
                    "--primary-key",
                    format!(
                        "rows are upserted by their key; --mode {mode} does not use one: leave --mode out \
                         (upsert) or give --mode replace to reload everything under this key"
                    ),
                ))
            }
            _ => {}
        }
        needs("--dedup-by", args.dedup_by.is_some(), "--primary-key", !key.is_empty())?;
        for check in &args.check {
            crate::checks::parse_flag(check).map_err(|e| usage("--check", e))?;
        }
        if args.max_rows_per_file == Some(0) {
            return Err(usage("--max-rows-per-file", "must be at least 1".into()));
        }
        // A size without its unit (`1` meant as 1 MiB) would make a row group of every row or two:
        // files a hundred times their size, and slow to read.
        if let Some(size) = args.row_group_size.filter(|s| s.0 < MIN_ROW_GROUP_BYTES) {
            let least = crate::bytesize::ByteSize(MIN_ROW_GROUP_BYTES);
            let why = format!("{size} is too small: give at least {least} (a unit: KiB, MiB)");
            return Err(usage("--row-group-size", why));
        }
        Ok(())
    }

    pub fn read(args: &ReadArgs) -> Result<()> {
        one_of("--on-bad-rows", &args.on_bad_rows, &["fail", "skip", "quarantine"])
    }

    pub fn api(args: &LoadApiArgs) -> Result<()> {
        write(&args.write)?;
        one_of("--auth", &args.auth, &["none", "api-key", "bearer", "basic", "oauth2"])?;
        one_of("--paginate", &args.paginate, &["none", "page", "offset", "cursor", "link"])?;
        if args.page_size == Some(0) {
            return Err(usage("--page-size", "must be at least 1".into()));
        }
        let field = args.incremental_field.is_some();
        needs("--incremental-field", field, "--since-param", args.since_param.is_some())?;
        needs("--since-param", args.since_param.is_some(), "--incremental-field", field)?;
        needs("--full-refresh", args.full_refresh, "--incremental-field", field)
    }

    pub fn postgres(args: &LoadPostgresArgs) -> Result<()> {
        write(&args.write)?;
        if args.query.is_some() == args.table.is_some() {
            return Err(Error::Usage("give either --query or --table".into()));
        }
        needs("--full-refresh", args.full_refresh, "--incremental-column", args.incremental_column.is_some())
    }

    /// The environment's `DOMO_*` numbers, which a domo job's defaults come from (as clap reads
    /// them for `load-domo`).
    pub fn domo_environment() -> Result<()> {
        for (name, max) in [
            ("DOMO_TOKEN_TIMEOUT", u64::MAX),
            ("DOMO_EXPORT_TIMEOUT", u64::MAX),
            ("DOMO_RETRIES", 4_294_967_295),
        ] {
            if let Ok(value) = std::env::var(name) {
                let n: u64 = value.parse().map_err(|e| Error::Usage(format!("{name}: `{value}`: {e}")))?;
                if n > max {
                    return Err(Error::Usage(format!("{name}: `{value}` is too large")));
                }
            }
        }
        Ok(())
    }

    pub fn s3(args: &LoadS3Args) -> Result<()> {
        write(&args.write)?;
        read(&args.read)?;
        match args.source {
            Some(_) => Ok(()),
            None => Err(Error::Usage("--source is missing".into())),
        }
    }
}
