//! Dagster: one definitions file, one Dagster job per schedule, one op per unit (side by side), and
//! a schedule per job that skips its tick while a run of the job is still going. An op runs etl,
//! relays its lines to Dagster's log, returns etl's JSON summary and adds its figures (rows, files,
//! run id) as output metadata. Exit 2 and 65 raise `Failure` without retries (with the summary as
//! its metadata); any other failure `RetryRequested` (`retries` times, `retry_delay` apart). Each op
//! is in the pool `etl-<dataset>`, which a limit of 1 makes one writer per dataset; a run longer
//! than the timeout is stopped (`dagster/max_runtime`, with run monitoring on).
//!
//! The secrets are a resource: its fields are the variables the jobs need, each set from a Dagster
//! environment variable (`dg.EnvVar`), so a run whose deployment lacks one fails before it starts,
//! naming it, and no value is written here or shown in Dagster's UI.

use super::plan::{count, dedup, identifier, py, py_list, Export, Group, Written};

pub fn render(groups: &[Group], export: &Export) -> Written {
    let needs = super::plan::all_needs(groups);
    let pools: Vec<String> = {
        let mut p: Vec<String> = groups.iter().flat_map(|g| &g.units).map(|u| u.dataset_lock()).collect();
        p.sort();
        p.dedup();
        p
    };
    // Each variable is the field `var_<name>`: a variable named like a Python keyword (`class`) or
    // one of pydantic's own names (`model_config`) would otherwise be a file that does not parse, or
    // a resource that does not load.
    let fields: String = needs.iter().map(|n| format!("    var_{n}: str\n")).collect();
    let mut text = format!(
        r#""""Dagster definitions for the etl job file {file}, written by `etl schedule export --to dagster`.

Do not edit: change the job file and export again. Load it with `dagster dev -f <this file>`.

- One Dagster job per schedule: {jobs}. One op per etl job, side by side.
  A schedule skips its tick while a run of its job is still going.
- Each op runs in the pool `etl-<dataset>`; a limit of 1 makes one writer per dataset:
  {pool_commands}
- Exit codes: 2 (bad configuration) and 65 (checks failed) fail the op at once; any other failure
  (1; 75: another run holds the dataset) is tried again, {retries} times, {delay} apart. A run is
  stopped after {timeout} (the tag dagster/max_runtime; run monitoring must be on).
- No secret is in this file: the resource `etl` takes what the jobs need from Dagster environment
  variables (dg.EnvVar):
    {needs}
  and etl runs with them added to the run's environment (where the S3 credentials are, unless the
  run has a role).
- An op's output is etl's JSON summary; its figures are the output's metadata (a failure's too).
"""
import json
import os
import subprocess

import dagster as dg

{runner}
TIMEZONE = {timezone}


class EtlEnvironment(dg.ConfigurableResource):
    """The variables etl needs, each from a Dagster environment variable; never written here."""

{fields}
    def variables(self):
        fields = type(self).model_fields
        return {{name[len("var_"):]: getattr(self, name) for name in fields if name.startswith("var_")}}


def _metadata(summary):
    figures = {{k: v for k, v in summary.items() if isinstance(v, (int, float, str)) and not isinstance(v, bool)}}
    figures["summary"] = dg.MetadataValue.json(summary)
    return figures


def etl_op(name, job, dataset, pool, job_args, needs):
    """An op that runs one etl job; its output is etl's JSON summary."""

    @dg.op(name=name, pool=pool, tags={{"etl/job": job, "etl/dataset": dataset}})
    def run(context: dg.OpExecutionContext, etl: EtlEnvironment) -> dict:
        env = dict(os.environ)
        env.update(etl.variables())
        missing = _missing(env, needs)
        if missing:
            raise dg.Failure(description="etl needs " + ", ".join(missing), allow_retries=False)
        # etl's OpenLineage events name this run as their parent, as openlineage-dagster named a
        # Dagster run: OPENLINEAGE_NAMESPACE (or "default"), the job's name, the run's id.
        namespace = env.get("OPENLINEAGE_NAMESPACE") or "default"
        env.setdefault("OPENLINEAGE_PARENT_ID", f"{{namespace}}/{{context.job_name}}/{{context.run_id}}")
        code, summary = _run_etl(_etl_args(job_args), env, context.log.info)
        if code == 0:
            context.add_output_metadata(_metadata(summary))
            return summary
        if code in FINAL:
            raise dg.Failure(description=_failure(code, summary), metadata=_metadata(summary), allow_retries=False)
        context.log.warning(_failure(code, summary))
        raise dg.RetryRequested(max_retries=RETRIES, seconds_to_wait=RETRY_DELAY_SECONDS)

    return run


