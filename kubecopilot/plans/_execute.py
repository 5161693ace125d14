"""Approve, reject, execute, roll back, check post-conditions: the transitions of an `OperationPlan`.

::

    pending ──approve──▶ confirmed ──execute──▶ executed
       │                     │   └─────────────▶ failed    (drift, a failed step with nothing to undo, a failed undo)
       └──reject──▶ rejected └─────────────────▶ reverted  (a step failed; the completed steps were rolled back)

Execution, in order: claim the idempotency key (cross-process, see `_store`); re-read every target and refuse on
drift (nothing is written); apply the steps, each with the resourceVersion just read as a server-side
precondition; if a step fails, run the completed steps' rollback patches in reverse order. Every transition is
one ledger transaction (audit event + plan row [+ outcome metric]).
"""

from __future__ import annotations

import datetime as dt
import os
import time
from typing import TYPE_CHECKING, Any, NoReturn

from kubecopilot.errors import (
    ClusterApiError,
    ClusterError,
    PlanDriftError,
    PlanExecutionError,
    PlanStateError,
    ResourceNotFoundError,
)
from kubecopilot.plans import _store
from kubecopilot.plans._diff import drift
from kubecopilot.plans._dryrun import JSON_PATCH, send, server_message
from kubecopilot.plans._model import DriftItem, ExecutionResult, OperationPlan, PlanStep, PostCondition, StepResult
from kubecopilot.plans._policy import current_policy, current_user

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["approve", "check_postconditions", "execute", "reject"]


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _name(by: Any, what: str) -> str:
    if not isinstance(by, str) or not by.strip():
        raise PlanStateError(f"{what} needs a person's name: plan.{what}(by='alice')")
    return by.strip()


def _sync_from_ledger(plan: OperationPlan) -> None:
    """Pick up a decision taken on this plan in another process (it is one row in the shared ledger)."""
    try:
        ledger = _store.ledger_of(plan)
        rows = ledger.sql(f"SELECT status, body->>'$.plan' AS plan FROM {_store.TABLE} WHERE id = ?", [plan.id])
    except Exception:  # the ledger is advisory here: the state check below still uses what we know
        return
    if rows.empty or rows.iloc[0]["status"] in (plan.status, "executing"):
        return
    _adopt_decision(plan, rows.iloc[0]["plan"])


def _adopt_decision(plan: OperationPlan, text: str) -> None:
    other = OperationPlan.from_json(text)
    for field in ("status", "audit", "execution", "failure_reason"):
        setattr(plan, field, getattr(other, field))
    plan._notify()


# -- approval ----------------------------------------------------------------------------------------------------------
def approve(plan: OperationPlan, *, by: str, reason: str = "") -> OperationPlan:
    by = _name(by, "approve")
    _sync_from_ledger(plan)
    if plan.status != "pending":
        raise PlanStateError(f"plan {plan.id[:8]} is {plan.status}{_decided(plan)}; only a pending plan can be "
                             "approved")
    policy = plan._policy or current_policy()
    try:
        policy.check_approver(plan, by)
    except Exception as e:
        _store.record(plan, "plan.approval_refused", by, {"reason": str(e), "risk": plan.risk.level})
        raise
    plan.status = "confirmed"
    plan.audit.confirmed_by = by
    plan.audit.confirm_reason = reason or None
    plan.audit.timestamps.confirmed = _now()
    _store.record(plan, "plan.approved", by, {"reason": reason, "risk": plan.risk.level, "score": plan.risk.score})
    plan._notify()
    return plan


def reject(plan: OperationPlan, *, by: str, reason: str = "") -> OperationPlan:
    by = _name(by, "reject")
    _sync_from_ledger(plan)
    if plan.status not in ("pending", "confirmed"):
        raise PlanStateError(f"plan {plan.id[:8]} is {plan.status}{_decided(plan)}; only a pending or approved "
                             "plan can be rejected")
    plan.status = "rejected"
    plan.audit.rejected_by = by
    plan.audit.reject_reason = reason or None
    plan.audit.timestamps.rejected = _now()
    _store.record(plan, "plan.rejected", by, {"reason": reason})
    plan._notify()
    return plan


