//! A file's bytes on their way to the CSV parser: decompressed (gzip and zstd, told by their magic
//! bytes, read as a stream), decoded from the file's encoding to UTF-8 (detected from samples spread
//! over the whole file, or given). A byte sequence the encoding does not define is never replaced by
//! a plausible character: it becomes a byte that is not UTF-8, so the CSV reader's per-field check
//! makes its row a bad row, with its line and column.
//!
//! ```text
//! File ─▶ Counted (file bytes, for progress) ─▶ gzip / zstd ─▶ Decode (to UTF-8) ─▶ Tracked ─▶ csv
//! ```
//! `Tracked` keeps what the CSV reader needs to know about the text: whether it has ended, its
//! length and its last bytes (to number lines and spot an unclosed quote), and, when bad rows are
//! quarantined, the text of the record being read.

use std::fs;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};

use encoding_rs::{DecoderResult, Encoding, UTF_16BE, UTF_16LE, UTF_8};
use sha2::{Digest, Sha256};

use super::growing::{Following, Growing};
use crate::error::{Error, Result};

/// How a file is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

impl Compression {
    /// From the file's first bytes (the extension is not trusted).
    fn of(head: &[u8]) -> Self {
        if head.starts_with(&[0x1f, 0x8b]) {
            Compression::Gzip
        } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Compression::Zstd
        } else {
            Compression::None
        }
    }
}

/// Bytes sampled for detection: the start, plus chunks spread over the rest of an uncompressed file
/// (a compressed one is sampled from its start only: it cannot be sought).
const HEAD_SAMPLE: usize = 1 << 20;
const SPREAD_CHUNKS: u64 = 32;
const CHUNK: usize = 64 << 10;
const COMPRESSED_SAMPLE: usize = 4 << 20;

/// An encoding named by a person: WHATWG labels (`utf-8`, `shift_jis`, `euc-jp`, `windows-1252`,
/// `latin1`, `utf-16le`) and the usual Windows names (`cp932`, `cp1252`).
pub fn encoding_for_label(label: &str) -> Option<&'static Encoding> {
    let label = label.trim().to_ascii_lowercase();
    let label = match label.as_str() {
        "cp932" | "ms932" | "windows-932" | "sjis" => "shift_jis",
        "cp1252" => "windows-1252",
        "utf-16" => "utf-16le",
        "utf8" | "utf-8-sig" => "utf-8",
        other => other,
    };
    Encoding::for_label(label.as_bytes())
}

/// A text file, inspected: how it is compressed and encoded.
#[derive(Debug, Clone)]
pub struct TextInput {
    path: PathBuf,
    compression: Compression,
    encoding: &'static Encoding,
    /// Whether the encoding was detected (rather than given).
    detected: bool,
    /// Whether lines end in a bare `\r` (classic Mac, some exports): the text is then read with
    /// each `\r` as a `\n`, so that records, line numbers and quarantined rows come out right.
    cr_lines: bool,
    /// Set when the file is still being written: reads wait for more at its end.
    growing: Option<Arc<Growing>>,
}

impl TextInput {
    /// Inspects `path`: compression from its magic bytes; the encoding is `forced`, or told by a
    /// byte-order mark, or detected from samples of the whole file.
    pub fn inspect(path: &Path, forced: Option<&'static Encoding>) -> Result<Self> {
        let mut file = fs::File::open(path).map_err(|e| Error::io(path, e))?;
        let len = file.metadata().map_err(|e| Error::io(path, e))?.len();
        let mut head = [0u8; 4];
        let n = read_up_to(&mut file, &mut head).map_err(|e| Error::io(path, e))?;
        let compression = Compression::of(&head[..n]);
        let input = |encoding, detected| TextInput {
            path: path.to_owned(),
            compression,
            encoding,
            detected,
            cr_lines: false,
            growing: None,
        };
        let mut input = match forced {
            Some(encoding) => input(encoding, false),
            None => {
                let chunks = sample(path, compression, len)?;
                let encoding = detect(&chunks).map_err(|message| Error::Csv {
                    source_name: path.display().to_string(),
                    line: 1,
                    message,
                })?;
                input(encoding, true)
            }
        };
        input.cr_lines = bare_cr_lines(&input.head_text(CR_SAMPLE)?);
        if input.cr_lines {
            tracing::info!("{}: lines end in a bare CR: read as line breaks", path.display());
        }
        Ok(input)
    }

