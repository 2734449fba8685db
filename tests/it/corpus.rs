//! The reading and typing rules, one small file each (made here), loaded with `upload-csv` and read
//! back from Parquet: the schema and every value. Bad inputs give their documented error and write
//! nothing.

use polars::prelude::*;

use crate::util::*;

/// A column expected in the output: its name, its type, its values as text (`None`: null).
type Expected<'a> = (&'a str, DataType, &'a [Option<&'a str>]);

fn utc_dt() -> DataType {
    DataType::Datetime(TimeUnit::Microseconds, Some(TimeZone::UTC))
}

fn naive_dt() -> DataType {
    DataType::Datetime(TimeUnit::Microseconds, None)
}

fn decimal() -> DataType {
    DataType::Decimal(38, 0)
}

/// A column's values as text, the way polars prints them.
fn texts(df: &DataFrame, column: &str) -> Vec<Option<String>> {
    let c =
        df.column(column).unwrap_or_else(|_| panic!("no column `{column}` in {:?}", df.get_column_names()));
    let s = c.cast(&DataType::String).unwrap();
    s.str().unwrap().iter().map(|v| v.map(str::to_owned)).collect()
}

/// Loads `bytes` as `file` with `args`; returns the run and the unpartitioned output.
fn load(file: &str, bytes: &[u8], args: &[&str]) -> (Run, Option<DataFrame>, Dir) {
    let dir = Dir::new();
    let path = dir.write(file, bytes);
    let r = run(dir.etl().args(["upload-csv", path.to_str().unwrap(), "--dataset-id", "c"]).args(args));
    let key = "datasets/c/data/part-0000.parquet";
    let df = (r.code == 0).then(|| read_parquet(&dir.lake(key)));
    (r, df, dir)
}

/// Loads and checks the schema (exactly these columns, in order) and every value.
fn expect(file: &str, bytes: &[u8], args: &[&str], columns: &[Expected]) -> Run {
    let (r, df, _dir) = load(file, bytes, args);
    assert_eq!(r.code, 0, "{file}: {r:?}");
    let df = df.unwrap();
    let names: Vec<&str> = df.get_column_names().iter().map(|n| n.as_str()).collect();
    let wanted: Vec<&str> = columns.iter().map(|c| c.0).collect();
    assert_eq!(names, wanted, "{file}: columns");
    for (name, dtype, values) in columns {
        assert_eq!(&dtype_of(&df, name), dtype, "{file}: type of `{name}`");
        let want: Vec<Option<String>> = values.iter().map(|v| v.map(str::to_owned)).collect();
        assert_eq!(texts(&df, name), want, "{file}: values of `{name}`");
    }
    r
}

fn dtype_of(df: &DataFrame, column: &str) -> DataType {
    df.column(column).unwrap().dtype().clone()
}

/// Loads and expects failure with `code`, messages containing each of `needles`, and no dataset.
fn expect_error(file: &str, bytes: &[u8], args: &[&str], code: i32, needles: &[&str]) -> Run {
    let (r, _, dir) = load(file, bytes, args);
    assert_eq!(r.code, code, "{file}: {r:?}");
    for needle in needles {
        assert!(r.stderr.contains(needle), "{file}: {needle:?} missing from {r:?}");
    }
    assert!(
        !dir.lake_keys().iter().any(|k| k.starts_with("datasets/")),
        "{file}: something was written: {:?}",
        dir.lake_keys()
    );
    r
}

fn encode(encoding: &'static encoding_rs::Encoding, text: &str) -> Vec<u8> {
    encoding.encode(text).0.into_owned()
}

fn utf16(text: &str, big_endian: bool) -> Vec<u8> {
    let mut out = if big_endian { vec![0xFE, 0xFF] } else { vec![0xFF, 0xFE] };
    for unit in text.encode_utf16() {
        out.extend(if big_endian { unit.to_be_bytes() } else { unit.to_le_bytes() });
    }
    out
}

const CITIES: &[Option<&str>] = &[Some("東京都"), Some("大阪府")];

/// Enough Japanese text for a detector to be sure (a real export has many rows).
fn japanese() -> String {
    let mut text = "都市,人口,備考\n".to_owned();
    for _ in 0..30 {
        text += "東京都,1400,首都です\n大阪府,880,食い倒れの街\n";
    }
    text
}

// ---- Encodings ----

#[test]
fn e01_utf8() {
    expect(
        "utf8.csv",
        "city,n\n東京都,1\n大阪府,2\n".as_bytes(),
        &[],
        &[("city", DataType::String, CITIES), ("n", DataType::Int64, &[Some("1"), Some("2")])],
    );
}

