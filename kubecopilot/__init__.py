"""KubeCopilot: a Jupyter notebook as the SRE's cockpit for Kubernetes.

The public surface is small on purpose; sub-packages own one idea each (see AGENTS.md).
"""

from typing import Any

from kubecopilot._version import __version__
from kubecopilot.cluster import Workbench, connect, connections
from kubecopilot.errors import KubeCopilotError

__all__ = ["KubeCopilotError", "Workbench", "__version__", "connect", "connections"]

_LAZY = ("audit", "plans", "postmortem", "rollout", "rollouts", "runbooks")


def __getattr__(name: str):  # `kc.runbooks`, `kc.plans`, `kc.audit` without importing them (or pandas) up front
    if name == "postmortem":  # a function: the report package is `kubecopilot.postmortems` so the names don't clash
        from kubecopilot.postmortems import postmortem

        return postmortem
    if name == "rollout":  # a function too: the package is `kubecopilot.rollouts`
        from kubecopilot.rollouts import rollout

        return rollout
    if name in _LAZY:
        import importlib

        return importlib.import_module(f"kubecopilot.{name}")
    raise AttributeError(f"module 'kubecopilot' has no attribute {name!r}")


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext kubecopilot``: registers the ``%kc`` / ``%%kc`` magics (`kubecopilot.magics`, imported only here
    so ``import kubecopilot`` stays light)."""
    from kubecopilot.magics import load_ipython_extension as load

    load(ipython)


def unload_ipython_extension(ipython: Any) -> None:
    """``%unload_ext kubecopilot``: removes ``%kc`` again."""
    from kubecopilot.magics import unload_ipython_extension as unload

    unload(ipython)


def __dir__() -> list[str]:  # tab completion offers the lazy sub-packages too
    return sorted(set(globals()) | set(_LAZY))
