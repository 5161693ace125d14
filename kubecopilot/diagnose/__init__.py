"""Diagnosis: evidence, analyzers, findings, ranking — rules first, an LLM when one is configured.

>>> d = ws.diagnose("deployment/payments/billing-api")      # doctest: +SKIP
>>> d.findings[0].rule, d.findings[0].cause                   # doctest: +SKIP
('pod.crashloop', "container api keeps crashing: exit code 1 ...: '... DATABASE_URL is not set'")
>>> ws.triage("payments").frame                               # doctest: +SKIP

`diagnose` gathers evidence around one object (owners, events, logs, node, referenced ConfigMaps / Secrets /
claims / Services, quotas and limit ranges) in parallel within a time budget; `triage` lists every kind of a
namespace or the cluster once. Both run the same analyzers over a `Snapshot` and rank the findings so root
causes come first (``caused_by`` links the rest to them). See ``_rank.py`` for the ranking and the analyzer
modules for the Kubernetes semantics each follows.
"""

from kubecopilot.diagnose._diagnosis import Diagnosis, diagnose
from kubecopilot.diagnose._findings import Evidence, Finding
from kubecopilot.diagnose._logs import explaining_line, preprocess_log
from kubecopilot.diagnose._scheduling import SchedulingCause, SchedulingFailure, parse_scheduling_message
from kubecopilot.diagnose._snapshot import Snapshot
from kubecopilot.diagnose._triage import Triage, triage

__all__ = [
    "Diagnosis",
    "Evidence",
    "Finding",
    "SchedulingCause",
    "SchedulingFailure",
    "Snapshot",
    "Triage",
    "diagnose",
    "explaining_line",
    "parse_scheduling_message",
    "preprocess_log",
    "triage",
]
