//! The shape of a CSV file's text beyond RFC 4180, as people's exports have it: a delimiter that
//! takes a space after it (`, `), comment lines (`# exported by …`), and lines above the header (a
//! report's title and blank rows). Each is given by the user or detected ([`super::sniff`]); this
//! module holds the settings and [`DialectText`], the layer of the text stream that reads them.

use std::collections::VecDeque;
use std::fmt;
use std::io::{self, Read};
use std::sync::{Arc, Mutex};

/// A field delimiter: one byte, and whether the one space after it belongs to it (`, `).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delimiter {
    pub byte: u8,
    pub space_after: bool,
}

impl Delimiter {
    /// One byte alone.
    pub const fn of(byte: u8) -> Self {
        Delimiter { byte, space_after: false }
    }

    /// A delimiter as a person writes it: one ASCII character other than a quote or a line break,
    /// `tab` / `\t`, or `, ` (a comma and a space).
    pub fn parse(text: &str) -> Result<Self, String> {
        match text {
            "tab" | "\\t" | "\t" => Ok(Delimiter::of(b'\t')),
            _ if text.len() == 2 && text.ends_with(' ') && text != "  " && text.is_ascii() => {
                Ok(Delimiter { byte: text.as_bytes()[0], space_after: true })
            }
            _ if text.len() == 1 && text.is_ascii() && !matches!(text, "\"" | "\n" | "\r") => {
                Ok(Delimiter::of(text.as_bytes()[0]))
            }
            _ => Err(format!(
                "delimiter `{text}` must be one ASCII character other than a quote or a line break (`,` `;` \
                 `|`, or `tab`), or one followed by a space (`, `)"
            )),
        }
    }
}

impl fmt::Display for Delimiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.byte, self.space_after) {
            (b'\t', false) => f.write_str("tab"),
            (b, false) => write!(f, "{}", char::from(b)),
            (b, true) => write!(f, "{} ", char::from(b)),
        }
    }
}

/// A setting of the dialect that the file can be read for when the user does not give it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Setting<T> {
    /// Told from the file.
    #[default]
    Detect,
    /// Switched off.
    Off,
    Given(T),
}

/// A comment character as a person writes it: one ASCII character, or `none` (no comment lines).
pub fn parse_comment_char(text: &str) -> Result<Setting<u8>, String> {
    match text {
        "none" | "" => Ok(Setting::Off),
        _ if text.len() == 1 && text.is_ascii() && !matches!(text, "\"" | "\n" | "\r" | " ") => {
            Ok(Setting::Given(text.as_bytes()[0]))
        }
        _ => Err(format!("comment character `{text}` must be one ASCII character (such as `#`), or `none`")),
    }
}

/// The comment lines a pass has met: how many, and the line numbers the parser has not reached yet.
#[derive(Debug, Default)]
pub struct CommentLines {
    inner: Mutex<(u64, VecDeque<u64>)>,
}

impl CommentLines {
    fn push(&self, line: u64) {
        let mut inner = self.inner.lock().expect("comment lines");
        inner.0 += 1;
        inner.1.push_back(line);
    }

    /// How many comment lines the text has had so far.
    pub fn count(&self) -> u64 {
        self.inner.lock().expect("comment lines").0
    }

    /// Whether `line` is a comment line; forgets the ones before it (the parser is past them).
    pub fn is_comment(&self, line: u64) -> bool {
        let mut inner = self.inner.lock().expect("comment lines");
        while inner.1.front().is_some_and(|&l| l < line) {
            inner.1.pop_front();
        }
        inner.1.front() == Some(&line)
    }
}

/// A CSV text read for its dialect: the space after each delimiter (outside quotes) dropped when the
/// delimiter takes one, and comment lines counted (the CSV parser skips them itself). Quotes are
/// followed as the parser follows them: a `"` opens a field only at its start, `""` inside is a quote.
pub struct DialectText<R> {
    inner: R,
    delimiter: Delimiter,
    comment: Option<u8>,
    comments: Arc<CommentLines>,
    scan: Scan,
}

#[derive(Debug, Clone, Copy)]
struct Scan {
    in_quotes: bool,
    /// Inside quotes, a `"` was the last byte: it closes the field unless a `"` follows.
    quote_seen: bool,
    field_start: bool,
    line_start: bool,
    in_comment: bool,
    /// A delimiter that takes a space was the last byte.
    drop_space: bool,
    line: u64,
}

