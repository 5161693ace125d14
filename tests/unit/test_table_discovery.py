"""Kind resolution over a hand-built discovery document (no cluster)."""

from __future__ import annotations

from typing import Any

import pytest

from kubecopilot.cluster._discovery import build_kinds
from kubecopilot.errors import ClusterError, ResourceNotFoundError, UnknownKindError


def _r(name: str, kind: str, namespaced: bool = True, short: tuple[str, ...] = (), singular: str = "",
       verbs: tuple[str, ...] = ("get", "list", "watch")) -> dict[str, Any]:
    return {"name": name, "singularName": singular, "kind": kind, "namespaced": namespaced,
            "shortNames": list(short), "verbs": list(verbs)}


DOCS: dict[str, dict[str, Any]] = {
    "/api": {"versions": ["v1"]},
    "/api/v1": {"resources": [
        _r("pods", "Pod", short=("po",), singular="pod"), _r("pods/log", "Pod"),
        _r("nodes", "Node", False, ("no",)), _r("events", "Event", short=("ev",)),
        _r("secrets", "Secret"), _r("bindings", "Binding", verbs=("create",))]},
    "/apis": {"groups": [
        {"name": "apps", "versions": [{"version": "v1"}], "preferredVersion": {"version": "v1"}},
        {"name": "events.k8s.io", "versions": [{"version": "v1"}], "preferredVersion": {"version": "v1"}},
        {"name": "metrics.k8s.io", "versions": [{"version": "v1beta1"}],
         "preferredVersion": {"version": "v1beta1"}},
        {"name": "broken.example.com", "versions": [{"version": "v1"}], "preferredVersion": {"version": "v1"}},
        {"name": "example.com", "versions": [{"version": "v1alpha1"}, {"version": "v1"}],
         "preferredVersion": {"version": "v1"}}]},
    "/apis/apps/v1": {"resources": [
        _r("deployments", "Deployment", short=("deploy",), singular="deployment"), _r("deployments/scale", "Scale"),
        _r("daemonsets", "DaemonSet", short=("ds",), singular="daemonset")]},
    "/apis/events.k8s.io/v1": {"resources": [_r("events", "Event", short=("ev",))]},
    "/apis/metrics.k8s.io/v1beta1": {"resources": [_r("pods", "PodMetrics"), _r("nodes", "NodeMetrics", False)]},
    "/apis/example.com/v1": {"resources": [_r("widgets", "Widget", short=("wd",), singular="widget")]},
}


def _get(path: str) -> dict[str, Any]:
    if path not in DOCS:
        raise ResourceNotFoundError(404, "GET", path, f"{path} not served")
    return DOCS[path]


@pytest.fixture(scope="module")
def kinds():
    return build_kinds(_get)


@pytest.mark.parametrize("name", ["pods", "pod", "po", "Pod", "POD", "pods.v1"])
def test_core_pod_spellings(kinds, name: str) -> None:
    k = kinds.resolve(name)
    assert (k.kind, k.group, k.version, k.namespaced) == ("Pod", "", "v1", True)
    assert k.path() == "/api/v1/pods"
    assert k.path("ns1") == "/api/v1/namespaces/ns1/pods"


@pytest.mark.parametrize("name", ["deployments.apps", "deploy", "deployment", "Deployment", "deployment.apps",
                                  "deployments.v1.apps"])
def test_deployment_spellings(kinds, name: str) -> None:
    k = kinds.resolve(name)
    assert k.full_name == "deployments.apps"
    assert k.path("x") == "/apis/apps/v1/namespaces/x/deployments"


def test_core_wins_over_groups_and_groups_can_be_named(kinds) -> None:
    assert kinds.resolve("events").group == ""
    assert kinds.resolve("ev").group == ""
    assert kinds.resolve("events.events.k8s.io").group == "events.k8s.io"
    assert kinds.resolve("pods.metrics.k8s.io").kind == "PodMetrics"


def test_crd_uses_preferred_version_and_subresources_are_skipped(kinds) -> None:
    w = kinds.resolve("widgets.example.com")
    assert (w.kind, w.version, w.api_version) == ("Widget", "v1", "example.com/v1")
    assert kinds.resolve("wd") is w
    assert all("/" not in k.plural for k in kinds)


def test_cluster_scoped_path_ignores_namespace(kinds) -> None:
    n = kinds.resolve("no")
    assert not n.namespaced and n.path("ignored") == "/api/v1/nodes"


def test_unavailable_group_is_a_problem_not_a_failure(kinds) -> None:
    assert any("broken.example.com" in p for p in kinds.problems)


def test_unknown_kind_suggests_closest(kinds) -> None:
    with pytest.raises(UnknownKindError) as e:
        kinds.resolve("deploymnet")
    assert isinstance(e.value, ClusterError)
    assert "did you mean deployment (deployments.apps)" in str(e.value).lower()
    assert e.value.suggestions[0] == "deployment (deployments.apps)"
    assert "ws.kinds()" in str(e.value)


def test_unknown_kind_without_close_names(kinds) -> None:
    with pytest.raises(UnknownKindError) as e:
        kinds.resolve("zzzzqqq")
    assert e.value.suggestions == []
    assert "did you mean" not in str(e.value).lower()


def test_kinds_frame(kinds) -> None:
    f = kinds.frame()
    assert {"KIND", "NAME", "APIVERSION", "NAMESPACED"} <= set(f.columns)
    assert "widgets.example.com" in set(f["NAME"])
    assert "pods" in kinds and "nope" not in kinds
