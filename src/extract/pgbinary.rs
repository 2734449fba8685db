//! PostgreSQL's binary `COPY` read as a source: each connection's stream decoded straight into
//! batches as it arrives (nothing spooled to disk). Integers, `float8`, booleans, dates and
//! timestamps are handed over typed (see [`crate::batch::Native`]): neither the server nor etl
//! writes them as text, nor reads them back; text arrives as it is. A value that typed columns cannot
//! hold as its text would have been read (`infinity`, a year before 1 or after 9999, a float that is
//! not finite) turns its column into text for that batch, the text the server would have written,
//! and the typing refuses it as it would have (naming its row). Messages name a row by the line it
//! would have had in the server's CSV (the header is line 1; a line break inside a text adds one).
//!
//! Columns of types without a binary form read here are selected as their text (see [`binary_of`]).
//! Wherever a typed value is needed as text (a plan of another
//! type, checks of values), it is the server's own text, as the session of
//! `postgres::SESSION_SETTINGS` writes it: ISO dates and timestamps (`timestamptz` in UTC with
//! `+00`, `BC` years, `infinity`), floats in their shortest exact digits (`1e-07`, `1e+21`, `3`),
//! booleans as `true` / `false` (as `boolean::text` gives them).

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use tokio_postgres::types::{Kind as PgKind, Type};

use super::{BatchReader, Extract, SourceInfo};
use crate::batch::{Kind, Native, TextBatch, Values, WriteText};
use crate::error::{Error, Result};
use crate::transform::values::{DateFormat, DatetimeFormat, Zone};
use crate::transform::Parser;

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

/// How a column of type `ty` (`col` quoted; a domain's type, see `postgres::base_type`) is selected
/// for a binary COPY, and how it arrives. Types not read in binary below are selected as the text
/// their output function writes (`format('%s', ...)`: what a CSV COPY would write; NULL becomes
/// empty text, which reads as null all the same).
pub fn binary_of(ty: &Type, col: &str) -> (String, Field) {
    let plain = |field| (col.to_owned(), field);
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
        _ => match ty.kind() {
            // As CSV, arrays are selected as their JSON text (`postgres::column_of`).
            PgKind::Array(_) => (format!("to_json({col})::text"), Field::Text),
            // An enum is sent as its label.
            PgKind::Enum(_) => plain(Field::Text),
            // `numeric`, `uuid`, JSON, `inet`, `interval`, ...: the type's own text.
            _ => (format!("format('%s', {col})"), Field::Text),
        },
    }
}

/// The 11 bytes every binary COPY starts with.
const SIGNATURE: &[u8] = b"PGCOPY\n\xff\r\n\0";

/// Days from 1970-01-01 to PostgreSQL's epoch, 2000-01-01.
const EPOCH_DAYS: i64 = 10_957;

const MICROS_PER_DAY: i64 = 86_400_000_000;

/// Days after 2000-01-01 of 0001-01-01 and 9999-12-31: the dates typed columns hold as their text
/// reads (outside, a year BC or of five digits: text, refused by the typing as before).
const FIRST_DAY: i64 = -730_119;
const LAST_DAY: i64 = 2_921_939;

/// How the reader hands a column over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Decode {
    /// Typed: integers of these bytes (an `oid` unsigned).
    Int(usize),
    Oid,
    Float8,
    Bool,
    Date,
    Timestamp,
    /// As text: text as it came; any other field written as the server writes it.
    Text,
    Written(Field),
}

impl Decode {
    /// How a `field` column pinned to `parser` (as `postgres::column_of` pins it) is handed over.
    fn of(field: Field, parser: Parser) -> Decode {
        let iso_date = Parser::Date(DateFormat::Iso);
        let timestamp = |zone| Parser::Datetime(DatetimeFormat::ISO, zone);
        match (field, parser) {
            (Field::Int2, Parser::Int) => Decode::Int(2),
            (Field::Int4, Parser::Int) => Decode::Int(4),
            (Field::Int8, Parser::Int) => Decode::Int(8),
            (Field::Oid, Parser::Int) => Decode::Oid,
            (Field::Float8, Parser::Float) => Decode::Float8,
            (Field::Bool, Parser::Bool) => Decode::Bool,
            (Field::Date, p) if p == iso_date => Decode::Date,
            (Field::Timestamp, p) if p == timestamp(Zone::Naive) => Decode::Timestamp,
            (Field::TimestampTz, p) if p == timestamp(Zone::Offset) => Decode::Timestamp,
            (Field::Text, _) => Decode::Text,
            (field, _) => Decode::Written(field),
        }
    }

    /// Whether the column is handed over typed.
    fn typed(self) -> bool {
        !matches!(self, Decode::Text | Decode::Written(_))
    }

    /// What the column's typed values are, if it is handed over typed.
    fn kind(self, field: Field) -> Option<Kind> {
        Some(match self {
            Decode::Int(_) | Decode::Oid => Kind::Int64,
            Decode::Float8 => Kind::Float64,
            Decode::Bool => Kind::Boolean,
            Decode::Date => Kind::Date,
            Decode::Timestamp if field == Field::TimestampTz => Kind::TimestampUtc,
            Decode::Timestamp => Kind::Timestamp,
            Decode::Text | Decode::Written(_) => return None,
        })
    }

