"""Audit ledger throughput and query speed. A script that prints numbers, not a test.

    .venv/bin/python tests/benchmarks/bench_audit.py [--rows 1000000]

Each line shows the measurement, its target and a reference measured in the same run.
"""

from __future__ import annotations

import argparse
import datetime as dt
import tempfile
import time
from pathlib import Path

import duckdb
import pandas as pd

from kubecopilot.audit import AuditEvent, Ledger


def line(name: str, value: str, target: str, reference: str) -> None:
    print(f"{name:<44} {value:>18}   target {target:<14} reference: {reference}")


def events(n: int, start: dt.datetime, step: dt.timedelta, offset: int = 0) -> list[AuditEvent]:
    return [
        AuditEvent(
            actor=f"user{i % 17}",
            action="plan.approved" if i % 50 == 0 else "read",
            object=f"deployment/ns{i % 23}/app-{i % 101}",
            plan_id=f"p{i // 50}",
            payload={"i": i + offset, "verb": "get", "latency_ms": (i % 97) / 3},
            ts=start + step * (i + offset),
        )
        for i in range(n)
    ]


def plain_insert(path: Path, batch: list[AuditEvent]) -> float:
    """Reference: the same rows into a plain table, no lock, no attach, no hashing."""
    con = duckdb.connect(str(path))
    con.execute(
        "CREATE TABLE IF NOT EXISTS t (id VARCHAR, ts TIMESTAMP, actor VARCHAR, action VARCHAR, object VARCHAR, "
        "plan_id VARCHAR, payload JSON)"
    )
    t0 = time.perf_counter()
    frame = pd.DataFrame(
        [(e.id, e.ts, e.actor, e.action, e.object, e.plan_id, str(e.payload)) for e in batch],
        columns=["id", "ts", "actor", "action", "object", "plan_id", "payload"],
    )
    frame["payload"] = '{"i":1}'
    con.register("f", frame)
    con.execute("INSERT INTO t SELECT * FROM f")
    elapsed = time.perf_counter() - t0
    con.close()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    start = dt.datetime(2026, 11, 1)
    with tempfile.TemporaryDirectory() as tmp:
        tmpdir = Path(tmp)
        led = Ledger(tmpdir / "bench.duckdb")
        led.verify()

        n_single = 300
        t0 = time.perf_counter()
        for i in range(n_single):
            led.append("bench", "read", object=f"pod/ns/p{i}", payload={"i": i})
        single = n_single / (time.perf_counter() - t0)
        con_ref = duckdb.connect(str(tmpdir / "ref-open.duckdb"))
        con_ref.execute("CREATE TABLE t (i INT)")
        con_ref.close()
        t0 = time.perf_counter()
        for i in range(100):
            c = duckdb.connect(str(tmpdir / "ref-open.duckdb"))
            c.execute("INSERT INTO t VALUES (?)", [i])
            c.close()
        ref_single = 100 / (time.perf_counter() - t0)
        line(
            "append, single events (lock+attach+commit)", f"{single:,.0f} ev/s", "(none)",
            f"duckdb.connect+INSERT+close per row {ref_single:,.0f} rows/s",
        )  # fmt: skip

        batches = [events(1000, start, dt.timedelta(seconds=1), offset=b * 1000) for b in range(20)]
        t0 = time.perf_counter()
        for b in batches:
            led.append_many(b)
        batched = 20_000 / (time.perf_counter() - t0)
        ref = sum(plain_insert(tmpdir / "ref.duckdb", b) for b in batches)
        line(
            "append_many, batches of 1,000", f"{batched:,.0f} ev/s", ">= 5,000 ev/s",
            f"plain DataFrame INSERT, no hashing/lock {20_000 / ref:,.0f} rows/s",
        )  # fmt: skip

        # Build a 1M-row ledger (spread over ~11.5 days, one event per second) through the real append path.
        big = Ledger(tmpdir / "big.duckdb")
        t0 = time.perf_counter()
        chunk = 100_000
        for off in range(0, args.rows, chunk):
            big.append_many(events(min(chunk, args.rows - off), start, dt.timedelta(seconds=1), offset=off))
        build = time.perf_counter() - t0
        line(
            f"append_many, {args.rows:,} rows in 100k batches", f"{args.rows / build:,.0f} ev/s", "(none)",
            f"{build:.1f} s in all (Python hashing + insert)",
        )  # fmt: skip

        t0 = time.perf_counter()
        result = big.verify()
        verify_s = time.perf_counter() - t0
        assert result.ok, str(result)
        t0 = time.perf_counter()
        big.sql("SELECT count(*), sum(length(payload::VARCHAR)), count(DISTINCT hash) FROM audit_events")
        scan_s = time.perf_counter() - t0
        line(
            f"verify() over {result.events:,} rows", f"{verify_s:.2f} s", "<= 5 s",
            f"full scan + count(DISTINCT hash) via Ledger.sql {scan_s:.2f} s",
        )  # fmt: skip

        since = start + dt.timedelta(days=5)
        until = since + dt.timedelta(hours=1)
        big.timeline(since, until)  # warm
        t0 = time.perf_counter()
        tl = big.timeline(since, until, namespace="ns3")
        tl_all = big.timeline(since, until)
        timeline_s = (time.perf_counter() - t0) / 2
        big.close()
        con = duckdb.connect(str(tmpdir / "big.duckdb"), read_only=True)
        t0 = time.perf_counter()
        con.execute("SELECT * FROM audit_events WHERE ts >= ? AND ts < ? ORDER BY seq", [since, until]).df()
        raw_s = time.perf_counter() - t0
        con.close()
        line(
            f"timeline(1 hour) over {args.rows:,} rows", f"{timeline_s * 1000:.0f} ms", "<= 500 ms",
            f"raw duckdb query on an open connection {raw_s * 1000:.0f} ms ({len(tl_all)} rows, {len(tl)} in ns3)",
        )  # fmt: skip


if __name__ == "__main__":
    main()
