//! "Did you mean ...?": the nearest of some names to one a person typed (a column, a dataset id),
//! so that an error teaches the fix instead of only refusing.

/// The candidate `wanted` most likely meant: one equal to it but for case (`date` for `Date`), else
/// the nearest by edit distance, if it is near enough (a third of the name's length, at least one
/// edit) and nearer than any other.
pub fn nearest<'a>(wanted: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let candidates: Vec<&str> = candidates.into_iter().collect();
    if let Some(same) = candidates.iter().find(|c| c.eq_ignore_ascii_case(wanted) && **c != wanted) {
        return Some(same);
    }
    let wanted_lower = wanted.to_lowercase();
    let limit = (wanted.chars().count() / 3).max(1);
    let mut scored: Vec<(usize, &str)> = candidates
        .iter()
        .filter(|c| **c != wanted)
        .map(|c| (distance(&wanted_lower, &c.to_lowercase()), *c))
        .filter(|(d, _)| *d <= limit)
        .collect();
    scored.sort();
    match scored.as_slice() {
        [(best, name), rest @ ..] if rest.first().is_none_or(|(next, _)| next > best) => Some(name),
        _ => None,
    }
}

/// ` (did you mean `Date`?)`, or nothing: for the end of a message.
pub fn did_you_mean<'a>(wanted: &str, candidates: impl IntoIterator<Item = &'a str>) -> String {
    nearest(wanted, candidates).map(|n| format!(" (did you mean `{n}`?)")).unwrap_or_default()
}

/// Levenshtein distance, by characters.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (above + 1).min(row[j] + 1).min(diagonal + usize::from(ca != *cb));
            diagonal = above;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_nearest_name_is_suggested_when_it_is_near_and_alone() {
        assert_eq!(nearest("date", ["Date", "User", "Kind"]), Some("Date"));
        assert_eq!(nearest("cursor-usag", ["cursor-usage", "orders"]), Some("cursor-usage"));
        assert_eq!(nearest("Usr", ["User", "Kind"]), Some("User"));
        assert_eq!(nearest("orders", ["cursor-usage"]), None, "too far");
        assert_eq!(nearest("ab", ["ac", "ad"]), None, "two as near");
        assert_eq!(nearest("Date", ["Date"]), None, "the name itself is no suggestion");
        assert_eq!(did_you_mean("tokns", ["Tokens"]), " (did you mean `Tokens`?)");
        assert_eq!(distance("kitten", "sitting"), 3);
    }
}
