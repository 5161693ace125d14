"""Load and validate kubeconfigs without touching the kubernetes client's global configuration.

Sources: a path (or several joined with ``os.pathsep``, like ``$KUBECONFIG``), a dict, YAML text, the default
locations (``$KUBECONFIG``, then ``~/.kube/config``), or the in-cluster service account. Several files are merged
the way kubectl merges them: the first file that defines a name (cluster, user, context, current-context) wins.

Validation errors (`KubeconfigError`) name the source and a dotted field path (``users[0].user.token``, indexes
counted in the file that defined the entry) and never quote a secret value. Relative file references are resolved
against the directory of the file that holds them.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import copy
import difflib
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from kubecopilot.errors import ContextNotFoundError, KubeconfigError

__all__ = [
    "IN_CLUSTER",
    "Kubeconfig",
    "ResolvedContext",
    "TokenFacts",
    "closest",
    "decode_jwt_claims",
    "load_kubeconfig",
    "redact_url",
    "token_facts",
]

IN_CLUSTER = "in-cluster"
SA_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")

# Fields whose values are secrets: never quoted, never shown.
SECRET_USER_FIELDS = ("token", "password", "client-key-data")
# (file field, data field) pairs that can be relative paths / base64 data.
_CLUSTER_FILES = (("certificate-authority", "certificate-authority-data"),)
_USER_FILES = (("client-certificate", "client-certificate-data"), ("client-key", "client-key-data"))


@dataclass(frozen=True)
class _Entry:
    """One named cluster/user/context with where it came from (for error messages)."""

    name: str
    body: dict[str, Any]
    source: str
    index: int
    kind: str  # "clusters" | "users" | "contexts"

    @property
    def field(self) -> str:
        singular = self.kind[:-1]
        return f"{self.kind}[{self.index}].{singular}"

    def __repr__(self) -> str:  # never the body (it may hold secrets)
        return f"_Entry({self.kind}:{self.name!r} from {self.source})"


@dataclass(frozen=True)
class ResolvedContext:
    """A context with its cluster and user, ready to build a client from."""

    name: str
    cluster_name: str
    user_name: str | None
    namespace: str
    server: str
    source: str
    cluster: _Entry = field(repr=False)
    user: _Entry | None = field(repr=False)

    @property
    def credential_kind(self) -> str:
        """What kind of credential the user entry carries (for health and error hints)."""
        u = self.user.body if self.user else {}
        if "auth-provider" in u:
            return "auth-provider"
        if u.get("token") or u.get("tokenFile"):
            return "token"
        if "exec" in u:
            return "exec"
        if u.get("client-certificate") or u.get("client-certificate-data"):
            return "client-certificate"
        if u.get("username") and u.get("password"):
            return "basic"
        return "none"

    def client_dict(self) -> dict[str, Any]:
        """A minimal kubeconfig with just this context (secrets included: never log it)."""
        ctx = {"cluster": self.cluster_name, "namespace": self.namespace}
        users = []
        if self.user is not None:
            ctx["user"] = self.user_name
            users = [{"name": self.user_name, "user": copy.deepcopy(self.user.body)}]
        return {
            "apiVersion": "v1", "kind": "Config",
            "clusters": [{"name": self.cluster_name, "cluster": copy.deepcopy(self.cluster.body)}],
            "users": users,
            "contexts": [{"name": self.name, "context": ctx}],
            "current-context": self.name,
        }

    def secrets(self) -> list[str]:
        """The secret strings of this context's user (to scrub them from any text that leaves)."""
        u = self.user.body if self.user else {}
        out = [str(u[k]) for k in SECRET_USER_FIELDS if isinstance(u.get(k), str) and u.get(k)]
        if u.get("tokenFile"):
            with contextlib.suppress(OSError):
                out.append(Path(u["tokenFile"]).read_text().strip())
        return [s for s in out if len(s) >= 4]


