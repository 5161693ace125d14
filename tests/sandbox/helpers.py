"""Small builders for test objects and status readers (pure dict work)."""

from __future__ import annotations

from typing import Any

from kubecopilot.sandbox._rest import RestClient


def pod(name: str, containers: list[dict[str, Any]], **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"app": name}},
            "spec": {"containers": containers, "terminationGracePeriodSeconds": 1, **spec}}


def container(image: str, name: str = "app", **extra: Any) -> dict[str, Any]:
    return {"name": name, "image": image, **extra}


def env(**values: str) -> list[dict[str, str]]:
    return [{"name": k, "value": v} for k, v in values.items()]


def get_pod(client: RestClient, ns: str, name: str) -> dict[str, Any]:
    return client.get(f"/api/v1/namespaces/{ns}/pods/{name}")


def container_status(client: RestClient, ns: str, name: str, container: str = "app") -> dict[str, Any]:
    p = get_pod(client, ns, name)
    for cs in (p.get("status", {}).get("containerStatuses") or []) + \
              (p.get("status", {}).get("initContainerStatuses") or []):
        if cs["name"] == container:
            return cs
    return {}


def waiting_reason(client: RestClient, ns: str, name: str, container: str = "app") -> str:
    return (container_status(client, ns, name, container).get("state", {}).get("waiting") or {}).get("reason", "")


def events(client: RestClient, ns: str, involved: str | None = None) -> list[dict[str, Any]]:
    items = client.list(f"/api/v1/namespaces/{ns}/events")
    return [e for e in items if involved is None or e["involvedObject"].get("name") == involved]


def event_matching(client: RestClient, ns: str, reason: str, contains: str = "", involved: str | None = None
                   ) -> dict[str, Any] | None:
    for e in events(client, ns, involved):
        if e.get("reason") == reason and contains in (e.get("message") or ""):
            return e
    return None


def logs(client: RestClient, ns: str, name: str, **params: Any) -> str:
    return client.get_text(f"/api/v1/namespaces/{ns}/pods/{name}/log", **params)


def logs_so_far(client: RestClient, ns: str, name: str, **params: Any) -> str:
    """Logs for polling: "" while the container has not started yet. The API server answers 400 then, or passes on
    the node's 404 when the pod is bound but its node has not taken it up yet (seen once in CI)."""
    from kubecopilot.sandbox._rest import ApiError

    try:
        return logs(client, ns, name, **params)
    except ApiError as e:
        if e.status in (400, 404):
            return ""
        raise
