"""kubectl-like columns per kind: pure functions over raw JSON dicts (no client models, no cluster).

`columns_for(group, kind, namespaced)` returns the column names and a ``row(obj, now) -> tuple`` function. Known
kinds follow kubectl's printers (the Pod STATUS logic is kubectl's: init containers, waiting/terminated reasons,
Terminating, ...); every other kind, CRDs included, gets NAMESPACE, NAME, AGE and LABELS. Secret rows carry key
names and byte sizes, never values.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

__all__ = ["columns_for", "format_label_selector", "human_age", "human_duration", "pod_status", "redact_secret"]

Row = Callable[[dict[str, Any], float], tuple]
NONE = "<none>"


# -- time ----------------------------------------------------------------------------------------------------------
_TS_CACHE: dict[str, float] = {}


def _ts(value: str | None) -> float | None:
    """RFC 3339 (``2024-01-02T03:04:05Z``, optionally with fraction/offset) → epoch seconds."""
    if not value:
        return None
    hit = _TS_CACHE.get(value)
    if hit is not None:
        return hit
    try:
        t = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if t.tzinfo is None:
        t = t.replace(tzinfo=UTC)
    out = t.timestamp()
    if len(_TS_CACHE) < 100_000:
        _TS_CACHE[value] = out
    return out


def human_duration(seconds: float) -> str:
    """kubectl's ``duration.HumanDuration``: 45s, 5m30s, 3h, 2d5h, 400d, 3y20d."""
    if seconds < -1:
        return "<invalid>"
    s = int(max(seconds, 0))
    if s < 120:
        return f"{s}s"
    m = s // 60
    if m < 10:
        return f"{m}m{s % 60}s" if s % 60 else f"{m}m"
    if m < 180:
        return f"{m}m"
    h = m // 60
    if h < 8:
        return f"{h}h{m % 60}m" if m % 60 else f"{h}h"
    if h < 48:
        return f"{h}h"
    d = h // 24
    if h < 24 * 8:
        return f"{d}d{h % 24}h" if h % 24 else f"{d}d"
    if h < 24 * 365 * 2:
        return f"{d}d"
    y = d // 365
    if h < 24 * 365 * 8:
        return f"{y}y{d % 365}d" if d % 365 else f"{y}y"
    return f"{y}y"


def human_age(timestamp: str | None, now: float | None = None) -> str:
    t = _ts(timestamp)
    if t is None:
        return "<unknown>"
    return human_duration((time.time() if now is None else now) - t)


def _meta(obj: dict[str, Any]) -> dict[str, Any]:
    return obj.get("metadata") or {}


def _age(obj: dict[str, Any], now: float) -> str:
    return human_age(_meta(obj).get("creationTimestamp"), now)


def _labels(obj: dict[str, Any]) -> str:
    labels = _meta(obj).get("labels") or {}
    return ",".join(f"{k}={v}" for k, v in labels.items()) or NONE


def _images(spec: dict[str, Any]) -> str:
    return ",".join(c.get("image") or "" for c in spec.get("containers") or [])


def _pod_template(obj: dict[str, Any]) -> dict[str, Any]:
    return ((obj.get("spec") or {}).get("template") or {}).get("spec") or {}


# -- Pod -------------------------------------------------------------------------------------------------------------
def _true_condition(status: dict[str, Any], kind: str) -> bool:
    return any(c.get("type") == kind and c.get("status") == "True" for c in status.get("conditions") or [])