class Kubeconfig:
    """A validated, merged kubeconfig. Its repr shows sources and context names only."""

    def __init__(self, sources: list[str]) -> None:
        self.sources = sources
        self.clusters: dict[str, _Entry] = {}
        self.users: dict[str, _Entry] = {}
        self.contexts: dict[str, _Entry] = {}
        self.current_context: str | None = None
        self.current_context_source: str | None = None
        self.in_cluster = False

    @property
    def source(self) -> str:
        return os.pathsep.join(self.sources) if self.sources else "<none>"

    def __repr__(self) -> str:
        return f"Kubeconfig(source={self.source!r}, contexts={list(self.contexts)}, current={self.current_context!r})"

    def context_names(self) -> list[str]:
        return list(self.contexts)

    def _add(self, doc: dict[str, Any], source: str) -> None:
        for kind, target in (("clusters", self.clusters), ("users", self.users), ("contexts", self.contexts)):
            for i, item in enumerate(doc.get(kind) or []):
                name = item["name"]
                if name not in target:  # first file wins, like kubectl
                    target[name] = _Entry(name, item[kind[:-1]] or {}, source, i, kind)
        if doc.get("current-context") and self.current_context is None:
            self.current_context = doc["current-context"]
            self.current_context_source = source

    def resolve(self, context: str | None = None) -> ResolvedContext:
        """The named context (default: current-context), cross-checked against clusters and users."""
        if context is None:
            context = self.current_context
            if not context:
                if len(self.contexts) == 1:
                    context = next(iter(self.contexts))
                else:
                    raise KubeconfigError(
                        self.source, "current-context",
                        "is not set and no context= was given; pass one of: " + (", ".join(self.contexts) or "(none)"))
            elif context not in self.contexts:
                raise ContextNotFoundError(self.current_context_source or self.source, context,
                                           list(self.contexts), closest(context, self.contexts))
        if context not in self.contexts:
            raise ContextNotFoundError(self.source, context, list(self.contexts), closest(context, self.contexts))
        ctx = self.contexts[context]
        cluster_name = ctx.body.get("cluster")
        if cluster_name not in self.clusters:
            raise KubeconfigError(
                ctx.source, f"{ctx.field}.cluster",
                f"refers to cluster {cluster_name!r}, which is not defined in clusters "
                f"(known: {', '.join(self.clusters) or 'none'})")
        user_name = ctx.body.get("user") or None
        user = None
        if user_name is not None:
            if user_name not in self.users:
                raise KubeconfigError(
                    ctx.source, f"{ctx.field}.user",
                    f"refers to user {user_name!r}, which is not defined in users "
                    f"(known: {', '.join(self.users) or 'none'})")
            user = self.users[user_name]
        cluster = self.clusters[cluster_name]
        _check_files(cluster, _CLUSTER_FILES)
        if user is not None:
            _check_files(user, (*_USER_FILES, ("tokenFile", None)))
        return ResolvedContext(
            name=context, cluster_name=cluster_name, user_name=user_name,
            namespace=ctx.body.get("namespace") or "default", server=redact_url(cluster.body["server"].rstrip("/")),
            source=ctx.source, cluster=cluster, user=user,
        )


def _check_files(entry: _Entry, pairs: tuple[tuple[str, str | None], ...]) -> None:
    for file_key, data_key in pairs:
        if data_key and entry.body.get(data_key):
            continue
        path = entry.body.get(file_key)
        if path and not Path(path).is_file():
            raise KubeconfigError(entry.source, f"{entry.field}.{file_key}", f"file {path} does not exist")


# -- loading ---------------------------------------------------------------------------------------------------


