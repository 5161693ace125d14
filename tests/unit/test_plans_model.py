"""OperationPlan as data: JSON round trip, schema version, diffs, drift and patches (no cluster).

`DEPLOYMENT` and `make_plan` are shared with the other unit plan tests (hand-written objects and plans)."""

from __future__ import annotations

import copy
import json
from typing import Any

import jsonpatch
import pytest

from kubecopilot.errors import PlanError
from kubecopilot.plans import SCHEMA_VERSION, OperationPlan
from kubecopilot.plans._diff import changes, checked_patch, clean, drift, flatten, pointer, resolve, rollback_patch
from kubecopilot.plans._model import ClusterInfo, PlanAudit, PlanDiff, PlanStep, ResourceRef, Risk, RiskFactor

DEPLOYMENT: dict[str, Any] = {
    "apiVersion": "apps/v1", "kind": "Deployment",
    "metadata": {"name": "web", "namespace": "shop", "uid": "uid-web", "resourceVersion": "41",
                 "labels": {"app": "web", "tier": "web"}},
    "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
             "template": {"metadata": {"labels": {"app": "web"}},
                          "spec": {"containers": [{"name": "app", "image": "nginx:1.25"}]}}},
    "status": {"replicas": 2, "readyReplicas": 2},
}  # fmt: skip


def make_plan(*, level: str = "low", requested_by: str = "alice", summary: str | None = None,
              annotations: dict[str, str] | None = None, plan_id: str = "0f8e4c1a-1111-4222-8333-944445555666"
              ) -> OperationPlan:
    live = copy.deepcopy(DEPLOYMENT)
    if annotations:
        live["metadata"]["annotations"] = dict(annotations)
    before = clean(live)
    after = copy.deepcopy(before)
    after["spec"]["replicas"] = 3
    patch = checked_patch(before, after)
    target = ResourceRef(kind="Deployment", api_version="apps/v1", namespace="shop", name="web", uid="uid-web",
                         resource_version="41", path="/apis/apps/v1/namespaces/shop/deployments/web")
    rows = changes(before, after)
    undo = rollback_patch(before, after)
    weight = {"low": 0.1, "medium": 0.4, "high": 0.7}[level]
    return OperationPlan(
        id=plan_id, action="scale", summary=summary or "Scale deployment/shop/web up from 2 to 3 replica(s).",
        resource=target,
        steps=[PlanStep(id="s1", action="scale", description="scale deployment/shop/web from 2 to 3 replicas",
                        target=target, patch=patch, rollback_patch=undo, changes=rows)],
        diff=PlanDiff(before=before, after=after, patch=patch, rollback_patch=undo, changes=rows),
        risk=Risk(level=level, score=weight, rationale=f"{level} risk", factors=[
            RiskFactor(rule="action", weight=weight, detail="a test factor")]),
        audit=PlanAudit(requested_by=requested_by, idempotency_key=plan_id),
        cluster=ClusterInfo(context="unit", server="https://127.0.0.1:1", user="u"),
    )


def test_json_round_trip_uses_camel_case_and_keeps_everything() -> None:
    plan = make_plan()
    text = plan.to_json()
    data = json.loads(text)
    for key in ("aiRationale", "idempotencyKey", "requestedBy", "resourceVersion", "rollbackPatch", "patchFormat",
                "sloBudgetImpact", "postConditions", "apiVersion"):
        assert key in text, key
    assert "requested_by" not in text and "rollback_patch" not in text
    assert data["version"] == SCHEMA_VERSION
    back = OperationPlan.from_json(text)
    assert back == plan
    assert back.to_json() == text
    assert OperationPlan.from_json(data) == plan  # a dict works too
    # the JSON schema is exported with the same camelCase names
    schema = OperationPlan.json_schema()
    assert "aiRationale" in schema["properties"] and "failureReason" in schema["properties"]


def test_a_newer_schema_version_is_refused_not_guessed() -> None:
    data = make_plan().to_dict()
    data["version"] = SCHEMA_VERSION + 1
    with pytest.raises(PlanError, match=f"schema version {SCHEMA_VERSION + 1}.*upgrade kubecopilot"):
        OperationPlan.from_json(data)


def test_unknown_fields_are_an_error() -> None:
    data = make_plan().to_dict()
    data["riskk"] = {}
    with pytest.raises(ValueError, match="riskk"):
        OperationPlan.from_json(data)


