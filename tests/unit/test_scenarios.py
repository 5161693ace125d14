"""Scenario files and their loader: validation, expansion, and the symptom / health checks (no cluster)."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubecopilot.errors import ScenarioError
from kubecopilot.sandbox._rest import KINDS, ApiError, resource_path
from kubecopilot.sandbox._scenarios import (
    RULES,
    Scenario,
    check_healthy,
    check_symptoms,
    describe_symptom,
    get_scenario,
    load_scenario,
    load_scenarios,
    scenario_names,
    seed,
    summarize,
)

# --------------------------------------------------------------------------------------------------
# the shipped scenarios


@pytest.fixture(scope="module")
def shipped() -> list[Scenario]:
    return load_scenarios()


@pytest.mark.parametrize("name", scenario_names())
def test_every_shipped_scenario_loads(name: str) -> None:
    scenario = get_scenario(name)
    assert scenario.name == name
    assert scenario.title and scenario.description and scenario.category
    if not scenario.healthy:
        assert scenario.expect is not None
        assert scenario.expect.keywords and scenario.expect.symptoms


def test_enough_broken_scenarios_and_controls(shipped: list[Scenario]) -> None:
    broken = [s for s in shipped if not s.healthy]
    healthy = [s for s in shipped if s.healthy]
    assert len(broken) >= 25
    assert len(healthy) >= 5
    assert [s.name for s in shipped] == sorted(s.name for s in shipped)


def test_every_rule_used_is_known(shipped: list[Scenario]) -> None:
    used = {s.expect.rule for s in shipped if s.expect}
    assert used <= set(RULES)


def test_names_fit_in_a_prefixed_namespace(shipped: list[Scenario]) -> None:
    for scenario in shipped:
        assert len(scenario.name) <= 40
        rendered = scenario.render(f"sc-{scenario.name}")
        for node in rendered.nodes:
            # node names become the kubernetes.io/hostname label value (63 characters at most)
            assert len(node.name) <= 63, node.name


def test_shipped_scenarios_use_the_apis_of_kubernetes_1_20(shipped: list[Scenario]) -> None:
    for scenario in shipped:
        for manifest in scenario.manifests:
            if manifest["kind"] == "CronJob":
                assert manifest["apiVersion"] == "batch/v1beta1", scenario.name
            if manifest["kind"] == "PodDisruptionBudget":
                assert manifest["apiVersion"] == "policy/v1beta1", scenario.name


def test_describe_symptom_is_readable(shipped: list[Scenario]) -> None:
    for scenario in shipped:
        for symptom in scenario.expect.symptoms if scenario.expect else []:
            text = describe_symptom(symptom)
            assert text.startswith(symptom["kind"]), text


def test_unknown_scenario_name_suggests_close_matches() -> None:
    with pytest.raises(ScenarioError) as info:
        get_scenario("crashloop-missing-evn")
    assert "crashloop-missing-env" in str(info.value)


# --------------------------------------------------------------------------------------------------
# {namespace} expansion


def test_namespace_placeholder_is_expanded_everywhere() -> None:
    scenario = get_scenario("unschedulable-taint").render("sc-taint")
    assert [n.name for n in scenario.nodes] == ["sc-taint-gpu"]
    assert scenario.nodes[0].labels["pool"] == "sc-taint-gpu"
    deployment = scenario.manifests[0]
    assert deployment["metadata"]["namespace"] == "sc-taint"
    assert deployment["spec"]["template"]["spec"]["nodeSelector"] == {"pool": "sc-taint-gpu"}

    node_scenario = get_scenario("node-not-ready-evicted").render("sc-nodes")
    assert node_scenario.expect is not None
    assert node_scenario.expect.object == "Node/sc-nodes-node"
    assert node_scenario.expect.symptoms[0]["name"] == "sc-nodes-node"
    assert node_scenario.nodes[0].taints[0]["value"] == "sc-nodes"

    rbac = get_scenario("rbac-forbidden").render("team-x")
    binding = next(m for m in rbac.manifests if m["kind"] == "RoleBinding")
    assert binding["subjects"][0]["namespace"] == "team-x"

    api = get_scenario("upstream-service-missing")
    assert "{namespace}" in json.dumps(api.manifests)  # the loaded scenario stays a template
    rendered = api.render()
    assert "{namespace}" not in json.dumps(rendered.manifests)
    assert "catalog-svc.upstream-service-missing:8080" in json.dumps(rendered.manifests)


def test_render_places_only_namespaced_kinds(tmp_path: Path) -> None:
    doc = _valid_doc("cluster-scoped")
    doc["manifests"].append(
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": "{namespace}-reader"},
            "rules": [],
        }
    )
    scenario = load_scenario(_write(tmp_path, "cluster-scoped", doc)).render("ns1")
    role = scenario.manifests[-1]
    assert role["metadata"] == {"name": "ns1-reader"}
    assert scenario.manifests[0]["metadata"]["namespace"] == "ns1"


# --------------------------------------------------------------------------------------------------
# validation errors name the file and the field


def _valid_doc(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "title": "api crashes",
        "description": "the api crashes because DATABASE_URL is missing",
        "category": "crashloop",
        "healthy": False,
        "nodes": [{"name": "{namespace}-n1", "labels": {"pool": "{namespace}"}}],
        "manifests": [
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {"name": "api"},
                "spec": {"template": {"spec": {"nodeSelector": {"pool": "{namespace}"}}}},
            },
            {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "api"}, "spec": {}},
        ],
        "expect": {
            "object": "Deployment/api",
            "rule": "pod.crashloop",
            "keywords": ["DATABASE_URL"],
            "symptoms": [{"kind": "Pod", "selector": "app=api", "waiting_reason": "CrashLoopBackOff"}],
            "settle_seconds": 60,
        },
    }


def _write(tmp_path: Path, stem: str, doc: Any) -> Path:
    path = tmp_path / f"{stem}.yaml"
    path.write_text(doc if isinstance(doc, str) else yaml.safe_dump(doc, sort_keys=False))
    return path


def test_a_valid_document_loads(tmp_path: Path) -> None:
    scenario = load_scenario(_write(tmp_path, "good-one", _valid_doc("good-one")))
    assert scenario.expect is not None
    assert scenario.expect.symptoms[0]["waiting_reason"] == ["CrashLoopBackOff"]
    assert scenario.nodes[0].name == "{namespace}-n1"


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def mutate(doc: dict[str, Any]) -> None:
        target: Any = doc
        parts = path.split(".")
        for part in parts[:-1]:
            target = target[int(part)] if part.isdigit() else target[part]
        last = parts[-1]
        if value is _DELETE:
            del target[int(last) if last.isdigit() else last]
        elif last.isdigit():
            target[int(last)] = value
        else:
            target[last] = value

    return mutate


_DELETE = object()

INVALID = [
    ("unknown top-level key", _set("severity", "high"), "severity"),
    ("missing title", _set("title", _DELETE), "title"),
    ("missing manifests", _set("manifests", _DELETE), "manifests"),
    ("name is not the file stem", _set("name", "other-name"), "name"),
    ("name is not DNS-1123", _set("name", "Bad_Name"), "name"),
    ("healthy is not a bool", _set("healthy", "no"), "healthy"),
    ("unknown rule", _set("expect.rule", "pod.crashlooping"), "expect.rule"),
    ("unknown expect key", _set("expect.severity", "high"), "expect.severity"),
    ("no keywords", _set("expect.keywords", []), "expect.keywords"),
    ("no symptoms", _set("expect.symptoms", []), "expect.symptoms"),
    (
        "unknown symptom key",
        _set("expect.symptoms.0", {"kind": "Pod", "selector": "app=api", "waiting_reasn": "X"}),
        "expect.symptoms[0].waiting_reasn",
    ),
    (
        "symptom value of the wrong type",
        _set("expect.symptoms.0.waiting_reason", 3),
        "expect.symptoms[0].waiting_reason",
    ),
    (
        "symptom kind unknown",
        _set("expect.symptoms.0", {"kind": "Widget", "name": "x", "exists": True}),
        "expect.symptoms[0].kind",
    ),
    (
        "event symptom without reason",
        _set("expect.symptoms.0", {"kind": "Event", "message_contains": "x"}),
        "expect.symptoms[0].reason",
    ),
    (
        "selector symptom on a non-Pod kind",
        _set("expect.symptoms.0", {"kind": "Deployment", "selector": "app=x", "phase": "Running"}),
        "expect.symptoms[0].selector",
    ),
    (
        "endpoints-only key on another kind",
        _set("expect.symptoms.0", {"kind": "Service", "name": "api", "ready_addresses": 0}),
        "expect.symptoms[0].ready_addresses",
    ),
    (
        "condition without status",
        _set("expect.symptoms.0", {"kind": "Deployment", "name": "api", "condition": {"type": "Available"}}),
        "expect.symptoms[0].condition.status",
    ),
    (
        "condition status not True/False/Unknown",
        _set(
            "expect.symptoms.0",
            {"kind": "Deployment", "name": "api", "condition": {"type": "Available", "status": "Yes"}},
        ),
        "expect.symptoms[0].condition.status",
    ),
    ("settle_seconds not an int", _set("expect.settle_seconds", "soon"), "expect.settle_seconds"),
    ("manifest without apiVersion", _set("manifests.0.apiVersion", _DELETE), "manifests[0].apiVersion"),
    ("manifest without kind", _set("manifests.1.kind", _DELETE), "manifests[1].kind"),
    ("manifest without metadata.name", _set("manifests.1.metadata", {}), "manifests[1].metadata.name"),
    ("manifest kind unknown", _set("manifests.1.kind", "Servce"), "manifests[1].kind"),
    ("manifest kind forbidden", _set("manifests.1.kind", "Namespace"), "manifests[1].kind"),
    (
        "CronJob as batch/v1 (1.21+)",
        _set("manifests.1", {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "c"}}),
        "manifests[1].apiVersion",
    ),
    (
        "manifest in another namespace",
        _set("manifests.1.metadata.namespace", "prod"),
        "manifests[1].metadata.namespace",
    ),
    (
        "duplicate manifest",
        _set("manifests.1", {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "api"}}),
        "manifests[1].metadata.name",
    ),
    (
        "cluster-scoped manifest without {namespace}",
        _set(
            "manifests.1",
            {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "r"}},
        ),
        "manifests[1].metadata.name",
    ),
    ("expect on a healthy control", _set("healthy", True), "expect"),
    ("broken scenario without expect", _set("expect", _DELETE), "expect"),
    ("expect.object not Kind/name", _set("expect.object", "api"), "expect.object"),
    ("expect.object not defined", _set("expect.object", "Deployment/web"), "expect.object"),
    ("expect.object undeclared node", _set("expect.object", "Node/{namespace}-n9"), "expect.object"),
    ("node condition unknown", _set("nodes.0.condition", "Broken"), "nodes[0].condition"),
    ("node field unknown", _set("nodes.0.zone", "a"), "nodes[0].zone"),
    ("node label not a string", _set("nodes.0.labels.gpu", True), "nodes[0].labels.gpu"),
    (
        "node taint effect unknown",
        _set("nodes.0.taints", [{"key": "k", "value": "v", "effect": "Never"}]),
        "nodes[0].taints[0].effect",
    ),
    (
        "unknown placeholder",
        _set("manifests.0.spec.template.spec.nodeSelector.pool", "{ns}"),
        "manifests[0].spec.template.spec.nodeSelector.pool",
    ),
]


@pytest.mark.parametrize(("why", "mutate", "field"), INVALID, ids=[case[0] for case in INVALID])
def test_invalid_scenarios_name_file_and_field(
    tmp_path: Path, why: str, mutate: Callable[[dict[str, Any]], None], field: str
) -> None:
    doc = _valid_doc("broken-file")
    mutate(doc)
    path = _write(tmp_path, "broken-file", doc)
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    message = str(info.value)
    assert "broken-file.yaml" in message, message
    assert info.value.field == field, message
    assert f": {field}: " in message, message


def test_yaml_syntax_error_names_the_line(tmp_path: Path) -> None:
    text = "name: bad-yaml\ntitle: x\ndescription: y\n  category: [unclosed\n"
    with pytest.raises(ScenarioError) as info:
        load_scenario(_write(tmp_path, "bad-yaml", text))
    assert "bad-yaml.yaml" in str(info.value)
    assert info.value.field.startswith("line ")


def test_top_level_must_be_a_mapping(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match=r"listy\.yaml"):
        load_scenario(_write(tmp_path, "listy", "- a\n- b\n"))


def test_healthy_control_without_expect_loads(tmp_path: Path) -> None:
    doc = _valid_doc("control")
    doc["healthy"] = True
    del doc["expect"]
    scenario = load_scenario(_write(tmp_path, "control", doc))
    assert scenario.expect is None and scenario.healthy


def test_unquoted_condition_status_is_read_as_string(tmp_path: Path) -> None:
    doc = _valid_doc("cond-status")
    doc["expect"]["symptoms"] = [
        {"kind": "Deployment", "name": "api", "condition": {"type": "Available", "status": False}}
    ]
    scenario = load_scenario(_write(tmp_path, "cond-status", doc))
    assert scenario.expect is not None
    assert scenario.expect.symptoms[0]["condition"]["status"] == ["False"]


def test_load_scenarios_reads_a_directory(tmp_path: Path) -> None:
    _write(tmp_path, "b-second", _valid_doc("b-second"))
    _write(tmp_path, "a-first", _valid_doc("a-first"))
    assert [s.name for s in load_scenarios(tmp_path)] == ["a-first", "b-second"]
    assert scenario_names(tmp_path) == ["a-first", "b-second"]
    with pytest.raises(ScenarioError, match="a-first"):
        get_scenario("a-frist", tmp_path)


# --------------------------------------------------------------------------------------------------
# checks against a fake API (plain dicts, the shapes the API server returns)


class FakeClient:
    """Enough of `RestClient` for the checks and for `seed`: lists, gets, creates, logs."""

    def __init__(self) -> None:
        self.collections: dict[str, list[dict[str, Any]]] = {}
        self.objects: dict[str, dict[str, Any]] = {}
        self.logs: dict[tuple[str, str, bool], str] = {}
        self.created: list[dict[str, Any]] = []
        self.node_writes: list[list[dict[str, Any]]] = []

    # reads
    def list(self, path: str, **params: Any) -> list[dict[str, Any]]:
        items = self.collections.get(path, [])
        selector = params.get("labelSelector")
        if selector:
            wanted = dict(term.split("=", 1) for term in selector.split(","))
            items = [i for i in items if wanted.items() <= (i["metadata"].get("labels") or {}).items()]
        return copy.deepcopy(items)

    def get_or_none(self, path: str) -> dict[str, Any] | None:
        if "/serviceaccounts/" in path:
            return {"secrets": [{"name": "token"}]}
        if "/resourcequotas/" in path:
            return {"status": {"hard": {"pods": "1"}, "used": {"pods": "0"}}}
        return copy.deepcopy(self.objects.get(path))

    def get(self, path: str, **params: Any) -> dict[str, Any]:
        obj = self.get_or_none(path)
        if obj is None:
            raise ApiError(404, "GET", path, {"reason": "NotFound"})
        return obj

    def request(self, method: str, path: str, body: Any = None, *, params: Any = None, **_: Any) -> Any:
        if method == "PUT" and self._is_control(body):
            return self._record_nodes(body)
        assert method == "GET" and path.endswith("/log")
        pod = path.split("/")[-2]
        key = (pod, params["container"], params.get("previous") == "true")
        if key not in self.logs:
            raise ApiError(400, method, path, {"message": "previous terminated container not found"})
        return {"raw": self.logs[key]}

    # writes
    @staticmethod
    def _is_control(obj: Any) -> bool:
        return bool(obj) and obj["kind"] == "ConfigMap" and obj["metadata"]["name"] == "kubecopilot-simulator"

    def _record_nodes(self, obj: dict[str, Any]) -> dict[str, Any]:
        """The simulator's control ConfigMap (written by `upsert_nodes`) is recorded apart from manifests."""
        self.node_writes.append(json.loads(obj["data"]["nodes.json"]))
        stored = copy.deepcopy(obj)
        stored["metadata"]["resourceVersion"] = str(len(self.node_writes))
        self.objects[resource_path("ConfigMap", "kube-system", "kubecopilot-simulator")] = stored
        return obj

    def create(self, obj: dict[str, Any], namespace: str | None = None) -> dict[str, Any]:
        if self._is_control(obj):
            return self._record_nodes(obj)
        self.created.append(copy.deepcopy(obj))
        return obj

    def apply(self, obj: dict[str, Any], namespace: str | None = None) -> dict[str, Any]:
        if self._is_control(obj):
            return self._record_nodes(obj)
        return obj

    def patch(self, path: str, patch: Any, *, kind: str = "merge") -> dict[str, Any]:
        return patch

    def delete(self, path: str, body: Any = None, *, missing_ok: bool = True) -> None:
        self.objects.pop(path, None)


