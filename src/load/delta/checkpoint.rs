//! Checkpoints: the table as of a version in one Parquet file, `_delta_log/<v>.checkpoint.parquet`,
//! with `_delta_log/_last_checkpoint` naming it, so that a table of years of daily commits opens by
//! reading one file and the few commits after it.
//!
//! The file has Delta's classic checkpoint schema, one action a row (`txn`, `add`, `remove`,
//! `metaData`, `protocol`: one of them set, the others null). polars cannot write a Parquet MAP
//! (`partitionValues`, `configuration`): the file is written with polars-parquet's page writer and a
//! schema built here, which Delta readers accept as the maps they expect.

use std::collections::BTreeMap;
use std::sync::Arc;

use polars::prelude::{PlSmallStr, SerReader};
use polars_arrow::array::{Array, BooleanArray, ListArray, PrimitiveArray, StructArray, Utf8Array};
use polars_arrow::bitmap::Bitmap;
use polars_arrow::datatypes::{ArrowDataType, ArrowSchema, Field};
use polars_arrow::offset::{Offsets, OffsetsBuffer};
use polars_arrow::record_batch::RecordBatchT;
use polars_parquet::parquet::schema::types::{GroupLogicalType, ParquetType};
use polars_parquet::parquet::schema::Repetition;
use polars_parquet::write::{
    row_group_iter, to_parquet_type, CompressionOptions, Encoding, FieldInfo, FileWriter, SchemaDescriptor,
    StatisticsOptions, Version, WriteOptions,
};

use super::actions::{decoded, Add, Format, Metadata, Protocol, Remove, Snapshot};
use crate::error::{Error, Result};
use crate::load::layout::DatasetId;
use crate::store::ObjectStore;

/// A checkpoint every this many versions.
pub const INTERVAL: u64 = 10;

/// How long a removed file stays in checkpoints (Delta's `deletedFileRetentionDuration`, a week):
/// a vacuum keeps its object that long.
pub const TOMBSTONE_RETENTION_MS: i64 = 7 * 24 * 3600 * 1000;

/// Writes the checkpoint of `snapshot` (the table as of its version), then `_last_checkpoint`.
pub async fn write(store: &dyn ObjectStore, dataset: &DatasetId, snapshot: &Snapshot) -> Result<()> {
    let rows = Rows::of(snapshot, super::actions::now_millis() - TOMBSTONE_RETENTION_MS);
    let count = rows.len();
    let body = rows.parquet().map_err(|e| Error::Internal(format!("writing a Delta checkpoint: {e}")))?;
    let size = body.len();
    store.put(&dataset.delta_checkpoint_key(snapshot.version), body).await?;
    let last = serde_json::json!({"version": snapshot.version, "size": count, "sizeInBytes": size});
    store.put(&dataset.delta_last_checkpoint_key(), last.to_string().into_bytes()).await?;
    Ok(())
}

/// The checkpoint's rows, one action each.
struct Rows {
    protocol: Protocol,
    metadata: Metadata,
    adds: Vec<Add>,
    removes: Vec<Remove>,
}

impl Rows {
    /// The actions that make `snapshot`: its protocol and metadata, its files, and the removals
    /// newer than `expired` (older ones are no longer kept for readers of older versions).
    fn of(snapshot: &Snapshot, expired: i64) -> Self {
        Rows {
            protocol: snapshot.protocol.clone(),
            metadata: snapshot.metadata.clone(),
            adds: snapshot.files.values().map(|a| Add { data_change: false, ..a.clone() }).collect(),
            removes: snapshot
                .tombstones
                .values()
                .filter(|r| r.deletion_timestamp.unwrap_or(0) > expired)
                .map(|r| Remove { data_change: false, ..r.clone() })
                .collect(),
        }
    }

    fn len(&self) -> usize {
        2 + self.adds.len() + self.removes.len()
    }

