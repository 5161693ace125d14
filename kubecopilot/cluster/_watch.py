"""``ws.watch(kind, namespace=, selector=)``: list + watch into a local store, as an iterator or a live widget.

The raw path, as client-go's reflector does it and without the client's ``Watch`` (which crashes on ERROR events
with ``deserialize=False``, ECOSYSTEM-NOTES §1.2):

1. list, remember the list's ``resourceVersion`` (never "the last event seen": the initial burst is unordered);
2. ``GET ...?watch=1&resourceVersion=RV&allowWatchBookmarks=true&timeoutSeconds=N`` streamed through the
   connection's urllib3 pool, newline-delimited JSON, every event moving RV forward (BOOKMARKs only move RV);
3. when the server ends the stream (its timeout), watch again from RV;
4. ``410 Gone`` — an ERROR event with code 410, or the HTTP status — means RV was compacted away: list again,
   emit a synthetic ``RELIST`` event followed by the differences (ADDED / MODIFIED / DELETED) so a consumer's state
   stays right, and go on watching from the new list's RV;
5. a dropped connection reconnects from RV with backoff (``max_retries`` in a row, then the error is raised).

``for ev in ws.watch("pods", namespace=ns, timeout=30)`` works anywhere; in a notebook, displaying the Watch shows
a table re-rendered from the store by a background thread (trait updates only) with a Stop button. Secrets are
reduced to key sizes as each event arrives.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from urllib3.exceptions import HTTPError

from kubecopilot.cluster._columns import redact_secret
from kubecopilot.cluster._discovery import Kind
from kubecopilot.cluster._table import ResourceTable, build_table, render_html
from kubecopilot.errors import ClusterApiError, ClusterUnreachableError

__all__ = ["Watch", "WatchEvent"]

log = logging.getLogger("kubecopilot.cluster")

RENDER_INTERVAL = 0.3  # seconds between widget re-renders


@dataclass(frozen=True)
class WatchEvent:
    """``type`` is ADDED, MODIFIED, DELETED or RELIST (synthetic: the store was rebuilt from a fresh list after
    ``410 Gone``; ``object`` is then the List with its ``items``). ``from_list`` marks events made from a list
    (the initial objects, and the differences after a RELIST) rather than received on the watch stream."""

    type: str
    object: dict[str, Any]
    from_list: bool = False

    @property
    def name(self) -> str:
        return (self.object.get("metadata") or {}).get("name") or ""

    @property
    def namespace(self) -> str | None:
        return (self.object.get("metadata") or {}).get("namespace")

    @property
    def resource_version(self) -> str | None:
        return (self.object.get("metadata") or {}).get("resourceVersion")

    def __repr__(self) -> str:
        if self.type == "RELIST":
            return f"WatchEvent(RELIST, {len(self.object.get('items') or [])} objects, rv={self.resource_version})"
        where = f"{self.namespace}/" if self.namespace else ""
        kind = self.object.get("kind") or ""
        return f"WatchEvent({self.type}, {kind} {where}{self.name}, rv={self.resource_version})"


class _Gone(Exception):
    """The watch's resourceVersion is too old (410)."""


class _Dropped(Exception):
    """The stream broke before the server ended it."""


def _key(obj: dict[str, Any]) -> str:
    meta = obj.get("metadata") or {}
    return f"{meta.get('namespace')}/{meta.get('name')}" if meta.get("namespace") else str(meta.get("name"))


