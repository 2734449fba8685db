//! A PostgreSQL query as a source (`load-postgres`). Types come from PostgreSQL, not from inference:
//! each column is selected in a text form the typing reads exactly (booleans as `true`/`false`,
//! timestamps as ISO 8601, `timestamptz` in UTC, arrays and JSON as JSON text) and pinned to its type
//! (arrays of numbers, booleans and text become lists);
//! a `numeric` column becomes a Decimal with as many decimals as its values have.
//! Rows stream out through `COPY (...) TO STDOUT` and are read as they arrive (never all held in
//! memory): the COPY is binary, straight to its reader (see [`super::pgbinary`]: numbers and
//! timestamps are never text on either side); with `ETL_PG_COPY_FORMAT=csv` (the tests' reference)
//! it is the server's CSV, through a local file read as it grows.

use std::path::Path;
use std::sync::Arc;

use futures::StreamExt;
use tokio::io::AsyncWriteExt;
use tokio_postgres::types::Type;

use super::csv::CsvFile;
use super::growing::Growing;
use super::parts::CsvParts;
use super::pgbinary::{binary_of, BinaryParts, Chunk, Field, Part};
use super::Extract;
use crate::error::{Error, Result};
use crate::transform::values::{DateFormat, DatetimeFormat, Zone};
use crate::transform::{ListOf, Parser, Pins};

/// What to read.
#[derive(Debug, Clone)]
pub struct PgSource {
    /// `postgres://user@host:port/db?sslmode=require`; its password is never printed.
    pub url: String,
    /// A query (`SELECT ...`); or, with `table`, every row of a table.
    pub query: String,
    /// The table (as SQL) when the query is every row of one: a large one is read over several
    /// connections.
    pub table: Option<String>,
    /// An incremental load's column and the checkpoint to read after.
    pub incremental: Option<(String, Option<String>)>,
}

/// `"name"`, with `"` doubled.
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// A `--table` name as SQL: `name` or `schema.name`, each part a plain identifier (left as it is:
/// PostgreSQL folds it to lower case, as `psql` would), a quoted one (`"My Table"`, with `""` for a
/// quote), or any other text (quoted here, its quotes doubled). Never pasted into the query as it
/// came: a name that would end a quoted identifier early (`x"; DROP TABLE y; --`) is refused.
pub fn table_name(name: &str) -> std::result::Result<String, String> {
    let plain = |p: &str| {
        p.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && p.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$')
    };
    let mut parts = Vec::new();
    let mut rest = name;
    loop {
        let (part, after) = match rest.strip_prefix('"') {
            // A quoted identifier: up to the quote that is not doubled.
            Some(inner) => {
                let mut end = None;
                let bytes = inner.as_bytes();
                let mut i = 0;
                while i < bytes.len() {
                    if bytes[i] == b'"' {
                        if bytes.get(i + 1) == Some(&b'"') {
                            i += 2;
                            continue;
                        }
                        end = Some(i);
                        break;
                    }
                    i += 1;
                }
                let end = end.ok_or_else(|| format!("`{name}`: a quote that is never closed"))?;
                (format!("\"{}\"", &inner[..end]), &inner[end + 1..])
            }
            None => {
                let end = rest.find('.').unwrap_or(rest.len());
                let part = &rest[..end];
                if part.contains('"') {
                    return Err(format!(
                        "`{name}`: a quote inside a name; quote the whole part (`\"a\"\"b\"`)"
                    ));
                }
                (if plain(part) { part.to_owned() } else { quote_ident(part) }, &rest[end..])
            }
        };
        parts.push(part);
        match after.strip_prefix('.') {
            Some(next) => rest = next,
            None if after.is_empty() => break,
            None => return Err(format!("`{name}`: text after a quoted name; use `schema.name`")),
        }
    }
    Ok(parts.join("."))
}

