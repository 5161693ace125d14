"""Shared fixtures: one sandbox per test session, a fresh namespace per test (kr8s-style).

``KUBECOPILOT_TEST_SANDBOX_DIR`` reuses an already running sandbox instead of starting one
(handy while iterating: `kubecopilot sandbox up --data-dir /tmp/sb` once, then point tests at it).
"""

from __future__ import annotations

import os
import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from kubecopilot.sandbox import Sandbox
from kubecopilot.sandbox._rest import RestClient


@pytest.fixture(scope="session", autouse=True)
def _session_ledger(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """No test writes to the user's real audit ledger: ``$KUBECOPILOT_DB`` points into the session's tmp dir
    (tests that inspect the audit use the ``ledger`` fixture for a ledger of their own)."""
    path = tmp_path_factory.mktemp("audit") / "session.duckdb"
    old = os.environ.get("KUBECOPILOT_DB")
    os.environ["KUBECOPILOT_DB"] = str(path)
    yield path
    if old is None:
        os.environ.pop("KUBECOPILOT_DB", None)
    else:
        os.environ["KUBECOPILOT_DB"] = old


@pytest.fixture(scope="session")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    reuse = os.environ.get("KUBECOPILOT_TEST_SANDBOX_DIR")
    if reuse:
        sb = Sandbox(data_dir=Path(reuse))
        if not all(sb.running().values()):
            sb.up()
        yield sb
        return
    sb = Sandbox(nodes=3, data_dir=tmp_path_factory.mktemp("sandbox"))
    sb.up(timeout=90)
    try:
        yield sb
    finally:
        sb.down(quiet=True)


@pytest.fixture
def client(sandbox: Sandbox) -> RestClient:
    return sandbox.client()


def wait_for(predicate, timeout: float = 60.0, interval: float = 0.5, what: str = "condition"):
    """Poll ``predicate`` until it returns something truthy; fail naming ``what`` and the last value."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}; last value: {last!r}")


@pytest.fixture
def namespace(sandbox: Sandbox, request: pytest.FixtureRequest) -> Iterator[str]:
    """A namespace of this test's own, with the default ServiceAccount's token ready; deleted afterwards."""
    client = sandbox.client()
    base = re.sub(r"[^a-z0-9-]", "-", request.node.name.lower())[:40].strip("-")
    name = f"t-{base}-{uuid.uuid4().hex[:5]}"
    client.create({"apiVersion": "v1", "kind": "Namespace",
                   "metadata": {"name": name, "labels": {"kubecopilot.io/test": "true"}}})

    def sa_ready() -> bool:
        sa = client.get_or_none(f"/api/v1/namespaces/{name}/serviceaccounts/default")
        return bool(sa and sa.get("secrets"))

    wait_for(sa_ready, 30, 0.2, f"the token of {name}/default")
    yield name
    client.delete(f"/api/v1/namespaces/{name}")
