"""Natural-language requests -> `PlanIntent`: a small offline parser for common phrasings, and the LLM for the rest.

The parser knows the phrasings SREs actually type (``PHRASINGS``); anything else goes to the LLM when one is
configured (`kubecopilot.ai.intent_from_text`, given the whitelist as its only options), and otherwise fails with
the list of phrasings it understands. Either way the result is an *intent* — action, object, parameters — and the
plan builders compute the change from the live object: text never becomes a patch.

Objects can be named ``NAME``, ``KIND NAME``, ``KIND/NAME``, ``NAMESPACE/NAME``, ``KIND/NAMESPACE/NAME``; the
namespace also as ``in NAMESPACE``, ``in namespace NAMESPACE``, ``-n NAMESPACE``.
"""

from __future__ import annotations

import re
from typing import Any

from kubecopilot.errors import LLMError, LLMUnavailableError, PlanError
from kubecopilot.plans._intent import PlanIntent

__all__ = ["PHRASINGS", "parse_intent", "plan_from_text"]

PHRASINGS: tuple[str, ...] = (
    "scale billing-api in payments to 5",
    "scale statefulset/db to 3 replicas -n data",
    "restart deploy/payments/billing-api",
    "rollback billing-api in payments [to revision 3]",
    "set image of billing-api [container app] to nginx:1.27 in payments",
    "set image deploy/billing-api app=nginx:1.27",
    "cordon node-1 / uncordon node/node-1 / drain node-1",
    "suspend cronjob nightly-report in batch / resume cronjob/batch/nightly-report",
    "delete pod web-7d9c-x2k in payments",
)

_KINDS = {
    "deployment": "deployment", "deployments": "deployment", "deploy": "deployment",
    "statefulset": "statefulset", "statefulsets": "statefulset", "sts": "statefulset",
    "daemonset": "daemonset", "daemonsets": "daemonset", "ds": "daemonset",
    "replicaset": "replicaset", "replicasets": "replicaset", "rs": "replicaset",
    "cronjob": "cronjob", "cronjobs": "cronjob", "cj": "cronjob",
    "pod": "pod", "pods": "pod", "po": "pod",
    "node": "node", "nodes": "node", "no": "node",
    "service": "service", "services": "service", "svc": "service",
    "job": "job", "jobs": "job",
}  # fmt: skip
_DEFAULT_KIND = {"scale": "deployment", "restart": "deployment", "rollback": "deployment", "set_image": "deployment",
                 "cordon": "node", "uncordon": "node", "drain": "node", "suspend": "cronjob", "resume": "cronjob",
                 "delete": "pod"}
_NAME = r"[a-z0-9](?:[a-z0-9.\-]*[a-z0-9])?"
_TARGET = r"[a-z0-9][a-z0-9.\-/]*"
_KIND = "(?:" + "|".join(sorted(_KINDS, key=len, reverse=True)) + ")"
_NS = re.compile(
    rf"(?:\s+in\s+(?:the\s+)?(?:namespace|ns)\s+|\s+in\s+|\s+-n\s*|\s+--namespace[=\s]+|\s+namespace\s+)({_NAME})"
    r"(?=\s|$)")
_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = tuple((a, re.compile(p)) for a, p in (
    ("scale", rf"^scale\s+(?:up\s+|down\s+)?(?:(?P<kind>{_KIND})\s+)?(?P<target>{_TARGET})\s+"
              r"(?:to\s+|--replicas[=\s]+|replicas[=\s]+)(?P<replicas>\d+)(?:\s+(?:replicas?|pods?|instances?))?$"),
    ("restart", rf"^(?:rollout\s+)?restart\s+(?:(?P<kind>{_KIND})\s+)?(?P<target>{_TARGET})$"),
    ("rollback", rf"^(?:roll\s*back|rollout\s+undo|undo)\s+(?:(?P<kind>{_KIND})\s+)?(?P<target>{_TARGET})"
                 r"(?:\s+to\s+(?:the\s+)?(?:revision\s+|rev\s+)?(?P<revision>\d+))?$"),
    ("set_image", rf"^(?:set|update|change)\s+(?:the\s+)?image\s+(?:of\s+)?(?:(?P<kind>{_KIND})\s+)?"
                  rf"(?P<target>{_TARGET})(?:\s+container\s+(?P<container>{_NAME}))?\s+to\s+(?P<image>\S+)$"),
    ("set_image", rf"^set\s+image\s+(?:(?P<kind>{_KIND})\s+)?(?P<target>{_TARGET})\s+(?P<container>{_NAME})="
                  r"(?P<image>\S+)$"),
    ("node", rf"^(?P<verb>cordon|uncordon|drain)\s+(?:(?P<kind>node|nodes|no)\s+)?(?P<target>{_TARGET})$"),
    ("cronjob", rf"^(?P<verb>suspend|resume|pause|unpause)\s+(?:(?P<kind>{_KIND})\s+)?(?P<target>{_TARGET})$"),
    ("delete", rf"^delete\s+(?:(?P<kind>pod|pods|po)\s+)?(?P<target>{_TARGET})$"),
))


