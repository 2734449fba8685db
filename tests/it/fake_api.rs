//! A real HTTP/1.1 server on 127.0.0.1 playing a REST API: each test gives it a handler that answers
//! a request (method, path, query, headers, body); every request is logged for assertions. The
//! socket, parsing and response writing are `http_server`'s.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::http_server::{self, Head, Reply};

/// A request as the server saw it.
#[derive(Clone, Debug)]
pub struct Request {
    pub method: String,
    pub path: String,
    /// Decoded query parameters, in order.
    pub query: Vec<(String, String)>,
    /// Header names in lower case.
    pub headers: HashMap<String, String>,
    pub body: String,
}

impl Request {
    /// The value of query parameter `name`.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.query.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }
}

/// An answer: status, extra headers, body.
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Response {
    pub fn json(value: serde_json::Value) -> Self {
        Response { status: 200, headers: vec![], body: value.to_string() }
    }

    pub fn status(status: u16, body: &str) -> Self {
        Response { status, headers: vec![], body: body.to_owned() }
    }

    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }
}

pub struct FakeApi {
    pub url: String,
    seen: Arc<Mutex<Vec<Request>>>,
}

impl FakeApi {
    /// An API of `events` that answers `{"events": [...]}` with those whose `updated_at` comes after
    /// the `updated_since` parameter (at or after it when `inclusive`), all when it is not sent: an
    /// incremental source, whose events a test may change between runs.
    pub fn events_since(events: Arc<Mutex<Vec<serde_json::Value>>>, inclusive: bool) -> FakeApi {
        FakeApi::start(move |req, _| {
            let since = req.param("updated_since").unwrap_or("");
            let newer: Vec<_> = events
                .lock()
                .unwrap()
                .iter()
                .filter(|e| {
                    let at = e["updated_at"].as_str().unwrap();
                    at > since || (inclusive && at == since)
                })
                .cloned()
                .collect();
            Response::json(serde_json::json!({ "events": newer }))
        })
    }

    /// Starts a server on a free port; `handler` gets each request and the server's own URL.
    pub fn start(handler: impl Fn(&Request, &str) -> Response + Send + Sync + 'static) -> FakeApi {
        let seen: Arc<Mutex<Vec<Request>>> = Arc::default();
        let log = seen.clone();
        let url = http_server::start(move |raw, base| {
            let query = raw.params();
            let request = Request {
                method: raw.method,
                path: raw.path,
                query,
                headers: raw.headers,
                body: String::from_utf8_lossy(&raw.body).into_owned(),
            };
            let response = handler(&request, base);
            log.lock().unwrap().push(request);
            // Every answer is labelled JSON; the handler's own headers follow.
            let mut headers = vec![("Content-Type".to_owned(), "application/json".to_owned())];
            headers.extend(response.headers);
            let head = Head { status: response.status, reason: "Status", headers };
            Reply::Whole(head, response.body.into_bytes())
        });
        FakeApi { url, seen }
    }

    /// Every request so far.
    pub fn seen(&self) -> Vec<Request> {
        self.seen.lock().unwrap().clone()
    }

    /// Requests to `path`.
    pub fn to(&self, path: &str) -> Vec<Request> {
        self.seen().into_iter().filter(|r| r.path == path).collect()
    }
}
