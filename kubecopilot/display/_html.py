"""Small escaped-HTML building blocks shared by the rich views (detail pages, events, logs, search, topology).

Every function escapes what it is given: callers pass raw cluster strings (labels, annotations, messages and log
lines are user-controlled) and never pre-escaped markup, except where a parameter says it takes HTML
(``html_table(..., raw=...)``, ``details(body=...)``). The styles are inline so the output also works in
nbconvert/HTML exports and in an ipywidgets ``HTML`` widget, where a ``<style>`` block would apply page-wide.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from typing import Any

from kubecopilot.cluster._table import badge_colour

__all__ = ["badge", "details", "html_table", "kv_table", "pre_lines"]

_PALETTE = {"green": ("#1a7f37", "#dafbe1"), "amber": ("#9a6700", "#fff8c5"), "red": ("#cf222e", "#ffebe9"),
            "grey": ("#57606a", "#eaeef2")}
_CELL = "text-align:left;padding:2px 8px;vertical-align:top"
_HEAD = "text-align:left;padding:2px 8px;background:#f6f8fa"


def _e(value: Any) -> str:
    return html.escape(str(value))


def badge(value: Any, colour: str | None = None) -> str:
    """A rounded status badge; the colour comes from the value (``Running`` green, ``CrashLoopBackOff`` red, ...)
    unless ``colour`` (green / amber / red / grey) is given."""
    fg, bg = _PALETTE.get(colour or badge_colour(str(value)), _PALETTE["grey"])
    return (f'<span style="color:{fg};background:{bg};border-radius:8px;padding:1px 7px;font-weight:600;'
            f'white-space:nowrap">{_e(value)}</span>')


def kv_table(rows: Iterable[tuple[str, Any]], *, badges: Sequence[str] = ()) -> str:
    """A two-column key/value table; values of the keys named in ``badges`` are shown as status badges."""
    body = "".join(
        f'<tr><th style="{_HEAD};width:1%;white-space:nowrap">{_e(k)}</th>'
        f'<td style="{_CELL}">{badge(v) if k in badges else _e(v)}</td></tr>' for k, v in rows)
    return f'<table style="border-collapse:collapse;font-size:12px">{body}</table>'


def html_table(columns: Sequence[str], rows: Iterable[Sequence[Any]], *, badges: Sequence[str] = (),
               raw: Sequence[str] = (), empty: str = "none", max_cell: int = 200) -> str:
    """A table with a header row. Columns named in ``badges`` render as badges; columns named in ``raw`` hold
    markup the caller built from escaped parts (e.g. a highlighted match); every other cell is escaped and cut
    to ``max_cell`` characters (the full text stays in the cell's ``title``)."""
    rows = list(rows)
    if not rows:
        return f'<div style="color:#57606a"><i>{_e(empty)}</i></div>'
    head = "".join(f'<th style="{_HEAD}">{_e(c)}</th>' for c in columns)
    out = [f'<table style="border-collapse:collapse;font-size:12px"><thead><tr>{head}</tr></thead><tbody>']
    for r in rows:
        out.append("<tr>")
        for c, v in zip(columns, r, strict=False):
            s = "" if v is None else str(v)
            if c in raw:
                out.append(f'<td style="{_CELL}">{s}</td>')
            elif c in badges and s:
                out.append(f'<td style="{_CELL}">{badge(s)}</td>')
            else:
                cut = s if len(s) <= max_cell else s[: max_cell - 1] + "…"
                title = f' title="{_e(s)}"' if len(s) > max_cell else ""
                out.append(f'<td style="{_CELL}"{title}>{_e(cut)}</td>')
        out.append("</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def details(summary: str, body: str, *, open: bool = False) -> str:
    """A collapsible section: ``summary`` is plain text (escaped), ``body`` is markup."""
    return (f'<details{" open" if open else ""} style="margin:4px 0"><summary style="cursor:pointer;'
            f'font-weight:600">{_e(summary)}</summary><div style="margin:4px 0 4px 12px">{body}</div></details>')


def pre_lines(lines: Iterable[str], *, highlight: Iterable[int] = (), max_height: int = 480) -> str:
    """Pre-formatted text, one escaped line each; the 0-based line numbers in ``highlight`` get a red background."""
    marked = set(highlight)
    body = "\n".join(
        f'<span style="background:#ffebe9;color:#82071e">{_e(line)}</span>' if i in marked else _e(line)
        for i, line in enumerate(lines))
    return (f'<pre style="font-size:11.5px;line-height:1.35;max-height:{max_height}px;overflow:auto;'
            f'background:#f6f8fa;padding:6px;margin:2px 0;white-space:pre-wrap">{body}</pre>')
