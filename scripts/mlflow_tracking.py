"""Train-like logging into a real MLflow tracking server with MLflow's fluent API, for the MLflow
tracking tests (issue 11).

Run with the test venv's python (`.venv/bin/python scripts/mlflow_tracking.py URI EXPERIMENT
STEPS_JSON`). Steps, in order, each printing one JSON line with its result:

- `start`: optional `run_name`, `tags`, `params` -> `{"run_id"}` (`mlflow.start_run`)
- `log`: `key`, `values`, `first_step`, optional `pause` (seconds between values): one
  `mlflow.log_metric(key, value, step=...)` per value
- `log_metrics`: `metrics` ({key: value}), `step` (`mlflow.log_metrics`)
- `end`: `status` (`FINISHED`, `FAILED`, `KILLED`) (`mlflow.end_run`)
- `mark`: `path`: create the file (tells the test how far the script got)
- `wait`: `path`: wait until the file exists (the test says go on)
- `sleep`: `seconds`
"""

from __future__ import annotations

import json
import os
import sys
import time

import mlflow


def main() -> None:
    uri, experiment, steps_json = sys.argv[1], sys.argv[2], sys.argv[3]
    results = sys.stdout
    sys.stdout = sys.stderr
    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment(experiment)
    for step in json.loads(steps_json):
        op = step["op"]
        out: dict = {}
        if op == "start":
            run = mlflow.start_run(run_name=step.get("run_name"), tags=step.get("tags"))
            if step.get("params"):
                mlflow.log_params(step["params"])
            out = {"run_id": run.info.run_id}
        elif op == "log":
            for i, value in enumerate(step["values"]):
                mlflow.log_metric(step["key"], value, step=step["first_step"] + i)
                if step.get("pause"):
                    time.sleep(float(step["pause"]))
        elif op == "log_metrics":
            mlflow.log_metrics(step["metrics"], step=step["step"])
        elif op == "end":
            mlflow.end_run(status=step["status"])
        elif op == "mark":
            with open(step["path"], "w"):
                pass
        elif op == "wait":
            deadline = time.time() + 120
            while not os.path.exists(step["path"]):
                if time.time() > deadline:
                    raise SystemExit(f"{step['path']} never appeared")
                time.sleep(0.05)
        elif op == "sleep":
            time.sleep(float(step["seconds"]))
        else:
            raise SystemExit(f"unknown step op {op!r}")
        print(json.dumps({"op": op, "at": time.time(), **out}), file=results, flush=True)


if __name__ == "__main__":
    main()
