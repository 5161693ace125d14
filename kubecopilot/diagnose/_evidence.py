"""Gathering evidence: targeted reads around one object (`gather_object`) or one list per kind over a namespace
or the cluster (`gather_scope`), always in parallel and within a time budget.

`gather_object` grows the evidence in rounds: the object first; then its owners, its pods, the namespace's
Services, quotas and limit ranges and its events; then, for the pods in trouble only, their events, logs
(current and previous), nodes and the ConfigMaps / Secrets / claims they reference, the Endpoints of the
Services selecting them and of the Services a crashing container calls; then the pods behind those. Each round
is one parallel batch; what a round needs is computed from what the previous ones found, so nothing is read
that the object does not lead to. A read refused with 403 (a viewer and Secrets) or a timeout is noted in
``snapshot.errors`` and the diagnosis goes on without it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from kubecopilot.diagnose._analyze_network import ingress_backends
from kubecopilot.diagnose._api import Api, Deadline, run_parallel
from kubecopilot.diagnose._explain import referenced_hosts
from kubecopilot.diagnose._podstate import is_problem_pod, logs_needed
from kubecopilot.diagnose._snapshot import Snapshot
from kubecopilot.diagnose._util import container_statuses, obj_ref, selector_string
from kubecopilot.errors import ClusterForbiddenError, ResourceNotFoundError

__all__ = ["SUPPORTED_KINDS", "TRIAGE_KINDS", "gather_object", "gather_scope"]

log = logging.getLogger("kubecopilot.diagnose")

SUPPORTED_KINDS: tuple[str, ...] = ("Pod", "Deployment", "ReplicaSet", "StatefulSet", "DaemonSet", "Job", "CronJob",
                                    "Service", "Ingress", "PersistentVolumeClaim", "Node", "HorizontalPodAutoscaler")
TRIAGE_KINDS: tuple[str, ...] = ("Pod", "Event", "Deployment", "ReplicaSet", "StatefulSet", "DaemonSet", "Job",
                                 "CronJob", "Service", "Endpoints", "Ingress", "PersistentVolumeClaim",
                                 "HorizontalPodAutoscaler", "ResourceQuota", "LimitRange", "ConfigMap", "Secret",
                                 "Node", "StorageClass")
_CLUSTER_SCOPED = frozenset({"Node", "StorageClass", "PersistentVolume"})
_MAX_PROBLEM_PODS = 5
_MAX_LOG_PODS = 3
_MAX_REFS = 12
_ROUNDS = 6

Task = tuple[Callable[[], Any], Callable[[Any], None]]


def _describe_error(label: str, exc: BaseException) -> str:
    if isinstance(exc, ClusterForbiddenError):
        return f"{label}: forbidden ({exc.user} may not {exc.verb} {exc.resource}) — evidence incomplete"
    if isinstance(exc, TimeoutError):
        return f"{label}: {exc}"
    return f"{label}: {type(exc).__name__}: {str(exc)[:200]}"


def _run_round(api: Api, snap: Snapshot, tasks: dict[str, Task], workers: int) -> None:
    results, errors = run_parallel({label: fetch for label, (fetch, _) in tasks.items()}, api.deadline,
                                   workers=workers)
    for label, value in results.items():
        try:
            tasks[label][1](value)
        except Exception as e:  # a store step must not lose the other results
            log.exception("storing %s failed", label)
            snap.errors.append(f"{label}: {type(e).__name__}: {e}")
    for label, exc in errors.items():
        if isinstance(exc, ResourceNotFoundError) and label.startswith("get "):
            _, kind, where = label.split(" ", 2)
            ns, _, name = where.rpartition("/")
            snap.missing.add((kind, ns or None, name))
            continue
        snap.errors.append(_describe_error(label, exc))


# -- a namespace or the whole cluster ---------------------------------------------------------------------------

def gather_scope(conn: Any, namespace: str | None, *, budget: float = 60.0, workers: int = 6,
                 log_workers: int = 4, max_log_pods: int = 50) -> tuple[Snapshot, Api, dict[str, float]]:
    """One list call per kind (in parallel), then logs only for the pods that need them (one per workload)."""
    api = Api(conn, Deadline(budget))
    snap = Snapshot(scope=f"namespace/{namespace}" if namespace else "cluster")
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    tasks: dict[str, Task] = {}
    for kind in TRIAGE_KINDS:
        if not api.paths.served(kind):
            continue
        ns = None if kind in _CLUSTER_SCOPED else namespace

        def store(items: Any, kind: str = kind, ns: str | None = ns) -> None:
            if kind == "Event":
                snap.add_events(items)
            else:
                # Triage never needs Secret values (no LLM call): names and keys only.
                snap.add(kind, items, complete_ns=ns, keep_secret_values=False)

        tasks[f"list {kind}"] = (lambda kind=kind, ns=ns: api.list(kind, ns), store)
    _run_round(api, snap, tasks, workers)
    timings["lists_ms"] = (time.perf_counter() - t0) * 1000

    t1 = time.perf_counter()
    tasks = {}
    chosen: dict[str, tuple[tuple[int, str], dict[str, Any]]] = {}
    for pod in snap.all("Pod"):
        needed = logs_needed(pod, snap.now)
        if not needed:
            continue
        if all(not prev for _, prev in needed) and not snap.events_for(pod, "Pod", reason="Unhealthy", within=600) \
                and (pod.get("status") or {}).get("phase") != "Failed":
            continue   # running but not ready without probe failures: logs would not explain it
        direct = snap.owner(pod)
        # a Job's pods are grouped per Job (each failed run of a CronJob explains itself), others per workload
        owner = snap.ref(direct, "Job") if direct is not None and snap.kind_of(direct) == "Job" \
            else snap.top_ref(pod, "Pod")
        restarts = sum(int(cs.get("restartCount") or 0) for cs in container_statuses(pod))
        score = (restarts, (pod.get("metadata") or {}).get("creationTimestamp") or "")   # most restarts, newest
        if owner not in chosen or score > chosen[owner][0]:
            chosen[owner] = (score, pod)
    for _, pod in list(chosen.values())[:max_log_pods]:
        tasks.update(_log_tasks(api, snap, pod))
    hpa_namespaces = {(h.get("metadata") or {}).get("namespace") for h in snap.all("HorizontalPodAutoscaler")
                      if "missing request" in str((h.get("status") or {}).get("conditions") or "")
                      + str((h.get("metadata") or {}).get("annotations") or "")}
    if api.paths.served("PodMetrics"):
        for ns in sorted(n for n in hpa_namespaces if n):
            tasks[f"list PodMetrics {ns}"] = (lambda ns=ns: api.list("PodMetrics", ns),
                                              lambda v, ns=ns: snap.add("PodMetrics", v, complete_ns=ns))
    _run_round(api, snap, tasks, log_workers)
    timings["logs_ms"] = (time.perf_counter() - t1) * 1000
    return snap, api, timings


def _log_tasks(api: Api, snap: Snapshot, pod: dict[str, Any]) -> dict[str, Task]:
    meta = pod.get("metadata") or {}
    ns, name = meta.get("namespace") or "", meta.get("name") or ""
    tasks: dict[str, Task] = {}
    for container, previous in logs_needed(pod, snap.now):
        def store(text: Any, c: str = container, p: bool = previous) -> None:
            if text is not None:
                snap.logs[(ns, name, c, p)] = text
        tasks[f"logs {ns}/{name}/{container}{' previous' if previous else ''}"] = (
            lambda c=container, p=previous: api.logs(ns, name, c, previous=p), store)
    return tasks


# -- one object ---------------------------------------------------------------------------------------------------

class _ObjectGatherer:
    def __init__(self, api: Api, snap: Snapshot, kind: str, namespace: str | None, name: str) -> None:
        self.api, self.snap = api, snap
        self.kind, self.ns, self.name = kind, namespace, name
        self.done: set[str] = set()
        self.tasks: dict[str, Task] = {}

    # task helpers: each label is done at most once
    def want(self, label: str, fetch: Callable[[], Any], store: Callable[[Any], None]) -> None:
        if label not in self.done and label not in self.tasks:
            self.tasks[label] = (fetch, store)

    def get(self, kind: str, ns: str | None, name: str, *, keep_secret_values: bool = True) -> None:
        if not self.api.paths.served(kind) or self.snap.get(kind, ns, name) is not None:
            return
        if (kind, ns, name) in self.snap.missing:
            return
        self.want(f"get {kind} {ns or ''}/{name}", lambda: self.api.get(kind, ns, name),
                  lambda obj: self.snap.add(kind, [obj], keep_secret_values=keep_secret_values))

    def list(self, kind: str, ns: str | None, *, complete: bool = True, selector: str | None = None,
             fields: str | None = None, keep_secret_values: bool = False) -> None:
        if not self.api.paths.served(kind):
            return
        label = f"list {kind} {ns or '*'}" + (f" -l {selector}" if selector else "") + (f" --field {fields}"
                                                                                         if fields else "")

        def store(items: Any) -> None:
            if kind == "Event":
                self.snap.add_events(items)
                return
            self.snap.add(kind, items, complete_ns=ns if complete else "", keep_secret_values=keep_secret_values)
            if kind == "Pod" and selector and ns:
                self.snap.listed_selectors.add((ns, selector))

        self.want(label, lambda: self.api.list(kind, ns, labelSelector=selector, fieldSelector=fields), store)

    def events(self, obj: dict[str, Any]) -> None:
        meta = obj.get("metadata") or {}
        uid = meta.get("uid")
        if uid:
            self.list("Event", meta.get("namespace"), complete=False, fields=f"involvedObject.uid={uid}")

    def logs(self, pod: dict[str, Any]) -> None:
        for label, task in _log_tasks(self.api, self.snap, pod).items():
            self.want(label, *task)

    # -- expansion --------------------------------------------------------------------------------------------
    def expand(self) -> dict[str, Task]:
        self.tasks = {}
        snap, ns = self.snap, self.ns
        target = snap.get(self.kind, ns, self.name)
        if target is None:
            return {}
        if ns:
            for kind in ("Service", "ResourceQuota", "LimitRange"):
                self.list(kind, ns)
        self.events(target)
        for obj in [target, *snap.owner_chain(target)]:
            self._owner(obj)
        members = self._members(target)
        focus = list(members)
        for upstream in self._upstream_services(members):
            self.get("Endpoints", ns, upstream)
            svc = snap.get("Service", ns, upstream)
            selector = (svc or {}).get("spec", {}).get("selector")
            if selector:
                self.list("Pod", ns, complete=False, selector=selector_string(selector))
                focus += snap.selected_pods(ns or "", selector)
        problems = sorted({id(p): p for p in focus if is_problem_pod(p, snap.now)}.values(),
                          key=lambda p: (sum(int(cs.get("restartCount") or 0) for cs in container_statuses(p)),
                                         (p.get("metadata") or {}).get("creationTimestamp") or ""), reverse=True)
        problems = problems[:_MAX_PROBLEM_PODS]
        for i, pod in enumerate(problems):
            self.events(pod)
            for obj in [pod, *snap.owner_chain(pod)]:
                self._owner(obj)
            if i < _MAX_LOG_PODS:
                self.logs(pod)
            node = (pod.get("spec") or {}).get("nodeName")
            if node:
                self.get("Node", None, node)
            elif any(c.get("type") == "PodScheduled" and c.get("status") == "False"
                     for c in (pod.get("status") or {}).get("conditions") or []):
                self.list("Node", None)
        self._references(problems or members[:1], target)
        for svc in snap.in_ns("Service", ns) if ns else []:
            selector = (svc.get("spec") or {}).get("selector")
            if selector and any(_selects(selector, p) for p in members):
                self.get("Endpoints", ns, (svc.get("metadata") or {}).get("name", ""))
        return self.tasks

    def _owner(self, obj: dict[str, Any]) -> None:
        """Read the controller of ``obj`` and its events in the same round: the ownerReference carries the
        owner's uid, so its events need not wait for the owner itself."""
        ref = self.snap.controller_ref(obj)
        if not ref or ref.get("kind") not in ("ReplicaSet", "Deployment", "StatefulSet", "DaemonSet", "Job",
                                              "CronJob"):
            return
        owner_ns = (obj.get("metadata") or {}).get("namespace")
        if self.snap.owner(obj) is None:
            self.get(str(ref["kind"]), owner_ns, str(ref.get("name")))
            # The Deployment controller names its ReplicaSets "<deployment>-<pod-template-hash>": read the
            # Deployment in the same round instead of waiting for the ReplicaSet's ownerReference.
            rs_hash = ((obj.get("metadata") or {}).get("labels") or {}).get("pod-template-hash")
            name = str(ref.get("name"))
            if ref.get("kind") == "ReplicaSet" and rs_hash and name.endswith(f"-{rs_hash}"):
                self.get("Deployment", owner_ns, name[: -len(rs_hash) - 1])
        # A pod that exists needs no controller events (they tell why pods could not be created); an event
        # query scans every event of the namespace on the server, so it is not made for nothing.
        if ref.get("uid") and self.kind != "Pod":
            self.list("Event", owner_ns, complete=False, fields=f"involvedObject.uid={ref['uid']}")

    def _members(self, target: dict[str, Any]) -> list[dict[str, Any]]:
        """The pods the target is about, listed as needed."""
        snap, ns, kind = self.snap, self.ns, self.kind
        spec = target.get("spec") or {}
        if kind == "Pod":
            return [target]
        if kind in ("Deployment", "ReplicaSet", "StatefulSet", "DaemonSet", "Job"):
            selector = spec.get("selector") or {}
            sel = selector_string(selector)
            if sel:
                self.list("Pod", ns, complete=False, selector=sel)
                if kind == "Deployment":
                    self.list("ReplicaSet", ns, complete=False, selector=sel)
                    for rs in sorted(snap.children(target), key=_revision)[-2:]:
                        self.events(rs)
            if kind in ("Deployment", "ReplicaSet", "StatefulSet"):
                self.list("HorizontalPodAutoscaler", ns)
            pods = snap.selected_pods(ns or "", selector)
            if kind == "Job":
                pods = [p for p in pods if snap.owner(p) is target] or pods
            return pods
        if kind == "CronJob":
            self.list("Job", ns)
            jobs = sorted((j for j in snap.children(target) if snap.kind_of(j) == "Job"),
                          key=lambda j: (j.get("metadata") or {}).get("creationTimestamp") or "")[-6:]
            if jobs:
                names = ",".join((j.get("metadata") or {}).get("name", "") for j in jobs)
                self.list("Pod", ns, complete=False, selector=f"job-name in ({names})")
            for j in jobs[-3:]:
                self.events(j)
            return [p for j in jobs for p in snap.children(j) if snap.kind_of(p) == "Pod"]
        if kind == "Service":
            selector = spec.get("selector") or {}
            self.get("Endpoints", ns, self.name)
            if selector:
                self.list("Pod", ns, complete=False, selector=selector_string(selector))
                if (ns or "", selector_string(selector)) in snap.listed_selectors and not snap.selected_pods(
                        ns or "", selector):
                    for wkind in ("Deployment", "StatefulSet", "DaemonSet"):   # who was it meant for?
                        self.list(wkind, ns)
            return snap.selected_pods(ns or "", selector)
        if kind == "Ingress":
            pods: list[dict[str, Any]] = []
            for _, svc_name, _ in ingress_backends(target):
                svc = snap.get("Service", ns, svc_name)
                if svc is None:
                    continue
                self.get("Endpoints", ns, svc_name)
                selector = (svc.get("spec") or {}).get("selector")
                if selector:
                    self.list("Pod", ns, complete=False, selector=selector_string(selector))
                    pods += snap.selected_pods(ns or "", selector)
            return pods
        if kind == "PersistentVolumeClaim":
            self.list("StorageClass", None)
            self.list("Pod", ns)
            return [p for p in snap.pods(ns) if any(
                (v.get("persistentVolumeClaim") or {}).get("claimName") == self.name
                for v in (p.get("spec") or {}).get("volumes") or [])]
        if kind == "HorizontalPodAutoscaler":
            ref = spec.get("scaleTargetRef") or {}
            tkind, tname = str(ref.get("kind", "")), str(ref.get("name", ""))
            if tkind in ("Deployment", "StatefulSet", "ReplicaSet"):
                self.get(tkind, ns, tname)
                workload = snap.get(tkind, ns, tname)
                if workload is not None:
                    selector = (workload.get("spec") or {}).get("selector") or {}
                    self.list("Pod", ns, complete=False, selector=selector_string(selector))
                    self.list("PodMetrics", ns)
                    return snap.selected_pods(ns or "", selector)
            return []
        if kind == "Node":
            self.list("Pod", None, complete=False, fields=f"spec.nodeName={self.name}")
            self.list("Event", None, complete=False, fields=f"involvedObject.kind=Node,involvedObject.name={self.name}")
            return [p for p in snap.pods() if (p.get("spec") or {}).get("nodeName") == self.name]
        return []

    def _upstream_services(self, members: list[dict[str, Any]]) -> list[str]:
        """Services of the namespace that a crashing container's env names (its upstreams)."""
        snap, ns = self.snap, self.ns
        if not ns:
            return []
        names = set(snap.names("Service", ns))
        out: list[str] = []
        for pod in members[:_MAX_PROBLEM_PODS]:
            if not is_problem_pod(pod, snap.now):
                continue
            for c in (pod.get("spec") or {}).get("containers") or []:
                hosts = referenced_hosts([str(e.get("value") or "") for e in c.get("env") or []])
                for host in hosts:
                    parts = host.split(".")
                    if parts[0] in names and (len(parts) == 1 or parts[1] in (ns, "svc")):
                        out.append(parts[0])
        return sorted(set(out))[:3]

    def _references(self, pods: list[dict[str, Any]], target: dict[str, Any]) -> None:
        """ConfigMaps, Secrets and claims the pods (or the workload's template) reference."""
        snap, ns = self.snap, self.ns
        specs = [p.get("spec") or {} for p in pods]
        if not specs:
            tmpl = ((target.get("spec") or {}).get("template") or {}).get("spec") or (
                ((target.get("spec") or {}).get("jobTemplate") or {}).get("spec", {}).get("template", {}).get("spec"))
            if tmpl:
                specs = [tmpl]
        refs: list[tuple[str, str]] = []
        for spec in specs:
            # the ServiceAccount token volume the admission adds explains nothing and is a credential
            token_prefix = f"{spec.get('serviceAccountName') or spec.get('serviceAccount') or 'default'}-token-"
            for v in spec.get("volumes") or []:
                if (v.get("configMap") or {}).get("name"):
                    refs.append(("ConfigMap", v["configMap"]["name"]))
                secret_name = (v.get("secret") or {}).get("secretName")
                if secret_name and not secret_name.startswith(token_prefix):
                    refs.append(("Secret", secret_name))
                if (v.get("persistentVolumeClaim") or {}).get("claimName"):
                    refs.append(("PersistentVolumeClaim", v["persistentVolumeClaim"]["claimName"]))
                for src in (v.get("projected") or {}).get("sources") or []:
                    if (src.get("configMap") or {}).get("name"):
                        refs.append(("ConfigMap", src["configMap"]["name"]))
                    if (src.get("secret") or {}).get("name"):
                        refs.append(("Secret", src["secret"]["name"]))
            for c in [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]:
                for e in c.get("env") or []:
                    vf = e.get("valueFrom") or {}
                    if (vf.get("configMapKeyRef") or {}).get("name"):
                        refs.append(("ConfigMap", vf["configMapKeyRef"]["name"]))
                    if (vf.get("secretKeyRef") or {}).get("name"):
                        refs.append(("Secret", vf["secretKeyRef"]["name"]))
                for src in c.get("envFrom") or []:
                    if (src.get("configMapRef") or {}).get("name"):
                        refs.append(("ConfigMap", src["configMapRef"]["name"]))
                    if (src.get("secretRef") or {}).get("name"):
                        refs.append(("Secret", src["secretRef"]["name"]))
        for kind, name in list(dict.fromkeys(refs))[:_MAX_REFS]:
            self.get(kind, ns, name)
            if (kind, ns, name) in snap.missing:   # for "did you mean": names only, never values
                self.list(kind, ns, keep_secret_values=False)
            pvc = snap.get("PersistentVolumeClaim", ns, name) if kind == "PersistentVolumeClaim" else None
            if pvc is not None and (pvc.get("status") or {}).get("phase") != "Bound":
                self.events(pvc)
                self.list("StorageClass", None)