def _pod(
    name: str,
    labels: dict[str, str],
    *,
    phase: str = "Running",
    ready: bool = True,
    containers: list[dict[str, Any]] | None = None,
    age: float = 300,
) -> dict[str, Any]:
    created = (datetime.now(UTC) - timedelta(seconds=age)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "metadata": {"name": name, "labels": labels, "creationTimestamp": created},
        "status": {
            "phase": phase,
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
            "containerStatuses": containers
            if containers is not None
            else [{"name": "app", "state": {"running": {}}, "restartCount": 0, "ready": ready}],
        },
    }


def _crashing(name: str, labels: dict[str, str], exit_code: int = 1) -> dict[str, Any]:
    return _pod(
        name,
        labels,
        ready=False,
        containers=[
            {
                "name": "api",
                "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                "lastState": {"terminated": {"reason": "Error", "exitCode": exit_code}},
                "restartCount": 3,
            }
        ],
    )


def _event(reason: str, kind: str, name: str, message: str, type_: str = "Warning") -> dict[str, Any]:
    return {
        "reason": reason,
        "type": type_,
        "message": message,
        "count": 2,
        "involvedObject": {"kind": kind, "name": name},
    }


def test_crashloop_symptoms_hold_on_a_crashing_pod() -> None:
    client = FakeClient()
    ns = "sc-crash"
    client.collections[resource_path("Pod", ns)] = [_crashing("billing-api-abc", {"app": "billing-api"})]
    client.logs[("billing-api-abc", "api", True)] = (
        "fatal: required environment variable DATABASE_URL is not set"
    )
    results = check_symptoms(client, get_scenario("crashloop-missing-env"), ns)  # type: ignore[arg-type]
    assert [r.ok for r in results] == [True, True], [str(r) for r in results]
    assert "CrashLoopBackOff" in results[0].detail


