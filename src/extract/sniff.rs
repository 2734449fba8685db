//! Which delimiter a CSV file uses: `,`, `;`, tab or `|`, told from the first records of its text.
//!
//! As DuckDB's sniffer does, each candidate parses the sample (quotes respected, so a delimiter
//! inside a quoted field does not count); the candidate under which the most records agree on one
//! field count above one wins; ties go to the one giving more fields, then to the earlier candidate.

/// The candidates, in order of preference on a tie.
pub const CANDIDATES: [u8; 4] = [b',', b';', b'\t', b'|'];
/// Records looked at.
const RECORDS: usize = 200;

/// The delimiter of the text `sample` starts with (`,` when nothing tells, as for one column), lines
/// starting with `comment` left out. `complete` says whether the sample is the whole text (else its
/// last record may be cut).
pub fn sniff_delimiter(sample: &[u8], complete: bool, comment: Option<u8>) -> u8 {
    let mut best = (b',', 0usize, 0usize);
    for delimiter in CANDIDATES {
        let (agreeing, fields) = consistency(sample, delimiter, complete, comment);
        if fields > 1 && (agreeing, fields) > (best.1, best.2) {
            best = (delimiter, agreeing, fields);
        }
    }
    best.0
}

/// Under `delimiter`: how many records have the most common field count, and that count.
fn consistency(sample: &[u8], delimiter: u8, complete: bool, comment: Option<u8>) -> (usize, usize) {
    let mut reader = reader(sample, delimiter, comment);
    let mut counts: Vec<usize> = Vec::new();
    let mut record = csv::ByteRecord::new();
    while counts.len() < RECORDS {
        match reader.read_byte_record(&mut record) {
            Ok(true) => counts.push(record.len()),
            _ => break,
        }
    }
    if !complete && counts.len() > 1 && counts.len() < RECORDS {
        // The last record may be cut by the end of the sample.
        counts.pop();
    }
    let mut tally: Vec<(usize, usize)> = Vec::new();
    for c in counts {
        match tally.iter_mut().find(|(k, _)| *k == c) {
            Some((_, n)) => *n += 1,
            None => tally.push((c, 1)),
        }
    }
    tally.into_iter().map(|(k, n)| (n, k)).max().unwrap_or((0, 0))
}

/// The comment character looked for when none is given.
pub const COMMENT_CANDIDATE: u8 = b'#';

/// Whether lines starting with `#` are comments in the text `sample` starts with, as DuckDB's
/// sniffer tells: some line starts with `#`, and at least one of those lines is not a row of the
/// table (its field count differs from that of the other lines). A lone `#id,name` header, or values
/// that start with `#` in a one-column file, are not comments.
pub fn sniff_comment(sample: &[u8], complete: bool) -> bool {
    let starts_comment = |line: &[u8]| line.first() == Some(&COMMENT_CANDIDATE);
    if !sample.split(|&b| b == b'\n').any(starts_comment) {
        return false;
    }
    let delimiter = sniff_delimiter(sample, complete, Some(COMMENT_CANDIDATE));
    let (_, table) = consistency(sample, delimiter, complete, Some(COMMENT_CANDIDATE));
    sample
        .split(|&b| b == b'\n')
        .filter(|line| starts_comment(line))
        .any(|line| fields(line, delimiter) != table)
}

/// The number of fields of one line under `delimiter` (quotes respected).
fn fields(line: &[u8], delimiter: u8) -> usize {
    let mut reader = reader(line, delimiter, None);
    let mut record = csv::ByteRecord::new();
    match reader.read_byte_record(&mut record) {
        Ok(true) => record.len(),
        _ => 0,
    }
}

fn reader(sample: &[u8], delimiter: u8, comment: Option<u8>) -> csv::Reader<&[u8]> {
    csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(delimiter)
        .comment(comment)
        .terminator(csv::Terminator::Any(b'\n'))
        .from_reader(sample)
}

/// Whether every delimiter of the sample (outside quotes, in records that have one) is followed by a
/// space: the fields are separated by `, ` (as some reports write them), not by `,` alone.
pub fn sniff_space_after(sample: &[u8], delimiter: u8, comment: Option<u8>) -> bool {
    let (mut delimiters, mut spaced, mut lines_with) = (0usize, 0usize, 0usize);
    let (mut in_quotes, mut field_start, mut line_start, mut in_comment, mut seen_here) =
        (false, true, true, false, false);
    let mut i = 0;
    while i < sample.len() {
        let b = sample[i];
        i += 1;
        if in_comment {
            in_comment = b != b'\n';
            line_start = !in_comment;
            continue;
        }
        if in_quotes {
            if b == b'"' {
                if sample.get(i) == Some(&b'"') {
                    i += 1;
                } else {
                    in_quotes = false;
                }
            }
            continue;
        }
        if line_start && Some(b) == comment {
            in_comment = true;
            continue;
        }
        line_start = false;
        if b == b'\n' {
            line_start = true;
            field_start = true;
            lines_with += usize::from(seen_here);
            seen_here = false;
        } else if b == delimiter {
            delimiters += 1;
            seen_here = true;
            if sample.get(i) == Some(&b' ') {
                spaced += 1;
                i += 1;
            }
            field_start = true;
        } else if b == b'"' && field_start {
            in_quotes = true;
        } else {
            field_start = false;
        }
    }
    delimiters > 0 && spaced == delimiters && lines_with >= 2
}

