//! Parsers for single text values (a CSV field, a JSON string, a PostgreSQL `COPY` field): pure
//! functions on bytes, shared by type inference and conversion, so that a column is only ever given a type whose parser accepts every one of its values.

use super::calendar::{days_from_civil, MICROS_PER_DAY};

/// What a value looks like as a number.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Number {
    /// An integer that fits Int64.
    Int(i64),
    /// An integer beyond Int64 that fits 38 digits: a Decimal(38, 0), never a rounded float.
    Big(i128),
    /// A decimal or exponent number (or an integer that only fits as a float: never produced, see below).
    Float(f64),
    /// Not a number we may type: text, an identifier with leading zeros, or an integer beyond 38
    /// digits.
    No,
}

/// `v` as an exact number with at most `scale` fraction digits, scaled by 10^scale (`12.5` at scale 2
/// is 1250); at most 38 digits in all. Anything else (an exponent, more decimals, text) is `None`.
pub fn parse_fixed(v: &[u8], scale: u8) -> Option<i128> {
    let (negative, body) = match v.first()? {
        b'-' => (true, &v[1..]),
        b'+' => (false, &v[1..]),
        _ => (false, v),
    };
    let (int, frac) = match body.iter().position(|&b| b == b'.') {
        Some(dot) => (&body[..dot], &body[dot + 1..]),
        None => (body, &body[body.len()..]),
    };
    if (int.is_empty() && frac.is_empty())
        || frac.len() > usize::from(scale)
        || !int.iter().chain(frac).all(u8::is_ascii_digit)
    {
        return None;
    }
    let significant = int.iter().skip_while(|&&b| b == b'0').count();
    if significant + usize::from(scale) > 38 {
        return None;
    }
    let mut value: i128 = 0;
    for &b in int.iter().chain(frac) {
        value = value * 10 + i128::from(b - b'0');
    }
    value *= 10i128.pow(u32::from(scale) - frac.len() as u32);
    Some(if negative { -value } else { value })
}

/// `v` as a number written with a decimal comma (`1.234,50`, `-0,5`, `12`): digits with dots between
/// groups of three, then a comma and the fraction's digits. `1.5` is not one (its group is short).
pub fn parse_decimal_comma(v: &[u8]) -> Option<f64> {
    let body = match v.first()? {
        b'-' | b'+' => &v[1..],
        _ => v,
    };
    let (int, frac) = match body.iter().position(|&b| b == b',') {
        Some(comma) => (&body[..comma], Some(&body[comma + 1..])),
        None => (body, None),
    };
    if frac.is_some_and(|f| f.is_empty() || !f.iter().all(u8::is_ascii_digit)) {
        return None;
    }
    let mut groups = int.split(|&b| b == b'.');
    let head = groups.next()?;
    let grouped = int.contains(&b'.');
    if head.is_empty() || (grouped && head.len() > 3) || !head.iter().all(u8::is_ascii_digit) {
        return None;
    }
    if (head.len() > 1 && head[0] == b'0')
        || groups.any(|g| g.len() != 3 || !g.iter().all(u8::is_ascii_digit))
    {
        return None;
    }
    let mut text = String::with_capacity(v.len());
    text.extend(v.iter().filter(|&&b| b != b'.').map(|&b| if b == b',' { '.' } else { char::from(b) }));
    text.parse::<f64>().ok().filter(|f| f.is_finite())
}

