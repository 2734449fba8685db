//! The command line: clap definitions, the resolution of raw arguments into settings, and the edge
//! where errors become messages and exit codes.

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{Args, Parser, Subcommand};

use crate::commands::{self, Context};
use crate::config::{self, Target, DEFAULT_TARGET};
use crate::extract::csv::{parse_delimiter, CsvOptions};
use crate::extract::input::encoding_for_label;
use crate::logging::{self, LogFormat};
use crate::summary::Summary;
use crate::transform::{parse_assignments, pins_from, NullTokens, Pins};

/// Load CSV files, S3 drop folders, REST APIs, PostgreSQL and Domo into typed, date-partitioned
/// Parquet on S3 or a local folder.
///
/// Datasets are laid out as `datasets/<id>/data/part-0000.parquet` or
/// `datasets/<id>/partitions/date=YYYY-MM-DD/part-0000.parquet`, readable as a Hive-partitioned table.
#[derive(Debug, Parser)]
#[command(name = "etl", version, propagate_version = true, max_term_width = 100)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
    #[command(flatten)]
    global: GlobalArgs,
}

/// Options every subcommand takes.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Where datasets live: `s3://bucket[/prefix]` or a local folder [default: ./lake].
    ///
    /// S3 settings come from the usual AWS chain (AWS_ACCESS_KEY_ID, AWS_PROFILE, ...);
    /// AWS_ENDPOINT_URL points at MinIO or another S3-compatible server.
    #[arg(long, env = "ETL_TARGET", global = true, value_name = "URL|DIR")]
    target: Option<String>,

    /// More detail in the logs (-v: info, -vv: debug, -vvv: trace). RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,

    /// Log and summary format on stderr.
    #[arg(long, value_enum, env = "ETL_LOG_FORMAT", default_value_t = LogFormat::Text, global = true)]
    log_format: LogFormat,

    /// Print the effective configuration (flags, environment, .env; secrets masked) and exit.
    #[arg(long, global = true)]
    print_config: bool,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Load one CSV file into a dataset, typing every column from all of its values.
    UploadCsv(UploadCsvArgs),
    /// Load the editor's team usage-events export into the `cursor-usage` dataset, partitioned by day.
    LoadCursorUsage(LoadCursorUsageArgs),
    /// Load Domo datasets listed in a catalog (config/domo_datasets.yaml) through Domo's API.
    ///
    /// Needs DOMO_CLIENT_ID and DOMO_CLIENT_SECRET (environment or .env) of an API client with the
    /// `data` scope. Columns are typed from Domo's schema; columns it does not type are inferred.
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
    LoadS3(LoadS3Args),
    /// Run the jobs of a job file (any sources: csv, s3, api, postgres, domo), so that one crontab line runs a
    /// team's whole load: --list, --job NAME, or --all; --jobs N at once.
    Run(JobsArgs),
    /// Delete every object of one dataset (`datasets/<id>/`), and nothing else.
    ClearDataset(ClearDatasetArgs),
    /// Show a dataset: schema, partitions, rows, bytes and its last run (from its manifest).
    Inspect(RecordArgs),
    /// List a dataset's runs, newest first.
    Runs(RecordArgs),
}

/// Options shared by commands that write a dataset.
#[derive(Debug, Args)]
struct WriteArgs {
    /// Split each partition into files of at most N rows (part-0000, part-0001, ...). By default
    /// each partition is exactly one `part-0000.parquet`, which existing readers expect.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    max_rows_per_file: Option<u64>,
    /// merge: the partitions this run writes are replaced whole, the others stay (the default when
    /// partitioned); replace: afterwards the dataset holds exactly this run's data (the default for
    /// load-domo and for unpartitioned loads); append: this run's files are added beside the
    /// dataset's, nothing is replaced (the default for load-s3).
    #[arg(long, value_name = "MODE", value_parser = ["merge", "replace", "append"])]
    mode: Option<String>,
    /// Let a merge publish a schema that removes columns or changes types (the partitions it leaves
    /// alone then disagree with the new ones).
    #[arg(long)]
    allow_schema_change: bool,
    /// When another run holds the dataset, wait up to SECS for it instead of failing at once (exit 75).
    #[arg(long, value_name = "SECS", default_value_t = 0)]
    wait_lock: u64,
    /// Write only the partitions of these days, both included (`2026-10-01..2026-10-31`; either end
    /// may be left out): rows of other days are left out and counted. With --mode replace, the days
    /// of the range hold exactly this run's data afterwards and no other day is touched. One job per
    /// range lets a scheduler split a backfill.
    #[arg(long, value_name = "FROM..TO")]
    partition_range: Option<crate::load::layout::PartitionRange>,
}

