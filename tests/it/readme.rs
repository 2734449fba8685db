//! The README's and the docs' examples, run: every fenced block of README.md and of every page under
//! docs/ is either executed here (shell commands through `bash`, with `etl` on the PATH; YAML
//! catalogs and job files loaded by the tool; the SQL read by DuckDB) or checked against what it
//! describes (the synopsis against clap's definition, the layout against `load::layout`). A block
//! this file does not know fails the test, so that no page can grow an example nobody runs; a page
//! this file does not read fails too, and so does a link between pages that leads nowhere.
//!
//! The README's example hosts stand for the test's servers, swapped in by name (each swap is
//! checked to apply): `https://api.example.com` for a fake REST API, `db.example.com` for the test
//! PostgreSQL, the `exports` and `lake` buckets for prefixes of the test S3 bucket, Domo's ids for a
//! fake Domo. `cargo run --locked --` is the built binary (cargo cannot run inside its own test).

use std::path::Path;

use clap::CommandFactory;
use serde_json::json;

use crate::fake_api::{FakeApi, Response};
use crate::fake_domo::{FakeDataset, FakeDomo};
use crate::util::*;

/// The README and every page under docs/ (`every_page_is_read_here` finds any other).
const PAGES: &[(&str, &str)] = &[
    ("README.md", include_str!("../../README.md")),
    ("docs/README.md", include_str!("../../docs/README.md")),
    ("docs/architecture.md", include_str!("../../docs/architecture.md")),
    ("docs/catalogs-and-jobs.md", include_str!("../../docs/catalogs-and-jobs.md")),
    ("docs/checks.md", include_str!("../../docs/checks.md")),
    ("docs/commands.md", include_str!("../../docs/commands.md")),
    ("docs/configuration.md", include_str!("../../docs/configuration.md")),
    ("docs/csv-and-types.md", include_str!("../../docs/csv-and-types.md")),
    ("docs/delta.md", include_str!("../../docs/delta.md")),
    ("docs/development.md", include_str!("../../docs/development.md")),
    ("docs/modes-and-layout.md", include_str!("../../docs/modes-and-layout.md")),
    ("docs/monitoring.md", include_str!("../../docs/monitoring.md")),
    ("docs/performance.md", include_str!("../../docs/performance.md")),
    ("docs/run-records.md", include_str!("../../docs/run-records.md")),
    ("docs/scaling.md", include_str!("../../docs/scaling.md")),
    ("docs/scheduling.md", include_str!("../../docs/scheduling.md")),
    ("docs/sources.md", include_str!("../../docs/sources.md")),
];

/// A fenced block: its page, its language, its first line's number, its text.
struct Block {
    page: &'static str,
    lang: String,
    line: usize,
    text: String,
}

fn blocks() -> Vec<Block> {
    let mut out = Vec::new();
    for (page, text) in PAGES {
        let mut open: Option<Block> = None;
        for (i, line) in text.lines().enumerate() {
            match (line.strip_prefix("```"), open.take()) {
                (Some(lang), None) => {
                    open =
                        Some(Block { page, lang: lang.trim().to_owned(), line: i + 1, text: String::new() })
                }
                (Some(_), Some(block)) => out.push(block),
                (None, Some(mut block)) => {
                    block.text += line;
                    block.text.push('\n');
                    open = Some(block);
                }
                (None, None) => {}
            }
        }
        assert!(open.is_none(), "{page} has a fence that never closes");
    }
    out
}

#[test]
fn every_page_is_read_here() {
    let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs");
    let mut pages = vec![];
    let mut folders = vec![docs];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                folders.push(path);
            } else if path.extension().is_some_and(|e| e == "md") {
                pages.push(path.strip_prefix(env!("CARGO_MANIFEST_DIR")).unwrap().display().to_string());
            }
        }
    }
    for page in pages {
        assert!(
            PAGES.iter().any(|(p, _)| *p == page),
            "{page}: a page whose examples no test runs; add it to PAGES"
        );
    }
}

/// GitHub's anchor of a heading: lower case, punctuation dropped, spaces as hyphens.
fn anchor(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | ' '))
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

#[test]
fn every_link_between_pages_leads_somewhere() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let anchors = |text: &str| -> Vec<String> {
        let mut fenced = false;
        text.lines()
            .filter(|l| {
                fenced ^= l.starts_with("```");
                !fenced && l.starts_with('#')
            })
            .map(|l| anchor(l.trim_start_matches('#')))
            .collect()
    };
    let mut checked = 0;
    for (page, text) in PAGES {
        let folder = Path::new(page).parent().unwrap();
        for (_, rest) in text.match_indices("](").map(|(i, _)| text.split_at(i + 2)) {
            let Some(end) = rest.find(')') else { continue };
            let target = &rest[..end];
            if target.starts_with("http") || target.contains(' ') {
                continue;
            }
            let (path, fragment) = target.split_once('#').unwrap_or((target, ""));
            let file = if path.is_empty() { root.join(page) } else { root.join(folder).join(path) };
            assert!(file.exists(), "{page}: the link `{target}` leads to no file");
            if !fragment.is_empty() {
                let text = std::fs::read_to_string(&file).unwrap();
                assert!(
                    anchors(&text).contains(&fragment.to_owned()),
                    "{page}: the link `{target}` leads to no heading"
                );
            }
            checked += 1;
        }
    }
    assert!(checked > 40, "the links were found: {checked}");
}

