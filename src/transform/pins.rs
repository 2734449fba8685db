//! What the user (or the source) says about columns: pinned types and date formats ([`Pins`]), and
//! which values are null ([`NullTokens`]).

use std::collections::{HashMap, HashSet};

use super::types::Parser;
use super::values::{DateFormat, DatetimeFormat};

/// Values read as null besides the empty field, unless told otherwise (`--null-values`).
pub const DEFAULT_NULL_VALUES: [&str; 4] = ["NULL", "null", "NA", "N/A"];

/// What counts as null in a column: the empty field, and these tokens.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NullTokens {
    tokens: Vec<Vec<u8>>,
    longest: usize,
    /// A bit per byte that starts a token.
    first: [u64; 4],
    /// Whether the tokens were named by the user (`--null-values`, `null_values:`), and so are null
    /// in text columns too; the default ones are null only in typed columns (a text column keeps
    /// `NA`, a country or state code, as the text it is).
    named: bool,
}

impl NullTokens {
    /// The empty field and `tokens`.
    pub fn new<S: AsRef<str>>(tokens: &[S]) -> Self {
        let tokens: Vec<Vec<u8>> =
            tokens.iter().map(|t| t.as_ref().as_bytes().to_vec()).filter(|t| !t.is_empty()).collect();
        let longest = tokens.iter().map(Vec::len).max().unwrap_or(0);
        let mut first = [0u64; 4];
        for t in &tokens {
            first[usize::from(t[0] >> 6)] |= 1 << (t[0] & 63);
        }
        NullTokens { tokens, longest, first, named: true }
    }

    /// The empty field and [`DEFAULT_NULL_VALUES`].
    pub fn standard() -> Self {
        NullTokens { named: false, ..NullTokens::new(&DEFAULT_NULL_VALUES) }
    }

    /// Whether a text column takes these tokens as null too (they were named by the user).
    pub fn named(&self) -> bool {
        self.named
    }

    /// Whether there is any token besides the empty field.
    pub fn has_tokens(&self) -> bool {
        !self.tokens.is_empty()
    }

    /// The tokens, for messages (`NULL, null, NA, N/A`).
    pub fn describe(&self) -> String {
        self.tokens.iter().map(|t| String::from_utf8_lossy(t).into_owned()).collect::<Vec<_>>().join(", ")
    }

    /// Only the empty field (a machine's export, where `NA` is a value).
    pub fn empty_only() -> Self {
        NullTokens::default()
    }

    /// Whether `v` is null.
    #[inline]
    pub fn is_null(&self, v: &[u8]) -> bool {
        // Most values are longer than every token, or start with a byte no token starts with.
        let Some(&b) = v.first() else { return true };
        v.len() <= self.longest
            && self.first[usize::from(b >> 6)] & (1 << (b & 63)) != 0
            && self.tokens.iter().any(|t| t.as_slice() == v)
    }
}

/// `name=value` pairs separated by commas, as in `--types "id=int64,Cost (\$)=money"`. A column name
/// may hold commas: a piece without `=` belongs to the next one.
pub fn parse_assignments(text: &str) -> std::result::Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    let mut pending = String::new();
    for piece in text.split(',') {
        if !pending.is_empty() {
            pending.push(',');
        }
        pending.push_str(piece);
        if let Some((name, value)) = pending.rsplit_once('=') {
            let name = name.trim();
            if name.is_empty() {
                return Err(format!("`{pending}` names no column; write COLUMN=VALUE"));
            }
            out.push((name.to_owned(), value.trim().to_owned()));
            pending.clear();
        }
    }
    if !pending.trim().is_empty() {
        return Err(format!("`{pending}` has no `=`; write COLUMN=VALUE"));
    }
    Ok(out)
}

/// Pins from `--types` / `types:` (column → type name) and `--date-format` / `date_formats:`
/// (column → date pattern).
pub fn pins_from(
    types: &[(String, String)],
    date_formats: &[(String, String)],
) -> std::result::Result<Pins, String> {
    let mut pins = Pins::none();
    for (column, name) in types {
        let parser: Parser = name.parse().map_err(|e| format!("column `{column}`: {e}"))?;
        pins = pins.pin(column, parser);
        pins.named.push(column.clone());
    }
    for (column, pattern) in date_formats {
        let format = DateFormat::from_pattern(pattern).ok_or_else(|| {
            let known: Vec<&str> = DateFormat::ALL.iter().map(|f| f.pattern()).collect();
            format!(
                "column `{column}`: unknown date format `{pattern}`; use one of {}, or ymd, mdy, dmy",
                known.join(", ")
            )
        })?;
        pins = pins.date_format_of(column, format);
        pins.named.push(column.clone());
    }
    Ok(pins)
}

/// Column types fixed by the caller instead of inferred, matched by column name; and date formats
/// given for columns whose type is still inferred (`--date-format`).
#[derive(Debug, Clone, Default)]
pub struct Pins {
    // Maps, not lists: a JSON source pins every one of its columns, and may have 100,000.
    types: HashMap<String, Parser>,
    date_formats: HashMap<String, DateFormat>,
    /// Columns a person named (`--types`, `types:`): the source must have them. (A command's own
    /// pins cover header variants and may name columns a file lacks.)
    named: Vec<String>,
    /// Columns whose values are text by nature (JSON strings): inferred as dates or timestamps, else
    /// String, never as numbers or booleans.
    temporal: HashSet<String>,
    /// Whether numbers may be written with a decimal comma (`1.234,50`).
    decimal_comma: DecimalComma,
}

