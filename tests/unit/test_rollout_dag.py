"""The rollout DAG: default tasks, validation, application order, readiness and layers."""

from __future__ import annotations

import pytest

from kubecopilot.rollouts import App, RolloutError, RolloutSpec, Task
from kubecopilot.rollouts._dag import default_tasks, edges, layers, ready, validate
from kubecopilot.rollouts._model import TaskState


def spec(apps: list[App], tasks: list[Task], order: list[str] | None = None) -> RolloutSpec:
    return RolloutSpec(name="r", namespace="ns", apps=apps, tasks=tasks, must_in_order=order or [])


def test_each_app_gets_a_deploy_and_a_health_check_blocked_by_its_own_build_and_test() -> None:
    apps = [App(name="api", image="api:2"), App(name="web", image="web:2")]
    tasks = default_tasks(apps, [Task(id="build-api", type="build", app="api", image="builder"),
                                 Task(id="test-api", type="test", app="api", image="tester",
                                      block_by=["build-api"])])
    by_id = {t.id: t for t in tasks}
    assert list(by_id) == ["build-api", "test-api", "deploy-api", "health-api", "deploy-web", "health-web"]
    assert by_id["deploy-api"].block_by == ["build-api", "test-api"]
    assert by_id["health-api"].block_by == ["deploy-api"] and by_id["deploy-web"].block_by == []
    assert [t.id for t in default_tasks(apps[:1], [], health_check=False)] == ["deploy-api"]
    own = Task(id="ship-api", type="deploy", app="api")
    assert [t.id for t in default_tasks(apps[:1], [own])] == ["ship-api"]  # an explicit deploy task replaces them


def test_must_in_order_links_the_last_deploy_phase_task_to_the_first_of_the_next_app() -> None:
    apps = [App(name=n, image=f"{n}:2") for n in ("db", "api", "web")]
    builds = [Task(id=f"build-{a.name}", type="build", app=a.name, image="b") for a in apps]
    s = spec(apps, default_tasks(apps, builds), ["db", "api", "web"])
    deps = validate(s)
    assert deps["deploy-api"] == ["build-api", "health-db"]
    assert deps["health-api"] == ["deploy-api"]  # already after health-db through deploy-api
    assert deps["deploy-web"] == ["build-web", "health-api"]
    assert all(deps[f"build-{a.name}"] == [] for a in apps)  # builds stay parallel
    depth = layers(deps)
    assert depth["build-db"] == depth["build-web"] == 0 and depth["deploy-web"] == 5 and depth["health-web"] == 6


@pytest.mark.parametrize(("tasks", "order", "message"), [
    ([Task(id="a", type="custom", call="m:f", block_by=["b"]), Task(id="b", type="custom", call="m:f",
                                                                      block_by=["a"])], [], "cycle: a -> b -> a"),
    ([Task(id="a", type="custom", call="m:f", block_by=["nope"])], [], "unknown task"),
    ([Task(id="a", type="custom", call="m:f"), Task(id="a", type="custom", call="m:f")], [], "unique"),
    ([Task(id="Bad Id", type="custom", call="m:f")], [], "lower-case"),
    ([Task(id="a", type="custom")], [], "needs call="),
    ([Task(id="a", type="build", app="web")], [], "needs job="),
    ([Task(id="a", type="prepare")], [], "manifests"),
    ([Task(id="a", type="deploy")], [], "needs app="),
    ([Task(id="a", type="deploy", app="nope")], [], "not one of the rollout's apps"),
    ([Task(id="a", type="deploy", app="web")], ["db"], "mustInOrder names unknown"),
])
def test_invalid_dags_are_refused_naming_the_fix(tasks: list[Task], order: list[str], message: str) -> None:
    with pytest.raises(RolloutError, match=message):
        validate(spec([App(name="web", image="w:2")], tasks, order))


def test_an_order_that_contradicts_block_by_is_a_cycle() -> None:
    apps = [App(name="a", image="a:2"), App(name="b", image="b:2")]
    tasks = default_tasks(apps, [])
    tasks[0] = Task(id="deploy-a", type="deploy", app="a", block_by=["health-b"])
    with pytest.raises(RolloutError, match="cycle"):
        validate(spec(apps, tasks, ["a", "b"]))


def test_ready_tasks_are_pending_ones_whose_dependencies_succeeded() -> None:
    states = [TaskState(id="a", type="build", status="success"), TaskState(id="b", type="build", status="running"),
              TaskState(id="c", type="deploy", deps=["a"]), TaskState(id="d", type="deploy", deps=["a", "b"]),
              TaskState(id="e", type="custom", deps=["s"]), TaskState(id="s", type="custom", status="skipped")]
    assert [t.id for t in ready(states)] == ["c", "e"]
    assert edges(spec([], [Task(id="x", type="custom", call="m:f", block_by=["y", "y"]),
                           Task(id="y", type="custom", call="m:f")])) == {"x": ["y"], "y": []}
