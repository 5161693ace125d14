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

# -- issue 7: the everyday runbooks ---------------------------------------------------------------------------------
# Shared pieces. Every runbook connects by context *name*; every change is a plan handed to the run's approval policy
# (`kc.runbooks.submit(plan, key=...)`), so a headless run executes it only within `--approve-up-to`, and otherwise
# ends `waiting_confirm` until a human approves and `kubecopilot runbook resume RUN_ID` continues.

_CONTEXT = "context: Optional[str] = None  # kubeconfig context, by name (None: the kubeconfig's current context)"

_CONNECT = ("""
## Connect

The context is a *name*: credentials stay in the kubeconfig and never appear in this notebook.
""", """
import kubecopilot as kc

ws = kc.connect(context=context, namespace=namespace)
ws
""")

_SUBMIT_MD = """
## Submit the plan

The run's approval policy decides: within `--approve-up-to` the plan is approved in the named approver's name and
executed now; above it, the run ends `waiting_confirm` and a human approves it in a notebook
(`kc.plans.pending()`), then `kubecopilot runbook resume RUN_ID` continues from here.
"""

_VERIFY_MD = """
## Verify

An executed plan's post-conditions are checked against the cluster (polling up to `timeout` seconds): they say
whether the change really took.
"""

_VERIFY = """
checks = []
if plan is None:
    print("no plan: nothing to verify")
elif plan.status == "executed" and wait:
    checks = plan.check_postconditions(timeout=timeout)
    for pc in checks:
        print(f"{pc.status:>7}  {pc.description}" + (f" ({pc.detail})" if pc.detail else ""))
elif plan.status == "pending":
    print(f"plan {plan.id} waits for a human: approve or reject it in a notebook (kc.plans.pending()), "
          "then resume this run")
else:
    print(f"plan {plan.id} is {plan.status}: nothing to verify")
verified = bool(checks) and all(pc.status == "met" for pc in checks)
"""

_PLAN_FACTS = """
plan_id=plan.id if plan is not None else None,
    plan_status=str(plan.status) if plan is not None else "none",
    risk=plan.risk.level if plan is not None else None,
    verified=verified,
    postconditions=[f"{pc.status}: {pc.description}" for pc in checks],
""".strip()

_WAIT_PARAMS = """
wait: bool = True  # after executing, check the plan's post-conditions (the rollout completes)
timeout: float = 300.0  # seconds to wait for the post-conditions
""".strip()

TRIAGE_NAMESPACE = new_runbook(
    title="Triage a namespace",
    description="Runs every diagnosis rule over a namespace (or the cluster), lists the findings root causes first, "
                "and plans the mechanical fixes; each plan goes to the run's approval policy.",
    risk="medium",
    requires=["cluster", "diagnose", "plans"],
    intro="Headless: `kubecopilot runbook run triage-namespace --context NAME -p namespace NS "
          "[--approve-up-to low --approved-by NAME]`. Fixes above the approval level wait for a human; the "
          "conclusion lists them.",
    parameters=f"""
from typing import Optional

{_CONTEXT}
namespace: Optional[str] = None  # the namespace to triage (None: the whole cluster)
namespaces: list[str] = []  # several namespaces, triaged one by one (used instead of `namespace` when given)
plan_fixes: bool = True  # build a plan for every finding with a mechanical fix and submit it
""",
    setup=_CONNECT,
    steps=[
        ("""
## Triage

Every analyzer over the scope: one list call per kind, logs only for crashing pods. Findings that follow from
another one (a Service without endpoints because its pods crash) point at their root cause.
""", """
scopes = list(namespaces) or [namespace]
triages = [ws.triage(ns) for ns in scopes]
findings = [f for t in triages for f in t.findings]
for t in triages:
    print(f"{t.scope}: {len(t.findings)} finding(s), {len(t.root_causes)} root cause(s)")
print(f"total: {len(findings)} finding(s)")
"""),
        ("""
## Findings, root causes first

Root causes are what to fix; the second table lists what follows from them (it goes away with its cause).
""", """
import pandas as pd

from IPython.display import display

_COLUMNS = ["severity", "rule", "object", "cause", "fix", "caused_by"]


def _table(items):
    return pd.DataFrame([{"severity": f.severity, "rule": f.rule, "object": f.object, "cause": f.cause,
                          "fix": f.intent.summary() if f.intent is not None else "",
                          "caused_by": f.caused_by or ""} for f in items], columns=_COLUMNS)


roots = [f for f in findings if not f.caused_by]
followers = [f for f in findings if f.caused_by]
print(f"{len(roots)} root cause(s)")
display(_table(roots))
print(f"{len(followers)} finding(s) that follow from a root cause")
display(_table(followers))
"""),
        ("""
## Plan the mechanical fixes

For each finding whose fix is mechanical (its `intent`: raise a memory limit, point a Service at its pods, ...),
the plan builders compute the change from a live read, dry-run it and score its risk; the plan then goes to the
approval policy. A fix the plan whitelist refuses, or that cannot be planned (the object changed, nothing left to
change), is skipped with a note. Two findings asking for the same fix make one plan.
""", """
from kubecopilot.errors import ClusterError, PlanError, PlanNotAllowedError

submitted, skipped, seen = [], [], set()
for f in findings if plan_fixes else []:
    if f.intent is None:
        continue
    fix = f.intent.summary()
    if fix in seen:
        continue
    seen.add(fix)
    try:
        plan = ws.plan.from_intent(f.intent)
    except PlanNotAllowedError as e:
        skipped.append({"finding": f.key, "fix": fix, "why": f"the plan whitelist refuses it: {e}"})
        continue
    except (PlanError, ClusterError, ValueError) as e:
        skipped.append({"finding": f.key, "fix": fix, "why": f"cannot be planned: {e}"})
        continue
    note = ""
    try:
        plan = kc.runbooks.submit(plan, key=f"fix:{f.key}")
    except PlanError as e:  # approved, but the execution was refused or failed: the plan records how
        note = str(e)
    submitted.append({"finding": f.key, "plan_id": plan.id, "action": plan.action, "target": plan.target,
                      "risk": plan.risk.level, "status": str(plan.status), "note": note})
if not plan_fixes:
    print("plan_fixes is off: no plans were built")
print(f"{len(submitted)} plan(s) submitted, {len(skipped)} fix(es) skipped")
display(pd.DataFrame(submitted, columns=["finding", "plan_id", "action", "target", "risk", "status", "note"]))
if skipped:
    display(pd.DataFrame(skipped, columns=["finding", "fix", "why"]))
"""),
    ],
    conclusion=("""
## Conclusion

The counts, the plans executed under the approval policy, and the ones that wait for a human: approve or reject
those in a notebook (`kc.plans.pending()`), then `kubecopilot runbook resume RUN_ID` executes the approved ones.
""", """
_by_severity = {s: sum(f.severity == s for f in findings) for s in ("critical", "error", "warning", "info")}
_pending = kc.plans.pending(namespace=namespace if len(scopes) == 1 else None)
display(_pending)
kc.runbooks.conclude(
    scope=", ".join(t.scope for t in triages),
    findings=len(findings),
    root_causes=len(roots),
    by_severity={k: v for k, v in _by_severity.items() if v},
    root_cause_rules=sorted({f.rule for f in roots}),
    plans=len(submitted),
    executed=[f"{p['action']} {p['target']}" for p in submitted if p["status"] == "executed"],
    pending=[p["plan_id"] for p in submitted if p["status"] == "pending"],
    failed=[f"{p['action']} {p['target']}: {p['note']}" for p in submitted if p["note"]],
    skipped=[f"{s['fix']}: {s['why']}" for s in skipped],
)
"""),
)

