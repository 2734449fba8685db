//! Kubernetes: a ConfigMap holding the job file, and one CronJob (batch/v1) per unit, each running
//! one etl job in a pod that takes its environment from a Secret ([`super::pod`]).
//!
//! Exit codes become the Job's rules: `backoffLimit` retries every failure, a `podFailurePolicy`
//! fails the Job at once on 2 and 65, and a pod evicted or preempted does not count as a try.
//! Kubernetes retries after its own short delays (10 s, 20 s, 40 s...), so each unit waits for a
//! held lock itself (`--wait-lock`, the export's `--retry-delay`) before it exits 75.
//! `concurrencyPolicy: Forbid` keeps a CronJob to one run at a time, `activeDeadlineSeconds` stops
//! a run that hangs (a pod that cannot start, say) so that it does not hold back the next ones.

use serde_json::{json, Value};

use super::plan::{count, dns_name, exit, Export, Group, Unit, Written};
use super::pod::{config_map, config_map_name, container, header, labels, volume, yaml_documents};

/// The longest CronJob name Kubernetes takes (its Jobs' names add 11 characters).
const CRONJOB_NAME: usize = 52;

pub fn render(groups: &[Group], export: &Export) -> Written {
    let config_map_name = config_map_name(export);
    let mut docs = vec![config_map(&config_map_name, export)];
    for group in groups {
        for unit in &group.units {
            let name = dns_name(&format!("{}-{}", export.name, unit.id()), CRONJOB_NAME);
            docs.push(cron_job(&name, group, unit, &config_map_name, export));
        }
    }
    let mut text = header("Kubernetes CronJobs", "k8s-cronjob", groups, export);
    text.push_str(&format!(
        "# Exit codes: 2 (bad configuration) and 65 (checks failed) fail the Job at once\n\
         # (podFailurePolicy); any other failure is tried again, up to {} times (backoffLimit), and a\n\
         # held lock is waited for up to {} before exiting 75. Each CronJob runs one at a time\n\
         # (concurrencyPolicy: Forbid).\n",
        export.retries,
        super::plan::human_delay(export.wait_lock.unwrap_or(0)),
    ));
    text.push_str(&yaml_documents(&docs));
    Written {
        file: format!("{}.k8s.yaml", export.name),
        text,
        holds: format!("{} and a ConfigMap", count(docs.len() - 1, "CronJob")),
    }
}

fn cron_job(name: &str, group: &Group, unit: &Unit, config_map: &str, export: &Export) -> Value {
    let labels = labels(Some(unit.job.dataset.as_str()));
    json!({
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": { "name": name, "labels": labels },
        "spec": {
            "schedule": group.schedule.as_str(),
            "timeZone": export.timezone,
            "concurrencyPolicy": "Forbid",
            // A run the controller missed (it was down) still starts within 10 minutes.
            "startingDeadlineSeconds": 600,
            "successfulJobsHistoryLimit": 3,
            "failedJobsHistoryLimit": 5,
            "jobTemplate": {
                "metadata": { "labels": labels },
                "spec": {
                    "backoffLimit": export.retries,
                    "activeDeadlineSeconds": export.timeout,
                    "podFailurePolicy": { "rules": [
                        {
                            "action": "FailJob",
                            "onExitCodes": { "containerName": "etl", "operator": "In", "values": exit::FINAL },
                        },
                        // An evicted or preempted pod is not a failed try.
                        { "action": "Ignore", "onPodConditions": [{ "type": "DisruptionTarget" }] },
                    ]},
                    "template": {
                        "metadata": { "labels": labels },
                        "spec": {
                            "restartPolicy": "Never",
                            "containers": [container(unit, export)],
                            "volumes": [volume(config_map)],
                        },
                    },
                },
            },
        },
    })
}
