use std::process::Command;

use polars::prelude::*;

use crate::fake_domo::{FakeDataset, FakeDomo, Fault, CLIENT_SECRET};
use crate::util::*;

const ORDERS: &str = "c1cddf9d-0000-4000-8000-000000000001";
const RETURNS: &str = "c1cddf9d-0000-4000-8000-000000000002";
const BROKEN: &str = "c1cddf9d-0000-4000-8000-000000000003";

/// Orders as Domo exports them: LF line ends, empty fields for nulls, DATETIME without zone. The
/// excluded row has an amount that fits no number: it must never reach typing.
fn orders() -> FakeDataset {
    FakeDataset {
        columns: vec![
            ("order_id", "LONG"),
            ("code", "STRING"),
            ("amount", "DOUBLE"),
            ("delivery completed date", "DATE"),
            ("updated", "DATETIME"),
            ("exclude_flg", "STRING"),
        ],
        csv: "order_id,code,amount,delivery completed date,updated,exclude_flg,note\n\
              1,12,10.5,2026-10-01,2026-10-01T18:49:02,Not Exclude,5\n\
              2,13,,2026-10-01,2026-10-01T23:59:59,Not Exclude,\n\
              3,14,oops,2026-10-02,2026-10-02T00:00:00,Exclude,7\n\
              4,007,2.25,2026-10-02,,Not Exclude,8\n\
              5,\"a, \"\"quoted\"\"\nline\",1e3,,2026-10-03T01:02:03,Not Exclude,9\n"
            .to_owned(),
    }
}

fn returns() -> FakeDataset {
    FakeDataset {
        columns: vec![("return_id", "LONG"), ("reason", "STRING")],
        csv: "return_id,reason\n1,damaged\n2,late\n".to_owned(),
    }
}

fn catalog(dir: &Dir) {
    dir.write(
        "config/domo_datasets.yaml",
        format!(
            r#"
datasets:
  - name: "Orders (first time)"
    description: "orders with due dates"
    domo_dataset_id: "{ORDERS}"
    minio_dataset_id: "orders"
    partition_column: "delivery completed date"
    enabled: true
    exclude_filter:
      column: "exclude_flg"
      keep_value: "Not Exclude"
  - name: "Returns"
    domo_dataset_id: "{RETURNS}"
    minio_dataset_id: "returns"
    partition_column: null
    enabled: true
"#
        ),
    );
}

fn with_domo<'a>(cmd: &'a mut Command, domo: &FakeDomo) -> &'a mut Command {
    for (k, v) in domo.env() {
        cmd.env(k, v);
    }
    cmd
}

fn orders_path(suffix: &str) -> String {
    format!("/v1/datasets/{ORDERS}{suffix}")
}

/// Reads every partition of `orders` back, in key order.
fn read_orders(dir: &Dir) -> DataFrame {
    let keys: Vec<String> =
        dir.lake_keys().into_iter().filter(|k| k.starts_with("datasets/orders/")).collect();
    assert_eq!(
        keys,
        [
            "datasets/orders/partitions/date=2026-10-01/part-0000.parquet",
            "datasets/orders/partitions/date=2026-10-02/part-0000.parquet",
            "datasets/orders/partitions/date=__HIVE_DEFAULT_PARTITION__/part-0000.parquet",
        ]
    );
    let frames: Vec<DataFrame> = keys.iter().map(|k| read_parquet(&dir.lake(k))).collect();
    let mut df = frames[0].clone();
    for f in &frames[1..] {
        df.vstack_mut(f).unwrap();
    }
    df
}

