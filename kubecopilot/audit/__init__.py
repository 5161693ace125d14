"""The audit ledger and metrics store: one DuckDB file, hash-chained, safe for many processes.

>>> from kubecopilot import audit                                   # doctest: +SKIP
>>> audit.append("alice", "plan.approved", object="deployment/payments/billing-api", plan_id="p-1")
>>> print(audit.verify())
audit ledger OK: 1 events, chain intact (head 3f1c...)
>>> audit.sql("SELECT actor, action FROM audit_events ORDER BY seq")

The module-level functions work on the default ledger (``$KUBECOPILOT_DB`` or the user data dir).
See ``_ledger.py`` for the locking and journal design and ``_canonical.py`` for the hash encoding.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from kubecopilot.audit._ledger import AuditEvent, Ledger, VerifyResult, open_ledger
from kubecopilot.audit._metrics import (
    record_api_latency,
    record_llm_failure,
    record_llm_latency,
    record_llm_tokens,
    record_metric,
    record_plan_outcome,
    record_runbook_duration,
)
from kubecopilot.audit._paths import default_db_path

__all__ = [
    "AuditEvent",
    "Ledger",
    "VerifyResult",
    "append",
    "default_db_path",
    "flush",
    "open_ledger",
    "record_api_latency",
    "record_llm_failure",
    "record_llm_latency",
    "record_llm_tokens",
    "record_metric",
    "record_plan_outcome",
    "record_runbook_duration",
    "sql",
    "verify",
]


def append(
    actor: str,
    action: str,
    *,
    object: str | None = None,
    plan_id: str | None = None,
    diagnosis_id: str | None = None,
    runbook_run_id: str | None = None,
    payload: Mapping[str, Any] | None = None,
) -> AuditEvent:
    """Append one event to the default ledger (see :meth:`Ledger.append`)."""
    return open_ledger().append(
        actor, action, object=object, plan_id=plan_id, diagnosis_id=diagnosis_id, runbook_run_id=runbook_run_id,
        payload=payload,
    )  # fmt: skip


def verify() -> VerifyResult:
    """Verify the default ledger's hash chain (see :meth:`Ledger.verify`)."""
    return open_ledger().verify()


def sql(query: str, params: list[Any] | dict[str, Any] | None = None) -> pd.DataFrame:
    """Query the default ledger into a DataFrame (see :meth:`Ledger.sql`)."""
    return open_ledger().sql(query, params)


def flush() -> int:
    """Write the default ledger's journal now (see :meth:`Ledger.flush`)."""
    return open_ledger().flush()
