"""``kubectl describe``-like text from plain data: the object, its events and what the detail view gathered.

Layout follows kubectl's describers (``k8s.io/kubectl/pkg/describe``): ``Label:  value`` lines aligned per block
the way its tabwriter aligns them, two spaces per level, kind-specific sections for Pod, Deployment (and the other
workloads), Service, Node, ConfigMap and Secret, a generic printer for everything else (CRDs included), then
Conditions, the related objects KubeCopilot found, and the Events table (``Type Reason Age From Message`` with
``3m (x5 over 10m)`` ages). Secret values never reach this module: a Secret arrives with ``data`` already reduced
to sizes.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from kubecopilot.cluster._columns import _ts, format_label_selector, human_duration, pod_status
from kubecopilot.cluster._events import event_source, event_times

__all__ = ["DescribeText", "describe_object", "parse_quantity"]

NONE = "<none>"
_SKIP_ANNOTATIONS = {"kubectl.kubernetes.io/last-applied-configuration"}
_MAX_ANNOTATION = 140


# -- the writer ------------------------------------------------------------------------------------------------------
class _Out:
    """Lines at levels (2 spaces each); consecutive ``kv`` lines form a block whose values start in one column."""

    def __init__(self) -> None:
        self.items: list[tuple[str, Any]] = []

    def kv(self, level: int, label: str, value: Any) -> None:
        values = value if isinstance(value, list) else [value]
        values = [str(v) for v in values] or [NONE]
        self.items.append(("kv", ("  " * level + label + ":", values[0])))
        for v in values[1:]:
            self.items.append(("kv", ("  " * level, v)))

    def line(self, level: int, text: str) -> None:
        self.items.append(("raw", "  " * level + text))

    def table(self, level: int, header: Sequence[str], rows: Sequence[Sequence[Any]], *, dashes: bool = True) -> None:
        self.items.append(("table", (level, list(header), [[str(c) for c in r] for r in rows], dashes)))

    def render(self) -> str:
        out: list[str] = []
        block: list[tuple[str, str]] = []

        def flush() -> None:
            if block:
                width = max(len(k) for k, _ in block) + 2
                out.extend((k.ljust(width) + v).rstrip() if v else k for k, v in block)
                block.clear()

        for kind, item in self.items:
            if kind == "kv":
                block.append(item)
                continue
            flush()
            if kind == "raw":
                out.append(item)
            else:
                level, header, rows, dashes = item
                grid = [header] + ([["-" * len(h) for h in header]] if dashes else []) + rows
                widths = [max(len(r[i]) if i < len(r) else 0 for r in grid) for i in range(len(header))]
                for r in grid:
                    cells = [(r[i] if i < len(r) else "").ljust(widths[i] + 2 if i < len(header) - 1 else 0)
                             for i in range(len(header))]
                    out.append(("  " * level + "".join(cells)).rstrip())
        flush()
        return "\n".join(out)


# -- small formatters --------------------------------------------------------------------------------------------------
def _time(value: str | None) -> str:
    t = _ts(value)
    return datetime.fromtimestamp(t, UTC).strftime("%a, %d %b %Y %H:%M:%S +0000") if t is not None else NONE


def _labels(d: dict[str, str] | None) -> list[str]:
    return [f"{k}={v}" for k, v in sorted((d or {}).items())] or [NONE]


def _annotations(d: dict[str, str] | None) -> list[str]:
    out = []
    for k, v in sorted((d or {}).items()):
        if k in _SKIP_ANNOTATIONS:
            continue
        v = str(v).replace("\n", " ")
        out.append(f"{k}: {v[:_MAX_ANNOTATION] + '...' if len(v) > _MAX_ANNOTATION else v}")
    return out or [NONE]


def _bool(v: Any) -> str:
    return "true" if v else "false"


def _age(value: str | None, now: float) -> str:
    t = _ts(value)
    return human_duration(now - t) if t is not None else "<unknown>"


def _header(o: _Out, obj: dict[str, Any], *, namespaced: bool = True, created: bool = False) -> None:
    meta = obj.get("metadata") or {}
    o.kv(0, "Name", meta.get("name") or "")
    if namespaced:
        o.kv(0, "Namespace", meta.get("namespace") or "")
    if created:
        o.kv(0, "CreationTimestamp", _time(meta.get("creationTimestamp")))
    o.kv(0, "Labels", _labels(meta.get("labels")))
    o.kv(0, "Annotations", _annotations(meta.get("annotations")))


def _controller(obj: dict[str, Any]) -> str | None:
    for r in (obj.get("metadata") or {}).get("ownerReferences") or []:
        if r.get("controller"):
            return f"{r.get('kind')}/{r.get('name')}"
    return None


_QUANTITY = re.compile(r"^([+-]?[0-9.]+(?:[eE][+-]?\d+)?)([a-zA-Z]*)$")
_SUFFIX = {"": 1, "n": 1e-9, "u": 1e-6, "m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15, "E": 1e18,
           "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}


def parse_quantity(value: Any) -> float:
    """A Kubernetes quantity (``100m``, ``1.5``, ``64Mi``, ``1e3``) as a float; 0 when unreadable."""
    m = _QUANTITY.match(str(value).strip())
    if not m or m[2] not in _SUFFIX:
        return 0.0
    return float(m[1]) * _SUFFIX[m[2]]


def _cpu(v: float) -> str:
    if v == int(v):
        return str(int(v))
    return f"{round(v * 1000)}m"


def _mem(v: float) -> str:
    for unit, size in (("Gi", 2**30), ("Mi", 2**20), ("Ki", 2**10)):
        if v >= size and v % size == 0:
            return f"{int(v // size)}{unit}"
    return str(int(v))


# -- events, conditions, related -------------------------------------------------------------------------------------
def _events(o: _Out, events: list[dict[str, Any]] | None, now: float, *, note: str | None = None) -> None:
    if events is None:
        o.kv(0, "Events", f"<unknown: {note}>" if note else "<unknown>")
        return
    if not events:
        o.kv(0, "Events", NONE)
        return
    rows = []
    for e in sorted(events, key=lambda e: event_times(e)[1] or 0):
        first, last, count = event_times(e)
        since_first = human_duration(now - first) if first is not None else "<unknown>"
        age = f"{human_duration(now - last)} (x{count} over {since_first})" if count > 1 and last is not None \
            else since_first
        rows.append([e.get("type") or "", e.get("reason") or "", age, event_source(e),
                     (e.get("message") or e.get("note") or "").strip()])
    o.line(0, "Events:")
    o.table(1, ["Type", "Reason", "Age", "From", "Message"], rows)


def _conditions(o: _Out, conditions: list[dict[str, Any]] | None, *, reason: bool = True) -> None:
    if not conditions:
        return
    o.line(0, "Conditions:")
    if reason:
        o.table(1, ["Type", "Status", "Reason"], [[c.get("type") or "", c.get("status") or "", c.get("reason") or ""]
                                                  for c in conditions])
    else:
        o.table(1, ["Type", "Status"], [[c.get("type") or "", c.get("status") or ""] for c in conditions],
                dashes=False)


def _related(o: _Out, related: Sequence[Any], skipped: dict[str, str]) -> None:
    if not related and not skipped:
        return
    o.line(0, "Related (KubeCopilot):")
    if related:
        o.table(1, ["Relation", "Object", "Status", "Detail"],
                [[r.relation, r.ref, r.status, r.detail] for r in related])
    for what, why in sorted(skipped.items()):
        o.line(1, f"(not shown: {what}: {why})")


# -- pods --------------------------------------------------------------------------------------------------------------
def _env(o: _Out, c: dict[str, Any], level: int) -> None:
    if c.get("envFrom"):
        o.line(level, "Environment Variables from:")
        for src in c["envFrom"]:
            if src.get("configMapRef"):
                r = src["configMapRef"]
                o.kv(level + 1, r.get("name") or "", f"ConfigMap  Optional: {_bool(r.get('optional'))}")
            if src.get("secretRef"):
                r = src["secretRef"]
                o.kv(level + 1, r.get("name") or "", f"Secret  Optional: {_bool(r.get('optional'))}")
    if not c.get("env"):
        o.kv(level, "Environment", NONE)
        return
    o.line(level, "Environment:")
    for e in c["env"]:
        name, ref = e.get("name") or "", e.get("valueFrom") or {}
        if "value" in e or not ref:
            value = e.get("value") or ""
        elif ref.get("fieldRef"):
            f = ref["fieldRef"]
            value = f" ({f.get('apiVersion') or 'v1'}:{f.get('fieldPath')})"
        elif ref.get("resourceFieldRef"):
            f = ref["resourceFieldRef"]
            value = f"{f.get('containerName') or ''} ({f.get('resource')})"
        elif ref.get("secretKeyRef"):
            f = ref["secretKeyRef"]
            value = (f"<set to the key '{f.get('key')}' in secret '{f.get('name')}'>  "
                     f"Optional: {_bool(f.get('optional'))}")
        elif ref.get("configMapKeyRef"):
            f = ref["configMapKeyRef"]
            value = (f"<set to the key '{f.get('key')}' of config map '{f.get('name')}'>  "
                     f"Optional: {_bool(f.get('optional'))}")
        else:
            value = "<set from an unknown source>"
        o.kv(level + 1, name, value)


def _probe(p: dict[str, Any]) -> str:
    if p.get("httpGet"):
        h = p["httpGet"]
        what = f"http-get {(h.get('scheme') or 'HTTP').lower()}://{h.get('host') or ''}:{h.get('port')}" \
               f"{h.get('path') or ''}"
    elif p.get("tcpSocket"):
        what = f"tcp-socket :{p['tcpSocket'].get('port')}"
    elif p.get("exec"):
        what = f"exec {(p['exec'].get('command') or [])}"
    elif p.get("grpc"):
        what = f"grpc <pod>:{p['grpc'].get('port')} {p['grpc'].get('service') or ''}".rstrip()
    else:
        what = "unknown"
    return (f"{what} delay={p.get('initialDelaySeconds', 0)}s timeout={p.get('timeoutSeconds', 1)}s "
            f"period={p.get('periodSeconds', 10)}s #success={p.get('successThreshold', 1)} "
            f"#failure={p.get('failureThreshold', 3)}")


def _state(o: _Out, label: str, state: dict[str, Any], level: int) -> None:
    if state.get("running") is not None:
        o.kv(level, label, "Running")
        o.kv(level + 1, "Started", _time(state["running"].get("startedAt")))
    elif state.get("terminated") is not None:
        t = state["terminated"]
        o.kv(level, label, "Terminated")
        if t.get("reason"):
            o.kv(level + 1, "Reason", t["reason"])
        if t.get("message"):
            o.kv(level + 1, "Message", str(t["message"]).strip())
        o.kv(level + 1, "Exit Code", t.get("exitCode", 0))
        if t.get("signal"):
            o.kv(level + 1, "Signal", t["signal"])
        o.kv(level + 1, "Started", _time(t.get("startedAt")))
        o.kv(level + 1, "Finished", _time(t.get("finishedAt")))
    else:
        o.kv(level, label, "Waiting")
        w = state.get("waiting") or {}
        if w.get("reason"):
            o.kv(level + 1, "Reason", w["reason"])
        if w.get("message"):
            o.kv(level + 1, "Message", str(w["message"]).strip())


def _container(o: _Out, c: dict[str, Any], status: dict[str, Any] | None, level: int) -> None:
    o.line(level, f"{c.get('name')}:")
    lv = level + 1
    if status is not None:
        o.kv(lv, "Container ID", status.get("containerID") or "")
    o.kv(lv, "Image", c.get("image") or "")
    if status is not None:
        o.kv(lv, "Image ID", status.get("imageID") or "")
    ports = c.get("ports") or []
    if ports:
        o.kv(lv, "Ports" if len(ports) > 1 else "Port",
             ", ".join(f"{p.get('containerPort')}/{p.get('protocol') or 'TCP'}" + (f" ({p['name']})" if p.get("name")
                                                                                  else "") for p in ports))
    else:
        o.kv(lv, "Port", NONE)
    for label, key in (("Command", "command"), ("Args", "args")):
        if c.get(key):
            o.line(lv, f"{label}:")
            for part in c[key]:
                o.line(lv + 1, str(part))
    if status is not None:
        _state(o, "State", status.get("state") or {}, lv)
        if (status.get("lastState") or {}).get("terminated"):
            _state(o, "Last State", status["lastState"], lv)
        o.kv(lv, "Ready", "True" if status.get("ready") else "False")
        o.kv(lv, "Restart Count", status.get("restartCount", 0))
    res = c.get("resources") or {}
    for label, key in (("Limits", "limits"), ("Requests", "requests")):
        if res.get(key):
            o.line(lv, f"{label}:")
            for name, q in sorted(res[key].items()):
                o.kv(lv + 1, name, q)
    for label, key in (("Liveness", "livenessProbe"), ("Readiness", "readinessProbe"), ("Startup", "startupProbe")):
        if c.get(key):
            o.kv(lv, label, _probe(c[key]))
    _env(o, c, lv)
    mounts = c.get("volumeMounts") or []
    if mounts:
        o.line(lv, "Mounts:")
        for m in mounts:
            flags = ["ro" if m.get("readOnly") else "rw"]
            if m.get("subPath"):
                flags.append(f'path="{m["subPath"]}"')
            o.line(lv + 1, f"{m.get('mountPath')} from {m.get('name')} ({','.join(flags)})")
    else:
        o.kv(lv, "Mounts", NONE)


def _containers(o: _Out, label: str, specs: list[dict[str, Any]], statuses: list[dict[str, Any]] | None,
                level: int = 0) -> None:
    if not specs:
        return
    o.line(level, f"{label}:")
    by_name = {s.get("name"): s for s in statuses or []}
    for c in specs:
        _container(o, c, by_name.get(c.get("name"), {} if statuses is not None else None), level + 1)


def _volumes(o: _Out, volumes: list[dict[str, Any]], level: int = 0) -> None:
    if not volumes:
        o.kv(level, "Volumes", NONE)
        return
    o.line(level, "Volumes:")
    for v in volumes:
        o.line(level + 1, f"{v.get('name')}:")
        lv = level + 2
        if v.get("configMap") is not None:
            o.kv(lv, "Type", "ConfigMap (a volume populated by a ConfigMap)")
            o.kv(lv, "Name", v["configMap"].get("name") or "")
            o.kv(lv, "Optional", _bool(v["configMap"].get("optional")))
        elif v.get("secret") is not None:
            o.kv(lv, "Type", "Secret (a volume populated by a Secret)")
            o.kv(lv, "SecretName", v["secret"].get("secretName") or "")
            o.kv(lv, "Optional", _bool(v["secret"].get("optional")))
        elif v.get("persistentVolumeClaim") is not None:
            o.kv(lv, "Type", "PersistentVolumeClaim (a reference to a PersistentVolumeClaim in the same namespace)")
            o.kv(lv, "ClaimName", v["persistentVolumeClaim"].get("claimName") or "")
            o.kv(lv, "ReadOnly", _bool(v["persistentVolumeClaim"].get("readOnly")))
        elif v.get("emptyDir") is not None:
            o.kv(lv, "Type", "EmptyDir (a temporary directory that shares a pod's lifetime)")
            o.kv(lv, "Medium", v["emptyDir"].get("medium") or "")
            o.kv(lv, "SizeLimit", v["emptyDir"].get("sizeLimit") or "<unset>")
        elif v.get("hostPath") is not None:
            o.kv(lv, "Type", "HostPath (bare host directory volume)")
            o.kv(lv, "Path", v["hostPath"].get("path") or "")
            o.kv(lv, "HostPathType", v["hostPath"].get("type") or "")
        elif v.get("projected") is not None:
            o.kv(lv, "Type", "Projected (a volume that contains injected data from multiple sources)")
            for src in v["projected"].get("sources") or []:
                if src.get("serviceAccountToken"):
                    o.kv(lv, "TokenExpirationSeconds", src["serviceAccountToken"].get("expirationSeconds", 3607))
                if src.get("configMap"):
                    o.kv(lv, "ConfigMapName", src["configMap"].get("name") or "")
                    o.kv(lv, "ConfigMapOptional", _bool(src["configMap"].get("optional")))
                if src.get("secret"):
                    o.kv(lv, "SecretName", src["secret"].get("name") or "")
                    o.kv(lv, "SecretOptional", _bool(src["secret"].get("optional")))
                if src.get("downwardAPI"):
                    o.kv(lv, "DownwardAPI", "true")
        else:
            kinds = [k for k in v if k != "name"]
            o.kv(lv, "Type", kinds[0] if kinds else "<unknown>")


def _tolerations(tolerations: list[dict[str, Any]] | None) -> list[str]:
    out = []
    for t in tolerations or []:
        s = t.get("key") or ""
        if t.get("value"):
            s += f"={t['value']}"
        if t.get("effect"):
            s += f":{t['effect']}"
        if t.get("operator") == "Exists" and not t.get("value"):
            s += " op=Exists" if (t.get("key") or t.get("effect")) else "op=Exists"
        if t.get("tolerationSeconds") is not None:
            s += f" for {t['tolerationSeconds']}s"
        out.append(s)
    return out or [NONE]


def _describe_pod(o: _Out, pod: dict[str, Any], now: float) -> None:
    meta, spec, st = pod.get("metadata") or {}, pod.get("spec") or {}, pod.get("status") or {}
    o.kv(0, "Name", meta.get("name") or "")
    o.kv(0, "Namespace", meta.get("namespace") or "")
    o.kv(0, "Priority", spec.get("priority", 0))
    if spec.get("priorityClassName"):
        o.kv(0, "Priority Class Name", spec["priorityClassName"])
    o.kv(0, "Service Account", spec.get("serviceAccountName") or "default")
    node = spec.get("nodeName")
    o.kv(0, "Node", f"{node}/{st.get('hostIP')}" if node and st.get("hostIP") else node or NONE)
    if st.get("startTime"):
        o.kv(0, "Start Time", _time(st["startTime"]))
    o.kv(0, "Labels", _labels(meta.get("labels")))
    o.kv(0, "Annotations", _annotations(meta.get("annotations")))
    if meta.get("deletionTimestamp"):
        o.kv(0, "Status", f"Terminating (lasts {_age(meta['deletionTimestamp'], now)})")
        o.kv(0, "Termination Grace Period", f"{meta.get('deletionGracePeriodSeconds', 0)}s")
    else:
        o.kv(0, "Status", st.get("phase") or "Unknown")
    reason = pod_status(pod)[0]
    if reason != (st.get("phase") or ""):
        o.kv(0, "Pod Status", f"{reason} (as kubectl get shows it)")
    if st.get("reason"):
        o.kv(0, "Reason", st["reason"])
    if st.get("message"):
        o.kv(0, "Message", st["message"])
    o.kv(0, "IP", st.get("podIP") or "")
    ips = [i.get("ip") for i in st.get("podIPs") or [] if i.get("ip")]
    if ips:
        o.line(0, "IPs:")
        for ip in ips:
            o.kv(1, "IP", ip)
    else:
        o.kv(0, "IPs", NONE)
    if _controller(pod):
        o.kv(0, "Controlled By", _controller(pod))
    _containers(o, "Init Containers", spec.get("initContainers") or [], st.get("initContainerStatuses") or [])
    _containers(o, "Containers", spec.get("containers") or [], st.get("containerStatuses") or [])
    _conditions(o, st.get("conditions"), reason=False)
    _volumes(o, spec.get("volumes") or [])
    o.kv(0, "QoS Class", st.get("qosClass") or _qos(spec))
    o.kv(0, "Node-Selectors", _labels(spec.get("nodeSelector")))
    o.kv(0, "Tolerations", _tolerations(spec.get("tolerations")))


def _qos(spec: dict[str, Any]) -> str:
    containers = spec.get("containers") or []
    res = [c.get("resources") or {} for c in containers]
    if not any(r.get("requests") or r.get("limits") for r in res):
        return "BestEffort"
    guaranteed = all(
        all((r.get("limits") or {}).get(x) for x in ("cpu", "memory"))
        and all(parse_quantity((r.get("requests") or r.get("limits") or {}).get(x))
                == parse_quantity((r.get("limits") or {}).get(x)) for x in ("cpu", "memory")) for r in res)
    return "Guaranteed" if guaranteed else "Burstable"


# -- workloads ---------------------------------------------------------------------------------------------------------
def _pod_template(o: _Out, template: dict[str, Any], level: int = 0) -> None:
    o.line(level, "Pod Template:")
    meta, spec = template.get("metadata") or {}, template.get("spec") or {}
    o.kv(level + 1, "Labels", _labels(meta.get("labels")))
    if meta.get("annotations"):
        o.kv(level + 1, "Annotations", _annotations(meta.get("annotations")))
    if spec.get("serviceAccountName"):
        o.kv(level + 1, "Service Account", spec["serviceAccountName"])
    _containers(o, "Init Containers", spec.get("initContainers") or [], None, level + 1)
    _containers(o, "Containers", spec.get("containers") or [], None, level + 1)
    _volumes(o, spec.get("volumes") or [], level + 1)
    if spec.get("nodeSelector"):
        o.kv(level + 1, "Node-Selectors", _labels(spec["nodeSelector"]))
    if spec.get("tolerations"):
        o.kv(level + 1, "Tolerations", _tolerations(spec["tolerations"]))


def _rs_line(rs: dict[str, Any]) -> str:
    st, spec = rs.get("status") or {}, rs.get("spec") or {}
    return f"{(rs.get('metadata') or {}).get('name')} ({st.get('replicas', 0)}/{spec.get('replicas', 0)} " \
           "replicas created)"


def _describe_deployment(o: _Out, d: dict[str, Any], extra: dict[str, Any]) -> None:
    spec, st = d.get("spec") or {}, d.get("status") or {}
    _header(o, d, created=True)
    o.kv(0, "Selector", format_label_selector(spec.get("selector")))
    replicas = spec.get("replicas", 1)
    o.kv(0, "Replicas", f"{replicas} desired | {st.get('updatedReplicas', 0)} updated | {st.get('replicas', 0)} "
                        f"total | {st.get('availableReplicas', 0)} available | {st.get('unavailableReplicas', 0)} "
                        "unavailable")
    strategy = spec.get("strategy") or {}
    o.kv(0, "StrategyType", strategy.get("type") or "RollingUpdate")
    o.kv(0, "MinReadySeconds", spec.get("minReadySeconds", 0))
    ru = strategy.get("rollingUpdate")
    if (strategy.get("type") or "RollingUpdate") == "RollingUpdate" and ru is not None:
        o.kv(0, "RollingUpdateStrategy", f"{ru.get('maxUnavailable', '25%')} max unavailable, "
                                         f"{ru.get('maxSurge', '25%')} max surge")
    if spec.get("paused"):
        o.kv(0, "Paused", "true")
    _pod_template(o, spec.get("template") or {})
    _conditions(o, st.get("conditions"))
    uid = (d.get("metadata") or {}).get("uid")
    owned = [rs for rs in extra.get("replicasets") or []
             if any(r.get("uid") == uid for r in (rs.get("metadata") or {}).get("ownerReferences") or [])]
    new = None
    revision = (d.get("metadata") or {}).get("annotations", {}).get("deployment.kubernetes.io/revision")
    for rs in owned:
        ann = (rs.get("metadata") or {}).get("annotations") or {}
        if revision and ann.get("deployment.kubernetes.io/revision") == revision:
            new = rs
    old = [rs for rs in owned if rs is not new and ((rs.get("spec") or {}).get("replicas") or 0) > 0]
    o.kv(0, "OldReplicaSets", ", ".join(_rs_line(rs) for rs in old) or NONE)
    o.kv(0, "NewReplicaSet", _rs_line(new) if new else NONE)


def _describe_workload(o: _Out, w: dict[str, Any], kind: str, now: float) -> None:
    spec, st = w.get("spec") or {}, w.get("status") or {}
    _header(o, w, created=kind in ("StatefulSet", "DaemonSet", "CronJob"))
    if kind == "CronJob":
        o.kv(0, "Schedule", spec.get("schedule") or "")
        o.kv(0, "Concurrency Policy", spec.get("concurrencyPolicy") or "Allow")
        o.kv(0, "Suspend", _bool(spec.get("suspend")))
        o.kv(0, "Successful Job History Limit", spec.get("successfulJobsHistoryLimit", 3))
        o.kv(0, "Failed Job History Limit", spec.get("failedJobsHistoryLimit", 1))
        o.kv(0, "Last Schedule Time", _time(st.get("lastScheduleTime")))
        o.kv(0, "Active Jobs", ", ".join(a.get("name") or "" for a in st.get("active") or []) or NONE)
        _pod_template(o, ((spec.get("jobTemplate") or {}).get("spec") or {}).get("template") or {})
        return
    o.kv(0, "Selector", format_label_selector(spec.get("selector")))
    if _controller(w):
        o.kv(0, "Controlled By", _controller(w))
    if kind in ("ReplicaSet", "StatefulSet", "ReplicationController"):
        o.kv(0, "Replicas", f"{st.get('replicas', 0)} current / {spec.get('replicas', 1)} desired")
        o.kv(0, "Pods Status", f"{st.get('readyReplicas', 0)} Ready / "
                               f"{max(st.get('replicas', 0) - st.get('readyReplicas', 0), 0)} Not ready")
    if kind == "StatefulSet":
        o.kv(0, "Update Strategy", (spec.get("updateStrategy") or {}).get("type") or "RollingUpdate")
        o.kv(0, "Service Name", spec.get("serviceName") or "")
    if kind == "DaemonSet":
        o.kv(0, "Desired Number of Nodes Scheduled", st.get("desiredNumberScheduled", 0))
        o.kv(0, "Current Number of Nodes Scheduled", st.get("currentNumberScheduled", 0))
        o.kv(0, "Number of Nodes Scheduled with Up-to-date Pods", st.get("updatedNumberScheduled", 0))
        o.kv(0, "Number of Nodes Scheduled with Available Pods", st.get("numberAvailable", 0))
        o.kv(0, "Number of Nodes Misscheduled", st.get("numberMisscheduled", 0))
        o.kv(0, "Pods Status", f"{st.get('numberReady', 0)} Running / {st.get('numberUnavailable', 0)} Unavailable")
    if kind == "Job":
        o.kv(0, "Parallelism", spec.get("parallelism", 1))
        o.kv(0, "Completions", spec.get("completions", NONE))
        o.kv(0, "Backoff Limit", spec.get("backoffLimit", 6))
        if st.get("startTime"):
            o.kv(0, "Start Time", _time(st["startTime"]))
        if st.get("completionTime"):
            o.kv(0, "Completed At", _time(st["completionTime"]))
        o.kv(0, "Pods Statuses", f"{st.get('active', 0)} Active / {st.get('succeeded', 0)} Succeeded / "
                                 f"{st.get('failed', 0)} Failed")
    _pod_template(o, spec.get("template") or {})
    _conditions(o, st.get("conditions"))


# -- service, node, config ---------------------------------------------------------------------------------------------
def _describe_service(o: _Out, svc: dict[str, Any], extra: dict[str, Any]) -> None:
    spec = svc.get("spec") or {}
    _header(o, svc)
    o.kv(0, "Selector", ",".join(f"{k}={v}" for k, v in sorted((spec.get("selector") or {}).items())) or NONE)
    o.kv(0, "Type", spec.get("type") or "ClusterIP")
    o.kv(0, "IP Family Policy", spec.get("ipFamilyPolicy") or NONE)
    o.kv(0, "IP Families", ",".join(spec.get("ipFamilies") or []) or NONE)
    o.kv(0, "IP", spec.get("clusterIP") or NONE)
    o.kv(0, "IPs", ",".join(spec.get("clusterIPs") or []) or spec.get("clusterIP") or NONE)
    if spec.get("type") == "ExternalName":
        o.kv(0, "External Name", spec.get("externalName") or "")
    endpoints = extra.get("endpoints")
    for p in spec.get("ports") or []:
        name = p.get("name") or "<unset>"
        o.kv(0, "Port", f"{name}  {p.get('port')}/{p.get('protocol') or 'TCP'}")
        target = p.get("targetPort", p.get("port"))
        o.kv(0, "TargetPort", f"{target}/{p.get('protocol') or 'TCP'}")
        if p.get("nodePort"):
            o.kv(0, "NodePort", f"{name}  {p['nodePort']}/{p.get('protocol') or 'TCP'}")
        if endpoints is not None:
            o.kv(0, "Endpoints", _endpoint_list(endpoints, p))
    o.kv(0, "Session Affinity", spec.get("sessionAffinity") or "None")


def _endpoint_list(endpoints: dict[str, Any] | None, port: dict[str, Any]) -> str:
    addrs = []
    for s in (endpoints or {}).get("subsets") or []:
        ports = s.get("ports") or []
        match = [x for x in ports if x.get("name") == port.get("name")] if len(ports) > 1 else ports
        for a in s.get("addresses") or []:
            addrs += [f"{a.get('ip')}:{x.get('port')}" for x in match] or [str(a.get("ip"))]
    if not addrs:
        return NONE
    return ",".join(addrs[:3]) + (f" + {len(addrs) - 3} more..." if len(addrs) > 3 else "")


def _describe_ingress(o: _Out, ing: dict[str, Any], extra: dict[str, Any]) -> None:
    meta, spec, st = ing.get("metadata") or {}, ing.get("spec") or {}, ing.get("status") or {}
    endpoints = extra.get("service_endpoints")

    def backend(b: dict[str, Any] | None) -> str:
        if not b:
            return "<default>"
        svc = b.get("service") or {}
        name = svc.get("name") or b.get("serviceName")
        port = svc.get("port") or {}
        port_text = port.get("number") or port.get("name") or b.get("servicePort") or ""
        if not name:
            res = b.get("resource") or {}
            return f"APIGroup: {res.get('apiGroup')}, Kind: {res.get('kind')}, Name: {res.get('name')}"
        if endpoints is None:
            return f"{name}:{port_text}"
        ep = endpoints.get(name)
        if ep is None:
            return f'{name}:{port_text} (<error: endpoints "{name}" not found>)'
        return f"{name}:{port_text} ({_endpoint_list(ep, {})})"

    o.kv(0, "Name", meta.get("name") or "")
    o.kv(0, "Labels", _labels(meta.get("labels")))
    o.kv(0, "Namespace", meta.get("namespace") or "")
    o.kv(0, "Address", ",".join(i.get("ip") or i.get("hostname") or "" for i in
                                (st.get("loadBalancer") or {}).get("ingress") or []))
    o.kv(0, "Ingress Class", spec.get("ingressClassName") or NONE)
    o.kv(0, "Default backend", backend(spec.get("defaultBackend") or spec.get("backend")))
    for t in spec.get("tls") or []:
        o.line(0, "TLS:")
        o.line(1, f"{t.get('secretName') or 'SNI routes'} terminates {','.join(t.get('hosts') or [])}")
    o.line(0, "Rules:")
    rows = []
    for rule in spec.get("rules") or []:
        rows.append([rule.get("host") or "*", "", ""])
        for path in (rule.get("http") or {}).get("paths") or []:
            rows.append(["", path.get("path") or "/", backend(path.get("backend"))])
    o.table(1, ["Host", "Path", "Backends"], rows)
    o.kv(0, "Annotations", _annotations(meta.get("annotations")))


def _describe_node(o: _Out, node: dict[str, Any], extra: dict[str, Any], now: float) -> None:
    meta, spec, st = node.get("metadata") or {}, node.get("spec") or {}, node.get("status") or {}
    labels = meta.get("labels") or {}
    roles = sorted({k.split("/", 1)[1] for k in labels if k.startswith("node-role.kubernetes.io/")})
    o.kv(0, "Name", meta.get("name") or "")
    o.kv(0, "Roles", ",".join(r for r in roles if r) or NONE)
    o.kv(0, "Labels", _labels(labels))
    o.kv(0, "Annotations", _annotations(meta.get("annotations")))
    o.kv(0, "CreationTimestamp", _time(meta.get("creationTimestamp")))
    o.kv(0, "Taints", [f"{t.get('key')}" + (f"={t['value']}" if t.get("value") else "") + f":{t.get('effect')}"
                       for t in spec.get("taints") or []] or NONE)
    o.kv(0, "Unschedulable", _bool(spec.get("unschedulable")))
    conditions = st.get("conditions") or []
    if conditions:
        o.line(0, "Conditions:")
        o.table(1, ["Type", "Status", "LastHeartbeatTime", "LastTransitionTime", "Reason", "Message"],
                [[c.get("type") or "", c.get("status") or "", _time(c.get("lastHeartbeatTime")),
                  _time(c.get("lastTransitionTime")), c.get("reason") or "", c.get("message") or ""]
                 for c in conditions])
    o.line(0, "Addresses:")
    for a in st.get("addresses") or []:
        o.kv(1, a.get("type") or "", a.get("address") or "")
    for label, key in (("Capacity", "capacity"), ("Allocatable", "allocatable")):
        if st.get(key):
            o.line(0, f"{label}:")
            for name, q in sorted(st[key].items()):
                o.kv(1, name, q)
    info = st.get("nodeInfo") or {}
    if info:
        o.line(0, "System Info:")
        for label, key in (("Machine ID", "machineID"), ("System UUID", "systemUUID"), ("Boot ID", "bootID"),
                           ("Kernel Version", "kernelVersion"), ("OS Image", "osImage"),
                           ("Operating System", "operatingSystem"), ("Architecture", "architecture"),
                           ("Container Runtime Version", "containerRuntimeVersion"),
                           ("Kubelet Version", "kubeletVersion"), ("Kube-Proxy Version", "kubeProxyVersion")):
            o.kv(1, label, info.get(key) or "")
    if spec.get("podCIDR"):
        o.kv(0, "PodCIDR", spec["podCIDR"])
    pods = [p for p in extra.get("pods") or []
            if (p.get("status") or {}).get("phase") not in ("Succeeded", "Failed")]
    if extra.get("pods") is None:
        return
    o.kv(0, "Non-terminated Pods", f"({len(pods)} in total)")
    rows, totals = [], {"cpu": [0.0, 0.0], "memory": [0.0, 0.0]}
    for p in pods:
        req = {"cpu": [0.0, 0.0], "memory": [0.0, 0.0]}
        for c in (p.get("spec") or {}).get("containers") or []:
            res = c.get("resources") or {}
            for r in ("cpu", "memory"):
                req[r][0] += parse_quantity((res.get("requests") or {}).get(r, 0))
                req[r][1] += parse_quantity((res.get("limits") or {}).get(r, 0))
        for r in req:
            totals[r][0] += req[r][0]
            totals[r][1] += req[r][1]
        pm = p.get("metadata") or {}
        rows.append([pm.get("namespace") or "", pm.get("name") or "", _cpu(req["cpu"][0]), _cpu(req["cpu"][1]),
                     _mem(req["memory"][0]), _mem(req["memory"][1]), _age(pm.get("creationTimestamp"), now)])
    if rows:
        o.table(1, ["Namespace", "Name", "CPU Requests", "CPU Limits", "Memory Requests", "Memory Limits", "Age"],
                sorted(rows))
    alloc = st.get("allocatable") or st.get("capacity") or {}
    o.line(0, "Allocated resources:")
    o.line(1, "(Total limits may be over 100 percent, i.e., overcommitted.)")

    def pct(v: float, r: str) -> str:
        total = parse_quantity(alloc.get(r, 0))
        return f" ({int(v / total * 100)}%)" if total else ""

    o.table(1, ["Resource", "Requests", "Limits"],
            [["cpu", _cpu(totals["cpu"][0]) + pct(totals["cpu"][0], "cpu"),
              _cpu(totals["cpu"][1]) + pct(totals["cpu"][1], "cpu")],
             ["memory", _mem(totals["memory"][0]) + pct(totals["memory"][0], "memory"),
              _mem(totals["memory"][1]) + pct(totals["memory"][1], "memory")]])


def _describe_configmap(o: _Out, cm: dict[str, Any]) -> None:
    _header(o, cm)
    o.line(0, "")
    o.line(0, "Data")
    o.line(0, "====")
    for k, v in sorted((cm.get("data") or {}).items()):
        o.line(0, f"{k}:")
        o.line(0, "----")
        o.line(0, str(v))
        o.line(0, "")
    o.line(0, "")
    o.line(0, "BinaryData")
    o.line(0, "====")
    for k, v in sorted((cm.get("binaryData") or {}).items()):
        o.line(0, f"{k}: {len(str(v)) * 3 // 4} bytes")


def _describe_secret(o: _Out, secret: dict[str, Any], sizes: dict[str, int]) -> None:
    _header(o, secret)
    o.line(0, "")
    o.kv(0, "Type", secret.get("type") or "Opaque")
    o.line(0, "")
    o.line(0, "Data")
    o.line(0, "====")
    for k in sorted(sizes):
        o.kv(0, k, f"{sizes[k]} bytes")


def _smart_label(key: str) -> str:
    """kubectl's generic describer labels: ``minReadySeconds`` → ``Min Ready Seconds``."""
    words = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", key).replace("_", " ").split()
    return " ".join(w[:1].upper() + w[1:] for w in words)


