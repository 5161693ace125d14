"""Service and Ingress analyzers.

A Service with a selector gets its endpoints from the Ready pods the selector matches. No ready endpoint has three
distinct causes an SRE fixes differently: the selector matches no pod (fix the selector: a `set_selector` intent
when one workload's labels are the obvious target), pods match but none is Ready (the pods' own problem is the
root cause), or the workload is scaled to zero (a `scale` intent). Ready endpoints with a ``targetPort`` no selected
container declares send traffic nowhere. An Ingress backend must name an existing Service and one of its ports.
"""

from __future__ import annotations

import difflib
from typing import Any

from kubecopilot.diagnose._findings import Evidence, Finding
from kubecopilot.diagnose._snapshot import Snapshot
from kubecopilot.diagnose._util import age_seconds, is_ready, obj_ref, selector_string, similar
from kubecopilot.plans import PlanIntent

__all__ = ["analyze_network", "ingress_backends"]

_GRACE = 20.0


def analyze_network(snap: Snapshot) -> list[Finding]:
    out: list[Finding] = []
    for svc in snap.all("Service"):
        out += _service(snap, svc)
    for ing in snap.all("Ingress"):
        out += _ingress(snap, ing)
    return out


def _ready_addresses(ep: dict[str, Any] | None) -> tuple[int, int, set[int]]:
    ready = not_ready = 0
    ports: set[int] = set()
    for s in (ep or {}).get("subsets") or []:
        ready += len(s.get("addresses") or [])
        not_ready += len(s.get("notReadyAddresses") or [])
        ports |= {int(p["port"]) for p in s.get("ports") or [] if p.get("port")}
    return ready, not_ready, ports


def _service(snap: Snapshot, svc: dict[str, Any]) -> list[Finding]:
    meta, spec = svc.get("metadata") or {}, svc.get("spec") or {}
    ns, name = meta.get("namespace") or "", meta.get("name") or ""
    selector = spec.get("selector") or {}
    if not selector or spec.get("type") == "ExternalName":
        return []   # endpoints are managed by hand (or by another controller): nothing to compare
    age = age_seconds(meta.get("creationTimestamp"), snap.now)
    if age is not None and age < _GRACE:
        return []
    ref = snap.ref(svc, "Service")
    ep = snap.get("Endpoints", ns, name)
    if ep is None and not snap.is_complete("Endpoints", ns) and (("Endpoints", ns, name) not in snap.missing):
        return []   # not read: say nothing rather than guess
    ready, not_ready, ep_ports = _ready_addresses(ep)
    pods = snap.selected_pods(ns, selector)
    sel = selector_string(selector)
    if ready == 0:
        if not pods:
            if not snap.is_complete("Pod", ns) and (ns, sel) not in snap.listed_selectors:
                return []
            owners = _scaled_to_zero(snap, ns, selector)
            if owners:
                kind, wname = owners[0]
                intent = PlanIntent(action="scale", kind=kind, name=wname, namespace=ns, parameters={"replicas": 1},
                                    reason=f"{kind} {wname} that the Service selects is scaled to 0",
                                    source="rule:service.no-endpoints")
                return [Finding("service.no-endpoints", "error", ref,
                                f"the Service has no endpoints: it selects {kind} {wname}, which is scaled to 0",
                                [Evidence("field", f"{ref} .spec.selector", sel)], intent)]
            cause = f"the Service has no endpoints: its selector {sel} matches no pod in namespace {ns}"
            intent, hint = _selector_intent(snap, svc, selector)
            if hint:
                cause += f"; {hint}"
            evidence = [Evidence("field", f"{ref} .spec.selector", sel),
                        Evidence("object", obj_ref("Endpoints", ns, name), f"{ready} ready, {not_ready} not ready "
                                                                            "addresses")]
            return [Finding("service.no-endpoints", "error", ref, cause, evidence, intent)]
        live = [p for p in pods if (p.get("status") or {}).get("phase") not in ("Succeeded", "Failed")]
        owners = sorted({snap.top_ref(p, "Pod") for p in live})
        cause = (f"the Service has no ready endpoints: {len(live)} pod(s) match {sel} but none is Ready"
                 + (f" ({', '.join(owners[:3])})" if owners else ""))
        evidence = [Evidence("object", obj_ref("Endpoints", ns, name),
                             f"{ready} ready, {not_ready} not ready addresses")]
        return [Finding("service.no-endpoints", "error", ref, cause, evidence).follows(*owners)]
    return _target_ports(snap, svc, ref, [p for p in pods if is_ready(p)], ep_ports)


