"""Loads a folder of DAG files as Airflow's scheduler does and prints what it found, as JSON:
{"errors": {file: error}, "dags": {dag_id: {schedule, timezone, max_active_runs, tasks: {task_id:
{retries, retry_delay}}}}}. Usage: python describe_airflow.py DAGS_FOLDER"""
import json
import sys

from airflow.dag_processing.dagbag import DagBag

bag = DagBag(dag_folder=sys.argv[1])
dags = {}
for dag_id, dag in bag.dags.items():
    dags[dag_id] = {
        "schedule": dag.timetable.expression,
        "timezone": str(dag.timezone.name),
        "max_active_runs": dag.max_active_runs,
        "catchup": dag.catchup,
        "tasks": {
            t.task_id: {"retries": t.retries, "retry_delay": t.retry_delay.total_seconds()} for t in dag.tasks
        },
    }
print(json.dumps({"errors": {k: str(v) for k, v in bag.import_errors.items()}, "dags": dags}))
