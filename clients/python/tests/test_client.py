"""The plain client against a real `automations serve`."""

from __future__ import annotations

import http.server
import json
import logging
import math
import threading
import time
import urllib.request

import numpy as np
import pytest

from automations_client import Client
from automations_client._values import scalar
from conftest import (ENTITY, HOOK, SCOPE, change_up, fires_of, loss_curve, on_states, threshold, unique_fires,
                      wait_for)


def client_for(server, **kw) -> Client:
    kw.setdefault("heartbeat_interval", 0.5)
    kw.setdefault("retry_base", 0.1)
    kw.setdefault("retry_cap", 1.0)
    return Client(server.url, server.key, **kw)


def test_loss_turning_up_fires_a_change_automation_once(server):
    aid = server.automation(change_up())
    c = client_for(server)
    with c.run(ENTITY, "mnist", name="train-lr3", user="ana", tags=["sweep"], config={"lr": 0.001}) as run:
        for loss in loss_curve():
            run.log({"loss": loss, "acc": 1 - loss})
    assert c.flush(10)
    fires = wait_for(lambda: fires_of(server, "loss-up"), what="the change fire")
    time.sleep(1.0)  # anything else would have been delivered by now
    fires = fires_of(server, "loss-up")
    assert len(fires) == 1, fires
    assert len(server.executions(aid)) == 1
    f = fires[0]
    assert f["run"]["run_name"] == "train-lr3"
    assert f["run"]["user"] == "ana" and f["run"]["tags"] == ["sweep"] and f["run"]["config"] == {"lr": 0.001}
    # The first step at which avg(last 3) >= 1.25 * avg(5 before): values went 30 down, then up.
    assert f["metric"]["name"] == "loss" and 30 <= f["metric"]["step"] < 40
    c.close()


def test_an_exception_in_the_block_finishes_the_run_failed(server):
    server.automation(on_states("run-failed", "failed", "crashed"))
    server.automation(on_states("run-finished", "finished"))
    c = client_for(server)
    with pytest.raises(ZeroDivisionError):
        with c.run(ENTITY, "mnist", run_id="r-fail", name="broken") as run:
            for i in range(5):
                run.log({"loss": 1.0 / (3 - i)})
    with c.run(ENTITY, "mnist", run_id="r-ok") as run:
        run.log({"loss": 1.0})
    assert c.flush(10)
    failed = wait_for(lambda: fires_of(server, "run-failed"), what="the failed fire")
    assert [f["run"]["run_id"] for f in failed] == ["r-fail"]
    assert failed[0]["run"]["state"] == "failed" and failed[0]["run"]["previous_state"] == "running"
    finished = wait_for(lambda: fires_of(server, "run-finished"), what="the finished fire")
    assert [f["run"]["run_id"] for f in finished] == ["r-ok"]
    c.close()


def test_values_nan_numpy_nested_and_skipped(server):
    # Fires once 4 values of x exist: the webhook shows every value the window read.
    server.automation(threshold("x-window", "x", "MAX", 4, "$gte", -1e9))
    server.automation(threshold("b-flag", "flags/ok", None, 1, "$eq", 1.0))
    c = client_for(server)
    run = c.run(ENTITY, "mnist", run_id="r-values")
    run.log({"x": np.float32(0.5), "img": object(), "text": "hello", "arr": np.zeros(3), "none": None})
    run.log({"x": float("nan"), "y": float("inf"), "z": -math.inf})
    run.log({"x": np.int64(2), "flags": {"ok": True}, "list": [1, 2]})
    run.log({"x": np.array(3.25)})
    run.log({"x": 4})
    run.finish()
    assert c.flush(10)
    fire = wait_for(lambda: fires_of(server, "x-window"), what="the window fire")[0]
    # NaN is accepted and kept out of windows: 4 finite values at steps 0, 2, 3, 4.
    assert fire["metric"]["values"] == [0.5, 2.0, 3.25, 4.0]
    assert fire["metric"]["step"] == 4
    assert wait_for(lambda: fires_of(server, "b-flag"), what="the bool fire")[0]["metric"]["step"] == 2
    st = c.stats()
    assert st["envelopes_rejected"] == 0 and st["values_sent"] == 8, st
    c.close()


