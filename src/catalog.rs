//! Dataset catalogs: the YAML files that list what a team loads (`config/domo_datasets.yaml`,
//! `config/csv_datasets.yaml`). A catalog is checked whole (unknown keys, missing fields, duplicate
//! names or ids, invalid ids, patterns and types) before anything runs, and every error names the
//! file, the entry and the field.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::Deserialize;

use crate::error::{Error, Result};
use crate::extract::csv::{last_file_matching, parse_comment_char, parse_delimiter, CsvOptions};
use crate::extract::domo::DomoId;
use crate::extract::input::encoding_for_label;
use crate::load::delta::TableFormat;
use crate::load::layout::DatasetId;
use crate::load::WriteMode;
use crate::transform::{pins_from, NullTokens, Pins};

/// What every checked catalog entry offers the runner.
pub trait Entry {
    /// The entry's `name`.
    fn name(&self) -> &str;
    /// The dataset it writes.
    fn dataset(&self) -> &DatasetId;
    /// The id of its source, if it has one a person might select it by (the Domo dataset id).
    fn source_id(&self) -> Option<&str> {
        None
    }
    /// The YAML field of that id.
    const SOURCE_ID_FIELD: &'static str = "source id";
    /// What an entry is to a person: a catalog's `dataset`, a job file's `job`.
    const NOUN: &'static str = "dataset";
    /// Whether `--all` loads it.
    fn enabled(&self) -> bool;
    /// Whether its load mostly waits on a server (a Domo export, an API, a query) rather than keeping
    /// cores busy: such loads overlap well at once (`runner::default_jobs`).
    fn waits_on_a_server(&self) -> bool {
        false
    }
    /// The column titles of `--list`.
    fn list_header() -> &'static [&'static str];
    /// This entry's `--list` row.
    fn list_row(&self) -> Vec<String>;
}

/// An entry as written in YAML, before its fields are checked.
pub trait RawEntry: DeserializeOwned {
    type Checked: Entry;
    /// The entry's `name`, unchecked (for messages).
    fn name(&self) -> &str;
    /// Checks the fields; on error, the field's name and what is wrong with it.
    fn check(self) -> std::result::Result<Self::Checked, (&'static str, String)>;
}

/// A checked catalog.
#[derive(Debug)]
pub struct Catalog<E> {
    pub path: PathBuf,
    pub entries: Vec<E>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CatalogFile<R> {
    datasets: Vec<R>,
}

impl<E: Entry> Catalog<E> {
    /// Reads and checks the catalog at `path`.
    pub fn load<R: RawEntry<Checked = E>>(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::Config {
            path: path.to_owned(),
            message: match e.kind() {
                std::io::ErrorKind::NotFound => {
                    "no such file; pass --config with the catalog's path (relative paths start at the \
                     current folder)"
                        .to_owned()
                }
                _ => format!("cannot be read: {e}"),
            },
        })?;
        Self::parse::<R>(path, &text)
    }

    /// Checks the catalog text `text`, read from `path`.
    pub fn parse<R: RawEntry<Checked = E>>(path: &Path, text: &str) -> Result<Self> {
        let fail = |message: String| Error::Config { path: path.to_owned(), message };
        if text.trim().is_empty() {
            return Err(fail("the file is empty; it should hold a `datasets:` list".into()));
        }
        let file: CatalogFile<R> =
            serde_yaml::from_str(text).map_err(|e| fail(describe_yaml_error(text, &e)))?;
        let mut entries: Vec<E> = Vec::with_capacity(file.datasets.len());
        for (i, raw) in file.datasets.into_iter().enumerate() {
            let name = raw.name().to_owned();
            let entry = raw.check().map_err(|(field, message)| {
                fail(format!("{}, field `{field}`: {message}", entry_label(i, Some(&name))))
            })?;
            entries.push(entry);
        }
        check_unique(&entries).map_err(fail)?;
        Ok(Catalog { path: path.to_owned(), entries })
    }

