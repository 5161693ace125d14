"""The plan builders: ``ws.plan.scale(...)``, ``restart``, ``set_image``, ... — each one a live read turned into an
`OperationPlan`.

Every builder follows the same path (`PlanBuilder._build`):

1. check the (action, kind) whitelist — before anything is read;
2. read the live object(s); compute the intended object (a pure edit of a copy);
3. diff snapshot -> intended into an RFC 6902 patch (checked to reproduce the intended object);
4. dry-run every step on the server (`_dryrun`): its answer is the "after" the plan shows, defaults included;
   a no-op is refused here, because a plan that changes nothing is a mistake worth telling;
5. gather risk facts, score them (`_risk`), attach post-conditions;
6. record ``plan.created`` and the plan row in the audit ledger.

A builder never sends a real write. Intents (`PlanIntent`, from findings, the LLM or the offline parser) go through
`from_intent`, which maps the action and parameters onto the same builders — so a model chooses *what*, and this
code alone decides *how*.
"""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import re
import uuid
from collections.abc import Mapping
from typing import Any

import jsonpatch

from kubecopilot.cluster._discovery import Kind
from kubecopilot.cluster._refs import ObjectRef
from kubecopilot.errors import PlanError, PlanNotAllowedError, PlanValidationError, ResourceNotFoundError
from kubecopilot.plans import _store
from kubecopilot.plans._diff import changes as diff_changes
from kubecopilot.plans._diff import checked_patch, clean, resolve, rollback_patch
from kubecopilot.plans._dryrun import eviction_version, validate_step
from kubecopilot.plans._intent import PlanIntent
from kubecopilot.plans._model import (
    Change,
    ClusterInfo,
    OperationPlan,
    PlanAudit,
    PlanDiff,
    PlanStep,
    PostCondition,
    ResourceRef,
    Validation,
)
from kubecopilot.plans._policy import Policy, current_policy, current_user
from kubecopilot.plans._postconditions import postcondition
from kubecopilot.plans._risk import RiskFacts, assess, pdb_violations

__all__ = ["PlanBuilder"]

RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"
REVISION = "deployment.kubernetes.io/revision"
_TEMPLATE_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job")
_ROLLOUT_KINDS = ("Deployment", "StatefulSet", "DaemonSet")
_DEFAULT_KIND = {"scale": "deployment", "restart": "deployment", "set_image": "deployment", "set_env": "deployment",
                 "set_resources": "deployment", "rollback": "deployment", "cordon": "node", "uncordon": "node",
                 "drain": "node", "suspend": "cronjob", "resume": "cronjob", "set_selector": "service"}


@dataclasses.dataclass
class _Step:
    """A step before the dry run: the target, its live object, and either the intended object or a body."""

    action: str
    description: str
    kind: Kind
    namespace: str | None
    name: str
    live: dict[str, Any] | None
    desired: dict[str, Any] | None = None
    patch_format: str = "json-patch"
    body: dict[str, Any] | None = None
    patch: list[dict[str, Any]] | None = None  # given ops (``patch`` builder) instead of a computed diff
    reversible: bool = True
    options: dict[str, Any] = dataclasses.field(default_factory=dict)
    changes: list[Change] | None = None


def _pod_spec(obj: dict[str, Any]) -> dict[str, Any]:
    """The pod spec inside a workload (CronJob: ``spec.jobTemplate.spec.template.spec``)."""
    kind = obj.get("kind")
    spec = obj.setdefault("spec", {})
    if kind == "CronJob":
        return spec.setdefault("jobTemplate", {}).setdefault("spec", {}).setdefault("template", {}).setdefault(
            "spec", {})
    if kind in _TEMPLATE_KINDS:
        return spec.setdefault("template", {}).setdefault("spec", {})
    raise PlanError(f"{kind} has no pod template")


def _container(obj: dict[str, Any], name: str | None) -> dict[str, Any]:
    spec = _pod_spec(obj)
    containers = list(spec.get("containers") or []) + list(spec.get("initContainers") or [])
    names = [c.get("name") for c in containers]
    if name is None:
        if len(spec.get("containers") or []) == 1:
            return spec["containers"][0]
        raise PlanError(f"{obj.get('kind')} {obj['metadata'].get('name')} has containers {', '.join(names)}: "
                        "say which with container=")
    for c in containers:
        if c.get("name") == name:
            return c
    raise PlanError(f"{obj.get('kind')} {obj['metadata'].get('name')} has no container {name!r}; its containers: "
                    f"{', '.join(names)}")


def _replicas(obj: dict[str, Any]) -> int:
    if obj.get("kind") == "DaemonSet":
        return int((obj.get("status") or {}).get("desiredNumberScheduled") or 0)
    return int((obj.get("spec") or {}).get("replicas", 1))


def _template_labels(obj: dict[str, Any]) -> dict[str, str]:
    return ((((obj.get("spec") or {}).get("template") or {}).get("metadata") or {}).get("labels")) or {}


def _selector_string(match_labels: Mapping[str, str]) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(match_labels.items()))


