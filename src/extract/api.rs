//! A JSON REST API as a source (`load-api`): every page fetched (page numbers, offsets, a cursor from
//! the body, or `Link: <...>; rel="next"` headers), the records found at a path in each body, spooled
//! by [`super::json`]. Requests are retried like every remote source's ([`crate::http`]) and spaced to
//! `max_rps`; secrets come from the environment only and are never printed.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, StatusCode, Url};
use serde_json::Value;

use super::json::{JsonRecords, Spool};
use super::page::Found;
use crate::error::{Error, Result};
use crate::http::{self, Attempt, RetryPolicy};
use crate::progress::Progress;

/// A secret read from the environment: printed as its variable's name only.
#[derive(Clone)]
pub struct Secret {
    var: String,
    value: String,
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "${}", self.var)
    }
}

impl Secret {
    /// The value of environment variable `var` (`.env` is loaded before); a usage error naming the
    /// variable when it is not set.
    pub fn from_env(var: &str, what: &str) -> Result<Self> {
        match std::env::var(var) {
            Ok(value) if !value.is_empty() => {
                crate::redact::register(&value);
                Ok(Secret { var: var.to_owned(), value })
            }
            _ => Err(Error::Usage(format!("{what}: set {var} in the environment or in .env"))),
        }
    }
}

/// How requests prove who they are.
#[derive(Debug, Clone)]
pub enum Auth {
    None,
    /// The key in a header (`X-Api-Key: ...`).
    KeyHeader {
        name: String,
        key: Secret,
    },
    /// The key as a query parameter (`?api_key=...`).
    KeyQuery {
        name: String,
        key: Secret,
    },
    Bearer(Secret),
    Basic {
        user: Secret,
        password: Secret,
    },
    /// OAuth2 client credentials: a token from `token_url`, sent as a bearer token.
    OAuth2 {
        token_url: Url,
        client_id: Secret,
        client_secret: Secret,
        scope: Option<String>,
    },
}

impl Auth {
    /// HTTP Basic auth; `user:password` is registered for redaction as the header carries it.
    pub fn basic(user: Secret, password: Secret) -> Self {
        crate::redact::register_basic(&user.value, &password.value);
        Auth::Basic { user, password }
    }

    /// OAuth2 client credentials; the client's `id:secret` is registered for redaction as the token
    /// request's Basic header carries it.
    pub fn oauth2(token_url: Url, client_id: Secret, client_secret: Secret, scope: Option<String>) -> Self {
        crate::redact::register_basic(&client_id.value, &client_secret.value);
        Auth::OAuth2 { token_url, client_id, client_secret, scope }
    }
}

/// How the next page is asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Paging {
    /// One request.
    None,
    /// `?page=N` from `start`, until a page has no records (or fewer than `size`, when given).
    Page { param: String, start: u64, size: Option<(String, u64)> },
    /// `?offset=N&limit=L`, until a page has fewer than `limit` records.
    Offset { offset_param: String, limit_param: String, limit: u64 },
    /// `?cursor=...` with the value found at `path` in the last body, until there is none.
    Cursor { path: String, param: String },
    /// The URL of the `Link` header's `rel="next"`, until there is none.
    Link,
}

/// Everything a fetch needs.
#[derive(Debug, Clone)]
pub struct ApiSettings {
    pub url: Url,
    pub method: Method,
    pub headers: Vec<(String, String)>,
    pub query: Vec<(String, String)>,
    pub auth: Auth,
    /// Where the records are in a body: `data.items`; empty: the body is the array.
    pub records: String,
    pub paging: Paging,
    /// More pages than this is an error (nothing is written), not a silent cut.
    pub max_pages: u64,
    /// A page's body larger than this is an error (it is spooled to disk, never held in memory).
    pub max_page_bytes: u64,
    /// Requests per second at most.
    pub max_rps: Option<f64>,
    pub retry: RetryPolicy,
    pub timeout: Duration,
    /// An incremental load's query parameter and checkpoint, sent with every request.
    pub since: Option<(String, String)>,
    /// The flattened field whose highest value becomes the next checkpoint.
    pub track: Option<String>,
    /// Whether records at the checkpoint are kept (a key upserts them); before it, never.
    pub keep_at_checkpoint: bool,
    /// An array field exploded into one record per element.
    pub explode: Option<String>,
}

