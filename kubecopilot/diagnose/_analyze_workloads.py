"""Workload analyzers: Deployments, ReplicaSets, StatefulSets, DaemonSets, Jobs, CronJobs and HPAs.

Semantics followed:
- ``Progressing=False/ProgressDeadlineExceeded`` is the Deployment controller's verdict that a rollout failed; the
  reason its new pods never became available is folded into that finding by the ranking step.
- Unavailable replicas are a symptom: the finding follows from whatever its pods or ReplicaSets show.
- Pod creation refused by admission shows up on the creating controller (ReplicaSet, StatefulSet, DaemonSet,
  Job) as ``ReplicaFailure`` / ``FailedCreate``: a ResourceQuota, a LimitRange, RBAC or another admission check.
- A Job's pods with restartPolicy Never are its attempts: the Job finding quotes why they failed. A CronJob is
  failing when its most recent finished Job failed (a later success means it recovered).
- An HPA with ``ScalingActive=False`` cannot compute its metric; "missing request for cpu" means the target's
  containers set no CPU request, so utilisation is undefined. ``ScalingLimited`` is not a problem.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any

from kubecopilot.diagnose._explain import workload_of
from kubecopilot.diagnose._findings import Evidence, Finding
from kubecopilot.diagnose._logs import explaining_line
from kubecopilot.diagnose._snapshot import Snapshot
from kubecopilot.diagnose._util import age_seconds, format_cpu, obj_ref, parse_quantity, parse_time
from kubecopilot.plans import PlanIntent

__all__ = ["analyze_workloads", "classify_create_failure"]

_RECENT = 900.0
_UNAVAILABLE_GRACE = 30.0


def analyze_workloads(snap: Snapshot) -> list[Finding]:
    out: list[Finding] = []
    for d in snap.all("Deployment"):
        out += _deployment(snap, d)
    for kind in ("ReplicaSet", "StatefulSet", "DaemonSet", "Job"):
        for obj in snap.all(kind):
            f = _create_failure(snap, obj, kind)
            if f is not None:
                out.append(f)
    for s in snap.all("StatefulSet"):
        out += _replicas("StatefulSet", snap, s, int((s.get("spec") or {}).get("replicas", 1) or 0),
                         int((s.get("status") or {}).get("readyReplicas") or 0))
    for d in snap.all("DaemonSet"):
        st = d.get("status") or {}
        out += _replicas("DaemonSet", snap, d, int(st.get("desiredNumberScheduled") or 0),
                         int(st.get("numberReady") or 0))
    for j in snap.all("Job"):
        if (snap.controller_ref(j) or {}).get("kind") == "CronJob":
            continue
        f = _job(snap, j)
        if f is not None:
            out.append(f)
    for cj in snap.all("CronJob"):
        out += _cronjob(snap, cj)
    for hpa in snap.all("HorizontalPodAutoscaler"):
        f = _hpa(snap, hpa)
        if f is not None:
            out.append(f)
    return out


def _cond(obj: dict[str, Any], ctype: str) -> dict[str, Any] | None:
    return next((c for c in (obj.get("status") or {}).get("conditions") or [] if c.get("type") == ctype), None)


# -- Deployments ------------------------------------------------------------------------------------------------

def _deployment(snap: Snapshot, d: dict[str, Any]) -> list[Finding]:
    ref = snap.ref(d, "Deployment")
    spec, status = d.get("spec") or {}, d.get("status") or {}
    out = []
    if spec.get("paused"):
        return []
    progressing = _cond(d, "Progressing")
    if progressing and progressing.get("status") == "False" and progressing.get("reason") == "ProgressDeadlineExceeded":
        deadline = spec.get("progressDeadlineSeconds", 600)
        cause = (f"the rollout made no progress within progressDeadlineSeconds ({deadline} s): "
                 f"ProgressDeadlineExceeded ({progressing.get('message', '')})")
        intent = _rollback_intent(snap, d)
        if intent is not None:
            cause += f"; {intent.reason}"
        out.append(Finding("deployment.progress-deadline", "error", ref, cause,
                           [Evidence("field", f"{ref} .status.conditions[Progressing]",
                                     f"False ProgressDeadlineExceeded: {progressing.get('message', '')}")], intent
                           ).follows(ref))
    wanted = int(spec.get("replicas", 1) if spec.get("replicas") is not None else 1)
    available = int(status.get("availableReplicas") or 0)
    if wanted > 0 and available < wanted:
        created = age_seconds((d.get("metadata") or {}).get("creationTimestamp"), snap.now)
        updated = age_seconds((progressing or {}).get("lastUpdateTime"), snap.now)
        quiet = min(x for x in (created, updated, 1e9) if x is not None)
        if quiet >= _UNAVAILABLE_GRACE or out:
            avail_cond = _cond(d, "Available") or {}
            severity = "error" if available == 0 else "warning"
            out.append(Finding("deployment.unavailable", severity, ref,
                               f"{available}/{wanted} replicas available",
                               [Evidence("field", f"{ref} .status", f"availableReplicas {available}, replicas "
                                         f"{wanted}; Available={avail_cond.get('status', '?')} "
                                         f"({avail_cond.get('reason', '')})")]).follows(ref))
    return out


def _rollback_intent(snap: Snapshot, d: dict[str, Any]) -> PlanIntent | None:
    meta = d.get("metadata") or {}
    current = (meta.get("annotations") or {}).get("deployment.kubernetes.io/revision")
    older = []
    for rs in snap.children(d):
        rev = ((rs.get("metadata") or {}).get("annotations") or {}).get("deployment.kubernetes.io/revision")
        if rev and rev != current and str(rev).isdigit():
            older.append(int(rev))
    if not older:
        return None
    rev = max(older)
    return PlanIntent(action="rollback", kind="deployment", name=meta.get("name", ""), namespace=meta.get("namespace"),
                      parameters={"revision": rev}, reason=f"roll back to revision {rev}, the last one before this "
                      "rollout", source="rule:deployment.progress-deadline")


def _replicas(kind: str, snap: Snapshot, obj: dict[str, Any], wanted: int, ready: int) -> list[Finding]:
    if wanted <= 0 or ready >= wanted:
        return []
    ref = snap.ref(obj, kind)
    age = age_seconds((obj.get("metadata") or {}).get("creationTimestamp"), snap.now)
    if age is not None and age < _UNAVAILABLE_GRACE:
        return []
    return [Finding(f"{kind.lower()}.unavailable", "error" if ready == 0 else "warning", ref,
                    f"{ready}/{wanted} pods ready",
                    [Evidence("field", f"{ref} .status", f"ready {ready} of {wanted}")]).follows(ref)]


# -- pod creation refused ---------------------------------------------------------------------------------------

_QUOTA = re.compile(r"exceeded quota: ([\w.-]+), requested: ([^,]+(?:,[^,]+?)*?), used: (.+?), limited: (.+)$")


def classify_create_failure(message: str) -> tuple[str, str]:
    """(rule, one-line cause) for a controller's FailedCreate message."""
    msg = re.sub(r"^\(combined from similar events\):\s*", "", message.strip())
    msg = re.sub(r"^Error creating:\s*", "", msg)
    m = _QUOTA.search(msg)
    if m:
        quota, requested, used, limited = m.groups()
        return "quota.exceeded", (f"ResourceQuota {quota} rejects its pods: each requests {requested}, "
                                  f"{used} is used, the quota allows {limited}")
    m = re.search(r"failed quota: ([\w.-]+): (.+)$", msg)
    if m:
        return "quota.exceeded", f"ResourceQuota {m.group(1)} rejects its pods: {m.group(2)}"
    m = re.search(r"(maximum|minimum) ([\w.-]+) usage per (Container|Pod|PersistentVolumeClaim) is ([^,]+), "
                  r"but (limit|request) is ([^.,]+)", msg)
    if m:
        bound, res, scope, value, which, have = m.groups()
        word = "above the LimitRange maximum" if bound == "maximum" else "below the LimitRange minimum"
        return "limitrange.rejected", (f"a LimitRange rejects its pods: the {res} {which} {have} is {word} "
                                       f"{value} per {scope}")
    if "limitrange" in msg.lower() or re.search(r"must be less than or equal to .* limit", msg):
        return "limitrange.rejected", f"a LimitRange rejects its pods: {msg[:200]}"
    m = re.search(r'User "([^"]+)" cannot (\w+) resource "([^"]+)"', msg)
    if m:
        return "rbac.forbidden", f"{m.group(1)} may not {m.group(2)} {m.group(3)}: {msg[:200]}"
    if "podsecurity" in msg.lower() or "podsecuritypolicy" in msg.lower() or "violates" in msg.lower():
        return "admission.rejected", f"an admission policy rejects its pods: {msg[:200]}"
    m = re.search(r'serviceaccount "([^"]+)" not found', msg)
    if m:
        return "workload.failed-create", f"its pods name ServiceAccount {m.group(1)}, which does not exist"
    return "workload.failed-create", f"the controller cannot create its pods: {msg[:200]}"


