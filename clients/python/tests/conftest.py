"""Test support: a real `automations serve`, an API key, a webhook receiver, and helpers.

The server itself is `harness.Server` (shared with the console's browser tests).
"""

from __future__ import annotations

import http.server
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

import pytest

from harness import ENTITY, REPO, Server, server_binary  # noqa: F401 (the suites import them from here)


class Receiver:
    """A local webhook receiver recording every POST."""

    def __init__(self) -> None:
        self.requests: List[Dict[str, Any]] = []
        self.lock = threading.Lock()
        outer = self

        class H(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n)
                with outer.lock:
                    outer.requests.append({"path": self.path, "headers": dict(self.headers.items()),
                                           "body": json.loads(body) if body else None})
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *a: Any) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def at(self, path: str) -> List[Dict[str, Any]]:
        with self.lock:
            return [r for r in self.requests if r["path"] == path]

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def wait_for(pred: Callable[[], Any], timeout: float = 20.0, every: float = 0.1, what: str = "condition") -> Any:
    deadline = time.time() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.time() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(every)


def unique_fires(reqs: List[Dict[str, Any]]) -> Dict[str, Dict[str, Any]]:
    """Deliveries by `webhook-id` (a receiver may see one twice after a restart)."""
    out: Dict[str, Dict[str, Any]] = {}
    for r in reqs:
        hid = {k.lower(): v for k, v in r["headers"].items()}.get("webhook-id")
        out.setdefault(hid, r)
    return out


@pytest.fixture(scope="session")
def receiver():
    r = Receiver()
    yield r
    r.close()


#: A short stall period and frequent sweeps, so a stopped process is marked crashed in seconds.
FAST_SWEEP = ("--stall-period", "3s", "--sweep-every", "500ms", "--retry-base", "200ms")


@pytest.fixture
def make_server(tmp_path, receiver):
    """Start a fresh server (flags as given), with the integration `hook` posting to the
    receiver; `server.deliveries()` lists what reached it."""
    started: List[Server] = []

    def make(*flags: str) -> Server:
        d = tmp_path / f"server{len(started)}"
        d.mkdir()
        s = Server(d, *flags).start()
        s.hook_path = f"/{tmp_path.name}/{len(started)}"
        s.integration("hook", receiver.url + s.hook_path)
        s.deliveries = lambda: receiver.at(s.hook_path)
        started.append(s)
        return s

    yield make
    for s in started:
        s.stop()


@pytest.fixture
def server(make_server):
    """A fresh server per test with a 3-second stall period."""
    return make_server(*FAST_SWEEP)


HOOK = {"type": "webhook", "integration": "hook"}
SCOPE = {"type": "project", "project": "mnist"}


def change_up(name: str = "loss-up", metric: str = "loss") -> Dict[str, Any]:
    """Fires when the average of the last 3 values is 25% above that of the 5 before."""
    return {"name": name, "scope": SCOPE,
            "event": {"type": "RUN_METRIC_CHANGE",
                      "metric": {"name": metric, "agg": "AVERAGE", "current_window": 3, "prior_window": 5,
                                 "change_type": "RELATIVE", "change_dir": "INCREASE", "amount": 0.25}},
            "action": HOOK}


def on_states(name: str, *states: str) -> Dict[str, Any]:
    return {"name": name, "scope": SCOPE, "event": {"type": "RUN_STATE", "states": list(states)}, "action": HOOK}


def threshold(name: str, metric: str, agg: Optional[str], window: int, cmp: str, value: float) -> Dict[str, Any]:
    m: Dict[str, Any] = {"name": metric, "window": window, "cmp": cmp, "threshold": value}
    if agg:
        m["agg"] = agg
    return {"name": name, "scope": SCOPE, "event": {"type": "RUN_METRIC_THRESHOLD", "metric": m}, "action": HOOK}


def loss_curve(down: int = 30, up: int = 20) -> List[float]:
    """Falls for `down` steps, then turns up for `up` steps."""
    xs = [1.0 / (1.0 + 0.1 * i) for i in range(down)]
    last = xs[-1]
    return xs + [last * (1.0 + 0.2 * (i + 1)) for i in range(up)]


def fires_of(server: "Server", name: str) -> List[Dict[str, Any]]:
    """The deliveries (one per webhook-id) of the automation named `name`."""
    return [r["body"] for r in unique_fires(server.deliveries()).values()
            if r["body"] and r["body"].get("automation", {}).get("name") == name]


@pytest.fixture
def env(server, monkeypatch, tmp_path):
    """AUTOMATIONS_URL / AUTOMATIONS_API_KEY for the test's server, wandb offline in tmp."""
    monkeypatch.setenv("AUTOMATIONS_URL", server.url)
    monkeypatch.setenv("AUTOMATIONS_API_KEY", server.key)
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path))
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.setenv("WANDB_CONSOLE", "off")
    return server


def run_script(code: str, env: Dict[str, str], cwd: Path, timeout: float = 60) -> subprocess.CompletedProcess:
    full = dict(os.environ, **env)
    return subprocess.run([sys.executable, "-c", code], env=full, cwd=cwd, capture_output=True, text=True,
                          timeout=timeout)
