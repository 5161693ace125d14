"""The embedded default cluster: a real control plane on loopback plus a node simulator.

>>> from kubecopilot.sandbox import Sandbox        # doctest: +SKIP
>>> with Sandbox(nodes=3) as sb:
...     print(sb.kubeconfig_path)

See AGENTS.md ("Sandbox") for how the pieces fit.
"""

import os
from pathlib import Path

from kubecopilot.errors import SandboxNotRunningError
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
    "kubeconfig_path",
]


def kubeconfig_path(data_dir: str | os.PathLike[str] | None = None) -> Path:
    """The kubeconfig of the sandbox in ``data_dir`` (default: ``$KUBECOPILOT_SANDBOX_DIR`` or the user data dir,
    where ``kubecopilot sandbox up`` and ``make lab`` put it), for ``kc.connect(kubeconfig_path(), context=...)``.

    Raises `SandboxNotRunningError` naming the start command when no sandbox has written one there yet, so a guide
    notebook fails on its first cell with the fix instead of with a kubeconfig parse error.
    """
    path = Path(data_dir).expanduser() / "kubeconfig" if data_dir is not None else default_data_dir() / "kubeconfig"
    if not path.is_file():
        raise SandboxNotRunningError(
            f"no sandbox kubeconfig at {path}: start the sandbox with `kubecopilot sandbox up"
            + (f" --data-dir {path.parent}`" if data_dir is not None else "` (or `make lab`)")
            + ", or set KUBECOPILOT_SANDBOX_DIR to the data dir of a running one")
    return path