/// `text` with each `(from, to)` swapped; each must occur, so that a README edit cannot make a swap
/// silently miss (and the example run against the internet).
fn swapped(text: &str, swaps: &[(&str, &str)]) -> String {
    let mut out = text.to_owned();
    for (from, to) in swaps {
        assert!(out.contains(from), "README example no longer holds `{from}`:\n{text}");
        out = out.replace(from, to);
    }
    out
}

/// Runs a README shell block with bash in `dir`, in a clean environment but `env`, with `etl` on
/// the PATH.
fn shell(dir: &Dir, script: &str, env: &[(String, String)]) -> Run {
    let bin = dir.etl_on_path();
    let mut bash = std::process::Command::new("bash");
    bash.current_dir(dir.path())
        .stdin(std::process::Stdio::null())
        .env_clear()
        .env("PATH", format!("{}:/usr/local/bin:/usr/bin:/bin", bin.display()))
        .env("HOME", dir.path())
        .envs(env.iter().map(|(k, v)| (k, v)))
        .args(["-c", &format!("set -euo pipefail\n{script}")]);
    run(&mut bash)
}

/// A fake of the README's orders API: bearer `token`, records under `data.items`, two pages by a
/// cursor under `meta.next_cursor`, and only records after `updated_since` when it is sent.
fn orders_api(token: &'static str) -> FakeApi {
    FakeApi::start(move |r, _| {
        if r.header("authorization") != Some(&format!("Bearer {token}")) {
            return Response::status(401, r#"{"error":"no token"}"#);
        }
        let all = [
            json!({"id": 1, "status": "paid", "created_at": "2026-11-01T09:00:00Z", "updated_at": "2026-11-01T09:00:00Z"}),
            json!({"id": 2, "status": "open", "created_at": "2026-11-02T10:00:00Z", "updated_at": "2026-11-02T10:00:00Z"}),
            json!({"id": 3, "status": "paid", "created_at": "2026-11-02T11:00:00Z", "updated_at": "2026-11-03T08:00:00Z"}),
        ];
        let since = r.param("updated_since").unwrap_or("");
        let fresh: Vec<_> =
            all.iter().filter(|o| o["updated_at"].as_str().unwrap() > since).cloned().collect();
        let (items, next) = match r.param("cursor") {
            None => (fresh.iter().take(2).cloned().collect::<Vec<_>>(), (fresh.len() > 2).then_some("p2")),
            Some(_) => (fresh.iter().skip(2).cloned().collect(), None),
        };
        Response::json(json!({"data": {"items": items}, "meta": {"next_cursor": next}}))
    })
}

/// The README block that starts with `start`.
pub fn block_starting_with(start: &str) -> String {
    block_starting(&blocks(), start)
}

fn block_starting(blocks: &[Block], start: &str) -> String {
    let found: Vec<&Block> = blocks.iter().filter(|b| b.text.starts_with(start)).collect();
    assert_eq!(found.len(), 1, "one block of the README and docs/ starts with `{start}`");
    found[0].text.clone()
}

#[test]
fn every_block_of_the_readme_is_known_here() {
    // Each block, by how it starts, and the test below that runs or checks it.
    let known = [
        ("cargo install --locked --path .", "the_install_command_installs_the_etl_binary"),
        ("cargo run --locked -- load-cursor-usage", "the_set_up_commands_run"),
        ("bash scripts/test.sh", "the_set_up_commands_run"),
        ("etl upload-csv <csv_file>", "the_synopsis_names_only_real_options"),
        ("datasets:\n  - name: \"APAC DOT", "the_domo_catalog_loads_from_a_fake_domo"),
        ("schedule: \"0 6 * * *\"", "the_job_file_runs_every_job"),
        (
            "etl schedule export jobs.yaml --to k8s-cronjob",
            "the_readme_job_file_exports_valid_units_for_every_scheduler",
        ),
        ("API_TOKEN=... etl load-api", "the_api_example_loads_and_then_only_what_is_new"),
        ("DATABASE_URL='postgres://reader@db.example.com", "the_postgres_example_loads_a_table"),
        ("etl load-s3 --source", "the_s3_example_loads_a_drop_folder"),
        ("datasets/<id>/data/part-0000.parquet", "the_layout_is_the_layout"),
        ("etl upload-csv orders.csv --dataset-id orders", "the_upsert_example_keeps_one_row_per_key"),
        ("etl upload-csv day1.csv --dataset-id events", "the_left_out_example_keeps_the_layout"),
        ("checks:\n  - not_null: [Date, Kind]", "the_checks_example_judges_the_sample_export"),
        ("SELECT * FROM read_parquet('lake/datasets/cursor-usage", "the_set_up_commands_run"),
        ("etl upload-csv data_sources/team-usage-events-2026-11-01.csv", "the_first_load_runs"),
        ("0 6 * * * cd /srv/etl", "the_cron_line_runs"),
        ("etl upload-csv export.csv --dataset-id usage", "the_scaling_examples_are_valid"),
        ("  - name: usage\n    dataset_id: usage\n", "the_scaling_examples_are_valid"),
        ("head -n 101 data_sources/team-usage-events-2026-11-01.csv", "the_delta_examples_run"),
        ("import polars as pl\nfrom deltalake import DeltaTable", "the_delta_examples_run"),
        ("SELECT count(*) FROM delta_scan(", "the_delta_examples_run"),
        ("etl compact usage", "the_delta_examples_run"),
        ("etl status --stale-after 26h", "the_monitoring_examples_run"),
        ("groups:\n  - name: etl\n", "the_monitoring_examples_run"),
        ("OPENLINEAGE_URL=http://marquez:5000", "the_monitoring_examples_run"),
        ("2026-12-06T06:00:02.412907Z error:", "the_monitoring_examples_run"),
        // docs/architecture.md's picture of a load: nothing to run.
        ("source ──(extract)──▶", "none: a diagram"),
        (" load ─▶ remember ─▶ lock", "none: a diagram"),
    ];
    let blocks = blocks();
    for block in &blocks {
        assert!(
            known.iter().any(|(start, _)| block.text.starts_with(start)),
            "{} line {}: a ```{} block that no test runs; add it to tests/it/readme.rs:\n{}",
            block.page,
            block.line,
            block.lang,
            block.text
        );
    }
    for (start, test) in known {
        assert!(
            blocks.iter().any(|b| b.text.starts_with(start)),
            "{test}: the README and docs/ lost the block `{start}`"
        );
    }
}

#[test]
fn the_set_up_commands_run() {
    let blocks = blocks();
    // The README itself keeps them (and the install command and the read-back), not a page of docs/.
    for start in
        ["cargo install --locked --path .", "cargo run --locked --", "bash scripts/test.sh", "SELECT * FROM"]
    {
        assert!(
            blocks.iter().any(|b| b.page == "README.md" && b.text.starts_with(start)),
            "README.md lost `{start}`"
        );
    }
    let dir = Dir::new();
    sample_exports(&dir);
    // The main job on the embedded default: the sample export into ./lake.
    let main =
        swapped(&block_starting(&blocks, "cargo run --locked --"), &[("cargo run --locked --", "etl")]);
    let r = shell(&dir, &main, &[]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stderr.contains("etl load-cursor-usage: ok: 240 rows read, 240 rows written"), "{r:?}");
    // The README's DuckDB query reads it, from the same folder.
    let sql = block_starting(&blocks, "SELECT * FROM read_parquet(");
    let probe = std::process::Command::new("python3").args(["-c", "import duckdb"]).output();
    if probe.is_ok_and(|o| o.status.success()) {
        let script = format!("import duckdb\nprint(len(duckdb.sql({:?}).fetchall()))", sql.trim());
        let out = std::process::Command::new("python3")
            .args(["-c", &script])
            .current_dir(dir.path())
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "240");
    } else {
        assert!(
            std::env::var("ETL_REQUIRE_DUCKDB").is_err(),
            "ETL_REQUIRE_DUCKDB is set but `import duckdb` fails"
        );
    }
    // The test command is what CI runs (and what runs this test).
    let test = block_starting(&blocks, "bash scripts/test.sh");
    let ci = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(".ci/run")).unwrap();
    assert!(ci.contains(test.trim()), ".ci/run does not run the README's test command `{}`", test.trim());
}

