//! Data-quality checks, declared per dataset (`checks:` in catalogs and job files, `--check` on the
//! command line) and judged before anything is published.
//!
//! - [`Check`] is one declared check, read from YAML here ([`parse`]);
//! - [`rows`] judges the row checks (`not_null`, `unique`, `accepted_values`, `range`, `matches`) on
//!   each typed batch as it streams to the staging files, and notes each `freshness` column's newest
//!   value; [`unique`] holds the keys `unique` has seen in bounded memory;
//! - [`dataset`] judges the checks of the whole run (`row_count`, `row_count_change`, `freshness`,
//!   `columns`) against the previous run's manifest, once the rows are staged.
//!
//! A failed check at severity `error` publishes nothing (exit 65); at `warn` the run publishes and
//! counts it. Outcomes are [`CheckResult`]s: in the summary, the run record and `etl inspect`.

pub mod dataset;
pub mod rows;
pub mod unique;

use serde_yaml::Value;

pub use crate::summary::{CheckResult, CheckStatus, Severity};

/// One declared check.
#[derive(Debug, Clone)]
pub struct Check {
    pub kind: Kind,
    pub severity: Severity,
}

/// What a check asks of the data.
#[derive(Debug, Clone)]
pub enum Kind {
    /// Every row has a value in the column.
    NotNull(String),
    /// No two rows share the values of these columns (rows with a null in one of them are not
    /// compared, as in SQL).
    Unique(Vec<String>),
    /// Every value of the column is one of these (as text); nulls pass.
    AcceptedValues { column: String, values: Vec<String> },
    /// Every value lies between the bounds, both included; nulls pass.
    Range { column: String, min: Option<Bound>, max: Option<Bound> },
    /// Every value (as text) matches the regular expression somewhere (`^…$` for the whole value);
    /// nulls pass.
    Matches { column: String, pattern: regex::Regex },
    /// The run writes between `min` and `max` rows.
    RowCount { min: Option<u64>, max: Option<u64> },
    /// The run writes at most `max_drop` fewer (a fraction) or `max_growth` more rows than the
    /// previous run.
    RowCountChange { max_drop: Option<f64>, max_growth: Option<f64> },
    /// The column's newest value is at most `max_age` seconds older than `as_of`.
    Freshness { column: String, max_age: u64, as_of: AsOf },
    /// The source has these columns; with `allow_new: false`, none that the dataset lacks.
    Columns { required: Vec<String>, allow_new: bool },
}

/// A bound of a `range`, as written: a number, or a date or timestamp (`2026-01-01`).
#[derive(Debug, Clone, PartialEq)]
pub enum Bound {
    Number(f64),
    Text(String),
}

impl std::fmt::Display for Bound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Bound::Number(n) => write!(f, "{n}"),
            Bound::Text(t) => f.write_str(t),
        }
    }
}

/// What `freshness` measures the newest value's age from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AsOf {
    /// The time of the run.
    Now,
    /// The date in the source file's name (`team-usage-events-2026-11-01.csv`: midnight UTC of that
    /// day): an export's own date, whenever it is loaded.
    FileName,
}

impl Check {
    /// `not_null(Date)`, `unique(Date, User)`, `row_count`: how messages and records name it.
    pub fn name(&self) -> String {
        match &self.kind {
            Kind::NotNull(c) => format!("not_null({c})"),
            Kind::Unique(cs) => format!("unique({})", cs.join(", ")),
            Kind::AcceptedValues { column, .. } => format!("accepted_values({column})"),
            Kind::Range { column, .. } => format!("range({column})"),
            Kind::Matches { column, .. } => format!("matches({column})"),
            Kind::RowCount { .. } => "row_count".into(),
            Kind::RowCountChange { .. } => "row_count_change".into(),
            Kind::Freshness { column, .. } => format!("freshness({column})"),
            Kind::Columns { .. } => "columns".into(),
        }
    }

    /// Whether it is judged row by row as the data streams.
    pub fn on_rows(&self) -> bool {
        matches!(
            self.kind,
            Kind::NotNull(_)
                | Kind::Unique(_)
                | Kind::AcceptedValues { .. }
                | Kind::Range { .. }
                | Kind::Matches { .. }
        )
    }

