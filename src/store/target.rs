//! Where datasets are written: `s3://bucket[/prefix]`, `file:///path` or a plain folder (as
//! object_store's `parse_url` picks a backend from a URL).

use std::path::PathBuf;

use super::object::StoreError;
use super::s3::S3Location;

/// The target used when neither `--target` nor `ETL_TARGET` is set: a local folder, so the tool runs
/// with no S3 at all.
pub const DEFAULT_TARGET: &str = "./lake";

/// Where datasets are written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A local folder standing in for a bucket.
    Local(PathBuf),
    /// A bucket and optional prefix.
    S3(S3Location),
}

impl Target {
    /// Parses `s3://bucket[/prefix]`, `file:///path` or a plain folder path.
    pub fn parse(text: &str) -> Result<Self, StoreError> {
        let invalid =
            |reason: &str| StoreError::InvalidTarget { target: text.to_owned(), reason: reason.to_owned() };
        // A URL's scheme is read without case (`S3://bucket`).
        let scheme_end = text.find("://").filter(|&i| text[..i].eq_ignore_ascii_case("s3"));
        if let Some(rest) = scheme_end.map(|i| &text[i + 3..]) {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(invalid("the bucket name is missing: use s3://bucket[/prefix]"));
            }
            let prefix = prefix.trim_matches('/');
            if prefix.split('/').any(|seg| seg == "..") {
                return Err(invalid("the prefix must not contain `..`"));
            }
            return Ok(Target::S3(S3Location { bucket: bucket.to_owned(), prefix: prefix.to_owned() }));
        }
        if let Some(path) = text.strip_prefix("file://") {
            return Ok(Target::Local(PathBuf::from(path)));
        }
        if text.contains("://") {
            return Err(invalid("only s3://bucket[/prefix] URLs and local folders are supported"));
        }
        // Something that looks like a URL but is not one (`s3:/bucket`, `s3:bucket`, `s3//bucket`) is
        // a typo, never a folder to create: a CI smoke test against S3 would pass writing to disk.
        if let Some(scheme) = url_like(text) {
            return Err(invalid(&format!(
                "it looks like a URL but is not one (`{scheme}` then no `//`): write s3://bucket[/prefix] \
                 for S3, or ./{text} for a local folder of that name"
            )));
        }
        if text.is_empty() {
            return Err(invalid("it is empty"));
        }
        Ok(Target::Local(PathBuf::from(text)))
    }
}

/// The scheme of a text that starts like a URL without being one: `s3:`..., `file:`..., `http:`...
/// (two characters or more before the colon, so that `C:\data` stays a folder), or `s3//`.
fn url_like(text: &str) -> Option<&str> {
    let lower = text.to_ascii_lowercase();
    if lower.starts_with("s3//") || lower.starts_with("s3:") {
        return Some(&text[..2]);
    }
    let (scheme, _) = text.split_once(':')?;
    let is_scheme = scheme.len() >= 2
        && scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    is_scheme.then_some(scheme)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets() {
        assert_eq!(
            Target::parse("s3://bucket/a/b/").unwrap(),
            Target::S3(S3Location { bucket: "bucket".into(), prefix: "a/b".into() })
        );
        assert_eq!(
            Target::parse("s3://bucket").unwrap(),
            Target::S3(S3Location { bucket: "bucket".into(), prefix: "".into() })
        );
        assert_eq!(Target::parse("./lake").unwrap(), Target::Local("./lake".into()));
        assert_eq!(Target::parse("file:///tmp/x").unwrap(), Target::Local("/tmp/x".into()));
        assert_eq!(
            Target::parse("S3://bucket").unwrap(),
            Target::S3(S3Location { bucket: "bucket".into(), prefix: "".into() })
        );
        assert_eq!(Target::parse("C:\\lake").unwrap(), Target::Local("C:\\lake".into()));
        assert_eq!(Target::parse("lake/s3:x").unwrap(), Target::Local("lake/s3:x".into()));
        for bad in [
            "s3://",
            "s3:///x",
            "gs://b",
            "",
            "s3://b/../x",
            "s3:/bucket",
            "s3:bucket",
            "s3//bucket",
            "file:/x",
        ] {
            assert!(Target::parse(bad).is_err(), "{bad}");
        }
    }
}
