//! One API page read as a stream: the body (spooled to a file as it arrived) is parsed in one pass,
//! each record at the records path handed on as soon as it is parsed, what lies elsewhere skipped
//! without being built, and only the small value at the cursor path kept. Memory is one record at a
//! time, whatever the page's size; one record may not pass [`MAX_RECORD_BYTES`], and nesting deeper
//! than serde_json's limit (128) is an error, not a stack overflow.

use std::fmt;
use std::io::{BufReader, Read};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::Value;

use super::json::{Leaf, Spool};

pub use crate::extract::input::MAX_RECORD_BYTES;

/// The value at a dotted `path` in `body` (`None` when a step is missing).
pub fn at_path<'a>(body: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').filter(|s| !s.is_empty()).try_fold(body, |v, step| match v {
        Value::Object(map) => map.get(step),
        Value::Array(items) => step.parse::<usize>().ok().and_then(|i| items.get(i)),
        _ => None,
    })
}

/// What was at the records path.
#[derive(Debug, PartialEq)]
pub enum Found {
    /// Nothing (a step of the path is missing).
    Missing,
    /// An array: its records were handed on.
    Records,
    /// Something else: `null`, `an object`, ...
    Other(&'static str),
}

/// What a page held besides its records.
#[derive(Debug)]
pub struct Scanned {
    pub found: Found,
    /// The value at the cursor path, if asked for and present.
    pub cursor: Option<Value>,
}

/// Why a page could not be read.
#[derive(Debug)]
pub enum ScanError {
    /// Not JSON, or cut short: serde_json's message (with line and column).
    Json(String),
    /// A record larger than [`MAX_RECORD_BYTES`]: its number (1-based, in the page).
    RecordTooLarge(u64),
    /// The record handler refused a record.
    Record(String),
}

impl fmt::Display for ScanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ScanError::Json(e) => write!(f, "the answer is not JSON ({e})"),
            ScanError::RecordTooLarge(n) => write!(
                f,
                "record {n} of the page is over {} MiB, the most one record may hold",
                MAX_RECORD_BYTES >> 20
            ),
            ScanError::Record(e) => f.write_str(e),
        }
    }
}

/// Reads the page in `path`, calling `on_record` with each record at `records` (a dotted path; empty:
/// the body is the array) and keeping the value at `cursor`.
pub fn scan(path: &Path, records: &str, cursor: Option<&str>, sink: Sink<'_>) -> Result<Scanned, ScanError> {
    let mut file = std::fs::File::open(path).map_err(|e| ScanError::Json(e.to_string()))?;
    let size = file.metadata().map_err(|e| ScanError::Json(e.to_string()))?.len();
    if size <= IN_MEMORY {
        // Parsed from memory: strings are borrowed from the page instead of copied out of a reader.
        let mut body = Vec::with_capacity(size as usize);
        file.read_to_end(&mut body).map_err(|e| ScanError::Json(e.to_string()))?;
        return scan_with(
            serde_json::Deserializer::from_slice(&body),
            Limit::default(),
            records,
            cursor,
            sink,
        );
    }
    scan_reader(file, records, cursor, sink)
}

/// Pages up to this size are parsed from memory, larger ones as a stream (each record's size
/// bounded by [`MAX_RECORD_BYTES`]).
const IN_MEMORY: u64 = 64 << 20;