    /// A plain UTF-8 text file that is still being written (a spooled download), read as it grows:
    /// nothing is read of it now.
    pub fn utf8_growing(path: &Path, growing: Arc<Growing>) -> Self {
        TextInput {
            path: path.to_owned(),
            compression: Compression::None,
            encoding: UTF_8,
            detected: false,
            cr_lines: false,
            growing: Some(growing),
        }
    }

    /// The file's encoding.
    pub fn encoding(&self) -> &'static Encoding {
        self.encoding
    }

    /// How the file is compressed.
    pub fn compression(&self) -> Compression {
        self.compression
    }

    /// `UTF-8 (detected)`, `Shift_JIS (given)`, for logs.
    pub fn describe(&self) -> String {
        let how = if self.detected { "detected" } else { "given" };
        let compression = match self.compression {
            Compression::None => "",
            Compression::Gzip => ", gzip",
            Compression::Zstd => ", zstd",
        };
        format!("{} ({how}){compression}", self.encoding.name())
    }

    /// Opens the text as a UTF-8 stream, and its tracker. With `capture`, the tracker keeps the text
    /// read (see [`Tracker::take_captured`]); with `hash`, it hashes the file's bytes (see
    /// [`Tracker::file_digest`]).
    pub fn open(&self, capture: bool, hash: bool) -> Result<(Box<dyn Read + Send>, Arc<Tracker>)> {
        self.open_through(capture, hash, |text| text)
    }

    /// As [`TextInput::open`], with the UTF-8 text passed `through` a layer before it is tracked (the
    /// CSV dialect's, which may drop bytes: the tracker then sees what the parser sees).
    pub fn open_through(
        &self,
        capture: bool,
        hash: bool,
        through: impl FnOnce(Box<dyn Read + Send>) -> Box<dyn Read + Send>,
    ) -> Result<(Box<dyn Read + Send>, Arc<Tracker>)> {
        let tracker = Arc::new(Tracker {
            capture: capture.then(Mutex::default),
            hasher: hash.then(Hashing::new),
            ..Tracker::default()
        });
        let file = fs::File::open(&self.path).map_err(|e| Error::io(&self.path, e))?;
        let file: Box<dyn Read + Send> = match &self.growing {
            Some(growing) => Box::new(Following::new(file, growing.clone())),
            None => Box::new(file),
        };
        let counted = Counted { inner: file, tracker: tracker.clone() };
        let raw: Box<dyn Read + Send> = match self.compression {
            Compression::None => Box::new(counted),
            Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(io::BufReader::new(counted))),
            Compression::Zstd => {
                Box::new(zstd::stream::read::Decoder::new(counted).map_err(|e| Error::io(&self.path, e))?)
            }
        };
        let text: Box<dyn Read + Send> = if self.encoding == UTF_8 {
            // Passed through: the CSV reader checks each field, the header reader drops a BOM.
            raw
        } else {
            Box::new(Decode::new(raw, self.encoding))
        };
        let text: Box<dyn Read + Send> = if self.cr_lines { Box::new(CrLines { inner: text }) } else { text };
        let text = through(text);
        Ok((Box::new(Tracked { inner: text, tracker: tracker.clone() }), tracker))
    }

    /// The first `max` bytes of the text, as UTF-8 (for sniffing the dialect).
    pub fn head_text(&self, max: usize) -> Result<Vec<u8>> {
        let (mut text, _) = self.open(false, false)?;
        let mut out = vec![0; max];
        let n = read_up_to(&mut text, &mut out).map_err(|e| Error::io(&self.path, e))?;
        out.truncate(n);
        Ok(out)
    }
}

/// Text looked at for how lines end.
const CR_SAMPLE: usize = 64 << 10;

/// Whether `text` (a file's start) ends its lines with a bare `\r`: it has a `\r` and no `\n`.
fn bare_cr_lines(text: &[u8]) -> bool {
    text.contains(&b'\r') && !text.contains(&b'\n')
}

/// Text whose lines end in a bare `\r`, with each `\r` read as `\n`.
struct CrLines {
    inner: Box<dyn Read + Send>,
}

