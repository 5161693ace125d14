"""Pure logic of the diagnosis: log preprocessing, scheduling-message parsing, node checks and ranking."""

from __future__ import annotations

import dataclasses

import pytest

from kubecopilot.diagnose import Evidence, Finding, explaining_line, parse_scheduling_message, preprocess_log
from kubecopilot.diagnose._rank import rank
from kubecopilot.diagnose._scheduling import check_nodes, pod_requests
from kubecopilot.plans import PlanIntent

# -- log preprocessing ------------------------------------------------------------------------------------------


def test_repeats_that_differ_only_in_numbers_and_timestamps_are_folded() -> None:
    lines = ["2026-11-23T10:00:00Z INFO starting api version=1.0 port=8080"]
    lines += [f"2026-11-23T10:00:{i:02d}Z WARN upstream not reachable, retrying in 2s attempt={i}/40"
              for i in range(1, 41)]
    lines += ["2026-11-23T10:00:59Z FATAL upstream: dial tcp 10.96.1.2:8080: connect: connection refused"]
    out = preprocess_log("\n".join(lines))
    assert "attempt=1/40" in out and "attempt=40/40" in out
    assert "repeated 38 more time(s)" in out
    assert "attempt=20/40" not in out
    assert out.splitlines()[-1].endswith("connection refused")


def test_error_lines_and_last_lines_are_kept_the_middle_is_omitted() -> None:
    lines = ["banner one", "banner two", "banner three"]
    words = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel"]
    lines += [f"handled {words[i % 8]} {words[(i // 8) % 8]} {words[(i // 64) % 8]}" for i in range(200)]
    lines[100] = "ERROR: could not open /etc/app.yaml"
    lines += [f"shutdown step {c}" for c in "abcdef"]
    out = preprocess_log("\n".join(lines), head=2, tail=4)
    kept = out.splitlines()
    assert kept[:2] == ["banner one", "banner two"]
    assert "ERROR: could not open /etc/app.yaml" in kept
    assert kept[-4:] == ["shutdown step c", "shutdown step d", "shutdown step e", "shutdown step f"]
    assert any(line.startswith("… ") and "omitted" in line for line in kept)


def test_stack_trace_under_an_error_is_kept() -> None:
    text = "\n".join(["ok"] * 50 + ["panic: runtime error: invalid memory address",
                                    "", "goroutine 37 [running]:", "main.handle()", "\t/src/main.go:87 +0x3e"]
                     + ["ok line"] * 50)
    out = preprocess_log(text, tail=3)
    assert "panic: runtime error: invalid memory address" in out
    assert "\t/src/main.go:87 +0x3e" in out or "goroutine 37 [running]:" in out


def test_output_is_capped_but_keeps_the_tail() -> None:
    text = "\n".join(f"ERROR failure number {i} " + "x" * (i % 7) + f" id={chr(65 + i % 26)}" for i in range(3000))
    out = preprocess_log(text, max_chars=2000, tail=5)
    assert len(out) <= 2000
    assert "failure number 2999" in out


def test_empty_log() -> None:
    assert preprocess_log("") == ""
    assert preprocess_log(None) == ""
    assert explaining_line("") is None


def test_explaining_line_prefers_fatal_then_error_and_joins_wrapped_messages() -> None:
    log = "\n".join([
        "2026-11-23T10:00:00Z INFO starting",
        "2026-11-23T10:00:01Z ERROR cache warm-up failed, continuing",
        "2026-11-23T10:00:02Z FATAL config: required environment variable DATABASE_URL is not set",
        "2026-11-23T10:00:02Z INFO bye",
    ])
    assert explaining_line(log).endswith("DATABASE_URL is not set")
    postgres = ("Error: Database is uninitialized and superuser password is not specified.\n"
                "       You must specify POSTGRES_PASSWORD to a non-empty value for the\n"
                "       superuser.\n")
    line = explaining_line(postgres)
    assert line.startswith("Error: Database is uninitialized") and "POSTGRES_PASSWORD" in line
    assert explaining_line("sh: bash: not found") == "sh: bash: not found"
    assert explaining_line("all good\nstill good") == "still good"


def test_info_lines_with_error_words_are_not_error_lines() -> None:
    log = "INFO request path=/missing status=404 not found\nINFO listening addr=:8080"
    assert explaining_line(log) == "INFO listening addr=:8080"


# -- scheduling messages ----------------------------------------------------------------------------------------


