"""The canary-rollout runbook, headless: it waits for a human above the run's approval policy and its resume
continues the same rollout to the end."""

from __future__ import annotations

from pathlib import Path

import pytest

import kubecopilot as kc
from tests.conftest import wait_for
from tests.sandbox.test_rollout import get, image_of, ready, setup_app

pytestmark = pytest.mark.sandbox

PARAMS = {"steps": [50], "pause_seconds": 0.0, "analysis_window": 3.0, "analysis_interval": 1.0,
          "max_cpu_millicores": 500.0, "ready_timeout": 60.0}


@pytest.fixture
def runs_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "runs"
    monkeypatch.setenv("KUBECOPILOT_RUNS_DIR", str(path))
    return path


def test_canary_rollout_runbook_waits_above_its_policy_and_resumes_the_same_rollout(
        sandbox, client, namespace, ws, ledger, runs_dir) -> None:
    setup_app(client, namespace, replicas=2, svc=False)
    params = {"namespace": namespace, "deployment": "web", "image": "sandbox/web:1.1", **PARAMS}
    first = kc.runbooks.run("canary-rollout", params, context="sandbox-admin", kubeconfig=sandbox.kubeconfig_path,
                            approve_up_to="low", approved_by="alice")
    # the canary step (low-risk plans) ran within the pre-recorded approval; the promotion's set_image is medium
    assert first.status == "waiting_confirm", first.result
    assert first.result["status"] == "waiting_confirm" and len(first.pending_plans) == 1
    rollout_id = first.result["rollout_id"]
    assert get(client, namespace, "web-canary")["spec"]["replicas"] == 1
    assert image_of(get(client, namespace, "web")) == "sandbox/web:1.0"
    [plan_id] = first.pending_plans
    pending = kc.plans.load(plan_id, ws)
    assert pending.action == "set_image" and pending.idempotency_key.startswith(f"runbook/{first.run_id}/rollout/")
    assert kc.rollouts.load(rollout_id, ws).status == "waiting_confirm"

    pending.approve(by="bob", reason="canary looked good")
    second = kc.runbooks.resume(first.run_id, approve_up_to="medium", kubeconfig=sandbox.kubeconfig_path)
    assert second.status == "succeeded", second.result
    assert second.result["rollout_id"] == rollout_id and second.result["status"] == "success"
    assert second.result["image_now"] == ["sandbox/web:1.1"] and second.result["replicas"] == 2
    wait_for(lambda: ready(client, namespace, "web", 2), 60, what="web ready on the new image")
    assert get(client, namespace, "web-canary") is None
    assert kc.plans.load(plan_id, ws).audit.confirmed_by == "bob"
    assert len(kc.rollouts.history(namespace=namespace)) == 1  # one rollout across both runs
    assert any("Successful" in line for line in second.result["analyses"])
