//! A PostgreSQL query as a source (`load-postgres`). Types come from PostgreSQL, not from inference:
//! each column is selected in a text form the typing reads exactly (booleans as `true`/`false`,
//! timestamps as ISO 8601, `timestamptz` in UTC, arrays and JSON as JSON text) and pinned to its type.
//! Rows stream out through `COPY (...) TO STDOUT (FORMAT csv)` into a local file (never held in
//! memory), then are read as CSV.

use std::path::Path;

use futures::StreamExt;
use tokio::io::AsyncWriteExt;
use tokio_postgres::types::Type;

use super::csv::{CsvFile, CsvOptions};
use crate::error::{Error, Result};
use crate::transform::values::{DateFormat, DatetimeFormat, Zone};
use crate::transform::{Parser, Pins};

/// What to read.
#[derive(Debug, Clone)]
pub struct PgSource {
    /// `postgres://user@host:port/db?sslmode=require`; its password is never printed.
    pub url: String,
    /// A query (`SELECT ...`); or, with `table`, every row of a table.
    pub query: String,
    /// An incremental load's column and the checkpoint to read after.
    pub incremental: Option<(String, Option<String>)>,
}

/// `"name"`, with `"` doubled.
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `'text'`, with `'` doubled (standard_conforming_strings is on since PostgreSQL 9.1).
pub fn quote_literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// How a column of type `ty` is selected (`col` quoted) and pinned.
pub fn column_of(ty: &Type, col: &str) -> (String, Parser) {
    let text = format!("({col})::text");
    match *ty {
        Type::BOOL => (text, Parser::Bool),
        Type::INT2 | Type::INT4 | Type::INT8 | Type::OID => (text, Parser::Int),
        Type::FLOAT4 | Type::FLOAT8 => (text, Parser::Float),
        Type::DATE => (text, Parser::Date(DateFormat::Iso)),
        Type::TIMESTAMP => (
            format!("to_char({col}, 'YYYY-MM-DD\"T\"HH24:MI:SS.US')"),
            Parser::Datetime(DatetimeFormat::ISO, Zone::Naive),
        ),
        Type::TIMESTAMPTZ => (
            format!("to_char({col} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"),
            Parser::Datetime(DatetimeFormat::ISO, Zone::Offset),
        ),
        // Decimal(38, 0) holds integers: a numeric with a fraction stays exact as text.
        Type::NUMERIC => (text, Parser::Text),
        Type::JSON | Type::JSONB => (text, Parser::Text),
        _ if matches!(ty.kind(), tokio_postgres::types::Kind::Array(_)) => {
            (format!("to_json({col})::text"), Parser::Text)
        }
        _ => (text, Parser::Text),
    }
}

/// The URL with its password removed, for messages.
pub fn shown(url: &str) -> String {
    crate::config::mask_url(url)
}

async fn connect(url: &str) -> Result<tokio_postgres::Client> {
    let remote = |message: String| Error::Remote { source_name: shown(url), message };
    let config: tokio_postgres::Config =
        url.parse().map_err(|e| remote(format!("not a PostgreSQL URL: {e}")))?;
    let client = if config.get_ssl_mode() == tokio_postgres::config::SslMode::Disable {
        let (client, connection) =
            config.connect(tokio_postgres::NoTls).await.map_err(|e| remote(describe(&e)))?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::warn!("PostgreSQL connection: {e}");
            }
        });
        client
    } else {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let tls = tokio_postgres_rustls::MakeRustlsConnect::with_webpki_roots();
        let (client, connection) = config.connect(tls).await.map_err(|e| remote(describe(&e)))?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::warn!("PostgreSQL connection: {e}");
            }
        });
        client
    };
    Ok(client)
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
    /// The rows, as a CSV source.
    pub csv: CsvFile,
    /// The pins PostgreSQL's types give.
    pub pins: Pins,
    /// The incremental column's highest value read (the next checkpoint), if incremental.
    pub highest: Option<String>,
    pub bytes: u64,
}

/// Runs the query and streams its rows into `dir`.
pub async fn read(source: &PgSource, dir: &Path) -> Result<PgRows> {
    let name = shown(&source.url);
    let remote = |message: String| Error::Remote { source_name: name.clone(), message };
    let client = connect(&source.url).await?;
    let inner = format!("({}) AS etl_source", source.query.trim().trim_end_matches(';'));
    let statement = client
        .prepare(&format!("SELECT * FROM {inner}"))
        .await
        .map_err(|e| remote(format!("the query: {}", describe(&e))))?;
    let mut pins = Pins::none();
    let mut select = Vec::new();
    for column in statement.columns() {
        let col = quote_ident(column.name());
        let (expr, parser) = column_of(column.type_(), &col);
        select.push(format!("{expr} AS {col}"));
        pins = pins.pin(column.name(), parser);
    }
    if select.is_empty() {
        return Err(remote("the query returns no columns".into()));
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
        let row = client
            .query_one(
                &format!(
                    "SELECT max({col})::text FROM {inner}{}",
                    lower.as_ref().map(|l| format!(" WHERE {l}")).unwrap_or_default()
                ),
                &[],
            )
            .await
            .map_err(|e| remote(format!("the incremental column's highest value: {}", describe(&e))))?;
        highest = row.get::<_, Option<String>>(0);
        let upper = highest.as_ref().map(|h| format!("{col} <= {}", quote_literal(h)));
        let conditions: Vec<String> = lower.into_iter().chain(upper).collect();
        if !conditions.is_empty() {
            filter = format!(" WHERE {}", conditions.join(" AND "));
        }
        if highest.is_none() {
            filter = " WHERE false".into();
        }
    }
    let copy = format!(
        "COPY (SELECT {} FROM {inner}{filter}) TO STDOUT WITH (FORMAT csv, HEADER true, ENCODING 'UTF8')",
        select.join(", ")
    );
    let path = dir.join("rows.csv");
    let stream = client.copy_out(&copy).await.map_err(|e| remote(format!("COPY: {}", describe(&e))))?;
    let mut file = tokio::fs::File::create(&path).await.map_err(|e| Error::io(&path, e))?;
    let mut bytes = 0u64;
    futures::pin_mut!(stream);
    while let Some(chunk) = stream.next().await {
        crate::signals::check()?;
        let chunk = chunk.map_err(|e| remote(format!("COPY: {}", describe(&e))))?;
        file.write_all(&chunk).await.map_err(|e| Error::io(&path, e))?;
        bytes += chunk.len() as u64;
    }
    file.flush().await.map_err(|e| Error::io(&path, e))?;
    let csv = CsvFile::new(&path, CsvOptions::strict())?.named("postgres", format!("{name} (query)"));
    Ok(PgRows { csv, pins, highest, bytes })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(quote_ident(r#"a"b"#), r#""a""b""#);
        assert_eq!(quote_literal("it's"), "'it''s'");
        let (expr, parser) = column_of(&Type::TIMESTAMPTZ, "\"at\"");
        assert!(expr.contains("AT TIME ZONE 'UTC'"), "{expr}");
        assert_eq!(parser, Parser::Datetime(DatetimeFormat::ISO, Zone::Offset));
        assert_eq!(column_of(&Type::BOOL, "\"b\""), ("(\"b\")::text".into(), Parser::Bool));
        assert_eq!(column_of(&Type::INT4_ARRAY, "\"xs\"").1, Parser::Text);
    }
}