/// Where a page's records go.
pub enum Sink<'a> {
    /// Each record whole, as a JSON value.
    Values(&'a mut dyn FnMut(Value) -> Result<(), String>),
    /// Each record flattened into the spool as it is parsed, never built as a value (see
    /// [`Spool::streams`]).
    Spool(&'a mut Spool),
}

/// [`scan`] over any reader, as a stream.
pub fn scan_reader(
    reader: impl Read,
    records: &str,
    cursor: Option<&str>,
    sink: Sink<'_>,
) -> Result<Scanned, ScanError> {
    let limit = Limit::default();
    // The count is taken as the buffer fills (serde_json reads byte by byte from the buffer): the
    // limit holds to within the buffer's 64 KiB.
    let counted = BufReader::with_capacity(1 << 16, Counted { inner: reader, limit: limit.clone() });
    scan_with(serde_json::Deserializer::from_reader(counted), limit, records, cursor, sink)
}

fn scan_with<'de, R: serde_json::de::Read<'de>>(
    mut de: serde_json::Deserializer<R>,
    limit: Limit,
    records: &str,
    cursor: Option<&str>,
    sink: Sink<'_>,
) -> Result<Scanned, ScanError> {
    let steps = |p: &str| p.split('.').filter(|s| !s.is_empty()).map(str::to_owned).collect::<Vec<_>>();
    let records = steps(records);
    let cursor = cursor.map(steps);
    let mut state = State { sink, found: Found::Missing, cursor: None, records: 0, failed: None, limit };
    let result = Node { state: &mut state, records: Some(&records), cursor: cursor.as_deref() }
        .deserialize(&mut de)
        .and_then(|()| de.end());
    if let Some(failed) = state.failed.take() {
        return Err(failed);
    }
    if state.limit.exceeded.load(Ordering::Relaxed) {
        return Err(ScanError::RecordTooLarge(state.records + 1));
    }
    result.map_err(|e| ScanError::Json(e.to_string()))?;
    Ok(Scanned { found: state.found, cursor: state.cursor })
}

/// The byte budget of the value being built: armed while a record (or the cursor) is parsed.
#[derive(Clone, Default)]
struct Limit {
    position: Arc<AtomicU64>,
    start: Arc<AtomicU64>,
    armed: Arc<AtomicBool>,
    exceeded: Arc<AtomicBool>,
}

impl Limit {
    fn arm(&self) {
        self.start.store(self.position.load(Ordering::Relaxed), Ordering::Relaxed);
        self.armed.store(true, Ordering::Relaxed);
    }

    fn disarm(&self) {
        self.armed.store(false, Ordering::Relaxed);
    }
}

struct Counted<R> {
    inner: R,
    limit: Limit,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        let l = &self.limit;
        let at = l.position.fetch_add(n as u64, Ordering::Relaxed) + n as u64;
        if l.armed.load(Ordering::Relaxed) && at - l.start.load(Ordering::Relaxed) > MAX_RECORD_BYTES {
            l.exceeded.store(true, Ordering::Relaxed);
            return Err(std::io::Error::other("record too large"));
        }
        Ok(n)
    }
}

struct State<'f> {
    sink: Sink<'f>,
    found: Found,
    cursor: Option<Value>,
    records: u64,
    failed: Option<ScanError>,
    limit: Limit,
}

/// A value on the way to the records or the cursor: `Some(rest)` for each path that passes here.
struct Node<'s, 'f, 'p> {
    state: &'s mut State<'f>,
    records: Option<&'p [String]>,
    cursor: Option<&'p [String]>,
}

impl<'de> DeserializeSeed<'de> for Node<'_, '_, '_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<(), D::Error> {
        match (self.records, self.cursor) {
            (Some([]), _) => de.deserialize_any(Records { state: self.state }),
            (_, Some([])) => {
                // The cursor is small; one that holds the records too (an odd layout) is read whole,
                // and its records taken from it.
                self.state.limit.arm();
                let value = Value::deserialize(de)?;
                self.state.limit.disarm();
                if let Some(steps) = self.records {
                    let path = steps.join(".");
                    match at_path(&value, &path) {
                        Some(Value::Array(items)) => {
                            self.state.found = Found::Records;
                            for item in items {
                                self.state.records += 1;
                                let taken = match &mut self.state.sink {
                                    Sink::Values(on_record) => on_record(item.clone()),
                                    Sink::Spool(spool) => spool.push(item),
                                };
                                if let Err(e) = taken {
                                    self.state.failed = Some(ScanError::Record(e));
                                    return Err(serde::de::Error::custom("record refused"));
                                }
                            }
                        }
                        Some(other) => self.state.found = Found::Other(super::json::describe(other)),
                        None => {}
                    }
                }
                self.state.cursor = Some(value);
                Ok(())
            }
            _ => de.deserialize_any(self),
        }
    }
}

