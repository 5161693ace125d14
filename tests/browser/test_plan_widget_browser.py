"""A person's path through a plan, in a real browser: JupyterLab shows the plan widget, a click approves it, a click
executes it — and the Deployment in the sandbox changed, and the audit ledger holds the approval."""

from __future__ import annotations

import json
import re
from pathlib import Path

import nbformat
import pytest

from kubecopilot.audit import Ledger
from tests.conftest import wait_for

pytestmark = [pytest.mark.browser, pytest.mark.sandbox]


def _notebook(path: Path, kubeconfig: str, namespace: str, db: Path) -> None:
    setup = (f"import os\nos.environ['KUBECOPILOT_DB'] = {str(db)!r}\nos.environ['KUBECOPILOT_USER'] = 'nobody'\n"
             "import kubecopilot as kc\n"
             f"ws = kc.connect({kubeconfig!r}, context='sandbox-admin', namespace={namespace!r})\n"
             "plan = ws.plan.scale('deploy/web', 3, requested_by='requester')\n"
             "plan")
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(setup)])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)


def _run_first_cell(page) -> None:
    """Ctrl+Enter in the first cell; again if the kernel was not quite connected yet (the prompt stays ``[ ]``)."""
    prompt = page.locator(".jp-Cell .jp-InputPrompt").first
    for _ in range(3):
        page.locator(".jp-Cell .cm-content").first.click()
        page.keyboard.press("Control+Enter")
        try:
            page.wait_for_function("p => !/\\[\\s*\\]/.test(p.textContent)", arg=prompt.element_handle(),
                                   timeout=15_000)
            return
        except Exception:
            continue
    raise AssertionError(f"the cell never started running: prompt {prompt.text_content()!r}")


def test_approve_and_execute_from_jupyterlab(lab, browser, sandbox, client, namespace, tmp_path):
    client.create({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
                   "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
                            "template": {"metadata": {"labels": {"app": "web"}},
                                         "spec": {"containers": [{"name": "app", "image": "nginx:1.25"}]}}}},
                  namespace)
    db = tmp_path / "audit.duckdb"
    name = f"plan-{namespace}.ipynb"
    _notebook(lab.root / name, str(sandbox.kubeconfig_path), namespace, db)

    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    try:
        page.goto(lab.notebook_url(name))
        page.wait_for_selector(".jp-Notebook", timeout=60_000)
        page.get_by_text("Python 3 (ipykernel) | Idle").wait_for(timeout=60_000)
        _run_first_cell(page)
        widget = page.locator(".kc-plan-widget")
        widget.wait_for(timeout=90_000)
        assert "Scale deployment/" in widget.inner_text()
        approve = widget.get_by_role("button", name="Approve")
        execute = widget.get_by_role("button", name="Execute")
        assert approve.is_enabled() and execute.is_disabled()
        approver = widget.locator("input[type='text']").first
        assert approver.input_value() == "nobody"  # prefilled from $KUBECOPILOT_USER
        approver.fill("browser-approver")
        approve.click()
        widget.get_by_text("approved by browser-approver", exact=True).wait_for(timeout=30_000)
        assert approve.is_disabled()
        execute.wait_for(state="visible")
        page.wait_for_function("() => !document.querySelector('.kc-plan-widget button.mod-warning').disabled",
                               timeout=10_000)
        execute.click()
        widget.get_by_text(re.compile(r"^executed: executed")).wait_for(timeout=60_000)
        assert execute.is_disabled()
        page.screenshot(path=str(tmp_path / "plan-widget.png"), full_page=True)
    except Exception:
        page.screenshot(path=str(tmp_path / "failure.png"), full_page=True)
        raise
    finally:
        page.close()

    deploy = client.get(f"/apis/apps/v1/namespaces/{namespace}/deployments/web")
    assert deploy["spec"]["replicas"] == 3
    with Ledger(db) as ledger:
        wait_for(lambda: len(ledger.sql("SELECT 1 FROM audit_events WHERE action = 'plan.executed'")) == 1, 10,
                 what="the execution in the audit")
        rows = ledger.sql("SELECT actor, action, payload FROM audit_events ORDER BY seq").to_dict("records")
    actions = [(r["actor"], r["action"]) for r in rows]
    assert ("browser-approver", "plan.approved") in actions
    assert actions[0] == ("requester", "plan.created") and actions[-1] == ("browser-approver", "plan.executed")
    assert json.loads(rows[-1]["payload"])["steps"][0]["status"] == "applied"
