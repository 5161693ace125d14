"""The approval policy of a headless run, and the API a runbook uses from inside its kernel.

A person starting a run may pre-record an approval up to a risk level (``--approve-up-to medium --approved-by
alice``); the default is none. Inside the runbook, ``kubecopilot.runbooks.submit(plan, key="scale-step")``
applies it:

- risk within the policy: ``plan.approve(by="alice (pre-recorded for run …)")`` then ``plan.execute()``;
- above it: the plan is recorded as pending for this run and returned unexecuted; the runner ends the run in
  ``waiting_confirm``; a human approves it in a notebook (``kc.plans.pending()``) and
  ``kubecopilot runbook resume RUN_ID`` re-executes the runbook;
- on resume, ``submit`` finds the plan made for the same ``key`` in the original run (the idempotency key is
  ``runbook/<first run id>/<key>``) and executes *that* approved plan instead of the new one, which never
  reaches the cluster and is rejected as superseded; a rejected plan is returned unexecuted;
- outside a runbook (a person in JupyterLab), ``submit`` returns the plan untouched for its Approve button.

The runner hands the kernel its context through one environment variable, ``$KUBECOPILOT_RUN_CONTEXT``: the
path of a JSON file in the run directory (run id, policy, plans of the run being resumed). The kernel reports
back by appending to files in the same directory (``plans.jsonl``, ``result.json``), which the runner reads when
the notebook has finished. Nothing here imports papermill or the plans package until it is needed.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import html
import json
import os
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from kubecopilot.errors import RunbookError, RunbookParameterError

__all__ = [
    "APPROVAL_LEVELS",
    "ApprovalPolicy",
    "Conclusion",
    "RunContext",
    "conclude",
    "current",
    "submit",
]

ENV_CONTEXT = "KUBECOPILOT_RUN_CONTEXT"
ENV_RUN_ID = "KUBECOPILOT_RUN_ID"
APPROVAL_LEVELS = ("none", "low", "medium", "high")
PLANS_FILE = "plans.jsonl"
RESULT_FILE = "result.json"
CONTEXT_FILE = "context.json"


@dataclasses.dataclass(frozen=True)
class ApprovalPolicy:
    """Up to which plan risk a headless run may carry a pre-recorded approval, and whose approval it is."""

    approve_up_to: str = "none"
    approved_by: str | None = None

    def __post_init__(self) -> None:
        if self.approve_up_to not in APPROVAL_LEVELS:
            raise RunbookParameterError(
                f"approve_up_to={self.approve_up_to!r}: use one of {', '.join(APPROVAL_LEVELS)}")
        if self.approve_up_to != "none" and not (self.approved_by or "").strip():
            raise RunbookParameterError(
                f"approve_up_to={self.approve_up_to!r} needs approved_by (--approved-by NAME): a pre-recorded "
                "approval is still a named person's")

    def allows(self, level: str) -> bool:
        """May a plan of risk ``level`` (low/medium/high) be approved without a human in the loop?"""
        if self.approve_up_to == "none" or level not in APPROVAL_LEVELS:
            return False
        return APPROVAL_LEVELS.index(level) <= APPROVAL_LEVELS.index(self.approve_up_to)

    def __str__(self) -> str:
        if self.approve_up_to == "none":
            return "no pre-recorded approval: every plan waits for a human"
        return f"pre-recorded approval by {self.approved_by} for plans up to {self.approve_up_to} risk"

    def as_dict(self) -> dict[str, Any]:
        return {"approve_up_to": self.approve_up_to, "approved_by": self.approved_by}


@dataclasses.dataclass
class RunContext:
    """What a running runbook knows about its run (``kubecopilot.runbooks.current()`` inside the kernel)."""

    run_id: str
    root_run_id: str
    runbook: str
    run_dir: Path
    policy: ApprovalPolicy
    resume_of: str | None = None
    prior_plans: dict[str, str] = dataclasses.field(default_factory=dict)  # key -> plan id from the run resumed
    _keys: list[str] = dataclasses.field(default_factory=list, repr=False)
    _lock: threading.Lock = dataclasses.field(default_factory=threading.Lock, repr=False)

    # -- runner side -----------------------------------------------------------------------------------------
    def write(self) -> Path:
        path = self.run_dir / CONTEXT_FILE
        path.write_text(json.dumps({
            "run_id": self.run_id, "root_run_id": self.root_run_id, "runbook": self.runbook,
            "run_dir": str(self.run_dir), "policy": self.policy.as_dict(), "resume_of": self.resume_of,
            "prior_plans": self.prior_plans}, indent=1))
        return path

    @classmethod
    def read(cls, path: str | os.PathLike[str]) -> RunContext:
        data = json.loads(Path(path).read_text())
        return cls(run_id=data["run_id"], root_run_id=data["root_run_id"], runbook=data["runbook"],
                   run_dir=Path(data["run_dir"]), policy=ApprovalPolicy(**data["policy"]),
                   resume_of=data.get("resume_of"), prior_plans=dict(data.get("prior_plans") or {}))

    # -- kernel side -----------------------------------------------------------------------------------------
    def idempotency_key(self, key: str) -> str:
        """The same for the first run and every resume of it: ``runbook/<first run id>/<key>``."""
        return f"runbook/{self.root_run_id}/{key}"

    def claim_key(self, key: str | None) -> str:
        """``key`` (or ``step-N`` by submission order, which is the same on every re-execution); a key may be
        used once per run."""
        with self._lock:
            key = key or f"step-{len(self._keys) + 1}"
            if key in self._keys:
                raise RunbookError(
                    f"submit(key={key!r}) was already used in run {self.run_id}; give each submitted plan its own "
                    "key (it is how a resumed run finds the plan approved meanwhile)")
            self._keys.append(key)
            return key

    def record_plan(self, key: str, plan: Any, decision: str) -> None:
        entry = {"key": key, "plan_id": str(plan.id), "status": str(getattr(plan, "status", "")),
                 "risk": _risk_level(plan), "decision": decision, "idempotency_key": self.idempotency_key(key),
                 "ts": dt.datetime.now(dt.UTC).isoformat()}
        with (self.run_dir / PLANS_FILE).open("a") as f:
            f.write(json.dumps(entry) + "\n")
        try:
            from kubecopilot import audit

            audit.append(f"runbook:{self.runbook}", "runbook.plan_submitted", plan_id=str(plan.id),
                         runbook_run_id=self.run_id, payload={k: v for k, v in entry.items() if k != "plan_id"})
        except Exception as e:  # the plan's own events are in the ledger; this one is a convenience
            import logging

            logging.getLogger(__name__).warning("could not audit runbook.plan_submitted: %s", e)


_current: RunContext | None = None
_current_path: str | None = None


def current() -> RunContext | None:
    """This kernel's run (from ``$KUBECOPILOT_RUN_CONTEXT``), or None outside a runbook run."""
    global _current, _current_path
    path = os.environ.get(ENV_CONTEXT)
    if not path:
        return None
    if _current is None or _current_path != path:
        _current, _current_path = RunContext.read(path), path
    return _current


