"""Time windows: ``since="2h"``, a timedelta, a datetime or an ISO string; everything becomes naive UTC."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

__all__ = ["parse_time", "utcnow"]

_RELATIVE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|w)\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def parse_time(value: Any, *, now: dt.datetime | None = None, name: str = "since") -> dt.datetime:
    """A point in time as naive UTC. Relative forms (``"90m"``, ``timedelta``) count back from ``now``."""
    now = now or utcnow()
    if isinstance(value, dt.timedelta):
        return now - value
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).replace(tzinfo=None) if value.tzinfo else value
    if hasattr(value, "to_pydatetime"):  # pandas Timestamp
        return parse_time(value.to_pydatetime(), now=now, name=name)
    if isinstance(value, str):
        m = _RELATIVE.match(value)
        if m:
            return now - dt.timedelta(seconds=float(m[1]) * _UNITS[m[2]])
        try:
            parsed = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            pass
        else:
            return parse_time(parsed, now=now, name=name)
    raise ValueError(f"{name}={value!r} is not a time: use a datetime, an ISO string such as "
                     "'2026-11-23T10:00:00Z', a timedelta, or a span back from now such as '90m', '2h', '1d'")


def k8s_time(value: str | None) -> dt.datetime | None:
    """A Kubernetes timestamp (``2026-11-23T10:00:00Z`` or with microseconds) as naive UTC; None stays None."""
    if not value:
        return None
    try:
        return parse_time(value)
    except ValueError:
        return None
