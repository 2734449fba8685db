//! Each command's own options, as clap reads them from the command line and serde reads them from a
//! job file's `source:` (where a key is a long option's name, `_` or `-` alike; see
//! [`crate::jobs`]). No logic here: [`crate::settings`] turns them into settings.
//!
//! Options with a default carry it twice, for clap (`default_value`) and for serde (the struct's
//! `Default`); a unit test holds the two equal.

use std::path::PathBuf;

use clap::Args;
use serde::{Deserialize, Deserializer};

pub use crate::bytesize::ByteSize;
use crate::extract::objects::ObjectGlob;
use crate::load::layout::PartitionRange;
use crate::schedule::scheduler::Scheduler;

/// The dataset a loading command writes, and whether it only plans.
#[derive(Debug, Clone, Default, Args, Deserialize)]
#[serde(default)]
pub struct DatasetArgs {
    /// The dataset to write: letters, digits, `.`, `_`, `-`.
    #[arg(long)]
    pub dataset_id: String,
    /// Partition by the day of this date or timestamp column (the UTC day for timestamps with
    /// offsets; a flattened name like `event.at` for JSON records).
    #[arg(long, value_name = "COLUMN")]
    pub partition_col: Option<String>,
    /// Do everything but the write: read, type, stage; print the schema, rows, partitions and the
    /// keys that would be written, left unchanged and deleted (on stdout).
    #[arg(long)]
    pub dry_run: bool,
}

/// Options shared by commands that write a dataset.
#[derive(Debug, Clone, Default, Args, Deserialize)]
#[serde(default)]
pub struct WriteArgs {
    /// Split each partition into files of at most N rows (part-0000, part-0001, ...). By default
    /// each partition is exactly one `part-0000.parquet`, which existing readers expect.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    #[serde(deserialize_with = "parsed_opt")]
    pub max_rows_per_file: Option<u64>,
    /// merge: the partitions this run writes are replaced whole, the others stay (the default when
    /// partitioned); replace: afterwards the dataset holds exactly this run's data (the default when
    /// unpartitioned); append: this run's files are added beside the dataset's, nothing is replaced;
    /// upsert: each row replaces the dataset's row of the same --primary-key, wherever it is (the
    /// default with --primary-key). Left out, a dataset loaded before keeps its mode, partition
    /// column and key (its manifest says them); only --mode replace lays it out anew.
    #[arg(long, value_name = "MODE", value_parser = ["merge", "replace", "append", "upsert"])]
    pub mode: Option<String>,
    /// Append even a source whose bytes the dataset's last append loaded already. Without it such a
    /// run appends nothing and says so, so that a retried run never adds its rows twice.
    #[arg(long)]
    pub append_again: bool,
    /// The columns that identify a row (`id`, or `order_id,line`): afterwards the dataset holds one
    /// row per key, the newest run's (the last in the source within a run, or see --dedup-by). A row
    /// with an empty key is a bad row (--on-bad-rows). Recorded in the manifest; with --mode replace
    /// it only sets the key for later upserts.
    #[arg(long, value_name = "COL[,COL...]", value_delimiter = ',')]
    pub primary_key: Vec<String>,
    /// Of the rows of one run with the same key, keep the one with the highest value of COL (the
    /// last in the source among equals) instead of the last in the source.
    #[arg(long, value_name = "COL")]
    pub dedup_by: Option<String>,
    /// Let a merge publish a schema that removes columns or changes types (the partitions it leaves
    /// alone then disagree with the new ones).
    #[arg(long)]
    pub allow_schema_change: bool,
    /// Publish a run with no rows even over a dataset that has some, emptying it. Without it such a
    /// run fails and changes nothing (an empty export or a header-only file is more often an
    /// upstream accident).
    #[arg(long)]
    pub allow_empty: bool,
    /// When another run holds the dataset, wait up to SECS for it instead of failing at once (exit 75).
    #[arg(long, value_name = "SECS", default_value_t = 0)]
    #[serde(deserialize_with = "parsed")]
    pub wait_lock: u64,
    /// Write only the partitions of these days, both included (`2026-10-01..2026-10-31`; either end
    /// may be left out): rows of other days are left out and counted. With --mode replace, the days
    /// of the range hold exactly this run's data afterwards and no other day is touched. One job per
    /// range lets a scheduler split a backfill.
    #[arg(long, value_name = "FROM..TO")]
    #[serde(deserialize_with = "parsed_opt")]
    pub partition_range: Option<PartitionRange>,
    /// A data-quality check, judged before anything is published, as YAML (repeatable; added to the
    /// dataset's `checks:`): 'not_null: [Date]', 'unique: [id]', 'accepted_values: {Kind: [a, b]}',
    /// 'range: {Cost: {min: 0}}', 'matches: {Email: "@"}', 'row_count: {min: 1}',
    /// 'row_count_change: {max_drop: 50%}', 'freshness: {column: Date, max_age: 2d}',
    /// 'columns: {required: [id]}'; add severity: warn to publish anyway and count it (as
    /// '{row_count: {min: 1}, severity: warn}'). A failed check at severity error publishes nothing
    /// and exits 65. See docs/checks.md.
    #[arg(long, value_name = "YAML")]
    pub check: Vec<String>,
    /// A column whose values check examples never show (repeatable; `a,b` names two).
    #[arg(long, value_name = "COL[,COL...]", value_delimiter = ',')]
    pub sensitive: Vec<String>,
    /// hive: Parquet files in `date=` folders, which readers list (the default); delta: the same
    /// folders as a Delta Lake table, whose readers see one committed version, never a mix, and can
    /// read older ones. Recorded in the manifest: later runs keep it; changing it needs --mode
    /// replace (or `etl convert`).
    #[arg(long, value_name = "FORMAT", value_parser = ["hive", "delta"])]
    pub table_format: Option<String>,
    /// Write each file's rows sorted by these columns (`User`, or `User,Date`), rows that tie in the
    /// order they came: a reader's min/max statistics then skip the row groups a filter on them
    /// cannot match. A file is sorted in memory: keep files to a size that fits (partitions,
    /// --max-rows-per-file). Recorded in the manifest: a run that leaves it out keeps the dataset's.
    #[arg(long, value_name = "COL[,COL...]", value_delimiter = ',')]
    pub sort_by: Vec<String>,
    /// Cut each file's row groups at about this much data (16 KiB or more; bytes, or with KiB, MiB,
    /// GiB) as well as at 122,880 rows. Smaller groups of sorted rows (--sort-by) let statistics
    /// skip more of a big file, but each group costs a reader time of its own: see
    /// docs/performance.md. Recorded in the manifest: a run that leaves it out keeps the dataset's.
    #[arg(long, value_name = "SIZE")]
    #[serde(deserialize_with = "parsed_opt")]
    pub row_group_size: Option<ByteSize>,
}