def _decided(plan: OperationPlan) -> str:
    a = plan.audit
    if plan.status == "rejected":
        return f" (rejected by {a.rejected_by}{': ' + a.reject_reason if a.reject_reason else ''})"
    if plan.status == "confirmed":
        return f" (approved by {a.confirmed_by})"
    if plan.failure_reason:
        return f" ({plan.failure_reason})"
    return ""


# -- execution ---------------------------------------------------------------------------------------------------------
def execute(plan: OperationPlan, *, by: str | None = None, wait: bool = False, timeout: float = 300.0
            ) -> ExecutionResult:
    actor = _name(by, "execute") if by is not None else current_user()
    if plan.status == "executed" and plan.execution is not None:
        return plan.execution.model_copy(update={"replayed": True})
    _check_executable(plan)
    ws = plan._ws
    if ws is None:
        raise PlanStateError(
            f"plan {plan.id[:8]} is not bound to a cluster connection: load it with kubecopilot.plans.load(plan_id, "
            f"ws=kc.connect(context={plan.cluster.context!r})) or call plan.bind(ws) first")
    ledger = _store.ledger_of(plan)
    key = plan.audit.idempotency_key
    with _store.claims_lock(ledger):
        own, prior = _store.claim_state(ledger, plan.id, key)
        if own is not None and own[1] == "rejected" and prior is None:
            _adopt_decision(plan, own[3])  # rejected in another process since this copy was approved
            _check_executable(plan)
        if prior is not None and prior[1] == "executing" and _store.claim_is_stale(prior[2]):
            prior = None  # its process died mid-way; the drift check below protects what it may have written
        if prior is None:
            claim = _store.new_claim(actor)
            _store.record(plan, "plan.executing", actor, {"idempotencyKey": key, **claim}, status="executing",
                          claim=claim)
    if prior is not None:
        if prior[1] == "executing":
            prior = _store.wait_for_outcome(ledger, key, timeout) or prior
        return _adopt(plan, prior)
    try:
        result = _run(plan, ws.raw, actor)
    except (PlanDriftError, PlanExecutionError):
        raise
    except BaseException as e:  # a bug or an interrupt: the claim must not stay "executing" for ever
        if plan.execution is None:
            _finish(plan, actor, "failed", f"execution stopped unexpectedly: {type(e).__name__}: {e}", [], _now())
        raise
    if wait:
        check_postconditions(plan, timeout=timeout)
    return result


def _check_executable(plan: OperationPlan) -> None:
    if plan.status == "pending":
        raise PlanStateError(f"plan {plan.id[:8]} is not approved yet: plan.approve(by='<your name>') first "
                             f"(risk {plan.risk.level})")
    if plan.status == "rejected":
        raise PlanStateError(f"plan {plan.id[:8]} is rejected{_decided(plan)} and can never be executed; build a new "
                             "plan if the change is wanted")
    if plan.status in ("failed", "reverted"):
        raise PlanStateError(f"plan {plan.id[:8]} already ran and is {plan.status}: {plan.failure_reason}. "
                             "Build a new plan from the live object")


def _adopt(plan: OperationPlan, row: tuple[str, str, Any, str]) -> ExecutionResult:
    """Another call (maybe another process) executed this idempotency key: report its result, apply nothing."""
    plan_id, _status, claim, text = row
    other = OperationPlan.from_json(text)
    if other.execution is None:
        who = f"pid {claim.get('pid')} on {claim.get('host')}" if claim else "another process"
        raise PlanStateError(f"plan {plan.id[:8]} (idempotency key {plan.idempotency_key}) is being executed by "
                             f"{who}; it has not finished yet — load it again later")
    if other.id == plan.id:
        for field in ("status", "audit", "execution", "failure_reason"):
            setattr(plan, field, getattr(other, field))
        plan._notify()
    result = other.execution.model_copy(update={"replayed": True})
    if result.status != "executed":
        raise PlanStateError(f"idempotency key {plan.idempotency_key} was already executed (plan {plan_id[:8]}) and "
                             f"ended {result.status}: {result.reason}")
    return result


def _read(conn: Any, step: PlanStep) -> dict[str, Any] | None:
    try:
        return conn.get(step.target.path)
    except ResourceNotFoundError:
        return None


