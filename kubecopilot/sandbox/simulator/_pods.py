"""The pod lifecycle engine: what a kubelet does for each pod bound to one of the simulated nodes.

One engine thread owns all pod state and runs a timer heap (mount checks, pulls, probe ticks,
program exits, restarts with back-off); API writes happen on sender threads so a slow request never
stalls the lifecycle. Status writes are coalesced: a pod marked dirty twice before a sender picks
it up is patched once with its latest status.

What each container *does* (logs, exit, OOM, served ports) comes from the image catalog
(`_catalog.start`); this module turns it into container states, pod phases, conditions and the
events a kubelet emits, with the kubelet's wording.
"""

from __future__ import annotations

import base64
import dataclasses
import heapq
import itertools
import json
import logging
import queue
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kubecopilot.sandbox._rest import ApiError, RestClient
from kubecopilot.sandbox.simulator import _catalog as catalog
from kubecopilot.sandbox.simulator._events import EventRecorder, now_rfc3339
from kubecopilot.sandbox.simulator._informer import Informer
from kubecopilot.sandbox.simulator._quantity import parse_quantity

__all__ = ["ContainerRuntime", "PodEngine", "PodRuntime"]

log = logging.getLogger(__name__)

BACKOFF_BASE = 10.0
BACKOFF_MAX = 300.0
MOUNT_RETRY = 4.0
CONFIG_RETRY = 4.0
_SA_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"


