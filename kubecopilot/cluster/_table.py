"""`ResourceTable`: the answer of ``ws.list(...)``: kubectl-like columns in a pandas DataFrame plus the raw objects.

Layout: `build_table` turns raw JSON items into a table (pure); the table's displays are plain functions over its
frame (`render_text`, `render_html`). ``_repr_mimebundle_`` always carries ``text/plain`` and never fails silently:
on a rendering error it returns the text view with the error. Every cluster-derived string in the HTML is escaped.
"""

from __future__ import annotations

import html
import logging
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

from kubecopilot.cluster._columns import columns_for, redact_secret
from kubecopilot.cluster._discovery import Kind

__all__ = ["HTML_ROWS", "TEXT_ROWS", "ResourceTable", "badge_colour", "build_table", "render_html", "render_text"]

log = logging.getLogger("kubecopilot.cluster")

HTML_ROWS = 50
TEXT_ROWS = 20
_CELL = 60  # text view: longer cells are cut with "…"

_GREEN = {"Running", "Ready", "Succeeded", "Completed", "Complete", "Active", "Bound", "Available", "Normal", "True"}
_AMBER = {"Pending", "ContainerCreating", "PodInitializing", "Terminating", "Unknown", "Released", "Suspended",
          "SchedulingGated", "Warning", "NotReady", "Running,NotReady"}
_RED = {"CrashLoopBackOff", "Error", "Failed", "ImagePullBackOff", "ErrImagePull", "OOMKilled", "Evicted",
        "CreateContainerConfigError", "CreateContainerError", "RunContainerError", "InvalidImageName",
        "ContainerStatusUnknown", "Lost", "DeadlineExceeded", "BackoffLimitExceeded", "NodeLost", "False"}
_COLOURS = {"green": ("#1a7f37", "#dafbe1"), "amber": ("#9a6700", "#fff8c5"), "red": ("#cf222e", "#ffebe9"),
            "grey": ("#57606a", "#eaeef2")}


def badge_colour(value: str) -> str:
    """``green`` / ``amber`` / ``red`` / ``grey`` for a STATUS-like value (``Init:…`` and ``…,SchedulingDisabled``
    included)."""
    v = str(value)
    if v in _RED or v.startswith(("Init:Error", "Init:CrashLoop", "Init:ImagePull", "Init:ErrImage", "ExitCode:",
                                  "Signal:", "Init:ExitCode", "Init:Signal")):
        return "red"
    if v.startswith("NotReady"):
        return "red"
    if "SchedulingDisabled" in v or v.startswith("Init:"):
        return "amber"
    if v in _GREEN:
        return "green"
    if v in _AMBER:
        return "amber"
    return "grey"


class ResourceTable:
    """Objects of one kind as a table: ``.frame`` (kubectl-like columns), ``.objects`` (raw JSON dicts, in the same
    order; Secrets carry key sizes, never values).

    ``len(table)``, iteration (over the raw objects), ``table["STATUS"]`` (a column), ``table[0]`` (an object),
    ``table.where(status="Running")`` and ``table.to_frame()`` (a copy to work on with pandas).
    """

    def __init__(self, kind: Kind, frame: Any, objects: list[dict[str, Any]], *, context: str | None = None,
                 namespace: str | None = None, selector: str | None = None, fields: str | None = None) -> None:
        self.kind = kind
        self.frame = frame
        self.objects = objects
        self.context = context
        self.namespace = namespace
        self.selector = selector
        self.fields = fields

    # -- container protocol -----------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.objects)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.objects)

    def __getitem__(self, key: int | str) -> Any:
        if isinstance(key, str):
            return self.frame[key]
        return self.objects[key]

    @property
    def columns(self) -> list[str]:
        return list(self.frame.columns)

    @property
    def names(self) -> list[str]:
        return self.frame["NAME"].tolist() if len(self.frame) else []

    def to_frame(self) -> Any:
        return self.frame.copy()

    def _subset(self, mask: Any) -> ResourceTable:
        keep = [i for i, m in enumerate(mask.tolist()) if m]
        frame = self.frame[mask.to_numpy()].reset_index(drop=True)
        return ResourceTable(self.kind, frame, [self.objects[i] for i in keep], context=self.context,
                             namespace=self.namespace, selector=self.selector, fields=self.fields)

    def where(self, predicate: Callable[[Any], Any] | None = None, **columns: Any) -> ResourceTable:
        """Rows matching every condition. Keyword names are columns, case-insensitive, ``_`` for ``-``/space
        (``up_to_date=1``, ``last_seen=...``). A value may be a scalar (equality), a list/tuple/set (one of) or a
        callable on the column (``restarts=lambda s: s > 3``). ``predicate`` takes the frame, returns a mask."""
        import pandas as pd

        mask = pd.Series(True, index=self.frame.index, dtype=bool)
        if predicate is not None:
            mask &= pd.Series(predicate(self.frame), index=self.frame.index).astype(bool)
        lookup = {c.upper().replace("-", "_").replace(" ", "_"): c for c in self.frame.columns}
        for key, want in columns.items():
            col = lookup.get(key.upper())
            if col is None:
                raise KeyError(f"no column {key!r} in this {self.kind.kind} table; columns: {', '.join(self.columns)}")
            series = self.frame[col]
            if callable(want):
                mask &= pd.Series(want(series), index=self.frame.index).astype(bool)
            elif isinstance(want, list | tuple | set | frozenset):
                mask &= series.isin(list(want))
            else:
                mask &= series == want
        return self._subset(mask)

    # -- displays ---------------------------------------------------------------------------------------------
    def _title(self) -> str:
        where = []
        if self.kind.namespaced:
            where.append(f"namespace {self.namespace}" if self.namespace else "all namespaces")
        if self.selector:
            where.append(f"selector {self.selector}")
        if self.fields:
            where.append(f"fields {self.fields}")
        if self.context:
            where.append(f"context {self.context}")
        return f"{self.kind.full_name}: {len(self)} " + ("object" if len(self) == 1 else "objects") + \
            (f" ({', '.join(where)})" if where else "")

    def __repr__(self) -> str:
        return render_text(self)

    def __str__(self) -> str:
        return render_text(self)

    def _repr_html_(self) -> str:
        return render_html(self)

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, str]:
        try:
            text = render_text(self)
        except Exception as e:  # never silent: say what failed
            log.exception("rendering a ResourceTable as text failed")
            return {"text/plain": f"<ResourceTable of {len(self)} {self.kind.full_name}: text view failed: "
                                  f"{type(e).__name__}: {e}>"}
        bundle = {"text/plain": text}
        try:
            bundle["text/html"] = render_html(self)
        except Exception as e:
            log.exception("rendering a ResourceTable as HTML failed")
            bundle["text/plain"] = f"{text}\n(HTML view failed: {type(e).__name__}: {e})"
        if include:
            bundle = {k: v for k, v in bundle.items() if k in include or k == "text/plain"}
        if exclude:
            bundle = {k: v for k, v in bundle.items() if k not in exclude or k == "text/plain"}
        return bundle