def _risk_level(plan: Any) -> str:
    risk = getattr(plan, "risk", None)
    level = getattr(risk, "level", None) if risk is not None else None
    return str(getattr(level, "value", level) or "unknown")


def _set_idempotency_key(plan: Any, value: str, *, actor: str) -> None:
    """Key a fresh plan by run and step (``runbook/<first run id>/<key>``), in memory and in the plan's ledger row,
    so the audit shows which runbook step a plan belongs to and the executor never applies that step twice."""
    audit = getattr(plan, "audit", None)
    if audit is None or str(getattr(plan, "status", "pending")) != "pending":
        return
    attr = next((a for a in ("idempotency_key", "idempotencyKey") if hasattr(audit, a)), None)
    if attr is None or getattr(audit, attr) == value:
        return
    setattr(audit, attr, value)
    from kubecopilot.plans import OperationPlan, _store

    if isinstance(plan, OperationPlan):  # (anything else has no ledger row: the in-memory key is all there is)
        _store.record(plan, None, actor)  # rewrite the plan's row; no event: the plan did not change state


def _retire(fresh: Any, prior: Any, key: str, ctx: RunContext) -> None:
    """The plan this re-execution just built for ``key`` is superseded by the one decided on: reject it, so it does
    not linger in ``kc.plans.pending()`` waiting for a decision nobody needs to take."""
    if fresh is prior or str(getattr(fresh, "id", "")) == str(prior.id):
        return
    if str(getattr(fresh, "status", "")) == "pending" and hasattr(fresh, "reject"):
        fresh.reject(by=f"runbook:{ctx.runbook}",
                     reason=f"superseded by plan {prior.id} (step {key!r} of run {ctx.root_run_id}, "
                            f"{prior.status}) on resume {ctx.run_id}")


