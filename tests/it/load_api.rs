use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use polars::prelude::*;
use serde_json::json;

use crate::fake_api::{FakeApi, Response};
use crate::util::*;

fn item(id: i64, day: u32) -> serde_json::Value {
    json!({
        "id": id,
        "name": format!("item {id}"),
        "created": format!("2026-11-{day:02}T10:00:00Z"),
        "price": 1.5,
        "active": id % 2 == 0,
        "user": {"id": 7, "email": "x@example.com"},
        "tags": ["a", "b"],
        "code": "007",
    })
}

/// Every file of the local dataset, read back as one frame.
fn dataset_frame(dir: &Dir, dataset: &str) -> DataFrame {
    let mut frames = dir
        .lake_keys()
        .into_iter()
        .filter(|k| k.starts_with(&format!("datasets/{dataset}/")) && k.ends_with(".parquet"))
        .map(|k| read_parquet(&dir.lake(&k)));
    let mut df = frames.next().expect("a data file");
    for more in frames {
        df.vstack_mut(&more).unwrap();
    }
    df
}

#[test]
fn pages_of_nested_records_typed_from_their_json_values() {
    let api = FakeApi::start(|req, _| {
        if req.header("authorization") != Some("Bearer tok-123") {
            return Response::status(401, r#"{"error":"no"}"#);
        }
        let page: i64 = req.param("page").unwrap().parse().unwrap();
        let items: Vec<serde_json::Value> = match page {
            1 => vec![item(1, 1), item(2, 1)],
            2 => {
                // A big integer keeps every digit; `code` is a string of digits, text.
                let mut big = item(3, 2);
                big["big"] = serde_json::from_str("123456789012345678901234567890").unwrap();
                vec![big]
            }
            _ => vec![],
        };
        Response::json(json!({"data": {"items": items}}))
    });
    let dir = Dir::new();
    let r = ok(dir.etl().env("API_TOKEN", "tok-123").args([
        "-vv",
        "load-api",
        "--url",
        &format!("{}/v1/items", api.url),
        "--records",
        "data.items",
        "--paginate",
        "page",
        "--auth",
        "bearer",
        "--dataset-id",
        "items",
        "--partition-col",
        "created",
    ]));
    assert!(r.stderr.contains("3 rows read, 3 rows written, 2 partitions"), "{r:?}");
    assert!(!r.stderr.contains("tok-123"), "the token is never printed: {r:?}");
    let pages: Vec<Option<String>> =
        api.to("/v1/items").iter().map(|r| r.param("page").map(str::to_owned)).collect();
    assert_eq!(pages, [Some("1".into()), Some("2".into()), Some("3".into())]);

    let df = dataset_frame(&dir, "items");
    assert_eq!(dtype(&df, "id"), DataType::Int64);
    assert_eq!(dtype(&df, "price"), DataType::Float64);
    assert_eq!(dtype(&df, "active"), DataType::Boolean);
    assert_eq!(dtype(&df, "user.id"), DataType::Int64);
    assert_eq!(dtype(&df, "created"), DataType::Datetime(TimeUnit::Microseconds, Some(TimeZone::UTC)));
    assert_eq!(dtype(&df, "big"), DataType::Decimal(38, 0));
    assert_eq!(strings(&df, "code"), vec![Some("007".into()); 3], "a JSON string stays text");
    assert_eq!(strings(&df, "tags")[0].as_deref(), Some(r#"["a","b"]"#));
    assert_eq!(strings(&df, "user.email")[0].as_deref(), Some("x@example.com"));
    let big = df.column("big").unwrap().cast(&DataType::String).unwrap();
    assert_eq!(big.str().unwrap().get(2), Some("123456789012345678901234567890"));
    assert_eq!(big.str().unwrap().get(0), None);
}

#[test]
fn cursor_offset_and_link_pages_with_retries() {
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = calls.clone();
    let api = FakeApi::start(move |req, base| match req.path.as_str() {
        "/cursor" => {
            // The first request is told to come back later.
            if seen.fetch_add(1, Ordering::SeqCst) == 0 {
                return Response::status(429, "slow down").with_header("Retry-After", "0");
            }
            match req.param("cursor") {
                None => Response::json(json!({"items": [{"n": 1}, {"n": 2}], "next": "c2"})),
                Some("c2") => Response::json(json!({"items": [{"n": 3}], "next": null})),
                Some(_) => Response::status(400, "bad cursor"),
            }
        }
        "/offset" => {
            let offset: usize = req.param("offset").unwrap().parse().unwrap();
            let all = [1, 2, 3, 4, 5];
            let page: Vec<_> = all.iter().skip(offset).take(2).map(|n| json!({"n": n})).collect();
            Response::json(json!(page))
        }
        "/link" => match req.param("p") {
            None | Some("1") => Response::json(json!([{"n": 1}]))
                .with_header("Link", &format!("<{base}/link?p=2>; rel=\"next\"")),
            _ => Response::json(json!([{"n": 2}])),
        },
        _ => Response::status(404, "no"),
    });
    let dir = Dir::new();
    let load = |dataset: &str, args: &[&str]| {
        let mut cmd = dir.etl();
        cmd.args(["load-api", "--dataset-id", dataset]).args(args);
        ok(&mut cmd)
    };
    let r = load(
        "c",
        &[
            "--url",
            &format!("{}/cursor", api.url),
            "--records",
            "items",
            "--paginate",
            "cursor",
            "--cursor-path",
            "next",
        ],
    );
    assert!(r.stderr.contains("3 rows written"), "{r:?}");
    assert!(r.stderr.contains("429"), "the retry is logged: {r:?}");
    let r = load(
        "o",
        &[
            "--url",
            &format!("{}/offset", api.url),
            "--paginate",
            "offset",
            "--page-size",
            "2",
            "--max-rps",
            "50",
        ],
    );
    assert!(r.stderr.contains("5 rows written"), "{r:?}");
    let offsets: Vec<String> =
        api.to("/offset").iter().map(|r| r.param("offset").unwrap().to_owned()).collect();
    // Only an empty page ends (an API may cap a page below the size asked for).
    assert_eq!(offsets, ["0", "2", "4", "5"]);
    let r = load("l", &["--url", &format!("{}/link", api.url), "--paginate", "link"]);
    assert!(r.stderr.contains("2 rows written"), "{r:?}");
    assert_eq!(i64s(&dataset_frame(&dir, "l"), "n"), vec![Some(1), Some(2)]);
}

#[test]
fn oauth2_client_credentials_renewed_once_on_401() {
    let tokens = Arc::new(AtomicUsize::new(0));
    let issued = tokens.clone();
    let api = FakeApi::start(move |req, _| match req.path.as_str() {
        "/token" => {
            // Basic base64("cid:csecret")
            if req.header("authorization") != Some("Basic Y2lkOmNzZWNyZXQ=")
                || !req.body.contains("grant_type=client_credentials")
            {
                return Response::status(401, "bad client");
            }
            let n = issued.fetch_add(1, Ordering::SeqCst) + 1;
            Response::json(json!({"access_token": format!("t{n}"), "expires_in": 3600}))
        }
        // The first token has been revoked.
        "/data" if req.header("authorization") == Some("Bearer t2") => Response::json(json!([{"v": "x"}])),
        "/data" => Response::status(401, "expired"),
        _ => Response::status(404, "no"),
    });
    let dir = Dir::new();
    let r = ok(dir.etl().env("API_CLIENT_ID", "cid").env("API_CLIENT_SECRET", "csecret").args([
        "load-api",
        "--url",
        &format!("{}/data", api.url),
        "--auth",
        "oauth2",
        "--token-url",
        &format!("{}/token", api.url),
        "--dataset-id",
        "o2",
    ]));
    assert!(r.stderr.contains("1 row written"), "{r:?}");
    assert_eq!(tokens.load(Ordering::SeqCst), 2);
    assert!(api.to("/token").iter().all(|r| r.method == "POST"), "{:?}", api.to("/token"));
    assert!(!r.stderr.contains("csecret"), "{r:?}");
}

#[test]
fn failures_write_nothing_and_say_why() {
    let api = FakeApi::start(|req, _| match req.path.as_str() {
        "/endless" => {
            let page: u64 = req.param("page").unwrap().parse().unwrap();
            Response::json(json!([{"page": page}]))
        }
        "/object" => Response::json(json!({"items": {"not": "an array"}})),
        "/big" => Response::json(json!({"items": [{"blob": "x".repeat(2 << 20)}]})),
        "/html" => Response::status(200, "<html><body>maintenance</body></html>"),
        "/secret" => Response::status(403, &format!("key {} refused", req.param("api_key").unwrap_or(""))),
        _ => Response::status(404, "no"),
    });
    let dir = Dir::new();
    let fail = |args: &[&str]| {
        let mut cmd = dir.etl();
        cmd.env("API_KEY", "k-secret-9").args(["load-api", "--dataset-id", "f"]).args(args);
        let r = run(&mut cmd);
        assert_eq!(r.code, 1, "{r:?}");
        r
    };
    let r = fail(&["--url", &format!("{}/endless", api.url), "--paginate", "page", "--max-pages", "3"]);
    assert!(r.stderr.contains("more than 3 pages"), "{r:?}");
    let r = fail(&["--url", &format!("{}/object", api.url), "--records", "items"]);
    assert!(r.stderr.contains("expected an array of records at `items`, found an object"), "{r:?}");
    // A page past --max-page-bytes is refused (by its Content-Length here, or while it streams).
    let r = fail(&["--url", &format!("{}/big", api.url), "--records", "items", "--max-page-bytes", "1MiB"]);
    assert!(r.stderr.contains("larger than 1 MiB (--max-page-bytes)"), "{r:?}");
    let r = fail(&["--url", &format!("{}/html", api.url)]);
    assert!(
        r.stderr.contains("page 1: the answer is not JSON (expected value at line 1 column 1): <html>"),
        "{r:?}"
    );
    let r =
        fail(&["--url", &format!("{}/secret", api.url), "--auth", "api-key", "--api-key-query", "api_key"]);
    assert!(r.stderr.contains("403"), "{r:?}");
    assert!(!r.stderr.contains("k-secret-9"), "the key is redacted from the answer and the URL: {r:?}");
    assert!(dir.lake_keys().is_empty(), "{:?}", dir.lake_keys());
    // Every remote URL follows one rule: http(s) only, no credentials in it, a warning for plain
    // http to another machine (and none for this one).
    for (args, expected) in [
        (vec!["--url", "ftp://host/x"], "--url: use an http:// or https:// URL, not ftp://"),
        (vec!["--url", "https://u:p@host/x"], "--url: give credentials with --auth, not in the URL"),
        (
            vec!["--url", "https://host/x", "--auth", "oauth2", "--token-url", "file:///etc/passwd"],
            "--token-url: use an http:// or https:// URL, not file://",
        ),
    ] {
        let r = run(dir
            .etl()
            .env("API_CLIENT_ID", "id")
            .env("API_CLIENT_SECRET", "secret")
            .args(["load-api", "--dataset-id", "f"])
            .args(&args));
        assert_eq!(r.code, 2, "{r:?}");
        assert!(r.stderr.contains(expected), "{r:?}");
    }
    let r = fail(&["--url", "http://nosuch.invalid/x", "--retries", "0"]);
    assert!(
        r.stderr
            .contains("--url `http://nosuch.invalid` is plain http: credentials and data travel unencrypted"),
        "{r:?}"
    );
    let r = fail(&["--url", &format!("{}/object", api.url), "--records", "items"]);
    assert!(!r.stderr.contains("plain http"), "127.0.0.1 is this machine: {r:?}");
    // A missing secret is a usage error naming the variable.
    let r = run(dir.etl().args(["load-api", "--dataset-id", "f", "--url", &api.url, "--auth", "bearer"]));
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("API_TOKEN"), "{r:?}");
}

#[test]
fn incremental_loads_fetch_only_what_is_new() {
    let events = Arc::new(std::sync::Mutex::new(vec![
        json!({"id": 1, "updated_at": "2026-11-01T10:00:00Z", "price": 1.5, "note": "x"}),
        json!({"id": 2, "updated_at": "2026-11-02T10:00:00Z", "price": 2.5, "note": "y"}),
    ]));
    let api = FakeApi::events_since(events.clone(), false);
    let dir = Dir::new();
    let load = |extra: &[&str]| {
        let mut cmd = dir.etl();
        cmd.args([
            "load-api",
            "--url",
            &format!("{}/events", api.url),
            "--records",
            "events",
            "--dataset-id",
            "ev",
            "--incremental-field",
            "updated_at",
            "--since-param",
            "updated_since",
        ])
        .args(extra);
        ok(&mut cmd)
    };
    let ids = |dir: &Dir| {
        let mut ids: Vec<i64> = i64s(&dataset_frame(dir, "ev"), "id").into_iter().flatten().collect();
        ids.sort();
        ids
    };
    let r = load(&[]);
    assert!(r.stderr.contains("2 rows written"), "{r:?}");
    assert!(r.stderr.contains("checkpoint updated_at = 2026-11-02T10:00:00Z"), "{r:?}");
    assert_eq!(api.seen()[0].param("updated_since"), None, "the first run asks for everything");

    // The new record's price is whole and it has no note: the dataset keeps its types and columns.
    events.lock().unwrap().push(json!({"id": 3, "updated_at": "2026-11-03T10:00:00Z", "price": 2}));
    let r = load(&[]);
    assert!(r.stderr.contains("1 row written"), "{r:?}");
    let df = dataset_frame(&dir, "ev");
    assert_eq!(dtype(&df, "price"), DataType::Float64);
    assert_eq!(strings(&df, "note").iter().filter(|n| n.is_none()).count(), 1);
    assert_eq!(api.seen()[1].param("updated_since"), Some("2026-11-02T10:00:00Z"));
    assert_eq!(ids(&dir), [1, 2, 3]);

    let r = load(&[]);
    assert!(r.stderr.contains("nothing new after updated_at = 2026-11-03T10:00:00Z"), "{r:?}");

    // A full refresh fetches everything again and replaces the dataset: no row twice.
    let r = load(&["--full-refresh"]);
    assert!(r.stderr.contains("3 rows written"), "{r:?}");
    assert_eq!(ids(&dir), [1, 2, 3]);
    let state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.lake("datasets/ev/_state.json")).unwrap()).unwrap();
    assert_eq!(state["checkpoints"].as_array().unwrap().last().unwrap()["value"], "2026-11-03T10:00:00Z");
}

