"""Diagnosis against the live sandbox: seeded incidents are found and ranked first, healthy controls stay clean,
root-cause ranking across a Service, Secret values never rendered, the audit ledger records, errors are clear.

A representative subset of the scenarios (one per analyzer family) is seeded once for the module, each in a fresh
namespace of its own, and graded the way ``python -m kubecopilot.diagnose.evaluate`` grades all of them.
"""

from __future__ import annotations

import contextlib
import json
import logging
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

import kubecopilot as kc
from kubecopilot.diagnose import Diagnosis, Triage, diagnose, triage
from kubecopilot.errors import ResourceNotFoundError
from kubecopilot.sandbox._nodecontrol import remove_nodes
from kubecopilot.sandbox._rest import ApiError, resource_path
from kubecopilot.sandbox._scenarios import Scenario, check_symptoms, get_scenario, seed, wait_settled
from tests.conftest import wait_for

pytestmark = pytest.mark.sandbox

#: one scenario per analyzer family
REPRESENTATIVE = [
    "crashloop-missing-env",             # crash, with the log line that explains it
    "oomkilled-memory-limit",            # last termination OOMKilled
    "image-pull-wrong-tag",              # ErrImagePull / ImagePullBackOff
    "config-error-missing-configmap",    # CreateContainerConfigError
    "failed-mount-missing-secret",       # FailedMount
    "liveness-wrong-port",               # probes
    "rbac-forbidden",                    # 403 from the API in the logs
    "unschedulable-taint",               # scheduling (adds a node of its own)
    "quota-exceeded",                    # admission rejections on the ReplicaSet
    "deployment-progress-deadline",      # rollout verdict
    "job-backoff-limit",                 # Jobs
    "hpa-missing-requests",              # HPA
    "service-selector-mismatch",         # Services
    "ingress-missing-service",           # Ingress
    "pvc-pending-unknown-storageclass",  # storage
    "node-not-ready-evicted",            # nodes (adds a node of its own)
    "upstream-no-ready-endpoints",       # ranking across a Service
]
CONTROLS = ["healthy-web-service", "healthy-job-complete", "healthy-api-with-upstream"]


@pytest.fixture(scope="module")
def seeded(sandbox: Any) -> Iterator[dict[str, tuple[Scenario, str]]]:
    client = sandbox.client()
    suffix = uuid.uuid4().hex[:5]
    scenarios = [get_scenario(n) for n in REPRESENTATIVE + CONTROLS]
    pairs = [(s, f"td-{s.name}"[:56] + f"-{suffix}") for s in scenarios]
    nodes = [n.name for s, ns in pairs for n in s.render(ns).nodes]
    try:
        for s, ns in sorted(pairs, key=lambda p: any(n.condition != "Ready" for n in p[0].nodes)):
            seed(client, s, ns)
        timeout = max(s.expect.settle_seconds for s in scenarios if s.expect) + 60
        unsettled = set(wait_settled(client, pairs, timeout=timeout))
        yield {s.name: (s, ns) for s, ns in pairs if s.name not in unsettled} | {
            f"unsettled:{s.name}": (s, ns) for s, ns in pairs if s.name in unsettled}
    finally:
        for _, ns in pairs:
            with contextlib.suppress(ApiError):
                client.delete(resource_path("Namespace", name=ns))
        if nodes:
            remove_nodes(client, nodes)


def _ws(sandbox: Any, ns: str, context: str = "sandbox-admin") -> kc.Workbench:
    return kc.connect(str(sandbox.kubeconfig_path), context=context, namespace=ns, name=f"{context}-{ns}")


def _scenario(seeded: dict[str, tuple[Scenario, str]], sandbox: Any, name: str) -> tuple[Scenario, str]:
    if f"unsettled:{name}" in seeded:
        scenario, ns = seeded[f"unsettled:{name}"]
        details = "; ".join(str(r) for r in check_symptoms(sandbox.client(), scenario, ns) if not r.ok)
        pytest.fail(f"scenario {name} never showed its symptoms, so there is nothing to diagnose: {details}")
    return seeded[name]


