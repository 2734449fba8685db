//! S3 and S3-compatible servers (MinIO, Garage, ...) on aws-sdk-s3.
//!
//! Settings come from the usual AWS chain (env, `~/.aws`, instance roles). With `AWS_ENDPOINT_URL`
//! set, requests use path-style addressing. Request checksums are sent only where an operation
//! requires them: the SDK's default CRC32 checksums (since aws-sdk-rust v1.69) break several
//! S3-compatible stores (awslabs/aws-sdk-rust#1240).

use std::path::{Path, PathBuf};
use std::time::Duration;

use aws_sdk_s3::config::{RequestChecksumCalculation, ResponseChecksumValidation};
use aws_sdk_s3::error::DisplayErrorContext;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart, Delete, ObjectIdentifier};
use aws_sdk_s3::Client;
use base64::Engine;
use md5::{Digest, Md5};
use tokio::io::AsyncReadExt;

use super::object::{ObjectMeta, ObjectStore, StoreError};

/// Files larger than this are uploaded in parts.
const MULTIPART_THRESHOLD: u64 = 32 << 20;
/// Size of each part of a multipart upload.
const PART_SIZE: usize = 16 << 20;
/// The largest object one `CopyObject` copies.
const COPY_LIMIT: u64 = 5 << 30;
/// The parts of a larger object's copy.
const COPY_PART: u64 = 512 << 20;
/// DeleteObjects takes at most this many keys.
const DELETE_BATCH: usize = 1000;

/// `s3://bucket[/prefix]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Location {
    pub bucket: String,
    /// Empty, or a prefix without leading or trailing `/`.
    pub prefix: String,
}

/// A bucket (and optional prefix) on S3 or an S3-compatible server.
#[derive(Debug, Clone)]
pub struct S3Store {
    client: Client,
    location: S3Location,
    endpoint: String,
    path_style: bool,
    region: String,
}

/// Whether the AWS shared files (`~/.aws/credentials`, `~/.aws/config`, or where their variables
/// point) exist: a profile there may hold credentials.
fn aws_files_exist() -> bool {
    let home = std::env::var_os("HOME").map(std::path::PathBuf::from);
    let file = |var: &str, default: &str| {
        std::env::var_os(var).map(std::path::PathBuf::from).or_else(|| home.as_ref().map(|h| h.join(default)))
    };
    [file("AWS_SHARED_CREDENTIALS_FILE", ".aws/credentials"), file("AWS_CONFIG_FILE", ".aws/config")]
        .into_iter()
        .flatten()
        .any(|path| path.is_file())
}

