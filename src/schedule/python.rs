//! The Python both the Airflow and the Dagster files run etl with: start it, relay every line it
//! writes to the scheduler's log, keep its JSON summary, stop it when the task is stopped, and say
//! what a failure's exit code means.

use super::plan::{exit, Export, Unit};

/// The constants and functions, after the file's imports (`json`, `os`, `subprocess`).
pub fn runner(export: &Export) -> String {
    let workdir = match &export.workdir {
        Some(dir) => super::plan::py(dir),
        None => "None".to_owned(),
    };
    format!(
        r#"ETL = {etl}
JOB_FILE = {job_file}
WORKDIR = {workdir}
RETRIES = {retries}
RETRY_DELAY_SECONDS = {delay}
TIMEOUT_SECONDS = {timeout}
# etl's exit codes that trying again cannot help: bad configuration, failed checks.
FINAL = {{{usage}: "bad configuration: fix the job file or the environment", {checks}: "data-quality checks failed: the data must change"}}
# And those worth trying again.
RETRIED = {{{failed}: "failed", {locked}: "another run holds the dataset"}}


def _etl_args(job_args):
    return [ETL, "run", JOB_FILE] + job_args


def _run_etl(args, env, log):
    """Runs etl; relays each line it writes to `log`; returns its exit code and its JSON summary."""
    summary = {{}}
    # etl stops (as on SIGTERM: nothing half-written, the lock let go) if this process is killed
    # outright and cannot stop it.
    env = dict(env, ETL_STOP_WITH_PARENT="1")
    proc = subprocess.Popen(
        args, cwd=WORKDIR, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True, errors="replace",
    )
    try:
        for line in proc.stdout:
            line = line.rstrip("\n")
            log(line)
            if line.startswith("{{"):
                try:
                    event = json.loads(line)
                except ValueError:
                    continue
                if isinstance(event, dict) and event.get("event") == "summary":
                    summary = event.get("summary") or {{}}
        return proc.wait(), summary
    finally:
        if proc.poll() is None:
            # The task was stopped: etl stops too (on SIGTERM it leaves nothing half-written).
            proc.terminate()
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()


def _missing(env, needs):
    return [name for name in needs if not env.get(name)]


def _failure(code, summary):
    """A failed run in one line: its exit code, what that means, and etl's error."""
    meaning = FINAL.get(code) or RETRIED.get(code) or "stopped"
    error = summary.get("error") or "see the log above"
    return f"etl exited {{code}} ({{meaning}}): {{error}}"
"#,
        etl = super::plan::py(&export.executable),
        job_file = super::plan::py(&export.job_file),
        retries = export.retries,
        delay = export.retry_delay,
        timeout = export.timeout,
        usage = exit::USAGE,
        checks = exit::CHECKS,
        failed = exit::FAILED,
        locked = exit::LOCKED,
    )
}

/// A unit's arguments after `etl run <job file>`, as a Python list.
pub fn job_args(unit: &Unit, export: &Export) -> String {
    super::plan::py_list(&unit.job_args(export))
}
