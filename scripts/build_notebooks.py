"""Write the guide notebooks in notebooks/ from readable source, so they stay consistent with each other.

    .venv/bin/python scripts/build_notebooks.py          # rewrites notebooks/*.ipynb; unchanged source -> same files
    .venv/bin/python scripts/build_notebooks.py --check  # exit 1 if a notebook differs from this source (CI)

Every notebook runs top to bottom against the sandbox in a namespace it creates (``guide-<topic>-<hex>``) and
deletes at the end, with markdown saying what and why before each code cell. The notebooks are stored without
outputs. Cells marked ``# NBVAL_CHECK_OUTPUT`` have an expected stdout here (``check=``):
``--expected DIR`` writes copies of the notebooks that carry it, and ``tests/sandbox/test_notebooks.py`` runs nbval
(``--nbval-lax`` with ``tests/nbval-sanitize.cfg``, which replaces namespaces, ids and timestamps by placeholders)
on those copies. Plotly cells are ``# NBVAL_IGNORE_OUTPUT``.

Edit a guide here, rebuild, and run ``pytest tests/sandbox/test_notebooks.py``. Editing a notebook in JupyterLab
is fine for trying things; then carry the change over here, or the next build undoes it.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "notebooks"


@dataclass(frozen=True)
class Md:
    text: str


@dataclass(frozen=True)
class Code:
    source: str
    check: str | None = None  # the expected stdout (after sanitising): stored, and compared by nbval
    ignore: bool = False      # volatile output (plots, widgets): never compared, even under plain --nbval


def md(text: str) -> Md:
    return Md(text.strip("\n"))


def code(source: str, check: str | None = None, ignore: bool = False) -> Code:
    return Code(source.strip("\n"), check.lstrip("\n") if check is not None else None, ignore)


# -- pieces every guide shares ---------------------------------------------------------------------------------------
def connect_cell(topic: str, intro: str) -> list[Md | Code]:
    return [
        md(f"""
## Connect to the sandbox

{intro}

`kubecopilot.sandbox.kubeconfig_path()` is the kubeconfig of the local sandbox cluster (`make lab` starts it;
`$KUBECOPILOT_SANDBOX_DIR` points at another one). We connect as `sandbox-admin` by *context name*: the token stays
in the kubeconfig and never shows up in an output, a log line or the audit. The namespace is fresh for this
notebook, so nothing here touches anything else, and the last cell deletes it.
"""),
        code(f"""
import uuid

import kubecopilot as kc
from kubecopilot import sandbox

ns = f"guide-{topic}-{{uuid.uuid4().hex[:6]}}"
ws = kc.connect(sandbox.kubeconfig_path(), context="sandbox-admin", namespace=ns)
ws.health()
"""),
    ]


def seed_cells(why: str, scenarios: list[str], *, one_by_one: bool = False) -> list[Md | Code]:
    names = ", ".join(f'"{s}"' for s in scenarios)
    head = f"""
from kubecopilot.sandbox import Sandbox
from kubecopilot.sandbox._scenarios import get_scenario, seed, wait_settled

world = Sandbox().client()  # the sandbox's own admin client (same data dir as kubeconfig_path())
incidents = [get_scenario(n) for n in [{names}]]
"""
    if one_by_one:  # a healthy control settles only while nothing next to it is broken: it goes first, alone
        cell = code(head + """for incident in incidents:
    seed(world, incident, ns)
    print(incident.name, wait_settled(world, [(incident, ns)], timeout=120, interval=0.5))
""", check="".join(f"{s} []\n" for s in scenarios))
    else:
        cell = code(head + """for incident in incidents:
    seed(world, incident, ns)
print(wait_settled(world, [(i, ns) for i in incidents], timeout=120, interval=0.5))
""", check="[]\n")
    return [
        md(f"""
## Set the scene

{why}

The sandbox's scenario tooling creates the objects. It writes to the cluster directly because it plays the world
that breaks, not the SRE: everything *we* change later goes through an OperationPlan. `wait_settled` returns the
scenarios whose symptoms have not shown yet, so `[]` means the stage is set.
"""),
        cell,
    ]


def cleanup_cells(extra: str = "") -> list[Md | Code]:
    return [
        md(f"""
## Clean up

Deleting the namespace removes everything this notebook created in the cluster.{extra} The audit ledger keeps its
record: that is what it is for.
"""),
        code("""
