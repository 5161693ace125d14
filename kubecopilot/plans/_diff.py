"""Comparing Kubernetes objects: snapshots, field-by-field changes, drift, and patches that are checked to apply.

What counts as a change (and as drift) is what a person would call one: ``spec``, labels, annotations, data.
Fields the server or controllers rewrite on their own — ``status``, ``managedFields``, ``resourceVersion``,
``generation``, timestamps, the Deployment revision annotation — are noise: a plan made a minute ago is not stale
because a controller bumped ``status.observedGeneration``. An object replaced under the same name (a new uid) is
drift. The race the drift check cannot see (a write between our re-read and our patch) is closed by the ``test``
op on ``/metadata/resourceVersion`` that every patch carries.

Patches come from `jsonpatch.make_patch`, which has known bugs with nested lists (ECOSYSTEM-NOTES §8), so every
generated patch is applied locally and compared with the intended result; a patch that does not reproduce it is
replaced by coarser ``replace`` ops that do.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Iterable
from typing import Any

import jsonpatch
from jsonpointer import escape as _escape
from jsonpointer import unescape as _unescape

from kubecopilot.plans._model import Change, DriftItem

__all__ = [
    "DRIFT_IGNORED",
    "changes",
    "checked_patch",
    "clean",
    "drift",
    "flatten",
    "pointer",
    "resolve",
    "rollback_patch",
    "to_yaml",
]

# Server-written metadata that says nothing about what the object *is*.
_NOISE_METADATA = ("managedFields", "resourceVersion", "generation", "selfLink", "creationTimestamp")
# Ignored when deciding whether the live object drifted from the snapshot (still shown in diffs).
DRIFT_IGNORED: tuple[str, ...] = (
    "/metadata/annotations/deployment.kubernetes.io~1revision",
    "/metadata/annotations/deprecated.daemonset.template.generation",
    "/metadata/annotations/node.alpha.kubernetes.io~1ttl",
)
_SECRET_FIELDS = ("data", "stringData")
_LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


def pointer(*parts: Any) -> str:
    """A JSON pointer from raw keys (``pointer("metadata", "annotations", "a/b")`` escapes the ``/``)."""
    return "".join("/" + _escape(str(p)) for p in parts)


def clean(obj: dict[str, Any] | None) -> dict[str, Any] | None:
    """A snapshot of ``obj`` without status and server noise; Secret values and literal credentials in env vars
    become digests (never stored)."""
    if obj is None:
        return None
    out = {k: copy.deepcopy(v) for k, v in obj.items() if k != "status"}
    meta = out.get("metadata")
    if isinstance(meta, dict):
        for key in _NOISE_METADATA:
            meta.pop(key, None)
        if not meta.get("annotations"):
            meta.pop("annotations", None)
    _digest_env_credentials(out)
    if out.get("kind") == "Secret":
        for key in _SECRET_FIELDS:
            if isinstance(out.get(key), dict):
                out[key] = {k: _digest(v) for k, v in out[key].items()}
        annotations = (meta or {}).get("annotations") or {}
        if _LAST_APPLIED in annotations:
            annotations[_LAST_APPLIED] = _digest(annotations[_LAST_APPLIED])
    return out


def _digest_env_credentials(node: Any) -> None:
    """Literal values of env vars named like credentials (``DB_PASSWORD``) become digests, in place: a snapshot
    is stored in the audit ledger and shown in notebooks. Drift is still seen (the digest changes with the value);
    a plan that would *write* such a value is refused by the builders."""
    from kubecopilot.audit._canonical import is_secret_key

    if isinstance(node, dict):
        for key, value in node.items():
            if key == "env" and isinstance(value, list):
                for entry in value:
                    if (isinstance(entry, dict) and isinstance(entry.get("value"), str)
                            and is_secret_key(str(entry.get("name", "")))):
                        entry["value"] = _digest(entry["value"])
            else:
                _digest_env_credentials(value)
    elif isinstance(node, list):
        for item in node:
            _digest_env_credentials(item)


_DIGEST = "kubecopilot-digest:sha256:"


def _digest(value: Any) -> str:
    """A stable digest; idempotent, so cleaning a cleaned object changes nothing."""
    if isinstance(value, str) and value.startswith(_DIGEST):
        return value
    return _DIGEST + hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()[:16]


def flatten(obj: Any, prefix: str = "") -> dict[str, Any]:
    """Leaves by JSON pointer; an empty dict or list is a leaf of its own (so ``{}`` -> absent is a change)."""
    out: dict[str, Any] = {}
    if isinstance(obj, dict) and obj:
        for k, v in obj.items():
            out.update(flatten(v, prefix + "/" + _escape(str(k))))
    elif isinstance(obj, list) and obj:
        for i, v in enumerate(obj):
            out.update(flatten(v, f"{prefix}/{i}"))
    else:
        out[prefix] = obj
    return out


def resolve(obj: Any, path: str, default: Any = None) -> Any:
    """The value at JSON pointer ``path`` in ``obj``, or ``default``."""
    if path in ("", "/"):
        return obj
    cur = obj
    for raw in path.lstrip("/").split("/"):
        part = _unescape(raw)
        if isinstance(cur, dict) and part in cur:
            cur = cur[part]
        elif isinstance(cur, list) and part.isdigit() and int(part) < len(cur):
            cur = cur[int(part)]
        else:
            return default
    return cur


def changes(before: dict[str, Any] | None, after: dict[str, Any] | None) -> list[Change]:
    """Field-by-field changes between two cleaned objects, in document order of ``after`` then removals."""
    a, b = flatten(before or {}), flatten(after or {})

    def emptied(path: str, value: Any, other: dict[str, Any]) -> bool:
        # ``resources: {}`` left behind when its last key goes is part of that removal, not a change of its own
        return value in ({}, []) and any(p.startswith(path + "/") for p in other)

    out: list[Change] = []
    for path, new in b.items():
        if path not in a:
            if not emptied(path, new, a):
                out.append(Change(op="add", path=path, new=new))
        elif a[path] != new or type(a[path]) is not type(new):
            out.append(Change(op="replace", path=path, old=a[path], new=new))
    out += [Change(op="remove", path=path, old=old) for path, old in a.items()
            if path not in b and not emptied(path, old, b)]
    return out


def _ignored(path: str, ignore: Iterable[str]) -> bool:
    return any(path == p or path.startswith(p + "/") for p in ignore)


def drift(target: str, planned: dict[str, Any] | None, live: dict[str, Any] | None,
          ignore: Iterable[str] = DRIFT_IGNORED) -> list[DriftItem]:
    """How the ``live`` object (as read) differs from the ``planned`` snapshot (already `clean`), field by field,
    noise ignored (see the module doc)."""
    if planned is None and live is None:
        return []
    if planned is None:
        return [DriftItem(target=target, path="", change="created", live=(live.get("metadata") or {}).get("uid"))]
    if live is None:
        return [DriftItem(target=target, path="", change="deleted", planned=(planned.get("metadata") or {}).get("uid"))]
    p_uid, l_uid = (planned.get("metadata") or {}).get("uid"), (live.get("metadata") or {}).get("uid")
    if p_uid and l_uid and p_uid != l_uid:
        return [DriftItem(target=target, path="/metadata/uid", change="replaced", planned=p_uid, live=l_uid)]
    ignore = tuple(ignore)
    out: list[DriftItem] = []
    for c in changes(planned, clean(live)):
        if _ignored(c.path, ignore):
            continue
        kind = {"add": "added", "remove": "removed", "replace": "changed"}[c.op]
        out.append(DriftItem(target=target, path=c.path, change=kind, planned=c.old, live=c.new))
    return out


def checked_patch(before: dict[str, Any], after: dict[str, Any]) -> list[dict[str, Any]]:
    """An RFC 6902 patch turning ``before`` into ``after``, verified by applying it locally."""
    ops = jsonpatch.make_patch(before, after).patch
    if _applies(before, ops, after):
        return ops
    ops = _coarse_patch(before, after)
    if not _applies(before, ops, after):  # pragma: no cover - replace ops of whole sections always reproduce
        raise ValueError("could not build a JSON patch that reproduces the intended object")
    return ops


def _applies(doc: dict[str, Any], ops: list[dict[str, Any]], expected: dict[str, Any]) -> bool:
    try:
        return jsonpatch.apply_patch(doc, ops) == expected
    except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException):
        return False


def _coarse_patch(before: dict[str, Any], after: dict[str, Any], prefix: str = "") -> list[dict[str, Any]]:
    """Add/remove/replace whole keys, descending only through dicts (never into lists, where make_patch errs)."""
    ops: list[dict[str, Any]] = []
    for key in before:
        if key not in after:
            ops.append({"op": "remove", "path": prefix + "/" + _escape(key)})
    for key, value in after.items():
        path = prefix + "/" + _escape(key)
        if key not in before:
            ops.append({"op": "add", "path": path, "value": copy.deepcopy(value)})
        elif isinstance(value, dict) and isinstance(before[key], dict):
            ops += _coarse_patch(before[key], value, path)
        elif before[key] != value or type(before[key]) is not type(value):
            ops.append({"op": "replace", "path": path, "value": copy.deepcopy(value)})
    return ops


def rollback_patch(before: dict[str, Any], after: dict[str, Any]) -> list[dict[str, Any]]:
    """The patch that undoes ``before -> after``: ``test`` ops that the fields still hold what we set (so a later
    writer's change is never clobbered), then the inverse ops."""
    inverse = checked_patch(after, before)
    tests: list[dict[str, Any]] = []
    seen: set[str] = set()
    for op in inverse:
        path = op["path"]
        if op["op"] in ("replace", "remove") and path not in seen:
            seen.add(path)
            tests.append({"op": "test", "path": path, "value": copy.deepcopy(resolve(after, path))})
    return tests + inverse


def to_yaml(obj: dict[str, Any] | None) -> str:
    """Block-style YAML for the side-by-side diff (keys in the object's own order)."""
    if obj is None:
        return ""
    import yaml

    return yaml.safe_dump(obj, sort_keys=False, default_flow_style=False, allow_unicode=True, width=100)
