use polars::prelude::*;

use crate::util::*;

/// Every type the inferrer knows, with the value that decides it on the last line.
const TYPED_CSV: &str = "\
id,zip,amount,flag,day,seen_at,local_at,note,late_float,empty
1,02134,1.5,true,2026-01-31,2026-10-31T23:59:31.601Z,2026-10-31 08:00:00,\"plain\",1,
2,00501,-2,FALSE,2026-2-1,2026-10-31T10:00:00+02:00,2026-10-31T09:30,\"with, comma\",2,
3,10001,1e3,True,2024-02-29,2026-11-01T00:00:00.123456789Z,2026-10-31 10:00:00.5,\"with \"\"quotes\"\"\",3,
4,,,,,,,\"two
lines\",4.25,
";

#[test]
fn infers_every_type_from_all_values_and_keeps_them_exact() {
    let dir = Dir::new();
    let csv = dir.write("typed.csv", TYPED_CSV);
    ok(dir.etl().args(["upload-csv", csv.to_str().unwrap(), "--dataset-id", "typed"]));

    assert_eq!(dir.lake_keys(), vec!["datasets/typed/data/part-0000.parquet"]);
    let df = read_parquet(&dir.lake("datasets/typed/data/part-0000.parquet"));
    assert_eq!(df.height(), 4);
    assert_eq!(dtype(&df, "id"), DataType::Int64);
    // Leading zeros are identifiers: kept as text, zeros included.
    assert_eq!(dtype(&df, "zip"), DataType::String);
    assert_eq!(
        strings(&df, "zip"),
        vec![Some("02134".into()), Some("00501".into()), Some("10001".into()), None]
    );
    assert_eq!(dtype(&df, "amount"), DataType::Float64);
    assert_eq!(f64s(&df, "amount"), vec![Some(1.5), Some(-2.0), Some(1000.0), None]);
    assert_eq!(dtype(&df, "flag"), DataType::Boolean);
    assert_eq!(bools(&df, "flag"), vec![Some(true), Some(false), Some(true), None]);
    assert_eq!(dtype(&df, "day"), DataType::Date);
    assert_eq!(
        days(&df, "day"),
        vec![
            Some(etl::transform::calendar::days_from_civil(2026, 1, 31)),
            Some(etl::transform::calendar::days_from_civil(2026, 2, 1)),
            Some(etl::transform::calendar::days_from_civil(2024, 2, 29)),
            None
        ]
    );
    // Offsets: UTC, microseconds, adjusted.
    assert_eq!(dtype(&df, "seen_at"), DataType::Datetime(TimeUnit::Microseconds, Some(TimeZone::UTC)));
    assert_eq!(
        micros(&df, "seen_at"),
        vec![
            Some(utc(2026, 10, 31, 23, 59, 31, 601_000)),
            Some(utc(2026, 10, 31, 8, 0, 0, 0)),
            Some(utc(2026, 11, 1, 0, 0, 0, 123_456)),
            None
        ]
    );
    assert_eq!(dtype(&df, "local_at"), DataType::Datetime(TimeUnit::Microseconds, None));
    assert_eq!(micros(&df, "local_at")[2], Some(utc(2026, 10, 31, 10, 0, 0, 500_000)));
    // RFC 4180: delimiters, doubled quotes and line breaks inside quoted fields.
    assert_eq!(
        strings(&df, "note"),
        vec![
            Some("plain".into()),
            Some("with, comma".into()),
            Some("with \"quotes\"".into()),
            Some("two\nlines".into())
        ]
    );
    // A float on the last line makes the column Float64: never a failed load, never a null.
    assert_eq!(dtype(&df, "late_float"), DataType::Float64);
    assert_eq!(f64s(&df, "late_float"), vec![Some(1.0), Some(2.0), Some(3.0), Some(4.25)]);
    assert_eq!(dtype(&df, "empty"), DataType::String);
    assert_eq!(df.column("empty").unwrap().null_count(), 4);
}

