"""kc.connect against the live sandbox: sources, several connections, health, RBAC errors, 401, unreachable."""

from __future__ import annotations

import base64
import logging
import socket
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

import kubecopilot as kc
from kubecopilot.cluster import current, use
from kubecopilot.errors import (
    ClusterAuthError,
    ClusterForbiddenError,
    ClusterUnreachableError,
    ConnectionNotFoundError,
    ContextNotFoundError,
    ResourceNotFoundError,
)

pytestmark = pytest.mark.sandbox

CONTEXTS = ("sandbox-admin", "sandbox-viewer", "sandbox-operator")


@pytest.fixture
def kubeconfig(sandbox: Any) -> dict[str, Any]:
    return yaml.safe_load(Path(sandbox.kubeconfig_path).read_text())


@pytest.fixture
def tokens(kubeconfig: dict[str, Any]) -> list[str]:
    return [u["user"]["token"] for u in kubeconfig["users"]]


def _with_token(kubeconfig: dict[str, Any], token: str, context: str = "sandbox-viewer") -> dict[str, Any]:
    doc = dict(kubeconfig)
    doc["users"] = [{"name": u["name"], "user": {"token": token if u["name"] == context else u["user"]["token"]}}
                    for u in kubeconfig["users"]]
    doc["current-context"] = context
    return doc


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- sources and several connections ----------------------------------------------------------------------------


@pytest.mark.parametrize("form", ["path", "text", "dict"])
def test_connect_from_path_text_and_dict(sandbox: Any, kubeconfig: dict[str, Any], form: str) -> None:
    source = {"path": str(sandbox.kubeconfig_path), "text": Path(sandbox.kubeconfig_path).read_text(),
              "dict": kubeconfig}[form]
    ws = kc.connect(source)
    assert isinstance(ws, kc.Workbench)
    assert (ws.name, ws.context, ws.namespace) == ("sandbox-admin", "sandbox-admin", "default")
    assert ws.raw.version()["gitVersion"].startswith("v1.")
    assert kc.connections()["sandbox-admin"] is ws and current() is ws


def test_three_contexts_at_once_and_switching(sandbox: Any) -> None:
    opened = {c: kc.connect(str(sandbox.kubeconfig_path), c) for c in CONTEXTS}
    conns = kc.connections()
    assert set(conns) == set(CONTEXTS)
    assert conns.current == "sandbox-operator" and current() is opened["sandbox-operator"]
    table = repr(conns)
    for c in CONTEXTS:
        assert c in table and c in conns._repr_html_()
    assert use("sandbox-viewer") is opened["sandbox-viewer"] and current().user == "sandbox-viewer"
    # each connection really is its own identity, concurrently
    with pytest.raises(ClusterForbiddenError):
        opened["sandbox-viewer"].raw.list("/api/v1/namespaces/default/secrets")
    assert "items" in opened["sandbox-admin"].raw.list("/api/v1/namespaces/default/secrets")
    with pytest.raises(ConnectionNotFoundError, match="Did you mean 'sandbox-admin'"):
        use("sandbox-admn")
    # named connections: the same context twice under different names
    other = kc.connect(str(sandbox.kubeconfig_path), "sandbox-admin", name="admin-2", make_current=False)
    assert kc.connections()["admin-2"] is other and current() is opened["sandbox-viewer"]


def test_global_kubernetes_config_is_untouched(sandbox: Any) -> None:
    from kubernetes.client import Configuration

    before = Configuration.get_default_copy().host
    kc.connect(str(sandbox.kubeconfig_path), "sandbox-viewer")
    assert Configuration.get_default_copy().host == before


# -- health ---------------------------------------------------------------------------------------------------