#[test]
fn e02_utf8_with_bom_and_crlf() {
    expect(
        "bom.csv",
        "\u{feff}city,n\r\n東京都,1\r\n大阪府,2\r\n".as_bytes(),
        &[],
        &[("city", DataType::String, CITIES), ("n", DataType::Int64, &[Some("1"), Some("2")])],
    );
}

#[test]
fn e03_utf16_le_and_be_with_bom() {
    for big_endian in [false, true] {
        expect(
            "utf16.csv",
            &utf16("city,n\r\n東京都,1\r\n大阪府,2\r\n", big_endian),
            &[],
            &[("city", DataType::String, CITIES), ("n", DataType::Int64, &[Some("1"), Some("2")])],
        );
    }
}

#[test]
fn e04_windows_1252() {
    let bytes = encode(encoding_rs::WINDOWS_1252, "name,price\nCafé,3 €\nCrème brûlée,5 €\n");
    expect(
        "cp1252.csv",
        &bytes,
        &[],
        &[
            ("name", DataType::String, &[Some("Café"), Some("Crème brûlée")]),
            ("price", DataType::String, &[Some("3 €"), Some("5 €")]),
        ],
    );
}

#[test]
fn e05_shift_jis_and_euc_jp() {
    for encoding in [encoding_rs::SHIFT_JIS, encoding_rs::EUC_JP] {
        let (r, df, _dir) = load("jp.csv", &encode(encoding, &japanese()), &["-v"]);
        assert_eq!(r.code, 0, "{r:?}");
        assert!(r.stderr.contains(&format!("{} (detected)", encoding.name())), "{r:?}");
        let df = df.unwrap();
        assert_eq!(texts(&df, "都市")[..2], [Some("東京都".to_owned()), Some("大阪府".to_owned())]);
        assert_eq!(texts(&df, "備考")[1], Some("食い倒れの街".to_owned()));
        assert_eq!(dtype_of(&df, "人口"), DataType::Int64);
    }
}

#[test]
fn e06_encoding_given() {
    // Too little text to detect: the flag decides.
    expect(
        "short.csv",
        &encode(encoding_rs::SHIFT_JIS, "city\n東京\n"),
        &["--encoding", "cp932"],
        &[("city", DataType::String, &[Some("東京")])],
    );
}

#[test]
fn e07_binary_is_refused() {
    let mut bytes = b"PK\x03\x04\x14\x00\x06\x00".to_vec();
    bytes.extend(std::iter::repeat_n(0u8, 64));
    expect_error("report.xlsx", &bytes, &[], 1, &["binary file"]);
}

#[test]
fn e08_bytes_the_encoding_does_not_define() {
    // Shift_JIS text with a lead byte cut short on line 3.
    let mut bytes = encode(encoding_rs::SHIFT_JIS, "city\n東京\n");
    bytes.extend(b"\x82\n");
    expect_error("cut.csv", &bytes, &["--encoding", "shift_jis"], 1, &["cut.csv:3:", "not valid Shift_JIS"]);
}

// ---- Compression ----

#[test]
fn c01_gzip_and_zstd_streams() {
    use std::io::Write;
    let text = "id,at\n1,2026-01-02\n2,2026-01-03\n";
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(text.as_bytes()).unwrap();
    let zst = zstd::encode_all(text.as_bytes(), 3).unwrap();
    for (file, bytes) in [("in.csv.gz", gz.finish().unwrap()), ("in.csv.zst", zst)] {
        expect(
            file,
            &bytes,
            &[],
            &[
                ("id", DataType::Int64, &[Some("1"), Some("2")]),
                ("at", DataType::Date, &[Some("2026-01-02"), Some("2026-01-03")]),
            ],
        );
    }
}

// ---- Dialects ----

#[test]
fn d01_semicolons_with_decimal_commas() {
    expect(
        "eu.csv",
        b"name;amount\nA;1,5\nB;2,25\n",
        &[],
        &[
            ("name", DataType::String, &[Some("A"), Some("B")]),
            // In a `;` file, a column whose every value reads with a decimal comma is a number.
            ("amount", DataType::Float64, &[Some("1.5"), Some("2.25")]),
        ],
    );
}

#[test]
fn d02_tabs_and_pipes() {
    for (file, bytes) in [("t.tsv", &b"a\tb\n1\tx y\n"[..]), ("p.txt", &b"a|b\n1|x y\n"[..])] {
        expect(
            file,
            bytes,
            &[],
            &[("a", DataType::Int64, &[Some("1")]), ("b", DataType::String, &[Some("x y")])],
        );
    }
}

#[test]
fn d03_rfc4180_quoting() {
    expect(
        "q.csv",
        b"a,b\n\"x, y\",\"say \"\"hi\"\"\"\n\"multi\nline\",2\n",
        &[],
        &[
            ("a", DataType::String, &[Some("x, y"), Some("multi\nline")]),
            ("b", DataType::String, &[Some("say \"hi\""), Some("2")]),
        ],
    );
}