#[test]
fn a_value_on_the_last_of_many_lines_decides_the_type() {
    let dir = Dir::new();
    let mut csv = String::from("n,label\n");
    for i in 0..200_000 {
        csv += &format!("{i},{i}\n");
    }
    csv += "oops,1.5\n";
    let path = dir.write("big.csv", csv);
    ok(dir.etl().args(["upload-csv", path.to_str().unwrap(), "--dataset-id", "big"]));
    let df = read_parquet(&dir.lake("datasets/big/data/part-0000.parquet"));
    assert_eq!(df.height(), 200_001);
    assert_eq!(dtype(&df, "n"), DataType::String);
    assert_eq!(strings(&df, "n")[200_000].as_deref(), Some("oops"));
    assert_eq!(dtype(&df, "label"), DataType::Float64);
    assert_eq!(f64s(&df, "label")[199_999], Some(199_999.0));
}

#[test]
fn partitions_by_the_utc_day_with_the_key_in_the_path_only() {
    let dir = Dir::new();
    let csv = dir.write("events.csv", EVENTS_CSV);
    let r = ok(dir.etl().args([
        "upload-csv",
        csv.to_str().unwrap(),
        "--dataset-id",
        "events",
        "--partition-col",
        "at",
    ]));
    assert!(r.stderr.contains("6 rows read, 6 rows written, 4 partitions, 4 files"), "{r:?}");

    assert_eq!(
        dir.lake_keys(),
        vec![
            "datasets/events/partitions/date=2026-10-30/part-0000.parquet",
            "datasets/events/partitions/date=2026-10-31/part-0000.parquet",
            "datasets/events/partitions/date=2026-11-01/part-0000.parquet",
            "datasets/events/partitions/date=__HIVE_DEFAULT_PARTITION__/part-0000.parquet",
        ]
    );
    let day =
        |d: &str| read_parquet(&dir.lake(&format!("datasets/events/partitions/date={d}/part-0000.parquet")));
    // 23:30 at -02:00 is 01:30 UTC the next day; source order is kept inside a partition.
    assert_eq!(strings(&day("2026-11-01"), "event"), vec![Some("b".into()), Some("f".into())]);
    assert_eq!(strings(&day("2026-10-31"), "event"), vec![Some("a".into()), Some("e".into())]);
    assert_eq!(strings(&day("__HIVE_DEFAULT_PARTITION__"), "event"), vec![Some("c".into())]);
    let oct31 = day("2026-10-31");
    // The source column stays, with its full value; no extra `date` column.
    assert_eq!(oct31.get_column_names(), vec!["event", "at", "value"]);
    assert_eq!(micros(&oct31, "at")[0], Some(utc(2026, 10, 31, 23, 30, 0, 0)));
}

#[test]
fn max_rows_per_file_rolls_over_and_a_rerun_leaves_no_stale_parts() {
    let dir = Dir::new();
    let mut csv = String::from("at,n\n");
    for i in 0..10 {
        csv += &format!("2026-10-31,{i}\n");
    }
    let path = dir.write("ten.csv", &csv);
    let load = |n: &str| {
        ok(dir.etl().args([
            "upload-csv",
            path.to_str().unwrap(),
            "--dataset-id",
            "ten",
            "--partition-col",
            "at",
            "--max-rows-per-file",
            n,
        ]))
    };
    load("4");
    let folder = "datasets/ten/partitions/date=2026-10-31/";
    let keys: Vec<String> = (0..3).map(|i| format!("{folder}part-{i:04}.parquet")).collect();
    assert_eq!(dir.lake_keys(), keys);
    let rows: Vec<Vec<Option<i64>>> = keys.iter().map(|k| i64s(&read_parquet(&dir.lake(k)), "n")).collect();
    assert_eq!(rows.concat(), (0..10).map(Some).collect::<Vec<_>>());
    assert_eq!(rows.iter().map(Vec::len).collect::<Vec<_>>(), vec![4, 4, 2]);

    let r = load("5");
    assert!(r.stderr.contains("1 object deleted"), "{r:?}");
    assert_eq!(dir.lake_keys(), keys[..2].to_vec());
}

#[test]
fn rerunning_the_same_load_writes_identical_bytes() {
    let dir = Dir::new();
    let csv = dir.write("events.csv", EVENTS_CSV);
    let args = ["upload-csv", csv.to_str().unwrap(), "--dataset-id", "events", "--partition-col", "at"];
    ok(dir.etl().args(args));
    let key = "datasets/events/partitions/date=2026-10-31/part-0000.parquet";
    let first = std::fs::read(dir.lake(key)).unwrap();
    ok(dir.etl().args(args));
    assert_eq!(std::fs::read(dir.lake(key)).unwrap(), first);
}

