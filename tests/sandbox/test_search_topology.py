"""ws.search across kinds (names, labels, annotations, images; 403s skipped, Secret values never searched) and
ws.topology (edges, health, layout, figure) against the live sandbox."""

from __future__ import annotations

import uuid

import pytest

from kubecopilot.cluster import SearchResult, Topology
from kubecopilot.errors import UnknownKindError
from tests.conftest import wait_for
from tests.sandbox.helpers import container, pod

pytestmark = pytest.mark.sandbox


def test_search_names_labels_annotations_images(ws, client, namespace) -> None:
    token = f"zq{uuid.uuid4().hex[:6]}"
    client.create({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": f"{token}-api"}, "spec": {
        "replicas": 1, "selector": {"matchLabels": {"app": "api"}},
        "template": {"metadata": {"labels": {"app": "api"}},
                     "spec": {"containers": [{"name": "api", "image": "sandbox/web:1.0"}]}}}}, namespace)
    client.create({"apiVersion": "v1", "kind": "ConfigMap",
                   "metadata": {"name": "settings", "labels": {"owner": token}}}, namespace)
    client.create({"apiVersion": "v1", "kind": "Service", "metadata": {
        "name": "front", "annotations": {"docs": f"see https://wiki.example.com/{token}/front <b>now</b>"}},
        "spec": {"ports": [{"port": 80}]}}, namespace)
    client.create({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "creds"},
                   "stringData": {"password": f"value-{token}"}}, namespace)
    r = ws.search(token.upper())  # case-insensitive, all namespaces
    assert isinstance(r, SearchResult)
    found = {(m.kind, m.name, m.where) for m in r}
    assert found >= {("Deployment", f"{token}-api", "name"), ("ConfigMap", "settings", "label"),
                     ("Service", "front", "annotation")}
    assert not any(m.kind == "Secret" for m in r)  # the value holds the token, values are never searched
    assert all(m.namespace == namespace for m in r if m.kind != "Pod")
    assert f"configmap/{namespace}/settings" in r.refs
    label = next(m for m in r if m.kind == "ConfigMap")
    assert label.match == f"owner={token}"
    assert r.skipped == {} and "pods" in r.kinds and "nodes" in r.kinds and "events" not in r.kinds
    html = r._repr_html_()
    assert "<b>now</b>" not in html and "&lt;b&gt;now&lt;/b&gt;" in html and "<mark" in html
    wait_for(lambda: len(ws.pods(namespace=namespace)) == 1, 30, 0.5, "the api pod")
    images = ws.search("sandbox/web:1.0", namespace=namespace)
    assert {(m.kind, m.where, m.match) for m in images} >= {("Deployment", "image", "api: sandbox/web:1.0"),
                                                            ("ReplicaSet", "image", "api: sandbox/web:1.0"),
                                                            ("Pod", "image", "api: sandbox/web:1.0")}
    assert "nodes" not in images.kinds  # namespace= leaves the cluster-scoped kinds out
    assert list(images.frame.columns) == ["KIND", "NAMESPACE", "NAME", "WHERE", "MATCH"]
    assert len(ws.search("zz-nothing-matches-this-zz", namespace=namespace)) == 0
    only = ws.search(token, kinds=["cm"])
    assert only.kinds == ["configmaps"] and [m.kind for m in only] == ["ConfigMap"]
    with pytest.raises(ValueError, match="needs some text"):
        ws.search("  ")
    with pytest.raises(UnknownKindError):
        ws.search(token, kinds=["deploymnets"])


