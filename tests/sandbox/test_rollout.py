"""Rollouts against the sandbox: each scenario happens in the cluster (Deployments, Services, endpoints, Jobs are
asserted there) and in the audit ledger (rollout rows, events, plans executed exactly once)."""

from __future__ import annotations

import json
from typing import Any

import ipywidgets
import pytest

import kubecopilot as kc
from kubecopilot.rollouts import AnalysisSpec, App, BlueGreen, Canary, CanaryStep, Rolling, Rollout, Task
from tests.conftest import wait_for

pytestmark = pytest.mark.sandbox

DEPLOY = "/apis/apps/v1/namespaces/{ns}/deployments/{name}"
FAST = AnalysisSpec(window=3, interval=1, max_cpu_millicores=500, max_memory_mib=256)


def deployment(name: str, replicas: int, image: str = "sandbox/web:1.0", labels: dict[str, str] | None = None
               ) -> dict[str, Any]:
    labels = labels or {"app": name}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "labels": dict(labels)},
            "spec": {"replicas": replicas, "selector": {"matchLabels": dict(labels)},
                     "template": {"metadata": {"labels": dict(labels)},
                                  "spec": {"containers": [{"name": "app", "image": image}],
                                           "terminationGracePeriodSeconds": 1}}}}


def service(name: str, selector: dict[str, str]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
            "spec": {"selector": selector, "ports": [{"name": "http", "port": 80, "targetPort": 8080}]}}


def get(client, ns: str, name: str) -> dict[str, Any] | None:
    return client.get_or_none(DEPLOY.format(ns=ns, name=name))


def image_of(d: dict[str, Any]) -> str:
    return d["spec"]["template"]["spec"]["containers"][0]["image"]


def ready(client, ns: str, name: str, replicas: int) -> bool:
    d = get(client, ns, name)
    st = (d or {}).get("status") or {}
    return bool(d) and d["spec"]["replicas"] == replicas and st.get("readyReplicas") == replicas \
        and st.get("updatedReplicas") == replicas and st.get("replicas") == replicas


def setup_app(client, ns: str, name: str = "web", replicas: int = 4, image: str = "sandbox/web:1.0",
              svc: bool = True) -> None:
    client.create(deployment(name, replicas, image), ns)
    if svc:
        client.create(service(name, {"app": name}), ns)
    wait_for(lambda: ready(client, ns, name, replicas), 90, what=f"{name} ready")


def events(ledger, rollout_id: str) -> list[str]:
    return ledger.sql("SELECT action FROM audit_events WHERE object = ? ORDER BY seq",
                      [f"rollout/{rollout_id}"])["action"].tolist()


def executions_per_key(ledger, rollout_id: str) -> dict[str, int]:
    """idempotency key -> how many times a plan with it was applied (plan.executed events)."""
    rows = ledger.sql("SELECT e.payload FROM audit_events e WHERE e.action = 'plan.executed'")
    counts: dict[str, int] = {}
    for text in rows["payload"]:
        key = json.loads(text)["idempotencyKey"]
        if f"rollout/{rollout_id}/" in key:
            counts[key] = counts.get(key, 0) + 1
    return counts


def endpoint_ips(client, ns: str, name: str) -> set[str]:
    ep = client.get_or_none(f"/api/v1/namespaces/{ns}/endpoints/{name}") or {}
    return {a["ip"] for s in ep.get("subsets") or [] for a in s.get("addresses") or []}


def pods(client, ns: str, selector: str) -> list[dict[str, Any]]:
    return client.list(f"/api/v1/namespaces/{ns}/pods", labelSelector=selector)


@pytest.fixture(autouse=True)
def _cleanup(monkeypatch):
    """Widgets closed; a rollout a failed test left running in the background stops (state kept) before its
    namespace and ledger go away."""
    started = []
    original = Rollout._run_engine

    def tracked(self, *args, **kwargs):
        started.append(self)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Rollout, "_run_engine", tracked)
    yield
    for ro in started:
        ro.detach(timeout=30)
    ipywidgets.Widget.close_all()


