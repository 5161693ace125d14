"""Views of a rollout: text, escaped HTML, a live ipywidgets view with its buttons, and a plotly DAG.

Every function here takes the plain dict `Rollout.view_state()` returns — task ids, statuses, step names,
analysis verdicts, log lines — and never talks to a cluster. Names and messages come from the cluster and from
people (task ids, image names, analysis reasons quoting pod names), so every one is escaped.

`RolloutWidget` is updated from the engine's thread: the rollout calls its listener after every saved change and
the listener only sets trait values (``HTML.value``, ``Button.disabled``), which reach the frontend as comm
messages from any thread — unlike ``with out:`` capture (ECOSYSTEM-NOTES §5). Its buttons call the rollout's own
methods (``approve`` / ``promote`` / ``abort`` / ``retry`` / ``cancel``), which never block, so a click returns
at once and the view follows the engine.
"""

from __future__ import annotations

import datetime as dt
import html
import threading
from typing import Any

from kubecopilot.display._html import badge, details, html_table

__all__ = ["STATUS_COLOURS", "RolloutWidget", "rollout_figure", "rollout_html", "rollout_text"]

STATUS_COLOURS = {"success": "green", "done": "green", "executed": "green", "Successful": "green",
                  "running": "amber", "waiting_confirm": "amber", "waiting": "amber", "planned": "amber",
                  "Inconclusive": "amber", "failed": "red", "rolled_back": "red", "Failed": "red",
                  "cancelled": "grey", "pending": "grey", "skipped": "grey"}
_HEX = {"green": "#2da44e", "amber": "#d4a72c", "red": "#cf222e", "grey": "#8c959f"}
_OK = "color:#1a7f37"
_ERR = "color:#cf222e"


def _e(value: Any) -> str:
    return html.escape(str(value))


def _badge(value: Any) -> str:
    return badge(value, STATUS_COLOURS.get(str(value), "grey"))


def _time(value: Any) -> str:
    return value.strftime("%H:%M:%S") if isinstance(value, dt.datetime) else ""


# -- text --------------------------------------------------------------------------------------------------------------
def rollout_text(v: dict[str, Any]) -> str:
    back = v["phase"] != "forward" and v["status"] not in ("failed", "rolled_back")
    lines = [f"Rollout {v['name']} ({v['id']}) — {v['status']}" + (" (rolling back)" if back else "")
             + (" (rollback incomplete)" if v["phase"] != "forward" and v["status"] == "failed" else ""),
             f"  namespace {v['namespace']} · approver {v['approver'] or '(none yet)'} (auto-approves plans up to "
             f"{v['auto_approve']} risk) · created by {v['created_by']}"]
    if v["reason"]:
        lines.append(f"  reason: {v['reason']}")
    for task, kind, message in v["waiting"]:
        lines.append(f"  WAITING ({kind}{', ' + task if task else ''}): {message}")
    head = ("TASK", "TYPE", "APP", "STATUS", "STEP", "BLOCKED BY")
    rows = [head] + [(t["id"], t["type"], t["app"] or "-", t["status"], t["step"] or "-", ", ".join(t["deps"]) or "-")
                     for t in v["tasks"]]
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(head) - 1)]
    for r in rows:
        lines.append("  " + "  ".join(str(c).ljust(w) for c, w in zip(r[:-1], widths, strict=True)) + "  " + r[-1])
    if v["analyses"]:
        lines.append("  analyses:")
        lines += [f"    {a['task']} · {a['step']}: {a['phase']} — {a['reason']}" for a in v["analyses"][-8:]]
    if v["rollback"]:
        lines.append("  rollback:")
        lines += [f"    [{o['status']}] {o['description']}" for o in v["rollback"]]
    return "\n".join(lines)


# -- HTML --------------------------------------------------------------------------------------------------------------
def _steps_html(task: dict[str, Any]) -> str:
    rows = []
    for s in task["steps"]:
        ops = "<br>".join(
            f"{_badge(o['status'])} {_e(o['description'])}"
            + (f" <code>{_e(o['plan'][:8])}</code>" if o["plan"] else "")
            + (f" · {_e(o['risk'])} risk" if o["risk"] else "")
            + (f" · approved by {_e(o['approvedBy'])}" if o["approvedBy"] else "")
            for o in s["ops"]) or "<i>no writes</i>"
        rows.append((s["index"] + 1, s["name"], s["status"], ops, s["analysis"] or "", s["detail"]))
    return html_table(("#", "STEP", "STATUS", "PLANS", "ANALYSIS", "DETAIL"), rows, badges=("STATUS",),
                      raw=("PLANS",), empty="not planned yet")


