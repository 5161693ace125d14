"""The three-layer view of an `OperationPlan`: a one-sentence summary, a table of changes (op, path, old, new), and a
side-by-side YAML diff of before / after, collapsed by default — plus the risk badge, status, factors,
post-conditions and the execution result.

Pure functions of the plan's data (no cluster access). Every cluster-derived string is escaped: labels and
annotations are user-controlled, and an ipywidgets ``HTML`` widget sets ``innerHTML``. The diff comes from
`difflib.HtmlDiff`, whose cells are escaped by difflib; its CSS is scoped under a class unique to the plan and its
fixed anchor ids (``difflib_chg_to0__0``) are rewritten to ids unique per render, so two diffs on one page never
share an anchor or a style.
"""

from __future__ import annotations

import difflib
import html
import json
import re
import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kubecopilot.plans._model import OperationPlan

__all__ = ["plan_html", "plan_table_html", "plan_text", "risk_badge", "status_badge", "yaml_diff_html"]

_RISK = {"low": ("#1a7f37", "#dafbe1"), "medium": ("#9a6700", "#fff8c5"), "high": ("#cf222e", "#ffebe9")}
_STATUS = {"pending": ("#57606a", "#eaeef2"), "confirmed": ("#0969da", "#ddf4ff"), "executed": ("#1a7f37", "#dafbe1"),
           "failed": ("#cf222e", "#ffebe9"), "reverted": ("#9a6700", "#fff8c5"), "rejected": ("#57606a", "#eaeef2"),
           "executing": ("#8250df", "#fbefff")}
_CELL = "text-align:left;padding:2px 8px;vertical-align:top;border-top:1px solid #eaeef2"
_HEAD = "text-align:left;padding:2px 8px;background:#f6f8fa"
_MAX_ROWS = 200


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _pill(text: str, colours: tuple[str, str]) -> str:
    fg, bg = colours
    return (f'<span style="color:{fg};background:{bg};border-radius:8px;padding:1px 8px;font-weight:600;'
            f'white-space:nowrap">{_e(text)}</span>')


def risk_badge(level: str, score: float | None = None) -> str:
    label = f"risk {level}" + (f" {score:.2f}" if score is not None else "")
    return _pill(label, _RISK.get(level, _STATUS["pending"]))


def status_badge(status: str) -> str:
    return _pill(status, _STATUS.get(status, _STATUS["pending"]))


def _value(value: Any, limit: int = 160) -> tuple[str, str]:
    """A compact JSON rendering of a value and its full text (for the cell's title when cut)."""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    return (text if len(text) <= limit else text[: limit - 1] + "…"), text


def _fmt_time(value: Any) -> str:
    return f"{value:%Y-%m-%d %H:%M:%S} UTC" if value is not None else ""