# -- canary ------------------------------------------------------------------------------------------------------------
def test_canary_succeeds_step_by_step_and_the_service_sends_traffic_to_it(client, namespace, ws, ledger):
    setup_app(client, namespace)
    ro = kc.rollout("web", "sandbox/web:1.1", ws=ws, approved_by="alice", analysis=FAST, ready_timeout=60,
                    strategy=Canary(steps=[CanaryStep(weight=25, pause=None), CanaryStep(weight=50, pause=1)]))
    assert ro.status == "pending" and [t.id for t in ro.state.tasks] == ["deploy-web", "health-web"]
    assert ledger.sql("SELECT status FROM rollouts WHERE id = ?", [ro.id])["status"].tolist() == ["pending"]
    ro.start()
    wait_for(lambda: ro.status == "waiting_confirm", 90, what="the manual pause after 25%")

    # mid-way, in the cluster: 1 canary pod of 4 on the new image, behind the app's Service
    canary, stable = get(client, namespace, "web-canary"), get(client, namespace, "web")
    assert (canary["spec"]["replicas"], stable["spec"]["replicas"]) == (1, 3)
    assert image_of(canary) == "sandbox/web:1.1" and image_of(stable) == "sandbox/web:1.0"
    assert canary["metadata"]["labels"]["kubecopilot.io/rollout"] == ro.id
    [canary_pod] = pods(client, namespace, "app=web,kubecopilot.io/track=canary")
    wait_for(lambda: canary_pod["status"].get("podIP") in endpoint_ips(client, namespace, "web")
             and len(endpoint_ips(client, namespace, "web")) == 4, 30, what="the canary pod among web's endpoints")
    [(task, wait)] = ro.waiting
    assert task == "deploy-web" and wait.kind == "pause"
    [first] = ro.analyses
    assert first.phase == "Successful" and first.selector == "app=web,kubecopilot.io/track=canary"
    assert first.metrics_source.startswith("kubelet")  # the node simulator's /metrics/resource via the node proxy
    assert [p.name for p in first.pods] == [canary_pod["metadata"]["name"]]
    assert first.pods[0].cpu_millicores is not None and first.pods[0].memory_mib > 0
    assert {c.name: c.status for c in first.checks}["cpu"] == "pass"

    ro.promote(by="alice", reason="25% looks fine")
    assert ro.wait(180) == "success", ro.state.reason

    final = get(client, namespace, "web")
    assert (final["spec"]["replicas"], image_of(final)) == (4, "sandbox/web:1.1")
    assert ready(client, namespace, "web", 4)
    assert get(client, namespace, "web-canary") is None
    assert [a.phase for a in ro.analyses] == ["Successful"] * 3  # 25%, 50%, health check
    assert [t.status for t in ro.state.tasks] == ["success", "success"]

    seen = events(ledger, ro.id)
    assert seen[0] == "rollout.created" and seen[-1] == "rollout.succeeded"
    for action in ("rollout.started", "rollout.step", "rollout.analysis", "rollout.waiting", "rollout.command",
                   "rollout.promoted"):
        assert action in seen, action
    assert seen.count("rollout.analysis") == 3
    promoted = ledger.sql("SELECT actor FROM audit_events WHERE object = ? AND action = 'rollout.promoted'",
                          [f"rollout/{ro.id}"])["actor"].tolist()
    assert promoted == ["alice"]
    counts = executions_per_key(ledger, ro.id)
    assert len(counts) == 7 and set(counts.values()) == {1}  # create, scale, scale, scale, set_image, scale, delete
    approvals = ledger.sql("SELECT actor, payload FROM audit_events WHERE action = 'plan.approved' AND plan_id IN "
                           "(SELECT UNNEST(?))", [ro.plan_ids])
    assert len(approvals) == 7 and set(approvals["actor"]) == {"alice"}
    assert all(f"on behalf of alice via rollout {ro.id}" in json.loads(p)["reason"] for p in approvals["payload"])
    assert ledger.sql("SELECT status FROM rollouts WHERE id = ?", [ro.id])["status"].tolist() == ["success"]

    text, page = str(ro), ro._repr_html_()
    assert "success" in text and "deploy-web" in text and "canary 50%" in text
    assert "kc-rollout" in page and "Successful" in page
    fig = ro.figure()
    assert {tr.name for tr in fig.data} == {"success"} and len(fig.layout.annotations) == 1  # one blockBy arrow


