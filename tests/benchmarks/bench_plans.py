"""Benchmark: what an OperationPlan costs on top of the API calls it has to make. A script that prints numbers.

For ``--plans`` scale plans (a Deployment toggled between 1 and 2 replicas; its pods are unschedulable on purpose,
so the simulator does no work), measured interleaved in the same run:

- build: ``ws.plan.scale(...)`` (read, diff, dry run, risk facts, risk, ledger write) plus rendering (HTML + text),
  against the bare calls the builder needs — GET deployment, PATCH ?dryRun=All, GET namespace, LIST hpa
  (LIST pdb too when scaling down) — sent over the same connection;
- execute: ``plan.execute()`` (claim in the ledger, re-read, drift check, PATCH with the resourceVersion test,
  outcome in the ledger), against a bare GET + PATCH;
- the ledger's share of both (one transaction per transition, measured on its own).

Target: overhead under 20 ms per plan beyond the API calls.

    .venv/bin/python tests/benchmarks/bench_plans.py [--plans 30] [--data-dir /tmp/kc-shared-sb]

Uses the running sandbox in ``--data-dir`` (default ``$KUBECOPILOT_TEST_SANDBOX_DIR``), else starts one of its own.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
import uuid
from pathlib import Path


def stats(values: list[float]) -> str:
    ms = sorted(v * 1000 for v in values)
    p90 = ms[min(len(ms) - 1, round(0.9 * (len(ms) - 1)))]
    return f"median {statistics.median(ms):7.2f} ms   p90 {p90:7.2f} ms"


def line(name: str, values: list[float], note: str = "") -> None:
    print(f"  {name:<46} {stats(values)}  {note}")


def run(kubeconfig: str, plans: int) -> None:
    os.environ["KUBECOPILOT_DB"] = str(Path(tempfile.mkdtemp(prefix="kc-bench-plans-")) / "audit.duckdb")
    import kubecopilot as kc
    from kubecopilot.display import plan_html, plan_text
    from kubecopilot.errors import ClusterApiError
    from kubecopilot.plans import _store

    admin = kc.connect(kubeconfig, context="sandbox-admin")
    ns = f"bench-plans-{uuid.uuid4().hex[:6]}"
    admin.raw.request("POST", "/api/v1/namespaces", body={"apiVersion": "v1", "kind": "Namespace",
                                                          "metadata": {"name": ns}})
    try:
        ws = kc.connect(kubeconfig, context="sandbox-admin", namespace=ns, name="bench")
        conn = ws.raw
        path = f"/apis/apps/v1/namespaces/{ns}/deployments/web"
        conn.request("POST", f"/apis/apps/v1/namespaces/{ns}/deployments", body={
            "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web"}},
                                  "spec": {"nodeSelector": {"kc-bench": "nowhere"},
                                           "containers": [{"name": "app", "image": "nginx:1.25"}]}}}})
        # warm-up: discovery, the ledger file, imports of the view
        warm = ws.plan.scale("deploy/web", 2)
        plan_html(warm)
        time.sleep(1.0)

        def bare_build(replicas: int, down: bool) -> None:
            conn.get(path)
            conn.request("PATCH", path, params={"dryRun": "All"}, content_type="application/json-patch+json",
                         body=[{"op": "replace", "path": "/spec/replicas", "value": replicas}])
            conn.get(f"/api/v1/namespaces/{ns}")
            conn.list(f"/apis/autoscaling/v1/namespaces/{ns}/horizontalpodautoscalers")
            if down:
                conn.list(f"/apis/policy/v1beta1/namespaces/{ns}/poddisruptionbudgets")

        def bare_execute(replicas: int) -> None:
            for _ in range(4):  # a controller's status write may move the resourceVersion: read and send again
                live = conn.get(path)
                try:
                    conn.request("PATCH", path, content_type="application/json-patch+json", body=[
                        {"op": "test", "path": "/metadata/resourceVersion",
                         "value": live["metadata"]["resourceVersion"]},
                        {"op": "replace", "path": "/spec/replicas", "value": replicas}])
                    return
                except ClusterApiError as e:
                    if e.status != 422:
                        raise

        t_bare_build, t_build, t_render, t_bare_exec, t_exec, t_approve, t_ledger, t_read = ([] for _ in range(8))
        current = 1
        for i in range(plans):
            target = 2 if current == 1 else 1
            down = target < current
            t = time.perf_counter()
            bare_build(target, down)
            t_bare_build.append(time.perf_counter() - t)

            t = time.perf_counter()
            plan = ws.plan.scale("deploy/web", target)
            t_build.append(time.perf_counter() - t)
            t = time.perf_counter()
            plan_html(plan)
            plan_text(plan)
            t_render.append(time.perf_counter() - t)

            t = time.perf_counter()
            plan.approve(by="bench")
            t_approve.append(time.perf_counter() - t)
            t = time.perf_counter()
            _store.record(plan, "bench.transition", "bench", {"step": i})  # one transition: event + plan row
            t_ledger.append(time.perf_counter() - t)
            t = time.perf_counter()
            _store.find_execution(_store.ledger_of(plan), plan.idempotency_key)  # the claim's look-up
            t_read.append(time.perf_counter() - t)

            t = time.perf_counter()
            plan.execute(by="bench")
            t_exec.append(time.perf_counter() - t)
            current = target

            # the reference write, toggled back and forth so it changes something every time
            t = time.perf_counter()
            bare_execute(3 if i % 2 == 0 else current)
            t_bare_exec.append(time.perf_counter() - t)
            if i % 2 == 0:
                bare_execute(current)  # restore (not timed)

        build_total = [b + r for b, r in zip(t_build, t_render, strict=True)]
        build_over = [a - b for a, b in zip(build_total, t_bare_build, strict=True)]
        exec_over = [a - b for a, b in zip(t_exec, t_bare_exec, strict=True)]
        led, read = statistics.median(t_ledger), statistics.median(t_read)
        print(f"{plans} scale plans on {ws.server} (median, p90)")
        print("build")
        line("bare API calls (GET, PATCH dryRun, GET ns, LIST hpa)", t_bare_build, "(reference, same run)")
        line("ws.plan.scale(...) incl. 1 ledger write", t_build)
        line("render (HTML with YAML diff + text)", t_render)
        line("overhead = build + render - bare calls", build_over,
             f"target < 20 ms; without the ledger write: {statistics.median(build_over) * 1000 - led * 1000:.2f} ms")
        print("execute")
        line("bare API calls (GET + PATCH with rv test)", t_bare_exec, "(reference, same run)")
        line("plan.execute() incl. 2 ledger writes + 1 read", t_exec)
        line("overhead = execute - bare calls", exec_over,
             f"target < 20 ms; without the ledger: {(statistics.median(exec_over) - 2 * led - read) * 1000:.2f} ms")
        print("ledger")
        line("one transition (event + plan row, 1 transaction)", t_ledger)
        line("claim look-up (1 read of the plans table)", t_read)
        line("plan.approve() (ledger read + 1 transaction)", t_approve)
    finally:
        admin.raw.request("DELETE", f"/api/v1/namespaces/{ns}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--plans", type=int, default=30)
    ap.add_argument("--data-dir", default=os.environ.get("KUBECOPILOT_TEST_SANDBOX_DIR"))
    args = ap.parse_args()
    from kubecopilot.sandbox import Sandbox

    if args.data_dir:
        sb = Sandbox(data_dir=Path(args.data_dir))
        if not all(sb.running().values()):
            raise SystemExit(f"no running sandbox in {args.data_dir}: `kubecopilot sandbox up --data-dir "
                             f"{args.data_dir}` first, or leave --data-dir out to start one")
        run(str(sb.kubeconfig_path), args.plans)
        return
    with tempfile.TemporaryDirectory(prefix="kc-bench-plans-sb-") as tmp:
        sb = Sandbox(nodes=1, data_dir=Path(tmp))
        sb.up(timeout=120)
        try:
            run(str(sb.kubeconfig_path), args.plans)
        finally:
            sb.down(quiet=True)


if __name__ == "__main__":
    main()
