"""One connection to one cluster as one identity: a raw-JSON request path over the official client's auth.

The `ApiClient` comes from ``kubernetes.config.new_client_from_config_dict`` (never the global default
configuration), so every kind of kubeconfig credential works: bearer tokens and token files, client certificates,
exec plugins and auth providers (with the client's refresh hook), CA bundles, TLS server names and proxies.
Requests then go straight through the client's own urllib3 pool with the client's own auth header, and come back as
plain dicts: no pydantic models (see ECOSYSTEM-NOTES §1.1).

Embedded ``*-data`` certificates and keys are written to a private 0700 directory owned by the connection and
removed when it is closed or collected. Credentials never appear in a repr, a log line or an error message: every
error text is scrubbed of the connection's secrets before it is raised.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import re
import shutil
import tempfile
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode, urlsplit

import urllib3
from urllib3.exceptions import (
    ConnectTimeoutError,
    HTTPError,
    NameResolutionError,
    NewConnectionError,
    ProtocolError,
    ReadTimeoutError,
    SSLError,
)

from kubecopilot._version import __version__
from kubecopilot.cluster._kubeconfig import Kubeconfig, ResolvedContext, TokenFacts, redact_url, token_facts
from kubecopilot.errors import (
    ClusterApiError,
    ClusterAuthError,
    ClusterForbiddenError,
    ClusterUnreachableError,
    KubeconfigError,
    ResourceNotFoundError,
)

__all__ = ["Connection", "parse_api_path"]

log = logging.getLogger("kubecopilot.cluster")

_FORBIDDEN = re.compile(
    r'User "(?P<user>[^"]*)" cannot (?P<verb>[\w-]+) resource "(?P<resource>[^"]*)" in API group "(?P<group>[^"]*)"'
    r'(?: in the namespace "(?P<namespace>[^"]*)")?'
)
_FORBIDDEN_PATH = re.compile(r'User "(?P<user>[^"]*)" cannot (?P<verb>[\w-]+) path "(?P<path>[^"]*)"')


def parse_api_path(path: str) -> dict[str, Any]:
    """Split a REST path into group, version, namespace, resource (with subresource) and name."""
    parts = [p for p in path.split("?", 1)[0].split("/") if p]
    out: dict[str, Any] = {"group": "", "version": "", "namespace": None, "resource": "", "name": None}
    if parts[:1] == ["api"] and len(parts) >= 2:
        out["version"], rest = parts[1], parts[2:]
    elif parts[:1] == ["apis"] and len(parts) >= 3:
        out["group"], out["version"], rest = parts[1], parts[2], parts[3:]
    else:
        out["resource"] = path
        return out
    if len(rest) >= 3 and rest[0] == "namespaces":
        out["namespace"], rest = rest[1], rest[2:]
    if rest:
        out["resource"] = rest[0]
    if len(rest) >= 2:
        out["name"] = rest[1]
    if len(rest) >= 3:
        out["resource"] += "/" + rest[2]
    return out


def _verb(method: str, path_info: dict[str, Any], params: dict[str, Any] | None) -> str:
    named = path_info.get("name") is not None
    if method == "GET":
        if params and str(params.get("watch", "")).lower() in ("1", "true"):
            return "watch"
        return "get" if named else "list"
    return {"POST": "create", "PUT": "update", "PATCH": "patch"}.get(
        method, ("delete" if named else "deletecollection") if method == "DELETE" else method.lower())


class Connection:
    """A client for one (kubeconfig, context). Thread-safe; `request` returns plain dicts.

    ``reload`` returns a fresh `Kubeconfig` (re-reading files) and is used once when a request is answered 401.
    """

    def __init__(self, kubeconfig: Kubeconfig, context: str | None = None, *,
                 reload: Callable[[], Kubeconfig] | None = None,
                 connect_timeout: float = 5.0, read_timeout: float = 60.0) -> None:
        self._kubeconfig = kubeconfig
        self._reload = reload
        self.resolved: ResolvedContext = kubeconfig.resolve(context)
        self.connect_timeout = float(connect_timeout)
        self.read_timeout = float(read_timeout)
        self.rebuilds = 0
        self._lock = threading.RLock()
        self._secrets: set[str] = set()
        self._dir = tempfile.mkdtemp(prefix="kubecopilot-creds-")  # mkdtemp: mode 0700
        self._finalizer = weakref.finalize(self, shutil.rmtree, self._dir, True)
        self._api_client: Any = None
        self._build()

    # -- identity of the connection (no secrets) -------------------------------------------------------------
    @property
    def context(self) -> str:
        return self.resolved.name

    @property
    def server(self) -> str:
        return redact_url(self.resolved.server)

    @property
    def user(self) -> str | None:
        """The kubeconfig's user entry name (not necessarily the name the server knows you by)."""
        return self.resolved.user_name

    @property
    def namespace(self) -> str:
        return self.resolved.namespace

    @property
    def source(self) -> str:
        return self._kubeconfig.source

    @property
    def credential_kind(self) -> str:
        return self.resolved.credential_kind

    @property
    def host_port(self) -> tuple[str, int | None]:
        parts = urlsplit(self.resolved.server)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        return parts.hostname or "?", port

    @property
    def api_client(self) -> Any:
        """The underlying `kubernetes.client.ApiClient` (for typed APIs, streams use their own client)."""
        return self._api_client

    def __repr__(self) -> str:
        return (f"Connection(context={self.context!r}, server={self.server!r}, user={self.user!r}, "
                f"source={self.source!r})")

    # -- building ----------------------------------------------------------------------------------------------
    def _materialise(self, d: dict[str, Any]) -> dict[str, Any]:
        """Write ``*-data`` certificates/keys into our private dir so the client's global temp cache is not used."""
        pairs = ((d["clusters"][0]["cluster"], (("certificate-authority-data", "certificate-authority"),)),)
        if d["users"]:
            pairs += ((d["users"][0]["user"], (("client-certificate-data", "client-certificate"),
                                                ("client-key-data", "client-key"))),)
        for body, keys in pairs:
            for data_key, file_key in keys:
                data = body.pop(data_key, None)
                if not data:
                    continue
                fd, name = tempfile.mkstemp(dir=self._dir)
                with os.fdopen(fd, "wb") as f:
                    f.write(base64.b64decode(re.sub(r"\s+", "", data)))
                body[file_key] = name
        return d

    def _build(self) -> None:
        from kubernetes.config import new_client_from_config_dict
        from kubernetes.config.config_exception import ConfigException

        self._secrets.update(self.resolved.secrets())
        config = self._materialise(self.resolved.client_dict())
        try:
            client = new_client_from_config_dict(
                config, context=self.resolved.name, persist_config=False, temp_file_path=self._dir)
        except (ConfigException, OSError, ValueError) as e:
            raise KubeconfigError(self.resolved.source, f"users[name={self.user}]" if self.user else "contexts",
                                  f"cannot build a client for context {self.context!r}: {self._scrub(str(e))}"
                                  ) from None
        client.user_agent = f"kubecopilot/{__version__}"
        self._api_client = client
        bearer = self._auth_value(refresh=False)
        if bearer:
            self._secrets.add(bearer.split(" ", 1)[-1])

    def rebuild(self) -> None:
        """Re-read the kubeconfig (when it came from files) and build a fresh client."""
        with self._lock:
            if self._reload is not None:
                self._kubeconfig = self._reload()
                self.resolved = self._kubeconfig.resolve(self.resolved.name)
            old = self._api_client
            self._build()
            self.rebuilds += 1
            if old is not None:
                old.close()
            log.info("rebuilt the client of context %s from %s", self.context, self.source)

    def close(self) -> None:
        if self._api_client is not None:
            self._api_client.close()
        self._finalizer()

    # -- secrets --------------------------------------------------------------------------------------------------
    def _scrub(self, text: str) -> str:
        for s in sorted(self._secrets, key=len, reverse=True):
            if s:
                text = text.replace(s, "***")
        return text

    def _auth_value(self, *, refresh: bool = True) -> str | None:
        cfg = self._api_client.configuration
        if refresh:
            value = (cfg.auth_settings().get("BearerToken") or {}).get("value")
        else:
            value = cfg.api_key.get("BearerToken") or cfg.api_key.get("authorization")
        if value:
            self._secrets.add(value.split(" ", 1)[-1])
        return value or None

    def token_facts(self) -> TokenFacts:
        """Issuer, subject and expiry of the bearer token in use (a JWT decoded without verification)."""
        value = self._auth_value()
        if not value or value.lower().startswith("basic "):
            return token_facts(None)
        return token_facts(value.split(" ", 1)[-1] if value.lower().startswith("bearer ") else value)

    # -- requests ---------------------------------------------------------------------------------------------------
    def _raw(self, method: str, path: str, *, params: dict[str, Any] | None, body: Any, content_type: str,
             accept: str, auth: bool = True, timeout: float | None = None,
             stream: bool = False) -> urllib3.BaseHTTPResponse:
        client = self._api_client
        cfg = client.configuration
        url = cfg.host + path
        if params:
            query = {k: ("true" if v is True else "false" if v is False else v)
                     for k, v in params.items() if v is not None}
            url += ("&" if "?" in path else "?") + urlencode(query, doseq=True)
        headers = {"Accept": accept, "User-Agent": f"kubecopilot/{__version__}"}
        if auth:
            value = self._auth_value()
            if value:
                headers["Authorization"] = value
        data = None
        if body is not None:
            headers["Content-Type"] = content_type
            data = body if isinstance(body, bytes | str) else json.dumps(body).encode()
        host, port = self.host_port
        t0 = time.monotonic()
        try:
            resp = client.rest_client.pool_manager.request(
                method, url, body=data, headers=headers, retries=False, preload_content=not stream,
                timeout=urllib3.Timeout(connect=self.connect_timeout, read=timeout or self.read_timeout))
        except NameResolutionError:
            raise ClusterUnreachableError(host, port, self.connect_timeout, f"DNS lookup of {host} failed",
                                          context=self.context) from None
        except NewConnectionError as e:
            cause = str(e).split("Failed to establish a new connection: ", 1)[-1]
            raise ClusterUnreachableError(host, port, self.connect_timeout, self._scrub(cause),
                                          context=self.context) from None
        except ConnectTimeoutError:
            raise ClusterUnreachableError(host, port, self.connect_timeout,
                                          f"no TCP connection within {self.connect_timeout:g} s",
                                          context=self.context) from None
        except ReadTimeoutError:
            raise ClusterUnreachableError(
                host, port, self.connect_timeout,
                f"connected, but no answer to {method} {path} within the read timeout of "
                f"{timeout or self.read_timeout:g} s", context=self.context) from None
        except SSLError as e:
            raise ClusterUnreachableError(
                host, port, self.connect_timeout,
                f"TLS handshake failed ({self._scrub(str(e.__context__ or e))[:200]}); check the cluster's "
                "certificate-authority(-data) and tls-server-name in the kubeconfig", context=self.context) from None
        except (ProtocolError, HTTPError) as e:
            raise ClusterUnreachableError(host, port, self.connect_timeout,
                                          f"connection dropped ({type(e).__name__})", context=self.context) from None
        log.debug("%s %s -> %s in %.0f ms (context %s)", method, path, resp.status,
                  (time.monotonic() - t0) * 1000, self.context)
        return resp

    def _send(self, method: str, path: str, *, params: dict[str, Any] | None = None, body: Any = None,
              content_type: str = "application/json", accept: str = "application/json",
              timeout: float | None = None, stream: bool = False) -> urllib3.BaseHTTPResponse:
        """One request with the 401-rebuild and error translation; ``stream=True`` leaves the body unread (a watch:
        read ``resp.stream()``, then ``resp.release_conn()``)."""
        kw = dict(params=params, body=body, content_type=content_type, accept=accept, timeout=timeout, stream=stream)
        resp = self._raw(method, path, **kw)
        if resp.status == 401:
            if stream:
                resp.drain_conn()
            log.info("%s %s -> 401 on context %s; rebuilding the client once", method, path, self.context)
            self.rebuild()
            resp = self._raw(method, path, **kw)
            if resp.status == 401:
                raise self._auth_error(method, path, resp)
        if resp.status >= 400:
            raise self._api_error(method, path, params, resp)
        return resp

    def request(self, method: str, path: str, *, params: dict[str, Any] | None = None, body: Any = None,
                content_type: str = "application/json", timeout: float | None = None) -> dict[str, Any]:
        """One API call; the JSON answer as a dict (``{}`` for an empty body). Errors raise `ClusterError`s."""
        resp = self._send(method.upper(), path, params=params, body=body, content_type=content_type,
                          timeout=timeout)
        if not resp.data:
            return {}
        try:
            return json.loads(resp.data)
        except ValueError:
            raise ClusterApiError(resp.status, method, path,
                                  f"{method} {path} answered {resp.status} with a non-JSON body; use get_text()"
                                  ) from None

    def get(self, path: str, **params: Any) -> dict[str, Any]:
        return self.request("GET", path, params=params or None)

    def get_text(self, path: str, *, timeout: float | None = None, **params: Any) -> str:
        """A plain-text endpoint (``pods/log``, ``/metrics``, ``/healthz``)."""
        resp = self._send("GET", path, params=params or None, accept="*/*", timeout=timeout)
        return resp.data.decode(errors="replace")

    def list(self, path: str, *, limit: int = 500, **params: Any) -> dict[str, Any]:
        """A whole collection, following ``continue`` tokens; one List dict with all ``items``."""
        cont = None
        items: list[Any] = []
        while True:
            page = self.request("GET", path, params={**params, "limit": limit, "continue": cont})
            items.extend(page.get("items") or [])
            cont = (page.get("metadata") or {}).get("continue")
            if not cont:
                break
        page["items"] = items
        (page.get("metadata") or {}).pop("remainingItemCount", None)
        return page

    def version(self) -> dict[str, Any]:
        return self.request("GET", "/version")

    def probe(self, path: str = "/version") -> tuple[int, dict[str, Any]]:
        """GET without credentials and without raising on an HTTP status (for health checks)."""
        resp = self._raw("GET", path, params=None, body=None, content_type="", accept="application/json",
                         auth=False)
        return resp.status, _decode(resp.data)

    # -- error translation ----------------------------------------------------------------------------------------
    def _auth_error(self, method: str, path: str, resp: urllib3.BaseHTTPResponse) -> ClusterAuthError:
        kind = self.credential_kind
        facts = self.token_facts()
        where = f"context {self.context!r} (user {self.user!r}, server {self.server})"
        if kind == "exec":
            command = ((self.resolved.user.body if self.resolved.user else {}).get("exec") or {}).get("command")
            fix = (f"The exec credential plugin ({command}) gave a token the server rejects. Log in again in a "
                   f"terminal (run the plugin / your cloud CLI's login there: plugins cannot prompt inside Jupyter), "
                   f"then kc.connect(context={self.context!r}) again.")
        elif kind == "client-certificate":
            fix = "The client certificate was rejected (expired, or signed by another CA): get a fresh one."
        elif self._kubeconfig.in_cluster:
            fix = "The pod's service-account token was rejected: check that the ServiceAccount still exists."
        elif kind == "none":
            fix = "The kubeconfig user has no credential: add a token, certificate or exec plugin to it."
        else:
            fix = (f"The token is expired, revoked or for another cluster: get a fresh one (e.g. "
                   f"`kubectl create token <serviceaccount>` or your identity provider's login) and put it in "
                   f"users[name={self.user}].user.token of {self.resolved.source}, then reconnect.")
        if facts.kind == "jwt":
            fix += f" The token says: {facts.describe()}."
        body = _decode(resp.data)
        msg = (f"401 Unauthorized on {method} {path}: the API server rejected the credentials of {where}, "
               f"also after rebuilding the client from the kubeconfig once. {fix}")
        return ClusterAuthError(401, method, path, self._scrub(msg), reason="Unauthorized", body=body)

    def _api_error(self, method: str, path: str, params: dict[str, Any] | None,
                   resp: urllib3.BaseHTTPResponse) -> ClusterApiError:
        body = _decode(resp.data)
        server_msg = self._scrub(str(body.get("message") or body.get("raw") or resp.reason or ""))
        reason = str(body.get("reason") or resp.reason or "")
        info = parse_api_path(path)
        if resp.status == 403:
            m = _FORBIDDEN.search(server_msg)
            if m:
                return ClusterForbiddenError(
                    method, path, verb=m["verb"], resource=m["resource"], group=m["group"],
                    namespace=m["namespace"], user=m["user"], server_message=server_msg, body=body)
            mp = _FORBIDDEN_PATH.search(server_msg)
            details = body.get("details") or {}
            return ClusterForbiddenError(
                method, path, verb=mp["verb"] if mp else _verb(method, info, params),
                resource=mp["path"] if mp else (details.get("kind") or info["resource"]),
                group=details.get("group", info["group"]) or "", namespace=info["namespace"],
                user=mp["user"] if mp else (self.user or "?"), server_message=server_msg, body=body)
        if resp.status == 404:
            details = body.get("details") or {}
            if details.get("name") or info.get("name"):
                where = f' in namespace "{info["namespace"]}"' if info["namespace"] else ""
                msg = (f"{server_msg or 'not found'}{where} (GET {path}). Check the name and namespace "
                       f"(context {self.context!r}).")
            else:
                msg = (f"{method} {path}: 404 — the server does not serve this path (API group/version not "
                       f"installed on this cluster, or a CRD is missing). {server_msg}".rstrip())
            return ResourceNotFoundError(404, method, path, msg, reason=reason or "NotFound", body=body)
        msg = f"{method} {path} -> {resp.status} {reason}: {server_msg}"
        return ClusterApiError(resp.status, method, path, msg, reason=reason, body=body)


def _decode(data: bytes) -> dict[str, Any]:
    if not data:
        return {}
    try:
        out = json.loads(data)
        return out if isinstance(out, dict) else {"raw": out}
    except ValueError:
        return {"raw": data.decode(errors="replace")[:2000]}
