"""The kubelet's HTTPS API for one simulated node: container logs and resource metrics.

The API server proxies ``kubectl logs`` to ``https://<InternalIP>:<kubeletEndpoint.Port>/containerLogs/...``
presenting its kubelet-client certificate; this server requires that certificate (signed by the
sandbox CA), so only the API server can read logs, as with a real kubelet.
"""

from __future__ import annotations

import logging
import ssl
import threading
import time
from collections.abc import Callable
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlparse

from kubecopilot.sandbox.simulator._pods import rfc3339nano

if TYPE_CHECKING:
    from kubecopilot.sandbox.simulator._pods import ContainerRuntime, PodEngine

__all__ = ["KubeletApi", "render_logs"]

log = logging.getLogger(__name__)


def render_logs(lines: list[tuple[float, str]], params: dict[str, str]) -> bytes:
    """Apply the log options a kubelet supports: sinceSeconds/sinceTime, tailLines, timestamps, limitBytes."""
    since = None
    if params.get("sinceSeconds"):
        since = time.time() - float(params["sinceSeconds"])
    elif params.get("sinceTime"):
        since = datetime.fromisoformat(params["sinceTime"].replace("Z", "+00:00")).timestamp()
    if since is not None:
        lines = [(ts, text) for ts, text in lines if ts >= since]
    if params.get("tailLines") not in (None, ""):
        n = int(params["tailLines"])
        lines = lines[-n:] if n > 0 else []
    stamp = params.get("timestamps") in ("true", "1")
    data = "".join((f"{rfc3339nano(ts)} " if stamp else "") + text + "\n" for ts, text in lines).encode()
    if params.get("limitBytes"):
        data = data[: int(params["limitBytes"])]
    return data


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt: str, *args: Any) -> None:
        log.debug("kubelet-api %s: " + fmt, self.server.node, *args)

    def _send(self, code: int, body: bytes, ctype: str = "text/plain; charset=utf-8") -> None:
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        url = urlparse(self.path)
        params = {k: v[-1] for k, v in parse_qs(url.query).items()}
        parts = [p for p in url.path.split("/") if p]
        try:
            if parts[:1] == ["containerLogs"] and len(parts) == 4:
                self._logs(parts[1], parts[2], parts[3], params)
            elif url.path == "/metrics/resource":
                self._send(200, self.server.metrics().encode(), "text/plain; version=0.0.4")
            elif url.path in ("/healthz", "/readyz", "/livez"):
                self._send(200, b"ok")
            else:
                self._send(404, f"404 page not found ({url.path} is not served by the KubeCopilot node "
                                "simulator: it serves /containerLogs, /metrics/resource, /healthz)\n".encode())
        except (BrokenPipeError, ConnectionResetError):
            pass
        except Exception as e:  # never kill the server thread; say what broke
            log.exception("kubelet api failed on %s", self.path)
            self._send(500, f"internal error: {type(e).__name__}: {e}\n".encode())

    def _logs(self, namespace: str, pod: str, container: str, params: dict[str, str]) -> None:
        engine = self.server.engine
        with engine.lock:
            rt = engine.find(namespace, pod)
            c: ContainerRuntime | None = None
            if rt:
                c = next((x for x in rt.all_containers() if x.name == container), None)
            if rt is None or c is None:
                self._send(404, f'container "{container}" in pod "{pod}" not found\n'.encode())
                return
            if params.get("previous") in ("true", "1"):
                if c.last_terminated is None and c.restart_count == 0:
                    self._send(400, f'previous terminated container "{container}" in pod "{pod}" not found\n'.encode())
                    return
                lines = list(c.previous_logs)
            else:
                if c.started_at is None:
                    self._send(400, f'container "{container}" in pod "{pod}" is waiting to start: '
                                    f'{c.reason}\n'.encode())
                    return
                lines = c.current_logs()
            instance = c.instance
        if params.get("follow") not in ("true", "1"):
            self._send(200, render_logs(lines, params))
            return
        self._follow(c, instance, lines, params)

    def _follow(self, c: ContainerRuntime, instance: int, lines: list[tuple[float, str]],
                params: dict[str, str]) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

        def chunk(data: bytes) -> None:
            if data:
                self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
                self.wfile.flush()

        chunk(render_logs(lines, params))
        sent = len(lines)
        stamp = {"timestamps": params.get("timestamps", "")}
        deadline = time.monotonic() + 3600
        while time.monotonic() < deadline and not self.server.stopping.is_set():
            time.sleep(0.5)
            with self.server.engine.lock:
                if c.instance != instance:
                    break
                now_lines = c.current_logs()
                running = c.state == "running"
            chunk(render_logs(now_lines[sent:], stamp))
            sent = len(now_lines)
            if not running:
                break
        self.wfile.write(b"0\r\n\r\n")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    node: str
    engine: PodEngine
    metrics: Callable[[], str]
    stopping: threading.Event


