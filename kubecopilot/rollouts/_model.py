"""What a rollout *is*, as plain data: the spec a person writes and the state the engine keeps.

Both are pydantic models (camelCase in JSON: ``blockBy``, ``mustInOrder``) because the state is the rollout: it is
stored whole in the audit ledger after every change and loaded in another process to resume, so nothing the engine
needs may live only in memory. Behaviour lives next door (`_engine`, `_ops`, `_strategies`, `_analysis`).

``RolloutState.version`` is the schema version of this JSON; a newer one is refused rather than half understood.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic.alias_generators import to_camel

from kubecopilot.errors import KubeCopilotError

__all__ = [
    "APPROVAL_LEVELS",
    "SCHEMA_VERSION",
    "TERMINAL",
    "AnalysisResult",
    "AnalysisSpec",
    "App",
    "Approval",
    "BlueGreen",
    "Canary",
    "CanaryStep",
    "Check",
    "LogLine",
    "Op",
    "PodSample",
    "Rolling",
    "RolloutError",
    "RolloutSpec",
    "RolloutState",
    "RolloutStatus",
    "StepState",
    "Task",
    "TaskState",
    "Wait",
]

SCHEMA_VERSION = 1

RolloutStatus = Literal["pending", "running", "waiting_confirm", "success", "failed", "rolled_back", "cancelled"]
TaskStatus = Literal["pending", "running", "waiting_confirm", "success", "failed", "rolled_back", "cancelled",
                     "skipped"]
TaskType = Literal["prepare", "build", "test", "deploy", "health_check", "custom"]
TERMINAL: tuple[str, ...] = ("success", "failed", "rolled_back", "cancelled")
APPROVAL_LEVELS: tuple[str, ...] = ("none", "low", "medium", "high")
DEPLOY_PHASE: tuple[str, ...] = ("deploy", "health_check")


class RolloutError(KubeCopilotError):
    """A rollout cannot be built, controlled or resumed (the message names the fix)."""


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class _Model(BaseModel):
    """camelCase on the wire, snake_case in Python; unknown fields are an error (a typo is not silently dropped)."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


# -- the spec ----------------------------------------------------------------------------------------------------------
class AnalysisSpec(_Model):
    """How a step's pods are judged. Short windows are fine in tests; production wants minutes.

    Successful: every pod Ready at the end of ``window`` and no pod restarted more than ``max_restarts`` times
    during it (and CPU / memory under the optional thresholds). Failed: crash loops, restarts, failed pods, pods
    Running but not Ready at the end, a threshold exceeded. Inconclusive: not enough data — no pods, pods still
    Pending at the end, or a metric threshold without metrics to judge it.
    """

    window: float = Field(default=30.0, gt=0)
    interval: float = Field(default=5.0, gt=0)
    max_restarts: int = Field(default=0, ge=0)
    min_ready: float = Field(default=1.0, ge=0, le=1)
    max_cpu_millicores: float | None = Field(default=None, gt=0)
    max_memory_mib: float | None = Field(default=None, gt=0)
    fail_fast: bool = True


class CanaryStep(_Model):
    """One canary step: ``weight`` percent of the replicas on the new version, then the analysis, then a pause
    (seconds; ``None`` waits for ``promote()``). Weight 100 is the promotion itself."""

    weight: int = Field(ge=1, le=100)
    pause: float | None = Field(default=0.0)
    analysis: bool = True

    @field_validator("pause")
    @classmethod
    def _pause(cls, v: float | None) -> float | None:
        if v is not None and v < 0:
            raise ValueError("pause must be >= 0 seconds, or None to wait for promote()")
        return v


class Canary(_Model):
    """A second Deployment ``<app>-canary`` with the new template whose pods carry the labels the Service selects;
    the stable Deployment is scaled so canary/total follows the step weights."""

    kind: Literal["canary"] = "canary"
    steps: list[CanaryStep] = Field(default_factory=lambda: [CanaryStep(weight=25), CanaryStep(weight=50)])

    @field_validator("steps", mode="before")
    @classmethod
    def _steps(cls, v: Any) -> Any:
        return [{"weight": s} if isinstance(s, int) and not isinstance(s, bool) else s for s in (v or [])]

    @model_validator(mode="after")
    def _ordered(self) -> Canary:
        weights = [s.weight for s in self.steps]
        if not weights:
            raise ValueError("a canary needs at least one step, e.g. steps=[25, 50]")
        if weights != sorted(set(weights)):
            raise ValueError(f"canary weights must increase step by step, got {weights}")
        return self


class Rolling(_Model):
    """Batches of ``batch_size`` pods on the new version (a ``<app>-next`` Deployment grows while the stable one
    shrinks), ``interval`` seconds apart, each batch Ready (or analysed) before the next."""

    kind: Literal["rolling"] = "rolling"
    batch_size: int = Field(default=1, ge=1)
    interval: float = Field(default=0.0, ge=0)
    analysis: bool = False


