"""The engine: a small scheduler that runs a rollout's DAG with a pool of threads, step by step, and rolls it back.

Threads. One *main* thread (the caller of ``run()``, or the background thread of ``start()``) owns the schedule: it
applies commands, starts a worker thread for every task whose dependencies have succeeded (at most
``max_parallel`` at a time), notices failures and decides how the rollout ends. Workers are daemon threads rather
than a `ThreadPoolExecutor`'s, whose workers the interpreter joins at exit: a script that ends while a rollout
waits for a human must not hang — the state is saved, and ``resume`` continues it. Each *task* runs in a worker: its
steps one after the other — ops (plans), waiting for Deployments / Jobs, the analysis, the pause. All state lives
in one `RolloutState` guarded by the rollout's lock; workers block on its condition variable, so a command
(promote, abort, ...) wakes them at once.

Crash safety. The state is saved to the ledger before every action that depends on it: an op's plan id is saved
before the plan is approved and executed, a step is marked done only after its ops, wait and analysis. A resumed
rollout re-enters each task at its saved step; an op whose plan exists is continued through the plan's own state
(executed → done; approved → execute, which replays the first result if the idempotency key ran already); an op
whose plan was built but not yet saved is found again by its idempotency key; an op whose plan was applied by a
process that died before recording it is recognised by comparing the cluster with the plan's changes.

Endings. All tasks succeeded → ``success``. A task failed (a failed analysis, a crash, a rejected plan, a failed
Job) → the other tasks stop at their next safe point and every completed op is undone in reverse completion order
→ ``rolled_back`` (``failed`` when an undo fails, or when ``rollback_on_failure`` is off). ``abort`` → the same
rollback. ``cancel`` → stop, keep the cluster as it is → ``cancelled``. A human is needed (a gate, a plan above the
auto-approval level, a manual pause, an inconclusive analysis) → ``waiting_confirm`` until they act; with
``stop_when_waiting`` (headless runs) the engine saves and returns instead, and ``resume`` continues later.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import importlib
import logging
import threading
import time
from typing import TYPE_CHECKING, Any

from kubecopilot.errors import (
    ClusterError,
    KubeCopilotError,
    PlanApprovalError,
    PlanDriftError,
    PlanExecutionError,
    PlanStateError,
    ResourceNotFoundError,
)
from kubecopilot.rollouts import _store
from kubecopilot.rollouts._analysis import analyse, crash_reason
from kubecopilot.rollouts._dag import ready
from kubecopilot.rollouts._model import TERMINAL, LogLine, Op, StepState, TaskState, Wait, utcnow
from kubecopilot.rollouts._ops import already_applied, build_plan, builder, find_plan, inverse, is_noop
from kubecopilot.rollouts._strategies import TRACK, plan_task, selector_string

if TYPE_CHECKING:
    from kubecopilot.rollouts._rollout import Rollout

__all__ = ["Engine", "TaskContext", "op_key"]

log = logging.getLogger("kubecopilot.rollouts")

_POLL = 0.5  # seconds between checks of commands / plan decisions / cluster state
_LOG_LINES = 200


class _Stop(Exception):
    """Raised inside a task when the engine stops it: ``abort``, ``cancel``, ``fail`` (another task failed) or
    ``detach`` (a headless run leaves a waiting rollout to be resumed)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class _StepFailed(Exception):
    """A step cannot succeed (its analysis failed, a plan was rejected or failed, a Job failed, ...)."""


@dataclasses.dataclass
class TaskContext:
    """What a ``custom`` task's function gets: the rollout, the task, the connection, parameters, a log."""

    rollout_id: str
    task_id: str
    namespace: str
    params: dict[str, Any]
    ws: Any
    log: Any
    stopped: Any


def op_key(rollout_id: str, task_id: str, attempt: int, step: int, op: int) -> str:
    return f"rollout/{rollout_id}/{task_id}/a{attempt}/s{step}/o{op}"