def test_symptoms_fail_with_what_was_observed() -> None:
    client = FakeClient()
    ns = "sc-crash"
    client.collections[resource_path("Pod", ns)] = [_crashing("billing-api-abc", {"app": "billing-api"}, 2)]
    results = check_symptoms(client, get_scenario("crashloop-missing-env"), ns)  # type: ignore[arg-type]
    assert not results[0].ok  # exit code 2, not 1
    assert "billing-api-abc" in results[0].detail and "Error(2)" in results[0].detail
    assert not results[1].ok  # no log available


def test_pod_symptoms_with_no_pods() -> None:
    client = FakeClient()
    results = check_symptoms(client, get_scenario("quota-exceeded"), "q")  # type: ignore[arg-type]
    assert results[0].ok  # count: 0
    assert not results[1].ok
    assert "no FailedCreate event" in results[1].detail
    client.collections[resource_path("Event", "q")] = [
        _event(
            "FailedCreate",
            "ReplicaSet",
            "batch-api-7d9f",
            'Error creating: pods "batch-api-7d9f-x" is forbidden: exceeded quota: team-quota, '
            "requested: requests.cpu=1500m, used: requests.cpu=0, limited: requests.cpu=1",
        )
    ]
    results = check_symptoms(client, get_scenario("quota-exceeded"), "q")  # type: ignore[arg-type]
    assert all(r.ok for r in results), [str(r) for r in results]


