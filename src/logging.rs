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

/// Installs the global subscriber.
pub fn init(format: LogFormat, verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "warn,etl=info",
        2 => "warn,etl=debug",
        _ => "info,etl=trace",
    };
    // An empty RUST_LOG (as `.env.example` ships it) means "not set", not "log nothing".
    let filter = std::env::var("RUST_LOG")
        .ok()
        .filter(|v| !v.trim().is_empty())
        .and_then(|v| EnvFilter::try_new(v).ok())
        .unwrap_or_else(|| EnvFilter::new(default));
    // Colour only for a person at a terminal: never in a file, a pipe or cron's mail.
    let colour = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
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
