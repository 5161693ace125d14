"""What may be planned and who may approve it: the (action, kind) whitelist and the approval policy.

The whitelist bounds every source of plans alike — a person calling a builder, a diagnosis finding, the LLM (whose
only options are the whitelisted pairs) — so widening it is a deliberate act: ``kubecopilot.plans.configure(
whitelist=...)`` or a `Policy` passed to ``PlanBuilder``. The defaults cover routine SRE work on workloads, nodes,
CronJobs and Services; they leave out anything that touches credentials (Secrets) or access (RBAC).

Approval rules are per risk level: who may approve (``approvers``; ``None`` means any named person) and whether the
person who requested a plan may approve it themselves (``self_approval``; not for high risk by default — four eyes).
``runbook_max_risk`` is the highest risk a headless runbook may execute with a pre-recorded approval.
"""

from __future__ import annotations

import dataclasses
import getpass
import os
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from kubecopilot.errors import PlanApprovalError, PlanNotAllowedError
from kubecopilot.plans._intent import ACTIONS
from kubecopilot.plans._risk import RiskConfig

if TYPE_CHECKING:
    from kubecopilot.cluster._discovery import Kind
    from kubecopilot.plans._model import OperationPlan

__all__ = ["DEFAULT_WHITELIST", "Policy", "configure", "current_policy", "current_user", "normalise_whitelist"]

_WORKLOADS = ("Deployment", "StatefulSet", "DaemonSet")
DEFAULT_WHITELIST: dict[str, tuple[str, ...]] = {
    "scale": ("Deployment", "StatefulSet", "ReplicaSet"),
    "restart": _WORKLOADS,
    "set_image": (*_WORKLOADS, "CronJob"),
    "set_env": (*_WORKLOADS, "CronJob"),
    "set_resources": (*_WORKLOADS, "CronJob"),
    "set_selector": ("Service",),
    "patch": (*_WORKLOADS, "CronJob", "ConfigMap", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget",
              "Ingress"),
    "apply": (*_WORKLOADS, "CronJob", "Job", "ConfigMap", "Service", "HorizontalPodAutoscaler",
              "PodDisruptionBudget", "Ingress"),
    "delete": ("Pod", "Job", "ConfigMap"),
    "rollback": ("Deployment",),
    "cordon": ("Node",),
    "uncordon": ("Node",),
    "drain": ("Node",),
    "suspend": ("CronJob",),
    "resume": ("CronJob",),
}


def current_user() -> str:
    """Who is at the keyboard: ``$KUBECOPILOT_USER``, else the OS user."""
    name = os.environ.get("KUBECOPILOT_USER")
    if name:
        return name
    try:
        return getpass.getuser()
    except Exception:  # no passwd entry (containers with arbitrary uids)
        return f"uid-{os.getuid()}"


def normalise_whitelist(whitelist: Mapping[str, Iterable[str]] | Iterable[Any]) -> frozenset[tuple[str, str]]:
    """``{"scale": ["Deployment"]}``, ``[("scale", "Deployment")]`` or ``["scale:Deployment"]`` -> pairs of
    (action, lower-case kind); ``"*"`` as a kind allows every kind for that action."""
    pairs: list[tuple[str, str]] = []
    if isinstance(whitelist, Mapping):
        for action, kinds in whitelist.items():
            if isinstance(kinds, str):
                kinds = [kinds]
            pairs += [(action, k) for k in kinds]
    else:
        for item in whitelist:
            if isinstance(item, str):
                action, sep, kind = item.partition(":")
                if not sep:
                    raise ValueError(f"whitelist entry {item!r}: write it as 'action:Kind', e.g. 'scale:Deployment'")
                pairs.append((action, kind))
            else:
                action, kind = item
                pairs.append((action, kind))
    out = set()
    for action, kind in pairs:
        if action not in ACTIONS:
            raise ValueError(f"whitelist: unknown action {action!r}; actions are {', '.join(ACTIONS)}")
        out.add((action, str(kind).strip().lower()))
    return frozenset(out)


