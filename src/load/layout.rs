//! Every object key the tool writes is named here, and nowhere else.
//!
//! ```text
//! datasets/<id>/data/part-0000.parquet                          (unpartitioned)
//! datasets/<id>/partitions/date=YYYY-MM-DD/part-0000.parquet    (partitioned by a date column)
//! datasets/<id>/partitions/date=__HIVE_DEFAULT_PARTITION__/...  (rows whose partition value is null)
//! datasets/<id>/_manifest.json                                   (the dataset as the last run left it)
//! datasets/<id>/_runs/<run-id>.json                              (one record per run)
//! datasets/<id>/_rejects/<run-id>.csv                            (bad rows a run quarantined)
//! ```
//! A dataset written as a Delta Lake table (`--table-format delta`) keeps the same folders, names each
//! data file once (`part-0000-<run-id>.parquet`: the protocol never lets a file be overwritten) and
//! adds its log:
//! ```text
//! datasets/<id>/_delta_log/00000000000000000007.json             (version 7: one commit)
//! datasets/<id>/_delta_log/00000000000000000010.checkpoint.parquet (every 10 versions)
//! datasets/<id>/_delta_log/_last_checkpoint
//! ```
//! The partition key lives only in the path (Hive style); files keep the source column itself.

use std::fmt;

use crate::error::{Error, Result};
use crate::transform::calendar::{civil_from_days, format_day};

/// The key of the partition folders: `date=YYYY-MM-DD`.
pub const PARTITION_KEY: &str = "date";

/// The folder name Hive, Spark and DuckDB use for a null partition value.
pub const HIVE_NULL_PARTITION: &str = "__HIVE_DEFAULT_PARTITION__";

/// A validated dataset id: letters, digits, `.`, `_`, `-`; not empty, no `..`, no `/`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DatasetId(String);

