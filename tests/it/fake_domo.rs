//! A real HTTP/1.1 server on 127.0.0.1 that plays Domo's API: the OAuth2 token endpoint, dataset
//! metadata with a schema, and the CSV export, with faults scripted per path (status codes with
//! `Retry-After`, a body cut short, tokens revoked mid-run). Every request is logged for assertions.
//! The socket, parsing and response writing are `http_server`'s.

use std::collections::{HashMap, HashSet, VecDeque};
use std::io::Write;
use std::net::TcpStream;
use std::sync::{Arc, Mutex};

use base64::Engine;

use crate::http_server::{self, Head, Reply, Request};

pub const CLIENT_ID: &str = "test-client-id";
pub const CLIENT_SECRET: &str = "very-secret-value-42";

/// One dataset the server knows.
#[derive(Clone)]
pub struct FakeDataset {
    /// (name, Domo type) of the schema.
    pub columns: Vec<(&'static str, &'static str)>,
    /// The export, header line included (the server strips it unless `includeHeader=true`).
    pub csv: String,
}

/// A fault served instead of (or before) the normal answer of a path.
#[derive(Clone, Debug)]
pub enum Fault {
    /// Answer with this status (and `Retry-After` seconds, if given).
    Status(u16, Option<u32>),
    /// Send the headers with the full `Content-Length`, half the body, then close.
    Truncate,
    /// Revoke every token issued so far, then answer normally (so the request gets a 401).
    RevokeTokens,
}

/// A request as the server saw it.
#[derive(Clone, Debug)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub query: String,
    pub status: u16,
}

#[derive(Default)]
struct State {
    datasets: HashMap<String, FakeDataset>,
    faults: HashMap<String, VecDeque<Fault>>,
    tokens: HashSet<String>,
    issued: u32,
    /// `expires_in` of the tokens issued (3599 unless set).
    expires_in: Option<u64>,
    seen: Vec<Seen>,
}

pub struct FakeDomo {
    pub url: String,
    state: Arc<Mutex<State>>,
}

impl FakeDomo {
    /// Starts a server (on a free port) serving `datasets` by id.
    pub fn start(datasets: &[(&str, FakeDataset)]) -> FakeDomo {
        let state = Arc::new(Mutex::new(State {
            datasets: datasets.iter().map(|(id, d)| (id.to_string(), d.clone())).collect(),
            ..Default::default()
        }));
        let shared = state.clone();
        let url = http_server::start(move |request, _| serve(request, &shared));
        FakeDomo { url, state }
    }

    /// Queues `fault` for the next request to `path` (e.g. `/v1/datasets/<id>/data`).
    pub fn fault(&self, path: &str, fault: Fault) {
        self.state.lock().unwrap().faults.entry(path.to_owned()).or_default().push_back(fault);
    }

    /// Replaces the export of dataset `id` (as a new day's data would).
    pub fn set_csv(&self, id: &str, csv: &str) {
        self.state.lock().unwrap().datasets.get_mut(id).expect("a known dataset").csv = csv.to_owned();
    }

    /// Makes the tokens issued from now on live `seconds`.
    pub fn set_expires_in(&self, seconds: u64) {
        self.state.lock().unwrap().expires_in = Some(seconds);
    }

    /// Every request so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.state.lock().unwrap().seen.clone()
    }

    /// How many requests went to `path`.
    pub fn count(&self, path: &str) -> usize {
        self.seen().iter().filter(|s| s.path == path).count()
    }

    /// Tokens issued so far.
    pub fn tokens_issued(&self) -> u32 {
        self.state.lock().unwrap().issued
    }

    /// The environment `etl` needs to talk to this server.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("DOMO_API_HOST", self.url.clone()),
            ("DOMO_CLIENT_ID", CLIENT_ID.to_owned()),
            ("DOMO_CLIENT_SECRET", CLIENT_SECRET.to_owned()),
        ]
    }
}

