"""What a run leaves behind: `RunbookRun` (provenance), its `Failure`, and where both are kept.

Every run has a directory ``<runs dir>/<run id>/`` (runs dir: ``$KUBECOPILOT_RUNS_DIR`` or
``<user data dir>/runs``) holding the output notebook (``<runbook>.ipynb``, provenance in its metadata under
``kubecopilot.run``), ``run.json`` (the same provenance), and the files the kernel reported through. The ledger
has the same provenance as a ``runbook_runs`` record plus ``runbook.*`` audit events, so ``runs()`` and
``status()`` work from any process that shares the ledger. Parameters never hold credentials (refused up
front); the context is recorded by name.
"""

from __future__ import annotations

import dataclasses
import html
import json
import os
import re
from pathlib import Path
from typing import Any

import platformdirs

__all__ = ["STATUSES", "Failure", "RunbookRun", "default_runs_dir"]

ENV_RUNS_DIR = "KUBECOPILOT_RUNS_DIR"
RUN_FILE = "run.json"
STATUSES = ("running", "succeeded", "failed", "waiting_confirm", "resumed")
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def default_runs_dir() -> Path:
    """``$KUBECOPILOT_RUNS_DIR``, else ``<user data dir>/runs``."""
    env = os.environ.get(ENV_RUNS_DIR)
    if env:
        return Path(env).expanduser().absolute()
    return Path(platformdirs.user_data_dir("kubecopilot")) / "runs"


def strip_ansi(text: str) -> str:
    return _ANSI.sub("", text)


@dataclasses.dataclass
class Failure:
    """Where and how a run failed. ``cell_index`` counts the runbook's own cells (as its author sees them);
    ``output_cell_index`` the output notebook's (which has papermill's injected-parameters and error cells)."""

    cell_index: int | None
    output_cell_index: int | None
    execution_count: int | None
    source: str
    ename: str
    evalue: str
    traceback: list[str] = dataclasses.field(default_factory=list)

    def headline(self) -> str:
        where = f"cell {self.cell_index}" if self.cell_index is not None else "an unknown cell"
        if self.execution_count is not None:
            where += f" (In [{self.execution_count}])"
        return f"{where} raised {self.ename}" + (f": {self.evalue}" if self.evalue else "")

    def __str__(self) -> str:
        source = "\n".join("    " + line for line in self.source.splitlines()) or "    (empty)"
        tb = "\n".join(strip_ansi(t) for t in self.traceback[-12:])
        return f"{self.headline()}\n  cell source:\n{source}" + (f"\n  traceback:\n{tb}" if tb else "")

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass
class RunbookRun:
    """One run of a runbook: parameters, timings, kernel, status, versions, run id, context — what a postmortem
    needs to know how a headless run went, and what `resume` needs to re-execute it."""

    run_id: str
    runbook: str
    runbook_path: str
    runbook_sha256: str
    status: str
    parameters: dict[str, Any]
    context: str | None
    started: str
    run_dir: str
    output: str
    kernel: str = "python3"
    kubecopilot_version: str = ""
    papermill_version: str = ""
    actor: str = ""
    policy: dict[str, Any] = dataclasses.field(default_factory=dict)
    root_run_id: str = ""
    resume_of: str | None = None
    resumed_by: str | None = None
    finished: str | None = None
    duration_s: float | None = None
    failure: Failure | None = None
    plans: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)  # key -> last recorded entry
    pending_plans: list[str] = dataclasses.field(default_factory=list)
    result: dict[str, Any] = dataclasses.field(default_factory=dict)
    notes: list[str] = dataclasses.field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.status == "succeeded"

    @property
    def output_path(self) -> Path:
        return Path(self.output)

    def notebook(self) -> Any:
        """The output notebook (nbformat ``NotebookNode``)."""
        import nbformat

        return nbformat.read(self.output, as_version=4)

    # -- (de)serialising -----------------------------------------------------------------------------------------
    def as_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["failure"] = self.failure.as_dict() if self.failure else None
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunbookRun:
        known = {f.name for f in dataclasses.fields(cls)}
        data = {k: v for k, v in data.items() if k in known}
        if data.get("failure"):
            data["failure"] = Failure(**data["failure"])
        return cls(**data)

    def save(self) -> Path:
        """Write ``run.json`` into the run directory."""
        path = Path(self.run_dir) / RUN_FILE
        path.write_text(json.dumps(self.as_dict(), indent=1, default=str))
        return path

    # -- displays ------------------------------------------------------------------------------------------------
    def __repr__(self) -> str:
        return f"RunbookRun({self.run_id!r}, runbook={self.runbook!r}, status={self.status!r})"

    def _summary_lines(self) -> list[tuple[str, str]]:
        rows = [("run", self.run_id), ("runbook", f"{self.runbook} ({self.runbook_path})"), ("status", self.status),
                ("context", self.context or "(kubeconfig's current context)"),
                ("parameters", ", ".join(f"{k}={v!r}" for k, v in self.parameters.items()) or "(defaults)"),
                ("started", self.started)]
        if self.duration_s is not None:
            rows.append(("duration", f"{self.duration_s:.1f} s"))
        if self.resume_of:
            rows.append(("resume of", self.resume_of))
        if self.resumed_by:
            rows.append(("resumed by", self.resumed_by))
        if self.policy.get("approve_up_to", "none") != "none":
            rows.append(("approval", f"pre-recorded up to {self.policy['approve_up_to']} risk by "
                                     f"{self.policy.get('approved_by')}"))
        for key, entry in self.plans.items():
            rows.append((f"plan {key}", f"{entry.get('plan_id')} ({entry.get('risk')} risk): {entry.get('decision')}"))
        if self.pending_plans:
            rows.append(("waiting for", ", ".join(self.pending_plans)))
        for k, v in self.result.items():
            rows.append((f"result {k}", ", ".join(map(str, v)) if isinstance(v, list) else str(v)))
        rows.append(("output", self.output))
        rows.extend(("note", n) for n in self.notes)
        return rows

    def __str__(self) -> str:
        rows = self._summary_lines()
        width = max(len(k) for k, _ in rows)
        text = "\n".join(f"{k:<{width}}  {v}" for k, v in rows)
        if self.failure:
            text += f"\nfailed at {self.failure}"
        if self.status == "waiting_confirm":
            text += (f"\nnext: approve or reject the plans in a notebook (kc.plans.pending()), then "
                     f"`kubecopilot runbook resume {self.run_id}`")
        return text

    def _repr_html_(self) -> str:
        e = html.escape
        colour = {"succeeded": "#1a7f37", "failed": "#cf222e", "waiting_confirm": "#9a6700"}.get(self.status, "#57606a")
        rows = "".join(f"<tr><th style='text-align:left'>{e(k)}</th><td>{e(v)}</td></tr>"
                       for k, v in self._summary_lines() if k != "status")
        failure = ""
        if self.failure:
            failure = (f"<p><b>{e(self.failure.headline())}</b></p><pre>{e(self.failure.source)}</pre>"
                       f"<pre>{e(chr(10).join(strip_ansi(t) for t in self.failure.traceback[-12:]))}</pre>")
        return (f"<div><b>Runbook run <code>{e(self.run_id)}</code></b> "
                f"<span style='color:{colour};font-weight:bold'>{e(self.status)}</span><table>{rows}</table>"
                f"{failure}</div>")
