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
//! - Integers, timestamps and dates of many values are `DELTA_BINARY_PACKED` (polars-parquet writes
//!   them plain and lets zstd find what it can): bit-packed deltas are as small as zstd made the
//!   plain values (token counts: about 2.6 bytes a value either way; timestamps in order: a few bits)
//!   and are left uncompressed unless zstd shrinks a probe of them by an eighth, so a load skips
//!   compressing them and a reader decompressing them. Numbers of few values are dictionaries, as
//!   floats. The usage file: 198 -> 177 MB, the load 4.4 -> 3.7 s, a sum of one integer column over
//!   the year 0.55 x the time DuckDB's own files take.
//! - Sorted files (`--sort-by`) cut the columns that are not dictionaries into pages of
//!   [`Columns::new`]'s `page_rows`: with the page index, a filter on the sort column lets readers skip
//!   the pages of the other columns that hold none of its rows.
//! - zstd compresses through one context per thread, not one per page.
//!
//! Each depends only on the rows, so the same rows give the same bytes.

use polars::prelude::*;
use polars_arrow::array::{
    Array, BinaryViewArray, DictionaryArray, MutableBinaryViewArray, PrimitiveArray, Utf8ViewArray, View,
};
use polars_arrow::datatypes::{ArrowDataType, IntegerType, PhysicalType, PrimitiveType};
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
    page_rows: Option<usize>,
}

/// How a column chunk's values are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Choice {
    /// A dictionary we built (text, numbers of few values).
    Dictionary,
    /// Plain: values nearly all distinct, where a dictionary would not pay.
    Plain,
    /// Integers (timestamps, dates, counts) of many values as `DELTA_BINARY_PACKED`.
    Delta,
    /// polars-parquet's own choice (booleans, binary, unsigned integers).
    Default,
}

impl Columns {
    /// `types`: the Parquet schema's fields, one per column of the frames to encode. `page_rows`:
    /// the rows of a data page of a column not written as a dictionary (for files sorted by some
    /// column, so that readers skip pages by the page index); `None` for one page a row group.
    pub fn new(
        schema: &Schema,
        types: Vec<ParquetType>,
        compression: CompressionOptions,
        page_rows: Option<usize>,
    ) -> Self {
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
        Columns { types, encodings, options, page_rows }
    }

    /// The compressed pages of each leaf column of `group`, one row group.
    pub fn encode(&self, group: &DataFrame) -> Result<Vec<Vec<CompressedPage>>> {
        let mut leaves = Vec::with_capacity(self.types.len());
        for ((column, type_), encodings) in group.columns().iter().zip(&self.types).zip(&self.encodings) {
            let series = column.as_materialized_series().rechunk();
            let (array, choice) = chosen(series.to_arrow(0, CompatLevel::newest()));
            let encodings: Vec<Encoding> = match choice {
                Choice::Plain => vec![Encoding::Plain; encodings.len()],
                Choice::Delta => vec![Encoding::DeltaBinaryPacked; encodings.len()],
                Choice::Dictionary | Choice::Default => encodings.clone(),
            };
            let mut options = self.options;
            if let (Some(rows), Choice::Plain | Choice::Delta) = (self.page_rows, choice) {
                options.data_page_size = Some(page_size(array.as_ref(), rows));
            }
            for pages in
                array_to_columns(array, type_.clone(), options, &encodings).map_err(Error::Parquet)?
            {
                let pages = pages.collect::<std::result::Result<Vec<_>, _>>().map_err(Error::Parquet)?;
                let compression = match choice {
                    Choice::Delta if !worth_compressing(&pages, options.compression) => {
                        CompressionOptions::Uncompressed
                    }
                    _ => options.compression,
                };
                let pages = pages
                    .into_iter()
                    .map(|page| compressed(page, compression))
                    .collect::<Result<Vec<_>>>()?;
                leaves.push(pages);
            }
        }
        Ok(leaves)
    }
}

/// The `data_page_size` that makes polars-parquet cut pages of `rows` rows of `array`: it divides
/// the size by the array's estimated bytes a row, plus one.
fn page_size(array: &dyn Array, rows: usize) -> usize {
    let per_row = polars_arrow::compute::aggregate::estimated_bytes_size(array) / array.len().max(1);
    rows * (per_row + 1)
}

/// Bytes of a column's first page that [`worth_compressing`] compresses to see.
const COMPRESSION_PROBE: usize = 16 * 1024;

