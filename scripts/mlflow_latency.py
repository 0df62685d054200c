"""Issue 11's benchmark: the time from `log_metric` returning to the webhook arriving, for
`automations serve` polling a real MLflow tracking server at the default interval (15 s).

    .venv/bin/python scripts/mlflow_latency.py PATH/TO/automations [--samples 40] [--spread 150]

Starts `mlflow server` (SQLite, 127.0.0.1), `automations serve` and a webhook receiver on
loopback; a threshold automation on metric `lat` of project `bench` delivers to the receiver.
Each sample is a new MLflow run that logs `lat` once (through `MlflowClient`), at a random moment
within `--spread` seconds, so samples fall at every phase of the poll interval. Prints p50, p90,
p99 and max of the latency, and the last poll's request count.
"""

from __future__ import annotations

import argparse
import http.server
import json
import os
import pathlib
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request


def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_http(url: str, limit: float) -> None:
    start = time.time()
    while time.time() - start < limit:
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except Exception:  # noqa: BLE001 - not up yet
            time.sleep(0.2)
    raise SystemExit(f"{url} did not answer in {limit} s")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("binary")
    ap.add_argument("--samples", type=int, default=40)
    ap.add_argument("--spread", type=float, default=150.0)
    args = ap.parse_args()
    venv = pathlib.Path(sys.executable).parent
    work = pathlib.Path(tempfile.mkdtemp(prefix="mlflow-latency-"))
    arrived: dict[str, float] = {}

    class Hook(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            body = self.rfile.read(int(self.headers.get("content-length", 0)))
            at = time.time()
            run = json.loads(body).get("run", "?")
            arrived.setdefault(run, at)
            self.send_response(200)
            self.end_headers()

        def log_message(self, *_: object) -> None:
            pass

    hook = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=hook.serve_forever, daemon=True).start()

    mport, sport = free_port(), free_port()
    procs = []
    try:
        procs.append(subprocess.Popen(
            [str(venv / "mlflow"), "server", "--host", "127.0.0.1", "--port", str(mport), "--workers", "1",
             "--backend-store-uri", f"sqlite:///{work}/mlflow.db", "--default-artifact-root", str(work / "art")],
            cwd=work, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True))
        db = work / "automations.db"
        key = subprocess.run([args.binary, "keys", "create", "--entity", "acme", "--db", str(db)],
                             check=True, capture_output=True, text=True).stdout.strip()
        procs.append(subprocess.Popen([args.binary, "serve", "--addr", f"127.0.0.1:{sport}", "--db", str(db)],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True))
        wait_http(f"http://127.0.0.1:{mport}/health", 180)
        api = f"http://127.0.0.1:{sport}"

        def call(method: str, path: str, doc: dict | None = None) -> dict:
            req = urllib.request.Request(api + path, method=method, data=json.dumps(doc).encode() if doc else None,
                                         headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"})
            with urllib.request.urlopen(req, timeout=30) as r:
                return json.loads(r.read() or b"{}")

        for _ in range(100):
            try:
                call("GET", "/v1/integrations")
                break
            except Exception:  # noqa: BLE001 - not up yet
                time.sleep(0.2)
        import mlflow
        from mlflow import MlflowClient

        mlflow.set_tracking_uri(f"http://127.0.0.1:{mport}")
        client = MlflowClient()
        experiment = client.create_experiment("bench")
        call("POST", "/v1/integrations", {"name": "hook", "type": "webhook",
                                          "url": f"http://127.0.0.1:{hook.server_address[1]}/hook"})
        call("POST", "/v1/integrations", {"name": "mlflow", "type": "mlflow",
                                          "tracking_uri": f"http://127.0.0.1:{mport}", "experiments": ["bench"]})
        call("POST", "/v1/automations", {
            "name": "lat", "scope": {"type": "project", "project": "bench"},
            "event": {"type": "RUN_METRIC_THRESHOLD", "metric": {"name": "lat", "cmp": "$gt", "threshold": 0}},
            "action": {"type": "webhook", "integration": "hook", "payload": '{"run": "${run_id}"}'}})

        logged: dict[str, float] = {}
        moments = sorted(random.uniform(0, args.spread) for _ in range(args.samples))
        start = time.time()
        for m in moments:
            time.sleep(max(0.0, start + m - time.time()))
            run = client.create_run(experiment).info.run_id
            client.log_metric(run, "lat", 1.0, step=0)
            logged[run] = time.time()
        deadline = time.time() + 60
        while len([r for r in logged if r in arrived]) < len(logged) and time.time() < deadline:
            time.sleep(0.1)
        lat = sorted(arrived[r] - t for r, t in logged.items() if r in arrived)
        missing = len(logged) - len(lat)

        def pct(p: float) -> float:
            return lat[min(len(lat) - 1, int(round(p / 100 * (len(lat) - 1))))]

        last = call("GET", "/v1/integrations/mlflow").get("last_poll", {})
        print(f"log_metric -> webhook at poll_seconds 15, {len(lat)} samples ({missing} missing): "
              f"p50 {pct(50):.2f} s, p90 {pct(90):.2f} s, p99 {pct(99):.2f} s, max {lat[-1]:.2f} s, "
              f"mean {statistics.mean(lat):.2f} s; last poll: {last.get('requests')} requests")
        sys.exit(1 if missing else 0)
    finally:
        for p in procs:
            try:
                os.killpg(p.pid, 9)
            except ProcessLookupError:
                pass
        hook.shutdown()


if __name__ == "__main__":
    main()
