"""Posting core/v1 Events the way a kubelet's event recorder does: same (object, reason, message)
within ten minutes bumps ``count`` and ``lastTimestamp`` instead of creating a new Event."""

from __future__ import annotations

import logging
import queue
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from kubecopilot.sandbox._rest import ApiError, RestClient

__all__ = ["EventRecorder", "now_rfc3339"]

log = logging.getLogger(__name__)
_AGGREGATE_WINDOW = 600.0
_DEAD_NAMESPACE_TTL = 120.0


def now_rfc3339(ts: float | None = None) -> str:
    return datetime.fromtimestamp(ts if ts is not None else time.time(), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class _Seen:
    name: str
    namespace: str
    count: int
    last: float


class EventRecorder:
    def __init__(self, client: RestClient, *, workers: int = 4) -> None:
        self.client = client
        self._q: queue.Queue[tuple[dict[str, Any], str, str, str, str] | None] = queue.Queue()
        self._seen: dict[tuple[str, str, str, str, str], _Seen] = {}
        self._lock = threading.Lock()
        # Namespaces the API server refused events for (deleted or terminating) -> until when to drop their events.
        # Deleting a namespace with thousands of pods queues thousands of Killing events; posting each one only to
        # be refused kept live namespaces' events waiting for minutes behind them.
        self._dead: dict[str, float] = {}
        self.posted = 0
        self.dropped = 0
        self._threads = [threading.Thread(target=self._run, name=f"events-{i}", daemon=True)
                         for i in range(workers)]

    def start(self) -> EventRecorder:
        for t in self._threads:
            t.start()
        return self

    def emit(self, involved: dict[str, Any], etype: str, reason: str, message: str, host: str = "") -> None:
        """Queue an event; ``involved`` is an ObjectReference (kind, namespace, name, uid, fieldPath...)."""
        self._q.put((involved, etype, reason, message, host))

    def pending(self) -> int:
        return self._q.qsize()

    def _run(self) -> None:
        while True:
            item = self._q.get()
            if item is None:
                return
            try:
                self._post(*item)
            except Exception as e:  # an event is best effort, like the kubelet's recorder
                log.debug("event not recorded: %s", e)

    def _namespace_gone(self, ns: str, now: float) -> bool:
        until = self._dead.get(ns)
        if until is None:
            return False
        if now < until:
            return True
        self._dead.pop(ns, None)
        return False

    def _post(self, involved: dict[str, Any], etype: str, reason: str, message: str, host: str) -> None:
        ns = involved.get("namespace") or "default"
        if self._namespace_gone(ns, time.time()):
            self.dropped += 1
            return
        key = (ns, str(involved.get("uid") or involved.get("name")), str(involved.get("fieldPath", "")),
               reason, message)
        now = time.time()
        with self._lock:
            seen = self._seen.get(key)
            if seen and now - seen.last < _AGGREGATE_WINDOW:
                seen.count += 1
                seen.last = now
                count, name = seen.count, seen.name
            else:
                seen = None
                name = f"{involved.get('name')}.{secrets.token_hex(8)}"
                self._seen[key] = _Seen(name, ns, 1, now)
                if len(self._seen) > 20000:
                    cutoff = now - _AGGREGATE_WINDOW
                    self._seen = {k: v for k, v in self._seen.items() if v.last > cutoff}
        stamp = now_rfc3339(now)
        if seen is not None:
            try:
                self.client.patch(f"/api/v1/namespaces/{ns}/events/{name}",
                                  {"count": count, "lastTimestamp": stamp}, kind="merge")
                self.posted += 1
                return
            except ApiError as e:
                if e.status != 404:
                    raise
        body = {
            "apiVersion": "v1", "kind": "Event",
            "metadata": {"name": name, "namespace": ns},
            "involvedObject": involved, "reason": reason, "message": message, "type": etype,
            "source": {"component": "kubelet", "host": host} if host else {"component": "kubelet"},
            "firstTimestamp": stamp, "lastTimestamp": stamp, "count": 1,
            "reportingComponent": "kubelet", "reportingInstance": host,
        }
        try:
            self.client.create(body, ns)
            self.posted += 1
        except ApiError as e:
            if e.status in (403, 404) and ("terminat" in str(e) or "not found" in str(e)):
                self._dead[ns] = time.time() + _DEAD_NAMESPACE_TTL  # drop this namespace's queued events
                self.dropped += 1
            elif e.status != 409:
                raise
