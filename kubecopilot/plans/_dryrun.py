"""Sending a plan step: the one place requests are made from a `PlanStep`, for the dry run and for real.

A dry run (``?dryRun=All``) goes through the same authentication, RBAC, admission and schema validation as the
real request and answers with what the server *would* store, so a plan is shown only after the server accepted
it, and its "after" view includes the server's defaults. ``send`` adds the concurrency precondition:

- JSON patches start with ``{"op": "test", "path": "/metadata/resourceVersion", "value": <rv just read>}``;
- deletes carry ``preconditions: {uid, resourceVersion}``; evictions ``preconditions: {uid}``.

Errors: 403 stays a `ClusterForbiddenError` (it names verb and resource; the viewer's "may not patch deployments"
is the most useful message there is); any other rejection of a dry run becomes `PlanValidationError` quoting the
server.
"""

from __future__ import annotations

import threading
import weakref
from typing import Any

from kubecopilot.errors import ClusterApiError, ClusterForbiddenError, PlanValidationError
from kubecopilot.plans._model import PlanStep

__all__ = ["eviction_version", "send", "server_message", "validate_step"]

JSON_PATCH = "application/json-patch+json"


def server_message(e: ClusterApiError) -> str:
    """The API server's own words (``Status.message``), else our rendering of the error."""
    body = e.body or {}
    msg = body.get("message") or body.get("raw") or str(e)
    causes = (body.get("details") or {}).get("causes") or []
    extra = "; ".join(f"{c.get('field', '')}: {c.get('message', '')}".strip(": ") for c in causes
                      if c.get("message") and c.get("message") not in msg)
    return f"{msg} ({extra})" if extra else str(msg)


def rv_test(resource_version: str) -> dict[str, Any]:
    return {"op": "test", "path": "/metadata/resourceVersion", "value": resource_version}


def send(conn: Any, step: PlanStep, *, dry_run: bool, live: dict[str, Any] | None = None,
         timeout: float | None = None) -> dict[str, Any]:
    """Send ``step``. ``live`` is the object just read: its resourceVersion (patch, delete) and uid (delete,
    eviction) become the precondition. A dry run is sent without the resourceVersion test — controllers rewrite
    status all the time, and the dry run is about admission and schema; the real write carries the test."""
    params = {"dryRun": "All"} if dry_run else None
    meta = (live or {}).get("metadata") or {}
    target = step.target
    if step.patch_format == "json-patch":
        ops = list(step.patch or [])
        if meta.get("resourceVersion") and not dry_run:
            ops = [rv_test(meta["resourceVersion"]), *ops]
        return conn.request("PATCH", target.path, params=params, body=ops, content_type=JSON_PATCH, timeout=timeout)
    if step.patch_format == "create":
        return conn.request("POST", target.path.rsplit("/", 1)[0], params=params, body=step.body, timeout=timeout)
    if step.patch_format == "delete":
        body: dict[str, Any] = {"apiVersion": "v1", "kind": "DeleteOptions", **(step.body or {})}
        pre = {k: v for k, v in (("uid", meta.get("uid")),
                                 ("resourceVersion", None if dry_run else meta.get("resourceVersion"))) if v}
        if pre:
            body["preconditions"] = pre
        if dry_run:
            body["dryRun"] = ["All"]
        return conn.request("DELETE", target.path, params=params, body=body, timeout=timeout)
    if step.patch_format == "eviction":
        body = dict(step.body or {})
        opts = dict(body.get("deleteOptions") or {})
        if meta.get("uid"):
            opts["preconditions"] = {"uid": meta["uid"]}
        if dry_run:
            opts["dryRun"] = ["All"]
        if opts:
            body["deleteOptions"] = opts
        return conn.request("POST", target.path + "/eviction", params=params, body=body, timeout=timeout)
    raise ValueError(f"unknown patch format {step.patch_format!r}")  # pragma: no cover - the model forbids it


def validate_step(conn: Any, step: PlanStep, live: dict[str, Any] | None, *, action: str) -> dict[str, Any]:
    """Dry-run ``step``; the server's answer, or `PlanValidationError` quoting why it refused (403 stays
    `ClusterForbiddenError`)."""
    try:
        return send(conn, step, dry_run=True, live=live)
    except ClusterForbiddenError:
        raise
    except ClusterApiError as e:
        raise PlanValidationError(
            f"the API server rejected the planned {action} ({step.description}) in a dry run: "
            f"{e.status} {e.reason}: {server_message(e)}") from None


_EVICTION: weakref.WeakKeyDictionary[Any, str] = weakref.WeakKeyDictionary()
_EVICTION_LOCK = threading.Lock()


def eviction_version(conn: Any) -> str:
    """The Eviction apiVersion this server takes (``policy/v1`` from 1.22, ``policy/v1beta1`` before)."""
    with _EVICTION_LOCK:
        cached = _EVICTION.get(conn)
    if cached:
        return cached
    version = "policy/v1beta1"
    for r in conn.get("/api/v1").get("resources") or []:
        if r.get("name") == "pods/eviction" and r.get("group"):
            version = f"{r['group']}/{r.get('version') or 'v1beta1'}"
            break
    with _EVICTION_LOCK:
        _EVICTION[conn] = version
    return version
