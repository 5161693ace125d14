"""A rollout's state in the ledger: JSON shape, the rollouts table, ownership, commands and the controls'
preconditions — without a cluster."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from kubecopilot.audit import Ledger
from kubecopilot.rollouts import (
    SCHEMA_VERSION,
    App,
    Approval,
    Canary,
    Rollout,
    RolloutError,
    RolloutSpec,
    RolloutState,
    Task,
    _store,
)
from kubecopilot.rollouts._dag import default_tasks, validate
from kubecopilot.rollouts._model import TaskState, Wait


def state(**approval: object) -> RolloutState:
    apps = [App(name="web", image="web:2", strategy=Canary(steps=[10, 50]))]
    spec = RolloutSpec(name="web", namespace="ns", apps=apps, tasks=default_tasks(apps, []),
                       must_in_order=["web"], approval=Approval(**approval))
    deps = validate(spec)
    return RolloutState(id="web-12345678", name="web", spec=spec, created_by="olga",
                        tasks=[TaskState(id=t.id, type=t.type, app=t.app, deps=deps[t.id]) for t in spec.tasks])


def test_json_is_camel_case_round_trips_and_refuses_a_newer_version() -> None:
    st = state(approved_by="alice")
    data = json.loads(st.to_json())
    assert data["spec"]["mustInOrder"] == ["web"] and data["spec"]["tasks"][1]["blockBy"] == ["deploy-web"]
    assert data["spec"]["apps"][0]["strategy"] == {"kind": "canary", "steps": [
        {"weight": 10, "pause": 0.0, "analysis": True}, {"weight": 50, "pause": 0.0, "analysis": True}]}
    assert RolloutState.from_json(st.to_json()) == st
    with pytest.raises(RolloutError, match=f"reads up to {SCHEMA_VERSION}: upgrade"):
        RolloutState.from_json({**data, "version": SCHEMA_VERSION + 1})
    with pytest.raises(ValueError, match="must increase"):
        Canary(steps=[50, 25])
    with pytest.raises(ValueError, match=r"blokBy|extra"):
        Task.model_validate({"id": "x", "type": "custom", "call": "m:f", "blokBy": ["y"]})


def test_the_gate_and_auto_approval_levels() -> None:
    assert not state().gate_open and state(approved_by="alice").gate_open
    assert not state(approved_by="alice", gate=True).gate_open
    a = Approval(approved_by="alice", auto_approve="medium")
    assert [a.allows(level) for level in ("low", "medium", "high")] == [True, True, False]
    assert not Approval(approved_by="alice", auto_approve="none").allows("low")


def test_rollouts_are_records_with_commands_as_audit_events(tmp_path: Path) -> None:
    led = Ledger(tmp_path / "a.duckdb")
    st = state(approved_by="alice")
    _store.save(led, st, {"pid": 1, "host": "h", "token": "t", "since": 0.0})
    got, owner = _store.read(led, "web-1234")  # a unique prefix
    assert got == st and owner["pid"] == 1
    row = led.sql("SELECT status, body->>'$.apps' AS apps, body->>'$.approver' AS approver FROM rollouts")
    assert row.iloc[0].tolist() == ["pending", '["web"]', "alice"]
    _store.event(led, st, "rollout.command", "bob", {"command": "promote", "task": None})
    _store.event(led, st, "rollout.step", "rollout:x", {"step": 0})
    _store.event(led, st, "rollout.command", "carol", {"command": "abort"})
    cmds = _store.commands(led, st.id, 0)
    assert [(who, c["command"]) for _seq, who, c in cmds] == [("bob", "promote"), ("carol", "abort")]
    assert _store.commands(led, st.id, cmds[0][0]) == cmds[1:]
    assert _store.history(ledger=led)["name"].tolist() == ["web"]
    with pytest.raises(RolloutError, match="no rollout 'nope'"):
        _store.read(led, "nope")
    assert led.verify().ok


def test_a_dead_or_foreign_owner_is_told_from_a_live_one() -> None:
    mine = _store.new_owner()
    assert not _store.owner_alive(mine)  # this process, but no engine holds the token
    _store.register(mine)
    assert _store.owner_alive(mine)
    _store.unregister(mine)
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    dead = {**_store.new_owner(), "pid": proc.pid}
    assert not _store.owner_alive(dead)
    reused = {**_store.new_owner(), "pid": os.getppid(), "since": 0.0}  # that process started after the claim:
    assert not _store.owner_alive(reused)  # the pid was reused, the claimant is gone
    assert _store.owner_alive({"pid": 1, "host": "elsewhere", "since": 0.0})
    assert not _store.owner_alive(None)


def test_controls_check_the_state_and_record_who_gave_them(tmp_path: Path) -> None:
    led = Ledger(tmp_path / "a.duckdb")
    st = state()  # no approver: waits at its gate
    _store.save(led, st, None)
    ro = Rollout(st, ws=None, ledger=led)
    assert repr(ro) == "Rollout(id='web-12345678', name='web', status='pending', tasks=2)"
    with pytest.raises(RolloutError, match="needs a person's name"):
        ro.approve(by=" ")
    with pytest.raises(RolloutError, match="undo reverses a finished rollout"):
        ro.undo(by="bob")
    with pytest.raises(RolloutError, match="retry follows a failure"):
        ro.retry(by="bob")
    ro.approve(by="bob", reason="go")  # the gate: recorded, applied by whoever runs it
    ro.promote(by="bob")
    with pytest.raises(RolloutError, match="not bound to a cluster connection"):
        ro.run()
    cmds = [(who, c["command"], c.get("reason")) for _s, who, c in _store.commands(led, st.id, 0)]
    assert cmds == [("bob", "approve", "go"), ("bob", "promote", "")]

    st.status = "success"
    _store.save(led, st, None)
    with pytest.raises(RolloutError, match="nothing to approve"):
        ro.approve(by="bob")
    with pytest.raises(RolloutError, match="abort stops a rollout in progress"):
        ro.abort(by="bob")
    with pytest.raises(RolloutError, match="only a rollout in progress can be cancelled"):
        ro.cancel(by="bob")
    st.status, st.gate_approved_by = "waiting_confirm", "bob"
    st.tasks[0].waiting = Wait(kind="pause", message="paused")
    _store.save(led, st, None)
    with pytest.raises(RolloutError, match=r"waits for no approval now \(deploy-web: pause\)"):
        ro.approve(by="bob")
    assert ro.tasks["status"].tolist() == ["pending", "pending"]
