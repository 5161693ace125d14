"""Gather what a postmortem is made of: cluster events, the audit trail, diagnoses, plans and runbook runs.

Everything is read once into plain rows; `_analysis.py` turns rows into impact, root causes and action items.
Cluster events are optional (no connection, or the API server already expired them: Events live one hour by
default), which is why diagnoses — recorded at the time, with the events they quoted — matter for the report.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from dataclasses import dataclass, field
from typing import Any

from kubecopilot.postmortems._window import k8s_time

__all__ = ["Collected", "collect"]

log = logging.getLogger("kubecopilot.postmortems")


@dataclass
class Collected:
    """The raw material of one report (plain rows, no cluster or ledger handles)."""

    since: dt.datetime
    until: dt.datetime
    namespace: str | None
    cluster_events: list[dict[str, Any]] = field(default_factory=list)
    audit: list[dict[str, Any]] = field(default_factory=list)
    diagnoses: list[dict[str, Any]] = field(default_factory=list)
    plans: list[dict[str, Any]] = field(default_factory=list)
    runbook_runs: list[dict[str, Any]] = field(default_factory=list)
    llm_usage: list[dict[str, Any]] = field(default_factory=list)
    live_health: dict[str, bool] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def _object_namespace(ref: str | None) -> str | None:
    parts = (ref or "").split("/")
    if len(parts) == 3:
        return parts[1]
    if len(parts) == 2 and parts[0] == "namespace":
        return parts[1]
    return None


def _in_namespace(ref: str | None, namespace: str | None) -> bool:
    return namespace is None or _object_namespace(ref) == namespace


def _event_times(ev: dict[str, Any]) -> tuple[dt.datetime | None, dt.datetime | None]:
    """(first, last) of a core/v1 Event, whichever timestamp fields the emitter filled."""
    series = ev.get("series") or {}
    first = k8s_time(ev.get("firstTimestamp")) or k8s_time(ev.get("eventTime")) \
        or k8s_time((ev.get("metadata") or {}).get("creationTimestamp"))
    last = k8s_time(ev.get("lastTimestamp")) or k8s_time(series.get("lastObservedTime")) or first
    return first, last


def cluster_event_rows(items: list[dict[str, Any]], since: dt.datetime, until: dt.datetime) -> list[dict[str, Any]]:
    """Events overlapping the window as flat rows (object as ``kind/ns/name``)."""
    rows = []
    for ev in items:
        first, last = _event_times(ev)
        if first is None or last is None or last < since or first > until:
            continue
        inv = ev.get("involvedObject") or ev.get("regarding") or {}
        ns = inv.get("namespace") or (ev.get("metadata") or {}).get("namespace")
        kind = (inv.get("kind") or "object").lower()
        obj = "/".join([kind] + ([ns] if ns and kind != "node" else []) + [inv.get("name") or "?"])
        src = ev.get("source") or {}
        rows.append({
            "first": first, "last": last, "object": obj, "kind": kind, "type": ev.get("type") or "Normal",
            "reason": ev.get("reason") or "", "message": (ev.get("message") or ev.get("note") or "").strip(),
            "count": int(ev.get("count") or (ev.get("series") or {}).get("count") or 1),
            "source": src.get("component") or ev.get("reportingComponent") or ev.get("reportingController") or "",
        })
    rows.sort(key=lambda r: (r["first"], r["object"]))
    return rows


_WORKLOADS = (("apps", "deployments"), ("apps", "statefulsets"), ("apps", "daemonsets"))


def _workload_healthy(obj: dict[str, Any]) -> bool:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    if obj.get("kind") == "DaemonSet":
        want = int(status.get("desiredNumberScheduled") or 0)
        return int(status.get("numberReady") or 0) >= want and int(status.get("numberUnavailable") or 0) == 0
    want = int(spec.get("replicas", 1) or 0)
    return int(status.get("readyReplicas") or 0) >= want and int(status.get("unavailableReplicas") or 0) == 0


def _live_health(workbench: Any, namespace: str | None, notes: list[str]) -> dict[str, bool]:
    """``ns/name`` → whether the workload is fully available *now* (decides "ongoing" for a window ending now)."""
    out: dict[str, bool] = {}
    for group, plural in _WORKLOADS:
        path = f"/apis/{group}/v1" + (f"/namespaces/{namespace}" if namespace else "") + f"/{plural}"
        try:
            items = workbench.raw.list(path).get("items") or []
        except Exception as e:  # e.g. 403 on daemonsets: fall back to the event-based judgement for those
            notes.append(f"could not read {plural} to tell which impact is still ongoing: {e}")
            continue
        for obj in items:
            meta = obj.get("metadata") or {}
            obj.setdefault("kind", plural[:-1].capitalize().replace("set", "Set"))
            out[f"{meta.get('namespace')}/{meta.get('name')}"] = _workload_healthy(obj)
    return out


def _loads(body: Any) -> dict[str, Any]:
    if isinstance(body, dict):
        return body
    try:
        return json.loads(body) if body else {}
    except (TypeError, ValueError):
        return {}


def collect(since: dt.datetime, until: dt.datetime, namespace: str | None, *, ledger: Any,
            workbench: Any | None) -> Collected:
    """Read the window from the ledger (always) and from the cluster (when a workbench is given)."""
    c = Collected(since, until, namespace)
    if workbench is not None:
        path = f"/api/v1/namespaces/{namespace}/events" if namespace else "/api/v1/events"
        try:
            items = workbench.raw.list(path).get("items") or []
            c.cluster_events = cluster_event_rows(items, since, until)
        except Exception as e:  # a report without cluster events is still a report; say why they are missing
            c.notes.append(f"cluster events not included: {e}")
        else:
            c.live_health = _live_health(workbench, namespace, c.notes)
    else:
        c.notes.append("no cluster connection given (and none current): the timeline holds the audit trail only")

    timeline = ledger.timeline(since, until, namespace)
    c.audit = [
        {"ts": r.ts.to_pydatetime() if hasattr(r.ts, "to_pydatetime") else r.ts, "actor": r.actor,
         "action": r.action, "object": r.object, "plan_id": r.plan_id, "diagnosis_id": r.diagnosis_id,
         "runbook_run_id": r.runbook_run_id, "payload": _loads(r.payload), "seq": int(r.seq)}
        for r in timeline.itertuples()
    ]
    window = [since, until]
    for table, target in (("diagnoses", c.diagnoses), ("plans", c.plans), ("runbook_runs", c.runbook_runs)):
        frame = ledger.sql(f"SELECT id, created, updated, status, body FROM {table} "
                           "WHERE updated >= $1 AND created <= $2 ORDER BY created", window)
        for r in frame.itertuples():
            body = _loads(r.body)
            row = {"id": r.id, "created": r.created.to_pydatetime(), "updated": r.updated.to_pydatetime(),
                   "status": r.status, "body": body}
            if table == "plans":
                if isinstance(body.get("plan"), str):  # the plans store keeps the whole plan as JSON text
                    body = row["body"] = {**body, **_loads(body["plan"])}
                res = body.get("resource") or {}
                if namespace is not None and res.get("namespace") not in (namespace, None):
                    continue
            elif table == "diagnoses" and namespace is not None:
                target_ref = body.get("target") or ""
                findings = body.get("findings") or []
                if not (_in_namespace(target_ref, namespace)
                        or any(_in_namespace(f.get("object"), namespace) for f in findings)
                        or body.get("namespace") == namespace):
                    continue
            elif table == "runbook_runs" and namespace is not None:
                params = body.get("parameters") or {}
                if params.get("namespace") not in (namespace, None):
                    continue
            target.append(row)
    try:
        usage = ledger.sql(
            "SELECT labels->>'$.model' AS model, labels->>'$.prompt' AS prompt, count(*) AS calls, "
            "avg(value) AS latency_s FROM metrics WHERE name = 'llm.latency' AND ts >= $1 AND ts <= $2 "
            "GROUP BY ALL ORDER BY calls DESC", window)
        c.llm_usage = usage.to_dict("records")
    except Exception as e:  # metrics are a nice-to-have in the chain
        log.debug("llm usage not available: %s", e)
    return c