def load_kubeconfig(kubeconfig: str | os.PathLike[str] | Mapping[str, Any] | None = None, *,
                    environ: Mapping[str, str] | None = None) -> Kubeconfig:
    """Load and validate a kubeconfig.

    ``kubeconfig`` is a path (several joined with ``os.pathsep`` are merged), YAML/JSON text (anything with a line
    break or starting with ``{``), a dict, ``"in-cluster"``, or None for the default locations: ``$KUBECONFIG``,
    ``~/.kube/config``, then the in-cluster service account when ``KUBERNETES_SERVICE_HOST`` is set.
    """
    env = os.environ if environ is None else environ
    if isinstance(kubeconfig, Mapping):
        return _from_docs([(validate_document(kubeconfig, "<dict>"), "<dict>")])
    if isinstance(kubeconfig, os.PathLike):
        return _from_paths([os.fspath(kubeconfig)], explicit=True)
    if isinstance(kubeconfig, str):
        if kubeconfig == IN_CLUSTER:
            return in_cluster_kubeconfig(env)
        if "\n" in kubeconfig or kubeconfig.lstrip().startswith("{"):
            return _from_docs([(validate_document(_parse_yaml(kubeconfig, "<text>"), "<text>"), "<text>")])
        return _from_paths([p for p in kubeconfig.split(os.pathsep) if p], explicit=True)
    if kubeconfig is not None:
        raise TypeError(f"kubeconfig must be a path, YAML text, a dict or None, not {type(kubeconfig).__name__}")
    if env.get("KUBECONFIG"):
        paths = [p for p in env["KUBECONFIG"].split(os.pathsep) if p]
        existing = [p for p in paths if Path(p).expanduser().exists()]
        if existing:
            return _from_paths(existing, explicit=False)
    default = Path(env.get("HOME") or Path.home()) / ".kube" / "config"
    if default.exists():
        return _from_paths([str(default)], explicit=False)
    if env.get("KUBERNETES_SERVICE_HOST"):
        return in_cluster_kubeconfig(env)
    looked = ([f"$KUBECONFIG ({env['KUBECONFIG']})"] if env.get("KUBECONFIG") else []) + [str(default)]
    raise KubeconfigError(
        "<default>", "", f"no kubeconfig found (looked at {', '.join(looked)}; not running in a pod). "
        "Pass kubeconfig= (a path, YAML text or a dict), set $KUBECONFIG, or start the sandbox: "
        "`kubecopilot sandbox up`.")


def _from_paths(paths: list[str], *, explicit: bool) -> Kubeconfig:
    docs = []
    for raw in paths:
        p = Path(raw).expanduser()
        label = str(p)
        if not p.exists():
            if explicit:
                raise KubeconfigError(label, "", "file does not exist")
            continue
        try:
            text = p.read_text()
        except OSError as e:
            raise KubeconfigError(label, "", f"cannot be read ({e.strerror})") from None
        doc = _parse_yaml(text, label)
        if doc is None:
            raise KubeconfigError(label, "", "file is empty")
        doc = validate_document(doc, label)
        _absolutise(doc, p.parent.resolve())
        docs.append((doc, label))
    return _from_docs(docs)


def _from_docs(docs: list[tuple[dict[str, Any], str]]) -> Kubeconfig:
    kc = Kubeconfig([label for _, label in docs])
    for doc, label in docs:
        kc._add(doc, label)
    return kc


