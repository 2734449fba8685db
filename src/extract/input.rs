//! A file's bytes on their way to the CSV parser: decompressed (gzip and zstd, told by their magic
//! bytes, read as a stream), decoded from the file's encoding to UTF-8 (detected from samples spread
//! over the whole file, or given), strictly: a byte sequence the encoding does not define is an
//! error with its line, never a replacement character.
//!
//! ```text
//! File ─▶ Counted (file bytes, for progress) ─▶ gzip / zstd ─▶ Decode (to UTF-8) ─▶ Tracked ─▶ csv
//! ```
//! `Tracked` keeps what the CSV reader needs to know about the text: whether it has ended, its
//! length and its last bytes (to number lines and spot an unclosed quote), and, when bad rows are
//! quarantined, the text of the record being read.

use std::fmt;
use std::fs;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};

use encoding_rs::{DecoderResult, Encoding, UTF_16BE, UTF_16LE, UTF_8};

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
        let input = |encoding, detected| TextInput { path: path.to_owned(), compression, encoding, detected };
        if let Some(encoding) = forced {
            return Ok(input(encoding, false));
        }
        let chunks = sample(path, compression, len)?;
        let encoding = detect(&chunks).map_err(|message| Error::Csv {
            source_name: path.display().to_string(),
            line: 1,
            message,
        })?;
        Ok(input(encoding, true))
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
    /// read (see [`Tracker::take_captured`]).
    pub fn open(&self, capture: bool) -> Result<(Box<dyn Read + Send>, Arc<Tracker>)> {
        let tracker = Arc::new(Tracker { capture: capture.then(Mutex::default), ..Tracker::default() });
        let file = fs::File::open(&self.path).map_err(|e| Error::io(&self.path, e))?;
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
        Ok((Box::new(Tracked { inner: text, tracker: tracker.clone() }), tracker))
    }

    /// The first `max` bytes of the text, as UTF-8 (for sniffing the dialect).
    pub fn head_text(&self, max: usize) -> Result<Vec<u8>> {
        let (mut text, _) = self.open(false)?;
        let mut out = vec![0; max];
        let n = read_up_to(&mut text, &mut out).map_err(|e| read_error(&self.path, e))?;
        out.truncate(n);
        Ok(out)
    }
}

/// A read error: a decoding error as a CSV error on its line, else an I/O error.
fn read_error(path: &Path, error: io::Error) -> Error {
    match error.get_ref().and_then(|inner| inner.downcast_ref::<DecodeError>()) {
        Some(decode) => Error::Csv {
            source_name: path.display().to_string(),
            line: decode.line,
            message: decode.message.clone(),
        },
        None => Error::io(path, error),
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
/// uncompressed file chunks spread evenly over the rest.
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
        return Ok(vec![head]);
    }
    let mut chunks = Vec::new();
    let mut head = vec![0; HEAD_SAMPLE];
    let n = read_up_to(&mut file, &mut head).map_err(io_err)?;
    head.truncate(n);
    chunks.push(head);
    let rest = len.saturating_sub(HEAD_SAMPLE as u64);
    if rest > 0 {
        for i in 1..=SPREAD_CHUNKS {
            let at = HEAD_SAMPLE as u64 + rest * i / (SPREAD_CHUNKS + 1);
            file.seek(SeekFrom::Start(at)).map_err(io_err)?;
            let mut chunk = vec![0; CHUNK];
            let n = read_up_to(&mut file, &mut chunk).map_err(io_err)?;
            chunk.truncate(n);
            chunks.push(chunk);
        }
    }
    Ok(chunks)
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
    if nul > 0 || controls * 20 > total {
        return Err("this looks like a binary file, not CSV text (it holds NUL or control bytes); if it is \
                    UTF-16 without a byte-order mark, pass --encoding utf-16le"
            .into());
    }
    if chunks.iter().enumerate().all(|(i, c)| valid_utf8_chunk(c, i > 0)) {
        return Ok(UTF_8);
    }
    let mut detector = chardetng::EncodingDetector::new(chardetng::Iso2022JpDetection::Deny);
    for chunk in chunks {
        detector.feed(chunk, false);
    }
    detector.feed(&[], true);
    let guess = detector.guess(None, chardetng::Utf8Detection::Deny);
    // A guess that cannot decode its own evidence is no guess.
    if chunks.iter().enumerate().all(|(i, c)| decodes_cleanly(guess, c, i > 0)) {
        Ok(guess)
    } else {
        Err(format!(
            "cannot tell the file's encoding: it is not UTF-8, and not consistently {} either; pass \
             --encoding (e.g. windows-1252, shift_jis, euc-jp)",
            guess.name()
        ))
    }
}

