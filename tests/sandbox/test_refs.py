"""Object references: one parser for ws.get / ws.diagnose / the plan builders."""

import pytest

from kubecopilot.errors import UnknownKindError

pytestmark = pytest.mark.sandbox

def test_ref_and_read(ws, namespace):
    r = ws.ref("ns/" + namespace)
    assert r.namespace is None and str(r) == f"namespace/{namespace}"
    assert ws.read(r)["metadata"]["name"] == namespace
    sa = ws.ref("sa/default")
    assert sa.namespace == namespace and ws.read(sa)["kind"] == "ServiceAccount"
    assert str(ws.ref("deploy", name="x", namespace="y")) == "deployment/y/x"
    with pytest.raises(ValueError, match="cluster-scoped"):
        ws.ref("node/a/b")
    with pytest.raises(UnknownKindError):
        ws.ref("deploymnet/a/b")
