"""Runbooks run for real: papermill + a python3 kernel against the sandbox; provenance in the notebook and ledger."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import nbformat
import pytest
import yaml

import kubecopilot as kc
from kubecopilot.errors import RunbookError, RunbookFailedError, RunbookNotFoundError, RunbookParameterError
from tests.conftest import wait_for
from tests.sandbox.helpers import container, pod

pytestmark = pytest.mark.sandbox

ROOT = Path(__file__).resolve().parents[2]
MISBEHAVING = str(ROOT / "tests" / "runbook_fixtures" / "misbehaving.ipynb")
KUBECOPILOT = str(Path(sys.executable).with_name("kubecopilot"))
STEP_TWO = 5  # the index of "Step two: misbehave"'s code cell in misbehaving.ipynb, as its author sees it


def _tokens(kubeconfig: Path) -> list[str]:
    doc = yaml.safe_load(kubeconfig.read_text())
    return [u["user"]["token"] for u in doc["users"] if u["user"].get("token")]


def _events(ledger: Any, run_id: str) -> list[tuple[str, str]]:
    rows = ledger.sql("SELECT action, payload FROM audit_events WHERE runbook_run_id = ? ORDER BY seq", [run_id])
    return [(r.action, r.payload) for r in rows.itertuples()]


def _record(ledger: Any, run_id: str) -> tuple[str, dict[str, Any]]:
    rows = ledger.sql("SELECT status, body FROM runbook_runs WHERE id = ?", [run_id])
    assert len(rows) == 1, f"no runbook_runs record for {run_id}"
    return rows.iloc[0]["status"], json.loads(rows.iloc[0]["body"])


@pytest.fixture
def runs_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "runs"
    monkeypatch.setenv("KUBECOPILOT_RUNS_DIR", str(path))
    return path


@pytest.fixture
def no_kernel(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any attempt to execute a notebook fails the test: bad input must be refused before a kernel starts."""
    import papermill

    def boom(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("papermill.execute_notebook was called: a kernel would have started")

    monkeypatch.setattr(papermill, "execute_notebook", boom)


# -- a real runbook against the cluster ------------------------------------------------------------------------------


def test_cluster_health_finds_the_broken_pod_and_keeps_provenance(sandbox, client, namespace, ledger, runs_dir,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    client.create(pod("web", [container("nginx:1.25")]), namespace)
    client.create(pod("broken", [container("docker.io/library/no-such-image-kc:1")]), namespace)

    def settled() -> bool:
        t = kc.connect(str(sandbox.kubeconfig_path), context="sandbox-admin").pods(namespace=namespace)
        status = dict(zip(t.frame["NAME"], t.frame["STATUS"], strict=True))
        return status.get("web") == "Running" and status.get("broken") in ("ErrImagePull", "ImagePullBackOff")

    wait_for(settled, 60, 1, "web Running and broken failing to pull")
    monkeypatch.delenv("KUBECONFIG", raising=False)
    run = kc.runbooks.run("cluster-health", {"namespace": namespace}, context="sandbox-admin",
                          kubeconfig=sandbox.kubeconfig_path)

    assert run.ok and run.status == "succeeded"
    assert run.result["pods_not_running"] == [f"{namespace}/broken"]
    assert run.result["healthy"] is False and run.result["api_ok"] is True and run.result["pods"] == 2
    assert run.result["context"] == "sandbox-admin" and run.result["nodes"] >= 3
    # provenance in the output notebook ...
    out = Path(run.output)
    assert out.parent == runs_dir / run.run_id and out.name == "cluster-health.ipynb"
    nb = nbformat.read(out, as_version=4)
    prov = nb.metadata["kubecopilot"]["run"]
    assert prov["run_id"] == run.run_id and prov["status"] == "succeeded" and prov["context"] == "sandbox-admin"
    assert prov["parameters"] == {"namespace": namespace, "context": "sandbox-admin"}
    assert prov["kernel"] == "python3" and prov["kubecopilot_version"] == kc.__version__
    assert prov["duration_s"] > 0 and prov["started"] and prov["finished"]
    assert nb.metadata["kubecopilot"]["title"] == "Cluster health"
    assert any(o.get("output_type") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))
    # ... and in the ledger: the record, the events, the duration metric
    status, body = _record(ledger, run.run_id)
    assert status == "succeeded" and body["result"]["pods_not_running"] == [f"{namespace}/broken"]
    actions = [a for a, _ in _events(ledger, run.run_id)]
    assert actions == ["runbook.started", "runbook.finished"]
    metric = ledger.sql("SELECT value, labels FROM metrics WHERE name = 'runbook.duration'")
    assert len(metric) == 1 and json.loads(metric.iloc[0]["labels"])["status"] == "succeeded"
    assert kc.runbooks.status(run.run_id).result == run.result
    frame = kc.runbooks.runs()
    assert frame.iloc[0]["run_id"] == run.run_id and frame.iloc[0]["context"] == "sandbox-admin"
    # never a credential: not in the output notebook, run.json, or anything in the ledger
    stored = out.read_text() + (out.parent / "run.json").read_text()
    stored += ledger.sql("SELECT string_agg(payload::VARCHAR, ' ') AS p FROM audit_events").iloc[0]["p"]
    stored += ledger.sql("SELECT string_agg(body::VARCHAR, ' ') AS b FROM runbook_runs").iloc[0]["b"]
    for token in _tokens(sandbox.kubeconfig_path):
        assert token not in stored


def test_parameters_reach_the_kernel_typed_with_the_run_environment(sandbox, ledger, runs_dir,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PLOTLY_RENDERER", raising=False)
    run = kc.runbooks.run(MISBEHAVING, {"label": "echo", "flags": ["x"]},
                          text_parameters={"count": "4", "verbose": "yes", "flags": "[a, b]"},
                          kubeconfig=sandbox.kubeconfig_path)
    assert run.parameters == {"label": "echo", "flags": ["a", "b"], "count": 4, "verbose": True}
    assert run.result | {"cwd": None} == {
        "label": "echo", "mode": "ok", "count": 4, "flags": ["a", "b"], "verbose": True, "cwd": None,
        "run_id": run.run_id, "db": str(ledger.path), "plotly_renderer": "plotly_mimetype+notebook",
        "kubeconfig": str(sandbox.kubeconfig_path.absolute())}
    assert Path(run.result["cwd"]) == runs_dir / run.run_id
    assert run.context is None  # the runbook declares no context: nothing to record
    assert (runs_dir / run.run_id / "kernel.log").exists()


# -- refused before a kernel starts ---------------------------------------------------------------------------------


@pytest.mark.parametrize("parameters, kwargs, error, fragment", [
    ({"label": "x", "cuont": 2}, {}, RunbookParameterError, "cuont: unknown parameter (did you mean 'count'?)"),
    ({"label": "x", "count": "2"}, {}, RunbookParameterError, "count: expected int, got str '2'"),
    ({}, {}, RunbookParameterError, "label: required (str)"),
    ({"label": "x", "mode": "explode"}, {}, RunbookParameterError, "mode: expected one of 'ok', 'fail'"),
    ({"label": "x", "token": "abc"}, {}, RunbookParameterError, "token: looks like a credential"),
    ({"label": "apiVersion: v1\nclusters: []\nusers: []\n"}, {}, RunbookParameterError, "looks like kubeconfig text"),
    ({"label": "x"}, {"context": "sandbox-admin"}, RunbookParameterError, "declares no `context` parameter"),
    ({"label": "x"}, {"approve_up_to": "medium"}, RunbookParameterError, "needs approved_by"),
    ({"label": "x"}, {"kubeconfig": "apiVersion: v1\nkind: Config\n"}, RunbookParameterError, "never its content"),
    ({"label": "x"}, {"text_parameters": {"count": "2.5"}}, RunbookParameterError, "expected an integer"),
])
def test_bad_input_is_refused_before_a_kernel_starts(no_kernel, ledger, runs_dir, parameters, kwargs, error,
                                                     fragment) -> None:
    with pytest.raises(error) as err:
        kc.runbooks.run(MISBEHAVING, parameters, **kwargs)
    assert fragment in str(err.value)
    assert "abc" not in str(err.value) or "token" not in parameters
    assert not runs_dir.exists() or not any(runs_dir.iterdir()), "a run directory was created"
    assert len(ledger.sql("SELECT * FROM runbook_runs")) == 0


def test_unknown_runbook_is_refused_before_a_kernel_starts(no_kernel, runs_dir) -> None:
    with pytest.raises(RunbookNotFoundError, match="Did you mean 'cluster-health'"):
        kc.runbooks.run("cluster-helth", {})
    assert not runs_dir.exists()


# -- failures: the cell, its source, the error; the output notebook is kept -----------------------------------------


def _assert_failed_at_step_two(err: RunbookFailedError, ename: str, ledger: Any) -> Any:
    run = err.run
    f = run.failure
    assert run.status == "failed" and f.cell_index == STEP_TWO and f.ename == ename
    assert 'if mode == "fail":' in f.source and "os._exit(1)" in f.source
    assert f"cell {STEP_TWO}" in str(err) and ename in str(err) and run.output in str(err)
    nb = nbformat.read(run.output, as_version=4)
    failed = nb.cells[f.output_cell_index]
    assert failed.source == f.source and failed.metadata.papermill["status"] == "failed"
    assert any(o.output_type == "error" and o.ename == ename for o in failed.outputs)
    assert "papermill-error-cell-tag" in nb.cells[0].metadata.get("tags", [])  # the red marker on top
    assert nb.cells[-1].metadata.papermill["status"] == "pending"  # the conclusion never ran
    assert nb.metadata["kubecopilot"]["run"]["failure"]["ename"] == ename
    status, body = _record(ledger, run.run_id)
    assert status == "failed" and body["failure"]["cell_index"] == STEP_TWO
    events = _events(ledger, run.run_id)
    assert [a for a, _ in events] == ["runbook.started", "runbook.failed"]
    assert json.loads(events[-1][1])["ename"] == ename
    return run


def test_a_failing_cell_is_reported_with_its_source_and_error(ledger, runs_dir) -> None:
    with pytest.raises(RunbookFailedError) as err:
        kc.runbooks.run(MISBEHAVING, {"label": "boom", "mode": "fail"})
    run = _assert_failed_at_step_two(err.value, "RuntimeError", ledger)
    assert run.failure.evalue == "step two failed on purpose (label=boom)"
    assert any("raise RuntimeError" in line for line in run.failure.traceback)


def test_a_cell_timeout_is_a_failure_of_that_cell(ledger, runs_dir) -> None:
    with pytest.raises(RunbookFailedError) as err:
        kc.runbooks.run(MISBEHAVING, {"label": "slow", "mode": "sleep", "seconds": 60.0}, timeout=2)
    run = _assert_failed_at_step_two(err.value, "CellTimeoutError", ledger)
    assert "execution timeout of 2" in run.failure.evalue


def test_kernel_death_is_a_failure_of_that_cell(ledger, runs_dir) -> None:
    with pytest.raises(RunbookFailedError) as err:
        kc.runbooks.run(MISBEHAVING, {"label": "dies", "mode": "die"})
    run = _assert_failed_at_step_two(err.value, "DeadKernelError", ledger)
    assert "kernel died" in run.failure.evalue


def test_only_waiting_runs_can_be_resumed(ledger, runs_dir) -> None:
    run = kc.runbooks.run(MISBEHAVING, {"label": "ok"})
    with pytest.raises(RunbookError, match="is succeeded; only a run that is waiting_confirm can be resumed"):
        kc.runbooks.resume(run.run_id)
    with pytest.raises(RunbookError, match="no runbook run 'nope'"):
        kc.runbooks.resume("nope")


# -- the command line --------------------------------------------------------------------------------------------


def _cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([KUBECOPILOT, "runbook", *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, **env})


def test_cli_exit_codes_and_messages(sandbox, namespace, ledger, runs_dir) -> None:
    env = {"KUBECOPILOT_DB": str(ledger.path), "KUBECONFIG": str(sandbox.kubeconfig_path),
           "KUBECOPILOT_RUNS_DIR": str(runs_dir)}
    ok = _cli("run", "cluster-health", "--context", "sandbox-viewer", "-p", "namespace", namespace, env=env)
    assert ok.returncode == 0, ok.stderr
    assert "succeeded" in ok.stdout and f"namespace='{namespace}'" in ok.stdout and "sandbox-viewer" in ok.stdout
    run_id = ok.stdout.split()[1]
    assert (runs_dir / run_id / "cluster-health.ipynb").exists()

    bad = _cli("run", "cluster-health", "-p", "restart_threshold", "many", "-p", "namespce", "x", env=env)
    assert bad.returncode == 2 and bad.stdout == ""
    assert "restart_threshold: expected an integer, got 'many'" in bad.stderr
    assert "namespce: unknown parameter (did you mean 'namespace'?)" in bad.stderr

    params = runs_dir.parent / "params.yaml"
    params.write_text("label: from-file\nmode: fail\ncount: 2\n")
    failed = _cli("run", MISBEHAVING, "-f", str(params), "-p", "label", "from-cli", env=env)
    assert failed.returncode == 1
    assert f"at cell {STEP_TWO}" in failed.stderr and "RuntimeError: step two failed on purpose (label=from-cli)" \
        in failed.stderr and 'if mode == "fail":' in failed.stderr and "output notebook:" in failed.stderr

    assert _cli("run", "cluster-helth", env=env).returncode == 2
    status = _cli("status", run_id, "--json", env=env)
    assert status.returncode == 0 and json.loads(status.stdout)["status"] == "succeeded"
    listed = _cli("runs", env=env)
    assert listed.returncode == 0 and run_id in listed.stdout and "failed" in listed.stdout
    again = _cli("resume", run_id, env=env)
    assert again.returncode == 2 and "only a run that is waiting_confirm can be resumed" in again.stderr
    assert _cli("status", "no-such-run", env=env).returncode == 2


# -- plans: pre-recorded approval, waiting_confirm, approval in "a notebook", resume -------------------------------

SCALE = str(ROOT / "tests" / "runbook_fixtures" / "scale-with-approval.ipynb")


@pytest.fixture
def web(client, namespace) -> str:
    """A one-replica Deployment to scale, fully rolled out."""
    client.create({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}, "spec": {
        "replicas": 1, "selector": {"matchLabels": {"app": "web"}},
        "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [
            {"name": "web", "image": "nginx:1.25"}]}}}}, namespace)
    path = f"/apis/apps/v1/namespaces/{namespace}/deployments/web"
    wait_for(lambda: (client.get(path).get("status") or {}).get("readyReplicas") == 1, 60, 0.5, "web 1/1 ready")
    return path


