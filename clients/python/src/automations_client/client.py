"""The client: runs, their metrics and states, and artifact events, sent in the background."""

from __future__ import annotations

import atexit
import collections
import json
import logging
import os
import secrets
import sys
import threading
import time as _time
import uuid
import weakref
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence

from ._sender import Sender
from ._values import flatten_into, rfc3339, scalar, to_epoch

__all__ = ["Client", "Run", "RUN_STATES", "ARTIFACT_EVENT_TYPES", "TERMINAL_STATES"]

log = logging.getLogger("automations_client")

#: The run states the intake knows (SPEC section 3).
RUN_STATES = ("pending", "running", "finished", "failed", "crashed", "killed")
#: States after which a run sends nothing more (and no more heartbeats).
TERMINAL_STATES = frozenset(("finished", "failed", "crashed", "killed"))

#: Artifact event types, by their CloudEvents type and by their trigger name.
ARTIFACT_EVENT_TYPES = {
    "artifact.version.created": "artifact.version.created",
    "artifact.version.linked": "artifact.version.linked",
    "artifact.version.unlinked": "artifact.version.unlinked",
    "artifact.alias.added": "artifact.alias.added",
    "artifact.tag.added": "artifact.tag.added",
    "artifact.tag.removed": "artifact.tag.removed",
    "collection.tag.added": "collection.tag.added",
    "collection.tag.removed": "collection.tag.removed",
    "CREATE_ARTIFACT": "artifact.version.created",
    "LINK_ARTIFACT": "artifact.version.linked",
    "UNLINK_ARTIFACT": "artifact.version.unlinked",
    "ADD_ARTIFACT_ALIAS": "artifact.alias.added",
    "ADD_ARTIFACT_TAG": "artifact.tag.added",
    "REMOVE_ARTIFACT_TAG": "artifact.tag.removed",
    "ADD_COLLECTION_TAG": "collection.tag.added",
    "REMOVE_COLLECTION_TAG": "collection.tag.removed",
}

_FLOAT = float
_INT = int


def _env_float(name: str, default: float) -> float:
    v = os.environ.get(name)
    if not v:
        return default
    try:
        return float(v)
    except ValueError:
        log.warning("automations_client: %s=%r is not a number; using %s", name, v, default)
        return default


class Event:
    """One envelope waiting in the queue (anything that is not a metric row)."""

    __slots__ = ("run", "envelope", "state", "done")

    def __init__(self, envelope: Optional[Dict[str, Any]], run: "Optional[Run]" = None,
                 state: Optional[str] = None, done: Optional[threading.Event] = None) -> None:
        self.envelope = envelope
        self.run = run
        self.state = state
        self.done = done