class BlueGreen(_Model):
    """``<app>-blue`` / ``<app>-green``: the new colour runs behind the preview Service, is analysed, then the
    active Service's selector switches to it; after ``scale_down_delay`` seconds the old colour is removed."""

    kind: Literal["blue_green"] = "blue_green"
    active_service: str | None = None
    preview_service: str | None = None
    auto_promote: bool = True
    pre_analysis: bool = True
    post_analysis: bool = False
    scale_down_delay: float = Field(default=30.0, ge=0)


Strategy = Annotated[Canary | Rolling | BlueGreen, Field(discriminator="kind")]


class App(_Model):
    """One application: its Deployment (default: the app's name), the new ``image`` (and ``env``) and how to roll
    it out."""

    name: str
    image: str | None = None
    container: str | None = None
    env: dict[str, str] = Field(default_factory=dict)
    deployment: str | None = None
    namespace: str | None = None
    strategy: Strategy = Field(default_factory=Rolling)
    analysis: AnalysisSpec | None = None
    ready_timeout: float = Field(default=300.0, gt=0)

    @property
    def deployment_name(self) -> str:
        return self.deployment or self.name


class Task(_Model):
    """A node of the rollout's DAG. ``type`` picks what it does:

    - ``prepare``: apply ``manifests`` (ConfigMaps, Services, ...), each through a plan;
    - ``build`` / ``test``: run a Job (``job`` manifest, or ``image`` + ``command`` + ``env``) to completion;
    - ``deploy``: the app's strategy; ``health_check``: analyse the app's live pods;
    - ``custom``: call ``call`` (``"package.module:function"``, importable in any process that resumes it) with a
      `TaskContext`.
    """

    id: str
    type: TaskType
    app: str | None = None
    block_by: list[str] = Field(default_factory=list)
    gate: bool = False
    manifests: list[dict[str, Any]] = Field(default_factory=list)
    job: dict[str, Any] | None = None
    image: str | None = None
    command: list[str] = Field(default_factory=list)
    env: dict[str, str] = Field(default_factory=dict)
    call: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    timeout: float = Field(default=600.0, gt=0)
    description: str = ""


class Approval(_Model):
    """Who approved the rollout and how far it may approve its own plans on that person's behalf.

    ``approved_by`` None (or ``gate=True``) makes the rollout wait for ``approve(by=)`` before it starts.
    ``auto_approve`` is the highest plan risk the rollout approves "on behalf of <approver> via rollout <id>"; a
    plan above it (or one the plans policy refuses for that person) waits for a human.
    """

    approved_by: str | None = None
    auto_approve: Literal["none", "low", "medium", "high"] = "medium"
    gate: bool = False

    def allows(self, level: str) -> bool:
        if self.auto_approve == "none" or level not in APPROVAL_LEVELS:
            return False
        return APPROVAL_LEVELS.index(level) <= APPROVAL_LEVELS.index(self.auto_approve)


class RolloutSpec(_Model):
    name: str
    namespace: str
    apps: list[App] = Field(default_factory=list)
    tasks: list[Task] = Field(default_factory=list)
    must_in_order: list[str] = Field(default_factory=list)
    analysis: AnalysisSpec = Field(default_factory=AnalysisSpec)
    approval: Approval = Field(default_factory=Approval)
    max_parallel: int = Field(default=4, ge=1, le=32)
    rollback_on_failure: bool = True

    def app(self, name: str | None) -> App | None:
        return next((a for a in self.apps if a.name == name), None)

    def analysis_for(self, app: App | None) -> AnalysisSpec:
        return (app.analysis if app is not None and app.analysis is not None else None) or self.analysis


# -- the state ---------------------------------------------------------------------------------------------------------
class Op(_Model):
    """One write: a plan builder call (``action`` with ``args``) on ``target``. ``key`` is the plan's idempotency
    key, so a resumed rollout never applies the same op twice; ``plan_id`` is saved before the plan is executed."""

    key: str
    action: Literal["apply", "scale", "set_image", "set_env", "set_selector", "delete", "patch"]
    target: str
    args: dict[str, Any] = Field(default_factory=dict)
    description: str
    reversible: bool = True
    status: Literal["pending", "planned", "waiting", "executed", "skipped", "failed"] = "pending"
    plan_id: str | None = None
    risk: str | None = None
    approved_by: str | None = None
    detail: str = ""
    done_seq: int | None = None
    reversed_by: str | None = None
    undo_of: str | None = None
    at: dt.datetime | None = None


class Check(_Model):
    name: str
    status: Literal["pass", "fail", "unknown"]
    detail: str = ""


class PodSample(_Model):
    name: str
    phase: str = ""
    ready: bool = False
    restarts: int = 0
    reason: str | None = None
    node: str | None = None
    cpu_millicores: float | None = None
    memory_mib: float | None = None


