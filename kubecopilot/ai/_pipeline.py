"""The AI pipeline: context → prompt → LLM → schema validation → (retry → fallback) → restored result.

`run_prompt` is the one path every LLM request takes (explanations, ``ask``, intents):

1. the prompt version is chosen by the registry's rollout for (prompt id, subject) and must be approved and
   allowed in the environment (``envAllowlist``), else `LLMUnavailableError` and the caller stays rule-based;
2. the input is validated with the prompt's input model, then every string in it goes through a fresh
   `Redactor`; the sha256 of that sanitized input is the chain's ``input_hash``;
3. the model answers through ``chat.completions.parse`` with the output model as the JSON schema, and the
   answer is validated with pydantic here;
4. invalid output gets exactly one retry with the validation error appended to the conversation, then the
   prompt's conservative fallback prompt once; after that `LLMOutputError` (``.chain`` says what happened);
5. placeholders in the answer are restored for local display.

Every attempt is written to the metrics store (latency, tokens, failures). The ledger is a side channel: if
it cannot be written, the answer still comes back.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError

from kubecopilot.ai._actions import LLM_ACTIONS, annotate_actions
from kubecopilot.ai._client import CallResult, LLMConfig, call, current_config
from kubecopilot.ai._registry import PromptRegistry, PromptVersion, load_registry
from kubecopilot.ai._results import Explanation, ExplanationChain
from kubecopilot.ai._sanitize import Redactor
from kubecopilot.ai._schemas import DiagnosisExplanation
from kubecopilot.errors import LLMError, LLMOutputError, LLMUnavailableError, PromptRegistryError

__all__ = ["PromptRun", "explain", "input_hash", "run_prompt"]

log = logging.getLogger("kubecopilot.ai")

RETRY_INSTRUCTION = ("Your previous answer did not validate against the required JSON schema: {error}. "
                     "Answer again with only a JSON object that matches the schema exactly.")


@dataclass
class PromptRun:
    """A successful run: the restored result, the raw (still redacted) result, the chain and the prompt used."""

    result: BaseModel
    redacted: BaseModel
    chain: ExplanationChain
    prompt: PromptVersion
    redactor: Redactor


def input_hash(sanitized: Any) -> str:
    """sha256 over the canonical JSON (sorted keys, compact) of the sanitized input."""
    text = json.dumps(sanitized, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _environment(environment: str | None) -> str:
    return environment or os.environ.get("KUBECOPILOT_ENVIRONMENT") or "default"


def _safely(what: str, fn: Any, *args: Any, **kwargs: Any) -> None:
    """Metrics never break an answer: a ledger failure is logged and forgotten."""
    try:
        fn(*args, **kwargs)
    except Exception as e:  # the ledger may be locked, corrupt, read-only...
        log.warning("could not record %s in the audit ledger: %s", what, e)


def _record(prompt: PromptVersion, r: CallResult) -> None:
    from kubecopilot.audit import record_llm_failure, record_llm_latency, record_llm_tokens

    _safely("LLM latency", record_llm_latency, r.seconds, model=r.model, prompt=prompt.ref)
    _safely("LLM tokens", record_llm_tokens, r.prompt_tokens, r.completion_tokens, model=r.model)
    if r.error:
        _safely("LLM failure", record_llm_failure, f"{r.reason or 'invalid-output'} ({prompt.ref})", model=r.model)


def _record_unavailable(model: str, prompt: PromptVersion, error: Exception) -> None:
    from kubecopilot.audit import record_llm_failure

    _safely("LLM failure", record_llm_failure, f"unavailable ({prompt.ref}): {str(error)[:200]}", model=model)


class _Run:
    """The mutable state of one `run_prompt` call (attempts so far, the chain being built)."""

    def __init__(self, cfg: LLMConfig, redactor: Redactor, chain: ExplanationChain) -> None:
        self.cfg = cfg
        self.redactor = redactor
        self.chain = chain

    def attempt(self, prompt: PromptVersion, messages: list[dict[str, str]], output_model: type[BaseModel],
                label: str) -> CallResult:
        model = self.cfg.model or prompt.model
        if not model:
            raise LLMUnavailableError(
                f"no model to ask: set KUBECOPILOT_LLM_MODEL or configure(model=...) (prompt {prompt.ref} names "
                "none in prompts/manifest.json)")
        chain = self.chain
        chain.attempts += 1
        chain.model = model
        try:
            r = call(self.cfg, messages, output_model, model=model, temperature=prompt.temperature,
                     max_tokens=prompt.max_tokens)
        except LLMUnavailableError as e:
            chain.steps.append(f"{prompt.ref} {label}: LLM unavailable")
            _record_unavailable(model, prompt, e)
            raise
        _record(prompt, r)
        chain.latency_ms += r.seconds * 1000
        chain.prompt_tokens += r.prompt_tokens
        chain.completion_tokens += r.completion_tokens
        chain.steps.append(f"{prompt.ref} {label}: " + ("valid" if r.error is None else
                                                         f"{r.reason or 'invalid'}: {r.error[:300]}"))
        return r


def _messages(prompt: PromptVersion, sanitized: dict[str, Any], redactor: Redactor) -> list[dict[str, str]]:
    messages = prompt.render(sanitized, allowed_actions=", ".join(LLM_ACTIONS))
    # A safety net: the templates are ours, but nothing leaves unredacted even if one quoted a value.
    return [{"role": m["role"], "content": redactor.redact_text(m["content"])} for m in messages]


def run_prompt(prompt_id: str, payload: Mapping[str, Any], *, subject: str, environment: str | None = None,
               secret_values: Iterable[str | bytes] = (), output_model: type[BaseModel] | None = None,
               registry: PromptRegistry | None = None) -> PromptRun:
    """Run one prompt through the whole pipeline (see the module docstring).

    ``output_model`` narrows the prompt's output model (it must subclass it), e.g. the intent enum.
    Raises `LLMUnavailableError` (not configured, not allowed here, endpoint down) or `LLMOutputError`
    (invalid after retry and fallback); both carry ``.chain`` when an attempt was made.
    """
    cfg = current_config()
    if not cfg.configured:
        raise LLMUnavailableError(
            "no LLM is configured: call kubecopilot.ai.configure(base_url=..., model=...) or set "
            "KUBECOPILOT_LLM_BASE_URL (and KUBECOPILOT_LLM_API_KEY / KUBECOPILOT_LLM_MODEL)")
    env = _environment(environment)
    try:
        registry = registry or load_registry()
        prompt = registry.select(prompt_id, subject=subject, environment=env)
    except PromptRegistryError as e:
        raise LLMUnavailableError(f"the prompt registry cannot serve {prompt_id!r}: {e}") from e
    _check_servable(prompt, env)
    if output_model is not None and not issubclass(output_model, prompt.output_model):
        raise TypeError(f"output_model {output_model.__name__} must subclass {prompt.output_schema_ref}")
    try:
        data = prompt.input_model.model_validate(dict(payload)).model_dump(mode="json")
    except ValidationError as e:
        raise ValueError(f"the input does not match {prompt.input_schema_ref} (prompt {prompt.ref}): {e}") from None

    redactor = Redactor(secret_values)
    sanitized = redactor.redact(data)
    chain = ExplanationChain(prompt_id=prompt.id, prompt_version=prompt.version, input_hash=input_hash(sanitized),
                             status="llm")
    run = _Run(cfg, redactor, chain)
    out_model = output_model or prompt.output_model
    messages = _messages(prompt, sanitized, redactor)

    def finish(r: CallResult, used: PromptVersion, status: str) -> PromptRun:
        chain.redactions = redactor.counts
        chain.status = status  # type: ignore[assignment]
        chain.prompt_id, chain.prompt_version = used.id, used.version
        assert r.parsed is not None
        restored = _restore(r.parsed, redactor, out_model, chain)
        chain.confidence = getattr(restored, "confidence", None)
        refs = getattr(restored, "evidence_refs", None)
        chain.evidence_refs = list(refs) if isinstance(refs, list) else []
        return PromptRun(restored, r.parsed, chain, used, redactor)

    try:
        first = run.attempt(prompt, messages, out_model, "attempt 1")
        if first.error is None:
            return finish(first, prompt, "llm")
        retry_messages = [*messages,
                          {"role": "assistant", "content": redactor.redact_text(first.content or "(no content)")},
                          {"role": "user", "content": RETRY_INSTRUCTION.format(error=first.error)}]
        second = run.attempt(prompt, retry_messages, out_model, "retry with the validation error")
        if second.error is None:
            return finish(second, prompt, "llm-retry")
        fallback = _fallback(registry, prompt, subject, env, chain)
        if fallback is not None:
            fb_model = output_model or fallback.output_model
            third = run.attempt(fallback, _messages(fallback, sanitized, redactor), fb_model, "fallback prompt")
            if third.error is None:
                return finish(third, fallback, "llm-fallback")
        last = chain.steps[-1] if chain.steps else ""
    except LLMError as e:
        chain.redactions = redactor.counts
        chain.status, chain.note = "rules-only", f"LLM unavailable: {e}"
        e.chain = chain  # type: ignore[attr-defined]
        raise
    chain.redactions = redactor.counts
    chain.status = "rules-only"
    chain.note = f"LLM output invalid after retry and fallback ({chain.attempts} attempts); rule-based result"
    err = LLMOutputError(f"the model's answers to {prompt.ref} did not validate after one retry and the fallback "
                         f"prompt ({chain.attempts} attempts; last: {last}); use the rule-based result")
    err.chain = chain  # type: ignore[attr-defined]
    raise err


def _check_servable(prompt: PromptVersion, env: str) -> None:
    if not prompt.allowed_in(env):
        raise LLMUnavailableError(
            f"prompt {prompt.ref} is not allowed in environment {env!r} (envAllowlist: "
            f"{', '.join(prompt.env_allowlist)}); the rule-based result stands. Widen envAllowlist in "
            "prompts/manifest.json if this environment may use it")
    if not prompt.approved:
        raise LLMUnavailableError(f"prompt {prompt.ref} is not approved in prompts/manifest.json; "
                                  "the rule-based result stands")


def _fallback(registry: PromptRegistry, prompt: PromptVersion, subject: str, env: str,
              chain: ExplanationChain) -> PromptVersion | None:
    if not prompt.fallback:
        return None
    try:
        fallback = registry.select(prompt.fallback, subject=subject, environment=env)
        _check_servable(fallback, env)
    except (LLMUnavailableError, PromptRegistryError) as e:
        chain.steps.append(f"fallback skipped: {e}")
        return None
    return fallback


def _restore(parsed: BaseModel, redactor: Redactor, model: type[BaseModel], chain: ExplanationChain) -> BaseModel:
    try:
        return model.model_validate(redactor.restore(parsed.model_dump(mode="json")))
    except ValidationError as e:  # a restored value broke a constraint: show the redacted answer instead
        chain.note = f"placeholders kept: restoring them broke validation ({e.error_count()} error(s))"
        return parsed


def explain(context: Mapping[str, Any], *, secret_values: Iterable[str | bytes] = (), subject: str | None = None,
            environment: str | None = None) -> Explanation:
    """Ask the LLM to explain a diagnosis ``context`` (target, findings, evidence: see `DiagnosisContext`).

    ``secret_values`` are the values of Secrets the target references: they (and their base64 forms) are
    redacted wherever they appear. ``subject`` keys the rollout (default: the target); ``environment``
    is matched against ``envAllowlist`` (default ``$KUBECOPILOT_ENVIRONMENT`` or ``"default"``).

    Raises `LLMUnavailableError` or `LLMOutputError`; the caller keeps its rule-based result then.
    """
    if not isinstance(context, Mapping):
        raise TypeError(f"context must be a mapping (target, findings, evidence), got {type(context).__name__}")
    target = str(context.get("target") or "")
    run = run_prompt("diagnose-explain", context, subject=subject or target or "unknown", environment=environment,
                     secret_values=secret_values)
    result = run.result
    assert isinstance(result, DiagnosisExplanation)
    namespace = target.split("/")[1] if target.count("/") == 2 else None
    intents, notes = annotate_actions(result.suggested_actions, source=f"llm:{run.prompt.ref}",
                                      default_namespace=namespace)
    if notes:
        run.chain.note = "; ".join(filter(None, [run.chain.note, f"{len(notes)} suggestion(s) dropped"]))
    return Explanation(target=target, result=result, chain=run.chain, intents=intents, notes=notes,
                       risk_tier=run.prompt.risk_tier)
