"""`Postmortem`: the report as plain data (DataFrames and lists), with Markdown, HTML and notebook renderings."""

from __future__ import annotations

import datetime as dt
import html
import logging
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from kubecopilot.postmortems import _render

__all__ = ["Postmortem"]

log = logging.getLogger("kubecopilot.postmortems")

TIMELINE_COLUMNS = ["ts", "source", "object", "what", "detail", "actor", "severity"]
IMPACT_COLUMNS = ["object", "kind", "start", "end", "minutes", "status", "warnings", "reasons", "objects",
                  "fixed_by_plan_at"]
ROOT_COLUMNS = ["rule", "severity", "object", "cause", "evidence", "diagnosis_id", "seen", "times_seen"]
ACTION_COLUMNS = ["plan_id", "action", "object", "status", "summary", "risk", "requested_by", "approved_by",
                  "executed_by", "created", "executed"]
CHAIN_COLUMNS = ["diagnosis_id", "plan_id", "target", "engine", "llm_status", "prompt", "model", "confidence"]


def _frame(rows: list[dict[str, Any]], columns: list[str]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=columns) if rows else pd.DataFrame(columns=columns)


@dataclass
class Postmortem:
    """A postmortem over ``[since, until)``, optionally one namespace. Build it with ``kc.postmortem(...)``.

    Sections are plain data: ``timeline``, ``impact``, ``root_causes``, ``actions`` (DataFrames), ``action_items``
    (list of str), ``chain`` (which rules, prompts and models contributed). Render with ``to_markdown()``,
    ``to_html()`` (self-contained, plotly embedded for offline viewing), ``write(path)`` or in a notebook.
    """

    since: dt.datetime
    until: dt.datetime
    namespace: str | None
    title: str
    timeline: pd.DataFrame
    impact: pd.DataFrame
    root_causes: pd.DataFrame
    actions: pd.DataFrame
    action_items: list[str]
    chain: pd.DataFrame
    llm_usage: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    generated_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC).replace(tzinfo=None))
    context: str | None = None

    @classmethod
    def from_analysis(cls, analysis: Any, collected: Any, *, title: str | None, context: str | None) -> Postmortem:
        scope = f"namespace {collected.namespace}" if collected.namespace else "the cluster"
        return cls(
            since=collected.since, until=collected.until, namespace=collected.namespace,
            title=title or f"Postmortem: {scope}, {collected.since:%Y-%m-%d %H:%M} - {collected.until:%H:%M} UTC",
            timeline=_frame(analysis.timeline, TIMELINE_COLUMNS), impact=_frame(analysis.impact, IMPACT_COLUMNS),
            root_causes=_frame(analysis.root_causes, ROOT_COLUMNS), actions=_frame(analysis.actions, ACTION_COLUMNS),
            action_items=list(analysis.action_items), chain=_frame(analysis.chain, CHAIN_COLUMNS),
            llm_usage=list(collected.llm_usage), notes=list(collected.notes), context=context,
        )

    # -- summary -----------------------------------------------------------------------------------------------
    @property
    def root_cause(self) -> str | None:
        """The likeliest root cause in one line (the first ranked finding), or None."""
        if self.root_causes.empty:
            return None
        r = self.root_causes.iloc[0]
        return f"{r['object']}: {r['cause']} [{r['rule']}]"

    def summary(self) -> str:
        impacted = len(self.impact)
        ongoing = int((self.impact["status"] == "ongoing").sum()) if impacted else 0
        executed = int((self.actions["status"] == "executed").sum()) if len(self.actions) else 0
        worst = f", longest {self.impact['minutes'].max():.0f} min" if impacted else ""
        parts = [f"{impacted} workload(s)/object(s) impacted{worst}" + (f" ({ongoing} ongoing)" if ongoing else ""),
                 f"root cause: {self.root_cause}" if self.root_cause else "no root cause recorded",
                 f"{len(self.actions)} plan(s), {executed} executed", f"{len(self.action_items)} action item(s)"]
        return "; ".join(parts)

    def __repr__(self) -> str:
        return (f"Postmortem({self.title!r}, events={len(self.timeline)}, impacted={len(self.impact)}, "
                f"plans={len(self.actions)}, action_items={len(self.action_items)})")

    def __str__(self) -> str:
        return self.to_markdown()

    # -- renderings --------------------------------------------------------------------------------------------
    def figures(self) -> dict[str, Any]:
        """Plotly figures: ``timeline`` (events and audit actions over time) and ``impact`` (unavailability bars)."""
        return _render.figures(self)

    def to_markdown(self) -> str:
        return _render.markdown(self)

    def to_html(self, *, include_plotlyjs: bool | str = True) -> str:
        """A self-contained HTML page; plotly.js is embedded (``True``) so it opens offline."""
        return _render.html_page(self, include_plotlyjs=include_plotlyjs)

    def _repr_markdown_(self) -> str:
        return self.to_markdown()

    def _repr_html_(self) -> str:
        try:
            return _render.html_body(self, include_plotlyjs=False, charts=False)
        except Exception as e:  # a repr never fails silently: show why
            log.exception("postmortem HTML rendering failed")
            return f"<pre>{html.escape(repr(self))}\nHTML rendering failed: {html.escape(str(e))}</pre>"

    def write(self, path: str | Path) -> Path:
        """Write ``.html`` (self-contained) or ``.md`` by the file's suffix; returns the path."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.suffix.lower() in (".html", ".htm"):
            path.write_text(self.to_html(), encoding="utf-8")
        elif path.suffix.lower() in (".md", ".markdown"):
            path.write_text(self.to_markdown(), encoding="utf-8")
        else:
            raise ValueError(f"cannot tell the format of {path.name!r}: use a .html or .md file name")
        return path

    def to_dict(self) -> dict[str, Any]:
        """JSON-able body (what the ledger stores), including the Markdown rendering."""
        def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
            return [{k: (v.isoformat() if isinstance(v, (dt.datetime, pd.Timestamp)) else
                         (None if isinstance(v, float) and pd.isna(v) else v))
                     for k, v in row.items()} for row in frame.to_dict("records")]

        return {"id": self.id, "title": self.title, "since": self.since.isoformat(), "until": self.until.isoformat(),
                "namespace": self.namespace, "context": self.context, "summary": self.summary(),
                "impact": records(self.impact), "root_causes": records(self.root_causes),
                "actions": records(self.actions), "action_items": self.action_items, "chain": records(self.chain),
                "timeline_events": len(self.timeline), "notes": self.notes, "markdown": self.to_markdown()}

    def save(self, ledger: Any | None = None, *, actor: str = "kubecopilot") -> None:
        """Store the report in the ledger (``postmortems`` table) and append ``postmortem.written``."""
        from kubecopilot.audit import open_ledger

        led = ledger or open_ledger()
        body = self.to_dict()
        led.put_record("postmortems", self.id, status="written", body=body)
        led.append(actor, "postmortem.written", object=f"namespace/{self.namespace}" if self.namespace else None,
                   payload={"postmortem_id": self.id, "title": self.title, "summary": body["summary"],
                            "since": body["since"], "until": body["until"]})