#[derive(Debug, Args)]
struct UploadCsvArgs {
    /// The CSV file: any common encoding, `,` `;` tab or `|` delimited, plain, .gz or .zst.
    csv_file: PathBuf,
    /// The dataset to write: letters, digits, `.`, `_`, `-`.
    #[arg(long)]
    dataset_id: String,
    /// Partition by the day of this date or timestamp column (UTC day for timestamps with offsets).
    #[arg(long, value_name = "COLUMN")]
    partition_col: Option<String>,
    #[command(flatten)]
    read: ReadArgs,
    #[command(flatten)]
    write: WriteArgs,
    /// Do everything but the write: read, type, stage; print the schema, rows, partitions and the
    /// keys that would be written, left unchanged and deleted (on stdout).
    #[arg(long)]
    dry_run: bool,
}

#[derive(Debug, Args)]
struct LoadApiArgs {
    /// The first page's URL (http or https).
    #[arg(long)]
    url: String,
    /// The dataset to write: letters, digits, `.`, `_`, `-`.
    #[arg(long)]
    dataset_id: String,
    /// The HTTP method.
    #[arg(long, default_value = "GET")]
    method: String,
    /// A request header, `Name: value` (repeatable; not for secrets: see --auth).
    #[arg(long = "header", value_name = "NAME: VALUE")]
    headers: Vec<String>,
    /// A query parameter, `name=value` (repeatable).
    #[arg(long = "query", value_name = "NAME=VALUE")]
    query: Vec<String>,
    /// How requests authenticate: none, api-key (--api-key-header or --api-key-query, key in
    /// --api-key-env), bearer (--token-env), basic (--user-env, --password-env), oauth2 (client
    /// credentials at --token-url; --client-id-env, --client-secret-env, --scope).
    #[arg(long, default_value = "none", value_parser = ["none", "api-key", "bearer", "basic", "oauth2"])]
    auth: String,
    /// api-key: the header that carries the key [default: X-Api-Key, unless --api-key-query].
    #[arg(long, value_name = "NAME")]
    api_key_header: Option<String>,
    /// api-key: send the key as this query parameter instead of a header.
    #[arg(long, value_name = "NAME")]
    api_key_query: Option<String>,
    #[arg(long, value_name = "VAR", default_value = "API_KEY")]
    api_key_env: String,
    #[arg(long, value_name = "VAR", default_value = "API_TOKEN")]
    token_env: String,
    #[arg(long, value_name = "VAR", default_value = "API_USER")]
    user_env: String,
    #[arg(long, value_name = "VAR", default_value = "API_PASSWORD")]
    password_env: String,
    /// oauth2: the token endpoint.
    #[arg(long, value_name = "URL")]
    token_url: Option<String>,
    #[arg(long, value_name = "VAR", default_value = "API_CLIENT_ID")]
    client_id_env: String,
    #[arg(long, value_name = "VAR", default_value = "API_CLIENT_SECRET")]
    client_secret_env: String,
    #[arg(long)]
    scope: Option<String>,
    /// Where the records are in each answer, as a dotted path (`data.items`) [default: the answer
    /// is the array of records].
    #[arg(long, value_name = "PATH", default_value = "")]
    records: String,
    /// Explode this array field (a flattened name): one record per element, its objects flattened
    /// under the field's name (`lines.sku`), the record's other fields repeated. Other arrays stay
    /// JSON text.
    #[arg(long, value_name = "FIELD")]
    explode: Option<String>,
    /// How pages are asked for: none, page (?page=N), offset (?offset=N&limit=L), cursor (a value
    /// from the answer, --cursor-path, sent as --cursor-param), link (the Link header's rel="next").
    #[arg(long, default_value = "none", value_parser = ["none", "page", "offset", "cursor", "link"])]
    paginate: String,
    #[arg(long, value_name = "NAME", default_value = "page")]
    page_param: String,
    /// The first page's number.
    #[arg(long, value_name = "N", default_value_t = 1)]
    page_start: u64,
    /// Records per page: sent as --page-size-param (page) or --limit-param (offset); an empty page
    /// is the last.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    page_size: Option<u64>,
    #[arg(long, value_name = "NAME")]
    page_size_param: Option<String>,
    #[arg(long, value_name = "NAME", default_value = "offset")]
    offset_param: String,
    #[arg(long, value_name = "NAME", default_value = "limit")]
    limit_param: String,
    /// cursor: where the next cursor is in an answer (`meta.next_cursor`); none, null or empty ends.
    #[arg(long, value_name = "PATH")]
    cursor_path: Option<String>,
    #[arg(long, value_name = "NAME", default_value = "cursor")]
    cursor_param: String,
    /// More pages than this is an error (nothing is written), not a silent cut.
    #[arg(long, value_name = "N", default_value_t = 1000)]
    max_pages: u64,
    /// At most this many requests per second.
    #[arg(long, value_name = "N")]
    max_rps: Option<f64>,
    /// Retries of a failed request (connection errors, 429, 5xx), with backoff and jitter.
    #[arg(long, value_name = "N", default_value_t = 5)]
    retries: u32,
    /// Seconds one request may take.
    #[arg(long, value_name = "SECS", default_value_t = 60)]
    timeout: u64,
    /// Partition by the day of this date or timestamp column (a flattened name: `event.at`).
    #[arg(long, value_name = "COLUMN")]
    partition_col: Option<String>,
    /// Load only what is new: the highest value of this field (a flattened name) is kept in
    /// datasets/<id>/_state.json and sent next time as --since-param; new records are appended.
    #[arg(long, value_name = "FIELD", requires = "since_param")]
    incremental_field: Option<String>,
    /// The query parameter that asks the API for records after a value (`updated_since`).
    #[arg(long, value_name = "NAME", requires = "incremental_field")]
    since_param: Option<String>,
    /// With --incremental-field: ignore the checkpoint, fetch everything and replace the dataset.
    #[arg(long, requires = "incremental_field")]
    full_refresh: bool,
    /// Pin column types: `COL=TYPE,...` (see upload-csv --help).
    #[arg(long, value_name = "COL=TYPE,...")]
    types: Vec<String>,
    /// The date format of a column of ambiguous dates: `COL=FMT`.
    #[arg(long, value_name = "COL=FMT")]
    date_format: Vec<String>,
    #[command(flatten)]
    write: WriteArgs,
    /// Fetch, type and stage; print what would be written (on stdout), write nothing.
    #[arg(long)]
    dry_run: bool,
}

