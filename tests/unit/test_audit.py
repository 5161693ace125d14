"""The audit ledger against real DuckDB files, with real processes for locking, concurrency and SIGKILL."""

from __future__ import annotations

import datetime as dt
import itertools
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from kubecopilot import audit
from kubecopilot.audit import AuditEvent, Ledger, VerifyResult, _schema
from kubecopilot.audit._canonical import CANONICAL_SQL, canonical, is_secret_key, row_hash
from kubecopilot.errors import AuditCorruptError, AuditLockedError, AuditSchemaError

REPO = Path(__file__).resolve().parents[2]
CHILD_ENV = {**os.environ, "PYTHONPATH": str(REPO)}


def _child(code: str, *args: str, **kwargs) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", code, *args], env=CHILD_ENV, cwd=REPO, **kwargs)


def _raw(path: Path) -> duckdb.DuckDBPyConnection:
    """A tamperer's connection: plain DuckDB, no lock, no ledger code."""
    return duckdb.connect(str(path))


@pytest.fixture
def ledger(tmp_path: Path) -> Ledger:
    led = Ledger(tmp_path / "audit.duckdb", lock_timeout=5)
    yield led
    led.close()


def _fill(led: Ledger, n: int = 10) -> list[AuditEvent]:
    return [
        led.append("alice", "read", object=f"pod/ns{i % 2}/web-{i}", payload={"i": i, "note": 'q"\\\x01é'})
        for i in range(n)
    ]


# --- append / verify --------------------------------------------------------------------------------


def test_append_chains_and_verifies(ledger: Ledger) -> None:
    events = _fill(ledger, 5)
    assert [e.seq for e in events] == [1, 2, 3, 4, 5]
    assert events[0].prev_hash == "0" * 64
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(events))
    result = ledger.verify()
    assert result.ok and bool(result) and result.events == 5
    assert "OK" in str(result) and "5 events" in str(result)
    assert "payload" not in repr(events[0]) and "seq=1" in repr(events[0])
    assert repr(ledger) == f"Ledger({str(ledger.path)!r})"


def test_python_and_sql_canonical_encodings_agree(ledger: Ledger) -> None:
    weird = ['a"b\\c/d', "é漢字😀", "\x00\x01\x1f\x7f", "\u2028", "\n\r\t\b\f", "<>&'"]
    batch = [
        AuditEvent(actor=w, action=w, object=w, plan_id=w, payload={w: w, "f": 1.5e300, "n": -(2**62)}) for w in weird
    ]
    written = ledger.append_many(batch)
    rows = ledger.sql(f"SELECT seq, {CANONICAL_SQL} AS c, hash FROM audit_events ORDER BY seq")
    for event, (_, row) in zip(written, rows.iterrows(), strict=True):
        text = canonical(
            seq=event.seq, id=event.id, ts=event.ts, actor=event.actor, action=event.action, object=event.object,
            plan_id=event.plan_id, diagnosis_id=None, runbook_run_id=None,
            payload_json=ledger.sql("SELECT payload::VARCHAR AS p FROM audit_events WHERE seq = ?", [event.seq]).p[0],
            prev_hash=event.prev_hash,
        )  # fmt: skip
        assert text == row.c
        assert row_hash(text) == row.hash == event.hash
    assert ledger.verify().ok


def test_append_many_is_one_batch_and_accepts_dicts(ledger: Ledger) -> None:
    out = ledger.append_many([{"actor": "a", "action": "x", "payload": {"i": i}} for i in range(20)])
    assert [e.seq for e in out] == list(range(1, 21))
    assert ledger.append_many([]) == []
    assert ledger.verify().events == 20


# --- tamper detection -------------------------------------------------------------------------------


REHASH_EDIT = (
    f"UPDATE audit_events SET actor = 'mallory', hash = sha256(replace({CANONICAL_SQL}, 'alice', 'mallory')) "
    "WHERE seq = 3"
)


def _tamper(path: Path, *statements: str) -> None:
    con = _raw(path)
    for statement in statements:
        con.execute(statement)
    con.close()


