"""plotly figures over plain data: the events timeline and the topology graph.

Both take lists of dicts (what `EventTable.timeline_rows` and `Topology` produce) and return a
``plotly.graph_objects.Figure``; plotly is imported on first use. Hover texts are HTML-escaped: plotly.js renders
a subset of HTML in hover labels, and event messages and object names come from the cluster.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

__all__ = ["HEALTH_COLOURS", "TYPE_COLOURS", "event_timeline", "topology_figure"]

TYPE_COLOURS = {"Normal": "#2da44e", "Warning": "#cf222e"}
HEALTH_COLOURS = {"ok": "#2da44e", "warn": "#d4a72c", "bad": "#cf222e", "unknown": "#8c959f"}
_RELATION_STYLE = {"owns": ("#8c959f", "solid"), "selects": ("#0969da", "dash"), "mounts": ("#8250df", "dot"),
                   "routes": ("#bc4c00", "dashdot")}
_SYMBOLS = {"Ingress": "diamond", "Service": "hexagon", "Deployment": "square", "StatefulSet": "square",
            "DaemonSet": "square", "CronJob": "square", "ReplicaSet": "square-open", "Job": "square-open",
            "Pod": "circle", "ConfigMap": "triangle-up", "Secret": "triangle-up-open",
            "PersistentVolumeClaim": "star"}


def _e(value: Any) -> str:
    return html.escape(str(value))


def _wrap(text: str, width: int = 90, limit: int = 600) -> str:
    text = text if len(text) <= limit else text[: limit - 1] + "…"
    out, line = [], ""
    for word in text.split():
        if line and len(line) + 1 + len(word) > width:
            out.append(line)
            line = word
        else:
            line = f"{line} {word}" if line else word
    out.append(line)
    return "<br>".join(_e(x) for x in out)


def event_timeline(rows: Sequence[dict[str, Any]], *, title: str = "Events") -> Any:
    """Events over time: one row per involved object (``namespace/kind/name`` when several namespaces show), a
    segment from first to last occurrence and a dot at the last one, coloured by type."""
    import plotly.graph_objects as go

    fig = go.Figure()
    rows = [r for r in rows if r.get("last") is not None]
    namespaces = {r.get("namespace") for r in rows}

    def label(r: dict[str, Any]) -> str:
        return f"{r['namespace']}/{r['object']}" if len(namespaces) > 1 and r.get("namespace") else r["object"]

    order: list[str] = []  # objects by first appearance
    for r in sorted(rows, key=lambda r: r.get("first") or r["last"]):
        if label(r) not in order:
            order.append(label(r))
    for etype in sorted({r.get("type") or "" for r in rows}, key=lambda t: (t != "Normal", t)):
        group = [r for r in rows if (r.get("type") or "") == etype]
        colour = TYPE_COLOURS.get(etype, "#8c959f")
        xs: list[Any] = []
        ys: list[Any] = []
        for r in group:
            if r.get("first") is not None and r["first"] < r["last"]:
                xs += [r["first"], r["last"], None]
                ys += [label(r), label(r), None]
        if xs:
            fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines", line={"color": colour, "width": 3}, opacity=0.45,
                                     hoverinfo="skip", showlegend=False, legendgroup=etype))
        hover = [f"<b>{_e(r.get('reason'))}</b> x{r.get('count', 1)}<br>{_e(label(r))}<br>"
                 f"{_wrap(r.get('message') or '')}<br>from {_e(r.get('source') or '?')}; first "
                 f"{r['first']:%H:%M:%S}, last {r['last']:%H:%M:%S}" if r.get("first") else _e(r.get("reason"))
                 for r in group]
        fig.add_trace(go.Scatter(
            x=[r["last"] for r in group], y=[label(r) for r in group], mode="markers", name=etype or "(no type)",
            legendgroup=etype, marker={"color": colour, "size": [min(8 + 2 * (r.get("count", 1) - 1), 18)
                                                                  for r in group], "line": {"width": 0}},
            hovertext=hover, hoverinfo="text"))
    fig.update_layout(
        title={"text": _e(title), "font": {"size": 13}}, template="plotly_white",
        height=min(160 + 26 * max(len(order), 1), 900), margin={"l": 10, "r": 10, "t": 40, "b": 30},
        xaxis={"title": None, "type": "date"}, hovermode="closest",
        yaxis={"title": None, "categoryorder": "array", "categoryarray": list(reversed(order)), "automargin": True},
        legend={"orientation": "h", "y": 1.02, "x": 1, "xanchor": "right", "yanchor": "bottom"})
    if not rows:
        fig.add_annotation(text="no events", showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper")
    return fig


def topology_figure(nodes: Sequence[dict[str, Any]], edges: Sequence[dict[str, Any]], *,
                    layers: Sequence[str] = (), title: str = "Topology") -> Any:
    """A graph drawn at the given positions: ``nodes`` carry id, kind, name, status, health, x, y; ``edges`` carry
    source, target, relation (owns / selects / mounts / routes). Nodes are coloured by health."""
    import plotly.graph_objects as go

    fig = go.Figure()
    pos = {n["id"]: (n["x"], n["y"]) for n in nodes}
    for relation, (colour, dash) in _RELATION_STYLE.items():
        xs: list[Any] = []
        ys: list[Any] = []
        for e in edges:
            if e["relation"] != relation or e["source"] not in pos or e["target"] not in pos:
                continue
            (x0, y0), (x1, y1) = pos[e["source"]], pos[e["target"]]
            xs += [x0, x1, None]
            ys += [y0, y1, None]
        if xs:
            fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines", name=relation, hoverinfo="skip",
                                     line={"color": colour, "width": 1.4, "dash": dash}))
    for health, colour in HEALTH_COLOURS.items():
        group = [n for n in nodes if n.get("health", "unknown") == health]
        if not group:
            continue
        fig.add_trace(go.Scatter(
            x=[n["x"] for n in group], y=[n["y"] for n in group], mode="markers+text", name=health,
            text=[_e(n["name"] if len(n["name"]) <= 28 else n["name"][:27] + "…") for n in group],
            textposition="top center", textfont={"size": 10},
            marker={"color": colour, "size": 16, "symbol": [_SYMBOLS.get(n["kind"], "circle") for n in group],
                    "line": {"color": "#24292f", "width": 1}},
            hovertext=[f"<b>{_e(n['kind'])}</b> {_e(n['name'])}<br>{_e(n.get('status') or '')}" for n in group],
            hoverinfo="text"))
    depth = max((n["y"] for n in nodes), default=0) - min((n["y"] for n in nodes), default=0)
    fig.update_layout(
        title={"text": _e(title), "font": {"size": 13}}, template="plotly_white", hovermode="closest",
        height=int(min(max(320, 60 + 46 * (depth + 1)), 1400)), margin={"l": 10, "r": 10, "t": 60, "b": 10},
        xaxis={"showgrid": False, "zeroline": False, "tickmode": "array", "side": "top",
               "tickvals": list(range(len(layers))), "ticktext": [_e(x) for x in layers],
               "range": [-0.5, max(len(layers) - 0.5, 0.5)]},
        yaxis={"showgrid": False, "zeroline": False, "showticklabels": False},
        legend={"orientation": "h", "y": -0.02, "yanchor": "top"})
    if not nodes:
        fig.add_annotation(text="no objects", showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper")
    return fig