/// `'text'`, with `'` doubled (standard_conforming_strings is on since PostgreSQL 9.1).
pub fn quote_literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// How a column of type `ty` is selected (`col` quoted) and pinned.
pub fn column_of(ty: &Type, col: &str) -> (String, Parser) {
    // COPY writes each value in its type's text form; the session is set so that these are the
    // forms the typing reads (`SESSION_SETTINGS`): timestamps and dates in ISO with `T` or a space,
    // `timestamptz` in UTC with its `+00`, floats exact. `infinity` and dates before year 1 (`BC`)
    // keep their own text, which the typing refuses (named with its row) rather than misreads.
    let plain = col.to_owned();
    let json = format!("to_json({col})::text");
    match *ty {
        // COPY writes `t` / `f`; as text they are `true` / `false`.
        Type::BOOL => (format!("({col})::text"), Parser::Bool),
        Type::INT2 | Type::INT4 | Type::INT8 | Type::OID => (plain, Parser::Int),
        Type::FLOAT4 | Type::FLOAT8 => (plain, Parser::Float),
        Type::DATE => (plain, Parser::Date(DateFormat::Iso)),
        Type::TIMESTAMP => (plain, Parser::Datetime(DatetimeFormat::ISO, Zone::Naive)),
        Type::TIMESTAMPTZ => (plain, Parser::Datetime(DatetimeFormat::ISO, Zone::Offset)),
        // Its scale comes from the values (see `numeric_scales`).
        Type::NUMERIC => (plain, Parser::Decimal),
        Type::JSON | Type::JSONB => (plain, Parser::Text),
        Type::INT2_ARRAY | Type::INT4_ARRAY | Type::INT8_ARRAY => (json, Parser::List(ListOf::Int64)),
        Type::FLOAT4_ARRAY | Type::FLOAT8_ARRAY => (json, Parser::List(ListOf::Float64)),
        Type::BOOL_ARRAY => (json, Parser::List(ListOf::Boolean)),
        Type::TEXT_ARRAY | Type::VARCHAR_ARRAY | Type::BPCHAR_ARRAY | Type::NAME_ARRAY => {
            (json, Parser::List(ListOf::String))
        }
        // Arrays of other types: their JSON text.
        _ if matches!(ty.kind(), tokio_postgres::types::Kind::Array(_)) => (json, Parser::Text),
        _ => (plain, Parser::Text),
    }
}

/// The type a domain is of (a domain's values are its type's, in text and in binary); any other
/// type as it is.
fn base_type(ty: &Type) -> &Type {
    match ty.kind() {
        tokio_postgres::types::Kind::Domain(base) => base_type(base),
        _ => ty,
    }
}

/// The session the COPY runs in: the text forms `column_of` relies on, whatever the server's or
/// the role's defaults are.
const SESSION_SETTINGS: &str = "SET TimeZone = 'UTC'; SET DateStyle = 'ISO, YMD'; SET extra_float_digits = 3";

/// Registers the URL's password (in a `postgres://` URL or a `password=` setting) for redaction.
pub fn register_password(url: &str) {
    if let Ok(config) = url.parse::<tokio_postgres::Config>() {
        if let Some(password) = config.get_password() {
            crate::redact::register(&String::from_utf8_lossy(password));
        }
    }
    if let Some(password) = crate::redact::url_password(url) {
        crate::redact::register(&password);
    }
}

/// The URL as messages and the manifest show it: user, hosts and database only (never a password,
/// however the URL is written).
/// The source as a run names it: `postgres://etl@db:5432/shop table public.orders` for a table read
/// whole (the run record and the lineage events name the table), `... (query)` for a query.
pub fn source_name(source: &PgSource) -> String {
    match &source.table {
        Some(table) => format!("{} table {table}", shown(&source.url)),
        None => format!("{} (query)", shown(&source.url)),
    }
}

