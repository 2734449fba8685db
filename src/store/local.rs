//! A local folder standing in for a bucket. Writes go to a hidden temporary file beside the target and
//! are renamed into place, so a reader never sees half a file.

use std::path::{Path, PathBuf};

use std::fs;

use super::object::{ObjectMeta, ObjectStore, StoreError};

/// Objects as files under a root folder; key `a/b/c` is `root/a/b/c`.
#[derive(Debug, Clone)]
pub struct LocalStore {
    root: PathBuf,
}

impl LocalStore {
    /// `body` in a hidden temporary file beside `key`'s path, synced: ready to be renamed into place.
    fn written_beside(
        &self,
        key: &str,
        body: &[u8],
    ) -> Result<(tempfile::NamedTempFile, PathBuf), StoreError> {
        let dest = self.path_of(key);
        let dir = self.parent_dir(&dest)?;
        let mut tmp = tempfile::Builder::new()
            .prefix(".tmp-")
            // As any file the user writes (0644 under umask 022), not a temporary file's 0600: a
            // manifest another user could not read, beside data files they can.
            .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666))
            .tempfile_in(&dir)
            .map_err(|e| StoreError::io(&dir, e))?;
        std::io::Write::write_all(&mut tmp, body).map_err(|e| StoreError::io(tmp.path(), e))?;
        tmp.as_file().sync_all().map_err(|e| StoreError::io(&dest, e))?;
        Ok((tmp, dest))
    }

    /// A store rooted at `root`, created if missing.
    pub fn new(root: &Path) -> Result<Self, StoreError> {
        fs::create_dir_all(root).map_err(|e| StoreError::io(root, e))?;
        let root = fs::canonicalize(root).map_err(|e| StoreError::io(root, e))?;
        Ok(LocalStore { root })
    }

    fn path_of(&self, key: &str) -> PathBuf {
        self.root.join(key)
    }

    fn parent_dir(&self, path: &Path) -> Result<PathBuf, StoreError> {
        let parent = path.parent().unwrap_or(&self.root).to_owned();
        fs::create_dir_all(&parent).map_err(|e| StoreError::io(&parent, e))?;
        Ok(parent)
    }
}

/// Makes the folder entry of `path` durable (a rename is not, until its folder is synced).
fn sync_dir(path: &Path) -> Result<(), StoreError> {
    let dir = path.parent().unwrap_or(path);
    fs::File::open(dir).and_then(|d| d.sync_all()).map_err(|e| StoreError::io(dir, e))
}

/// Files and folders whose name starts with `.` are the store's own (temporary files, staging).
fn is_hidden(name: &std::ffi::OsStr) -> bool {
    name.to_string_lossy().starts_with('.')
}

#[async_trait::async_trait]
impl ObjectStore for LocalStore {
    fn url(&self) -> String {
        self.root.display().to_string()
    }

    fn local_file(&self, key: &str) -> Option<PathBuf> {
        Some(self.path_of(key))
    }

    fn staging_parent(&self) -> PathBuf {
        self.root.clone()
    }

    async fn put(&self, key: &str, body: Vec<u8>) -> Result<(), StoreError> {
        let (tmp, dest) = self.written_beside(key, &body)?;
        tmp.persist(&dest).map_err(|e| StoreError::io(&dest, e.error))?;
        sync_dir(&dest)
    }

    async fn holds(
        &self,
        listed: &ObjectMeta,
        sha256: &str,
        _etag: Option<&str>,
    ) -> Result<bool, StoreError> {
        // A folder keeps no checksum: the bytes are read and hashed (a few hundred MB a second).
        let path = self.path_of(&listed.key);
        let digest = tokio::task::spawn_blocking(move || sha256_of_file(&path))
            .await
            .map_err(|e| StoreError::io(self.path_of(&listed.key), std::io::Error::other(e)))?;
        match digest {
            Ok((_, digest)) => Ok(digest == sha256),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(StoreError::io(self.path_of(&listed.key), e)),
        }
    }

    async fn put_if_absent(&self, key: &str, body: Vec<u8>) -> Result<bool, StoreError> {
        let (tmp, dest) = self.written_beside(key, &body)?;
        match tmp.persist_noclobber(&dest) {
            Ok(_) => Ok(true),
            Err(e) if e.error.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
            Err(e) => Err(StoreError::io(&dest, e.error)),
        }
    }

