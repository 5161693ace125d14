"""Every node-simulator behaviour, observed the way a user would: through the API server."""

from __future__ import annotations

import time

import pytest

from kubecopilot.sandbox._nodecontrol import NodeSpec, read_nodes, remove_nodes, upsert_nodes
from kubecopilot.sandbox._rest import ApiError
from tests.conftest import wait_for
from tests.sandbox.helpers import (
    container,
    container_status,
    env,
    event_matching,
    get_pod,
    logs,
    logs_so_far,
    pod,
    waiting_reason,
)

pytestmark = pytest.mark.sandbox


def _ready(client, ns, name) -> bool:
    p = get_pod(client, ns, name)
    return any(c["type"] == "Ready" and c["status"] == "True" for c in p["status"].get("conditions", []))


def test_nginx_runs_with_ip_events_and_logs(client, namespace):
    client.create(pod("web", [container("nginx:1.25", ports=[{"containerPort": 80}], imagePullPolicy="Always")]),
                  namespace)
    wait_for(lambda: _ready(client, namespace, "web"), 30, what="nginx Ready")
    p = get_pod(client, namespace, "web")
    assert p["status"]["phase"] == "Running"
    assert p["status"]["podIP"].startswith("10.")
    cs = p["status"]["containerStatuses"][0]
    assert cs["ready"] and cs["restartCount"] == 0 and "running" in cs["state"]
    for reason in ("Scheduled", "Pulling", "Pulled", "Created", "Started"):
        assert wait_for(lambda r=reason: event_matching(client, namespace, r, involved="web"), 15, what=reason)
    text = logs(client, namespace, "web")
    assert "nginx" in text.lower()
    stamped = logs(client, namespace, "web", timestamps="true", tailLines=1)
    assert len(stamped.strip().splitlines()) == 1 and stamped[:4].isdigit() and "T" in stamped[:20]


def test_unknown_tag_gives_errimagepull_then_backoff(client, namespace):
    client.create(pod("badtag", [container("nginx:1.99")]), namespace)
    wait_for(lambda: waiting_reason(client, namespace, "badtag") in ("ErrImagePull", "ImagePullBackOff"), 20)
    wait_for(lambda: waiting_reason(client, namespace, "badtag") == "ImagePullBackOff", 20)
    e = wait_for(lambda: event_matching(client, namespace, "Failed", "Failed to pull image", "badtag"), 10)
    assert "nginx:1.99" in e["message"] and "not found" in e["message"]
    assert get_pod(client, namespace, "badtag")["status"]["phase"] == "Pending"


def test_missing_configmap_key_then_recovery(client, namespace):
    c = container("sandbox/web:1.0", env=[{"name": "LOG_LEVEL", "valueFrom": {
        "configMapKeyRef": {"name": "app-config", "key": "log-level"}}}])
    client.create(pod("cfg", [c]), namespace)
    wait_for(lambda: waiting_reason(client, namespace, "cfg") == "CreateContainerConfigError", 20)
    msg = container_status(client, namespace, "cfg")["state"]["waiting"]["message"]
    assert msg == 'configmap "app-config" not found'
    client.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "app-config"},
                   "data": {"other": "x"}}, namespace)
    wait_for(lambda: "couldn't find key log-level in ConfigMap" in
             (container_status(client, namespace, "cfg")["state"].get("waiting") or {}).get("message", ""), 20)
    client.patch(f"/api/v1/namespaces/{namespace}/configmaps/app-config", {"data": {"log-level": "debug"}})
    wait_for(lambda: _ready(client, namespace, "cfg"), 30, what="recovery once the key exists")


def test_missing_secret_volume_is_failedmount(client, namespace):
    spec = pod("mnt", [container("sandbox/web:1.0", volumeMounts=[{"name": "creds", "mountPath": "/etc/creds"}])],
               volumes=[{"name": "creds", "secret": {"secretName": "db-creds"}}])
    client.create(spec, namespace)
    e = wait_for(lambda: event_matching(client, namespace, "FailedMount", involved="mnt"), 20)
    assert 'secret "db-creds" not found' in e["message"]
    assert waiting_reason(client, namespace, "mnt") == "ContainerCreating"
    client.create({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db-creds"},
                   "stringData": {"password": "s3cret"}}, namespace)
    wait_for(lambda: _ready(client, namespace, "mnt"), 40, what="start once the secret exists")


