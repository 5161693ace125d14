"""Runbooks: parameterised notebooks (papermill) that run headless and leave an audited trail.

>>> import kubecopilot as kc                                                      # doctest: +SKIP
>>> kc.runbooks.list()                                   # what runbooks exist (runbooks/, $KUBECOPILOT_RUNBOOKS_PATH)
>>> kc.runbooks.describe("cluster-health")               # title, risk, parameters with types and descriptions
>>> run = kc.runbooks.run("cluster-health", {"namespace": "payments"}, context="prod")
>>> run.status, run.result, run.output                   # provenance; the output notebook is kept
>>> kc.runbooks.runs()                                   # recent runs from the audit ledger

Parameters are checked against the runbook's ``parameters`` cell before a kernel starts. A failure raises
`~kubecopilot.errors.RunbookFailedError` whose ``.run.failure`` names the cell, its source and the error (also for
timeouts and dead kernels). Inside a runbook, ``submit(plan, key=...)`` applies the run's approval policy:
plans above it end the run in ``waiting_confirm``; after a human approves them, ``resume(run_id)`` continues.
``conclude(...)`` records the runbook's result. ``check()`` enforces the runbook structure (used in CI).
"""

from __future__ import annotations

from kubecopilot.runbooks._catalog import Runbook, RunbookList, find_runbook, list_runbooks, search_path
from kubecopilot.runbooks._check import CheckReport, check
from kubecopilot.runbooks._params import Parameter
from kubecopilot.runbooks._policy import (
    APPROVAL_LEVELS,
    ApprovalPolicy,
    Conclusion,
    RunContext,
    conclude,
    current,
    submit,
)
from kubecopilot.runbooks._provenance import Failure, RunbookRun, default_runs_dir
from kubecopilot.runbooks._runner import get_run, resume, run, runs

__all__ = [
    "APPROVAL_LEVELS",
    "ApprovalPolicy",
    "CheckReport",
    "Conclusion",
    "Failure",
    "Parameter",
    "RunContext",
    "Runbook",
    "RunbookList",
    "RunbookRun",
    "check",
    "conclude",
    "current",
    "default_runs_dir",
    "describe",
    "list",
    "resume",
    "run",
    "runs",
    "search_path",
    "status",
    "submit",
]


def list() -> RunbookList:
    """Every runbook on the search path (``$KUBECOPILOT_RUNBOOKS_PATH``, then the project's ``runbooks/``)."""
    return list_runbooks()


def describe(name: str) -> Runbook:
    """A runbook's title, description, risk, requirements, typed parameters and steps (by name or path)."""
    return find_runbook(name)


def status(run_id: str) -> RunbookRun:
    """A run's provenance and status (from the audit ledger, else its run directory)."""
    return get_run(run_id)
