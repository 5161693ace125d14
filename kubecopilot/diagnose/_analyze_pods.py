"""Pod analyzers: every container waiting / terminated reason the kubelet reports, mounts, probes, scheduling.

Kubernetes semantics this follows:
- CrashLoopBackOff is ``state.waiting.reason``; *why* it crashed is ``lastState.terminated`` (reason, exit code)
  and the previous instance's log. OOMKilled is a ``lastState.terminated.reason``; exit 127 is the shell's
  "command not found"; StartError / RunContainerError mean the runtime could not exec the command at all.
- A container killed for failing its liveness probe also shows up as a restart: the kubelet's ``Killing``
  event ("failed liveness probe, will be restarted") tells it apart from a crash.
- A failed pod of a Job (restartPolicy Never) is one attempt of that Job: the Job analyzer reports it.
- A container that crashed long ago and runs now has recovered: no finding.
- Positive conditions are healthy; pods still starting within a short grace period are not reported.
"""

from __future__ import annotations

import re
from typing import Any

from kubecopilot.diagnose._explain import (
    describe_probe,
    forbidden_line,
    listening_ports,
    probe_port,
    referenced_hosts,
    split_image,
    workload_of,
)
from kubecopilot.diagnose._findings import Evidence, Finding
from kubecopilot.diagnose._logs import explaining_line
from kubecopilot.diagnose._podstate import IMAGE_PULL_REASONS, STARTING_GRACE, recent_termination
from kubecopilot.diagnose._scheduling import check_nodes, parse_scheduling_message, pod_requests
from kubecopilot.diagnose._snapshot import Snapshot
from kubecopilot.diagnose._util import (
    age_seconds,
    format_bytes,
    format_cpu,
    is_ready,
    obj_ref,
    parse_quantity,
    similar,
)
from kubecopilot.plans import PlanIntent

__all__ = ["analyze_pods"]

_RECENT_EVENT = 600.0
_NETWORK_ERROR = re.compile(r"connection refused|no such host|i/o timeout|dial tcp|connect:|unreachable|"
                            r"no ready endpoints|could not resolve|name resolution|timed out|upstream", re.I)


def analyze_pods(snap: Snapshot) -> list[Finding]:
    out: list[Finding] = []
    for pod in snap.all("Pod"):
        out.extend(_pod(snap, pod))
    return out


def _cspec(pod: dict[str, Any], name: str) -> dict[str, Any]:
    spec = pod.get("spec") or {}
    for c in [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]:
        if c.get("name") == name:
            return c
    return {}


def _is_init(pod: dict[str, Any], name: str) -> bool:
    return any(c.get("name") == name for c in (pod.get("spec") or {}).get("initContainers") or [])


def _container_events(snap: Snapshot, pod: dict[str, Any], container: str, **filters: Any) -> list[dict[str, Any]]:
    out = []
    for e in snap.events_for(pod, "Pod", **filters):
        path = (e.get("involvedObject") or {}).get("fieldPath") or ""
        if not path or path.endswith("{" + container + "}"):
            out.append(e)
    return out


def _event_evidence(snap: Snapshot, pod: dict[str, Any], e: dict[str, Any]) -> Evidence:
    count = e.get("count") or (e.get("series") or {}).get("count")
    times = f" (x{count})" if count and count > 1 else ""
    return Evidence("event", snap.ref(pod, "Pod"), f"{e.get('type', '')} {e.get('reason', '')}{times}: "
                                                   f"{e.get('message', '')}".strip())


