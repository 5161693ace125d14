"""Analysis between steps: watch the pods a step put in place for a window and say Successful, Failed or
Inconclusive — with the evidence.

Two sources, both read through the API server:

- **the pods** (``GET pods?labelSelector=``) every ``interval`` seconds: readiness, restart counts, crash reasons
  (CrashLoopBackOff, ImagePullBackOff, OOMKilled, ...), phase;
- **resource usage** from the kubelet's ``/metrics/resource`` endpoint of each node running them, through the API
  server's node proxy (``/api/v1/nodes/<node>/proxy/metrics/resource``), scraped at the start and the end of the
  window so CPU is a rate over the window; when the node proxy is not allowed (it needs ``nodes/proxy``), the
  ``metrics.k8s.io`` PodMetrics objects instead. In the sandbox the kubelet endpoint is served by the node
  simulator; PodMetrics are only refreshed in namespaces with an HPA, so the kubelet endpoint is the fresher one.

The verdict is a pure function of what was seen (`judge`), so the rules are unit-tested with hand-written pods:

- **Failed**: a pod restarted more than ``max_restarts`` times during the window, a crash reason was seen, a pod
  Failed, the Running pods are below ``min_ready`` Ready at the end, or a CPU / memory threshold is exceeded;
- **Inconclusive**: no pods match, pods are still Pending at the end, fewer pods exist than the step expects, or a
  threshold is configured but no metrics could be read — "not enough data", which pauses the rollout for a human;
- **Successful** otherwise. With ``fail_fast`` the window ends at the first sample that shows a failure.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from kubecopilot.rollouts._model import AnalysisResult, AnalysisSpec, Check, PodSample, utcnow

__all__ = [
    "CRASH_REASONS",
    "analyse",
    "crash_reason",
    "judge",
    "parse_resource_metrics",
    "pod_sample",
    "usage_from_scrapes",
]

CRASH_REASONS = frozenset({
    "CrashLoopBackOff", "ImagePullBackOff", "ErrImagePull", "InvalidImageName", "CreateContainerConfigError",
    "CreateContainerError", "RunContainerError", "OOMKilled", "Error", "StartError", "ContainerCannotRun",
})


def _statuses(pod: Mapping[str, Any]) -> list[dict[str, Any]]:
    st = pod.get("status") or {}
    return list(st.get("containerStatuses") or []) + list(st.get("initContainerStatuses") or [])


def restarts(pod: Mapping[str, Any]) -> int:
    return sum(int(cs.get("restartCount") or 0) for cs in _statuses(pod))


def crash_reason(pod: Mapping[str, Any]) -> str | None:
    """The first crash-like reason of a container (``CrashLoopBackOff``, a non-zero exit, ``OOMKilled``...)."""
    for cs in _statuses(pod):
        state = cs.get("state") or {}
        waiting, terminated = state.get("waiting") or {}, state.get("terminated") or {}
        if waiting.get("reason") in CRASH_REASONS:
            last = ((cs.get("lastState") or {}).get("terminated") or {})
            extra = f" (last exit {last.get('exitCode')}: {last.get('reason')})" if last else ""
            return f"{cs.get('name')}: {waiting['reason']}{extra}"
        if terminated and (terminated.get("exitCode") or 0) != 0:
            return f"{cs.get('name')}: exited {terminated.get('exitCode')} ({terminated.get('reason') or 'Error'})"
    return None


def _ready(pod: Mapping[str, Any]) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (pod.get("status") or {}).get("conditions") or [])


def pod_sample(pod: Mapping[str, Any], usage: Mapping[str, tuple[float | None, float | None]] | None = None
               ) -> PodSample:
    name = (pod.get("metadata") or {}).get("name", "?")
    cpu, mem = (usage or {}).get(name, (None, None))
    waiting = next(((cs.get("state") or {}).get("waiting", {}).get("reason") for cs in _statuses(pod)
                    if (cs.get("state") or {}).get("waiting")), None)
    return PodSample(name=name, phase=(pod.get("status") or {}).get("phase") or "", ready=_ready(pod),
                     restarts=restarts(pod), reason=crash_reason(pod) or waiting,
                     node=(pod.get("spec") or {}).get("nodeName"), cpu_millicores=cpu, memory_mib=mem)


def judge(history: list[list[dict[str, Any]]], spec: AnalysisSpec, *, expected: int | None = None,
          usage: Mapping[str, tuple[float | None, float | None]] | None = None, final: bool = True
          ) -> tuple[str, str, list[Check]]:
    """(phase, reason, checks) from the pods seen at each sample (oldest first) and the usage per pod name.
    ``final=False`` (a sample in the middle of the window) judges only what cannot get better: restarts, crashes
    and failed pods — a pod that is not Ready *yet* is not a failure until the window ends."""
    baseline: dict[str, int] = {}
    crashes: dict[str, str] = {}
    failed_pods: set[str] = set()
    for i, sample in enumerate(history):
        for pod in sample:
            name = pod["metadata"]["name"]
            baseline.setdefault(name, restarts(pod) if i == 0 else 0)
            reason = crash_reason(pod)
            if reason:
                crashes.setdefault(name, reason)
            if (pod.get("status") or {}).get("phase") == "Failed":
                failed_pods.add(name)
    last = history[-1] if history else []
    checks: list[Check] = []
    fail: list[str] = []
    unknown: list[str] = []

    increases = {p["metadata"]["name"]: restarts(p) - baseline.get(p["metadata"]["name"], 0) for p in last}
    worst = max(increases.values(), default=0)
    if worst > spec.max_restarts:
        who = ", ".join(f"{n} +{k}" for n, k in sorted(increases.items()) if k > spec.max_restarts)
        fail.append(f"restarts during the window: {who} (allowed {spec.max_restarts})")
        checks.append(Check(name="restarts", status="fail", detail=who))
    else:
        checks.append(Check(name="restarts", status="pass", detail=f"at most {worst} restart(s) per pod"))
    if crashes:
        text = "; ".join(f"{n}: {r}" for n, r in sorted(crashes.items())[:3])
        fail.append(f"crashing: {text}")
        checks.append(Check(name="crashes", status="fail", detail=text))
    else:
        checks.append(Check(name="crashes", status="pass", detail="no crash reasons seen"))
    if failed_pods:
        fail.append(f"pod(s) failed: {', '.join(sorted(failed_pods))}")

    if not final:
        return ("Failed" if fail else "Successful"), "; ".join(fail), checks
    pending = [p["metadata"]["name"] for p in last if (p.get("status") or {}).get("phase") == "Pending"
               and p["metadata"]["name"] not in crashes]
    running = [p for p in last if (p.get("status") or {}).get("phase") == "Running"]
    ready = [p for p in running if _ready(p)]
    if not last:
        unknown.append("no pods match the selector")
        checks.append(Check(name="pods", status="unknown", detail="no pods"))
    else:
        short = expected is not None and len(last) < expected
        detail = f"{len(last)} pod(s)" + (f" of {expected} expected" if expected is not None else "")
        if pending:
            unknown.append(f"{len(pending)} pod(s) still Pending at the end of the window: "
                           f"{', '.join(sorted(pending)[:3])}")
        if short:
            unknown.append(f"only {len(last)} of {expected} pods exist")
        checks.append(Check(name="pods", status="unknown" if pending or short else "pass", detail=detail))
    if running:
        ratio = len(ready) / len(running)
        detail = f"{len(ready)} of {len(running)} running pod(s) Ready"
        if ratio < spec.min_ready:
            fail.append(f"{detail} at the end of the window (need {spec.min_ready:.0%})")
            checks.append(Check(name="ready", status="fail", detail=detail))
        else:
            checks.append(Check(name="ready", status="pass", detail=detail))

    for name, limit, index, unit in (("cpu", spec.max_cpu_millicores, 0, "m"),
                                     ("memory", spec.max_memory_mib, 1, "MiB")):
        if limit is None or not last:
            continue
        values = {p["metadata"]["name"]: (usage or {}).get(p["metadata"]["name"], (None, None))[index] for p in last}
        known = {k: v for k, v in values.items() if v is not None}
        if not known or len(known) < len(values):
            unknown.append(f"no {name} metrics for {len(values) - len(known)} of {len(values)} pod(s)")
            checks.append(Check(name=name, status="unknown", detail="no metrics"))
            continue
        top = max(known.values())
        over = {k: v for k, v in known.items() if v > limit}
        if over:
            fail.append(f"{name} above {limit:g}{unit}: " + ", ".join(f"{k} {v:.1f}{unit}" for k, v in over.items()))
            checks.append(Check(name=name, status="fail", detail=f"max {top:.1f}{unit} > {limit:g}{unit}"))
        else:
            checks.append(Check(name=name, status="pass", detail=f"max {top:.1f}{unit} <= {limit:g}{unit}"))

    if fail:
        return "Failed", "; ".join(fail), checks
    if unknown:
        return "Inconclusive", "; ".join(unknown), checks
    return "Successful", (f"{len(ready)} pod(s) Ready, no restarts during the window" if worst == 0
                          else f"{len(ready)} pod(s) Ready, restarts within the allowed {spec.max_restarts}"), checks


# -- metrics -----------------------------------------------------------------------------------------------------------
_LINE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)\{([^}]*)\}\s+(\S+)(?:\s+(\d+))?\s*$')
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse_resource_metrics(text: str) -> dict[tuple[str, str], dict[str, float]]:
    """The kubelet's ``/metrics/resource`` text -> {(namespace, pod): {"cpu_s", "memory", "ts"}} summed over the
    pod's containers (``ts`` in seconds, from the samples' millisecond timestamps when present)."""
    out: dict[tuple[str, str], dict[str, float]] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = _LINE.match(line)
        if not m or m[1] not in ("container_cpu_usage_seconds_total", "container_memory_working_set_bytes"):
            continue
        labels = dict(_LABEL.findall(m[2]))
        key = (labels.get("namespace", ""), labels.get("pod", ""))
        try:
            value = float(m[3])
        except ValueError:
            continue
        entry = out.setdefault(key, {"cpu_s": 0.0, "memory": 0.0, "ts": 0.0})
        entry["cpu_s" if m[1].startswith("container_cpu") else "memory"] += value
        if m[4]:
            entry["ts"] = max(entry["ts"], int(m[4]) / 1000.0)
    return out


def usage_from_scrapes(first: Mapping[tuple[str, str], Mapping[str, float]],
                       last: Mapping[tuple[str, str], Mapping[str, float]], namespace: str
                       ) -> dict[str, tuple[float | None, float | None]]:
    """pod name -> (CPU millicores over the window, memory MiB at its end). CPU is None when a pod was not in both
    scrapes or its counter went backwards (a container restarted in between)."""
    out: dict[str, tuple[float | None, float | None]] = {}
    for (ns, pod), end in last.items():
        if ns != namespace:
            continue
        cpu = None
        start = first.get((ns, pod))
        if start is not None and end["ts"] > start["ts"] and end["cpu_s"] >= start["cpu_s"]:
            cpu = (end["cpu_s"] - start["cpu_s"]) / (end["ts"] - start["ts"]) * 1000.0
        out[pod] = (None if cpu is None else round(cpu, 3), round(end["memory"] / 2**20, 3))
    return out


class _Metrics:
    """Scrape the kubelet endpoint of the nodes running the pods; fall back to PodMetrics objects."""

    def __init__(self, conn: Any, namespace: str, selector: str) -> None:
        self.conn, self.namespace, self.selector = conn, namespace, selector
        self.first: dict[tuple[str, str], dict[str, float]] = {}
        self.source: str | None = None
        self.kubelet_ok = True

    def _scrape(self, nodes: Iterable[str]) -> dict[tuple[str, str], dict[str, float]]:
        out: dict[tuple[str, str], dict[str, float]] = {}
        for node in sorted(set(nodes)):
            text = self.conn.get_text(f"/api/v1/nodes/{node}/proxy/metrics/resource", timeout=10)
            parsed = parse_resource_metrics(text)
            stamp = time.time()
            for v in parsed.values():
                v["ts"] = v["ts"] or stamp
            out.update(parsed)
        return out

    def start(self, pods: list[dict[str, Any]]) -> None:
        try:
            self.first = self._scrape(p["spec"].get("nodeName") for p in pods if (p.get("spec") or {}).get("nodeName"))
        except Exception:  # no nodes/proxy permission, or a node without a kubelet endpoint: use PodMetrics
            self.kubelet_ok = False

    def usage(self, pods: list[dict[str, Any]]) -> dict[str, tuple[float | None, float | None]]:
        nodes = [p["spec"].get("nodeName") for p in pods if (p.get("spec") or {}).get("nodeName")]
        if self.kubelet_ok and nodes:
            try:
                last = self._scrape(nodes)
                self.source = "kubelet /metrics/resource (node proxy)"
                return usage_from_scrapes(self.first, last, self.namespace)
            except Exception:
                self.kubelet_ok = False
        try:
            from kubecopilot.cluster._describe import parse_quantity

            items = self.conn.list(f"/apis/metrics.k8s.io/v1beta1/namespaces/{self.namespace}/pods",
                                   labelSelector=self.selector).get("items") or []
        except Exception:
            return {}
        self.source = "metrics.k8s.io PodMetrics" if items else None
        out: dict[str, tuple[float | None, float | None]] = {}
        for item in items:
            cs = item.get("containers") or []
            cpu = sum(parse_quantity((c.get("usage") or {}).get("cpu", 0)) for c in cs) * 1000.0
            mem = sum(parse_quantity((c.get("usage") or {}).get("memory", 0)) for c in cs) / 2**20
            out[item["metadata"]["name"]] = (round(cpu, 3), round(mem, 3))
        return out


def analyse(conn: Any, *, namespace: str, selector: str, target: str, spec: AnalysisSpec,
            expected: int | None = None, wait: Callable[[float], None] = time.sleep) -> AnalysisResult:
    """Sample the pods ``selector`` matches every ``spec.interval`` seconds for ``spec.window`` seconds (``wait``
    sleeps and may raise to stop the analysis early) and judge them."""
    started = utcnow()
    deadline = time.monotonic() + spec.window
    history: list[list[dict[str, Any]]] = []
    metrics = _Metrics(conn, namespace, selector)
    while True:
        items = conn.list(f"/api/v1/namespaces/{namespace}/pods", labelSelector=selector).get("items") or []
        pods = [p for p in items if not (p.get("metadata") or {}).get("deletionTimestamp")]
        history.append(pods)
        if len(history) == 1:
            metrics.start(pods)
        if spec.fail_fast and judge(history, spec, expected=expected, final=False)[0] == "Failed":
            break
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        wait(min(spec.interval, remaining))
    usage = metrics.usage(history[-1]) if history[-1] else {}
    phase, reason, checks = judge(history, spec, expected=expected, usage=usage)
    return AnalysisResult(phase=phase, reason=reason, target=target, selector=selector, started=started,  # type: ignore[arg-type]
                          finished=utcnow(), samples=len(history), pods=[pod_sample(p, usage) for p in history[-1]],
                          checks=checks, metrics_source=metrics.source)
