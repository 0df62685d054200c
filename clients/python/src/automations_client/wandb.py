"""Mirror a ``wandb`` run into automations, without changing the training loop.

::

    import wandb
    import automations_client.wandb

    run = wandb.init(project="mnist", config={"lr": 3e-4})
    automations_client.wandb.attach(run)     # AUTOMATIONS_URL, AUTOMATIONS_API_KEY

    for step in range(1000):
        wandb.log({"loss": loss})            # or run.log: both are mirrored

After :func:`attach`, the numeric scalars of every ``log`` call are sent with wandb's own step;
the run's name, user, tags and config go with every event; the state is ``running`` at once and
``finished`` or ``failed`` (wandb's exit code) on ``run.finish()``, at the end of a ``with
wandb.init()`` block, or at process exit; ``run.log_artifact`` sends ``artifact.version.created``
(with its aliases) and ``run.link_artifact`` / ``run.link_model`` send ``artifact.version.linked``.
What wandb itself does is unchanged: every wrapped method calls wandb's first, returns what it
returned and raises what it raised; a problem in the mirror is logged, never raised.

This module imports ``wandb`` only inside :func:`attach`.
"""

from __future__ import annotations

import atexit
import inspect
import logging
import os
import sys
import threading
import weakref
from typing import Any, Dict, List, Optional, Tuple

from .client import Client, Run, _exiting_by_exception, _jsonable

__all__ = ["attach", "detach"]

log = logging.getLogger("automations_client")

_shared: Optional[Client] = None
_shared_lock = threading.Lock()

SOURCE = "automations-client/wandb"


def _shared_client(**kwargs: Any) -> Client:
    global _shared
    with _shared_lock:
        if _shared is None or _shared._closed:
            kwargs.setdefault("source", SOURCE)
            _shared = Client(**kwargs)
        return _shared


def attach(run: Any = None, client: Optional[Client] = None, entity: Optional[str] = None,
           project: Optional[str] = None, **client_kwargs: Any) -> Run:
    """Mirror the wandb ``run`` (default: ``wandb.run``) into automations; returns the mirror.

    Args:
        run: what ``wandb.init`` returned.
        client: the :class:`~automations_client.Client` to send with; by default one shared
            client made from ``AUTOMATIONS_URL`` and ``AUTOMATIONS_API_KEY`` (and
            ``client_kwargs``, e.g. ``heartbeat_interval``).
        entity, project: where the run's events land; default ``$AUTOMATIONS_ENTITY`` or the
            wandb run's entity, and the wandb run's project.

    Calling it twice on one run returns the same mirror. Raises ``ValueError`` when no entity
    is known (an offline run without one: pass ``entity=``) or the client is not configured.
    """
    import wandb  # noqa: F401  (the bridge needs wandb; the core does not)

    if run is None:
        run = wandb.run
        if run is None:
            raise ValueError("automations_client.wandb.attach: no run; call wandb.init() first")
    existing = getattr(run, "_automations_mirror", None)
    if existing is not None:
        return existing
    entity = entity or os.environ.get("AUTOMATIONS_ENTITY") or _get(run, "entity")
    project = project or _get(run, "project") or "uncategorized"
    if not entity:
        raise ValueError("automations_client.wandb.attach: the run has no entity (offline?): pass entity=")
    client = client or _shared_client(**client_kwargs)
    run_id = _get(run, "id")
    mirror = client.run(
        str(entity),
        str(project),
        run_id=run_id,
        name=_get(run, "name") or run_id,
        user=_user(run),
        tags=list(_get(run, "tags") or ()),
        config=_config(run),
        start_step=_local_step(run) or 0,
    )
    _Bridge(run, mirror).install()
    if _wandb_exit_code() is None:
        _ExitWatch.install()  # wandb's own exit hooks are absent (a process sharing a parent's service)
    return mirror


def detach(run: Any) -> None:
    """Stop mirroring ``run`` (its wandb methods are restored; the mirror is not finished)."""
    b = getattr(run, "_automations_bridge", None)
    if b is not None:
        b.uninstall()