pub fn shown(url: &str) -> String {
    match url.parse::<tokio_postgres::Config>() {
        Ok(config) => {
            let hosts: Vec<String> = config
                .get_hosts()
                .iter()
                .zip(config.get_ports().iter().chain(std::iter::repeat(&5432)))
                .map(|(host, port)| match host {
                    tokio_postgres::config::Host::Tcp(h) => format!("{h}:{port}"),
                    tokio_postgres::config::Host::Unix(p) => p.display().to_string(),
                })
                .collect();
            format!(
                "postgres://{}@{}/{}",
                config.get_user().unwrap_or(""),
                hosts.join(","),
                config.get_dbname().unwrap_or("")
            )
        }
        Err(_) => "a PostgreSQL URL that does not parse".to_owned(),
    }
}

/// Accepts any server certificate: `sslmode=prefer` and `require` encrypt without verifying, as libpq
/// does (a server's certificate is often self-signed, or from a CA of its own, as RDS's is).
#[derive(Debug)]
struct EncryptOnly(std::sync::Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for EncryptOnly {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> std::result::Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> std::result::Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> std::result::Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// How long the connection handshake may take when the URL sets no `connect_timeout`.
const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// What stops a query in flight: its connection's cancel token, and the TLS it connects with.
#[derive(Clone)]
struct Canceller {
    token: tokio_postgres::CancelToken,
    tls: Option<tokio_postgres_rustls::MakeRustlsConnect>,
}

impl Canceller {
    /// Runs `query`; when a signal comes first, asks the server to cancel it (so that it stops
    /// working too) and stops with `Interrupted`: a scheduler stopping its task must not wait for a
    /// long query.
    async fn unless_stopped<T>(&self, query: impl std::future::Future<Output = T>) -> Result<T> {
        tokio::select! {
            value = query => Ok(value),
            signo = crate::signals::wait() => Err(self.stopped(signo).await),
        }
    }

    /// Asks the server to cancel the query (best effort, bounded: the run stops either way); the
    /// error the run stops with.
    async fn stopped(&self, signo: i32) -> Error {
        let cancel = async {
            match &self.tls {
                None => self.token.cancel_query(tokio_postgres::NoTls).await,
                Some(tls) => self.token.cancel_query(tls.clone()).await,
            }
        };
        let _ = tokio::time::timeout(std::time::Duration::from_secs(5), cancel).await;
        crate::signals::Interrupted(signo).into()
    }
}

async fn connect(url: &str) -> Result<(tokio_postgres::Client, Canceller)> {
    let remote = |message: String| Error::Remote { source_name: shown(url), message };
    let config: tokio_postgres::Config =
        url.parse().map_err(|e| remote(format!("not a PostgreSQL URL: {e}")))?;
    // The whole handshake is bounded, not only the TCP connect: a server that accepts and then says
    // nothing (not PostgreSQL, or stuck) must not hold the run forever.
    let limit = config.get_connect_timeout().copied().unwrap_or(CONNECT_TIMEOUT);
    let timed_out = || {
        remote(format!(
            "no answer to the connection handshake within {} s: is this a PostgreSQL server? (set \
             connect_timeout in the URL to wait longer)",
            limit.as_secs()
        ))
    };
    let (client, canceller) = if config.get_ssl_mode() == tokio_postgres::config::SslMode::Disable {
        let (client, connection) = tokio::time::timeout(limit, config.connect(tokio_postgres::NoTls))
            .await
            .map_err(|_| timed_out())?
            .map_err(|e| remote(describe(&e)))?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::warn!("PostgreSQL connection: {e}");
            }
        });
        let canceller = Canceller { token: client.cancel_token(), tls: None };
        (client, canceller)
    } else {
        let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
        let tls_config = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| remote(format!("TLS: {e}")))?
            .dangerous()
            .with_custom_certificate_verifier(std::sync::Arc::new(EncryptOnly(provider)))
            .with_no_client_auth();
        let tls = tokio_postgres_rustls::MakeRustlsConnect::new(tls_config);
        let (client, connection) = tokio::time::timeout(limit, config.connect(tls.clone()))
            .await
            .map_err(|_| timed_out())?
            .map_err(|e| remote(describe(&e)))?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::warn!("PostgreSQL connection: {e}");
            }
        });
        let canceller = Canceller { token: client.cancel_token(), tls: Some(tls) };
        (client, canceller)
    };
    // Text forms that do not depend on the server's or the role's settings.
    client
        .batch_execute(
            "SET datestyle = 'ISO, YMD'; SET extra_float_digits = 3; SET standard_conforming_strings = on; \
             SET intervalstyle = 'postgres'",
        )
        .await
        .map_err(|e| remote(describe(&e)))?;
    Ok((client, canceller))
}