#[test]
fn the_synopsis_names_only_real_options() {
    let synopsis = block_starting(&blocks(), "etl upload-csv <csv_file>");
    let root = etl::cli::Cli::command();
    let globals: Vec<String> =
        root.get_arguments().filter_map(|a| a.get_long().map(|l| format!("--{l}"))).collect();
    let mut command: Option<&clap::Command> = None;
    for line in synopsis.lines() {
        if let Some(rest) = line.strip_prefix("etl ") {
            let mut words = rest.split_whitespace();
            let name = words.next().unwrap();
            let found = root.find_subcommand(name).unwrap_or_else(|| panic!("no command `{name}`: {line}"));
            // `etl schedule export`: a command's own subcommand.
            command = Some(words.next().and_then(|w| found.find_subcommand(w)).unwrap_or(found));
        }
        let command = command.expect("the synopsis starts with a command");
        let flags =
            line.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-')).filter(|w| w.starts_with("--"));
        for flag in flags {
            let known = command.get_arguments().any(|a| a.get_long() == Some(&flag[2..]))
                || globals.iter().any(|g| g == flag);
            assert!(known, "README synopsis: `etl {}` has no {flag}", command.get_name());
        }
    }
    // Every command is in the synopsis (but the ones that only print clap's definition).
    for sub in root.get_subcommands().map(|s| s.get_name()) {
        if !["completions", "man", "help"].contains(&sub) {
            assert!(
                synopsis.contains(&format!("etl {sub} ")) || synopsis.contains(&format!("etl {sub}\n")),
                "the synopsis lacks `etl {sub}`"
            );
        }
    }
}