    /// The Parquet file: row 0 the protocol, 1 the metadata, then the adds, then the removes.
    fn parquet(&self) -> polars::prelude::PolarsResult<Vec<u8>> {
        let n = self.len();
        let (a0, r0) = (2, 2 + self.adds.len());
        let add = |i: usize| (a0..r0).contains(&i).then(|| &self.adds[i - a0]);
        let remove = |i: usize| (r0..n).contains(&i).then(|| &self.removes[i - r0]);
        let meta = |i: usize| (i == 1).then_some(&self.metadata);
        let proto = |i: usize| (i == 0).then_some(&self.protocol);
        let rows = 0..n;

        let txn = Column::strukt(
            rows.clone().map(|_| false).collect(),
            vec![
                Column::text("appId", rows.clone().map(|_| None::<&str>).collect()),
                Column::long("version", rows.clone().map(|_| None).collect()),
                Column::long("lastUpdated", rows.clone().map(|_| None).collect()),
            ],
            "txn",
        );
        let add_col = Column::strukt(
            rows.clone().map(|i| add(i).is_some()).collect(),
            vec![
                Column::text("path", rows.clone().map(|i| add(i).map(|a| a.path.as_str())).collect()),
                Column::map(
                    "partitionValues",
                    rows.clone().map(|i| add(i).map(|a| &a.partition_values)).collect(),
                ),
                Column::long("size", rows.clone().map(|i| add(i).map(|a| a.size)).collect()),
                Column::long(
                    "modificationTime",
                    rows.clone().map(|i| add(i).map(|a| a.modification_time)).collect(),
                ),
                Column::boolean("dataChange", rows.clone().map(|i| add(i).map(|a| a.data_change)).collect()),
                Column::text(
                    "stats",
                    rows.clone().map(|i| add(i).and_then(|a| a.stats.as_deref())).collect(),
                ),
            ],
            "add",
        );
        let remove_col = Column::strukt(
            rows.clone().map(|i| remove(i).is_some()).collect(),
            vec![
                Column::text("path", rows.clone().map(|i| remove(i).map(|r| r.path.as_str())).collect()),
                Column::long(
                    "deletionTimestamp",
                    rows.clone().map(|i| remove(i).and_then(|r| r.deletion_timestamp)).collect(),
                ),
                Column::boolean(
                    "dataChange",
                    rows.clone().map(|i| remove(i).map(|r| r.data_change)).collect(),
                ),
                Column::boolean(
                    "extendedFileMetadata",
                    rows.clone().map(|i| remove(i).and_then(|r| r.extended_file_metadata)).collect(),
                ),
                Column::map(
                    "partitionValues",
                    rows.clone().map(|i| remove(i).and_then(|r| r.partition_values.as_ref())).collect(),
                ),
                Column::long("size", rows.clone().map(|i| remove(i).and_then(|r| r.size)).collect()),
            ],
            "remove",
        );
        let options_of = |m: &Metadata| {
            m.format.options.iter().map(|(k, v)| (k.clone(), Some(v.clone()))).collect::<BTreeMap<_, _>>()
        };
        let configuration_of = |m: &Metadata| {
            m.configuration.iter().map(|(k, v)| (k.clone(), Some(v.clone()))).collect::<BTreeMap<_, _>>()
        };
        let (options, configuration) = (options_of(&self.metadata), configuration_of(&self.metadata));
        let meta_col = Column::strukt(
            rows.clone().map(|i| meta(i).is_some()).collect(),
            vec![
                Column::text("id", rows.clone().map(|i| meta(i).map(|m| m.id.as_str())).collect()),
                Column::text("name", rows.clone().map(|i| meta(i).and_then(|m| m.name.as_deref())).collect()),
                Column::text(
                    "description",
                    rows.clone().map(|i| meta(i).and_then(|m| m.description.as_deref())).collect(),
                ),
                Column::strukt(
                    rows.clone().map(|i| meta(i).is_some()).collect(),
                    vec![
                        Column::text(
                            "provider",
                            rows.clone().map(|i| meta(i).map(|m| m.format.provider.as_str())).collect(),
                        ),
                        Column::map("options", rows.clone().map(|i| meta(i).map(|_| &options)).collect()),
                    ],
                    "format",
                ),
                Column::text(
                    "schemaString",
                    rows.clone().map(|i| meta(i).map(|m| m.schema_string.as_str())).collect(),
                ),
                Column::texts(
                    "partitionColumns",
                    rows.clone().map(|i| meta(i).map(|m| m.partition_columns.clone())).collect(),
                ),
                Column::map("configuration", rows.clone().map(|i| meta(i).map(|_| &configuration)).collect()),
                Column::long(
                    "createdTime",
                    rows.clone().map(|i| meta(i).and_then(|m| m.created_time)).collect(),
                ),
            ],
            "metaData",
        );
        let proto_col = Column::strukt(
            rows.clone().map(|i| proto(i).is_some()).collect(),
            vec![
                Column::int(
                    "minReaderVersion",
                    rows.clone().map(|i| proto(i).map(|p| p.min_reader_version)).collect(),
                ),
                Column::int(
                    "minWriterVersion",
                    rows.clone().map(|i| proto(i).map(|p| p.min_writer_version)).collect(),
                ),
                Column::texts(
                    "readerFeatures",
                    rows.clone().map(|i| proto(i).and_then(|p| p.reader_features.clone())).collect(),
                ),
                Column::texts(
                    "writerFeatures",
                    rows.clone().map(|i| proto(i).and_then(|p| p.writer_features.clone())).collect(),
                ),
            ],
            "protocol",
        );
        write_parquet(n, vec![txn, add_col, remove_col, meta_col, proto_col])
    }
}

