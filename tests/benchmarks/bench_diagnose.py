"""Benchmark: triage of a namespace with 2,000 pods and 200 Deployments; single-pod diagnose latency (issue 4).

A script that prints numbers, not a timed test. It runs against a sandbox that is already up (the shared one by
default: ``--data-dir``), adds two nodes of its own (large, tainted so nothing else lands there), creates
``--deployments`` Deployments of ``--replicas`` pods each in a namespace of its own, a few of them broken
(crashing, or with an image that cannot be pulled), waits until every pod exists and has a status, then measures
(median of ``--repeat`` runs):

- ``triage(namespace)``: wall time, the part spent in the list calls (one per kind, in parallel), the logs of
  the crashing pods, and the analyzers beyond the list calls (target: under 1 s);
- ``diagnose(pod)`` for one crashing and one healthy pod: wall time against the sum of the API calls it makes,
  replayed bare and one after the other in the same run. On this machine the API server shares the two cores
  with the client, so concurrent calls mostly queue for CPU; the same comparison is repeated through a loopback
  TCP proxy that adds ``--rtt-ms`` of round-trip latency, as a remote cluster would, where gathering in parallel
  rounds is what saves time.

Everything it created is deleted at the end (namespace, then its nodes). Check free memory first: the simulator
needs about 900 MiB per 1,000 pods.

    .venv/bin/python tests/benchmarks/bench_diagnose.py [--data-dir /tmp/kc-shared-sb] [--deployments 200]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import psutil

from kubecopilot.sandbox import NodeSpec, Sandbox
from kubecopilot.sandbox._nodecontrol import remove_nodes, upsert_nodes

BENCH_LABEL = "kubecopilot.io/bench"


def deployment(name: str, replicas: int, image: str, env: list[dict[str, str]] | None = None) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name}, "spec": {
        "replicas": replicas, "selector": {"matchLabels": {"app": name}},
        "template": {"metadata": {"labels": {"app": name}}, "spec": {
            "terminationGracePeriodSeconds": 1,
            "nodeSelector": {BENCH_LABEL: "diagnose"},
            "tolerations": [{"key": BENCH_LABEL, "operator": "Exists", "effect": "NoSchedule"}],
            "containers": [{"name": "app", "image": image, "env": env or [],
                            "ports": [{"name": "http", "containerPort": 8080}],
                            "resources": {"requests": {"cpu": "1m", "memory": "1Mi"}}}]}}}}


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


class DelayProxy:
    """A loopback TCP proxy that delays every chunk by half the round-trip time in each direction."""

    def __init__(self, target_port: int, rtt_ms: float) -> None:
        self.target_port, self.delay = target_port, rtt_ms / 2000
        self.loop = asyncio.new_event_loop()
        self.port = 0
        ready = threading.Event()
        threading.Thread(target=self._run, args=(ready,), daemon=True).start()
        ready.wait(10)

    def _run(self, ready: threading.Event) -> None:
        asyncio.set_event_loop(self.loop)

        async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                while data := await reader.read(65536):
                    await asyncio.sleep(self.delay)
                    writer.write(data)
                    await writer.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                writer.close()

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
            await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

        async def start() -> None:
            server = await asyncio.start_server(handle, "127.0.0.1", 0)
            self.port = server.sockets[0].getsockname()[1]
            ready.set()
            await server.serve_forever()

        self.loop.run_until_complete(start())


def kubeconfig_through(path: Path, port: int) -> dict[str, Any]:
    """The sandbox kubeconfig with every cluster's server pointed at the proxy (same TLS, same host name)."""
    import yaml

    doc = yaml.safe_load(path.read_text())
    for cluster in doc.get("clusters") or []:
        server = cluster["cluster"]["server"]
        cluster["cluster"]["server"] = server.rsplit(":", 1)[0] + f":{port}"
    return doc


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data-dir", default=os.environ.get("KUBECOPILOT_TEST_SANDBOX_DIR", "/tmp/kc-shared-sb"))
    ap.add_argument("--deployments", type=int, default=200)
    ap.add_argument("--replicas", type=int, default=10)
    ap.add_argument("--broken", type=int, default=10, help="deployments that crash or cannot pull (half each)")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--settle", type=float, default=20.0)
    ap.add_argument("--rtt-ms", type=float, default=20.0, help="round-trip latency of the proxied comparison")
    args = ap.parse_args()

    sb = Sandbox(data_dir=Path(args.data_dir))
    if not all(sb.running().values()):
        raise SystemExit(f"no running sandbox in {args.data_dir}: `kubecopilot sandbox up --data-dir ...` first")
    pods = args.deployments * args.replicas
    need = pods * 0.9 * 2**20 + 1.5 * 2**30
    free = psutil.virtual_memory().available
    print(f"{free / 2**30:.1f} GiB free; {pods} pods need about {need / 2**30:.1f} GiB")
    if free < need:
        raise SystemExit("not enough free memory for this many pods: lower --deployments or --replicas")

    client = sb.client()
    tag = uuid.uuid4().hex[:5]
    ns = f"bench-diagnose-{tag}"
    per_node = pods // 2 + 100
    nodes = [NodeSpec(name=f"bench-diag-{tag}-{i}", cpu="64", memory="256Gi", pods=per_node,
                      labels={BENCH_LABEL: "diagnose"},
                      taints=[{"key": BENCH_LABEL, "value": "diagnose", "effect": "NoSchedule"}]) for i in (1, 2)]
    upsert_nodes(client, nodes)
    client.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
    try:
        run(sb, client, ns, args, pods)
    finally:
        print("cleaning up ...", flush=True)
        client.delete(f"/api/v1/namespaces/{ns}")
        t = time.monotonic()
        while client.get_or_none(f"/api/v1/namespaces/{ns}") is not None and time.monotonic() - t < 600:
            time.sleep(3)
        remove_nodes(client, [n.name for n in nodes])
        print(f"namespace {ns} and nodes removed after {time.monotonic() - t:.0f} s")


