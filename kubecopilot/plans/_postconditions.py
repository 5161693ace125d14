"""Post-condition checks: what must hold after a plan ran, each a function ``(conn, condition) -> (ok, detail)``.

Builders attach `PostCondition`s naming one of these checks (``kind``) and its parameters; the executor polls a
check until it holds or the condition's timeout passes. The rollout check follows ``kubectl rollout status``: the
controller has observed the generation our write produced, every replica is updated and available, and no old
replica is left.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kubecopilot.errors import ResourceNotFoundError
from kubecopilot.plans._diff import resolve
from kubecopilot.plans._model import PostCondition

__all__ = ["CHECKS", "postcondition"]

Check = Callable[[Any, PostCondition], tuple[bool, str]]


def postcondition(kind: str, description: str, target: str, timeout: float = 120.0, **params: Any) -> PostCondition:
    return PostCondition(kind=kind, description=description, target=target, timeout=timeout, params=params)


def _rollout_complete(conn: Any, pc: PostCondition) -> tuple[bool, str]:
    obj = conn.get(pc.params["path"])
    spec, st = obj.get("spec") or {}, obj.get("status") or {}
    generation = pc.params.get("generation") or (obj.get("metadata") or {}).get("generation") or 0
    if (st.get("observedGeneration") or 0) < generation:
        return False, f"the controller has not observed generation {generation} yet"
    kind = obj.get("kind")
    if kind == "DaemonSet":
        want = st.get("desiredNumberScheduled") or 0
        updated, available = st.get("updatedNumberScheduled") or 0, st.get("numberAvailable") or 0
        if updated < want or available < want:
            return False, f"{updated} of {want} pods updated, {available} available"
        return True, f"{want} pods updated and available"
    want = spec.get("replicas", 1)
    updated, available = st.get("updatedReplicas") or 0, st.get("availableReplicas") or 0
    total = st.get("replicas") or 0
    if kind == "StatefulSet":
        ready = st.get("readyReplicas") or 0
        if st.get("updateRevision") and st.get("currentRevision") != st.get("updateRevision"):
            return False, f"{updated} of {want} replicas on the new revision, {ready} ready"
        return (ready >= want, f"{ready} of {want} replicas ready")
    if updated < want:
        return False, f"{updated} of {want} replicas updated"
    if total > updated:
        return False, f"{total - updated} old replica(s) pending termination"
    if available < updated:
        return False, f"{available} of {updated} updated replicas available"
    return True, f"rollout complete: {updated} of {want} replicas updated and available"


def _replicas_ready(conn: Any, pc: PostCondition) -> tuple[bool, str]:
    obj = conn.get(pc.params["path"])
    st = obj.get("status") or {}
    want = int(pc.params["replicas"])
    ready, total = st.get("readyReplicas") or 0, st.get("replicas") or 0
    return (ready == want and total == want), f"{ready} ready of {total} (want {want})"


def _field_equals(conn: Any, pc: PostCondition) -> tuple[bool, str]:
    obj = conn.get(pc.params["path"])
    value = resolve(obj, pc.params["pointer"], pc.params.get("default"))
    want = pc.params.get("value")
    return value == want, f"{pc.params['pointer']} is {value!r} (want {want!r})"


def _object_gone(conn: Any, pc: PostCondition) -> tuple[bool, str]:
    try:
        obj = conn.get(pc.params["path"])
    except ResourceNotFoundError:
        return True, "gone"
    uid = (obj.get("metadata") or {}).get("uid")
    if pc.params.get("uid") and uid != pc.params["uid"]:
        return True, f"the original object is gone (a new one with uid {uid} exists)"
    deleting = (obj.get("metadata") or {}).get("deletionTimestamp")
    return False, "still terminating" if deleting else "still exists"


def _object_exists(conn: Any, pc: PostCondition) -> tuple[bool, str]:
    try:
        conn.get(pc.params["path"])
    except ResourceNotFoundError:
        return False, "not found"
    return True, "exists"


def _pods_gone(conn: Any, pc: PostCondition) -> tuple[bool, str]:
    left = []
    for p in pc.params.get("pods") or []:
        try:
            obj = conn.get(p["path"])
        except ResourceNotFoundError:
            continue
        if (obj.get("metadata") or {}).get("uid") == p.get("uid"):
            left.append(p["name"])
    if left:
        return False, f"{len(left)} evicted pod(s) still terminating: {', '.join(left[:5])}"
    return True, f"all {len(pc.params.get('pods') or [])} evicted pods are gone"


def _service_endpoints(conn: Any, pc: PostCondition) -> tuple[bool, str]:
    try:
        ep = conn.get(pc.params["path"])
    except ResourceNotFoundError:
        return False, "no Endpoints object yet"
    ready = sum(len(s.get("addresses") or []) for s in ep.get("subsets") or [])
    return ready > 0, f"{ready} ready endpoint address(es)"


CHECKS: dict[str, Check] = {
    "rollout_complete": _rollout_complete,
    "replicas_ready": _replicas_ready,
    "field_equals": _field_equals,
    "object_gone": _object_gone,
    "object_exists": _object_exists,
    "pods_gone": _pods_gone,
    "service_has_endpoints": _service_endpoints,
}