/// An error with PostgreSQL's own message, detail and hint.
fn describe(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => {
            let mut text = format!("{}: {}", db.severity(), db.message());
            if let Some(detail) = db.detail() {
                text += &format!(" ({detail})");
            }
            if let Some(hint) = db.hint() {
                text += &format!("; hint: {hint}");
            }
            text
        }
        None => {
            let mut text = e.to_string();
            let mut source = std::error::Error::source(e);
            while let Some(cause) = source {
                text += &format!(": {cause}");
                source = cause.source();
            }
            text
        }
    }
}

/// What a read produced.
pub struct PgRows {
    /// The rows, a source read while the COPYs run (one part per connection).
    pub rows: Arc<dyn Extract>,
    /// The pins PostgreSQL's types give.
    pub pins: Pins,
    /// The incremental column's highest value read (the next checkpoint), if incremental.
    pub highest: Option<String>,
    /// The COPY, still running.
    pub copy: Copy,
}

/// The COPYs streaming to their reader. Dropped before they end, they are stopped, and their reader
/// fails rather than wait.
pub struct Copy {
    tasks: Vec<CopyTask>,
}

/// A connection's COPY: its task, and its spool file's state (a CSV COPY).
type CopyTask = (tokio::task::JoinHandle<Result<u64>>, Option<Arc<Growing>>);

impl Copy {
    /// Waits for every COPY to end: the bytes they wrote, or the first error.
    pub async fn finish(mut self) -> Result<u64> {
        let mut total = 0;
        for (task, _) in &mut self.tasks {
            total += task.await.map_err(|e| Error::Internal(format!("the COPY task failed: {e}")))??;
        }
        Ok(total)
    }
}

impl Drop for Copy {
    fn drop(&mut self) {
        for (task, growing) in &self.tasks {
            task.abort();
            if let Some(growing) = growing {
                growing.finish(Err("the COPY was stopped".into()));
            }
        }
    }
}

/// A table this large (in 8 KiB pages) is read over two connections, each half of its pages, in one
/// snapshot: the server's work on two cores (`ETL_PG_PARALLEL_PAGES` sets it, for tests).
const PARALLEL_PAGES: i64 = 4096;

/// Bytes of the COPY written to the spool file at a time, or handed to the reader.
const SPOOL_CHUNK: usize = 256 << 10;

/// Chunks of a binary COPY on their way to the reader, at most: a COPY further ahead waits.
const CHANNEL_CHUNKS: usize = 8;

/// The columns of `table`'s `PRIMARY KEY` constraint, in its order (none: the table has none).
pub async fn primary_key(url: &str, table: &str) -> Result<Vec<String>> {
    let (client, canceller) = connect(url).await?;
    let sql = "SELECT a.attname::text FROM pg_index i \
               JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) \
               WHERE i.indrelid = $1::text::regclass AND i.indisprimary \
               ORDER BY array_position(i.indkey::int2[], a.attnum)";
    let rows = canceller.unless_stopped(client.query(sql, &[&table])).await?.map_err(|e| Error::Remote {
        source_name: shown(url),
        message: format!("the primary key of {table}: {}", describe(&e)),
    })?;
    Ok(rows.iter().map(|row| row.get::<_, String>(0)).collect())
}