@pytest.mark.parametrize(
    ("statements", "broken", "words"),
    [
        (["UPDATE audit_events SET payload = '{\"i\":99}' WHERE seq = 4"], 4, "edited"),
        (["UPDATE audit_events SET actor = 'mallory' WHERE seq = 7"], 7, "edited"),
        # an edit that also recomputes the row's own hash breaks the next link
        ([REHASH_EDIT], 4, "prev_hash"),
        (["DELETE FROM audit_events WHERE seq = 5"], 5, "deleted"),
        (["DELETE FROM audit_events WHERE seq >= 9"], 9, "deleted from the end"),
        (["UPDATE audit_events SET seq = CASE seq WHEN 6 THEN 7 ELSE 6 END WHERE seq IN (6, 7)"], 6, "reordered"),
        (["UPDATE audit_events SET ts = ts + INTERVAL 1 SECOND WHERE seq = 2"], 2, "edited"),
    ],
    ids=["edit-payload", "edit-actor", "edit-and-rehash", "delete-middle", "delete-tail", "reorder", "edit-ts"],
)
def test_verify_reports_first_broken_link(ledger: Ledger, statements: list[str], broken: int, words: str) -> None:
    _fill(ledger, 10)
    ledger.close()
    _tamper(ledger.path, *statements)
    result = ledger.verify()
    assert not result.ok and not bool(result)
    assert result.broken_seq == broken, str(result)
    assert words in str(result), str(result)
    assert f"#{broken}" in str(result) and "BROKEN" in str(result)


# --- migrations -------------------------------------------------------------------------------------


def test_fresh_file_gets_current_schema_and_reopen_is_a_noop(tmp_path: Path) -> None:
    path = tmp_path / "m.duckdb"
    Ledger(path).append("a", "x")
    Ledger(path).append("a", "y")
    con = _raw(path)
    assert con.execute("SELECT list(version ORDER BY version) FROM schema_version").fetchall()[0][0] == list(
        range(1, _schema.known_version() + 1)
    )
    con.close()