DIAGNOSE_POD = new_runbook(
    title="Diagnose a pod",
    description="Why a pod is not healthy: the diagnosis with the evidence it rests on, the container logs (current "
                "and previous instance), the pod's events and the suggested fixes. Reads only.",
    risk="low",
    requires=["cluster", "diagnose"],
    intro="Headless: `kubecopilot runbook run diagnose-pod --context NAME -p namespace NS -p pod POD`.",
    parameters=f"""
from typing import Optional

{_CONTEXT}
namespace: str = None  # the pod's namespace
pod: str = None  # the pod to diagnose
tail: int = 40  # log lines to show per container instance
""",
    setup=_CONNECT,
    steps=[
        ("""
## Diagnosis

Evidence is gathered around the pod (owners, events, logs, node, mounted ConfigMaps / Secrets / claims, quotas)
and every rule runs over it; root causes come first.
""", """
d = ws.diagnose(f"pod/{namespace}/{pod}")
d
"""),
        ("""
## Evidence

What each finding rests on: a quoted event, log line or field of an object.
""", """
import pandas as pd

evidence = pd.DataFrame([{"finding": f.rule, "kind": e.kind, "source": e.source, "quote": e.quote}
                         for f in d.findings for e in f.evidence], columns=["finding", "kind", "source", "quote"])
evidence
"""),
        ("""
## Logs

The last lines of every container; for a container that restarted, its previous instance too (where a crash
usually explains itself). Error lines are highlighted.
""", """
from IPython.display import display

from kubecopilot.errors import LogsUnavailableError

live = ws.read(f"pod/{namespace}/{pod}")
statuses = {s["name"]: s for s in (live.get("status") or {}).get("containerStatuses") or []}
log_errors = 0
for c in (live.get("spec") or {}).get("containers") or []:
    restarted = int((statuses.get(c["name"]) or {}).get("restartCount") or 0) > 0
    for previous in ([False, True] if restarted else [False]):
        label = f"{c['name']} ({'previous' if previous else 'current'} instance)"
        try:
            logs = ws.logs(f"pod/{namespace}/{pod}", container=c["name"], previous=previous, tail=tail)
        except LogsUnavailableError as e:
            print(f"{label}: no logs: {e}")
            continue
        log_errors += len(logs.errors)
        print(f"--- {label}: {len(logs.lines)} line(s), {len(logs.errors)} error line(s)")
        display(logs)
"""),
        ("""
## Events

What the scheduler and the kubelet reported about the pod, newest first.
""", """
events = ws.events(namespace=namespace, kind="Pod", name=pod)
events
"""),
        ("""
## Suggested fixes

A finding with a mechanical fix carries an *intent*; `ws.plan.from_intent(finding.intent)` turns it into an
OperationPlan (from a live read, dry-run validated, risk-scored) to approve and execute. This runbook only reads:
it builds no plan. Root causes without an intent need a change by hand (the cause says which).
""", """
fixes = [f"{f.intent.summary()}: {f.intent.reason}" for f in d.findings if f.intent is not None]
for f in d.root_causes:
    print(f"root cause [{f.rule}] {f.cause}")
    print(f"  fix: {f.intent.summary()}  (ws.plan.from_intent(...))" if f.intent is not None
          else "  fix: by hand (no mechanical fix)")
if not d.findings:
    print("no findings: the pod and what it depends on look healthy")
"""),
    ],
    conclusion=("""
## Conclusion

Healthy means no finding at all; otherwise the root causes, their rules and the suggested fixes.
""", """
kc.runbooks.conclude(
    pod=f"{namespace}/{pod}",
    healthy=d.ok,
    phase=(live.get("status") or {}).get("phase"),
    root_causes=[f"{f.rule}: {f.cause}" for f in d.root_causes],
    rules=[f.rule for f in d.findings],
    evidence=len(evidence),
    log_error_lines=log_errors,
    warning_events=int((events.frame["TYPE"] == "Warning").sum()) if len(events) else 0,
    suggested_fixes=fixes,
)
"""),
)