world.delete(f"/api/v1/namespaces/{ns}")
print(f"deleted namespace {ns}")
""", check="deleted namespace NAMESPACE\n"),
    ]


# -- 00: the tour ------------------------------------------------------------------------------------------------------
TOUR = [
    md("""
# A tour of KubeCopilot

KubeCopilot turns a notebook into an SRE cockpit: you browse a cluster into tables, get a diagnosis of what is
broken, receive every change as an **OperationPlan** you can read, approve and execute, and find all of it in an
audit ledger afterwards. This tour walks one small incident through all of that in a few minutes:

1. connect to the local sandbox cluster,
2. look at what runs,
3. diagnose the broken Deployment,
4. plan the fix, approve it as a named person, execute it,
5. check the result and read the audit trail.

The other guides go deeper: `01-browsing`, `02-diagnosis`, `03-plans`, `04-runbooks`, `05-postmortem`.
"""),
    *connect_cell("tour", "Everything starts with a connection: `kc.connect` returns a `Workbench`, and `health()` "
                          "shows whether the API server answers, its version, who we are and what we may do."),
    *seed_cells("A thumbnail worker keeps getting OOMKilled: its memory limit (256Mi) is below what it needs. This "
                "is the incident we will diagnose and fix.", ["oomkilled-memory-limit"]),
    md("""
## Look around

Lists come back as a `ResourceTable`: kubectl-like columns with status badges in the notebook, a pandas DataFrame
in `.frame` and the raw objects in `.objects`. Note the RESTARTS column.
"""),
    code("""
pods = ws.pods(namespace=ns)
pods
"""),
    md("""
The same is a one-liner with the IPython magics: `%load_ext kubecopilot` adds `%kc`, which works on the current
connection (here: our namespace). `%kc help` lists what it can do.
"""),
    code("""
%load_ext kubecopilot
%kc get deployments
"""),
    md("""
## Diagnose

`ws.diagnose(ref)` gathers the evidence around an object in parallel (the object, its pods, events, current and
previous logs, the node, quotas, ...) and runs the analyzers over it. Each finding names a rule, a one-line cause,
the evidence it rests on, and, when the fix is mechanical, an *intent* for the plan builders.
"""),
    code("""
d = ws.diagnose("deployment/thumbnailer")
d
"""),
    md("""
The root cause comes first. Its intent says what would fix it; it is not a patch, just an action with parameters.
"""),
    code("""
# NBVAL_CHECK_OUTPUT
finding = d.findings[0]
print(finding.rule, finding.severity)
print(finding.intent.action, finding.intent.parameters)
""", check="""
pod.oomkilled error
set_resources {'container': 'worker', 'limits': {'memory': '640Mi'}}
"""),
    md("""
## Plan the fix

The plan builder turns the intent into an `OperationPlan` computed from a *live* read: the before snapshot, the
JSON patch, the rollback patch, a risk score with its reasons, and a server-side dry run. Nothing changes in the
cluster yet. In JupyterLab the plan shows Approve / Reject / Execute buttons; here we use the API.
"""),
    code("""
plan = ws.plan.from_intent(finding.intent)
plan
"""),
    code("""
# NBVAL_CHECK_OUTPUT
print(plan.status, plan.risk.level)
for change in plan.changes:
    print(change.op, change.path, change.old, "->", change.new)
""", check="""
pending medium
replace /spec/template/spec/containers/0/resources/limits/memory 256Mi -> 640Mi
"""),
    md("""
## Approve and execute

Approval is an explicit act by a named person. Execution re-reads the Deployment, refuses if it drifted from the
snapshot, applies the patch with a resourceVersion precondition, and with `wait=True` checks the plan's
post-condition: the rollout completes.
"""),
    code("""
plan.approve(by="alice", reason="OOMKilled at 256Mi; the worker needs more")
result = plan.execute(wait=True)
result
"""),
    code("""
# NBVAL_CHECK_OUTPUT
print(plan.status, result.status)
""", check="executed executed\n"),
    md("""
## Check

Diagnosing again should find nothing: healthy objects produce no findings.
"""),
    code("""
# NBVAL_CHECK_OUTPUT
after = ws.diagnose("deployment/thumbnailer")
print(after.ok, len(after.findings))
""", check="True 0\n"),
    md("""
## The audit trail