    /// An empty typed column for this decoding, if it is handed over typed.
    fn native(self, field: Field) -> Option<Native> {
        let kind = self.kind(field)?;
        let (values, text): (Values, WriteText) = match kind {
            Kind::Int64 => (Values::I64(Vec::new()), int_text),
            Kind::Float64 => (Values::F64(Vec::new()), float_text),
            Kind::Boolean => (Values::Bool(Vec::new()), bool_text),
            Kind::Date => (Values::I64(Vec::new()), date_text),
            Kind::Timestamp => (Values::I64(Vec::new()), timestamp_text),
            Kind::TimestampUtc => (Values::I64(Vec::new()), timestamptz_text),
        };
        Some(Native::new(kind, values, text))
    }
}

fn int_text(values: &Values, row: usize, out: &mut Vec<u8>) {
    let Values::I64(v) = values else { unreachable!("integers") };
    out.extend_from_slice(itoa::Buffer::new().format(v[row]).as_bytes());
}

fn float_text(values: &Values, row: usize, out: &mut Vec<u8>) {
    let Values::F64(v) = values else { unreachable!("floats") };
    write_text(Field::Float8, &v[row].to_bits().to_be_bytes(), out).expect("8 bytes");
}

fn bool_text(values: &Values, row: usize, out: &mut Vec<u8>) {
    let Values::Bool(v) = values else { unreachable!("booleans") };
    out.extend_from_slice(if v[row] { b"true" } else { b"false" });
}

fn date_text(values: &Values, row: usize, out: &mut Vec<u8>) {
    let Values::I64(v) = values else { unreachable!("days") };
    write_text(Field::Date, &((v[row] - EPOCH_DAYS) as i32).to_be_bytes(), out).expect("4 bytes");
}

fn timestamp_text(values: &Values, row: usize, out: &mut Vec<u8>) {
    let Values::I64(v) = values else { unreachable!("microseconds") };
    write_text(Field::Timestamp, &(v[row] - EPOCH_DAYS * MICROS_PER_DAY).to_be_bytes(), out)
        .expect("8 bytes");
}

fn timestamptz_text(values: &Values, row: usize, out: &mut Vec<u8>) {
    let Values::I64(v) = values else { unreachable!("microseconds") };
    write_text(Field::TimestampTz, &(v[row] - EPOCH_DAYS * MICROS_PER_DAY).to_be_bytes(), out)
        .expect("8 bytes");
}

/// What a connection's COPY hands the reader: its bytes a chunk at a time (whole rows, as the
/// server sends one message per row), then how it ended.
#[derive(Debug)]
pub enum Chunk {
    Bytes(Vec<u8>),
    End(std::result::Result<(), String>),
}

/// One connection's COPY, as it arrives (a bounded channel: a COPY ahead of the reader waits).
pub struct Part {
    pub chunks: tokio::sync::mpsc::Receiver<Chunk>,
    /// How messages name it (`postgres://... (query, part 1 of 2)`).
    pub label: String,
}

/// The binary COPYs of one query, read as one source, once: batches taken from each connection in
/// turn (a batch, then the next connection's), so that every COPY streams at once and none is held
/// on disk; the order is the same on every run, as the batches' bounds are.
pub struct BinaryParts {
    location: String,
    columns: Vec<String>,
    /// Per column: what arrives, how it is handed over, and the parser its typed values stand for.
    fields: Vec<(Field, Decode, Parser)>,
    /// The line of the first row (2, unless a column's name holds line breaks).
    first_line: u64,
    parts: std::sync::Mutex<Option<Vec<Part>>>,
    /// Each part's label (for a pass after the first).
    labels: Vec<String>,
    /// Where each part's bytes are also written as they are read, for a source read again (checks
    /// that fetch the rows they refuse): `rows-<part>.bin`.
    spool: Option<PathBuf>,
}

impl BinaryParts {
    /// The source named `location`: columns `names` (cleaned as a CSV header's are) of `fields`,
    /// pinned to `parsers`, in `parts`; the first row on line `first_line` (the server's CSV header
    /// can span lines). With `spool`, it can be read again (from the files there, each part in turn).
    pub fn new(
        location: String,
        names: &[String],
        first_line: u64,
        fields: &[Field],
        parsers: &[Parser],
        parts: Vec<Part>,
        spool: Option<PathBuf>,
    ) -> Self {
        let fields = fields.iter().zip(parsers).map(|(&f, &p)| (f, Decode::of(f, p), p)).collect();
        let labels = parts.iter().map(|p| p.label.clone()).collect();
        BinaryParts {
            location,
            columns: names.to_vec(),
            fields,
            first_line,
            parts: std::sync::Mutex::new(Some(parts)),
            labels,
            spool,
        }
    }

    /// Part `index`'s spool file.
    fn spool_file(dir: &Path, index: usize) -> PathBuf {
        dir.join(format!("rows-{}.bin", index + 1))
    }
}

impl Extract for BinaryParts {
    fn info(&self) -> SourceInfo {
        SourceInfo { kind: "postgres", location: self.location.clone() }
    }