impl Read for CrLines {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        for b in &mut buf[..n] {
            if *b == b'\r' {
                *b = b'\n';
            }
        }
        Ok(n)
    }
}

fn read_up_to(reader: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match reader.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// Raw (decompressed, not decoded) chunks of the file for detection: its start, and for an
/// uncompressed file chunks spread evenly over the rest. Each is cut to whole lines (a line break is
/// never part of a character in the encodings detected), so no chunk starts or ends inside a
/// character and their concatenation is well-formed text.
fn sample(path: &Path, compression: Compression, len: u64) -> Result<Vec<Vec<u8>>> {
    let io_err = |e| Error::io(path, e);
    let mut file = fs::File::open(path).map_err(io_err)?;
    if compression != Compression::None {
        let mut reader: Box<dyn Read> = match compression {
            Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(io::BufReader::new(file))),
            _ => Box::new(zstd::stream::read::Decoder::new(file).map_err(io_err)?),
        };
        let mut head = vec![0; COMPRESSED_SAMPLE];
        let n = read_up_to(&mut reader, &mut head).map_err(|e| Error::Csv {
            source_name: path.display().to_string(),
            line: 1,
            message: format!("cannot decompress: {e}"),
        })?;
        head.truncate(n);
        return Ok(vec![whole_lines(head, false, n == COMPRESSED_SAMPLE)]);
    }
    let mut chunks = Vec::new();
    let mut head = vec![0; HEAD_SAMPLE];
    let n = read_up_to(&mut file, &mut head).map_err(io_err)?;
    head.truncate(n);
    chunks.push(whole_lines(head, false, (n as u64) < len));
    let rest = len.saturating_sub(HEAD_SAMPLE as u64);
    if rest > 0 {
        for i in 1..=SPREAD_CHUNKS {
            let at = HEAD_SAMPLE as u64 + rest * i / (SPREAD_CHUNKS + 1);
            file.seek(SeekFrom::Start(at)).map_err(io_err)?;
            let mut chunk = vec![0; CHUNK];
            let n = read_up_to(&mut file, &mut chunk).map_err(io_err)?;
            chunk.truncate(n);
            chunks.push(whole_lines(chunk, true, at + (n as u64) < len));
        }
    }
    Ok(chunks)
}

/// `chunk` cut to whole lines: from after its first line break when it starts mid-file, to its last
/// line break when more of the file follows.
fn whole_lines(mut chunk: Vec<u8>, starts_mid_file: bool, more_follows: bool) -> Vec<u8> {
    if more_follows {
        match chunk.iter().rposition(|&b| b == b'\n' || b == b'\r') {
            Some(last) => chunk.truncate(last + 1),
            None if starts_mid_file => chunk.clear(),
            None => {}
        }
    }
    if starts_mid_file {
        match chunk.iter().position(|&b| b == b'\n' || b == b'\r') {
            Some(first) => drop(chunk.drain(..=first)),
            None => chunk.clear(),
        }
    }
    chunk
}

/// The encoding of text sampled in `chunks` (the first is the file's start).
fn detect(chunks: &[Vec<u8>]) -> std::result::Result<&'static Encoding, String> {
    let head = chunks.first().map(Vec::as_slice).unwrap_or_default();
    if head.starts_with(b"\xEF\xBB\xBF") {
        return Ok(UTF_8);
    }
    if head.starts_with(b"\xFF\xFE") {
        return Ok(UTF_16LE);
    }
    if head.starts_with(b"\xFE\xFF") {
        return Ok(UTF_16BE);
    }
    let total: usize = chunks.iter().map(Vec::len).sum();
    let nul = chunks.iter().flatten().filter(|&&b| b == 0).count();
    let controls = chunks
        .iter()
        .flatten()
        .filter(|&&b| b < 0x20 && !matches!(b, b'\n' | b'\r' | b'\t' | 0x0c | 0x1a))
        .count();
    if nul * 100 > total || controls * 20 > total {
        return Err("this looks like a binary file, not CSV text (it holds NUL or control bytes); if it is \
                    UTF-16 without a byte-order mark, pass --encoding utf-16le"
            .into());
    }
    // UTF-8 when its multi-byte characters outnumber the bytes that cannot be UTF-8: a stray byte
    // in a UTF-8 file is one bad row (its line named), not a reason to misread every other row.
    let (valid, invalid) =
        chunks.iter().map(|c| utf8_evidence(c)).fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1));
    if invalid == 0 || valid > invalid {
        return Ok(UTF_8);
    }
    let mut detector = chardetng::EncodingDetector::new(chardetng::Iso2022JpDetection::Deny);
    for chunk in chunks {
        detector.feed(chunk, false);
    }
    detector.feed(&[], true);
    let guess = detector.guess(None, chardetng::Utf8Detection::Deny);
    // A guess that cannot decode its own evidence is no guess.
    if chunks.iter().all(|c| decodes_cleanly(guess, c)) {
        Ok(guess)
    } else {
        Err(format!(
            "cannot tell the file's encoding: it is not UTF-8, and not consistently {} either; pass \
             --encoding (e.g. windows-1252, shift_jis, euc-jp)",
            guess.name()
        ))
    }
}

