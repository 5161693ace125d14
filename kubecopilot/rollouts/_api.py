"""Making, finding and resuming rollouts: ``rollout(...)``, ``load(id)``, ``resume(id)``, ``history()``."""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Iterable, Mapping
from typing import Any

from kubecopilot.plans._policy import current_user
from kubecopilot.rollouts import _store
from kubecopilot.rollouts._dag import default_tasks, validate
from kubecopilot.rollouts._model import (
    AnalysisSpec,
    App,
    Approval,
    BlueGreen,
    Canary,
    Rolling,
    RolloutError,
    RolloutSpec,
    RolloutState,
    Task,
    TaskState,
)
from kubecopilot.rollouts._rollout import Rollout

__all__ = ["history", "load", "resume", "rollout"]

_ID = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_STRATEGIES = {"canary": Canary, "rolling": Rolling, "blue_green": BlueGreen, "blue-green": BlueGreen,
               "bluegreen": BlueGreen}


def _strategy(value: Any) -> Canary | Rolling | BlueGreen | None:
    if value is None or isinstance(value, Canary | Rolling | BlueGreen):
        return value
    if isinstance(value, str):
        key = value.strip().lower()
        if key not in _STRATEGIES:
            raise RolloutError(f"unknown strategy {value!r}; use 'canary', 'rolling' or 'blue_green' (or Canary(...), "
                               "Rolling(...), BlueGreen(...))")
        return _STRATEGIES[key]()
    if isinstance(value, Mapping):
        kind = str(value.get("kind", "")).replace("-", "_")
        cls = _STRATEGIES.get(kind)
        if cls is None:
            raise RolloutError(f"strategy {dict(value)!r} needs kind: canary, rolling or blue_green")
        return cls.model_validate({**value, "kind": cls.model_fields["kind"].default})
    raise RolloutError(f"strategy must be a name, a dict or Canary/Rolling/BlueGreen, got {type(value).__name__}")


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")[:40].strip("-") or "rollout"


def _workbench(ws: Any) -> Any:
    if ws is not None:
        return ws
    from kubecopilot.cluster import current
    from kubecopilot.errors import ConnectionNotFoundError

    try:
        return current()
    except ConnectionNotFoundError:
        raise RolloutError("no cluster connection: pass ws=kc.connect(context=...) or connect first") from None


def _target_app(target: str, **fields: Any) -> tuple[App, str | None]:
    """``web``, ``deployment/web`` or ``deployment/ns/web`` -> the app and the namespace it names (if any)."""
    parts = target.strip().split("/")
    if len(parts) == 3:
        kind, ns, name = parts
    elif len(parts) == 2:
        kind, name = parts
        ns = None
    else:
        kind, ns, name = "deployment", None, parts[0]
    if kind.lower() not in ("deployment", "deploy", "deployments", "deployments.apps"):
        raise RolloutError(f"a rollout updates Deployments; {target!r} names a {kind}")
    return App(name=name, deployment=name, **{k: v for k, v in fields.items() if v is not None}), ns


