"""Benchmark: 1,000 pods on 5 simulated nodes (issue 2). A script that prints numbers, not a timed test.

Reports time until all pods are Running and Ready, simulator CPU seconds, pod transitions per second
and the peak memory (RSS) of the whole sandbox. A reference is measured in the same run on the same
API server: the raw write rate of one client creating ConfigMaps from 8 threads, so the simulator's
rate can be read as a share of what the API server accepts here.

    .venv/bin/python tests/benchmarks/bench_simulator.py [--pods 1000] [--nodes 5]
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import tempfile
import threading
import time
from pathlib import Path

import psutil

from kubecopilot.sandbox import Sandbox


def sandbox_rss(pids: dict[str, int]) -> int:
    total = 0
    for pid in pids.values():
        try:
            proc = psutil.Process(pid)
            total += proc.memory_info().rss + sum(c.memory_info().rss for c in proc.children(recursive=True))
        except psutil.Error:
            pass
    return total


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pods", type=int, default=1000)
    ap.add_argument("--nodes", type=int, default=5)
    ap.add_argument("--steady", type=float, default=30.0, help="seconds of steady state measured afterwards")
    args = ap.parse_args()
    per_node = args.pods // args.nodes + 50
    with tempfile.TemporaryDirectory(prefix="kc-bench-") as tmp:
        sb = Sandbox(nodes=args.nodes, data_dir=Path(tmp), node_pods=per_node, node_cpu="64", node_memory="256Gi")
        t = time.monotonic()
        sb.up(timeout=90)
        up_seconds = time.monotonic() - t
        try:
            run(sb, args, up_seconds)
        finally:
            sb.down(quiet=True)


def run(sb: Sandbox, args: argparse.Namespace, up_seconds: float) -> None:
    client = sb.client()
    pids = sb.pids()
    peak = {"rss": sandbox_rss(pids)}
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(0.5):
            peak["rss"] = max(peak["rss"], sandbox_rss(pids))

    threading.Thread(target=sample, daemon=True).start()
    client.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "bench"}})
    client.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "bench-ref"}})
    time.sleep(2)

    # Reference: raw API write rate from this process (8 threads), same API server, same run.
    n_ref = 500
    t = time.monotonic()
    with cf.ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda i: client.create({"apiVersion": "v1", "kind": "ConfigMap",
                                               "metadata": {"name": f"ref-{i}"}, "data": {"k": "v"}}, "bench-ref"),
                      range(n_ref)))
    ref_rate = n_ref / (time.monotonic() - t)

    sim = psutil.Process(pids["simulator"])
    cpu0 = sum(sim.cpu_times()[:2])
    stats0 = sb.simulator_stats()
    deployments = 10
    replicas = args.pods // deployments
    t0 = time.monotonic()
    for d in range(deployments):
        labels = {"app": f"bench-{d}"}
        client.create({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": f"bench-{d}"}, "spec": {
            "replicas": replicas, "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": {
                "terminationGracePeriodSeconds": 1,
                "containers": [{"name": "web", "image": "sandbox/web:1.0",
                                "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}}}]}}}}, "bench")
    created_at = running_at = None
    last_running = 0
    deadline = time.monotonic() + 900
    while time.monotonic() < deadline:
        pods = client.list("/api/v1/namespaces/bench/pods")
        running = sum(1 for p in pods if p.get("status", {}).get("phase") == "Running" and any(
            c["type"] == "Ready" and c["status"] == "True" for c in p["status"].get("conditions", [])))
        if created_at is None and len(pods) >= args.pods:
            created_at = time.monotonic() - t0
        if running != last_running:
            print(f"  t={time.monotonic() - t0:6.1f}s pods={len(pods):5d} running+ready={running:5d}", flush=True)
            last_running = running
        if running >= args.pods:
            running_at = time.monotonic() - t0
            break
        time.sleep(1)
    cpu = sum(sim.cpu_times()[:2]) - cpu0
    time.sleep(1.5)
    stats1 = sb.simulator_stats()
    # Steady state: 1,000 running pods, leases, metrics publishing. Memory keeps being sampled.
    cpu_steady0 = sum(sim.cpu_times()[:2])
    time.sleep(args.steady)
    cpu_steady = sum(sim.cpu_times()[:2]) - cpu_steady0
    stats2 = sb.simulator_stats()
    stop.set()
    transitions = stats1["transitions"] - stats0.get("transitions", 0)
    writes = stats1["status_writes"] - stats0.get("status_writes", 0)
    elapsed = running_at or (time.monotonic() - t0)
    rate = transitions / elapsed
    print()
    print(f"sandbox up (cached binaries)        {up_seconds:8.1f} s")
    print(f"pods                                {args.pods:8d} on {args.nodes} nodes")
    print(f"all pods created by controllers     {created_at or float('nan'):8.1f} s")
    print(f"all pods Running+Ready              {running_at or float('nan'):8.1f} s"
          + ("" if running_at else "  (NOT REACHED)"))
    print(f"simulator CPU                       {cpu:8.1f} s  ({cpu / elapsed:.2f} cores)")
    print(f"pod transitions                     {transitions:8d}  ({rate:.1f}/s; target >= 50/s)")
    print(f"status writes                       {writes:8d}  ({writes / elapsed:.1f}/s)")
    print(f"events posted                       {stats1['events_posted'] - stats0.get('events_posted', 0):8d}")
    print(f"steady state ({args.steady:.0f} s) simulator CPU     {cpu_steady:8.1f} s  "
          f"({cpu_steady / args.steady:.2f} cores; "
          f"{stats2.get('metrics_writes', 0) - stats1.get('metrics_writes', 0)} metrics writes)")
    print(f"peak sandbox RSS (whole run)        {peak['rss'] / 2**20:8.0f} MiB (target < 1536 MiB)")
    print(f"reference: raw API creates (8 thr)  {ref_rate:8.1f} /s")
    print(f"ratio status writes / raw creates   {writes / elapsed / ref_rate:8.2f}")


if __name__ == "__main__":
    main()
