"""`Workbench`: what `kc.connect` returns — one named connection plus its health report."""

from __future__ import annotations

import html
import re
import time
from dataclasses import dataclass, field
from typing import Any

from kubecopilot.cluster._browse import BrowseMixin
from kubecopilot.cluster._connection import Connection
from kubecopilot.cluster._inspect import InspectMixin
from kubecopilot.cluster._kubeconfig import TokenFacts
from kubecopilot.cluster._refs import ObjectRef, parse_ref
from kubecopilot.errors import (
    ClusterApiError,
    ClusterAuthError,
    ClusterForbiddenError,
    ClusterUnreachableError,
)

__all__ = ["Health", "Identity", "Rule", "Workbench"]


@dataclass(frozen=True)
class Rule:
    """One resource rule of a SelfSubjectRulesReview."""

    verbs: tuple[str, ...]
    resources: tuple[str, ...]
    api_groups: tuple[str, ...] = ("",)
    resource_names: tuple[str, ...] = ()

    def allows(self, verb: str, resource: str, group: str = "") -> bool:
        return ((("*" in self.verbs) or verb in self.verbs)
                and (("*" in self.resources) or resource in self.resources)
                and (("*" in self.api_groups) or group in self.api_groups)
                and not self.resource_names)


@dataclass(frozen=True)
class Identity:
    """Who the connection is, from each source that can tell, kept apart."""

    kubeconfig_user: str | None
    token_subject: str | None = None
    server_username: str | None = None
    server_groups: tuple[str, ...] = ()
    note: str = ""

    def __str__(self) -> str:
        parts = [f"kubeconfig user {self.kubeconfig_user!r}"]
        if self.token_subject:
            parts.append(f"token subject {self.token_subject!r}")
        if self.server_username:
            groups = f" (groups {', '.join(self.server_groups)})" if self.server_groups else ""
            parts.append(f"server says {self.server_username!r}{groups}")
        elif self.note:
            parts.append(self.note)
        return "; ".join(parts)


@dataclass
class Health:
    """Reachability, version, identity, permissions and credential facts of one connection."""

    context: str
    server: str
    namespace: str
    reachable: bool
    server_version: str | None
    user: Identity
    credential: str
    token: TokenFacts
    authenticated: bool | None
    rules: list[Rule] = field(default_factory=list)
    rules_incomplete: bool = False
    latency_ms: float | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.reachable and bool(self.authenticated) and not self.problems

    def can(self, verb: str, resource: str, group: str = "") -> bool:
        """Whether the reviewed rules (for `namespace`) allow ``verb`` on ``resource`` of ``group``."""
        return any(r.allows(verb, resource, group) for r in self.rules)

    def rules_frame(self) -> Any:
        """The rules as a small pandas DataFrame (verbs, resources, api_groups, resource_names)."""
        import pandas as pd

        return pd.DataFrame(
            [{"verbs": ",".join(r.verbs), "resources": ",".join(r.resources),
              "api_groups": ",".join(g or '""' for g in r.api_groups), "resource_names": ",".join(r.resource_names)}
             for r in self.rules], columns=["verbs", "resources", "api_groups", "resource_names"])

    def _status(self) -> str:
        if not self.reachable:
            return "UNREACHABLE"
        if self.authenticated is False:
            return "NOT AUTHENTICATED"
        return "OK" if not self.problems else "DEGRADED"

    def __repr__(self) -> str:
        return (f"Health(context={self.context!r}, status={self._status()!r}, version={self.server_version!r}, "
                f"user={self.user.server_username or self.user.kubeconfig_user!r}, rules={len(self.rules)}, "
                f"problems={len(self.problems)})")

    def _lines(self) -> list[tuple[str, str]]:
        lat = f" ({self.latency_ms:.0f} ms)" if self.latency_ms is not None else ""
        auth = {True: "yes (a real request succeeded)", False: "NO (the server rejects the credentials)",
                None: "unknown"}[self.authenticated]
        return [
            ("status", self._status()),
            ("server", f"{self.server}{lat}"),
            ("reachable", "yes" if self.reachable else "no"),
            ("version", self.server_version or "unknown"),
            ("identity", str(self.user)),
            ("credential", self.credential),
            ("token", self.token.describe()),
            ("authenticated", auth),
            ("rules", f"{len(self.rules)} in namespace {self.namespace!r}"
                      + (" (incomplete)" if self.rules_incomplete else "")),
        ]

    def __str__(self) -> str:
        out = [f"Health of {self.context}"] + [f"  {k:<14}{v}" for k, v in self._lines()]
        for r in self.rules[:20]:
            out.append(f"    {','.join(r.verbs):<32} {','.join(r.resources)}")
        if len(self.rules) > 20:
            out.append(f"    ... {len(self.rules) - 20} more (health.rules_frame())")
        out += [f"  problem: {p}" for p in self.problems]
        return "\n".join(out)

    def _repr_html_(self) -> str:
        e = html.escape
        colour = {"OK": "#1a7f37", "DEGRADED": "#9a6700"}.get(self._status(), "#cf222e")
        rows = "".join(f"<tr><th style='text-align:left'>{e(k)}</th><td>{e(v)}</td></tr>" for k, v in self._lines())
        rules = "".join(f"<tr><td>{e(','.join(r.verbs))}</td><td>{e(','.join(r.resources))}</td>"
                        f"<td>{e(','.join(g or 'core' for g in r.api_groups))}</td></tr>" for r in self.rules[:50])
        probs = "".join(f"<li>{e(p)}</li>" for p in self.problems)
        return (f"<div><b>Health of {e(self.context)}</b> <span style='color:{colour}'>{e(self._status())}</span>"
                f"<table>{rows}</table>"
                + (f"<details><summary>rules ({len(self.rules)})</summary><table><tr><th>verbs</th>"
                   f"<th>resources</th><th>groups</th></tr>{rules}</table></details>" if self.rules else "")
                + (f"<ul>{probs}</ul>" if probs else "") + "</div>")