def rollout(target: str | None = None, image: str | None = None, *, ws: Any = None,
            apps: Iterable[App | Mapping[str, Any]] | None = None,
            tasks: Iterable[Task | Mapping[str, Any]] | None = None, strategy: Any = None,
            container: str | None = None, env: Mapping[str, str] | None = None,
            must_in_order: Iterable[str] | None = None, analysis: AnalysisSpec | Mapping[str, Any] | None = None,
            approved_by: str | None = None, auto_approve: str | None = None, gate: bool = False,
            name: str | None = None, namespace: str | None = None, id: str | None = None, max_parallel: int = 4,
            rollback_on_failure: bool = True, health_check: bool = True, ready_timeout: float | None = None,
            requested_by: str | None = None, ledger: Any = None) -> Rollout:
    """Make a rollout (saved to the audit ledger, status ``pending``); ``.run()`` or ``.start()`` runs it.

    One app: ``rollout("web", "sandbox/web:1.1", strategy=Canary(steps=[25, 50]), approved_by="alice")``.
    Several: ``apps=[App(name="api", image=..., strategy=...), ...]``, ``tasks=[Task(id="build-api",
    type="build", app="api", image=...)]``, ``must_in_order=["api", "web"]``.

    ``approved_by`` approves the rollout now (else it waits at its gate for ``approve(by=)``); ``auto_approve``
    (default ``"medium"``) is the highest plan risk the rollout approves on that person's behalf. Inside a headless
    runbook both default to the run's approval policy, and the id to one derived from the run, so a resumed run
    continues the same rollout. ``id=`` of an existing rollout loads it (the spec must be the same).
    """
    ws = _workbench(ws)
    ns = namespace or ws.namespace
    app_list = [a if isinstance(a, App) else App.model_validate(a) for a in (apps or [])]
    chosen = _strategy(strategy)
    if target is not None:
        app, target_ns = _target_app(target, image=image, container=container, env=dict(env or {}) or None,
                                     strategy=chosen, ready_timeout=ready_timeout)
        ns = namespace or target_ns or ns
        app_list.insert(0, app)
    elif image is not None or chosen is not None or container is not None or env:
        raise RolloutError("image=, strategy=, container= and env= describe the target app: name it "
                           "(rollout('web', 'web:1.1', ...)), or give each App(...) in apps= its own")
    from kubecopilot.runbooks import current

    run = current()
    if run is not None:
        approved_by = approved_by or run.policy.approved_by
        auto_approve = auto_approve or run.policy.approve_up_to
    approval = Approval(approved_by=approved_by, auto_approve=auto_approve or "medium", gate=gate)  # type: ignore[arg-type]
    label = name or "-".join(a.name for a in app_list) or "rollout"
    task_list = [t if isinstance(t, Task) else Task.model_validate(t) for t in (tasks or [])]
    spec = RolloutSpec(name=label, namespace=ns, apps=app_list,
                       tasks=default_tasks(app_list, task_list, health_check=health_check),
                       must_in_order=list(must_in_order or []),
                       analysis=(analysis if isinstance(analysis, AnalysisSpec) else
                                 AnalysisSpec.model_validate(analysis or {})),
                       approval=approval, max_parallel=max_parallel, rollback_on_failure=rollback_on_failure)
    deps = validate(spec)
    if id is None and run is not None:
        id = f"{_slug(label)[:30]}-{hashlib.sha256(run.root_run_id.encode()).hexdigest()[:10]}"
    if id is not None:
        if not _ID.match(id):
            raise RolloutError(f"rollout id {id!r}: use lower-case letters, digits and '-' (at most 63 characters)")
        led = ledger
        if _store.exists(led, id):
            state, _owner = _store.read(led, id)
            # the approval may differ (a runbook resumed under another policy); what is rolled out may not
            if state.spec.model_dump(mode="json", exclude={"approval"}) != spec.model_dump(mode="json",
                                                                                        exclude={"approval"}):
                raise RolloutError(f"rollout {id} exists with a different spec; load it with "
                                   f"kubecopilot.rollouts.load({id!r}) or choose another id")
            return Rollout(state, ws, ledger)
    rid = id or f"{_slug(label)}-{secrets.token_hex(4)}"
    state = RolloutState(id=rid, name=label, spec=spec, created_by=requested_by or current_user(),
                         context=ws.context, server=ws.server,
                         tasks=[TaskState(id=t.id, type=t.type, app=t.app, deps=deps[t.id], gate=t.gate)
                                for t in spec.tasks])
    ro = Rollout(state, ws, ledger)
    _store.save(ro._ledger, state, None)
    _store.event(ro._ledger, state, "rollout.created", state.created_by,
                 {"apps": [a.name for a in app_list], "tasks": [t.id for t in spec.tasks], "approver": approved_by,
                  "autoApprove": approval.auto_approve, "mustInOrder": spec.must_in_order})
    return ro



def _connection_for(state: RolloutState) -> Any:
    from kubecopilot.cluster import connections

    found = [w for w in connections().values() if w.context == state.context and w.server == state.server]
    return found[0] if len(found) == 1 else None


def load(rollout_id: str, ws: Any = None, *, ledger: Any = None) -> Rollout:
    """The rollout with this id (or a unique prefix of it) from the ledger, bound to ``ws`` — or to the open
    connection with the rollout's context, if there is exactly one. Works from any process."""
    state, _owner = _store.read(ledger, rollout_id)
    return Rollout(state, ws if ws is not None else _connection_for(state), ledger)


def resume(rollout_id: str, ws: Any = None, *, ledger: Any = None, wait: bool = True,
           stop_when_waiting: bool | None = None) -> Rollout:
    """Continue a rollout whose process stopped (a kernel restart, a headless run that left it waiting) from its
    saved state, here: ``wait=True`` runs it to its end (see `Rollout.run`), ``wait=False`` in the background.
    Refused while another live process runs it."""
    ro = load(rollout_id, ws, ledger=ledger)
    return ro.run(wait=wait, stop_when_waiting=stop_when_waiting)


def history(*, status: str | None = None, namespace: str | None = None, limit: int = 100, ledger: Any = None) -> Any:
    """Rollouts of every status, newest first (a DataFrame: id, name, status, namespace, apps, created_by,
    approver, reason, created, updated)."""
    return _store.history(status=status, namespace=namespace, limit=limit, ledger=ledger)