def test_named_condition_endpoint_and_node_event_symptoms() -> None:
    client = FakeClient()
    ns = "sc-node"
    node = f"{ns}-node"
    client.objects[resource_path("Node", name=node)] = {
        "status": {"conditions": [{"type": "Ready", "status": "False", "reason": "KubeletNotReady"}]}
    }
    client.collections[resource_path("Pod", ns)] = [
        _pod("ledger-1", {"app": "ledger"}, phase="Pending", ready=False, containers=[])
    ]
    client.collections[resource_path("Event", ns)] = [
        _event("TaintManagerEviction", "Pod", "ledger-0", f"Marking for deletion Pod {ns}/ledger-0", "Normal")
    ]
    results = check_symptoms(client, get_scenario("node-not-ready-evicted"), ns)  # type: ignore[arg-type]
    assert all(r.ok for r in results), [str(r) for r in results]

    results = check_symptoms(client, get_scenario("service-selector-mismatch"), "svc")  # type: ignore[arg-type]
    assert results[0].ok and "no Endpoints object" in results[0].detail
    client.objects[resource_path("Endpoints", "svc", "cart")] = {
        "subsets": [{"addresses": [{"ip": "10.0.0.1"}], "ports": [{"port": 8080}]}]
    }
    results = check_symptoms(client, get_scenario("service-selector-mismatch"), "svc")  # type: ignore[arg-type]
    assert not results[0].ok and "1 ready" in results[0].detail


