"""The embedded default cluster: a real control plane on loopback plus a node simulator.

>>> from kubecopilot.sandbox import Sandbox        # doctest: +SKIP
>>> with Sandbox(nodes=3) as sb:
...     print(sb.kubeconfig_path)

See AGENTS.md ("Sandbox") for how the pieces fit.
"""

from kubecopilot.sandbox._binaries import CONTROL_PLANE_VERSION, find_binaries, install
from kubecopilot.sandbox._controlplane import IDENTITIES, Sandbox, default_data_dir
from kubecopilot.sandbox._nodecontrol import NodeSpec

__all__ = [
    "CONTROL_PLANE_VERSION",
    "IDENTITIES",
    "NodeSpec",
    "Sandbox",
    "default_data_dir",
    "find_binaries",
    "install",
]
