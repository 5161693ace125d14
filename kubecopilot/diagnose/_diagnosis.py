"""`Diagnosis` and `diagnose()`: evidence around one object, the analyzers over it, the findings that concern it.

The findings kept are those about the object (or the workload its pods fold into), the root causes they follow
from (a node, a claim, an upstream Service's crashing pods) and what follows from them. The raw evidence stays on
``diagnosis.evidence`` (a `Snapshot`); ``to_llm_context()`` is the trimmed, JSON-able view the AI layer sends to
a model after sanitising it (``secret_values`` are the values to redact: never rendered anywhere).
"""

from __future__ import annotations

import html
import json
import logging
import os
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from kubecopilot.diagnose._analyzers import analyze
from kubecopilot.diagnose._evidence import SUPPORTED_KINDS, gather_object
from kubecopilot.diagnose._findings import Finding
from kubecopilot.diagnose._logs import preprocess_log
from kubecopilot.diagnose._record import record as record_diagnosis
from kubecopilot.diagnose._render import (
    explanation_html,
    explanation_text,
    findings_html,
    findings_text,
    summary_line,
)
from kubecopilot.diagnose._snapshot import Snapshot
from kubecopilot.diagnose._util import event_time, obj_ref
from kubecopilot.errors import KubeCopilotError, LLMError, UnknownKindError

__all__ = ["Diagnosis", "diagnose", "findings_frame", "scrub"]

log = logging.getLogger("kubecopilot.diagnose")

_LLM_EVENTS = 40


def scrub(text: str, secrets: list[str]) -> str:
    """``text`` with every known Secret value replaced by ``***`` (longest first)."""
    for s in sorted(secrets, key=len, reverse=True):
        if s and s in text:
            text = text.replace(s, "***")
    return text


def findings_frame(findings: list[Finding]) -> Any:
    """The findings as a DataFrame: rank, severity, rule, object, cause, evidence, caused_by, fix."""
    import pandas as pd

    rows = [{"rank": i, "severity": f.severity, "rule": f.rule, "object": f.object, "cause": f.cause,
             "evidence": " | ".join(str(e) for e in f.evidence[:2]), "caused_by": f.caused_by or "",
             "fix": f.intent.summary() if f.intent is not None else ""} for i, f in enumerate(findings, 1)]
    return pd.DataFrame(rows, columns=["rank", "severity", "rule", "object", "cause", "evidence", "caused_by", "fix"])


