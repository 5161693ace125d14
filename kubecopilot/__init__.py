"""KubeCopilot: a Jupyter notebook as the SRE's cockpit for Kubernetes.

The public surface is small on purpose; sub-packages own one idea each (see AGENTS.md).
"""

from kubecopilot._version import __version__
from kubecopilot.cluster import Workbench, connect, connections
from kubecopilot.errors import KubeCopilotError

__all__ = ["KubeCopilotError", "Workbench", "__version__", "connect", "connections"]