/// The `rel="next"` URL of an RFC 8288 `Link` header (URLs may hold commas: each link is read from
/// its `<...>`).
pub fn next_link(headers: &HeaderMap) -> Option<String> {
    for value in headers.get_all(reqwest::header::LINK) {
        let Ok(mut rest) = value.to_str() else { continue };
        while let Some(open) = rest.find('<') {
            let Some(close) = rest[open..].find('>') else { break };
            let target = &rest[open + 1..open + close];
            let after = &rest[open + close + 1..];
            let params = &after[..after.find('<').unwrap_or(after.len())];
            let next = params.split(';').any(|p| {
                let p = p.trim().trim_end_matches(',').trim();
                p.get(..4).is_some_and(|k| k.eq_ignore_ascii_case("rel="))
                    && p[4..].trim_matches('"').split_whitespace().any(|r| r.eq_ignore_ascii_case("next"))
            });
            if next {
                return Some(target.to_owned());
            }
            rest = after;
        }
    }
    None
}

/// Whether two URLs share scheme, host and port (credentials are only ever sent to the origin of
/// `--url`).
fn same_origin(a: &Url, b: &Url) -> bool {
    a.scheme() == b.scheme()
        && a.host_str() == b.host_str()
        && a.port_or_known_default() == b.port_or_known_default()
}