#[derive(Debug, Clone, Default, Args, Deserialize)]
#[serde(default)]
pub struct UploadCsvArgs {
    /// The CSV file: any common encoding, `,` `;` tab `|` or `, ` delimited, plain, .gz or .zst; comment
    /// lines and a title above the header are detected (see --comment-char, --skip-rows).
    pub csv_file: PathBuf,
    #[command(flatten)]
    #[serde(flatten)]
    pub dataset: DatasetArgs,
    #[command(flatten)]
    #[serde(flatten)]
    pub read: ReadArgs,
    #[command(flatten)]
    #[serde(flatten)]
    pub write: WriteArgs,
}

/// How a CSV file is read and typed.
#[derive(Debug, Clone, Args, Deserialize)]
#[serde(default)]
pub struct ReadArgs {
    /// Field delimiter: one character, `tab`, or one followed by a space (`', '`) [default: sniffed
    /// among `,` `;` tab `|` and `, `].
    #[arg(long, value_name = "CHAR")]
    pub delimiter: Option<String>,
    /// Lines starting with this character are comments, skipped and counted in the summary; `none`
    /// for no comment lines [default: `#` when lines start with it that are not rows of the table].
    #[arg(long, value_name = "CHAR")]
    pub comment_char: Option<String>,
    /// Lines above the header to skip (a report's title, blank rows) [default: detected: lines with
    /// at most one value, in their first field, above a header as wide as the table; 0 skips none].
    #[arg(long, value_name = "N")]
    #[serde(deserialize_with = "parsed_opt")]
    pub skip_rows: Option<u64>,
    /// Numbers are written with a decimal comma and dots between thousands (`1.234,50`) [default:
    /// read so in a `;`-separated file when every value of a column reads so].
    #[arg(long)]
    pub decimal_comma: bool,
    /// The file's encoding: utf-8, utf-16le, windows-1252 (latin1), shift_jis (cp932), euc-jp, ...
    /// [default: detected from samples of the whole file].
    #[arg(long, value_name = "LABEL")]
    pub encoding: Option<String>,
    /// The file's first line names the columns [default: detected: it is data when its values have
    /// the types of the values below them, a number or a date among them].
    #[arg(long, conflicts_with = "no_header")]
    pub header: bool,
    /// The file has no header line: its first line is data, the columns are column_1, column_2, ...
    #[arg(long)]
    pub no_header: bool,
    /// A row that does not fit (wrong field count, unclosed quote, a value that does not fit a
    /// pinned type): fail (nothing written), skip (counted), or quarantine (kept in
    /// datasets/<id>/_rejects/<run-id>.csv, and counted).
    #[arg(long, value_name = "ACTION", default_value = "fail", value_parser = ["fail", "skip", "quarantine"])]
    pub on_bad_rows: String,
    /// Values read as null besides an empty field, comma-separated, in every column but one pinned
    /// to string (`--null-values ''` for none). Without it, NULL, null, NA and N/A are null only in
    /// typed columns (counted in the summary); text columns keep them as text.
    #[arg(long, value_name = "LIST")]
    pub null_values: Option<String>,
    /// Pin column types instead of inferring them: `COL=TYPE,...` with TYPE one of string, int64,
    /// decimal, float64, boolean, date, datetime (no offset), datetime_utc (offsets converted, none
    /// taken as UTC), datetime_offset (every value with an offset), money (Float64 with `$` and
    /// thousands separators stripped; `Included`, `Free` and `-` are null, and counted), yes_no
    /// (Boolean from Yes/No, true/false in any case).
    #[arg(long, value_name = "COL=TYPE,...")]
    pub types: Vec<String>,
    /// The date format of a column whose dates are ambiguous: `COL=FMT` with FMT %m/%d/%Y, %d/%m/%Y,
    /// %d.%m.%Y, %Y-%m-%d, %Y/%m/%d (or mdy, dmy, ymd).
    #[arg(long, value_name = "COL=FMT")]
    pub date_format: Vec<String>,
    /// Column names as snake_case ASCII (`Input (w/ Cache Write)` → `input_w_cache_write`); --types
    /// and --partition-col then use the new names.
    #[arg(long)]
    pub normalize_columns: bool,
}