def test_app_missing_env_crashloops_with_explaining_log(client, namespace):
    client.create(pod("api", [container("sandbox/api:1.0")]), namespace)
    wait_for(lambda: container_status(client, namespace, "api").get("restartCount", 0) >= 1, 30)
    wait_for(lambda: waiting_reason(client, namespace, "api") == "CrashLoopBackOff", 30)
    cs = container_status(client, namespace, "api")
    assert cs["lastState"]["terminated"]["exitCode"] == 1
    assert cs["lastState"]["terminated"]["reason"] == "Error"
    assert "back-off" in cs["state"]["waiting"]["message"]
    assert "DATABASE_URL" in logs(client, namespace, "api", previous="true")
    assert wait_for(lambda: event_matching(client, namespace, "BackOff", "Back-off restarting failed", "api"), 10)


def test_memory_above_limit_is_oomkilled(client, namespace):
    c = container("sandbox/memhog:1.0", env=env(MEMORY_MB="512"),
                  resources={"limits": {"memory": "128Mi"}, "requests": {"memory": "64Mi"}})
    client.create(pod("hog", [c]), namespace)
    wait_for(lambda: (container_status(client, namespace, "hog").get("lastState", {}).get("terminated") or
                      container_status(client, namespace, "hog").get("state", {}).get("terminated") or
                      {}).get("reason") == "OOMKilled", 40, what="OOMKilled")
    cs = container_status(client, namespace, "hog")
    term = cs.get("lastState", {}).get("terminated") or cs["state"]["terminated"]
    assert term["exitCode"] == 137


def test_probes_readiness_404_and_liveness_restart(client, namespace):
    readiness = container("sandbox/web:1.0", readinessProbe={
        "httpGet": {"path": "/nope", "port": 8080}, "periodSeconds": 1, "failureThreshold": 1})
    liveness = container("nginx:1.25", livenessProbe={
        "tcpSocket": {"port": 8081}, "periodSeconds": 1, "failureThreshold": 2})
    client.create(pod("notready", [readiness]), namespace)
    client.create(pod("dying", [liveness]), namespace)
    e = wait_for(lambda: event_matching(client, namespace, "Unhealthy", "Readiness probe failed", "notready"), 20)
    assert "statuscode: 404" in e["message"]
    p = get_pod(client, namespace, "notready")
    assert p["status"]["phase"] == "Running" and not _ready(client, namespace, "notready")
    e = wait_for(lambda: event_matching(client, namespace, "Killing", "failed liveness probe", "dying"), 30)
    assert wait_for(lambda: container_status(client, namespace, "dying").get("restartCount", 0) >= 1, 30)
    live = event_matching(client, namespace, "Unhealthy", "Liveness probe failed", "dying")
    assert live and "connection refused" in live["message"]


def test_shell_exit_codes_logs_and_127(client, namespace):
    client.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "greeting"},
                   "data": {"msg.txt": "hello from a configmap"}}, namespace)
    script = pod("sh", [container("busybox:1.36", command=["sh", "-c", "echo start; cat /cfg/msg.txt; exit 3"],
                                  volumeMounts=[{"name": "cfg", "mountPath": "/cfg"}])],
                 restartPolicy="Never", volumes=[{"name": "cfg", "configMap": {"name": "greeting"}}])
    client.create(script, namespace)
    client.create(pod("nf", [container("busybox", command=["sh", "-c", "frobnicate --now"])],
                      restartPolicy="Never"), namespace)
    wait_for(lambda: get_pod(client, namespace, "sh")["status"].get("phase") == "Failed", 30)
    term = container_status(client, namespace, "sh")["state"]["terminated"]
    assert term["exitCode"] == 3
    assert logs(client, namespace, "sh").splitlines() == ["start", "hello from a configmap"]
    wait_for(lambda: get_pod(client, namespace, "nf")["status"].get("phase") == "Failed", 30)
    assert container_status(client, namespace, "nf")["state"]["terminated"]["exitCode"] == 127
    assert "not found" in logs(client, namespace, "nf")


def test_exec_form_missing_binary_is_run_container_error(client, namespace):
    client.create(pod("nobin", [container("nginx:1.25", command=["myapp"])]), namespace)
    wait_for(lambda: waiting_reason(client, namespace, "nobin") in ("RunContainerError", "CrashLoopBackOff"), 20)
    cs = wait_for(lambda: container_status(client, namespace, "nobin").get("lastState", {}).get("terminated"), 20)
    assert cs["exitCode"] == 128 and "executable file not found" in cs["message"]