def test_clean_drops_noise_and_digests_secret_values() -> None:
    live = copy.deepcopy(DEPLOYMENT)
    live["metadata"].update(resourceVersion="9", generation=4, managedFields=[{"manager": "x"}],
                            creationTimestamp="2026-01-01T00:00:00Z")
    live["status"] = {"replicas": 2}
    c = clean(live)
    assert "status" not in c and "resourceVersion" not in c["metadata"] and "managedFields" not in c["metadata"]
    assert c["metadata"]["uid"] == live["metadata"]["uid"]  # identity stays: a replaced object is drift
    assert live["status"] == {"replicas": 2}  # the input is not modified
    secret = {"kind": "Secret", "metadata": {"name": "s", "annotations": {
        "kubectl.kubernetes.io/last-applied-configuration": '{"data":{"pw":"aHVudGVyMg=="}}'}},
        "data": {"pw": "aHVudGVyMg=="}}
    cs = clean(secret)
    assert "aHVudGVyMg==" not in json.dumps(cs)
    assert cs["data"]["pw"].startswith("kubecopilot-digest:sha256:")
    assert clean(secret) == cs and clean(cs) == cs  # stable and idempotent: drift of a Secret is still detectable
    deploy = copy.deepcopy(DEPLOYMENT)
    deploy["spec"]["template"]["spec"]["containers"][0]["env"] = [
        {"name": "DB_PASSWORD", "value": "hunter2"}, {"name": "MODE", "value": "fast"},
        {"name": "API_TOKEN", "valueFrom": {"secretKeyRef": {"name": "s", "key": "t"}}}]
    cd = clean(deploy)
    env = cd["spec"]["template"]["spec"]["containers"][0]["env"]
    assert "hunter2" not in json.dumps(cd) and env[1] == {"name": "MODE", "value": "fast"}
    assert env[2]["valueFrom"] == {"secretKeyRef": {"name": "s", "key": "t"}} and clean(cd) == cd
    changed = copy.deepcopy(deploy)
    changed["spec"]["template"]["spec"]["containers"][0]["env"][0]["value"] = "hunter3"
    [d] = drift("deployment/shop/web", cd, changed)  # a changed credential is drift, shown as digests only
    assert d.path.endswith("/env/0/value") and "hunter" not in str(d)


def test_changes_are_field_by_field_with_old_and_new() -> None:
    before = clean(DEPLOYMENT)
    after = copy.deepcopy(before)
    after["spec"]["replicas"] = 5
    after["spec"]["template"]["metadata"]["annotations"] = {"a/b": "1"}
    del after["metadata"]["labels"]["tier"]
    rows = {(c.op, c.path): (c.old, c.new) for c in changes(before, after)}
    assert rows[("replace", "/spec/replicas")] == (2, 5)
    assert rows[("add", "/spec/template/metadata/annotations/a~1b")] == (None, "1")
    assert rows[("remove", "/metadata/labels/tier")] == ("web", None)
    assert len(rows) == 3
    assert changes(before, before) == []


def test_pointer_flatten_and_resolve_agree_on_escaping() -> None:
    obj = {"metadata": {"annotations": {"app.kubernetes.io/name": "x", "a~b": 1}}, "l": [{"k": [1, 2]}]}
    flat = flatten(obj)
    assert flat[pointer("metadata", "annotations", "app.kubernetes.io/name")] == "x"
    assert flat["/metadata/annotations/a~0b"] == 1
    for path, value in flat.items():
        assert resolve(obj, path) == value
    assert resolve(obj, "/l/0/k/1") == 2 and resolve(obj, "/nope", "d") == "d"


def test_drift_ignores_status_and_server_noise_but_shows_real_changes() -> None:
    snapshot = clean(DEPLOYMENT)
    live = copy.deepcopy(DEPLOYMENT)
    live["metadata"]["resourceVersion"] = "999"
    live["metadata"]["generation"] = 7
    live["metadata"].setdefault("annotations", {})["deployment.kubernetes.io/revision"] = "4"
    live["status"] = {"observedGeneration": 7, "readyReplicas": 1}
    assert drift("deployment/ns/web", snapshot, live) == []
    live["spec"]["replicas"] = 4
    live["metadata"]["labels"]["owner"] = "team-b"
    items = drift("deployment/ns/web", snapshot, live)
    assert {(d.path, d.change, d.planned, d.live) for d in items} == {
        ("/spec/replicas", "changed", 2, 4), ("/metadata/labels/owner", "added", None, "team-b")}
    assert "planned 2, live 4" in str(next(d for d in items if d.path == "/spec/replicas"))


def test_drift_of_a_replaced_or_deleted_object() -> None:
    snapshot = clean(DEPLOYMENT)
    replaced = copy.deepcopy(DEPLOYMENT)
    replaced["metadata"]["uid"] = "other-uid"
    [d] = drift("deployment/ns/web", snapshot, replaced)
    assert d.change == "replaced" and d.live == "other-uid"
    [d] = drift("deployment/ns/web", snapshot, None)
    assert d.change == "deleted" and "deleted since the plan" in str(d)
    [d] = drift("deployment/ns/web", None, DEPLOYMENT)
    assert d.change == "created"


def test_checked_patch_reproduces_list_edits_and_rollback_undoes_them() -> None:
    before = clean(DEPLOYMENT)
    after = copy.deepcopy(before)
    containers = after["spec"]["template"]["spec"]["containers"]
    containers.insert(0, {"name": "sidecar", "image": "envoy:1"})
    containers[1]["env"] = [{"name": "B", "value": "2"}, {"name": "A", "value": "1"}]
    patch = checked_patch(before, after)
    assert jsonpatch.apply_patch(before, patch) == after
    undo = rollback_patch(before, after)
    assert jsonpatch.apply_patch(after, undo) == before
    # the undo first tests that the fields still hold what the plan set: a later writer's change is never clobbered
    assert undo[0]["op"] == "test"
    changed_by_someone = copy.deepcopy(after)
    changed_by_someone["spec"]["template"]["spec"]["containers"][0]["image"] = "envoy:2"
    with pytest.raises(jsonpatch.JsonPatchTestFailed):
        jsonpatch.apply_patch(changed_by_someone, undo)


def test_plan_changes_and_target() -> None:
    plan = make_plan()
    assert plan.target == "deployment/shop/web"
    assert [(c.op, c.path) for c in plan.changes] == [("replace", "/spec/replicas")]
    assert repr(plan).startswith("OperationPlan(id=") and "shop/web" in repr(plan)