impl<R: Read> DialectText<R> {
    pub fn new(inner: R, delimiter: Delimiter, comment: Option<u8>, comments: Arc<CommentLines>) -> Self {
        let scan = Scan {
            in_quotes: false,
            quote_seen: false,
            field_start: true,
            line_start: true,
            in_comment: false,
            drop_space: false,
            line: 1,
        };
        DialectText { inner, delimiter, comment, comments, scan }
    }

    /// Scans `buf` in place; returns the length kept.
    fn scan(&mut self, buf: &mut [u8]) -> usize {
        let s = &mut self.scan;
        let mut kept = 0;
        for i in 0..buf.len() {
            let b = buf[i];
            let mut keep = true;
            if b == b'\n' {
                s.line += 1;
            }
            if s.in_comment {
                if b == b'\n' {
                    s.in_comment = false;
                    s.line_start = true;
                    s.field_start = true;
                }
            } else if s.in_quotes && !s.quote_seen {
                s.quote_seen = b == b'"';
            } else {
                if s.quote_seen {
                    s.quote_seen = false;
                    if b == b'"' {
                        // `""`: a quote inside the field.
                        buf[kept] = b;
                        kept += 1;
                        continue;
                    }
                    s.in_quotes = false;
                }
                if std::mem::take(&mut s.drop_space) && b == b' ' {
                    keep = false;
                } else if s.line_start && Some(b) == self.comment {
                    s.in_comment = true;
                    s.line_start = false;
                    self.comments.push(s.line);
                } else if b == b'\n' {
                    s.line_start = true;
                    s.field_start = true;
                } else if b == self.delimiter.byte {
                    s.line_start = false;
                    s.field_start = true;
                    s.drop_space = self.delimiter.space_after;
                } else if b == b'"' && s.field_start {
                    s.line_start = false;
                    s.field_start = false;
                    s.in_quotes = true;
                } else {
                    s.line_start = false;
                    s.field_start = false;
                }
            }
            if keep {
                buf[kept] = b;
                kept += 1;
            }
        }
        kept
    }
}

impl<R: Read> Read for DialectText<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let n = self.inner.read(buf)?;
            if n == 0 {
                return Ok(0);
            }
            let kept = self.scan(&mut buf[..n]);
            // A read that was all dropped spaces is not the end of the text.
            if kept > 0 {
                return Ok(kept);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn through(text: &[u8], delimiter: Delimiter, comment: Option<u8>, chunk: usize) -> (Vec<u8>, Vec<u64>) {
        let comments = Arc::new(CommentLines::default());
        let mut reader = DialectText::new(text, delimiter, comment, comments.clone());
        let mut out = Vec::new();
        let mut buf = vec![0; chunk];
        loop {
            let n = reader.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            out.extend_from_slice(&buf[..n]);
        }
        let lines = comments.inner.lock().unwrap().1.iter().copied().collect();
        (out, lines)
    }

    #[test]
    fn the_space_after_a_delimiter_is_dropped_outside_quotes_only() {
        let text = b"a, b, c\n1, \"x, y\", \" z\"\n2,  3, \"q\"\"r, s\"\n";
        for chunk in [1, 2, 3, 64] {
            let (out, _) = through(text, Delimiter { byte: b',', space_after: true }, None, chunk);
            assert_eq!(out, b"a,b,c\n1,\"x, y\",\" z\"\n2, 3,\"q\"\"r, s\"\n", "chunk {chunk}");
        }
    }

    #[test]
    fn comment_lines_are_counted_where_a_record_would_start() {
        let text = b"# head\nid,note\n1,\"a\n# not a comment\"\n# tail, x\n2,#b\n";
        for chunk in [1, 5, 64] {
            let (out, lines) = through(text, Delimiter::of(b','), Some(b'#'), chunk);
            assert_eq!(out, text, "the text is kept for the parser");
            assert_eq!(lines, [1, 5], "chunk {chunk}");
        }
    }

    #[test]
    fn delimiters_and_comment_characters_parse_as_written() {
        assert_eq!(Delimiter::parse(", ").unwrap(), Delimiter { byte: b',', space_after: true });
        assert_eq!(Delimiter::parse("tab").unwrap(), Delimiter::of(b'\t'));
        assert_eq!(Delimiter::parse(";").unwrap().to_string(), ";");
        assert_eq!(Delimiter::parse(", ").unwrap().to_string(), ", ");
        assert!(Delimiter::parse("\"").is_err() && Delimiter::parse(",,").is_err());
        assert_eq!(parse_comment_char("#"), Ok(Setting::Given(b'#')));
        assert_eq!(parse_comment_char("none"), Ok(Setting::Off));
        assert!(parse_comment_char("//").is_err());
    }
}