def _pod(snap: Snapshot, pod: dict[str, Any]) -> list[Finding]:
    meta, spec, status = pod.get("metadata") or {}, pod.get("spec") or {}, pod.get("status") or {}
    ref = snap.ref(pod, "Pod")
    phase = status.get("phase")
    now = snap.now
    if phase == "Succeeded":
        return []
    owner_ref = snap.controller_ref(pod) or {}
    job_owned = owner_ref.get("kind") == "Job"
    node_name = spec.get("nodeName")
    node = snap.get("Node", None, node_name) if node_name else None
    node_down = node is not None and _node_not_ready(node)

    if meta.get("deletionTimestamp"):
        grace = int(meta.get("deletionGracePeriodSeconds") or spec.get("terminationGracePeriodSeconds") or 30)
        overdue = age_seconds(meta["deletionTimestamp"], now)
        if overdue is not None and overdue > grace + 120:
            f = Finding("pod.stuck-terminating", "warning", ref,
                        f"pod has been terminating for {int(overdue)} s"
                        + (f" on node {node_name}, which is NotReady: its kubelet cannot confirm the deletion"
                           if node_down else ""),
                        [Evidence("field", f"{ref} .metadata.deletionTimestamp", str(meta["deletionTimestamp"]))])
            return [f.follows(obj_ref("Node", None, node_name) if node_name else "")]
        return []

    if phase == "Failed":
        if job_owned:
            return []   # one attempt of a Job: the Job analyzer explains it
        if status.get("reason") == "Evicted":
            if owner_ref:
                return []   # its controller replaced it; the leftover object is not a problem
            return [Finding("pod.evicted", "warning", ref, f"pod was evicted: {status.get('message', '')}",
                            [Evidence("field", f"{ref} .status.reason", "Evicted")]).follows(
                obj_ref("Node", None, node_name) if node_name else "")]
        out = []
        for cs in (status.get("containerStatuses") or []):
            t = (cs.get("state") or {}).get("terminated") or {}
            if t.get("exitCode") not in (0, None):
                out.append(_crash(snap, pod, cs, t, terminal=True))
        return out or [Finding("pod.failed", "error", ref, f"pod failed: {status.get('reason', '')} "
                               f"{status.get('message', '')}".strip(), [Evidence("field", f"{ref} .status.phase",
                                                                              "Failed")])]

    findings: list[Finding] = []
    scheduled = next((c for c in status.get("conditions") or [] if c.get("type") == "PodScheduled"), None)
    if scheduled is not None and scheduled.get("status") == "False" and not node_name:
        f = _unschedulable(snap, pod, scheduled)
        if f is not None:
            return [f]

    for cs in [*(status.get("initContainerStatuses") or []), *(status.get("containerStatuses") or [])]:
        f = _container(snap, pod, cs)
        if f is not None:
            findings.append(f)
    if findings:
        return findings

    age = age_seconds(meta.get("creationTimestamp"), now)
    if phase == "Pending" and node_name:
        f = _failed_mount(snap, pod)
        if f is not None:
            return [f]
    if node_down and not is_ready(pod):
        return [Finding("pod.node-lost", "warning", ref,
                        f"pod runs on node {node_name}, which is NotReady: it cannot serve",
                        [Evidence("field", f"node/{node_name} .status.conditions[Ready]", _ready_text(node or {}))]
                        ).follows(obj_ref("Node", None, node_name))]
    if phase == "Running" and not is_ready(pod) and (age is None or age > STARTING_GRACE):
        f = _probe_failing(snap, pod, "Readiness")
        if f is not None:
            return [f]
    return []


# -- containers ---------------------------------------------------------------------------------------------------

def _container(snap: Snapshot, pod: dict[str, Any], cs: dict[str, Any]) -> Finding | None:
    state = cs.get("state") or {}
    waiting = state.get("waiting")
    now = snap.now
    age = age_seconds((pod.get("metadata") or {}).get("creationTimestamp"), now)
    if waiting is not None:
        reason = (waiting or {}).get("reason") or ""
        if reason in IMAGE_PULL_REASONS:
            return _image_pull(snap, pod, cs, waiting)
        if reason == "CreateContainerConfigError":
            return _config_error(snap, pod, cs, waiting)
        if reason == "RunContainerError":
            return _run_error(snap, pod, cs, waiting.get("message") or "")
        if reason == "CrashLoopBackOff":
            last = (cs.get("lastState") or {}).get("terminated") or {}
            if last.get("reason") in ("StartError", "ContainerCannotRun"):
                return _run_error(snap, pod, cs, last.get("message") or "")
            return _crash(snap, pod, cs, last)
        if reason in ("ContainerCreating", "PodInitializing", ""):
            return None
        if age is not None and age < STARTING_GRACE:
            return None
        ref = snap.ref(pod, "Pod")
        return Finding("pod.container-waiting", "warning", ref,
                       f"container {cs.get('name')} is waiting: {reason} {waiting.get('message', '')}".strip(),
                       [Evidence("field", f"{ref} .status.containerStatuses[{cs.get('name')}].state.waiting",
                                 f"{reason}: {waiting.get('message', '')}")])
    last = recent_termination(cs, now)
    if last is not None:
        if last.get("reason") in ("StartError", "ContainerCannotRun"):
            return _run_error(snap, pod, cs, last.get("message") or "")
        return _crash(snap, pod, cs, last)
    return None