/// One column of the checkpoint: its Arrow field and array.
struct Column {
    field: Field,
    array: Box<dyn Array>,
}

impl Column {
    fn text(name: &str, values: Vec<Option<&str>>) -> Self {
        let array: Utf8Array<i64> = values.into_iter().collect();
        Column { field: Field::new(name.into(), ArrowDataType::LargeUtf8, true), array: array.boxed() }
    }

    fn long(name: &str, values: Vec<Option<i64>>) -> Self {
        let array: PrimitiveArray<i64> = values.into_iter().collect();
        Column { field: Field::new(name.into(), ArrowDataType::Int64, true), array: array.boxed() }
    }

    fn int(name: &str, values: Vec<Option<i32>>) -> Self {
        let array: PrimitiveArray<i32> = values.into_iter().collect();
        Column { field: Field::new(name.into(), ArrowDataType::Int32, true), array: array.boxed() }
    }

    fn boolean(name: &str, values: Vec<Option<bool>>) -> Self {
        let array: BooleanArray = values.into_iter().collect();
        Column { field: Field::new(name.into(), ArrowDataType::Boolean, true), array: array.boxed() }
    }

    /// A list of texts (`partitionColumns`, the protocol's features).
    fn texts(name: &str, values: Vec<Option<Vec<String>>>) -> Self {
        let element = Field::new("element".into(), ArrowDataType::LargeUtf8, true);
        let dtype = ArrowDataType::LargeList(Box::new(element));
        let validity: Bitmap = values.iter().map(Option::is_some).collect();
        let lengths = values.iter().map(|v| v.as_ref().map_or(0, Vec::len));
        let offsets: OffsetsBuffer<i64> = Offsets::try_from_lengths(lengths).expect("lengths fit").into();
        let items: Utf8Array<i64> = values.iter().flatten().flatten().map(|s| Some(s.as_str())).collect();
        let array = ListArray::<i64>::new(dtype.clone(), offsets, items.boxed(), Some(validity));
        Column { field: Field::new(name.into(), dtype, true), array: array.boxed() }
    }

    /// A map of text to text (`partitionValues`, `configuration`); a value may be null. Held as a
    /// list of key-value structs (polars-parquet writes a list's levels right under a null parent,
    /// and a map's not); the file declares it a MAP ([`parquet_type`]).
    fn map(name: &str, values: Vec<Option<&BTreeMap<String, Option<String>>>>) -> Self {
        let entry = ArrowDataType::Struct(vec![
            Field::new("key".into(), ArrowDataType::LargeUtf8, false),
            Field::new("value".into(), ArrowDataType::LargeUtf8, true),
        ]);
        let dtype = ArrowDataType::LargeList(Box::new(Field::new("key_value".into(), entry.clone(), false)));
        let validity: Bitmap = values.iter().map(Option::is_some).collect();
        let offsets: OffsetsBuffer<i64> =
            Offsets::try_from_lengths(values.iter().map(|v| v.map_or(0, BTreeMap::len)))
                .expect("lengths fit")
                .into();
        let pairs: Vec<(&String, &Option<String>)> = values.iter().flatten().flat_map(|m| m.iter()).collect();
        let keys: Utf8Array<i64> = pairs.iter().map(|(k, _)| Some(k.as_str())).collect();
        let vals: Utf8Array<i64> = pairs.iter().map(|(_, v)| v.as_deref()).collect();
        let entries = StructArray::new(entry, pairs.len(), vec![keys.boxed(), vals.boxed()], None);
        let array = ListArray::<i64>::new(dtype.clone(), offsets, entries.boxed(), Some(validity));
        Column {
            field: Field::new(name.into(), dtype, true).with_metadata(map_marker()),
            array: array.boxed(),
        }
    }

