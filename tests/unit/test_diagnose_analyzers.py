"""Analyzers over hand-written objects (pure logic, no cluster): each Kubernetes state maps to the right rule,
healthy states give no finding, and Secret values never reach a rendered form."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from kubecopilot.diagnose import Snapshot
from kubecopilot.diagnose._analyze_workloads import classify_create_failure
from kubecopilot.diagnose._analyzers import analyze
from kubecopilot.diagnose._diagnosis import Diagnosis
from kubecopilot.diagnose._findings import Evidence, Finding
from kubecopilot.diagnose._render import findings_html

NOW = datetime(2026, 11, 23, 12, 0, 0, tzinfo=UTC)
NS = "shop"


def ts(seconds_ago: float) -> str:
    return (NOW - timedelta(seconds=seconds_ago)).strftime("%Y-%m-%dT%H:%M:%SZ")


def meta(name: str, uid: str, owner: tuple[str, str, str] | None = None, age: float = 600, **extra: Any) -> dict:
    m = {"name": name, "namespace": NS, "uid": uid, "creationTimestamp": ts(age), **extra}
    if owner:
        m["ownerReferences"] = [{"kind": owner[0], "name": owner[1], "uid": owner[2], "controller": True}]
    return m


def deployment(name: str = "api", replicas: int = 1, available: int = 1, labels: dict | None = None,
               containers: list | None = None) -> dict:
    labels = labels or {"app": name}
    return {"kind": "Deployment", "metadata": {**meta(name, f"d-{name}"), "annotations": {
        "deployment.kubernetes.io/revision": "1"}},
            "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels}, "spec": {"containers": containers or [
                         {"name": "app", "image": "sandbox/api:1.0", "ports": [{"name": "http", "containerPort": 8080}],
                          "resources": {"limits": {"memory": "256Mi"}}}]}}},
            "status": {"replicas": replicas, "availableReplicas": available, "readyReplicas": available,
                       "conditions": [{"type": "Available", "status": "True" if available else "False"},
                                      {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable",
                                       "lastUpdateTime": ts(600)}]}}


def replicaset(dep: dict, replicas: int = 1, have: int = 1, revision: str = "1", image: str = "sandbox/api:1.0",
               suffix: str = "abc") -> dict:
    name = dep["metadata"]["name"]
    tmpl = json.loads(json.dumps(dep["spec"]["template"]))
    tmpl["spec"]["containers"][0]["image"] = image
    return {"kind": "ReplicaSet", "metadata": {**meta(f"{name}-{suffix}", f"rs-{name}-{suffix}",
                                                     ("Deployment", name, dep["metadata"]["uid"])),
                                               "annotations": {"deployment.kubernetes.io/revision": revision}},
            "spec": {"replicas": replicas, "selector": dep["spec"]["selector"], "template": tmpl},
            "status": {"replicas": have}}


def pod(name: str, owner: dict | None, *, ready: bool = True, phase: str = "Running", cstatus: dict | None = None,
        containers: list | None = None, labels: dict | None = None, restart_policy: str = "Always",
        node: str = "n1", conditions: list | None = None) -> dict:
    okind = owner["kind"] if owner else None
    o = (okind, owner["metadata"]["name"], owner["metadata"]["uid"]) if owner else None
    containers = containers or (owner["spec"]["template"]["spec"]["containers"] if owner and okind != "Job"
                                else [{"name": "app", "image": "sandbox/api:1.0"}])
    cs = cstatus or {"name": containers[0]["name"], "ready": ready, "restartCount": 0,
                     "state": {"running": {"startedAt": ts(500)}}, "lastState": {}}
    conds = conditions or [{"type": "PodScheduled", "status": "True"},
                           {"type": "Ready", "status": "True" if ready else "False"}]
    if not labels:
        labels = owner["spec"]["template"]["metadata"]["labels"] if owner and okind != "Job" else {"app": name}
    return {"kind": "Pod", "metadata": {**meta(name, f"p-{name}", o), "labels": labels},
            "spec": {"nodeName": node, "containers": containers, "restartPolicy": restart_policy},
            "status": {"phase": phase, "conditions": conds, "containerStatuses": [cs]}}


def event(obj: dict, reason: str, message: str, kind: str = "Pod", type_: str = "Warning", ago: float = 30,
          field_path: str | None = None, count: int = 1) -> dict:
    io = {"kind": kind, "namespace": obj["metadata"].get("namespace"), "name": obj["metadata"]["name"],
          "uid": obj["metadata"]["uid"]}
    if field_path:
        io["fieldPath"] = field_path
    return {"metadata": {"name": f"{obj['metadata']['name']}.{reason}{ago}", "uid": f"e-{reason}-{ago}-{message[:9]}"},
            "involvedObject": io, "reason": reason, "message": message, "type": type_, "count": count,
            "lastTimestamp": ts(ago)}


def node(name: str = "n1", ready: str = "True", unschedulable: bool = False, pressure: str = "False") -> dict:
    return {"kind": "Node", "metadata": {"name": name, "uid": f"n-{name}", "labels": {}},
            "spec": {"unschedulable": unschedulable} if unschedulable else {},
            "status": {"allocatable": {"cpu": "4", "memory": "8Gi", "pods": "110"},
                       "conditions": [{"type": "Ready", "status": ready, "reason": "KubeletReady" if ready == "True"
                                       else "KubeletNotReady", "message": "kubelet stopped posting"},
                                      {"type": "MemoryPressure", "status": pressure,
                                       "reason": "KubeletHasSufficientMemory"}]}}


def snapshot(*objs: dict, events: list | None = None, logs: dict | None = None, complete: bool = True) -> Snapshot:
    snap = Snapshot(scope="test", now=NOW)
    for o in objs:
        kind = o["kind"]
        snap.add(kind, [json.loads(json.dumps(o))], complete_ns="" )
    if complete:
        for kind in ("Pod", "Service", "Endpoints", "ConfigMap", "Secret", "Deployment"):
            snap.complete.add((kind, NS))
        snap.complete.add(("Node", None))
        snap.complete.add(("StorageClass", None))
    snap.add_events(events or [])
    snap.logs.update(logs or {})
    return snap


def crashing(dep: dict, rs: dict, name: str, last: dict, restarts: int = 4) -> dict:
    cname = dep["spec"]["template"]["spec"]["containers"][0]["name"]
    return pod(name, rs, ready=False, cstatus={
        "name": cname, "ready": False, "restartCount": restarts,
        "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 40s restarting failed container"}},
        "lastState": {"terminated": {"finishedAt": ts(20), **last}}})


# -- healthy states -----------------------------------------------------------------------------------------------


def test_a_healthy_namespace_gives_no_finding() -> None:
    dep = deployment(replicas=2, available=2)
    rs = replicaset(dep, 2, 2)
    svc = {"kind": "Service", "metadata": meta("api", "s-api"), "spec": {
        "selector": {"app": "api"}, "ports": [{"port": 80, "targetPort": "http"}]}}
    ep = {"kind": "Endpoints", "metadata": meta("api", "ep-api"), "subsets": [
        {"addresses": [{"ip": "10.0.0.1"}, {"ip": "10.0.0.2"}], "ports": [{"port": 8080}]}]}
    done = {"kind": "Job", "metadata": meta("migrate", "j-m"), "spec": {"backoffLimit": 2},
            "status": {"succeeded": 1, "conditions": [{"type": "Complete", "status": "True"}]}}
    done_pod = pod("migrate-x", done, phase="Succeeded", ready=False, restart_policy="Never", cstatus={
        "name": "app", "restartCount": 0, "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}})
    snap = snapshot(dep, rs, pod("api-abc-1", rs), pod("api-abc-2", rs), svc, ep, node(), done, done_pod,
                    events=[event(dep, "ScalingReplicaSet", "Scaled up", kind="Deployment", type_="Normal")])
    assert analyze(snap) == []


def test_positive_node_conditions_are_healthy() -> None:
    assert analyze(snapshot(node(pressure="False"))) == []
    findings = analyze(snapshot(node(ready="False"), node("n2", pressure="True"), node("n3", unschedulable=True)))
    rules = {(f.rule, f.object) for f in findings}
    assert rules == {("node.not-ready", "node/n1"), ("node.pressure", "node/n2"), ("node.cordoned", "node/n3")}
    cordoned = next(f for f in findings if f.rule == "node.cordoned")
    assert cordoned.severity == "info" and cordoned.intent is not None and cordoned.intent.action == "uncordon"


# -- containers ---------------------------------------------------------------------------------------------------


def test_crashloop_quotes_the_previous_log_line() -> None:
    dep, = [deployment(available=0)]
    rs = replicaset(dep)
    p = crashing(dep, rs, "api-abc-1", {"exitCode": 1, "reason": "Error"})
    logs = {(NS, "api-abc-1", "app", True): "INFO starting\nFATAL config: required environment variable "
                                              "DATABASE_URL is not set\n"}
    findings = analyze(snapshot(dep, rs, p, node(), logs=logs))
    assert findings[0].rule == "pod.crashloop" and findings[0].object == f"deployment/{NS}/api"
    assert "DATABASE_URL is not set" in findings[0].cause and "exit code 1" in findings[0].cause
    assert any(e.kind == "log" and "DATABASE_URL" in e.quote for e in findings[0].evidence)
    assert [f.rule for f in findings[1:]] == ["deployment.unavailable"]
    assert findings[1].caused_by == findings[0].key


def test_oomkilled_suggests_a_higher_memory_limit_on_the_deployment() -> None:
    dep = deployment(available=0)
    rs = replicaset(dep)
    p = crashing(dep, rs, "api-abc-1", {"exitCode": 137, "reason": "OOMKilled"})
    f = analyze(snapshot(dep, rs, p, node()))[0]
    assert f.rule == "pod.oomkilled" and "256Mi" in f.cause
    assert f.intent is not None and f.intent.action == "set_resources"
    assert (f.intent.kind, f.intent.name, f.intent.namespace) == ("deployment", "api", NS)
    # 2x the outgrown 256Mi plus headroom, in 64Mi steps: not exactly 512Mi, where a 2x-hungry process dies again
    assert f.intent.parameters == {"container": "app", "limits": {"memory": "640Mi"}}
    assert f.intent.source == "rule:pod.oomkilled"


def test_exit_127_liveness_kills_and_rbac_denials_are_told_apart() -> None:
    dep = deployment(available=0)
    rs = replicaset(dep)
    p127 = crashing(dep, rs, "a-1", {"exitCode": 127, "reason": "Error"})
    f = analyze(snapshot(dep, rs, p127, node(), logs={(NS, "a-1", "app", True): "sh: bash: not found"}))[0]
    assert f.rule == "pod.command-not-found" and "bash: not found" in f.cause

    plive = crashing(dep, rs, "a-2", {"exitCode": 137, "reason": "Error"})
    evs = [event(plive, "Unhealthy", "Liveness probe failed: dial tcp 10.1.1.1:8081: connect: connection refused",
                 field_path="spec.containers{app}", count=3),
           event(plive, "Killing", "Container app failed liveness probe, will be restarted", type_="Normal",
                 field_path="spec.containers{app}")]
    f = analyze(snapshot(dep, rs, plive, node(), events=evs,
                         logs={(NS, "a-2", "app", True): "INFO listening addr=:8080"}))[0]
    assert f.rule == "pod.liveness-failing"
    assert "nothing listens on" in f.cause or "8080" in f.cause

    prbac = crashing(dep, rs, "a-3", {"exitCode": 1, "reason": "Error"})
    denied = ('E1123 10:00:00.5 1 reflector.go:138] failed to list *v1.Pod: pods is forbidden: User '
              '"system:serviceaccount:shop:janitor" cannot list resource "pods" in API group "" in the namespace '
              '"shop"')
    f = analyze(snapshot(dep, rs, prbac, node(), logs={(NS, "a-3", "app", True): denied}))[0]
    assert f.rule == "rbac.forbidden" and "may not list pods" in f.cause


def test_image_pull_infers_the_tag_of_the_previous_revision() -> None:
    dep = deployment(available=0)
    dep["spec"]["template"]["spec"]["containers"][0]["image"] = "nginx:1.25.33"
    old = replicaset(dep, 0, 0, revision="1", image="nginx:1.25.3", suffix="old")
    new = replicaset(dep, 1, 1, revision="2", image="nginx:1.25.33", suffix="new")
    p = pod("api-new-1", new, ready=False, phase="Pending", cstatus={
        "name": "app", "ready": False, "restartCount": 0,
        "state": {"waiting": {"reason": "ImagePullBackOff", "message": 'Back-off pulling image "nginx:1.25.33"'}}})
    evs = [event(p, "Failed", 'Failed to pull image "nginx:1.25.33": rpc error: code = NotFound desc = failed to pull '
                 'and unpack image "docker.io/library/nginx:1.25.33": not found', field_path="spec.containers{app}")]
    f = analyze(snapshot(dep, old, new, p, node(), events=evs))[0]
    assert f.rule == "pod.image-pull" and "tag 1.25.33" in f.cause
    assert f.intent is not None and f.intent.action == "set_image"
    assert f.intent.parameters == {"container": "app", "image": "nginx:1.25.3"}
    # no history, no sibling: no guess
    alone = analyze(snapshot(dep, new, p, node(), events=evs))[0]
    assert alone.rule == "pod.image-pull" and alone.intent is None


def test_a_failed_job_attempt_is_the_jobs_finding_not_the_pods() -> None:
    job = {"kind": "Job", "metadata": meta("migrate", "j-m"), "spec": {"backoffLimit": 1},
           "status": {"failed": 2, "conditions": [{"type": "Failed", "status": "True",
                                                   "reason": "BackoffLimitExceeded",
                                                   "message": "Job has reached the specified backoff limit"}]}}
    p = pod("migrate-x", job, phase="Failed", ready=False, restart_policy="Never", cstatus={
        "name": "app", "restartCount": 0, "state": {"terminated": {"exitCode": 1, "reason": "Error",
                                                                    "finishedAt": ts(60)}}})
    logs = {(NS, "migrate-x", "app", False): 'ERROR migration failed: relation "invoices" does not exist'}
    findings = analyze(snapshot(job, p, node(), logs=logs))
    assert [f.rule for f in findings] == ["job.backoff-limit"]
    assert "invoices" in findings[0].cause and "BackoffLimitExceeded" in findings[0].cause


def test_quota_rejection_on_the_replicaset_is_the_deployments_root_cause() -> None:
    dep = deployment(replicas=2, available=0)
    rs = replicaset(dep, 2, 0)
    msg = ('Error creating: pods "api-abc-x" is forbidden: exceeded quota: team-quota, requested: '
           'requests.cpu=1500m, used: requests.cpu=0, limited: requests.cpu=1')
    findings = analyze(snapshot(dep, rs, node(), events=[event(rs, "FailedCreate", msg, kind="ReplicaSet")]))
    assert findings[0].rule == "quota.exceeded" and findings[0].object == f"deployment/{NS}/api"
    assert "team-quota" in findings[0].cause and "requests.cpu=1500m" in findings[0].cause
    assert findings[1].rule == "deployment.unavailable" and findings[1].caused_by == findings[0].key


def test_create_failure_messages_are_classified() -> None:
    assert classify_create_failure('pods "x" is forbidden: maximum memory usage per Container is 512Mi, but limit '
                                   'is 1Gi')[0] == "limitrange.rejected"
    assert classify_create_failure('(combined from similar events): Error creating: pods "x" is forbidden: exceeded '
                                   'quota: q, requested: pods=1, used: pods=10, limited: pods=10')[0] == \
        "quota.exceeded"
    assert classify_create_failure('pods "x" is forbidden: error looking up service account shop/robot: '
                                   'serviceaccount "robot" not found')[0] == "workload.failed-create"


def test_hpa_without_cpu_requests_reads_v1_annotation_conditions() -> None:
    dep = deployment()
    conds = [{"type": "AbleToScale", "status": "True", "reason": "SucceededGetScale"},
             {"type": "ScalingActive", "status": "False", "reason": "FailedGetResourceMetric",
              "message": "the HPA was unable to compute the replica count: failed to get cpu utilization: "
                         "missing request for cpu"}]
    hpa = {"kind": "HorizontalPodAutoscaler", "metadata": {**meta("api", "h-api"), "annotations": {
        "autoscaling.alpha.kubernetes.io/conditions": json.dumps(conds)}},
        "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "api"}, "targetCPUUtilizationPercentage": 70}}
    f = analyze(snapshot(dep, hpa, node()))[0]
    assert f.rule == "hpa.missing-requests" and "request no cpu" in f.cause and "70%" in f.cause
    ok = {**hpa, "metadata": {**hpa["metadata"], "annotations": {
        "autoscaling.alpha.kubernetes.io/conditions": json.dumps(conds[:1])}}}
    assert analyze(snapshot(dep, ok, node())) == []


def test_service_selecting_nothing_proposes_the_workloads_labels() -> None:
    dep = deployment("cart", labels={"app": "cart"})
    rs = replicaset(dep)
    svc = {"kind": "Service", "metadata": {**meta("cart", "s-cart", age=300), "labels": {"app": "cart"}},
           "spec": {"selector": {"app": "cart-service"}, "ports": [{"port": 80, "targetPort": "http"}]}}
    ep = {"kind": "Endpoints", "metadata": meta("cart", "ep-cart"), "subsets": []}
    f = analyze(snapshot(dep, rs, pod("cart-abc-1", rs), svc, ep, node()))[0]
    assert f.rule == "service.no-endpoints" and "app=cart-service matches no pod" in f.cause
    assert f.intent is not None and f.intent.action == "set_selector"
    assert f.intent.parameters == {"selector": {"app": "cart"}}


def test_service_target_port_not_served_and_scaled_to_zero() -> None:
    dep = deployment("catalog")
    rs = replicaset(dep)
    svc = {"kind": "Service", "metadata": meta("catalog", "s-c"),
           "spec": {"selector": {"app": "catalog"}, "ports": [{"port": 80, "targetPort": 9090}]}}
    ep = {"kind": "Endpoints", "metadata": meta("catalog", "ep-c"), "subsets": [
        {"addresses": [{"ip": "10.0.0.1"}], "ports": [{"port": 9090}]}]}
    f = analyze(snapshot(dep, rs, pod("catalog-abc-1", rs), svc, ep, node()))[0]
    assert f.rule == "service.target-port" and "9090" in f.cause and "8080" in f.cause

    zero = deployment("catalog", replicas=0, available=0)
    zero["spec"]["replicas"] = 0
    empty = {**ep, "subsets": []}
    f = analyze(snapshot(zero, svc, empty, node()))[0]
    assert f.rule == "service.no-endpoints" and "scaled to 0" in f.cause
    assert f.intent is not None and f.intent.action == "scale" and f.intent.parameters == {"replicas": 1}


def test_unschedulable_pod_names_the_taint_and_follows_a_not_ready_node() -> None:
    dep = deployment(available=0)
    dep["spec"]["template"]["spec"]["nodeSelector"] = {"pool": "ledger"}
    rs = replicaset(dep)
    rs["spec"]["template"]["spec"]["nodeSelector"] = {"pool": "ledger"}
    broken = node("ledger-1", ready="False")
    broken["metadata"]["labels"] = {"pool": "ledger"}
    broken["spec"]["taints"] = [{"key": "node.kubernetes.io/not-ready", "effect": "NoSchedule"}]
    cond = [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
             "message": "0/2 nodes are available: 1 node(s) had taint {node.kubernetes.io/not-ready: }, that the pod "
                        "didn't tolerate, 1 node(s) didn't match Pod's node affinity."}]
    p = pod("api-abc-1", rs, ready=False, phase="Pending", node="", conditions=cond,
            containers=rs["spec"]["template"]["spec"]["containers"])
    p["spec"].pop("nodeName")
    p["spec"]["nodeSelector"] = {"pool": "ledger"}
    p["status"].pop("containerStatuses")
    findings = analyze(snapshot(dep, rs, p, node(), broken))
    assert findings[0].rule == "node.not-ready" and findings[0].object == "node/ledger-1"
    pending = next(f for f in findings if f.rule == "pod.unschedulable")
    assert pending.caused_by == findings[0].key and "NotReady" in pending.cause


# -- secrets and rendering ----------------------------------------------------------------------------------------


def test_secret_values_are_kept_apart_and_never_rendered() -> None:
    value = "hunter2-super-secret-value"
    secret = {"kind": "Secret", "type": "Opaque", "metadata": meta("db", "sec-db"),
              "data": {"password": base64.b64encode(value.encode()).decode(), "on": base64.b64encode(b"1").decode()}}
    token = {"kind": "Secret", "type": "kubernetes.io/service-account-token", "metadata": meta("default-token-x", "t"),
             "data": {"namespace": base64.b64encode(NS.encode()).decode(),
                      "token": base64.b64encode(b"eyJhbGciOiJSUzI1NiJ9.payload.sig").decode()}}
    snap = snapshot(secret, token)
    assert value in snap.secret_values and "eyJhbGciOiJSUzI1NiJ9.payload.sig" in snap.secret_values
    assert NS not in snap.secret_values and "1" not in snap.secret_values
    assert snap.get("Secret", NS, "db")["keys"] == {"password": len(value), "on": 1}
    assert value not in repr(snap) and "data" not in snap.get("Secret", NS, "db")
    listed = Snapshot(scope="t", now=NOW)
    listed.add("Secret", [json.loads(json.dumps(secret))], keep_secret_values=False)
    assert listed.secret_values == [] and listed.get("Secret", NS, "db")["keys"]["password"] == len(value)

    f = Finding("pod.crashloop", "error", f"pod/{NS}/x", "cause", [Evidence("log", "pod/x", "boom")])
    d = Diagnosis(target=f"pod/{NS}/x", findings=[f], evidence=snap)
    ctx = json.dumps(d.to_llm_context())
    for text in (repr(d), str(d), d._repr_html_(), json.dumps(d.to_dict()), ctx):
        assert value not in text
    assert d.secret_values == snap.secret_values
    assert json.loads(ctx)["evidence"]["related"]["secrets"]["db"]["keys"] == {"password": len(value), "on": 1}


def test_html_escapes_everything_from_the_cluster() -> None:
    evil = "<script>alert(1)</script>"
    f = Finding("pod.crashloop", "error", f"pod/{NS}/{evil}", f"cause {evil}", [Evidence("log", evil, evil)])
    out = findings_html([f])
    assert "<script>" not in out and "&lt;script&gt;" in out