def _image_pull(snap: Snapshot, pod: dict[str, Any], cs: dict[str, Any], waiting: dict[str, Any]) -> Finding:
    ref = snap.ref(pod, "Pod")
    name = cs.get("name", "")
    image = _cspec(pod, name).get("image") or cs.get("image") or "?"
    events = _container_events(snap, pod, name, reason="Failed", within=_RECENT_EVENT * 3)
    pull_events = [e for e in events if "Failed to pull image" in (e.get("message") or "")]
    message = (pull_events[-1].get("message") if pull_events else None) or waiting.get("message") or ""
    detail = message.split(": ", 1)[1] if message.startswith("Failed to pull image") and ": " in message else message
    low = detail.lower()
    repo, tag, _ = split_image(image)
    registry = repo.split("/", 1)[0] if "/" in repo and ("." in repo.split("/", 1)[0] or ":" in repo.split("/", 1)[0]) \
        else "docker.io"
    if "no such host" in low or "dial tcp" in low or "i/o timeout" in low or "connection refused" in low \
            or "server misbehaving" in low:
        why, kind = f"the registry {registry} cannot be reached from the node", "network"
    elif "invalid reference" in low or waiting.get("reason") == "InvalidImageName":
        why, kind = f"{image!r} is not a valid image reference", "invalid"
    elif "repository does not exist" in low or "pull access denied" in low or "insufficient_scope" in low \
            or "unauthorized" in low or "authorization failed" in low or "403 forbidden" in low:
        why, kind = f"repository {repo} does not exist or needs credentials (pull access denied)", "repository"
    elif "not found" in low or "manifest unknown" in low:
        why, kind = f"tag {tag or 'latest'} of {repo} does not exist", "tag"
    else:
        why, kind = "the pull fails", "other"
    evidence = [Evidence("field", f"{ref} .status.containerStatuses[{name}].state.waiting",
                         f"{waiting.get('reason')}: {waiting.get('message', '')}".strip())]
    if pull_events:
        evidence.insert(0, _event_evidence(snap, pod, pull_events[-1]))
    intent = None
    if kind in ("tag", "repository"):
        intent = _infer_image(snap, pod, name, image, repo, tag)
    cause = f"image {image} cannot be pulled for container {name}: {why}"
    if detail and kind in ("network", "other"):
        cause += f" ({detail[:160]})"
    if intent is not None:
        cause += f"; {intent.reason}"
    return Finding("pod.image-pull", "error", ref, cause, evidence, intent)


def _infer_image(snap: Snapshot, pod: dict[str, Any], container: str, image: str, repo: str, tag: str | None
                 ) -> PlanIntent | None:
    """A plausible image: the one an earlier ReplicaSet revision of the same Deployment ran, else one a sibling
    workload in the namespace runs from the same (or an almost identically named) repository."""
    target = workload_of(snap, pod)
    if target is None:
        return None
    kind, ns, name = target
    candidate, why = None, ""
    if kind == "deployment":
        dep = snap.get("Deployment", ns, name)
        own_rs = snap.owner(pod)
        revisions = []
        for rs in snap.children(dep) if dep else []:
            if rs is own_rs:
                continue
            rev = ((rs.get("metadata") or {}).get("annotations") or {}).get("deployment.kubernetes.io/revision", "0")
            for c in ((rs.get("spec") or {}).get("template") or {}).get("spec", {}).get("containers") or []:
                if c.get("name") == container and c.get("image") and c.get("image") != image:
                    revisions.append((int(rev) if str(rev).isdigit() else 0, c["image"]))
        if revisions:
            rev, candidate = max(revisions)
            why = f"revision {rev} of deployment {name} ran {candidate}"
    if candidate is None:
        images: dict[str, str] = {}
        for other in snap.pods(ns):
            if other is pod or not is_ready(other):
                continue
            for c in (other.get("spec") or {}).get("containers") or []:
                img = c.get("image") or ""
                images.setdefault(img, (other.get("metadata") or {}).get("name", ""))
        same_repo = {img: who for img, who in images.items() if split_image(img)[0] == repo and img != image}
        if len(same_repo) == 1:
            candidate, who = next(iter(same_repo.items()))
            why = f"pod {who} in the namespace runs {candidate}"
        else:
            close = {img: who for img, who in images.items()
                     if split_image(img)[1] == tag and similar(repo, [split_image(img)[0]], n=1, cutoff=0.75)}
            if len(close) == 1:
                candidate, who = next(iter(close.items()))
                why = f"pod {who} in the namespace runs {candidate}"
    if candidate is None:
        return None
    return PlanIntent(action="set_image", kind=kind, name=name, namespace=ns,
                      parameters={"container": container, "image": candidate},
                      reason=f"use {candidate} ({why})", source="rule:pod.image-pull")


