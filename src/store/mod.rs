//! Object storage behind one small trait, with a local-folder and an S3 implementation.
//!
//! Guarantees every implementation keeps:
//! - `put` and `put_file` are atomic: a reader sees the whole new object or none of it.
//! - `put_if_absent` creates an object only if there is none, atomically where the backend can (a
//!   local folder: link without clobbering; S3: `If-None-Match: *`).
//! - `list` returns every object whose key starts with `prefix`, in key order, paging as needed.
//! - `delete_many` deletes exactly the given keys; a key that is already gone is not an error.
//!
//! Keys are relative to the target (`s3://bucket/prefix` or a folder) and use `/`.

mod local;
mod object;
mod s3;
mod target;

use std::sync::Arc;

pub use local::{sha256_of_file, LocalStore};
pub use object::{staging_outside_the_target, ObjectMeta, ObjectStore, StoreError};
pub use s3::{S3Location, S3Store};
pub use target::{Target, DEFAULT_TARGET};

/// Opens the store a target names.
pub async fn open(target: &Target) -> Result<Arc<dyn ObjectStore>, StoreError> {
    Ok(match target {
        Target::Local(path) => Arc::new(LocalStore::new(path)?),
        Target::S3(location) => Arc::new(S3Store::from_env(location.clone()).await?),
    })
}