class _Bridge:
    _WRAPPED = {"_log": "w_log", "_finish": "w_finish", "_log_artifact": "w_log_artifact",
                "link_artifact": "w_link_artifact"}

    def __init__(self, run: Any, mirror: Run) -> None:
        self.run_ref = weakref.ref(run)
        self.mirror = mirror
        self.config_checked = False
        self.originals: Dict[str, Any] = {}
        self.versions: Dict[str, int] = {}  # offline: versions this run logged per collection
        self.nart = 0

    def install(self) -> None:
        run = self.run_ref()
        for name, wrapper in self._WRAPPED.items():
            orig = getattr(run, name, None)
            if orig is None:
                continue
            self.originals[name] = orig
            object.__setattr__(run, name, getattr(self, wrapper))
        object.__setattr__(run, "_automations_mirror", self.mirror)
        object.__setattr__(run, "_automations_bridge", self)
        self._exit = lambda: self.at_exit()
        atexit.register(self._exit)

    def uninstall(self) -> None:
        run = self.run_ref()
        if run is not None:
            for name in self.originals:
                try:
                    object.__delattr__(run, name)
                except AttributeError:
                    pass
            for name in ("_automations_mirror", "_automations_bridge"):
                try:
                    object.__delattr__(run, name)
                except AttributeError:
                    pass
        try:
            atexit.unregister(self._exit)
        except Exception:
            pass

    # -- wrapped methods ---------------------------------------------------------------------

    def w_log(self, data: Any, step: Optional[int] = None, commit: Optional[bool] = None) -> None:
        run = self.run_ref()
        at = step if step is not None else _local_step(run)
        self.originals["_log"](data, step=step, commit=commit)
        try:
            if not self.config_checked:
                self.config_checked = True
                self._refresh_config(run)
            if hasattr(data, "items"):
                if at is None or at < 0:
                    self.mirror.log(data)
                else:
                    self.mirror.log(data, step=int(at))
        except Exception:
            log.debug("automations_client.wandb: could not mirror a log call", exc_info=True)

    def w_finish(self, exit_code: Optional[int] = None, *args: Any, **kwargs: Any) -> Any:
        run = self.run_ref()
        try:
            return self.originals["_finish"](exit_code, *args, **kwargs)
        finally:
            try:
                code = getattr(run, "_exit_code", None)
                if code is None:
                    code = exit_code or 0
                self._refresh_config(run)
                self.mirror.finish("finished" if code == 0 else "failed")
            except Exception:
                log.debug("automations_client.wandb: could not mirror finish", exc_info=True)

    def w_log_artifact(self, *args: Any, **kwargs: Any) -> Any:
        orig = self.originals["_log_artifact"]
        art = orig(*args, **kwargs)
        try:
            bound = _bind(orig, args, kwargs)
            if bound.get("finalize", True):
                self._created(art, bound.get("aliases"), bound.get("tags"))
        except Exception:
            log.debug("automations_client.wandb: could not mirror log_artifact", exc_info=True)
        return art

    def w_link_artifact(self, *args: Any, **kwargs: Any) -> Any:
        orig = self.originals["link_artifact"]
        linked = orig(*args, **kwargs)
        try:
            bound = _bind(orig, args, kwargs)
            self._linked(bound.get("artifact"), linked, str(bound.get("target_path") or ""), bound.get("aliases"))
        except Exception:
            log.debug("automations_client.wandb: could not mirror link_artifact", exc_info=True)
        return linked

    # -- exit -------------------------------------------------------------------------------

    def at_exit(self) -> None:
        if self.mirror.finished:
            return
        try:
            run = self.run_ref()
            code = _wandb_exit_code()
            if code is None:
                code = 1 if _exiting_by_exception() else 0
            if run is not None:
                self._refresh_config(run)
            self.mirror.finish("finished" if code == 0 else "failed")
        except Exception:
            log.debug("automations_client.wandb: could not mirror the exit", exc_info=True)

    # -- artifacts --------------------------------------------------------------------------

    def _next_id(self) -> str:
        self.nart += 1
        return f"{self.mirror.id}/{self.mirror.session}/a{self.nart}"

    def _created(self, art: Any, aliases: Any, tags: Any) -> None:
        run = self.run_ref()
        name = str(_get(art, "name") or "")
        collection = name.split(":")[0].split("/")[-1]
        ctype = str(_get(art, "type") or "")
        if not collection or not ctype:
            return
        aliases = _aliases(aliases)
        tags = [str(t) for t in (tags or ())]
        metadata = _metadata(art)
        env_id = self._next_id()
        offline = _offline(run)
        if offline:
            n = self.versions.get(collection, -1) + 1
            self.versions[collection] = n
            metadata = dict(metadata, wandb_offline=True)
            digest = _get(art, "digest")
            if digest:
                metadata["wandb_digest"] = str(digest)
            self._send_created(collection, ctype, n, aliases, tags, metadata, env_id)
            return

        def wait_and_send() -> None:
            try:
                art.wait(timeout=600)
                version = _index(_get(art, "version"))
                if version is None:
                    return
                got = [a for a in (_get(art, "aliases") or ()) if not _is_version_alias(a)]
                self._send_created(collection, ctype, version, _merge(aliases, got), tags, metadata, env_id)
            except Exception:
                log.debug("automations_client.wandb: artifact %s: not mirrored", name, exc_info=True)

        threading.Thread(target=wait_and_send, name="automations-client-artifact", daemon=True).start()

    def _send_created(self, collection: str, ctype: str, version: int, aliases: List[str], tags: List[str],
                      metadata: Dict[str, Any], env_id: str) -> None:
        m = self.mirror
        fields: Dict[str, Any] = {"aliases": aliases}
        if tags:
            fields["tags"] = tags
        if metadata:
            fields["metadata"] = metadata
        if m.user:
            fields["author"] = m.user
        m.client.artifact_event("artifact.version.created", m.entity, project=m.project, collection=collection,
                                collection_type=ctype, version=version, id=env_id, **fields)

    def _linked(self, art: Any, linked: Any, target: str, aliases: Any) -> None:
        m = self.mirror
        loc = _target(target)
        if loc is None:
            return
        kind, where, collection = loc
        version = _index(_get(linked, "version")) if linked is not None else None
        if version is None:
            log.debug("automations_client.wandb: link to %s: no version index known; not mirrored", target)
            return
        source: Dict[str, Any] = {"project": _get(art, "project") or m.project,
                                  "collection": str(_get(art, "name") or "").split(":")[0].split("/")[-1]}
        sv = _index(_get(art, "version"))
        if sv is not None:
            source["version"] = sv
        fields: Dict[str, Any] = {"aliases": _aliases(aliases), "source": source}
        if m.user:
            fields["author"] = m.user
        loc_kw = {"registry": where} if kind == "registry" else {"project": where or m.project}
        m.client.artifact_event("artifact.version.linked", m.entity, collection=collection,
                                collection_type=str(_get(art, "type") or "model"), version=version,
                                id=self._next_id(), **loc_kw, **fields)

    def _refresh_config(self, run: Any) -> None:
        if run is None:
            return
        cfg = _config(run)
        if cfg != self.mirror.config:
            self.mirror.update(config=cfg)