class Watch:
    """A list+watch of one kind (see the module docstring). Iterate it, or display it in a notebook.

    ``store`` (key → object), ``table()`` / ``frame`` (the current objects as a `ResourceTable`), ``counts`` (events
    by type), ``relists``, ``resource_version``, ``state`` (new, running, stopped, finished, failed), ``error``;
    ``stop()``, ``start()`` (consume in a background thread), ``wait()``, ``widget()``.
    """

    def __init__(self, connection: Any, kind: Kind, *, namespace: str | None = None, selector: str | None = None,
                 fields: str | None = None, timeout: float | None = None, resource_version: str | None = None,
                 server_timeout: int = 300, max_retries: int = 5) -> None:
        if "watch" not in kind.verbs:
            raise ValueError(f"{kind.full_name} cannot be watched (its verbs: {', '.join(kind.verbs) or 'none'})")
        if namespace and not kind.namespaced:
            raise ValueError(f"{kind.full_name} is cluster-scoped: call without namespace=")
        self._conn = connection
        self.kind = kind
        self.namespace = namespace if kind.namespaced else None
        self.selector = selector
        self.fields = fields
        self.timeout = timeout
        self.server_timeout = max(1, int(server_timeout))
        self.max_retries = max_retries
        self._start_rv = resource_version
        self.resource_version: str | None = resource_version
        self.store: dict[str, dict[str, Any]] = {}
        self.counts: Counter[str] = Counter()
        self.relists = 0
        self.bookmarks = 0
        self.reconnects = 0
        self.error: BaseException | None = None
        self.state = "new"
        self.last_event_at: float | None = None
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._dirty = threading.Event()
        self._done = threading.Event()
        self._resp: Any = None
        self._previous: dict[str, dict[str, Any]] = {}
        self._consumed = False
        self._primed: list[dict[str, Any]] | None = None
        self._thread: threading.Thread | None = None
        self._view: Any = None

    # -- the event loop ---------------------------------------------------------------------------------------------
    @property
    def path(self) -> str:
        return self.kind.path(self.namespace)

    def _clean(self, obj: dict[str, Any]) -> dict[str, Any]:
        (obj.get("metadata") or {}).pop("managedFields", None)
        if self.kind.kind == "Secret" and self.kind.group == "":
            obj = redact_secret(obj)
        obj.setdefault("kind", self.kind.kind)
        obj.setdefault("apiVersion", self.kind.api_version)
        return obj

    def __iter__(self) -> Iterator[WatchEvent]:
        return self.events()

    def prime(self) -> Watch:
        """Do the initial list now (``ws.watch`` calls this), so RBAC and other errors surface at once and
        ``table()`` has the objects before the first event; the events start with these objects as ADDED."""
        if self._start_rv is None and self._primed is None and not self._consumed:
            self._primed = self._list()
        return self

    def events(self) -> Iterator[WatchEvent]:
        """The event stream (a Watch is consumed once: by one loop, or by its widget's thread)."""
        with self._lock:
            if self._consumed:
                raise RuntimeError("this Watch is already being consumed (a loop or its widget); make a new one with "
                                   "ws.watch(...)")
            self._consumed = True
            self.state = "running"
        deadline = None if self.timeout is None else time.monotonic() + self.timeout
        failures = 0
        try:
            if self._primed is not None:
                items, self._primed = self._primed, []
                yield from (WatchEvent("ADDED", o, from_list=True) for o in items)
            elif self._start_rv is None:
                yield from self._relist(initial=True)
            while not self._stop.is_set():
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    break
                stream = self._stream(remaining)
                try:
                    for ev in stream:
                        failures = 0
                        yield ev
                        if self._stop.is_set():
                            break
                    failures = 0
                except _Gone:
                    yield from self._relist(initial=False)
                except ClusterApiError as e:
                    if e.status != 410:
                        raise
                    yield from self._relist(initial=False)
                except (_Dropped, ClusterUnreachableError) as e:
                    if self._stop.is_set():
                        break
                    failures += 1
                    self.reconnects += 1
                    if failures > self.max_retries:
                        raise ClusterUnreachableError(*self._conn.host_port, self._conn.connect_timeout,
                                                      f"the watch of {self.kind.full_name} broke {failures} times in "
                                                      f"a row (last: {e})", context=self._conn.context) from None
                    log.info("watch of %s broke (%s); reconnecting from %s", self.path, e, self.resource_version)
                    self._stop.wait(min(0.2 * 2 ** failures, 5.0))
                finally:
                    stream.close()
            self.state = "stopped" if self._stop.is_set() else "finished"
        except BaseException as e:
            if isinstance(e, GeneratorExit):
                self.state = "stopped"
            else:
                self.state, self.error = "failed", e
            raise
        finally:
            self._done.set()
            self._dirty.set()

    def _list(self) -> list[dict[str, Any]]:
        """List into the store (replacing it); returns the items. The previous store is in ``self._previous``."""
        answer = self._conn.list(self.path, labelSelector=self.selector, fieldSelector=self.fields)
        items = [self._clean(o) for o in answer.get("items") or []]
        rv = str((answer.get("metadata") or {}).get("resourceVersion") or "")
        with self._lock:
            self._previous, self.store, self.resource_version = self.store, {_key(o): o for o in items}, rv
        self._dirty.set()
        return items

    def _relist(self, *, initial: bool) -> Iterator[WatchEvent]:
        items = self._list()
        old, fresh, rv = self._previous, self.store, self.resource_version or ""
        if not initial:
            with self._lock:
                self.relists += 1
        if initial:
            for o in items:
                yield WatchEvent("ADDED", o, from_list=True)
            return
        self.counts["RELIST"] += 1
        yield WatchEvent("RELIST", {"kind": f"{self.kind.kind}List", "apiVersion": self.kind.api_version,
                                    "metadata": {"resourceVersion": rv}, "items": items}, from_list=True)
        for k, o in old.items():
            if k not in fresh:
                yield WatchEvent("DELETED", o, from_list=True)
        for k, o in fresh.items():
            prev = old.get(k)
            if prev is None:
                yield WatchEvent("ADDED", o, from_list=True)
            elif (prev.get("metadata") or {}).get("resourceVersion") != (o.get("metadata") or {}).get(
                    "resourceVersion"):
                yield WatchEvent("MODIFIED", o, from_list=True)

    def _stream(self, remaining: float | None) -> Iterator[WatchEvent]:
        seconds = self.server_timeout if remaining is None else max(1, min(self.server_timeout, math.ceil(remaining)))
        params = {"watch": 1, "resourceVersion": self.resource_version or None, "allowWatchBookmarks": True,
                  "timeoutSeconds": seconds, "labelSelector": self.selector, "fieldSelector": self.fields}
        resp = self._conn._send("GET", self.path, params=params, stream=True, timeout=seconds + 30)
        complete = False
        with self._lock:
            self._resp = resp
        try:
            if self._stop.is_set():
                return
            buf = b""
            try:
                for chunk in resp.stream(65536):
                    buf += chunk
                    while b"\n" in buf:
                        line, buf = buf.split(b"\n", 1)
                        if line.strip():
                            ev = self._apply(json.loads(line))
                            if ev is not None:
                                yield ev
                            if self._stop.is_set():
                                return
                complete = True
            except (HTTPError, OSError, ValueError) as e:
                if self._stop.is_set():
                    return
                raise _Dropped(f"{type(e).__name__}: {e}") from None
        finally:
            with self._lock:
                self._resp = None
            if not complete:
                resp.close()
            resp.release_conn()

    def _apply(self, event: dict[str, Any]) -> WatchEvent | None:
        etype, obj = event.get("type"), event.get("object") or {}
        if etype == "ERROR":
            if obj.get("code") == 410:
                raise _Gone(obj.get("message") or "resourceVersion too old")
            raise ClusterApiError(int(obj.get("code") or 500), "GET", self.path,
                                  f"watch of {self.kind.full_name} failed: {obj.get('message') or obj}",
                                  reason=str(obj.get("reason") or ""), body=obj)
        rv = (obj.get("metadata") or {}).get("resourceVersion")
        with self._lock:
            if rv:
                self.resource_version = rv
            if etype == "BOOKMARK":
                self.bookmarks += 1
                return None
            obj = self._clean(obj)
            if etype == "DELETED":
                self.store.pop(_key(obj), None)
            else:
                self.store[_key(obj)] = obj
            self.counts[str(etype)] += 1
            self.last_event_at = time.time()
        self._dirty.set()
        return WatchEvent(str(etype), obj)

    def stop(self) -> None:
        """Stop watching: a blocked read is interrupted, the loop or background thread ends; the store stays."""
        self._stop.set()
        with self._lock:
            resp = self._resp
        if resp is not None:
            with contextlib.suppress(Exception):  # already closed
                resp.shutdown()
        self._dirty.set()

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    # -- background consumption and the widget ----------------------------------------------------------------------
    def start(self) -> Watch:
        """Consume the events in a background thread (the store, table and widget keep updating)."""
        with self._lock:
            if self._thread is not None:
                return self
            self._thread = threading.Thread(target=self._run, name=f"kubecopilot watch {self.kind.plural}",
                                            daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        try:
            for _ in self.events():
                pass
        except Exception as e:  # kept in .error and shown in the widget's status line
            if self.error is None:
                self.error = e
            log.warning("watch of %s failed: %s", self.path, e)
        finally:
            self._done.set()
            self._dirty.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until the background consumption ends; True when it has."""
        return self._done.wait(timeout)

    def widget(self) -> Any:
        """A live `LiveTable` (ipywidgets) over this watch; starts the background consumption."""
        from kubecopilot.display import LiveTable

        with self._lock:
            if self._view is None:
                self._view = LiveTable(self.stop, title=self._where())
                self._view.update(self._body_html(), self._status())
                threading.Thread(target=self._render_loop, name="kubecopilot watch view", daemon=True).start()
        self.start()
        return self._view

    def _render_loop(self) -> None:
        while True:
            self._dirty.wait()
            self._dirty.clear()
            view = self._view
            if view is None:
                return
            try:
                if self._done.is_set():
                    view.update(self._body_html(), self._status())
                    view.finish(self._status())
                    return
                view.update(self._body_html(), self._status())
            except Exception:
                log.exception("rendering the watch of %s failed", self.path)
            time.sleep(RENDER_INTERVAL)

    # -- views -----------------------------------------------------------------------------------------------------
    @property
    def objects(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self.store.values())

    def table(self) -> ResourceTable:
        """The current objects as a `ResourceTable` (kubectl columns)."""
        objects = sorted(self.objects, key=_key)
        return build_table(self.kind, objects, context=getattr(self._conn, "context", None), namespace=self.namespace,
                           selector=self.selector, fields=self.fields)

    @property
    def frame(self) -> Any:
        return self.table().frame

    def _where(self) -> str:
        where = [f"namespace {self.namespace}" if self.namespace else
                 ("all namespaces" if self.kind.namespaced else "cluster")]
        if self.selector:
            where.append(f"selector {self.selector}")
        if self.fields:
            where.append(f"fields {self.fields}")
        return f"watch {self.kind.full_name} ({', '.join(where)})"

    def _status(self) -> str:
        events = sum(v for k, v in self.counts.items() if k != "RELIST")
        text = f"{self.state}: {len(self.store)} objects, {events} events"
        if self.relists:
            text += f", {self.relists} relist{'s' if self.relists != 1 else ''}"
        if self.last_event_at:
            text += f", last event {time.strftime('%H:%M:%S', time.localtime(self.last_event_at))}"
        if self.error is not None:
            text += f" — {type(self.error).__name__}: {self.error}"
        return text

    def _body_html(self) -> str:
        return render_html(self.table())

    def __enter__(self) -> Watch:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"Watch({self._where()}, {self._status()})"

    def __str__(self) -> str:
        return f"{self!r}\n{self.table()}"

    def _repr_html_(self) -> str:
        import html

        return (f'<div class="kc-watch"><div style="color:#57606a">{html.escape(repr(self))}</div>'
                f"{self._body_html()}</div>")

    def _ipython_display_(self) -> None:
        from IPython.display import display

        try:
            view = self.widget()
        except ImportError:  # no ipywidgets: a snapshot
            display({"text/plain": str(self), "text/html": self._repr_html_()}, raw=True)
            return
        display(view.box)