/// In `text`: how many multi-byte UTF-8 characters it holds, and how many bytes are not UTF-8.
fn utf8_evidence(mut text: &[u8]) -> (usize, usize) {
    let (mut valid, mut invalid) = (0, 0);
    loop {
        match std::str::from_utf8(text) {
            Ok(s) => {
                valid += s.bytes().filter(|&b| b >= 0xC0).count();
                return (valid, invalid);
            }
            Err(e) => {
                let good = e.valid_up_to();
                valid += text[..good].iter().filter(|&&b| b >= 0xC0).count();
                let bad = e.error_len().unwrap_or(text.len() - good);
                invalid += bad;
                text = &text[good + bad..];
            }
        }
    }
}

/// Whether `chunk` (whole lines) decodes in `encoding` without a malformed sequence.
fn decodes_cleanly(encoding: &'static Encoding, chunk: &[u8]) -> bool {
    let mut decoder = encoding.new_decoder_without_bom_handling();
    let mut out = vec![0u8; CHUNK];
    let mut src = chunk;
    loop {
        let (result, read, _) = decoder.decode_to_utf8_without_replacement(src, &mut out, true);
        src = &src[read..];
        match result {
            DecoderResult::InputEmpty => return true,
            DecoderResult::OutputFull => {}
            DecoderResult::Malformed(..) => return false,
        }
    }
}

/// What the CSV reader learns about the text stream.
#[derive(Default)]
pub struct Tracker {
    /// Bytes of the file read (compressed, if it is).
    file_bytes: AtomicU64,
    /// Bytes of UTF-8 text handed to the parser.
    text_bytes: AtomicU64,
    ended: AtomicBool,
    /// The text's last byte so far, and its last byte that is not a line break.
    last_byte: AtomicU8,
    last_content: AtomicU8,
    /// The text after its last line break so far (up to [`TAIL_LIMIT`]).
    tail: Mutex<Vec<u8>>,
    /// Where the record being parsed starts, and its line (set by the CSV reader).
    record_start: AtomicU64,
    record_line: AtomicU64,
    capture: Option<Mutex<Captured>>,
    /// The SHA-256 of the file's bytes, when asked for.
    hasher: Option<Hashing>,
}

/// A SHA-256 taken on a thread of its own: the reading thread hands it each read's bytes (a copy)
/// and goes back to parsing, instead of hashing 1 GB itself (8 % of a CSV load's CPU, on the thread
/// that parses).
struct Hashing {
    state: Mutex<HashState>,
}

enum HashState {
    Running { bytes: std::sync::mpsc::SyncSender<Vec<u8>>, thread: std::thread::JoinHandle<Sha256> },
    Done(String),
    Failed,
}

impl Hashing {
    fn new() -> Self {
        let (bytes, chunks) = std::sync::mpsc::sync_channel::<Vec<u8>>(8);
        let thread = std::thread::spawn(move || {
            let mut hasher = Sha256::new();
            for chunk in chunks {
                hasher.update(&chunk);
            }
            hasher
        });
        Hashing { state: Mutex::new(HashState::Running { bytes, thread }) }
    }