@dataclass(eq=False)
class Diagnosis:
    """Findings about one object, root causes first, with the evidence they rest on."""

    target: str
    findings: list[Finding]
    evidence: Snapshot = field(repr=False)
    timings: dict[str, float] = field(default_factory=dict)
    context: str = ""
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    created: datetime = field(default_factory=lambda: datetime.now(UTC))
    explanation: Any = None
    llm_status: str = "not configured"
    recorded: bool = False
    #: every API call made, in order ("get Pod ns/name", "list Event ns --field ...", "logs ...")
    calls: list[str] = field(default_factory=list, repr=False)

    # -- views -------------------------------------------------------------------------------------------------
    @property
    def secret_values(self) -> list[str]:
        """Values of the Secrets the evidence touched, for the LLM sanitizer to redact. Never render these."""
        return list(self.evidence.secret_values)

    @property
    def errors(self) -> list[str]:
        """What could not be read (403, timeouts): the evidence is incomplete where these say so."""
        return list(self.evidence.errors)

    @property
    def root_causes(self) -> list[Finding]:
        return [f for f in self.findings if not f.caused_by]

    @property
    def ok(self) -> bool:
        return not self.findings

    @property
    def frame(self) -> Any:
        return findings_frame(self.findings)

    def __len__(self) -> int:
        return len(self.findings)

    def __iter__(self):
        return iter(self.findings)

    def __repr__(self) -> str:
        roots = ", ".join(f.key for f in self.root_causes[:3])
        return (f"Diagnosis({self.target!r}, findings={len(self.findings)}, roots=[{roots}], "
                f"llm={self.llm_status!r}, id={self.id[:8]!r})")

    def __str__(self) -> str:
        head = f"Diagnosis of {self.target} — {summary_line(self.findings)}"
        total = self.timings.get("total_ms")
        if total is not None:
            head += f" [{total / 1000:.2f} s]"
        parts = [head]
        if self.findings:
            parts.append(findings_text(self.findings))
        else:
            parts.append("No findings: the object and what it depends on look healthy.")
        if self.explanation is not None:
            parts.append(explanation_text(self.explanation))
        parts.append(f"LLM: {self.llm_status}")
        if self.errors:
            parts.append("Evidence incomplete:\n" + "\n".join(f"  - {e}" for e in self.errors[:10]))
        return "\n".join(parts)

    def _repr_html_(self) -> str:
        e = html.escape
        total = self.timings.get("total_ms")
        took = f" <span style='color:#57606a'>({total / 1000:.2f} s)</span>" if total is not None else ""
        errors = "".join(f"<li>{e(x)}</li>" for x in self.errors[:10])
        return (f"<div><b>Diagnosis of <code>{e(self.target)}</code></b> — {e(summary_line(self.findings))}{took}"
                f"{findings_html(self.findings)}"
                + (explanation_html(self.explanation) if self.explanation is not None else "")
                + f"<div style='color:#57606a'>LLM: {e(self.llm_status)} · id {e(self.id)}</div>"
                + (f"<details><summary>evidence incomplete ({len(self.errors)})</summary><ul>{errors}</ul>"
                   "</details>" if errors else "") + "</div>")

    def to_dict(self) -> dict[str, Any]:
        """JSON-able record: target, findings, timings, errors. No Secret values."""
        return {"id": self.id, "target": self.target, "context": self.context, "created": self.created.isoformat(),
                "findings": [f.to_dict() for f in self.findings], "timings": dict(self.timings),
                "errors": self.errors, "llm_status": self.llm_status}

    # -- the hand-off to the AI layer ---------------------------------------------------------------------------
    def to_llm_context(self) -> dict[str, Any]:
        """Trimmed evidence for a model (see the module docstring); sanitised by the AI layer before sending."""
        snap = self.evidence
        target = _target_object(snap, self.target)
        owners = [_summary(snap, o) for o in snap.owner_chain(target)] if target else []
        events = sorted(snap.events, key=lambda ev: (event_time(ev) or self.created).timestamp())[-_LLM_EVENTS:]
        lines = []
        for ev in events:
            io = ev.get("involvedObject") or {}
            count = ev.get("count") or 1
            when = event_time(ev)
            about = obj_ref(str(io.get("kind", "?")), io.get("namespace"), str(io.get("name", "?")))
            lines.append(f"{when.strftime('%Y-%m-%dT%H:%M:%SZ') if when else '?'} {ev.get('type', '')} "
                         f"{ev.get('reason', '')} {about}{f' (x{count})' if count > 1 else ''}: "
                         f"{ev.get('message', '')}")
        pod_target = self.target.startswith("pod/")
        logs: dict[str, str] = {}
        for (_, pod, container, previous), text in sorted(snap.logs.items()):
            key = container if pod_target else f"{pod}/{container}"
            logs[key + (" (previous)" if previous else "")] = scrub(preprocess_log(text), snap.secret_values)
        return {
            "target": self.target,
            "findings": [f.to_dict() for f in self.findings],
            "evidence": {
                "object": _trim(target) if target else None,
                "owners": owners,
                "events": [scrub(x, snap.secret_values) for x in lines],
                "logs": logs,
                "node": _node_summary(snap, target),
                "related": _related(snap),
            },
        }


def _target_object(snap: Snapshot, target: str) -> dict[str, Any] | None:
    kind_lower, _, rest = target.partition("/")
    parts = rest.split("/")
    ns, name = (parts[0], parts[1]) if len(parts) == 2 else (None, parts[0])
    for kind in snap.objects:
        if kind.lower() == kind_lower:
            return snap.get(kind, ns, name)
    return None


def _trim(obj: dict[str, Any]) -> dict[str, Any]:
    meta = obj.get("metadata") or {}
    annotations = {k: (v if len(str(v)) <= 300 else str(v)[:300] + "…")
                   for k, v in (meta.get("annotations") or {}).items()}
    status = dict(obj.get("status") or {})
    status.pop("images", None)
    return {"apiVersion": obj.get("apiVersion"), "kind": obj.get("kind"),
            "metadata": {k: v for k, v in {"name": meta.get("name"), "namespace": meta.get("namespace"),
                                             "labels": meta.get("labels"), "annotations": annotations or None,
                                             "ownerReferences": [{"kind": r.get("kind"), "name": r.get("name")}
                                                                 for r in meta.get("ownerReferences") or []] or None,
                                             "creationTimestamp": meta.get("creationTimestamp")}.items() if v},
            "spec": obj.get("spec"), "status": status}


def _summary(snap: Snapshot, obj: dict[str, Any]) -> dict[str, Any]:
    meta, spec, status = obj.get("metadata") or {}, obj.get("spec") or {}, obj.get("status") or {}
    out: dict[str, Any] = {"ref": snap.ref(obj)}
    for key in ("replicas", "readyReplicas", "availableReplicas", "updatedReplicas", "active", "failed", "succeeded"):
        if key in status:
            out[key] = status[key]
    if "replicas" in spec:
        out["wanted"] = spec["replicas"]
    out["conditions"] = [f"{c.get('type')}={c.get('status')} {c.get('reason', '')}".strip()
                         for c in status.get("conditions") or []]
    if meta.get("annotations", {}).get("deployment.kubernetes.io/revision"):
        out["revision"] = meta["annotations"]["deployment.kubernetes.io/revision"]
    return out