/// Fetches every page into a spool file in `dir`, showing the bytes and records so far on
/// `progress`; the records are then a source.
pub async fn fetch(settings: &ApiSettings, dir: &Path, progress: &Progress) -> Result<JsonRecords> {
    let origin = settings.url.clone();
    let client = reqwest::Client::builder()
        // A redirect elsewhere would take the credentials along: it is answered as it is (an error).
        .redirect(reqwest::redirect::Policy::custom(move |attempt| {
            if attempt.previous().len() < 10 && same_origin(&origin, attempt.url()) {
                attempt.follow()
            } else {
                attempt.stop()
            }
        }))
        .user_agent(concat!("etl/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(Duration::from_secs(10))
        .timeout(settings.timeout)
        .build()
        .map_err(|e| Error::Internal(format!("could not set up the HTTP client: {e}")))?;
    let page_file = dir.join("page.json");
    let mut fetcher = Fetcher {
        settings,
        client,
        token: None,
        last_request: std::sync::Mutex::new(None),
        page_file: page_file.clone(),
    };
    let name = source_name(settings);
    let mut spool = Spool::create(&dir.join("records.jsonl"))?;
    if let Some(field) = &settings.track {
        // What an earlier run loaded is dropped, whether or not the API honours the since-parameter.
        let checkpoint = settings.since.as_ref().map(|(_, value)| value.clone());
        spool = spool.track(field).after(checkpoint, settings.keep_at_checkpoint);
    }
    if let Some(field) = &settings.explode {
        spool = spool.exploding(field);
    }
    let mut downloaded = 0u64;
    let mut url = settings.url.clone();
    let mut query = settings.query.clone();
    query.extend(settings.since.clone());
    let (mut page, mut offset) = match &settings.paging {
        Paging::Page { start, .. } => (*start, 0),
        _ => (0, 0),
    };
    let mut cursor: Option<String> = None;
    for fetched in 0.. {
        crate::signals::check()?;
        if fetched == settings.max_pages {
            return Err(Error::Remote {
                source_name: name,
                message: format!(
                    "more than {} pages (--max-pages): nothing was written; raise --max-pages if the API \
                     really has that many",
                    settings.max_pages
                ),
            });
        }
        let mut params = query.clone();
        match &settings.paging {
            Paging::Page { param, size, .. } => {
                params.push((param.clone(), page.to_string()));
                if let Some((size_param, size)) = size {
                    params.push((size_param.clone(), size.to_string()));
                }
            }
            Paging::Offset { offset_param, limit_param, limit } => {
                params.push((offset_param.clone(), offset.to_string()));
                params.push((limit_param.clone(), limit.to_string()));
            }
            Paging::Cursor { param, .. } => {
                if let Some(c) = &cursor {
                    params.push((param.clone(), c.clone()));
                }
            }
            Paging::None | Paging::Link => {}
        }
        let headers = fetcher.page(&url, &params).await?;
        let before = spool.records();
        let cursor_path = match &settings.paging {
            Paging::Cursor { path, .. } => Some(path.as_str()),
            _ => None,
        };
        let scanned = super::page::scan(
            &page_file,
            &settings.records,
            cursor_path,
            super::page::Sink::Spool(&mut spool),
        )
        .map_err(|e| {
            let mut message = format!("page {}: {e}", fetched + 1);
            if matches!(e, super::page::ScanError::Json(_)) {
                message += &format!(": {}", http::snippet(&head_of(&page_file)));
            }
            Error::Remote { source_name: name.clone(), message }
        })?;
        match scanned.found {
            Found::Records => {}
            // An empty page may say so with a null.
            Found::Missing | Found::Other("null") if fetched > 0 => {}
            other => {
                return Err(Error::Remote {
                    source_name: name,
                    message: format!(
                        "page {}: expected an array of records at `{}`, found {}; set --records to where \
                         the records are",
                        fetched + 1,
                        if settings.records.is_empty() { "the top of the body" } else { &settings.records },
                        match other {
                            Found::Other(kind) => kind,
                            _ => "nothing",
                        }
                    ),
                })
            }
        }
        let got = spool.records() - before;
        tracing::debug!(page = fetched + 1, records = got, "fetched");
        downloaded += std::fs::metadata(&page_file).map_or(0, |m| m.len());
        progress.update("downloading", downloaded, Some(spool.records()));
        let more = match &settings.paging {
            Paging::None => false,
            // Only an empty page ends: an API may cap the page size below the one asked for.
            Paging::Page { .. } | Paging::Offset { .. } => got > 0,
            Paging::Cursor { .. } => {
                let next = scanned.cursor.and_then(|v| match v {
                    Value::String(s) if !s.is_empty() => Some(s.clone()),
                    Value::Number(n) => Some(n.to_string()),
                    _ => None,
                });
                let same = next.is_some() && next == cursor;
                cursor = next;
                // A page may be empty and still carry a cursor.
                cursor.is_some() && !same
            }
            Paging::Link => match next_link(&headers) {
                Some(next) => {
                    let next = url.join(&next).map_err(|e| Error::Remote {
                        source_name: name.clone(),
                        message: format!(
                            "page {}: the Link header's next URL is not a URL: {e}",
                            fetched + 1
                        ),
                    })?;
                    if !same_origin(&settings.url, &next) {
                        return Err(Error::Remote {
                            source_name: name,
                            message: format!(
                                "page {}: the next page is on another host ({}); credentials are only sent \
                                 to the host of --url",
                                fetched + 1,
                                next.host_str().unwrap_or("?")
                            ),
                        });
                    }
                    // The next URL carries its own query.
                    query.clear();
                    let moved = next != url;
                    url = next;
                    moved
                }
                None => false,
            },
        };
        page += 1;
        offset += got;
        if !more {
            break;
        }
    }
    tracing::info!("{name}: {} records", spool.records());
    progress.clear();
    spool.finish("api", name)
}

/// Why a request failed.
enum Failure {
    /// 401 with an OAuth2 token: get a new one and try again, once.
    Unauthorized(Error),
    Other(Error),
}

impl From<crate::signals::Interrupted> for Failure {
    fn from(signal: crate::signals::Interrupted) -> Self {
        Failure::Other(signal.into())
    }
}

struct Fetcher<'a> {
    settings: &'a ApiSettings,
    client: reqwest::Client,
    token: Option<String>,
    /// When the last request (or retry) started, for `max_rps`.
    last_request: std::sync::Mutex<Option<Instant>>,
    /// Where each page's body is spooled.
    page_file: PathBuf,
}

impl Fetcher<'_> {
    fn remote(&self, message: String) -> Error {
        Error::Remote {
            source_name: format!("{} {}", self.settings.method, url_shown(&self.settings.url)),
            message,
        }
    }

    /// The page's URL for a message, when it is not `--url` itself (which the message names first):
    /// `"<url>: "`, else nothing.
    fn page_url(&self, url: &Url) -> String {
        let shown = url_shown(url);
        if shown == url_shown(&self.settings.url) {
            String::new()
        } else {
            format!("{shown}: ")
        }
    }

    /// Waits until a request is allowed by `max_rps` (retries included); `Err` on a signal.
    async fn pace(&self) -> std::result::Result<(), i32> {
        let Some(rps) = self.settings.max_rps else { return Ok(()) };
        let gap = Duration::from_secs_f64(1.0 / rps);
        let wait = {
            let mut last = self.last_request.lock().expect("pacing lock");
            let now = Instant::now();
            let start = last.map_or(now, |l| (l + gap).max(now));
            *last = Some(start);
            start - now
        };
        match crate::signals::sleep(wait).await {
            Some(signo) => Err(signo),
            None => Ok(()),
        }
    }

    /// Fetches one page into the page file; its headers. Retried as [`crate::http`] says.
    async fn page(&mut self, url: &Url, params: &[(String, String)]) -> Result<HeaderMap> {
        let mut renewed = false;
        loop {
            if matches!(self.settings.auth, Auth::OAuth2 { .. }) && self.token.is_none() {
                self.token = Some(self.oauth2_token().await?);
            }
            let this = &*self;
            // The errors name the request themselves.
            let result = this
                .settings
                .retry
                .run("", || {
                    let (url, params) = (url.clone(), params.to_vec());
                    async move { this.request(url, params).await }
                })
                .await;
            match result {
                Ok(page) => return Ok(page),
                Err(Failure::Unauthorized(_)) if !renewed => {
                    tracing::info!("the API answered 401: getting a new token");
                    self.token = None;
                    renewed = true;
                }
                Err(Failure::Unauthorized(e) | Failure::Other(e)) => return Err(e),
            }
        }
    }

    async fn request(
        &self,
        url: Url,
        params: Vec<(String, String)>,
    ) -> std::result::Result<HeaderMap, Attempt<Failure>> {
        let fail = |e: Error| Attempt::Fail(Failure::Other(e));
        self.pace().await.map_err(|signo| fail(crate::signals::Interrupted(signo).into()))?;
        let mut request = self.client.request(self.settings.method.clone(), url.clone()).query(&params);
        let mut headers = HeaderMap::new();
        for (name, value) in &self.settings.headers {
            let name = HeaderName::from_bytes(name.as_bytes())
                .map_err(|e| fail(self.remote(format!("header `{name}`: {e}"))))?;
            let value = HeaderValue::from_str(value)
                .map_err(|e| fail(self.remote(format!("header `{name}`: {e}"))))?;
            headers.append(name, value);
        }
        match &self.settings.auth {
            Auth::None => {}
            Auth::KeyHeader { name, key } => {
                let name = HeaderName::from_bytes(name.as_bytes())
                    .map_err(|e| fail(self.remote(format!("header `{name}`: {e}"))))?;
                let mut value = HeaderValue::from_str(&key.value)
                    .map_err(|_| fail(self.remote(format!("${} is not a valid header value", key.var))))?;
                value.set_sensitive(true);
                headers.insert(name, value);
            }
            Auth::KeyQuery { name, key } => {
                // A next-page URL may carry the key already.
                if !url.query_pairs().any(|(k, _)| k == name.as_str()) {
                    request = request.query(&[(name, &key.value)]);
                }
            }
            Auth::Bearer(token) => {
                request = request.bearer_auth(&token.value);
            }
            Auth::Basic { user, password } => {
                request = request.basic_auth(&user.value, Some(&password.value));
            }
            Auth::OAuth2 { .. } => {
                let token = self.token.as_deref().unwrap_or_default();
                request = request.bearer_auth(token);
            }
        }
        let response = request.headers(headers).send().await.map_err(|e| {
            http::attempt(
                &e,
                Failure::Other(self.remote(format!("{}{}", self.page_url(&url), http::describe(&e)))),
            )
        })?;
        let status = response.status();
        let headers = response.headers().clone();
        let broken = |e: reqwest::Error| Attempt::Retry {
            error: Failure::Other(self.remote(format!("{}{}", self.page_url(&url), http::describe(&e)))),
            after: None,
        };
        if !status.is_success() {
            // The start of the body is enough for the message (secrets an echoing server sends back
            // are taken out where messages leave the process: `crate::redact`).
            let mut response = response;
            let mut start = Vec::new();
            while start.len() < SNIPPET_BYTES {
                match response.chunk().await {
                    Ok(Some(chunk)) => start.extend_from_slice(&chunk),
                    _ => break,
                }
            }
            let body = http::snippet(&String::from_utf8_lossy(&start));
            let error = self.remote(format!("{}answered {status}: {body}", self.page_url(&url)));
            if status == StatusCode::UNAUTHORIZED && matches!(self.settings.auth, Auth::OAuth2 { .. }) {
                return Err(Attempt::Fail(Failure::Unauthorized(error)));
            }
            return Err(if http::is_retryable(status) {
                Attempt::Retry { error: Failure::Other(error), after: http::retry_after(&headers) }
            } else {
                Attempt::Fail(Failure::Other(error))
            });
        }
        let cap = self.settings.max_page_bytes;
        let too_big = || {
            fail(self.remote(format!(
                "{}the page is larger than {} (--max-page-bytes): nothing was written; ask for smaller \
                 pages (--page-size, --limit) or raise --max-page-bytes",
                self.page_url(&url),
                crate::bytesize::ByteSize(cap)
            )))
        };
        if response.content_length().is_some_and(|len| len > cap) {
            return Err(too_big());
        }
        let io = |e: std::io::Error| fail(Error::io(&self.page_file, e));
        let mut file = std::io::BufWriter::new(std::fs::File::create(&self.page_file).map_err(io)?);
        let mut response = response;
        let mut written = 0u64;
        while let Some(chunk) = response.chunk().await.map_err(broken)? {
            written += chunk.len() as u64;
            if written > cap {
                return Err(too_big());
            }
            file.write_all(&chunk).map_err(io)?;
            crate::signals::check().map_err(|i| fail(i.into()))?;
        }
        file.flush().map_err(io)?;
        Ok(headers)
    }

    /// A token from the OAuth2 token endpoint (client credentials, HTTP Basic auth).
    async fn oauth2_token(&self) -> Result<String> {
        let Auth::OAuth2 { token_url, client_id, client_secret, scope } = &self.settings.auth else {
            return Err(Error::Internal("no OAuth2 settings".into()));
        };
        let what = format!("getting a token from {token_url}");
        self.settings
            .retry
            .run("", || async {
                let mut form = vec![("grant_type", "client_credentials")];
                if let Some(scope) = scope {
                    form.push(("scope", scope));
                }
                let response = self
                    .client
                    .post(token_url.clone())
                    .basic_auth(&client_id.value, Some(&client_secret.value))
                    .form(&form)
                    .send()
                    .await
                    .map_err(|e| http::attempt(&e, self.remote(format!("{what}: {}", http::describe(&e)))))?;
                let status = response.status();
                let after = http::retry_after(response.headers());
                let body: Value = response.json().await.unwrap_or(Value::Null);
                if !status.is_success() {
                    let error = self.remote(format!(
                        "{what}: answered {status}; check ${} and ${}",
                        client_id.var, client_secret.var
                    ));
                    return Err(if http::is_retryable(status) {
                        Attempt::Retry { error, after }
                    } else {
                        Attempt::Fail(error)
                    });
                }
                match body.get("access_token").and_then(Value::as_str) {
                    Some(token) => {
                        crate::redact::register(token);
                        Ok(token.to_owned())
                    }
                    None => {
                        Err(Attempt::Fail(self.remote(format!("{what}: the answer has no access_token"))))
                    }
                }
            })
            .await
    }
}

