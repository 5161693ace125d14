"""ws.events (filters, since, timeline) and ws.logs (pod spellings, previous, tail, and every dead end) against the
live sandbox."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from kubecopilot.cluster import EventTable, Logs, ResourceTable
from kubecopilot.cluster._browse import SHORTCUTS
from kubecopilot.errors import LogsUnavailableError, UnknownKindError
from tests.conftest import wait_for
from tests.sandbox.helpers import container, env, pod

pytestmark = pytest.mark.sandbox

FATAL = "FATAL config: required environment variable DATABASE_URL is not set"
XSS = "<script>alert(1)</script>"


def crash_and_web(client, ns: str) -> None:
    client.create(pod("crash", [container("sandbox/api:1.0")]), ns)
    client.create(pod("web", [container("nginx:1.25")]), ns)


def restarted(ws, name: str, times: int = 1) -> bool:
    cs = (ws.read(f"pod/{name}").get("status") or {}).get("containerStatuses") or [{}]
    return cs[0].get("restartCount", 0) >= times


def _iso(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def post_event(client, ns: str, name: str, kind: str, obj: str, type_: str, reason: str, message: str, *,
               first: timedelta, last: timedelta, count: int = 1) -> None:
    """Write a core/v1 Event the way a component's event recorder does (times in the past)."""
    now = datetime.now(UTC)
    client.create({"apiVersion": "v1", "kind": "Event", "metadata": {"name": name},
                   "involvedObject": {"kind": kind, "name": obj, "namespace": ns}, "type": type_, "reason": reason,
                   "message": message, "count": count, "firstTimestamp": _iso(now - first),
                   "lastTimestamp": _iso(now - last), "source": {"component": "kubecopilot-test"}}, ns)


def test_events_filters_since_and_timeline(ws, client, namespace) -> None:
    m = timedelta(minutes=1)
    post_event(client, namespace, "e1", "Pod", "web", "Warning", "BackOff", f"back-off {XSS}", first=10 * m,
               last=1 * m, count=5)
    post_event(client, namespace, "e2", "Pod", "web", "Normal", "Pulled", "pulled", first=12 * m, last=12 * m)
    post_event(client, namespace, "e3", "Deployment", "web", "Normal", "ScalingReplicaSet", "scaled",
               first=30 * m, last=30 * m)
    post_event(client, namespace, "e4", "Pod", "crash", "Warning", "Failed", "old failure", first=200 * m,
               last=180 * m)
    ev = ws.events(namespace=namespace)
    assert isinstance(ev, EventTable) and isinstance(ev, ResourceTable)
    assert list(ev.frame["REASON"]) == ["BackOff", "Pulled", "ScalingReplicaSet", "Failed"]  # newest first
    assert list(ev.frame["COUNT"]) == [5, 1, 1, 1] and 60 <= int(ev.frame.loc[0, "LAST SEEN"].rstrip("s")) < 90
    web = ws.events(namespace=namespace, kind="po", name="web")
    assert list(web.frame["REASON"]) == ["BackOff", "Pulled"] and web.filters == {"kind": "Pod", "name": "web"}
    assert list(ws.events(namespace=namespace, type="warning").frame["REASON"]) == ["BackOff", "Failed"]
    assert list(ws.events(namespace=namespace, reason="Pulled").frame["OBJECT"]) == ["pod/web"]
    assert list(ws.events(namespace=namespace, kind="deploy").frame["OBJECT"]) == ["deployment/web"]
    assert len(ws.events(namespace=namespace, since="1h")) == 3
    assert len(ws.events(namespace=namespace, since=timedelta(minutes=20))) == 2
    assert len(ws.events(namespace=namespace, since=datetime.now(UTC) - 45 * m)) == 3
    assert len(ws.events(namespace=namespace, since=datetime.now(UTC) + 5 * m)) == 0
    assert isinstance(ev.where(type="Warning"), EventTable) and len(ev.warnings) == 2
    html = ev._repr_html_()
    assert "<script>" not in html and "&lt;script&gt;" in html
    times = list(ev.timeline_frame()["last"])
    assert times == sorted(times)  # the timeline frame is oldest first
    fig = ev.timeline()
    assert [tr.name for tr in fig.data if tr.name] == ["Normal", "Warning"]
    warning = next(tr for tr in fig.data if tr.name == "Warning")
    assert sorted(warning.y) == ["pod/crash", "pod/web"] and all("<script>" not in h for h in warning.hovertext)
    segments = [tr for tr in fig.data if tr.mode == "lines"]
    assert {y for tr in segments for y in tr.y if y} == {"pod/web", "pod/crash"}  # first → last of the repeats
    assert list(fig.layout.yaxis.categoryarray) == ["pod/web", "deployment/web", "pod/crash"]
    assert namespace in fig.layout.title.text
    assert "events" not in SHORTCUTS  # ws.events is this method, not the generic list shortcut