def test_canary_whose_new_version_crashes_rolls_back_by_itself(client, namespace, ws, ledger):
    setup_app(client, namespace)
    # sandbox/api exits at once without DATABASE_URL: a crash loop
    ro = kc.rollout("web", "sandbox/api:2.0", ws=ws, approved_by="alice", analysis=FAST, ready_timeout=60,
                    strategy=Canary(steps=[25, 50]))
    ro.run()
    assert ro.status == "rolled_back", ro.state.reason
    assert "analysis of canary pods of web failed" in ro.state.reason
    [verdict] = ro.analyses
    assert verdict.phase == "Failed" and ("restarts" in verdict.reason or "crashing" in verdict.reason)
    assert [(t.id, t.status) for t in ro.state.tasks] == [("deploy-web", "failed"), ("health-web", "cancelled")]

    # every completed step reversed, newest first: web back to 4 on the old image, the canary gone
    assert [o.action for o in ro.state.rollback_ops] == ["scale", "delete"]
    assert all(o.status == "executed" for o in ro.state.rollback_ops)
    final = get(client, namespace, "web")
    assert (final["spec"]["replicas"], image_of(final)) == (4, "sandbox/web:1.0")
    assert get(client, namespace, "web-canary") is None
    wait_for(lambda: ready(client, namespace, "web", 4), 60, what="web ready again")
    wait_for(lambda: not pods(client, namespace, "kubecopilot.io/track=canary"), 60, what="canary pods gone")

    seen = events(ledger, ro.id)
    assert "rollout.analysis" in seen and seen[-1] == "rollout.rolled_back" and "rollout.succeeded" not in seen
    phase = ledger.sql("SELECT payload->>'$.phase' AS phase FROM audit_events WHERE object = ? AND action = "
                       "'rollout.analysis'", [f"rollout/{ro.id}"])["phase"].tolist()
    assert phase == ["Failed"]
    assert set(executions_per_key(ledger, ro.id).values()) == {1} and len(executions_per_key(ledger, ro.id)) == 4
    assert ledger.sql("SELECT status FROM rollouts WHERE id = ?", [ro.id])["status"].tolist() == ["rolled_back"]