impl<'de> Visitor<'de> for Node<'_, '_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let state = self.state;
        while let Some(key) = map.next_key::<String>()? {
            let step = |first: &String| *first == key;
            let (records, cursor) = (follow(self.records, step), follow(self.cursor, step));
            if records.is_none() && cursor.is_none() {
                map.next_value::<IgnoredAny>()?;
            } else {
                map.next_value_seed(Node { state: &mut *state, records, cursor })?;
            }
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let state = self.state;
        let mut index = 0usize;
        loop {
            let step = |first: &String| first.parse() == Ok(index);
            let (records, cursor) = (follow(self.records, step), follow(self.cursor, step));
            let more = if records.is_none() && cursor.is_none() {
                seq.next_element::<IgnoredAny>()?.is_some()
            } else {
                seq.next_element_seed(Node { state: &mut *state, records, cursor })?.is_some()
            };
            if !more {
                return Ok(());
            }
            index += 1;
        }
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
}

/// The rest of `path` when its first step is the one being visited.
fn follow(path: Option<&[String]>, step: impl Fn(&String) -> bool) -> Option<&[String]> {
    match path {
        Some([first, rest @ ..]) if step(first) => Some(rest),
        _ => None,
    }
}

/// The value at the records path.
struct Records<'s, 'f> {
    state: &'s mut State<'f>,
}

impl<'de> Visitor<'de> for Records<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of records")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let state = self.state;
        state.found = Found::Records;
        loop {
            state.limit.arm();
            let taken = match &mut state.sink {
                Sink::Spool(spool) if spool.streams() => {
                    let seed = FlatRecord { spool, failed: &mut state.failed };
                    match seq.next_element_seed(seed)? {
                        Some(()) => Ok(()),
                        None => break,
                    }
                }
                sink => {
                    let Some(record) = seq.next_element::<Value>()? else { break };
                    match sink {
                        Sink::Values(on_record) => on_record(record),
                        Sink::Spool(spool) => spool.push(&record),
                    }
                }
            };
            state.limit.disarm();
            state.records += 1;
            if let Err(e) = taken {
                state.failed = Some(ScanError::Record(e));
                return Err(serde::de::Error::custom("record refused"));
            }
        }
        state.limit.disarm();
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        self.state.found = Found::Other("an object");
        Ok(())
    }
    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        self.state.found = Found::Other("a boolean");
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        self.state.found = Found::Other("a number");
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        self.state.found = Found::Other("a number");
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        self.state.found = Found::Other("a number");
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        self.state.found = Found::Other("a string");
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        self.state.found = Found::Other("null");
        Ok(())
    }
}

/// The key serde_json (with `arbitrary_precision`) gives a number under, as a one-entry map.
const NUMBER_TOKEN: &str = "$serde_json::private::Number";

/// A key or string of the page: borrowed from it when it can be, else copied.
enum Text<'de> {
    Borrowed(&'de str),
    Owned(String),
}

impl Text<'_> {
    fn as_str(&self) -> &str {
        match self {
            Text::Borrowed(s) => s,
            Text::Owned(s) => s,
        }
    }
}

impl<'de> Deserialize<'de> for Text<'de> {
    fn deserialize<D: Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        struct TextVisitor;
        impl<'de> Visitor<'de> for TextVisitor {
            type Value = Text<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Text<'de>, E> {
                Ok(Text::Borrowed(v))
            }
            fn visit_str<E>(self, v: &str) -> Result<Text<'de>, E> {
                Ok(Text::Owned(v.to_owned()))
            }
            fn visit_string<E>(self, v: String) -> Result<Text<'de>, E> {
                Ok(Text::Owned(v))
            }
        }
        de.deserialize_str(TextVisitor)
    }
}