def _node_summary(snap: Snapshot, target: dict[str, Any] | None) -> dict[str, Any] | None:
    node = None
    if target is not None and snap.kind_of(target) == "Node":
        node = target
    elif target is not None and (target.get("spec") or {}).get("nodeName"):
        node = snap.get("Node", None, target["spec"]["nodeName"])
    if node is None:
        nodes = snap.all("Node")
        node = nodes[0] if len(nodes) == 1 else None
    if node is None:
        return None
    status = node.get("status") or {}
    return {"name": (node.get("metadata") or {}).get("name"),
            "conditions": {c.get("type"): f"{c.get('status')} {c.get('reason', '')}".strip()
                           for c in status.get("conditions") or []},
            "taints": [f"{t.get('key')}={t.get('value', '')}:{t.get('effect')}" for t in
                       (node.get("spec") or {}).get("taints") or []],
            "unschedulable": bool((node.get("spec") or {}).get("unschedulable")),
            "allocatable": status.get("allocatable")}


def _related(snap: Snapshot) -> dict[str, Any]:
    out: dict[str, Any] = {}
    services = {}
    for svc in snap.all("Service"):
        name = (svc.get("metadata") or {}).get("name")
        ep = snap.get("Endpoints", (svc.get("metadata") or {}).get("namespace"), name or "")
        ready = sum(len(s.get("addresses") or []) for s in (ep or {}).get("subsets") or []) if ep else None
        services[name] = {"selector": (svc.get("spec") or {}).get("selector"),
                          "ports": [{k: p.get(k) for k in ("name", "port", "targetPort")}
                                    for p in (svc.get("spec") or {}).get("ports") or []],
                          "ready_endpoints": ready}
    if services:
        out["services"] = services
    cms = {(c.get("metadata") or {}).get("name"): sorted(c.get("keys") or {}) for c in snap.all("ConfigMap")}
    if cms:
        out["configmaps"] = cms
    secrets = {(s.get("metadata") or {}).get("name"): {"type": s.get("type"), "keys": s.get("keys") or {}}
               for s in snap.all("Secret")}
    if secrets:
        out["secrets"] = secrets
    pvcs = {(p.get("metadata") or {}).get("name"): {"phase": (p.get("status") or {}).get("phase"),
                                                     "storageClassName": (p.get("spec") or {}).get("storageClassName")}
            for p in snap.all("PersistentVolumeClaim")}
    if pvcs:
        out["persistentvolumeclaims"] = pvcs
    quotas = {(q.get("metadata") or {}).get("name"): {"hard": (q.get("status") or {}).get("hard"),
                                                       "used": (q.get("status") or {}).get("used")}
              for q in snap.all("ResourceQuota")}
    if quotas:
        out["resourcequotas"] = quotas
    limits = {(lr.get("metadata") or {}).get("name"): (lr.get("spec") or {}).get("limits")
              for lr in snap.all("LimitRange")}
    if limits:
        out["limitranges"] = limits
    if snap.missing:
        out["missing"] = sorted(obj_ref(k, ns, n) for k, ns, n in snap.missing)
    if snap.errors:
        out["errors"] = list(snap.errors[:20])
    return out


# -- diagnose() -------------------------------------------------------------------------------------------------

def _resolve(ws: Any, ref: Any) -> tuple[str, str | None, str]:
    """(Kind, namespace, name) from an `ObjectRef` or a string. CronJob is resolved here too, because on
    Kubernetes 1.20 it is served only in ``batch/v1beta1``, which preferred-version discovery does not list."""
    if hasattr(ref, "kind") and hasattr(ref, "name"):
        return ref.kind.kind, ref.namespace, ref.name
    if isinstance(ref, str):
        try:
            resolved = ws.ref(ref)
            return resolved.kind.kind, resolved.namespace, resolved.name
        except UnknownKindError:
            parts = ref.strip().split("/")
            if parts[0].lower() in ("cronjob", "cronjobs", "cj", "cronjobs.batch") and len(parts) in (2, 3):
                ns = parts[1] if len(parts) == 3 else ws.namespace
                return "CronJob", ns, parts[-1]
            raise
    raise ValueError(f"expected an object reference like 'deployment/payments/billing-api', got {ref!r}")