# -- text -------------------------------------------------------------------------------------------------------------
def plan_text(plan: OperationPlan) -> str:
    """The plan as plain text (``print(plan)``, ``text/plain``)."""
    a = plan.audit
    out = [f"OperationPlan {plan.id[:8]}  [{plan.status.upper()}]  risk {plan.risk.level.upper()} "
           f"({plan.risk.score:.2f})",
           plan.summary,
           f"  requested by {a.requested_by} at {_fmt_time(a.timestamps.created)} on context {plan.cluster.context}"
           + (f" (source {a.source})" if a.source != "user" else "")]
    if a.confirmed_by:
        out.append(f"  approved by {a.confirmed_by} at {_fmt_time(a.timestamps.confirmed)}"
                   + (f": {a.confirm_reason}" if a.confirm_reason else ""))
    if a.rejected_by:
        out.append(f"  rejected by {a.rejected_by} at {_fmt_time(a.timestamps.rejected)}"
                   + (f": {a.reject_reason}" if a.reject_reason else ""))
    if plan.ai_rationale:
        out.append(f"  AI rationale: {plan.ai_rationale}")
    out.append(f"  {plan.risk.rationale}")
    for f in plan.risk.factors:
        out.append(f"    - {f.weight:.2f} {f.rule}: {f.detail}")
    if plan.risk.slo_budget_impact:
        out.append(f"  SLO budget: {plan.risk.slo_budget_impact}")
    rows = plan.changes
    out.append(f"  changes ({len(rows)}):")
    for c in rows[:40]:
        old, new = _value(c.old, 60)[0], _value(c.new, 60)[0]
        out.append(f"    {c.op:<7} {c.path}: " + (f"{old} -> {new}" if c.op == "replace" else new if c.op == "add"
                                                  else f"{old} (removed)"))
    if len(rows) > 40:
        out.append(f"    ... {len(rows) - 40} more")
    if len(plan.steps) > 1:
        out.append(f"  steps ({len(plan.steps)}):")
        results = {r.id: r.status for r in (plan.execution.steps if plan.execution else [])}
        for s in plan.steps[:40]:
            out.append(f"    {s.id:<4} {results.get(s.id, ''):<16} {s.description}")
    if plan.risk.post_conditions:
        out.append("  post-conditions:")
        for pc in plan.risk.post_conditions:
            out.append(f"    - [{pc.status}] {pc.description}" + (f" — {pc.detail}" if pc.detail else ""))
    if plan.execution:
        out.append(f"  execution: {plan.execution}")
        for d in plan.execution.drift[:20]:
            out.append(f"    drift: {d}")
    elif plan.status == "pending":
        out.append("  next: plan.approve(by='<name>') or plan.reject(by='<name>', reason='...')")
    elif plan.status == "confirmed":
        out.append("  next: plan.execute()")
    return "\n".join(out)


# -- HTML --------------------------------------------------------------------------------------------------------------
def _changes_table(plan: OperationPlan) -> str:
    rows = plan.changes
    if not rows:
        return '<div style="color:#57606a"><i>no field changes</i></div>'
    colour = {"add": "#1a7f37", "remove": "#cf222e", "replace": "#9a6700"}
    body = []
    for c in rows[:_MAX_ROWS]:
        old, old_full = _value(c.old) if c.op != "add" else ("", "")
        new, new_full = _value(c.new) if c.op != "remove" else ("(removed)" if c.op == "remove" else "", "")
        body.append(
            f'<tr><td style="{_CELL};color:{colour[c.op]};font-weight:600">{_e(c.op)}</td>'
            f'<td style="{_CELL};font-family:monospace">{_e(c.path)}</td>'
            f'<td style="{_CELL};font-family:monospace" title="{_e(old_full)}">{_e(old)}</td>'
            f'<td style="{_CELL};font-family:monospace" title="{_e(new_full)}">{_e(new)}</td></tr>')
    more = (f'<tr><td colspan="4" style="{_CELL};color:#57606a">… {len(rows) - _MAX_ROWS} more</td></tr>'
            if len(rows) > _MAX_ROWS else "")
    head = "".join(f'<th style="{_HEAD}">{h}</th>' for h in ("op", "path", "old", "new"))
    return (f'<table style="border-collapse:collapse;font-size:12px"><thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(body)}{more}</tbody></table>')


def _steps_table(plan: OperationPlan) -> str:
    results = {r.id: r for r in (plan.execution.steps if plan.execution else [])}
    body = []
    for s in plan.steps[:_MAX_ROWS]:
        r = results.get(s.id)
        state = status_badge(r.status) if r else ""
        detail = _e(r.detail) if r and r.detail and r.detail != s.description else ""
        body.append(f'<tr><td style="{_CELL}">{_e(s.id)}</td><td style="{_CELL}">{_e(s.action)}</td>'
                    f'<td style="{_CELL}">{_e(s.description)}</td>'
                    f'<td style="{_CELL}">{"" if s.reversible else "not reversible"}</td>'
                    f'<td style="{_CELL}">{state} {detail}</td></tr>')
    head = "".join(f'<th style="{_HEAD}">{h}</th>' for h in ("step", "action", "description", "", "result"))
    return (f'<table style="border-collapse:collapse;font-size:12px"><thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(body)}</tbody></table>')


