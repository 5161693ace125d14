"""Scenario files: incidents with known root causes, seeded into the sandbox and checked through the API.

A scenario is one YAML file in ``kubecopilot/sandbox/scenarios/`` (the file stem is its name). Broken
scenarios state the root cause a correct diagnosis must find (``expect``) and the symptoms that prove the
incident really happened (checked by `check_symptoms`); healthy controls have no ``expect`` and must pass
`check_healthy`, so the diagnosis engine can be graded on false positives too.

Schema::

    name: crashloop-missing-env          # required; = file stem; DNS-1123 label, at most 40 characters
    title: billing-api crashes because DATABASE_URL is not set          # required; one line
    description: |                       # required; what an SRE would see, and the known root cause
      ...
    category: crashloop                  # required; free-form grouping
    healthy: false                       # required; true for controls (then no `expect`)
    nodes:                               # optional: dedicated simulated nodes (NodeSpec fields)
      - {name: "{namespace}-gpu", labels: {pool: "{namespace}-gpu"},
         taints: [{key: nvidia.com/gpu, value: present, effect: NoSchedule}],
         cpu: "4", memory: 8Gi, pods: 110, condition: Ready}      # Ready|NotReady|Unreachable|...Pressure
    manifests:                           # required, non-empty: Kubernetes objects (apiVersion, kind,
      - {apiVersion: apps/v1, kind: Deployment, metadata: {name: billing-api}, spec: ...}  # metadata.name)
    expect:                              # required when healthy is false, forbidden when it is true
      object: Deployment/billing-api     # Kind/name defined by the manifests, or Node/<any node>
      rule: pod.crashloop                # one of RULES
      keywords: [DATABASE_URL]           # non-empty: words a correct diagnosis must mention
      symptoms:                          # non-empty; ALL must hold (at one moment) within settle_seconds
        - {kind: Pod, selector: app=billing-api, waiting_reason: CrashLoopBackOff, exit_code: 1}
      settle_seconds: 90                 # optional, default 90

``{namespace}`` anywhere in a string (or mapping key) of ``nodes``, ``manifests`` and ``expect`` is
replaced by the namespace the scenario is seeded into; no other ``{word}`` placeholder exists.
Namespaced manifests get ``metadata.namespace`` filled in (a manifest may not name another namespace);
cluster-scoped manifests must carry ``{namespace}`` in their name so two seeded copies never collide.
Namespaces, Nodes, Events, Leases and CRDs cannot be manifests (nodes go under ``nodes:``). API versions
are those a Kubernetes 1.20 server serves: CronJob is ``batch/v1beta1``, PodDisruptionBudget
``policy/v1beta1``, HPA ``autoscaling/v1|v2beta1|v2beta2``, Ingress ``networking.k8s.io/v1|v1beta1``.

Choosing ``expect.object``: the object an SRE would open first and that the finding is about - the
workload showing the symptom (quota or LimitRange blocking a Deployment: the Deployment), unless the
broken thing is itself another object (a Service, Ingress, PVC, HPA, CronJob, Job, Node), or the symptom
merely propagates (a caller crashing because its upstream crashes: the upstream's Deployment).

Symptom vocabulary (``kind`` is required in each; string matching of messages and logs ignores case):

- Pod by label selector; every predicate given must hold for the same pod, and the container-level ones
  (``waiting_reason``, ``terminated_reason``, ``exit_code``, ``min_restarts``) for the same container,
  init containers included. ``waiting_reason``/``terminated_reason`` take a reason or a list of
  accepted reasons (the kubelet alternates ErrImagePull and ImagePullBackOff). Termination predicates
  look at ``state.terminated`` and ``lastState.terminated``; ``terminated_reason`` and ``exit_code``
  given together must match one termination record. ``count: N`` means exactly N pods satisfy the other
  predicates (without others: N pods match the selector; ``count: 0`` - quota blocked every pod).
  ``log_contains`` reads the current and previous logs of the pods that satisfy the rest::

    {kind: Pod, selector: app=x, waiting_reason: CrashLoopBackOff, exit_code: 1, min_restarts: 1}
    {kind: Pod, selector: app=x, terminated_reason: OOMKilled}
    {kind: Pod, selector: app=x, phase: Running, not_ready: true}
    {kind: Pod, selector: app=x, count: 0}
    {kind: Pod, selector: app=x, log_contains: DATABASE_URL}

- Event in the scenario namespace (the ``default`` namespace too for ``involved_kind: Node``); any type;
  ``involved_name`` is a prefix (CronJob jobs get generated names)::

    {kind: Event, reason: FailedScheduling, message_contains: Insufficient cpu, involved_kind: Pod,
     involved_name: search-indexer-}

- Any kind by name (namespaced kinds in the scenario namespace)::

    {kind: Deployment, name: x, condition: {type: Progressing, status: "False",
                                            reason: ProgressDeadlineExceeded, message_contains: ...}}
    {kind: PersistentVolumeClaim, name: x, phase: Pending}        # status.phase
    {kind: Service, name: x, exists: false}
    {kind: Endpoints, name: x, ready_addresses: 0}                # also min_ready_addresses: N,
                                                                   # port: N (some subset uses it)

  ``condition.status`` and ``condition.reason`` may be lists of accepted values; an unquoted YAML
  ``True``/``False`` is read as the string. A missing Endpoints object has 0 ready addresses.
  HorizontalPodAutoscalers are read as ``autoscaling/v2beta2`` so their conditions are visible.

Healthy controls (`check_healthy`): every pod Running and Ready, or Succeeded; no container waiting;
every restartCount 0; Deployments and StatefulSets have all replicas ready; no Job failed; and no Warning
event involving anything in the namespace. Pods younger than 20 s that are still starting normally
(Pending with no waiting reason, ContainerCreating, PodInitializing, or Running but not Ready yet) are not
counted, nor are the endpoint controllers' optimistic-lock retries (``FailedToUpdateEndpoint*`` "the
object has been modified"), which say nothing about the workload. There is no HPA control: without a
metrics API the real HPA controller emits FailedGetResourceMetric warnings and sets ScalingActive=False,
and an SRE looking at such an HPA would rightly call it broken.

Seeding (`seed`) creates the namespace (label ``kubecopilot.io/scenario=<name>``), upserts the dedicated
nodes (labelled ``kubecopilot.io/scenario-namespace=<namespace>``), waits for the ``default``
ServiceAccount's token, then applies the manifests policy first: cluster-scoped objects, ResourceQuota,
LimitRange, ServiceAccount, Role, RoleBinding, ConfigMap, Secret, PersistentVolumeClaim, Service,
Endpoints, NetworkPolicy - then waits for the new ServiceAccounts' tokens and the quotas' first status
(so pods are not rejected for reasons the scenario does not intend) - then workloads, Ingress, HPA, PDB.
A node declared in a condition other than Ready is first registered Ready, so the scenario's pods can land
on it, and switched to its declared condition once one of them runs there (or after 45 s): "the node
went NotReady under its pods" is the incident, not "pods never scheduled".
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import re
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from kubecopilot.errors import SandboxError, ScenarioError
from kubecopilot.sandbox._nodecontrol import CONDITIONS, NodeSpec, remove_nodes, upsert_nodes
from kubecopilot.sandbox._rest import KINDS, ApiError, RestClient, resource_path

__all__ = [
    "RULES",
    "SCENARIO_DIR",
    "Expectation",
    "Scenario",
    "SymptomResult",
    "check_healthy",
    "check_symptoms",
    "describe_symptom",
    "get_scenario",
    "load_scenario",
    "load_scenarios",
    "scenario_names",
    "seed",
    "settled",
    "summarize",
    "unseed",
    "wait_settled",
]

SCENARIO_DIR = Path(__file__).parent / "scenarios"
SCENARIO_LABEL = "kubecopilot.io/scenario"
NODE_LABEL = "kubecopilot.io/scenario-namespace"
PLACEHOLDER = "{namespace}"

#: Rule ids a scenario may expect, with what each one means.
RULES: dict[str, str] = {
    "pod.crashloop": "a container exits again and again and is restarted with back-off (CrashLoopBackOff)",
    "pod.oomkilled": "a container is killed for using more memory than its limit (OOMKilled, exit 137)",
    "pod.image-pull": "the image cannot be pulled: wrong tag, wrong repository, unreachable registry",
    "pod.create-config-error": "env names a missing ConfigMap, Secret or key (CreateContainerConfigError)",
    "pod.failed-mount": "a volume's ConfigMap / Secret does not exist; the pod stays ContainerCreating",
    "pod.run-container-error": "the exec-form command does not exist in the image (RunContainerError)",
    "pod.command-not-found": "the shell cannot find a command the container runs (exit 127)",
    "pod.liveness-failing": "the liveness probe fails, so the kubelet keeps restarting the container",
    "pod.readiness-failing": "the readiness probe never passes, so the pod never receives traffic",
    "pod.unschedulable": "no node fits the pod: selector, affinity, taints or resources",
    "service.no-endpoints": "the Service selects no pods, so it has no endpoints",
    "service.target-port": "the Service's targetPort is not a port the selected pods serve",
    "pvc.pending": "the PersistentVolumeClaim cannot be bound or provisioned",
    "quota.exceeded": "a ResourceQuota rejects the pods a controller tries to create",
    "limitrange.rejected": "a LimitRange rejects the pods a controller tries to create",
    "rbac.forbidden": "a workload's ServiceAccount lacks the RBAC permission it needs",
    "deployment.progress-deadline": "no rollout progress within the deadline (ProgressDeadlineExceeded)",
    "hpa.missing-requests": "the HPA scales on CPU utilisation but the target's pods request no CPU",
    "ingress.missing-service": "an Ingress routes to a Service that does not exist",
    "ingress.wrong-port": "an Ingress routes to a port the Service does not expose",
    "node.not-ready": "a node is NotReady; its pods were evicted and cannot be rescheduled",
    "job.backoff-limit": "a Job's pods keep failing until the Job hits its backoffLimit",
    "cronjob.failing": "the Jobs a CronJob creates fail",
}

_TOP_KEYS = ("name", "title", "description", "category", "healthy", "nodes", "manifests", "expect")
_REQUIRED_TOP_KEYS = ("name", "title", "description", "category", "healthy", "manifests")
_EXPECT_KEYS = ("object", "rule", "keywords", "symptoms", "settle_seconds")
_NAME_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_OBJECT_RE = re.compile(r"^([A-Za-z]+)/(\S+)$")
_PLACEHOLDER_RE = re.compile(r"(?<!\$)\{([a-z_]+)\}")
_MAX_NAME = 40
_DEFAULT_SETTLE = 90

# Kinds a scenario manifest may not create: the namespace and nodes belong to `seed`, the rest is
# cluster plumbing whose state would leak into other scenarios.
_FORBIDDEN_KINDS = {
    "Namespace": "seed() creates the scenario namespace itself",
    "Node": "declare dedicated nodes under `nodes:`",
    "Event": "events are what the incident produces, not what seeds it",
    "Lease": "leases belong to the node simulator",
    "CustomResourceDefinition": "CRDs are cluster-wide and would outlive the scenario",
}
# What a 1.20 API server serves, where it differs from `_rest.KINDS`'s default version.
_API_VERSIONS: dict[str, tuple[str, ...]] = {
    "HorizontalPodAutoscaler": ("autoscaling/v1", "autoscaling/v2beta1", "autoscaling/v2beta2"),
    "Ingress": ("networking.k8s.io/v1", "networking.k8s.io/v1beta1", "extensions/v1beta1"),
    "IngressClass": ("networking.k8s.io/v1", "networking.k8s.io/v1beta1"),
    "CronJob": ("batch/v1beta1",),
    "PodDisruptionBudget": ("policy/v1beta1",),
}
# Versions to read objects in when checking symptoms (autoscaling/v1 hides HPA conditions in an annotation).
_READ_VERSIONS = {"HorizontalPodAutoscaler": "autoscaling/v2beta2"}

_WORKLOAD_RANK = 20
_APPLY_ORDER = {
    "StorageClass": 0,
    "PersistentVolume": 0,
    "IngressClass": 0,
    "ClusterRole": 0,
    "ClusterRoleBinding": 1,
    "ResourceQuota": 2,
    "LimitRange": 2,
    "ServiceAccount": 3,
    "Role": 4,
    "RoleBinding": 5,
    "ConfigMap": 6,
    "Secret": 6,
    "PersistentVolumeClaim": 7,
    "Service": 8,
    "Endpoints": 9,
    "NetworkPolicy": 10,
    "Pod": _WORKLOAD_RANK,
    "ReplicaSet": _WORKLOAD_RANK,
    "Deployment": _WORKLOAD_RANK,
    "StatefulSet": _WORKLOAD_RANK,
    "DaemonSet": _WORKLOAD_RANK,
    "Job": _WORKLOAD_RANK,
    "CronJob": _WORKLOAD_RANK,
    "Ingress": 30,
    "HorizontalPodAutoscaler": 31,
    "PodDisruptionBudget": 32,
}

# Symptom keys -> value type. "reasons": a string or a list of strings; "count": int >= 0.
_POD_KEYS = {
    "waiting_reason": "reasons",
    "terminated_reason": "reasons",
    "exit_code": "int",
    "min_restarts": "count",
    "phase": "str",
    "not_ready": "bool",
    "count": "count",
    "log_contains": "str",
}
_CONTAINER_KEYS = ("waiting_reason", "terminated_reason", "exit_code", "min_restarts")
_EVENT_KEYS = {"reason": "str", "message_contains": "str", "involved_kind": "kind", "involved_name": "str"}
_NAMED_KEYS = {
    "condition": "condition",
    "phase": "str",
    "exists": "bool",
    "ready_addresses": "count",
    "min_ready_addresses": "count",
    "port": "int",
}
_ENDPOINTS_ONLY = ("ready_addresses", "min_ready_addresses", "port")
_CONDITION_KEYS = ("type", "status", "reason", "message_contains")

_STARTING_GRACE = 20.0
_STARTING_REASONS = {None, "ContainerCreating", "PodInitializing"}
_BENIGN_WARNINGS = ("FailedToUpdateEndpoint", "FailedToUpdateEndpointSlices")
_LOG_TAIL = 30


# --------------------------------------------------------------------------------------------------
# model


@dataclass(frozen=True)
class Expectation:
    """What a correct diagnosis of a broken scenario says, and how to see that the incident happened."""

    object: str
    rule: str
    keywords: list[str]
    symptoms: list[dict[str, Any]]
    settle_seconds: int = _DEFAULT_SETTLE

    @property
    def kind(self) -> str:
        return self.object.split("/", 1)[0]

    @property
    def name(self) -> str:
        return self.object.split("/", 1)[1]


@dataclass(frozen=True)
class Scenario:
    """One scenario file, validated. `render` fills in a namespace."""

    name: str
    title: str
    description: str
    category: str
    healthy: bool
    nodes: list[NodeSpec] = field(default_factory=list)
    manifests: list[dict[str, Any]] = field(default_factory=list)
    expect: Expectation | None = None
    path: Path | None = None

    def __repr__(self) -> str:
        if self.expect is None:
            return f"Scenario({self.name!r}, healthy control)"
        return f"Scenario({self.name!r}, {self.expect.object} -> {self.expect.rule})"

    @property
    def default_namespace(self) -> str:
        return self.name

    def render(self, namespace: str | None = None) -> Scenario:
        """A copy with ``{namespace}`` expanded everywhere and namespaced manifests placed in it."""
        ns = namespace or self.default_namespace
        nodes = [NodeSpec.from_dict(_expand(dataclasses.asdict(n), ns)) for n in self.nodes]
        manifests = []
        for manifest in self.manifests:
            obj = _expand(manifest, ns)
            if KINDS[obj["kind"]][2]:
                obj["metadata"]["namespace"] = ns
            manifests.append(obj)
        expect = None
        if self.expect is not None:
            expect = dataclasses.replace(
                self.expect,
                object=_expand(self.expect.object, ns),
                keywords=_expand(self.expect.keywords, ns),
                symptoms=_expand(self.expect.symptoms, ns),
            )
        return dataclasses.replace(self, nodes=nodes, manifests=manifests, expect=expect)


@dataclass(frozen=True)
class SymptomResult:
    """Whether one expected symptom holds right now, and what was observed."""

    symptom: dict[str, Any]
    ok: bool
    detail: str

    def __str__(self) -> str:
        return f"{'✓' if self.ok else '✗'} {describe_symptom(self.symptom)}: {self.detail}"


def _expand(value: Any, namespace: str) -> Any:
    if isinstance(value, str):
        return value.replace(PLACEHOLDER, namespace)
    if isinstance(value, dict):
        return {_expand(k, namespace): _expand(v, namespace) for k, v in value.items()}
    if isinstance(value, list):
        return [_expand(v, namespace) for v in value]
    return value


# --------------------------------------------------------------------------------------------------
# loading and validation


def scenario_names(directory: str | Path | None = None) -> list[str]:
    """Names of the scenario files in ``directory`` (default: the shipped ones), sorted."""
    return sorted(p.stem for p in Path(directory or SCENARIO_DIR).glob("*.yaml"))


def load_scenarios(directory: str | Path | None = None) -> list[Scenario]:
    """Load and validate every ``*.yaml`` scenario in ``directory`` (default: the shipped ones), by name."""
    root = Path(directory or SCENARIO_DIR)
    return [load_scenario(root / f"{name}.yaml") for name in scenario_names(root)]


def get_scenario(name: str, directory: str | Path | None = None) -> Scenario:
    """The scenario called ``name``; an unknown name raises `ScenarioError` suggesting close ones."""
    root = Path(directory or SCENARIO_DIR)
    names = scenario_names(root)
    if name not in names:
        close = difflib.get_close_matches(name, names, n=3, cutoff=0.5)
        hint = f"did you mean {', '.join(close)}?" if close else f"known: {', '.join(names)}"
        raise ScenarioError(str(root), "name", f"no scenario named {name!r}; {hint}")
    return load_scenario(root / f"{name}.yaml")


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate one scenario file; any problem raises `ScenarioError` naming file and field."""
    path = Path(path)
    where = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise ScenarioError(where, "(file)", f"cannot read it: {e}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = f"line {mark.line + 1}" if mark is not None else "(yaml)"
        column = f" (column {mark.column + 1})" if mark is not None else ""
        problem = getattr(e, "problem", None) or str(e)
        raise ScenarioError(where, line, f"not valid YAML: {problem}{column}") from None
    if not isinstance(data, dict):
        raise ScenarioError(where, "(top level)", f"must be a mapping of {', '.join(_TOP_KEYS)}")

    unknown = [k for k in data if k not in _TOP_KEYS]
    if unknown:
        raise ScenarioError(where, str(unknown[0]), f"unknown key; known keys: {', '.join(_TOP_KEYS)}")
    for key in _REQUIRED_TOP_KEYS:
        if key not in data:
            raise ScenarioError(where, key, "missing (required)")

    name = _string(where, "name", data["name"])
    if len(name) > _MAX_NAME or not _NAME_RE.match(name):
        raise ScenarioError(
            where,
            "name",
            f"{name!r} must be a DNS-1123 label (a-z, 0-9, '-') of at most {_MAX_NAME} characters",
        )
    if name != path.stem:
        raise ScenarioError(where, "name", f"{name!r} must equal the file name {path.stem!r}")
    title = _string(where, "title", data["title"])
    description = _string(where, "description", data["description"])
    category = _string(where, "category", data["category"])
    healthy = data["healthy"]
    if not isinstance(healthy, bool):
        raise ScenarioError(where, "healthy", f"must be true or false, not {healthy!r}")

    raw_nodes = data.get("nodes") or []
    if not isinstance(raw_nodes, list):
        raise ScenarioError(where, "nodes", "must be a list of node specs")
    nodes = [_parse_node(where, f"nodes[{i}]", n) for i, n in enumerate(raw_nodes)]
    node_names = [n.name for n in nodes]
    for i, n in enumerate(node_names):
        if n in node_names[:i]:
            raise ScenarioError(where, f"nodes[{i}].name", f"duplicate node {n!r}")

    raw_manifests = data["manifests"]
    if not isinstance(raw_manifests, list) or not raw_manifests:
        raise ScenarioError(where, "manifests", "must be a non-empty list of Kubernetes objects")
    defined: set[tuple[str, str]] = set()
    manifests = [_parse_manifest(where, i, m, defined) for i, m in enumerate(raw_manifests)]

    if healthy:
        if data.get("expect") is not None:
            raise ScenarioError(where, "expect", "a healthy control (healthy: true) must not have `expect`")
        expect = None
    else:
        if data.get("expect") is None:
            raise ScenarioError(where, "expect", "missing: a broken scenario (healthy: false) needs `expect`")
        expect = _parse_expect(where, data["expect"], defined, node_names)

    for field_path, text_value in _strings_in(
        {"nodes": raw_nodes, "manifests": raw_manifests, "expect": data.get("expect")}
    ):
        for placeholder in _PLACEHOLDER_RE.findall(text_value):
            if placeholder != "namespace":
                raise ScenarioError(
                    where,
                    field_path,
                    f"unknown placeholder {{{placeholder}}}; only {PLACEHOLDER} is expanded",
                )

    return Scenario(
        name=name,
        title=title.strip(),
        description=description,
        category=category,
        healthy=healthy,
        nodes=nodes,
        manifests=manifests,
        expect=expect,
        path=path,
    )


def _strings_in(value: Any, prefix: str = "") -> Iterable[tuple[str, str]]:
    if isinstance(value, str):
        yield prefix, value
    elif isinstance(value, dict):
        for k, v in value.items():
            key = f"{prefix}.{k}" if prefix else str(k)
            if isinstance(k, str):
                yield key, k
            yield from _strings_in(v, key)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _strings_in(v, f"{prefix}[{i}]")


def _string(where: str, field_path: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ScenarioError(where, field_path, f"must be a non-empty string, not {value!r}")
    return value


def _parse_node(where: str, field_path: str, data: Any) -> NodeSpec:
    if not isinstance(data, dict):
        raise ScenarioError(where, field_path, "must be a mapping of NodeSpec fields")
    known = list(NodeSpec.__dataclass_fields__)
    for key in data:
        if key not in known:
            raise ScenarioError(
                where, f"{field_path}.{key}", f"unknown node field; known: {', '.join(known)}"
            )
    if "name" not in data:
        raise ScenarioError(where, f"{field_path}.name", "missing (required)")
    values = dict(data)
    _string(where, f"{field_path}.name", values["name"])
    for key in ("cpu", "memory"):
        if key in values:
            if isinstance(values[key], bool) or not isinstance(values[key], str | int | float):
                raise ScenarioError(where, f"{field_path}.{key}", "must be a quantity such as '4' or '8Gi'")
            values[key] = str(values[key])
    if "pods" in values and (isinstance(values["pods"], bool) or not isinstance(values["pods"], int)):
        raise ScenarioError(where, f"{field_path}.pods", "must be an integer")
    labels = values.get("labels") or {}
    if not isinstance(labels, dict):
        raise ScenarioError(where, f"{field_path}.labels", "must be a mapping of label -> string value")
    for key, value in labels.items():
        if not isinstance(value, str):
            raise ScenarioError(
                where,
                f"{field_path}.labels.{key}",
                f"label values must be strings; quote {value!r} in the YAML",
            )
    values["labels"] = dict(labels)
    taints = values.get("taints") or []
    if not isinstance(taints, list):
        raise ScenarioError(where, f"{field_path}.taints", "must be a list of {key, value, effect}")
    for j, taint in enumerate(taints):
        taint_path = f"{field_path}.taints[{j}]"
        if not isinstance(taint, dict):
            raise ScenarioError(where, taint_path, "must be a mapping {key, value, effect}")
        for key in taint:
            if key not in ("key", "value", "effect"):
                raise ScenarioError(
                    where, f"{taint_path}.{key}", "unknown taint field; known: key, value, effect"
                )
        if not isinstance(taint.get("key"), str) or not taint["key"]:
            raise ScenarioError(where, f"{taint_path}.key", "missing (required)")
        if taint.get("effect") not in ("NoSchedule", "PreferNoSchedule", "NoExecute"):
            raise ScenarioError(
                where, f"{taint_path}.effect", "must be NoSchedule, PreferNoSchedule or NoExecute"
            )
        if "value" in taint and not isinstance(taint["value"], str):
            raise ScenarioError(where, f"{taint_path}.value", f"must be a string; quote {taint['value']!r}")
    values["taints"] = [dict(t) for t in taints]
    if values.get("condition", "Ready") not in CONDITIONS:
        raise ScenarioError(
            where, f"{field_path}.condition", f"{values['condition']!r} is not one of {', '.join(CONDITIONS)}"
        )
    try:
        return NodeSpec(**values)
    except (TypeError, ValueError) as e:
        raise ScenarioError(where, field_path, str(e)) from None


def _parse_manifest(where: str, index: int, obj: Any, defined: set[tuple[str, str]]) -> dict[str, Any]:
    field_path = f"manifests[{index}]"
    if not isinstance(obj, dict):
        raise ScenarioError(where, field_path, "must be a Kubernetes object (a mapping)")
    for key in ("apiVersion", "kind"):
        if not isinstance(obj.get(key), str) or not obj[key]:
            raise ScenarioError(where, f"{field_path}.{key}", "missing (required)")
    kind = obj["kind"]
    if kind in _FORBIDDEN_KINDS:
        raise ScenarioError(
            where, f"{field_path}.kind", f"{kind} is not allowed here: {_FORBIDDEN_KINDS[kind]}"
        )
    if kind not in KINDS:
        close = difflib.get_close_matches(kind, list(KINDS), n=1)
        hint = f"did you mean {close[0]}?" if close else f"known: {', '.join(sorted(KINDS))}"
        raise ScenarioError(where, f"{field_path}.kind", f"unknown kind {kind!r}; {hint}")
    versions = _API_VERSIONS.get(kind, (KINDS[kind][0],))
    if obj["apiVersion"] not in versions:
        raise ScenarioError(
            where,
            f"{field_path}.apiVersion",
            f"{kind} is served as {' or '.join(versions)} by Kubernetes 1.20, not {obj['apiVersion']}",
        )
    metadata = obj.get("metadata")
    if not isinstance(metadata, dict):
        raise ScenarioError(
            where, f"{field_path}.metadata.name", "missing (metadata with a name is required)"
        )
    name = metadata.get("name")
    if not isinstance(name, str) or not name:
        raise ScenarioError(where, f"{field_path}.metadata.name", "missing (required)")
    namespaced = KINDS[kind][2]
    if "namespace" in metadata and metadata["namespace"] != PLACEHOLDER:
        raise ScenarioError(
            where,
            f"{field_path}.metadata.namespace",
            f"leave it out (or write {PLACEHOLDER}): seed() puts every object in the scenario namespace",
        )
    if not namespaced and PLACEHOLDER not in name:
        raise ScenarioError(
            where,
            f"{field_path}.metadata.name",
            f"{kind} is cluster-scoped: its name must contain {PLACEHOLDER} so seeded copies do not collide",
        )
    if (kind, name) in defined:
        raise ScenarioError(where, f"{field_path}.metadata.name", f"{kind}/{name} is defined twice")
    defined.add((kind, name))
    return obj


def _parse_expect(where: str, data: Any, defined: set[tuple[str, str]], node_names: list[str]) -> Expectation:
    if not isinstance(data, dict):
        raise ScenarioError(where, "expect", f"must be a mapping of {', '.join(_EXPECT_KEYS)}")
    for key in data:
        if key not in _EXPECT_KEYS:
            raise ScenarioError(where, f"expect.{key}", f"unknown key; known: {', '.join(_EXPECT_KEYS)}")
    for key in ("object", "rule", "keywords", "symptoms"):
        if key not in data:
            raise ScenarioError(where, f"expect.{key}", "missing (required)")

    obj = data["object"]
    match = _OBJECT_RE.match(obj) if isinstance(obj, str) else None
    if not match:
        raise ScenarioError(
            where, "expect.object", f"{obj!r} must have the form Kind/name, e.g. Deployment/api"
        )
    kind, name = match.groups()
    if kind not in KINDS:
        raise ScenarioError(where, "expect.object", f"unknown kind {kind!r}")
    if kind == "Node":
        if PLACEHOLDER in name and name not in node_names:
            raise ScenarioError(
                where, "expect.object", f"names node {name!r}, which `nodes` does not declare"
            )
    elif (kind, name) not in defined:
        raise ScenarioError(where, "expect.object", f"names {kind}/{name}, which the manifests do not define")

    rule = data["rule"]
    if rule not in RULES:
        close = difflib.get_close_matches(str(rule), list(RULES), n=2)
        hint = f"did you mean {', '.join(close)}?" if close else f"known: {', '.join(RULES)}"
        raise ScenarioError(where, "expect.rule", f"unknown rule id {rule!r}; {hint}")

    keywords = data["keywords"]
    if not isinstance(keywords, list) or not keywords:
        raise ScenarioError(where, "expect.keywords", "must be a non-empty list of words")
    for i, word in enumerate(keywords):
        if isinstance(word, bool) or not isinstance(word, str | int) or not str(word).strip():
            raise ScenarioError(where, f"expect.keywords[{i}]", f"must be a non-empty string, not {word!r}")

    symptoms = data["symptoms"]
    if not isinstance(symptoms, list) or not symptoms:
        raise ScenarioError(where, "expect.symptoms", "must be a non-empty list")
    parsed = [_parse_symptom(where, f"expect.symptoms[{i}]", s) for i, s in enumerate(symptoms)]

    settle = data.get("settle_seconds", _DEFAULT_SETTLE)
    if isinstance(settle, bool) or not isinstance(settle, int) or not 1 <= settle <= 600:
        raise ScenarioError(
            where, "expect.settle_seconds", f"must be an integer of seconds, 1..600, not {settle!r}"
        )
    return Expectation(
        object=obj, rule=rule, keywords=[str(k) for k in keywords], symptoms=parsed, settle_seconds=settle
    )


def _parse_symptom(where: str, field_path: str, data: Any) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise ScenarioError(where, field_path, "must be a mapping with a `kind`")
    kind = data.get("kind")
    if not isinstance(kind, str) or not kind:
        raise ScenarioError(where, f"{field_path}.kind", "missing (required)")
    if kind not in KINDS:
        raise ScenarioError(where, f"{field_path}.kind", f"unknown kind {kind!r}")
    if kind == "Event":
        allowed, required = _EVENT_KEYS, ("reason",)
    elif "selector" in data:
        if kind != "Pod":
            raise ScenarioError(
                where, f"{field_path}.selector", "a label selector symptom must have kind: Pod"
            )
        allowed, required = {"selector": "str", **_POD_KEYS}, ("selector",)
    elif "name" in data:
        allowed, required = {"name": "str", **_NAMED_KEYS}, ("name",)
    else:
        raise ScenarioError(
            where,
            field_path,
            "needs `selector` (kind: Pod), `name` (any kind) or kind: Event with a `reason`",
        )
    out: dict[str, Any] = {"kind": kind}
    for key, value in data.items():
        if key == "kind":
            continue
        if key not in allowed:
            known = ", ".join(["kind", *allowed])
            raise ScenarioError(
                where, f"{field_path}.{key}", f"unknown symptom key for this kind; known: {known}"
            )
        if key in _ENDPOINTS_ONLY and kind != "Endpoints":
            raise ScenarioError(where, f"{field_path}.{key}", "only applies to kind: Endpoints")
        out[key] = _symptom_value(where, f"{field_path}.{key}", allowed[key], value)
    for key in required:
        if key not in out:
            raise ScenarioError(where, f"{field_path}.{key}", "missing (required)")
    checks = [k for k in out if k not in ("kind", "selector", "name")]
    if kind != "Event" and not checks:
        raise ScenarioError(where, field_path, f"says nothing to check; give one of {', '.join(allowed)}")
    return out


def _symptom_value(where: str, field_path: str, kind: str, value: Any) -> Any:
    def bad(expected: str) -> ScenarioError:
        return ScenarioError(where, field_path, f"must be {expected}, not {value!r}")

    if kind == "str":
        if not isinstance(value, str) or not value:
            raise bad("a non-empty string")
        return value
    if kind == "kind":
        if value not in KINDS:
            raise bad("a known kind")
        return value
    if kind == "reasons":
        values = value if isinstance(value, list) else [value]
        if not values or not all(isinstance(v, str) and v for v in values):
            raise bad("a reason or a list of reasons")
        return list(values)
    if kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise bad("an integer")
        return value
    if kind == "count":
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise bad("an integer >= 0")
        return value
    if kind == "bool":
        if not isinstance(value, bool):
            raise bad("true or false")
        return value
    if kind == "condition":
        if not isinstance(value, dict):
            raise bad("a mapping {type, status, reason?, message_contains?}")
        for key in value:
            if key not in _CONDITION_KEYS:
                raise ScenarioError(
                    where,
                    f"{field_path}.{key}",
                    f"unknown condition key; known: {', '.join(_CONDITION_KEYS)}",
                )
        for key in ("type", "status"):
            if key not in value:
                raise ScenarioError(where, f"{field_path}.{key}", "missing (required)")
        cond: dict[str, Any] = {"type": _symptom_value(where, f"{field_path}.type", "str", value["type"])}
        statuses = value["status"] if isinstance(value["status"], list) else [value["status"]]
        normalized = []
        for status in statuses:
            if isinstance(status, bool):
                status = "True" if status else "False"
            if status not in ("True", "False", "Unknown"):
                raise ScenarioError(
                    where, f"{field_path}.status", f"must be True, False or Unknown, not {status!r}"
                )
            normalized.append(status)
        cond["status"] = normalized
        if "reason" in value:
            cond["reason"] = _symptom_value(where, f"{field_path}.reason", "reasons", value["reason"])
        if "message_contains" in value:
            cond["message_contains"] = _symptom_value(
                where, f"{field_path}.message_contains", "str", value["message_contains"]
            )
        return cond
    raise AssertionError(kind)  # pragma: no cover


def describe_symptom(symptom: dict[str, Any]) -> str:
    """A short human form, e.g. ``Pod app=api: waiting CrashLoopBackOff, exit 1``."""
    kind = symptom["kind"]
    if kind == "Event":
        text = f"Event {symptom['reason']}"
        if "involved_kind" in symptom or "involved_name" in symptom:
            text += f" on {symptom.get('involved_kind', '*')}/{symptom.get('involved_name', '')}*"
        if "message_contains" in symptom:
            text += f" ~ {symptom['message_contains']!r}"
        return text
    parts = []
    for key, value in symptom.items():
        if key in ("kind", "selector", "name"):
            continue
        if key == "condition":
            reason = f" ({'|'.join(value['reason'])})" if "reason" in value else ""
            parts.append(f"{value['type']}={'|'.join(value['status'])}{reason}")
        elif isinstance(value, list):
            parts.append(f"{key.replace('_', ' ')} {'|'.join(value)}")
        else:
            parts.append(f"{key.replace('_', ' ')} {value}")
    target = f"{kind} {symptom['selector']}" if "selector" in symptom else f"{kind}/{symptom['name']}"
    return f"{target}: {', '.join(parts)}"


# --------------------------------------------------------------------------------------------------
# seeding


def seed(client: RestClient, scenario: Scenario, namespace: str | None = None) -> str:
    """Create the scenario in ``namespace`` (default: the scenario's name) and return the namespace.

    Idempotent enough to re-run: existing objects are merge-patched. A namespace still terminating from
    an earlier run is waited for (up to 120 s).
    """
    ns = namespace or scenario.default_namespace
    if len(ns) > 63 or not _NAME_RE.match(ns):
        raise ValueError(f"namespace {ns!r} is not a DNS-1123 label of at most 63 characters")
    rendered = scenario.render(ns)
    where = str(scenario.path or scenario.name)

    _ensure_namespace(client, ns, scenario.name)

    late: dict[str, NodeSpec] = {}
    if rendered.nodes:
        specs = []
        for node in rendered.nodes:
            final = dataclasses.replace(node, labels={**node.labels, NODE_LABEL: ns})
            if final.condition != "Ready":
                late[final.name] = final
                specs.append(dataclasses.replace(final, condition="Ready"))
            else:
                specs.append(final)
        upsert_nodes(client, specs)

    _wait_for_token(client, ns, "default", timeout=30)

    ordered = sorted(
        enumerate(rendered.manifests), key=lambda im: _APPLY_ORDER.get(im[1]["kind"], _WORKLOAD_RANK)
    )
    policy = [(i, m) for i, m in ordered if _APPLY_ORDER.get(m["kind"], _WORKLOAD_RANK) < _WORKLOAD_RANK]
    rest = [(i, m) for i, m in ordered if _APPLY_ORDER.get(m["kind"], _WORKLOAD_RANK) >= _WORKLOAD_RANK]
    for index, manifest in policy:
        _apply(client, where, index, manifest)
    for _, manifest in policy:
        if manifest["kind"] == "ServiceAccount":
            _wait_for_token(client, ns, manifest["metadata"]["name"], timeout=30)
        elif manifest["kind"] == "ResourceQuota":
            _wait_for_quota_status(client, ns, manifest["metadata"]["name"], timeout=20)
    for index, manifest in rest:
        _apply(client, where, index, manifest)

    if late:
        _wait_for_pods_on_nodes(client, ns, list(late), timeout=45)
        upsert_nodes(client, list(late.values()))
    return ns


def unseed(client: RestClient, scenario: Scenario, namespace: str | None = None, *, wait: float = 0) -> None:
    """Delete the scenario's namespace and stop simulating its dedicated nodes (``wait``: seconds to wait)."""
    ns = namespace or scenario.default_namespace
    client.delete(resource_path("Namespace", name=ns))
    names = [n.name for n in scenario.render(ns).nodes]
    if names:
        remove_nodes(client, names)
    deadline = time.monotonic() + wait
    while wait and time.monotonic() < deadline:
        if client.get_or_none(resource_path("Namespace", name=ns)) is None:
            return
        time.sleep(1)


def _ensure_namespace(client: RestClient, ns: str, scenario_name: str) -> None:
    path = resource_path("Namespace", name=ns)
    labels = {SCENARIO_LABEL: scenario_name}
    deadline = time.monotonic() + 120
    while True:
        current = client.get_or_none(path)
        if current is None:
            body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns, "labels": labels}}
            try:
                client.create(body)
                return
            except ApiError as e:
                if e.status != 409:
                    raise
                continue
        if not current["metadata"].get("deletionTimestamp"):
            client.patch(path, {"metadata": {"labels": labels}})
            return
        if time.monotonic() > deadline:
            raise SandboxError(
                f"namespace {ns} is still terminating after 120 s; its pods may be stuck. "
                f"Check `kubectl get all -n {ns}` or seed into another namespace."
            )
        time.sleep(1)