impl LoadApiArgs {
    fn resolve(&self) -> crate::Result<crate::extract::api::ApiSettings> {
        use crate::extract::api::{ApiSettings, Auth, Paging, Secret};
        let usage = |flag: &str, e: String| crate::Error::Usage(format!("{flag}: {e}"));
        let url = reqwest::Url::parse(&self.url).map_err(|e| usage("--url", e.to_string()))?;
        if !matches!(url.scheme(), "http" | "https") || !url.username().is_empty() || url.password().is_some()
        {
            return Err(usage("--url", "use an http(s) URL without a user or password (see --auth)".into()));
        }
        let method = reqwest::Method::from_bytes(self.method.to_ascii_uppercase().as_bytes())
            .map_err(|e| usage("--method", e.to_string()))?;
        let headers = self
            .headers
            .iter()
            .map(|h| {
                h.split_once(':')
                    .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
                    .ok_or_else(|| usage("--header", format!("`{h}` is not `Name: value`")))
            })
            .collect::<crate::Result<Vec<_>>>()?;
        let query = self
            .query
            .iter()
            .map(|q| {
                q.split_once('=')
                    .map(|(k, v)| (k.to_owned(), v.to_owned()))
                    .ok_or_else(|| usage("--query", format!("`{q}` is not `name=value`")))
            })
            .collect::<crate::Result<Vec<_>>>()?;
        let auth = match self.auth.as_str() {
            "api-key" => {
                let key = Secret::from_env(&self.api_key_env, "--auth api-key")?;
                match &self.api_key_query {
                    Some(name) => Auth::KeyQuery { name: name.clone(), key },
                    None => Auth::KeyHeader {
                        name: self.api_key_header.clone().unwrap_or_else(|| "X-Api-Key".into()),
                        key,
                    },
                }
            }
            "bearer" => Auth::Bearer(Secret::from_env(&self.token_env, "--auth bearer")?),
            "basic" => Auth::Basic {
                user: Secret::from_env(&self.user_env, "--auth basic")?,
                password: Secret::from_env(&self.password_env, "--auth basic")?,
            },
            "oauth2" => {
                let token_url = self
                    .token_url
                    .as_deref()
                    .ok_or_else(|| usage("--auth oauth2", "needs --token-url".into()))?;
                Auth::OAuth2 {
                    token_url: reqwest::Url::parse(token_url)
                        .map_err(|e| usage("--token-url", e.to_string()))?,
                    client_id: Secret::from_env(&self.client_id_env, "--auth oauth2")?,
                    client_secret: Secret::from_env(&self.client_secret_env, "--auth oauth2")?,
                    scope: self.scope.clone(),
                }
            }
            _ => Auth::None,
        };
        let paging = match self.paginate.as_str() {
            "page" => Paging::Page {
                param: self.page_param.clone(),
                start: self.page_start,
                size: self
                    .page_size
                    .map(|n| (self.page_size_param.clone().unwrap_or_else(|| "per_page".into()), n)),
            },
            "offset" => Paging::Offset {
                offset_param: self.offset_param.clone(),
                limit_param: self.limit_param.clone(),
                limit: self
                    .page_size
                    .ok_or_else(|| usage("--paginate offset", "needs --page-size".into()))?,
            },
            "cursor" => Paging::Cursor {
                path: self
                    .cursor_path
                    .clone()
                    .ok_or_else(|| usage("--paginate cursor", "needs --cursor-path".into()))?,
                param: self.cursor_param.clone(),
            },
            "link" => Paging::Link,
            _ => Paging::None,
        };
        if self.max_rps.is_some_and(|r| r.is_nan() || !(0.001..=10_000.0).contains(&r)) {
            return Err(usage("--max-rps", "must be between 0.001 and 10000".into()));
        }
        Ok(ApiSettings {
            url,
            method,
            headers,
            query,
            auth,
            records: self.records.clone(),
            paging,
            max_pages: self.max_pages.max(1),
            max_rps: self.max_rps,
            retry: crate::http::RetryPolicy { retries: self.retries, ..Default::default() },
            timeout: Duration::from_secs(self.timeout.max(1)),
            since: None,
            track: None,
            explode: self.explode.clone(),
        })
    }
}

