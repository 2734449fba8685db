//! PostgreSQL's binary `COPY` turned into the CSV that `COPY ... (FORMAT csv)` would have written
//! (floats in their shortest text, `1e21` where PostgreSQL writes `1e+21`: the same bits). The
//! server then spends no time formatting numbers and timestamps as text (about a third of its CPU on
//! a table of usage events), and everything after the spool file (the typing, its messages, the
//! quarantine) reads the same text as before.
//!
//! Only columns of the types below are read in binary; a query with a column of any other type is
//! copied as CSV (see `postgres::read`). The text of each value is the server's own, as the session
//! of `postgres::SESSION_SETTINGS` writes it: ISO dates and timestamps (`timestamptz` in UTC with
//! `+00`, `BC` years, `infinity`), floats exact (shortest text that reads back to the same bits),
//! booleans as `true` / `false` (as `boolean::text` gives them).

use tokio_postgres::types::{Kind, Type};

/// How a column arrives in binary, and is written as text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Bool,
    Int2,
    Int4,
    Int8,
    Oid,
    Float4,
    Float8,
    Date,
    Timestamp,
    TimestampTz,
    /// Text as it is (`text`, `varchar`, `char(n)` with its padding, `name`, and whatever the select
    /// list casts to text).
    Text,
}

/// How a column of type `ty` (`col` quoted) is selected for a binary COPY, and how it arrives;
/// `None`: this type is not read in binary (the query is copied as CSV).
pub fn binary_of(ty: &Type, col: &str) -> Option<(String, Field)> {
    let plain = |field| Some((col.to_owned(), field));
    // Cast to text by the type's own output function: the text COPY would write.
    let as_text = Some((format!("({col})::text"), Field::Text));
    match *ty {
        Type::BOOL => plain(Field::Bool),
        Type::INT2 => plain(Field::Int2),
        Type::INT4 => plain(Field::Int4),
        Type::INT8 => plain(Field::Int8),
        Type::OID => plain(Field::Oid),
        Type::FLOAT4 => plain(Field::Float4),
        Type::FLOAT8 => plain(Field::Float8),
        Type::DATE => plain(Field::Date),
        Type::TIMESTAMP => plain(Field::Timestamp),
        Type::TIMESTAMPTZ => plain(Field::TimestampTz),
        // Sent as their text (`char(n)` padded, as its output is).
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME => plain(Field::Text),
        Type::NUMERIC | Type::UUID | Type::JSON | Type::JSONB => as_text,
        // As CSV, arrays are selected as their JSON text (`postgres::column_of`).
        _ if matches!(ty.kind(), Kind::Array(_)) => Some((format!("to_json({col})::text"), Field::Text)),
        _ => None,
    }
}

/// The 11 bytes every binary COPY starts with.
const SIGNATURE: &[u8] = b"PGCOPY\n\xff\r\n\0";

/// Days from 1970-01-01 to PostgreSQL's epoch, 2000-01-01.
const EPOCH_DAYS: i64 = 10_957;

const MICROS_PER_DAY: i64 = 86_400_000_000;

/// A binary COPY's bytes in, CSV out: fed the stream's messages as they come (a row may span
/// messages), it writes each whole row as a CSV line.
pub struct BinaryToCsv {
    fields: Vec<Field>,
    /// The header line, until it is written.
    header: Option<Vec<u8>>,
    /// Whether the signature and header extension have been read.
    started: bool,
    /// Whether the end marker has been read.
    ended: bool,
    /// Bytes of a row not yet whole.
    pending: Vec<u8>,
}

impl BinaryToCsv {
    /// Rows of these fields, under a header of these column names.
    pub fn new(fields: Vec<Field>, names: &[&str]) -> Self {
        let mut header = Vec::new();
        for (i, name) in names.iter().enumerate() {
            if i > 0 {
                header.push(b',');
            }
            quoted(name.as_bytes(), names.len() == 1, &mut header);
        }
        header.push(b'\n');
        BinaryToCsv { fields, header: Some(header), started: false, ended: false, pending: Vec::new() }
    }

