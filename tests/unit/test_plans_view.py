"""Rendering (text, escaped HTML, YAML diff) and the headless widget: buttons call the plan's methods."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import ipywidgets
import pytest

from kubecopilot.audit import Ledger
from kubecopilot.display import PlanWidget, plan_html, plan_text
from kubecopilot.errors import PlanStateError
from kubecopilot.plans import load, pending
from tests.unit.test_plans_model import make_plan

EVIL = '<img src=x onerror="alert(1)">'


@pytest.fixture
def ledger(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Ledger]:
    led = Ledger(tmp_path / "audit.duckdb", lock_timeout=5)
    monkeypatch.setenv("KUBECOPILOT_DB", str(led.path))
    yield led
    led.close()


@pytest.fixture(autouse=True)
def _close_widgets() -> Iterator[None]:
    yield
    ipywidgets.Widget.close_all()


def test_html_escapes_every_cluster_string_and_collapses_the_diff() -> None:
    plan = make_plan(annotations={"note": EVIL}, summary=f"Scale {EVIL}")
    plan.ai_rationale = EVIL
    out = plan_html(plan)
    assert EVIL not in out and "<img" not in out  # difflib leaves quotes in text nodes: harmless without a tag
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in out
    assert out.count("<details") == 1 and "<details open" not in out
    # the three layers: summary sentence, table of changes, side-by-side YAML diff
    assert "Scale &lt;img" in out
    assert ">replace<" in out and "/spec/replicas" in out
    assert 'class="diff"' in out and "live (snapshot)" in out and "proposed (server dry run)" in out
    assert "risk low" in out and ">pending<" in out


def test_diff_css_is_scoped_and_anchor_ids_are_unique_per_render() -> None:
    a = make_plan()
    b = make_plan(plan_id="9a9a9a9a-1111-4222-8333-944445555666")
    page = plan_html(a) + plan_html(a) + plan_html(b)
    assert "difflib_chg_to" not in page
    ids = re.findall(r'id="([^"]+)"', page)
    assert ids and len(ids) == len(set(ids))
    assert all(i.startswith("kc-plan-") for i in ids)  # no difflib "from0_1" / "difflib_chg_to0__0" ids left
    hrefs = re.findall(r'href="#([^"]+)"', page)
    assert hrefs and set(hrefs) <= set(ids)
    rules = re.findall(r"^(\.[^ {]+) ", "\n".join(re.findall(r"<style>(.*?)</style>", page, re.S)), re.M)
    assert rules and all(r.startswith(".kc-plan-") for r in rules)
    assert ".kc-plan-0f8e4c1a1111" in page and ".kc-plan-9a9a9a9a1111" in page


def test_text_form_and_mimebundle_outside_a_kernel() -> None:
    plan = make_plan(summary="Scale deployment/shop/web up from 2 to 3 replica(s).")
    text = plan_text(plan)
    assert text.splitlines()[0] == "OperationPlan 0f8e4c1a  [PENDING]  risk LOW (0.10)"
    assert "replace /spec/replicas: 2 -> 3" in text and "next: plan.approve(by=" in text
    assert str(plan) == text
    bundle = plan._repr_mimebundle_()
    assert set(bundle) == {"text/plain", "text/html"}  # no kernel here: no widget view, HTML fallback
    assert bundle["text/plain"] == text


def test_widget_approve_button_calls_plan_approve_and_updates_itself(ledger: Ledger,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KUBECOPILOT_USER", "carol")
    plan = make_plan()
    widget = plan.widget()
    assert isinstance(widget, PlanWidget)
    assert widget.approver.value == "carol"
    assert not widget.approve_button.disabled and not widget.reject_button.disabled
    assert widget.execute_button.disabled
    widget.reason.value = "capacity for the sale"
    widget.approve_button.click()
    assert plan.status == "confirmed" and plan.audit.confirmed_by == "carol"
    assert plan.audit.confirm_reason == "capacity for the sale"
    assert "approved by carol" in widget.message.value
    assert widget.approve_button.disabled and not widget.execute_button.disabled
    assert ">confirmed<" in widget.view.value
    rows = ledger.sql("SELECT actor, action, plan_id, payload->>'$.reason' AS reason FROM audit_events")
    assert rows.to_dict("records") == [{"actor": "carol", "action": "plan.approved", "plan_id": plan.id,
                                        "reason": "capacity for the sale"}]
    # not bound to a cluster: Execute reports why instead of raising into the void
    widget.execute_button.click()
    assert "PlanStateError" in widget.message.value and "not bound to a cluster connection" in widget.message.value
    assert plan.status == "confirmed" and not widget.execute_button.disabled


def test_widget_reject_and_policy_errors_are_shown(ledger: Ledger) -> None:
    plan = make_plan(level="high", requested_by="dave")
    widget = PlanWidget(plan)
    widget.approver.value = "dave"
    widget.approve_button.click()
    assert plan.status == "pending"
    assert "PlanApprovalError" in widget.message.value and "four eyes" in widget.message.value
    widget.approver.value = ""
    widget.reject_button.click()
    assert "needs a person&#x27;s name" in widget.message.value and plan.status == "pending"
    widget.approver.value = "erin"
    widget.reason.value = f"not now {EVIL}"
    widget.reject_button.click()
    assert plan.status == "rejected" and plan.audit.rejected_by == "erin"
    assert all(b.disabled for b in (widget.approve_button, widget.reject_button, widget.execute_button))
    assert EVIL not in widget.view.value and EVIL not in widget.message.value
    with pytest.raises(PlanStateError, match=r"rejected .*erin.*can never be executed"):
        plan.execute()
    actions = ledger.sql("SELECT action FROM audit_events ORDER BY seq")["action"].tolist()
    assert actions == ["plan.approval_refused", "plan.rejected"]


def test_a_decision_taken_elsewhere_is_seen(ledger: Ledger) -> None:
    """Two views of one plan (two notebooks): a rejection in one stops an approval in the other."""
    mine = make_plan()
    from kubecopilot.plans import _store

    _store.record(mine, "plan.created", "alice")
    assert pending().ids == [mine.id]
    theirs = load(mine.id[:8])
    assert theirs == mine and theirs is not mine
    theirs.reject(by="bob", reason="duplicate")
    assert len(pending()) == 0
    with pytest.raises(PlanStateError, match=r"is rejected .*bob: duplicate"):
        mine.approve(by="alice")
    assert mine.status == "rejected"
    assert "plan history" not in repr(pending()) and str(pending()) == "pending plans: none"


def test_a_plan_rejected_elsewhere_after_approval_is_not_executed(ledger: Ledger) -> None:
    from kubecopilot.plans import _store

    mine = make_plan()
    _store.record(mine, "plan.created", "alice")
    theirs = load(mine.id)
    mine.approve(by="bob")
    theirs.reject(by="carol", reason="wrong cluster")  # sees the approval first, then rejects it
    assert theirs.audit.confirmed_by == "bob" and theirs.status == "rejected"
    mine.bind(object())  # never used: the ledger check comes before any request
    with pytest.raises(PlanStateError, match=r"rejected \(rejected by carol: wrong cluster\)"):
        mine.execute()
    assert mine.status == "rejected"
    actions = ledger.sql("SELECT action FROM audit_events ORDER BY seq")["action"].tolist()
    assert actions == ["plan.created", "plan.approved", "plan.rejected"]  # no plan.executing


def test_pending_table_renders_escaped_with_badges(ledger: Ledger) -> None:
    from kubecopilot.plans import _store

    plan = make_plan(summary=f"Scale {EVIL}")
    _store.record(plan, "plan.created", "alice")
    table = pending()
    assert len(table) == 1 and list(table) == [plan.id]
    html = table._repr_html_()
    assert EVIL not in html and "risk low" in html and ">pending<" in html
    assert "0f8e4c1a" in str(table) and table.frame.loc[0, "requested_by"] == "alice"
    assert table.load(0).id == plan.id
