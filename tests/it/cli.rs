use crate::util::*;

#[test]
fn help_lists_the_commands_and_exits_zero() {
    let dir = Dir::new();
    let r = ok(dir.etl().arg("--help"));
    for cmd in ["upload-csv", "load-cursor-usage", "clear-dataset", "--target", "--log-format"] {
        assert!(r.stdout.contains(cmd), "{cmd}: {r:?}");
    }
    let r = ok(dir.etl().args(["upload-csv", "--help"]));
    assert!(r.stdout.contains("--partition-col") && r.stdout.contains("--max-rows-per-file"), "{r:?}");
}

#[test]
fn bad_usage_exits_two() {
    let dir = Dir::new();
    assert_eq!(run(dir.etl().arg("no-such-command")).code, 2);
    assert_eq!(run(dir.etl().args(["upload-csv", "x.csv"])).code, 2, "--dataset-id is required");
    assert_eq!(
        run(dir.etl().args(["upload-csv", "x.csv", "--dataset-id", "x", "--target", "gs://b"])).code,
        2
    );
}

#[test]
fn json_logs_end_with_a_machine_readable_summary() {
    let dir = Dir::new();
    let csv = dir.write("a.csv", "n,at\n1,2026-01-01\n2,2026-01-02\n");
    let r = ok(dir.etl().args([
        "--log-format",
        "json",
        "upload-csv",
        csv.to_str().unwrap(),
        "--dataset-id",
        "a",
        "--partition-col",
        "at",
    ]));
    let last = r.stderr.lines().last().unwrap();
    let v: serde_json::Value = serde_json::from_str(last).unwrap();
    assert_eq!(v["event"], "summary");
    assert_eq!(v["summary"]["status"], "ok");
    assert_eq!(v["summary"]["rows_written"], 2);
    assert_eq!(v["summary"]["partitions"], 2);
    assert_eq!(v["summary"]["dataset"], "a");

    let r = run(dir.etl().args(["--log-format", "json", "upload-csv", "missing.csv", "--dataset-id", "a"]));
    let v: serde_json::Value = serde_json::from_str(r.stderr.lines().last().unwrap()).unwrap();
    assert_eq!(v["summary"]["status"], "failed");
    assert!(v["summary"]["error"].as_str().unwrap().contains("missing.csv"));
}

#[test]
fn a_malformed_env_file_is_reported_without_its_content() {
    let dir = Dir::new();
    dir.write(".env", "ETL_LOG_FORMAT=text\nDOMO_CLIENT_SECRET='never-print-this-secret\n");
    let r = run(dir.etl().args(["load-domo", "--list"]));
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("`.env` in the current folder: line 2 cannot be parsed"), "{r:?}");
    assert!(!r.stderr.contains("never-print-this-secret"), "{r:?}");
}

#[test]
fn print_config_masks_secrets() {
    let dir = Dir::new();
    dir.write(".env", "DOMO_CLIENT_SECRET=dotenv-secret-value\nETL_TARGET=./somewhere\n");
    let r = ok(dir
        .etl()
        .args(["--print-config", "load-domo", "--list"])
        .env("AWS_SECRET_ACCESS_KEY", "aws-secret-value")
        .env("AWS_REGION", "eu-west-1")
        .env("DATABASE_URL", "postgres://etl:pg-password@db/x"));
    for needle in [
        "command: load-domo",
        "target: ./somewhere",
        "AWS_REGION: eu-west-1",
        "AWS_SECRET_ACCESS_KEY: set (16 characters, masked)",
        "DOMO_CLIENT_SECRET: set (19 characters, masked)",
        "DATABASE_URL: set (",
    ] {
        assert!(r.stdout.contains(needle), "{needle:?} missing from {r:?}");
    }
    for secret in ["aws-secret-value", "dotenv-secret-value", "pg-password"] {
        assert!(!r.stdout.contains(secret) && !r.stderr.contains(secret), "{secret} leaked: {r:?}");
    }
}

#[test]
fn one_table_of_exit_codes_in_help_and_the_docs() {
    // Help text is wrapped to the terminal: compared with runs of white space as one space.
    let flat = |text: &str| text.split_whitespace().collect::<Vec<_>>().join(" ");
    let help = flat(&ok(Dir::new().etl().arg("--help")).stdout);
    let readme = include_str!("../../docs/commands.md");
    for (code, meaning) in etl::error::EXIT_CODES {
        assert!(help.contains(&flat(&format!("{code} {meaning}"))), "--help lacks exit code {code}:\n{help}");
        let row = format!("| {code} | {} |", meaning.replace('|', "\\|"));
        assert!(readme.contains(&row), "docs/commands.md lacks `{row}`");
    }
}