#[derive(Debug, Args)]
struct LoadPostgresArgs {
    /// postgres://user[:password]@host[:port]/database[?sslmode=require] [default: $DATABASE_URL,
    /// or the variable --url-env names].
    #[arg(long, value_name = "URL")]
    url: Option<String>,
    /// The environment variable (or .env entry) holding the URL, for a job file that reads several
    /// databases without writing their passwords down.
    #[arg(long, value_name = "VAR", default_value = "DATABASE_URL")]
    url_env: String,
    /// The query whose rows are loaded.
    #[arg(long, conflicts_with = "table", required_unless_present = "table")]
    query: Option<String>,
    /// A table (or view) whose rows are loaded: `name` or `schema.name`.
    #[arg(long)]
    table: Option<String>,
    /// The dataset to write: letters, digits, `.`, `_`, `-`.
    #[arg(long)]
    dataset_id: String,
    /// Partition by the day of this date or timestamp column.
    #[arg(long, value_name = "COLUMN")]
    partition_col: Option<String>,
    /// Load only what is new: rows whose COLUMN is above the highest value loaded before (kept in
    /// datasets/<id>/_state.json); new rows are appended.
    #[arg(long, value_name = "COLUMN")]
    incremental_column: Option<String>,
    /// With --incremental-column: ignore the checkpoint, read everything and replace the dataset.
    #[arg(long, requires = "incremental_column")]
    full_refresh: bool,
    /// Pin column types over PostgreSQL's: `COL=TYPE,...` (see upload-csv --help).
    #[arg(long, value_name = "COL=TYPE,...")]
    types: Vec<String>,
    #[command(flatten)]
    write: WriteArgs,
    /// Read, type and stage; print what would be written (on stdout), write nothing.
    #[arg(long)]
    dry_run: bool,
}

#[derive(Debug, Args)]
struct LoadS3Args {
    /// The objects: `s3://bucket/folder/*.csv` (`*` within a folder, `**` across folders, `?` one
    /// character); plain, .gz or .zst, all with the same header.
    #[arg(long, value_name = "S3_GLOB")]
    source: crate::extract::objects::ObjectGlob,
    /// The dataset to write: letters, digits, `.`, `_`, `-`.
    #[arg(long)]
    dataset_id: String,
    /// Partition by the day of this date or timestamp column (UTC day for timestamps with offsets).
    #[arg(long, value_name = "COLUMN")]
    partition_col: Option<String>,
    #[command(flatten)]
    read: ReadArgs,
    #[command(flatten)]
    write: WriteArgs,
    /// Do everything but the write: list, download, read, type, stage; print what would be written.
    #[arg(long)]
    dry_run: bool,
}