    /// The entries `names` select (each by its name, dataset id or source id), or with `all` every
    /// enabled entry. Naming a disabled entry loads it, with a warning.
    pub fn select(&self, names: &[String], all: bool) -> Result<Vec<&E>> {
        if all {
            return Ok(self.entries.iter().filter(|e| e.enabled()).collect());
        }
        let mut chosen: Vec<&E> = Vec::new();
        for wanted in names {
            // A name wins over ids, so every entry can be picked by its name.
            let by_name: Vec<&E> = self.entries.iter().filter(|e| e.name() == wanted).collect();
            let matches: Vec<&E> = if by_name.is_empty() {
                let source_id = normalise_source_id(wanted);
                self.entries
                    .iter()
                    .filter(|e| e.dataset().as_str() == wanted || e.source_id() == Some(source_id.as_str()))
                    .collect()
            } else {
                by_name
            };
            let entry = match matches.as_slice() {
                [one] => *one,
                [] => {
                    let ids = if self.entries.iter().any(|e| e.source_id().is_some()) {
                        format!("its name, dataset id or {}", E::SOURCE_ID_FIELD)
                    } else {
                        "its name or dataset id".to_owned()
                    };
                    return Err(Error::Usage(format!(
                        "no {} `{wanted}` in {}: name one by {ids} (`--list` shows them)",
                        E::NOUN,
                        self.path.display(),
                    )));
                }
                several => {
                    let names: Vec<String> = several.iter().map(|e| format!("\"{}\"", e.name())).collect();
                    return Err(Error::Usage(format!(
                        "`{wanted}` matches several entries of {} ({}); use the entry's name",
                        self.path.display(),
                        names.join(", ")
                    )));
                }
            };
            if !entry.enabled() {
                tracing::warn!(
                    "\"{}\" is disabled in {}; loading it because it was named",
                    entry.name(),
                    self.path.display()
                );
            }
            if !chosen.iter().any(|c| std::ptr::eq(*c, entry)) {
                chosen.push(entry);
            }
        }
        Ok(chosen)
    }

    /// The `--list` table.
    pub fn list(&self) -> String {
        let rows: Vec<Vec<String>> = self.entries.iter().map(Entry::list_row).collect();
        crate::summary::table(E::list_header(), &rows)
    }
}

/// Source ids are compared as the catalog stores them (Domo ids in lower case).
fn normalise_source_id(text: &str) -> String {
    DomoId::parse(text).map(|id| id.as_str().to_owned()).unwrap_or_else(|_| text.to_owned())
}

fn entry_label(index: usize, name: Option<&str>) -> String {
    match name {
        Some(name) => format!("entry {} (\"{name}\")", index + 1),
        None => format!("entry {}", index + 1),
    }
}

/// Two entries may not share a name, a dataset or a source.
fn check_unique<E: Entry>(entries: &[E]) -> std::result::Result<(), String> {
    let mut seen: [(&str, HashMap<&str, usize>); 3] = [
        ("name", HashMap::new()),
        ("minio_dataset_id", HashMap::new()),
        (E::SOURCE_ID_FIELD, HashMap::new()),
    ];
    for (i, e) in entries.iter().enumerate() {
        let keys = [Some(e.name()), Some(e.dataset().as_str()), e.source_id()];
        for ((what, seen), key) in seen.iter_mut().zip(keys) {
            let Some(key) = key else { continue };
            if let Some(first) = seen.insert(key, i) {
                return Err(format!(
                    "{}: its {what} `{key}` is also that of {}; each must be unique",
                    entry_label(i, Some(e.name())),
                    entry_label(first, Some(entries[first].name()))
                ));
            }
        }
    }
    Ok(())
}

/// serde_yaml's message, with the entry named: `entry 2 ("Sales"), line 9: unknown field ...`.
fn describe_yaml_error(text: &str, error: &serde_yaml::Error) -> String {
    let mut message = error.to_string();
    if let Some(location) = error.location() {
        let suffix = format!(" at line {} column {}", location.line(), location.column());
        if let Some(stripped) = message.strip_suffix(&suffix) {
            message = stripped.to_owned();
        }
    }
    let line = error.location().map(|l| format!("line {}", l.line()));
    // serde_yaml prefixes the path of the value: `datasets[1].exclude_filter: ...`.
    let entry = message.strip_prefix("datasets[").and_then(|rest| {
        let (index, rest) = rest.split_once(']')?;
        let index: usize = index.parse().ok()?;
        let (field, rest) = match rest.strip_prefix('.') {
            Some(r) => r.split_once(": ").map(|(f, r)| (Some(f.to_owned()), r.to_owned()))?,
            None => (None, rest.strip_prefix(": ")?.to_owned()),
        };
        Some((index, field, rest))
    });
    match entry {
        Some((index, field, rest)) => {
            let name = entry_name(text, index);
            let mut place = entry_label(index, name.as_deref());
            if let Some(field) = field {
                place += &format!(", field `{field}`");
            }
            if let Some(line) = line {
                place += &format!(", {line}");
            }
            format!("{place}: {rest}")
        }
        None => match line {
            Some(line) => format!("{line}: {message}"),
            None => message,
        },
    }
}

/// The `name` of entry `index`, read leniently (for error messages only).
fn entry_name(text: &str, index: usize) -> Option<String> {
    let value: serde_yaml::Value = serde_yaml::from_str(text).ok()?;
    value.get("datasets")?.get(index)?.get("name")?.as_str().map(str::to_owned)
}

/// `exclude_filter:` keep only the rows whose `column` equals `keep_value`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExcludeFilter {
    pub column: String,
    pub keep_value: String,
}

