//! etl's column types as Delta's, the table's schema and the protocol it needs.
//!
//! - `Int64` is `long`, `Float64` `double`, `Decimal(38, s)` `decimal(38,s)`, `Date` `date`, a
//!   list an `array`;
//! - `Datetime(us, UTC)` is `timestamp` (microseconds adjusted to UTC); a naive `Datetime(us)` is
//!   `timestamp_ntz`, which needs the `timestampNtz` table feature (reader 3, writer 7);
//! - columns keep their names as the files hold them, spaces and parentheses included (a
//!   spreadsheet's headers): column mapping, which Spark's writer wants for such names, is a
//!   reader feature that delta-rs and polars do not read;
//! - the partition column is `date` (the folders' key), or, where a data column has that name in
//!   any case (`Date` in the cursor-usage export), `partition_date`.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::actions::{Metadata, Protocol};
use crate::error::{Error, Result};
use crate::load::manifest::ColumnRecord;

/// The Delta type of an etl column type (as the manifest records it).
pub fn delta_type(kind: &str) -> Option<Value> {
    Some(match kind {
        "String" => json!("string"),
        "Int64" => json!("long"),
        "Float64" => json!("double"),
        "Boolean" => json!("boolean"),
        "Date" => json!("date"),
        "Datetime(us, UTC)" => json!("timestamp"),
        "Datetime(us)" => json!("timestamp_ntz"),
        other if other.starts_with("Decimal(38, ") => {
            let scale: u8 = other.strip_prefix("Decimal(38, ")?.strip_suffix(')')?.parse().ok()?;
            json!(format!("decimal(38,{scale})"))
        }
        other if other.starts_with("List(") => {
            let element = delta_type(other.strip_prefix("List(")?.strip_suffix(')')?)?;
            json!({"type": "array", "elementType": element, "containsNull": true})
        }
        _ => return None,
    })
}

/// The partition column's name in a table of `columns`: `date`, unless a column has that name in
/// any case (readers match names without case), then `partition_date` (and so on).
pub fn partition_column_name(columns: &[ColumnRecord]) -> String {
    let taken = |name: &str| columns.iter().any(|c| c.name.eq_ignore_ascii_case(name));
    let mut name = crate::load::layout::PARTITION_KEY.to_owned();
    while taken(&name) {
        name = format!("partition_{name}");
    }
    name
}

/// The table's metadata for `columns` (and the partition column, last, if partitioned), keeping
/// the table's id and settings from `previous`.
pub fn metadata(
    columns: &[ColumnRecord],
    partition: Option<&str>,
    previous: Option<&Metadata>,
    created: i64,
) -> Result<Metadata> {
    let mut fields = Vec::new();
    let all = columns.iter().map(|c| (c.name.as_str(), delta_type(&c.kind).ok_or(&c.kind)));
    let partition_field = partition.map(|p| (p, Ok(json!("date"))));
    for (name, kind) in all.chain(partition_field) {
        let kind = kind.map_err(|kind| {
            Error::Internal(format!("column `{name}` is of type {kind}, which has no Delta type"))
        })?;
        fields.push(json!({"name": name, "type": kind, "nullable": true, "metadata": {}}));
    }
    Ok(Metadata {
        id: previous.map_or_else(uuid, |m| m.id.clone()),
        name: None,
        description: None,
        format: super::actions::Format { provider: "parquet".into(), options: BTreeMap::new() },
        schema_string: json!({"type": "struct", "fields": fields}).to_string(),
        partition_columns: partition.map(|p| vec![p.to_owned()]).unwrap_or_default(),
        configuration: previous.map(|m| m.configuration.clone()).unwrap_or_default(),
        created_time: Some(previous.and_then(|m| m.created_time).unwrap_or(created)),
    })
}