def _parse_yaml(text: str, label: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.MarkedYAMLError as e:
        # Only the problem text and position: str(e) quotes the offending line, which may hold a token.
        mark = e.problem_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "somewhere"
        raise KubeconfigError(label, where, f"invalid YAML: {e.problem or e.context or 'syntax error'}") from None
    except yaml.YAMLError:
        raise KubeconfigError(label, "", "invalid YAML") from None


def _absolutise(doc: dict[str, Any], base: Path) -> None:
    """Resolve relative file references against the file's directory (kubectl does the same)."""
    for item in doc.get("clusters") or []:
        body = item.get("cluster") or {}
        for key, _ in _CLUSTER_FILES:
            if isinstance(body.get(key), str) and body[key] and not os.path.isabs(body[key]):
                body[key] = str(base / os.path.expanduser(body[key]))
    for item in doc.get("users") or []:
        body = item.get("user") or {}
        for key in ("client-certificate", "client-key", "tokenFile"):
            if isinstance(body.get(key), str) and body[key] and not os.path.isabs(body[key]):
                body[key] = str(base / os.path.expanduser(body[key]))
        ex = body.get("exec")
        if isinstance(ex, dict) and isinstance(ex.get("command"), str) and "/" in ex["command"] \
                and not os.path.isabs(ex["command"]):
            ex["command"] = str(base / ex["command"])


def in_cluster_kubeconfig(environ: Mapping[str, str] | None = None, sa_dir: Path | str = SA_DIR) -> Kubeconfig:
    """The pod's service account as a one-context kubeconfig (the token file is re-read on every rebuild)."""
    env = os.environ if environ is None else environ
    sa = Path(sa_dir)
    host, port = env.get("KUBERNETES_SERVICE_HOST"), env.get("KUBERNETES_SERVICE_PORT") or "443"
    if not host:
        raise KubeconfigError("<in-cluster>", "KUBERNETES_SERVICE_HOST",
                              "is not set: not running inside a pod. Pass kubeconfig= instead.")
    for name in ("token", "ca.crt"):
        if not (sa / name).is_file():
            raise KubeconfigError("<in-cluster>", str(sa / name),
                                  "does not exist: is automountServiceAccountToken disabled for this pod?")
    ns_file = sa / "namespace"
    namespace = ns_file.read_text().strip() if ns_file.is_file() else "default"
    hostport = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    doc = {
        "clusters": [{"name": IN_CLUSTER, "cluster": {"server": f"https://{hostport}",
                                                       "certificate-authority": str(sa / "ca.crt")}}],
        "users": [{"name": "service-account", "user": {"tokenFile": str(sa / "token")}}],
        "contexts": [{"name": IN_CLUSTER, "context": {"cluster": IN_CLUSTER, "user": "service-account",
                                                       "namespace": namespace}}],
        "current-context": IN_CLUSTER,
    }
    kc = _from_docs([(doc, "<in-cluster>")])
    kc.in_cluster = True
    return kc


# -- validation ------------------------------------------------------------------------------------------------


def _type_name(v: Any) -> str:
    return {dict: "a mapping", list: "a list", str: "a string", int: "a number", float: "a number",
            bool: "a boolean", type(None): "empty"}.get(type(v), type(v).__name__)


def validate_document(doc: Any, source: str) -> dict[str, Any]:
    """Check one kubeconfig document's shape; returns a deep copy that is safe to modify."""
    if not isinstance(doc, Mapping):
        raise KubeconfigError(source, "(top level)", f"expected a mapping with clusters/users/contexts, "
                                                     f"got {_type_name(doc)}")
    doc = copy.deepcopy(dict(doc))
    for kind in ("clusters", "users", "contexts"):
        items = doc.get(kind)
        if items is None:
            continue
        if not isinstance(items, list):
            raise KubeconfigError(source, kind, f"expected a list, got {_type_name(items)}")
        singular = kind[:-1]
        seen: set[str] = set()
        for i, item in enumerate(items):
            where = f"{kind}[{i}]"
            if not isinstance(item, Mapping):
                raise KubeconfigError(source, where, f"expected a mapping with name and {singular}, "
                                                     f"got {_type_name(item)}")
            name = item.get("name")
            if not isinstance(name, str) or not name:
                raise KubeconfigError(source, f"{where}.name", "missing or not a string")
            if name in seen:
                raise KubeconfigError(source, f"{where}.name", f"duplicate {singular} name {name!r}")
            seen.add(name)
            body = item.get(singular)
            if body is None and kind == "users":
                continue
            if not isinstance(body, Mapping):
                raise KubeconfigError(source, f"{where}.{singular}", f"expected a mapping, got {_type_name(body)}")
            {"clusters": _validate_cluster, "users": _validate_user, "contexts": _validate_context}[kind](
                body, source, f"{where}.{singular}")
    cc = doc.get("current-context")
    if cc is not None and not isinstance(cc, str):
        raise KubeconfigError(source, "current-context", f"expected a string, got {_type_name(cc)}")
    return doc


def _validate_cluster(body: Mapping[str, Any], source: str, where: str) -> None:
    server = body.get("server")
    if not isinstance(server, str) or not server.strip():
        raise KubeconfigError(source, f"{where}.server", "missing: expected the API server URL (https://host:port)")
    parts = urlsplit(server.strip())
    try:
        parts.port  # noqa: B018 - raises on a bad port
        bad_port = False
    except ValueError:
        bad_port = True
    if parts.scheme not in ("http", "https") or not parts.hostname or bad_port:
        raise KubeconfigError(source, f"{where}.server",
                              f"{redact_url(server)!r} is not an API server URL (expected https://host:port)")
    _check_b64(body, "certificate-authority-data", source, where)
    _check_str(body, ("certificate-authority", "tls-server-name", "proxy-url"), source, where)
    if "insecure-skip-tls-verify" in body and not isinstance(body["insecure-skip-tls-verify"], bool):
        raise KubeconfigError(source, f"{where}.insecure-skip-tls-verify", "expected true or false")


def _validate_user(body: Mapping[str, Any], source: str, where: str) -> None:
    _check_str(body, ("token", "tokenFile", "username", "password", "client-certificate", "client-key"), source, where)
    token = body.get("token")
    if isinstance(token, str) and token and (token != token.strip() or any(c.isspace() for c in token)):
        raise KubeconfigError(source, f"{where}.token",
                              "contains whitespace or a line break (a copy/paste error?); value not shown")
    _check_b64(body, "client-certificate-data", source, where)
    _check_b64(body, "client-key-data", source, where)
    has_cert = bool(body.get("client-certificate") or body.get("client-certificate-data"))
    has_key = bool(body.get("client-key") or body.get("client-key-data"))
    if has_cert != has_key:
        missing = "client-key(-data)" if has_cert else "client-certificate(-data)"
        raise KubeconfigError(source, f"{where}.{missing.split('(')[0]}",
                              f"missing: a client certificate needs both certificate and key ({missing} not set)")
    if bool(body.get("username")) != bool(body.get("password")):
        raise KubeconfigError(source, f"{where}.{'password' if body.get('username') else 'username'}",
                              "missing: basic auth needs both username and password")
    ex = body.get("exec")
    if ex is not None:
        if not isinstance(ex, Mapping):
            raise KubeconfigError(source, f"{where}.exec", f"expected a mapping, got {_type_name(ex)}")
        if not isinstance(ex.get("command"), str) or not ex.get("command"):
            raise KubeconfigError(source, f"{where}.exec.command", "missing: the credential plugin to run")
        if not isinstance(ex.get("apiVersion"), str):
            raise KubeconfigError(source, f"{where}.exec.apiVersion",
                                  "missing (e.g. client.authentication.k8s.io/v1beta1)")
        if ex.get("args") is not None and not isinstance(ex["args"], list):
            raise KubeconfigError(source, f"{where}.exec.args", f"expected a list, got {_type_name(ex['args'])}")
        for i, e in enumerate(ex.get("env") or []):
            if not isinstance(e, Mapping) or "name" not in e or "value" not in e:
                raise KubeconfigError(source, f"{where}.exec.env[{i}]", "expected a mapping with name and value")
    ap = body.get("auth-provider")
    if ap is not None and (not isinstance(ap, Mapping) or not isinstance(ap.get("name"), str)):
        raise KubeconfigError(source, f"{where}.auth-provider.name", "missing: expected the provider name")


def _validate_context(body: Mapping[str, Any], source: str, where: str) -> None:
    if not isinstance(body.get("cluster"), str) or not body.get("cluster"):
        raise KubeconfigError(source, f"{where}.cluster", "missing: the name of a cluster in clusters")
    _check_str(body, ("user", "namespace"), source, where)


def _check_str(body: Mapping[str, Any], keys: tuple[str, ...], source: str, where: str) -> None:
    for key in keys:
        if key in body and body[key] is not None and not isinstance(body[key], str):
            raise KubeconfigError(source, f"{where}.{key}", f"expected a string, got {_type_name(body[key])}")


def _check_b64(body: Mapping[str, Any], key: str, source: str, where: str) -> None:
    value = body.get(key)
    if value is None:
        return
    if not isinstance(value, str):
        raise KubeconfigError(source, f"{where}.{key}", f"expected base64 text, got {_type_name(value)}")
    try:
        base64.b64decode(re.sub(r"\s+", "", value), validate=True)
    except (binascii.Error, ValueError):
        raise KubeconfigError(source, f"{where}.{key}", "is not valid base64 (value not shown)") from None


# -- helpers ---------------------------------------------------------------------------------------------------


def closest(name: str, candidates: Any) -> str | None:
    """The candidate most like ``name`` (or None)."""
    found = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.5)
    return found[0] if found else None