def run(sb: Sandbox, client: Any, ns: str, args: argparse.Namespace, pods: int) -> None:
    import kubecopilot as kc
    from kubecopilot.diagnose import diagnose, triage
    from kubecopilot.diagnose._evidence import gather_object

    crash = args.broken // 2
    pull = args.broken - crash
    t = time.monotonic()
    for i in range(args.deployments):
        if i < crash:
            body = deployment(f"crash-{i:03d}", args.replicas, "sandbox/api:1.0")   # no DATABASE_URL: exits 1
        elif i < crash + pull:
            body = deployment(f"pull-{i:03d}", args.replicas, "sandbox/web:9.9.404")  # no such tag
        else:
            body = deployment(f"web-{i:03d}", args.replicas, "sandbox/web:1.1")
        client.create(body, ns)
    while True:
        items = client.list(f"/api/v1/namespaces/{ns}/pods", limit=1000)
        with_status = sum(1 for p in items if (p.get("status") or {}).get("containerStatuses"))
        if len(items) >= pods and with_status >= pods:
            break
        if time.monotonic() - t > 900:
            raise SystemExit(f"only {len(items)} pods ({with_status} with a status) of {pods} after 900 s")
        time.sleep(3)
    print(f"{pods} pods in {args.deployments} deployments exist with a status after {time.monotonic() - t:.0f} s; "
          f"settling {args.settle:g} s", flush=True)
    time.sleep(args.settle)

    ws = kc.connect(str(sb.kubeconfig_path), context="sandbox-admin", namespace=ns, name="bench")
    triage(ws, ns, record=False)   # warm-up: discovery of API versions is cached per connection
    runs = []
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        tr = triage(ws, ns, record=False)
        runs.append((time.perf_counter() - t0, tr))
    walls = [w for w, _ in runs]
    lists = [tr.timings["lists_ms"] for _, tr in runs]
    logs = [tr.timings["logs_ms"] for _, tr in runs]
    analyze = [tr.timings["analyze_ms"] for _, tr in runs]
    beyond = [w * 1000 - tr.timings["lists_ms"] - tr.timings["logs_ms"] for w, tr in runs]
    tr = runs[-1][1]
    rules: dict[str, int] = {}
    for f in tr.findings:
        rules[f.rule] = rules.get(f.rule, 0) + 1
    print(f"\ntriage of {ns}: {len(tr.evidence.all('Pod'))} pods, {len(tr.evidence.all('Deployment'))} deployments, "
          f"{len(tr.evidence.events)} events; {len(tr)} findings {rules}")
    print(f"  wall                                  {median_ms(walls):8.0f} ms")
    print(f"  list calls ({sum(c.startswith('list ') for c in tr.calls)} in parallel)            "
          f"{statistics.median(lists):8.0f} ms")
    print(f"  logs of crashing pods ({sum(c.startswith('logs ') for c in tr.calls)} calls)       "
          f"{statistics.median(logs):8.0f} ms")
    print(f"  analyzers + ranking                   {statistics.median(analyze):8.0f} ms")
    print(f"  everything beyond the calls           {statistics.median(beyond):8.0f} ms   (target < 1000 ms)")

    crashing = next(p for p in client.list(f"/api/v1/namespaces/{ns}/pods", labelSelector="app=crash-000"))
    healthy = next(p for p in client.list(f"/api/v1/namespaces/{ns}/pods", labelSelector=f"app=web-{args.broken:03d}"))
    proxy = DelayProxy(int(sb.server.rsplit(":", 1)[1]), args.rtt_ms)
    remote = kc.connect(kubeconfig_through(sb.kubeconfig_path, proxy.port), context="sandbox-admin", namespace=ns,
                        name="bench-remote")
    local = ws
    for label, p, conn in (("crashing", crashing, local), ("healthy", healthy, local),
                           (f"crashing, +{args.rtt_ms:g} ms RTT", crashing, remote),
                           (f"healthy, +{args.rtt_ms:g} ms RTT", healthy, remote)):
        ref = f"pod/{ns}/{p['metadata']['name']}"
        diagnose(conn, ref, record=False)   # warm-up
        wall = []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            d = diagnose(conn, ref, record=False)
            wall.append(time.perf_counter() - t0)
        _, api, _ = gather_object(conn.raw, "Pod", ns, p["metadata"]["name"])
        requests = list(api.requests)
        bare = []
        for _ in range(args.repeat):
            total = 0.0
            for path, params, text in requests:
                t0 = time.perf_counter()
                try:
                    if text:
                        conn.raw.get_text(path, **params)
                    else:
                        conn.raw.request("GET", path, params=params or None)
                except Exception:  # a 400 for "no previous container" costs a round trip all the same
                    pass
                total += time.perf_counter() - t0
            bare.append(total)
        print(f"\ndiagnose({label} pod): {len(d.findings)} finding(s) "
              f"{[f.rule for f in d.findings]}")
        print(f"  wall                                  {median_ms(wall):8.0f} ms")
        print(f"  its {len(requests)} API calls, bare, one after another {median_ms(bare):8.0f} ms  "
              f"(wall / sum = {statistics.median(wall) / statistics.median(bare):.2f})")


if __name__ == "__main__":
    main()
