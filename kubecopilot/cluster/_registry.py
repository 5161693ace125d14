"""The named connections of this process: `connect`, `connections`, `use`, `current`."""

from __future__ import annotations

import html
import os
import threading
from collections.abc import Mapping
from typing import Any

from kubecopilot.cluster._connection import Connection
from kubecopilot.cluster._kubeconfig import closest, load_kubeconfig
from kubecopilot.cluster._workbench import Workbench
from kubecopilot.errors import ConnectionNotFoundError

__all__ = ["Connections", "connect", "connections", "current", "disconnect", "use"]

_lock = threading.RLock()
_registry: dict[str, Workbench] = {}
_current: str | None = None


class Connections(dict[str, Workbench]):
    """A snapshot of the open connections (name -> Workbench) that shows as a small table."""

    def __init__(self, items: Mapping[str, Workbench], current: str | None) -> None:
        super().__init__(items)
        self.current = current

    def _rows(self) -> list[tuple[str, ...]]:
        return [("*" if n == self.current else "", n, w.context, str(w.user), w.server, w.namespace)
                for n, w in self.items()]

    def __repr__(self) -> str:
        if not self:
            return "Connections(none: call kc.connect())"
        head = ("", "name", "context", "user", "server", "namespace")
        rows = [head, *self._rows()]
        widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
        return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows)

    def _repr_html_(self) -> str:
        e = html.escape
        head = "".join(f"<th>{h}</th>" for h in ("", "name", "context", "user", "server", "namespace"))
        body = "".join("<tr>" + "".join(f"<td>{e(c)}</td>" for c in r) + "</tr>" for r in self._rows())
        return f"<table><tr>{head}</tr>{body}</table>"


def connect(kubeconfig: str | os.PathLike[str] | Mapping[str, Any] | None = None, context: str | None = None, *,
            name: str | None = None, namespace: str | None = None, connect_timeout: float = 5.0,
            read_timeout: float = 60.0, make_current: bool = True) -> Workbench:
    """Connect to a cluster and register the connection under ``name`` (default: the context name).

    ``kubeconfig``: a path (several joined with ``os.pathsep`` are merged, first wins), YAML text, a dict,
    ``"in-cluster"``, or None for ``$KUBECONFIG`` / ``~/.kube/config`` / the pod's service account.
    Nothing touches the kubernetes client's global configuration. The new connection becomes the current one
    unless ``make_current=False``.
    """
    global _current
    kc = load_kubeconfig(kubeconfig)
    reload = None
    if kc.in_cluster or (kc.sources and not any(s.startswith("<") for s in kc.sources)):
        # Files (and the pod's token file) are re-read on a 401: the user may have logged in again meanwhile.
        sources = kc.sources

        def reload() -> Any:
            return load_kubeconfig("in-cluster" if kc.in_cluster else os.pathsep.join(sources))

    conn = Connection(kc, context, reload=reload, connect_timeout=connect_timeout, read_timeout=read_timeout)
    ws = Workbench(conn, name=name, namespace=namespace)
    with _lock:
        _registry[ws.name] = ws
        if make_current or _current is None:
            _current = ws.name
    return ws


def connections() -> Connections:
    """The open connections by name (a dict that renders as a table; ``*`` marks the current one)."""
    with _lock:
        return Connections(dict(_registry), _current)


def use(name: str) -> Workbench:
    """Make the connection called ``name`` the current one and return it."""
    global _current
    with _lock:
        if name not in _registry:
            raise ConnectionNotFoundError(name, list(_registry), closest(name, _registry))
        _current = name
        return _registry[name]


def current() -> Workbench:
    """The current connection (the last `connect`ed or `use`d)."""
    with _lock:
        if _current is None or _current not in _registry:
            raise ConnectionNotFoundError(None, list(_registry))
        return _registry[_current]


def disconnect(name: str | None = None) -> None:
    """Close and forget one connection (default: the current one), or every one with ``name="*"``."""
    global _current
    with _lock:
        names = list(_registry) if name == "*" else [name or _current]
        for n in names:
            if n is None or n not in _registry:
                raise ConnectionNotFoundError(n, list(_registry), closest(n or "", _registry))
            _registry.pop(n).close()
            if _current == n:
                _current = next(iter(_registry), None)