/// Classifies `v` as an integer, a float or neither.
///
/// Leading zeros ("007", "02134", "00.5") mean an identifier, never a number. `inf`/`NaN` are text.
pub fn parse_number(v: &[u8]) -> Number {
    let digits = match v.first() {
        Some(b'+' | b'-') => &v[1..],
        _ => v,
    };
    if let Some(n) = short_integer(digits) {
        return Number::Int(if v[0] == b'-' { -n } else { n });
    }
    // The digits are summed as they are scanned: up to 18 of them cannot overflow an i64.
    let mut int_len = 0;
    let mut sum = 0i64;
    for &b in digits {
        if !b.is_ascii_digit() {
            break;
        }
        if int_len < 18 {
            sum = sum * 10 + i64::from(b - b'0');
        }
        int_len += 1;
    }
    if int_len > 1 && digits[0] == b'0' {
        return Number::No;
    }
    if int_len == digits.len() {
        if int_len == 0 {
            return Number::No;
        }
        if int_len <= 18 {
            return Number::Int(if v[0] == b'-' { -sum } else { sum });
        }
        // Safe: only ASCII digits and one sign.
        let s = unsafe { std::str::from_utf8_unchecked(v) };
        return match s.parse::<i64>() {
            Ok(i) => Number::Int(i),
            Err(_) if int_len <= 38 => s.parse::<i128>().map_or(Number::No, Number::Big),
            Err(_) => Number::No,
        };
    }
    let mut rest = &digits[int_len..];
    let mut frac_len = 0;
    if rest.first() == Some(&b'.') {
        frac_len = rest[1..].iter().take_while(|b| b.is_ascii_digit()).count();
        rest = &rest[1 + frac_len..];
    }
    if int_len + frac_len == 0 {
        return Number::No;
    }
    if let Some(b'e' | b'E') = rest.first() {
        let exp = match rest.get(1) {
            Some(b'+' | b'-') => &rest[2..],
            _ => &rest[1..],
        };
        if exp.is_empty() || !exp.iter().all(u8::is_ascii_digit) {
            return Number::No;
        }
        rest = &[];
    }
    if !rest.is_empty() {
        return Number::No;
    }
    if let Some(f) = short_decimal(digits, int_len, frac_len) {
        return Number::Float(if v[0] == b'-' { -f } else { f });
    }
    let s = unsafe { std::str::from_utf8_unchecked(v) };
    match s.parse::<f64>() {
        // A non-zero literal that underflows to 0 would be silently changed: text.
        Ok(f) if f == 0.0 && mantissa_is_nonzero(digits) => Number::No,
        Ok(f) if f.is_finite() => Number::Float(f),
        _ => Number::No,
    }
}

/// 1 to 16 ASCII digits without a leading zero (`0` itself is one), read eight at a time; `None` for
/// anything else, which the byte-by-byte reading above then judges.
#[inline]
fn short_integer(digits: &[u8]) -> Option<i64> {
    let n = digits.len();
    if n == 0 || n > 16 || (n > 1 && digits[0] == b'0') {
        return None;
    }
    // Leading '0's do not change the value: the digits right-aligned in sixteen bytes.
    let mut padded = [b'0'; 16];
    padded[16 - n..].copy_from_slice(digits);
    let high = eight_digits(u64::from_le_bytes(padded[..8].try_into().expect("8 bytes")))?;
    let low = eight_digits(u64::from_le_bytes(padded[8..].try_into().expect("8 bytes")))?;
    Some((high * 100_000_000 + low) as i64)
}

/// The value of eight ASCII digits (the first the most significant) read as one little-endian
/// word, or `None` if a byte is not a digit: each byte less '0' must be at most 9, which adding
/// 0x76 to it leaves below 0x80 (a byte below '0' wraps past 0x80 itself).
#[inline]
fn eight_digits(word: u64) -> Option<u64> {
    let value = word.wrapping_sub(0x3030_3030_3030_3030);
    if (value | value.wrapping_add(0x7676_7676_7676_7676)) & 0x8080_8080_8080_8080 != 0 {
        return None;
    }
    // Pairs, then fours, then all eight (Lemire's eight-digit reading).
    let value = value.wrapping_mul(10).wrapping_add(value >> 8);
    let pairs = value & 0x0000_00FF_0000_00FF;
    let fours = (value >> 16) & 0x0000_00FF_0000_00FF;
    Some(
        pairs.wrapping_mul(100 + (1_000_000 << 32)).wrapping_add(fours.wrapping_mul(1 + (10_000 << 32)))
            >> 32,
    )
}

/// A decimal of at most 15 digits and no exponent (`2.39`, `.5`, `17.`), without its sign: its
/// digits as an integer over a power of ten, both exact in an f64, so the one division is correctly
/// rounded and gives what `str::parse` gives, several times faster. `None` for any other.
fn short_decimal(digits: &[u8], int_len: usize, frac_len: usize) -> Option<f64> {
    const POWERS: [f64; 16] =
        [1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15];
    if int_len + frac_len > 15 || digits.get(int_len) != Some(&b'.') || digits.len() != int_len + 1 + frac_len
    {
        return None;
    }
    let fraction = &digits[int_len + 1..];
    let mantissa = digits[..int_len].iter().chain(fraction).fold(0i64, |m, b| m * 10 + i64::from(b - b'0'));
    Some(mantissa as f64 / POWERS[frac_len])
}