def _generic_value(o: _Out, level: int, key: str, value: Any) -> None:
    if isinstance(value, dict):
        if not value:
            o.kv(level, _smart_label(key), "")
            return
        o.line(level, f"{_smart_label(key)}:")
        for k, v in value.items():
            _generic_value(o, level + 1, k, v)
    elif isinstance(value, list):
        if not value or not any(isinstance(v, dict | list) for v in value):
            o.kv(level, _smart_label(key), ", ".join(str(v) for v in value) or "")
            return
        o.line(level, f"{_smart_label(key)}:")
        for v in value:
            if isinstance(v, dict):
                for k2, v2 in v.items():
                    _generic_value(o, level + 1, k2, v2)
            else:
                o.line(level + 1, str(v))
    else:
        o.kv(level, _smart_label(key), "" if value is None else value)


def _describe_generic(o: _Out, obj: dict[str, Any], namespaced: bool) -> None:
    _header(o, obj, namespaced=namespaced)
    o.kv(0, "API Version", obj.get("apiVersion") or "")
    o.kv(0, "Kind", obj.get("kind") or "")
    meta = obj.get("metadata") or {}
    o.line(0, "Metadata:")
    for k in ("creationTimestamp", "generation", "resourceVersion", "uid"):
        if meta.get(k) is not None:
            o.kv(1, _smart_label(k), meta[k])
    if meta.get("ownerReferences"):
        _generic_value(o, 1, "ownerReferences", meta["ownerReferences"])
    for key, value in obj.items():
        if key in ("apiVersion", "kind", "metadata"):
            continue
        if key == "status" and isinstance(value, dict):
            value = {k: v for k, v in value.items() if k != "conditions"}
            if not value:
                continue
        _generic_value(o, 0, key, value)
    _conditions(o, (obj.get("status") or {}).get("conditions") if isinstance(obj.get("status"), dict) else None)