fn yes() -> bool {
    true
}

fn check_dataset_id(id: &str) -> std::result::Result<DatasetId, (&'static str, String)> {
    DatasetId::parse(id).map_err(|e| ("minio_dataset_id", e.to_string()))
}

fn check_name(name: &str) -> std::result::Result<(), (&'static str, String)> {
    if name.trim().is_empty() {
        return Err(("name", "it is empty".into()));
    }
    Ok(())
}

fn check_column(
    field: &'static str,
    column: &Option<String>,
) -> std::result::Result<(), (&'static str, String)> {
    match column {
        Some(c) if c.trim().is_empty() => Err((field, "it is empty; leave it out (or null) for none".into())),
        _ => Ok(()),
    }
}

/// `types:` pinned column types, by type name.
fn check_types(types: &BTreeMap<String, String>) -> std::result::Result<Pins, (&'static str, String)> {
    let types: Vec<(String, String)> = types.iter().map(|(c, t)| (c.clone(), t.clone())).collect();
    pins_from(&types, &[]).map(Pins::lenient).map_err(|e| ("types", e))
}

/// A list of columns as an entry gives them (`primary_key:`, `sort_by:`): `id`, `"a,b"` or a list,
/// each named once.
fn column_list(
    field: &'static str,
    value: Option<&serde_yaml::Value>,
) -> std::result::Result<Vec<String>, (&'static str, String)> {
    let names: Vec<String> = match value {
        None => Vec::new(),
        Some(serde_yaml::Value::String(text)) => vec![text.clone()],
        Some(serde_yaml::Value::Sequence(items)) => items
            .iter()
            .map(|i| i.as_str().map(str::to_owned).ok_or((field, "a list of column names".to_owned())))
            .collect::<std::result::Result<_, _>>()?,
        Some(_) => return Err((field, "a column name, `a,b`, or a list of names".into())),
    };
    crate::pipeline::commit::checked_primary_key(&names).map_err(|e| (field, e))
}

fn check_table_format(
    format: Option<&str>,
) -> std::result::Result<Option<TableFormat>, (&'static str, String)> {
    format.map(str::parse).transpose().map_err(|e| ("table_format", e))
}

fn check_filter(
    filter: Option<ExcludeFilter>,
) -> std::result::Result<Option<(String, String)>, (&'static str, String)> {
    match filter {
        Some(f) if f.column.trim().is_empty() => Err(("exclude_filter", "its `column` is empty".into())),
        Some(f) => Ok(Some((f.column, f.keep_value))),
        None => Ok(None),
    }
}

/// An entry of `config/domo_datasets.yaml`, as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDomoEntry {
    name: String,
    #[serde(default)]
    description: Option<String>,
    domo_dataset_id: String,
    /// `dataset_id` as job files name it is the same key.
    #[serde(alias = "dataset_id")]
    minio_dataset_id: String,
    #[serde(default)]
    partition_column: Option<String>,
    #[serde(default = "yes")]
    enabled: bool,
    #[serde(default)]
    exclude_filter: Option<ExcludeFilter>,
    #[serde(default)]
    types: BTreeMap<String, String>,
    /// Data-quality checks (see [`crate::checks::parse`]).
    #[serde(default)]
    checks: Option<serde_yaml::Value>,
    /// Columns whose values check examples never show (names, or `{name: true}`).
    #[serde(default)]
    sensitive: Option<serde_yaml::Value>,
    /// `hive` or `delta` (as --table-format).
    #[serde(default)]
    table_format: Option<String>,
    /// `User`, `"User,Date"` or a list: each file's rows sorted by them (as --sort-by).
    #[serde(default)]
    sort_by: Option<serde_yaml::Value>,
}

