//! The progress display of long work, on a terminal only: per load, a bar of the source's bytes with
//! rows, rate and time left (a spinner when the size is unknown, as for a download), one bar per
//! dataset when several load at once (`--all`). Made with `indicatif`; nothing is drawn when stderr
//! is not a terminal or logs are JSON. Log lines are written through [`suspend`], so that they
//! scroll above the bars instead of through them.

use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use indicatif::{HumanCount, MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// How long a bar runs before it shows a rate and a time left.
const MEASURED_AFTER: Duration = Duration::from_millis(750);

/// Every bar of the process, drawn together.
static BARS: OnceLock<MultiProgress> = OnceLock::new();

fn bars() -> &'static MultiProgress {
    BARS.get_or_init(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr_with_hz(5)))
}

/// Runs `write` (a log line to stderr) with the bars hidden, so that the line is not drawn through.
pub fn suspend<R>(write: impl FnOnce() -> R) -> R {
    match BARS.get() {
        Some(bars) => bars.suspend(write),
        None => write(),
    }
}

/// One load's display.
pub struct Progress {
    bar: Option<ProgressBar>,
    /// The phase shown last: a new phase (a second pass) starts the rate and time left over.
    phase: Mutex<String>,
}

impl Progress {
    /// A display for a load labelled `label` (the dataset) of a source of `total` bytes (if known);
    /// `shown` says whether one is wanted (a terminal, text logs).
    pub fn new(shown: bool, label: &str, total: Option<u64>) -> Self {
        let bar = shown.then(|| {
            let (bar, template) = match total {
                Some(total) if total > 0 => (
                    ProgressBar::new(total),
                    "{prefix} {msg} [{bar:24}] {binary_bytes}/{binary_total_bytes}, {rate}, {left}",
                ),
                _ => (
                    ProgressBar::no_length(),
                    "{prefix} {spinner} {msg} {binary_bytes}, {binary_bytes_per_sec}",
                ),
            };
            let style = ProgressStyle::with_template(template)
                .expect("a valid template")
                // No rate or time left until there is something to measure (a first rate of 131 GiB/s
                // and "0s left" at the start), and none once the source is read while the rows are
                // still typed and written (the read runs ahead): the phase says what is going on.
                .with_key("rate", |state: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
                    let _ = match state.elapsed() < MEASURED_AFTER || state.pos() == 0 {
                        true => write!(w, "measuring"),
                        false => write!(w, "{}/s", indicatif::BinaryBytes(state.per_sec() as u64)),
                    };
                })
                .with_key("left", |state: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
                    let done = state.len().is_some_and(|len| state.pos() >= len);
                    let _ = match (done, state.elapsed() < MEASURED_AFTER || state.pos() == 0) {
                        (true, _) => write!(w, "source read"),
                        (false, true) => write!(w, "estimating"),
                        (false, false) if state.eta() < Duration::from_secs(1) => write!(w, "< 1s left"),
                        (false, false) => write!(w, "{:#} left", indicatif::HumanDuration(state.eta())),
                    };
                })
                .progress_chars("=> ")
                .tick_chars("|/-\\ ");
            let bar = bars().add(bar.with_style(style).with_prefix(label.to_owned()).with_message("reading"));
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        Progress { bar, phase: Mutex::new(String::new()) }
    }

    /// A display that shows nothing.
    pub fn disabled() -> Self {
        Progress { bar: None, phase: Mutex::new(String::new()) }
    }

    /// Shows `phase` at `bytes` of the source, with `rows` done when known.
    pub fn update(&self, phase: &str, bytes: u64, rows: Option<u64>) {
        let Some(bar) = &self.bar else { return };
        let mut shown = self.phase.lock().expect("progress phase");
        if *shown != phase {
            *shown = phase.to_owned();
            bar.reset_eta();
        }
        bar.set_position(bytes);
        bar.set_message(match rows {
            Some(rows) => format!("{phase}, {} row{}", HumanCount(rows), if rows == 1 { "" } else { "s" }),
            None => phase.to_owned(),
        });
    }

    /// The bytes shown so far (0 without a display).
    pub fn position(&self) -> u64 {
        self.bar.as_ref().map_or(0, ProgressBar::position)
    }

    /// Removes the display.
    pub fn clear(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.clear();
    }
}