def pod_status(pod: dict[str, Any]) -> tuple[str, int, int, int]:
    """(STATUS, ready containers, total containers, restarts) with kubectl's ``printPod`` logic."""
    spec = pod.get("spec") or {}
    status = pod.get("status") or {}
    meta = _meta(pod)
    init_specs = spec.get("initContainers") or []
    sidecars = {c.get("name") for c in init_specs if c.get("restartPolicy") == "Always"}
    total = len(spec.get("containers") or []) + len(sidecars)
    ready = 0
    restarts = 0
    reason = status.get("reason") or status.get("phase") or "Unknown"
    if any(c.get("type") == "PodScheduled" and c.get("reason") == "SchedulingGated"
           for c in status.get("conditions") or []):
        reason = "SchedulingGated"
    initializing = False
    sidecar_restarts = 0
    init_statuses = status.get("initContainerStatuses") or []
    for i, c in enumerate(init_statuses):
        restarts += c.get("restartCount") or 0
        state = c.get("state") or {}
        term, wait = state.get("terminated"), state.get("waiting")
        if c.get("name") in sidecars:
            sidecar_restarts += c.get("restartCount") or 0
        if term is not None and term.get("exitCode") == 0:
            continue
        if c.get("name") in sidecars and c.get("started"):
            ready += 1 if c.get("ready") else 0
            continue
        if term is not None:
            if term.get("reason"):
                reason = "Init:" + term["reason"]
            elif term.get("signal"):
                reason = f"Init:Signal:{term['signal']}"
            else:
                reason = f"Init:ExitCode:{term.get('exitCode')}"
        elif wait is not None and wait.get("reason") and wait.get("reason") != "PodInitializing":
            reason = "Init:" + wait["reason"]
        else:
            reason = f"Init:{i}/{len(init_specs) or len(init_statuses)}"
        initializing = True
        break
    if not initializing or _true_condition(status, "Initialized"):
        restarts = sidecar_restarts
        has_running = False
        for c in reversed(status.get("containerStatuses") or []):
            restarts += c.get("restartCount") or 0
            state = c.get("state") or {}
            term, wait = state.get("terminated"), state.get("waiting")
            if wait is not None and wait.get("reason"):
                reason = wait["reason"]
            elif term is not None and term.get("reason"):
                reason = term["reason"]
            elif term is not None:
                reason = f"Signal:{term['signal']}" if term.get("signal") else f"ExitCode:{term.get('exitCode')}"
            elif c.get("ready") and state.get("running") is not None:
                has_running = True
                ready += 1
        if reason == "Completed" and has_running:
            reason = "Running" if _true_condition(status, "Ready") else "NotReady"
    if meta.get("deletionTimestamp") and status.get("reason") == "NodeLost":
        reason = "Unknown"
    elif meta.get("deletionTimestamp") and status.get("phase") not in ("Succeeded", "Failed"):
        reason = "Terminating"
    return reason, ready, total, restarts


def _pod(obj: dict[str, Any], now: float) -> tuple:
    reason, ready, total, restarts = pod_status(obj)
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    return (f"{ready}/{total}", reason, restarts, _age(obj, now), spec.get("nodeName") or NONE,
            status.get("podIP") or NONE, _images(spec))


# -- workloads -----------------------------------------------------------------------------------------------------
def _deployment(obj: dict[str, Any], now: float) -> tuple:
    spec, st = obj.get("spec") or {}, obj.get("status") or {}
    return (f"{st.get('readyReplicas') or 0}/{spec.get('replicas', 1)}", st.get("updatedReplicas") or 0,
            st.get("availableReplicas") or 0, _age(obj, now), _images(_pod_template(obj)))


def _replicaset(obj: dict[str, Any], now: float) -> tuple:
    spec, st = obj.get("spec") or {}, obj.get("status") or {}
    return (spec.get("replicas", 1), st.get("replicas") or 0, st.get("readyReplicas") or 0, _age(obj, now),
            _images(_pod_template(obj)))


def _statefulset(obj: dict[str, Any], now: float) -> tuple:
    spec, st = obj.get("spec") or {}, obj.get("status") or {}
    return (f"{st.get('readyReplicas') or 0}/{spec.get('replicas', 1)}", _age(obj, now), _images(_pod_template(obj)))


def _daemonset(obj: dict[str, Any], now: float) -> tuple:
    st = obj.get("status") or {}
    selector = _pod_template(obj).get("nodeSelector") or {}
    return (st.get("desiredNumberScheduled") or 0, st.get("currentNumberScheduled") or 0, st.get("numberReady") or 0,
            st.get("updatedNumberScheduled") or 0, st.get("numberAvailable") or 0,
            ",".join(f"{k}={v}" for k, v in selector.items()) or NONE, _age(obj, now), _images(_pod_template(obj)))