class KubeletApi:
    """One HTTPS server per simulated node on 127.0.0.1 (its ``kubeletEndpoint`` port)."""

    def __init__(self, node: str, engine: PodEngine, *, cert: str, key: str, ca: str) -> None:
        self.node = node
        self.engine = engine
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        ctx.load_verify_locations(ca)
        ctx.verify_mode = ssl.CERT_REQUIRED
        self.httpd = _Server(("127.0.0.1", 0), _Handler)
        self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
        self.httpd.node = node
        self.httpd.engine = engine
        self.httpd.metrics = self.metrics
        self.httpd.stopping = threading.Event()
        self.port = int(self.httpd.server_address[1])
        self._thread = threading.Thread(target=self.httpd.serve_forever, name=f"kubelet-api {node}", daemon=True)

    def start(self) -> KubeletApi:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.httpd.stopping.set()
        self.httpd.shutdown()

    def metrics(self) -> str:
        """Prometheus text like the kubelet's ``/metrics/resource`` (container and node CPU / memory)."""
        now = time.time()
        ms = int(now * 1000)
        cpu_rows, mem_rows = [], []
        node_cpu = node_mem = 0.0
        with self.engine.lock:
            for rt in self.engine.pods.values():
                if rt.node != self.node:
                    continue
                for c in rt.all_containers():
                    if c.state != "running" or c.program is None or c.started_at is None:
                        continue
                    labels = f'container="{c.name}",namespace="{rt.namespace}",pod="{rt.name}"'
                    cpu = c.program.cpu_millicores / 1000 * (now - c.started_at)
                    mem = c.program.memory_bytes
                    node_cpu += cpu
                    node_mem += mem
                    cpu_rows.append(f"container_cpu_usage_seconds_total{{{labels}}} {cpu:.6f} {ms}")
                    mem_rows.append(f"container_memory_working_set_bytes{{{labels}}} {mem} {ms}")
        base_mem = 350 * 2**20
        out = [
            "# HELP container_cpu_usage_seconds_total [ALPHA] Cumulative cpu time consumed by the container "
            "in core-seconds", "# TYPE container_cpu_usage_seconds_total counter", *cpu_rows,
            "# HELP container_memory_working_set_bytes [ALPHA] Current working set of the container in bytes",
            "# TYPE container_memory_working_set_bytes gauge", *mem_rows,
            "# HELP node_cpu_usage_seconds_total [ALPHA] Cumulative cpu time consumed by the node in core-seconds",
            "# TYPE node_cpu_usage_seconds_total counter", f"node_cpu_usage_seconds_total {node_cpu:.6f} {ms}",
            "# HELP node_memory_working_set_bytes [ALPHA] Current working set of the node in bytes",
            "# TYPE node_memory_working_set_bytes gauge",
            f"node_memory_working_set_bytes {int(node_mem + base_mem)} {ms}",
            "# HELP scrape_error [ALPHA] 1 if there was an error while getting container metrics, 0 otherwise",
            "# TYPE scrape_error gauge", "scrape_error 0", "",
        ]
        return "\n".join(out)