#[derive(Debug, Clone, Default, Args, Deserialize)]
#[serde(default)]
pub struct LoadS3Args {
    /// The objects: `s3://bucket/folder/*.csv` (`*` within a folder, `**` across folders, `?` one
    /// character); plain, .gz or .zst, all with the same header.
    #[arg(long, value_name = "S3_GLOB", required = true)]
    #[serde(deserialize_with = "parsed_opt")]
    pub source: Option<ObjectGlob>,
    #[command(flatten)]
    #[serde(flatten)]
    pub dataset: DatasetArgs,
    #[command(flatten)]
    #[serde(flatten)]
    pub read: ReadArgs,
    #[command(flatten)]
    #[serde(flatten)]
    pub write: WriteArgs,
}

#[derive(Debug, Clone, Args, Deserialize)]
#[serde(default)]
pub struct LoadApiArgs {
    /// The first page's URL (http or https).
    #[arg(long)]
    pub url: String,
    #[command(flatten)]
    #[serde(flatten)]
    pub dataset: DatasetArgs,
    /// The HTTP method.
    #[arg(long, default_value = "GET")]
    pub method: String,
    /// A request header, `Name: value` (repeatable; not for secrets: see --auth).
    #[arg(long = "header", value_name = "NAME: VALUE")]
    pub headers: Vec<String>,
    /// A query parameter, `name=value` (repeatable).
    #[arg(long = "query", value_name = "NAME=VALUE")]
    pub query: Vec<String>,
    /// How requests authenticate: none, api-key (--api-key-header or --api-key-query, key in
    /// --api-key-env), bearer (--token-env), basic (--user-env, --password-env), oauth2 (client
    /// credentials at --token-url; --client-id-env, --client-secret-env, --scope).
    #[arg(long, default_value = "none", value_parser = ["none", "api-key", "bearer", "basic", "oauth2"])]
    pub auth: String,
    /// api-key: the header that carries the key [default: X-Api-Key, unless --api-key-query].
    #[arg(long, value_name = "NAME")]
    pub api_key_header: Option<String>,
    /// api-key: send the key as this query parameter instead of a header.
    #[arg(long, value_name = "NAME")]
    pub api_key_query: Option<String>,
    /// api-key: the environment variable (or `.env` entry) that holds the key.
    #[arg(long, value_name = "VAR", default_value = "API_KEY")]
    pub api_key_env: String,
    /// bearer: the environment variable that holds the token.
    #[arg(long, value_name = "VAR", default_value = "API_TOKEN")]
    pub token_env: String,
    /// basic: the environment variable that holds the user name.
    #[arg(long, value_name = "VAR", default_value = "API_USER")]
    pub user_env: String,
    /// basic: the environment variable that holds the password.
    #[arg(long, value_name = "VAR", default_value = "API_PASSWORD")]
    pub password_env: String,
    /// oauth2: the token endpoint.
    #[arg(long, value_name = "URL")]
    pub token_url: Option<String>,
    /// oauth2: the environment variable that holds the client id.
    #[arg(long, value_name = "VAR", default_value = "API_CLIENT_ID")]
    pub client_id_env: String,
    /// oauth2: the environment variable that holds the client secret.
    #[arg(long, value_name = "VAR", default_value = "API_CLIENT_SECRET")]
    pub client_secret_env: String,
    /// oauth2: the scope asked for with the token (space-separated, as the API names them).
    #[arg(long)]
    pub scope: Option<String>,
    /// Where the records are in each answer, as a dotted path (`data.items`) [default: the answer
    /// is the array of records].
    #[arg(long, value_name = "PATH", default_value = "", hide_default_value = true)]
    pub records: String,
    /// Explode this array field (a flattened name): one record per element, its objects flattened
    /// under the field's name (`lines.sku`), the record's other fields repeated. Other arrays stay
    /// JSON text.
    #[arg(long, value_name = "FIELD")]
    pub explode: Option<String>,
    /// How pages are asked for: none, page (?page=N), offset (?offset=N&limit=L), cursor (a value
    /// from the answer, --cursor-path, sent as --cursor-param), link (the Link header's rel="next").
    #[arg(long, default_value = "none", value_parser = ["none", "page", "offset", "cursor", "link"])]
    pub paginate: String,
    /// page: the query parameter that carries the page number.
    #[arg(long, value_name = "NAME", default_value = "page")]
    pub page_param: String,
    /// The first page's number.
    #[arg(long, value_name = "N", default_value_t = 1)]
    #[serde(deserialize_with = "parsed")]
    pub page_start: u64,
    /// Records per page: sent as --page-size-param (page) or --limit-param (offset); an empty page
    /// is the last.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    #[serde(deserialize_with = "parsed_opt")]
    pub page_size: Option<u64>,
    /// page: the query parameter that carries --page-size [default: none: the size is not sent].
    #[arg(long, value_name = "NAME")]
    pub page_size_param: Option<String>,
    /// offset: the query parameter that carries the offset.
    #[arg(long, value_name = "NAME", default_value = "offset")]
    pub offset_param: String,
    /// offset: the query parameter that carries the page size.
    #[arg(long, value_name = "NAME", default_value = "limit")]
    pub limit_param: String,
    /// cursor: where the next cursor is in an answer (`meta.next_cursor`); none, null or empty ends.
    #[arg(long, value_name = "PATH")]
    pub cursor_path: Option<String>,
    /// cursor: the query parameter that carries the cursor.
    #[arg(long, value_name = "NAME", default_value = "cursor")]
    pub cursor_param: String,
    /// More pages than this is an error (nothing is written), not a silent cut.
    #[arg(long, value_name = "N", default_value_t = 1000)]
    #[serde(deserialize_with = "parsed")]
    pub max_pages: u64,
    /// A page larger than this is an error (nothing is written). Pages are spooled to disk and read
    /// as a stream, so this bounds disk and time, not memory. Bytes, or with KiB, MiB, GiB.
    #[arg(long, value_name = "SIZE", default_value = "256MiB")]
    #[serde(deserialize_with = "parsed")]
    pub max_page_bytes: ByteSize,
    /// At most this many requests per second.
    #[arg(long, value_name = "N")]
    #[serde(deserialize_with = "parsed_opt")]
    pub max_rps: Option<f64>,
    /// Retries of a failed request (connection errors, 429, 5xx), with backoff and jitter.
    #[arg(long, value_name = "N", default_value_t = 5)]
    #[serde(deserialize_with = "parsed")]
    pub retries: u32,
    /// Seconds one request may take.
    #[arg(long, value_name = "SECS", default_value_t = 60)]
    #[serde(deserialize_with = "parsed")]
    pub timeout: u64,
    /// Load only what is new: the highest value of this field (a flattened name) is kept in
    /// datasets/<id>/_state.json and sent next time as --since-param; new records are appended.
    #[arg(long, value_name = "FIELD", requires = "since_param")]
    pub incremental_field: Option<String>,
    /// The query parameter that asks the API for records after a value (`updated_since`).
    #[arg(long, value_name = "NAME", requires = "incremental_field")]
    pub since_param: Option<String>,
    /// With --incremental-field: ignore the checkpoint, fetch everything and replace the dataset.
    #[arg(long, requires = "incremental_field")]
    pub full_refresh: bool,
    /// Pin column types: `COL=TYPE,...` (see upload-csv --help).
    #[arg(long, value_name = "COL=TYPE,...")]
    pub types: Vec<String>,
    /// The date format of a column of ambiguous dates: `COL=FMT`.
    #[arg(long, value_name = "COL=FMT")]
    pub date_format: Vec<String>,
    #[command(flatten)]
    #[serde(flatten)]
    pub write: WriteArgs,
}