/// How a CSV file is read and typed.
#[derive(Debug, Args)]
struct ReadArgs {
    /// Field delimiter: one character, or `tab` [default: sniffed among `,` `;` tab `|`].
    #[arg(long, value_name = "CHAR")]
    delimiter: Option<String>,
    /// The file's encoding: utf-8, utf-16le, windows-1252 (latin1), shift_jis (cp932), euc-jp, ...
    /// [default: detected from samples of the whole file].
    #[arg(long, value_name = "LABEL")]
    encoding: Option<String>,
    /// The file has no header line: its first line is data, the columns are column_1, column_2, ...
    #[arg(long)]
    no_header: bool,
    /// A row that does not fit (wrong field count, unclosed quote, a value that does not fit a
    /// pinned type): fail (nothing written), skip (counted), or quarantine (kept in
    /// datasets/<id>/_rejects/<run-id>.csv, and counted).
    #[arg(long, value_name = "ACTION", default_value = "fail", value_parser = ["fail", "skip", "quarantine"])]
    on_bad_rows: String,
    /// Values read as null besides an empty field, comma-separated (`--null-values ''` for none)
    /// [default: NULL,null,NA,N/A]. A column pinned to string keeps them as text.
    #[arg(long, value_name = "LIST")]
    null_values: Option<String>,
    /// Pin column types instead of inferring them: `COL=TYPE,...` with TYPE one of string, int64,
    /// decimal, float64, boolean, date, datetime, datetime_utc, datetime_offset, money, yes_no.
    #[arg(long, value_name = "COL=TYPE,...")]
    types: Vec<String>,
    /// The date format of a column whose dates are ambiguous: `COL=FMT` with FMT %m/%d/%Y, %d/%m/%Y,
    /// %d.%m.%Y, %Y-%m-%d, %Y/%m/%d (or mdy, dmy, ymd).
    #[arg(long, value_name = "COL=FMT")]
    date_format: Vec<String>,
    /// Column names as snake_case ASCII (`Input (w/ Cache Write)` → `input_w_cache_write`); --types
    /// and --partition-col then use the new names.
    #[arg(long)]
    normalize_columns: bool,
}

impl ReadArgs {
    /// The reader's options and the pins, or a usage error naming the flag.
    fn resolve(&self) -> crate::Result<(CsvOptions, Pins, NullTokens)> {
        let usage = |flag: &str, e: String| crate::Error::Usage(format!("{flag}: {e}"));
        let delimiter = self
            .delimiter
            .as_deref()
            .map(parse_delimiter)
            .transpose()
            .map_err(|e| usage("--delimiter", e))?;
        let encoding = self
            .encoding
            .as_deref()
            .map(|label| {
                encoding_for_label(label).ok_or_else(|| {
                    usage(
                        "--encoding",
                        format!("`{label}` is unknown; use e.g. utf-8, windows-1252, shift_jis"),
                    )
                })
            })
            .transpose()?;
        let pins = pins_of(&self.types, &self.date_format)?;
        let options = CsvOptions {
            delimiter,
            encoding,
            header: !self.no_header,
            bad_rows: self.on_bad_rows.parse().map_err(|e| usage("--on-bad-rows", e))?,
            normalize_columns: self.normalize_columns,
        };
        let nulls = match &self.null_values {
            Some(list) => NullTokens::new(&list.split(',').collect::<Vec<_>>()),
            None => NullTokens::standard(),
        };
        Ok((options, pins, nulls))
    }
}

#[derive(Debug, Args)]
struct LoadCursorUsageArgs {
    /// The export to load [default: the last `team-usage-events-*.csv` by name in --source-dir].
    #[arg(long)]
    file: Option<PathBuf>,
    /// Where exports are dropped.
    #[arg(long, default_value = "data_sources", value_name = "DIR")]
    source_dir: PathBuf,
    /// The dataset to write.
    #[arg(long, default_value = "cursor-usage")]
    dataset_id: String,
    #[command(flatten)]
    write: WriteArgs,
    /// Do everything but the write: read, type, stage; print the schema, rows, partitions and the
    /// keys that would be written, left unchanged and deleted (on stdout).
    #[arg(long)]
    dry_run: bool,
}

/// Which catalog entries to work on, and how.
#[derive(Debug, Args)]
#[group(id = "selection", required = true, multiple = false)]
struct SelectArgs {
    /// Print the catalog's datasets and exit (needs no credentials).
    #[arg(long)]
    list: bool,
    /// Load this dataset, named by its `name`, its dataset id (`minio_dataset_id`) or its Domo id
    /// (repeatable). A dataset disabled in the catalog is loaded when named.
    #[arg(long, value_name = "NAME|ID")]
    dataset: Vec<String>,
    /// Load every enabled dataset of the catalog; one failure does not stop the others.
    #[arg(long)]
    all: bool,
}

/// Options of catalog-driven loads.
#[derive(Debug, Args)]
struct RunArgs {
    /// Datasets loaded at once with --all.
    #[arg(long, default_value_t = 2, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=64))]
    jobs: u16,
    /// Do everything but the write: fetch, type, stage; print the schema, rows, partitions and the
    /// keys that would be written and deleted (on stdout).
    #[arg(long)]
    dry_run: bool,
}

