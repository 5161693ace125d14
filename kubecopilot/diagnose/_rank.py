"""From raw findings to an ordered list with root causes first.

1. **Fold**: findings about pods (and ReplicaSets, Jobs of a CronJob) move to the workload that owns them, so two
   crashing replicas are one finding on ``deployment/ns/x`` ("2 of 3 pods"); the pod a diagnosis targets is
   left alone.
2. **Absorb**: a controller's own verdict on a failed rollout or run (``deployment.progress-deadline``,
   ``job.*``, ``cronjob.failing``) takes in the *milder* pod findings folded onto the same object as its
   explanation: pods that run but never become Ready are a warning until the controller declares the rollout
   failed, and then that verdict is the finding. A pod finding as severe as the verdict (a crash, an image that
   cannot be pulled) stays a root cause and the verdict follows from it.
3. **Link**: a finding that may follow from other objects (a Service from the workloads it selects, a pending pod
   from a node or a claim, a crash from the Service it calls) gets ``caused_by`` = the key of the *root* of the
   best finding on those objects. Cycles are broken at the most severe member.
4. **Order**: roots first (severity, then how much follows from them, then a fixed rule priority), then the
   findings that follow, grouped after their root.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from kubecopilot.diagnose._findings import Evidence, Finding, severity_rank

__all__ = ["ABSORBING", "RULE_PRIORITY", "SYMPTOMS", "absorb", "fold", "link", "order", "rank"]

#: Tie-break among roots of the same severity: causes that explain more come first.
RULE_PRIORITY: tuple[str, ...] = (
    "node.not-ready", "node.network-unavailable", "node.pressure", "pvc.pending", "pvc.lost",
    "quota.exceeded", "limitrange.rejected", "rbac.forbidden", "admission.rejected", "workload.failed-create",
    "pod.image-pull", "pod.create-config-error", "pod.failed-mount", "pod.run-container-error",
    "pod.command-not-found", "pod.oomkilled", "pod.crashloop", "pod.liveness-failing", "pod.startup-failing",
    "pod.unschedulable", "deployment.progress-deadline", "job.backoff-limit", "job.deadline-exceeded", "job.failed",
    "cronjob.failing", "hpa.missing-requests", "hpa.unable-to-scale", "hpa.metrics-unavailable",
    "ingress.missing-service", "ingress.wrong-port", "service.no-endpoints", "service.target-port",
    "pod.readiness-failing", "pod.failed", "pod.container-waiting", "pod.node-lost", "pod.stuck-terminating",
    "pod.evicted", "job.pods-failing", "ingress.no-endpoints", "deployment.unavailable", "statefulset.unavailable",
    "daemonset.unavailable", "cronjob.suspended", "node.cordoned",
)
#: Controller verdicts that take in the pod findings of the same object as their explanation.
ABSORBING: frozenset[str] = frozenset({"deployment.progress-deadline", "job.backoff-limit", "job.deadline-exceeded",
                                       "job.failed", "cronjob.failing"})
#: Findings that only restate that an object is short of ready pods: they explain nothing on that object.
SYMPTOMS: frozenset[str] = frozenset({"deployment.unavailable", "statefulset.unavailable", "daemonset.unavailable",
                                      "job.pods-failing"})
_POD_RULES_PREFIX = ("pod.", "rbac.forbidden")
_MAX_EVIDENCE = 8


def _priority(rule: str) -> int:
    return RULE_PRIORITY.index(rule) if rule in RULE_PRIORITY else len(RULE_PRIORITY)


def _merge_evidence(into: list[Evidence], extra: Iterable[Evidence]) -> list[Evidence]:
    seen = {(e.kind, e.quote) for e in into}
    out = list(into)
    for e in extra:
        if (e.kind, e.quote) not in seen and len(out) < _MAX_EVIDENCE:
            out.append(e)
            seen.add((e.kind, e.quote))
    return out


def fold(findings: list[Finding], owners: dict[str, str], totals: dict[str, int], *,
         keep: frozenset[str] = frozenset()) -> list[Finding]:
    """Move findings to their object's top-level owner (``owners``: ref -> owner ref) and merge same-rule
    findings there; ``totals``: owner ref -> number of pods it has (for "2 of 3 pods")."""
    merged: dict[str, Finding] = {}
    order: list[str] = []
    for f in findings:
        src = f.object
        target = owners.get(src, src) if src not in keep else src
        f._depends = tuple(owners.get(d, d) if d not in keep else d for d in f._depends)
        if src.startswith("pod/"):
            f._pods.add(src)
        f.object = target
        key = f.key
        if key not in merged:
            merged[key] = f
            order.append(key)
            continue
        head = merged[key]
        if severity_rank(f.severity) < severity_rank(head.severity):
            f.evidence = _merge_evidence(f.evidence, head.evidence)
            f._pods |= head._pods
            f._depends = tuple(dict.fromkeys((*f._depends, *head._depends)))
            f.intent = f.intent or head.intent
            merged[key] = f
        else:
            head.evidence = _merge_evidence(head.evidence, f.evidence)
            head._pods |= f._pods
            head._depends = tuple(dict.fromkeys((*head._depends, *f._depends)))
            head.intent = head.intent or f.intent
    out = [merged[k] for k in order]
    for f in out:
        total = totals.get(f.object, 0)
        if len(f._pods) > 1 or (f._pods and total > 1 and f.object not in keep and not f.object.startswith("pod/")):
            f.cause += f" ({len(f._pods)} of {max(total, len(f._pods))} pods)"
    return out


def absorb(findings: list[Finding]) -> list[Finding]:
    by_object: dict[str, list[Finding]] = defaultdict(list)
    for f in findings:
        by_object[f.object].append(f)
    gone: set[int] = set()
    for f in findings:
        if f.rule not in ABSORBING:
            continue
        for g in by_object[f.object]:
            if g is f or id(g) in gone or not g.rule.startswith(_POD_RULES_PREFIX) \
                    or severity_rank(g.severity) <= severity_rank(f.severity):
                continue
            f.cause += f"; its pods: {g.cause}"
            f.evidence = _merge_evidence(f.evidence, g.evidence)
            f.intent = f.intent or g.intent
            f._depends = tuple(d for d in dict.fromkeys((*f._depends, *g._depends)) if d != f.object)
            gone.add(id(g))
    return [f for f in findings if id(f) not in gone]


def _better(f: Finding) -> tuple[int, int, int]:
    return (1 if f._depends else 0, severity_rank(f.severity), _priority(f.rule))


def link(findings: list[Finding]) -> dict[str, Finding | None]:
    """Set ``caused_by`` on every finding that follows from another; returns key -> root finding (None: a root)."""
    by_object: dict[str, list[Finding]] = defaultdict(list)
    for f in findings:
        by_object[f.object].append(f)
    parent: dict[int, Finding | None] = {}
    for f in findings:
        candidates = [g for d in f._depends for g in by_object.get(d, []) if g is not f]
        # A same-object symptom (deployment.unavailable) never explains anything on its own object.
        candidates = [g for g in candidates if not (g.object == f.object and g.rule in SYMPTOMS)]
        parent[id(f)] = min(candidates, key=_better) if candidates else None

    roots: dict[str, Finding | None] = {}
    for f in findings:
        seen: list[Finding] = []
        cur: Finding | None = f
        while cur is not None and parent.get(id(cur)) is not None and cur not in seen:
            seen.append(cur)
            cur = parent[id(cur)]
        if cur is not None and cur in seen:   # a cycle: break it at its most severe member
            start = seen.index(cur)
            cycle = seen[start:]
            head = min(cycle, key=lambda g: (severity_rank(g.severity), _priority(g.rule)))
            parent[id(head)] = None
            cur = head
        root = cur if cur is not f else None
        roots[f.key] = root
    for f in findings:
        direct = parent.get(id(f))
        f._parent = direct.key if direct is not None else None
        root = roots[f.key]
        if root is not None and root is not f:
            f.caused_by = root.key
            if "follows from" not in f.cause:
                f.cause += f" — follows from {root.rule} on {root.object}"
        else:
            f.caused_by = None
    return roots


def order(findings: list[Finding]) -> list[Finding]:
    followers: dict[str, int] = defaultdict(int)
    for f in findings:
        if f.caused_by:
            followers[f.caused_by] += 1
    roots = [f for f in findings if not f.caused_by]
    roots.sort(key=lambda f: (severity_rank(f.severity), -followers[f.key], _priority(f.rule), f.object))
    position = {f.key: i for i, f in enumerate(roots)}
    rest = [f for f in findings if f.caused_by]
    rest.sort(key=lambda f: (position.get(f.caused_by or "", len(roots)), severity_rank(f.severity),
                             _priority(f.rule), f.object))
    return roots + rest


def rank(findings: list[Finding], owners: dict[str, str] | None = None, totals: dict[str, int] | None = None, *,
         keep: frozenset[str] = frozenset()) -> list[Finding]:
    """Fold, absorb, link and order (see the module docstring)."""
    folded = fold(findings, owners or {}, totals or {}, keep=keep)
    kept = absorb(folded)
    link(kept)
    return order(kept)
