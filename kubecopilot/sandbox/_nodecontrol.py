"""Which nodes the simulator plays, and in what condition: one ConfigMap is the control channel.

Anything with API access (the `Sandbox` object, scenario seeding, a test) declares nodes in
``kube-system/kubecopilot-simulator`` (key ``nodes.json``); the simulator process watches it and
reconciles: registers new nodes, applies labels / taints / capacity, and plays conditions
(``NotReady``: the kubelet reports Ready=False; ``Unreachable``: it stops heartbeating, as if the
machine died; ``MemoryPressure`` / ``DiskPressure`` / ``PIDPressure``). Going through the API
rather than a side channel keeps the simulator a plain client, like a real kubelet.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from kubecopilot.sandbox._rest import ApiError, RestClient

__all__ = ["CONDITIONS", "CONTROL_CONFIGMAP", "NodeSpec", "read_nodes", "remove_nodes", "upsert_nodes"]

CONTROL_NAMESPACE = "kube-system"
CONTROL_NAME = "kubecopilot-simulator"
CONTROL_CONFIGMAP = f"{CONTROL_NAMESPACE}/{CONTROL_NAME}"
CONDITIONS = ("Ready", "NotReady", "Unreachable", "MemoryPressure", "DiskPressure", "PIDPressure")


@dataclass
class NodeSpec:
    """A simulated node: capacity, labels, taints and the condition the simulator plays."""

    name: str
    cpu: str = "4"
    memory: str = "8Gi"
    pods: int = 110
    labels: dict[str, str] = field(default_factory=dict)
    taints: list[dict[str, str]] = field(default_factory=list)
    condition: str = "Ready"

    def __post_init__(self) -> None:
        if self.condition not in CONDITIONS:
            raise ValueError(f"node {self.name}: condition {self.condition!r} is not one of {', '.join(CONDITIONS)}")
        for taint in self.taints:
            if taint.get("effect") not in ("NoSchedule", "PreferNoSchedule", "NoExecute") or not taint.get("key"):
                raise ValueError(
                    f"node {self.name}: taint {taint!r} needs a key and an effect of "
                    "NoSchedule, PreferNoSchedule or NoExecute"
                )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> NodeSpec:
        known = {f for f in cls.__dataclass_fields__}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown node field(s) {sorted(unknown)}; known: {sorted(known)}")
        return cls(**data)


def _configmap_path() -> str:
    return f"/api/v1/namespaces/{CONTROL_NAMESPACE}/configmaps/{CONTROL_NAME}"


def _read(client: RestClient) -> tuple[list[NodeSpec], str | None]:
    cm = client.get_or_none(_configmap_path())
    if not cm:
        return [], None
    specs = [NodeSpec.from_dict(d) for d in json.loads((cm.get("data") or {}).get("nodes.json") or "[]")]
    return specs, cm["metadata"]["resourceVersion"]


def read_nodes(client: RestClient) -> list[NodeSpec]:
    return _read(client)[0]


def _update(client: RestClient, change: Callable[[dict[str, NodeSpec]], None]) -> None:
    """Optimistic read-modify-write: a concurrent writer makes the API server answer 409 and we retry,
    so two writers never drop each other's nodes."""
    for _ in range(20):
        specs, rv = _read(client)
        current = {n.name: n for n in specs}
        change(current)
        body: dict[str, Any] = {
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": CONTROL_NAME, "namespace": CONTROL_NAMESPACE},
            "data": {"nodes.json": json.dumps([asdict(n) for n in current.values()], indent=1)},
        }
        try:
            if rv is None:
                client.create(body)
            else:
                body["metadata"]["resourceVersion"] = rv
                client.request("PUT", _configmap_path(), body)
            return
        except ApiError as e:
            if e.status != 409:
                raise
    raise RuntimeError("could not update the simulator's node list after 20 conflicting writes")


def upsert_nodes(client: RestClient, specs: list[NodeSpec]) -> None:
    """Add or update nodes by name."""
    def change(current: dict[str, NodeSpec]) -> None:
        for spec in specs:
            current[spec.name] = spec
    _update(client, change)


def remove_nodes(client: RestClient, names: list[str]) -> None:
    """Stop simulating these nodes; the simulator deletes their Node objects."""
    def change(current: dict[str, NodeSpec]) -> None:
        for name in names:
            current.pop(name, None)
    _update(client, change)
