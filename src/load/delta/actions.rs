//! The Delta log's actions, and the table they add up to at a version ([`Snapshot`]).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::load::layout::DatasetId;

/// A data file added to the table.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Add {
    /// Relative to the table's root (`partitions/date=2026-11-01/part-0000-<run>.parquet`).
    pub path: String,
    pub partition_values: BTreeMap<String, Option<String>>,
    pub size: i64,
    /// Milliseconds since the epoch.
    pub modification_time: i64,
    pub data_change: bool,
    /// `{"numRecords": …, "minValues": …, "maxValues": …, "nullCount": …}`, as text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stats: Option<String>,
}

/// A data file removed from the table (its object stays for older versions until a vacuum).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Remove {
    pub path: String,
    /// Milliseconds since the epoch: when the file stopped being part of the table.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion_timestamp: Option<i64>,
    pub data_change: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extended_file_metadata: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition_values: Option<BTreeMap<String, Option<String>>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<i64>,
}

/// The file format of the table's data files.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Format {
    pub provider: String,
    #[serde(default)]
    pub options: BTreeMap<String, String>,
}

/// The table's id, schema, partition columns and settings.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Metadata {
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    pub format: Format,
    /// The schema as Delta's JSON struct type, in a string.
    pub schema_string: String,
    pub partition_columns: Vec<String>,
    #[serde(default)]
    pub configuration: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_time: Option<i64>,
}

/// What a reader and a writer must support to use the table.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Protocol {
    pub min_reader_version: i32,
    pub min_writer_version: i32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reader_features: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub writer_features: Option<Vec<String>>,
}

/// One line of a commit: one action (the others absent). Actions this tool does not write
/// (`txn`, `cdc`, `domainMetadata`, …) are read past.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Action {
    #[serde(default, skip_serializing_if = "Option::is_none", rename = "commitInfo")]
    pub commit_info: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<Protocol>,
    #[serde(default, skip_serializing_if = "Option::is_none", rename = "metaData")]
    pub metadata: Option<Metadata>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remove: Option<Remove>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub add: Option<Add>,
}

impl Action {
    pub fn add(add: Add) -> Self {
        Action { add: Some(add), ..Default::default() }
    }
    pub fn remove(remove: Remove) -> Self {
        Action { remove: Some(remove), ..Default::default() }
    }
    pub fn metadata(metadata: Metadata) -> Self {
        Action { metadata: Some(metadata), ..Default::default() }
    }
    pub fn protocol(protocol: Protocol) -> Self {
        Action { protocol: Some(protocol), ..Default::default() }
    }
    pub fn commit_info(info: serde_json::Value) -> Self {
        Action { commit_info: Some(info), ..Default::default() }
    }
}

/// The key in `commitInfo` that names the etl run that made a version.
pub const RUN_ID: &str = "etlRunId";

/// The table as of one version: what a reader of that version reads.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub version: u64,
    pub protocol: Protocol,
    pub metadata: Metadata,
    /// The table's data files, by path (as the log writes it, percent-decoded).
    pub files: BTreeMap<String, Add>,
    /// Files removed and not added again, by path: what older versions still read.
    pub tombstones: BTreeMap<String, Remove>,
    /// The newest checkpoint the snapshot was read from, if any.
    pub checkpoint: Option<u64>,
}

impl Snapshot {
    /// A table of no version yet (a log replayed onto it from its first commit, or a checkpoint's
    /// rows): protocol 1/2, no schema, no files.
    pub fn empty(version: u64, checkpoint: Option<u64>) -> Self {
        Snapshot {
            version,
            protocol: Protocol {
                min_reader_version: 1,
                min_writer_version: 2,
                reader_features: None,
                writer_features: None,
            },
            metadata: Metadata {
                id: String::new(),
                name: None,
                description: None,
                format: Format { provider: "parquet".into(), options: BTreeMap::new() },
                schema_string: String::new(),
                partition_columns: Vec::new(),
                configuration: BTreeMap::new(),
                created_time: None,
            },
            files: BTreeMap::new(),
            tombstones: BTreeMap::new(),
            checkpoint,
        }
    }