@dataclasses.dataclass
class Policy:
    """The whitelist, the approval rules and the risk configuration plans are built and approved under."""

    whitelist: frozenset[tuple[str, str]] = dataclasses.field(
        default_factory=lambda: normalise_whitelist(DEFAULT_WHITELIST))
    approvers: dict[str, frozenset[str] | None] = dataclasses.field(
        default_factory=lambda: {"low": None, "medium": None, "high": None})
    self_approval: dict[str, bool] = dataclasses.field(
        default_factory=lambda: {"low": True, "medium": True, "high": False})
    runbook_max_risk: str = "low"
    risk: RiskConfig = dataclasses.field(default_factory=RiskConfig)

    # -- whitelist ----------------------------------------------------------------------------------------------
    def allows(self, action: str, kind: str | Kind) -> bool:
        names = _kind_names(kind)
        return any((action, n) in self.whitelist for n in names) or (action, "*") in self.whitelist

    def allowed(self, action: str | None = None) -> list[tuple[str, str]]:
        """The whitelisted (action, kind) pairs, optionally for one action."""
        return sorted(p for p in self.whitelist if action is None or p[0] == action)

    def check(self, action: str, kind: str | Kind, target: str = "") -> None:
        """Raise `PlanNotAllowedError` naming what is allowed when (action, kind) is not whitelisted."""
        if action not in ACTIONS:
            raise PlanNotAllowedError(f"{action!r} is not a plan action; actions are {', '.join(ACTIONS)}")
        if self.allows(action, kind):
            return
        kind_name = kind if isinstance(kind, str) else kind.kind
        for_action = [k for a, k in self.allowed(action)]
        kinds_for = [a for a, k in self.allowed() if k in _kind_names(kind)]
        hints = []
        hints.append(f"{action} is allowed on: {', '.join(for_action)}" if for_action
                     else f"{action} is not allowed on any kind")
        if kinds_for:
            hints.append(f"{kind_name} allows: {', '.join(sorted(set(kinds_for)))}")
        raise PlanNotAllowedError(
            f"planning {action} on {kind_name}{' ' + target if target else ''} is not allowed by the plan whitelist "
            f"({'; '.join(hints)}). Widen it deliberately with kubecopilot.plans.configure(whitelist=...) if this "
            "change should be plannable.")

    def whitelist_for_llm(self) -> list[tuple[str, str]]:
        """The pairs an LLM may choose from (``patch`` is for people only: a model never writes patches)."""
        return [p for p in self.allowed() if p[0] != "patch"]

    # -- approval -------------------------------------------------------------------------------------------------
    def check_approver(self, plan: OperationPlan, by: str) -> None:
        """Raise `PlanApprovalError` when ``by`` may not approve ``plan`` (names the rule and who may)."""
        level = plan.risk.level
        allowed = self.approvers.get(level)
        if allowed is not None and by not in allowed:
            raise PlanApprovalError(
                f"{by!r} may not approve a {level}-risk plan; approvers for {level} risk are "
                f"{', '.join(sorted(allowed)) or '(nobody)'} (kubecopilot.plans.configure(approvers=...))")
        if by == plan.audit.requested_by and not self.self_approval.get(level, True):
            raise PlanApprovalError(
                f"{by!r} requested this {level}-risk plan and may not approve it too: {level}-risk changes need a "
                "second person (four eyes). Ask a colleague to approve it (kubecopilot.plans.load(plan_id) in their "
                "notebook), or change the rule with kubecopilot.plans.configure(self_approval=...).")


def _kind_names(kind: str | Kind) -> set[str]:
    if isinstance(kind, str):
        return {kind.strip().lower()}
    return {kind.kind.lower(), kind.plural, kind.singular, kind.full_name, *(s.lower() for s in kind.short_names)}


_policy = Policy()


def current_policy() -> Policy:
    """The process-wide default policy (what ``configure`` changes)."""
    return _policy


def configure(*, whitelist: Mapping[str, Iterable[str]] | Iterable[Any] | None = None,
              policy: Policy | None = None, approvers: Mapping[str, Iterable[str] | None] | None = None,
              self_approval: Mapping[str, bool] | None = None, runbook_max_risk: str | None = None,
              risk: RiskConfig | None = None, **risk_options: Any) -> Policy:
    """Change the default policy; returns it. ``policy=`` replaces it whole; the other arguments change one part:
    ``whitelist`` (see `normalise_whitelist`), ``approvers`` per risk level, ``self_approval`` per level, ``risk``
    (a `RiskConfig`) or single `RiskConfig` fields as keywords (``tier_label=``, ``freezes=``, ``burn_rate=``...)."""
    global _policy
    if policy is not None:
        _policy = policy
    p = _policy
    if whitelist is not None:
        p.whitelist = normalise_whitelist(whitelist)
    if approvers is not None:
        for level, names in approvers.items():
            _level(level)
            p.approvers[level] = None if names is None else frozenset(names)
    if self_approval is not None:
        for level, flag in self_approval.items():
            p.self_approval[_level(level)] = bool(flag)
    if runbook_max_risk is not None:
        p.runbook_max_risk = _level(runbook_max_risk)
    if risk is not None:
        p.risk = risk
    for key, value in risk_options.items():
        if not hasattr(p.risk, key):
            fields = ", ".join(f.name for f in dataclasses.fields(RiskConfig))
            raise TypeError(f"configure() got an unknown option {key!r}; risk options are: {fields}")
        setattr(p.risk, key, value)
    return p


def _level(level: str) -> str:
    if level not in ("low", "medium", "high"):
        raise ValueError(f"risk level {level!r}: use low, medium or high")
    return level
