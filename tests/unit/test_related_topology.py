"""Pure relationship logic over hand-written objects: selectors, pod references, ingress backends, health, the
related objects of one object, and the topology graph with its deterministic layout and figure."""

from __future__ import annotations

import random
from typing import Any

import pytest

from kubecopilot.cluster._discovery import Kind
from kubecopilot.cluster._related import (
    health_of,
    ingress_backends,
    pod_refs,
    relate,
    selector_matches,
    selector_string,
)
from kubecopilot.cluster._topology import Topology, build_topology, layout

XSS = "<img src=x onerror=alert(1)>"


def meta(name: str, **kw: Any) -> dict[str, Any]:
    return {"name": name, "namespace": "n", **kw}


def pod(name: str, labels: dict[str, str], *, ready: bool = True, owner: str | None = None,
        spec: dict[str, Any] | None = None, uid: str | None = None) -> dict[str, Any]:
    m = meta(name, labels=labels, uid=uid or f"uid-{name}")
    if owner:
        m["ownerReferences"] = [{"kind": "ReplicaSet", "name": owner, "uid": f"uid-{owner}", "controller": True}]
    return {"kind": "Pod", "metadata": m, "spec": {"containers": [{"name": "c", "image": "nginx"}], **(spec or {})},
            "status": {"phase": "Running", "containerStatuses": [
                {"name": "c", "ready": ready, "restartCount": 0,
                 "state": {"running": {}} if ready else {"waiting": {"reason": "CrashLoopBackOff"}}}]}}


def test_selector_matching() -> None:
    sel = {"matchLabels": {"app": "web"}, "matchExpressions": [
        {"key": "tier", "operator": "In", "values": ["front", "edge"]},
        {"key": "canary", "operator": "DoesNotExist"}, {"key": "team", "operator": "Exists"},
        {"key": "env", "operator": "NotIn", "values": ["dev"]}]}
    assert selector_matches(sel, {"app": "web", "tier": "edge", "team": "a"})
    assert not selector_matches(sel, {"app": "web", "tier": "back", "team": "a"})
    assert not selector_matches(sel, {"app": "web", "tier": "edge", "team": "a", "canary": "1"})
    assert not selector_matches(sel, {"app": "web", "tier": "edge", "team": "a", "env": "dev"})
    assert not selector_matches(sel, {"app": "web", "tier": "edge"})
    assert not selector_matches({}, {"app": "web"}) and not selector_matches(None, {})
    assert selector_string(sel) == "app=web,!canary,env notin (dev),team,tier in (edge,front)"
    assert selector_string({"matchLabels": {}}) is None


def test_pod_refs_find_every_use_once() -> None:
    spec = {"volumes": [{"name": "cfg", "configMap": {"name": "app-config"}},
                        {"name": "tls", "secret": {"secretName": "tls", "optional": True}},
                        {"name": "data", "persistentVolumeClaim": {"claimName": "data"}},
                        {"name": "p", "projected": {"sources": [{"configMap": {"name": "extra"}},
                                                                {"secret": {"name": "tls"}}]}}],
            "initContainers": [{"name": "i", "envFrom": [{"secretRef": {"name": "creds"}}]}],
            "containers": [{"name": "c", "env": [
                {"name": "DB", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "url"}}},
                {"name": "LEVEL", "valueFrom": {"configMapKeyRef": {"name": "app-config", "key": "lvl"}}}]}],
            "imagePullSecrets": [{"name": "registry"}]}
    refs = {(r.kind, r.name): r for r in pod_refs(spec)}
    assert set(refs) == {("ConfigMap", "app-config"), ("ConfigMap", "extra"), ("Secret", "tls"),
                         ("Secret", "creds"), ("Secret", "registry"), ("PersistentVolumeClaim", "data")}
    assert refs[("ConfigMap", "app-config")].how == "volume cfg, env LEVEL"
    assert refs[("Secret", "creds")].how == "envFrom, env DB"
    assert not refs[("Secret", "tls")].optional  # optional in one place, required in another
    assert refs[("Secret", "registry")].how == "imagePullSecret"


def test_ingress_backends_both_api_shapes() -> None:
    v1 = {"spec": {"defaultBackend": {"service": {"name": "fallback", "port": {"name": "http"}}},
                   "rules": [{"host": "a.example", "http": {"paths": [
                       {"path": "/api", "backend": {"service": {"name": "api", "port": {"number": 80}}}}]}}]}}
    beta = {"spec": {"rules": [{"http": {"paths": [{"backend": {"serviceName": "web", "servicePort": 8080}}]}}]}}
    assert ingress_backends(v1) == [("fallback", "http", "default backend"), ("api", "80", "a.example/api")]
    assert ingress_backends(beta) == [("web", "8080", "*/")]


