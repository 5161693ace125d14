"""ws.watch against the live sandbox: the iterator, stop(), 410 Gone → RELIST (forced for real by compacting the
sandbox's etcd, which the API server otherwise does every 5 minutes), the live widget, Secrets and RBAC."""

from __future__ import annotations

import base64
import json
import threading
import time
from typing import Any

import pytest
import urllib3

from kubecopilot.cluster import Watch, WatchEvent
from kubecopilot.errors import ClusterForbiddenError, UnknownKindError
from tests.conftest import wait_for

pytestmark = pytest.mark.sandbox


def compact_etcd(sandbox: Any) -> int:
    """Compact the sandbox's etcd at its current revision (etcd's v3 JSON gateway, what `etcdctl compaction`
    does) so every older resourceVersion is gone for watches that are not served from the watch cache (events)."""
    port = sandbox.status()["ports"]["etcd"]
    http = urllib3.PoolManager()
    head = json.loads(http.request("POST", f"http://127.0.0.1:{port}/v3/kv/range",
                                   body=json.dumps({"key": base64.b64encode(b"kubecopilot-probe").decode()})).data)
    revision = int(head["header"]["revision"])
    answer = http.request("POST", f"http://127.0.0.1:{port}/v3/kv/compaction",
                          body=json.dumps({"revision": str(revision), "physical": True}))
    assert answer.status == 200, answer.data
    return revision


def advance_etcd(client: Any, ns: str) -> None:
    """Two writes: a watch from revision R resumes at R+1, which a compaction at R+1 keeps; at R+2 it is gone."""
    client.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "bump"}}, ns)
    client.patch(f"/api/v1/namespaces/{ns}/configmaps/bump", {"data": {"n": "1"}})


def post_event(client: Any, ns: str, name: str) -> None:
    client.create({"apiVersion": "v1", "kind": "Event", "metadata": {"name": name},
                   "involvedObject": {"kind": "Pod", "name": "x", "namespace": ns}, "reason": "Test",
                   "message": name, "type": "Normal", "source": {"component": "kubecopilot-test"}}, ns)


class Collector:
    """Consume a watch in a thread (as a notebook's background thread would) and keep what it yields."""

    def __init__(self, watch: Watch) -> None:
        self.watch = watch
        self.events: list[WatchEvent] = []
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            for ev in self.watch:
                self.events.append(ev)
        except BaseException as e:  # surfaced by the test
            self.error = e

    def seen(self, etype: str, name: str | None = None) -> WatchEvent | None:
        return next((e for e in self.events if e.type == etype and (name is None or e.name == name)), None)


def test_watch_iterator_add_modify_delete_and_timeout(ws, client, namespace) -> None:
    client.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "before"}}, namespace)
    w = ws.watch("cm", namespace=namespace, timeout=12)
    c = Collector(w)
    wait_for(lambda: c.seen("ADDED", "before"), 10, 0.1, "the listed configmap")
    assert c.events[0].from_list and w.state == "running" and w.resource_version
    client.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "live"}, "data": {"a": "1"}},
                  namespace)
    wait_for(lambda: c.seen("ADDED", "live"), 10, 0.1, "ADDED live")
    client.patch(f"/api/v1/namespaces/{namespace}/configmaps/live", {"data": {"a": "2"}})
    modified = wait_for(lambda: c.seen("MODIFIED", "live"), 10, 0.1, "MODIFIED live")
    assert modified.object["data"] == {"a": "2"} and not modified.from_list
    assert "managedFields" not in modified.object["metadata"]
    client.delete(f"/api/v1/namespaces/{namespace}/configmaps/live")
    wait_for(lambda: c.seen("DELETED", "live"), 10, 0.1, "DELETED live")
    assert set(w.store) >= {f"{namespace}/before", f"{namespace}/kube-root-ca.crt"}
    assert f"{namespace}/live" not in w.store
    assert "before" in w.table().names and "live" not in w.frame["NAME"].tolist()
    assert w.counts["MODIFIED"] >= 1 and w.counts["DELETED"] == 1
    c.thread.join(30)  # timeout=12 ends the iteration by itself
    assert not c.thread.is_alive() and c.error is None and w.state == "finished"
    with pytest.raises(RuntimeError, match="already being consumed"):
        next(iter(w))


def test_watch_relists_after_410_in_the_middle_of_a_watch(ws, client, sandbox, namespace) -> None:
    post_event(client, namespace, "e0")
    w = ws.watch("events", namespace=namespace, timeout=60)
    w.server_timeout = 2  # the server ends each watch request after 2 s; the watch resumes from its version
    c = Collector(w)
    wait_for(lambda: c.seen("ADDED", "e0"), 10, 0.1, "the listed event")
    started_at = w.resource_version
    advance_etcd(client, namespace)
    compacted = compact_etcd(sandbox)
    assert compacted >= int(started_at) + 2
    relist = wait_for(lambda: c.seen("RELIST"), 20, 0.2, "the RELIST after 410 Gone")
    assert relist.from_list and [o["metadata"]["name"] for o in relist.object["items"]] == ["e0"]
    assert int(relist.resource_version) >= compacted and w.relists == 1
    post_event(client, namespace, "e1")
    added = wait_for(lambda: c.seen("ADDED", "e1"), 20, 0.2, "an event after the relist")
    assert not added.from_list and set(w.store) == {f"{namespace}/e0", f"{namespace}/e1"}
    assert c.error is None
    w.stop()
    c.thread.join(10)
    assert not c.thread.is_alive() and w.state == "stopped"


