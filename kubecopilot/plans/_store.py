"""Plans in the audit ledger: every transition as an audit event, the plan itself as a row of the ``plans`` table.

The row's ``body`` holds a few columns worth querying in SQL (action, target, risk, who) and the whole plan as JSON
*text* under ``plan``. Text, because the ledger redacts values under credential-looking keys in JSON bodies, and a
Kubernetes object has many harmless ones (``automountServiceAccountToken``, a volume's ``secret``); a plan loaded
in another process must be byte-for-byte the plan that was approved. Plans never hold credentials: Secret values
are digests in snapshots (see `_diff.clean`) and a Secret is never patched.

Idempotency across processes: executing takes a second flock (``<db>.plans.lock``) around "look for an execution
of this idempotency key, else record ours as ``executing``". Whoever records first applies; anyone else waits for
that execution's outcome and returns it. A claim left by a process that died (same host, pid gone) is taken over —
safe, because execution re-reads every target and refuses on drift.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kubecopilot.errors import PlanError

if TYPE_CHECKING:
    import pandas as pd

    from kubecopilot.audit import Ledger
    from kubecopilot.plans._model import OperationPlan

__all__ = ["PlanTable", "history", "ledger_of", "load", "pending", "record"]

TABLE = "plans"
HOST = socket.gethostname()
_TERMINAL = ("executed", "failed", "reverted")


def ledger_of(plan: OperationPlan | None = None) -> Ledger:
    """The plan's ledger (given to its builder), else the default one (``$KUBECOPILOT_DB``...)."""
    if plan is not None and plan._ledger is not None:
        return plan._ledger
    from kubecopilot.audit import open_ledger

    return open_ledger()


def _body(plan: OperationPlan, claim: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "id": plan.id, "action": plan.action, "target": plan.target, "namespace": plan.resource.namespace,
        "kind": plan.resource.kind, "status": plan.status, "risk": plan.risk.level, "score": plan.risk.score,
        "requestedBy": plan.audit.requested_by, "confirmedBy": plan.audit.confirmed_by,
        "idempotencyKey": plan.audit.idempotency_key, "summary": plan.summary, "context": plan.cluster.context,
        "claim": claim, "plan": plan.to_json(),
    }  # fmt: skip


def record(plan: OperationPlan, action: str | None, actor: str, payload: dict[str, Any] | None = None, *,
           status: str | None = None, claim: dict[str, Any] | None = None,
           outcome: tuple[str, float | None] | None = None) -> None:
    """Write the plan's row (status column = ``status`` or the plan's), the audit event ``action`` (if any) and
    the ``plan.outcome`` metric (``outcome=(name, seconds)``) — in one ledger transaction.

    One transaction rather than ``append`` + ``put_record`` + ``record_metric``: each ledger write takes the flock
    and attaches the file (~5 ms), and a transition is one fact, so it should land whole or not at all.
    """
    from kubecopilot.audit._canonical import payload_json, sanitize
    from kubecopilot.audit._ledger import AuditEvent, _Metric, _Record, utcnow
    from kubecopilot.audit._metrics import PLAN_OUTCOME

    ledger = ledger_of(plan)
    items: list[Any] = []
    if action:
        items.append(AuditEvent(actor=actor, action=action, object=plan.target, plan_id=plan.id,
                                payload=sanitize(payload or {})))
    now = utcnow()
    items.append(_Record(TABLE, plan.id, status or plan.status, payload_json(_body(plan, claim)), now))
    if outcome is not None:
        name, seconds = outcome
        items.append(_Metric(now, PLAN_OUTCOME, seconds, "s",
                             payload_json({"plan_id": plan.id, "outcome": name, "risk": plan.risk.level})))
    ledger._write(items)


