"""Planning tasks into steps from hand-written live objects: canary, rolling, blue-green, jobs, manifests."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from kubecopilot.errors import ResourceNotFoundError
from kubecopilot.rollouts import (
    App,
    BlueGreen,
    Canary,
    CanaryStep,
    Rolling,
    RolloutError,
    RolloutSpec,
    Task,
    canary_split,
    rolling_batches,
)
from kubecopilot.rollouts._strategies import plan_task


def deployment(name: str = "web", replicas: int = 4, image: str = "web:1", labels: dict[str, str] | None = None,
               env: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    labels = labels or {"app": name}
    container: dict[str, Any] = {"name": "app", "image": image}
    if env:
        container["env"] = env
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "namespace": "ns", "labels": dict(labels), "uid": "u1",
                         "resourceVersion": "7"},
            "spec": {"replicas": replicas, "selector": {"matchLabels": dict(labels)}, "minReadySeconds": 2,
                     "template": {"metadata": {"labels": dict(labels)}, "spec": {"containers": [container]}}},
            "status": {"replicas": replicas}}


class Objects:
    """``conn.get(path)`` over a dict of objects by API path (404 -> ResourceNotFoundError)."""

    def __init__(self, *objects: dict[str, Any]) -> None:
        self.by_path = {}
        for o in objects:
            kind, name = o["kind"], o["metadata"]["name"]
            base = "/apis/apps/v1" if kind == "Deployment" else "/api/v1"
            self.by_path[f"{base}/namespaces/ns/{kind.lower()}s/{name}"] = o

    def get(self, path: str, **_: Any) -> dict[str, Any]:
        if path not in self.by_path:
            raise ResourceNotFoundError(404, "GET", path, f"{path} not found")
        return copy.deepcopy(self.by_path[path])


def plan(conn: Objects, app: App, task: Task | None = None) -> list[Any]:
    task = task or Task(id=f"deploy-{app.name}", type="deploy", app=app.name)
    spec = RolloutSpec(name="r", namespace="ns", apps=[app], tasks=[task])
    return plan_task(conn, spec, task, "r-1234abcd")


def ops(step: Any) -> list[tuple[str, str, dict[str, Any]]]:
    return [(o.action, o.target, {k: v for k, v in o.args.items() if k != "manifest"}) for o in step.ops]


def test_split_and_batch_arithmetic() -> None:
    assert [canary_split(4, w) for w in (10, 25, 50, 75, 99)] == [(1, 3), (1, 3), (2, 2), (3, 1), (4, 1)]
    assert canary_split(1, 50) == (1, 1)  # one replica: the canary runs next to it, never instead
    assert rolling_batches(5, 2) == [(2, 3), (4, 1)] and rolling_batches(4, 2) == [(2, 2)]
    assert rolling_batches(2, 2) == [] and rolling_batches(3, 1) == [(1, 2), (2, 1)]


def test_canary_steps_create_scale_then_promote_and_remove() -> None:
    app = App(name="web", image="web:2", strategy=Canary(steps=[CanaryStep(weight=25, pause=None), 50]))
    steps = plan(Objects(deployment()), app)
    assert [s.name for s in steps] == ["canary 25%: 1 of 4 pods", "canary 50%: 2 of 4 pods", "promote: web to web:2",
                                       "remove web-canary"]
    assert ops(steps[0]) == [("apply", "deployment/ns/web-canary", {}), ("scale", "deployment/ns/web", {"replicas": 3})]
    assert ops(steps[1]) == [("scale", "deployment/ns/web-canary", {"replicas": 2}),
                             ("scale", "deployment/ns/web", {"replicas": 2})]
    assert ops(steps[2]) == [("set_image", "deployment/ns/web", {"image": "web:2", "container": "app"}),
                             ("scale", "deployment/ns/web", {"replicas": 4})]
    assert ops(steps[3]) == [("delete", "deployment/ns/web-canary", {})]
    assert (steps[0].pause, steps[1].pause) == (None, 0.0) and steps[2].promote and steps[3].promote
    assert steps[0].analysis == {"target": "canary pods of web", "namespace": "ns", "expected": 1,
                                 "selector": "app=web,kubecopilot.io/track=canary"}
    manifest = steps[0].ops[0].args["manifest"]
    assert manifest["metadata"] == {"name": "web-canary", "namespace": "ns", "labels": {
        "app": "web", "kubecopilot.io/track": "canary", "kubecopilot.io/rollout": "r-1234abcd"}}
    assert manifest["spec"]["selector"] == {"matchLabels": {"app": "web", "kubecopilot.io/track": "canary"}}
    labels = manifest["spec"]["template"]["metadata"]["labels"]
    assert labels == {"app": "web", "kubecopilot.io/track": "canary"}  # still selected by the app's Service
    assert manifest["spec"]["template"]["spec"]["containers"][0]["image"] == "web:2"
    assert manifest["spec"]["replicas"] == 1 and manifest["spec"]["minReadySeconds"] == 2


def test_rolling_goes_through_a_next_deployment_in_batches() -> None:
    app = App(name="web", image="web:2", env={"MODE": "fast"}, strategy=Rolling(batch_size=2, interval=5,
                                                                                 analysis=True))
    steps = plan(Objects(deployment(replicas=5)), app)
    assert [s.name for s in steps] == ["batch 1: 2 of 5 pods on web:2", "batch 2: 4 of 5 pods on web:2",
                                       "promote: web to web:2", "remove web-next"]
    assert ops(steps[1]) == [("scale", "deployment/ns/web-next", {"replicas": 4}),
                             ("scale", "deployment/ns/web", {"replicas": 1})]
    assert [o.action for o in steps[2].ops] == ["set_image", "set_env", "scale"]
    assert steps[0].pause == 5 and steps[0].analysis["selector"] == "app=web,kubecopilot.io/track=next"
    env = steps[0].ops[0].args["manifest"]["spec"]["template"]["spec"]["containers"][0]["env"]
    assert env == [{"name": "MODE", "value": "fast"}]
    small = plan(Objects(deployment(replicas=2)), App(name="web", image="web:2", strategy=Rolling(batch_size=2)))
    assert [s.name for s in small] == ["update web to web:2"] and [o.action for o in small[0].ops] == ["set_image"]


def test_nothing_to_roll_out_and_unsafe_templates() -> None:
    assert plan(Objects(deployment(image="web:2")), App(name="web", image="web:2", strategy=Canary())) == []
    with pytest.raises(RolloutError, match="does not exist: a rollout updates an existing Deployment"):
        plan(Objects(), App(name="web", image="web:2"))
    with pytest.raises(RolloutError, match="scaled to zero"):
        plan(Objects(deployment(replicas=0)), App(name="web", image="web:2"))
    secret = deployment(env=[{"name": "DB_PASSWORD", "value": "hunter2"}])
    with pytest.raises(RolloutError, match="DB_PASSWORD as a literal value") as e:
        plan(Objects(secret), App(name="web", image="web:2", strategy=Canary()))
    assert "hunter2" not in str(e.value)
    two = deployment()
    two["spec"]["template"]["spec"]["containers"].append({"name": "side", "image": "side:1"})
    with pytest.raises(RolloutError, match="name the one to update"):
        plan(Objects(two), App(name="web", image="web:2"))


def service(name: str, selector: dict[str, str]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": "ns"},
            "spec": {"selector": selector, "ports": [{"name": "http", "port": 80, "targetPort": 8080,
                                                      "protocol": "TCP"}], "clusterIP": "10.0.0.1"}}


def test_blue_green_from_a_plain_deployment_then_between_colours() -> None:
    app = App(name="web", image="web:2", strategy=BlueGreen(scale_down_delay=9, auto_promote=False))
    first = plan(Objects(deployment(replicas=2), service("web", {"app": "web"})), app)
    assert [s.name for s in first] == ["deploy web-green (web:2) behind web-preview", "switch web to green",
                                       "scale down web"]
    green, preview = (o.args["manifest"] for o in first[0].ops)
    assert green["metadata"]["name"] == "web-green" and green["spec"]["replicas"] == 2
    assert green["spec"]["selector"]["matchLabels"] == {"app": "web", "kubecopilot.io/color": "green"}
    assert preview["spec"] == {"selector": {"app": "web", "kubecopilot.io/color": "green"},
                               "ports": [{"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"}]}
    assert ops(first[1]) == [("set_selector", "service/ns/web", {"selector": {"app": "web",
                                                                              "kubecopilot.io/color": "green"}})]
    assert first[0].pause is None and first[1].pause == 9  # wait for promote; the scale-down delay
    assert ops(first[2]) == [("delete", "deployment/ns/web", {})]

    live = deployment("web-green", 2, labels={"app": "web", "kubecopilot.io/color": "green"})
    second = plan(Objects(live, service("web", {"app": "web", "kubecopilot.io/color": "green"})), app)
    blue = second[0].ops[0].args["manifest"]
    assert blue["metadata"]["name"] == "web-blue"
    assert blue["spec"]["template"]["metadata"]["labels"] == {"app": "web", "kubecopilot.io/color": "blue"}
    assert ops(second[2]) == [("delete", "deployment/ns/web-green", {})]
    with pytest.raises(RolloutError, match="blue-green switches the selector of the active Service"):
        plan(Objects(deployment()), app)


def test_jobs_manifests_health_checks_and_calls() -> None:
    app = App(name="web", image="web:2")
    build = Task(id="build-web", type="build", app="web", image="builder:1", command=["make"], env={"V": "2"})
    [step] = plan(Objects(deployment()), app, build)
    job = step.ops[0].args["manifest"]
    assert step.wait_job == "job/ns/build-web-34abcd" and job["metadata"]["name"] == "build-web-34abcd"
    assert job["spec"]["template"]["spec"]["containers"] == [
        {"name": "build", "image": "builder:1", "command": ["make"], "env": [{"name": "V", "value": "2"}]}]
    assert not step.ops[0].reversible and job["metadata"]["labels"]["kubecopilot.io/task"] == "build-web"
    spec = RolloutSpec(name="r", namespace="ns", apps=[app], tasks=[build])
    assert plan_task(Objects(), spec, build, "r-1234abcd", attempt=2)[0].wait_job == "job/ns/build-web-34abcd-r2"
    prep = Task(id="prep", type="prepare", manifests=[{"apiVersion": "v1", "kind": "ConfigMap",
                                                        "metadata": {"name": "cfg"}, "data": {"a": "1"}}])
    [step] = plan(Objects(), app, prep)
    assert ops(step) == [("apply", "configmap/ns/cfg", {})]
    assert step.ops[0].args["manifest"]["metadata"]["namespace"] == "ns"
    [health] = plan(Objects(deployment()), app, Task(id="health-web", type="health_check", app="web"))
    assert health.analysis["selector"] == "app=web,!kubecopilot.io/track" and health.analysis["expected"] == 4
    [call] = plan(Objects(), app, Task(id="notify", type="custom", call="pkg.mod:fn"))
    assert call.call == "pkg.mod:fn" and not call.ops