# -- entry point -------------------------------------------------------------------------------------------------------
def describe_object(kind: str, obj: dict[str, Any], *, group: str = "", namespaced: bool = True,
                    events: list[dict[str, Any]] | None = None, events_note: str | None = None,
                    related: Sequence[Any] = (), skipped: dict[str, str] | None = None,
                    extra: dict[str, Any] | None = None, secret_sizes: dict[str, int] | None = None,
                    now: float | None = None) -> str:
    """The describe text. ``extra`` carries what some kinds show (``endpoints`` of a Service, ``replicasets`` of a
    Deployment, ``pods`` on a Node); ``secret_sizes`` the key sizes of a Secret (its values are never passed)."""
    now = time.time() if now is None else now
    extra = extra or {}
    o = _Out()
    if kind == "Pod" and group == "":
        _describe_pod(o, obj, now)
    elif kind == "Deployment" and group == "apps":
        _describe_deployment(o, obj, extra)
    elif (group, kind) in {("apps", "ReplicaSet"), ("apps", "StatefulSet"), ("apps", "DaemonSet"), ("batch", "Job"),
                           ("batch", "CronJob"), ("", "ReplicationController")}:
        _describe_workload(o, obj, kind, now)
    elif kind == "Service" and group == "":
        _describe_service(o, obj, extra)
    elif kind == "Ingress" and group in ("networking.k8s.io", "extensions"):
        _describe_ingress(o, obj, extra)
    elif kind == "Node" and group == "":
        _describe_node(o, obj, extra, now)
    elif kind == "ConfigMap" and group == "":
        _describe_configmap(o, obj)
    elif kind == "Secret" and group == "":
        _describe_secret(o, obj, secret_sizes or {})
    else:
        _describe_generic(o, obj, namespaced)
    _related(o, related, skipped or {})
    _events(o, events, now, note=events_note)
    return o.render()


class DescribeText(str):
    """The text of ``ws.describe(...)``: a ``str`` that shows as itself (not as a quoted literal) in a notebook."""

    def __repr__(self) -> str:
        return str(self)

    def _repr_html_(self) -> str:
        import html

        return (f'<pre style="font-size:11.5px;line-height:1.35;white-space:pre-wrap">{html.escape(str(self))}'
                "</pre>")