def _target_ports(snap: Snapshot, svc: dict[str, Any], ref: str, ready_pods: list[dict[str, Any]],
                  ep_ports: set[int]) -> list[Finding]:
    """A targetPort that none of the ready pods' containers declares (by number or by name)."""
    if not ready_pods:
        return []
    declared: dict[int, str] = {}
    names: dict[str, int] = {}
    for pod in ready_pods:
        for c in (pod.get("spec") or {}).get("containers") or []:
            for p in c.get("ports") or []:
                if p.get("containerPort"):
                    declared[int(p["containerPort"])] = p.get("name") or ""
                    if p.get("name"):
                        names[p["name"]] = int(p["containerPort"])
    out = []
    for port in (svc.get("spec") or {}).get("ports") or []:
        target = port.get("targetPort", port.get("port"))
        if isinstance(target, str) and not target.isdigit():
            if target not in names:
                out.append(Finding("service.target-port", "error", ref,
                                   f"port {port.get('port')} targets the named port {target!r}, which no ready pod "
                                   f"declares (they declare {_declared(declared)})",
                                   [Evidence("field", f"{ref} .spec.ports[{port.get('port')}].targetPort", target)]))
            continue
        number = int(target)
        if declared and number not in declared:
            out.append(Finding(
                "service.target-port", "warning", ref,
                f"port {port.get('port')} sends traffic to targetPort {number}, which the pods do not serve: their "
                f"containers declare {_declared(declared)}",
                [Evidence("field", f"{ref} .spec.ports[{port.get('port')}].targetPort", str(number)),
                 Evidence("object", obj_ref("Endpoints", (svc.get('metadata') or {}).get('namespace'),
                                            (svc.get('metadata') or {}).get('name', '')),
                          f"endpoint ports {sorted(ep_ports) or '-'}")]))
    return out


def _declared(declared: dict[int, str]) -> str:
    return ", ".join(f"{p}" + (f" ({n})" if n else "") for p, n in sorted(declared.items())) or "no ports"


def _workload_templates(snap: Snapshot, ns: str) -> list[tuple[str, str, dict[str, str], dict[str, Any]]]:
    """(kind, name, pod-template labels, workload) of every workload in the namespace."""
    out = []
    for kind in ("Deployment", "StatefulSet", "DaemonSet"):
        for w in snap.in_ns(kind, ns):
            tmpl = ((w.get("spec") or {}).get("template") or {})
            out.append((kind.lower(), (w.get("metadata") or {}).get("name", ""),
                        (tmpl.get("metadata") or {}).get("labels") or {}, w))
    return out


def _scaled_to_zero(snap: Snapshot, ns: str, selector: dict[str, str]) -> list[tuple[str, str]]:
    out = []
    for kind, name, labels, w in _workload_templates(snap, ns):
        if all(labels.get(k) == v for k, v in selector.items()) and (w.get("spec") or {}).get("replicas") == 0:
            out.append((kind, name))
    return out


def _selector_intent(snap: Snapshot, svc: dict[str, Any], selector: dict[str, str]
                     ) -> tuple[PlanIntent | None, str]:
    """The workload the Service was obviously meant for: same label keys, a close value, ideally the Service's own
    name and the named targetPort; only a single clear winner becomes an intent."""
    meta = svc.get("metadata") or {}
    ns, name = meta.get("namespace") or "", meta.get("name") or ""
    selected_by_others = set()
    for other in snap.in_ns("Service", ns):
        osel = (other.get("spec") or {}).get("selector") or {}
        if other is not svc and osel:
            selected_by_others |= {(k, v) for k, v in osel.items()}
    target_names = {str(p.get("targetPort")) for p in (svc.get("spec") or {}).get("ports") or []
                    if isinstance(p.get("targetPort"), str)}
    scored = []
    for kind, wname, labels, w in _workload_templates(snap, ns):
        if not all(k in labels for k in selector):
            continue
        proposal = {k: labels[k] for k in selector}
        if proposal == selector:
            continue
        score = sum(difflib.SequenceMatcher(None, str(selector[k]), str(labels[k])).ratio() for k in selector) / len(
            selector)
        if wname == name:
            score += 1.0
        if meta.get("labels") and all(labels.get(k) == v for k, v in (meta.get("labels") or {}).items()):
            score += 0.5
        ports = {p.get("name") for c in (((w.get("spec") or {}).get("template") or {}).get("spec") or {}).get(
            "containers") or [] for p in c.get("ports") or []}
        if target_names and target_names <= ports:
            score += 0.3
        if not any(kv in selected_by_others for kv in proposal.items()):
            score += 0.2
        scored.append((score, kind, wname, proposal, labels))
    if not scored:
        labels_seen = sorted({f"{k}={v}" for p in snap.pods(ns) for k, v in
                              ((p.get("metadata") or {}).get("labels") or {}).items() if k in selector})
        return None, (f"pods here are labelled {', '.join(labels_seen[:5])}" if labels_seen else "")
    scored.sort(key=lambda s: -s[0])
    best = scored[0]
    hint = f"{best[1]} {best[2]}'s pods are labelled {selector_string(best[3])}"
    if best[0] < 0.9 or (len(scored) > 1 and scored[1][0] >= best[0] - 0.3):
        return None, hint
    intent = PlanIntent(action="set_selector", kind="service", name=name, namespace=ns,
                        parameters={"selector": best[3]},
                        reason=f"select {best[1]} {best[2]}'s pods ({selector_string(best[3])})",
                        source="rule:service.no-endpoints")
    return intent, hint


