"""From an `Op` to an `OperationPlan` and back: build it, find it again after a crash, tell whether it already
took effect, and compute the op that undoes it.

Builders come from the plans package (`PlanBuilder`, what ``ws.plan`` is), under the current plans policy with one
deliberate widening: a rollout may delete *Deployments and Services* — the canary, ``-next`` and old-colour
Deployments and the preview Service it manages, and whatever it created when it is rolled back. The default plans
whitelist leaves deleting workloads out, which is right for a person typing a request; a rollout's deletes are
part of a strategy a person approved. Everything else (risk, approval rules, the dry run) is the plans package's.

An undo is computed from the *executed* plan, whose snapshot says what was there before: scale back to the old
replica count, set the old image, point the Service at the old selector, delete what was created, re-create what
was deleted (from the snapshot, without server fields), or apply the plan's rollback patch (which carries ``test``
ops on the values it expects, so an object changed meanwhile is refused rather than overwritten).
"""

from __future__ import annotations

import copy
import dataclasses
import json
from typing import TYPE_CHECKING, Any

from kubecopilot.errors import PlanError, ResourceNotFoundError
from kubecopilot.rollouts._model import Op, RolloutError

if TYPE_CHECKING:
    from kubecopilot.plans import OperationPlan, PlanBuilder, Policy

__all__ = ["already_applied", "build_plan", "builder", "find_plan", "inverse", "is_noop", "rollout_policy"]

ROLLOUT_DELETES = (("delete", "deployment"), ("delete", "service"))
_DIGEST = "kubecopilot-digest:"


def rollout_policy() -> Policy:
    """The current plans policy, plus deleting Deployments and Services (see the module docstring)."""
    from kubecopilot.plans import current_policy

    base = current_policy()
    return dataclasses.replace(base, whitelist=frozenset(base.whitelist | set(ROLLOUT_DELETES)))


def builder(ws: Any, ledger: Any) -> PlanBuilder:
    from kubecopilot.plans import PlanBuilder

    return PlanBuilder(ws, policy=rollout_policy(), ledger=ledger)


def build_plan(b: PlanBuilder, op: Op, *, key: str, requested_by: str, source: str) -> OperationPlan:
    """Call the builder the op names. Raises what the builder raises (a no-op is a plain `PlanError`)."""
    opts: dict[str, Any] = {"idempotency_key": key, "requested_by": requested_by, "source": source,
                            "reason": op.description}
    a = op.args
    if op.action == "apply":
        return b.apply(a["manifest"], **opts)
    if op.action == "scale":
        return b.scale(op.target, int(a["replicas"]), **opts)
    if op.action == "set_image":
        return b.set_image(op.target, a["image"], a.get("container"), **opts)
    if op.action == "set_env":
        return b.set_env(op.target, a["env"], a.get("container"), **opts)
    if op.action == "set_selector":
        return b.set_selector(op.target, a["selector"], **opts)
    if op.action == "delete":
        return b.delete(op.target, **opts)
    if op.action == "patch":
        return b.patch(op.target, a["patch"], **opts)
    raise RolloutError(f"unknown op action {op.action!r}")  # pragma: no cover - the model's Literal forbids it


def is_noop(e: BaseException, op: Op) -> bool:
    """The builder refused because the object is already as the op wants it (or, for a delete, already gone)."""
    if isinstance(e, ResourceNotFoundError):
        return op.action == "delete"
    return type(e) is PlanError and "nothing to change" in str(e)


def find_plan(ledger: Any, key: str) -> tuple[str, str] | None:
    """(plan id, status) of the newest plan built for idempotency ``key`` — also when a runbook re-keyed it as
    ``runbook/<run>/<key>`` — or None. How a resumed rollout finds the plan it built just before a crash."""
    try:
        rows = ledger.sql("SELECT id, status FROM plans WHERE body->>'$.idempotencyKey' = ? "
                          "OR ends_with(body->>'$.idempotencyKey', ?) ORDER BY created DESC LIMIT 1",
                          [key, "/" + key])
    except Exception:
        return None
    if rows.empty:
        return None
    return str(rows.iloc[0]["id"]), str(rows.iloc[0]["status"])


def _live(conn: Any, path: str) -> dict[str, Any] | None:
    try:
        return conn.get(path)
    except ResourceNotFoundError:
        return None