def _job_status(st: dict[str, Any], spec: dict[str, Any]) -> str:
    for c in st.get("conditions") or []:
        if c.get("status") == "True" and c.get("type") in ("Complete", "Failed", "FailureTarget", "Suspended"):
            return {"FailureTarget": "Failed"}.get(c["type"], c["type"])
    if spec.get("suspend"):
        return "Suspended"
    return "Running" if st.get("active") else "Pending" if not st.get("startTime") else "Running"


def _job(obj: dict[str, Any], now: float) -> tuple:
    spec, st = obj.get("spec") or {}, obj.get("status") or {}
    succeeded = st.get("succeeded") or 0
    if spec.get("completions") is not None:
        completions = f"{succeeded}/{spec['completions']}"
    elif (spec.get("parallelism") or 1) > 1:
        completions = f"{succeeded}/1 of {spec['parallelism']}"
    else:
        completions = f"{succeeded}/1"
    start, end = _ts(st.get("startTime")), _ts(st.get("completionTime"))
    duration = human_duration((end or now) - start) if start is not None else ""
    return (_job_status(st, spec), completions, duration, _age(obj, now), _images(_pod_template(obj)))


def _cronjob(obj: dict[str, Any], now: float) -> tuple:
    spec, st = obj.get("spec") or {}, obj.get("status") or {}
    last = st.get("lastScheduleTime")
    return (spec.get("schedule") or "", bool(spec.get("suspend")), len(st.get("active") or []),
            human_age(last, now) if last else NONE, _age(obj, now))


# -- networking -----------------------------------------------------------------------------------------------------
def _ports(ports: list[dict[str, Any]]) -> str:
    out = []
    for p in ports:
        s = str(p.get("port"))
        if p.get("nodePort"):
            s += f":{p['nodePort']}"
        out.append(f"{s}/{p.get('protocol') or 'TCP'}")
    return ",".join(out) or NONE


def _service(obj: dict[str, Any], now: float) -> tuple:
    spec, st = obj.get("spec") or {}, obj.get("status") or {}
    external = [i.get("ip") or i.get("hostname") or "" for i in (st.get("loadBalancer") or {}).get("ingress") or []]
    external += spec.get("externalIPs") or []
    if spec.get("type") == "ExternalName":
        external = [spec.get("externalName") or ""]
    elif not external and spec.get("type") == "LoadBalancer":
        external = ["<pending>"]
    selector = spec.get("selector") or {}
    return (spec.get("type") or "ClusterIP", spec.get("clusterIP") or NONE, ",".join(external) or NONE,
            _ports(spec.get("ports") or []), _age(obj, now),
            ",".join(f"{k}={v}" for k, v in selector.items()) or NONE)


def _ingress(obj: dict[str, Any], now: float) -> tuple:
    spec, st = obj.get("spec") or {}, obj.get("status") or {}
    hosts = [r.get("host") or "*" for r in spec.get("rules") or []]
    address = [i.get("ip") or i.get("hostname") or "" for i in (st.get("loadBalancer") or {}).get("ingress") or []]
    return (spec.get("ingressClassName") or NONE, ",".join(hosts) or "*", ",".join(address),
            "80, 443" if spec.get("tls") else "80", _age(obj, now))


def _endpoints(obj: dict[str, Any], now: float) -> tuple:
    addrs = []
    for s in obj.get("subsets") or []:
        ports = [p.get("port") for p in s.get("ports") or []] or [None]
        for a in s.get("addresses") or []:
            addrs += [f"{a.get('ip')}:{p}" if p else str(a.get("ip")) for p in ports]
    shown = ",".join(addrs[:3]) + (f" + {len(addrs) - 3} more..." if len(addrs) > 3 else "")
    return (shown or NONE, _age(obj, now))