/// Answers one request and logs it. A `Fault::Truncate` becomes a raw reply: the head announces the
/// whole body's length, half the body follows, then the server closes the connection.
fn serve(request: Request, state: &Mutex<State>) -> Reply {
    let Request { method, path, query, headers, .. } = request;
    let (status, extra, body, truncate) = answer(state, &method, &path, &query, &headers);
    state.lock().unwrap().seen.push(Seen { method, path, query, status });
    let reason = match status {
        200 => "OK",
        401 => "Unauthorized",
        404 => "Not Found",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        _ => "Status",
    };
    let head = Head { status, reason, headers: extra.into_iter().map(|(k, v)| (k.to_owned(), v)).collect() };
    if !truncate {
        return Reply::Whole(head, body);
    }
    Reply::Raw(Box::new(move |out: &mut TcpStream| {
        http_server::write_head(out, &head, body.len())?;
        out.write_all(&body[..body.len() / 2])
    }))
}

type Answer = (u16, Vec<(&'static str, String)>, Vec<u8>, bool);

fn json(status: u16, value: serde_json::Value) -> Answer {
    (status, vec![("Content-Type", "application/json".into())], value.to_string().into_bytes(), false)
}

fn answer(
    state: &Mutex<State>,
    method: &str,
    path: &str,
    query: &str,
    headers: &HashMap<String, String>,
) -> Answer {
    let mut st = state.lock().unwrap();
    let mut truncate = false;
    if let Some(fault) = st.faults.get_mut(path).and_then(|q| q.pop_front()) {
        match fault {
            Fault::Status(code, after) => {
                let mut extra = vec![];
                if let Some(s) = after {
                    extra.push(("Retry-After", s.to_string()));
                }
                return (
                    code,
                    extra,
                    format!("{{\"status\":{code},\"message\":\"scripted\"}}").into_bytes(),
                    false,
                );
            }
            Fault::Truncate => truncate = true,
            Fault::RevokeTokens => st.tokens.clear(),
        }
    }
    if path == "/oauth/token" {
        if !matches!(method, "GET" | "POST") || !query.contains("grant_type=client_credentials") {
            return json(400, serde_json::json!({"error": "invalid_request"}));
        }
        let expected = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{CLIENT_ID}:{CLIENT_SECRET}"))
        );
        if headers.get("authorization") != Some(&expected) {
            return json(401, serde_json::json!({"status": 401, "reason": "Unauthorized"}));
        }
        st.issued += 1;
        let token = format!("token-{}-{}", st.issued, std::process::id());
        st.tokens.insert(token.clone());
        let expires_in = st.expires_in.unwrap_or(3599);
        return json(
            200,
            serde_json::json!({"access_token": token, "token_type": "bearer", "expires_in": expires_in, "scope": "data"}),
        );
    }
    let bearer = headers.get("authorization").and_then(|a| a.strip_prefix("Bearer ")).unwrap_or_default();
    if !st.tokens.contains(bearer) {
        return json(401, serde_json::json!({"status": 401, "message": "Full authentication is required"}));
    }
    let Some(rest) = path.strip_prefix("/v1/datasets/") else {
        return json(404, serde_json::json!({"status": 404}));
    };
    let (id, export) = match rest.strip_suffix("/data") {
        Some(id) => (id, true),
        None => (rest, false),
    };
    let Some(dataset) = st.datasets.get(id) else {
        return json(404, serde_json::json!({"status": 404, "message": "Not Found"}));
    };
    if !export {
        let columns: Vec<serde_json::Value> =
            dataset.columns.iter().map(|(n, t)| serde_json::json!({"name": n, "type": t})).collect();
        return json(200, serde_json::json!({"id": id, "name": "dataset", "schema": {"columns": columns}}));
    }
    if headers.get("accept").map(String::as_str) != Some("text/csv") {
        return json(406, serde_json::json!({"status": 406}));
    }
    let body = if query.contains("includeHeader=true") {
        dataset.csv.clone()
    } else {
        dataset.csv.split_once('\n').map(|(_, rest)| rest.to_owned()).unwrap_or_default()
    };
    (200, vec![("Content-Type", "text/csv".into())], body.into_bytes(), truncate)
}