#[test]
fn the_domo_catalog_loads_from_a_fake_domo() {
    let catalog = block_starting(&blocks(), "datasets:\n  - name: \"APAC DOT");
    let domo = FakeDomo::start(&[(
        "c1cddf9d-0000-0000-0000-000000000000",
        FakeDataset {
            columns: vec![("delivery completed date", "DATE"), ("exclude_flg", "STRING"), ("zip", "STRING"), ("amount", "DOUBLE")],
            csv: "delivery completed date,exclude_flg,zip,amount\n2026-11-01,Not Exclude,01234,1.5\n2026-11-01,Exclude,02134,2\n2026-11-02,Not Exclude,10001,3\n".into(),
        },
    )]);
    let dir = Dir::new();
    dir.write("config/domo_datasets.yaml", &catalog);
    let env: Vec<(String, String)> = domo.env().into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
    let r = shell(&dir, "etl load-domo --list\netl load-domo --all", &env);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stdout.contains("APAC DOT join Due Date change(first time)"), "{r:?}");
    let day =
        read_parquet(&dir.lake("datasets/apac-dot-due-date/partitions/date=2026-11-01/part-0000.parquet"));
    // The filter kept `Not Exclude` rows only; `zip` pinned to string keeps its leading zero.
    assert_eq!(strings(&day, "zip"), [Some("01234".to_owned())]);
    assert!(dir.lake("datasets/apac-dot-due-date/partitions/date=2026-11-02/part-0000.parquet").exists());
}

#[test]
fn the_job_file_runs_every_job() {
    let (Some(s3), Some(pg)) = (s3_env(), pg_url()) else { return };
    let jobs = block_starting(&blocks(), "schedule: \"0 6 * * *\"");
    let api = orders_api("orders-token");
    let domo = FakeDomo::start(&[(
        "3f2a4c1e-0000-4000-8000-000000000001",
        FakeDataset {
            columns: vec![("region", "STRING"), ("total", "DOUBLE")],
            csv: "region,total\nEU,10.5\nUS,20\n".into(),
        },
    )]);
    let url = pg_database(&pg, "readme_jobs");
    pg_exec(&url, "CREATE TABLE public.customers (id int, name text, updated_at timestamptz); INSERT INTO public.customers VALUES (1, 'Ada', '2026-11-01 10:00+00'), (2, 'Grace', '2026-11-02 11:00+00')");
    let exports = format!("s3://{}/readme-{}/exports", s3.bucket, std::process::id());
    runtime().block_on(async {
        let store = s3.store(&exports).await;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        std::io::Write::write_all(&mut gz, b"sku,qty\nA-1,2\nB-2,5\n").unwrap();
        store.put("drops/2026-11-30.csv.gz", gz.finish().unwrap()).await.unwrap();
    });
    let jobs = swapped(
        &jobs,
        &[
            ("https://api.example.com/v1/orders", &format!("{}/v1/orders", api.url)),
            ("s3://exports/", &format!("{exports}/")),
        ],
    );
    let dir = Dir::new();
    sample_exports(&dir);
    dir.write("jobs.yaml", &jobs);
    let mut env: Vec<(String, String)> = domo.env().into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
    env.extend(s3.vars.iter().cloned());
    env.push(("ORDERS_TOKEN".into(), "orders-token".into()));
    env.push(("DATABASE_URL".into(), url));
    let r = shell(&dir, "etl run jobs.yaml --list\netl run jobs.yaml --all --target lake", &env);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stderr.contains("5 datasets"), "{r:?}");
    let keys = dir.lake_keys();
    for key in [
        "datasets/cursor-usage/partitions/date=2026-10-21/part-0000.parquet",
        "datasets/orders/partitions/date=2026-11-02/part-0000.parquet",
        "datasets/drops/data/part-0000.parquet",
        "datasets/sales/data/part-0000.parquet",
        "datasets/customers/data/part-0000.parquet",
    ] {
        assert!(keys.contains(&key.to_owned()), "{key} missing: {keys:?}");
    }
    // The usage job's checks pass on the sample export (nothing to compare its row count with yet).
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.lake("datasets/cursor-usage/_manifest.json")).unwrap())
            .unwrap();
    assert_eq!(check_verdicts(&manifest), SHIPPED_CHECKS_ON_THE_SAMPLE);
    assert_eq!(read_parquet(&dir.lake("datasets/drops/data/part-0000.parquet")).height(), 2);
    assert_eq!(read_parquet(&dir.lake("datasets/customers/data/part-0000.parquet")).height(), 2);
}

#[test]
fn the_api_example_loads_and_then_only_what_is_new() {
    let command = block_starting(&blocks(), "API_TOKEN=... etl load-api");
    let api = orders_api("readme-token");
    let command = swapped(
        &command,
        &[
            ("API_TOKEN=...", "API_TOKEN=readme-token"),
            ("https://api.example.com/v1/orders", &format!("{}/v1/orders", api.url)),
        ],
    );
    let dir = Dir::new();
    let r = shell(&dir, &command, &[]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stderr.contains("3 rows written"), "{r:?}");
    assert_eq!(api.to("/v1/orders").len(), 2, "two pages, by the cursor");
    // Again: the checkpoint is sent as the since parameter, and nothing new comes.
    let r = shell(&dir, &command, &[]);
    assert_eq!(r.code, 0, "{r:?}");
    let last = api.to("/v1/orders").pop().unwrap();
    assert_eq!(last.param("updated_since"), Some("2026-11-03T08:00:00Z"), "{last:?}");
    assert!(dir.lake("datasets/orders/partitions/date=2026-11-01/part-0000.parquet").exists());
}