def _apply(client: RestClient, where: str, index: int, manifest: dict[str, Any]) -> None:
    kind, name = manifest["kind"], manifest["metadata"]["name"]
    ns = manifest["metadata"].get("namespace")
    try:
        try:
            client.create(manifest, ns)
        except ApiError as e:
            if e.status != 409:
                raise
            # Already there (a re-seed): merge the manifest in. A PUT would trip over immutable fields
            # the server filled in, such as a Service's clusterIP.
            client.patch(resource_path(kind, ns, name, api_version=manifest.get("apiVersion")), manifest)
    except ApiError as e:
        if e.status in (400, 403, 404, 422):
            message = e.body.get("message") or e.reason or e.status
            raise ScenarioError(
                where, f"manifests[{index}]", f"the API server rejected {kind}/{name}: {message}"
            ) from None
        raise


def _wait_for_token(client: RestClient, ns: str, service_account: str, timeout: float) -> bool:
    """Wait until the token controller has given the ServiceAccount its token secret."""
    path = resource_path("ServiceAccount", ns, service_account)
    deadline = time.monotonic() + timeout
    while True:
        sa = client.get_or_none(path)
        if sa and sa.get("secrets"):
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.5)


def _wait_for_quota_status(client: RestClient, ns: str, name: str, timeout: float) -> bool:
    """Wait for the quota's first usage status (until then admission rejects pods: 'status unknown')."""
    path = resource_path("ResourceQuota", ns, name)
    deadline = time.monotonic() + timeout
    while True:
        quota = client.get_or_none(path)
        status = (quota or {}).get("status") or {}
        if status.get("hard") and "used" in status:
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.5)


