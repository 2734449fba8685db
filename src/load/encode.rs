//! How a row group's columns become Parquet pages: polars-parquet's encoders, with choices of our
//! own made first, because they decide what readers pay every day and what a load costs.
//!
//! - A float column with few distinct values (prices, rates, scores) is dictionary-encoded.
//!   polars-parquet writes every float plain (its dictionary builder cannot hash floats), so the
//!   usage file's `Cost ($)` (251 values in 27,000 rows) took 60 KB a day where a dictionary takes 28,
//!   and a query summing it read twice the bytes DuckDB's files make it read.
//! - Text of few values becomes a dictionary built from its 16-byte views (short strings hashed as
//!   one 128-bit number), without polars-parquet's cardinality estimate and generic cast: the same
//!   dictionary, in the same order, for less CPU.
//! - A column whose first values are nearly all distinct (timestamps, counters, ids) is written plain
//!   straight away, without the cardinality estimate polars-parquet makes of every such column of every
//!   row group only to find that a dictionary would not pay.
//! - zstd compresses through one context per thread, not one per page.
//!
//! Each depends only on the rows, so the same rows give the same bytes.

use polars::prelude::*;
use polars_arrow::array::{
    Array, BinaryViewArray, DictionaryArray, MutableBinaryViewArray, PrimitiveArray, Utf8ViewArray, View,
};
use polars_arrow::datatypes::{ArrowDataType, IntegerType};
use polars_arrow::types::NativeType;
use polars_parquet::parquet::page::{CompressedDataPage, CompressedDictPage, DataPageHeader};
use polars_parquet::parquet::CowBuffer;
use polars_parquet::write::{
    array_to_columns, get_dtype_encoding, CompressedPage, CompressionOptions, Encoding, Page, ParquetType,
    StatisticsOptions, Version, WriteOptions,
};

use crate::error::{Error, Result};

/// The values looked at before deciding a column is not worth a dictionary.
const PROBE: usize = 4096;

/// Encodes the row groups of files of one schema.
pub struct Columns {
    types: Vec<ParquetType>,
    encodings: Vec<Vec<Encoding>>,
    options: WriteOptions,
}

impl Columns {
    /// `types`: the Parquet schema's fields, one per column of the frames to encode.
    pub fn new(schema: &Schema, types: Vec<ParquetType>, compression: CompressionOptions) -> Self {
        let encodings = schema
            .iter_values()
            .map(|dtype| get_dtype_encoding(&dtype.to_arrow(CompatLevel::newest())))
            .collect();
        let options = WriteOptions {
            statistics: StatisticsOptions::default(),
            version: Version::V1,
            compression,
            data_page_size: None,
        };
        Columns { types, encodings, options }
    }

    /// The compressed pages of each leaf column of `group`, one row group.
    pub fn encode(&self, group: &DataFrame) -> Result<Vec<Vec<CompressedPage>>> {
        let mut leaves = Vec::with_capacity(self.types.len());
        for ((column, type_), encodings) in group.columns().iter().zip(&self.types).zip(&self.encodings) {
            let series = column.as_materialized_series().rechunk();
            let (array, plain) = chosen(series.to_arrow(0, CompatLevel::newest()));
            let encodings: Vec<Encoding> = match plain {
                true => vec![Encoding::Plain; encodings.len()],
                false => encodings.clone(),
            };
            for pages in
                array_to_columns(array, type_.clone(), self.options, &encodings).map_err(Error::Parquet)?
            {
                let pages = pages
                    .map(|page| compressed(page.map_err(Error::Parquet)?, self.options.compression))
                    .collect::<Result<Vec<_>>>()?;
                leaves.push(pages);
            }
        }
        Ok(leaves)
    }
}

