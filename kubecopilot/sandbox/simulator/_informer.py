"""List + watch one collection into a local store, like client-go's informer.

Watches start from the list's resourceVersion (not from the last event seen), and a ``410 Gone``
(the watch history was compacted) re-lists, as the API concepts doc prescribes.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from kubecopilot.sandbox._rest import ApiError, RestClient

__all__ = ["Informer", "key_of"]

log = logging.getLogger(__name__)
Handler = Callable[[str, dict[str, Any]], None]  # (ADDED|MODIFIED|DELETED, object)


def key_of(obj: dict[str, Any]) -> str:
    meta = obj.get("metadata") or {}
    ns = meta.get("namespace")
    return f"{ns}/{meta.get('name')}" if ns else str(meta.get("name"))


class Informer:
    def __init__(self, client: RestClient, path: str, handler: Handler | None = None,
                 *, params: dict[str, Any] | None = None, name: str = "") -> None:
        self.client = client
        self.path = path
        self.handler = handler
        self.params = params or {}
        self.name = name or path
        self.store: dict[str, dict[str, Any]] = {}
        self.synced = threading.Event()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name=f"informer {self.name}", daemon=True)

    def start(self) -> Informer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def get(self, namespace: str | None, name: str) -> dict[str, Any] | None:
        with self._lock:
            return self.store.get(f"{namespace}/{name}" if namespace else name)

    def items(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self.store.values())

    def _emit(self, kind: str, obj: dict[str, Any]) -> None:
        if self.handler:
            try:
                self.handler(kind, obj)
            except Exception:
                log.exception("handler of %s failed on %s %s", self.name, kind, key_of(obj))

    def _relist(self) -> str:
        page = self.client.get(self.path, **self.params)
        items = page.get("items") or []
        fresh = {key_of(o): o for o in items}
        with self._lock:
            old = self.store
            self.store = fresh
        for k, o in old.items():
            if k not in fresh:
                self._emit("DELETED", o)
        for k, o in fresh.items():
            prev = old.get(k)
            if prev is None:
                self._emit("ADDED", o)
            elif prev["metadata"].get("resourceVersion") != o["metadata"].get("resourceVersion"):
                self._emit("MODIFIED", o)
        self.synced.set()
        return str(page.get("metadata", {}).get("resourceVersion", ""))

    def _run(self) -> None:
        rv = ""
        while not self._stop.is_set():
            try:
                if not rv:
                    rv = self._relist()
                for event in self.client.stream_lines(
                    self.path, resourceVersion=rv, allowWatchBookmarks="true", timeoutSeconds=240, **self.params
                ):
                    if self._stop.is_set():
                        return
                    etype, obj = event.get("type"), event.get("object") or {}
                    if etype == "ERROR":
                        if obj.get("code") == 410:
                            rv = ""  # history compacted: re-list
                            break
                        raise ApiError(int(obj.get("code") or 500), "WATCH", self.path, obj)
                    new_rv = (obj.get("metadata") or {}).get("resourceVersion")
                    if new_rv:
                        rv = new_rv
                    if etype == "BOOKMARK":
                        continue
                    k = key_of(obj)
                    with self._lock:
                        if etype == "DELETED":
                            self.store.pop(k, None)
                        else:
                            self.store[k] = obj
                    self._emit(str(etype), obj)
            except ApiError as e:
                if e.status == 410:
                    rv = ""
                else:
                    log.warning("watch %s failed: %s; re-listing", self.name, e)
                    rv = ""
                    self._stop.wait(1)
            except Exception as e:
                if self._stop.is_set():
                    return
                log.warning("watch %s broke (%s: %s); re-listing", self.name, type(e).__name__, e)
                rv = ""
                self._stop.wait(1)