#[test]
fn a_ragged_row_fails_with_its_line_and_writes_nothing() {
    let dir = Dir::new();
    let csv = dir.write("bad.csv", "a,b\n1,2\n3,4,5\n");
    let r = run(dir.etl().args(["upload-csv", csv.to_str().unwrap(), "--dataset-id", "bad"]));
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stderr.contains("bad.csv:3: expected 2 fields"), "{r:?}");
    assert_eq!(dir.lake_keys(), Vec::<String>::new());
}

#[test]
fn latin1_is_detected_and_a_wrong_forced_encoding_names_line_and_column() {
    let dir = Dir::new();
    let csv = dir.write("latin1.csv", b"name,city\nx,Caf\xe9\n");
    ok(dir.etl().args(["upload-csv", csv.to_str().unwrap(), "--dataset-id", "latin"]));
    let df = read_parquet(&dir.lake("datasets/latin/data/part-0000.parquet"));
    assert_eq!(strings(&df, "city"), [Some("Café".into())]);
    let r = run(dir.etl().args([
        "upload-csv",
        csv.to_str().unwrap(),
        "--dataset-id",
        "latin",
        "--encoding",
        "utf-8",
    ]));
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stderr.contains("latin1.csv:2: column `city`: bytes that are not valid UTF-8"), "{r:?}");
}

#[test]
fn a_partition_column_that_is_missing_or_not_temporal_is_a_clear_error() {
    let dir = Dir::new();
    let csv = dir.write("events.csv", EVENTS_CSV);
    let r = run(dir.etl().args([
        "upload-csv",
        csv.to_str().unwrap(),
        "--dataset-id",
        "e",
        "--partition-col",
        "when",
    ]));
    assert_eq!(r.code, 2, "a column the file does not have is bad usage: {r:?}");
    assert!(
        r.stderr.contains("partition column `when`: no such column; the columns are: event, at, value"),
        "{r:?}"
    );
    let r = run(dir.etl().args([
        "upload-csv",
        csv.to_str().unwrap(),
        "--dataset-id",
        "e",
        "--partition-col",
        "event",
    ]));
    // No value of it names a day: a usage error saying what the option takes (issue 29).
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("partition column `event` is not a date or timestamp column"), "{r:?}");
    assert_eq!(dir.lake_keys(), Vec::<String>::new());
}

#[test]
fn a_partition_column_mixing_dates_and_timestamps_is_split_by_the_day_each_names() {
    let dir = Dir::new();
    let csv =
        dir.write("mixed.csv", "at,v\n2026-11-01,1\n2026-11-01T23:30:00-02:00,2\n2026-11-02 08:00,3\n,4\n");
    let r = ok(dir.etl().args([
        "upload-csv",
        csv.to_str().unwrap(),
        "--dataset-id",
        "m",
        "--partition-col",
        "at",
    ]));
    assert!(r.stderr.contains("4 rows written"), "{r:?}");
    let day = |d: &str| read_parquet(&dir.lake(&format!("datasets/m/partitions/date={d}/part-0000.parquet")));
    // The offset timestamp is 01:30 UTC on the 2nd; the column keeps every value as written.
    assert_eq!(strings(&day("2026-11-01"), "at"), [Some("2026-11-01".to_owned())]);
    assert_eq!(
        strings(&day("2026-11-02"), "at"),
        [Some("2026-11-01T23:30:00-02:00".to_owned()), Some("2026-11-02 08:00".to_owned())]
    );
    assert!(
        dir.lake_keys().iter().any(|k| k.contains("date=__HIVE_DEFAULT_PARTITION__")),
        "{:?}",
        dir.lake_keys()
    );
}