def _create_failure(snap: Snapshot, obj: dict[str, Any], kind: str) -> Finding | None:
    """``ReplicaFailure=True`` or recent FailedCreate events while the controller is short of pods."""
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    if kind == "ReplicaSet" or kind == "StatefulSet":
        short = int(status.get("replicas") or 0) < int(spec.get("replicas", 1) or 0)
    elif kind == "DaemonSet":
        short = int(status.get("currentNumberScheduled") or 0) < int(status.get("desiredNumberScheduled") or 0)
    else:  # Job
        short = not _cond_true(obj, "Complete") and not _cond_true(obj, "Failed") and not status.get("active")
    if not short:
        return None
    cond = _cond(obj, "ReplicaFailure")
    events = snap.events_for(obj, kind, reason="FailedCreate", warning=True, within=_RECENT)
    message = None
    if cond and cond.get("status") == "True":
        message = cond.get("message")
    if events:
        message = events[-1].get("message") or message
    if not message:
        return None
    rule, cause = classify_create_failure(message)
    ref = snap.ref(obj, kind)
    evidence = []
    if events:
        e = events[-1]
        count = e.get("count") or 1
        evidence.append(Evidence("event", ref, f"Warning FailedCreate{f' (x{count})' if count > 1 else ''}: "
                                               f"{e.get('message', '')}"))
    elif cond:
        evidence.append(Evidence("field", f"{ref} .status.conditions[ReplicaFailure]", cond.get("message", "")))
    intent = _limitrange_intent(snap, obj, message) if rule == "limitrange.rejected" else None
    if rule == "quota.exceeded":
        quota = re.search(r"quota: ([\w.-]+)", message)
        if quota:
            q = snap.get("ResourceQuota", (obj.get("metadata") or {}).get("namespace"), quota.group(1))
            if q is not None:
                hard = (q.get("status") or {}).get("hard") or (q.get("spec") or {}).get("hard") or {}
                used = (q.get("status") or {}).get("used") or {}
                evidence.append(Evidence("object", snap.ref(q, "ResourceQuota"), "hard " + ", ".join(
                    f"{k}={v}" for k, v in sorted(hard.items())) + "; used " + ", ".join(
                    f"{k}={v}" for k, v in sorted(used.items()))))
    return Finding(rule, "error", ref, cause, evidence, intent)


