"""LLM configuration and the one function that talks to the model (through the ``openai`` SDK).

Configuration, first match wins: `configure(...)` in this process; ``KUBECOPILOT_LLM_BASE_URL`` /
``KUBECOPILOT_LLM_API_KEY`` / ``KUBECOPILOT_LLM_MODEL`` (and ``KUBECOPILOT_LLM_TIMEOUT``,
``KUBECOPILOT_LLM_MAX_RETRIES``); then ``OPENAI_BASE_URL`` / ``OPENAI_API_KEY``. An LLM counts as configured
when there is an endpoint (a base URL, or an API key for api.openai.com). A local server (Ollama, vLLM,
llama.cpp) needs no key: the SDK insists on one, so a dummy is sent.

The model comes from the configuration, else from the prompt's manifest entry. The key is never part of a
``repr``, an error text or a log line: `LLMConfig.__repr__` says only whether one is set, and every error
text passes `scrub_credentials`.

`call` separates the two ways a call can fail, because the pipeline treats them differently:
- the endpoint is unusable (refused, timed out, 5xx or 429 after the SDK's retries, 401...) →
  `LLMUnavailableError` at once (retrying ourselves would only stack timeouts);
- the endpoint answered, but not with valid output (bad JSON, wrong schema, refusal, cut off at max
  tokens) → a `CallResult` with ``error`` set, which the pipeline answers with a retry or the fallback.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ValidationError

from kubecopilot.ai._sanitize import scrub_credentials
from kubecopilot.errors import LLMUnavailableError

__all__ = ["CallResult", "LLMConfig", "call", "configure", "current_config", "llm_configured"]

log = logging.getLogger("kubecopilot.ai")

DEFAULT_TIMEOUT = 30.0
DEFAULT_MAX_RETRIES = 1
OPENAI_URL = "https://api.openai.com/v1"
#: Sent when the endpoint needs no key (local servers); the SDK refuses to build a client without one.
NO_KEY = "not-needed"


@dataclass(frozen=True)
class LLMConfig:
    """Where the LLM is and how long to wait for it. ``repr`` never shows the key."""

    base_url: str | None = None
    model: str | None = None
    timeout: float = DEFAULT_TIMEOUT
    max_retries: int = DEFAULT_MAX_RETRIES
    api_key: str | None = field(default=None, repr=False)
    source: str = "unset"

    @property
    def configured(self) -> bool:
        return bool(self.base_url or self.api_key)

    @property
    def endpoint(self) -> str:
        return (self.base_url or OPENAI_URL).rstrip("/")

    def __repr__(self) -> str:
        key = "set" if self.api_key else "not set"
        return (f"LLMConfig(endpoint={self.endpoint if self.configured else None!r}, model={self.model!r}, "
                f"timeout={self.timeout:g}, max_retries={self.max_retries}, api_key={key}, source={self.source!r})")

    __str__ = __repr__


_lock = threading.Lock()
_override: dict[str, Any] = {}
_clients: dict[tuple[Any, ...], Any] = {}


def configure(base_url: str | None = None, api_key: str | None = None, model: str | None = None,
              timeout: float | None = None, max_retries: int | None = None) -> LLMConfig:
    """Configure the LLM for this process (over the environment). ``configure()`` with no argument clears it.

    >>> kubecopilot.ai.configure(base_url="http://127.0.0.1:11434/v1", model="qwen2.5:7b")  # doctest: +SKIP
    """
    values = {"base_url": base_url, "api_key": api_key, "model": model, "timeout": timeout,
              "max_retries": max_retries}
    if timeout is not None and timeout <= 0:
        raise ValueError(f"timeout must be positive seconds, got {timeout!r}")
    if max_retries is not None and max_retries < 0:
        raise ValueError(f"max_retries must be >= 0, got {max_retries!r}")
    with _lock:
        _override.clear()
        _override.update({k: v for k, v in values.items() if v is not None})
    return current_config()


def _env_float(name: str, default: float) -> float:
    try:
        return float(os.environ[name])
    except (KeyError, ValueError):
        return default


def current_config() -> LLMConfig:
    """The configuration in force now (`configure` over the environment)."""
    with _lock:
        over = dict(_override)
    env = os.environ
    if over.get("base_url") or over.get("api_key"):
        source, base_url, api_key = "configure()", over.get("base_url"), over.get("api_key")
    elif env.get("KUBECOPILOT_LLM_BASE_URL") or env.get("KUBECOPILOT_LLM_API_KEY"):
        source = "KUBECOPILOT_LLM_*"
        base_url, api_key = env.get("KUBECOPILOT_LLM_BASE_URL"), env.get("KUBECOPILOT_LLM_API_KEY")
    elif env.get("OPENAI_BASE_URL") or env.get("OPENAI_API_KEY"):
        source, base_url, api_key = "OPENAI_*", env.get("OPENAI_BASE_URL"), env.get("OPENAI_API_KEY")
    else:
        source, base_url, api_key = "unset", None, None
    return LLMConfig(
        base_url=base_url or None,
        api_key=api_key or None,
        model=over.get("model") or env.get("KUBECOPILOT_LLM_MODEL") or None,
        timeout=float(over.get("timeout") or _env_float("KUBECOPILOT_LLM_TIMEOUT", DEFAULT_TIMEOUT)),
        max_retries=int(over["max_retries"] if "max_retries" in over
                        else _env_float("KUBECOPILOT_LLM_MAX_RETRIES", DEFAULT_MAX_RETRIES)),
        source=source,
    )


def llm_configured() -> bool:
    """Whether an LLM endpoint is configured (`configure` or the environment); no network call."""
    return current_config().configured


def _client(cfg: LLMConfig) -> Any:
    import openai

    key = (cfg.endpoint, cfg.api_key, cfg.timeout, cfg.max_retries)
    with _lock:
        client = _clients.get(key)
        if client is None:
            client = openai.OpenAI(base_url=cfg.endpoint, api_key=cfg.api_key or NO_KEY, timeout=cfg.timeout,
                                   max_retries=cfg.max_retries)
            _clients[key] = client
    return client


@dataclass
class CallResult:
    """One HTTP round trip: the validated output or why it is not valid, with usage and latency."""

    model: str
    parsed: BaseModel | None = None
    content: str = ""
    error: str | None = None
    reason: str = ""
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0


def _unavailable(cfg: LLMConfig, model: str, what: str, fix: str) -> LLMUnavailableError:
    text = f"the LLM at {cfg.endpoint} (model {model}) {what}. {fix}"
    return LLMUnavailableError(scrub_credentials(text, cfg.api_key))


def _validation_text(error: ValidationError) -> str:
    lines = []
    for err in error.errors(include_url=False)[:12]:
        loc = ".".join(str(p) for p in err["loc"]) or "(root)"
        lines.append(f"{loc}: {err['msg']}")
    return "; ".join(lines)


def call(cfg: LLMConfig, messages: list[dict[str, str]], output_model: type[BaseModel], *, model: str,
         temperature: float, max_tokens: int) -> CallResult:
    """One structured-output request (``chat.completions.parse``), validated with ``output_model`` here too.

    Raises `LLMUnavailableError` when the endpoint cannot answer; returns a `CallResult` with ``error`` when
    it answered with something unusable.
    """
    import openai

    if not cfg.configured:
        raise LLMUnavailableError(
            "no LLM is configured: call kubecopilot.ai.configure(base_url=..., model=...) or set "
            "KUBECOPILOT_LLM_BASE_URL (and KUBECOPILOT_LLM_API_KEY / KUBECOPILOT_LLM_MODEL); "
            "the rule-based diagnosis works without one")
    client = _client(cfg)
    result = CallResult(model=model)
    t0 = time.monotonic()
    try:
        raw = client.chat.completions.with_raw_response.parse(
            model=model, messages=messages, response_format=output_model, temperature=temperature,
            max_tokens=max_tokens)
    except openai.APITimeoutError:
        raise _unavailable(cfg, model, f"did not answer within {cfg.timeout:g} s "
                           f"({cfg.max_retries + 1} attempt(s))",
                           "Check that the server is up and not overloaded, or configure(timeout=...) longer"
                           ) from None
    except openai.APIConnectionError as e:
        cause = getattr(e, "__cause__", None)
        detail = f": {type(cause).__name__}" if cause else ""
        raise _unavailable(cfg, model, f"cannot be reached{detail}",
                           "Check KUBECOPILOT_LLM_BASE_URL and that the server is running") from None
    except openai.APIStatusError as e:
        status = e.status_code
        server = scrub_credentials(str(getattr(e, "message", "") or ""), cfg.api_key)[:300]
        if status in (401, 403):
            raise _unavailable(cfg, model, f"rejected the credentials (HTTP {status})",
                               "Set a valid KUBECOPILOT_LLM_API_KEY (or configure(api_key=...))") from None
        if status == 429:
            raise _unavailable(cfg, model, f"is rate limiting us (HTTP 429, after {cfg.max_retries} retries)",
                               "Wait and retry, or raise the provider's rate limit") from None
        if status == 404:
            raise _unavailable(cfg, model, "has no such model or no /chat/completions endpoint (HTTP 404)",
                               "Check KUBECOPILOT_LLM_MODEL and that the base URL ends in /v1") from None
        if status >= 500:
            raise _unavailable(cfg, model, f"failed with HTTP {status} after {cfg.max_retries} retries",
                               "The server is having trouble; retry later") from None
        raise _unavailable(cfg, model, f"rejected the request (HTTP {status}: {server})",
                           "The server may not support structured outputs (response_format json_schema) "
                           "for this model") from None
    result.seconds = time.monotonic() - t0
    try:
        body = raw.http_response.json()
    except ValueError:
        body = {}
    usage = body.get("usage") or {} if isinstance(body, dict) else {}
    result.prompt_tokens = int(usage.get("prompt_tokens") or 0)
    result.completion_tokens = int(usage.get("completion_tokens") or 0)
    try:
        choice = (body.get("choices") or [{}])[0]
        result.content = (choice.get("message") or {}).get("content") or ""
    except (AttributeError, IndexError, TypeError):
        result.content = ""
    try:
        completion = raw.parse()
    except ValidationError as e:
        result.error, result.reason = _validation_text(e), "invalid-output"
        return result
    except openai.LengthFinishReasonError:
        result.error = f"the answer was cut off at max_tokens={max_tokens} before the JSON was complete"
        result.reason = "length"
        return result
    except openai.ContentFilterFinishReasonError:
        result.error, result.reason = "the provider's content filter stopped the answer", "content-filter"
        return result
    except (openai.OpenAIError, ValueError, IndexError) as e:
        result.error, result.reason = f"unreadable answer: {type(e).__name__}", "invalid-output"
        return result
    message = completion.choices[0].message if completion.choices else None
    if message is None:
        result.error, result.reason = "the answer had no choices", "invalid-output"
        return result
    if message.refusal:
        result.error, result.reason = f"the model refused: {message.refusal[:200]}", "refusal"
        return result
    # The SDK parsed with the same model; validate the raw text ourselves anyway (never trust the server's
    # claim to have enforced the schema, and never the SDK's parse path alone).
    try:
        result.parsed = output_model.model_validate_json(result.content)
    except ValidationError as e:
        result.error, result.reason = _validation_text(e), "invalid-output"
        return result
    log.debug("LLM %s answered in %.2fs (%d+%d tokens)", model, result.seconds, result.prompt_tokens,
              result.completion_tokens)
    return result
