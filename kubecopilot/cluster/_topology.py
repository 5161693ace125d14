"""``ws.topology(namespace)``: how a namespace's objects hang together, as plain data plus a plotly graph.

Edges: owner references (Deployment → ReplicaSet → Pod, CronJob → Job → Pod, StatefulSet/DaemonSet → Pod), Service
→ Pod (selector), Ingress → Service (backends), Pod → ConfigMap / Secret / PVC (volumes, env, envFrom, image pull
secrets; the automatic service-account token volumes are left out). A reference to an object that does not exist
becomes a node of health ``bad`` with status ``missing`` — often the answer to "why is this pod not starting".

The layout is deterministic and needs no graph library: one column per layer (Ingress; Service and workloads;
ReplicaSet and Job; Pod; ConfigMap / Secret / PVC), and within a column nodes are ordered by the mean position of
their neighbours (a few barycentre sweeps, ties broken by name), which keeps most edges short and uncrossed.
"""

from __future__ import annotations

import html
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, replace
from typing import Any

from kubecopilot.cluster import _related
from kubecopilot.cluster._related import Skips, _Reader, health_of, ingress_backends, map_selects, pod_refs

__all__ = ["LAYERS", "Topology", "TopologyEdge", "TopologyNode", "build_topology", "layout", "load_topology"]

LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("Ingress", ("Ingress",)),
    ("Service / workload", ("Service", "Deployment", "StatefulSet", "DaemonSet", "CronJob")),
    ("ReplicaSet / Job", ("ReplicaSet", "Job")),
    ("Pod", ("Pod",)),
    ("Config / storage", ("ConfigMap", "Secret", "PersistentVolumeClaim")),
]
_LAYER_OF = {kind: i for i, (_, kinds) in enumerate(LAYERS) for kind in kinds}
_KIND_ORDER = {kind: i for i, kind in enumerate(k for _, kinds in LAYERS for k in kinds)}

# what load_topology lists: key -> (kind as discovery names it, Kind name)
_LISTS = {
    "pods": ("pods", "Pod"), "services": ("services", "Service"), "endpoints": ("endpoints", None),
    "deployments": ("deployments.apps", "Deployment"), "replicasets": ("replicasets.apps", "ReplicaSet"),
    "statefulsets": ("statefulsets.apps", "StatefulSet"), "daemonsets": ("daemonsets.apps", "DaemonSet"),
    "jobs": ("jobs.batch", "Job"), "cronjobs": ("cronjobs.batch", "CronJob"),
    "ingresses": ("ingresses.networking.k8s.io", "Ingress"), "configmaps": ("configmaps", "ConfigMap"),
    "secrets": ("secrets", "Secret"), "pvcs": ("persistentvolumeclaims", "PersistentVolumeClaim"),
}


@dataclass(frozen=True)
class TopologyNode:
    """One object: ``id`` is ``Kind/name``; ``x``/``y`` are its layout position."""

    id: str
    kind: str
    name: str
    status: str = ""
    health: str = "unknown"
    x: float = 0.0
    y: float = 0.0


@dataclass(frozen=True)
class TopologyEdge:
    """``source`` → ``target`` (node ids); relation ``owns``, ``selects``, ``routes`` or ``mounts``; ``detail`` says
    how (``env DB_URL``, ``app.example.com/ → port 80``)."""

    source: str
    target: str
    relation: str
    detail: str = ""


def _name(o: dict[str, Any]) -> str:
    return (o.get("metadata") or {}).get("name") or ""


def _auto_token(ref: Any, spec: dict[str, Any]) -> bool:
    """The service-account token volume every pod gets (``default-token-xxxxx`` / ``kube-api-access-xxxxx``)."""
    sa = spec.get("serviceAccountName") or spec.get("serviceAccount") or "default"
    if ref.how.startswith("volume kube-api-access-"):
        return True
    return ref.kind == "Secret" and ref.name.startswith(f"{sa}-token-") and ref.how.startswith("volume ")