#[derive(Debug, Clone, Args, Deserialize)]
#[serde(default)]
pub struct LoadPostgresArgs {
    /// postgres://user[:password]@host[:port]/database[?sslmode=require] [default: $DATABASE_URL,
    /// or the variable --url-env names].
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,
    /// The environment variable (or .env entry) holding the URL, for a job file that reads several
    /// databases without writing their passwords down.
    #[arg(long, value_name = "VAR", default_value = "DATABASE_URL")]
    pub url_env: String,
    /// The query whose rows are loaded.
    #[arg(long, conflicts_with = "table", required_unless_present = "table")]
    pub query: Option<String>,
    /// A table (or view) whose rows are loaded: `name` or `schema.name`.
    #[arg(long)]
    pub table: Option<String>,
    #[command(flatten)]
    #[serde(flatten)]
    pub dataset: DatasetArgs,
    /// Load only what is new: rows whose COLUMN is above the highest value loaded before (kept in
    /// datasets/<id>/_state.json); new rows are appended.
    #[arg(long, value_name = "COLUMN")]
    pub incremental_column: Option<String>,
    /// With --incremental-column: ignore the checkpoint, read everything and replace the dataset.
    #[arg(long, requires = "incremental_column")]
    pub full_refresh: bool,
    /// Pin column types over PostgreSQL's: `COL=TYPE,...` (see upload-csv --help).
    #[arg(long, value_name = "COL=TYPE,...")]
    pub types: Vec<String>,
    #[command(flatten)]
    #[serde(flatten)]
    pub write: WriteArgs,
}

