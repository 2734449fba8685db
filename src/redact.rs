//! The one redaction path: everything that leaves the process (errors, logs at every level, the
//! summary, run records, `--print-config`) goes through [`redact`] on its way out.
//!
//! Two nets catch secrets:
//! - **Known values.** Every secret the run holds is [`register`]ed as soon as it is read (credentials
//!   from the environment, a password in a URL, an OAuth2 token when it arrives), and each is searched
//!   for in every form it can travel in: as it is, percent-encoded (in a URL), form-encoded,
//!   JSON-escaped, base64, and for HTTP Basic auth as the base64 of `user:password`.
//! - **Shapes.** Whatever an echoing server or a library quotes back: the value of an
//!   `Authorization`, `Proxy-Authorization`, `Cookie` or API-key-like header, of a query parameter
//!   whose name says secret (`*token*`, `*key*`, `*secret*`, `*password*`, `*signature*`, ...), and
//!   the password of a `scheme://user:password@host` URL.
//!
//! Values shorter than [`MIN_LEN`] characters are not searched for: they would blank out ordinary words.

use std::borrow::Cow;
use std::io::Write;
use std::sync::{OnceLock, RwLock};

use base64::Engine;
use regex::Regex;

/// What a secret is replaced with.
pub const REDACTED: &str = "[redacted]";

/// Shorter registered values are not searched for.
pub const MIN_LEN: usize = 4;

/// Every form of every registered secret, longest first (so that a longer form is replaced whole).
static FORMS: RwLock<Vec<String>> = RwLock::new(Vec::new());

/// Registers a secret: from now on, no output carries it in any of its forms.
pub fn register(secret: &str) {
    if secret.chars().count() < MIN_LEN {
        return;
    }
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut forms = vec![
        secret.to_owned(),
        percent_encoding::utf8_percent_encode(secret, percent_encoding::NON_ALPHANUMERIC).to_string(),
        form_urlencoded::byte_serialize(secret.as_bytes()).collect(),
        b64.encode(secret),
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret),
    ];
    let json = serde_json::to_string(secret).unwrap_or_default();
    forms.push(json.trim_matches('"').to_owned());
    // JSON-escaped twice: a message quoted inside a JSON string, inside a JSON log line.
    forms.push(serde_json::to_string(&json).unwrap_or_default().trim_matches('"').to_owned());
    add(forms);
}

/// Registers HTTP Basic credentials: the password, and `user:password` as the header carries it.
pub fn register_basic(user: &str, password: &str) {
    register(password);
    let pair = format!("{user}:{password}");
    add(vec![base64::engine::general_purpose::STANDARD.encode(&pair)]);
    register(&pair);
}

/// The conventional credential variables: the ones the AWS SDK, PostgreSQL's clients, the Domo
/// client and OpenLineage's client read. Only these are registered from the environment: a variable
/// is a secret because of what it is, not because its name holds a word (a desktop login's
/// `XDG_SESSION_CLASS=user` is no secret, and registering `user` rewrote `user-events` in every
/// message). Every other credential is registered when a run reads it for auth (`token_env`, a
/// `--url`'s password, `DOMO_CLIENT_SECRET`).
pub const CREDENTIAL_VARIABLES: &[&str] = &[
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "PGPASSWORD",
    "DOMO_CLIENT_SECRET",
    "OPENLINEAGE_API_KEY",
];

/// Registers the secrets of the environment: the values of [`CREDENTIAL_VARIABLES`].
pub fn register_environment() {
    for name in CREDENTIAL_VARIABLES {
        if let Ok(value) = std::env::var(name) {
            register(&value);
        }
    }
}

/// The password of a `scheme://user:password@host...` URL, decoded.
pub fn url_password(text: &str) -> Option<String> {
    let rest = &text[text.find("://")? + 3..];
    let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    let (userinfo, _) = authority.rsplit_once('@')?;
    let (_, password) = userinfo.split_once(':')?;
    let decoded = percent_encoding::percent_decode_str(password).decode_utf8_lossy().into_owned();
    Some(decoded)
}

