//! Argo Workflows: a ConfigMap holding the job file, and one CronWorkflow per schedule whose DAG runs
//! its units side by side, each in the container the Kubernetes target uses.
//!
//! Exit codes become each template's `retryStrategy`: 1 and 75 are retried after the delay asked for, 2
//! and 65 are not. A mutex per dataset keeps one writer per dataset across every workflow, and
//! `concurrencyPolicy: Forbid` one run per CronWorkflow.

use serde_json::{json, Value};

use super::k8s::{config_map_doc, config_map_name, container, header, labels, yaml_documents};
use super::plan::{dns_name, exit, Export, Group, Written};

/// The longest CronWorkflow name Argo takes.
const NAME: usize = 52;

pub fn render(groups: &[Group], export: &Export) -> Written {
    let config_map = config_map_name(export);
    let mut docs = vec![config_map_doc(&config_map, export)];
    for group in groups {
        docs.push(cron_workflow(group, &config_map, export));
    }
    let mut text = header(
        &format!("Argo CronWorkflows for the etl job file {}", export.file_name),
        "argo",
        groups,
        export,
    );
    text.push_str(&format!(
        "# Exit codes: 1 (failed) and 75 (another run holds the dataset) are tried again, up to {} times\n\
         # {} apart; 2 (bad configuration) and 65 (checks failed) are not. One writer per dataset\n\
         # (a mutex), one run per CronWorkflow at a time (concurrencyPolicy: Forbid).\n",
        export.retries,
        super::plan::human_delay(export.retry_delay),
    ));
    text.push_str(&yaml_documents(&docs));
    let n = groups.len();
    Written {
        file: format!("{}.argo.yaml", export.name),
        text,
        holds: format!("{n} CronWorkflow{} and a ConfigMap", if n == 1 { "" } else { "s" }),
    }
}

fn cron_workflow(group: &Group, config_map: &str, export: &Export) -> Value {
    let retried: Vec<String> =
        exit::RETRIED.iter().map(|c| format!("asInt(lastRetry.exitCode) == {c}")).collect();
    let mut tasks = Vec::new();
    let mut templates = Vec::new();
    for unit in &group.units {
        let name = dns_name(&unit.id(), 63);
        tasks.push(json!({ "name": name, "template": name }));
        templates.push(json!({
            "name": name,
            "metadata": { "labels": labels(Some(unit.job.dataset.as_str())) },
            "synchronization": { "mutexes": [{ "name": dns_name(&format!("etl-{}", unit.job.dataset.as_str()), 63) }] },
            "retryStrategy": {
                "limit": export.retries,
                "retryPolicy": "Always",
                "expression": retried.join(" || "),
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
            "successfulJobsHistoryLimit": 3,
            "failedJobsHistoryLimit": 5,
            "workflowSpec": {
                "entrypoint": "jobs",
                "volumes": [{ "name": "jobs", "configMap": { "name": config_map } }],
                "templates": all,
            },
        },
    })
}
