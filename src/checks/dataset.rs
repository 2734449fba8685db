//! The checks of a whole run, judged once its rows are staged and before anything is published:
//! `row_count`, `row_count_change` and `columns` against the previous run's manifest, `freshness`
//! on the newest value (this run's, or the dataset's when the run keeps earlier rows).

use std::collections::BTreeMap;

use super::rows::{Newest, RowOutcome};
use super::{human_age, AsOf, Check, CheckResult, CheckStatus, Kind};
use crate::summary::{count, thousands};

/// What the previous run's manifest says, as the checks need it.
#[derive(Debug, Clone, Default)]
pub struct Previous {
    pub run_id: String,
    pub rows_written: u64,
    pub columns: Vec<String>,
    /// The newest value of each freshness column, as the previous run recorded it.
    pub newest: BTreeMap<String, String>,
}

/// What this run is about to publish.
#[derive(Debug, Clone)]
pub struct Run<'a> {
    pub rows_written: u64,
    pub columns: &'a [String],
    /// The source's name (a file's path): `as_of: file_name` reads its date.
    pub source: &'a str,
    /// Whether the dataset keeps rows of earlier runs (a merge, append or upsert): then the newest
    /// value the dataset holds counts for freshness.
    pub keeps_previous: bool,
    /// Columns whose values no message shows.
    pub sensitive: &'a [String],
    pub now: std::time::SystemTime,
}

/// Every check's result, in the order declared, and the newest value of each freshness column to
/// record in the manifest.
pub fn judge(
    checks: &[Check],
    rows: Option<&RowOutcome>,
    run: &Run,
    previous: Option<&Previous>,
) -> (Vec<CheckResult>, BTreeMap<String, String>) {
    let mut out = Vec::new();
    let mut newest_after = BTreeMap::new();
    for (i, check) in checks.iter().enumerate() {
        let problem = rows.and_then(|r| r.problems.get(i).cloned().flatten());
        if let Some(result) = rows.and_then(|r| r.results.get(i).cloned().flatten()) {
            out.push(result);
            continue;
        }
        let mut result = check.result(CheckStatus::Passed);
        let verdict = |result: &mut CheckResult, ok: bool, detail: String| {
            result.status = check.judged(ok);
            result.detail = detail;
        };
        match &check.kind {
            Kind::RowCount { min, max } => {
                let n = run.rows_written;
                let ok = min.is_none_or(|m| n >= m) && max.is_none_or(|m| n <= m);
                let bounds = match (min, max) {
                    (Some(a), Some(b)) => format!("between {} and {}", thousands(*a), thousands(*b)),
                    (Some(a), None) => format!("at least {}", thousands(*a)),
                    (None, Some(b)) => format!("at most {}", thousands(*b)),
                    (None, None) => String::new(),
                };
                verdict(&mut result, ok, format!("{} written ({bounds})", count(n, "row")));
            }
            Kind::RowCountChange { max_drop, max_growth } => match previous {
                None => {
                    result.status = CheckStatus::Skipped;
                    result.detail = "no previous run to compare with".into();
                }
                Some(p) if p.rows_written == 0 => {
                    result.status = CheckStatus::Skipped;
                    result.detail = format!("the previous run ({}) wrote no rows", p.run_id);
                }
                Some(p) => {
                    let (was, now) = (p.rows_written as f64, run.rows_written as f64);
                    let change = (now - was) / was;
                    let (ok, limit) = if change < 0.0 {
                        (
                            max_drop.is_none_or(|m| -change <= m + 1e-12),
                            max_drop.map(|m| format!("at most {} fewer", pct(m))),
                        )
                    } else {
                        (
                            max_growth.is_none_or(|m| change <= m + 1e-12),
                            max_growth.map(|m| format!("at most {} more", pct(m))),
                        )
                    };
                    let direction = if change < 0.0 { "fewer" } else { "more" };
                    verdict(
                        &mut result,
                        ok,
                        format!(
                            "{} rows, {} {direction} than the {} of run {}{}",
                            thousands(run.rows_written),
                            pct(change.abs()),
                            thousands(p.rows_written),
                            p.run_id,
                            limit.map(|l| format!(" ({l})")).unwrap_or_default()
                        ),
                    );
                }
            },
            Kind::Freshness { column, max_age, as_of } => {
                if let Some(problem) = problem {
                    verdict(&mut result, false, problem);
                    out.push(result);
                    continue;
                }
                let mine = rows.and_then(|r| r.newest.get(column).copied());
                let theirs = previous
                    .filter(|_| run.keeps_previous)
                    .and_then(|p| p.newest.get(column))
                    .and_then(|t| Newest::parse(t));
                let newest = match (mine, theirs) {
                    (Some(a), Some(b)) => Some(if b.micros > a.micros { b } else { a }),
                    (a, b) => a.or(b),
                };
                let Some(newest) = newest else {
                    verdict(&mut result, false, format!("`{column}` has no value"));
                    out.push(result);
                    continue;
                };
                newest_after.insert(column.clone(), newest.text());
                let reference = match as_of {
                    AsOf::Now => Some((micros_of(run.now), "now".to_owned())),
                    AsOf::FileName => date_in_name(run.source).map(|(days, text)| {
                        (
                            i64::from(days) * crate::transform::calendar::MICROS_PER_DAY,
                            format!("{text}, the file's date"),
                        )
                    }),
                };
                let Some((at, said)) = reference else {
                    verdict(
                        &mut result,
                        false,
                        format!(
                            "as_of: file_name, and `{}` names no date (YYYY-MM-DD or YYYYMMDD)",
                            file_name(run.source)
                        ),
                    );
                    out.push(result);
                    continue;
                };
                let age = ((at - newest.micros).max(0) / 1_000_000) as u64;
                // A sensitive column's newest value is not shown, only its age.
                let shown = match run.sensitive.contains(column) {
                    true => "value".to_owned(),
                    false => newest.text(),
                };
                verdict(
                    &mut result,
                    age <= *max_age,
                    format!(
                        "newest {shown} is {} old as of {said} (at most {})",
                        human_age(age),
                        human_age(*max_age)
                    ),
                );
            }
            Kind::Columns { required, allow_new } => {
                let missing: Vec<&str> =
                    required.iter().filter(|c| !run.columns.contains(c)).map(String::as_str).collect();
                let new: Vec<&str> = match previous {
                    Some(p) if !allow_new && !p.columns.is_empty() => {
                        run.columns.iter().filter(|c| !p.columns.contains(c)).map(String::as_str).collect()
                    }
                    _ => Vec::new(),
                };
                let mut parts = Vec::new();
                if !missing.is_empty() {
                    parts.push(format!("missing: {}", missing.join(", ")));
                }
                if !new.is_empty() {
                    parts.push(format!(
                        "new since run {}: {}",
                        previous.map_or("", |p| p.run_id.as_str()),
                        new.join(", ")
                    ));
                }
                verdict(&mut result, parts.is_empty(), parts.join("; "));
            }
            _ => {
                // A row check that never ran (no rows were staged with it).
                if let Some(problem) = problem {
                    verdict(&mut result, false, problem);
                }
            }
        }
        out.push(result);
    }
    (out, newest_after)
}