/// One record, flattened into the spool as it is parsed: each leaf written under its dotted name,
/// no value built but arrays (kept as their JSON text).
struct FlatRecord<'s> {
    spool: &'s mut Spool,
    failed: &'s mut Option<ScanError>,
}

impl<'de> DeserializeSeed<'de> for FlatRecord<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<(), D::Error> {
        de.deserialize_any(self)
    }
}

impl FlatRecord<'_> {
    fn refuse<E: serde::de::Error>(self, what: &str) -> Result<(), E> {
        *self.failed = Some(ScanError::Record(format!("a record is {what}, not an object")));
        Err(E::custom("record refused"))
    }
}

impl<'de> Visitor<'de> for FlatRecord<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a record")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let Some(first) = map.next_key::<Text<'de>>()? else {
            self.spool.begin();
            return self.spool.end().or_else(|e| refused(self.failed, e));
        };
        if first.as_str() == NUMBER_TOKEN {
            map.next_value::<IgnoredAny>()?;
            return self.refuse("a number");
        }
        self.spool.begin();
        flatten_entries(self.spool, self.failed, first, &mut map)?;
        self.spool.end().or_else(|e| refused(self.failed, e))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        self.refuse("an array")
    }
    fn visit_bool<E: serde::de::Error>(self, _: bool) -> Result<(), E> {
        self.refuse("a boolean")
    }
    fn visit_i64<E: serde::de::Error>(self, _: i64) -> Result<(), E> {
        self.refuse("a number")
    }
    fn visit_u64<E: serde::de::Error>(self, _: u64) -> Result<(), E> {
        self.refuse("a number")
    }
    fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<(), E> {
        self.refuse("a number")
    }
    fn visit_str<E: serde::de::Error>(self, _: &str) -> Result<(), E> {
        self.refuse("a string")
    }
    fn visit_unit<E: serde::de::Error>(self) -> Result<(), E> {
        self.refuse("null")
    }
}

/// The entries of an object whose first key is `first`: each value flattened under its key.
fn flatten_entries<'de, A: MapAccess<'de>>(
    spool: &mut Spool,
    failed: &mut Option<ScanError>,
    first: Text<'de>,
    map: &mut A,
) -> Result<(), A::Error> {
    let mut key = Some(first);
    while let Some(k) = key {
        let at = spool.step_in(k.as_str());
        map.next_value_seed(FlatValue { spool: &mut *spool, failed: &mut *failed })?;
        spool.step_out(at);
        key = map.next_key::<Text<'de>>()?;
    }
    Ok(())
}

/// Keeps the spool's refusal of a record, and stops the parse.
fn refused<E: serde::de::Error>(failed: &mut Option<ScanError>, message: String) -> Result<(), E> {
    *failed = Some(ScanError::Record(message));
    Err(E::custom("record refused"))
}

/// A value inside a record, at the key the spool has stepped into.
struct FlatValue<'s> {
    spool: &'s mut Spool,
    failed: &'s mut Option<ScanError>,
}

impl FlatValue<'_> {
    fn leaf<E: serde::de::Error>(self, leaf: Leaf<'_>) -> Result<(), E> {
        match self.spool.leaf_here(leaf) {
            Ok(()) => Ok(()),
            Err(message) => refused(self.failed, message),
        }
    }
}