/// Whether a source's numbers may be written with a decimal comma and dots between thousands.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum DecimalComma {
    /// Never (a dot is the decimal mark).
    #[default]
    Off,
    /// A column is read so when every value reads so and a dot-decimal reading does not fit them
    /// all (a `;`-separated file).
    IfEveryValue,
    /// The source writes numbers so (`--decimal-comma`): a column is read so when every value
    /// reads so, and a column pinned to `float64` is read so.
    Always,
}

impl DecimalComma {
    /// From a CSV source's setting: given on or off (`Some`), or left to its values (`None`).
    pub fn from_setting(setting: Option<bool>) -> Self {
        match setting {
            Some(true) => DecimalComma::Always,
            Some(false) => DecimalComma::Off,
            None => DecimalComma::IfEveryValue,
        }
    }
}

impl Pins {
    /// No pinned column.
    pub fn none() -> Self {
        Pins::default()
    }

    /// Pins column `name` (exact name after trimming) to `parser`; a later pin of the same name wins.
    pub fn pin(mut self, name: &str, parser: Parser) -> Self {
        self.types.insert(name.to_owned(), parser);
        self
    }

    /// Says that column `name`'s dates (if it has dates) are in `format`.
    pub fn date_format_of(mut self, name: &str, format: DateFormat) -> Self {
        self.date_formats.insert(name.to_owned(), format);
        self
    }

    /// These pins, with `other`'s added on top (where both pin a column, `other` wins).
    pub fn overridden_by(mut self, other: &Pins) -> Self {
        self.types.extend(other.types.iter().map(|(n, p)| (n.clone(), *p)));
        self.date_formats.extend(other.date_formats.iter().map(|(n, f)| (n.clone(), *f)));
        self.named.extend(other.named.iter().cloned());
        self.temporal.extend(other.temporal.iter().cloned());
        if other.decimal_comma != DecimalComma::Off {
            self.decimal_comma = other.decimal_comma;
        }
        self
    }

    /// Says that column `name` holds text by nature: it is a date or timestamp column if every value
    /// reads as one, else String.
    pub fn temporal_or_text(mut self, name: &str) -> Self {
        self.temporal.insert(name.to_owned());
        self
    }

    /// Whether [`Pins::temporal_or_text`] was said of `name`.
    pub fn is_temporal(&self, name: &str) -> bool {
        self.temporal.contains(name)
    }

    /// The same pins, numbers read with a decimal comma as `decimal_comma` says.
    pub fn with_decimal_comma(mut self, decimal_comma: DecimalComma) -> Self {
        self.decimal_comma = decimal_comma;
        self
    }

    /// Whether numbers may be written with a decimal comma.
    pub fn decimal_comma(&self) -> DecimalComma {
        self.decimal_comma
    }

    /// The same pins, without requiring the columns to exist (a catalog entry may list the columns of
    /// every variant of an export).
    pub fn lenient(mut self) -> Self {
        self.named.clear();
        self
    }

    /// The columns a person named that are not among `columns`.
    pub fn named_but_missing(&self, columns: &[String]) -> Vec<String> {
        self.named.iter().filter(|n| !columns.contains(n)).cloned().collect()
    }

    /// The parser pinned for `name`, if any; a date format given for the column applies to a pinned
    /// date or timestamp.
    pub fn get(&self, name: &str) -> Option<Parser> {
        let parser = *self.types.get(name)?;
        Some(match (parser, self.date_format(name)) {
            (Parser::Float, _) if self.decimal_comma == DecimalComma::Always => Parser::DecimalComma,
            (Parser::Date(_), Some(format)) => Parser::Date(format),
            (Parser::Datetime(_, zone), Some(format)) => {
                Parser::Datetime(DatetimeFormat { date: format }, zone)
            }
            (parser, _) => parser,
        })
    }

    /// The date format given for `name`, if any.
    pub fn date_format(&self, name: &str) -> Option<DateFormat> {
        self.date_formats.get(name).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn null_tokens() {
        let standard = NullTokens::standard();
        for (v, null) in
            [("", true), ("NA", true), ("N/A", true), ("null", true), ("NB", false), ("2.2", false)]
        {
            assert_eq!(standard.is_null(v.as_bytes()), null, "{v:?}");
        }
        let custom = NullTokens::new(&["-", "", "#N/A"]);
        assert!(custom.is_null(b"-") && custom.is_null(b"#N/A") && custom.is_null(b""));
        assert!(!custom.is_null(b"NA") && !custom.is_null(b"-1"));
        assert!(!NullTokens::empty_only().is_null(b"NA"));
    }

    #[test]
    fn assignments_allow_commas_in_names() {
        let got = parse_assignments("id=int64, Cost ($)=money,a, b=string").unwrap();
        let want = [("id", "int64"), ("Cost ($)", "money"), ("a, b", "string")];
        assert_eq!(got, want.map(|(a, b)| (a.to_owned(), b.to_owned())));
        assert!(parse_assignments("id").is_err());
        assert!(parse_assignments("=int64").is_err());
        let pins = pins_from(&got, &[("d".into(), "%d/%m/%Y".into())]).unwrap();
        assert_eq!(pins.get("Cost ($)"), Some(Parser::Money));
        assert_eq!(pins.date_format("d"), Some(DateFormat::Dmy));
        assert!(pins_from(&[("x".into(), "wat".into())], &[]).is_err());
    }
}
