//! Settings from the environment: `.env`, and `--print-config`'s view of them (secrets masked).

use crate::error::{Error, Result};

/// Settings read from the environment, and whether each is a secret (shown masked).
const SETTINGS: [(&str, bool); 29] = [
    ("ETL_TARGET", false),
    ("ETL_STAGING_DIR", false),
    ("TMPDIR", false),
    ("ETL_LOG_FORMAT", false),
    ("ETL_S3_READ_TIMEOUT", false),
    ("ETL_STOP_WITH_PARENT", false),
    ("RUST_LOG", false),
    ("AWS_ENDPOINT_URL", false),
    ("AWS_REGION", false),
    ("AWS_DEFAULT_REGION", false),
    ("AWS_PROFILE", false),
    ("AWS_MAX_ATTEMPTS", false),
    ("AWS_SHARED_CREDENTIALS_FILE", false),
    ("AWS_ACCESS_KEY_ID", true),
    ("AWS_SECRET_ACCESS_KEY", true),
    ("AWS_SESSION_TOKEN", true),
    ("DOMO_API_HOST", false),
    ("DOMO_TOKEN_TIMEOUT", false),
    ("DOMO_EXPORT_TIMEOUT", false),
    ("DOMO_RETRIES", false),
    ("DOMO_CLIENT_ID", true),
    ("DOMO_CLIENT_SECRET", true),
    ("DATABASE_URL", true),
    ("API_KEY", true),
    ("API_TOKEN", true),
    ("API_USER", false),
    ("API_PASSWORD", true),
    ("API_CLIENT_ID", true),
    ("API_CLIENT_SECRET", true),
];

/// The effective configuration, for `--print-config`: one `name: value` line each, secrets masked
/// (`set, 40 characters`), a URL's password removed.
pub fn describe(
    command: &str,
    target: &str,
    log_format: crate::logging::LogFormat,
    options: &[(String, String, String)],
) -> String {
    let format =
        clap::ValueEnum::to_possible_value(&log_format).map(|v| v.get_name().to_owned()).unwrap_or_default();
    let mut out = format!("command: {command}\ntarget: {}\nlog-format: {format}\n", mask_url(target));
    if !options.is_empty() {
        out += "options:\n";
        for (name, value, source) in options {
            let source = if source.is_empty() { String::new() } else { format!(" ({source})") };
            out += &format!("  {name}: {}{source}\n", mask_url(value));
        }
    }
    out += "environment:\n";
    for (name, secret) in SETTINGS {
        let shown = match std::env::var(name) {
            Ok(v) if v.is_empty() => continue,
            Ok(v) if secret => format!("set ({} characters, masked)", v.chars().count()),
            Ok(v) => mask_url(&v),
            Err(_) => continue,
        };
        out += &format!("  {name}: {shown}\n");
    }
    out
}

/// A URL with its secrets replaced by `****`: a password (or a user name that stands alone, often a
/// token), and query values whose names say secret (`token`, `password`, `key`, `signature`, ...).
pub fn mask_url(text: &str) -> String {
    let Some(scheme_end) = text.find("://").map(|i| i + 3) else { return text.to_owned() };
    let authority_end = text[scheme_end..].find(['/', '?', '#']).map_or(text.len(), |i| scheme_end + i);
    let authority = &text[scheme_end..authority_end];
    let authority = match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{user}:****@{host}"),
            None => format!("****@{host}"),
        },
        None => authority.to_owned(),
    };
    let rest = &text[authority_end..];
    let rest = match rest.split_once('?') {
        Some((path, query)) => {
            let masked: Vec<String> = query
                .split('&')
                .map(|pair| match pair.split_once('=') {
                    Some((name, _)) if crate::redact::secret_name(name) => format!("{name}=****"),
                    _ => pair.to_owned(),
                })
                .collect();
            format!("{path}?{}", masked.join("&"))
        }
        None => rest.to_owned(),
    };
    format!("{}{authority}{rest}", &text[..scheme_end])
}

/// Reads `.env` from the working folder, if there is one. Variables already set win.
pub fn load_dotenv() -> Result<()> {
    let loaded = read_dotenv();
    // An empty variable (`AWS_ENDPOINT_URL=` as .env.example has it) means "not set", for us and
    // for the AWS SDK, which would take it as an endpoint.
    for (name, _) in SETTINGS {
        if std::env::var_os(name).is_some_and(|v| v.is_empty()) {
            std::env::remove_var(name);
        }
    }
    loaded
}

fn read_dotenv() -> Result<()> {
    match dotenvy::dotenv() {
        Ok(_) => Ok(()),
        Err(e) if e.not_found() => Ok(()),
        // dotenvy's message quotes the whole line, which may hold a secret: say where, not what.
        Err(dotenvy::Error::LineParse(line, index)) => {
            let number = std::fs::read_to_string(".env")
                .ok()
                // The text reported starts at the faulty line (and may run on past it).
                .and_then(|text| {
                    let first = line.lines().next().unwrap_or_default();
                    text.lines().position(|l| !first.is_empty() && l.starts_with(first))
                })
                .map_or_else(|| "a line".to_owned(), |n| format!("line {}", n + 1));
            Err(Error::Usage(format!(
                "`.env` in the current folder: {number} cannot be parsed (at character {}); expected \
                 NAME=value (the line is not shown, as it may hold a secret)",
                index + 1
            )))
        }
        Err(e) => Err(Error::Usage(format!("could not read `.env` in the current folder: {e}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_in_urls_are_masked() {
        assert_eq!(mask_url("postgres://etl:hunter2@db:5432/x"), "postgres://etl:****@db:5432/x");
        assert_eq!(mask_url("s3://bucket/prefix"), "s3://bucket/prefix");
        assert_eq!(mask_url("https://ghp_TOKEN@host/repo"), "https://****@host/repo");
        assert_eq!(
            mask_url("https://api/x?page=2&api_key=abc&X-Amz-Signature=f00"),
            "https://api/x?page=2&api_key=****&X-Amz-Signature=****"
        );
        assert_eq!(mask_url("https://host/a@b"), "https://host/a@b");
    }
}