/// Whether a variable, header or query parameter of this name holds a secret.
pub fn secret_name(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    ["token", "secret", "password", "passwd", "key", "signature", "credential", "auth", "cookie", "session"]
        .iter()
        .any(|word| name.contains(word))
}

fn add(new: Vec<String>) {
    let mut forms = FORMS.write().unwrap_or_else(|e| e.into_inner());
    for form in new {
        if form.chars().count() >= MIN_LEN && !forms.contains(&form) {
            forms.push(form);
        }
    }
    forms.sort_by_key(|f| std::cmp::Reverse(f.len()));
}

/// Shapes that carry a secret whatever its value: the capture before the value is kept.
fn shapes() -> &'static [Regex; 3] {
    static SHAPES: OnceLock<[Regex; 3]> = OnceLock::new();
    SHAPES.get_or_init(|| {
        [
            // A header line, as an echo, a debug dump or JSON shows it: `Authorization: Bearer x`,
            // `"cookie": "a=b"`, `x-api-key=...`.
            Regex::new(
                r#"(?i)((?:proxy-)?authorization|(?:set-)?cookie|x-[a-z0-9-]*(?:key|token|secret|auth)[a-z0-9-]*|api[-_]?key)(\\?["']?\s*[:=]\s*\\?["']?)[^\r\n"'\\,}&]+"#,
            )
            .expect("header pattern"),
            // A query parameter whose name says secret.
            Regex::new(
                r#"(?i)([?&;](?:[a-z0-9_.\-\[\]]|%[0-9a-f]{2})*(?:token|secret|password|passwd|key|signature|credential|auth|session)(?:[a-z0-9_.\-\[\]]|%[0-9a-f]{2})*=)[^&\s"'#\\<>]+"#,
            )
            .expect("query pattern"),
            // The password of a URL.
            Regex::new(r#"(?i)(\b[a-z][a-z0-9+.\-]*://[^/\s:@"'<>]*:)[^@\s/"'<>]+@"#).expect("url pattern"),
        ]
    })
}

/// `text` with every registered secret, in every form, and every secret-shaped value replaced by
/// [`REDACTED`].
pub fn redact(text: &str) -> Cow<'_, str> {
    let mut out = redact_known(text);
    let [header, query, url] = shapes();
    if header.is_match(&out) {
        out = Cow::Owned(header.replace_all(&out, format!("${{1}}${{2}}{REDACTED}")).into_owned());
    }
    if query.is_match(&out) {
        out = Cow::Owned(query.replace_all(&out, format!("${{1}}{REDACTED}")).into_owned());
    }
    if url.is_match(&out) {
        out = Cow::Owned(url.replace_all(&out, format!("${{1}}{REDACTED}@")).into_owned());
    }
    out
}

/// `text` with every registered secret, in every form, replaced by [`REDACTED`]; secret shapes are
/// left alone. Never for records the tool reads back (a run record, a manifest, a state): those keep
/// secrets out by construction, field by field ([`crate::config::mask_url`] on a source's location),
/// since a value that happens to equal a secret's would rewrite a key or a column's name.
pub fn redact_known(text: &str) -> Cow<'_, str> {
    let mut out = Cow::Borrowed(text);
    let forms = FORMS.read().unwrap_or_else(|e| e.into_inner());
    for form in forms.iter() {
        if out.contains(form.as_str()) {
            out = Cow::Owned(out.replace(form.as_str(), REDACTED));
        }
    }
    out
}

/// `text` with its control characters (a terminal's escape sequences among them) written as escapes
/// (`\u{1b}`): for text from outside (a row, an answer's body) quoted in a message, which must not
/// drive the reader's terminal.
pub fn printable(text: &str) -> Cow<'_, str> {
    let escaped = |c: char| c.is_control() && c != '\t';
    if !text.chars().any(escaped) {
        return Cow::Borrowed(text);
    }
    Cow::Owned(
        text.chars().map(|c| if escaped(c) { c.escape_debug().collect() } else { c.to_string() }).collect(),
    )
}

