"""A small raw-JSON REST client for the sandbox and its node simulator.

The simulator is the hottest writer in the sandbox (status patches, events, leases), so it talks
to the API server with urllib3 and plain dicts instead of the official client's pydantic models
(see ECOSYSTEM-NOTES §1.1). The library's user-facing `Workbench` has its own connection layer.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

import urllib3

__all__ = ["ApiError", "RestClient", "resource_path"]

# kind -> (api group/version, plural, namespaced). Enough for the sandbox's own needs and the scenarios;
# the library proper resolves kinds through discovery.
KINDS: dict[str, tuple[str, str, bool]] = {
    "Namespace": ("v1", "namespaces", False),
    "Node": ("v1", "nodes", False),
    "Pod": ("v1", "pods", True),
    "Service": ("v1", "services", True),
    "Endpoints": ("v1", "endpoints", True),
    "ConfigMap": ("v1", "configmaps", True),
    "Secret": ("v1", "secrets", True),
    "ServiceAccount": ("v1", "serviceaccounts", True),
    "PersistentVolumeClaim": ("v1", "persistentvolumeclaims", True),
    "PersistentVolume": ("v1", "persistentvolumes", False),
    "ResourceQuota": ("v1", "resourcequotas", True),
    "LimitRange": ("v1", "limitranges", True),
    "Event": ("v1", "events", True),
    "Deployment": ("apps/v1", "deployments", True),
    "ReplicaSet": ("apps/v1", "replicasets", True),
    "StatefulSet": ("apps/v1", "statefulsets", True),
    "DaemonSet": ("apps/v1", "daemonsets", True),
    "Job": ("batch/v1", "jobs", True),
    "CronJob": ("batch/v1beta1", "cronjobs", True),
    "HorizontalPodAutoscaler": ("autoscaling/v1", "horizontalpodautoscalers", True),
    "PodDisruptionBudget": ("policy/v1beta1", "poddisruptionbudgets", True),
    "Ingress": ("networking.k8s.io/v1", "ingresses", True),
    "IngressClass": ("networking.k8s.io/v1", "ingressclasses", False),
    "NetworkPolicy": ("networking.k8s.io/v1", "networkpolicies", True),
    "StorageClass": ("storage.k8s.io/v1", "storageclasses", False),
    "Role": ("rbac.authorization.k8s.io/v1", "roles", True),
    "RoleBinding": ("rbac.authorization.k8s.io/v1", "rolebindings", True),
    "ClusterRole": ("rbac.authorization.k8s.io/v1", "clusterroles", False),
    "ClusterRoleBinding": ("rbac.authorization.k8s.io/v1", "clusterrolebindings", False),
    "Lease": ("coordination.k8s.io/v1", "leases", True),
    "CustomResourceDefinition": ("apiextensions.k8s.io/v1", "customresourcedefinitions", False),
}


def resource_path(
    kind: str, namespace: str | None = None, name: str | None = None, api_version: str | None = None
) -> str:
    """The REST path of a collection or an object, e.g. ``/apis/apps/v1/namespaces/x/deployments/y``."""
    try:
        default_version, plural, namespaced = KINDS[kind]
    except KeyError:
        known = ", ".join(sorted(KINDS))
        raise ValueError(f"the sandbox client does not know kind {kind!r}; known kinds: {known}") from None
    version = api_version or default_version
    base = f"/api/{version}" if "/" not in version else f"/apis/{version}"
    if namespaced and namespace:
        base += f"/namespaces/{quote(namespace)}"
    base += f"/{plural}"
    if name:
        base += f"/{quote(name)}"
    return base


@dataclass
class ApiError(Exception):
    """The API server answered with an error status; ``status`` is the HTTP code, ``body`` the Status dict."""

    status: int
    method: str
    path: str
    body: dict[str, Any]

    @property
    def reason(self) -> str:
        return str(self.body.get("reason", ""))

    def __str__(self) -> str:
        message = self.body.get("message") or self.body.get("raw") or ""
        return f"{self.method} {self.path} -> {self.status} {self.reason}: {message}"


class RestClient:
    """Thread-safe JSON client bound to one API server and one bearer token."""

    def __init__(self, server: str, token: str, ca_file: str, *, maxsize: int = 16, timeout: float = 30) -> None:
        self.server = server.rstrip("/")
        self._headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        self._pool = urllib3.PoolManager(
            maxsize=maxsize, block=True, cert_reqs="CERT_REQUIRED", ca_certs=ca_file, retries=False
        )
        self._timeout = urllib3.Timeout(connect=5, read=timeout)
        self._local = threading.local()

    def __repr__(self) -> str:
        return f"RestClient({self.server!r})"

    # -- plumbing -------------------------------------------------------------------------------
    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        params: dict[str, Any] | None = None,
        content_type: str = "application/json",
        ok: tuple[int, ...] = (),
    ) -> dict[str, Any]:
        url = self.server + path
        if params:
            url += "?" + urlencode({k: v for k, v in params.items() if v is not None})
        headers = dict(self._headers)
        data = None
        if body is not None:
            headers["Content-Type"] = content_type
            data = json.dumps(body).encode()
        resp = self._pool.request(method, url, body=data, headers=headers, timeout=self._timeout)
        if resp.status >= 400 and resp.status not in ok:
            raise ApiError(resp.status, method, path, _decode(resp.data))
        return _decode(resp.data)

    def get(self, path: str, **params: Any) -> dict[str, Any]:
        return self.request("GET", path, params=params or None)

    def get_text(self, path: str, **params: Any) -> str:
        """A plain-text endpoint (``pods/log``, ``/metrics``); errors raise `ApiError` like JSON calls."""
        url = self.server + path + ("?" + urlencode(params) if params else "")
        resp = self._pool.request("GET", url, headers=self._headers, timeout=self._timeout)
        if resp.status >= 400:
            raise ApiError(resp.status, "GET", path, _decode(resp.data))
        return resp.data.decode(errors="replace")

    def get_or_none(self, path: str) -> dict[str, Any] | None:
        try:
            return self.get(path)
        except ApiError as e:
            if e.status == 404:
                return None
            raise

    def list(self, path: str, **params: Any) -> list[dict[str, Any]]:
        """All items of a collection, following ``continue`` tokens."""
        items: list[dict[str, Any]] = []
        params.setdefault("limit", 500)
        while True:
            page = self.get(path, **params)
            items.extend(page.get("items") or [])
            token = (page.get("metadata") or {}).get("continue")
            if not token:
                return items
            params["continue"] = token

    def create(self, obj: dict[str, Any], namespace: str | None = None) -> dict[str, Any]:
        ns = namespace or obj.get("metadata", {}).get("namespace")
        return self.request("POST", resource_path(obj["kind"], ns, api_version=obj.get("apiVersion")), obj)

    def apply(self, obj: dict[str, Any], namespace: str | None = None) -> dict[str, Any]:
        """Create the object, or replace it when it already exists (kubectl-apply-like for seeding)."""
        try:
            return self.create(obj, namespace)
        except ApiError as e:
            if e.status != 409:
                raise
        ns = namespace or obj.get("metadata", {}).get("namespace")
        name = obj["metadata"]["name"]
        path = resource_path(obj["kind"], ns, name, api_version=obj.get("apiVersion"))
        current = self.get(path)
        obj = {**obj, "metadata": {**obj["metadata"], "resourceVersion": current["metadata"]["resourceVersion"]}}
        return self.request("PUT", path, obj)

    def patch(self, path: str, patch: Any, *, kind: str = "merge") -> dict[str, Any]:
        content_type = {
            "merge": "application/merge-patch+json",
            "strategic": "application/strategic-merge-patch+json",
            "json": "application/json-patch+json",
        }[kind]
        return self.request("PATCH", path, patch, content_type=content_type)

    def delete(self, path: str, body: dict[str, Any] | None = None, *, missing_ok: bool = True) -> None:
        self.request("DELETE", path, body, ok=(404,) if missing_ok else ())

    def stream_lines(self, path: str, **params: Any) -> Iterator[dict[str, Any]]:
        """Yield decoded JSON lines of a watch (``watch=1`` is added). Ends when the server closes it."""
        params["watch"] = 1
        url = self.server + path + "?" + urlencode({k: v for k, v in params.items() if v is not None})
        timeout = urllib3.Timeout(connect=5, read=float(params.get("timeoutSeconds", 300)) + 30)
        resp = self._pool.request(
            "GET", url, headers=self._headers, preload_content=False, timeout=timeout
        )
        try:
            if resp.status >= 400:
                raise ApiError(resp.status, "WATCH", path, _decode(resp.read()))
            buf = b""
            for chunk in resp.stream(65536):
                buf += chunk
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    if line.strip():
                        yield json.loads(line)
        finally:
            resp.release_conn()


def _decode(data: bytes) -> dict[str, Any]:
    if not data:
        return {}
    try:
        value = json.loads(data)
    except ValueError:
        return {"raw": data.decode(errors="replace")[:2000]}
    return value if isinstance(value, dict) else {"items": value}
