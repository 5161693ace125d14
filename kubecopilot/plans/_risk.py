"""The rule-based risk engine: facts about a change in, a level, a score, factors and a rationale out.

Builders gather *facts* while they read the cluster (the namespace's labels, replicas before and after, the pods a
change disrupts, the PodDisruptionBudgets selecting them); the rules turn facts into weighted `RiskFactor`s; the
score combines the weights like independent risks (``1 - Π(1 - w)``), so two medium factors make more than one and
nothing passes 1. Each rule is a plain function of a `RiskContext`, so a team adds its own (``RiskConfig.rules``) or
drops one without touching the engine.

Configurable without code: namespace tiers (a label such as ``kubecopilot.io/tier`` beats name patterns), change
windows and freezes, and an error-budget hook — a callable returning the current burn rate of the affected
service (1.0 = spending the budget exactly as fast as allowed).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from kubecopilot.cluster._selectors import selector_matches as _selector_matches
from kubecopilot.plans._model import Risk, RiskFactor

if TYPE_CHECKING:
    from kubecopilot.plans._model import OperationPlan

__all__ = [
    "DEFAULT_RULES",
    "ChangeWindow",
    "Freeze",
    "RiskConfig",
    "RiskContext",
    "RiskFacts",
    "assess",
    "pdb_violations",
    "selector_matches",
]

_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclasses.dataclass(frozen=True)
class ChangeWindow:
    """When changes are routine: ``days`` like ``"mon-fri"`` or ``"mon,wed"``, ``start``/``end`` as ``"HH:MM"``
    in ``tz``. Outside every configured window a change is riskier (nobody expects it)."""

    days: str = "mon-fri"
    start: str = "09:00"
    end: str = "17:00"
    tz: str = "UTC"

    def contains(self, when: dt.datetime) -> bool:
        local = when.astimezone(ZoneInfo(self.tz))
        start, end = dt.time.fromisoformat(self.start), dt.time.fromisoformat(self.end)
        return _DAYS[local.weekday()] in _day_set(self.days) and start <= local.time() < end

    def __str__(self) -> str:
        return f"{self.days} {self.start}-{self.end} {self.tz}"


def _day_set(spec: str) -> set[str]:
    out: set[str] = set()
    for part in spec.lower().replace(" ", "").split(","):
        if "-" in part:
            a, b = part.split("-", 1)
            i, j = _DAYS.index(a[:3]), _DAYS.index(b[:3])
            out.update(_DAYS[k % 7] for k in range(i, (j if j >= i else j + 7) + 1))
        elif part:
            out.add(_DAYS[_DAYS.index(part[:3])])
    return out


@dataclasses.dataclass(frozen=True)
class Freeze:
    """A change freeze (a launch, a holiday): from ``start`` to ``end`` (aware datetimes or ISO strings)."""

    start: dt.datetime | str
    end: dt.datetime | str
    reason: str = "change freeze"

    def contains(self, when: dt.datetime) -> bool:
        return _aware(self.start) <= when < _aware(self.end)


def _aware(value: dt.datetime | str) -> dt.datetime:
    d = dt.datetime.fromisoformat(value) if isinstance(value, str) else value
    return d if d.tzinfo else d.replace(tzinfo=dt.UTC)


@dataclasses.dataclass
class RiskFacts:
    """What a builder learned about the change while reading the cluster (every field optional)."""

    namespace: str | None = None
    tier_labels: dict[str, str] = dataclasses.field(default_factory=dict)
    replicas_before: int | None = None
    replicas_after: int | None = None
    pods_total: int | None = None
    pods_available: int | None = None  # available now (status.availableReplicas); None when unknown
    pods_disrupted: int = 0
    disruptive: bool = False          # the change restarts/replaces pods (rollout, eviction, delete)
    pdb_violations: list[str] = dataclasses.field(default_factory=list)
    selected_pods: int | None = None  # a Service selector change: pods the new selector selects
    notes: list[tuple[str, float, str]] = dataclasses.field(default_factory=list)  # builder-specific factors


@dataclasses.dataclass
class RiskContext:
    """What every rule sees: the plan being built, the facts, the configuration and the time of assessment."""

    plan: OperationPlan
    facts: RiskFacts
    config: RiskConfig
    now: dt.datetime
    burn_rate: float | None = None  # the error-budget hook's answer (asked once per assessment)

    @property
    def action(self) -> str:
        return self.plan.action

    @property
    def tier(self) -> str | None:
        return self.config.tier_of(self.facts.namespace, self.facts.tier_labels)


Rule = Callable[[RiskContext], Iterable[RiskFactor]]


# -- the rules ---------------------------------------------------------------------------------------------------------
def namespace_tier(ctx: RiskContext) -> Iterable[RiskFactor]:
    tier = ctx.tier
    weight = ctx.config.tier_weights.get(tier or "", 0.0)
    if tier and weight > 0:
        where = f"namespace {ctx.facts.namespace}" if ctx.facts.namespace else ctx.plan.target
        yield RiskFactor(rule="namespace_tier", weight=weight, detail=f"{where} is {tier} tier")


_ACTION_WEIGHTS = {
    "delete": (0.35, "deletes the object (not reversible by KubeCopilot)"),
    "drain": (0.35, "drains the node: every evictable pod on it is evicted"),
    "set_selector": (0.3, "switches which pods the Service sends traffic to"),
    "patch": (0.2, "a free-form patch"),
    "rollback": (0.2, "rolls the workload back to an earlier revision"),
    "set_image": (0.2, "changes the image: every pod is replaced"),
    "set_env": (0.15, "changes the environment: every pod is replaced"),
    "set_resources": (0.15, "changes resources: every pod is replaced"),
    "apply": (0.15, "applies a manifest"),
    "restart": (0.1, "restarts every pod (rolling)"),
    "cordon": (0.1, "stops scheduling onto the node"),
    "suspend": (0.1, "stops the CronJob from starting jobs"),
}


def action_kind(ctx: RiskContext) -> Iterable[RiskFactor]:
    f = ctx.facts
    if ctx.action == "scale" and f.replicas_after == 0 and (f.replicas_before or 0) > 0:
        yield RiskFactor(rule="scale_to_zero", weight=0.65,
                         detail=f"scales to zero: all {f.replicas_before} replica(s) stop, the service goes down")
        return
    if ctx.action == "scale" and f.replicas_before is not None and f.replicas_after is not None:
        if f.replicas_after < f.replicas_before:
            yield RiskFactor(rule="action", weight=0.15,
                             detail=f"scales down from {f.replicas_before} to {f.replicas_after} replicas")
        return
    if ctx.action in _ACTION_WEIGHTS:
        weight, detail = _ACTION_WEIGHTS[ctx.action]
        yield RiskFactor(rule="action", weight=weight, detail=detail)


def blast_radius(ctx: RiskContext) -> Iterable[RiskFactor]:
    f = ctx.facts
    if f.pods_disrupted <= 1 or not f.disruptive:
        return
    if f.pods_total:
        share = min(1.0, f.pods_disrupted / f.pods_total)
        weight = round(0.1 + 0.3 * share, 3) if f.pods_disrupted >= 2 else 0.05
        yield RiskFactor(rule="blast_radius", weight=weight,
                         detail=f"disrupts {f.pods_disrupted} of {f.pods_total} pods ({share:.0%})")
    else:
        yield RiskFactor(rule="blast_radius", weight=min(0.5, 0.05 * f.pods_disrupted),
                         detail=f"disrupts {f.pods_disrupted} pods")


def single_replica(ctx: RiskContext) -> Iterable[RiskFactor]:
    f = ctx.facts
    # A single replica that is down already (crash looping, OOMKilled) loses nothing more by being replaced: the
    # change is the way back to availability, not a risk to it.
    if f.disruptive and f.pods_total == 1 and ctx.action not in ("scale", "drain") and f.pods_available != 0:
        yield RiskFactor(rule="single_replica", weight=0.35,
                         detail="the workload has a single replica: the change means downtime while it restarts")


def disruption_budget(ctx: RiskContext) -> Iterable[RiskFactor]:
    for text in ctx.facts.pdb_violations:
        yield RiskFactor(rule="pdb", weight=0.7, detail=text)


def service_selector(ctx: RiskContext) -> Iterable[RiskFactor]:
    if ctx.facts.selected_pods == 0:
        yield RiskFactor(rule="selector", weight=0.7,
                         detail="the new selector selects no pods: the Service would have no endpoints")


def time_window(ctx: RiskContext) -> Iterable[RiskFactor]:
    for freeze in ctx.config.freezes:
        if freeze.contains(ctx.now):
            yield RiskFactor(rule="freeze", weight=0.8, detail=f"inside a change freeze: {freeze.reason}")
            return
    windows = ctx.config.change_windows
    if windows and not any(w.contains(ctx.now) for w in windows):
        yield RiskFactor(rule="change_window", weight=0.3,
                         detail=f"outside the change windows ({'; '.join(map(str, windows))})")


def error_budget(ctx: RiskContext) -> Iterable[RiskFactor]:
    rate = ctx.burn_rate
    if rate is None:
        return
    threshold = ctx.config.burn_rate_threshold
    if rate > threshold:
        weight = 0.6 if rate >= 2 * threshold else 0.4
        yield RiskFactor(rule="error_budget", weight=weight,
                         detail=f"the error budget is burning at {rate:.1f}x (threshold {threshold:g}x)")


def builder_notes(ctx: RiskContext) -> Iterable[RiskFactor]:
    for rule, weight, detail in ctx.facts.notes:
        yield RiskFactor(rule=rule, weight=weight, detail=detail)


DEFAULT_RULES: tuple[Rule, ...] = (namespace_tier, action_kind, blast_radius, single_replica, disruption_budget,
                                   service_selector, time_window, error_budget, builder_notes)


@dataclasses.dataclass
class RiskConfig:
    """Everything the risk rules are tuned by. Change it with ``kubecopilot.plans.configure(...)``."""

    tier_label: str = "kubecopilot.io/tier"
    tier_patterns: dict[str, tuple[str, ...]] = dataclasses.field(default_factory=lambda: {
        "system": (r"^kube-", r"^kubecopilot-system$"),
        "production": (r"(^|[-_.])prod(uction)?($|[-_.])",),
        "staging": (r"(^|[-_.])stag(e|ing)($|[-_.])",),
    })
    tier_weights: dict[str, float] = dataclasses.field(default_factory=lambda: {
        "system": 0.6, "production": 0.45, "staging": 0.1})
    change_windows: list[ChangeWindow] = dataclasses.field(default_factory=list)
    freezes: list[Freeze] = dataclasses.field(default_factory=list)
    burn_rate: Callable[[OperationPlan], float | None] | None = None
    burn_rate_threshold: float = 1.0
    thresholds: tuple[float, float] = (0.3, 0.6)  # score at which risk becomes medium, high
    rules: list[Rule] = dataclasses.field(default_factory=lambda: list(DEFAULT_RULES))
    clock: Callable[[], dt.datetime] = dataclasses.field(default=lambda: dt.datetime.now(dt.UTC))

    def tier_of(self, namespace: str | None, labels: Mapping[str, str] | None = None) -> str | None:
        """The tier from the label (``kubecopilot.io/tier: production``), else the first matching name pattern."""
        label = (labels or {}).get(self.tier_label)
        if label:
            return label
        for tier, patterns in self.tier_patterns.items():
            if namespace and any(re.search(p, namespace) for p in patterns):
                return tier
        return None

    def burn_rate_of(self, plan: OperationPlan) -> float | None:
        if self.burn_rate is None:
            return None
        try:
            value = self.burn_rate(plan)
        except Exception as e:  # a broken metrics backend must not block planning; the risk says so
            import logging

            logging.getLogger("kubecopilot.plans").warning("burn-rate hook failed: %s", e)
            return None
        return None if value is None else float(value)


def assess(plan: OperationPlan, facts: RiskFacts, config: RiskConfig) -> Risk:
    """Run every rule; combine the factors into a score, a level and a one-line rationale."""
    rate = config.burn_rate_of(plan)
    ctx = RiskContext(plan=plan, facts=facts, config=config, now=config.clock(), burn_rate=rate)
    factors: list[RiskFactor] = []
    for rule in config.rules:
        factors.extend(rule(ctx))
    factors.sort(key=lambda f: -f.weight)
    remaining = 1.0
    for f in factors:
        remaining *= 1.0 - f.weight
    score = round(1.0 - remaining, 3)
    medium, high = config.thresholds
    level = "high" if score >= high else "medium" if score >= medium else "low"
    if factors:
        rationale = f"{level} risk ({score:.2f}): " + "; ".join(f.detail for f in factors[:3])
        if len(factors) > 3:
            rationale += f"; and {len(factors) - 3} more"
    else:
        rationale = "low risk: no risk rule matched this change"
    if rate is None:
        impact = None if config.burn_rate is None else "unknown: the burn-rate hook returned nothing"
    elif rate > config.burn_rate_threshold:
        impact = (f"burn rate {rate:.1f}x is above {config.burn_rate_threshold:g}x: any disruption now spends "
                  "error budget that is already short")
    else:
        impact = f"burn rate {rate:.1f}x: within budget"
    return Risk(level=level, score=score, rationale=rationale, factors=factors, slo_budget_impact=impact)


# -- selectors and PodDisruptionBudgets --------------------------------------------------------------------------------
def selector_matches(selector: Mapping[str, Any] | None, labels: Mapping[str, str] | None) -> bool:
    """A PDB's selector against labels: empty matches all (policy/v1 semantics)."""
    return _selector_matches(selector, labels, empty_matches=True)