    async fn put_file(&self, key: &str, path: &Path) -> Result<Option<String>, StoreError> {
        let dest = self.path_of(key);
        let dir = self.parent_dir(&dest)?;
        // On disk before it is in place, and its folder's entry with it: a power cut after the
        // manifest never leaves the manifest listing a torn file. (Off the async threads: uploads
        // run 16 at a time.)
        let file = path.to_owned();
        tokio::task::spawn_blocking(move || fs::File::open(&file).and_then(|f| f.sync_all()))
            .await
            .map_err(|e| StoreError::io(path, std::io::Error::other(e)))?
            .map_err(|e| StoreError::io(path, e))?;
        if std::fs::rename(path, &dest).is_ok() {
            sync_dir(&dest)?;
            return Ok(None);
        }
        // Another file system: copy beside the destination, then rename.
        let tmp = tempfile::Builder::new()
            .prefix(".tmp-")
            .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666))
            .tempfile_in(&dir)
            .map_err(|e| StoreError::io(&dir, e))?;
        std::fs::copy(path, tmp.path()).map_err(|e| StoreError::io(path, e))?;
        tmp.as_file().sync_all().map_err(|e| StoreError::io(&dest, e))?;
        tmp.persist(&dest).map_err(|e| StoreError::io(&dest, e.error))?;
        sync_dir(&dest)?;
        Ok(None)
    }

    async fn copy(&self, from: &str, to: &str) -> Result<(), StoreError> {
        let (source, dest) = (self.path_of(from), self.path_of(to));
        let dir = self.parent_dir(&dest)?;
        // A link beside the destination, then a rename over it: readers see the old file or the
        // copy, and the copy costs no bytes.
        let tmp = dir.join(format!(".tmp-link-{}", fastrand::u64(..)));
        std::fs::hard_link(&source, &tmp).map_err(|e| StoreError::io(&source, e))?;
        std::fs::rename(&tmp, &dest).map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            StoreError::io(&dest, e)
        })
    }

    async fn get(&self, key: &str) -> Result<Vec<u8>, StoreError> {
        let path = self.path_of(key);
        std::fs::read(&path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => StoreError::NotFound { store: self.url(), key: key.to_owned() },
            _ => StoreError::io(&path, e),
        })
    }

    async fn list_folders(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        let dir = self.path_of(prefix.trim_end_matches('/'));
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(StoreError::io(&dir, e)),
        };
        let mut out = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| StoreError::io(&dir, e))?;
            let path = entry.path();
            if is_hidden(&entry.file_name())
                || !entry.file_type().map_err(|e| StoreError::io(&path, e))?.is_dir()
            {
                continue;
            }
            // A folder with no object in it (an emptied dataset's) is not one.
            if holds_a_file(&path) {
                out.push(entry.file_name().to_string_lossy().into_owned());
            }
        }
        out.sort();
        Ok(out)
    }

    async fn list(&self, prefix: &str) -> Result<Vec<ObjectMeta>, StoreError> {
        // Walk only the folder the prefix points into.
        let dir_part = prefix.rfind('/').map_or("", |i| &prefix[..i]);
        let start = self.path_of(dir_part);
        let mut out = Vec::new();
        let mut stack = vec![start];
        while let Some(dir) = stack.pop() {
            let entries = match std::fs::read_dir(&dir) {
                Ok(entries) => entries,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(StoreError::io(&dir, e)),
            };
            for entry in entries {
                let entry = entry.map_err(|e| StoreError::io(&dir, e))?;
                if is_hidden(&entry.file_name()) {
                    continue;
                }
                let path = entry.path();
                let file_type = entry.file_type().map_err(|e| StoreError::io(&path, e))?;
                if file_type.is_dir() {
                    stack.push(path);
                    continue;
                }
                let rel = path.strip_prefix(&self.root).expect("walk stays under the root");
                let key =
                    rel.components().map(|c| c.as_os_str().to_string_lossy()).collect::<Vec<_>>().join("/");
                if key.starts_with(prefix) {
                    let size = entry.metadata().map_err(|e| StoreError::io(&path, e))?.len();
                    out.push(ObjectMeta { key, size, etag: None });
                }
            }
        }
        out.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(out)
    }

    async fn delete_many(&self, keys: &[String]) -> Result<(), StoreError> {
        for key in keys {
            let path = self.path_of(key);
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(StoreError::io(&path, e)),
            }
            // Remove folders left empty, up to (not including) the root.
            let mut dir = path.parent();
            while let Some(d) = dir {
                if d == self.root || std::fs::remove_dir(d).is_err() {
                    break;
                }
                dir = d.parent();
            }
        }
        Ok(())
    }
}

/// The size and hex SHA-256 of a file.
pub fn sha256_of_file(path: &std::path::Path) -> std::io::Result<(u64, String)> {
    use sha2::Digest;
    use std::io::Read;
    let mut file = std::fs::File::open(path)?;
    let mut hasher = sha2::Sha256::new();
    let mut buf = vec![0u8; 256 << 10];
    let mut total = 0u64;
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        total += n as u64;
    }
    Ok((total, hex::encode(hasher.finalize())))
}

/// Whether `dir` or a folder in it holds a file that is not hidden (stops at the first).
fn holds_a_file(dir: &Path) -> bool {
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for entry in entries.flatten() {
            if is_hidden(&entry.file_name()) {
                continue;
            }
            match entry.file_type() {
                Ok(t) if t.is_dir() => stack.push(entry.path()),
                Ok(_) => return true,
                Err(_) => {}
            }
        }
    }
    false
}