#[test]
fn exit_codes_agree_across_commands() {
    let dir = Dir::new();
    dir.write("events.csv", EVENTS_CSV);
    // No such dataset: the same usage error for `inspect` and `runs`, table or JSON.
    for args in [["inspect", "nosuch", ""], ["runs", "nosuch", ""], ["runs", "nosuch", "--json"]] {
        let args: Vec<&str> = args.into_iter().filter(|a| !a.is_empty()).collect();
        let r = run(dir.etl().args(&args));
        assert_eq!(r.code, 2, "{args:?}: {r:?}");
        assert!(r.stderr.contains("there is no dataset `nosuch`"), "{r:?}");
    }
    // A partition column the file does not have is bad usage, found from the header alone.
    let r =
        run(dir.etl().args(["upload-csv", "events.csv", "--dataset-id", "ev", "--partition-col", "nope"]));
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("partition column `nope`: no such column; the columns are: "), "{r:?}");
    assert!(dir.lake_keys().is_empty());
    assert_eq!(etl::Error::Cancelled.exit_code(), 0, "declining a confirmation is not a failure");
}

#[test]
fn a_reader_that_stops_reading_ends_the_command_quietly() {
    let dir = Dir::new();
    dir.write("events.csv", EVENTS_CSV);
    ok(dir.etl().args(["upload-csv", "events.csv", "--dataset-id", "ev"]));
    dir.write(
        "config/csv_datasets.yaml",
        "datasets:\n  - name: events\n    source_dir: .\n    file_pattern: \"events*.csv\"\n    minio_dataset_id: events\n",
    );
    for args in [
        vec!["runs", "ev"],
        vec!["runs", "ev", "--json"],
        vec!["inspect", "ev"],
        vec!["inspect", "ev", "--json"],
        vec!["load-csv", "--list"],
        vec!["--print-config", "runs", "ev"],
        vec!["upload-csv", "events.csv", "--dataset-id", "ev2", "--dry-run"],
    ] {
        // Standard output is a pipe whose reader is gone before the first write (`| head -0`).
        let mut child = dir
            .etl()
            .args(&args)
            .env("RUST_BACKTRACE", "1")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked") && !stderr.contains("Broken pipe"), "{args:?}: {stderr}");
    }
}

#[test]
fn logs_are_coloured_only_when_asked_or_on_a_terminal() {
    let dir = Dir::new();
    dir.write("events.csv", EVENTS_CSV);
    let args = ["-v", "upload-csv", "events.csv", "--dataset-id", "ev"];
    // stderr is a pipe here: no colour, unless asked for.
    let plain = ok(dir.etl().args(args));
    assert!(plain.stderr.contains("INFO") && !plain.stderr.contains('\x1b'), "{plain:?}");
    let forced = ok(dir.etl().env("CLICOLOR_FORCE", "1").args(args));
    assert!(forced.stderr.contains('\x1b'), "{forced:?}");
    let always = ok(dir.etl().args(["--color", "always"]).args(args));
    assert!(always.stderr.contains('\x1b'), "{always:?}");
    let never = ok(dir.etl().env("CLICOLOR_FORCE", "1").args(["--color", "never"]).args(args));
    assert!(!never.stderr.contains('\x1b'), "{never:?}");
}

