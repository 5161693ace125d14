"""The approval policy and `submit()`'s state machine, inside a (simulated) run context.

The plan here is a duck-typed double with the contract `submit` relies on (id, status, risk.level, audit key,
approve/execute); the end-to-end flow with real OperationPlans is in tests/sandbox/test_runbooks.py.
"""

from __future__ import annotations

import json
import types
from pathlib import Path

import pytest

from kubecopilot import runbooks
from kubecopilot.errors import RunbookError, RunbookParameterError
from kubecopilot.runbooks import _policy
from kubecopilot.runbooks._policy import ApprovalPolicy, RunContext


class PlanDouble:
    def __init__(self, plan_id: str, level: str, status: str = "pending") -> None:
        self.id = plan_id
        self.status = status
        self.risk = types.SimpleNamespace(level=level)
        self.audit = types.SimpleNamespace(idempotency_key=f"random-{plan_id}")
        self.calls: list[tuple] = []

    def approve(self, by: str, reason: str = "") -> PlanDouble:
        assert self.status == "pending"
        self.calls.append(("approve", by, reason))
        self.status = "confirmed"
        return self

    def reject(self, by: str, reason: str = "") -> PlanDouble:
        self.calls.append(("reject", by, reason))
        self.status = "rejected"
        return self

    def execute(self) -> None:
        assert self.status == "confirmed", "executing an unapproved plan"
        self.calls.append(("execute",))
        self.status = "executed"


@pytest.mark.parametrize("up_to, allowed", [
    ("none", set()), ("low", {"low"}), ("medium", {"low", "medium"}), ("high", {"low", "medium", "high"}),
])
def test_policy_levels(up_to: str, allowed: set[str]) -> None:
    policy = ApprovalPolicy(up_to, "alice" if up_to != "none" else None)
    assert {lvl for lvl in ("low", "medium", "high", "unknown") if policy.allows(lvl)} == allowed


def test_policy_needs_a_named_approver_and_a_known_level() -> None:
    with pytest.raises(RunbookParameterError, match="needs approved_by"):
        ApprovalPolicy("low")
    with pytest.raises(RunbookParameterError, match="use one of none, low, medium, high"):
        ApprovalPolicy("critical", "alice")
    assert str(ApprovalPolicy()) == "no pre-recorded approval: every plan waits for a human"