    /// The columns whose values it looks at.
    pub fn columns(&self) -> Vec<&str> {
        match &self.kind {
            Kind::NotNull(c) => vec![c],
            Kind::Unique(cs) => cs.iter().map(String::as_str).collect(),
            Kind::AcceptedValues { column, .. }
            | Kind::Range { column, .. }
            | Kind::Matches { column, .. }
            | Kind::Freshness { column, .. } => vec![column],
            Kind::RowCount { .. } | Kind::RowCountChange { .. } | Kind::Columns { .. } => Vec::new(),
        }
    }

    /// A result of this check.
    pub fn result(&self, status: CheckStatus) -> CheckResult {
        CheckResult {
            check: self.name(),
            severity: self.severity,
            status,
            rows: 0,
            examples: Vec::new(),
            detail: String::new(),
        }
    }

    /// Passed, or failed at this check's severity.
    pub fn judged(&self, ok: bool) -> CheckStatus {
        match (ok, self.severity) {
            (true, _) => CheckStatus::Passed,
            (false, Severity::Error) => CheckStatus::Failed,
            (false, Severity::Warn) => CheckStatus::Warned,
        }
    }
}

/// The check kinds, as `checks:` names them.
pub const KINDS: [&str; 9] = [
    "not_null",
    "unique",
    "accepted_values",
    "range",
    "matches",
    "row_count",
    "row_count_change",
    "freshness",
    "columns",
];

/// A dataset's `checks:`: a list of items, or one item. An item is a mapping of check kinds (each
/// once) with an optional `severity: error | warn` for all of them.
pub fn parse(value: &Value) -> Result<Vec<Check>, String> {
    match value {
        Value::Null => Ok(Vec::new()),
        Value::Sequence(items) => {
            let mut out = Vec::new();
            for item in items {
                out.extend(parse_item(item)?);
            }
            Ok(out)
        }
        item => parse_item(item),
    }
}

/// One `--check`: an item as YAML (`'not_null: [Date]'`, `'{row_count: {min: 1}, severity: warn}'`).
pub fn parse_flag(text: &str) -> Result<Vec<Check>, String> {
    let value: Value = serde_yaml::from_str(text).map_err(|e| format!("`{text}` is not YAML: {e}"))?;
    if !matches!(value, Value::Mapping(_)) {
        return Err(format!(
            "`{text}`: write a check as `kind: value`, e.g. 'not_null: [Date]' or \
             '{{row_count: {{min: 1}}, severity: warn}}'"
        ));
    }
    parse(&value)
}