/// How many lines above the header are a preamble: a report's title and blank rows (`Report,,,,`
/// then `,,,,`) over the real header. A preamble line has at most one value, in its first field,
/// while the table has two columns or more; the header is the first line after it, and must have as
/// many fields as most lines do (else nothing is taken for a preamble). Returns the lines to skip.
pub fn sniff_preamble(sample: &[u8], delimiter: u8, comment: Option<u8>, complete: bool) -> u64 {
    let (_, table) = consistency(sample, delimiter, complete, comment);
    if table < 2 {
        return 0;
    }
    let mut reader = reader(sample, delimiter, comment);
    let mut record = csv::ByteRecord::new();
    let mut skip = 0;
    while let Ok(true) = reader.read_byte_record(&mut record) {
        let values: Vec<usize> = (0..record.len()).filter(|&i| !record[i].trim_ascii().is_empty()).collect();
        let preamble = values.is_empty() || values == [0];
        if !preamble {
            // The line the header starts on, less one: lines skipped before it (records end at `\n`).
            let header_line = record.position().map_or(1, |p| p.line());
            return if record.len() == table { header_line - 1 } else { 0 };
        }
        skip += 1;
        if skip > PREAMBLE_RECORDS {
            return 0;
        }
    }
    0
}

/// Records looked at for a preamble before giving up.
const PREAMBLE_RECORDS: usize = 50;

/// What a value looks like, for telling a header from a row of data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    Empty,
    Number,
    Date,
    Text,
}

fn shape(value: &[u8]) -> Shape {
    use crate::transform::values::{DateFormat, DatetimeFormat};
    let value = value.trim_ascii();
    if value.is_empty() {
        return Shape::Empty;
    }
    let text = String::from_utf8_lossy(value);
    let numeric = text.parse::<f64>().is_ok_and(f64::is_finite)
        && text.bytes().all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'-' | b'+' | b'e' | b'E'));
    if numeric {
        Shape::Number
    } else if DateFormat::Iso.parse(value).is_some() || DatetimeFormat::ISO.parse(value).is_some() {
        Shape::Date
    } else {
        Shape::Text
    }
}

/// A whole number that reads as a year (a pivot's column names: `region,2023,2024`).
fn year(value: &[u8]) -> bool {
    std::str::from_utf8(value.trim_ascii())
        .ok()
        .and_then(|t| t.parse::<u32>().ok())
        .is_some_and(|y| (1900..=2100).contains(&y))
}

