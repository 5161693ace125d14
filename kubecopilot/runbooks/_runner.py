"""Running a runbook headless: check everything cheap first, then papermill, then keep what happened.

Order of a run, and why:

1. find the runbook, parse its parameters, check the given values, the approval policy, ``requires`` and the
   ``python3`` kernelspec — all in this process, so a typo costs milliseconds, leaves no run behind and never
   starts a kernel;
2. create ``<runs dir>/<run id>/``, the kernel's context file, the ledger record (``running``) and
   ``runbook.started``;
3. execute with papermill (``kernel_name="python3"``, our engine: explicit kernel env/cwd, and timeouts and dead
   kernels recorded in the notebook) — the output notebook is saved after every cell;
4. read what the kernel reported (plans submitted, conclusion), write the provenance into the output notebook
   (``metadata.kubecopilot.run``), ``run.json`` and the ledger, with one of ``runbook.finished`` /
   ``runbook.failed`` / ``runbook.waiting_confirm`` and the duration metric;
5. return the `RunbookRun`, or raise `RunbookFailedError` carrying it (``.run``).
"""

from __future__ import annotations

import datetime as dt
import getpass
import importlib.util
import json
import logging
import os
import secrets
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from kubecopilot._version import __version__
from kubecopilot.errors import (
    RunbookError,
    RunbookFailedError,
    RunbookParameterError,
    RunbookWaitingError,
)
from kubecopilot.runbooks._catalog import Runbook, find_runbook
from kubecopilot.runbooks._params import check_values, coerce_text
from kubecopilot.runbooks._policy import (
    ENV_CONTEXT,
    ENV_RUN_ID,
    PLANS_FILE,
    RESULT_FILE,
    ApprovalPolicy,
    RunContext,
)
from kubecopilot.runbooks._provenance import RUN_FILE, Failure, RunbookRun, default_runs_dir, strip_ansi

__all__ = ["KERNEL_NAME", "get_run", "resume", "run", "runs"]

log = logging.getLogger("kubecopilot.runbooks")

KERNEL_NAME = "python3"
KERNEL_LOG = "kernel.log"


class _KnownParameters(logging.Filter):
    """papermill's own parameter inference misses typed declarations (``mode: Literal[...] = "ok"``) and warns
    "Passed unknown parameter" for them; ours checked every name already, so the warning would only mislead."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Passed unknown parameter")


logging.getLogger("papermill").addFilter(_KnownParameters())
_INJECTED_TAG = "injected-parameters"


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def _ledger(ledger: Any) -> Any:
    from kubecopilot.audit import open_ledger

    return ledger if ledger is not None else open_ledger()


def _new_run_id(runbook: str) -> str:
    return f"{runbook}-{dt.datetime.now(dt.UTC):%Y%m%d-%H%M%S}-{secrets.token_hex(3)}"


def _check_kernelspec() -> None:
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        KernelSpecManager().get_kernel_spec(KERNEL_NAME)
    except NoSuchKernel:
        raise RunbookError(
            f"no Jupyter kernel named {KERNEL_NAME!r} is installed for this Python; runbooks always run on it. "
            f"Install it with: python -m ipykernel install --sys-prefix --name {KERNEL_NAME}") from None


def _check_requires(rb: Runbook) -> None:
    from kubecopilot.runbooks._check import ALIASES

    missing = [r for r in rb.requires if importlib.util.find_spec(f"kubecopilot.{ALIASES.get(r, r)}") is None]
    if missing:
        raise RunbookError(
            f"runbook {rb.name!r} requires {', '.join('kubecopilot.' + m for m in missing)}, which this "
            "installation lacks; upgrade kubecopilot (`pip install -U kubecopilot`)")


def _current_context(kubeconfig: str | None) -> str | None:
    """The kubeconfig's current-context *name*, for the provenance of runs that did not name one."""
    try:
        from kubecopilot.cluster import load_kubeconfig

        return load_kubeconfig(kubeconfig).current_context
    except Exception:
        return None


def _kubeconfig_path(kubeconfig: Any) -> str | None:
    if kubeconfig is None:
        return None
    if not isinstance(kubeconfig, str | os.PathLike) or "\n" in os.fspath(kubeconfig):
        raise RunbookParameterError(
            "kubeconfig= takes the *path* of a kubeconfig file (passed to the kernel as $KUBECONFIG), never its "
            "content: runbooks read credentials from the kubeconfig and take a context name")
    path = Path(kubeconfig).expanduser()
    if not path.is_file():
        raise RunbookParameterError(f"kubeconfig file {os.fspath(kubeconfig)!r} does not exist")
    return str(path.absolute())