impl<'de> DeserializeSeed<'de> for FlatValue<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<(), D::Error> {
        de.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for FlatValue<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let Some(first) = map.next_key::<Text<'de>>()? else {
            // An empty object is a leaf: its JSON text.
            return self.leaf(Leaf::Json("{}"));
        };
        if first.as_str() == NUMBER_TOKEN {
            let number = map.next_value::<Text<'de>>()?;
            return self.leaf(Leaf::Number(number.as_str()));
        }
        flatten_entries(self.spool, self.failed, first, &mut map)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        // An array is a leaf: its JSON text (or an exploded field, which takes the other path).
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Value>()? {
            items.push(item);
        }
        let text = Value::Array(items).to_string();
        self.leaf(Leaf::Json(&text))
    }
    fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<(), E> {
        self.leaf(Leaf::Bool(v))
    }
    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<(), E> {
        self.leaf(Leaf::Number(&v.to_string()))
    }
    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<(), E> {
        self.leaf(Leaf::Number(&v.to_string()))
    }
    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<(), E> {
        self.leaf(Leaf::Number(&serde_json::Number::from_f64(v).map_or_else(String::new, |n| n.to_string())))
    }
    fn visit_borrowed_str<E: serde::de::Error>(self, v: &'de str) -> Result<(), E> {
        self.leaf(Leaf::Str(v))
    }
    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<(), E> {
        self.leaf(Leaf::Str(v))
    }
    fn visit_unit<E: serde::de::Error>(self) -> Result<(), E> {
        self.leaf(Leaf::Null)
    }
    fn visit_none<E: serde::de::Error>(self) -> Result<(), E> {
        self.leaf(Leaf::Null)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(body: &str, records: &str, cursor: Option<&str>) -> (Result<Scanned, ScanError>, Vec<Value>) {
        let mut seen = Vec::new();
        let out = scan_reader(
            body.as_bytes(),
            records,
            cursor,
            Sink::Values(&mut |v| {
                seen.push(v);
                Ok(())
            }),
        );
        (out, seen)
    }

    #[test]
    fn records_at_a_path_and_the_cursor_beside_them() {
        let body = json!({"meta": {"next": "c2", "big": [1, 2, 3]}, "data": {"items": [{"a": 1}, {"a": 2}]}, "x": "y"});
        let (out, seen) = run(&body.to_string(), "data.items", Some("meta.next"));
        let out = out.unwrap();
        assert_eq!(out.found, Found::Records);
        assert_eq!(out.cursor, Some(json!("c2")));
        assert_eq!(seen, vec![json!({"a": 1}), json!({"a": 2})]);
        // The body is the array.
        let (out, seen) = run("[1, {\"b\": [true]}]", "", None);
        assert_eq!(out.unwrap().found, Found::Records);
        assert_eq!(seen.len(), 2);
        // Steps through arrays.
        let (out, seen) = run(r#"{"list": [{"r": [1]}, {"r": [2, 3]}]}"#, "list.1.r", None);
        assert_eq!(out.unwrap().found, Found::Records);
        assert_eq!(seen, vec![json!(2), json!(3)]);
    }

    #[test]
    fn what_is_not_an_array_is_named() {
        assert_eq!(run(r#"{"data": null}"#, "data", None).0.unwrap().found, Found::Other("null"));
        assert_eq!(run(r#"{"data": {"a": 1}}"#, "data", None).0.unwrap().found, Found::Other("an object"));
        assert_eq!(run(r#"{"other": 1}"#, "data", None).0.unwrap().found, Found::Missing);
    }

    #[test]
    fn broken_and_hostile_bodies_are_errors() {
        assert!(matches!(run("<html>", "", None).0, Err(ScanError::Json(_))));
        assert!(matches!(run(r#"{"data": [1, 2"#, "data", None).0, Err(ScanError::Json(_))));
        assert!(matches!(run("[1] [2]", "", None).0, Err(ScanError::Json(_))));
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        assert!(matches!(run(&deep, "", None).0, Err(ScanError::Json(_))));
        // Skipped deep nesting is walked without recursion: no stack overflow, nothing kept.
        let deep = format!("{{\"skip\": {}{}}}", "[".repeat(100_000), "]".repeat(100_000));
        assert_eq!(run(&deep, "data", None).0.unwrap().found, Found::Missing);
    }
}