#[test]
fn an_inclusive_since_and_updated_records_leave_one_row_per_key() {
    // The API returns the checkpoint's own records again (`>=`), and records change upstream.
    let events = Arc::new(std::sync::Mutex::new(vec![
        json!({"id": 1, "updated_at": "2026-11-01T10:00:00Z", "status": "new"}),
        json!({"id": 2, "updated_at": "2026-11-02T10:00:00Z", "status": "new"}),
    ]));
    let api = FakeApi::events_since(events.clone(), true);
    let dir = Dir::new();
    let load = || {
        let url = format!("{}/events", api.url);
        ok(dir.etl().args(["load-api", "--url", &url, "--records", "events", "--dataset-id", "ev"]).args([
            "--incremental-field",
            "updated_at",
            "--since-param",
            "updated_since",
            "--primary-key",
            "id",
        ]))
    };
    let rows = |dir: &Dir| {
        let df = dataset_frame(dir, "ev");
        let mut rows: Vec<(i64, String)> = i64s(&df, "id")
            .into_iter()
            .zip(strings(&df, "status"))
            .map(|(id, status)| (id.unwrap(), status.unwrap()))
            .collect();
        rows.sort();
        rows
    };
    load();
    // Record 2 comes back (inclusive), record 1 was updated, record 3 is new.
    {
        let mut events = events.lock().unwrap();
        events[0] = json!({"id": 1, "updated_at": "2026-11-03T10:00:00Z", "status": "shipped"});
        events.push(json!({"id": 3, "updated_at": "2026-11-03T11:00:00Z", "status": "new"}));
    }
    let r = load();
    assert!(r.stderr.contains("upsert by id: 1 inserted, 2 updated"), "{r:?}");
    assert_eq!(rows(&dir), [(1, "shipped".into()), (2, "new".into()), (3, "new".into())]);
    // And again: the checkpoint's record once more, no row twice.
    load();
    assert_eq!(rows(&dir).len(), 3);
}

