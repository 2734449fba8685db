use polars::prelude::*;

use crate::util::*;

#[test]
fn a_table_is_typed_by_postgres_and_partitioned() {
    let Some(server) = pg_url() else { return };
    let url = pg_database(&server, "types");
    pg_exec(
        &url,
        r#"
        CREATE TABLE "Orders" (
            id int8, small int2, name text, price numeric(10, 2), ratio float8, paid bool,
            day date, at timestamptz, local timestamp, tags text[], meta jsonb, uid uuid, code text,
            scores int4[], days date[]
        );
        SET TimeZone = 'Asia/Tokyo';
        INSERT INTO "Orders" VALUES
            (1, 2, 'NA', 12.50, 0.5, true, '2026-11-01', '2026-11-01 09:00:00+09', '2026-11-01 09:00:00',
             '{a,b}', '{"k": [1, 2]}', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '007', '{1,NULL,3}',
             '{2026-01-01}'),
            (2, NULL, 'it''s', 99999999.99, NULL, false, NULL, '2026-11-02 23:30:00+00', NULL,
             '{}', NULL, NULL, NULL, '{}', NULL),
            (3, -3, NULL, NULL, 1e300, NULL, '1999-12-31', NULL, NULL, NULL, 'null', NULL, '', NULL, NULL);
        "#,
    );
    let dir = Dir::new();
    let r = ok(dir.etl().env("DATABASE_URL", &url).args([
        "load-postgres",
        "--table",
        r#""Orders""#,
        "--dataset-id",
        "orders",
        "--partition-col",
        "at",
    ]));
    assert!(r.stderr.contains("3 rows read, 3 rows written, 3 partitions"), "{r:?}");
    let keys = dir.lake_keys();
    assert!(
        keys.contains(&"datasets/orders/partitions/date=2026-11-01/part-0000.parquet".to_owned()),
        "{keys:?}"
    );
    assert!(
        keys.contains(&"datasets/orders/partitions/date=2026-11-02/part-0000.parquet".to_owned()),
        "{keys:?}"
    );

    let mut df = read_parquet(&dir.lake("datasets/orders/partitions/date=2026-11-01/part-0000.parquet"));
    for more in ["date=2026-11-02", "date=__HIVE_DEFAULT_PARTITION__"] {
        df.vstack_mut(&read_parquet(
            &dir.lake(&format!("datasets/orders/partitions/{more}/part-0000.parquet")),
        ))
        .unwrap();
    }
    assert_eq!(dtype(&df, "id"), DataType::Int64);
    assert_eq!(dtype(&df, "small"), DataType::Int64);
    assert_eq!(dtype(&df, "ratio"), DataType::Float64);
    assert_eq!(dtype(&df, "paid"), DataType::Boolean);
    assert_eq!(dtype(&df, "day"), DataType::Date);
    assert_eq!(dtype(&df, "at"), DataType::Datetime(TimeUnit::Microseconds, Some(TimeZone::UTC)));
    assert_eq!(dtype(&df, "local"), DataType::Datetime(TimeUnit::Microseconds, None));
    assert_eq!(i64s(&df, "id"), vec![Some(1), Some(2), Some(3)]);
    assert_eq!(strings(&df, "name"), vec![Some("NA".into()), Some("it's".into()), None], "text stays text");
    assert_eq!(dtype(&df, "price"), DataType::Decimal(38, 2));
    let price = df.column("price").unwrap().cast(&DataType::String).unwrap();
    let price: Vec<Option<&str>> = price.str().unwrap().iter().collect();
    assert_eq!(price, [Some("12.50"), Some("99999999.99"), None]);
    assert_eq!(bools(&df, "paid"), vec![Some(true), Some(false), None]);
    // 09:00 in Tokyo is 00:00 UTC; the naive timestamp is kept as written.
    assert_eq!(micros(&df, "at")[0], Some(utc(2026, 11, 1, 0, 0, 0, 0)));
    assert_eq!(micros(&df, "local")[0], Some(utc(2026, 11, 1, 9, 0, 0, 0)));
    // Arrays of numbers and text are lists; of other types, their JSON text.
    assert_eq!(dtype(&df, "tags"), DataType::List(Box::new(DataType::String)));
    assert_eq!(dtype(&df, "scores"), DataType::List(Box::new(DataType::Int64)));
    let scores = df.column("scores").unwrap().list().unwrap().clone();
    let first: Vec<Option<i64>> = scores.get_as_series(0).unwrap().i64().unwrap().iter().collect();
    assert_eq!(first, [Some(1), None, Some(3)]);
    assert_eq!(scores.get_as_series(1).unwrap().len(), 0, "an empty array is an empty list");
    assert!(scores.get_as_series(2).is_none(), "a null array is null");
    let tags = df.column("tags").unwrap().list().unwrap().get_as_series(0).unwrap();
    let tags: Vec<Option<&str>> = tags.str().unwrap().iter().collect();
    assert_eq!(tags, [Some("a"), Some("b")]);
    assert_eq!(strings(&df, "days")[0].as_deref(), Some(r#"["2026-01-01"]"#));
    assert_eq!(strings(&df, "meta")[0].as_deref(), Some(r#"{"k": [1, 2]}"#));
    assert_eq!(strings(&df, "uid")[0].as_deref(), Some("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"));
    assert_eq!(strings(&df, "code")[0].as_deref(), Some("007"), "a text column of digits stays text");
    assert_eq!(f64s(&df, "ratio")[2], Some(1e300));
}

#[test]
fn incremental_reads_only_new_rows() {
    let Some(server) = pg_url() else { return };
    let url = pg_database(&server, "incr");
    pg_exec(
        &url,
        "CREATE TABLE events (id int, updated_at timestamptz);
         INSERT INTO events VALUES (1, '2026-11-01T10:00:00Z'), (2, '2026-11-02T10:00:00Z');",
    );
    let dir = Dir::new();
    let load = |dir: &Dir| {
        let mut cmd = dir.etl();
        cmd.args([
            "load-postgres",
            "--url",
            &url,
            "--query",
            "SELECT id, updated_at FROM events WHERE id > 0;",
            "--dataset-id",
            "events",
            "--incremental-column",
            "updated_at",
        ]);
        ok(&mut cmd)
    };
    let r = load(&dir);
    assert!(r.stderr.contains("2 rows written"), "{r:?}");
    pg_exec(&url, "INSERT INTO events VALUES (3, '2026-11-03T10:00:00Z')");
    let r = load(&dir);
    assert!(r.stderr.contains("1 row written"), "{r:?}");
    let r = load(&dir);
    assert!(r.stderr.contains("nothing new after updated_at"), "{r:?}");
    let mut ids: Vec<i64> = Vec::new();
    for key in dir.lake_keys().iter().filter(|k| k.ends_with(".parquet")) {
        ids.extend(i64s(&read_parquet(&dir.lake(key)), "id").into_iter().flatten());
    }
    ids.sort();
    assert_eq!(ids, [1, 2, 3], "each row once");
}

#[test]
fn updated_rows_and_a_window_read_again_leave_one_row_per_key() {
    let Some(server) = pg_url() else { return };
    let url = pg_database(&server, "upsert");
    pg_exec(
        &url,
        "CREATE TABLE orders (id int, status text, updated_at timestamptz);
         INSERT INTO orders VALUES (1, 'new', '2026-11-01T10:00:00Z'), (2, 'new', '2026-11-02T10:00:00Z');",
    );
    let dir = Dir::new();
    let load = |dataset: &str, query: &str, extra: &[&str]| {
        ok(dir
            .etl()
            .args(["load-postgres", "--url", &url, "--query", query, "--dataset-id", dataset])
            .args(["--primary-key", "id"])
            .args(extra))
    };
    let rows = |dataset: &str| {
        let mut rows = Vec::new();
        for key in dir
            .lake_keys()
            .iter()
            .filter(|k| k.starts_with(&format!("datasets/{dataset}/")) && k.ends_with(".parquet"))
        {
            let df = read_parquet(&dir.lake(key));
            rows.extend(
                i64s(&df, "id")
                    .into_iter()
                    .zip(strings(&df, "status"))
                    .map(|(i, s)| (i.unwrap(), s.unwrap())),
            );
        }
        rows.sort();
        rows
    };
    // Incremental: an order updated upstream replaces its old version.
    let all = "SELECT id, status, updated_at FROM orders";
    load("orders", all, &["--incremental-column", "updated_at"]);
    pg_exec(&url, "UPDATE orders SET status = 'shipped', updated_at = '2026-11-03T10:00:00Z' WHERE id = 1");
    let r = load("orders", all, &["--incremental-column", "updated_at"]);
    assert!(r.stderr.contains("upsert by id: 0 inserted, 1 updated"), "{r:?}");
    assert_eq!(rows("orders"), [(1, "shipped".into()), (2, "new".into())]);
    // The same window read twice (a re-run after a failure, overlapping windows): no row twice.
    let window = "SELECT id, status, updated_at FROM orders WHERE updated_at >= '2026-11-02'";
    load("window", window, &["--partition-col", "updated_at"]);
    load("window", window, &["--partition-col", "updated_at"]);
    assert_eq!(rows("window"), [(1, "shipped".into()), (2, "new".into())]);
}

#[test]
fn errors_name_the_problem_and_never_the_password() {
    let Some(url) = pg_url() else { return };
    let password =
        url.split_once("://").unwrap().1.split_once('@').unwrap().0.split_once(':').unwrap().1.to_owned();
    let dir = Dir::new();
    let fail = |args: &[&str]| {
        let r = run(dir.etl().arg("-vv").arg("load-postgres").args(args).args(["--dataset-id", "x"]));
        assert_eq!(r.code, 1, "{r:?}");
        assert!(!r.stderr.contains(&password), "the password is never printed: {r:?}");
        r
    };
    let r = fail(&["--url", &url, "--table", "no_such_table"]);
    assert!(r.stderr.contains("no_such_table") && r.stderr.contains("does not exist"), "{r:?}");
    let r = fail(&["--url", &url, "--query", "SELEKT 1"]);
    assert!(r.stderr.contains("syntax error"), "{r:?}");
    // A wrong password is refused by the server, and not printed either.
    let wrong = url.replacen(&password, "pw-secret-7", 1);
    let r = fail(&["--url", &wrong, "--query", "SELECT 1"]);
    assert!(r.stderr.contains("password authentication failed"), "{r:?}");
    assert!(!r.stderr.contains("pw-secret-7"), "{r:?}");
    fail(&["--url", "postgres://etl@127.0.0.1:9/x", "--query", "SELECT 1"]);
    // The URL may come from a variable a job names.
    let r = run(dir.etl().env("SHOP_DB", &url).args([
        "load-postgres",
        "--url-env",
        "SHOP_DB",
        "--query",
        "SELECT 1 AS one",
        "--dataset-id",
        "one",
    ]));
    assert_eq!(r.code, 0, "{r:?}");
    assert!(!r.stderr.contains(&password), "{r:?}");
    assert_eq!(dir.lake_keys().iter().filter(|k| k.ends_with(".parquet")).count(), 1);
}

#[test]
fn sslmode_require_encrypts_and_disable_does_not() {
    let Some(url) = pg_url() else { return };
    let dir = Dir::new();
    // The server's own view of this connection: its certificate is self-signed, and require does
    // not verify it (as libpq).
    let query = "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()";
    for (mode, encrypted) in [("require", true), ("disable", false)] {
        let dataset = format!("ssl-{mode}");
        ok(dir.etl().args([
            "load-postgres",
            "--url",
            &format!("{url}?sslmode={mode}"),
            "--query",
            query,
            "--dataset-id",
            &dataset,
        ]));
        let df = read_parquet(&dir.lake(&format!("datasets/{dataset}/data/part-0000.parquet")));
        assert_eq!(bools(&df, "ssl"), vec![Some(encrypted)], "sslmode={mode}");
    }
}

#[test]
fn the_rows_read_the_same_whatever_the_server_defaults_and_a_failing_copy_writes_nothing() {
    let Some(server) = pg_url() else { return };
    let url = pg_database(&server, "styles");
    let db = url.rsplit('/').next().unwrap().to_owned();
    // Defaults that change how COPY writes values: the session the tool opens sets its own.
    pg_exec(
        &url,
        &format!(
            r#"ALTER DATABASE {db} SET DateStyle = 'SQL, DMY';
            ALTER DATABASE {db} SET TimeZone = 'America/New_York';
            ALTER DATABASE {db} SET extra_float_digits = -3;
            CREATE TABLE t (at timestamptz, local timestamp, day date, x float8);
            INSERT INTO t VALUES ('2026-11-01 09:00:00.123456+09', '2026-11-01 09:00:00.5', '2026-03-04', 0.1::float8 + 0.2::float8);"#
        ),
    );
    let dir = Dir::new();
    let load = |table: &str, id: &str| {
        run(dir.etl().env("DATABASE_URL", &url).args(["load-postgres", "--table", table, "--dataset-id", id]))
    };
    let r = load("t", "t");
    assert_eq!(r.code, 0, "{r:?}");
    let df = read_parquet(&dir.lake("datasets/t/data/part-0000.parquet"));
    assert_eq!(micros(&df, "at"), [Some(utc(2026, 11, 1, 0, 0, 0, 123_456))]);
    assert_eq!(micros(&df, "local"), [Some(utc(2026, 11, 1, 9, 0, 0, 500_000))]);
    assert_eq!(days(&df, "day"), [Some(etl::transform::calendar::days_from_civil(2026, 3, 4))]);
    assert_eq!(f64s(&df, "x"), [Some(0.1 + 0.2)], "every digit of a float");
    // A value with no place on the time line is refused with its row, never misread.
    pg_exec(&url, "CREATE TABLE inf (at timestamptz); INSERT INTO inf VALUES ('2026-01-01'), ('infinity')");
    let r = load("inf", "inf");
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stderr.contains("infinity"), "{r:?}");
    // A query that fails after rows have streamed (and been typed): its own error, nothing written.
    let r = run(dir.etl().env("DATABASE_URL", &url).args([
        "load-postgres",
        "--query",
        "SELECT id, 1 / (id - 300000) AS q FROM generate_series(1, 400000) AS id",
        "--dataset-id",
        "broken",
    ]));
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stderr.contains("division by zero"), "{r:?}");
    assert!(!dir.lake_keys().iter().any(|k| k.starts_with("datasets/broken/")), "{:?}", dir.lake_keys());
    assert!(!dir.lake_keys().iter().any(|k| k.starts_with("datasets/inf/")), "{:?}", dir.lake_keys());
}

#[test]
fn a_large_table_is_read_over_two_connections_in_one_snapshot() {
    let Some(server) = pg_url() else { return };
    let url = pg_database(&server, "halves");
    pg_exec(
        &url,
        "CREATE TABLE big (id int8, day date, note text);
         INSERT INTO big SELECT i, DATE '2026-11-01' + (i % 30), 'row ' || i FROM generate_series(1, 50000) AS i;",
    );
    let dir = Dir::new();
    let load = |extra: &[&str]| {
        let mut cmd = dir.etl();
        // Every table counts as large here: two connections, each half of its pages.
        cmd.env("DATABASE_URL", &url).env("ETL_PG_PARALLEL_PAGES", "2").args([
            "-v",
            "load-postgres",
            "--table",
            "big",
        ]);
        run(cmd.args(extra))
    };
    let r = load(&["--dataset-id", "big", "--partition-col", "day"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stderr.contains("50,000 rows read, 50,000 rows written, 30 partitions"), "{r:?}");
    assert!(r.stderr.contains("big is read over two connections in one snapshot"), "{r:?}");
    let r = ok(dir.etl().args(["inspect", "big", "--json"]));
    let m: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(m["rows"], 50_000);
    // Each id once: the halves neither overlap nor miss a row.
    let mut ids: Vec<i64> = Vec::new();
    for key in dir.lake_keys().iter().filter(|k| k.starts_with("datasets/big/") && k.ends_with(".parquet")) {
        ids.extend(i64s(&read_parquet(&dir.lake(key)), "id").into_iter().flatten());
    }
    ids.sort();
    assert_eq!(ids, (1..=50_000).collect::<Vec<i64>>());
    // The halves' batches take turns in the same order on every run: the same bytes again.
    let r = load(&["--dataset-id", "big", "--partition-col", "day"]);
    assert!(r.stderr.contains("30 unchanged (not uploaded)"), "{r:?}");
    // Incremental over halves: only what is new, each once.
    let r = load(&["--dataset-id", "inc", "--incremental-column", "id"]);
    assert_eq!(r.code, 0, "{r:?}");
    pg_exec(
        &url,
        "INSERT INTO big SELECT i, DATE '2026-12-01', 'late' FROM generate_series(50001, 50100) AS i",
    );
    let r = load(&["--dataset-id", "inc", "--incremental-column", "id"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stderr.contains("100 rows read"), "{r:?}");
    // A check that fetches the rows it refuses reads the rows a second time (spooled on the first).
    pg_exec(&url, "INSERT INTO big VALUES (7, DATE '2026-11-08', 'again')");
    let r = load(&["--dataset-id", "checked", "--check", "unique: [id]", "--log-format", "json"]);
    assert_eq!(r.code, 65, "{r:?}");
    let s = summary_of(&r);
    let rejects = dir.lake(&format!("datasets/checked/_rejects/{}.csv", s["run_id"].as_str().unwrap()));
    let rejects = std::fs::read_to_string(rejects).unwrap();
    assert!(rejects.contains(",unique(id),7,2026-11-08,again"), "{rejects}");
    assert_eq!(rejects.lines().count(), 2, "{rejects}");
}

#[test]
fn a_binary_copy_writes_what_a_csv_copy_writes_for_every_type_it_reads() {
    let Some(server) = pg_url() else { return };
    let url = pg_database(&server, "binary");
    pg_exec(
        &url,
        r#"
        CREATE TABLE v (
            id int8, small int2, mid int4, o oid, f4 float4, f8 float8, b bool, d date,
            ts timestamp, tz timestamptz, t text, vc varchar(20), c char(5), n name, num numeric(12, 3),
            u uuid, j json, jb jsonb, xs int4[], ws text[]
        );
        INSERT INTO v VALUES
            (1, -32768, 2147483647, 4294967295, 0.1, 0.1::float8 + 0.2::float8, true, '1999-12-31',
             '1969-07-20 20:17:40.000001', '2000-01-01 00:00:00+00', E'say "hi", then\nleave', 'a,b', 'ab',
             'name', -12.345, 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{"a": 1}', '{"b": [1, 2]}', '{1,NULL}',
             '{"x,y",""}'),
            (2, 0, -1, 0, '-0', 1e300, false, '2026-11-01', '2026-11-01 09:00:00.5',
             '2261-12-31 23:59:59.999999+00', '', '', '', '', 0, NULL, 'null', '[]', '{}', '{}'),
            (-9223372036854775808, NULL, NULL, NULL, 3.4028235e38, -1.5e-7, NULL, NULL, NULL, NULL, NULL,
             NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
        CREATE TYPE mood AS ENUM ('sad', 'ok');
        CREATE DOMAIN qty AS int8 CHECK (VALUE >= 0);
        CREATE DOMAIN price AS numeric(10, 2);
        CREATE TABLE other (id int8, addr inet, m mood, q qty, p price, span interval, t time, raw bytea);
        INSERT INTO other VALUES (1, '10.0.0.1', 'ok', 7, 12.5, '1 day 02:00:00', '23:59:59.5', '\x00ff'),
            (2, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
        CREATE TABLE bc (d date);
        INSERT INTO bc VALUES ('2026-01-01'), ('0044-03-15 BC');
        "#,
    );
    let dir = Dir::new();
    let load_with = |table: &str, id: &str, format: &str, extra: &[&str]| {
        run(dir
            .etl()
            .env("DATABASE_URL", &url)
            .env("ETL_PG_COPY_FORMAT", format)
            .args(["-v", "load-postgres", "--table", table, "--dataset-id", id])
            .args(extra))
    };
    let load = |table: &str, id: &str, format: &str| load_with(table, id, format, &[]);
    let binary = load("v", "binary", "");
    assert_eq!(binary.code, 0, "{binary:?}");
    assert!(binary.stderr.contains("copying the rows in binary"), "{binary:?}");
    let csv = load("v", "csv", "csv");
    assert_eq!(csv.code, 0, "{csv:?}");
    assert!(csv.stderr.contains("copying the rows as CSV (ETL_PG_COPY_FORMAT=csv)"), "{csv:?}");
    let file = |id: &str| std::fs::read(dir.lake(&format!("datasets/{id}/data/part-0000.parquet"))).unwrap();
    assert!(file("binary") == file("csv"), "the same bytes either way");
    let df = read_parquet(&dir.lake("datasets/binary/data/part-0000.parquet"));
    assert_eq!(i64s(&df, "id"), [Some(1), Some(2), Some(i64::MIN)]);
    assert_eq!(i64s(&df, "o"), [Some(4_294_967_295), Some(0), None]);
    assert_eq!(f64s(&df, "f4"), [Some(0.1), Some(-0.0), Some(3.4028235e38)], "a float4 as its shortest text");
    assert!(f64s(&df, "f4")[1].unwrap().is_sign_negative(), "-0 keeps its sign (as CSV too)");
    assert_eq!(f64s(&df, "f8"), [Some(0.1 + 0.2), Some(1e300), Some(-1.5e-7)]);
    assert_eq!(micros(&df, "ts")[0], Some(utc(1969, 7, 20, 20, 17, 40, 1)));
    assert_eq!(micros(&df, "tz")[1], Some(utc(2261, 12, 31, 23, 59, 59, 999_999)));
    // An empty string reads as null, like NULL (as documented for this source).
    assert_eq!(strings(&df, "t"), [Some("say \"hi\", then\nleave".into()), None, None]);
    assert_eq!(strings(&df, "c")[0].as_deref(), Some("ab   "), "char(n) keeps its padding");
    assert_eq!(strings(&df, "jb")[0].as_deref(), Some(r#"{"b": [1, 2]}"#));
    assert_eq!(strings(&df, "u")[0].as_deref(), Some("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"));
    // Types without a binary form read here are their own text (as a CSV COPY writes it); a domain
    // is typed by its type, an enum is its label.
    let r = load("other", "other", "");
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stderr.contains("copying the rows in binary"), "{r:?}");
    let r = load("other", "other_csv", "csv");
    assert_eq!(r.code, 0, "{r:?}");
    assert!(file("other") == file("other_csv"), "the same bytes either way");
    let df = read_parquet(&dir.lake("datasets/other/data/part-0000.parquet"));
    assert_eq!(strings(&df, "addr"), [Some("10.0.0.1".into()), None], "inet's output, not inet::text");
    assert_eq!(strings(&df, "m"), [Some("ok".into()), None]);
    assert_eq!(i64s(&df, "q"), [Some(7), None], "a domain over int8 is Int64");
    assert_eq!(df.column("p").unwrap().dtype(), &DataType::Decimal(38, 2));
    assert_eq!(strings(&df, "span")[0].as_deref(), Some("1 day 02:00:00"));
    assert_eq!(strings(&df, "t")[0].as_deref(), Some("23:59:59.5"));
    assert_eq!(strings(&df, "raw")[0].as_deref(), Some("\\x00ff"));
    // Typed columns pinned by --types to other types read the server's own text of each value.
    let types = "f8=string,f4=string,ts=string,tz=datetime_utc,b=string,mid=float64,d=string,o=string";
    for (id, format) in [("typed", ""), ("typed_csv", "csv")] {
        let r = load_with("v", id, format, &["--types", types]);
        assert_eq!(r.code, 0, "{r:?}");
    }
    assert!(file("typed") == file("typed_csv"), "the same bytes either way");
    let df = read_parquet(&dir.lake("datasets/typed/data/part-0000.parquet"));
    assert_eq!(
        strings(&df, "f8"),
        [Some("0.30000000000000004".into()), Some("1e+300".into()), Some("-1.5e-07".into())]
    );
    assert_eq!(strings(&df, "ts")[0].as_deref(), Some("1969-07-20 20:17:40.000001"));
    // A date BC is refused with its row the same way, in the same words.
    let refusals: Vec<String> = ["", "csv"]
        .iter()
        .map(|format| {
            let r = load("bc", "bc", format);
            assert_eq!(r.code, 1, "{r:?}");
            r.stderr.lines().find(|l| l.contains("0044-03-15 BC")).expect("named").to_owned()
        })
        .collect();
    assert!(refusals[0].contains(":3"), "{refusals:?}");
    assert_eq!(refusals[0].split_once("error").map(|p| p.1), refusals[1].split_once("error").map(|p| p.1));
}

#[test]
fn a_value_a_typed_column_cannot_hold_fails_with_its_row_as_the_text_would() {
    // Typed straight from the binary COPY, batch after batch; one timestamp deep in the table is
    // `infinity` (its column is text for that batch only), and a column's name has spaces around it.
    let Some(server) = pg_url() else { return };
    let url = pg_database(&server, "typed_rows");
    pg_exec(
        &url,
        r#"CREATE TABLE t (id int8, at timestamptz, x float8, " code " text);
           INSERT INTO t SELECT i, TIMESTAMPTZ '2026-01-01 00:00:00+00' + i * INTERVAL '1 second',
                  i / 4.0, (i % 7)::text FROM generate_series(1, 150000) AS i;
           UPDATE t SET at = 'infinity' WHERE id = 100000;"#,
    );
    let dir = Dir::new();
    let load = |id: &str, format: &str| {
        run(dir.etl().env("DATABASE_URL", &url).env("ETL_PG_COPY_FORMAT", format).args([
            "load-postgres",
            "--query",
            "SELECT * FROM t ORDER BY id",
            "--dataset-id",
            id,
        ]))
    };
    let refusals: Vec<String> = [("typed", ""), ("as_csv", "csv")]
        .iter()
        .map(|(id, format)| {
            let r = load(id, format);
            assert_eq!(r.code, 1, "{r:?}");
            r.stderr.lines().find(|l| l.starts_with("error:")).expect("an error").to_owned()
        })
        .collect();
    // The row is named by the line it has in the server's CSV (the header is line 1), in the same
    // words either way, and nothing is written.
    assert!(refusals[0].contains(":100001: column `at`: \"infinity\" is not"), "{refusals:?}");
    assert_eq!(refusals[0], refusals[1]);
    assert!(!dir.lake_keys().iter().any(|k| k.ends_with(".parquet")), "{:?}", dir.lake_keys());
    pg_exec(&url, "UPDATE t SET at = NULL WHERE id = 100000");
    for (id, format) in [("typed", ""), ("as_csv", "csv")] {
        let r = load(id, format);
        assert_eq!(r.code, 0, "{r:?}");
        assert!(r.stderr.contains("150,000 rows written"), "{r:?}");
    }
    let file = |id: &str| std::fs::read(dir.lake(&format!("datasets/{id}/data/part-0000.parquet"))).unwrap();
    assert!(file("typed") == file("as_csv"), "the same bytes either way");
    let df = read_parquet(&dir.lake("datasets/typed/data/part-0000.parquet"));
    assert_eq!(micros(&df, "at")[0], Some(utc(2026, 1, 1, 0, 0, 1, 0)));
    assert_eq!(micros(&df, "at")[99_999], None);
    assert_eq!(f64s(&df, "x")[149_999], Some(37_500.0));
    // Pinned by its name as the reader cleans it: text, though its values look like numbers.
    assert_eq!(df.column("code").unwrap().dtype(), &DataType::String);
    assert_eq!(strings(&df, "code")[0].as_deref(), Some("1"));
    // A row of nulls only is a row, whatever its width (the server's CSV of it is an empty line).
    for (id, query) in [
        ("nulls", "SELECT NULL::int8 AS a, NULL::text AS b UNION ALL SELECT 1, 'x'"),
        ("null", "SELECT NULL::int8 AS a UNION ALL SELECT 2"),
    ] {
        let r = run(dir.etl().env("DATABASE_URL", &url).args([
            "load-postgres",
            "--query",
            query,
            "--dataset-id",
            id,
        ]));
        assert_eq!(r.code, 0, "{r:?}");
        assert!(r.stderr.contains("2 rows read, 2 rows written"), "{r:?}");
    }
}

#[test]
fn sigterm_cancels_a_long_query_at_once_on_the_server_too() {
    // A scheduler stopping its task waits a grace period (Kubernetes: 30 s), then kills: a query
    // that runs for minutes must not keep the run, nor the server, busy until it ends.
    let Some(url) = pg_url() else { return };
    let dir = Dir::new();
    for (mode, marker) in [("disable", 4101), ("require", 4102)] {
        let query = format!("SELECT pg_sleep(120), {marker} AS marker");
        let child = dir
            .etl()
            .args([
                "load-postgres",
                "--url",
                &format!("{url}?sslmode={mode}"),
                "--query",
                &query,
                "--dataset-id",
                "slow",
            ])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let running = |marker: i32| {
            runtime().block_on(async {
                let (client, connection) =
                    tokio_postgres::connect(&url, tokio_postgres::NoTls).await.unwrap();
                tokio::spawn(connection);
                let sql = format!(
                    "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(120), {marker}%' \
                     AND state = 'active' AND pid <> pg_backend_pid()"
                );
                client.query_one(&sql, &[]).await.unwrap().get::<_, i64>(0)
            })
        };
        let started = std::time::Instant::now();
        while running(marker) == 0 {
            assert!(
                started.elapsed() < std::time::Duration::from_secs(30),
                "{mode}: the query never started"
            );
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        stopped_by_sigterm(child, mode);
        // The server was asked to cancel it: it does not run on for two minutes.
        let cancelled = std::time::Instant::now();
        while running(marker) > 0 {
            assert!(cancelled.elapsed() < std::time::Duration::from_secs(10), "{mode}: the query runs on");
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        assert!(dir.keys_but_runs().is_empty(), "{mode}: {:?}", dir.all_lake_keys());
        assert_eq!(dir.run_statuses("slow").last().map(String::as_str), Some("cancelled"), "{mode}");
    }
}
