//! No secret leaves the process: every source, with every kind of credential, is pointed at a server
//! that echoes the request it got back (in a 2xx that is not what the source expects, a 4xx and a
//! 5xx), and every output stream (text and JSON logs at `-vvv`) and every file the run wrote is
//! searched for every form of every secret: as it is, percent- and form-encoded, JSON-escaped,
//! base64, and `user:password` in base64 as Basic auth sends it.

use std::path::Path;
use std::process::Command;

use base64::Engine;

use crate::http_server::{self, Head, Reply, Request};
use crate::util::*;

const TOKEN: &str = "tok/en+Bearer=42\"x";
const KEY: &str = "k3y&val ue/=+9";
const USER: &str = "alice@example.com";
const PASSWORD: &str = "p@ss:w/rd+1\"";
const CLIENT_ID: &str = "client-id-7f3a";
const CLIENT_SECRET: &str = "cl1ent/secret+=&99";
const PG_PASSWORD: &str = "pg/pa ss@w:rd";
const AWS_SECRET: &str = "aws/Secret+Key=0123456789abcdef";

/// The request as the server read it, back as text: request line, headers, body.
fn echo_text(request: &Request) -> String {
    let mut text = format!("{} {}?{} HTTP/1.1\r\n", request.method, request.path, request.query);
    for (name, value) in &request.headers {
        text += &format!("{name}: {value}\r\n");
    }
    text += "\r\n";
    text += &String::from_utf8_lossy(&request.body);
    text
}

fn reply(status: u16, body: String) -> Reply {
    let reason = match status {
        200 => "OK",
        401 => "Unauthorized",
        _ => "Server Error",
    };
    Reply::Whole(
        Head { status, reason, headers: vec![("Content-Type".into(), "text/plain".into())] },
        body.into_bytes(),
    )
}

/// A server that answers every request with `status` and the request echoed (also as a JSON string,
/// so that a JSON-escaped copy is in the body too).
fn echo_server(status: u16) -> String {
    http_server::start(move |request, _| {
        let text = echo_text(&request);
        let json = serde_json::to_string(&text).unwrap();
        reply(status, format!("{text}\n{json}"))
    })
}

/// Every form a secret can travel in.
fn forms(secret: &str) -> Vec<String> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let json = serde_json::to_string(secret).unwrap();
    vec![
        secret.to_owned(),
        percent_encoding::utf8_percent_encode(secret, percent_encoding::NON_ALPHANUMERIC).to_string(),
        form_urlencoded::byte_serialize(secret.as_bytes()).collect(),
        json.trim_matches('"').to_owned(),
        b64.encode(secret),
    ]
}

fn all_forms(secrets: &[&str], basic: &[(&str, &str)]) -> Vec<String> {
    let mut out: Vec<String> = secrets.iter().flat_map(|s| forms(s)).collect();
    for (user, password) in basic {
        out.push(base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}")));
    }
    out.sort();
    out.dedup();
    out
}

/// Every file under `root`, as text.
fn files(root: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let bytes = std::fs::read(&path).unwrap_or_default();
                out.push((path.display().to_string(), String::from_utf8_lossy(&bytes).into_owned()));
            }
        }
    }
    out
}

/// Runs `case` twice (text logs and JSON logs, both at `-vvv`) in a fresh folder with its own
/// temporary folder, asserts that it failed, and searches everything it printed and wrote.
/// `quoted`: the run must say `[redacted]` (the echo was quoted), so that the search is not vacuous.
fn check(name: &str, secrets: &[&str], basic: &[(&str, &str)], quoted: bool, case: impl Fn(&Dir) -> Command) {
    let forms = all_forms(secrets, basic);
    for format in ["text", "json"] {
        let dir = Dir::new();
        let tmp = dir.path().join("tmp");
        std::fs::create_dir_all(&tmp).unwrap();
        let mut cmd = case(&dir);
        cmd.env("TMPDIR", &tmp).env("ETL_LOG_FORMAT", format).env("RUST_LOG", "trace");
        let r = run(&mut cmd);
        assert_ne!(r.code, 0, "{name} ({format}) should fail: {r:?}");
        let mut outputs =
            vec![("stdout".to_owned(), r.stdout.clone()), ("stderr".to_owned(), r.stderr.clone())];
        outputs.extend(files(dir.path()));
        for (place, text) in &outputs {
            for form in &forms {
                assert!(!text.contains(form.as_str()), "{name} ({format}): `{form}` in {place}:\n{text}");
            }
        }
        if quoted {
            assert!(r.stderr.contains("[redacted]"), "{name} ({format}): the echo was not quoted: {r:?}");
        }
    }
}

fn api_case(url: String, auth: &'static [&'static str]) -> impl Fn(&Dir) -> Command {
    move |dir: &Dir| {
        let mut cmd = dir.etl();
        cmd.env("API_TOKEN", TOKEN)
            .env("API_KEY", KEY)
            .env("API_USER", USER)
            .env("API_PASSWORD", PASSWORD)
            .env("API_CLIENT_ID", CLIENT_ID)
            .env("API_CLIENT_SECRET", CLIENT_SECRET)
            .args(["-vvv", "load-api", "--url", &format!("{url}/items?since=1"), "--dataset-id", "items"])
            .args(["--retries", "0"])
            .args(auth.iter().map(|a| a.replace("{url}", &url)));
        cmd
    }
}

const AUTHS: [(&str, &[&str]); 5] = [
    ("api key in a header", &["--auth", "api-key", "--api-key-header", "X-Api-Key"]),
    ("api key in the query", &["--auth", "api-key", "--api-key-query", "api_key"]),
    ("bearer", &["--auth", "bearer"]),
    ("basic", &["--auth", "basic"]),
    ("oauth2", &["--auth", "oauth2", "--token-url", "{url}/token", "--scope", "read"]),
];

