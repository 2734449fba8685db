//! HTTP for remote sources: one client setup, and retries with exponential backoff and jitter on what
//! is worth retrying (connection errors, timeouts, bodies cut short, 429 with its `Retry-After`, 5xx),
//! never on other 4xx answers, which a retry would only repeat.

use std::fmt::Display;
use std::future::Future;
use std::time::Duration;

use reqwest::header::{HeaderMap, RETRY_AFTER};
use reqwest::StatusCode;

/// Longest wait a server's `Retry-After` can ask for; beyond it the wait is capped.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(300);

/// How often and how patiently to retry.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Retries after the first attempt.
    pub retries: u32,
    /// The first backoff; each retry doubles it, up to `max_delay`.
    pub base_delay: Duration,
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy { retries: 5, base_delay: Duration::from_millis(500), max_delay: Duration::from_secs(30) }
    }
}

/// Why an attempt failed, and whether another attempt may succeed.
#[derive(Debug)]
pub enum Attempt<E> {
    /// Worth another try, after `after` if the server said so.
    Retry { error: E, after: Option<Duration> },
    /// Final.
    Fail(E),
}

impl RetryPolicy {
    /// The wait before retry number `retry` (0-based): the server's `Retry-After` if it gave one,
    /// else an exponential backoff with "equal jitter" (half fixed, half random), so that many clients
    /// failing together do not retry together.
    pub fn delay(&self, retry: u32, after: Option<Duration>) -> Duration {
        if let Some(after) = after {
            return after.min(MAX_RETRY_AFTER);
        }
        let exp = self.base_delay.saturating_mul(1u32 << retry.min(20)).min(self.max_delay);
        let half = exp / 2;
        half + half.mul_f64(fastrand::f64())
    }

    /// Runs `attempt` until it succeeds, fails for good, or the retries are spent; logs each retry
    /// as `what: error` (just the error when `what` is empty: an error that names its request).
    ///
    /// A signal (SIGTERM from a scheduler stopping the task, Ctrl-C) ends an attempt in flight too: a
    /// server that answers nothing must not keep the run for its whole timeout.
    pub async fn run<T, E, F, Fut>(&self, what: &str, mut attempt: F) -> Result<T, E>
    where
        E: Display + From<crate::signals::Interrupted>,
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, Attempt<E>>>,
    {
        let mut retry = 0;
        loop {
            let outcome = tokio::select! {
                outcome = attempt() => outcome,
                signo = crate::signals::wait() => return Err(crate::signals::Interrupted(signo).into()),
            };
            match outcome {
                Ok(value) => return Ok(value),
                Err(Attempt::Fail(error)) => return Err(error),
                Err(Attempt::Retry { error, after }) => {
                    let shown = if what.is_empty() { error.to_string() } else { format!("{what}: {error}") };
                    if retry >= self.retries {
                        tracing::warn!("{shown}; giving up after {} attempts", retry + 1);
                        return Err(error);
                    }
                    let wait = self.delay(retry, after);
                    tracing::warn!(
                        "{shown}; retrying in {:.1} s ({}/{})",
                        wait.as_secs_f64(),
                        retry + 1,
                        self.retries
                    );
                    // A signal ends the wait, and the retries: the caller stops with the last error.
                    if crate::signals::sleep(wait).await.is_some() {
                        return Err(error);
                    }
                    retry += 1;
                }
            }
        }
    }
}

/// Checks the URL of a remote source (`what` names the option or variable it came from): http or
/// https, without a user or password (`credentials` says where those go instead). Plain http to
/// another machine is allowed with a warning: credentials and data would travel unencrypted. The
/// one rule for every remote source.
pub fn check_url(what: &str, text: &str, credentials: &str) -> Result<reqwest::Url, String> {
    let url = reqwest::Url::parse(text).map_err(|e| format!("{what} `{text}` is not a URL ({e})"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("{what}: use an http:// or https:// URL, not {}://", url.scheme()));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(format!("{what}: {credentials}, not in the URL"));
    }
    if url.scheme() == "http" && !is_loopback(&url) {
        tracing::warn!(
            "{what} `{}://{}` is plain http: credentials and data travel unencrypted; use https",
            url.scheme(),
            url.host_str().unwrap_or_default()
        );
    }
    Ok(url)
}