def _focus(findings: list[Finding], targets: set[str]) -> list[Finding]:
    """The findings about the target, every finding on the causal path from them to their roots, and the
    findings that follow from them (a node's pending pods)."""
    by_key = {f.key: f for f in findings}
    keep = {f.key for f in findings if f.object in targets}
    for key in list(keep):
        cur = by_key[key]._parent
        while cur and cur not in keep and cur in by_key:
            keep.add(cur)
            cur = by_key[cur]._parent
    core = {f.key for f in findings if f.object in targets}
    keep |= {f.key for f in findings if f.caused_by in core or f._parent in core}
    return [f for f in findings if f.key in keep]


def diagnose(ws: Any, ref: Any, *, llm: bool | None = None, budget: float = 15.0, record: bool = True,
             **options: Any) -> Diagnosis:
    """Diagnose one object (`ws.diagnose` calls this): gather, analyze, rank, optionally explain, record.

    ``llm``: True asks the configured model for an explanation, None does so only when `kubecopilot.ai`
    reports one is configured, False never. ``budget``: seconds for gathering evidence. ``record``: write
    the diagnosis to the audit ledger (a ledger failure only logs a warning).
    """
    if options:
        raise TypeError(f"diagnose() got unexpected option(s) {', '.join(sorted(options))}; "
                        "known: llm, budget, record")
    kind, namespace, name = _resolve(ws, ref)
    if kind not in SUPPORTED_KINDS:
        supported = ", ".join(k.lower() for k in SUPPORTED_KINDS)
        raise ValueError(f"cannot diagnose a {kind}: diagnose() supports {supported}. To look at everything in a "
                         f"namespace use ws.triage({namespace!r})")
    t0 = time.perf_counter()
    snap, api, timings = gather_object(ws.raw, kind, namespace, name, budget=budget)
    t1 = time.perf_counter()
    target = obj_ref(kind, namespace, name)
    keep = frozenset({target}) if kind == "Pod" else frozenset()
    findings = analyze(snap, keep=keep)
    target_obj = snap.get(kind, namespace, name) or {}
    findings = _focus(findings, {target, snap.top_ref(target_obj, kind)} if kind != "Pod" else {target})
    for f in findings:   # a log line may quote a Secret's value: never show it
        f.cause = scrub(f.cause, snap.secret_values)
        f.evidence = [type(e)(e.kind, e.source, scrub(e.quote, snap.secret_values)) for e in f.evidence]
    timings["analyze_ms"] = (time.perf_counter() - t1) * 1000
    timings["api_calls"] = len(api.log.calls)
    timings["api_ms_sum"] = api.log.total_ms
    timings["total_ms"] = (time.perf_counter() - t0) * 1000
    d = Diagnosis(target=target, findings=findings, evidence=snap, timings=timings, context=getattr(ws, "context", ""),
                  calls=[label for label, _, _ in api.log.calls])
    _explain(d, llm)
    if record:
        d.recorded = record_diagnosis(kind="diagnosis", id=d.id, target=target, findings=findings, timings=timings,
                                      context=d.context, user=getattr(ws, "user", None), errors=snap.errors,
                                      llm_status=d.llm_status, explanation=_explanation_record(d))
    return d


def _explanation_record(d: Diagnosis) -> dict[str, Any] | None:
    """The explanation as stored data (its own ``to_dict``), with any Secret value it restored masked again."""
    if d.explanation is None:
        return None
    to_dict = getattr(d.explanation, "to_dict", None)
    data = to_dict() if callable(to_dict) else {"text": str(d.explanation)}
    return json.loads(scrub(json.dumps(data, default=str), d.secret_values))


def _explain(d: Diagnosis, llm: bool | None) -> None:
    if llm is False:
        d.llm_status = "not requested"
        return
    try:
        from kubecopilot import ai
    except ImportError:
        d.llm_status = "LLM unavailable: kubecopilot.ai is not installed" if llm else "not configured"
        return
    if llm is None:
        configured = getattr(ai, "llm_configured", None)
        try:
            is_on = configured() if callable(configured) else bool(configured)
        except Exception as e:  # a broken configuration is "not configured", not a failed diagnosis
            log.info("LLM configuration check failed: %s", e)
            is_on = False
        if not is_on:
            d.llm_status = "not configured"
            return
    try:
        # the environment prompts' envAllowlist and rollout conditions see: explicit setting, else the context name
        environment = os.environ.get("KUBECOPILOT_ENVIRONMENT") or d.context or None
        d.explanation = ai.explain(d.to_llm_context(), secret_values=d.secret_values, environment=environment)
        d.llm_status = "explained"
    except LLMError as e:
        d.explanation = None
        d.llm_status = f"LLM unavailable: {e}"
    except KubeCopilotError as e:
        d.explanation = None
        d.llm_status = f"LLM unavailable: {e}"
