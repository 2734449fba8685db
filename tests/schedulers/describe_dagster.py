"""Loads a Dagster definitions file as `dagster dev -f` does and prints what it holds, as JSON:
{"jobs": {name: {ops: {op: {pool, tags}}}}, "schedules": {name: {job, cron, timezone}},
"resources": [names]}. Usage: python describe_dagster.py FILE"""
import json
import sys

import dagster as dg

defs = None
if defs is None:
    import importlib.util

    spec = importlib.util.spec_from_file_location("defs", sys.argv[1])
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    defs = module.defs
repo = defs.get_repository_def()
jobs = {}
for job in repo.get_all_jobs():
    if job.name.startswith("__"):
        continue
    jobs[job.name] = {
        "ops": {
            node.name: {"pool": node.definition.pool, "tags": dict(node.definition.tags)}
            for node in job.graph.nodes
        }
    }
schedules = {
    s.name: {"job": s.job_name, "cron": s.cron_schedule, "timezone": s.execution_timezone}
    for s in repo.schedule_defs
}
print(json.dumps({"jobs": jobs, "schedules": schedules, "resources": sorted(defs.resources or {})}))
