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
        if let Some(rest) = text.strip_prefix("s3://") {
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
            return Err(invalid("only s3:// URLs and local folders are supported"));
        }
        if text.is_empty() {
            return Err(invalid("it is empty"));
        }
        Ok(Target::Local(PathBuf::from(text)))
    }
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
        for bad in ["s3://", "s3:///x", "gs://b", "", "s3://b/../x"] {
            assert!(Target::parse(bad).is_err(), "{bad}");
        }
    }
}