_DIFF_CSS = """
.{scope} table.diff {{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:11.5px;border-collapse:collapse;
  border:1px solid #d0d7de}}
.{scope} table.diff td {{padding:0 4px;vertical-align:top;white-space:pre-wrap}}
.{scope} .diff_header {{background-color:#f6f8fa;color:#57606a;text-align:right}}
.{scope} td.diff_header {{text-align:right}}
.{scope} .diff_next {{background-color:#f6f8fa}}
.{scope} .diff_add {{background-color:#dafbe1}}
.{scope} .diff_chg {{background-color:#fff8c5}}
.{scope} .diff_sub {{background-color:#ffebe9}}
"""


def yaml_diff_html(before: dict[str, Any] | None, after: dict[str, Any] | None, scope: str) -> str:
    """Side-by-side YAML diff (context lines only) with CSS scoped under ``.scope`` and render-unique anchors."""
    from kubecopilot.plans._diff import to_yaml

    a, b = to_yaml(before).splitlines(), to_yaml(after).splitlines()
    table = difflib.HtmlDiff(tabsize=2, wrapcolumn=70).make_table(
        a, b, _e("live (snapshot)" if before is not None else "(does not exist)"),
        _e("proposed (server dry run)" if after is not None else "(deleted)"), context=True, numlines=3)
    nonce = uuid.uuid4().hex[:8]
    table = re.sub(r"difflib_chg_to\d+__", f"{scope}-{nonce}-chg-", table)
    table = re.sub(r'id="(from|to)\d+_', lambda m: f'id="{scope}-{nonce}-{m.group(1)}-', table)
    return f"<style>{_DIFF_CSS.format(scope=scope)}</style>{table}"