std::thread_local! {
    /// The zstd context of this thread and its level: polars-parquet makes a context for every page
    /// (its tables allocated and faulted in each time), this keeps one.
    static ZSTD: std::cell::RefCell<Option<(i32, zstd::bulk::Compressor<'static>)>> =
        const { std::cell::RefCell::new(None) };
}

/// `page` compressed as polars-parquet would (the same bytes), zstd through this thread's context.
fn compressed(page: Page, compression: CompressionOptions) -> Result<CompressedPage> {
    let CompressionOptions::Zstd(level) = compression else {
        return polars_parquet::write::compress(page, vec![], compression)
            .map_err(|e| Error::Parquet(e.into()));
    };
    let level = level.map(|l| l.compression_level()).unwrap_or_default();
    let zstd = |bytes: &[u8]| {
        ZSTD.with_borrow_mut(|context| {
            if context.as_ref().is_none_or(|(at, _)| *at != level) {
                *context = Some((level, zstd::bulk::Compressor::new(level)?));
            }
            let (_, compressor) = context.as_mut().expect("made above");
            compressor.compress(bytes)
        })
        .map_err(|e| Error::Parquet(PolarsError::ComputeError(format!("zstd: {e}").into())))
    };
    Ok(match page {
        Page::Data(page) if matches!(page.header(), DataPageHeader::V1(_)) => {
            let size = page.buffer().len();
            let bytes = zstd(page.buffer())?;
            let rows = page.num_rows.expect("a written page knows its rows");
            CompressedPage::Data(CompressedDataPage::new(
                page.header().clone(),
                CowBuffer::Owned(bytes),
                compression.into(),
                size,
                page.descriptor,
                rows,
            ))
        }
        Page::Dict(page) => {
            let bytes = zstd(&page.buffer)?;
            let size = page.buffer.len();
            CompressedPage::Dict(CompressedDictPage::new(
                CowBuffer::Owned(bytes),
                compression.into(),
                size,
                page.num_values,
                page.is_sorted,
            ))
        }
        page => polars_parquet::write::compress(page, vec![], compression)
            .map_err(|e| Error::Parquet(e.into()))?,
    })
}

/// The array to encode and whether to write it plain: a float column as a dictionary when that
/// pays, a column whose first values are nearly all distinct plain.
fn chosen(array: Box<dyn Array>) -> (Box<dyn Array>, bool) {
    let any = array.as_any();
    match array.dtype() {
        ArrowDataType::Float64 => {
            let floats = any.downcast_ref::<PrimitiveArray<f64>>().expect("a Float64 array");
            match float_dictionary(floats, f64::to_bits) {
                Some(dictionary) => (dictionary.boxed(), false),
                None => (array, true),
            }
        }
        ArrowDataType::Float32 => {
            let floats = any.downcast_ref::<PrimitiveArray<f32>>().expect("a Float32 array");
            match float_dictionary(floats, |v| u64::from(v.to_bits())) {
                Some(dictionary) => (dictionary.boxed(), false),
                None => (array, true),
            }
        }
        dtype => {
            let distinct = match dtype.to_storage() {
                ArrowDataType::Int64 | ArrowDataType::Timestamp(..) | ArrowDataType::Duration(_) => any
                    .downcast_ref::<PrimitiveArray<i64>>()
                    .is_some_and(|a| mostly_distinct(a.non_null_values_iter())),
                ArrowDataType::Int32 | ArrowDataType::Date32 => any
                    .downcast_ref::<PrimitiveArray<i32>>()
                    .is_some_and(|a| mostly_distinct(a.non_null_values_iter())),
                ArrowDataType::Utf8View => {
                    let text = any.downcast_ref::<Utf8ViewArray>().expect("a Utf8View array");
                    return match text_dictionary(text) {
                        Some(dictionary) => (dictionary.boxed(), false),
                        None => (array, true),
                    };
                }
                ArrowDataType::BinaryView => any
                    .downcast_ref::<BinaryViewArray>()
                    .is_some_and(|a| mostly_distinct(a.non_null_values_iter())),
                _ => false,
            };
            (array, distinct)
        }
    }
}

/// Whether more than three quarters of the first [`PROBE`] values are distinct (where a dictionary
/// would not pay, by polars-parquet's own rule for the whole column).
fn mostly_distinct<T: std::hash::Hash + Eq>(values: impl Iterator<Item = T>) -> bool {
    let mut seen = PlHashSet::with_capacity(PROBE);
    let mut looked = 0;
    for v in values.take(PROBE) {
        seen.insert(v);
        looked += 1;
    }
    looked >= 128 && seen.len() * 4 > looked * 3
}

/// Text as a dictionary (values in the order they first come), unless its first values are mostly
/// distinct or more than three quarters of all are. Short strings are told apart by their 16-byte
/// view alone (length and bytes inline), longer ones by their bytes.
fn text_dictionary(array: &Utf8ViewArray) -> Option<DictionaryArray<u32>> {
    if mostly_distinct(array.non_null_values_iter()) {
        return None;
    }
    let limit = array.len() * 3 / 4;
    let buffers = array.data_buffers();
    let mut short: PlHashMap<u128, u32> = PlHashMap::with_capacity(256);
    let mut long: PlHashMap<&[u8], u32> = PlHashMap::with_capacity(256);
    let mut values = MutableBinaryViewArray::<str>::with_capacity(256);
    let mut keys: Vec<u32> = Vec::with_capacity(array.len());
    for (i, view) in array.views().iter().enumerate() {
        if array.validity().is_some_and(|valid| !valid.get_bit(i)) {
            keys.push(0);
            continue;
        }
        let next = values.len() as u32;
        let key = match view.length <= View::MAX_INLINE_SIZE {
            true => *short.entry(view.as_u128()).or_insert(next),
            // Safety: the view is the array's own, over its own buffers.
            false => *long.entry(unsafe { view.get_slice_unchecked(buffers) }).or_insert(next),
        };
        if key == next {
            values.push_value(array.value(i));
            if values.len() > limit {
                return None;
            }
        }
        keys.push(key);
    }
    if values.len() == 0 {
        return None;
    }
    let keys = PrimitiveArray::new(ArrowDataType::UInt32, keys.into(), array.validity().cloned());
    let values: Utf8ViewArray = values.into();
    let dtype = ArrowDataType::Dictionary(IntegerType::UInt32, Box::new(ArrowDataType::Utf8View), false);
    DictionaryArray::try_new(dtype, keys, values.boxed()).ok()
}

/// The floats as a dictionary (values in the order they first come, told apart by their bits, so
/// `-0.0` and `0.0` stay what they were), when at most half the rows' values are distinct.
fn float_dictionary<T: NativeType>(
    array: &PrimitiveArray<T>,
    bits: impl Fn(T) -> u64,
) -> Option<DictionaryArray<u32>> {
    if mostly_distinct(array.non_null_values_iter().map(&bits)) {
        return None;
    }
    let limit = array.len() / 2;
    let mut index: PlHashMap<u64, u32> = PlHashMap::with_capacity(256);
    let mut values: Vec<T> = Vec::new();
    let mut keys: Vec<u32> = Vec::with_capacity(array.len());
    for (i, v) in array.values().iter().enumerate() {
        // A null's slot takes the first key: its validity says it is null.
        if array.validity().is_some_and(|valid| !valid.get_bit(i)) {
            keys.push(0);
            continue;
        }
        let key = *index.entry(bits(*v)).or_insert_with(|| {
            values.push(*v);
            (values.len() - 1) as u32
        });
        if values.len() > limit {
            return None;
        }
        keys.push(key);
    }
    if values.is_empty() {
        return None;
    }
    let keys = PrimitiveArray::new(ArrowDataType::UInt32, keys.into(), array.validity().cloned());
    let values = PrimitiveArray::new(array.dtype().clone(), values.into(), None).boxed();
    let dtype = ArrowDataType::Dictionary(IntegerType::UInt32, Box::new(array.dtype().clone()), false);
    DictionaryArray::try_new(dtype, keys, values).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn few_distinct_floats_become_a_dictionary_and_many_stay_plain() {
        let few: Vec<f64> = (0..10_000).map(|i| f64::from(i % 251) / 100.0).collect();
        let (array, plain) = chosen(PrimitiveArray::from_vec(few).boxed());
        assert!(!plain);
        let dictionary = array.as_any().downcast_ref::<DictionaryArray<u32>>().expect("a dictionary");
        assert_eq!(dictionary.values().len(), 251);

        let many: Vec<f64> = (0..10_000).map(|i| f64::from(i) / 7.0).collect();
        let (array, plain) = chosen(PrimitiveArray::from_vec(many).boxed());
        assert!(plain);
        assert_eq!(array.dtype(), &ArrowDataType::Float64);
    }

    #[test]
    fn a_dictionary_keeps_signed_zeros_and_nulls_apart() {
        let values = [Some(0.0), Some(-0.0), None, Some(0.0), Some(-0.0), None, Some(0.0), Some(-0.0)];
        let array = PrimitiveArray::<f64>::from(values.repeat(32));
        let dictionary = float_dictionary(&array, f64::to_bits).expect("two values in 256 rows");
        assert_eq!(dictionary.values().len(), 2);
        assert_eq!(dictionary.null_count(), 64);
        let back: Vec<Option<u64>> = (0..8)
            .map(|i| {
                dictionary.is_valid(i).then(|| {
                    dictionary
                        .value(i)
                        .as_any()
                        .downcast_ref::<polars_arrow::scalar::PrimitiveScalar<f64>>()
                        .unwrap()
                        .value()
                        .unwrap()
                        .to_bits()
                })
            })
            .collect();
        let want: Vec<Option<u64>> = values.iter().map(|v| v.map(f64::to_bits)).collect();
        assert_eq!(back, want);
    }

    #[test]
    fn timestamps_and_ids_that_are_all_distinct_are_written_plain() {
        let stamps: Vec<i64> = (0..5_000).map(|i| 1_700_000_000_000 + i * 37).collect();
        assert!(chosen(PrimitiveArray::from_vec(stamps).boxed()).1);
        let kinds: Vec<i64> = (0..5_000).map(|i| i % 7).collect();
        assert!(!chosen(PrimitiveArray::from_vec(kinds).boxed()).1);
        let ids: Vec<String> = (0..5_000).map(|i| format!("id-{i}")).collect();
        assert!(chosen(Utf8ViewArray::from_slice_values(ids).boxed()).1);
    }

    #[test]
    fn text_with_few_values_becomes_a_dictionary_of_its_values_in_order() {
        let words = [
            "No",
            "a rather long value, past twelve bytes",
            "Yes",
            "No",
            "another long one, also past twelve",
        ];
        let rows: Vec<Option<&str>> = (0..1_000).map(|i| (i % 7 != 3).then_some(words[i % 5])).collect();
        let array: Utf8ViewArray = MutableBinaryViewArray::<str>::from(rows.as_slice()).into();
        let dictionary = text_dictionary(&array).expect("four values in 1,000 rows");
        let values = dictionary.values().as_any().downcast_ref::<Utf8ViewArray>().unwrap();
        let values: Vec<&str> = values.values_iter().collect();
        assert_eq!(
            values,
            ["No", "a rather long value, past twelve bytes", "Yes", "another long one, also past twelve"]
        );
        for (i, row) in rows.iter().enumerate() {
            let key = dictionary.keys().get(i).map(|k| k as usize);
            assert_eq!(key.map(|k| values[k]), *row, "row {i}");
        }
    }
}
