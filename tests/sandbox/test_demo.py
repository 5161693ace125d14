"""``kubecopilot demo`` (what ``make demo`` runs) end to end against the running sandbox, on a few scenarios.

The demo reuses the sandbox in ``--data-dir`` (it never stops it), seeds the chosen scenarios under a prefix of this
test's own, triages exactly those namespaces through the ``triage-namespace`` runbook with a pre-recorded approval,
and writes the postmortem through ``postmortem-report``. Here the approval goes up to medium risk, so the fixes of
both broken scenarios are executed and the cluster really changes; the default (low) is checked on the parser.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import nbformat
import pytest

from kubecopilot.audit import open_ledger
from kubecopilot.cli import build_parser
from kubecopilot.sandbox import _scenarios as scenarios

pytestmark = pytest.mark.sandbox

KUBECOPILOT = str(Path(sys.executable).with_name("kubecopilot"))
SCENARIOS = ("oomkilled-memory-limit", "service-selector-mismatch", "healthy-web-service")


def test_the_demo_defaults_to_a_low_risk_approval_by_a_demo_identity() -> None:
    args = build_parser().parse_args(["demo"])
    assert (args.approve_up_to, args.approved_by, args.scenario, args.namespace_prefix, args.wait) == \
        ("low", "demo-sre", None, "", 150.0)


@pytest.fixture
def prefix(sandbox: Any):
    """A namespace prefix of this test's own; the seeded namespaces are deleted afterwards."""
    value = f"t-demo-{uuid.uuid4().hex[:5]}-"
    yield value
    client = sandbox.client()
    for name in SCENARIOS:
        scenarios.unseed(client, scenarios.get_scenario(name), prefix_ns(value, name))


def prefix_ns(prefix: str, scenario: str) -> str:
    return f"{prefix}{scenario}"


def test_demo_triages_fixes_within_policy_and_writes_the_postmortem(sandbox: Any, client: Any, prefix: str,
                                                                     tmp_path: Path) -> None:
    out = tmp_path / "demo"
    args = [KUBECOPILOT, "demo", "--data-dir", str(sandbox.dir), "--namespace-prefix", prefix, "--out", str(out),
            "--approve-up-to", "medium", "--wait", "120"]
    for name in SCENARIOS:
        args += ["--scenario", name]
    env = {k: v for k, v in os.environ.items() if k not in ("KUBECOPILOT_DB", "KUBECOPILOT_RUNS_DIR", "KUBECONFIG")}
    done = subprocess.run(args, capture_output=True, text=True, timeout=420, env=env)
    assert done.returncode == 0, done.stderr[-4000:]
    assert all(sandbox.running().values()), "the demo must leave the sandbox running"

    namespaces = [prefix_ns(prefix, n) for n in SCENARIOS]
    ledger = open_ledger(out / "audit.duckdb")
    runs = {r.runbook: r for r in ledger.sql(
        "SELECT id, status, body->>'runbook' AS runbook, body FROM runbook_runs").itertuples()}
    assert set(runs) == {"triage-namespace", "postmortem-report"}
    assert runs["triage-namespace"].status == "succeeded" and runs["postmortem-report"].status == "succeeded"
    triage = json.loads(runs["triage-namespace"].body)
    assert triage["parameters"]["namespaces"] == namespaces  # only the demo's namespaces, never the whole cluster
    assert triage["policy"] == {"approve_up_to": "medium", "approved_by": "demo-sre"}
    assert sorted(triage["result"]["root_cause_rules"]) == ["pod.oomkilled", "service.no-endpoints"]

    # the two mechanical fixes were approved in the demo identity's name and executed; the cluster changed
    plans = ledger.sql("SELECT status, body->>'$.action' AS action, body->>'$.target' AS target, "
                       "body->>'$.confirmedBy' AS by FROM plans ORDER BY action")
    oom, selector = namespaces[0], namespaces[1]
    assert plans["action"].tolist() == ["set_resources", "set_selector"]
    assert plans["target"].tolist() == [f"deployment/{oom}/thumbnailer", f"service/{selector}/cart"]
    assert plans["status"].tolist() == ["executed", "executed"]
    assert all(by.startswith(f"demo-sre (pre-recorded for run {runs['triage-namespace'].id})") for by in plans["by"])
    thumbnailer = client.get(f"/apis/apps/v1/namespaces/{oom}/deployments/thumbnailer")
    assert thumbnailer["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["memory"] == "640Mi"
    assert client.get(f"/api/v1/namespaces/{selector}/services/cart")["spec"]["selector"] == {"app": "cart"}

    # the report and the notebooks are where the summary says
    report, markdown = out / "postmortem.html", out / "postmortem.md"
    assert "Plotly.newPlot" in report.read_text() and "set_selector" in markdown.read_text()
    notebooks = sorted(out.glob("runs/*/*.ipynb"))
    assert [p.name for p in notebooks] == ["postmortem-report.ipynb", "triage-namespace.ipynb"]
    assert nbformat.read(notebooks[1], as_version=4).metadata["kubecopilot"]["run"]["status"] == "succeeded"
    text = done.stdout
    assert "KubeCopilot demo" in text and "2 executed under the pre-recorded approval of demo-sre" in text
    for path in (report, markdown, *notebooks, out / "audit.duckdb"):
        assert str(path) in text, f"the summary does not say where {path.name} is"
    assert f"export KUBECONFIG={sandbox.kubeconfig_path}" in text
    assert "seeding 3/3: healthy-web-service" in done.stderr
