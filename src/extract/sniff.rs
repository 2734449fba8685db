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

#[cfg(test)]
mod tests {
    use super::*;

    fn sniff_delimiter_of(sample: &[u8], complete: bool) -> u8 {
        sniff_delimiter(sample, complete, None)
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