@pytest.mark.parametrize(("kind", "obj", "expected"), [
    ("Deployment", {"spec": {"replicas": 3}, "status": {"availableReplicas": 3}}, ("3/3 available", "ok")),
    ("Deployment", {"spec": {"replicas": 3}, "status": {"availableReplicas": 1}}, ("1/3 available", "warn")),
    ("Deployment", {"spec": {"replicas": 2}, "status": {}}, ("0/2 available", "bad")),
    ("Deployment", {"spec": {"replicas": 0}}, ("scaled to 0", "ok")),
    ("Job", {"status": {"conditions": [{"type": "Failed", "status": "True"}]}}, ("Failed", "bad")),
    ("PersistentVolumeClaim", {"status": {"phase": "Pending"}}, ("Pending", "warn")),
    ("Node", {"spec": {"unschedulable": True}, "status": {"conditions": [{"type": "Ready", "status": "True"}]}},
     ("Ready,SchedulingDisabled", "warn")),
    ("Service", {"spec": {"selector": {"a": "b"}}}, ("endpoints unknown", "unknown")),
    ("Service", {"spec": {}}, ("no selector", "unknown")),
])
def test_health(kind: str, obj: dict[str, Any], expected: tuple[str, str]) -> None:
    assert health_of(kind, obj) == expected


def test_health_of_pods_and_services_with_endpoints() -> None:
    assert health_of("Pod", pod("a", {})) == ("Running", "ok")
    assert health_of("Pod", pod("b", {}, ready=False)) == ("CrashLoopBackOff", "bad")
    svc = {"spec": {"selector": {"app": "web"}}}
    assert health_of("Service", svc, endpoints={"subsets": [{"addresses": [{"ip": "1"}, {"ip": "2"}]}]}) == \
        ("2 ready endpoints", "ok")
    assert health_of("Service", svc, endpoints={"subsets": [{"notReadyAddresses": [{"ip": "1"}]}]}) == \
        ("no ready endpoints", "bad")


POD_KIND = Kind("Pod", "pods", "pod", ("po",), "", "v1", True, ("get", "list"))


def test_relate_a_pod() -> None:
    p = pod("web-1", {"app": "web"}, owner="web-rs", spec={
        "nodeName": "node-1", "volumes": [{"name": "c", "configMap": {"name": "missing"}}],
        "containers": [{"name": "c", "image": "nginx", "envFrom": [{"configMapRef": {"name": "present"}}],
                        "env": [{"name": "P", "valueFrom": {"secretKeyRef": {"name": "db", "key": "p"}}}]}]})
    data = {
        "owners": [({"kind": "ReplicaSet", "name": "web-rs", "controller": True},
                    {"spec": {"replicas": 1}, "status": {"availableReplicas": 1}}, "Pod/web-1")],
        "services": [{"metadata": meta("web"), "spec": {"selector": {"app": "web"}}},
                     {"metadata": meta("other"), "spec": {"selector": {"app": "other"}}}],
        "endpoints": [{"metadata": meta("web"), "subsets": [{"addresses": [{"ip": "1"}]}]}],
        "ingresses": [{"metadata": meta("edge"), "spec": {"rules": [{"host": "a.example", "http": {"paths": [
            {"path": "/", "backend": {"service": {"name": "web", "port": {"number": 80}}}}]}}]}}],
        "configmaps": [{"metadata": meta("present")}], "secrets": None,
        "node": {"status": {"conditions": [{"type": "Ready", "status": "True"}]}}}
    rel = {(r.relation, r.kind, r.name): r for r in relate(POD_KIND, p, data)}
    assert set(rel) == {("owner", "ReplicaSet", "web-rs"), ("selected by", "Service", "web"),
                        ("routed by", "Ingress", "edge"), ("mounts", "ConfigMap", "missing"),
                        ("mounts", "ConfigMap", "present"), ("mounts", "Secret", "db"), ("runs on", "Node", "node-1")}
    assert (rel[("mounts", "ConfigMap", "missing")].status, rel[("mounts", "ConfigMap", "missing")].health) == \
        ("missing", "bad")
    assert rel[("mounts", "Secret", "db")].health == "unknown"  # secrets were not readable
    assert rel[("selected by", "Service", "web")].status == "1 ready endpoint"
    assert rel[("routed by", "Ingress", "edge")].detail == "a.example/ → web:80"
    assert rel[("runs on", "Node", "node-1")].ref == "node/node-1"
    assert rel[("owner", "ReplicaSet", "web-rs")].status == "1/1 available"


def test_owners_that_are_gone_or_unreadable() -> None:
    from kubecopilot.cluster._related import _DENIED

    owners = [({"kind": "ReplicaSet", "name": "gone", "controller": True}, None, "Pod/p"),
              ({"kind": "Widget", "name": "w"}, _DENIED, "Pod/p")]
    rel = relate(POD_KIND, pod("p", {}), {"owners": owners})
    assert [(r.name, r.status, r.health, r.detail) for r in rel] == [
        ("gone", "not found", "bad", "controller"), ("w", "unknown (not readable)", "unknown", "owner")]