impl S3Store {
    /// Every object under `prefix` (whose key sorts after `after`, if given), in key order.
    async fn list_from(&self, prefix: &str, after: Option<&str>) -> Result<Vec<ObjectMeta>, StoreError> {
        let strip = if self.location.prefix.is_empty() {
            String::new()
        } else {
            format!("{}/", self.location.prefix)
        };
        let mut pages = self
            .client
            .list_objects_v2()
            .bucket(&self.location.bucket)
            .prefix(self.full_key(prefix))
            .set_start_after(after.map(|a| self.full_key(a)))
            .into_paginator()
            .send();
        let mut out = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| self.error("ListObjectsV2", prefix, e))?;
            for object in page.contents() {
                // A server that answers with a key outside the prefix is ignored, not trusted; one
                // that ignores StartAfter lists from the start, and the filter holds anyway.
                let Some(key) = object.key().and_then(|k| k.strip_prefix(strip.as_str())) else { continue };
                if after.is_some_and(|after| key <= after) {
                    continue;
                }
                out.push(ObjectMeta {
                    key: key.to_owned(),
                    size: object.size().unwrap_or(0) as u64,
                    etag: object.e_tag().map(|t| t.trim_matches('"').to_owned()),
                });
            }
        }
        out.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(out)
    }

    /// A GetObject of `key`, its body not read yet; a missing key is [`StoreError::NotFound`].
    async fn get_object(
        &self,
        key: &str,
    ) -> Result<aws_sdk_s3::operation::get_object::GetObjectOutput, StoreError> {
        self.client.get_object().bucket(&self.location.bucket).key(self.full_key(key)).send().await.map_err(
            |e| match e.as_service_error() {
                Some(se) if se.is_no_such_key() => {
                    StoreError::NotFound { store: self.url(), key: key.to_owned() }
                }
                _ => self.error("GetObject", key, e),
            },
        )
    }

    /// Builds a client from the environment's AWS settings.
    pub async fn from_env(location: S3Location) -> Result<Self, StoreError> {
        // A server that accepts a request and then says nothing is given ETL_S3_READ_TIMEOUT seconds
        // (60 by default) per wait, not the whole attempt's 5 minutes.
        let read_timeout = std::env::var("ETL_S3_READ_TIMEOUT")
            .ok()
            .and_then(|v| v.parse::<u64>().ok())
            .filter(|&s| s > 0)
            .map_or(Duration::from_secs(60), Duration::from_secs);
        let env = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        let endpoint_in_env = env("AWS_ENDPOINT_URL_S3").or_else(|| env("AWS_ENDPOINT_URL"));
        let region_in_env = env("AWS_REGION").or_else(|| env("AWS_DEFAULT_REGION"));
        let static_credentials = env("AWS_ACCESS_KEY_ID").is_some() && env("AWS_SECRET_ACCESS_KEY").is_some();
        let other_credentials = [
            "AWS_PROFILE",
            "AWS_WEB_IDENTITY_TOKEN_FILE",
            "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
            "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        ]
        .iter()
        .any(|name| env(name).is_some())
            || aws_files_exist();
        if let (Some(endpoint), false, false) = (&endpoint_in_env, static_credentials, other_credentials) {
            // An S3-compatible server takes keys: asking an instance's metadata service for a role
            // would only wait and fail.
            return Err(StoreError::Config(format!(
                "no AWS credentials were found for the S3 server at {endpoint}: set AWS_ACCESS_KEY_ID and \
                 AWS_SECRET_ACCESS_KEY (environment or .env), or AWS_PROFILE"
            )));
        }
        let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
        if endpoint_in_env.is_some() && region_in_env.is_none() {
            // S3-compatible servers mostly ignore the region, but signing needs one: given here, the
            // SDK does not look for one in the instance metadata service.
            loader = loader.region(aws_sdk_s3::config::Region::new("us-east-1"));
        }
        if endpoint_in_env.is_some() && static_credentials {
            // The keys of the environment, and no chain that could reach the metadata service.
            loader = loader
                .credentials_provider(aws_config::environment::EnvironmentVariableCredentialsProvider::new());
        }
        let sdk = loader
            .timeout_config(
                aws_config::timeout::TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(5))
                    .read_timeout(read_timeout)
                    .operation_attempt_timeout(Duration::from_secs(300))
                    .build(),
            )
            .load()
            .await;
        let endpoint = sdk.endpoint_url().map(str::to_owned);
        let mut config = aws_sdk_s3::config::Builder::from(&sdk)
            .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
            .response_checksum_validation(ResponseChecksumValidation::WhenRequired);
        if endpoint.is_some() {
            config = config.force_path_style(true);
        }
        if sdk.region().is_none() {
            if endpoint.is_some() {
                // S3-compatible servers mostly ignore the region, but signing needs one.
                config = config.region(aws_sdk_s3::config::Region::new("us-east-1"));
            } else {
                return Err(StoreError::Config(
                    "no AWS region is configured for the S3 target: set AWS_REGION (or a profile's region; \
                     AWS_EC2_METADATA_DISABLED=true stops etl asking an instance's metadata service)"
                        .into(),
                ));
            }
        }
        if sdk.credentials_provider().is_none() {
            return Err(StoreError::Config(
                "no AWS credentials provider is configured: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE".into(),
            ));
        }
        let path_style = endpoint.is_some();
        let endpoint = endpoint.unwrap_or_else(|| "AWS S3".to_owned());
        let config = config.build();
        let region = config.region().map_or_else(String::new, ToString::to_string);
        Ok(S3Store { client: Client::from_conf(config), location, endpoint, path_style, region })
    }

    fn full_key(&self, key: &str) -> String {
        if self.location.prefix.is_empty() {
            key.to_owned()
        } else {
            format!("{}/{}", self.location.prefix, key)
        }
    }

    fn error<E>(&self, operation: &'static str, key: &str, err: aws_sdk_s3::error::SdkError<E>) -> StoreError
    where
        E: std::error::Error + aws_sdk_s3::error::ProvideErrorMetadata + Send + Sync + 'static,
    {
        use aws_sdk_s3::error::SdkError;
        // The server's own code and message when it gave them (`AccessDenied: Invalid signature`),
        // else the SDK's chain of causes, on one line.
        let code = err.as_service_error().and_then(|e| e.code()).map(str::to_owned);
        let text = match (&code, err.as_service_error().and_then(|e| e.message())) {
            (Some(code), Some(message)) => format!("{code}: {}", one_line(message)),
            (Some(code), None) => code.clone(),
            _ => one_line(&DisplayErrorContext(&err).to_string()),
        };
        let key = format!("s3://{}/{}", self.location.bucket, self.full_key(key));
        if ["while loading credentials", "no credentials found", "credential provider was not enabled"]
            .iter()
            .any(|said| text.contains(said))
        {
            return StoreError::Config(format!(
                "S3 {operation} of `{key}`: no AWS credentials were found (AWS_ACCESS_KEY_ID and \
                 AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or an instance role): set them in the environment or \
                 .env"
            ));
        }
        let hint = match &err {
            SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) => format!(
                " (could not reach {}: is the server up, and are AWS_ENDPOINT_URL and the network right?)",
                self.endpoint
            ),
            _ => match code.as_deref() {
                Some("InvalidAccessKeyId" | "SignatureDoesNotMatch" | "InvalidToken" | "ExpiredToken") => {
                    " (the server refused the credentials: check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)"
                        .to_owned()
                }
                Some("AccessDenied") => {
                    " (refused: check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, and that \
                                          this key may read and write the bucket)"
                        .to_owned()
                }
                Some("NoSuchBucket") => format!(" (no bucket `{}`: check the target)", self.location.bucket),
                _ => String::new(),
            },
        };
        let status =
            err.raw_response().map(|r| format!(" (HTTP {})", r.status().as_u16())).unwrap_or_default();
        StoreError::S3 { operation, key, message: format!("{text}{status}{hint}") }
    }

    async fn multipart(&self, key: &str, path: &Path) -> Result<Option<String>, StoreError> {
        let full = self.full_key(key);
        let at = full.as_str();
        self.in_one_upload(key, at, move |id| async move { self.upload_parts(key, at, &id, path).await })
            .await
    }

    /// Creates a multipart upload at `full` (the key `key` of messages), runs `parts` with its id
    /// (they complete it), and aborts it if they fail: no orphaned parts are left behind.
    async fn in_one_upload<T, F, Fut>(&self, key: &str, full: &str, parts: F) -> Result<T, StoreError>
    where
        F: FnOnce(String) -> Fut,
        Fut: std::future::Future<Output = Result<T, StoreError>>,
    {
        let created = self
            .client
            .create_multipart_upload()
            .bucket(&self.location.bucket)
            .key(full)
            .send()
            .await
            .map_err(|e| self.error("CreateMultipartUpload", key, e))?;
        let Some(upload_id) = created.upload_id().map(str::to_owned) else {
            return Err(StoreError::S3 {
                operation: "CreateMultipartUpload",
                key: key.to_owned(),
                message: "the server returned no upload id".into(),
            });
        };
        let result = parts(upload_id.clone()).await;
        if result.is_err() {
            let _ = self
                .client
                .abort_multipart_upload()
                .bucket(&self.location.bucket)
                .key(full)
                .upload_id(&upload_id)
                .send()
                .await;
        }
        result
    }

    async fn upload_parts(
        &self,
        key: &str,
        full: &str,
        upload_id: &str,
        path: &Path,
    ) -> Result<Option<String>, StoreError> {
        let mut file = tokio::fs::File::open(path).await.map_err(|e| StoreError::io(path, e))?;
        let mut parts = Vec::new();
        for number in 1.. {
            if let Some(signo) = crate::signals::requested() {
                return Err(crate::signals::Interrupted(signo).into());
            }
            let mut buf = Vec::with_capacity(PART_SIZE);
            (&mut file)
                .take(PART_SIZE as u64)
                .read_to_end(&mut buf)
                .await
                .map_err(|e| StoreError::io(path, e))?;
            if buf.is_empty() {
                break;
            }
            let done = self
                .client
                .upload_part()
                .bucket(&self.location.bucket)
                .key(full)
                .upload_id(upload_id)
                .part_number(number)
                .body(ByteStream::from(buf))
                .send()
                .await
                .map_err(|e| self.error("UploadPart", key, e))?;
            parts.push(CompletedPart::builder().part_number(number).set_e_tag(done.e_tag).build());
        }
        let done = self
            .client
            .complete_multipart_upload()
            .bucket(&self.location.bucket)
            .key(full)
            .upload_id(upload_id)
            .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(parts)).build())
            .send()
            .await
            .map_err(|e| self.error("CompleteMultipartUpload", key, e))?;
        Ok(done.e_tag().map(unquoted))
    }
}