def test_watch_resumed_from_a_compacted_version_relists(ws, client, sandbox, namespace) -> None:
    post_event(client, namespace, "old")
    old_rv = client.get(f"/api/v1/namespaces/{namespace}/events/old")["metadata"]["resourceVersion"]
    advance_etcd(client, namespace)
    assert compact_etcd(sandbox) >= int(old_rv) + 2
    events = []
    for ev in ws.watch("events", namespace=namespace, resource_version=old_rv, timeout=20):
        events.append(ev)
        if ev.type == "RELIST":
            post_event(client, namespace, "new")
        if ev.type == "ADDED" and not ev.from_list:
            break
    assert [e.type for e in events] == ["RELIST", "ADDED", "ADDED"]
    assert [e.name for e in events[1:]] == ["old", "new"] and events[1].from_list and not events[2].from_list


def test_stop_interrupts_a_blocked_read(ws, namespace) -> None:
    w = ws.watch("configmaps", namespace=namespace)  # no timeout: only stop() ends it
    c = Collector(w)
    wait_for(lambda: w.resource_version and w._resp is not None, 10, 0.05, "the watch request to be open")
    time.sleep(0.3)
    t0 = time.monotonic()
    w.stop()
    c.thread.join(5)
    assert not c.thread.is_alive() and time.monotonic() - t0 < 3
    assert w.state == "stopped" and c.error is None and w.stopped


def test_watch_widget_updates_and_stops(ws, client, namespace) -> None:
    import ipywidgets

    w = ws.watch("pods", namespace=namespace)
    view = w.widget()
    try:
        assert w.widget() is view  # one view per watch
        client.create({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "shown", "labels": {"x": "y"}},
                       "spec": {"containers": [{"name": "c", "image": "nginx:1.25"}],
                                "terminationGracePeriodSeconds": 1}}, namespace)
        wait_for(lambda: "shown" in view.body.value and "Running" in view.body.value, 60, 0.2,
                 "the widget to show the running pod")
        assert "running: 1 objects" in view.status.value
        view.button.click()  # the Stop button
        assert w.wait(5) and w.state == "stopped"
        wait_for(lambda: view.button.disabled, 5, 0.1, "the view to show it stopped")
        assert "stopped: 1 objects" in view.status.value and "shown" in view.body.value
    finally:
        w.stop()
        ipywidgets.Widget.close_all()


def test_watch_secrets_hold_no_values(ws, client, namespace) -> None:
    value = "never-in-a-watch-9f2"
    w = ws.watch("secrets", namespace=namespace, timeout=30)
    c = Collector(w)
    wait_for(lambda: w._resp is not None, 10, 0.05, "the watch request to be open")
    client.create({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "stringData": {"k": value}},
                  namespace)
    ev = wait_for(lambda: c.seen("ADDED", "s"), 10, 0.1, "the new secret")
    assert ev.object["data"] == {"k": f"<redacted: {len(value)} bytes>"} and not ev.from_list
    w.stop()
    c.thread.join(5)
    everything = repr(w.objects) + str(w) + w._repr_html_() + repr(c.events)
    assert value not in everything and base64.b64encode(value.encode()).decode() not in everything


def test_watch_errors(ws, viewer_ws, namespace) -> None:
    with pytest.raises(ClusterForbiddenError) as e:
        viewer_ws.watch("secrets", namespace=namespace)  # the initial list happens at once
    assert (e.value.verb, e.value.resource, e.value.namespace, e.value.user) == \
        ("list", "secrets", namespace, "sandbox-viewer")
    with pytest.raises(UnknownKindError):
        ws.watch("podz")
    with pytest.raises(ValueError, match="cluster-scoped"):
        ws.watch("nodes", namespace=namespace)
    w = ws.watch("nodes", timeout=2)
    names = {ev.name for ev in w}
    assert {"sandbox-node-1", "sandbox-node-2", "sandbox-node-3"} <= names and w.state == "finished"
    assert "watch nodes (cluster)" in repr(w)


def test_watch_displays_as_a_live_widget_in_a_real_kernel(sandbox, namespace) -> None:
    """Displaying a Watch in a notebook shows the widget; its background thread fills the table (trait updates),
    and the saved widget state holds the rendered rows."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell(
            "import time\nimport kubecopilot as kc\n"
            f"ws = kc.connect({str(sandbox.kubeconfig_path)!r}, context='sandbox-admin', namespace={namespace!r})\n"
            f"w = ws.watch('configmaps', namespace={namespace!r}, timeout=4)"),
        nbformat.v4.new_code_cell("w"),
        nbformat.v4.new_code_cell("w.wait(20); time.sleep(1); print(w.state, len(w.store))"),
    ]
    NotebookClient(nb, kernel_name="python3", timeout=90).execute()
    shown = nb.cells[1].outputs[0]
    assert "application/vnd.jupyter.widget-view+json" in shown["data"]
    assert nb.cells[2].outputs[0]["text"].strip() == "finished 1"
    state = nb.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    html = [m["state"].get("value", "") for m in state.values() if m["model_name"] == "HTMLModel"]
    assert any("kube-root-ca.crt" in v for v in html) and any("finished: 1 objects" in v for v in html)
    buttons = [m["state"] for m in state.values() if m["model_name"] == "ButtonModel"]
    assert buttons and buttons[0]["disabled"] and buttons[0]["description"] == "Stopped"