def _wait_for_pods_on_nodes(client: RestClient, ns: str, nodes: list[str], timeout: float) -> None:
    """Wait until each node runs at least one pod of the namespace (or the timeout passes)."""
    deadline = time.monotonic() + timeout
    waiting = set(nodes)
    while waiting and time.monotonic() < deadline:
        for pod in client.list(resource_path("Pod", ns)):
            node = (pod.get("spec") or {}).get("nodeName")
            if node in waiting and (pod.get("status") or {}).get("phase") == "Running":
                waiting.discard(node)
        if waiting:
            time.sleep(1)


# --------------------------------------------------------------------------------------------------
# symptoms


def check_symptoms(
    client: RestClient, scenario: Scenario, namespace: str | None = None
) -> list[SymptomResult]:
    """Check every expected symptom of a broken scenario now (a healthy control has none: ``[]``)."""
    ns = namespace or scenario.default_namespace
    expect = scenario.render(ns).expect
    if expect is None:
        return []
    events: dict[str, list[dict[str, Any]]] = {}
    results = []
    for symptom in expect.symptoms:
        try:
            results.append(_check_symptom(client, symptom, ns, events))
        except ApiError as e:
            results.append(SymptomResult(symptom, False, f"API error: {e}"))
    return results


def _check_symptom(
    client: RestClient, symptom: dict[str, Any], ns: str, events: dict[str, list[dict[str, Any]]]
) -> SymptomResult:
    if symptom["kind"] == "Event":
        return _check_event(client, symptom, ns, events)
    if "selector" in symptom:
        return _check_pods(client, symptom, ns)
    return _check_named(client, symptom, ns)


