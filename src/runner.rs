//! Loading the entries of a catalog: one, several, or every enabled one (`--all`), each
//! independently and at most `jobs` at a time. One failure does not stop the others; the run's
//! summary lists every dataset, and fails if any did.

use std::future::Future;
use std::time::Instant;

use futures::StreamExt;

use crate::catalog::Entry;
use crate::error::Result;
use crate::logging::LogFormat;
use crate::summary::{DatasetOutcome, Status, Summary};

/// The note of a run that selected nothing.
pub const NOTHING_TO_DO: &str = "no enabled dataset in the catalog: nothing to do";

/// How the selected entries run.
#[derive(Debug, Clone, Copy)]
pub struct RunOptions {
    /// Loads at once (`None`: [`default_jobs`]).
    pub jobs: Option<usize>,
    /// `--all` (or several names): report per dataset even when there is only one.
    pub batch: bool,
    pub log_format: LogFormat,
}

/// Runs `load` for each entry. An entry named alone returns its outcome as it is (its error is the
/// run's error); with `--all` or several names, the outcomes are gathered into one summary with a
/// line per dataset. `load` gets the entry.
pub async fn run_entries<'a, E, F, Fut>(
    command: &'static str,
    target: String,
    entries: Vec<&'a E>,
    options: RunOptions,
    load: F,
) -> Result<Summary>
where
    E: Entry,
    F: Fn(&'a E) -> Fut,
    Fut: Future<Output = Result<Summary>>,
{
    if let (false, [entry]) = (options.batch, entries.as_slice()) {
        // The summary is the run's (`etl run`), and says which entry ran as what.
        let mut summary = load(entry).await?;
        if summary.command != command {
            // `etl run`'s summary names its job in its head (`etl run "nightly": ok`).
            let named = match command {
                "run" => {
                    summary.job = Some(entry.name().to_owned());
                    String::new()
                }
                _ => format!("\"{}\" ", entry.name()),
            };
            summary.notes.insert(0, format!("{named}ran as {}", summary.command));
            summary.command = command;
        }
        return Ok(summary);
    }
    let mut total = Summary::new(command, target);
    if entries.is_empty() {
        total.notes.push(NOTHING_TO_DO.into());
        return Ok(total);
    }
    let started = Instant::now();
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let jobs =
        options.jobs.unwrap_or_else(|| default_jobs(cores, entries.iter().any(|e| e.waits_on_a_server())));
    tracing::debug!("{jobs} load(s) at once");
    // Entries that write one dataset run one after the other, in the catalog's order (at once,
    // the second would fail on the first's lock, or win it, by timing); datasets run side by side.
    let mut groups: Vec<Vec<(usize, &'a E)>> = Vec::new();
    for (index, entry) in entries.into_iter().enumerate() {
        match groups.iter_mut().find(|g| g[0].1.dataset() == entry.dataset()) {
            Some(group) => group.push((index, entry)),
            None => groups.push(vec![(index, entry)]),
        }
    }
    let run_one = |index: usize, entry: &'a E| {
        let load = &load;
        async move {
            let began = Instant::now();
            // Each load at once has a progress bar of its own, labelled with its dataset.
            let outcome = load(entry).await;
            if let Err(error) = &outcome {
                let full = format!("{error:#}");
                let message = without_name(&full, entry.name(), entry.dataset().as_str());
                match options.log_format {
                    LogFormat::Text => {
                        crate::logging::eprint_lines(&format!("error: \"{}\": {message}", entry.name()))
                    }
                    LogFormat::Json => {
                        tracing::error!(dataset = entry.dataset().as_str(), "\"{}\": {message}", entry.name())
                    }
                }
            }
            (index, entry, began.elapsed().as_secs_f64(), outcome)
        }
    };
    let mut outcomes: Vec<(usize, &'a E, f64, Result<Summary>)> = futures::stream::iter(groups)
        .map(|group| {
            let run_one = &run_one;
            async move {
                let mut done = Vec::with_capacity(group.len());
                for (index, entry) in group {
                    done.push(run_one(index, entry).await);
                }
                done
            }
        })
        // Unordered: a slow dataset must not hold back the start of the next ones.
        .buffer_unordered(jobs.max(1))
        .flat_map(futures::stream::iter)
        .collect()
        .await;
    // The table follows the catalog's order.
    outcomes.sort_by_key(|(index, ..)| *index);

    let mut failed: Vec<String> = Vec::new();
    // Dry runs whose checks would fail (exit 65, the status stays dry-run).
    let mut would_fail: Vec<String> = Vec::new();
    let mut codes: Vec<u8> = Vec::new();
    for (_, entry, seconds, outcome) in outcomes {
        let mut line = DatasetOutcome {
            name: entry.name().to_owned(),
            dataset: entry.dataset().to_string(),
            status: Status::Failed,
            rows: 0,
            partitions: 0,
            seconds,
            checks: Vec::new(),
            error: None,
        };
        match outcome {
            // A dry run whose checks would fail says so by its exit code.
            Ok(s) if s.exit_code.is_some() => {
                codes.extend(s.exit_code);
                would_fail.push(format!("\"{}\"", entry.name()));
                line.status = s.status;
                line.rows = s.rows_written;
                line.checks = s.checks;
                total.status = s.status;
                total.notes.extend(s.notes.iter().map(|n| format!("\"{}\": {n}", entry.name())));
            }
            Ok(s) => {
                line.status = s.status;
                line.checks = s.checks.clone();
                line.rows = s.rows_written;
                line.partitions = s.partitions;
                total.rows_read += s.rows_read;
                total.rows_written += s.rows_written;
                total.partitions += s.partitions;
                total.files += s.files;
                total.unchanged += s.unchanged;
                total.bytes += s.bytes;
                total.deleted += s.deleted;
                total.notes.extend(s.notes.iter().map(|n| format!("\"{}\": {n}", entry.name())));
                if s.status == Status::DryRun {
                    total.status = Status::DryRun;
                }
            }
            Err(e) => {
                if let crate::error::Error::Checks { summary, .. } = &e {
                    line.checks = summary.checks.clone();
                }
                codes.push(e.exit_code());
                failed.push(format!("\"{}\"", entry.name()));
                line.error = Some(format!("{e:#}"));
            }
        }
        total.datasets.push(line);
    }
    let count = total.datasets.len();
    total.seconds = started.elapsed().as_secs_f64();
    if failed.is_empty() {
        total.notes.push(format!("{count} dataset{}", if count == 1 { "" } else { "s" }));
        if !would_fail.is_empty() {
            total.exit_code = Some(65);
            total.notes.push(format!("checks would fail for {}", would_fail.join(", ")));
        }
    } else {
        total.status = Status::Failed;
        // Stopped by a signal: 130/143, as a single load would; every failure a held lock: 75.
        if let Some(&signal) = codes.iter().find(|&&c| c > 128) {
            total.status = Status::Cancelled;
            total.exit_code = Some(signal);
        } else if let Some(&code) = codes.first().filter(|&&c| c == 75 || c == 65) {
            // Every failure a held lock (75), or every failure a failed check (65).
            if codes.iter().all(|&c| c == code) {
                total.exit_code = Some(code);
            }
        }
        total.notes.push(format!("{} of {count} datasets failed: {}", failed.len(), failed.join(", ")));
    }
    Ok(total)
}

/// Loads at once when `--jobs` is not given, on a machine of `cores` cores: half of them, since one
/// load of a file keeps two busy (a reader, the typing, two encoders; more at once only take turns
/// on the same cores, and cost memory: 25.1 s for four 10 M-row files at 4 at once, 20.3 s one after
/// another, on 2 cores); at least 2 when a source waits on a server (`waiting`), whose downloads
/// overlap.
pub fn default_jobs(cores: usize, waiting: bool) -> usize {
    let half = (cores / 2).max(1);
    if waiting {
        half.max(2)
    } else {
        half
    }
}

/// An entry's error without the entry's own name or dataset id in front (`usage-strict: 2 checks
/// failed`), which the line that quotes it already starts with: a name said once.
fn without_name<'a>(message: &'a str, name: &str, dataset: &str) -> &'a str {
    [name, dataset].iter().find_map(|n| message.strip_prefix(&format!("{n}: "))).unwrap_or(message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loads_at_once_follow_the_cores_and_the_sources() {
        // Files: one load keeps two cores busy.
        assert_eq!(default_jobs(1, false), 1);
        assert_eq!(default_jobs(2, false), 1);
        assert_eq!(default_jobs(8, false), 4);
        // A source that waits on a server overlaps with another even on two cores.
        assert_eq!(default_jobs(2, true), 2);
        assert_eq!(default_jobs(16, true), 8);
    }
}