#[test]
fn d04_delimiter_given() {
    // Sniffing would pick `;` (three agreeing fields); the flag says `,`.
    expect(
        "forced.csv",
        b"a;b;c,d\n1;2;3,4\n",
        &["--delimiter", ","],
        &[("a;b;c", DataType::String, &[Some("1;2;3")]), ("d", DataType::Int64, &[Some("4")])],
    );
}

#[test]
fn d05_bare_cr_line_ends() {
    // Classic Mac line ends (issue 14): records, not one long header.
    expect(
        "mac.csv",
        b"a, b\r1, 2\r3, 4\r",
        &[],
        &[
            ("a", DataType::Int64, &[Some("1"), Some("3")]),
            // Every comma is followed by a space: the delimiter is `, `.
            ("b", DataType::Int64, &[Some("2"), Some("4")]),
        ],
    );
    // Line numbers count bare CRs, in Windows-1252 text too.
    expect_error("mac-bad.csv", b"a,b\r1,2\r3,4,5\r6,7\r", &[], 1, &["mac-bad.csv:3:"]);
    expect(
        "mac-1252.csv",
        b"city,n\rS\xe3o Paulo,1\rMontr\xe9al,2\r",
        &[],
        &[
            ("city", DataType::String, &[Some("São Paulo"), Some("Montréal")]),
            ("n", DataType::Int64, &[Some("1"), Some("2")]),
        ],
    );
}

#[test]
fn d06_line_ends_mixed_within_the_rules() {
    // `\n` and `\r\n` read the same, with the same line numbers.
    for (name, bytes) in [("lf.csv", &b"a,b\n1,x\n2,y\n"[..]), ("crlf.csv", &b"a,b\r\n1,x\r\n2,y\r\n"[..])] {
        expect(
            name,
            bytes,
            &[],
            &[
                ("a", DataType::Int64, &[Some("1"), Some("2")]),
                ("b", DataType::String, &[Some("x"), Some("y")]),
            ],
        );
    }
    expect_error("crlf-bad.csv", b"a,b\r\n1,2\r\n3,4,5\r\n", &[], 1, &["crlf-bad.csv:3:"]);
}

// ---- Headers ----

#[test]
fn h01_names_trimmed_empty_named_duplicates_numbered() {
    let r = expect(
        "h.csv",
        b" id ,,id,id\n1,2,3,4\n",
        &[],
        &[
            ("id", DataType::Int64, &[Some("1")]),
            ("column_2", DataType::Int64, &[Some("2")]),
            ("id_2", DataType::Int64, &[Some("3")]),
            ("id_3", DataType::Int64, &[Some("4")]),
        ],
    );
    assert!(r.stderr.contains("column `id` appears more than once"), "{r:?}");
}

#[test]
fn h02_no_header() {
    expect(
        "nh.csv",
        b"1,x\n2,y\n",
        &["--no-header"],
        &[
            ("column_1", DataType::Int64, &[Some("1"), Some("2")]),
            ("column_2", DataType::String, &[Some("x"), Some("y")]),
        ],
    );
}

#[test]
fn h03_empty_file_is_an_error() {
    expect_error("empty.csv", b"", &[], 1, &["empty.csv:1: the file is empty"]);
}

#[test]
fn h04_header_only_is_an_empty_dataset_with_a_warning() {
    let r = expect("ho.csv", b"a,b\n", &[], &[("a", DataType::String, &[]), ("b", DataType::String, &[])]);
    assert!(r.stderr.contains("no rows, only a header"), "{r:?}");
}

#[test]
fn h05_normalized_names() {
    expect(
        "n.csv",
        b"Input (w/ Cache Write),userId,Cost ($)\n1,2,3\n",
        &["--normalize-columns"],
        &[
            ("input_w_cache_write", DataType::Int64, &[Some("1")]),
            ("user_id", DataType::Int64, &[Some("2")]),
            ("cost", DataType::Int64, &[Some("3")]),
        ],
    );
}

// ---- Bad rows ----

const RAGGED: &[u8] = b"a,b\n1,2\n3,4,5\n6,7\n";

#[test]
fn b01_a_wrong_field_count_fails_with_line_and_snippet() {
    expect_error(
        "ragged.csv",
        RAGGED,
        &[],
        1,
        &["ragged.csv:3: expected 2 fields", "(the row: 3,4,5)", "--on-bad-rows"],
    );
}

#[test]
fn b02_skipped_rows_are_counted() {
    let r = expect(
        "ragged.csv",
        RAGGED,
        &["--on-bad-rows", "skip"],
        &[("a", DataType::Int64, &[Some("1"), Some("6")]), ("b", DataType::Int64, &[Some("2"), Some("7")])],
    );
    assert!(
        r.stderr.contains("3 rows read, 2 rows written") && r.stderr.contains("1 bad row skipped"),
        "{r:?}"
    );
}