def _understood() -> str:
    return "; ".join(f"'{p}'" for p in PHRASINGS)


def parse_intent(text: str) -> PlanIntent:
    """The intent of a request in one of the known phrasings (`PHRASINGS`); `PlanError` listing them otherwise."""
    if not isinstance(text, str) or not text.strip():
        raise PlanError(f"empty request; phrasings understood offline: {_understood()}")
    original = text.strip()
    s = " ".join(original.lower().rstrip(".!").split())
    s = re.sub(r"^(?:please\s+|can you\s+|could you\s+)", "", s)
    namespace = None
    m = _NS.search(s)
    if m:
        namespace = m.group(1)
        s = (s[: m.start()] + s[m.end():]).strip()
    for action, pattern in _PATTERNS:
        m = pattern.match(s)
        if not m:
            continue
        g = m.groupdict()
        if action == "node":
            action = g["verb"]
        elif action == "cronjob":
            action = {"pause": "suspend", "unpause": "resume"}.get(g["verb"], g["verb"])
        kind, ns, name = _target(g["target"], g.get("kind"), _DEFAULT_KIND[action])
        if ns and namespace and ns != namespace:
            raise PlanError(f"{original!r} names namespace {ns!r} and {namespace!r}: say one")
        params: dict[str, Any] = {}
        if action == "scale":
            params["replicas"] = int(g["replicas"])
        elif action == "rollback" and g.get("revision"):
            params["revision"] = int(g["revision"])
        elif action == "set_image":
            params["image"] = _original_case(original, g["image"])
            if g.get("container"):
                params["container"] = g["container"]
        if action == "delete" and kind != "pod":
            raise PlanError(f"the offline parser deletes pods only ({original!r}); build other deletes with "
                            "ws.plan.delete('kind/namespace/name')")
        return PlanIntent(action=action, kind=kind, name=name, namespace=None if kind == "node" else (ns or namespace),
                          parameters=params, reason=original, source="parser")
    raise PlanError(f"cannot understand {original!r} offline. Phrasings understood: {_understood()}. Configure an "
                    "LLM (kubecopilot.ai) for free-form requests, or call a builder such as ws.plan.scale(...).")


def _target(target: str, kind_word: str | None, default: str) -> tuple[str, str | None, str]:
    parts = [p for p in target.split("/") if p]
    kind = _KINDS.get(kind_word or "")
    if parts and parts[0] in _KINDS and len(parts) >= 2:
        if kind and _KINDS[parts[0]] != kind:
            raise PlanError(f"{target!r} is a {parts[0]} but the request says {kind_word}")
        kind = _KINDS[parts[0]]
        parts = parts[1:]
    kind = kind or default
    if len(parts) == 1:
        return kind, None, parts[0]
    if len(parts) == 2 and kind != "node":
        return kind, parts[0], parts[1]
    raise PlanError(f"cannot read {target!r} as an object: use NAME, KIND/NAME, NAMESPACE/NAME or "
                    "KIND/NAMESPACE/NAME")


def _original_case(original: str, lowered: str) -> str:
    """Image references keep the user's case (registries are case-sensitive in paths)."""
    i = original.lower().find(lowered)
    return original[i: i + len(lowered)] if i >= 0 else lowered


def plan_from_text(ws: Any, text: str, *, use_llm: bool | None = None, **options: Any) -> Any:
    """``ws.ask_plan(text)``: text -> `PlanIntent` -> `OperationPlan`.

    ``use_llm=None`` (default): the offline parser first (exact, free, no network); phrasing it does not know goes
    to the LLM if one is configured. ``True``: the LLM only. ``False``: the parser only.
    """
    from kubecopilot.plans._policy import current_policy

    parser_error: PlanError | None = None
    intent: PlanIntent | None = None
    if use_llm is not True:
        try:
            intent = parse_intent(text)
        except PlanError as e:
            parser_error = e
            if use_llm is False:
                raise
    if intent is None:
        try:
            from kubecopilot.ai import intent_from_text
        except ImportError:
            intent_from_text = None
        if intent_from_text is None:
            if parser_error is not None:
                raise parser_error
            raise LLMUnavailableError("kubecopilot.ai is not installed in this environment: no LLM can read the "
                                      "request; use the offline phrasings or a builder")
        try:
            intent = intent_from_text(text, whitelist=current_policy().whitelist_for_llm(), namespace=ws.namespace)
        except LLMError as e:
            if parser_error is not None:
                raise PlanError(f"{parser_error} (the LLM could not help either: {e})") from None
            raise
        if not isinstance(intent, PlanIntent):
            intent = PlanIntent.model_validate(intent)
    return ws.plan.from_intent(intent, **options)
