"""Why the scheduler cannot place a pod: its FailedScheduling message parsed into causes, and the nodes checked
against the pod the way the scheduler's filters do (node selector, required node affinity, taints, resources).

The message (``0/3 nodes are available: 1 Insufficient cpu, 2 node(s) had taint {k: v}, that the pod didn't
tolerate.``) gives counts per filter; the node check names the specifics (which label, which taint, how much CPU the
largest node has). Both are pure functions over dicts.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from kubecopilot.diagnose._util import _expression_matches, parse_quantity

__all__ = [
    "NodeVerdict",
    "SchedulingCause",
    "SchedulingFailure",
    "check_nodes",
    "parse_scheduling_message",
    "pod_requests",
    "tolerates",
]

_HEAD = re.compile(r"^\s*(\d+)/(\d+) nodes are available:\s*(.*)$", re.DOTALL)
_CLAUSE_SPLIT = re.compile(r",\s*(?=\d+ )")
_TAINT = re.compile(r"taint \{([^:}]+):\s*([^}]*)\}")


@dataclass(frozen=True)
class SchedulingCause:
    """One clause of the message: ``count`` nodes rejected for ``kind`` (``resources``, ``selector``, ``taint``,
    ``unschedulable``, ``volume``, ``pods``, ``ports``, ``pod-affinity``, ``other``)."""

    count: int
    kind: str
    text: str
    resource: str | None = None            # resources: "cpu", "memory", ...
    taint: tuple[str, str] | None = None   # taint: (key, value)


@dataclass(frozen=True)
class SchedulingFailure:
    available: int
    total: int
    causes: list[SchedulingCause] = field(default_factory=list)

    def kinds(self) -> set[str]:
        return {c.kind for c in self.causes}


def _classify(count: int, text: str) -> SchedulingCause:
    low = text.lower()
    m = re.match(r"insufficient ([\w./-]+)", low)
    if m:
        return SchedulingCause(count, "resources", text, resource=m.group(1))
    if "taint" in low:
        t = _TAINT.search(text)
        taint = (t.group(1).strip(), t.group(2).strip()) if t else None
        return SchedulingCause(count, "taint", text, taint=taint)
    if "node affinity" in low or "node selector" in low or "nodeselector" in low:
        return SchedulingCause(count, "selector", text)
    if "unschedulable" in low:
        return SchedulingCause(count, "unschedulable", text)
    if "persistentvolumeclaim" in low or "persistent volume" in low or "volume node affinity" in low \
            or "volume" in low:
        return SchedulingCause(count, "volume", text)
    if "too many pods" in low:
        return SchedulingCause(count, "pods", text, resource="pods")
    if "free ports" in low or "host port" in low:
        return SchedulingCause(count, "ports", text)
    if "pod affinity" in low or "anti-affinity" in low or "pod anti" in low:
        return SchedulingCause(count, "pod-affinity", text)
    return SchedulingCause(count, "other", text)


def parse_scheduling_message(message: str | None) -> SchedulingFailure | None:
    """``"0/3 nodes are available: 1 Insufficient cpu, 2 node(s) had taint {a: b}, that the pod didn't
    tolerate."`` -> counts per cause; None if the message is not of that form. The ``preemption: ...`` part of
    newer schedulers is ignored (it says whether evicting pods would help, not why nodes were rejected)."""
    if not message:
        return None
    m = _HEAD.match(message.strip())
    if not m:
        return None
    body = re.split(r"\.?\s*preemption:", m.group(3), maxsplit=1)[0].strip()
    body = body.rstrip(".").strip()
    causes = []
    for clause in _CLAUSE_SPLIT.split(body):
        cm = re.match(r"^(\d+)\s+(.*)$", clause.strip())
        if not cm:
            continue
        causes.append(_classify(int(cm.group(1)), cm.group(2).strip().rstrip(".")))
    return SchedulingFailure(int(m.group(1)), int(m.group(2)), causes)


# -- checking nodes like the scheduler's filters ----------------------------------------------------------------

def pod_requests(pod_spec: Mapping[str, Any]) -> dict[str, Decimal]:
    """Effective requests of a pod: the sum over containers, at least the largest init container's."""
    total: dict[str, Decimal] = {}
    for c in pod_spec.get("containers") or []:
        for res, q in ((c.get("resources") or {}).get("requests") or {}).items():
            v = parse_quantity(q)
            if v is not None:
                total[res] = total.get(res, Decimal(0)) + v
    for c in pod_spec.get("initContainers") or []:
        for res, q in ((c.get("resources") or {}).get("requests") or {}).items():
            v = parse_quantity(q)
            if v is not None and v > total.get(res, Decimal(0)):
                total[res] = v
    return total