Every diagnosis, plan, approval and execution is an event in a DuckDB ledger (`$KUBECOPILOT_DB`, default in your
user data dir). Each row carries the hash of the one before it, so `verify()` notices an edited or deleted event.
"""),
    code("""
kc.audit.sql("SELECT ts, actor, action, object FROM audit_events WHERE plan_id = ? ORDER BY seq", [plan.id])
"""),
    code("""
# NBVAL_CHECK_OUTPUT
actions = kc.audit.sql("SELECT action FROM audit_events WHERE plan_id = ? ORDER BY seq", [plan.id])["action"]
print(list(actions))
print("chain intact:", kc.audit.verify().ok)
""", check="""
['plan.created', 'plan.approved', 'plan.executing', 'plan.executed', 'plan.verified']
chain intact: True
"""),
    *cleanup_cells(),
]


# -- 01: browsing ------------------------------------------------------------------------------------------------------
BROWSING = [
    md("""
# Browsing a cluster

Before fixing anything you look: what runs, what is unhealthy, what belongs to what, what happened recently.
This guide covers lists and filters, one object in detail, events, logs, search, the topology of a namespace,
the `%kc` magics, and what a read-only identity sees.
"""),
    *connect_cell("browse", "One connection per identity; `kc.connections()` lists the open ones."),
    *seed_cells("A healthy web tier (`frontend`: a Deployment with two replicas behind a Service) and, next to it, "
                "a landing page whose image tag does not exist.", ["healthy-web-service", "image-pull-wrong-tag"],
                one_by_one=True),
    md("""
## Lists

Every kind has a shortcut (`ws.pods()`, `ws.deployments()`, `ws.services()`, ...) and `ws.list(kind)` takes any kind
the cluster serves, CRDs included. Without `namespace=` a list covers every namespace, like `kubectl -A`.
"""),
    code("""
ws.deployments(namespace=ns)
"""),
    md("""
`.frame` is a plain DataFrame, so the usual pandas filtering works. Here: the pods that are not running.
"""),
    code("""
pods = ws.pods(namespace=ns)
pods.frame[pods.frame["STATUS"] != "Running"][["NAME", "STATUS", "RESTARTS"]]
"""),
    md("""
Label selectors (and field selectors with `fields=`) are applied by the API server.
"""),
    code("""
# NBVAL_CHECK_OUTPUT
web = ws.pods(namespace=ns, selector="app=frontend")
print(len(web), "frontend pods:", sorted(web.frame["STATUS"]))
print(sorted(ws.list("deploy", namespace=ns).frame["NAME"]))
""", check="""
2 frontend pods: ['Running', 'Running']
['frontend', 'landing-page']
"""),
    md("""
## One object in detail