#[derive(Debug, Args)]
struct LoadDomoArgs {
    #[command(flatten)]
    select: SelectArgs,
    /// The catalog of Domo datasets.
    #[arg(long, default_value = "config/domo_datasets.yaml", value_name = "PATH")]
    config: PathBuf,
    #[command(flatten)]
    run: RunArgs,
    /// Domo's API base URL.
    #[arg(long, env = "DOMO_API_HOST", default_value = crate::extract::domo::DEFAULT_HOST, value_name = "URL")]
    domo_host: String,
    /// Seconds allowed for getting an access token (and for schema requests).
    #[arg(long, env = "DOMO_TOKEN_TIMEOUT", default_value_t = 30, value_name = "SECS")]
    token_timeout: u64,
    /// Seconds allowed for downloading one dataset's export, start to end.
    #[arg(long, env = "DOMO_EXPORT_TIMEOUT", default_value_t = 300, value_name = "SECS")]
    export_timeout: u64,
    /// Retries of a request that failed in a way worth retrying (connection errors, 429, 5xx), with
    /// exponential backoff and jitter.
    #[arg(long, env = "DOMO_RETRIES", default_value_t = 5, value_name = "N")]
    retries: u32,
    /// Publish an export with no rows even over a dataset that has some, emptying it. Without it
    /// such a run fails and changes nothing (an empty export is more often an upstream accident).
    #[arg(long)]
    allow_empty: bool,
    #[command(flatten)]
    write: WriteArgs,
}

#[derive(Debug, Args)]
struct LoadCsvArgs {
    #[command(flatten)]
    select: SelectArgs,
    /// The catalog of CSV datasets.
    #[arg(long, default_value = "config/csv_datasets.yaml", value_name = "PATH")]
    config: PathBuf,
    #[command(flatten)]
    run: RunArgs,
    #[command(flatten)]
    write: WriteArgs,
}

#[derive(Debug, Args)]
struct JobsArgs {
    /// The job file (YAML; see README "Job files").
    file: PathBuf,
    /// Print the file's jobs and exit.
    #[arg(long)]
    list: bool,
    /// Run this job, by name or dataset id (repeatable); a disabled job runs when named.
    #[arg(long = "job", value_name = "NAME")]
    job: Vec<String>,
    /// Run every enabled job; one failure does not stop the others.
    #[arg(long)]
    all: bool,
    #[command(flatten)]
    run: RunArgs,
}

#[derive(Debug, Args)]
struct RecordArgs {
    /// The dataset.
    id: String,
    /// JSON on stdout instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
struct ClearDatasetArgs {
    /// The dataset whose objects are deleted.
    id: String,
    /// Only list the objects that would be deleted (on stdout).
    #[arg(long)]
    dry_run: bool,
    /// Do not ask for confirmation (needed when stdin is not a terminal).
    #[arg(long, short)]
    yes: bool,
}

impl Command {
    fn name(&self) -> &'static str {
        match self {
            Command::UploadCsv(_) => "upload-csv",
            Command::LoadCursorUsage(_) => "load-cursor-usage",
            Command::LoadDomo(_) => "load-domo",
            Command::LoadCsv(_) => "load-csv",
            Command::LoadApi(_) => "load-api",
            Command::LoadPostgres(_) => "load-postgres",
            Command::LoadS3(_) => "load-s3",
            Command::Run(_) => "run",
            Command::ClearDataset(_) => "clear-dataset",
            Command::Inspect(_) => "inspect",
            Command::Runs(_) => "runs",
        }
    }
}

/// Parses `args`, runs the command and turns the outcome into an exit code.
pub fn run(args: impl IntoIterator<Item = OsString>) -> ExitCode {
    // `.env` first, so that clap's `env = ...` options see its variables.
    let dotenv = config::load_dotenv();
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { ExitCode::from(2) } else { ExitCode::SUCCESS };
        }
    };
    logging::init(cli.global.log_format, cli.global.verbose);
    if cli.global.print_config {
        let target = cli.global.target.clone().unwrap_or_else(|| DEFAULT_TARGET.to_owned());
        print!("{}", config::describe(cli.command.name(), &target, cli.global.log_format));
        return ExitCode::SUCCESS;
    }
    let started = Instant::now();
    let name = cli.command.name();
    let target_text = cli.global.target.clone().unwrap_or_else(|| DEFAULT_TARGET.to_owned());
    let result =
        dotenv.and_then(|()| Target::parse(&target_text)).map_err(anyhow::Error::from).and_then(|target| {
            let ctx = Context { target, log_format: cli.global.log_format };
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .map_err(|e| anyhow::anyhow!("could not start the async runtime: {e}"))?;
            let outcome = runtime.block_on(async {
                crate::signals::listen();
                dispatch(cli.command, &ctx).await
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
                (None, "failed") => ExitCode::FAILURE,
                _ => ExitCode::SUCCESS,
            }
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
                || matches!(
                    err.downcast_ref::<crate::Error>(),
                    Some(
                        crate::Error::Cancelled
                            | crate::Error::Interrupted(_)
                            | crate::Error::Store(crate::store::StoreError::Interrupted(_))
                    )
                );
            let mut summary = Summary::new(name, target_text);
            summary.status = if cancelled { "cancelled" } else { "failed" };
            summary.seconds = started.elapsed().as_secs_f64();
            summary.error = Some(format!("{err:#}"));
            if cli.global.log_format == LogFormat::Text {
                eprintln!("error: {err:#}");
                summary.error = None;
            }
            summary.print(cli.global.log_format);
            ExitCode::from(code)
        }
    }
}