def test_jobs_complete_and_hit_backoff_limit(client, namespace):
    def job(name: str, code: str, backoff: int) -> dict:
        return {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name},
                "spec": {"backoffLimit": backoff, "template": {"spec": {
                    "restartPolicy": "Never", "terminationGracePeriodSeconds": 1,
                    "containers": [container("sandbox/worker:1.0", env=env(WORK_SECONDS="1", EXIT_CODE=code))]}}}}

    client.create(job("ok", "0", 0), namespace)
    client.create(job("bad", "1", 1), namespace)

    def cond(name: str, ctype: str) -> bool:
        j = client.get(f"/apis/batch/v1/namespaces/{namespace}/jobs/{name}")
        return any(c["type"] == ctype and c["status"] == "True" for c in j.get("status", {}).get("conditions", []))

    wait_for(lambda: cond("ok", "Complete"), 40, what="job ok Complete")
    wait_for(lambda: cond("bad", "Failed"), 90, what="job bad Failed")
    j = client.get(f"/apis/batch/v1/namespaces/{namespace}/jobs/bad")
    failed = next(c for c in j["status"]["conditions"] if c["type"] == "Failed")
    assert failed["reason"] == "BackoffLimitExceeded"


def test_service_gets_ready_endpoints_from_real_controller(client, namespace):
    labels = {"app": "web"}
    client.create({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}, "spec": {
        "replicas": 2, "selector": {"matchLabels": labels}, "template": {"metadata": {"labels": labels}, "spec": {
            "terminationGracePeriodSeconds": 1,
            "containers": [container("sandbox/web:1.0", ports=[{"containerPort": 8080}],
                                     readinessProbe={"httpGet": {"path": "/ready", "port": 8080},
                                                     "periodSeconds": 1})]}}}}, namespace)
    client.create({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
                   "spec": {"selector": labels, "ports": [{"port": 80, "targetPort": 8080}]}}, namespace)

    def ready_ips() -> set[str]:
        ep = client.get_or_none(f"/api/v1/namespaces/{namespace}/endpoints/web") or {}
        return {a["ip"] for s in ep.get("subsets") or [] for a in s.get("addresses") or []}

    ips = wait_for(lambda: len(ready_ips()) == 2 and ready_ips(), 40, what="2 ready endpoints")
    pods = client.list(f"/api/v1/namespaces/{namespace}/pods", labelSelector="app=web")
    assert ips == {p["status"]["podIP"] for p in pods}


def test_upstream_lookup_and_rbac_forbidden(client, namespace):
    client.create(pod("caller", [container("sandbox/api:1.0", env=env(DATABASE_URL="postgres://db/x",
                                                                          UPSTREAM="payments-db:5432"))]), namespace)
    client.create(pod("lister", [container("sandbox/k8s-client:1.0")]), namespace)
    wait_for(lambda: container_status(client, namespace, "caller").get("restartCount", 0) >= 1, 30)
    assert "no such host" in logs(client, namespace, "caller", previous="true")
    wait_for(lambda: container_status(client, namespace, "lister").get("restartCount", 0) >= 1, 30)
    text = logs(client, namespace, "lister", previous="true")
    assert f'User "system:serviceaccount:{namespace}:default" cannot list resource "pods"' in text


def test_graceful_deletion_and_metrics(client, namespace):
    client.create(pod("m", [container("redis:7", resources={"requests": {"cpu": "50m"}})]), namespace)
    wait_for(lambda: _ready(client, namespace, "m"), 30)
    node = get_pod(client, namespace, "m")["spec"]["nodeName"]
    metrics = client.get_text(f"/api/v1/nodes/{node}/proxy/metrics/resource")
    assert f'container_memory_working_set_bytes{{container="app",namespace="{namespace}",pod="m"}}' in metrics
    client.delete(f"/api/v1/namespaces/{namespace}/pods/m")
    wait_for(lambda: client.get_or_none(f"/api/v1/namespaces/{namespace}/pods/m") is None, 20, what="pod gone")
    assert event_matching(client, namespace, "Killing", "Stopping container app", "m")


def test_logs_of_waiting_container_and_missing_previous_are_clear_errors(client, namespace):
    client.create(pod("wait", [container("nginx:0.0.0-nope")]), namespace)
    wait_for(lambda: waiting_reason(client, namespace, "wait") in ("ErrImagePull", "ImagePullBackOff"), 20)
    with pytest.raises(ApiError) as err:
        logs(client, namespace, "wait")
    assert "waiting to start" in str(err.value)