#[test]
fn b03_quarantined_rows_are_kept_verbatim() {
    let dir = Dir::new();
    let path = dir.write("ragged.csv", b"a,b\r\n1,2\r\n3,\"4\r\nfour\",5\r\n6,7\r\n");
    let r = ok(dir.etl().args([
        "upload-csv",
        path.to_str().unwrap(),
        "--dataset-id",
        "c",
        "--on-bad-rows",
        "quarantine",
    ]));
    let rejects: Vec<String> = dir.lake_keys().into_iter().filter(|k| k.contains("/_rejects/")).collect();
    assert_eq!(rejects.len(), 1, "{:?}", dir.lake_keys());
    assert!(rejects[0].starts_with("datasets/c/_rejects/") && rejects[0].ends_with(".csv"));
    assert_eq!(std::fs::read(dir.lake(&rejects[0])).unwrap(), b"a,b\n3,\"4\r\nfour\",5\n");
    assert!(r.stderr.contains("1 bad row quarantined in"), "{r:?}");
    let df = read_parquet(&dir.lake("datasets/c/data/part-0000.parquet"));
    assert_eq!(texts(&df, "a"), [Some("1".to_owned()), Some("6".to_owned())]);
}

#[test]
fn b04_an_unclosed_quote_fails() {
    expect_error("open.csv", b"a,b\n1,2\n3,\"four\n5,6\n", &[], 1, &["open.csv:3:", "never closed"]);
}

#[test]
fn b05_a_value_that_does_not_fit_its_pinned_type_is_a_bad_row() {
    let bytes = b"id,n\n1,10\n2,ten\n3,30\n";
    expect_error("pinned.csv", bytes, &["--types", "n=int64"], 1, &["pinned.csv:3: column `n`", "\"ten\""]);
    let dir = Dir::new();
    let path = dir.write("pinned.csv", bytes);
    ok(dir.etl().args([
        "upload-csv",
        path.to_str().unwrap(),
        "--dataset-id",
        "c",
        "--types",
        "n=int64",
        "--on-bad-rows",
        "quarantine",
    ]));
    let df = read_parquet(&dir.lake("datasets/c/data/part-0000.parquet"));
    assert_eq!(i64s(&df, "n"), [Some(10), Some(30)]);
    let rejects: Vec<String> = dir.lake_keys().into_iter().filter(|k| k.contains("/_rejects/")).collect();
    assert_eq!(std::fs::read_to_string(dir.lake(&rejects[0])).unwrap(), "id,n\n2,ten\n");
}

// ---- Types ----

#[test]
fn t01_null_tokens() {
    let bytes = b"a,b\n1,NULL\nNA,x\nN/A,null\n,y\n";
    expect(
        "nulls.csv",
        bytes,
        &[],
        &[
            ("a", DataType::Int64, &[Some("1"), None, None, None]),
            // A text column keeps them as the text they are (issue 14): only typed columns, where
            // they cannot be values, take them as null, and the summary counts them.
            ("b", DataType::String, &[Some("NULL"), Some("x"), Some("null"), Some("y")]),
        ],
    );
    // Named by the user, they are null in text columns too.
    expect(
        "nulls.csv",
        bytes,
        &["--null-values", "NULL,null"],
        &[
            ("a", DataType::String, &[Some("1"), Some("NA"), Some("N/A"), None]),
            ("b", DataType::String, &[None, Some("x"), None, Some("y")]),
        ],
    );
    // Configurable: with none, `NA` is a value (a country code, say).
    expect(
        "nulls.csv",
        bytes,
        &["--null-values", ""],
        &[
            ("a", DataType::String, &[Some("1"), Some("NA"), Some("N/A"), None]),
            ("b", DataType::String, &[Some("NULL"), Some("x"), Some("null"), Some("y")]),
        ],
    );
}

#[test]
fn t02_integers_signs_and_identifiers() {
    expect(
        "ints.csv",
        b"n,zip\n+3,007\n-42,02134\n9223372036854775807,10115\n",
        &[],
        &[
            ("n", DataType::Int64, &[Some("3"), Some("-42"), Some("9223372036854775807")]),
            ("zip", DataType::String, &[Some("007"), Some("02134"), Some("10115")]),
        ],
    );
}

#[test]
fn t03_integers_past_64_bits_are_decimals_never_rounded() {
    expect(
        "big.csv",
        b"big,huge\n9223372036854775808,123456789012345678901234567890123456789\n-1,1\n",
        &[],
        &[
            ("big", decimal(), &[Some("9223372036854775808"), Some("-1")]),
            ("huge", DataType::String, &[Some("123456789012345678901234567890123456789"), Some("1")]),
        ],
    );
}