def rfc3339nano(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f") + "000Z"


@dataclass
class ContainerRuntime:
    spec: dict[str, Any]
    init: bool = False
    state: str = "waiting"                 # waiting | running | terminated
    reason: str = "ContainerCreating"      # waiting reason
    message: str = ""
    restart_count: int = 0
    started_at: float | None = None        # wall clock of the current instance
    mono_start: float = 0.0
    terminated: dict[str, Any] | None = None
    last_terminated: dict[str, Any] | None = None
    program: catalog.Program | None = None
    ctx: catalog.ContainerContext | None = None
    instance: int = 0
    container_id: str = ""
    ready: bool = False
    started: bool = False
    backoff: float = 0.0
    previous_logs: list[tuple[float, str]] = field(default_factory=list)
    probe_failures: dict[str, int] = field(default_factory=dict)
    probe_successes: dict[str, int] = field(default_factory=dict)
    startup_passed: bool = False
    pull_attempts: int = 0
    image_ref: str = ""
    restored_logs: list[tuple[float, str]] | None = None   # a finished instance's logs read back from disk

    @property
    def name(self) -> str:
        return str(self.spec["name"])

    @property
    def image(self) -> str:
        return str(self.spec.get("image", ""))

    def current_logs(self, now: float | None = None) -> list[tuple[float, str]]:
        """Lines written so far by the running (or last terminated) instance, as (wall time, line)."""
        if self.restored_logs is not None:
            return list(self.restored_logs)
        if self.program is None or self.started_at is None:
            return []
        end = now if now is not None else time.time()
        if self.terminated is not None and self.terminated.get("_finished") is not None:
            end = min(end, float(self.terminated["_finished"]))
        elapsed = end - self.started_at
        lines = [(self.started_at + off, text) for off, text in self.program.logs if off <= elapsed]
        p = self.program
        if p.periodic_log and p.outcome == "run" and p.periodic_seconds > 0:
            base = max((off for off, _ in p.logs), default=0.0)
            n = int(max(0.0, elapsed - base) // p.periodic_seconds)
            first = max(1, n - 5000 + 1)
            for i in range(first, n + 1):
                ts = self.started_at + base + i * p.periodic_seconds
                lines.append((ts, p.periodic_log.replace("{n}", str(i)).replace("{ts}", rfc3339nano(ts)[:19] + "Z")))
        return lines


@dataclass
class PodRuntime:
    uid: str
    namespace: str
    name: str
    node: str
    pod: dict[str, Any]
    ip: str = ""
    start_time: str = ""
    init: list[ContainerRuntime] = field(default_factory=list)
    containers: list[ContainerRuntime] = field(default_factory=list)
    init_done: bool = False
    volumes_ok: bool = False
    deleting: bool = False
    gone: bool = False
    phase: str = "Pending"
    begun: bool = False
    transitions: dict[str, tuple[str, str]] = field(default_factory=dict)   # condition -> (status, time)
    mount_attempts: int = 0

    @property
    def restart_policy(self) -> str:
        return str(self.pod.get("spec", {}).get("restartPolicy", "Always"))

    def all_containers(self) -> list[ContainerRuntime]:
        return self.init + self.containers

    def ref(self, container: ContainerRuntime | None = None) -> dict[str, Any]:
        ref = {"kind": "Pod", "namespace": self.namespace, "name": self.name, "uid": self.uid,
               "apiVersion": "v1", "resourceVersion": self.pod["metadata"].get("resourceVersion", "")}
        if container is not None:
            ref["fieldPath"] = f"spec.{'initContainers' if container.init else 'containers'}{{{container.name}}}"
        return ref


class PodEngine:
    """Runs every pod on the simulated nodes. Public methods are thread-safe (they post to the engine)."""

    def __init__(self, client: RestClient, events: EventRecorder, *, nodes: Callable[[], set[str]],
                 node_condition: Callable[[str], str], node_index: Callable[[str], int],
                 caches: dict[str, Informer], log_dir: Path | None = None, senders: int = 6) -> None:
        self.client = client
        self.logs = _LogStore(log_dir) if log_dir else None
        self.events = events
        self._nodes = nodes
        self._node_condition = node_condition
        self._node_index = node_index
        self.caches = caches
        self.pods: dict[str, PodRuntime] = {}                 # uid -> runtime
        self.by_name: dict[tuple[str, str], PodRuntime] = {}  # (ns, name) -> runtime
        self.lock = threading.RLock()                         # guards pods/by_name and runtime state
        self._inbox: queue.Queue[Callable[[], None]] = queue.Queue()
        self._timers: list[tuple[float, int, Callable[[], None]]] = []
        self._seq = itertools.count()
        self._dirty: dict[str, PodRuntime] = {}
        self._deferred: set[str] = set()
        self._dirty_cv = threading.Condition()
        self._ips: dict[str, set[int]] = {}
        self._pulled: dict[str, set[str]] = {}
        self.transitions = 0            # status transitions written (for the benchmark)
        self.status_writes = 0
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._engine_loop, name="pod-engine", daemon=True)]
        self._threads += [threading.Thread(target=self._sender_loop, name=f"status-{i}", daemon=True)
                          for i in range(senders)]

    def start(self) -> PodEngine:
        for t in self._threads:
            t.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    # -- inputs ------------------------------------------------------------------------------------
    def on_pod_event(self, etype: str, pod: dict[str, Any]) -> None:
        self._inbox.put(lambda: self._handle_pod(etype, pod))

    def nodes_changed(self) -> None:
        """Node conditions changed: flush status held back while a node was unreachable."""
        def flush() -> None:
            for uid in list(self._deferred):
                rt = self.pods.get(uid)
                if rt is None:
                    self._deferred.discard(uid)
                elif self._node_condition(rt.node) != "Unreachable":
                    self._deferred.discard(uid)
                    self._mark(rt)
        self._inbox.put(flush)

    def poke(self) -> None:
        """Something a pod may depend on changed (ConfigMap, Secret, PVC, Service, node): re-check waiters."""
        self._inbox.put(self._recheck_waiting)

    def _after(self, delay: float, fn: Callable[[], None]) -> None:
        heapq.heappush(self._timers, (time.monotonic() + max(0.0, delay), next(self._seq), fn))

    def _engine_loop(self) -> None:
        while not self._stop.is_set():
            timeout = 0.25
            if self._timers:
                timeout = min(timeout, max(0.0, self._timers[0][0] - time.monotonic()))
            try:
                fn = self._inbox.get(timeout=timeout)
                self._run(fn)
                for _ in range(500):
                    self._run(self._inbox.get_nowait())
            except queue.Empty:
                pass
            now = time.monotonic()
            while self._timers and self._timers[0][0] <= now:
                _, _, fn = heapq.heappop(self._timers)
                self._run(fn)

    def _run(self, fn: Callable[[], None]) -> None:
        try:
            with self.lock:
                fn()
        except Exception:
            log.exception("pod engine step failed")

    # -- pod arrival / departure ---------------------------------------------------------------------
    def _handle_pod(self, etype: str, pod: dict[str, Any]) -> None:
        meta = pod["metadata"]
        uid = meta["uid"]
        node = pod.get("spec", {}).get("nodeName")
        rt = self.pods.get(uid)
        if etype == "DELETED":
            if rt:
                self._forget(rt)
            return
        if not node or node not in self._nodes():
            return
        if rt is None:
            rt = PodRuntime(uid, meta["namespace"], meta["name"], node, pod)
            rt.init = [ContainerRuntime(c, init=True) for c in pod["spec"].get("initContainers") or []]
            rt.containers = [ContainerRuntime(c) for c in pod["spec"].get("containers") or []]
            self.pods[uid] = rt
            self.by_name[(rt.namespace, rt.name)] = rt
            finished = self._adopt(rt)
            if finished and not meta.get("deletionTimestamp"):
                return  # finished before the simulator (re)started: only its logs are served
            if self._node_condition(node) == "Unreachable":
                return
            self._begin(rt)
        else:
            rt.pod = pod
            if not rt.begun and rt.phase == "Pending" and self._node_condition(node) != "Unreachable":
                self._begin(rt)  # it arrived while its node was unreachable; the kubelet is back
        if meta.get("deletionTimestamp") and not rt.deleting:
            if self._node_condition(node) == "Unreachable":
                return  # a dead kubelet cannot confirm deletion: the pod stays Terminating
            self._kill(rt, int(meta.get("deletionGracePeriodSeconds") or 30))

    def _adopt(self, rt: PodRuntime) -> bool:
        """Carry over what a pod's status says happened before a simulator restart (restart counts, last
        terminations, logs kept on disk), as a restarted kubelet finds it in the runtime. True if finished."""
        status = rt.pod.get("status") or {}
        if not status.get("containerStatuses") and not status.get("initContainerStatuses"):
            return False
        known = {cs["name"]: cs for cs in (status.get("containerStatuses") or [])
                 + (status.get("initContainerStatuses") or [])}
        finished = status.get("phase") in ("Succeeded", "Failed")
        for c in rt.all_containers():
            cs = known.get(c.name)
            if not cs:
                continue
            c.restart_count = int(cs.get("restartCount") or 0)
            c.last_terminated = (cs.get("lastState") or {}).get("terminated")
            saved = self.logs.load(rt, c.name) if self.logs else []
            if saved:
                c.previous_logs = saved[-1]
            if finished:
                c.state, c.reason = "terminated", ""
                c.terminated = (cs.get("state") or {}).get("terminated")
                c.started_at = time.time()
                c.restored_logs = saved[-1] if saved else []
                c.previous_logs = saved[-2] if len(saved) > 1 else []
        if finished:
            rt.phase = str(status["phase"])
            rt.ip = status.get("podIP", "")
        return finished

    def _forget(self, rt: PodRuntime) -> None:
        if self.logs:
            self.logs.remove(rt)
        rt.gone = True
        self.pods.pop(rt.uid, None)
        if self.by_name.get((rt.namespace, rt.name)) is rt:
            del self.by_name[(rt.namespace, rt.name)]
        if rt.ip:
            self._ips.get(rt.node, set()).discard(int(rt.ip.split(".")[-2]) * 256 + int(rt.ip.split(".")[-1]))

    def _alloc_ip(self, node: str) -> str:
        used = self._ips.setdefault(node, set())
        for n in range(2, 65000):
            if n % 256 in (0, 255) or n in used:
                continue
            used.add(n)
            return f"10.{100 + self._node_index(node)}.{n // 256}.{n % 256}"
        raise RuntimeError(f"node {node} ran out of pod IPs")

    def _begin(self, rt: PodRuntime) -> None:
        rt.begun = True
        host_network = rt.pod["spec"].get("hostNetwork")
        known_ip = (rt.pod.get("status") or {}).get("podIP", "")
        if host_network:
            rt.ip = "127.0.0.1"
        elif known_ip.startswith(f"10.{100 + self._node_index(rt.node)}."):
            rt.ip = known_ip  # adopted after a simulator restart: the sandbox keeps the pod's address
            octets = known_ip.split(".")
            self._ips.setdefault(rt.node, set()).add(int(octets[2]) * 256 + int(octets[3]))
        else:
            rt.ip = self._alloc_ip(rt.node)
        rt.start_time = now_rfc3339()
        for c in rt.containers:
            c.reason = "PodInitializing" if rt.init else "ContainerCreating"
        self._mark(rt)
        self._mount_check(rt)

    # -- volumes -------------------------------------------------------------------------------------
    def _missing_volume(self, rt: PodRuntime) -> str | None:
        ns = rt.namespace
        for vol in rt.pod["spec"].get("volumes") or []:
            name = vol["name"]
            sources = [vol]
            if "projected" in vol:
                sources = vol["projected"].get("sources") or []
            for src in sources:
                if "configMap" in src and not src["configMap"].get("optional"):
                    cm = src["configMap"].get("name", "")
                    if not self.caches["configmaps"].get(ns, cm):
                        return f'MountVolume.SetUp failed for volume "{name}" : configmap "{cm}" not found'
                if "secret" in src and not src["secret"].get("optional"):
                    sec = src["secret"].get("secretName") or src["secret"].get("name", "")
                    if not self.caches["secrets"].get(ns, sec):
                        return f'MountVolume.SetUp failed for volume "{name}" : secret "{sec}" not found'
            if "persistentVolumeClaim" in vol:
                claim = vol["persistentVolumeClaim"].get("claimName", "")
                pvc = self.caches["persistentvolumeclaims"].get(ns, claim)
                if not pvc:
                    return f'persistentvolumeclaim "{claim}" not found'
                if (pvc.get("status") or {}).get("phase") != "Bound":
                    return (f'MountVolume.SetUp failed for volume "{name}" : '
                            f'PersistentVolumeClaim "{claim}" is not bound')
        return None

    def _mount_check(self, rt: PodRuntime) -> None:
        if rt.gone or rt.deleting:
            return
        problem = self._missing_volume(rt)
        if problem:
            rt.mount_attempts += 1
            self.events.emit(rt.ref(), "Warning", "FailedMount", problem, rt.node)
            if rt.mount_attempts % 8 == 0:
                vols = [v["name"] for v in rt.pod["spec"].get("volumes") or []]
                self.events.emit(rt.ref(), "Warning", "FailedMount",
                                 f"Unable to attach or mount volumes: unmounted volumes=[{' '.join(vols)}], "
                                 f"unattached volumes=[{' '.join(vols)}]: timed out waiting for the condition",
                                 rt.node)
            self._after(min(MOUNT_RETRY * rt.mount_attempts, 30.0), lambda: self._mount_check(rt))
            return
        rt.volumes_ok = True
        if rt.init:
            self._pull(rt, rt.init[0])
        else:
            rt.init_done = True
            for c in rt.containers:
                self._pull(rt, c)

    def _recheck_waiting(self) -> None:
        """Speed up recovery when a missing dependency appears (the real kubelet re-syncs every ~10 s).

        Only a container whose configuration now resolves is started early. The others keep their own
        ``CONFIG_RETRY`` timer: calling `_create` for them too would emit a Failed event and start one more retry
        chain per change anywhere in the cluster — thousands of events a minute in a busy sandbox.
        """
        for rt in list(self.pods.values()):
            for c in rt.all_containers():
                if c.state == "waiting" and c.reason == "CreateContainerConfigError":
                    inst = c.instance

                    def retry(rt: PodRuntime = rt, c: ContainerRuntime = c, inst: int = inst) -> None:
                        if c.instance == inst and c.reason == "CreateContainerConfigError" \
                                and not self._resolve_env(rt, c)[1]:
                            self._create(rt, c)

                    self._after(0.2, retry)

    # -- image pull ----------------------------------------------------------------------------------
    def _pull(self, rt: PodRuntime, c: ContainerRuntime) -> None:
        if rt.gone or rt.deleting:
            return
        resolved = catalog.resolve_image(c.image)
        policy = c.spec.get("imagePullPolicy") or ("Always" if c.image.endswith(":latest") or ":" not in
                                                   c.image.rsplit("/", 1)[-1] else "IfNotPresent")
        pulled = self._pulled.setdefault(rt.node, set())
        if isinstance(resolved, catalog.PullError):
            c.pull_attempts += 1
            self.events.emit(rt.ref(c), "Normal", "Pulling", f'Pulling image "{c.image}"', rt.node)
            self.events.emit(rt.ref(c), "Warning", "Failed",
                             f'Failed to pull image "{c.image}": {resolved.message}', rt.node)
            self.events.emit(rt.ref(c), "Warning", "Failed", "Error: ErrImagePull", rt.node)
            self._wait(rt, c, "ErrImagePull", resolved.message)
            delay = min(BACKOFF_BASE * 2 ** (c.pull_attempts - 1), BACKOFF_MAX)

            def backoff() -> None:
                if rt.gone or rt.deleting:
                    return
                self.events.emit(rt.ref(c), "Normal", "BackOff", f'Back-off pulling image "{c.image}"', rt.node)
                self.events.emit(rt.ref(c), "Warning", "Failed", "Error: ImagePullBackOff", rt.node)
                self._wait(rt, c, "ImagePullBackOff", f'Back-off pulling image "{c.image}"')
                self._after(delay, lambda: self._pull(rt, c))

            self._after(1.0, backoff)
            return
        c.image_ref = resolved.reference
        if policy != "Always" and resolved.reference in pulled:
            self.events.emit(rt.ref(c), "Normal", "Pulled",
                             f'Container image "{c.image}" already present on machine', rt.node)
            self._create(rt, c)
            return
        self.events.emit(rt.ref(c), "Normal", "Pulling", f'Pulling image "{c.image}"', rt.node)
        seconds = 0.2 + min(resolved.size_bytes / 150e6, 1.5)

        def done() -> None:
            pulled.add(resolved.reference)
            self.events.emit(rt.ref(c), "Normal", "Pulled",
                             f'Successfully pulled image "{c.image}" in {seconds:.3f}s', rt.node)
            self._create(rt, c)

        self._after(seconds, done)

    # -- create & start ------------------------------------------------------------------------------
    def _resolve_env(self, rt: PodRuntime, c: ContainerRuntime) -> tuple[dict[str, str], str | None]:
        ns, spec = rt.namespace, c.spec
        env: dict[str, str] = {"HOSTNAME": rt.name, "KUBERNETES_SERVICE_HOST": "10.96.0.1",
                               "KUBERNETES_SERVICE_PORT": "443"}
        for src in spec.get("envFrom") or []:
            prefix = src.get("prefix", "")
            if "configMapRef" in src:
                ref = src["configMapRef"]
                cm = self.caches["configmaps"].get(ns, ref.get("name", ""))
                if cm is None:
                    if not ref.get("optional"):
                        return env, f'configmap "{ref.get("name")}" not found'
                    continue
                env.update({prefix + k: v for k, v in (cm.get("data") or {}).items()})
            if "secretRef" in src:
                ref = src["secretRef"]
                sec = self.caches["secrets"].get(ns, ref.get("name", ""))
                if sec is None:
                    if not ref.get("optional"):
                        return env, f'secret "{ref.get("name")}" not found'
                    continue
                env.update({prefix + k: _b64(v) for k, v in (sec.get("data") or {}).items()})
        for var in spec.get("env") or []:
            name = var["name"]
            if "value" in var or "valueFrom" not in var:
                env[name] = _expand(str(var.get("value", "")), env)
                continue
            vf = var["valueFrom"]
            if "configMapKeyRef" in vf:
                ref = vf["configMapKeyRef"]
                cm = self.caches["configmaps"].get(ns, ref.get("name", ""))
                if cm is None:
                    if ref.get("optional"):
                        continue
                    return env, f'configmap "{ref.get("name")}" not found'
                data = {**(cm.get("data") or {}), **{k: _b64(v) for k, v in (cm.get("binaryData") or {}).items()}}
                if ref["key"] not in data:
                    if ref.get("optional"):
                        continue
                    return env, f"couldn't find key {ref['key']} in ConfigMap {ns}/{ref.get('name')}"
                env[name] = data[ref["key"]]
            elif "secretKeyRef" in vf:
                ref = vf["secretKeyRef"]
                sec = self.caches["secrets"].get(ns, ref.get("name", ""))
                if sec is None:
                    if ref.get("optional"):
                        continue
                    return env, f'secret "{ref.get("name")}" not found'
                data = sec.get("data") or {}
                if ref["key"] not in data:
                    if ref.get("optional"):
                        continue
                    return env, f"couldn't find key {ref['key']} in Secret {ns}/{ref.get('name')}"
                env[name] = _b64(data[ref["key"]])
            elif "fieldRef" in vf:
                env[name] = self._field(rt, vf["fieldRef"].get("fieldPath", ""))
            elif "resourceFieldRef" in vf:
                res = vf["resourceFieldRef"].get("resource", "")
                kind, _, what = res.partition(".")
                value = ((c.spec.get("resources") or {}).get(kind) or {}).get(what, "0")
                env[name] = str(int(parse_quantity(value) / parse_quantity(vf["resourceFieldRef"].get("divisor", "1"))))
        return env, None

    def _field(self, rt: PodRuntime, path: str) -> str:
        meta = rt.pod["metadata"]
        return {
            "metadata.name": rt.name, "metadata.namespace": rt.namespace, "metadata.uid": rt.uid,
            "spec.nodeName": rt.node, "spec.serviceAccountName": rt.pod["spec"].get("serviceAccountName", ""),
            "status.podIP": rt.ip, "status.hostIP": "127.0.0.1",
        }.get(path) or (meta.get("labels", {}).get(path[len("metadata.labels['"):-2], "")
                        if path.startswith("metadata.labels[") else "")

    def _files(self, rt: PodRuntime, c: ContainerRuntime) -> dict[str, str]:
        volumes = {v["name"]: v for v in rt.pod["spec"].get("volumes") or []}
        files: dict[str, str] = {}
        for mount in c.spec.get("volumeMounts") or []:
            vol = volumes.get(mount.get("name", ""))
            if not vol:
                continue
            base = mount.get("mountPath", "").rstrip("/")
            sub = mount.get("subPath")
            sources = vol["projected"].get("sources") or [] if "projected" in vol else [vol]
            content: dict[str, str] = {}
            for src in sources:
                if "configMap" in src:
                    cm = self.caches["configmaps"].get(rt.namespace, src["configMap"].get("name", "")) or {}
                    data = cm.get("data") or {}
                    content.update(_items(data, src["configMap"].get("items")))
                elif "secret" in src:
                    s = src["secret"]
                    sec = self.caches["secrets"].get(rt.namespace, s.get("secretName") or s.get("name", "")) or {}
                    data = {k: _b64(v) for k, v in (sec.get("data") or {}).items()}
                    content.update(_items(data, s.get("items")))
                elif "downwardAPI" in src:
                    for item in src["downwardAPI"].get("items") or []:
                        content[item["path"]] = self._field(rt, (item.get("fieldRef") or {}).get("fieldPath", ""))
                elif "emptyDir" in src or "persistentVolumeClaim" in src or "hostPath" in src:
                    files[base + "/"] = ""
            if sub:
                if sub in content:
                    files[base] = content[sub]
            else:
                files.update({f"{base}/{k}": v for k, v in content.items()})
        return files

    def _can_i(self, rt: PodRuntime) -> Callable[[str, str, str], str | None]:
        sa = rt.pod["spec"].get("serviceAccountName") or "default"
        user = f"system:serviceaccount:{rt.namespace}:{sa}"

        def can_i(verb: str, resource: str, group: str) -> str | None:
            review = {"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview", "spec": {
                "user": user, "groups": ["system:serviceaccounts", f"system:serviceaccounts:{rt.namespace}",
                                         "system:authenticated"],
                "resourceAttributes": {"verb": verb, "resource": resource, "group": group,
                                       "namespace": rt.namespace}}}
            try:
                result = self.client.request("POST", "/apis/authorization.k8s.io/v1/subjectaccessreviews", review)
            except ApiError as e:
                return str(e)
            if (result.get("status") or {}).get("allowed"):
                return None
            return (f'{resource} is forbidden: User "{user}" cannot {verb} resource "{resource}" in API group '
                    f'"{group}" in the namespace "{rt.namespace}"')

        return can_i

    def _resolve_service(self, rt: PodRuntime) -> Callable[[str], catalog.ServiceLookup]:
        def resolve(host: str) -> catalog.ServiceLookup:
            parts = host.split(".")
            name = parts[0]
            ns = parts[1] if len(parts) > 1 and parts[1] != "svc" else rt.namespace
            if not self.caches["services"].get(ns, name):
                return catalog.ServiceLookup.MISSING
            ep = self.caches["endpoints"].get(ns, name) or {}
            ready = any(s.get("addresses") for s in ep.get("subsets") or [])
            return catalog.ServiceLookup.OK if ready else catalog.ServiceLookup.NO_ENDPOINTS
        return resolve

    def _create(self, rt: PodRuntime, c: ContainerRuntime) -> None:
        if rt.gone or rt.deleting or c.state == "running":
            return
        env, problem = self._resolve_env(rt, c)
        if problem:
            self.events.emit(rt.ref(c), "Warning", "Failed", f"Error: {problem}", rt.node)
            self._wait(rt, c, "CreateContainerConfigError", problem)
            inst = c.instance
            self._after(CONFIG_RETRY, lambda: c.instance == inst and self._create(rt, c))
            return
        limits = (c.spec.get("resources") or {}).get("limits") or {}
        mem_limit = int(parse_quantity(limits["memory"])) if "memory" in limits else None
        ctx = catalog.ContainerContext(
            image=c.image, command=list(c.spec.get("command") or []), args=list(c.spec.get("args") or []),
            env=env, files=self._files(rt, c), memory_limit_bytes=mem_limit, namespace=rt.namespace,
            pod_name=rt.name, container_name=c.name, restart_count=c.restart_count,
            resolve_service=self._resolve_service(rt), can_i=self._can_i(rt),
        )
        program = catalog.start(ctx)
        c.ctx = ctx
        c.instance += 1
        inst = c.instance
        c.container_id = f"containerd://{rt.uid.replace('-', '')[:24]}{c.instance:04d}{abs(hash(c.name)) % 10**8:08d}"
        if program.outcome == "start-error":
            self.events.emit(rt.ref(c), "Warning", "Failed", f"Error: {program.message}", rt.node)
            now = time.time()
            c.last_terminated = {"exitCode": program.exit_code, "reason": "StartError", "message": program.message,
                                 "startedAt": "1970-01-01T00:00:00Z", "finishedAt": now_rfc3339(now),
                                 "containerID": c.container_id}
            c.terminated = None
            self._wait(rt, c, "RunContainerError", program.message)
            self._after(1.0, lambda: c.instance == inst and self._restart_or_finish(rt, c, program.exit_code))
            return
        self.events.emit(rt.ref(c), "Normal", "Created", f"Created container {c.name}", rt.node)
        self.events.emit(rt.ref(c), "Normal", "Started", f"Started container {c.name}", rt.node)
        c.program = program
        c.state, c.reason, c.message = "running", "", ""
        c.started_at, c.mono_start = time.time(), time.monotonic()
        c.terminated = None
        c.started = True
        c.probe_failures, c.probe_successes = {}, {}
        probes = c.spec
        c.startup_passed = "startupProbe" not in probes
        c.ready = "readinessProbe" not in probes and c.startup_passed and not c.init
        if program.outcome in ("exit", "oom"):
            self._after(program.after_seconds,
                        lambda: c.instance == inst and c.program is program and self._exited(rt, c))
        for offset in program.retry_at:
            self._after(offset, lambda offset=offset: self._retry(rt, c, inst, program, offset))
        for kind in ("startupProbe", "livenessProbe", "readinessProbe"):
            probe = probes.get(kind)
            if probe:
                self._after(float(probe.get("initialDelaySeconds", 0)) or 0.5,
                            lambda kind=kind, probe=probe: self._probe(rt, c, inst, kind, probe))
        if not c.init:
            self._update_phase(rt)
        self._mark(rt)

    def _retry(self, rt: PodRuntime, c: ContainerRuntime, inst: int, failing: catalog.Program,
               offset: float) -> None:
        """The app retries a dependency; if it would now come up, the container keeps running healed."""
        if rt.gone or rt.deleting or c.instance != inst or c.program is not failing or c.ctx is None:
            return
        fresh = catalog.start(c.ctx)
        if fresh.outcome != "run":
            return
        seen = {text for off, text in failing.logs if off <= offset}
        logs = [(off, text) for off, text in failing.logs if off <= offset]
        logs += [(offset + off, text) for off, text in fresh.logs if text not in seen]
        c.program = dataclasses.replace(fresh, logs=logs)
        self._mark(rt)

    def _wait(self, rt: PodRuntime, c: ContainerRuntime, reason: str, message: str) -> None:
        c.state, c.reason, c.message, c.ready = "waiting", reason, message, False
        self._update_phase(rt)
        self._mark(rt)

    # -- probes ---------------------------------------------------------------------------------------
    def _probe_result(self, rt: PodRuntime, c: ContainerRuntime, probe: dict[str, Any]) -> tuple[bool, str]:
        p = c.program
        assert p is not None and c.ctx is not None
        ports = {str(cp.get("name")): int(cp["containerPort"]) for cp in c.spec.get("ports") or [] if cp.get("name")}
        if "exec" in probe:
            ok, out = catalog.exec_probe(c.ctx, list(probe["exec"].get("command") or []))
            return ok, out
        handler = probe.get("httpGet") or probe.get("tcpSocket") or {}
        raw_port = handler.get("port", 0)
        port = ports.get(str(raw_port)) if isinstance(raw_port, str) and not raw_port.isdigit() else int(raw_port)
        if port is None:
            return False, f"named port {raw_port!r} is not defined by container {c.name}"
        host = handler.get("host") or rt.ip
        if "httpGet" in probe:
            path = handler.get("path", "/")
            scheme = str(handler.get("scheme", "HTTP")).lower()
            url = f"{scheme}://{host}:{port}{path}"
            if port not in p.serves:
                return False, f'Get "{url}": dial tcp {host}:{port}: connect: connection refused'
            paths = p.serves[port]
            if paths is None:
                return False, f'Get "{url}": read tcp {host}:{port}: read: connection reset by peer'
            if path.split("?")[0] not in paths:
                return False, "HTTP probe failed with statuscode: 404"
            return True, ""
        if port not in p.serves:
            return False, f"dial tcp {host}:{port}: connect: connection refused"
        return True, ""

    def _probe(self, rt: PodRuntime, c: ContainerRuntime, inst: int, kind: str, probe: dict[str, Any]) -> None:
        if rt.gone or rt.deleting or c.instance != inst or c.state != "running":
            return
        period = float(probe.get("periodSeconds", 10))
        again = lambda: self._probe(rt, c, inst, kind, probe)  # noqa: E731
        if kind != "startupProbe" and not c.startup_passed:
            self._after(period, again)
            return
        ok, output = self._probe_result(rt, c, probe)
        label = {"startupProbe": "Startup", "livenessProbe": "Liveness", "readinessProbe": "Readiness"}[kind]
        if ok:
            c.probe_failures[kind] = 0
            c.probe_successes[kind] = c.probe_successes.get(kind, 0) + 1
            if kind == "startupProbe":
                c.startup_passed = True
                if "readinessProbe" not in c.spec:
                    c.ready = True
                    self._update_phase(rt)
                    self._mark(rt)
                return
            if kind == "readinessProbe" and not c.ready and \
                    c.probe_successes[kind] >= int(probe.get("successThreshold", 1)):
                c.ready = True
                self._update_phase(rt)
                self._mark(rt)
        else:
            c.probe_successes[kind] = 0
            c.probe_failures[kind] = c.probe_failures.get(kind, 0) + 1
            self.events.emit(rt.ref(c), "Warning", "Unhealthy", f"{label} probe failed: {output}", rt.node)
            threshold = int(probe.get("failureThreshold", 3))
            if kind == "readinessProbe" and c.ready:
                c.ready = False
                self._update_phase(rt)
                self._mark(rt)
            if kind in ("livenessProbe", "startupProbe") and c.probe_failures[kind] >= threshold:
                self.events.emit(rt.ref(c), "Normal", "Killing",
                                 f"Container {c.name} failed {label.lower()} probe, will be restarted", rt.node)
                self._exited(rt, c, forced=(137, "Error"))
                return
        self._after(period, again)

    # -- exit, restart, back-off ----------------------------------------------------------------------
    def _exited(self, rt: PodRuntime, c: ContainerRuntime, forced: tuple[int, str] | None = None) -> None:
        if rt.gone or c.state != "running" or c.program is None:
            return
        now = time.time()
        if forced:
            code, reason = forced
        elif c.program.outcome == "oom":
            code, reason = 137, "OOMKilled"
        else:
            code = c.program.exit_code
            reason = "Completed" if code == 0 else "Error"
        self._terminate(rt, c, code, reason, now)
        self._restart_or_finish(rt, c, code)

    def _terminate(self, rt: PodRuntime, c: ContainerRuntime, code: int, reason: str, now: float) -> None:
        """Record a running container's end: its terminated state and its logs (kept on disk too)."""
        c.terminated = {"exitCode": code, "reason": reason, "startedAt": now_rfc3339(c.started_at),
                        "finishedAt": now_rfc3339(now), "containerID": c.container_id, "_finished": now}
        c.previous_logs = c.current_logs(now)[-2000:]
        c.state, c.ready = "terminated", False
        if self.logs:
            self.logs.save(rt, c.name, c.restart_count, c.previous_logs)

    def _restart_or_finish(self, rt: PodRuntime, c: ContainerRuntime, code: int) -> None:
        if rt.gone or rt.deleting:
            return
        policy = rt.restart_policy
        restart = policy == "Always" or (policy == "OnFailure" and code != 0)
        if c.init and code == 0:
            idx = rt.init.index(c)
            self._mark(rt)
            if idx + 1 < len(rt.init):
                self._pull(rt, rt.init[idx + 1])
            else:
                rt.init_done = True
                for m in rt.containers:
                    m.reason = "ContainerCreating"
                    self._pull(rt, m)
            self._update_phase(rt)
            return
        if c.init and code != 0 and policy != "Never":
            restart = True
        if not restart:
            self._update_phase(rt)
            self._mark(rt)
            return
        if c.terminated is not None:
            c.last_terminated = {k: v for k, v in c.terminated.items() if not k.startswith("_")}
        ran = time.monotonic() - c.mono_start if c.started_at else 0.0
        if ran > 600:
            c.backoff = 0.0
        delay = c.backoff
        c.backoff = BACKOFF_BASE if c.backoff == 0 else min(c.backoff * 2, BACKOFF_MAX)
        c.restart_count += 1
        inst = c.instance
        if delay > 0:
            msg = (f"back-off {int(delay)}s restarting failed container={c.name} "
                   f"pod={rt.name}_{rt.namespace}({rt.uid})")
            self.events.emit(rt.ref(c), "Warning", "BackOff", "Back-off restarting failed container", rt.node)
            c.terminated = None
            self._wait(rt, c, "CrashLoopBackOff", msg)
        else:
            c.terminated = None
            c.state, c.reason, c.message = "waiting", "ContainerCreating", ""
            self._mark(rt)
        self._after(max(delay, 0.3), lambda: c.instance == inst and self._create(rt, c))

    # -- deletion --------------------------------------------------------------------------------------
    def _kill(self, rt: PodRuntime, grace: int) -> None:
        rt.deleting = True
        now = time.time()
        for c in rt.all_containers():
            if c.state == "running":
                self.events.emit(rt.ref(c), "Normal", "Killing", f"Stopping container {c.name}", rt.node)
                # A server stops cleanly on SIGTERM; anything else is killed when the grace period ends.
                clean = c.program is not None and c.program.outcome == "run"
                self._terminate(rt, c, 0 if clean else 137, "Completed" if clean else "Error", now)
        self._mark(rt)
        uid = rt.uid

        def finalize() -> None:
            try:
                self.client.delete(f"/api/v1/namespaces/{rt.namespace}/pods/{rt.name}",
                                   {"gracePeriodSeconds": 0, "preconditions": {"uid": uid}})
            except ApiError as e:
                if e.status != 409:
                    log.warning("could not finalize deletion of %s/%s: %s", rt.namespace, rt.name, e)
        self._after(min(float(grace), 0.5), lambda: self._submit_io(finalize))

    def _submit_io(self, fn: Callable[[], None]) -> None:
        threading.Thread(target=fn, daemon=True).start()

    # -- status ----------------------------------------------------------------------------------------
    def _update_phase(self, rt: PodRuntime) -> None:
        mains = rt.containers
        if rt.init and not rt.init_done:
            if any(c.state == "terminated" and c.terminated and c.terminated["exitCode"] != 0
                   for c in rt.init) and rt.restart_policy == "Never":
                rt.phase = "Failed"
            else:
                rt.phase = "Pending"
            return
        if all(c.state == "terminated" for c in mains):
            codes = [c.terminated["exitCode"] for c in mains if c.terminated]
            policy = rt.restart_policy
            if policy == "Never" or (policy == "OnFailure" and all(code == 0 for code in codes)):
                rt.phase = "Succeeded" if all(code == 0 for code in codes) else "Failed"
                return
        if (any(c.started for c in mains) and rt.phase == "Pending" and \
                all(c.started or c.restart_count for c in mains)) or any(c.state == "running" for c in mains):
            rt.phase = "Running"

    def _mark(self, rt: PodRuntime) -> None:
        self.transitions += 1
        with self._dirty_cv:
            self._dirty[rt.uid] = rt
            self._dirty_cv.notify()

    def _status(self, rt: PodRuntime) -> dict[str, Any]:
        now = now_rfc3339()

        def cond(ctype: str, ok: bool, reason: str = "") -> dict[str, Any]:
            status = "True" if ok else "False"
            prev = rt.transitions.get(ctype)
            if prev is None or prev[0] != status:
                rt.transitions[ctype] = (status, now)
            c = {"type": ctype, "status": status, "lastProbeTime": None,
                 "lastTransitionTime": rt.transitions[ctype][1]}
            if not ok and reason:
                c["reason"] = reason
                not_ready = [x.name for x in rt.containers if not x.ready]
                c["message"] = f"containers with unready status: [{' '.join(not_ready)}]"
            return c

        ready = all(c.ready for c in rt.containers) and rt.phase == "Running"
        init_ok = rt.init_done or not rt.init
        conditions = [
            cond("Initialized", init_ok, "ContainersNotInitialized"),
            cond("Ready", ready, "ContainersNotReady"),
            cond("ContainersReady", ready, "ContainersNotReady"),
            *[c for c in rt.pod.get("status", {}).get("conditions", []) if c["type"] == "PodScheduled"],
        ]
        if rt.init and not init_ok:
            pending = [c.name for c in rt.init if not (c.terminated and c.terminated["exitCode"] == 0)]
            conditions[0]["message"] = f"containers with incomplete status: [{' '.join(pending)}]"
        if rt.phase in ("Succeeded", "Failed"):
            for c in conditions[1:3]:
                c["reason"] = "PodCompleted"
                c.pop("message", None)
        status: dict[str, Any] = {
            "phase": rt.phase, "conditions": conditions, "hostIP": "127.0.0.1",
            "podIP": rt.ip, "podIPs": [{"ip": rt.ip}] if rt.ip else [], "startTime": rt.start_time,
            "containerStatuses": [self._container_status(c) for c in rt.containers],
        }
        if rt.init:
            status["initContainerStatuses"] = [self._container_status(c) for c in rt.init]
        return status

    def _container_status(self, c: ContainerRuntime) -> dict[str, Any]:
        if c.state == "running":
            state: dict[str, Any] = {"running": {"startedAt": now_rfc3339(c.started_at)}}
        elif c.state == "terminated" and c.terminated:
            state = {"terminated": {k: v for k, v in c.terminated.items() if not k.startswith("_")}}
        else:
            state = {"waiting": {"reason": c.reason, **({"message": c.message} if c.message else {})}}
        out: dict[str, Any] = {
            "name": c.name, "state": state, "lastState": {"terminated": c.last_terminated} if c.last_terminated else {},
            "ready": c.ready, "restartCount": c.restart_count, "image": c.image,
            "imageID": f"{c.image_ref}@sha256:{abs(hash(c.image_ref)):064x}"[:200] if c.image_ref and c.started else "",
            "started": c.state == "running",
        }
        if c.container_id and c.state != "waiting":
            out["containerID"] = c.container_id
        return out

    def _sender_loop(self) -> None:
        while not self._stop.is_set():
            with self._dirty_cv:
                while not self._dirty and not self._stop.is_set():
                    self._dirty_cv.wait(0.5)
                if self._stop.is_set():
                    return
                uid, rt = next(iter(self._dirty.items()))
                del self._dirty[uid]
            with self.lock:
                if rt.gone:
                    continue
                if self._node_condition(rt.node) == "Unreachable":
                    self._deferred.add(rt.uid)  # a dead kubelet reports nothing; sent when it is back
                    continue
                body = {"status": self._status(rt)}
            try:
                self.client.patch(f"/api/v1/namespaces/{rt.namespace}/pods/{rt.name}/status", body, kind="merge")
                self.status_writes += 1
            except ApiError as e:
                if e.status == 404:
                    with self.lock:
                        self._forget(rt)
                else:
                    log.warning("status of %s/%s not written: %s", rt.namespace, rt.name, e)
                    self._mark(rt)
                    time.sleep(0.5)
            except Exception as e:
                log.warning("status of %s/%s not written: %s", rt.namespace, rt.name, e)
                self._mark(rt)
                time.sleep(0.5)

    # -- views for the kubelet API -------------------------------------------------------------------------
    def find(self, namespace: str, name: str) -> PodRuntime | None:
        with self.lock:
            return self.by_name.get((namespace, name))