/// Standard error with every line redacted: the log writer.
#[derive(Default)]
pub struct Stderr {
    buffer: Vec<u8>,
}

impl Write for Stderr {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.buffer.extend_from_slice(bytes);
        // A whole line is written out at once (a log event is formatted whole, then written).
        if self.buffer.ends_with(b"\n") {
            self.flush()?;
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if !self.buffer.is_empty() {
            let text = String::from_utf8_lossy(&self.buffer);
            // Above the progress bars, not through them.
            let result = crate::progress::suspend(|| std::io::stderr().write_all(redact(&text).as_bytes()));
            self.buffer.clear();
            result?;
        }
        Ok(())
    }
}

impl Drop for Stderr {
    fn drop(&mut self) {
        let _ = self.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_form_of_a_registered_secret_is_redacted() {
        register("s3cr3t/with+odd chars\"");
        let encoded = percent_encoding::utf8_percent_encode(
            "s3cr3t/with+odd chars\"",
            percent_encoding::NON_ALPHANUMERIC,
        )
        .to_string();
        for text in [
            "raw s3cr3t/with+odd chars\" here".to_owned(),
            format!("in a url ?q={encoded}"),
            format!(
                "form {}",
                form_urlencoded::byte_serialize(b"s3cr3t/with+odd chars\"").collect::<String>()
            ),
            format!("json {}", serde_json::to_string("s3cr3t/with+odd chars\"").unwrap()),
            format!("b64 {}", base64::engine::general_purpose::STANDARD.encode("s3cr3t/with+odd chars\"")),
        ] {
            let out = redact(&text);
            assert!(!out.contains("s3cr3t"), "{out}");
            assert!(!out.contains(&encoded), "{out}");
            assert!(out.contains(REDACTED), "{out}");
        }
        register_basic("alice", "pa55word");
        let header = base64::engine::general_purpose::STANDARD.encode("alice:pa55word");
        assert_eq!(redact(&format!("sent Basic {header}!")), "sent Basic [redacted]!");
        assert_eq!(redact("ab"), "ab", "short values are not registered");
    }

    #[test]
    fn secret_shapes_are_redacted_whatever_the_value() {
        let cases = [
            (
                "GET /x HTTP/1.1\r\nauthorization: Bearer abc.def\r\nhost: h",
                "authorization: [redacted]\r\nhost: h",
            ),
            ("{\"Cookie\": \"sid=42\", \"a\": 1}", "{\"Cookie\": \"[redacted]\", \"a\": 1}"),
            ("X-Api-Key: k-123\n", "X-Api-Key: [redacted]\n"),
            ("GET /items?page=2&api_key=zz9&x=1", "GET /items?page=2&api_key=[redacted]&x=1"),
            ("?access_token=a.b.c", "?access_token=[redacted]"),
            ("postgres://etl:pw@db:5432/x", "postgres://etl:[redacted]@db:5432/x"),
            ("\\r\\nauthorization: Basic YWJj\\r\\n", "\\r\\nauthorization: [redacted]\\r\\n"),
        ];
        for (text, expected) in cases {
            let out = redact(text);
            assert!(out.contains(expected), "{text:?} -> {out:?}");
        }
        // Ordinary text is left alone.
        for text in ["3 rows written to s3://bucket/datasets/x", "page=2&offset=10", "the key column `id`"] {
            assert_eq!(redact(text), text);
        }
    }

    #[test]
    fn control_characters_are_shown_as_escapes() {
        assert_eq!(printable("a\x1b[2Jb\tc\nd"), "a\\u{1b}[2Jb\tc\\nd");
        assert_eq!(printable("plain, ünïcode"), "plain, ünïcode");
    }

    #[test]
    fn urls_give_their_password() {
        assert_eq!(url_password("postgres://u:p%40ss@h/db").as_deref(), Some("p@ss"));
        assert_eq!(url_password("https://h/a:b@c"), None);
        assert_eq!(url_password("s3://bucket"), None);
    }
}
