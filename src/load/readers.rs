//! How DuckDB, polars, pyarrow and Spark read a dataset right, for `etl inspect` to print.
//!
//! A partitioned dataset's folders are `date=YYYY-MM-DD`, so a Hive-partitioned read adds a `date`
//! column. DuckDB and Spark match column names without case: a column of the data named `date`
//! (or `Date`, as the usage export's timestamp is) is then replaced by the folder's day, and polars
//! replaces an exact `date`. Every file holds the partition column itself, so for such a dataset the
//! right read skips Hive partitioning; for any other it keeps it (and its pruning).

use serde::Serialize;

use super::layout::PARTITION_KEY;

/// One expression per reader, reading the whole dataset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Reads {
    /// A DuckDB query.
    pub duckdb: String,
    /// A polars expression (`import polars as pl`): a LazyFrame.
    pub polars: String,
    /// A pyarrow expression (`import pyarrow.dataset as ds`): a Dataset.
    pub pyarrow: String,
    /// A PySpark expression (a `spark` session): a DataFrame.
    pub spark: String,
}

/// Whether a column named `name` would be shadowed by the partition folders' key in a Hive read.
pub fn collides_with_partition_key(name: &str) -> bool {
    name.eq_ignore_ascii_case(PARTITION_KEY)
}

/// The reads of the dataset whose folder is `url` (`…/datasets/<id>/`, a path or `s3://`), with
/// these `columns`, partitioned or not.
pub fn reads(url: &str, partitioned: bool, columns: &[String]) -> Reads {
    let root = format!("{}/", url.trim_end_matches('/'));
    let folder = if partitioned { format!("{root}partitions/") } else { format!("{root}data/") };
    let hive = partitioned && !columns.iter().any(|c| collides_with_partition_key(c));
    let files = if partitioned { format!("{folder}*/*.parquet") } else { format!("{folder}*.parquet") };
    let python = |flag: bool| if flag { "True" } else { "False" };
    let spark_folder = folder.replacen("s3://", "s3a://", 1);
    Reads {
        duckdb: format!("SELECT * FROM read_parquet('{files}', hive_partitioning = {hive})"),
        polars: format!("pl.scan_parquet('{folder}', hive_partitioning={})", python(hive)),
        pyarrow: match hive {
            true => format!("ds.dataset('{folder}', format='parquet', partitioning='hive')"),
            false => format!("ds.dataset('{folder}', format='parquet')"),
        },
        spark: match hive {
            true => format!("spark.read.parquet('{spark_folder}')"),
            false => format!("spark.read.option('recursiveFileLookup', 'true').parquet('{spark_folder}')"),
        },
    }
}

/// The reads of a Delta table whose root is `url`: each reader reads the log, so sees one committed
/// version (its `pyarrow` read is deltalake's). Time travel is `version=N` (`delta_scan` reads the
/// newest).
pub fn delta_reads(url: &str) -> Reads {
    let root = url.trim_end_matches('/');
    Reads {
        duckdb: format!("SELECT * FROM delta_scan('{root}')"),
        polars: format!("pl.scan_delta('{root}')"),
        pyarrow: format!("DeltaTable('{root}').to_pyarrow_dataset()"),
        spark: format!("spark.read.format('delta').load('{}')", root.replacen("s3://", "s3a://", 1)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_column_named_like_the_key_turns_hive_reads_off() {
        let cols = |names: &[&str]| names.iter().map(|n| n.to_string()).collect::<Vec<_>>();
        let r = reads("s3://b/p/datasets/u/", true, &cols(&["Date", "n"]));
        assert_eq!(r.duckdb, "SELECT * FROM read_parquet('s3://b/p/datasets/u/partitions/*/*.parquet', hive_partitioning = false)");
        assert_eq!(
            r.spark,
            "spark.read.option('recursiveFileLookup', 'true').parquet('s3a://b/p/datasets/u/partitions/')"
        );
        let r = reads("lake/datasets/e", true, &cols(&["at", "n"]));
        assert_eq!(r.polars, "pl.scan_parquet('lake/datasets/e/partitions/', hive_partitioning=True)");
        assert_eq!(
            r.pyarrow,
            "ds.dataset('lake/datasets/e/partitions/', format='parquet', partitioning='hive')"
        );
        let r = reads("lake/datasets/e/", false, &cols(&["date"]));
        assert_eq!(
            r.duckdb,
            "SELECT * FROM read_parquet('lake/datasets/e/data/*.parquet', hive_partitioning = false)"
        );
    }
}