    fn update(&self, chunk: &[u8]) {
        if let HashState::Running { bytes, .. } = &*self.state.lock().expect("hashing") {
            let _ = bytes.send(chunk.to_vec());
        }
    }

    /// The hex digest of every byte handed over (no more may follow).
    fn finish(&self) -> Option<String> {
        let mut state = self.state.lock().expect("hashing");
        if let HashState::Running { .. } = &*state {
            let HashState::Running { bytes, thread } = std::mem::replace(&mut *state, HashState::Failed)
            else {
                unreachable!("matched above")
            };
            drop(bytes);
            if let Ok(hasher) = thread.join() {
                *state = HashState::Done(hex::encode(hasher.finalize()));
            }
        }
        match &*state {
            HashState::Done(hex) => Some(hex.clone()),
            _ => None,
        }
    }
}

/// Longest last line kept for the end-of-text quote check.
const TAIL_LIMIT: usize = 1 << 20;
/// Longest record: longer ones are almost always a quote that never closes, swallowing the file.
pub const MAX_RECORD_BYTES: u64 = 256 << 20;

/// Text kept for quarantining bad rows: the stream from `base` on.
#[derive(Default)]
struct Captured {
    base: u64,
    text: Vec<u8>,
}

impl Tracker {
    /// Bytes of the file read so far.
    pub fn file_bytes(&self) -> u64 {
        self.file_bytes.load(Ordering::Relaxed)
    }

    /// The file's size and hex SHA-256, once it has been read to its end with hashing on.
    pub fn file_digest(&self) -> Option<(u64, String)> {
        let hasher = self.hasher.as_ref()?;
        if !self.ended.load(Ordering::Relaxed) {
            return None;
        }
        Some((self.file_bytes(), hasher.finish()?))
    }

    /// The text's length, once it has been read to its end.
    pub fn text_len(&self) -> Option<u64> {
        self.ended.load(Ordering::Relaxed).then(|| self.text_bytes.load(Ordering::Relaxed))
    }

    /// Whether the text ends right at `position` without a line break there: the record that ends at
    /// `position` is the last, unterminated one.
    pub fn ends_unterminated_at(&self, position: u64) -> bool {
        self.text_len() == Some(position) && self.last_byte.load(Ordering::Relaxed) != b'\n'
    }

    /// The text's last byte other than a line break (meaningful once ended).
    pub fn last_content(&self) -> u8 {
        self.last_content.load(Ordering::Relaxed)
    }

    /// Says where the record now being parsed starts (text offset and line).
    pub fn record_starts(&self, offset: u64, line: u64) {
        self.record_start.store(offset, Ordering::Relaxed);
        self.record_line.store(line, Ordering::Relaxed);
    }

    /// Whether the text's last line (after its last line break) leaves a quoted field open, by RFC
    /// 4180 rules: a `"` opens a field only at its start, `""` inside is a quote.
    pub fn last_line_leaves_quote_open(&self, delimiter: u8) -> bool {
        let tail = self.tail.lock().expect("tail lock");
        let (mut in_quotes, mut field_start, mut i) = (false, true, 0);
        while i < tail.len() {
            let b = tail[i];
            if in_quotes {
                if b == b'"' {
                    if tail.get(i + 1) == Some(&b'"') {
                        i += 1;
                    } else {
                        in_quotes = false;
                    }
                }
            } else if b == delimiter {
                field_start = true;
                i += 1;
                continue;
            } else if b == b'"' && field_start {
                in_quotes = true;
            }
            field_start = false;
            i += 1;
        }
        in_quotes
    }

    /// The captured text of stream bytes `start..end` (empty without capture), and forgets the text
    /// before `end`.
    pub fn take_captured(&self, start: u64, end: u64) -> Vec<u8> {
        let Some(capture) = &self.capture else { return Vec::new() };
        let mut c = capture.lock().expect("capture lock");
        let from = start.saturating_sub(c.base) as usize;
        let to = (end.saturating_sub(c.base) as usize).min(c.text.len());
        let out = c.text.get(from..to).map(<[u8]>::to_vec).unwrap_or_default();
        c.forget_before(end);
        out
    }

    /// Forgets captured text before `end` (a record that needs none of it).
    pub fn release(&self, end: u64) {
        if let Some(capture) = &self.capture {
            capture.lock().expect("capture lock").forget_before(end);
        }
    }
}

