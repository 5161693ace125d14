"""Related objects of one object: owners, owned objects, selected pods, Services selecting it, mounted ConfigMaps /
Secrets / PVCs, Ingresses routing to it, its node, HPAs scaling it.

Two halves:

- pure functions over raw dicts (`selector_matches`, `pod_refs`, `ingress_backends`, `health_of`, `relate`), shared
  with the topology and unit-tested without a cluster;
- `find_related`, which decides which collections the object needs, reads them in parallel (one list per related
  kind in the namespace, one GET per owner) and tolerates a kind the identity may not read: it lands in ``skipped``
  with the reason instead of failing the detail view.

Secrets are only ever read as metadata (``PartialObjectMetadataList``), so their values never reach this process.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from kubecopilot.cluster._columns import format_label_selector, pod_status
from kubecopilot.cluster._discovery import Kind, kinds_for, resolve_kind
from kubecopilot.cluster._selectors import selector_matches as _selector_matches
from kubecopilot.errors import ClusterForbiddenError, ResourceNotFoundError, UnknownKindError

__all__ = [
    "Related",
    "Skips",
    "find_related",
    "health_of",
    "ingress_backends",
    "list_kind",
    "pod_refs",
    "selector_matches",
    "selector_string",
]

log = logging.getLogger("kubecopilot.cluster")

# relation names, in display order
OWNER, OWNS, SELECTS, SELECTED_BY, ROUTED_BY, ROUTES_TO, ENDPOINTS = (
    "owner", "owns", "selects", "selected by", "routed by", "routes to", "endpoints")
MOUNTS, USED_BY, RUNS_ON, RUNS, BOUND_TO, SCALED_BY = ("mounts", "used by", "runs on", "runs", "bound to",
                                                       "scaled by")
_ORDER = [OWNER, OWNS, SELECTS, SELECTED_BY, ROUTED_BY, ROUTES_TO, ENDPOINTS, MOUNTS, USED_BY, BOUND_TO, RUNS_ON,
          RUNS, SCALED_BY]

WORKLOADS = {("apps", "Deployment"), ("apps", "ReplicaSet"), ("apps", "StatefulSet"), ("apps", "DaemonSet"),
             ("batch", "Job"), ("batch", "CronJob"), ("", "ReplicationController")}
_METADATA_ONLY = "application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io,application/json"
#: Parallel reads per detail view / topology (benchmarks set 1 for the sequential reference).
MAX_WORKERS = 8


@dataclass(frozen=True)
class Related:
    """One related object: how it relates (``relation``), what it is, a short status and its health
    (``ok`` / ``warn`` / ``bad`` / ``unknown``), plus a detail such as which env var mounts a Secret."""

    relation: str
    kind: str
    name: str
    namespace: str | None = None
    status: str = ""
    health: str = "unknown"
    detail: str = ""

    @property
    def ref(self) -> str:
        """``pod/payments/billing-api-7d9c`` (the spelling ``ws.get`` accepts)."""
        return "/".join([self.kind.lower()] + ([self.namespace] if self.namespace else []) + [self.name])

    def __str__(self) -> str:
        return f"{self.relation} {self.ref}" + (f" ({self.status})" if self.status else "")


Skips = dict[str, str]  # kind (plural.group) -> why it could not be read


# -- pure helpers ----------------------------------------------------------------------------------------------------
def selector_matches(selector: dict[str, Any] | None, labels: dict[str, str] | None) -> bool:
    """Does a selector select ``labels``? Empty selects nothing here (a Service without a selector manages its
    endpoints by hand)."""
    return _selector_matches(selector, labels, empty_matches=False)

def map_selects(selector: dict[str, str] | None, labels: dict[str, str] | None) -> bool:
    """A Service-style selector (a plain map): non-empty and every pair present in ``labels``."""
    return bool(selector) and all((labels or {}).get(k) == v for k, v in selector.items())


def selector_string(selector: dict[str, Any] | None) -> str | None:
    """A LabelSelector as a ``labelSelector=`` query value (``None`` when it selects nothing)."""
    text = format_label_selector(selector)
    return None if text == "<none>" else text


def pod_template(kind: str, obj: dict[str, Any]) -> tuple[dict[str, str], dict[str, Any]] | None:
    """(labels, pod spec) of a Pod or of a workload's pod template; ``None`` for kinds without pods."""
    spec = obj.get("spec") or {}
    if kind == "Pod":
        return ((obj.get("metadata") or {}).get("labels") or {}), spec
    if kind == "CronJob":
        spec = ((spec.get("jobTemplate") or {}).get("spec")) or {}
    tpl = spec.get("template")
    if not isinstance(tpl, dict) or kind not in {k for _, k in WORKLOADS}:
        return None
    return ((tpl.get("metadata") or {}).get("labels") or {}), (tpl.get("spec") or {})


