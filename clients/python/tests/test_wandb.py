"""The wandb bridge, with the real wandb (offline mode) against a real `automations serve`."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pytest

wandb = pytest.importorskip("wandb")

import automations_client.wandb as bridge  # noqa: E402
from automations_client import Client  # noqa: E402
from automations_client.wandb import _target  # noqa: E402
from conftest import (ENTITY, HOOK, SCOPE, change_up, fires_of, loss_curve, on_states, threshold,  # noqa: E402
                      wait_for)


def script_env(server, tmp_path):
    """The environment of a training script: this process's, without its wandb service."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("WANDB_SERVICE")}
    env.update(wandb_env(server, tmp_path))
    return env


def wandb_env(server, tmp_path):
    return {"AUTOMATIONS_URL": server.url, "AUTOMATIONS_API_KEY": server.key, "WANDB_MODE": "offline",
            "WANDB_DIR": str(tmp_path), "WANDB_SILENT": "true", "WANDB_CONSOLE": "off"}


@pytest.fixture
def offline(monkeypatch, tmp_path):
    for k, v in {"WANDB_MODE": "offline", "WANDB_DIR": str(tmp_path), "WANDB_SILENT": "true",
                 "WANDB_CONSOLE": "off"}.items():
        monkeypatch.setenv(k, v)


def client_for(server, **kw) -> Client:
    kw.setdefault("heartbeat_interval", 0.5)
    kw.setdefault("retry_base", 0.1)
    kw.setdefault("retry_cap", 1.0)
    kw.setdefault("source", bridge.SOURCE)
    return Client(server.url, server.key, **kw)


def test_a_wandb_loop_whose_loss_turns_up_fires_once(server, offline):
    aid = server.automation(change_up())
    server.automation(on_states("done", "finished"))
    c = client_for(server)
    run = wandb.init(entity=ENTITY, project="mnist", name="train-lr3", tags=["sweep"], config={"lr": 0.001})
    mirror = bridge.attach(run, client=c)
    assert bridge.attach(run, client=c) is mirror
    run.config.update({"batch": 64})  # after init, before the loop: sent too
    for loss in loss_curve():
        wandb.log({"loss": loss, "acc": 1 - loss})  # the module-level log is mirrored too
    run.finish()
    assert mirror.finished and mirror.last_state == "finished"
    assert c.flush(10)
    fire = wait_for(lambda: fires_of(server, "loss-up"), what="the change fire")[0]
    done = wait_for(lambda: fires_of(server, "done"), what="the finished fire")[0]
    time.sleep(1.0)
    assert len(fires_of(server, "loss-up")) == 1 and len(server.executions(aid)) == 1
    assert fire["run"]["run_id"] == run.id and fire["run"]["run_name"] == "train-lr3"
    assert fire["run"]["tags"] == ["sweep"] and fire["run"]["config"] == {"lr": 0.001, "batch": 64}
    assert 30 <= fire["metric"]["step"] < 40  # wandb's steps, from 0
    assert done["run"]["state"] == "finished"
    c.close()


def test_wandb_steps_are_wandbs(server, offline):
    server.automation(threshold("s", "s", "MIN", 4, "$gte", 0))
    c = client_for(server)
    run = wandb.init(entity=ENTITY, project="mnist")
    bridge.attach(run, client=c)
    run.log({"s": 1})              # step 0
    run.log({"s": 2}, step=5)      # step 5
    run.log({"t": 1}, commit=False)  # still step 5: s is not repeated
    run.log({"s": 3})              # step 5 in wandb (merged into the open row)...
    run.log({"s": 4})              # ...then 6
    run.log({"s": 5})              # 7
    run.finish()
    assert c.flush(10)
    fire = wait_for(lambda: fires_of(server, "s"), what="the fire")[0]
    # step 5 logged s twice: the server keeps the first (a step not newer is a duplicate).
    assert fire["metric"]["step"] == 7 and fire["metric"]["values"] == [1.0, 2.0, 4.0, 5.0]
    c.close()


