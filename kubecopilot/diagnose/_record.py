"""Recording diagnoses and triages in the audit ledger: a ``diagnoses`` record (target, findings, timings) and a
``diagnosis.made`` event (counts and rule ids only). A ledger that cannot be written costs a warning, never the
diagnosis itself."""

from __future__ import annotations

import getpass
import logging
from collections import Counter
from typing import Any

from kubecopilot.diagnose._findings import SEVERITIES, Finding

__all__ = ["ACTION", "record"]

log = logging.getLogger("kubecopilot.diagnose")

ACTION = "diagnosis.made"


def _actor(user: str | None) -> str:
    if user:
        return user
    try:
        return getpass.getuser()
    except Exception:  # no login name in some containers
        return "unknown"


def record(*, kind: str, id: str, target: str, findings: list[Finding], timings: dict[str, Any], context: str,
           user: str | None, errors: list[str], llm_status: str | None = None,
           explanation: dict[str, Any] | None = None) -> bool:
    """Write the record and the event; True if both were written (or journaled by the ledger)."""
    try:
        from kubecopilot.audit import open_ledger

        ledger = open_ledger()
        body = {
            "kind": kind,
            "target": target,
            "context": context,
            "findings": [f.to_dict() for f in findings],
            "timings": {k: (round(v, 1) if isinstance(v, float) else v) for k, v in timings.items()},
            "errors": errors[:50],
        }
        if llm_status is not None:
            body["llm_status"] = llm_status
        if explanation is not None:
            body["explanation"] = explanation
        ledger.put_record("diagnoses", id, status="done", body=body)
        counts = Counter(f.severity for f in findings)
        payload = {
            "kind": kind,
            "findings": len(findings),
            "counts": {s: counts[s] for s in SEVERITIES if counts[s]},
            "rules": sorted({f.rule for f in findings}),
            "root_causes": [f.key for f in findings if not f.caused_by][:20],
        }
        ledger.append(_actor(user), ACTION, object=target, diagnosis_id=id, payload=payload)
        return True
    except Exception as e:  # the ledger is a record of the work, not a precondition for it
        log.warning("could not record %s %s in the audit ledger: %s", kind, id, e)
        return False