def _snapshot(plan: OperationPlan, step: PlanStep) -> dict[str, Any] | None:
    if step.patch_format == "create":
        return None
    return step.before if step.before is not None else plan.diff.before


def _drift_of(plan: OperationPlan, step: PlanStep, live: dict[str, Any] | None) -> list[DriftItem]:
    return drift(str(step.target), _snapshot(plan, step), live)


def _run(plan: OperationPlan, conn: Any, actor: str) -> ExecutionResult:
    started = _now()
    lives: dict[str, dict[str, Any] | None] = {}
    found: list[DriftItem] = []
    for step in plan.steps:
        lives[step.id] = live = _read(conn, step)
        found += _drift_of(plan, step, live)
    if found:
        table = "\n".join(f"  - {d}" for d in found[:30]) + (f"\n  ... {len(found) - 30} more" if len(found) > 30
                                                              else "")
        reason = f"refused: the live object(s) drifted from the plan's snapshot ({len(found)} field(s))"
        _finish(plan, actor, "failed", reason, [], started, drift_items=found, event="plan.drift_refused")
        raise PlanDriftError(f"plan {plan.id[:8]} was not executed: {plan.target} changed since the plan was made "
                             f"(nothing was written). What drifted:\n{table}\nBuild a new plan from the live "
                             "object.", drift=found)
    results: list[StepResult] = []
    done: list[tuple[PlanStep, dict[str, Any]]] = []
    for i, step in enumerate(plan.steps):
        live = lives[step.id]
        try:
            if i > 0:  # the first step's read is a few ms old; later ones are re-read right before their write
                live = _read(conn, step)
                moved = _drift_of(plan, step, live)
                if moved:
                    raise _Refused("drifted while the plan was executing: " + "; ".join(map(str, moved[:5])))
            resp = _apply_checked(plan, conn, step, live)
        except _Refused as e:
            _fail(plan, conn, actor, step, str(e), results, done, started)
        except ClusterApiError as e:
            _fail(plan, conn, actor, step, _explain(conn, step, live, e), results, done, started)
        except ClusterError as e:
            _fail(plan, conn, actor, step, str(e), results, done, started)
        except BaseException as e:  # an interrupt (or a bug) half way: say exactly what was applied, undo nothing
            results.append(StepResult(id=step.id, status="failed", detail=f"interrupted: {type(e).__name__}"))
            results += [StepResult(id=s.id, status="not_run") for s in plan.steps[i + 1:]]
            applied = ", ".join(f"{s.id} ({s.description})" for s, _ in done) or "none"
            _finish(plan, actor, "failed", f"execution was interrupted ({type(e).__name__}: {e}) at step {step.id}; "
                    f"applied before that: {applied}; nothing was rolled back — check the objects", results, started)
            raise
        meta = (resp or {}).get("metadata") or {}
        results.append(StepResult(id=step.id, status="applied", detail=step.description,
                                  resource_version=meta.get("resourceVersion"), generation=meta.get("generation"),
                                  uid=meta.get("uid")))
        done.append((step, resp or {}))
    _stamp_postconditions(plan, results)
    return _finish(plan, actor, "executed", "", results, started)


class _Refused(Exception):
    """The server's precondition refused the write and the object really changed meanwhile (not just status)."""


def _rv(obj: dict[str, Any] | None) -> str | None:
    return ((obj or {}).get("metadata") or {}).get("resourceVersion")


def _apply_checked(plan: OperationPlan, conn: Any, step: PlanStep, live: dict[str, Any] | None,
                   attempts: int = 4) -> dict[str, Any]:
    """Send the step with the resourceVersion just read. When the server refuses it because the version moved,
    re-read: if only noise changed (controllers write ``status`` all the time, each write a new resourceVersion),
    send again with the new version; if the object itself changed, refuse — the API server caught a real race."""
    for attempt in range(attempts):
        try:
            return _apply(conn, step, live)
        except ClusterApiError as e:
            if e.status not in (409, 422) or step.patch_format not in ("json-patch", "delete") or not _rv(live):
                raise
            now = _read(conn, step)
            if _rv(now) == _rv(live):
                raise  # the version did not move: a real validation error, reported as the server said it
            moved = _drift_of(plan, step, now)
            if moved:
                raise _Refused(
                    f"{step.target} changed between the drift check and the write (resourceVersion {_rv(live)} -> "
                    f"{_rv(now)}): the API server's precondition refused the write, so nothing was applied by this "
                    f"step. What changed: {'; '.join(map(str, moved[:5]))}") from None
            if attempt == attempts - 1:
                raise
            live = now
    raise AssertionError("unreachable")  # pragma: no cover