# -- cluster ---------------------------------------------------------------------------------------------------------
def _node(obj: dict[str, Any], now: float) -> tuple:
    spec, st, meta = obj.get("spec") or {}, obj.get("status") or {}, _meta(obj)
    ready = next((c for c in st.get("conditions") or [] if c.get("type") == "Ready"), None)
    status = "Unknown" if ready is None else "Ready" if ready.get("status") == "True" else "NotReady"
    if spec.get("unschedulable"):
        status += ",SchedulingDisabled"
    labels = meta.get("labels") or {}
    roles = sorted({k.split("/", 1)[1] for k in labels if k.startswith("node-role.kubernetes.io/")}
                   | ({labels["kubernetes.io/role"]} if labels.get("kubernetes.io/role") else set()))
    alloc = st.get("allocatable") or st.get("capacity") or {}
    internal = next((a.get("address") for a in st.get("addresses") or [] if a.get("type") == "InternalIP"), NONE)
    return (status, ",".join(r for r in roles if r) or NONE, _age(obj, now),
            (st.get("nodeInfo") or {}).get("kubeletVersion") or "", internal, alloc.get("cpu") or "",
            alloc.get("memory") or "")


def _namespace(obj: dict[str, Any], now: float) -> tuple:
    return ((obj.get("status") or {}).get("phase") or "Active", _age(obj, now))


def _event(obj: dict[str, Any], now: float) -> tuple:
    meta = _meta(obj)
    regarding = obj.get("involvedObject") or obj.get("regarding") or {}
    last = (obj.get("lastTimestamp") or (obj.get("series") or {}).get("lastObservedTime")
            or obj.get("deprecatedLastTimestamp") or obj.get("eventTime") or obj.get("firstTimestamp")
            or meta.get("creationTimestamp"))
    count = obj.get("count") or (obj.get("series") or {}).get("count") or obj.get("deprecatedCount") or 1
    kind = (regarding.get("kind") or "").lower()
    return (human_age(last, now), obj.get("type") or "", obj.get("reason") or "",
            f"{kind}/{regarding.get('name') or ''}" if kind else regarding.get("name") or "",
            count, (obj.get("message") or obj.get("note") or "").strip())


# -- config and storage ------------------------------------------------------------------------------------------------
def _configmap(obj: dict[str, Any], now: float) -> tuple:
    return (len(obj.get("data") or {}) + len(obj.get("binaryData") or {}), _age(obj, now))


