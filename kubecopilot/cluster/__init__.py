"""Connections to clusters: kubeconfig loading, the raw-JSON connection, `Workbench` and its health report.

``kc.connect(kubeconfig=None, context=None)`` returns a `Workbench` and registers it by name; ``kc.connections()``
lists the open ones and ``use(name)`` switches. The kubernetes client's global configuration is never touched and
credentials never appear in a repr, log line or error message.

Browsing: ``ws.list(kind, ...)`` and shortcuts give `ResourceTable`s; ``ws.get(ref)`` a `Resource` (summary,
conditions, events, YAML, related objects; ``describe()``; an audited ``reveal()`` for Secrets), ``ws.events(...)``
an `EventTable` with a plotly ``timeline()``, ``ws.logs(pod)`` `Logs`, ``ws.search(text)`` a `SearchResult`,
``ws.topology(ns)`` a `Topology` and ``ws.watch(kind)`` a `Watch` (iterator or live widget).
"""

from kubecopilot.cluster._connection import Connection
from kubecopilot.cluster._describe import DescribeText
from kubecopilot.cluster._discovery import Kind, Kinds
from kubecopilot.cluster._events import EventTable
from kubecopilot.cluster._kubeconfig import Kubeconfig, TokenFacts, load_kubeconfig, token_facts
from kubecopilot.cluster._logs import Logs
from kubecopilot.cluster._refs import ObjectRef
from kubecopilot.cluster._registry import Connections, connect, connections, current, disconnect, use
from kubecopilot.cluster._related import Related
from kubecopilot.cluster._resource import Resource
from kubecopilot.cluster._search import Match, SearchResult
from kubecopilot.cluster._table import ResourceTable
from kubecopilot.cluster._topology import Topology, TopologyEdge, TopologyNode
from kubecopilot.cluster._watch import Watch, WatchEvent
from kubecopilot.cluster._workbench import Health, Identity, Rule, Workbench

__all__ = [
    "Connection",
    "Connections",
    "DescribeText",
    "EventTable",
    "Health",
    "Identity",
    "Kind",
    "Kinds",
    "Kubeconfig",
    "Logs",
    "Match",
    "ObjectRef",
    "Related",
    "Resource",
    "ResourceTable",
    "Rule",
    "SearchResult",
    "TokenFacts",
    "Topology",
    "TopologyEdge",
    "TopologyNode",
    "Watch",
    "WatchEvent",
    "Workbench",
    "connect",
    "connections",
    "current",
    "disconnect",
    "load_kubeconfig",
    "token_facts",
    "use",
]
