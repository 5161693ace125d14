"""Shared explanation helpers for analyzers: probes, listening ports, image references, referenced Services,
RBAC denials in logs, and the intent target (the workload a pod belongs to)."""

from __future__ import annotations

import re
from typing import Any

from kubecopilot.diagnose._snapshot import Snapshot

__all__ = [
    "FORBIDDEN_RE",
    "describe_probe",
    "forbidden_line",
    "listening_ports",
    "probe_port",
    "referenced_hosts",
    "split_image",
    "workload_of",
]

FORBIDDEN_RE = re.compile(
    r'(?:(?P<resource>[\w.-]+)(?: "[^"]*")? is forbidden: User "(?P<user>[^"]+)" cannot (?P<verb>[\w-]+) '
    r'resource "(?P<res2>[^"]+)"(?: in API group "(?P<group>[^"]*)")?(?: in the namespace "(?P<ns>[^"]*)")?)'
    r'|(?:\b403\b.*\bForbidden\b)|(?:\bForbidden\b.*\b403\b)',
    re.IGNORECASE,
)
_LISTEN = re.compile(r"(?:listen\w*|serving|bound|started (?:http )?server\w*)\D{0,30}?(?:addr=|on |at )?"
                     r"(?:[\w.\[\]:]*?):(\d{2,5})\b", re.IGNORECASE)
_PORT_VARS = ("PORT", "HTTP_PORT", "SERVER_PORT", "LISTEN_PORT")
_PORT_KV = re.compile(r"\bport[=:\s\"]+(\d{2,5})\b", re.IGNORECASE)
_HOST_RE = re.compile(r"(?:(?:[a-z][a-z0-9+.-]*)://(?:[^@/\s]+@)?)?([a-z0-9](?:[a-z0-9-]*[a-z0-9])?"
                      r"(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*)(?::(\d{1,5}))?", re.IGNORECASE)


def workload_of(snap: Snapshot, obj: dict[str, Any]) -> tuple[str, str, str] | None:
    """(kind, namespace, name) of the workload whose template a fix must change (Deployment, StatefulSet,
    DaemonSet, or a ReplicaSet without a Deployment); None for bare pods and Job pods (their spec is fixed)."""
    ns = (obj.get("metadata") or {}).get("namespace") or ""
    top = snap.top_ref(obj)
    kind, _, rest = top.partition("/")
    name = rest.split("/")[-1]
    mapping = {"deployment": "deployment", "statefulset": "statefulset", "daemonset": "daemonset",
               "replicaset": "replicaset"}
    if kind in mapping:
        return mapping[kind], ns, name
    return None


def probe_port(probe: dict[str, Any], container: dict[str, Any]) -> int | None:
    handler = probe.get("httpGet") or probe.get("tcpSocket") or probe.get("grpc") or {}
    port = handler.get("port")
    if isinstance(port, int):
        return port
    if isinstance(port, str):
        if port.isdigit():
            return int(port)
        for p in container.get("ports") or []:
            if p.get("name") == port:
                return int(p.get("containerPort", 0)) or None
    return None


def describe_probe(probe: dict[str, Any], container: dict[str, Any]) -> str:
    port = probe_port(probe, container)
    if "httpGet" in probe:
        h = probe["httpGet"]
        named = f" (port {h.get('port')})" if isinstance(h.get("port"), str) and not str(h.get("port")).isdigit() \
            else ""
        return f"HTTP GET :{port if port is not None else h.get('port')}{h.get('path', '/')}{named}"
    if "tcpSocket" in probe:
        return f"TCP :{port if port is not None else probe['tcpSocket'].get('port')}"
    if "exec" in probe:
        return "exec " + " ".join(str(a) for a in (probe["exec"].get("command") or []))[:80]
    if "grpc" in probe:
        return f"gRPC :{port}"
    return "probe"


def listening_ports(logs: list[str], container: dict[str, Any]) -> tuple[set[int], str | None]:
    """Ports the app says it listens on (from its log, else a PORT env var) and the log line that says so."""
    for text in logs:
        for line in text.splitlines():
            m = _LISTEN.search(line)
            if m:
                return {int(m.group(1))}, line.strip()
    for text in logs:
        for line in text.splitlines()[:20]:
            if re.search(r"\b(start|listen|serv)", line, re.IGNORECASE):
                m = _PORT_KV.search(line)
                if m:
                    return {int(m.group(1))}, line.strip()
    for env in container.get("env") or []:
        if env.get("name") in _PORT_VARS and str(env.get("value", "")).isdigit():
            return {int(env["value"])}, f"{env['name']}={env['value']}"
    return set(), None


def forbidden_line(texts: list[str]) -> tuple[str, re.Match[str] | None] | None:
    """The first log line quoting an RBAC denial from the API server (``... is forbidden: User ... cannot``)."""
    for text in texts:
        for line in text.splitlines():
            m = FORBIDDEN_RE.search(line)
            if m:
                return line.strip(), m
    return None


def referenced_hosts(values: list[str]) -> set[str]:
    """Host names in env values and log lines that could name a Service (``payments``, ``db.ns``,
    ``svc.ns.svc.cluster.local``), without ports; the caller matches them against the Services it knows."""
    out: set[str] = set()
    for value in values:
        for m in _HOST_RE.finditer(value or ""):
            host = m.group(1).lower().rstrip(".")
            if host and not host.replace(".", "").isdigit():
                out.add(host)
    return out


def split_image(image: str) -> tuple[str, str | None, str | None]:
    """``registry:5000/team/app:1.2@sha256:..`` -> (repository, tag, digest)."""
    name, _, digest = image.partition("@")
    slash, colon = name.rfind("/"), name.rfind(":")
    tag = None
    if colon > slash:
        name, tag = name[:colon], name[colon + 1:]
    return name, tag, digest or None