CRASHLOOP_REMEDIATION = new_runbook(
    title="Crash-loop remediation",
    description="Diagnoses a crash-looping Deployment and applies the remedy its root cause calls for: OOMKilled -> "
                "raise the memory limit; a bad image or stalled rollout -> roll back; otherwise a rolling restart. "
                "Then checks that it worked.",
    risk="medium",
    requires=["cluster", "diagnose", "plans"],
    intro="Headless: `kubecopilot runbook run crashloop-remediation --context NAME -p namespace NS -p deployment D "
          "--approve-up-to medium --approved-by NAME`.",
    parameters=f"""
from typing import Optional

{_CONTEXT}
namespace: str = None  # the Deployment's namespace
deployment: str = None  # the crash-looping Deployment
memory_limit: Optional[str] = None  # the new memory limit if the cause is OOMKilled (None: the diagnosis's suggestion)
timeout: float = 180.0  # seconds to wait for the remedy's rollout to complete
soak_seconds: float = 15.0  # after the rollout, how long the new pods must run before the re-diagnosis
""",
    setup=_CONNECT,
    steps=[
        ("""
## Diagnose the Deployment

The root cause decides the remedy, so it comes from the rules, not from a guess.
""", """
ref = f"deployment/{namespace}/{deployment}"
before = ws.diagnose(ref)
root = next(iter(before.root_causes), None)
before
"""),
        ("""
## Choose and plan the remedy

- `pod.oomkilled`: raise the container's memory limit (`memory_limit`, else the diagnosis's suggestion);
- `pod.image-pull` (a bad image tag) or `deployment.progress-deadline` (a stalled rollout): roll back to the
  previous revision; without one, the image the diagnosis suggests, if any;
- anything else: a rolling restart (which clears transient failures; the verification says if it was not enough).
""", """
from kubecopilot.errors import PlanError

plan, remedy, why_none = None, None, ""
rule = root.rule if root is not None else None
if root is None:
    why_none = "the Deployment has no findings: nothing to remedy"
elif rule == "pod.oomkilled":
    remedy = "raise the memory limit"
    if memory_limit:
        container = root.intent.parameters.get("container") if root.intent is not None else None
        plan = ws.plan.set_resources(ref, container, limits={"memory": memory_limit}, reason=root.cause)
    elif root.intent is not None:
        plan = ws.plan.from_intent(root.intent)
    else:
        why_none = "the container has no memory limit to raise (the node ran out): give it one with memory_limit"
elif rule in ("pod.image-pull", "deployment.progress-deadline"):
    remedy = "roll back"
    try:
        plan = ws.plan.rollback(ref, reason=root.cause)
    except PlanError as e:
        if root.intent is not None and root.intent.action in ("set_image", "rollback"):
            remedy = f"{root.intent.action}, as the diagnosis suggests (no earlier revision to roll back to)"
            plan = ws.plan.from_intent(root.intent)
        else:
            why_none = f"cannot roll back ({e}) and the diagnosis suggests no image: fix the image by hand"
else:
    remedy = "restart"
    plan = ws.plan.restart(ref, reason=root.cause)
print(f"root cause: {root}" if root is not None else "no root cause")
print(f"remedy: {remedy or 'none'}" + (f" ({why_none})" if why_none else ""))
plan
"""),
        (_SUBMIT_MD, """
if plan is not None:
    plan = kc.runbooks.submit(plan, key="remedy")
    print(f"plan {plan.id}: {plan.status} ({plan.risk.level} risk)")
"""),
        ("""
## Verify

If the remedy was executed: its post-conditions (the rollout completes), then, after `soak_seconds`, a new
diagnosis. Fixed means the rollout completed and the Deployment has no root cause left.
""", """
import time

from IPython.display import display

checks, after, fixed = [], None, False
if plan is not None and plan.status == "executed":
    checks = plan.check_postconditions(timeout=timeout)
    for pc in checks:
        print(f"{pc.status:>7}  {pc.description}" + (f" ({pc.detail})" if pc.detail else ""))
    time.sleep(soak_seconds)
    after = ws.diagnose(ref)
    fixed = all(pc.status == "met" for pc in checks) and not after.root_causes
    display(after)
elif plan is not None:
    print(f"plan {plan.id} is {plan.status}: nothing executed, nothing to verify")
print("fixed" if fixed else "not fixed")
"""),
    ],
    conclusion=("""
## Conclusion

The root cause, the remedy, the plan's fate and whether the Deployment is healthy now. A restart that did not help
means the cause is in the configuration or the code: the remaining root cause says what to change.
""", """
kc.runbooks.conclude(
    deployment=f"{namespace}/{deployment}",
    root_cause=f"{root.rule}: {root.cause}" if root is not None else None,
    rule=rule,
    remedy=remedy,
    why_no_plan=why_none or None,
    plan_id=plan.id if plan is not None else None,
    plan_status=str(plan.status) if plan is not None else "none",
    risk=plan.risk.level if plan is not None else None,
    postconditions=[f"{pc.status}: {pc.description}" for pc in checks],
    fixed=fixed,
    remaining=[f"{f.rule}: {f.cause}" for f in after.root_causes] if after is not None else [],
)
"""),
)

