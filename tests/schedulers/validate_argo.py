"""Validates the CronWorkflows of a YAML file offline against Argo Workflows' own models (hera's,
generated from Argo's schema), strictly: an unknown field is an error, as the Argo server's is.
Other kinds (the ConfigMap) are left to kubernetes-validate. Prints one line per error; exit 1 if any.
Usage: python validate_argo.py FILE..."""
import sys

import jsonschema
import yaml
from hera.workflows.models.io.argoproj.workflow.v1alpha1 import CronWorkflow


def strict(node):
    if isinstance(node, dict):
        if node.get("type") == "object" and "properties" in node:
            node.setdefault("additionalProperties", False)
        for value in node.values():
            strict(value)
    elif isinstance(node, list):
        for value in node:
            strict(value)


schema = CronWorkflow.model_json_schema(by_alias=True)
strict(schema)
validator = jsonschema.Draft202012Validator(schema)
errors = 0
for path in sys.argv[1:]:
    with open(path) as f:
        for doc in yaml.safe_load_all(f):
            if not doc or doc.get("kind") != "CronWorkflow":
                continue
            name = doc.get("metadata", {}).get("name")
            found = list(validator.iter_errors(doc))
            for error in found:
                # The deepest cause: anyOf's branches say little at the top.
                best = jsonschema.exceptions.best_match([error])
                where = "/".join(map(str, best.absolute_path))
                print(f"{path}: CronWorkflow {name}: {where}: {best.message[:300]}")
            if not found:
                print(f"{path}: CronWorkflow {name}: valid")
            errors += len(found)
sys.exit(1 if errors else 0)