#[test]
fn the_postgres_example_loads_a_table() {
    let Some(pg) = pg_url() else { return };
    let command = block_starting(&blocks(), "DATABASE_URL='postgres://reader@db.example.com");
    let url = pg_database(&pg, "readme_orders");
    pg_exec(&url, "CREATE TABLE public.orders (id int, created_at timestamptz, updated_at timestamptz); INSERT INTO public.orders VALUES (1, '2026-11-01 09:00+00', '2026-11-01 09:00+00'), (2, '2026-11-02 10:00+00', '2026-11-02 12:00+00')");
    let command = swapped(&command, &[("postgres://reader@db.example.com/shop?sslmode=require", &url)]);
    let dir = Dir::new();
    let r = shell(&dir, &command, &[]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stderr.contains("2 rows written, 2 partitions"), "{r:?}");
    // Again: the checkpoint holds, nothing new.
    let r = shell(&dir, &command, &[]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(!r.stderr.contains(&url), "the URL's password is never printed: {r:?}");
}

#[test]
fn the_s3_example_loads_a_drop_folder() {
    let Some(s3) = s3_env() else { return };
    let command = block_starting(&blocks(), "etl load-s3 --source");
    let root = format!("s3://{}/readme-s3-{}", s3.bucket, std::process::id());
    let sample =
        std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/data_sources/team-usage-events-2026-11-01.csv"))
            .unwrap();
    runtime()
        .block_on(async { s3.store(&root).await.put("exports/usage/2026-11-01.csv", sample).await.unwrap() });
    let command = swapped(
        &command,
        &[
            ("s3://exports/", &format!("{root}/exports/")),
            ("--target s3://lake", &format!("--target {root}/lake")),
        ],
    );
    let dir = Dir::new();
    let r = shell(&dir, &command, &s3.vars);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stderr.contains("240 rows written, 11 partitions"), "{r:?}");
    // Polled again by cron: the object was loaded, nothing to do.
    let r = shell(&dir, &command, &s3.vars);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stderr.contains("nothing new"), "{r:?}");
}

#[test]
fn the_layout_is_the_layout() {
    use etl::load::layout::{DatasetId, Partition, HIVE_NULL_PARTITION};
    let layout = block_starting(&blocks(), "datasets/<id>/data/part-0000.parquet");
    let id = DatasetId::parse("x").unwrap();
    let shown = |key: String| key.replacen("datasets/x/", "datasets/<id>/", 1);
    let day = etl::transform::values::DateFormat::Iso.parse(b"2026-11-30").unwrap();
    for key in [
        shown(id.file_key(&Partition::Unpartitioned, 0)),
        shown(id.file_key(&Partition::Day(day), 0)).replace("2026-11-30", "YYYY-MM-DD"),
        shown(id.folder(&Partition::Null)),
        shown(id.rejects_key("<run-id>")),
        shown(id.state_key()),
    ] {
        assert!(layout.contains(&key), "README layout lacks `{key}`:\n{layout}");
    }
    assert!(layout.contains(HIVE_NULL_PARTITION));
}

#[test]
fn the_upsert_example_keeps_one_row_per_key() {
    let command = block_starting(&blocks(), "etl upload-csv orders.csv --dataset-id orders");
    let dir = Dir::new();
    dir.write("orders.csv", "id,created_at,status\n1,2026-11-01T09:00:00Z,new\n2,2026-11-01T10:00:00Z,new\n");
    let r = shell(&dir, &format!("{} --target lake", command.trim()), &[]);
    assert_eq!(r.code, 0, "{r:?}");
    // Order 2 shipped (and was re-dated), order 3 is new.
    dir.write(
        "orders.csv",
        "id,created_at,status\n2,2026-11-02T08:00:00Z,shipped\n3,2026-11-02T09:00:00Z,new\n",
    );
    let r = shell(&dir, &format!("{} --target lake", command.trim()), &[]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stderr.contains("upsert by id: 1 inserted, 1 updated (1 moved to another day)"), "{r:?}");
    let day =
        |d: &str| read_parquet(&dir.lake(&format!("datasets/orders/partitions/date={d}/part-0000.parquet")));
    assert_eq!(i64s(&day("2026-11-01"), "id"), [Some(1)]);
    assert_eq!(strings(&day("2026-11-02"), "status"), [Some("shipped".into()), Some("new".into())]);
}

/// The install command, checked against what it builds (a run would take a release build of its
/// own): the package's one binary is `etl`, from `src/main.rs`, and `--locked` has a lock file.
#[test]
fn the_install_command_installs_the_etl_binary() {
    let command = block_starting(&blocks(), "cargo install --locked --path .");
    assert_eq!(command, "cargo install --locked --path .\n");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let manifest: toml_like::Manifest = toml_like::read(&root.join("Cargo.toml"));
    assert_eq!(manifest.bins, [("etl".to_owned(), "src/main.rs".to_owned())]);
    assert!(root.join("Cargo.lock").is_file(), "--locked needs Cargo.lock");
}

