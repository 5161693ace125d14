"""The analysis verdict from hand-written pods, and the kubelet metrics it reads."""

from __future__ import annotations

import time
from typing import Any

from kubecopilot.rollouts import AnalysisSpec, judge
from kubecopilot.rollouts._analysis import analyse, crash_reason, parse_resource_metrics, usage_from_scrapes

SPEC = AnalysisSpec(window=10, interval=2)


def pod(name: str, *, phase: str = "Running", ready: bool = True, restarts: int = 0, waiting: str | None = None,
        terminated: dict[str, Any] | None = None, node: str = "n1") -> dict[str, Any]:
    state: dict[str, Any] = {"running": {}}
    if waiting:
        state = {"waiting": {"reason": waiting}}
    if terminated:
        state = {"terminated": terminated}
    return {"metadata": {"name": name}, "spec": {"nodeName": node},
            "status": {"phase": phase, "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
                       "containerStatuses": [{"name": "app", "restartCount": restarts, "state": state,
                                              "lastState": {"terminated": {"exitCode": 1, "reason": "Error"}}
                                              if restarts else {}}]}}


def test_ready_pods_without_restarts_are_successful() -> None:
    phase, reason, checks = judge([[pod("a"), pod("b")], [pod("a"), pod("b")]], SPEC, expected=2)
    assert phase == "Successful" and reason == "2 pod(s) Ready, no restarts during the window"
    assert {c.name: c.status for c in checks} == {"restarts": "pass", "crashes": "pass", "pods": "pass",
                                                  "ready": "pass"}


def test_restarts_during_the_window_fail_but_restarts_before_it_do_not() -> None:
    before = [[pod("a", restarts=3)], [pod("a", restarts=3)]]
    assert judge(before, SPEC)[0] == "Successful"
    during = [[pod("a", restarts=3)], [pod("a", restarts=4)]]
    phase, reason, _ = judge(during, SPEC)
    assert phase == "Failed" and "a +1 (allowed 0)" in reason
    assert judge(during, AnalysisSpec(max_restarts=1))[0] == "Successful"
    new_pod = [[], [pod("late", restarts=2)]]  # a pod born during the window: all its restarts count
    assert judge(new_pod, SPEC)[0] == "Failed"


def test_crash_reasons_failed_pods_and_unready_pods_fail() -> None:
    phase, reason, _ = judge([[pod("a", ready=False, restarts=1, waiting="CrashLoopBackOff")]], SPEC)
    assert phase == "Failed" and "CrashLoopBackOff (last exit 1: Error)" in reason
    assert crash_reason(pod("x", ready=False, terminated={"exitCode": 137, "reason": "OOMKilled"})) == \
        "app: exited 137 (OOMKilled)"
    assert judge([[pod("a", phase="Failed", ready=False)]], SPEC)[0] == "Failed"
    phase, reason, _ = judge([[pod("a"), pod("b", ready=False)]], SPEC)
    assert phase == "Failed" and "1 of 2 running pod(s) Ready" in reason
    assert judge([[pod("a"), pod("b", ready=False)]], AnalysisSpec(min_ready=0.5))[0] == "Successful"


def test_not_enough_data_is_inconclusive() -> None:
    phase, reason, _ = judge([[]], SPEC)
    assert (phase, reason) == ("Inconclusive", "no pods match the selector")
    phase, reason, _ = judge([[pod("a", phase="Pending", ready=False, waiting="ContainerCreating")]], SPEC)
    assert phase == "Inconclusive" and "still Pending" in reason
    assert judge([[pod("a")]], SPEC, expected=2)[1] == "only 1 of 2 pods exist"
    phase, reason, checks = judge([[pod("a")]], AnalysisSpec(max_cpu_millicores=100))
    assert phase == "Inconclusive" and "no cpu metrics" in reason
    assert {c.name: c.status for c in checks}["cpu"] == "unknown"


def test_metric_thresholds() -> None:
    spec = AnalysisSpec(max_cpu_millicores=100, max_memory_mib=64)
    ok = judge([[pod("a")]], spec, usage={"a": (20.0, 32.0)})
    assert ok[0] == "Successful" and {c.name: c.detail for c in ok[2]}["cpu"] == "max 20.0m <= 100m"
    hot = judge([[pod("a")]], spec, usage={"a": (250.0, 32.0)})
    assert hot[0] == "Failed" and "cpu above 100m: a 250.0m" in hot[1]


