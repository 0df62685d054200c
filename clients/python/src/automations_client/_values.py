"""Turning what training code logs into metric values, and times into RFC 3339 text."""

from __future__ import annotations

import datetime as _dt
import math
import time as _time
from typing import Any, Dict, Optional

_FLOAT = float
_INT = int


def scalar(v: Any) -> Optional[float]:
    """The number ``v`` stands for, or ``None`` when it is not a scalar number.

    Takes ints, floats, bools (as 1.0 / 0.0), numpy and torch scalars and anything else with
    ``.item()`` giving a number, or with ``__float__``. Strings, bytes, images, tables, arrays of
    more than one element and everything else give ``None``: skipped, never an error.
    """
    t = type(v)
    if t is _FLOAT or t is _INT:
        return v
    if t is bool:
        return 1.0 if v else 0.0
    if v is None or isinstance(v, (str, bytes, bytearray, dict, list, tuple, set)):
        return None
    if isinstance(v, (int, float)):  # subclasses, numpy.float64 among them
        try:
            return float(v)
        except (TypeError, ValueError, OverflowError):
            return None
    item = getattr(v, "item", None)
    if item is not None and callable(item):
        try:
            x = item()
        except Exception:  # an array of many elements, a tensor that cannot be read
            return None
        tx = type(x)
        if tx is bool:
            return 1.0 if x else 0.0
        if tx is _FLOAT or tx is _INT:
            return x
        if isinstance(x, (int, float)) and not isinstance(x, bool):
            return float(x)
        return None
    f = getattr(type(v), "__float__", None)
    if f is not None:
        try:
            return float(v)
        except Exception:
            return None
    return None


def flatten_into(out: Dict[str, Any], prefix: str, values: Any, depth: int = 0) -> None:
    """Put the numeric scalars of ``values`` into ``out``; nested dicts become ``a/b`` names."""
    if depth > 32:
        return
    for k, v in values.items():
        name = k if type(k) is str else str(k)
        if prefix:
            name = prefix + name
        t = type(v)
        if t is _FLOAT or t is _INT:
            out[name] = v
        elif isinstance(v, dict) or (hasattr(v, "items") and hasattr(v, "keys") and not hasattr(v, "item")):
            try:
                flatten_into(out, name + "/", v, depth + 1)
            except Exception:
                pass
        else:
            x = scalar(v)
            if x is not None:
                out[name] = x


def to_epoch(t: Any) -> float:
    """Seconds since the epoch from a float/int, or a ``datetime`` (naive means local time)."""
    if isinstance(t, _dt.datetime):
        return t.timestamp()
    if isinstance(t, (int, float)) and not isinstance(t, bool):
        x = float(t)
        if not math.isfinite(x):
            raise ValueError(f"time must be finite, got {t!r}")
        return x
    raise TypeError(f"time must be seconds since the epoch or a datetime, got {type(t).__name__}")


class TimeFormatter:
    """RFC 3339 UTC text with milliseconds, caching the part that changes once a second."""

    __slots__ = ("_sec", "_prefix")

    def __init__(self) -> None:
        self._sec = -1
        self._prefix = ""

    def __call__(self, t: float) -> str:
        sec = int(t // 1)
        ms = int((t - sec) * 1000)
        if ms > 999:
            ms = 999
        if sec != self._sec:
            self._sec = sec
            self._prefix = _time.strftime("%Y-%m-%dT%H:%M:%S", _time.gmtime(sec))
        return "%s.%03dZ" % (self._prefix, ms)


def rfc3339(t: Optional[float] = None) -> str:
    """``t`` (default: now) as RFC 3339 UTC text with milliseconds."""
    if t is None:
        t = _time.time()
    sec = int(t // 1)
    ms = min(int((t - sec) * 1000), 999)
    return "%s.%03dZ" % (_time.strftime("%Y-%m-%dT%H:%M:%S", _time.gmtime(sec)), ms)