class AnalysisResult(_Model):
    """The verdict of one analysis window over the pods ``selector`` matches."""

    phase: Literal["Successful", "Failed", "Inconclusive"]
    reason: str
    target: str
    selector: str
    started: dt.datetime
    finished: dt.datetime
    samples: int = 0
    pods: list[PodSample] = Field(default_factory=list)
    checks: list[Check] = Field(default_factory=list)
    metrics_source: str | None = None

    def __str__(self) -> str:
        return f"{self.phase}: {self.reason}"


class Wait(_Model):
    """What a task (or the rollout) waits for: a ``gate`` approval, a ``plan`` above the auto-approval level,
    a manual ``pause``, or a human verdict on an inconclusive ``analysis``."""

    kind: Literal["gate", "plan", "pause", "analysis"]
    message: str
    since: dt.datetime = Field(default_factory=utcnow)
    plan_id: str | None = None


class StepState(_Model):
    """One step of a task: its ops, then (optionally) waiting for Deployments to be Ready, a Job to finish, a
    custom call, the analysis, and a pause."""

    index: int
    name: str
    ops: list[Op] = Field(default_factory=list)
    wait_ready: list[str] = Field(default_factory=list)
    wait_job: str | None = None
    call: str | None = None
    analysis: dict[str, Any] | None = None  # {"target": ..., "namespace": ..., "selector": ..., "expected": n}
    pause: float | None = 0.0
    pause_until: dt.datetime | None = None
    promote: bool = False  # the canary/rolling promotion (skipped-to by promote(full=True))
    status: Literal["pending", "running", "waiting_confirm", "done", "failed", "skipped", "cancelled"] = "pending"
    analyses: list[AnalysisResult] = Field(default_factory=list)
    accepted_by: str | None = None
    retry_analysis: bool = False
    started: dt.datetime | None = None
    finished: dt.datetime | None = None
    detail: str = ""


class TaskState(_Model):
    id: str
    type: TaskType
    app: str | None = None
    deps: list[str] = Field(default_factory=list)  # blockBy plus the edges mustInOrder adds
    gate: bool = False
    status: TaskStatus = "pending"
    attempt: int = 1
    planned: bool = False
    steps: list[StepState] = Field(default_factory=list)
    current: int = 0
    gate_approved_by: str | None = None
    waiting: Wait | None = None
    started: dt.datetime | None = None
    finished: dt.datetime | None = None
    detail: str = ""


class LogLine(_Model):
    at: dt.datetime = Field(default_factory=utcnow)
    text: str


class RolloutState(_Model):
    """Everything about one rollout; saved to the ledger's ``rollouts`` table after every change."""

    version: int = SCHEMA_VERSION
    id: str
    name: str
    spec: RolloutSpec
    status: RolloutStatus = "pending"
    phase: Literal["forward", "rolling_back"] = "forward"
    reason: str = ""
    tasks: list[TaskState] = Field(default_factory=list)
    rollback_ops: list[Op] = Field(default_factory=list)
    rollback_round: int = 0
    gate_approved_by: str | None = None
    waiting: Wait | None = None
    created_by: str
    context: str | None = None
    server: str | None = None
    created: dt.datetime = Field(default_factory=utcnow)
    updated: dt.datetime = Field(default_factory=utcnow)
    started: dt.datetime | None = None
    finished: dt.datetime | None = None
    seq: int = 0
    command_seq: int = 0
    log: list[LogLine] = Field(default_factory=list)

    def task(self, task_id: str) -> TaskState:
        for t in self.tasks:
            if t.id == task_id:
                return t
        raise RolloutError(f"rollout {self.id} has no task {task_id!r}; its tasks: "
                           f"{', '.join(t.id for t in self.tasks)}")

    @property
    def approver(self) -> str | None:
        """Whose approval the rollout acts on: the gate's approver, else the one recorded at creation."""
        return self.gate_approved_by or self.spec.approval.approved_by

    @property
    def gate_open(self) -> bool:
        a = self.spec.approval
        return self.gate_approved_by is not None or (a.approved_by is not None and not a.gate)

    def to_json(self) -> str:
        return self.model_dump_json(by_alias=True)

    @classmethod
    def from_json(cls, text: str | bytes | dict[str, Any]) -> RolloutState:
        import json

        data = json.loads(text) if isinstance(text, str | bytes) else dict(text)
        version = data.get("version", SCHEMA_VERSION)
        if not isinstance(version, int) or version > SCHEMA_VERSION:
            raise RolloutError(f"rollout {data.get('id', '?')} has schema version {version!r}, but this KubeCopilot "
                               f"reads up to {SCHEMA_VERSION}: upgrade kubecopilot to load it")
        return cls.model_validate(data)
