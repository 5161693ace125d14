"""Fixtures shared by the tests against the sandbox."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import kubecopilot as kc
from kubecopilot.audit import Ledger, open_ledger
from kubecopilot.cluster import Workbench, connections, disconnect


@pytest.fixture(autouse=True)
def _fresh_registry() -> Iterator[None]:
    """Each test starts and ends without named connections left in `kc.connections()`."""
    yield
    if connections():
        disconnect("*")


@pytest.fixture
def ws(sandbox: Any, namespace: str) -> Workbench:
    """An admin workbench on the sandbox whose default namespace is this test's namespace."""
    return kc.connect(str(sandbox.kubeconfig_path), context="sandbox-admin", namespace=namespace)


@pytest.fixture
def viewer_ws(sandbox: Any, namespace: str) -> Workbench:
    """The read-only identity (`view` plus cluster reads, no Secrets)."""
    return kc.connect(str(sandbox.kubeconfig_path), context="sandbox-viewer", namespace=namespace, name="viewer")


@pytest.fixture
def operator_ws(sandbox: Any, namespace: str) -> Workbench:
    """The operator identity (patch/scale/restart workloads, delete pods in non-system namespaces)."""
    return kc.connect(str(sandbox.kubeconfig_path), context="sandbox-operator", namespace=namespace, name="operator")


@pytest.fixture
def ledger(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Ledger:
    """A fresh audit ledger in a tmp dir, made the default (``$KUBECOPILOT_DB``) for this test."""
    path = tmp_path / "audit.duckdb"
    monkeypatch.setenv("KUBECOPILOT_DB", str(path))
    return open_ledger(path)
