"""Text and HTML renderings of explanations, answers and their chains.

Every string that came from the cluster or the model is passed through ``html.escape`` in the HTML forms:
a log line or a model answer containing ``<script>`` is shown, never run.
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kubecopilot.ai._results import Answer, Explanation, ExplanationChain

__all__ = ["answer_html", "answer_text", "chain_html", "chain_text", "explanation_html", "explanation_text"]

_STATUS_TEXT = {
    "llm": "LLM",
    "llm-retry": "LLM (after one retry)",
    "llm-fallback": "LLM fallback prompt",
    "rules-only": "rules only (LLM unavailable)",
}
_STATUS_COLOUR = {"llm": "#1a7f37", "llm-retry": "#1a7f37", "llm-fallback": "#9a6700", "rules-only": "#6e7781"}


def _chain_facts(c: ExplanationChain) -> list[tuple[str, str]]:
    facts = [("source", _STATUS_TEXT.get(c.status, c.status))]
    if c.prompt_id:
        facts.append(("prompt", c.prompt_ref or ""))
    if c.model:
        facts.append(("model", c.model))
    if c.input_hash:
        facts.append(("input", f"sha256:{c.input_hash[:16]}…"))
    if c.redactions:
        facts.append(("redacted", ", ".join(f"{k} {v}" for k, v in sorted(c.redactions.items()))))
    if c.confidence is not None:
        facts.append(("confidence", f"{c.confidence:.2f}"))
    if c.attempts:
        facts.append(("cost", f"{c.attempts} attempt(s), {c.latency_ms:.0f} ms, "
                              f"{c.prompt_tokens}+{c.completion_tokens} tokens"))
    if c.note:
        facts.append(("note", c.note))
    return facts


def chain_text(c: ExplanationChain) -> str:
    lines = ["Explanation chain"] + [f"  {k:<11}{v}" for k, v in _chain_facts(c)]
    lines += [f"  step       {s}" for s in c.steps]
    return "\n".join(lines)


def chain_html(c: ExplanationChain) -> str:
    e = html.escape
    rows = "".join(f"<tr><th style='text-align:left'>{e(k)}</th><td>{e(v)}</td></tr>" for k, v in _chain_facts(c))
    steps = "".join(f"<li>{e(s)}</li>" for s in c.steps)
    return (f"<details><summary>explanation chain: {e(_STATUS_TEXT.get(c.status, c.status))}</summary>"
            f"<table>{rows}</table>" + (f"<ol>{steps}</ol>" if steps else "") + "</details>")


def _badge(c: ExplanationChain) -> str:
    colour = _STATUS_COLOUR.get(c.status, "#6e7781")
    return (f"<span style='background:{colour};color:white;border-radius:3px;padding:0 4px'>"
            f"{html.escape(_STATUS_TEXT.get(c.status, c.status))}</span>")


def _list_text(title: str, items: list[str]) -> list[str]:
    return [f"{title}:"] + [f"  - {i}" for i in items] if items else []


def _list_html(title: str, items: list[str]) -> str:
    if not items:
        return ""
    lis = "".join(f"<li>{html.escape(i)}</li>" for i in items)
    return f"<div><b>{html.escape(title)}</b><ul>{lis}</ul></div>"


def _intent_lines(intents: list[Any]) -> list[str]:
    return [i.summary() + (f" — {i.reason}" if i.reason else "") for i in intents]


def explanation_text(x: Explanation) -> str:
    r = x.result
    lines = [f"Explanation of {x.target}  [{_STATUS_TEXT.get(x.chain.status, x.chain.status)}, "
             f"confidence {r.confidence:.2f}]", f"Summary: {r.summary}", f"Root cause: {r.root_cause}"]
    lines += _list_text("Evidence", r.evidence_refs)
    lines += _list_text(f"Suggested actions (risk tier {x.risk_tier}; each becomes a plan only when approved)",
                        _intent_lines(x.intents))
    lines += _list_text("Caveats", r.caveats)
    lines += _list_text("Notes", x.notes)
    lines.append(chain_text(x.chain))
    return "\n".join(lines)


def explanation_html(x: Explanation) -> str:
    e = html.escape
    r = x.result
    return (f"<div><b>Explanation of <code>{e(x.target)}</code></b> {_badge(x.chain)} "
            f"confidence {r.confidence:.2f}"
            f"<p><b>Summary</b>: {e(r.summary)}</p><p><b>Root cause</b>: {e(r.root_cause)}</p>"
            + _list_html("Evidence", r.evidence_refs)
            + _list_html(f"Suggested actions (risk tier {x.risk_tier}; plans need approval)", _intent_lines(x.intents))
            + _list_html("Caveats", r.caveats) + _list_html("Notes", x.notes) + chain_html(x.chain) + "</div>")


def _finding_line(f: dict[str, Any]) -> str:
    sev = f.get("severity") or "?"
    return f"[{sev}] {f.get('object') or '?'}: {f.get('cause') or ''} ({f.get('rule') or '?'})"


def answer_text(a: Answer) -> str:
    where = f"namespace {a.namespace}" if a.namespace else "the cluster"
    lines = [f"Q: {a.question}  [{where}; {_STATUS_TEXT.get(a.chain.status, a.chain.status)}]", a.text]
    if a.result is not None:
        lines += _list_text("Evidence", a.result.evidence_refs)
        lines += _list_text("Suggested actions (each becomes a plan only when approved)", _intent_lines(a.intents))
        lines += _list_text("Caveats", a.result.caveats)
    lines += _list_text("Notes", a.notes)
    lines.append(chain_text(a.chain))
    return "\n".join(lines)


def answer_html(a: Answer) -> str:
    e = html.escape
    where = f"namespace {a.namespace}" if a.namespace else "the cluster"
    body = "".join(f"<p>{e(par)}</p>" for par in a.text.split("\n\n")) if a.result is not None else \
        f"<pre>{e(a.text)}</pre>"
    extra = ""
    if a.result is not None:
        extra = (_list_html("Evidence", a.result.evidence_refs)
                 + _list_html("Suggested actions (plans need approval)", _intent_lines(a.intents))
                 + _list_html("Caveats", a.result.caveats))
    return (f"<div><b>Q: {e(a.question)}</b> <small>({e(where)})</small> {_badge(a.chain)}{body}{extra}"
            + _list_html("Notes", a.notes) + chain_html(a.chain) + "</div>")


def findings_summary(findings: list[dict[str, Any]], namespace: str | None) -> str:
    """The rule-based answer: the findings, most severe first (used when no LLM answers)."""
    where = f"namespace {namespace}" if namespace else "the cluster"
    if not findings:
        return f"The rule engine found nothing wrong in {where}."
    lines = [f"The rule engine found {len(findings)} problem(s) in {where}:"]
    lines += [f"  - {_finding_line(f)}" for f in findings[:30]]
    if len(findings) > 30:
        lines.append(f"  ... {len(findings) - 30} more")
    return "\n".join(lines)