#[test]
fn bad_dataset_ids_are_usage_errors() {
    let dir = Dir::new();
    let csv = dir.write("events.csv", EVENTS_CSV);
    for id in ["", "../x", "a/b", "a b"] {
        let r = run(dir.etl().args(["upload-csv", csv.to_str().unwrap(), "--dataset-id", id]));
        assert_eq!(r.code, 2, "{id:?}: {r:?}");
        assert!(r.stderr.contains("invalid dataset id"), "{r:?}");
    }
    let r = run(dir.etl().args(["upload-csv", "missing.csv", "--dataset-id", "x"]));
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("`missing.csv` does not exist"), "{r:?}");
}

#[test]
fn header_only_and_empty_files() {
    let dir = Dir::new();
    let csv = dir.write("header.csv", "a,b\n");
    ok(dir.etl().args(["upload-csv", csv.to_str().unwrap(), "--dataset-id", "h"]));
    let df = read_parquet(&dir.lake("datasets/h/data/part-0000.parquet"));
    assert_eq!((df.height(), df.get_column_names().len()), (0, 2));

    let csv = dir.write("empty.csv", "");
    let r = run(dir.etl().args(["upload-csv", csv.to_str().unwrap(), "--dataset-id", "empty"]));
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stderr.contains("the file is empty"), "{r:?}");
}

#[test]
fn the_target_comes_from_the_env_or_dotenv() {
    let dir = Dir::new();
    let csv = dir.write("events.csv", EVENTS_CSV);
    dir.write(".env", "ETL_TARGET=./elsewhere\n");
    ok(dir.etl().args(["upload-csv", csv.to_str().unwrap(), "--dataset-id", "e"]));
    assert!(dir.path().join("elsewhere/datasets/e/data/part-0000.parquet").exists());
    ok(dir.etl().env("ETL_TARGET", "./third").args([
        "upload-csv",
        csv.to_str().unwrap(),
        "--dataset-id",
        "e",
    ]));
    assert!(dir.path().join("third/datasets/e/data/part-0000.parquet").exists());
    assert!(!dir.path().join("lake").exists());
}

/// `id,user,day`: `rows` rows, users in a scrambled order, ids rising (ties in `user` keep them so).
fn scrambled(dir: &Dir, name: &str, rows: u32) {
    let mut text = String::from("id,user,day\n");
    for id in 0..rows {
        let user = (id * 7919) % 1000;
        text += &format!("{id},u{user:04},2026-11-0{}\n", 1 + id % 2);
    }
    dir.write(name, text);
}

/// Per row group, the data pages of `column`: their encoding, whether they are compressed, and
/// their values.
fn pages(path: &std::path::Path, column: &str) -> Vec<Vec<(String, bool, usize)>> {
    use polars_parquet::parquet::page::CompressedPage;
    use polars_parquet::parquet::read::PageReader;
    use polars_parquet::write::Encoding;
    let bytes = std::fs::read(path).unwrap();
    let metadata = polars_parquet::read::read_metadata(&mut std::io::Cursor::new(&bytes)).unwrap();
    let buffer = polars_buffer::Buffer::from(bytes);
    metadata
        .row_groups
        .iter()
        .map(|group| {
            let chunk = group
                .parquet_columns()
                .iter()
                .find(|c| c.descriptor().path_in_schema[0].as_str() == column)
                .unwrap();
            let mut cursor = std::io::Cursor::new(buffer.clone());
            cursor.set_position(chunk.byte_range().start);
            PageReader::new(cursor, chunk, vec![], usize::MAX)
                .filter_map(|page| match page.unwrap() {
                    CompressedPage::Data(page) => Some((
                        format!("{:?}", Encoding::try_from(page.header().encoding()).unwrap()),
                        page.compression() != polars_parquet::parquet::compression::Compression::Uncompressed,
                        page.num_values(),
                    )),
                    CompressedPage::Dict(_) => None,
                })
                .collect()
        })
        .collect()
}

/// The rows of a staged or published file, as (user, id) pairs in file order.
fn users_and_ids(path: &std::path::Path) -> Vec<(String, i64)> {
    let df = read_parquet(path);
    strings(&df, "user")
        .into_iter()
        .map(Option::unwrap)
        .zip(i64s(&df, "id").into_iter().map(Option::unwrap))
        .collect()
}