def test_node_conditions_are_played(sandbox, client, namespace):
    name = f"{namespace}-n"[:60]
    upsert_nodes(client, [NodeSpec(name=name, labels={"pool": namespace[:60]})])
    try:
        def node_cond(ctype: str) -> str:
            n = client.get_or_none(f"/api/v1/nodes/{name}") or {}
            return next((c["status"] for c in n.get("status", {}).get("conditions", []) if c["type"] == ctype), "")

        wait_for(lambda: node_cond("Ready") == "True", 20, what="extra node Ready")
        sandbox.set_node_condition(name, "MemoryPressure")
        wait_for(lambda: node_cond("MemoryPressure") == "True", 20)
        sandbox.set_node_condition(name, "NotReady")
        wait_for(lambda: node_cond("Ready") == "False", 20)
        client.create(pod("pinned", [container("nginx:1.25")], nodeSelector={"pool": namespace[:60]},
                          tolerations=[{"key": "node.kubernetes.io/not-ready", "operator": "Exists",
                                        "effect": "NoSchedule"},
                                       {"key": "node.kubernetes.io/memory-pressure", "operator": "Exists",
                                        "effect": "NoSchedule"}]), namespace)
        # DefaultTolerationSeconds gives 20 s for not-ready; then the taint manager evicts the pod.
        wait_for(lambda: client.get_or_none(f"/api/v1/namespaces/{namespace}/pods/pinned") is None, 90,
                 what="eviction from the NotReady node")
        sandbox.set_node_condition(name, "Unreachable")
        wait_for(lambda: node_cond("Ready") == "Unknown", 60, what="node controller marks it Unknown")
    finally:
        remove_nodes(client, [name])
    assert name not in {n.name for n in read_nodes(client)}
    wait_for(lambda: client.get_or_none(f"/api/v1/nodes/{name}") is None, 20, what="node deleted")


def test_app_retrying_its_upstream_heals_when_the_upstream_comes_up(client, namespace):
    client.create(pod("orders", [container("sandbox/api:1.0", env=env(DATABASE_URL="postgres://db/x",
                                                                          UPSTREAM="inventory:8080"))]), namespace)
    wait_for(lambda: "retrying" in logs_so_far(client, namespace, "orders"), 20, what="the app retrying its upstream")
    client.create(pod("inventory", [container("sandbox/web:1.0")]), namespace)
    client.create({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "inventory"},
                   "spec": {"selector": {"app": "inventory"}, "ports": [{"port": 8080}]}}, namespace)
    wait_for(lambda: _ready(client, namespace, "orders") and "upstream reachable" in logs_so_far(client, namespace,
                                                                                                  "orders"),
             30, what="orders healed without a restart")
    assert container_status(client, namespace, "orders")["restartCount"] == 0


def test_simulator_restart_keeps_logs_restart_counts_and_ips(sandbox, client, namespace):
    client.create(pod("done", [container("busybox", command=["sh", "-c", "echo finished work"])],
                      restartPolicy="Never"), namespace)
    client.create(pod("crashy", [container("sandbox/api:1.0")]), namespace)
    client.create(pod("steady", [container("nginx:1.25")]), namespace)
    wait_for(lambda: get_pod(client, namespace, "done")["status"].get("phase") == "Succeeded", 30)
    wait_for(lambda: container_status(client, namespace, "crashy").get("restartCount", 0) >= 1, 30)
    wait_for(lambda: _ready(client, namespace, "steady"), 30)
    restarts = container_status(client, namespace, "crashy")["restartCount"]
    ip = get_pod(client, namespace, "steady")["status"]["podIP"]

    sandbox.restart_process("simulator")

    wait_for(lambda: _ready(client, namespace, "steady"), 30, what="steady Ready again after the restart")
    assert logs(client, namespace, "done") == "finished work\n"
    assert get_pod(client, namespace, "steady")["status"]["podIP"] == ip
    assert container_status(client, namespace, "crashy")["restartCount"] >= restarts
    assert "DATABASE_URL" in logs(client, namespace, "crashy", previous="true")


