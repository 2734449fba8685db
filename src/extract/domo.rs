//! Domo datasets over Domo's public API: an OAuth2 client-credentials token, the dataset's schema, and
//! its CSV export streamed to a local file (which the CSV reader then reads like any other file).
//!
//! ```text
//! GET {host}/oauth/token?grant_type=client_credentials&scope=data   (HTTP Basic: client id, secret)
//! GET {host}/v1/datasets/{id}                                        → schema.columns[] {name, type}
//! GET {host}/v1/datasets/{id}/data?includeHeader=true                → RFC 4180 CSV, LF line ends
//! ```
//! One token serves a whole run (every dataset of `--all`); it is renewed shortly before it expires,
//! and once more if the API answers 401. The client id and secret, and the token, never appear in a
//! log line or an error message.

use std::fmt;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures::StreamExt;
use reqwest::header::ACCEPT;
use reqwest::StatusCode;
use tokio::io::AsyncWriteExt;

use super::csv::{CsvFile, CsvOptions};
use super::{BatchReader, Extract, SourceInfo};
use crate::error::{Error, Result};
use crate::http::{self, Attempt, RetryPolicy};
use crate::progress::Progress;
use crate::transform::values::{DateFormat, DatetimeFormat, Zone};
use crate::transform::{Parser, Pins};

/// Where Domo's API lives unless `DOMO_API_HOST` says otherwise.
pub const DEFAULT_HOST: &str = "https://api.domo.com";
/// A token this close to its expiry is renewed before use.
const TOKEN_MARGIN: Duration = Duration::from_secs(60);

/// A Domo dataset id: a UUID (it goes into request paths, so nothing else is accepted).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DomoId(String);