def test_mid_window_judgement_ignores_readiness() -> None:
    assert judge([[pod("a", ready=False)]], SPEC, final=False)[0] == "Successful"
    assert judge([[pod("a", restarts=0)], [pod("a", restarts=1)]], SPEC, final=False)[0] == "Failed"


KUBELET = """\
# HELP container_cpu_usage_seconds_total [ALPHA] Cumulative cpu time consumed by the container in core-seconds
# TYPE container_cpu_usage_seconds_total counter
container_cpu_usage_seconds_total{container="app",namespace="ns",pod="a"} %(cpu)s %(ts)d
container_cpu_usage_seconds_total{container="side",namespace="ns",pod="a"} 1.0 %(ts)d
container_cpu_usage_seconds_total{container="app",namespace="other",pod="z"} 9.0 %(ts)d
container_memory_working_set_bytes{container="app",namespace="ns",pod="a"} 8388608 %(ts)d
container_memory_working_set_bytes{container="side",namespace="ns",pod="a"} 2097152 %(ts)d
node_cpu_usage_seconds_total 3.4 %(ts)d
"""


def test_kubelet_resource_metrics_become_cpu_rates_and_memory_per_pod() -> None:
    first = parse_resource_metrics(KUBELET % {"cpu": "2.0", "ts": 1_000_000})
    assert first[("ns", "a")] == {"cpu_s": 3.0, "memory": 10485760.0, "ts": 1000.0}
    last = parse_resource_metrics(KUBELET % {"cpu": "2.5", "ts": 1_010_000})
    assert usage_from_scrapes(first, last, "ns") == {"a": (50.0, 10.0)}  # 0.5 core-s over 10 s = 50m; 10 MiB
    restarted = parse_resource_metrics(KUBELET % {"cpu": "0.1", "ts": 1_010_000})
    assert usage_from_scrapes(first, restarted, "ns") == {"a": (None, 10.0)}  # a counter reset: no rate


class _Conn:
    """A scripted API: the pods of each sample in turn; the node proxy forbidden; PodMetrics as given."""

    def __init__(self, samples: list[list[dict[str, Any]]], podmetrics: list[dict[str, Any]]) -> None:
        self.samples, self.podmetrics, self.calls = samples, podmetrics, 0

    def list(self, path: str, **params: Any) -> dict[str, Any]:
        if "metrics.k8s.io" in path:
            return {"items": self.podmetrics}
        self.calls += 1
        return {"items": self.samples[min(self.calls, len(self.samples)) - 1]}

    def get_text(self, path: str, **params: Any) -> str:
        raise PermissionError("nodes/proxy is forbidden")


def test_analyse_samples_the_window_and_falls_back_to_pod_metrics() -> None:
    waited: list[float] = []
    conn = _Conn([[pod("a")]] * 3, [{"metadata": {"name": "a"},
                                      "containers": [{"usage": {"cpu": "5m", "memory": "8192Ki"}}]}])

    def wait(seconds: float) -> None:
        waited.append(seconds)
        time.sleep(seconds)

    result = analyse(conn, namespace="ns", selector="app=web", target="t",
                     spec=AnalysisSpec(window=0.05, interval=0.02), expected=1, wait=wait)
    assert result.phase == "Successful" and result.samples >= 2 and waited
    assert result.metrics_source == "metrics.k8s.io PodMetrics"
    assert (result.pods[0].cpu_millicores, result.pods[0].memory_mib) == (5.0, 8.0)


def test_analyse_stops_at_the_first_failure() -> None:
    conn = _Conn([[pod("a")], [pod("a", restarts=1, ready=False, waiting="CrashLoopBackOff")], [pod("a")]], [])
    result = analyse(conn, namespace="ns", selector="app=web", target="t", spec=AnalysisSpec(window=60, interval=1),
                     wait=lambda s: None)
    assert result.phase == "Failed" and result.samples == 2 and conn.calls == 2
