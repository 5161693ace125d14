"""`Resource` rendering and ``describe`` text over hand-written objects: kubectl-like sections, escaping, YAML,
and the rule that a Secret's values never appear anywhere."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

import pytest

from kubecopilot.cluster._describe import DescribeText, _Out, describe_object, parse_quantity
from kubecopilot.cluster._discovery import Kind
from kubecopilot.cluster._refs import ObjectRef
from kubecopilot.cluster._related import Related
from kubecopilot.cluster._resource import Resource, clean_object

NOW = 1_700_000_000.0


def ts(seconds_ago: float) -> str:
    return datetime.fromtimestamp(NOW - seconds_ago, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def kind(k: str, plural: str, group: str = "", namespaced: bool = True) -> Kind:
    return Kind(k, plural, k.lower(), (), group, "v1", namespaced, ("get", "list", "watch"))


POD, SECRET = kind("Pod", "pods"), kind("Secret", "secrets")
DEPLOY, SERVICE = kind("Deployment", "deployments", "apps"), kind("Service", "services")
NODE, WIDGET = kind("Node", "nodes", namespaced=False), kind("Widget", "widgets", "example.com")
XSS = "<script>alert('x')</script>"


def crash_pod() -> dict[str, Any]:
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "api-7d9", "namespace": "pay", "uid": "u-1", "creationTimestamp": ts(600),
                     "labels": {"app": "api"}, "annotations": {"note": XSS},
                     "ownerReferences": [{"kind": "ReplicaSet", "name": "api-7", "controller": True, "uid": "rs"}],
                     "managedFields": [{"manager": "kubectl"}]},
        "spec": {"nodeName": "node-1", "serviceAccountName": "default", "containers": [{
            "name": "app", "image": "sandbox/api:1.0", "ports": [{"containerPort": 8080, "protocol": "TCP"}],
            "env": [{"name": "PLAIN", "value": "x"},
                    {"name": "DB", "valueFrom": {"secretKeyRef": {"name": "db", "key": "url"}}}],
            "resources": {"limits": {"memory": "64Mi"}, "requests": {"cpu": "100m", "memory": "64Mi"}},
            "volumeMounts": [{"name": "cfg", "mountPath": "/etc/cfg", "readOnly": True}]}],
            "volumes": [{"name": "cfg", "configMap": {"name": "api-config"}}],
            "tolerations": [{"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute",
                             "tolerationSeconds": 300}]},
        "status": {"phase": "Running", "hostIP": "127.0.0.1", "podIP": "10.244.1.5", "startTime": ts(600),
                   "podIPs": [{"ip": "10.244.1.5"}], "qosClass": "Burstable",
                   "conditions": [{"type": "Ready", "status": "False"}],
                   "containerStatuses": [{
                       "name": "app", "ready": False, "restartCount": 4, "image": "sandbox/api:1.0",
                       "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 40s"}},
                       "lastState": {"terminated": {"exitCode": 1, "reason": "Error", "startedAt": ts(70),
                                                    "finishedAt": ts(69)}}}]}}


def event(reason: str, message: str, *, type_: str = "Normal", count: int = 1, first: float = 300,
          last: float = 300, source: str = "kubelet") -> dict[str, Any]:
    return {"metadata": {"name": f"e-{reason}", "namespace": "pay"}, "type": type_, "reason": reason,
            "message": message, "count": count, "firstTimestamp": ts(first), "lastTimestamp": ts(last),
            "source": {"component": source}, "involvedObject": {"kind": "Pod", "name": "api-7d9"}}


def resource(k: Kind, obj: dict[str, Any], **kw: Any) -> Resource:
    meta = obj.get("metadata") or {}
    ref = ObjectRef(k, meta.get("namespace") if k.namespaced else None, meta.get("name"))
    cleaned, sizes = clean_object(obj, secret=k.kind == "Secret")
    return Resource(ref, cleaned, secret_sizes=sizes, fetched_at=NOW, **kw)


def test_pod_describe_reads_like_kubectl() -> None:
    r = resource(POD, crash_pod(), events=[
        event("Scheduled", "Successfully assigned pay/api-7d9 to node-1", source="default-scheduler"),
        event("BackOff", "Back-off restarting failed container", type_="Warning", count=5, first=600, last=30)],
        related=[Related("owner", "ReplicaSet", "api-7", "pay", "0/1 available", "bad", "controller")])
    text = r.describe()
    lines = text.splitlines()
    assert lines[0] == "Name:             api-7d9" and lines[1] == "Namespace:        pay"
    assert "Node:             node-1/127.0.0.1" in text
    assert "Controlled By:  ReplicaSet/api-7" in text
    assert "    State:          Waiting\n      Reason:       CrashLoopBackOff" in text
    assert "    Last State:     Terminated\n      Reason:       Error\n      Exit Code:    1" in text
    assert "    Restart Count:  4" in text
    assert "      DB:     <set to the key 'url' in secret 'db'>  Optional: false" in text
    assert "      /etc/cfg from cfg (ro)" in text
    assert "QoS Class:       Burstable" in text
    assert "node.kubernetes.io/not-ready:NoExecute op=Exists for 300s" in text
    assert "  owner     replicaset/pay/api-7  0/1 available  controller" in text
    events = text[text.index("Events:"):].splitlines()
    assert events[1].split() == ["Type", "Reason", "Age", "From", "Message"]
    assert events[3].split()[:3] == ["Normal", "Scheduled", "5m"]
    assert "Warning  BackOff    30s (x5 over 10m)  kubelet" in events[4]
    assert "managedFields" not in r.yaml and "managedFields" not in text
    assert repr(r) == "Resource(pod/pay/api-7d9, status='CrashLoopBackOff', related=1, events=2)"
    assert str(r) == text


def test_html_escapes_everything_from_the_cluster() -> None:
    pod = crash_pod()
    pod["metadata"]["labels"]["tier"] = "front"
    r = resource(POD, pod, events=[event("Evil", XSS, type_="Warning")],
                 related=[Related("mounts", "ConfigMap", XSS, "pay", "missing", "bad", XSS)],
                 skipped={"secrets": XSS})
    out = r._repr_html_()
    assert "<script>" not in out and "&lt;script&gt;" in out
    assert "CrashLoopBackOff" in out and "#ffebe9" in out  # red status badge
    assert "YAML" in out and "Related objects (1)" in out and "Events (1)" in out


def test_secret_values_never_appear() -> None:
    value = "hunter2-do-not-show"
    encoded = base64.b64encode(value.encode()).decode()
    secret = {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
              "metadata": {"name": "db", "namespace": "pay", "creationTimestamp": ts(60), "annotations": {
                  "kubectl.kubernetes.io/last-applied-configuration": f'{{"stringData":{{"password":"{value}"}}}}'}},
              "data": {"password": encoded, "user": "YWRtaW4="}}
    r = resource(SECRET, secret)
    assert r.keys == {"password": len(value), "user": 5}
    assert r.object["data"] == {"password": f"<{len(value)} bytes>", "user": "<5 bytes>"}
    text = r.describe()
    assert f"password:  {len(value)} bytes" in text and "user:      5 bytes" in text
    everything = repr(r) + str(r) + r._repr_html_() + r.yaml + repr(r.object) + repr(r.summary())
    for needle in (value, encoded, "YWRtaW4="):
        assert needle not in everything
    assert secret["data"]["password"] == encoded  # the input is not mutated
    with pytest.raises(RuntimeError, match="without a connection"):
        r.reveal("password")
    with pytest.raises(TypeError, match="only Secrets"):
        resource(POD, crash_pod()).reveal()


def test_deployment_service_and_node_sections() -> None:
    dep = {"metadata": {"name": "web", "namespace": "n", "uid": "d1", "creationTimestamp": ts(60),
                        "annotations": {"deployment.kubernetes.io/revision": "2"}},
           "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}},
                    "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": "25%"}},
                    "template": {"metadata": {"labels": {"app": "web"}},
                                 "spec": {"containers": [{"name": "web", "image": "nginx:1.25"}]}}},
           "status": {"replicas": 3, "updatedReplicas": 3, "availableReplicas": 2, "unavailableReplicas": 1,
                      "conditions": [{"type": "Available", "status": "False", "reason": "MinimumReplicasUnavailable"}]}}
    rs = [{"metadata": {"name": f"web-{i}", "annotations": {"deployment.kubernetes.io/revision": str(i)},
                        "ownerReferences": [{"uid": "d1"}]}, "spec": {"replicas": 3 if i == 2 else 0},
           "status": {"replicas": 3 if i == 2 else 0}} for i in (1, 2)]
    text = describe_object("Deployment", dep, group="apps", extra={"replicasets": rs}, now=NOW)
    assert "Replicas:               3 desired | 3 updated | 3 total | 2 available | 1 unavailable" in text
    assert "RollingUpdateStrategy:  1 max unavailable, 25% max surge" in text
    assert "NewReplicaSet:   web-2 (3/3 replicas created)" in text and "OldReplicaSets:  <none>" in text
    assert "  Available  False   MinimumReplicasUnavailable" in text

    svc = {"metadata": {"name": "web", "namespace": "n"},
           "spec": {"selector": {"app": "web"}, "clusterIP": "10.96.0.9", "ports": [
               {"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"}]}}
    eps = {"subsets": [{"addresses": [{"ip": "10.0.0.1"}, {"ip": "10.0.0.2"}], "ports": [{"name": "http",
                                                                                          "port": 8080}]}]}
    text = describe_object("Service", svc, extra={"endpoints": eps}, events=[], now=NOW)
    assert "Endpoints:         10.0.0.1:8080,10.0.0.2:8080" in text and "TargetPort:        8080/TCP" in text
    assert text.endswith("Events:            <none>")

    node = {"metadata": {"name": "n1", "labels": {"node-role.kubernetes.io/worker": ""}},
            "spec": {"taints": [{"key": "k", "value": "v", "effect": "NoSchedule"}]},
            "status": {"allocatable": {"cpu": "4", "memory": "8Gi"}, "addresses": [{"type": "InternalIP",
                                                                                     "address": "10.1.1.1"}],
                       "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady"}]}}
    pods = [{"metadata": {"name": f"p{i}", "namespace": "a", "creationTimestamp": ts(60)},
             "spec": {"containers": [{"resources": {"requests": {"cpu": "500m", "memory": "1Gi"}}}]},
             "status": {"phase": "Running"}} for i in range(2)]
    text = describe_object("Node", node, namespaced=False, extra={"pods": pods}, now=NOW)
    assert "Roles:              worker" in text and "Taints:             k=v:NoSchedule" in text
    assert "Non-terminated Pods:  (2 in total)" in text
    assert "  a          p0    500m          0           1Gi              0              60s" in text
    assert "  cpu       1 (25%)    0 (0%)" in text and "  memory    2Gi (25%)  0 (0%)" in text


def test_generic_and_configmap_describe() -> None:
    widget = {"apiVersion": "example.com/v1", "kind": "Widget",
              "metadata": {"name": "w", "namespace": "n", "uid": "1"},
              "spec": {"minReadySeconds": 5, "items": [{"name": "a", "size": 1}], "tags": ["x", "y"]},
              "status": {"conditions": [{"type": "Ready", "status": "True", "reason": "Ok"}]}}
    text = describe_object("Widget", widget, group="example.com", now=NOW)
    assert "Spec:\n  Min Ready Seconds:  5\n  Items:\n    Name:  a\n    Size:  1\n  Tags:    x, y" in text
    assert "Conditions:\n  Type   Status  Reason" in text
    cm = {"metadata": {"name": "c", "namespace": "n"}, "data": {"app.yaml": "port: 80"}}
    assert "Data\n====\napp.yaml:\n----\nport: 80" in describe_object("ConfigMap", cm, now=NOW)


def test_writer_aligns_blocks_like_tabwriter() -> None:
    o = _Out()
    o.kv(0, "Name", "a")
    o.kv(0, "Longer Label", ["x", "y"])
    o.line(0, "Section:")
    o.kv(1, "K", "v")
    assert o.render() == "Name:          a\nLonger Label:  x\n               y\nSection:\n  K:  v"


def test_describe_text_shows_as_itself() -> None:
    d = DescribeText("Name:  x\n<b>")
    assert repr(d) == "Name:  x\n<b>" and "&lt;b&gt;" in d._repr_html_() and d.startswith("Name:")


@pytest.mark.parametrize(("text", "value"), [("100m", 0.1), ("2", 2), ("64Mi", 64 * 2**20), ("1G", 1e9),
                                             ("1.5", 1.5), ("1e3", 1000), ("junk", 0)])
def test_parse_quantity(text: str, value: float) -> None:
    assert parse_quantity(text) == pytest.approx(value)
