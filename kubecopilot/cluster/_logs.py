"""Container logs: ``ws.logs(pod, container=None, previous=False, tail=None, since=None)`` → `Logs`.

The pod is read first, so the common dead ends get a clear answer before the log endpoint is asked: a pod with
several containers and no ``container=`` (the error names them), an unknown container, ``previous=True`` for a
container that never restarted, a container that has not started yet (with the waiting reason), a pod not yet
scheduled. A container in CrashLoopBackOff that waits to restart has no current instance: the kubelet answers
with its last instance's logs, and ``Logs.note`` says so.
"""

from __future__ import annotations

import html
import re
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from kubecopilot.cluster._discovery import kinds_for
from kubecopilot.cluster._events import parse_since
from kubecopilot.cluster._refs import ObjectRef
from kubecopilot.errors import ClusterApiError, LogsUnavailableError

__all__ = ["ERROR_LINE", "Logs", "fetch_logs", "resolve_pod"]

#: What counts as an error line for highlighting: level words, klog E/F prefixes, panics, tracebacks, nginx levels.
ERROR_LINE = re.compile(
    r"(?i:\b(?:error|fatal|panic|critical|crit|emerg|alert|severe|exception|traceback)\b|\bfail(?:ed|ure)?\b"
    r"|level=(?:error|fatal))|^[EF]\d{4} \d\d:|^\s+at \S+\(|^\[signal ")
HTML_LINES = 2000
TEXT_LINES = 200


class Logs:
    """Log text of one container instance: ``.text``, ``.lines``, ``.errors`` (the highlighted lines), ``grep()``.
    ``str(logs)`` is the text; in a notebook the HTML view highlights error lines (the last 2,000 lines are shown;
    all of them are in ``.text``)."""

    def __init__(self, text: str, *, namespace: str, pod: str, container: str, previous: bool = False,
                 note: str = "", context: str | None = None) -> None:
        self.text = text
        self.namespace = namespace
        self.pod = pod
        self.container = container
        self.previous = previous
        self.note = note
        self.context = context
        self.lines = text.splitlines()
        self.error_indexes = [i for i, line in enumerate(self.lines) if ERROR_LINE.search(line)]

    @property
    def errors(self) -> list[str]:
        return [self.lines[i] for i in self.error_indexes]

    def grep(self, pattern: str, *, ignore_case: bool = True) -> list[str]:
        """Lines matching a regular expression."""
        rx = re.compile(pattern, re.IGNORECASE if ignore_case else 0)
        return [line for line in self.lines if rx.search(line)]

    def tail(self, n: int = 20) -> list[str]:
        return self.lines[-n:]

    def __str__(self) -> str:
        return self.text

    def __len__(self) -> int:
        return len(self.lines)

    def __iter__(self):
        return iter(self.lines)

    def __contains__(self, item: object) -> bool:
        return isinstance(item, str) and item in self.text

    def _title(self) -> str:
        which = "previous instance" if self.previous else "current instance"
        return f"logs of {self.namespace}/{self.pod} container {self.container} ({which}): {len(self.lines)} lines, " \
               f"{len(self.error_indexes)} error lines" + (f" — {self.note}" if self.note else "")

    def __repr__(self) -> str:
        return (f"Logs(pod={self.namespace}/{self.pod!s}, container={self.container!r}, previous={self.previous}, "
                f"lines={len(self.lines)}, errors={len(self.error_indexes)})")

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, str]:
        shown = self.lines[-TEXT_LINES:]
        cut = f"... {len(self.lines) - len(shown)} earlier lines in .text\n" if len(self.lines) > len(shown) else ""
        return {"text/plain": f"{self._title()}\n{cut}" + "\n".join(shown), "text/html": self._repr_html_()}

    def _repr_html_(self) -> str:
        from kubecopilot.display import pre_lines

        start = max(0, len(self.lines) - HTML_LINES)
        marks = [i - start for i in self.error_indexes if i >= start]
        cut = (f'<div style="color:#57606a">... {start} earlier lines are in <code>.text</code></div>'
               if start else "")
        return (f'<div class="kc-logs"><div style="font-weight:600">{html.escape(self._title())}</div>{cut}'
                + pre_lines(self.lines[start:], highlight=marks) + "</div>")


def resolve_pod(ws: Any, pod: str | ObjectRef) -> tuple[str, str]:
    """(namespace, name) from ``pod/ns/name``, ``pod/name``, ``ns/name``, ``name`` (default namespace) or a ref."""
    if isinstance(pod, ObjectRef):
        ref = pod
    elif isinstance(pod, str) and "/" in pod:
        parts = pod.strip().split("/")
        if len(parts) == 2 and kinds_for(ws.raw).find(parts[0]) is None:  # "ns/name": the first part is no kind
            if not all(parts):
                raise ValueError(f"cannot read {pod!r} as a pod: use 'pod/ns/name', 'ns/name' or a pod name")
            return parts[0], parts[1]
        ref = ws.ref(pod)  # kind/name or kind/ns/name; an unknown kind raises UnknownKindError with suggestions
    elif isinstance(pod, str) and pod.strip():
        return ws.namespace, pod.strip()
    else:
        raise ValueError(f"expected a pod like 'pod/ns/name', 'ns/name' or 'name', got {pod!r}")
    if ref.kind.kind != "Pod" or ref.kind.group != "":
        raise ValueError(f"logs come from pods, and {ref} is a {ref.kind.kind}: pick one of its pods, e.g. from "
                         f"ws.get({str(ref)!r}).related")
    return ref.namespace or ws.namespace, ref.name


