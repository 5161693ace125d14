"""RBAC for the sandbox's three identities.

- ``sandbox-admin``: group ``system:masters`` (everything).
- ``sandbox-viewer``: read-only everywhere (the built-in ``view`` role, which hides Secrets, plus
  cluster-scoped reads: nodes, PVs, StorageClasses, CRDs...).
- ``sandbox-operator``: reads like the viewer, and may patch / scale / restart workloads and delete
  pods in *non-system* namespaces. RBAC cannot say "every namespace but kube-*", so the simulator
  (which watches namespaces anyway) keeps a RoleBinding in each non-system namespace.
"""

from __future__ import annotations

from typing import Any

from kubecopilot.sandbox._rest import ApiError, RestClient

__all__ = ["OPERATOR_ROLE", "bootstrap_rbac", "ensure_operator_binding", "is_system_namespace"]

OPERATOR_ROLE = "kubecopilot:operator"
CLUSTER_VIEWER_ROLE = "kubecopilot:cluster-viewer"
RBAC = "rbac.authorization.k8s.io/v1"
_READ = ["get", "list", "watch"]


def is_system_namespace(name: str) -> bool:
    return name.startswith("kube-")


def _cluster_role(name: str, rules: list[dict[str, Any]]) -> dict[str, Any]:
    return {"apiVersion": RBAC, "kind": "ClusterRole", "metadata": {"name": name,
            "labels": {"app.kubernetes.io/managed-by": "kubecopilot-sandbox"}}, "rules": rules}


def _binding(kind: str, name: str, role: str, group: str, namespace: str | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "labels": {"app.kubernetes.io/managed-by": "kubecopilot-sandbox"}}
    if namespace:
        meta["namespace"] = namespace
    return {
        "apiVersion": RBAC, "kind": kind, "metadata": meta,
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": group}],
    }


def bootstrap_rbac(client: RestClient) -> None:
    """Create the cluster roles and bindings (idempotent)."""
    objects = [
        _cluster_role(CLUSTER_VIEWER_ROLE, [
            {"apiGroups": [""], "resources": ["nodes", "persistentvolumes", "namespaces", "componentstatuses"],
             "verbs": _READ},
            {"apiGroups": ["storage.k8s.io"], "resources": ["storageclasses", "csidrivers", "volumeattachments"],
             "verbs": _READ},
            {"apiGroups": ["apiextensions.k8s.io"], "resources": ["customresourcedefinitions"], "verbs": _READ},
            {"apiGroups": ["networking.k8s.io"], "resources": ["ingressclasses"], "verbs": _READ},
            {"apiGroups": ["rbac.authorization.k8s.io"],
             "resources": ["clusterroles", "clusterrolebindings", "roles", "rolebindings"], "verbs": _READ},
            {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": _READ},
            {"apiGroups": ["metrics.k8s.io"], "resources": ["pods", "nodes"], "verbs": _READ},
        ]),
        _cluster_role(OPERATOR_ROLE, [
            {"apiGroups": ["apps"], "resources": ["deployments", "statefulsets", "daemonsets", "replicasets"],
             "verbs": [*_READ, "patch", "update"]},
            {"apiGroups": ["apps"], "resources": ["deployments/scale", "statefulsets/scale", "replicasets/scale"],
             "verbs": ["get", "patch", "update"]},
            {"apiGroups": ["apps"], "resources": ["deployments/rollback"], "verbs": ["create"]},
            {"apiGroups": [""], "resources": ["pods"], "verbs": [*_READ, "delete"]},
            {"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"]},
            {"apiGroups": ["batch"], "resources": ["jobs", "cronjobs"], "verbs": [*_READ, "patch", "update"]},
            {"apiGroups": ["autoscaling"], "resources": ["horizontalpodautoscalers"],
             "verbs": [*_READ, "patch", "update"]},
        ]),
        _binding("ClusterRoleBinding", "kubecopilot:viewers-view", "view", "kubecopilot:viewers"),
        _binding("ClusterRoleBinding", "kubecopilot:viewers-cluster", CLUSTER_VIEWER_ROLE, "kubecopilot:viewers"),
        _binding("ClusterRoleBinding", "kubecopilot:operators-view", "view", "kubecopilot:operators"),
        _binding("ClusterRoleBinding", "kubecopilot:operators-cluster", CLUSTER_VIEWER_ROLE,
                 "kubecopilot:operators"),
    ]
    for obj in objects:
        client.apply(obj)
    for ns in client.list("/api/v1/namespaces"):
        ensure_operator_binding(client, ns["metadata"]["name"])


def ensure_operator_binding(client: RestClient, namespace: str) -> None:
    """Grant the operator its write verbs in ``namespace`` unless it is a system namespace."""
    if is_system_namespace(namespace):
        return
    body = _binding("RoleBinding", "kubecopilot:operator", OPERATOR_ROLE, "kubecopilot:operators", namespace)
    try:
        client.create(body, namespace)
    except ApiError as e:
        if e.status not in (409, 403, 404):  # exists, or the namespace is terminating/gone
            raise
