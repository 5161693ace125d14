"""The analyzer registry: every family runs over one `Snapshot`; then findings are ranked.

An analyzer is a pure function ``Snapshot -> list[Finding]``: no API calls, no clock but ``snapshot.now``. One
analyzer failing (a malformed object it did not expect) must not cost the others' findings: the error is
recorded in ``snapshot.errors`` and the rest go on.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable

from kubecopilot.diagnose._analyze_network import analyze_network
from kubecopilot.diagnose._analyze_pods import analyze_pods
from kubecopilot.diagnose._analyze_storage_nodes import analyze_nodes, analyze_storage
from kubecopilot.diagnose._analyze_workloads import analyze_workloads
from kubecopilot.diagnose._findings import Finding
from kubecopilot.diagnose._rank import rank
from kubecopilot.diagnose._snapshot import Snapshot

__all__ = ["ANALYZERS", "analyze", "owner_map"]

log = logging.getLogger("kubecopilot.diagnose")

ANALYZERS: dict[str, Callable[[Snapshot], list[Finding]]] = {
    "pods": analyze_pods,
    "workloads": analyze_workloads,
    "network": analyze_network,
    "storage": analyze_storage,
    "nodes": analyze_nodes,
}


def owner_map(snap: Snapshot) -> tuple[dict[str, str], dict[str, int]]:
    """ref -> top-level owner ref for pods, ReplicaSets and Jobs; owner ref -> number of (live) pods."""
    owners: dict[str, str] = {}
    totals: Counter[str] = Counter()
    for kind in ("Pod", "ReplicaSet", "Job"):
        for obj in snap.all(kind):
            if not snap.controller_ref(obj):
                continue
            ref = snap.ref(obj, kind)
            top = snap.top_ref(obj, kind)
            if top != ref:
                owners[ref] = top
            if kind == "Pod" and (obj.get("status") or {}).get("phase") not in ("Succeeded", "Failed"):
                totals[top] += 1
    return owners, dict(totals)


def analyze(snap: Snapshot, *, keep: frozenset[str] = frozenset(),
            scope_filter: Callable[[list[Finding]], list[Finding]] | None = None) -> list[Finding]:
    """Run every analyzer and rank the findings (``keep``: refs not folded into their owner; ``scope_filter``:
    drops out-of-scope findings before ranking)."""
    found: list[Finding] = []
    for name, fn in ANALYZERS.items():
        try:
            found.extend(fn(snap))
        except Exception as e:  # one analyzer's bug must not hide the others' findings
            log.exception("analyzer %s failed", name)
            snap.errors.append(f"analyzer {name} failed: {type(e).__name__}: {e}")
    if scope_filter is not None:
        found = scope_filter(found)
    owners, totals = owner_map(snap)
    return rank(found, owners, totals, keep=keep)
