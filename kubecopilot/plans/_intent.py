"""`PlanIntent`: *what* someone wants changed, never *how* — the hand-off between diagnosis, natural language
and the deterministic plan builders.

Findings (rule engine), the LLM and the offline phrase parser all produce intents. Only the plan builders
(`ws.plan.from_intent`) turn an intent into an `OperationPlan`, from a live read, so neither a rule nor a model
ever writes a patch. ``action`` is bounded by `ACTIONS`; the configurable (action, kind) whitelist of the plans
package narrows it further.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["ACTIONS", "IntentAction", "PlanIntent"]

IntentAction = Literal[
    "scale",          # parameters: replicas:int
    "restart",        # rolling restart of a workload (annotation bump)
    "set_image",      # parameters: container:str, image:str
    "set_env",        # parameters: container:str, env:{name:value|None}  (None removes)
    "set_resources",  # parameters: container:str, requests:{cpu,memory}, limits:{cpu,memory}
    "set_selector",   # Service: parameters: selector:{k:v}
    "patch",          # parameters: patch:[RFC 6902 ops]  (humans only; never produced by an LLM)
    "apply",          # parameters: manifest:dict
    "delete",
    "rollback",       # Deployment to a revision: parameters: revision:int|None (None = previous)
    "cordon",
    "uncordon",
    "drain",
    "suspend",        # CronJob
    "resume",         # CronJob
]
ACTIONS: tuple[str, ...] = IntentAction.__args__  # type: ignore[attr-defined]


class PlanIntent(BaseModel):
    """An action on one object with its parameters, where it came from and why."""

    model_config = ConfigDict(extra="forbid")

    action: IntentAction
    kind: str = Field(description="kind as discovery names it: 'deployment', 'deployments.apps', 'node', ...")
    name: str
    namespace: str | None = None
    parameters: dict[str, Any] = Field(default_factory=dict)
    reason: str = Field(default="", description="one line: why (the finding's cause, or the user's words)")
    source: str = Field(default="user", description="'rule:<rule id>', 'llm:<prompt id@version>', 'parser', 'user'")

    @property
    def target(self) -> str:
        """``deployment/payments/billing-api`` (or ``node/worker-1``)."""
        return "/".join([self.kind.lower()] + ([self.namespace] if self.namespace else []) + [self.name])

    def summary(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self.parameters.items())
        return f"{self.action} {self.target}" + (f" ({params})" if params else "")

    def __str__(self) -> str:
        return self.summary()
