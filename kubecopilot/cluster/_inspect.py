"""Looking closer than a list: ``ws.get`` / ``describe`` / ``reveal``, ``events``, ``logs``, ``search``,
``topology`` and ``watch`` — the `Workbench` methods of `InspectMixin`.

Each method resolves its arguments with the workbench's own helpers (``self.ref()``, discovery) and hands the raw
connection to the module that owns the idea (`_resource`, `_events`, `_logs`, `_search`, `_topology`, `_watch`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from kubecopilot.cluster._browse import _selector
from kubecopilot.cluster._describe import DescribeText
from kubecopilot.cluster._discovery import Kind, resolve_kind
from kubecopilot.cluster._events import EventTable, list_events
from kubecopilot.cluster._logs import Logs, fetch_logs
from kubecopilot.cluster._refs import ObjectRef
from kubecopilot.cluster._resource import Resource, load_resource, reveal_secret
from kubecopilot.cluster._search import SearchResult, search
from kubecopilot.cluster._topology import Topology, load_topology
from kubecopilot.cluster._watch import Watch

__all__ = ["InspectMixin"]


class InspectMixin:
    """Detail views, events, logs, search, topology and watches for `Workbench` (needs ``self._conn``,
    ``self.namespace`` and ``self.ref``)."""

    _conn: Any
    namespace: str
    ref: Any

    def get(self, ref: str | ObjectRef, name: str | None = None, namespace: str | None = None) -> Resource:
        """One object in detail: summary, conditions, events, YAML (managedFields hidden) and related objects
        (owners, selected pods, Services selecting it, mounted ConfigMaps / Secrets / PVCs, Ingresses routing to
        it). ``ws.get("deployment/payments/billing-api")`` or ``ws.get("deploy", "billing-api", namespace=...)``.
        A Secret shows key sizes only; its values come from ``.reveal()``, which is audited."""
        return load_resource(self._conn, self.ref(ref, name, namespace))

    def describe(self, ref: str | ObjectRef, name: str | None = None, namespace: str | None = None) -> DescribeText:
        """``kubectl describe``-like text of one object (the same reads as `get`)."""
        return DescribeText(self.get(ref, name, namespace).describe())

    def reveal(self, ref: str | ObjectRef, key: str | None = None, *, by: str | None = None,
               namespace: str | None = None) -> Any:
        """A Secret's value (``key=``) or all its values as a dict, read fresh; audited as ``secret.revealed``
        (actor ``by`` or this connection's user, payload: key names only)."""
        r = self.ref(ref, None, namespace)
        if r.kind.kind != "Secret" or r.kind.group != "":
            raise TypeError(f"{r} is a {r.kind.kind}: only Secrets have values to reveal")
        return reveal_secret(self._conn, r, key, by=by)

    def events(self, namespace: str | None = None, kind: str | Kind | None = None, name: str | None = None,
               reason: str | None = None, type: str | None = None, since: Any = None) -> EventTable:
        """Events (all namespaces unless ``namespace=``), filtered by the involved object's ``kind`` / ``name``,
        ``reason``, ``type`` (Normal / Warning) and ``since`` (a timedelta, ``"15m"``, ``"2h"`` or a datetime),
        newest first. ``.timeline()`` draws them (plotly)."""
        return list_events(self._conn, namespace=namespace, kind=kind, name=name, reason=reason, type=type,
                           since=since)

    def logs(self, pod: str | ObjectRef, container: str | None = None, previous: bool = False,
             tail: int | None = None, since: Any = None, *, timestamps: bool = False,
             limit_bytes: int | None = None) -> Logs:
        """A container's logs: ``pod`` is ``"pod/ns/name"``, ``"ns/name"`` or a name in the default namespace.
        ``previous=True`` reads the last terminated instance, ``tail=`` the last N lines, ``since=`` a window."""
        return fetch_logs(self, pod, container, previous=previous, tail=tail, since=since, timestamps=timestamps,
                          limit_bytes=limit_bytes)

    def search(self, text: str, namespace: str | None = None,
               kinds: Iterable[str | Kind] | None = None) -> SearchResult:
        """Objects whose name, labels, annotations or images contain ``text`` (case-insensitive), across the common
        kinds (all namespaces unless ``namespace=``). Kinds this identity may not list are in ``.skipped``."""
        return search(self._conn, text, namespace=namespace, kinds=kinds)

    def topology(self, namespace: str | None = None) -> Topology:
        """The objects of a namespace (default: this workbench's) and how they relate: owners, selectors, mounts,
        Ingress → Service → Pod; ``.figure()`` draws it, coloured by health."""
        return load_topology(self._conn, namespace or self.namespace)

    def watch(self, kind: str | Kind, namespace: str | None = None, selector: str | dict[str, Any] | None = None,
              fields: str | dict[str, Any] | None = None, *, timeout: float | None = None,
              resource_version: str | None = None) -> Watch:
        """Watch a kind: iterate it (``for ev in ws.watch("pods", namespace=ns, timeout=30)``) or display it in a
        notebook for a live table with a Stop button. Re-lists after ``410 Gone`` (a ``RELIST`` event). The first
        list happens here, so a missing permission raises at once; ``resource_version=`` resumes from a known
        version instead."""
        k = kind if isinstance(kind, Kind) else resolve_kind(self._conn, kind)
        return Watch(self._conn, k, namespace=namespace, selector=_selector(selector), fields=_selector(fields),
                     timeout=timeout, resource_version=resource_version).prime()
