//! Hostile input: files and API answers made to break a reader (binary, NUL bytes, a BOM mid-file, a
//! 1 MB header, 10^5 columns and 10^5 repeated names, a 300 MB record, gzip and zstd bombs, cut
//! archives, invalid UTF-8 in every position, deep JSON, endless pages and bodies, terminal escapes).
//! Each case asserts its exit code, that the message names the file (and the line where there is
//! one), that nothing was written when it failed, and its time and peak memory (printed for all):
//! under 30 s and 1 GB each.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use crate::http_server::{self, Head, Reply};
use crate::util::*;

/// The bounds every case must stay under.
const MAX_SECONDS: f64 = 30.0;
const MAX_RSS_MB: f64 = 1024.0;

/// What a case's run did.
struct Outcome {
    code: i32,
    stderr: String,
    seconds: f64,
    rss_mb: f64,
}

/// Runs `cmd` to its end, with its peak resident memory. (`wait4`'s `ru_maxrss` would count this test
/// process's own at the time of the spawn: the child's `VmHWM` is read while it runs instead.)
fn measured(cmd: &mut Command, dir: &Path) -> Outcome {
    let err_path = dir.join("stderr.txt");
    cmd.stdout(Stdio::null()).stderr(std::fs::File::create(&err_path).unwrap());
    let started = Instant::now();
    let child = cmd.spawn().expect("etl starts");
    let pid = child.id() as libc::pid_t;
    let status_file = format!("/proc/{pid}/status");
    let mut status = 0;
    let mut peak_kb = 0u64;
    loop {
        if let Ok(text) = std::fs::read_to_string(&status_file) {
            if let Some(kb) = text
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            {
                peak_kb = peak_kb.max(kb);
            }
        }
        let waited = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
        if waited == pid {
            break;
        }
        assert_eq!(waited, 0, "waitpid");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let seconds = started.elapsed().as_secs_f64();
    let code = if libc::WIFEXITED(status) { libc::WEXITSTATUS(status) } else { -libc::WTERMSIG(status) };
    std::mem::forget(child);
    Outcome {
        code,
        stderr: std::fs::read_to_string(&err_path).unwrap_or_default(),
        seconds,
        rss_mb: peak_kb as f64 / 1024.0,
    }
}

/// Writes `count` copies of `chunk` to `path`, then `tail`.
fn repeated(path: &Path, head: &[u8], chunk: &[u8], count: usize, tail: &[u8]) {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    out.write_all(head).unwrap();
    for _ in 0..count {
        out.write_all(chunk).unwrap();
    }
    out.write_all(tail).unwrap();
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

fn zstd(bytes: &[u8]) -> Vec<u8> {
    zstd::encode_all(bytes, 19).unwrap()
}

/// A file case: the file's name, how to make it, the command's extra arguments, the exit code, and
/// what the message must say (the file's name is always required of a failure).
struct FileCase {
    name: &'static str,
    file: &'static str,
    make: Box<dyn Fn(&Path)>,
    args: &'static [&'static str],
    code: i32,
    says: &'static [&'static str],
}

fn case(
    name: &'static str,
    file: &'static str,
    args: &'static [&'static str],
    code: i32,
    says: &'static [&'static str],
    make: impl Fn(&Path) + 'static,
) -> FileCase {
    FileCase { name, file, make: Box::new(make), args, code, says }
}

fn bytes(content: &'static [u8]) -> impl Fn(&Path) {
    move |p| std::fs::write(p, content).unwrap()
}

fn owned(content: Vec<u8>) -> impl Fn(&Path) {
    move |p| std::fs::write(p, &content).unwrap()
}

const MB: usize = 1 << 20;

