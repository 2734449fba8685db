//! JSON records as a source. Nested objects are flattened to `parent.child` columns; arrays (and empty
//! objects) are kept as their JSON text. Records are spooled to a local file of JSON lines as they
//! arrive (never held in memory), with each column's JSON kinds, which decide its type:
//!
//! | values of the column | type |
//! |---|---|
//! | `true` / `false` | Boolean |
//! | integers | Int64; Decimal past 64 bits |
//! | numbers with a fraction or exponent (and integers up to 2^53) | Float64 |
//! | strings | dates and timestamps as CSV infers them, else String (`"123"` stays text) |
//! | arrays, objects, or a mix of kinds | String (the JSON text) |
//!
//! `null` is null, and so is a missing key. An array field may instead be exploded: one record per
//! element, its objects flattened under the field's name (`items.sku`), the other fields repeated.

use std::collections::HashMap;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::{Map, Value};

use super::{BatchReader, Extract, SourceInfo};
use crate::batch::TextBatch;
use crate::error::{Error, Result};
use crate::transform::{Parser, Pins};

const BOOL: u8 = 1;
const INT: u8 = 1 << 1;
/// An integer past 2^53 (a Float64 would round it).
const WIDE: u8 = 1 << 2;
/// An integer past 64 bits.
const BIG: u8 = 1 << 3;
/// An integer past 38 digits (more than a Decimal holds).
const HUGE: u8 = 1 << 7;
const FLOAT: u8 = 1 << 4;
const STRING: u8 = 1 << 5;
const JSON: u8 = 1 << 6;

/// The JSON kinds of one value (`0` for null).
fn kind_of(value: &Value) -> u8 {
    match value {
        Value::Null => 0,
        Value::Bool(_) => BOOL,
        Value::Number(n) => kind_of_number(n.as_str()),
        Value::String(_) => STRING,
        Value::Array(_) | Value::Object(_) => JSON,
    }
}

/// The JSON kinds of a number written `text`.
fn kind_of_number(text: &str) -> u8 {
    if text.contains(['.', 'e', 'E']) {
        FLOAT
    } else {
        match text.parse::<i64>() {
            Ok(i) if i.unsigned_abs() > 1 << 53 => INT | WIDE,
            Ok(_) => INT,
            Err(_) if text.trim_start_matches('-').len() > 38 => INT | WIDE | BIG | HUGE,
            Err(_) => INT | WIDE | BIG,
        }
    }
}

/// Writes `value` as the text field the typing reads into `out` (cleared first); see [`text_of`].
fn write_text(value: &Value, out: &mut Vec<u8>) {
    out.clear();
    match value {
        Value::Null => {}
        Value::String(s) => out.extend_from_slice(s.as_bytes()),
        Value::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::Number(n) => out.extend_from_slice(n.as_str().as_bytes()),
        other => serde_json::to_writer(&mut *out, other).expect("JSON to memory"),
    }
}

/// How a column typed by its kinds is pinned (`None`: inferred among dates and timestamps, or all null).
fn parser_of(kinds: u8) -> Option<Parser> {
    Some(match kinds {
        0 | STRING => return None,
        BOOL => Parser::Bool,
        k if k & HUGE != 0 => Parser::Text,
        k if k & !(INT | WIDE) == 0 => Parser::Int,
        k if k & !(INT | WIDE | BIG) == 0 => Parser::Decimal,
        k if k & !(INT | FLOAT) == 0 => Parser::Float,
        _ => Parser::Text,
    })
}

/// `record`'s leaves under their flattened names, in document order.
pub fn flatten(record: &Map<String, Value>) -> Vec<(String, &Value)> {
    fn walk<'a>(prefix: &str, map: &'a Map<String, Value>, out: &mut Vec<(String, &'a Value)>) {
        for (key, value) in map {
            let name = if prefix.is_empty() { key.clone() } else { format!("{prefix}.{key}") };
            match value {
                Value::Object(inner) if !inner.is_empty() => walk(&name, inner, out),
                leaf => out.push((name, leaf)),
            }
        }
    }
    let mut out = Vec::new();
    walk("", record, &mut out);
    out
}

