"""Simulated nodes: registration, Lease renewal, status heartbeats and played conditions.

A real kubelet renews its Lease in ``kube-node-lease`` every 10 s and reports status when something
changes (or every few minutes). Without renewal the node-lifecycle controller marks the node Unknown
after ``--node-monitor-grace-period`` and taints it ``node.kubernetes.io/unreachable``, which is
exactly what condition ``Unreachable`` plays: the simulator simply stops heartbeating.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from kubecopilot.sandbox._nodecontrol import NodeSpec
from kubecopilot.sandbox._rest import ApiError, RestClient
from kubecopilot.sandbox.simulator._events import EventRecorder, now_rfc3339

__all__ = ["NodeManager"]

log = logging.getLogger(__name__)
LEASE_SECONDS = 40
RENEW_EVERY = 5.0
STATUS_EVERY = 30.0
_MANAGED_TAINT_PREFIX = "node.kubernetes.io/"  # taints owned by the node-lifecycle controller

_CONDITIONS = {
    # condition played -> {type: (status, reason, message)} overrides of the healthy set
    "NotReady": {"Ready": ("False", "KubeletNotReady",
                           "container runtime network not ready: NetworkReady=false "
                           "reason:NetworkPluginNotReady "
                           "message:Network plugin returns error: cni plugin not initialized")},
    "MemoryPressure": {"MemoryPressure": ("True", "KubeletHasInsufficientMemory",
                                          "kubelet has insufficient memory available")},
    "DiskPressure": {"DiskPressure": ("True", "KubeletHasDiskPressure", "kubelet has disk pressure")},
    "PIDPressure": {"PIDPressure": ("True", "KubeletHasInsufficientPID", "kubelet has insufficient PID available")},
}
_HEALTHY = {
    "MemoryPressure": ("False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
    "DiskPressure": ("False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
    "PIDPressure": ("False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
    "Ready": ("True", "KubeletReady", "kubelet is posting ready status"),
}


class NodeManager:
    """Keeps the declared nodes registered and heart-beating. Thread-safe."""

    def __init__(self, client: RestClient, events: EventRecorder,
                 start_kubelet_api: Callable[[str], int], on_nodes_changed: Callable[[], None]) -> None:
        self.client = client
        self.events = events
        self._start_api = start_kubelet_api
        self._on_changed = on_nodes_changed
        self.specs: dict[str, NodeSpec] = {}
        self.ports: dict[str, int] = {}
        self.index: dict[str, int] = {}
        self._transition: dict[tuple[str, str], str] = {}
        self._played: dict[str, str] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._heartbeat_loop, name="node-heartbeats", daemon=True)

    def start(self) -> NodeManager:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def names(self) -> set[str]:
        with self._lock:
            return set(self.specs)

    def condition(self, node: str) -> str:
        with self._lock:
            spec = self.specs.get(node)
            return spec.condition if spec else "Unreachable"

    # -- reconcile from the control ConfigMap --------------------------------------------------------
    def reconcile(self, specs: list[NodeSpec]) -> None:
        wanted = {s.name: s for s in specs}
        with self._lock:
            removed = {n for n in self.specs if n not in wanted}
            for n in removed:
                del self.specs[n]
        # Also nodes an earlier simulator process registered and nobody declares any more.
        try:
            registered = self.client.list("/api/v1/nodes", labelSelector="kubecopilot.io/simulated=true")
            removed |= {n["metadata"]["name"] for n in registered if n["metadata"]["name"] not in wanted}
        except ApiError as e:
            log.warning("could not list simulated nodes: %s", e)
        for n in sorted(removed):
            try:
                self.client.delete(f"/api/v1/nodes/{n}")
            except ApiError as e:
                log.warning("could not delete node %s: %s", n, e)
        for spec in wanted.values():
            try:
                self._ensure(spec)
            except Exception:
                log.exception("could not register node %s", spec.name)
        self._on_changed()

    def _ensure(self, spec: NodeSpec) -> None:
        with self._lock:
            old = self.specs.get(spec.name)
            if spec.name not in self.ports:
                self.index[spec.name] = len(self.index) + 1
                self.ports[spec.name] = self._start_api(spec.name)
            self.specs[spec.name] = spec
        path = f"/api/v1/nodes/{spec.name}"
        current = self.client.get_or_none(path)
        labels = {
            "kubernetes.io/hostname": spec.name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
            "beta.kubernetes.io/os": "linux", "beta.kubernetes.io/arch": "amd64",
            "kubecopilot.io/simulated": "true", **spec.labels,
        }
        if current is None:
            body = {"apiVersion": "v1", "kind": "Node",
                    "metadata": {"name": spec.name, "labels": labels,
                                 "annotations": {"node.alpha.kubernetes.io/ttl": "0"}},
                    "spec": {"taints": spec.taints} if spec.taints else {}}
            self.client.create(body)
            self.events.emit(self._ref(spec.name), "Normal", "Starting", "Starting kubelet.", spec.name)
            self.events.emit(self._ref(spec.name), "Normal", "RegisteredNode",
                             f"Node {spec.name} registered with the KubeCopilot simulator", spec.name)
        elif old is None or old != spec:
            managed = [t for t in (current.get("spec") or {}).get("taints") or []
                       if t["key"].startswith(_MANAGED_TAINT_PREFIX)]
            self.client.patch(path, {"metadata": {"labels": labels},
                                     "spec": {"taints": managed + spec.taints or None}}, kind="merge")
        self._report(spec, force=True)

    # -- heartbeats --------------------------------------------------------------------------------
    def _heartbeat_loop(self) -> None:
        last_status: dict[str, float] = {}
        while not self._stop.wait(RENEW_EVERY):
            with self._lock:
                specs = list(self.specs.values())
            for spec in specs:
                if spec.condition == "Unreachable":
                    continue
                try:
                    self._renew_lease(spec.name)
                    if time.monotonic() - last_status.get(spec.name, 0) > STATUS_EVERY:
                        self._report(spec)
                        last_status[spec.name] = time.monotonic()
                except Exception as e:
                    log.warning("heartbeat of %s failed: %s", spec.name, e)

    def _renew_lease(self, node: str) -> None:
        path = f"/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/{node}"
        now = time.time()
        micro = time_micro(now)
        try:
            self.client.patch(path, {"spec": {"renewTime": micro, "holderIdentity": node}}, kind="merge")
        except ApiError as e:
            if e.status != 404:
                raise
            self.client.create({
                "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                "metadata": {"name": node, "namespace": "kube-node-lease"},
                "spec": {"holderIdentity": node, "leaseDurationSeconds": LEASE_SECONDS, "renewTime": micro},
            })

    def _report(self, spec: NodeSpec, *, force: bool = False) -> None:
        if spec.condition == "Unreachable" and not force:
            return
        if spec.condition == "Unreachable":
            # Registered once so it exists, then silence: the node controller marks it Unknown.
            played = "Ready" if spec.name not in self._played else None
            if played is None:
                return
        else:
            played = spec.condition
        now = now_rfc3339()
        overrides = _CONDITIONS.get(played, {})
        conditions = []
        for ctype in ("MemoryPressure", "DiskPressure", "PIDPressure", "Ready"):
            status, reason, message = overrides.get(ctype, _HEALTHY[ctype])
            key = (spec.name, ctype)
            prev = self._transition.get(key)
            if prev is None or not prev.startswith(status + "@"):
                self._transition[key] = f"{status}@{now}"
                if ctype == "Ready":
                    self.events.emit(self._ref(spec.name), "Normal",
                                     "NodeReady" if status == "True" else "NodeNotReady",
                                     f"Node {spec.name} status is now: "
                                     + ("NodeReady" if status == "True" else "NodeNotReady"), spec.name)
            conditions.append({"type": ctype, "status": status, "reason": reason, "message": message,
                               "lastHeartbeatTime": now,
                               "lastTransitionTime": self._transition[key].split("@", 1)[1]})
        self._played[spec.name] = played
        resources = {"cpu": spec.cpu, "memory": spec.memory, "pods": str(spec.pods),
                     "ephemeral-storage": "100Gi", "hugepages-2Mi": "0"}
        status = {
            "capacity": resources, "allocatable": resources, "conditions": conditions,
            "addresses": [{"type": "InternalIP", "address": "127.0.0.1"}, {"type": "Hostname", "address": spec.name}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": self.ports[spec.name]}},
            "nodeInfo": {
                "machineID": f"kubecopilot-{spec.name}", "systemUUID": f"kubecopilot-{spec.name}",
                "bootID": f"kubecopilot-{spec.name}", "kernelVersion": "6.1.0-kubecopilot",
                "osImage": "KubeCopilot simulated node (Debian GNU/Linux 12)",
                "containerRuntimeVersion": "containerd://1.6.20", "kubeletVersion": "v1.20.2",
                "kubeProxyVersion": "v1.20.2", "operatingSystem": "linux", "architecture": "amd64",
            },
        }
        self.client.patch(f"/api/v1/nodes/{spec.name}/status", {"status": status}, kind="strategic")

    def _ref(self, node: str) -> dict[str, Any]:
        return {"kind": "Node", "name": node, "uid": node, "namespace": "default", "apiVersion": "v1"}


def time_micro(ts: float) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


