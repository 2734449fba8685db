//! Argo Workflows: a ConfigMap holding the job file, and one CronWorkflow per schedule whose DAG runs
//! its units side by side, each in the pod the Kubernetes target uses ([`super::pod`]).
//!
//! Exit codes become each template's `retryStrategy`: every failure but 2 and 65 is retried, after
//! the delay asked for. A mutex per dataset keeps one writer per dataset across every workflow,
//! `concurrencyPolicy: Forbid` one run per CronWorkflow, and `activeDeadlineSeconds` stops a unit
//! that hangs.

use serde_json::{json, Value};

use super::plan::{count, dns_name, exit, human_delay, Export, Group, Written};
use super::pod::{config_map, config_map_name, container, header, labels, volume, yaml_documents};

/// The longest CronWorkflow name Argo takes.
const NAME: usize = 52;

pub fn render(groups: &[Group], export: &Export) -> Written {
    let config_map_name = config_map_name(export);
    let mut docs = vec![config_map(&config_map_name, export)];
    for group in groups {
        docs.push(cron_workflow(group, &config_map_name, export));
    }
    let mut text = header("Argo CronWorkflows", "argo", groups, export);
    text.push_str(&format!(
        "# Exit codes: 2 (bad configuration) and 65 (checks failed) are not tried again; any other\n\
         # failure (1, 75: another run holds the dataset) is, up to {} times, {} apart. One writer\n\
         # per dataset (a mutex), one run per CronWorkflow at a time (concurrencyPolicy: Forbid).\n",
        export.retries,
        human_delay(export.retry_delay),
    ));
    text.push_str(&yaml_documents(&docs));
    Written {
        file: format!("{}.argo.yaml", export.name),
        text,
        holds: format!("{} and a ConfigMap", count(groups.len(), "CronWorkflow")),
    }
}

/// Refuses job names Argo would read as its own template variables (`{{workflow.name}}`) in the
/// command it runs: there is no escaping them there.
pub fn check_names(file: &crate::jobs::JobsFile) -> Result<(), String> {
    match file.jobs.iter().find(|j| j.name.contains("{{") || j.name.contains("}}")) {
        Some(job) => Err(format!(
            "job \"{}\": Argo reads `{{{{` and `}}}}` in a command as its own template variables; rename \
             the job",
            job.name
        )),
        None => Ok(()),
    }
}

fn cron_workflow(group: &Group, config_map: &str, export: &Export) -> Value {
    let final_codes: Vec<String> = exit::FINAL.iter().map(ToString::to_string).collect();
    let mut tasks = Vec::new();
    let mut templates = Vec::new();
    for unit in &group.units {
        let name = dns_name(&unit.id(), 63);
        tasks.push(json!({ "name": name, "template": name }));
        templates.push(json!({
            "name": name,
            "metadata": { "labels": labels(Some(unit.job.dataset.as_str())) },
            "synchronization": { "mutexes": [{ "name": dns_name(&unit.dataset_lock(), 63) }] },
            "activeDeadlineSeconds": export.timeout,
            "retryStrategy": {
                "limit": export.retries,
                "retryPolicy": "Always",
                "expression": format!("!(asInt(lastRetry.exitCode) in [{}])", final_codes.join(", ")),
                "backoff": { "duration": format!("{}s", export.retry_delay) },
            },
            "container": container(unit, export),
        }));
    }
    let mut all = vec![json!({ "name": "jobs", "dag": { "tasks": tasks } })];
    all.extend(templates);
    json!({
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "CronWorkflow",
        "metadata": { "name": dns_name(&group.name, NAME), "labels": labels(None) },
        "spec": {
            "schedules": [group.schedule.as_str()],
            "timezone": export.timezone,
            "concurrencyPolicy": "Forbid",
            "startingDeadlineSeconds": 600,
            "successfulJobsHistoryLimit": 3,
            "failedJobsHistoryLimit": 5,
            "workflowSpec": {
                "entrypoint": "jobs",
                "volumes": [volume(config_map)],
                "templates": all,
            },
        },
    })
}
