"""Send events to `POST /v1/events` the way CloudEvents producers do, with the `cloudevents`
SDK (PyPI) building each request: binary content mode (with and without `time`), structured
mode, and batched mode. Prints one JSON line per request: {"case", "status", "body"}.

Usage: python scripts/cloudevents_producer.py BASE_URL API_KEY
"""

import json
import sys
import urllib.error
import urllib.request

from cloudevents.core.bindings import http
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent

base, key = sys.argv[1], sys.argv[2]
RUN = {"entity": "acme", "project": "mnist", "run_id": "r1", "run_name": "train-lr3"}


def send(case, headers, body):
    headers = dict(headers, Authorization=f"Bearer {key}")
    req = urllib.request.Request(f"{base}/v1/events", data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(req) as res:
            status, text = res.status, res.read().decode()
    except urllib.error.HTTPError as e:
        status, text = e.code, e.read().decode()
    print(json.dumps({"case": case, "status": status, "body": json.loads(text)}), flush=True)


def event(id, type, data, **extra):
    return CloudEvent(attributes={"id": id, "source": "/trainer", "type": type, **extra}, data=data)


metrics = event("ce-1", "run.metrics.logged", dict(RUN, rows=[{"step": 1, "values": {"loss": 2.5}}]))
message = http.to_binary_event(metrics)
send("binary", message.headers, message.body)

heartbeat = http.to_binary_event(event("ce-2", "run.heartbeat", RUN))
send("binary-without-time", {k: v for k, v in heartbeat.headers.items() if k != "ce-time"}, heartbeat.body)

alias = event(
    "ce-3",
    "artifact.alias.added",
    {"entity": "acme", "project": "mnist", "collection": "classifier", "collection_type": "model",
     "version": 7, "alias": "production"},
)
message = http.to_structured_event(alias)
send("structured", message.headers, message.body)

batch = [event(f"ce-{4 + i}", "run.heartbeat", RUN) for i in range(2)]
body = b"[" + b",".join(JSONFormat().write(e) for e in batch) + b"]"
send("batch", {"Content-Type": "application/cloudevents-batch+json"}, body)
