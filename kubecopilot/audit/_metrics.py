"""Thin helpers over ``Ledger.record_metric``: one measurement idea each, with agreed names and units.

Every helper takes ``ledger=`` (default: the process's default ledger) so library code never has to
know where the file is.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kubecopilot.audit._ledger import Ledger

LLM_LATENCY = "llm.latency"
LLM_TOKENS_PROMPT = "llm.tokens.prompt"
LLM_TOKENS_COMPLETION = "llm.tokens.completion"
LLM_FAILURE = "llm.failure"
PLAN_OUTCOME = "plan.outcome"
API_LATENCY = "api.latency"
RUNBOOK_DURATION = "runbook.duration"


def _ledger(ledger: Ledger | None) -> Ledger:
    if ledger is not None:
        return ledger
    from kubecopilot.audit._ledger import open_ledger

    return open_ledger()


def record_metric(
    name: str, value: float | None, unit: str = "", *, ledger: Ledger | None = None, **labels: Any
) -> None:
    """Store one measurement in the default (or given) ledger."""
    _ledger(ledger).record_metric(name, value, unit, **labels)


def record_llm_latency(seconds: float, *, model: str, prompt: str | None = None, ledger: Ledger | None = None) -> None:
    """How long one LLM call took (one row per call: ``llm_usage()`` counts calls from it)."""
    _ledger(ledger).record_metric(LLM_LATENCY, seconds, "s", model=model, prompt=prompt)


def record_llm_tokens(prompt_tokens: int, completion_tokens: int, *, model: str, ledger: Ledger | None = None) -> None:
    """Tokens one LLM call used, prompt and completion, in one write."""
    labels = {"model": model}
    _ledger(ledger).record_metrics(
        [
            (LLM_TOKENS_PROMPT, prompt_tokens, "tokens", labels),
            (LLM_TOKENS_COMPLETION, completion_tokens, "tokens", labels),
        ]
    )


def record_llm_failure(reason: str, *, model: str, ledger: Ledger | None = None) -> None:
    """An LLM call that failed or returned output that did not validate (``reason`` says which)."""
    _ledger(ledger).record_metric(LLM_FAILURE, 1, "count", model=model, reason=reason)


def record_plan_outcome(
    plan_id: str, outcome: str, *, risk: str | None = None, seconds: float | None = None, ledger: Ledger | None = None
) -> None:
    """How a plan ended (``executed``, ``failed``, ``rejected``, ``drifted``...), with its duration if known."""
    _ledger(ledger).record_metric(PLAN_OUTCOME, seconds, "s", plan_id=plan_id, outcome=outcome, risk=risk)


def record_api_latency(
    seconds: float, *, verb: str, resource: str, status: int | None = None, ledger: Ledger | None = None
) -> None:
    """One Kubernetes API request's latency."""
    _ledger(ledger).record_metric(API_LATENCY, seconds, "s", verb=verb, resource=resource, status=status)


def record_runbook_duration(seconds: float, *, runbook: str, status: str, ledger: Ledger | None = None) -> None:
    """How long a runbook run took and how it ended."""
    _ledger(ledger).record_metric(RUNBOOK_DURATION, seconds, "s", runbook=runbook, status=status)