# -- reading -----------------------------------------------------------------------------------------------------------
def load(plan_id: str, ws: Any = None, *, ledger: Ledger | None = None) -> OperationPlan:
    """The plan with this id (or a unique prefix of it) from the ledger, bound to ``ws`` — or, when ``ws`` is not
    given, to the open connection (`kc.connections()`) with the plan's context, if there is exactly one."""
    from kubecopilot.plans._model import OperationPlan

    led = ledger or ledger_of()
    rows = led.sql(f"SELECT id, body->>'$.plan' AS plan FROM {TABLE} WHERE id = ? OR starts_with(id, ?) "
                   "ORDER BY (id = ?) DESC LIMIT 2", [plan_id, plan_id, plan_id])
    if rows.empty:
        raise PlanError(f"no plan {plan_id!r} in the audit ledger {led.path}; list them with "
                        "kubecopilot.plans.pending() or kubecopilot.plans.history()")
    if len(rows) > 1 and rows.iloc[0]["id"] != plan_id:
        raise PlanError(f"{plan_id!r} is the start of several plan ids ({', '.join(rows['id'])}, ...): give more of it")
    plan = OperationPlan.from_json(rows.iloc[0]["plan"])
    if ledger is not None:
        plan._ledger = ledger
    plan.bind(ws if ws is not None else _connection_for(plan))
    return plan


def _connection_for(plan: OperationPlan) -> Any:
    from kubecopilot.cluster import connections

    found = [w for w in connections().values() if w.context == plan.cluster.context and w.server == plan.cluster.server]
    return found[0] if len(found) == 1 else None


_COLUMNS = ("id", "status", "action", "target", "risk", "score", "requested_by", "approved_by", "created", "updated",
            "summary")


def _query(where: str, params: list[Any], limit: int | None, ledger: Ledger | None) -> pd.DataFrame:
    led = ledger or ledger_of()
    sql = f"""
        SELECT id, status, body->>'$.action' AS action, body->>'$.target' AS target, body->>'$.risk' AS risk,
               TRY_CAST(body->>'$.score' AS DOUBLE) AS score, body->>'$.requestedBy' AS requested_by,
               body->>'$.confirmedBy' AS approved_by, created, updated, body->>'$.summary' AS summary
        FROM {TABLE} {where} ORDER BY created DESC, id {f'LIMIT {int(limit)}' if limit else ''}"""
    return led.sql(sql, params)


def pending(*, namespace: str | None = None, ledger: Ledger | None = None) -> PlanTable:
    """Plans waiting for a decision (status ``pending``), newest first — from the ledger, so a plan made in a
    runbook or another notebook shows up here too."""
    where, params = "WHERE status = 'pending'", []
    if namespace:
        where += " AND body->>'$.namespace' = ?"
        params.append(namespace)
    return PlanTable(_query(where, params, None, ledger), "pending plans", ledger)


def history(*, since: dt.datetime | str | None = None, until: dt.datetime | str | None = None,
            status: str | None = None, target: str | None = None, namespace: str | None = None,
            limit: int = 200, ledger: Ledger | None = None) -> PlanTable:
    """Plans of every status, newest first; filter by creation time (UTC), status, target or namespace."""
    from kubecopilot.audit._ledger import to_utc

    clauses, params = [], []
    if since is not None:
        clauses.append("created >= ?")
        params.append(to_utc(since))
    if until is not None:
        clauses.append("created < ?")
        params.append(to_utc(until))
    if status:
        clauses.append("status = ?")
        params.append(status)
    if target:
        clauses.append("body->>'$.target' = ?")
        params.append(target)
    if namespace:
        clauses.append("body->>'$.namespace' = ?")
        params.append(namespace)
    where = ("WHERE " + " AND ".join(clauses)) if clauses else ""
    return PlanTable(_query(where, params, limit, ledger), "plan history", ledger)