# -- helpers ----------------------------------------------------------------------------------


def _get(obj: Any, name: str) -> Any:
    try:
        return getattr(obj, name)
    except Exception:  # wandb raises for properties it cannot answer (offline, unlogged)
        return None


def _local_step(run: Any) -> Optional[int]:
    s = getattr(run, "_local_step", None)
    return s if isinstance(s, int) else None


def _user(run: Any) -> Optional[str]:
    settings = _get(run, "settings") or _get(run, "_settings")
    for attr in ("username", "email"):
        v = _get(settings, attr) if settings is not None else None
        if v:
            return str(v)
    return os.environ.get("WANDB_USERNAME") or None


def _config(run: Any) -> Dict[str, Any]:
    cfg = _get(run, "config")
    if cfg is None:
        return {}
    try:
        d = cfg.as_dict() if hasattr(cfg, "as_dict") else dict(cfg)
    except Exception:
        try:
            d = dict(cfg)
        except Exception:
            return {}
    d = {k: v for k, v in d.items() if not str(k).startswith("_wandb")}
    return _jsonable(d)


def _offline(run: Any) -> bool:
    settings = _get(run, "_settings") or _get(run, "settings")
    v = _get(settings, "_offline") if settings is not None else None
    if isinstance(v, bool):
        return v
    return os.environ.get("WANDB_MODE", "").lower() in ("offline", "dryrun", "disabled")


