//! A job file's `schedule:` (a cron expression) and `timezone:`, checked once here so that every
//! scheduler the units are exported to reads the same thing: five fields (minute, hour, day of
//! month, month, day of week), each `*`, a number, a range `a-b`, a list `a,b` or a step `*/n`;
//! month and day names (`JAN`, `MON`) and the macros `@hourly`, `@daily`, `@weekly`, `@monthly`,
//! `@yearly` are written out as numbers, which Kubernetes, Argo, Airflow and Dagster all read.

use std::fmt;

/// A checked cron expression, in five numeric fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cron(String);

/// The fields: name, smallest, largest, names for the values from the smallest on.
const FIELDS: [(&str, u32, u32, &[&str]); 5] = [
    ("minute", 0, 59, &[]),
    ("hour", 0, 23, &[]),
    ("day of month", 1, 31, &[]),
    ("month", 1, 12, &["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]),
    // 7 is Sunday as well, as in most crons.
    ("day of week", 0, 7, &["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"]),
];

impl Cron {
    /// Reads `text`; the error says which field is wrong and how.
    pub fn parse(text: &str) -> Result<Cron, String> {
        let text = text.trim();
        let expanded = match text.to_ascii_lowercase().as_str() {
            "@hourly" => "0 * * * *",
            "@daily" | "@midnight" => "0 0 * * *",
            "@weekly" => "0 0 * * 0",
            "@monthly" => "0 0 1 * *",
            "@yearly" | "@annually" => "0 0 1 1 *",
            other if other.starts_with('@') => {
                return Err(format!(
                    "`{text}` is not a cron expression (the macros are @hourly, @daily, @weekly, @monthly \
                     and @yearly)"
                ))
            }
            _ => text,
        };
        let fields: Vec<&str> = expanded.split_whitespace().collect();
        if fields.len() != 5 {
            return Err(format!(
                "`{text}` has {} fields; a cron expression has five: minute hour day-of-month month \
                 day-of-week, as \"0 6 * * *\" (06:00 every day)",
                fields.len()
            ));
        }
        let mut out = Vec::with_capacity(5);
        for (field, (name, min, max, names)) in fields.iter().zip(FIELDS) {
            let mut written = self::field(field, min, max, names)
                .map_err(|e| format!("`{text}`: the {name} field `{field}` {e}"))?;
            if name == "day of week" {
                written =
                    sunday_as_0(&written).map_err(|e| format!("`{text}`: the {name} field `{field}` {e}"))?;
            }
            out.push(written);
        }
        // A day of the month that none of its months has (`0 0 31 2 *`): a schedule that never
        // fires, which no scheduler would say. (With a day of the week too, cron fires on either.)
        if out[2] != "*" && out[4] == "*" {
            let days = expand(&out[2], 1, 31);
            let months = expand(&out[3], 1, 12);
            const LONGEST: [u32; 12] = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
            if !months.iter().any(|m| days.iter().any(|d| *d <= LONGEST[*m as usize - 1])) {
                return Err(format!("`{text}` never fires: none of its months has that day"));
            }
        }
        Ok(Cron(out.join(" ")))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Cron {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One field, with names written as numbers.
fn field(text: &str, min: u32, max: u32, names: &[&str]) -> Result<String, String> {
    let value = |v: &str| -> Result<u32, String> {
        let n = match names.iter().position(|n| n.eq_ignore_ascii_case(v)) {
            Some(i) => min + i as u32,
            None => v.parse::<u32>().map_err(|_| format!("has `{v}`, which is not a number"))?,
        };
        if n < min || n > max {
            return Err(format!("has {n}, outside {min}-{max}"));
        }
        Ok(n)
    };
    let mut items = Vec::new();
    for item in text.split(',') {
        let (range, step) = match item.split_once('/') {
            Some((range, step)) => match step.parse::<u32>() {
                Ok(s) if s > 0 => (range, Some(s)),
                _ => return Err(format!("has the step `/{step}`, which is not a number above 0")),
            },
            None => (item, None),
        };
        let range = match range {
            "*" => "*".to_owned(),
            r => match r.split_once('-') {
                Some((a, b)) => {
                    let (a, mut b) = (value(a)?, value(b)?);
                    // `FRI-SUN`: a week's range that ends on Sunday ends on its 7.
                    if max == 7 && b == 0 && a > 0 {
                        b = 7;
                    }
                    if a > b {
                        return Err(format!("has the range {a}-{b}, which runs backwards"));
                    }
                    format!("{a}-{b}")
                }
                None if r.is_empty() => return Err("has an empty item".into()),
                None => value(r)?.to_string(),
            },
        };
        items.push(match step {
            Some(s) => format!("{range}/{s}"),
            None => range,
        });
    }
    Ok(items.join(","))
}

/// The values a checked, numeric field takes.
fn expand(field: &str, min: u32, max: u32) -> Vec<u32> {
    let mut out = Vec::new();
    for item in field.split(',') {
        let (range, step) = item.split_once('/').map_or((item, 1), |(r, s)| (r, s.parse().unwrap_or(1)));
        let (from, to) = match range.split_once('-') {
            _ if range == "*" => (min, max),
            Some((a, b)) => (a.parse().unwrap_or(min), b.parse().unwrap_or(max)),
            // `5/10`: from 5 to the end, as cron reads it.
            None if step > 1 => (range.parse().unwrap_or(min), max),
            None => (range.parse().unwrap_or(min), range.parse().unwrap_or(min)),
        };
        out.extend((from..=to).step_by(step.max(1) as usize));
    }
    out
}

/// Sunday written as 0, the only way Kubernetes' and Argo's cron (robfig/cron) read it: `7` → `0`,
/// `5-7` → `5-6,0`, `0-7` → `0-6`.
fn sunday_as_0(field: &str) -> Result<String, String> {
    let mut items = Vec::new();
    for item in field.split(',') {
        let (range, step) = item.split_once('/').map_or((item, None), |(r, s)| (r, Some(s)));
        let ends_on_7 = range == "7" || range.ends_with("-7");
        match (ends_on_7, step) {
            (false, _) => items.push(item.to_owned()),
            (true, Some(_)) => return Err("steps through 7: write Sunday as 0".into()),
            (true, None) if range == "7" || range == "7-7" => items.push("0".to_owned()),
            (true, None) if range == "0-7" => items.push("0-6".to_owned()),
            (true, None) => {
                let from = range.trim_end_matches("-7");
                items.push(if from == "6" { "6".to_owned() } else { format!("{from}-6") });
                items.push("0".to_owned());
            }
        }
    }
    Ok(items.join(","))
}

/// Checks a `timezone:` (an IANA name such as `Europe/Berlin`, or `UTC`).
pub fn timezone(text: &str) -> Result<String, String> {
    text.parse::<chrono_tz::Tz>().map(|tz| tz.name().to_owned()).map_err(|_| {
        format!("`{text}` is not a time zone of the IANA database (as `UTC` or `Europe/Berlin`)")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expressions_are_checked_and_written_in_numbers() {
        let ok = |t: &str| Cron::parse(t).unwrap().to_string();
        assert_eq!(ok("0 6 * * *"), "0 6 * * *");
        assert_eq!(ok("  */15  8-18 * * MON-FRI "), "*/15 8-18 * * 1-5");
        assert_eq!(ok("0 0 1 jan,jul *"), "0 0 1 1,7 *");
        assert_eq!(ok("@daily"), "0 0 * * *");
        assert_eq!(ok("@hourly"), "0 * * * *");
        assert_eq!(ok("5 4 * * 7"), "5 4 * * 0", "Sunday as 0, as Kubernetes reads it");
        assert_eq!(ok("0 6 * * FRI-SUN"), "0 6 * * 5-6,0");
        assert_eq!(ok("0 6 * * SAT-7"), "0 6 * * 6,0");
        assert_eq!(ok("0 6 * * 0-7"), "0 6 * * 0-6");
        assert_eq!(ok("0-30/10 * * * *"), "0-30/10 * * * *");
    }

    #[test]
    fn mistakes_name_the_field() {
        let err = |t: &str| Cron::parse(t).unwrap_err();
        assert_eq!(
            err("0 6 * *"),
            "`0 6 * *` has 4 fields; a cron expression has five: minute hour day-of-month month \
             day-of-week, as \"0 6 * * *\" (06:00 every day)"
        );
        assert_eq!(err("0 24 * * *"), "`0 24 * * *`: the hour field `24` has 24, outside 0-23");
        assert_eq!(
            err("*/0 * * * *"),
            "`*/0 * * * *`: the minute field `*/0` has the step `/0`, which is not a number above 0"
        );
        assert_eq!(
            err("0 6 * * FUN"),
            "`0 6 * * FUN`: the day of week field `FUN` has `FUN`, which is not a number"
        );
        assert_eq!(
            err("0 9-5 * * *"),
            "`0 9-5 * * *`: the hour field `9-5` has the range 9-5, which runs backwards"
        );
        assert_eq!(err("0 6,,7 * * *"), "`0 6,,7 * * *`: the hour field `6,,7` has an empty item");
        assert!(err("@often").contains("the macros are"));
        assert_eq!(err("0 0 31 2 *"), "`0 0 31 2 *` never fires: none of its months has that day");
        assert_eq!(
            err("0 0 31 4,6,9,11 *"),
            "`0 0 31 4,6,9,11 *` never fires: none of its months has that day"
        );
        assert_eq!(Cron::parse("0 0 29 2 *").unwrap().as_str(), "0 0 29 2 *", "leap years");
        assert_eq!(Cron::parse("0 0 31 2 MON").unwrap().as_str(), "0 0 31 2 1", "or on Mondays");
        assert_eq!(Cron::parse("0 0 30-31 1-2 *").unwrap().as_str(), "0 0 30-31 1-2 *");
        assert_eq!(
            err("0 6 * * 1-7/2"),
            "`0 6 * * 1-7/2`: the day of week field `1-7/2` steps through 7: write Sunday as 0"
        );
    }

    #[test]
    fn time_zones_are_those_of_the_database() {
        assert_eq!(timezone("Europe/Berlin").unwrap(), "Europe/Berlin");
        assert_eq!(timezone("UTC").unwrap(), "UTC");
        assert!(timezone("Mars/Olympus").unwrap_err().contains("IANA"));
    }
}