def _replicas(client, path: str) -> int:
    return client.get(path)["spec"]["replicas"]


def test_a_plan_within_the_policy_is_approved_in_the_approvers_name_and_executed(
        sandbox, client, namespace, web, ledger, runs_dir, monkeypatch) -> None:
    monkeypatch.setenv("KUBECONFIG", str(sandbox.kubeconfig_path))
    run = kc.runbooks.run(SCALE, {"namespace": namespace, "deployment": "web", "replicas": 2},
                          context="sandbox-admin", approve_up_to="medium", approved_by="alice")
    assert run.status == "succeeded" and run.pending_plans == []
    entry = run.plans["scale-step"]
    assert entry["decision"] == "executed" and entry["risk"] in ("low", "medium")
    assert _replicas(client, web) == 2 and run.result["replicas"] == 2
    plan = kc.plans.load(entry["plan_id"])
    assert plan.status == "executed"
    assert plan.audit.confirmed_by == f"alice (pre-recorded for run {run.run_id})"
    assert plan.idempotency_key == f"runbook/{run.run_id}/scale-step"
    approved = ledger.sql("SELECT actor FROM audit_events WHERE action = 'plan.approved' AND plan_id = ?",
                          [plan.id])
    assert approved["actor"].tolist() == [f"alice (pre-recorded for run {run.run_id})"]