def test_health_admin_and_viewer(sandbox: Any) -> None:
    admin = kc.connect(str(sandbox.kubeconfig_path), "sandbox-admin").health()
    viewer = kc.connect(str(sandbox.kubeconfig_path), "sandbox-viewer").health()
    for h in (admin, viewer):
        assert h.reachable and h.authenticated and h.ok, h.problems
        assert h.server_version and h.server_version.startswith("v1.")
        assert h.credential == "token" and h.token.kind == "opaque"
        assert "cannot tell who you are" in h.user.note or h.user.server_username
        assert h.latency_ms is not None
    assert viewer.user.kubeconfig_user == "sandbox-viewer"
    assert admin.can("create", "pods") and admin.can("delete", "secrets")
    assert viewer.can("list", "pods") and viewer.can("get", "deployments", "apps")
    assert not viewer.can("create", "pods") and not viewer.can("list", "secrets")
    frame = viewer.rules_frame()
    assert list(frame.columns) == ["verbs", "resources", "api_groups", "resource_names"] and len(frame) > 3
    assert "OK" in str(viewer) and "sandbox-viewer" in repr(viewer)
    assert "<table>" in viewer._repr_html_()


def test_health_reports_service_account_jwt_facts_apart_from_authentication(sandbox: Any, namespace: str,
                                                                           kubeconfig: dict[str, Any]) -> None:
    admin = kc.connect(kubeconfig, "sandbox-admin")
    sa = admin.raw.get(f"/api/v1/namespaces/{namespace}/serviceaccounts/default")
    secret = admin.raw.get(f"/api/v1/namespaces/{namespace}/secrets/{sa['secrets'][0]['name']}")
    token = base64.b64decode(secret["data"]["token"]).decode()
    doc = _with_token(kubeconfig, token)
    h = kc.connect(doc, "sandbox-viewer", name="sa").health(namespace)
    assert h.authenticated is True
    assert h.token.kind == "jwt" and h.token.subject == f"system:serviceaccount:{namespace}:default"
    assert h.token.issuer and h.token.service_account == f"{namespace}/default"
    assert h.token.expires_at is None and "no expiry" in h.token.describe()  # legacy secret-based token
    assert h.user.token_subject == h.token.subject
    for text in (str(h), repr(h), h._repr_html_()):
        assert token not in text


# -- errors ---------------------------------------------------------------------------------------------------


def test_viewer_listing_secrets_is_forbidden_with_the_details(sandbox: Any, namespace: str) -> None:
    ws = kc.connect(str(sandbox.kubeconfig_path), "sandbox-viewer")
    with pytest.raises(ClusterForbiddenError) as info:
        ws.raw.list(f"/api/v1/namespaces/{namespace}/secrets")
    e = info.value
    assert (e.status, e.verb, e.resource, e.group, e.namespace, e.user) == (
        403, "list", "secrets", "", namespace, "sandbox-viewer")
    msg = str(e)
    for part in ("list", "secrets", namespace, "sandbox-viewer",
                 f"kubectl auth can-i list secrets -n {namespace} --as sandbox-viewer"):
        assert part in msg
    # cluster-scoped and grouped resources
    with pytest.raises(ClusterForbiddenError) as info:
        ws.raw.request("POST", "/apis/rbac.authorization.k8s.io/v1/clusterroles",
                       body={"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
                             "metadata": {"name": "kc-test-nope"}})
    e = info.value
    assert (e.verb, e.resource, e.group, e.namespace) == ("create", "clusterroles", "rbac.authorization.k8s.io", None)
    assert "kubectl auth can-i create clusterroles.rbac.authorization.k8s.io --as sandbox-viewer" in str(e)