impl DomoId {
    /// Validates `id` as `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx` (hex digits).
    pub fn parse(id: &str) -> std::result::Result<Self, String> {
        let groups: Vec<&str> = id.split('-').collect();
        let shape_ok = groups.iter().map(|g| g.len()).eq([8, 4, 4, 4, 12])
            && groups.iter().all(|g| g.bytes().all(|b| b.is_ascii_hexdigit()));
        if shape_ok {
            Ok(DomoId(id.to_ascii_lowercase()))
        } else {
            Err(format!(
                "`{id}` is not a Domo dataset id (a UUID such as c1cddf9d-4a3b-4c5d-8e9f-0a1b2c3d4e5f, \
                 as in the dataset's URL in Domo)"
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for DomoId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The API client's id and secret. Never printed: `Debug` shows neither.
#[derive(Clone)]
pub struct Credentials {
    client_id: String,
    client_secret: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Credentials { .. }")
    }
}

impl Credentials {
    /// `DOMO_CLIENT_ID` and `DOMO_CLIENT_SECRET` from the environment (or `.env`, read at start).
    pub fn from_env() -> Result<Self> {
        let get = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        match (get("DOMO_CLIENT_ID"), get("DOMO_CLIENT_SECRET")) {
            (Some(client_id), Some(client_secret)) => {
                crate::redact::register_basic(&client_id, &client_secret);
                Ok(Credentials { client_id, client_secret })
            }
            (id, _) => Err(Error::Usage(format!(
                "{} is not set: put the Domo API client's DOMO_CLIENT_ID and DOMO_CLIENT_SECRET in the \
                 environment or in .env (create the client at developer.domo.com with the `data` scope)",
                if id.is_none() { "DOMO_CLIENT_ID" } else { "DOMO_CLIENT_SECRET" }
            ))),
        }
    }
}

/// Connection settings.
#[derive(Debug, Clone)]
pub struct DomoSettings {
    /// `https://api.domo.com`, or another base URL (a proxy, a test server).
    pub host: String,
    pub token_timeout: Duration,
    /// For a whole export download, start to end.
    pub export_timeout: Duration,
    pub retry: RetryPolicy,
}

impl Default for DomoSettings {
    fn default() -> Self {
        DomoSettings {
            host: DEFAULT_HOST.to_owned(),
            token_timeout: Duration::from_secs(30),
            export_timeout: Duration::from_secs(300),
            retry: RetryPolicy::default(),
        }
    }
}

/// The API's base URL must be http(s), without user or password; plain http sends the client secret
/// in the clear, which is only acceptable on this machine (a test server, a local proxy).
fn check_host(host: &str) -> Result<()> {
    http::check_url(
        "DOMO_API_HOST / --domo-host",
        host,
        "put the credentials in DOMO_CLIENT_ID and DOMO_CLIENT_SECRET",
    )
    .map(drop)
    .map_err(|e| Error::Usage(format!("{e}; Domo's is {DEFAULT_HOST}")))
}

/// One column of a Domo dataset's schema.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct DomoColumn {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
}

struct Token {
    value: String,
    renew_at: Instant,
}

/// A client for one run; share it (in an `Arc`) between datasets so that they share the token.
pub struct DomoClient {
    http: reqwest::Client,
    settings: DomoSettings,
    credentials: Credentials,
    token: tokio::sync::Mutex<Option<Token>>,
    tokens_fetched: AtomicU64,
}

/// Why an authorised request failed: a 401 is answered by renewing the token once.
enum Failure {
    Unauthorized,
    Other(Error),
}

impl From<crate::signals::Interrupted> for Failure {
    fn from(signal: crate::signals::Interrupted) -> Self {
        Failure::Other(signal.into())
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Unauthorized => f.write_str("HTTP 401 Unauthorized"),
            Failure::Other(e) => e.fmt(f),
        }
    }
}

impl DomoClient {
    pub fn new(settings: DomoSettings, credentials: Credentials) -> Result<Self> {
        check_host(&settings.host)?;
        let http = reqwest::Client::builder()
            .user_agent(concat!("etl/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| Error::Internal(format!("could not set up the HTTP client: {e}")))?;
        let settings = DomoSettings { host: settings.host.trim_end_matches('/').to_owned(), ..settings };
        Ok(DomoClient {
            http,
            settings,
            credentials,
            token: tokio::sync::Mutex::new(None),
            tokens_fetched: AtomicU64::new(0),
        })
    }

    /// How many tokens this client has fetched (for logs and tests of renewal).
    pub fn tokens_fetched(&self) -> u64 {
        self.tokens_fetched.load(Ordering::Relaxed)
    }

    fn remote_error(&self, message: impl Into<String>) -> Error {
        Error::Remote { source_name: format!("Domo ({})", self.settings.host), message: message.into() }
    }

    /// Gets the run's access token now, so that bad credentials fail the run once, before any dataset.
    pub async fn check_credentials(&self) -> Result<()> {
        self.token(None).await.map(|_| ())
    }

    /// A valid token: the cached one, or a new one if there is none, it is about to expire, or it is
    /// `rejected` (the one a request was just refused with).
    async fn token(&self, rejected: Option<&str>) -> Result<String> {
        let mut cached = self.token.lock().await;
        if let Some(token) = cached.as_ref() {
            let refused = rejected == Some(token.value.as_str());
            if !refused && Instant::now() < token.renew_at {
                return Ok(token.value.clone());
            }
        }
        let token = self.fetch_token().await?;
        let value = token.value.clone();
        *cached = Some(token);
        Ok(value)
    }

    async fn fetch_token(&self) -> Result<Token> {
        #[derive(serde::Deserialize)]
        struct Answer {
            access_token: String,
            #[serde(default)]
            expires_in: Option<u64>,
        }
        let url = format!("{}/oauth/token?grant_type=client_credentials&scope=data", self.settings.host);
        let answer: Answer = self
            .settings
            .retry
            .run("getting a Domo access token", || async {
                let response = self
                    .http
                    .get(&url)
                    .basic_auth(&self.credentials.client_id, Some(&self.credentials.client_secret))
                    .header(ACCEPT, "application/json")
                    .timeout(self.settings.token_timeout)
                    .send()
                    .await
                    .map_err(|e| {
                        http::attempt(
                            &e,
                            self.remote_error(format!("getting an access token: {}", http::describe(&e))),
                        )
                    })?;
                let status = response.status();
                if matches!(
                    status,
                    StatusCode::BAD_REQUEST | StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN
                ) {
                    // The answer's body is not shown: it is not worth the risk of echoing a secret.
                    return Err(Attempt::Fail(self.remote_error(format!(
                        "Domo refused the client credentials (HTTP {status}): check DOMO_CLIENT_ID and \
                         DOMO_CLIENT_SECRET, and that the client has the `data` scope"
                    ))));
                }
                if !status.is_success() {
                    let error = self.remote_error(format!("getting an access token: HTTP {status}"));
                    return Err(if http::is_retryable(status) {
                        Attempt::Retry { error, after: http::retry_after(response.headers()) }
                    } else {
                        Attempt::Fail(error)
                    });
                }
                let body = response.bytes().await.map_err(|e| {
                    http::attempt(
                        &e,
                        self.remote_error(format!("getting an access token: {}", http::describe(&e))),
                    )
                })?;
                serde_json::from_slice::<Answer>(&body).map_err(|e| {
                    Attempt::Fail(
                        self.remote_error(format!("the token answer is not the JSON expected ({e})")),
                    )
                })
            })
            .await?;
        self.tokens_fetched.fetch_add(1, Ordering::Relaxed);
        crate::redact::register(&answer.access_token);
        let lifetime = Duration::from_secs(answer.expires_in.unwrap_or(3600));
        tracing::debug!("got a Domo access token valid for {} s", lifetime.as_secs());
        Ok(Token {
            value: answer.access_token,
            renew_at: Instant::now() + lifetime - TOKEN_MARGIN.min(lifetime / 2),
        })
    }

    /// Runs `request` with a token, retrying as the policy says; a 401 renews the token once.
    async fn authorized<T, F, Fut>(&self, what: &str, request: F) -> Result<T>
    where
        F: Fn(String) -> Fut,
        Fut: std::future::Future<Output = std::result::Result<T, Attempt<Failure>>>,
    {
        let mut rejected: Option<String> = None;
        loop {
            let token = self.token(rejected.as_deref()).await?;
            match self.settings.retry.run(what, || request(token.clone())).await {
                Ok(value) => return Ok(value),
                Err(Failure::Other(error)) => return Err(error),
                Err(Failure::Unauthorized) if rejected.is_none() => {
                    tracing::info!("{what}: the access token was refused; getting a new one");
                    rejected = Some(token);
                }
                Err(Failure::Unauthorized) => {
                    return Err(self.remote_error(format!(
                        "{what}: Domo refused a fresh access token (HTTP 401): check that the client \
                         behind DOMO_CLIENT_ID has the `data` scope and may read this dataset"
                    )))
                }
            }
        }
    }

    /// Sends a GET with the bearer `token`; sorts the answer into success, retry or failure.
    async fn get(
        &self,
        what: &str,
        url: &str,
        token: &str,
        accept: &str,
        timeout: Duration,
    ) -> std::result::Result<reqwest::Response, Attempt<Failure>> {
        let response = self
            .http
            .get(url)
            .bearer_auth(token)
            .header(ACCEPT, accept)
            .timeout(timeout)
            .send()
            .await
            .map_err(|e| {
                http::attempt(
                    &e,
                    Failure::Other(self.remote_error(format!("{what}: {}", http::describe(&e)))),
                )
            })?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        if status == StatusCode::UNAUTHORIZED {
            return Err(Attempt::Fail(Failure::Unauthorized));
        }
        let after = http::retry_after(response.headers());
        let body = response.text().await.unwrap_or_default();
        let hint = match status {
            StatusCode::NOT_FOUND => " (no such dataset: check domo_dataset_id in the catalog)",
            StatusCode::FORBIDDEN => {
                " (the API client may not read this dataset: share it with the client's owner)"
            }
            _ => "",
        };
        let mut message = format!("{what}: HTTP {status}{hint}");
        if !body.trim().is_empty() {
            // A proxy may echo the request: the token is taken out where messages leave the process
            // (`crate::redact`).
            message += &format!(": {}", http::snippet(&body));
        }
        let error = Failure::Other(self.remote_error(message));
        Err(if http::is_retryable(status) { Attempt::Retry { error, after } } else { Attempt::Fail(error) })
    }

    /// The dataset's columns and Domo types; an empty list when Domo gives no schema.
    pub async fn schema(&self, id: &DomoId) -> Result<Vec<DomoColumn>> {
        #[derive(serde::Deserialize)]
        struct Dataset {
            #[serde(default)]
            schema: Option<Schema>,
        }
        #[derive(serde::Deserialize)]
        struct Schema {
            #[serde(default)]
            columns: Vec<DomoColumn>,
        }
        let what = format!("reading the schema of Domo dataset {id}");
        let url = format!("{}/v1/datasets/{id}", self.settings.host);
        let timeout = self.settings.token_timeout;
        let dataset: Dataset = self
            .authorized(&what, |token| {
                let (what, url) = (&what, &url);
                async move {
                    let response = self.get(what, url, &token, "application/json", timeout).await?;
                    let body = response.bytes().await.map_err(|e| {
                        http::attempt(
                            &e,
                            Failure::Other(self.remote_error(format!("{what}: {}", http::describe(&e)))),
                        )
                    })?;
                    serde_json::from_slice::<Dataset>(&body).map_err(|e| {
                        Attempt::Fail(Failure::Other(
                            self.remote_error(format!("{what}: the answer is not the JSON expected ({e})")),
                        ))
                    })
                }
            })
            .await?;
        Ok(dataset.schema.map(|s| s.columns).unwrap_or_default())
    }

    /// Downloads dataset `id`'s export into a fresh hidden folder under `parent` and checks its header
    /// against `schema`; the result is a source named after the catalog entry `label`.
    pub async fn download(
        &self,
        id: &DomoId,
        label: &str,
        schema: &[DomoColumn],
        parent: &Path,
        progress: &Progress,
    ) -> Result<DomoExport> {
        std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
        let dir = tempfile::Builder::new()
            .prefix(".etl-download-")
            .tempdir_in(parent)
            .map_err(|e| Error::io(parent, e))?;
        crate::load::keep_fresh(dir.path());
        let path = dir.path().join("export.csv");
        let size = self.export(id, &path, progress).await?;
        let csv = CsvFile::new(&path, CsvOptions::strict())?.named("domo", source_name(id, label));
        let header = csv.open()?.columns().to_vec();
        check_header(schema, &header)
            .map_err(|message| self.remote_error(format!("Domo dataset {id}: {message}")))?;
        Ok(DomoExport { csv, size, _dir: dir })
    }

    /// Downloads the dataset's CSV export (with its header line) to `dest`; returns its size.
    ///
    /// An answer cut short (the connection dropped, fewer bytes than its `Content-Length`) is retried
    /// from the start, and is an error once the retries are spent: a partial export is never loaded.
    async fn export(&self, id: &DomoId, dest: &Path, progress: &Progress) -> Result<u64> {
        let what = format!("downloading Domo dataset {id}");
        let url = format!("{}/v1/datasets/{id}/data?includeHeader=true", self.settings.host);
        let timeout = self.settings.export_timeout;
        let started = Instant::now();
        let bytes = self
            .authorized(&what, |token| {
                let (what, url) = (&what, &url);
                async move {
                    let response = self.get(what, url, &token, "text/csv", timeout).await?;
                    let expected = response.content_length();
                    let fail = |e: Error| Attempt::Fail(Failure::Other(e));
                    let mut file =
                        tokio::fs::File::create(dest).await.map_err(|e| fail(Error::io(dest, e)))?;
                    let mut body = response.bytes_stream();
                    let mut written = 0u64;
                    let cut_short = |written: u64, cause: String| Attempt::Retry {
                        error: Failure::Other(self.remote_error(format!(
                            "{what}: the download ended early after {written}{} bytes{cause}",
                            expected.map(|n| format!(" of {n}")).unwrap_or_default()
                        ))),
                        after: None,
                    };
                    while let Some(chunk) = body.next().await {
                        let chunk = chunk.map_err(|e| {
                            if e.is_timeout() {
                                // The whole download has its time; starting again would not help.
                                Attempt::Fail(Failure::Other(self.remote_error(format!(
                                    "{what}: not finished after {} s ({written} bytes so far); raise \
                                     --export-timeout (DOMO_EXPORT_TIMEOUT) for a dataset this large",
                                    timeout.as_secs()
                                ))))
                            } else {
                                cut_short(written, format!(" ({})", http::describe(&e)))
                            }
                        })?;
                        if let Some(signo) = crate::signals::requested() {
                            return Err(fail(crate::signals::Interrupted(signo).into()));
                        }
                        file.write_all(&chunk).await.map_err(|e| fail(Error::io(dest, e)))?;
                        written += chunk.len() as u64;
                        progress.update("downloading", written, None);
                    }
                    if expected.is_some_and(|n| n != written) {
                        return Err(cut_short(written, String::new()));
                    }
                    file.flush().await.map_err(|e| fail(Error::io(dest, e)))?;
                    Ok(written)
                }
            })
            .await?;
        progress.clear();
        tracing::info!(
            "downloaded Domo dataset {id}: {bytes} bytes in {:.1} s",
            started.elapsed().as_secs_f64()
        );
        Ok(bytes)
    }
}

/// A downloaded export: a CSV file in a temporary folder of its own, removed when this is dropped.
pub struct DomoExport {
    csv: CsvFile,
    size: u64,
    _dir: tempfile::TempDir,
}

impl DomoExport {
    /// Bytes downloaded.
    pub fn size(&self) -> u64 {
        self.size
    }
}

impl Extract for DomoExport {
    fn info(&self) -> SourceInfo {
        self.csv.info()
    }

    fn open(&self) -> Result<Box<dyn BatchReader>> {
        self.csv.open()
    }
}

/// The export's header against the schema: sharing no name means the body is not the CSV export with
/// its header (an ignored `includeHeader`, an HTML page from a proxy), which would load as garbage.
/// Partial differences are logged; the header decides the columns.
fn check_header(schema: &[DomoColumn], header: &[String]) -> std::result::Result<(), String> {
    if schema.is_empty() {
        return Ok(());
    }
    let known = |name: &String| schema.iter().any(|c| c.name == *name);
    if !header.iter().any(known) {
        let first: Vec<&str> = header.iter().take(5).map(String::as_str).collect();
        return Err(format!(
            "the export's first line ({}) names none of the schema's columns: it is not the dataset's CSV \
             with its header",
            first.join(", ")
        ));
    }
    let extra: Vec<&str> = header.iter().filter(|h| !known(h)).map(String::as_str).collect();
    if !extra.is_empty() {
        tracing::warn!(
            "export columns not in Domo's schema (their types are inferred): {}",
            extra.join(", ")
        );
    }
    Ok(())
}

/// Checks that the columns a catalog entry relies on (partition, filter) are in the dataset's
/// schema, before anything is downloaded. (A schema Domo did not give checks nothing.)
pub fn check_columns(schema: &[DomoColumn], wanted: &[(&str, &str)]) -> std::result::Result<(), String> {
    if schema.is_empty() {
        return Ok(());
    }
    for (what, name) in wanted {
        if !schema.iter().any(|c| c.name == *name) {
            let names: Vec<&str> = schema.iter().map(|c| c.name.as_str()).collect();
            return Err(format!(
                "{what} `{name}` is not a column of the dataset; its columns are: {}",
                names.join(", ")
            ));
        }
    }
    Ok(())
}

/// Column types from Domo's schema. Columns of a type not listed here are left to inference.
///
/// | Domo | column |
/// |---|---|
/// | STRING | String |
/// | LONG | Int64 |
/// | DOUBLE, DECIMAL | Float64 |
/// | DATE | Date |
/// | DATETIME | Datetime(UTC): Domo writes `2019-03-19T18:49:02`, in UTC |
pub fn pins_from_schema(columns: &[DomoColumn]) -> Pins {
    columns.iter().fold(Pins::none(), |pins, column| {
        let parser = match column.kind.to_ascii_uppercase().as_str() {
            "STRING" => Parser::Text,
            "LONG" => Parser::Int,
            "DOUBLE" | "DECIMAL" => Parser::Float,
            "DATE" => Parser::Date(DateFormat::Iso),
            "DATETIME" => Parser::Datetime(DatetimeFormat::ISO, Zone::AssumeUtc),
            other => {
                tracing::debug!("Domo column `{}` has type {other}: inferring its type", column.name);
                return pins;
            }
        };
        pins.pin(&column.name, parser)
    })
}

/// A Domo dataset as a run names its source: `Domo dataset <id> ("<name>")`.
pub fn source_name(id: &DomoId, label: &str) -> String {
    format!("Domo dataset {id} (\"{label}\")")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domo_ids_are_uuids() {
        assert_eq!(
            DomoId::parse("C1CDDF9D-0000-0000-0000-000000000000").unwrap().as_str(),
            "c1cddf9d-0000-0000-0000-000000000000"
        );
        for bad in ["", "c1cddf9d", "c1cddf9d-0000-0000-0000-00000000000g", "../../v1/users", "a-b-c-d-e"] {
            assert!(DomoId::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn schema_types_become_pins() {
        let col = |name: &str, kind: &str| DomoColumn { name: name.into(), kind: kind.into() };
        let pins = pins_from_schema(&[
            col("s", "STRING"),
            col("l", "LONG"),
            col("d", "DECIMAL"),
            col("day", "DATE"),
            col("at", "DATETIME"),
            col("odd", "GEOGRAPHY"),
        ]);
        assert_eq!(pins.get("s"), Some(Parser::Text));
        assert_eq!(pins.get("l"), Some(Parser::Int));
        assert_eq!(pins.get("d"), Some(Parser::Float));
        assert_eq!(pins.get("day"), Some(Parser::Date(DateFormat::Iso)));
        assert_eq!(pins.get("at"), Some(Parser::Datetime(DatetimeFormat::ISO, Zone::AssumeUtc)));
        assert_eq!(pins.get("odd"), None);
    }

    #[test]
    fn credentials_never_print() {
        let c = Credentials { client_id: "id-123".into(), client_secret: "s3cr3t".into() };
        let shown = format!("{c:?}");
        assert!(!shown.contains("id-123") && !shown.contains("s3cr3t"));
    }
}
