"""Label selectors, matched the way the API server matches them — one implementation for every package.

Two spellings reach us: a Service's plain ``{key: value}`` map and a LabelSelector (``matchLabels`` /
``matchExpressions``, used by workloads, PDBs and NetworkPolicies). What an *empty* selector means differs by
owner — a Service without a selector selects nothing (its endpoints are managed by hand), while an empty PDB or
NetworkPolicy selector selects every pod — so callers say which with ``empty_matches``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["selector_matches"]


def _expression_matches(expr: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    key, op, values = expr.get("key"), expr.get("operator"), expr.get("values") or ()
    if op == "In":
        return labels.get(key) in values
    if op == "NotIn":
        return key not in labels or labels[key] not in values
    if op == "Exists":
        return key in labels
    if op == "DoesNotExist":
        return key not in labels
    return False  # an operator we do not know selects nothing rather than everything


def selector_matches(selector: Mapping[str, Any] | None, labels: Mapping[str, str] | None, *,
                     empty_matches: bool = False) -> bool:
    """Does ``selector`` (a plain map or a LabelSelector) select ``labels``? An empty selector gives
    ``empty_matches``."""
    labels = labels or {}
    if selector and ("matchLabels" in selector or "matchExpressions" in selector):
        plain = selector.get("matchLabels") or {}
        exprs = selector.get("matchExpressions") or []
    else:
        plain, exprs = selector or {}, []
    if not plain and not exprs:
        return empty_matches
    return all(labels.get(k) == v for k, v in plain.items()) and all(_expression_matches(e, labels) for e in exprs)
