"""Validates OpenLineage run events against the spec's JSON schemas kept beside this file.

Usage: python validate.py EVENTS.json   (a JSON array of events)
Prints one line per problem and exits 1 if there is any; each event is checked against
OpenLineage.json#/$defs/RunEvent (draft 2020-12, formats checked: date-time, uri, uuid), and each
facet against the schema its `_schemaURL` names, which must be one of the files here.
"""
import json
import pathlib
import sys

import jsonschema
from referencing import Registry, Resource

HERE = pathlib.Path(__file__).parent
schemas = [json.loads(p.read_text()) for p in [HERE / "OpenLineage.json", *sorted((HERE / "facets").glob("*.json"))]]
registry = Registry().with_resources((s["$id"], Resource.from_contents(s)) for s in schemas)
ids = {s["$id"] for s in schemas}
checker = jsonschema.Draft202012Validator.FORMAT_CHECKER


def validate(instance, url):
    base, _, pointer = url.partition("#")
    if base not in ids:
        return [f"no schema {base} here"]
    validator = jsonschema.Draft202012Validator({"$ref": url}, registry=registry, format_checker=checker)
    return [f"{'/'.join(map(str, e.absolute_path)) or '.'}: {e.message}" for e in validator.iter_errors(instance)]


def facets(event):
    yield "run", event["run"].get("facets", {})
    yield "job", event["job"].get("facets", {})
    for side in ("inputs", "outputs"):
        for i, dataset in enumerate(event.get(side, [])):
            yield f"{side}[{i}]", dataset.get("facets", {})
            yield f"{side}[{i}].outputFacets", dataset.get("outputFacets", {})
            yield f"{side}[{i}].inputFacets", dataset.get("inputFacets", {})


problems = []
for n, event in enumerate(json.loads(pathlib.Path(sys.argv[1]).read_text())):
    where = f"event {n} ({event.get('eventType')})"
    problems += [f"{where}: {p}" for p in validate(event, event["schemaURL"])]
    for place, found in facets(event):
        for name, facet in found.items():
            url = facet.get("_schemaURL", "")
            problems += [f"{where} {place}.{name}: {p}" for p in validate(facet, url)]
for p in problems:
    print(p)
sys.exit(1 if problems else 0)