async fn dispatch(command: Command, ctx: &Context) -> crate::Result<Option<Summary>> {
    let summary = match command {
        Command::UploadCsv(args) => {
            let (csv, pins, null_values) = args.read.resolve()?;
            let settings = commands::upload_csv::Settings {
                file: args.csv_file,
                dataset: crate::load::layout::DatasetId::parse(&args.dataset_id)?,
                partition_column: args.partition_col,
                csv,
                pins,
                null_values,
                write: commands::WriteSettings { dry_run: args.dry_run, ..write_settings(&args.write) },
            };
            commands::upload_csv::run(settings, ctx).await?
        }
        Command::LoadCursorUsage(args) => {
            let settings = commands::load_cursor_usage::Settings {
                file: args.file,
                source_dir: args.source_dir,
                dataset: crate::load::layout::DatasetId::parse(&args.dataset_id)?,
                write: commands::WriteSettings { dry_run: args.dry_run, ..write_settings(&args.write) },
            };
            commands::load_cursor_usage::run(settings, ctx).await?
        }
        Command::LoadDomo(args) => {
            let domo = crate::extract::domo::DomoSettings {
                host: args.domo_host,
                token_timeout: Duration::from_secs(args.token_timeout),
                export_timeout: Duration::from_secs(args.export_timeout),
                retry: crate::http::RetryPolicy { retries: args.retries, ..Default::default() },
            };
            let settings = commands::load_domo::Settings {
                config: args.config,
                selection: selection(args.select, &args.run),
                domo,
                write: write_settings(&args.write),
                allow_empty: args.allow_empty,
            };
            return commands::load_domo::run(settings, ctx).await;
        }
        Command::LoadCsv(args) => {
            let settings = commands::load_csv::Settings {
                config: args.config,
                selection: selection(args.select, &args.run),
                write: write_settings(&args.write),
            };
            return commands::load_csv::run(settings, ctx).await;
        }
        Command::LoadApi(args) => {
            let pins = pins_of(&args.types, &args.date_format)?;
            let settings = commands::load_api::Settings {
                api: args.resolve()?,
                dataset: crate::load::layout::DatasetId::parse(&args.dataset_id)?,
                partition_column: args.partition_col.clone(),
                incremental: args.incremental_field.clone().zip(args.since_param.clone()).map(
                    |(field, param)| commands::load_api::Incremental {
                        field,
                        param,
                        full_refresh: args.full_refresh,
                    },
                ),
                pins,
                write: commands::WriteSettings { dry_run: args.dry_run, ..write_settings(&args.write) },
            };
            commands::load_api::run(settings, ctx).await?
        }
        Command::LoadPostgres(args) => {
            let pins = pins_of(&args.types, &[])?;
            let query = match (&args.query, &args.table) {
                (Some(query), _) => query.clone(),
                (None, Some(table)) => {
                    format!("SELECT * FROM {}", crate::extract::postgres::table_name(table))
                }
                (None, None) => return Err(crate::Error::Usage("give --query or --table".into())),
            };
            let url = match args.url {
                Some(url) => url,
                None => std::env::var(&args.url_env).map_err(|_| {
                    crate::Error::Usage(format!(
                        "no PostgreSQL URL: pass --url, or set {} in the environment or .env",
                        args.url_env
                    ))
                })?,
            };
            let settings = commands::load_postgres::Settings {
                source: crate::extract::postgres::PgSource { url, query, incremental: None },
                dataset: crate::load::layout::DatasetId::parse(&args.dataset_id)?,
                partition_column: args.partition_col,
                pins,
                write: commands::WriteSettings { dry_run: args.dry_run, ..write_settings(&args.write) },
                incremental: args.incremental_column.map(|c| (c, args.full_refresh)),
            };
            commands::load_postgres::run(settings, ctx).await?
        }
        Command::LoadS3(args) => {
            let (csv, pins, null_values) = args.read.resolve()?;
            let settings = commands::load_s3::Settings {
                source: args.source,
                dataset: crate::load::layout::DatasetId::parse(&args.dataset_id)?,
                partition_column: args.partition_col,
                csv,
                pins,
                null_values,
                write: commands::WriteSettings { dry_run: args.dry_run, ..write_settings(&args.write) },
            };
            commands::load_s3::run(settings, ctx).await?
        }
        Command::Run(args) => return run_jobs(args, ctx).await,
        Command::Inspect(args) => {
            let dataset = crate::load::layout::DatasetId::parse(&args.id)?;
            commands::inspect::inspect(&dataset, args.json, ctx).await?;
            return Ok(None);
        }
        Command::Runs(args) => {
            let dataset = crate::load::layout::DatasetId::parse(&args.id)?;
            commands::inspect::runs(&dataset, args.json, ctx).await?;
            return Ok(None);
        }
        Command::ClearDataset(args) => {
            let settings = commands::clear_dataset::Settings {
                dataset: crate::load::layout::DatasetId::parse(&args.id)?,
                dry_run: args.dry_run,
                yes: args.yes,
            };
            commands::clear_dataset::run(settings, ctx).await?
        }
    };
    Ok(Some(summary))
}

