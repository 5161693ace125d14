"""Text and HTML views of findings, diagnoses and triages. Every cluster-derived string is HTML-escaped."""

from __future__ import annotations

import html
from collections import Counter
from typing import Any

from kubecopilot.diagnose._findings import SEVERITIES, Finding

__all__ = ["explanation_html", "explanation_text", "findings_html", "findings_text", "severity_badge", "summary_line"]

_COLOURS = {"critical": "#8c1d18", "error": "#cf222e", "warning": "#9a6700", "info": "#0969da"}


def severity_badge(severity: str) -> str:
    colour = _COLOURS.get(severity, "#57606a")
    return (f"<span style='background:{colour};color:#fff;border-radius:3px;padding:0 5px;font-size:85%;"
            f"font-weight:600'>{html.escape(severity.upper())}</span>")


def summary_line(findings: list[Finding]) -> str:
    if not findings:
        return "no findings"
    counts = Counter(f.severity for f in findings)
    roots = sum(1 for f in findings if not f.caused_by)
    parts = [f"{counts[s]} {s}" for s in SEVERITIES if counts[s]]
    return f"{len(findings)} finding(s) ({', '.join(parts)}), {roots} root cause(s)"


def findings_text(findings: list[Finding], *, evidence: int = 3) -> str:
    lines = []
    for i, f in enumerate(findings, 1):
        marker = "" if f.caused_by else "  [root cause]"
        lines.append(f"{i:>2}. {f.severity.upper():<8} {f.rule}  {f.object}{marker}")
        lines.append(f"    {f.cause}")
        for e in f.evidence[:evidence]:
            lines.append(f"    · {e.kind} {e.source}: {e.quote}")
        if len(f.evidence) > evidence:
            lines.append(f"    · … {len(f.evidence) - evidence} more")
        if f.intent is not None:
            lines.append(f"    fix: {f.intent.summary()} — {f.intent.reason}")
    return "\n".join(lines)


def findings_html(findings: list[Finding]) -> str:
    e = html.escape
    if not findings:
        return "<p style='color:#1a7f37'>No findings: everything looked at is healthy.</p>"
    rows = []
    for i, f in enumerate(findings, 1):
        ev = "".join(f"<li><code>{e(x.kind)}</code> <code>{e(x.source)}</code>: {e(x.quote)}</li>"
                     for x in f.evidence)
        fix = (f"<div><b>fix</b>: <code>{e(f.intent.summary())}</code> — {e(f.intent.reason)}</div>"
               if f.intent is not None else "")
        follows = (f"<div style='color:#57606a'>follows from <code>{e(f.caused_by)}</code></div>"
                   if f.caused_by else "<div style='color:#57606a'>root cause</div>")
        rows.append(
            f"<tr style='vertical-align:top'><td>{i}</td><td>{severity_badge(f.severity)}</td>"
            f"<td><code>{e(f.rule)}</code></td><td><code>{e(f.object)}</code></td>"
            f"<td>{e(f.cause)}{follows}"
            f"<details><summary>evidence ({len(f.evidence)})</summary><ul>{ev}</ul></details>{fix}</td></tr>")
    return ("<table><thead><tr><th>#</th><th>severity</th><th>rule</th><th>object</th><th>cause, evidence, fix"
            "</th></tr></thead><tbody>" + "".join(rows) + "</tbody></table>")


def explanation_text(explanation: Any) -> str:
    """The AI layer's `Explanation` renders itself; anything else shows its ``summary`` and ``chain``."""
    if type(explanation).__str__ is not object.__str__:
        return str(explanation)
    summary = getattr(explanation, "summary", None)
    chain = getattr(explanation, "chain", None)
    out = [f"LLM explanation: {summary}" if summary else "LLM explanation:"]
    if isinstance(chain, list | tuple):
        out += [f"  {i}. {step}" for i, step in enumerate(chain, 1)]
    elif chain:
        out.append(f"  {chain}")
    return "\n".join(out)


def explanation_html(explanation: Any) -> str:
    own = getattr(explanation, "_repr_html_", None)
    if callable(own):
        return str(own())
    e = html.escape
    summary = getattr(explanation, "summary", None)
    chain = getattr(explanation, "chain", None)
    body = f"<p>{e(str(summary))}</p>" if summary else ""
    if isinstance(chain, list | tuple):
        body += "<ol>" + "".join(f"<li>{e(str(step))}</li>" for step in chain) + "</ol>"
    elif chain:
        body += f"<p>{e(str(chain))}</p>"
    return f"<div><b>LLM explanation</b>{body}</div>"