RESTART_DEPLOYMENT = new_runbook(
    title="Restart a Deployment",
    description="A rolling restart (what `kubectl rollout restart` does), as a plan under the approval policy, "
                "then a check that the rollout completed.",
    risk="medium",
    requires=["cluster", "plans"],
    intro="Headless: `kubecopilot runbook run restart-deployment --context NAME -p namespace NS -p deployment D`.",
    parameters=f"""
from typing import Optional

{_CONTEXT}
namespace: str = None  # the Deployment's namespace
deployment: str = None  # the Deployment to restart
{_WAIT_PARAMS}
""",
    setup=_CONNECT,
    steps=[
        ("""
## Before

The Deployment and its pods as they are now.
""", """
ref = f"deployment/{namespace}/{deployment}"
live = ws.read(ref)
pods_before = ws.pods(namespace=namespace, selector=live["spec"]["selector"].get("matchLabels"))
print(f"{ref}: {live['spec'].get('replicas', 1)} replica(s), "
      f"{(live.get('status') or {}).get('readyReplicas', 0)} ready")
pods_before
"""),
        ("""
## Plan the restart

A `kubectl.kubernetes.io/restartedAt` annotation on the pod template; the Deployment replaces its pods with a
rolling update. Nothing is written yet.
""", """
plan = ws.plan.restart(ref)
plan
"""),
        (_SUBMIT_MD, """
plan = kc.runbooks.submit(plan, key="restart")
print(f"plan {plan.id}: {plan.status} ({plan.risk.level} risk)")
"""),
        (_VERIFY_MD, _VERIFY),
    ],
    conclusion=("""
## Conclusion

Restarted means the plan was executed and, when waited for, the rollout completed.
""", f"""
def _live_names(table):  # pods on their way out (a deletionTimestamp) are not the Deployment's pods any more
    return sorted(p["metadata"]["name"] for p in table.objects if not p["metadata"].get("deletionTimestamp"))


pods_after = ws.pods(namespace=namespace, selector=live["spec"]["selector"].get("matchLabels"))
kc.runbooks.conclude(
    deployment=f"{{namespace}}/{{deployment}}",
    restarted=plan.status == "executed",
    {_PLAN_FACTS}
    pods_before=_live_names(pods_before),
    pods_after=_live_names(pods_after),
)
"""),
)

SCALE_DEPLOYMENT = new_runbook(
    title="Scale a Deployment",
    description="Scales a Deployment to `replicas` as a plan under the approval policy (scaling down or to zero "
                "scores higher risk), then checks the replicas are ready.",
    risk="high",
    requires=["cluster", "plans"],
    intro="Headless: `kubecopilot runbook run scale-deployment --context NAME -p namespace NS -p deployment D "
          "-p replicas 3`.",
    parameters=f"""
from typing import Optional

{_CONTEXT}
namespace: str = None  # the Deployment's namespace
deployment: str = None  # the Deployment to scale
replicas: int = None  # the desired number of replicas
{_WAIT_PARAMS}
""",
    setup=_CONNECT,
    steps=[
        ("""
## Before

The current replica count; an autoscaler managing the Deployment would undo a manual scale (the plan's risk
says so).
""", """
ref = f"deployment/{namespace}/{deployment}"
live = ws.read(ref)
replicas_before = int(live["spec"].get("replicas", 1))
print(f"{ref}: {replicas_before} replica(s), {(live.get('status') or {}).get('readyReplicas', 0)} ready; "
      f"asked for {replicas}")
"""),
        ("""
## Plan the change

Built from the live object, dry-run validated and risk-scored. Asking for the current count plans nothing.
""", """
plan = None
if replicas == replicas_before:
    print(f"{ref} already has {replicas} replica(s): nothing to change")
else:
    plan = ws.plan.scale(ref, replicas)
plan
"""),
        (_SUBMIT_MD, """
if plan is not None:
    plan = kc.runbooks.submit(plan, key="scale")
    print(f"plan {plan.id}: {plan.status} ({plan.risk.level} risk)")
"""),
        (_VERIFY_MD, _VERIFY),
    ],
    conclusion=("""
## Conclusion

The replica count before and now (read back from the cluster), and the plan's fate.
""", f"""
kc.runbooks.conclude(
    deployment=f"{{namespace}}/{{deployment}}",
    replicas_before=replicas_before,
    replicas_asked=replicas,
    replicas=int(ws.read(ref)["spec"].get("replicas", 1)),
    {_PLAN_FACTS}
)
"""),
)