impl DatasetId {
    /// Validates `id` for use as one key segment.
    pub fn parse(id: &str) -> Result<Self> {
        const RULE: &str = "ids take letters, digits, `.`, `_` and `-`";
        let fail = |reason: String| Err(Error::InvalidDatasetId { id: id.to_owned(), reason });
        if id.is_empty() {
            return fail(format!("it is empty; {RULE}"));
        }
        if id.len() > 200 {
            return fail("it is longer than 200 characters".into());
        }
        if id.contains("..") {
            return fail(format!("it contains `..`; {RULE}"));
        }
        if id.starts_with('.') {
            return fail(format!("it starts with `.`; {RULE}"));
        }
        let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
        if let Some((at, bad)) = id.chars().enumerate().find(|(_, c)| !allowed(*c)) {
            let shown = match bad {
                ' ' => "a space".to_owned(),
                c if c.is_control() => format!("`{}`", c.escape_debug()),
                c => format!("`{c}`"),
            };
            let slug: String = id.chars().map(|c| if allowed(c) { c } else { '-' }).collect();
            let slug = slug.trim_matches('-').trim_start_matches('.');
            let suggestion = if slug.is_empty() { String::new() } else { format!(" (`{slug}`, say)") };
            return fail(format!("character {} is {shown}; {RULE}{suggestion}", at + 1));
        }
        Ok(DatasetId(id.to_owned()))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `datasets/<id>/`: every object of this dataset and of no other starts with it.
    pub fn prefix(&self) -> String {
        format!("datasets/{}/", self.0)
    }

    /// `datasets/<id>/_lock`: held by the run that is writing the dataset.
    pub fn lock_key(&self) -> String {
        format!("datasets/{}/_lock", self.0)
    }

    /// `datasets/<id>/_manifest.json`: the dataset as the last run left it.
    pub fn manifest_key(&self) -> String {
        format!("datasets/{}/_manifest.json", self.0)
    }

    /// `datasets/<id>/_state.json`: what incremental sources have loaded so far (objects, checkpoint).
    pub fn state_key(&self) -> String {
        format!("datasets/{}/_state.json", self.0)
    }

    /// `datasets/<id>/_runs/`: one record per run.
    pub fn runs_prefix(&self) -> String {
        format!("datasets/{}/_runs/", self.0)
    }

    /// `datasets/<id>/_runs/<run-id>.json`.
    pub fn run_key(&self, run_id: &str) -> String {
        format!("{}{run_id}.json", self.runs_prefix())
    }

    /// `datasets/<id>/_journal/`: what a publish in progress changes, and the objects it replaces,
    /// kept until it is finished or rolled back (see [`crate::load::journal`]). No `.parquet` name
    /// under it, so no reader's glob ever matches.
    pub fn journal_prefix(&self) -> String {
        format!("datasets/{}/_journal/", self.0)
    }

    /// `datasets/<id>/_journal/<run-id>.json`: the journal of a run's publish.
    pub fn journal_key(&self, run_id: &str) -> String {
        format!("{}{run_id}.json", self.journal_prefix())
    }

    /// `datasets/<id>/_journal/<run-id>/<n>.bak`: the `n`th object a run's publish replaces, as it was.
    pub fn backup_key(&self, run_id: &str, n: usize) -> String {
        format!("{}{run_id}/{n}.bak", self.journal_prefix())
    }

    /// `datasets/<id>/_rejects/<run-id>.csv`: the bad rows a run quarantined. (Outside `data/` and
    /// `partitions/`: readers of the table never see it, and loads never replace it.)
    pub fn rejects_key(&self, run_id: &str) -> String {
        format!("datasets/{}/_rejects/{run_id}.csv", self.0)
    }

    /// `datasets/<id>/data/`: the folder of an unpartitioned dataset's files.
    pub fn data_prefix(&self) -> String {
        format!("datasets/{}/data/", self.0)
    }

    /// `datasets/<id>/partitions/`: the folder holding one `date=...` folder per partition.
    pub fn partitions_prefix(&self) -> String {
        format!("datasets/{}/partitions/", self.0)
    }

    /// The folder (with trailing `/`) that holds the files of `partition`.
    pub fn folder(&self, partition: &Partition) -> String {
        match partition {
            Partition::Unpartitioned => self.data_prefix(),
            Partition::Day(_) | Partition::Null => {
                format!("{}{PARTITION_KEY}={}/", self.partitions_prefix(), partition.value())
            }
        }
    }

    /// The key of file number `part` of `partition`.
    pub fn file_key(&self, partition: &Partition, part: u32) -> String {
        format!("{}{}", self.folder(partition), part_file_name(part))
    }

    /// `datasets/<id>/_delta_log/`: the log of a dataset written as a Delta Lake table.
    pub fn delta_log_prefix(&self) -> String {
        format!("datasets/{}/_delta_log/", self.0)
    }

    /// `datasets/<id>/_delta_log/<version, 20 digits>.json`: one commit of the table.
    pub fn delta_commit_key(&self, version: u64) -> String {
        format!("{}{version:020}.json", self.delta_log_prefix())
    }

    /// `datasets/<id>/_delta_log/<version, 20 digits>.checkpoint.parquet`: the table as of a version.
    pub fn delta_checkpoint_key(&self, version: u64) -> String {
        format!("{}{version:020}.checkpoint.parquet", self.delta_log_prefix())
    }

    /// `datasets/<id>/_delta_log/_last_checkpoint`: which checkpoint is the newest.
    pub fn delta_last_checkpoint_key(&self) -> String {
        format!("{}_last_checkpoint", self.delta_log_prefix())
    }

    /// The version a key of the log commits (`.../00000000000000000007.json`: 7).
    pub fn delta_version_of_key(&self, key: &str) -> Option<u64> {
        let name = key.strip_prefix(&self.delta_log_prefix())?.strip_suffix(".json")?;
        (name.len() == 20).then(|| name.parse().ok()).flatten()
    }

    /// The version a checkpoint's key is of (`.../00000000000000000010.checkpoint.parquet`: 10).
    pub fn delta_checkpoint_of_key(&self, key: &str) -> Option<u64> {
        let name = key.strip_prefix(&self.delta_log_prefix())?.strip_suffix(".checkpoint.parquet")?;
        (name.len() == 20).then(|| name.parse().ok()).flatten()
    }

    /// A key of this dataset as a path relative to the table's root (`partitions/date=.../x.parquet`).
    pub fn relative<'k>(&self, key: &'k str) -> Option<&'k str> {
        key.strip_prefix(&self.prefix())
    }
}

/// A Delta table's name for a data file a run writes: the run id before `.parquet`
/// (`part-0000-<run-id>.parquet`), so that no run ever overwrites another's file.
pub fn unique_file_key(key: &str, run_id: &str) -> String {
    match key.strip_suffix(".parquet") {
        Some(stem) => format!("{stem}-{run_id}.parquet"),
        None => format!("{key}-{run_id}"),
    }
}

/// The key a Delta table's data file holds the place of (`.../part-0000.parquet` for
/// `.../part-0000-<run-id>.parquet`): where a run's file of the same partition and number goes.
pub fn slot_of_key(key: &str) -> String {
    let (folder, name) = key.rsplit_once('/').unwrap_or(("", key));
    match part_number(name) {
        Some(part) if folder.is_empty() => part_file_name(part),
        Some(part) => format!("{folder}/{}", part_file_name(part)),
        None => key.to_owned(),
    }
}

/// The number of a data file's name: `part-0003.parquet` or `part-0003-<run-id>.parquet`.
fn part_number(name: &str) -> Option<u32> {
    let rest = name.strip_prefix("part-")?.strip_suffix(".parquet")?;
    let digits = rest.split_once('-').map_or(rest, |(n, _)| n);
    (digits.len() >= 4 && digits.bytes().all(|b| b.is_ascii_digit())).then(|| digits.parse().ok()).flatten()
}