/// Just enough of Cargo.toml for the install check: the `[[bin]]` tables' names and paths.
mod toml_like {
    pub struct Manifest {
        pub bins: Vec<(String, String)>,
    }

    pub fn read(path: &std::path::Path) -> Manifest {
        let text = std::fs::read_to_string(path).unwrap();
        let mut bins = Vec::new();
        let mut in_bin = false;
        let mut current = (String::new(), String::new());
        for line in text.lines().map(str::trim) {
            if line.starts_with('[') {
                if in_bin {
                    bins.push(std::mem::take(&mut current));
                }
                in_bin = line == "[[bin]]";
                continue;
            }
            let value = |l: &str| l.split_once('=').map(|(_, v)| v.trim().trim_matches('"').to_owned());
            if in_bin && line.starts_with("name") {
                current.0 = value(line).unwrap_or_default();
            } else if in_bin && line.starts_with("path") {
                current.1 = value(line).unwrap_or_default();
            }
        }
        if in_bin {
            bins.push(current);
        }
        Manifest { bins }
    }
}

#[test]
fn the_left_out_example_keeps_the_layout() {
    let commands = block_starting(&blocks(), "etl upload-csv day1.csv --dataset-id events");
    let dir = Dir::new();
    dir.write("day1.csv", "id,day,v\n1,2026-01-01,a\n2,2026-01-02,b\n");
    dir.write("day2.csv", "id,day,v\n2,2026-01-02,B\n3,2026-01-03,c\n");
    dir.write(
        "jobs.yaml",
        "jobs:\n  - name: events\n    dataset_id: events\n    source: {kind: csv, path: day1.csv}\n",
    );
    let r = shell(&dir, &commands, &[]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        r.stderr.contains(
            "partitioned by `day`, as events is (--partition-col left out); rows upserted by the primary \
             key (id), as events is (--primary-key left out)"
        ),
        "{r:?}"
    );
    assert!(r.stderr.contains("1 inserted, 1 updated"), "{r:?}");
    assert!(r.stdout.contains("etl run exited 2"), "{r:?}");
    let days: Vec<String> = dir.lake_keys();
    assert_eq!(days.len(), 3, "{days:?}");
    assert!(days.iter().all(|k| k.contains("/partitions/date=")), "{days:?}");
}

#[test]
fn the_checks_example_judges_the_sample_export() {
    let checks = block_starting(&blocks(), "checks:\n  - not_null: [Date, Kind]");
    let indented: String = checks.lines().map(|l| format!("    {l}\n")).collect();
    let dir = Dir::new();
    sample_exports(&dir);
    dir.write(
        "jobs.yaml",
        format!(
            "jobs:\n  - name: usage\n    dataset_id: cursor-usage\n    partition_column: Date\n    \
             types: {{Cost: money}}\n{indented}    source: {{kind: csv, source_dir: data_sources, \
             file_pattern: \"team-usage-events-*.csv\"}}\n"
        ),
    );
    // The sample export has 240 rows, not the 1,000 of `row_count`; two of its kinds are not in the
    // example's list; one cost is $1,234.56; and its newest event is weeks old.
    let r = run(dir.etl().args(["--log-format", "json", "run", "jobs.yaml", "--job", "usage"]));
    assert_eq!(r.code, 65, "{r:?}");
    let s = summary_of(&r);
    let verdicts = check_verdicts(&s);
    assert_eq!(
        verdicts,
        [
            "not_null(Date) passed",
            "not_null(Kind) passed",
            "unique(Date, User) passed",
            "accepted_values(Kind) failed",
            "range(Cost) failed",
            "range(Date) passed",
            "matches(User) passed",
            "row_count failed",
            "row_count_change skipped",
            "freshness(Date) failed",
            "columns passed"
        ],
        "{s}"
    );
}

#[test]
fn the_first_load_runs() {
    let dir = Dir::new();
    sample_exports(&dir);
    let script = block_starting(&blocks(), "etl upload-csv data_sources/team-usage-events-2026-11-01.csv");
    let r = shell(&dir, &script, &[]);
    assert_eq!(r.code, 0, "{r:?}");
    // The dry run prints its plan and writes nothing; the load writes; inspect shows it.
    assert!(r.stdout.contains("dry run: csv data_sources/team-usage-events-2026-11-01.csv"), "{r:?}");
    assert!(r.stderr.contains("etl upload-csv: dry-run: 240 rows read"), "{r:?}");
    assert!(r.stderr.contains("etl upload-csv: ok: 240 rows read, 240 rows written, 11 partitions"), "{r:?}");
    assert!(r.stdout.contains("dataset usage (") && r.stdout.contains("240 rows in 11 files"), "{r:?}");
    // What the README says of it: a second load of the same file changes nothing, and says so.
    let again = shell(&dir, script.lines().nth(1).unwrap(), &[]);
    assert_eq!(again.code, 0, "{again:?}");
    assert!(again.stderr.contains("unchanged"), "{again:?}");
}