def _validate(rb: Runbook, parameters: Mapping[str, Any] | None, text_parameters: Mapping[str, str] | None,
              context: str | None) -> dict[str, Any]:
    if rb.problem:
        raise RunbookError(f"runbook {rb.name!r} cannot run: {rb.problem}")
    values = dict(parameters or {})
    coerced, problems = coerce_text(rb.parameters, text_parameters or {})
    values.update(coerced)
    if context is not None:
        if not isinstance(context, str) or not context:
            problems.append("context: give the kubeconfig context by name (a non-empty string)")
        elif rb.parameter("context") is None:
            problems.append(f"context: runbook {rb.name!r} declares no `context` parameter, so it cannot be told "
                            "which cluster to use; drop --context or add `context: str = None  # ...` to it")
        elif values.get("context") not in (None, context):
            problems.append(f"context: given twice, as {context!r} and as parameter {values['context']!r}")
        else:
            values["context"] = context
    return check_values(rb.name, rb.parameters, values, text_problems=problems)


def _kernel_env(ctx_path: Path, run_id: str, ledger_path: Path, kubeconfig: str | None) -> dict[str, str]:
    env = dict(os.environ)
    env[ENV_CONTEXT] = str(ctx_path)
    env[ENV_RUN_ID] = run_id
    env["KUBECOPILOT_DB"] = str(ledger_path)  # the kernel audits into the same ledger as the runner
    if kubeconfig:
        env["KUBECONFIG"] = kubeconfig
    # plotly_mimetype alone renders in JupyterLab but vanishes from HTML exports of the output (ECOSYSTEM §7);
    # `notebook` embeds plotly.js, so exported runs show their plots offline.
    env.setdefault("PLOTLY_RENDERER", "plotly_mimetype+notebook")
    env.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")
    return env


def _read_plans(run_dir: Path) -> dict[str, dict[str, Any]]:
    path = run_dir / PLANS_FILE
    entries: dict[str, dict[str, Any]] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            if line.strip():
                entry = json.loads(line)
                entries[entry["key"]] = entry  # the last word on each step wins
    return entries


def _runbook_cell_index(nb: Any, output_index: int) -> int:
    """The failing cell's index in the runbook as written (without papermill's injected/error cells)."""
    skip = {_INJECTED_TAG, "papermill-error-cell-tag"}
    return sum(1 for c in nb.cells[:output_index] if not skip & set(c.metadata.get("tags") or []))


def _failure(output: Path, exc: BaseException) -> Failure:
    import nbformat
    from papermill.exceptions import PapermillExecutionError
    from papermill.execute import ERROR_ANCHOR_MSG, ERROR_MARKER_TAG, ERROR_MESSAGE_TEMPLATE

    nb = nbformat.read(output, as_version=4) if output.exists() else None
    index = None
    if nb is not None:
        index = next((i for i, c in enumerate(nb.cells)
                      if (c.metadata.get("papermill") or {}).get("status") == "failed"), None)
    if isinstance(exc, PapermillExecutionError):
        cell = nb.cells[index] if nb is not None and index is not None else None
        return Failure(cell_index=_runbook_cell_index(nb, index) if cell is not None else None,
                       output_cell_index=index, execution_count=exc.exec_count, source=exc.source,
                       ename=exc.ename, evalue=exc.evalue, traceback=[strip_ansi(t) for t in exc.traceback or []])
    if nb is None or index is None:  # the kernel never ran a cell (start-up failed)
        return Failure(None, None, None, "", type(exc).__name__, str(exc).strip()[:2000], [])
    cell = nb.cells[index]
    errors = [o for o in cell.get("outputs") or [] if o.get("output_type") == "error"]
    # our engine's own error output names the exception; the kernel's KeyboardInterrupt (a timeout's interrupt)
    # may arrive after it
    error = next((o for o in errors if o.get("ename") == type(exc).__name__), errors[-1] if errors else None)
    failure = Failure(
        cell_index=_runbook_cell_index(nb, index), output_cell_index=index + 2, execution_count=cell.execution_count,
        source=cell.source, ename=error.ename if error else type(exc).__name__,
        evalue=error.evalue if error else str(exc)[:2000],
        traceback=[strip_ansi(t) for t in error.traceback] if error else [])
    # the same red markers papermill adds for an ordinary exception, so every failed output looks alike
    anchor = nbformat.v4.new_markdown_cell(ERROR_ANCHOR_MSG)
    anchor.metadata["tags"] = [ERROR_MARKER_TAG]
    top = nbformat.v4.new_markdown_cell(ERROR_MESSAGE_TEMPLATE % str(cell.execution_count))
    top.metadata["tags"] = [ERROR_MARKER_TAG]
    nb.cells.insert(index, anchor)
    nb.cells.insert(0, top)
    nbformat.write(nb, output)
    return failure