#[test]
fn a_dataset_is_typed_by_domo_schema_partitioned_and_filtered() {
    let domo = FakeDomo::start(&[(ORDERS, orders()), (RETURNS, returns())]);
    let dir = Dir::new();
    catalog(&dir);
    let run = ok(with_domo(dir.etl().args(["load-domo", "--dataset", "Orders (first time)"]), &domo));
    assert!(run.stderr.contains("5 rows read, 4 rows written, 3 partitions"), "{run:?}");
    assert!(run.stderr.contains("1 rows excluded by the filter"), "{run:?}");

    let df = read_orders(&dir);
    assert_eq!(dtype(&df, "order_id"), DataType::Int64);
    // STRING in Domo stays text even where every value looks like a number.
    assert_eq!(dtype(&df, "code"), DataType::String);
    assert_eq!(dtype(&df, "amount"), DataType::Float64);
    assert_eq!(dtype(&df, "delivery completed date"), DataType::Date);
    // DATETIME without zone is UTC.
    assert_eq!(dtype(&df, "updated"), DataType::Datetime(TimeUnit::Microseconds, Some(TimeZone::UTC)));
    // Not in Domo's schema: inferred.
    assert_eq!(dtype(&df, "note"), DataType::Int64);
    assert_eq!(i64s(&df, "order_id"), [Some(1), Some(2), Some(4), Some(5)]);
    assert_eq!(
        strings(&df, "code"),
        [Some("12".into()), Some("13".into()), Some("007".into()), Some("a, \"quoted\"\nline".into())]
    );
    assert_eq!(f64s(&df, "amount"), [Some(10.5), None, Some(2.25), Some(1000.0)]);
    assert_eq!(
        micros(&df, "updated"),
        [
            Some(utc(2026, 10, 1, 18, 49, 2, 0)),
            Some(utc(2026, 10, 1, 23, 59, 59, 0)),
            None,
            Some(utc(2026, 10, 3, 1, 2, 3, 0))
        ]
    );
    assert_eq!(i64s(&df, "note"), [Some(5), None, Some(8), Some(9)]);

    // One token (asked for with GET, as Domo documents), one schema request, one export; the other
    // dataset untouched.
    assert_eq!(domo.tokens_issued(), 1);
    assert!(domo.seen().iter().all(|s| s.method == "GET"));
    assert_eq!(domo.count(&orders_path("")), 1);
    let exports: Vec<_> = domo.seen().into_iter().filter(|s| s.path == orders_path("/data")).collect();
    assert_eq!(exports.len(), 1);
    assert_eq!(exports[0].query, "includeHeader=true");
    assert_eq!(domo.count(&format!("/v1/datasets/{RETURNS}/data")), 0);
    assert!(!dir.lake_keys().iter().any(|k| k.starts_with("datasets/returns/")));
    // The download and staging folders are gone.
    assert!(dir.lake_keys().iter().all(|k| k.starts_with("datasets/")), "{:?}", dir.lake_keys());
}

#[test]
fn the_export_replaces_the_whole_dataset() {
    let domo = FakeDomo::start(&[(ORDERS, orders())]);
    let dir = Dir::new();
    catalog(&dir);
    ok(with_domo(dir.etl().args(["load-domo", "--dataset", "orders"]), &domo));
    assert_eq!(dir.lake_keys().len(), 3);
    // Domo's dataset now holds one day: the other partitions go from the lake as well.
    domo.set_csv(
        ORDERS,
        "order_id,code,amount,delivery completed date,updated,exclude_flg,note\n\
         9,x,1.5,2026-10-02,2026-10-02T10:00:00,Not Exclude,1\n",
    );
    let r = ok(with_domo(dir.etl().args(["load-domo", "--dataset", "orders"]), &domo));
    assert!(r.stderr.contains("2 objects deleted"), "{r:?}");
    assert_eq!(dir.lake_keys(), ["datasets/orders/partitions/date=2026-10-02/part-0000.parquet"]);
    let df = read_parquet(&dir.lake("datasets/orders/partitions/date=2026-10-02/part-0000.parquet"));
    assert_eq!(i64s(&df, "order_id"), [Some(9)]);
}

#[test]
fn datasets_can_be_named_by_domo_id_or_dataset_id() {
    let domo = FakeDomo::start(&[(ORDERS, orders()), (RETURNS, returns())]);
    let dir = Dir::new();
    catalog(&dir);
    ok(with_domo(dir.etl().args(["load-domo", "--dataset", RETURNS]), &domo));
    assert_eq!(dir.lake_keys(), ["datasets/returns/data/part-0000.parquet"]);
    ok(with_domo(dir.etl().args(["load-domo", "--dataset", "orders"]), &domo));
    assert_eq!(dir.lake_keys().len(), 4);
}