def _limitrange_intent(snap: Snapshot, obj: dict[str, Any], message: str) -> PlanIntent | None:
    m = re.search(r"maximum (cpu|memory) usage per Container is ([^,]+), but limit is ([^.,\s]+)", message)
    if not m:
        return None
    res, maximum, have = m.groups()
    target = workload_of(snap, obj) or ((snap.kind_of(obj).lower(), (obj.get("metadata") or {}).get("namespace"),
                                         (obj.get("metadata") or {}).get("name")) if snap.kind_of(obj) in
                                        ("StatefulSet", "DaemonSet") else None)
    if target is None:
        return None
    template = ((obj.get("spec") or {}).get("template") or {}).get("spec") or {}
    for c in template.get("containers") or []:
        limit = ((c.get("resources") or {}).get("limits") or {}).get(res)
        if limit is not None and parse_quantity(limit) == parse_quantity(have):
            return PlanIntent(action="set_resources", kind=target[0], name=target[2], namespace=target[1],
                              parameters={"container": c.get("name"), "limits": {res: maximum.strip()}},
                              reason=f"lower the {res} limit of {c.get('name')} from {have} to the LimitRange "
                                     f"maximum {maximum.strip()} (or raise the LimitRange)",
                              source="rule:limitrange.rejected")
    return None