def test_hpa_condition_is_read_through_v2beta2() -> None:
    client = FakeClient()
    ns = "sc-hpa"
    client.objects[
        resource_path("HorizontalPodAutoscaler", ns, "quote-service", api_version="autoscaling/v2beta2")
    ] = {
        "status": {
            "conditions": [{"type": "ScalingActive", "status": "False", "reason": "FailedGetResourceMetric",
                            "message": "the HPA was unable to compute the replica count: failed to get cpu "
                                       "utilization: missing request for cpu"}]
        }
    }
    results = check_symptoms(client, get_scenario("hpa-missing-requests"), ns)  # type: ignore[arg-type]
    assert results[0].ok, str(results[0])


def test_check_healthy() -> None:
    client = FakeClient()
    ns = "ok"
    client.collections[resource_path("Pod", ns)] = [
        _pod("web-1", {"app": "web"}),
        _pod("job-1", {"app": "job"}, phase="Succeeded", ready=False),
        _pod("starting", {"app": "web"}, phase="Pending", ready=False, age=3, containers=[]),
    ]
    client.collections[resource_path("Deployment", ns)] = [
        {"metadata": {"name": "web"}, "spec": {"replicas": 1}, "status": {"readyReplicas": 1}}
    ]
    client.collections[resource_path("Event", ns)] = [
        _event("Scheduled", "Pod", "web-1", "Successfully assigned", "Normal"),
        _event(
            "FailedToUpdateEndpoint",
            "Endpoints",
            "web",
            "Failed to update endpoint ok/web: Operation cannot be fulfilled on endpoints "
            '"web": the object has been modified; please apply your changes to the latest version',
        ),
    ]
    assert check_healthy(client, ns) == []  # type: ignore[arg-type]

    client.collections[resource_path("Pod", ns)].append(_crashing("api-1", {"app": "api"}))
    client.collections[resource_path("Pod", ns)].append(
        _pod("stuck", {"app": "web"}, phase="Pending", ready=False, age=120, containers=[])
    )
    client.collections[resource_path("Event", ns)].append(
        _event("Unhealthy", "Pod", "web-1", "Readiness probe failed: HTTP probe failed with statuscode: 404")
    )
    client.collections[resource_path("Deployment", ns)][0]["status"]["readyReplicas"] = 0
    problems = check_healthy(client, ns)  # type: ignore[arg-type]
    text = "\n".join(problems)
    assert "api-1 container api restarted 3" in text
    assert "api-1 container api is waiting: CrashLoopBackOff" in text
    assert "stuck is Pending" in text
    assert "Warning Unhealthy on Pod/web-1" in text
    assert "Deployment web has 0/1 replicas ready" in text