/// Whether compressing a chunk of delta-encoded integers pays: its first page's first bytes shrink
/// by at least an eighth. Bit-packed deltas of counts and timestamps are already about as small as
/// zstd makes them (the usage file's token counts: 2.6 bytes a value either way), and readers then
/// decode them without decompressing first.
fn worth_compressing(pages: &[Page], compression: CompressionOptions) -> bool {
    if matches!(compression, CompressionOptions::Uncompressed) {
        return false;
    }
    let Some(Page::Data(first)) = pages.iter().find(|page| matches!(page, Page::Data(_))) else {
        return false;
    };
    let probe = &first.buffer()[..first.buffer().len().min(COMPRESSION_PROBE)];
    if probe.len() < 64 {
        return false;
    }
    // At the chunk's own zstd level (the thread's context is kept for it); level 1 for other codecs.
    let level = match compression {
        CompressionOptions::Zstd(level) => level.map(|l| l.compression_level()).unwrap_or_default(),
        _ => 1,
    };
    let Ok(small) = zstd_compress(probe, level) else {
        return true;
    };
    small.len() * 8 <= probe.len() * 7
}

std::thread_local! {
    /// The zstd context of this thread and its level: polars-parquet makes a context for every page
    /// (its tables allocated and faulted in each time), this keeps one.
    static ZSTD: std::cell::RefCell<Option<(i32, zstd::bulk::Compressor<'static>)>> =
        const { std::cell::RefCell::new(None) };
}

/// `bytes` compressed by zstd at `level` through this thread's context.
fn zstd_compress(bytes: &[u8], level: i32) -> std::io::Result<Vec<u8>> {
    ZSTD.with_borrow_mut(|context| {
        if context.as_ref().is_none_or(|(at, _)| *at != level) {
            *context = Some((level, zstd::bulk::Compressor::new(level)?));
        }
        let (_, compressor) = context.as_mut().expect("made above");
        compressor.compress(bytes)
    })
}

/// `page` compressed as polars-parquet would (the same bytes), zstd through this thread's context.
fn compressed(page: Page, compression: CompressionOptions) -> Result<CompressedPage> {
    let CompressionOptions::Zstd(level) = compression else {
        return polars_parquet::write::compress(page, vec![], compression)
            .map_err(|e| Error::Parquet(e.into()));
    };
    let level = level.map(|l| l.compression_level()).unwrap_or_default();
    let zstd = |bytes: &[u8]| {
        zstd_compress(bytes, level)
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

/// The array to encode and how: text and numbers of few values as dictionaries, integers of many
/// values as deltas, other columns whose first values are nearly all distinct plain.
fn chosen(array: Box<dyn Array>) -> (Box<dyn Array>, Choice) {
    let any = array.as_any();
    let dictionary = match array.dtype().to_physical_type() {
        PhysicalType::Primitive(PrimitiveType::Float64) => {
            let floats = any.downcast_ref::<PrimitiveArray<f64>>().expect("a Float64 array");
            return match number_dictionary(floats, f64::to_bits) {
                Some(dictionary) => (dictionary.boxed(), Choice::Dictionary),
                None => (array, Choice::Plain),
            };
        }
        PhysicalType::Primitive(PrimitiveType::Float32) => {
            let floats = any.downcast_ref::<PrimitiveArray<f32>>().expect("a Float32 array");
            return match number_dictionary(floats, |v| u64::from(v.to_bits())) {
                Some(dictionary) => (dictionary.boxed(), Choice::Dictionary),
                None => (array, Choice::Plain),
            };
        }
        // Integers, timestamps, dates, durations.
        PhysicalType::Primitive(PrimitiveType::Int64) => {
            let ints = any.downcast_ref::<PrimitiveArray<i64>>().expect("an Int64 array");
            number_dictionary(ints, |v| v as u64)
        }
        PhysicalType::Primitive(PrimitiveType::Int32) => {
            let ints = any.downcast_ref::<PrimitiveArray<i32>>().expect("an Int32 array");
            number_dictionary(ints, |v| v as u64)
        }
        PhysicalType::Utf8View => {
            let text = any.downcast_ref::<Utf8ViewArray>().expect("a Utf8View array");
            return match text_dictionary(text) {
                Some(dictionary) => (dictionary.boxed(), Choice::Dictionary),
                None => (array, Choice::Plain),
            };
        }
        PhysicalType::BinaryView => {
            let bytes = any.downcast_ref::<BinaryViewArray>().expect("a BinaryView array");
            return match mostly_distinct(bytes.non_null_values_iter()) {
                true => (array, Choice::Plain),
                false => (array, Choice::Default),
            };
        }
        _ => return (array, Choice::Default),
    };
    match dictionary {
        // The dictionary's values keep the column's own type (a timestamp's unit and zone).
        Some(dictionary) => (dictionary.boxed(), Choice::Dictionary),
        None => (array, Choice::Delta),
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

/// The numbers as a dictionary (values in the order they first come, told apart by their bits, so
/// `-0.0` and `0.0` stay what they were), when at most half the rows' values are distinct.
fn number_dictionary<T: NativeType>(
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
        let (array, choice) = chosen(PrimitiveArray::from_vec(few).boxed());
        assert_eq!(choice, Choice::Dictionary);
        let dictionary = array.as_any().downcast_ref::<DictionaryArray<u32>>().expect("a dictionary");
        assert_eq!(dictionary.values().len(), 251);

        let many: Vec<f64> = (0..10_000).map(|i| f64::from(i) / 7.0).collect();
        let (array, choice) = chosen(PrimitiveArray::from_vec(many).boxed());
        assert_eq!(choice, Choice::Plain);
        assert_eq!(array.dtype(), &ArrowDataType::Float64);
    }

    #[test]
    fn a_dictionary_keeps_signed_zeros_and_nulls_apart() {
        let values = [Some(0.0), Some(-0.0), None, Some(0.0), Some(-0.0), None, Some(0.0), Some(-0.0)];
        let array = PrimitiveArray::<f64>::from(values.repeat(32));
        let dictionary = number_dictionary(&array, f64::to_bits).expect("two values in 256 rows");
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
    fn integers_of_many_values_are_deltas_of_few_a_dictionary_and_distinct_text_plain() {
        let stamps: Vec<i64> = (0..5_000).map(|i| 1_700_000_000_000 + i * 37).collect();
        assert_eq!(chosen(PrimitiveArray::from_vec(stamps).boxed()).1, Choice::Delta);
        let kinds: Vec<i64> = (0..5_000).map(|i| i % 7).collect();
        assert_eq!(chosen(PrimitiveArray::from_vec(kinds).boxed()).1, Choice::Dictionary);
        let ids: Vec<String> = (0..5_000).map(|i| format!("id-{i}")).collect();
        assert_eq!(chosen(Utf8ViewArray::from_slice_values(ids).boxed()).1, Choice::Plain);
    }

    /// The leaf pages of one column of `values`, encoded as a file's row group would be.
    fn pages_of(values: Vec<i64>, page_rows: Option<usize>) -> Vec<CompressedPage> {
        let df = DataFrame::new(values.len(), vec![Column::new("n".into(), values)]).unwrap();
        let schema = df.schema().as_ref().clone();
        let arrow = schema.to_arrow(CompatLevel::newest());
        let types = polars_parquet::write::to_parquet_schema(&arrow).unwrap().fields().to_vec();
        let zstd = CompressionOptions::Zstd(None);
        let mut leaves = Columns::new(&schema, types, zstd, page_rows).encode(&df).unwrap();
        leaves.remove(0)
    }

    fn data_pages(pages: &[CompressedPage]) -> Vec<&CompressedDataPage> {
        pages
            .iter()
            .filter_map(|p| match p {
                CompressedPage::Data(page) => Some(page),
                CompressedPage::Dict(_) => None,
            })
            .collect()
    }

    #[test]
    fn delta_encoded_integers_are_compressed_only_when_that_pays_and_sorted_files_page_them() {
        // Counts of many values: deltas, not compressed (zstd would not make them smaller).
        let mut state = 7u64;
        let counts: Vec<i64> = (0..10_000)
            .map(|_| {
                state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                (state >> 44) as i64
            })
            .collect();
        let pages = pages_of(counts.clone(), None);
        let data = data_pages(&pages);
        assert_eq!(data.len(), 1, "one page a row group");
        assert_eq!(Encoding::try_from(data[0].header().encoding()).unwrap(), Encoding::DeltaBinaryPacked);
        assert_eq!(data[0].compression(), polars_parquet::parquet::compression::Compression::Uncompressed);
        // The same values in a sorted file's pages of 2,048 rows.
        let pages = pages_of(counts, Some(2048));
        let rows: Vec<usize> = data_pages(&pages).iter().map(|p| p.num_rows().unwrap()).collect();
        assert_eq!(rows, [2048, 2048, 2048, 2048, 1808]);
        // Distinct values whose deltas repeat a pattern zstd finds: compressed.
        let pattern: Vec<i64> = (0..10_000).map(|i| (i % 300) * 1_000_000_000_000 + i).collect();
        let pages = pages_of(pattern, None);
        let data = data_pages(&pages);
        assert_eq!(Encoding::try_from(data[0].header().encoding()).unwrap(), Encoding::DeltaBinaryPacked);
        assert_eq!(data[0].compression(), polars_parquet::parquet::compression::Compression::Zstd);
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