fn parse_item(item: &Value) -> Result<Vec<Check>, String> {
    let Value::Mapping(map) = item else {
        return Err(format!("a check is `kind: value` (kinds: {}), not {}", KINDS.join(", "), show(item)));
    };
    let severity = match map.get("severity") {
        None => Severity::Error,
        Some(v) => match scalar(v).as_deref() {
            Some("error") => Severity::Error,
            Some("warn") | Some("warning") => Severity::Warn,
            _ => return Err(format!("severity: {} is not error or warn", show(v))),
        },
    };
    let mut out = Vec::new();
    for (key, value) in map {
        let key = key.as_str().unwrap_or_default();
        if key == "severity" {
            continue;
        }
        let at = |e: String| format!("{key}: {e}");
        let mut push = |kind| out.push(Check { kind, severity });
        match key {
            "not_null" => names(value).map_err(at)?.into_iter().for_each(|c| push(Kind::NotNull(c))),
            "unique" => {
                // `[a, b]` is one composite key; `[[a], [b, c]]` two keys.
                let keys: Vec<Vec<String>> = match value {
                    Value::Sequence(items) if items.iter().all(|i| matches!(i, Value::Sequence(_))) => {
                        items.iter().map(names).collect::<Result<_, _>>().map_err(at)?
                    }
                    other => vec![names(other).map_err(at)?],
                };
                for key in keys {
                    if key.is_empty() {
                        return Err(at("name the key's columns".into()));
                    }
                    push(Kind::Unique(key));
                }
            }
            "accepted_values" => {
                for (column, values) in columns_of(value).map_err(at)? {
                    let values = match values {
                        Value::Sequence(items) => items
                            .iter()
                            .map(|v| scalar(v).ok_or_else(|| format!("{column}: {} is not a value", show(v))))
                            .collect::<Result<Vec<_>, _>>()
                            .map_err(at)?,
                        other => return Err(at(format!("{column}: a list of values, not {}", show(other)))),
                    };
                    push(Kind::AcceptedValues { column, values });
                }
            }
            "range" => {
                for (column, bounds) in columns_of(value).map_err(at)? {
                    let bound = |name: &str| -> Result<Option<Bound>, String> {
                        match bounds.get(name) {
                            None | Some(Value::Null) => Ok(None),
                            Some(Value::Number(n)) => Ok(Some(Bound::Number(n.as_f64().unwrap_or(f64::NAN)))),
                            Some(Value::String(t)) => Ok(Some(match t.trim().parse::<f64>() {
                                Ok(n) => Bound::Number(n),
                                Err(_) => Bound::Text(t.trim().to_owned()),
                            })),
                            Some(other) => Err(format!("{column}: {name}: {} is not a bound", show(other))),
                        }
                    };
                    let Value::Mapping(m) = bounds else {
                        return Err(at(format!("{column}: {{min: ..., max: ...}}, not {}", show(bounds))));
                    };
                    unknown_keys(m, &["min", "max"]).map_err(|e| at(format!("{column}: {e}")))?;
                    let (min, max) = (bound("min").map_err(at)?, bound("max").map_err(at)?);
                    if min.is_none() && max.is_none() {
                        return Err(at(format!("{column}: give min, max or both")));
                    }
                    push(Kind::Range { column, min, max });
                }
            }
            "matches" => {
                for (column, pattern) in columns_of(value).map_err(at)? {
                    let text =
                        scalar(pattern).ok_or_else(|| at(format!("{column}: a regular expression")))?;
                    let pattern = regex::Regex::new(&text)
                        .map_err(|e| at(format!("{column}: `{text}` is not a regular expression: {e}")))?;
                    push(Kind::Matches { column, pattern });
                }
            }
            "row_count" => {
                let m = mapping(value).map_err(at)?;
                unknown_keys(m, &["min", "max"]).map_err(at)?;
                let count = |name: &str| match m.get(name) {
                    None | Some(Value::Null) => Ok(None),
                    Some(v) => v.as_u64().map(Some).ok_or_else(|| at(format!("{name}: a number of rows"))),
                };
                let (min, max) = (count("min")?, count("max")?);
                if min.is_none() && max.is_none() {
                    return Err(at("give min, max or both".into()));
                }
                push(Kind::RowCount { min, max });
            }
            "row_count_change" => {
                let m = mapping(value).map_err(at)?;
                unknown_keys(m, &["max_drop", "max_growth"]).map_err(at)?;
                let share = |name: &str| match m.get(name) {
                    None | Some(Value::Null) => Ok(None),
                    Some(v) => percent(v).map(Some).map_err(|e| at(format!("{name}: {e}"))),
                };
                let (max_drop, max_growth) = (share("max_drop")?, share("max_growth")?);
                if max_drop.is_none() && max_growth.is_none() {
                    return Err(at("give max_drop, max_growth or both (`50%`)".into()));
                }
                push(Kind::RowCountChange { max_drop, max_growth });
            }
            "freshness" => {
                let m = mapping(value).map_err(at)?;
                unknown_keys(m, &["column", "max_age", "as_of"]).map_err(at)?;
                let column = m.get("column").and_then(scalar).ok_or_else(|| {
                    at("column: the date or timestamp column whose newest value counts".into())
                })?;
                let max_age = m
                    .get("max_age")
                    .and_then(scalar)
                    .ok_or_else(|| at("max_age: how old the newest value may be (`2d`, `36h`)".into()))
                    .and_then(|t| duration(&t).map_err(|e| at(format!("max_age: {e}"))))?;
                let as_of = match m.get("as_of").and_then(scalar).as_deref() {
                    None | Some("now") => AsOf::Now,
                    Some("file_name") => AsOf::FileName,
                    Some(other) => return Err(at(format!("as_of: `{other}` is not now or file_name"))),
                };
                push(Kind::Freshness { column, max_age, as_of });
            }
            "columns" => {
                let m = mapping(value).map_err(at)?;
                unknown_keys(m, &["required", "allow_new"]).map_err(at)?;
                let required = m.get("required").map(names).transpose().map_err(at)?.unwrap_or_default();
                let allow_new = match m.get("allow_new") {
                    None => true,
                    Some(Value::Bool(b)) => *b,
                    Some(other) => return Err(at(format!("allow_new: true or false, not {}", show(other)))),
                };
                if required.is_empty() && allow_new {
                    return Err(at("give required: [...], allow_new: false, or both".into()));
                }
                push(Kind::Columns { required, allow_new });
            }
            other => {
                return Err(format!(
                    "`{other}` is not a check; the checks are: {}, with severity",
                    KINDS.join(", ")
                ))
            }
        }
    }
    if out.is_empty() {
        return Err(format!("a check item names no check (kinds: {})", KINDS.join(", ")));
    }
    Ok(out)
}

