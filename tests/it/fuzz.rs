//! Random input, no panic: the CSV reader (with the typing behind it), the JSON page reader and
//! flattener, and the value parsers fed bytes made to look like their input (and plain noise), each
//! for a fixed time budget. Found cases are kept in `hostile.rs` or the unit tests.

use std::io::Write;

use arbtest::arbitrary::Unstructured;
use etl::batch::{BadRows, TextBatch};
use etl::extract::csv::{CsvFile, CsvOptions, Delimiter};
use etl::extract::dialect::Setting;
use etl::extract::Extract;
use etl::transform::{NullTokens, Pins};

/// Each property's time budget: 1.5 s in the suite; `ETL_FUZZ_MS` for a longer hunt.
fn budget() -> u64 {
    std::env::var("ETL_FUZZ_MS").ok().and_then(|v| v.parse().ok()).unwrap_or(1500)
}

/// Bytes that are mostly the stuff of CSV: delimiters, quotes, line breaks, digits, dates, a BOM,
/// NULs, invalid UTF-8.
fn csvish(u: &mut Unstructured<'_>) -> arbtest::arbitrary::Result<Vec<u8>> {
    const PIECES: &[&[u8]] = &[
        b",",
        b";",
        b"\t",
        b"|",
        b"\"",
        b"\"\"",
        b"\n",
        b"\r\n",
        b"\r",
        b"a",
        b"id",
        b"0",
        b"7",
        b"-1",
        b"3.25",
        b"1e3",
        b"007",
        b"true",
        b"NA",
        b"null",
        b"2026-11-30",
        b"11/30/2026",
        b"2026-11-30T10:00:00Z",
        b"$1,234.50",
        b" ",
        b"\xEF\xBB\xBF",
        b"\0",
        b"\xFF",
        b"\xC3",
        b"\xE3\x81\x82",
        b"x,y\n",
        b"#",
        b", ",
        b"1.234,50",
        b",,,\n",
        b"Report,,\n",
    ];
    pieces(u, PIECES, 400, 10)
}

#[test]
fn the_csv_reader_and_the_typing_never_panic() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fuzz.csv");
    arbtest::arbtest(|u| {
        let bytes = csvish(u)?;
        std::fs::File::create(&path).unwrap().write_all(&bytes).unwrap();
        let options = CsvOptions {
            delimiter: if u.arbitrary()? {
                Some(Delimiter::parse(u.choose(&[",", ";", "\t", ", "])?).unwrap())
            } else {
                None
            },
            comment: *u.choose(&[Setting::Detect, Setting::Off, Setting::Given(b'#')])?,
            skip_rows: if u.arbitrary()? { Some(u.int_in_range(0..=3)?) } else { None },
            header: u.arbitrary()?,
            bad_rows: *u.choose(&[BadRows::Fail, BadRows::Skip, BadRows::Quarantine])?,
            ..CsvOptions::default()
        };
        let Ok(file) = CsvFile::new(&path, options) else { return Ok(()) };
        let Ok(mut reader) = file.open() else { return Ok(()) };
        let columns = reader.columns().to_vec();
        let pins = Pins::none().with_decimal_comma(file.decimal_comma());
        let mut inference = etl::transform::infer::Inference::new(&columns, &pins);
        let nulls = vec![NullTokens::standard(); columns.len()];
        let mut batch = TextBatch::new(columns.len());
        let mut batches = Vec::new();
        while let Ok(true) = reader.next_batch(&mut batch, 7) {
            let _ = reader.take_rejects();
            inference.observe(&nulls[0], &batch, None);
            batches.push(std::mem::replace(&mut batch, TextBatch::new(columns.len())));
        }
        let plans = inference.plans();
        for batch in &batches {
            let _ = etl::transform::convert::convert_batch(&plans, batch, &nulls, Vec::new());
        }
        Ok(())
    })
    .budget_ms(budget());
}

