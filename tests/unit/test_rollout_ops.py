"""From executed plans to the ops that undo them; no-ops; finding a plan by its key; the rollout's policy."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from kubecopilot.audit import Ledger
from kubecopilot.errors import PlanError, PlanValidationError, ResourceNotFoundError
from kubecopilot.plans import OperationPlan, current_policy
from kubecopilot.rollouts import RolloutError
from kubecopilot.rollouts._model import Op
from kubecopilot.rollouts._ops import find_plan, inverse, is_noop, rollout_policy

TARGET = {"kind": "Deployment", "apiVersion": "apps/v1", "namespace": "ns", "name": "web",
          "path": "/apis/apps/v1/namespaces/ns/deployments/web"}


def executed(action: str, *, patch_format: str = "json-patch", before: dict[str, Any] | None = None,
             rollback_patch: list[dict[str, Any]] | None = None) -> OperationPlan:
    return OperationPlan.model_validate({
        "id": "p-1", "status": "executed", "action": action, "summary": "s", "resource": TARGET,
        "steps": [{"id": "s1", "action": action, "description": "d", "target": TARGET, "patchFormat": patch_format,
                   "rollbackPatch": rollback_patch}],
        "diff": {"before": before}, "audit": {"requestedBy": "olga", "idempotencyKey": "k"},
        "cluster": {"context": "c", "server": "https://x"}})


def op(action: str, **args: Any) -> Op:
    return Op(key="rollout/r/t/a1/s0/o0", action=action, target="deployment/ns/web", args=args,  # type: ignore[arg-type]
              description=f"{action} web")


BEFORE = {"apiVersion": "apps/v1", "kind": "Deployment",
          "metadata": {"name": "web", "namespace": "ns", "uid": "u1", "resourceVersion": "9", "generation": 3,
                       "annotations": {"deployment.kubernetes.io/revision": "4",
                                       "kubectl.kubernetes.io/last-applied-configuration":
                                           "kubecopilot-digest:sha256:0123456789abcdef"}},
          "spec": {"replicas": 4, "selector": {"app": "web"},
                   "template": {"spec": {"containers": [{"name": "app", "image": "web:1"}]}}}}


def test_each_kind_of_write_has_its_undo() -> None:
    scale = inverse(op("scale", replicas=3), executed("scale", before=BEFORE), key="u")
    assert (scale.action, scale.args, scale.undo_of) == ("scale", {"replicas": 4}, "rollout/r/t/a1/s0/o0")
    assert scale.description == "scale deployment/ns/web back to 4 (undo)"
    image = inverse(op("set_image", image="web:2", container="app"), executed("set_image", before=BEFORE), key="u")
    assert (image.action, image.args) == ("set_image", {"image": "web:1", "container": "app"})
    svc = inverse(op("set_selector", selector={"app": "web", "c": "green"}), executed("set_selector", before=BEFORE),
                  key="u")
    assert (svc.action, svc.args) == ("set_selector", {"selector": {"app": "web"}})
    created = inverse(op("apply", manifest={}), executed("apply", patch_format="create"), key="u")
    assert (created.action, created.args) == ("delete", {})
    patch = [{"op": "test", "path": "/spec/x", "value": 2}, {"op": "replace", "path": "/spec/x", "value": 1}]
    env = inverse(op("set_env", env={"A": "1"}), executed("set_env", before=BEFORE, rollback_patch=patch), key="u")
    assert (env.action, env.args) == ("patch", {"patch": patch})
    job = op("apply", manifest={})
    job.reversible = False
    assert inverse(job, executed("apply", patch_format="create"), key="u") is None


def test_a_deleted_object_is_re_created_from_its_snapshot_without_server_fields() -> None:
    again = inverse(op("delete"), executed("delete", patch_format="delete", before=BEFORE), key="u")
    manifest = again.args["manifest"]
    assert again.action == "apply" and again.description.startswith("re-create deployment/ns/web")
    assert manifest["metadata"] == {"name": "web", "namespace": "ns"}
    assert manifest["spec"] == BEFORE["spec"]
    assert "uid" in BEFORE["metadata"]  # the plan's snapshot itself is untouched
    digested = {**BEFORE, "spec": {"template": {"spec": {"containers": [{"env": [
        {"name": "DB_PASSWORD", "value": "kubecopilot-digest:sha256:feedfacefeedface"}]}]}}}}
    with pytest.raises(RolloutError, match="only keeps as digests"):
        inverse(op("delete"), executed("delete", patch_format="delete", before=digested), key="u")


def test_only_the_builders_nothing_to_change_is_a_no_op() -> None:
    assert is_noop(PlanError("deployment/ns/web already has 3 replica(s): nothing to change"), op("scale"))
    assert not is_noop(PlanValidationError("nothing to change"), op("scale"))  # a subclass is a real refusal
    assert not is_noop(PlanError("could not read"), op("scale"))
    gone = ResourceNotFoundError(404, "GET", "/x", "not found")
    assert is_noop(gone, op("delete")) and not is_noop(gone, op("scale"))


def test_the_rollout_policy_adds_deleting_deployments_and_services_only() -> None:
    base, policy = current_policy(), rollout_policy()
    assert not base.allows("delete", "Deployment") and policy.allows("delete", "Deployment")
    assert policy.allows("delete", "Service") and not policy.allows("delete", "Secret")
    assert policy.whitelist - base.whitelist == {("delete", "deployment"), ("delete", "service")}
    assert policy.approvers is base.approvers and policy.risk is base.risk


def test_a_plan_is_found_by_its_idempotency_key_also_when_a_runbook_re_keyed_it(tmp_path: Path) -> None:
    led = Ledger(tmp_path / "a.duckdb")
    assert find_plan(led, "rollout/r/t/a1/s0/o0") is None
    led.put_record("plans", "old", status="rejected", body={"idempotencyKey": "rollout/r/t/a1/s0/o0"})
    led.put_record("plans", "p-2", status="executed", body={"idempotencyKey": "runbook/run-1/rollout/r/t/a1/s0/o0"})
    led.put_record("plans", "p-3", status="pending", body={"idempotencyKey": "rollout/r/t/a1/s0/o1"})
    assert find_plan(led, "rollout/r/t/a1/s0/o0") == ("p-2", "executed")
    assert find_plan(led, "rollout/r/t/a1/s0/o1") == ("p-3", "pending")