/// Whether the digits before any exponent include a non-zero one.
fn mantissa_is_nonzero(number: &[u8]) -> bool {
    number.iter().take_while(|b| !matches!(b, b'e' | b'E')).any(|b| (b'1'..=b'9').contains(b))
}

/// `true` / `false` in any case.
pub fn parse_bool(v: &[u8]) -> Option<bool> {
    if v.eq_ignore_ascii_case(b"true") {
        Some(true)
    } else if v.eq_ignore_ascii_case(b"false") {
        Some(false)
    } else {
        None
    }
}

/// Reads 1..=max ASCII digits from the front of `v`; returns the number and the rest.
fn digits(v: &[u8], min: usize, max: usize) -> Option<(u32, &[u8])> {
    let n = v.iter().take(max).take_while(|b| b.is_ascii_digit()).count();
    if n < min {
        return None;
    }
    let value = v[..n].iter().fold(0u32, |acc, b| acc * 10 + u32::from(b - b'0'));
    Some((value, &v[n..]))
}

fn days_in_month(y: i32, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        _ => 28,
    }
}

/// The date formats a column can have. Month and day may drop their zero padding in every format;
/// the year has four digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DateFormat {
    /// `YYYY-MM-DD`.
    Iso,
    /// `YYYY/MM/DD`.
    YmdSlash,
    /// `YYYY年M月D日`.
    Japanese,
    /// `MM/DD/YYYY` (month first, as in the US).
    Mdy,
    /// `DD/MM/YYYY` (day first).
    Dmy,
    /// `DD.MM.YYYY`.
    DmyDot,
}

impl DateFormat {
    /// Every format, in the order inference prefers them.
    pub const ALL: [DateFormat; 6] = [
        DateFormat::Iso,
        DateFormat::YmdSlash,
        DateFormat::Japanese,
        DateFormat::Mdy,
        DateFormat::Dmy,
        DateFormat::DmyDot,
    ];

    /// How a person writes this format (`--date-format col=FMT`).
    pub fn pattern(self) -> &'static str {
        match self {
            DateFormat::Iso => "%Y-%m-%d",
            DateFormat::YmdSlash => "%Y/%m/%d",
            DateFormat::Japanese => "%Y年%m月%d日",
            DateFormat::Mdy => "%m/%d/%Y",
            DateFormat::Dmy => "%d/%m/%Y",
            DateFormat::DmyDot => "%d.%m.%Y",
        }
    }

    /// The format a pattern (or a short name: `ymd`, `mdy`, `dmy`) names.
    pub fn from_pattern(text: &str) -> Option<Self> {
        let text = text.trim();
        match text.to_ascii_lowercase().as_str() {
            "ymd" | "iso" => return Some(DateFormat::Iso),
            "mdy" => return Some(DateFormat::Mdy),
            "dmy" => return Some(DateFormat::Dmy),
            _ => {}
        }
        DateFormat::ALL.into_iter().find(|f| f.pattern() == text)
    }

    /// Parses a date in this format at the front of `v`: days since 1970-01-01, and the rest.
    fn parse_prefix(self, v: &[u8]) -> Option<(i32, &[u8])> {
        let (y, m, d, rest) = match self {
            DateFormat::Iso | DateFormat::YmdSlash | DateFormat::Japanese => {
                let (sep1, sep2): (&[u8], &[u8]) = match self {
                    DateFormat::Iso => (b"-", b"-"),
                    DateFormat::YmdSlash => (b"/", b"/"),
                    _ => ("年".as_bytes(), "月".as_bytes()),
                };
                let (y, rest) = digits(v, 4, 4)?;
                let (m, rest) = digits(rest.strip_prefix(sep1)?, 1, 2)?;
                let (d, rest) = digits(rest.strip_prefix(sep2)?, 1, 2)?;
                let rest =
                    if self == DateFormat::Japanese { rest.strip_prefix("日".as_bytes())? } else { rest };
                (y, m, d, rest)
            }
            DateFormat::Mdy | DateFormat::Dmy | DateFormat::DmyDot => {
                let sep: &[u8] = if self == DateFormat::DmyDot { b"." } else { b"/" };
                let (a, rest) = digits(v, 1, 2)?;
                let (b, rest) = digits(rest.strip_prefix(sep)?, 1, 2)?;
                let (y, rest) = digits(rest.strip_prefix(sep)?, 4, 4)?;
                let (m, d) = if self == DateFormat::Mdy { (a, b) } else { (b, a) };
                (y, m, d, rest)
            }
        };
        let y = y as i32;
        if !(1..=12).contains(&m) || d == 0 || d > days_in_month(y, m) {
            return None;
        }
        Some((days_from_civil(y, m, d), rest))
    }

    /// Parses `v` as a date in this format: days since 1970-01-01.
    pub fn parse(self, v: &[u8]) -> Option<i32> {
        match self.parse_prefix(v)? {
            (days, []) => Some(days),
            _ => None,
        }
    }
}