@dataclass(frozen=True)
class PodRef:
    """A ConfigMap, Secret or PVC a pod spec refers to; ``how`` says where (``volume config``, ``env DB_URL``)."""

    kind: str
    name: str
    how: str
    optional: bool = False


def pod_refs(spec: dict[str, Any]) -> list[PodRef]:
    """ConfigMaps, Secrets and PVCs a pod spec uses: volumes (also projected), env ``valueFrom``, ``envFrom`` and
    ``imagePullSecrets``; one entry per object with every use joined in ``how``."""
    found: dict[tuple[str, str], list[Any]] = {}

    def add(kind: str, name: str | None, how: str, optional: Any = False) -> None:
        if not name:
            return
        entry = found.setdefault((kind, name), [[], True])
        if how not in entry[0]:
            entry[0].append(how)
        entry[1] = entry[1] and bool(optional)

    for v in spec.get("volumes") or []:
        vname = v.get("name") or "?"
        if v.get("configMap"):
            add("ConfigMap", v["configMap"].get("name"), f"volume {vname}", v["configMap"].get("optional"))
        if v.get("secret"):
            add("Secret", v["secret"].get("secretName"), f"volume {vname}", v["secret"].get("optional"))
        if v.get("persistentVolumeClaim"):
            add("PersistentVolumeClaim", v["persistentVolumeClaim"].get("claimName"), f"volume {vname}")
        for src in (v.get("projected") or {}).get("sources") or []:
            if src.get("configMap"):
                add("ConfigMap", src["configMap"].get("name"), f"volume {vname}", src["configMap"].get("optional"))
            if src.get("secret"):
                add("Secret", src["secret"].get("name"), f"volume {vname}", src["secret"].get("optional"))
    for c in (spec.get("initContainers") or []) + (spec.get("containers") or []):
        for env in c.get("env") or []:
            ref = env.get("valueFrom") or {}
            if ref.get("configMapKeyRef"):
                r = ref["configMapKeyRef"]
                add("ConfigMap", r.get("name"), f"env {env.get('name')}", r.get("optional"))
            if ref.get("secretKeyRef"):
                r = ref["secretKeyRef"]
                add("Secret", r.get("name"), f"env {env.get('name')}", r.get("optional"))
        for src in c.get("envFrom") or []:
            if src.get("configMapRef"):
                add("ConfigMap", src["configMapRef"].get("name"), "envFrom", src["configMapRef"].get("optional"))
            if src.get("secretRef"):
                add("Secret", src["secretRef"].get("name"), "envFrom", src["secretRef"].get("optional"))
    for s in spec.get("imagePullSecrets") or []:
        add("Secret", s.get("name"), "imagePullSecret")
    return [PodRef(k, n, ", ".join(hows), opt) for (k, n), (hows, opt) in found.items()]


