//! One request of the monitoring's (a metrics push, a lineage event), waited for at most a bounded
//! time: the first that fails is one warning, after which the process sends no more of its kind, so
//! that a receiver that is down or slow costs a run one wait, never a failure.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// A kind of request, and whether one has failed in this process.
pub struct Sender {
    /// `send the run's OpenLineage event to`: what the warning says could not be done.
    what: &'static str,
    /// `this run sends no more`: what the warning says happens next.
    then: &'static str,
    down: AtomicBool,
}

impl Sender {
    pub const fn new(what: &'static str, then: &'static str) -> Sender {
        Sender { what, then, down: AtomicBool::new(false) }
    }

    /// Sends what `build` makes with a client that gives up after `timeout`; `url` names the
    /// receiver in the warning (its password masked).
    pub async fn send(
        &self,
        url: &str,
        timeout: Duration,
        build: impl FnOnce(&reqwest::Client) -> reqwest::RequestBuilder,
    ) {
        if self.down.load(Ordering::Relaxed) {
            return;
        }
        let sent = async {
            let client = reqwest::Client::builder().timeout(timeout).build()?;
            build(&client).send().await?.error_for_status()
        };
        let no_answer = || format!("no answer in {:.1} s", timeout.as_secs_f64());
        let failure = match tokio::time::timeout(timeout, sent).await {
            Ok(Ok(_)) => return,
            Ok(Err(e)) if e.is_timeout() => no_answer(),
            Ok(Err(e)) => crate::http::describe(&e),
            Err(_) => no_answer(),
        };
        if !self.down.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                "could not {} {}: {failure}; {}",
                self.what,
                crate::config::mask_url(url),
                self.then
            );
        }
    }
}
