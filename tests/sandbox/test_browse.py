"""Browsing against the live sandbox: ws.list / shortcuts, pod status columns, CRDs, RBAC, secrets, paging."""

from __future__ import annotations

import time
from typing import Any

import pytest

import kubecopilot as kc
from kubecopilot.cluster import ResourceTable
from kubecopilot.errors import ClusterForbiddenError, UnknownKindError
from tests.conftest import wait_for
from tests.sandbox.helpers import container, pod

pytestmark = pytest.mark.sandbox


@pytest.fixture
def ws(sandbox: Any):
    return kc.connect(str(sandbox.kubeconfig_path), context="sandbox-admin")


def _row(table: ResourceTable, name: str) -> dict[str, Any]:
    rows = table.frame[table.frame["NAME"] == name].to_dict("records")
    return rows[0] if rows else {}


def test_pods_show_status_ready_and_restarts(ws, client, namespace) -> None:
    client.create(pod("crash", [container("sandbox/api:1.0")]), namespace)
    client.create(pod("web", [container("nginx:1.25")]), namespace)

    def settled() -> ResourceTable | None:
        t = ws.pods(namespace=namespace)
        crash, web = _row(t, "crash"), _row(t, "web")
        ok = crash.get("STATUS") == "CrashLoopBackOff" and crash.get("RESTARTS", 0) >= 1 \
            and web.get("STATUS") == "Running" and web.get("READY") == "1/1"
        return t if ok else None

    t = wait_for(settled, 60, 1, "crash in CrashLoopBackOff and web Running")
    assert isinstance(t, ResourceTable) and len(t) == 2
    assert _row(t, "crash")["READY"] == "0/1"
    assert _row(t, "web")["NODE"].startswith("sandbox-node-")
    assert set(t.frame["NAMESPACE"]) == {namespace}
    assert all("managedFields" not in o["metadata"] for o in t.objects)  # as kubectl shows objects
    assert t.where(status="Running").names == ["web"]
    assert "CrashLoopBackOff" in t._repr_html_() and "CrashLoopBackOff" in repr(t)
    # all namespaces by default; label and field selectors are passed through
    assert {"crash", "web"} <= set(ws.pods().frame.query("NAMESPACE == @namespace")["NAME"])
    assert ws.pods(namespace=namespace, selector={"app": "web"}).names == ["web"]
    assert ws.pods(namespace=namespace, fields="metadata.name=crash").names == ["crash"]


def test_list_deploy_short_name(ws, client, namespace) -> None:
    client.create({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "front"}, "spec": {
        "replicas": 2, "selector": {"matchLabels": {"app": "front"}},
        "template": {"metadata": {"labels": {"app": "front"}}, "spec": {"containers": [
            {"name": "web", "image": "sandbox/web:1.0"}]}}}}, namespace)
    t = wait_for(lambda: (lambda t: t if _row(t, "front").get("READY") == "2/2" else None)(
        ws.list("deploy", namespace=namespace)), 60, 1, "front 2/2 ready")
    r = _row(t, "front")
    assert (r["UP-TO-DATE"], r["AVAILABLE"], r["IMAGES"]) == (2, 2, "sandbox/web:1.0")
    assert t.kind.full_name == "deployments.apps"
    assert len(ws.replicasets(namespace=namespace)) == 1
    assert len(ws.pods(namespace=namespace, selector="app=front")) == 2


CRD = {
    "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
    "metadata": {"name": "widgets.example.com"},
    "spec": {"group": "example.com", "scope": "Namespaced",
             "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "shortNames": ["wdg"]},
             "versions": [{"name": "v1", "served": True, "storage": True, "schema": {"openAPIV3Schema": {
                 "type": "object", "x-kubernetes-preserve-unknown-fields": True}}}]}}
CRD_PATH = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.example.com"