def submit(plan: Any, *, key: str | None = None, reason: str | None = None) -> Any:
    """Hand a plan to the run's approval policy (see the module docstring); returns the plan that stands for
    this step: executed, pending, or (on resume) the approved one from the original run.

    ``key`` names the step ("scale-step"); it must be stable across re-executions of the runbook, because a
    resumed run finds the plan approved meanwhile by it. Without one, plans are keyed by submission order.
    """
    ctx = current()
    if ctx is None:
        return plan  # a person in a notebook: the plan's own Approve/Reject buttons take it from here
    key = ctx.claim_key(key)
    prior_id = ctx.prior_plans.get(key)
    if prior_id:
        from kubecopilot import plans

        prior = plans.load(prior_id)
        ws = getattr(plan, "workbench", None)
        if ws is not None and hasattr(prior, "bind"):
            prior.bind(ws)  # executed through the connection this runbook made, like the plan it stands for
        status = str(prior.status)
        if status == "confirmed":
            ctx.record_plan(key, prior, "approved-by-human")
            prior.execute()
            ctx.record_plan(key, prior, "executed")
        else:
            # executed earlier (nothing to repeat), rejected (never run it), or still pending (a resume without
            # approval is refused by the runner, but a human may have reverted meanwhile): report as it stands.
            ctx.record_plan(key, prior, "pending" if status == "pending" else status)
        _retire(plan, prior, key, ctx)
        return prior
    _set_idempotency_key(plan, ctx.idempotency_key(key), actor=f"runbook:{ctx.runbook}")
    level = _risk_level(plan)
    if ctx.policy.allows(level):
        plan.approve(by=f"{ctx.policy.approved_by} (pre-recorded for run {ctx.run_id})",
                     reason=reason or f"pre-recorded approval for {level}-risk plans in runbook {ctx.runbook} "
                                      f"(policy: up to {ctx.policy.approve_up_to})")
        ctx.record_plan(key, plan, "pre-approved")
        plan.execute()
        ctx.record_plan(key, plan, "executed")
    else:
        ctx.record_plan(key, plan, "pending")
        print(f"plan {plan.id} ({level} risk, step {key!r}) waits for a human: approve or reject it in a notebook "
              f"(kc.plans.pending()), then `kubecopilot runbook resume {ctx.run_id}`")
    return plan


class Conclusion(dict):
    """A runbook's result: facts (JSON-able) that the runner keeps in the run's provenance and prints."""

    def __repr__(self) -> str:
        return f"Conclusion({dict.__repr__(self)})"

    def __str__(self) -> str:
        width = max((len(str(k)) for k in self), default=0)
        return "\n".join(f"{k:<{width}}  {_fmt(v)}" for k, v in self.items())

    def _repr_html_(self) -> str:
        e = html.escape
        rows = "".join(f"<tr><th style='text-align:left'>{e(str(k))}</th><td>{e(_fmt(v))}</td></tr>"
                       for k, v in self.items())
        return f"<table>{rows}</table>"


def _fmt(value: Any) -> str:
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value) if value else "-"
    return str(value)


def conclude(summary: Mapping[str, Any] | None = None, /, **facts: Any) -> Conclusion:
    """Record the runbook's conclusion (e.g. ``conclude(healthy=False, not_running=["web-1"])``).

    In a run it is saved next to the output notebook and lands in the run's provenance, the ledger record and
    the CLI's output; outside a run it is just displayed. Values must be JSON-able (others are stringified).
    """
    result = Conclusion({**(summary or {}), **facts})
    ctx = current()
    if ctx is not None:
        path = ctx.run_dir / RESULT_FILE
        previous = json.loads(path.read_text()) if path.exists() else {}
        path.write_text(json.dumps({**previous, **result}, default=str, indent=1))
    return result