def redact_url(url: str) -> str:
    """A URL without userinfo (``https://user:pass@host`` -> ``https://***@host``)."""
    return re.sub(r"//[^/@]*@", "//***@", url)


def _b64url(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def decode_jwt_claims(token: str) -> dict[str, Any] | None:
    """The claims of a JWT, *not verified*; None if ``token`` is not a JWT (opaque token)."""
    if token.lower().startswith("bearer "):
        token = token[7:]
    parts = token.strip().split(".")
    if len(parts) != 3:
        return None
    try:
        header = json.loads(_b64url(parts[0]))
        claims = json.loads(_b64url(parts[1]))
    except (ValueError, binascii.Error):
        return None
    if not isinstance(header, dict) or not isinstance(claims, dict):
        return None
    return claims


@dataclass(frozen=True)
class TokenFacts:
    """What a bearer token says about itself (decoded, not verified). Never holds the token."""

    kind: str  # "jwt" | "opaque" | "none"
    issuer: str | None = None
    subject: str | None = None
    audience: tuple[str, ...] = ()
    issued_at: datetime | None = None
    expires_at: datetime | None = None
    service_account: str | None = None  # "namespace/name"

    @property
    def expired(self) -> bool | None:
        if self.expires_at is None:
            return None
        return self.expires_at <= datetime.now(UTC)

    def describe(self) -> str:
        if self.kind == "none":
            return "no bearer token"
        if self.kind == "opaque":
            return "opaque token (not a JWT: the server alone knows who it is and when it expires)"
        bits = [f"JWT issued by {self.issuer or '?'} for {self.subject or '?'}"]
        if self.expires_at is None:
            bits.append("no expiry (legacy service-account token)")
        else:
            bits.append(f"{'EXPIRED' if self.expired else 'expires'} {self.expires_at:%Y-%m-%d %H:%M:%S}Z")
        return ", ".join(bits)


def _ts(v: Any) -> datetime | None:
    if isinstance(v, int | float) and not isinstance(v, bool):
        try:
            return datetime.fromtimestamp(v, UTC)
        except (OverflowError, OSError, ValueError):
            return None
    return None


def token_facts(token: str | None) -> TokenFacts:
    """Facts from a bearer token: a JWT's issuer, subject, audience and expiry, without verifying it."""
    if not token:
        return TokenFacts("none")
    claims = decode_jwt_claims(token)
    if claims is None:
        return TokenFacts("opaque")
    aud = claims.get("aud")
    audience = tuple(aud) if isinstance(aud, list) else ((aud,) if isinstance(aud, str) else ())
    sa = None
    k8s = claims.get("kubernetes.io")
    if isinstance(k8s, dict) and isinstance(k8s.get("serviceaccount"), dict):
        sa = f"{k8s.get('namespace')}/{k8s['serviceaccount'].get('name')}"
    elif claims.get("kubernetes.io/serviceaccount/service-account.name"):
        sa = (f"{claims.get('kubernetes.io/serviceaccount/namespace')}/"
              f"{claims['kubernetes.io/serviceaccount/service-account.name']}")
    return TokenFacts(
        kind="jwt", issuer=claims.get("iss") if isinstance(claims.get("iss"), str) else None,
        subject=claims.get("sub") if isinstance(claims.get("sub"), str) else None, audience=audience,
        issued_at=_ts(claims.get("iat")), expires_at=_ts(claims.get("exp")), service_account=sa,
    )