def etl_schedule(job, cron_schedule):
    """The job's schedule; a tick is skipped while a run of the job is still going."""

    @dg.schedule(
        name=job.name + "_schedule", job=job, cron_schedule=cron_schedule, execution_timezone=TIMEZONE
    )
    def tick(context: dg.ScheduleEvaluationContext):
        going = context.instance.get_runs_count(
            dg.RunsFilter(
                job_name=job.name,
                statuses=[
                    dg.DagsterRunStatus.NOT_STARTED,
                    dg.DagsterRunStatus.QUEUED,
                    dg.DagsterRunStatus.STARTING,
                    dg.DagsterRunStatus.STARTED,
                    dg.DagsterRunStatus.CANCELING,
                ],
            )
        )
        if going:
            return dg.SkipReason(f"a run of {{job.name}} is still going")
        return dg.RunRequest()

    return tick
"#,
        file = export.shown_file_name(),
        timeout = super::plan::human_delay(export.timeout),
        jobs = groups.iter().map(|g| identifier(&g.name)).collect::<Vec<_>>().join(", "),
        pool_commands = pools
            .iter()
            .map(|p| format!("`dagster instance concurrency set {p} 1`"))
            .collect::<Vec<_>>()
            .join(", "),
        retries = export.retries,
        delay = super::plan::human_delay(export.retry_delay),
        needs = needs.join(", "),
        runner = super::python::runner(export),
        timezone = py(&export.timezone),
        fields = fields,
    );
    let mut jobs = Vec::new();
    let mut schedules = Vec::new();
    for group in groups {
        let job = identifier(&group.name);
        // Its function's name, `job_…`, never one of this file's own (`etl_op`, `dg`, `json`).
        let function = format!("job_{job}");
        text.push_str("\n\n");
        for unit in &group.units {
            let id = identifier(&unit.id());
            text.push_str(&format!(
                "op_{id} = etl_op({name}, {job}, {dataset}, {pool}, {args}, {needs})\n",
                name = py(&id),
                job = py(&unit.job.name),
                dataset = py(unit.job.dataset.as_str()),
                pool = py(&unit.dataset_lock()),
                args = super::python::job_args(unit, export),
                needs = py_list(&unit.needs()),
            ));
        }
        let jobs_of = dedup(&group.units.iter().map(|u| u.job.name.as_str()).collect::<Vec<_>>()).join(", ");
        text.push_str(&format!(
            "\n\n@dg.job(\n    name={name},\n    description={description},\n    tags={{\"etl/jobs\": {names}, \"dagster/max_runtime\": str(TIMEOUT_SECONDS)}},\n)\ndef {function}():\n",
            name = py(&job),
            description = py(&format!("etl jobs {jobs_of}")),
            names = py(&jobs_of),
        ));
        for unit in &group.units {
            text.push_str(&format!("    op_{}()\n", identifier(&unit.id())));
        }
        schedules.push(format!("etl_schedule({function}, {})", py(group.schedule.as_str())));
        jobs.push(function);
    }
    // Every name is one Python can take (`plan` checked them).
    let resources: Vec<String> = needs.iter().map(|n| format!("var_{n}=dg.EnvVar({})", py(n))).collect();
    text.push_str(&format!(
        "\n\ndefs = dg.Definitions(\n    jobs=[{}],\n    schedules=[{}],\n    resources={{\"etl\": EtlEnvironment({})}},\n)\n",
        jobs.join(", "),
        schedules.join(", "),
        resources.join(", "),
    ));
    let n = groups.len();
    Written {
        file: format!("{}_dagster.py", identifier(&export.name)),
        text,
        holds: format!("{} and {}", count(n, "job"), count(n, "schedule")),
    }
}