/// Runs `etl args` in `dir` with stderr (and stdout) on a terminal: `script` gives it a pseudo-tty.
fn on_a_terminal(dir: &Dir, args: &str) -> String {
    let out = std::process::Command::new("script")
        .args(["-qec", &format!("COLUMNS=160 {} {args}", env!("CARGO_BIN_EXE_etl")), "/dev/null"])
        .current_dir(dir.path())
        .env_remove("ETL_TARGET")
        .output()
        .expect("script (util-linux) runs");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn progress_shows_bytes_rows_rate_and_time_left_on_a_terminal_only() {
    let dir = Dir::new();
    let mut text = String::from("day,kind,n\n");
    // Long enough (two seconds and more in a debug build) for a rate and a time left to be shown.
    for i in 0..1_000_000u32 {
        text += &format!("2026-11-{:02},k{},{i}\n", 1 + i % 28, i % 7);
    }
    dir.write("big.csv", text);
    let screen = on_a_terminal(&dir, "upload-csv big.csv --dataset-id big --partition-col day");
    // The dataset, the phase, rows, bytes of the total, the rate and the time left.
    let bar = screen
        .split(['\r', '\n'])
        .find(|l| l.contains("big typing and writing, ") && l.contains(" left"))
        .unwrap_or_else(|| panic!("{screen:?}"));
    for part in [" rows [", "MiB/", "B/s, ", " left"] {
        assert!(bar.contains(part), "{part:?} in {bar:?}");
    }
    assert!(screen.contains("etl upload-csv: ok: 1,000,000 rows read"), "{screen:?}");
    // Not on a pipe, nor with JSON logs on a terminal.
    let piped =
        ok(dir.etl().args(["upload-csv", "big.csv", "--dataset-id", "big2", "--partition-col", "day"]));
    assert!(!piped.stderr.contains('\x1b') && !piped.stderr.contains("rows ["), "{piped:?}");
    let json =
        on_a_terminal(&dir, "--log-format json upload-csv big.csv --dataset-id big3 --partition-col day");
    assert!(!json.contains("rows ["), "{json:?}");
    // Under --all, each dataset has a bar of its own, labelled with its dataset.
    dir.write("jobs.yaml", "jobs:\n  - name: one\n    dataset_id: one\n    partition_column: day\n    source: {kind: csv, path: big.csv}\n  - name: two\n    dataset_id: two\n    partition_column: day\n    source: {kind: csv, path: big.csv}\n");
    let screen = on_a_terminal(&dir, "run jobs.yaml --all --jobs 2");
    assert!(
        screen.contains("one typing and writing, ") && screen.contains("two typing and writing, "),
        "{screen:?}"
    );
    // A download of unknown size: a spinner with the bytes and records so far.
    let api = crate::fake_api::FakeApi::start(|r, _| {
        std::thread::sleep(std::time::Duration::from_millis(300));
        let page: u32 = r.param("page").and_then(|p| p.parse().ok()).unwrap_or(1);
        let items: Vec<_> =
            (0..if page <= 3 { 50 } else { 0 }).map(|i| serde_json::json!({"id": i})).collect();
        crate::fake_api::Response::json(serde_json::json!(items))
    });
    let screen =
        on_a_terminal(&dir, &format!("load-api --url {}/items --paginate page --dataset-id items", api.url));
    assert!(
        screen.contains("items ") && screen.contains(" downloading, ") && screen.contains(" rows "),
        "{screen:?}"
    );
}

#[test]
fn summaries_agree_with_what_happened() {
    let dir = Dir::new();
    dir.write("a.csv", "id,day\n1,2026-01-01\n2,2026-01-02\n3,2026-01-02\n");
    let load = ["upload-csv", "a.csv", "--dataset-id", "a", "--partition-col", "day"];
    ok(dir.etl().args(load));
    // A dry run of the same file: the plan and the summary give the same rows to write, and both
    // say the files are already in place; schema names are aligned.
    let r = ok(dir.etl().args(load).arg("--dry-run"));
    assert!(r.stdout.contains("rows: 3 read, 3 to write\n"), "{r:?}");
    assert!(r.stdout.contains("  id   Int64\n  day  Date\n"), "{r:?}");
    assert!(r.stdout.contains("would leave 2 files as they are (unchanged)"), "{r:?}");
    assert!(r.stderr.contains("dry-run: 3 rows read, 3 rows to write, 2 partitions, 2 files ("), "{r:?}");
    assert!(r.stderr.contains("2 unchanged (not uploaded)"), "{r:?}");
    // Unpartitioned: no partition count; one file, one row.
    dir.write("b.csv", "id\n1\n");
    let r = ok(dir.etl().args(["upload-csv", "b.csv", "--dataset-id", "b"]));
    assert!(r.stderr.contains(": ok: 1 row read, 1 row written, 1 file ("), "{r:?}");
    // A failure before any work: no row counts.
    let r = run(dir.etl().args(["inspect", "nosuch"]));
    assert!(r.stderr.contains("etl inspect: failed after ") && !r.stderr.contains("rows read"), "{r:?}");
    // A job run alone is the run's summary, and says which job ran as what.
    dir.write(
        "jobs.yaml",
        "jobs:\n  - name: bee\n    dataset_id: b\n    source: {kind: csv, path: b.csv}\n  - name: ay\n    dataset_id: a\n    partition_column: day\n    source: {kind: csv, path: a.csv}\n",
    );
    let r = ok(dir.etl().args(["run", "jobs.yaml", "--job", "bee"]));
    assert!(
        r.stderr.contains("etl run \"bee\": ok: 1 row read") && r.stderr.contains("; ran as upload-csv"),
        "{r:?}"
    );
    // Several jobs whose files are all in place already: the total says so.
    let r = ok(dir.etl().args(["run", "jobs.yaml", "--all"]));
    assert!(r.stderr.contains("3 unchanged (not uploaded)"), "{r:?}");
}

#[test]
fn every_option_of_every_command_says_what_it_does() {
    use clap::CommandFactory;
    let root = etl::cli::Cli::command();
    let mut missing = Vec::new();
    for command in root.get_subcommands() {
        for arg in command.get_arguments() {
            let id = arg.get_id().as_str();
            if arg.is_hide_set() || id == "help" || id == "version" {
                continue;
            }
            if arg.get_help().is_none_or(|h| h.to_string().trim().is_empty()) {
                missing.push(format!("{} --{}", command.get_name(), arg.get_long().unwrap_or(id)));
            }
        }
    }
    assert!(missing.is_empty(), "options without help: {missing:?}");
    // Help written for one command does not leak into another's.
    let dir = Dir::new();
    for command in ["upload-csv", "load-csv", "load-api", "load-postgres", "load-s3", "run"] {
        let help = ok(dir.etl().args([command, "--help"])).stdout;
        assert!(
            !help.contains("Domo") && !help.contains("load-domo"),
            "{command} --help talks about Domo:\n{help}"
        );
    }
    for command in ["upload-csv", "load-csv", "load-api", "load-postgres", "load-domo", "run"] {
        let help = ok(dir.etl().args([command, "--help"])).stdout;
        assert!(!help.contains("load-s3"), "{command} --help talks about load-s3:\n{help}");
        assert!(
            help.contains("Global options:"),
            "{command}: global options under their own heading:\n{help}"
        );
    }
    // Every type name --types takes is explained where it is taken.
    let help = ok(dir.etl().args(["upload-csv", "--help"])).stdout;
    for name in ["money", "yes_no"] {
        assert!(help.contains(name), "{name} is not explained:\n{help}");
    }
}

#[test]
fn print_config_shows_every_option_and_where_it_came_from() {
    let dir = Dir::new();
    let r = ok(dir.etl().env("ETL_LOG_FORMAT", "json").args([
        "--print-config",
        "load-api",
        "--url",
        "https://api.example.com/v1/items?api_key=k-123",
        "--dataset-id",
        "items",
        "--max-pages",
        "7",
    ]));
    for needle in [
        "command: load-api",
        "log-format: json",
        "  --url: https://api.example.com/v1/items?api_key=",
        "  --dataset-id: items (command line)",
        "  --max-pages: 7 (command line)",
        "  --max-page-bytes: 256MiB (default)",
        "  --auth: none (default)",
        "environment:",
    ] {
        assert!(r.stdout.contains(needle), "{needle:?} missing from {r:?}");
    }
    assert!(!r.stdout.contains("k-123") && !r.stdout.contains("DatasetArgs"), "{r:?}");
}

#[test]
fn completions_and_the_man_page_come_from_the_command_line_itself() {
    let dir = Dir::new();
    let script = ok(dir.etl().args(["completions", "bash"])).stdout;
    let path = dir.write("etl.bash", &script);
    // Sourced by bash, the script completes subcommands and options.
    let probe = format!(
        "source {}; COMP_WORDS=(etl load-); COMP_CWORD=1; _etl etl load- etl; printf '%s\\n' \"${{COMPREPLY[@]}}\"; \
         COMP_WORDS=(etl load-api --max-p); COMP_CWORD=2; _etl etl --max-p load-api; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        path.display()
    );
    let out = std::process::Command::new("bash").args(["-c", &probe]).output().unwrap();
    let offered = String::from_utf8_lossy(&out.stdout);
    for word in ["load-api", "load-postgres", "load-cursor-usage", "--max-pages", "--max-page-bytes"] {
        assert!(
            offered.lines().any(|l| l == word),
            "{word} not offered: {offered} {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    for shell in ["zsh", "fish", "powershell", "elvish"] {
        assert!(ok(dir.etl().args(["completions", shell])).stdout.contains("load-api"), "{shell}");
    }
    let man = ok(dir.etl().arg("man")).stdout;
    assert!(man.starts_with(".ie") && man.contains(".TH etl 1"), "{man}");
    for command in ["upload\\-csv", "load\\-api", "clear\\-dataset", "completions"] {
        assert!(man.contains(command), "{command} missing from the man page");
    }
}