#[test]
fn the_cron_line_runs() {
    let line = block_starting(&blocks(), "0 6 * * * cd /srv/etl");
    let fields: Vec<&str> = line.split_whitespace().collect();
    etl::schedule::cron::Cron::parse(&fields[..5].join(" ")).expect("a cron expression");
    let dir = Dir::new();
    sample_exports(&dir);
    dir.write(
        "jobs.yaml",
        "jobs:\n  - name: usage\n    dataset_id: cursor-usage\n    partition_column: Date\n    \
         source: {kind: csv, source_dir: data_sources, file_pattern: \"team-usage-events-*.csv\"}\n",
    );
    dir.write(".env", "ETL_TARGET=./lake\n");
    let log = dir.path().join("etl.log");
    let command = fields[5..].join(" ");
    let command = swapped(
        &command,
        &[("/srv/etl", &dir.path().display().to_string()), ("/var/log/etl.log", &log.display().to_string())],
    );
    // Cron runs the line with sh, from the home folder, with a bare PATH: etl where `cargo install`
    // puts it, in a home of the test's own.
    let home = Dir::new();
    std::fs::create_dir_all(home.path().join(".cargo")).unwrap();
    std::os::unix::fs::symlink(home.etl_on_path(), home.path().join(".cargo/bin")).unwrap();
    let r = run(std::process::Command::new("/bin/sh")
        .current_dir(home.path())
        .env_clear()
        .env("HOME", home.path())
        .env("PATH", "/usr/bin:/bin")
        .env("SHELL", "/bin/sh")
        .args(["-c", &command]));
    assert_eq!(r.code, 0, "{r:?}");
    let written = std::fs::read_to_string(&log).unwrap();
    assert!(written.contains("etl run: ok: 240 rows read, 240 rows written, 11 partitions"), "{written}");
    assert!(dir.lake("datasets/cursor-usage/_manifest.json").exists(), "{written}");
}

#[test]
fn the_scaling_examples_are_valid() {
    let blocks = blocks();
    let range = block_starting(&blocks, "etl upload-csv export.csv --dataset-id usage");
    let words: Vec<&str> = range.split_whitespace().filter(|w| *w != "\\").collect();
    <etl::cli::Cli as clap::Parser>::try_parse_from(&words).unwrap_or_else(|e| panic!("{range}: {e}"));
    let job = block_starting(&blocks, "  - name: usage\n    dataset_id: usage\n");
    let dir = Dir::new();
    dir.write("jobs.yaml", format!("jobs:\n{job}"));
    let r = ok(dir.etl().args(["run", "jobs.yaml", "--list"]));
    assert!(r.stdout.contains("usage"), "{r:?}");
}