impl fmt::Display for DatasetId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// `part-0000.parquet`, `part-0001.parquet`, ...
pub fn part_file_name(part: u32) -> String {
    format!("part-{part:04}.parquet")
}

/// Which partition a row belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Partition {
    /// The dataset has no partition column.
    Unpartitioned,
    /// The partition value was null.
    Null,
    /// A day, as days since 1970-01-01.
    Day(i32),
}

impl Partition {
    /// The value written after `date=`.
    pub fn value(&self) -> String {
        match self {
            Partition::Unpartitioned => String::new(),
            Partition::Null => HIVE_NULL_PARTITION.to_owned(),
            Partition::Day(days) => format_day(*days),
        }
    }
}

/// The days a run may write (`--partition-range FROM..TO`: both ends included, either may be left
/// open). Rows of other days, and rows whose partition value is null, are left out; a replace run
/// replaces only the partitions in the range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartitionRange {
    pub from: Option<i32>,
    pub to: Option<i32>,
}

impl PartitionRange {
    /// Whether rows of `partition` belong to the run.
    pub fn contains(&self, partition: &Partition) -> bool {
        match partition {
            Partition::Day(d) => self.from.is_none_or(|f| *d >= f) && self.to.is_none_or(|t| *d <= t),
            Partition::Null | Partition::Unpartitioned => false,
        }
    }
}

impl fmt::Display for PartitionRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let day = |d: Option<i32>| d.map(format_day).unwrap_or_default();
        write!(f, "{}..{}", day(self.from), day(self.to))
    }
}

impl std::str::FromStr for PartitionRange {
    type Err = String;

    fn from_str(text: &str) -> std::result::Result<Self, String> {
        let usage = || {
            format!("`{text}` is not a range of days: use FROM..TO, e.g. 2026-10-01..2026-10-31 (either end may be left out)")
        };
        let (from, to) = text.split_once("..").ok_or_else(usage)?;
        let day = |s: &str| -> std::result::Result<Option<i32>, String> {
            match s.trim() {
                "" => Ok(None),
                s => {
                    crate::transform::values::DateFormat::Iso.parse(s.as_bytes()).map(Some).ok_or_else(usage)
                }
            }
        };
        let range = PartitionRange { from: day(from)?, to: day(to)? };
        match (range.from, range.to) {
            (None, None) => Err(usage()),
            (Some(f), Some(t)) if f > t => Err(format!("`{text}`: the range ends before it starts")),
            _ => Ok(range),
        }
    }
}

impl DatasetId {
    /// The partition whose folder holds `key`, if `key` lies in this dataset's partition folders
    /// (`date=`, or a Delta table's own partition column, `partition_date=`).
    pub fn partition_of_key(&self, key: &str) -> Option<Partition> {
        let folder = key.strip_prefix(&self.partitions_prefix())?;
        let (_, rest) = folder.split_once('=').filter(|(k, _)| !k.contains('/'))?;
        let (value, _) = rest.split_once('/')?;
        if value == HIVE_NULL_PARTITION {
            return Some(Partition::Null);
        }
        crate::transform::values::DateFormat::Iso.parse(value.as_bytes()).map(Partition::Day)
    }

    /// The partition and part number of a data file's key (`.../part-0003.parquet`).
    pub fn part_of_key(&self, key: &str) -> Option<(Partition, u32)> {
        let (folder, name) = key.rsplit_once('/')?;
        let part = part_number(name)?;
        let partition = if format!("{folder}/") == self.data_prefix() {
            Partition::Unpartitioned
        } else {
            self.partition_of_key(key)?
        };
        Some((partition, part))
    }
}

/// Where `etl doctor` tries the store's operations: a scratch folder of its own at the target's
/// root, beside `datasets/` and outside every dataset, emptied when it ends.
pub fn doctor_prefix(run_id: &str) -> String {
    format!("_doctor/{run_id}/")
}

/// A run's id: its UTC start time to the millisecond and a random suffix,
/// `20261123T130426.123Z-3f9a1c07`; ids sort by time.
pub fn new_run_id() -> String {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let (secs, millis) = (now.as_secs(), now.subsec_millis());
    let (y, m, d) = civil_from_days((secs / 86_400) as i32);
    let s = secs % 86_400;
    format!(
        "{y:04}{m:02}{d:02}T{:02}{:02}{:02}.{millis:03}Z-{:08x}",
        s / 3600,
        s / 60 % 60,
        s % 60,
        fastrand::u32(..)
    )
}

