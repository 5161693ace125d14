"""``kubecopilot runbook list | describe | run | resume | status | runs | check``.

Exit codes say how a run ended, for schedulers and CI: 0 succeeded, 1 failed (the failing cell, its source and
the error are printed), 2 bad parameters / unknown runbook (nothing ran), 3 waiting_confirm (plans wait for a
human; ``resume`` continues).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

from kubecopilot.errors import RunbookFailedError, RunbookParameterError, RunbookWaitingError

__all__ = ["EXIT_BAD_INPUT", "EXIT_FAILED", "EXIT_OK", "EXIT_WAITING", "add_parser"]

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_WAITING = 0, 1, 2, 3
_DESCRIPTION = """Run papermill runbooks headless; output notebooks are kept with provenance and audited.

exit codes of run/resume: 0 succeeded, 1 failed (the failing cell is printed), 2 bad parameters or unknown
runbook (nothing ran), 3 waiting_confirm (approve the plans in a notebook, then `runbook resume RUN_ID`)."""


def _quiet_papermill() -> None:
    # nbclient logs "Kernel died..." / "Timeout waiting..." through papermill's logger; we print the failing cell.
    logging.getLogger("papermill").setLevel(logging.CRITICAL)


def _load_file(path: Path) -> dict[str, Any]:
    import yaml

    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as e:
        raise RunbookParameterError(f"cannot read parameters file {path}: {e}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise RunbookParameterError(f"parameters file {path} must hold a mapping (name: value), not "
                                    f"{type(data).__name__}")
    return data


def _finish(run: Any, as_json: bool) -> int:
    print(json.dumps(run.as_dict(), indent=1, default=str) if as_json else run)
    return EXIT_WAITING if run.status == "waiting_confirm" else EXIT_OK


def _failed(err: RunbookFailedError, as_json: bool) -> int:
    run = getattr(err, "run", None)
    if as_json and run is not None:
        print(json.dumps(run.as_dict(), indent=1, default=str))
    print(f"error: {err}", file=sys.stderr)  # names the run, the failing cell, its source, the error, the output
    return EXIT_FAILED


def cmd_list(args: argparse.Namespace) -> int:
    from kubecopilot import runbooks

    found = runbooks.list()
    if args.json:
        print(json.dumps([{"name": r.name, "title": r.title, "risk": r.risk, "path": str(r.path),
                           "parameters": [p.as_dict() for p in r.parameters], "problem": r.problem}
                          for r in found], indent=1, default=str))
    else:
        print(found)
    return EXIT_OK


def cmd_describe(args: argparse.Namespace) -> int:
    from kubecopilot import runbooks

    print(runbooks.describe(args.name))
    return EXIT_OK


def cmd_run(args: argparse.Namespace) -> int:
    from kubecopilot import runbooks

    _quiet_papermill()
    typed = _load_file(args.file) if args.file else {}
    text = {k: v for k, v in (args.param or [])}
    for k in text:
        typed.pop(k, None)  # -p beats -f
    try:
        run = runbooks.run(args.name, typed, text_parameters=text, context=args.context,
                           approve_up_to=args.approve_up_to or "none", approved_by=args.approved_by,
                           timeout=args.timeout, runs_dir=args.runs_dir, kubeconfig=args.kubeconfig)
    except RunbookFailedError as e:
        return _failed(e, args.json)
    return _finish(run, args.json)


def cmd_resume(args: argparse.Namespace) -> int:
    from kubecopilot import runbooks

    _quiet_papermill()
    try:
        run = runbooks.resume(args.run_id, approve_up_to=args.approve_up_to, approved_by=args.approved_by,
                              timeout=args.timeout, runs_dir=args.runs_dir, kubeconfig=args.kubeconfig)
    except RunbookFailedError as e:
        return _failed(e, args.json)
    except RunbookWaitingError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_WAITING
    return _finish(run, args.json)


def cmd_status(args: argparse.Namespace) -> int:
    from kubecopilot.runbooks._runner import get_run

    run = get_run(args.run_id, runs_dir=args.runs_dir)
    print(json.dumps(run.as_dict(), indent=1, default=str) if args.json else run)
    return EXIT_OK


def cmd_runs(args: argparse.Namespace) -> int:
    from kubecopilot import runbooks

    frame = runbooks.runs(args.runbook, status=args.status, limit=args.limit)
    if not len(frame):
        print("no runbook runs recorded in the ledger yet")
        return EXIT_OK
    print(frame.drop(columns=["output"]).to_string(index=False))
    return EXIT_OK


def cmd_check(args: argparse.Namespace) -> int:
    from kubecopilot import runbooks

    report = runbooks.check(args.paths or None)
    print(report)
    return EXIT_OK if report else EXIT_FAILED


def add_parser(sub: Any) -> None:
    """Add ``runbook ...`` to the top-level sub-parsers."""
    rb = sub.add_parser("runbook", help="run papermill runbooks headless, with provenance and approvals",
                        description=_DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    rsub = rb.add_subparsers(dest="action", required=True)

    p = rsub.add_parser("list", help="the runbooks found (runbooks/, $KUBECOPILOT_RUNBOOKS_PATH)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_list)

    p = rsub.add_parser("describe", help="a runbook's title, risk, parameters and steps")
    p.add_argument("name", help="runbook name or path to an .ipynb")
    p.set_defaults(func=cmd_describe)

    def execution(p: argparse.ArgumentParser) -> None:
        p.add_argument("--approve-up-to", choices=["none", "low", "medium", "high"], default=None,
                       help="pre-record approval for plans up to this risk (default: none, every plan waits)")
        p.add_argument("--approved-by", metavar="NAME", help="whose pre-recorded approval it is")
        p.add_argument("--timeout", type=float, metavar="SECONDS", help="per-cell execution timeout")
        p.add_argument("--kubeconfig", metavar="PATH", help="kubeconfig file for the kernel (a path, never content)")
        p.add_argument("--runs-dir", type=Path, metavar="DIR",
                       help="where output notebooks go (default: $KUBECOPILOT_RUNS_DIR or the user data dir)")
        p.add_argument("--json", action="store_true", help="print the run's provenance as JSON")

    p = rsub.add_parser("run", help="run a runbook (exit 0 ok, 1 failed, 2 bad parameters, 3 waiting_confirm)")
    p.add_argument("name", help="runbook name or path to an .ipynb")
    p.add_argument("-p", "--param", nargs=2, action="append", metavar=("KEY", "VALUE"),
                   help="a parameter, coerced to its declared type (repeatable; lists/dicts as YAML)")
    p.add_argument("-f", "--file", type=Path, metavar="PARAMS.yaml", help="parameters from a YAML mapping")
    p.add_argument("--context", metavar="NAME", help="kubeconfig context, by name")
    execution(p)
    p.set_defaults(func=cmd_run)

    p = rsub.add_parser("resume", help="continue a waiting_confirm run once its plans are approved or rejected")
    p.add_argument("run_id")
    execution(p)
    p.set_defaults(func=cmd_resume)

    p = rsub.add_parser("status", help="one run's status and provenance")
    p.add_argument("run_id")
    p.add_argument("--runs-dir", type=Path, metavar="DIR")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_status)

    p = rsub.add_parser("runs", help="recent runs from the audit ledger")
    p.add_argument("--runbook", metavar="NAME")
    p.add_argument("--status", choices=["running", "succeeded", "failed", "waiting_confirm", "resumed"])
    p.add_argument("-n", "--limit", type=int, default=20)
    p.set_defaults(func=cmd_runs)

    p = rsub.add_parser("check", help="check runbooks keep the required structure (default: every runbook)")
    p.add_argument("paths", nargs="*", metavar="PATH", help="runbook files or directories")
    p.set_defaults(func=cmd_check)