    /// Reads `bytes`, the next of the stream, and writes the rows they complete to `out`.
    pub fn push(&mut self, bytes: &[u8], out: &mut Vec<u8>) -> Result<(), String> {
        if let Some(header) = self.header.take() {
            out.extend_from_slice(&header);
        }
        if self.pending.is_empty() {
            let used = self.rows(bytes, out)?;
            self.pending.extend_from_slice(&bytes[used..]);
        } else {
            let mut pending = std::mem::take(&mut self.pending);
            pending.extend_from_slice(bytes);
            let used = self.rows(&pending, out)?;
            pending.drain(..used);
            self.pending = pending;
        }
        Ok(())
    }

    /// Checks that the stream ended where a COPY ends (the end marker, nothing after it).
    pub fn finish(&mut self, out: &mut Vec<u8>) -> Result<(), String> {
        if let Some(header) = self.header.take() {
            out.extend_from_slice(&header);
        }
        if !self.ended || !self.pending.is_empty() {
            return Err("the binary COPY ended in the middle of a row".into());
        }
        Ok(())
    }

    /// Writes the whole rows at the start of `data`; the bytes used.
    fn rows(&mut self, data: &[u8], out: &mut Vec<u8>) -> Result<usize, String> {
        let mut at = 0;
        if !self.started {
            if data.len() < SIGNATURE.len() + 8 {
                return Ok(0);
            }
            if &data[..SIGNATURE.len()] != SIGNATURE {
                return Err("the binary COPY does not start with its signature".into());
            }
            let extension = be_i32(&data[SIGNATURE.len() + 4..]) as usize;
            if data.len() < SIGNATURE.len() + 8 + extension {
                return Ok(0);
            }
            at = SIGNATURE.len() + 8 + extension;
            self.started = true;
        }
        while at < data.len() {
            if self.ended {
                return Err("bytes after the binary COPY's end".into());
            }
            let Some(count) = data.get(at..at + 2).map(be_i16) else { return Ok(at) };
            if count == -1 {
                self.ended = true;
                at += 2;
                continue;
            }
            if count as usize != self.fields.len() {
                return Err(format!("a row of {count} values, not {}", self.fields.len()));
            }
            let row_start = out.len();
            let mut p = at + 2;
            for (i, field) in self.fields.iter().enumerate() {
                let Some(len) = data.get(p..p + 4).map(be_i32) else {
                    out.truncate(row_start);
                    return Ok(at);
                };
                p += 4;
                if i > 0 {
                    out.push(b',');
                }
                if len < 0 {
                    continue; // NULL: nothing between the commas.
                }
                let Some(value) = data.get(p..p + len as usize) else {
                    out.truncate(row_start);
                    return Ok(at);
                };
                p += len as usize;
                write_value(*field, value, self.fields.len() == 1, out)?;
            }
            out.push(b'\n');
            at = p;
        }
        Ok(at)
    }
}

fn be_i16(b: &[u8]) -> i16 {
    i16::from_be_bytes([b[0], b[1]])
}