#[derive(Debug, Args)]
pub struct LoadCursorUsageArgs {
    /// The export to load [default: the last `team-usage-events-*.csv` by name in --source-dir].
    #[arg(long)]
    pub file: Option<PathBuf>,
    /// Where exports are dropped.
    #[arg(long, default_value = "data_sources", value_name = "DIR")]
    pub source_dir: PathBuf,
    /// The dataset to write.
    #[arg(long, default_value = "cursor-usage")]
    pub dataset_id: String,
    #[command(flatten)]
    pub write: WriteArgs,
    /// Do everything but the write: read, type, stage; print the schema, rows, partitions and the
    /// keys that would be written, left unchanged and deleted (on stdout).
    #[arg(long)]
    pub dry_run: bool,
}

/// Which catalog entries to work on, and how.
#[derive(Debug, Args)]
#[group(id = "selection", required = true, multiple = false)]
pub struct SelectArgs {
    /// Print the catalog's datasets and exit (reads nothing else).
    #[arg(long)]
    pub list: bool,
    /// Load this dataset, named by its `name` or its dataset id (`minio_dataset_id`) (repeatable). A
    /// dataset disabled in the catalog is loaded when named.
    #[arg(long, value_name = "NAME|ID")]
    pub dataset: Vec<String>,
    /// Load every enabled dataset of the catalog; one failure does not stop the others.
    #[arg(long)]
    pub all: bool,
}

/// Options of catalog-driven loads.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Datasets loaded at once with --all [default: half the cores, as one load of a file keeps two
    /// busy; at least 2 when a source waits on a server, whose downloads overlap].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=64))]
    pub jobs: Option<u16>,
    /// Do everything but the write: read, type, stage; print the schema, rows, partitions and the
    /// keys that would be written and deleted (on stdout).
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Args)]
pub struct LoadDomoArgs {
    #[command(flatten)]
    pub select: SelectArgs,
    /// The catalog of Domo datasets.
    #[arg(long, default_value = "config/domo_datasets.yaml", value_name = "PATH")]
    pub config: PathBuf,
    #[command(flatten)]
    pub run: RunArgs,
    #[command(flatten)]
    pub domo: DomoArgs,
    #[command(flatten)]
    pub write: WriteArgs,
}