/// Records being written to a spool file. Each record is its leaves as `(column, text)` pairs, the
/// column a little-endian `u32` (its number in first-seen order), the text a `u32` length and its
/// bytes, then [`END_OF_RECORD`]: read back with no JSON to parse again.
pub struct Spool {
    path: PathBuf,
    out: BufWriter<std::fs::File>,
    columns: Vec<String>,
    index: HashMap<String, usize>,
    kinds: Vec<u8>,
    /// Per column, the record (1-based) that last gave it a value: two leaves of one record that
    /// flatten to the same name are an error.
    last_set: Vec<u64>,
    records: u64,
    /// The field whose highest value is kept (an incremental load's checkpoint), and that value.
    tracked: Option<(String, Option<String>)>,
    /// The checkpoint: a record whose tracked field is at or before it was loaded by an earlier run
    /// and is dropped ([`Spool::after`]).
    after: Option<String>,
    /// Whether records at the checkpoint are kept (a key upserts them).
    keep_equal: bool,
    /// The record being spooled: its bytes, the kinds of its leaves, its tracked field's value. It
    /// is written out when it ends, unless dropped.
    pending: Vec<u8>,
    pending_kinds: Vec<(usize, u8)>,
    pending_value: Option<String>,
    /// Records seen, dropped ones included (numbers records in messages).
    seen: u64,
    /// Records dropped for being at (first) or before (second) the checkpoint.
    dropped: (u64, u64),
    /// The array field exploded into one record per element.
    explode: Option<String>,
    /// The flattened name being walked, and the text of the leaf being written.
    name: String,
    text: Vec<u8>,
}

