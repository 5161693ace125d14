"""Pure parts of events, logs, search and the watch view: time windows, event times, the timeline figure, error-line
highlighting, matching, the RBAC/quota/policy columns and the live-table widget (headless ipywidgets)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from kubecopilot.cluster._columns import columns_for, format_label_selector
from kubecopilot.cluster._discovery import Kind
from kubecopilot.cluster._events import EventTable, event_times, parse_since
from kubecopilot.cluster._logs import Logs
from kubecopilot.cluster._search import Match, SearchResult, match_object
from kubecopilot.cluster._table import build_table
from kubecopilot.cluster._watch import WatchEvent
from kubecopilot.display import LiveTable, event_timeline

NOW = 1_700_000_000.0
XSS = "<script>alert(1)</script>"


def ts(seconds_ago: float) -> str:
    return datetime.fromtimestamp(NOW - seconds_ago, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# -- time windows and event times ------------------------------------------------------------------------------------
@pytest.mark.parametrize(("since", "seconds"), [
    ("15m", 900), ("2h", 7200), ("1d12h", 129600), ("90s", 90), ("1h30m", 5400), (timedelta(minutes=5), 300),
    (120, 120), (2.5, 2.5)])
def test_parse_since_durations(since: Any, seconds: float) -> None:
    assert parse_since(since, now=NOW) == pytest.approx(NOW - seconds)


def test_parse_since_datetimes_and_errors() -> None:
    assert parse_since(None) is None
    assert parse_since(datetime(2023, 11, 14, 22, 13, 20), now=0) == NOW  # naive = UTC
    assert parse_since("2023-11-14T22:13:20Z", now=0) == NOW
    with pytest.raises(ValueError, match="'15m'"):
        parse_since("yesterday")
    with pytest.raises(ValueError):
        parse_since("")
    with pytest.raises(TypeError):
        parse_since([1])  # type: ignore[arg-type]


def test_event_times_from_every_writer_style() -> None:
    assert event_times({"firstTimestamp": ts(600), "lastTimestamp": ts(60), "count": 7}) == (NOW - 600, NOW - 60, 7)
    series = {"eventTime": ts(300) .replace("Z", ".000000Z"), "series": {"count": 3, "lastObservedTime": ts(10)}}
    assert event_times(series) == (NOW - 300, NOW - 10, 3)
    assert event_times({"metadata": {"creationTimestamp": ts(5)}}) == (NOW - 5, NOW - 5, 1)
    assert event_times({}) == (None, None, 1)


EV_KIND = Kind("Event", "events", "event", ("ev",), "", "v1", True, ("list", "watch"))


def ev(name: str, kind: str, obj: str, type_: str, reason: str, msg: str, first: float, last: float, count: int = 1,
       ns: str = "n") -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": ns}, "involvedObject": {"kind": kind, "name": obj},
            "type": type_, "reason": reason, "message": msg, "count": count, "firstTimestamp": ts(first),
            "lastTimestamp": ts(last), "source": {"component": "kubelet"}}


def test_event_table_and_timeline() -> None:
    items = [ev("a", "Pod", "web", "Warning", "BackOff", XSS, 600, 30, 9),
             ev("b", "Pod", "web", "Normal", "Pulled", "pulled", 700, 700),
             ev("c", "Deployment", "web", "Normal", "ScalingReplicaSet", "scaled", 800, 800)]
    base = build_table(EV_KIND, items, now=NOW)
    t = EventTable(EV_KIND, base.frame, base.objects, filters={"type": "Warning"}, since=NOW - 3600)
    assert "[type Warning, since 2023-11-14 21:13:20Z]" in repr(t).splitlines()[0]
    assert isinstance(t.where(reason="BackOff"), EventTable) and len(t.warnings) == 1
    frame = t.timeline_frame()
    assert list(frame["reason"]) == ["ScalingReplicaSet", "Pulled", "BackOff"]  # oldest first
    fig = t.timeline()
    names = [tr.name for tr in fig.data if tr.name]
    assert names == ["Normal", "Warning"]
    warning = next(tr for tr in fig.data if tr.name == "Warning")
    assert list(warning.y) == ["pod/web"] and warning.marker.color == "#cf222e"
    assert "<script>" not in warning.hovertext[0] and "&lt;script&gt;" in warning.hovertext[0]
    assert "x9" in warning.hovertext[0]
    segments = [tr for tr in fig.data if tr.mode == "lines"]
    assert len(segments) == 1 and list(segments[0].y) == ["pod/web", "pod/web", None]  # first → last of BackOff
    assert list(fig.layout.yaxis.categoryarray) == ["pod/web", "deployment/web"]  # first seen at the top


def test_timeline_prefixes_namespaces_and_handles_no_events() -> None:
    fig = event_timeline([
        {"namespace": "a", "object": "pod/x", "type": "Normal", "reason": "r", "message": "m", "count": 1,
         "first": datetime.fromtimestamp(NOW, UTC), "last": datetime.fromtimestamp(NOW, UTC)},
        {"namespace": "b", "object": "pod/x", "type": "Normal", "reason": "r", "message": "m", "count": 1,
         "first": datetime.fromtimestamp(NOW, UTC), "last": datetime.fromtimestamp(NOW, UTC)}])
    assert sorted(fig.data[0].y) == ["a/pod/x", "b/pod/x"]
    empty = event_timeline([])
    assert empty.layout.annotations[0].text == "no events"


# -- logs --------------------------------------------------------------------------------------------------------------
def test_logs_highlight_errors_and_escape() -> None:
    text = "\n".join(["2026-11-23T10:00:00Z INFO starting", f"2026-11-23T10:00:01Z ERROR boom {XSS}",
                      "E1123 10:00:00.500000       1 reflector.go:138] failed to list",
                      "panic: runtime error: nil pointer", "INFO errors=0 is not an error line? it says error",
                      "all good"])
    logs = Logs(text, namespace="n", pod="p", container="app", previous=True, note="previous instance")
    assert logs.error_indexes == [1, 2, 3, 4] and logs.errors[0].endswith(XSS)
    assert len(logs) == 6 and "all good" in logs and str(logs) == text and logs.tail(1) == ["all good"]
    assert logs.grep("REFLECTOR") == [logs.lines[2]]
    assert repr(logs) == "Logs(pod=n/p, container='app', previous=True, lines=6, errors=4)"
    out = logs._repr_html_()
    assert "<script>" not in out and out.count("background:#ffebe9") == 4
    assert "previous instance" in out
    bundle = logs._repr_mimebundle_()
    assert bundle["text/plain"].startswith("logs of n/p container app (previous instance): 6 lines, 4 error lines")


def test_logs_views_are_bounded() -> None:
    logs = Logs("\n".join(f"line {i}" for i in range(5000)), namespace="n", pod="p", container="c")
    assert "... 3000 earlier lines" in logs._repr_html_() and "line 4999" in logs._repr_html_()
    assert "... 4800 earlier lines in .text" in logs._repr_mimebundle_()["text/plain"]


# -- search ------------------------------------------------------------------------------------------------------------
def test_match_object_names_labels_annotations_images() -> None:
    dep = {"metadata": {"name": "billing-api", "labels": {"app": "billing"}, "annotations": {
        "note": "x" * 100 + "billing" + "y" * 100}},
        "spec": {"template": {"spec": {"containers": [{"name": "api", "image": "reg/billing:1"}]}}}}
    hits = match_object("Deployment", dep, "BILLING")
    assert ("name", "billing-api") in hits and ("label", "app=billing") in hits
    assert ("image", "api: reg/billing:1") in hits
    note = next(m for w, m in hits if w == "annotation")
    assert note.startswith("note=…") and note.endswith("…") and "billing" in note and len(note) < 80
    assert match_object("ConfigMap", {"metadata": {"name": "a"}, "data": {"k": "billing"}}, "billing") == []
    job = {"metadata": {"name": "j"}, "spec": {"jobTemplate": {"spec": {"template": {"spec": {
        "containers": [{"name": "c", "image": "busybox"}]}}}}}}
    assert match_object("CronJob", job, "busy") == [("image", "c: busybox")]


def test_search_result_views() -> None:
    r = SearchResult("web", [Match("Pod", "n", "web-1", "label", f"x={XSS}web"), Match("Node", "", "web", "name",
                                                                                     "web")],
                     kinds=["pods", "nodes"], skipped={"secrets": "forbidden: user may not list secrets"})
    assert list(r.frame.columns) == ["KIND", "NAMESPACE", "NAME", "WHERE", "MATCH"]
    assert r.refs == ["pod/n/web-1", "node/web"] and len(r) == 2
    text = repr(r)
    assert text.splitlines()[0] == "search 'web': 2 matches in 2 objects (2 kinds, all namespaces, 1 kinds skipped)"
    assert "skipped: secrets (forbidden" in text
    out = r._repr_html_()
    assert "<script>" not in out and '<mark style="background:#fff8c5">web</mark>' in out


# -- columns -----------------------------------------------------------------------------------------------------------
def row(group: str, kind: str, obj: dict[str, Any], namespaced: bool = True) -> dict[str, Any]:
    obj.setdefault("metadata", {}).setdefault("name", "x")
    obj["metadata"].setdefault("creationTimestamp", ts(7200))
    cols, fn = columns_for(group, kind, namespaced)
    return dict(zip(cols, fn(obj, NOW), strict=True))


def test_rbac_quota_policy_columns() -> None:
    assert row("", "ServiceAccount", {"secrets": [{"name": "t"}]}) == \
        {"NAMESPACE": "", "NAME": "x", "SECRETS": 1, "AGE": "120m"}
    rbac = "rbac.authorization.k8s.io"
    assert row(rbac, "Role", {})["CREATED AT"] == "2023-11-14T20:13:20Z"
    assert list(row(rbac, "ClusterRole", {}, False)) == ["NAME", "CREATED AT"]
    rb = row(rbac, "RoleBinding", {"roleRef": {"kind": "ClusterRole", "name": "view"}, "subjects": [
        {"kind": "User", "name": "alice"}, {"kind": "Group", "name": "devs"}, {"kind": "User", "name": "bob"},
        {"kind": "ServiceAccount", "name": "ci", "namespace": "build"}]})
    assert (rb["ROLE"], rb["USERS"], rb["GROUPS"], rb["SERVICEACCOUNTS"], rb["AGE"]) == \
        ("ClusterRole/view", "alice, bob", "devs", "build/ci", "120m")
    assert list(row(rbac, "ClusterRoleBinding", {"roleRef": {"kind": "ClusterRole", "name": "x"}}, False)) == \
        ["NAME", "ROLE", "AGE", "USERS", "GROUPS", "SERVICEACCOUNTS"]
    q = row("", "ResourceQuota", {"spec": {"hard": {"pods": "10", "requests.cpu": "1", "limits.memory": "1Gi",
                                                    "limits.cpu": "2"}},
                                  "status": {"hard": {"pods": "10", "requests.cpu": "1", "limits.memory": "1Gi",
                                                      "limits.cpu": "2"},
                                             "used": {"pods": "3", "requests.cpu": "250m", "limits.cpu": "0"}}})
    assert q["REQUEST"] == "pods: 3/10, requests.cpu: 250m/1"
    assert q["LIMIT"] == "limits.cpu: 0/2, limits.memory: 0/1Gi"
    assert row("", "LimitRange", {})["CREATED AT"] == "2023-11-14T20:13:20Z"
    np = row("networking.k8s.io", "NetworkPolicy", {"spec": {"podSelector": {"matchLabels": {"app": "db"},
                                                                             "matchExpressions": [
        {"key": "tier", "operator": "In", "values": ["b", "a"]}]}}})
    assert np["POD-SELECTOR"] == "app=db,tier in (a,b)"
    assert row("networking.k8s.io", "NetworkPolicy", {"spec": {"podSelector": {}}})["POD-SELECTOR"] == "<none>"
    assert format_label_selector({"matchExpressions": [{"key": "a", "operator": "Exists"},
                                                       {"key": "b", "operator": "DoesNotExist"}]}) == "a,!b"


# -- watch pieces ------------------------------------------------------------------------------------------------------
def test_watch_event_repr() -> None:
    e = WatchEvent("MODIFIED", {"kind": "Pod", "metadata": {"name": "p", "namespace": "n", "resourceVersion": "7"}})
    assert repr(e) == "WatchEvent(MODIFIED, Pod n/p, rv=7)" and e.name == "p" and e.namespace == "n"
    r = WatchEvent("RELIST", {"metadata": {"resourceVersion": "9"}, "items": [{}, {}]}, from_list=True)
    assert repr(r) == "WatchEvent(RELIST, 2 objects, rv=9)"


def test_live_table_widget_headless() -> None:
    import ipywidgets

    stopped: list[bool] = []
    view = LiveTable(lambda: stopped.append(True), title=XSS)
    try:
        view.update("<table><tr><td>web</td></tr></table>", f"running {XSS}")
        assert view.body.value.startswith("<table>") and "&lt;script&gt;" in view.status.value
        assert "<script>" not in view.title.value
        view.button.click()
        assert stopped == [True]
        view.finish("stopped: 3 objects")
        assert view.button.disabled and "stopped: 3 objects" in view.status.value
        assert isinstance(view.box, ipywidgets.VBox)
    finally:
        view.close()
        ipywidgets.Widget.close_all()


def test_now_is_not_frozen() -> None:  # parse_since without now= uses the clock
    assert abs(parse_since("1s") - (time.time() - 1)) < 5