#[test]
fn bad_credentials_give_one_line_naming_the_variables() {
    let domo = FakeDomo::start(&[(ORDERS, orders())]);
    let dir = Dir::new();
    catalog(&dir);
    let r =
        run(with_domo(dir.etl().args(["load-domo", "--all"]), &domo)
            .env("DOMO_CLIENT_SECRET", "wrong-secret"));
    assert_eq!(r.code, 1, "{r:?}");
    let errors: Vec<&str> = r.stderr.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(errors.len(), 1, "{r:?}");
    assert!(errors[0].contains("DOMO_CLIENT_ID") && errors[0].contains("DOMO_CLIENT_SECRET"), "{r:?}");
    assert!(errors[0].contains("401"), "{r:?}");
    assert!(!r.stderr.contains("wrong-secret"), "{r:?}");
    // Refused once, not retried; no dataset was asked for, nothing written.
    assert_eq!(domo.seen().len(), 1);
    assert!(dir.lake_keys().is_empty());
}

#[test]
fn missing_credentials_are_a_usage_error() {
    let dir = Dir::new();
    catalog(&dir);
    let r = run(dir.etl().args(["load-domo", "--all"]).env("DOMO_API_HOST", "http://127.0.0.1:9"));
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("DOMO_CLIENT_ID is not set"), "{r:?}");
}

#[test]
fn a_429_is_retried_after_its_retry_after() {
    let domo = FakeDomo::start(&[(ORDERS, orders())]);
    let dir = Dir::new();
    catalog(&dir);
    domo.fault(&orders_path("/data"), Fault::Status(429, Some(1)));
    let started = std::time::Instant::now();
    let r = ok(with_domo(dir.etl().args(["load-domo", "--dataset", "orders", "-v"]), &domo));
    assert!(started.elapsed().as_secs_f64() >= 1.0, "Retry-After: 1 was not honoured");
    assert_eq!(domo.count(&orders_path("/data")), 2);
    assert!(r.stderr.contains("429"), "{r:?}");
    assert_eq!(read_orders(&dir).height(), 4);
}

#[test]
fn a_500_is_retried() {
    let domo = FakeDomo::start(&[(ORDERS, orders())]);
    let dir = Dir::new();
    catalog(&dir);
    domo.fault(&orders_path(""), Fault::Status(500, None));
    domo.fault(&orders_path("/data"), Fault::Status(503, None));
    domo.fault("/oauth/token", Fault::Status(502, None));
    ok(with_domo(dir.etl().args(["load-domo", "--dataset", "orders"]), &domo));
    assert_eq!(domo.count("/oauth/token"), 2);
    assert_eq!(domo.count(&orders_path("")), 2);
    assert_eq!(domo.count(&orders_path("/data")), 2);
    assert_eq!(read_orders(&dir).height(), 4);
}

#[test]
fn other_4xx_answers_are_not_retried() {
    let domo = FakeDomo::start(&[(ORDERS, orders())]);
    let dir = Dir::new();
    catalog(&dir);
    domo.fault(&orders_path(""), Fault::Status(403, None));
    let r = run(with_domo(dir.etl().args(["load-domo", "--dataset", "orders"]), &domo));
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stderr.contains("HTTP 403") && r.stderr.contains("share it"), "{r:?}");
    assert_eq!(domo.count(&orders_path("")), 1);
}