def _apply(conn: Any, step: PlanStep, live: dict[str, Any] | None) -> dict[str, Any]:
    if step.patch_format != "eviction":
        return send(conn, step, dry_run=False, live=live)
    # A PodDisruptionBudget answers 429 while it allows no disruption; like `kubectl drain`, retry until the
    # step's eviction timeout (replacement pods becoming ready give the budget room again).
    deadline = time.monotonic() + float(step.options.get("evictionTimeout", 60.0))
    while True:
        try:
            return send(conn, step, dry_run=False, live=live)
        except ClusterApiError as e:
            if e.status != 429 or time.monotonic() >= deadline:
                raise
            time.sleep(min(2.0, max(0.1, deadline - time.monotonic())))


def _explain(conn: Any, step: PlanStep, live: dict[str, Any] | None, e: ClusterApiError) -> str:
    sent_rv = ((live or {}).get("metadata") or {}).get("resourceVersion")
    text = f"{e.status} {e.reason}: {server_message(e)}"
    if e.status in (409, 422) and sent_rv and step.patch_format in ("json-patch", "delete"):
        now = _read(conn, step)
        now_rv = ((now or {}).get("metadata") or {}).get("resourceVersion")
        if now_rv != sent_rv:
            return (f"{step.target} changed between the drift check and the write (resourceVersion {sent_rv} -> "
                    f"{now_rv}): the API server's precondition refused the write, so nothing was applied by this "
                    f"step ({text})")
    if e.status == 429 and step.patch_format == "eviction":
        return (f"eviction of {step.target} was refused for {step.options.get('evictionTimeout', 60.0):g} s: "
                f"{server_message(e)}")
    return text


def _fail(plan: OperationPlan, conn: Any, actor: str, step: PlanStep, detail: str, results: list[StepResult],
          done: list[tuple[PlanStep, dict[str, Any]]], started: dt.datetime) -> NoReturn:
    """Record the failed step, roll back what was done, end the plan ``reverted`` or ``failed``, and raise."""
    results.append(StepResult(id=step.id, status="failed", detail=detail))
    undo = _rollback(conn, done)
    for r in undo:  # the completed steps' rows now say how they ended
        results[:] = [r if x.id == r.id else x for x in results]
    results += [StepResult(id=s.id, status="not_run") for s in plan.steps[len(done) + 1:]]
    rolled = [r for r in undo if r.status == "rolled_back"]
    broken = [r for r in undo if r.status == "rollback_failed"]
    kept = [r for r in undo if r.status == "not_reversible"]
    parts = [f"step {step.id} ({step.description}) failed: {detail}"]
    if not done:
        parts.append("no step had been applied, so nothing needed undoing")
    if rolled:
        parts.append("rolled back: " + ", ".join(f"{r.id} ({r.detail})" for r in rolled))
    if kept:
        parts.append("not reversible, left as done: " + ", ".join(f"{r.id} ({r.detail})" for r in kept))
    if broken:
        parts.append("ROLLBACK FAILED for: " + ", ".join(f"{r.id} ({r.detail})" for r in broken)
                     + " — fix these by hand")
    status = "reverted" if done and not broken else "failed"
    reason = "; ".join(parts)
    _finish(plan, actor, status, reason, results, started, event=f"plan.{status}")
    raise PlanExecutionError(f"plan {plan.id[:8]} {status}: {reason}")