/// A catalog entry's (or a job's) `checks:` and `sensitive:` columns.
#[derive(Debug, Clone, Default)]
pub struct DatasetChecks {
    pub checks: Vec<crate::checks::Check>,
    pub sensitive: Vec<String>,
}

impl DatasetChecks {
    fn parse(
        checks: Option<&serde_yaml::Value>,
        sensitive: Option<&serde_yaml::Value>,
    ) -> std::result::Result<Self, (&'static str, String)> {
        let checks =
            checks.map(crate::checks::parse).transpose().map_err(|e| ("checks", e))?.unwrap_or_default();
        let sensitive = sensitive
            .map(crate::checks::sensitive_columns)
            .transpose()
            .map_err(|e| ("sensitive", e))?
            .unwrap_or_default();
        Ok(DatasetChecks { checks, sensitive })
    }

    /// The command line's write settings with these checks first (`--check` adds to them).
    pub fn added_to(
        &self,
        write: &crate::pipeline::commit::WriteSettings,
    ) -> crate::pipeline::commit::WriteSettings {
        let mut write = write.clone();
        write.checks = self.checks.iter().cloned().chain(write.checks).collect();
        write.sensitive = self.sensitive.iter().cloned().chain(write.sensitive).collect();
        write
    }
}

/// A checked Domo catalog entry.
#[derive(Debug, Clone)]
pub struct DomoEntry {
    pub name: String,
    pub description: Option<String>,
    pub domo_id: DomoId,
    pub dataset: DatasetId,
    pub partition_column: Option<String>,
    pub enabled: bool,
    /// Keep only rows whose column (first) equals the value (second).
    pub keep_rows: Option<(String, String)>,
    /// Types pinned in the catalog; they win over Domo's schema.
    pub pins: Pins,
    pub checks: DatasetChecks,
    /// The entry's `table_format:` (`--table-format` wins).
    pub table_format: Option<TableFormat>,
    /// The entry's `sort_by:` (`--sort-by` wins).
    pub sort_by: Vec<String>,
}

impl RawEntry for RawDomoEntry {
    type Checked = DomoEntry;

    fn name(&self) -> &str {
        &self.name
    }

    fn check(self) -> std::result::Result<DomoEntry, (&'static str, String)> {
        check_name(&self.name)?;
        check_column("partition_column", &self.partition_column)?;
        Ok(DomoEntry {
            domo_id: DomoId::parse(self.domo_dataset_id.trim()).map_err(|e| ("domo_dataset_id", e))?,
            dataset: check_dataset_id(&self.minio_dataset_id)?,
            keep_rows: check_filter(self.exclude_filter)?,
            pins: check_types(&self.types)?,
            checks: DatasetChecks::parse(self.checks.as_ref(), self.sensitive.as_ref())?,
            table_format: check_table_format(self.table_format.as_deref())?,
            sort_by: column_list("sort_by", self.sort_by.as_ref())?,
            name: self.name,
            description: self.description,
            partition_column: self.partition_column,
            enabled: self.enabled,
        })
    }
}

impl DomoEntry {
    /// The command line's write settings, with the entry's checks and table format.
    pub fn write(
        &self,
        write: &crate::pipeline::commit::WriteSettings,
    ) -> crate::pipeline::commit::WriteSettings {
        let mut write = self.checks.added_to(write);
        write.table_format = write.table_format.or(self.table_format);
        if write.files.sort_by.is_empty() {
            write.files.sort_by = self.sort_by.clone();
        }
        write
    }
}

impl Entry for DomoEntry {
    fn waits_on_a_server(&self) -> bool {
        true
    }

    fn name(&self) -> &str {
        &self.name
    }
    fn dataset(&self) -> &DatasetId {
        &self.dataset
    }
    fn source_id(&self) -> Option<&str> {
        Some(self.domo_id.as_str())
    }
    const SOURCE_ID_FIELD: &'static str = "domo_dataset_id";
    fn enabled(&self) -> bool {
        self.enabled
    }
    fn list_header() -> &'static [&'static str] {
        &["NAME", "DOMO ID", "DATASET ID", "PARTITION COLUMN", "ENABLED"]
    }
    fn list_row(&self) -> Vec<String> {
        vec![
            self.name.clone(),
            self.domo_id.to_string(),
            self.dataset.to_string(),
            self.partition_column.clone().unwrap_or_else(|| "-".into()),
            if self.enabled { "yes" } else { "no" }.into(),
        ]
    }
}