/// Whether the text `sample` starts with (after `skip` lines) has a header line, as DuckDB's sniffer
/// tells: it has none when every value of its first record has the shape its column's values below
/// have (a number over numbers, a date over dates; an empty value fits any) and at least one of them
/// is a number or a date, which names never are. Text over text can be either: a header is assumed.
/// A year over numbers that are not all years is a name (`region,2023,2024`).
pub fn sniff_header(sample: &[u8], delimiter: u8, comment: Option<u8>, complete: bool, skip: u64) -> bool {
    let mut reader = reader(sample, delimiter, comment);
    let mut record = csv::ByteRecord::new();
    let mut first: Option<csv::ByteRecord> = None;
    let mut below: Vec<csv::ByteRecord> = Vec::new();
    while below.len() < RECORDS {
        match reader.read_byte_record(&mut record) {
            Ok(true) => {}
            _ => break,
        }
        let line = record.position().map_or(1, |p| p.line());
        let blank = record.iter().all(|f| f.trim_ascii().is_empty());
        if line <= skip || blank {
            continue;
        }
        match &first {
            None => first = Some(record.clone()),
            Some(f) if record.len() == f.len() => below.push(record.clone()),
            Some(_) => {}
        }
    }
    if !complete && below.len() > 1 && below.len() < RECORDS {
        // The last record may be cut by the end of the sample.
        below.pop();
    }
    let Some(first) = first else { return true };
    if below.is_empty() || first.len() < 2 {
        return true;
    }
    let mut typed = false;
    for (i, value) in first.iter().enumerate() {
        let head = shape(value);
        let shapes: Vec<Shape> = below.iter().map(|r| shape(&r[i])).filter(|s| *s != Shape::Empty).collect();
        let column = match shapes.first() {
            None => continue,
            Some(s) if shapes.iter().all(|x| x == s) => *s,
            Some(_) => Shape::Text,
        };
        if head == Shape::Empty {
            continue;
        }
        if head != column {
            return true;
        }
        if head == Shape::Number
            && year(value)
            && !below.iter().all(|r| r[i].trim_ascii().is_empty() || year(&r[i]))
        {
            return true;
        }
        typed |= matches!(head, Shape::Number | Shape::Date);
    }
    !typed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sniff_delimiter_of(sample: &[u8], complete: bool) -> u8 {
        sniff_delimiter(sample, complete, None)
    }

    #[test]
    fn a_first_row_typed_like_the_rows_below_is_data_not_a_header() {
        let headless = |text: &str| !sniff_header(text.as_bytes(), b',', None, true, 0);
        assert!(headless("2024-01-01,alice,10.5\n2024-01-02,bob,3\n2024-01-03,carol,7.25\n"));
        assert!(headless("1,a\n2,b\n"));
        // Names are text: text over dates or numbers, or text over text, is a header.
        assert!(!headless("day,name,qty\n2024-01-01,alice,10.5\n"));
        assert!(!headless("a,b\nx,y\n"));
        assert!(!headless("Date,User,Tokens\n2024-01-01,alice,10\n"));
        // Years naming the columns of a pivot.
        assert!(!headless("region,2023,2024\nnorth,150.5,200\nsouth,80,90\n"));
        // One line only: nothing to compare with.
        assert!(!headless("1,2,3\n"));
        // A header line after a skipped title.
        assert!(sniff_header(b"Report\nid,v\n1,2\n", b',', None, true, 1));
        assert!(!sniff_header(b"Report\n1,2\n3,4\n", b',', None, true, 1));
    }

    #[test]
    fn comments_are_told_from_headers_and_values() {
        let text = b"# exported by Tool 3.1\n# 2026-11-30\nid,name\n1,a\n2,b\n";
        assert!(sniff_comment(text, true));
        assert_eq!(sniff_delimiter(text, true, Some(b'#')), b',');
        // A `#` header of the table's width, or `#` values of a one-column table, are not comments.
        assert!(!sniff_comment(b"#id,name\n1,a\n2,b\n", true));
        assert!(!sniff_comment(b"tag\n#rust\n#go\n", true));
        assert!(!sniff_comment(b"id,name\n1,a\n", true));
    }

    #[test]
    fn comma_and_space_is_told_from_comma() {
        assert!(sniff_space_after(b"a, b, c\n1, 2, 3\n4, \"x, y\", 6\n", b',', None));
        assert!(!sniff_space_after(b"a,b, c\n1,2, 3\n", b',', None));
        assert!(!sniff_space_after(b"a, b\n", b',', None));
        assert!(!sniff_space_after(b"a\n1\n", b',', None));
    }

    #[test]
    fn a_title_and_blank_rows_above_the_header_are_a_preamble() {
        let text = b"Usage report,,,\n,,,\nid,name,cost,day\n1,a,2,x\n2,b,3,y\n";
        assert_eq!(sniff_preamble(text, b',', None, true), 2);
        // The blank line after the title is skipped as any blank line is.
        let titled = b"Usage report\n\nid,name,cost\n1,a,2\n2,b,3\n";
        assert_eq!(sniff_preamble(titled, b',', None, true), 1);
        // A header with an empty first name (pandas' index) is a header.
        assert_eq!(sniff_preamble(b",a,b\n0,1,2\n1,3,4\n", b',', None, true), 0);
        assert_eq!(sniff_preamble(b"id,name\n1,a\n", b',', None, true), 0);
        // The line after the preamble must look like the table, or nothing is skipped.
        assert_eq!(sniff_preamble(b"Title,,\nx,y\n1,2,3\n4,5,6\n", b',', None, true), 0);
    }

    #[test]
    fn delimiters_are_told_apart() {
        assert_eq!(sniff_delimiter_of(b"a,b,c\n1,2,3\n", true), b',');
        assert_eq!(sniff_delimiter_of(b"a;b;c\n1,5;2,5;3\n4;5;6\n", true), b';');
        assert_eq!(sniff_delimiter_of(b"a\tb\n1\t2\n", true), b'\t');
        assert_eq!(sniff_delimiter_of(b"a|b\n1|2\n", true), b'|');
        // Commas inside quoted fields do not count.
        assert_eq!(sniff_delimiter_of(b"name;note\n\"Smith, J\";\"a, b, c\"\n\"Doe, A\";x\n", true), b';');
        // One column: nothing tells, so a comma.
        assert_eq!(sniff_delimiter_of(b"id\n1\n2\n", true), b',');
        assert_eq!(sniff_delimiter_of(b"", true), b',');
    }
}