# -- gates and approvals -----------------------------------------------------------------------------------------------
def test_a_gate_and_a_plan_above_the_auto_level_wait_for_people_then_resume(client, namespace, ws, ledger):
    setup_app(client, namespace, svc=False)
    ro = kc.rollout("web", "sandbox/web:1.1", ws=ws, auto_approve="low", analysis=FAST, ready_timeout=60,
                    strategy=Rolling(batch_size=2, interval=0.5), requested_by="olga")
    ro.start()
    wait_for(lambda: ro.waiting and ro.waiting[0][1].kind == "gate", 60, what="the rollout's gate")
    assert ro.status == "waiting_confirm"
    assert get(client, namespace, "web-next") is None and not ro.plan_ids  # nothing planned, nothing written
    view = ro.widget()
    assert not view.approve_button.disabled and view.retry_button.disabled
    view.approver.value, view.reason.value = "bob", "change 4711"
    view.approve_button.click()  # the notebook button calls ro.approve(by="bob")
    assert "sent by bob" in view.message.value

    # creating web-next (low risk) goes through on bob's behalf; scaling web down 4 -> 2 disrupts half its pods:
    # medium risk, above the rollout's auto-approval, so it waits for a human
    wait_for(lambda: any(w.kind == "plan" for _t, w in ro.waiting), 90, what="a plan to wait")
    [(_task, wait)] = ro.waiting
    scale = kc.plans.load(wait.plan_id, ws)
    assert (scale.action, scale.target, scale.risk.level) == ("scale", f"deployment/{namespace}/web", "medium")
    assert kc.plans.pending(namespace=namespace).ids == [wait.plan_id]
    assert get(client, namespace, "web-next")["spec"]["replicas"] == 2 and get(client, namespace, "web")["spec"][
        "replicas"] == 4  # not scaled down yet
    assert "waiting" in view.view.value and wait.plan_id[:8] in view.view.value  # the live view followed
    scale.approve(by="carol", reason="reviewed")  # a human, the plans way
    wait_for(lambda: get(client, namespace, "web")["spec"]["replicas"] == 2, 60, what="web scaled to 2")

    # the promotion's set_image and the delete of web-next are medium too: approve them through the rollout
    approved = {wait.plan_id}
    while ro.status != "success":
        wait_for(lambda: ro.status == "success" or any(w.kind == "plan" and w.plan_id not in approved
                                                       for _t, w in ro.waiting), 120, what="the next plan or the end")
        for _t, w in ro.waiting:
            if w.kind == "plan" and w.plan_id not in approved:
                approved.add(w.plan_id)
                ro.approve(by="carol")
    assert ro.wait(120) == "success", ro.state.reason
    final = get(client, namespace, "web")
    assert (final["spec"]["replicas"], image_of(final)) == (4, "sandbox/web:1.1")
    assert get(client, namespace, "web-next") is None
    approvers = ledger.sql("SELECT plan_id, actor FROM audit_events WHERE action = 'plan.approved' AND plan_id IN "
                           "(SELECT UNNEST(?))", [ro.plan_ids])
    assert sorted(set(approvers["actor"])) == ["bob", "carol"]
    carol = set(approvers[approvers["actor"] == "carol"]["plan_id"])
    assert carol == approved and len(carol) == 3  # scale down, set_image, delete
    assert [kc.plans.load(p, ws).action for p in ro.plan_ids if p in carol] == ["scale", "set_image", "delete"]
    assert "rollout.approved" in events(ledger, ro.id)
    assert ledger.sql("SELECT actor FROM audit_events WHERE object = ? AND action = 'rollout.approved'",
                      [f"rollout/{ro.id}"])["actor"].tolist()[0] == "bob"
    requested = ledger.sql("SELECT DISTINCT body->>'$.requestedBy' AS r FROM plans WHERE id IN (SELECT UNNEST(?))",
                           [ro.plan_ids])["r"].tolist()
    assert requested == ["olga"]


def test_an_inconclusive_analysis_waits_for_a_human_who_retries_then_accepts_it(client, namespace, ws, ledger):
    setup_app(client, namespace, svc=False)
    # a quota on CPU requests: the running pods stay, but a new pod without requests is refused at admission, so
    # the canary Deployment gets no pod — the analysis has nothing to judge
    client.create({"apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": "cpu"},
                   "spec": {"hard": {"requests.cpu": "10"}}}, namespace)
    wait_for(lambda: (client.get(f"/api/v1/namespaces/{namespace}/resourcequotas/cpu").get("status") or {})
             .get("hard"), 30, what="the quota to be enforced")
    ro = kc.rollout("web", "sandbox/web:1.1", ws=ws, approved_by="alice", analysis=FAST, ready_timeout=8,
                    strategy=Canary(steps=[25, 50]))
    ro.start()
    wait_for(lambda: any(w.kind == "analysis" for _t, w in ro.waiting), 90, what="the inconclusive analysis")
    [first] = ro.analyses
    assert (first.phase, first.reason) == ("Inconclusive", "no pods match the selector")
    assert ro.status == "waiting_confirm" and get(client, namespace, "web-canary")["spec"]["replicas"] == 1
    assert not pods(client, namespace, "kubecopilot.io/track=canary")

    ro.retry(by="erin")  # analyse again: still nothing to judge
    wait_for(lambda: len(ro.analyses) == 2 and any(w.kind == "analysis" for _t, w in ro.waiting), 60,
             what="the second analysis")
    client.delete(f"/api/v1/namespaces/{namespace}/resourcequotas/cpu")
    ro.promote(by="erin", reason="quota fixed; accepting")  # accept the inconclusive step and go on
    assert ro.wait(180) == "success", ro.state.reason
    assert [a.phase for a in ro.analyses] == ["Inconclusive", "Inconclusive", "Successful", "Successful"]
    assert ro.state.tasks[0].steps[0].accepted_by == "erin"
    assert image_of(get(client, namespace, "web")) == "sandbox/web:1.1"
    phases = ledger.sql("SELECT payload->>'$.phase' AS p FROM audit_events WHERE object = ? AND action = "
                        "'rollout.analysis' ORDER BY seq", [f"rollout/{ro.id}"])["p"].tolist()
    assert phases == ["Inconclusive", "Inconclusive", "Successful", "Successful"]
    assert events(ledger, ro.id).count("rollout.waiting") == 2