    /// The keys of the table's data files (`datasets/<id>/…`), with their sizes.
    pub fn objects(&self, dataset: &DatasetId) -> Vec<crate::store::ObjectMeta> {
        self.files
            .values()
            .map(|a| crate::store::ObjectMeta {
                key: format!("{}{}", dataset.prefix(), a.path),
                size: a.size as u64,
                etag: None,
            })
            .collect()
    }

    /// Rows in the table, where every file's stats say how many.
    pub fn rows(&self) -> Option<u64> {
        self.files.values().map(|a| stats_rows(a.stats.as_deref())).sum()
    }

    /// Applies one commit's actions.
    pub fn apply(&mut self, version: u64, actions: Vec<Action>) {
        self.version = version;
        for action in actions {
            if let Some(protocol) = action.protocol {
                self.protocol = protocol;
            }
            if let Some(metadata) = action.metadata {
                self.metadata = metadata;
            }
            if let Some(remove) = action.remove {
                let path = decoded(&remove.path);
                self.files.remove(&path);
                self.tombstones.insert(path, remove);
            }
            if let Some(add) = action.add {
                let path = decoded(&add.path);
                self.tombstones.remove(&path);
                self.files.insert(path.clone(), Add { path, ..add });
            }
        }
    }
}

/// `numRecords` of an add's stats.
pub fn stats_rows(stats: Option<&str>) -> Option<u64> {
    let stats: serde_json::Value = serde_json::from_str(stats?).ok()?;
    stats.get("numRecords")?.as_u64()
}

/// A path of the log with its percent-escapes decoded (`a%20b` is the object `a b`).
pub fn decoded(path: &str) -> String {
    percent_encoding::percent_decode_str(path).decode_utf8_lossy().into_owned()
}

/// Milliseconds since the epoch, now.
pub fn now_millis() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

#[cfg(test)]
pub(crate) mod tests_support {
    use super::*;

    /// A small table: three files (one of null days), one of them removed since.
    pub fn snapshot() -> Snapshot {
        let columns =
            [crate::load::manifest::ColumnRecord { name: "Max Mode".into(), kind: "String".into() }];
        let metadata = super::super::schema::metadata(&columns, Some("date"), None, 1).unwrap();
        let protocol = super::super::schema::protocol(&metadata, None);
        let add = |day: &str, n: i64| Add {
            path: format!("partitions/date={day}/part-0000-r{n}.parquet"),
            partition_values: [("date".to_owned(), Some(day.to_owned()))].into(),
            size: 100 + n,
            modification_time: 1_000 + n,
            data_change: true,
            stats: Some(format!("{{\"numRecords\":{n}}}")),
        };
        let mut snapshot = Snapshot {
            version: 0,
            protocol,
            metadata,
            files: BTreeMap::new(),
            tombstones: BTreeMap::new(),
            checkpoint: None,
        };
        let nulls = Add {
            partition_values: [("date".to_owned(), None)].into(),
            ..add("__HIVE_DEFAULT_PARTITION__", 3)
        };
        let actions =
            vec![Action::add(add("2026-11-01", 1)), Action::add(add("2026-11-02", 2)), Action::add(nulls)];
        snapshot.apply(1, actions);
        let gone = Remove {
            path: "partitions/date=2026-11-02/part-0000-r2.parquet".into(),
            deletion_timestamp: Some(2_000),
            data_change: true,
            extended_file_metadata: Some(true),
            partition_values: Some([("date".to_owned(), Some("2026-11-02".to_owned()))].into()),
            size: Some(102),
        };
        snapshot.apply(2, vec![Action::remove(gone)]);
        snapshot
    }

    #[test]
    fn a_replayed_log_holds_what_was_added_and_not_removed() {
        let s = snapshot();
        assert_eq!(s.files.len(), 2);
        assert_eq!(s.tombstones.len(), 1);
        assert_eq!(s.rows(), Some(4));
    }
}