#[test]
fn the_delta_examples_run() {
    let blocks = blocks();
    let dir = Dir::new();
    sample_exports(&dir);
    let make = block_starting(&blocks, "head -n 101 data_sources/team-usage-events-2026-11-01.csv");
    let r = shell(&dir, &make, &[]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        r.stderr.contains("240 rows written") && r.stderr.contains("committed version 0 of the Delta table"),
        "{r:?}"
    );
    assert!(
        r.stderr.contains("100 rows written") && r.stderr.contains("committed version 1 of the Delta table"),
        "{r:?}"
    );
    assert!(r.stdout.contains("Delta table: version 1"), "{r:?}");
    let python = block_starting(&blocks, "import polars as pl\nfrom deltalake import DeltaTable");
    let have = |python: &str, module: &str| {
        std::process::Command::new(python)
            .args(["-c", &format!("import {module}")])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if have("python3", "deltalake") {
        // (deltalake's threads may abort the interpreter's exit: the script's output is what counts.)
        let out = std::process::Command::new("python3")
            .args(["-c", &python])
            .current_dir(dir.path())
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(stdout.starts_with("100 240 140\n"), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(stdout.lines().count(), 3, "{stdout}");
        assert!(stdout.lines().nth(1).unwrap().starts_with("1 ") && stdout.contains(" 2026"), "{stdout}");
    } else {
        assert!(
            std::env::var("ETL_REQUIRE_READERS").is_err(),
            "ETL_REQUIRE_READERS is set but deltalake is missing"
        );
    }
    let duck = std::path::Path::new(&initial_env("HOME").unwrap_or_default())
        .join(".cache/etl-readers/duckdb144/bin/python");
    if have(duck.to_str().unwrap(), "duckdb_ext") {
        let sql = block_starting(&blocks, "SELECT count(*) FROM delta_scan(");
        let script = format!(
            "import duckdb, duckdb_ext, os\next = os.path.join(os.path.dirname(duckdb_ext.__path__[0]), 'duckdb_ext', 'extensions')\n\
             con = duckdb.connect(config={{'extension_directory': ext, 'autoinstall_known_extensions': False}})\n\
             con.execute('LOAD delta')\nprint(con.sql({:?}).fetchall()[0][0])",
            sql.trim()
        );
        let out =
            std::process::Command::new(&duck).args(["-c", &script]).current_dir(dir.path()).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "100");
    }
    // Keeping it in shape: cursor-usage is the main job's dataset (a Hive one, to convert).
    ok(dir.etl().args(["load-cursor-usage"]));
    let upkeep = block_starting(&blocks, "etl compact usage");
    let r = shell(&dir, &upkeep, &[]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stderr.contains("etl compact: ok: nothing to compact"), "{r:?}");
    assert!(
        r.stderr.contains("etl vacuum: dry-run: nothing to delete")
            || r.stderr.contains("etl vacuum: dry-run:"),
        "{r:?}"
    );
    assert!(r.stderr.contains("etl convert: ok: cursor-usage is now a Delta table"), "{r:?}");
    // Its record says which version it made.
    let runs = ok(dir.etl().args(["runs", "cursor-usage", "--json"]));
    let runs: Vec<serde_json::Value> = serde_json::from_str(&runs.stdout).unwrap();
    assert_eq!(
        (runs[0]["command"].as_str(), runs[0]["delta_version"].as_u64()),
        (Some("convert"), Some(0)),
        "{runs:?}"
    );
    assert_eq!(runs[1]["delta_version"], serde_json::Value::Null, "{runs:?}");
}

#[test]
fn the_monitoring_examples_run() {
    let blocks = blocks();
    let dir = Dir::new();
    sample_exports(&dir);
    dir.write("orders.csv", "id,total\n1,10.5\n2,20,x\n");
    dir.write(
        "jobs.yaml",
        "jobs:\n  - name: usage\n    dataset_id: cursor-usage\n    partition_column: Date\n    \
         source: {kind: csv, source_dir: data_sources, file_pattern: \"team-usage-events-*.csv\"}\n  \
         - name: nightly\n    dataset_id: orders\n    source: {kind: csv, path: orders.csv}\n",
    );
    let metrics = dir.path().join("metrics");
    // The lineage line, its server swapped for a receiver here: each job's START and end.
    let receiver = crate::monitoring::Receiver::start();
    let line = block_starting(&blocks, "OPENLINEAGE_URL=http://marquez:5000");
    let line = swapped(&line, &[("http://marquez:5000", &receiver.url)]);
    let metrics_env = ("ETL_METRICS_DIR".to_owned(), metrics.display().to_string());
    let r = shell(&dir, &line, &[metrics_env]);
    assert_eq!(r.code, 1, "the failing job fails the run: {r:?}");
    let events = receiver.take();
    let seen: std::collections::BTreeSet<(String, String)> = events
        .iter()
        .map(|e| (e["job"]["name"].as_str().unwrap().to_owned(), e["eventType"].as_str().unwrap().to_owned()))
        .collect();
    let want: std::collections::BTreeSet<(String, String)> =
        [("nightly", "START"), ("nightly", "FAIL"), ("usage", "START"), ("usage", "COMPLETE")]
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
    assert_eq!(seen, want, "{events:#?}");
    assert!(events.iter().all(|e| e["job"]["namespace"] == "nightly"));

    // The dated lines the page shows are what a failing job writes (times aside).
    let shown = block_starting(&blocks, "2026-12-06T06:00:02.412907Z error:");
    let (code, raw) = {
        let out = dir.etl().args(["run", "jobs.yaml", "--job", "nightly"]).output().unwrap();
        (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    assert_eq!(code, Some(1), "{raw}");
    for (page, got) in shown.lines().zip(raw.lines()) {
        let (page, got) = (format!("{page}\n"), format!("{got}\n"));
        let page = dated_at(&page).expect("a dated line on the page");
        let got = dated_at(&got).unwrap_or_else(|| panic!("an undated line: {got}"));
        // What the page leaves out: the rest of the error (` ...`), the seconds and the target.
        let head = page.split(" ...").next().unwrap().split(" after ").next().unwrap().trim_end();
        assert!(got.starts_with(head), "the page shows `{head}`, etl wrote `{got}`");
    }

    // etl status: one dataset failed, so exit 1, naming it.
    let status = block_starting(&blocks, "etl status --stale-after 26h");
    let r = shell(&dir, &status, &[]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stderr.contains("1 of 2 datasets needs a look: orders (failed)"), "{r:?}");
    assert!(r.stdout.contains("cursor-usage  ok "), "{r:?}");

    // The alert rules: valid for promtool, on metrics etl writes.
    let rules = block_starting(&blocks, "groups:\n  - name: etl\n");
    let file = dir.write("etl-rules.yml", &rules);
    if let Some(promtool) = initial_env("ETL_TEST_PROMTOOL") {
        let out = std::process::Command::new(promtool).args(["check", "rules"]).arg(&file).output().unwrap();
        assert!(
            out.status.success(),
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    } else {
        assert!(std::env::var("ETL_REQUIRE_MONITORING").is_err(), "no promtool: run scripts/test.sh");
    }
    let written = std::fs::read_to_string(metrics.join("etl-orders.prom")).unwrap();
    for name in ["etl_last_success_timestamp_seconds", "etl_last_run_success", "etl_publish_interrupted"] {
        assert!(rules.contains(name), "{name} in the rules");
        assert!(written.contains(&format!("\n{name}{{dataset=\"orders\"")), "{name} written: {written}");
    }
}
