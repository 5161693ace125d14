"""What the AI pipeline hands back: `ExplanationChain` (how an answer came to be), `Explanation`, `Answer`.

The chain is the audit trail of one LLM-assisted answer: which prompt version, which model, a hash of the
exact (sanitized) input, how much was redacted, how many attempts, tokens and latency, and whether the
answer came from the model, its retry, the fallback prompt, or the rules alone. It is a pydantic model so
the diagnosis and ledger code can store ``chain.model_dump()`` as it is.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, Field

from kubecopilot.ai import _render
from kubecopilot.ai._schemas import AskAnswer, DiagnosisExplanation
from kubecopilot.plans._intent import PlanIntent

__all__ = ["Answer", "ChainStatus", "Explanation", "ExplanationChain"]

ChainStatus = Literal["llm", "llm-retry", "llm-fallback", "rules-only"]


class ExplanationChain(BaseModel):
    """Provenance of one answer: prompt id@version, model, input hash, redaction counts, confidence, cost."""

    prompt_id: str | None = None
    prompt_version: str | None = None
    model: str | None = None
    input_hash: str | None = Field(None, description="sha256 of the sanitized input, as sent")
    redactions: dict[str, int] = Field(default_factory=dict)
    confidence: float | None = None
    latency_ms: float = 0.0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    attempts: int = 0
    status: ChainStatus = "rules-only"
    note: str = ""
    evidence_refs: list[str] = Field(default_factory=list)
    steps: list[str] = Field(default_factory=list, description="one line per LLM attempt, in order")

    @classmethod
    def rules_only(cls, note: str = "LLM unavailable") -> ExplanationChain:
        """The chain of a result that used no LLM (the diagnosis engine marks its results with it)."""
        return cls(status="rules-only", note=note)

    @property
    def prompt_ref(self) -> str | None:
        return f"{self.prompt_id}@{self.prompt_version}" if self.prompt_id else None

    def __repr__(self) -> str:
        return (f"ExplanationChain(status={self.status!r}, prompt={self.prompt_ref!r}, model={self.model!r}, "
                f"attempts={self.attempts}, redactions={sum(self.redactions.values())})")

    def __str__(self) -> str:
        return _render.chain_text(self)

    def _repr_html_(self) -> str:
        return _render.chain_html(self)


@dataclass
class Explanation:
    """An LLM explanation of a diagnosis, placeholders restored for local display.

    ``result`` is the validated `DiagnosisExplanation`; ``intents`` the suggested actions that passed the
    whitelist (each still has to become an approved plan); ``notes`` what was dropped and why.
    """

    target: str
    result: DiagnosisExplanation
    chain: ExplanationChain
    intents: list[PlanIntent] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    risk_tier: str = "medium"

    @property
    def status(self) -> str:
        return self.chain.status

    def to_dict(self) -> dict[str, Any]:
        """Plain data for storage (``diagnoses`` records)."""
        return {"target": self.target, "result": self.result.model_dump(mode="json"),
                "chain": self.chain.model_dump(mode="json"), "risk_tier": self.risk_tier,
                "intents": [i.model_dump(mode="json") for i in self.intents], "notes": list(self.notes)}

    def __repr__(self) -> str:
        return (f"Explanation({self.target!r}, status={self.chain.status!r}, prompt={self.chain.prompt_ref!r}, "
                f"confidence={self.result.confidence:.2f}, intents={len(self.intents)})")

    def __str__(self) -> str:
        return _render.explanation_text(self)

    def _repr_html_(self) -> str:
        return _render.explanation_html(self)


@dataclass
class Answer:
    """The answer to ``ws.ask(question)``: from the LLM over the rule findings, or the findings alone."""

    question: str
    namespace: str | None
    text: str
    chain: ExplanationChain
    findings: list[dict[str, Any]] = field(default_factory=list)
    result: AskAnswer | None = None
    intents: list[PlanIntent] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def status(self) -> str:
        return self.chain.status

    def to_dict(self) -> dict[str, Any]:
        return {"question": self.question, "namespace": self.namespace, "text": self.text,
                "chain": self.chain.model_dump(mode="json"), "findings": self.findings,
                "result": self.result.model_dump(mode="json") if self.result else None,
                "intents": [i.model_dump(mode="json") for i in self.intents], "notes": list(self.notes)}

    def __repr__(self) -> str:
        return (f"Answer(status={self.chain.status!r}, namespace={self.namespace!r}, findings={len(self.findings)}, "
                f"intents={len(self.intents)})")

    def __str__(self) -> str:
        return _render.answer_text(self)

    def _repr_html_(self) -> str:
        return _render.answer_html(self)