def pdb_violations(pdbs: Iterable[Mapping[str, Any]], disrupted: Iterable[Mapping[str, Any]], *,
                   replicas_after: int | None = None, template_labels: Mapping[str, str] | None = None) -> list[str]:
    """Which PodDisruptionBudgets the change would violate, as sentences.

    ``disrupted`` are the pods a change evicts or deletes (each PDB may lose at most ``status.disruptionsAllowed``
    of them); ``replicas_after`` with ``template_labels`` is a scale-down (an integer ``minAvailable`` above the
    new replica count can never be met).
    """
    out = []
    disrupted = list(disrupted)
    for pdb in pdbs:
        name = (pdb.get("metadata") or {}).get("name", "?")
        spec, status = pdb.get("spec") or {}, pdb.get("status") or {}
        selector = spec.get("selector")
        if not selector:  # policy/v1beta1: an empty selector selects nothing
            continue
        hit = [p for p in disrupted if selector_matches(selector, (p.get("metadata") or {}).get("labels"))]
        allowed = int(status.get("disruptionsAllowed") or 0)
        if hit and len(hit) > allowed:
            out.append(f"PodDisruptionBudget {name} allows {allowed} disruption(s) now; the change disrupts "
                       f"{len(hit)} of its pods")
        min_avail = spec.get("minAvailable")
        if (replicas_after is not None and template_labels is not None and isinstance(min_avail, int)
                and selector_matches(selector, template_labels) and replicas_after < min_avail):
            out.append(f"PodDisruptionBudget {name} requires minAvailable={min_avail}; the change leaves "
                       f"{replicas_after} replica(s)")
    return out