@pytest.mark.timeout(600)
@pytest.mark.parametrize("name", REPRESENTATIVE)
def test_root_cause_is_found_and_ranked_first(seeded: dict, sandbox: Any, name: str) -> None:
    scenario, ns = _scenario(seeded, sandbox, name)
    expect = scenario.render(ns).expect
    assert expect is not None
    want = f"{expect.kind.lower()}/{expect.name}" if expect.kind == "Node" else \
        f"{expect.kind.lower()}/{ns}/{expect.name}"
    t = triage(_ws(sandbox, ns), ns, record=False)
    assert t.findings, f"no findings in {ns}"
    first = t.findings[0]
    assert (first.rule, first.object) == (expect.rule, want), f"\n{t}"
    assert first.caused_by is None
    text = " ".join([first.object, first.cause, *(f"{e.source} {e.quote}" for e in first.evidence)]).lower()
    assert any(k.lower() in text for k in expect.keywords), f"none of {expect.keywords} in {text!r}"


@pytest.mark.timeout(600)
@pytest.mark.parametrize("name", CONTROLS)
def test_healthy_controls_give_no_findings(seeded: dict, sandbox: Any, name: str) -> None:
    _, ns = _scenario(seeded, sandbox, name)
    ws = _ws(sandbox, ns)
    t = triage(ws, ns, record=False)
    assert len(t) == 0, f"\n{t}"
    paths = {"deployment": f"/apis/apps/v1/namespaces/{ns}/deployments", "job": f"/apis/batch/v1/namespaces/{ns}/jobs",
             "service": f"/api/v1/namespaces/{ns}/services"}
    for kind, path in paths.items():   # each object diagnosed on its own is healthy too
        for obj in ws.raw.list(path)["items"]:
            d = diagnose(ws, f"{kind}/{ns}/{obj['metadata']['name']}", record=False)
            assert d.ok, f"\n{d}"


@pytest.mark.timeout(600)
def test_service_with_crashing_pods_follows_from_the_crash(seeded: dict, sandbox: Any) -> None:
    _, ns = _scenario(seeded, sandbox, "upstream-no-ready-endpoints")
    ws = _ws(sandbox, ns)
    root = f"pod.crashloop:deployment/{ns}/payments"
    t = triage(ws, ns, record=False)
    by_key = {f.key: f for f in t.findings}
    assert t.findings[0].key == root
    svc = by_key[f"service.no-endpoints:service/{ns}/payments"]
    assert svc.caused_by == root and "follows from pod.crashloop" in svc.cause
    assert by_key[f"pod.crashloop:deployment/{ns}/checkout-api"].caused_by == root  # a victim, not a root
    assert [f.key for f in t.root_causes] == [root]
    frame = t.frame
    assert list(frame.columns) == ["rank", "severity", "rule", "object", "cause", "evidence", "caused_by", "fix"]
    assert frame.iloc[0]["rule"] == "pod.crashloop" and frame.iloc[0]["rank"] == 1

    d = ws.diagnose(f"service/{ns}/payments", record=False)
    assert d.findings[0].key == root
    assert next(f for f in d.findings if f.rule == "service.no-endpoints").caused_by == root
    d = ws.diagnose(f"deployment/{ns}/checkout-api", record=False)   # the caller's diagnosis finds the upstream
    assert d.findings[0].key == root


