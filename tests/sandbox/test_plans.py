"""Operation plans against the sandbox: every builder, drift, races, rollback of a multi-step plan, idempotency
across processes, identities, natural language, and the widget's buttons."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from kubecopilot.errors import (
    ClusterForbiddenError,
    PlanApprovalError,
    PlanDriftError,
    PlanError,
    PlanNotAllowedError,
    PlanStateError,
    PlanValidationError,
)
from kubecopilot.plans import PlanIntent, history, load, pending
from tests.conftest import wait_for

pytestmark = pytest.mark.sandbox

REPO = Path(__file__).resolve().parents[2]
DEPLOY = "/apis/apps/v1/namespaces/{ns}/deployments/{name}"


def deployment(name: str, replicas: int = 2, image: str = "nginx:1.25", **pod_spec: Any) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "labels": {"app": name}},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [{"name": "app", "image": image}],
                                           "terminationGracePeriodSeconds": 1, **pod_spec}}}}


def get_deploy(client, ns: str, name: str = "web") -> dict[str, Any]:
    return client.get(DEPLOY.format(ns=ns, name=name))


def events(ledger, plan_id: str) -> list[str]:
    return ledger.sql("SELECT action FROM audit_events WHERE plan_id = ? ORDER BY seq", [plan_id])["action"].tolist()


def ready(client, ns: str, name: str, replicas: int) -> bool:
    st = get_deploy(client, ns, name).get("status") or {}
    return st.get("readyReplicas") == replicas and st.get("updatedReplicas") == replicas


# -- scale: the whole life of a plan -----------------------------------------------------------------------------------
def test_operator_scales_through_a_plan_with_audit_and_postconditions(client, namespace, operator_ws, ledger):
    client.create(deployment("web"), namespace)
    plan = operator_ws.plan.scale("deploy/web", 3, requested_by="olga")
    assert plan.status == "pending" and plan.action == "scale" and plan.target == f"deployment/{namespace}/web"
    assert plan.summary == f"Scale deployment/{namespace}/web up from 2 to 3 replica(s)."
    assert plan.resource.uid == get_deploy(client, namespace)["metadata"]["uid"]
    assert plan.resource.resource_version and plan.diff.before["spec"]["replicas"] == 2
    assert plan.diff.after["spec"]["replicas"] == 3  # the server's dry-run answer
    assert [(c.op, c.path, c.old, c.new) for c in plan.changes] == [("replace", "/spec/replicas", 2, 3)]
    assert plan.diff.patch == [{"op": "replace", "path": "/spec/replicas", "value": 3}]
    assert plan.diff.rollback_patch == [{"op": "test", "path": "/spec/replicas", "value": 3},
                                        {"op": "replace", "path": "/spec/replicas", "value": 2}]
    assert plan.validation.dry_run == "passed"
    assert get_deploy(client, namespace)["spec"]["replicas"] == 2  # building writes nothing
    assert pending().ids == [plan.id]
    with pytest.raises(PlanStateError, match="not approved yet"):
        plan.execute()
    plan.approve(by="alice", reason="traffic")
    result = plan.execute(by="alice", wait=True, timeout=90)
    assert result.ok and result.status == "executed" and not result.replayed
    assert get_deploy(client, namespace)["spec"]["replicas"] == 3
    [pc] = plan.risk.post_conditions
    assert (pc.kind, pc.status) == ("replicas_ready", "met")
    assert events(ledger, plan.id) == ["plan.created", "plan.approved", "plan.executing", "plan.executed",
                                       "plan.verified"]
    approval = ledger.sql("SELECT actor, payload->>'$.reason' AS reason FROM audit_events WHERE action = "
                          "'plan.approved'").to_dict("records")
    assert approval == [{"actor": "alice", "reason": "traffic"}]
    assert len(pending()) == 0
    assert history(status="executed").ids == [plan.id]
    outcome = ledger.plan_outcomes().set_index("plan_id").loc[plan.id]
    assert outcome["approved_by"] == "alice"
    metric = ledger.sql("SELECT labels->>'$.outcome' AS o FROM metrics WHERE name = 'plan.outcome'")["o"].tolist()
    assert metric == ["executed"]
    # the same plan executed again applies nothing and returns the first result
    again = plan.execute()
    assert again.replayed and again.steps == result.steps and again.finished == result.finished
    assert events(ledger, plan.id).count("plan.executed") == 1


def test_viewer_gets_a_clear_403_naming_patch_on_deployments(client, namespace, viewer_ws):
    client.create(deployment("web"), namespace)
    with pytest.raises(ClusterForbiddenError) as e:
        viewer_ws.plan.scale("deploy/web", 3)
    assert e.value.verb == "patch" and e.value.resource == "deployments" and e.value.group == "apps"
    assert "may not patch deployments" in str(e.value) and "kubectl auth can-i patch deployments.apps" in str(e.value)
    assert len(pending()) == 0  # nothing was recorded for a plan that could not be validated


def test_whitelist_is_checked_before_anything_is_read(ws, namespace, monkeypatch):
    from kubecopilot.plans import Policy, _policy, configure

    with pytest.raises(PlanNotAllowedError, match="delete is allowed on: configmap, job, pod"):
        ws.plan.delete("deployment/does-not-even-exist")
    with pytest.raises(PlanNotAllowedError, match="may not write patches"):
        ws.plan.from_intent(PlanIntent(action="patch", kind="deployment", name="web", source="llm:plan-intent@1",
                                       parameters={"patch": [{"op": "remove", "path": "/spec"}]}))
    monkeypatch.setattr(_policy, "_policy", Policy())
    configure(whitelist={"patch": ["Secret"], "scale": ["Deployment"]})
    with pytest.raises(PlanNotAllowedError, match="never carry Secret values"):
        ws.plan.patch("secret/s", [{"op": "add", "path": "/data/x", "value": "eA=="}])
    with pytest.raises(PlanNotAllowedError, match="restart is not allowed on any kind"):
        ws.plan.restart("deploy/web")


def test_noops_and_server_rejections_are_refused_with_the_reason(client, namespace, ws):
    client.create(deployment("web"), namespace)
    with pytest.raises(PlanError, match="already has 2 replica"):
        ws.plan.scale("deploy/web", 2)
    with pytest.raises(PlanValidationError) as e:
        ws.plan.set_resources("deploy/web", requests={"cpu": "2"}, limits={"cpu": "1"})
    assert "rejected the planned set_resources" in str(e.value) and "must be less than or equal to cpu limit" in \
        str(e.value)
    with pytest.raises(PlanError, match="has containers app, sidecar: say which"):
        client.patch(DEPLOY.format(ns=namespace, name="web"), [
            {"op": "add", "path": "/spec/template/spec/containers/-", "value": {"name": "sidecar",
                                                                                 "image": "nginx:1.25"}}],
            kind="json")
        ws.plan.set_image("deploy/web", "nginx:1.27")


def test_credentials_never_enter_a_plan(client, namespace, ws, ledger):
    dep = deployment("web")
    dep["spec"]["template"]["spec"]["containers"][0]["env"] = [{"name": "DB_PASSWORD", "value": "hunter2-literal"}]
    client.create(dep, namespace)
    with pytest.raises(PlanNotAllowedError) as e:
        ws.plan.set_env("deploy/web", {"API_TOKEN": "tok-123-secret"})
    assert "API_TOKEN looks like a credential" in str(e.value) and "tok-123-secret" not in str(e.value)
    plan = ws.plan.scale("deploy/web", 3)  # a workload that already holds one: the snapshot keeps a digest only
    plan.approve(by="alice")
    plan.execute()
    dumped = plan.to_json() + plan._repr_html_() + str(plan)
    stored = ledger.sql("SELECT body::VARCHAR AS b FROM plans")["b"].str.cat()
    events_text = ledger.sql("SELECT payload::VARCHAR AS p FROM audit_events")["p"].str.cat()
    assert "hunter2-literal" not in dumped + stored + events_text
    assert client.get(DEPLOY.format(ns=namespace, name="web"))["spec"]["template"]["spec"]["containers"][0][
        "env"] == [{"name": "DB_PASSWORD", "value": "hunter2-literal"}]  # the object itself is untouched


# -- builders ----------------------------------------------------------------------------------------------------------
def test_restart_set_image_env_resources_and_rollback(client, namespace, ws, ledger):
    client.create(deployment("web", replicas=1, image="nginx:1.25"), namespace)
    wait_for(lambda: ready(client, namespace, "web", 1), 60, what="web ready")

    plan = ws.plan.set_image("deploy/web", "nginx:1.27")
    assert [(c.path, c.old, c.new) for c in plan.changes] == [
        ("/spec/template/spec/containers/0/image", "nginx:1.25", "nginx:1.27")]
    assert any(f.rule == "single_replica" for f in plan.risk.factors)
    plan.approve(by="alice")
    plan.execute(wait=True, timeout=120)
    assert plan.risk.post_conditions[0].kind == "rollout_complete" and plan.risk.post_conditions[0].status == "met"

    plan = ws.plan.set_env("deploy/web", {"MODE": "fast", "EMPTY": None})
    assert [(c.op, c.path, c.new) for c in plan.changes] == [
        ("add", "/spec/template/spec/containers/0/env/0/name", "MODE"),
        ("add", "/spec/template/spec/containers/0/env/0/value", "fast")] or \
        [(c.op, c.path) for c in plan.changes] == [("add", "/spec/template/spec/containers/0/env")]
    plan.approve(by="alice")
    plan.execute()

    plan = ws.plan.set_resources("deploy/web", limits={"memory": "256Mi", "cpu": "500m"})
    plan.approve(by="alice")
    plan.execute()
    c = get_deploy(client, namespace)["spec"]["template"]["spec"]["containers"][0]
    assert c["image"] == "nginx:1.27" and c["env"] == [{"name": "MODE", "value": "fast"}]
    assert c["resources"]["limits"] == {"memory": "256Mi", "cpu": "500m"}

    wait_for(lambda: get_deploy(client, namespace)["metadata"].get("annotations", {})
             .get("deployment.kubernetes.io/revision") == "4", 30, what="revision 4")
    plan = ws.plan.rollback("deploy/web")
    assert plan.parameters["revision"] == 3 and plan.parameters["from"] == 4
    assert "from revision 4 to revision 3" in plan.summary
    assert {c.path for c in plan.changes} == {"/spec/template/spec/containers/0/resources/limits/memory",
                                             "/spec/template/spec/containers/0/resources/limits/cpu"}
    plan.approve(by="alice")
    plan.execute()
    c = get_deploy(client, namespace)["spec"]["template"]["spec"]["containers"][0]
    assert "limits" not in (c.get("resources") or {}) and c["env"] == [{"name": "MODE", "value": "fast"}]
    with pytest.raises(PlanError, match="no revision 99; revisions kept"):
        ws.plan.rollback("deploy/web", revision=99)

    plan = ws.plan.restart("deploy/web")
    [change] = plan.changes
    assert change.path == "/spec/template/metadata/annotations/kubectl.kubernetes.io~1restartedAt"
    plan.approve(by="alice")
    old_pods = {p["metadata"]["uid"] for p in client.list(f"/api/v1/namespaces/{namespace}/pods")}
    plan.execute(wait=True, timeout=120)
    new_pods = {p["metadata"]["uid"] for p in client.list(f"/api/v1/namespaces/{namespace}/pods")
                if not p["metadata"].get("deletionTimestamp")}
    assert new_pods and not (new_pods & old_pods)


def test_apply_creates_then_updates_and_patch(client, namespace, ws):
    manifest = f"""
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
  namespace: {namespace}
