"""The resource metrics API (``metrics.k8s.io/v1beta1``), published from what the simulated containers use.

A metrics-server is an aggregated API server, but the API server refuses loopback addresses in
Endpoints, so an aggregated API cannot reach a process on 127.0.0.1. Instead the simulator serves
the same group and version through two CRDs (``pods.metrics.k8s.io``, ``nodes.metrics.k8s.io``) and
writes PodMetrics / NodeMetrics objects. The HPA controller and ``kubectl top`` read them as they
would read metrics-server; an HPA whose target has no CPU request reports the real
"missing request for cpu".

Cost is bounded: a pod's PodMetrics is written when its containers start or change, and refreshed
(new ``timestamp``) only in namespaces that have a HorizontalPodAutoscaler, because the HPA ignores
samples older than the pod's last readiness change plus the window.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from kubecopilot.sandbox._rest import ApiError, RestClient
from kubecopilot.sandbox.simulator._events import now_rfc3339

if TYPE_CHECKING:
    from kubecopilot.sandbox.simulator._pods import PodEngine

__all__ = ["MetricsPublisher", "metrics_crds"]

log = logging.getLogger(__name__)
GROUP_VERSION = "metrics.k8s.io/v1beta1"
WINDOW = "30s"
NODE_BASE_MEMORY = 350 * 2**20   # what the "system" uses on every node (kubelet, runtime, OS)
NODE_BASE_CPU_M = 40


def metrics_crds() -> list[dict[str, Any]]:
    def crd(plural: str, kind: str, scope: str) -> dict[str, Any]:
        return {
            "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": f"{plural}.metrics.k8s.io", "annotations": {
                # metrics.k8s.io is a protected group; the annotation records that this is not upstream's.
                "api-approved.kubernetes.io": "unapproved, resource metrics simulated by the kubecopilot sandbox"},
                "labels": {"app.kubernetes.io/managed-by": "kubecopilot-sandbox"}},
            "spec": {"group": "metrics.k8s.io", "scope": scope,
                     "names": {"plural": plural, "kind": kind, "listKind": f"{kind}List",
                               "singular": kind.lower()},
                     "versions": [{"name": "v1beta1", "served": True, "storage": True, "schema": {
                         "openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}}}]},
        }
    return [crd("pods", "PodMetrics", "Namespaced"), crd("nodes", "NodeMetrics", "Cluster")]


def _cpu(millicores: float) -> str:
    return f"{max(0, round(millicores))}m"


def _memory(num_bytes: float) -> str:
    return f"{max(0, int(num_bytes) // 1024)}Ki"


class MetricsPublisher:
    def __init__(self, client: RestClient, engine: PodEngine, nodes: Callable[[], set[str]],
                 *, interval: float = 15.0) -> None:
        self.client = client
        self.engine = engine
        self._nodes = nodes
        self.interval = interval
        self.written: dict[tuple[str, str], tuple[Any, ...]] = {}   # (ns, pod) -> usage written
        self.writes = 0
        self._stop = threading.Event()
        self._pool = ThreadPoolExecutor(4, thread_name_prefix="metrics")
        self._thread = threading.Thread(target=self._loop, name="metrics", daemon=True)

    def start(self) -> MetricsPublisher:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def _loop(self) -> None:
        try:
            for crd in metrics_crds():
                try:
                    self.client.create(crd)
                except ApiError as e:
                    if e.status != 409:
                        raise
            self._wait_served()
        except Exception:
            log.exception("the metrics API could not be set up; HPAs and `top` will see no metrics")
            return
        while not self._stop.is_set():
            try:
                self.publish()
            except Exception:
                log.exception("publishing metrics failed")
            self._stop.wait(self.interval)

    def _wait_served(self) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not self._stop.is_set():
            try:
                self.client.get(f"/apis/{GROUP_VERSION}/pods", limit=1)
                return
            except ApiError:
                self._stop.wait(0.5)

    def snapshot(self) -> tuple[dict[tuple[str, str], dict[str, Any]], dict[str, tuple[float, float]]]:
        """Desired PodMetrics per running pod, and (cpu millicores, memory bytes) per node."""
        pods: dict[tuple[str, str], dict[str, Any]] = {}
        per_node: dict[str, tuple[float, float]] = {}
        with self.engine.lock:
            for rt in self.engine.pods.values():
                running = [c for c in rt.containers if c.state == "running" and c.program is not None]
                if not running or rt.gone:
                    continue
                containers = [{"name": c.name, "usage": {"cpu": _cpu(c.program.cpu_millicores),
                                                         "memory": _memory(c.program.memory_bytes)}}
                              for c in running if c.program is not None]
                pods[(rt.namespace, rt.name)] = {"labels": dict(rt.pod["metadata"].get("labels") or {}),
                                                 "containers": containers}
                cpu, mem = per_node.get(rt.node, (0.0, 0.0))
                per_node[rt.node] = (cpu + sum(c.program.cpu_millicores for c in running if c.program),
                                     mem + sum(c.program.memory_bytes for c in running if c.program))
        return pods, per_node

    def publish(self) -> None:
        pods, per_node = self.snapshot()
        try:
            hpa_namespaces = {h["metadata"]["namespace"]
                              for h in self.client.list("/apis/autoscaling/v1/horizontalpodautoscalers")}
        except ApiError:
            hpa_namespaces = set()
        stamp = now_rfc3339()
        jobs = []
        for key, desired in pods.items():
            signature = (tuple(sorted(desired["labels"].items())), repr(desired["containers"]))
            if self.written.get(key) == signature and key[0] not in hpa_namespaces:
                continue
            jobs.append(self._pool.submit(self._write_pod, key, desired, stamp))
            self.written[key] = signature
        for key in [k for k in self.written if k not in pods]:
            del self.written[key]
            jobs.append(self._pool.submit(
                self.client.delete, f"/apis/{GROUP_VERSION}/namespaces/{key[0]}/pods/{key[1]}"))
        for node in self._nodes():
            cpu, mem = per_node.get(node, (0.0, 0.0))
            jobs.append(self._pool.submit(self._write_node, node, cpu + NODE_BASE_CPU_M, mem + NODE_BASE_MEMORY, stamp))
        for job in jobs:
            try:
                job.result(timeout=60)
            except Exception as e:
                log.debug("metrics write failed: %s", e)

    def _upsert(self, path: str, collection: str, body: dict[str, Any]) -> None:
        try:
            self.client.patch(path, {k: v for k, v in body.items() if k not in ("apiVersion", "kind")}, kind="merge")
        except ApiError as e:
            if e.status != 404:
                raise
            try:
                self.client.request("POST", collection, body)
            except ApiError as e2:
                if e2.status not in (403, 404, 409):  # namespace terminating, or a race with another write
                    raise
        self.writes += 1

    def _write_pod(self, key: tuple[str, str], desired: dict[str, Any], stamp: str) -> None:
        ns, name = key
        body = {"apiVersion": GROUP_VERSION, "kind": "PodMetrics",
                "metadata": {"name": name, "namespace": ns, "labels": desired["labels"]},
                "timestamp": stamp, "window": WINDOW, "containers": desired["containers"]}
        self._upsert(f"/apis/{GROUP_VERSION}/namespaces/{ns}/pods/{name}",
                     f"/apis/{GROUP_VERSION}/namespaces/{ns}/pods", body)

    def _write_node(self, node: str, cpu_m: float, mem: float, stamp: str) -> None:
        body = {"apiVersion": GROUP_VERSION, "kind": "NodeMetrics", "metadata": {"name": node},
                "timestamp": stamp, "window": WINDOW, "usage": {"cpu": _cpu(cpu_m), "memory": _memory(mem)}}
        self._upsert(f"/apis/{GROUP_VERSION}/nodes/{node}", f"/apis/{GROUP_VERSION}/nodes", body)