def test_metrics_api_feeds_the_hpa_and_top(client, namespace):
    def deployment(name: str, resources: dict) -> dict:
        labels = {"app": name}
        return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name}, "spec": {
            "replicas": 1, "selector": {"matchLabels": labels}, "template": {"metadata": {"labels": labels}, "spec": {
                "terminationGracePeriodSeconds": 1,
                "containers": [container("sandbox/web:1.0", resources=resources)]}}}}

    def hpa(name: str) -> dict:
        return {"apiVersion": "autoscaling/v1", "kind": "HorizontalPodAutoscaler", "metadata": {"name": name},
                "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
                         "minReplicas": 1, "maxReplicas": 3, "targetCPUUtilizationPercentage": 80}}

    client.create(deployment("norequests", {}), namespace)
    client.create(hpa("norequests"), namespace)
    client.create(deployment("withrequests", {"requests": {"cpu": "20m", "memory": "32Mi"}}), namespace)
    client.create(hpa("withrequests"), namespace)

    def scaling_active() -> dict:
        h = client.get(f"/apis/autoscaling/v2beta2/namespaces/{namespace}/horizontalpodautoscalers/norequests")
        return next((c for c in (h.get("status") or {}).get("conditions") or [] if c["type"] == "ScalingActive"), {})

    cond = wait_for(lambda: "missing request for cpu" in scaling_active().get("message", "") and scaling_active(),
                    60, what="the HPA controller reading metrics.k8s.io")
    assert cond["status"] == "False" and cond["reason"] == "FailedGetResourceMetric"
    pods = client.list(f"/apis/metrics.k8s.io/v1beta1/namespaces/{namespace}/pods")
    assert pods and pods[0]["containers"][0]["usage"]["memory"].endswith("Ki")
    assert pods[0]["metadata"]["labels"] == {"app": "norequests", "pod-template-hash": pods[0]["metadata"][
        "labels"]["pod-template-hash"]}
    # With requests the controller computes a real utilisation (usage / request) once samples are fresh.
    def utilisation() -> int | None:
        h = client.get(f"/apis/autoscaling/v1/namespaces/{namespace}/horizontalpodautoscalers/withrequests")
        return (h.get("status") or {}).get("currentCPUUtilizationPercentage")

    assert wait_for(utilisation, 120, what="a computed CPU utilisation") > 0
    nodes = client.list("/apis/metrics.k8s.io/v1beta1/nodes")
    assert {n["metadata"]["name"] for n in nodes} >= {"sandbox-node-1", "sandbox-node-2", "sandbox-node-3"}


def test_pod_bound_while_node_unreachable_starts_when_it_returns(sandbox, client, namespace):
    name = f"{namespace}-u"[:60]
    upsert_nodes(client, [NodeSpec(name=name, condition="Unreachable")])
    try:
        wait_for(lambda: client.get_or_none(f"/api/v1/nodes/{name}"), 20, what="node registered")
        client.create(pod("late", [container("nginx:1.25")], nodeName=name), namespace)
        time.sleep(3)
        assert not get_pod(client, namespace, "late").get("status", {}).get("containerStatuses"), \
            "a dead kubelet must not report container status"
        sandbox.set_node_condition(name, "Ready")
        wait_for(lambda: _ready(client, namespace, "late"), 30, what="the pod starting once the node is back")
    finally:
        remove_nodes(client, [name])


PUBLIC_IMAGES = {
    "nginx": container("nginx:1.27", ports=[{"containerPort": 80}],
                       readinessProbe={"httpGet": {"path": "/", "port": 80}, "periodSeconds": 1}),
    "httpd": container("httpd:2.4", ports=[{"containerPort": 80}]),
    "redis": container("redis:7.2", readinessProbe={"tcpSocket": {"port": 6379}, "periodSeconds": 1}),
    "postgres": container("postgres:16", env=env(POSTGRES_PASSWORD="example")),
    "mysql": container("mysql:8.0", env=env(MYSQL_ROOT_PASSWORD="example")),
    "busybox": container("busybox:1.36", command=["sh", "-c", "while true; do echo alive; sleep 5; done"]),
    "alpine": container("alpine:3.19", command=["sleep", "3600"]),
    "python": container("python:3.12", command=["python", "-m", "http.server", "8000"],
                        readinessProbe={"httpGet": {"path": "/", "port": 8000}, "periodSeconds": 1}),
    "node": container("node:20", command=["node", "-e", "setInterval(() => console.log('tick'), 1000)"]),
}


def test_common_public_images_run_unchanged(client, namespace):
    for name, spec in PUBLIC_IMAGES.items():
        client.create(pod(name, [{**spec, "name": "app"}]), namespace)
    pending = set(PUBLIC_IMAGES)

    def not_ready() -> set[str]:
        pending.difference_update({n for n in list(pending) if _ready(client, namespace, n)})
        return pending

    wait_for(lambda: not not_ready(), 60, what=f"public images Ready (still waiting: {pending})")
    for name in PUBLIC_IMAGES:
        assert container_status(client, namespace, name)["restartCount"] == 0, name
    wait_for(lambda: "database system is ready to accept connections" in logs_so_far(client, namespace, "postgres"),
             30,
             what="postgres finishing initdb")
    assert "Ready to accept connections" in logs(client, namespace, "redis")
    assert len(logs(client, namespace, "postgres", limitBytes="10")) == 10