SCRIPT = """
import sys, time, wandb, numpy as np
import automations_client.wandb as bridge
run = wandb.init(entity="acme", project="mnist", name={name!r})
bridge.attach(run, heartbeat_interval=0.5, retry_base=0.1, retry_cap=1.0)
for step in range(1000):
    run.log({{"loss": 1.0 / (step + 1)}})
    if step == 5:
        print("logging", flush=True)
        {at_step_5}
    time.sleep(0.02)
"""


@pytest.mark.parametrize("how,state,shared", [("raise RuntimeError('diverged')", "failed", False),
                                              ("sys.exit(3)", "failed", False),
                                              ("sys.exit(3)", "failed", True),
                                              ("break", "finished", False)])
def test_process_exit_sends_wandbs_exit_state(server, tmp_path, how, state, shared):
    """`shared`: the script uses this process's wandb service (as a child of a wandb process
    does), where wandb installs no exit hooks of its own."""
    server.automation(on_states("ended", "failed", "finished"))
    code = SCRIPT.format(name="exiting", at_step_5=how)
    env = dict(os.environ, **wandb_env(server, tmp_path)) if shared else script_env(server, tmp_path)
    p = subprocess.run([sys.executable, "-c", code], env=env,
                       cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert p.returncode == {"failed": 1 if "raise" in how else 3, "finished": 0}[state], p.stderr
    fire = wait_for(lambda: fires_of(server, "ended"), what="the end fire")
    assert [f["run"]["state"] for f in fire] == [state]
    assert fire[0]["run"]["run_name"] == "exiting"


def test_a_process_killed_with_sigkill_is_marked_crashed(server, tmp_path):
    server.automation(on_states("crashed", "crashed"))
    env = script_env(server, tmp_path)
    killed = subprocess.Popen([sys.executable, "-c", SCRIPT.format(name="doomed", at_step_5="time.sleep(0.5)")],
                              env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # An idle run next to it: it logs nothing for longer than the stall period, but heartbeats.
    alive = subprocess.Popen([sys.executable, "-c", SCRIPT.format(name="idle", at_step_5="time.sleep(30)")],
                             env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert killed.stdout.readline().strip() == "logging"
        assert alive.stdout.readline().strip() == "logging"
        time.sleep(1.0)  # some rows out
        killed.send_signal(signal.SIGKILL)
        killed.wait(10)
        t0 = time.time()
        fire = wait_for(lambda: fires_of(server, "crashed"), timeout=20, what="the crashed fire")
        took = time.time() - t0
        assert [f["run"]["run_name"] for f in fire] == ["doomed"], fire
        assert fire[0]["event"]["source"] == "automations/sweeper"
        assert took < 10
        time.sleep(3.5)  # another stall period: the idle run is still alive
        assert [f["run"]["run_name"] for f in fires_of(server, "crashed")] == ["doomed"]
    finally:
        for p in (killed, alive):
            if p.poll() is None:
                p.kill()
            p.wait(10)


def test_a_server_stopped_for_20s_loses_nothing_and_fires_nothing_twice(make_server, offline):
    s = make_server("--retry-base", "200ms")  # the default stall period: the outage is not a crash
    n = 400
    window = s.automation(threshold("all-values", "x", "MAX", n, "$gte", 0))  # needs all n values
    early = s.automation(threshold("early", "x", None, 1, "$gte", 50))  # fires before the outage
    up = s.automation(change_up("loss-up"))
    c = client_for(s, retry_cap=2.0)
    run = wandb.init(entity=ENTITY, project="mnist", name="through-an-outage")
    bridge.attach(run, client=c)
    losses = loss_curve(down=250, up=150)
    stop_at, restart_at = 100, 300
    t_stop = None
    for i in range(n):
        run.log({"x": float(i), "loss": losses[i]})
        if i == stop_at:
            assert c.flush(10)
            wait_for(lambda: fires_of(s, "early"), what="the early fire")
            s.stop()
            t_stop = time.time()
        if stop_at < i < restart_at:
            time.sleep(20.0 / (restart_at - stop_at))  # 20 seconds of training while it is down
        if i == restart_at:
            assert time.time() - t_stop >= 20
            s.start()
    run.finish()
    assert c.flush(30)
    fire = wait_for(lambda: fires_of(s, "all-values"), timeout=20, what="the all-values fire")[0]
    assert fire["metric"]["values"] == [float(i) for i in range(n)]  # every value, in order
    wait_for(lambda: fires_of(s, "loss-up"), what="the change fire")
    time.sleep(1.5)
    for aid, name in ((window, "all-values"), (early, "early"), (up, "loss-up")):
        assert len(s.executions(aid)) == 1, name
        assert len(fires_of(s, name)) == 1, name
    st = c.stats()
    assert st["rows_dropped"] == 0 and st["rows_sent"] == n and st["retries"] > 0, st
    c.close()


def test_nan_numpy_and_images_do_not_break_anything(server, offline, tmp_path):
    server.automation(threshold("v", "v", "MAX", 3, "$gte", -1e9))
    server.automation(on_states("done", "finished", "failed"))
    c = client_for(server)
    run = wandb.init(entity=ENTITY, project="mnist")
    bridge.attach(run, client=c)
    img = wandb.Image(np.zeros((8, 8, 3), dtype=np.uint8))
    run.log({"v": float("nan"), "img": img, "hist": wandb.Histogram([1, 2, 3])})
    run.log({"v": np.float32(1.5), "table": wandb.Table(columns=["a"], data=[[1]]), "caption": "x"})
    run.log({"v": np.int64(2), "nested": {"w": np.float64(0.25)}})
    run.log({"v": float("inf")})
    run.log({"v": 3})
    run.finish()
    assert c.flush(10)
    fire = wait_for(lambda: fires_of(server, "v"), what="the fire")[0]
    assert fire["metric"]["values"] == [1.5, 2.0, 3.0] and fire["metric"]["step"] == 4
    assert [f["run"]["state"] for f in wait_for(lambda: fires_of(server, "done"))] == ["finished"]
    assert c.stats()["envelopes_rejected"] == 0
    c.close()


def test_log_artifact_sends_version_created_and_offline_link_is_unchanged(server, offline, tmp_path):
    server.automation({"name": "new-dataset", "scope": SCOPE,
                       "event": {"type": "CREATE_ARTIFACT", "filter": {"alias": {"$in": ["best"]}}},
                       "action": HOOK})
    c = client_for(server)
    run = wandb.init(entity=ENTITY, project="mnist")
    mirror = bridge.attach(run, client=c)
    f = tmp_path / "data.txt"
    f.write_text("1,2,3\n")
    for aliases in (["best"], None):
        art = wandb.Artifact("mnist-train", type="dataset", metadata={"rows": 3})
        art.add_file(str(f))
        assert run.log_artifact(art, aliases=aliases) is art
    with pytest.raises(NotImplementedError):  # wandb does not link offline; neither do we
        run.link_artifact(art, "wandb-registry-model/classifier")
    run.finish()
    assert c.flush(10)
    fire = wait_for(lambda: fires_of(server, "new-dataset"), what="the created fire")
    time.sleep(0.5)
    fire = fires_of(server, "new-dataset")
    assert len(fire) == 1
    a = fire[0]["artifact"]
    assert (a["collection"], a["collection_type"], a["version"]) == ("mnist-train", "dataset", 0)
    assert a["aliases"] == ["best", "latest"]
    assert a["metadata"]["rows"] == 3 and a["metadata"]["wandb_offline"] is True
    assert c.stats()["envelopes_rejected"] == 0 and mirror.finished
    c.close()


def test_link_targets():
    assert _target("wandb-registry-model/classifier") == ("registry", "model", "classifier")
    assert _target("acme-org/wandb-registry-model/classifier:v3") == ("registry", "model", "classifier")
    assert _target("acme/mnist/classifier") == ("project", "mnist", "classifier")
    assert _target("classifier") == ("project", "", "classifier")
    assert _target("") is None


def test_attach_needs_an_entity_and_a_url(offline, monkeypatch):
    monkeypatch.delenv("AUTOMATIONS_URL", raising=False)
    monkeypatch.delenv("AUTOMATIONS_ENTITY", raising=False)
    run = wandb.init(project="mnist")
    try:
        with pytest.raises(ValueError, match="entity"):
            bridge.attach(run)
        with pytest.raises(ValueError, match="AUTOMATIONS_URL"):
            bridge.attach(run, entity=ENTITY)
        run.log({"loss": 1.0})  # wandb untouched
    finally:
        run.finish()
