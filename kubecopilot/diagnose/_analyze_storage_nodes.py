"""PersistentVolumeClaim and Node analyzers.

A claim is Pending until a volume binds it: with a StorageClass that does not exist nothing will ever provision
one; with no class at all only a matching PersistentVolume can; ``WaitForFirstConsumer`` classes wait for a pod
by design (not a problem on its own). A node's ``Ready`` condition False or Unknown means its kubelet is not
working (or not reporting); ``MemoryPressure`` / ``DiskPressure`` / ``PIDPressure`` True make it evict pods.
Conditions in their healthy state (Ready=True, pressure False) are no finding.
"""

from __future__ import annotations

from typing import Any

from kubecopilot.diagnose._findings import Evidence, Finding
from kubecopilot.diagnose._snapshot import Snapshot
from kubecopilot.diagnose._util import age_seconds, obj_ref, similar
from kubecopilot.plans import PlanIntent

__all__ = ["analyze_nodes", "analyze_storage"]

_PVC_GRACE = 30.0
_DEFAULT_CLASS = ("storageclass.kubernetes.io/is-default-class", "storageclass.beta.kubernetes.io/is-default-class")


def analyze_storage(snap: Snapshot) -> list[Finding]:
    out: list[Finding] = []
    for pvc in snap.all("PersistentVolumeClaim"):
        f = _pvc(snap, pvc)
        if f is not None:
            out.append(f)
    return out


def _pvc(snap: Snapshot, pvc: dict[str, Any]) -> Finding | None:
    meta, spec, status = pvc.get("metadata") or {}, pvc.get("spec") or {}, pvc.get("status") or {}
    ref = snap.ref(pvc, "PersistentVolumeClaim")
    phase = status.get("phase")
    if phase == "Lost":
        return Finding("pvc.lost", "error", ref, f"the claim lost its volume {spec.get('volumeName', '')}",
                       [Evidence("field", f"{ref} .status.phase", "Lost")])
    if phase != "Pending" or meta.get("deletionTimestamp"):
        return None
    warnings = snap.events_for(pvc, "PersistentVolumeClaim", warning=True, within=900)
    age = age_seconds(meta.get("creationTimestamp"), snap.now)
    if not warnings and age is not None and age < _PVC_GRACE:
        return None
    cls_name = spec.get("storageClassName")
    classes = {(c.get("metadata") or {}).get("name"): c for c in snap.all("StorageClass")}
    evidence = [Evidence("field", f"{ref} .status.phase", "Pending")]
    if warnings:
        e = warnings[-1]
        evidence.insert(0, Evidence("event", ref, f"Warning {e.get('reason')} (x{e.get('count') or 1}): "
                                                  f"{e.get('message', '')}"))
    classes_text = ", ".join(sorted(f"{n}{' (default)' if _is_default(c) else ''}" for n, c in classes.items()))
    if cls_name and snap.is_complete("StorageClass", None) and cls_name not in classes:
        close = similar(cls_name, list(classes))
        cause = (f"the claim asks for StorageClass {cls_name}, which does not exist, so no volume is ever "
                 f"provisioned (classes here: {classes_text or 'none'})")
        if close:
            cause += f"; did you mean {' or '.join(close)}?"
        evidence.append(Evidence("object", obj_ref("StorageClass", None, cls_name), "not found"))
        return Finding("pvc.pending", "error", ref, cause, evidence)
    if cls_name and cls_name in classes:
        mode = classes[cls_name].get("volumeBindingMode")
        if mode == "WaitForFirstConsumer" and not warnings:
            return None   # binds when a pod uses it: by design
        why = f": {warnings[-1].get('message', '')}" if warnings else ""
        return Finding("pvc.pending", "error", ref,
                       f"StorageClass {cls_name} ({classes[cls_name].get('provisioner', '?')}) has not provisioned "
                       f"a volume{why}", evidence)
    if cls_name == "":
        size = ((spec.get("resources") or {}).get("requests") or {}).get("storage")
        return Finding("pvc.pending", "error", ref,
                       f"the claim has no StorageClass (storageClassName: \"\"), so only a matching "
                       f"PersistentVolume can bind it and none does (needs {size}, "
                       f"{', '.join(spec.get('accessModes') or [])})",
                       evidence)
    if cls_name is None and snap.is_complete("StorageClass", None) and not any(_is_default(c) for c in
                                                                               classes.values()):
        return Finding("pvc.pending", "error", ref,
                       "the claim names no StorageClass and the cluster has no default one, so nothing provisions "
                       f"it (classes here: {classes_text or 'none'})", evidence)
    if warnings:
        return Finding("pvc.pending", "error", ref, f"the claim is not bound: {warnings[-1].get('message', '')}",
                       evidence)
    return None


