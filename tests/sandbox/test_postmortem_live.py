"""Postmortems over real cluster events from the sandbox (the full incident flow is in test_incident_flow.py)."""

from __future__ import annotations

import pytest

import kubecopilot as kc
from kubecopilot.postmortems import postmortem
from tests.conftest import wait_for

pytestmark = pytest.mark.sandbox


def deployment(name: str, image: str, replicas: int = 2) -> dict:
    labels = {"app": name}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "labels": labels},
            "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels},
                                  "spec": {"terminationGracePeriodSeconds": 1,
                                           "containers": [{"name": "app", "image": image}]}}}}


def test_crashing_workload_is_impact_until_it_recovers(sandbox, client, namespace, ledger) -> None:
    ws = kc.connect(str(sandbox.kubeconfig_path), context="sandbox-admin", namespace=namespace)
    client.create(deployment("billing-api", "sandbox/api:1.0"), namespace)
    client.create(deployment("web", "nginx:1.25", replicas=1), namespace)

    def crashing() -> bool:
        pm = postmortem(since="10m", namespace=namespace, workbench=ws, ledger=ledger, save=False)
        rows = pm.impact[pm.impact["object"] == f"{namespace}/billing-api"]
        return bool(len(rows)) and rows.iloc[0]["status"] == "ongoing" and "BackOff" in rows.iloc[0]["reasons"]

    wait_for(crashing, 90, 2, "billing-api to show as ongoing impact with BackOff warnings")
    pm = postmortem(since="10m", namespace=namespace, workbench=ws, ledger=ledger)
    assert f"{namespace}/web" not in set(pm.impact["object"])  # a healthy workload is no impact
    assert (pm.timeline["source"] == "cluster").any()
    assert any("still failing" in i for i in pm.action_items)
    assert pm.context == "sandbox-admin"

    client.patch(f"/apis/apps/v1/namespaces/{namespace}/deployments/billing-api",
                 {"spec": {"template": {"spec": {"containers": [{"name": "app", "image": "nginx:1.25"}]}}}})

    def recovered() -> bool:
        pm = postmortem(since="10m", namespace=namespace, workbench=ws, ledger=ledger, save=False)
        rows = pm.impact[pm.impact["object"] == f"{namespace}/billing-api"]
        return bool(len(rows)) and rows.iloc[0]["status"] == "resolved"

    wait_for(recovered, 90, 2, "billing-api impact to be resolved once the deployment is available")
    assert ledger.sql("SELECT count(*) AS n FROM postmortems").n[0] == 1