def test_crd_is_listable_through_discovery(ws, client, namespace) -> None:
    ws.kinds()  # cache discovery before the CRD exists: listing must still find it
    if client.get_or_none(CRD_PATH):
        client.delete(CRD_PATH)
        wait_for(lambda: client.get_or_none(CRD_PATH) is None, 60, 0.5, "an old widgets CRD to go")
    client.create(CRD)
    try:
        def established() -> bool:
            crd = client.get_or_none(CRD_PATH) or {}
            return any(c.get("type") == "Established" and c.get("status") == "True"
                       for c in (crd.get("status") or {}).get("conditions") or [])

        wait_for(established, 30, 0.3, "the widgets CRD to be established")
        widget = {"apiVersion": "example.com/v1", "kind": "Widget",
                  "metadata": {"name": "w1", "labels": {"colour": "blue"}}, "spec": {"size": 3}}
        wait_for(lambda: _create_ok(client, widget, namespace), 30, 0.5, "the Widget to be created")
        t = ws.list("widgets.example.com")
        assert t.columns == ["NAMESPACE", "NAME", "AGE", "LABELS"]
        assert _row(t, "w1") == {**_row(t, "w1"), "NAMESPACE": namespace, "LABELS": "colour=blue"}
        assert ws.list("wdg", namespace=namespace).names == ["w1"]
        assert ws.kind("Widget").namespaced
    finally:
        client.delete(CRD_PATH)


def _create_ok(client: Any, obj: dict[str, Any], namespace: str) -> bool:
    try:
        client.request("POST", f"/apis/example.com/v1/namespaces/{namespace}/widgets", obj)
        return True
    except Exception:  # the new API can take a moment to be served
        time.sleep(0.2)
        return False


def test_unknown_kind_suggests(ws) -> None:
    with pytest.raises(UnknownKindError) as e:
        ws.list("deploymnet")
    assert "did you mean deployment (deployments.apps)" in str(e.value).lower()


def test_cluster_scoped_kinds(ws) -> None:
    nodes = ws.nodes()
    assert len(nodes) >= 3 and "NAMESPACE" not in nodes.columns
    assert set(nodes.frame["STATUS"]) == {"Ready"}
    assert {"default", "kube-system"} <= set(ws.namespaces().names)
    with pytest.raises(ValueError, match="cluster-scoped"):
        ws.nodes(namespace="default")


def test_secrets_table_has_no_values(ws, client, namespace) -> None:
    value = "p4ssw0rd-do-not-show"
    client.create({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db"},
                   "stringData": {"password": value, "user": "admin"}}, namespace)
    t = ws.secrets(namespace=namespace)
    r = _row(t, "db")
    assert r["DATA"] == 2 and r["KEYS"] == f"password ({len(value)} bytes), user (5 bytes)"
    import base64

    encoded = base64.b64encode(value.encode()).decode()
    for text in (repr(t), t._repr_html_(), t.frame.to_string(), repr(t.objects)):
        assert value not in text and encoded not in text


def test_viewer_cannot_list_secrets(sandbox, namespace) -> None:
    viewer = kc.connect(str(sandbox.kubeconfig_path), context="sandbox-viewer")
    assert len(viewer.configmaps(namespace=namespace)) >= 0
    with pytest.raises(ClusterForbiddenError) as e:
        viewer.secrets(namespace=namespace)
    assert e.value.verb == "list" and e.value.resource == "secrets"


def test_paging_follows_continue(ws, client, namespace, monkeypatch) -> None:
    for i in range(30):
        client.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"cm-{i:02d}",
                       "labels": {"batch": "paging"}}, "data": {"i": str(i)}}, namespace)
    calls: list[dict[str, Any]] = []
    real = ws.raw.request

    def spy(method: str, path: str, **kw: Any) -> dict[str, Any]:
        if path.endswith("/configmaps"):
            calls.append(kw.get("params") or {})
        return real(method, path, **kw)

    monkeypatch.setattr(ws.raw, "request", spy)
    t = ws.configmaps(namespace=namespace, selector="batch=paging", limit=7)
    assert len(t) == 30 and sorted(t.names) == [f"cm-{i:02d}" for i in range(30)]
    assert len(calls) == 5 and all(c["limit"] == 7 for c in calls)
    assert set(t.frame["DATA"]) == {1}
