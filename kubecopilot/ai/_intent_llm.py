"""Natural language → `PlanIntent` through the ``plan-intent`` prompt: choose, never write.

The model sees the request and the allowed (action, kind) pairs, and the JSON schema it must answer with has
``action`` and ``kind`` as enums of exactly those, so a compliant server cannot even express a patch. The
answer is validated here anyway (the pair must be on the whitelist; ``patch``/``apply`` are removed from any
whitelist passed in). The plan builders then compute the change from a live read.
"""

from __future__ import annotations

from collections.abc import Iterable

from kubecopilot.ai._actions import CLUSTER_SCOPED, HUMAN_ONLY, allowed_pair, normalize_kind, normalize_whitelist
from kubecopilot.ai._client import llm_configured
from kubecopilot.ai._pipeline import run_prompt
from kubecopilot.ai._schemas import IntentChoice, intent_model, params_to_dict
from kubecopilot.errors import LLMOutputError, LLMUnavailableError
from kubecopilot.plans._intent import PlanIntent

__all__ = ["intent_from_text"]


def intent_from_text(text: str, *, whitelist: Iterable[tuple[str, str]] | None = None,
                     namespace: str | None = None, environment: str | None = None,
                     secret_values: Iterable[str] = ()) -> PlanIntent:
    """``"scale billing-api in payments to 5"`` → ``PlanIntent(action="scale", kind="deployment", ...)``.

    ``whitelist`` is the (action, kind) pairs the caller may plan (default `DEFAULT_WHITELIST`); ``namespace``
    the default namespace for a request that names none. Raises `LLMUnavailableError` without an LLM (the
    plans package then uses its offline parser) and `LLMOutputError` when the model cannot map the request.
    """
    if not isinstance(text, str) or not text.strip():
        raise ValueError("intent_from_text needs a request, e.g. 'scale billing-api in payments to 5'")
    if not llm_configured():
        raise LLMUnavailableError("no LLM is configured to read free-form requests; use the built-in parser or "
                                  "kubecopilot.ai.configure(base_url=..., model=...)")
    pairs = normalize_whitelist(whitelist)
    if not pairs:
        raise ValueError("the whitelist allows no action a model may choose (patch and apply are for humans only)")
    payload = {"request": text, "allowed": [f"{a} {k}" for a, k in pairs], "default_namespace": namespace}
    run = run_prompt("plan-intent", payload, subject=environment or "plan-intent", environment=environment,
                     secret_values=secret_values, output_model=intent_model(pairs))
    choice = run.result
    assert isinstance(choice, IntentChoice)
    redacted = run.redacted
    assert isinstance(redacted, IntentChoice)
    if choice.unsupported is not None:
        # quote the redacted reason: the request may carry a secret value, an error text must not
        raise LLMOutputError(f"the model could not map the request onto an allowed action: "
                             f"{redacted.unsupported[:300] if redacted.unsupported else ''}")
    if choice.action in HUMAN_ONLY or not allowed_pair(choice.action, choice.kind, pairs):   # belt and braces
        raise LLMOutputError(f"the model chose ({choice.action}, {choice.kind}), which is not allowed")
    try:
        parameters = params_to_dict(choice.parameters)
    except ValueError as e:
        raise LLMOutputError(f"the model's parameters are unusable: {e}") from None
    kind = normalize_kind(choice.kind)
    ns = None if kind in CLUSTER_SCOPED else (choice.namespace or namespace)
    return PlanIntent(action=choice.action, kind=kind, name=choice.name, namespace=ns,
                      parameters=parameters, reason=choice.reason or text, source=f"llm:{run.prompt.ref}")