#[test]
fn t04_floats() {
    expect(
        "floats.csv",
        b"x\n1.5\n-0.25\n1e3\n2.5E-2\n7\n-0\n",
        &[],
        &[(
            "x",
            DataType::Float64,
            // `-0` in a column of floats is negative zero, as written.
            &[Some("1.5"), Some("-0.25"), Some("1000.0"), Some("0.025"), Some("7.0"), Some("-0.0")],
        )],
    );
}

#[test]
fn t05_booleans_but_not_zero_one() {
    expect(
        "bools.csv",
        b"b,flag\nTRUE,0\nfalse,1\nTrue,1\n",
        &[],
        &[
            ("b", DataType::Boolean, &[Some("true"), Some("false"), Some("true")]),
            ("flag", DataType::Int64, &[Some("0"), Some("1"), Some("1")]),
        ],
    );
}

#[test]
fn t06_every_date_format() {
    let bytes = "iso,slash,jp,us,eu,dot\n\
                 2026-03-04,2026/03/04,2026年3月4日,03/04/2026,13/04/2026,4.3.2026\n\
                 2026-3-5,2026/3/5,2026年03月05日,12/31/2026,01/12/2026,31.12.2026\n";
    expect(
        "dates.csv",
        bytes.as_bytes(),
        &[],
        &[
            ("iso", DataType::Date, &[Some("2026-03-04"), Some("2026-03-05")]),
            ("slash", DataType::Date, &[Some("2026-03-04"), Some("2026-03-05")]),
            ("jp", DataType::Date, &[Some("2026-03-04"), Some("2026-03-05")]),
            ("us", DataType::Date, &[Some("2026-03-04"), Some("2026-12-31")]),
            ("eu", DataType::Date, &[Some("2026-04-13"), Some("2026-12-01")]),
            ("dot", DataType::Date, &[Some("2026-03-04"), Some("2026-12-31")]),
        ],
    );
}

#[test]
fn t07_ambiguous_slash_dates_are_month_first_with_a_warning_unless_told() {
    let bytes = b"d\n01/02/2026\n03/04/2026\n";
    let r =
        expect("amb.csv", bytes, &[], &[("d", DataType::Date, &[Some("2026-01-02"), Some("2026-03-04")])]);
    assert!(r.stderr.contains("column `d`: every date reads both as month/day and as day/month"), "{r:?}");
    let r = expect(
        "amb.csv",
        bytes,
        &["--date-format", "d=%d/%m/%Y"],
        &[("d", DataType::Date, &[Some("2026-02-01"), Some("2026-04-03")])],
    );
    assert!(!r.stderr.contains("month/day"), "{r:?}");
}

#[test]
fn t08_timestamps_with_offsets_are_utc() {
    let bytes = b"at\n2026-01-02T03:04:05Z\n2026-01-02 05:04:05.123456789+02:00\n2026-01-01T22:04:05-05:00\n";
    expect(
        "utc.csv",
        bytes,
        &[],
        &[(
            "at",
            utc_dt(),
            &[
                Some("2026-01-02 03:04:05.000000+00:00"),
                Some("2026-01-02 03:04:05.123456+00:00"),
                Some("2026-01-02 03:04:05.000000+00:00"),
            ],
        )],
    );
}

#[test]
fn t09_timestamps_without_offsets_are_naive() {
    expect(
        "naive.csv",
        b"at\n2026-01-02T03:04:05\n2026-01-02 03:04\n",
        &[],
        &[("at", naive_dt(), &[Some("2026-01-02 03:04:05.000000"), Some("2026-01-02 03:04:00.000000")])],
    );
}

#[test]
fn t10_excel_timestamps() {
    expect(
        "excel.csv",
        b"at,pm\n1/2/2026 3:04,1/2/2026 3:04 PM\n12/31/2026 23:59,1/13/2026 12:01 AM\n",
        &[],
        &[
            ("at", naive_dt(), &[Some("2026-01-02 03:04:00.000000"), Some("2026-12-31 23:59:00.000000")]),
            ("pm", naive_dt(), &[Some("2026-01-02 15:04:00.000000"), Some("2026-01-13 00:01:00.000000")]),
        ],
    );
}

#[test]
fn t11_disagreeing_values_make_text_and_v_says_why() {
    let r = expect(
        "mixed.csv",
        b"d\n2026-01-02\nsoon\n",
        &["-v"],
        &[("d", DataType::String, &[Some("2026-01-02"), Some("soon")])],
    );
    assert!(r.stderr.contains("column `d` is String: line 3 has \"soon\""), "{r:?}");
}