ROLLBACK_DEPLOYMENT = new_runbook(
    title="Roll back a Deployment",
    description="Rolls a Deployment back to an earlier revision (default: the previous one), like `kubectl rollout "
                "undo`, as a plan under the approval policy, then checks the rollout completed.",
    risk="medium",
    requires=["cluster", "plans"],
    intro="Headless: `kubecopilot runbook run rollback-deployment --context NAME -p namespace NS -p deployment D "
          "[-p revision 3]`.",
    parameters=f"""
from typing import Optional

{_CONTEXT}
namespace: str = None  # the Deployment's namespace
deployment: str = None  # the Deployment to roll back
revision: Optional[int] = None  # the revision to go back to (None: the one before the current)
{_WAIT_PARAMS}
""",
    setup=_CONNECT,
    steps=[
        ("""
## Revision history

Each revision is a ReplicaSet owned by the Deployment, with its pod template; the current one is marked.
""", """
import pandas as pd

ref = f"deployment/{namespace}/{deployment}"
live = ws.read(ref)
current_revision = int((live["metadata"].get("annotations") or {}).get("deployment.kubernetes.io/revision", 0))
owned = [rs for rs in ws.replicasets(namespace=namespace, selector=live["spec"]["selector"].get("matchLabels")).objects
         if any(o.get("uid") == live["metadata"]["uid"] for o in rs["metadata"].get("ownerReferences") or [])]
history = pd.DataFrame(sorted(
    [{"revision": int((rs["metadata"].get("annotations") or {}).get("deployment.kubernetes.io/revision", 0)),
      "replicaset": rs["metadata"]["name"],
      "images": ", ".join(c.get("image", "?") for c in rs["spec"]["template"]["spec"].get("containers") or []),
      "replicas": (rs.get("status") or {}).get("replicas", 0)} for rs in owned],
    key=lambda r: r["revision"]), columns=["revision", "replicaset", "images", "replicas"])
history["current"] = history["revision"] == current_revision
history
"""),
        ("""
## Plan the rollback

The pod template of the chosen revision becomes the Deployment's template again. Nothing is written yet.
""", """
plan = ws.plan.rollback(ref, revision)
plan
"""),
        (_SUBMIT_MD, """
plan = kc.runbooks.submit(plan, key="rollback")
print(f"plan {plan.id}: {plan.status} ({plan.risk.level} risk)")
"""),
        (_VERIFY_MD, _VERIFY),
    ],
    conclusion=("""
## Conclusion

The revisions and images before and now (read back from the cluster), and the plan's fate.
""", f"""
_now = ws.read(ref)
kc.runbooks.conclude(
    deployment=f"{{namespace}}/{{deployment}}",
    revision_before=current_revision,
    revision_target=plan.parameters.get("revision"),
    images=[c.get("image") for c in _now["spec"]["template"]["spec"]["containers"]],
    {_PLAN_FACTS}
)
"""),
)

DRAIN_NODE = new_runbook(
    title="Drain a node",
    description="Cordons a node and evicts its pods through the Eviction API (PodDisruptionBudgets honoured, "
                "DaemonSet and mirror pods left alone), as one plan under the approval policy; then checks the node "
                "is empty.",
    risk="high",
    requires=["cluster", "plans"],
    intro="Headless: `kubecopilot runbook run drain-node --context NAME -p node NODE`. Pods without a controller "
          "are lost for good when evicted, so they need `-p force true`.",
    parameters=f"""
from typing import Optional

{_CONTEXT}
node: str = None  # the node to drain
force: bool = False  # also evict pods that no controller recreates (they are lost)
grace_period_seconds: Optional[int] = None  # termination grace period for the evicted pods (None: each pod's own)
eviction_timeout: float = 60.0  # seconds to retry an eviction a PodDisruptionBudget refuses, then roll back
{_WAIT_PARAMS}
""",
    setup=("""
## Connect

The context is a *name*: credentials stay in the kubeconfig and never appear in this notebook.
""", """
import kubecopilot as kc

ws = kc.connect(context=context)
ws
"""),
    steps=[
        ("""
## The node and its pods

What runs there now: the plan evicts all but DaemonSet, mirror and finished pods.
""", """
node_obj = ws.read(f"node/{node}")
pods_before = ws.pods(fields=f"spec.nodeName={node}")
print(f"node {node}: unschedulable={bool(node_obj['spec'].get('unschedulable'))}, {len(pods_before)} pod(s)")
pods_before
"""),
        ("""
## Plan the drain

Cordon first, then one eviction per pod; if an eviction fails, the completed steps are rolled back. Nothing is
written yet.
""", """
plan = ws.plan.drain(f"node/{node}", force=force, grace_period_seconds=grace_period_seconds,
                     eviction_timeout=eviction_timeout)
plan
"""),
        (_SUBMIT_MD, """
plan = kc.runbooks.submit(plan, key="drain")
print(f"plan {plan.id}: {plan.status} ({plan.risk.level} risk)")
"""),
        (_VERIFY_MD, _VERIFY),
    ],
    conclusion=("""
## Conclusion

Drained means the node is cordoned and the evicted pods are gone from it (read back from the cluster).
""", f"""
_evicted = [s.target.namespace + "/" + s.target.name for s in plan.steps if s.action == "evict"]
_left = ws.pods(fields=f"spec.nodeName={{node}}")
kc.runbooks.conclude(
    node=node,
    unschedulable=bool(ws.read(f"node/{{node}}")["spec"].get("unschedulable")),
    evicted=_evicted,
    pods_left=[f"{{r['NAMESPACE']}}/{{r['NAME']}}" for r in _left.frame.to_dict("records")],
    {_PLAN_FACTS}
)
"""),
)

