//! Kubernetes: a ConfigMap holding the job file, and one CronJob (batch/v1) per unit, each running
//! one etl job in a pod that takes its environment from a Secret.
//!
//! Exit codes become the Job's rules: `backoffLimit` retries 1 and 75 (with Kubernetes' own growing
//! delay), a `podFailurePolicy` fails the Job at once on 2 and 65, and a pod evicted or preempted
//! does not count as a try. `concurrencyPolicy: Forbid` keeps a CronJob to one run at a time.

use serde_json::{json, Value};

use super::plan::{dns_name, exit, Export, Group, Unit, Written};

/// Where the pods find the job file.
pub const MOUNT: &str = "/etc/etl";

/// The longest CronJob name Kubernetes takes (its Jobs' names add 11 characters).
const CRONJOB_NAME: usize = 52;

pub fn render(groups: &[Group], export: &Export) -> Written {
    let config_map = config_map_name(export);
    let mut docs = vec![config_map_doc(&config_map, export)];
    let mut count = 0;
    for group in groups {
        for unit in &group.units {
            count += 1;
            let name = dns_name(&format!("{}-{}", export.name, unit.id()), CRONJOB_NAME);
            docs.push(cron_job(&name, group, unit, &config_map, export));
        }
    }
    let mut text = header(
        &format!("Kubernetes CronJobs for the etl job file {}", export.file_name),
        "k8s-cronjob",
        groups,
        export,
    );
    text.push_str(&format!(
        "# Exit codes: 1 (failed) and 75 (another run holds the dataset) are tried again, up to {} times\n\
         # (backoffLimit); 2 (bad configuration) and 65 (checks failed) fail the Job at once\n\
         # (podFailurePolicy). Each CronJob runs one at a time (concurrencyPolicy: Forbid).\n",
        export.retries
    ));
    text.push_str(&yaml_documents(&docs));
    Written {
        file: format!("{}.k8s.yaml", export.name),
        text,
        holds: format!("{count} CronJob{} and a ConfigMap", if count == 1 { "" } else { "s" }),
    }
}

/// The comment that opens a Kubernetes or Argo file: what wrote it and where the secrets come from.
pub(super) fn header(title: &str, to: &str, groups: &[Group], export: &Export) -> String {
    let needs = super::plan::all_needs(groups);
    let literals: Vec<String> = needs.iter().map(|n| format!("--from-literal={n}=...")).collect();
    format!(
        "# {title}, written by `etl schedule export --to {to}`.\n\
         # Do not edit: change the job file and export again. Apply with `kubectl apply -f <this file>`.\n\
         #\n\
         # No secret is in this file: each pod takes its environment from the Secret `{secret}`, which\n\
         # holds what the jobs need:\n\
         #   {needs}\n\
         # and the S3 credentials (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY) unless the pod has a role:\n\
         #   kubectl create secret generic {secret} \\\n\
         #     {literals}\n",
        secret = export.secret,
        needs = needs.join(", "),
        literals = literals.join(" \\\n#     "),
    )
}

pub(super) fn config_map_name(export: &Export) -> String {
    dns_name(&format!("{}-jobs", export.name), 253)
}

pub(super) fn config_map_doc(name: &str, export: &Export) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": { "name": name, "labels": labels(None) },
        "data": { mounted_name(export): export.file_text.clone() },
    })
}

/// The job file's name in the ConfigMap and under [`MOUNT`]: its own, if a ConfigMap key may be that
/// (letters, digits, `-`, `_`, `.`), else `jobs.yaml`.
pub fn mounted_name(export: &Export) -> String {
    let name = &export.file_name;
    let fits = !name.is_empty()
        && name.len() <= 253
        && name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        && !matches!(name.as_str(), "." | "..");
    if fits {
        name.clone()
    } else {
        "jobs.yaml".to_owned()
    }
}

/// The labels of every object: what made it, and the dataset it writes.
pub(super) fn labels(dataset: Option<&str>) -> Value {
    let mut labels = json!({
        "app.kubernetes.io/name": "etl",
        "app.kubernetes.io/managed-by": "etl-schedule-export",
    });
    if let Some(dataset) = dataset {
        labels["etl/dataset"] = Value::String(label_value(dataset));
    }
    labels
}

/// A dataset id as a label value (63 characters of letters, digits, `-`, `_`, `.`).
fn label_value(text: &str) -> String {
    let cut: String = text.chars().take(63).collect();
    cut.trim_matches(|c: char| !c.is_ascii_alphanumeric()).to_owned()
}

/// The etl container: its command, environment and the job file.
pub(super) fn container(unit: &Unit, export: &Export) -> Value {
    let mut command = vec![export.executable.clone()];
    command.extend(unit.args(&export.job_file));
    let mut container = json!({
        "name": "etl",
        "image": export.image.clone().unwrap_or_default(),
        "command": command,
        // The target is required: a pod without it would write to its own disk.
        "env": [{
            "name": "ETL_TARGET",
            "valueFrom": { "secretKeyRef": { "name": export.secret, "key": "ETL_TARGET" } },
        }],
        "envFrom": [{ "secretRef": { "name": export.secret } }],
        "volumeMounts": [{ "name": "jobs", "mountPath": MOUNT, "readOnly": true }],
    });
    if let Some(dir) = &export.workdir {
        container["workingDir"] = Value::String(dir.clone());
    }
    container
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
            "successfulJobsHistoryLimit": 3,
            "failedJobsHistoryLimit": 5,
            "jobTemplate": {
                "metadata": { "labels": labels },
                "spec": {
                    "backoffLimit": export.retries,
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
                            "volumes": [{ "name": "jobs", "configMap": { "name": config_map } }],
                        },
                    },
                },
            },
        },
    })
}

/// YAML documents, `---` between them.
pub(super) fn yaml_documents(docs: &[Value]) -> String {
    docs.iter()
        .map(|d| serde_yaml::to_string(&yaml(d)).expect("a YAML value serialises"))
        .collect::<Vec<_>>()
        .join("---\n")
}

/// A JSON value as YAML's (numbers as numbers: the crate's JSON numbers keep their text, which YAML
/// would write as a map).
fn yaml(value: &Value) -> serde_yaml::Value {
    use serde_yaml::Value as Y;
    match value {
        Value::Null => Y::Null,
        Value::Bool(b) => Y::Bool(*b),
        Value::Number(n) => match (n.as_u64(), n.as_i64(), n.as_f64()) {
            (Some(u), ..) => Y::Number(u.into()),
            (None, Some(i), _) => Y::Number(i.into()),
            (.., Some(f)) => Y::Number(f.into()),
            _ => Y::String(n.to_string()),
        },
        Value::String(s) => Y::String(s.clone()),
        Value::Array(items) => Y::Sequence(items.iter().map(yaml).collect()),
        Value::Object(map) => Y::Mapping(map.iter().map(|(k, v)| (Y::String(k.clone()), yaml(v))).collect()),
    }
}