def test_scalar_conversion():
    assert scalar(np.float64(1.5)) == 1.5 and type(scalar(np.float64(1.5))) is float
    assert scalar(np.int32(3)) == 3 and scalar(np.bool_(True)) == 1.0 and scalar(False) == 0.0
    assert scalar(np.array([1.0, 2.0])) is None and scalar(np.array([7.0])) == 7.0
    assert scalar("1.0") is None and scalar(b"1") is None and scalar(None) is None and scalar([1]) is None
    assert math.isnan(scalar(float("nan")))

    class F:
        def __float__(self):
            return 2.5

    assert scalar(F()) == 2.5


def test_steps_auto_increment_and_explicit_steps(server):
    server.automation(threshold("s-window", "s", "MIN", 3, "$gte", 0))
    c = client_for(server)
    run = c.run(ENTITY, "mnist", run_id="r-steps")
    run.log({"s": 1.0})           # step 0
    run.log({"s": 2.0}, step=10)  # step 10
    run.log({"s": 3.0})           # step 11
    assert run.step == 12
    run.finish()
    assert c.flush(10)
    fire = wait_for(lambda: fires_of(server, "s-window"), what="the fire")[0]
    assert fire["metric"]["step"] == 11 and fire["metric"]["values"] == [1.0, 2.0, 3.0]
    c.close()


def test_a_full_queue_drops_the_oldest_rows_and_counts_them(make_server, caplog):
    s = make_server()
    s.automation(threshold("tail", "i", "MIN", 50, "$gte", 450))
    url = s.url
    s.stop()  # unreachable while the loop logs
    c = Client(url, s.key, max_queue_rows=50, retry_base=0.05, retry_cap=0.2, heartbeat_interval=60)
    caplog.set_level(logging.WARNING, logger="automations_client")
    run = c.run(ENTITY, "mnist", run_id="r-full")
    time.sleep(0.3)  # the sender took the `running` state and is retrying it
    for i in range(500):
        run.log({"i": float(i)})
    warnings = [r for r in caplog.records if "queue is full" in r.getMessage()]
    assert len(warnings) == 1
    assert c.dropped_rows == 450
    s.start()
    run.finish()
    assert c.flush(20)
    st = c.stats()
    assert st["rows_sent"] == 50 and st["rows_dropped"] == 450, st
    # The newest 50 rows were kept: the minimum of the last 50 values is 450.
    fire = wait_for(lambda: fires_of(s, "tail"), what="the tail fire")[0]
    assert fire["metric"]["values"] == [float(i) for i in range(450, 500)]
    assert len([r for r in caplog.records if "queue is full" in r.getMessage()]) == 1
    c.close()


def test_a_refused_envelope_is_logged_once_and_dropped(server, caplog):
    server.automation(on_states("fin", "finished"))
    caplog.set_level(logging.WARNING, logger="automations_client")
    c = client_for(server)
    other = c.run("someone-else", "mnist", run_id="r-other")  # the key grants acme only
    other.log({"loss": 1.0})
    mine = c.run(ENTITY, "mnist", run_id="r-mine")
    mine.log({"loss": 1.0})
    mine.finish()
    other.finish()
    assert c.flush(10)
    fire = wait_for(lambda: fires_of(server, "fin"), what="the finished fire")
    assert [f["run"]["run_id"] for f in fire] == ["r-mine"]
    st = c.stats()
    assert st["envelopes_rejected"] == 3, st  # running, the metrics, finished of r-other
    refusals = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
    assert len(refusals) == 3 and all("data.entity" in m for m in refusals), refusals
    c.flush(2)
    assert len([r for r in caplog.records if "refused" in r.getMessage()]) == 3  # never retried
    c.close()


