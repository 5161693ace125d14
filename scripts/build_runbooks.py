"""Write the runbooks in runbooks/ and the test-only ones in tests/runbook_fixtures/ from readable source.

    .venv/bin/python scripts/build_runbooks.py          # rewrites the notebooks; unchanged source -> same files

Each runbook passes `kubecopilot.runbooks.check` (write_runbook refuses otherwise) and is stored without outputs.
Editing a runbook in JupyterLab is fine too: then update this file, or drop the runbook from it.
"""

from __future__ import annotations

import sys
from pathlib import Path

from kubecopilot.runbooks._authoring import new_runbook, write_runbook

ROOT = Path(__file__).resolve().parents[1]

CLUSTER_HEALTH = new_runbook(
    title="Cluster health",
    description="Is the API server reachable, are the nodes Ready, which pods are not running or keep restarting, "
                "and what warnings the cluster reported. Reads only.",
    risk="low",
    requires=["cluster"],
    intro="Run it headless with `kubecopilot runbook run cluster-health --context NAME [-p namespace NS]`; "
          "the conclusion lists what needs attention.",
    parameters="""
from typing import Optional

context: Optional[str] = None  # kubeconfig context to inspect, by name (None: the kubeconfig's current context)
namespace: Optional[str] = None  # namespace whose pods and events to inspect (None: every namespace)
restart_threshold: int = 3  # pods restarted more often than this are listed as unstable
""",
    setup=("""
## Connect

The context is a *name*: credentials stay in the kubeconfig and never appear in this notebook.
""", """
import kubecopilot as kc

ws = kc.connect(context=context, namespace=namespace)
ws
"""),
    steps=[
        ("""
## API server and identity

Reachability, server version, who we are and what we may do.
""", """
health = ws.health(namespace)
health
"""),
        ("""
## Nodes

Every node with its status; the ones that are not `Ready` (including cordoned ones) are listed below it.
""", """
nodes = ws.nodes()
not_ready_nodes = nodes.where(status=lambda s: s != "Ready")
print(f"{len(nodes)} node(s), {len(not_ready_nodes)} not Ready")
not_ready_nodes if len(not_ready_nodes) else nodes
"""),
        ("""
## Pods that are not running

Pods whose status is not Running/Completed, and running pods whose containers are not all ready.
""", """
pods = ws.pods(namespace=namespace)


def _unready(frame):
    ready = frame["READY"].astype(str).str.split("/")
    return (frame["STATUS"] == "Running") & (ready.str[0] != ready.str[1])


not_running = pods.where(lambda f: ~f["STATUS"].isin(["Running", "Completed", "Succeeded"]) | _unready(f))
print(f"{len(pods)} pod(s), {len(not_running)} not running or not ready")
not_running
"""),
        ("""
## Pods that keep restarting
""", """
unstable = pods.where(restarts=lambda s: s.astype(int) > restart_threshold)
print(f"{len(unstable)} pod(s) restarted more than {restart_threshold} times")
unstable
"""),
        ("""
## Warning events

What the kubelet and controllers complained about recently (newest first).
""", """
warnings = ws.events(namespace=namespace, type="Warning")
print(f"{len(warnings)} warning event(s)")
warnings
"""),
    ],
    conclusion=("""
## Conclusion

Healthy means: the API answered, every node is Ready, every pod runs (or completed) with all containers ready,
and none restarted more than `restart_threshold` times.
""", """
def _names(table):
    return [f"{r['NAMESPACE']}/{r['NAME']}" if "NAMESPACE" in r else r["NAME"] for r in table.frame.to_dict("records")]


kc.runbooks.conclude(
    healthy=bool(health.ok and not len(not_ready_nodes) and not len(not_running) and not len(unstable)),
    context=ws.context,
    namespace=namespace or "(all)",
    api_ok=bool(health.ok),
    server_version=health.server_version,
    nodes=len(nodes),
    nodes_not_ready=_names(not_ready_nodes),
    pods=len(pods),
    pods_not_running=_names(not_running),
    pods_unstable=_names(unstable),
    warning_events=len(warnings),
)
"""),
)

# A test-only runbook that misbehaves on request: fails, sleeps past a timeout or kills its kernel mid-way.
MISBEHAVING = new_runbook(
    title="Misbehaving (test fixture)",
    description="Echoes its parameters, then fails, sleeps or kills its kernel on request. For tests only.",
    risk="low",
    requires=[],
    parameters="""
from typing import Literal

label: str = None  # required: echoed in the conclusion
mode: Literal["ok", "fail", "sleep", "die"] = "ok"  # what step two does
seconds: float = 30.0  # how long mode "sleep" sleeps
count: int = 1  # an integer, echoed
flags: list[str] = []  # a list of strings, echoed
verbose: bool = False  # a bool, echoed
""",
    steps=[
        ("## Step one: echo", """
import os

print(f"label={label!r} count={count!r} flags={flags!r} verbose={verbose!r}")
"""),
        ("## Step two: misbehave", """
import time

if mode == "fail":
    raise RuntimeError(f"step two failed on purpose (label={label})")
if mode == "sleep":
    time.sleep(seconds)
if mode == "die":
    os._exit(1)
print("step two done")
"""),
    ],
    conclusion=("## Conclusion\n\nEverything the runner handed to the kernel, echoed back.", """
import kubecopilot as kc

kc.runbooks.conclude(
    label=label, mode=mode, count=count, flags=flags, verbose=verbose, cwd=os.getcwd(),
    run_id=os.environ.get("KUBECOPILOT_RUN_ID"), db=os.environ.get("KUBECOPILOT_DB"),
    plotly_renderer=os.environ.get("PLOTLY_RENDERER"), kubeconfig=os.environ.get("KUBECONFIG"),
)
"""),
)

# A test-only runbook that plans one change and hands it to the run's approval policy.
SCALE_WITH_APPROVAL = new_runbook(
    title="Scale with approval (test fixture)",
    description="Plans scaling one Deployment and submits the plan to the run's approval policy. For tests only.",
    risk="medium",
    requires=["cluster", "plans"],
    parameters="""
context: str = None  # kubeconfig context, by name
namespace: str = None  # the Deployment's namespace
deployment: str = None  # the Deployment to scale
replicas: int = 2  # desired replicas
""",
    setup=("## Connect", """
import kubecopilot as kc

ws = kc.connect(context=context, namespace=namespace)
"""),
    steps=[
        ("## Plan the change\n\nBuilt from a live read, dry-run validated and risk-scored; nothing is written yet.", """
plan = ws.plan.scale(f"deployment/{namespace}/{deployment}", replicas)
plan.summary, plan.risk.level
"""),
        ("## Submit it\n\nWithin the run's approval policy it is approved and executed; above it, it waits.",
         """
plan = kc.runbooks.submit(plan, key="scale-step")
plan.status
"""),
    ],
    conclusion=("## Conclusion", """
kc.runbooks.conclude(plan_id=plan.id, plan_status=str(plan.status), risk=plan.risk.level,
                     replicas=ws.read(f"deployment/{namespace}/{deployment}")["spec"]["replicas"])
"""),
)

RUNBOOKS = {ROOT / "runbooks" / "cluster-health.ipynb": CLUSTER_HEALTH}
FIXTURES = {ROOT / "tests" / "runbook_fixtures" / "misbehaving.ipynb": MISBEHAVING,
            ROOT / "tests" / "runbook_fixtures" / "scale-with-approval.ipynb": SCALE_WITH_APPROVAL}


def main() -> int:
    for path, nb in {**RUNBOOKS, **FIXTURES}.items():
        write_runbook(nb, path)
        print(f"wrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
