"""Rollouts in the audit ledger: the state as a row of the ``rollouts`` table, transitions as audit events, and
the commands people give a rollout that another process is running.

The row's ``body`` holds a few columns worth querying (name, status, namespace, apps, who) and the whole state as
JSON *text* under ``rollout`` — text, because the ledger redacts values under credential-looking keys in JSON
bodies and a pod template has harmless ones (``automountServiceAccountToken``); a resumed rollout must read back
exactly what was saved.

**Ownership.** One process runs a rollout at a time. The row names its owner (pid, host, process start time and
a token per engine); `owner_alive` tells a live owner from one that died (pid gone, or the pid reused by a younger
process), so ``resume`` in another process takes over a rollout whose kernel was restarted and refuses one that is
still running. Claiming is serialised by a flock on ``<db>.rollouts.lock``.

**Commands.** ``promote``, ``abort``, ``approve``, ``retry``, ``undo`` and ``cancel`` are appended as
``rollout.command`` audit events (actor = the person). The owner polls them (``commands``) and records the last
sequence number it applied in the state, so a command is applied exactly once, also across a resume, and every
one of them is in the audit trail with the name of who gave it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import os
import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from kubecopilot.rollouts._model import RolloutError, RolloutState

__all__ = ["TABLE", "claim_lock", "commands", "event", "history", "new_owner", "owner_alive", "read", "save"]

TABLE = "rollouts"
HOST = socket.gethostname()
_LIVE_TOKENS: set[str] = set()  # engines running in this process


def _ledger(ledger: Any = None) -> Any:
    if ledger is not None:
        return ledger
    from kubecopilot.audit import open_ledger

    return open_ledger()


def object_of(rollout_id: str) -> str:
    return f"rollout/{rollout_id}"


def _body(state: RolloutState, owner: dict[str, Any] | None) -> dict[str, Any]:
    return {"id": state.id, "name": state.name, "status": state.status, "phase": state.phase,
            "namespace": state.spec.namespace, "apps": [a.name for a in state.spec.apps],
            "tasks": len(state.tasks), "createdBy": state.created_by, "approver": state.approver,
            "context": state.context, "reason": state.reason, "owner": owner, "rollout": state.to_json()}


def save(ledger: Any, state: RolloutState, owner: dict[str, Any] | None) -> None:
    """Write the rollout's row (one ledger transaction)."""
    _ledger(ledger).put_record(TABLE, state.id, status=state.status, body=_body(state, owner))


def event(ledger: Any, state: RolloutState, action: str, actor: str, payload: dict[str, Any] | None = None, *,
          plan_id: str | None = None) -> None:
    _ledger(ledger).append(actor, action, object=object_of(state.id), plan_id=plan_id,
                           payload={"rollout": state.id, "name": state.name, "status": state.status,
                                    **(payload or {})})


def read(ledger: Any, rollout_id: str) -> tuple[RolloutState, dict[str, Any] | None]:
    """(state, owner) of the rollout with this id (or a unique prefix of it)."""
    led = _ledger(ledger)
    rows = led.sql(f"SELECT id, body->>'$.rollout' AS rollout, body->>'$.owner' AS owner FROM {TABLE} "
                   "WHERE id = ? OR starts_with(id, ?) ORDER BY (id = ?) DESC LIMIT 2",
                   [rollout_id, rollout_id, rollout_id])
    if rows.empty:
        raise RolloutError(f"no rollout {rollout_id!r} in the audit ledger {led.path}; list them with "
                           "kubecopilot.rollouts.history()")
    if len(rows) > 1 and rows.iloc[0]["id"] != rollout_id:
        raise RolloutError(f"{rollout_id!r} is the start of several rollout ids ({', '.join(rows['id'])}): give "
                           "more of it")
    owner = rows.iloc[0]["owner"]
    return (RolloutState.from_json(rows.iloc[0]["rollout"]),
            json.loads(owner) if isinstance(owner, str) and owner not in ("", "null") else None)


def exists(ledger: Any, rollout_id: str) -> bool:
    return not _ledger(ledger).sql(f"SELECT id FROM {TABLE} WHERE id = ?", [rollout_id]).empty


def commands(ledger: Any, rollout_id: str, after: int) -> list[tuple[int, str, dict[str, Any]]]:
    """``rollout.command`` events for this rollout after audit sequence number ``after``, oldest first."""
    rows = _ledger(ledger).sql(
        "SELECT seq, actor, payload FROM audit_events WHERE object = ? AND action = 'rollout.command' AND seq > ? "
        "ORDER BY seq", [object_of(rollout_id), int(after)])
    return [(int(r.seq), str(r.actor), json.loads(r.payload) if isinstance(r.payload, str) else dict(r.payload))
            for r in rows.itertuples()]


def new_owner() -> dict[str, Any]:
    token = uuid.uuid4().hex
    return {"pid": os.getpid(), "host": HOST, "token": token, "since": time.time(),
            "at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")}


def register(owner: dict[str, Any]) -> None:
    _LIVE_TOKENS.add(owner["token"])


def unregister(owner: dict[str, Any]) -> None:
    _LIVE_TOKENS.discard(owner["token"])


def owner_alive(owner: dict[str, Any] | None) -> bool:
    """Is the process named by ``owner`` still running that rollout? In this process: is its engine live. On this
    host: does the pid exist and is it not younger than the claim (a reused pid). Elsewhere: assume alive — a
    rollout claimed on another machine is released by that machine."""
    if not owner:
        return False
    if owner.get("host") != HOST:
        return True
    pid = int(owner.get("pid") or 0)
    if pid == os.getpid():
        return owner.get("token") in _LIVE_TOKENS
    try:
        import psutil

        proc = psutil.Process(pid)
        return proc.create_time() <= float(owner.get("since") or 0) + 1.0 and proc.status() != psutil.STATUS_ZOMBIE
    except Exception:  # no such process (or not ours to see): not running it
        return False


@contextlib.contextmanager
def claim_lock(ledger: Any, timeout: float = 30.0) -> Iterator[None]:
    """A flock next to the ledger around "read the owner, write ours" (two processes resuming at once)."""
    path = Path(str(_ledger(ledger).path) + ".rollouts.lock")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise RolloutError(f"could not lock {path} within {timeout:g} s: another process is claiming a "
                                       "rollout; retry") from None
                time.sleep(0.05)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the flock


def history(*, status: str | None = None, namespace: str | None = None, limit: int = 100, ledger: Any = None) -> Any:
    """Rollouts of every status, newest first, as a DataFrame."""
    clauses, params = [], []
    if status:
        clauses.append("status = ?")
        params.append(status)
    if namespace:
        clauses.append("body->>'$.namespace' = ?")
        params.append(namespace)
    where = ("WHERE " + " AND ".join(clauses)) if clauses else ""
    return _ledger(ledger).sql(
        f"SELECT id, body->>'$.name' AS name, status, body->>'$.namespace' AS namespace, "
        f"body->>'$.apps' AS apps, body->>'$.createdBy' AS created_by, body->>'$.approver' AS approver, "
        f"body->>'$.reason' AS reason, created, updated FROM {TABLE} {where} ORDER BY created DESC, id "
        f"LIMIT {int(limit)}", params)