PVC_PENDING = new_runbook(
    title="Why is a claim Pending?",
    description="Explains a PersistentVolumeClaim stuck in Pending: an unknown StorageClass, no class and no "
                "matching PersistentVolume, a class that waits for its first consumer, or a provisioner that "
                "fails. Reads only: it plans nothing.",
    risk="low",
    requires=["cluster", "diagnose"],
    intro="Headless: `kubecopilot runbook run pvc-pending --context NAME -p namespace NS -p claim CLAIM`.",
    parameters=f"""
from typing import Optional

{_CONTEXT}
namespace: str = None  # the claim's namespace
claim: str = None  # the PersistentVolumeClaim to explain
""",
    setup=_CONNECT,
    steps=[
        ("""
## The claim
""", """
ref = f"persistentvolumeclaim/{namespace}/{claim}"
pvc = ws.read(ref)
spec, phase = pvc.get("spec") or {}, (pvc.get("status") or {}).get("phase")
wanted_class = spec.get("storageClassName")
size = ((spec.get("resources") or {}).get("requests") or {}).get("storage")
modes = spec.get("accessModes") or []
print(f"{ref}: {phase}; storageClassName={wanted_class!r}, {size}, {', '.join(modes)}")
ws.get(ref)
"""),
        ("""
## Diagnosis

The rules' view, with the claim's events (a provisioner says why it failed).
""", """
d = ws.diagnose(ref)
d
"""),
        ("""
## Storage classes

Does the class the claim names exist? Which one is the default?
""", """
_DEFAULT = ("storageclass.kubernetes.io/is-default-class", "storageclass.beta.kubernetes.io/is-default-class")
classes = {c["metadata"]["name"]: c for c in ws.list("storageclass").objects}
defaults = [n for n, c in classes.items()
            if any((c["metadata"].get("annotations") or {}).get(a) == "true" for a in _DEFAULT)]
print(f"{len(classes)} StorageClass(es): {', '.join(sorted(classes)) or 'none'}; default: "
      f"{', '.join(defaults) or 'none'}")
class_exists = wanted_class in classes if wanted_class else None
"""),
        ("""
## Volumes that could bind it

A PersistentVolume binds a claim when it is Available, has the same class (none for `""`), at least the requested
size and every requested access mode.
""", """
import pandas as pd

_UNITS = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "k": 10**3, "M": 10**6, "G": 10**9,
          "T": 10**12, "P": 10**15}


def _bytes(q):
    q = str(q or "0")
    for unit, factor in _UNITS.items():
        if q.endswith(unit):
            return float(q[: -len(unit)]) * factor
    return float(q)


rows = []
for pv in ws.list("persistentvolume").objects:
    pv_spec = pv.get("spec") or {}
    reasons = []
    if (pv.get("status") or {}).get("phase") != "Available":
        reasons.append(f"phase {(pv.get('status') or {}).get('phase')}")
    if (pv_spec.get("storageClassName") or "") != (wanted_class or ""):
        reasons.append(f"class {pv_spec.get('storageClassName') or '(none)'}")
    if _bytes((pv_spec.get("capacity") or {}).get("storage")) < _bytes(size):
        reasons.append(f"only {(pv_spec.get('capacity') or {}).get('storage')}")
    if not set(modes) <= set(pv_spec.get("accessModes") or []):
        reasons.append(f"modes {', '.join(pv_spec.get('accessModes') or [])}")
    rows.append({"volume": pv["metadata"]["name"], "matches": not reasons, "why not": "; ".join(reasons)})
volumes = pd.DataFrame(rows, columns=["volume", "matches", "why not"])
matching = [r["volume"] for r in rows if r["matches"]]
print(f"{len(volumes)} PersistentVolume(s), {len(matching)} could bind the claim")
for r in rows:
    print(f"  {r['volume']}: " + ("matches" if r["matches"] else f"does not match ({r['why not']})"))
"""),
        ("""
## Explanation

The cause in one sentence, and what to change. Nothing is planned: creating storage is a decision for a person.
""", """
_events = [f.cause for f in d.findings if f.rule == "pvc.pending"]
if phase == "Bound":
    cause, advice = "bound", f"the claim is bound to {spec.get('volumeName')}: nothing to explain"
elif wanted_class and not class_exists:
    cause = "unknown-storage-class"
    advice = (f"StorageClass {wanted_class} does not exist, so nothing will ever provision the claim. Change the "
              f"claim's storageClassName to an existing class ({', '.join(sorted(classes)) or 'none exists'}) "
              f"or create StorageClass {wanted_class}; a claim's class cannot be edited, so recreate the claim.")
elif wanted_class and classes[wanted_class].get("volumeBindingMode") == "WaitForFirstConsumer" and not _events:
    cause = "waiting-for-consumer"
    advice = f"StorageClass {wanted_class} binds when a pod uses the claim: that is by design"
elif wanted_class:
    cause = "provisioner"
    advice = (f"StorageClass {wanted_class} ({classes[wanted_class].get('provisioner')}) has not provisioned a "
              f"volume: {'; '.join(_events) or 'see the claim events above'}")
elif matching:
    cause = "volume-available"
    advice = f"PersistentVolume(s) {', '.join(matching)} match: the binder should pick one up shortly"
elif wanted_class == "" or not defaults:
    cause = "no-matching-volume"
    _why = "its storageClassName is empty" if wanted_class == "" else "there is no default StorageClass"
    advice = (f"nothing provisions the claim ({_why}) and no PersistentVolume matches it ({size}, "
              f"{', '.join(modes)}): create a matching PersistentVolume or give the claim a class that provisions one")
else:
    cause = "provisioner"
    advice = f"the default StorageClass {defaults[0]} has not provisioned a volume: {'; '.join(_events) or '-'}"
print(f"{cause}: {advice}")
"""),
    ],
    conclusion=("""
## Conclusion
""", """
kc.runbooks.conclude(
    claim=f"{namespace}/{claim}",
    phase=phase,
    storage_class=wanted_class,
    class_exists=class_exists,
    storage_classes=sorted(classes),
    matching_volumes=matching,
    cause=cause,
    explanation=advice,
    findings=[f"{f.rule}: {f.cause}" for f in d.findings],
)
"""),
)

