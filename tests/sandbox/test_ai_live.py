"""The AI pipeline over evidence from a real pod in the sandbox, with the scripted local LLM.

A pod takes a database password from a Secret, prints it in its log along with an IP, and crashes. The
context is built from the live pod, its events, its log and its node, and explained through the fake LLM:
the Secret value, its base64 form, the pod's uid and IPs must not appear in any request body, while the
answer shown locally has them back.

The context is built here from ``ws.read`` and ``ws.raw`` because ``kubecopilot.diagnose`` (which normally
builds it and calls `explain`) was not importable yet when this test was written; ``test_ask_live`` runs once
it is.
"""

from __future__ import annotations

import base64
import importlib.util
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import kubecopilot.ai as ai
from kubecopilot.cluster import Workbench
from kubecopilot.errors import ClusterApiError
from tests.conftest import wait_for
from tests.fake_llm import FakeLLM, configured_fake
from tests.sandbox.helpers import container, pod

pytestmark = pytest.mark.sandbox

SECRET_VALUE = "Sup3r-S3cret-Db-Pass-42"
DB_IP = "10.96.77.12"


@pytest.fixture
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeLLM]:
    monkeypatch.setenv("KUBECOPILOT_DB", str(tmp_path / "audit.duckdb"))
    monkeypatch.delenv("KUBECOPILOT_PROMPTS", raising=False)
    with configured_fake(timeout=5.0) as server:
        yield server


