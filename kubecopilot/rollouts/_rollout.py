"""`Rollout`: the object a person holds — its state, the controls (approve, promote, abort, retry, undo, cancel),
running it (``run`` / ``start`` / ``wait``) and its views.

Controls never block and never touch the cluster themselves: each one is appended to the audit ledger as a
``rollout.command`` event naming the person, and the engine that runs the rollout — in this process or another —
applies it at its next poll (within half a second). When no process runs the rollout (a headless run left it
waiting, a kernel was restarted), the control starts it here in a background thread so the decision takes effect.
Approving a plan the rollout waits for is the exception: the plan itself is approved by that person at once, so
the plans policy (approver lists, four eyes) answers them directly.
"""

from __future__ import annotations

import html
import logging
import threading
from typing import Any

from kubecopilot.rollouts import _store
from kubecopilot.rollouts._dag import layers
from kubecopilot.rollouts._model import TERMINAL, RolloutError, RolloutState, TaskState, Wait

__all__ = ["Rollout"]

log = logging.getLogger("kubecopilot.rollouts")


def _person(by: Any, what: str) -> str:
    if not isinstance(by, str) or not by.strip():
        raise RolloutError(f"{what} needs a person's name: rollout.{what}(by='alice')")
    return by.strip()


class Rollout:
    """A rollout of one or several applications (see `kubecopilot.rollouts`).

    ``run()`` runs it here until it ends (``start()`` in a background thread, for the live view); ``status``,
    ``tasks``, ``analyses`` and ``log`` describe it; ``widget()`` and ``figure()`` show it.
    """

    def __init__(self, state: RolloutState, ws: Any = None, ledger: Any = None) -> None:
        if ledger is None:
            from kubecopilot.audit import open_ledger

            ledger = open_ledger()
        self.state = state
        self._ws = ws
        self._ledger = ledger
        self._lock = threading.RLock()
        self._cond = threading.Condition(self._lock)
        self._engine: Any = None
        self._thread: threading.Thread | None = None
        self._run_lock = threading.Lock()
        self._listeners: list[Any] = []
        self.error: BaseException | None = None

    # -- state ---------------------------------------------------------------------------------------------------------
    @property
    def id(self) -> str:
        return self.state.id

    @property
    def name(self) -> str:
        return self.state.name

    @property
    def status(self) -> str:
        return self.state.status

    @property
    def workbench(self) -> Any:
        return self._ws

    @property
    def running_here(self) -> bool:
        """Is an engine running this rollout in this process right now?"""
        return self._engine is not None

    @property
    def tasks(self) -> Any:
        """One row per task: id, type, app, status, step, blocked by, detail (a DataFrame)."""
        import pandas as pd

        with self._lock:
            rows = [{"task": t.id, "type": t.type, "app": t.app, "status": t.status, "step": _step_text(t),
                     "blocked_by": ", ".join(t.deps), "detail": t.detail} for t in self.state.tasks]
        return pd.DataFrame(rows, columns=["task", "type", "app", "status", "step", "blocked_by", "detail"])

    @property
    def analyses(self) -> list[Any]:
        """Every analysis result so far, oldest first (`AnalysisResult`)."""
        with self._lock:
            return [a for t in self.state.tasks for s in t.steps for a in s.analyses]

    @property
    def plan_ids(self) -> list[str]:
        """The ids of every plan the rollout made (forward and undo), in order."""
        with self._lock:
            ops = [op for t in self.state.tasks for s in t.steps for op in s.ops] + list(self.state.rollback_ops)
        return [op.plan_id for op in ops if op.plan_id]

    def task(self, task_id: str) -> TaskState:
        return self.state.task(task_id)

    @property
    def waiting(self) -> list[tuple[str | None, Wait]]:
        """What waits for a human now: (task id or None for the rollout, `Wait`)."""
        with self._lock:
            out: list[tuple[str | None, Wait]] = [(None, self.state.waiting)] if self.state.waiting else []
            return out + [(t.id, t.waiting) for t in self.state.tasks if t.waiting is not None]

    def refresh(self) -> Rollout:
        """Re-read the state from the ledger (for a copy another process is running); no-op while it runs here."""
        if self._engine is None:
            state, _owner = _store.read(self._ledger, self.id)
            with self._lock:
                self.state = state
            self._notify()
        return self

    def on_change(self, callback: Any) -> None:
        """Call ``callback(rollout)`` after every saved change (the live view uses it)."""
        self._listeners.append(callback)

    def _notify(self) -> None:
        for cb in list(self._listeners):
            try:
                cb(self)
            except Exception:  # a broken view must not break the rollout
                log.exception("rollout listener failed")

    # -- running -------------------------------------------------------------------------------------------------------
    def run(self, wait: bool = True, *, timeout: float | None = None, stop_when_waiting: bool | None = None
            ) -> Rollout:
        """Run the rollout here until it ends. ``stop_when_waiting`` (default: True inside a headless runbook, else
        False) returns as soon as it waits only for a human, with the state saved for ``resume``. When it already
        runs in a background thread here, wait for that (up to ``timeout`` seconds). ``wait=False`` is ``start()``.
        """
        if not wait:
            return self.start(stop_when_waiting=bool(stop_when_waiting))
        thread = self._thread
        if thread is not None and thread.is_alive():
            thread.join(timeout)
            return self
        if stop_when_waiting is None:
            from kubecopilot.runbooks import current

            stop_when_waiting = current() is not None
        self._run_engine(stop_when_waiting)
        return self

    def start(self, *, stop_when_waiting: bool = False) -> Rollout:
        """Run it in a background thread (returns at once); the live view updates as it goes."""
        with self._run_lock:
            if self._thread is not None and self._thread.is_alive():
                return self
            self._check_runnable()
            self._thread = threading.Thread(target=self._background, args=(stop_when_waiting,),
                                            name=f"rollout-{self.id[:16]}", daemon=True)
            self._thread.start()
        return self

    def _background(self, stop_when_waiting: bool) -> None:
        try:
            self._run_engine(stop_when_waiting)
        except BaseException as e:  # kept for wait() and the view; the state says where it stopped
            self.error = e
            log.exception("rollout %s stopped with an error", self.id)

    def wait(self, timeout: float | None = None) -> str:
        """Block until the background run ends (or ``timeout`` seconds); re-raise its error; return the status."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
        if self.error is not None and (thread is None or not thread.is_alive()):
            error, self.error = self.error, None
            raise error
        return self.status

    def detach(self, timeout: float | None = 30.0) -> Rollout:
        """Stop running the rollout in this process at its next safe point (between two writes, or in a wait),
        leaving the saved state for ``resume`` here or elsewhere; nothing is cancelled or rolled back."""
        engine = self._engine
        if engine is not None:
            with self._cond:
                engine.stop = engine.stop or "detach"
                self._cond.notify_all()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
        return self

    def _check_runnable(self) -> None:
        if self._ws is None:
            raise RolloutError(f"rollout {self.id} is not bound to a cluster connection: load it with "
                               f"kubecopilot.rollouts.load({self.id!r}, ws=kc.connect(context="
                               f"{self.state.context!r}))")

    def _run_engine(self, stop_when_waiting: bool) -> None:
        from kubecopilot.rollouts._engine import Engine

        self._check_runnable()
        with _store.claim_lock(self._ledger):
            state, owner = _store.read(self._ledger, self.id)
            if _store.owner_alive(owner):
                raise RolloutError(
                    f"rollout {self.id} is being run by pid {owner['pid']} on {owner['host']} (since "  # type: ignore[index]
                    f"{owner.get('at')}); control it with promote/abort/... from here, or wait for it to end")  # type: ignore[union-attr]
            with self._lock:
                self.state = state
            engine = Engine(self, stop_when_waiting=stop_when_waiting)
            self._engine = engine
        try:
            engine.run()
        finally:
            self._engine = None
            self._notify()

    # -- controls ------------------------------------------------------------------------------------------------------
    def _command(self, command: str, by: str, **payload: Any) -> Rollout:
        _store.event(self._ledger, self.state, "rollout.command", by, {"command": command, **payload})
        if self._engine is not None:
            with self._cond:
                self._cond.notify_all()
            return self
        _state, owner = _store.read(self._ledger, self.id)
        if _store.owner_alive(owner):
            return self  # that process applies it at its next poll
        if self._ws is not None:
            self.start()  # nobody runs it: act on the command here
        return self

    def _current(self) -> RolloutState:
        if self._engine is None:
            self.refresh()
        return self.state

    def approve(self, by: str, *, task: str | None = None, reason: str = "") -> Rollout:
        """Approve what waits for an approval: the rollout's gate, a task's gate (``task=`` also approves a gate
        before it is reached), or a plan above the auto-approval level (approved by ``by`` under the plans policy,
        which may refuse: `PlanApprovalError`). ``by`` also becomes the approver plans are auto-approved for."""
        by = _person(by, "approve")
        st = self._current()
        if st.status in TERMINAL:
            raise RolloutError(f"rollout {self.id} is {st.status}: nothing to approve")
        waits = [(t, w) for t, w in self.waiting if task in (None, t)]
        gates = (not st.gate_open) or any(w.kind == "gate" for _t, w in waits) or (
            task is not None and st.task(task).gate and not st.task(task).gate_approved_by)
        plans = [w for _t, w in waits if w.kind == "plan" and w.plan_id]
        if not gates and not plans:
            raise RolloutError(f"rollout {self.id} waits for no approval now ({self._waiting_text()}); "
                               "promote(by=...) continues a pause or an inconclusive analysis")
        if plans:
            from kubecopilot.plans import load

            for w in plans:
                plan = load(w.plan_id, self._ws, ledger=self._ledger)  # type: ignore[arg-type]
                if str(plan.status) == "pending":
                    plan.approve(by=by, reason=reason or f"approved for rollout {self.id}")
        return self._command("approve", by, task=task, reason=reason)

    def promote(self, by: str, *, task: str | None = None, full: bool = False, reason: str = "") -> Rollout:
        """Continue past a pause (manual or timed) or accept an inconclusive analysis; ``full=True`` also skips
        the remaining canary / batch steps and goes straight to the promotion."""
        by = _person(by, "promote")
        st = self._current()
        if st.status not in ("pending", "running", "waiting_confirm") or st.phase != "forward":
            raise RolloutError(f"rollout {self.id} is {st.status}{' (rolling back)' if st.phase != 'forward' else ''}:"
                               " there is nothing to promote")
        return self._command("promote", by, task=task, full=full, reason=reason)

    def abort(self, by: str, reason: str = "") -> Rollout:
        """Stop and roll back every completed step (newest first) → ``rolled_back``."""
        by = _person(by, "abort")
        st = self._current()
        if st.status in TERMINAL or st.phase != "forward":
            raise RolloutError(f"rollout {self.id} is {st.status}{' and rolling back' if st.phase != 'forward' else ''}"
                               "; abort stops a rollout in progress (undo(by=...) reverses a finished one)")
        return self._command("abort", by, reason=reason)

    def cancel(self, by: str, reason: str = "") -> Rollout:
        """Stop at the next safe point and leave the cluster as it is → ``cancelled`` (``undo`` reverses it)."""
        by = _person(by, "cancel")
        st = self._current()
        if st.status in TERMINAL or st.phase != "forward":
            raise RolloutError(f"rollout {self.id} is {st.status}{' and rolling back' if st.phase != 'forward' else ''}"
                               ": only a rollout in progress can be cancelled")
        return self._command("cancel", by, reason=reason)

    def retry(self, by: str, *, task: str | None = None, reason: str = "") -> Rollout:
        """Analyse again (an inconclusive analysis), or run again what failed: a ``failed`` or ``cancelled``
        rollout continues its failed / cancelled tasks from their step; a ``rolled_back`` one starts over."""
        by = _person(by, "retry")
        st = self._current()
        inconclusive = any(w.kind == "analysis" for _t, w in self.waiting)
        if st.status not in ("failed", "rolled_back", "cancelled") and not inconclusive:
            raise RolloutError(f"rollout {self.id} is {st.status}: retry follows a failure, a rollback, a cancel or an "
                               "inconclusive analysis")
        return self._command("retry", by, task=task, reason=reason)

    def undo(self, by: str, reason: str = "") -> Rollout:
        """Reverse every completed step of a finished (success / failed / cancelled) rollout → ``rolled_back``."""
        by = _person(by, "undo")
        st = self._current()
        if st.status not in ("success", "failed", "cancelled") or st.phase != "forward":
            raise RolloutError(f"rollout {self.id} is {st.status}: undo reverses a finished rollout (abort(by=...) "
                               "stops one in progress)")
        return self._command("undo", by, reason=reason)

    def _waiting_text(self) -> str:
        waits = self.waiting
        if not waits:
            return f"status {self.status}"
        return "; ".join(f"{t or 'rollout'}: {w.kind}" for t, w in waits)

    # -- views ---------------------------------------------------------------------------------------------------------
    def view_state(self) -> dict[str, Any]:
        """Plain data for the views (the display package renders it and never talks to the cluster)."""
        with self._lock:
            st = self.state
            deps = {t.id: list(t.deps) for t in st.tasks}
            depth = layers(deps)
            tasks = []
            for t in st.tasks:
                tasks.append({
                    "id": t.id, "type": t.type, "app": t.app, "status": t.status, "deps": list(t.deps),
                    "layer": depth.get(t.id, 0), "step": _step_text(t), "detail": t.detail, "attempt": t.attempt,
                    "waiting": t.waiting.message if t.waiting else None,
                    "started": t.started, "finished": t.finished,
                    "steps": [{"index": s.index, "name": s.name, "status": s.status, "detail": s.detail,
                               "analysis": str(s.analyses[-1]) if s.analyses else None,
                               "ops": [{"description": o.description, "status": o.status, "plan": o.plan_id,
                                        "risk": o.risk, "approvedBy": o.approved_by} for o in s.ops]}
                              for s in t.steps]})
            analyses = [{"task": t.id, "step": s.name, "phase": a.phase, "reason": a.reason, "target": a.target,
                         "finished": a.finished, "pods": len(a.pods), "metrics": a.metrics_source,
                         "checks": [(c.name, c.status, c.detail) for c in a.checks]}
                        for t in st.tasks for s in t.steps for a in s.analyses]
            return {
                "id": st.id, "name": st.name, "status": st.status, "phase": st.phase, "reason": st.reason,
                "namespace": st.spec.namespace, "created_by": st.created_by, "approver": st.approver,
                "auto_approve": st.spec.approval.auto_approve, "context": st.context,
                "waiting": [(t, w.kind, w.message) for t, w in self.waiting],
                "tasks": tasks, "analyses": analyses,
                "rollback": [{"description": o.description, "status": o.status, "plan": o.plan_id}
                             for o in st.rollback_ops],
                "log": [(line.at, line.text) for line in st.log[-30:]],
                "running_here": self._engine is not None,
            }

    def __repr__(self) -> str:
        return (f"Rollout(id={self.id!r}, name={self.name!r}, status={self.status!r}, "
                f"tasks={len(self.state.tasks)})")

    def __str__(self) -> str:
        from kubecopilot.display._rollout_view import rollout_text

        return rollout_text(self.view_state())

    def _repr_html_(self) -> str:
        try:
            from kubecopilot.display._rollout_view import rollout_html
        except ImportError:  # pragma: no cover - display is part of the package
            return f"<pre>{html.escape(repr(self))}</pre>"
        return rollout_html(self.view_state())

    def widget(self) -> Any:
        """A live ipywidgets view: the DAG with each task's state, the current step, the analyses, and Approve /
        Promote / Abort / Retry / Cancel buttons that call this rollout's methods."""
        from kubecopilot.display._rollout_view import RolloutWidget

        return RolloutWidget(self)

    def figure(self) -> Any:
        """The DAG as a plotly figure (tasks coloured by state), for reports."""
        from kubecopilot.display._rollout_view import rollout_figure

        return rollout_figure(self.view_state())

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        from kubecopilot._notebook import widget_bundle

        return widget_bundle(str(self), self._repr_html_(), self.widget, include, exclude)


def _step_text(t: TaskState) -> str:
    if not t.steps:
        return "-" if t.planned or t.status == "pending" else ""
    i = min(t.current, len(t.steps) - 1)
    done = sum(1 for s in t.steps if s.status in ("done", "skipped"))
    return f"{done}/{len(t.steps)}: {t.steps[i].name}"