/// A job's command, parsed by the CLI's own parser (`argv` without `etl`).
fn job_command(argv: &[String]) -> std::result::Result<Command, String> {
    let cli =
        Cli::try_parse_from(std::iter::once("etl".to_owned()).chain(argv.iter().cloned())).map_err(|e| {
            e.render().to_string().lines().next().unwrap_or_default().trim_start_matches("error: ").to_owned()
        })?;
    match cli.command {
        Command::UploadCsv(_)
        | Command::LoadS3(_)
        | Command::LoadApi(_)
        | Command::LoadDomo(_)
        | Command::LoadPostgres(_) => Ok(cli.command),
        _ => Err("not a load".into()),
    }
}

/// `etl run`: the selected jobs of a job file, each as its own command would run it.
async fn run_jobs(args: JobsArgs, ctx: &Context) -> crate::Result<Option<Summary>> {
    let jobs = crate::jobs::load(&args.file, |argv| job_command(argv).map(|_| ()))?;
    let catalog = crate::catalog::Catalog { path: args.file.clone(), entries: jobs };
    if args.list {
        print!("{}", catalog.list());
        return Ok(None);
    }
    let selection = selection(SelectArgs { list: false, dataset: args.job, all: args.all }, &args.run);
    let entries = catalog.select(&selection.names, selection.all)?;
    let dry_run = selection.dry_run;
    let target = crate::store::open(&ctx.target).await?.url();
    crate::runner::run_entries("run", target, entries, selection.options(ctx), |job, _progress| async move {
        let mut argv = job.command_line()?;
        if dry_run && !argv.iter().any(|a| a == "--dry-run") {
            argv.push("--dry-run".into());
        }
        let shown: Vec<String> = argv.iter().map(|a| crate::config::mask_url(a)).collect();
        tracing::info!("job \"{}\": etl {}", job.name, shown.join(" "));
        let command =
            job_command(&argv).map_err(|e| crate::Error::Usage(format!("job \"{}\": {e}", job.name)))?;
        Box::pin(dispatch(command, ctx))
            .await?
            .ok_or_else(|| crate::Error::Internal("a load without a summary".into()))
    })
    .await
    .map(Some)
}

/// The pins of `--types` and `--date-format` (each repeatable, each a `COL=VALUE,...` list).
fn pins_of(types: &[String], date_formats: &[String]) -> crate::Result<Pins> {
    let usage = |flag: &str, e: String| crate::Error::Usage(format!("{flag}: {e}"));
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

fn selection(select: SelectArgs, run: &RunArgs) -> commands::Selection {
    commands::Selection {
        list: select.list,
        names: select.dataset,
        all: select.all,
        jobs: usize::from(run.jobs),
        dry_run: run.dry_run,
    }
}

fn write_settings(args: &WriteArgs) -> commands::WriteSettings {
    commands::WriteSettings {
        files: crate::load::parquet::WriterOptions {
            max_rows_per_file: args.max_rows_per_file,
            ..Default::default()
        },
        mode: args.mode.as_deref().and_then(|m| m.parse().ok()),
        allow_schema_change: args.allow_schema_change,
        wait_lock: Duration::from_secs(args.wait_lock),
        dry_run: false,
        partition_range: args.partition_range,
    }
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
