"""The AI layer: sanitized, schema-validated, audited LLM calls over any OpenAI-compatible endpoint.

Everything works without an LLM (the rule engine answers); with one configured,

>>> import kubecopilot.ai as ai                                                    # doctest: +SKIP
>>> ai.configure(base_url="http://127.0.0.1:11434/v1", model="qwen2.5:7b")
>>> x = ai.explain(context, secret_values=["hunter2"])   # context from the diagnosis engine
>>> x.result.root_cause, x.chain.prompt_ref, x.chain.redactions, x.intents

Every request goes: context → prompt (``prompts/manifest.json``, rollout + envAllowlist) → `Redactor`
(nothing unredacted leaves the process) → ``chat.completions.parse`` with the pydantic output model →
validation here → one retry with the error → the fallback prompt → `LLMOutputError`. Suggested actions only
become `PlanIntent`s if they are on the whitelist; a model never writes a patch.
"""

from kubecopilot.ai._ask import ask
from kubecopilot.ai._client import LLMConfig, configure, current_config, llm_configured
from kubecopilot.ai._intent_llm import intent_from_text
from kubecopilot.ai._pipeline import explain
from kubecopilot.ai._registry import PromptRegistry, PromptVersion, check_manifest, load_registry
from kubecopilot.ai._results import Answer, Explanation, ExplanationChain
from kubecopilot.ai._sanitize import Redactor
from kubecopilot.ai._schemas import DiagnosisExplanation, SuggestedAction
from kubecopilot.errors import LLMError, LLMOutputError, LLMUnavailableError

__all__ = [
    "Answer",
    "DiagnosisExplanation",
    "Explanation",
    "ExplanationChain",
    "LLMConfig",
    "LLMError",
    "LLMOutputError",
    "LLMUnavailableError",
    "PromptRegistry",
    "PromptVersion",
    "Redactor",
    "SuggestedAction",
    "ask",
    "check_manifest",
    "configure",
    "current_config",
    "explain",
    "intent_from_text",
    "llm_configured",
    "load_registry",
]