def rollout_html(v: dict[str, Any]) -> str:
    head = (f'<div style="font-size:13px"><b>Rollout {_e(v["name"])}</b> <code>{_e(v["id"])}</code> '
            f'{_badge(v["status"])}' + (" rolling back" if v["phase"] != "forward" else "")
            + f'<div style="color:#57606a;font-size:12px">namespace <code>{_e(v["namespace"])}</code> · approver '
              f'{_e(v["approver"] or "(none yet)")} (auto-approves plans up to {_e(v["auto_approve"])} risk) · '
              f'created by {_e(v["created_by"])}</div></div>')
    parts = [head]
    if v["reason"]:
        parts.append(f'<div style="{_ERR if v["status"] in ("failed", "rolled_back") else ""};margin:4px 0">'
                     f'{_e(v["reason"])}</div>')
    for task, kind, message in v["waiting"]:
        parts.append(f'<div style="background:#fff8c5;border:1px solid #d4a72c;border-radius:6px;padding:4px 8px;'
                     f'margin:4px 0"><b>waiting ({_e(kind)}{", " + _e(task) if task else ""})</b>: '
                     f'{_e(message)}</div>')
    rows = [(t["id"], t["type"], t["app"] or "", t["status"], t["step"] or "", ", ".join(t["deps"]),
             t["waiting"] or t["detail"]) for t in v["tasks"]]
    parts.append(html_table(("TASK", "TYPE", "APP", "STATUS", "STEP", "BLOCKED BY", "DETAIL"), rows,
                            badges=("STATUS",)))
    for t in v["tasks"]:
        if t["steps"]:
            parts.append(details(f"{t['id']}: {len(t['steps'])} step(s), {t['status']}", _steps_html(t),
                                 open=t["status"] in ("running", "waiting_confirm")))
    if v["analyses"]:
        rows = [(a["task"], a["step"], a["phase"], a["reason"], a["pods"], a["metrics"] or "-",
                 _time(a["finished"])) for a in v["analyses"]]
        parts.append(details(f"analyses ({len(rows)})", html_table(
            ("TASK", "STEP", "RESULT", "REASON", "PODS", "METRICS", "AT"), rows, badges=("RESULT",)), open=True))
    if v["rollback"]:
        rows = [(o["status"], o["description"], (o["plan"] or "")[:8]) for o in v["rollback"]]
        parts.append(details(f"rollback ({len(rows)} undo op(s))", html_table(("STATUS", "UNDO", "PLAN"), rows,
                                                                               badges=("STATUS",)), open=True))
    if v["log"]:
        rows = [(_time(at), text) for at, text in v["log"][-12:]]
        parts.append(details("log", html_table(("AT (UTC)", "EVENT"), rows)))
    return '<div class="kc-rollout">' + "".join(parts) + "</div>"


# -- the widget --------------------------------------------------------------------------------------------------------
def _default_user() -> str:
    import getpass
    import os

    return os.environ.get("KUBECOPILOT_USER") or getpass.getuser()


class RolloutWidget:
    """The rollout's HTML view, an approver name, a reason and the buttons; ``.message`` holds the last result or
    error. Works headless: ``widget.promote_button.click()`` calls ``rollout.promote(by=...)``."""

    def __init__(self, rollout: Any) -> None:
        import ipywidgets as w

        self.rollout = rollout
        self._lock = threading.Lock()
        self.view = w.HTML(layout=w.Layout(width="100%"))
        self.approver = w.Text(value=_default_user(), description="Name", placeholder="your name",
                               layout=w.Layout(width="240px"))
        self.reason = w.Text(value="", description="Reason", placeholder="recorded in the audit",
                             layout=w.Layout(width="380px"))
        self.approve_button = w.Button(description="Approve", button_style="success", icon="check",
                                       tooltip="approve the gate or plan the rollout waits for")
        self.promote_button = w.Button(description="Promote", button_style="primary", icon="forward",
                                       tooltip="continue past a pause / accept an inconclusive analysis")
        self.abort_button = w.Button(description="Abort", button_style="danger", icon="undo",
                                     tooltip="stop and roll back every completed step")
        self.retry_button = w.Button(description="Retry", icon="refresh", tooltip="analyse again / re-run what failed")
        self.cancel_button = w.Button(description="Cancel", button_style="warning", icon="stop",
                                      tooltip="stop here and leave the cluster as it is")
        self.message = w.HTML(value="")
        for button, action in ((self.approve_button, "approve"), (self.promote_button, "promote"),
                               (self.abort_button, "abort"), (self.retry_button, "retry"),
                               (self.cancel_button, "cancel")):
            button.on_click(lambda _b, a=action: self._act(a))
        self.box = w.VBox([self.view, w.HBox([self.approver, self.reason]),
                           w.HBox([self.approve_button, self.promote_button, self.abort_button, self.retry_button,
                                   self.cancel_button]), self.message])
        self.box.add_class("kc-rollout-widget")
        rollout.on_change(lambda _ro: self.refresh())
        self.refresh()

    def refresh(self) -> None:
        """Re-render from the rollout's plain state and enable the buttons its status allows (any thread)."""
        v = self.rollout.view_state()
        status, forward = v["status"], v["phase"] == "forward"
        kinds = {kind for _t, kind, _m in v["waiting"]}
        live = status in ("pending", "running", "waiting_confirm") and forward
        with self._lock:
            self.view.value = rollout_html(v)
            self.approve_button.disabled = not (kinds & {"gate", "plan"} or status == "pending")
            self.promote_button.disabled = not live
            self.abort_button.disabled = not live
            self.cancel_button.disabled = not live
            self.retry_button.disabled = not ("analysis" in kinds or status in ("failed", "rolled_back", "cancelled"))

    def _say(self, text: str, style: str) -> None:
        self.message.value = f'<div style="{style};white-space:pre-wrap">{html.escape(text)}</div>'

    def _act(self, action: str) -> None:
        who, why = self.approver.value.strip(), self.reason.value.strip()
        try:
            method = getattr(self.rollout, action)
            method(by=who, reason=why)
            self._say(f"{action}: sent by {who}", _OK)
        except Exception as e:  # shown, never raised into the frontend's void
            self._say(f"{type(e).__name__}: {e}", _ERR)
        self.refresh()

    def close(self) -> None:
        self.box.close()

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.box._repr_mimebundle_(**kwargs)

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.box)


