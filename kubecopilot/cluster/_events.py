"""Events: ``ws.events(namespace=, kind=, name=, reason=, type=, since=)`` as an `EventTable` with a plotly
``.timeline()``.

Filters on the involved object, reason and type go to the API server as field selectors (core/v1 events support
them), so only matching events travel; ``since`` is applied here on each event's last occurrence, because the
server cannot filter on time. An event's times come from whichever fields its writer filled: ``eventTime`` and
``series`` (events.k8s.io-style writers), or ``firstTimestamp`` / ``lastTimestamp`` / ``count`` (the kubelet and
most controllers), falling back to the object's creation time.
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from kubecopilot.cluster._columns import _ts
from kubecopilot.cluster._discovery import Kind, kinds_for, resolve_kind
from kubecopilot.cluster._table import ResourceTable, build_table

__all__ = ["EventTable", "event_source", "event_times", "list_events", "parse_since"]

_DURATION = re.compile(r"^\s*(?:(\d+(?:\.\d+)?)d)?\s*(?:(\d+(?:\.\d+)?)h)?\s*(?:(\d+(?:\.\d+)?)m)?\s*"
                       r"(?:(\d+(?:\.\d+)?)s)?\s*$")


def parse_since(since: timedelta | str | datetime | float | int | None, *, now: float | None = None) -> float | None:
    """A cut-off as epoch seconds: ``timedelta``, ``"15m"`` / ``"2h"`` / ``"1d12h"`` / ``"90s"``, a number of
    seconds, or a ``datetime`` (naive means UTC). ``None`` means no cut-off."""
    now = time.time() if now is None else now
    if since is None:
        return None
    if isinstance(since, datetime):
        return (since if since.tzinfo else since.replace(tzinfo=UTC)).timestamp()
    if isinstance(since, timedelta):
        return now - since.total_seconds()
    if isinstance(since, bool):
        raise TypeError("since= takes a timedelta, a duration like '15m', a number of seconds or a datetime")
    if isinstance(since, int | float):
        return now - float(since)
    if isinstance(since, str):
        m = _DURATION.match(since)
        if since.strip() and m and any(m.groups()):
            d, h, mi, s = (float(g) if g else 0.0 for g in m.groups())
            return now - (d * 86400 + h * 3600 + mi * 60 + s)
        try:
            return parse_since(datetime.fromisoformat(since.strip().replace("Z", "+00:00")), now=now)
        except ValueError:
            pass
        raise ValueError(f"cannot read since={since!r}: use a duration like '90s', '15m', '2h', '1d', a timedelta, "
                         "a number of seconds or a datetime / ISO timestamp")
    raise TypeError(f"since= takes a timedelta, a duration like '15m', seconds or a datetime, not "
                    f"{type(since).__name__}")


def event_times(event: dict[str, Any]) -> tuple[float | None, float | None, int]:
    """(first, last, count) of an event, epoch seconds; see the module docstring for the fields used."""
    series = event.get("series") or {}
    created = _ts((event.get("metadata") or {}).get("creationTimestamp"))
    first = _ts(event.get("eventTime")) or _ts(event.get("firstTimestamp")) or \
        _ts(event.get("deprecatedFirstTimestamp")) or created
    last = _ts(series.get("lastObservedTime")) or _ts(event.get("lastTimestamp")) or \
        _ts(event.get("deprecatedLastTimestamp")) or first
    count = int(series.get("count") or event.get("count") or event.get("deprecatedCount") or 1)
    if first is not None and last is not None and last < first:
        first = last
    return first, last, count


def event_source(event: dict[str, Any]) -> str:
    """Who reported it: ``source.component`` (``kubelet``), else the reporting controller (kubectl's From)."""
    return ((event.get("source") or {}).get("component") or event.get("reportingComponent")
            or event.get("reportingController") or "")


def involved(event: dict[str, Any]) -> dict[str, Any]:
    return event.get("involvedObject") or event.get("regarding") or {}


def _iso(t: float | None) -> datetime | None:
    return datetime.fromtimestamp(t, UTC) if t is not None else None


class EventTable(ResourceTable):
    """Events as a `ResourceTable` (``.frame``: LAST SEEN, TYPE, REASON, OBJECT, COUNT, MESSAGE; ``.objects``: raw
    events), newest first. ``.timeline()`` draws them; ``.timeline_frame()`` has the exact times."""

    def __init__(self, kind: Kind, frame: Any, objects: list[dict[str, Any]], *, since: float | None = None,
                 filters: dict[str, str] | None = None, **info: Any) -> None:
        super().__init__(kind, frame, objects, **info)
        self.since = since
        self.filters = dict(filters or {})

    def _subset(self, mask: Any) -> EventTable:
        keep = [i for i, m in enumerate(mask.tolist()) if m]
        frame = self.frame[mask.to_numpy()].reset_index(drop=True)
        return EventTable(self.kind, frame, [self.objects[i] for i in keep], since=self.since, filters=self.filters,
                          context=self.context, namespace=self.namespace, selector=self.selector, fields=self.fields)

    def _title(self) -> str:
        title = super()._title()
        extra = [f"{k} {v}" for k, v in self.filters.items()]
        if self.since is not None:
            extra.append(f"since {datetime.fromtimestamp(self.since, UTC):%Y-%m-%d %H:%M:%S}Z")
        return title + (f" [{', '.join(extra)}]" if extra else "")

    @property
    def warnings(self) -> EventTable:
        """Only the Warning events."""
        return self.where(type="Warning")

    def timeline_rows(self) -> list[dict[str, Any]]:
        """One plain dict per event: namespace, object (``kind/name``), kind, name, type, reason, message, count,
        source, first, last (UTC datetimes) — what the timeline draws."""
        rows = []
        for e in self.objects:
            first, last, count = event_times(e)
            inv = involved(e)
            rows.append({
                "namespace": (e.get("metadata") or {}).get("namespace") or "",
                "object": f"{(inv.get('kind') or '').lower()}/{inv.get('name') or ''}",
                "kind": inv.get("kind") or "", "name": inv.get("name") or "",
                "type": e.get("type") or "", "reason": e.get("reason") or "",
                "message": (e.get("message") or e.get("note") or "").strip(), "count": count,
                "source": event_source(e), "first": _iso(first), "last": _iso(last)})
        return rows

    def timeline_frame(self) -> Any:
        """`timeline_rows` as a DataFrame, oldest first."""
        import pandas as pd

        cols = ["namespace", "object", "kind", "name", "type", "reason", "message", "count", "source", "first",
                "last"]
        frame = pd.DataFrame(self.timeline_rows(), columns=cols)
        return frame.sort_values("last", kind="stable").reset_index(drop=True) if len(frame) else frame

    def timeline(self, *, title: str | None = None) -> Any:
        """A plotly Figure: x = time (a segment from first to last occurrence, a dot at the last one), y = the
        involved object, colour = Normal / Warning, hover = reason, message and count."""
        from kubecopilot.display import event_timeline

        return event_timeline(self.timeline_rows(), title=title or self._title())


def _sort_key(e: dict[str, Any]) -> float:
    return event_times(e)[1] or 0.0


def list_events(conn: Any, *, namespace: str | None = None, kind: str | Kind | None = None, name: str | None = None,
                reason: str | None = None, type: str | None = None, since: Any = None,
                fields: str | None = None) -> EventTable:
    """The events matching every given filter, newest first (see `EventTable`)."""
    ev_kind = resolve_kind(conn, "events")
    filters: dict[str, str] = {}
    selectors: list[str] = []
    if kind is not None:
        k = kind if isinstance(kind, Kind) else kinds_for(conn).find(kind) or resolve_kind(conn, kind)
        filters["kind"] = k.kind
        selectors.append(f"involvedObject.kind={k.kind}")
    if name:
        filters["name"] = name
        selectors.append(f"involvedObject.name={name}")
    if reason:
        filters["reason"] = reason
        selectors.append(f"reason={reason}")
    if type:
        t = type.strip().capitalize()
        if t not in ("Normal", "Warning"):
            raise ValueError(f"type={type!r}: events are 'Normal' or 'Warning'")
        filters["type"] = t
        selectors.append(f"type={t}")
    if fields:
        filters["fields"] = fields
        selectors.append(fields)
    cutoff = parse_since(since)
    answer = conn.list(ev_kind.path(namespace), fieldSelector=",".join(selectors) or None)
    items = []
    for e in answer.get("items") or []:
        (e.get("metadata") or {}).pop("managedFields", None)
        if cutoff is None or (_sort_key(e) or 0) >= cutoff:
            items.append(e)
    items.sort(key=_sort_key, reverse=True)
    base = build_table(ev_kind, items, context=conn.context, namespace=namespace)
    return EventTable(ev_kind, base.frame, base.objects, since=cutoff, filters=filters, context=conn.context,
                      namespace=namespace)