#[test]
fn load_api_never_prints_a_credential_of_any_kind() {
    let secrets = [TOKEN, KEY, PASSWORD, CLIENT_SECRET];
    let basic = [(USER, PASSWORD), (CLIENT_ID, CLIENT_SECRET)];
    for status in [200, 401, 500] {
        // The token endpoint answers well; the data endpoint echoes.
        let url = http_server::start(move |request, _| {
            if request.path == "/token" {
                let token = format!("issued-{}-token", std::process::id());
                return reply(200, serde_json::json!({"access_token": token, "expires_in": 60}).to_string());
            }
            let text = echo_text(&request);
            reply(status, format!("{text}\n{}", serde_json::to_string(&text).unwrap()))
        });
        let issued = format!("issued-{}-token", std::process::id());
        for (name, auth) in AUTHS {
            let mut secrets = secrets.to_vec();
            secrets.push(&issued);
            check(
                &format!("load-api, {name}, HTTP {status}"),
                &secrets,
                &basic,
                true,
                api_case(url.clone(), auth),
            );
        }
    }
}

#[test]
fn load_api_never_prints_what_an_oauth2_token_endpoint_echoes() {
    for status in [200, 401, 500] {
        let url = echo_server(status);
        check(
            &format!("load-api, oauth2 token endpoint, HTTP {status}"),
            &[CLIENT_ID, CLIENT_SECRET],
            &[(CLIENT_ID, CLIENT_SECRET)],
            false,
            api_case(url, AUTHS[4].1),
        );
    }
}

#[test]
fn load_domo_never_prints_its_client_secret_or_token() {
    let catalog = "datasets:\n  - name: orders\n    domo_dataset_id: \"c1cddf9d-0000-4000-8000-000000000001\"\n    minio_dataset_id: orders\n";
    for status in [200, 401, 500] {
        for echo_token_endpoint in [true, false] {
            let url = http_server::start(move |request, _| {
                if request.path == "/oauth/token" && !echo_token_endpoint {
                    let token = format!("domo-{}-token", std::process::id());
                    return reply(
                        200,
                        serde_json::json!({"access_token": token, "expires_in": 3600}).to_string(),
                    );
                }
                let text = echo_text(&request);
                reply(status, format!("{text}\n{}", serde_json::to_string(&text).unwrap()))
            });
            let issued = format!("domo-{}-token", std::process::id());
            check(
                &format!(
                    "load-domo, echo from {}, HTTP {status}",
                    if echo_token_endpoint { "the token endpoint" } else { "the API" }
                ),
                &[CLIENT_ID, CLIENT_SECRET, &issued],
                &[(CLIENT_ID, CLIENT_SECRET)],
                false,
                |dir| {
                    dir.write("config/domo_datasets.yaml", catalog);
                    let mut cmd = dir.etl();
                    cmd.env("DOMO_API_HOST", &url)
                        .env("DOMO_CLIENT_ID", CLIENT_ID)
                        .env("DOMO_CLIENT_SECRET", CLIENT_SECRET)
                        .env("DOMO_RETRIES", "0")
                        .args(["-vvv", "load-domo", "--dataset", "orders"]);
                    cmd
                },
            );
        }
    }
}

#[test]
fn load_postgres_never_prints_its_password() {
    let encoded =
        percent_encoding::utf8_percent_encode(PG_PASSWORD, percent_encoding::NON_ALPHANUMERIC).to_string();
    // A server that is not PostgreSQL (it echoes), a port nobody listens on, and the real server
    // refusing the password.
    let mut urls = vec![
        format!(
            "postgres://etl:{encoded}@{}/db?connect_timeout=2",
            echo_server(200).trim_start_matches("http://")
        ),
        format!("postgres://etl:{encoded}@127.0.0.1:9/db?connect_timeout=2"),
        format!(
            "host=127.0.0.1 port=9 user=etl password='{}' dbname=db connect_timeout=2",
            PG_PASSWORD.replace('\'', "\\'")
        ),
    ];
    if let Some(url) = pg_url() {
        let (_, host) = url.rsplit_once('@').unwrap();
        urls.push(format!("postgres://etl:{encoded}@{host}"));
    }
    for url in urls {
        for via_env in [false, true] {
            check(
                &format!("load-postgres, {}", if via_env { "DATABASE_URL" } else { "--url" }),
                &[PG_PASSWORD],
                &[],
                false,
                |dir| {
                    let mut cmd = dir.etl();
                    cmd.args(["-vvv", "load-postgres", "--query", "SELECT 1", "--dataset-id", "pg"]);
                    if via_env {
                        cmd.env("DATABASE_URL", &url);
                    } else {
                        cmd.args(["--url", &url]);
                    }
                    cmd
                },
            );
        }
    }
}

#[test]
fn s3_targets_never_print_the_secret_key() {
    for status in [200, 403, 500] {
        let url = echo_server(status);
        check(&format!("S3 target, HTTP {status}"), &[AWS_SECRET], &[], false, |dir| {
            dir.write("events.csv", EVENTS_CSV);
            let mut cmd = dir.etl();
            cmd.env("AWS_ENDPOINT_URL", &url)
                .env("AWS_REGION", "us-east-1")
                .env("AWS_ACCESS_KEY_ID", "AKIAECHOTEST")
                .env("AWS_SECRET_ACCESS_KEY", AWS_SECRET)
                .env("AWS_MAX_ATTEMPTS", "1")
                .args([
                    "-vvv",
                    "--target",
                    "s3://bucket/lake",
                    "upload-csv",
                    "events.csv",
                    "--dataset-id",
                    "ev",
                ]);
            cmd
        });
    }
}