/// `csv_options:` of a CSV catalog entry (each as the `upload-csv` flag of the same name).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCsvOptions {
    #[serde(default)]
    delimiter: Option<String>,
    #[serde(default)]
    comment_char: Option<String>,
    #[serde(default)]
    skip_rows: Option<u64>,
    #[serde(default)]
    decimal_comma: Option<bool>,
    #[serde(default)]
    encoding: Option<String>,
    #[serde(default)]
    header: Option<bool>,
    #[serde(default)]
    null_values: Option<Vec<String>>,
    #[serde(default)]
    on_bad_rows: Option<String>,
    #[serde(default)]
    normalize_columns: Option<bool>,
}

/// An entry of `config/csv_datasets.yaml`, as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCsvEntry {
    name: String,
    #[serde(default)]
    description: Option<String>,
    /// `dataset_id` as job files name it is the same key.
    #[serde(alias = "dataset_id")]
    minio_dataset_id: String,
    source_dir: PathBuf,
    file_pattern: String,
    #[serde(default)]
    partition_column: Option<String>,
    #[serde(default = "yes")]
    enabled: bool,
    #[serde(default)]
    csv_options: Option<RawCsvOptions>,
    #[serde(default)]
    exclude_filter: Option<ExcludeFilter>,
    #[serde(default)]
    types: BTreeMap<String, String>,
    #[serde(default)]
    date_formats: BTreeMap<String, String>,
    /// `merge`, `replace` or `upsert`.
    #[serde(default)]
    mode: Option<String>,
    /// The columns that identify a row: `id`, `"order_id,line"` or a list (as --primary-key).
    #[serde(default)]
    primary_key: Option<serde_yaml::Value>,
    #[serde(default)]
    dedup_by: Option<String>,
    /// Data-quality checks (see [`crate::checks::parse`]).
    #[serde(default)]
    checks: Option<serde_yaml::Value>,
    /// Columns whose values check examples never show (names, or `{name: true}`).
    #[serde(default)]
    sensitive: Option<serde_yaml::Value>,
    /// `hive` or `delta` (as --table-format).
    #[serde(default)]
    table_format: Option<String>,
    /// `User`, `"User,Date"` or a list: each file's rows sorted by them (as --sort-by).
    #[serde(default)]
    sort_by: Option<serde_yaml::Value>,
}

/// A checked CSV catalog entry.
#[derive(Debug, Clone)]
pub struct CsvEntry {
    pub name: String,
    pub description: Option<String>,
    pub dataset: DatasetId,
    /// Relative to the current folder.
    pub source_dir: PathBuf,
    /// Matched against file names in `source_dir`; the last match by name is loaded.
    pub file_pattern: glob::Pattern,
    pub partition_column: Option<String>,
    pub enabled: bool,
    pub csv: CsvOptions,
    pub null_values: NullTokens,
    /// The entry's `mode:` (`--mode` wins).
    pub mode: Option<WriteMode>,
    /// The entry's `primary_key:` and `dedup_by:` (`--primary-key` wins).
    pub primary_key: Vec<String>,
    pub dedup_by: Option<String>,
    pub keep_rows: Option<(String, String)>,
    pub pins: Pins,
    pub checks: DatasetChecks,
    /// The entry's `table_format:` (`--table-format` wins).
    pub table_format: Option<TableFormat>,
    /// The entry's `sort_by:` (`--sort-by` wins).
    pub sort_by: Vec<String>,
}

