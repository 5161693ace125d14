"""`Resource`: the detail view of one object (``ws.get(ref)``): summary, conditions, events, YAML and related objects,
plus ``describe()`` (kubectl-describe-like text) and, for Secrets, an audited ``reveal()``.

A Resource is a snapshot: one GET of the object, then its events and related collections read in parallel
(`find_related`). Secrets are reduced to key sizes the moment they are read, so no Secret value is ever held by a
Resource, its repr, HTML, YAML or describe text; ``reveal()`` reads the values again, writes a ``secret.revealed``
audit event (key names only) and hands them to the caller without keeping them.
"""

from __future__ import annotations

import base64
import copy
import html
import logging
import time
from typing import Any

from kubecopilot.cluster._columns import _b64_size, columns_for, human_age, human_duration, redact_secret
from kubecopilot.cluster._describe import describe_object
from kubecopilot.cluster._discovery import resolve_kind
from kubecopilot.cluster._events import event_source, event_times, involved
from kubecopilot.cluster._refs import ObjectRef
from kubecopilot.cluster._related import Related, Skips, find_related, health_of
from kubecopilot.errors import ClusterForbiddenError

__all__ = ["Resource", "load_resource"]

log = logging.getLogger("kubecopilot.cluster")

HEALTH_BADGE = {"ok": "green", "warn": "amber", "bad": "red", "unknown": "grey"}
EVENT_ROWS = 50


def _is_secret(ref: ObjectRef) -> bool:
    return ref.kind.kind == "Secret" and ref.kind.group == ""


def clean_object(obj: dict[str, Any], *, secret: bool = False) -> tuple[dict[str, Any], dict[str, int] | None]:
    """A copy without ``managedFields``; for a Secret also (copy with ``data`` values replaced by ``"<N bytes>"``,
    the key sizes)."""
    if secret:
        sizes = {k: _b64_size(v) for k, v in (obj.get("data") or {}).items()}
        out = redact_secret(obj)
        out["data"] = {k: f"<{n} bytes>" for k, n in sizes.items()}
        return out, sizes
    out = copy.copy(obj)
    meta = dict(out.get("metadata") or {})
    meta.pop("managedFields", None)
    out["metadata"] = meta
    return out, None


