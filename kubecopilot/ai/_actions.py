"""Risk annotation: the model's suggested actions become `PlanIntent`s only if they pass the whitelist.

An LLM may *suggest*; it never decides what can be planned. Each suggestion is checked against `ACTIONS`
(the intent vocabulary), against the rule that a model never writes patches (``patch``/``apply`` are for
humans), and against an (action, kind) whitelist. Whatever fails is dropped with a note saying why, so the
explanation shows what was suggested and not kept. Kept suggestions become intents with
``source="llm:<prompt id>@<version>"``; the plan builders do the rest from a live read, and a human approves.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from pydantic import ValidationError

from kubecopilot.ai._schemas import SuggestedAction, params_to_dict
from kubecopilot.plans._intent import ACTIONS, PlanIntent

__all__ = ["DEFAULT_WHITELIST", "LLM_ACTIONS", "allowed_pair", "annotate_actions", "normalize_kind",
           "normalize_whitelist"]

#: Actions only a human may request: they carry a free-form change.
HUMAN_ONLY = frozenset({"patch", "apply"})
#: The intent vocabulary a model may draw from.
LLM_ACTIONS: tuple[str, ...] = tuple(a for a in ACTIONS if a not in HUMAN_ONLY)

#: (action, kind) pairs a model may propose when neither the caller nor the plans policy gives a whitelist.
DEFAULT_WHITELIST: tuple[tuple[str, str], ...] = (
    ("scale", "deployment"), ("scale", "statefulset"), ("scale", "replicaset"),
    ("restart", "deployment"), ("restart", "statefulset"), ("restart", "daemonset"),
    ("set_image", "deployment"), ("set_image", "statefulset"), ("set_image", "daemonset"),
    ("set_env", "deployment"), ("set_env", "statefulset"), ("set_env", "daemonset"),
    ("set_resources", "deployment"), ("set_resources", "statefulset"), ("set_resources", "daemonset"),
    ("set_selector", "service"),
    ("rollback", "deployment"),
    ("delete", "pod"), ("delete", "job"),
    ("cordon", "node"), ("uncordon", "node"), ("drain", "node"),
    ("suspend", "cronjob"), ("resume", "cronjob"),
)  # fmt: skip

_ALIASES = {
    "deploy": "deployment", "sts": "statefulset", "ds": "daemonset", "rs": "replicaset", "svc": "service",
    "po": "pod", "no": "node", "cj": "cronjob", "ns": "namespace", "cm": "configmap", "pvc": "persistentvolumeclaim",
    "hpa": "horizontalpodautoscaler", "ing": "ingress", "ingresses": "ingress",
}  # fmt: skip
CLUSTER_SCOPED = frozenset({"node", "namespace", "persistentvolume", "storageclass", "clusterrole",
                            "clusterrolebinding"})


def normalize_kind(kind: str) -> str:
    """``Deployment``, ``deployments``, ``deployments.apps``, ``deploy`` → ``deployment``."""
    k = kind.strip().lower().split(".", 1)[0].split("/", 1)[0]
    k = _ALIASES.get(k, k)
    if k == "endpoints" or k.endswith("ss"):
        return k
    if k.endswith("ies"):
        return k[:-3] + "y"
    if k.endswith("s"):
        k = k[:-1]
    return _ALIASES.get(k, k)


def _policy_whitelist() -> Iterable[tuple[str, str]]:
    """The configured plans policy's pairs for models (one source of truth with the plan builders), else ours."""
    try:
        from kubecopilot.plans import current_policy

        return list(current_policy().whitelist_for_llm())
    except (ImportError, AttributeError):
        return DEFAULT_WHITELIST


def normalize_whitelist(pairs: Iterable[tuple[str, str]] | None) -> tuple[tuple[str, str], ...]:
    """The pairs a model may use: ``pairs`` (default: the plans policy's ``whitelist_for_llm()``, else
    `DEFAULT_WHITELIST`) with kinds normalised and ``patch``/``apply`` removed whatever was passed.
    A kind of ``"*"`` allows every kind for that action."""
    source = _policy_whitelist() if pairs is None else pairs
    out: list[tuple[str, str]] = []
    for action, kind in source:
        pair = (action, "*" if kind == "*" else normalize_kind(kind))
        if action in LLM_ACTIONS and pair not in out:
            out.append(pair)
    return tuple(sorted(out))


def allowed_pair(action: str, kind: str, allowed: Iterable[tuple[str, str]]) -> bool:
    pairs = set(allowed)
    return (action, kind) in pairs or (action, "*") in pairs


def annotate_actions(actions: Sequence[SuggestedAction], *, source: str,
                     whitelist: Iterable[tuple[str, str]] | None = None,
                     default_namespace: str | None = None) -> tuple[list[PlanIntent], list[str]]:
    """The suggestions that pass as `PlanIntent`s, and one note per suggestion that was dropped."""
    allowed = set(normalize_whitelist(whitelist))
    intents: list[PlanIntent] = []
    notes: list[str] = []
    for s in actions:
        kind = normalize_kind(s.kind) if s.kind else ""
        label = f"{s.action} {kind or '?'}/{(s.namespace + '/') if s.namespace else ''}{s.name}"
        if s.action in HUMAN_ONLY:
            notes.append(f"dropped suggestion '{label}': a model may not write patches or manifests, only intents")
            continue
        if s.action not in ACTIONS:
            notes.append(f"dropped suggestion '{label}': {s.action!r} is not a known action "
                         f"(known: {', '.join(LLM_ACTIONS)})")
            continue
        if not allowed_pair(s.action, kind, allowed):
            notes.append(f"dropped suggestion '{label}': ({s.action}, {kind}) is not on the whitelist")
            continue
        if not s.name.strip():
            notes.append(f"dropped suggestion '{label}': it names no object")
            continue
        namespace = None if kind in CLUSTER_SCOPED else (s.namespace or default_namespace)
        try:
            intents.append(PlanIntent(action=s.action, kind=kind, name=s.name.strip(), namespace=namespace,
                                      parameters=params_to_dict(s.parameters), reason=s.reason, source=source))
        except (ValueError, ValidationError) as e:
            first = e.errors(include_url=False)[0]["msg"] if isinstance(e, ValidationError) else str(e)
            notes.append(f"dropped suggestion '{label}': {first}")
    return intents, notes