#[test]
fn t12_types_pinned() {
    expect(
        "pins.csv",
        b"zip,amount,when,ok\n10115,\"$1,200.50\",2026-01-02T03:04:05,Yes\n",
        &["--types", "zip=string,amount=money,when=datetime_utc", "--types", "ok=yes_no"],
        &[
            ("zip", DataType::String, &[Some("10115")]),
            ("amount", DataType::Float64, &[Some("1200.5")]),
            ("when", utc_dt(), &[Some("2026-01-02 03:04:05.000000+00:00")]),
            ("ok", DataType::Boolean, &[Some("true")]),
        ],
    );
    expect_error("pins.csv", b"a\n1\n", &["--types", "a=wat"], 2, &["--types", "unknown type `wat`"]);
}

// ---- Review additions: large files, stray bytes, verbatim quarantine ----

/// More than 2 MiB of Japanese text: detection samples chunks from all over the file.
fn big_japanese() -> String {
    let mut text = "都市,人口,備考\n".to_owned();
    let mut i = 0u64;
    while text.len() < 3 << 20 {
        text += &format!("東京都{i},{},首都の{i}番目の記録です\n", 1400 + i % 7);
        i += 1;
    }
    text
}

#[test]
fn e09_large_shift_jis_and_euc_jp() {
    let text = big_japanese();
    for encoding in [encoding_rs::SHIFT_JIS, encoding_rs::EUC_JP] {
        let (r, df, _dir) = load("big.csv", &encode(encoding, &text), &["-v"]);
        assert_eq!(r.code, 0, "{r:?}");
        assert!(r.stderr.contains(&format!("{} (detected)", encoding.name())), "{r:?}");
        let df = df.unwrap();
        assert_eq!(texts(&df, "都市")[0], Some("東京都0".to_owned()));
        assert_eq!(texts(&df, "備考")[1], Some("首都の1番目の記録です".to_owned()));
        assert_eq!(df.height(), text.lines().count() - 1);
    }
}

