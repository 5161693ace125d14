"""Postmortem assembly over a real DuckDB ledger with hand-written event rows (pure logic; the cluster side is
tested in tests/sandbox/test_postmortem_live.py)."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import pytest

from kubecopilot.audit import Ledger
from kubecopilot.postmortems import Postmortem, postmortem, workload_of
from kubecopilot.postmortems._analysis import analyse
from kubecopilot.postmortems._collect import cluster_event_rows, collect
from kubecopilot.postmortems._window import parse_time

T0 = dt.datetime(2026, 11, 23, 10, 0, 0)


def _ts(minutes: float) -> str:
    return (T0 + dt.timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%SZ")


def _event(kind: str, ns: str, name: str, reason: str, first: float, last: float, *, type_: str = "Warning",
           count: int = 1, message: str = "") -> dict:
    return {"involvedObject": {"kind": kind, "namespace": ns, "name": name}, "metadata": {"namespace": ns},
            "type": type_, "reason": reason, "message": message or reason, "count": count,
            "firstTimestamp": _ts(first), "lastTimestamp": _ts(last), "source": {"component": "kubelet"}}


@pytest.mark.parametrize(("obj", "workload"), [
    ("pod/pay/billing-api-7d9f8c6b5-x2x9q", "pay/billing-api"),
    ("pod/pay/db-0", "pay/db"),
    ("pod/pay/nightly-28391-abcde", "pay/nightly-28391"),
    ("replicaset/pay/billing-api-7d9f8c6b5", "pay/billing-api"),
    ("service/pay/billing", "pay/billing"),
    ("node/worker-1", "worker-1"),
])
def test_pods_fold_into_the_workload_their_name_names(obj: str, workload: str) -> None:
    assert workload_of(obj) == workload


def test_time_spans_and_errors() -> None:
    now = T0
    assert parse_time("90m", now=now) == T0 - dt.timedelta(minutes=90)
    assert parse_time(dt.timedelta(hours=2), now=now) == T0 - dt.timedelta(hours=2)
    assert parse_time("2026-11-23T11:00:00+01:00") == T0
    with pytest.raises(ValueError, match=r"'90 minutes ago'.*'2h'"):
        parse_time("90 minutes ago")


def test_events_outside_the_window_are_left_out_and_times_are_utc() -> None:
    items = [_event("Pod", "pay", "a", "BackOff", 1, 5), _event("Pod", "pay", "b", "BackOff", -30, -20)]
    rows = cluster_event_rows(items, T0, T0 + dt.timedelta(hours=1))
    assert [r["object"] for r in rows] == ["pod/pay/a"]
    assert rows[0]["first"] == T0 + dt.timedelta(minutes=1)


def _seed_ledger(led: Ledger) -> None:
    led.put_record("diagnoses", "d1", status="done", body={
        "target": "deployment/pay/billing-api", "findings": [
            {"rule": "pod.crashloop", "severity": "error", "object": "pod/pay/billing-api-7d9f8c6b5-x2x9q",
             "cause": "container api exits 1: cannot connect to database", "caused_by": None,
             "evidence": [{"kind": "log", "source": "api", "quote": "FATAL: cannot connect to db:5432"}]},
            {"rule": "service.no-endpoints", "severity": "warning", "object": "service/pay/billing",
             "cause": "no ready endpoints: follows from pod.crashloop", "caused_by": "pod.crashloop:pod/pay/x",
             "evidence": []},
        ]})
    led.put_record("plans", "p1", status="executed", body={
        "action": "set_env", "resource": {"kind": "Deployment", "namespace": "pay", "name": "billing-api"},
        "risk": {"level": "low"}, "audit": {"requestedBy": "alice", "confirmedBy": "bob", "executedBy": "bob",
                                            "timestamps": {"created": _ts(6), "executed": _ts(8)}}})
    led.put_record("plans", "p2", status="failed", body={
        "action": "scale", "resource": {"kind": "Deployment", "namespace": "other", "name": "x"}, "audit": {}})
    for actor, action in (("alice", "diagnosis.made"), ("alice", "plan.created"), ("bob", "plan.approved"),
                          ("bob", "plan.executed")):
        led.append(actor, action, object="deployment/pay/billing-api",
                   plan_id="p1" if action.startswith("plan") else None,
                   diagnosis_id="d1" if action.startswith("diagnosis") else None,
                   payload={"summary": f"{action} by {actor}"})


def test_report_sections_from_ledger_and_events(tmp_path: Path) -> None:
    led = Ledger(tmp_path / "a.duckdb")
    _seed_ledger(led)
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    since = now - dt.timedelta(hours=1)
    # the crash: warnings from minute 1 to the fix; another workload still failing at the end of the window
    shift = (now - T0) - dt.timedelta(minutes=30)

    def at(m: float) -> float:
        return m + shift.total_seconds() / 60

    events = [_event("Pod", "pay", "billing-api-7d9f8c6b5-x2x9q", "BackOff", at(1), at(7), count=9),
              _event("Pod", "pay", "billing-api-7d9f8c6b5-zzzzz", "BackOff", at(2), at(6), count=4),
              _event("Pod", "pay", "worker-5f5f5f5f5-aaaaa", "Unhealthy", at(20), at(29.5), count=20),
              _event("Pod", "pay", "web-1", "Started", at(3), at(3), type_="Normal")]
    c = collect(since, now, "pay", ledger=led, workbench=None)  # cluster events come from the sandbox tests
    c.cluster_events = cluster_event_rows(events, since, now)
    assert [p["id"] for p in c.plans] == ["p1"]  # the other namespace's plan is not in this report
    a = analyse(c, now=now)
    impact = {r["object"]: r for r in a.impact}
    assert impact["pay/billing-api"]["status"] == "resolved"
    assert impact["pay/billing-api"]["warnings"] == 13 and impact["pay/billing-api"]["objects"] == 2
    assert impact["pay/billing-api"]["minutes"] == pytest.approx(6.0, abs=0.1)
    assert impact["pay/worker"]["status"] == "ongoing"
    assert "pay/web" not in impact  # Normal events are not impact
    assert [r["rule"] for r in a.root_causes] == ["pod.crashloop"]  # the service finding follows from it
    assert a.actions[0]["approved_by"] == "bob" and a.actions[0]["status"] == "executed"
    assert any("still failing" in i and "pay/worker" in i for i in a.action_items)
    assert any(i.startswith("Fix the start-up failure") for i in a.action_items)


def test_postmortem_renders_saves_and_escapes(tmp_path: Path) -> None:
    led = Ledger(tmp_path / "b.duckdb")
    _seed_ledger(led)
    led.append("mallory", "note", object="pod/pay/x", payload={"summary": "<script>alert(1)</script>"})
    pm = postmortem(since="1h", namespace="pay", ledger=led)
    assert isinstance(pm, Postmortem)
    assert "pod.crashloop" in (pm.root_cause or "")
    md = pm.to_markdown()
    assert "## Likely root cause" in md and "## Action items" in md and "bob" in md
    page = pm.to_html()
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;" in page
    assert "Plotly.newPlot" in page and not re.search(r"<script[^>]+src=.https?:", page)  # plotly.js inline
    out = pm.write(tmp_path / "r.html")
    assert out.stat().st_size > 1_000_000  # plotly.js inline: opens offline
    assert pm.write(tmp_path / "r.md").read_text().startswith("# Postmortem")
    with pytest.raises(ValueError, match=r"\.html or \.md"):
        pm.write(tmp_path / "r.pdf")
    stored = led.sql("SELECT id, status, body FROM postmortems")
    assert stored.id.tolist() == [pm.id] and stored.status.tolist() == ["written"]
    assert json.loads(stored.body[0])["summary"] == pm.summary()
    assert led.sql("SELECT count(*) AS n FROM audit_events WHERE action = 'postmortem.written'").n[0] == 1
    assert led.verify().ok
    assert "Postmortem(" in repr(pm) and "<h1>" in pm._repr_html_()


def test_empty_window_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="window is empty"):
        postmortem(since="1h", until="2h", ledger=Ledger(tmp_path / "c.duckdb"))


def test_without_a_connection_the_report_says_so(tmp_path: Path) -> None:
    from kubecopilot.cluster import connections, disconnect

    if connections():
        disconnect("*")
    pm = postmortem(since="1h", ledger=Ledger(tmp_path / "d.duckdb"), save=False)
    assert any("no cluster connection" in n for n in pm.notes)
    assert "no root cause recorded" in pm.summary()


def test_a_diagnosed_root_cause_is_impact_even_before_any_warning(tmp_path: Path) -> None:
    led = Ledger(tmp_path / "e.duckdb")
    _seed_ledger(led)
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    c = collect(now - dt.timedelta(hours=1), now, "pay", ledger=led, workbench=None)
    impact = {r["object"]: r for r in analyse(c, now=now).impact}
    assert impact["pay/billing-api"]["warnings"] == 0 and "pod.crashloop" in impact["pay/billing-api"]["reasons"]
    assert "pay/billing" not in impact  # the Service finding follows from the crash: not impact of its own here
