"""The sandbox: a real control plane on loopback plus the node simulator, in a data dir of its own.

`Sandbox.up()` starts etcd, kube-apiserver, kube-controller-manager, kube-scheduler and the node
simulator as detached processes (they outlive the CLI call that started them), records their pids
and ports in ``<data_dir>/sandbox.json``, writes a kubeconfig with three identities and waits until
``/readyz`` is ok and every node is Ready. `down()` stops exactly those pids.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import platformdirs
import psutil
import yaml

from kubecopilot.errors import SandboxError, SandboxNotRunningError
from kubecopilot.sandbox._binaries import find_binaries
from kubecopilot.sandbox._nodecontrol import NodeSpec, read_nodes, remove_nodes, upsert_nodes
from kubecopilot.sandbox._pki import generate_pki
from kubecopilot.sandbox._rbac import bootstrap_rbac
from kubecopilot.sandbox._rest import ApiError, RestClient

__all__ = ["IDENTITIES", "Sandbox", "default_data_dir"]

# context name -> (user, groups). Tokens are generated per sandbox.
IDENTITIES: dict[str, tuple[str, str]] = {
    "sandbox-admin": ("sandbox-admin", "system:masters"),
    "sandbox-viewer": ("sandbox-viewer", "kubecopilot:viewers"),
    "sandbox-operator": ("sandbox-operator", "kubecopilot:operators"),
}
_COMPONENT_USERS = {
    "controller-manager": ("system:kube-controller-manager", ""),
    "scheduler": ("system:kube-scheduler", ""),
    "simulator": ("kubecopilot-simulator", "system:masters"),
}
PROCESSES = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "simulator")
ZONES = ("zone-a", "zone-b", "zone-c")


def default_data_dir() -> Path:
    """``KUBECOPILOT_SANDBOX_DIR`` or ``<user data dir>/kubecopilot/sandbox``."""
    env = os.environ.get("KUBECOPILOT_SANDBOX_DIR")
    return Path(env) if env else Path(platformdirs.user_data_dir("kubecopilot")) / "sandbox"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Sandbox:
    """A local Kubernetes control plane plus simulated nodes.

    >>> with Sandbox(nodes=3) as sb:          # doctest: +SKIP
    ...     print(sb.kubeconfig_path)

    ``data_dir`` defaults to `default_data_dir()`; ``bin_dir`` to the lookup in `find_binaries`.
    Without ``data_dir`` the context-manager form uses a fresh temporary directory.
    """

    nodes: int = 3
    data_dir: Path | None = None
    bin_dir: Path | None = None
    node_cpu: str = "4"
    node_memory: str = "8Gi"
    node_pods: int = 110
    verbose: bool = False
    _state: dict[str, Any] = field(default_factory=dict, repr=False)
    _client: RestClient | None = field(default=None, repr=False)
    _owns_tmp: bool = field(default=False, repr=False)

    def __post_init__(self) -> None:
        if self.data_dir is not None:
            self.data_dir = Path(self.data_dir)
        if self.nodes < 0:
            raise ValueError("nodes must be >= 0")

    # -- paths & state ----------------------------------------------------------------------------
    @property
    def dir(self) -> Path:
        if self.data_dir is None:
            self.data_dir = default_data_dir()
        return self.data_dir

    @property
    def state_path(self) -> Path:
        return self.dir / "sandbox.json"

    @property
    def kubeconfig_path(self) -> Path:
        return self.dir / "kubeconfig"

    @property
    def logs_dir(self) -> Path:
        return self.dir / "logs"

    def _load_state(self) -> dict[str, Any]:
        if not self._state and self.state_path.exists():
            self._state = json.loads(self.state_path.read_text())
        return self._state

    def _save_state(self) -> None:
        _write_private(self.state_path, json.dumps(self._state, indent=1))

    @property
    def server(self) -> str:
        state = self._load_state()
        if not state:
            raise SandboxNotRunningError(f"no sandbox in {self.dir}; start one with `kubecopilot sandbox up`")
        return f"https://127.0.0.1:{state['ports']['apiserver']}"

    def client(self, context: str = "sandbox-admin") -> RestClient:
        """A raw JSON client for one of the kubeconfig's identities."""
        state = self._load_state()
        if context == "sandbox-admin" and self._client is not None:
            return self._client
        if context not in state.get("tokens", {}):
            raise SandboxError(f"unknown sandbox context {context!r}; known: {', '.join(IDENTITIES)}")
        c = RestClient(self.server, state["tokens"][context], str(self.dir / "pki" / "ca.crt"))
        if context == "sandbox-admin":
            self._client = c
        return c

    # -- lifecycle ----------------------------------------------------------------------------------
    def __enter__(self) -> Sandbox:
        if self.data_dir is None:
            self.data_dir = Path(tempfile.mkdtemp(prefix="kubecopilot-sandbox-"))
            self._owns_tmp = True
        self.up()
        return self

    def __exit__(self, *exc: object) -> None:
        self.down()
        if self._owns_tmp:
            shutil.rmtree(self.dir, ignore_errors=True)

    def running(self) -> dict[str, bool]:
        """Which of this sandbox's processes are alive (by recorded pid and data dir)."""
        state = self._load_state()
        return {name: _alive(info) for name, info in state.get("processes", {}).items()}

    def up(self, *, timeout: float = 60.0) -> Sandbox:
        """Start everything (idempotent: an already running sandbox in this data dir is reused)."""
        self.dir.mkdir(parents=True, exist_ok=True)
        alive = self.running()
        if alive and all(alive.values()):
            self._say(f"sandbox already running in {self.dir}")
            return self
        if any(alive.values()):
            self.down()
        self._state = {}
        started = time.monotonic()
        started_wall = time.time()
        bins = find_binaries(self.bin_dir)
        pki = generate_pki(self.dir / "pki")
        self.logs_dir.mkdir(exist_ok=True)
        ports = {k: _free_port() for k in ("etcd", "etcd_peer", "apiserver", "controller_manager",
                                            "scheduler", "kubelet")}
        tokens = {ctx: secrets.token_urlsafe(24) for ctx in IDENTITIES}
        tokens.update({c: secrets.token_urlsafe(24) for c in _COMPONENT_USERS})
        self._state = {"ports": ports, "tokens": tokens, "processes": {}, "version": 1,
                       "nodes": self.nodes, "started_at": time.time()}
        self._write_token_file(tokens)
        self._save_state()
        self._write_kubeconfigs()
        try:
            self._spawn("etcd", [
                str(bins["etcd"]), "--name=sandbox", f"--data-dir={self.dir / 'etcd'}",
                f"--listen-client-urls=http://127.0.0.1:{ports['etcd']}",
                f"--advertise-client-urls=http://127.0.0.1:{ports['etcd']}",
                f"--listen-peer-urls=http://127.0.0.1:{ports['etcd_peer']}",
                f"--initial-advertise-peer-urls=http://127.0.0.1:{ports['etcd_peer']}",
                f"--initial-cluster=sandbox=http://127.0.0.1:{ports['etcd_peer']}",
                "--quota-backend-bytes=4294967296", "--snapshot-count=10000", "--log-level=warn",
            ], env={"ETCD_UNSUPPORTED_ARCH": ""})
            self._spawn("kube-apiserver", [
                str(bins["kube-apiserver"]),
                f"--etcd-servers=http://127.0.0.1:{ports['etcd']}",
                "--bind-address=127.0.0.1", "--advertise-address=127.0.0.1",
                f"--secure-port={ports['apiserver']}", "--insecure-port=0",
                "--service-cluster-ip-range=10.96.0.0/12",
                "--authorization-mode=RBAC",
                f"--token-auth-file={self.dir / 'tokens.csv'}",
                f"--client-ca-file={pki.ca_crt}",
                f"--tls-cert-file={pki.apiserver_crt}", f"--tls-private-key-file={pki.apiserver_key}",
                "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
                f"--service-account-key-file={pki.sa_pub}",
                f"--service-account-signing-key-file={pki.sa_key}",
                f"--kubelet-client-certificate={pki.apiserver_kubelet_client_crt}",
                f"--kubelet-client-key={pki.apiserver_kubelet_client_key}",
                f"--kubelet-certificate-authority={pki.ca_crt}",
                "--kubelet-preferred-address-types=InternalIP",
                f"--requestheader-client-ca-file={pki.front_proxy_ca_crt}",
                "--requestheader-allowed-names=front-proxy-client",
                "--requestheader-extra-headers-prefix=X-Remote-Extra-",
                "--requestheader-group-headers=X-Remote-Group",
                "--requestheader-username-headers=X-Remote-User",
                f"--proxy-client-cert-file={pki.front_proxy_client_crt}",
                f"--proxy-client-key-file={pki.front_proxy_client_key}",
                "--enable-aggregator-routing=true",
                # Pods on a NotReady / unreachable node are evicted after 20 s instead of 300 s.
                "--default-not-ready-toleration-seconds=20",
                "--default-unreachable-toleration-seconds=20",
                "--allow-privileged=true", "--profiling=false", "--event-ttl=2h",
                "--max-requests-inflight=800", "--max-mutating-requests-inflight=400",
                "--v=1",
            ])
            self._wait_ready(timeout)
            bootstrap_rbac(self.client())
            specs = [self._default_node(i) for i in range(1, self.nodes + 1)]
            if specs:
                upsert_nodes(self.client(), specs)
            # A data dir reused with fewer nodes than last time: drop the surplus default nodes.
            surplus = [n.name for n in read_nodes(self.client())
                       if n.name.startswith("sandbox-node-") and n.name not in {s.name for s in specs}]
            if surplus:
                remove_nodes(self.client(), surplus)
            common = ["--bind-address=127.0.0.1", "--port=0", "--leader-elect=false",
                      "--kube-api-qps=200", "--kube-api-burst=400", "--v=1", "--profiling=false"]
            cm_kubeconfig = self.dir / "controller-manager.kubeconfig"
            self._spawn("kube-controller-manager", [
                str(bins["kube-controller-manager"]), f"--kubeconfig={cm_kubeconfig}",
                f"--authentication-kubeconfig={cm_kubeconfig}", f"--authorization-kubeconfig={cm_kubeconfig}",
                f"--secure-port={ports['controller_manager']}",
                "--use-service-account-credentials=true",
                f"--service-account-private-key-file={pki.sa_key}", f"--root-ca-file={pki.ca_crt}",
                f"--cluster-signing-cert-file={pki.ca_crt}", f"--cluster-signing-key-file={pki.ca_key}",
                "--controllers=*,bootstrapsigner,tokencleaner",
                "--node-monitor-grace-period=20s", "--node-monitor-period=2s",
                "--horizontal-pod-autoscaler-sync-period=10s",
                "--concurrent-deployment-syncs=10", "--concurrent-replicaset-syncs=10",
                "--concurrent-endpoint-syncs=10", "--concurrent-service-syncs=2",
                *common,
            ])
            sched_kubeconfig = self.dir / "scheduler.kubeconfig"
            self._spawn("kube-scheduler", [
                str(bins["kube-scheduler"]), f"--kubeconfig={sched_kubeconfig}",
                f"--authentication-kubeconfig={sched_kubeconfig}",
                f"--authorization-kubeconfig={sched_kubeconfig}",
                f"--secure-port={ports['scheduler']}", *common,
            ])
            self._spawn("simulator", [sys.executable, "-m", "kubecopilot.sandbox.simulator",
                                      "--data-dir", str(self.dir)])
            self._wait_nodes_ready(timeout)
            self._wait_simulator_synced(started_wall, timeout)
            self._wait_service_account("default", timeout)
            self._check_alive()
        except BaseException:
            self.down(quiet=True)
            raise
        self._say(f"sandbox up in {time.monotonic() - started:.1f}s: {self.server} "
                  f"({self.nodes} nodes); kubeconfig {self.kubeconfig_path}")
        return self

    def down(self, *, quiet: bool = False, timeout: float = 15.0, purge: bool = False) -> list[str]:
        """Stop every process this sandbox started; return the names that were running.

        ``purge`` also deletes the data dir (etcd state, certificates, logs, kubeconfig)."""
        state = self._load_state()
        procs = state.get("processes", {})
        stopped: list[str] = []
        # Simulator and controllers first so nothing writes to a dying API server, etcd last.
        for name in reversed(PROCESSES):
            info = procs.get(name)
            if info and _alive(info):
                _terminate(info["pid"], timeout)
                stopped.append(name)
        if state:
            state["processes"] = {}
            self._save_state()
        self._client = None
        if not quiet:
            self._say("stopped " + (", ".join(stopped) if stopped else "nothing (no sandbox process was running)"))
        if purge and self.dir.exists():
            if not (self.dir / "sandbox.json").exists() and not (self.dir / "etcd").exists():
                raise SandboxError(f"refusing to delete {self.dir}: it does not look like a sandbox data dir")
            shutil.rmtree(self.dir)
            self._state = {}
            if not quiet:
                self._say(f"deleted {self.dir}")
        return stopped

    def pids(self) -> dict[str, int]:
        """Pids of the processes this sandbox started (alive or not)."""
        return {n: int(i["pid"]) for n, i in self._load_state().get("processes", {}).items()}

    def simulator_stats(self) -> dict[str, Any]:
        """The simulator's counters (pods, transitions, status writes, events), refreshed every second."""
        path = self.dir / "simulator-stats.json"
        return json.loads(path.read_text()) if path.exists() else {}

    def status(self) -> dict[str, Any]:
        """What runs and where: processes with pids and liveness, ports, nodes and their Ready status."""
        state = self._load_state()
        if not state:
            raise SandboxNotRunningError(f"no sandbox in {self.dir}; start one with `kubecopilot sandbox up`")
        out: dict[str, Any] = {
            "data_dir": str(self.dir), "server": self.server, "kubeconfig": str(self.kubeconfig_path),
            "processes": {n: {"pid": i["pid"], "running": _alive(i), "log": i["log"]}
                          for n, i in state.get("processes", {}).items()},
            "contexts": list(IDENTITIES),
            "ports": {k: v for k, v in state.get("ports", {}).items() if k != "kubelet"},
        }
        if out["processes"].get("kube-apiserver", {}).get("running"):
            try:
                nodes = self.client().list("/api/v1/nodes")
                out["nodes"] = {
                    n["metadata"]["name"]: next((c["status"] for c in n.get("status", {}).get("conditions", [])
                                                 if c["type"] == "Ready"), "Unknown")
                    for n in nodes
                }
            except Exception as e:
                out["nodes_error"] = str(e)
        return out

    def logs(self, process: str = "kube-apiserver", lines: int = 50) -> str:
        """The last ``lines`` lines of one process's log file."""
        if process not in PROCESSES:
            raise SandboxError(f"unknown sandbox process {process!r}; choose one of {', '.join(PROCESSES)}")
        path = self.logs_dir / f"{process}.log"
        if not path.exists():
            raise SandboxNotRunningError(f"no log for {process} in {self.logs_dir}")
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - 256 * 1024))
            data = f.read().decode(errors="replace")
        return "\n".join(data.splitlines()[-lines:])

    def restart_process(self, name: str, *, timeout: float = 15.0) -> None:
        """Stop and start one process with its original command line (e.g. the simulator, as a kubelet
        restart). Its state in etcd and on disk is kept."""
        info = self._load_state().get("processes", {}).get(name)
        if not info:
            raise SandboxError(f"no {name} process recorded in {self.dir}; choose one of {', '.join(PROCESSES)}")
        if _alive(info):
            _terminate(info["pid"], timeout)
        started = time.time()
        self._spawn(name, info["argv"], info.get("env") or None)
        if name == "kube-apiserver":
            self._wait_ready(timeout * 4)
        elif name == "simulator":
            self._wait_simulator_synced(started, timeout * 4)

    def _wait_simulator_synced(self, since: float, timeout: float) -> None:
        """Until the simulator has re-registered its nodes and listed the pods it plays."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._check_alive()
            stats = self.simulator_stats()
            if stats.get("synced") and stats.get("time", 0) > since:
                return
            time.sleep(0.2)
        raise SandboxError(f"the simulator did not sync within {timeout:.0f}s; "
                           "see `kubecopilot sandbox logs simulator`")

    # -- node control ---------------------------------------------------------------------------
    def add_node(self, spec: NodeSpec) -> None:
        upsert_nodes(self.client(), [spec])

    def set_node_condition(self, name: str, condition: str) -> None:
        """Play a node condition: Ready, NotReady, Unreachable, MemoryPressure, DiskPressure, PIDPressure."""
        nodes = {n.name: n for n in read_nodes(self.client())}
        if name not in nodes:
            raise SandboxError(f"the simulator plays no node {name!r}; nodes: {', '.join(sorted(nodes))}")
        spec = nodes[name]
        spec.condition = condition
        spec.__post_init__()
        upsert_nodes(self.client(), [spec])

    # -- internals --------------------------------------------------------------------------------
    def _default_node(self, i: int) -> NodeSpec:
        return NodeSpec(
            name=f"sandbox-node-{i}", cpu=self.node_cpu, memory=self.node_memory, pods=self.node_pods,
            labels={"topology.kubernetes.io/zone": ZONES[(i - 1) % len(ZONES)],
                    "node.kubernetes.io/instance-type": "sandbox.large"},
        )

    def _say(self, msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    def _write_token_file(self, tokens: dict[str, str]) -> None:
        rows = []
        for ctx, (user, groups) in {**IDENTITIES, **_COMPONENT_USERS}.items():
            rows.append(f'{tokens[ctx]},{user},{user},"{groups}"' if groups else f"{tokens[ctx]},{user},{user}")
        _write_private(self.dir / "tokens.csv", "\n".join(rows) + "\n")

    def _kubeconfig(self, contexts: dict[str, str], current: str) -> dict[str, Any]:
        ca = (self.dir / "pki" / "ca.crt").read_text()
        return {
            "apiVersion": "v1", "kind": "Config", "preferences": {},
            "clusters": [{"name": "sandbox", "cluster": {
                "server": self.server,
                "certificate-authority-data": base64.b64encode(ca.encode()).decode()}}],
            "users": [{"name": ctx, "user": {"token": token}} for ctx, token in contexts.items()],
            "contexts": [{"name": ctx, "context": {"cluster": "sandbox", "user": ctx, "namespace": "default"}}
                         for ctx in contexts],
            "current-context": current,
        }

    def _write_kubeconfigs(self) -> None:
        tokens = self._state["tokens"]
        files = {
            "kubeconfig": self._kubeconfig({c: tokens[c] for c in IDENTITIES}, "sandbox-admin"),
            "controller-manager.kubeconfig": self._kubeconfig(
                {"controller-manager": tokens["controller-manager"]}, "controller-manager"),
            "scheduler.kubeconfig": self._kubeconfig({"scheduler": tokens["scheduler"]}, "scheduler"),
        }
        for name, content in files.items():
            _write_private(self.dir / name, yaml.safe_dump(content, sort_keys=False))

    def _spawn(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> None:
        log = self.logs_dir / f"{name}.log"
        with open(log, "ab") as out:
            proc = subprocess.Popen(
                argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                cwd=self.dir, start_new_session=True, env={**os.environ, **(env or {})},
            )
        try:
            create_time = psutil.Process(proc.pid).create_time()
        except psutil.Error:
            create_time = 0.0
        self._state["processes"][name] = {"pid": proc.pid, "log": str(log), "create_time": create_time,
                                          "argv": argv, "env": env or {}}
        self._save_state()
        time.sleep(0.2)
        if proc.poll() is not None:
            raise SandboxError(f"{name} exited at once (code {proc.returncode}); its log {log} ends with:\n"
                               + self.logs(name, 20))

    def _check_alive(self) -> None:
        for name, ok in self.running().items():
            if not ok:
                raise SandboxError(f"{name} stopped while the sandbox was starting; its log ends with:\n"
                                   + self.logs(name, 30))

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            self._check_alive()
            try:
                self.client().request("GET", "/readyz")
                return
            except ApiError as e:
                last = str(e)
            except Exception as e:  # connection refused while it starts
                last = f"{type(e).__name__}: {e}"
            time.sleep(0.3)
        raise SandboxError(f"kube-apiserver not ready after {timeout:.0f}s ({last}); "
                           f"see `kubecopilot sandbox logs kube-apiserver`")

    def _wait_nodes_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        want = {f"sandbox-node-{i}" for i in range(1, self.nodes + 1)}
        ready: set[str] = set()
        while time.monotonic() < deadline:
            self._check_alive()
            ready = set()
            for n in self.client().list("/api/v1/nodes"):
                conds = {c["type"]: c["status"] for c in n.get("status", {}).get("conditions", [])}
                if conds.get("Ready") == "True":
                    ready.add(n["metadata"]["name"])
            if want <= ready:
                return
            time.sleep(0.3)
        raise SandboxError(f"nodes not Ready after {timeout:.0f}s: {sorted(want - ready)}; "
                           f"see `kubecopilot sandbox logs simulator`")

    def _wait_service_account(self, namespace: str, timeout: float) -> None:
        """Pods can only be created once the namespace's default ServiceAccount has its token."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            sa = self.client().get_or_none(f"/api/v1/namespaces/{namespace}/serviceaccounts/default")
            if sa and sa.get("secrets"):
                return
            time.sleep(0.3)
        raise SandboxError(f"the token controller did not create a token for {namespace}/default in {timeout:.0f}s; "
                           "see `kubecopilot sandbox logs kube-controller-manager`")


def _write_private(path: Path, text: str) -> None:
    """Write a file only its owner can read (tokens, kubeconfigs, the state file)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # the mode above only applies when the file is created
    with os.fdopen(fd, "w") as f:
        f.write(text)


def _alive(info: dict[str, Any]) -> bool:
    """True if the recorded pid is still the process we started (not a reused pid)."""
    try:
        p = psutil.Process(info["pid"])
        if p.status() == psutil.STATUS_ZOMBIE:
            return False
        return not (info.get("create_time") and abs(p.create_time() - info["create_time"]) > 1)
    except psutil.Error:
        return False


def _terminate(pid: int, timeout: float) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGTERM)
    try:
        psutil.Process(pid).wait(timeout)
    except psutil.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
        with contextlib.suppress(psutil.Error):
            psutil.Process(pid).wait(5)
    except psutil.Error:
        pass