/// A dataset's `sensitive:` columns: a name, a list of names, or a mapping of names to `true`
/// (`{User: true}`, as a column's `sensitive: true`).
pub fn sensitive_columns(value: &Value) -> Result<Vec<String>, String> {
    match value {
        Value::Null => Ok(Vec::new()),
        Value::Mapping(m) => {
            let mut out = Vec::new();
            for (column, marked) in m {
                let column =
                    scalar(column).ok_or_else(|| format!("{} is not a column name", show(column)))?;
                match marked {
                    Value::Bool(true) => out.push(column),
                    Value::Bool(false) => {}
                    other => return Err(format!("{column}: true or false, not {}", show(other))),
                }
            }
            Ok(out)
        }
        other => names(other),
    }
}

/// A YAML scalar as text.
fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A value as a message shows it.
fn show(v: &Value) -> String {
    serde_yaml::to_string(v).map(|t| format!("`{}`", t.trim())).unwrap_or_else(|_| "this".into())
}

/// A column name or a list of them (`a,b` in one text counts as two).
fn names(v: &Value) -> Result<Vec<String>, String> {
    let items: Vec<String> =
        match v {
            Value::Sequence(items) => items
                .iter()
                .map(|i| scalar(i).ok_or_else(|| format!("{} is not a column name", show(i))))
                .collect::<Result<_, _>>()?,
            other => vec![scalar(other)
                .ok_or_else(|| format!("a column name or a list of them, not {}", show(other)))?],
        };
    let names: Vec<String> = items
        .iter()
        .flat_map(|i| i.split(','))
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(str::to_owned)
        .collect();
    Ok(names)
}

fn mapping(v: &Value) -> Result<&serde_yaml::Mapping, String> {
    match v {
        Value::Mapping(m) => Ok(m),
        other => Err(format!("a mapping (`{{key: value}}`), not {}", show(other))),
    }
}

/// `{column: ...}` pairs, in the order written.
fn columns_of(v: &Value) -> Result<Vec<(String, &Value)>, String> {
    mapping(v)?
        .iter()
        .map(|(k, v)| scalar(k).map(|k| (k, v)).ok_or_else(|| format!("{} is not a column name", show(k))))
        .collect()
}

fn unknown_keys(m: &serde_yaml::Mapping, known: &[&str]) -> Result<(), String> {
    for key in m.keys() {
        let key = scalar(key).unwrap_or_default();
        if !known.contains(&key.as_str()) {
            return Err(format!("`{key}` is not one of its keys ({})", known.join(", ")));
        }
    }
    Ok(())
}

/// `50%` (or `50`) as 0.5.
fn percent(v: &Value) -> Result<f64, String> {
    let text = scalar(v).ok_or_else(|| "a percentage, like `50%`".to_owned())?;
    let number = text.trim().trim_end_matches('%').trim();
    match number.parse::<f64>() {
        Ok(n) if n >= 0.0 && n.is_finite() => Ok(n / 100.0),
        _ => Err(format!("`{text}` is not a percentage, like `50%`")),
    }
}

/// `2d`, `36h`, `90m`, `45s`, `1w`: seconds.
pub fn duration(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let unit_secs = match unit.trim() {
        "s" => 1,
        "m" | "min" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        _ => return Err(format!("`{text}` is not a duration: write a number with s, m, h, d or w (`2d`)")),
    };
    let n: u64 =
        number.parse().map_err(|_| format!("`{text}` is not a duration: it needs a number (`2d`)"))?;
    Ok(n * unit_secs)
}