# -- DAG: parallel tasks, application order ----------------------------------------------------------------------------
def test_parallel_builds_across_two_apps_then_deployments_in_order(client, namespace, ws, ledger):
    setup_app(client, namespace, "api", 2, svc=False)
    setup_app(client, namespace, "web", 2, svc=False)
    build = {"image": "sandbox/worker:1.0", "env": {"WORK_SECONDS": "3"}}
    ro = kc.rollout(
        ws=ws, name="shop", approved_by="alice", analysis=FAST, must_in_order=["api", "web"],
        apps=[App(name="api", image="sandbox/web:1.1", strategy=Rolling(batch_size=1), ready_timeout=60),
              App(name="web", image="sandbox/web:2.0", strategy=Rolling(batch_size=1), ready_timeout=60)],
        tasks=[Task(id="build-api", type="build", app="api", **build),
               Task(id="build-web", type="build", app="web", **build),
               Task(id="deploy-web", type="deploy", app="web", block_by=["build-web"], gate=True)])
    deps = {t.id: t.deps for t in ro.state.tasks}
    assert deps == {"build-api": [], "build-web": [], "deploy-web": ["build-web", "health-api"],
                    "deploy-api": ["build-api"], "health-api": ["deploy-api"]}
    ro.start()
    # the web deployment has a gate of its own: reached only once the api app is deployed and healthy
    wait_for(lambda: [t for t, w in ro.waiting if w.kind == "gate"] == ["deploy-web"], 120, what="deploy-web's gate")
    assert ro.task("health-api").status == "success" and image_of(get(client, namespace, "web")) == "sandbox/web:1.0"
    ro.approve(by="frank", task="deploy-web")
    assert ro.wait(180) == "success", ro.state.reason
    assert ro.task("deploy-web").gate_approved_by == "frank"
    t = {x.id: x for x in ro.state.tasks}
    assert "health-web" not in t  # an explicit deploy task comes without the default health check
    # the two builds ran at the same time
    assert t["build-api"].started < t["build-web"].finished and t["build-web"].started < t["build-api"].finished
    # the web app's deployment started only after the api app was deployed and healthy
    assert t["deploy-web"].started >= t["health-api"].finished >= t["deploy-api"].finished
    assert t["deploy-api"].started >= t["build-api"].finished

    jobs = client.list(f"/apis/batch/v1/namespaces/{namespace}/jobs", labelSelector=f"kubecopilot.io/rollout={ro.id}")
    assert sorted(j["metadata"]["labels"]["kubecopilot.io/task"] for j in jobs) == ["build-api", "build-web"]
    assert all(j["status"].get("succeeded") == 1 for j in jobs)
    assert image_of(get(client, namespace, "api")) == "sandbox/web:1.1"
    assert image_of(get(client, namespace, "web")) == "sandbox/web:2.0"
    assert get(client, namespace, "api-next") is None and get(client, namespace, "web-next") is None
    steps = [s.name for s in t["deploy-api"].steps]
    assert steps == ["batch 1: 1 of 2 pods on sandbox/web:1.1", "promote: api to sandbox/web:1.1", "remove api-next"]
    task_events = ledger.sql("SELECT payload->>'$.task' AS task FROM audit_events WHERE object = ? AND action = "
                             "'rollout.task' ORDER BY seq", [f"rollout/{ro.id}"])["task"].tolist()
    assert task_events.index("health-api") < task_events.index("deploy-web")