    /// The first pass streams from the COPYs, a batch from each part in turn; a pass after it reads
    /// the spool files, each part to its end in turn (as a CSV source of parts is read).
    fn open(&self) -> Result<Box<dyn BatchReader>> {
        let part = |source: Source, label: String, tee: Option<std::fs::File>| PartReader {
            source,
            tee,
            label,
            buf: Vec::new(),
            start: 0,
            started: false,
            ended: false,
            done: false,
            line: self.first_line,
            consumed: 0,
        };
        let first = self.parts.lock().expect("parts").take();
        let (parts, in_turn) = match (first, &self.spool) {
            (Some(parts), spool) => {
                let mut readers = Vec::new();
                for (index, p) in parts.into_iter().enumerate() {
                    let tee = match spool {
                        Some(dir) => {
                            let path = Self::spool_file(dir, index);
                            Some(std::fs::File::create(&path).map_err(|e| Error::io(&path, e))?)
                        }
                        None => None,
                    };
                    readers.push(part(Source::Copy(p.chunks), p.label, tee));
                }
                (readers, true)
            }
            (None, Some(dir)) => {
                let mut readers = Vec::new();
                for (index, label) in self.labels.iter().enumerate() {
                    let path = Self::spool_file(dir, index);
                    let file = std::fs::File::open(&path).map_err(|e| Error::io(&path, e))?;
                    readers.push(part(Source::File(file), label.clone(), None));
                }
                (readers, false)
            }
            (None, None) => {
                return Err(Error::Internal("the rows of a PostgreSQL COPY are read once here".into()))
            }
        };
        Ok(Box::new(BinaryReader {
            columns: self.columns.clone(),
            fields: self.fields.clone(),
            parts,
            in_turn,
            current: 0,
            last: 0,
            as_text: vec![false; self.fields.len()],
        }))
    }
}

/// A pass over the parts: a batch from each in turn, or each part to its end in turn. A batch never
/// spans two parts.
struct BinaryReader {
    columns: Vec<String>,
    fields: Vec<(Field, Decode, Parser)>,
    parts: Vec<PartReader>,
    in_turn: bool,
    /// The part the next batch comes from, and the one the last came from.
    current: usize,
    last: usize,
    /// Typed columns handed over as text in the current batch (a value they cannot hold).
    as_text: Vec<bool>,
}

/// Where a part's bytes come from.
enum Source {
    /// The COPY, as it arrives.
    Copy(tokio::sync::mpsc::Receiver<Chunk>),
    /// Its spool file, written by the first pass.
    File(std::fs::File),
}

impl Source {
    /// The next chunk; `None`: the COPY was stopped.
    fn next(&mut self) -> Option<Chunk> {
        match self {
            Source::Copy(chunks) => chunks.blocking_recv(),
            Source::File(file) => {
                let mut bytes = vec![0; 256 << 10];
                Some(match file.read(&mut bytes) {
                    Ok(0) => Chunk::End(Ok(())),
                    Ok(n) => {
                        bytes.truncate(n);
                        Chunk::Bytes(bytes)
                    }
                    Err(e) => Chunk::End(Err(e.to_string())),
                })
            }
        }
    }
}

/// One connection's rows, read as they arrive.
struct PartReader {
    source: Source,
    /// The spool file the bytes are also written to (the first pass of a source read again).
    tee: Option<std::fs::File>,
    label: String,
    /// `buf[start..]`: bytes received and not yet decoded.
    buf: Vec<u8>,
    start: usize,
    /// Whether the signature and header extension, and the end marker, have been read.
    started: bool,
    ended: bool,
    /// Every row is read.
    done: bool,
    /// The line the next row would start on in the server's CSV.
    line: u64,
    /// Bytes decoded.
    consumed: u64,
}

/// What the bytes at hand hold.
enum Step {
    Row,
    /// The end marker.
    End,
    /// Not a whole row yet.
    More,
}

impl PartReader {
    fn broken(&self, message: impl std::fmt::Display) -> Error {
        Error::Csv {
            source_name: self.label.clone(),
            line: self.line,
            message: format!("binary COPY: {message}"),
        }
    }

    /// Waits for more of the COPY; at its end, checks that it ended after a whole COPY.
    fn fill(&mut self) -> Result<()> {
        let chunk = self.source.next();
        if let (Some(Chunk::Bytes(bytes)), Some(tee)) = (&chunk, &mut self.tee) {
            if let Err(e) = tee.write_all(bytes) {
                return Err(self.broken(format!("writing its spool file: {e}")));
            }
        }
        match chunk {
            Some(Chunk::Bytes(bytes)) if self.start == self.buf.len() => {
                self.buf = bytes;
                self.start = 0;
            }
            Some(Chunk::Bytes(bytes)) => {
                self.buf.drain(..self.start);
                self.start = 0;
                self.buf.extend_from_slice(&bytes);
            }
            Some(Chunk::End(Ok(()))) if self.ended && self.start == self.buf.len() => self.done = true,
            Some(Chunk::End(Ok(()))) => return Err(self.broken("the stream ended before the COPY's end")),
            Some(Chunk::End(Err(message))) => return Err(self.broken(message)),
            None => return Err(self.broken("the COPY was stopped")),
        }
        Ok(())
    }