def _rollback(conn: Any, done: list[tuple[PlanStep, dict[str, Any]]]) -> list[StepResult]:
    out: list[StepResult] = []
    for step, resp in reversed(done):
        try:
            if step.patch_format == "json-patch" and step.rollback_patch:
                conn.request("PATCH", step.target.path, body=step.rollback_patch, content_type=JSON_PATCH)
                out.append(StepResult(id=step.id, status="rolled_back", detail=f"undid: {step.description}"))
            elif step.patch_format == "create":
                uid = (resp.get("metadata") or {}).get("uid")
                body = {"apiVersion": "v1", "kind": "DeleteOptions", "preconditions": {"uid": uid}} if uid else None
                conn.request("DELETE", step.target.path, body=body)
                out.append(StepResult(id=step.id, status="rolled_back",
                                      detail=f"deleted what it created: {step.target}"))
            else:
                out.append(StepResult(id=step.id, status="not_reversible", detail=step.description))
        except ClusterApiError as e:
            out.append(StepResult(id=step.id, status="rollback_failed",
                                  detail=f"{step.description}: {e.status} {server_message(e)}"))
        except ClusterError as e:
            out.append(StepResult(id=step.id, status="rollback_failed", detail=f"{step.description}: {e}"))
    return out


def _finish(plan: OperationPlan, actor: str, status: str, reason: str, results: list[StepResult],
            started: dt.datetime, *, drift_items: list[DriftItem] | None = None, event: str | None = None
            ) -> ExecutionResult:
    finished = _now()
    result = ExecutionResult(plan_id=plan.id, idempotency_key=plan.idempotency_key, status=status, reason=reason,
                             steps=results, drift=drift_items or [], executed_by=actor, pid=os.getpid(),
                             host=_store.HOST, started=started, finished=finished)
    plan.status = status  # type: ignore[assignment]
    plan.execution = result
    plan.failure_reason = reason or None
    plan.audit.executed_by = actor
    setattr(plan.audit.timestamps, status, finished)
    payload: dict[str, Any] = {"idempotencyKey": plan.idempotency_key, "reason": reason,
                               "steps": [{"id": r.id, "status": r.status, "detail": r.detail} for r in results],
                               "seconds": round((finished - started).total_seconds(), 3)}
    if drift_items:
        payload["drift"] = [d.model_dump(mode="json", by_alias=True) for d in drift_items[:50]]
    outcome = "drifted" if drift_items else status
    _store.record(plan, event or f"plan.{status}", actor, payload,
                  outcome=(outcome, (finished - started).total_seconds()))
    plan._notify()
    return result


# -- post-conditions ---------------------------------------------------------------------------------------------------
def _stamp_postconditions(plan: OperationPlan, results: list[StepResult]) -> None:
    """Give generation-based checks the generation our write produced (so an older rollout cannot satisfy them)."""
    by_step = {r.id: r for r in results}
    for pc in plan.risk.post_conditions:
        step_id = pc.params.get("step")
        if step_id in by_step and by_step[step_id].generation is not None:
            pc.params["generation"] = by_step[step_id].generation


def check_postconditions(plan: OperationPlan, *, timeout: float | None = None) -> list[PostCondition]:
    if plan.status != "executed":
        raise PlanStateError(f"plan {plan.id[:8]} is {plan.status}: post-conditions are checked after a successful "
                             "execution")
    if plan._ws is None:
        raise PlanStateError("the plan is not bound to a connection: plan.bind(ws) first")
    from kubecopilot.plans._postconditions import CHECKS

    conn = plan._ws.raw
    for pc in plan.risk.post_conditions:
        check: Callable[..., tuple[bool, str]] | None = CHECKS.get(pc.kind)
        if check is None:
            pc.status, pc.detail = "error", f"no check named {pc.kind!r}"
            continue
        deadline = time.monotonic() + (timeout if timeout is not None else pc.timeout)
        while True:
            try:
                ok, detail = check(conn, pc)
            except ClusterError as e:
                ok, detail = False, f"error: {e}"
            if ok or time.monotonic() >= deadline:
                break
            time.sleep(1.0)
        pc.status, pc.detail, pc.checked_at = ("met" if ok else "unmet"), detail, _now()
    met = all(pc.status == "met" for pc in plan.risk.post_conditions)
    payload = {"conditions": [{"kind": pc.kind, "description": pc.description, "status": pc.status,
                               "detail": pc.detail} for pc in plan.risk.post_conditions]}
    _store.record(plan, "plan.verified" if met else "plan.unverified", plan.audit.executed_by or current_user(),
                  payload)
    plan._notify()
    return list(plan.risk.post_conditions)
