"""Small pure helpers shared by the analyzers: quantities, times, label selectors, object refs, name similarity."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

__all__ = [
    "age_seconds",
    "container_statuses",
    "event_time",
    "format_bytes",
    "format_cpu",
    "is_ready",
    "labels_match",
    "obj_ref",
    "parse_quantity",
    "parse_time",
    "selector_string",
    "similar",
]

_SUFFIX = {
    "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60,
    "n": Decimal("1e-9"), "u": Decimal("1e-6"), "m": Decimal("1e-3"), "": 1,
    "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15, "E": 10**18,
}
_QUANTITY = re.compile(r"^([+-]?[0-9.]+(?:[eE][+-]?[0-9]+)?)(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E)?$")


def parse_quantity(value: Any) -> Decimal | None:
    """``"128Mi"`` -> 134217728, ``"500m"`` -> 0.5; ``None`` for anything unreadable (analyzers never raise)."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return Decimal(str(value))
    m = _QUANTITY.match(str(value).strip())
    if not m:
        return None
    return Decimal(m.group(1)) * Decimal(_SUFFIX[m.group(2) or ""])


def format_bytes(value: Decimal | int) -> str:
    """A byte count in the largest binary unit that keeps it whole-ish: ``536870912`` -> ``512Mi``."""
    n = int(value)
    for unit, size in (("Gi", 2**30), ("Mi", 2**20), ("Ki", 2**10)):
        if n >= size and n % size == 0:
            return f"{n // size}{unit}"
    if n >= 2**20:
        return f"{-(-n // 2**20)}Mi"
    return str(n)


def format_cpu(cores: Decimal | float) -> str:
    """Cores as Kubernetes writes them: ``6`` -> ``6``, ``0.5`` -> ``500m``."""
    milli = int(Decimal(str(cores)) * 1000)
    return str(milli // 1000) if milli % 1000 == 0 else f"{milli}m"


def parse_time(value: Any) -> datetime | None:
    """RFC 3339 (``2026-11-23T03:08:22Z`` or with fractions) as an aware datetime; None if absent or bad."""
    if not value or not isinstance(value, str):
        return None
    text = value.replace("Z", "+00:00")
    try:
        out = datetime.fromisoformat(text)
    except ValueError:
        m = re.match(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(.*)$", value.replace("Z", "+00:00"))
        if not m:
            return None
        try:
            out = datetime.fromisoformat(m.group(1) + (m.group(3) or "+00:00"))
        except ValueError:
            return None
    return out if out.tzinfo else out.replace(tzinfo=UTC)


def age_seconds(value: Any, now: datetime) -> float | None:
    t = parse_time(value)
    return None if t is None else (now - t).total_seconds()


def event_time(event: Mapping[str, Any]) -> datetime | None:
    """When an event last happened: core/v1 events carry ``lastTimestamp``; events written through
    events.k8s.io (the scheduler's) carry ``series.lastObservedTime`` or ``eventTime`` instead."""
    series = event.get("series") or {}
    for value in (event.get("lastTimestamp"), series.get("lastObservedTime"), event.get("eventTime"),
                  event.get("firstTimestamp"), (event.get("metadata") or {}).get("creationTimestamp")):
        t = parse_time(value)
        if t is not None:
            return t
    return None


def _expression_matches(expr: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    key, op = expr.get("key"), expr.get("operator")
    values = list(expr.get("values") or [])
    if op == "In":
        return key in labels and labels[key] in values
    if op == "NotIn":
        return key not in labels or labels[key] not in values
    if op == "Exists":
        return key in labels
    if op == "DoesNotExist":
        return key not in labels
    if op in ("Gt", "Lt"):  # node selector terms only
        try:
            have, want = int(labels[key]), int(values[0])
        except (KeyError, ValueError, IndexError):
            return False
        return have > want if op == "Gt" else have < want
    return False


def labels_match(selector: Mapping[str, Any] | None, labels: Mapping[str, str] | None) -> bool:
    """Does a selector match ``labels``? Accepts a Service selector (plain ``{k: v}``) or a LabelSelector
    (``matchLabels`` / ``matchExpressions``). An empty or missing selector matches nothing, as for Services."""
    if not selector:
        return False
    labels = labels or {}
    if "matchLabels" in selector or "matchExpressions" in selector:
        plain = selector.get("matchLabels") or {}
        exprs = selector.get("matchExpressions") or []
        if not plain and not exprs:
            return False
        return all(labels.get(k) == v for k, v in plain.items()) and all(
            _expression_matches(e, labels) for e in exprs)
    return all(labels.get(k) == v for k, v in selector.items())


def selector_string(selector: Mapping[str, Any] | None) -> str:
    """A selector in ``kubectl -l`` syntax (``app=web,tier in (a,b)``); ``""`` when empty."""
    if not selector:
        return ""
    if "matchLabels" in selector or "matchExpressions" in selector:
        parts = [f"{k}={v}" for k, v in (selector.get("matchLabels") or {}).items()]
        for e in selector.get("matchExpressions") or []:
            op, key, values = e.get("operator"), e.get("key"), ",".join(e.get("values") or [])
            parts.append({"In": f"{key} in ({values})", "NotIn": f"{key} notin ({values})", "Exists": f"{key}",
                          "DoesNotExist": f"!{key}"}.get(op, f"{key} {op} ({values})"))
        return ",".join(parts)
    return ",".join(f"{k}={v}" for k, v in selector.items())


def obj_ref(kind: str, namespace: str | None, name: str) -> str:
    """``pod/payments/api-1`` or ``node/worker-1``: the spelling `ObjectRef` prints and findings use."""
    return "/".join([kind.lower()] + ([namespace] if namespace else []) + [name])


def similar(name: str, candidates: Iterable[str], n: int = 2, cutoff: float = 0.6) -> list[str]:
    """Names close to ``name`` (typos, renamed suffixes), best first."""
    pool = sorted({c for c in candidates if c and c != name})
    close = difflib.get_close_matches(name, pool, n=n, cutoff=cutoff)
    if len(close) < n:  # a shared prefix/suffix: "edge-proxy-conf" vs "edge-proxy-config"
        for c in pool:
            if c not in close and (c.startswith(name) or name.startswith(c)) and min(len(c), len(name)) >= 3:
                close.append(c)
    return close[:n]


def container_statuses(pod: Mapping[str, Any]) -> list[dict[str, Any]]:
    status = pod.get("status") or {}
    return [*(status.get("initContainerStatuses") or []), *(status.get("containerStatuses") or [])]


def is_ready(pod: Mapping[str, Any]) -> bool:
    for cond in (pod.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Ready":
            return cond.get("status") == "True"
    return False
