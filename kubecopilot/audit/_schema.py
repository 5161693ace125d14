"""Schema versions and forward migrations.

``MIGRATIONS[i]`` moves a ledger from version ``i`` to ``i + 1``. Each runs with its version row in
one transaction, so a crash leaves the file at the old or the new version, never in between.
Never edit a released migration; append a new one.
"""

from __future__ import annotations

from collections.abc import Callable

import duckdb

Migration = Callable[[duckdb.DuckDBPyConnection], None]


def _v1_initial(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(
        """
        CREATE TABLE audit_events (
            seq BIGINT NOT NULL,          -- position in the chain, 1..n, assigned under the lock
            id VARCHAR NOT NULL,          -- uuid given at append time (also for journaled events)
            ts TIMESTAMP NOT NULL,        -- UTC
            actor VARCHAR NOT NULL,
            action VARCHAR NOT NULL,
            object VARCHAR,               -- "deployment/payments/billing-api"
            plan_id VARCHAR,
            diagnosis_id VARCHAR,
            runbook_run_id VARCHAR,
            payload JSON NOT NULL,        -- canonical JSON text, hashed verbatim
            prev_hash VARCHAR NOT NULL,
            hash VARCHAR NOT NULL
        )
        """
    )
    # The chain head lets verify() notice rows deleted from the end, which a chain alone cannot.
    con.execute("CREATE TABLE chain_head (seq BIGINT NOT NULL, hash VARCHAR NOT NULL)")
    con.execute("INSERT INTO chain_head VALUES (0, '" + "0" * 64 + "')")
    con.execute("CREATE TABLE journal_state (last_jid VARCHAR)")
    con.execute("INSERT INTO journal_state VALUES (NULL)")
    for table in ("plans", "diagnoses", "runbook_runs"):
        con.execute(
            f"""
            CREATE TABLE {table} (
                id VARCHAR PRIMARY KEY,
                created TIMESTAMP NOT NULL,
                updated TIMESTAMP NOT NULL,
                status VARCHAR,
                body JSON NOT NULL
            )
            """
        )
    con.execute(
        """
        CREATE TABLE metrics (
            ts TIMESTAMP NOT NULL,
            name VARCHAR NOT NULL,
            value DOUBLE,
            unit VARCHAR NOT NULL,
            labels JSON NOT NULL
        )
        """
    )


def _v2_postmortems(con: duckdb.DuckDBPyConnection) -> None:
    """Postmortem reports are records like plans and diagnoses (the rendered Markdown lives in the body)."""
    con.execute(
        """
        CREATE TABLE postmortems (
            id VARCHAR PRIMARY KEY,
            created TIMESTAMP NOT NULL,
            updated TIMESTAMP NOT NULL,
            status VARCHAR,
            body JSON NOT NULL
        )
        """
    )


def _v3_rollouts(con: duckdb.DuckDBPyConnection) -> None:
    """Rollouts are records too: the whole rollout (DAG, task states, steps, analyses, plan ids) in the body."""
    con.execute(
        """
        CREATE TABLE rollouts (
            id VARCHAR PRIMARY KEY,
            created TIMESTAMP NOT NULL,
            updated TIMESTAMP NOT NULL,
            status VARCHAR,
            body JSON NOT NULL
        )
        """
    )


MIGRATIONS: list[Migration] = [_v1_initial, _v2_postmortems, _v3_rollouts]
RECORD_TABLES = ("diagnoses", "plans", "postmortems", "rollouts", "runbook_runs")


def known_version() -> int:
    return len(MIGRATIONS)


def current_version(con: duckdb.DuckDBPyConnection, alias: str) -> int:
    """0 for a fresh file; otherwise the highest applied migration. Runs on every attach, so it is one query."""
    try:
        rows = con.execute(f"SELECT coalesce(max(version), 0) FROM {alias}.schema_version").fetchall()
    except duckdb.CatalogException:
        return 0
    return int(rows[0][0]) if rows else 0


def migrate(con: duckdb.DuckDBPyConnection, alias: str, migrations: list[Migration] | None = None) -> int:
    """Apply the pending migrations in order, each in its own transaction. Returns the new version.

    The caller has checked that the file is not newer than the code.
    """
    migrations = MIGRATIONS if migrations is None else migrations
    version = current_version(con, alias)
    if version == 0:
        con.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL, applied TIMESTAMP NOT NULL)")
    for number, migration in enumerate(migrations[version:], start=version + 1):
        con.execute("BEGIN")
        try:
            migration(con)
            con.execute("INSERT INTO schema_version VALUES (?, now()::TIMESTAMP)", [number])
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
    return max(version, len(migrations))