def test_viewer_search_skips_what_it_cannot_list(viewer_ws, client, namespace) -> None:
    token = f"zq{uuid.uuid4().hex[:6]}"
    client.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"{token}-cm"}}, namespace)
    client.create({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": f"{token}-secret"}}, namespace)
    r = viewer_ws.search(token, namespace=namespace)
    assert [(m.kind, m.name) for m in r] == [("ConfigMap", f"{token}-cm")]
    assert set(r.skipped) == {"secrets"}
    assert r.skipped["secrets"] == f'forbidden: user "sandbox-viewer" may not list secrets in namespace "{namespace}"'
    assert "skipped secrets" in r._repr_html_() and "skipped: secrets (forbidden" in repr(r)


def app(client, ns: str) -> None:
    client.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg"}, "data": {"a": "1"}}, ns)
    client.create({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db"}, "stringData": {"p": "x"}}, ns)
    client.create({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}, "spec": {
        "replicas": 2, "selector": {"matchLabels": {"app": "web"}},
        "template": {"metadata": {"labels": {"app": "web"}}, "spec": {
            "terminationGracePeriodSeconds": 1,
            "containers": [{"name": "web", "image": "nginx:1.25", "envFrom": [{"configMapRef": {"name": "cfg"}}],
                            "env": [{"name": "P", "valueFrom": {"secretKeyRef": {"name": "db", "key": "p"}}}]}]}}}},
                  ns)
    client.create({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
                   "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}}, ns)
    client.create({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {"name": "edge"},
                   "spec": {"rules": [{"http": {"paths": [{"path": "/", "pathType": "Prefix", "backend": {
                       "service": {"name": "web", "port": {"number": 80}}}}]}}]}}, ns)
    broken = pod("broken", [container("nginx:1.25")],
                 volumes=[{"name": "c", "configMap": {"name": "does-not-exist"}}])
    broken["spec"]["containers"][0]["volumeMounts"] = [{"name": "c", "mountPath": "/c"}]
    client.create(broken, ns)


def test_topology_edges_health_and_figure(ws, client, namespace) -> None:
    app(client, namespace)

    def settled() -> Topology | None:
        t = ws.topology()
        nodes = {n.id: n for n in t.nodes}
        ok = nodes.get("Deployment/web") and nodes["Deployment/web"].health == "ok" and \
            nodes.get("Service/web") and nodes["Service/web"].health == "ok"
        return t if ok else None

    t = wait_for(settled, 60, 1, "web available with endpoints")
    assert isinstance(t, Topology) and t.namespace == namespace and t.skipped == {}
    nodes = {n.id: n for n in t.nodes}
    pods = sorted(i for i in nodes if i.startswith("Pod/web-"))
    rs = next(i for i in nodes if i.startswith("ReplicaSet/web-"))
    assert len(pods) == 2 and {"Ingress/edge", "Service/web", "Deployment/web", "ConfigMap/cfg", "Secret/db",
                               "Pod/broken", "ConfigMap/does-not-exist"} <= set(nodes)
    edges = {(e.source, e.target, e.relation) for e in t.edges}
    assert ("Deployment/web", rs, "owns") in edges and (rs, pods[0], "owns") in edges
    assert ("Service/web", pods[1], "selects") in edges and ("Ingress/edge", "Service/web", "routes") in edges
    assert (pods[0], "ConfigMap/cfg", "mounts") in edges and (pods[0], "Secret/db", "mounts") in edges
    assert ("Pod/broken", "ConfigMap/does-not-exist", "mounts") in edges
    assert not any("default-token" in target for _, target, _ in edges)
    assert (nodes["ConfigMap/does-not-exist"].status, nodes["ConfigMap/does-not-exist"].health) == ("missing", "bad")
    assert nodes["Pod/broken"].health in ("warn", "bad") and nodes[pods[0]].health == "ok"
    assert {n.id for n in t.unhealthy} >= {"ConfigMap/does-not-exist"}
    assert min(n.x for n in t.nodes) == nodes["Ingress/edge"].x == 0.0  # layered left to right
    assert nodes["Ingress/edge"].x < nodes["Service/web"].x < nodes[rs].x < nodes[pods[0]].x < \
        nodes["ConfigMap/cfg"].x
    assert set(t.nodes_frame()["health"]) >= {"ok", "bad"} and len(t.edges_frame()) == len(t.edges)
    fig = t.figure()
    assert {"owns", "selects", "routes", "mounts", "ok", "bad"} <= {tr.name for tr in fig.data}
    bundle = t._repr_mimebundle_()
    assert set(bundle) == {"text/plain", "text/html", "application/vnd.plotly.v1+json"}
    assert "ConfigMap/does-not-exist (missing)" in bundle["text/plain"]


def test_viewer_topology_notes_unreadable_secrets(viewer_ws, client, namespace) -> None:
    app(client, namespace)
    t = wait_for(lambda: (lambda t: t if any(n.kind == "Pod" for n in t.nodes) else None)(viewer_ws.topology()),
                 60, 1, "pods in the topology")
    assert set(t.skipped) == {"secrets"} and "forbidden" in t.skipped["secrets"]
    wait_for(lambda: any(n.id == "Secret/db" for n in viewer_ws.topology().nodes), 60, 1, "the web pods")
    db = viewer_ws.topology().node("Secret/db")
    assert (db.status, db.health) == ("not readable", "unknown")
    assert "skipped secrets" in t._repr_html_()
