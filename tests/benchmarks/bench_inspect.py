"""Benchmark: detail views, search, topology and watch latency (issue 3). A script that prints numbers, not a test.

Uses the running sandbox (``--data-dir``, default ``$KUBECOPILOT_TEST_SANDBOX_DIR`` or /tmp/kc-shared-sb) and a
namespace of its own with ``--apps`` small applications (a 2-replica Deployment of ``sandbox/web:1.0`` mounting a
ConfigMap and a Secret, a Service and an Ingress each), deleted afterwards. Median of ``--repeat`` runs each:

- ``ws.get(deployment)``: API requests made and wall time; reference: the same reads one after another;
- ``ws.search(text)`` over the common kinds in parallel; reference: the same search with one worker;
- ``ws.topology(ns)``; reference: sequential lists;
- ``ws.watch``: the delay from sending a create to its ADDED event reaching the iterator;
  reference: the create call's own round trip.

Targets: get ≤ 12 requests and faster than sequential; topology ≥ 1.5x faster than sequential; search faster than
one worker (its JSON decoding holds the GIL, so threads help less); watch delay ≤ 0.2 s.

    .venv/bin/python tests/benchmarks/bench_inspect.py [--apps 10] [--repeat 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import kubecopilot as kc
from kubecopilot.cluster import _related
from kubecopilot.sandbox import Sandbox


def line(name: str, value: str, target: str, reference: str) -> None:
    print(f"{name:<40} {value:>16}   target {target:<16} reference: {reference}")


def median_time(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    times, out = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), out


def create_apps(client: Any, ns: str, n: int) -> None:
    for i in range(n):
        name = f"app-{i:02d}"
        client.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"{name}-cfg"},
                       "data": {"a": "1"}}, ns)
        client.create({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": f"{name}-db"},
                       "stringData": {"p": "x"}}, ns)
        client.create({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name}, "spec": {
            "replicas": 2, "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}}, "spec": {
                "terminationGracePeriodSeconds": 1,
                "containers": [{"name": "web", "image": "sandbox/web:1.0",
                                "resources": {"requests": {"cpu": "1m", "memory": "1Mi"}},
                                "envFrom": [{"configMapRef": {"name": f"{name}-cfg"}}],
                                "env": [{"name": "P", "valueFrom": {"secretKeyRef": {"name": f"{name}-db",
                                                                                    "key": "p"}}}]}]}}}}, ns)
        client.create({"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
                       "spec": {"selector": {"app": name}, "ports": [{"port": 80}]}}, ns)
        client.create({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {"name": name},
                       "spec": {"rules": [{"host": f"{name}.example.com", "http": {"paths": [
                           {"path": "/", "pathType": "Prefix",
                            "backend": {"service": {"name": name, "port": {"number": 80}}}}]}}]}}, ns)


class CountingRequests:
    """Count the raw requests a workbench's connection makes (every read goes through ``_send``)."""

    def __init__(self, conn: Any) -> None:
        self.conn, self.count = conn, 0
        self._real = conn._send

        def counted(*a: Any, **kw: Any) -> Any:
            self.count += 1
            return self._real(*a, **kw)

        conn._send = counted


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data-dir", default=os.environ.get("KUBECOPILOT_TEST_SANDBOX_DIR", "/tmp/kc-shared-sb"))
    ap.add_argument("--apps", type=int, default=10)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    sb = Sandbox(data_dir=Path(args.data_dir))
    client = sb.client()
    ns = f"bench-inspect-{uuid.uuid4().hex[:5]}"
    client.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
    try:
        create_apps(client, ns, args.apps)
        ws = kc.connect(str(sb.kubeconfig_path), context="sandbox-admin", namespace=ns)
        deadline = time.monotonic() + 120
        while len(ws.pods(namespace=ns)) < 2 * args.apps and time.monotonic() < deadline:
            time.sleep(1)
        ws.kinds()  # discovery is cached per connection; measure the reads, not discovery
        print(f"namespace {ns}: {args.apps} apps, {len(ws.pods(namespace=ns))} pods; median of {args.repeat}")

        counter = CountingRequests(ws.raw)
        ws.get("deployment/app-00")
        requests = counter.count
        t_get, r = median_time(lambda: ws.get("deployment/app-00"), args.repeat)
        _related.MAX_WORKERS = 1
        t_get_seq, _ = median_time(lambda: ws.get("deployment/app-00"), args.repeat)
        t_topo_seq, _ = median_time(lambda: ws.topology(ns), args.repeat)
        _related.MAX_WORKERS = 8
        t_topo, topo = median_time(lambda: ws.topology(ns), args.repeat)
        line("ws.get(deployment) requests", f"{requests}", "<= 12", f"{len(r.related)} related objects found")
        line("ws.get(deployment)", f"{t_get * 1000:.0f} ms", "faster than ref", f"sequential {t_get_seq * 1000:.0f} ms")
        line("ws.topology(ns)", f"{t_topo * 1000:.0f} ms", ">= 1.5x ref",
             f"sequential {t_topo_seq * 1000:.0f} ms ({t_topo_seq / t_topo:.1f}x); "
             f"{len(topo.nodes)} nodes, {len(topo.edges)} edges")
        t_fig, _ = median_time(topo.figure, args.repeat)
        line("Topology.figure()", f"{t_fig * 1000:.0f} ms", "< 500 ms", "-")

        t_search, found = median_time(lambda: ws.search("app-0"), args.repeat)
        t_search_seq, _ = median_time(lambda: kc.cluster._search.search(ws.raw, "app-0", max_workers=1),
                                      args.repeat)
        line("ws.search (all namespaces)", f"{t_search * 1000:.0f} ms", "faster than ref",
             f"one worker {t_search_seq * 1000:.0f} ms ({t_search_seq / t_search:.1f}x); {len(found)} matches")
        t_describe, _ = median_time(lambda: ws.describe("deployment/app-00"), args.repeat)
        line("ws.describe(deployment)", f"{t_describe * 1000:.0f} ms", "~ ws.get", f"ws.get {t_get * 1000:.0f} ms")

        delays, trips = [], []
        w = ws.watch("configmaps", namespace=ns)
        seen: dict[str, float] = {}
        ready = threading.Event()

        def consume() -> None:
            for ev in w:
                if ev.from_list:
                    ready.set()
                    continue
                seen.setdefault(ev.name, time.perf_counter())

        t = threading.Thread(target=consume, daemon=True)
        t.start()
        ready.wait(10)
        time.sleep(0.5)
        for i in range(args.repeat * 4):
            name = f"watch-{i}"
            t0 = time.perf_counter()
            client.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}}, ns)
            t1 = time.perf_counter()
            while name not in seen and time.perf_counter() - t1 < 5:
                time.sleep(0.001)
            trips.append(t1 - t0)
            delays.append(seen.get(name, float("inf")) - t0)
        w.stop()
        t.join(5)
        line("watch: create sent -> ADDED seen", f"{statistics.median(delays) * 1000:.1f} ms", "<= 200 ms",
             f"the create call's round trip {statistics.median(trips) * 1000:.1f} ms")
    finally:
        client.delete(f"/api/v1/namespaces/{ns}")


if __name__ == "__main__":
    main()