/// A leaf of a record as a parser meets it: null, a boolean, a number as written, a string, or the
/// JSON text of an array or an empty object.
#[derive(Debug, Clone, Copy)]
pub enum Leaf<'a> {
    Null,
    Bool(bool),
    Number(&'a str),
    Str(&'a str),
    Json(&'a str),
}

/// Ends a record in the spool file.
const END_OF_RECORD: u32 = u32::MAX;

/// Whether the value written `a` comes after the one written `b`: integers exactly, other numbers by
/// value, ISO 8601 timestamps and dates by instant (whatever their offsets and fractions), anything
/// else by text.
pub fn later_text(a: &str, b: &str) -> bool {
    use crate::transform::values::{DateFormat, DatetimeFormat};
    if let (Ok(x), Ok(y)) = (a.parse::<i128>(), b.parse::<i128>()) {
        return x > y;
    }
    if let (Ok(x), Ok(y)) = (a.parse::<f64>(), b.parse::<f64>()) {
        return x > y;
    }
    let instant = |v: &str| {
        DatetimeFormat::ISO
            .parse(v.as_bytes())
            .map(|t| t.micros)
            .or_else(|| DateFormat::Iso.parse(v.as_bytes()).map(|d| i64::from(d) * 86_400_000_000))
    };
    match (instant(a), instant(b)) {
        (Some(x), Some(y)) => x > y,
        _ => a > b,
    }
}

impl Spool {
    /// Keeps the highest value of the flattened field `name` (see [`JsonRecords::highest`]).
    pub fn track(mut self, name: &str) -> Self {
        self.tracked = Some((name.to_owned(), None));
        self
    }

    /// Drops the records whose tracked field is before `checkpoint`, or at it unless `keep_equal`
    /// (an earlier run loaded them: an API that ignores its since-parameter would have them appended
    /// again every run). Records at the checkpoint are kept where a key upserts them: one updated
    /// upstream within the checkpoint's second is not lost.
    pub fn after(mut self, checkpoint: Option<String>, keep_equal: bool) -> Self {
        self.after = checkpoint;
        self.keep_equal = keep_equal;
        self
    }

    /// A new spool file at `path`.
    pub fn create(path: &Path) -> Result<Self> {
        let file = std::fs::File::create(path).map_err(|e| Error::io(path, e))?;
        Ok(Spool {
            path: path.to_owned(),
            out: BufWriter::with_capacity(1 << 20, file),
            columns: Vec::new(),
            index: HashMap::new(),
            kinds: Vec::new(),
            last_set: Vec::new(),
            records: 0,
            tracked: None,
            after: None,
            keep_equal: false,
            pending: Vec::new(),
            pending_kinds: Vec::new(),
            pending_value: None,
            seen: 0,
            dropped: (0, 0),
            explode: None,
            name: String::new(),
            text: Vec::new(),
        })
    }

    /// Records spooled so far.
    pub fn records(&self) -> u64 {
        self.records
    }

    /// Adds one record: an object (anything else is an error naming what it is). After an error
    /// the spool holds part of the refused record: the load it was for stops.
    pub fn push(&mut self, record: &Value) -> std::result::Result<(), String> {
        let Value::Object(map) = record else {
            return Err(format!("a record is {}, not an object", describe(record)));
        };
        if self.explode.is_none() {
            // The common path: leaves written as they are walked, no name allocated but new ones.
            self.name.clear();
            self.walk(map)?;
            return self.end_record();
        }
        let leaves = flatten(map);
        // An exploded array gives one record per element (and one, with nothing there, when empty).
        let exploded = self.explode.as_ref().and_then(|field| {
            leaves.iter().position(|(name, v)| name == field && v.is_array()).map(|i| (field.clone(), i))
        });
        let Some((field, at)) = exploded else { return self.push_leaves(leaves) };
        let items = leaves[at].1.as_array().expect("an array").clone();
        let mut rest = leaves;
        rest.remove(at);
        if items.is_empty() {
            return self.push_leaves(rest);
        }
        for item in &items {
            let mut one = rest.clone();
            match item {
                Value::Object(inner) if !inner.is_empty() => {
                    one.extend(flatten(inner).into_iter().map(|(k, v)| (format!("{field}.{k}"), v)))
                }
                other => one.push((field.clone(), other)),
            }
            self.push_leaves(one)?;
        }
        Ok(())
    }

    /// Explodes the array at the flattened field `name`: one record per element (see the module).
    pub fn exploding(mut self, name: &str) -> Self {
        self.explode = Some(name.to_owned());
        self
    }

    /// Writes the leaves of `map`, under the name being walked.
    fn walk(&mut self, map: &Map<String, Value>) -> std::result::Result<(), String> {
        for (key, value) in map {
            let at = self.name.len();
            if at > 0 {
                self.name.push('.');
            }
            self.name.push_str(key);
            match value {
                Value::Object(inner) if !inner.is_empty() => self.walk(inner)?,
                leaf => {
                    let col = self.column_of_name();
                    self.leaf(col, leaf)?;
                }
            }
            self.name.truncate(at);
        }
        Ok(())
    }

    /// The column of the name being walked, made when it is new.
    fn column_of_name(&mut self) -> usize {
        if let Some(&col) = self.index.get(self.name.as_str()) {
            return col;
        }
        self.columns.push(self.name.clone());
        self.kinds.push(0);
        self.last_set.push(0);
        self.index.insert(self.name.clone(), self.columns.len() - 1);
        self.columns.len() - 1
    }

    /// Writes one leaf of the record being spooled.
    fn leaf(&mut self, col: usize, value: &Value) -> std::result::Result<(), String> {
        let mut text = std::mem::take(&mut self.text);
        write_text(value, &mut text);
        let written = self.write_leaf(col, kind_of(value), (!value.is_null()).then_some(&text[..]));
        self.text = text;
        written
    }

    /// Writes one leaf of kinds `kinds` and text `text` (`None`: null) in column `col`.
    fn write_leaf(&mut self, col: usize, kinds: u8, text: Option<&[u8]>) -> std::result::Result<(), String> {
        let record = self.seen + 1;
        if self.last_set[col] == record {
            let name = &self.columns[col];
            return Err(format!(
                "record {record}: a key `{name}` and a nested key make the same column `{name}`"
            ));
        }
        self.last_set[col] = record;
        self.pending_kinds.push((col, kinds));
        let Some(text) = text else { return Ok(()) };
        if let Some((field, _)) = &self.tracked {
            if *field == self.columns[col] {
                self.pending_value = Some(String::from_utf8_lossy(text).into_owned());
            }
        }
        self.pending.extend_from_slice(&(col as u32).to_le_bytes());
        self.pending.extend_from_slice(&(text.len() as u32).to_le_bytes());
        self.pending.extend_from_slice(text);
        Ok(())
    }

    /// Whether records may be handed over as they are parsed ([`Spool::begin`] ... [`Spool::end`])
    /// rather than whole (an exploded field needs the whole record).
    pub fn streams(&self) -> bool {
        self.explode.is_none()
    }

    /// A record handed over as it is parsed begins.
    pub fn begin(&mut self) {
        self.name.clear();
    }

    /// Steps into `key`; returns where to step back to ([`Spool::step_out`]).
    pub fn step_in(&mut self, key: &str) -> usize {
        let at = self.name.len();
        if at > 0 {
            self.name.push('.');
        }
        self.name.push_str(key);
        at
    }

    /// Steps back out of a key.
    pub fn step_out(&mut self, at: usize) {
        self.name.truncate(at);
    }

    /// The leaf at the key stepped into.
    pub fn leaf_here(&mut self, leaf: Leaf<'_>) -> std::result::Result<(), String> {
        let col = self.column_of_name();
        match leaf {
            Leaf::Null => self.write_leaf(col, 0, None),
            Leaf::Bool(b) => self.write_leaf(col, BOOL, Some(if b { b"true" } else { b"false" })),
            Leaf::Number(text) => self.write_leaf(col, kind_of_number(text), Some(text.as_bytes())),
            Leaf::Str(text) => self.write_leaf(col, STRING, Some(text.as_bytes())),
            Leaf::Json(text) => self.write_leaf(col, JSON, Some(text.as_bytes())),
        }
    }

    /// A record handed over as it is parsed ends.
    pub fn end(&mut self) -> std::result::Result<(), String> {
        self.end_record()
    }

    fn end_record(&mut self) -> std::result::Result<(), String> {
        self.seen += 1;
        let value = self.pending_value.take();
        if let (Some(after), Some(value)) = (&self.after, &value) {
            let before = later_text(after, value);
            if before || (!self.keep_equal && !later_text(value, after)) {
                if before {
                    self.dropped.1 += 1;
                } else {
                    self.dropped.0 += 1;
                }
                self.pending.clear();
                self.pending_kinds.clear();
                return Ok(());
            }
        }
        for (col, kinds) in self.pending_kinds.drain(..) {
            self.kinds[col] |= kinds;
        }
        if let (Some((_, highest)), Some(value)) = (&mut self.tracked, value) {
            if highest.as_deref().is_none_or(|h| later_text(&value, h)) {
                *highest = Some(value);
            }
        }
        self.out.write_all(&self.pending).map_err(|e| e.to_string())?;
        self.pending.clear();
        self.out.write_all(&END_OF_RECORD.to_le_bytes()).map_err(|e| e.to_string())?;
        self.records += 1;
        Ok(())
    }

    fn push_leaves(&mut self, leaves: Vec<(String, &Value)>) -> std::result::Result<(), String> {
        for (name, value) in leaves {
            self.name = name;
            let col = self.column_of_name();
            self.leaf(col, value)?;
        }
        self.end_record()
    }

    /// Closes the spool; the records are a source of kind `kind` named `name`.
    pub fn finish(mut self, kind: &'static str, name: String) -> Result<JsonRecords> {
        self.out.flush().map_err(|e| Error::io(&self.path, e))?;
        Ok(JsonRecords {
            path: self.path,
            kind,
            name,
            columns: Arc::new(self.columns),
            kinds: self.kinds,
            records: self.records,
            highest: self.tracked.and_then(|(_, h)| h),
            dropped: self.dropped,
        })
    }
}

/// What a JSON value is, for messages.
pub fn describe(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Spooled records: a source that can be read as often as the typing needs.
pub struct JsonRecords {
    path: PathBuf,
    kind: &'static str,
    name: String,
    columns: Arc<Vec<String>>,
    kinds: Vec<u8>,
    records: u64,
    highest: Option<String>,
    /// Records dropped for being at (first) or before (second) the checkpoint ([`Spool::after`]).
    dropped: (u64, u64),
}

impl JsonRecords {
    /// The highest value of the tracked field (see [`Spool::track`]), as text.
    pub fn highest(&self) -> Option<&str> {
        self.highest.as_deref()
    }

    /// Records left out for being at (first) or before (second) the checkpoint.
    pub fn dropped(&self) -> (u64, u64) {
        self.dropped
    }

    /// Number of records.
    pub fn records(&self) -> u64 {
        self.records
    }

    /// The columns, in the order their keys first appeared.
    pub fn columns(&self) -> &[String] {
        &self.columns
    }

    /// These records with `columns` added where they lack them (null in every record): an append
    /// keeps the dataset's columns even when no new record has a value for one.
    pub fn with_columns(mut self, columns: &[String]) -> Self {
        let mut all = (*self.columns).clone();
        for name in columns {
            if !all.contains(name) {
                all.push(name.clone());
                self.kinds.push(0);
            }
        }
        self.columns = Arc::new(all);
        self
    }

    /// The types the JSON kinds give (see the module's table), under `pins` (which win).
    pub fn pins(&self, pins: &Pins) -> Pins {
        let mut own = Pins::none();
        for (name, kinds) in self.columns.iter().zip(&self.kinds) {
            own = match parser_of(*kinds) {
                Some(parser) => own.pin(name, parser),
                None if *kinds == STRING => own.temporal_or_text(name),
                None => own,
            };
        }
        own.overridden_by(pins)
    }
}

impl Extract for JsonRecords {
    fn info(&self) -> SourceInfo {
        SourceInfo { kind: self.kind, location: self.name.clone() }
    }

    fn open(&self) -> Result<Box<dyn BatchReader>> {
        let file = std::fs::File::open(&self.path).map_err(|e| Error::io(&self.path, e))?;
        Ok(Box::new(JsonReader {
            path: self.path.clone(),
            input: BufReader::with_capacity(1 << 20, file),
            columns: self.columns.clone(),
            record: 0,
            bytes: 0,
            fields: vec![Vec::new(); self.columns.len()],
            set: Vec::new(),
        }))
    }
}

/// A pass over spooled records; a batch's "line" is the record's number (1-based).
struct JsonReader {
    path: PathBuf,
    input: BufReader<std::fs::File>,
    columns: Arc<Vec<String>>,
    record: u64,
    bytes: u64,
    fields: Vec<Vec<u8>>,
    /// The columns the record being read set (cleared after it).
    set: Vec<usize>,
}

impl JsonReader {
    /// The next `u32` of the spool, `None` at its end (which must fall between records).
    fn word(&mut self) -> Result<Option<u32>> {
        let mut word = [0u8; 4];
        match self.input.read_exact(&mut word) {
            Ok(()) => {
                self.bytes += 4;
                Ok(Some(u32::from_le_bytes(word)))
            }
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Ok(None),
            Err(e) => Err(Error::io(&self.path, e)),
        }
    }

    fn cut(&self) -> Error {
        Error::Internal(format!(
            "{}: the spooled records end inside record {}",
            self.path.display(),
            self.record + 1
        ))
    }
}

impl BatchReader for JsonReader {
    fn columns(&self) -> &[String] {
        &self.columns
    }

    fn next_batch(&mut self, batch: &mut TextBatch, max_rows: usize) -> Result<bool> {
        batch.clear();
        'records: while !batch.is_full(max_rows) {
            for col in self.set.drain(..) {
                self.fields[col].clear();
            }
            let mut started = false;
            loop {
                let Some(col) = self.word()? else {
                    if started {
                        return Err(self.cut());
                    }
                    break 'records;
                };
                started = true;
                if col == END_OF_RECORD {
                    break;
                }
                let len = self.word()?.ok_or_else(|| self.cut())? as usize;
                let col = col as usize;
                let field = &mut self.fields[col];
                field.resize(len, 0);
                self.input.read_exact(field).map_err(|_| self.cut())?;
                self.bytes += len as u64;
                self.set.push(col);
            }
            self.record += 1;
            batch.push(self.fields.iter().map(Vec::as_slice), self.record);
        }
        Ok(!batch.is_empty())
    }

    fn bytes_read(&self) -> u64 {
        self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A value as the text field the typing reads (what the spool writes).
    fn text_of(value: &Value) -> String {
        let mut out = Vec::new();
        write_text(value, &mut out);
        String::from_utf8(out).unwrap()
    }
    use serde_json::json;

    #[test]
    fn flattens_objects_and_keeps_arrays_as_text() {
        let record =
            json!({"id": 1, "user": {"name": "a", "geo": {"lat": 1.5}}, "tags": ["x", "y"], "empty": {}});
        let flat: Vec<(String, String)> =
            flatten(record.as_object().unwrap()).into_iter().map(|(k, v)| (k, text_of(v))).collect();
        let want = [
            ("id", "1"),
            ("user.name", "a"),
            ("user.geo.lat", "1.5"),
            ("tags", r#"["x","y"]"#),
            ("empty", "{}"),
        ];
        assert_eq!(flat, want.map(|(a, b)| (a.to_owned(), b.to_owned())));
    }

    #[test]
    fn kinds_decide_types() {
        let kinds = |values: &[Value]| values.iter().fold(0, |k, v| k | kind_of(v));
        let parser = |values: &[Value]| parser_of(kinds(values));
        assert_eq!(parser(&[json!(1), json!(null), json!(-3)]), Some(Parser::Int));
        assert_eq!(parser(&[json!(1), json!(2.5)]), Some(Parser::Float));
        assert_eq!(parser(&[json!(true), json!(false)]), Some(Parser::Bool));
        assert_eq!(parser(&[json!("2026-01-01"), json!("x")]), None, "strings: dates or text");
        assert_eq!(parser(&[json!("1"), json!(2)]), Some(Parser::Text), "a mix is text");
        assert_eq!(parser(&[json!([1])]), Some(Parser::Text));
        let big: Value = serde_json::from_str("123456789012345678901234567890").unwrap();
        assert_eq!(text_of(&big), "123456789012345678901234567890", "digits kept exactly");
        assert_eq!(parser(&[big.clone(), json!(1)]), Some(Parser::Decimal));
        assert_eq!(parser(&[big, json!(1.5)]), Some(Parser::Text));
        let wide: Value = serde_json::from_str("9007199254740993").unwrap();
        assert_eq!(parser(std::slice::from_ref(&wide)), Some(Parser::Int));
        assert_eq!(parser(&[wide, json!(0.5)]), Some(Parser::Text), "a Float64 would round it");
        assert_eq!(parser(&[json!(null)]), None);
        let huge: Value = serde_json::from_str(&"9".repeat(40)).unwrap();
        assert_eq!(parser(&[huge]), Some(Parser::Text), "past 38 digits: text, every digit kept");
    }

    #[test]
    fn spools_and_reads_back_in_first_seen_column_order() {
        let dir = tempfile::tempdir().unwrap();
        let mut spool = Spool::create(&dir.path().join("s.jsonl")).unwrap();
        spool.push(&json!({"a": 1, "b": {"c": "x"}})).unwrap();
        spool.push(&json!({"d": true, "a": 2})).unwrap();
        assert!(spool.push(&json!([1])).unwrap_err().contains("an array"));
        // (A refused record ends the load: the spool is not read after one.)
        let mut other = Spool::create(&dir.path().join("t.jsonl")).unwrap();
        let clash = other.push(&json!({"a.b": 1, "a": {"b": 2}})).unwrap_err();
        assert!(clash.contains("same column `a.b`"), "{clash}");
        let records = spool.finish("api", "test".into()).unwrap();
        assert_eq!(records.columns(), ["a", "b.c", "d"]);
        let mut reader = records.open().unwrap();
        let mut batch = TextBatch::new(3);
        assert!(reader.next_batch(&mut batch, 10).unwrap());
        assert_eq!((batch.text(0, 0), batch.text(0, 1), batch.text(0, 2)), ("1", "x", ""));
        assert_eq!((batch.text(1, 0), batch.text(1, 1), batch.text(1, 2)), ("2", "", "true"));
        assert_eq!(batch.line(1), 2);
        let pins = records.pins(&Pins::none());
        assert_eq!(pins.get("a"), Some(Parser::Int));
        assert_eq!(pins.get("d"), Some(Parser::Bool));
        assert_eq!(pins.get("b.c"), None);
        assert!(pins.is_temporal("b.c"));
    }

    #[test]
    fn explodes_an_array_into_records() {
        let dir = tempfile::tempdir().unwrap();
        let mut spool = Spool::create(&dir.path().join("s.jsonl")).unwrap().exploding("lines");
        spool.push(&json!({"order": 1, "lines": [{"sku": "a", "qty": 2}, {"sku": "b", "qty": 1}]})).unwrap();
        spool.push(&json!({"order": 2, "lines": []})).unwrap();
        spool.push(&json!({"order": 3, "lines": ["x"]})).unwrap();
        let records = spool.finish("api", "t".into()).unwrap();
        assert_eq!(records.records(), 4);
        assert_eq!(records.columns(), ["order", "lines.sku", "lines.qty", "lines"]);
        let mut batch = TextBatch::new(4);
        records.open().unwrap().next_batch(&mut batch, 10).unwrap();
        let row = |r: usize| (0..4).map(|c| batch.text(r, c).to_owned()).collect::<Vec<_>>();
        assert_eq!(row(0), ["1", "a", "2", ""]);
        assert_eq!(row(1), ["1", "b", "1", ""]);
        assert_eq!(row(2), ["2", "", "", ""]);
        assert_eq!(row(3), ["3", "", "", "x"]);
    }

    #[test]
    fn keeps_the_highest_value_of_a_field() {
        let dir = tempfile::tempdir().unwrap();
        let mut spool = Spool::create(&dir.path().join("s.jsonl")).unwrap().track("meta.at");
        for at in ["2026-11-02T00:00:00Z", "2026-11-03T00:00:00Z", "2026-11-01T00:00:00Z"] {
            spool.push(&json!({"meta": {"at": at}})).unwrap();
        }
        spool.push(&json!({"meta": {"at": null}})).unwrap();
        assert_eq!(spool.finish("api", "t".into()).unwrap().highest(), Some("2026-11-03T00:00:00Z"));
        let later = |a: Value, b: Value| later_text(&text_of(&a), &text_of(&b));
        assert!(later(json!(10), json!(9)), "numbers by value");
        assert!(later(json!("10"), json!("9")), "numbers by value, written as strings too");
        assert!(later(json!("b"), json!("a")), "text by text");
        assert!(later_text("10", "9") && later_text("2026-11-02", "2026-11-01"));
        assert!(later_text("2026-11-01T00:00:00.5Z", "2026-11-01T00:00:00Z"), "by instant, not text");
        assert!(later_text("2026-11-01T01:00:00Z", "2026-11-01T01:30:00+01:00"));
        assert!(later_text("9007199254740993", "9007199254740992"), "integers exactly");
    }
}
