"""Detail views against the live sandbox: ws.get / describe / reveal, related objects, escaping, Secrets that never
show their values, RBAC errors, and the RBAC / quota / policy list columns."""

from __future__ import annotations

import base64
import json
import re
from typing import Any

import pytest

from kubecopilot.cluster import Resource
from kubecopilot.errors import ClusterForbiddenError, ResourceNotFoundError, UnknownKindError
from tests.conftest import wait_for
from tests.sandbox.helpers import container, pod

pytestmark = pytest.mark.sandbox

XSS = "<img src=x onerror=alert(1)><script>alert(2)</script>"
SECRET_VALUE = "p4ss-w0rd-never-shown"


def deployment(name: str, *, replicas: int = 2, image: str = "nginx:1.25", **pod_spec: Any) -> dict[str, Any]:
    c = {"name": "web", "image": image, **pod_spec.pop("container", {})}
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "annotations": {"note": XSS}},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [c], "terminationGracePeriodSeconds": 1, **pod_spec}}}}


def app_objects(client: Any, ns: str) -> None:
    """web (2 nginx replicas) mounting a ConfigMap, a missing ConfigMap and a Secret; a Service; an Ingress."""
    client.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "web-config"},
                   "data": {"level": "info"}}, ns)
    client.create({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db"},
                   "stringData": {"password": SECRET_VALUE, "user": "admin"}}, ns)
    client.create(deployment("web", container={
        "envFrom": [{"configMapRef": {"name": "web-config"}}],
        "env": [{"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}}}]},
        volumes=[{"name": "extra", "configMap": {"name": "not-there", "optional": True}}]), ns)
    client.create({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
                   "spec": {"selector": {"app": "web"}, "ports": [{"name": "http", "port": 80, "targetPort": 80}]}}, ns)
    client.create({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {"name": "edge"},
                   "spec": {"rules": [{"host": "web.example.com", "http": {"paths": [
                       {"path": "/", "pathType": "Prefix",
                        "backend": {"service": {"name": "web", "port": {"number": 80}}}}]}}]}}, ns)


def _ready(ws: Any, ref: str, want: str = "2/2 available") -> Resource | None:
    r = ws.get(ref)
    return r if r.status[0] == want else None


def test_get_deployment_related_events_yaml(ws, client, namespace) -> None:
    app_objects(client, namespace)
    r = wait_for(lambda: _ready(ws, f"deployment/{namespace}/web"), 60, 1, "web 2/2 available")
    assert isinstance(r, Resource) and (r.kind, r.namespace, r.name) == ("Deployment", namespace, "web")
    assert ws.get("deploy", "web", namespace=namespace).ref == r.ref  # the kind, name, namespace= form
    rel = {(x.relation, x.kind): [] for x in r.related}
    for x in r.related:
        rel[(x.relation, x.kind)].append(x)
    assert [x.name for x in rel[("owns", "ReplicaSet")]] and rel[("owns", "ReplicaSet")][0].detail == "revision 1"
    assert len(rel[("selects", "Pod")]) == 2 and {x.status for x in rel[("selects", "Pod")]} == {"Running"}
    assert rel[("selected by", "Service")][0].status == "2 ready endpoints"
    assert rel[("routed by", "Ingress")][0].detail == "web.example.com/ → web:80"
    mounts = {x.name: x for x in rel[("mounts", "ConfigMap")] + rel[("mounts", "Secret")]}
    assert (mounts["web-config"].status, mounts["web-config"].detail) == ("present", "envFrom")
    assert (mounts["not-there"].status, mounts["not-there"].health) == ("missing (optional)", "warn")
    assert (mounts["db"].status, mounts["db"].detail) == ("present", "env DB_PASSWORD")
    assert r.skipped == {}
    assert any(e["reason"] == "ScalingReplicaSet" for e in r.events)
    assert "managedFields" not in r.yaml and "managedFields" not in r.object["metadata"]
    assert r.yaml.startswith("kind: Deployment\napiVersion: apps/v1\nmetadata:\n  name: web\n")
    assert r.related_frame()["relation"].tolist().count("selects") == 2
    assert list(r.conditions_frame()["type"]) == ["Available", "Progressing"]
    html = r._repr_html_()
    assert "<script>" not in html and "<img" not in html and "&lt;script&gt;" in html
    text = ws.describe(f"deployment/{namespace}/web")
    assert text.startswith(f"Name:                   web\nNamespace:              {namespace}\n")
    assert "Replicas:               2 desired | 2 updated | 2 total | 2 available | 0 unavailable" in text
    assert f"NewReplicaSet:   {rel[('owns', 'ReplicaSet')][0].name} (2/2 replicas created)" in text
    assert "Normal  ScalingReplicaSet" in text and "deployment-controller" in text


def test_pod_detail_owner_chain_node_and_describe(ws, client, namespace) -> None:
    app_objects(client, namespace)
    wait_for(lambda: _ready(ws, "deployment/web"), 60, 1, "web 2/2 available")
    pod_name = ws.pods(namespace=namespace, selector="app=web").names[0]
    r = ws.get(f"pod/{namespace}/{pod_name}")
    owners = [(x.kind, x.detail) for x in r.owners]
    assert owners[0][0] == "Deployment" and owners[1] == ("ReplicaSet", "controller")
    assert owners[0][1].startswith("controller of ReplicaSet/web-")
    node = next(x for x in r.related if x.relation == "runs on")
    assert node.kind == "Node" and node.name.startswith("sandbox-node-") and node.status == "Ready"
    assert r.status == ("Running", "ok")
    text = ws.describe("pod", pod_name, namespace=namespace)
    for line in (f"Name:             {pod_name}", "Status:           Running",
                 f"Controlled By:  ReplicaSet/{r.owners[1].name}", "    Image:          nginx:1.25",
                 "    State:          Running", "    Ready:          True",
                 "      DB_PASSWORD:  <set to the key 'password' in secret 'db'>  Optional: false",
                 "QoS Class:       BestEffort"):
        assert line in text, line
    events = text[text.index("\nEvents:"):]
    assert re.search(r"Normal +Scheduled", events) and "default-scheduler" in events
    assert SECRET_VALUE not in text


def test_describe_crashing_pod(ws, client, namespace) -> None:
    client.create(pod("crash", [container("sandbox/api:1.0")]), namespace)

    def crashed() -> Resource | None:
        r = ws.get("pod/crash")
        cs = (r.object.get("status") or {}).get("containerStatuses") or [{}]
        waiting = ((cs[0].get("state") or {}).get("waiting") or {}).get("reason")
        return r if waiting == "CrashLoopBackOff" and (cs[0].get("lastState") or {}).get("terminated") and \
            any(e["reason"] == "Scheduled" for e in r.events or []) else None

    r = wait_for(crashed, 90, 0.5, "crash to wait in CrashLoopBackOff")
    assert r.status == ("CrashLoopBackOff", "bad")
    text = r.describe()
    assert "    State:          Waiting\n      Reason:       CrashLoopBackOff" in text
    assert "    Last State:     Terminated\n      Reason:       Error\n      Exit Code:    1" in text
    # columns are as wide as their widest cell: "Normal" gets padded once a Warning is listed too
    assert re.search(r"Normal +Scheduled", text) and re.search(r"default-scheduler +Successfully assigned", text)
    assert "CrashLoopBackOff" in r._repr_html_() and "#ffebe9" in r._repr_html_()


def test_service_ingress_and_node_detail(ws, client, namespace) -> None:
    app_objects(client, namespace)
    wait_for(lambda: _ready(ws, "deployment/web"), 60, 1, "web 2/2 available")
    svc = wait_for(lambda: (lambda r: r if r.status == ("2 ready endpoints", "ok") else None)(ws.get("svc/web")),
                   30, 0.5, "the service's endpoints")
    assert sorted(x.relation for x in svc.related) == ["endpoints", "routed by", "selects", "selects"]
    text = svc.describe()
    assert "Selector:          app=web" in text and "Port:              http  80/TCP" in text
    assert "Endpoints:         10." in text and ":80," in text
    ing = ws.get("ingress/edge")
    assert [(x.relation, x.name, x.status) for x in ing.related] == [("routes to", "web", "2 ready endpoints")]
    assert "web.example.com" in ing.describe() and "web:80 (10." in ing.describe()
    node = ws.get("node/sandbox-node-1")
    assert node.namespace is None and node.status == ("Ready", "ok")
    assert all(x.relation == "runs" for x in node.related)
    text = node.describe()
    assert "Non-terminated Pods:" in text and "Allocated resources:" in text and "Kubelet Version:" in text


def test_secret_values_never_shown_and_reveal_is_audited(ws, client, namespace, ledger) -> None:
    app_objects(client, namespace)
    wait_for(lambda: _ready(ws, "deployment/web"), 60, 1, "web 2/2 available")
    encoded = base64.b64encode(SECRET_VALUE.encode()).decode()
    s = ws.get(f"secret/{namespace}/db")
    assert s.keys == {"password": len(SECRET_VALUE), "user": 5}
    views = [repr(s), str(s), s.describe(), s._repr_html_(), s.yaml, repr(s.object), repr(s.summary()),
             repr(s.related), ws.describe("secret/db")]
    for text in views:
        assert SECRET_VALUE not in text and encoded not in text and "YWRtaW4=" not in text
    assert f"password:  {len(SECRET_VALUE)} bytes" in s.describe()
    assert f"password: <{len(SECRET_VALUE)} bytes>" in s.yaml
    users = [x for x in s.related if x.relation == "used by"]
    assert len(users) == 2 and {x.detail for x in users} == {"env DB_PASSWORD"}

    assert s.reveal("password", by="alice") == SECRET_VALUE
    assert ws.reveal(f"secret/{namespace}/db") == {"password": SECRET_VALUE, "user": "admin"}
    with pytest.raises(KeyError, match="its keys: password, user"):
        s.reveal("nope", by="alice")
    rows = ledger.sql("SELECT actor, action, object, payload FROM audit_events ORDER BY seq")
    assert list(rows["action"]) == ["secret.revealed", "secret.revealed"]
    assert list(rows["actor"]) == ["alice", "sandbox-admin"]
    assert set(rows["object"]) == {f"secret/{namespace}/db"}
    payloads = [json.loads(p) if isinstance(p, str) else p for p in rows["payload"]]
    assert payloads == [{"keys": ["password"], "context": "sandbox-admin", "identity": "sandbox-admin"},
                        {"keys": ["password", "user"], "context": "sandbox-admin", "identity": "sandbox-admin"}]
    everything = rows.to_string() + "".join(rows["payload"])
    assert SECRET_VALUE not in everything and encoded not in everything
    assert ledger.verify().ok
    assert SECRET_VALUE not in repr(s) + s._repr_html_()  # revealing did not put values into the Resource
    with pytest.raises(TypeError, match="only Secrets"):
        ws.reveal("configmap/web-config")


def test_viewer_is_forbidden_to_read_secrets_and_is_told_why(viewer_ws, client, namespace, ledger) -> None:
    app_objects(client, namespace)
    for call in (lambda: viewer_ws.get(f"secret/{namespace}/db"), lambda: viewer_ws.reveal("secret/db", "password"),
                 lambda: viewer_ws.describe("secret/db")):
        with pytest.raises(ClusterForbiddenError) as e:
            call()
        err = e.value
        assert (err.verb, err.resource, err.namespace, err.user) == ("get", "secrets", namespace, "sandbox-viewer")
        assert f'user "sandbox-viewer" may not get secrets (API group "") in namespace "{namespace}"' in str(err)
    assert len(ledger.sql("SELECT * FROM audit_events")) == 0  # nothing was revealed, nothing audited
    # the detail of something that mounts the secret still works; the unreadable kind is reported
    r = wait_for(lambda: _ready(viewer_ws, "deployment/web"), 60, 1, "web 2/2 available (as the viewer)")
    assert "secrets" in r.skipped and "forbidden" in r.skipped["secrets"]
    db = next(x for x in r.related if x.kind == "Secret")
    assert (db.name, db.status, db.health) == ("db", "unknown (not readable)", "unknown")
    assert "not shown: secrets: forbidden" in r._repr_html_() and "(not shown: secrets: forbidden" in r.describe()


def test_unknown_kind_and_missing_object(ws, namespace) -> None:
    with pytest.raises(UnknownKindError) as e:
        ws.get("deploymnet/web")
    assert "did you mean deployment (deployments.apps)" in str(e.value).lower()
    with pytest.raises(ResourceNotFoundError) as e:
        ws.get(f"deployment/{namespace}/nope")
    assert "nope" in str(e.value) and namespace in str(e.value)
    with pytest.raises(ValueError, match="names a kind but no object"):
        ws.describe("deployment")


def test_rbac_quota_and_policy_columns_live(ws, client, namespace) -> None:
    rbac = "rbac.authorization.k8s.io/v1"
    client.create({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "ci"}}, namespace)
    client.create({"apiVersion": rbac, "kind": "Role", "metadata": {"name": "reader"},
                   "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}]}, namespace)
    client.create({"apiVersion": rbac, "kind": "RoleBinding", "metadata": {"name": "readers"},
                   "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "reader"},
                   "subjects": [{"kind": "User", "name": "alice", "apiGroup": "rbac.authorization.k8s.io"},
                                {"kind": "ServiceAccount", "name": "ci", "namespace": namespace}]}, namespace)
    client.create({"apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": "q"},
                   "spec": {"hard": {"pods": "10", "requests.cpu": "2", "limits.memory": "4Gi"}}}, namespace)
    client.create({"apiVersion": "v1", "kind": "LimitRange", "metadata": {"name": "lr"},
                   "spec": {"limits": [{"type": "Container", "default": {"memory": "128Mi"}}]}}, namespace)
    client.create({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": "db-only"},
                   "spec": {"podSelector": {"matchLabels": {"app": "db"}}, "policyTypes": ["Ingress"]}}, namespace)
    assert ws.roles(namespace=namespace).frame.loc[0, "CREATED AT"].endswith("Z")
    rb = ws.rolebindings(namespace=namespace).where(name="readers").frame.iloc[0]  # the simulator adds one too
    assert (rb["ROLE"], rb["USERS"], rb["SERVICEACCOUNTS"]) == ("Role/reader", "alice", f"{namespace}/ci")
    quota = wait_for(lambda: (lambda r: r if r["REQUEST"].startswith("pods: 0/10") else None)(
        ws.resourcequotas(namespace=namespace).frame.iloc[0].to_dict()), 30, 0.5, "the quota controller's status")
    assert (quota["REQUEST"], quota["LIMIT"]) == ("pods: 0/10, requests.cpu: 0/2", "limits.memory: 0/4Gi")
    assert list(ws.limitranges(namespace=namespace).frame.columns) == ["NAMESPACE", "NAME", "CREATED AT"]
    assert ws.networkpolicies(namespace=namespace).frame.loc[0, "POD-SELECTOR"] == "app=db"
    sa = ws.serviceaccounts(namespace=namespace).where(name="ci").frame
    assert list(sa.columns) == ["NAMESPACE", "NAME", "SECRETS", "AGE"]
    assert "CREATED AT" in ws.clusterroles().columns and "ROLE" in ws.clusterrolebindings().columns
