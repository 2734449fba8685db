//! What the Kubernetes and Argo files share: the pod that runs one etl job (its container, the job
//! file mounted from a ConfigMap, the environment from a Secret), the labels, the opening comment,
//! and YAML written from JSON values.

use serde_json::{json, Value};

use super::plan::{dns_name, Export, Group, Unit};

/// Where the pods find the job file.
pub const MOUNT: &str = "/etc/etl";

/// The comment that opens the file: what wrote it and where the secrets come from.
pub fn header(title: &str, to: &str, groups: &[Group], export: &Export) -> String {
    let needs = super::plan::all_needs(groups);
    let literals: Vec<String> = needs.iter().map(|n| format!("--from-literal={n}=...")).collect();
    format!(
        "# {title} for the etl job file {file}, written by `etl schedule export --to {to}`.\n\
         # Do not edit: change the job file and export again. Apply with `kubectl apply -f <this file>`.\n\
         #\n\
         # No secret is in this file: each pod takes its environment from the Secret `{secret}`, which\n\
         # holds what the jobs need:\n\
         #   {needs}\n\
         # and the S3 credentials (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY) unless the pod has a role:\n\
         #   kubectl create secret generic {secret} \\\n\
         #     {literals}\n\
         # A unit that runs longer than {timeout} is stopped (activeDeadlineSeconds).\n\
         # The pods run the image {image}; etl's Containerfile makes one (`bash scripts/image.sh TAG`:\n\
         # etl, CA certificates, user 65532 in /work). It must hold what relative paths name.\n",
        image = export.image.as_deref().unwrap_or_default(),
        file = export.shown_file_name(),
        secret = export.secret,
        needs = needs.join(", "),
        literals = literals.join(" \\\n#     "),
        timeout = super::plan::human_delay(export.timeout),
    )
}

pub fn config_map_name(export: &Export) -> String {
    dns_name(&format!("{}-jobs", export.name), 253)
}

/// The ConfigMap holding the job file, whole.
pub fn config_map(name: &str, export: &Export) -> Value {
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
pub fn labels(dataset: Option<&str>) -> Value {
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
pub fn container(unit: &Unit, export: &Export) -> Value {
    let mut command = vec![export.executable.clone()];
    command.extend(unit.args(export));
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

/// The volume the container mounts the job file from.
pub fn volume(config_map: &str) -> Value {
    json!({ "name": "jobs", "configMap": { "name": config_map } })
}

/// YAML documents, `---` between them.
pub fn yaml_documents(docs: &[Value]) -> String {
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

/// Where a job file holds a secret's value literally, where etl sends it to an API: a request header
/// whose name says secret (`PRIVATE-TOKEN: glpat-...`), or a query parameter whose name does
/// (`query: {access_token: ...}`). (A password in a URL is found by the shapes of [`crate::redact`].)
pub fn literal_secret(text: &str) -> Option<String> {
    let file: serde_yaml::Value = serde_yaml::from_str(text).ok()?;
    let jobs = file.get("jobs")?.as_sequence()?;
    for job in jobs {
        let name = job.get("name").and_then(|n| n.as_str()).unwrap_or("?");
        let Some(source) = job.get("source") else { continue };
        let headers: Vec<&str> = match source.get("header") {
            Some(serde_yaml::Value::String(one)) => vec![one.as_str()],
            Some(serde_yaml::Value::Sequence(items)) => items.iter().filter_map(|i| i.as_str()).collect(),
            _ => Vec::new(),
        };
        for header in headers {
            if let Some((key, value)) = header.split_once(':') {
                if crate::redact::secret_name(key.trim()) && !value.trim().is_empty() {
                    return Some(format!("job \"{name}\": the header `{}`", key.trim()));
                }
            }
        }
        if let Some(query) = source.get("query").and_then(|q| q.as_mapping()) {
            for (key, value) in query {
                let key = key.as_str().unwrap_or_default();
                let literal = !matches!(value, serde_yaml::Value::Null);
                if crate::redact::secret_name(key) && literal {
                    return Some(format!("job \"{name}\": the query parameter `{key}`"));
                }
            }
        }
    }
    None
}