/// Whether the URL's host is this machine.
fn is_loopback(url: &reqwest::Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// Sorts a transport error: connection failures, timeouts and broken bodies are worth retrying; a
/// request that could not even be built (a bad URL) is not.
pub fn attempt<E>(error: &reqwest::Error, wrapped: E) -> Attempt<E> {
    if error.is_builder() {
        Attempt::Fail(wrapped)
    } else {
        Attempt::Retry { error: wrapped, after: None }
    }
}

/// Whether an answer with this status is worth retrying: 429 and 5xx.
pub fn is_retryable(status: StatusCode) -> bool {
    status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error()
}

/// The server's `Retry-After`, when given in seconds. (An HTTP date falls back to the backoff.)
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let text = headers.get(RETRY_AFTER)?.to_str().ok()?;
    text.trim().parse::<u64>().ok().map(Duration::from_secs)
}

/// A transport error with its causes, without the noise of reqwest's own wording.
pub fn describe(error: &reqwest::Error) -> String {
    let mut text = if error.is_timeout() {
        "timed out".to_owned()
    } else if error.is_connect() {
        "could not connect".to_owned()
    } else if error.is_body() || error.is_decode() {
        "the connection broke while reading the answer".to_owned()
    } else {
        "the request failed".to_owned()
    };
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.ends_with(&cause_text) {
            text += &format!(": {cause_text}");
        }
        source = cause.source();
    }
    text
}

/// The start of a response body, on one line, for error messages.
pub fn snippet(body: &str) -> String {
    let one_line: String = body.split_whitespace().collect::<Vec<_>>().join(" ");
    let one_line = crate::redact::printable(&one_line).into_owned();
    match one_line.char_indices().nth(200) {
        Some((cut, _)) => format!("{}…", &one_line[..cut]),
        None => one_line,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_with_jitter_and_caps() {
        let policy = RetryPolicy {
            retries: 10,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(1000),
        };
        for retry in 0..10 {
            let exp = Duration::from_millis((100u64 << retry).min(1000));
            let d = policy.delay(retry, None);
            assert!(d >= exp / 2 && d <= exp, "retry {retry}: {d:?} not within {exp:?}");
        }
        assert_eq!(policy.delay(0, Some(Duration::from_secs(7))), Duration::from_secs(7));
        assert_eq!(policy.delay(0, Some(Duration::from_secs(100_000))), MAX_RETRY_AFTER);
    }

    #[test]
    fn retry_after_in_seconds() {
        let mut headers = HeaderMap::new();
        assert_eq!(retry_after(&headers), None);
        headers.insert(RETRY_AFTER, "3".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(3)));
        headers.insert(RETRY_AFTER, "Wed, 21 Oct 2026 07:28:00 GMT".parse().unwrap());
        assert_eq!(retry_after(&headers), None);
    }

    #[test]
    fn retries_only_what_is_worth_it() {
        assert!(is_retryable(StatusCode::TOO_MANY_REQUESTS));
        assert!(is_retryable(StatusCode::BAD_GATEWAY));
        assert!(!is_retryable(StatusCode::UNAUTHORIZED));
        assert!(!is_retryable(StatusCode::NOT_FOUND));
    }

    /// An error of the tests: a text.
    #[derive(Debug, PartialEq)]
    struct Text(String);

    impl std::fmt::Display for Text {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(&self.0)
        }
    }

    impl From<crate::signals::Interrupted> for Text {
        fn from(signal: crate::signals::Interrupted) -> Self {
            Text(signal.to_string())
        }
    }

    #[test]
    fn gives_up_after_the_retries() {
        let policy = RetryPolicy { retries: 2, base_delay: Duration::ZERO, max_delay: Duration::ZERO };
        let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
        let mut calls = 0;
        let out: Result<(), Text> = rt.block_on(policy.run("test", || {
            calls += 1;
            async { Err(Attempt::Retry { error: Text("boom".into()), after: None }) }
        }));
        assert_eq!(out, Err(Text("boom".into())));
        assert_eq!(calls, 3);
        let mut calls = 0;
        let out: Result<(), Text> = rt.block_on(policy.run("test", || {
            calls += 1;
            async { Err(Attempt::Fail(Text("no".into()))) }
        }));
        assert_eq!(out, Err(Text("no".into())));
        assert_eq!(calls, 1);
    }
}
