//! `etl doctor`: the target tried the way a run uses it ([`crate::load::probe`]), the findings on
//! stdout, the verdict in the summary.

use std::time::Instant;

use super::context::Context;
use crate::error::{Error, Result};
use crate::load::layout::new_run_id;
use crate::load::probe::{self, Outcome};
use crate::summary::{count, table, Summary};

/// Runs the checks and prints what they found; fails (after printing) when one failed.
pub async fn run(json: bool, ctx: &Context) -> Result<Summary> {
    let started = Instant::now();
    let store = crate::store::open(&ctx.target).await?;
    let scratch = crate::store::staging_outside_the_target();
    let report = probe::probe(store.as_ref(), &new_run_id(), &scratch).await;
    let facts = store.facts();
    let out = if json {
        let checks: Vec<_> = report
            .checks
            .iter()
            .map(|c| {
                serde_json::json!({
                    "check": c.name, "outcome": c.outcome.label().to_lowercase(), "detail": c.detail, "ms": c.millis,
                })
            })
            .collect();
        let facts: serde_json::Map<String, serde_json::Value> =
            facts.iter().map(|(k, v)| ((*k).to_owned(), v.clone().into())).collect();
        let lock = match report.lock {
            probe::LockPromise::Exclusive => "exclusive",
            probe::LockPromise::BestEffort => "best effort",
            probe::LockPromise::Unknown => "unknown",
        };
        let value = serde_json::json!({ "target": facts, "checks": checks, "lock": lock });
        format!("{}\n", serde_json::to_string_pretty(&value).map_err(|e| Error::Internal(e.to_string()))?)
    } else {
        let width = facts.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
        let mut out = String::from("target\n");
        for (key, value) in &facts {
            out += &format!("  {key:<width$}  {value}\n");
        }
        let rows: Vec<Vec<String>> = report
            .checks
            .iter()
            .map(|c| {
                vec![c.name.to_owned(), c.outcome.label().to_owned(), c.millis.to_string(), c.detail.clone()]
            })
            .collect();
        out += "\n";
        out += &table(&["CHECK", "RESULT", "MS", "DETAIL"], &rows);
        out += &format!("\nlock: {}\n", report.lock.describe());
        out
    };
    crate::stdout::print(&out)?;
    let tally = |outcome| report.checks.iter().filter(|c| c.outcome == outcome).count() as u64;
    let (passed, warned, failed) = (tally(Outcome::Ok), tally(Outcome::Warning), tally(Outcome::Failed));
    if failed > 0 {
        let failures: Vec<String> = report
            .checks
            .iter()
            .filter(|c| c.outcome == Outcome::Failed)
            .map(|c| format!("{}: {}", c.name, c.detail))
            .collect();
        return Err(match report.error {
            // A store that cannot be reached or refuses the credentials says so in its own words.
            Some(e) if e.is_usage() => e.into(),
            _ => Error::Refused(format!(
                "{} failed on {}: {}",
                count(failed, "check"),
                store.url(),
                failures.join("; ")
            )),
        });
    }
    let mut summary = Summary::new("doctor", store.url());
    summary.seconds = started.elapsed().as_secs_f64();
    let mut verdict = format!("{} passed", count(passed, "check"));
    if warned > 0 {
        verdict += &format!(", {}", count(warned, "warning"));
    }
    summary.notes.push(verdict);
    summary.notes.push(format!(
        "lock {}",
        match report.lock {
            probe::LockPromise::Exclusive => "exclusive",
            probe::LockPromise::BestEffort => "best effort (the store ignores If-None-Match)",
            probe::LockPromise::Unknown => "unknown",
        }
    ));
    Ok(summary)
}