def test_scheduling_message_is_parsed_into_counted_causes() -> None:
    msg = ("0/3 nodes are available: 1 Insufficient cpu, 2 node(s) had taint {nvidia.com/gpu: present}, "
           "that the pod didn't tolerate.")
    f = parse_scheduling_message(msg)
    assert f is not None and (f.available, f.total) == (0, 3)
    assert [(c.count, c.kind) for c in f.causes] == [(1, "resources"), (2, "taint")]
    assert f.causes[0].resource == "cpu"
    assert f.causes[1].taint == ("nvidia.com/gpu", "present")


@pytest.mark.parametrize("msg, kinds", [
    ("0/5 nodes are available: 5 pod has unbound immediate PersistentVolumeClaims.", ["volume"]),
    ("0/4 nodes are available: 1 node(s) had taint {node.kubernetes.io/not-ready: }, that the pod didn't "
     "tolerate, 3 node(s) didn't match Pod's node affinity.", ["taint", "selector"]),
    ("0/3 nodes are available: 3 node(s) didn't match node selector.", ["selector"]),
    ("0/3 nodes are available: 1 node(s) were unschedulable, 2 Insufficient memory. preemption: 0/3 nodes are "
     "available: 3 No preemption victims found for incoming pod.", ["unschedulable", "resources"]),
    ("0/2 nodes are available: 2 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }.",
     ["taint"]),
    ("0/6 nodes are available: 6 Too many pods.", ["pods"]),
])
def test_scheduling_message_variants(msg: str, kinds: list[str]) -> None:
    f = parse_scheduling_message(msg)
    assert f is not None
    assert [c.kind for c in f.causes] == kinds
    assert sum(c.count for c in f.causes) == f.total


def test_non_scheduler_messages_are_not_parsed() -> None:
    assert parse_scheduling_message("pod has unbound immediate PersistentVolumeClaims") is None
    assert parse_scheduling_message(None) is None


def _node(name: str, labels: dict[str, str] | None = None, taints: list[dict[str, str]] | None = None,
          cpu: str = "4", memory: str = "8Gi", ready: str = "True") -> dict:
    return {"metadata": {"name": name, "labels": labels or {}}, "spec": {"taints": taints or []},
            "status": {"allocatable": {"cpu": cpu, "memory": memory, "pods": "110"},
                       "conditions": [{"type": "Ready", "status": ready}]}}


def test_node_check_names_selector_taint_and_resource_failures() -> None:
    nodes = [_node("a", {"zone": "z1"}), _node("gpu", {"pool": "gpu"}, [{"key": "nvidia.com/gpu", "value": "present",
                                                                       "effect": "NoSchedule"}])]
    spec = {"nodeSelector": {"pool": "gpu"}, "containers": [{"resources": {"requests": {"cpu": "6"}}}]}
    by = {v.node: v for v in check_nodes(spec, nodes)}
    assert by["a"].fails[0] == "selector" and "no pool label" in by["a"].selector[0]
    assert "taint" in by["gpu"].fails and by["gpu"].taints[0]["key"] == "nvidia.com/gpu"
    assert "resources" in by["gpu"].fails
    tolerated = {**spec, "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
                 "containers": [{"resources": {"requests": {"cpu": "500m"}}}]}
    assert {v.node: v.fails for v in check_nodes(tolerated, nodes)}["gpu"] == []


def test_pod_requests_take_the_larger_of_containers_sum_and_init_containers() -> None:
    spec = {"containers": [{"resources": {"requests": {"cpu": "250m", "memory": "64Mi"}}},
                           {"resources": {"requests": {"cpu": "250m"}}}],
            "initContainers": [{"resources": {"requests": {"cpu": "1", "memory": "32Mi"}}}]}
    req = pod_requests(spec)
    assert float(req["cpu"]) == 1.0 and int(req["memory"]) == 64 * 2**20


# -- ranking ----------------------------------------------------------------------------------------------------


def F(rule: str, obj: str, severity: str = "error", depends: tuple[str, ...] = ()) -> Finding:
    return Finding(rule, severity, obj, f"{rule} cause", [Evidence("field", obj, "x")]).follows(*depends)


def test_service_with_crashing_pods_follows_from_the_crash() -> None:
    crash = F("pod.crashloop", "pod/ns/payments-1")
    svc = F("service.no-endpoints", "service/ns/payments", depends=("deployment/ns/payments",))
    unavailable = F("deployment.unavailable", "deployment/ns/payments", depends=("deployment/ns/payments",))
    owners = {"pod/ns/payments-1": "deployment/ns/payments"}
    ranked = rank([svc, unavailable, crash], owners, {"deployment/ns/payments": 1})
    assert ranked[0].rule == "pod.crashloop" and ranked[0].object == "deployment/ns/payments"
    assert ranked[0].caused_by is None
    root = ranked[0].key
    for f in ranked[1:]:
        assert f.caused_by == root
        assert "follows from pod.crashloop on deployment/ns/payments" in f.cause