fn check_csv_options(
    raw: RawCsvOptions,
) -> std::result::Result<(CsvOptions, NullTokens), (&'static str, String)> {
    let field = |e: String| ("csv_options", e);
    let nulls = raw.null_values.as_deref().map_or_else(NullTokens::standard, NullTokens::new);
    let options = CsvOptions {
        delimiter: raw.delimiter.as_deref().map(parse_delimiter).transpose().map_err(field)?,
        comment: raw
            .comment_char
            .as_deref()
            .map(parse_comment_char)
            .transpose()
            .map_err(field)?
            .unwrap_or_default(),
        skip_rows: raw.skip_rows,
        decimal_comma: raw.decimal_comma,
        encoding: raw
            .encoding
            .as_deref()
            .map(|label| {
                encoding_for_label(label).ok_or_else(|| {
                    format!("encoding `{label}` is unknown; use e.g. utf-8, windows-1252, shift_jis, euc-jp")
                })
            })
            .transpose()
            .map_err(field)?,
        header: raw.header,
        bad_rows: raw
            .on_bad_rows
            .as_deref()
            .map(str::parse)
            .transpose()
            .map_err(|e| field(format!("on_bad_rows: {e}")))?
            .unwrap_or_default(),
        normalize_columns: raw.normalize_columns.unwrap_or(false),
    };
    Ok((options, nulls))
}

impl RawEntry for RawCsvEntry {
    type Checked = CsvEntry;

    fn name(&self) -> &str {
        &self.name
    }

    fn check(self) -> std::result::Result<CsvEntry, (&'static str, String)> {
        check_name(&self.name)?;
        check_column("partition_column", &self.partition_column)?;
        if self.file_pattern.contains('/') || self.file_pattern.contains('\\') {
            return Err((
                "file_pattern",
                format!("`{}` must match file names only; put the folder in source_dir", self.file_pattern),
            ));
        }
        let file_pattern = glob::Pattern::new(&self.file_pattern)
            .map_err(|e| ("file_pattern", format!("`{}` is not a valid glob: {e}", self.file_pattern)))?;
        if self.source_dir.as_os_str().is_empty() {
            return Err(("source_dir", "it is empty; use `.` for the current folder".into()));
        }
        let date_formats: Vec<(String, String)> = self.date_formats.into_iter().collect();
        let pins = pins_from(&[], &date_formats).map_err(|e| ("date_formats", e))?;
        let (csv, null_values) = check_csv_options(self.csv_options.unwrap_or_default())?;
        let mode = self.mode.as_deref().map(str::parse::<WriteMode>).transpose().map_err(|e| ("mode", e))?;
        let primary_key = column_list("primary_key", self.primary_key.as_ref())?;
        match mode {
            Some(WriteMode::Upsert) if primary_key.is_empty() => {
                return Err(("mode", "upsert needs primary_key: the columns that identify a row".into()))
            }
            Some(WriteMode::Merge | WriteMode::Append) if !primary_key.is_empty() => {
                return Err((
                    "primary_key",
                    "rows are upserted by it: leave mode out (upsert) or give replace".into(),
                ))
            }
            _ => {}
        }
        if self.dedup_by.is_some() && primary_key.is_empty() {
            return Err(("dedup_by", "it needs primary_key".into()));
        }
        Ok(CsvEntry {
            checks: DatasetChecks::parse(self.checks.as_ref(), self.sensitive.as_ref())?,
            table_format: check_table_format(self.table_format.as_deref())?,
            sort_by: column_list("sort_by", self.sort_by.as_ref())?,
            primary_key,
            dedup_by: self.dedup_by,
            dataset: check_dataset_id(&self.minio_dataset_id)?,
            csv,
            null_values,
            mode,
            keep_rows: check_filter(self.exclude_filter)?,
            pins: check_types(&self.types)?.overridden_by(&pins),
            name: self.name,
            description: self.description,
            source_dir: self.source_dir,
            file_pattern,
            partition_column: self.partition_column,
            enabled: self.enabled,
        })
    }
}

impl Entry for CsvEntry {
    fn name(&self) -> &str {
        &self.name
    }
    fn dataset(&self) -> &DatasetId {
        &self.dataset
    }
    fn enabled(&self) -> bool {
        self.enabled
    }
    fn list_header() -> &'static [&'static str] {
        &["NAME", "SOURCE", "DATASET ID", "PARTITION COLUMN", "ENABLED"]
    }
    fn list_row(&self) -> Vec<String> {
        vec![
            self.name.clone(),
            self.source_dir.join(self.file_pattern.as_str()).display().to_string(),
            self.dataset.to_string(),
            self.partition_column.clone().unwrap_or_else(|| "-".into()),
            if self.enabled { "yes" } else { "no" }.into(),
        ]
    }
}