def test_above_the_policy_the_run_waits_and_resumes_after_a_human_approves(
        sandbox, client, namespace, web, ledger, runs_dir) -> None:
    env = {"KUBECOPILOT_DB": str(ledger.path), "KUBECONFIG": str(sandbox.kubeconfig_path),
           "KUBECOPILOT_RUNS_DIR": str(runs_dir)}
    waiting = _cli("run", SCALE, "--context", "sandbox-admin", "-p", "namespace", namespace,
                   "-p", "deployment", "web", "-p", "replicas", "3", env=env)
    assert waiting.returncode == 3, waiting.stderr
    assert "waiting_confirm" in waiting.stdout and "kubecopilot runbook resume" in waiting.stdout
    run_id = waiting.stdout.split()[1]
    first = kc.runbooks.status(run_id)
    assert first.status == "waiting_confirm" and len(first.pending_plans) == 1
    plan_id = first.pending_plans[0]
    assert _replicas(client, web) == 1  # nothing was written
    assert plan_id in kc.plans.pending().frame["id"].tolist()  # what a human sees in a notebook
    actions = [a for a, _ in _events(ledger, run_id)]
    assert actions == ["runbook.started", "runbook.plan_submitted", "runbook.waiting_confirm"]

    still = _cli("resume", run_id, env=env)
    assert still.returncode == 3 and f"still waits for a human decision on plan(s) {plan_id}" in still.stderr

    kc.plans.load(plan_id).approve(by="bob", reason="capacity for the sale")
    resumed = _cli("resume", run_id, env=env)
    assert resumed.returncode == 0, resumed.stderr
    second = kc.runbooks.status(resumed.stdout.split()[1])
    assert second.status == "succeeded" and second.resume_of == run_id and second.root_run_id == run_id
    assert second.parameters == first.parameters and second.context == "sandbox-admin"
    assert second.plans["scale-step"]["plan_id"] == plan_id  # the approved plan, found by its key, not a new one
    assert second.plans["scale-step"]["decision"] == "executed"
    assert _replicas(client, web) == 3
    executed = kc.plans.load(plan_id)
    assert executed.status == "executed" and executed.audit.confirmed_by == "bob"
    assert executed.idempotency_key == f"runbook/{run_id}/scale-step"
    # the plan the re-execution built for the same step was superseded, never executed, and waits for nobody
    fresh = ledger.sql("SELECT id, status FROM plans WHERE id <> ?", [plan_id])
    assert fresh["status"].tolist() == ["rejected"]
    superseded = kc.plans.load(fresh["id"].iloc[0])
    assert superseded.audit.rejected_by == "runbook:scale-with-approval" and plan_id in superseded.audit.reject_reason
    assert plan_id not in kc.plans.pending().frame["id"].tolist() and not len(kc.plans.pending().frame)
    assert kc.runbooks.status(run_id).status == "resumed" and kc.runbooks.status(run_id).resumed_by == second.run_id
    assert [a for a, _ in _events(ledger, run_id)][-1] == "runbook.resumed"
    nb = nbformat.read(second.output, as_version=4)
    assert nb.metadata["kubecopilot"]["run"]["resume_of"] == run_id
    again = _cli("resume", run_id, env=env)
    assert again.returncode == 2 and f"already resumed as {second.run_id}" in again.stderr


def test_a_rejected_plan_is_never_executed_on_resume(sandbox, client, namespace, web, ledger, runs_dir,
                                                     monkeypatch) -> None:
    monkeypatch.setenv("KUBECONFIG", str(sandbox.kubeconfig_path))
    first = kc.runbooks.run(SCALE, {"namespace": namespace, "deployment": "web", "replicas": 4},
                            context="sandbox-admin", approve_up_to="none")
    assert first.status == "waiting_confirm"
    kc.plans.load(first.pending_plans[0]).reject(by="carol", reason="not during the freeze")
    second = kc.runbooks.resume(first.run_id)
    assert second.status == "succeeded" and second.plans["scale-step"]["decision"] == "rejected"
    assert second.result["plan_status"] == "rejected" and _replicas(client, web) == 1
