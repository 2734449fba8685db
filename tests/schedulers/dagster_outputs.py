"""Prints, as JSON, the output metadata each step of the latest Dagster run recorded (the instance
of $DAGSTER_HOME): {step: {key: value}}, numbers and texts only. Usage: python dagster_outputs.py"""
import json

import dagster as dg

instance = dg.DagsterInstance.get()
run = instance.get_runs(limit=1)[0]
out = {}
for record in instance.all_logs(run.run_id, of_type=dg.DagsterEventType.STEP_OUTPUT):
    event = record.dagster_event
    metadata = event.event_specific_data.metadata
    out[event.step_key] = {
        k: v.value for k, v in metadata.items() if isinstance(v.value, (int, float, str))
    }
print(json.dumps(out))
