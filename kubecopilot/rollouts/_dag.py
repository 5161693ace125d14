"""The rollout's DAG: default tasks, validation, the edges ``mustInOrder`` adds, what may run now, and layers.

Edges are ``blockBy`` (a task waits until each task it names has succeeded) plus the application order: with
``mustInOrder=["db", "api"]`` every *deploy-phase* task (``deploy``, ``health_check``) of ``api`` waits for every
deploy-phase task of ``db``. Preparing, building and testing are not ordered by it, so the builds of several
applications run in parallel while their deployments go one application after the other — the usual reason to
order applications at all is the traffic between their running versions, not their builds.

Default tasks: an app without an explicit ``deploy`` task gets ``deploy-<app>``, blocked by that app's
``prepare`` / ``build`` / ``test`` tasks, and (unless ``health_check=False``) ``health-<app>`` blocked by it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from kubecopilot.rollouts._model import DEPLOY_PHASE, App, RolloutError, RolloutSpec, Task, TaskState

__all__ = ["default_tasks", "edges", "layers", "ready", "validate"]

_ID = re.compile(r"^[a-z0-9]([-a-z0-9_.]{0,61}[a-z0-9])?$")


def default_tasks(apps: Iterable[App], tasks: Iterable[Task], *, health_check: bool = True) -> list[Task]:
    """The explicit tasks plus a deploy (and health check) task for every app that has no deploy task."""
    out = list(tasks)
    for app in apps:
        if any(t.type == "deploy" and t.app == app.name for t in out):
            continue
        before = [t.id for t in out if t.app == app.name and t.type in ("prepare", "build", "test")]
        out.append(Task(id=f"deploy-{app.name}", type="deploy", app=app.name, block_by=before))
        if health_check and not any(t.type == "health_check" and t.app == app.name for t in out):
            out.append(Task(id=f"health-{app.name}", type="health_check", app=app.name,
                            block_by=[f"deploy-{app.name}"]))
    return out


def edges(spec: RolloutSpec) -> dict[str, list[str]]:
    """task id -> the task ids it waits for (``blockBy`` first, then the order edges), without duplicates.

    An order edge goes from the *last* deploy-phase tasks of the earlier app (those no other of its deploy-phase
    tasks waits for) to the *first* ones of the later app (those that wait for none of its deploy-phase tasks);
    the rest follows transitively, which keeps the drawn DAG readable."""
    deps: dict[str, list[str]] = {t.id: list(dict.fromkeys(t.block_by)) for t in spec.tasks}
    phase = {a: [t.id for t in spec.tasks if t.app == a and t.type in DEPLOY_PHASE] for a in spec.must_in_order}
    for earlier, later in zip(spec.must_in_order, spec.must_in_order[1:], strict=False):
        last = [t for t in phase[earlier] if not any(t in deps[o] for o in phase[earlier] if o != t)]
        first = [t for t in phase[later] if not any(d in phase[later] for d in deps[t])]
        for tid in first:
            deps[tid] += [d for d in last if d not in deps[tid]]
    return deps


def validate(spec: RolloutSpec) -> dict[str, list[str]]:
    """Check ids, references, apps and acyclicity; return the edges. Raises `RolloutError` naming the fix."""
    ids = [t.id for t in spec.tasks]
    if not ids:
        raise RolloutError("a rollout needs at least one task or app: kc.rollout('web', image='web:1.1') or "
                           "apps=[App(...)], tasks=[Task(...)]")
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    if dupes:
        raise RolloutError(f"task ids must be unique; repeated: {', '.join(dupes)}")
    for tid in ids:
        if not _ID.match(tid):
            raise RolloutError(f"task id {tid!r}: use lower-case letters, digits, '-', '_' or '.' (at most 63 "
                               "characters), e.g. 'build-api'")
    names = [a.name for a in spec.apps]
    if len(set(names)) != len(names):
        raise RolloutError(f"app names must be unique, got {names}")
    for t in spec.tasks:
        unknown = [d for d in t.block_by if d not in ids]
        if unknown:
            raise RolloutError(f"task {t.id} is blocked by unknown task(s) {', '.join(unknown)}; tasks are "
                               f"{', '.join(ids)}")
        if t.id in t.block_by:
            raise RolloutError(f"task {t.id} blocks itself")
        if t.app is not None and t.app not in names:
            raise RolloutError(f"task {t.id} names app {t.app!r}, which is not one of the rollout's apps "
                               f"({', '.join(names) or 'none'})")
        if t.type in DEPLOY_PHASE and t.app is None:
            raise RolloutError(f"{t.type} task {t.id} needs app=: the application it "
                               f"{'deploys' if t.type == 'deploy' else 'checks'}")
        if t.type == "custom" and not t.call:
            raise RolloutError(f"custom task {t.id} needs call='package.module:function' (importable, so another "
                               "process can resume the rollout)")
        if t.type in ("build", "test") and not (t.job or t.image):
            raise RolloutError(f"{t.type} task {t.id} needs job= (a Job manifest) or image= (run as a Job)")
        if t.type == "prepare" and not t.manifests:
            raise RolloutError(f"prepare task {t.id} needs manifests=[...] to apply")
    unknown_order = [a for a in spec.must_in_order if a not in names]
    if unknown_order:
        raise RolloutError(f"mustInOrder names unknown app(s) {', '.join(unknown_order)}; apps are "
                           f"{', '.join(names)}")
    if len(set(spec.must_in_order)) != len(spec.must_in_order):
        raise RolloutError(f"mustInOrder lists an app twice: {spec.must_in_order}")
    deps = edges(spec)
    cycle = _cycle(deps)
    if cycle:
        raise RolloutError("the tasks form a cycle: " + " -> ".join(cycle) + " (check blockBy and mustInOrder)")
    return deps


def _cycle(deps: Mapping[str, list[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for d in deps.get(node, []):
            if state.get(d) == 1:
                return [*stack[stack.index(d):], d]
            if state.get(d) is None:
                found = visit(d)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for n in deps:
        if state.get(n) is None:
            found = visit(n)
            if found:
                return found
    return None


def ready(tasks: Iterable[TaskState]) -> list[TaskState]:
    """Pending tasks whose dependencies all succeeded (or were skipped), in declaration order."""
    tasks = list(tasks)
    done = {t.id for t in tasks if t.status in ("success", "skipped")}
    return [t for t in tasks if t.status == "pending" and all(d in done for d in t.deps)]


def layers(deps: Mapping[str, list[str]]) -> dict[str, int]:
    """Each task's depth (0 for tasks that wait for nothing): the x position in the DAG figure."""
    depth: dict[str, int] = {}

    def level(node: str, seen: tuple[str, ...] = ()) -> int:
        if node in depth:
            return depth[node]
        if node in seen:  # a cycle cannot pass validate(); stay finite anyway
            return 0
        value = 1 + max((level(d, (*seen, node)) for d in deps.get(node, []) if d in deps), default=-1)
        depth[node] = value
        return value

    for n in deps:
        level(n)
    return depth