def test_summarize_is_a_table() -> None:
    client = FakeClient()
    broken = get_scenario("crashloop-missing-env")
    control = get_scenario("healthy-web-service")
    client.collections[resource_path("Pod", "a")] = [_crashing("billing-api-abc", {"app": "billing-api"})]
    table = summarize(client, [(broken, "a"), (control, "b")])  # type: ignore[arg-type]
    lines = table.splitlines()
    assert lines[0].split()[:3] == ["NAMESPACE", "EXPECTED", "OBJECT"]
    assert "Deployment/billing-api" in lines[2] and "pod.crashloop" in lines[2] and "… 1/2" in lines[2]
    assert "(healthy control)" in lines[3] and "✓ healthy" in lines[3]
    assert all(len(line) <= 200 for line in lines)


# --------------------------------------------------------------------------------------------------
# seeding order, against the fake


def test_seed_applies_policy_first_and_flips_node_conditions_last(tmp_path: Path) -> None:
    doc = _valid_doc("seed-order")
    doc["nodes"] = [{"name": "{namespace}-n1", "labels": {"pool": "{namespace}"}, "condition": "NotReady"}]
    doc["manifests"] = [
        {"apiVersion": "autoscaling/v2beta2", "kind": "HorizontalPodAutoscaler", "metadata": {"name": "api"}},
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "api"}},
        {"apiVersion": "policy/v1beta1", "kind": "PodDisruptionBudget", "metadata": {"name": "api"}},
        {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {"name": "api"}},
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "api"}},
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "api"}},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": "api"}},
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "api"}},
        {"apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": "api"}},
    ]
    scenario = load_scenario(_write(tmp_path, "seed-order", doc))
    client = FakeClient()
    client.collections[resource_path("Pod", "seed-ns")] = [
        {"metadata": {"name": "api-1"}, "spec": {"nodeName": "seed-ns-n1"}, "status": {"phase": "Running"}}
    ]
    assert seed(client, scenario, "seed-ns") == "seed-ns"  # type: ignore[arg-type]

    kinds = [obj["kind"] for obj in client.created]
    assert kinds == [
        "Namespace",
        "ResourceQuota",
        "ServiceAccount",
        "RoleBinding",
        "ConfigMap",
        "Service",
        "Deployment",
        "Ingress",
        "HorizontalPodAutoscaler",
        "PodDisruptionBudget",
    ]
    assert client.created[0]["metadata"]["labels"] == {"kubecopilot.io/scenario": "seed-order"}
    assert all(obj["metadata"]["namespace"] == "seed-ns" for obj in client.created[1:])
    # the node is registered Ready first, then switched to its declared condition
    assert [[n["condition"] for n in write] for write in client.node_writes] == [["Ready"], ["NotReady"]]
    node = client.node_writes[-1][0]
    assert node["name"] == "seed-ns-n1"
    assert node["labels"] == {"pool": "seed-ns", "kubecopilot.io/scenario-namespace": "seed-ns"}


def test_seed_rejects_a_bad_namespace() -> None:
    with pytest.raises(ValueError, match="DNS-1123"):
        seed(FakeClient(), get_scenario("healthy-web-service"), "Bad_NS")  # type: ignore[arg-type]


def test_every_symptom_kind_is_a_known_kind(shipped: list[Scenario]) -> None:
    for scenario in shipped:
        for symptom in scenario.expect.symptoms if scenario.expect else []:
            assert symptom["kind"] in KINDS
