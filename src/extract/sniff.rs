//! Which delimiter a CSV file uses: `,`, `;`, tab or `|`, told from the first records of its text.
//!
//! As DuckDB's sniffer does, each candidate parses the sample (quotes respected, so a delimiter
//! inside a quoted field does not count); the candidate under which the most records agree on one
//! field count above one wins; ties go to the one giving more fields, then to the earlier candidate.

/// The candidates, in order of preference on a tie.
pub const CANDIDATES: [u8; 4] = [b',', b';', b'\t', b'|'];
/// Records looked at.
const RECORDS: usize = 200;

/// The delimiter of the text `sample` starts with (`,` when nothing tells, as for one column).
/// `complete` says whether the sample is the whole text (else its last record may be cut).
pub fn sniff_delimiter(sample: &[u8], complete: bool) -> u8 {
    let mut best = (b',', 0usize, 0usize);
    for delimiter in CANDIDATES {
        let (agreeing, fields) = consistency(sample, delimiter, complete);
        if fields > 1 && (agreeing, fields) > (best.1, best.2) {
            best = (delimiter, agreeing, fields);
        }
    }
    best.0
}

/// Under `delimiter`: how many records have the most common field count, and that count.
fn consistency(sample: &[u8], delimiter: u8, complete: bool) -> (usize, usize) {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(delimiter)
        .terminator(csv::Terminator::Any(b'\n'))
        .from_reader(sample);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delimiters_are_told_apart() {
        assert_eq!(sniff_delimiter(b"a,b,c\n1,2,3\n", true), b',');
        assert_eq!(sniff_delimiter(b"a;b;c\n1,5;2,5;3\n4;5;6\n", true), b';');
        assert_eq!(sniff_delimiter(b"a\tb\n1\t2\n", true), b'\t');
        assert_eq!(sniff_delimiter(b"a|b\n1|2\n", true), b'|');
        // Commas inside quoted fields do not count.
        assert_eq!(sniff_delimiter(b"name;note\n\"Smith, J\";\"a, b, c\"\n\"Doe, A\";x\n", true), b';');
        // One column: nothing tells, so a comma.
        assert_eq!(sniff_delimiter(b"id\n1\n2\n", true), b',');
        assert_eq!(sniff_delimiter(b"", true), b',');
    }
}