def test_forward_migration_applies_on_open(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "m.duckdb"
    Ledger(path).append("a", "x")

    def add_notes(con: duckdb.DuckDBPyConnection) -> None:
        con.execute("CREATE TABLE notes (body VARCHAR)")

    monkeypatch.setattr(_schema, "MIGRATIONS", [*_schema.MIGRATIONS, add_notes])
    led = Ledger(path)
    assert led.sql("SELECT count(*) AS n FROM notes").n[0] == 0
    assert led.sql("SELECT max(version) AS v FROM schema_version").v[0] == _schema.known_version()
    assert led.verify().ok


def test_a_version_1_file_gains_the_postmortems_table_and_keeps_its_chain(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "v1.duckdb"
    with monkeypatch.context() as m:
        m.setattr(_schema, "MIGRATIONS", _schema.MIGRATIONS[:1])
        Ledger(path).append("a", "x")
        Ledger(path).put_record("plans", "p1", status="pending", body={"k": 1})
    led = Ledger(path)
    led.put_record("postmortems", "pm1", status="written", body={"title": "t"})
    assert led.sql("SELECT id FROM postmortems").id.tolist() == ["pm1"]
    assert led.sql("SELECT status FROM plans").status.tolist() == ["pending"]
    assert led.sql("SELECT max(version) AS v FROM schema_version").v[0] == _schema.known_version()
    assert led.verify().ok


def test_newer_schema_is_a_clear_error_and_keeps_the_event(tmp_path: Path) -> None:
    path = tmp_path / "m.duckdb"
    Ledger(path).append("a", "x")
    _tamper(path, "INSERT INTO schema_version VALUES (99, now()::TIMESTAMP)")
    led = Ledger(path)
    with pytest.raises(AuditSchemaError, match=rf"schema version 99.*knows up to {_schema.known_version()}.*Upgrade"):
        led.sql("SELECT 1")
    with pytest.raises(AuditSchemaError):
        led.append("a", "kept")
    assert led.journal.count() == 1


def test_corrupt_file_names_the_file_and_events_survive(tmp_path: Path) -> None:
    path = tmp_path / "bad.duckdb"
    path.write_bytes(b"this is not a duckdb file" * 100)
    led = Ledger(path)
    with pytest.raises(AuditCorruptError, match=r"bad\.duckdb.*Move it aside") as info:
        led.sql("SELECT 1")
    assert str(path) in str(info.value)
    with pytest.raises(AuditCorruptError):
        led.append("alice", "plan.approved")
    path.rename(path.with_name("bad.duckdb.corrupt"))
    assert led.flush() == 1
    assert led.sql("SELECT actor, action FROM audit_events").values.tolist() == [["alice", "plan.approved"]]


# --- processes --------------------------------------------------------------------------------------

WORKER = """
import sys
from kubecopilot.audit import Ledger
path, worker = sys.argv[1], int(sys.argv[2])
led = Ledger(path, lock_timeout=10)
i = 0
for _ in range(50):
    led.append(f"w{worker}", "tick", payload={"worker": worker, "i": i}); i += 1
while i < 500:
    led.append_many([{"actor": f"w{worker}", "action": "tick", "payload": {"worker": worker, "i": i + k}}
                     for k in range(10)]); i += 10
"""


@pytest.mark.slow
def test_eight_processes_append_4000_events_without_loss(tmp_path: Path) -> None:
    path = tmp_path / "c.duckdb"
    Ledger(path).verify()  # create the file first so the workers race on appends, not on migrations
    procs = [_child(WORKER, str(path), str(w)) for w in range(8)]
    for p in procs:
        assert p.wait(timeout=120) == 0
    led = Ledger(path)
    led.flush()
    result = led.verify()
    assert result.ok, str(result)
    assert result.events == 4000 and result.pending_journal == 0
    df = led.sql("SELECT seq, payload->>'$.worker' AS w, (payload->>'$.i')::INT AS i FROM audit_events ORDER BY seq")
    assert df.seq.tolist() == list(range(1, 4001))  # linear chain, no gaps
    for _, group in df.groupby("w"):
        assert group.i.tolist() == list(range(500))  # each process's events in its own order, none twice


CRASHER = """
import os, sys
from kubecopilot.audit import Ledger
led = Ledger(sys.argv[1])
pid = os.getpid()
blob = "x" * 300
n = 0
while True:
    led.append_many([{"actor": "crasher", "action": "bulk", "payload": {"pid": pid, "n": n, "k": k, "blob": blob}}
                     for k in range(3000)])
    n += 1
    print(n, flush=True)
"""


@pytest.mark.slow
def test_sigkill_mid_batch_leaves_only_whole_batches(tmp_path: Path) -> None:
    path = tmp_path / "k.duckdb"
    for delay in (0.05, 0.13):
        proc = _child(CRASHER, str(path), stdout=subprocess.PIPE, text=True)
        assert proc.stdout is not None
        proc.stdout.readline()  # at least one batch committed
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        led = Ledger(path)
        result = led.verify()
        assert result.ok, str(result)
        assert result.events > 0 and result.events % 3000 == 0
        counts = led.sql("SELECT count(*) AS c FROM audit_events GROUP BY payload->>'$.pid', payload->>'$.n'")
        assert set(counts.c) == {3000}
        led.close()
    # and the ledger still takes appends afterwards
    assert Ledger(path).append("after", "crash").seq == result.events + 1


HOLDER = """
import fcntl, sys
fd = open(sys.argv[1], "a+")
fcntl.flock(fd, fcntl.LOCK_EX)
print("locked", flush=True)
sys.stdin.readline()
"""


def test_locked_ledger_journals_appends_and_flushes_them_in_order(tmp_path: Path) -> None:
    path = tmp_path / "j.duckdb"
    led = Ledger(path, lock_timeout=0.3)
    led.append("me", "before")
    holder = _child(HOLDER, str(path) + ".lock", stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None and holder.stdin is not None
    try:
        assert holder.stdout.readline().strip() == "locked"
        pending = [led.append("me", f"while-locked-{i}", payload={"password": "hunter2"}) for i in range(3)]
        assert all(e.pending and e.seq is None for e in pending)
        led.record_metric("api.latency", 0.1, "s", verb="get")
        assert led.journal.count() == 4
        assert "hunter2" not in led.journal.path.read_text()
        with pytest.raises(AuditLockedError, match=rf"j\.duckdb is locked by process {holder.pid}") as info:
            led.sql("SELECT 1")
        assert info.value.holder_pid == holder.pid
        assert led.flush() == 0  # still locked: nothing written, nothing lost
    finally:
        holder.stdin.write("\n")
        holder.stdin.flush()
        holder.wait(timeout=10)
    after = led.append("me", "after")
    assert after.seq == 5 and led.journal.count() == 0
    actions = led.sql("SELECT action FROM audit_events ORDER BY seq").action.tolist()
    assert actions == ["before", "while-locked-0", "while-locked-1", "while-locked-2", "after"]
    assert led.sql("SELECT count(*) AS n FROM metrics").n[0] == 1
    assert led.verify().ok


def test_journal_replay_after_crash_between_commit_and_truncate_writes_nothing_twice(tmp_path: Path) -> None:
    path = tmp_path / "r.duckdb"
    led = Ledger(path)
    led.verify()
    led.journal.append(
        [{"jid": f"j{i}", "kind": "event", **AuditEvent("a", f"e{i}")._journal_fields()} for i in range(3)]
    )
    saved = led.journal.path.read_bytes()
    assert led.flush() == 3
    led.journal.path.write_bytes(saved + b'{"torn line')  # as if the truncate never happened, plus a torn write
    led.append("a", "next")
    assert led.sql("SELECT action FROM audit_events ORDER BY seq").action.tolist() == ["e0", "e1", "e2", "next"]
    assert led.verify().ok


# --- queries, views, export -------------------------------------------------------------------------


def test_sql_views_and_parquet_export(ledger: Ledger, tmp_path: Path) -> None:
    ledger.append("alice", "plan.created", object="deployment/payments/billing-api", plan_id="p1")
    ledger.append("bob", "plan.approved", object="deployment/payments/billing-api", plan_id="p1")
    ledger.append("kc", "plan.executed", object="deployment/payments/billing-api", plan_id="p1")
    ledger.append("carol", "plan.rejected", object="deployment/shop/web", plan_id="p2")
    ledger.append("bob", "plan.approved", object="deployment/shop/web", plan_id="p3")
    ledger.append("alice", "read", object="node/worker-1")
    audit.record_llm_latency(1.5, model="m1", ledger=ledger)
    audit.record_llm_latency(0.5, model="m1", ledger=ledger)
    audit.record_llm_tokens(100, 20, model="m1", ledger=ledger)
    audit.record_llm_failure("schema", model="m1", ledger=ledger)
    audit.record_plan_outcome("p1", "executed", risk="low", seconds=3.0, ledger=ledger)
    audit.record_api_latency(0.02, verb="list", resource="pods", status=200, ledger=ledger)
    audit.record_runbook_duration(12.0, runbook="restart", status="ok", ledger=ledger)
    ledger.put_record("plans", "p1", status="draft", body={"diff": "-a+b"})
    ledger.put_record("plans", "p1", status="executed", body={"diff": "-a+b"})

    now = dt.datetime.now(dt.UTC)
    tl = ledger.timeline(now - dt.timedelta(hours=1), now + dt.timedelta(minutes=1))
    assert len(tl) == 6 and tl.seq.is_monotonic_increasing
    assert ledger.timeline(now - dt.timedelta(hours=1), now, namespace="payments").action.tolist() == [
        "plan.created", "plan.approved", "plan.executed",
    ]  # fmt: skip
    assert ledger.timeline(now - dt.timedelta(hours=2), now - dt.timedelta(hours=1)).empty

    outcomes = ledger.plan_outcomes().set_index("plan_id")
    assert outcomes.loc["p1", "outcome"] == "plan.executed" and outcomes.loc["p1", "approved_by"] == "bob"
    assert outcomes.loc["p2", "outcome"] == "plan.rejected" and outcomes.loc["p1", "events"] == 3

    people = ledger.approvals_by_person().set_index("actor")
    assert people.loc["bob", "approved"] == 2 and people.loc["carol", "rejected"] == 1

    usage = ledger.llm_usage().set_index("model")
    assert usage.loc["m1", "calls"] == 2 and usage.loc["m1", "failures"] == 1
    assert usage.loc["m1", "prompt_tokens"] == 100 and usage.loc["m1", "completion_tokens"] == 20
    assert usage.loc["m1", "latency_p50_s"] == pytest.approx(1.0)

    assert ledger.sql("SELECT status FROM plans WHERE id = 'p1'").status.tolist() == ["executed"]
    assert ledger.sql("SELECT count(*) AS n FROM metrics").n[0] == 8

    files = ledger.export_parquet(tmp_path / "export")
    names = {f.name for f in files}
    assert {"audit_events.parquet", "metrics.parquet", "plans.parquet", "diagnoses.parquet"} <= names
    exported = tmp_path / "export" / "audit_events.parquet"
    assert duckdb.connect().execute(f"SELECT count(*) FROM read_parquet('{exported}')").fetchall() == [(6,)]


# --- redaction --------------------------------------------------------------------------------------


def test_secrets_are_redacted_before_hashing(ledger: Ledger) -> None:
    payload = {
        "token": "t0k3n",
        "db_password": "pw",
        "Authorization": "Bearer abc",
        "nested": {"client-key-data": "LS0t", "accessToken": "x", "list": [{"secret": "s"}, {"apiKey": "k"}]},
        "header": "Bearer xyz",
        "object": {"kind": "Secret", "metadata": {"name": "db"}, "data": {"pw": "aHVudGVy"}},
        "prompt_tokens": 12,
        "secretName": "db-creds",
        "key": "app",
    }
    event = ledger.append("alice", "plan.created", payload=payload)
    stored = ledger.sql("SELECT payload::VARCHAR AS p FROM audit_events").p[0]
    for secret in ("t0k3n", '"pw"', "abc", "LS0t", '"x"', '"s"', '"k"', "xyz", "aHVudGVy"):
        assert secret not in stored
    assert event.payload["token"] == "<redacted>" and event.payload["nested"]["list"][0]["secret"] == "<redacted>"
    assert '"prompt_tokens":12' in stored and '"secretName":"db-creds"' in stored and '"key":"app"' in stored
    assert ledger.verify().ok
    labels = {"model": "m", "api_key": "sk-123"}
    ledger.record_metric("llm.latency", 1.0, "s", **labels)
    assert "sk-123" not in ledger.sql("SELECT labels::VARCHAR AS l FROM metrics").l[0]


@pytest.mark.parametrize(
    ("key", "secret"),
    [("token", True), ("refresh_token", True), ("password", True), ("client-key-data", True), ("X-Api-Key", True),
     ("privateKey", True), ("authorization", True), ("max_tokens", False), ("secretName", False), ("key", False),
     ("tokens", False), ("name", False)],
)  # fmt: skip
def test_secret_key_rule(key: str, secret: bool) -> None:
    assert is_secret_key(key) is secret


# --- paths and the module-level surface -------------------------------------------------------------


def test_default_path_env_and_module_functions(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KUBECOPILOT_DB", raising=False)
    assert audit.default_db_path().name == "audit.duckdb"
    monkeypatch.setenv("KUBECOPILOT_DB", str(tmp_path / "env.duckdb"))
    assert audit.default_db_path() == tmp_path / "env.duckdb"
    assert audit.open_ledger().path == tmp_path / "env.duckdb"
    assert audit.open_ledger(tmp_path / "explicit.duckdb").path == tmp_path / "explicit.duckdb"
    assert audit.open_ledger() is audit.open_ledger()
    audit.append("alice", "read", object="pod/a/b")
    audit.record_metric("custom", 2.0, "x", where="here")
    assert isinstance(audit.verify(), VerifyResult) and audit.verify().events == 1
    assert audit.sql("SELECT name FROM metrics").name.tolist() == ["custom"]
    assert audit.flush() == 0


def test_public_surface_is_sorted_and_complete() -> None:
    assert audit.__all__ == sorted(audit.__all__)
    for name in audit.__all__:
        assert hasattr(audit, name)