def test_chains_resolve_to_the_root_and_a_caller_of_a_broken_upstream_is_not_a_root() -> None:
    payments = F("pod.crashloop", "deployment/ns/payments")
    svc = F("service.no-endpoints", "service/ns/payments", depends=("deployment/ns/payments",))
    ingress = F("ingress.no-endpoints", "ingress/ns/shop", depends=("service/ns/payments",))
    checkout = F("pod.crashloop", "deployment/ns/checkout", depends=("service/ns/payments",))
    ranked = rank([checkout, ingress, svc, payments])
    assert [f.key for f in ranked if not f.caused_by] == [payments.key]
    assert all(f.caused_by == payments.key for f in (svc, ingress, checkout))


def test_pods_of_one_workload_fold_into_one_finding() -> None:
    a, b = F("pod.oomkilled", "pod/ns/w-1"), F("pod.oomkilled", "pod/ns/w-2")
    owners = {"pod/ns/w-1": "deployment/ns/w", "pod/ns/w-2": "deployment/ns/w"}
    ranked = rank([a, b], owners, {"deployment/ns/w": 3})
    assert len(ranked) == 1 and ranked[0].object == "deployment/ns/w"
    assert "(2 of 3 pods)" in ranked[0].cause
    kept = rank([F("pod.oomkilled", "pod/ns/w-1")], owners, {"deployment/ns/w": 3}, keep=frozenset({"pod/ns/w-1"}))
    assert kept[0].object == "pod/ns/w-1"


def test_progress_deadline_absorbs_milder_pod_findings_but_follows_a_crash() -> None:
    owners = {"pod/ns/r-1": "deployment/ns/r"}
    deadline = F("deployment.progress-deadline", "deployment/ns/r", depends=("deployment/ns/r",))
    readiness = F("pod.readiness-failing", "pod/ns/r-1", severity="warning")
    ranked = rank([deadline, readiness], owners)
    assert [f.rule for f in ranked] == ["deployment.progress-deadline"]
    assert "pod.readiness-failing cause" in ranked[0].cause

    deadline = F("deployment.progress-deadline", "deployment/ns/r", depends=("deployment/ns/r",))
    crash = F("pod.crashloop", "pod/ns/r-1")
    unavailable = F("deployment.unavailable", "deployment/ns/r", depends=("deployment/ns/r",))
    ranked = rank([unavailable, deadline, crash], owners)
    assert ranked[0].rule == "pod.crashloop"
    assert {f.rule: f.caused_by for f in ranked[1:]} == {
        "deployment.progress-deadline": ranked[0].key, "deployment.unavailable": ranked[0].key}


def test_cycles_are_broken_at_the_most_severe_member() -> None:
    a = F("pod.crashloop", "deployment/ns/a", depends=("service/ns/a",))
    b = F("service.no-endpoints", "service/ns/a", severity="warning", depends=("deployment/ns/a",))
    ranked = rank([b, a])
    assert ranked[0] is a and a.caused_by is None and b.caused_by == a.key


def test_roots_are_ordered_by_severity_then_what_follows_from_them() -> None:
    node = F("node.not-ready", "node/n1", severity="critical")
    hpa = F("hpa.missing-requests", "horizontalpodautoscaler/ns/h", severity="warning")
    quota = F("quota.exceeded", "deployment/ns/q")
    pending = F("pod.unschedulable", "deployment/ns/p", depends=("node/n1",))
    ranked = rank([hpa, quota, pending, node])
    assert [f.rule for f in ranked] == ["node.not-ready", "quota.exceeded", "hpa.missing-requests",
                                        "pod.unschedulable"]


# -- the Finding contract ---------------------------------------------------------------------------------------


def test_finding_fields_are_exactly_the_contract() -> None:
    assert [f.name for f in dataclasses.fields(Finding)] == [
        "rule", "severity", "object", "cause", "evidence", "intent", "caused_by"]
    intent = PlanIntent(action="scale", kind="deployment", name="w", namespace="ns", parameters={"replicas": 1},
                        source="rule:service.no-endpoints")
    f = Finding("service.no-endpoints", "error", "service/ns/s", "cause", [Evidence("event", "pod/ns/p", "q")],
                intent)
    d = f.to_dict()
    assert f.key == "service.no-endpoints:service/ns/s" == d["key"]
    assert d["intent"]["action"] == "scale" and d["intent"]["source"] == "rule:service.no-endpoints"
    assert d["evidence"] == [{"kind": "event", "source": "pod/ns/p", "quote": "q"}]
    assert d["caused_by"] is None