/// A parsed timestamp: microseconds since the epoch, and whether the text carried a UTC offset (in
/// which case the microseconds are already UTC-adjusted).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timestamp {
    pub micros: i64,
    pub has_offset: bool,
}

/// A timestamp format: a date in one of the [`DateFormat`]s, then `T` or a space, then
/// `H:MM[:SS[.fraction]]` (fractions up to nanoseconds, kept to microseconds), an optional `AM`/`PM`
/// (Excel's `1/2/2026 3:04 PM`), and an optional offset `Z`, `±HH:MM`, `±HHMM` or `±HH`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DatetimeFormat {
    pub date: DateFormat,
}

/// What a timestamp column does with UTC offsets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Zone {
    /// Every value is without offset; the column is a naive (wall-clock) Datetime.
    Naive,
    /// Every value carries an offset; the column is UTC.
    Offset,
    /// Values without offset are UTC (Domo's DATETIME); values with one are converted; the column is UTC.
    AssumeUtc,
}

impl Zone {
    /// Whether a parsed value is acceptable in a column of this kind.
    pub fn accepts(self, t: &Timestamp) -> bool {
        match self {
            Zone::Naive => !t.has_offset,
            Zone::Offset => t.has_offset,
            Zone::AssumeUtc => true,
        }
    }

    /// What a value must look like, for error messages.
    pub fn expected(self) -> &'static str {
        match self {
            Zone::Naive => "a timestamp without offset",
            Zone::Offset => "a timestamp with a UTC offset",
            Zone::AssumeUtc => "a timestamp",
        }
    }
}

impl DatetimeFormat {
    /// ISO 8601 / RFC 3339.
    pub const ISO: DatetimeFormat = DatetimeFormat { date: DateFormat::Iso };

