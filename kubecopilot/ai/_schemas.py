"""The pydantic models a prompt takes (``inputSchemaRef``) and the model must answer (``outputSchemaRef``).

Output models stay inside the strict structured-outputs subset (ECOSYSTEM-NOTES §6): every field required,
no free-form ``dict`` (parameters are a list of ``{key, value}``), no extra properties. The SDK sends them as
``json_schema`` with ``strict: true``; we validate the answer with the same model on our side whatever the
server claims to enforce.

Input models are lenient (extra fields allowed, everything defaulted): they describe what the templates
read, and a new field in a finding must not break explanations.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = [
    "AskAnswer",
    "AskInput",
    "DiagnosisContext",
    "DiagnosisExplanation",
    "EvidenceInput",
    "EvidenceQuote",
    "FindingInput",
    "IntentChoice",
    "IntentRequest",
    "Param",
    "SuggestedAction",
    "intent_model",
    "params_to_dict",
]


# -- inputs --------------------------------------------------------------------------------------------------


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="allow")


class EvidenceQuote(_Lenient):
    kind: str = ""
    source: str = ""
    quote: str = ""


class FindingInput(_Lenient):
    """One rule-engine finding as ``Finding.to_dict()`` gives it."""

    rule: str
    severity: str = ""
    object: str = ""
    cause: str = ""
    evidence: list[EvidenceQuote] = Field(default_factory=list)
    intent: Any = None
    caused_by: Any = None


class EvidenceInput(_Lenient):
    object: dict[str, Any] = Field(default_factory=dict)
    owners: list[Any] = Field(default_factory=list)
    events: list[Any] = Field(default_factory=list)
    logs: dict[str, str] = Field(default_factory=dict)
    node: dict[str, Any] | None = None
    related: dict[str, Any] = Field(default_factory=dict)


class DiagnosisContext(_Lenient):
    """What ``diagnose-explain`` reads: the target, the rule findings and the gathered evidence."""

    target: str
    findings: list[FindingInput] = Field(default_factory=list)
    evidence: EvidenceInput = Field(default_factory=EvidenceInput)


class AskInput(_Lenient):
    """What ``ask`` reads: the question and the rule findings of the namespace (or cluster)."""

    question: str
    namespace: str | None = None
    findings: list[FindingInput] = Field(default_factory=list)


class IntentRequest(_Lenient):
    """What ``plan-intent`` reads: the request and the allowed ``"action kind"`` pairs."""

    request: str
    allowed: list[str]
    default_namespace: str | None = None


# -- outputs -------------------------------------------------------------------------------------------------


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Param(_Strict):
    """One intent parameter. Dotted keys nest: ``requests.cpu``, ``env.LOG_LEVEL``, ``selector.app``."""

    key: str
    value: str | None = Field(description="the value as text; null removes (set_env)")


class SuggestedAction(_Strict):
    """An intent-shaped suggestion: what to change, never how (no patches)."""

    action: str = Field(description="one of the allowed actions, e.g. scale, restart, set_image, set_env, rollback")
    kind: str = Field(description="the target's kind, lower case: deployment, statefulset, node, ...")
    name: str
    namespace: str | None
    parameters: list[Param]
    reason: str = Field(description="one line: why this helps, citing the evidence")


class DiagnosisExplanation(_Strict):
    """The model's explanation of a diagnosis."""

    summary: str = Field(description="one or two sentences an on-call engineer can act on")
    root_cause: str
    confidence: float = Field(ge=0, le=1)
    evidence_refs: list[str] = Field(description="the quotes / field paths the explanation rests on")
    suggested_actions: list[SuggestedAction]
    caveats: list[str]


class AskAnswer(_Strict):
    """The model's answer to a free-form question over a namespace's findings."""

    answer: str
    confidence: float = Field(ge=0, le=1)
    evidence_refs: list[str]
    suggested_actions: list[SuggestedAction]
    caveats: list[str]


