"""Renderers for `Postmortem`: Markdown, escaped HTML, plotly figures. They read the report's data only."""

from __future__ import annotations

import datetime as dt
import html
from typing import Any

import pandas as pd

__all__ = ["figures", "html_body", "html_page", "markdown"]

_SEV_COLOUR = {"critical": "#8b0000", "error": "#cf222e", "warning": "#9a6700", "info": "#57606a"}
_STATUS_COLOUR = {"executed": "#1a7f37", "resolved": "#1a7f37", "ongoing": "#cf222e", "failed": "#cf222e",
                  "reverted": "#9a6700", "rejected": "#57606a", "pending": "#0969da", "confirmed": "#0969da"}


def _fmt(v: Any) -> str:
    if v is None or (isinstance(v, float) and pd.isna(v)) or v is pd.NaT:
        return ""
    if isinstance(v, (dt.datetime, pd.Timestamp)):
        return f"{v:%Y-%m-%d %H:%M:%S}"
    return str(v)


def _md_cell(v: Any, limit: int = 160) -> str:
    text = _fmt(v).replace("\n", " ").replace("|", "\\|")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _md_table(frame: pd.DataFrame, columns: list[str], limit: int | None = None) -> str:
    rows = frame.head(limit) if limit else frame
    out = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    out += ["| " + " | ".join(_md_cell(r.get(c)) for c in columns) + " |" for r in rows.to_dict("records")]
    if limit and len(frame) > limit:
        out.append(f"\n_{len(frame) - limit} more rows in the HTML report / `pm.timeline`._")
    return "\n".join(out)


def markdown(pm: Any) -> str:
    scope = f"`{pm.namespace}`" if pm.namespace else "the whole cluster"
    out = [f"# {pm.title}", "",
           f"Window {pm.since:%Y-%m-%d %H:%M:%S} - {pm.until:%Y-%m-%d %H:%M:%S} UTC over {scope}"
           + (f" (context `{pm.context}`)" if pm.context else "") + ".", "", f"**Summary.** {pm.summary()}.", ""]
    out += ["## Likely root cause", ""]
    if pm.root_causes.empty:
        out += ["No diagnosis in this window named a root cause.", ""]
    else:
        r = pm.root_causes.iloc[0]
        out += [f"**{_md_cell(r['object'])}** — {_md_cell(r['cause'], 400)} (`{r['rule']}`, {r['severity']})."]
        if r["evidence"]:
            out += ["", f"> {_md_cell(r['evidence'], 400)}"]
        if len(pm.root_causes) > 1:
            out += ["", "Other root causes found:", ""]
            out += [f"- {_md_cell(x['object'])}: {_md_cell(x['cause'], 300)} (`{x['rule']}`)"
                    for x in pm.root_causes.iloc[1:].to_dict("records")]
        out.append("")
    out += ["## Impact", ""]
    out += [_md_table(pm.impact, ["object", "kind", "start", "end", "minutes", "status", "reasons"]) if len(pm.impact)
            else "No Warning events in the window.", ""]
    out += ["## Actions taken", ""]
    out += [_md_table(pm.actions, ["plan_id", "action", "object", "status", "risk", "requested_by", "approved_by",
                                   "executed"]) if len(pm.actions) else "No plans in the window.", ""]
    out += ["## Action items", ""]
    out += [f"- [ ] {_md_cell(i, 400)}" for i in pm.action_items] or ["None."]
    out += ["", "## Timeline", ""]
    out += [_md_table(pm.timeline, ["ts", "source", "object", "what", "detail", "actor"], limit=200)
            if len(pm.timeline) else "Nothing happened in the window.", ""]
    out += ["## Explanation chain", ""]
    out += [_md_table(pm.chain, ["diagnosis_id", "plan_id", "target", "engine", "llm_status", "prompt", "model"])
            if len(pm.chain) else "No diagnosis or AI-sourced plan contributed.", ""]
    if pm.notes:
        out += ["## Notes", ""] + [f"- {_md_cell(n, 400)}" for n in pm.notes] + [""]
    out.append(f"_Generated {pm.generated_at:%Y-%m-%d %H:%M:%S} UTC by KubeCopilot; postmortem id `{pm.id}`._")
    return "\n".join(out) + "\n"