    /// Parses `v` as a timestamp in this format.
    pub fn parse(self, v: &[u8]) -> Option<Timestamp> {
        let (days, rest) = self.date.parse_prefix(v)?;
        let rest = match rest.first() {
            Some(b'T' | b't' | b' ') => &rest[1..],
            _ => return None,
        };
        let (mut h, rest) = digits(rest, 1, 2)?;
        let rest = rest.strip_prefix(b":")?;
        let (mi, mut rest) = digits(rest, 2, 2)?;
        let mut s = 0;
        let mut micros = 0i64;
        if let Some(r) = rest.strip_prefix(b":") {
            let (sec, r) = digits(r, 2, 2)?;
            s = sec;
            rest = r;
            if let Some(r) = rest.strip_prefix(b".").or_else(|| rest.strip_prefix(b",")) {
                let n = r.iter().take_while(|b| b.is_ascii_digit()).count();
                if n == 0 || n > 9 {
                    return None;
                }
                // Keep microseconds; digits beyond the sixth are dropped (Parquet readers want µs).
                let mut frac = 0i64;
                for (i, b) in r[..n.min(6)].iter().enumerate() {
                    frac += i64::from(b - b'0') * 10i64.pow(5 - i as u32);
                }
                micros = frac;
                rest = &r[n..];
            }
        }
        // A 12-hour clock: `3:04 PM`, `12:30 am`.
        let meridiem = rest.strip_prefix(b" ").unwrap_or(rest);
        if meridiem.len() >= 2 && matches!(meridiem[1], b'M' | b'm') {
            let pm = match meridiem[0] {
                b'A' | b'a' => false,
                b'P' | b'p' => true,
                _ => return None,
            };
            if !(1..=12).contains(&h) {
                return None;
            }
            h = (h % 12) + if pm { 12 } else { 0 };
            rest = &meridiem[2..];
        }
        if h > 23 || mi > 59 || s > 59 {
            return None;
        }
        let (offset_secs, has_offset) = match rest {
            [] => (0i64, false),
            [b'Z' | b'z'] => (0, true),
            [sign @ (b'+' | b'-'), tail @ ..] => {
                let (oh, r) = digits(tail, 2, 2)?;
                let (om, r) = match r {
                    [] => (0, r),
                    [b':', rest @ ..] => digits(rest, 2, 2)?,
                    _ => digits(r, 2, 2)?,
                };
                if !r.is_empty() || oh > 23 || om > 59 {
                    return None;
                }
                let secs = i64::from(oh * 3600 + om * 60);
                (if *sign == b'-' { -secs } else { secs }, true)
            }
            _ => return None,
        };
        let local = i64::from(days) * MICROS_PER_DAY + i64::from(h * 3600 + mi * 60 + s) * 1_000_000 + micros;
        Some(Timestamp { micros: local - offset_secs * 1_000_000, has_offset })
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn integers_read_eight_digits_at_a_time_as_one_at_a_time() {
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        let mut texts: Vec<String> = [
            "0",
            "7",
            "-0",
            "+12",
            "00",
            "012",
            "9999999999999999",
            "10000000000000000",
            "1234567a",
            "12:30",
            "1/2",
        ]
        .map(String::from)
        .to_vec();
        for _ in 0..100_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let digits = (x % 19 + 1) as u32;
            let mut text = (x >> 5).to_string();
            text.truncate(digits as usize);
            // Now and then a byte that is not a digit, at any place.
            if x % 7 == 0 {
                let at = (x >> 40) as usize % text.len();
                text.replace_range(at..=at, [":", "/", " ", ".", "e", "\u{0}"][(x >> 50) as usize % 6]);
            }
            texts.push(text);
        }
        for text in texts {
            let want = match text.strip_prefix(['-', '+']).unwrap_or(&text) {
                d if d.is_empty() || !d.bytes().all(|b| b.is_ascii_digit()) || d.len() > 18 => None,
                d if d.len() > 1 && d.starts_with('0') => None,
                _ => Some(text.parse::<i64>().unwrap()),
            };
            match super::parse_number(text.as_bytes()) {
                super::Number::Int(got) => assert_eq!(Some(got), want, "{text:?}"),
                _ => assert_eq!(want, None, "{text:?}"),
            }
        }
    }

