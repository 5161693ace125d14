"""Fixtures shared by the tests against the sandbox."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from kubecopilot.cluster import connections, disconnect


@pytest.fixture(autouse=True)
def _fresh_registry() -> Iterator[None]:
    """Each test starts and ends without named connections left in `kc.connections()`."""
    yield
    if connections():
        disconnect("*")