def _config_error(snap: Snapshot, pod: dict[str, Any], cs: dict[str, Any], waiting: dict[str, Any]) -> Finding:
    ref = snap.ref(pod, "Pod")
    ns = (pod.get("metadata") or {}).get("namespace")
    name = cs.get("name", "")
    spec = _cspec(pod, name)
    message = waiting.get("message") or ""
    events = [e for e in _container_events(snap, pod, name, reason="Failed", within=_RECENT_EVENT * 3)
              if (e.get("message") or "").startswith("Error:")]
    evidence = [_event_evidence(snap, pod, events[-1])] if events else []
    evidence.append(Evidence("field", f"{ref} .status.containerStatuses[{name}].state.waiting",
                             f"CreateContainerConfigError: {message}"))
    cause = f"container {name} cannot be created: {message}"
    m_missing = re.search(r'(configmap|secret) "([^"]+)" not found', message, re.I)
    m_key = re.search(r"couldn't find key (\S+) in (ConfigMap|Secret) (?:([^/\s]+)/)?(\S+)", message)
    if m_missing:
        kind = "ConfigMap" if m_missing.group(1).lower() == "configmap" else "Secret"
        obj = m_missing.group(2)
        users = _env_users(spec, kind, obj)
        who = f"env {', '.join(users)} of container {name}" if users else f"container {name}"
        cause = f"{who} refers to {kind} {obj}, which does not exist"
        close = similar(obj, snap.names(kind, ns)) if snap.is_complete(kind, ns) or snap.names(kind, ns) else []
        if close:
            cause += f" (did you mean {' or '.join(close)}?)"
        evidence.append(Evidence("object", obj_ref(kind, ns, obj), "not found"))
    elif m_key:
        key, kind, obj = m_key.group(1), m_key.group(2), m_key.group(4)
        users = _env_users(spec, kind, obj, key)
        who = f"env {', '.join(users)} of container {name}" if users else f"container {name}"
        cause = f"{who} asks for key {key} of {kind} {obj}, which has no such key"
        existing = snap.get(kind, ns, obj)
        if existing is not None:
            keys = sorted(existing.get("keys") or {})
            cause += f" (its keys: {', '.join(keys) or 'none'})"
            evidence.append(Evidence("object", obj_ref(kind, ns, obj), f"keys: {', '.join(keys) or 'none'}"))
        elif kind == "Secret" and any("Secret" in e for e in snap.errors):
            cause += " (its keys could not be read: this identity may not read Secrets)"
    return Finding("pod.create-config-error", "error", ref, cause, evidence)


def _env_users(spec: dict[str, Any], kind: str, name: str, key: str | None = None) -> list[str]:
    ref_key = "configMapKeyRef" if kind == "ConfigMap" else "secretKeyRef"
    users = []
    for env in spec.get("env") or []:
        r = (env.get("valueFrom") or {}).get(ref_key) or {}
        if r.get("name") == name and (key is None or r.get("key") == key):
            users.append(env.get("name", "?"))
    from_key = "configMapRef" if kind == "ConfigMap" else "secretRef"
    for src in spec.get("envFrom") or []:
        if (src.get(from_key) or {}).get("name") == name:
            users.append(f"envFrom {name}")
    return users


def _run_error(snap: Snapshot, pod: dict[str, Any], cs: dict[str, Any], message: str) -> Finding:
    ref = snap.ref(pod, "Pod")
    name = cs.get("name", "")
    spec = _cspec(pod, name)
    events = [e for e in _container_events(snap, pod, name, reason="Failed", within=_RECENT_EVENT * 3)
              if "Error:" in (e.get("message") or "")]
    message = message or (events[-1].get("message", "") if events else "")
    command = spec.get("command") or []
    cause = f"container {name} cannot start: {message.strip() or 'the runtime could not run its command'}"
    m = re.search(r'exec: "([^"]+)": executable file not found', message)
    if m:
        cause = (f"container {name} cannot start: its command {m.group(1)!r} does not exist in image "
                 f"{spec.get('image', '?')} (executable file not found in $PATH)")
    evidence = [_event_evidence(snap, pod, events[-1])] if events else []
    last = (cs.get("lastState") or {}).get("terminated") or {}
    if last:
        evidence.append(Evidence("field", f"{ref} .status.containerStatuses[{name}].lastState.terminated",
                                 f"{last.get('reason')} (exit {last.get('exitCode')}): {last.get('message', '')}"))
    if command:
        evidence.append(Evidence("field", f"{ref} .spec.containers[{name}].command", str(command)))
    return Finding("pod.run-container-error", "error", ref, cause, evidence)


