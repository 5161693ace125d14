"""The whole incident loop on the sandbox, end to end: break a workload, diagnose it, plan the fix from the
finding's intent, approve, execute, then write the postmortem and check its timeline holds every step in order."""

from __future__ import annotations

import pytest

import kubecopilot as kc
from kubecopilot.sandbox._scenarios import check_symptoms, get_scenario, seed
from tests.conftest import wait_for

pytestmark = pytest.mark.sandbox


def test_oomkilled_workload_from_incident_to_postmortem(sandbox, client, namespace, ledger, tmp_path) -> None:
    scenario = get_scenario("oomkilled-memory-limit")
    seed(client, scenario, namespace)
    ws = kc.connect(str(sandbox.kubeconfig_path), context="sandbox-admin", namespace=namespace)
    wait_for(lambda: all(r.ok for r in check_symptoms(client, scenario, namespace)), 120, 2,
             "the thumbnailer to be OOMKilled and restarting")

    # diagnose: the root cause is the memory limit, with a mechanical fix attached
    # right after the first OOM kill the restarted container runs and the rules may not report it yet; from the
    # second restart on they do (see the closing note of issue 4): re-run the diagnosis as an SRE would
    def reported() -> object:
        d = ws.diagnose(f"deployment/{namespace}/thumbnailer")
        return d if d.findings else None

    diagnosis = wait_for(reported, 60, 1, "the diagnosis to report the OOM kill")
    root = diagnosis.findings[0]
    assert root.rule == "pod.oomkilled" and root.caused_by is None, diagnosis
    assert root.intent is not None and root.intent.action == "set_resources", root

    # plan from the finding's intent, approve, execute: the Deployment's limit really changes
    plan = ws.plan.from_intent(root.intent)
    assert plan.status == "pending" and plan.risk.level in ("low", "medium")
    plan.approve(by="bob", reason="raise the limit the diagnosis found too low")
    result = plan.execute(wait=True, timeout=120)
    assert result.ok, result
    live = client.get(f"/apis/apps/v1/namespaces/{namespace}/deployments/thumbnailer")
    limit = live["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["memory"]
    assert limit != "256Mi", limit

    def recovered() -> bool:
        d = client.get(f"/apis/apps/v1/namespaces/{namespace}/deployments/thumbnailer")
        return (d.get("status") or {}).get("availableReplicas") == 1

    wait_for(recovered, 120, 2, "the thumbnailer to be available with its new limit")

    # the postmortem: root cause, the action with its approver, resolved impact, and the steps in order
    pm = kc.postmortem(since="15m", namespace=namespace, workbench=ws, ledger=ledger)
    assert pm.root_cause and "pod.oomkilled" in pm.root_cause
    actions = pm.actions.to_dict("records")
    assert [(a["plan_id"], a["status"], a["approved_by"]) for a in actions] == [(plan.id, "executed", "bob")]
    impact = pm.impact.set_index("object")
    assert impact.loc[f"{namespace}/thumbnailer", "status"] == "resolved", pm.impact
    audit = pm.timeline[pm.timeline["source"] == "audit"]
    steps = list(audit["what"])
    order = [steps.index(a) for a in ("diagnosis.made", "plan.created", "plan.approved", "plan.executed")]
    assert order == sorted(order), steps
    assert list(audit["ts"]) == sorted(audit["ts"])
    first_oom = pm.timeline[(pm.timeline["source"] == "cluster")]["ts"].min()
    assert first_oom <= audit[audit["what"] == "diagnosis.made"]["ts"].min()  # the incident precedes the diagnosis
    assert any("memory" in item.lower() for item in pm.action_items)

    page = pm.write(tmp_path / "postmortem.html").read_text()
    assert "thumbnailer" in page and "bob" in page and "Plotly.newPlot" in page
    assert ledger.sql("SELECT count(*) AS n FROM postmortems").n[0] == 1
    assert ledger.verify().ok
