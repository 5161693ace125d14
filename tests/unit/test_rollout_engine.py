"""The engine's handling of commands and retries, on plain state (no cluster is touched)."""

from __future__ import annotations

import types
from pathlib import Path

from kubecopilot.audit import Ledger
from kubecopilot.rollouts import (
    AnalysisResult,
    App,
    Approval,
    Canary,
    Rollout,
    RolloutError,
    RolloutSpec,
    RolloutState,
    _store,
)
from kubecopilot.rollouts._dag import default_tasks, validate
from kubecopilot.rollouts._engine import Engine, op_key
from kubecopilot.rollouts._model import Op, StepState, TaskState, utcnow


def engine(tmp_path: Path, status: str = "running") -> Engine:
    apps = [App(name="web", image="web:2", strategy=Canary(steps=[25, 50]))]
    spec = RolloutSpec(name="web", namespace="ns", apps=apps, tasks=default_tasks(apps, []),
                       approval=Approval(approved_by="alice"))
    deps = validate(spec)
    st = RolloutState(id="web-1", name="web", spec=spec, created_by="olga", status=status,  # type: ignore[arg-type]
                      tasks=[TaskState(id=t.id, type=t.type, app=t.app, deps=deps[t.id]) for t in spec.tasks])
    deploy = st.tasks[0]
    deploy.planned, deploy.status, deploy.current = True, "waiting_confirm", 0

    def step(i: int, name: str, promote: bool = False) -> StepState:
        return StepState(index=i, name=name, promote=promote,
                         ops=[Op(key=op_key("web-1", "deploy-web", 1, i, 0), action="scale",
                                 target="deployment/ns/web", args={"replicas": 1}, description=f"op {i}")])

    deploy.steps = [step(0, "canary 25%"), step(1, "canary 50%"), step(2, "promote", True), step(3, "remove", True)]
    deploy.steps[0].ops[0].status, deploy.steps[0].ops[0].plan_id = "executed", "p0"
    deploy.steps[0].status = "waiting_confirm"
    led = Ledger(tmp_path / "a.duckdb")
    _store.save(led, st, None)
    ro = Rollout(st, ws=types.SimpleNamespace(raw=None), ledger=led)
    return Engine(ro)


def test_promote_accepts_the_current_step_and_full_skips_to_the_promotion(tmp_path: Path) -> None:
    e = engine(tmp_path)
    e._apply("bob", {"command": "promote", "task": None, "full": True})
    steps = e.state.tasks[0].steps
    assert steps[0].accepted_by == "bob"
    assert [s.status for s in steps] == ["waiting_confirm", "skipped", "pending", "pending"]
    assert steps[1].detail == "skipped: promoted in full by bob"
    assert "promoted by bob (full)" in e.state.log[-1].text


def test_abort_and_cancel_stop_the_engine_with_who_and_why(tmp_path: Path) -> None:
    e = engine(tmp_path)
    e._apply("carol", {"command": "cancel", "reason": "wrong build"})
    assert (e.stop, e.stop_by, e.state.reason) == ("cancel", "carol", "cancelled by carol: wrong build")
    e._apply("dave", {"command": "abort"})  # the first decision stands
    assert e.stop == "cancel"


def test_retry_after_a_failure_re_keys_what_did_not_run_and_re_runs_a_failed_analysis(tmp_path: Path) -> None:
    e = engine(tmp_path, status="failed")
    deploy = e.state.tasks[0]
    deploy.status = "failed"
    s0 = deploy.steps[0]
    s0.status = "failed"
    s0.analyses.append(AnalysisResult(phase="Failed", reason="crash", target="t", selector="s", started=utcnow(),
                                      finished=utcnow()))
    deploy.steps[1].ops[0].plan_id, deploy.steps[1].ops[0].status = "p-old", "failed"
    e._apply("erin", {"command": "retry"})
    assert e.state.status == "running" and deploy.status == "pending" and deploy.attempt == 2
    assert s0.status == "pending" and s0.retry_analysis and s0.ops[0].status == "executed"  # done stays done
    redo = deploy.steps[1].ops[0]
    assert (redo.key, redo.plan_id, redo.status) == ("rollout/web-1/deploy-web/a2/s1/o0", None, "pending")


def test_retry_after_a_rollback_starts_the_tasks_over(tmp_path: Path) -> None:
    e = engine(tmp_path, status="rolled_back")
    e.state.tasks[0].status, e.state.tasks[1].status = "rolled_back", "cancelled"
    e._apply("erin", {"command": "retry"})
    deploy, health = e.state.tasks
    assert (deploy.status, deploy.planned, deploy.steps, deploy.attempt) == ("pending", False, [], 2)
    assert health.status == "pending" and e.state.phase == "forward"


def test_undo_plans_the_reverse_of_completed_ops_newest_first(tmp_path: Path) -> None:
    e = engine(tmp_path, status="success")
    loaded: list[str] = []

    def load(plan_id: str) -> None:
        loaded.append(plan_id)
        raise RolloutError(f"plan {plan_id} is gone")  # an op whose plan cannot be read is not undone

    e._load = load  # type: ignore[method-assign]
    ops = [s.ops[0] for s in e.state.tasks[0].steps]
    for i, op in enumerate(ops[:3]):
        op.status, op.plan_id, op.done_seq = "executed", f"p{i}", i + 1
    e._apply("bob", {"command": "undo", "reason": "bad idea"})
    assert e.state.phase == "rolling_back" and e.state.reason == "undone by bob: bad idea"
    assert loaded == ["p2", "p1", "p0"]  # newest first
    assert e.state.rollback_ops == [] and all(op.reversed_by == "-" for op in ops[:3])
    assert "cannot be undone" in ops[0].detail
