"""`Finding` and `Evidence`: what an analyzer concludes about one object, and the quotes it rests on.

A finding names a rule id (``pod.crashloop``), a severity, the object (``deployment/payments/billing-api``), a
one-line cause, the evidence (a quoted event, log line or field path) and, where the fix is mechanical, a
`PlanIntent` for the plan builders. ``caused_by`` is set by the ranking step (`_rank`) when the finding follows from
another one: it holds the *root* finding's `key`.

The ranking step also needs bookkeeping that is not part of the public record (which objects a finding may follow
from, how many pods were folded into it). Those live in plain attributes set in ``__post_init__`` (``_depends``,
``_pods``) so ``dataclasses.fields(Finding)`` stays exactly the public contract.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from kubecopilot.plans import PlanIntent

__all__ = ["SEVERITIES", "Evidence", "EvidenceKind", "Finding", "Severity", "severity_rank"]

Severity = Literal["critical", "error", "warning", "info"]
EvidenceKind = Literal["event", "log", "field", "object"]
SEVERITIES: tuple[str, ...] = ("critical", "error", "warning", "info")

_MAX_QUOTE = 400


def severity_rank(severity: str) -> int:
    """0 for critical ... 3 for info (unknown severities sort last)."""
    return SEVERITIES.index(severity) if severity in SEVERITIES else len(SEVERITIES)


@dataclass(frozen=True)
class Evidence:
    """One thing a finding rests on: an event, a log line, a field of an object, or an object (missing/present)."""

    kind: EvidenceKind
    source: str   # "pod/ns/name", "pod/ns/name api (previous)", "deployment/ns/name .status.conditions[Progressing]"
    quote: str

    def __post_init__(self) -> None:
        if len(self.quote) > _MAX_QUOTE:
            object.__setattr__(self, "quote", self.quote[: _MAX_QUOTE - 1] + "…")

    def to_dict(self) -> dict[str, str]:
        return {"kind": self.kind, "source": self.source, "quote": self.quote}

    def __str__(self) -> str:
        return f"{self.kind} {self.source}: {self.quote}"


@dataclass
class Finding:
    """One conclusion of one analyzer about one object."""

    rule: str
    severity: Severity
    object: str
    cause: str
    evidence: list[Evidence] = field(default_factory=list)
    intent: PlanIntent | None = None
    caused_by: str | None = None

    def __post_init__(self) -> None:
        self._depends: tuple[str, ...] = ()   # object refs this finding may follow from (see _rank)
        self._pods: set[str] = set()          # pods folded into it (triage groups pods under their workload)
        self._parent: str | None = None       # the key of the finding it directly follows from (set by _rank)

    @property
    def key(self) -> str:
        """``pod.crashloop:deployment/payments/billing-api`` — unique within one diagnosis or triage."""
        return f"{self.rule}:{self.object}"

    def follows(self, *refs: str) -> Finding:
        """Declare objects this finding may follow from (a Service from the workloads it selects, ...)."""
        self._depends = tuple(dict.fromkeys((*self._depends, *(r for r in refs if r))))
        return self

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (audit ledger, LLM context): never contains Secret values (evidence quotes keys only)."""
        return {
            "key": self.key,
            "rule": self.rule,
            "severity": self.severity,
            "object": self.object,
            "cause": self.cause,
            "evidence": [e.to_dict() for e in self.evidence],
            "intent": self.intent.model_dump(mode="json") if self.intent is not None else None,
            "caused_by": self.caused_by,
        }

    def __str__(self) -> str:
        return f"[{self.severity.upper()}] {self.rule} {self.object}: {self.cause}"