class PlanTable:
    """Plans as a table: ``.frame`` (a DataFrame), ``.load(i_or_id, ws=)`` for one of them as an `OperationPlan`."""

    def __init__(self, frame: pd.DataFrame, title: str, ledger: Ledger | None = None) -> None:
        self.frame = frame
        self.title = title
        self._ledger = ledger

    def __len__(self) -> int:
        return len(self.frame)

    def __iter__(self) -> Iterator[str]:
        return iter(self.frame["id"].tolist())

    @property
    def ids(self) -> list[str]:
        return self.frame["id"].tolist()

    def load(self, which: int | str, ws: Any = None) -> OperationPlan:
        """Row ``which`` (an index) or plan id as an `OperationPlan`, bound to ``ws``."""
        plan_id = self.frame.iloc[which]["id"] if isinstance(which, int) else which
        return load(plan_id, ws, ledger=self._ledger)

    def _rows(self) -> list[tuple[str, ...]]:
        return [(r.id[:8], r.status, r.risk or "", r.action or "", r.target or "", r.requested_by or "",
                 r.approved_by or "", f"{r.created:%Y-%m-%d %H:%M:%S}", r.summary or "")
                for r in self.frame.itertuples()]

    _HEAD = ("ID", "STATUS", "RISK", "ACTION", "TARGET", "REQUESTED BY", "APPROVED BY", "CREATED (UTC)", "SUMMARY")

    def __repr__(self) -> str:
        return f"PlanTable({self.title!r}, {len(self)} plans)"

    def __str__(self) -> str:
        if not len(self):
            return f"{self.title}: none"
        rows = [self._HEAD, *self._rows()]
        widths = [max(len(r[i]) for r in rows) for i in range(len(self._HEAD) - 1)]
        lines = ["  ".join(c.ljust(w) for c, w in zip(r[:-1], widths, strict=True)) + "  " + r[-1] for r in rows]
        return f"{self.title} ({len(self)}):\n" + "\n".join(lines)

    def _repr_html_(self) -> str:
        from kubecopilot.display._plan_view import plan_table_html

        return plan_table_html(self.title, self._HEAD, self._rows())


# -- idempotent execution across processes ----------------------------------------------------------------------------
def _claims_lock_path(ledger: Ledger) -> Path:
    return Path(str(ledger.path) + ".plans.lock")


@contextmanager
def claims_lock(ledger: Ledger, timeout: float = 30.0) -> Iterator[None]:
    from kubecopilot.audit import _lock

    try:
        with _lock.hold(_claims_lock_path(ledger), exclusive=True, timeout=timeout):
            yield
    except _lock.LockTimeout as e:
        raise PlanError(f"could not get the plan-execution lock {e.path} within {timeout:g} s (held by pid "
                        f"{e.holder_pid}); retry, or find that process") from None


Row = tuple[str, str, dict[str, Any] | None, str]  # plan id, status, claim, plan JSON


def _row(r: Any) -> Row:
    claim = json.loads(r["claim"]) if isinstance(r["claim"], str) and r["claim"] not in ("", "null") else None
    return r["id"], r["status"], claim, r["plan"]


def find_execution(ledger: Ledger, key: str) -> Row | None:
    """The latest execution (claim or outcome) of idempotency ``key``."""
    return claim_state(ledger, None, key)[1]


def claim_state(ledger: Ledger, plan_id: str | None, key: str) -> tuple[Row | None, Row | None]:
    """In one read: the plan's own row (its status as the ledger knows it, e.g. rejected in another notebook) and
    the latest execution (claim or outcome) of idempotency ``key``."""
    rows = ledger.sql(
        f"SELECT id, status, body->>'$.claim' AS claim, body->>'$.plan' AS plan, updated FROM {TABLE} "
        "WHERE id = ? OR (body->>'$.idempotencyKey' = ? AND status IN ('executing', 'executed', 'failed', "
        "'reverted')) ORDER BY updated DESC", [plan_id or "", key])
    own = execution = None
    for _, r in rows.iterrows():
        if r["id"] == plan_id and own is None:
            own = _row(r)
        if execution is None and r["status"] in ("executing", *_TERMINAL):
            execution = _row(r)
    return own, execution


def claim_is_stale(claim: dict[str, Any] | None) -> bool:
    """A claim by a process on this host that no longer runs (it died mid-execution)."""
    if not claim or claim.get("host") != HOST:
        return False
    pid = int(claim.get("pid") or 0)
    if pid <= 0:
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def new_claim(by: str) -> dict[str, Any]:
    return {"pid": os.getpid(), "host": HOST, "by": by, "at": dt.datetime.now(dt.UTC).isoformat()}


def wait_for_outcome(ledger: Ledger, key: str, timeout: float) -> tuple[str, str, dict[str, Any] | None, str] | None:
    """Poll until the execution of ``key`` ends (or its claimant dies); the last row seen."""
    deadline = time.monotonic() + timeout
    row = find_execution(ledger, key)
    while row is not None and row[1] == "executing" and not claim_is_stale(row[2]) and time.monotonic() < deadline:
        time.sleep(0.2)
        row = find_execution(ledger, key)
    return row