def _html_table(frame: pd.DataFrame, columns: list[str], *, status_col: str | None = None,
                limit: int | None = None) -> str:
    e = html.escape
    head = "".join(f"<th>{e(c)}</th>" for c in columns)
    body = []
    rows = frame.head(limit) if limit else frame
    for r in rows.to_dict("records"):
        cells = []
        for c in columns:
            text = e(_fmt(r.get(c)))
            if c in (status_col, "severity") and text:
                colour = _STATUS_COLOUR.get(text) or _SEV_COLOUR.get(text, "#57606a")
                text = (f"<span style='background:{colour};color:#fff;border-radius:8px;padding:0 6px'>"
                        f"{text}</span>")
            cells.append(f"<td>{text}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    more = (f"<p><i>{len(frame) - limit} more rows not shown.</i></p>" if limit and len(frame) > limit else "")
    return f"<table class='kc-pm'><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>{more}"


def figures(pm: Any) -> dict[str, Any]:
    import plotly.graph_objects as go

    out: dict[str, Any] = {}
    tl = pm.timeline
    fig = go.Figure()
    if len(tl):
        for (source, severity), group in tl.groupby(["source", "severity"], sort=False):
            fig.add_trace(go.Scatter(
                x=group["ts"], y=group["object"], mode="markers", name=f"{source} {severity}",
                marker={"size": 10 if source == "audit" else 8, "symbol": "diamond" if source == "audit" else "circle",
                        "color": _SEV_COLOUR.get(severity, "#57606a") if source == "cluster" else "#0969da"},
                text=[f"{w}: {d}" for w, d in zip(group["what"], group["detail"], strict=True)],
                hovertemplate="%{x}<br>%{y}<br>%{text}<extra></extra>"))
    fig.update_layout(title="Timeline (cluster events and audited actions)", height=max(300, 28 * tl["object"].nunique()
                                                                                          + 150 if len(tl) else 300),
                      xaxis_title="UTC", margin={"l": 10, "r": 10, "t": 40, "b": 40})
    out["timeline"] = fig
    im = pm.impact
    bars = go.Figure()
    if len(im):
        for r in im.to_dict("records"):
            start, end = pd.Timestamp(r["start"]), pd.Timestamp(r["end"])
            bars.add_trace(go.Bar(
                y=[r["object"]], x=[max((end - start).total_seconds() * 1000, 1000)], base=[start], orientation="h",
                marker_color=_STATUS_COLOUR.get(r["status"], "#57606a"), name=r["status"], showlegend=False,
                hovertemplate=f"{html.escape(r['object'])}: {r['minutes']} min ({r['status']})<extra></extra>"))
        bars.update_xaxes(type="date")
    bars.update_layout(title="Impact (unavailable intervals)", height=max(220, 40 * len(im) + 120), barmode="overlay",
                       margin={"l": 10, "r": 10, "t": 40, "b": 40})
    out["impact"] = bars
    return out


_CSS = """
<style>
.kc-postmortem { font-family: system-ui, sans-serif; max-width: 1200px; }
.kc-postmortem table.kc-pm { border-collapse: collapse; margin: 6px 0 14px; font-size: 13px; }
.kc-postmortem table.kc-pm th, .kc-postmortem table.kc-pm td { border: 1px solid #d0d7de; padding: 3px 6px;
  text-align: left; vertical-align: top; }
.kc-postmortem blockquote { border-left: 3px solid #d0d7de; margin: 4px 0; padding-left: 8px; color: #57606a; }
</style>
"""


def html_body(pm: Any, *, include_plotlyjs: bool | str = True, charts: bool = True) -> str:
    e = html.escape
    scope = e(pm.namespace) if pm.namespace else "the whole cluster"
    parts = [_CSS, "<div class='kc-postmortem'>", f"<h1>{e(pm.title)}</h1>",
             f"<p>Window {pm.since:%Y-%m-%d %H:%M:%S} - {pm.until:%Y-%m-%d %H:%M:%S} UTC over {scope}"
             + (f", context <code>{e(pm.context)}</code>" if pm.context else "") + ".</p>",
             f"<p><b>Summary.</b> {e(pm.summary())}.</p>", "<h2>Likely root cause</h2>"]
    if pm.root_causes.empty:
        parts.append("<p>No diagnosis in this window named a root cause.</p>")
    else:
        r = pm.root_causes.iloc[0]
        parts.append(f"<p><b>{e(_fmt(r['object']))}</b> — {e(_fmt(r['cause']))} "
                     f"(<code>{e(_fmt(r['rule']))}</code>)</p>")
        if r["evidence"]:
            parts.append(f"<blockquote>{e(_fmt(r['evidence']))}</blockquote>")
        if len(pm.root_causes) > 1:
            parts.append(_html_table(pm.root_causes.iloc[1:], ["rule", "severity", "object", "cause"]))
    if charts:
        figs = figures(pm)
        first = True
        for key in ("impact", "timeline"):
            parts.append(figs[key].to_html(full_html=False, include_plotlyjs=include_plotlyjs if first else False,
                                           div_id=f"kc-pm-{pm.id[:8]}-{key}"))
            first = False
    parts += ["<h2>Impact</h2>", _html_table(pm.impact, ["object", "kind", "start", "end", "minutes", "status",
                                                         "warnings", "reasons"], status_col="status")
              if len(pm.impact) else "<p>No Warning events in the window.</p>"]
    parts += ["<h2>Actions taken</h2>", _html_table(pm.actions, ["plan_id", "action", "object", "status", "risk",
                                                                 "requested_by", "approved_by", "executed_by",
                                                                 "executed"], status_col="status")
              if len(pm.actions) else "<p>No plans in the window.</p>"]
    parts += ["<h2>Action items</h2>", "<ul>" + "".join(f"<li>{e(i)}</li>" for i in pm.action_items) + "</ul>"
              if pm.action_items else "<p>None.</p>"]
    parts += ["<h2>Timeline</h2>", _html_table(pm.timeline, ["ts", "source", "object", "what", "detail", "actor",
                                                             "severity"], limit=500)
              if len(pm.timeline) else "<p>Nothing happened in the window.</p>"]
    parts += ["<h2>Explanation chain</h2>", _html_table(pm.chain, ["diagnosis_id", "plan_id", "target", "engine",
                                                                   "llm_status", "prompt", "model", "confidence"])
              if len(pm.chain) else "<p>No diagnosis or AI-sourced plan contributed.</p>"]
    if pm.notes:
        parts += ["<h2>Notes</h2>", "<ul>" + "".join(f"<li>{e(n)}</li>" for n in pm.notes) + "</ul>"]
    parts.append(f"<p><i>Generated {pm.generated_at:%Y-%m-%d %H:%M:%S} UTC by KubeCopilot; postmortem id "
                 f"{e(pm.id)}.</i></p></div>")
    return "\n".join(parts)


def html_page(pm: Any, *, include_plotlyjs: bool | str = True) -> str:
    return ("<!DOCTYPE html><html><head><meta charset='utf-8'>"
            f"<title>{html.escape(pm.title)}</title></head><body>"
            + html_body(pm, include_plotlyjs=include_plotlyjs) + "</body></html>")