class PlanBuilder:
    """Plan builders bound to one workbench (``ws.plan``). Every method returns a validated, risk-scored, pending
    `OperationPlan` and writes nothing to the cluster.

    Common keyword options of every builder: ``namespace=`` (for ``kind/name`` references), ``requested_by=``
    (default: ``$KUBECOPILOT_USER`` or the OS user), ``idempotency_key=`` (default: the plan id), ``reason=``.
    """

    def __init__(self, ws: Any, *, policy: Policy | None = None, ledger: Any = None,
                 requested_by: str | None = None) -> None:
        self.ws = ws
        self.policy = policy
        self.ledger = ledger
        self.requested_by = requested_by

    def __repr__(self) -> str:
        return f"PlanBuilder({self.ws.name!r})"

    @property
    def _policy(self) -> Policy:
        return self.policy or current_policy()

    @property
    def _conn(self) -> Any:
        return self.ws.raw

    # -- resolution --------------------------------------------------------------------------------------------------
    def _ref(self, action: str, ref: str | ObjectRef, namespace: str | None) -> ObjectRef:
        if isinstance(ref, str) and "/" not in ref.strip():
            default = _DEFAULT_KIND.get(action)
            if default is None:
                raise ValueError(f"{action}: name the kind too, e.g. 'pod/{ref}' or 'pod/NAMESPACE/{ref}'")
            ref = f"{default}/{ref}"
        return self.ws.ref(ref, namespace=namespace)

    def _check(self, action: str, ref: ObjectRef) -> None:
        self._policy.check(action, ref.kind, str(ref))

    def _read(self, ref: ObjectRef) -> dict[str, Any]:
        return self._conn.get(ref.path)

    def _kind(self, name: str) -> Kind:
        return self.ws.kind(name)

    def _namespace_labels(self, namespace: str | None) -> dict[str, str]:
        if not namespace:
            return {}
        try:
            ns = self._conn.get(f"/api/v1/namespaces/{namespace}")
        except Exception:  # a viewer without namespace reads still gets name-pattern tiers
            return {}
        return (ns.get("metadata") or {}).get("labels") or {}

    def _list(self, kind: str, namespace: str | None = None, **params: Any) -> list[dict[str, Any]]:
        k = self._kind(kind)
        try:
            return self._conn.list(k.path(namespace), **params).get("items") or []
        except Exception:  # facts for the risk score are best effort; a plan never fails for lack of them
            return []

    # -- public builders ---------------------------------------------------------------------------------------------
    def scale(self, ref: str | ObjectRef, replicas: int, **opts: Any) -> OperationPlan:
        """Scale a Deployment / StatefulSet / ReplicaSet to ``replicas``."""
        if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
            raise ValueError(f"replicas must be a whole number >= 0, got {replicas!r}")
        r = self._begin("scale", ref, opts)
        live = self._read(r)
        before = _replicas(live)
        if before == replicas:
            raise PlanError(f"{r} already has {replicas} replica(s): nothing to change")
        desired = copy.deepcopy(live)
        desired["spec"]["replicas"] = replicas
        facts = RiskFacts(replicas_before=before, replicas_after=replicas, pods_total=before,
                          pods_disrupted=max(0, before - replicas), disruptive=replicas < before)
        if replicas < before:
            facts.pdb_violations = pdb_violations(self._list("pdb", r.namespace), [], replicas_after=replicas,
                                                  template_labels=_template_labels(live))
        for hpa in self._list("hpa", r.namespace):
            target = (hpa.get("spec") or {}).get("scaleTargetRef") or {}
            if target.get("kind") == r.kind.kind and target.get("name") == r.name:
                spec = hpa.get("spec") or {}
                facts.notes.append(("hpa", 0.2, f"HorizontalPodAutoscaler {hpa['metadata']['name']} manages its "
                                                f"replicas ({spec.get('minReplicas', 1)}-{spec.get('maxReplicas')}) "
                                                "and will override a manual scale"))
        verb = "up" if replicas > before else "down"
        step = _Step("scale", f"scale {r} from {before} to {replicas} replicas", r.kind, r.namespace, r.name, live,
                     desired)
        post = [postcondition("replicas_ready", f"{r} has {replicas} ready replica(s)", str(r), 180.0,
                              path=r.path, replicas=replicas)]
        return self._build("scale", r, [step], facts, post, opts, {"replicas": replicas},
                           f"Scale {r} {verb} from {before} to {replicas} replica(s).")

    def restart(self, ref: str | ObjectRef, **opts: Any) -> OperationPlan:
        """Rolling restart (what ``kubectl rollout restart`` does: a ``restartedAt`` template annotation)."""
        r = self._begin("restart", ref, opts)
        live = self._read(r)
        desired = copy.deepcopy(live)
        meta = desired["spec"].setdefault("template", {}).setdefault("metadata", {})
        meta.setdefault("annotations", {})[RESTARTED_AT] = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        n = _replicas(live)
        facts = RiskFacts(pods_total=n, pods_disrupted=n, disruptive=True)
        step = _Step("restart", f"restart every pod of {r} (rolling)", r.kind, r.namespace, r.name, live, desired)
        return self._build("restart", r, [step], facts, self._rollout_post(r), opts, {},
                           f"Restart all {n} pod(s) of {r} with a rolling update.")

    def set_image(self, ref: str | ObjectRef, image: str, container: str | None = None, **opts: Any
                  ) -> OperationPlan:
        """Set one container's image (``container`` may be omitted when there is only one)."""
        if not isinstance(image, str) or not image.strip() or any(c.isspace() for c in image.strip()):
            raise ValueError(f"image must be an image reference like 'nginx:1.27', got {image!r}")
        r = self._begin("set_image", ref, opts)
        live = self._read(r)
        desired = copy.deepcopy(live)
        c = _container(desired, container)
        old = c.get("image")
        if old == image:
            raise PlanError(f"container {c['name']} of {r} already runs {image}: nothing to change")
        c["image"] = image
        return self._template_change("set_image", r, live, desired, opts, {"container": c["name"], "image": image},
                                     f"Change the image of container {c['name']} in {r} from {old} to {image}.")

    def set_env(self, ref: str | ObjectRef, env: Mapping[str, str | None], container: str | None = None,
                **opts: Any) -> OperationPlan:
        """Set (or, with ``None``, remove) environment variables of one container."""
        if not isinstance(env, Mapping) or not env:
            raise ValueError("env must be a non-empty mapping of NAME -> value (None removes the variable)")
        r = self._begin("set_env", ref, opts)
        live = self._read(r)
        desired = copy.deepcopy(live)
        c = _container(desired, container)
        entries = list(c.get("env") or [])
        for name, value in env.items():
            idx = next((i for i, e in enumerate(entries) if e.get("name") == name), None)
            if value is None:
                if idx is not None:
                    entries.pop(idx)
            elif idx is None:
                entries.append({"name": name, "value": str(value)})
            else:
                entries[idx] = {"name": name, "value": str(value)}
        if entries:
            c["env"] = entries
        else:
            c.pop("env", None)
        words = ", ".join(f"unset {k}" if v is None else f"{k}" for k, v in env.items())
        return self._template_change("set_env", r, live, desired, opts, {"container": c["name"], "env": dict(env)},
                                     f"Change the environment of container {c['name']} in {r} ({words}).")

    def set_resources(self, ref: str | ObjectRef, container: str | None = None, *,
                      requests: Mapping[str, str | None] | None = None, limits: Mapping[str, str | None] | None = None,
                      **opts: Any) -> OperationPlan:
        """Set (or, with ``None``, remove) resource requests / limits of one container."""
        if not requests and not limits:
            raise ValueError("give requests= and/or limits=, e.g. limits={'memory': '512Mi'}")
        r = self._begin("set_resources", ref, opts)
        live = self._read(r)
        desired = copy.deepcopy(live)
        c = _container(desired, container)
        res = c.setdefault("resources", {})
        for section, values in (("requests", requests), ("limits", limits)):
            for key, value in (values or {}).items():
                if value is None:
                    (res.get(section) or {}).pop(key, None)
                else:
                    res.setdefault(section, {})[key] = str(value)
            if section in res and not res[section]:
                res.pop(section)
        words = "; ".join(f"{s} {', '.join(f'{k}={v}' for k, v in (vals or {}).items())}"
                          for s, vals in (("requests", requests), ("limits", limits)) if vals)
        return self._template_change("set_resources", r, live, desired, opts,
                                     {"container": c["name"], "requests": dict(requests or {}),
                                      "limits": dict(limits or {})},
                                     f"Change the resources of container {c['name']} in {r} ({words}).")

    def set_selector(self, ref: str | ObjectRef, selector: Mapping[str, str], **opts: Any) -> OperationPlan:
        """Point a Service at the pods ``selector`` matches (replaces the whole selector)."""
        if not isinstance(selector, Mapping) or not selector:
            raise ValueError("selector must be a non-empty mapping of label -> value")
        r = self._begin("set_selector", ref, opts)
        live = self._read(r)
        old = (live.get("spec") or {}).get("selector") or {}
        if old == dict(selector):
            raise PlanError(f"{r} already selects {_selector_string(selector)}: nothing to change")
        desired = copy.deepcopy(live)
        desired["spec"]["selector"] = {str(k): str(v) for k, v in selector.items()}
        pods = [p for p in self._list("pod", r.namespace, labelSelector=_selector_string(selector))
                if (p.get("status") or {}).get("phase") not in ("Succeeded", "Failed")]
        before_pods = [p for p in self._list("pod", r.namespace, labelSelector=_selector_string(old))] if old else []
        facts = RiskFacts(selected_pods=len(pods), pods_total=len(before_pods) or None,
                          pods_disrupted=len(before_pods), disruptive=False)
        step = _Step("set_selector", f"select pods {_selector_string(selector)} in {r}", r.kind, r.namespace,
                     r.name, live, desired)
        post = [postcondition("service_has_endpoints", f"{r} has ready endpoints", str(r), 60.0,
                              path=self._kind("endpoints").path(r.namespace, r.name))]
        return self._build("set_selector", r, [step], facts, post, opts, {"selector": dict(selector)},
                           f"Point {r} at pods {_selector_string(selector)} ({len(pods)} pod(s) match; it selected "
                           f"{_selector_string(old) or 'nothing'}).")

    def patch(self, ref: str | ObjectRef, patch: list[dict[str, Any]], **opts: Any) -> OperationPlan:
        """Any RFC 6902 JSON patch (for people; an LLM or a rule never produces one)."""
        if not isinstance(patch, list) or not patch or not all(isinstance(op, dict) and "op" in op for op in patch):
            raise ValueError("patch must be a non-empty list of RFC 6902 operations like "
                             "[{'op': 'replace', 'path': '/spec/replicas', 'value': 3}]")
        r = self._begin("patch", ref, opts)
        self._refuse_secret(r, "patch")
        live = self._read(r)
        try:
            desired = jsonpatch.apply_patch(clean(live), patch)
        except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException) as e:
            raise PlanValidationError(f"the patch does not apply to the live {r} (checked locally, before the dry "
                                      f"run): {e}") from None
        facts = RiskFacts()
        touches_template = any(str(op.get("path", "")).startswith(("/spec/template", "/spec/jobTemplate"))
                               for op in patch)
        if touches_template and r.kind.kind in _ROLLOUT_KINDS:
            n = _replicas(live)
            facts = RiskFacts(pods_total=n, pods_disrupted=n, disruptive=True)
        step = _Step("patch", f"apply a {len(patch)}-operation JSON patch to {r}", r.kind, r.namespace, r.name,
                     live, desired, patch=[dict(op) for op in patch])
        post = self._rollout_post(r) if touches_template and r.kind.kind in _ROLLOUT_KINDS else []
        return self._build("patch", r, [step], facts, post, opts, {"patch": patch},
                           f"Patch {r} with {len(patch)} JSON patch operation(s).")

    def apply(self, manifest: Mapping[str, Any] | str, **opts: Any) -> OperationPlan:
        """Create the object of a manifest (dict or one YAML document), or update it to match: maps are merged
        into the live object, lists are replaced (JSON merge patch semantics)."""
        obj = self._manifest(manifest)
        kind = self._manifest_kind(obj)
        namespace = opts.pop("namespace", None)
        meta = obj.setdefault("metadata", {})
        if kind.namespaced:
            meta["namespace"] = meta.get("namespace") or namespace or self.ws.namespace
        name = meta.get("name")
        if not name:
            raise ValueError("the manifest needs metadata.name")
        r = ObjectRef(kind, meta.get("namespace") if kind.namespaced else None, name)
        self._check("apply", r)
        self._refuse_secret(r, "apply")
        try:
            live = self._read(r)
        except ResourceNotFoundError:
            live = None
        if live is None:
            step = _Step("create", f"create {r}", kind, r.namespace, name, None, patch_format="create", body=obj)
            post = [postcondition("object_exists", f"{r} exists", str(r), 30.0, path=r.path)]
            if kind.kind in _ROLLOUT_KINDS:
                post += self._rollout_post(r, step="s1")
            facts = RiskFacts(notes=[("create", 0.05, f"creates {r}")])
            return self._build("apply", r, [step], facts, post, opts, {"manifest": obj}, f"Create {r}.",
                               plan_action="apply")
        desired = _merge(clean(live) or {}, _strip_server_fields(obj))
        touches_template = (clean(live) or {}).get("spec", {}).get("template") != desired.get("spec", {}).get(
            "template")
        n = _replicas(live) if kind.kind in _ROLLOUT_KINDS else 0
        facts = RiskFacts(pods_total=n or None, pods_disrupted=n if touches_template else 0,
                          disruptive=bool(touches_template and n))
        step = _Step("update", f"update {r} to match the manifest", kind, r.namespace, name, live, desired)
        post = self._rollout_post(r) if touches_template and kind.kind in _ROLLOUT_KINDS else []
        return self._build("apply", r, [step], facts, post, opts, {"manifest": obj}, f"Update {r} to match the "
                           "manifest.")

    def delete(self, ref: str | ObjectRef, *, grace_period_seconds: int | None = None,
               propagation_policy: str = "Background", **opts: Any) -> OperationPlan:
        """Delete one object (a Pod, a Job, ...) — not reversible by KubeCopilot."""
        if propagation_policy not in ("Background", "Foreground", "Orphan"):
            raise ValueError("propagation_policy must be Background, Foreground or Orphan")
        r = self._begin("delete", ref, opts)
        live = self._read(r)
        body: dict[str, Any] = {"propagationPolicy": propagation_policy}
        if grace_period_seconds is not None:
            body["gracePeriodSeconds"] = int(grace_period_seconds)
        facts = RiskFacts()
        what = f"Delete {r}."
        if r.kind.kind == "Pod":
            facts, what = self._pod_facts(r, live)
        step = _Step("delete", f"delete {r}", r.kind, r.namespace, r.name, live, patch_format="delete", body=body,
                     reversible=False,
                     changes=[Change(op="remove", path=str(r), old=_phase(live), new=None)])
        post = [postcondition("object_gone", f"{r} is deleted", str(r), 120.0, path=r.path,
                              uid=live["metadata"].get("uid"))]
        return self._build("delete", r, [step], facts, post, opts, {}, what)

    def rollback(self, ref: str | ObjectRef, revision: int | None = None, **opts: Any) -> OperationPlan:
        """Roll a Deployment back to ``revision`` (default: the previous one), like ``kubectl rollout undo``: the
        pod template of that revision's ReplicaSet becomes the Deployment's template again."""
        r = self._begin("rollback", ref, opts)
        live = self._read(r)
        uid = live["metadata"]["uid"]
        match = ((live.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
        sets = [rs for rs in self._list("replicaset", r.namespace, labelSelector=_selector_string(match))
                if any(o.get("uid") == uid for o in (rs["metadata"].get("ownerReferences") or []))]
        revisions = {}
        for rs in sets:
            rev = (rs["metadata"].get("annotations") or {}).get(REVISION)
            if rev and rev.isdigit():
                revisions[int(rev)] = rs
        current = int((live["metadata"].get("annotations") or {}).get(REVISION) or max(revisions, default=0) or 0)
        if revision is None:
            older = [v for v in revisions if v < current]
            if not older:
                raise PlanError(f"{r} has no revision before {current} (its ReplicaSets: "
                                f"{', '.join(map(str, sorted(revisions))) or 'none'}): nothing to roll back to")
            revision = max(older)
        if revision not in revisions:
            raise PlanError(f"{r} has no revision {revision}; revisions kept: "
                            f"{', '.join(map(str, sorted(revisions))) or 'none'}")
        if revision == current:
            raise PlanError(f"{r} is already at revision {revision}")
        template = copy.deepcopy(revisions[revision]["spec"]["template"])
        (template.get("metadata") or {}).get("labels", {}).pop("pod-template-hash", None)
        desired = copy.deepcopy(live)
        desired["spec"]["template"] = template
        if clean(desired) == clean(live):
            raise PlanError(f"revision {revision} of {r} has the same pod template as the current one")
        images = lambda o: ", ".join(c.get("image", "?") for c in _pod_spec(o).get("containers") or [])  # noqa: E731
        summary = (f"Roll {r} back from revision {current} to revision {revision} "
                   f"(images {images(copy.deepcopy(live))} -> {images(desired)}).")
        return self._template_change("rollback", r, live, desired, opts, {"revision": revision, "from": current},
                                     summary)

    def cordon(self, ref: str | ObjectRef, **opts: Any) -> OperationPlan:
        """Mark a node unschedulable."""
        return self._schedulable("cordon", ref, False, opts)

    def uncordon(self, ref: str | ObjectRef, **opts: Any) -> OperationPlan:
        """Mark a node schedulable again."""
        return self._schedulable("uncordon", ref, True, opts)

    def drain(self, ref: str | ObjectRef, *, force: bool = False, grace_period_seconds: int | None = None,
              eviction_timeout: float = 60.0, **opts: Any) -> OperationPlan:
        """Cordon a node, then evict each of its pods through the Eviction API (PodDisruptionBudgets are honoured:
        an eviction the budget refuses is retried for ``eviction_timeout`` seconds, then the plan rolls back).
        DaemonSet pods, mirror (static) pods and finished pods are left alone, like ``kubectl drain
        --ignore-daemonsets``; pods no controller recreates need ``force=True``."""
        r = self._begin("drain", ref, opts)
        node = self._read(r)
        pod_kind = self._kind("pod")
        pods = self._conn.list(pod_kind.path(), fieldSelector=f"spec.nodeName={r.name}").get("items") or []
        evict, unmanaged, emptydir = [], [], []
        for p in sorted(pods, key=lambda p: (p["metadata"].get("namespace", ""), p["metadata"]["name"])):
            p.setdefault("apiVersion", "v1")  # list items come without them; the snapshot must match a GET
            p.setdefault("kind", "Pod")
            meta = p["metadata"]
            owners = [o for o in meta.get("ownerReferences") or [] if o.get("controller")]
            if "kubernetes.io/config.mirror" in (meta.get("annotations") or {}):
                continue
            if any(o.get("kind") == "DaemonSet" for o in owners):
                continue
            if (p.get("status") or {}).get("phase") in ("Succeeded", "Failed") or meta.get("deletionTimestamp"):
                continue
            if not owners:
                unmanaged.append(p)
            if any("emptyDir" in v for v in (p.get("spec") or {}).get("volumes") or []):
                emptydir.append(p)
            evict.append(p)
        if unmanaged and not force:
            names = ", ".join(f"{p['metadata']['namespace']}/{p['metadata']['name']}" for p in unmanaged)
            raise PlanError(f"node {r.name} runs pods that no controller recreates ({names}); evicting them loses "
                            "them for good. Pass force=True to plan it anyway.")
        cordoned = bool((node.get("spec") or {}).get("unschedulable"))
        if cordoned and not evict:
            raise PlanError(f"node {r.name} is already cordoned and has no pods to evict: nothing to change")
        steps: list[_Step] = []
        if not cordoned:
            desired = copy.deepcopy(node)
            desired.setdefault("spec", {})["unschedulable"] = True
            steps.append(_Step("cordon", f"cordon node {r.name}", r.kind, None, r.name, node, desired))
        version = eviction_version(self._conn) if evict else "policy/v1beta1"
        for p in evict:
            ns, name = p["metadata"]["namespace"], p["metadata"]["name"]
            body: dict[str, Any] = {"apiVersion": version, "kind": "Eviction",
                                    "metadata": {"name": name, "namespace": ns}}
            if grace_period_seconds is not None:
                body["deleteOptions"] = {"gracePeriodSeconds": int(grace_period_seconds)}
            steps.append(_Step("evict", f"evict pod {ns}/{name}", pod_kind, ns, name, p, patch_format="eviction",
                               body=body, reversible=False, options={"evictionTimeout": float(eviction_timeout)},
                               changes=[Change(op="remove", path=f"pod/{ns}/{name}", old=f"{_phase(p)} on {r.name}",
                                               new=None)]))
        facts = RiskFacts(tier_labels=(node.get("metadata") or {}).get("labels") or {}, pods_disrupted=len(evict),
                          disruptive=bool(evict))
        facts.pdb_violations = self._drain_pdbs(evict)
        self._drain_tiers(evict, facts)
        if unmanaged:
            facts.notes.append(("unmanaged_pods", 0.5, f"{len(unmanaged)} pod(s) have no controller and will not "
                                                       "come back"))
        if emptydir:
            facts.notes.append(("emptydir", 0.2, f"{len(emptydir)} pod(s) lose their emptyDir data"))
        post = [postcondition("field_equals", f"node {r.name} is unschedulable", str(r), 30.0, path=r.path,
                              pointer="/spec/unschedulable", value=True, default=False)]
        if evict:
            post.append(postcondition(
                "pods_gone", f"the {len(evict)} evicted pod(s) are gone from node {r.name}", str(r), 180.0,
                pods=[{"path": pod_kind.path(p["metadata"]["namespace"], p["metadata"]["name"]),
                       "name": f"{p['metadata']['namespace']}/{p['metadata']['name']}", "uid": p["metadata"]["uid"]}
                      for p in evict]))
        what = f"Drain node {r.name}: " + ("cordon it, then " if not cordoned else "") + (
            f"evict {len(evict)} pod(s)" if evict else "no pods to evict") + "."
        return self._build("drain", r, steps, facts, post, opts, {"force": force, "evictionTimeout": eviction_timeout},
                           what)

    def suspend(self, ref: str | ObjectRef, **opts: Any) -> OperationPlan:
        """Stop a CronJob from starting new jobs (running jobs continue)."""
        return self._suspend("suspend", ref, True, opts)

    def resume(self, ref: str | ObjectRef, **opts: Any) -> OperationPlan:
        """Let a suspended CronJob start jobs again."""
        return self._suspend("resume", ref, False, opts)

    def from_intent(self, intent: PlanIntent | Mapping[str, Any], **opts: Any) -> OperationPlan:
        """Build the plan an intent asks for (from a finding, the LLM or the phrase parser). The intent chooses
        the action, the object and the parameters; the builder computes the patch from the live object."""
        if not isinstance(intent, PlanIntent):
            intent = PlanIntent.model_validate(intent)
        llm = intent.source.startswith("llm")
        if intent.action == "patch" and llm:
            raise PlanNotAllowedError("a language model may not write patches: an LLM intent must name an action "
                                      "such as scale or set_image, and the plan builders compute the change")
        kind = self._kind(intent.kind)
        ref = "/".join([intent.kind] + ([intent.namespace] if intent.namespace and kind.namespaced else [])
                       + [intent.name])
        meta = {"reason": intent.reason or None, "source": intent.source, **opts}
        if llm:
            meta.setdefault("ai_rationale", intent.reason or None)
            meta.setdefault("source_prompt_id", intent.source.split(":", 1)[1] if ":" in intent.source else None)
        p = dict(intent.parameters)
        expected = _INTENT_PARAMETERS[intent.action]
        unknown = set(p) - set(expected)
        if unknown:
            raise ValueError(f"intent {intent.action}: unknown parameter(s) {', '.join(sorted(unknown))}; "
                             f"{intent.action} takes {', '.join(expected) or 'no parameters'}")
        a = intent.action
        if a == "apply":
            return self.apply(p["manifest"], **meta)
        if a == "scale":
            if "replicas" not in p:
                raise ValueError("intent scale needs parameters.replicas")
            return self.scale(ref, int(p["replicas"]), **meta)
        if a == "set_image":
            return self.set_image(ref, p["image"], p.get("container"), **meta)
        if a == "set_env":
            return self.set_env(ref, p["env"], p.get("container"), **meta)
        if a == "set_resources":
            return self.set_resources(ref, p.get("container"), requests=p.get("requests"), limits=p.get("limits"),
                                      **meta)
        if a == "set_selector":
            return self.set_selector(ref, p["selector"], **meta)
        if a == "patch":
            return self.patch(ref, p["patch"], **meta)
        if a == "rollback":
            return self.rollback(ref, p.get("revision"), **meta)
        if a == "delete":
            return self.delete(ref, **{k: v for k, v in p.items() if k == "grace_period_seconds"}, **meta)
        if a == "drain":
            return self.drain(ref, **p, **meta)
        return getattr(self, a)(ref, **meta)

    # -- shared pieces -------------------------------------------------------------------------------------------------
    def _begin(self, action: str, ref: str | ObjectRef, opts: dict[str, Any]) -> ObjectRef:
        r = self._ref(action, ref, opts.pop("namespace", None))
        self._check(action, r)
        return r

    @staticmethod
    def _refuse_secret(r: ObjectRef, action: str) -> None:
        if r.kind.kind == "Secret":
            raise PlanNotAllowedError(f"{action} of {r}: plans never carry Secret values (they are stored in the "
                                      "audit ledger); change Secrets with your secret-management tooling")

    def _rollout_post(self, r: ObjectRef, step: str = "s1") -> list[PostCondition]:
        if r.kind.kind not in _ROLLOUT_KINDS:
            return []
        return [postcondition("rollout_complete", f"the rollout of {r} completes", str(r), 300.0, path=r.path,
                              step=step)]

    def _template_change(self, action: str, r: ObjectRef, live: dict[str, Any], desired: dict[str, Any],
                         opts: dict[str, Any], params: dict[str, Any], summary: str) -> OperationPlan:
        if r.kind.kind == "CronJob":
            facts = RiskFacts(notes=[("cronjob", 0.05, "applies to jobs started from now on")])
            post: list[PostCondition] = []
        else:
            n = _replicas(live)
            status = live.get("status") or {}
            available = status.get("availableReplicas", status.get("numberAvailable")) if status else None
            facts = RiskFacts(pods_total=n, pods_disrupted=n, disruptive=True,
                              pods_available=int(available or 0) if status else None)
            post = self._rollout_post(r)
        step = _Step(action, summary.rstrip(".")[0].lower() + summary.rstrip(".")[1:], r.kind, r.namespace, r.name,
                     live, desired)
        return self._build(action, r, [step], facts, post, opts, params, summary)

    def _schedulable(self, action: str, ref: str | ObjectRef, schedulable: bool, opts: dict[str, Any]
                     ) -> OperationPlan:
        r = self._begin(action, ref, opts)
        node = self._read(r)
        cordoned = bool((node.get("spec") or {}).get("unschedulable"))
        if cordoned != schedulable:
            raise PlanError(f"node {r.name} is already {'cordoned' if cordoned else 'schedulable'}: nothing to change")
        desired = copy.deepcopy(node)
        if schedulable:
            desired["spec"].pop("unschedulable", None)
        else:
            desired.setdefault("spec", {})["unschedulable"] = True
        running = [p for p in self._conn.list(self._kind("pod").path(), fieldSelector=f"spec.nodeName={r.name}")
                   .get("items") or [] if (p.get("status") or {}).get("phase") == "Running"] if not schedulable else []
        facts = RiskFacts(tier_labels=(node.get("metadata") or {}).get("labels") or {})
        step = _Step(action, f"{action} node {r.name}", r.kind, None, r.name, node, desired)
        post = [postcondition("field_equals", f"node {r.name} is {'schedulable' if schedulable else 'unschedulable'}",
                              str(r), 30.0, path=r.path, pointer="/spec/unschedulable", value=not schedulable,
                              default=False)]
        what = (f"Cordon node {r.name}: no new pods are scheduled onto it ({len(running)} running pod(s) stay)."
                if not schedulable else f"Uncordon node {r.name}: pods may be scheduled onto it again.")
        return self._build(action, r, [step], facts, post, opts, {}, what)

    def _suspend(self, action: str, ref: str | ObjectRef, suspend: bool, opts: dict[str, Any]) -> OperationPlan:
        r = self._begin(action, ref, opts)
        live = self._read(r)
        if bool((live.get("spec") or {}).get("suspend")) == suspend:
            raise PlanError(f"{r} is already {'suspended' if suspend else 'running (not suspended)'}: nothing to "
                            "change")
        desired = copy.deepcopy(live)
        desired["spec"]["suspend"] = suspend
        step = _Step(action, f"{action} {r}", r.kind, r.namespace, r.name, live, desired)
        post = [postcondition("field_equals", f"{r} is {'suspended' if suspend else 'resumed'}", str(r), 30.0,
                              path=r.path, pointer="/spec/suspend", value=suspend, default=False)]
        schedule = (live.get("spec") or {}).get("schedule", "?")
        what = (f"Suspend {r} (schedule {schedule}): no new jobs start until it is resumed." if suspend
                else f"Resume {r}: jobs start again on schedule {schedule}.")
        return self._build(action, r, [step], RiskFacts(), post, opts, {}, what)

    def _pod_facts(self, r: ObjectRef, pod: dict[str, Any]) -> tuple[RiskFacts, str]:
        owners = [o for o in pod["metadata"].get("ownerReferences") or [] if o.get("controller")]
        facts = RiskFacts(pods_disrupted=1, disruptive=True)
        facts.pdb_violations = pdb_violations(self._list("pdb", r.namespace), [pod])
        if not owners:
            facts.notes.append(("unmanaged_pod", 0.5, "no controller owns this pod: it will not be recreated"))
            return facts, f"Delete {r} (no controller recreates it)."
        owner = owners[0]
        facts.pods_total = self._owner_replicas(r.namespace, owner)
        return facts, f"Delete {r}; its {owner.get('kind')} {owner.get('name')} recreates it."

    def _owner_replicas(self, namespace: str | None, owner: Mapping[str, Any]) -> int | None:
        try:
            kind = self._kind(f"{owner['kind'].lower()}.{owner['apiVersion'].split('/')[0]}"
                              if "/" in owner["apiVersion"] else owner["kind"].lower())
            obj = self._conn.get(kind.path(namespace, owner["name"]))
        except Exception:
            return None
        return _replicas(obj) if obj.get("kind") != "Job" else None

    def _drain_pdbs(self, pods: list[dict[str, Any]]) -> list[str]:
        if not pods:
            return []
        by_ns: dict[str, list[dict[str, Any]]] = {}
        for p in pods:
            by_ns.setdefault(p["metadata"]["namespace"], []).append(p)
        pdbs = self._list("pdb")
        out = []
        for ns, group in by_ns.items():
            out += [f"{ns}: {v}" for v in pdb_violations([b for b in pdbs if b["metadata"].get("namespace") == ns],
                                                         group)]
        return out

    def _drain_tiers(self, pods: list[dict[str, Any]], facts: RiskFacts) -> None:
        config = self._policy.risk
        namespaces = sorted({p["metadata"]["namespace"] for p in pods})
        if not namespaces:
            return
        labels = {n["metadata"]["name"]: (n["metadata"].get("labels") or {}) for n in self._list("namespace")}
        tiers: dict[str, list[str]] = {}
        for ns in namespaces:
            tier = config.tier_of(ns, labels.get(ns))
            if tier and config.tier_weights.get(tier, 0) > 0:
                tiers.setdefault(tier, []).append(ns)
        for tier, names in tiers.items():
            facts.notes.append(("namespace_tier", config.tier_weights[tier],
                                f"evicts pods in {tier} namespace(s) {', '.join(names)}"))

    def _manifest(self, manifest: Mapping[str, Any] | str) -> dict[str, Any]:
        if isinstance(manifest, str):
            import yaml

            docs = [d for d in yaml.safe_load_all(manifest) if d]
            if len(docs) != 1:
                raise ValueError(f"apply takes one object per plan; the YAML holds {len(docs)} documents")
            manifest = docs[0]
        if not isinstance(manifest, Mapping) or not manifest.get("kind") or not manifest.get("apiVersion"):
            raise ValueError("a manifest needs apiVersion, kind and metadata.name")
        return copy.deepcopy(dict(manifest))

    def _manifest_kind(self, obj: Mapping[str, Any]) -> Kind:
        api_version, kind_name = obj["apiVersion"], obj["kind"]
        group, _, version = api_version.rpartition("/")
        kind = self._kind(f"{kind_name.lower()}.{group}" if group else kind_name.lower())
        if kind.kind != kind_name or kind.group != group:
            raise ValueError(f"the cluster serves no kind {kind_name} in API group {group or 'core'!r}")
        return kind if kind.version == version else dataclasses.replace(kind, version=version)

    # -- the common tail: diff, dry run, risk, audit -------------------------------------------------------------------
    def _build(self, action: str, r: ObjectRef, drafts: list[_Step], facts: RiskFacts, post: list[PostCondition],
               opts: dict[str, Any], params: dict[str, Any], summary: str, *, plan_action: str | None = None
               ) -> OperationPlan:
        requested_by = opts.pop("requested_by", None) or self.requested_by or current_user()
        idempotency_key = opts.pop("idempotency_key", None)
        reason = opts.pop("reason", None)
        source = opts.pop("source", None) or "user"
        ai_rationale = opts.pop("ai_rationale", None)
        source_prompt_id = opts.pop("source_prompt_id", None)
        if opts:
            raise TypeError(f"{action}() got unexpected option(s): {', '.join(sorted(opts))}")
        conn = self._conn
        steps: list[PlanStep] = []
        diff = PlanDiff()
        for i, d in enumerate(drafts, start=1):
            step, before, after = self._validate(action, d, f"s{i}", conn)
            is_main = d.kind == r.kind and d.name == r.name and d.namespace == r.namespace
            if is_main and not diff.changes and diff.before is None:
                diff = PlanDiff(before=before, after=after, patch=step.patch, patch_format=step.patch_format,
                                rollback_patch=step.rollback_patch, changes=step.changes)
            else:
                step.before = before
            steps.append(step)
        main_live = next((d.live for d in drafts if d.kind == r.kind and d.name == r.name), None)
        if diff.before is None and main_live is not None and not any(s.patch_format == "create" for s in steps):
            diff.before = clean(main_live)
        meta = (main_live or {}).get("metadata") or {}
        plan_id = str(uuid.uuid4())
        plan = OperationPlan(
            id=plan_id, action=plan_action or action, summary=summary, parameters=_jsonable(params),
            resource=ResourceRef(kind=r.kind.kind, api_version=r.kind.api_version, namespace=r.namespace, name=r.name,
                                 uid=meta.get("uid"), resource_version=meta.get("resourceVersion"), path=r.path),
            steps=steps, diff=diff, ai_rationale=ai_rationale,
            audit=PlanAudit(requested_by=requested_by, idempotency_key=idempotency_key or plan_id, source=source,
                            source_prompt_id=source_prompt_id, confirm_reason=None),
            cluster=ClusterInfo(context=self.ws.context, server=self.ws.server, user=self.ws.user),
            validation=Validation(requests=len(steps)),
        )
        if reason:
            plan.parameters["reason"] = reason
        facts.namespace = r.namespace
        if r.namespace and not facts.tier_labels:
            facts.tier_labels = self._namespace_labels(r.namespace)
        plan.risk = assess(plan, facts, self._policy.risk)
        plan.risk.post_conditions = post
        plan._ws, plan._ledger, plan._policy = self.ws, self.ledger, self.policy
        _store.record(plan, "plan.created", requested_by, {
            "summary": summary, "action": plan.action, "risk": plan.risk.level, "score": plan.risk.score,
            "source": source, "idempotencyKey": plan.idempotency_key, "reason": reason,
            "changes": [c.model_dump(mode="json") for c in plan.changes[:50]]})
        return plan

    def _validate(self, action: str, d: _Step, step_id: str, conn: Any
                  ) -> tuple[PlanStep, dict[str, Any] | None, dict[str, Any] | None]:
        """Diff, dry-run and describe one step: (the step, its cleaned snapshot, the server's answer cleaned)."""
        target = ResourceRef(kind=d.kind.kind, api_version=d.kind.api_version, namespace=d.namespace, name=d.name,
                             uid=((d.live or {}).get("metadata") or {}).get("uid"),
                             resource_version=((d.live or {}).get("metadata") or {}).get("resourceVersion"),
                             path=d.kind.path(d.namespace, d.name))
        step = PlanStep(id=step_id, action=d.action, description=d.description, target=target,
                        patch_format=d.patch_format, body=d.body, reversible=d.reversible, options=d.options)
        before = clean(d.live)
        if d.patch_format == "json-patch":
            step.patch = d.patch if d.patch is not None else checked_patch(before or {}, clean(d.desired) or {})
            if not step.patch:
                raise PlanError(f"{d.description}: the live object already matches: nothing to change")
        if d.desired is not None:
            _refuse_credentials(before, clean(d.desired), str(d.description))
        if d.body is not None and d.patch_format == "create":
            _refuse_credentials(None, d.body, str(d.description))
        answer = validate_step(conn, step, d.live, action=action)
        after = None
        if d.patch_format in ("json-patch", "create"):
            after = clean(answer)
            step.changes = diff_changes(before, after)
            if d.patch_format == "json-patch":
                if not step.changes:
                    raise PlanError(f"{d.description}: the server would store the object unchanged (its defaults "
                                    "already say so): nothing to change")
                step.rollback_patch = rollback_patch(before or {}, after or {})
        else:
            step.changes = list(d.changes or [])
        return step, before, after


_ENV_VALUE = re.compile(r"^(?P<entry>.*/env/\d+)/value$")


def _refuse_credentials(before: dict[str, Any] | None, after: dict[str, Any], what: str) -> None:
    """Plans are stored and shown: a literal credential in an env var would land in the audit ledger and the
    notebook. Refuse it (naming the variable, never the value) and point at a Secret reference instead."""
    from kubecopilot.audit._canonical import is_secret_key

    for c in diff_changes(before, after):
        m = _ENV_VALUE.match(c.path)
        if not m or c.op == "remove":
            continue
        name = resolve(after, m["entry"] + "/name")
        if isinstance(name, str) and is_secret_key(name):
            raise PlanNotAllowedError(
                f"{what}: {name} looks like a credential, and plans never carry credentials (they are stored in the "
                "audit ledger and shown in notebooks). Put the value in a Secret and reference it with "
                f"env[].valueFrom.secretKeyRef, e.g. ws.plan.patch(..., [{{'op': 'add', 'path': '{m['entry']}', "
                f"'value': {{'name': '{name}', 'valueFrom': {{'secretKeyRef': {{'name': '...', 'key': '...'}}}}}}}}])")


def _phase(obj: Mapping[str, Any]) -> str:
    st = obj.get("status") or {}
    return str(st.get("phase") or obj.get("kind") or "present")


def _strip_server_fields(obj: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in obj.items() if k != "status"}
    meta = dict(out.get("metadata") or {})
    for key in ("resourceVersion", "uid", "creationTimestamp", "managedFields", "generation", "selfLink"):
        meta.pop(key, None)
    out["metadata"] = meta
    return out


def _merge(base: Any, change: Any) -> Any:
    """RFC 7386 JSON merge: maps merge key by key (``None`` deletes), anything else replaces."""
    if not isinstance(change, Mapping):
        return copy.deepcopy(change)
    out = dict(base) if isinstance(base, Mapping) else {}
    for k, v in change.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = _merge(out.get(k), v)
    return out


def _jsonable(value: Any) -> Any:
    import json

    return json.loads(json.dumps(value, default=str))


_INTENT_PARAMETERS: dict[str, tuple[str, ...]] = {
    "scale": ("replicas",), "restart": (), "set_image": ("image", "container"), "set_env": ("env", "container"),
    "set_resources": ("container", "requests", "limits"), "set_selector": ("selector",), "patch": ("patch",),
    "apply": ("manifest",), "delete": ("grace_period_seconds",), "rollback": ("revision",), "cordon": (),
    "uncordon": (), "drain": ("force", "grace_period_seconds", "eviction_timeout"), "suspend": (), "resume": (),
}