def test_not_found_and_pagination(sandbox: Any, namespace: str) -> None:
    ws = kc.connect(str(sandbox.kubeconfig_path), "sandbox-admin")
    with pytest.raises(ResourceNotFoundError, match=f'"nope" not found in namespace "{namespace}"'):
        ws.raw.get(f"/api/v1/namespaces/{namespace}/configmaps/nope")
    for i in range(5):
        ws.raw.request("POST", f"/api/v1/namespaces/{namespace}/configmaps",
                       body={"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"cm-{i}"}})
    listed = ws.raw.list(f"/api/v1/namespaces/{namespace}/configmaps", limit=2)
    names = {o["metadata"]["name"] for o in listed["items"]}
    assert {f"cm-{i}" for i in range(5)} <= names
    assert "continue" not in listed["metadata"]


def test_unknown_context_lists_the_available_ones(sandbox: Any) -> None:
    with pytest.raises(ContextNotFoundError) as info:
        kc.connect(str(sandbox.kubeconfig_path), "sandbox-veiwer")
    e = info.value
    assert e.closest == "sandbox-viewer"
    for c in CONTEXTS:
        assert c in e.available and c in str(e)
    assert str(sandbox.kubeconfig_path) in str(e)


def test_unreachable_server_names_host_and_timeout_quickly(kubeconfig: dict[str, Any]) -> None:
    port = _closed_port()
    doc = dict(kubeconfig, clusters=[{"name": "sandbox", "cluster": dict(
        kubeconfig["clusters"][0]["cluster"], server=f"https://127.0.0.1:{port}")}])
    t0 = time.monotonic()
    ws = kc.connect(doc, "sandbox-admin", connect_timeout=3)
    with pytest.raises(ClusterUnreachableError) as info:
        ws.raw.version()
    assert time.monotonic() - t0 < 3
    e = info.value
    assert (e.host, e.port, e.timeout) == ("127.0.0.1", port, 3)
    assert f"127.0.0.1:{port}" in str(e) and "3 s" in str(e) and "refused" in str(e).lower()
    h = ws.health()
    assert not h.reachable and h.authenticated is None and f"127.0.0.1:{port}" in h.problems[0]
    assert "UNREACHABLE" in str(h)


def test_connect_timeout_is_honoured(kubeconfig: dict[str, Any]) -> None:
    doc = dict(kubeconfig, clusters=[{"name": "sandbox", "cluster": dict(
        kubeconfig["clusters"][0]["cluster"], server="https://192.0.2.1:6443")}])  # TEST-NET-1: never answers
    ws = kc.connect(doc, "sandbox-admin", connect_timeout=0.5)
    t0 = time.monotonic()
    with pytest.raises(ClusterUnreachableError, match=r"192\.0\.2\.1:6443.*0\.5 s"):
        ws.raw.version()
    assert time.monotonic() - t0 < 2


def test_revoked_token_rebuilds_once_then_explains(kubeconfig: dict[str, Any], tokens: list[str],
                                                   caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    wrong = "revoked-" + "x" * 40
    ws = kc.connect(_with_token(kubeconfig, wrong), "sandbox-viewer")
    with pytest.raises(ClusterAuthError) as info:
        ws.raw.list("/api/v1/namespaces/default/pods")
    e = info.value
    assert ws.raw.rebuilds == 1 and e.status == 401
    assert "sandbox-viewer" in str(e) and "fresh" in str(e) and "after rebuilding" in str(e)
    h = ws.health()
    assert h.reachable and h.authenticated is False and h._status() == "NOT AUTHENTICATED"
    texts = [str(e), repr(e), repr(ws), repr(ws.raw), str(h), repr(h), h._repr_html_()]
    texts += [r.getMessage() for r in caplog.records]
    for secret in [wrong, *tokens]:
        for text in texts:
            assert secret not in text


def test_401_rebuild_picks_up_a_refreshed_kubeconfig_file(tmp_path: Path, kubeconfig: dict[str, Any]) -> None:
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(_with_token(kubeconfig, "stale-token-" + "y" * 30)))
    path.chmod(0o600)
    ws = kc.connect(str(path), "sandbox-viewer")
    path.write_text(yaml.safe_dump(kubeconfig))  # the user logged in again: the file has a good token now
    assert "items" in ws.raw.list("/api/v1/namespaces/default/pods")
    assert ws.raw.rebuilds == 1


def test_no_token_anywhere_in_outputs_or_logs(sandbox: Any, tokens: list[str], namespace: str,
                                              caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    texts: list[str] = []
    for c in CONTEXTS:
        ws = kc.connect(str(sandbox.kubeconfig_path), c)
        h = ws.health(namespace)
        texts += [repr(ws), str(ws), ws._repr_html_(), repr(ws.raw), repr(h), str(h), h._repr_html_()]
        try:
            ws.raw.list(f"/api/v1/namespaces/{namespace}/secrets")
        except ClusterForbiddenError as e:
            texts += [str(e), repr(e), str(e.body)]
    conns = kc.connections()
    texts += [repr(conns), conns._repr_html_()]
    texts += [r.getMessage() for r in caplog.records]
    for token in tokens:
        for text in texts:
            assert token not in text