def tolerates(tolerations: list[Mapping[str, Any]], taint: Mapping[str, Any]) -> bool:
    for t in tolerations or []:
        if t.get("effect") and t.get("effect") != taint.get("effect"):
            continue
        op = t.get("operator") or "Equal"
        if not t.get("key"):
            if op == "Exists":
                return True
            continue
        if t.get("key") != taint.get("key"):
            continue
        if op == "Exists" or (t.get("value") or "") == (taint.get("value") or ""):
            return True
    return False


def _affinity_terms(pod_spec: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    affinity = ((pod_spec.get("affinity") or {}).get("nodeAffinity") or {})
    required = affinity.get("requiredDuringSchedulingIgnoredDuringExecution") or {}
    return list(required.get("nodeSelectorTerms") or [])


def _term_matches(term: Mapping[str, Any], node: Mapping[str, Any]) -> bool:
    labels = (node.get("metadata") or {}).get("labels") or {}
    fields = {"metadata.name": (node.get("metadata") or {}).get("name", "")}
    exprs = term.get("matchExpressions") or []
    field_exprs = term.get("matchFields") or []
    if not exprs and not field_exprs:
        return False
    return all(_expression_matches(e, labels) for e in exprs) and all(
        _expression_matches(e, fields) for e in field_exprs)


@dataclass
class NodeVerdict:
    """Which of the scheduler's filters one node fails for one pod (empty ``fails`` = it would fit)."""

    node: str
    fails: list[str] = field(default_factory=list)
    selector: list[str] = field(default_factory=list)     # "disktype=ssd (node has no disktype label)"
    taints: list[dict[str, Any]] = field(default_factory=list)
    short: dict[str, tuple[Decimal, Decimal]] = field(default_factory=dict)   # resource -> (requested, allocatable)
    not_ready: bool = False
    unschedulable: bool = False


def check_nodes(pod_spec: Mapping[str, Any], nodes: list[Mapping[str, Any]]) -> list[NodeVerdict]:
    """Run the node selector, required node affinity, taint and resource-fit filters over ``nodes``.

    Resources are compared with each node's *allocatable* (not what is free right now): a request no node can
    ever hold is the common mistake; a busy cluster shows up in the scheduler's message anyway.
    """
    requests = pod_requests(pod_spec)
    selector = pod_spec.get("nodeSelector") or {}
    terms = _affinity_terms(pod_spec)
    tolerations = list(pod_spec.get("tolerations") or [])
    out = []
    for node in nodes:
        meta = node.get("metadata") or {}
        labels = meta.get("labels") or {}
        v = NodeVerdict(meta.get("name", "?"))
        for k, want in selector.items():
            if labels.get(k) != want:
                have = labels.get(k)
                v.selector.append(f"{k}={want} (node has {k}={have})" if have is not None
                                  else f"{k}={want} (node has no {k} label)")
        if v.selector:
            v.fails.append("selector")
        if terms and not any(_term_matches(t, node) for t in terms):
            v.fails.append("affinity")
        spec = node.get("spec") or {}
        v.unschedulable = bool(spec.get("unschedulable"))
        if v.unschedulable:
            v.fails.append("unschedulable")
        for taint in spec.get("taints") or []:
            if taint.get("effect") in ("NoSchedule", "NoExecute") and not tolerates(tolerations, taint):
                v.taints.append(dict(taint))
        if v.taints:
            v.fails.append("taint")
        for cond in (node.get("status") or {}).get("conditions") or []:
            if cond.get("type") == "Ready" and cond.get("status") != "True":
                v.not_ready = True
        alloc = (node.get("status") or {}).get("allocatable") or {}
        for res, want in requests.items():
            have = parse_quantity(alloc.get(res))
            if have is not None and want > have:
                v.short[res] = (want, have)
        if v.short:
            v.fails.append("resources")
        out.append(v)
    return out
