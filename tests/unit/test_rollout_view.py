"""The rollout's views: text, escaped HTML, the plotly DAG and the widget's buttons (headless)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import ipywidgets
import pytest

from kubecopilot.audit import Ledger
from kubecopilot.display._rollout_view import RolloutWidget, rollout_figure, rollout_html, rollout_text
from kubecopilot.rollouts import AnalysisResult, App, Approval, Rollout, RolloutSpec, RolloutState, _store
from kubecopilot.rollouts._dag import default_tasks, validate
from kubecopilot.rollouts._model import Check, LogLine, Op, PodSample, StepState, TaskState, Wait

EVIL = '<img src=x onerror="alert(1)">'
NOW = dt.datetime(2026, 11, 23, 10, 0, tzinfo=dt.UTC)


@pytest.fixture(autouse=True)
def _close_widgets():
    yield
    ipywidgets.Widget.close_all()


def rollout(tmp_path: Path, status: str = "waiting_confirm") -> Rollout:
    apps = [App(name="web", image="web:2")]
    spec = RolloutSpec(name="web", namespace="ns", apps=apps, tasks=default_tasks(apps, []),
                       approval=Approval(approved_by="alice"))
    deps = validate(spec)
    tasks = [TaskState(id=t.id, type=t.type, app=t.app, deps=deps[t.id]) for t in spec.tasks]
    deploy = tasks[0]
    deploy.status, deploy.planned, deploy.detail = "waiting_confirm", True, f"pod {EVIL} restarted"
    result = AnalysisResult(phase="Inconclusive", reason=f"pod {EVIL} still Pending", target="canary pods of web",
                            selector="app=web", started=NOW, finished=NOW, samples=3,
                            pods=[PodSample(name=EVIL, phase="Pending")],
                            checks=[Check(name="pods", status="unknown", detail="1 pod(s)")])
    deploy.steps = [StepState(index=0, name="canary 25%: 1 of 4 pods", status="waiting_confirm", analyses=[result],
                              ops=[Op(key="k", action="scale", target="deployment/ns/web", description=f"scale {EVIL}",
                                      status="executed", plan_id="0123456789abcdef", risk="low", approved_by="alice")])]
    deploy.waiting = Wait(kind="analysis", message=f"analysis is inconclusive ({EVIL})")
    st = RolloutState(id="web-1", name="web", spec=spec, created_by="olga", status=status, tasks=tasks,
                      reason=f"because {EVIL}", log=[LogLine(at=NOW, text=f"saw {EVIL}")])  # type: ignore[arg-type]
    led = Ledger(tmp_path / "a.duckdb")
    _store.save(led, st, None)
    return Rollout(st, ws=None, ledger=led)


def test_text_shows_the_dag_the_current_step_and_the_analyses(tmp_path: Path) -> None:
    text = rollout_text(rollout(tmp_path).view_state())
    assert text.splitlines()[0] == "Rollout web (web-1) — waiting_confirm"
    assert "WAITING (analysis, deploy-web): analysis is inconclusive" in text
    assert "  deploy-web  deploy        web  waiting_confirm  0/1: canary 25%: 1 of 4 pods  -\n" in text
    assert "  health-web  health_check  web  pending          -                             deploy-web\n" in text
    assert "deploy-web · canary 25%: 1 of 4 pods: Inconclusive — pod" in text


def test_html_escapes_everything_from_the_cluster(tmp_path: Path) -> None:
    page = rollout_html(rollout(tmp_path).view_state())
    assert EVIL not in page and "onerror=&quot;alert(1)&quot;" in page
    assert "Inconclusive" in page and "waiting (analysis, deploy-web)" in page and "<code>01234567</code>" in page


def test_the_figure_is_a_dag_coloured_by_state_with_escaped_hovers(tmp_path: Path) -> None:
    fig = rollout_figure(rollout(tmp_path).view_state())
    assert sorted(tr.name for tr in fig.data) == ["pending", "waiting_confirm"]
    [arrow] = fig.layout.annotations
    assert (arrow.ax, arrow.x) == (0, 1)  # deploy-web (layer 0) -> health-web (layer 1)
    hover = "".join(h for tr in fig.data for h in tr.hovertext)
    assert EVIL not in hover and "&lt;img" in hover


def test_buttons_call_the_rollouts_methods_and_the_view_follows_it(tmp_path: Path) -> None:
    ro = rollout(tmp_path)
    view = RolloutWidget(ro)
    assert EVIL not in view.view.value
    assert view.approve_button.disabled  # an analysis waits, not an approval
    assert not view.promote_button.disabled and not view.retry_button.disabled and not view.abort_button.disabled
    view.approver.value, view.reason.value = "bob", "looks fine"
    view.promote_button.click()
    view.retry_button.click()
    assert "retry: sent by bob" in view.message.value
    cmds = [(who, c["command"], c["reason"]) for _s, who, c in _store.commands(ro._ledger, ro.id, 0)]
    assert cmds == [("bob", "promote", "looks fine"), ("bob", "retry", "looks fine")]
    view.approver.value = ""
    view._act("abort")
    assert "needs a person&#x27;s name" in view.message.value

    ro.state.status = "success"  # what the engine does; it then notifies the listeners
    ro.state.tasks[0].waiting = None
    ro._notify()
    assert all(b.disabled for b in (view.approve_button, view.promote_button, view.abort_button, view.cancel_button,
                                    view.retry_button))
    assert "success" in view.view.value
