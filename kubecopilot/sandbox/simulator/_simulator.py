"""Wiring of the node simulator: informers, the node manager, the pod engine and per-node kubelet APIs."""

from __future__ import annotations

import json
import logging
import threading
import time
from pathlib import Path
from typing import Any

from kubecopilot.sandbox._nodecontrol import CONTROL_NAME, CONTROL_NAMESPACE, NodeSpec
from kubecopilot.sandbox._rbac import ensure_operator_binding
from kubecopilot.sandbox._rest import RestClient
from kubecopilot.sandbox.simulator._events import EventRecorder
from kubecopilot.sandbox.simulator._informer import Informer
from kubecopilot.sandbox.simulator._kubeletapi import KubeletApi
from kubecopilot.sandbox.simulator._metrics import MetricsPublisher
from kubecopilot.sandbox.simulator._nodes import NodeManager
from kubecopilot.sandbox.simulator._pods import PodEngine

__all__ = ["Simulator"]

log = logging.getLogger(__name__)
# Dependencies a pod may wait on: when one changes, waiting pods are re-checked at once.
_DEPENDENCIES = ("configmaps", "secrets", "persistentvolumeclaims", "services", "endpoints")


class Simulator:
    def __init__(self, data_dir: Path) -> None:
        self.stats_path = data_dir / "simulator-stats.json"
        state = json.loads((data_dir / "sandbox.json").read_text())
        pki = data_dir / "pki"
        server = f"https://127.0.0.1:{state['ports']['apiserver']}"
        self.client = RestClient(server, state["tokens"]["simulator"], str(pki / "ca.crt"), maxsize=32)
        self._tls = {"cert": str(pki / "kubelet.crt"), "key": str(pki / "kubelet.key"), "ca": str(pki / "ca.crt")}
        self.events = EventRecorder(self.client)
        self.apis: dict[str, KubeletApi] = {}
        self.caches: dict[str, Informer] = {
            res: Informer(self.client, f"/api/v1/{res}", self._dependency_changed, name=res)
            for res in _DEPENDENCIES
        }
        self.nodes = NodeManager(self.client, self.events, self._start_api, self._nodes_changed)
        self.engine = PodEngine(self.client, self.events, nodes=self.nodes.names,
                                node_condition=self.nodes.condition,
                                node_index=lambda n: self.nodes.index.get(n, 0), caches=self.caches,
                                log_dir=data_dir / "pod-logs")
        self.metrics = MetricsPublisher(self.client, self.engine, self.nodes.names)
        self.pods = Informer(self.client, "/api/v1/pods", self.engine.on_pod_event,
                             params={"fieldSelector": "spec.nodeName!="}, name="pods")
        self.control = Informer(self.client, f"/api/v1/namespaces/{CONTROL_NAMESPACE}/configmaps",
                                self._control_changed, params={"fieldSelector": f"metadata.name={CONTROL_NAME}"},
                                name="control")
        self.namespaces = Informer(self.client, "/api/v1/namespaces", self._namespace_changed, name="namespaces")
        self._reconcile_lock = threading.Lock()

    def run(self, stop: threading.Event) -> None:
        self.events.start()
        for inf in self.caches.values():
            inf.start()
        for inf in self.caches.values():
            inf.synced.wait(30)
        self.engine.start()
        self.nodes.start()
        self.namespaces.start()
        self.control.start()
        self.control.synced.wait(30)
        self.pods.start()
        self.metrics.start()
        log.info("node simulator running")
        while not stop.wait(1.0):
            self._write_stats()
        for inf in [*self.caches.values(), self.pods, self.control, self.namespaces]:
            inf.stop()
        self.engine.stop()
        self.nodes.stop()
        self.metrics.stop()
        for api in self.apis.values():
            api.stop()

    def _write_stats(self) -> None:
        """Counters for `status` and the benchmark (the simulator runs in its own process)."""
        stats = {"time": time.time(), "synced": self.pods.synced.is_set(),
                 "pods": len(self.engine.pods), "transitions": self.engine.transitions,
                 "status_writes": self.engine.status_writes, "events_posted": self.events.posted,
                 "events_dropped": self.events.dropped, "events_pending": self.events.pending(),
                 "metrics_writes": self.metrics.writes, "nodes": sorted(self.nodes.names())}
        tmp = self.stats_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(stats))
        tmp.replace(self.stats_path)

    def _start_api(self, node: str) -> int:
        api = KubeletApi(node, self.engine, **self._tls).start()
        self.apis[node] = api
        return api.port

    def _dependency_changed(self, etype: str, obj: dict[str, Any]) -> None:
        if self.pods.synced.is_set():
            self.engine.poke()

    def _nodes_changed(self) -> None:
        self.engine.nodes_changed()
        if self.pods.synced.is_set():
            # Pods bound to a node we just started playing are in the store already: replay them.
            for pod in self.pods.items():
                self.engine.on_pod_event("MODIFIED", pod)

    def _control_changed(self, etype: str, cm: dict[str, Any]) -> None:
        raw = "[]" if etype == "DELETED" else (cm.get("data") or {}).get("nodes.json", "[]")
        try:
            specs = [NodeSpec.from_dict(d) for d in json.loads(raw)]
        except (ValueError, TypeError) as e:
            log.error("ignoring invalid node list in %s/%s: %s", CONTROL_NAMESPACE, CONTROL_NAME, e)
            return
        with self._reconcile_lock:
            self.nodes.reconcile(specs)

    def _namespace_changed(self, etype: str, ns: dict[str, Any]) -> None:
        if etype == "ADDED" and (ns.get("status") or {}).get("phase") != "Terminating":
            ensure_operator_binding(self.client, ns["metadata"]["name"])
