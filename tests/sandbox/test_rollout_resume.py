"""Rollouts survive their process: resumed from another process after a kill, continued after a crash between
applying a plan and saving the state — and never apply an op twice."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

import kubecopilot as kc
from kubecopilot.rollouts import Canary, CanaryStep, RolloutError
from kubecopilot.rollouts import _store as rollout_store
from kubecopilot.rollouts._ops import already_applied
from tests.conftest import wait_for
from tests.sandbox.test_rollout import FAST, events, executions_per_key, get, image_of, ready, setup_app

pytestmark = pytest.mark.sandbox

RUNNER = textwrap.dedent("""
    import sys
    import kubecopilot as kc

    ws = kc.connect(sys.argv[1], context="sandbox-admin", namespace=sys.argv[2])
    kc.rollouts.resume(sys.argv[3], ws=ws)  # runs until the manual pause, then waits there for a promote
""")


def test_another_process_runs_it_takes_commands_from_here_and_after_a_kill_it_resumes_here(
        sandbox, client, namespace, ws, ledger):
    setup_app(client, namespace, replicas=2, svc=False)
    ro = kc.rollout("web", "sandbox/web:1.1", ws=ws, approved_by="alice", analysis=FAST, ready_timeout=60,
                    strategy=Canary(steps=[CanaryStep(weight=25, pause=None), CanaryStep(weight=50, pause=None)]))
    proc = subprocess.Popen([sys.executable, "-c", RUNNER, str(sandbox.kubeconfig_path), namespace, ro.id],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)

    def paused_at(step: int) -> bool:
        st = kc.rollouts.load(ro.id, ws).state
        return st.status == "waiting_confirm" and st.tasks[0].current == step and st.tasks[0].waiting is not None

    try:
        wait_for(lambda: paused_at(0), 120, what="the other process to reach the first manual pause")
        other = kc.rollouts.load(ro.id, ws)
        with pytest.raises(RolloutError, match=f"being run by pid {proc.pid}"):
            other.run()
        # the first step happened in the cluster, done by the other process
        assert (get(client, namespace, "web-canary")["spec"]["replicas"], get(client, namespace, "web")["spec"]
                ["replicas"]) == (1, 1)
        first = kc.plans.load(other.state.tasks[0].steps[0].ops[0].plan_id, ws)
        assert first.status == "executed" and first.execution.pid == proc.pid
        other.promote(by="erin")  # a command from here; the other process applies it
        wait_for(lambda: paused_at(1), 120, what="the other process to reach the second pause")
        assert not other.running_here
    finally:
        proc.kill()  # a kernel restart: no cleanup, the state names a dead pid as its runner
        proc.wait(30)

    resumed = kc.rollouts.load(ro.id, ws)
    assert resumed.status == "waiting_confirm"
    resumed.promote(by="erin")  # nobody runs it any more: the promote starts it here
    assert resumed.wait(180) == "success", resumed.state.reason
    final = get(client, namespace, "web")
    assert (final["spec"]["replicas"], image_of(final)) == (2, "sandbox/web:1.1")
    assert get(client, namespace, "web-canary") is None
    counts = executions_per_key(ledger, ro.id)
    assert len(counts) == 5 and set(counts.values()) == {1}  # create, scale, set_image, scale, delete — once each
    seen = events(ledger, ro.id)
    assert seen.count("rollout.started") == 1 and seen.count("rollout.resumed") == 1
    assert seen.count("rollout.promoted") == 2 and seen[-1] == "rollout.succeeded"
    promoted_by = ledger.sql("SELECT actor FROM audit_events WHERE object = ? AND action = 'rollout.promoted'",
                             [f"rollout/{ro.id}"])["actor"].tolist()
    assert promoted_by == ["erin", "erin"]


def test_an_op_applied_before_a_crash_is_found_by_its_key_not_applied_again(client, namespace, ws, ledger):
    setup_app(client, namespace, replicas=2, svc=False)
    ro = kc.rollout("web", "sandbox/web:1.1", ws=ws, approved_by="alice", analysis=FAST, ready_timeout=60,
                    strategy=Canary(steps=[CanaryStep(weight=50, pause=None)]))
    ro.run(stop_when_waiting=True)  # a headless run: it saves and returns at the manual pause
    assert ro.status == "waiting_confirm" and not ro.running_here
    state = ro.state
    scale = state.tasks[0].steps[0].ops[1]
    assert (scale.action, scale.status, scale.args) == ("scale", "executed", {"replicas": 1})
    plan_id = scale.plan_id
    # what a process that died after executing the plan, before saving the state, leaves behind
    scale.plan_id, scale.status, scale.done_seq = None, "pending", None
    state.tasks[0].steps[0].status = "running"
    rollout_store.save(ledger, state, None)

    again = kc.rollouts.load(ro.id, ws)
    again.promote(by="alice")
    assert again.wait(180) == "success", again.state.reason
    found = again.state.tasks[0].steps[0].ops[1]
    assert found.plan_id == plan_id and found.status == "executed"
    assert set(executions_per_key(ledger, ro.id).values()) == {1}
    plan = kc.plans.load(plan_id, ws)
    assert already_applied(ws.raw, plan) is False  # web was scaled back to 2 by the promotion since
    assert ready(client, namespace, "web", 2)


def test_already_applied_compares_the_cluster_with_a_plans_changes(client, namespace, ws):
    setup_app(client, namespace, replicas=2, svc=False)
    plan = ws.plan.scale("deployment/web", 3)
    assert already_applied(ws.raw, plan) is False
    plan.approve(by="alice")
    plan.execute()
    assert already_applied(ws.raw, plan) is True
    assert kc.plans.load(plan.id, ws).status == "executed"
    with pytest.raises(RolloutError, match="no rollout"):
        rollout_store.read(None, "does-not-exist")