#[test]
fn a_truncated_export_is_an_error_and_changes_nothing() {
    let domo = FakeDomo::start(&[(ORDERS, orders())]);
    let dir = Dir::new();
    catalog(&dir);
    ok(with_domo(dir.etl().args(["load-domo", "--dataset", "orders"]), &domo));
    let before: Vec<(String, Vec<u8>)> =
        dir.lake_keys().into_iter().map(|k| (k.clone(), std::fs::read(dir.lake(&k)).unwrap())).collect();

    // Cut short on the first attempt and on its one retry.
    domo.fault(&orders_path("/data"), Fault::Truncate);
    domo.fault(&orders_path("/data"), Fault::Truncate);
    let r = run(with_domo(dir.etl().args(["load-domo", "--dataset", "orders", "--retries", "1"]), &domo));
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stderr.contains("ended early"), "{r:?}");
    assert_eq!(domo.count(&orders_path("/data")), 3);
    let after: Vec<(String, Vec<u8>)> =
        dir.lake_keys().into_iter().map(|k| (k.clone(), std::fs::read(dir.lake(&k)).unwrap())).collect();
    assert_eq!(before, after, "a failed download must leave the dataset as it was");

    // Cut short once: the retry loads it.
    domo.fault(&orders_path("/data"), Fault::Truncate);
    ok(with_domo(dir.etl().args(["load-domo", "--dataset", "orders"]), &domo));
}

#[test]
fn an_expired_token_is_renewed_mid_run() {
    let domo = FakeDomo::start(&[(ORDERS, orders()), (RETURNS, returns())]);
    let dir = Dir::new();
    catalog(&dir);
    // The token is revoked when the second dataset's export is asked for.
    domo.fault(&format!("/v1/datasets/{RETURNS}/data"), Fault::RevokeTokens);
    let r = ok(with_domo(dir.etl().args(["load-domo", "--all", "--jobs", "1"]), &domo));
    assert_eq!(domo.tokens_issued(), 2, "{r:?}");
    let statuses: Vec<u16> = domo
        .seen()
        .into_iter()
        .filter(|s| s.path == format!("/v1/datasets/{RETURNS}/data"))
        .map(|s| s.status)
        .collect();
    assert_eq!(statuses, [401, 200]);
    assert!(dir.lake_keys().contains(&"datasets/returns/data/part-0000.parquet".to_owned()));
}

#[test]
fn a_token_is_renewed_when_it_expires() {
    let domo = FakeDomo::start(&[(ORDERS, orders())]);
    let dir = Dir::new();
    catalog(&dir);
    // Tokens that expire at once: every request needs a new one, and none is refused.
    domo.set_expires_in(0);
    ok(with_domo(dir.etl().args(["load-domo", "--dataset", "orders"]), &domo));
    assert_eq!(domo.tokens_issued(), 3, "the credential check, the schema and the export");
    assert!(domo.seen().iter().all(|s| s.status == 200), "{:?}", domo.seen());
}

#[test]
fn concurrent_datasets_share_one_renewal() {
    let domo = FakeDomo::start(&[(ORDERS, orders()), (RETURNS, returns())]);
    let dir = Dir::new();
    catalog(&dir);
    // One revocation while two datasets run at once: whichever requests still carry the old token
    // are refused, and however they interleave, one renewal serves them all.
    domo.fault(&orders_path(""), Fault::RevokeTokens);
    ok(with_domo(dir.etl().args(["load-domo", "--all", "--jobs", "2"]), &domo));
    assert_eq!(domo.tokens_issued(), 2, "{:?}", domo.seen());
    assert_eq!(dir.lake_keys().len(), 4);
}

#[test]
fn an_empty_export_does_not_empty_a_full_dataset_unless_asked() {
    let domo = FakeDomo::start(&[(ORDERS, orders())]);
    let dir = Dir::new();
    catalog(&dir);
    ok(with_domo(dir.etl().args(["load-domo", "--dataset", "orders"]), &domo));
    let before = dir.lake_keys();
    domo.set_csv(ORDERS, "order_id,code,amount,delivery completed date,updated,exclude_flg,note\n");
    let r = run(with_domo(dir.etl().args(["load-domo", "--dataset", "orders"]), &domo));
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stderr.contains("has no rows; publishing it would delete all 3 data files"), "{r:?}");
    assert!(r.stderr.contains("--allow-empty"), "{r:?}");
    assert_eq!(dir.lake_keys(), before);
    ok(with_domo(dir.etl().args(["load-domo", "--dataset", "orders", "--allow-empty"]), &domo));
    assert!(dir.lake_keys().is_empty(), "{:?}", dir.lake_keys());
}

