"""Operation plans: every write to a cluster, computed, shown, risk-scored, approved, then sent.

>>> plan = ws.plan.scale("deployment/payments/billing-api", 5)     # doctest: +SKIP
>>> plan                      # summary, changes, YAML diff, risk badge, Approve / Reject / Execute buttons
>>> plan.approve(by="alice")
>>> plan.execute(wait=True)   # drift-checked, resourceVersion precondition, post-conditions checked

`PlanIntent` is the input from diagnosis findings, natural language (``ws.ask_plan("scale billing-api in payments
to 5")``) and people; the builders (`PlanBuilder`, reached as ``ws.plan``) turn it into an `OperationPlan` from a
live read. Plans live in the audit ledger: ``load(plan_id)``, ``pending()`` and ``history()`` work from any process.
``configure(...)`` sets the whitelist, the approval rules and the risk configuration.

Validation: a builder dry-runs every step on the server (``?dryRun=All``) before it returns. A rejection raises
`PlanValidationError` quoting the server (a 403 stays `ClusterForbiddenError`, naming verb and resource), and nothing
is recorded: an `OperationPlan` that exists has passed its dry run, so there is no invalid plan to approve by mistake.
"""

from kubecopilot.plans._builders import PlanBuilder
from kubecopilot.plans._intent import ACTIONS, PlanIntent
from kubecopilot.plans._model import (
    SCHEMA_VERSION,
    Change,
    DriftItem,
    ExecutionResult,
    OperationPlan,
    PostCondition,
    Risk,
    RiskFactor,
)
from kubecopilot.plans._parser import PHRASINGS, parse_intent, plan_from_text
from kubecopilot.plans._policy import DEFAULT_WHITELIST, Policy, configure, current_policy
from kubecopilot.plans._risk import ChangeWindow, Freeze, RiskConfig
from kubecopilot.plans._store import PlanTable, history, load, pending

__all__ = [  # noqa: RUF022 - plain sorted(), as tests/unit/test_public_api.py checks
    "ACTIONS",
    "Change",
    "ChangeWindow",
    "DEFAULT_WHITELIST",
    "DriftItem",
    "ExecutionResult",
    "Freeze",
    "OperationPlan",
    "PHRASINGS",
    "PlanBuilder",
    "PlanIntent",
    "PlanTable",
    "Policy",
    "PostCondition",
    "Risk",
    "RiskConfig",
    "RiskFactor",
    "SCHEMA_VERSION",
    "configure",
    "current_policy",
    "history",
    "load",
    "parse_intent",
    "pending",
    "plan_from_text",
]
