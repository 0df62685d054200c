"""`automations serve` for Python test suites: the client's (here) and the web console's
(tests/console), one harness for both.

The server binary is $AUTOMATIONS_BIN, else target/debug/automations (in $CARGO_TARGET_DIR or the
repository's target/), else target/release/automations, else `automations` on PATH.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import threading
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Dict, List, Optional

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent.parent
ENTITY = "acme"


def server_binary() -> str:
    env = os.environ.get("AUTOMATIONS_BIN")
    if env:
        return env
    targets = [Path(t) for t in (os.environ.get("CARGO_TARGET_DIR"), REPO / "target") if t]
    for cand in [t / "debug" / "automations" for t in targets] + [REPO / "target" / "release" / "automations"]:
        if cand.exists():
            return str(cand)
    found = shutil.which("automations")
    if found:
        return found
    raise RuntimeError("no automations binary: set AUTOMATIONS_BIN (cargo build first)")


class Server:
    """`automations serve` on 127.0.0.1, its database in a temp dir, started and stopped at will."""

    def __init__(self, workdir: Path, *flags: str) -> None:
        self.bin = server_binary()
        self.workdir = workdir
        self.db = str(workdir / "automations.db")
        self.flags = list(flags)
        self.addr = "127.0.0.1:0"
        self.proc: Optional[subprocess.Popen] = None
        self.log = open(workdir / "serve.log", "ab")
        self.key = subprocess.run(
            [self.bin, "keys", "create", "--entity", ENTITY, "--db", self.db],
            check=True, capture_output=True, text=True,
        ).stdout.strip()

    @property
    def url(self) -> str:
        return f"http://{self.addr}"

    def start(self) -> "Server":
        self.proc = subprocess.Popen(
            [self.bin, "serve", "--addr", self.addr, "--db", self.db, *self.flags],
            stdout=self.log, stderr=subprocess.PIPE,
        )
        # It says `listening on http://ADDR` (on standard error) when ready.
        line = b""
        while True:
            line = self.proc.stderr.readline()
            if not line:
                break
            self.log.write(line)
            self.log.flush()
            text = line.decode("utf-8", "replace")
            if "listening on http://" in text:
                self.addr = text.split("http://", 1)[1].split()[0]
                threading.Thread(target=self._drain, args=(self.proc,), daemon=True).start()
                return self
        raise RuntimeError(f"automations serve did not start: {line!r}; see {self.workdir / 'serve.log'}")

    def _drain(self, proc: subprocess.Popen) -> None:
        for line in proc.stderr:
            try:
                self.log.write(line)
                self.log.flush()
            except ValueError:
                return

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None

    # -- the REST API ---------------------------------------------------------------------

    def api(self, method: str, path: str, body: Any = None, expect: Optional[int] = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method,
                                     headers={"Authorization": f"Bearer {self.key}",
                                              "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                status, text = r.status, r.read()
        except urllib.error.HTTPError as e:
            status, text = e.code, e.read()
        doc = json.loads(text) if text else None
        if expect is not None:
            assert status == expect, f"{method} {path}: HTTP {status}: {doc}"
        return doc

    def integration(self, name: str, url: str) -> None:
        self.api("POST", "/v1/integrations", {"name": name, "type": "webhook", "url": url}, expect=201)

    def automation(self, doc: Dict[str, Any]) -> str:
        return self.api("POST", "/v1/automations", doc, expect=201)["id"]

    def executions(self, automation_id: str) -> List[Dict[str, Any]]:
        return self.api("GET", f"/v1/automations/{automation_id}/executions?limit=200", expect=200)["items"]
