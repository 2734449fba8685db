//! A CSV file's records, read the way the `csv` crate reads them (delimiter, `"` quotes doubled
//! inside quoted fields, records ending at `\n`, blank lines and comment lines skipped at the start
//! of a record), faster on the lines most files are made of: a line without a quote is split on its
//! delimiters with `memchr`, and only a record whose first line holds a quote goes through
//! `csv_core`'s state machine. The record, its end offset in the text and the line count come out
//! exactly as `csv::Reader` gives them (a differential test holds the two together).

use std::io::{self, Read};

use memchr::memchr;

/// The text read at a time (grown for a longer line).
const BUFFER: usize = 1 << 20;

/// One record: its fields back to back, field `i` ending at `ends[i]`.
#[derive(Debug, Default, Clone)]
pub struct Record {
    text: Vec<u8>,
    ends: Vec<usize>,
}

impl Record {
    pub fn new() -> Self {
        Record::default()
    }

    /// Number of fields.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// The fields' bytes, back to back.
    pub fn as_slice(&self) -> &[u8] {
        &self.text[..self.ends.last().copied().unwrap_or(0)]
    }

    /// Where field `i` lies in [`Record::as_slice`].
    pub fn range(&self, i: usize) -> Option<std::ops::Range<usize>> {
        let end = *self.ends.get(i)?;
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        Some(start..end)
    }

    pub fn get(&self, i: usize) -> Option<&[u8]> {
        self.range(i).map(|r| &self.text[r])
    }

    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &[u8]> + ExactSizeIterator {
        (0..self.len()).map(|i| self.get(i).expect("a field"))
    }

    /// The end offsets of the fields in [`Record::as_slice`].
    pub fn ends(&self) -> &[usize] {
        &self.ends
    }

    fn clear(&mut self) {
        self.text.clear();
        self.ends.clear();
    }
}

impl std::ops::Index<usize> for Record {
    type Output = [u8];

    fn index(&self, i: usize) -> &[u8] {
        self.get(i).expect("a field")
    }
}

/// Records read from a text.
pub struct Reader<R> {
    inner: R,
    buf: Vec<u8>,
    /// The unread text is `buf[pos..filled]`.
    pos: usize,
    filled: usize,
    eof: bool,
    /// Text bytes before `buf[pos]`.
    consumed: u64,
    /// One more than the line breaks before `buf[pos]` (csv's line count).
    line: u64,
    delimiter: u8,
    comment: Option<u8>,
    core: csv_core::Reader,
    /// Inside a comment line whose end is not read yet.
    in_comment: bool,
    done: bool,
}

impl<R: Read> Reader<R> {
    pub fn new(inner: R, delimiter: u8, comment: Option<u8>) -> Self {
        let core = csv_core::ReaderBuilder::new()
            .delimiter(delimiter)
            .comment(comment)
            .terminator(csv_core::Terminator::Any(b'\n'))
            .build();
        Reader {
            inner,
            buf: vec![0; BUFFER],
            pos: 0,
            filled: 0,
            eof: false,
            consumed: 0,
            line: 1,
            delimiter,
            comment,
            core,
            in_comment: false,
            done: false,
        }
    }

    /// Text bytes read through the end of the last record (and the blank or comment lines skipped
    /// before it).
    pub fn byte(&self) -> u64 {
        self.consumed
    }

    /// One more than the line breaks in those bytes.
    pub fn line(&self) -> u64 {
        self.line
    }