/// How much of an error answer's body is read for its message.
const SNIPPET_BYTES: usize = 64 << 10;

/// The start of a page file, for a message about a body that is not JSON.
fn head_of(path: &Path) -> String {
    let mut start = Vec::new();
    if let Ok(file) = std::fs::File::open(path) {
        let _ = std::io::Read::read_to_end(&mut std::io::Read::take(file, 1024), &mut start);
    }
    String::from_utf8_lossy(&start).into_owned()
}

/// A URL for messages: without its query (which may hold a key).
/// The API as a run names its source: `GET https://api.example.com/v1/orders` (no secret).
pub fn source_name(settings: &ApiSettings) -> String {
    format!("{} {}", settings.method, url_shown(&settings.url))
}

fn url_shown(url: &Url) -> String {
    let mut shown = url.clone();
    shown.set_query(None);
    shown.to_string()
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Unauthorized(e) | Failure::Other(e) => write!(f, "{e}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::page::at_path;
    use super::*;
    use serde_json::json;

    #[test]
    fn paths_and_links() {
        let body = json!({"data": {"items": [1, 2]}, "meta": {"next": "abc"}, "list": [{"x": 1}]});
        assert_eq!(at_path(&body, "data.items"), Some(&json!([1, 2])));
        assert_eq!(at_path(&body, "meta.next"), Some(&json!("abc")));
        assert_eq!(at_path(&body, "list.0.x"), Some(&json!(1)));
        assert_eq!(at_path(&body, "data.none"), None);
        assert_eq!(at_path(&body, ""), Some(&body));
        let mut headers = HeaderMap::new();
        headers.insert(
            reqwest::header::LINK,
            r#"<https://api.test/items?page=3>; rel="next", <https://api.test/items?page=1>; rel="first""#
                .parse()
                .unwrap(),
        );
        assert_eq!(next_link(&headers).as_deref(), Some("https://api.test/items?page=3"));
        headers
            .insert(reqwest::header::LINK, r#"<https://api.test/items?page=1>; rel="prev""#.parse().unwrap());
        assert_eq!(next_link(&headers), None);
    }

    #[test]
    fn secrets_print_as_their_variable() {
        let secret = Secret { var: "API_TOKEN".into(), value: "hunter2".into() };
        assert_eq!(format!("{:?}", Auth::Bearer(secret)), "Bearer($API_TOKEN)");
    }
}
