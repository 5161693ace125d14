"""`Triage` and `triage()`: every analyzer over a namespace (or the whole cluster), root causes first.

Evidence comes from one list call per kind, in parallel, plus logs for the crashing pods only (one per
workload, a few at a time), so the cost grows with the number of kinds, not of objects. In a namespace triage,
node findings are kept only for nodes that matter to the namespace (its pods run there, or its pending pods
could only go there): a broken node elsewhere is someone else's finding.
"""

from __future__ import annotations

import html
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from kubecopilot.diagnose._analyzers import analyze
from kubecopilot.diagnose._diagnosis import findings_frame
from kubecopilot.diagnose._evidence import gather_scope
from kubecopilot.diagnose._findings import Finding
from kubecopilot.diagnose._record import record as record_triage
from kubecopilot.diagnose._render import findings_html, findings_text, summary_line
from kubecopilot.diagnose._scheduling import check_nodes
from kubecopilot.diagnose._snapshot import Snapshot

__all__ = ["Triage", "triage"]


@dataclass(eq=False)
class Triage:
    """Findings over a namespace or the cluster, root causes first."""

    scope: str
    findings: list[Finding]
    evidence: Snapshot = field(repr=False)
    timings: dict[str, float] = field(default_factory=dict)
    context: str = ""
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    created: datetime = field(default_factory=lambda: datetime.now(UTC))
    recorded: bool = False
    #: every API call made, in order ("list Pod ns", "logs ns/pod/container previous", ...)
    calls: list[str] = field(default_factory=list, repr=False)

    @property
    def frame(self) -> Any:
        """rank, severity, rule, object, cause, evidence, caused_by, fix — one row per finding."""
        return findings_frame(self.findings)

    @property
    def root_causes(self) -> list[Finding]:
        return [f for f in self.findings if not f.caused_by]

    @property
    def errors(self) -> list[str]:
        return list(self.evidence.errors)

    def __len__(self) -> int:
        return len(self.findings)

    def __iter__(self):
        return iter(self.findings)

    def __getitem__(self, i: int) -> Finding:
        return self.findings[i]

    def __repr__(self) -> str:
        return (f"Triage({self.scope!r}, findings={len(self.findings)}, roots={len(self.root_causes)}, "
                f"id={self.id[:8]!r})")

    def __str__(self) -> str:
        total = self.timings.get("total_ms")
        head = f"Triage of {self.scope} — {summary_line(self.findings)}" + (
            f" [{total / 1000:.2f} s]" if total is not None else "")
        parts = [head, findings_text(self.findings, evidence=2) if self.findings else "No findings."]
        if self.errors:
            parts.append("Evidence incomplete:\n" + "\n".join(f"  - {e}" for e in self.errors[:10]))
        return "\n".join(parts)

    def _repr_html_(self) -> str:
        e = html.escape
        errors = "".join(f"<li>{e(x)}</li>" for x in self.errors[:10])
        return (f"<div><b>Triage of <code>{e(self.scope)}</code></b> — {e(summary_line(self.findings))}"
                f"{findings_html(self.findings)}"
                + (f"<details><summary>evidence incomplete ({len(self.errors)})</summary><ul>{errors}</ul>"
                   "</details>" if errors else "") + "</div>")

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "scope": self.scope, "context": self.context, "created": self.created.isoformat(),
                "findings": [f.to_dict() for f in self.findings], "timings": dict(self.timings),
                "errors": self.errors}


def _node_scope(findings: list[Finding], snap: Snapshot, namespace: str) -> list[Finding]:
    """Drop node findings that do not concern the namespace (see the module docstring): kept are nodes another
    finding follows from, nodes the namespace's pods run on, and the nodes its pending pinned pods (nodeSelector
    or required node affinity) are allowed on."""
    if not any(f.object.startswith("node/") for f in findings):
        return findings
    wanted = {d for f in findings if not f.object.startswith("node/") for d in f._depends if d.startswith("node/")}
    nodes = snap.all("Node")
    for p in snap.pods(namespace):
        spec = p.get("spec") or {}
        if spec.get("nodeName"):
            wanted.add(f"node/{spec['nodeName']}")
        elif (p.get("status") or {}).get("phase") == "Pending" and (
                spec.get("nodeSelector") or (spec.get("affinity") or {}).get("nodeAffinity")):
            wanted |= {f"node/{v.node}" for v in check_nodes(spec, nodes)
                       if "selector" not in v.fails and "affinity" not in v.fails}
    return [f for f in findings if not f.object.startswith("node/") or f.object in wanted]


def triage(ws: Any, namespace: str | None = None, *, budget: float = 60.0, record: bool = True,
           log_concurrency: int = 4, **options: Any) -> Triage:
    """Run every analyzer over ``namespace`` (None: the whole cluster); ``ws.triage`` calls this."""
    if options:
        raise TypeError(f"triage() got unexpected option(s) {', '.join(sorted(options))}; "
                        "known: budget, record, log_concurrency")
    t0 = time.perf_counter()
    snap, api, timings = gather_scope(ws.raw, namespace, budget=budget, log_workers=log_concurrency)
    t1 = time.perf_counter()
    scope_filter = (lambda found: _node_scope(found, snap, namespace)) if namespace else None
    findings = analyze(snap, scope_filter=scope_filter)
    timings["analyze_ms"] = (time.perf_counter() - t1) * 1000
    timings["api_calls"] = len(api.log.calls)
    timings["total_ms"] = (time.perf_counter() - t0) * 1000
    scope = f"namespace/{namespace}" if namespace else "cluster"
    t = Triage(scope=scope, findings=findings, evidence=snap, timings=timings, context=getattr(ws, "context", ""),
               calls=[label for label, _, _ in api.log.calls])
    if record:
        t.recorded = record_triage(kind="triage", id=t.id, target=scope, findings=findings, timings=timings,
                                   context=t.context, user=getattr(ws, "user", None), errors=snap.errors)
    return t