def _write_provenance(output: Path, record: RunbookRun) -> None:
    import nbformat

    if not output.exists():
        return
    nb = nbformat.read(output, as_version=4)
    meta = dict(nb.metadata.get("kubecopilot") or {})
    meta["run"] = record.as_dict()
    nb.metadata["kubecopilot"] = meta
    nbformat.write(nb, output)


def _record(ledger: Any, record: RunbookRun) -> None:
    ledger.put_record("runbook_runs", record.run_id, status=record.status, body=record.as_dict())
    record.save()


def run(
    name: str | os.PathLike[str],
    parameters: Mapping[str, Any] | None = None,
    *,
    context: str | None = None,
    text_parameters: Mapping[str, str] | None = None,
    approve_up_to: str = "none",
    approved_by: str | None = None,
    timeout: float | None = None,
    start_timeout: float = 60,
    runs_dir: str | os.PathLike[str] | None = None,
    kubeconfig: str | os.PathLike[str] | None = None,
    actor: str | None = None,
    ledger: Any = None,
) -> RunbookRun:
    """Run a runbook headless and keep its output notebook with provenance.

    ``parameters`` are typed values; ``text_parameters`` are command-line strings, coerced to the declared types.
    ``context`` names the kubeconfig context (filled into the runbook's ``context`` parameter);
    ``kubeconfig`` is a *path* handed to the kernel as ``$KUBECONFIG``. ``approve_up_to`` (none/low/medium/high)
    with ``approved_by`` pre-records approval for plans the runbook submits up to that risk. ``timeout`` bounds
    each cell in seconds. Returns the `RunbookRun` (status ``succeeded``, or ``waiting_confirm`` with
    ``pending_plans``); raises `RunbookNotFoundError` / `RunbookParameterError` before any kernel starts, and
    `RunbookFailedError` (``.run`` has the failing cell, its source, the error and the output notebook).
    """
    policy = ApprovalPolicy(approve_up_to, approved_by)
    return _run(find_runbook(name), parameters, text_parameters, context=context, policy=policy, timeout=timeout,
                start_timeout=start_timeout, runs_dir=runs_dir, kubeconfig=kubeconfig, actor=actor,
                ledger=ledger)


