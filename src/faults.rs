//! Fault points for the fault tests: named places in a run where `ETL_FAULT` can stop it, to prove
//! that a run killed or failing at any of them leaves readers the old dataset or the new one.
//!
//! `ETL_FAULT=kill:<point>:<n>` sends the process SIGKILL at the `n`th time `point` is passed (no
//! cleanup, no destructor); `ETL_FAULT=fail:<point>:<n>` makes it an error there;
//! `ETL_FAULT=stop:<point>:<n>` stops the process there (SIGSTOP) until it is continued (SIGCONT),
//! so that a test can act while a run waits at a known step (another writer's commit). Unset
//! (always, outside tests), a point costs one relaxed atomic load.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Mutex;

use crate::error::{Error, Result};

/// 0: not read yet, 1: no fault set, 2: a fault set.
static SET: AtomicU8 = AtomicU8::new(0);
static PASSES: Mutex<Option<HashMap<String, u64>>> = Mutex::new(None);

/// Whether a fault is set (steps done in batches are then done one at a time, so that every step
/// is a fault point).
pub fn active() -> bool {
    SET.load(Ordering::Relaxed) != 1 && std::env::var_os("ETL_FAULT").is_some()
}

/// Passes the fault point `name`.
pub fn point(name: &str) -> Result<()> {
    if SET.load(Ordering::Relaxed) == 1 {
        return Ok(());
    }
    let Ok(spec) = std::env::var("ETL_FAULT") else {
        SET.store(1, Ordering::Relaxed);
        return Ok(());
    };
    SET.store(2, Ordering::Relaxed);
    let mut parts = spec.splitn(3, ':');
    let (action, at, nth) = (parts.next(), parts.next(), parts.next().and_then(|n| n.parse::<u64>().ok()));
    if at != Some(name) {
        return Ok(());
    }
    let mut passes = PASSES.lock().expect("fault counters");
    let count = passes.get_or_insert_with(HashMap::new).entry(name.to_owned()).or_insert(0);
    *count += 1;
    if Some(*count) != nth {
        return Ok(());
    }
    match action {
        Some("kill") => {
            crate::logging::eprint_lines(&format!("etl: ETL_FAULT: killed at {name} #{count}"));
            // SIGKILL, as `kill -9` would send it: no handler, no cleanup, no destructor.
            let pid = std::process::id().to_string();
            let _ = std::process::Command::new("kill").args(["-KILL", &pid]).status();
            std::process::abort();
        }
        Some("fail") => Err(Error::Internal(format!("ETL_FAULT: failed at {name} #{count}"))),
        Some("stop") => {
            crate::logging::eprint_lines(&format!("etl: ETL_FAULT: stopped at {name} #{count}"));
            let pid = std::process::id().to_string();
            let _ = std::process::Command::new("kill").args(["-STOP", &pid]).status();
            Ok(())
        }
        _ => Ok(()),
    }
}
