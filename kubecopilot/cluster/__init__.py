"""Connections to clusters: kubeconfig loading, the raw-JSON connection, `Workbench` and its health report.

``kc.connect(kubeconfig=None, context=None)`` returns a `Workbench` and registers it by name; ``kc.connections()``
lists the open ones and ``use(name)`` switches. The kubernetes client's global configuration is never touched and
credentials never appear in a repr, log line or error message.
"""

from kubecopilot.cluster._connection import Connection
from kubecopilot.cluster._discovery import Kind, Kinds
from kubecopilot.cluster._kubeconfig import Kubeconfig, TokenFacts, load_kubeconfig, token_facts
from kubecopilot.cluster._registry import Connections, connect, connections, current, disconnect, use
from kubecopilot.cluster._table import ResourceTable
from kubecopilot.cluster._workbench import Health, Identity, Rule, Workbench

__all__ = [
    "Connection",
    "Connections",
    "Health",
    "Identity",
    "Kind",
    "Kinds",
    "Kubeconfig",
    "ResourceTable",
    "Rule",
    "TokenFacts",
    "Workbench",
    "connect",
    "connections",
    "current",
    "disconnect",
    "load_kubeconfig",
    "token_facts",
    "use",
]