def build_topology(lists: dict[str, list[dict[str, Any]] | None]) -> tuple[list[TopologyNode], list[TopologyEdge]]:
    """Nodes and edges from the namespace's collections (pure; ``None`` = that kind could not be read)."""
    nodes: dict[str, TopologyNode] = {}
    edges: list[TopologyEdge] = []
    endpoints = {_name(e): e for e in lists.get("endpoints") or []}
    uid_to_id: dict[str, str] = {}

    def add(kind: str, obj: dict[str, Any]) -> str:
        node_id = f"{kind}/{_name(obj)}"
        if kind == "Service":
            status, health = health_of(kind, obj, endpoints=endpoints.get(_name(obj)) if lists.get("endpoints")
                                       is not None else None)
        else:
            status, health = health_of(kind, obj)
        nodes[node_id] = TopologyNode(node_id, kind, _name(obj), status, health)
        uid = (obj.get("metadata") or {}).get("uid")
        if uid:
            uid_to_id[uid] = node_id
        return node_id

    for key, (_, kind) in _LISTS.items():
        if kind is None or key in ("configmaps", "secrets", "pvcs"):
            continue
        for obj in lists.get(key) or []:
            if kind == "ReplicaSet" and not ((obj.get("spec") or {}).get("replicas") or
                                             (obj.get("status") or {}).get("replicas")):
                continue  # old revisions scaled to zero
            add(kind, obj)
    # owner references (only between objects shown)
    for key, (_, kind) in _LISTS.items():
        if kind is None:
            continue
        for obj in lists.get(key) or []:
            child = f"{kind}/{_name(obj)}"
            if child not in nodes:
                continue
            for ref in (obj.get("metadata") or {}).get("ownerReferences") or []:
                owner = uid_to_id.get(ref.get("uid") or "") or f"{ref.get('kind')}/{ref.get('name')}"
                if owner in nodes:
                    edges.append(TopologyEdge(owner, child, "owns"))
    # Service -> Pod
    pods = lists.get("pods") or []
    for svc in lists.get("services") or []:
        sel = (svc.get("spec") or {}).get("selector")
        for p in pods:
            if map_selects(sel, (p.get("metadata") or {}).get("labels")):
                edges.append(TopologyEdge(f"Service/{_name(svc)}", f"Pod/{_name(p)}", "selects"))
    # Ingress -> Service
    services = {_name(s) for s in lists.get("services") or []}
    for ing in lists.get("ingresses") or []:
        for svc, port, where in ingress_backends(ing):
            target = f"Service/{svc}"
            if svc not in services and target not in nodes:
                nodes[target] = TopologyNode(target, "Service", svc, "missing" if lists.get("services") is not None
                                             else "not readable", "bad" if lists.get("services") is not None
                                             else "unknown")
            edges.append(TopologyEdge(f"Ingress/{_name(ing)}", target, "routes", f"{where} → port {port}"))
    # Pod -> ConfigMap / Secret / PVC
    existing = {"ConfigMap": lists.get("configmaps"), "Secret": lists.get("secrets"),
                "PersistentVolumeClaim": lists.get("pvcs")}
    by_name = {k: {_name(o): o for o in v or []} for k, v in existing.items()}
    for p in pods:
        spec = p.get("spec") or {}
        for ref in pod_refs(spec):
            if _auto_token(ref, spec):
                continue
            target = f"{ref.kind}/{ref.name}"
            if target not in nodes:
                if existing[ref.kind] is None:
                    nodes[target] = TopologyNode(target, ref.kind, ref.name, "not readable", "unknown")
                elif ref.name in by_name[ref.kind]:
                    status, health = health_of(ref.kind, by_name[ref.kind][ref.name])
                    nodes[target] = TopologyNode(target, ref.kind, ref.name, status, health)
                else:
                    nodes[target] = TopologyNode(target, ref.kind, ref.name,
                                                 "missing (optional)" if ref.optional else "missing",
                                                 "warn" if ref.optional else "bad")
            edges.append(TopologyEdge(f"Pod/{_name(p)}", target, "mounts", ref.how))
    unique = list(dict.fromkeys(edges))
    return list(nodes.values()), unique


def layout(nodes: list[TopologyNode], edges: list[TopologyEdge], *, sweeps: int = 4
           ) -> tuple[list[TopologyNode], list[str]]:
    """Positions for ``nodes`` (see the module docstring) and the names of the layers that have nodes."""
    used = sorted({_LAYER_OF.get(n.kind, 1) for n in nodes})
    column = {layer: i for i, layer in enumerate(used)}
    cols: dict[int, list[TopologyNode]] = {}
    for n in sorted(nodes, key=lambda n: (_KIND_ORDER.get(n.kind, 99), n.name)):
        cols.setdefault(column[_LAYER_OF.get(n.kind, 1)], []).append(n)
    neighbours: dict[str, list[str]] = {}
    for e in edges:
        neighbours.setdefault(e.source, []).append(e.target)
        neighbours.setdefault(e.target, []).append(e.source)
    pos = {n.id: float(i) for col in cols.values() for i, n in enumerate(col)}
    order = list(range(len(used)))
    for sweep in range(sweeps):
        for c in (order if sweep % 2 == 0 else list(reversed(order))):
            col = cols[c]

            def key(n: TopologyNode, col: list[TopologyNode] = col) -> tuple[float, int, str]:
                near = [pos[m] for m in neighbours.get(n.id, []) if m in pos]
                return (sum(near) / len(near) if near else pos[n.id], _KIND_ORDER.get(n.kind, 99), n.name)

            col.sort(key=key)
            for i, n in enumerate(col):
                pos[n.id] = float(i)
    out = []
    for c, col in cols.items():
        mid = (len(col) - 1) / 2
        out += [replace(n, x=float(c), y=round(mid - i, 3)) for i, n in enumerate(col)]
    return out, [LAYERS[layer][0] for layer in used]


