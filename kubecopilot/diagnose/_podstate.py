"""Reading a pod's status the way the kubelet writes it: which containers are in trouble and which logs explain
them. Used both to decide what to fetch (only the pods that need it) and by the pod analyzers."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from kubecopilot.diagnose._util import age_seconds, container_statuses, is_ready

__all__ = [
    "IMAGE_PULL_REASONS",
    "RECENT_RESTART",
    "STARTING_GRACE",
    "is_problem_pod",
    "logs_needed",
    "recent_termination",
]

IMAGE_PULL_REASONS = frozenset({"ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull",
                                "RegistryUnavailable"})
#: A container whose last crash is older than this and that runs now has recovered.
RECENT_RESTART = 900.0
#: Pods younger than this that are still starting normally are not in trouble yet.
STARTING_GRACE = 20.0
_STARTING = frozenset({"ContainerCreating", "PodInitializing"})


def recent_termination(cs: dict[str, Any], now: datetime) -> dict[str, Any] | None:
    """The last termination of a container that crashed recently (restarted, last exit non-zero or OOM), else
    None. A container that is running again after an old crash has recovered: no finding."""
    last = (cs.get("lastState") or {}).get("terminated")
    if not last:
        return None
    state = cs.get("state") or {}
    if "waiting" in state:
        return last
    if "running" in state:
        if not cs.get("restartCount"):
            return None
        if last.get("exitCode") == 0 and last.get("reason") not in ("OOMKilled",):
            return None
        age = age_seconds(last.get("finishedAt"), now)
        return last if age is not None and age < RECENT_RESTART else None
    return None


def is_problem_pod(pod: dict[str, Any], now: datetime) -> bool:
    """Worth a closer look: not Running+Ready and not Succeeded, or restarting."""
    status = pod.get("status") or {}
    phase = status.get("phase")
    if phase == "Succeeded":
        return False
    if phase == "Failed":
        return True
    for cs in container_statuses(pod):
        state = cs.get("state") or {}
        if "waiting" in state and (state["waiting"] or {}).get("reason") not in _STARTING:
            return True
        if recent_termination(cs, now) is not None:
            return True
    if phase == "Running" and is_ready(pod):
        return False
    age = age_seconds((pod.get("metadata") or {}).get("creationTimestamp"), now)
    return age is None or age >= STARTING_GRACE or bool(pod["metadata"].get("deletionTimestamp"))


def logs_needed(pod: dict[str, Any], now: datetime) -> list[tuple[str, bool]]:
    """(container, previous) pairs whose logs explain a problem: the previous instance of a container that
    crashed, the current one of a container that ended or is running but not ready (probe failures)."""
    out: list[tuple[str, bool]] = []
    status = pod.get("status") or {}
    ready = is_ready(pod)
    for cs in container_statuses(pod):
        name = cs.get("name")
        if not name:
            continue
        state = cs.get("state") or {}
        if recent_termination(cs, now) is not None:
            out.append((name, True))
            if "running" in state:
                out.append((name, False))
        else:
            ended = "terminated" in state and (state["terminated"] or {}).get("exitCode") not in (0, None)
            unready = "running" in state and not cs.get("ready") and not ready and status.get("phase") == "Running"
            if ended or unready:
                out.append((name, False))
    return out