class Resource:
    """One object in detail. ``object`` (the cleaned dict), ``events`` (oldest first), ``related`` (`Related`
    objects), ``skipped`` (related kinds that could not be read, with the reason), ``conditions``, ``yaml``,
    ``describe()``; Secrets add ``keys`` (name → bytes) and ``reveal()``."""

    def __init__(self, ref: ObjectRef, obj: dict[str, Any], *, events: list[dict[str, Any]] | None = None,
                 events_note: str | None = None, related: list[Related] | None = None, skipped: Skips | None = None,
                 extra: dict[str, Any] | None = None, secret_sizes: dict[str, int] | None = None,
                 connection: Any = None, fetched_at: float | None = None) -> None:
        self.ref = ref
        self.object = obj
        self.events = sorted(events, key=lambda e: event_times(e)[1] or 0) if events is not None else None
        self.events_note = events_note
        self.related = list(related or [])
        self.skipped = dict(skipped or {})
        self._extra = dict(extra or {})
        self._sizes = secret_sizes
        self._conn = connection
        self.context = getattr(connection, "context", None)
        self.fetched_at = time.time() if fetched_at is None else fetched_at

    # -- identity --------------------------------------------------------------------------------------------------
    @property
    def kind(self) -> str:
        return self.ref.kind.kind

    @property
    def name(self) -> str:
        return self.ref.name

    @property
    def namespace(self) -> str | None:
        return self.ref.namespace

    @property
    def metadata(self) -> dict[str, Any]:
        return self.object.get("metadata") or {}

    @property
    def labels(self) -> dict[str, str]:
        return dict(self.metadata.get("labels") or {})

    @property
    def annotations(self) -> dict[str, str]:
        return dict(self.metadata.get("annotations") or {})

    @property
    def is_secret(self) -> bool:
        return _is_secret(self.ref)

    @property
    def keys(self) -> dict[str, int]:
        """A Secret's keys and their sizes in bytes (``{}`` for other kinds)."""
        return dict(self._sizes or {})

    # -- derived views -------------------------------------------------------------------------------------------------
    @property
    def status(self) -> tuple[str, str]:
        """(headline status, health ``ok``/``warn``/``bad``/``unknown``)."""
        endpoints = self._extra.get("endpoints") if self.kind == "Service" else None
        return health_of(self.kind, self.object, endpoints=endpoints)

    @property
    def conditions(self) -> list[dict[str, Any]]:
        st = self.object.get("status")
        return list(st.get("conditions") or []) if isinstance(st, dict) else []

    @property
    def owners(self) -> list[Related]:
        return [r for r in self.related if r.relation == "owner"]

    @property
    def yaml(self) -> str:
        """The object as YAML (field order kept, managedFields removed, Secret data as ``<N bytes>``)."""
        import yaml

        return yaml.safe_dump(self.object, sort_keys=False, default_flow_style=False, allow_unicode=True, width=120)

    def summary(self) -> list[tuple[str, str]]:
        """(label, value) pairs: kind, place, status, the kubectl columns of the kind, labels, created, owner."""
        k = self.ref.kind
        status, _ = self.status
        rows: list[tuple[str, str]] = [("Kind", f"{k.kind} ({k.api_version})")]
        if self.namespace:
            rows.append(("Namespace", self.namespace))
        rows += [("Name", self.name), ("Status", status)]
        cols, row = columns_for(k.group, k.kind, k.namespaced)
        source = redact_secret(self.object) if self.is_secret else self.object
        if self.is_secret:  # the table's KEYS column reads "<redacted: N bytes>"
            source = {**source, "data": {n: f"<redacted: {b} bytes>" for n, b in (self._sizes or {}).items()}}
        for c, v in zip(cols, row(source, self.fetched_at), strict=True):
            if c not in ("NAMESPACE", "NAME", "STATUS", "LABELS"):
                rows.append((c.title() if c.isupper() else c, str(v)))
        meta = self.metadata
        rows.append(("Labels", ", ".join(f"{a}={b}" for a, b in (meta.get("labels") or {}).items()) or "<none>"))
        if meta.get("annotations"):
            rows.append(("Annotations", f"{len(meta['annotations'])} (in the YAML)"))
        rows.append(("Created", f"{meta.get('creationTimestamp')} ({human_age(meta.get('creationTimestamp'))} ago)"))
        for r in (meta.get("ownerReferences") or [])[:1]:
            rows.append(("Controlled by", f"{r.get('kind')}/{r.get('name')}"))
        return rows

    def events_frame(self) -> Any:
        """The object's events as a DataFrame (type, reason, first, last, count, from, message), oldest first."""
        import pandas as pd

        rows = []
        for e in self.events or []:
            first, last, count = event_times(e)
            rows.append({"type": e.get("type") or "", "reason": e.get("reason") or "",
                         "first": pd.to_datetime(first, unit="s", utc=True) if first else None,
                         "last": pd.to_datetime(last, unit="s", utc=True) if last else None,
                         "count": count, "from": event_source(e), "message": (e.get("message") or "").strip()})
        return pd.DataFrame(rows, columns=["type", "reason", "first", "last", "count", "from", "message"])

    def related_frame(self) -> Any:
        import pandas as pd

        return pd.DataFrame([{"relation": r.relation, "kind": r.kind, "namespace": r.namespace or "", "name": r.name,
                              "status": r.status, "health": r.health, "detail": r.detail} for r in self.related],
                            columns=["relation", "kind", "namespace", "name", "status", "health", "detail"])

    def conditions_frame(self) -> Any:
        import pandas as pd

        return pd.DataFrame([{k: c.get(k) for k in ("type", "status", "reason", "message", "lastTransitionTime")}
                             for c in self.conditions],
                            columns=["type", "status", "reason", "message", "lastTransitionTime"])

    def describe(self) -> str:
        """kubectl-describe-like text (see `describe_object`)."""
        k = self.ref.kind
        return describe_object(k.kind, self.object, group=k.group, namespaced=k.namespaced, events=self.events,
                               events_note=self.events_note, related=self.related, skipped=self.skipped,
                               extra=self._extra, secret_sizes=self._sizes, now=self.fetched_at)

    # -- secrets -------------------------------------------------------------------------------------------------------
    def reveal(self, key: str | None = None, *, by: str | None = None) -> Any:
        """A Secret's values, read fresh from the API: ``reveal("password")`` → that value, ``reveal()`` → a dict of
        every key. Each call appends a ``secret.revealed`` audit event first (actor: ``by`` or the connection's user;
        payload: the key names, never values). Values are ``str`` when they are UTF-8, else ``bytes``, and are not
        kept anywhere by this object."""
        if not self.is_secret:
            raise TypeError(f"{self.ref} is a {self.kind}: only Secrets have values to reveal")
        if self._conn is None:
            raise RuntimeError("this Resource was built without a connection: use ws.get(...).reveal()")
        return reveal_secret(self._conn, self.ref, key, by=by)

    def refresh(self) -> Resource:
        """A fresh snapshot of the same object."""
        return load_resource(self._conn, self.ref)

    # -- displays ------------------------------------------------------------------------------------------------------
    def __repr__(self) -> str:
        status, _ = self.status
        events = "?" if self.events is None else str(len(self.events))
        return (f"Resource({self.ref}, status={status!r}, related={len(self.related)}, events={events}"
                + (f", keys={len(self._sizes or {})}" if self.is_secret else "") + ")")

    def __str__(self) -> str:
        return self.describe()

    def _repr_html_(self) -> str:
        from kubecopilot.display import badge, details, html_table, kv_table, pre_lines

        e = html.escape
        status, health = self.status
        out = ['<div class="kc-resource" style="font-size:12px">',
               f'<div style="font-size:14px;margin-bottom:4px"><b>{e(self.kind)}</b> '
               f'{e(self.namespace + "/") if self.namespace else ""}<b>{e(self.name)}</b> '
               f'{badge(status, HEALTH_BADGE.get(health))}'
               + (f' <span style="color:#57606a">context {e(self.context)}</span>' if self.context else "")
               + "</div>", kv_table([r for r in self.summary() if r[0] != "Status"])]
        if self.is_secret:
            out.append("<h4 style='margin:8px 0 2px'>Keys</h4>" + html_table(
                ["KEY", "BYTES"], sorted((self._sizes or {}).items()), empty="no keys")
                + '<div style="color:#57606a">values are hidden: <code>.reveal(key, by="you")</code> reads one '
                  "and writes an audit event</div>")
        if self.conditions:
            out.append("<h4 style='margin:8px 0 2px'>Conditions</h4>" + html_table(
                ["TYPE", "STATUS", "REASON", "MESSAGE", "LAST TRANSITION"],
                [(c.get("type"), c.get("status"), c.get("reason") or "", c.get("message") or "",
                  human_age(c.get("lastTransitionTime"), self.fetched_at) + " ago"
                  if c.get("lastTransitionTime") else "") for c in self.conditions], badges=["STATUS"]))
        rel = [(r.relation, r.kind, r.namespace or "", r.name, badge(r.status or r.health, HEALTH_BADGE.get(r.health)),
                r.detail) for r in self.related]
        out.append(f"<h4 style='margin:8px 0 2px'>Related objects ({len(rel)})</h4>" + html_table(
            ["RELATION", "KIND", "NAMESPACE", "NAME", "STATUS", "DETAIL"], rel, raw=["STATUS"],
            empty="none found"))
        for what, why in sorted(self.skipped.items()):
            out.append(f'<div style="color:#9a6700">not shown: {e(what)}: {e(why)}</div>')
        if self.events is None:
            out.append(f"<h4 style='margin:8px 0 2px'>Events</h4><div>unknown: {e(self.events_note or '')}</div>")
        else:
            rows = []
            for ev in self.events[-EVENT_ROWS:]:
                _, last, count = event_times(ev)
                age = human_duration(self.fetched_at - last) if last is not None else "<unknown>"
                rows.append((ev.get("type") or "", ev.get("reason") or "", age, event_source(ev), count,
                             (ev.get("message") or "").strip()))
            out.append(f"<h4 style='margin:8px 0 2px'>Events ({len(self.events)})</h4>" + html_table(
                ["TYPE", "REASON", "AGE", "FROM", "COUNT", "MESSAGE"], rows, badges=["TYPE"], empty="no events"))
        out.append(details("YAML", pre_lines(self.yaml.splitlines())))
        out.append("</div>")
        return "".join(out)


