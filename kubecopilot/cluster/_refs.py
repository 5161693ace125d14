"""Object references: ``"deployment/payments/billing-api"``, ``"node/worker-1"``, ``("pod", "web", "ns")``.

One parser for every entry point that names a single object (``ws.get``, ``ws.describe``, ``ws.diagnose``,
the plan builders), so they all accept the same spellings:

- ``kind/namespace/name`` for namespaced kinds, ``kind/name`` for cluster-scoped ones;
- ``kind/name`` with ``namespace=`` (or the workbench's default namespace) for namespaced kinds;
- ``kind`` and ``name=`` (and ``namespace=``) as separate arguments.

``kind`` is anything discovery resolves: ``po``, ``pods``, ``Pod``, ``deploy``, ``deployments.apps``, a CRD plural.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kubecopilot.cluster._discovery import Kind, resolve_kind

__all__ = ["ObjectRef", "parse_ref"]


@dataclass(frozen=True)
class ObjectRef:
    """A resolved reference to one object: its `Kind`, namespace (``None`` when cluster-scoped) and name."""

    kind: Kind
    namespace: str | None
    name: str

    @property
    def path(self) -> str:
        """The object's API path."""
        return self.kind.path(self.namespace, self.name)

    def __str__(self) -> str:
        """``deployment/payments/billing-api`` — the spelling audit rows and findings use."""
        parts = [self.kind.kind.lower()] + ([self.namespace] if self.namespace else []) + [self.name]
        return "/".join(parts)


def parse_ref(connection: Any, ref: str, name: str | None = None, namespace: str | None = None, *,
              default_namespace: str = "default") -> ObjectRef:
    """Resolve ``ref`` (see the module docstring) against ``connection``'s discovery.

    Raises `UnknownKindError` (with suggestions) for an unknown kind and ``ValueError`` naming the accepted
    spellings for anything malformed.
    """
    if not isinstance(ref, str) or not ref.strip():
        raise ValueError(f"expected an object reference like 'deployment/payments/billing-api', got {ref!r}")
    parts = [p for p in ref.strip().split("/")]
    if any(not p for p in parts) or len(parts) > 3:
        raise ValueError(f"cannot read {ref!r} as an object reference: use 'kind/namespace/name' "
                         "(namespaced), 'kind/name' (cluster-scoped, or with namespace=), or kind and name=")
    kind = resolve_kind(connection, parts[0])
    rest = parts[1:]
    if len(rest) == 0:
        if not name:
            raise ValueError(f"{ref!r} names a kind but no object: pass name= or use '{parts[0]}/NAME'")
        obj_name, ns = name, namespace
    elif len(rest) == 1:
        if name and name != rest[0]:
            raise ValueError(f"{ref!r} already names {rest[0]!r}; drop name={name!r}")
        obj_name, ns = rest[0], namespace
    else:
        if not kind.namespaced:
            raise ValueError(f"{kind.full_name} is cluster-scoped: use '{parts[0]}/{rest[-1]}' without a namespace")
        if namespace and namespace != rest[0]:
            raise ValueError(f"{ref!r} names namespace {rest[0]!r} but namespace={namespace!r} was passed")
        ns, obj_name = rest
    if kind.namespaced:
        ns = ns or default_namespace
    elif ns:
        raise ValueError(f"{kind.full_name} is cluster-scoped: drop namespace={ns!r}")
    else:
        ns = None
    return ObjectRef(kind, ns, obj_name)