/// The largest object one `CopyObject` copies (5 GiB on AWS); a larger one is copied in parts
/// ([`S3Store::multipart_copy`]). `ETL_S3_COPY_LIMIT` (bytes) lowers it, for the tests.
fn copy_limit() -> u64 {
    std::env::var("ETL_S3_COPY_LIMIT").ok().and_then(|v| v.parse().ok()).unwrap_or(COPY_LIMIT)
}

impl S3Store {
    /// Copies an object of `size` bytes in parts (`UploadPartCopy`), as one `CopyObject` cannot past 5
    /// GiB: a journal's backup of a data file that large.
    async fn multipart_copy(&self, from: &str, to: &str, source: &str, size: u64) -> Result<(), StoreError> {
        let full = self.full_key(to);
        // At most 10,000 parts; each at least 5 MiB but the last.
        let part = COPY_PART.max(size.div_ceil(10_000));
        tracing::debug!("copying {from} ({size} bytes) to {to} in {} part(s)", size.div_ceil(part));
        let at = full.as_str();
        self.in_one_upload(to, at, move |upload_id| async move {
            let mut parts = Vec::new();
            let mut start = 0u64;
            let mut number = 1;
            while start < size {
                let end = (start + part).min(size) - 1;
                let done = self
                    .client
                    .upload_part_copy()
                    .bucket(&self.location.bucket)
                    .key(at)
                    .upload_id(&upload_id)
                    .part_number(number)
                    .copy_source(source)
                    .copy_source_range(format!("bytes={start}-{end}"))
                    .send()
                    .await
                    .map_err(|e| self.error("UploadPartCopy", from, e))?;
                let etag = done.copy_part_result().and_then(|r| r.e_tag()).map(str::to_owned);
                parts.push(CompletedPart::builder().part_number(number).set_e_tag(etag).build());
                start = end + 1;
                number += 1;
            }
            self.client
                .complete_multipart_upload()
                .bucket(&self.location.bucket)
                .key(at)
                .upload_id(&upload_id)
                .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(parts)).build())
                .send()
                .await
                .map_err(|e| self.error("CompleteMultipartUpload", to, e))?;
            Ok(())
        })
        .await
    }
}

