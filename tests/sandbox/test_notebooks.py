"""The guide notebooks (notebooks/*.ipynb) run top to bottom under nbval against the session's sandbox.

Each notebook runs in its own ``pytest --nbval-lax`` subprocess: the main run must not collect notebooks itself
(``testpaths`` is ``tests`` and nbval is only active with ``--nbval*``), and a kernel per notebook is what a reader
gets too. ``--nbval-lax`` executes every cell and fails on any exception; it compares outputs only for the cells
marked ``# NBVAL_CHECK_OUTPUT``, after ``tests/nbval-sanitize.cfg`` replaced namespaces, ids and timestamps.

The notebooks find the sandbox through ``$KUBECOPILOT_SANDBOX_DIR`` (``kubecopilot.sandbox.kubeconfig_path()``),
and write to a ledger and a runs directory in this test's tmp dir. Each creates a ``guide-*`` namespace and deletes
it at the end; if a notebook fails half way, the test deletes what it left.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from kubecopilot.sandbox._rest import ApiError

pytestmark = [pytest.mark.sandbox, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
SANITIZE = ROOT / "tests" / "nbval-sanitize.cfg"


def _guide_namespaces(client: Any) -> set[str]:
    return {ns["metadata"]["name"] for ns in client.list("/api/v1/namespaces")
            if ns["metadata"]["name"].startswith("guide-") and not ns["metadata"].get("deletionTimestamp")}


def test_the_guides_are_built_from_the_script() -> None:
    """notebooks/*.ipynb are what scripts/build_notebooks.py writes (edit the script, then rebuild)."""
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "build_notebooks.py"), "--check"],
                          capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert [p.stem for p in NOTEBOOKS] == ["00-tour", "01-browsing", "02-diagnosis", "03-plans", "04-runbooks",
                                           "05-postmortem"]


@pytest.mark.timeout(600)
@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_guide_notebook_runs_under_nbval(notebook: Path, sandbox: Any, tmp_path: Path) -> None:
    client = sandbox.client()
    before = _guide_namespaces(client)
    env = {
        **os.environ,
        "KUBECOPILOT_SANDBOX_DIR": str(sandbox.dir),
        "KUBECOPILOT_DB": str(tmp_path / "audit.duckdb"),
        "KUBECOPILOT_RUNS_DIR": str(tmp_path / "runs"),
        "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p),
    }
    env.pop("KUBECONFIG", None)  # the guides use the sandbox's kubeconfig, never whatever this shell points at
    # the stored guides carry no outputs: nbval runs a copy that carries the expected ones of the checked cells
    build = subprocess.run([sys.executable, str(ROOT / "scripts" / "build_notebooks.py"), "--expected",
                            str(tmp_path / "expected")], capture_output=True, text=True, cwd=ROOT)
    assert build.returncode == 0, build.stderr
    checked = tmp_path / "expected" / notebook.name
    cmd = [sys.executable, "-m", "pytest", str(checked), "--nbval-lax", "--nbval-current-env",
           "--nbval-sanitize-with", str(SANITIZE), "--nbval-cell-timeout", "240", "-p", "no:cacheprovider",
           "-o", "addopts=", "-q", "--durations", "3", "--rootdir", str(ROOT)]
    started = time.monotonic()
    try:
        proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=540)
    finally:
        for ns in _guide_namespaces(client) - before:  # left behind by a failed run
            with contextlib.suppress(ApiError):
                client.delete(f"/api/v1/namespaces/{ns}")
    took = time.monotonic() - started
    print(f"{notebook.name}: nbval took {took:.1f} s\n{proc.stdout[-3000:]}")
    assert proc.returncode == 0, (f"nbval failed on {notebook.name} (exit {proc.returncode}):\n"
                                  f"{proc.stdout}\n{proc.stderr}")
    assert " passed" in proc.stdout and " failed" not in proc.stdout