def _cut(value: Any, width: int = _CELL) -> str:
    s = str(value).replace("\n", " ")
    return s if len(s) <= width else s[: width - 1] + "…"


def render_text(table: ResourceTable, rows: int = TEXT_ROWS) -> str:
    """A plain-text table of the first ``rows`` rows, kubectl-style, under a one-line title."""
    frame = table.frame
    cols = list(frame.columns)
    head = frame.head(rows)
    body = [[_cut(v) for v in r] for r in head.itertuples(index=False, name=None)]
    widths = [max([len(c)] + [len(r[i]) for r in body]) for i, c in enumerate(cols)]
    lines = [table._title()]
    if not len(frame):
        return lines[0] + "\n(no objects)"
    lines.append("  ".join(c.ljust(w) for c, w in zip(cols, widths, strict=True)).rstrip())
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip() for r in body]
    if len(frame) > rows:
        lines.append(f"... {rows} of {len(frame)} rows shown (table.frame has them all)")
    return "\n".join(lines)


def _badge(value: str) -> str:
    fg, bg = _COLOURS[badge_colour(value)]
    return (f'<span style="color:{fg};background:{bg};border-radius:8px;padding:1px 7px;'
            f'font-weight:600;white-space:nowrap">{html.escape(value)}</span>')


def render_html(table: ResourceTable, rows: int = HTML_ROWS) -> str:
    """An HTML table of the first ``rows`` rows with status badges; every value is escaped."""
    e = html.escape
    frame = table.frame
    cols = list(frame.columns)
    badge_at = {i for i, c in enumerate(cols) if c == "STATUS" or (c == "TYPE" and table.kind.kind == "Event")}
    out = ['<div class="kc-table">',
           f'<div style="font-weight:600;margin-bottom:4px">{e(table._title())}</div>']
    if not len(frame):
        out.append("<div><i>no objects</i></div></div>")
        return "".join(out)
    out.append('<table style="border-collapse:collapse;font-size:12px"><thead><tr>')
    out += [f'<th style="text-align:left;padding:2px 8px">{e(c)}</th>' for c in cols]
    out.append("</tr></thead><tbody>")
    for r in frame.head(rows).itertuples(index=False, name=None):
        out.append("<tr>")
        for i, v in enumerate(r):
            s = str(v)
            cell = _badge(s) if i in badge_at else e(_cut(s, 120))
            title = f' title="{e(s)}"' if len(s) > 120 else ""
            out.append(f'<td style="text-align:left;padding:2px 8px"{title}>{cell}</td>')
        out.append("</tr>")
    out.append("</tbody></table>")
    shown = min(rows, len(frame))
    out.append(f'<div style="color:#57606a;font-size:11px">{shown} of {len(frame)} rows'
               + (" (all of them are in <code>.frame</code>)" if shown < len(frame) else "") + "</div></div>")
    return "".join(out)


def build_table(kind: Kind, items: list[dict[str, Any]], *, now: float | None = None, **info: Any) -> ResourceTable:
    """Raw items of ``kind`` → `ResourceTable` (Secrets are redacted first: values never enter the table)."""
    import pandas as pd

    now = time.time() if now is None else now
    if kind.kind == "Secret" and kind.group == "":
        items = [redact_secret(o) for o in items]
    cols, row = columns_for(kind.group, kind.kind, kind.namespaced)
    rows = [row(o, now) for o in items]
    frame = pd.DataFrame.from_records(rows, columns=cols) if rows else pd.DataFrame(columns=cols)
    return ResourceTable(kind, frame, items, **info)


def objects_size(objects: list[dict[str, Any]]) -> int:
    """A rough deep size of raw JSON objects in bytes (for benchmarks; shared strings counted once)."""
    seen: set[int] = set()
    total = 0
    stack: list[Any] = [objects]
    while stack:
        o = stack.pop()
        if id(o) in seen:
            continue
        seen.add(id(o))
        total += sys.getsizeof(o)
        if isinstance(o, dict):
            stack.extend(o.keys())
            stack.extend(o.values())
        elif isinstance(o, list):
            stack.extend(o)
    return total