def plan_html(plan: OperationPlan) -> str:
    """The whole plan as escaped HTML (what a notebook shows without widgets, and the widget's body)."""
    a = plan.audit
    scope = f"kc-plan-{re.sub(r'[^a-z0-9]', '', plan.id.lower())[:12]}"
    who = [f"requested by <b>{_e(a.requested_by)}</b> {_e(_fmt_time(a.timestamps.created))}"]
    if a.confirmed_by:
        who.append(f"approved by <b>{_e(a.confirmed_by)}</b> {_e(_fmt_time(a.timestamps.confirmed))}"
                   + (f" — {_e(a.confirm_reason)}" if a.confirm_reason else ""))
    if a.rejected_by:
        who.append(f"rejected by <b>{_e(a.rejected_by)}</b> {_e(_fmt_time(a.timestamps.rejected))}"
                   + (f" — {_e(a.reject_reason)}" if a.reject_reason else ""))
    if a.source != "user":
        who.append(f"source {_e(a.source)}")
    factors = "".join(f"<li><code>{f.weight:.2f}</code> {_e(f.rule)}: {_e(f.detail)}</li>" for f in plan.risk.factors)
    post = "".join(
        f"<li>{status_badge(pc.status) if pc.status != 'unchecked' else ''} {_e(pc.description)}"
        + (f" — {_e(pc.detail)}" if pc.detail else "") + "</li>" for pc in plan.risk.post_conditions)
    parts = [
        f'<div class="kc-plan {scope}" style="font-size:13px;line-height:1.45;border:1px solid #d0d7de;'
        f'border-radius:6px;padding:8px 12px;margin:4px 0">',
        f'<div>{risk_badge(plan.risk.level, plan.risk.score)} {status_badge(plan.status)} '
        f'<span style="color:#57606a">plan <code>{_e(plan.id[:8])}</code> · {_e(plan.action)} · '
        f'<code>{_e(plan.target)}</code> · context {_e(plan.cluster.context)}</span></div>',
        f'<div style="font-size:14px;font-weight:600;margin:6px 0">{_e(plan.summary)}</div>',
        f'<div style="color:#57606a">{" · ".join(who)}</div>',
    ]
    if plan.ai_rationale:
        parts.append(f'<div><b>AI rationale</b>: {_e(plan.ai_rationale)}</div>')
    parts.append(f'<div style="margin-top:6px">{_e(plan.risk.rationale)}</div>')
    if factors:
        parts.append(f'<ul style="margin:2px 0 4px 0">{factors}</ul>')
    if plan.risk.slo_budget_impact:
        parts.append(f'<div>SLO budget: {_e(plan.risk.slo_budget_impact)}</div>')
    parts.append(f'<div style="margin-top:6px;font-weight:600">Changes ({len(plan.changes)})</div>')
    parts.append(_changes_table(plan))
    if len(plan.steps) > 1:
        parts.append(f'<div style="margin-top:6px;font-weight:600">Steps ({len(plan.steps)}), in order</div>')
        parts.append(_steps_table(plan))
    if post:
        parts.append(f'<div style="margin-top:6px;font-weight:600">Post-conditions</div><ul style="margin:2px 0">'
                     f'{post}</ul>')
    if plan.execution is not None:
        ex = plan.execution
        parts.append(f'<div style="margin-top:6px"><b>Execution</b>: {status_badge(ex.status)} by '
                     f'{_e(ex.executed_by)} {_e(_fmt_time(ex.finished))}'
                     + (f" — {_e(ex.reason)}" if ex.reason else "") + "</div>")
        if ex.drift:
            rows = "".join(
                f'<tr><td style="{_CELL}">{_e(d.target)}</td><td style="{_CELL};font-family:monospace">'
                f'{_e(d.path or "/")}</td><td style="{_CELL}">{_e(d.change)}</td>'
                f'<td style="{_CELL};font-family:monospace">{_e(_value(d.planned)[0])}</td>'
                f'<td style="{_CELL};font-family:monospace">{_e(_value(d.live)[0])}</td></tr>' for d in ex.drift[:100])
            head = "".join(f'<th style="{_HEAD}">{h}</th>' for h in ("object", "path", "change", "planned", "live"))
            parts.append(f'<div style="font-weight:600;color:#cf222e">Drift</div><table style="border-collapse:'
                         f'collapse;font-size:12px"><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>')
    d = plan.diff
    if d.before is not None or d.after is not None:
        parts.append(f'<details style="margin-top:6px"><summary style="cursor:pointer;font-weight:600">YAML diff of '
                     f'{_e(plan.target)} (live vs. proposed)</summary>'
                     f'{yaml_diff_html(d.before, d.after, scope)}</details>')
    parts.append("</div>")
    return "".join(parts)


def plan_table_html(title: str, head: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A list of plans (``kubecopilot.plans.pending()`` / ``history()``) with status and risk badges."""
    if not rows:
        return f'<div><b>{_e(title)}</b>: <i>none</i></div>'
    cells = []
    for r in rows:
        tds = []
        for h, v in zip(head, r, strict=True):
            if h == "STATUS":
                tds.append(f'<td style="{_CELL}">{status_badge(v)}</td>')
            elif h == "RISK":
                tds.append(f'<td style="{_CELL}">{risk_badge(v) if v else ""}</td>')
            else:
                tds.append(f'<td style="{_CELL}">{_e(v)}</td>')
        cells.append("<tr>" + "".join(tds) + "</tr>")
    th = "".join(f'<th style="{_HEAD}">{_e(h)}</th>' for h in head)
    return (f'<div><b>{_e(title)}</b> ({len(rows)})<table style="border-collapse:collapse;font-size:12px">'
            f'<thead><tr>{th}</tr></thead><tbody>{"".join(cells)}</tbody></table></div>')