def _is_default(cls: dict[str, Any]) -> bool:
    annotations = (cls.get("metadata") or {}).get("annotations") or {}
    return any(annotations.get(a) == "true" for a in _DEFAULT_CLASS)


# -- nodes ------------------------------------------------------------------------------------------------------

def analyze_nodes(snap: Snapshot) -> list[Finding]:
    out: list[Finding] = []
    for node in snap.all("Node"):
        out += _node(snap, node)
    return out


def _node(snap: Snapshot, node: dict[str, Any]) -> list[Finding]:
    meta, spec, status = node.get("metadata") or {}, node.get("spec") or {}, node.get("status") or {}
    name = meta.get("name", "")
    ref = obj_ref("Node", None, name)
    conds = {c.get("type"): c for c in status.get("conditions") or []}
    out = []
    ready = conds.get("Ready")
    pods_here = [p for p in snap.pods() if (p.get("spec") or {}).get("nodeName") == name
                 and (p.get("status") or {}).get("phase") not in ("Succeeded", "Failed")]
    if ready is not None and ready.get("status") != "True":
        state = "NotReady" if ready.get("status") == "False" else "NotReady (status Unknown: the kubelet stopped " \
                                                                   "reporting)"
        cause = (f"node {name} is {state} since {ready.get('lastTransitionTime', '?')}: "
                 f"{ready.get('reason', '')}: {ready.get('message', '')}".rstrip(": "))
        taints = [f"{t.get('key')}:{t.get('effect')}" for t in spec.get("taints") or []
                  if str(t.get("key", "")).startswith("node.kubernetes.io/")]
        if taints:
            cause += f"; the node controller tainted it ({', '.join(taints)}), so its pods are evicted and nothing " \
                     "new is scheduled there"
        if pods_here:
            cause += f"; {len(pods_here)} pod(s) still assigned to it"
        evidence = [Evidence("field", f"{ref} .status.conditions[Ready]",
                             f"{ready.get('status')} {ready.get('reason', '')}: {ready.get('message', '')}")]
        events = [e for e in snap.events_for(node, "Node", within=3600) if e.get("reason") in
                  ("NodeNotReady", "NodeStatusUnknown", "NodeHasInsufficientMemory", "Rebooted")]
        if events:
            e = events[-1]
            evidence.append(Evidence("event", ref, f"{e.get('type')} {e.get('reason')}: {e.get('message', '')}"))
        out.append(Finding("node.not-ready", "critical", ref, cause, evidence))
    for ctype in ("MemoryPressure", "DiskPressure", "PIDPressure", "NetworkUnavailable"):
        c = conds.get(ctype)
        if c is not None and c.get("status") == "True":
            rule = "node.network-unavailable" if ctype == "NetworkUnavailable" else "node.pressure"
            out.append(Finding(rule, "warning" if rule == "node.pressure" else "error", ref,
                               f"node {name} reports {ctype}: {c.get('reason', '')}: {c.get('message', '')}"
                               + ("; the kubelet evicts pods to recover" if rule == "node.pressure" else ""),
                               [Evidence("field", f"{ref} .status.conditions[{ctype}]",
                                         f"True {c.get('reason', '')}: {c.get('message', '')}")]))
    if spec.get("unschedulable"):
        out.append(Finding("node.cordoned", "info", ref,
                           f"node {name} is cordoned: no new pod is scheduled there",
                           [Evidence("field", f"{ref} .spec.unschedulable", "true")],
                           PlanIntent(action="uncordon", kind="node", name=name, reason=f"uncordon node {name}",
                                      source="rule:node.cordoned")))
    return out
