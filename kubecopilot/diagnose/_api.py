"""The API calls diagnosis makes: paths for the kinds it reads (with the API version each server serves),
lists that page under a deadline, pod logs, and a small parallel runner with a time budget.

Versions come from discovery, not from a table: CronJob is ``batch/v1`` from Kubernetes 1.21 but only
``batch/v1beta1`` on 1.20; HorizontalPodAutoscaler conditions need ``autoscaling/v2`` (or ``v2beta2``), while
``autoscaling/v1`` hides them in an annotation; Ingress moved from ``extensions/v1beta1`` to
``networking.k8s.io/v1``. `ApiPaths` asks ``/apis`` and the group-versions it needs once per connection.
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

from kubecopilot.errors import ClusterApiError, ClusterError, ResourceNotFoundError

__all__ = ["KINDS", "Api", "ApiPaths", "Deadline", "run_parallel"]

log = logging.getLogger("kubecopilot.diagnose")

#: kind -> (group, plural, namespaced, versions in order of preference)
KINDS: dict[str, tuple[str, str, bool, tuple[str, ...]]] = {
    "Pod": ("", "pods", True, ("v1",)),
    "Event": ("", "events", True, ("v1",)),
    "Service": ("", "services", True, ("v1",)),
    "Endpoints": ("", "endpoints", True, ("v1",)),
    "ConfigMap": ("", "configmaps", True, ("v1",)),
    "Secret": ("", "secrets", True, ("v1",)),
    "PersistentVolumeClaim": ("", "persistentvolumeclaims", True, ("v1",)),
    "ResourceQuota": ("", "resourcequotas", True, ("v1",)),
    "LimitRange": ("", "limitranges", True, ("v1",)),
    "Node": ("", "nodes", False, ("v1",)),
    "PersistentVolume": ("", "persistentvolumes", False, ("v1",)),
    "Deployment": ("apps", "deployments", True, ("v1",)),
    "ReplicaSet": ("apps", "replicasets", True, ("v1",)),
    "StatefulSet": ("apps", "statefulsets", True, ("v1",)),
    "DaemonSet": ("apps", "daemonsets", True, ("v1",)),
    "Job": ("batch", "jobs", True, ("v1",)),
    "CronJob": ("batch", "cronjobs", True, ("v1", "v1beta1")),
    "Ingress": ("networking.k8s.io", "ingresses", True, ("v1", "v1beta1")),
    "HorizontalPodAutoscaler": ("autoscaling", "horizontalpodautoscalers", True, ("v2", "v2beta2", "v1")),
    "StorageClass": ("storage.k8s.io", "storageclasses", False, ("v1",)),
    "PodMetrics": ("metrics.k8s.io", "pods", True, ("v1beta1",)),
}
# Ingress before networking.k8s.io existed.
_FALLBACK = {"Ingress": ("extensions", "v1beta1")}


class ApiPaths:
    """Which group/version serves each kind in `KINDS` on one cluster (None: not served)."""

    def __init__(self, conn: Any) -> None:
        groups: dict[str, list[str]] = {"": ["v1"]}
        try:
            for g in conn.get("/apis").get("groups") or []:
                groups[g.get("name", "")] = [v.get("version") for v in g.get("versions") or []]
        except ClusterError as e:  # discovery refused: assume the stable versions
            log.info("discovery of /apis failed (%s); assuming the stable API versions", e)
            groups = {}
        self.versions: dict[str, tuple[str, str] | None] = {}
        served: dict[str, set[str]] = {}

        def resources(group: str, version: str) -> set[str]:
            key = f"{group}/{version}"
            if key not in served:
                try:
                    doc = conn.get(f"/apis/{group}/{version}" if group else f"/api/{version}")
                    served[key] = {r.get("name") for r in doc.get("resources") or []}
                except ClusterError:
                    served[key] = set()
            return served[key]

        for kind, (group, plural, _, versions) in KINDS.items():
            chosen: tuple[str, str] | None = None
            if not groups:
                chosen = (group, versions[0]) if kind != "PodMetrics" else None
            else:
                available = groups.get(group, [])
                for v in versions:
                    if v in available and ((len(versions) == 1 and group != "metrics.k8s.io")
                                           or plural in resources(group, v)):
                        chosen = (group, v)
                        break
                if chosen is None and kind in _FALLBACK:
                    g, v = _FALLBACK[kind]
                    if v in groups.get(g, []) and plural in resources(g, v):
                        chosen = (g, v)
            self.versions[kind] = chosen

    def served(self, kind: str) -> bool:
        return self.versions.get(kind) is not None

    def api_version(self, kind: str) -> str | None:
        gv = self.versions.get(kind)
        if gv is None:
            return None
        return f"{gv[0]}/{gv[1]}" if gv[0] else gv[1]

    def path(self, kind: str, namespace: str | None = None, name: str | None = None) -> str:
        gv = self.versions.get(kind)
        if gv is None:
            raise ResourceNotFoundError(404, "GET", kind, f"this cluster serves no {kind} API")
        group, version = gv
        _, plural, namespaced, _ = KINDS[kind]
        base = f"/apis/{group}/{version}" if group else f"/api/{version}"
        if namespaced and namespace:
            base += f"/namespaces/{namespace}"
        return f"{base}/{plural}" + (f"/{name}" if name else "")


_PATHS: weakref.WeakKeyDictionary[Any, ApiPaths] = weakref.WeakKeyDictionary()
_PATHS_LOCK = threading.Lock()


def paths_for(conn: Any) -> ApiPaths:
    with _PATHS_LOCK:
        found = _PATHS.get(conn)
    if found is None:
        found = ApiPaths(conn)
        with _PATHS_LOCK:
            _PATHS[conn] = found
    return found


class Deadline:
    """A time budget: ``remaining()`` seconds left (never below a small floor, so a last call can still run)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = float(seconds)
        self.start = time.monotonic()

    def remaining(self) -> float:
        return self.seconds - (time.monotonic() - self.start)

    def expired(self) -> bool:
        return self.remaining() <= 0

    def timeout(self, floor: float = 0.5) -> float:
        return max(floor, self.remaining())