/// Runs the query and streams its rows to their reader (a CSV COPY through a spool file in `dir`):
/// the rows can be read at once, while they arrive (each COPY runs on a task of its own, see
/// [`Copy`]). `again`: the rows may be read a second time (checks that fetch the rows they refuse),
/// so a binary COPY is also spooled in `dir` as it is read.
pub async fn read(source: &PgSource, dir: &Path, again: bool) -> Result<PgRows> {
    let name = shown(&source.url);
    let remote = |message: String| Error::Remote { source_name: name.clone(), message };
    let (client, canceller) = connect(&source.url).await?;
    client
        .batch_execute(SESSION_SETTINGS)
        .await
        .map_err(|e| remote(format!("setting the session up: {}", describe(&e))))?;
    let inner = format!("({}) AS etl_source", source.query.trim().trim_end_matches(';'));
    let statement = canceller
        .unless_stopped(client.prepare(&format!("SELECT * FROM {inner}")))
        .await?
        .map_err(|e| remote(format!("the query: {}", describe(&e))))?;
    // The names as the rows' reader cleans them (trimmed), so that every column is pinned.
    let columns =
        super::csv::column_names(&name, statement.columns().iter().map(|c| c.name().to_owned()).collect());
    let mut pins = Pins::none();
    let mut select = Vec::new();
    let mut parsers = Vec::new();
    for (column, cleaned) in statement.columns().iter().zip(&columns) {
        let col = quote_ident(column.name());
        let (expr, parser) = column_of(base_type(column.type_()), &col);
        select.push(format!("{expr} AS {col}"));
        pins = pins.pin(cleaned, parser);
        parsers.push(parser);
    }
    // In binary (numbers and timestamps are then never text); `ETL_PG_COPY_FORMAT=csv` copies as
    // CSV (for tests: the server's own CSV, to hold the binary path to).
    let binary: Option<Vec<(String, Field)>> = match std::env::var("ETL_PG_COPY_FORMAT").as_deref() {
        Ok("csv") => None,
        _ => Some(
            statement
                .columns()
                .iter()
                .map(|c| {
                    let col = quote_ident(c.name());
                    let (expr, field) = binary_of(base_type(c.type_()), &col);
                    (format!("{expr} AS {col}"), field)
                })
                .collect(),
        ),
    };
    match &binary {
        Some(_) => tracing::info!("copying the rows in binary"),
        None => tracing::info!("copying the rows as CSV (ETL_PG_COPY_FORMAT=csv)"),
    }
    let (select, fields) = match binary {
        Some(columns) => {
            let (select, fields): (Vec<String>, Vec<Field>) = columns.into_iter().unzip();
            (select, Some(fields))
        }
        None => (select, None),
    };
    if select.is_empty() {
        return Err(remote("the query returns no columns".into()));
    }
    // `numeric` has no scale of its own (or one per column that a query can lose): the values say
    // how many decimals a Decimal needs, and whether 38 digits hold them.
    let numeric: Vec<(&str, &str)> = statement
        .columns()
        .iter()
        .zip(&columns)
        .filter(|(c, _)| *base_type(c.type_()) == Type::NUMERIC)
        .map(|(c, cleaned)| (c.name(), cleaned.as_str()))
        .collect();
    if !numeric.is_empty() {
        let stats: Vec<String> = numeric
            .iter()
            .map(|(c, _)| {
                let c = quote_ident(c);
                format!("max(scale({c}))::int8, max(length(trunc(abs({c}))::text))::int8")
            })
            .collect();
        let row = canceller
            .unless_stopped(client.query_one(&format!("SELECT {} FROM {inner}", stats.join(", ")), &[]))
            .await?
            .map_err(|e| remote(format!("the scale of numeric columns: {}", describe(&e))))?;
        for (i, (_, name)) in numeric.iter().enumerate() {
            let scale = row.get::<_, Option<i64>>(2 * i).unwrap_or(0);
            let digits = row.get::<_, Option<i64>>(2 * i + 1).unwrap_or(1);
            let parser = match u8::try_from(scale) {
                Ok(0) if digits <= 38 => Parser::Decimal,
                Ok(scale) if digits + i64::from(scale) <= 38 => Parser::Fixed(scale),
                // More than a Decimal holds: the exact text.
                _ => Parser::Text,
            };
            pins = pins.pin(name, parser);
        }
    }
    // Incremental: rows after the checkpoint, up to the highest value now (rows written while the
    // copy runs wait for the next run instead of being half-seen).
    let mut filter = String::new();
    let mut highest = None;
    if let Some((column, after)) = &source.incremental {
        if !statement.columns().iter().any(|c| c.name() == column) {
            return Err(Error::Usage(format!(
                "--incremental-column `{column}` is not a column of the query"
            )));
        }
        let col = quote_ident(column);
        let lower = after.as_ref().map(|a| format!("{col} > {}", quote_literal(a)));
        let highest_query = format!(
            "SELECT max({col})::text FROM {inner}{}",
            lower.as_ref().map(|l| format!(" WHERE {l}")).unwrap_or_default()
        );
        let row = canceller
            .unless_stopped(client.query_one(&highest_query, &[]))
            .await?
            .map_err(|e| remote(format!("the incremental column's highest value: {}", describe(&e))))?;
        highest = row.get::<_, Option<String>>(0);
        filter = match (&lower, &highest) {
            // After the checkpoint, up to the highest value now.
            (Some(lower), Some(h)) => format!(" WHERE {lower} AND {col} <= {}", quote_literal(h)),
            (Some(_), None) => " WHERE false".into(),
            // Everything (rows without a value too), but rows written after the highest value was read.
            (None, Some(h)) => format!(" WHERE {col} <= {} OR {col} IS NULL", quote_literal(h)),
            (None, None) => String::new(),
        };
    }
    // The pages of a large plain table, split in two: each half read by a connection of its own, both
    // in the snapshot of the first (so that they read one state of the table).
    let halves = match &source.table {
        Some(table) => split_pages(&client, table).await.map_err(|e| remote(describe(&e)))?,
        None => None,
    };
    let format = match fields {
        Some(_) => "FORMAT binary",
        None => "FORMAT csv, HEADER true, ENCODING 'UTF8'",
    };
    let copy_of = |inner: &str| {
        format!("COPY (SELECT {} FROM {inner}{filter}) TO STDOUT WITH ({format})", select.join(", "))
    };
    let mut parts = Vec::new();
    let mut binary_parts = Vec::new();
    let mut tasks = Vec::new();
    let mut start = |client: tokio_postgres::Client,
                     canceller: Canceller,
                     copy: String,
                     part: usize,
                     of: usize| {
        let label =
            if of == 1 { format!("{name} (query)") } else { format!("{name} (query, part {part} of {of})") };
        // A binary COPY goes straight to its reader; a CSV one through a spool file read as it grows.
        let (sink, growing) = match fields {
            Some(_) => {
                let (sender, chunks) = tokio::sync::mpsc::channel(CHANNEL_CHUNKS);
                binary_parts.push(Part { chunks, label });
                (Sink::Reader(sender), None)
            }
            None => {
                let path = dir.join(format!("rows-{part}.csv"));
                let file = std::fs::File::create(&path).map_err(|e| Error::io(&path, e))?;
                let growing = Arc::new(Growing::default());
                parts.push(CsvFile::growing(&path, growing.clone())?.named("postgres", label));
                let file = tokio::fs::File::from_std(file);
                (Sink::File { file, growing: growing.clone(), path }, Some(growing))
            }
        };
        let name = name.clone();
        tasks.push((
            tokio::spawn(async move {
                let stream = match canceller.unless_stopped(client.copy_out(&copy)).await {
                    Ok(stream) => stream.map_err(|e| Error::Remote {
                        source_name: name.clone(),
                        message: format!("COPY: {}", describe(&e)),
                    }),
                    Err(stopped) => Err(stopped),
                };
                match stream {
                    Ok(stream) => spool(stream, sink, name, client, canceller).await,
                    Err(e) => {
                        sink.end(Err(e.to_string())).await;
                        Err(e)
                    }
                }
            }),
            growing,
        ));
        Ok::<(), Error>(())
    };
    match halves {
        None => {
            start(client, canceller, copy_of(&inner), 1, 1)?;
        }
        Some((table, middle)) => {
            tracing::info!("{table} is read over two connections in one snapshot, each half of its pages");
            let snapshot: String = client
                .query_one("SELECT pg_export_snapshot()", &[])
                .await
                .map_err(|e| remote(format!("exporting the snapshot: {}", describe(&e))))?
                .get(0);
            let (second, second_canceller) = connect(&source.url).await?;
            second
                .batch_execute(&format!(
                    "{SESSION_SETTINGS}; BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY; SET TRANSACTION SNAPSHOT {}",
                    quote_literal(&snapshot)
                ))
                .await
                .map_err(|e| remote(format!("a second connection in the same snapshot: {}", describe(&e))))?;
            let range = |bounds: &str| format!("(SELECT * FROM {table} WHERE {bounds}) AS etl_source");
            start(client, canceller, copy_of(&range(&format!("ctid < '({middle},0)'::tid"))), 1, 2)?;
            start(second, second_canceller, copy_of(&range(&format!("ctid >= '({middle},0)'::tid"))), 2, 2)?;
        }
    }
    let rows: Arc<dyn Extract> = match &fields {
        Some(fields) => {
            // The line the first row has in the server's CSV, whose header holds the names as they are.
            let breaks: usize = statement.columns().iter().map(|c| c.name().matches('\n').count()).sum();
            let spool = again.then(|| dir.to_path_buf());
            let first_line = 2 + breaks as u64;
            Arc::new(BinaryParts::new(
                source_name(source),
                &columns,
                first_line,
                fields,
                &parsers,
                binary_parts,
                spool,
            ))
        }
        None => Arc::new(CsvParts::new("postgres", source_name(source), parts)),
    };
    Ok(PgRows { rows, pins, highest, copy: Copy { tasks } })
}