def namespace_lists() -> dict[str, Any]:
    dep = {"metadata": meta("web", uid="uid-web"), "spec": {"replicas": 2}, "status": {"availableReplicas": 1}}
    rs = {"metadata": meta("web-rs", uid="uid-web-rs", ownerReferences=[{"kind": "Deployment", "name": "web",
                                                                          "uid": "uid-web"}]),
          "spec": {"replicas": 2}, "status": {"availableReplicas": 1}}
    old_rs = {"metadata": meta("web-old", uid="uid-old", ownerReferences=[{"uid": "uid-web"}]), "spec": {"replicas": 0}}
    mounts = {"volumes": [{"name": "cfg", "configMap": {"name": "cfg"}}, {"name": "gone", "configMap": {"name": XSS}},
                          {"name": "default-token-abcde", "secret": {"secretName": "default-token-abcde"}}]}
    pods = [pod("web-a", {"app": "web"}, owner="web-rs", spec=mounts),
            pod("web-b", {"app": "web"}, owner="web-rs", ready=False, spec=mounts),
            pod("solo", {"app": "solo"})]
    return {"deployments": [dep], "replicasets": [rs, old_rs], "pods": pods,
            "services": [{"metadata": meta("web"), "spec": {"selector": {"app": "web"}}}],
            "endpoints": [{"metadata": meta("web"), "subsets": [{"addresses": [{"ip": "1"}]}]}],
            "ingresses": [{"metadata": meta("edge"), "spec": {"rules": [{"http": {"paths": [
                {"backend": {"service": {"name": "web", "port": {"number": 80}}}},
                {"backend": {"service": {"name": "ghost", "port": {"number": 80}}}}]}}]}}],
            "configmaps": [{"metadata": meta("cfg")}], "secrets": [], "pvcs": [],
            "statefulsets": [], "daemonsets": [], "jobs": [], "cronjobs": []}


def test_topology_nodes_edges_and_health() -> None:
    nodes, edges = build_topology(namespace_lists())
    by_id = {n.id: n for n in nodes}
    assert set(by_id) == {"Deployment/web", "ReplicaSet/web-rs", "Pod/web-a", "Pod/web-b", "Pod/solo",
                          "Service/web", "Service/ghost", "Ingress/edge", "ConfigMap/cfg", f"ConfigMap/{XSS}"}
    e = {(x.source, x.target, x.relation) for x in edges}
    assert ("Deployment/web", "ReplicaSet/web-rs", "owns") in e
    assert ("ReplicaSet/web-rs", "Pod/web-a", "owns") in e
    assert ("Service/web", "Pod/web-b", "selects") in e and ("Service/web", "Pod/solo", "selects") not in e
    assert ("Ingress/edge", "Service/web", "routes") in e and ("Ingress/edge", "Service/ghost", "routes") in e
    assert ("Pod/web-a", "ConfigMap/cfg", "mounts") in e
    assert not any("default-token" in t for _, t, _ in e)  # the automatic token volume is left out
    assert by_id[f"ConfigMap/{XSS}"].health == "bad" and by_id["Service/ghost"].status == "missing"
    assert by_id["Pod/web-b"].health == "bad" and by_id["Deployment/web"].health == "warn"
    assert by_id["Service/web"].health == "ok"


def test_layout_is_deterministic_and_layered() -> None:
    lists = namespace_lists()
    first, layers = layout(*build_topology(lists))
    for _ in range(5):
        shuffled = {k: random.sample(v, len(v)) if isinstance(v, list) else v for k, v in lists.items()}
        again, _ = layout(*build_topology(shuffled))
        assert sorted((n.id, n.x, n.y) for n in again) == sorted((n.id, n.x, n.y) for n in first)
    assert layers == ["Ingress", "Service / workload", "ReplicaSet / Job", "Pod", "Config / storage"]
    x = {n.id: n.x for n in first}
    assert x["Ingress/edge"] < x["Service/web"] < x["ReplicaSet/web-rs"] < x["Pod/web-a"] < x["ConfigMap/cfg"]
    ys = [n.y for n in first if n.x == x["Pod/web-a"]]
    assert len(set(ys)) == len(ys) and sum(ys) == pytest.approx(0)  # distinct, centred


def test_topology_views_escape_and_carry_the_plotly_figure() -> None:
    nodes, edges = build_topology(namespace_lists())
    placed, layers = layout(nodes, edges)
    t = Topology("n", placed, edges, layers=layers, skipped={"secrets": "forbidden"}, context="ctx")
    assert repr(t) == "Topology(namespace='n', nodes=10, edges=11, unhealthy=3)"
    assert set(t.nodes_frame().columns) == {"id", "kind", "name", "status", "health", "x", "y"}
    assert len(t.edges_frame()) == len(edges)
    fig = t.figure()
    names = {tr.name for tr in fig.data}
    assert {"owns", "selects", "routes", "mounts", "ok", "bad"} <= names
    bad = next(tr for tr in fig.data if tr.name == "bad")
    assert bad.marker.color == "#cf222e" and all("<img" not in str(h) for h in bad.hovertext)
    bundle = t._repr_mimebundle_()
    assert "application/vnd.plotly.v1+json" in bundle and "unhealthy" in bundle["text/plain"]
    assert XSS not in bundle["text/html"] and "skipped secrets" in bundle["text/html"]
    page = t.to_html()
    assert "<script src=" not in page and "Plotly.newPlot" in page and len(page) > 1_000_000  # plotly.js inlined
    with pytest.raises(KeyError, match="no node"):
        t.node("Pod/nope")