# -- blue-green --------------------------------------------------------------------------------------------------------
def test_blue_green_switches_the_service_and_undo_switches_back(client, namespace, ws, ledger):
    setup_app(client, namespace, "web", 2)
    old_ips = endpoint_ips(client, namespace, "web")
    ro = kc.rollout("web", "sandbox/web:1.1", ws=ws, approved_by="alice", analysis=FAST, ready_timeout=60,
                    strategy=BlueGreen(scale_down_delay=1, post_analysis=True))
    ro.run()
    assert ro.status == "success", ro.state.reason
    svc = client.get(f"/api/v1/namespaces/{namespace}/services/web")
    assert svc["spec"]["selector"] == {"app": "web", "kubecopilot.io/color": "green"}
    green = get(client, namespace, "web-green")
    assert image_of(green) == "sandbox/web:1.1" and green["spec"]["replicas"] == 2
    assert get(client, namespace, "web") is None  # the old colour, removed after the delay
    preview = client.get(f"/api/v1/namespaces/{namespace}/services/web-preview")
    assert preview["spec"]["selector"] == {"app": "web", "kubecopilot.io/color": "green"}
    green_ips = {p["status"]["podIP"] for p in pods(client, namespace, "kubecopilot.io/color=green")}
    wait_for(lambda: endpoint_ips(client, namespace, "web") == green_ips, 30, what="web's endpoints = green pods")
    assert not green_ips & old_ips
    assert [a.target for a in ro.analyses] == ["green pods (preview)", "green pods (active)", "pods behind service web"]

    ro.undo(by="alice", reason="switch back")
    assert ro.wait(180) == "rolled_back", ro.state.reason
    svc = client.get(f"/api/v1/namespaces/{namespace}/services/web")
    assert svc["spec"]["selector"] == {"app": "web"}
    back = get(client, namespace, "web")
    assert back is not None and image_of(back) == "sandbox/web:1.0" and back["spec"]["replicas"] == 2
    assert get(client, namespace, "web-green") is None
    assert client.get_or_none(f"/api/v1/namespaces/{namespace}/services/web-preview") is None
    wait_for(lambda: ready(client, namespace, "web", 2) and len(endpoint_ips(client, namespace, "web")) == 2, 60,
             what="web serving again")
    assert [o.action for o in ro.state.rollback_ops] == ["apply", "set_selector", "delete", "delete"]
    seen = events(ledger, ro.id)
    assert seen.index("rollout.succeeded") < seen.index("rollout.command") < seen.index("rollout.rolled_back")


# -- cancel ------------------------------------------------------------------------------------------------------------
def test_cancel_mid_way_stops_where_it_is_then_undo_reverses_it(client, namespace, ws, ledger):
    setup_app(client, namespace, svc=False)
    ro = kc.rollout("web", "sandbox/web:1.1", ws=ws, approved_by="alice", analysis=FAST, ready_timeout=60,
                    strategy=Canary(steps=[CanaryStep(weight=25, pause=120), CanaryStep(weight=50)]))
    ro.start()
    wait_for(lambda: ro.state.tasks[0].steps and ro.state.tasks[0].steps[0].pause_until is not None, 90,
             what="the pause after 25%")
    plans_before = list(ro.plan_ids)
    ro.cancel(by="dave", reason="wrong build")
    assert ro.wait(30) == "cancelled"
    assert [(t.id, t.status) for t in ro.state.tasks] == [("deploy-web", "cancelled"), ("health-web", "cancelled")]
    assert ro.state.reason == "cancelled by dave: wrong build"
    # the cluster stays exactly where the rollout stopped
    canary, stable = get(client, namespace, "web-canary"), get(client, namespace, "web")
    assert (canary["spec"]["replicas"], stable["spec"]["replicas"]) == (1, 3)
    assert ro.plan_ids == plans_before
    cancelled = ledger.sql("SELECT actor FROM audit_events WHERE object = ? AND action = 'rollout.cancelled'",
                           [f"rollout/{ro.id}"])["actor"].tolist()
    assert cancelled == ["dave"]

    ro.undo(by="dave")
    assert ro.wait(120) == "rolled_back", ro.state.reason
    assert get(client, namespace, "web")["spec"]["replicas"] == 4 and get(client, namespace, "web-canary") is None