impl CsvEntry {
    /// The command line's write settings, with the entry's mode and key where the command line gives
    /// none.
    pub fn write(
        &self,
        write: &crate::pipeline::commit::WriteSettings,
    ) -> crate::pipeline::commit::WriteSettings {
        let mut write = self.checks.added_to(write);
        // The entry's mode is given as much as `--mode` is; the command line's wins.
        write.mode = write.mode.or(self.mode);
        write.table_format = write.table_format.or(self.table_format);
        if write.files.sort_by.is_empty() {
            write.files.sort_by = self.sort_by.clone();
        }
        if write.primary_key.is_empty() {
            write.primary_key = self.primary_key.clone();
            write.dedup_by = write.dedup_by.or_else(|| self.dedup_by.clone());
        }
        write
    }

    /// The file to load: the last match of the pattern in `source_dir`, by file name.
    pub fn latest_file(&self) -> Result<PathBuf> {
        let dir = &self.source_dir;
        let found = last_file_matching(dir, |n| self.file_pattern.matches(n)).map_err(|e| {
            Error::Usage(format!(
                "\"{}\": cannot read source_dir `{}`: {e} (relative folders start at the current folder)",
                self.name,
                dir.display()
            ))
        })?;
        found.ok_or_else(|| {
            Error::Usage(format!(
                "\"{}\": no file in `{}` matches `{}`",
                self.name,
                dir.display(),
                self.file_pattern.as_str()
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transform::Parser;

    const DOMO: &str = r#"
datasets:
  - name: "APAC DOT join Due Date change(first time)"
    description: "Due dates"
    domo_dataset_id: "c1cddf9d-0000-0000-0000-000000000000"
    minio_dataset_id: "apac-dot-due-date"
    partition_column: "delivery completed date"
    enabled: true
    exclude_filter:
      column: "exclude_flg"
      keep_value: "Not Exclude"
  - name: "Sales"
    domo_dataset_id: "c1cddf9d-0000-0000-0000-000000000001"
    minio_dataset_id: "sales"
    partition_column: null
    enabled: false
"#;

    fn domo(text: &str) -> Result<Catalog<DomoEntry>> {
        Catalog::parse::<RawDomoEntry>(Path::new("domo.yaml"), text)
    }

    fn error(text: &str) -> String {
        domo(text).unwrap_err().to_string()
    }

    #[test]
    fn the_file_in_use_loads_unchanged() {
        let catalog = domo(DOMO).unwrap();
        assert_eq!(catalog.entries.len(), 2);
        let first = &catalog.entries[0];
        assert_eq!(first.dataset.as_str(), "apac-dot-due-date");
        assert_eq!(first.partition_column.as_deref(), Some("delivery completed date"));
        assert_eq!(first.keep_rows, Some(("exclude_flg".into(), "Not Exclude".into())));
        assert_eq!(catalog.entries[1].partition_column, None);
        assert!(!catalog.entries[1].enabled);
    }

    #[test]
    fn selection_by_name_or_id() {
        let catalog = domo(DOMO).unwrap();
        let pick = |w: &str| catalog.select(&[w.to_owned()], false).map(|v| v[0].name.clone());
        assert_eq!(pick("sales").unwrap(), "Sales");
        assert_eq!(pick("c1cddf9d-0000-0000-0000-000000000001").unwrap(), "Sales");
        assert_eq!(pick("Sales").unwrap(), "Sales");
        assert!(pick("nope").unwrap_err().to_string().contains("no dataset `nope`"));
        assert_eq!(pick("C1CDDF9D-0000-0000-0000-000000000001").unwrap(), "Sales");
        // `--all` takes the enabled entries only.
        assert_eq!(catalog.select(&[], true).unwrap().len(), 1);
    }

    #[test]
    fn a_name_wins_over_an_id() {
        // Entry 2's name is entry 1's dataset id: each can still be picked.
        let text = DOMO.replace("name: \"Sales\"", "name: \"apac-dot-due-date\"");
        let catalog = domo(&text).unwrap();
        let pick = |w: &str| catalog.select(&[w.to_owned()], false).map(|v| v[0].domo_id.to_string());
        assert_eq!(pick("apac-dot-due-date").unwrap(), "c1cddf9d-0000-0000-0000-000000000001");
        assert_eq!(
            pick("APAC DOT join Due Date change(first time)").unwrap(),
            "c1cddf9d-0000-0000-0000-000000000000"
        );
    }

    #[test]
    fn errors_name_the_file_entry_and_field() {
        let misspelt = DOMO.replace("    partition_column: null", "    partiton_column: null");
        let e = error(&misspelt);
        assert!(
            e.starts_with("domo.yaml: entry 2 (\"Sales\"), line 15: unknown field `partiton_column`"),
            "{e}"
        );

        // Job files' `dataset_id` is the same key.
        let renamed = DOMO.replace("    minio_dataset_id: \"sales\"", "    dataset_id: \"sales\"");
        let catalog = domo(&renamed).unwrap();
        assert!(catalog.entries.iter().any(|e| e.dataset().as_str() == "sales"));

        let missing = DOMO.replace("    minio_dataset_id: \"sales\"\n", "");
        let e = error(&missing);
        assert!(e.contains("entry 2 (\"Sales\")") && e.contains("missing field `minio_dataset_id`"), "{e}");

        let filter = DOMO.replace("keep_value:", "keep_val:");
        let e = error(&filter);
        assert!(e.contains("entry 1 (\"APAC") && e.contains("field `exclude_filter`"), "{e}");

        let bad_id = DOMO.replace("\"sales\"", "\"sales/2026\"");
        let e = error(&bad_id);
        assert!(
            e.contains("entry 2 (\"Sales\"), field `minio_dataset_id`: invalid dataset id `sales/2026`"),
            "{e}"
        );

        let bad_domo = DOMO.replace("000000000001", "nope");
        assert!(error(&bad_domo).contains("field `domo_dataset_id`"));

        let dup = DOMO.replace("\"sales\"", "\"apac-dot-due-date\"");
        let e = error(&dup);
        assert!(
            e.contains(
                "entry 2 (\"Sales\"): its minio_dataset_id `apac-dot-due-date` is also that of entry 1"
            ),
            "{e}"
        );

        let dup_name = DOMO.replace("\"Sales\"", "\"APAC DOT join Due Date change(first time)\"");
        assert!(error(&dup_name).contains("its name"));

        assert!(error("").contains("empty"));
        assert!(error("dataset: []").contains("unknown field `dataset`"));
        let e = error(&DOMO.replace("types", "x").replace("enabled: false", "types: {a: wat}"));
        assert!(e.contains("field `types`: column `a`: unknown type `wat`"), "{e}");
    }

    #[test]
    fn csv_entries() {
        let text = r#"
datasets:
  - name: cursor-usage
    description: usage events
    minio_dataset_id: cursor-usage
    source_dir: data_sources
    file_pattern: "team-usage-events-*.csv"
    partition_column: Date
    enabled: true
    csv_options: {delimiter: ";", encoding: utf-8}
    types: {Cost: money, "Max Mode": yes_no}
"#;
        let catalog = Catalog::parse::<RawCsvEntry>(Path::new("csv.yaml"), text).unwrap();
        let e = &catalog.entries[0];
        assert_eq!(e.csv.delimiter, Some(crate::extract::csv::Delimiter::of(b';')));
        assert_eq!(e.pins.get("Cost"), Some(Parser::Money));
        assert!(e.file_pattern.matches("team-usage-events-2026-11-01.csv"));
        let shaped = text.replace(
            "csv_options: {delimiter: \";\", encoding: utf-8}",
            "csv_options: {delimiter: \", \", comment_char: \"%\", skip_rows: 2, decimal_comma: true}",
        );
        let e = &Catalog::parse::<RawCsvEntry>(Path::new("csv.yaml"), &shaped).unwrap().entries[0];
        assert_eq!(e.csv.delimiter, Some(crate::extract::csv::Delimiter { byte: b',', space_after: true }));
        assert_eq!(e.csv.comment, crate::extract::dialect::Setting::Given(b'%'));
        assert_eq!((e.csv.skip_rows, e.csv.decimal_comma), (Some(2), Some(true)));
        let bad = text.replace("utf-8}", "klingon}");
        let e = Catalog::parse::<RawCsvEntry>(Path::new("csv.yaml"), &bad).unwrap_err().to_string();
        assert!(e.contains("field `csv_options`: encoding `klingon` is unknown"), "{e}");
        let bad = text.replace("\"team-usage-events-*.csv\"", "\"a/*.csv\"");
        assert!(Catalog::parse::<RawCsvEntry>(Path::new("csv.yaml"), &bad).is_err());
    }
}