    /// Decodes the row (or end marker) at `buf[start..]` into `batch`, if it is whole.
    fn step(
        &mut self,
        batch: &mut TextBatch,
        fields: &[(Field, Decode, Parser)],
        as_text: &mut [bool],
    ) -> Result<Step> {
        if !self.started {
            let data = &self.buf[self.start..];
            if data.len() < SIGNATURE.len() + 8 {
                return Ok(Step::More);
            }
            if &data[..SIGNATURE.len()] != SIGNATURE {
                return Err(self.broken("the stream does not start with its signature"));
            }
            let Ok(extension) = usize::try_from(be_i32(&data[SIGNATURE.len() + 4..])) else {
                return Err(self.broken("a header extension of negative length"));
            };
            if data.len() < SIGNATURE.len() + 8 + extension {
                return Ok(Step::More);
            }
            self.started = true;
            self.advance(SIGNATURE.len() + 8 + extension);
        }
        let data = &self.buf[self.start..];
        let Some(count) = data.get(..2).map(be_i16) else { return Ok(Step::More) };
        if self.ended {
            return Err(self.broken("bytes after the end of the COPY"));
        }
        if count == -1 {
            self.ended = true;
            self.advance(2);
            return Ok(Step::End);
        }
        if count as usize != fields.len() {
            return Err(self.broken(format!("a row of {count} values, not {}", fields.len())));
        }
        // The row's extent: decoded only once it is whole.
        let mut p = 2;
        for _ in 0..fields.len() {
            let Some(len) = data.get(p..p + 4).map(be_i32) else { return Ok(Step::More) };
            p += 4 + len.max(0) as usize;
        }
        if p > data.len() {
            return Ok(Step::More);
        }
        let row = &data[..p];
        let newlines = loop {
            match decode_row(row, fields, as_text, batch) {
                Ok(newlines) => break newlines,
                Err(Refusal::Cannot(col)) => {
                    // A value the typed column cannot hold: the column is text for this batch.
                    batch.drop_partial_record();
                    batch.write_natives_as_text(|c, _| c != col);
                    as_text[col] = true;
                }
                Err(Refusal::Broken(message)) => {
                    batch.drop_partial_record();
                    return Err(self.broken(message));
                }
            }
        };
        batch.end_record(self.line);
        self.line += 1 + newlines;
        self.advance(p);
        Ok(Step::Row)
    }

    fn advance(&mut self, bytes: usize) {
        self.start += bytes;
        self.consumed += bytes as u64;
    }
}

/// Why a row was not decoded.
enum Refusal {
    /// Column `.0`'s value is not one its typed values can hold.
    Cannot(usize),
    Broken(String),
}

/// Decodes a whole row (its field count checked) into `batch`, columns `as_text` as text; the line
/// breaks in its text.
fn decode_row(
    row: &[u8],
    fields: &[(Field, Decode, Parser)],
    as_text: &[bool],
    batch: &mut TextBatch,
) -> std::result::Result<u64, Refusal> {
    let mut p = 2;
    let mut newlines = 0;
    for (col, &(field, decode, _)) in fields.iter().enumerate() {
        let len = be_i32(&row[p..]);
        p += 4;
        if len < 0 {
            if decode.typed() && !as_text[col] {
                batch.native_mut(col).push_null();
            }
            batch.push_field(b"");
            continue;
        }
        let v = &row[p..p + len as usize];
        p += len as usize;
        let size = |n: usize| {
            if v.len() == n {
                Ok(())
            } else {
                Err(Refusal::Broken(format!("a {field:?} value of {} bytes, not {n}", v.len())))
            }
        };
        let decode = if as_text[col] { Decode::Written(field) } else { decode };
        match decode {
            Decode::Int(n) => {
                size(n)?;
                let x = match n {
                    2 => i64::from(be_i16(v)),
                    4 => i64::from(be_i32(v)),
                    _ => be_i64(v),
                };
                batch.native_mut(col).push_i64(x);
            }
            Decode::Oid => {
                size(4)?;
                batch.native_mut(col).push_i64(i64::from(be_i32(v) as u32));
            }
            Decode::Float8 => {
                size(8)?;
                let x = f64::from_bits(be_i64(v) as u64);
                if !x.is_finite() {
                    return Err(Refusal::Cannot(col));
                }
                batch.native_mut(col).push_f64(x);
            }
            Decode::Bool => {
                size(1)?;
                batch.native_mut(col).push_bool(v[0] != 0);
            }
            Decode::Date => {
                size(4)?;
                let days = i64::from(be_i32(v));
                if !(FIRST_DAY..=LAST_DAY).contains(&days) {
                    return Err(Refusal::Cannot(col));
                }
                batch.native_mut(col).push_i64(days + EPOCH_DAYS);
            }
            Decode::Timestamp => {
                size(8)?;
                let micros = be_i64(v);
                if !(FIRST_DAY * MICROS_PER_DAY..(LAST_DAY + 1) * MICROS_PER_DAY).contains(&micros) {
                    return Err(Refusal::Cannot(col));
                }
                batch.native_mut(col).push_i64(micros + EPOCH_DAYS * MICROS_PER_DAY);
            }
            Decode::Text => {
                if !v.is_ascii() && std::str::from_utf8(v).is_err() {
                    return Err(Refusal::Broken(format!("column {} holds text that is not UTF-8", col + 1)));
                }
                newlines += memchr::memchr_iter(b'\n', v).count() as u64;
                batch.push_field(v);
                continue;
            }
            Decode::Written(field) => {
                write_text(field, v, batch.field_text()).map_err(Refusal::Broken)?;
                batch.end_field();
                continue;
            }
        }
        batch.push_field(b"");
    }
    Ok(newlines)
}

impl BatchReader for BinaryReader {
    fn columns(&self) -> &[String] {
        &self.columns
    }

    fn next_batch(&mut self, batch: &mut TextBatch, max_rows: usize) -> Result<bool> {
        batch.clear();
        self.as_text.fill(false);
        for (col, &(field, decode, _)) in self.fields.iter().enumerate() {
            let kind = decode.kind(field);
            if batch.native(col).map(|n| n.kind) != kind {
                batch.set_native(col, decode.native(field));
            }
        }
        // The next part with rows left: in turn, or the first.
        let from = if self.in_turn { self.current } else { 0 };
        let Some(index) =
            (0..self.parts.len()).map(|i| (from + i) % self.parts.len()).find(|&i| !self.parts[i].done)
        else {
            return Ok(false);
        };
        let part = &mut self.parts[index];
        while !part.done && !batch.is_full(max_rows) {
            match part.step(batch, &self.fields, &mut self.as_text)? {
                Step::Row | Step::End => {}
                Step::More => part.fill()?,
            }
        }
        (self.last, self.current) = (index, (index + 1) % self.parts.len());
        if batch.is_empty() {
            // This part ended where the last batch did: the next one's turn.
            return self.next_batch(batch, max_rows);
        }
        Ok(true)
    }