/// For a plain table of at least [`PARALLEL_PAGES`] pages: a transaction (repeatable read, so that
/// its snapshot can be exported) begun on `client`, and the table and the page that splits it in
/// two; else `None`, and nothing begun.
async fn split_pages(
    client: &tokio_postgres::Client,
    table: &str,
) -> std::result::Result<Option<(String, i64)>, tokio_postgres::Error> {
    let least =
        std::env::var("ETL_PG_PARALLEL_PAGES").ok().and_then(|v| v.parse().ok()).unwrap_or(PARALLEL_PAGES);
    let row = client
        .query_opt(
            "SELECT c.relkind::text, (pg_relation_size(c.oid) / current_setting('block_size')::int8)::int8 \
             FROM pg_class c WHERE c.oid = to_regclass($1)",
            &[&table],
        )
        .await?;
    let Some(row) = row else { return Ok(None) };
    let (kind, pages): (String, i64) = (row.get(0), row.get(1));
    if kind != "r" || pages < least.max(2) {
        return Ok(None);
    }
    client.batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY").await?;
    Ok(Some((table.to_owned(), pages / 2)))
}

/// Where a COPY's bytes go.
enum Sink {
    /// A spool file, read as it grows (a CSV COPY).
    File { file: tokio::fs::File, growing: Arc<Growing>, path: std::path::PathBuf },
    /// The binary reader.
    Reader(tokio::sync::mpsc::Sender<Chunk>),
}