    fn strukt(valid: Vec<bool>, children: Vec<Column>, name: &str) -> Self {
        let fields: Vec<Field> = children.iter().map(|c| c.field.clone()).collect();
        let dtype = ArrowDataType::Struct(fields);
        let len = valid.len();
        let validity: Bitmap = valid.into_iter().collect();
        let arrays = children.into_iter().map(|c| c.array).collect();
        let array = StructArray::new(dtype.clone(), len, arrays, Some(validity));
        Column { field: Field::new(name.into(), dtype, true), array: array.boxed() }
    }
}

/// The Parquet type of a field, maps included (which polars-parquet's own conversion refuses).
///
/// A map is written as Parquet's MAP: `group (MAP) { repeated group key_value { key; value } }`.
/// polars-parquet's page writer reads a map's entries as a list of structs and wants one more
/// group between the two (`for_pages`); with that group required, the levels it writes are those
/// of the MAP the file's schema declares.
fn parquet_type(field: &Field, for_pages: bool) -> polars::prelude::PolarsResult<ParquetType> {
    let info = |name: &str, repetition| FieldInfo { name: name.into(), repetition, id: None };
    let group = |name: &str, repetition, fields| ParquetType::GroupType {
        field_info: info(name, repetition),
        logical_type: None,
        converted_type: None,
        fields,
    };
    let repetition = if field.is_nullable { Repetition::Optional } else { Repetition::Required };
    let children = |fields: &[Field]| {
        fields.iter().map(|f| parquet_type(f, for_pages)).collect::<polars::prelude::PolarsResult<Vec<_>>>()
    };
    match &field.dtype {
        ArrowDataType::Struct(fields) => Ok(group(&field.name, repetition, children(fields)?)),
        ArrowDataType::LargeList(entry) if is_map(field) => {
            let ArrowDataType::Struct(pair) = &entry.dtype else {
                unreachable!("a map's entries are structs")
            };
            let pair = children(pair)?;
            let key_value = match for_pages {
                true => {
                    group("key_value", Repetition::Repeated, vec![group("entry", Repetition::Required, pair)])
                }
                false => group("key_value", Repetition::Repeated, pair),
            };
            Ok(ParquetType::GroupType {
                field_info: info(&field.name, repetition),
                logical_type: Some(GroupLogicalType::Map),
                converted_type: Some(polars_parquet::parquet::schema::types::GroupConvertedType::Map),
                fields: vec![key_value],
            })
        }
        _ => to_parquet_type(field),
    }
}

/// The field metadata that marks a list of key-value structs as a map.
fn map_marker() -> polars_arrow::datatypes::Metadata {
    [(PlSmallStr::from_static("etl:map"), PlSmallStr::from_static("1"))].into_iter().collect()
}

fn is_map(field: &Field) -> bool {
    field.metadata.as_ref().is_some_and(|m| m.contains_key(&PlSmallStr::from_static("etl:map")))
}

