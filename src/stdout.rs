//! Standard output: listings, tables, dry-run plans, `--print-config`. One way to write it, which
//! takes a closed pipe (`etl runs x | head -3`) as the reader having seen enough: the command ends
//! quietly with exit 0 ([`crate::Error::ClosedOutput`]), never with a panic.

use std::io::Write;

use crate::error::{Error, Result};

/// Writes `text` to standard output, redacted (see [`crate::redact`]).
pub fn print(text: &str) -> Result<()> {
    write(&crate::redact::redact(text))
}

/// Writes a file the tool made to standard output as it is (`etl schedule export`): its text is code
/// and names that redaction's shapes would rewrite into something that no longer parses (`auth:
/// api-key`), and what it holds was checked for secrets before.
pub fn print_file(text: &str) -> Result<()> {
    write(text)
}

fn write(text: &str) -> Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes()).and_then(|()| out.flush()).map_err(|e| {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            Error::ClosedOutput
        } else {
            Error::Internal(format!("could not write to standard output: {e}"))
        }
    })
}