def _wandb_exit_code() -> Optional[int]:
    """wandb's own view of the exit code: its exit hooks replace sys.exit and sys.excepthook."""
    for hook in (sys.excepthook, sys.exit):
        owner = getattr(hook, "__self__", None)
        code = getattr(owner, "exit_code", None)
        if type(owner).__name__ == "ExitHooks" and isinstance(code, int):
            return code
    return _ExitWatch.exit_code


class _ExitWatch:
    """Records the exit code (``sys.exit``, an uncaught exception) when wandb's hooks are absent."""

    exit_code: Optional[int] = None
    installed = False

    @classmethod
    def install(cls) -> None:
        if cls.installed:
            return
        cls.installed = True
        orig_exit, orig_hook = sys.exit, sys.excepthook

        def exit(code: object = 0) -> None:  # noqa: A001
            cls.exit_code = 0 if code is None else (code if isinstance(code, int) else 1)
            orig_exit(code)

        def excepthook(tp: Any, value: Any, tb: Any) -> None:
            cls.exit_code = 255 if issubclass(tp, KeyboardInterrupt) else 1
            orig_hook(tp, value, tb)

        sys.exit = exit
        sys.excepthook = excepthook


def _bind(fn: Any, args: Tuple[Any, ...], kwargs: Dict[str, Any]) -> Dict[str, Any]:
    try:
        b = inspect.signature(fn).bind(*args, **kwargs)
        return dict(b.arguments)
    except (TypeError, ValueError):
        return dict(kwargs)


def _aliases(aliases: Any) -> List[str]:
    if aliases is None:
        out: List[str] = []
    elif isinstance(aliases, str):
        out = [aliases]
    else:
        out = [str(a) for a in aliases]
    if "latest" not in out:
        out.append("latest")  # W&B gives every new version `latest`
    return out


def _merge(a: List[str], b: List[str]) -> List[str]:
    out = list(a)
    for x in b:
        if x not in out:
            out.append(str(x))
    return out


def _is_version_alias(a: Any) -> bool:
    s = str(a)
    return len(s) > 1 and s[0] == "v" and s[1:].isdigit()


def _index(version: Any) -> Optional[int]:
    if version is None:
        return None
    if isinstance(version, int) and not isinstance(version, bool):
        return version if version >= 0 else None
    s = str(version)
    if s.startswith("v"):
        s = s[1:]
    return int(s) if s.isdigit() else None


def _metadata(art: Any) -> Dict[str, Any]:
    md = _get(art, "metadata")
    if not isinstance(md, dict) or not md:
        return {}
    md = _jsonable(md)
    if len(str(md)) > 64 * 1024:
        return {}
    return md


def _target(path: str) -> Optional[Tuple[str, str, str]]:
    """``("registry", NAME, COLLECTION)`` or ``("project", PROJECT_OR_EMPTY, COLLECTION)`` of a
    link's target path (``wandb-registry-model/coll``, ``org/wandb-registry-model/coll``,
    ``entity/project/coll``, ``project/coll``, ``coll``); ``None`` when it cannot be read."""
    p = path.split(":")[0].strip("/")
    if not p:
        return None
    parts = p.split("/")
    collection = parts[-1]
    parent = parts[-2] if len(parts) >= 2 else ""
    if parent.startswith("wandb-registry-") and len(parent) > len("wandb-registry-"):
        return ("registry", parent[len("wandb-registry-"):], collection)
    if parent == "model-registry":
        return ("registry", "model", collection)
    return ("project", parent, collection)