#[test]
fn sort_by_writes_each_file_sorted_and_the_dataset_keeps_it() {
    let dir = Dir::new();
    // 300,000 rows in one file: three row groups, sorted each, then the file rewritten whole.
    scrambled(&dir, "big.csv", 300_000);
    let r = ok(dir.etl().args(["upload-csv", "big.csv", "--dataset-id", "d", "--sort-by", "user"]));
    assert!(r.stderr.contains("300,000 rows written"), "{r:?}");
    let rows = users_and_ids(&dir.lake("datasets/d/data/part-0000.parquet"));
    assert_eq!(rows.len(), 300_000);
    assert!(rows.windows(2).all(|w| w[0] <= w[1]), "sorted by user, ties in the order they came");
    let manifest = std::fs::read_to_string(dir.lake("datasets/d/_manifest.json")).unwrap();
    assert!(manifest.contains("\"sort_by\": [\n    \"user\"\n  ]"), "{manifest}");
    // Columns other than dictionaries in pages of 2,048 rows (readers skip pages by the page
    // index); integers of many values as deltas; a text column of few values, one page a group.
    let path = dir.lake("datasets/d/data/part-0000.parquet");
    let ids = pages(&path, "id");
    let counts: Vec<Vec<usize>> = ids.iter().map(|g| g.iter().map(|p| p.2).collect()).collect();
    assert_eq!(counts, [vec![2_048; 60], vec![2_048; 60], [vec![2_048; 26], vec![992]].concat()]);
    assert!(ids.iter().flatten().all(|p| p.0 == "DeltaBinaryPacked"), "{ids:?}");
    let users = pages(&path, "user");
    assert_eq!(users.iter().map(Vec::len).collect::<Vec<_>>(), [1, 1, 1], "{users:?}");
    assert!(users.iter().flatten().all(|p| p.0 == "RleDictionary" && p.1), "{users:?}");

    // The same input, the same bytes.
    let again = Dir::new();
    scrambled(&again, "big.csv", 300_000);
    ok(again.etl().args(["upload-csv", "big.csv", "--dataset-id", "d", "--sort-by", "user"]));
    let bytes = |d: &Dir| std::fs::read(d.lake("datasets/d/data/part-0000.parquet")).unwrap();
    assert!(bytes(&dir) == bytes(&again), "byte-identical for the same input and options");

    // Partitioned, two columns; a run that leaves --sort-by out keeps the dataset's, and says so.
    scrambled(&dir, "small.csv", 2_000);
    ok(dir.etl().args([
        "upload-csv",
        "small.csv",
        "--dataset-id",
        "p",
        "--partition-col",
        "day",
        "--sort-by",
        "user,id",
    ]));
    scrambled(&dir, "small.csv", 3_000);
    let r = ok(dir.etl().args(["upload-csv", "small.csv", "--dataset-id", "p"]));
    assert!(r.stderr.contains("rows sorted by user, id in each file, as p is (--sort-by left out)"), "{r:?}");
    for day in ["2026-11-01", "2026-11-02"] {
        let rows = users_and_ids(&dir.lake(&format!("datasets/p/partitions/date={day}/part-0000.parquet")));
        assert_eq!(rows.len(), 1_500);
        assert!(rows.windows(2).all(|w| w[0] <= w[1]), "{day}");
    }

    // A column that is not there: a usage error with the nearest name, nothing written.
    let r = run(dir.etl().args(["upload-csv", "small.csv", "--dataset-id", "q", "--sort-by", "usr"]));
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("--sort-by column `usr`: no such column (did you mean `user`?)"), "{r:?}");

    // A job file's `sort_by:`.
    dir.write(
        "jobs.yaml",
        "jobs:\n  - name: sorted\n    dataset_id: j\n    sort_by: user\n    source: {kind: csv, path: small.csv}\n",
    );
    ok(dir.etl().args(["run", "jobs.yaml", "--job", "sorted"]));
    let rows = users_and_ids(&dir.lake("datasets/j/data/part-0000.parquet"));
    assert!(rows.windows(2).all(|w| w[0].0 <= w[1].0), "the job's file is sorted by user");
}