/// Writes `columns` (each `rows` long) as one row group of a Parquet file.
fn write_parquet(rows: usize, columns: Vec<Column>) -> polars::prelude::PolarsResult<Vec<u8>> {
    let types = |for_pages| {
        columns
            .iter()
            .map(|c| parquet_type(&c.field, for_pages))
            .collect::<polars::prelude::PolarsResult<Vec<_>>>()
    };
    let (declared, paged) = (types(false)?, types(true)?);
    let schema: ArrowSchema = columns.iter().map(|c| c.field.clone()).collect();
    let options = WriteOptions {
        statistics: StatisticsOptions {
            min_value: false,
            max_value: false,
            distinct_count: false,
            null_count: false,
            ..Default::default()
        },
        version: Version::V1,
        compression: CompressionOptions::Snappy,
        data_page_size: None,
    };
    let encodings: Vec<Vec<Encoding>> = columns
        .iter()
        .map(|c| {
            polars_parquet::write::get_dtype_encoding(&c.field.dtype)
                .into_iter()
                .map(|_| Encoding::Plain)
                .collect()
        })
        .collect();
    let descriptor = SchemaDescriptor::new(PlSmallStr::from_static("root"), declared);
    let mut writer = FileWriter::new_with_parquet_schema(Vec::new(), schema.clone(), descriptor, options);
    let arrays: Vec<Box<dyn Array>> = columns.into_iter().map(|c| c.array).collect();
    let batch = RecordBatchT::try_new(rows, Arc::new(schema), arrays)?;
    let group = row_group_iter(batch, encodings.into(), paged, options);
    writer.write(rows as u64, group)?;
    writer.end(Some(Vec::new()))?;
    Ok(writer.into_inner())
}

/// Reads the checkpoint of `version`: the table as of it.
pub async fn read(store: &dyn ObjectStore, dataset: &DatasetId, version: u64) -> Result<Snapshot> {
    let key = dataset.delta_checkpoint_key(version);
    let body = store.get(&key).await?;
    let unreadable = |e: &dyn std::fmt::Display| {
        Error::Internal(format!("{}: not a Delta checkpoint this tool can read ({e})", store.url_of(&key)))
    };
    let df = polars::prelude::ParquetReader::new(std::io::Cursor::new(body))
        .finish()
        .map_err(|e| unreadable(&e))?;
    from_frame(&df, version).map_err(|e| unreadable(&e))
}

/// The snapshot a checkpoint's rows make: each row one action.
fn from_frame(df: &polars::prelude::DataFrame, version: u64) -> polars::prelude::PolarsResult<Snapshot> {
    let (add, remove) = (Action::of(df, "add")?, Action::of(df, "remove")?);
    let (metadata, protocol) = (Action::of(df, "metaData")?, Action::of(df, "protocol")?);
    let mut snapshot = Snapshot::empty(version, Some(version));
    for i in 0..df.height() {
        if add.is_set(i) {
            let add = add.add(i);
            snapshot.files.insert(add.path.clone(), add);
        } else if remove.is_set(i) {
            let remove = remove.remove(i);
            snapshot.tombstones.insert(remove.path.clone(), remove);
        } else if metadata.is_set(i) {
            snapshot.metadata = metadata.metadata(i);
        } else if protocol.is_set(i) {
            snapshot.protocol = protocol.protocol(i);
        }
    }
    Ok(snapshot)
}

/// One action's column of a checkpoint (a struct column: `add`, `remove`, `metaData`, `protocol`),
/// read a row at a time.
struct Action {
    /// Whether each row holds this action.
    set: Option<polars::prelude::BooleanChunked>,
    fields: Vec<polars::prelude::Series>,
}

impl Action {
    fn of(df: &polars::prelude::DataFrame, column: &str) -> polars::prelude::PolarsResult<Self> {
        let Ok(col) = df.column(column) else { return Ok(Action { set: None, fields: Vec::new() }) };
        Ok(Action { set: Some(col.is_not_null()), fields: col.struct_()?.fields_as_series() })
    }

    fn is_set(&self, i: usize) -> bool {
        self.set.as_ref().and_then(|s| s.get(i)).unwrap_or(false)
    }

    fn field(&self, name: &str) -> Option<&polars::prelude::Series> {
        self.fields.iter().find(|s| s.name().as_str() == name)
    }

    fn text(&self, name: &str, i: usize) -> Option<String> {
        self.field(name)?.str().ok()?.get(i).map(str::to_owned)
    }

    /// A path, its percent-escapes decoded.
    fn path(&self, i: usize) -> String {
        decoded(&self.text("path", i).unwrap_or_default())
    }