/// How Domo is reached (also a `domo` job's options).
#[derive(Debug, Clone, Args, Deserialize)]
#[serde(default)]
pub struct DomoArgs {
    /// Domo's API base URL.
    #[arg(long, env = "DOMO_API_HOST", hide_env_values = true, default_value = crate::extract::domo::DEFAULT_HOST, value_name = "URL")]
    pub domo_host: String,
    /// Seconds allowed for getting an access token (and for schema requests).
    #[arg(
        long,
        env = "DOMO_TOKEN_TIMEOUT",
        hide_env_values = true,
        default_value_t = 30,
        value_name = "SECS"
    )]
    #[serde(deserialize_with = "parsed")]
    pub token_timeout: u64,
    /// Seconds allowed for downloading one dataset's export, start to end.
    #[arg(
        long,
        env = "DOMO_EXPORT_TIMEOUT",
        hide_env_values = true,
        default_value_t = 300,
        value_name = "SECS"
    )]
    #[serde(deserialize_with = "parsed")]
    pub export_timeout: u64,
    /// Retries of a request that failed in a way worth retrying (connection errors, 429, 5xx), with
    /// exponential backoff and jitter.
    #[arg(long, env = "DOMO_RETRIES", hide_env_values = true, default_value_t = 5, value_name = "N")]
    #[serde(deserialize_with = "parsed")]
    pub retries: u32,
}

#[derive(Debug, Args)]
pub struct LoadCsvArgs {
    #[command(flatten)]
    pub select: SelectArgs,
    /// The catalog of CSV datasets.
    #[arg(long, default_value = "config/csv_datasets.yaml", value_name = "PATH")]
    pub config: PathBuf,
    #[command(flatten)]
    pub run: RunArgs,
    #[command(flatten)]
    pub write: WriteArgs,
}

/// `etl run`: one of `--list`, `--job`, `--all` is required, as for load-csv (a job file run with
/// none once loaded nothing and said ok), and they do not go together.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("jobs_selection").required(true).multiple(false)))]
pub struct JobsArgs {
    /// The job file (YAML; see docs/catalogs-and-jobs.md).
    pub file: PathBuf,
    /// Print the file's jobs and exit.
    #[arg(long, group = "jobs_selection")]
    pub list: bool,
    /// Run this job, by name or dataset id (repeatable); a disabled job runs when named.
    #[arg(long = "job", value_name = "NAME", group = "jobs_selection")]
    pub job: Vec<String>,
    /// Run every enabled job; one failure does not stop the others.
    #[arg(long, group = "jobs_selection")]
    pub all: bool,
    /// Write only the partitions of these days (`FROM..TO`) in every job run, in place of its own
    /// --partition-range (the units `etl schedule export` writes for a job's `slices:` each pass one).
    #[arg(long, value_name = "FROM..TO")]
    pub partition_range: Option<PartitionRange>,
    /// Wait up to SECS for a dataset another run holds, in every job run, in place of its own
    /// --wait-lock.
    #[arg(long, value_name = "SECS")]
    pub wait_lock: Option<u64>,
    #[command(flatten)]
    pub run: RunArgs,
}