@dataclass
class CallLog:
    """Every API call one diagnosis made: (label, milliseconds, ok)."""

    calls: list[tuple[str, float, bool]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, label: str, ms: float, ok: bool) -> None:
        with self.lock:
            self.calls.append((label, ms, ok))

    @property
    def total_ms(self) -> float:
        return sum(ms for _, ms, _ in self.calls)


class Api:
    """Thin raw-JSON access for the diagnosis: get/list/logs with timeouts, recording each call."""

    def __init__(self, conn: Any, deadline: Deadline | None = None) -> None:
        self.conn = conn
        self.paths = paths_for(conn)
        self.deadline = deadline or Deadline(60)
        self.log = CallLog()
        #: (path, params, text?) of every request, in order: lets a benchmark replay the same calls bare
        self.requests: list[tuple[str, dict[str, Any], bool]] = []

    def _timed(self, label: str, fn: Callable[[], Any]) -> Any:
        t0 = time.perf_counter()
        ok = False
        try:
            out = fn()
            ok = True
            return out
        finally:
            self.log.add(label, (time.perf_counter() - t0) * 1000, ok)

    def get(self, kind: str, namespace: str | None, name: str) -> dict[str, Any]:
        path = self.paths.path(kind, namespace, name)
        self.requests.append((path, {}, False))
        return self._timed(f"get {kind} {namespace or ''}/{name}", lambda: self.conn.request(
            "GET", path, timeout=self.deadline.timeout()))

    def get_or_none(self, kind: str, namespace: str | None, name: str) -> dict[str, Any] | None:
        try:
            return self.get(kind, namespace, name)
        except ResourceNotFoundError:
            return None

    def list(self, kind: str, namespace: str | None = None, *, page: int = 500, **params: Any) -> list[dict[str, Any]]:
        """All items (following ``continue``), each page under the remaining budget."""
        path = self.paths.path(kind, namespace)
        label = f"list {kind} {namespace or '*'}" + "".join(f" {k}={v}" for k, v in params.items() if v)

        def run() -> list[dict[str, Any]]:
            items: list[dict[str, Any]] = []
            cont = None
            self.requests.append((path, {**params, "limit": page}, False))
            while True:
                body = self.conn.request("GET", path, params={**params, "limit": page, "continue": cont},
                                         timeout=self.deadline.timeout())
                items.extend(body.get("items") or [])
                cont = (body.get("metadata") or {}).get("continue")
                if not cont:
                    return items

        return self._timed(label, run)

    def logs(self, namespace: str, pod: str, container: str, *, previous: bool = False, tail: int = 400,
             limit_bytes: int = 256 * 1024) -> str | None:
        """A container's log (``previous``: the instance before the last restart); None when there is none."""
        path = self.paths.path("Pod", namespace, pod) + "/log"
        params = {"container": container, "tailLines": tail, "limitBytes": limit_bytes,
                  "previous": True if previous else None}
        label = f"logs {namespace}/{pod}/{container}{' previous' if previous else ''}"
        self.requests.append((path, params, True))
        try:
            return self._timed(label, lambda: self.conn.get_text(path, timeout=self.deadline.timeout(), **params))
        except ClusterApiError as e:
            if e.status in (400, 404):   # not started yet / no previous instance / pod gone
                return None
            raise


_POOL: ThreadPoolExecutor | None = None
_POOL_LOCK = threading.Lock()
_POOL_SIZE = 16


def _pool() -> ThreadPoolExecutor:
    """One process-wide pool: starting threads costs about a millisecond each on a busy machine, more than some
    of the calls they make. Tasks never wait on other tasks, so sharing it cannot deadlock."""
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            _POOL = ThreadPoolExecutor(max_workers=_POOL_SIZE, thread_name_prefix="kc-diagnose")
        return _POOL


def run_parallel(tasks: dict[str, Callable[[], Any]], deadline: Deadline, *, workers: int = 8
                 ) -> tuple[dict[str, Any], dict[str, BaseException]]:
    """Run ``tasks`` in parallel (at most ``workers`` at a time) until they finish or the deadline passes.

    Returns (results, errors) by task label; a task still running at the deadline is reported as a
    ``TimeoutError`` and abandoned (it ends at its own request timeout, which is bounded by the same deadline).
    """
    results: dict[str, Any] = {}
    errors: dict[str, BaseException] = {}
    if not tasks:
        return results, errors
    gate = threading.BoundedSemaphore(max(1, workers))

    def bounded(fn: Callable[[], Any]) -> Any:
        with gate:
            return fn()

    pool = _pool()
    futures: dict[Future[Any], str] = {pool.submit(bounded, fn): label for label, fn in tasks.items()}
    pending = set(futures)
    try:
        while pending:
            remaining = deadline.remaining()
            if remaining <= 0:
                break
            done, pending = wait(pending, timeout=remaining, return_when=FIRST_COMPLETED)
            for fut in done:
                label = futures[fut]
                exc = fut.exception()
                if exc is None:
                    results[label] = fut.result()
                else:
                    errors[label] = exc
        for fut in pending:
            errors[futures[fut]] = TimeoutError(f"no answer within the {deadline.seconds:g} s budget")
    finally:
        for fut in pending:
            fut.cancel()
    return results, errors