#[test]
fn e10_a_stray_byte_in_a_utf8_file_is_one_bad_row() {
    let mut bytes = "city,n\n".to_owned().into_bytes();
    for i in 0..60_000 {
        bytes.extend(format!("München,{i}\n").as_bytes());
    }
    let line = bytes.iter().filter(|&&b| b == b'\n').count() + 1;
    bytes.extend(b"Caf\xE9,1\n");
    for i in 0..60_000 {
        bytes.extend(format!("Zürich,{i}\n").as_bytes());
    }
    let needle = format!("stray.csv:{line}: column `city`: bytes that are not valid UTF-8");
    expect_error("stray.csv", &bytes, &[], 1, &[&needle]);
    let (r, df, _dir) = load("stray.csv", &bytes, &["--on-bad-rows", "skip"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stderr.contains("1 bad row skipped"), "{r:?}");
    let df = df.unwrap();
    assert_eq!(texts(&df, "city")[0], Some("München".to_owned()));
    assert_eq!(df.height(), 120_000);
}

#[test]
fn b06_an_unclosed_quote_on_the_last_line_fails() {
    expect_error("last.csv", b"a,b\n1,2\n3,\"four", &[], 1, &["last.csv:3:", "never closed"]);
    expect_error("last.csv", b"a,b\n1,2\n3,\"4,5", &[], 1, &["last.csv:3:", "never closed"]);
}

#[test]
fn b07_quarantine_keeps_the_source_text_and_header() {
    let dir = Dir::new();
    let path = dir.write("eu.csv", b"\xEF\xBB\xBFname;n;note\nA;1;NA\nB;two;NA\nC;3\nD;4;x\n");
    let r = ok(dir.etl().args([
        "upload-csv",
        path.to_str().unwrap(),
        "--dataset-id",
        "c",
        "--types",
        "n=int64",
        "--on-bad-rows",
        "quarantine",
    ]));
    assert!(r.stderr.contains("eu.csv:3: bad row left out: column `n`: \"two\" is not"), "{r:?}");
    assert!(r.stderr.contains("eu.csv:4: bad row left out: expected 3 fields"), "{r:?}");
    let rejects: Vec<String> = dir.lake_keys().into_iter().filter(|k| k.contains("/_rejects/")).collect();
    assert_eq!(std::fs::read_to_string(dir.lake(&rejects[0])).unwrap(), "name;n;note\nB;two;NA\nC;3\n");
    let df = read_parquet(&dir.lake("datasets/c/data/part-0000.parquet"));
    assert_eq!(texts(&df, "name"), [Some("A".to_owned()), Some("D".to_owned())]);
    // `note` is text: its `NA` stays the text it is (issue 14).
    assert_eq!(texts(&df, "note"), [Some("NA".to_owned()), Some("x".to_owned())]);
}

#[test]
fn t13_a_column_pinned_to_string_keeps_null_tokens() {
    expect(
        "cc.csv",
        b"country,n\nNA,1\nDE,NA\n,2\n",
        &["--types", "country=string"],
        &[
            ("country", DataType::String, &[Some("NA"), Some("DE"), None]),
            ("n", DataType::Int64, &[Some("1"), None, Some("2")]),
        ],
    );
}

#[test]
fn t14_a_date_format_applies_to_a_pinned_date() {
    expect(
        "dmy.csv",
        b"d,t\n13/02/2026,13/02/2026 10:00\n",
        &["--types", "d=date,t=datetime", "--date-format", "d=dmy,t=dmy"],
        &[
            ("d", DataType::Date, &[Some("2026-02-13")]),
            ("t", naive_dt(), &[Some("2026-02-13 10:00:00.000000")]),
        ],
    );
}

#[test]
fn t15_types_for_a_column_the_file_lacks_are_refused() {
    expect_error(
        "x.csv",
        b"a,b\n1,2\n",
        &["--types", "c=int64"],
        2,
        &["no column named `c`", "its columns are: a, b"],
    );
}

#[test]
fn t16_a_value_past_the_first_batch_still_settles_the_type() {
    // The first 65,536 rows suggest Int64 and an empty column; rows further on say Float64 and Date.
    // Bad rows on both sides of the change are kept once each.
    let mut text = "n,late,name\n".to_owned();
    for i in 0..100_000u32 {
        match i {
            9 => text += "9,bad row\n",
            80_000 => text += "80000,2026-01-01,x,too many\n",
            90_000 => text += "2.5,2026-02-03,z\n",
            i if i >= 70_000 => text += &format!("{i},2026-01-02,y\n"),
            i => text += &format!("{i},,x\n"),
        }
    }
    let dir = Dir::new();
    let path = dir.write("late.csv", text.as_bytes());
    let r = ok(dir
        .etl()
        .args(["upload-csv", path.to_str().unwrap(), "--dataset-id", "c", "-v"])
        .args(["--on-bad-rows", "quarantine"]));
    assert!(r.stderr.contains("types changed by line"), "{r:?}");
    assert_eq!(r.stderr.matches("late.csv:11: bad row left out").count(), 1, "{r:?}");
    assert_eq!(r.stderr.matches("late.csv:80002: bad row left out").count(), 1, "{r:?}");
    assert!(r.stderr.contains("2 bad rows quarantined"), "{r:?}");
    let rejects: Vec<String> = dir.lake_keys().into_iter().filter(|k| k.contains("/_rejects/")).collect();
    assert_eq!(
        std::fs::read_to_string(dir.lake(&rejects[0])).unwrap(),
        "n,late,name\n9,bad row\n80000,2026-01-01,x,too many\n"
    );
    let df = read_parquet(&dir.lake("datasets/c/data/part-0000.parquet"));
    assert_eq!(df.height(), 99_998);
    assert_eq!(dtype_of(&df, "n"), DataType::Float64);
    assert_eq!(dtype_of(&df, "late"), DataType::Date);
    let n = df.column("n").unwrap().f64().unwrap();
    assert_eq!((n.get(0), n.get(89_998), n.get(99_997)), (Some(0.0), Some(2.5), Some(99_999.0)));
    let late = texts(&df, "late");
    assert_eq!((late[69_998].clone(), late[69_999].clone()), (None, Some("2026-01-02".to_owned())));
}

#[test]
fn t17_a_partition_column_empty_in_the_first_batch() {
    let mut text = "day,v\n".to_owned();
    for i in 0..70_000u32 {
        text += &if i < 66_000 { format!(",{i}\n") } else { format!("2026-03-0{},{i}\n", 1 + i % 2) };
    }
    let dir = Dir::new();
    let path = dir.write("p.csv", text.as_bytes());
    ok(dir.etl().args(["upload-csv", path.to_str().unwrap(), "--dataset-id", "p", "--partition-col", "day"]));
    let days: Vec<String> = dir.lake_keys().into_iter().filter(|k| k.ends_with(".parquet")).collect();
    assert_eq!(days.len(), 3, "{days:?}");
    let df = read_parquet(&dir.lake("datasets/p/partitions/date=2026-03-01/part-0000.parquet"));
    assert_eq!(df.height(), 2_000);
}

#[test]
fn s01_comment_lines_above_and_among_the_rows() {
    let text = b"# Usage export, generated 2026-11-30 by Billing 4.2\n# columns: id, kind, cost\nid,kind,cost\n1,a,2.5\n# subtotal omitted\n2,b,3\n";
    let r = expect(
        "commented.csv",
        text,
        &[],
        &[
            ("id", DataType::Int64, &[Some("1"), Some("2")]),
            ("kind", DataType::String, &[Some("a"), Some("b")]),
            ("cost", DataType::Float64, &[Some("2.5"), Some("3.0")]),
        ],
    );
    assert!(
        r.stderr.contains(
            "skipped 3 comment lines starting with `#` (detected; --comment-char none reads them as rows)"
        ),
        "{r:?}"
    );
    // Given another character, in a job's terms too.
    expect(
        "semi.csv",
        b"; written by hand\nid,v\n1,x\n",
        &["--comment-char", ";", "--delimiter", ","],
        &[("id", DataType::Int64, &[Some("1")]), ("v", DataType::String, &[Some("x")])],
    );
}

#[test]
fn s02_a_title_and_blank_rows_above_the_header() {
    let text = b"Monthly usage report,,,\nAccount: ACME,,,\n,,,\nDate,Kind,Tokens,Cost\n2026-11-01,chat,120,0.5\n2026-11-02,edit,80,0.25\n";
    let r = expect(
        "report.csv",
        text,
        &[],
        &[
            ("Date", DataType::Date, &[Some("2026-11-01"), Some("2026-11-02")]),
            ("Kind", DataType::String, &[Some("chat"), Some("edit")]),
            ("Tokens", DataType::Int64, &[Some("120"), Some("80")]),
            ("Cost", DataType::Float64, &[Some("0.5"), Some("0.25")]),
        ],
    );
    assert!(
        r.stderr.contains("skipped lines 1-3 above the header (a title or blank rows, detected"),
        "{r:?}"
    );
    // Told how many lines to skip, the tool skips exactly those.
    expect(
        "told.csv",
        b"Exported 2026-11-30 10:00 by a, b and c\n\nid,v\n1,2\n",
        &["--skip-rows", "1"],
        &[("id", DataType::Int64, &[Some("1")]), ("v", DataType::Int64, &[Some("2")])],
    );
    // --skip-rows 0 reads the title as the header, as it is written.
    let (r, df, _dir) = load("report.csv", text, &["--skip-rows", "0"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(df.unwrap().get_column_names()[0].as_str(), "Monthly usage report");
}

#[test]
fn s03_fields_separated_by_a_comma_and_a_space() {
    expect(
        "spaced.csv",
        b"id, name, cost\n1, Smith, 2.5\n2, \"Doe, J\", 3\n",
        &[],
        &[
            ("id", DataType::Int64, &[Some("1"), Some("2")]),
            ("name", DataType::String, &[Some("Smith"), Some("Doe, J")]),
            ("cost", DataType::Float64, &[Some("2.5"), Some("3.0")]),
        ],
    );
}

#[test]
fn s04_a_semicolon_export_with_decimal_commas() {
    let text = "Datum;Artikel;Menge;Betrag;Preis\n01.11.2026;Stift;1.200;1.234,50;0,99\n02.11.2026;Heft;3;12,00;2,5\n";
    let r = expect(
        "export.csv",
        text.as_bytes(),
        &[],
        &[
            ("Datum", DataType::Date, &[Some("2026-11-01"), Some("2026-11-02")]),
            ("Artikel", DataType::String, &[Some("Stift"), Some("Heft")]),
            // `1.200` and `3` fit a dot-decimal reading too: a `;` file alone does not make them thousands.
            ("Menge", DataType::Float64, &[Some("1.2"), Some("3.0")]),
            ("Betrag", DataType::Float64, &[Some("1234.5"), Some("12.0")]),
            ("Preis", DataType::Float64, &[Some("0.99"), Some("2.5")]),
        ],
    );
    assert!(r.stderr.contains("read with decimal commas (1.234,50): Betrag, Preis"), "{r:?}");
    // Said of the file, the dots are thousands everywhere, and a pinned float64 reads so too.
    expect(
        "export.csv",
        text.as_bytes(),
        &["--decimal-comma", "--types", "Preis=float64"],
        &[
            ("Datum", DataType::Date, &[Some("2026-11-01"), Some("2026-11-02")]),
            ("Artikel", DataType::String, &[Some("Stift"), Some("Heft")]),
            ("Menge", DataType::Float64, &[Some("1200.0"), Some("3.0")]),
            ("Betrag", DataType::Float64, &[Some("1234.5"), Some("12.0")]),
            ("Preis", DataType::Float64, &[Some("0.99"), Some("2.5")]),
        ],
    );
    // In a comma-separated file a quoted `1,5` stays text unless the file is said to use commas.
    expect("c.csv", b"v\n\"1,5\"\n", &[], &[("v", DataType::String, &[Some("1,5")])]);
    expect("c.csv", b"v\n\"1,5\"\n", &["--decimal-comma"], &[("v", DataType::Float64, &[Some("1.5")])]);
}