    #[test]
    fn short_decimals_parse_to_the_same_bits_as_the_standard_library() {
        // A spread of mantissas and scales, up to the 15 digits the quick path takes and past them.
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..200_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let digits = (x % 17 + 1) as usize;
            let mantissa = (x >> 8) % 10u64.pow(digits as u32);
            let text = format!("{mantissa:0digits$}");
            let point = (x >> 3) as usize % (digits + 1);
            let (int, frac) = text.split_at(point);
            let int = int.trim_start_matches('0');
            let number = format!(
                "{}{}.{frac}",
                if x & 1 == 1 { "-" } else { "" },
                if int.is_empty() { "0" } else { int }
            );
            let want: f64 = number.parse().unwrap();
            match super::parse_number(number.as_bytes()) {
                super::Number::Float(got) => assert_eq!(got.to_bits(), want.to_bits(), "{number}"),
                other => panic!("{number}: {other:?}"),
            }
        }
    }

    use super::*;

    #[test]
    fn decimal_commas() {
        for (v, want) in [("1.234,50", 1234.5), ("-0,5", -0.5), ("12", 12.0), ("12.345.678", 12_345_678.0)] {
            assert_eq!(parse_decimal_comma(v.as_bytes()), Some(want), "{v}");
        }
        for v in ["1.5", "1,", ",5", "1.2345,6", "1234.567", "007,5", "1,2,3", "", "-", "1.234,5e3"] {
            assert_eq!(parse_decimal_comma(v.as_bytes()), None, "{v}");
        }
    }
    use crate::transform::calendar::day_of_micros;

    #[test]
    fn fixed_point_numbers_are_exact() {
        assert_eq!(parse_fixed(b"12.5", 2), Some(1250));
        assert_eq!(parse_fixed(b"-0.01", 2), Some(-1));
        assert_eq!(parse_fixed(b"7", 3), Some(7000));
        assert_eq!(parse_fixed(b"99999999.99", 2), Some(9_999_999_999));
        assert_eq!(parse_fixed(b"1.234", 2), None, "more decimals than the scale");
        for bad in ["", "-", ".", "1e3", "1.2.3", "abc", "NaN", " 1"] {
            assert_eq!(parse_fixed(bad.as_bytes(), 2), None, "{bad:?}");
        }
        assert!(parse_fixed("9".repeat(36).as_bytes(), 2).is_some());
        assert_eq!(parse_fixed("9".repeat(37).as_bytes(), 2), None, "39 digits");
    }

    #[test]
    fn integers_and_identifiers() {
        assert_eq!(parse_number(b"0"), Number::Int(0));
        assert_eq!(parse_number(b"-42"), Number::Int(-42));
        assert_eq!(parse_number(b"+7"), Number::Int(7));
        assert_eq!(parse_number(b"9223372036854775807"), Number::Int(i64::MAX));
        // Leading zeros are identifiers, an integer past 64 bits must not be rounded into a float.
        // Past 64 bits: a 38-digit decimal, never a rounded float; past 38 digits: text.
        assert_eq!(parse_number(b"9223372036854775808"), Number::Big(9223372036854775808));
        assert_eq!(
            parse_number(b"-99999999999999999999999999999999999999"),
            Number::Big(-(10i128.pow(38) - 1))
        );
        assert_eq!(parse_number(b"123456789012345678901234567890123456789"), Number::No);
        for text in ["007", "02134", "00.5", "", "-", "+", "1 000", "1,5"] {
            assert_eq!(parse_number(text.as_bytes()), Number::No, "{text:?}");
        }
    }

    #[test]
    fn floats() {
        assert_eq!(parse_number(b"1.5"), Number::Float(1.5));
        assert_eq!(parse_number(b"17."), Number::Float(17.0));
        assert_eq!(parse_number(b"-0.0"), Number::Float(-0.0));
        assert!(matches!(parse_number(b"-0.0"), Number::Float(f) if f.is_sign_negative()));
        assert_eq!(parse_number(b"-0.25"), Number::Float(-0.25));
        assert_eq!(parse_number(b".5"), Number::Float(0.5));
        assert_eq!(parse_number(b"1e3"), Number::Float(1000.0));
        assert_eq!(parse_number(b"2.5E-2"), Number::Float(0.025));
        assert_eq!(parse_number(b"0e5"), Number::Float(0.0));
        for text in ["1e", "e5", ".", "inf", "NaN", "1.2.3", "1e400", "1e-400", "0.5e-400", "$1.00"] {
            assert_eq!(parse_number(text.as_bytes()), Number::No, "{text:?}");
        }
    }

    #[test]
    fn booleans() {
        assert_eq!(parse_bool(b"TRUE"), Some(true));
        assert_eq!(parse_bool(b"False"), Some(false));
        assert_eq!(parse_bool(b"1"), None);
        assert_eq!(parse_bool(b"yes"), None);
    }

    #[test]
    fn dates() {
        let d = |s: &str| DateFormat::Iso.parse(s.as_bytes());
        assert_eq!(d("1970-01-02"), Some(1));
        assert_eq!(d("2024-2-9"), Some(days_from_civil(2024, 2, 9)));
        assert_eq!(d("2024-02-29"), Some(days_from_civil(2024, 2, 29)));
        for bad in ["2023-02-29", "2024-13-01", "2024-00-10", "24-01-01", "2024-01-01T00:00", "2024/01/01"] {
            assert_eq!(d(bad), None, "{bad}");
        }
    }

    #[test]
    fn date_formats() {
        let day = days_from_civil(2026, 3, 4);
        let cases = [
            (DateFormat::YmdSlash, "2026/03/04"),
            (DateFormat::YmdSlash, "2026/3/4"),
            (DateFormat::Japanese, "2026年3月4日"),
            (DateFormat::Japanese, "2026年03月04日"),
            (DateFormat::Mdy, "03/04/2026"),
            (DateFormat::Mdy, "3/4/2026"),
            (DateFormat::Dmy, "04/03/2026"),
            (DateFormat::DmyDot, "4.3.2026"),
            (DateFormat::DmyDot, "04.03.2026"),
        ];
        for (format, text) in cases {
            assert_eq!(format.parse(text.as_bytes()), Some(day), "{format:?} {text}");
        }
        // A day past 12 proves the order.
        assert_eq!(DateFormat::Mdy.parse(b"13/04/2026"), None);
        assert_eq!(DateFormat::Dmy.parse(b"13/04/2026"), Some(days_from_civil(2026, 4, 13)));
        assert_eq!(DateFormat::Dmy.parse(b"31/02/2026"), None);
        assert_eq!(DateFormat::Japanese.parse("2026年3月4".as_bytes()), None);
        assert_eq!(DateFormat::from_pattern("%d/%m/%Y"), Some(DateFormat::Dmy));
        assert_eq!(DateFormat::from_pattern("MDY"), Some(DateFormat::Mdy));
        assert_eq!(DateFormat::from_pattern("%Y%m%d"), None);
    }

    #[test]
    fn excel_timestamps() {
        let t = |f: DateFormat, s: &str| DatetimeFormat { date: f }.parse(s.as_bytes()).map(|t| t.micros);
        let at = |h: i64, m: i64| {
            i64::from(days_from_civil(2026, 1, 2)) * MICROS_PER_DAY + (h * 60 + m) * 60_000_000
        };
        assert_eq!(t(DateFormat::Mdy, "1/2/2026 3:04"), Some(at(3, 4)));
        assert_eq!(t(DateFormat::Mdy, "1/2/2026 3:04 PM"), Some(at(15, 4)));
        assert_eq!(t(DateFormat::Mdy, "1/2/2026 12:04 AM"), Some(at(0, 4)));
        assert_eq!(t(DateFormat::Mdy, "1/2/2026 12:04 pm"), Some(at(12, 4)));
        assert_eq!(t(DateFormat::Dmy, "2/1/2026 15:04:00"), Some(at(15, 4)));
        assert_eq!(t(DateFormat::YmdSlash, "2026/01/02 03:04:00"), Some(at(3, 4)));
        assert_eq!(t(DateFormat::Mdy, "1/2/2026 13:04 PM"), None);
        assert_eq!(t(DateFormat::Mdy, "1/2/2026"), None);
    }

    #[test]
    fn timestamps() {
        let t = |s: &str| DatetimeFormat::ISO.parse(s.as_bytes());
        let base = i64::from(days_from_civil(2026, 10, 31)) * MICROS_PER_DAY;
        let at = |h: i64, m: i64, s: i64, us: i64| base + ((h * 60 + m) * 60 + s) * 1_000_000 + us;
        assert_eq!(
            t("2026-10-31T23:59:31.601Z"),
            Some(Timestamp { micros: at(23, 59, 31, 601_000), has_offset: true })
        );
        assert_eq!(t("2026-10-31 08:00:00"), Some(Timestamp { micros: at(8, 0, 0, 0), has_offset: false }));
        assert_eq!(t("2026-10-31T08:00"), Some(Timestamp { micros: at(8, 0, 0, 0), has_offset: false }));
        // Offsets are normalised to UTC; nanoseconds are cut to microseconds.
        assert_eq!(t("2026-10-31T10:00:00+02:00").unwrap().micros, at(8, 0, 0, 0));
        assert_eq!(t("2026-10-31T03:00:00.123456789-0500").unwrap().micros, at(8, 0, 0, 123_456));
        for bad in [
            "2026-10-31",
            "2026-10-31T24:00:00",
            "2026-10-31T10:00:00+2",
            "2026-10-31T10:00:00+05:",
            "2026-10-31T10:00:00 UTC",
        ] {
            assert_eq!(t(bad), None, "{bad}");
        }
        assert_eq!(day_of_micros(at(23, 59, 31, 601_000)), days_from_civil(2026, 10, 31));
        assert_eq!(day_of_micros(-1), -1);
    }
}
