"""Benchmark: listing 5,000 pods as a `ResourceTable` (issue 3). A script that prints numbers, not a timed test.

Starts its own sandbox (5 nodes), creates Deployments totalling ``--pods`` pods of ``sandbox/web:1.0`` with tiny
requests and waits until they all exist (Running is not needed) plus ``--settle`` seconds. Then, median of
``--repeat`` runs each:

- ``ws.pods()`` (raw JSON → kubectl-like DataFrame), in process;
- the official client's ``CoreV1Api.list_pod_for_all_namespaces()`` with its models (the reference in this run);
- ``kubectl get pods -A -o json`` wall time, if kubectl is on PATH (Debian package ``kubernetes-client``).

Targets: ≤ 0.5x kubectl's time, ≥ 3x faster than the models, table memory ≤ 3x the JSON size.

    .venv/bin/python tests/benchmarks/bench_list.py [--pods 5000] [--nodes 5] [--repeat 5]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kubecopilot.sandbox import Sandbox


def median_time(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    times, out = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), out


def deployment(name: str, replicas: int) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name}, "spec": {
        "replicas": replicas, "selector": {"matchLabels": {"app": name}},
        "template": {"metadata": {"labels": {"app": name}}, "spec": {
            "terminationGracePeriodSeconds": 1,
            "containers": [{"name": "web", "image": "sandbox/web:1.0",
                            "resources": {"requests": {"cpu": "1m", "memory": "1Mi"}}}]}}}}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pods", type=int, default=5000)
    ap.add_argument("--nodes", type=int, default=5)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--per-deployment", type=int, default=250)
    ap.add_argument("--settle", type=float, default=30.0,
                    help="seconds to wait after the pods exist, so the simulator's start-up writes settle first")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="kc-bench-list-") as tmp:
        sb = Sandbox(nodes=args.nodes, data_dir=Path(tmp), node_pods=1100, node_cpu="64", node_memory="256Gi")
        t = time.monotonic()
        sb.up(timeout=120)
        print(f"sandbox up in {time.monotonic() - t:.1f}s ({args.nodes} nodes)")
        try:
            run(sb, args)
        finally:
            sb.down(quiet=True)


def run(sb: Sandbox, args: argparse.Namespace) -> None:
    import kubecopilot as kc
    from kubecopilot.cluster._table import objects_size

    client = sb.client()
    ns = "bench-list"
    client.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
    left, i = args.pods, 0
    while left > 0:
        n = min(args.per_deployment, left)
        client.create(deployment(f"web-{i:03d}", n), ns)
        left, i = left - n, i + 1
    t = time.monotonic()
    while True:
        count = len(client.list(f"/api/v1/namespaces/{ns}/pods", limit=1000))
        if count >= args.pods:
            break
        if time.monotonic() - t > 900:
            raise SystemExit(f"only {count} of {args.pods} pods after 900 s")
        time.sleep(2)
    print(f"{args.pods} pods exist after {time.monotonic() - t:.1f}s ({i} deployments); settling {args.settle:g}s")
    time.sleep(args.settle)

    ws = kc.connect(str(sb.kubeconfig_path), context="sandbox-admin")
    ws.kinds()  # discovery is cached per connection: not part of a listing
    ours, table = median_time(lambda: ws.pods().frame, args.repeat)
    table = ws.pods()
    print(f"ws.pods() -> DataFrame:              {ours * 1000:8.0f} ms  ({len(table)} rows)")

    for label, params in (("raw pages of 500 (network + JSON decode)", {"limit": 500}),
                          ("raw one page of 10000", {"limit": 10000}),
                          ("raw resourceVersion=0 (watch cache)", {"limit": 500, "resourceVersion": "0"})):
        took, _ = median_time(lambda p=params: ws.raw.list("/api/v1/pods", **p), args.repeat)
        print(f"  {label:38s} {took * 1000:8.0f} ms")

    from kubernetes import client as k8s

    api = k8s.CoreV1Api(ws.raw.api_client)
    models, listed = median_time(lambda: api.list_pod_for_all_namespaces(), args.repeat)
    print(f"CoreV1Api list_pod_for_all_namespaces: {models * 1000:8.0f} ms  ({len(listed.items)} models)")

    kubectl = shutil.which("kubectl")
    kube = None
    if kubectl:
        env = {**os.environ, "KUBECONFIG": str(sb.kubeconfig_path)}
        cmd = [kubectl, "--context", "sandbox-admin", "get", "pods", "-A", "-o", "json"]

        def run_kubectl() -> int:
            done = subprocess.run(cmd, env=env, capture_output=True, check=True)
            return len(done.stdout)

        kube, _ = median_time(run_kubectl, args.repeat)
        print(f"kubectl get pods -A -o json:          {kube * 1000:8.0f} ms")
    else:
        print("kubectl not on PATH (Debian package kubernetes-client): kubectl comparison skipped")

    raw = json.dumps(ws.raw.list("/api/v1/pods", limit=500), separators=(",", ":")).encode()  # as the server sends
    frame_bytes = int(table.frame.memory_usage(deep=True).sum())
    objects_bytes = objects_size(table.objects)
    print()
    if kube:
        print(f"time vs kubectl:  {ours / kube:5.2f}x   (target <= 0.5x)")
    print(f"models / ours:    {models / ours:5.2f}x faster (target >= 3x)")
    print(f"memory: frame {frame_bytes / 1e6:.1f} MB + raw objects ~{objects_bytes / 1e6:.1f} MB = "
          f"{(frame_bytes + objects_bytes) / 1e6:.1f} MB vs JSON {len(raw) / 1e6:.1f} MB -> "
          f"{(frame_bytes + objects_bytes) / len(raw):.2f}x (target <= 3x)")


if __name__ == "__main__":
    main()