def _leaky_pod(ws: Workbench, namespace: str) -> None:
    ws.raw.request("POST", f"/api/v1/namespaces/{namespace}/secrets", body={
        "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db-creds"},
        "stringData": {"password": SECRET_VALUE}})
    script = (f"echo starting app; echo connecting to postgres at {DB_IP}:5432 with password $DB_PASSWORD; "
              "echo FATAL password authentication failed; exit 1")
    spec = pod("web", [container("busybox:1.36", command=["sh", "-c", script], env=[
        {"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "db-creds", "key": "password"}}}])])
    spec["metadata"]["annotations"] = {"team": "payments-oncall@example.com"}
    ws.raw.request("POST", f"/api/v1/namespaces/{namespace}/pods", body=spec)


def _logs(ws: Workbench, namespace: str) -> str:
    path = f"/api/v1/namespaces/{namespace}/pods/web/log"
    for params in ({}, {"previous": "true"}):
        try:
            text = ws.raw.get_text(path, **params)
        except ClusterApiError:
            continue
        if text.strip():
            return text
    return ""


def _context(ws: Workbench, namespace: str) -> dict[str, Any]:
    """What the diagnosis engine would hand over: the pod, its events, its log, its node, one finding."""
    obj = ws.read(f"pod/{namespace}/web")
    obj.get("metadata", {}).pop("managedFields", None)
    events = ws.raw.list(f"/api/v1/namespaces/{namespace}/events", fieldSelector="involvedObject.name=web")
    messages = [f"{e.get('reason')}: {e.get('message')}" for e in events.get("items") or []]
    status = (obj.get("status", {}).get("containerStatuses") or [{}])[0]
    log = _logs(ws, namespace)
    node_name = obj.get("spec", {}).get("nodeName")
    node = ws.read(f"node/{node_name}") if node_name else None
    if node:
        node = {"metadata": {"name": node_name}, "status": {"addresses": node.get("status", {}).get("addresses"),
                                                            "conditions": node.get("status", {}).get("conditions")}}
    last_line = [line for line in log.splitlines() if line.strip()][-1]
    return {
        "target": f"pod/{namespace}/web",
        "findings": [{
            "rule": "pod.crashloop", "severity": "error", "object": f"pod/{namespace}/web",
            "cause": f"container app exits {status.get('lastState', {}).get('terminated', {}).get('exitCode', 1)} "
                     f"and restarts ({status.get('restartCount', 0)} restarts)",
            "evidence": [{"kind": "log", "source": f"pod/{namespace}/web app", "quote": last_line}],
            "intent": None, "caused_by": None}],
        "evidence": {"object": obj, "owners": [], "events": messages, "logs": {"app": log}, "node": node,
                     "related": {"secrets": ["db-creds"]}},
    }


def test_explain_live_pod_sends_no_secret(ws: Workbench, namespace: str, fake: FakeLLM) -> None:
    _leaky_pod(ws, namespace)

    def crashed() -> bool:
        p = ws.read(f"pod/{namespace}/web")
        statuses = p.get("status", {}).get("containerStatuses") or [{}]
        return statuses[0].get("restartCount", 0) >= 1 and "with password" in _logs(ws, namespace)

    wait_for(crashed, 90, 1, "the pod to crash at least once with its log")
    context = _context(ws, namespace)
    secret = ws.read(f"secret/{namespace}/db-creds")
    secret_values = [base64.b64decode(v).decode() for v in secret["data"].values()]
    assert SECRET_VALUE in context["evidence"]["logs"]["app"]          # the leak is real, in the evidence
    pod_ip = context["evidence"]["object"]["status"].get("podIP")
    uid = context["evidence"]["object"]["metadata"]["uid"]

    fake.reply_json({
        "summary": "web crashes: postgres at <IP_1> rejects the password from db-creds (<SECRET_1>)",
        "root_cause": "the password in Secret db-creds is wrong", "confidence": 0.8,
        "evidence_refs": ["FATAL password authentication failed"],
        "suggested_actions": [{"action": "restart", "kind": "pod", "name": "web", "namespace": namespace,
                               "parameters": [], "reason": "after fixing the Secret"}],
        "caveats": []})
    x = ai.explain(context, secret_values=secret_values, environment=ws.context)

    body = fake.all_bodies()
    leaked = [v for v in (SECRET_VALUE, base64.b64encode(SECRET_VALUE.encode()).decode(), DB_IP, uid, pod_ip,
                          "payments-oncall@example.com") if v and v in body]
    assert not leaked, f"left the process: {leaked}"
    sent = fake.requests[0].text
    assert "connecting to postgres at <IP_1>:5432 with password <SECRET_1>" in sent
    assert "busybox:1.36" in sent and f"pod/{namespace}/web" in sent and "db-creds" in sent
    assert x.chain.redactions.get("secret_value", 0) >= 1
    assert x.chain.redactions.get("ip", 0) >= 1 and x.chain.redactions.get("uuid", 0) >= 1
    assert x.chain.prompt_id == "diagnose-explain" and x.chain.status == "llm"
    assert x.result.summary == f"web crashes: postgres at {DB_IP} rejects the password from db-creds ({SECRET_VALUE})"
    assert x.intents == []                                    # (restart, pod) is not on the whitelist
    assert "(restart, pod) is not on the whitelist" in x.notes[0]


def test_ask_live(ws: Workbench, namespace: str, fake: FakeLLM) -> None:
    if importlib.util.find_spec("kubecopilot.diagnose") is None or \
            not hasattr(importlib.import_module("kubecopilot.diagnose"), "triage"):
        pytest.skip("kubecopilot.diagnose.triage is not available yet")
    _leaky_pod(ws, namespace)
    wait_for(lambda: "with password" in _logs(ws, namespace), 90, 1, "the pod's log")

    def findings() -> bool:
        return any(f.to_dict()["object"].endswith("/web") for f in ws.triage(namespace).findings)

    wait_for(findings, 90, 2, "a finding about the crashing pod")
    fake.reply_json({"answer": "web crash-loops", "confidence": 0.6, "evidence_refs": [], "suggested_actions": [],
                     "caveats": []})
    answer = ws.ask("why is web crashing?")
    assert answer.status == "llm" and answer.findings
    assert SECRET_VALUE not in fake.all_bodies()
