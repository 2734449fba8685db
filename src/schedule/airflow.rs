//! Airflow 3: one DAG file, one DAG per schedule, one task per unit (the tasks of a DAG run side by
//! side). A task runs etl, relays its lines to the task's log and returns its JSON summary, which
//! Airflow keeps as the task's XCom (a failed run's summary is the XCom `summary`). Exit 2 and 65
//! raise `AirflowFailException` (not retried); any other failure `AirflowException` (retried,
//! `retries` times, `retry_delay` apart). A DAG runs one at a time (`max_active_runs=1`), a task at
//! most `execution_timeout`.
//!
//! The environment is the worker's, plus the Airflow Variable named by `--secret` (a JSON object of
//! variables, each masked in the logs); a variable the job needs and neither gives fails the task at
//! once, naming it.

use super::plan::{identifier, py, py_list, Export, Group, Written};

pub fn render(groups: &[Group], export: &Export) -> Written {
    let mut text = format!(
        r#""""Airflow DAGs for the etl job file {file}, written by `etl schedule export --to airflow`.

Do not edit: change the job file and export again.

- One DAG per schedule: {dags}. A DAG runs its jobs side by side, one
  run at a time (max_active_runs=1). A task runs `etl run {file} --job NAME` and returns
  etl's JSON summary (its XCom; a failed run's is the XCom "summary"), and is stopped after {timeout}.
- Exit codes: 2 (bad configuration) and 65 (checks failed) fail the task at once; any other failure
  (1; 75: another run holds the dataset) is tried again, {retries} times, {delay} apart.
- No secret is in this file: the Airflow Variable {secret_py} (a JSON object of environment variables)
  is added to the worker's environment for each run. The jobs need:
    {needs}
  and the S3 credentials (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY) unless the worker has a role.
"""
import datetime
import json
import logging
import os
import subprocess

import pendulum
from airflow.sdk import DAG, Variable, get_current_context, task
from airflow.sdk.exceptions import AirflowException, AirflowFailException
from airflow.sdk.log import mask_secret

{runner}
SECRET = {secret_py}
TIMEZONE = {timezone}
log = logging.getLogger(__name__)


def _environment(needs):
    env = dict(os.environ)
    try:
        extra = Variable.get(SECRET, default=None, deserialize_json=True)
    except ValueError as e:
        raise AirflowFailException(f"the Airflow Variable {{SECRET!r}} is not JSON: {{e}}") from None
    if extra is not None:
        if not isinstance(extra, dict):
            raise AirflowFailException(
                f"the Airflow Variable {{SECRET!r}} is not a JSON object of environment variables"
            )
        for name, value in extra.items():
            mask_secret(str(value))
            env[str(name)] = str(value)
    missing = _missing(env, needs)
    if missing:
        raise AirflowFailException(
            "etl needs " + ", ".join(missing) + f": set them in the Airflow Variable {{SECRET!r}} "
            "(a JSON object) or in the workers' environment"
        )
    _lineage_parent(env)
    return env


def _lineage_parent(env):
    """etl's OpenLineage events name this task's run as their parent: the ids Airflow's OpenLineage
    provider gives the task's own events (nothing without the provider)."""
    try:
        from airflow.providers.openlineage.plugins.macros import lineage_parent_id, lineage_root_parent_id
    except ImportError:
        return
    ti = get_current_context()["ti"]
    env.setdefault("OPENLINEAGE_PARENT_ID", lineage_parent_id(ti))
    env.setdefault("OPENLINEAGE_ROOT_PARENT_ID", lineage_root_parent_id(ti))


def etl_task(task_id, job_args, needs):
    """A task that runs one etl job; it returns etl's JSON summary (its XCom)."""

    @task(
        task_id=task_id,
        retries=RETRIES,
        retry_delay=datetime.timedelta(seconds=RETRY_DELAY_SECONDS),
        execution_timeout=datetime.timedelta(seconds=TIMEOUT_SECONDS),
    )
    def run():
        code, summary = _run_etl(_etl_args(job_args), _environment(needs), log.info)
        if code == 0:
            return summary
        # A failed run's summary (its error, the checks that failed) for whoever looks.
        get_current_context()["ti"].xcom_push(key="summary", value=summary)
        if code in FINAL:
            raise AirflowFailException(_failure(code, summary))
        raise AirflowException(_failure(code, summary))

    return run()
"#,
        file = export.shown_file_name(),
        timeout = super::plan::human_delay(export.timeout),
        dags = groups.iter().map(|g| identifier(&g.name)).collect::<Vec<_>>().join(", "),
        retries = export.retries,
        delay = super::plan::human_delay(export.retry_delay),
        secret_py = py(&export.secret),
        needs = super::plan::all_needs(groups).join(", "),
        runner = super::python::runner(export),
        timezone = py(&export.timezone),
    );
    for group in groups {
        let jobs: Vec<&str> = group.units.iter().map(|u| u.job.name.as_str()).collect();
        text.push_str(&format!(
            r#"

with DAG(
    dag_id={dag_id},
    description={description},
    schedule={schedule},
    start_date=pendulum.datetime(2024, 1, 1, tz=TIMEZONE),
    catchup=False,
    max_active_runs=1,
    tags=["etl"],
):
"#,
            dag_id = py(&identifier(&group.name)),
            description = py(&format!("etl jobs {}", super::plan::dedup(&jobs).join(", "))),
            schedule = py(group.schedule.as_str()),
        ));
        for unit in &group.units {
            text.push_str(&format!(
                "    etl_task({}, {}, {})\n",
                py(&identifier(&unit.id())),
                super::python::job_args(unit, export),
                py_list(&unit.needs()),
            ));
        }
    }
    Written {
        file: format!("{}_dag.py", identifier(&export.name)),
        text,
        holds: super::plan::count(groups.len(), "DAG"),
    }
}