/// A key as `x-amz-copy-source` takes it: every byte but unreserved ones and `/` percent-encoded.
fn percent_encoded(key: &str) -> String {
    key.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The SDK's message without the debug dump of its error structs it ends with
/// (`... (DispatchFailure(DispatchFailure { ... }))`).
fn one_line(text: &str) -> String {
    let cut = text.match_indices(" (").find(|(i, _)| {
        let rest = &text[i + 2..];
        rest.starts_with(|c: char| c.is_ascii_uppercase())
            && rest.find('(').is_some_and(|open| rest[..open].chars().all(|c| c.is_ascii_alphanumeric()))
    });
    let text = cut.map_or(text, |(i, _)| &text[..i]);
    text.lines().next().unwrap_or_default().to_owned()
}

/// An ETag without the quotes S3 puts around it.
fn unquoted(etag: &str) -> String {
    etag.trim_matches('"').to_owned()
}

/// Content-MD5 of a request body, base64: MinIO builds before 2025 refuse a DeleteObjects request
/// without it (minio/minio#20845), whatever other checksum the SDK sends.
fn add_content_md5(request: &mut aws_smithy_runtime_api::client::orchestrator::HttpRequest) {
    if let Some(body) = request.body().bytes() {
        let digest = base64::engine::general_purpose::STANDARD.encode(Md5::digest(body));
        request.headers_mut().insert("Content-MD5", digest);
    }
}

#[async_trait::async_trait]
impl ObjectStore for S3Store {
    fn url(&self) -> String {
        match self.location.prefix.as_str() {
            "" => format!("s3://{}", self.location.bucket),
            prefix => format!("s3://{}/{}", self.location.bucket, prefix),
        }
    }

    fn staging_parent(&self) -> PathBuf {
        super::object::staging_outside_the_target()
    }

    async fn put(&self, key: &str, body: Vec<u8>) -> Result<(), StoreError> {
        self.client
            .put_object()
            .bucket(&self.location.bucket)
            .key(self.full_key(key))
            .body(ByteStream::from(body))
            .send()
            .await
            .map_err(|e| self.error("PutObject", key, e))?;
        Ok(())
    }

    async fn abort_unfinished_uploads(&self, prefix: &str) -> Result<usize, StoreError> {
        let mut aborted = 0;
        // Pages of up to 1,000 uploads, followed by their markers.
        let mut markers: (Option<String>, Option<String>) = (None, None);
        loop {
            let listed = self
                .client
                .list_multipart_uploads()
                .bucket(&self.location.bucket)
                .prefix(self.full_key(prefix))
                .set_key_marker(markers.0.take())
                .set_upload_id_marker(markers.1.take())
                .send()
                .await
                .map_err(|e| self.error("ListMultipartUploads", prefix, e))?;
            for upload in listed.uploads() {
                let (Some(key), Some(id)) = (upload.key(), upload.upload_id()) else { continue };
                self.client
                    .abort_multipart_upload()
                    .bucket(&self.location.bucket)
                    .key(key)
                    .upload_id(id)
                    .send()
                    .await
                    .map_err(|e| {
                        let relative = key.strip_prefix(&self.full_key("")).unwrap_or(key);
                        self.error("AbortMultipartUpload", relative, e)
                    })?;
                aborted += 1;
            }
            match (listed.is_truncated(), listed.next_key_marker(), listed.next_upload_id_marker()) {
                (Some(true), Some(key), id) if !key.is_empty() => {
                    markers = (Some(key.to_owned()), id.map(str::to_owned));
                }
                _ => return Ok(aborted),
            }
        }
    }

    async fn put_if_absent(&self, key: &str, body: Vec<u8>) -> Result<bool, StoreError> {
        let sent = self
            .client
            .put_object()
            .bucket(&self.location.bucket)
            .key(self.full_key(key))
            .if_none_match("*")
            .body(ByteStream::from(body))
            .send()
            .await;
        match sent {
            Ok(_) => Ok(true),
            // 412: an object is there; 409: another conditional write of it is in flight.
            Err(e) if e.raw_response().is_some_and(|r| matches!(r.status().as_u16(), 409 | 412)) => Ok(false),
            Err(e) => Err(self.error("PutObject", key, e)),
        }
    }

    async fn put_file(&self, key: &str, path: &Path) -> Result<Option<String>, StoreError> {
        let size = tokio::fs::metadata(path).await.map_err(|e| StoreError::io(path, e))?.len();
        if size > MULTIPART_THRESHOLD {
            return self.multipart(key, path).await;
        }
        let body =
            ByteStream::from_path(path).await.map_err(|e| StoreError::io(path, std::io::Error::other(e)))?;
        let done = self
            .client
            .put_object()
            .bucket(&self.location.bucket)
            .key(self.full_key(key))
            .content_length(size as i64)
            .body(body)
            .send()
            .await
            .map_err(|e| self.error("PutObject", key, e))?;
        Ok(done.e_tag().map(unquoted))
    }

    async fn holds(
        &self,
        listed: &ObjectMeta,
        _sha256: &str,
        etag: Option<&str>,
    ) -> Result<bool, StoreError> {
        // The server computed both ETags from the bytes it stored: the one it answered the upload
        // with (recorded in the manifest) and the one it has now. Equal, the bytes are those.
        let Some(then) = etag else { return Ok(false) };
        let now = match &listed.etag {
            Some(now) => Some(now.clone()),
            // Some servers list no ETag: ask for the object's own.
            None => self
                .client
                .head_object()
                .bucket(&self.location.bucket)
                .key(self.full_key(&listed.key))
                .send()
                .await
                .map_err(|e| self.error("HeadObject", &listed.key, e))?
                .e_tag()
                .map(unquoted),
        };
        Ok(now.as_deref() == Some(then))
    }

    async fn copy(&self, from: &str, to: &str) -> Result<(), StoreError> {
        let source = format!("{}/{}", self.location.bucket, percent_encoded(&self.full_key(from)));
        let size = self
            .client
            .head_object()
            .bucket(&self.location.bucket)
            .key(self.full_key(from))
            .send()
            .await
            .map_err(|e| match e.raw_response().map(|r| r.status().as_u16()) {
                Some(404) => StoreError::NotFound { store: self.url(), key: from.to_owned() },
                _ => self.error("HeadObject", from, e),
            })?
            .content_length()
            .unwrap_or(0)
            .max(0) as u64;
        if size > copy_limit() {
            return self.multipart_copy(from, to, &source, size).await;
        }
        self.client
            .copy_object()
            .bucket(&self.location.bucket)
            .key(self.full_key(to))
            .copy_source(source)
            .send()
            .await
            .map_err(|e| match e.raw_response().map(|r| r.status().as_u16()) {
                Some(404) => StoreError::NotFound { store: self.url(), key: from.to_owned() },
                _ => self.error("CopyObject", from, e),
            })?;
        Ok(())
    }

    async fn get(&self, key: &str) -> Result<Vec<u8>, StoreError> {
        let out = self.get_object(key).await?;
        let bytes = out.body.collect().await.map_err(|e| StoreError::S3 {
            operation: "GetObject",
            key: key.to_owned(),
            message: e.to_string(),
        })?;
        Ok(bytes.to_vec())
    }

    async fn get_to_file(&self, key: &str, path: &Path) -> Result<u64, StoreError> {
        use tokio::io::AsyncWriteExt;
        let out = self.get_object(key).await?;
        let mut file = tokio::fs::File::create(path).await.map_err(|e| StoreError::io(path, e))?;
        let mut body = out.body;
        let mut written = 0u64;
        while let Some(chunk) = body.try_next().await.map_err(|e| StoreError::S3 {
            operation: "GetObject",
            key: key.to_owned(),
            message: e.to_string(),
        })? {
            file.write_all(&chunk).await.map_err(|e| StoreError::io(path, e))?;
            written += chunk.len() as u64;
        }
        file.flush().await.map_err(|e| StoreError::io(path, e))?;
        Ok(written)
    }

    async fn list(&self, prefix: &str) -> Result<Vec<ObjectMeta>, StoreError> {
        self.list_from(prefix, None).await
    }

    async fn list_after(&self, prefix: &str, after: &str) -> Result<Vec<ObjectMeta>, StoreError> {
        self.list_from(prefix, Some(after)).await
    }

    async fn list_folders(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        let full = self.full_key(prefix);
        let mut pages = self
            .client
            .list_objects_v2()
            .bucket(&self.location.bucket)
            .prefix(&full)
            .delimiter("/")
            .into_paginator()
            .send();
        let mut out = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| self.error("ListObjectsV2", prefix, e))?;
            for common in page.common_prefixes() {
                let Some(name) = common.prefix().and_then(|p| p.strip_prefix(full.as_str())) else {
                    continue;
                };
                let name = name.trim_end_matches('/');
                if !name.is_empty() {
                    out.push(name.to_owned());
                }
            }
        }
        out.sort();
        out.dedup();
        Ok(out)
    }

    async fn delete_many(&self, keys: &[String]) -> Result<(), StoreError> {
        for batch in keys.chunks(DELETE_BATCH) {
            let objects = batch
                .iter()
                .map(|k| ObjectIdentifier::builder().key(self.full_key(k)).build())
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| StoreError::S3 {
                    operation: "DeleteObjects",
                    key: batch[0].clone(),
                    message: e.to_string(),
                })?;
            let delete = Delete::builder().set_objects(Some(objects)).quiet(true).build().map_err(|e| {
                StoreError::S3 { operation: "DeleteObjects", key: batch[0].clone(), message: e.to_string() }
            })?;
            let out = self
                .client
                .delete_objects()
                .bucket(&self.location.bucket)
                .delete(delete)
                .customize()
                .mutate_request(add_content_md5)
                .send()
                .await
                .map_err(|e| self.error("DeleteObjects", &batch[0], e))?;
            if let Some(failed) = out.errors().first() {
                return Err(StoreError::S3 {
                    operation: "DeleteObjects",
                    key: failed.key().unwrap_or_default().to_owned(),
                    message: format!(
                        "{} ({} of {} keys in the batch failed)",
                        failed.message().unwrap_or("unknown error"),
                        out.errors().len(),
                        batch.len()
                    ),
                });
            }
        }
        Ok(())
    }

    async fn put_file_in_parts(&self, key: &str, path: &Path) -> Result<Option<String>, StoreError> {
        self.multipart(key, path).await
    }

    fn facts(&self) -> Vec<(&'static str, String)> {
        let addressing = if self.path_style {
            "path-style (http://endpoint/bucket/key: AWS_ENDPOINT_URL is set)"
        } else {
            "virtual-hosted (https://bucket.endpoint/key)"
        };
        let env = |name: &str| std::env::var_os(name).is_some_and(|v| !v.is_empty());
        let credentials = if env("AWS_ACCESS_KEY_ID") && env("AWS_SECRET_ACCESS_KEY") {
            "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (environment or .env)".to_owned()
        } else if let Ok(profile) = std::env::var("AWS_PROFILE") {
            format!("the AWS profile `{profile}`")
        } else {
            "the AWS default chain (~/.aws, an instance or pod role)".to_owned()
        };
        vec![
            ("bucket", self.url()),
            ("endpoint", self.endpoint.clone()),
            ("addressing", addressing.to_owned()),
            ("region", self.region.clone()),
            ("credentials", credentials),
        ]
    }
}