class _LogStore:
    """Container logs of terminated instances on disk, like the kubelet's /var/log/pods, so `previous`
    logs and the logs of finished pods survive a simulator restart. The last two instances are kept."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _dir(self, rt: PodRuntime, container: str) -> Path:
        return self.root / f"{rt.namespace}_{rt.name}_{rt.uid}" / container

    def save(self, rt: PodRuntime, container: str, instance: int, lines: list[tuple[float, str]]) -> None:
        d = self._dir(rt, container)
        try:
            d.mkdir(parents=True, exist_ok=True)
            (d / f"{instance}.json").write_text(json.dumps(lines))
            for old in sorted(d.glob("*.json"), key=lambda p: int(p.stem))[:-2]:
                old.unlink()
        except OSError as e:
            log.warning("could not keep logs of %s/%s %s: %s", rt.namespace, rt.name, container, e)

    def load(self, rt: PodRuntime, container: str) -> list[list[tuple[float, str]]]:
        """Saved instances, oldest first."""
        d = self._dir(rt, container)
        if not d.is_dir():
            return []
        out = []
        for f in sorted(d.glob("*.json"), key=lambda p: int(p.stem)):
            try:
                out.append([(float(ts), str(text)) for ts, text in json.loads(f.read_text())])
            except (OSError, ValueError):
                continue
        return out

    def remove(self, rt: PodRuntime) -> None:
        shutil.rmtree(self.root / f"{rt.namespace}_{rt.name}_{rt.uid}", ignore_errors=True)


def _b64(value: str) -> str:
    try:
        return base64.b64decode(value).decode(errors="replace")
    except Exception:
        return ""


def _items(data: dict[str, str], items: list[dict[str, Any]] | None) -> dict[str, str]:
    if not items:
        return dict(data)
    return {i["path"]: data[i["key"]] for i in items if i.get("key") in data}


def _expand(value: str, env: dict[str, str]) -> str:
    """Kubernetes' $(VAR) expansion in env values."""
    if "$(" not in value:
        return value
    import re

    return re.sub(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", lambda m: env.get(m.group(1), m.group(0)), value)