impl Sink {
    /// Hands `chunk` on (emptied); `false`: the reader is gone (it failed or was stopped, and says
    /// why itself), so the COPY can stop.
    async fn put(&mut self, chunk: &mut Vec<u8>, total: u64) -> Result<bool> {
        match self {
            Sink::File { file, growing, path } => {
                file.write_all(chunk).await.map_err(|e| Error::io(&*path, e))?;
                // Flushed, so that the bytes are in the file (not in tokio's hands) when offered.
                file.flush().await.map_err(|e| Error::io(&*path, e))?;
                chunk.clear();
                growing.wrote(total);
                Ok(true)
            }
            Sink::Reader(sender) => {
                let bytes = std::mem::replace(chunk, Vec::with_capacity(SPOOL_CHUNK + (64 << 10)));
                Ok(sender.send(Chunk::Bytes(bytes)).await.is_ok())
            }
        }
    }

    /// Tells the reader how the COPY ended.
    async fn end(&self, result: std::result::Result<(), String>) {
        match self {
            Sink::File { growing, .. } => growing.finish(result),
            Sink::Reader(sender) => {
                let _ = sender.send(Chunk::End(result)).await;
            }
        }
    }
}

/// Hands the COPY's bytes to `sink` in chunks, and then how it ended. `client` is kept until the
/// end: the stream needs its connection.
async fn spool(
    stream: tokio_postgres::CopyOutStream,
    mut sink: Sink,
    name: String,
    client: tokio_postgres::Client,
    canceller: Canceller,
) -> Result<u64> {
    let copied = async {
        let mut chunk = Vec::with_capacity(SPOOL_CHUNK + (64 << 10));
        let mut total = 0u64;
        futures::pin_mut!(stream);
        // One watch for the whole COPY, not one per row.
        let signal = crate::signals::wait();
        futures::pin_mut!(signal);
        loop {
            let next = tokio::select! {
                biased;
                next = stream.next() => next,
                signo = &mut signal => return Err(canceller.stopped(signo).await),
            };
            if let Some(row) = &next {
                // One message is one row: gathered into chunks, handed on a chunk at a time.
                let row = row.as_ref().map_err(|e| Error::Remote {
                    source_name: name.clone(),
                    message: format!("COPY: {}", describe(e)),
                })?;
                chunk.extend_from_slice(row);
                if chunk.len() < SPOOL_CHUNK {
                    continue;
                }
            }
            total += chunk.len() as u64;
            if !sink.put(&mut chunk, total).await? || next.is_none() {
                return Ok(total);
            }
        }
    }
    .await;
    drop(client);
    sink.end(copied.as_ref().map(|_| ()).map_err(ToString::to_string)).await;
    copied
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(quote_ident(r#"a"b"#), r#""a""b""#);
        assert_eq!(quote_literal("it's"), "'it''s'");
        assert_eq!(table_name("public.Orders").unwrap(), "public.Orders");
        assert_eq!(table_name("my table").unwrap(), "\"my table\"");
        assert_eq!(table_name(r#""Orders""#).unwrap(), r#""Orders""#);
        assert_eq!(table_name(r#"s."a""b".c"#).unwrap(), r#"s."a""b".c"#);
        // Never pasted as it came (issue 15).
        assert!(table_name(r#"x"; DROP TABLE y; --"#).is_err());
        assert!(table_name(r#""x"; DROP TABLE y; --"#).is_err());
        assert!(table_name(r#""open"#).is_err());
        let (expr, parser) = column_of(&Type::TIMESTAMPTZ, "\"at\"");
        assert_eq!(expr, "\"at\"", "written by COPY in the session's UTC");
        assert_eq!(parser, Parser::Datetime(DatetimeFormat::ISO, Zone::Offset));
        assert_eq!(column_of(&Type::BOOL, "\"b\""), ("(\"b\")::text".into(), Parser::Bool));
        assert_eq!(column_of(&Type::INT4_ARRAY, "\"xs\"").1, Parser::List(ListOf::Int64));
        assert_eq!(column_of(&Type::DATE_ARRAY, "\"ds\"").1, Parser::Text);
    }
}