class FlakyProxy:
    """Forwards to the server, but answers 429 (Retry-After: 1) to the first request, and 503 to
    the first one carrying a `failed` state *after* the server took it."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.times = []
        self.bodies = []
        self.throttled = False
        self.broke = False
        outer = self

        class H(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                outer.times.append(time.monotonic())
                outer.bodies.append(body)
                if not outer.throttled:
                    outer.throttled = True
                    return self.answer(429, b"{}", {"Retry-After": "1"})
                req = urllib.request.Request(outer.upstream + self.path, data=body, method="POST",
                                             headers={"Authorization": self.headers["Authorization"],
                                                      "Content-Type": "application/json"})
                with urllib.request.urlopen(req, timeout=10) as r:
                    status, data = r.status, r.read()
                if not outer.broke and b'"state":"failed"' in body:
                    outer.broke = True
                    return self.answer(503, b'{"title":"unavailable"}', {})
                self.answer(status, data, {})

            def answer(self, status, data, headers):
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *a):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def test_retries_honour_retry_after_and_a_resent_batch_fires_once(server):
    aid = server.automation(on_states("run-failed", "failed"))
    proxy = FlakyProxy(server.url)
    try:
        c = Client(proxy.url, server.key, retry_base=0.05, retry_cap=0.2, heartbeat_interval=60)
        run = c.run(ENTITY, "mnist", run_id="r-flaky")
        assert c.flush(10)
        assert proxy.times[1] - proxy.times[0] >= 0.95, "Retry-After: 1 was not honoured"
        assert proxy.bodies[0] == proxy.bodies[1], "a retry sends the same envelopes"
        run.log({"loss": 2.0})
        run.finish("failed")
        assert c.flush(10)
        assert proxy.broke
        wait_for(lambda: fires_of(server, "run-failed"), what="the failed fire")
        time.sleep(1.0)
        # The server took the batch twice (the first answer was lost); the ids are the same, so
        # it fired once.
        resent = [b for b in proxy.bodies if b'"state":"failed"' in b]
        assert len(resent) == 2 and resent[0] == resent[1]
        assert len(fires_of(server, "run-failed")) == 1
        assert len(server.executions(aid)) == 1
        assert c.stats()["retries"] >= 2
        c.close()
    finally:
        proxy.close()


def test_artifact_events(server):
    server.automation({"name": "prod", "scope": SCOPE,
                       "event": {"type": "ADD_ARTIFACT_ALIAS", "filter": {"alias": {"$regex": "^production$"}}},
                       "action": HOOK})
    c = client_for(server)
    c.artifact_event("ADD_ARTIFACT_ALIAS", ENTITY, project="mnist", collection="classifier",
                     collection_type="model", version=7, alias="staging")
    eid = c.artifact_event("artifact.alias.added", ENTITY, project="mnist", collection="classifier",
                           collection_type="model", version="v7", alias="production", author="ana",
                           metadata={"accuracy": 0.93})
    # The same id again (a retried job): deduplicated by the server.
    c.artifact_event("artifact.alias.added", ENTITY, project="mnist", collection="classifier",
                     collection_type="model", version=7, alias="production", id=eid)
    assert c.flush(10)
    fire = wait_for(lambda: fires_of(server, "prod"), what="the alias fire")
    time.sleep(0.5)
    fire = fires_of(server, "prod")
    assert len(fire) == 1
    assert fire[0]["artifact"]["alias"] == "production" and fire[0]["artifact"]["version"] == 7
    assert fire[0]["artifact"]["metadata"] == {"accuracy": 0.93}
    with pytest.raises(ValueError):
        c.artifact_event("artifact.exploded", ENTITY, project="p", collection="c", collection_type="model",
                         version=1)
    with pytest.raises(ValueError):
        c.artifact_event("CREATE_ARTIFACT", ENTITY, collection="c", collection_type="model", version=1)
    c.close()


def test_heartbeats_keep_an_idle_run_alive(server):
    server.automation(on_states("crashed", "crashed"))
    c = client_for(server)
    run = c.run(ENTITY, "mnist", run_id="r-idle")
    run.log({"loss": 1.0})
    time.sleep(5)  # longer than the 3 s stall period, logging nothing
    assert fires_of(server, "crashed") == []
    assert c.stats()["heartbeats_sent"] >= 3
    run.finish()
    c.close()


def test_large_batches_are_split_under_the_envelope_limit(server):
    server.automation(threshold("m-last", "m0", "MIN", 1000, "$gte", 0))
    c = client_for(server, max_queue_rows=10_000)
    run = c.run(ENTITY, "mnist", run_id="r-big")
    names = [f"m{i}" for i in range(50)]
    for step in range(2000):
        run.log({n: step + 0.123456789 for n in names})
    run.finish()
    assert c.flush(30)
    st = c.stats()
    assert st["rows_sent"] == 2000 and st["values_sent"] == 100_000 and st["envelopes_rejected"] == 0, st
    assert st["envelopes_sent"] > 4  # 100,000 values do not fit one 256 KiB envelope
    fire = wait_for(lambda: fires_of(server, "m-last"), what="the fire")[0]
    assert fire["metric"]["step"] == 999
    c.close()
