"""Columns, status logic, text/HTML rendering and filtering of `ResourceTable` over hand-written objects."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from kubecopilot.cluster._columns import columns_for, human_duration, pod_status
from kubecopilot.cluster._discovery import Kind
from kubecopilot.cluster._table import badge_colour, build_table

NOW = 1_700_000_000.0
T0 = "2023-11-14T22:13:20Z"  # == NOW


def kind(k: str, plural: str, group: str = "", namespaced: bool = True) -> Kind:
    return Kind(k, plural, k.lower(), (), group, "v1", namespaced, ("get", "list"))


POD, NODE = kind("Pod", "pods"), kind("Node", "nodes", namespaced=False)
SECRET, WIDGET = kind("Secret", "secrets"), kind("Widget", "widgets", "example.com")


def ts(seconds_ago: float) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(NOW - seconds_ago, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def cs(name: str = "app", ready: bool = False, restarts: int = 0, **state: Any) -> dict[str, Any]:
    return {"name": name, "ready": ready, "restartCount": restarts, "state": state}


def mkpod(name: str = "p", containers: int = 1, statuses: list | None = None, init: int = 0,
          init_statuses: list | None = None, phase: str = "Running", age: float = 300, **meta: Any) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": "ns", "creationTimestamp": ts(age), **meta},
            "spec": {"containers": [{"name": f"c{i}", "image": f"img{i}:1"} for i in range(containers)],
                     "initContainers": [{"name": f"i{i}", "image": "init"} for i in range(init)],
                     "nodeName": "node-1"},
            "status": {"phase": phase, "podIP": "10.0.0.5", "containerStatuses": statuses or [],
                       "initContainerStatuses": init_statuses or []}}


@pytest.mark.parametrize(("seconds", "text"), [
    (5, "5s"), (119, "119s"), (150, "2m30s"), (300, "5m"), (900, "15m"), (3 * 3600, "3h"), (5 * 3600 + 60, "5h1m"),
    (30 * 3600, "30h"), (2 * 86400, "2d"), (3 * 86400 + 3600, "3d1h"), (40 * 86400, "40d"),
    (800 * 86400, "2y70d"), (-0.5, "0s"), (-10, "<invalid>")])
def test_human_duration_is_kubectls(seconds: float, text: str) -> None:
    assert human_duration(seconds) == text


def test_pod_running_ready() -> None:
    p = mkpod(statuses=[cs(ready=True, running={"startedAt": T0})])
    assert pod_status(p) == ("Running", 1, 1, 0)


def test_pod_crashloop_with_restarts_and_half_ready() -> None:
    p = mkpod(containers=2, statuses=[cs("c0", ready=True, running={}),
                                      cs("c1", restarts=4, waiting={"reason": "CrashLoopBackOff"})])
    assert pod_status(p) == ("CrashLoopBackOff", 1, 2, 4)


def test_pod_terminated_reason_and_exit_codes() -> None:
    assert pod_status(mkpod(statuses=[cs(terminated={"reason": "OOMKilled", "exitCode": 137})]))[0] == "OOMKilled"
    assert pod_status(mkpod(statuses=[cs(terminated={"exitCode": 3})]))[0] == "ExitCode:3"
    assert pod_status(mkpod(statuses=[cs(terminated={"exitCode": 0, "signal": 9})]))[0] == "Signal:9"


def test_pod_init_states() -> None:
    running_init = mkpod(init=2, phase="Pending", init_statuses=[
        cs("i0", terminated={"exitCode": 0, "reason": "Completed"}), cs("i1", running={})])
    assert pod_status(running_init)[0] == "Init:1/2"
    failing = mkpod(init=1, phase="Pending",
                    init_statuses=[cs("i0", restarts=2, waiting={"reason": "CrashLoopBackOff"})])
    assert pod_status(failing)[:1] == ("Init:CrashLoopBackOff",)
    assert pod_status(failing)[3] == 2
    errored = mkpod(init=1, phase="Pending", init_statuses=[cs("i0", terminated={"exitCode": 1, "reason": "Error"})])
    assert pod_status(errored)[0] == "Init:Error"


def test_pod_pending_terminating_and_evicted() -> None:
    assert pod_status(mkpod(phase="Pending"))[0] == "Pending"
    waiting = mkpod(phase="Pending", statuses=[cs(waiting={"reason": "ImagePullBackOff"})])
    assert pod_status(waiting)[0] == "ImagePullBackOff"
    deleting = mkpod(statuses=[cs(ready=True, running={})], deletionTimestamp=T0)
    assert pod_status(deleting)[0] == "Terminating"
    evicted = mkpod(phase="Failed")
    evicted["status"]["reason"] = "Evicted"
    assert pod_status(evicted)[0] == "Evicted"


def test_pod_completed_but_one_container_running_is_running_or_notready() -> None:
    p = mkpod(containers=2, statuses=[cs("c0", ready=True, running={}),
                                      cs("c1", terminated={"exitCode": 0, "reason": "Completed"})])
    assert pod_status(p)[0] == "NotReady"
    p["status"]["conditions"] = [{"type": "Ready", "status": "True"}]
    assert pod_status(p)[0] == "Running"


def test_pod_row_columns() -> None:
    t = build_table(POD, [mkpod("web", containers=2, statuses=[cs("c0", ready=True, running={}),
                                                              cs("c1", restarts=3, waiting={"reason": "Error"})])],
                    now=NOW)
    assert t.columns == ["NAMESPACE", "NAME", "READY", "STATUS", "RESTARTS", "AGE", "NODE", "IP", "IMAGES"]
    row = t.frame.iloc[0].to_dict()
    assert row == {"NAMESPACE": "ns", "NAME": "web", "READY": "1/2", "STATUS": "Error", "RESTARTS": 3, "AGE": "5m",
                   "NODE": "node-1", "IP": "10.0.0.5", "IMAGES": "img0:1,img1:1"}


def row(group: str, k: str, obj: dict[str, Any], namespaced: bool = True) -> dict[str, Any]:
    obj.setdefault("metadata", {}).setdefault("name", "x")
    obj["metadata"].setdefault("creationTimestamp", ts(7200))
    cols, fn = columns_for(group, k, namespaced)
    return dict(zip(cols, fn(obj, NOW), strict=True))


def test_node_status_roles_and_capacity() -> None:
    r = row("", "Node", {"metadata": {"labels": {"node-role.kubernetes.io/control-plane": ""}},
                         "spec": {"unschedulable": True},
                         "status": {"conditions": [{"type": "Ready", "status": "True"}],
                                    "nodeInfo": {"kubeletVersion": "v1.30.1"},
                                    "allocatable": {"cpu": "4", "memory": "8Gi"}}}, False)
    assert (r["STATUS"], r["ROLES"], r["VERSION"], r["CPU"], r["MEMORY"], r["AGE"]) == \
        ("Ready,SchedulingDisabled", "control-plane", "v1.30.1", "4", "8Gi", "120m")
    assert row("", "Node", {"status": {"conditions": [{"type": "Ready", "status": "Unknown"}]}}, False)["STATUS"] \
        == "NotReady"


def test_workload_rows() -> None:
    tmpl = {"template": {"spec": {"containers": [{"image": "web:1"}]}}}
    d = row("apps", "Deployment", {"spec": {"replicas": 3, **tmpl},
                                   "status": {"readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 2}})
    assert (d["READY"], d["UP-TO-DATE"], d["AVAILABLE"], d["IMAGES"]) == ("2/3", 3, 2, "web:1")
    rs = row("apps", "ReplicaSet", {"spec": {"replicas": 2, **tmpl}, "status": {"replicas": 2}})
    assert (rs["DESIRED"], rs["CURRENT"], rs["READY"]) == (2, 2, 0)
    assert row("apps", "StatefulSet", {"spec": {"replicas": 1, **tmpl}, "status": {"readyReplicas": 1}})["READY"] \
        == "1/1"
    ds = row("apps", "DaemonSet", {"spec": tmpl, "status": {"desiredNumberScheduled": 3, "numberReady": 1}})
    assert (ds["DESIRED"], ds["READY"], ds["NODE SELECTOR"]) == (3, 1, "<none>")


def test_job_and_cronjob_rows() -> None:
    j = row("batch", "Job", {"spec": {"completions": 3}, "status": {
        "succeeded": 3, "startTime": ts(600), "completionTime": ts(450),
        "conditions": [{"type": "Complete", "status": "True"}]}})
    assert (j["STATUS"], j["COMPLETIONS"], j["DURATION"]) == ("Complete", "3/3", "2m30s")
    running = row("batch", "Job", {"spec": {"parallelism": 2}, "status": {"active": 2, "startTime": ts(60)}})
    assert (running["STATUS"], running["COMPLETIONS"], running["DURATION"]) == ("Running", "0/1 of 2", "60s")
    c = row("batch", "CronJob", {"spec": {"schedule": "*/5 * * * *", "suspend": True},
                                 "status": {"active": [{"name": "a"}], "lastScheduleTime": ts(240)}})
    assert (c["SCHEDULE"], c["SUSPEND"], c["ACTIVE"], c["LAST SCHEDULE"]) == ("*/5 * * * *", True, 1, "4m")
    assert row("batch", "CronJob", {"spec": {"schedule": "@daily"}})["LAST SCHEDULE"] == "<none>"


def test_service_ingress_hpa_rows() -> None:
    s = row("", "Service", {"spec": {"type": "NodePort", "clusterIP": "10.96.0.10", "selector": {"app": "web"},
                                     "ports": [{"port": 80, "nodePort": 30080, "protocol": "TCP"},
                                               {"port": 53, "protocol": "UDP"}]}})
    assert (s["TYPE"], s["CLUSTER-IP"], s["PORTS"], s["SELECTOR"], s["EXTERNAL-IP"]) == \
        ("NodePort", "10.96.0.10", "80:30080/TCP,53/UDP", "app=web", "<none>")
    assert row("", "Service", {"spec": {"type": "LoadBalancer"}})["EXTERNAL-IP"] == "<pending>"
    i = row("networking.k8s.io", "Ingress", {"spec": {"ingressClassName": "nginx", "tls": [{}],
                                                      "rules": [{"host": "a.example"}]}})
    assert (i["CLASS"], i["HOSTS"], i["PORTS"]) == ("nginx", "a.example", "80, 443")
    h1 = row("autoscaling", "HorizontalPodAutoscaler", {
        "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "web"}, "minReplicas": 2, "maxReplicas": 5,
                 "targetCPUUtilizationPercentage": 80},
        "status": {"currentReplicas": 2, "currentCPUUtilizationPercentage": 35}})
    assert (h1["REFERENCE"], h1["TARGETS"], h1["MINPODS"], h1["MAXPODS"]) == ("Deployment/web", "cpu: 35%/80%", 2, 5)
    h2 = row("autoscaling", "HorizontalPodAutoscaler", {
        "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "web"}, "maxReplicas": 5, "metrics": [
            {"type": "Resource", "resource": {"name": "cpu", "target": {"averageUtilization": 50}}}]}})
    assert h2["TARGETS"] == "cpu: <unknown>/50%"


def test_event_namespace_configmap_storage_rows() -> None:
    e = row("", "Event", {"type": "Warning", "reason": "BackOff", "message": "Back-off restarting\n", "count": 7,
                          "involvedObject": {"kind": "Pod", "name": "web-1"}, "lastTimestamp": ts(30)})
    assert (e["LAST SEEN"], e["TYPE"], e["REASON"], e["OBJECT"], e["COUNT"], e["MESSAGE"]) == \
        ("30s", "Warning", "BackOff", "pod/web-1", 7, "Back-off restarting")
    assert row("", "Namespace", {"status": {"phase": "Terminating"}}, False)["STATUS"] == "Terminating"
    assert row("", "ConfigMap", {"data": {"a": "1", "b": "2"}, "binaryData": {"c": "AA=="}})["DATA"] == 3
    pvc = row("", "PersistentVolumeClaim", {"spec": {"volumeName": "pv1", "storageClassName": "fast"}, "status": {
        "phase": "Bound", "capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"]}})
    assert (pvc["STATUS"], pvc["VOLUME"], pvc["CAPACITY"], pvc["ACCESS MODES"]) == ("Bound", "pv1", "1Gi", "RWO")
    pv = row("", "PersistentVolume", {"spec": {"capacity": {"storage": "5Gi"}, "accessModes": ["ReadWriteMany"],
                                               "claimRef": {"namespace": "a", "name": "b"}},
                                      "status": {"phase": "Bound"}}, False)
    assert (pv["CAPACITY"], pv["ACCESS MODES"], pv["CLAIM"]) == ("5Gi", "RWX", "a/b")


def test_secret_table_has_keys_and_sizes_never_values() -> None:
    value = "hunter2-very-secret"
    secret = {"metadata": {"name": "db", "namespace": "ns", "creationTimestamp": T0, "annotations": {
        "kubectl.kubernetes.io/last-applied-configuration": f'{{"stringData":{{"password":"{value}"}}}}'}},
        "type": "Opaque", "data": {"password": base64.b64encode(value.encode()).decode(), "user": "YWRtaW4="}}
    t = build_table(SECRET, [secret], now=NOW)
    assert t.frame.iloc[0]["DATA"] == 2
    assert t.frame.iloc[0]["KEYS"] == f"password ({len(value)} bytes), user (5 bytes)"
    everything = repr(t) + t._repr_html_() + t.frame.to_string() + repr(t.objects)
    assert value not in everything and base64.b64encode(value.encode()).decode() not in everything
    assert "YWRtaW4=" not in everything
    assert secret["data"]["user"] == "YWRtaW4="  # the caller's object is not mutated


def test_generic_kind_has_age_and_labels() -> None:
    t = build_table(WIDGET, [{"metadata": {"name": "w1", "namespace": "n", "creationTimestamp": ts(86400 * 3),
                                           "labels": {"a": "1", "b": "2"}}}], now=NOW)
    assert t.frame.to_dict("records") == [{"NAMESPACE": "n", "NAME": "w1", "AGE": "3d", "LABELS": "a=1,b=2"}]


XSS = "<img src=x onerror=alert(1)>"


def test_html_escapes_cluster_strings_and_shows_badges() -> None:
    good = mkpod("ok", statuses=[cs(ready=True, running={})])
    bad = mkpod("bad", statuses=[cs(restarts=5, waiting={"reason": "CrashLoopBackOff"})])
    evil = mkpod("evil", statuses=[cs(waiting={"reason": XSS})])
    w = build_table(WIDGET, [{"metadata": {"name": XSS, "namespace": "n", "labels": {"x": XSS}}}], now=NOW)
    out = w._repr_html_()
    assert XSS not in out and "&lt;img src=x onerror=alert(1)&gt;" in out
    p = build_table(POD, [good, bad, evil], now=NOW)
    out = p._repr_html_()
    assert XSS not in out and "<img" not in out
    assert "#dafbe1" in out and "#ffebe9" in out  # green Running, red CrashLoopBackOff
    assert "3 of 3 rows" in out


def test_html_shows_first_50_of_total() -> None:
    t = build_table(POD, [mkpod(f"p{i:03d}") for i in range(120)], now=NOW)
    out = t._repr_html_()
    assert "50 of 120 rows" in out and "p049" in out and "p050" not in out


def test_text_view_is_plain_and_bounded() -> None:
    t = build_table(POD, [mkpod(f"p{i:03d}", statuses=[cs(ready=True, running={})]) for i in range(30)], now=NOW)
    text = repr(t)
    lines = text.splitlines()
    assert lines[0].startswith("pods: 30 objects")
    assert lines[1].split() == ["NAMESPACE", "NAME", "READY", "STATUS", "RESTARTS", "AGE", "NODE", "IP", "IMAGES"]
    assert lines[2].split()[:6] == ["ns", "p000", "1/1", "Running", "0", "5m"]
    assert "20 of 30 rows" in lines[-1] and str(t) == text
    assert "<" not in text.replace("<none>", "")
    empty = build_table(POD, [], now=NOW)
    assert len(empty) == 0 and "no objects" in repr(empty) and "no objects" in empty._repr_html_()


def test_mimebundle_always_has_text_and_reports_errors(monkeypatch) -> None:
    t = build_table(POD, [mkpod()], now=NOW)
    b = t._repr_mimebundle_()
    assert set(b) == {"text/plain", "text/html"}
    assert set(t._repr_mimebundle_(include={"text/plain"})) == {"text/plain"}

    def boom(*a: Any, **k: Any) -> str:
        raise RuntimeError("renderer exploded")

    monkeypatch.setattr("kubecopilot.cluster._table.render_html", boom)
    b = t._repr_mimebundle_()
    assert set(b) == {"text/plain"} and "renderer exploded" in b["text/plain"]
    monkeypatch.setattr("kubecopilot.cluster._table.render_text", boom)
    assert "renderer exploded" in t._repr_mimebundle_()["text/plain"]


def test_where_iteration_and_frame_access() -> None:
    pods = [mkpod("a", statuses=[cs(ready=True, running={})]),
            mkpod("b", statuses=[cs(restarts=9, waiting={"reason": "CrashLoopBackOff"})]),
            mkpod("c", phase="Pending")]
    t = build_table(POD, pods, now=NOW)
    assert len(t) == 3 and [o["metadata"]["name"] for o in t] == ["a", "b", "c"]
    running = t.where(status="Running")
    assert running.names == ["a"] and running.objects == [pods[0]] and running[0] is pods[0]
    assert t.where(status=["Running", "Pending"]).names == ["a", "c"]
    assert t.where(restarts=lambda s: s > 3).names == ["b"]
    assert t.where(lambda f: f["NAME"] != "a", status="Pending").names == ["c"]
    assert t.where(status="Nope").names == []
    with pytest.raises(KeyError, match="no column 'colour'"):
        t.where(colour="red")
    f = t.to_frame()
    f.loc[0, "NAME"] = "changed"
    assert t["NAME"].tolist() == ["a", "b", "c"]


@pytest.mark.parametrize(("value", "colour"), [
    ("Running", "green"), ("Ready", "green"), ("Completed", "green"), ("Pending", "amber"), ("Terminating", "amber"),
    ("Init:0/2", "amber"), ("Ready,SchedulingDisabled", "amber"), ("CrashLoopBackOff", "red"), ("Error", "red"),
    ("Failed", "red"), ("ImagePullBackOff", "red"), ("Init:CrashLoopBackOff", "red"), ("NotReady", "red"),
    ("ExitCode:3", "red"), ("Whatever", "grey")])
def test_badge_colours(value: str, colour: str) -> None:
    assert badge_colour(value) == colour