#[test]
fn a_filter_that_keeps_nothing_fails() {
    let domo = FakeDomo::start(&[(ORDERS, orders())]);
    let dir = Dir::new();
    catalog(&dir);
    let text = std::fs::read_to_string(dir.path().join("config/domo_datasets.yaml")).unwrap();
    dir.write(
        "config/domo_datasets.yaml",
        text.replace("keep_value: \"Not Exclude\"", "keep_value: \"Not excluded\""),
    );
    let r = run(with_domo(dir.etl().args(["load-domo", "--dataset", "orders"]), &domo));
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.stderr.contains("the filter kept none of the 5 rows: no row has `exclude_flg` = \"Not excluded\""),
        "{r:?}"
    );
    assert!(dir.lake_keys().is_empty());
}

#[test]
fn columns_the_entry_relies_on_are_checked_before_the_download() {
    let domo = FakeDomo::start(&[(ORDERS, orders())]);
    let dir = Dir::new();
    catalog(&dir);
    let text = std::fs::read_to_string(dir.path().join("config/domo_datasets.yaml")).unwrap();
    dir.write("config/domo_datasets.yaml", text.replace("\"delivery completed date\"", "\"delivered\""));
    let r = run(with_domo(dir.etl().args(["load-domo", "--dataset", "orders"]), &domo));
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("partition_column `delivered` is not a column of the dataset"), "{r:?}");
    assert_eq!(domo.count(&orders_path("/data")), 0);
}

#[test]
fn an_export_that_is_not_the_csv_is_refused() {
    let domo = FakeDomo::start(&[(ORDERS, orders())]);
    let dir = Dir::new();
    catalog(&dir);
    domo.set_csv(ORDERS, "<html><body>Sign in</body></html>\n");
    let r = run(with_domo(dir.etl().args(["load-domo", "--dataset", "orders"]), &domo));
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stderr.contains("names none of the schema's columns"), "{r:?}");
    assert!(dir.lake_keys().is_empty());
}

#[test]
fn a_bad_host_fails_at_once() {
    let dir = Dir::new();
    catalog(&dir);
    let r = run(dir
        .etl()
        .args(["load-domo", "--all"])
        .env("DOMO_API_HOST", "api.domo.com")
        .env("DOMO_CLIENT_ID", "a")
        .env("DOMO_CLIENT_SECRET", "b"));
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("DOMO_API_HOST / --domo-host `api.domo.com` is not a URL"), "{r:?}");
    assert!(r.stderr.contains("Domo's is https://api.domo.com"), "{r:?}");
}

#[test]
fn all_goes_on_past_a_failing_dataset_and_fails_at_the_end() {
    let domo = FakeDomo::start(&[(ORDERS, orders()), (RETURNS, returns())]);
    let dir = Dir::new();
    catalog(&dir);
    let mut text = std::fs::read_to_string(dir.path().join("config/domo_datasets.yaml")).unwrap();
    text += &format!(
        "  - name: \"Broken\"\n    domo_dataset_id: \"{BROKEN}\"\n    minio_dataset_id: \"broken\"\n    enabled: true\n"
    );
    text += "  - name: \"Off\"\n    domo_dataset_id: \"c1cddf9d-0000-4000-8000-000000000004\"\n    minio_dataset_id: off\n    enabled: false\n";
    dir.write("config/domo_datasets.yaml", text);

    let r = run(with_domo(dir.etl().args(["load-domo", "--all", "--log-format", "json"]), &domo));
    assert_eq!(r.code, 1, "{r:?}");
    let summary = summary_of(&r);
    let datasets = summary["datasets"].as_array().unwrap();
    let by_name: Vec<(&str, &str, u64)> = datasets
        .iter()
        .map(|d| (d["name"].as_str().unwrap(), d["status"].as_str().unwrap(), d["rows"].as_u64().unwrap()))
        .collect();
    assert_eq!(by_name, [("Orders (first time)", "ok", 4), ("Returns", "ok", 2), ("Broken", "failed", 0)]);
    assert!(datasets[2]["error"].as_str().unwrap().contains("HTTP 404"), "{r:?}");
    assert_eq!(summary["status"], "failed");
    assert!(dir.lake_keys().contains(&"datasets/returns/data/part-0000.parquet".to_owned()));
    assert_eq!(read_orders(&dir).height(), 4);
    assert!(!dir
        .lake_keys()
        .iter()
        .any(|k| k.starts_with("datasets/broken/") || k.starts_with("datasets/off/")));

    // The text form: a table, then the summary line.
    let r = run(with_domo(dir.etl().args(["load-domo", "--all"]), &domo));
    assert_eq!(r.code, 1, "{r:?}");
    let table_line = r.stderr.lines().find(|l| l.starts_with("Broken")).expect("a table row");
    assert!(table_line.contains("broken") && table_line.contains("failed"), "{r:?}");
    assert!(r.stderr.contains("1 of 3 datasets failed: \"Broken\""), "{r:?}");
}

