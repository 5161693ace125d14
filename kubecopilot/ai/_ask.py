"""``ws.ask(question)``: a free-form question answered from the rule engine's findings.

Evidence comes from ``kubecopilot.diagnose.triage`` (every analyzer over the namespace or the cluster), so
the model only ever sees what the rules found and quoted, sanitized. Without an LLM (or when it fails) the
answer *is* the findings, marked rules-only: the question still gets the most useful offline answer.

Secret values of the namespace are redacted by value, when this identity may read Secrets: a finding can
quote a log line that printed one.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable
from typing import Any

from kubecopilot.ai._actions import annotate_actions
from kubecopilot.ai._client import llm_configured
from kubecopilot.ai._pipeline import run_prompt
from kubecopilot.ai._render import findings_summary
from kubecopilot.ai._results import Answer, ExplanationChain
from kubecopilot.ai._schemas import AskAnswer
from kubecopilot.errors import ClusterError, LLMError

__all__ = ["ask"]

_SEVERITY = {"critical": 0, "error": 1, "high": 1, "warning": 2, "medium": 2, "info": 3, "low": 3}
MAX_FINDINGS = 40
MAX_SECRET_VALUES = 2000


def _finding_dicts(result: Any) -> list[dict[str, Any]]:
    findings = getattr(result, "findings", result)
    out = []
    for f in findings or []:
        d = f.to_dict() if hasattr(f, "to_dict") else dict(f)
        out.append(d)
    out.sort(key=lambda d: _SEVERITY.get(str(d.get("severity", "")).lower(), 4))
    return out


def namespace_secret_values(ws: Any, namespace: str | None) -> list[str]:
    """Decoded values of the Secrets in ``namespace`` (or all namespaces), if this identity may list them.

    They stay in this process: they are only what the sanitizer looks for. ``[]`` when forbidden.
    """
    path = f"/api/v1/namespaces/{namespace}/secrets" if namespace else "/api/v1/secrets"
    try:
        items = ws.raw.list(path).get("items") or []
    except ClusterError:
        return []
    values: list[str] = []
    for secret in items:
        for encoded in (secret.get("data") or {}).values():
            try:
                values.append(base64.b64decode(encoded or "", validate=True).decode("utf-8"))
            except (binascii.Error, UnicodeDecodeError, ValueError):
                continue   # binary data: cannot appear in logs or messages as text
        values.extend(v for v in (secret.get("stringData") or {}).values() if isinstance(v, str))
        if len(values) >= MAX_SECRET_VALUES:
            break
    return values[:MAX_SECRET_VALUES]


def ask(ws: Any, question: str, namespace: str | None = None, *, secret_values: Iterable[str] | None = None,
        environment: str | None = None, max_findings: int = MAX_FINDINGS, **options: Any) -> Answer:
    """Answer ``question`` about ``namespace`` (or the cluster) from the rule findings (+ the LLM if configured).

    ``options`` go to ``triage``. ``secret_values`` default to the namespace's Secret values (when readable).
    """
    if not isinstance(question, str) or not question.strip():
        raise ValueError("ask needs a question, e.g. ws.ask('why is checkout failing?')")
    try:
        from kubecopilot.diagnose import triage
    except ImportError as e:
        raise ImportError(
            f"ws.ask gathers its evidence with kubecopilot.diagnose.triage, which cannot be imported here ({e}); "
            "the rule engine ships with KubeCopilot: reinstall it, or ask with kubecopilot.ai.explain(context)"
        ) from e
    findings = _finding_dicts(triage(ws, namespace, **options))
    rules_text = findings_summary(findings, namespace)
    if not llm_configured():
        return Answer(question, namespace, rules_text, ExplanationChain.rules_only(
            "no LLM configured: the answer lists the rule engine's findings"), findings)
    if secret_values is None:
        secret_values = namespace_secret_values(ws, namespace)
    payload = {"question": question, "namespace": namespace, "findings": findings[:max_findings]}
    try:
        run = run_prompt("ask", payload, subject=f"{ws.context}/{namespace or '*'}",
                         environment=environment or ws.context, secret_values=secret_values)
    except LLMError as e:
        chain = getattr(e, "chain", None) or ExplanationChain.rules_only()
        chain.status, chain.note = "rules-only", f"LLM unavailable: {e}"
        return Answer(question, namespace, rules_text, chain, findings)
    result = run.result
    assert isinstance(result, AskAnswer)
    intents, notes = annotate_actions(result.suggested_actions, source=f"llm:{run.prompt.ref}",
                                      default_namespace=namespace)
    return Answer(question, namespace, result.answer, run.chain, findings, result, intents, notes)