data:
  mode: slow
"""
    plan = ws.plan.apply(manifest)
    assert plan.steps[0].patch_format == "create" and plan.diff.before is None
    assert plan.diff.after["data"] == {"mode": "slow"} and "Create configmap" in plan.summary
    plan.approve(by="alice")
    plan.execute(wait=True, timeout=30)
    assert client.get(f"/api/v1/namespaces/{namespace}/configmaps/settings")["data"] == {"mode": "slow"}
    with pytest.raises(PlanError, match=r"already matches|nothing to change"):
        ws.plan.apply(manifest)
    plan = ws.plan.apply({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings"},
                          "data": {"mode": "fast", "extra": "1"}})
    assert {(c.op, c.path) for c in plan.changes} == {("replace", "/data/mode"), ("add", "/data/extra")}
    plan.approve(by="alice")
    plan.execute()
    plan = ws.plan.patch("configmap/settings", [{"op": "remove", "path": "/data/extra"}])
    assert [(c.op, c.path, c.old) for c in plan.changes] == [("remove", "/data/extra", "1")]
    plan.approve(by="alice")
    plan.execute()
    assert client.get(f"/api/v1/namespaces/{namespace}/configmaps/settings")["data"] == {"mode": "fast"}
    with pytest.raises(PlanValidationError, match="does not apply to the live configmap"):
        ws.plan.patch("configmap/settings", [{"op": "remove", "path": "/data/nope"}])


def test_delete_pod_set_selector_and_cronjob_suspend_resume(client, namespace, ws):
    client.create(deployment("web", replicas=2), namespace)
    client.create({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "front"},
                   "spec": {"selector": {"app": "nothing"}, "ports": [{"port": 80}]}}, namespace)
    wait_for(lambda: ready(client, namespace, "web", 2), 60, what="web ready")
    pod = sorted(p["metadata"]["name"] for p in client.list(f"/api/v1/namespaces/{namespace}/pods"))[0]
    plan = ws.plan.delete(f"pod/{pod}")
    assert "recreates it" in plan.summary and not plan.steps[0].reversible
    assert any("not reversible" in f.detail for f in plan.risk.factors)
    plan.approve(by="alice")
    plan.execute(wait=True, timeout=60)
    assert plan.risk.post_conditions[0].status == "met"

    plan = ws.plan.set_selector("svc/front", {"app": "web"})
    assert "(2 pod(s) match" in plan.summary and plan.risk.level == "medium"  # a traffic switch
    plan.approve(by="alice")
    plan.execute(wait=True, timeout=60)
    assert plan.risk.post_conditions[0].status == "met"
    bad = ws.plan.set_selector("svc/front", {"app": "typo"})
    assert bad.risk.level == "high" and "selects no pods" in bad.risk.rationale

    client.create({"apiVersion": "batch/v1beta1", "kind": "CronJob", "metadata": {"name": "nightly"},
                   "spec": {"schedule": "0 3 * * *", "jobTemplate": {"spec": {"template": {"spec": {
                       "restartPolicy": "Never", "containers": [{"name": "job", "image": "busybox:1.36"}]}}}}}},
                  namespace)
    plan = ws.ask_plan(f"suspend cronjob nightly in {namespace}")
    assert plan.action == "suspend" and plan.audit.source == "parser"
    plan.approve(by="alice")
    plan.execute(wait=True, timeout=30)
    cj_path = f"/apis/batch/v1beta1/namespaces/{namespace}/cronjobs/nightly"
    assert client.get(cj_path)["spec"]["suspend"] is True
    with pytest.raises(PlanError, match="already suspended"):
        ws.plan.suspend("cronjob/nightly")
    plan = ws.plan.resume("cronjob/nightly")
    plan.approve(by="alice")
    plan.execute()
    assert client.get(cj_path)["spec"]["suspend"] is False


def test_ask_plan_understands_phrasings_and_says_which(client, namespace, ws):
    client.create(deployment("billing-api"), namespace)
    plan = ws.ask_plan(f"scale billing-api in {namespace} to 5")
    assert (plan.action, plan.target, plan.parameters["replicas"]) == ("scale", f"deployment/{namespace}/billing-api",
                                                                        5)
    assert plan.audit.source == "parser" and plan.parameters["reason"] == f"scale billing-api in {namespace} to 5"
    with pytest.raises(PlanError, match="Phrasings understood"):
        ws.ask_plan("make billing-api go faster please", use_llm=False)


def test_free_form_requests_go_to_the_llm_which_only_picks_an_intent(client, namespace, ws, ledger):
    from tests.fake_llm import configured_fake

    client.create(deployment("billing-api"), namespace)
    answer = {"action": "scale", "kind": "deployment", "name": "billing-api", "namespace": namespace,
              "parameters": [{"key": "replicas", "value": "5"}], "reason": "the user wants five instances",
              "confidence": 0.9, "unsupported": None}
    with configured_fake() as fake:
        fake.reply_json(answer)
        plan = ws.ask_plan("give billing-api five instances, it is drowning")
    assert (plan.action, plan.parameters["replicas"]) == ("scale", 5)
    assert plan.audit.source.startswith("llm:plan-intent@") and plan.audit.source_prompt_id.startswith("plan-intent@")
    assert plan.ai_rationale == "the user wants five instances"
    assert plan.diff.patch == [{"op": "replace", "path": "/spec/replicas", "value": 5}]  # computed here, not by AI
    offered = fake.requests[0].body["response_format"]["json_schema"]["schema"]["properties"]["action"]["enum"]
    assert "patch" not in offered and "scale" in offered
    created = ledger.sql("SELECT payload->>'$.source' AS source FROM audit_events WHERE action = 'plan.created'")
    assert created["source"].tolist() == [plan.audit.source]


def test_from_intent_of_a_diagnosis_finding(client, namespace, ws):
    client.create(deployment("web", image="nginx:9.99-typo"), namespace)
    finding = PlanIntent(action="set_image", kind="deployment", name="web", namespace=namespace,
                         parameters={"image": "nginx:1.25", "container": "app"},
                         reason="ImagePullBackOff: nginx:9.99-typo not found", source="rule:image-pull")
    plan = ws.plan.from_intent(finding)
    assert plan.audit.source == "rule:image-pull" and plan.parameters["reason"] == finding.reason
    assert [(c.old, c.new) for c in plan.changes] == [("nginx:9.99-typo", "nginx:1.25")]
    with pytest.raises(ValueError, match="unknown parameter"):
        ws.plan.from_intent(PlanIntent(action="restart", kind="deployment", name="web", namespace=namespace,
                                       parameters={"force": True}))


# -- drift and races ---------------------------------------------------------------------------------------------------
def test_drift_between_plan_and_execute_is_refused_field_by_field(client, namespace, ws, ledger):
    client.create(deployment("web"), namespace)
    plan = ws.plan.scale("deploy/web", 4)
    client.patch(DEPLOY.format(ns=namespace, name="web"), {"spec": {"replicas": 3},
                                                          "metadata": {"labels": {"owner": "someone-else"}}})
    plan.approve(by="alice")
    with pytest.raises(PlanDriftError) as e:
        plan.execute()
    found = {(d.path, d.change, d.planned, d.live) for d in e.value.drift}
    assert found == {("/spec/replicas", "changed", 2, 3), ("/metadata/labels/owner", "added", None, "someone-else")}
    assert "nothing was written" in str(e.value) and "/spec/replicas: changed — planned 2, live 3" in str(e.value)
    assert get_deploy(client, namespace)["spec"]["replicas"] == 3
    assert plan.status == "failed" and plan.execution.drift
    assert events(ledger, plan.id)[-1] == "plan.drift_refused"
    with pytest.raises(PlanStateError, match="already ran and is failed"):
        plan.execute()


def test_status_churn_is_not_drift_but_a_concurrent_spec_change_is(client, namespace, ws):
    client.create(deployment("web", replicas=1), namespace)
    plan = ws.plan.set_image("deploy/web", "nginx:1.27")  # planned while the first rollout still churns status
    plan.approve(by="alice")
    wait_for(lambda: ready(client, namespace, "web", 1), 60, what="web ready")  # status changed a lot meanwhile
    client.patch(DEPLOY.format(ns=namespace, name="web") + "/status", {"status": {"observedGeneration": 0}})
    assert get_deploy(client, namespace)["metadata"]["resourceVersion"] != plan.resource.resource_version
    plan.execute()
    assert get_deploy(client, namespace)["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.27"

    plan = ws.plan.scale("deploy/web", 2)
    plan.approve(by="alice")
    client.patch(DEPLOY.format(ns=namespace, name="web"),
                 {"spec": {"template": {"metadata": {"annotations": {"team/change": "hotfix"}}}}})
    with pytest.raises(PlanDriftError) as e:
        plan.execute()
    assert [d.path for d in e.value.drift] == ["/spec/template/metadata/annotations/team~1change"]


def test_a_write_between_the_drift_check_and_the_patch_is_rejected_by_the_server(client, namespace, ws, ledger,
                                                                              monkeypatch):
    """The resourceVersion ``test`` op closes the last window: the drift check passes, then someone writes, and
    the API server itself refuses our patch. A write that only touched ``status`` in that window (controllers do
    that all the time) is not a reason to fail: the executor re-reads, sees no drift, and sends again."""
    from kubecopilot.plans import _execute

    client.create(deployment("web"), namespace)
    real_read = _execute._read
    path = DEPLOY.format(ns=namespace, name="web")

    def read_then(write):
        def read(conn, step):
            live = real_read(conn, step)
            write()
            return live
        return read

    plan = ws.plan.scale("deploy/web", 5)
    plan.approve(by="alice")
    monkeypatch.setattr(_execute, "_read", read_then(
        lambda: client.patch(path, {"metadata": {"annotations": {"racer": "1"}}})))
    with pytest.raises(PlanError) as e:
        plan.execute()
    monkeypatch.undo()
    assert "changed between the drift check and the write" in str(e.value)
    assert "precondition refused the write" in str(e.value) and "/metadata/annotations/racer" in str(e.value)
    assert plan.status == "failed" and plan.execution.steps[0].status == "failed"
    assert get_deploy(client, namespace)["spec"]["replicas"] == 2
    assert events(ledger, plan.id)[-1] == "plan.failed"

    plan = ws.plan.scale("deploy/web", 4)
    plan.approve(by="alice")
    bumps = []

    def status_write():
        if not bumps:  # once: the first read is followed by a status-only write, as a controller would do
            bumps.append(client.patch(path + "/status", {"status": {"observedGeneration": 0}})["metadata"]
                         ["resourceVersion"])

    sent = []
    real_apply = _execute._apply
    monkeypatch.setattr(_execute, "_read", read_then(status_write))
    monkeypatch.setattr(_execute, "_apply", lambda conn, step, live: sent.append(live["metadata"]["resourceVersion"])
                        or real_apply(conn, step, live))
    result = plan.execute()
    monkeypatch.undo()
    assert result.ok and get_deploy(client, namespace)["spec"]["replicas"] == 4
    assert len(sent) >= 2 and sent[0] != sent[1]  # refused by the server, sent again with the new version


def test_an_interrupted_execution_says_what_was_applied_and_leaves_no_claim_behind(client, namespace, ws, ledger,
                                                                                 monkeypatch):
    from kubecopilot.plans import _execute

    client.create(deployment("web"), namespace)
    plan = ws.plan.scale("deploy/web", 3)
    plan.approve(by="alice")

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(_execute, "_apply_checked", interrupted)
    with pytest.raises(KeyboardInterrupt):
        plan.execute()
    monkeypatch.undo()
    assert plan.status == "failed" and "interrupted (KeyboardInterrupt" in plan.failure_reason
    assert "applied before that: none" in plan.failure_reason
    assert events(ledger, plan.id)[-2:] == ["plan.executing", "plan.failed"]
    assert ledger.sql("SELECT status FROM plans WHERE id = ?", [plan.id])["status"].tolist() == ["failed"]
    with pytest.raises(PlanStateError, match="already ran and is failed"):
        plan.execute()


# -- approval policy ---------------------------------------------------------------------------------------------------
def test_production_scale_to_zero_is_high_risk_and_needs_a_second_person(client, namespace, ws):
    client.patch(f"/api/v1/namespaces/{namespace}", {"metadata": {"labels": {"kubecopilot.io/tier": "production"}}})
    client.create(deployment("web", replicas=2), namespace)
    client.create({"apiVersion": "policy/v1beta1", "kind": "PodDisruptionBudget", "metadata": {"name": "web"},
                   "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": "web"}}}}, namespace)
    plan = ws.plan.scale("deploy/web", 0, requested_by="alice")
    assert plan.risk.level == "high"
    rules = {f.rule for f in plan.risk.factors}
    assert {"scale_to_zero", "namespace_tier", "pdb"} <= rules
    assert "minAvailable=1" in plan.risk.rationale or any("minAvailable=1" in f.detail for f in plan.risk.factors)
    with pytest.raises(PlanApprovalError, match="four eyes"):
        plan.approve(by="alice")
    plan.approve(by="bob")
    assert plan.status == "confirmed"


# -- nodes: cordon, drain, and a multi-step plan that fails half way ---------------------------------------------------
@pytest.fixture
def own_node(sandbox, client, namespace):
    """A node of this test's own (tainted, so no other test's pods land on it); removed afterwards."""
    from kubecopilot.sandbox._nodecontrol import NodeSpec, remove_nodes, upsert_nodes

    name = f"{namespace}-n"[:60]
    upsert_nodes(client, [NodeSpec(name=name, labels={"kc5-node": name}, taints=[
        {"key": "kc5-own", "value": name, "effect": "NoSchedule"}])])
    wait_for(lambda: next((c["status"] for c in (client.get_or_none(f"/api/v1/nodes/{name}") or {})
                           .get("status", {}).get("conditions", []) if c["type"] == "Ready"), "") == "True", 30,
             what="own node Ready")
    yield name
    remove_nodes(client, [name])


def pinned(name: str, node: str, replicas: int = 1) -> dict[str, Any]:
    return deployment(name, replicas=replicas, nodeSelector={"kc5-node": node},
                      tolerations=[{"key": "kc5-own", "operator": "Exists", "effect": "NoSchedule"}])


def pods_on(client, node: str) -> list[dict[str, Any]]:
    return [p for p in client.list("/api/v1/pods", fieldSelector=f"spec.nodeName={node}")
            if not p["metadata"].get("deletionTimestamp")]


def test_cordon_uncordon_and_drain_skip_daemonset_and_mirror_pods(client, namespace, ws, own_node):
    client.create(pinned("web", own_node, replicas=2), namespace)
    client.create({"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "agent"},
                   "spec": {"selector": {"matchLabels": {"app": "agent"}}, "template": {
                       "metadata": {"labels": {"app": "agent"}},
                       "spec": {"nodeSelector": {"kc5-node": own_node}, "terminationGracePeriodSeconds": 1,
                                "tolerations": [{"key": "kc5-own", "operator": "Exists"}],
                                "containers": [{"name": "a", "image": "nginx:1.25"}]}}}}, namespace)
    bare = {"nodeName": own_node, "terminationGracePeriodSeconds": 1,
            "tolerations": [{"key": "kc5-own", "operator": "Exists"}],
            "containers": [{"name": "a", "image": "nginx:1.25"}]}
    client.create({"apiVersion": "v1", "kind": "Pod", "spec": bare, "metadata": {
        "name": "static-web", "labels": {"app": "static"}, "annotations": {"kubernetes.io/config.mirror": "x"}}},
        namespace)
    client.create({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "loner", "labels": {"app": "loner"}},
                   "spec": bare}, namespace)
    wait_for(lambda: len([p for p in pods_on(client, own_node) if p["status"].get("phase") == "Running"]) == 5, 60,
             what="2 web pods, 1 agent pod, a mirror pod and a bare pod running on the node")

    plan = ws.plan.cordon(own_node)
    assert plan.summary == f"Cordon node {own_node}: no new pods are scheduled onto it (5 running pod(s) stay)."
    plan.approve(by="alice")
    plan.execute(wait=True, timeout=30)
    assert client.get(f"/api/v1/nodes/{own_node}")["spec"]["unschedulable"] is True
    plan = ws.ask_plan(f"uncordon node/{own_node}")
    plan.approve(by="alice")
    plan.execute()
    assert not client.get(f"/api/v1/nodes/{own_node}")["spec"].get("unschedulable")

    with pytest.raises(PlanError, match=f"runs pods that no controller recreates \\({namespace}/loner\\).*force=True"):
        ws.plan.drain(own_node)
    plan = ws.plan.drain(own_node, force=True)
    evicted = [s for s in plan.steps if s.action == "evict"]
    assert plan.steps[0].action == "cordon"
    # the DaemonSet's pod and the mirror pod are left alone; the bare pod is evicted only because of force=True
    assert sorted(s.target.name.split("-")[0] for s in evicted) == ["loner", "web", "web"]
    assert any(f.rule == "unmanaged_pods" and "will not come back" in f.detail for f in plan.risk.factors)
    assert [c.path for c in plan.changes][:1] == ["/spec/unschedulable"]
    uids = {s.target.uid for s in evicted}
    plan.approve(by="alice")
    plan.execute(wait=True, timeout=120)
    assert plan.status == "executed" and all(pc.status == "met" for pc in plan.risk.post_conditions)
    left = pods_on(client, own_node)
    assert not ({p["metadata"]["uid"] for p in left} & uids)
    assert sorted(p["metadata"]["labels"].get("app") for p in left) == ["agent", "static"]
    with pytest.raises(PlanError, match="already cordoned and has no pods to evict"):
        ws.plan.drain(own_node)


def test_a_failing_step_rolls_back_the_completed_ones_in_reverse(client, namespace, ws, ledger, own_node):
    """Drain: cordon ok, evict a-free ok, evict z-guarded refused by a PodDisruptionBudget (a real 429 from the
    API server) -> the cordon is undone; the eviction is reported as not reversible; the plan ends reverted."""
    client.create(pinned("a-free", own_node), namespace)
    client.create(pinned("z-guarded", own_node), namespace)
    wait_for(lambda: ready(client, namespace, "a-free", 1) and ready(client, namespace, "z-guarded", 1), 60,
             what="both pinned deployments ready")
    plan = ws.plan.drain(own_node, eviction_timeout=2)
    assert [s.action for s in plan.steps] == ["cordon", "evict", "evict"]
    assert plan.steps[1].target.name.startswith("a-free") and plan.steps[2].target.name.startswith("z-guarded")
    client.create({"apiVersion": "policy/v1beta1", "kind": "PodDisruptionBudget", "metadata": {"name": "guard"},
                   "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": "z-guarded"}}}}, namespace)
    wait_for(lambda: (client.get(f"/apis/policy/v1beta1/namespaces/{namespace}/poddisruptionbudgets/guard")
                      .get("status") or {}).get("expectedPods") == 1, 30, what="the PDB computed")
    plan.approve(by="alice")
    with pytest.raises(PlanError) as e:
        plan.execute()
    msg = str(e.value)
    assert "reverted" in msg and "s3" in msg and "disruption budget" in msg
    assert "rolled back: s1 (undid: cordon node" in msg and "not reversible, left as done: s2" in msg
    assert plan.status == "reverted" and plan.failure_reason
    by_step = {r.id: r.status for r in plan.execution.steps}
    assert by_step == {"s1": "rolled_back", "s2": "not_reversible", "s3": "failed"}
    assert not client.get(f"/api/v1/nodes/{own_node}")["spec"].get("unschedulable")  # uncordoned again
    assert events(ledger, plan.id)[-1] == "plan.reverted"
    payload = json.loads(ledger.sql("SELECT payload FROM audit_events WHERE action = 'plan.reverted'")["payload"][0])
    assert [s["status"] for s in payload["steps"]] == ["rolled_back", "not_reversible", "failed"]


# -- idempotency across processes --------------------------------------------------------------------------------------
CHILD = """
import json, sys, time
import kubecopilot as kc
from kubecopilot import plans
kubeconfig, namespace, plan_id, start = sys.argv[1:5]
ws = kc.connect(kubeconfig, context="sandbox-admin", namespace=namespace)
plan = plans.load(plan_id, ws)
while time.time() < float(start):
    time.sleep(0.001)
