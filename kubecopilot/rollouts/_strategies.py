"""Turning a task into steps, from one live read: the strategies (canary, rolling, blue-green) and the other task
types (prepare, build, test, health check, custom).

A task is planned once, when it starts, and its steps are saved with the rollout; a resumed rollout continues the
saved steps instead of re-deriving them from a cluster that the rollout itself has half changed. Every write is an
`Op` — a plan-builder call — so each one becomes an approved, audited `OperationPlan` when it runs.

**Canary.** Kubernetes has no native canary, so a second Deployment ``<app>-canary`` runs the new template. Its
pods keep every label of the stable pods (so the Service that selects the app sends them traffic) plus
``kubecopilot.io/track=canary`` (so its ReplicaSets and the analysis tell them apart). For a weight ``w`` with ``N``
stable replicas the canary gets ``c = max(1, round(N*w/100))`` pods and the stable Deployment ``max(1, N-c)``: the
canary's share of the pods — and of the Service's endpoints — follows the weights, and the stable version never
reaches zero before the promotion. The promotion updates the stable Deployment to the new image (``set_image``,
``set_env``), scales it back to ``N``, waits until it is Ready, and only then deletes the canary.

**Rolling.** Kubernetes' own rolling update cannot be stopped at a batch boundary: with maxSurge/maxUnavailable
the controller moves on as soon as pods become available, and pausing the Deployment from outside races it (the
next scale-up follows the previous scale-down within one sync). For real batch control the new version runs in a
second Deployment ``<app>-next`` that grows by ``batch_size`` while the stable one shrinks by as much, every batch
Ready (or analysed) and ``interval`` seconds apart; the promotion is the canary's. The price is that the pods of
the last batches start twice (once in ``-next``, once in the updated stable Deployment), which buys the stop,
analysis and rollback points between batches that the built-in update does not have.

**Blue-green.** ``<app>-blue`` / ``<app>-green``. The active Service's selector carries ``kubecopilot.io/color``;
the new colour is created with ``N`` replicas behind the preview Service (``<app>-preview``), analysed, then the
active Service is switched with ``set_selector``. After ``scale_down_delay`` seconds (a window in which ``abort``
switches straight back) the old colour is removed. The first blue-green rollout of a plain Deployment treats it
as the old colour. The old colour is *deleted*, not scaled to zero: the plans' risk engine scores a scale to zero
as high risk ("the service goes down"), which cannot see that no Service selects those pods any more, while a
delete is honestly medium; ``undo`` re-creates it from the plan's snapshot.

Manifests derived from the live Deployment are refused when its pod template holds literal values of
credential-like env vars (``DB_PASSWORD: ...``): they would be copied into plans and the rollout record, which
live in the audit ledger. Move such values into a Secret (``valueFrom.secretKeyRef``) first.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from typing import Any

from kubecopilot.errors import ResourceNotFoundError
from kubecopilot.rollouts._model import App, BlueGreen, Canary, Op, Rolling, RolloutError, RolloutSpec, StepState, Task

__all__ = [
    "COLOUR",
    "ROLLOUT_LABEL",
    "TRACK",
    "canary_split",
    "plan_task",
    "rolling_batches",
    "selector_string",
]

TRACK = "kubecopilot.io/track"
COLOUR = "kubecopilot.io/color"
ROLLOUT_LABEL = "kubecopilot.io/rollout"
TASK_LABEL = "kubecopilot.io/task"


def selector_string(labels: Mapping[str, str], *, without: str | None = None) -> str:
    """``app=web,kubecopilot.io/track=canary`` (sorted); ``without`` adds ``!key`` (pods that lack the label)."""
    parts = [f"{k}={v}" for k, v in sorted(labels.items())]
    if without:
        parts.append(f"!{without}")
    return ",".join(parts)


def canary_split(replicas: int, weight: int) -> tuple[int, int]:
    """(canary pods, stable pods) for ``weight`` percent of ``replicas``; both at least 1."""
    canary = max(1, round(replicas * weight / 100))
    return canary, max(1, replicas - canary)


def rolling_batches(replicas: int, batch: int) -> list[tuple[int, int]]:
    """(new pods, old pods) after each batch before the promotion: ``[(b, N-b), (2b, N-2b), ...]`` while old > 0."""
    return [(k * batch, replicas - k * batch) for k in range(1, math.ceil(replicas / batch)) if k * batch < replicas]


# -- shared pieces -----------------------------------------------------------------------------------------------------
def _op(action: str, target: str, description: str, reversible: bool = True, **args: Any) -> Op:
    return Op(key="", action=action, target=target, args=args, description=description,  # type: ignore[arg-type]
              reversible=reversible)


def _read(conn: Any, path: str, what: str, fix: str) -> dict[str, Any]:
    try:
        return conn.get(path)
    except ResourceNotFoundError:
        raise RolloutError(f"{what} does not exist: {fix}") from None


def _deploy_path(ns: str, name: str) -> str:
    return f"/apis/apps/v1/namespaces/{ns}/deployments/{name}"


def _containers(template: Mapping[str, Any]) -> list[dict[str, Any]]:
    return list(((template.get("spec") or {}).get("containers")) or [])


def _container_name(live: Mapping[str, Any], app: App) -> str:
    names = [c.get("name") for c in _containers(live["spec"]["template"])]
    if app.container:
        if app.container not in names:
            raise RolloutError(f"deployment {live['metadata']['name']} has no container {app.container!r}; its "
                               f"containers: {', '.join(names)}")
        return app.container
    if len(names) != 1:
        raise RolloutError(f"deployment {live['metadata']['name']} has containers {', '.join(names)}: name the one "
                           f"to update with App(..., container=NAME)")
    return str(names[0])


def _refuse_credentials(template: Mapping[str, Any], where: str) -> None:
    from kubecopilot.audit._canonical import is_secret_key

    for c in _containers(template) + list(((template.get("spec") or {}).get("initContainers")) or []):
        for e in c.get("env") or []:
            if isinstance(e.get("value"), str) and is_secret_key(str(e.get("name", ""))):
                raise RolloutError(
                    f"{where}: container {c.get('name')} sets {e.get('name')} as a literal value; a rollout copies the "
                    "pod template into plans and its record in the audit ledger, which never hold credentials. Move "
                    f"it into a Secret (env valueFrom.secretKeyRef) first.")


def _new_template(live: Mapping[str, Any], app: App, container: str) -> dict[str, Any]:
    template = copy.deepcopy(live["spec"]["template"])
    template.setdefault("metadata", {}).pop("creationTimestamp", None)
    for c in template["spec"]["containers"]:
        if c.get("name") != container:
            continue
        if app.image:
            c["image"] = app.image
        if app.env:
            env = [e for e in c.get("env") or [] if e.get("name") not in app.env]
            c["env"] = env + [{"name": k, "value": str(v)} for k, v in app.env.items()]
    _refuse_credentials(template, f"deployment {live['metadata']['name']}")
    return template


def _unchanged(live: Mapping[str, Any], app: App, container: str) -> bool:
    c = next(c for c in _containers(live["spec"]["template"]) if c.get("name") == container)
    env = {e.get("name"): e.get("value") for e in c.get("env") or []}
    return (app.image is None or c.get("image") == app.image) and all(env.get(k) == str(v)
                                                                       for k, v in app.env.items())


def _copy(live: Mapping[str, Any], name: str, replicas: int, template: dict[str, Any],
          match: Mapping[str, str], rid: str) -> dict[str, Any]:
    """A Deployment like ``live`` under another name, selector and template (what canary/next/colours are)."""
    spec: dict[str, Any] = {"replicas": replicas, "selector": {"matchLabels": dict(match)}, "template": template}
    for key in ("minReadySeconds", "progressDeadlineSeconds", "revisionHistoryLimit", "strategy"):
        if key in live["spec"]:
            spec[key] = copy.deepcopy(live["spec"][key])
    labels = {k: v for k, v in ((live["metadata"].get("labels")) or {}).items() if k not in (TRACK, COLOUR)}
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "namespace": live["metadata"]["namespace"],
                         "labels": {**labels, **{k: v for k, v in match.items() if k in (TRACK, COLOUR)},
                                    ROLLOUT_LABEL: rid}},
            "spec": spec}


def _update_ops(ref: str, live: Mapping[str, Any], app: App, container: str, replicas: int | None) -> list[Op]:
    ops = []
    if app.image:
        ops.append(_op("set_image", ref, f"update {ref} to {app.image}", image=app.image, container=container))
    if app.env:
        ops.append(_op("set_env", ref, f"set {', '.join(app.env)} in {ref}", env=dict(app.env), container=container))
    if replicas is not None:
        ops.append(_op("scale", ref, f"scale {ref} back to {replicas} replica(s)", replicas=replicas))
    return ops


def _analysis(target: str, namespace: str, selector: str, expected: int | None) -> dict[str, Any]:
    return {"target": target, "namespace": namespace, "selector": selector, "expected": expected}


# -- deploy strategies -------------------------------------------------------------------------------------------------
def _two_deployment(conn: Any, spec: RolloutSpec, app: App, rid: str, ns: str, live: dict[str, Any],
                    strategy: Canary | Rolling) -> list[StepState]:
    """Canary and rolling: a second Deployment grows while the stable one shrinks, then the promotion."""
    name = live["metadata"]["name"]
    n = int(live["spec"].get("replicas", 1))
    if n < 1:
        raise RolloutError(f"deployment {ns}/{name} is scaled to zero: scale it up first (ws.plan.scale) — a "
                           "rollout compares the new version against a running one")
    container = _container_name(live, app)
    track = "canary" if isinstance(strategy, Canary) else "next"
    match = dict(((live["spec"].get("selector") or {}).get("matchLabels")) or {})
    other_match = {**match, TRACK: track}
    template = _new_template(live, app, container)
    template["metadata"]["labels"] = {**(template["metadata"].get("labels") or {}), TRACK: track}
    other_name = f"{name}-{track}"
    stable, other = f"deployment/{ns}/{name}", f"deployment/{ns}/{other_name}"
    other_selector = selector_string(other_match)
    image = app.image or "the new template"
    if isinstance(strategy, Canary):
        stops = [(s, *canary_split(n, s.weight)) for s in strategy.steps if s.weight < 100]
        final = next((s for s in strategy.steps if s.weight == 100), None)
    else:
        stops = [(None, c, s) for c, s in rolling_batches(n, strategy.batch_size)]
        final = None
    steps: list[StepState] = []
    prev_c, prev_s = 0, n
    for i, (stop, c, s) in enumerate(stops, start=1):
        ops: list[Op] = []
        if prev_c == 0:
            ops.append(_op("apply", other, f"create {other} with {c} pod(s) of {image}",
                           manifest=_copy(live, other_name, c, template, other_match, rid)))
        elif c != prev_c:
            ops.append(_op("scale", other, f"scale {other} to {c}", replicas=c))
        if s != prev_s:
            ops.append(_op("scale", stable, f"scale {stable} to {s}", replicas=s))
        if stop is not None:
            label, analyse, pause = f"canary {stop.weight}%: {c} of {c + s} pods", stop.analysis, stop.pause
        else:
            label, analyse, pause = (f"batch {i}: {c} of {n} pods on {image}", strategy.analysis,  # type: ignore[union-attr]
                                     strategy.interval)  # type: ignore[union-attr]
        check = _analysis(f"{track} pods of {name}", ns, other_selector, c) if analyse else None
        steps.append(StepState(index=len(steps), name=label, ops=ops, wait_ready=[other], analysis=check,
                               pause=pause))
        prev_c, prev_s = c, s
    stable_selector = selector_string(match, without=TRACK)
    ops = _update_ops(stable, live, app, container, n if prev_s != n else None)
    steps.append(StepState(index=len(steps), name=f"promote: {name} to {image}" if prev_c else f"update {name} to "
                           f"{image}", ops=ops, wait_ready=[stable], promote=True,
                           analysis=(_analysis(f"pods of {name}", ns, stable_selector, n)
                                     if final is not None and final.analysis else None),
                           pause=final.pause if final is not None else 0.0))
    if prev_c:
        steps.append(StepState(index=len(steps), name=f"remove {other_name}", promote=True,
                               ops=[_op("delete", other, f"delete {other} (promoted)")]))
    return steps


def _blue_green(conn: Any, spec: RolloutSpec, app: App, rid: str, ns: str, strategy: BlueGreen) -> list[StepState]:
    active_name = strategy.active_service or app.name
    preview_name = strategy.preview_service or f"{app.name}-preview"
    svc = _read(conn, f"/api/v1/namespaces/{ns}/services/{active_name}", f"service {ns}/{active_name}",
                "blue-green switches the selector of the active Service; create it (or name it with "
                "BlueGreen(active_service=...))")
    before = dict((svc.get("spec") or {}).get("selector") or {})
    if not before:
        raise RolloutError(f"service {ns}/{active_name} has no selector: blue-green needs a Service that selects the "
                           "app's pods by label")
    colour = before.get(COLOUR)
    base = app.deployment_name
    current = f"{base}-{colour}" if colour else base
    live = _read(conn, _deploy_path(ns, current), f"deployment {ns}/{current} (what service {active_name} selects)",
                 "deploy the first version as a plain Deployment and Service, then roll out blue-green")
    container = _container_name(live, app)
    if _unchanged(live, app, container):
        return []
    n = max(1, int(live["spec"].get("replicas", 1)))
    new = "blue" if colour == "green" else "green"
    new_name = f"{base}-{new}"
    match = {**{k: v for k, v in (((live["spec"].get("selector") or {}).get("matchLabels")) or {}).items()
                if k != COLOUR}, COLOUR: new}
    template = _new_template(live, app, container)
    template["metadata"]["labels"] = {**(template["metadata"].get("labels") or {}), COLOUR: new}
    selector = {**{k: v for k, v in before.items() if k != COLOUR}, COLOUR: new}
    missing = {k: v for k, v in selector.items() if template["metadata"]["labels"].get(k) != v}
    if missing:
        raise RolloutError(f"service {ns}/{active_name} selects {selector_string(before)}, which the pods of "
                           f"{current} do not all carry ({selector_string(missing)})")
    ports = [{k: p[k] for k in ("name", "port", "targetPort", "protocol") if k in p}
             for p in (svc.get("spec") or {}).get("ports") or []]
    preview = {"apiVersion": "v1", "kind": "Service",
               "metadata": {"name": preview_name, "namespace": ns, "labels": {ROLLOUT_LABEL: rid}},
               "spec": {"selector": selector, "ports": ports or [{"port": 80}]}}
    new_ref, active_ref = f"deployment/{ns}/{new_name}", f"service/{ns}/{active_name}"
    image = app.image or "the new template"
    pods = selector_string(selector)
    return [
        StepState(index=0, name=f"deploy {new_name} ({image}) behind {preview_name}", wait_ready=[new_ref],
                  ops=[_op("apply", new_ref, f"create {new_ref} with {n} pod(s) of {image}",
                           manifest=_copy(live, new_name, n, template, match, rid)),
                       _op("apply", f"service/{ns}/{preview_name}", f"point {preview_name} at the {new} pods",
                           manifest=preview)],
                  analysis=_analysis(f"{new} pods (preview)", ns, pods, n) if strategy.pre_analysis else None,
                  pause=0.0 if strategy.auto_promote else None),
        StepState(index=1, name=f"switch {active_name} to {new}",
                  ops=[_op("set_selector", active_ref, f"switch {active_ref} to {selector_string(selector)}",
                           selector=selector)],
                  analysis=_analysis(f"{new} pods (active)", ns, pods, n) if strategy.post_analysis else None,
                  pause=strategy.scale_down_delay),
        StepState(index=2, name=f"scale down {current}",
                  ops=[_op("delete", f"deployment/{ns}/{current}", f"delete {current} (the old colour)")]),
    ]


def _deploy(conn: Any, spec: RolloutSpec, task: Task, rid: str) -> list[StepState]:
    app = spec.app(task.app)
    assert app is not None  # validate() checked it
    if not app.image and not app.env:
        raise RolloutError(f"app {app.name}: nothing to roll out — give image= (and/or env=)")
    ns = app.namespace or spec.namespace
    strategy = app.strategy
    if isinstance(strategy, BlueGreen):
        return _blue_green(conn, spec, app, rid, ns, strategy)
    live = _read(conn, _deploy_path(ns, app.deployment_name), f"deployment {ns}/{app.deployment_name}",
                 "a rollout updates an existing Deployment; create the first version with ws.plan.apply(manifest)")
    if _unchanged(live, app, _container_name(live, app)):
        return []
    return _two_deployment(conn, spec, app, rid, ns, live, strategy)


def _health(conn: Any, spec: RolloutSpec, task: Task) -> list[StepState]:
    app = spec.app(task.app)
    assert app is not None
    ns = app.namespace or spec.namespace
    if isinstance(app.strategy, BlueGreen):
        name = app.strategy.active_service or app.name
        svc = _read(conn, f"/api/v1/namespaces/{ns}/services/{name}", f"service {ns}/{name}", "create it")
        selector = dict((svc.get("spec") or {}).get("selector") or {})
        colour = selector.get(COLOUR)
        try:
            live = conn.get(_deploy_path(ns, f"{app.deployment_name}-{colour}" if colour else app.deployment_name))
            expected = int(live["spec"].get("replicas", 1))
        except ResourceNotFoundError:
            expected = None
        return [StepState(index=0, name=f"health check: pods behind service {name}",
                          analysis=_analysis(f"pods behind service {name}", ns, selector_string(selector), expected))]
    live = _read(conn, _deploy_path(ns, app.deployment_name), f"deployment {ns}/{app.deployment_name}", "create it")
    match = dict(((live["spec"].get("selector") or {}).get("matchLabels")) or {})
    return [StepState(index=0, name=f"health check: {app.deployment_name}",
                      analysis=_analysis(f"pods of {app.deployment_name}", ns, selector_string(match, without=TRACK),
                                         int(live["spec"].get("replicas", 1))))]


def _job(spec: RolloutSpec, task: Task, rid: str, attempt: int) -> dict[str, Any]:
    ns = spec.app(task.app).namespace if task.app and spec.app(task.app) else None  # type: ignore[union-attr]
    ns = ns or spec.namespace
    labels = {ROLLOUT_LABEL: rid, TASK_LABEL: task.id}
    if task.job is not None:
        job = copy.deepcopy(task.job)
        meta = job.setdefault("metadata", {})
        if not meta.get("name"):
            raise RolloutError(f"task {task.id}: the Job manifest needs metadata.name")
        if attempt > 1:
            meta["name"] = f"{meta['name'][:58]}-r{attempt}"
        meta["namespace"] = meta.get("namespace") or ns
        meta["labels"] = {**(meta.get("labels") or {}), **labels}
        _refuse_credentials(((job.get("spec") or {}).get("template")) or {}, f"task {task.id}")
        return job
    container: dict[str, Any] = {"name": task.type, "image": task.image}
    if task.command:
        container["command"] = list(task.command)
    if task.env:
        container["env"] = [{"name": k, "value": str(v)} for k, v in task.env.items()]
    template = {"metadata": {"labels": labels},
                "spec": {"restartPolicy": "Never", "containers": [container], "terminationGracePeriodSeconds": 1}}
    _refuse_credentials(template, f"task {task.id}")
    suffix = f"-{rid[-6:]}" + (f"-r{attempt}" if attempt > 1 else "")
    return {"apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": f"{task.id[:63 - len(suffix)]}{suffix}".strip("-."), "namespace": ns,
                         "labels": labels},
            "spec": {"backoffLimit": 0, "template": template}}


def plan_task(conn: Any, spec: RolloutSpec, task: Task, rid: str, attempt: int = 1) -> list[StepState]:
    """The steps of ``task`` from a live read (``conn``: a `Connection`). An empty list means there is nothing to
    do (the app already runs the new version)."""
    if task.type == "deploy":
        return _deploy(conn, spec, task, rid)
    if task.type == "health_check":
        return _health(conn, spec, task)
    if task.type == "prepare":
        ops = []
        for m in task.manifests:
            meta = m.get("metadata") or {}
            ns = meta.get("namespace") or spec.namespace
            ref = f"{str(m.get('kind', '?')).lower()}/{ns}/{meta.get('name', '?')}"
            ops.append(_op("apply", ref, f"apply {ref}", manifest={**m, "metadata": {**meta, "namespace": ns}}))
        return [StepState(index=0, name=f"apply {len(ops)} manifest(s)", ops=ops)]
    if task.type in ("build", "test"):
        job = _job(spec, task, rid, attempt)
        ref = f"job/{job['metadata']['namespace']}/{job['metadata']['name']}"
        return [StepState(index=0, name=f"{task.type}: run job {job['metadata']['name']}", wait_job=ref,
                          ops=[_op("apply", ref, f"start job {job['metadata']['name']}", reversible=False,
                                   manifest=job)])]
    return [StepState(index=0, name=f"call {task.call}", call=task.call)]