class Client:
    """A connection to an automations server's event intake (``POST /v1/events``).

    ``Client()`` reads ``AUTOMATIONS_URL`` (the server, e.g. ``http://127.0.0.1:8080``) and
    ``AUTOMATIONS_API_KEY`` (a key made with ``automations keys create --entity E``). Nothing
    it does waits on the network in the calling thread: :meth:`Run.log` appends to a bounded
    in-memory queue and one background thread sends batches, in order, retrying what failed.

    Args:
        url: the server's base URL (default ``$AUTOMATIONS_URL``); ``/v1/events`` is added.
        api_key: the API key (default ``$AUTOMATIONS_API_KEY``).
        source: the CloudEvents ``source`` of every envelope (with the envelope id, the
            idempotency key the server deduplicates on).
        max_queue_rows: metric rows kept waiting at most; when full, the oldest are dropped
            and counted (:meth:`stats`), and one warning says so.
        flush_interval: seconds between sends at most (a batch goes earlier when it is large).
        heartbeat_interval: seconds of silence after which an open run sends ``run.heartbeat``
            (the sweeper marks a run ``crashed`` only after its stall period, 10 minutes by
            default, without hearing from it).
        timeout: seconds one HTTP request may take.
        retry_base, retry_cap: retries back off exponentially with full jitter, from
            ``retry_base`` seconds, doubling, to at most ``retry_cap``; a ``Retry-After``
            answer is honoured.
        exit_timeout: at interpreter exit, seconds spent at most sending what is still queued
            (default ``$AUTOMATIONS_EXIT_TIMEOUT`` or 10).
        max_request_bytes, max_envelope_bytes: size limits of one request and one envelope
            (the server's are 1 MiB and 256 KiB).
    """

    def __init__(
        self,
        url: Optional[str] = None,
        api_key: Optional[str] = None,
        *,
        source: str = "automations-client",
        max_queue_rows: int = 100_000,
        flush_interval: float = 1.0,
        heartbeat_interval: float = 60.0,
        timeout: float = 10.0,
        retry_base: float = 0.5,
        retry_cap: float = 10.0,
        exit_timeout: Optional[float] = None,
        max_request_bytes: int = 960 * 1024,
        max_envelope_bytes: int = 240 * 1024,
    ) -> None:
        url = url or os.environ.get("AUTOMATIONS_URL")
        api_key = api_key or os.environ.get("AUTOMATIONS_API_KEY")
        if not url:
            raise ValueError("automations_client: no server URL: pass url= or set AUTOMATIONS_URL")
        if not api_key:
            raise ValueError("automations_client: no API key: pass api_key= or set AUTOMATIONS_API_KEY")
        if max_queue_rows < 1:
            raise ValueError("max_queue_rows must be at least 1")
        self.url = url.rstrip("/")
        self.source = source
        self.max_queue_rows = int(max_queue_rows)
        self.exit_timeout = _env_float("AUTOMATIONS_EXIT_TIMEOUT", 10.0) if exit_timeout is None else exit_timeout
        self._queue: collections.deque = collections.deque()
        self._lock = threading.Lock()
        self._dropped = 0
        self._logged = 0  # rows, counted at drop time and by the sender (never in log())
        self._warned_full = False
        self._closed = False
        self._runs: "weakref.WeakSet[Run]" = weakref.WeakSet()
        self._sender = Sender(
            self,
            url=self.url,
            api_key=api_key,
            flush_interval=flush_interval,
            heartbeat_interval=heartbeat_interval,
            timeout=timeout,
            retry_base=retry_base,
            retry_cap=retry_cap,
            max_request_bytes=max_request_bytes,
            max_envelope_bytes=max_envelope_bytes,
        )
        self._wake_rows = max(1, min(self.max_queue_rows // 2, 2000))
        ref = weakref.ref(self)
        self._atexit = lambda: _at_exit(ref)
        atexit.register(self._atexit)
        self._sender.start()

    # -- runs and events ------------------------------------------------------------------

    def run(
        self,
        entity: str,
        project: str,
        run_id: Optional[str] = None,
        name: Optional[str] = None,
        user: Optional[str] = None,
        tags: Iterable[str] = (),
        config: Optional[Mapping[str, Any]] = None,
        *,
        state: str = "running",
        start_step: int = 0,
    ) -> "Run":
        """Open a run and send its state ``running``.

        ``run_id`` defaults to a new random id; ``name`` (the ``display_name`` of run filters)
        to the id. ``user``, ``tags`` and ``config`` are sent with every event of the run (run
        filters read ``username``, ``tags`` and ``config.KEY``). The run is a context manager:
        leaving the block by an exception finishes it ``failed``, otherwise ``finished``.
        """
        if self._closed:
            raise RuntimeError("automations_client: the client is closed")
        r = Run(self, entity, project, run_id, name, user, tags, config, start_step=start_step)
        self._runs.add(r)
        r.state(state)
        return r

    def artifact_event(
        self,
        type: str,
        entity: str,
        *,
        project: Optional[str] = None,
        registry: Optional[str] = None,
        collection: str,
        collection_type: str,
        version: Optional[Any] = None,
        id: Optional[str] = None,
        time: Any = None,
        **fields: Any,
    ) -> str:
        """Send an artifact or collection event; returns its envelope id.

        ``type`` is a CloudEvents type (``artifact.alias.added``) or a trigger name
        (``ADD_ARTIFACT_ALIAS``). Exactly one of ``project`` / ``registry`` is its location;
        ``version`` is the version's index (``7`` or ``"v7"``), required except for collection
        tag events. Other fields go into ``data`` as given: ``alias``, ``tag``, ``aliases``,
        ``tags``, ``metadata``, ``author``, ``source`` (``{"project", "collection",
        "version"}`` for link events). Pass a stable ``id`` to make a re-sent event (say, from
        a restarted job) deduplicate with the first; by default it is new.
        """
        ce_type = ARTIFACT_EVENT_TYPES.get(type)
        if ce_type is None:
            raise ValueError(f"unknown artifact event type {type!r}; known: {', '.join(ARTIFACT_EVENT_TYPES)}")
        if (project is None) == (registry is None):
            raise ValueError("an artifact event has exactly one of project= or registry=")
        data: Dict[str, Any] = {"entity": entity}
        if project is not None:
            data["project"] = project
        else:
            data["registry"] = registry
        data["collection"] = collection
        data["collection_type"] = collection_type
        if version is not None:
            data["version"] = version
        for k, v in fields.items():
            if v is not None:
                data[k] = v
        env_id = id or f"art-{uuid.uuid4().hex}"
        t = _time.time() if time is None else to_epoch(time)
        envelope = {
            "specversion": "1.0",
            "id": env_id,
            "source": self.source,
            "type": ce_type,
            "time": rfc3339(t),
            "data": _jsonable(data),
        }
        self._put_event(Event(envelope))
        return env_id

    # -- flushing and closing ---------------------------------------------------------------

    def flush(self, timeout: Optional[float] = None) -> bool:
        """Wait until everything queued before this call was sent (or dropped).

        Returns ``True`` when it was, ``False`` when ``timeout`` seconds passed first.
        """
        if self._closed and not self._sender.is_alive():
            return not self._queue
        done = threading.Event()
        self._put_event(Event(None, done=done))
        self._sender.wake()
        return done.wait(timeout)

    def close(self, timeout: Optional[float] = None) -> bool:
        """Finish the open runs (``finished``), send what is queued for at most ``timeout``
        seconds (default ``exit_timeout``), and stop the sender. Returns whether all was sent."""
        if self._closed:
            return True
        for r in list(self._runs):
            if not r.finished:
                r.finish()
        ok = self.flush(self.exit_timeout if timeout is None else timeout)
        self._closed = True
        if not ok:
            self._sender._gave_up = True
        self._sender.stop()
        self._sender.join(1.0)
        try:
            atexit.unregister(self._atexit)
        except Exception:
            pass
        return ok

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            for r in list(self._runs):
                if not r.finished:
                    r.finish("failed")
        self.close()

    def stats(self) -> Dict[str, int]:
        """Counters: ``rows_sent``, ``values_sent``, ``rows_dropped`` (queue full),
        ``envelopes_sent``, ``envelopes_rejected`` (a 4xx or a rejection: logged, dropped),
        ``requests``, ``retries``, ``queued`` (items waiting now)."""
        s = self._sender.stats()
        s["rows_dropped"] = self._dropped
        s["queued"] = len(self._queue)
        return s

    @property
    def dropped_rows(self) -> int:
        """Metric rows dropped because the queue was full."""
        return self._dropped

    # -- internals ------------------------------------------------------------------------

    def _put_event(self, ev: Event) -> None:
        self._queue.append(ev)
        self._sender.wake()

    def _overflow(self) -> None:
        """The queue holds more than ``max_queue_rows`` items: drop the oldest rows."""
        q = self._queue
        keep: List[Event] = []
        with self._lock:
            n = 0
            while len(q) > self.max_queue_rows:  # events set aside do not count
                try:
                    item = q.popleft()
                except IndexError:
                    break
                if type(item) is tuple:
                    n += 1
                else:
                    keep.append(item)
                    if len(keep) > 10_000:
                        break
            for item in reversed(keep):
                q.appendleft(item)
            self._dropped += n
            first = not self._warned_full
            self._warned_full = True
        if n and first:
            log.warning(
                "automations_client: the queue is full (%d rows): the oldest rows are being dropped "
                "(the server is unreachable or slower than the training loop); client.stats() counts them",
                self.max_queue_rows,
            )


class Run:
    """One run: its metrics (:meth:`log`) and states (:meth:`state`, :meth:`finish`).

    Made by :meth:`Client.run`. Usable as a context manager.
    """

    def __init__(
        self,
        client: Client,
        entity: str,
        project: str,
        run_id: Optional[str],
        name: Optional[str],
        user: Optional[str],
        tags: Iterable[str],
        config: Optional[Mapping[str, Any]],
        *,
        start_step: int = 0,
    ) -> None:
        if not entity or not project:
            raise ValueError("a run needs an entity and a project")
        self.client = client
        self.entity = str(entity)
        self.project = str(project)
        self.id = str(run_id) if run_id else secrets.token_hex(4)
        self.name = str(name) if name else self.id
        self.user = str(user) if user else None
        self.tags = [str(t) for t in tags]
        self.config = _jsonable(dict(config)) if config else {}
        self.session = secrets.token_hex(4)  # envelope ids of this process's run
        self.finished = False
        self.last_state: Optional[str] = None
        self._step = int(start_step)
        self._q = client._queue
        self._max = client.max_queue_rows
        self._wake_at = client._wake_rows
        self._wake = client._sender.wake
        self._info_version = 0  # bumped by update(), so the sender re-encodes run info
        self._seq = 0  # envelope counter of this run (state and heartbeat ids)

    @property
    def step(self) -> int:
        """The step the next :meth:`log` without ``step`` takes."""
        return self._step

    def log(self, values: Mapping[str, Any], step: Optional[int] = None, time: Any = None) -> None:
        """Log metric values at a step (default: the step after the previous one, from 0).

        ``values`` maps metric names to numbers: ints, floats, bools, numpy and torch scalars
        (anything with ``.item()`` or ``__float__``). Nested dicts flatten to ``a/b``. NaN and
        infinities are sent (the server keeps them out of windows). Anything else (images,
        tables, strings, arrays) is skipped silently. ``time`` (seconds since the epoch or a
        datetime) defaults to now. Never waits on the network.
        """
        if self.finished:
            return
        if step is None:
            step = self._step
        elif type(step) is not _INT:
            step = _as_step(step)
        if step >= self._step:
            self._step = step + 1
        t = _time.time() if time is None else to_epoch(time)
        row: Dict[str, Any] = {}
        for k, v in values.items():
            tv = type(v)
            if (tv is _FLOAT or tv is _INT) and type(k) is str:
                row[k] = v
            elif isinstance(v, Mapping):
                flatten_into(row, (k if type(k) is str else str(k)) + "/", v)
            else:
                x = scalar(v)
                if x is not None:
                    row[k if type(k) is str else str(k)] = x
        if not row:
            return
        q = self._q
        q.append((self, step, t, row))
        n = len(q)
        if n >= self._wake_at:
            if n > self._max:
                self.client._overflow()
            self._wake()

    def state(self, state: str) -> None:
        """Send a state change (``running``, ``finished``, ``failed``, ``crashed``, ``killed``,
        ``pending``). A terminal state finishes the run: later calls do nothing."""
        if self.finished:
            return
        if state not in RUN_STATES:
            raise ValueError(f"state must be one of {', '.join(RUN_STATES)}, got {state!r}")
        previous = self.last_state
        self.last_state = state
        if state in TERMINAL_STATES:
            self.finished = True
        self._seq += 1
        data = self._info()
        data["state"] = state
        if previous is not None:
            data["previous_state"] = previous
        envelope = {
            "specversion": "1.0",
            "id": f"{self.id}/{self.session}/s{self._seq}",
            "source": self.client.source,
            "type": "run.state.changed",
            "time": rfc3339(),
            "data": data,
        }
        self.client._put_event(Event(envelope, run=self, state=state))

    def finish(self, state: str = "finished") -> None:
        """Finish the run with ``state`` (default ``finished``); idempotent."""
        if not self.finished:
            self.state(state)

    def update(self, *, name: Optional[str] = None, user: Optional[str] = None,
               tags: Optional[Sequence[str]] = None, config: Optional[Mapping[str, Any]] = None) -> None:
        """Change what is sent with the run's later events (name, user, tags, config)."""
        if name is not None:
            self.name = str(name)
        if user is not None:
            self.user = str(user)
        if tags is not None:
            self.tags = [str(t) for t in tags]
        if config is not None:
            self.config = _jsonable(dict(config))
        self._info_version += 1

    def _info(self) -> Dict[str, Any]:
        d: Dict[str, Any] = {"entity": self.entity, "project": self.project, "run_id": self.id,
                             "run_name": self.name}
        if self.user:
            d["user"] = self.user
        if self.tags:
            d["tags"] = list(self.tags)
        if self.config:
            d["config"] = self.config
        return d

    def __enter__(self) -> "Run":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.finish("failed" if exc_type is not None else "finished")

    def __repr__(self) -> str:
        return f"<automations_client.Run {self.entity}/{self.project}/{self.id}>"


def _as_step(step: Any) -> int:
    if isinstance(step, bool):
        raise TypeError("step must be an integer, got bool")
    try:
        s = int(step)
    except (TypeError, ValueError):
        raise TypeError(f"step must be an integer, got {type(step).__name__}") from None
    if s != step and not hasattr(step, "item"):
        raise TypeError(f"step must be an integer, got {step!r}")
    if s < 0:
        raise ValueError(f"step must not be negative, got {s}")
    return s


def _jsonable(v: Any) -> Any:
    """``v`` as plain JSON values (unknown objects become their ``str``)."""
    try:
        return json.loads(json.dumps(v, default=_default, allow_nan=False, skipkeys=True))
    except ValueError:
        return json.loads(json.dumps(_clean_nonfinite(v), default=_default, skipkeys=True))


def _default(o: Any) -> Any:
    x = scalar(o)
    if x is not None:
        return x
    if isinstance(o, (set, frozenset, tuple)):
        return list(o)
    return str(o)


def _clean_nonfinite(v: Any) -> Any:
    if isinstance(v, float) and (v != v or v in (float("inf"), float("-inf"))):
        return str(v)
    if isinstance(v, dict):
        return {k: _clean_nonfinite(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_clean_nonfinite(x) for x in v]
    return v


def _at_exit(ref: "weakref.ref[Client]") -> None:
    client = ref()
    if client is None or client._closed:
        return
    failed = _exiting_by_exception()
    for r in list(client._runs):
        if not r.finished:
            r.finish("failed" if failed else "finished")
    ok = client.flush(client.exit_timeout)
    if not ok:
        log.warning("automations_client: exiting before everything was sent (%d items still queued, "
                    "exit_timeout %.1fs); client.stats() counts what was", len(client._queue), client.exit_timeout)
    client._closed = True
    if not ok:
        client._sender._gave_up = True
    client._sender.stop()


def _exiting_by_exception() -> bool:
    """Whether the interpreter is exiting because of an uncaught exception."""
    v = getattr(sys, "last_value", None) or getattr(sys, "last_exc", None)
    if v is None:
        return False
    if isinstance(v, SystemExit):
        return v.code not in (None, 0)
    return True