class Topology:
    """A namespace's objects (``nodes``) and their relationships (``edges``) with a deterministic layout.

    ``nodes_frame()`` / ``edges_frame()`` (``frame()`` is the nodes), ``unhealthy`` (nodes with health ``bad``),
    ``figure()`` (plotly). In JupyterLab the graph shows through plotly's own mime renderer (no plotly.js from a
    CDN); other frontends show the HTML summary table; ``to_html(path)`` writes a self-contained page.
    """

    def __init__(self, namespace: str, nodes: list[TopologyNode], edges: list[TopologyEdge], *,
                 layers: list[str] | None = None, skipped: Skips | None = None, context: str | None = None) -> None:
        self.namespace = namespace
        self.nodes = nodes
        self.edges = edges
        self.layers = list(layers or [])
        self.skipped = dict(skipped or {})
        self.context = context

    def node(self, node_id: str) -> TopologyNode:
        for n in self.nodes:
            if n.id == node_id:
                return n
        raise KeyError(f"no node {node_id!r} in this topology; ids look like 'Pod/web-0'")

    @property
    def unhealthy(self) -> list[TopologyNode]:
        return [n for n in self.nodes if n.health == "bad"]

    def nodes_frame(self) -> Any:
        import pandas as pd

        return pd.DataFrame([{"id": n.id, "kind": n.kind, "name": n.name, "status": n.status, "health": n.health,
                              "x": n.x, "y": n.y} for n in self.nodes],
                            columns=["id", "kind", "name", "status", "health", "x", "y"])

    frame = nodes_frame

    def edges_frame(self) -> Any:
        import pandas as pd

        return pd.DataFrame([{"source": e.source, "target": e.target, "relation": e.relation, "detail": e.detail}
                             for e in self.edges], columns=["source", "target", "relation", "detail"])

    def figure(self) -> Any:
        """The graph as a plotly Figure (nodes coloured by health, edges styled by relation)."""
        from kubecopilot.display import topology_figure

        return topology_figure([asdict(n) for n in self.nodes], [asdict(e) for e in self.edges],
                               layers=self.layers, title=self._title())

    def to_html(self, path: str | None = None) -> str:
        """A self-contained HTML page (plotly.js embedded, works offline); written to ``path`` when given."""
        page = self.figure().to_html(include_plotlyjs=True, full_html=True)
        if path:
            with open(path, "w", encoding="utf-8") as f:
                f.write(page)
        return page

    def _title(self) -> str:
        bad = len(self.unhealthy)
        return (f"topology of namespace {self.namespace}: {len(self.nodes)} objects, {len(self.edges)} edges"
                + (f", {bad} unhealthy" if bad else "") + (f" (context {self.context})" if self.context else ""))

    def _counts(self) -> list[tuple[str, int, int]]:
        kinds = sorted({n.kind for n in self.nodes}, key=lambda k: _KIND_ORDER.get(k, 99))
        return [(k, sum(1 for n in self.nodes if n.kind == k),
                 sum(1 for n in self.nodes if n.kind == k and n.health == "bad")) for k in kinds]

    def __repr__(self) -> str:
        return (f"Topology(namespace={self.namespace!r}, nodes={len(self.nodes)}, edges={len(self.edges)}, "
                f"unhealthy={len(self.unhealthy)})")

    def __str__(self) -> str:
        lines = [self._title()]
        lines += [f"  {k:<24}{n:>4}" + (f"  ({b} unhealthy)" if b else "") for k, n, b in self._counts()]
        lines += [f"  unhealthy: {n.id} ({n.status})" for n in self.unhealthy]
        lines += [f"  skipped {k}: {v}" for k, v in sorted(self.skipped.items())]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        from kubecopilot.display import badge, html_table

        e = html.escape
        bad = [(n.kind, n.name, badge(n.status or "unhealthy", "red")) for n in self.unhealthy]
        return (f'<div class="kc-topology"><div style="font-weight:600">{e(self._title())}</div>'
                + html_table(["KIND", "OBJECTS", "UNHEALTHY"], self._counts(), empty="no objects")
                + (html_table(["KIND", "NAME", "STATUS"], bad, raw=["STATUS"]) if bad else "")
                + "".join(f'<div style="color:#9a6700">skipped {e(k)}: {e(v)}</div>'
                          for k, v in sorted(self.skipped.items()))
                + '<div style="color:#57606a">the graph: <code>.figure()</code></div></div>')

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        bundle: dict[str, Any] = {"text/plain": str(self), "text/html": self._repr_html_()}
        try:
            import plotly.io as pio

            bundle.update(pio.renderers["plotly_mimetype"].to_mimebundle(self.figure().to_dict()))
        except Exception as e:  # the summary still shows; say why the graph does not
            bundle["text/plain"] += f"\n(graph unavailable: {type(e).__name__}: {e})"
        return bundle


def load_topology(conn: Any, namespace: str) -> Topology:
    """List the namespace's collections in parallel (unreadable kinds go to ``skipped``) and build the graph."""
    r = _Reader(conn)
    with ThreadPoolExecutor(max_workers=_related.MAX_WORKERS) as pool:
        futures = {key: pool.submit(r.list, kind_name, namespace, metadata_only=key == "configmaps" or None)
                   for key, (kind_name, _) in _LISTS.items()}
        lists = {key: f.result() for key, f in futures.items()}
    nodes, edges = build_topology(lists)
    placed, layers = layout(nodes, edges)
    return Topology(namespace, placed, edges, layers=layers, skipped=r.skipped, context=conn.context)