impl Captured {
    fn forget_before(&mut self, end: u64) {
        let n = (end.saturating_sub(self.base) as usize).min(self.text.len());
        // Drained in large steps: the text ahead of the parser is at most its buffer.
        if n >= 1 << 20 || n == self.text.len() {
            self.text.drain(..n);
            self.base += n as u64;
        }
    }
}

struct Counted {
    inner: Box<dyn Read + Send>,
    tracker: Arc<Tracker>,
}

impl Read for Counted {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.tracker.file_bytes.fetch_add(n as u64, Ordering::Relaxed);
        if let (Some(hasher), true) = (&self.tracker.hasher, n > 0) {
            hasher.update(&buf[..n]);
        }
        Ok(n)
    }
}

struct Tracked {
    inner: Box<dyn Read + Send>,
    tracker: Arc<Tracker>,
}

impl Read for Tracked {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        let t = &self.tracker;
        if n == 0 && !buf.is_empty() {
            t.ended.store(true, Ordering::Relaxed);
            return Ok(0);
        }
        let total = t.text_bytes.fetch_add(n as u64, Ordering::Relaxed) + n as u64;
        if total - t.record_start.load(Ordering::Relaxed).min(total) > MAX_RECORD_BYTES + (1 << 20) {
            return Err(io::Error::other(format!(
                "the record starting on line {} is over {} MiB: a quote that is never closed, most likely",
                t.record_line.load(Ordering::Relaxed),
                MAX_RECORD_BYTES >> 20
            )));
        }
        let chunk = &buf[..n];
        if n > 0 {
            t.last_byte.store(chunk[n - 1], Ordering::Relaxed);
            let mut tail = t.tail.lock().expect("tail lock");
            match chunk.iter().rposition(|&b| b == b'\n') {
                Some(last) => {
                    tail.clear();
                    tail.extend_from_slice(&chunk[last + 1..]);
                }
                None if tail.len() < TAIL_LIMIT => tail.extend_from_slice(chunk),
                None => {}
            }
        }

        if let Some(&b) = buf[..n].iter().rev().find(|&&b| b != b'\n' && b != b'\r') {
            t.last_content.store(b, Ordering::Relaxed);
        }
        if let Some(capture) = &t.capture {
            capture.lock().expect("capture lock").text.extend_from_slice(&buf[..n]);
        }
        Ok(n)
    }
}

/// Decodes a stream to UTF-8. A malformed sequence becomes [`INVALID_MARK`], a byte that is never
/// UTF-8, so that the reader's per-field check catches the row, with its line and column.
struct Decode {
    inner: Box<dyn Read + Send>,
    decoder: encoding_rs::Decoder,
    input: Vec<u8>,
    in_start: usize,
    in_end: usize,
    input_done: bool,
    output: Vec<u8>,
    out_start: usize,
    out_end: usize,
    finished: bool,
}

/// What a byte sequence the encoding does not define becomes: never valid in UTF-8.
pub const INVALID_MARK: u8 = 0xFF;

impl Decode {
    fn new(inner: Box<dyn Read + Send>, encoding: &'static Encoding) -> Self {
        // A byte-order mark, if any, wins over the encoding given.
        let decoder = encoding.new_decoder();
        let out_len = decoder.max_utf8_buffer_length_without_replacement(CHUNK).unwrap_or(4 * CHUNK) + 16;
        Decode {
            inner,
            decoder,
            input: vec![0; CHUNK],
            in_start: 0,
            in_end: 0,
            input_done: false,
            output: vec![0; out_len],
            out_start: 0,
            out_end: 0,
            finished: false,
        }
    }
}

