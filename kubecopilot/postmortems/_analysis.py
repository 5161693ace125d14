"""From collected rows to the report's sections: timeline, impact, root causes, actions taken, action items.

Impact is measured from the cluster's own Warning events and from the root causes diagnosed in the window: an
object counts as unavailable from its first Warning (or its diagnosis, if earlier) to its last one.

Whether it is *ongoing*: for a window that ends now, the workload's live status
decides (a Deployment/StatefulSet/DaemonSet that is fully available is resolved, whatever its terminating pods
still emit); for a window in the past, Warnings near its end with no executed plan on the workload afterwards.

Pods are folded into the workload their name says they belong to
(``billing-api-7d9f8c6b5-x2x9q`` → ``billing-api``), because pod names change with every restart of a rollout
while the workload is what users lost.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any

from kubecopilot.postmortems._collect import Collected

__all__ = ["Analysis", "analyse", "workload_of"]

_SEVERITY_ORDER = {"critical": 0, "error": 1, "warning": 2, "info": 3}
_DEPLOY_POD = re.compile(r"^(?P<w>.+)-[a-z0-9]{6,10}-[a-z0-9]{5}$")
_RS = re.compile(r"^(?P<w>.+)-[a-z0-9]{6,10}$")
_SHORT_SUFFIX = re.compile(r"^(?P<w>.+)-[a-z0-9]{5}$")
_ORDINAL = re.compile(r"^(?P<w>.+)-\d+$")

# Follow-ups an SRE would write for each family of root cause (matched on the rule id's words).
_ACTION_ITEMS: list[tuple[tuple[str, ...], str]] = [
    (("oom",), "Size memory limits from observed usage (ws.top / metrics) and alert on OOMKilled restarts"),
    (("image", "pull"), "Pin image tags that exist in the registry and check them in CI before deploying"),
    (("config", "configmap", "secret", "createcontainerconfig"),
     "Validate referenced ConfigMaps/Secrets exist before rollout (a pre-deploy check or a dry-run in CI)"),
    (("crash", "exit", "runcontainer"),
     "Fix the start-up failure quoted in the evidence and add a readiness gate so a crashing version cannot "
     "take all replicas"),
    (("probe", "liveness", "readiness"), "Review probe paths, ports and thresholds against what the app serves"),
    (("schedul", "insufficient", "taint", "affinity", "selector-mismatch", "unschedulable"),
     "Review capacity and placement rules (requests, node selectors, taints) for this workload"),
    (("quota", "limitrange"), "Review the namespace's ResourceQuota/LimitRange against the workload's requests"),
    (("pvc", "storage", "volume", "mount"), "Check StorageClass names and PV provisioning for the claims"),
    (("node", "pressure", "notready"), "Alert on node conditions and keep spare capacity to reschedule"),
    (("hpa", "metrics"), "Set CPU/memory requests on every container an HPA scales"),
    (("service", "endpoint", "ingress"), "Add a check that every Service selects ready pods on a served port"),
    (("rbac", "forbidden"), "Grant the missing permission through a reviewed Role, or stop the call"),
    (("job", "backoff", "cronjob"), "Make the job's failures visible (alert on Failed jobs) and fix the cause"),
]


def workload_of(obj: str) -> str:
    """``pod/ns/billing-api-7d9f8c6b5-x2x9q`` → ``ns/billing-api``; other objects → ``ns/name``."""
    parts = obj.split("/")
    kind, name = parts[0], parts[-1]
    ns = parts[1] if len(parts) == 3 else ""
    if kind == "pod":
        for pattern in (_DEPLOY_POD, _SHORT_SUFFIX, _ORDINAL):
            m = pattern.match(name)
            if m:
                name = m["w"]
                break
    elif kind == "replicaset":
        m = _RS.match(name)
        name = m["w"] if m else name
    elif kind == "job":
        pass
    return f"{ns}/{name}" if ns else name


def _plan_times(plan: dict[str, Any]) -> dict[str, Any]:
    body = plan["body"]
    audit = body.get("audit") or {}
    ts = audit.get("timestamps") or {}
    return {k: _as_dt(v) for k, v in ts.items()}


def _as_dt(value: Any) -> dt.datetime | None:
    if value is None or isinstance(value, dt.datetime):
        return value
    try:
        parsed = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed.astimezone(dt.UTC).replace(tzinfo=None) if parsed.tzinfo else parsed


def _plan_target(plan: dict[str, Any]) -> str:
    res = plan["body"].get("resource") or {}
    kind = str(res.get("kind") or "object").lower()
    return "/".join([kind] + ([res["namespace"]] if res.get("namespace") else []) + [res.get("name") or "?"])


@dataclass
class Analysis:
    timeline: list[dict[str, Any]] = field(default_factory=list)
    impact: list[dict[str, Any]] = field(default_factory=list)
    root_causes: list[dict[str, Any]] = field(default_factory=list)
    actions: list[dict[str, Any]] = field(default_factory=list)
    action_items: list[str] = field(default_factory=list)
    chain: list[dict[str, Any]] = field(default_factory=list)


def _timeline(c: Collected) -> list[dict[str, Any]]:
    rows = [{"ts": e["first"], "source": "cluster", "object": e["object"],
             "what": f"{e['type']} {e['reason']}".strip(),
             "detail": e["message"] + (f" (x{e['count']}, last {e['last']:%H:%M:%S})" if e["count"] > 1 else ""),
             "actor": e["source"], "severity": "warning" if e["type"] == "Warning" else "info"}
            for e in c.cluster_events]
    for a in c.audit:
        p = a["payload"]
        detail = p.get("summary") or p.get("reason") or p.get("cause") or ""
        if not detail and a["action"].startswith("diagnosis"):
            rules = p.get("rules") or p.get("rule_ids") or []
            detail = f"{p.get('findings', len(rules))} finding(s)" + (f": {', '.join(map(str, rules[:4]))}"
                                                                         if rules else "")
        rows.append({"ts": a["ts"], "source": "audit", "object": a["object"] or "", "what": a["action"],
                     "detail": str(detail), "actor": a["actor"],
                     "severity": "error" if a["action"].endswith(("failed", "reverted")) else "info"})
    rows.sort(key=lambda r: (r["ts"], 0 if r["source"] == "cluster" else 1))
    return rows


def _impact(c: Collected, executed_plans: list[tuple[str, dt.datetime]], ongoing_grace: dt.timedelta,
            now: dt.datetime) -> list[dict[str, Any]]:
    by_workload: dict[str, dict[str, Any]] = {}
    for e in c.cluster_events:
        if e["type"] != "Warning":
            continue
        key = f"{e['kind'] if e['kind'] in ('node', 'persistentvolumeclaim', 'service', 'ingress') else 'workload'}" \
              f":{workload_of(e['object'])}"
        w = by_workload.setdefault(key, {"object": workload_of(e["object"]), "kind": key.split(":", 1)[0],
                                         "first": e["first"], "last": e["last"], "warnings": 0,
                                         "reasons": set(), "objects": set()})
        w["first"] = min(w["first"], max(e["first"], c.since))
        w["last"] = max(w["last"], min(e["last"], c.until))
        w["warnings"] += e["count"]
        w["reasons"].add(e["reason"])
        w["objects"].add(e["object"])
    # A diagnosed root cause is impact too, from when it was diagnosed, even before any Warning event about it
    # arrived (an OOMKilled container is a status, not an event; BackOff warnings only follow the restart).
    for d in c.diagnoses:
        for f in d["body"].get("findings") or []:
            if f.get("caused_by") or not f.get("object"):
                continue
            kind = str(f["object"]).split("/", 1)[0]
            group = kind if kind in ("node", "persistentvolumeclaim", "service", "ingress") else "workload"
            key = f"{group}:{workload_of(f['object'])}"
            seen = max(d["created"], c.since)
            w = by_workload.setdefault(key, {"object": workload_of(f["object"]), "kind": group, "first": seen,
                                             "last": seen, "warnings": 0, "reasons": set(), "objects": set()})
            w["first"] = min(w["first"], seen)
            w["reasons"].add(str(f.get("rule") or "diagnosed"))
            w["objects"].add(f["object"])
    end_of_window = min(c.until, now)
    out = []
    for w in by_workload.values():
        fixed_at = [ts for target, ts in executed_plans
                    if workload_of(target) == w["object"] and ts >= w["first"]]
        recent = (end_of_window - w["last"]) <= ongoing_grace
        if recent and w["object"] in c.live_health and (now - end_of_window) <= ongoing_grace:
            ongoing = not c.live_health[w["object"]]  # the window ends now: ask the workload itself
        else:
            ongoing = recent and not any(ts >= w["last"] for ts in fixed_at)
        end = end_of_window if ongoing else w["last"]
        out.append({
            "object": w["object"], "kind": w["kind"], "start": w["first"], "end": end,
            "minutes": round((end - w["first"]).total_seconds() / 60, 1),
            "status": "ongoing" if ongoing else "resolved",
            "warnings": w["warnings"], "reasons": ", ".join(sorted(w["reasons"])),
            "objects": len(w["objects"]), "fixed_by_plan_at": min(fixed_at) if fixed_at else None,
        })
    out.sort(key=lambda r: (-r["minutes"], r["object"]))
    return out


def _root_causes(c: Collected) -> list[dict[str, Any]]:
    seen: dict[str, dict[str, Any]] = {}
    for d in c.diagnoses:
        for f in d["body"].get("findings") or []:
            if f.get("caused_by"):
                continue
            key = f.get("key") or f"{f.get('rule')}:{f.get('object')}"
            if c.namespace and (f.get("object") or "").count("/") == 2 and \
                    f["object"].split("/")[1] != c.namespace:
                continue
            evidence = f.get("evidence") or []
            quote = ""
            if evidence:
                first = evidence[0]
                quote = first.get("quote", "") if isinstance(first, dict) else str(first)
            prev = seen.get(key)
            row = {"rule": f.get("rule"), "severity": f.get("severity") or "warning", "object": f.get("object"),
                   "cause": f.get("cause"), "evidence": quote, "diagnosis_id": d["id"], "seen": d["created"],
                   "times_seen": (prev["times_seen"] + 1) if prev else 1}
            if prev:
                row["seen"] = prev["seen"]
            seen[key] = row
    rows = list(seen.values())
    rows.sort(key=lambda r: (_SEVERITY_ORDER.get(r["severity"], 9), r["seen"], r["object"] or ""))
    return rows


def _actions(c: Collected) -> list[dict[str, Any]]:
    approvals: dict[str, str] = {}
    for a in c.audit:
        if a["action"] == "plan.approved" and a["plan_id"]:
            approvals[a["plan_id"]] = a["actor"]
    rows = []
    for p in c.plans:
        body, audit = p["body"], p["body"].get("audit") or {}
        times = _plan_times(p)
        risk = body.get("risk") or {}
        rows.append({
            "plan_id": p["id"], "action": body.get("action"), "object": _plan_target(p), "status": p["status"],
            "summary": body.get("summary") or body.get("description") or "",
            "risk": risk.get("level"), "requested_by": audit.get("requestedBy"),
            "approved_by": audit.get("confirmedBy") or approvals.get(p["id"]), "executed_by": audit.get("executedBy"),
            "created": times.get("created") or p["created"], "executed": times.get("executed"),
        })
    rows.sort(key=lambda r: (r["created"], r["plan_id"]))
    return rows


def _action_items(root_causes: list[dict[str, Any]], actions: list[dict[str, Any]],
                  impact: list[dict[str, Any]]) -> list[str]:
    items: list[str] = []
    for r in impact:
        if r["status"] == "ongoing":
            items.append(f"{r['object']} is still failing at the end of the window ({r['reasons']}): resolve it first")
    for rc in root_causes:
        words = str(rc.get("rule") or "").lower()
        for keys, text in _ACTION_ITEMS:
            if any(k in words for k in keys):
                item = f"{text} — {rc['object']} ({rc['rule']})"
                if item not in items:
                    items.append(item)
                break
        else:
            items.append(f"Follow up on {rc['rule']} for {rc['object']}: {rc['cause']}")
    for a in actions:
        if a["status"] in ("failed", "reverted"):
            items.append(f"Find out why plan {a['plan_id'][:8]} ({a['action']} {a['object']}) ended {a['status']}")
        elif a["status"] in ("pending", "confirmed"):
            items.append(f"Decide on plan {a['plan_id'][:8]} ({a['action']} {a['object']}): still {a['status']}")
    if root_causes and not actions:
        items.append("No change was planned for the root cause in this window: confirm it is fixed")
    return items


def _chain(c: Collected) -> list[dict[str, Any]]:
    rows = []
    for d in c.diagnoses:
        exp = d["body"].get("explanation") or {}
        chain = exp.get("chain") if isinstance(exp, dict) else None
        status = d["body"].get("llm_status") or (chain or {}).get("status") or "rules-only"
        rows.append({"diagnosis_id": d["id"], "target": d["body"].get("target") or d["body"].get("namespace"),
                     "engine": "rules" + ("+llm" if chain else ""), "llm_status": status,
                     "prompt": (f"{chain.get('prompt_id')}@{chain.get('prompt_version')}" if chain else None),
                     "model": (chain or {}).get("model"), "confidence": (chain or {}).get("confidence")})
    for p in c.plans:
        prompt = (p["body"].get("audit") or {}).get("sourcePromptId")
        if prompt:
            rows.append({"plan_id": p["id"], "target": _plan_target(p), "engine": "llm intent", "prompt": prompt,
                         "llm_status": "llm", "model": None, "confidence": None})
    return rows


def analyse(c: Collected, *, now: dt.datetime, ongoing_grace: dt.timedelta = dt.timedelta(minutes=2)) -> Analysis:
    actions = _actions(c)
    executed = [(a["object"], a["executed"]) for a in actions if a["status"] == "executed" and a["executed"]]
    impact = _impact(c, executed, ongoing_grace, now)
    roots = _root_causes(c)
    return Analysis(timeline=_timeline(c), impact=impact, root_causes=roots, actions=actions,
                    action_items=_action_items(roots, actions, impact), chain=_chain(c))