fn file_cases() -> Vec<FileCase> {
    let a_mb = vec![b'a'; MB];
    vec![
        case("empty file", "empty.csv", &[], 1, &["empty"], bytes(b"")),
        case("only line breaks", "breaks.csv", &[], 1, &["line 1", "empty"], bytes(b"\n\n\r\n\n")),
        case("binary noise", "noise.csv", &[], 1, &["line 1", "binary"], |p| {
            let mut rng = 0x2545F4914F6CDD1Du64;
            let data: Vec<u8> = (0..MB)
                .map(|_| {
                    rng ^= rng << 13;
                    rng ^= rng >> 7;
                    rng ^= rng << 17;
                    rng as u8
                })
                .collect();
            std::fs::write(p, data).unwrap()
        }),
        case("an ELF binary", "etl.csv", &[], 1, &["line 1", "binary"], |p| {
            std::fs::copy(env!("CARGO_BIN_EXE_etl"), p).unwrap();
        }),
        case(
            "a PNG header",
            "image.csv",
            &[],
            1,
            &["line 1", "binary"],
            bytes(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01"),
        ),
        case("NUL bytes in a field", "nul.csv", &[], 1, &["line 1", "binary"], bytes(b"a,b\n1,x\n2,y\0z\n")),
        case("NUL bytes everywhere", "nuls.csv", &[], 1, &["line 1", "binary"], owned(vec![0u8; MB])),
        case("a BOM mid-file", "bom.csv", &[], 0, &[], bytes(b"\xEF\xBB\xBFa,b\n1,2\n\xEF\xBB\xBF3,4\n")),
        case("a 1 MB header", "wide-header.csv", &[], 0, &[], {
            let mut text = a_mb.clone();
            text.extend_from_slice(b",b\n1,2\n");
            owned(text)
        }),
        case("100,000 columns", "columns.csv", &[], 0, &[], |p| {
            let header: Vec<String> = (0..100_000).map(|i| format!("c{i}")).collect();
            let row: Vec<&str> = vec!["1"; 100_000];
            std::fs::write(p, format!("{}\n{}\n", header.join(","), row.join(","))).unwrap()
        }),
        case("100,000 repeated names", "names.csv", &[], 0, &["99999 repeated column names"], |p| {
            let header = vec!["x"; 100_000].join(",");
            let row = vec!["1"; 100_000].join(",");
            std::fs::write(p, format!("{header}\n{row}\n")).unwrap()
        }),
        case(
            "a 300 MB record (a quote never closed)",
            "quote.csv",
            &[],
            1,
            &["line 2", "over 256 MiB"],
            |p| repeated(p, b"a,b\n1,\"", &vec![b'q'; MB], 300, b"\n"),
        ),
        case("a 300 MB line", "line.csv", &[], 1, &["line 2", "over 256 MiB"], |p| {
            repeated(p, b"a,b\n1,", &vec![b'q'; MB], 300, b"\n")
        }),
        case("a gzip bomb (1 GB of one line)", "bomb.csv.gz", &[], 1, &["line 2", "over 256 MiB"], {
            let member = gzip(&a_mb);
            let mut file = gzip(b"a\n");
            for _ in 0..1024 {
                file.extend_from_slice(&member);
            }
            owned(file)
        }),
        case("a zstd bomb (1 GB of one line)", "bomb.csv.zst", &[], 1, &["line 2", "over 256 MiB"], {
            let frame = zstd(&a_mb);
            let mut file = zstd(b"a\n");
            for _ in 0..1024 {
                file.extend_from_slice(&frame);
            }
            owned(file)
        }),
        case("a cut gzip file", "cut.csv.gz", &[], 1, &["cannot decompress"], {
            let mut text = b"a,b\n".to_vec();
            for i in 0..100_000 {
                text.extend_from_slice(format!("{i},{}\n", i * 7).as_bytes());
            }
            let gz = gzip(&text);
            owned(gz[..gz.len() / 2].to_vec())
        }),
        case("a cut zstd file", "cut.csv.zst", &[], 1, &["cannot decompress"], {
            let mut text = b"a,b\n".to_vec();
            for i in 0..100_000 {
                text.extend_from_slice(format!("{i},{}\n", i * 7).as_bytes());
            }
            let z = zstd(&text);
            owned(z[..z.len() / 2].to_vec())
        }),
        case("gzip with garbage after it", "trailing.csv.gz", &[], 1, &["cannot decompress"], {
            let mut gz = gzip(b"a,b\n1,2\n");
            gz.extend_from_slice(b"this is not gzip");
            owned(gz)
        }),
        case(
            "a gzip header only",
            "header-only.csv.gz",
            &[],
            1,
            &["cannot decompress"],
            bytes(b"\x1f\x8b\x08\0\0\0\0\0"),
        ),
        case("zstd magic only", "magic.csv.zst", &[], 1, &["cannot decompress"], bytes(b"\x28\xb5\x2f\xfd")),
        case(
            "invalid UTF-8 in the header",
            "header.csv",
            &["--encoding", "utf-8"],
            1,
            &["line 1"],
            bytes(b"a,b\xff\n1,2\n"),
        ),
        case(
            "invalid UTF-8 in a first field",
            "first.csv",
            &["--encoding", "utf-8"],
            1,
            &["line 3", "column `a`"],
            bytes(b"a,b\n1,2\n\xff,2\n"),
        ),
        case(
            "invalid UTF-8 in a middle field",
            "middle.csv",
            &["--encoding", "utf-8"],
            1,
            &["line 2", "column `b`"],
            bytes(b"a,b,c\n1,\xc3\x28,3\n"),
        ),
        case(
            "invalid UTF-8 in a last field",
            "last.csv",
            &["--encoding", "utf-8"],
            1,
            &["line 2", "column `b`"],
            bytes(b"a,b\n1,\xe2\x82\n"),
        ),
        case(
            "invalid UTF-8 as the last byte",
            "lastbyte.csv",
            &["--encoding", "utf-8"],
            1,
            &["line 2"],
            bytes(b"a,b\n1,2\xf0"),
        ),
        case(
            "an overlong UTF-8 encoding",
            "overlong.csv",
            &["--encoding", "utf-8"],
            1,
            &["line 2"],
            bytes(b"a,b\n1,\xc0\xaf\n"),
        ),
        case(
            "a UTF-16 surrogate in UTF-8",
            "surrogate.csv",
            &["--encoding", "utf-8"],
            1,
            &["line 2"],
            bytes(b"a,b\n1,\xed\xa0\x80\n"),
        ),
        case("too many fields", "wide-row.csv", &[], 1, &["line 3"], bytes(b"a,b\n1,2\n3,4,5\n")),
        case("too few fields", "narrow-row.csv", &[], 1, &["line 3"], bytes(b"a,b,c\n1,2,3\n4\n")),
        case(
            "a quote never closed at the end",
            "open.csv",
            &[],
            1,
            &["line 3"],
            bytes(b"a,b\n1,2\n3,\"open\n"),
        ),
        case("a quote inside a bare field", "bare.csv", &[], 0, &[], bytes(b"a,b\n1,x\"y\n")),
        case("old Mac line ends (CR only)", "cr.csv", &[], 0, &[], bytes(b"a,b\r1,2\r3,4\r")),
        case("mixed line ends", "mixed.csv", &[], 0, &[], bytes(b"a,b\r\n1,2\n3,4\r\n")),
        case(
            "terminal escapes in the header",
            "ansi.csv",
            &[],
            1,
            &["line 1", "binary"],
            bytes(b"\x1b[31mred\x1b[0m,b\n\x1b[2J,2\n"),
        ),
        case(
            "terminal escapes in a row quoted by an error",
            "ansi-row.csv",
            &[],
            1,
            &["line 100002", "\\u{1b}[2J"],
            |p| repeated(p, b"a,b\n", b"1,2\n", 100_000, b"3,\x1b[2Jx,9\n"),
        ),
        case(
            "numbers past every range",
            "numbers.csv",
            &[],
            0,
            &[],
            bytes(b"a,b,c\n1e400,-0,99999999999999999999999999999999999999999\n"),
        ),
        case(
            "dates past every range",
            "dates.csv",
            &[],
            0,
            &[],
            bytes(b"d\n9999-12-31\n0001-01-01\n99999-01-01\n"),
        ),
        case("a 16 MB field", "field.csv", &[], 0, &[], |p| {
            repeated(p, b"a,b\n1,", &vec![b'z'; MB], 16, b"\n")
        }),
        case("a folder, not a file", "folder.csv", &[], 2, &["is a folder"], |p| {
            std::fs::create_dir_all(p).unwrap()
        }),
        case("no such file", "missing.csv", &[], 2, &["does not exist"], |_| {}),
        case("endless NUL bytes (/dev/zero)", "/dev/zero", &[], 1, &["line 1", "binary"], |_| {}),
        case("endless noise (/dev/urandom)", "/dev/urandom", &[], 1, &["line 1", "binary"], |_| {}),
    ]
}

/// One line of the printed table.
fn report(name: &str, o: &Outcome) {
    let first = o.stderr.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    let first: String = first.chars().take(110).collect();
    // Written to stderr itself, not through `eprintln!`: the table shows in every run, captured or not.
    let line =
        format!("{:<44} exit {:>3} {:>6.2} s {:>7.1} MB  {}\n", name, o.code, o.seconds, o.rss_mb, first);
    let _ = std::io::stderr().write_all(line.as_bytes());
}

/// What is wrong with a case's outcome, if anything: its exit code, a failure's message naming
/// `named` (`(text, what it is)`) and saying each of `says`, nothing written on failure, no terminal
/// escape on stderr, and the time and memory bounds.
fn judge(
    name: &str,
    o: &Outcome,
    code: i32,
    named: (&str, &str),
    says: impl Iterator<Item = String>,
    dir: &Dir,
) -> Option<String> {
    let mut wrong = Vec::new();
    if o.code != code {
        wrong.push(format!("exit {} (expected {code})", o.code));
    }
    if o.code != 0 && !o.stderr.contains(named.0) {
        wrong.push(format!("the message does not name the {}", named.1));
    }
    for s in says {
        if !o.stderr.to_lowercase().contains(&s.to_lowercase()) {
            wrong.push(format!("the message does not say `{s}`"));
        }
    }
    if o.code != 0 && !dir.lake_keys().is_empty() {
        wrong.push(format!("written: {:?}", dir.lake_keys()));
    }
    if o.stderr.contains('\x1b') {
        wrong.push("a terminal escape reached stderr".into());
    }
    if o.seconds > MAX_SECONDS || o.rss_mb > MAX_RSS_MB {
        wrong.push(format!("{:.1} s, {:.0} MB: over the bounds", o.seconds, o.rss_mb));
    }
    (!wrong.is_empty()).then(|| format!("{name}: {}\n{}", wrong.join("; "), o.stderr))
}

#[test]
fn hostile_files_fail_cleanly_in_bounded_time_and_memory() {
    let mut failures = Vec::new();
    let cases = file_cases();
    assert!(cases.len() >= 40);
    for c in cases {
        let dir = Dir::new();
        let path: PathBuf =
            if c.file.starts_with('/') { PathBuf::from(c.file) } else { dir.path().join(c.file) };
        if !c.file.starts_with('/') {
            (c.make)(&path);
        }
        let mut cmd = dir.etl();
        cmd.args(["upload-csv"]).arg(&path).args(["--dataset-id", "hostile"]).args(c.args);
        let o = measured(&mut cmd, dir.path());
        report(c.name, &o);
        if std::fs::metadata(&path).is_ok_and(|m| m.is_file() && m.len() > 100 * MB as u64) {
            std::fs::remove_file(&path).unwrap();
        }
        let file = c.file.rsplit('/').next().unwrap();
        // `line N` is said as `<file>:N:`, as compilers do.
        let says =
            c.says.iter().map(|s| s.strip_prefix("line ").map_or(s.to_string(), |n| format!("{file}:{n}:")));
        failures.extend(judge(c.name, &o, c.code, (file, "file"), says, &dir));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// An API case: the path on the hostile server, the command's extra arguments, the exit code and
/// what the message must say.
struct ApiCase {
    name: &'static str,
    path: &'static str,
    args: &'static [&'static str],
    code: i32,
    says: &'static [&'static str],
}

/// Writes a 200 head without a length, then `body` chunks until the client hangs up (or `limit`).
fn stream(
    out: &mut std::net::TcpStream,
    head: &[u8],
    chunk: &[u8],
    limit: usize,
    tail: &[u8],
) -> std::io::Result<()> {
    out.write_all(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n")?;
    out.write_all(head)?;
    for _ in 0..limit {
        out.write_all(chunk)?;
    }
    out.write_all(tail)
}

/// The hostile server: one answer per path.
fn hostile_api() -> String {
    http_server::start(|request, _| {
        let json = |status: u16, body: Vec<u8>| {
            Reply::Whole(
                Head {
                    status,
                    reason: "Whatever",
                    headers: vec![("Content-Type".into(), "application/json".into())],
                },
                body,
            )
        };
        match request.path.as_str() {
            "/deep" => {
                json(200, format!("[{}1{}]", "{\"a\":".repeat(100_000), "}".repeat(100_000)).into_bytes())
            }
            "/endless-pages" => json(200, b"[{\"n\": 1}]".to_vec()),
            "/endless-body" => Reply::Raw(Box::new(|out| {
                stream(out, b"[", &b"{\"a\": 1},".repeat(100_000), usize::MAX, b"")
            })),
            "/huge-record" => {
                Reply::Raw(Box::new(|out| stream(out, b"[{\"a\": \"", &vec![b'x'; MB], 300, b"\"}]")))
            }
            "/html" => json(200, b"<!doctype html><html><body>Service Unavailable</body></html>".to_vec()),
            "/bad-utf8" => json(200, b"[{\"a\": \"\xff\xfe\"}]".to_vec()),
            "/surrogate" => json(200, b"[{\"a\": \"\\ud800\"}]".to_vec()),
            "/scalars" => json(200, b"[1, \"a\", null, [2]]".to_vec()),
            "/wide" => {
                let fields: Vec<String> = (0..100_000).map(|i| format!("\"k{i}\": {i}")).collect();
                json(200, format!("[{{{}}}]", fields.join(",")).into_bytes())
            }
            "/collide" => json(200, br#"[{"a.b": 1, "a": {"b": 2}}]"#.to_vec()),
            "/long-number" => json(200, format!("[{{\"n\": {}}}]", "9".repeat(10_000)).into_bytes()),
            "/cut" => Reply::Raw(Box::new(|out| {
                out.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\nConnection: close\r\n\r\n[{\"a\"")
            })),
            "/escapes" => json(500, b"\x1b[2J\x1b[31mboom\x1b[0m".to_vec()),
            "/redirect" => Reply::Whole(
                Head {
                    status: 302,
                    reason: "Found",
                    headers: vec![("Location".into(), "http://example.invalid/x".into())],
                },
                Vec::new(),
            ),
            _ => json(404, b"{}".to_vec()),
        }
    })
}

fn api_cases() -> Vec<ApiCase> {
    let c = |name, path, args, code, says| ApiCase { name, path, args, code, says };
    vec![
        c("JSON nested 100,000 deep", "/deep", &[], 1, &["page 1", "recursion limit"]),
        c("pages that never end", "/endless-pages", &["--paginate", "page"], 1, &["more than 1000 pages"]),
        c("a body that never ends", "/endless-body", &[], 1, &["larger than 256 MiB (--max-page-bytes)"]),
        c("a 300 MB record", "/huge-record", &["--max-page-bytes", "1GiB"], 1, &["page 1", "over 256 MiB"]),
        c("HTML instead of JSON", "/html", &[], 1, &["page 1", "not JSON", "<!doctype html>"]),
        c("invalid UTF-8 in a string", "/bad-utf8", &[], 1, &["page 1", "not JSON"]),
        c("a lone surrogate escape", "/surrogate", &[], 1, &["page 1", "not JSON"]),
        c("records that are not objects", "/scalars", &[], 1, &["page 1"]),
        c("100,000 fields in a record", "/wide", &[], 0, &[]),
        c("names that collide when flattened", "/collide", &[], 1, &["page 1", "make the same column `a.b`"]),
        c("a number of 10,000 digits", "/long-number", &[], 0, &[]),
        c("a body cut short", "/cut", &["--retries", "1"], 1, &["broke"]),
        c("terminal escapes in an error body", "/escapes", &["--retries", "0"], 1, &["500", "\\u{1b}[2J"]),
        c("a redirect to another host", "/redirect", &[], 1, &["302"]),
    ]
}

#[test]
fn hostile_api_answers_fail_cleanly_in_bounded_time_and_memory() {
    let url = hostile_api();
    let mut failures = Vec::new();
    for c in api_cases() {
        let dir = Dir::new();
        let mut cmd = dir.etl();
        cmd.args(["load-api", "--url", &format!("{url}{}", c.path), "--dataset-id", "hostile"]).args(c.args);
        let o = measured(&mut cmd, dir.path());
        report(c.name, &o);
        failures.extend(judge(
            c.name,
            &o,
            c.code,
            (c.path, "URL"),
            c.says.iter().map(|s| s.to_string()),
            &dir,
        ));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
