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
use std::io::{BufRead, BufReader, BufWriter, Write};
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
        Value::Number(n) => {
            let text = n.to_string();
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
        Value::String(_) => STRING,
        Value::Array(_) | Value::Object(_) => JSON,
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

/// A value as the text field the typing reads.
fn text_of(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        other => other.to_string(),
    }
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

/// Records being written to a spool file.
pub struct Spool {
    path: PathBuf,
    out: BufWriter<std::fs::File>,
    columns: Vec<String>,
    index: HashMap<String, usize>,
    kinds: Vec<u8>,
    records: u64,
    /// The field whose highest value is kept (an incremental load's checkpoint), and that value.
    tracked: Option<(String, Option<Value>)>,
    /// The array field exploded into one record per element.
    explode: Option<String>,
}

/// Whether `a` comes after `b` (see [`later_text`]).
pub fn later(a: &Value, b: &Value) -> bool {
    later_text(&text_of(a), &text_of(b))
}

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

    /// A new spool file at `path`.
    pub fn create(path: &Path) -> Result<Self> {
        let file = std::fs::File::create(path).map_err(|e| Error::io(path, e))?;
        Ok(Spool {
            path: path.to_owned(),
            out: BufWriter::new(file),
            columns: Vec::new(),
            index: HashMap::new(),
            kinds: Vec::new(),
            records: 0,
            tracked: None,
            explode: None,
        })
    }

    /// Records spooled so far.
    pub fn records(&self) -> u64 {
        self.records
    }

    /// Adds one record: an object (anything else is an error naming what it is).
    pub fn push(&mut self, record: &Value) -> std::result::Result<(), String> {
        let Value::Object(map) = record else {
            return Err(format!("a record is {}, not an object", describe(record)));
        };
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

    fn push_leaves(&mut self, leaves: Vec<(String, &Value)>) -> std::result::Result<(), String> {
        let mut flat = Map::new();
        let mut names = std::collections::HashSet::new();
        if let Some((name, _)) = leaves.iter().find(|(name, _)| !names.insert(name.as_str())) {
            return Err(format!(
                "record {}: a key `{name}` and a nested key make the same column `{name}`",
                self.records + 1
            ));
        }
        for (name, value) in leaves {
            let col = *self.index.entry(name.clone()).or_insert_with(|| {
                self.columns.push(name.clone());
                self.kinds.push(0);
                self.columns.len() - 1
            });
            self.kinds[col] |= kind_of(value);
            if let Some((field, highest)) = &mut self.tracked {
                if *field == name && !value.is_null() && highest.as_ref().is_none_or(|h| later(value, h)) {
                    *highest = Some(value.clone());
                }
            }
            flat.insert(name, value.clone());
        }
        serde_json::to_writer(&mut self.out, &flat).map_err(|e| e.to_string())?;
        self.out.write_all(b"\n").map_err(|e| e.to_string())?;
        self.records += 1;
        Ok(())
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
            highest: self.tracked.and_then(|(_, h)| h).map(|h| text_of(&h)),
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
}

impl JsonRecords {
    /// The highest value of the tracked field (see [`Spool::track`]), as text.
    pub fn highest(&self) -> Option<&str> {
        self.highest.as_deref()
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
        let index = self.columns.iter().enumerate().map(|(i, c)| (c.clone(), i)).collect();
        Ok(Box::new(JsonReader {
            path: self.path.clone(),
            lines: BufReader::new(file),
            columns: self.columns.clone(),
            index,
            record: 0,
            bytes: 0,
            line: String::new(),
            fields: vec![String::new(); self.columns.len()],
        }))
    }
}

/// A pass over spooled records; a batch's "line" is the record's number (1-based).
struct JsonReader {
    path: PathBuf,
    lines: BufReader<std::fs::File>,
    columns: Arc<Vec<String>>,
    index: HashMap<String, usize>,
    record: u64,
    bytes: u64,
    line: String,
    fields: Vec<String>,
}

impl BatchReader for JsonReader {
    fn columns(&self) -> &[String] {
        &self.columns
    }

    fn next_batch(&mut self, batch: &mut TextBatch, max_rows: usize) -> Result<bool> {
        batch.clear();
        while !batch.is_full(max_rows) {
            self.line.clear();
            let n = self.lines.read_line(&mut self.line).map_err(|e| Error::io(&self.path, e))?;
            if n == 0 {
                break;
            }
            self.bytes += n as u64;
            self.record += 1;
            let map: Map<String, Value> = serde_json::from_str(&self.line).map_err(|e| {
                Error::Internal(format!("{}: spooled record unreadable: {e}", self.path.display()))
            })?;
            for field in &mut self.fields {
                field.clear();
            }
            for (name, value) in &map {
                if let Some(&col) = self.index.get(name) {
                    self.fields[col] = text_of(value);
                }
            }
            batch.push(self.fields.iter().map(|f| f.as_bytes()), self.record);
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
        let clash = spool.push(&json!({"a.b": 1, "a": {"b": 2}})).unwrap_err();
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
        assert!(later(&json!(10), &json!(9)), "numbers by value");
        assert!(later(&json!("10"), &json!("9")), "numbers by value, written as strings too");
        assert!(later(&json!("b"), &json!("a")), "text by text");
        assert!(later_text("10", "9") && later_text("2026-11-02", "2026-11-01"));
        assert!(later_text("2026-11-01T00:00:00.5Z", "2026-11-01T00:00:00Z"), "by instant, not text");
        assert!(later_text("2026-11-01T01:00:00Z", "2026-11-01T01:30:00+01:00"));
        assert!(later_text("9007199254740993", "9007199254740992"), "integers exactly");
    }
}