# -- Ingress ----------------------------------------------------------------------------------------------------

def ingress_backends(ing: dict[str, Any]) -> list[tuple[str, str, int | str | None]]:
    """(where, service name, service port) of every service backend, for networking.k8s.io/v1 and v1beta1."""
    spec = ing.get("spec") or {}
    out: list[tuple[str, str, int | str | None]] = []

    def backend(where: str, b: dict[str, Any] | None) -> None:
        if not b:
            return
        if "service" in b:
            s = b["service"] or {}
            port = s.get("port") or {}
            out.append((where, s.get("name", ""), port.get("number") if port.get("number") is not None
                        else port.get("name")))
        elif b.get("serviceName"):
            out.append((where, b["serviceName"], b.get("servicePort")))

    backend("default backend", spec.get("defaultBackend") or spec.get("backend"))
    for rule in spec.get("rules") or []:
        host = rule.get("host") or "*"
        for path in (rule.get("http") or {}).get("paths") or []:
            backend(f"{host}{path.get('path', '/')}", path.get("backend"))
    return out


def _ingress(snap: Snapshot, ing: dict[str, Any]) -> list[Finding]:
    meta = ing.get("metadata") or {}
    ns = meta.get("namespace") or ""
    ref = snap.ref(ing, "Ingress")
    out: list[Finding] = []
    seen: set[tuple[str, str]] = set()
    for where, svc_name, port in ingress_backends(ing):
        if (svc_name, str(port)) in seen:
            continue
        seen.add((svc_name, str(port)))
        svc = snap.get("Service", ns, svc_name)
        sref = obj_ref("Service", ns, svc_name)
        if svc is None:
            if not snap.known_missing("Service", ns, svc_name):
                continue
            cause = f"{where} routes to Service {svc_name}, which does not exist"
            others = snap.names("Service", ns)
            close = similar(svc_name, others)
            same_labels = [(s.get("metadata") or {}).get("name") for s in snap.in_ns("Service", ns)
                           if meta.get("labels") and (s.get("metadata") or {}).get("labels") == meta.get("labels")]
            hint = close or [n for n in same_labels if n]
            if hint:
                cause += f" (did you mean {' or '.join(hint)}?)"
            elif others:
                cause += f" (Services here: {', '.join(others[:5])})"
            out.append(Finding("ingress.missing-service", "error", ref, cause,
                               [Evidence("field", f"{ref} .spec.rules[{where}].backend.service",
                                         f"name {svc_name}, port {port}"),
                                Evidence("object", sref, "not found")]))
            continue
        ports = (svc.get("spec") or {}).get("ports") or []
        numbers = [p.get("port") for p in ports]
        pnames = [p.get("name") for p in ports if p.get("name")]
        if port is not None and ((isinstance(port, int) and port not in numbers)
                                 or (isinstance(port, str) and not port.isdigit() and port not in pnames)
                                 or (isinstance(port, str) and port.isdigit() and int(port) not in numbers)):
            exposes = ", ".join(f"{p.get('port')}" + (f" ({p.get('name')})" if p.get("name") else "") for p in ports)
            out.append(Finding("ingress.wrong-port", "error", ref,
                               f"{where} routes to port {port} of Service {svc_name}, which exposes only {exposes}",
                               [Evidence("field", f"{ref} .spec.rules[{where}].backend.service.port", str(port)),
                                Evidence("field", f"{sref} .spec.ports", exposes)]))
            continue
        ep = snap.get("Endpoints", ns, svc_name)
        if ((svc.get("spec") or {}).get("selector") and (ep is not None or snap.known_missing("Endpoints", ns,
                                                                                               svc_name))):
            ready, _, _ = _ready_addresses(ep)
            if ready == 0:
                out.append(Finding("ingress.no-endpoints", "error", ref,
                                   f"{where} routes to Service {svc_name}, which has no ready endpoints",
                                   [Evidence("object", obj_ref("Endpoints", ns, svc_name), "0 ready addresses")]
                                   ).follows(sref))
    return out