    /// Reads the next record into `record`; `false` at the end of the text.
    pub fn read(&mut self, record: &mut Record) -> io::Result<bool> {
        record.clear();
        if self.done {
            return Ok(false);
        }
        // Where a scan that needed more text stops (field start, next block), from `pos`: it goes on
        // from there once more is read, so a long line is scanned once.
        let mut resume: Option<(usize, usize)> = None;
        'record: loop {
            if resume.is_none() {
                record.clear();
                let Some(&first) = self.buf[self.pos..self.filled].first() else {
                    if self.eof {
                        self.done = true;
                        return Ok(false);
                    }
                    self.fill()?;
                    continue;
                };
                if self.in_comment || Some(first) == self.comment {
                    // A comment line, where a record would start (skipped as it is read).
                    match memchr(b'\n', &self.buf[self.pos..self.filled]) {
                        Some(len) => {
                            self.advance(len + 1, 1);
                            self.in_comment = false;
                        }
                        None => {
                            self.advance(self.filled - self.pos, 0);
                            self.in_comment = !self.eof;
                        }
                    }
                    continue;
                }
                if first == b'\n' {
                    // A blank line, where a record would start.
                    self.advance(1, 1);
                    continue;
                }
            }
            // The structural bytes (delimiters, line breaks, quotes) ahead, 64 at a time.
            let (buf, filled, delimiter) = (&self.buf[..self.filled], self.filled, self.delimiter);
            let (mut field, mut i) =
                resume.take().map_or((self.pos, self.pos), |(f, i)| (self.pos + f, self.pos + i));
            'scan: loop {
                let block = &buf[i..filled.min(i + 64)];
                if block.len() < 64 && !self.eof {
                    resume = Some((field - self.pos, i - self.pos));
                    self.fill()?;
                    continue 'record;
                }
                let mut bits = structural(block, delimiter);
                while bits != 0 {
                    let at = i + bits.trailing_zeros() as usize;
                    bits &= bits - 1;
                    let byte = buf[at];
                    if byte == b'"' {
                        // A quoted field without doubled quotes or line breaks is read here;
                        // anything else by csv_core.
                        if at != field {
                            return self.read_quoted(record);
                        }
                        // (Past the text read so far, csv_core reads on.)
                        let Some(close) = memchr(b'"', &buf[at + 1..filled]).map(|k| at + 1 + k) else {
                            return self.read_quoted(record);
                        };
                        let next = close + 1;
                        if next == filled && !self.eof {
                            return self.read_quoted(record);
                        }
                        let content = &buf[at + 1..close];
                        let after = buf.get(next).copied();
                        if memchr(b'\n', content).is_some()
                            || !(after.is_none() || after == Some(delimiter) || after == Some(b'\n'))
                        {
                            return self.read_quoted(record);
                        }
                        record.text.extend_from_slice(content);
                        if after == Some(delimiter) {
                            record.ends.push(record.text.len());
                            field = next + 1;
                            i = next + 1;
                            continue 'scan;
                        }
                        // The line's or the text's end.
                        record.ends.push(record.text.len());
                        let lines = u64::from(after.is_some());
                        self.advance(next + usize::from(after.is_some()) - self.pos, lines);
                        return Ok(true);
                    }
                    record.text.extend_from_slice(&buf[field..at]);
                    record.ends.push(record.text.len());
                    field = at + 1;
                    if byte == b'\n' {
                        self.advance(at + 1 - self.pos, 1);
                        return Ok(true);
                    }
                }
                if block.len() < 64 {
                    // The text ends without a line break: its last field ends with it.
                    record.text.extend_from_slice(&buf[field..filled]);
                    record.ends.push(record.text.len());
                    self.advance(filled - self.pos, 0);
                    return Ok(true);
                }
                i += 64;
            }
        }
    }

    /// A record with quotes, through `csv_core` (which may need more text than is in the buffer).
    fn read_quoted(&mut self, record: &mut Record) -> io::Result<bool> {
        use csv_core::ReadRecordResult::*;
        record.clear();
        self.core.set_line(self.line);
        let (mut outlen, mut endlen) = (0, 0);
        if record.text.len() < 256 {
            record.text.resize(256, 0);
        }
        if record.ends.len() < 16 {
            record.ends.resize(16, 0);
        }
        loop {
            if self.pos == self.filled && !self.eof {
                self.fill()?;
            }
            let input = &self.buf[self.pos..self.filled];
            let (res, nin, nout, nend) =
                self.core.read_record(input, &mut record.text[outlen..], &mut record.ends[endlen..]);
            self.pos += nin;
            self.consumed += nin as u64;
            outlen += nout;
            endlen += nend;
            match res {
                InputEmpty => {}
                OutputFull => record.text.resize(record.text.len() * 2, 0),
                OutputEndsFull => record.ends.resize(record.ends.len() * 2, 0),
                Record => {
                    self.line = self.core.line();
                    record.text.truncate(outlen);
                    record.ends.truncate(endlen);
                    return Ok(true);
                }
                End => {
                    self.line = self.core.line();
                    self.done = true;
                    record.clear();
                    return Ok(false);
                }
            }
        }
    }

    fn advance(&mut self, bytes: usize, lines: u64) {
        self.pos += bytes;
        self.consumed += bytes as u64;
        self.line += lines;
    }

    /// Reads more text after what is unread (moved to the front; the buffer grows when the unread
    /// text fills it).
    fn fill(&mut self) -> io::Result<()> {
        if self.pos > 0 {
            self.buf.copy_within(self.pos..self.filled, 0);
            self.filled -= self.pos;
            self.pos = 0;
        }
        if self.filled == self.buf.len() {
            self.buf.resize(self.buf.len() * 2, 0);
        }
        loop {
            match self.inner.read(&mut self.buf[self.filled..]) {
                Ok(0) => {
                    self.eof = true;
                    return Ok(());
                }
                Ok(n) => {
                    self.filled += n;
                    return Ok(());
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
    }
}

/// A bit for each byte of `block` (at most 64) that is the delimiter, a line break or a quote.
#[inline]
fn structural(block: &[u8], delimiter: u8) -> u64 {
    #[cfg(target_arch = "x86_64")]
    if block.len() == 64 {
        // SSE2 is part of every x86_64 processor.
        use std::arch::x86_64::*;
        // SAFETY: four unaligned 16-byte loads within the 64 bytes of `block`.
        unsafe {
            let (d, n, q) =
                (_mm_set1_epi8(delimiter as i8), _mm_set1_epi8(b'\n' as i8), _mm_set1_epi8(b'"' as i8));
            let mut bits = 0u64;
            for k in 0..4 {
                let v = _mm_loadu_si128(block.as_ptr().add(16 * k) as *const __m128i);
                let hits = _mm_or_si128(
                    _mm_or_si128(_mm_cmpeq_epi8(v, d), _mm_cmpeq_epi8(v, n)),
                    _mm_cmpeq_epi8(v, q),
                );
                bits |= u64::from(_mm_movemask_epi8(hits) as u16) << (16 * k);
            }
            return bits;
        }
    }
    block
        .iter()
        .enumerate()
        .filter(|&(_, &b)| b == delimiter || b == b'\n' || b == b'"')
        .fold(0, |bits, (k, _)| bits | 1 << k)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What `csv::Reader` makes of `text`: each record's fields, the byte and line after it.
    fn by_csv(text: &[u8], delimiter: u8, comment: Option<u8>) -> Vec<(Vec<Vec<u8>>, u64, u64)> {
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .delimiter(delimiter)
            .comment(comment)
            .terminator(csv::Terminator::Any(b'\n'))
            .from_reader(text);
        let mut record = csv::ByteRecord::new();
        let mut out = Vec::new();
        while reader.read_byte_record(&mut record).unwrap() {
            let p = reader.position();
            out.push((record.iter().map(<[u8]>::to_vec).collect(), p.byte(), p.line()));
        }
        // csv_core makes a comment line that ends the text without a line break into a record of
        // one empty field; here it is a comment line like the others.
        let last_line = text.rsplit(|&b| b == b'\n').next().unwrap_or_default();
        let empty = |r: &(Vec<Vec<u8>>, u64, u64)| r.0 == [Vec::<u8>::new()] && r.1 == text.len() as u64;
        if comment.is_some() && last_line.first() == comment.as_ref() && out.last().is_some_and(empty) {
            out.pop();
        }
        out
    }

    /// The same, read here, `chunk` bytes at a time.
    fn by_records(
        text: &[u8],
        delimiter: u8,
        comment: Option<u8>,
        chunk: usize,
    ) -> Vec<(Vec<Vec<u8>>, u64, u64)> {
        let small = by_records_in(text, delimiter, comment, chunk, 8);
        assert_eq!(small, by_records_in(text, delimiter, comment, chunk, 200));
        small
    }

    /// Read through a buffer of `buffer` bytes at first.
    fn by_records_in(
        text: &[u8],
        delimiter: u8,
        comment: Option<u8>,
        chunk: usize,
        buffer: usize,
    ) -> Vec<(Vec<Vec<u8>>, u64, u64)> {
        struct Chunks<'a>(&'a [u8], usize);
        impl Read for Chunks<'_> {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                let n = self.0.len().min(self.1).min(buf.len());
                buf[..n].copy_from_slice(&self.0[..n]);
                self.0 = &self.0[n..];
                Ok(n)
            }
        }
        let mut reader = Reader::new(Chunks(text, chunk), delimiter, comment);
        reader.buf = vec![0; buffer];
        let mut record = Record::new();
        let mut out = Vec::new();
        while reader.read(&mut record).unwrap() {
            out.push((record.iter().map(<[u8]>::to_vec).collect(), reader.byte(), reader.line()));
        }
        assert!(!reader.read(&mut record).unwrap());
        out
    }

    #[test]
    fn records_come_out_as_the_csv_crate_reads_them() {
        let cases: &[&[u8]] = &[
            b"",
            b"\n\n",
            b"a,b\n1,2\n",
            b"a,b\n1,2",
            b"a,b\r\n1,2\r\n\r\n3,4",
            b"a\n\n\nb\n",
            b"#c\na,b\n# x,\"y\n1,2\n",
            b"a,\"b\nc\",d\ne,f\n",
            b"a,\"b\"\"c\",d\n\"\",x\n",
            b"a,\"open\nnever closed",
            b"x,\"y\"z,w\n",
            b"\"q\"\n\n\"r\"",
            b"a;b\n1;2;3\n",
            b",\n,,\n",
            b"\r\n\r\n",
        ];
        for text in cases {
            for &(delimiter, comment) in &[(b',', None), (b',', Some(b'#')), (b';', None)] {
                let expected = by_csv(text, delimiter, comment);
                for chunk in [1, 3, 64] {
                    assert_eq!(
                        by_records(text, delimiter, comment, chunk),
                        expected,
                        "{:?} delimiter {:?} comment {comment:?} chunk {chunk}",
                        String::from_utf8_lossy(text),
                        delimiter as char
                    );
                }
            }
        }
    }

    #[test]
    fn random_texts_read_alike() {
        // A small deterministic generator over the bytes that matter.
        let alphabet = b"abcdefgh,,,;\"\n\r# ";
        let mut state = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..3000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let len = (state % if state % 4 == 0 { 400 } else { 40 }) as usize;
            let text: Vec<u8> = (0..len)
                .map(|i| {
                    let x = state.rotate_left(i as u32 * 5) ^ (i as u64).wrapping_mul(0x9e37_79b9);
                    alphabet[(x % alphabet.len() as u64) as usize]
                })
                .collect();
            for &(delimiter, comment) in &[(b',', None), (b',', Some(b'#')), (b';', Some(b'#'))] {
                let expected = by_csv(&text, delimiter, comment);
                for chunk in [1, 7, 1000] {
                    assert_eq!(
                        by_records(&text, delimiter, comment, chunk),
                        expected,
                        "{:?} chunk {chunk}",
                        String::from_utf8_lossy(&text)
                    );
                }
            }
        }
    }
}