#[test]
fn config_errors_are_reported_before_any_request() {
    let domo = FakeDomo::start(&[(ORDERS, orders())]);
    let dir = Dir::new();
    catalog(&dir);
    let text = std::fs::read_to_string(dir.path().join("config/domo_datasets.yaml")).unwrap();
    let cases = [
        (
            text.replace("partition_column: null", "partiton_column: null"),
            "entry 2 (\"Returns\"), line 15: unknown field `partiton_column`",
        ),
        (
            text.replace("    minio_dataset_id: \"returns\"\n", ""),
            "entry 2 (\"Returns\"), line 12: missing field `minio_dataset_id`",
        ),
        (text.replace("\"returns\"", "\"orders\""), "its minio_dataset_id `orders` is also that of entry 1"),
        (
            text.replace("\"Returns\"", "\"Orders (first time)\""),
            "its name `Orders (first time)` is also that of entry 1",
        ),
        (
            text.replace("\"returns\"", "\"../returns\""),
            "entry 2 (\"Returns\"), field `minio_dataset_id`: invalid dataset id",
        ),
        (text.replace(RETURNS, "returns"), "entry 2 (\"Returns\"), field `domo_dataset_id`"),
    ];
    for (yaml, expected) in cases {
        dir.write("config/domo_datasets.yaml", &yaml);
        let r = run(with_domo(dir.etl().args(["load-domo", "--all"]), &domo));
        assert_eq!(r.code, 2, "{r:?}");
        let error = r.stderr.lines().find(|l| l.starts_with("error: config/domo_datasets.yaml: entry 2"));
        assert!(error.is_some_and(|e| e.contains(expected)), "expected {expected:?} in {r:?}");
    }
    let r = run(with_domo(dir.etl().args(["load-domo", "--all", "--config", "nope.yaml"]), &domo));
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("nope.yaml: no such file"), "{r:?}");
    assert!(domo.seen().is_empty(), "no request may be made: {:?}", domo.seen());
}

#[test]
fn list_needs_no_credentials_and_shows_no_secret() {
    let dir = Dir::new();
    catalog(&dir);
    let r = ok(dir.etl().args(["load-domo", "--list"]).env("DOMO_CLIENT_SECRET", CLIENT_SECRET));
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert!(
        lines[0].starts_with("NAME") && lines[0].contains("DOMO ID") && lines[0].contains("ENABLED"),
        "{r:?}"
    );
    assert!(lines[1].starts_with("Orders (first time)") && lines[1].contains(ORDERS), "{r:?}");
    assert!(lines[1].contains("delivery completed date") && lines[1].contains("yes"), "{r:?}");
    assert!(lines[2].starts_with("Returns") && lines[2].contains(" - "), "{r:?}");
    assert!(!r.stdout.contains(CLIENT_SECRET) && !r.stderr.contains(CLIENT_SECRET));
}

