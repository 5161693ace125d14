"""Postmortem reports from the audit ledger and the cluster's events.

>>> pm = kc.postmortem(since="2h", namespace="payments")          # doctest: +SKIP
>>> pm.root_cause, pm.impact, pm.actions, pm.action_items          # doctest: +SKIP
>>> pm.write("payments-incident.html")                             # self-contained, opens offline

Sections: a timeline merging cluster events and the audit trail; impact (objects affected and how long each was
unavailable, from their Warning events); the likely root cause (from the diagnoses recorded in the window); actions
taken (plans with their outcomes and approvers); action items; and the explanation chain (which rules, prompts and
models contributed). Every report is stored in the ledger (``postmortems`` table, ``postmortem.written`` event).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from kubecopilot.postmortems._analysis import analyse, workload_of
from kubecopilot.postmortems._collect import collect
from kubecopilot.postmortems._report import Postmortem
from kubecopilot.postmortems._window import parse_time, utcnow

__all__ = ["Postmortem", "postmortem", "workload_of"]


def postmortem(since: Any = "2h", until: Any = None, namespace: str | None = None, *, workbench: Any = None,
               ledger: Any = None, title: str | None = None, save: bool = True,
               ongoing_grace: dt.timedelta = dt.timedelta(minutes=2)) -> Postmortem:
    """Assemble a `Postmortem` for ``[since, until)`` (default: the last two hours) and ``namespace`` (default all).

    ``workbench`` supplies cluster events (default: the current connection, if any); ``ledger`` the audit (default
    ledger). ``save=False`` skips storing the report in the ledger.
    """
    from kubecopilot.audit import open_ledger

    now = utcnow()
    start = parse_time(since, now=now, name="since")
    end = parse_time(until, now=now, name="until") if until is not None else now
    if end <= start:
        raise ValueError(f"the window is empty: since ({start:%Y-%m-%d %H:%M:%S}) is not before until "
                         f"({end:%Y-%m-%d %H:%M:%S}); pass an earlier since= or a later until=")
    if workbench is None:
        from kubecopilot.cluster import current
        from kubecopilot.errors import ConnectionNotFoundError

        try:
            workbench = current()
        except ConnectionNotFoundError:  # no connection is fine: the ledger alone still makes a report
            workbench = None
    led = ledger or open_ledger()
    collected = collect(start, end, namespace, ledger=led, workbench=workbench)
    report = Postmortem.from_analysis(analyse(collected, now=now, ongoing_grace=ongoing_grace), collected,
                                      title=title, context=getattr(workbench, "context", None))
    if save:
        report.save(led)
    return report