def ingress_backends(ingress: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(service name, port, ``host/path``) for every backend of an Ingress (networking/v1 and v1beta1 shapes)."""
    out: list[tuple[str, str, str]] = []
    spec = ingress.get("spec") or {}

    def backend(b: dict[str, Any] | None, where: str) -> None:
        if not b:
            return
        svc = b.get("service") or {}
        name = svc.get("name") or b.get("serviceName")
        port = svc.get("port") or {}
        port_text = str(port.get("number") or port.get("name") or b.get("servicePort") or "")
        if name:
            out.append((name, port_text, where))

    backend(spec.get("defaultBackend") or spec.get("backend"), "default backend")
    for rule in spec.get("rules") or []:
        host = rule.get("host") or "*"
        for p in (rule.get("http") or {}).get("paths") or []:
            backend(p.get("backend"), f"{host}{p.get('path') or '/'}")
    return out


def _ready_addresses(endpoints: dict[str, Any] | None) -> int:
    return sum(len(s.get("addresses") or []) for s in (endpoints or {}).get("subsets") or [])


def health_of(kind: str, obj: dict[str, Any], *, endpoints: dict[str, Any] | None = None) -> tuple[str, str]:
    """(short status, health) of an object: health is ``ok``, ``warn``, ``bad`` or ``unknown``.

    Pods are ok when every container is ready (or they completed), workloads when all desired replicas are
    available, Services when they have ready endpoints (``endpoints`` is their Endpoints object).
    """
    spec, st = obj.get("spec") or {}, obj.get("status") or {}
    if kind == "Pod":
        reason, ready, total, _ = pod_status(obj)
        if reason in ("Completed", "Succeeded"):
            return reason, "ok"
        if reason == "Running":
            return (reason, "ok") if ready == total else (f"Running, {ready}/{total} ready", "bad")
        if reason in ("Pending", "ContainerCreating", "PodInitializing", "Terminating") or (
                reason.startswith("Init:") and reason[5:6].isdigit()):
            return reason, "warn"
        return reason, "bad"
    if kind in ("Deployment", "StatefulSet", "ReplicaSet", "ReplicationController"):
        desired = spec.get("replicas", 1)
        avail = st.get("availableReplicas", st.get("readyReplicas")) or 0
        if not desired:
            return "scaled to 0", "ok"
        text = f"{avail}/{desired} available"
        return text, "ok" if avail >= desired else "bad" if avail == 0 else "warn"
    if kind == "DaemonSet":
        desired, avail = st.get("desiredNumberScheduled") or 0, st.get("numberAvailable") or 0
        return f"{avail}/{desired} available", "ok" if avail >= desired else "bad" if avail == 0 else "warn"
    if kind == "Job":
        for c in st.get("conditions") or []:
            if c.get("status") == "True" and c.get("type") in ("Complete", "Failed"):
                return c["type"], "ok" if c["type"] == "Complete" else "bad"
        return ("Running", "warn") if st.get("active") else ("Pending", "warn")
    if kind == "CronJob":
        return ("Suspended", "warn") if spec.get("suspend") else (f"{len(st.get('active') or [])} active", "ok")
    if kind == "Service":
        if spec.get("type") == "ExternalName":
            return f"ExternalName {spec.get('externalName')}", "ok"
        if not spec.get("selector"):
            return "no selector", "unknown"
        if endpoints is None:
            return "endpoints unknown", "unknown"
        n = _ready_addresses(endpoints)
        return (f"{n} ready endpoint{'s' if n != 1 else ''}", "ok") if n else ("no ready endpoints", "bad")
    if kind == "PersistentVolumeClaim":
        phase = st.get("phase") or "Pending"
        return phase, {"Bound": "ok", "Pending": "warn"}.get(phase, "bad")
    if kind == "PersistentVolume":
        phase = st.get("phase") or ""
        return phase, {"Bound": "ok", "Available": "ok", "Released": "warn"}.get(phase, "bad")
    if kind == "Node":
        ready = next((c for c in st.get("conditions") or [] if c.get("type") == "Ready"), None)
        text = "Unknown" if ready is None else "Ready" if ready.get("status") == "True" else "NotReady"
        health = "ok" if text == "Ready" else "bad"
        if spec.get("unschedulable"):
            text, health = text + ",SchedulingDisabled", "warn" if health == "ok" else health
        return text, health
    if kind == "HorizontalPodAutoscaler":
        return f"{st.get('currentReplicas', 0)}/{st.get('desiredReplicas', 0)} replicas", "ok"
    if kind in ("ConfigMap", "Secret", "Ingress", "Endpoints"):
        return "present", "ok"
    return "", "unknown"


# -- reading ---------------------------------------------------------------------------------------------------------
_DENIED = object()


class _Reader:
    """Lists and GETs that record what the identity may not read (or the server does not serve) in ``skipped``."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn
        self.skipped: Skips = {}
        self._lock = threading.Lock()

    def _skip(self, what: str, why: str) -> None:
        with self._lock:
            self.skipped.setdefault(what, why)

    def kind(self, name: str) -> Kind | None:
        try:
            return resolve_kind(self.conn, name)
        except UnknownKindError:
            self._skip(name, "not served by this cluster")
            return None

    def list(self, kind_name: str, namespace: str | None, *, selector: str | None = None,
             fields: str | None = None, metadata_only: bool | None = None) -> list[dict[str, Any]] | None:
        k = self.kind(kind_name)
        if k is None:
            return None
        try:
            return list_kind(self.conn, k, namespace, selector=selector, fields=fields, metadata_only=metadata_only)
        except ClusterForbiddenError as e:
            self._skip(k.full_name, _forbidden_reason(e))
            return None

    def get(self, kind: Kind, namespace: str | None, name: str) -> Any:
        """The object, ``None`` when it does not exist, `_DENIED` when RBAC says no."""
        try:
            return _trim(self.conn.get(kind.path(namespace, name)))
        except ResourceNotFoundError:
            return None
        except ClusterForbiddenError as e:
            self._skip(kind.full_name, _forbidden_reason(e))
            return _DENIED

    def owner_chain(self, obj: dict[str, Any], depth: int = 5) -> list[tuple[dict[str, Any], Any, str]]:
        """[(owner reference, owner object / ``None`` if gone / `_DENIED`, child "kind/name")], walking controller
        references upwards."""
        out = []
        child = obj
        for _ in range(depth):
            meta = child.get("metadata") or {}
            refs = meta.get("ownerReferences") or []
            if not refs:
                break
            nxt = None
            for ref in sorted(refs, key=lambda r: not r.get("controller")):
                k = kind_by_api_version(self.conn, ref.get("apiVersion") or "", ref.get("kind") or "")
                owner = self.get(k, meta.get("namespace"), ref.get("name") or "") if k else _DENIED
                out.append((ref, owner, f"{child.get('kind') or ''}/{meta.get('name')}"))
                if ref.get("controller") and isinstance(owner, dict):
                    nxt = owner
            if nxt is None:
                break
            child = nxt
        return out


def _forbidden_reason(e: ClusterForbiddenError) -> str:
    where = f' in namespace "{e.namespace}"' if e.namespace else ""
    return f'forbidden: user "{e.user}" may not {e.verb} {e.resource}{where}'


def _trim(obj: dict[str, Any]) -> dict[str, Any]:
    (obj.get("metadata") or {}).pop("managedFields", None)
    return obj


def kind_by_api_version(conn: Any, api_version: str, kind: str) -> Kind | None:
    """The discovery `Kind` for an ownerReference-style (apiVersion, kind) pair."""
    group = api_version.split("/", 1)[0] if "/" in api_version else ""
    for k in kinds_for(conn):
        if k.kind == kind and k.group == group:
            return k
    return None


def list_kind(conn: Any, kind: Kind, namespace: str | None, *, selector: str | None = None,
              fields: str | None = None, metadata_only: bool | None = None) -> list[dict[str, Any]]:
    """All objects of ``kind`` (paged), without managedFields. Secrets (and ``metadata_only=True``) are read as
    ``PartialObjectMetadataList``: names, labels and annotations only, so no Secret value is ever transferred."""
    path = kind.path(namespace if kind.namespaced else None)
    if metadata_only is None:
        metadata_only = kind.kind == "Secret" and kind.group == ""
    if not metadata_only:
        items = conn.list(path, labelSelector=selector, fieldSelector=fields).get("items") or []
        return [_trim(o) for o in items]
    items, cont = [], None
    while True:
        params = {"limit": 500, "continue": cont, "labelSelector": selector, "fieldSelector": fields}
        resp = conn._send("GET", path, params=params, accept=_METADATA_ONLY)
        page = json.loads(resp.data) if resp.data else {}
        for o in page.get("items") or []:
            o["kind"], o["apiVersion"] = kind.kind, kind.api_version
            items.append(_trim(o))
        cont = (page.get("metadata") or {}).get("continue")
        if not cont:
            return items


# -- relating --------------------------------------------------------------------------------------------------------
def _name(o: dict[str, Any]) -> str:
    return (o.get("metadata") or {}).get("name") or ""


def _owned_by(o: dict[str, Any], uid: str | None) -> bool:
    return bool(uid) and any(r.get("uid") == uid for r in (o.get("metadata") or {}).get("ownerReferences") or [])


def relate(kind: Kind, obj: dict[str, Any], data: dict[str, Any]) -> list[Related]:
    """Related objects of ``obj`` from the collections in ``data`` (pure; ``None`` values were unreadable).

    ``data`` keys: ``owners`` (from `_Reader.owner_chain`), ``pods``, ``services``, ``endpoints``, ``ingresses``,
    ``configmaps``, ``secrets``, ``pvcs``, ``replicasets``, ``jobs``, ``hpas``, ``node``, ``pv``.
    """
    meta = obj.get("metadata") or {}
    ns, name, uid, k = meta.get("namespace"), meta.get("name") or "", meta.get("uid"), kind.kind
    out: list[Related] = []

    for ref, owner, child in data.get("owners") or []:
        if isinstance(owner, dict):
            status, health = health_of(ref.get("kind") or "", owner)
        else:
            status, health = ("not found", "bad") if owner is None else ("unknown (not readable)", "unknown")
        detail = ("controller" if ref.get("controller") else "owner") + (
            f" of {child}" if child.split("/", 1)[-1] != name else "")
        out.append(Related(OWNER, ref.get("kind") or "", ref.get("name") or "", ns, status, health, detail))

    endpoints = {_name(e): e for e in data.get("endpoints") or []}
    services = data.get("services")
    tpl = pod_template(k, obj)

    def service_health(svc: dict[str, Any]) -> tuple[str, str]:
        return health_of("Service", svc, endpoints=endpoints.get(_name(svc)) if data.get("endpoints") is not None
                         else None)

    selecting: list[dict[str, Any]] = []
    if tpl is not None and services is not None:
        labels, spec = tpl
        selecting = [s for s in services if map_selects((s.get("spec") or {}).get("selector"), labels)]
        for s in selecting:
            status, health = service_health(s)
            out.append(Related(SELECTED_BY, "Service", _name(s), ns, status, health,
                               format_label_selector({"matchLabels": (s.get("spec") or {}).get("selector")})))
    if k == "Service":
        selecting = [obj]
    if selecting and data.get("ingresses") is not None:
        wanted = {_name(s) for s in selecting}
        for ing in data["ingresses"]:
            hits = [f"{where} → {svc}:{port}" for svc, port, where in ingress_backends(ing) if svc in wanted]
            if hits:
                out.append(Related(ROUTED_BY, "Ingress", _name(ing), ns, "present", "ok", "; ".join(hits)))

    if tpl is not None:
        _, spec = tpl
        existing = {"ConfigMap": data.get("configmaps"), "Secret": data.get("secrets"),
                    "PersistentVolumeClaim": data.get("pvcs")}
        for r in pod_refs(spec):
            items = existing.get(r.kind)
            if items is None:
                status, health = "unknown (not readable)", "unknown"
            else:
                found = next((o for o in items if _name(o) == r.name), None)
                if found is None:
                    status, health = ("missing (optional)", "warn") if r.optional else ("missing", "bad")
                else:
                    status, health = health_of(r.kind, found)
            out.append(Related(MOUNTS, r.kind, r.name, ns, status, health, r.how))

    if k in {w for _, w in WORKLOADS} and k != "CronJob":
        for p in data.get("pods") or []:
            if not selector_matches((obj.get("spec") or {}).get("selector"), (p.get("metadata") or {}).get("labels")):
                continue
            status, health = health_of("Pod", p)
            out.append(Related(SELECTS, "Pod", _name(p), ns, status, health, (p.get("spec") or {}).get("nodeName")
                               or ""))
    if k == "Deployment":
        for rs in data.get("replicasets") or []:
            if _owned_by(rs, uid):
                status, health = health_of("ReplicaSet", rs)
                rev = ((rs.get("metadata") or {}).get("annotations") or {}).get("deployment.kubernetes.io/revision")
                out.append(Related(OWNS, "ReplicaSet", _name(rs), ns, status, health, f"revision {rev}" if rev
                                   else ""))
    if k == "CronJob":
        for j in data.get("jobs") or []:
            if _owned_by(j, uid):
                status, health = health_of("Job", j)
                out.append(Related(OWNS, "Job", _name(j), ns, status, health))
    for h in data.get("hpas") or []:
        target = (h.get("spec") or {}).get("scaleTargetRef") or {}
        if target.get("kind") == k and target.get("name") == name:
            status, health = health_of("HorizontalPodAutoscaler", h)
            out.append(Related(SCALED_BY, "HorizontalPodAutoscaler", _name(h), ns, status, health))

    if k == "Service":
        sel = (obj.get("spec") or {}).get("selector")
        for p in data.get("pods") or []:
            if map_selects(sel, (p.get("metadata") or {}).get("labels")):
                status, health = health_of("Pod", p)
                out.append(Related(SELECTS, "Pod", _name(p), ns, status, health,
                                   (p.get("status") or {}).get("podIP") or ""))
        if data.get("endpoints") is not None:
            ep = endpoints.get(name)
            n = _ready_addresses(ep)
            not_ready = sum(len(s.get("notReadyAddresses") or []) for s in (ep or {}).get("subsets") or [])
            out.append(Related(ENDPOINTS, "Endpoints", name, ns, f"{n} ready, {not_ready} not ready" if ep
                               else "missing", "ok" if n else "bad"))
    if k == "Ingress" and services is not None:
        by_name = {_name(s): s for s in services}
        for svc, port, where in ingress_backends(obj):
            s = by_name.get(svc)
            status, health = service_health(s) if s else ("missing", "bad")
            out.append(Related(ROUTES_TO, "Service", svc, ns, status, health, f"{where} → port {port}"))
    if k in ("ConfigMap", "Secret", "PersistentVolumeClaim"):
        for p in data.get("pods") or []:
            uses = [r for r in pod_refs(p.get("spec") or {}) if r.kind == k and r.name == name]
            if uses:
                status, health = health_of("Pod", p)
                out.append(Related(USED_BY, "Pod", _name(p), ns, status, health, uses[0].how))
    if k == "PersistentVolumeClaim" and (obj.get("spec") or {}).get("volumeName"):
        pv = data.get("pv")
        status, health = health_of("PersistentVolume", pv) if isinstance(pv, dict) else (
            ("missing", "bad") if pv is None else ("unknown (not readable)", "unknown"))
        out.append(Related(BOUND_TO, "PersistentVolume", obj["spec"]["volumeName"], None, status, health))
    if k == "Pod" and (obj.get("spec") or {}).get("nodeName"):
        node = data.get("node")
        status, health = health_of("Node", node) if isinstance(node, dict) else (
            ("missing", "bad") if node is None else ("unknown (not readable)", "unknown"))
        out.append(Related(RUNS_ON, "Node", obj["spec"]["nodeName"], None, status, health))
    if k == "Node":
        for p in data.get("pods") or []:
            status, health = health_of("Pod", p)
            out.append(Related(RUNS, "Pod", _name(p), (p.get("metadata") or {}).get("namespace"), status, health))

    rank = {r: i for i, r in enumerate(_ORDER)}
    return sorted(out, key=lambda r: (rank.get(r.relation, 99), r.kind, r.namespace or "", r.name))


def find_related(conn: Any, kind: Kind, obj: dict[str, Any], *,
                 extra: dict[str, Callable[[], Any]] | None = None) -> tuple[list[Related], Skips, dict[str, Any]]:
    """Read what ``obj`` needs in parallel and relate it: (related objects, skipped kinds, every result by task
    name). ``extra`` adds tasks to the same pool (the detail view fetches the object's events this way)."""
    r = _Reader(conn)
    meta = obj.get("metadata") or {}
    ns, k = meta.get("namespace"), kind.kind
    tasks: dict[str, Callable[[], Any]] = {"owners": lambda: r.owner_chain(obj)}
    tpl = pod_template(k, obj)
    if tpl is not None:
        refs = pod_refs(tpl[1])
        tasks["services"] = lambda: r.list("services", ns)
        tasks["endpoints"] = lambda: r.list("endpoints", ns)
        tasks["ingresses"] = lambda: r.list("ingresses.networking.k8s.io", ns)
        for ref_kind, key, kind_name in (("ConfigMap", "configmaps", "configmaps"), ("Secret", "secrets", "secrets"),
                                         ("PersistentVolumeClaim", "pvcs", "persistentvolumeclaims")):
            if any(x.kind == ref_kind for x in refs):
                tasks[key] = (lambda kn=kind_name: r.list(kn, ns, metadata_only=kn == "configmaps" or None))
    if k in {w for _, w in WORKLOADS} and k != "CronJob":
        sel = selector_string((obj.get("spec") or {}).get("selector"))
        if sel:
            tasks["pods"] = lambda sel=sel: r.list("pods", ns, selector=sel)
        tasks["hpas"] = lambda: r.list("horizontalpodautoscalers.autoscaling", ns)
    if k == "Deployment":
        tasks["replicasets"] = lambda: r.list("replicasets.apps", ns)
    if k == "CronJob":
        tasks["jobs"] = lambda: r.list("jobs.batch", ns)
    if k == "Service":
        svc_sel = selector_string({"matchLabels": (obj.get("spec") or {}).get("selector") or {}})
        if svc_sel:
            tasks["pods"] = lambda: r.list("pods", ns, selector=svc_sel)
        tasks["endpoints"] = lambda: r.list("endpoints", ns, fields=f"metadata.name={meta.get('name')}")
        tasks["ingresses"] = lambda: r.list("ingresses.networking.k8s.io", ns)
    if k == "Ingress":
        tasks["services"] = lambda: r.list("services", ns)
        tasks["endpoints"] = lambda: r.list("endpoints", ns)
    if k in ("ConfigMap", "Secret", "PersistentVolumeClaim"):
        tasks["pods"] = lambda: r.list("pods", ns)
    if k == "PersistentVolumeClaim" and (obj.get("spec") or {}).get("volumeName"):
        pv_kind = r.kind("persistentvolumes")
        tasks["pv"] = lambda: r.get(pv_kind, None, obj["spec"]["volumeName"]) if pv_kind else _DENIED
    if k == "Pod" and (obj.get("spec") or {}).get("nodeName"):
        node_kind = r.kind("nodes")
        tasks["node"] = lambda: r.get(node_kind, None, obj["spec"]["nodeName"]) if node_kind else _DENIED
    if k == "Node":
        tasks["pods"] = lambda: r.list("pods", None, fields=f"spec.nodeName={meta.get('name')}")
    tasks.update(extra or {})
    with ThreadPoolExecutor(max_workers=max(1, min(MAX_WORKERS, len(tasks)))) as pool:
        futures = {key: pool.submit(fn) for key, fn in tasks.items()}
        data = {key: f.result() for key, f in futures.items()}
    return relate(kind, obj, data), r.skipped, data