fn be_i32(b: &[u8]) -> i32 {
    i32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

fn be_i64(b: &[u8]) -> i64 {
    i64::from_be_bytes(b[..8].try_into().expect("8 bytes"))
}

/// A value's text, as `COPY ... (FORMAT csv)` writes it.
fn write_value(field: Field, v: &[u8], single: bool, out: &mut Vec<u8>) -> Result<(), String> {
    let size = |n: usize| {
        if v.len() == n {
            Ok(())
        } else {
            Err(format!("a {field:?} value of {} bytes, not {n}", v.len()))
        }
    };
    let mut int = itoa::Buffer::new();
    let mut float = ryu::Buffer::new();
    match field {
        Field::Bool => {
            size(1)?;
            out.extend_from_slice(if v[0] != 0 { b"true" } else { b"false" });
        }
        Field::Int2 => {
            size(2)?;
            out.extend_from_slice(int.format(be_i16(v)).as_bytes());
        }
        Field::Int4 => {
            size(4)?;
            out.extend_from_slice(int.format(be_i32(v)).as_bytes());
        }
        Field::Int8 => {
            size(8)?;
            out.extend_from_slice(int.format(be_i64(v)).as_bytes());
        }
        Field::Oid => {
            size(4)?;
            out.extend_from_slice(int.format(be_i32(v) as u32).as_bytes());
        }
        Field::Float4 => {
            size(4)?;
            let x = f32::from_bits(be_i32(v) as u32);
            match special(x.is_nan(), x.is_infinite(), x < 0.0) {
                Some(text) => out.extend_from_slice(text),
                None => out.extend_from_slice(float.format_finite(x).as_bytes()),
            }
        }
        Field::Float8 => {
            size(8)?;
            let x = f64::from_bits(be_i64(v) as u64);
            match special(x.is_nan(), x.is_infinite(), x < 0.0) {
                Some(text) => out.extend_from_slice(text),
                None => out.extend_from_slice(float.format_finite(x).as_bytes()),
            }
        }
        Field::Date => {
            size(4)?;
            match be_i32(v) {
                i32::MAX => out.extend_from_slice(b"infinity"),
                i32::MIN => out.extend_from_slice(b"-infinity"),
                days => {
                    let (year, month, day) = civil(i64::from(days) + EPOCH_DAYS);
                    write_date(year, month, day, out);
                    if year <= 0 {
                        out.extend_from_slice(b" BC");
                    }
                }
            }
        }
        Field::Timestamp | Field::TimestampTz => {
            size(8)?;
            match be_i64(v) {
                i64::MAX => out.extend_from_slice(b"infinity"),
                i64::MIN => out.extend_from_slice(b"-infinity"),
                micros => {
                    let (days, time) = (micros.div_euclid(MICROS_PER_DAY), micros.rem_euclid(MICROS_PER_DAY));
                    let (year, month, day) = civil(days + EPOCH_DAYS);
                    write_date(year, month, day, out);
                    let (seconds, fraction) = (time / 1_000_000, time % 1_000_000);
                    out.push(b' ');
                    two(seconds / 3600, out);
                    out.push(b':');
                    two(seconds / 60 % 60, out);
                    out.push(b':');
                    two(seconds % 60, out);
                    if fraction > 0 {
                        // Six digits, without the zeros at the end.
                        let mut digits = [0u8; 6];
                        let mut rest = fraction;
                        for d in digits.iter_mut().rev() {
                            *d = b'0' + (rest % 10) as u8;
                            rest /= 10;
                        }
                        let kept = 6 - digits.iter().rev().take_while(|&&d| d == b'0').count();
                        out.push(b'.');
                        out.extend_from_slice(&digits[..kept]);
                    }
                    if field == Field::TimestampTz {
                        out.extend_from_slice(b"+00");
                    }
                    if year <= 0 {
                        out.extend_from_slice(b" BC");
                    }
                }
            }
        }
        Field::Text => quoted(v, single, out),
    }
    Ok(())
}

/// PostgreSQL's text for a float that is not finite.
fn special(nan: bool, infinite: bool, negative: bool) -> Option<&'static [u8]> {
    match (nan, infinite, negative) {
        (true, _, _) => Some(b"NaN"),
        (false, true, false) => Some(b"Infinity"),
        (false, true, true) => Some(b"-Infinity"),
        _ => None,
    }
}

/// `YYYY-MM-DD` (a year of more digits as it is; a year before 1 as the year BC it is).
fn write_date(year: i64, month: u32, day: u32, out: &mut Vec<u8>) {
    let shown = if year <= 0 { 1 - year } else { year };
    if shown < 10_000 {
        let y = shown as u32;
        out.extend_from_slice(&[
            b'0' + (y / 1000) as u8,
            b'0' + (y / 100 % 10) as u8,
            b'0' + (y / 10 % 10) as u8,
            b'0' + (y % 10) as u8,
        ]);
    } else {
        out.extend_from_slice(itoa::Buffer::new().format(shown).as_bytes());
    }
    out.push(b'-');
    two(i64::from(month), out);
    out.push(b'-');
    two(i64::from(day), out);
}