def _crash(snap: Snapshot, pod: dict[str, Any], cs: dict[str, Any], last: dict[str, Any], *,
           terminal: bool = False) -> Finding:
    """Classify a container that exited: OOM, liveness kill, RBAC denial in its log, exit 127, or a crash
    with the log line that explains it."""
    ref = snap.ref(pod, "Pod")
    ns = (pod.get("metadata") or {}).get("namespace") or ""
    pod_name = (pod.get("metadata") or {}).get("name") or ""
    name = cs.get("name", "")
    spec = _cspec(pod, name)
    restarts = int(cs.get("restartCount") or 0)
    code = last.get("exitCode")
    reason = last.get("reason") or ""
    previous = snap.log(ns, pod_name, name, True)
    current = snap.log(ns, pod_name, name, False)
    crash_log = previous if previous is not None and not terminal else current
    crash_log = crash_log if crash_log is not None else (previous or "")
    where = "" if terminal else f", {restarts} restart{'s' if restarts != 1 else ''}"
    term_path = f"{ref} .status.containerStatuses[{name}].{'state' if terminal else 'lastState'}.terminated"
    term_ev = Evidence("field", term_path, f"reason {reason or '?'}, exit code {code}"
                       + (f", finished {last.get('finishedAt')}" if last.get("finishedAt") else ""))
    severity = "error" if restarts >= 2 or terminal or "waiting" in (cs.get("state") or {}) else "warning"
    log_source = f"{ref} {name}{'' if terminal or previous is None else ' (previous)'}"

    if reason == "OOMKilled":
        limit = ((spec.get("resources") or {}).get("limits") or {}).get("memory")
        cause = (f"container {name} is OOMKilled (exit {code}): it uses more memory than its limit "
                 f"{limit or '(none: the node ran out)'}{where}")
        intent = None
        target = workload_of(snap, pod)
        value = parse_quantity(limit)
        if target is not None and value:
            # 2x the limit it outgrew, plus a quarter for headroom, in 64Mi steps: a bare doubling lands exactly on
            # the usage of a process that needed twice its limit, and is killed again.
            step = 64 * 2**20
            new = format_bytes(-(-(int(value) * 5 // 2) // step) * step)
            intent = PlanIntent(action="set_resources", kind=target[0], name=target[2], namespace=target[1],
                                parameters={"container": name, "limits": {"memory": new}},
                                reason=f"raise the memory limit of {name} from {limit} to {new}",
                                source="rule:pod.oomkilled")
            cause += f"; raise the limit (e.g. to {new})"
        ev = [term_ev, Evidence("field", f"{ref} .spec.containers[{name}].resources.limits.memory", str(limit))]
        return Finding("pod.oomkilled", "error", ref, cause, ev, intent)

    killed = [e for e in _container_events(snap, pod, name, reason="Killing", within=_RECENT_EVENT * 2)
              if re.search(r"failed (liveness|startup) probe", e.get("message") or "")]
    probe_fails = [e for e in _container_events(snap, pod, name, reason="Unhealthy", within=_RECENT_EVENT * 2)
                   if re.match(r"(Liveness|Startup) probe failed", e.get("message") or "")]
    if killed or (probe_fails and code in (137, 143)):
        kind = "startup" if "startup" in ((killed or probe_fails)[-1].get("message") or "").lower() else "liveness"
        probe = spec.get("startupProbe" if kind == "startup" else "livenessProbe") or {}
        output = (probe_fails[-1].get("message") or "").split(": ", 1)[-1] if probe_fails else ""
        cause = (f"the {kind} probe of container {name} fails ({describe_probe(probe, spec)}"
                 f"{': ' + output if output else ''}), so the kubelet kills and restarts it{where}")
        cause += _port_hint(snap, pod, spec, probe, output)
        ev = [_event_evidence(snap, pod, e) for e in (probe_fails[-1:] + killed[-1:])] + [term_ev]
        return Finding(f"pod.{kind}-failing", "error", ref, cause, ev)

    denied = forbidden_line([t for t in (previous, current) if t])
    if denied is not None:
        line, m = denied
        sa = (pod.get("spec") or {}).get("serviceAccountName") or "default"
        what = ""
        if m is not None and m.group("verb"):
            group = m.group("group")
            what = (f": ServiceAccount {sa} may not {m.group('verb')} {m.group('res2')}"
                    f" (API group {group!r}{', namespace ' + m.group('ns') if m.group('ns') else ''})")
        cause = f"container {name} exits {code}{where} because the API server denies its requests{what}"
        return Finding("rbac.forbidden", "error", ref, cause, [Evidence("log", log_source, line), term_ev])

    line = explaining_line(crash_log)
    if code == 127:
        cause = (f"container {name} exits 127 (command not found){where}: a command it runs does not exist in "
                 f"image {spec.get('image', '?')}" + (f": {line!r}" if line else ""))
        ev = [Evidence("log", log_source, line)] if line else []
        cmd = spec.get("command") or spec.get("args")
        if cmd:
            ev.append(Evidence("field", f"{ref} .spec.containers[{name}].command", str(cmd)))
        return Finding("pod.command-not-found", "error", ref, cause, [*ev, term_ev])

    state_word = "fails" if terminal else "keeps crashing"
    cause = f"container {name} {state_word}: exit code {code}{where}"
    if code == 126:
        cause += " (126: the command exists but cannot be executed)"
    elif code == 137 and reason != "OOMKilled":
        cause += " (137: killed by SIGKILL)"
    ev = []
    if line:
        cause += f": {line!r}"
        ev.append(Evidence("log", log_source, line))
    elif crash_log == "":
        cause += " (it wrote no log)"
    ev.append(term_ev)
    backoff = _container_events(snap, pod, name, reason="BackOff", within=_RECENT_EVENT)
    if backoff:
        ev.append(_event_evidence(snap, pod, backoff[-1]))
    if line:
        cause += _missing_file_hint(snap, pod, spec, line)
    finding = Finding("pod.failed" if terminal else "pod.crashloop", "error" if terminal else severity, ref, cause, ev)
    if line and _NETWORK_ERROR.search(line):
        _link_upstreams(snap, finding, ns, spec, line)
    return finding


_NO_FILE = re.compile(r"(?:open |stat |read |load |reading )?(/[\w./-]+)\W{0,3}(?:: )?(?:no such file or directory|"
                      r"not found|does not exist)", re.I)


def _missing_file_hint(snap: Snapshot, pod: dict[str, Any], spec: dict[str, Any], line: str) -> str:
    """A file the app cannot open that a ConfigMap / Secret volume does provide, at another path: say where."""
    m = _NO_FILE.search(line)
    if not m:
        return ""
    path = m.group(1)
    directory, _, base = path.rpartition("/")
    ns = (pod.get("metadata") or {}).get("namespace")
    volumes = {v.get("name"): v for v in (pod.get("spec") or {}).get("volumes") or []}
    for mount in spec.get("volumeMounts") or []:
        vol = volumes.get(mount.get("name")) or {}
        for kind, key in (("ConfigMap", "configMap"), ("Secret", "secret")):
            src = vol.get(key)
            if not src:
                continue
            name = src.get("name") or src.get("secretName") or ""
            obj = snap.get(kind, ns, name)
            keys = set((obj or {}).get("keys") or {}) | {i.get("path") for i in src.get("items") or []}
            mount_path = str(mount.get("mountPath", "")).rstrip("/")
            if base in keys and mount_path != directory:
                return (f" — {kind} {name} provides {base}, but its volume is mounted at {mount_path} "
                        f"({mount_path}/{base}), not at {directory or '/'}")
    return ""


def _link_upstreams(snap: Snapshot, finding: Finding, ns: str, spec: dict[str, Any], line: str) -> None:
    """A crash whose last words are a network error may follow from a Service it calls: link the Services its
    env and log name (the ranking step decides whether they have findings); say so when a named one is missing."""
    values = [str(e.get("value") or "") for e in spec.get("env") or []] + [line]
    hosts = referenced_hosts(values)
    services = set(snap.names("Service", ns))
    linked = []
    for host in hosts:
        parts = host.split(".")
        svc, svc_ns = parts[0], (parts[1] if len(parts) > 1 and parts[1] != "svc" else ns)
        if len(parts) > 1 and svc_ns != ns and not (len(parts) >= 3 and parts[2] == "svc"):
            continue
        if svc_ns == ns and svc in services:
            linked.append(obj_ref("Service", ns, svc))
        elif svc_ns == ns and host in line.lower() and snap.is_complete("Service", ns) and len(parts) <= 2 \
                and "no such host" in line.lower():
            close = similar(svc, services)
            finding.cause += (f" — Service {svc} does not exist in namespace {ns}"
                              + (f" (did you mean {' or '.join(close)}?)" if close else ""))
            finding.evidence.append(Evidence("object", obj_ref("Service", ns, svc), "not found"))
    finding.follows(*linked)


# -- probes -------------------------------------------------------------------------------------------------------

def _probe_failing(snap: Snapshot, pod: dict[str, Any], label: str) -> Finding | None:
    ref = snap.ref(pod, "Pod")
    events = [e for e in snap.events_for(pod, "Pod", reason="Unhealthy", within=300)
              if (e.get("message") or "").startswith(f"{label} probe failed")]
    if not events:
        return None
    last = events[-1]
    path = (last.get("involvedObject") or {}).get("fieldPath") or ""
    m = re.search(r"\{([^}]+)\}", path)
    name = m.group(1) if m else next((c.get("name") for c in (pod.get("spec") or {}).get("containers") or []
                                      if c.get("readinessProbe")), "")
    spec = _cspec(pod, name or "")
    probe = spec.get("readinessProbe") or {}
    output = (last.get("message") or "").split(": ", 1)[-1]
    cause = (f"the readiness probe of container {name} fails ({describe_probe(probe, spec)}: {output}), "
             "so the pod is never Ready and receives no traffic")
    cause += _port_hint(snap, pod, spec, probe, output)
    return Finding("pod.readiness-failing", "warning", ref, cause, [_event_evidence(snap, pod, last)])


def _port_hint(snap: Snapshot, pod: dict[str, Any], spec: dict[str, Any], probe: dict[str, Any], output: str) -> str:
    """Why a probe fails, from what the app says: nothing listens on the probed port, or the path is unknown."""
    meta = pod.get("metadata") or {}
    texts = [t for c, _, t in snap.iter_logs(meta.get("namespace") or "", meta.get("name") or "")
             if c == spec.get("name")]
    port = probe_port(probe, spec)
    if port is None:   # the kubelet's message names the address it dialled
        m = re.search(r"(?:dial tcp |//)[\w.\[\]-]+:(\d{1,5})\b", output)
        port = int(m.group(1)) if m else None
    low = output.lower()
    if "connection refused" in low and port is not None:
        ports, said = listening_ports(texts, spec)
        if ports and port not in ports:
            return (f" — nothing listens on {port}: the app listens on {', '.join(map(str, sorted(ports)))}"
                    f" ({said!r})")
        declared = [int(p.get("containerPort", 0)) for p in spec.get("ports") or []]
        if declared and port not in declared:
            return f" — nothing listens on {port}; the container declares port(s) {', '.join(map(str, declared))}"
        return f" — nothing listens on port {port}"
    if re.search(r"statuscode: 404|status code 404|\b404\b", low) and "httpGet" in probe:
        path = probe["httpGet"].get("path", "/")
        hint = f" — the app does not serve {path} (HTTP 404)"
        for text in texts:
            for line in text.splitlines():
                if re.search(r"paths?[=:]", line) and "/" in line and "request" not in line.lower():
                    return hint + f"; it says {line.strip()!r}"
        return hint
    return ""


# -- mounts -------------------------------------------------------------------------------------------------------

_MOUNT_PATTERNS = [
    (re.compile(r'volume "([^"]+)" : configmap "([^"]+)" not found'), "ConfigMap"),
    (re.compile(r'volume "([^"]+)" : secret "([^"]+)" not found'), "Secret"),
    (re.compile(r'volume "([^"]+)" : PersistentVolumeClaim "([^"]+)" is not bound', re.I), "PersistentVolumeClaim"),
]


def _failed_mount(snap: Snapshot, pod: dict[str, Any]) -> Finding | None:
    ref = snap.ref(pod, "Pod")
    ns = (pod.get("metadata") or {}).get("namespace")
    events = snap.events_for(pod, "Pod", reason="FailedMount", within=_RECENT_EVENT)
    if not events:
        return None
    specific = [e for e in events if "MountVolume.SetUp failed" in (e.get("message") or "")
                or "not found" in (e.get("message") or "")] or events
    last = specific[-1]
    message = last.get("message") or ""
    cause = f"pod cannot start: a volume cannot be mounted ({message[:200]})"
    depends: list[str] = []
    for pattern, kind in _MOUNT_PATTERNS:
        m = pattern.search(message)
        if m:
            volume, name = m.group(1), m.group(2)
            if kind == "PersistentVolumeClaim":
                cause = f"volume {volume} uses PersistentVolumeClaim {name}, which is not bound"
                depends.append(obj_ref("PersistentVolumeClaim", ns, name))
            else:
                cause = f"volume {volume} mounts {kind} {name}, which does not exist"
                close = similar(name, snap.names(kind, ns))
                if close:
                    cause += f" (did you mean {' or '.join(close)}?)"
            break
    else:
        m = re.search(r'persistentvolumeclaim "([^"]+)" not found', message, re.I)
        if m:
            cause = f"pod uses PersistentVolumeClaim {m.group(1)}, which does not exist"
    cause += "; the pod stays ContainerCreating"
    return Finding("pod.failed-mount", "error", ref, cause, [_event_evidence(snap, pod, last)]).follows(*depends)


# -- scheduling ---------------------------------------------------------------------------------------------------

def _unschedulable(snap: Snapshot, pod: dict[str, Any], cond: dict[str, Any]) -> Finding | None:
    ref = snap.ref(pod, "Pod")
    meta, spec = pod.get("metadata") or {}, pod.get("spec") or {}
    ns = meta.get("namespace")
    age = age_seconds(meta.get("creationTimestamp"), snap.now)
    message = cond.get("message") or ""
    events = snap.events_for(pod, "Pod", reason="FailedScheduling", within=_RECENT_EVENT * 2)
    if events:
        message = events[-1].get("message") or message
    if cond.get("reason") != "Unschedulable" and not events:
        return None
    if age is not None and age < 5:
        return None
    parsed = parse_scheduling_message(message)
    evidence = [_event_evidence(snap, pod, events[-1])] if events else [
        Evidence("field", f"{ref} .status.conditions[PodScheduled]", message)]
    depends: list[str] = []
    reasons: list[str] = []

    claims = [v["persistentVolumeClaim"]["claimName"] for v in spec.get("volumes") or []
              if (v.get("persistentVolumeClaim") or {}).get("claimName")]
    if ("unbound" in message.lower() and "persistentvolumeclaim" in message.lower()) or (
            parsed and "volume" in parsed.kinds() and claims):
        unbound = [c for c in claims if ((snap.get("PersistentVolumeClaim", ns, c) or {}).get("status") or {}
                                         ).get("phase") != "Bound"] or claims
        reasons.append(f"it waits for PersistentVolumeClaim {', '.join(unbound)}, which is not bound")
        depends += [obj_ref("PersistentVolumeClaim", ns, c) for c in unbound]

    nodes = snap.all("Node")
    if nodes and not reasons:
        verdicts = check_nodes(spec, nodes)
        placeable = [v for v in verdicts if "selector" not in v.fails and "affinity" not in v.fails]
        if not placeable:
            reasons.append(_selector_reason(spec, nodes))
        else:
            tainted = [v for v in placeable if "taint" in v.fails]
            short = [v for v in placeable if "resources" in v.fails]
            cordoned = [v for v in placeable if v.unschedulable]
            if (tainted and len(tainted) == len(placeable)) or (tainted and not short):
                for v in tainted:
                    taints = ", ".join(f"{t.get('key')}={t.get('value', '')}:{t.get('effect')}".replace("=:", ":")
                                       for t in v.taints)
                    condition = [t for t in v.taints if str(t.get("key", "")).startswith("node.kubernetes.io/")]
                    if condition or v.not_ready:
                        reasons.append(f"node {v.node}, which it may use, is NotReady (taint {taints})")
                        depends.append(obj_ref("Node", None, v.node))
                    else:
                        reasons.append(f"node {v.node}, which it may use, has taint {taints} and the pod has no "
                                       "toleration for it")
            if short and (len(short) == len(placeable) or not tainted):
                resources = sorted({r for v in short for r in v.short})
                for res in resources:
                    want = max(v.short[res][0] for v in short if res in v.short)
                    biggest = max((v.short[res][1] for v in short if res in v.short), default=None)
                    fmt = format_cpu if res == "cpu" else format_bytes
                    reasons.append(f"Insufficient {res}: it requests {fmt(want)} {res}, more than any node it may "
                                   f"use can allocate (largest: {fmt(biggest) if biggest is not None else '?'})")
            for v in cordoned:
                reasons.append(f"node {v.node} is cordoned (unschedulable)")
                depends.append(obj_ref("Node", None, v.node))
            if not reasons and parsed is not None:
                reasons.append("the nodes it may use are full: " + "; ".join(
                    f"{c.count} {c.text}" for c in parsed.causes))
    if not reasons and parsed is not None:
        for c in parsed.causes:
            if c.kind == "resources":
                req = pod_requests(spec).get(c.resource or "")
                fmt = format_cpu if c.resource == "cpu" else format_bytes
                reasons.append(f"{c.count} node(s): Insufficient {c.resource}"
                               + (f" (it requests {fmt(req)})" if req is not None else ""))
            else:
                reasons.append(f"{c.count} {c.text}")
    if not reasons:
        reasons.append(message or "the scheduler cannot place it")
    head = f"no node fits ({parsed.available}/{parsed.total} available)" if parsed else "pod cannot be scheduled"
    cause = f"{head}: " + "; ".join(dict.fromkeys(reasons))
    return Finding("pod.unschedulable", "error", ref, cause, evidence).follows(*depends)


def _selector_reason(spec: dict[str, Any], nodes: list[dict[str, Any]]) -> str:
    parts = []
    labels = [(n.get("metadata") or {}).get("labels") or {} for n in nodes]
    for k, want in (spec.get("nodeSelector") or {}).items():
        have = sorted({lab[k] for lab in labels if k in lab})
        if want not in have:
            parts.append(f"nodeSelector {k}={want} matches no node "
                         + (f"(nodes have {k}={', '.join(have)})" if have else f"(no node has a {k} label)"))
    affinity = ((spec.get("affinity") or {}).get("nodeAffinity") or {}).get(
        "requiredDuringSchedulingIgnoredDuringExecution") or {}
    for term in affinity.get("nodeSelectorTerms") or []:
        for e in term.get("matchExpressions") or []:
            k = e.get("key")
            have = sorted({lab[k] for lab in labels if k in lab})
            values = ", ".join(e.get("values") or [])
            parts.append(f"required node affinity {k} {e.get('operator')} ({values}) matches no node "
                         + (f"(nodes have {k}={', '.join(have)})" if have else f"(no node has a {k} label)"))
    if not parts:
        parts.append("its node selector / affinity matches no node")
    return "; ".join(parts)


def _node_not_ready(node: dict[str, Any]) -> bool:
    for cond in (node.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Ready":
            return cond.get("status") != "True"
    return False


def _ready_text(node: dict[str, Any]) -> str:
    for cond in (node.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Ready":
            return f"Ready={cond.get('status')} ({cond.get('reason', '')}): {cond.get('message', '')}"
    return "no Ready condition"
