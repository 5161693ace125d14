"""Exceptions raised by KubeCopilot.

Every message names the problem and the way out. The hierarchy::

    KubeCopilotError
     ├── SandboxError                  the local control plane could not be installed/started/used
     │    ├── BinariesNotFoundError     no kube-apiserver & co. and no way to build them here
     │    └── SandboxNotRunningError    `status`/`down`/`logs` found no sandbox in the data dir
     └── ScenarioError                 a scenario file is malformed (names the file and field)
"""

from __future__ import annotations

__all__ = [
    "BinariesNotFoundError",
    "KubeCopilotError",
    "SandboxError",
    "SandboxNotRunningError",
    "ScenarioError",
]


class KubeCopilotError(Exception):
    """Base class of every error KubeCopilot raises on purpose."""


class SandboxError(KubeCopilotError):
    """The sandbox control plane could not be installed, started or reached."""


class BinariesNotFoundError(SandboxError):
    """No control-plane binaries were found and they cannot be built on this machine."""


class SandboxNotRunningError(SandboxError):
    """No sandbox is running in the given data directory."""


class ScenarioError(KubeCopilotError):
    """A scenario file is invalid. The message names the file and the field."""

    def __init__(self, path: str, field: str, problem: str) -> None:
        self.path = path
        self.field = field
        self.problem = problem
        super().__init__(f"{path}: {field}: {problem}")
