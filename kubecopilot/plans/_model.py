"""`OperationPlan` and its parts: the one object every write to a cluster travels in.

The model is plain data (pydantic, camelCase in JSON) so a plan can be stored in the audit ledger, loaded in another
process (a runbook kernel, a second notebook) and executed there. Behaviour lives next door and is reached through
thin methods: `_execute` (approve / reject / execute / post-conditions), `_store` (the ledger), and the views in
`kubecopilot.display`, imported only when something is rendered so the domain never depends on the display.

``version`` is the schema version of this JSON shape; a plan written by a newer KubeCopilot refuses to load
rather than being half understood.
"""

from __future__ import annotations

import datetime as dt
import html
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr
from pydantic.alias_generators import to_camel

from kubecopilot.errors import PlanError

__all__ = [
    "SCHEMA_VERSION",
    "Change",
    "ClusterInfo",
    "DriftItem",
    "ExecutionResult",
    "OperationPlan",
    "PlanAudit",
    "PlanDiff",
    "PlanStatus",
    "PlanStep",
    "PlanTimestamps",
    "PostCondition",
    "ResourceRef",
    "Risk",
    "RiskFactor",
    "RiskLevel",
    "StepResult",
    "Validation",
]

SCHEMA_VERSION = 1

PlanStatus = Literal["pending", "confirmed", "executed", "failed", "reverted", "rejected"]
RiskLevel = Literal["low", "medium", "high"]
RISK_ORDER: dict[str, int] = {"low": 0, "medium": 1, "high": 2}


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class _Model(BaseModel):
    """camelCase on the wire, snake_case in Python; unknown fields are an error (a typo is not silently dropped)."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


class ResourceRef(_Model):
    """The object a plan (or a step) changes, as it was when the plan was made."""

    kind: str
    api_version: str
    namespace: str | None = None
    name: str
    uid: str | None = None
    resource_version: str | None = None
    path: str = Field(description="the object's API path (the collection path for a create)")

    def __str__(self) -> str:
        return "/".join([self.kind.lower()] + ([self.namespace] if self.namespace else []) + [self.name])


class Change(_Model):
    """One field the plan changes: an RFC 6902 op name, a JSON pointer, the value before and after."""

    op: Literal["add", "remove", "replace"]
    path: str
    old: Any = None
    new: Any = None


class DriftItem(_Model):
    """One field that differs between the plan's snapshot and the live object. ``change`` says how: a value
    ``changed``, a field was ``added`` or ``removed`` since the plan, or the whole object was ``deleted``,
    ``replaced`` (same name, new uid) or ``created`` (a plan to create it)."""

    target: str
    path: str
    change: Literal["changed", "added", "removed", "deleted", "replaced", "created"] = "changed"
    planned: Any = None
    live: Any = None

    def __str__(self) -> str:
        if self.change in ("deleted", "replaced", "created"):
            return f"{self.target}: {self.change} since the plan was made"
        planned, live = _short(self.planned, self.change == "added"), _short(self.live, self.change == "removed")
        return f"{self.target} {self.path or '/'}: {self.change} — planned {planned}, live {live}"


class PlanStep(_Model):
    """One request of a plan. ``patch`` is RFC 6902 for ``patchFormat`` json-patch; ``body`` carries what a create,
    eviction or delete sends. ``before`` is this step's snapshot when its target is not the plan's resource (the
    resource's snapshot is ``diff.before``)."""

    id: str
    action: str
    description: str
    target: ResourceRef
    patch_format: Literal["json-patch", "create", "delete", "eviction"] = "json-patch"
    patch: list[dict[str, Any]] | None = None
    body: dict[str, Any] | None = None
    rollback_patch: list[dict[str, Any]] | None = None
    reversible: bool = True
    before: dict[str, Any] | None = None
    changes: list[Change] = Field(default_factory=list)
    options: dict[str, Any] = Field(default_factory=dict)


class PlanDiff(_Model):
    """The plan's change to its main resource: the snapshot, what the server would store (its dry-run answer),
    the patch that is sent and the one that undoes it, and the field-by-field changes."""

    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None
    patch: list[dict[str, Any]] | None = None
    patch_format: str = "json-patch"
    rollback_patch: list[dict[str, Any]] | None = None
    changes: list[Change] = Field(default_factory=list)


class RiskFactor(_Model):
    """One reason a plan is risky. ``weight`` (0..1) feeds the score; ``rule`` names the rule that found it."""

    rule: str
    weight: float = Field(ge=0, le=1)
    detail: str

    @property
    def level(self) -> RiskLevel:
        return "high" if self.weight >= 0.6 else "medium" if self.weight >= 0.3 else "low"


class PostCondition(_Model):
    """What must hold after execution (``kind`` picks the check); ``status`` is filled in when checked."""

    kind: str
    description: str
    target: str
    params: dict[str, Any] = Field(default_factory=dict)
    timeout: float = 120.0
    status: Literal["unchecked", "met", "unmet", "error"] = "unchecked"
    detail: str = ""
    checked_at: dt.datetime | None = None


class Risk(_Model):
    level: RiskLevel = "low"
    score: float = Field(default=0.0, ge=0, le=1)
    rationale: str = ""
    factors: list[RiskFactor] = Field(default_factory=list)
    slo_budget_impact: str | None = None
    post_conditions: list[PostCondition] = Field(default_factory=list)


class PlanTimestamps(_Model):
    created: dt.datetime = Field(default_factory=utcnow)
    confirmed: dt.datetime | None = None
    rejected: dt.datetime | None = None
    executed: dt.datetime | None = None
    failed: dt.datetime | None = None
    reverted: dt.datetime | None = None


class PlanAudit(_Model):
    requested_by: str
    confirmed_by: str | None = None
    confirm_reason: str | None = None
    rejected_by: str | None = None
    reject_reason: str | None = None
    executed_by: str | None = None
    idempotency_key: str
    source: str = "user"
    source_prompt_id: str | None = None
    timestamps: PlanTimestamps = Field(default_factory=PlanTimestamps)


class ClusterInfo(_Model):
    """Where the plan was made (a context name and server URL, never a credential)."""

    context: str
    server: str
    user: str | None = None


class Validation(_Model):
    """The server-side dry run every plan passed before it was shown."""

    dry_run: Literal["passed"] = "passed"
    at: dt.datetime = Field(default_factory=utcnow)
    requests: int = 0


class StepResult(_Model):
    id: str
    status: Literal["applied", "failed", "rolled_back", "rollback_failed", "not_reversible", "not_run"]
    detail: str = ""
    resource_version: str | None = None
    generation: int | None = None
    uid: str | None = None
    at: dt.datetime = Field(default_factory=utcnow)


class ExecutionResult(_Model):
    """How an execution ended. ``replayed`` is True when this call did not apply anything because the same
    idempotency key had been executed already (the first execution's result is returned)."""

    plan_id: str
    idempotency_key: str
    status: Literal["executed", "failed", "reverted"]
    reason: str = ""
    steps: list[StepResult] = Field(default_factory=list)
    drift: list[DriftItem] = Field(default_factory=list)
    executed_by: str
    pid: int
    host: str
    started: dt.datetime
    finished: dt.datetime
    replayed: bool = False

    @property
    def ok(self) -> bool:
        return self.status == "executed"

    def __str__(self) -> str:
        again = " (replayed: an earlier execution of the same idempotency key)" if self.replayed else ""
        steps = ", ".join(f"{s.id} {s.status}" for s in self.steps)
        return f"{self.status}{again}: {steps}" + (f" — {self.reason}" if self.reason else "")


class OperationPlan(_Model):
    """A proposed change: built from a live read, dry-run validated, risk-scored; approved by a named person,
    drift-checked and executed with a server-side precondition; every transition audited.

    Build one with ``ws.plan.<action>(...)`` (see `PlanBuilder`), never by hand. ``approve(by=)``, ``reject(by=)``
    and ``execute()`` move it along; ``widget()`` shows it with buttons that call the same methods.
    """

    id: str
    version: int = SCHEMA_VERSION
    status: PlanStatus = "pending"
    action: str
    summary: str
    resource: ResourceRef
    steps: list[PlanStep]
    diff: PlanDiff
    risk: Risk = Field(default_factory=Risk)
    ai_rationale: str | None = None
    audit: PlanAudit
    cluster: ClusterInfo
    validation: Validation = Field(default_factory=Validation)
    parameters: dict[str, Any] = Field(default_factory=dict)
    execution: ExecutionResult | None = None
    failure_reason: str | None = None

    _ws: Any = PrivateAttr(default=None)
    _ledger: Any = PrivateAttr(default=None)
    _policy: Any = PrivateAttr(default=None)
    _listeners: list[Any] = PrivateAttr(default_factory=list)

    # -- state ------------------------------------------------------------------------------------------------------
    @property
    def target(self) -> str:
        """``deployment/payments/billing-api``."""
        return str(self.resource)

    @property
    def changes(self) -> list[Change]:
        """Every field every step changes (the plan's own resource first)."""
        return [c for s in self.steps for c in s.changes] if len(self.steps) > 1 else list(self.diff.changes)

    @property
    def idempotency_key(self) -> str:
        return self.audit.idempotency_key

    @property
    def workbench(self) -> Any:
        return self._ws

    def bind(self, ws: Any, *, ledger: Any = None) -> OperationPlan:
        """Attach a workbench (and optionally a ledger) to a plan loaded elsewhere, so it can be executed here."""
        self._ws = ws
        if ledger is not None:
            self._ledger = ledger
        return self

    def on_change(self, callback: Any) -> None:
        """Call ``callback(plan)`` after every transition (the widget uses this to stay live)."""
        self._listeners.append(callback)

    def _notify(self) -> None:
        for cb in list(self._listeners):
            try:
                cb(self)
            except Exception:  # a broken view must not break a transition that already happened
                import logging

                logging.getLogger("kubecopilot.plans").exception("plan listener failed")

    # -- transitions (implemented in _execute) ------------------------------------------------------------------------
    def approve(self, by: str, reason: str = "") -> OperationPlan:
        """Approve as ``by`` (a person's name). The policy may refuse (`PlanApprovalError`); only a pending plan
        can be approved (`PlanStateError`)."""
        from kubecopilot.plans._execute import approve

        return approve(self, by=by, reason=reason)

    def reject(self, by: str, reason: str = "") -> OperationPlan:
        """Reject as ``by``; a rejected plan can never be executed."""
        from kubecopilot.plans._execute import reject

        return reject(self, by=by, reason=reason)

    def execute(self, *, by: str | None = None, wait: bool = False, timeout: float = 300.0) -> ExecutionResult:
        """Re-read every target, refuse on drift (`PlanDriftError`), apply each step with a resourceVersion
        precondition, roll completed steps back if one fails (`PlanExecutionError`). The same idempotency key never
        applies twice, across processes too: a second call returns the first result. ``wait=True`` then checks
        the post-conditions (e.g. the rollout completes) within ``timeout`` seconds."""
        from kubecopilot.plans._execute import execute

        return execute(self, by=by, wait=wait, timeout=timeout)

    def check_postconditions(self, timeout: float | None = None) -> list[PostCondition]:
        """Evaluate the post-conditions against the cluster (polling up to each one's timeout, or ``timeout``),
        record them in the plan and the audit ledger, and return them."""
        from kubecopilot.plans._execute import check_postconditions

        return check_postconditions(self, timeout=timeout)

    # -- serialisation -------------------------------------------------------------------------------------------------
    def to_json(self, **kw: Any) -> str:
        return self.model_dump_json(by_alias=True, **kw)

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True)

    @classmethod
    def from_json(cls, text: str | bytes | dict[str, Any]) -> OperationPlan:
        """Parse a plan written by `to_json` (or its dict); a newer schema version is refused, not guessed at."""
        import json

        data = json.loads(text) if isinstance(text, str | bytes) else dict(text)
        version = data.get("version", SCHEMA_VERSION)
        if not isinstance(version, int) or version > SCHEMA_VERSION:
            raise PlanError(f"plan {data.get('id', '?')} has schema version {version!r}, but this KubeCopilot reads "
                            f"up to {SCHEMA_VERSION}: upgrade kubecopilot to load it")
        return cls.model_validate(data)

    @classmethod
    def json_schema(cls) -> dict[str, Any]:
        """The JSON Schema of the plan's JSON form (camelCase)."""
        return cls.model_json_schema(by_alias=True)

    # -- rendering -----------------------------------------------------------------------------------------------------
    def __repr__(self) -> str:
        return (f"OperationPlan(id={self.id[:8]!r}, action={self.action!r}, target={self.target!r}, "
                f"status={self.status!r}, risk={self.risk.level!r})")

    def __str__(self) -> str:
        from kubecopilot.display._plan_view import plan_text

        return plan_text(self)

    def _repr_html_(self) -> str:
        try:
            from kubecopilot.display._plan_view import plan_html
        except ImportError:  # pragma: no cover - display is part of the package; keep a plain fallback anyway
            return f"<pre>{html.escape(repr(self))}</pre>"
        return plan_html(self)

    def widget(self) -> Any:
        """An ipywidgets view with Approve / Reject / Execute buttons that call this plan's methods."""
        from kubecopilot.display._widgets import PlanWidget

        return PlanWidget(self)

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        """In a kernel: the live widget, with the static HTML and text as fallbacks (saved notebooks, nbconvert)."""
        from kubecopilot._notebook import widget_bundle

        return widget_bundle(str(self), self._repr_html_(), self.widget, include, exclude)



def _short(value: Any, absent: bool = False, limit: int = 80) -> str:
    text = "(absent)" if absent else repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"