POSTMORTEM_REPORT = new_runbook(
    title="Postmortem report",
    description="Builds the postmortem of a time window from the audit ledger and the cluster's events (timeline, "
                "impact, likely root cause, actions taken, action items), shows it with its charts, and writes it as "
                "self-contained HTML and as Markdown.",
    risk="low",
    requires=["cluster", "postmortems"],
    intro="Headless: `kubecopilot runbook run postmortem-report --context NAME -p since 2h [-p namespace NS] "
          "[-p output DIR]`. The output notebook itself is the notebook rendering: its charts survive an HTML "
          "export offline.",
    parameters=f"""
from typing import Optional

{_CONTEXT}
since: str = "2h"  # start of the window: a span back from now ("90m", "2h", "1d") or an ISO time
until: Optional[str] = None  # end of the window, an ISO time (None: now)
namespace: Optional[str] = None  # one namespace (None: the whole cluster)
output: str = ""  # a directory for postmortem.html/.md, or a path ending in .html ("": the run's directory)
title: Optional[str] = None  # the report's title (None: its scope and window)
""",
    setup=("""
## Connect

The cluster's events join the audit trail in the timeline. Plots are rendered with plotly.js embedded, so an HTML
export of this notebook shows them offline.
""", """
import os

import plotly.io as pio

import kubecopilot as kc

pio.renderers.default = os.environ.get("PLOTLY_RENDERER") or "plotly_mimetype+notebook"
ws = kc.connect(context=context, namespace=namespace)
ws
"""),
    steps=[
        ("""
## Build the report

Cluster events and audited actions in the window; impact from Warning events; the likely root cause from the
diagnoses recorded; actions from the plans; action items from what is still open.
""", """
pm = kc.postmortem(since, until, namespace, workbench=ws, title=title)
print(pm.summary())
"""),
        ("""
## The report
""", """
from IPython.display import Markdown, display

display(Markdown(pm.to_markdown()))
"""),
        ("""
## Charts

The impact (how long each object was unavailable) and the timeline of events and actions.
""", """
for fig in pm.figures().values():
    fig.show()
"""),
        ("""
## Write the files

A self-contained HTML page (plotly.js embedded: it opens offline) and the Markdown, side by side.
""", """
from pathlib import Path

_run = kc.runbooks.current()
_base = Path(output).expanduser() if output else (_run.run_dir if _run is not None else Path.cwd())
if _base.suffix.lower() in (".html", ".htm"):
    html_path, md_path = _base, _base.with_suffix(".md")
else:
    html_path, md_path = _base / "postmortem.html", _base / "postmortem.md"
pm.write(html_path)
pm.write(md_path)
print(f"HTML:     {html_path.absolute()}\\nMarkdown: {md_path.absolute()}")
"""),
    ],
    conclusion=("""
## Conclusion

Where the report is, and its headline.
""", """
kc.runbooks.conclude(
    html=str(html_path.absolute()),
    markdown=str(md_path.absolute()),
    postmortem_id=pm.id,
    title=pm.title,
    summary=pm.summary(),
    root_cause=pm.root_cause,
    impacted=len(pm.impact),
    plans=len(pm.actions),
    executed=int((pm.actions["status"] == "executed").sum()) if len(pm.actions) else 0,
    action_items=len(pm.action_items),
    timeline_events=len(pm.timeline),
)
"""),
)