`ws.get(ref)` reads one object with what relates to it: owners, the pods a Service selects, mounted ConfigMaps and
Secrets, conditions and events. `ws.describe(ref)` gives `kubectl describe`-like text. References read like
`kind/name` (the connection's namespace) or `kind/namespace/name`.
"""),
    code("""
frontend = ws.get("deployment/frontend")
frontend
"""),
    code("""
print(ws.describe("service/frontend"))
"""),
    md("""
## Events

`ws.events()` is a timeline, newest first, filterable by object, reason, type and age. `.timeline()` draws it.
"""),
    code("""
warnings = ws.events(namespace=ns, type="Warning")
warnings
"""),
    code("""
# NBVAL_IGNORE_OUTPUT
ws.events(namespace=ns).timeline()
"""),
    md("""
## Logs

Logs of a container (`previous=True` for the last terminated instance, `tail=`, `since=`).
"""),
    code("""
pod = web.frame["NAME"][0]
ws.logs(pod, tail=5)
"""),
    md("""
## Search and topology

`ws.search(text)` looks through names, labels, annotations and images across the common kinds.
`ws.topology(ns)` shows how objects relate (owners, selectors, mounts, Ingress → Service → Pod); `.figure()` draws it,
coloured by health.
"""),
    code("""
ws.search("nginx", namespace=ns)
"""),
    code("""
# NBVAL_IGNORE_OUTPUT
ws.topology(ns).figure()
"""),
    md("""
## The same with `%kc`

The magics mirror the API and return the same objects. Python values go in with `{expr}`.
"""),
    code("""
%load_ext kubecopilot
%kc get pods -l app=landing-page
"""),
    code("""
%kc describe deploy/landing-page -n {ns}
"""),
    md("""
## A read-only identity

`sandbox-viewer` may read workloads but not Secrets. `health()` says what an identity may do before you try, and
when you try anyway, the error is one line naming the verb, the resource and the way out; the notebook goes on.
"""),
    code("""
# NBVAL_CHECK_OUTPUT
viewer = kc.connect(sandbox.kubeconfig_path(), context="sandbox-viewer", namespace=ns, name="viewer")
rights = viewer.health()
print("list pods:", rights.can("list", "pods"), "| list secrets:", rights.can("list", "secrets"))
""", check="list pods: True | list secrets: False\n"),
    code("""
%kc use viewer
%kc get secrets
"""),
    code("""
# NBVAL_CHECK_OUTPUT
print(kc.connections().current)
ws = kc.cluster.use("sandbox-admin")  # back to the admin connection
print(ws.name)
""", check="viewer\nsandbox-admin\n"),
    *cleanup_cells(),
]


# -- 02: diagnosis -----------------------------------------------------------------------------------------------------
DIAGNOSIS = [
    md("""
# Diagnosis

When something is broken, KubeCopilot gathers the evidence and runs rules over it: **analyzers** that know how
Kubernetes fails (crash loops, OOM kills, image pulls, missing config, Services selecting nothing, ...). A
**finding** names the rule, the object, a one-line cause, the quoted evidence, and a fix intent when the fix is
mechanical. Findings are ranked so root causes come first and the rest point at them (`caused_by`).

This guide triages a namespace with three problems, diagnoses single objects, and asks a question in words.
No LLM is needed: with one configured (`kubecopilot.ai.configure(...)`) the explanations get deeper, and every
string sent to it is sanitised first.
"""),
    *connect_cell("diagnose", "A diagnosis reads a lot (pods, events, logs, owners, config), so it uses the "
                              "connection's identity: findings only cover what it may read."),
    *seed_cells("Three unrelated incidents in one namespace: an API crashing because an environment variable is "
                "missing, a worker killed for memory, and a Deployment referring to a ConfigMap under the wrong name.",
                ["crashloop-missing-env", "oomkilled-memory-limit", "config-error-missing-configmap"]),
    md("""
## Triage a namespace

`ws.triage(ns)` runs every analyzer over the namespace once. The table lists root causes first; a Deployment that
is unavailable *because* its pod crashes is listed, but points at the crash.
"""),
    code("""
t = ws.triage(ns)
t
"""),
    code("""
# NBVAL_CHECK_OUTPUT
for rule, obj in sorted((f.rule, f.object.split("/")[-1]) for f in t.root_causes):
    print(f"{rule:<26} {obj}")
""", check="""
pod.crashloop              billing-api
pod.create-config-error    notifier
pod.oomkilled              thumbnailer
"""),
    md("""
`.frame` has the same as a DataFrame (rank, severity, rule, object, cause, evidence, caused_by, fix).
"""),
    code("""
t.frame[["rank", "rule", "object", "caused_by"]]
"""),
    md("""
## One object, with its evidence

`ws.diagnose(ref)` looks closer at one object: here the crashing API. The cause quotes the log line that explains
the crash, from the *previous* container instance (the current one has not logged anything useful yet).
"""),
    code("""
d = ws.diagnose("deployment/billing-api")
d
"""),
    code("""
# NBVAL_CHECK_OUTPUT
root = d.root_causes[0]
print(root.rule, "| mentions DATABASE_URL:", "DATABASE_URL" in root.cause)
print("quotes the log:", any(e.kind == "log" and "DATABASE_URL" in e.quote for e in root.evidence))
""", check="""
pod.crashloop | mentions DATABASE_URL: True
quotes the log: True
"""),
    md("""
A missing ConfigMap: the analyzer also looks for the name that was probably meant.
"""),
    code("""
# NBVAL_CHECK_OUTPUT
print(ws.diagnose("deployment/notifier").findings[0].cause)
""", check=("env SMTP_HOST, SMTP_PORT of container notifier refers to ConfigMap notification-settings, which does "
           "not exist (did you mean notifier-settings?)\n")),
    md("""
When the fix is mechanical, the finding carries an intent: here, raise the memory limit (the analyzer suggests a
value from the limit that was hit). `ws.plan.from_intent(...)` turns it into a plan (see `00-tour` and `03-plans`).
"""),
    code("""
# NBVAL_CHECK_OUTPUT
oom = ws.diagnose("deployment/thumbnailer").findings[0]
print(oom.rule, "->", oom.intent.action, oom.intent.parameters)
""", check="pod.oomkilled -> set_resources {'container': 'worker', 'limits': {'memory': '640Mi'}}\n"),
    md("""
## Ask in words

`ws.ask(question)` answers from the findings. Without an LLM the answer *is* the findings, marked rules-only;
with one, the model explains them (it only sees sanitised evidence).
"""),
    code("""
answer = ws.ask("why is billing-api down?", namespace=ns)
answer
"""),
    md("""
## With the magics

`%kc diagnose`, `%kc triage` and the cell magic `%%kc ask` return the same objects.
"""),
    code("""
%load_ext kubecopilot
%kc diagnose deploy/thumbnailer
"""),
    code("""
%%kc ask
What is wrong with the notifier?
"""),
    md("""
## On the record

Every diagnosis and triage is stored in the audit ledger with its findings (a `diagnosis.made` event and a row of
the `diagnoses` table), so a postmortem can say later what was known when (see `05-postmortem`).
"""),
    code("""
# NBVAL_CHECK_OUTPUT
made = kc.audit.sql("SELECT payload->>'$.kind' AS kind, count(*) AS n FROM audit_events "
                    "WHERE action = 'diagnosis.made' AND object LIKE ? GROUP BY ALL ORDER BY kind", [f"%/{ns}%"])
print(made.to_string(index=False))
""", check="""
     kind  n
diagnosis  4
   triage  3
"""),
    *cleanup_cells(),
]


# -- 03: plans ---------------------------------------------------------------------------------------------------------
PLANS = [
    md("""
# Operation plans

Every change KubeCopilot makes to a cluster is an **OperationPlan**: built from a live read, dry-run on the server,
risk-scored, shown as a summary, a table of changes and a YAML diff, approved by a named person, then executed
with a drift check and a resourceVersion precondition, and recorded in the audit ledger. There is no other write
path in the library.

This guide scales a Deployment, shows what happens when the object changes between planning and executing, how
risk and approval policy interact, plans from words, and the `%kc` plan commands.
"""),
    *connect_cell("plans", "Plans record who asked (`requested_by`, by default `$KUBECOPILOT_USER` or your OS user) "
                           "and which context they were made on."),
    *seed_cells("A healthy `frontend` Deployment with two replicas behind a Service: a good place to change "
                "things.", ["healthy-web-service"]),
    md("""
## A plan

`ws.plan` holds the builders: `scale`, `restart`, `set_image`, `set_env`, `set_resources`, `rollback`, `delete`,
`cordon` / `uncordon` / `drain`, `suspend` / `resume`, `apply`, `patch`. Each returns a pending plan and writes
nothing to the cluster. In JupyterLab the plan renders with Approve / Reject / Execute buttons.
"""),
    code("""
plan = ws.plan.scale("deployment/frontend", 3, reason="expected traffic peak")
plan
"""),
    md("""
The three layers in text: a one-sentence summary, the changes (op, path, old, new), and the risk with its reasons.
"""),
    code("""
# NBVAL_CHECK_OUTPUT
print(plan.summary)
for change in plan.changes:
    print(change.op, change.path, change.old, "->", change.new)
print(plan.risk.rationale)
""", check="""
Scale deployment/NAMESPACE/frontend up from 2 to 3 replica(s).
replace /spec/replicas 2 -> 3
low risk: no risk rule matched this change
"""),
    md("""
## Approve and execute

`approve(by=...)` names the person; `execute(wait=True)` applies the patch and checks the post-conditions (all three
replicas ready).
"""),
    code("""
plan.approve(by="alice")
plan.execute(wait=True)
"""),
    code("""
# NBVAL_CHECK_OUTPUT
print(plan.status, ws.read("deployment/frontend")["status"]["readyReplicas"])
""", check="executed 3\n"),
    md("""
## Drift: the object changed after the plan was made

A plan freezes the object it was computed from. If someone changes the object before the plan runs, execution is
refused and the drift is shown field by field, instead of silently overwriting their change.
"""),
    code("""
from kubecopilot.errors import PlanDriftError

stale = ws.plan.scale("deployment/frontend", 2)   # planned against 3 replicas
other = ws.plan.restart("deployment/frontend")    # meanwhile, a colleague's restart goes first
other.approve(by="bob")
other.execute(wait=True)

stale.approve(by="alice")
try:
    stale.execute()
except PlanDriftError as e:
    drift = e.drift
drift
"""),
    code("""
# NBVAL_CHECK_OUTPUT
print(stale.status)
for item in drift:
    print(item.change, item.path)
""", check="""
failed
added /spec/template/metadata/annotations/kubectl.kubernetes.io~1restartedAt
"""),
    md("""
## Risk and approval policy

Scaling to zero takes the whole service down: high risk. The default policy does not let the person who asked for a
high-risk plan approve it alone. Rejecting a plan ends it for good.
"""),
    code("""
from kubecopilot.errors import PlanApprovalError

zero = ws.plan.scale("deployment/frontend", 0)
print(zero.risk.rationale)
try:
    zero.approve(by=zero.audit.requested_by)
except PlanApprovalError as e:
    print("refused:", e)
zero.reject(by="alice", reason="no maintenance window today")
"""),
    code("""
# NBVAL_CHECK_OUTPUT
print(zero.risk.level, zero.status)
""", check="high rejected\n"),
    md("""
## Plans from words

`ws.ask_plan(text)` reads a request into a `PlanIntent` (a small offline parser; an LLM when one is configured for
phrasings it does not know) and the same builders make the plan. Words never become a patch directly.
"""),
    code("""
# NBVAL_CHECK_OUTPUT
worded = ws.ask_plan(f"scale frontend in {ns} to 2")
print(worded.action, worded.parameters["replicas"], worded.status)
""", check="scale 2 pending\n"),
    md("""
## With the magics

`%kc plan ...` builds, `%kc pending` lists what waits for a decision (from the ledger, so plans made in runbooks and
other notebooks show up too), `%kc approve` / `%kc reject` / `%kc execute` take a plan id or its first characters.
A magic's result can be assigned like any expression.
"""),
    code("""
%load_ext kubecopilot
restart = %kc plan restart deploy/frontend --reason "pick up the new config"
%kc pending -n {ns}
"""),
    code("""
%kc reject {worded.id[:8]} --by alice --reason "two replicas are not enough today"
%kc approve {restart.id[:8]} --by alice
%kc execute {restart.id[:8]} --wait
"""),
    code("""
# NBVAL_CHECK_OUTPUT
history = kc.plans.history(namespace=ns).frame
print(sorted(history["status"]))
""", check="['executed', 'executed', 'executed', 'failed', 'rejected', 'rejected']\n"),
    *cleanup_cells(),
]


# -- 04: runbooks ------------------------------------------------------------------------------------------------------
RUNBOOKS = [
    md("""
# Runbooks

A runbook is a parameterised notebook in `runbooks/` that runs headless with papermill: from here
(`kc.runbooks.run`), from the shell (`kubecopilot runbook run NAME -p key value`) or from a scheduler. Parameters are
checked before a kernel starts, the output notebook is kept with its provenance, and the run is in the audit
ledger. Plans a runbook makes follow an approval policy: above it, the run stops in `waiting_confirm` until a
person approves them, and is then resumed.
"""),
    *connect_cell("runbooks", "A runbook never holds credentials: it gets a context *name* and the kubeconfig "
                              "path, like this notebook."),
    *seed_cells("An API that crash-loops (a missing environment variable) next to nothing else: enough for a health "
                "check to report something.", ["crashloop-missing-env"]),
    md("""
## What runbooks exist

`kc.runbooks.list()` reads `runbooks/` (and `$KUBECOPILOT_RUNBOOKS_PATH`); `describe` shows a runbook's parameters
with their types and defaults.
"""),
    code("""
kc.runbooks.list()
"""),
    code("""
kc.runbooks.describe("cluster-health")
"""),
    md("""
## Run one

`cluster-health` only reads. It gets our namespace and the context by name; the kubeconfig path goes to the kernel
as `$KUBECONFIG`. The result is what the runbook concluded, and `output` is the executed notebook.
"""),
    code("""
kubeconfig = str(sandbox.kubeconfig_path())
run = kc.runbooks.run("cluster-health", {"namespace": ns, "restart_threshold": 0}, context="sandbox-admin",
                      kubeconfig=kubeconfig)
run
"""),
    code("""
# NBVAL_CHECK_OUTPUT
print(run.status, "| healthy:", run.result["healthy"])
print([p.split("/")[-1].rsplit("-", 2)[0] for p in run.result["pods_unstable"]])
""", check="""
succeeded | healthy: False
['billing-api']
"""),
    md("""
Wrong parameters are refused before any kernel starts, naming the parameter and what it expects.
"""),
    code("""
# NBVAL_CHECK_OUTPUT
from kubecopilot.errors import RunbookParameterError

try:
    kc.runbooks.run("cluster-health", {"restart_treshold": 1}, kubeconfig=kubeconfig)
except RunbookParameterError as e:
    print(type(e).__name__, "| names the typo:", "restart_treshold" in str(e))
""", check="RunbookParameterError | names the typo: True\n"),
    md("""
## A runbook that changes something waits for a person

`scale-deployment` makes a plan. With the default policy (`approve_up_to="none"`) nothing is pre-approved, so the
run ends in `waiting_confirm` with the plan pending. We approve it here, then resume the run, which executes it.
"""),
    code("""
waiting = kc.runbooks.run("scale-deployment", {"namespace": ns, "deployment": "billing-api", "replicas": 2,
                                               "wait": False}, context="sandbox-admin", kubeconfig=kubeconfig)
print(waiting.status, waiting.pending_plans)
"""),
    code("""
kc.plans.pending(namespace=ns)
"""),
    code("""
for plan_id in waiting.pending_plans:
    kc.plans.load(plan_id, ws).approve(by="alice", reason="checked the diff in the notebook")
resumed = kc.runbooks.resume(waiting.run_id, kubeconfig=kubeconfig)
resumed
"""),
    code("""
# NBVAL_CHECK_OUTPUT
print(waiting.status, "->", resumed.status, "| replicas:", ws.read("deployment/billing-api")["spec"]["replicas"])
""", check="waiting_confirm -> succeeded | replicas: 2\n"),
    md("""
## With the magics, and the record

`%kc runbook run NAME -p key value` uses the current connection's context and kubeconfig. `kc.runbooks.runs()` lists
recent runs from the audit ledger.
"""),
    code("""
%load_ext kubecopilot
%kc runbook run cluster-health -p namespace {ns}
"""),
    code("""
# NBVAL_CHECK_OUTPUT
runs = kc.runbooks.runs("cluster-health")
print(run.run_id in set(runs["run_id"]), sorted(set(runs["status"]) & {"succeeded"}))
""", check="True ['succeeded']\n"),
    *cleanup_cells(),
]


# -- 05: postmortem ----------------------------------------------------------------------------------------------------
POSTMORTEM = [
    md("""
# Postmortems

After an incident, `kc.postmortem(since, until, namespace)` assembles the report from what KubeCopilot recorded and
what the cluster saw: a timeline merging cluster events with the audit trail, the impact, the likely root cause
(from the diagnoses made during the incident), the actions taken (plans, who approved them, how they ended), and
action items. It renders in the notebook, as Markdown and as a self-contained HTML file.

To have something to write about, this guide first lives through a small incident: diagnose, fix, verify.
"""),
    *connect_cell("postmortem", "The report reads cluster events through this connection and the audit from the "
                                "default ledger."),
    *seed_cells("billing-api crash-loops: the variable DATABASE_URL got lost when the service moved off its old Helm "
                "chart.", ["crashloop-missing-env"]),
    md("""
## The incident, in three cells

Diagnose (recorded in the ledger), fix with a plan, approve and execute it.
"""),
    code("""
d = ws.diagnose("deployment/billing-api")
d
"""),
    code("""
fix = ws.plan.set_env("deployment/billing-api", {"DATABASE_URL": "postgres://billing@db.payments:5432/billing"},
                      reason="restore the variable lost in the Helm migration")
fix.approve(by="alice")
fix.execute(wait=True)
"""),
    code("""
# NBVAL_CHECK_OUTPUT
print(fix.status, "| healthy now:", ws.diagnose("deployment/billing-api").ok)
""", check="executed | healthy now: True\n"),
    md("""
## The report

The window is the last half hour of this namespace. `root_cause`, `impact`, `actions`, `action_items` and
`timeline` are plain attributes (DataFrames and lists), so the report is also data.
"""),
    code("""
pm = kc.postmortem(since="30m", namespace=ns)
pm
"""),
    code("""
# NBVAL_CHECK_OUTPUT
print(pm.root_causes["rule"].iloc[0])
print(pm.actions[["action", "status", "approved_by"]].to_string(index=False))
print(len(pm.action_items) > 0)
""", check="""
pod.crashloop
 action   status approved_by
set_env executed       alice
True
"""),
    md("""
The timeline interleaves what the cluster did (events) with what people and KubeCopilot did (audit).
"""),
    code("""
pm.timeline[["ts", "source", "what", "object"]].tail(12)
"""),
    code("""
# NBVAL_IGNORE_OUTPUT
figures = pm.figures()
next(iter(figures.values())) if figures else None
"""),
    md("""
## Share it

`write()` produces a self-contained HTML file (plotly included, opens offline) or Markdown, by suffix. The report is
also stored in the ledger (`postmortems` table) for later.
"""),
    code("""
# NBVAL_CHECK_OUTPUT
import tempfile
from pathlib import Path

out = Path(tempfile.mkdtemp()) / "billing-api-incident.md"
pm.write(out)
print(out.read_text().splitlines()[0].startswith("# Postmortem"), "set_env" in out.read_text())
""", check="True True\n"),
    md("""
The magic does the same: `%kc postmortem --since 30m -n NAMESPACE`.
"""),
    code("""
%load_ext kubecopilot
%kc postmortem --since 30m -n {ns} --no-save
"""),
    *cleanup_cells(),
]


NOTEBOOKS: dict[str, list[Md | Code]] = {
    "00-tour": TOUR,
    "01-browsing": BROWSING,
    "02-diagnosis": DIAGNOSIS,
    "03-plans": PLANS,
    "04-runbooks": RUNBOOKS,
    "05-postmortem": POSTMORTEM,
}


# -- writing -----------------------------------------------------------------------------------------------------------
def build(name: str, cells: list[Md | Code], *, expected: bool = False) -> nbformat.NotebookNode:
    """The notebook as stored (no outputs), or with ``expected=True`` the copy nbval checks against."""
    nb = nbformat.v4.new_notebook()
    nb.metadata = {
        "kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
    }
    for i, cell in enumerate(cells):
        cell_id = f"{name}-{i:02d}"
        if isinstance(cell, Md):
            nb.cells.append(nbformat.v4.new_markdown_cell(cell.text, id=cell_id))
            continue
        source = cell.source
        if cell.ignore and not source.startswith("# NBVAL_IGNORE_OUTPUT"):
            source = "# NBVAL_IGNORE_OUTPUT\n" + source
        node = nbformat.v4.new_code_cell(source, id=cell_id)
        if cell.check is not None:
            if not source.startswith("# NBVAL_CHECK_OUTPUT"):
                node.source = source = "# NBVAL_CHECK_OUTPUT\n" + source
            if expected:
                node.outputs = [nbformat.v4.new_output("stream", name="stdout", text=cell.check)]
                # nbval only compares cells that were run: an expected output needs an execution count
                node.execution_count = sum(isinstance(c, Code) for c in cells[: i + 1])
        elif "NBVAL_CHECK_OUTPUT" in source:
            raise ValueError(f"{name} cell {i}: '# NBVAL_CHECK_OUTPUT' without an expected output (check=...)")
        nb.cells.append(node)
    nbformat.validate(nb)
    return nb


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="only compare; exit 1 if a notebook is out of date")
    parser.add_argument("--expected", type=Path, metavar="DIR",
                        help="write the copies with expected outputs (what nbval compares) to DIR, and nothing else")
    args = parser.parse_args(argv)
    if args.expected:
        args.expected.mkdir(parents=True, exist_ok=True)
        for name, cells in NOTEBOOKS.items():
            (args.expected / f"{name}.ipynb").write_text(nbformat.writes(build(name, cells, expected=True)) + "\n")
        return 0
    stale = []
    for name, cells in NOTEBOOKS.items():
        path = OUT / f"{name}.ipynb"
        text = nbformat.writes(build(name, cells)) + "\n"
        if args.check:
            if not path.exists() or path.read_text() != text:
                stale.append(path.name)
            continue
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
            print(f"wrote {path.relative_to(ROOT)}")
    if stale:
        print(f"out of date (run scripts/build_notebooks.py): {', '.join(stale)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