/// The columns of a table's schema, by name, with their Delta types.
pub fn fields(metadata: &Metadata) -> Vec<(String, Value)> {
    let schema: Value = serde_json::from_str(&metadata.schema_string).unwrap_or_default();
    schema["fields"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|f| Some((f["name"].as_str()?.to_owned(), f["type"].clone())))
        .collect()
}

/// The protocol a table of `metadata` needs, at least `previous` (a protocol never goes down).
pub fn protocol(metadata: &Metadata, previous: Option<&Protocol>) -> Protocol {
    let mut features: Vec<String> = Vec::new();
    if metadata.schema_string.contains("\"timestamp_ntz\"") {
        features.push("timestampNtz".into());
    }
    if let Some(previous) = previous {
        for f in previous.reader_features.iter().flatten().chain(previous.writer_features.iter().flatten()) {
            if !features.contains(f) {
                features.push(f.clone());
            }
        }
        if features.is_empty() {
            return previous.clone();
        }
    }
    if features.is_empty() {
        return Protocol {
            min_reader_version: 1,
            min_writer_version: 2,
            reader_features: None,
            writer_features: None,
        };
    }
    features.sort();
    // Both features are reader-writer features: each is named in both lists.
    Protocol {
        min_reader_version: 3,
        min_writer_version: 7,
        reader_features: Some(features.clone()),
        writer_features: Some(features),
    }
}

/// A random UUID (version 4), as the table's id.
fn uuid() -> String {
    let b: [u8; 16] = std::array::from_fn(|_| fastrand::u8(..));
    let h = hex::encode(b);
    let variant = ['8', '9', 'a', 'b'][fastrand::usize(..4)];
    format!("{}-{}-4{}-{variant}{}-{}", &h[0..8], &h[8..12], &h[13..16], &h[17..20], &h[20..32])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn col(name: &str, kind: &str) -> ColumnRecord {
        ColumnRecord { name: name.into(), kind: kind.into() }
    }

    #[test]
    fn every_etl_type_has_a_delta_type() {
        let kinds = [
            ("String", json!("string")),
            ("Int64", json!("long")),
            ("Float64", json!("double")),
            ("Boolean", json!("boolean")),
            ("Date", json!("date")),
            ("Datetime(us, UTC)", json!("timestamp")),
            ("Datetime(us)", json!("timestamp_ntz")),
            ("Decimal(38, 4)", json!("decimal(38,4)")),
            ("List(Int64)", json!({"type": "array", "elementType": "long", "containsNull": true})),
        ];
        for (kind, delta) in kinds {
            assert_eq!(delta_type(kind), Some(delta), "{kind}");
        }
    }

    #[test]
    fn the_partition_column_clashes_with_no_column_in_any_case() {
        assert_eq!(partition_column_name(&[col("day", "Date")]), "date");
        assert_eq!(partition_column_name(&[col("Date", "Datetime(us)")]), "partition_date");
        assert_eq!(
            partition_column_name(&[col("DATE", "Date"), col("Partition_Date", "Date")]),
            "partition_partition_date"
        );
    }

    #[test]
    fn naive_timestamps_turn_on_their_feature() {
        let plain = metadata(&[col("a", "Int64"), col("Max Mode", "String")], Some("date"), None, 0).unwrap();
        assert_eq!(protocol(&plain, None).min_reader_version, 1);
        assert_eq!(plain.partition_columns, ["date"]);
        let ntz = metadata(&[col("at", "Datetime(us)")], None, None, 0).unwrap();
        let features = protocol(&ntz, None);
        assert_eq!((features.min_reader_version, features.min_writer_version), (3, 7));
        assert_eq!(features.reader_features, Some(vec!["timestampNtz".to_owned()]));
        // A table keeps its id, and a protocol never goes down.
        let grown = metadata(&[col("a", "Int64"), col("b", "Int64")], Some("date"), Some(&plain), 5).unwrap();
        assert_eq!(grown.id, plain.id);
        assert_eq!(protocol(&plain, Some(&features)), features);
    }
}