def _b64_size(value: str) -> int:
    value = value or ""
    return max(len(value) * 3 // 4 - value[-2:].count("="), 0)


def redact_secret(obj: dict[str, Any]) -> dict[str, Any]:
    """A copy of a Secret without values: ``data`` becomes ``{key: "<redacted: N bytes>"}``, and the
    last-applied-configuration annotation (which would repeat them) is dropped."""
    out = dict(obj)
    sizes = {k: _b64_size(v) for k, v in (obj.get("data") or {}).items()}
    sizes.update({k: len(str(v).encode()) for k, v in (obj.get("stringData") or {}).items()})
    out.pop("stringData", None)
    out["data"] = {k: f"<redacted: {n} bytes>" for k, n in sizes.items()}
    meta = dict(_meta(obj))
    annotations = dict(meta.get("annotations") or {})
    if annotations.pop("kubectl.kubernetes.io/last-applied-configuration", None) is not None:
        annotations["kubectl.kubernetes.io/last-applied-configuration"] = "<redacted>"
        meta["annotations"] = annotations
    meta.pop("managedFields", None)
    out["metadata"] = meta
    return out


def _secret_size(value: str) -> int:
    if str(value).startswith("<redacted: "):
        return int(str(value)[len("<redacted: "):].split(" ", 1)[0])
    return _b64_size(value)


def _secret(obj: dict[str, Any], now: float) -> tuple:
    data = obj.get("data") or {}
    keys = ", ".join(f"{k} ({_secret_size(v)} bytes)" for k, v in data.items())
    return (obj.get("type") or "Opaque", len(data), keys or NONE, _age(obj, now))


_MODES = {"ReadWriteOnce": "RWO", "ReadOnlyMany": "ROX", "ReadWriteMany": "RWX", "ReadWriteOncePod": "RWOP"}


def _modes(spec: dict[str, Any]) -> str:
    return ",".join(_MODES.get(m, m) for m in spec.get("accessModes") or [])


def _pvc(obj: dict[str, Any], now: float) -> tuple:
    spec, st = obj.get("spec") or {}, obj.get("status") or {}
    return (st.get("phase") or "Pending", spec.get("volumeName") or "", (st.get("capacity") or {}).get("storage") or "",
            _modes(st) if st.get("accessModes") else "", spec.get("storageClassName") or NONE, _age(obj, now))


def _pv(obj: dict[str, Any], now: float) -> tuple:
    spec, st = obj.get("spec") or {}, obj.get("status") or {}
    claim = spec.get("claimRef") or {}
    return ((spec.get("capacity") or {}).get("storage") or "", _modes(spec),
            spec.get("persistentVolumeReclaimPolicy") or "", st.get("phase") or "",
            f"{claim.get('namespace')}/{claim.get('name')}" if claim else "", spec.get("storageClassName") or "",
            _age(obj, now))


def _storageclass(obj: dict[str, Any], now: float) -> tuple:
    default = (_meta(obj).get("annotations") or {}).get("storageclass.kubernetes.io/is-default-class") == "true"
    return (obj.get("provisioner") or "", obj.get("reclaimPolicy") or "Delete",
            obj.get("volumeBindingMode") or "Immediate", default, _age(obj, now))


# -- autoscaling / policy ----------------------------------------------------------------------------------------------
def _hpa_targets(spec: dict[str, Any], st: dict[str, Any]) -> str:
    if "targetCPUUtilizationPercentage" in spec:  # autoscaling/v1
        cur = st.get("currentCPUUtilizationPercentage")
        return f"cpu: {'<unknown>' if cur is None else f'{cur}%'}/{spec['targetCPUUtilizationPercentage']}%"
    current = {((m.get("resource") or {}).get("name")): m.get("resource") or {}
               for m in st.get("currentMetrics") or [] if m.get("type") == "Resource"}
    out = []
    for m in spec.get("metrics") or []:
        if m.get("type") != "Resource":
            out.append(f"{m.get('type', '?').lower()}: ...")
            continue
        res = m.get("resource") or {}
        target = res.get("target") or {}
        cur = (current.get(res.get("name")) or {}).get("current") or {}
        if "averageUtilization" in target:
            now_v = cur.get("averageUtilization")
            out.append(f"{res.get('name')}: {'<unknown>' if now_v is None else f'{now_v}%'}/"
                       f"{target['averageUtilization']}%")
        else:
            want = target.get("averageValue") or target.get("value")
            out.append(f"{res.get('name')}: {cur.get('averageValue') or cur.get('value') or '<unknown>'}/{want}")
    return ", ".join(out) or NONE


def _hpa(obj: dict[str, Any], now: float) -> tuple:
    spec, st = obj.get("spec") or {}, obj.get("status") or {}
    ref = spec.get("scaleTargetRef") or {}
    return (f"{ref.get('kind')}/{ref.get('name')}", _hpa_targets(spec, st), spec.get("minReplicas", 1),
            spec.get("maxReplicas"), st.get("currentReplicas") or 0, _age(obj, now))


def _pdb(obj: dict[str, Any], now: float) -> tuple:
    spec, st = obj.get("spec") or {}, obj.get("status") or {}
    return (str(spec.get("minAvailable", "N/A")), str(spec.get("maxUnavailable", "N/A")),
            st.get("disruptionsAllowed") or 0, _age(obj, now))


# -- identity, RBAC and policy ---------------------------------------------------------------------------------------
def format_label_selector(selector: dict[str, Any] | None) -> str:
    """A LabelSelector as kubectl prints it (``metav1.FormatLabelSelector``): requirements sorted by key,
    ``k=v``, ``k in (a,b)``, ``k notin (a)``, ``k``, ``!k``; ``<none>`` when it selects everything."""
    if not selector:
        return NONE
    reqs: list[tuple[str, str]] = [(k, f"{k}={v}") for k, v in (selector.get("matchLabels") or {}).items()]
    for e in selector.get("matchExpressions") or []:
        key, op, values = e.get("key") or "", e.get("operator") or "", sorted(e.get("values") or [])
        text = {"In": f"{key} in ({','.join(values)})", "NotIn": f"{key} notin ({','.join(values)})",
                "Exists": key, "DoesNotExist": f"!{key}"}.get(op, f"{key} {op} ({','.join(values)})")
        reqs.append((key, text))
    return ",".join(t for _, t in sorted(reqs, key=lambda r: r[0])) or NONE


def _created_at(obj: dict[str, Any], now: float) -> tuple:
    """kubectl's CREATED AT column: the creation timestamp in RFC 3339, UTC."""
    t = _ts(_meta(obj).get("creationTimestamp"))
    return (datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if t is not None else "",)


def _serviceaccount(obj: dict[str, Any], now: float) -> tuple:
    return (len(obj.get("secrets") or []), _age(obj, now))


def _rolebinding(obj: dict[str, Any], now: float) -> tuple:
    ref = obj.get("roleRef") or {}
    users, groups, sas = [], [], []
    for s in obj.get("subjects") or []:
        kind = s.get("kind")
        if kind == "User":
            users.append(s.get("name") or "")
        elif kind == "Group":
            groups.append(s.get("name") or "")
        elif kind == "ServiceAccount":
            sas.append(f"{s.get('namespace') or ''}/{s.get('name') or ''}")
    return (f"{ref.get('kind')}/{ref.get('name')}", _age(obj, now), ", ".join(users), ", ".join(groups),
            ", ".join(sas))


def _resourcequota(obj: dict[str, Any], now: float) -> tuple:
    """kubectl's REQUEST / LIMIT: ``used/hard`` per resource of ``spec.hard`` in name order (``limits.*`` go to
    LIMIT); both numbers come from ``status``, ``0`` until the quota controller has filled it in."""
    spec, st = obj.get("spec") or {}, obj.get("status") or {}
    used, hard = st.get("used") or {}, st.get("hard") or {}
    request, limit = [], []
    for r in sorted(spec.get("hard") or {}):
        target = limit if "." in r and r.split(".", 1)[0] == "limits" else request
        target.append(f"{r}: {used.get(r, '0')}/{hard.get(r, '0')}")
    return (_age(obj, now), ", ".join(request), ", ".join(limit))


def _networkpolicy(obj: dict[str, Any], now: float) -> tuple:
    return (format_label_selector((obj.get("spec") or {}).get("podSelector")), _age(obj, now))


def _generic(obj: dict[str, Any], now: float) -> tuple:
    return (_age(obj, now), _labels(obj))


# (group, kind) -> (columns after NAMESPACE/NAME, row function)
_KNOWN: dict[tuple[str, str], tuple[tuple[str, ...], Row]] = {
    ("", "Pod"): (("READY", "STATUS", "RESTARTS", "AGE", "NODE", "IP", "IMAGES"), _pod),
    ("apps", "Deployment"): (("READY", "UP-TO-DATE", "AVAILABLE", "AGE", "IMAGES"), _deployment),
    ("apps", "ReplicaSet"): (("DESIRED", "CURRENT", "READY", "AGE", "IMAGES"), _replicaset),
    ("apps", "StatefulSet"): (("READY", "AGE", "IMAGES"), _statefulset),
    ("apps", "DaemonSet"): (("DESIRED", "CURRENT", "READY", "UP-TO-DATE", "AVAILABLE", "NODE SELECTOR", "AGE",
                             "IMAGES"), _daemonset),
    ("batch", "Job"): (("STATUS", "COMPLETIONS", "DURATION", "AGE", "IMAGES"), _job),
    ("batch", "CronJob"): (("SCHEDULE", "SUSPEND", "ACTIVE", "LAST SCHEDULE", "AGE"), _cronjob),
    ("", "Service"): (("TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORTS", "AGE", "SELECTOR"), _service),
    ("", "Endpoints"): (("ENDPOINTS", "AGE"), _endpoints),
    ("networking.k8s.io", "Ingress"): (("CLASS", "HOSTS", "ADDRESS", "PORTS", "AGE"), _ingress),
    ("", "Node"): (("STATUS", "ROLES", "AGE", "VERSION", "INTERNAL-IP", "CPU", "MEMORY"), _node),
    ("", "Namespace"): (("STATUS", "AGE"), _namespace),
    ("", "Event"): (("LAST SEEN", "TYPE", "REASON", "OBJECT", "COUNT", "MESSAGE"), _event),
    ("events.k8s.io", "Event"): (("LAST SEEN", "TYPE", "REASON", "OBJECT", "COUNT", "MESSAGE"), _event),
    ("", "ConfigMap"): (("DATA", "AGE"), _configmap),
    ("", "Secret"): (("TYPE", "DATA", "KEYS", "AGE"), _secret),
    ("", "PersistentVolumeClaim"): (("STATUS", "VOLUME", "CAPACITY", "ACCESS MODES", "STORAGECLASS", "AGE"), _pvc),
    ("", "PersistentVolume"): (("CAPACITY", "ACCESS MODES", "RECLAIM POLICY", "STATUS", "CLAIM", "STORAGECLASS",
                                "AGE"), _pv),
    ("storage.k8s.io", "StorageClass"): (("PROVISIONER", "RECLAIMPOLICY", "VOLUMEBINDINGMODE", "DEFAULT", "AGE"),
                                         _storageclass),
    ("autoscaling", "HorizontalPodAutoscaler"): (("REFERENCE", "TARGETS", "MINPODS", "MAXPODS", "REPLICAS", "AGE"),
                                                 _hpa),
    ("policy", "PodDisruptionBudget"): (("MIN AVAILABLE", "MAX UNAVAILABLE", "ALLOWED DISRUPTIONS", "AGE"), _pdb),
    ("", "ServiceAccount"): (("SECRETS", "AGE"), _serviceaccount),
    ("rbac.authorization.k8s.io", "Role"): (("CREATED AT",), _created_at),
    ("rbac.authorization.k8s.io", "ClusterRole"): (("CREATED AT",), _created_at),
    ("rbac.authorization.k8s.io", "RoleBinding"): (("ROLE", "AGE", "USERS", "GROUPS", "SERVICEACCOUNTS"),
                                                   _rolebinding),
    ("rbac.authorization.k8s.io", "ClusterRoleBinding"): (("ROLE", "AGE", "USERS", "GROUPS", "SERVICEACCOUNTS"),
                                                          _rolebinding),
    ("", "ResourceQuota"): (("AGE", "REQUEST", "LIMIT"), _resourcequota),
    ("", "LimitRange"): (("CREATED AT",), _created_at),
    ("networking.k8s.io", "NetworkPolicy"): (("POD-SELECTOR", "AGE"), _networkpolicy),
}


def columns_for(group: str, kind: str, namespaced: bool) -> tuple[list[str], Callable[[dict[str, Any], float], tuple]]:
    """Column names and ``row(obj, now)`` (a full row: NAMESPACE when namespaced, NAME, then the kind's columns)."""
    extra, fn = _KNOWN.get((group, kind), (("AGE", "LABELS"), _generic))
    cols = (["NAMESPACE"] if namespaced else []) + ["NAME", *extra]

    if namespaced:
        def row(obj: dict[str, Any], now: float) -> tuple:
            meta = obj.get("metadata") or {}
            return (meta.get("namespace") or "", meta.get("name") or "", *fn(obj, now))
    else:
        def row(obj: dict[str, Any], now: float) -> tuple:
            return ((obj.get("metadata") or {}).get("name") or "", *fn(obj, now))
    return cols, row