/// Whether a chunk is UTF-8, forgiving a character cut at its end (and, for a chunk taken from the
/// middle of the file, at its start).
fn valid_utf8_chunk(chunk: &[u8], mid_file: bool) -> bool {
    let start = if mid_file { chunk.iter().take(3).take_while(|&&b| b & 0xC0 == 0x80).count() } else { 0 };
    match std::str::from_utf8(&chunk[start..]) {
        Ok(_) => true,
        Err(e) => e.error_len().is_none(),
    }
}

/// Whether `chunk` decodes in `encoding` without a malformed sequence, away from its edges.
fn decodes_cleanly(encoding: &'static Encoding, chunk: &[u8], mid_file: bool) -> bool {
    let mut decoder = encoding.new_decoder_without_bom_handling();
    let mut out =
        vec![0u8; decoder.max_utf8_buffer_length_without_replacement(chunk.len()).unwrap_or(0) + 16];
    let mut src = chunk;
    let mut errors_inside = 0;
    let mut consumed = 0usize;
    loop {
        let (result, read, _) = decoder.decode_to_utf8_without_replacement(src, &mut out, false);
        consumed += read;
        src = &src[read..];
        match result {
            DecoderResult::InputEmpty => break,
            DecoderResult::OutputFull => return true,
            DecoderResult::Malformed(..) => {
                // A cut character at the start of a chunk from the middle of the file is expected.
                if !(mid_file && consumed <= 4) {
                    errors_inside += 1;
                }
            }
        }
    }
    errors_inside == 0
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
    capture: Option<Mutex<Captured>>,
}

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
    inner: fs::File,
    tracker: Arc<Tracker>,
}

impl Read for Counted {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.tracker.file_bytes.fetch_add(n as u64, Ordering::Relaxed);
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
        t.text_bytes.fetch_add(n as u64, Ordering::Relaxed);
        if n > 0 {
            t.last_byte.store(buf[n - 1], Ordering::Relaxed);
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

/// A byte sequence the file's encoding does not define.
#[derive(Debug)]
pub struct DecodeError {
    pub line: u64,
    pub message: String,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

impl std::error::Error for DecodeError {}

/// Decodes a stream to UTF-8, strictly.
struct Decode {
    inner: Box<dyn Read + Send>,
    decoder: encoding_rs::Decoder,
    encoding: &'static Encoding,
    input: Vec<u8>,
    in_start: usize,
    in_end: usize,
    input_done: bool,
    output: Vec<u8>,
    out_start: usize,
    out_end: usize,
    /// Line breaks decoded so far (for the line of a malformed sequence).
    lines: u64,
    finished: bool,
}

impl Decode {
    fn new(inner: Box<dyn Read + Send>, encoding: &'static Encoding) -> Self {
        let decoder = encoding.new_decoder_with_bom_removal();
        let out_len = decoder.max_utf8_buffer_length_without_replacement(CHUNK).unwrap_or(4 * CHUNK) + 16;
        Decode {
            inner,
            decoder,
            encoding,
            input: vec![0; CHUNK],
            in_start: 0,
            in_end: 0,
            input_done: false,
            output: vec![0; out_len],
            out_start: 0,
            out_end: 0,
            lines: 0,
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
            self.lines += self.output[..written].iter().filter(|&&b| b == b'\n').count() as u64;
            match result {
                DecoderResult::Malformed(..) => {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        DecodeError {
                            line: self.lines + 1,
                            message: format!(
                                "a byte sequence that is not valid {}: the file is not entirely in that \
                                 encoding; pass --encoding with the right one",
                                self.encoding.name()
                            ),
                        },
                    ))
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
    fn strict_decoding_names_the_line() {
        let bytes = b"a\n\x82\xa0\n\x82\n".to_vec(); // Shift_JIS: a valid pair, then a cut one
        let mut d = Decode::new(Box::new(io::Cursor::new(bytes)), encoding_rs::SHIFT_JIS);
        let mut out = Vec::new();
        let err = d.read_to_end(&mut out).unwrap_err();
        let inner = err.get_ref().unwrap().downcast_ref::<DecodeError>().unwrap();
        assert_eq!(inner.line, 3, "{inner}");
    }
}