def _pick_container(pod: dict[str, Any], container: str | None, where: str) -> str:
    spec = pod.get("spec") or {}
    names = [c.get("name") for c in spec.get("containers") or []]
    init = [c.get("name") for c in spec.get("initContainers") or []]
    ephemeral = [c.get("name") for c in spec.get("ephemeralContainers") or []]
    every = names + init + ephemeral

    def listing() -> str:
        text = ", ".join(names)
        if init:
            text += f" (init containers: {', '.join(init)})"
        return text

    if container is None:
        if len(names) == 1:
            return names[0]
        default = ((pod.get("metadata") or {}).get("annotations") or {}).get("kubectl.kubernetes.io/default-container")
        if default in every:
            return default
        raise ValueError(f"pod {where} has {len(names)} containers: {listing()}; pass container= one of them")
    if container not in every:
        raise ValueError(f"pod {where} has no container {container!r}; its containers: {listing()}")
    return container


def _status_of(pod: dict[str, Any], container: str) -> dict[str, Any] | None:
    st = pod.get("status") or {}
    for cs in (st.get("containerStatuses") or []) + (st.get("initContainerStatuses") or []) + \
            (st.get("ephemeralContainerStatuses") or []):
        if cs.get("name") == container:
            return cs
    return None


def _since_params(since: Any) -> dict[str, Any]:
    if since is None:
        return {}
    if isinstance(since, datetime):
        t = since if since.tzinfo else since.replace(tzinfo=UTC)
        return {"sinceTime": t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")}
    cutoff = parse_since(since if not isinstance(since, int | float) else timedelta(seconds=since))
    return {"sinceSeconds": max(1, round(time.time() - (cutoff or 0)))}


def fetch_logs(ws: Any, pod: str | ObjectRef, container: str | None = None, *, previous: bool = False,
               tail: int | None = None, since: Any = None, timestamps: bool = False,
               limit_bytes: int | None = None) -> Logs:
    """See the module docstring; raises ``ValueError`` for a wrong or missing ``container=`` and
    `LogsUnavailableError` when the instance asked for has no logs."""
    conn = ws.raw
    ns, name = resolve_pod(ws, pod)
    where = f"{ns}/{name}"
    obj = conn.get(f"/api/v1/namespaces/{ns}/pods/{name}")
    cname = _pick_container(obj, container, where)
    cs = _status_of(obj, cname)
    state, last = (cs or {}).get("state") or {}, ((cs or {}).get("lastState") or {}).get("terminated")
    phase = (obj.get("status") or {}).get("phase") or "Pending"
    note = ""
    if cs is None:
        sched = next((c for c in (obj.get("status") or {}).get("conditions") or [] if c.get("type") == "PodScheduled"),
                     {})
        why = f" ({sched.get('reason')}: {sched.get('message')})" if sched.get("status") == "False" else ""
        raise LogsUnavailableError(
            f"container {cname!r} of pod {where} has not started yet: the pod is {phase}{why}. See "
            f"ws.events(namespace={ns!r}, name={name!r}) or ws.describe('pod/{ns}/{name}') for why.")
    if previous and last is None and not cs.get("restartCount"):
        raise LogsUnavailableError(
            f"container {cname!r} of pod {where} has no previous instance: it has not restarted (restartCount 0). "
            "Drop previous=True to read the current instance's logs.")
    if not previous and state.get("waiting") is not None and last is None and not state.get("running"):
        w = state["waiting"]
        msg = f": {w.get('message')}" if w.get("message") else ""
        raise LogsUnavailableError(
            f"container {cname!r} of pod {where} has not started yet (waiting: {w.get('reason') or 'unknown'}{msg}), "
            f"so it has no logs. See ws.describe('pod/{ns}/{name}') and its events for why.")
    params: dict[str, Any] = {"container": cname, "previous": True if previous else None, "tailLines": tail,
                              "timestamps": True if timestamps else None, "limitBytes": limit_bytes,
                              **_since_params(since)}
    path = f"/api/v1/namespaces/{ns}/pods/{name}/log"
    try:
        text = conn.get_text(path, **params)
    except ClusterApiError as e:
        if e.status != 400:
            raise
        raise LogsUnavailableError(f"no logs for container {cname!r} of pod {where}: "
                                   f"{e.body.get('message') or e.body.get('raw') or e}".rstrip()) from None
    if not previous and state.get("waiting") is not None and last is not None:
        note = (f"the container was waiting to restart ({state['waiting'].get('reason') or 'waiting'}) when read, "
                f"so these lines are from its last instance (exit code {last.get('exitCode', '?')})")
    return Logs(text, namespace=ns, pod=name, container=cname, previous=previous, note=note, context=conn.context)
