"""The background sender: batches the queue into envelopes and requests, retries, heartbeats."""

from __future__ import annotations

import email.utils
import http.client
import json
import logging
import random
import threading
import time as _time
import urllib.parse
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Tuple

from ._values import TimeFormatter, rfc3339

if TYPE_CHECKING:  # pragma: no cover
    from .client import Client, Run

log = logging.getLogger("automations_client")

__version__ = "0.1.0"

_TERMINAL = frozenset(("finished", "failed", "crashed", "killed"))
_MAX_LOGGED_REJECTIONS = 20

_encode = json.JSONEncoder(separators=(",", ":"), allow_nan=True, skipkeys=True, check_circular=False).encode


class _Env:
    """One encoded envelope on its way (or a flush marker when ``text`` is None)."""

    __slots__ = ("text", "run", "state", "rows", "values", "done", "kind")

    def __init__(self, text: Optional[str], run: "Optional[Run]" = None, state: Optional[str] = None,
                 rows: int = 0, values: int = 0, done: Optional[threading.Event] = None, kind: str = "") -> None:
        self.text = text
        self.run = run
        self.state = state
        self.rows = rows
        self.values = values
        self.done = done
        self.kind = kind


class Sender(threading.Thread):
    """Sends the client's queue, in order, in batches; one thread per client."""

    def __init__(self, client: "Client", *, url: str, api_key: str, flush_interval: float,
                 heartbeat_interval: float, timeout: float, retry_base: float, retry_cap: float,
                 max_request_bytes: int, max_envelope_bytes: int) -> None:
        super().__init__(name="automations-client-sender", daemon=True)
        self.client = client
        u = urllib.parse.urlsplit(url)
        if u.scheme not in ("http", "https") or not u.hostname:
            raise ValueError(f"automations_client: the URL must be http:// or https://, got {url!r}")
        self._https = u.scheme == "https"
        self._host = u.hostname
        self._port = u.port
        self._path = (u.path.rstrip("/") or "") + "/v1/events"
        self._headers = {
            "Authorization": f"Bearer {api_key}",
            "Content-Type": "application/json",
            "User-Agent": f"automations-client/{__version__} (python)",
            "Connection": "keep-alive",
        }
        self.flush_interval = float(flush_interval)
        self.heartbeat_interval = float(heartbeat_interval)
        self.timeout = float(timeout)
        self.retry_base = float(retry_base)
        self.retry_cap = max(float(retry_cap), self.retry_base)
        self.max_request_bytes = int(max_request_bytes)
        self.max_envelope_bytes = int(max_envelope_bytes)
        self._wake_ev = threading.Event()
        self._stop_ev = threading.Event()
        self._conn: Optional[http.client.HTTPConnection] = None
        self._fmt = TimeFormatter()
        self._open: Dict["Run", float] = {}  # run -> monotonic time it was last sent for
        self._heads: Dict["Run", Tuple[int, str]] = {}  # run -> (info version, envelope head)
        self._mseq: Dict["Run", int] = {}  # run -> metrics envelopes made
        self._hseq: Dict["Run", int] = {}  # run -> heartbeats made
        self._row_bytes = 0.0  # running estimate of one encoded row's size
        self._rejections_logged = 0
        self._src = _encode(client.source)
        self._st = {"requests": 0, "retries": 0, "envelopes_sent": 0, "envelopes_rejected": 0,
                    "rows_sent": 0, "values_sent": 0, "rows_rejected": 0, "heartbeats_sent": 0}

    # -- control ----------------------------------------------------------------------------

    def wake(self) -> None:
        if not self._wake_ev.is_set():
            self._wake_ev.set()

    def stop(self) -> None:
        self._stop_ev.set()
        self._wake_ev.set()

    def stats(self) -> Dict[str, int]:
        return dict(self._st)

    def run(self) -> None:
        q = self.client._queue
        while True:
            try:
                if q:
                    self._drain()
                self._heartbeats()
            except Exception:  # never let the sender die: training goes on
                log.exception("automations_client: unexpected error in the sender (continuing)")
            if self._stop_ev.is_set() and not q:
                break
            if not q:
                self._wake_ev.wait(self.flush_interval)
                self._wake_ev.clear()
                if q and not self._stop_ev.is_set():
                    # Gather a little more unless the queue is already large or something waits.
                    if len(q) < self.client._wake_rows and not any(type(i) is not tuple for i in _head(q, 64)):
                        self._wake_ev.wait(min(0.05, self.flush_interval))
                        self._wake_ev.clear()
        self._close_conn()

    # -- one pass over the queue -------------------------------------------------------------

    def _drain(self) -> None:
        q = self.client._queue
        lock = self.client._lock
        while q:
            items: List[Any] = []
            nvals = 0
            with lock:
                while q and nvals < 60_000 and len(items) < 8000:
                    it = q.popleft()
                    items.append(it)
                    if type(it) is tuple:
                        nvals += len(it[3])
            envs = self._envelopes(items)
            self._send_all(envs)
            if self._stop_ev.is_set() and self._gave_up:
                # Exiting and past the flush deadline: what is left is dropped.
                return

    _gave_up = False

    def _envelopes(self, items: List[Any]) -> List[_Env]:
        out: List[_Env] = []
        pending: Dict["Run", List[tuple]] = {}
        for it in items:
            if type(it) is tuple:
                rows = pending.get(it[0])
                if rows is None:
                    pending[it[0]] = [it]
                else:
                    rows.append(it)
                continue
            if it.envelope is None:  # a flush marker: everything before it goes first
                for run, rows in pending.items():
                    self._metrics(run, rows, out)
                pending.clear()
                out.append(_Env(None, done=it.done))
                continue
            if it.run is not None and it.run in pending:
                self._metrics(it.run, pending.pop(it.run), out)
            out.append(_Env(_encode(it.envelope), run=it.run, state=it.state, kind="event"))
        for run, rows in pending.items():
            self._metrics(run, rows, out)
        return out

    def _head(self, run: "Run") -> str:
        cached = self._heads.get(run)
        if cached is not None and cached[0] == run._info_version:
            return cached[1]
        info = _encode(run._info())
        head = ('{"specversion":"1.0","source":' + self._src + ',"type":"run.metrics.logged","data":'
                + info[:-1] + ',"rows":')
        self._heads[run] = (run._info_version, head)
        return head

    def _metrics(self, run: "Run", rows: List[tuple], out: List[_Env]) -> None:
        """Encode ``rows`` of ``run`` into envelopes under the size limit."""
        head = self._head(run)
        budget = self.max_envelope_bytes - len(head) - len(run.id) - len(run.session) - 96
        if budget < 1024:
            # A run whose name, tags and config fill the envelope: send metrics without config.
            log.warning("automations_client: run %s: its config is too large to send with metrics; "
                        "metrics are sent without it", run.id)
            run.config = {}
            run._info_version += 1
            head = self._head(run)
            budget = self.max_envelope_bytes - len(head) - len(run.id) - len(run.session) - 96
        fmt = self._fmt
        dicts = [{"step": r[1], "time": fmt(r[2]), "values": r[3]} for r in rows]
        i = 0
        n = len(dicts)
        while i < n:
            est = self._row_bytes or (40.0 + 24.0 * len(dicts[i]["values"]))
            k = max(1, min(n - i, int(budget * 0.9 / est)))
            while True:
                chunk = dicts[i:i + k]
                text = _encode(chunk)
                if len(text) <= budget:
                    break
                if k == 1:
                    break
                k = max(1, k // 2)
            if len(text) > budget:  # one row too large by itself: split its values
                self._split_row(run, head, chunk[0], budget, out)
                i += 1
                continue
            self._row_bytes = len(text) / k
            nv = 0
            for d in chunk:
                nv += len(d["values"])
            out.append(_Env(self._wrap(run, head, text), run=run, rows=k, values=nv, kind="metrics"))
            i += k

    def _split_row(self, run: "Run", head: str, row: Dict[str, Any], budget: int, out: List[_Env]) -> None:
        items = list(row["values"].items())
        parts = [items]
        while parts:
            part = parts.pop(0)
            text = _encode([{"step": row["step"], "time": row["time"], "values": dict(part)}])
            if len(text) <= budget:
                out.append(_Env(self._wrap(run, head, text), run=run, rows=1, values=len(part), kind="metrics"))
            elif len(part) > 1:
                mid = len(part) // 2
                parts[0:0] = [part[:mid], part[mid:]]
            else:
                log.warning("automations_client: run %s: metric %r at step %s does not fit in an envelope; "
                            "dropped", run.id, part[0][0], row["step"])

    def _wrap(self, run: "Run", head: str, rows_text: str) -> str:
        n = self._mseq.get(run, 0) + 1
        self._mseq[run] = n
        return (head + rows_text + '},"id":"' + _esc(f"{run.id}/{run.session}/m{n}") + '","time":"'
                + rfc3339() + '"}')

    # -- heartbeats -------------------------------------------------------------------------

    def _heartbeats(self) -> None:
        if not self._open:
            return
        now = _time.monotonic()
        due = [r for r, last in self._open.items() if now - last >= self.heartbeat_interval and not r.finished]
        if not due:
            return
        envs = []
        for r in due:
            n = self._hseq.get(r, 0) + 1
            self._hseq[r] = n
            env = {"specversion": "1.0", "id": f"{r.id}/{r.session}/h{n}", "source": self.client.source,
                   "type": "run.heartbeat", "time": rfc3339(),
                   "data": {"entity": r.entity, "project": r.project, "run_id": r.id}}
            envs.append(_Env(_encode(env), run=r, kind="heartbeat"))
        self._send_all(envs)

    # -- requests ---------------------------------------------------------------------------

    def _send_all(self, envs: List[_Env]) -> None:
        batch: List[_Env] = []
        size = 2
        for e in envs:
            if e.text is None:
                if batch:
                    self._send(batch)
                    batch, size = [], 2
                if e.done is not None:
                    e.done.set()
                continue
            if batch and size + len(e.text) + 1 > self.max_request_bytes:
                self._send(batch)
                batch, size = [], 2
            batch.append(e)
            size += len(e.text) + 1
        if batch:
            self._send(batch)

    def _send(self, batch: List[_Env]) -> None:
        """POST one batch; retry it until it is taken, refused (4xx) or the client gives up."""
        body = ("[" + ",".join(e.text for e in batch) + "]").encode("utf-8")  # type: ignore[misc]
        attempt = 0
        while True:
            if self._gave_up:
                self._dropped(batch)
                return
            status, retry_after, data, err = self._post(body)
            if status is not None and 200 <= status < 300:
                self._taken(batch, data)
                return
            if status == 413 and len(batch) > 1:
                mid = len(batch) // 2
                self._send(batch[:mid])
                self._send(batch[mid:])
                return
            if status is not None and status not in (408, 429) and status < 500:
                self._refused(batch, status, data)
                return
            attempt += 1
            self._st["retries"] += 1
            ceiling = min(self.retry_cap, self.retry_base * (2 ** min(attempt - 1, 30)))
            delay = random.uniform(0, ceiling)
            if retry_after is not None:
                delay = max(delay, min(retry_after, 3600.0))
            if attempt == 1 or attempt % 10 == 0:
                log.info("automations_client: send failed (%s); retrying in %.2fs (attempt %d)",
                         err or f"HTTP {status}", delay, attempt)
            self._close_conn()
            if self._stop_ev.wait(delay):
                # Stopping: keep trying until the exit flush gives up (it sets _gave_up).
                _time.sleep(min(delay, 0.05))

    def _post(self, body: bytes) -> Tuple[Optional[int], Optional[float], bytes, Optional[str]]:
        self._st["requests"] += 1
        try:
            conn = self._conn
            if conn is None:
                if self._https:
                    conn = http.client.HTTPSConnection(self._host, self._port, timeout=self.timeout)
                else:
                    conn = http.client.HTTPConnection(self._host, self._port, timeout=self.timeout)
                self._conn = conn
            conn.request("POST", self._path, body=body, headers=self._headers)
            resp = conn.getresponse()
            data = resp.read()
            status = resp.status
            ra = _retry_after(resp.getheader("Retry-After"))
            if resp.getheader("Connection", "").lower() == "close":
                self._close_conn()
            return status, ra, data, None
        except (OSError, http.client.HTTPException) as e:
            self._close_conn()
            return None, None, b"", f"{type(e).__name__}: {e}"

    def _close_conn(self) -> None:
        c, self._conn = self._conn, None
        if c is not None:
            try:
                c.close()
            except Exception:
                pass

    # -- outcomes ---------------------------------------------------------------------------

    def _taken(self, batch: List[_Env], data: bytes) -> None:
        rejected: Dict[int, Any] = {}
        try:
            doc = json.loads(data) if data else {}
            for r in doc.get("rejected") or ():
                rejected[int(r.get("index"))] = r
        except (ValueError, TypeError, AttributeError):
            pass
        now = _time.monotonic()
        st = self._st
        for i, e in enumerate(batch):
            if i in rejected:
                self._reject_one(e, 400, rejected[i])
                self._track(e, now, ok=False)
                continue
            else:
                st["envelopes_sent"] += 1
                st["rows_sent"] += e.rows
                st["values_sent"] += e.values
                if e.kind == "heartbeat":
                    st["heartbeats_sent"] += 1
            self._track(e, now)

    def _track(self, e: _Env, now: float, ok: bool = True) -> None:
        run = e.run
        if run is None:
            return
        if not ok:  # a refused run (say, of an entity the key does not grant) gets no heartbeats
            if e.state is not None:
                self._open.pop(run, None)
            return
        if e.state is not None:
            if e.state in _TERMINAL:
                self._open.pop(run, None)
                self._heads.pop(run, None)
                self._mseq.pop(run, None)
                self._hseq.pop(run, None)
                return
            self._open[run] = now
        elif run in self._open:
            self._open[run] = now

    def _refused(self, batch: List[_Env], status: int, data: bytes) -> None:
        try:
            doc = json.loads(data) if data else {}
        except ValueError:
            doc = {"detail": data[:500].decode("utf-8", "replace")}
        by_index: Dict[int, Any] = {}
        for r in (doc.get("rejected") or ()) if isinstance(doc, dict) else ():
            try:
                by_index[int(r.get("index"))] = r
            except (TypeError, ValueError, AttributeError):
                pass
        now = _time.monotonic()
        if by_index or len(batch) == 1:
            for i, e in enumerate(batch):
                self._reject_one(e, status, by_index.get(i, doc))
                self._track(e, now, ok=False)
        else:
            self._log_rejection(f"{len(batch)} envelopes", status, doc)
            for e in batch:
                self._count_rejected(e)
                self._track(e, now, ok=False)

    def _reject_one(self, e: _Env, status: int, problem: Any) -> None:
        self._count_rejected(e)
        ident = _envelope_id(e.text)
        self._log_rejection(f"envelope {ident!r} ({e.kind})", status, problem)

    def _count_rejected(self, e: _Env) -> None:
        self._st["envelopes_rejected"] += 1
        self._st["rows_rejected"] += e.rows

    def _log_rejection(self, what: str, status: int, problem: Any) -> None:
        self._rejections_logged += 1
        if self._rejections_logged > _MAX_LOGGED_REJECTIONS:
            return
        log.warning("automations_client: the server refused %s (HTTP %s), dropped: %s%s", what, status,
                    _describe(problem),
                    "" if self._rejections_logged < _MAX_LOGGED_REJECTIONS
                    else " (further refusals are counted in client.stats(), not logged)")

    def _dropped(self, batch: List[_Env]) -> None:
        for e in batch:
            if e.done is not None:
                e.done.set()


def _head(q: Any, n: int) -> List[Any]:
    out = []
    try:
        for i, it in enumerate(q):
            if i >= n:
                break
            out.append(it)
    except RuntimeError:  # mutated while iterating
        pass
    return out


def _esc(s: str) -> str:
    return json.dumps(s)[1:-1]


def _envelope_id(text: Optional[str]) -> str:
    if not text:
        return "?"
    try:
        return str(json.loads(text).get("id"))
    except ValueError:
        return "?"


def _describe(problem: Any) -> str:
    if not isinstance(problem, dict):
        return str(problem)[:500]
    parts = []
    title = problem.get("title") or problem.get("detail")
    if title:
        parts.append(str(title))
    for err in (problem.get("errors") or [])[:5]:
        if isinstance(err, dict):
            parts.append(f"{err.get('path', '')}: {err.get('message', err)}")
        else:
            parts.append(str(err))
    return "; ".join(parts) or json.dumps(problem)[:500]


def _retry_after(v: Optional[str]) -> Optional[float]:
    if not v:
        return None
    v = v.strip()
    try:
        return max(0.0, float(v))
    except ValueError:
        pass
    try:
        dt = email.utils.parsedate_to_datetime(v)
        return max(0.0, dt.timestamp() - _time.time())
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
