//! Dagster: one definitions file, one Dagster job per schedule, one op per unit (side by side), and
//! a schedule per job that skips its tick while a run of the job is still going. An op runs etl,
//! relays its lines to Dagster's log, returns etl's JSON summary and adds its figures (rows, files,
//! run id) as output metadata. Exit 1 and 75 raise `RetryRequested` (`retries` times, `retry_delay`
//! apart); 2 and 65 raise `Failure` without retries. Each op is in the pool `etl-<dataset>`, which a
//! limit of 1 makes one writer per dataset.
//!
//! The secrets are a resource: its fields are the variables the jobs need, each set from a Dagster
//! environment variable (`dg.EnvVar`), so a run whose deployment lacks one fails before it starts,
//! naming it, and no value is written here or shown in Dagster's UI.

use super::plan::{identifier, py, py_list, Export, Group, Written};

pub fn render(groups: &[Group], export: &Export) -> Written {
    let needs = super::plan::all_needs(groups);
    let pools: Vec<String> = {
        let mut p: Vec<String> =
            groups.iter().flat_map(|g| &g.units).map(|u| format!("etl-{}", u.job.dataset.as_str())).collect();
        p.sort();
        p.dedup();
        p
    };
    let fields: String =
        needs.iter().filter(|n| is_identifier(n)).map(|n| format!("    {n}: str\n")).collect();
    let mut text = format!(
        r#""""Dagster definitions for the etl job file {file}, written by `etl schedule export --to dagster`.

Do not edit: change the job file and export again. Load it with `dagster dev -f <this file>`.

- One Dagster job per schedule: {jobs}. One op per etl job, side by side.
  A schedule skips its tick while a run of its job is still going.
- Each op runs in the pool `etl-<dataset>`; a limit of 1 makes one writer per dataset:
  {pool_commands}
- Exit codes: 1 (failed) and 75 (another run holds the dataset) are tried again, {retries} times,
  {delay} apart; 2 (bad configuration) and 65 (checks failed) fail the op at once.
- No secret is in this file: the resource `etl` takes what the jobs need from Dagster environment
  variables (dg.EnvVar):
    {needs}
  and etl runs with them added to the run's environment (where the S3 credentials are, unless the
  run has a role).
- An op's output is etl's JSON summary; its figures are the output's metadata.
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
        return {{name: getattr(self, name) for name in type(self).model_fields}}


def _metadata(summary):
    figures = {{k: v for k, v in summary.items() if isinstance(v, (int, float, str)) and not isinstance(v, bool)}}
    figures["summary"] = dg.MetadataValue.json(summary)
    return figures


def etl_op(name, job, dataset, partition_range, needs):
    """An op that runs one etl job; its output is etl's JSON summary."""

    @dg.op(name=name, pool="etl-" + dataset, tags={{"etl/job": job, "etl/dataset": dataset}})
    def run(context: dg.OpExecutionContext, etl: EtlEnvironment) -> dict:
        env = dict(os.environ)
        env.update(etl.variables())
        missing = _missing(env, needs)
        if missing:
            raise dg.Failure(description="etl needs " + ", ".join(missing), allow_retries=False)
        code, summary = _run_etl(_etl_args(job, partition_range), env, context.log.info)
        if code == 0:
            context.add_output_metadata(_metadata(summary))
            return summary
        if code in FINAL:
            raise dg.Failure(description=_failure(code, summary), allow_retries=False)
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
                statuses=[dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED],
            )
        )
        if going:
            return dg.SkipReason(f"a run of {{job.name}} is still going")
        return dg.RunRequest()

    return tick
"#,
        file = export.file_name,
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
        text.push_str("\n\n");
        for unit in &group.units {
            let id = identifier(&unit.id());
            let range = unit.slice.map_or("None".to_owned(), |r| py(&r.to_string()));
            text.push_str(&format!(
                "op_{id} = etl_op({name}, {job}, {dataset}, {range}, {needs})\n",
                name = py(&id),
                job = py(&unit.job.name),
                dataset = py(unit.job.dataset.as_str()),
                needs = py_list(&unit.needs()),
            ));
        }
        let jobs_of: Vec<&str> = group.units.iter().map(|u| u.job.name.as_str()).collect();
        text.push_str(&format!(
            "\n\n@dg.job(name={name}, description={description}, tags={{\"etl/jobs\": {names}}})\ndef {job}():\n",
            name = py(&job),
            description = py(&format!("etl jobs {}", super::airflow::dedup(&jobs_of).join(", "))),
            names = py(&super::airflow::dedup(&jobs_of).join(",")),
        ));
        for unit in &group.units {
            text.push_str(&format!("    op_{}()\n", identifier(&unit.id())));
        }
        schedules.push(format!("etl_schedule({job}, {})", py(group.schedule.as_str())));
        jobs.push(job);
    }
    let resources: Vec<String> =
        needs.iter().filter(|n| is_identifier(n)).map(|n| format!("{n}=dg.EnvVar({})", py(n))).collect();
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
        holds: format!("{n} job{} and {n} schedule{}", plural(n), plural(n)),
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// Whether `name` can be a Python field name (an environment variable's name usually is).
fn is_identifier(name: &str) -> bool {
    name.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}