#[test]
fn dry_run_prints_the_plan_and_writes_nothing() {
    let domo = FakeDomo::start(&[(ORDERS, orders())]);
    let dir = Dir::new();
    catalog(&dir);
    let r = ok(with_domo(dir.etl().args(["load-domo", "--dataset", "orders", "--dry-run"]), &domo));
    for expected in [
        "schema (7 columns)",
        "updated",
        "Datetime(us, UTC)",
        "rows: 5 read, 1 excluded by the filter, 4 to write",
        "partitions: 3",
        "datasets/orders/partitions/date=2026-10-01/part-0000.parquet  (2 rows",
        "would delete nothing",
    ] {
        assert!(r.stdout.contains(expected), "{expected:?} missing from {r:?}");
    }
    assert!(dir.lake_keys().is_empty(), "{:?}", dir.lake_keys());
    assert_eq!(domo.count(&orders_path("/data")), 1);
}

#[test]
fn secrets_and_tokens_never_reach_the_logs() {
    let domo = FakeDomo::start(&[(ORDERS, orders())]);
    let dir = Dir::new();
    catalog(&dir);
    domo.fault(&orders_path("/data"), Fault::RevokeTokens);
    let r = ok(with_domo(dir.etl().args(["load-domo", "--dataset", "orders", "-vvv"]), &domo));
    assert!(r.stderr.contains("access token was refused"), "{r:?}");
    assert!(!r.stderr.contains(CLIENT_SECRET), "{r:?}");
    assert!(!r.stderr.contains("token-1-"), "the token leaked: {r:?}");
}

#[test]
fn a_domo_load_reads_back_from_s3() {
    let Some(s3) = s3_env() else { return };
    let domo = FakeDomo::start(&[(ORDERS, orders()), (RETURNS, returns())]);
    let dir = Dir::new();
    catalog(&dir);
    let target = s3.target("domo");
    ok(s3.apply(with_domo(dir.etl().args(["load-domo", "--all", "--target", &target]), &domo)));
    let rt = runtime();
    rt.block_on(async {
        let store = s3.store(&target).await;
        let keys = data_keys(store.as_ref(), "datasets/").await;
        assert_eq!(
            keys,
            [
                "datasets/orders/partitions/date=2026-10-01/part-0000.parquet",
                "datasets/orders/partitions/date=2026-10-02/part-0000.parquet",
                "datasets/orders/partitions/date=__HIVE_DEFAULT_PARTITION__/part-0000.parquet",
                "datasets/returns/data/part-0000.parquet",
            ]
        );
        let df = read_parquet_bytes(
            store.get("datasets/orders/partitions/date=2026-10-01/part-0000.parquet").await.unwrap(),
        );
        assert_eq!(i64s(&df, "order_id"), [Some(1), Some(2)]);
        assert_eq!(dtype(&df, "updated"), DataType::Datetime(TimeUnit::Microseconds, Some(TimeZone::UTC)));
        let df = read_parquet_bytes(store.get("datasets/returns/data/part-0000.parquet").await.unwrap());
        assert_eq!(strings(&df, "reason"), [Some("damaged".into()), Some("late".into())]);
    });
}

#[test]
fn a_signal_ends_a_retry_wait_at_once() {
    let domo = FakeDomo::start(&[(ORDERS, orders())]);
    let dir = Dir::new();
    catalog(&dir);
    domo.fault(&orders_path("/data"), Fault::Status(429, Some(60)));
    let child = with_domo(dir.etl().args(["load-domo", "--dataset", "orders"]), &domo)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    while domo.count(&orders_path("/data")) == 0 {
        assert!(started.elapsed().as_secs() < 30, "the export was never asked for");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    std::thread::sleep(std::time::Duration::from_millis(200));
    let sent = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(sent.success());
    let waited = std::time::Instant::now();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(waited.elapsed().as_secs() < 5, "the 60 s Retry-After was waited out: {stderr}");
    assert_eq!(out.status.code(), Some(143), "{stderr}");
    assert_eq!(domo.count(&orders_path("/data")), 1);
    assert!(dir.lake_keys().iter().all(|k| !k.starts_with("datasets/orders/")), "{:?}", dir.lake_keys());
}