def _check_pods(client: RestClient, symptom: dict[str, Any], ns: str) -> SymptomResult:
    pods = client.list(resource_path("Pod", ns), labelSelector=symptom["selector"])
    matching = [p for p in pods if _pod_matches(p, symptom)]
    if "log_contains" in symptom:
        matching = [p for p in matching[:5] if _pod_log_contains(client, ns, p, symptom["log_contains"])]
    seen = "; ".join(_pod_summary(p) for p in pods[:3]) or "no pods match the selector"
    if len(pods) > 3:
        seen += f"; (+{len(pods) - 3} more)"
    if "count" in symptom:
        ok = len(matching) == symptom["count"]
        return SymptomResult(symptom, ok, f"{len(matching)} pod(s) qualify (want {symptom['count']}); {seen}")
    if matching:
        return SymptomResult(symptom, True, _pod_summary(matching[0]))
    return SymptomResult(symptom, False, seen)


def _container_statuses(pod: dict[str, Any]) -> list[dict[str, Any]]:
    status = pod.get("status") or {}
    return [*(status.get("initContainerStatuses") or []), *(status.get("containerStatuses") or [])]


def _is_ready(pod: dict[str, Any]) -> bool:
    for cond in (pod.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Ready":
            return cond.get("status") == "True"
    return False


def _pod_matches(pod: dict[str, Any], symptom: dict[str, Any]) -> bool:
    status = pod.get("status") or {}
    if "phase" in symptom and status.get("phase") != symptom["phase"]:
        return False
    if "not_ready" in symptom and _is_ready(pod) == symptom["not_ready"]:
        return False
    if not any(key in symptom for key in _CONTAINER_KEYS):
        return True
    return any(_container_matches(cs, symptom) for cs in _container_statuses(pod))


def _container_matches(cs: dict[str, Any], symptom: dict[str, Any]) -> bool:
    state, last = cs.get("state") or {}, cs.get("lastState") or {}
    if (
        "waiting_reason" in symptom
        and (state.get("waiting") or {}).get("reason") not in symptom["waiting_reason"]
    ):
        return False
    if "min_restarts" in symptom and (cs.get("restartCount") or 0) < symptom["min_restarts"]:
        return False
    if "terminated_reason" in symptom or "exit_code" in symptom:
        records = [t for t in (state.get("terminated"), last.get("terminated")) if t]
        return any(
            ("terminated_reason" not in symptom or t.get("reason") in symptom["terminated_reason"])
            and ("exit_code" not in symptom or t.get("exitCode") == symptom["exit_code"])
            for t in records
        )
    return True


def _pod_summary(pod: dict[str, Any]) -> str:
    status = pod.get("status") or {}
    text = f"{pod['metadata']['name']} {status.get('phase', '?')}{' Ready' if _is_ready(pod) else ''}"
    if pod["metadata"].get("deletionTimestamp"):
        text += " (terminating)"
    parts = []
    for cs in _container_statuses(pod):
        state, last = cs.get("state") or {}, cs.get("lastState") or {}
        if "waiting" in state:
            now = f"waiting {state['waiting'].get('reason', '')}"
        elif "terminated" in state:
            now = f"terminated {state['terminated'].get('reason', '')}({state['terminated'].get('exitCode')})"
        else:
            now = "running" if "running" in state else "?"
        if "terminated" in last:
            now += f", last {last['terminated'].get('reason', '')}({last['terminated'].get('exitCode')})"
        if cs.get("restartCount"):
            now += f", restarts {cs['restartCount']}"
        parts.append(f"{cs.get('name')}: {now}")
    if not parts:
        for cond in status.get("conditions") or []:
            if cond.get("status") != "True" and cond.get("reason"):
                parts.append(f"{cond['type']}: {cond['reason']} {cond.get('message', '')}".strip()[:160])
    return text + (f" [{'; '.join(parts)}]" if parts else "")


def _pod_log_contains(client: RestClient, ns: str, pod: dict[str, Any], text: str) -> bool:
    needle = text.lower()
    path = resource_path("Pod", ns, pod["metadata"]["name"]) + "/log"
    for cs in _container_statuses(pod):
        for previous in ("true", None):
            params = {"container": cs.get("name"), "previous": previous, "tailLines": _LOG_TAIL}
            try:
                body = client.request("GET", path, params=params)
            except ApiError:
                continue
            log = body["raw"] if isinstance(body.get("raw"), str) else json.dumps(body)
            if needle in log.lower():
                return True
    return False


def _events(client: RestClient, ns: str, cache: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    if ns not in cache:
        cache[ns] = client.list(resource_path("Event", ns))
    return cache[ns]


def _check_event(
    client: RestClient, symptom: dict[str, Any], ns: str, cache: dict[str, list[dict[str, Any]]]
) -> SymptomResult:
    events = list(_events(client, ns, cache))
    if symptom.get("involved_kind") == "Node" and ns != "default":
        events += _events(client, "default", cache)
    same_reason = [e for e in events if e.get("reason") == symptom["reason"]]
    for event in same_reason:
        involved = event.get("involvedObject") or {}
        if "involved_kind" in symptom and involved.get("kind") != symptom["involved_kind"]:
            continue
        if "involved_name" in symptom and not str(involved.get("name", "")).startswith(
            symptom["involved_name"]
        ):
            continue
        message = event.get("message") or ""
        if "message_contains" in symptom and symptom["message_contains"].lower() not in message.lower():
            continue
        detail = f"{involved.get('kind')}/{involved.get('name')} x{event.get('count') or 1}: {message[:200]}"
        return SymptomResult(symptom, True, detail)
    if same_reason:
        sample = same_reason[-1]
        involved = sample.get("involvedObject") or {}
        detail = (
            f"{len(same_reason)} {symptom['reason']} event(s), none matching; e.g. "
            f"{involved.get('kind')}/{involved.get('name')}: {(sample.get('message') or '')[:200]}"
        )
    else:
        reasons = Counter(str(e.get("reason")) for e in events)
        seen = ", ".join(f"{r} x{n}" for r, n in reasons.most_common(8)) or "none"
        detail = f"no {symptom['reason']} event; reasons seen: {seen}"
    return SymptomResult(symptom, False, detail)


def _check_named(client: RestClient, symptom: dict[str, Any], ns: str) -> SymptomResult:
    kind, name = symptom["kind"], symptom["name"]
    obj = client.get_or_none(resource_path(kind, ns, name, api_version=_READ_VERSIONS.get(kind)))
    observations: list[str] = []
    ok = True

    if "exists" in symptom:
        exists = obj is not None
        ok &= exists == symptom["exists"]
        observations.append("exists" if exists else "does not exist")
    elif obj is None and kind != "Endpoints":
        return SymptomResult(symptom, False, f"{kind}/{name} does not exist")

    status = (obj or {}).get("status") or {}
    if "condition" in symptom:
        want = symptom["condition"]
        found = next((c for c in status.get("conditions") or [] if c.get("type") == want["type"]), None)
        if found is None:
            ok = False
            have = ", ".join(f"{c.get('type')}={c.get('status')}" for c in status.get("conditions") or [])
            observations.append(f"no {want['type']} condition (conditions: {have or 'none'})")
        else:
            ok &= found.get("status") in want["status"]
            if "reason" in want:
                ok &= found.get("reason") in want["reason"]
            if "message_contains" in want:
                ok &= want["message_contains"].lower() in (found.get("message") or "").lower()
            message = (found.get("message") or "")[:160]
            observations.append(
                f"{want['type']}={found.get('status')} ({found.get('reason', '')}): {message}"
            )
    if "phase" in symptom:
        ok &= status.get("phase") == symptom["phase"]
        observations.append(f"phase {status.get('phase')}")
    if any(key in symptom for key in _ENDPOINTS_ONLY):
        subsets = (obj or {}).get("subsets") or []
        ready = sum(len(s.get("addresses") or []) for s in subsets)
        not_ready = sum(len(s.get("notReadyAddresses") or []) for s in subsets)
        ports = sorted({p.get("port") for s in subsets for p in s.get("ports") or []} - {None})
        if "ready_addresses" in symptom:
            ok &= ready == symptom["ready_addresses"]
        if "min_ready_addresses" in symptom:
            ok &= ready >= symptom["min_ready_addresses"]
        if "port" in symptom:
            ok &= symptom["port"] in ports
        where = "" if obj is not None else " (no Endpoints object)"
        observations.append(f"{ready} ready, {not_ready} not ready address(es), ports {ports or '-'}{where}")
    return SymptomResult(symptom, bool(ok), "; ".join(observations))


# --------------------------------------------------------------------------------------------------
# healthy controls


def check_healthy(client: RestClient, namespace: str) -> list[str]:
    """Problems found in ``namespace``; an empty list means healthy (see the module docstring)."""
    problems: list[str] = []
    now = datetime.now(UTC)
    for pod in client.list(resource_path("Pod", namespace)):
        problems += _pod_problems(pod, now)
    for deployment in client.list(resource_path("Deployment", namespace)):
        problems += _replica_problems("Deployment", deployment)
    for statefulset in client.list(resource_path("StatefulSet", namespace)):
        problems += _replica_problems("StatefulSet", statefulset)
    for job in client.list(resource_path("Job", namespace)):
        for cond in (job.get("status") or {}).get("conditions") or []:
            if cond.get("type") == "Failed" and cond.get("status") == "True":
                problems.append(
                    f"Job {job['metadata']['name']} failed: {cond.get('reason')} {cond.get('message', '')}"
                )
    for event in client.list(resource_path("Event", namespace)):
        if event.get("type") != "Warning":
            continue
        message = event.get("message") or ""
        if event.get("reason") in _BENIGN_WARNINGS and "the object has been modified" in message:
            continue
        involved = event.get("involvedObject") or {}
        problems.append(
            f"Warning {event.get('reason')} on {involved.get('kind')}/{involved.get('name')}: {message[:200]}"
        )
    return problems


def _pod_problems(pod: dict[str, Any], now: datetime) -> list[str]:
    name = pod["metadata"]["name"]
    status = pod.get("status") or {}
    phase = status.get("phase")
    problems = []
    for cs in _container_statuses(pod):
        if cs.get("restartCount"):
            last = (cs.get("lastState") or {}).get("terminated") or {}
            why = f" (last: {last.get('reason')}, exit {last.get('exitCode')})" if last else ""
            problems.append(
                f"pod {name} container {cs.get('name')} restarted {cs['restartCount']} time(s){why}"
            )
    if phase == "Succeeded":
        return problems
    created = pod["metadata"].get("creationTimestamp")
    age = (now - datetime.fromisoformat(created)).total_seconds() if created else _STARTING_GRACE
    starting = age < _STARTING_GRACE
    waiting = [
        (cs.get("name"), (cs.get("state") or {}).get("waiting", {}).get("reason"))
        for cs in _container_statuses(pod)
        if "waiting" in (cs.get("state") or {})
    ]
    if phase == "Running":
        for container, reason in waiting:
            if not (starting and reason in _STARTING_REASONS):
                problems.append(f"pod {name} container {container} is waiting: {reason}")
        if not _is_ready(pod) and not starting and not waiting:
            problems.append(f"pod {name} is Running but not Ready")
    elif phase == "Pending":
        if not (starting and all(reason in _STARTING_REASONS for _, reason in waiting)):
            why = ", ".join(f"{c}: {r}" for c, r in waiting) or _unscheduled_reason(pod) or "not started"
            problems.append(f"pod {name} is Pending ({why})")
    else:
        problems.append(
            f"pod {name} is {phase}: {status.get('reason', '')} {status.get('message', '')}".rstrip()
        )
    return problems


def _unscheduled_reason(pod: dict[str, Any]) -> str:
    for cond in (pod.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "PodScheduled" and cond.get("status") != "True":
            return f"{cond.get('reason')}: {cond.get('message', '')}"[:200]
    return ""


def _replica_problems(kind: str, obj: dict[str, Any]) -> list[str]:
    wanted = (obj.get("spec") or {}).get("replicas", 1)
    ready = (obj.get("status") or {}).get("readyReplicas") or 0
    if ready < wanted:
        return [f"{kind} {obj['metadata']['name']} has {ready}/{wanted} replicas ready"]
    return []


# --------------------------------------------------------------------------------------------------
# summary


def summarize(client: RestClient, scenarios_and_namespaces: Iterable[tuple[Scenario, str]]) -> str:
    """A one-screen table: namespace, expected object and rule, symptom status, title."""
    rows = []
    for scenario, ns in scenarios_and_namespaces:
        if scenario.expect is None:
            try:
                problems = check_healthy(client, ns)
            except ApiError as e:
                problems = [f"API error: {e}"]
            status = "✓ healthy" if not problems else f"… {len(problems)} problem(s)"
            rows.append((ns, "(healthy control)", "-", status, scenario.title))
            continue
        results = check_symptoms(client, scenario, ns)
        held = sum(r.ok for r in results)
        mark = "✓" if held == len(results) else "…"
        expect = scenario.render(ns).expect
        assert expect is not None
        rows.append((ns, expect.object, expect.rule, f"{mark} {held}/{len(results)}", scenario.title))
    headers = ("NAMESPACE", "EXPECTED OBJECT", "RULE", "SYMPTOMS", "TITLE")
    caps = (40, 38, 28, 16, 70)
    widths = [
        min(cap, max([len(h)] + [len(r[i]) for r in rows]))
        for i, (h, cap) in enumerate(zip(headers, caps, strict=True))
    ]

    def line(cells: tuple[str, ...]) -> str:
        out = []
        for cell, width in zip(cells, widths, strict=True):
            text = cell if len(cell) <= width else cell[: width - 1] + "…"
            out.append(text.ljust(width))
        return "  ".join(out).rstrip()

    return "\n".join([line(headers), line(tuple("-" * w for w in widths)), *(line(r) for r in rows)])


def settled(client: RestClient, scenario: Scenario, namespace: str) -> bool:
    """True when a broken scenario shows all its symptoms, or a healthy control passes `check_healthy`."""
    try:
        if scenario.expect is None:
            return not check_healthy(client, namespace)
        return all(r.ok for r in check_symptoms(client, scenario, namespace))
    except ApiError:
        return False


def wait_settled(
    client: RestClient, scenarios_and_namespaces: Iterable[tuple[Scenario, str]], *, timeout: float = 150,
    interval: float = 3.0,
) -> list[str]:
    """Poll until every scenario has settled or ``timeout`` passes; return the names still unsettled."""
    pending = list(scenarios_and_namespaces)
    deadline = time.monotonic() + timeout
    while pending and time.monotonic() < deadline:
        pending = [(s, ns) for s, ns in pending if not settled(client, s, ns)]
        if pending:
            time.sleep(interval)
    return [s.name for s, _ in pending]