/// `50%`, `12.5%`.
fn pct(share: f64) -> String {
    let p = share * 100.0;
    if (p - p.round()).abs() < 0.05 {
        format!("{}%", p.round())
    } else {
        format!("{p:.1}%")
    }
}

fn micros_of(time: std::time::SystemTime) -> i64 {
    time.duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_micros() as i64)
}

fn file_name(path: &str) -> &str {
    path.rsplit(['/', '\\']).next().unwrap_or(path)
}

/// The last date in a file's name: `YYYY-MM-DD`, `YYYY_MM_DD` or `YYYYMMDD`, as days and as written.
pub fn date_in_name(path: &str) -> Option<(i32, String)> {
    let name = file_name(path).as_bytes();
    let mut found = None;
    for start in 0..name.len() {
        if start > 0 && name[start - 1].is_ascii_digit() {
            continue;
        }
        for width in [10usize, 8] {
            let Some(text) = name.get(start..start + width) else { continue };
            if name.get(start + width).is_some_and(u8::is_ascii_digit) {
                continue;
            }
            let digits: Vec<u8> = text.iter().copied().filter(u8::is_ascii_digit).collect();
            let separated = width == 10 && text[4] == text[7] && matches!(text[4], b'-' | b'_');
            if digits.len() != 8 || (width == 10 && !separated) {
                continue;
            }
            let iso =
                format!("{}-{}-{}", as_text(&digits[..4]), as_text(&digits[4..6]), as_text(&digits[6..]));
            if let Some(days) = crate::transform::values::DateFormat::Iso.parse(iso.as_bytes()) {
                found = Some((days, iso));
            }
        }
    }
    found
}

fn as_text(digits: &[u8]) -> &str {
    std::str::from_utf8(digits).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_tell_their_date() {
        assert_eq!(
            date_in_name("data_sources/team-usage-events-2026-11-01.csv").map(|d| d.1),
            Some("2026-11-01".into())
        );
        assert_eq!(date_in_name("export_20261101.csv").map(|d| d.1), Some("2026-11-01".into()));
        assert_eq!(date_in_name("2025-01-01/export-2026_11_02.csv").map(|d| d.1), Some("2026-11-02".into()));
        assert_eq!(date_in_name("export-2026-13-01.csv"), None);
        assert_eq!(date_in_name("export-123456789.csv"), None);
    }

    #[test]
    fn shares_read_as_percentages() {
        assert_eq!(pct(0.5), "50%");
        assert_eq!(pct(0.125), "12.5%");
    }
}