CANARY_ROLLOUT = new_runbook(
    title="Canary rollout",
    description="Rolls a new image out to one Deployment as a canary: a second Deployment <name>-canary takes a "
                "growing share of the pods (and of the Service's traffic), each step is analysed (readiness, "
                "restarts, CPU from the kubelet metrics), a failed analysis rolls everything back by itself, and the "
                "promotion updates the Deployment. Every write is an OperationPlan within the run's approval policy.",
    risk="medium",
    requires=["cluster", "plans", "rollouts"],
    intro="Headless: `kubecopilot runbook run canary-rollout --context NAME -p namespace NS -p deployment web "
          "-p image web:1.1 --approve-up-to medium --approved-by NAME`. A plan above the pre-recorded approval, an "
          "inconclusive analysis or a missing approval leaves the rollout `waiting_confirm`: act on it in a notebook "
          "(`kc.rollouts.load(ID)`, `kc.plans.pending()`), then `kubecopilot runbook resume RUN_ID` continues the "
          "same rollout.",
    parameters=f"""
from typing import Optional

{_CONTEXT}
namespace: str = None  # the Deployment's namespace
deployment: str = None  # the Deployment to roll out
image: str = None  # the new image, e.g. sandbox/web:1.1
container: Optional[str] = None  # the container to update (None: the Deployment's only container)
steps: list[int] = [25, 50]  # canary weights in percent, in order; the promotion follows the last one
pause_seconds: float = 30.0  # pause after each step's analysis, in seconds
analysis_window: float = 60.0  # seconds each analysis watches the canary pods
analysis_interval: float = 10.0  # seconds between two looks at the pods
max_restarts: int = 0  # restarts a canary pod may have during a window
max_cpu_millicores: Optional[float] = None  # a canary pod using more CPU than this fails the step (None: no limit)
ready_timeout: float = 300.0  # seconds to wait for new pods to become Ready
""",
    setup=("""
## Connect

The context is a *name*: credentials stay in the kubeconfig and never appear in this notebook.
""", """
import kubecopilot as kc
from kubecopilot.rollouts import AnalysisSpec, Canary, CanaryStep

ws = kc.connect(context=context, namespace=namespace)
before = ws.read(f"deployment/{namespace}/{deployment}")
print(f"{deployment}: {before['spec'].get('replicas', 1)} replica(s) of "
      f"{', '.join(c['image'] for c in before['spec']['template']['spec']['containers'])}")
"""),
    steps=[
        ("""
## The rollout

Built from the parameters and saved to the audit ledger before anything is written. Its id comes from the run, so
a resumed run (`kubecopilot runbook resume`) continues this same rollout instead of starting another.
""", """
ro = kc.rollout(
    f"deployment/{namespace}/{deployment}", image, ws=ws, container=container, name=f"canary-{deployment}",
    strategy=Canary(steps=[CanaryStep(weight=w, pause=pause_seconds) for w in steps]),
    analysis=AnalysisSpec(window=analysis_window, interval=analysis_interval, max_restarts=max_restarts,
                          max_cpu_millicores=max_cpu_millicores),
    ready_timeout=ready_timeout,
)
print(ro.id, ro.status)
"""),
        ("""
## Run it

Step by step: create or scale the canary, wait for its pods, analyse them, pause; then the promotion. A failed
analysis rolls back every completed step. When a human is needed the run stops here with the state saved.
""", """
ro.run()
ro
"""),
        ("""
## Analyses

Every analysis window with its verdict and evidence, and the DAG of the rollout.
""", """
for a in ro.analyses:
    print(f"{a.target}: {a.phase} — {a.reason} (metrics: {a.metrics_source or 'none'})")
ro.figure()
"""),
    ],
    conclusion=("""
## Conclusion

`success`: the Deployment runs the new image. `rolled_back`: an analysis failed (or someone aborted) and every
step was undone. `waiting_confirm`: a human must act (see `waiting`).
""", """
after = ws.read(f"deployment/{namespace}/{deployment}")
kc.runbooks.conclude(
    rollout_id=ro.id,
    status=ro.status,
    reason=ro.state.reason,
    waiting=[f"{task or 'rollout'}: {w.message}" for task, w in ro.waiting],
    image_now=[c["image"] for c in after["spec"]["template"]["spec"]["containers"]],
    replicas=after["spec"].get("replicas", 1),
    analyses=[f"{a.target}: {a.phase} ({a.reason})" for a in ro.analyses],
)
"""),
)

RUNBOOKS = {ROOT / "runbooks" / "cluster-health.ipynb": CLUSTER_HEALTH,
            **{ROOT / "runbooks" / f"{name}.ipynb": nb for name, nb in {
                "triage-namespace": TRIAGE_NAMESPACE, "diagnose-pod": DIAGNOSE_POD,
                "crashloop-remediation": CRASHLOOP_REMEDIATION, "restart-deployment": RESTART_DEPLOYMENT,
                "scale-deployment": SCALE_DEPLOYMENT, "rollback-deployment": ROLLBACK_DEPLOYMENT,
                "drain-node": DRAIN_NODE, "pvc-pending": PVC_PENDING, "postmortem-report": POSTMORTEM_REPORT,
                "canary-rollout": CANARY_ROLLOUT,
            }.items()}}
FIXTURES = {ROOT / "tests" / "runbook_fixtures" / "misbehaving.ipynb": MISBEHAVING,
            ROOT / "tests" / "runbook_fixtures" / "scale-with-approval.ipynb": SCALE_WITH_APPROVAL}


def main() -> int:
    for path, nb in {**RUNBOOKS, **FIXTURES}.items():
        write_runbook(nb, path)
        print(f"wrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
