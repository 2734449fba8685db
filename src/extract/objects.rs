//! Objects of a bucket picked by a glob (`s3://bucket/drop/*.csv`): the source of `load-s3`.
//!
//! `*` matches within one path segment, `**` across segments, `?` one character other than `/`.

use std::path::{Path, PathBuf};

use futures::{StreamExt, TryStreamExt};

use crate::error::{Error, Result};
use crate::store::{ObjectMeta, ObjectStore, S3Location, Target};

/// Downloads at once.
const DOWNLOADS_IN_FLIGHT: usize = 4;

/// `s3://bucket/key-pattern`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectGlob {
    bucket: String,
    pattern: String,
}

impl std::str::FromStr for ObjectGlob {
    type Err = String;

    fn from_str(text: &str) -> std::result::Result<Self, String> {
        let rest = text
            .strip_prefix("s3://")
            .ok_or_else(|| format!("`{text}` is not an s3:// URL; write s3://bucket/folder/*.csv"))?;
        let (bucket, pattern) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() || pattern.is_empty() {
            return Err(format!("`{text}` names no objects; write s3://bucket/folder/*.csv"));
        }
        Ok(ObjectGlob { bucket: bucket.to_owned(), pattern: pattern.to_owned() })
    }
}

impl std::fmt::Display for ObjectGlob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "s3://{}/{}", self.bucket, self.pattern)
    }
}

impl ObjectGlob {
    /// The bucket, as a target whose keys are the objects' full keys.
    pub fn bucket(&self) -> Target {
        Target::S3(S3Location { bucket: self.bucket.clone(), prefix: String::new() })
    }

    /// `s3://bucket/key`.
    pub fn url_of(&self, key: &str) -> String {
        format!("s3://{}/{key}", self.bucket)
    }

    /// The part of the pattern before its first wildcard: every match starts with it.
    fn literal_prefix(&self) -> &str {
        let end = self.pattern.find(['*', '?']).unwrap_or(self.pattern.len());
        &self.pattern[..end]
    }

    /// Whether `key` matches the pattern.
    pub fn matches(&self, key: &str) -> bool {
        glob_match(self.pattern.as_bytes(), key.as_bytes())
    }

    /// The matching objects, in key order (folder markers left out).
    pub async fn list(&self, store: &dyn ObjectStore) -> Result<Vec<ObjectMeta>> {
        Ok(store
            .list(self.literal_prefix())
            .await?
            .into_iter()
            .filter(|o| !o.key.ends_with('/') && self.matches(&o.key))
            .collect())
    }
}

/// Glob matching over bytes, in O(pattern × text).
fn glob_match(pattern: &[u8], text: &[u8]) -> bool {
    // reach[j]: the pattern read so far can end right before text[j].
    let mut reach = vec![false; text.len() + 1];
    reach[0] = true;
    let mut i = 0;
    while i < pattern.len() {
        let mut next = vec![false; text.len() + 1];
        match pattern[i] {
            b'*' if pattern[i..].starts_with(b"**/") => {
                // `**/`: no folder, or any folders.
                let mut on = false;
                for j in 0..=text.len() {
                    next[j] = reach[j] || (on && text[j - 1] == b'/');
                    on |= reach[j];
                }
                i += 2;
            }
            b'*' if pattern.get(i + 1) == Some(&b'*') => {
                // `**`: anything, `/` included.
                let mut on = false;
                for j in 0..=text.len() {
                    on |= reach[j];
                    next[j] = on;
                }
                i += 1;
            }
            b'*' => {
                let mut on = false;
                for j in 0..=text.len() {
                    on = reach[j] || (on && text[j - 1] != b'/');
                    next[j] = on;
                }
            }
            b'?' => {
                for j in 1..=text.len() {
                    next[j] = reach[j - 1] && text[j - 1] != b'/';
                }
            }
            c => {
                for j in 1..=text.len() {
                    next[j] = reach[j - 1] && text[j - 1] == c;
                }
            }
        }
        reach = next;
        i += 1;
    }
    reach[text.len()]
}

/// Downloads `objects` of `store` into `dir` (a few at once), each under a name that keeps its
/// extension (`.gz`, `.zst` are read as such); returns the files in the objects' order.
pub async fn download(store: &dyn ObjectStore, objects: &[ObjectMeta], dir: &Path) -> Result<Vec<PathBuf>> {
    futures::stream::iter(objects.iter().enumerate().map(|(i, object)| async move {
        crate::signals::check()?;
        // A key's last segment may be up to 1,024 bytes and hold anything: the local name keeps a
        // short, safe part of it, for a person looking at the folder. (Messages name the object by
        // its URL; the compression is told by the bytes.)
        let name: String = object
            .key
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
            .take(64)
            .collect();
        let path = dir.join(format!("{i:06}-{name}"));
        store.get_to_file(&object.key, &path).await.map_err(Error::from)?;
        Ok::<_, Error>(path)
    }))
    .buffered(DOWNLOADS_IN_FLIGHT)
    .try_collect()
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        let m = |p: &str, t: &str| glob_match(p.as_bytes(), t.as_bytes());
        assert!(m("drop/*.csv", "drop/a.csv"));
        assert!(!m("drop/*.csv", "drop/sub/a.csv"));
        assert!(!m("drop/*.csv", "drop/a.csv.gz"));
        assert!(m("drop/**.csv", "drop/sub/a.csv"));
        assert!(m("drop/**/*.csv", "drop/x/y/a.csv"));
        assert!(m("drop/**/*.csv", "drop/a.csv"), "`**/` may stand for no folder");
        assert!(!m("drop/**/*.csv", "dropa.csv"));
        assert!(m("drop/2026-??-*.csv", "drop/2026-11-23.csv"));
        assert!(!m("drop/?.csv", "drop/ab.csv"));
        assert!(m("drop/a.csv", "drop/a.csv") && !m("drop/a.csv", "drop/b.csv"));
        assert!(m("*", "a") && !m("*", "a/b") && m("**", "a/b"));
    }

    #[test]
    fn parses_urls() {
        let g: ObjectGlob = "s3://bucket/drop/*.csv".parse().unwrap();
        assert_eq!(g.literal_prefix(), "drop/");
        assert_eq!(g.to_string(), "s3://bucket/drop/*.csv");
        assert_eq!(g.url_of("drop/a.csv"), "s3://bucket/drop/a.csv");
        for bad in ["drop/*.csv", "s3://", "s3://bucket", "s3://bucket/", "s3:///x"] {
            assert!(bad.parse::<ObjectGlob>().is_err(), "{bad}");
        }
    }
}
