"""Drive a real MLflow tracking server for the MLflow bridge tests (issue 6).

Run with the test venv's python (`.venv/bin/python scripts/mlflow_driver.py URI STEPS_JSON`), where
URI is the MLflow server (`http://127.0.0.1:PORT`) and STEPS_JSON a JSON array of steps. Each step
is done in order through `MlflowClient`, and prints one JSON line with its result, so a test can
run a whole scenario in one process (importing mlflow takes seconds).

Steps (`op` and its fields):

- `create_webhook`: `url`, `secret`, `events` (lower-case dotted names, e.g.
  `model_version.created`), `name` -> `{"webhook_id"}`
- `test_webhook`: `webhook_id`, optional `event` -> MLflow's `{"success", "response_status",
  "response_body", "error_message"}`
- `create_model`: `name` -> `{}` (a registered model)
- `create_version`: `name`, optional `tags` -> `{"version", "run_id", "source"}`; the source is a
  fresh run's artifact URI (MLflow refuses arbitrary local paths)
- `set_alias`: `name`, `alias`, `version`; `delete_alias`: `name`, `alias`
- `set_tag`: `name`, `version`, `key`, `value`; `delete_tag`: `name`, `version`, `key`
- `sleep`: `seconds` (the server caches its webhook list for MLFLOW_WEBHOOK_CACHE_TTL seconds)

A failing step raises: the traceback goes to standard error and the exit status is 1.
"""

from __future__ import annotations

import json
import sys
import time

from mlflow import MlflowClient


def main() -> None:
    uri, steps_json = sys.argv[1], sys.argv[2]
    # MLflow prints run links to standard output; keep it for the results alone.
    results = sys.stdout
    sys.stdout = sys.stderr
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    experiment_id = None
    for step in json.loads(steps_json):
        op = step["op"]
        out: dict = {}
        if op == "create_webhook":
            hook = client.create_webhook(
                name=step.get("name", "automations"),
                url=step["url"],
                events=step["events"],
                secret=step["secret"],
            )
            out = {"webhook_id": hook.webhook_id}
        elif op == "test_webhook":
            result = client.test_webhook(step["webhook_id"], event=step.get("event"))
            out = {
                "success": result.success,
                "response_status": result.response_status,
                "response_body": result.response_body,
                "error_message": result.error_message,
            }
        elif op == "create_model":
            client.create_registered_model(step["name"])
        elif op == "create_version":
            if experiment_id is None:
                experiment_id = client.create_experiment(f"bridge-{time.time_ns()}")
            run = client.create_run(experiment_id)
            source = f"{run.info.artifact_uri}/model"
            mv = client.create_model_version(
                step["name"], source=source, run_id=run.info.run_id, tags=step.get("tags")
            )
            client.set_terminated(run.info.run_id)
            out = {"version": int(mv.version), "run_id": run.info.run_id, "source": source}
        elif op == "set_alias":
            client.set_registered_model_alias(step["name"], step["alias"], str(step["version"]))
        elif op == "delete_alias":
            client.delete_registered_model_alias(step["name"], step["alias"])
        elif op == "set_tag":
            client.set_model_version_tag(step["name"], str(step["version"]), step["key"], step["value"])
        elif op == "delete_tag":
            client.delete_model_version_tag(step["name"], str(step["version"]), step["key"])
        elif op == "sleep":
            time.sleep(float(step["seconds"]))
        else:
            raise SystemExit(f"unknown step op {op!r}")
        print(json.dumps({"op": op, **out}), file=results, flush=True)


if __name__ == "__main__":
    main()