@pytest.fixture
def in_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Install a run context the way the runner does (a JSON file named by $KUBECOPILOT_RUN_CONTEXT)."""

    def make(up_to: str = "none", by: str | None = None, prior: dict[str, str] | None = None,
             run_id: str = "demo-run-2") -> RunContext:
        run_dir = tmp_path / run_id
        run_dir.mkdir()
        ctx = RunContext(run_id=run_id, root_run_id="demo-run-1", runbook="demo", run_dir=run_dir,
                         policy=ApprovalPolicy(up_to, by), resume_of="demo-run-1" if prior else None,
                         prior_plans=prior or {})
        monkeypatch.setenv(_policy.ENV_CONTEXT, str(ctx.write()))
        monkeypatch.setattr(_policy, "_current", None)
        monkeypatch.setattr(_policy, "_current_path", None)
        monkeypatch.setattr("kubecopilot.audit.append", lambda *a, **k: None)  # no ledger needed here
        return ctx

    return make


def _entries(ctx: RunContext) -> list[dict]:
    return [json.loads(line) for line in (ctx.run_dir / _policy.PLANS_FILE).read_text().splitlines()]


def test_outside_a_run_submit_returns_the_plan_untouched(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(_policy.ENV_CONTEXT, raising=False)
    plan = PlanDouble("p1", "low")
    assert runbooks.submit(plan) is plan and plan.calls == [] and plan.status == "pending"
    assert runbooks.current() is None


def test_within_the_policy_the_plan_is_approved_in_the_approvers_name_and_executed(in_run) -> None:
    ctx = in_run("medium", "alice")
    plan = PlanDouble("p1", "medium")
    assert runbooks.submit(plan, key="scale-step") is plan
    assert plan.calls[0][:2] == ("approve", "alice (pre-recorded for run demo-run-2)")
    assert "up to medium" in plan.calls[0][2] and plan.calls[1] == ("execute",)
    assert plan.audit.idempotency_key == "runbook/demo-run-1/scale-step"
    assert [(e["key"], e["decision"], e["status"]) for e in _entries(ctx)] == [
        ("scale-step", "pre-approved", "confirmed"), ("scale-step", "executed", "executed")]


def test_above_the_policy_the_plan_is_left_pending(in_run, capsys: pytest.CaptureFixture[str]) -> None:
    ctx = in_run("low", "alice")
    plan = PlanDouble("p2", "high")
    runbooks.submit(plan, key="drain")
    assert plan.calls == [] and plan.status == "pending"
    assert _entries(ctx)[-1] | {"ts": None} == {
        "key": "drain", "plan_id": "p2", "status": "pending", "risk": "high", "decision": "pending",
        "idempotency_key": "runbook/demo-run-1/drain", "ts": None}
    assert "kubecopilot runbook resume demo-run-2" in capsys.readouterr().out


def test_keys_default_to_submission_order_and_may_not_repeat(in_run) -> None:
    ctx = in_run()
    runbooks.submit(PlanDouble("a", "low"))
    runbooks.submit(PlanDouble("b", "low"))
    assert [e["key"] for e in _entries(ctx)] == ["step-1", "step-2"]
    runbooks.submit(PlanDouble("c", "low"), key="x")
    with pytest.raises(RunbookError, match="already used"):
        runbooks.submit(PlanDouble("d", "low"), key="x")


@pytest.mark.parametrize("prior_status, decisions, executed", [
    ("confirmed", ["approved-by-human", "executed"], True),
    ("rejected", ["rejected"], False),
    ("executed", ["executed"], False),
])
def test_on_resume_the_plan_of_the_same_key_stands_for_the_new_one(
        in_run, monkeypatch: pytest.MonkeyPatch, prior_status: str, decisions: list[str], executed: bool) -> None:
    prior = PlanDouble("orig", "high", status=prior_status)
    loaded: list[str] = []

    def load(plan_id: str) -> PlanDouble:
        loaded.append(plan_id)
        return prior

    monkeypatch.setattr("kubecopilot.plans.load", load, raising=False)
    ctx = in_run("none", prior={"scale-step": "orig"})
    fresh = PlanDouble("fresh", "high")
    got = runbooks.submit(fresh, key="scale-step")
    assert got is prior and loaded == ["orig"] and fresh.status == "rejected"
    assert fresh.calls[0][:2] == ("reject", "runbook:demo") and "superseded by plan orig" in fresh.calls[0][2]
    assert [e["decision"] for e in _entries(ctx)] == decisions
    assert (("execute",) in prior.calls) is executed


def test_conclude_records_the_result_in_a_run_and_just_displays_outside(in_run, monkeypatch) -> None:
    ctx = in_run()
    c = runbooks.conclude({"healthy": False}, pods=["a/b"])
    runbooks.conclude(extra=1)
    assert json.loads((ctx.run_dir / _policy.RESULT_FILE).read_text()) == {"healthy": False, "pods": ["a/b"],
                                                                            "extra": 1}
    assert "pods     a/b" in str(c) and "<th" in c._repr_html_()
    monkeypatch.delenv(_policy.ENV_CONTEXT)
    assert runbooks.conclude(x=1) == {"x": 1}


def test_run_provenance_round_trips_and_renders_escaped(tmp_path: Path) -> None:
    from kubecopilot.runbooks import Failure, RunbookRun

    run = RunbookRun(run_id="demo-1", runbook="demo", runbook_path="/x/demo.ipynb", runbook_sha256="ab" * 32,
                     status="failed", parameters={"namespace": "<img src=x onerror=alert(1)>"}, context="prod",
                     started="2026-01-01T00:00:00+00:00", run_dir=str(tmp_path), output=str(tmp_path / "demo.ipynb"),
                     duration_s=1.5, failure=Failure(3, 5, 2, "raise X('<b>')", "X", "<b>", ["\x1b[31mX\x1b[0m: <b>"]))
    again = RunbookRun.from_dict(json.loads(json.dumps(run.as_dict())))
    assert again == run and isinstance(again.failure, Failure)
    assert repr(run) == "RunbookRun('demo-1', runbook='demo', status='failed')"
    text = str(run)
    assert "failed at cell 3 (In [2]) raised X: <b>" in text and "raise X('<b>')" in text and "\x1b" not in text
    page = run._repr_html_()
    assert "<img" not in page and "&lt;img" in page
    assert "raised X: &lt;b&gt;" in page and "X('<b>')" not in page and "\x1b" not in page
    assert run.save() == tmp_path / "run.json" and json.loads((tmp_path / "run.json").read_text())["status"] == "failed"