#[test]
fn the_summary_counts_the_download_and_shows_each_phase() {
    // Three pages of 0.3 s each: the download is most of the run, and the summary says so.
    let api = FakeApi::start(|r, _| {
        std::thread::sleep(std::time::Duration::from_millis(300));
        let page: u32 = r.param("page").and_then(|p| p.parse().ok()).unwrap_or(1);
        let items: Vec<_> = (0..if page <= 2 { 10 } else { 0 }).map(|i| json!({"id": i})).collect();
        Response::json(json!(items))
    });
    let dir = Dir::new();
    let url = format!("{}/items", api.url);
    let r = ok(dir.etl().args([
        "--log-format",
        "json",
        "-v",
        "load-api",
        "--url",
        &url,
        "--paginate",
        "page",
        "--dataset-id",
        "p",
    ]));
    let line = r.stderr.lines().find(|l| l.contains(r#""event":"summary""#)).unwrap();
    let summary: serde_json::Value = serde_json::from_str(line).unwrap();
    let seconds = summary["summary"]["seconds"].as_f64().unwrap();
    let phases = &summary["summary"]["phases"];
    let extract = phases["extract"].as_f64().unwrap();
    assert!(extract >= 0.85 && seconds >= extract, "{summary}");
    let sum = extract + phases["typing"].as_f64().unwrap() + phases["publish"].as_f64().unwrap();
    assert!((sum - seconds).abs() < 0.05, "the phases add up to the whole: {summary}");
    // In text, -v names the phases.
    let r = ok(dir.etl().args(["-v", "load-api", "--url", &url, "--paginate", "page", "--dataset-id", "p"]));
    assert!(r.stderr.contains(" s extracting (downloads before the rows are read), "), "{r:?}");
}