/// JSON-looking bytes: brackets, keys, values, nesting, escapes, and noise.
fn jsonish(u: &mut Unstructured<'_>) -> arbtest::arbitrary::Result<Vec<u8>> {
    const PIECES: &[&[u8]] = &[
        b"{",
        b"}",
        b"[",
        b"]",
        b",",
        b":",
        b"\"data\"",
        b"\"next\"",
        b"\"a\"",
        b"\"a.b\"",
        b"\"\"",
        b"1",
        b"-0",
        b"1e999",
        b"123456789012345678901234567890",
        b"3.5",
        b"true",
        b"null",
        b"\"x\"",
        b"\"\\u0000\"",
        b"\"\\ud800\"",
        b"\"2026-11-30\"",
        b" ",
        b"\n",
        b"{\"data\":[",
        b"]}",
        b"\xFF",
    ];
    pieces(u, PIECES, 300, 20)
}

/// A random JSON value, objects and arrays nested up to `depth`, keys from a few that collide when
/// flattened (`a.b` beside `a: {b}`), strings with escapes, numbers past 64 bits.
fn json_value(u: &mut Unstructured<'_>, depth: u32) -> arbtest::arbitrary::Result<serde_json::Value> {
    use serde_json::Value;
    let kind = u.int_in_range(0..=if depth == 0 { 4 } else { 6 })?;
    Ok(match kind {
        0 => Value::Null,
        1 => Value::Bool(u.arbitrary()?),
        2 => {
            let text = *u.choose(&[
                "1",
                "-0",
                "3.5",
                "1e300",
                "123456789012345678901234567890",
                "9007199254740993",
            ])?;
            serde_json::from_str(text).unwrap()
        }
        3 => {
            Value::String(u.choose(&["x", "", "a\"b", "2026-11-30", "\u{1F600}", "line\nbreak"])?.to_string())
        }
        4 => Value::String(u.arbitrary::<String>()?),
        5 => {
            let mut items = Vec::new();
            for _ in 0..u.int_in_range(0..=3)? {
                items.push(json_value(u, depth - 1)?);
            }
            Value::Array(items)
        }
        _ => {
            let mut map = serde_json::Map::new();
            for _ in 0..u.int_in_range(0..=4)? {
                let key = u.choose(&["a", "b", "a.b", "c", "", "é"])?.to_string();
                map.insert(key, json_value(u, depth - 1)?);
            }
            Value::Object(map)
        }
    })
}

/// Up to `most` of `pieces` in a row, one in `noise` of them a random byte instead.
fn pieces(
    u: &mut Unstructured<'_>,
    pieces: &[&[u8]],
    most: usize,
    noise: u8,
) -> arbtest::arbitrary::Result<Vec<u8>> {
    let mut out = Vec::new();
    for _ in 0..u.int_in_range(0..=most)? {
        if u.ratio(1, noise)? {
            out.push(u.arbitrary::<u8>()?);
        } else {
            out.extend_from_slice(u.choose(pieces)?);
        }
    }
    Ok(out)
}

/// Every record of spooled `records` read back: the columns, then each record's fields.
fn read_back(records: &etl::extract::json::JsonRecords) -> (Vec<String>, Vec<Vec<String>>) {
    let mut reader = records.open().unwrap();
    let columns = reader.columns().to_vec();
    let mut batch = TextBatch::new(columns.len());
    let mut rows = Vec::new();
    while reader.next_batch(&mut batch, 5).unwrap() {
        for row in 0..batch.len() {
            rows.push((0..columns.len()).map(|c| batch.text(row, c).to_owned()).collect());
        }
    }
    (columns, rows)
}

