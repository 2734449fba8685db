//! Logs on stderr: human text by default, one JSON object a line with `--log-format json`.
//! `-v` / `-vv` / `-vvv` raise the level of this crate's logs; `RUST_LOG` overrides everything.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// How logs and the summary are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Default)]
pub enum LogFormat {
    /// Lines for people.
    #[default]
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

/// When the logs are coloured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Default)]
pub enum Color {
    /// On a terminal, unless NO_COLOR is set; anywhere with CLICOLOR_FORCE=1.
    #[default]
    Auto,
    /// Always, even into a file or a pipe.
    Always,
    /// Never.
    Never,
}

impl Color {
    /// Whether to colour, given whether stderr is a terminal and the environment.
    pub fn resolve(self, terminal: bool, env: impl Fn(&str) -> Option<String>) -> bool {
        let set = |name: &str| env(name).is_some_and(|v| !v.is_empty());
        match self {
            Color::Always => true,
            Color::Never => false,
            Color::Auto if set("NO_COLOR") => false,
            Color::Auto if env("CLICOLOR_FORCE").is_some_and(|v| !v.is_empty() && v != "0") => true,
            Color::Auto => terminal,
        }
    }
}

/// `2026-12-06T22:40:00.123456Z`: now, as the logs' own lines carry it.
pub fn timestamp() -> String {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let secs = now.as_secs();
    let (y, m, d) = crate::transform::calendar::civil_from_days((secs / 86_400) as i32);
    let s = secs % 86_400;
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:06}Z",
        s / 3600,
        s / 60 % 60,
        s % 60,
        now.subsec_micros()
    )
}

/// `text` with `stamp` and a space in front of each line (a table's lines too).
pub fn dated(text: &str, stamp: &str) -> String {
    text.lines().map(|line| format!("{stamp} {line}\n")).collect()
}

/// Writes `text` (one line or several) on stderr, secrets redacted, each line dated when stderr is
/// not a terminal: a cron log appended every night, a CI log, a file can then say which night a line
/// belongs to, as every log line of `tracing` can. A person at a terminal reads it undated.
pub fn eprint_lines(text: &str) {
    use std::io::Write;
    let text = crate::redact::redact(text.trim_end_matches('\n'));
    let text = match std::io::stderr().is_terminal() {
        true => format!("{text}\n"),
        false => dated(&text, &timestamp()),
    };
    let _ = std::io::stderr().lock().write_all(text.as_bytes());
}

/// Installs the global subscriber.
pub fn init(format: LogFormat, verbose: u8, color: Color) {
    // The AWS SDK's own warnings (a region it could not find in the instance metadata, each a
    // 900-character structure) come at -vv: etl says what went wrong in one line of its own.
    const QUIET_SDK: &str =
        "aws_config=error,aws_smithy_runtime=error,aws_smithy_runtime_api=error,aws_sdk_s3=error";
    let default = match verbose {
        0 => format!("warn,{QUIET_SDK}"),
        1 => format!("warn,etl=info,{QUIET_SDK}"),
        2 => "warn,etl=debug".to_owned(),
        _ => "info,etl=trace".to_owned(),
    };
    // An empty RUST_LOG (as `.env.example` ships it) means "not set", not "log nothing".
    let filter = std::env::var("RUST_LOG")
        .ok()
        .filter(|v| !v.trim().is_empty())
        .and_then(|v| EnvFilter::try_new(v).ok())
        .unwrap_or_else(|| EnvFilter::new(&default));
    // Colour only for a person at a terminal: never in a file, a pipe or cron's mail.
    let colour = color.resolve(std::io::stderr().is_terminal(), |name| std::env::var(name).ok());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(crate::redact::Stderr::default)
        .with_ansi(colour)
        .with_target(false);
    let _ = match format {
        LogFormat::Text => builder.compact().try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_dated_as_the_logs_are() {
        let stamp = timestamp();
        assert_eq!(stamp.len(), "2026-12-06T22:40:00.123456Z".len(), "{stamp}");
        assert!(stamp.ends_with('Z') && stamp.as_bytes()[10] == b'T', "{stamp}");
        assert_eq!(dated("a\nb", "T"), "T a\nT b\n", "every line of a table");
    }

    #[test]
    fn colour_follows_the_terminal_and_the_conventions() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string())
        };
        assert!(Color::Auto.resolve(true, env(&[])));
        assert!(!Color::Auto.resolve(false, env(&[])));
        assert!(!Color::Auto.resolve(true, env(&[("NO_COLOR", "1")])));
        assert!(Color::Auto.resolve(true, env(&[("NO_COLOR", "")])), "an empty NO_COLOR is unset");
        assert!(Color::Auto.resolve(false, env(&[("CLICOLOR_FORCE", "1")])));
        assert!(!Color::Auto.resolve(false, env(&[("CLICOLOR_FORCE", "0")])));
        assert!(Color::Always.resolve(false, env(&[("NO_COLOR", "1")])));
        assert!(!Color::Never.resolve(true, env(&[("CLICOLOR_FORCE", "1")])));
    }
}