# -- Jobs and CronJobs ------------------------------------------------------------------------------------------

def _cond_true(obj: dict[str, Any], ctype: str) -> bool:
    c = _cond(obj, ctype)
    return bool(c and c.get("status") == "True")


def _pod_failure(snap: Snapshot, job: dict[str, Any]) -> tuple[str, list[Evidence]]:
    """Why a Job's pods failed: the latest failed pod's termination and the log line that explains it."""
    pods = [p for p in snap.children(job) if snap.kind_of(p) == "Pod"]
    failed = []
    for p in pods:
        for cs in (p.get("status") or {}).get("containerStatuses") or []:
            t = (cs.get("state") or {}).get("terminated") or (cs.get("lastState") or {}).get("terminated")
            if t and t.get("exitCode") not in (0, None):
                failed.append((parse_time(t.get("finishedAt")) or parse_time(
                    (p.get("metadata") or {}).get("creationTimestamp")), p, cs, t))
    if not failed:
        return "", []
    failed.sort(key=lambda x: x[0].timestamp() if x[0] else 0)
    _, pod, cs, t = failed[-1]
    meta = pod.get("metadata") or {}
    ref = snap.ref(pod, "Pod")
    name = cs.get("name", "")
    log = snap.log(meta.get("namespace") or "", meta.get("name") or "", name, False) \
        or snap.log(meta.get("namespace") or "", meta.get("name") or "", name, True)
    line = explaining_line(log)
    reason = t.get("reason") or "Error"
    text = f"its pods exit {t.get('exitCode')} ({reason})"
    if reason == "OOMKilled":
        text = "its pods are OOMKilled"
    if line:
        text += f": {line!r}"
    evidence = [Evidence("field", f"{ref} .status.containerStatuses[{name}].state.terminated",
                         f"reason {reason}, exit code {t.get('exitCode')}")]
    if line:
        evidence.insert(0, Evidence("log", f"{ref} {name}", line))
    return text, evidence


def _job(snap: Snapshot, job: dict[str, Any]) -> Finding | None:
    ref = snap.ref(job, "Job")
    failed = _cond(job, "Failed")
    spec, status = job.get("spec") or {}, job.get("status") or {}
    if failed and failed.get("status") == "True":
        reason = failed.get("reason") or ""
        rule = {"BackoffLimitExceeded": "job.backoff-limit", "DeadlineExceeded": "job.deadline-exceeded"}.get(
            reason, "job.failed")
        why, evidence = _pod_failure(snap, job)
        attempts = int(status.get("failed") or 0)
        head = {"job.backoff-limit": f"Job failed after {attempts} failed attempt(s): BackoffLimitExceeded "
                                     f"(backoffLimit {spec.get('backoffLimit', 6)})",
                "job.deadline-exceeded": f"Job failed: DeadlineExceeded (activeDeadlineSeconds "
                                         f"{spec.get('activeDeadlineSeconds')})"}.get(rule, f"Job failed: {reason}")
        cause = head + (f"; {why}" if why else f" ({failed.get('message', '')})")
        evidence.insert(0, Evidence("field", f"{ref} .status.conditions[Failed]",
                                    f"True {reason}: {failed.get('message', '')}"))
        return Finding(rule, "error", ref, cause, evidence).follows(ref)
    if _cond_true(job, "Complete"):
        return None
    if int(status.get("failed") or 0) > 0 and status.get("active"):
        why, evidence = _pod_failure(snap, job)
        return Finding("job.pods-failing", "warning", ref,
                       f"{status.get('failed')} attempt(s) failed so far; the Job is retrying"
                       + (f"; {why}" if why else ""), evidence).follows(ref)
    return None