    fn bytes_read(&self) -> u64 {
        self.parts.iter().map(|p| p.consumed).sum()
    }

    fn part(&self) -> Option<(usize, &str)> {
        Some((self.last, &self.parts[self.last].label))
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

/// A value's text, as the server writes it.
fn write_text(field: Field, v: &[u8], out: &mut Vec<u8>) -> Result<(), String> {
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
                // Plain from 1e-4 up to the float's 6 decimal digits, as `float4out` writes it.
                None => write_float(float.format_finite(x), 6, out),
            }
        }
        Field::Float8 => {
            size(8)?;
            let x = f64::from_bits(be_i64(v) as u64);
            match special(x.is_nan(), x.is_infinite(), x < 0.0) {
                Some(text) => out.extend_from_slice(text),
                None => write_float(float.format_finite(x), 15, out),
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
        Field::Text => out.extend_from_slice(v),
    }
    Ok(())
}

/// A finite float's shortest digits (`ryu`'s text of it: `123.0`, `0.001`, `1.5e-7`) as PostgreSQL
/// writes them: plain when the exponent is from -4 to below `plain_below`, else `1.5e-07`, `1e+21`
/// (at least two exponent digits); `3`, not `3.0`; `-0`.
fn write_float(shortest: &str, plain_below: i32, out: &mut Vec<u8>) {
    let (negative, text) = match shortest.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, shortest),
    };
    let (mantissa, exponent) = match text.split_once('e') {
        Some((m, e)) => (m, e.parse::<i32>().expect("ryu's exponent")),
        None => (text, 0),
    };
    let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    // The digits without the zeros around them, and the power of ten of the first.
    let all: Vec<u8> = whole.bytes().chain(fraction.bytes()).collect();
    let Some(first) = all.iter().position(|&d| d != b'0') else {
        out.extend_from_slice(if negative { b"-0" } else { b"0" });
        return;
    };
    let last = all.iter().rposition(|&d| d != b'0').expect("a digit that is not 0");
    let digits = &all[first..=last];
    let power = whole.len() as i32 - 1 - first as i32 + exponent;
    if negative {
        out.push(b'-');
    }
    if (-4..plain_below).contains(&power) {
        if power < 0 {
            out.extend_from_slice(b"0.");
            out.extend(std::iter::repeat_n(b'0', (-power - 1) as usize));
            out.extend_from_slice(digits);
        } else {
            let whole = power as usize + 1;
            if digits.len() <= whole {
                out.extend_from_slice(digits);
                out.extend(std::iter::repeat_n(b'0', whole - digits.len()));
            } else {
                out.extend_from_slice(&digits[..whole]);
                out.push(b'.');
                out.extend_from_slice(&digits[whole..]);
            }
        }
        return;
    }
    out.push(digits[0]);
    if digits.len() > 1 {
        out.push(b'.');
        out.extend_from_slice(&digits[1..]);
    }
    out.push(b'e');
    out.push(if power < 0 { b'-' } else { b'+' });
    let shown = power.unsigned_abs();
    if shown < 10 {
        out.push(b'0');
    }
    out.extend_from_slice(itoa::Buffer::new().format(shown).as_bytes());
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transform::convert::convert_column;
    use crate::transform::{ColumnPlan, NullTokens};
    use polars::prelude::{AnyValue, Column, DataFrame};

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
        write_text(field, v, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    /// The source of one part whose COPY arrives in `pieces`, then ends.
    fn source(
        fields: &[(Field, Parser)],
        pieces: Vec<Vec<u8>>,
        end: Option<Result<(), String>>,
    ) -> BinaryParts {
        let (sender, chunks) = tokio::sync::mpsc::channel(pieces.len() + 1);
        for piece in pieces {
            sender.try_send(Chunk::Bytes(piece)).unwrap();
        }
        if let Some(end) = end {
            sender.try_send(Chunk::End(end)).unwrap();
        }
        let names: Vec<String> = (0..fields.len()).map(|i| format!("c{i}")).collect();
        let (f, p): (Vec<Field>, Vec<Parser>) = fields.iter().copied().unzip();
        BinaryParts::new(
            "pg".into(),
            &names,
            2,
            &f,
            &p,
            vec![Part { chunks, label: "pg (query)".into() }],
            None,
        )
    }

    /// Every batch of `source`, typed by `plans`, as one frame, with the lines of its rows.
    fn read_all(source: &BinaryParts, max_rows: usize) -> Result<(DataFrame, Vec<u64>)> {
        let mut reader = source.open()?;
        let mut batch = TextBatch::new(reader.columns().len());
        let (mut frame, mut lines) = (None::<DataFrame>, Vec::new());
        while reader.next_batch(&mut batch, max_rows)? {
            lines.extend((0..batch.len()).map(|r| batch.line(r)));
            let df = typed(&source.fields, &batch).map_err(Error::Internal)?;
            match &mut frame {
                None => frame = Some(df),
                Some(f) => {
                    f.vstack_mut(&df).unwrap();
                }
            }
        }
        Ok((frame.unwrap_or_default(), lines))
    }

    /// The batch typed with the pinned parsers (its typed columns taken as they are).
    fn typed(
        fields: &[(Field, Decode, Parser)],
        batch: &TextBatch,
    ) -> std::result::Result<DataFrame, String> {
        let columns = fields
            .iter()
            .enumerate()
            .map(|(col, &(_, _, parser))| {
                let plan = ColumnPlan { name: format!("c{col}"), parser, trim: false };
                convert_column(&plan, batch, col, &NullTokens::empty_only())
                    .map(|(c, _)| c)
                    .map_err(|b| b.message)
            })
            .collect::<std::result::Result<Vec<Column>, String>>()?;
        Ok(DataFrame::new(batch.len(), columns).unwrap())
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
        assert_eq!(text_of(Field::Date, &(FIRST_DAY as i32).to_be_bytes()), "0001-01-01");
        assert_eq!(text_of(Field::Date, &(FIRST_DAY as i32 - 1).to_be_bytes()), "0001-12-31 BC");
        assert_eq!(text_of(Field::Date, &(LAST_DAY as i32).to_be_bytes()), "9999-12-31");
        // 44 BC, the Ides of March (year -43 proleptic).
        assert_eq!(text_of(Field::Date, &(-746_117i32).to_be_bytes()), "0044-03-15 BC");
        let bc = (FIRST_DAY - 1) * MICROS_PER_DAY;
        assert_eq!(text_of(Field::TimestampTz, &bc.to_be_bytes()), "0001-12-31 00:00:00+00 BC");
        assert_eq!(text_of(Field::Date, &(LAST_DAY as i32 + 1).to_be_bytes()), "10000-01-01");
        assert_eq!(text_of(Field::Date, &i32::MAX.to_be_bytes()), "infinity");
        assert_eq!(text_of(Field::Float8, &0.1f64.to_bits().to_be_bytes()), "0.1");
        assert_eq!(text_of(Field::Float8, &f64::NAN.to_bits().to_be_bytes()), "NaN");
        assert_eq!(text_of(Field::Float8, &f64::NEG_INFINITY.to_bits().to_be_bytes()), "-Infinity");
        assert_eq!(text_of(Field::Float4, &0.1f32.to_bits().to_be_bytes()), "0.1");
        // As the server writes them (`SET extra_float_digits = 3; SELECT 1e-7::float8, ...`).
        let f8 = |x: f64| text_of(Field::Float8, &x.to_bits().to_be_bytes());
        let f4 = |x: f32| text_of(Field::Float4, &x.to_bits().to_be_bytes());
        let server = "1e-07|1e+21|3|123456789012345|1e+15|1e+16|0.0001|1e-05|1.5e+300|-0|5e-324|0.1|1e+10|1.6777216e+07|1e-05";
        let ours = [
            f8(1e-7),
            f8(1e21),
            f8(3.0),
            f8(123_456_789_012_345.0),
            f8(1e15),
            f8(1e16),
            f8(0.0001),
            f8(0.00001),
            f8(1.5e300),
            f8(-0.0),
            f8(5e-324),
            f4(0.1),
            f4(1e10),
            f4(16_777_216.0),
            f4(1e-5),
        ];
        assert_eq!(ours.join("|"), server);
        assert_eq!(
            [f8(-2.5), f8(0.30000000000000004), f8(-1234.5e-10)],
            ["-2.5", "0.30000000000000004", "-1.2345e-07"]
        );
        assert_eq!(text_of(Field::Float4, &f32::INFINITY.to_bits().to_be_bytes()), "Infinity");
        assert_eq!(text_of(Field::Int2, &(-32_768i16).to_be_bytes()), "-32768");
        assert_eq!(text_of(Field::Int8, &i64::MIN.to_be_bytes()), "-9223372036854775808");
        assert_eq!(text_of(Field::Oid, &u32::MAX.to_be_bytes()), "4294967295");
        assert_eq!(text_of(Field::Bool, &[1]), "true");
        assert_eq!(text_of(Field::Bool, &[0]), "false");
        assert_eq!(text_of(Field::Text, b"a,b\n"), "a,b\n");
        assert!(write_text(Field::Int4, &[0, 1], &mut Vec::new()).is_err());
    }

    /// Typed values are what the typing makes of the server's text of them: every kind, at the
    /// edges of what typed columns hold and at random, read once typed and once as text.
    #[test]
    fn typed_values_are_what_their_text_reads_as() {
        let iso = Parser::Date(DateFormat::Iso);
        let ts = |zone| Parser::Datetime(DatetimeFormat::ISO, zone);
        let kinds: Vec<(Field, Parser)> = vec![
            (Field::Int2, Parser::Int),
            (Field::Int4, Parser::Int),
            (Field::Int8, Parser::Int),
            (Field::Oid, Parser::Int),
            (Field::Float8, Parser::Float),
            (Field::Bool, Parser::Bool),
            (Field::Date, iso),
            (Field::Timestamp, ts(Zone::Naive)),
            (Field::TimestampTz, ts(Zone::Offset)),
        ];
        // A small generator (xorshift), the same values on every run.
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for &(field, parser) in &kinds {
            let mut values: Vec<Vec<u8>> = match field {
                Field::Int2 => vec![i16::MIN.to_be_bytes().to_vec(), i16::MAX.to_be_bytes().to_vec()],
                Field::Int4 | Field::Oid => {
                    vec![i32::MIN.to_be_bytes().to_vec(), (-1i32).to_be_bytes().to_vec()]
                }
                Field::Int8 => vec![i64::MIN.to_be_bytes().to_vec(), i64::MAX.to_be_bytes().to_vec()],
                Field::Float8 => [
                    0.0,
                    -0.0,
                    0.1 + 0.2,
                    1e21,
                    1e-7,
                    9_007_199_254_740_993.0,
                    123.0,
                    f64::MIN_POSITIVE,
                    5e-324,
                    f64::MAX,
                ]
                .iter()
                .map(|x: &f64| x.to_bits().to_be_bytes().to_vec())
                .collect(),
                Field::Bool => vec![vec![0], vec![1]],
                Field::Date => [FIRST_DAY, LAST_DAY, -1, 0, 59, -141_427]
                    .iter()
                    .map(|&d| (d as i32).to_be_bytes().to_vec())
                    .collect(),
                _ => [FIRST_DAY * MICROS_PER_DAY, (LAST_DAY + 1) * MICROS_PER_DAY - 1, -1, 0, 1]
                    .iter()
                    .map(|m: &i64| m.to_be_bytes().to_vec())
                    .collect(),
            };
            for _ in 0..2_000 {
                let r = next();
                values.push(match field {
                    Field::Int2 => (r as i16).to_be_bytes().to_vec(),
                    Field::Int4 | Field::Oid => (r as i32).to_be_bytes().to_vec(),
                    Field::Int8 => (r as i64).to_be_bytes().to_vec(),
                    // Random bits, and random numbers of a few digits.
                    Field::Float8 if r % 2 == 0 => {
                        let x = f64::from_bits(next());
                        (if x.is_finite() { x } else { 1.5 }).to_bits().to_be_bytes().to_vec()
                    }
                    Field::Float8 => ((r >> 11) as f64 / 1e4 * if r & 1 == 1 { -1.0 } else { 1.0 })
                        .to_bits()
                        .to_be_bytes()
                        .to_vec(),
                    Field::Bool => vec![(r % 2) as u8],
                    Field::Date => ((FIRST_DAY + (r % (LAST_DAY - FIRST_DAY + 1) as u64) as i64) as i32)
                        .to_be_bytes()
                        .to_vec(),
                    _ => {
                        let span = ((LAST_DAY + 1 - FIRST_DAY) * MICROS_PER_DAY) as u64;
                        (FIRST_DAY * MICROS_PER_DAY + (r % span) as i64).to_be_bytes().to_vec()
                    }
                });
            }
            let rows: Vec<Vec<Option<Vec<u8>>>> = values.iter().map(|v| vec![Some(v.clone())]).collect();
            let typed_source = source(&[(field, parser)], vec![copy_of(&rows)], Some(Ok(())));
            let (typed, _) = read_all(&typed_source, 4096).unwrap();
            // The same values as the server's text, through the text typing.
            let mut batch = TextBatch::new(1);
            for v in &values {
                batch.push([text_of(field, v).as_bytes()], 2);
            }
            let plan = ColumnPlan { name: "c0".into(), parser, trim: false };
            let (text, _) = convert_column(&plan, &batch, 0, &NullTokens::empty_only()).unwrap();
            let typed = typed.column("c0").unwrap();
            assert_eq!(typed.dtype(), text.dtype(), "{field:?}");
            for (row, v) in values.iter().enumerate() {
                let (a, b) = (typed.get(row).unwrap(), text.get(row).unwrap());
                let same = match (&a, &b) {
                    (AnyValue::Float64(x), AnyValue::Float64(y)) => x.to_bits() == y.to_bits(),
                    _ => a == b,
                };
                assert!(same, "{field:?} {:?}: typed {a:?}, from text {b:?}", text_of(field, v));
            }
        }
    }

    #[test]
    fn rows_are_read_whichever_way_the_stream_is_cut() {
        let copy = copy_of(&[
            vec![Some(7i32.to_be_bytes().to_vec()), Some(b"x,\ny".to_vec()), None],
            vec![None, Some(Vec::new()), Some(vec![1])],
            vec![Some((-2i32).to_be_bytes().to_vec()), Some("é".as_bytes().to_vec()), Some(vec![0])],
        ]);
        let fields = [(Field::Int4, Parser::Int), (Field::Text, Parser::Text), (Field::Bool, Parser::Bool)];
        for cut in 1..copy.len() {
            for max_rows in [1, 2, 100] {
                let s = source(&fields, copy.chunks(cut).map(<[u8]>::to_vec).collect(), Some(Ok(())));
                let (df, lines) = read_all(&s, max_rows).unwrap();
                // The line each row would start on in the server's CSV (a line break in a text adds one).
                assert_eq!(lines, [2, 4, 5], "cut every {cut} bytes");
                let ints: Vec<Option<i64>> = df.column("c0").unwrap().i64().unwrap().iter().collect();
                assert_eq!(ints, [Some(7), None, Some(-2)]);
                let texts: Vec<Option<&str>> = df.column("c1").unwrap().str().unwrap().iter().collect();
                assert_eq!(texts, [Some("x,\ny"), None, Some("é")], "empty text is null, as from the CSV");
                let bools: Vec<Option<bool>> = df.column("c2").unwrap().bool().unwrap().iter().collect();
                assert_eq!(bools, [None, Some(true), Some(false)]);
            }
        }
        // Cut short, stopped, failed: an error, never a silent end.
        let short = source(&fields, vec![copy[..copy.len() - 5].to_vec()], Some(Ok(())));
        assert!(read_all(&short, 100).unwrap_err().to_string().contains("ended before the COPY's end"));
        let stopped = source(&fields, vec![copy.clone()], None);
        assert!(read_all(&stopped, 100).unwrap_err().to_string().contains("the COPY was stopped"));
        let failed = source(&fields, vec![copy.clone()], Some(Err("server closed".into())));
        assert!(read_all(&failed, 100).unwrap_err().to_string().contains("server closed"));
        // A row of the wrong width; text that is not UTF-8.
        let narrow = source(&fields[..1], vec![copy.clone()], Some(Ok(())));
        assert!(read_all(&narrow, 100).unwrap_err().to_string().contains("a row of 3 values, not 1"));
        let latin = copy_of(&[vec![Some(vec![1]), Some(b"caf\xe9".to_vec()), None]]);
        let latin = source(
            &[(Field::Bool, Parser::Bool), (Field::Text, Parser::Text), (Field::Int8, Parser::Int)],
            vec![latin],
            Some(Ok(())),
        );
        assert!(read_all(&latin, 100).unwrap_err().to_string().contains("not UTF-8"));
        // Read once: every column is pinned, so nothing reads it twice.
        let once = source(&fields, vec![copy], Some(Ok(())));
        let _ = once.open().unwrap();
        assert!(once.open().is_err());
    }

    /// Two connections' batches take turns (so that both COPYs stream at once), in the same order
    /// whenever the rows are the same; messages name each batch's own part and its lines.
    #[test]
    fn the_parts_batches_take_turns() {
        let rows = |ids: std::ops::Range<i64>| {
            copy_of(&ids.map(|i| vec![Some(i.to_be_bytes().to_vec())]).collect::<Vec<_>>())
        };
        let part = |copy: Vec<u8>, label: &str| {
            let (sender, chunks) = tokio::sync::mpsc::channel(4);
            for piece in copy.chunks(7) {
                sender.try_send(Chunk::Bytes(piece.to_vec())).ok();
            }
            (sender, Part { chunks, label: label.into() })
        };
        let (first, a) = part(rows(1..6), "pg (query, part 1 of 2)");
        let (second, b) = part(rows(101..104), "pg (query, part 2 of 2)");
        // The rest of each COPY arrives later, from elsewhere, as a connection's would.
        let feed = |sender: tokio::sync::mpsc::Sender<Chunk>, copy: Vec<u8>| {
            std::thread::spawn(move || {
                for piece in copy.chunks(7).skip(4) {
                    sender.blocking_send(Chunk::Bytes(piece.to_vec())).unwrap();
                }
                sender.blocking_send(Chunk::End(Ok(()))).unwrap();
            })
        };
        let feeders = [feed(first, rows(1..6)), feed(second, rows(101..104))];
        let s = BinaryParts::new(
            "pg".into(),
            &["id".into()],
            2,
            &[Field::Int8],
            &[Parser::Int],
            vec![a, b],
            None,
        );
        let mut reader = s.open().unwrap();
        let mut batch = TextBatch::new(1);
        let mut seen = Vec::new();
        while reader.next_batch(&mut batch, 2).unwrap() {
            let Some(Native { values: Values::I64(ids), .. }) = batch.native(0) else { panic!("typed") };
            let (_, label) = reader.part().unwrap();
            seen.push((label.to_owned(), ids.clone(), batch.line(0)));
        }
        let (one, two) = ("pg (query, part 1 of 2)".to_owned(), "pg (query, part 2 of 2)".to_owned());
        assert_eq!(
            seen,
            [
                (one.clone(), vec![1, 2], 2),
                (two.clone(), vec![101, 102], 2),
                (one.clone(), vec![3, 4], 4),
                (two, vec![103], 4),
                (one, vec![5], 6),
            ]
        );
        for feeder in feeders {
            feeder.join().unwrap();
        }
    }

    /// A value typed columns cannot hold makes its column text for that batch (the server's text, as
    /// the typing refuses it); the next batch is typed again.
    #[test]
    fn a_value_typed_columns_cannot_hold_is_text_for_its_batch() {
        let ts = Parser::Datetime(DatetimeFormat::ISO, Zone::Offset);
        let micros = |m: i64| Some(m.to_be_bytes().to_vec());
        let copy = copy_of(&[
            vec![micros(0), Some(1.5f64.to_bits().to_be_bytes().to_vec())],
            vec![micros(i64::MAX), Some(f64::NAN.to_bits().to_be_bytes().to_vec())],
            vec![micros(1_000_000), None],
        ]);
        let fields = [(Field::TimestampTz, ts), (Field::Float8, Parser::Float)];
        let s = source(&fields, vec![copy.clone()], Some(Ok(())));
        let mut reader = s.open().unwrap();
        let mut batch = TextBatch::new(2);
        assert!(reader.next_batch(&mut batch, 2).unwrap());
        assert!(batch.native(0).is_none() && batch.native(1).is_none());
        assert_eq!([batch.text(0, 0), batch.text(1, 0)], ["2000-01-01 00:00:00+00", "infinity"]);
        assert_eq!([batch.text(0, 1), batch.text(1, 1)], ["1.5", "NaN"]);
        assert!(reader.next_batch(&mut batch, 2).unwrap());
        assert!(batch.native(0).is_some() && batch.native(1).is_some(), "typed again");
        assert_eq!(batch.line(0), 4);
        assert!(!reader.next_batch(&mut batch, 2).unwrap());
        // Typed, the refusal is the one the text gets.
        let s = source(&fields, vec![copy], Some(Ok(())));
        let message = read_all(&s, 100).unwrap_err().to_string();
        assert!(message.contains("\"infinity\" is not"), "{message}");
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