def _selects(selector: dict[str, Any], pod: dict[str, Any]) -> bool:
    labels = (pod.get("metadata") or {}).get("labels") or {}
    return all(labels.get(k) == v for k, v in selector.items())


def _revision(rs: dict[str, Any]) -> int:
    rev = ((rs.get("metadata") or {}).get("annotations") or {}).get("deployment.kubernetes.io/revision", "0")
    return int(rev) if str(rev).isdigit() else 0


def gather_object(conn: Any, kind: str, namespace: str | None, name: str, *, budget: float = 15.0,
                  workers: int = 8) -> tuple[Snapshot, Api, dict[str, float]]:
    """Targeted reads around one object (see the module docstring). The object itself must exist: a missing one
    raises `ResourceNotFoundError`; anything else missing or refused is noted in ``snapshot.errors``."""
    api = Api(conn, Deadline(budget))
    snap = Snapshot(scope=obj_ref(kind, namespace, name), target=obj_ref(kind, namespace, name))
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    target = api.get(kind, namespace, name)
    snap.add(kind, [target])
    timings["object_ms"] = (time.perf_counter() - t0) * 1000
    gatherer = _ObjectGatherer(api, snap, kind, namespace, name)
    rounds = 0
    for _ in range(_ROUNDS):
        if api.deadline.expired():
            snap.errors.append(f"time budget of {budget:g} s used up after {rounds} round(s) of reads: evidence may "
                               "be incomplete (pass budget= to allow more)")
            break
        tasks = gatherer.expand()
        if not tasks:
            break
        gatherer.done |= set(tasks)
        _run_round(api, snap, tasks, workers)
        rounds += 1
    timings["gather_ms"] = (time.perf_counter() - t0) * 1000
    timings["rounds"] = rounds
    return snap, api, timings