fn two(n: i64, out: &mut Vec<u8>) {
    out.extend_from_slice(&[b'0' + (n / 10) as u8, b'0' + (n % 10) as u8]);
}

/// The proleptic Gregorian date `days` after 1970-01-01 (Howard Hinnant's `civil_from_days`).
fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(month <= 2), month, day)
}

/// A value as a CSV field, quoted as PostgreSQL's CSV COPY quotes it: when it holds a comma, a quote
/// or a line break, when it is empty (unquoted empty is NULL), and `\.` alone on a line.
fn quoted(v: &[u8], single: bool, out: &mut Vec<u8>) {
    let quote = v.is_empty()
        || (single && v == b"\\.")
        || v.iter().any(|&c| matches!(c, b',' | b'"' | b'\n' | b'\r'));
    if !quote {
        out.extend_from_slice(v);
        return;
    }
    out.push(b'"');
    for &c in v {
        if c == b'"' {
            out.push(b'"');
        }
        out.push(c);
    }
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A binary COPY of `rows` (each value `None` for NULL, or its bytes).
    fn copy_of(rows: &[Vec<Option<Vec<u8>>>]) -> Vec<u8> {
        let mut b = SIGNATURE.to_vec();
        b.extend_from_slice(&0i32.to_be_bytes());
        b.extend_from_slice(&0i32.to_be_bytes());
        for row in rows {
            b.extend_from_slice(&(row.len() as i16).to_be_bytes());
            for v in row {
                match v {
                    None => b.extend_from_slice(&(-1i32).to_be_bytes()),
                    Some(v) => {
                        b.extend_from_slice(&(v.len() as i32).to_be_bytes());
                        b.extend_from_slice(v);
                    }
                }
            }
        }
        b.extend_from_slice(&(-1i16).to_be_bytes());
        b
    }

    fn text_of(field: Field, v: &[u8]) -> String {
        let mut out = Vec::new();
        write_value(field, v, false, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn values_are_written_as_postgresql_writes_them_as_text() {
        let micros = |s: i64| (s * 1_000_000).to_be_bytes();
        assert_eq!(text_of(Field::Timestamp, &0i64.to_be_bytes()), "2000-01-01 00:00:00");
        assert_eq!(text_of(Field::TimestampTz, &micros(-1)), "1999-12-31 23:59:59+00");
        assert_eq!(text_of(Field::Timestamp, &1_500i64.to_be_bytes()), "2000-01-01 00:00:00.0015");
        assert_eq!(text_of(Field::Timestamp, &(-1i64).to_be_bytes()), "1999-12-31 23:59:59.999999");
        // 2024-02-29 12:34:56.5 is 8,825 days and 45,296.5 s after 2000-01-01.
        let leap = 8_825 * MICROS_PER_DAY + 45_296_500_000;
        assert_eq!(text_of(Field::TimestampTz, &leap.to_be_bytes()), "2024-02-29 12:34:56.5+00");
        assert_eq!(text_of(Field::Timestamp, &i64::MAX.to_be_bytes()), "infinity");
        assert_eq!(text_of(Field::TimestampTz, &i64::MIN.to_be_bytes()), "-infinity");
        assert_eq!(text_of(Field::Date, &0i32.to_be_bytes()), "2000-01-01");
        assert_eq!(text_of(Field::Date, &(-730_119i32).to_be_bytes()), "0001-01-01");
        assert_eq!(text_of(Field::Date, &(-730_120i32).to_be_bytes()), "0001-12-31 BC");
        // 44 BC, the Ides of March (year -43 proleptic).
        assert_eq!(text_of(Field::Date, &(-746_117i32).to_be_bytes()), "0044-03-15 BC");
        let bc = -730_120 * MICROS_PER_DAY;
        assert_eq!(text_of(Field::TimestampTz, &bc.to_be_bytes()), "0001-12-31 00:00:00+00 BC");
        assert_eq!(text_of(Field::Date, &2_921_940i32.to_be_bytes()), "10000-01-01");
        assert_eq!(text_of(Field::Date, &i32::MAX.to_be_bytes()), "infinity");
        assert_eq!(text_of(Field::Float8, &0.1f64.to_bits().to_be_bytes()), "0.1");
        assert_eq!(text_of(Field::Float8, &f64::NAN.to_bits().to_be_bytes()), "NaN");
        assert_eq!(text_of(Field::Float8, &f64::NEG_INFINITY.to_bits().to_be_bytes()), "-Infinity");
        assert_eq!(text_of(Field::Float4, &0.1f32.to_bits().to_be_bytes()), "0.1");
        assert_eq!(text_of(Field::Float4, &f32::INFINITY.to_bits().to_be_bytes()), "Infinity");
        assert_eq!(text_of(Field::Int2, &(-32_768i16).to_be_bytes()), "-32768");
        assert_eq!(text_of(Field::Int8, &i64::MIN.to_be_bytes()), "-9223372036854775808");
        assert_eq!(text_of(Field::Oid, &u32::MAX.to_be_bytes()), "4294967295");
        assert_eq!(text_of(Field::Bool, &[1]), "true");
        assert_eq!(text_of(Field::Bool, &[0]), "false");
        assert_eq!(text_of(Field::Text, b"a,b"), "\"a,b\"");
        assert_eq!(text_of(Field::Text, b"say \"hi\"\n"), "\"say \"\"hi\"\"\n\"");
        assert_eq!(text_of(Field::Text, b""), "\"\"", "empty text is not NULL");
        assert_eq!(text_of(Field::Text, b"plain"), "plain");
        assert!(write_value(Field::Int4, &[0, 1], false, &mut Vec::new()).is_err());
    }

    #[test]
    fn rows_are_written_as_they_complete_whichever_way_the_stream_is_cut() {
        let copy = copy_of(&[
            vec![Some(7i32.to_be_bytes().to_vec()), Some(b"x, y".to_vec()), None],
            vec![None, Some(Vec::new()), Some(vec![1])],
        ]);
        let fields = vec![Field::Int4, Field::Text, Field::Bool];
        let want = "id,\"a,b\",ok\n7,\"x, y\",\n,\"\",true\n";
        for cut in 1..copy.len() {
            let mut rows = BinaryToCsv::new(fields.clone(), &["id", "a,b", "ok"]);
            let mut out = Vec::new();
            for piece in copy.chunks(cut) {
                rows.push(piece, &mut out).unwrap();
            }
            rows.finish(&mut out).unwrap();
            assert_eq!(String::from_utf8(out).unwrap(), want, "cut every {cut} bytes");
        }
        // Cut short: an error, not a silent end.
        let mut rows = BinaryToCsv::new(fields.clone(), &["id", "a,b", "ok"]);
        let mut out = Vec::new();
        rows.push(&copy[..copy.len() - 5], &mut out).unwrap();
        assert!(rows.finish(&mut out).is_err());
        // A row of the wrong width.
        let mut rows = BinaryToCsv::new(vec![Field::Int4], &["id"]);
        assert!(rows.push(&copy, &mut Vec::new()).is_err());
    }

    #[test]
    fn civil_dates_match_the_calendar() {
        assert_eq!(civil(0), (1970, 1, 1));
        assert_eq!(civil(EPOCH_DAYS), (2000, 1, 1));
        assert_eq!(civil(-1), (1969, 12, 31));
        assert_eq!(civil(EPOCH_DAYS + 59), (2000, 2, 29));
        assert_eq!(civil(-719_528), (0, 1, 1));
    }
}