def test_events_of_the_cluster_itself(ws, client, namespace) -> None:
    client.create(pod("web", [container("nginx:1.25")]), namespace)
    scheduled = wait_for(lambda: (lambda t: t if len(t) else None)(
        ws.events(kind="pod", name="web", reason="Scheduled")), 60, 1, "the scheduler's event for web")
    assert namespace in set(scheduled.frame["NAMESPACE"]) and scheduled.namespace is None  # all namespaces
    row = scheduled.where(namespace=namespace).timeline_rows()[0]
    assert (row["source"], row["type"], row["object"]) == ("default-scheduler", "Normal", "pod/web")
    assert row["message"].startswith(f"Successfully assigned {namespace}/web to sandbox-node-")


def test_events_errors(ws) -> None:
    with pytest.raises(ValueError, match="'Normal' or 'Warning'"):
        ws.events(type="Critical")
    with pytest.raises(UnknownKindError, match=r"(?i)did you mean"):
        ws.events(kind="deploymnet")
    with pytest.raises(ValueError, match="'15m'"):
        ws.events(since="last tuesday")


def test_logs_spellings_errors_tail_and_previous(ws, client, namespace) -> None:
    crash_and_web(client, namespace)
    wait_for(lambda: restarted(ws, "crash"), 90, 1, "crash to restart")

    def current() -> Logs | None:
        try:
            return ws.logs("crash")
        except LogsUnavailableError:
            return None

    # while the container waits out its back-off there is no current instance: the last one answers, labelled
    logs = wait_for(lambda: (lambda lg: lg if lg and "CrashLoopBackOff" in lg.note else None)(current()), 60, 0.5,
                    "logs of crash while it waits to restart")
    assert isinstance(logs, Logs) and FATAL in logs.text
    assert logs.note == ("the container was waiting to restart (CrashLoopBackOff) when read, so these lines are "
                         "from its last instance (exit code 1)")
    assert logs.note in logs._repr_html_() and logs.note in logs._repr_mimebundle_()["text/plain"]
    assert logs.errors == [line for line in logs.lines if FATAL in line]
    assert logs.container == "app" and logs.namespace == namespace
    for spelling in (f"pod/{namespace}/crash", f"{namespace}/crash", "po/crash", ws.ref("pod/crash")):
        assert FATAL in str(ws.logs(spelling, previous=True)), spelling
    prev = ws.logs("crash", previous=True)
    assert prev.previous and prev.lines[0].endswith("INFO starting app version=1.0 port=8080")
    assert ws.logs("crash", previous=True, tail=1).lines == [prev.lines[-1]]
    html = prev._repr_html_()
    assert "background:#ffebe9" in html and "FATAL" in html
    web = wait_for(lambda: (lambda lg: lg if len(lg) >= 2 else None)(ws.logs("web")), 30, 0.5, "nginx logs")
    assert any("start worker process" in line or "Configuration complete" in line for line in web.lines)
    assert web.errors == []
    assert len(ws.logs("web", since="1h")) >= 2 and len(ws.logs("web", since=timedelta(hours=1))) >= 2
    with pytest.raises(LogsUnavailableError, match="has no previous instance"):
        ws.logs("web", previous=True)
    with pytest.raises(ValueError, match="logs come from pods"):
        ws.logs(f"service/{namespace}/web")


def test_logs_multi_container_needs_container(ws, client, namespace) -> None:
    client.create(pod("duo", [container("nginx:1.25", name="proxy"),
                              container("sandbox/web:1.0", name="app", env=env(PORT="8081"))]), namespace)
    wait_for(lambda: ws.get("pod/duo").status == ("Running", "ok"), 60, 1, "duo to run")
    with pytest.raises(ValueError) as e:
        ws.logs("duo")
    assert f"pod {namespace}/duo has 2 containers: proxy, app; pass container=" in str(e.value)
    # the app logs "starting" first and "listening" a moment later: poll instead of reading once
    wait_for(lambda: "listening addr=:8081" in ws.logs("duo", container="app").text, 30, 0.5,
             "the app container to log that it listens on :8081")
    with pytest.raises(ValueError, match="has no container 'nope'; its containers: proxy, app"):
        ws.logs("duo", container="nope")


def test_logs_of_containers_that_never_started(ws, client, namespace) -> None:
    client.create(pod("nopull", [container("sandbox/does-not-exist:9.9")]), namespace)
    client.create(pod("nowhere", [container("nginx:1.25")], nodeSelector={"kubecopilot.io/no-such-node": "x"}),
                  namespace)

    def pull_failed() -> bool:
        cs = (ws.read("pod/nopull").get("status") or {}).get("containerStatuses") or [{}]
        return ((cs[0].get("state") or {}).get("waiting") or {}).get("reason") in ("ErrImagePull", "ImagePullBackOff")

    wait_for(pull_failed, 60, 1, "the image pull to fail")
    with pytest.raises(LogsUnavailableError) as e:
        ws.logs("nopull")
    msg = str(e.value)
    assert f"container 'app' of pod {namespace}/nopull has not started yet (waiting: " in msg
    assert "ImagePullBackOff" in msg or "ErrImagePull" in msg
    wait_for(lambda: any(c.get("reason") == "Unschedulable" for c in (ws.read("pod/nowhere").get("status") or {})
                         .get("conditions") or []), 30, 0.5, "the scheduler to give up on nowhere")
    with pytest.raises(LogsUnavailableError, match="the pod is Pending \\(Unschedulable: "):
        ws.logs("nowhere")