def _run(rb: Runbook, parameters: Mapping[str, Any] | None, text_parameters: Mapping[str, str] | None, *,
         context: str | None, policy: ApprovalPolicy, timeout: float | None, start_timeout: float,
         runs_dir: Any, kubeconfig: Any, actor: str | None, ledger: Any, resume_of: RunbookRun | None = None,
         notes: list[str] | None = None) -> RunbookRun:
    # -- 1. everything cheap, before any kernel ------------------------------------------------------------------
    checked = _validate(rb, parameters, text_parameters, context)
    kubeconfig_path = _kubeconfig_path(kubeconfig)
    _check_requires(rb)
    _check_kernelspec()
    ledger = _ledger(ledger)
    try:
        actor = actor or getpass.getuser()
    except Exception:
        actor = "unknown"
    effective_context = None
    if rb.parameter("context") is not None:  # a runbook without one does not talk to a cluster by name
        effective_context = checked.get("context") or rb.parameter("context").default  # type: ignore[union-attr]
        effective_context = effective_context or _current_context(kubeconfig_path)

    # -- 2. the run's directory, context and first records ---------------------------------------------------------
    import papermill

    run_id = _new_run_id(rb.name)
    run_dir = Path(runs_dir).expanduser().absolute() if runs_dir else default_runs_dir()
    run_dir = run_dir / run_id
    run_dir.mkdir(parents=True, exist_ok=False)
    output = run_dir / f"{rb.name}.ipynb"
    root = (resume_of.root_run_id or resume_of.run_id) if resume_of else run_id
    prior = {k: e["plan_id"] for k, e in resume_of.plans.items()} if resume_of else {}
    ctx = RunContext(run_id=run_id, root_run_id=root, runbook=rb.name, run_dir=run_dir, policy=policy,
                     resume_of=resume_of.run_id if resume_of else None, prior_plans=prior)
    ctx_path = ctx.write()
    record = RunbookRun(
        run_id=run_id, runbook=rb.name, runbook_path=str(rb.path), runbook_sha256=rb.sha256, status="running",
        parameters=checked, context=effective_context, started=_now(), run_dir=str(run_dir), output=str(output),
        kernel=KERNEL_NAME, kubecopilot_version=__version__, papermill_version=papermill.__version__, actor=actor,
        policy=policy.as_dict(), root_run_id=root, resume_of=ctx.resume_of, notes=list(notes or []))
    _record(ledger, record)
    obj = f"runbook/{rb.name}"
    ledger.append(actor, "runbook.started", object=obj, runbook_run_id=run_id,
                  payload={"parameters": checked, "context": effective_context, "policy": policy.as_dict(),
                           "resume_of": ctx.resume_of, "output": str(output)})
    if resume_of is not None:
        resume_of.status, resume_of.resumed_by = "resumed", run_id
        _record(ledger, resume_of)
        ledger.append(actor, "runbook.resumed", object=obj, runbook_run_id=resume_of.run_id,
                      payload={"resumed_as": run_id, "plans": prior})

    # -- 3. execute --------------------------------------------------------------------------------------------
    from kubecopilot.runbooks._engine import ENGINE_NAME

    started = time.monotonic()
    error: BaseException | None = None
    try:
        papermill.execute_notebook(
            str(rb.path), str(output), parameters=checked, engine_name=ENGINE_NAME, kernel_name=KERNEL_NAME,
            progress_bar=False, log_output=False, start_timeout=int(start_timeout), execution_timeout=timeout,
            kernel_env=_kernel_env(ctx_path, run_id, ledger.path, kubeconfig_path), kernel_cwd=str(run_dir),
            kernel_log=str(run_dir / KERNEL_LOG))
    except BaseException as e:  # every way a run ends is recorded; KeyboardInterrupt is re-raised below
        error = e

    # -- 4. keep what happened -------------------------------------------------------------------------------------
    record.duration_s = round(time.monotonic() - started, 3)
    record.finished = _now()
    record.plans = _read_plans(run_dir)
    record.pending_plans = [e["plan_id"] for e in record.plans.values() if e.get("decision") == "pending"]
    result_path = run_dir / RESULT_FILE
    record.result = json.loads(result_path.read_text()) if result_path.exists() else {}
    if error is not None:
        record.status = "failed"
        record.failure = _failure(output, error)
        action, payload = "runbook.failed", {
            "cell_index": record.failure.cell_index, "ename": record.failure.ename,
            "evalue": record.failure.evalue[:500], "duration_s": record.duration_s}
    elif record.pending_plans:
        record.status = "waiting_confirm"
        action, payload = "runbook.waiting_confirm", {"pending_plans": record.pending_plans,
                                                      "duration_s": record.duration_s}
    else:
        record.status = "succeeded"
        action, payload = "runbook.finished", {"status": "succeeded", "duration_s": record.duration_s,
                                               "result": record.result}
    _write_provenance(output, record)
    _record(ledger, record)
    ledger.append(actor, action, object=obj, runbook_run_id=run_id, payload=payload)
    from kubecopilot.audit import record_runbook_duration

    record_runbook_duration(record.duration_s, runbook=rb.name, status=record.status, ledger=ledger)

    # -- 5. answer -------------------------------------------------------------------------------------------
    if isinstance(error, KeyboardInterrupt):
        raise error
    if error is not None:
        err = RunbookFailedError(
            f"runbook {rb.name!r} failed (run {run_id}) at {record.failure}\n"  # type: ignore[operator]
            f"output notebook: {output}")
        err.run = record  # type: ignore[attr-defined]
        raise err from error
    return record