/// `2d`, `36h`, `1d 2h`: an age as a person reads it.
pub fn human_age(secs: u64) -> String {
    match secs {
        s if s >= 86_400 && s % 86_400 == 0 => format!("{}d", s / 86_400),
        s if s >= 86_400 => format!("{}d {}h", s / 86_400, s % 86_400 / 3600),
        s if s >= 3600 => format!("{}h", s / 3600),
        s if s >= 60 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn yaml(text: &str) -> Value {
        serde_yaml::from_str(text).unwrap()
    }

    #[test]
    fn a_list_of_items_each_with_its_severity() {
        let checks = parse(&yaml(
            "- not_null: [Date, Kind]\n- unique: [Date, User]\n  severity: warn\n\
             - accepted_values: {Kind: [Included, Usage-based]}\n- range: {Cost: {min: 0, max: 100}}\n\
             - row_count_change: {max_drop: 50%, max_growth: 300%}\n\
             - freshness: {column: Date, max_age: 2d, as_of: file_name}\n",
        ))
        .unwrap();
        let names: Vec<String> = checks.iter().map(Check::name).collect();
        assert_eq!(
            names,
            [
                "not_null(Date)",
                "not_null(Kind)",
                "unique(Date, User)",
                "accepted_values(Kind)",
                "range(Cost)",
                "row_count_change",
                "freshness(Date)"
            ]
        );
        assert_eq!(checks[2].severity, Severity::Warn);
        assert_eq!(checks[0].severity, Severity::Error);
        match &checks[5].kind {
            Kind::RowCountChange { max_drop, max_growth } => {
                assert_eq!((*max_drop, *max_growth), (Some(0.5), Some(3.0)))
            }
            other => panic!("{other:?}"),
        }
        match &checks[6].kind {
            Kind::Freshness { max_age, as_of, .. } => {
                assert_eq!((*max_age, *as_of), (2 * 86_400, AsOf::FileName))
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn one_mapping_is_one_item_and_a_flag_is_yaml() {
        let checks = parse(&yaml("not_null: [a]\nrow_count: {min: 1}\n")).unwrap();
        assert_eq!(checks.len(), 2);
        let flag = parse_flag("{unique: [[a], [b, c]], severity: warn}").unwrap();
        assert_eq!(flag.iter().map(Check::name).collect::<Vec<_>>(), ["unique(a)", "unique(b, c)"]);
        assert!(flag.iter().all(|c| c.severity == Severity::Warn));
    }

    #[test]
    fn mistakes_are_named() {
        let err = |text: &str| parse(&yaml(text)).unwrap_err();
        assert_eq!(
            err("not_nul: [a]"),
            "`not_nul` is not a check; the checks are: not_null, unique, accepted_values, range, matches, \
             row_count, row_count_change, freshness, columns, with severity"
        );
        assert_eq!(err("{not_null: [a], severity: fatal}"), "severity: `fatal` is not error or warn");
        assert!(err("matches: {a: '(['}").starts_with("matches: a: `([` is not a regular expression"));
        assert_eq!(
            err("row_count_change: {max_drop: lots}"),
            "row_count_change: max_drop: `lots` is not a percentage, like `50%`"
        );
        assert_eq!(
            err("freshness: {column: d, max_age: 2 days}"),
            "freshness: max_age: `2 days` is not a duration: write a number with s, m, h, d or w (`2d`)"
        );
        assert_eq!(err("range: {a: {min: 1, mx: 2}}"), "range: a: `mx` is not one of its keys (min, max)");
        assert!(parse_flag("not_null").unwrap_err().contains("write a check as `kind: value`"));
    }

    #[test]
    fn durations_and_ages() {
        assert_eq!(duration("2d"), Ok(172_800));
        assert_eq!(duration("36h"), Ok(129_600));
        assert_eq!(duration("90m"), Ok(5400));
        assert_eq!(human_age(3600 * 30), "1d 6h");
        assert_eq!(human_age(172_800), "2d");
    }
}