def _cronjob(snap: Snapshot, cj: dict[str, Any]) -> list[Finding]:
    ref = snap.ref(cj, "CronJob")
    spec = cj.get("spec") or {}
    out = []
    if spec.get("suspend"):
        meta = cj.get("metadata") or {}
        out.append(Finding("cronjob.suspended", "info", ref, "the CronJob is suspended: it schedules no Jobs",
                           [Evidence("field", f"{ref} .spec.suspend", "true")],
                           PlanIntent(action="resume", kind="cronjob", name=meta.get("name", ""),
                                      namespace=meta.get("namespace"), reason="resume the suspended CronJob",
                                      source="rule:cronjob.suspended")))
    jobs = [j for j in snap.children(cj) if snap.kind_of(j) == "Job"]
    finished = []
    for j in jobs:
        if _cond_true(j, "Failed") or _cond_true(j, "Complete"):
            t = parse_time((j.get("status") or {}).get("completionTime")) or parse_time(
                (_cond(j, "Failed") or _cond(j, "Complete") or {}).get("lastTransitionTime")) or parse_time(
                (j.get("metadata") or {}).get("creationTimestamp"))
            finished.append((t.timestamp() if t else 0.0, j))
    finished.sort(key=lambda x: x[0])
    if finished and _cond_true(finished[-1][1], "Failed"):
        failed = [j for _, j in finished if _cond_true(j, "Failed")]
        last = finished[-1][1]
        lc = _cond(last, "Failed") or {}
        why, evidence = _pod_failure(snap, last)
        cause = (f"its last {'Job' if len(failed) == 1 else f'{len(failed)} of {len(finished)} finished Jobs'} "
                 f"failed ({lc.get('reason', 'Failed')}, Job {(last.get('metadata') or {}).get('name')})")
        if why:
            cause += f": {why}"
        evidence.insert(0, Evidence("field", f"{snap.ref(last, 'Job')} .status.conditions[Failed]",
                                    f"True {lc.get('reason', '')}: {lc.get('message', '')}"))
        out.append(Finding("cronjob.failing", "error", ref, cause, evidence).follows(ref))
    else:
        events = [e for e in snap.events_for(cj, "CronJob", warning=True, within=_RECENT)
                  if e.get("reason") not in ("SawCompletedJob",)]
        if events and not finished:
            e = events[-1]
            out.append(Finding("cronjob.failing", "error", ref, f"the CronJob cannot run its Jobs: {e.get('reason')}:"
                               f" {e.get('message', '')}", [Evidence("event", ref, f"Warning {e.get('reason')}: "
                                                                                    f"{e.get('message', '')}")]))
    return out


# -- HPA --------------------------------------------------------------------------------------------------------

def _hpa_conditions(hpa: dict[str, Any]) -> list[dict[str, Any]]:
    conds = list((hpa.get("status") or {}).get("conditions") or [])
    if not conds:  # autoscaling/v1 keeps them in an annotation
        raw = ((hpa.get("metadata") or {}).get("annotations") or {}).get("autoscaling.alpha.kubernetes.io/conditions")
        try:
            conds = json.loads(raw) if raw else []
        except ValueError:
            conds = []
    return conds