def already_applied(conn: Any, plan: OperationPlan) -> bool:
    """Does the cluster already show what ``plan`` writes? (A process that died between applying a plan and
    recording it leaves such a plan 'executing'; re-executing it would be refused as drift.)"""
    for step in plan.steps:
        live = _live(conn, step.target.path)
        if step.patch_format == "create":
            if live is None:
                return False
        elif step.patch_format in ("delete", "eviction"):
            if live is not None and (live.get("metadata") or {}).get("uid") == step.target.uid:
                return False
        else:
            if live is None:
                return False
            for c in step.changes:
                if isinstance(c.new, str) and c.new.startswith(_DIGEST):
                    continue  # a credential-like value the plan only knows as a digest: the rest decides
                value = _resolve(live, c.path)
                if (c.op == "remove" and value is not _MISSING) or (c.op != "remove" and value != c.new):
                    return False
    return True


_MISSING = object()


def _resolve(obj: Any, pointer: str) -> Any:
    cur = obj
    for raw in pointer.lstrip("/").split("/") if pointer not in ("", "/") else []:
        part = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(cur, dict) and part in cur:
            cur = cur[part]
        elif isinstance(cur, list) and part.isdigit() and int(part) < len(cur):
            cur = cur[int(part)]
        else:
            return _MISSING
    return cur


def _restorable(snapshot: dict[str, Any] | None, target: str) -> dict[str, Any]:
    """A deleted object's snapshot as a manifest to create it again (no server fields, no status)."""
    if not snapshot:
        raise RolloutError(f"cannot re-create {target}: its plan kept no snapshot")
    snapshot = copy.deepcopy(snapshot)
    annotations = (snapshot.get("metadata") or {}).get("annotations") or {}
    annotations.pop("kubectl.kubernetes.io/last-applied-configuration", None)  # kept as a digest; kubectl's own
    if _DIGEST in json.dumps(snapshot):
        raise RolloutError(f"cannot re-create {target} from its snapshot: it held credential-like values that the "
                           "audit ledger only keeps as digests; re-create it with your deployment tooling")
    obj = copy.deepcopy(snapshot)
    obj.pop("status", None)
    meta = obj.setdefault("metadata", {})
    for key in ("uid", "resourceVersion", "creationTimestamp", "generation", "managedFields", "selfLink",
                "ownerReferences", "deletionTimestamp", "deletionGracePeriodSeconds"):
        meta.pop(key, None)
    (meta.get("annotations") or {}).pop("deployment.kubernetes.io/revision", None)
    if not meta.get("annotations"):
        meta.pop("annotations", None)
    if obj.get("kind") == "Service":
        spec = obj.get("spec") or {}
        for key in ("clusterIP", "clusterIPs"):
            spec.pop(key, None)
    return obj


def inverse(op: Op, plan: OperationPlan, *, key: str) -> Op | None:
    """The op that undoes ``op`` as ``plan`` executed it (None: nothing to undo)."""
    if not op.reversible:
        return None
    step = plan.steps[0]
    before = step.before if step.before is not None else plan.diff.before
    t = op.target

    def make(action: str, description: str, **args: Any) -> Op:
        return Op(key=key, action=action, target=t, args=args, description=f"{description} (undo)",  # type: ignore[arg-type]
                  undo_of=op.key)

    if step.patch_format == "create":
        return make("delete", f"delete {t}, which the rollout created")
    if step.patch_format == "delete":
        return make("apply", f"re-create {t}, which the rollout deleted", manifest=_restorable(before, t))
    spec = (before or {}).get("spec") or {}
    if op.action == "scale":
        replicas = int(spec.get("replicas", 1))
        return make("scale", f"scale {t} back to {replicas}", replicas=replicas)
    if op.action == "set_image":
        container = op.args.get("container")
        for c in ((spec.get("template") or {}).get("spec") or {}).get("containers") or []:
            if c.get("name") == container:
                return make("set_image", f"set {t} back to {c.get('image')}", image=c.get("image"),
                            container=container)
    if op.action == "set_selector":
        selector = dict(spec.get("selector") or {})
        return make("set_selector", f"point {t} back at {','.join(f'{k}={v}' for k, v in sorted(selector.items()))}",
                    selector=selector)
    if step.rollback_patch:
        return make("patch", f"revert {t} ({op.description})", patch=step.rollback_patch)
    return None