class IntentChoice(_Strict):
    """A natural-language request mapped onto one allowed action (the plan builders compute the change)."""

    action: str
    kind: str
    name: str
    namespace: str | None
    parameters: list[Param]
    reason: str
    confidence: float = Field(ge=0, le=1)
    unsupported: str | None = Field(description="why the request maps to no allowed action; null when it does")


def _enum(values: tuple[str, ...]) -> Any:
    def extra(schema: dict[str, Any]) -> None:
        schema.pop("const", None)
        schema["enum"] = list(values)
    return extra


def intent_model(pairs: Iterable[tuple[str, str]]) -> type[IntentChoice]:
    """`IntentChoice` narrowed to ``pairs``: ``action`` and ``kind`` become enums in the JSON schema, and a
    validator rejects an (action, kind) combination outside the whitelist (so the retry names the allowed ones).
    A ``"*"`` kind (every kind allowed for that action) leaves ``kind`` free text."""
    allowed = frozenset((a, k.lower()) for a, k in pairs)
    if not allowed:
        raise ValueError("the whitelist is empty: pass at least one (action, kind) pair")
    actions = tuple(sorted({a for a, _ in allowed}))
    kinds = tuple(sorted({k for _, k in allowed}))
    listed = ", ".join(f"{a} {k}" for a, k in sorted(allowed))

    def check(model: IntentChoice) -> IntentChoice:
        if model.unsupported is None and (model.action, model.kind) not in allowed \
                and (model.action, "*") not in allowed:
            raise ValueError(f"({model.action}, {model.kind}) is not allowed; allowed: {listed}")
        return model

    if "*" in kinds:
        class AllowedAnyKind(IntentChoice):
            model_config = ConfigDict(title="IntentChoice")
            action: Literal[actions] = Field(json_schema_extra=_enum(actions))  # type: ignore[valid-type]
            _pair = model_validator(mode="after")(check)

        model: type[IntentChoice] = AllowedAnyKind
    else:
        class AllowedIntent(IntentChoice):
            model_config = ConfigDict(title="IntentChoice")
            # an explicit enum even for one value (pydantic would write "const", which not every server accepts)
            action: Literal[actions] = Field(json_schema_extra=_enum(actions))  # type: ignore[valid-type]
            kind: Literal[kinds] = Field(json_schema_extra=_enum(kinds))  # type: ignore[valid-type]
            _pair = model_validator(mode="after")(check)

        model = AllowedIntent
    model.__name__ = model.__qualname__ = "IntentChoice"
    return model


# -- parameters ----------------------------------------------------------------------------------------------

_INT_PARAMS = frozenset({"replicas", "revision"})


def _value(key: str, value: str | None) -> Any:
    if value is None:
        return None
    text = value.strip()
    if key in _INT_PARAMS:
        if text.lower() in ("", "null", "none", "previous"):
            return None
        try:
            return int(text)
        except ValueError:
            raise ValueError(f"parameter {key!r} must be an integer, got {value!r}") from None
    if text[:1] in "[{":
        try:
            return json.loads(text)
        except ValueError:
            return value
    return value


def params_to_dict(params: Iterable[Param]) -> dict[str, Any]:
    """``[{key: "requests.cpu", value: "250m"}, {key: "replicas", value: "3"}]`` →
    ``{"requests": {"cpu": "250m"}, "replicas": 3}`` (the shape `PlanIntent.parameters` documents)."""
    out: dict[str, Any] = {}
    for p in params:
        parts = [part for part in p.key.split(".", 1) if part] if p.key.split(".", 1)[0] in (
            "env", "requests", "limits", "selector") else [p.key]
        target = out
        for part in parts[:-1]:
            target = target.setdefault(part, {})
            if not isinstance(target, dict):
                raise ValueError(f"parameter {p.key!r} conflicts with an earlier scalar {part!r}")
        target[parts[-1]] = _value(parts[-1], p.value)
    return out