def _minor(version: str | None) -> int | None:
    m = re.match(r"v?(\d+)\.(\d+)", version or "")
    return int(m[2]) if m and m[1] == "1" else None


class Workbench(BrowseMixin, InspectMixin):
    """One named connection: the object `kc.connect()` returns. Browsing builds on `raw`: ``list(kind, ...)``,
    ``kinds()``, ``kind(name)`` and the shortcuts ``pods()``, ``deployments()``, ``nodes()``, ... (`SHORTCUTS`)."""

    def __init__(self, connection: Connection, *, name: str | None = None, namespace: str | None = None) -> None:
        self._conn = connection
        self.name = name or connection.context
        self.namespace = namespace or connection.namespace

    @property
    def raw(self) -> Connection:
        """The raw-JSON connection (``request``, ``get``, ``get_text``, ``list``)."""
        return self._conn

    @property
    def context(self) -> str:
        return self._conn.context

    @property
    def server(self) -> str:
        return self._conn.server

    @property
    def user(self) -> str | None:
        return self._conn.user

    def close(self) -> None:
        self._conn.close()

    def __repr__(self) -> str:
        return (f"Workbench({self.name!r}, context={self.context!r}, server={self.server!r}, "
                f"user={self.user!r}, namespace={self.namespace!r})")

    def __str__(self) -> str:
        return repr(self)

    def _repr_html_(self) -> str:
        e = html.escape
        return (f"<div><b>Workbench {e(self.name)}</b> — context <code>{e(self.context)}</code>, "
                f"user <code>{e(str(self.user))}</code>, server <code>{e(self.server)}</code>, "
                f"namespace <code>{e(self.namespace)}</code></div>")

    # -- single objects ----------------------------------------------------------------------------------------
    def ref(self, ref: str | ObjectRef, name: str | None = None, namespace: str | None = None) -> ObjectRef:
        """Resolve ``"deployment/payments/billing-api"`` (or ``kind, name, namespace=``) to an `ObjectRef`;
        namespaced kinds default to this workbench's namespace."""
        if isinstance(ref, ObjectRef):
            return ref
        return parse_ref(self._conn, ref, name, namespace, default_namespace=self.namespace)

    def read(self, ref: str | ObjectRef, name: str | None = None, namespace: str | None = None) -> dict[str, Any]:
        """The live object as a plain dict (one GET; `ResourceNotFoundError` names what is missing)."""
        return self._conn.get(self.ref(ref, name, namespace).path)

    # -- diagnosis, AI and plans (implemented in their packages; imported on first use) -------------------------
    def diagnose(self, ref: str | ObjectRef, name: str | None = None, namespace: str | None = None,
                 **options: Any) -> Any:
        """Gather evidence about one object and run the analyzers: a `Diagnosis` (see `kubecopilot.diagnose`)."""
        from kubecopilot.diagnose import diagnose

        return diagnose(self, self.ref(ref, name, namespace), **options)

    def triage(self, namespace: str | None = None, **options: Any) -> Any:
        """Every analyzer over a namespace (or the cluster): findings, root causes first (`kubecopilot.diagnose`)."""
        from kubecopilot.diagnose import triage

        return triage(self, namespace, **options)

    def ask(self, question: str, namespace: str | None = None, **options: Any) -> Any:
        """Answer a free-form question from gathered evidence (`kubecopilot.ai`); offline: the rule-based view."""
        from kubecopilot.ai import ask

        return ask(self, question, namespace=namespace, **options)

    @property
    def plan(self) -> Any:
        """The plan builders bound to this workbench: ``ws.plan.scale("deployment/ns/name", 3)``, ...
        (`kubecopilot.plans`)."""
        from kubecopilot.plans import PlanBuilder

        return PlanBuilder(self)

    def ask_plan(self, request: str, **options: Any) -> Any:
        """``"scale billing-api in payments to 5"`` → `PlanIntent` → `OperationPlan` (never a free-form patch)."""
        from kubecopilot.plans import plan_from_text

        return plan_from_text(self, request, **options)

    def deploy(self, target: Any = None, image: str | None = None, **options: Any) -> Any:
        """A progressive rollout on this workbench (`kubecopilot.rollouts`):
        ``ws.deploy("web", "web:1.1", strategy="canary", approved_by="alice")``."""
        from kubecopilot.rollouts import rollout

        return rollout(target, image, ws=self, **options)

    # -- health ----------------------------------------------------------------------------------------------
    def health(self, namespace: str | None = None) -> Health:
        """Reachability, server version, identity, rules in ``namespace`` and token facts; never raises for
        cluster problems (they land in ``problems``)."""
        conn = self._conn
        ns = namespace or self.namespace
        problems: list[str] = []
        facts = conn.token_facts()
        h = Health(context=self.context, server=self.server, namespace=ns, reachable=False, server_version=None,
                   user=Identity(conn.user, facts.subject), credential=conn.credential_kind, token=facts,
                   authenticated=None, problems=problems)
        t0 = time.monotonic()
        try:
            version = conn.version()
            h.reachable, h.authenticated = True, True
        except ClusterUnreachableError as e:
            problems.append(str(e))
            return h
        except ClusterAuthError as e:
            h.reachable, h.authenticated = True, False
            problems.append(str(e))
            version = self._anonymous_version()
        except ClusterApiError as e:  # e.g. 403 for /version: reachable and authenticated, just not allowed
            h.reachable, h.authenticated = True, True
            problems.append(f"cannot read the server version: {e}")
            version = {}
        h.latency_ms = (time.monotonic() - t0) * 1000
        h.server_version = version.get("gitVersion")
        if h.authenticated:
            self._review_rules(h, ns)
            h.user = self._identity(h)
        self._compare_token(h)
        return h

    def _anonymous_version(self) -> dict[str, Any]:
        try:
            status, body = self._conn.probe("/version")
        except ClusterUnreachableError:
            return {}
        return body if status == 200 else {}

    def _review_rules(self, h: Health, ns: str) -> None:
        body = {"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectRulesReview", "spec": {"namespace": ns}}
        try:
            review = self._conn.request("POST", "/apis/authorization.k8s.io/v1/selfsubjectrulesreviews", body=body)
        except ClusterForbiddenError as e:
            h.problems.append(f"cannot review own permissions: {e}")
            return
        except ClusterApiError as e:
            h.problems.append(f"SelfSubjectRulesReview failed: {e}")
            return
        status = review.get("status") or {}
        h.rules = [Rule(tuple(r.get("verbs") or ()), tuple(r.get("resources") or ()),
                        tuple(r.get("apiGroups") or ("",)), tuple(r.get("resourceNames") or ()))
                   for r in status.get("resourceRules") or []]
        h.rules_incomplete = bool(status.get("incomplete"))
        if status.get("evaluationError"):
            h.problems.append(f"rules review is incomplete: {status['evaluationError']}")

    def _identity(self, h: Health) -> Identity:
        conn = self._conn
        minor = _minor(h.server_version)
        base = Identity(conn.user, h.token.subject)
        if minor is None or minor < 27:
            return Identity(conn.user, h.token.subject, note=(
                f"the server ({h.server_version or 'unknown version'}) cannot tell who you are: "
                "SelfSubjectReview needs Kubernetes 1.27+"))
        version = "v1" if minor >= 28 else "v1beta1"
        try:
            review = conn.request("POST", f"/apis/authentication.k8s.io/{version}/selfsubjectreviews",
                                  body={"apiVersion": f"authentication.k8s.io/{version}", "kind": "SelfSubjectReview"})
        except ClusterApiError as e:  # 404 on servers without the API, 403 where it is not allowed
            return Identity(base.kubeconfig_user, base.token_subject, note=f"SelfSubjectReview failed: {e}")
        info = (review.get("status") or {}).get("userInfo") or {}
        return Identity(base.kubeconfig_user, base.token_subject, info.get("username"),
                        tuple(info.get("groups") or ()))

    @staticmethod
    def _compare_token(h: Health) -> None:
        """Report what the token claims and what the server did as two separate facts, and flag disagreement."""
        t = h.token
        if t.kind != "jwt" or h.authenticated is None:
            return
        if t.expired and h.authenticated:
            h.problems.append(f"the token's JWT says it expired at {t.expires_at:%Y-%m-%d %H:%M:%S}Z, yet the server "
                              "still accepts it (clock skew, or the server does not check this token's expiry)")
        elif t.expired is False and not h.authenticated:
            h.problems.append(f"the token looks valid (issuer {t.issuer}, expires {t.expires_at:%Y-%m-%d %H:%M}Z) "
                              "but the server rejects it: revoked, or issued by another cluster")
        elif t.expired and not h.authenticated:
            h.problems.append(f"the token expired at {t.expires_at:%Y-%m-%d %H:%M:%S}Z: get a fresh one")