result = plan.execute(by="proc")
print(json.dumps({"status": result.status, "replayed": result.replayed, "pid": result.pid,
                  "finished": result.finished.isoformat()}))
"""


def test_two_processes_execute_the_same_plan_exactly_one_applies(sandbox, client, namespace, ws, ledger):
    client.create(deployment("web"), namespace)
    plan = ws.plan.scale("deploy/web", 4)
    plan.approve(by="alice")
    generation = get_deploy(client, namespace)["metadata"]["generation"]
    start = time.time() + 4.0
    env = {**os.environ, "PYTHONPATH": str(REPO), "KUBECOPILOT_DB": str(ledger.path)}
    procs = [subprocess.Popen([sys.executable, "-c", CHILD, str(sandbox.kubeconfig_path), namespace, plan.id,
                               str(start)], env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for _ in range(2)]
    outs = []
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        outs.append(json.loads(out.strip().splitlines()[-1]))
    assert sorted(o["replayed"] for o in outs) == [False, True]
    assert {o["status"] for o in outs} == {"executed"}
    assert len({o["finished"] for o in outs}) == 1 and len({o["pid"] for o in outs}) == 1  # the first result, twice
    assert get_deploy(client, namespace)["metadata"]["generation"] == generation + 1  # applied once
    assert events(ledger, plan.id).count("plan.executing") == 1
    assert events(ledger, plan.id).count("plan.executed") == 1
    mine = load(plan.id)  # and this process now sees it executed too, bound to its open connection
    assert mine.workbench is ws and mine.status == "executed" and mine.execute().replayed
    assert plan.execute().replayed and plan.status == "executed"


# -- the widget against the cluster ------------------------------------------------------------------------------------
def test_widget_buttons_approve_and_execute_on_the_sandbox(client, namespace, ws, ledger, monkeypatch):
    import ipywidgets

    monkeypatch.setenv("KUBECOPILOT_USER", "wanda")
    client.create(deployment("web"), namespace)
    plan = ws.plan.scale("deploy/web", 1, requested_by="someone")
    widget = plan.widget()
    widget.approve_button.click()
    assert plan.status == "confirmed" and plan.audit.confirmed_by == "wanda"
    widget.execute_button.click()
    assert "executed: executed" in widget.message.value, widget.message.value
    assert get_deploy(client, namespace)["spec"]["replicas"] == 1
    assert all(b.disabled for b in (widget.approve_button, widget.reject_button, widget.execute_button))
    assert ">executed<" in widget.view.value
    assert ledger.sql("SELECT actor FROM audit_events WHERE action = 'plan.executed'")["actor"].tolist() == ["wanda"]
    ipywidgets.Widget.close_all()