def reveal_secret(conn: Any, ref: ObjectRef, key: str | None = None, *, by: str | None = None) -> Any:
    """Read a Secret's values, audit the reveal (key names only), return them (see `Resource.reveal`)."""
    from kubecopilot.audit import open_ledger

    raw = conn.get(ref.path)  # 403 / 404 raise before anything is audited
    data = dict(raw.get("data") or {})
    del raw
    if key is not None and key not in data:
        raise KeyError(f"{ref} has no key {key!r}; its keys: {', '.join(sorted(data)) or '(none)'}")
    keys = [key] if key is not None else sorted(data)
    open_ledger().append(by or conn.user or "unknown", "secret.revealed", object=str(ref),
                         payload={"keys": keys, "context": conn.context, "identity": conn.user})
    values = {k: _decode(data[k]) for k in keys}
    return values[key] if key is not None else values


def _decode(value: str) -> str | bytes:
    raw = base64.b64decode(value or "")
    try:
        return raw.decode()
    except UnicodeDecodeError:
        return raw


def _object_events(conn: Any, ref: ObjectRef, obj: dict[str, Any]) -> tuple[list[dict[str, Any]] | None, str | None]:
    """Events whose involved object is this one (kind + name, and namespace; the uid must match when the event
    carries one, except nodes, whose kubelet events carry the node name as uid)."""
    k = ref.kind
    sel = [f"involvedObject.kind={k.kind}", f"involvedObject.name={ref.name}"]
    if ref.namespace:
        sel.append(f"involvedObject.namespace={ref.namespace}")
    try:
        ev_kind = resolve_kind(conn, "events")
        items = conn.list(ev_kind.path(ref.namespace), fieldSelector=",".join(sel)).get("items") or []
    except ClusterForbiddenError as e:
        return None, f'forbidden: user "{e.user}" may not list events'
    uid = (obj.get("metadata") or {}).get("uid")
    out = []
    for e in items:
        (e.get("metadata") or {}).pop("managedFields", None)
        ev_uid = involved(e).get("uid")
        if uid and ev_uid and ev_uid not in (uid, ref.name):
            continue
        out.append(e)
    return out, None


def load_resource(conn: Any, ref: ObjectRef) -> Resource:
    """GET the object, then read its events and related collections in parallel (see the module docstring)."""
    started = time.time()
    raw = conn.get(ref.path)
    obj, sizes = clean_object(raw, secret=_is_secret(ref))
    del raw
    related, skipped, data = find_related(conn, ref.kind, obj,
                                          extra={"events": lambda: _object_events(conn, ref, obj)})
    events, note = data.pop("events")
    if note:
        skipped["events"] = note
    extra: dict[str, Any] = {}
    if ref.kind.kind == "Service":
        extra["endpoints"] = next((e for e in data.get("endpoints") or []
                                   if (e.get("metadata") or {}).get("name") == ref.name), None)
    if ref.kind.kind == "Ingress" and data.get("endpoints") is not None:
        extra["service_endpoints"] = {(e.get("metadata") or {}).get("name"): e for e in data["endpoints"]}
    if ref.kind.kind == "Deployment":
        extra["replicasets"] = data.get("replicasets")
    if ref.kind.kind == "Node":
        extra["pods"] = data.get("pods")
    return Resource(ref, obj, events=events, events_note=note, related=related, skipped=skipped, extra=extra,
                    secret_sizes=sizes, connection=conn, fetched_at=started)