impl Read for Decode {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            if self.out_start < self.out_end {
                let n = buf.len().min(self.out_end - self.out_start);
                buf[..n].copy_from_slice(&self.output[self.out_start..self.out_start + n]);
                self.out_start += n;
                return Ok(n);
            }
            if self.finished {
                return Ok(0);
            }
            if self.in_start == self.in_end && !self.input_done {
                let n = self.inner.read(&mut self.input)?;
                self.in_start = 0;
                self.in_end = n;
                self.input_done = n == 0;
            }
            let (result, read, written) = self.decoder.decode_to_utf8_without_replacement(
                &self.input[self.in_start..self.in_end],
                &mut self.output,
                self.input_done,
            );
            self.in_start += read;
            self.out_start = 0;
            self.out_end = written;
            match result {
                DecoderResult::Malformed(..) => {
                    self.output[self.out_end] = INVALID_MARK;
                    self.out_end += 1;
                }
                DecoderResult::InputEmpty if self.input_done => self.finished = true,
                DecoderResult::InputEmpty | DecoderResult::OutputFull => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn detect_text(bytes: &[u8]) -> std::result::Result<&'static str, String> {
        detect(&[bytes.to_vec()]).map(|e| e.name())
    }

    #[test]
    fn encodings_are_detected() {
        assert_eq!(detect_text(b"a,b\n1,2\n").unwrap(), "UTF-8");
        assert_eq!(detect_text("city\n東京都\n".as_bytes()).unwrap(), "UTF-8");
        assert_eq!(detect_text(b"\xEF\xBB\xBFa\n").unwrap(), "UTF-8");
        assert_eq!(detect_text(b"\xFF\xFEa\x00\n\x00").unwrap(), "UTF-16LE");
        let japanese = "都市,人口\n東京都,1400万\n大阪府,880万\n".repeat(20);
        let (sjis, _, _) = encoding_rs::SHIFT_JIS.encode(&japanese);
        assert_eq!(detect_text(&sjis).unwrap(), "Shift_JIS");
        let (euc, _, _) = encoding_rs::EUC_JP.encode(&japanese);
        assert_eq!(detect_text(&euc).unwrap(), "EUC-JP");
        let (latin, _, _) = encoding_rs::WINDOWS_1252.encode("name,price\nCafé,3 €\nCrème brûlée,5 €\n");
        assert_eq!(detect_text(&latin).unwrap(), "windows-1252");
        assert!(detect_text(b"\x00\x01\x02binary\x00").unwrap_err().contains("binary"));
    }

    #[test]
    fn labels() {
        assert_eq!(encoding_for_label("cp932").unwrap().name(), "Shift_JIS");
        assert_eq!(encoding_for_label("Latin1").unwrap().name(), "windows-1252");
        assert_eq!(encoding_for_label("UTF-8").unwrap().name(), "UTF-8");
        assert!(encoding_for_label("klingon").is_none());
    }

    #[test]
    fn undefined_bytes_become_a_mark_the_reader_catches() {
        let bytes = b"a\n\x82\xa0\n\x82\n".to_vec(); // Shift_JIS: a valid pair, then a cut one
        let mut d = Decode::new(Box::new(io::Cursor::new(bytes)), encoding_rs::SHIFT_JIS);
        let mut out = Vec::new();
        d.read_to_end(&mut out).unwrap();
        assert_eq!(out, [&b"a\n"[..], "あ".as_bytes(), b"\n", &[INVALID_MARK], b"\n"].concat());
    }

    #[test]
    fn samples_are_whole_lines() {
        assert_eq!(whole_lines(b"cut\nwhole\nhal".to_vec(), true, true), b"whole\n");
        assert_eq!(whole_lines(b"head\nhal".to_vec(), false, true), b"head\n");
        assert_eq!(whole_lines(b"tail\nend".to_vec(), true, false), b"end");
        assert_eq!(whole_lines(b"nobreak".to_vec(), true, true), b"");
    }

    #[test]
    fn a_stray_byte_does_not_turn_utf8_into_latin1() {
        let text = [&"München,Köln,Zürich\n".repeat(5).into_bytes()[..], b"Caf\xE9\n"].concat();
        assert_eq!(detect_text(&text).unwrap(), "UTF-8");
    }

    #[test]
    fn open_quotes_on_the_last_line() {
        let t = Tracker::default();
        let cases = [
            ("1,\"x", true),
            ("1,\"x\"", false),
            ("1,\"a \"\"b\"\" c", true),
            ("1,x\"y", false),
            ("\"a,b\",\"c", true),
        ];
        for (line, open) in cases {
            *t.tail.lock().unwrap() = line.as_bytes().to_vec();
            assert_eq!(t.last_line_leaves_quote_open(b','), open, "{line}");
        }
    }
}