/// Each row group's rows and whether each column has a dictionary page, by column name.
fn row_groups(path: &std::path::Path) -> Vec<(usize, Vec<(String, bool)>)> {
    let mut file = std::fs::File::open(path).unwrap();
    let metadata = polars_parquet::read::read_metadata(&mut file).unwrap();
    metadata
        .row_groups
        .iter()
        .map(|group| {
            let columns = group
                .parquet_columns()
                .iter()
                .map(|c| (c.descriptor().path_in_schema[0].to_string(), c.dictionary_page_offset().is_some()))
                .collect();
            (group.num_rows(), columns)
        })
        .collect()
}

#[test]
fn row_group_size_cuts_files_by_their_data_and_floats_with_few_values_are_a_dictionary() {
    let dir = Dir::new();
    // An id (all distinct), a price of 50 values, a measure with a value of its own in every row.
    let mut text = String::from("id,price,measure\n");
    for id in 0..20_000u32 {
        text += &format!("{id},{}.{:02},{:.6}\n", id % 5, (id * 7) % 50, f64::from(id) / 7.0);
    }
    dir.write("prices.csv", text);
    let load = |d: &Dir| {
        ok(d.etl().args(["upload-csv", "prices.csv", "--dataset-id", "p", "--row-group-size", "64KiB"]))
    };
    load(&dir);
    let path = dir.lake("datasets/p/data/part-0000.parquet");
    let groups = row_groups(&path);
    // Three 8-byte columns: 64 KiB holds 2,730 rows of them (with four bytes a value more for text).
    assert_eq!(groups.iter().map(|g| g.0).collect::<Vec<_>>(), [vec![2_730; 7], vec![890]].concat());
    let dictionary = |name: &str| groups.iter().all(|g| g.1.iter().any(|(n, d)| n == name && *d));
    let plain = |name: &str| groups.iter().all(|g| g.1.iter().any(|(n, d)| n == name && !*d));
    assert!(dictionary("price"), "a float of 50 values is dictionary-encoded: {groups:?}");
    assert!(plain("measure"), "a float of all-distinct values is written plain: {groups:?}");
    assert!(plain("id"), "{groups:?}");
    // Counting integers: deltas (all 1: no bits a value), one page a group, not compressed.
    let ids = pages(&path, "id");
    assert!(ids.iter().all(|g| g.len() == 1), "unsorted: one page a row group: {ids:?}");
    assert!(ids.iter().flatten().all(|p| p.0 == "DeltaBinaryPacked" && !p.1), "{ids:?}");
    let df = read_parquet(&path);
    assert_eq!(df.height(), 20_000);
    let prices = df.column("price").unwrap().f64().unwrap();
    assert_eq!(prices.get(13), Some(3.41), "13 % 5 = 3, 13 * 7 % 50 = 41: {df:?}");

    // The manifest remembers it: a run that leaves it out cuts the same groups, and says so.
    let r = ok(dir.etl().args(["upload-csv", "prices.csv", "--dataset-id", "p"]));
    assert!(
        r.stderr.contains("row groups of at most 64 KiB of data, as p has them (--row-group-size left out)"),
        "{r:?}"
    );
    assert_eq!(row_groups(&path).len(), 8);

    // The same input and options, the same bytes; left out, row groups of up to 122,880 rows.
    let again = Dir::new();
    again.write("prices.csv", std::fs::read(dir.path().join("prices.csv")).unwrap());
    load(&again);
    let bytes = |d: &Dir| std::fs::read(d.lake("datasets/p/data/part-0000.parquet")).unwrap();
    assert!(bytes(&dir) == bytes(&again));
    ok(again.etl().args(["upload-csv", "prices.csv", "--dataset-id", "q"]));
    assert_eq!(row_groups(&again.lake("datasets/q/data/part-0000.parquet")).len(), 1);

    // A size that is not one: a usage error that says what a size is.
    let r = run(dir.etl().args([
        "upload-csv",
        "prices.csv",
        "--dataset-id",
        "p",
        "--row-group-size",
        "12 parsecs",
    ]));
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("`12 parsecs` is not a size"), "{r:?}");
    // A size without its unit (1 meant as 1 MiB): refused, not a row group of every row.
    let r = run(dir.etl().args(["upload-csv", "prices.csv", "--dataset-id", "p", "--row-group-size", "1"]));
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("1 bytes is too small: give at least 16 KiB"), "{r:?}");
}