class Engine:
    """Runs one `Rollout` (see the module docstring)."""

    def __init__(self, rollout: Rollout, *, stop_when_waiting: bool = False) -> None:
        self.ro = rollout
        self.state = rollout.state
        self.spec = rollout.state.spec
        self.lock = rollout._lock
        self.cond = rollout._cond
        self.ws = rollout._ws
        self.conn = rollout._ws.raw
        self.ledger = rollout._ledger
        self.stop_when_waiting = stop_when_waiting
        self.stop: str | None = None
        self.stop_by: str | None = None
        self.failure: str | None = None
        self.owner: dict[str, Any] | None = None
        self._builder: Any = None
        self._last_commands = 0.0

    # -- persistence ---------------------------------------------------------------------------------------------------
    @property
    def actor(self) -> str:
        return f"rollout:{self.state.id}"

    def note(self, text: str) -> None:
        """Add a line to the rollout's own log (shown by the live view); the caller saves."""
        self.state.log.append(LogLine(text=text))
        del self.state.log[:-_LOG_LINES]
        log.info("rollout %s: %s", self.state.id, text)

    def save(self, event: str | None = None, payload: dict[str, Any] | None = None, *, actor: str | None = None,
             plan_id: str | None = None, note: str | None = None) -> None:
        """Save the state (and an audit event) before anything else happens; then tell the listeners."""
        with self.lock:
            if note:
                self.note(note)
            st = self.state
            if st.status not in TERMINAL and st.status != "pending":
                st.status = self._aggregate()  # type: ignore[assignment]
            st.updated = utcnow()
            _store.save(self.ledger, st, self.owner)
            if event:
                _store.event(self.ledger, st, event, actor or self.actor, payload, plan_id=plan_id)
            self.cond.notify_all()
        self.ro._notify()

    def _aggregate(self) -> str:
        st = self.state
        if st.waiting is not None or any(t.status == "waiting_confirm" for t in st.tasks if st.phase == "forward"):
            return "waiting_confirm"
        return "running"

    # -- control -------------------------------------------------------------------------------------------------------
    def check(self) -> None:
        with self.lock:
            if self.stop is not None:
                raise _Stop(self.stop)

    def sleep(self, seconds: float) -> None:
        """Sleep, but wake for commands; raises `_Stop` when the engine stops."""
        deadline = time.monotonic() + seconds
        while True:
            self.check()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            with self.lock:
                self.cond.wait(min(_POLL, remaining))

    def poll_commands(self, force: bool = False) -> None:
        """Apply ``rollout.command`` events given since the last one applied (main thread only)."""
        now = time.monotonic()
        if not force and now - self._last_commands < _POLL:
            return
        self._last_commands = now
        try:
            rows = _store.commands(self.ledger, self.state.id, self.state.command_seq)
        except KubeCopilotError as e:  # a busy ledger: the next poll gets them
            log.warning("rollout %s: could not read commands: %s", self.state.id, e)
            return
        if not rows:
            return
        with self.lock:
            for seq, by, payload in rows:
                self._apply(by, payload)
                self.state.command_seq = seq
        self.save()

    def _apply(self, by: str, p: dict[str, Any]) -> None:
        with self.lock:
            self._apply_locked(by, p)

    def _apply_locked(self, by: str, p: dict[str, Any]) -> None:
        st = self.state
        cmd, task, reason = p.get("command"), p.get("task"), p.get("reason") or ""
        tasks = [t for t in st.tasks if task in (None, t.id)]
        if cmd == "approve":
            if not st.gate_open:
                st.gate_approved_by = by
            for t in tasks:
                if t.gate and not t.gate_approved_by and (task is not None or t.waiting is not None):
                    t.gate_approved_by = by
            self.note(f"approved by {by}" + (f" ({task})" if task else "") + (f": {reason}" if reason else ""))
            _store.event(self.ledger, st, "rollout.approved", by, {"task": task, "reason": reason})
        elif cmd == "promote":
            for t in tasks:
                if t.status not in ("running", "waiting_confirm") or not t.steps:
                    continue
                current = t.steps[min(t.current, len(t.steps) - 1)]
                current.accepted_by = by
                if p.get("full"):
                    for s in t.steps[t.current + 1:]:
                        if not s.promote and s.status == "pending":
                            s.status = "skipped"
                            s.detail = f"skipped: promoted in full by {by}"
            self.note(f"promoted by {by}" + (" (full)" if p.get("full") else "") + (f": {reason}" if reason else ""))
            _store.event(self.ledger, st, "rollout.promoted", by, {"task": task, "full": bool(p.get("full")),
                                                                  "reason": reason})
        elif cmd in ("abort", "cancel"):
            if st.phase == "forward" and st.status not in TERMINAL and self.stop in (None, "detach"):
                self.stop, self.stop_by = cmd, by
                st.reason = f"{'aborted' if cmd == 'abort' else 'cancelled'} by {by}" + (f": {reason}" if reason
                                                                                       else "")
                self.note(st.reason)
        elif cmd == "retry":
            if st.status in ("failed", "rolled_back", "cancelled"):
                self._reset_for_retry(by, task)
            else:
                for t in tasks:
                    for s in t.steps:
                        if s.status in ("running", "waiting_confirm") and s.analyses:
                            s.retry_analysis = True
                self.note(f"analysis retried by {by}")
        elif cmd == "undo" and st.status in ("success", "failed", "cancelled") and st.phase == "forward":
            self.begin_rollback(f"undone by {by}" + (f": {reason}" if reason else ""))
        self.cond.notify_all()

    def _reset_for_retry(self, by: str, only: str | None) -> None:
        st = self.state
        if st.phase == "rolling_back":  # the rollback itself failed: retry it
            for op in st.rollback_ops:
                if op.status == "failed":
                    op.status, op.plan_id, op.detail = "pending", None, ""
                    op.key = f"{op.key}/retry"
            st.status = "running"
            self.note(f"rollback retried by {by}")
            return
        rolled_back = st.status == "rolled_back"
        for t in st.tasks:
            if only is not None and t.id != only:
                continue
            if rolled_back and t.status != "pending":
                t.attempt += 1
                t.status, t.planned, t.steps, t.current, t.waiting = "pending", False, [], 0, None
                t.started = t.finished = None
                t.detail = f"retry {t.attempt} by {by}"
            elif t.status in ("failed", "cancelled"):
                t.attempt += 1
                t.status, t.waiting, t.finished = "pending", None, None
                t.detail = f"retry {t.attempt} by {by}"
                for i, s in enumerate(t.steps):
                    if s.status in ("done", "skipped"):
                        continue
                    s.status, s.finished = "pending", None
                    if s.analyses and s.analyses[-1].phase != "Successful":
                        s.retry_analysis = True
                    for j, op in enumerate(s.ops):
                        if op.status not in ("executed", "skipped"):
                            op.key = op_key(st.id, t.id, t.attempt, i, j)
                            op.status, op.plan_id, op.detail = "pending", None, ""
        st.status, st.finished, st.reason, st.phase = "running", None, "", "forward"
        self.note(f"retried by {by}" + (f" (task {only})" if only else ""))

    # -- the main loop -------------------------------------------------------------------------------------------------
    def run(self) -> None:
        st = self.state
        self.owner = _store.new_owner()
        _store.register(self.owner)
        try:
            self.poll_commands(force=True)
            if st.status in TERMINAL:
                return
            if st.status == "pending":
                st.status, st.started = "running", utcnow()
                self.save("rollout.started", {"tasks": [t.id for t in st.tasks], "approver": st.approver,
                                              "autoApprove": self.spec.approval.auto_approve},
                          note=f"started by pid {self.owner['pid']}")
            else:
                self.save("rollout.resumed", {"pid": self.owner["pid"], "host": self.owner["host"]},
                          note=f"resumed by pid {self.owner['pid']} on {self.owner['host']}")
            if st.phase == "rolling_back":
                self.rollback()
                return
            self._forward()
        finally:
            _store.unregister(self.owner)
            self.owner = None
            try:
                self.save()  # release ownership
            except Exception as e:  # the ledger may be gone in a dying interpreter; a stale owner is detected anyway
                log.warning("rollout %s: could not release ownership: %s", st.id, e)

    def _forward(self) -> None:
        st = self.state
        if not st.gate_open:
            try:
                self.wait_human(None, Wait(kind="gate", message=f"rollout {st.name} waits for approve(by=...) before "
                                                                "it starts"))
            except _Stop as e:
                self._end(e.reason)
                return
        with self.lock:
            for t in st.tasks:  # tasks a previous process was running: they continue from their saved step
                if t.status in ("running", "waiting_confirm"):
                    t.status, t.waiting = "pending", None
        workers: dict[str, threading.Thread] = {}
        try:
            while True:
                self.poll_commands()
                with self.lock:
                    active = [tid for tid, w in workers.items() if w.is_alive()]
                    if self.stop is None and self.failure is not None:
                        self.stop = "fail"
                    if self.stop is not None:
                        if not active:
                            break
                    else:
                        for t in ready(st.tasks):
                            if len(active) >= self.spec.max_parallel:
                                break
                            t.status = "running"
                            workers[t.id] = threading.Thread(target=self._task_thread, args=(t,), daemon=True,
                                                             name=f"rollout-{st.id[:12]}-{t.id}")
                            workers[t.id].start()
                            active.append(t.id)
                        if all(t.status in ("success", "skipped") for t in st.tasks):
                            break
                        if (self.stop_when_waiting and active and st.waiting is None
                                and all(st.task(tid).status == "waiting_confirm" for tid in active)):
                            self.stop = "detach"
                        elif not active and not ready(st.tasks):
                            stuck = [t.id for t in st.tasks if t.status == "pending"]
                            self.failure = f"tasks {', '.join(stuck)} can never start (a task they wait for ended)"
                    self.cond.wait(_POLL)
        finally:
            for w in workers.values():
                w.join()
        self._end(self.stop)

    def _end(self, reason: str | None) -> None:
        st = self.state
        if reason is None:
            with self.lock:
                st.status, st.finished = "success", utcnow()
            self.save("rollout.succeeded", {"seconds": _seconds(st.started, st.finished)}, note="succeeded")
        elif reason == "detach":
            self.save(note="left waiting for a human; resume it with kubecopilot.rollouts.resume("
                           f"{st.id!r}) after they act")
        elif reason == "cancel":
            self._reject_pending(f"rollout {st.id} was cancelled")
            with self.lock:
                for t in st.tasks:
                    if t.status in ("pending", "running", "waiting_confirm"):
                        t.status, t.waiting, t.finished = "cancelled", None, utcnow()
                        for s in t.steps:
                            if s.status in ("running", "waiting_confirm"):
                                s.status = "cancelled"
                st.status, st.finished, st.waiting = "cancelled", utcnow(), None
            self.save("rollout.cancelled", {"by": self.stop_by, "reason": st.reason}, actor=self.stop_by)
        elif reason == "fail" and not self.spec.rollback_on_failure:
            self._reject_pending(f"rollout {st.id} failed")
            with self.lock:
                st.status, st.finished, st.reason = "failed", utcnow(), self.failure or "failed"
            self.save("rollout.failed", {"reason": st.reason}, note=f"failed: {st.reason} (rollback_on_failure is "
                                                                    "off: the cluster is left as it is)")
        else:  # abort, fail
            self.begin_rollback(st.reason if reason == "abort" else f"failed: {self.failure}")
            self.rollback()

    def _task_thread(self, task: TaskState) -> None:
        try:
            self._run_task(task)
        except _Stop as e:
            with self.lock:
                if e.reason != "detach":
                    task.status, task.finished, task.waiting = "cancelled", utcnow(), None
                    for s in task.steps:
                        if s.status in ("running", "waiting_confirm"):
                            s.status = "cancelled"
            self.save()
        except _StepFailed as e:
            self._task_failed(task, str(e))
        except Exception as e:  # a cluster error or a bug: the task fails, the rollout rolls back
            log.exception("rollout %s: task %s crashed", self.state.id, task.id)
            self._task_failed(task, f"{type(e).__name__}: {e}")

    def _task_failed(self, task: TaskState, reason: str) -> None:
        with self.lock:
            task.status, task.finished, task.detail, task.waiting = "failed", utcnow(), reason, None
            if task.steps and task.current < len(task.steps):
                task.steps[task.current].status = "failed"
                task.steps[task.current].detail = reason
            if self.failure is None:
                self.failure = f"task {task.id}: {reason}"
        self.save("rollout.task", {"task": task.id, "status": "failed", "reason": reason},
                  note=f"task {task.id} failed: {reason}")

    # -- one task ------------------------------------------------------------------------------------------------------
    def _run_task(self, task: TaskState) -> None:
        st = self.state
        with self.lock:
            task.started = task.started or utcnow()
        self.save(note=f"task {task.id} started")
        if task.gate and not task.gate_approved_by:
            self.wait_human(task, Wait(kind="gate", message=f"task {task.id} waits for approve(by=..., "
                                                            f"task={task.id!r})"))
        if not task.planned:
            spec_task = next(t for t in self.spec.tasks if t.id == task.id)
            steps = plan_task(self.conn, self.spec, spec_task, st.id, task.attempt)
            for i, s in enumerate(steps):
                for j, op in enumerate(s.ops):
                    op.key = op_key(st.id, task.id, task.attempt, i, j)
            with self.lock:
                task.steps, task.planned, task.current = steps, True, 0
                if not steps:
                    task.detail = "nothing to do: the app already runs this version"
            self.save(note=f"task {task.id}: {len(steps)} step(s) planned" if steps else
                      f"task {task.id}: nothing to do, the app already runs this version")
        for i in range(task.current, len(task.steps)):
            self.check()
            step = task.steps[i]
            with self.lock:
                task.current = i
            if step.status in ("done", "skipped"):
                continue
            self._run_step(task, step)
        with self.lock:
            task.status, task.finished, task.current = "success", utcnow(), len(task.steps)
        self.save("rollout.task", {"task": task.id, "status": "success"}, note=f"task {task.id} succeeded")

    def _run_step(self, task: TaskState, step: StepState) -> None:
        with self.lock:
            step.status = "running"
            step.started = step.started or utcnow()
        self.save("rollout.step", {"task": task.id, "step": step.index, "name": step.name, "status": "running"},
                  note=f"{task.id}: {step.name}")
        for op in step.ops:
            self.ensure_op(task, op)
        if step.wait_job:
            self._wait_job(task, step)
        if step.call:
            self._call(task, step)
        if step.wait_ready:
            ok, detail = self._wait_ready(task, step)
            if not ok and step.analysis is None:
                raise _StepFailed(detail)
            if not ok:
                self.save(note=f"{task.id}: {detail} — the analysis decides")
        if step.analysis:
            self._analyse(task, step)
        self._pause(task, step)
        with self.lock:
            step.status, step.finished = "done", utcnow()
        self.save("rollout.step", {"task": task.id, "step": step.index, "name": step.name, "status": "done"})

    # -- ops -----------------------------------------------------------------------------------------------------------
    @property
    def builder(self) -> Any:
        if self._builder is None:
            self._builder = builder(self.ws, self.ledger)
        return self._builder

    def _load(self, plan_id: str) -> Any:
        from kubecopilot.plans import load

        return load(plan_id, self.ws, ledger=self.ledger)

    def _plan_for(self, task: TaskState | None, op: Op) -> Any:
        if op.plan_id:
            return self._load(op.plan_id)
        found = find_plan(self.ledger, op.key)
        if found is not None and found[1] != "rejected":
            with self.lock:
                op.plan_id = found[0]
            self.save(note=f"found plan {found[0][:8]} for '{op.description}' (built before a restart)")
            return self._load(found[0])
        try:
            plan = build_plan(self.builder, op, key=op.key, requested_by=self.state.created_by,
                              source=f"rollout:{self.state.id}")
        except Exception as e:
            if is_noop(e, op):
                with self.lock:
                    op.status, op.detail, op.at = "skipped", f"already in effect: {e}", utcnow()
                self.save(note=f"{op.description}: already in effect")
                return None
            raise _StepFailed(f"could not plan '{op.description}': {type(e).__name__}: {e}") from e
        with self.lock:
            op.plan_id, op.risk, op.status = plan.id, plan.risk.level, "planned"
        self.save(note=f"planned: {op.description} (plan {plan.id[:8]}, {plan.risk.level} risk)")
        return plan

    def ensure_op(self, task: TaskState | None, op: Op) -> None:
        """Take ``op`` to executed (or skipped) through its plan, whatever state a previous process left it in."""
        while True:
            self.check()
            if op.status in ("executed", "skipped"):
                return
            plan = self._plan_for(task, op)
            if plan is None:
                return
            status = str(plan.status)
            if status == "pending":
                self._approve(task, op, plan)
            elif status == "confirmed":
                self._execute(op, plan)
            elif status == "executed":
                self._done(op, plan, "")
                return
            elif status == "rejected":
                who = plan.audit.rejected_by or "someone"
                raise _StepFailed(f"plan {plan.id[:8]} ({op.description}) was rejected by {who}"
                                  + (f": {plan.audit.reject_reason}" if plan.audit.reject_reason else ""))
            else:
                raise _StepFailed(f"plan {plan.id[:8]} ({op.description}) {status}: {plan.failure_reason}")

    def _done(self, op: Op, plan: Any, detail: str) -> None:
        with self.lock:
            self.state.seq += 1
            op.status, op.done_seq, op.at = "executed", self.state.seq, utcnow()
            op.approved_by = op.approved_by or plan.audit.confirmed_by
            op.detail = detail or op.detail
        self.save(note=f"done: {op.description}")

    def _approve(self, task: TaskState | None, op: Op, plan: Any) -> None:
        level = plan.risk.level
        from kubecopilot.runbooks import current, submit

        ctx = current()
        if ctx is not None:  # a headless runbook: the run's approval policy decides, and the runner learns of waits
            try:
                plan = submit(plan, key=op.key)
            except KubeCopilotError as e:
                if isinstance(e, PlanDriftError | PlanExecutionError):
                    raise _StepFailed(str(e)) from e
                plan = self._load(op.plan_id or plan.id)
            if str(plan.status) == "pending":
                self._wait_plan(task, op, plan, f"{level} risk is above the run's pre-recorded approval "
                                                f"({ctx.policy})")
            return
        approver = self.state.approver
        approval = self.spec.approval
        if approver and approval.allows(level):
            try:
                plan.approve(by=approver, reason=f"on behalf of {approver} via rollout {self.state.id}: {level} risk "
                                                 f"is within its auto-approval (up to {approval.auto_approve})")
            except PlanApprovalError as e:
                why = f"the plans policy refuses {approver}'s approval: {e}"
            except PlanStateError:
                return  # decided meanwhile (another process): the caller re-reads it
            else:
                with self.lock:
                    op.approved_by = approver
                self.save(note=f"approved on behalf of {approver}: {op.description} ({level} risk)")
                return
        elif not approver:
            why = "the rollout has no approver yet"
        else:
            why = f"{level} risk is above the rollout's auto-approval (up to {approval.auto_approve})"
        self._wait_plan(task, op, plan, why)

    def _wait_plan(self, task: TaskState | None, op: Op, plan: Any, why: str) -> None:
        with self.lock:
            op.status = "waiting"
        self.wait_human(task, Wait(kind="plan", plan_id=plan.id,
                                   message=f"plan {plan.id[:8]} ({op.description}, {plan.risk.level} risk) waits for a "
                                           f"human: {why}. Approve or reject it: kubecopilot.plans.load("
                                           f"{plan.id!r}).approve(by=...), or rollout.approve(by=...)"))
        with self.lock:
            op.status = "planned"

    def _execute(self, op: Op, plan: Any) -> None:
        try:
            plan.execute(by=self.actor)
        except PlanDriftError as e:
            if already_applied(self.conn, plan):
                self._done(op, plan, "applied by a process that stopped before recording it (found in the cluster)")
                return
            raise _StepFailed(f"plan {plan.id[:8]} ({op.description}) was refused: {e}") from e
        except (PlanExecutionError, PlanStateError) as e:
            raise _StepFailed(f"plan {plan.id[:8]} ({op.description}): {e}") from e
        self._done(op, plan, "")

    def _reject_pending(self, reason: str) -> None:
        """Plans the rollout built but will never execute: reject them so they leave ``kc.plans.pending()``."""
        ops = [op for t in self.state.tasks for s in t.steps for op in s.ops] + list(self.state.rollback_ops)
        for op in ops:
            if op.plan_id and op.status in ("planned", "waiting", "pending"):
                try:
                    plan = self._load(op.plan_id)
                    if str(plan.status) in ("pending", "confirmed"):
                        plan.reject(by=self.stop_by or self.actor, reason=reason)
                        op.detail = f"plan rejected: {reason}"
                except KubeCopilotError as e:
                    log.warning("rollout %s: could not reject plan %s: %s", self.state.id, op.plan_id, e)

    # -- waiting for people --------------------------------------------------------------------------------------------
    def wait_human(self, task: TaskState | None, wait: Wait) -> None:
        """Record what is awaited, wait until it is given (or the engine stops), then carry on."""
        st = self.state
        step = task.steps[task.current] if task is not None and task.steps and task.current < len(task.steps) else None
        with self.lock:
            if task is not None:
                task.waiting, task.status = wait, "waiting_confirm"
                if step is not None and step.status == "running":
                    step.status = "waiting_confirm"
            else:
                st.waiting = wait
        self.save("rollout.waiting", {"task": task.id if task else None, "kind": wait.kind, "message": wait.message},
                  plan_id=wait.plan_id, note=wait.message)
        last_plan_check = 0.0
        while True:
            if task is None:
                self.poll_commands()
            with self.lock:
                if self._satisfied(task, step, wait):
                    break
            if wait.kind == "plan" and time.monotonic() - last_plan_check >= 1.0:
                last_plan_check = time.monotonic()
                try:
                    rows = self.ledger.sql("SELECT status FROM plans WHERE id = ?", [wait.plan_id])
                except KubeCopilotError as e:  # a busy ledger: look again at the next poll
                    log.warning("rollout %s: could not read plan %s: %s", st.id, wait.plan_id, e)
                else:
                    if not rows.empty and rows.iloc[0]["status"] != "pending":
                        break
            if task is None and self.stop_when_waiting:
                with self.lock:
                    self.stop = self.stop or "detach"
            self.check()
            with self.lock:
                self.cond.wait(_POLL)
        with self.lock:
            if task is not None:
                task.waiting, task.status = None, "running"
                if step is not None and step.status == "waiting_confirm":
                    step.status = "running"
            else:
                st.waiting = None
        self.save(note=f"continuing after the {wait.kind} wait")

    def _satisfied(self, task: TaskState | None, step: StepState | None, wait: Wait) -> bool:
        if wait.kind == "gate":
            return (task.gate_approved_by if task is not None else self.state.gate_approved_by) is not None
        if wait.kind == "pause":
            return step is not None and step.accepted_by is not None
        if wait.kind == "analysis":
            return step is not None and (step.accepted_by is not None or step.retry_analysis)
        return False

    # -- waiting for the cluster ---------------------------------------------------------------------------------------
    def _app_timeout(self, task: TaskState) -> float:
        app = self.spec.app(task.app)
        return app.ready_timeout if app is not None else 300.0

    def _wait_ready(self, task: TaskState, step: StepState) -> tuple[bool, str]:
        deadline = time.monotonic() + self._app_timeout(task)
        for ref in step.wait_ready:
            _kind, ns, name = ref.split("/", 2)
            path = f"/apis/apps/v1/namespaces/{ns}/deployments/{name}"
            while True:
                ok, detail, crash = self._deployment_ready(path, ns)
                if ok:
                    break
                if crash:
                    return False, f"deployment {ns}/{name}: {crash}"
                if time.monotonic() > deadline:
                    return False, f"deployment {ns}/{name} not ready within {self._app_timeout(task):g} s: {detail}"
                self.sleep(_POLL)
        return True, ""

    def _deployment_ready(self, path: str, ns: str) -> tuple[bool, str, str | None]:
        try:
            d = self.conn.get(path)
        except ResourceNotFoundError:
            return False, "not found", None
        spec, st = d.get("spec") or {}, d.get("status") or {}
        want = int(spec.get("replicas", 1))
        match = dict((spec.get("selector") or {}).get("matchLabels") or {})
        selector = selector_string(match, without=None if TRACK in match else TRACK)
        pods = self.conn.list(f"/api/v1/namespaces/{ns}/pods", labelSelector=selector).get("items") or []
        for p in pods:
            reason = crash_reason(p)
            if reason and not (p.get("metadata") or {}).get("deletionTimestamp"):
                return False, reason, f"pod {p['metadata']['name']} is crashing: {reason}"
        if (st.get("observedGeneration") or 0) < (d["metadata"].get("generation") or 0):
            return False, "the controller has not seen the change yet", None
        updated, ready_, total = (st.get("updatedReplicas") or 0), (st.get("readyReplicas") or 0), (st.get("replicas")
                                                                                                  or 0)
        if updated >= want and ready_ >= want and total <= want:
            return True, f"{ready_}/{want} ready", None
        return False, f"{updated} updated, {ready_} ready, {total} total of {want}", None

    def _wait_job(self, task: TaskState, step: StepState) -> None:
        _kind, ns, name = (step.wait_job or "").split("/", 2)
        spec_task = next(t for t in self.spec.tasks if t.id == task.id)
        deadline = time.monotonic() + spec_task.timeout
        while True:
            try:
                job = self.conn.get(f"/apis/batch/v1/namespaces/{ns}/jobs/{name}")
            except ResourceNotFoundError:
                raise _StepFailed(f"job {ns}/{name} disappeared") from None
            st = job.get("status") or {}
            want = int((job.get("spec") or {}).get("completions") or 1)
            if int(st.get("succeeded") or 0) >= want:
                with self.lock:
                    step.detail = f"job {name} succeeded"
                return
            failed = next((c for c in st.get("conditions") or [] if c.get("type") == "Failed"
                           and c.get("status") == "True"), None)
            if failed is not None:
                raise _StepFailed(f"job {ns}/{name} failed: {failed.get('reason')}: {failed.get('message')}")
            if time.monotonic() > deadline:
                raise _StepFailed(f"job {ns}/{name} did not finish within {spec_task.timeout:g} s")
            self.sleep(_POLL)

    def _call(self, task: TaskState, step: StepState) -> None:
        module, _, name = (step.call or "").partition(":")
        try:
            fn = getattr(importlib.import_module(module), name)
        except (ImportError, AttributeError) as e:
            raise _StepFailed(f"cannot import {step.call!r} ({e}): a custom task names a function importable in "
                              "every process that may resume the rollout") from e
        spec_task = next(t for t in self.spec.tasks if t.id == task.id)

        def say(text: str) -> None:
            with self.lock:
                self.note(f"{task.id}: {text}")
            self.save()

        def stopped() -> bool:
            with self.lock:
                return self.stop is not None

        ctx = TaskContext(rollout_id=self.state.id, task_id=task.id, namespace=self.spec.namespace,
                          params=dict(spec_task.params), ws=self.ws, log=say, stopped=stopped)
        try:
            result = fn(ctx)
        except _Stop:
            raise
        except Exception as e:
            raise _StepFailed(f"{step.call} raised {type(e).__name__}: {e}") from e
        with self.lock:
            step.detail = "" if result is None else str(result)[:500]

    def _analyse(self, task: TaskState, step: StepState) -> None:
        a = step.analysis or {}
        spec = self.spec.analysis_for(self.spec.app(task.app))
        while True:
            with self.lock:
                last = step.analyses[-1] if step.analyses and not step.retry_analysis else None
            if last is not None:
                if last.phase == "Successful" or (last.phase == "Inconclusive" and step.accepted_by):
                    return
                if last.phase == "Failed":
                    raise _StepFailed(f"analysis of {last.target} failed: {last.reason}")
                with self.lock:
                    step.accepted_by = None
                self.wait_human(task, Wait(kind="analysis",
                                           message=f"analysis of {last.target} is inconclusive ({last.reason}): "
                                                   "promote(by=...) to accept it, retry(by=...) to analyse again, "
                                                   "abort(by=...) to roll back"))
                continue
            with self.lock:
                step.retry_analysis = False
            result = analyse(self.conn, namespace=a["namespace"], selector=a["selector"], target=a["target"],
                             spec=spec, expected=a.get("expected"), wait=self.sleep)
            with self.lock:
                step.analyses.append(result)
            self.save("rollout.analysis", {
                "task": task.id, "step": step.index, "phase": result.phase, "reason": result.reason,
                "selector": result.selector, "samples": result.samples, "metricsSource": result.metrics_source,
                "checks": [c.model_dump(mode="json") for c in result.checks],
                "pods": [p.model_dump(mode="json", by_alias=True) for p in result.pods[:20]]},
                note=f"{task.id}: analysis {result.phase}: {result.reason}")

    def _pause(self, task: TaskState, step: StepState) -> None:
        if step.pause is None:
            if step.accepted_by is None:
                self.wait_human(task, Wait(kind="pause", message=f"paused after '{step.name}': promote(by=...) to "
                                                                 "continue, abort(by=...) to roll back"))
            return
        if step.pause <= 0 or step.accepted_by is not None:
            return
        with self.lock:
            if step.pause_until is None:
                step.pause_until = utcnow() + dt.timedelta(seconds=step.pause)
        self.save(note=f"{task.id}: pausing until {step.pause_until:%H:%M:%S} UTC (promote(by=...) skips it)")
        while step.accepted_by is None:
            remaining = (step.pause_until - utcnow()).total_seconds()
            if remaining <= 0:
                return
            self.sleep(min(_POLL, remaining))

    # -- rollback ------------------------------------------------------------------------------------------------------
    def begin_rollback(self, reason: str) -> None:
        """Plan the undo of every completed op (newest first) and switch to the rolling-back phase."""
        st = self.state
        self._reject_pending(f"rollout {st.id} is rolling back ({reason})")
        with self.lock:
            st.rollback_round += 1
            done = sorted((op for t in st.tasks for s in t.steps for op in s.ops
                           if op.status == "executed" and op.reversible and not op.reversed_by),
                          key=lambda o: o.done_seq or 0, reverse=True)
            for t in st.tasks:
                if t.status in ("running", "waiting_confirm"):
                    t.status, t.waiting = "cancelled", None
            st.phase, st.status, st.reason, st.waiting, st.finished = "rolling_back", "running", reason, None, None
            self.stop = None
        undo: list[Op] = []
        for op in done:
            try:
                plan = self._load(op.plan_id) if op.plan_id else None
                inv = inverse(op, plan, key=f"{op.key}/undo{st.rollback_round}") if plan is not None else None
            except KubeCopilotError as e:
                inv = None
                op.detail = f"cannot be undone: {e}"
            if inv is None:
                op.reversed_by = op.reversed_by or "-"
            else:
                undo.append(inv)
        with self.lock:
            st.rollback_ops += undo
        self.save(note=f"rolling back {len(undo)} op(s): {reason}")

    def rollback(self) -> None:
        st = self.state
        failures: list[str] = []
        by_key = {op.key: op for t in st.tasks for s in t.steps for op in s.ops}
        for uop in st.rollback_ops:
            if uop.status in ("executed", "skipped"):
                continue
            if uop.status == "failed":
                failures.append(f"{uop.description}: {uop.detail}")
                continue
            try:
                self.ensure_op(None, uop)
            except _Stop as e:
                if e.reason == "detach":
                    self.save(note="rollback waits for a human; resume it after they act")
                    return
                raise
            except (_StepFailed, ClusterError, KubeCopilotError) as e:
                with self.lock:
                    uop.status, uop.detail = "failed", str(e)
                failures.append(f"{uop.description}: {e}")
                self.save(note=f"undo failed: {uop.description}: {e}")
                continue
            with self.lock:
                if uop.undo_of in by_key:
                    by_key[uop.undo_of].reversed_by = uop.key
            self.save()
            self._settle(uop)
        with self.lock:
            for t in st.tasks:
                undone = any(op.reversed_by not in (None, "-") for s in t.steps for op in s.ops)
                if t.status == "failed":
                    continue
                if undone or t.status == "success":
                    t.status = "rolled_back"
                elif t.status in ("pending", "running", "waiting_confirm"):
                    t.status = "cancelled"
            st.finished = utcnow()
            if failures:  # the phase stays rolling_back: retry() continues the rollback
                st.status = "failed"
                st.reason = f"{st.reason}; rollback incomplete — fix by hand: {'; '.join(failures[:5])}"
            else:
                st.status, st.phase = "rolled_back", "forward"
        if failures:
            self.save("rollout.failed", {"reason": st.reason}, note=st.reason)
        else:
            self.save("rollout.rolled_back", {"reason": st.reason, "undone": len(st.rollback_ops)},
                      note=f"rolled back: {st.reason}")


    def _settle(self, op: Op) -> None:
        """After an undo brought a Deployment back (or up), wait until it is Ready before the next undo — e.g. before
        the Service is switched back to it. A crash or a timeout is noted, not fatal: undoing the rest matters more."""
        if op.status != "executed" or op.action == "delete" or not op.target.startswith("deployment/"):
            return
        _kind, ns, name = op.target.split("/", 2)
        deadline = time.monotonic() + min(self.spec.analysis.window * 4 + 60.0, 300.0)
        while time.monotonic() < deadline:
            ok, detail, crash = self._deployment_ready(f"/apis/apps/v1/namespaces/{ns}/deployments/{name}", ns)
            if ok or crash:
                if crash:
                    self.save(note=f"{op.target} is not healthy after the undo: {crash}")
                return
            self.sleep(_POLL)
        self.save(note=f"{op.target} was not Ready in time after the undo: {detail}")


def _seconds(a: dt.datetime | None, b: dt.datetime | None) -> float | None:
    return round((b - a).total_seconds(), 3) if a and b else None