#[test]
fn json_pages_and_the_flattener_never_panic_and_both_paths_agree() {
    use etl::extract::json::Spool;
    use etl::extract::page::{scan_reader, ScanError, Sink};
    let dir = tempfile::tempdir().unwrap();
    arbtest::arbtest(|u| {
        let body = if u.arbitrary()? {
            jsonish(u)?
        } else {
            // A well-formed page of records made of random values.
            let mut items = Vec::new();
            for _ in 0..u.int_in_range(0..=6)? {
                items.push(json_value(u, 3)?);
            }
            serde_json::json!({"data": items, "next": json_value(u, 1)?}).to_string().into_bytes()
        };
        let records = *u.choose(&["", "data", "data.0", "a.b"])?;
        let cursor = *u.choose(&[None, Some("next"), Some("data")])?;
        let explode = u.ratio(1, 3)?;
        let mut spool = Spool::create(&dir.path().join("records.jsonl")).unwrap();
        if explode {
            spool = spool.exploding("a");
        }
        // Records flattened as they are parsed, and the same records built whole first: the same
        // spool, or the same refusal.
        let streamed = scan_reader(&body[..], records, cursor, Sink::Spool(&mut spool));
        let mut whole = Spool::create(&dir.path().join("whole.jsonl")).unwrap();
        if explode {
            whole = whole.exploding("a");
        }
        let built = scan_reader(&body[..], records, cursor, Sink::Values(&mut |v| whole.push(&v)));
        // (Broken JSON may be told broken at another byte: skipped values are checked less.)
        assert_eq!(
            streamed.as_ref().map(|s| (&s.found, &s.cursor)).ok(),
            built.as_ref().map(|s| (&s.found, &s.cursor)).ok(),
            "{}",
            String::from_utf8_lossy(&body)
        );
        if let (Err(ScanError::Record(a)), Err(ScanError::Record(b))) = (&streamed, &built) {
            assert_eq!(a, b, "{}", String::from_utf8_lossy(&body));
        }
        if streamed.is_err() {
            return Ok(());
        }
        let (Ok(streamed), Ok(built)) =
            (spool.finish("api", "fuzz".into()), whole.finish("api", "fuzz".into()))
        else {
            return Ok(());
        };
        assert_eq!(read_back(&streamed), read_back(&built), "{}", String::from_utf8_lossy(&body));
        let pins = |r: &etl::extract::json::JsonRecords| {
            r.columns().iter().map(|c| r.pins(&Pins::none()).get(c)).collect::<Vec<_>>()
        };
        assert_eq!(pins(&streamed), pins(&built));
        Ok(())
    })
    .budget_ms(budget());
}

#[test]
fn value_parsers_never_panic_and_round_trip() {
    use etl::transform::calendar::{civil_from_days, days_from_civil};
    use etl::transform::values::{parse_bool, parse_fixed, parse_number, DateFormat, DatetimeFormat, Number};
    arbtest::arbtest(|u| {
        let bytes: Vec<u8> = if u.arbitrary()? { csvish(u)? } else { u.arbitrary()? };
        let _ = parse_number(&bytes);
        let _ = parse_bool(&bytes);
        let _ = parse_fixed(&bytes, u.int_in_range(0..=38)?);
        let _ = etl::transform::convert::parse_money(&bytes);
        for format in DateFormat::ALL {
            let _ = format.parse(&bytes);
            let _ = DatetimeFormat { date: format }.parse(&bytes);
        }
        // Integers read back as themselves; days survive the civil calendar both ways.
        let n: i64 = u.arbitrary()?;
        assert!(matches!(parse_number(n.to_string().as_bytes()), Number::Int(m) if m == n), "{n}");
        let day: i32 = u.int_in_range(-1_000_000..=1_000_000)?;
        let (y, m, d) = civil_from_days(day);
        assert_eq!(days_from_civil(y, m, d), day);
        let text = format!("{y:04}-{m:02}-{d:02}");
        if (1..=9999).contains(&y) {
            assert_eq!(DateFormat::Iso.parse(text.as_bytes()), Some(day), "{text}");
        }
        Ok(())
    })
    .budget_ms(budget());
}