@pytest.mark.timeout(600)
def test_diagnosis_gathers_evidence_for_the_llm(seeded: dict, sandbox: Any) -> None:
    _, ns = _scenario(seeded, sandbox, "crashloop-missing-env")
    ws = _ws(sandbox, ns)
    d = ws.diagnose(f"deployment/{ns}/billing-api", record=False)
    assert isinstance(d, Diagnosis) and d.findings[0].rule == "pod.crashloop"
    assert "DATABASE_URL" in d.findings[0].cause and d.llm_status == "not configured"
    assert d.timings["total_ms"] > 0 and d.timings["api_calls"] >= 5
    pod = ws.raw.list(f"/api/v1/namespaces/{ns}/pods", labelSelector="app=billing-api")["items"][0]
    dp = ws.diagnose(f"pod/{ns}/{pod['metadata']['name']}", record=False)
    assert dp.findings[0].object == f"pod/{ns}/{pod['metadata']['name']}"
    ctx = dp.to_llm_context()
    json.dumps(ctx)
    assert ctx["target"] == dp.target and ctx["findings"][0]["rule"] == "pod.crashloop"
    assert "DATABASE_URL" in ctx["evidence"]["logs"]["api (previous)"]
    assert ctx["evidence"]["object"]["kind"] == "Pod"
    assert [o["ref"].split("/")[0] for o in ctx["evidence"]["owners"]] == ["replicaset", "deployment"]
    assert any("BackOff" in line for line in ctx["evidence"]["events"])
    assert ctx["evidence"]["node"]["name"] == pod["spec"]["nodeName"]
    html = dp._repr_html_()
    assert "pod.crashloop" in html and "<script" not in html
    assert "pod.crashloop" in str(dp) and repr(dp).startswith("Diagnosis(")


@pytest.mark.timeout(600)
def test_node_diagnosis(seeded: dict, sandbox: Any) -> None:
    _, ns = _scenario(seeded, sandbox, "node-not-ready-evicted")
    d = _ws(sandbox, ns).diagnose(f"node/{ns}-node", record=False)
    assert d.findings[0].rule == "node.not-ready" and d.findings[0].severity == "critical"
    assert "NotReady" in d.findings[0].cause


@pytest.mark.timeout(600)
def test_triage_lists_each_kind_once_and_reads_logs_only_for_crashing_pods(seeded: dict, sandbox: Any) -> None:
    _, ns = _scenario(seeded, sandbox, "upstream-no-ready-endpoints")
    t = triage(_ws(sandbox, ns), ns, record=False)
    assert all(c.startswith(("list ", "logs ")) for c in t.calls), t.calls
    lists = [c for c in t.calls if c.startswith("list ")]
    assert len(lists) == len(set(lists))
    logs = [c for c in t.calls if c.startswith("logs ")]
    assert logs and all("/payments-" in c or "/checkout-api-" in c for c in logs)
    assert isinstance(t, Triage) and "Triage of" in str(t) and "<table>" in t._repr_html_()


@pytest.mark.timeout(600)
def test_diagnosis_and_triage_are_recorded_in_the_ledger(seeded: dict, sandbox: Any, ledger: Any) -> None:
    _, ns = _scenario(seeded, sandbox, "quota-exceeded")
    ws = _ws(sandbox, ns)
    d = ws.diagnose(f"deployment/{ns}/batch-api")
    t = ws.triage(ns)
    assert d.recorded and t.recorded
    rows = ledger.sql("SELECT id, status, body FROM diagnoses ORDER BY created")
    assert list(rows["id"]) == [d.id, t.id] and set(rows["status"]) == {"done"}
    body = json.loads(rows["body"][0])
    assert body["target"] == f"deployment/{ns}/batch-api" and body["kind"] == "diagnosis"
    assert body["findings"][0]["rule"] == "quota.exceeded" and "total_ms" in body["timings"]
    events = ledger.sql("SELECT action, object, diagnosis_id, payload FROM audit_events ORDER BY seq")
    assert list(events["action"]) == ["diagnosis.made", "diagnosis.made"]
    assert list(events["diagnosis_id"]) == [d.id, t.id]
    payload = json.loads(events["payload"][0])
    assert "quota.exceeded" in payload["rules"] and payload["counts"]["error"] >= 1
    assert ledger.verify().ok