/// When the run `run_id` started (its id begins with that time, to the millisecond).
pub fn run_started(run_id: &str) -> Option<std::time::SystemTime> {
    let num = |range: std::ops::Range<usize>| run_id.get(range)?.parse::<u64>().ok();
    let (y, m, d) = (num(0..4)?, num(4..6)?, num(6..8)?);
    let (h, mi, s, ms) = (num(9..11)?, num(11..13)?, num(13..15)?, num(16..19)?);
    let days = crate::transform::calendar::days_from_civil(y as i32, m as u32, d as u32);
    let secs = u64::try_from(days).ok()? * 86_400 + h * 3600 + mi * 60 + s;
    Some(std::time::UNIX_EPOCH + std::time::Duration::from_millis(secs * 1000 + ms))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transform::calendar::days_from_civil;

    #[test]
    fn keys_follow_the_documented_layout() {
        let id = DatasetId::parse("cursor-usage").unwrap();
        assert_eq!(id.file_key(&Partition::Unpartitioned, 0), "datasets/cursor-usage/data/part-0000.parquet");
        let day = Partition::Day(days_from_civil(2026, 10, 31));
        assert_eq!(
            id.file_key(&day, 0),
            "datasets/cursor-usage/partitions/date=2026-10-31/part-0000.parquet"
        );
        assert_eq!(
            id.file_key(&Partition::Null, 12),
            "datasets/cursor-usage/partitions/date=__HIVE_DEFAULT_PARTITION__/part-0012.parquet"
        );
        assert_eq!(id.prefix(), "datasets/cursor-usage/");
    }

    #[test]
    fn dataset_ids_are_validated() {
        for ok in ["a", "cursor-usage", "apac_dot.v2", "A-1"] {
            assert!(DatasetId::parse(ok).is_ok(), "{ok}");
        }
        for bad in ["", "..", "a..b", "a/b", "/a", "a b", "é", ".hidden", "a\\b", "a*"] {
            assert!(DatasetId::parse(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn partition_ranges() {
        let r: PartitionRange = "2026-10-01..2026-10-31".parse().unwrap();
        let day =
            |s: &str| Partition::Day(crate::transform::values::DateFormat::Iso.parse(s.as_bytes()).unwrap());
        assert!(r.contains(&day("2026-10-01")) && r.contains(&day("2026-10-31")));
        assert!(!r.contains(&day("2026-11-01")) && !r.contains(&Partition::Null));
        assert_eq!(r.to_string(), "2026-10-01..2026-10-31");
        let open: PartitionRange = "2026-10-01..".parse().unwrap();
        assert!(open.contains(&day("2099-01-01")) && !open.contains(&day("2026-09-30")));
        for bad in ["", "..", "2026-10-01", "2026-10-31..2026-10-01", "yesterday..today"] {
            assert!(bad.parse::<PartitionRange>().is_err(), "{bad}");
        }
        let id = DatasetId::parse("a").unwrap();
        assert_eq!(
            id.partition_of_key("datasets/a/partitions/date=2026-10-01/part-0000.parquet"),
            Some(day("2026-10-01"))
        );
        assert_eq!(id.partition_of_key("datasets/a/data/part-0000.parquet"), None);
        assert_eq!(id.partition_of_key("datasets/ab/partitions/date=2026-10-01/x"), None);
        assert_eq!(
            id.partition_of_key("datasets/a/partitions/partition_date=2026-10-01/part-0000.parquet"),
            Some(day("2026-10-01"))
        );
        assert_eq!(
            id.part_of_key("datasets/a/partitions/date=2026-10-01/part-0012.parquet"),
            Some((day("2026-10-01"), 12))
        );
        assert_eq!(id.part_of_key("datasets/a/data/part-0003.parquet"), Some((Partition::Unpartitioned, 3)));
        assert_eq!(id.part_of_key("datasets/a/_state.json"), None);
        assert_eq!(id.part_of_key("datasets/a/data/other.parquet"), None);
        // A Delta table's file names carry the run that wrote them.
        let run = "20261123T130426.123Z-3f9a1c07";
        let unique = unique_file_key("datasets/a/data/part-0003.parquet", run);
        assert_eq!(unique, format!("datasets/a/data/part-0003-{run}.parquet"));
        assert_eq!(id.part_of_key(&unique), Some((Partition::Unpartitioned, 3)));
        assert_eq!(slot_of_key(&unique), "datasets/a/data/part-0003.parquet");
        assert_eq!(id.delta_commit_key(7), "datasets/a/_delta_log/00000000000000000007.json");
        assert_eq!(id.delta_version_of_key(&id.delta_commit_key(12)), Some(12));
        assert_eq!(id.delta_checkpoint_of_key(&id.delta_checkpoint_key(10)), Some(10));
        assert_eq!(id.delta_version_of_key(&id.delta_checkpoint_key(10)), None);
        assert_eq!(id.state_key(), "datasets/a/_state.json");
    }
}
