"""The public surface is deliberate: every name in __all__ exists, and nothing public is missing."""

from __future__ import annotations

import importlib

import pytest

MODULES = [
    "kubecopilot",
    "kubecopilot.ai",
    "kubecopilot.audit",
    "kubecopilot.cluster",
    "kubecopilot.diagnose",
    "kubecopilot.display",
    "kubecopilot.errors",
    "kubecopilot.magics",
    "kubecopilot.plans",
    "kubecopilot.postmortems",
    "kubecopilot.rollouts",
    "kubecopilot.runbooks",
    "kubecopilot.sandbox",
    "kubecopilot.sandbox.simulator",
]


@pytest.mark.parametrize("name", MODULES)
def test_all_names_exist_and_are_sorted(name: str) -> None:
    module = importlib.import_module(name)
    exported = module.__all__
    assert exported == sorted(exported), f"{name}.__all__ is not sorted"
    for attr in exported:
        assert hasattr(module, attr), f"{name}.__all__ lists {attr!r}, which does not exist"


def test_errors_share_one_base() -> None:
    from kubecopilot import errors

    for attr in errors.__all__:
        assert issubclass(getattr(errors, attr), errors.KubeCopilotError)