    fn long(&self, name: &str, i: usize) -> Option<i64> {
        self.field(name)?.cast(&polars::prelude::DataType::Int64).ok()?.i64().ok()?.get(i)
    }

    fn flag(&self, name: &str, i: usize) -> Option<bool> {
        self.field(name)?.bool().ok()?.get(i)
    }

    /// A map (read as a list of key-value structs).
    fn map(&self, name: &str, i: usize) -> Option<BTreeMap<String, Option<String>>> {
        let entries = self.field(name)?.list().ok()?.get_as_series(i)?;
        let pairs = entries.struct_().ok()?.fields_as_series();
        let (keys, values) = (pairs.first()?.str().ok()?.clone(), pairs.get(1)?.str().ok()?.clone());
        Some(
            (0..keys.len())
                .filter_map(|j| Some((keys.get(j)?.to_owned(), values.get(j).map(str::to_owned))))
                .collect(),
        )
    }

    fn texts(&self, name: &str, i: usize) -> Option<Vec<String>> {
        let items = self.field(name)?.list().ok()?.get_as_series(i)?;
        let items = items.str().ok()?;
        Some((0..items.len()).filter_map(|j| items.get(j).map(str::to_owned)).collect())
    }

    fn add(&self, i: usize) -> Add {
        Add {
            path: self.path(i),
            partition_values: self.map("partitionValues", i).unwrap_or_default(),
            size: self.long("size", i).unwrap_or(0),
            modification_time: self.long("modificationTime", i).unwrap_or(0),
            data_change: false,
            stats: self.text("stats", i),
        }
    }

    fn remove(&self, i: usize) -> Remove {
        Remove {
            path: self.path(i),
            deletion_timestamp: self.long("deletionTimestamp", i),
            data_change: false,
            extended_file_metadata: self.flag("extendedFileMetadata", i),
            partition_values: self.map("partitionValues", i),
            size: self.long("size", i),
        }
    }

    fn metadata(&self, i: usize) -> Metadata {
        let provider = self
            .field("format")
            .and_then(|f| {
                f.struct_().ok()?.fields_as_series().into_iter().find(|s| s.name().as_str() == "provider")
            })
            .and_then(|p| p.str().ok()?.get(i).map(str::to_owned));
        let configuration = self.map("configuration", i).unwrap_or_default();
        Metadata {
            id: self.text("id", i).unwrap_or_default(),
            name: self.text("name", i),
            description: self.text("description", i),
            format: Format {
                provider: provider.unwrap_or_else(|| "parquet".into()),
                options: BTreeMap::new(),
            },
            schema_string: self.text("schemaString", i).unwrap_or_default(),
            partition_columns: self.texts("partitionColumns", i).unwrap_or_default(),
            configuration: configuration.into_iter().filter_map(|(k, v)| Some((k, v?))).collect(),
            created_time: self.long("createdTime", i),
        }
    }

    fn protocol(&self, i: usize) -> Protocol {
        Protocol {
            min_reader_version: self.long("minReaderVersion", i).unwrap_or(1) as i32,
            min_writer_version: self.long("minWriterVersion", i).unwrap_or(2) as i32,
            reader_features: self.texts("readerFeatures", i),
            writer_features: self.texts("writerFeatures", i),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_checkpoint_reads_back_as_the_table_it_was_written_from() {
        let mut snapshot = super::super::actions::tests_support::snapshot();
        snapshot.version = 10;
        let rows = Rows::of(&snapshot, 0);
        let body = rows.parquet().unwrap();
        let df = polars::prelude::ParquetReader::new(std::io::Cursor::new(body)).finish().unwrap();
        let back = from_frame(&df, 10).unwrap();
        assert_eq!(back.protocol, snapshot.protocol);
        assert_eq!(back.metadata, snapshot.metadata);
        let adds: Vec<Add> =
            snapshot.files.values().map(|a| Add { data_change: false, ..a.clone() }).collect();
        assert_eq!(back.files.values().cloned().collect::<Vec<_>>(), adds);
        assert_eq!(back.tombstones.len(), snapshot.tombstones.len());
    }
}