def get_run(run_id: str, *, ledger: Any = None, runs_dir: str | os.PathLike[str] | None = None) -> RunbookRun:
    """A run's provenance, from the ledger (any process that shares it), else from ``<runs dir>/<id>/run.json``."""
    ledger = _ledger(ledger)
    try:
        rows = ledger.sql("SELECT body FROM runbook_runs WHERE id = ?", [run_id])
    except Exception as e:  # a ledger that cannot be read still leaves the run directory
        log.warning("could not read run %s from the ledger %s: %s", run_id, ledger.path, e)
        rows = None
    if rows is not None and len(rows):
        body = rows.iloc[0]["body"]
        return RunbookRun.from_dict(json.loads(body) if isinstance(body, str) else dict(body))
    base = Path(runs_dir).expanduser() if runs_dir else default_runs_dir()
    path = base / run_id / RUN_FILE
    if path.exists():
        return RunbookRun.from_dict(json.loads(path.read_text()))
    raise RunbookError(f"no runbook run {run_id!r} in the ledger {ledger.path} or under {base}; list runs with "
                       "`kubecopilot runbook runs`")


def runs(runbook: str | None = None, *, status: str | None = None, limit: int = 50, ledger: Any = None) -> Any:
    """Recent runs from the ledger as a DataFrame (newest first): run_id, runbook, status, context, started,
    duration_s, resume_of, output."""
    where, params = [], []
    if runbook:
        where.append("body->>'runbook' = ?")
        params.append(runbook)
    if status:
        where.append("status = ?")
        params.append(status)
    sql = ("SELECT id AS run_id, body->>'runbook' AS runbook, status, body->>'context' AS context, "
           "body->>'started' AS started, TRY_CAST(body->>'duration_s' AS DOUBLE) AS duration_s, "
           "body->>'resume_of' AS resume_of, body->>'output' AS output FROM runbook_runs"
           + (" WHERE " + " AND ".join(where) if where else "")
           + f" ORDER BY created DESC, id DESC LIMIT {int(limit)}")
    return _ledger(ledger).sql(sql, params)


def resume(
    run_id: str,
    *,
    approve_up_to: str | None = None,
    approved_by: str | None = None,
    timeout: float | None = None,
    start_timeout: float = 60,
    runs_dir: str | os.PathLike[str] | None = None,
    kubeconfig: str | os.PathLike[str] | None = None,
    actor: str | None = None,
    ledger: Any = None,
) -> RunbookRun:
    """Continue a run that ended ``waiting_confirm``, once a human has approved (or rejected) its pending plans.

    The runbook is executed again with the same parameters, context and policy (unless ``approve_up_to`` /
    ``approved_by`` override it), as a new run with ``resume_of=run_id``. Each ``submit(plan, key=...)`` finds the
    plan made for that key in the original run: an approved one is executed, a rejected one is not, an executed
    one is not repeated. Raises `RunbookWaitingError` if a plan is still pending.
    """
    original = get_run(run_id, ledger=ledger, runs_dir=runs_dir)
    if original.status != "waiting_confirm":
        later = (f" (already resumed as {original.resumed_by}: `kubecopilot runbook status {original.resumed_by}`)"
                 if original.resumed_by else "")
        raise RunbookError(f"run {run_id} is {original.status}{later}; only a run that is waiting_confirm can be "
                           "resumed")
    from kubecopilot import plans

    still = [pid for pid in original.pending_plans if str(plans.load(pid).status) == "pending"]
    if still:
        raise RunbookWaitingError(
            f"run {run_id} still waits for a human decision on plan(s) {', '.join(still)}: approve or reject them "
            f"in a notebook (kc.plans.pending(); plan.approve(by=...) / plan.reject(by=...)), then resume again")
    path = Path(original.runbook_path)
    rb = find_runbook(path if path.is_file() else original.runbook)
    notes = []
    if rb.sha256 != original.runbook_sha256:
        notes.append(f"the runbook changed since run {run_id} (sha256 {original.runbook_sha256[:12]} -> "
                     f"{rb.sha256[:12]})")
    policy = ApprovalPolicy(approve_up_to if approve_up_to is not None else original.policy.get("approve_up_to",
                                                                                                 "none"),
                            approved_by if approved_by is not None else original.policy.get("approved_by"))
    return _run(rb, original.parameters, None, context=None, policy=policy, timeout=timeout,
                start_timeout=start_timeout, runs_dir=runs_dir or Path(original.run_dir).parent,
                kubeconfig=kubeconfig, actor=actor, ledger=ledger, resume_of=original, notes=notes)