# -- plotly ------------------------------------------------------------------------------------------------------------
def rollout_figure(v: dict[str, Any]) -> Any:
    """The DAG: one column per depth, tasks as markers coloured by state, arrows for ``blockBy``/order edges,
    each task's current step under its name and the details on hover."""
    import plotly.graph_objects as go

    tasks = v["tasks"]
    columns: dict[int, list[dict[str, Any]]] = {}
    for t in tasks:
        columns.setdefault(t["layer"], []).append(t)
    pos: dict[str, tuple[float, float]] = {}
    for x, group in columns.items():
        for i, t in enumerate(group):
            pos[t["id"]] = (float(x), -(i - (len(group) - 1) / 2))
    fig = go.Figure()
    for t in tasks:
        for d in t["deps"]:
            if d in pos:
                (x0, y0), (x1, y1) = pos[d], pos[t["id"]]
                fig.add_annotation(x=x1, y=y1, ax=x0, ay=y0, xref="x", yref="y", axref="x", ayref="y",
                                   showarrow=True, arrowhead=3, arrowsize=1.2, arrowwidth=1.3, arrowcolor="#8c959f",
                                   standoff=14, startstandoff=14, text="")
    for status in sorted({t["status"] for t in tasks}):
        group = [t for t in tasks if t["status"] == status]
        fig.add_trace(go.Scatter(
            x=[pos[t["id"]][0] for t in group], y=[pos[t["id"]][1] for t in group], mode="markers+text",
            name=_e(status), text=[f"<b>{_e(t['id'])}</b><br>{_e(_short(t['step']))}" for t in group],
            textposition="bottom center", textfont={"size": 10},
            marker={"size": 26, "color": _HEX[STATUS_COLOURS.get(status, "grey")], "symbol": "circle",
                    "line": {"color": "#24292f", "width": 1}},
            hovertext=[f"<b>{_e(t['id'])}</b> ({_e(t['type'])}{', app ' + _e(t['app']) if t['app'] else ''})<br>"
                       f"{_e(t['status'])}: {_e(t['step'])}<br>{_e(_short(t['waiting'] or t['detail'], 160))}"
                       for t in group], hoverinfo="text"))
    depth = max(columns, default=0)
    height = max(len(g) for g in columns.values()) if columns else 1
    fig.update_layout(
        title={"text": f"Rollout {_e(v['name'])} — {_e(v['status'])}", "font": {"size": 13}},
        template="plotly_white", height=int(min(220 + 90 * height, 900)), hovermode="closest",
        margin={"l": 10, "r": 10, "t": 50, "b": 10},
        xaxis={"visible": False, "range": [-0.6, depth + 0.6]},
        yaxis={"visible": False, "range": [-(height / 2) - 0.3, height / 2 + 0.3]},
        legend={"orientation": "h", "y": -0.02, "yanchor": "top"})
    if not tasks:
        fig.add_annotation(text="no tasks", showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper")
    return fig


def _short(text: Any, limit: int = 40) -> str:
    s = "" if text is None else str(text)
    return s if len(s) <= limit else s[: limit - 1] + "…"