#[derive(Debug, Args)]
pub struct ScheduleArgs {
    #[command(subcommand)]
    pub command: ScheduleCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum ScheduleCommand {
    /// Write the units that run a job file's jobs on a scheduler: Kubernetes CronJobs, Argo
    /// CronWorkflows, an Airflow DAG file or Dagster definitions.
    ///
    /// The jobs without a `schedule:` of their own run together on the file's `schedule:`, each other
    /// job on its own; a disabled job is left out, a job's `slices:` each get a unit. Every unit runs
    /// `etl run <job file> --job NAME`. Exit codes 1 and 75 are retried (--retries, --retry-delay), 2
    /// and 65 are not; one run of a unit at a time. No secret is written: the units read ETL_TARGET
    /// and what the jobs need from the Kubernetes Secret, or the Airflow Variable, named by --secret,
    /// or from Dagster environment variables.
    Export(ScheduleExportArgs),
}

#[derive(Debug, Args)]
pub struct ScheduleExportArgs {
    /// The job file (YAML; see docs/catalogs-and-jobs.md).
    pub file: PathBuf,
    /// The scheduler.
    #[arg(long, value_enum, value_name = "SCHEDULER")]
    pub to: Scheduler,
    /// Write the file into this folder (created if need be) instead of stdout.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// k8s-cronjob, argo: the container image with etl in it (`bash scripts/image.sh TAG` builds one
    /// from the repository's Containerfile).
    #[arg(long)]
    pub image: Option<String>,
    /// The etl executable the units run (a path on the workers, or a name on their PATH).
    #[arg(long, value_name = "PATH", default_value = "etl")]
    pub executable: String,
    /// airflow, dagster: where the workers find the job file [default: its absolute path here];
    /// k8s-cronjob and argo embed it in a ConfigMap.
    #[arg(long, value_name = "PATH")]
    pub job_file: Option<String>,
    /// The folder etl runs in, from which the job file's relative paths are read [default:
    /// airflow, dagster: the folder the export runs in; k8s-cronjob, argo: the image's].
    #[arg(long, value_name = "DIR")]
    pub workdir: Option<String>,
    /// The Kubernetes Secret (k8s-cronjob, argo) or Airflow Variable (airflow; a JSON object) that
    /// holds the environment: ETL_TARGET, the S3 credentials, the jobs' own secrets (dagster: they
    /// come from Dagster's environment variables).
    #[arg(long, value_name = "NAME", default_value = "etl")]
    pub secret: String,
    /// How many times a run that failed (exit 1) or found its dataset locked (exit 75) is tried
    /// again.
    #[arg(long, value_name = "N", default_value_t = 3)]
    pub retries: u32,
    /// How long the scheduler waits before trying again (`90s`, `5m`, `1h`). Kubernetes keeps its
    /// own short delays: its units wait this long for a held lock themselves (--wait-lock).
    #[arg(long, value_name = "DURATION", default_value = "5m")]
    pub retry_delay: String,
    /// How long a unit may run before the scheduler stops it (activeDeadlineSeconds,
    /// execution_timeout, dagster/max_runtime), so that one that hangs does not hold back the next.
    #[arg(long, value_name = "DURATION", default_value = "6h")]
    pub timeout: String,
    /// Names the units: NAME for the jobs on the file's schedule, NAME-<job> for a job with its
    /// own [default: etl-<the job file's name without .yaml>].
    #[arg(long)]
    pub name: Option<String>,
}

#[derive(Debug, Args)]
pub struct RecordArgs {
    /// The dataset.
    pub id: String,
    /// JSON on stdout instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// A dataset with no successful run for longer than this is stale (exit 1): `26h`, `2d`, `90m`,
    /// `1w`. A run that found nothing new succeeded.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub stale_after: Option<std::time::Duration>,
    /// JSON on stdout instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// `26h`, `2d`: a duration, as `--stale-after` takes it.
fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    crate::checks::duration(text).map(std::time::Duration::from_secs)
}

#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// JSON on stdout instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ConvertArgs {
    /// The dataset to convert.
    pub id: String,
    /// The table format to turn it into.
    #[arg(long, value_name = "FORMAT", value_parser = ["delta"])]
    pub to: String,
    /// When another run holds the dataset, wait up to SECS for it instead of failing at once (exit 75).
    #[arg(long, value_name = "SECS", default_value_t = 0)]
    pub wait_lock: u64,
}

#[derive(Debug, Args)]
pub struct VacuumArgs {
    /// The Delta table to vacuum.
    pub id: String,
    /// Keep the files older versions of the last HOURS read (Delta's default: a week). Less, 0
    /// included, is allowed: the versions before it can no longer be read.
    #[arg(long, value_name = "HOURS", default_value_t = 168)]
    pub retain: u64,
    /// Say what would be deleted, delete nothing (takes no lock).
    #[arg(long)]
    pub dry_run: bool,
    /// When another run holds the dataset, wait up to SECS for it instead of failing at once (exit 75).
    #[arg(long, value_name = "SECS", default_value_t = 0)]
    pub wait_lock: u64,
}

#[derive(Debug, Args)]
pub struct CompactArgs {
    /// The dataset to compact.
    pub id: String,
    /// Only the partitions of these days, both included (`2026-10-01..2026-10-31`; either end may be
    /// left out).
    #[arg(long, value_name = "FROM..TO")]
    pub partition_range: Option<PartitionRange>,
    /// When another run holds the dataset, wait up to SECS for it instead of failing at once (exit 75).
    #[arg(long, value_name = "SECS", default_value_t = 0)]
    pub wait_lock: u64,
}

#[derive(Debug, Args)]
pub struct RepairArgs {
    /// The dataset to repair.
    pub id: String,
}

#[derive(Debug, Args)]
pub struct ClearDatasetArgs {
    /// The dataset whose objects are deleted.
    pub id: String,
    /// Only list the objects that would be deleted (on stdout).
    #[arg(long)]
    pub dry_run: bool,
    /// Do not ask for confirmation (needed when stdin is not a terminal).
    #[arg(long, short)]
    pub yes: bool,
}

impl Default for ReadArgs {
    fn default() -> Self {
        ReadArgs {
            delimiter: None,
            comment_char: None,
            skip_rows: None,
            decimal_comma: false,
            encoding: None,
            header: false,
            no_header: false,
            on_bad_rows: "fail".into(),
            null_values: None,
            types: Vec::new(),
            date_format: Vec::new(),
            normalize_columns: false,
        }
    }
}