def _hpa(snap: Snapshot, hpa: dict[str, Any]) -> Finding | None:
    ref = snap.ref(hpa, "HorizontalPodAutoscaler")
    meta, spec = hpa.get("metadata") or {}, hpa.get("spec") or {}
    ns = meta.get("namespace")
    conds = {c.get("type"): c for c in _hpa_conditions(hpa)}
    target = spec.get("scaleTargetRef") or {}
    tkind, tname = str(target.get("kind", "")), str(target.get("name", ""))
    tref = obj_ref(tkind, ns, tname)
    able = conds.get("AbleToScale")
    if able and able.get("status") == "False":
        return Finding("hpa.unable-to-scale", "error", ref,
                       f"the HPA cannot scale {tref}: {able.get('reason')}: {able.get('message', '')}",
                       [Evidence("field", f"{ref} .status.conditions[AbleToScale]",
                                 f"False {able.get('reason')}: {able.get('message', '')}")]).follows(tref)
    active = conds.get("ScalingActive")
    message = ""
    if active and active.get("status") == "False" and active.get("reason") != "ScalingDisabled":
        message = active.get("message") or ""
        evidence = [Evidence("field", f"{ref} .status.conditions[ScalingActive]",
                             f"False {active.get('reason')}: {message}")]
    else:
        events = snap.events_for(hpa, "HorizontalPodAutoscaler", reason="FailedGetResourceMetric", within=300)
        if not events or conds:
            return None
        message = events[-1].get("message") or ""
        evidence = []
    events = snap.events_for(hpa, "HorizontalPodAutoscaler", reason="FailedGetResourceMetric", within=_RECENT)
    if events:
        e = events[-1]
        evidence.append(Evidence("event", ref, f"Warning FailedGetResourceMetric (x{e.get('count') or 1}): "
                                               f"{e.get('message', '')}"))
    m = re.search(r"missing request for (\w+)", message) or next(
        (re.search(r"missing request for (\w+)", e.get("message") or "") for e in events[-1:]), None)
    if m:
        resource = m.group(1)
        workload = snap.get(tkind, ns, tname)
        template = (((workload or {}).get("spec") or {}).get("template") or {}).get("spec") or {}
        missing = [c.get("name") for c in template.get("containers") or []
                   if resource not in ((c.get("resources") or {}).get("requests") or {})]
        goal = _utilisation_target(spec, resource)
        cause = (f"the HPA scales {tref} on {resource} utilisation{goal} but "
                 + (f"container(s) {', '.join(missing)} request no {resource}" if missing
                    else f"its pods request no {resource}")
                 + f": utilisation is undefined (missing request for {resource}), so it never scales")
        intent = _request_intent(snap, hpa, workload, tkind, ns, tname, missing, resource)
        if workload is not None and missing:
            evidence.append(Evidence("field", f"{tref} .spec.template.spec.containers[{missing[0]}].resources",
                                     json.dumps(next((c.get("resources") or {} for c in template.get("containers")
                                                      or [] if c.get("name") == missing[0]), {}))))
        return Finding("hpa.missing-requests", "warning", ref, cause, evidence, intent).follows()
    return Finding("hpa.metrics-unavailable", "warning", ref,
                   f"the HPA cannot compute its metrics for {tref}: {message[:200]}", evidence)


def _utilisation_target(spec: dict[str, Any], resource: str) -> str:
    if spec.get("targetCPUUtilizationPercentage") and resource == "cpu":
        return f" (target {spec['targetCPUUtilizationPercentage']}%)"
    for m in spec.get("metrics") or []:
        res = m.get("resource") or {}
        if res.get("name") == resource:
            target = res.get("target") or {}
            pct = target.get("averageUtilization") or res.get("targetAverageUtilization")
            if pct:
                return f" (target {pct}%)"
    return ""


def _request_intent(snap: Snapshot, hpa: dict[str, Any], workload: dict[str, Any] | None, kind: str, ns: str | None,
                    name: str, containers: list[str], resource: str) -> PlanIntent | None:
    """Set the missing request from what the pods use now (PodMetrics), with 20% headroom; no guess without data."""
    if workload is None or len(containers) != 1 or resource != "cpu" or kind not in ("Deployment", "StatefulSet"):
        return None
    usage: list[Decimal] = []
    selector = ((workload.get("spec") or {}).get("selector") or {})
    pods = {(p.get("metadata") or {}).get("name") for p in snap.selected_pods(ns or "", selector)}
    for pm in snap.in_ns("PodMetrics", ns):
        if (pm.get("metadata") or {}).get("name") not in pods:
            continue
        for c in pm.get("containers") or []:
            if c.get("name") == containers[0]:
                v = parse_quantity((c.get("usage") or {}).get("cpu"))
                if v is not None:
                    usage.append(v)
    if not usage:
        return None
    milli = max(10, int((max(usage) * Decimal("1.2") * 1000 + 9) // 10 * 10))
    value = format_cpu(Decimal(milli) / 1000)
    return PlanIntent(action="set_resources", kind=kind.lower(), name=name, namespace=ns,
                      parameters={"container": containers[0], "requests": {"cpu": value}},
                      reason=f"request {value} cpu for {containers[0]} (observed use {format_cpu(max(usage))} "
                             "+ 20%), so the HPA can compute utilisation",
                      source="rule:hpa.missing-requests")