@pytest.mark.timeout(600)
def test_a_broken_ledger_costs_a_warning_not_the_diagnosis(seeded: dict, sandbox: Any, tmp_path: Any,
                                                           monkeypatch: pytest.MonkeyPatch,
                                                           caplog: pytest.LogCaptureFixture) -> None:
    _, ns = _scenario(seeded, sandbox, "quota-exceeded")
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    monkeypatch.setenv("KUBECOPILOT_DB", str(blocker / "audit.duckdb"))
    with caplog.at_level(logging.WARNING, logger="kubecopilot.diagnose"):
        d = _ws(sandbox, ns).diagnose(f"deployment/{ns}/batch-api")
    assert d.findings[0].rule == "quota.exceeded" and d.recorded is False
    assert any("could not record" in r.getMessage() for r in caplog.records)


def test_unsupported_kinds_and_missing_objects_raise_clear_errors(ws: kc.Workbench, namespace: str) -> None:
    with pytest.raises(ValueError, match="supports pod, deployment"):
        ws.diagnose(f"configmap/{namespace}/anything")
    with pytest.raises(ResourceNotFoundError, match="not found"):
        ws.diagnose(f"deployment/{namespace}/does-not-exist")
    with pytest.raises(TypeError, match="known: llm, budget, record"):
        ws.diagnose(f"deployment/{namespace}/x", colour="red")


@pytest.mark.timeout(300)
def test_secret_values_are_never_rendered_and_a_viewer_is_told_what_it_cannot_read(
        sandbox: Any, namespace: str, ws: kc.Workbench, viewer_ws: kc.Workbench) -> None:
    client = sandbox.client()
    value = f"s3cr3t-{uuid.uuid4().hex}"
    client.create({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "upload"}, "type": "Opaque",
                   "stringData": {"message": value}}, namespace)
    # the worker logs FAIL_MESSAGE before exiting 1: the Secret's value ends up in the crash log
    env = [{"name": "WORK_SECONDS", "value": "1"}, {"name": "EXIT_CODE", "value": "1"},
           {"name": "FAIL_MESSAGE", "valueFrom": {"secretKeyRef": {"name": "upload", "key": "message"}}}]
    client.create({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "uploader"}, "spec": {
        "replicas": 1, "selector": {"matchLabels": {"app": "uploader"}},
        "template": {"metadata": {"labels": {"app": "uploader"}}, "spec": {
            "terminationGracePeriodSeconds": 1,
            "containers": [{"name": "worker", "image": "sandbox/worker:1.0", "env": env}]}}}}, namespace)

    def crashing() -> bool:
        pods = client.list(resource_path("Pod", namespace), labelSelector="app=uploader")
        return any((cs.get("restartCount") or 0) >= 1 and (cs.get("lastState") or {}).get("terminated")
                   for p in pods for cs in (p.get("status") or {}).get("containerStatuses") or [])

    wait_for(crashing, 90, 1, "the uploader to crash and restart")
    d = ws.diagnose(f"deployment/{namespace}/uploader", record=False)
    assert d.findings and d.findings[0].rule == "pod.crashloop"
    assert value in d.secret_values
    assert "***" in d.findings[0].cause   # the log line quoted the value: it is shown redacted
    ctx = d.to_llm_context()
    for text in (repr(d), str(d), d._repr_html_(), json.dumps(d.to_dict()), json.dumps(ctx), repr(d.evidence),
                 d.frame.to_string()):
        assert value not in text
    assert ctx["evidence"]["related"]["secrets"]["upload"]["keys"] == {"message": len(value)}

    v = viewer_ws.diagnose(f"deployment/{namespace}/uploader", record=False)
    assert v.findings and v.findings[0].rule == "pod.crashloop"
    assert v.secret_values == []
    assert any("forbidden" in e and "secrets" in e for e in v.errors), v.errors
    assert any("forbidden" in e for e in v.to_llm_context()["evidence"]["related"]["errors"])
    assert "evidence incomplete" in str(v).lower()
