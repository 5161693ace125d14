"""The sandbox as a whole: identities and RBAC, status, logs, and `down` leaving no process behind."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
import yaml

from kubecopilot.errors import SandboxError, SandboxNotRunningError
from kubecopilot.sandbox import IDENTITIES, Sandbox
from kubecopilot.sandbox._rest import ApiError
from tests.conftest import wait_for

pytestmark = pytest.mark.sandbox


def _deployment(name: str) -> dict:
    labels = {"app": name}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name}, "spec": {
        "replicas": 1, "selector": {"matchLabels": labels}, "template": {"metadata": {"labels": labels}, "spec": {
            "containers": [{"name": "app", "image": "sandbox/web:1.0"}]}}}}


def test_kubeconfig_has_three_contexts_and_no_world_readable_secrets(sandbox: Sandbox):
    config = yaml.safe_load(sandbox.kubeconfig_path.read_text())
    assert {c["name"] for c in config["contexts"]} == set(IDENTITIES)
    assert config["current-context"] == "sandbox-admin"
    for path in (sandbox.kubeconfig_path, sandbox.dir / "tokens.csv", sandbox.dir / "pki" / "ca.key",
                 sandbox.state_path):
        assert path.stat().st_mode & 0o077 == 0, f"{path} is readable by others"
    assert "token" not in repr(sandbox) and "sandbox.json" not in repr(sandbox)


def test_viewer_reads_but_cannot_write_or_read_secrets(sandbox: Sandbox, namespace: str):
    viewer = sandbox.client("sandbox-viewer")
    admin = sandbox.client()
    admin.create(_deployment("web"), namespace)
    assert viewer.list(f"/apis/apps/v1/namespaces/{namespace}/deployments")
    assert viewer.list("/api/v1/nodes")
    with pytest.raises(ApiError) as err:
        viewer.patch(f"/apis/apps/v1/namespaces/{namespace}/deployments/web", {"spec": {"replicas": 2}})
    assert err.value.status == 403
    assert 'User "sandbox-viewer" cannot patch resource "deployments"' in str(err.value)
    with pytest.raises(ApiError) as err:
        viewer.list(f"/api/v1/namespaces/{namespace}/secrets")
    assert err.value.status == 403


def test_operator_scales_in_app_namespaces_but_not_in_kube_system(sandbox: Sandbox, namespace: str):
    operator = sandbox.client("sandbox-operator")
    sandbox.client().create(_deployment("web"), namespace)
    path = f"/apis/apps/v1/namespaces/{namespace}/deployments/web"

    def scale() -> bool:  # the RoleBinding is added by the simulator as the namespace appears
        try:
            operator.patch(path + "/scale", {"spec": {"replicas": 2}})
            return True
        except ApiError as e:
            assert e.status == 403
            return False

    wait_for(scale, 20, what="operator allowed to scale in a fresh namespace")
    assert operator.get(path)["spec"]["replicas"] == 2
    with pytest.raises(ApiError) as err:
        operator.patch("/apis/apps/v1/namespaces/kube-system/deployments/coredns/scale", {"spec": {"replicas": 0}})
    assert err.value.status == 403
    with pytest.raises(ApiError) as err:
        operator.delete(f"/apis/apps/v1/namespaces/{namespace}/deployments/web", missing_ok=False)
    assert err.value.status == 403


def test_unknown_context_is_a_clear_error(sandbox: Sandbox):
    with pytest.raises(SandboxError, match=r"unknown sandbox context 'sandbox-root'.*sandbox-viewer"):
        sandbox.client("sandbox-root")


def test_status_and_logs(sandbox: Sandbox):
    status = sandbox.status()
    assert all(p["running"] for p in status["processes"].values())
    assert set(status["processes"]) == {"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler",
                                        "simulator"}
    assert all(ready == "True" for name, ready in status["nodes"].items() if name.startswith("sandbox-node-"))
    assert "node simulator running" in sandbox.logs("simulator", 500)
    with pytest.raises(SandboxError, match="unknown sandbox process 'kubelet'"):
        sandbox.logs("kubelet")


def test_up_is_idempotent_and_down_leaves_no_process(tmp_path: Path):
    sb = Sandbox(nodes=1, data_dir=tmp_path / "sb")
    try:
        _up_down_and_purge(sb)
    finally:
        sb.down(quiet=True)  # a failed assertion must not leave a control plane running


def _up_down_and_purge(sb: Sandbox) -> None:
    sb.up()
    pids = sb.pids()
    assert len(pids) == 5
    started = time.time()
    sb.up()  # already running: reused, nothing restarted
    assert sb.pids() == pids and time.time() - started < 5
    cli = subprocess.run([sys.executable, "-m", "kubecopilot.cli", "sandbox", "status", "--data-dir",
                          str(sb.dir)], capture_output=True, text=True, check=True)
    assert "kube-apiserver" in cli.stdout and "running" in cli.stdout
    stopped = sb.down(quiet=True)
    assert set(stopped) == set(pids)
    for name, pid in pids.items():
        assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE, name
    leftovers = [p.info for p in psutil.process_iter(["pid", "cmdline"])
                 if str(sb.dir) in " ".join(p.info["cmdline"] or [])]
    assert leftovers == []
    assert sb.down(quiet=True) == []
    # Reused with fewer nodes than before: the surplus default node is dropped.
    sb.nodes = 0
    sb.up()
    wait_for(lambda: not [n for n in sb.status()["nodes"] if n.startswith("sandbox-node-")], 20,
             what="the surplus node deleted by the simulator")
    sb.down(quiet=True, purge=True)
    assert not sb.dir.exists()


def test_status_of_a_missing_sandbox_says_how_to_start_one(tmp_path: Path):
    with pytest.raises(SandboxNotRunningError, match="kubecopilot sandbox up"):
        Sandbox(data_dir=tmp_path / "none").status()