impl Default for LoadApiArgs {
    fn default() -> Self {
        LoadApiArgs {
            url: String::new(),
            dataset: DatasetArgs::default(),
            method: "GET".into(),
            headers: Vec::new(),
            query: Vec::new(),
            auth: "none".into(),
            api_key_header: None,
            api_key_query: None,
            api_key_env: "API_KEY".into(),
            token_env: "API_TOKEN".into(),
            user_env: "API_USER".into(),
            password_env: "API_PASSWORD".into(),
            token_url: None,
            client_id_env: "API_CLIENT_ID".into(),
            client_secret_env: "API_CLIENT_SECRET".into(),
            scope: None,
            records: String::new(),
            explode: None,
            paginate: "none".into(),
            page_param: "page".into(),
            page_start: 1,
            page_size: None,
            page_size_param: None,
            offset_param: "offset".into(),
            limit_param: "limit".into(),
            cursor_path: None,
            cursor_param: "cursor".into(),
            max_pages: 1000,
            max_page_bytes: ByteSize(256 << 20),
            max_rps: None,
            retries: 5,
            timeout: 60,
            incremental_field: None,
            since_param: None,
            full_refresh: false,
            types: Vec::new(),
            date_format: Vec::new(),
            write: WriteArgs::default(),
        }
    }
}

impl Default for LoadPostgresArgs {
    fn default() -> Self {
        LoadPostgresArgs {
            url: None,
            url_env: "DATABASE_URL".into(),
            query: None,
            table: None,
            dataset: DatasetArgs::default(),
            incremental_column: None,
            full_refresh: false,
            types: Vec::new(),
            write: WriteArgs::default(),
        }
    }
}

impl Default for DomoArgs {
    /// As clap has it: each value from its environment variable when set, else the default.
    fn default() -> Self {
        fn env<T: std::str::FromStr>(name: &str, default: T) -> T {
            std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
        }
        DomoArgs {
            domo_host: env("DOMO_API_HOST", crate::extract::domo::DEFAULT_HOST.to_owned()),
            token_timeout: env("DOMO_TOKEN_TIMEOUT", 30),
            export_timeout: env("DOMO_EXPORT_TIMEOUT", 300),
            retries: env("DOMO_RETRIES", 5),
        }
    }
}

/// A value of a job file, normalised to text as a command line has it, parsed as its option's type.
fn parsed<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: std::str::FromStr,
    T::Err: std::fmt::Display,
{
    let text = String::deserialize(deserializer)?;
    text.trim().parse().map_err(|e| serde::de::Error::custom(format!("`{text}`: {e}")))
}

/// [`parsed`], for an option that may be left out.
fn parsed_opt<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: std::str::FromStr,
    T::Err: std::fmt::Display,
{
    parsed(deserializer).map(Some)
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Wrap<T: Args> {
        #[command(flatten)]
        args: T,
    }

    /// clap's defaults (a command line giving only what is required) and serde's (`Default`, which
    /// job files start from) are the same values.
    fn same_defaults<T: Args + Default + std::fmt::Debug>(required: &[&str], fill: impl FnOnce(&mut T)) {
        let parsed = Wrap::<T>::try_parse_from(std::iter::once("etl").chain(required.iter().copied()))
            .unwrap_or_else(|e| panic!("{e}"))
            .args;
        let mut default = T::default();
        fill(&mut default);
        assert_eq!(format!("{parsed:?}"), format!("{default:?}"));
    }

    #[test]
    fn clap_and_serde_defaults_agree() {
        same_defaults::<UploadCsvArgs>(&["f.csv", "--dataset-id", "d"], |a| {
            a.csv_file = "f.csv".into();
            a.dataset.dataset_id = "d".into();
        });
        same_defaults::<LoadS3Args>(&["--source", "s3://b/*.csv", "--dataset-id", "d"], |a| {
            a.source = Some("s3://b/*.csv".parse().unwrap());
            a.dataset.dataset_id = "d".into();
        });
        same_defaults::<LoadApiArgs>(&["--url", "http://x", "--dataset-id", "d"], |a| {
            a.url = "http://x".into();
            a.dataset.dataset_id = "d".into();
        });
        same_defaults::<LoadPostgresArgs>(&["--table", "t", "--dataset-id", "d"], |a| {
            a.table = Some("t".into());
            a.dataset.dataset_id = "d".into();
        });
        same_defaults::<DomoArgs>(&[], |_| {});
    }
}
