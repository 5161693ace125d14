"""The image catalog: what the "application" inside each container image does in the sandbox.

The node simulator plays the kubelet for fake nodes; for every container it asks this module
whether the image exists (`resolve_image`), and what one run of it does (`start`): its log lines on
a timeline, whether it keeps running, exits or is OOM-killed, which ports and HTTP paths it serves,
and how much memory and CPU it uses. `exec_probe` answers exec probes.

Everything here is a pure function of the `ContainerContext` (no I/O, no clock, no randomness), so
the same pod spec always behaves the same way. Log lines carry timestamps from a fixed epoch
(`LOG_EPOCH`) plus the offset at which they are written, or a ``{ts}`` placeholder in
`Program.periodic_log`.

The catalog is a registry: one `_Image` per image family, each naming its executables and the small
function that models each one. `start` resolves the container's argv like a container runtime
(ENTRYPOINT/CMD vs. ``command``/``args``), runs the matching behaviour and then applies the universal
rules (missing executable -> start error, working set above the memory limit -> OOM kill).
Shell images and shell commands go through the tiny ``sh`` in `_shell`.
"""

from __future__ import annotations

import ast
import hashlib
import json
import math
import re
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from enum import Enum
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from kubecopilot.sandbox.simulator._shell import ShellHost

__all__ = [
    "CATCH_ALL_PATHS",
    "LOG_EPOCH",
    "ContainerContext",
    "ImageRef",
    "Program",
    "PullError",
    "ServiceLookup",
    "catalog_images",
    "cluster_ip",
    "exec_probe",
    "is_cluster_host",
    "pod_ip",
    "resolve_image",
    "stable_hash",
    "start",
]

#: Wall-clock time that offset 0 of every program maps to in the timestamps written *inside* log lines.
LOG_EPOCH = datetime(2026, 11, 23, 10, 0, 0, tzinfo=UTC)

MiB = 1024 * 1024


class ServiceLookup(str, Enum):  # noqa: UP042 - the interface the engine was written against
    """What ``ctx.resolve_service(host)`` answers for a host name inside the cluster."""

    OK = "ok"                      # Service exists and has >=1 ready endpoint
    NO_ENDPOINTS = "no-endpoints"  # Service exists, no ready endpoint
    MISSING = "missing"            # no such Service


def _no_services(host: str) -> ServiceLookup:
    return ServiceLookup.MISSING


def _allow_all(verb: str, resource: str, group: str) -> str | None:
    return None


@dataclass(frozen=True)
class ContainerContext:
    """Everything the simulator knows about one container instance when it starts it."""

    image: str                       # as written in the pod spec: "nginx", "nginx:1.25", "sandbox/api:1.0"
    command: list[str]               # container.command ([] if absent)
    args: list[str]                  # container.args ([] if absent)
    env: dict[str, str]              # fully resolved env
    files: dict[str, str]            # absolute path -> content of every mounted ConfigMap/Secret/... file
    memory_limit_bytes: int | None   # resources.limits.memory, None if unlimited
    namespace: str
    pod_name: str
    container_name: str
    restart_count: int = 0
    resolve_service: Callable[[str], ServiceLookup] = _no_services
    #: (verb, resource, api_group) -> None if the pod's ServiceAccount may do it, else the forbidden message.
    can_i: Callable[[str, str, str], str | None] = _allow_all


@dataclass(frozen=True)
class PullError:
    """Why an image cannot be pulled; `message` is worded like containerd's."""

    reason: Literal["not-found", "repository-not-found", "unknown-host", "invalid-reference"]
    message: str


@dataclass(frozen=True)
class ImageRef:
    """A catalog image, normalised like containerd does it."""

    repository: str   # "docker.io/library/nginx", "sandbox/api"
    tag: str          # "latest" when absent
    reference: str    # "docker.io/library/nginx:1.25" (or "...@sha256:..." for digests)
    size_bytes: int   # plausible compressed size


@dataclass(frozen=True)
class Program:
    """What one run (one container instance) of an image does, on a timeline starting at container start."""

    outcome: Literal["run", "exit", "oom", "start-error"]
    after_seconds: float = 0.0            # when exit / oom happens (unused for "run")
    exit_code: int = 0                    # exit: the code; oom: 137; start-error: 128
    message: str = ""                     # start-error: the runtime's message; else ""
    logs: list[tuple[float, str]] = field(default_factory=list)   # (seconds after start, line)
    #: While running after the initial logs, a line repeated every `periodic_seconds`. Only the exact
    #: substrings "{n}" (1, 2, 3...) and "{ts}" are placeholders. A loop iteration that writes several
    #: lines gives a value with embedded newlines.
    periodic_log: str | None = None
    periodic_seconds: float = 10.0
    serves: dict[int, frozenset[str] | None] = field(default_factory=dict)  # port -> HTTP paths, None = TCP
    memory_bytes: int = 0                 # steady working set (metrics; decides OOM)
    cpu_millicores: int = 1               # steady CPU use
    #: Offsets at which the app retries something that depends on cluster state (an upstream Service).
    #: The engine re-runs `start` there and, if the app would now come up, continues with that program
    #: instead of the failing one: a dependency that becomes ready in time heals without a restart.
    retry_at: tuple[float, ...] = ()


def stable_hash(text: str) -> int:
    """A hash that is the same in every process (``hash()`` of a str is salted per process)."""
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")


def cluster_ip(host: str, namespace: str = "default") -> str:
    """The (made-up, stable) ClusterIP of the Service a host name refers to, e.g. ``10.96.45.12``."""
    parts = host.rstrip(".").split(".")
    ns = parts[1] if len(parts) > 1 and parts[1] != "svc" else namespace
    h = stable_hash(f"{parts[0]}.{ns}")
    return f"10.96.{(h >> 8) % 254 + 1}.{h % 253 + 2}"


_TLDS = frozenset({"com", "org", "net", "io", "dev", "edu", "gov", "co", "uk", "de", "fr", "example", "app",
                   "cloud", "ai", "info", "biz", "us", "eu", "me", "sh", "local", "internal", "test"})


def is_cluster_host(host: str) -> bool:
    """Does `host` name a Service (``db``, ``db.ns``, ``db.ns.svc[.cluster.local]``), not an outside host?"""
    if re.fullmatch(r"[\d.]+|\[?[0-9a-fA-F]*:[0-9a-fA-F:]*\]?", host) or host == "localhost":
        return False
    parts = host.rstrip(".").split(".")
    if len(parts) == 1 or ".svc" in host:
        return True
    return len(parts) == 2 and parts[1] not in _TLDS


def pod_ip(pod_name: str) -> str:
    """The (made-up, stable) IP of a pod, e.g. ``10.244.1.23``."""
    h = stable_hash(pod_name)
    return f"10.244.{h % 4}.{(h >> 8) % 250 + 2}"


def at(offset: float) -> datetime:
    """The wall-clock time written in log lines for `offset` seconds after container start."""
    return LOG_EPOCH + timedelta(seconds=offset)


# ---------------------------------------------------------------------------------------------------
# the registry


Handler = Callable[["_Run"], Program]
_ShellKind = Literal["busybox", "coreutils", "none"]
_PATH_DIRS = frozenset({"/bin", "/usr/bin", "/usr/local/bin", "/sbin", "/usr/sbin", "/usr/local/sbin"})
#: Paths a catch-all HTTP server (one that answers every path) is taken to serve.
CATCH_ALL_PATHS = frozenset({"/", "/index.html", "/health", "/healthz", "/ready", "/readyz", "/livez",
                             "/status", "/metrics", "/ping", "/api", "/version"})


@dataclass(frozen=True)
class _Image:
    """One image family: its tags, size, default argv, executables and the shell it carries."""

    repository: str                               # normalised, "docker.io/library/nginx"
    tags: tuple[str, ...]
    size_bytes: int
    entrypoint: tuple[str, ...] = ()
    cmd: tuple[str, ...] = ()
    binaries: Mapping[str, Handler] = field(default_factory=dict)
    shell: _ShellKind = "coreutils"
    versions: Mapping[str, str] = field(default_factory=dict)   # tag (variant suffix stripped) -> app version
    variant_sizes: Mapping[str, int] = field(default_factory=dict)   # "alpine"/"slim" -> size
    extra_applets: frozenset[str] = frozenset()

    def version(self, tag: str) -> str:
        base = re.sub(r"-(alpine|slim|management|bookworm|bullseye|bookworm-slim)[\w.-]*$", "", tag)
        if base in ("alpine", "slim", "management"):
            base = "latest"
        return self.versions.get(tag) or self.versions.get(base) or self.versions.get("latest", tag)

    def size_for(self, tag: str) -> int:
        size = self.size_bytes
        for marker, variant in self.variant_sizes.items():
            if marker in tag:
                size = variant
        jitter = stable_hash(f"{self.repository}:{tag}") % 2001 - 1000   # +-1%
        return size + size * jitter // 100_000

    def applets(self, tag: str) -> frozenset[str] | None:
        from kubecopilot.sandbox.simulator._shell import BUSYBOX_APPLETS, COREUTILS_APPLETS

        if self.shell == "none":
            return None
        base = BUSYBOX_APPLETS if self.shell == "busybox" or "alpine" in tag else COREUTILS_APPLETS
        return base | self.extra_applets


@dataclass(frozen=True)
class _Run:
    """One executable being run inside a container: the context plus the argv."""

    ctx: ContainerContext
    image: _Image
    tag: str
    argv: list[str]
    env: dict[str, str]
    local_serves: Mapping[int, frozenset[str] | None] | None = None   # set for exec probes
    parent: str = ""    # basename of the executable that exec'd this one ("" for PID 1 or a shell child)
    t0: float = 0.0     # when this process starts, in seconds after the container started

    def at(self, offset: float) -> datetime:
        """Wall-clock time for log lines written `offset` seconds after *this process* started."""
        return at(self.t0 + offset)

    @property
    def args(self) -> list[str]:
        return self.argv[1:]

    @property
    def version(self) -> str:
        return self.image.version(self.tag)

    @property
    def alpine(self) -> bool:
        return "alpine" in self.tag

    def exec(self, argv: list[str], after: float = 0.0) -> Program | None:
        """Run another executable of the same image `after` seconds in (an entrypoint's ``exec "$@"``)."""
        parent = self.argv[0].rsplit("/", 1)[-1] if self.argv else ""
        return _execute(replace(self, argv=list(argv), parent=parent, t0=self.t0 + after))

    def shell(self, argv: list[str]) -> Program:
        from kubecopilot.sandbox.simulator._shell import run_shell

        return run_shell(argv, self.env, self.ctx.files, host=self.shell_host())

    def shell_host(self) -> ShellHost:
        from kubecopilot.sandbox.simulator._shell import ShellHost

        return ShellHost(applets=self.image.applets(self.tag) or frozenset(), namespace=self.ctx.namespace,
                         resolve_service=self.ctx.resolve_service,
                         external=lambda argv, t: _execute(replace(self, argv=list(argv), parent="",
                                                                    t0=self.t0 + t)),
                         local_serves=self.local_serves, t0=self.t0)

    def reach(self, host: str) -> ServiceLookup:
        """Can this container reach `host` (a Service name, localhost or an outside host)?"""
        if host in ("localhost", "127.0.0.1", "::1", "0.0.0.0", self.ctx.pod_name):
            return ServiceLookup.OK
        if re.fullmatch(r"[\d.]+", host) or not is_cluster_host(host):
            return ServiceLookup.OK
        return self.ctx.resolve_service(host)


_CATALOG: dict[str, _Image] = {}


def _register(image: _Image) -> _Image:
    _CATALOG[image.repository] = image
    return image


def catalog_images() -> dict[str, tuple[str, ...]]:
    """Every catalog repository (normalised) and its tags, e.g. for documentation and scenario checks."""
    return {repo: image.tags for repo, image in sorted(_CATALOG.items())}


# ---------------------------------------------------------------------------------------------------
# image references


_COMPONENT = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*")
_TAG = re.compile(r"[\w][\w.-]{0,127}")
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
_KNOWN_HOSTS = frozenset({"docker.io", "quay.io", "registry.k8s.io", "ghcr.io", "sandbox"})


@dataclass(frozen=True)
class _Ref:
    domain: str
    path: str
    tag: str | None
    digest: str | None

    @property
    def repository(self) -> str:
        return f"{self.domain}/{self.path}"

    @property
    def reference(self) -> str:
        tag = f":{self.tag}" if self.tag or not self.digest else ""
        if not self.tag and not self.digest:
            tag = ":latest"
        return self.repository + tag + (f"@{self.digest}" if self.digest else "")


def _parse_reference(image: str) -> _Ref | PullError:
    invalid = PullError("invalid-reference", f'Failed to apply default image tag "{image}": couldn\'t parse '
                                             f'image reference "{image}": invalid reference format')
    name, _, digest = image.partition("@")
    if "@" in image and not _DIGEST.fullmatch(digest):
        return invalid
    tag: str | None = None
    slash, colon = name.rfind("/"), name.rfind(":")
    if colon > slash:
        name, tag = name[:colon], name[colon + 1:]
        if not _TAG.fullmatch(tag):
            return invalid
    first, _, rest = name.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        domain, path = first, rest
    elif first == "sandbox" and rest:
        domain, path = "sandbox", rest
    else:
        domain, path = "docker.io", name
    if domain == "index.docker.io":
        domain = "docker.io"
    if domain == "k8s.gcr.io":   # the old registry name still redirects to registry.k8s.io
        domain = "registry.k8s.io"
    if domain == "docker.io" and "/" not in path:
        path = "library/" + path
    if not path or not all(_COMPONENT.fullmatch(c) for c in path.split("/")):
        return invalid
    return _Ref(domain, path, tag, digest or None)


def _lookup(image: str) -> tuple[_Image, str, _Ref] | PullError:
    ref = _parse_reference(image)
    if isinstance(ref, PullError):
        return ref
    full = ref.reference
    prefix = f'rpc error: code = Unknown desc = failed to pull and unpack image "{full}": ' \
             f'failed to resolve reference "{full}": '
    if ref.domain not in _KNOWN_HOSTS:
        host = ref.domain.split(":")[0]
        manifest = ref.digest or ref.tag or "latest"
        if host in ("localhost", "127.0.0.1"):
            dial = f"dial tcp 127.0.0.1:{ref.domain.partition(':')[2] or '443'}: connect: connection refused"
        else:
            dial = f"dial tcp: lookup {host}: no such host"
        url = f"https://{ref.domain}/v2/{ref.path}/manifests/{manifest}"
        return PullError("unknown-host", prefix + f'failed to do request: Head "{url}": {dial}')
    found = _CATALOG.get(ref.repository if ref.domain != "sandbox" else f"sandbox/{ref.path}")
    if found is None:
        if ref.domain == "quay.io":
            why = f"unexpected status from HEAD request to https://quay.io/v2/{ref.path}/manifests/" \
                  f"{ref.tag or 'latest'}: 401 UNAUTHORIZED"
        elif ref.domain == "ghcr.io":
            scope = ref.path.replace("/", "%2F")
            why = ("failed to authorize: failed to fetch anonymous token: unexpected status from GET request "
                   f"to https://ghcr.io/token?scope=repository%3A{scope}%3Apull&service=ghcr.io: "
                   "403 Forbidden")
        elif ref.domain == "registry.k8s.io":
            return PullError("repository-not-found", prefix.replace("code = Unknown", "code = NotFound")
                             + f"{full}: not found")
        else:
            why = ("pull access denied, repository does not exist or may require authorization: "
                   "server message: insufficient_scope: authorization failed")
        return PullError("repository-not-found", prefix + why)
    tag = ref.tag or "latest"
    if ref.tag is not None and ref.tag not in found.tags:
        return PullError("not-found", f'rpc error: code = NotFound desc = failed to pull and unpack image '
                                      f'"{full}": failed to resolve reference "{full}": {full}: not found')
    return found, tag, ref


def resolve_image(image: str) -> ImageRef | PullError:
    """Normalise `image` like containerd and look it up in the catalog."""
    found = _lookup(image)
    if isinstance(found, PullError):
        return found
    spec, tag, ref = found
    repository = spec.repository
    return ImageRef(repository=repository, tag=tag, reference=ref.reference, size_bytes=spec.size_for(tag))


# ---------------------------------------------------------------------------------------------------
# start / exec


def _argv(ctx: ContainerContext, image: _Image) -> list[str]:
    """The process argv like a container runtime builds it from ENTRYPOINT/CMD and command/args."""
    if ctx.command:
        return [*ctx.command, *ctx.args]
    return [*image.entrypoint, *(ctx.args if ctx.args else image.cmd)]


def _env(ctx: ContainerContext, image: _Image) -> dict[str, str]:
    env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOSTNAME": ctx.pod_name,
           "HOME": "/root"}
    env.update(ctx.env)
    return env


def _normpath(path: str) -> str:
    parts: list[str] = []
    for p in path.split("/"):
        if p in ("", "."):
            continue
        if p == "..":
            if parts:
                parts.pop()
        else:
            parts.append(p)
    return "/" + "/".join(parts)


def _binary(image: _Image, name: str) -> Handler | None:
    handler = image.binaries.get(name)
    if handler is None and re.fullmatch(r"python3(\.\d+)?", name):
        handler = image.binaries.get("python3")
    return handler


def _execute(run: _Run) -> Program | None:
    """Run run.argv in the image; None when the image has no such executable."""
    if not run.argv or not run.argv[0]:
        return None
    name = run.argv[0]
    base = name.rstrip("/").rsplit("/", 1)[-1]
    applets = run.image.applets(run.tag)
    if "/" in name:
        path = _normpath(name)
        if path in run.ctx.files and applets is not None:
            return run.shell(run.argv)      # a mounted script (shebang decides the interpreter)
        handler = _binary(run.image, base)
        if handler is not None:
            return handler(run)
        if applets is not None and base in applets and path.rsplit("/", 1)[0] in _PATH_DIRS:
            return run.shell(run.argv)
        return None
    handler = _binary(run.image, base)
    if handler is not None:
        return handler(run)
    if applets is not None and base in applets:
        return run.shell(run.argv)
    return None


def _start_error(name: str) -> str:
    why = f"exec: \"{name}\": stat {name}: no such file or directory" if "/" in name else \
        f"exec: \"{name}\": executable file not found in $PATH"
    return ("failed to create containerd task: failed to create shim task: OCI runtime create failed: "
            f"runc create failed: unable to start container process: {why}: unknown")


def _apply_oom(program: Program, limit: int | None, ramp: float | None = None) -> Program:
    """The universal memory rule: a working set above the limit is OOM-killed while it ramps up."""
    if limit is None or program.outcome in ("oom", "start-error") or program.memory_bytes <= limit:
        return program
    t = ramp if ramp is not None else 1.0 + 2.0 * min(1.0, limit / max(program.memory_bytes, 1))
    if program.outcome == "exit":
        t = min(t, program.after_seconds)
    t = round(t, 3)
    return Program("oom", after_seconds=t, exit_code=137, logs=[(o, ln) for o, ln in program.logs if o < t],
                   serves=program.serves, memory_bytes=program.memory_bytes,
                   cpu_millicores=program.cpu_millicores)


def start(ctx: ContainerContext) -> Program:
    """What one run of the container does (pure: the same ctx always gives the same Program)."""
    found = _lookup(ctx.image)
    if isinstance(found, PullError):
        return Program("start-error", exit_code=128, message=found.message)
    image, tag, _ = found
    argv = _argv(ctx, image)
    run = _Run(ctx, image, tag, argv, _env(ctx, image))
    program = _execute(run)
    if program is None:
        return Program("start-error", exit_code=128, message=_start_error(argv[0] if argv else ""))
    return _apply_oom(program, ctx.memory_limit_bytes)


class _MainServes(Mapping[int, "frozenset[str] | None"]):
    """What the container's main process listens on, worked out only if a probe connects to localhost."""

    def __init__(self, ctx: ContainerContext) -> None:
        self.ctx = ctx
        self._serves: dict[int, frozenset[str] | None] | None = None

    def _get(self) -> dict[int, frozenset[str] | None]:
        if self._serves is None:
            main = start(self.ctx)
            self._serves = main.serves if main.outcome == "run" else {}
        return self._serves

    def __getitem__(self, port: int) -> frozenset[str] | None:
        return self._get()[port]

    def __iter__(self) -> Iterator[int]:
        return iter(self._get())

    def __len__(self) -> int:
        return len(self._get())


def exec_probe(ctx: ContainerContext, command: list[str]) -> tuple[bool, str]:
    """Result of an exec probe (or `kubectl exec`-like check) run inside the container: (success, output)."""
    found = _lookup(ctx.image)
    if isinstance(found, PullError):
        return False, "container not found"
    image, tag, _ = found
    run = _Run(ctx, image, tag, list(command), _env(ctx, image), local_serves=_MainServes(ctx))
    program = _execute(run)
    if program is None:
        name = command[0] if command else ""
        return False, ("OCI runtime exec failed: exec failed: unable to start container process: "
                       f'exec: "{name}": executable file not found in $PATH: unknown')
    output = "\n".join(line for _, line in program.logs)
    if program.outcome == "run":
        return False, f'command "{" ".join(command)}" timed out'
    return program.outcome == "exit" and program.exit_code == 0, output


# ---------------------------------------------------------------------------------------------------
# building blocks


class _Lines:
    """A timeline of log lines being written."""

    def __init__(self) -> None:
        self.lines: list[tuple[float, str]] = []

    def add(self, t: float, *lines: str) -> None:
        for line in lines:
            self.lines.append((round(t, 3), line))

    @property
    def end(self) -> float:
        return max((t for t, _ in self.lines), default=0.0)


def _exit(lines: _Lines | list[tuple[float, str]], code: int, after: float | None = None, *,
          memory: int = 2 * MiB, cpu: int = 1) -> Program:
    logs = lines.lines if isinstance(lines, _Lines) else lines
    end = max((t for t, _ in logs), default=0.0)
    finished = max(after if after is not None else end, end)
    return Program("exit", after_seconds=round(finished, 3), exit_code=code, logs=list(logs),
                   memory_bytes=memory, cpu_millicores=cpu)


def _serve(lines: _Lines | list[tuple[float, str]], serves: dict[int, frozenset[str] | None], *, memory: int,
           cpu: int = 2, periodic: str | None = None, period: float = 10.0) -> Program:
    logs = lines.lines if isinstance(lines, _Lines) else lines
    return Program("run", logs=list(logs), periodic_log=periodic, periodic_seconds=period, serves=serves,
                   memory_bytes=memory, cpu_millicores=cpu)


def _end(lines: list[tuple[float, str]]) -> float:
    return max((t for t, _ in lines), default=0.0)


def _after(prelude: list[tuple[float, str]], program: Program, gap: float = 0.0) -> Program:
    """`program` started once `prelude` (e.g. an entrypoint script's lines) has been written."""
    shift = _end(prelude) + gap if prelude else 0.0
    logs = list(prelude) + [(round(t + shift, 3), line) for t, line in program.logs]
    after = program.after_seconds + shift if program.outcome in ("exit", "oom") else 0.0
    return replace(program, logs=logs, after_seconds=round(after, 3))


_Prelude = Callable[["_Run", list[str]], "list[tuple[float, str]] | Program"]


def _entrypoint(path: str, prelude: _Prelude | None = None,
                rewrite: Callable[[list[str]], list[str]] | None = None) -> Handler:
    """A ``docker-entrypoint.sh`` that may print/check something, then does ``exec "$@"``."""

    def handler(run: _Run) -> Program:
        args = run.args
        if rewrite is not None:
            args = rewrite(args)
        if not args:
            return _exit([], 0)
        before = prelude(run, args) if prelude is not None else []
        if isinstance(before, Program):
            return before
        gap = 0.01 if before else 0.0
        program = run.exec(args, after=_end(before) + gap)
        if program is None:
            line = f"{path}: line 1: exec: {args[0]}: not found"
            return _after(before, _exit([(0.0, line)], 127), gap)
        return _after(before, program, gap)

    return handler


def _dash_rewrite(binary: str, also: Callable[[str], bool] | None = None) -> Callable[[list[str]], list[str]]:
    """The official images' rule: ``if [ "${1#-}" != "$1" ]; then set -- BINARY "$@"; fi``."""

    def rewrite(args: list[str]) -> list[str]:
        if args and (args[0].startswith("-") or (also is not None and also(args[0]))):
            return [binary, *args]
        return args

    return rewrite


def _env_int(env: Mapping[str, str], key: str, default: int) -> int:
    try:
        return int(env.get(key, "").strip() or default)
    except ValueError:
        return default


def _env_float(env: Mapping[str, str], key: str, default: float) -> float:
    try:
        value = float(env.get(key, "").strip() or default)
    except ValueError:
        return default
    return value if math.isfinite(value) and value >= 0 else default


def _options(args: list[str], with_value: frozenset[str]) -> tuple[dict[str, str], list[str]]:
    """``--k=v``/``--k v``/``-k v`` options and the remaining positional arguments."""
    opts: dict[str, str] = {}
    rest: list[str] = []
    k = 0
    while k < len(args):
        a = args[k]
        if a.startswith("-") and "=" in a:
            key, _, value = a.partition("=")
            opts[key] = value
        elif a in with_value and k + 1 < len(args):
            opts[a] = args[k + 1]
            k += 1
        elif a.startswith("-"):
            opts[a] = "true"
        else:
            rest.append(a)
        k += 1
    return opts, rest


def _http_get_ok(run: _Run, host: str, port: int, path: str = "/") -> tuple[bool, str]:
    """A client in this container connecting to host:port: (ok, error kind) with kinds dns/refused."""
    if host in ("localhost", "127.0.0.1", "::1", "0.0.0.0"):
        if run.local_serves is None:
            return True, ""
        return (port in run.local_serves), ("" if port in run.local_serves else "refused")
    answer = run.reach(host)
    if answer == ServiceLookup.MISSING:
        return False, "dns"
    if answer == ServiceLookup.NO_ENDPOINTS:
        return False, "refused"
    return True, ""


# ---------------------------------------------------------------------------------------------------
# public servers


def _nginx_date(run: _Run, t: float) -> str:
    return run.at(t).strftime("%Y/%m/%d %H:%M:%S")


def _nginx_prelude(run: _Run, args: list[str]) -> list[tuple[float, str]]:
    if args[0] not in ("nginx", "nginx-debug") or run.env.get("NGINX_ENTRYPOINT_QUIET_LOGS"):
        return []
    ep = "/docker-entrypoint.sh"
    lines = [f"{ep}: /docker-entrypoint.d/ is not empty, will attempt to perform configuration",
             f"{ep}: Looking for shell scripts in /docker-entrypoint.d/",
             f"{ep}: Launching /docker-entrypoint.d/10-listen-on-ipv6-by-default.sh"]
    if any(p.startswith("/etc/nginx/conf.d/") for p in run.ctx.files):
        lines.append("10-listen-on-ipv6-by-default.sh: info: /etc/nginx/conf.d/default.conf is not a file or "
                     "does not exist")
    else:
        script = "10-listen-on-ipv6-by-default.sh: info:"
        lines += [f"{script} Getting the checksum of /etc/nginx/conf.d/default.conf",
                  f"{script} Enabled listen on IPv6 in /etc/nginx/conf.d/default.conf"]
    lines += [f"{ep}: Sourcing /docker-entrypoint.d/15-local-resolvers.envsh",
              f"{ep}: Launching /docker-entrypoint.d/20-envsubst-on-templates.sh",
              f"{ep}: Launching /docker-entrypoint.d/30-tune-worker-processes.sh",
              f"{ep}: Configuration complete; ready for start up"]
    return [(0.0, line) for line in lines]


_LISTEN = re.compile(r"^\s*listen\s+(?:[\[\]\w.:]*:)?(\d+)\b[^;]*;", re.M)


def _nginx_config(run: _Run) -> tuple[dict[int, frozenset[str] | None], str | None, bool]:
    """Ports/paths from mounted nginx config files, the first [emerg] error, and whether daemon is off."""
    files = run.ctx.files
    html = {"/" + p[len("/usr/share/nginx/html/"):] for p in files if p.startswith("/usr/share/nginx/html/")}
    confs = {p: c for p, c in sorted(files.items()) if p.startswith("/etc/nginx/") and p.endswith(".conf")}
    default = frozenset({"/", "/index.html", "/50x.html"} | html)
    if not confs:
        return {80: default}, None, False
    ports: dict[int, set[str]] = {}
    upstreams = set()
    daemon_off = False
    for path, text in confs.items():
        depth = 0
        unquoted = [re.sub(r"'[^']*'|\"[^\"]*\"", "''", line) for line in text.split("\n")]
        clean_lines = [re.sub(r"#.*", "", line) for line in unquoted]
        for number, line in enumerate(clean_lines, 1):
            for ch in line:
                depth += (ch == "{") - (ch == "}")
                if depth < 0:
                    return {}, f'unexpected "}}" in {path}:{number}', daemon_off
        if depth > 0:
            return {}, f'unexpected end of file, expecting "}}" in {path}:{len(clean_lines)}', daemon_off
        upstreams |= set(re.findall(r"\bupstream\s+([\w.-]+)\s*\{", text))
        daemon_off = daemon_off or bool(re.search(r"^\s*daemon\s+off\s*;", text, re.M))
        for block in re.split(r"\bserver\s*\{", text)[1:]:
            listens = [int(m) for m in _LISTEN.findall(block)]
            locations = set(re.findall(r"\blocation\s+(?:=|\^~)?\s*(/[^\s{]*)", block))
            paths = locations | html
            if "/" in locations:
                paths |= {"/index.html"}
            for port in listens or [80]:
                ports.setdefault(port, set()).update(paths)
        for number, line in enumerate(text.split("\n"), 1):
            for m in re.finditer(r"\bproxy_pass\s+https?://([\w.-]+)(?::(\d+))?", line):
                if m.group(1) not in upstreams and run.reach(m.group(1)) == ServiceLookup.MISSING:
                    target = m.group(1) + (f":{m.group(2)}" if m.group(2) else "")
                    return {}, f'host not found in upstream "{target}" in {path}:{number}', daemon_off
    if not ports:
        return {80: default}, None, daemon_off
    return {port: frozenset(paths) for port, paths in ports.items()}, None, daemon_off


def _nginx(run: _Run) -> Program:
    opts, _ = _options(run.args, frozenset({"-g", "-c", "-p", "-e", "-s"}))
    version = run.version
    if "-v" in opts or "-V" in opts:
        return _exit([(0.0, f"nginx version: nginx/{version}")], 0)
    serves, error, daemon_off = _nginx_config(run)
    if "-t" in opts or "-T" in opts:
        if error:
            return _exit([(0.0, f"nginx: [emerg] {error}"),
                          (0.0, "nginx: configuration file /etc/nginx/nginx.conf test failed")], 1)
        return _exit([(0.0, "nginx: the configuration file /etc/nginx/nginx.conf syntax is ok"),
                      (0.0, "nginx: configuration file /etc/nginx/nginx.conf test is successful")], 0)
    if error:
        emerg = [(0.0, f"{_nginx_date(run, 0.0)} [emerg] 1#1: {error}"), (0.0, f"nginx: [emerg] {error}")]
        return _exit(emerg, 1, 0.05)
    if "daemon off" not in opts.get("-g", "") and not daemon_off:
        return _exit([], 0, 0.05)   # nginx forked into the background; PID 1 is done
    d = _nginx_date(run, 0.0)
    built = "built by gcc 13.2.1 20240309 (Alpine 13.2.1_git20240309) " if run.alpine \
        else "built by gcc 12.2.0 (Debian 12.2.0-14) "
    lines = [f'{d} [notice] 1#1: using the "epoll" event method', f"{d} [notice] 1#1: nginx/{version}",
             f"{d} [notice] 1#1: {built}", f"{d} [notice] 1#1: OS: Linux 6.1.0-sandbox",
             f"{d} [notice] 1#1: getrlimit(RLIMIT_NOFILE): 1048576:1048576",
             f"{d} [notice] 1#1: start worker processes", f"{d} [notice] 1#1: start worker process 29",
             f"{d} [notice] 1#1: start worker process 30"]
    first = sorted(serves)[0] if serves else 80
    path = "/" if "/" in (serves.get(first) or ()) else sorted(serves.get(first) or {"/"})[0]
    periodic = f'10.244.0.1 - - [{{ts}}] "GET {path} HTTP/1.1" 200 615 "-" "kube-probe/1.31" "-"'
    return _serve([(0.02, line) for line in lines], serves, memory=8 * MiB, periodic=periodic)


_register(_Image(
    "docker.io/library/nginx",
    ("latest", "stable", "mainline", "alpine", "stable-alpine", "mainline-alpine", "1", "1-alpine", "1.25",
     "1.25.3", "1.25.5", "1.25-alpine", "1.26", "1.26.2", "1.26-alpine", "1.27", "1.27.3", "1.27-alpine"),
    size_bytes=70_400_000, entrypoint=("/docker-entrypoint.sh",), cmd=("nginx", "-g", "daemon off;"),
    binaries={"docker-entrypoint.sh": _entrypoint("/docker-entrypoint.sh", _nginx_prelude), "nginx": _nginx,
              "nginx-debug": _nginx},
    versions={"latest": "1.27.3", "mainline": "1.27.3", "1": "1.27.3", "stable": "1.26.2", "1.25": "1.25.5",
              "1.25.3": "1.25.3", "1.25.5": "1.25.5", "1.26": "1.26.2", "1.26.2": "1.26.2", "1.27": "1.27.3",
              "1.27.3": "1.27.3"},
    variant_sizes={"alpine": 20_300_000}, extra_applets=frozenset({"curl"}),
))


def _httpd(run: _Run) -> Program:
    opts, _ = _options(run.args, frozenset({"-D", "-f", "-k", "-C", "-c"}))
    foreground = run.argv[0].endswith("httpd-foreground") or opts.get("-D") == "FOREGROUND" \
        or "-DFOREGROUND" in opts
    if "-v" in opts:
        return _exit([(0.0, f"Server version: Apache/{run.version} (Unix)")], 0)
    if not foreground:
        return _exit([], 0, 0.05)
    ip = pod_ip(run.ctx.pod_name)
    when = run.at(0.03).strftime("%a %b %d %H:%M:%S.%f %Y")
    warn = ("AH00558: httpd: Could not reliably determine the server's fully qualified domain name, using "
            f"{ip}. Set the 'ServerName' directive globally to suppress this message")
    lines = [warn, warn,
             f"[{when}] [mpm_event:notice] [pid 1:tid 1] AH00489: Apache/{run.version} (Unix) configured -- "
             "resuming normal operations",
             f"[{when}] [core:notice] [pid 1:tid 1] AH00094: Command line: 'httpd -D FOREGROUND'"]
    docroot = "/usr/local/apache2/htdocs/"
    paths = {"/", "/index.html"} | {"/" + p[len(docroot):] for p in run.ctx.files if p.startswith(docroot)}
    return _serve([(0.03, line) for line in lines], {80: frozenset(paths)}, memory=14 * MiB,
                  periodic='10.244.0.1 - - [{ts}] "GET / HTTP/1.1" 200 45')


_register(_Image(
    "docker.io/library/httpd", ("latest", "2", "2.4", "2.4.58", "2.4.62", "alpine", "2-alpine", "2.4-alpine"),
    size_bytes=58_500_000, cmd=("httpd-foreground",),
    binaries={"httpd-foreground": _httpd, "httpd": _httpd, "apachectl": _httpd},
    versions={"latest": "2.4.62", "2": "2.4.62", "2.4": "2.4.62", "2.4.58": "2.4.58", "2.4.62": "2.4.62"},
    variant_sizes={"alpine": 22_700_000},
))


def _redis_server(run: _Run) -> Program:
    args = list(run.args)
    version = run.version
    conf_text = ""
    if args and not args[0].startswith("-"):
        conf = args.pop(0)
        path = _normpath(conf)
        if path not in run.ctx.files:
            why = f"Fatal error, can't open config file '{path}': No such file or directory"
            return _exit([(0.0, f"*** FATAL CONFIG FILE ERROR (Redis {version}) ***"), (0.0, why)], 1)
        conf_text = run.ctx.files[path]
    settings: dict[str, str] = {}
    for line in conf_text.split("\n"):
        parts = line.strip().split(None, 1)
        if parts and not parts[0].startswith("#"):
            settings[parts[0].lower()] = parts[1] if len(parts) > 1 else ""
    opts, _ = _options(args, frozenset({"--port", "--requirepass", "--maxmemory", "--appendonly", "--save",
                                        "--bind", "--protected-mode"}))
    port_text = opts.get("--port") or settings.get("port") or "6379"
    if not port_text.isdigit():
        return _exit([(0.0, f"*** FATAL CONFIG FILE ERROR (Redis {version}) ***"),
                      (0.0, "Reading the configuration file, at line 2"),
                      (0.0, f">>> 'port \"{port_text}\"'"),
                      (0.0, "argument couldn't be parsed into an integer")], 1)
    port = int(port_text)
    c = run.at(0.0).strftime("%d %b %Y %H:%M:%S.000")
    m = run.at(0.002).strftime("%d %b %Y %H:%M:%S.002")
    lines = [f"1:C {c} * oO0OoO0OoO0Oo Redis is starting oO0OoO0OoO0Oo",
             f"1:C {c} * Redis version={version}, bits=64, commit=00000000, modified=0, pid=1, just started",
             f"1:C {c} * Configuration loaded" if conf_text or run.ctx.files.get("") else
             f"1:C {c} # Warning: no config file specified, using the default config. In order to specify a "
             "config file use redis-server /path/to/redis.conf",
             f"1:M {m} * monotonic clock: POSIX clock_gettime",
             f"1:M {m} * Running mode=standalone, port={port}.",
             f"1:M {m} * Server initialized",
             f"1:M {m} * Ready to accept connections tcp"]
    return _serve([(0.002, line) for line in lines], {port: None}, memory=10 * MiB, cpu=3)


def _redis_cli(run: _Run) -> Program:
    opts, rest = _options(run.args, frozenset({"-h", "-p", "-a", "-n", "-u"}))
    host, port = opts.get("-h", "127.0.0.1"), _env_int(opts, "-p", 6379)
    ok, why = _http_get_ok(run, host, port)
    if not ok:
        reason = "Name or service not known" if why == "dns" else "Connection refused"
        return _exit([(0.0, f"Could not connect to Redis at {host}:{port}: {reason}")], 1)
    command = [r.lower() for r in rest]
    return _exit([(0.0, "PONG" if command[:1] in ([], ["ping"]) else "OK")], 0)


_register(_Image(
    "docker.io/library/redis",
    ("latest", "7", "7.2", "7.2.4", "7.2.5", "7.4", "7.4.1", "6", "6.2", "alpine", "7-alpine", "7.2-alpine",
     "7.4-alpine"),
    size_bytes=45_100_000, entrypoint=("docker-entrypoint.sh",), cmd=("redis-server",),
    binaries={"docker-entrypoint.sh": _entrypoint(
        "/usr/local/bin/docker-entrypoint.sh",
        rewrite=_dash_rewrite("redis-server", lambda a: a.endswith(".conf"))),
        "redis-server": _redis_server, "redis-cli": _redis_cli, "redis-sentinel": _redis_server},
    versions={"latest": "7.4.1", "7": "7.4.1", "7.4": "7.4.1", "7.4.1": "7.4.1", "7.2": "7.2.5",
              "7.2.4": "7.2.4", "7.2.5": "7.2.5", "6": "6.2.16", "6.2": "6.2.16"},
    variant_sizes={"alpine": 17_200_000},
))


_PG_NO_PASSWORD = [
    "Error: Database is uninitialized and superuser password is not specified.",
    "       You must specify POSTGRES_PASSWORD to a non-empty value for the",
    '       superuser. For example, "-e POSTGRES_PASSWORD=password" on "docker run".',
    "",
    '       You may also use "POSTGRES_HOST_AUTH_METHOD=trust" to allow all',
    "       connections without a password. This is *not* recommended.",
    "",
    '       See PostgreSQL documentation about "trust":',
    "       https://www.postgresql.org/docs/current/auth-trust.html",
]

_PG_TRUST_WARNING = [
    "*" * 80,
    'WARNING: POSTGRES_HOST_AUTH_METHOD has been set to "trust". This will allow',
    "         anyone with access to the Postgres port to access your database without",
    "         a password, even if POSTGRES_PASSWORD is set. See PostgreSQL",
    '         documentation about "trust":',
    "         https://www.postgresql.org/docs/current/auth-trust.html",
    "         In Docker's default configuration, this is effectively any other",
    "         container on the same system.",
    "",
    "         It is not recommended to use POSTGRES_HOST_AUTH_METHOD=trust. Replace",
    '         it with "-e POSTGRES_PASSWORD=password" instead to set a password in',
    '         "docker run".',
    "*" * 80,
]


def _pg_ready(env: Mapping[str, str], files: Mapping[str, str]) -> bool:
    password_file = env.get("POSTGRES_PASSWORD_FILE")
    return bool(env.get("POSTGRES_PASSWORD")) or env.get("POSTGRES_HOST_AUTH_METHOD") == "trust" or \
        bool(password_file and password_file in files)


def _pg_banner(version: str, alpine: bool) -> str:
    if alpine:
        return f"PostgreSQL {version} on x86_64-pc-linux-musl, compiled by gcc (Alpine 13.2.1_git20240309) " \
               "13.2.1 20240309, 64-bit"
    return f"PostgreSQL {version} (Debian {version}-1.pgdg120+1) on x86_64-pc-linux-gnu, compiled by gcc " \
           "(Debian 12.2.0-14) 12.2.0, 64-bit"


def _postgres_entrypoint(run: _Run, args: list[str]) -> list[tuple[float, str]] | Program:
    if args[0] != "postgres":
        return []
    if not _pg_ready(run.env, run.ctx.files):
        return _exit([(0.05, line) for line in _PG_NO_PASSWORD], 1)
    pgdata = run.env.get("PGDATA", "/var/lib/postgresql/data")
    out = _Lines()
    out.add(0.05, 'The files belonging to this database system will be owned by user "postgres".',
            "This user must also own the server process.", "",
            'The database cluster will be initialized with locale "en_US.utf8".',
            'The default database encoding has accordingly been set to "UTF8".',
            'The default text search configuration will be set to "english".', "",
            "Data page checksums are disabled.", "",
            f"fixing permissions on existing directory {pgdata} ... ok", "creating subdirectories ... ok",
            "selecting dynamic shared memory implementation ... posix",
            "selecting default max_connections ... 100",
            "selecting default shared_buffers ... 128MB", "selecting default time zone ... Etc/UTC",
            "creating configuration files ... ok")
    out.add(0.6, "running bootstrap script ... ok")
    out.add(1.4, "performing post-bootstrap initialization ... ok")
    out.add(1.6, "syncing data to disk ... ok", "", "",
            "Success. You can now start the database server using:", "",
            f"    pg_ctl -D {pgdata} -l logfile start", "",
            'initdb: warning: enabling "trust" authentication for local connections',
            "initdb: hint: You can change this by editing pg_hba.conf or using the option -A, or "
            "--auth-local and --auth-host, the next time you run initdb.")
    if run.env.get("POSTGRES_HOST_AUTH_METHOD") == "trust":
        out.add(1.6, *_PG_TRUST_WARNING)
    ts = run.at(1.7).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
    banner = _pg_banner(run.version, run.alpine)
    out.add(1.7, f"waiting for server to start....{ts} UTC [48] LOG:  starting {banner}",
            f'{ts} UTC [48] LOG:  listening on Unix socket "/var/run/postgresql/.s.PGSQL.5432"',
            f"{ts} UTC [51] LOG:  database system was shut down at {run.at(1.6):%Y-%m-%d %H:%M:%S} UTC",
            f"{ts} UTC [48] LOG:  database system is ready to accept connections", " done", "server started")
    if run.env.get("POSTGRES_DB"):
        out.add(1.9, "CREATE DATABASE")
    out.add(2.0, "", "/usr/local/bin/docker-entrypoint.sh: ignoring /docker-entrypoint-initdb.d/*", "")
    ts2 = run.at(2.1).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
    out.add(2.1, f"waiting for server to shut down...{ts2} UTC [48] LOG:  received fast shutdown request",
            f"{ts2} UTC [48] LOG:  database system is shut down", " done", "server stopped", "",
            "PostgreSQL init process complete; ready for start up.", "")
    return out.lines


def _postgres(run: _Run) -> Program:
    if run.parent != "docker-entrypoint.sh":   # only the entrypoint drops root (gosu postgres)
        return _exit([(0.0, '"root" execution of the PostgreSQL server is not permitted.'),
                      (0.0, "The server must be started under an unprivileged user ID to prevent"),
                      (0.0, "possible system security compromise.  See the documentation for"),
                      (0.0, "more information on how to properly start the server.")], 1)
    opts, _ = _options(run.args, frozenset({"-c", "-p", "-D"}))
    port = _env_int(opts, "-p", _env_int(run.env, "PGPORT", 5432))
    ts = run.at(0.0).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
    lines = [f"{ts} UTC [1] LOG:  starting {_pg_banner(run.version, run.alpine)}",
             f'{ts} UTC [1] LOG:  listening on IPv4 address "0.0.0.0", port {port}',
             f'{ts} UTC [1] LOG:  listening on IPv6 address "::", port {port}',
             f'{ts} UTC [1] LOG:  listening on Unix socket "/var/run/postgresql/.s.PGSQL.{port}"',
             f"{ts} UTC [64] LOG:  database system was shut down at {run.at(0.0):%Y-%m-%d %H:%M:%S} UTC",
             f"{ts} UTC [1] LOG:  database system is ready to accept connections"]
    return _serve([(0.1, line) for line in lines], {port: None}, memory=40 * MiB, cpu=5)


def _pg_isready(run: _Run) -> Program:
    opts, _ = _options(run.args, frozenset({"-h", "-p", "-U", "-d", "-t"}))
    host, port = opts.get("-h", "/var/run/postgresql"), _env_int(opts, "-p", 5432)
    where = f"{host}:{port}"
    if host.startswith("/"):
        up = run.local_serves is None or port in run.local_serves
    else:
        up = _http_get_ok(run, host, port)[0]
    return _exit([(0.0, f"{where} - {'accepting connections' if up else 'no response'}")], 0 if up else 2)


def _psql(run: _Run) -> Program:
    opts, _ = _options(run.args, frozenset({"-h", "-p", "-U", "-d", "-c", "-f"}))
    host, port = opts.get("-h", "localhost"), _env_int(opts, "-p", 5432)
    ok, why = _http_get_ok(run, host, port)
    if ok:
        return _exit([(0.05, "?column?"), (0.05, "----------"), (0.05, "        1"), (0.05, "(1 row)"),
                      (0.05, "")] if "-c" in opts else [], 0, 0.05)
    if why == "dns":
        msg = f'psql: error: could not translate host name "{host}" to address: Name or service not known'
    else:
        msg = f'psql: error: connection to server at "{host}", port {port} failed: Connection refused'
    hint = "\tIs the server running on that host and accepting TCP/IP connections?"
    return _exit([(0.0, msg), (0.0, hint)], 2)


_register(_Image(
    "docker.io/library/postgres",
    ("latest", "17", "16", "16.1", "16.4", "15", "15.8", "14", "13", "alpine", "16-alpine", "15-alpine",
     "17-alpine"),
    size_bytes=153_000_000, entrypoint=("docker-entrypoint.sh",), cmd=("postgres",),
    binaries={"docker-entrypoint.sh": _entrypoint("/usr/local/bin/docker-entrypoint.sh", _postgres_entrypoint,
                                                  _dash_rewrite("postgres")),
              "postgres": _postgres, "pg_isready": _pg_isready, "psql": _psql},
    versions={"latest": "17.2", "17": "17.2", "16": "16.4", "16.1": "16.1", "16.4": "16.4", "15": "15.8",
              "15.8": "15.8", "14": "14.13", "13": "13.16"},
    variant_sizes={"alpine": 95_000_000},
))


def _mysql_ready(env: Mapping[str, str]) -> bool:
    return any(env.get(k) for k in ("MYSQL_ROOT_PASSWORD", "MYSQL_ALLOW_EMPTY_PASSWORD",
                                    "MYSQL_RANDOM_ROOT_PASSWORD", "MYSQL_ROOT_PASSWORD_FILE"))


def _mysql_entrypoint(run: _Run, args: list[str]) -> list[tuple[float, str]] | Program:
    if args[0] != "mysqld":
        return []
    version = run.version

    def note(t: float, msg: str, level: str = "Note") -> tuple[float, str]:
        return (t, f"{run.at(t).strftime('%Y-%m-%d %H:%M:%S')}+00:00 [{level}] [Entrypoint]: {msg}")

    started = f"Entrypoint script for MySQL Server {version}-1.el9 started."
    head = [note(0.05, started), note(0.1, "Switching to dedicated user 'mysql'"), note(0.15, started)]
    if not _mysql_ready(run.env):
        problem = "Database is uninitialized and password option is not specified"
        return _exit([*head, note(0.3, problem, "ERROR"),
                      (0.3, "    You need to specify one of the following as an environment variable:"),
                      (0.3, "    - MYSQL_ROOT_PASSWORD"), (0.3, "    - MYSQL_ALLOW_EMPTY_PASSWORD"),
                      (0.3, "    - MYSQL_RANDOM_ROOT_PASSWORD")], 1)

    def server(t: float, tid: int, level: str, code: str, sub: str, msg: str) -> tuple[float, str]:
        return (t, f"{run.at(t).strftime('%Y-%m-%dT%H:%M:%S.%f')}Z {tid} [{level}] [{code}] [{sub}] {msg}")

    return [*head, note(0.4, "Initializing database files"),
            server(0.5, 0, "System", "MY-013169", "Server",
                   f"/usr/sbin/mysqld (mysqld {version}) initializing of server in progress as process 80"),
            server(0.6, 1, "System", "MY-013576", "InnoDB", "InnoDB initialization has started."),
            server(3.5, 1, "System", "MY-013577", "InnoDB", "InnoDB initialization has ended."),
            note(8.0, "Database files initialized"), note(8.1, "Starting temporary server"),
            note(10.5, "Temporary server started."),
            note(11.0, "Creating database " + run.env["MYSQL_DATABASE"]) if run.env.get("MYSQL_DATABASE")
            else note(11.0, "Stopping temporary server"),
            note(12.5, "Temporary server stopped"), (12.5, ""),
            note(12.6, "MySQL init process done. Ready for start up."), (12.6, "")]


def _mysqld(run: _Run) -> Program:
    version = run.version

    def server(t: float, code: str, msg: str) -> tuple[float, str]:
        return (t, f"{run.at(t).strftime('%Y-%m-%dT%H:%M:%S.%f')}Z 0 [System] [{code}] [Server] {msg}")

    lines = [server(0.1, "MY-010116", f"/usr/sbin/mysqld (mysqld {version}) starting as process 1"),
             server(1.9, "MY-010931", f"/usr/sbin/mysqld: ready for connections. Version: '{version}'  "
                                      "socket: '/var/run/mysqld/mysqld.sock'  port: 3306  MySQL Community "
                                      "Server - GPL."),
             server(1.9, "MY-011323", "X Plugin ready for connections. Bind-address: '::' port: 33060, "
                                      "socket: /var/run/mysqld/mysqlx.sock")]
    return _serve(lines, {3306: None, 33060: None}, memory=380 * MiB, cpu=8)


def _mysqladmin(run: _Run) -> Program:
    opts, rest = _options(run.args, frozenset({"-h", "-P", "-u", "-p", "--host", "--user"}))
    host = opts.get("-h") or opts.get("--host") or "localhost"
    ok = _http_get_ok(run, host, _env_int(opts, "-P", 3306))[0] and (
        run.local_serves is None or 3306 in run.local_serves or host not in ("localhost", "127.0.0.1"))
    if ok:
        return _exit([(0.0, "mysqld is alive")] if "ping" in rest else [], 0)
    return _exit([(0.0, f"mysqladmin: connect to server at '{host}' failed"),
                  (0.0, "error: 'Can't connect to local MySQL server through socket "
                        "'/var/run/mysqld/mysqld.sock' (2)'")], 1)


_register(_Image(
    "docker.io/library/mysql",
    ("latest", "9", "9.1", "8", "8.0", "8.0.36", "8.0.40", "8.4", "8.4.3", "lts", "5.7"),
    size_bytes=172_000_000, entrypoint=("docker-entrypoint.sh",), cmd=("mysqld",),
    binaries={"docker-entrypoint.sh": _entrypoint("/usr/local/bin/docker-entrypoint.sh", _mysql_entrypoint,
                                                  _dash_rewrite("mysqld")),
              "mysqld": _mysqld, "mysqladmin": _mysqladmin, "mysql": _mysqladmin},
    versions={"latest": "9.1.0", "9": "9.1.0", "9.1": "9.1.0", "8": "8.4.3", "8.4": "8.4.3", "8.4.3": "8.4.3",
              "lts": "8.4.3", "8.0": "8.0.40", "8.0.36": "8.0.36", "8.0.40": "8.0.40", "5.7": "5.7.44"},
))


def _memcached(run: _Run) -> Program:
    opts, _ = _options(run.args, frozenset({"-p", "-m", "-c", "-U", "-l", "-t", "-u"}))
    port = _env_int(opts, "-p", 11211)
    lines = [(0.0, "<1 server listening (auto-negotiate)"), (0.0, "<26 server listening (auto-negotiate)")] \
        if "-v" in opts or "-vv" in opts else []
    return _serve(lines, {port: None}, memory=3 * MiB, cpu=1)


_register(_Image(
    "docker.io/library/memcached", ("latest", "1", "1.6", "1.6.22", "1.6.32", "alpine", "1.6-alpine"),
    size_bytes=31_000_000, entrypoint=("docker-entrypoint.sh",), cmd=("memcached",),
    binaries={"docker-entrypoint.sh": _entrypoint("/usr/local/bin/docker-entrypoint.sh",
                                                  rewrite=_dash_rewrite("memcached")),
              "memcached": _memcached},
    versions={"latest": "1.6.32", "1": "1.6.32", "1.6": "1.6.32", "1.6.22": "1.6.22", "1.6.32": "1.6.32"},
    variant_sizes={"alpine": 4_600_000},
))


def _rabbitmq(run: _Run) -> Program:
    version = run.version
    node = f"rabbit@{run.ctx.pod_name}"

    def log(t: float, level: str, pid: str, msg: str) -> tuple[float, str]:
        return (t, f"{run.at(t).strftime('%Y-%m-%d %H:%M:%S.%f')}+00:00 [{level}] <{pid}> {msg}")

    lines = [log(1.0, "notice", "0.44.0", "Application syslog exited with reason: stopped"),
             log(1.0, "notice", "0.248.0", "Logging: switching to configured handler(s); following messages "
                                           "may not be visible in this log output"),
             log(1.0, "notice", "0.248.0", "Logging: configured log handlers are now ACTIVE"),
             log(1.5, "info", "0.248.0", f"Starting RabbitMQ {version} on Erlang 26.2.5.5 [jit]"),
             log(1.5, "info", "0.248.0", f" node           : {node}"),
             (1.6, ""), (1.6, f"  ##  ##      RabbitMQ {version}"), (1.6, "  ##  ##"),
             (1.6, "  ##########  Copyright (c) 2007-2024 Broadcom Inc and/or its subsidiaries"),
             (1.6, "  ######  ##"),
             (1.6, "  ##########  Licensed under the MPL 2.0. Website: https://rabbitmq.com"),
             (1.6, ""), (1.6, "  Erlang:      26.2.5.5 [jit]"), (1.6, ""), (1.6, "  Logs: <stdout>"),
             (1.6, ""),
             (1.6, "  Config file(s): /etc/rabbitmq/conf.d/10-defaults.conf"), (1.6, ""),
             (1.6, "  Starting broker..."),
             log(5.5, "info", "0.613.0", "Ready to start client connection listeners"),
             log(5.6, "info", "0.727.0", "started TCP listener on [::]:5672"),
             (5.7, " completed with 4 plugins."),
             log(5.7, "info", "0.613.0", "Server startup complete; 4 plugins started."),
             log(5.7, "info", "0.613.0", " * rabbitmq_prometheus"),
             log(5.7, "info", "0.613.0", " * rabbitmq_management_agent"),
             log(5.7, "info", "0.613.0", " * rabbitmq_web_dispatch")]
    serves: dict[int, frozenset[str] | None] = {5672: None, 4369: None, 25672: None,
                                                15692: frozenset({"/metrics", "/metrics/per-object"})}
    if "management" in run.tag:
        serves[15672] = frozenset({"/", "/index.html", "/api/overview", "/api/health/checks/alarms"})
        lines.insert(-3, log(5.7, "info", "0.613.0", " * rabbitmq_management"))
    return _serve(lines, serves, memory=140 * MiB, cpu=20)


def _rabbitmq_diagnostics(run: _Run) -> Program:
    up = run.local_serves is None or 5672 in run.local_serves
    if not up:
        return _exit([(0.0, "Error: unable to perform an operation on node 'rabbit@localhost'. Please see "
                            "diagnostics information and suggestions below.")], 69)
    check = (run.args or ["status"])[-1]
    text = {"ping": "Ping succeeded",
            "check_running": "RabbitMQ on node rabbit@localhost is fully booted and running"}.get(check, "")
    return _exit([(0.0, text)] if text and "-q" not in run.args else [], 0)


_register(_Image(
    "docker.io/library/rabbitmq",
    ("latest", "3", "3.12", "3.13", "3.13.7", "management", "3-management", "3.13-management", "alpine",
     "3-alpine", "management-alpine"),
    size_bytes=96_000_000, entrypoint=("docker-entrypoint.sh",), cmd=("rabbitmq-server",),
    binaries={"docker-entrypoint.sh": _entrypoint("/usr/local/bin/docker-entrypoint.sh"),
              "rabbitmq-server": _rabbitmq, "rabbitmq-diagnostics": _rabbitmq_diagnostics,
              "rabbitmqctl": _rabbitmq_diagnostics},
    versions={"latest": "3.13.7", "3": "3.13.7", "3.13": "3.13.7", "3.13.7": "3.13.7", "3.12": "3.12.14"},
    variant_sizes={"alpine": 68_000_000, "management": 110_000_000},
))


def _traefik(run: _Run) -> Program:
    opts, _ = _options(run.args, frozenset())
    version = run.version
    v3 = not version.startswith("2")
    entry_ports: dict[str, int] = {}
    for key, value in opts.items():
        m = re.fullmatch(r"--entry[pP]oints\.([\w-]+)\.address", key)
        port = re.search(r":(\d+)", value)
        if m and port:
            entry_ports[m.group(1)] = int(port.group(1))
    if not entry_ports:
        entry_ports = {"http": 80}
    serves: dict[int, frozenset[str] | None] = {port: frozenset() for port in entry_ports.values()}
    internal: set[str] = set()
    if opts.get("--ping") in ("true", ""):
        internal.add("/ping")
    if opts.get("--api.insecure") in ("true", "") or opts.get("--api.dashboard") == "true":
        internal |= {"/dashboard/", "/api/overview", "/api/rawdata", "/api/version"}
    if internal or opts.get("--api") in ("true", ""):
        serves[entry_ports.get("traefik", 8080)] = frozenset(internal)

    def line(t: float, level: str, msg: str) -> tuple[float, str]:
        if v3:
            return (t, f"{run.at(t).strftime('%Y-%m-%dT%H:%M:%SZ')} {level[:3].upper()} {msg}")
        return (t, f'time="{run.at(t).strftime("%Y-%m-%dT%H:%M:%SZ")}" level={level} msg="{msg}"')

    lines = [line(0.0, "info", f"Traefik version {version} built on 2024-10-29T13:09:44Z"),
             line(0.0, "info", "Stats collection is disabled."),
             line(0.05, "info", "Starting provider aggregator *aggregator.ProviderAggregator")]
    periodic = None
    providers = {"kubernetesingress": ("ingresses", "networking.k8s.io"),
                 "kubernetescrd": ("ingressroutes", "traefik.io"),
                 "kubernetesgateway": ("gateways", "gateway.networking.k8s.io")}
    for provider, (resource, group) in providers.items():
        if any(k.lower().startswith(f"--providers.{provider}") for k in opts):
            lines.append(line(0.05, "info", f"Starting provider *{provider[:10]}.Provider"))
            denied = run.ctx.can_i("list", resource, group)
            if denied is not None:
                kind = resource.title()[:-1]
                periodic = f'{{ts}} ERR Failed to watch error="failed to list *v1.{kind}: {denied}" ' \
                           f"providerName={provider}"
    return _serve(lines, serves, memory=32 * MiB, cpu=3, periodic=periodic, period=30.0)


_register(_Image(
    "docker.io/library/traefik",
    ("latest", "v3", "v3.0", "v3.1", "v3.2", "3.1", "3.2", "v2", "v2.10", "v2.11", "2.11"),
    size_bytes=47_000_000, entrypoint=("/entrypoint.sh",), cmd=("traefik",), shell="busybox",
    binaries={"entrypoint.sh": _entrypoint("/entrypoint.sh", rewrite=_dash_rewrite("traefik")),
              "traefik": _traefik},
    versions={"latest": "3.2.1", "v3": "3.2.1", "v3.2": "3.2.1", "3.2": "3.2.1", "v3.1": "3.1.7",
              "3.1": "3.1.7", "v3.0": "3.0.4", "v2": "2.11.14", "v2.11": "2.11.14", "2.11": "2.11.14",
              "v2.10": "2.10.7"},
))


def _pause(run: _Run) -> Program:
    return _serve([], {}, memory=256 * 1024, cpu=0)


_register(_Image(
    "registry.k8s.io/pause", ("latest", "3.10", "3.9", "3.8", "3.7", "3.6"), size_bytes=320_000,
    entrypoint=("/pause",), shell="none", binaries={"pause": _pause},
))


# ---------------------------------------------------------------------------------------------------
# interpreters


def _traceback(filename: str, source: str, lineno: int, error: str) -> list[str]:
    lines = ["Traceback (most recent call last):", f'  File "{filename}", line {lineno}, in <module>']
    src = source.split("\n")
    if filename != "<string>" and 0 < lineno <= len(src):
        lines.append("    " + src[lineno - 1].strip())
    return [*lines, error]


def _literal(node: ast.expr, consts: Mapping[str, object], env: Mapping[str, str]) -> object:
    """Value of a simple expression: literals, module constants, os.environ.get / os.getenv, int()/str()."""
    try:
        return ast.literal_eval(node)
    except (ValueError, SyntaxError, TypeError):
        pass
    if isinstance(node, ast.Name):
        return consts.get(node.id)
    if isinstance(node, ast.BoolOp) and isinstance(node.op, ast.Or):
        for value in node.values:
            got = _literal(value, consts, env)
            if got:
                return got
        return None
    if isinstance(node, ast.Subscript) and ast.unparse(node.value) == "os.environ":
        key = _literal(node.slice, consts, env)
        return env.get(str(key))
    if isinstance(node, ast.Call):
        func = ast.unparse(node.func)
        args = [_literal(a, consts, env) for a in node.args]
        if func in ("os.environ.get", "os.getenv", "environ.get", "getenv") and args:
            return env.get(str(args[0]), args[1] if len(args) > 1 else None)
        if func in ("int", "str", "float") and isinstance(args[0] if args else None, str | int | float):
            try:
                return int(str(args[0])) if func == "int" else float(str(args[0])) if func == "float" \
                    else str(args[0])
            except ValueError:
                return None
    return None


class _PyModel:
    """A model of running a Python program: walks its top-level statements (no code is executed)."""

    def __init__(self, run: _Run, source: str, filename: str, unbuffered: bool) -> None:
        self.run, self.source, self.filename, self.unbuffered = run, source, filename, unbuffered
        self.t = 0.0
        self.err = _Lines()
        self.stdout: list[tuple[float, str]] = []
        self.consts: dict[str, object] = {}
        self.funcs: dict[str, list[ast.stmt]] = {}
        self.serves: dict[int, frozenset[str] | None] = {}
        self.depth = 0

    def out(self, line: str, flush: bool = False) -> None:
        self.stdout.append((self.t, line))
        if flush and not self.unbuffered:
            self.err.lines.extend(self.stdout)
            self.stdout.clear()

    def finish(self, code: int) -> Program:
        # stdout to a pipe is block-buffered: what is still buffered appears when the process exits
        logs = sorted(self.err.lines + self.stdout, key=lambda x: x[0]) if self.unbuffered else \
            [*self.err.lines, *[(round(self.t, 3), line) for _, line in self.stdout]]
        return _exit(logs, code, self.t, memory=(25 if self.serves else 9) * MiB)

    def forever(self, periodic: str | None, period: float) -> Program:
        logs = sorted(self.err.lines + (self.stdout if self.unbuffered else []), key=lambda x: x[0])
        if not self.unbuffered and periodic is not None and not self.serves:
            periodic = None    # print() output stays in the 8 KiB buffer of a non-tty stdout
        memory = 25 * MiB if self.serves else 12 * MiB
        return _serve(logs, self.serves, memory=memory, cpu=2 if self.serves else 1, periodic=periodic,
                      period=period)

    def program(self) -> Program:
        try:
            tree = ast.parse(self.source, self.filename)
        except SyntaxError as e:
            lines = [f'  File "{self.filename}", line {e.lineno}']
            if e.text:
                text = e.text.rstrip("\n")
                stripped = text.lstrip()
                caret = max(0, (e.offset or 1) - 1 - (len(text) - len(stripped)))
                lines += ["    " + stripped, "    " + " " * caret + "^"]
            self.err.add(0.0, *lines, f"SyntaxError: {e.msg}")
            return _exit(self.err, 1, memory=9 * MiB)
        try:
            result = self.block(tree.body)
        except _PyExit as e:
            for line in e.lines:
                self.err.add(self.t, line)
            return self.finish(e.code)
        return result if result is not None else self.finish(0)

    def block(self, body: list[ast.stmt]) -> Program | None:
        for stmt in body:
            result = self.statement(stmt)
            if result is not None:
                return result
        return None

    def fail(self, stmt: ast.stmt, error: str) -> _PyExit:
        return _PyExit(1, _traceback(self.filename, self.source, stmt.lineno, error))

    def statement(self, stmt: ast.stmt) -> Program | None:
        if isinstance(stmt, ast.Import | ast.ImportFrom):
            names = [a.name for a in stmt.names] if isinstance(stmt, ast.Import) else [stmt.module or ""]
            for name in names:
                top = name.split(".")[0]
                if top and top not in sys.stdlib_module_names and (stmt.__class__ is ast.Import or
                                                                   not getattr(stmt, "level", 0)):
                    raise self.fail(stmt, f"ModuleNotFoundError: No module named '{top}'")
            return None
        if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name):
            self.consts[stmt.targets[0].id] = _literal(stmt.value, self.consts, self.run.env)
            self.server_call(stmt.value)
            return None
        if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef):
            self.funcs[stmt.name] = stmt.body
            return None
        if isinstance(stmt, ast.If):
            test = ast.unparse(stmt.test).replace("'", '"')
            if test == '__name__ == "__main__"':
                return self.block(stmt.body)
            return None
        if isinstance(stmt, ast.Raise):
            return self.raise_(stmt)
        if isinstance(stmt, ast.While):
            value = _literal(stmt.test, self.consts, self.run.env)
            if value is True or value == 1:
                return self.loop(stmt.body)
            return None
        if isinstance(stmt, ast.With | ast.Try):
            return self.block(stmt.body)
        if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call):
            return self.call(stmt, stmt.value)
        return None

    def raise_(self, stmt: ast.Raise) -> Program | None:
        exc = stmt.exc
        if exc is None:
            raise self.fail(stmt, "RuntimeError: No active exception to reraise")
        name = ast.unparse(exc.func if isinstance(exc, ast.Call) else exc)
        args = [_literal(a, self.consts, self.run.env) for a in exc.args] if isinstance(exc, ast.Call) else []
        if name == "SystemExit":
            raise _PyExit(*_exit_code(args[0] if args else None))
        message = ", ".join(str(a) for a in args)
        raise self.fail(stmt, f"{name}: {message}" if message else name)

    def call(self, stmt: ast.stmt, call: ast.Call) -> Program | None:
        func = ast.unparse(call.func)
        args = [_literal(a, self.consts, self.run.env) for a in call.args]
        keywords = {k.arg: _literal(k.value, self.consts, self.run.env) for k in call.keywords if k.arg}
        if func == "print":
            text = " ".join(str(a) for a in args) if all(a is not None for a in args) else ""
            if any(ast.unparse(k.value) == "sys.stderr" for k in call.keywords if k.arg == "file"):
                self.err.add(self.t, *text.split("\n"))
            else:
                for line in text.split("\n"):
                    self.out(line, flush=bool(keywords.get("flush")))
        elif func in ("time.sleep", "sleep") and args and isinstance(args[0], int | float):
            self.t += float(args[0])
        elif func in ("sys.exit", "exit", "quit", "os._exit"):
            raise _PyExit(*_exit_code(args[0] if args else None))
        elif func.endswith(("serve_forever", ".run", "run_forever")) or func in ("app.run", "uvicorn.run"):
            self.server_call(call)
            if self.serves or func.endswith("serve_forever"):
                return self.forever(None, 10.0)
        elif func in self.funcs and self.depth < 5:
            self.depth += 1
            try:
                return self.block(self.funcs[func])
            finally:
                self.depth -= 1
        else:
            self.server_call(call)
        return None

    def server_call(self, node: ast.expr) -> None:
        for call in [n for n in ast.walk(node) if isinstance(n, ast.Call)]:
            name = ast.unparse(call.func).rsplit(".", 1)[-1]
            if name in ("HTTPServer", "ThreadingHTTPServer", "TCPServer", "ThreadingTCPServer") and call.args:
                addr = call.args[0]
                port = _literal(addr.elts[1], self.consts, self.run.env) \
                    if isinstance(addr, ast.Tuple) and len(addr.elts) == 2 else None
                if isinstance(port, int | str) and str(port).isdigit():
                    handler = ast.unparse(call.args[1]) if len(call.args) > 1 else ""
                    http = "HTTP" in name or "HTTP" in handler
                    paths = frozenset({"/"} | {p for p in self.run.ctx.files}) if "Simple" in handler \
                        else CATCH_ALL_PATHS
                    self.serves[int(port)] = paths if http else None

    def loop(self, body: list[ast.stmt]) -> Program:
        """``while True:``: the first iteration's output, then its print() lines as the periodic line."""
        start_t, before = self.t, len(self.stdout)
        before_err = len(self.err.lines)
        result = self.block(body)
        if result is not None:
            return result
        printed = [ln for _, ln in self.stdout[before:]] + [ln for _, ln in self.err.lines[before_err:]]
        period = self.t - start_t
        return self.forever("\n".join(printed) or None, period if period > 0 else 1.0)


class _PyExit(Exception):
    def __init__(self, code: int, lines: list[str] | None = None) -> None:
        super().__init__(code)
        self.code, self.lines = code, lines or []


def _exit_code(value: object) -> tuple[int, list[str]]:
    if value is None:
        return 0, []
    if isinstance(value, bool | int):
        return int(value) & 0xFF, []
    return 1, [str(value)]


def _python(run: _Run) -> Program:
    args = list(run.args)
    prog = run.argv[0]
    unbuffered = bool(run.env.get("PYTHONUNBUFFERED"))
    while args and args[0].startswith("-") and args[0] not in ("-c", "-m", "-"):
        flag = args.pop(0)
        if flag in ("-V", "--version"):
            return _exit([(0.0, f"Python {run.version}")], 0, memory=9 * MiB)
        if flag in ("-W", "-X") and args:
            args.pop(0)
        unbuffered = unbuffered or "u" in flag.lstrip("-")
    if not args or args[0] == "-":
        return _exit([], 0, memory=9 * MiB)    # the REPL reads EOF from a non-tty stdin and exits
    if args[0] == "-m":
        return _python_module(run, args[1:], unbuffered)
    if args[0] == "-c":
        code = args[1] if len(args) > 1 else ""
        if len(args) < 2:
            return _exit([(0.0, "Argument expected for the -c option")], 2)
        return _PyModel(run, code, "<string>", unbuffered).program()
    path = _normpath(args[0])
    if path not in run.ctx.files:
        return _exit([(0.0, f"{prog}: can't open file '{path}': [Errno 2] No such file or directory")], 2,
                     memory=9 * MiB)
    return _PyModel(run, run.ctx.files[path], path, unbuffered).program()


def _python_module(run: _Run, args: list[str], unbuffered: bool) -> Program:
    module = args[0] if args else ""
    if module == "http.server":
        opts, rest = _options(args[1:], frozenset({"-b", "--bind", "-d", "--directory", "-p", "--protocol"}))
        port = int(rest[0]) if rest and rest[0].isdigit() else 8000
        directory = _normpath(opts.get("-d") or opts.get("--directory") or "/")
        prefix = directory.rstrip("/") + "/"
        paths = frozenset({"/"} | {"/" + p[len(prefix):] for p in run.ctx.files if p.startswith(prefix)})
        bind = opts.get("-b") or opts.get("--bind") or "0.0.0.0"
        host = f"[{bind}]" if ":" in bind else bind
        serving = f"Serving HTTP on {bind} port {port} (http://{host}:{port}/) ..."
        lines = [(0.1, serving)] if unbuffered else []   # stdout is block-buffered unless -u/PYTHONUNBUFFERED
        return _serve(lines, {port: paths}, memory=20 * MiB, cpu=1,
                      periodic='10.244.0.1 - - [{ts}] "GET / HTTP/1.1" 200 -')
    if module in ("pip", "pip3"):
        return _pip(run, args[1:])
    if module.split(".")[0] in sys.stdlib_module_names:
        return _exit([], 0, 0.1, memory=9 * MiB)
    return _exit([(0.0, f"{run.argv[0]}: No module named {module}")], 1, memory=9 * MiB)


def _pip(run: _Run, args: list[str]) -> Program:
    if args[:1] != ["install"]:
        return _exit([], 0, 0.5, memory=20 * MiB)
    packages = [re.split(r"[<>=!~\[]", a)[0] for a in args[1:] if not a.startswith("-")]
    lines = _Lines()
    t = 0.3
    for pkg in packages:
        lines.add(t, f"Collecting {pkg}")
        t += 0.4
        lines.add(t, f"  Downloading {pkg}-1.0.0-py3-none-any.whl (95 kB)")
    t += 0.5
    lines.add(t, f"Installing collected packages: {', '.join(packages)}")
    lines.add(t + 0.3, "Successfully installed " + " ".join(f"{p}-1.0.0" for p in packages))
    return _exit(lines, 0, memory=30 * MiB, cpu=500)


_NODE_BUILTINS = frozenset({
    "assert", "buffer", "child_process", "cluster", "crypto", "dgram", "dns", "events", "fs", "http",
    "http2", "https", "net", "os", "path", "perf_hooks", "process", "querystring", "readline", "stream",
    "string_decoder", "timers", "tls", "url", "util", "v8", "vm", "worker_threads", "zlib"})


def _node_missing(run: _Run, module: str, stack: list[str]) -> Program:
    lines = ["node:internal/modules/cjs/loader:1228", "  throw err;", "  ^", "",
             f"Error: Cannot find module '{module}'",
             *(["Require stack:", *[f"- {s}" for s in stack]] if stack else []),
             "    at Module._resolveFilename (node:internal/modules/cjs/loader:1225:15)",
             "    at Module._load (node:internal/modules/cjs/loader:1051:27)",
             "    at Function.executeUserEntryPoint [as runMain] (node:internal/modules/run_main:174:12)",
             "    at node:internal/main/run_main_module:28:49 {", "  code: 'MODULE_NOT_FOUND',",
             f"  requireStack: [{', '.join(repr(s) for s in stack)}]", "}", "", f"Node.js v{run.version}"]
    return _exit([(0.05, line) for line in lines], 1, memory=40 * MiB)


def _node_script(run: _Run, source: str, filename: str) -> Program:
    """A regex-level model of a Node.js script: requires, console output, listen(), exit/throw."""
    for m in re.finditer(r"""(?:require\(\s*|from\s+|import\s+)['"]([^'"]+)['"]""", source):
        module = m.group(1)
        name = module.removeprefix("node:").split("/")[0]
        if module.startswith("."):
            base = _normpath(filename.rsplit("/", 1)[0] + "/" + module)
            if not any(base + ext in run.ctx.files for ext in ("", ".js", ".json", "/index.js")):
                return _node_missing(run, module, [filename])
        elif name not in _NODE_BUILTINS:
            return _node_missing(run, module, [filename])
    lines = _Lines()
    for m in re.finditer(r"console\.(log|info|warn|error)\(\s*(['\"`])((?:(?!\2).)*)\2\s*\)", source):
        lines.add(0.05, m.group(3))
    throw = re.search(r"^\s*throw\s+new\s+(\w+)\(\s*['\"`]([^'\"`]*)", source, re.M)
    if throw:
        lineno = source[:throw.start()].count("\n") + 1 + (1 if source[throw.start()] == "\n" else 0)
        lines.add(0.05, f"{filename}:{lineno}", throw.group(0).strip(), "^", "",
                  f"{throw.group(1)}: {throw.group(2)}", f"    at Object.<anonymous> ({filename}:{lineno}:7)",
                  "    at Module._compile (node:internal/modules/cjs/loader:1469:14)", "",
                  f"Node.js v{run.version}")
        return _exit(lines, 1, memory=40 * MiB)
    code = re.search(r"process\.exit\(\s*(\d*)\s*\)", source)
    listen = re.search(r"\.listen\(\s*([^,)]+)", source)
    if listen and not code:
        return _serve(lines, {_node_port(run, source, listen.group(1).strip()): CATCH_ALL_PATHS},
                      memory=45 * MiB, cpu=2)
    if re.search(r"\bsetInterval\(", source):
        return _serve(lines, {}, memory=40 * MiB)
    return _exit(lines, int(code.group(1) or 0) if code else 0, 0.1, memory=40 * MiB)


def _node_port(run: _Run, source: str, expr: str) -> int:
    """The port of ``server.listen(EXPR)``: a literal, ``process.env.PORT || 3000`` or a variable of those."""
    if re.fullmatch(r"\w+", expr) and not expr.isdigit():
        assigned = re.search(rf"\b{expr}\s*=\s*([^;\n]+)", source)
        expr = assigned.group(1) if assigned else expr
    env = re.search(r"process\.env\.(\w+)", expr)
    if env and run.env.get(env.group(1), "").isdigit():
        return int(run.env[env.group(1)])
    number = re.search(r"\b(\d+)\b", expr)
    return int(number.group(1)) if number else 3000


def _node(run: _Run) -> Program:
    args = list(run.args)
    while args and args[0].startswith("-") and args[0] not in ("-e", "--eval", "-p", "--print"):
        flag = args.pop(0)
        if flag in ("-v", "--version"):
            return _exit([(0.0, f"v{run.version}")], 0, memory=40 * MiB)
    if not args:
        return _exit([], 0, memory=40 * MiB)   # the REPL gets EOF on a non-tty stdin
    if args[0] in ("-e", "--eval", "-p", "--print"):
        return _node_script(run, args[1] if len(args) > 1 else "", "[eval]")
    path = _normpath(args[0])
    for candidate in (path, path + ".js", path + "/index.js"):
        if candidate in run.ctx.files:
            return _node_script(run, run.ctx.files[candidate], candidate)
    return _node_missing(run, path, [])


def _npm(run: _Run) -> Program:
    pkg_path = "/package.json"
    if run.args[:1] in (["-v"], ["--version"]):
        return _exit([(0.0, "10.8.2")], 0)
    if pkg_path not in run.ctx.files:
        when = run.at(0.0).strftime("%Y-%m-%dT%H_%M_%S_000Z")
        lines = ["npm error code ENOENT", "npm error syscall open", f"npm error path {pkg_path}",
                 "npm error errno -2",
                 f"npm error enoent Could not read package.json: Error: ENOENT: no such file or directory, "
                 f"open '{pkg_path}'",
                 "npm error enoent This is related to npm not being able to find a file.", "npm error enoent",
                 f"npm error A complete log of this run can be found in: /root/.npm/_logs/{when}-debug-0.log"]
        return _exit([(0.3, line) for line in lines], 254, memory=50 * MiB)
    try:
        scripts = json.loads(run.ctx.files[pkg_path]).get("scripts", {})
    except (ValueError, AttributeError):
        return _exit([(0.3, "npm error code EJSONPARSE"),
                      (0.3, "npm error JSON.parse Invalid package.json: JSONParseError: Unexpected token in "
                            f'JSON while parsing "{pkg_path}"')], 1, memory=50 * MiB)
    target = run.args[1] if run.args[:1] == ["run"] and len(run.args) > 1 else (run.args or ["start"])[0]
    script = scripts.get(target) if isinstance(scripts, dict) else None
    if script is None:
        return _exit([(0.3, f'npm error Missing script: "{target}"')], 1, memory=50 * MiB)
    program = run.shell(["sh", "-c", str(script)])
    return _after([(0.3, ""), (0.3, f"> app@1.0.0 {target}"), (0.3, f"> {script}"), (0.3, "")], program)


def _pi_digits(n: int) -> str:
    """The first `n` significant digits of pi, rounded, as ``perl -Mbignum=bpi -e 'print bpi(n)'`` prints."""
    guard = 10
    scale = 10 ** (n + guard)

    def arctan_inv(x: int) -> int:
        total, term, k, sign = 0, scale // x, 1, 1
        x2 = x * x
        while term:
            total += sign * (term // k)
            term //= x2
            k += 2
            sign = -sign
        return total

    pi = 4 * (4 * arctan_inv(5) - arctan_inv(239))   # Machin's formula, scaled by 10**(n+guard)
    digits = str((pi + 5 * 10 ** guard) // 10 ** (guard + 1))   # n digits, rounded half up
    return digits[0] + "." + digits[1:n]


def _perl(run: _Run) -> Program:
    args = list(run.args)
    code: str | None = None
    while args and args[0].startswith("-"):
        flag = args.pop(0)
        if flag in ("-v", "--version"):
            return _exit([(0.0, ""), (0.0, f"This is perl 5, version {run.version.split('.')[1]}, subversion "
                                            f"{run.version.split('.')[2]} (v{run.version}) built for "
                                            "x86_64-linux-gnu-thread-multi")], 0)
        if flag.endswith("e") and args:
            code = args.pop(0)
            break
    if code is None:
        if not args:
            return _exit([], 0, memory=4 * MiB)   # reads the program from an empty stdin
        path = _normpath(args[0])
        if path not in run.ctx.files:
            return _exit([(0.0, f'Can\'t open perl script "{args[0]}": No such file or directory')], 2)
        code = run.ctx.files[path]
    pi = re.search(r"bpi\(\s*(\d+)\s*\)", code)
    if pi:
        n = min(int(pi.group(1)), 20000)
        return _exit([(1.0 + n / 500, _pi_digits(n))], 0, memory=12 * MiB, cpu=1000)
    die = re.search(r"\bdie\s*\(?\s*[\"']([^\"']*)[\"']", code)
    if die:
        msg = die.group(1)
        return _exit([(0.0, msg.removesuffix("\\n") if msg.endswith("\\n") else f"{msg} at -e line 1.")], 255)
    lines = [(0.0, m.group(1).replace("\\n", "")) for m in re.finditer(r"print\s*\(?\s*\"([^\"]*)\"", code)]
    exit_m = re.search(r"\bexit\s*\(?\s*(\d+)", code)
    return _exit(lines, int(exit_m.group(1)) & 0xFF if exit_m else 0, memory=4 * MiB)


_register(_Image(
    "docker.io/library/python",
    ("latest", "3", "3.13", "3.12", "3.11", "3.10", "3.9", "slim", "3-slim", "3.13-slim", "3.12-slim",
     "3.11-slim", "alpine", "3-alpine", "3.12-alpine", "3.13-alpine", "3.12-bookworm", "3.12-slim-bookworm"),
    size_bytes=372_000_000, cmd=("python3",),
    binaries={"python": _python, "python3": _python, "pip": lambda run: _pip(run, run.args),
              "pip3": lambda run: _pip(run, run.args)},
    versions={"latest": "3.13.0", "3": "3.13.0", "3.13": "3.13.0", "3.12": "3.12.7", "3.11": "3.11.10",
              "3.10": "3.10.15", "3.9": "3.9.20"},
    variant_sizes={"slim": 45_000_000, "alpine": 18_500_000},
))

_register(_Image(
    "docker.io/library/node",
    ("latest", "lts", "current", "18", "20", "22", "23", "alpine", "lts-alpine", "18-alpine", "20-alpine",
     "22-alpine", "slim", "20-slim", "22-slim"),
    size_bytes=405_000_000, entrypoint=("docker-entrypoint.sh",), cmd=("node",),
    binaries={"docker-entrypoint.sh": _entrypoint(
        "/usr/local/bin/docker-entrypoint.sh",
        rewrite=_dash_rewrite("node", lambda a: a.endswith((".js", ".mjs", ".cjs")))),
        "node": _node, "nodejs": _node, "npm": _npm},
    versions={"latest": "23.3.0", "current": "23.3.0", "23": "23.3.0", "22": "22.11.0", "lts": "22.11.0",
              "20": "20.18.0", "18": "18.20.5"},
    variant_sizes={"slim": 72_000_000, "alpine": 48_000_000},
))

_register(_Image(
    "docker.io/library/perl", ("latest", "5", "5.40", "5.38", "5.36", "5.34", "5.34.0", "slim", "5-slim"),
    size_bytes=336_000_000, cmd=("perl", "-de0"), binaries={"perl": _perl},
    versions={"latest": "5.40.0", "5": "5.40.0", "5.40": "5.40.0", "5.38": "5.38.2", "5.36": "5.36.3",
              "5.34": "5.34.3", "5.34.0": "5.34.0"},
    variant_sizes={"slim": 40_000_000},
))


# ---------------------------------------------------------------------------------------------------
# shell images


_SHELL_IMAGES: list[tuple[str, tuple[str, ...], int, tuple[str, ...], _ShellKind]] = [
    ("docker.io/library/busybox", ("latest", "stable", "musl", "glibc", "uclibc", "1", "1.28", "1.35", "1.36",
                                   "1.36.1", "1.37", "1.37.0"), 2_150_000, ("sh",), "busybox"),
    ("docker.io/library/alpine", ("latest", "3", "3.18", "3.19", "3.20", "3.21", "edge"), 3_620_000,
     ("/bin/sh",), "busybox"),
    ("docker.io/library/ubuntu", ("latest", "rolling", "20.04", "22.04", "24.04", "focal", "jammy", "noble"),
     29_700_000, ("/bin/bash",), "coreutils"),
    ("docker.io/library/debian", ("latest", "stable", "stable-slim", "bookworm", "bookworm-slim", "bullseye",
                                  "bullseye-slim", "12", "12-slim", "11", "11-slim"), 49_500_000, ("bash",),
     "coreutils"),
    ("quay.io/prometheus/busybox", ("latest", "glibc", "uclibc", "musl"), 1_960_000, ("sh",), "busybox"),
    ("registry.k8s.io/busybox", ("latest", "1.24"), 676_000, ("sh",), "busybox"),
]
for _repo, _tags, _size, _cmd, _kind in _SHELL_IMAGES:
    _register(_Image(_repo, _tags, size_bytes=_size, cmd=_cmd, shell=_kind,
                     variant_sizes={"slim": 28_200_000} if "debian" in _repo else {}))


def _curl_entry(run: _Run) -> Program:
    if not run.args:
        return run.shell(["curl"])
    program = run.exec(run.args if not run.args[0].startswith("-") else ["curl", *run.args])
    if program is None:
        return _exit([(0.0, f"/entrypoint.sh: exec: line 1: {run.args[0]}: not found")], 127)
    return program


_register(_Image(
    "docker.io/curlimages/curl", ("latest", "8.5.0", "8.7.1", "8.10.1", "8.11.0"), size_bytes=10_200_000,
    entrypoint=("/entrypoint.sh",), cmd=("curl",), shell="busybox", extra_applets=frozenset({"curl"}),
    binaries={"entrypoint.sh": _curl_entry},
))


def _bitnami_redis_entry(run: _Run) -> Program:
    lines = _Lines()

    def log(t: float, level: str, msg: str) -> None:
        lines.add(t, f"redis {run.at(t).strftime('%H:%M:%S.%f')[:11]} {level:<5} ==> {msg}")

    log(0.0, "INFO", "")
    log(0.0, "INFO", "Welcome to the Bitnami redis container")
    log(0.0, "INFO", "Subscribe to project updates by watching https://github.com/bitnami/containers")
    log(0.0, "INFO", "Submit issues and feature requests at https://github.com/bitnami/containers/issues")
    log(0.0, "INFO", "")
    log(0.01, "INFO", "** Starting Redis setup **")
    allow_empty = run.env.get("ALLOW_EMPTY_PASSWORD", "").lower() in ("yes", "true")
    if not run.env.get("REDIS_PASSWORD") and not allow_empty:
        log(0.02, "ERROR", "The REDIS_PASSWORD environment variable is empty or not set. Set the environment "
                           "variable ALLOW_EMPTY_PASSWORD=yes to allow the container to be started with "
                           "blank passwords. This is recommended only for development.")
        return _exit(lines, 1)
    if not run.env.get("REDIS_PASSWORD"):
        log(0.02, "WARN", "You set the environment variable ALLOW_EMPTY_PASSWORD=yes. For safety reasons, do "
                          "not use this flag in a production environment.")
    log(0.05, "INFO", "Initializing Redis")
    log(0.06, "INFO", "Setting Redis config file")
    log(0.08, "INFO", "** Redis setup finished! **")
    lines.add(0.08, "")
    log(0.09, "INFO", "** Starting Redis **")
    program = run.exec(run.args, after=lines.end) if run.args else None
    return _after(lines.lines, program if program is not None else _exit([], 0))


_register(_Image(
    "docker.io/bitnami/redis", ("latest", "7.2", "7.2.4", "7.4", "7.4.1"), size_bytes=60_500_000,
    entrypoint=("/opt/bitnami/scripts/redis/entrypoint.sh",), cmd=("/opt/bitnami/scripts/redis/run.sh",),
    binaries={"entrypoint.sh": _bitnami_redis_entry,
              "run.sh": lambda run: _redis_server(replace(run, argv=["redis-server"], parent="run.sh")),
              "redis-server": _redis_server, "redis-cli": _redis_cli},
    versions={"latest": "7.4.1", "7.4": "7.4.1", "7.4.1": "7.4.1", "7.2": "7.2.5", "7.2.4": "7.2.4"},
))


def _podinfo(run: _Run) -> Program:
    opts, _ = _options(run.args, frozenset({"--port", "--port-metrics", "--level"}))
    port = _env_int(opts, "--port", _env_int(run.env, "PODINFO_PORT", 9898))
    metrics = _env_int(opts, "--port-metrics", 0)

    def log(t: float, caller: str, msg: str, **extra: str) -> tuple[float, str]:
        ts = run.at(t).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
        record = {"level": "info", "ts": ts, "caller": caller, "msg": msg, **extra}
        return (t, json.dumps(record, separators=(",", ":")))

    lines = [log(0.0, "podinfo/main.go:175", "Starting podinfo", version=run.version,
                 revision="67e2c98a60dc92283531412a9e604dd4bae005a9", port=str(port)),
             log(0.05, "api/server.go:265", "Starting HTTP Server.", addr=f":{port}")]
    paths = frozenset({"/", "/healthz", "/readyz", "/metrics", "/version", "/env", "/headers", "/api/info",
                       "/status/200", "/echo"})
    serves: dict[int, frozenset[str] | None] = {port: paths}
    if metrics:
        serves[metrics] = frozenset({"/metrics"})
        lines.append(log(0.05, "api/server.go:281", "Starting metrics server", addr=f":{metrics}"))
    return _serve(lines, serves, memory=18 * MiB, cpu=2)


_register(_Image(
    "ghcr.io/stefanprodan/podinfo", ("latest", "6.5.4", "6.7.0", "6.7.1"), size_bytes=18_700_000,
    cmd=("./podinfo",), shell="busybox", binaries={"podinfo": _podinfo},
    versions={"latest": "6.7.1", "6.5.4": "6.5.4", "6.7.0": "6.7.0", "6.7.1": "6.7.1"},
))


# ---------------------------------------------------------------------------------------------------
# the project's own images: sandbox/*, configured by environment variables


class _App:
    """Structured logging of the sandbox apps: ``2026-11-23T10:00:00Z INFO starting api version=1.0``."""

    def __init__(self, run: _Run) -> None:
        self.run = run
        self.env = run.env
        self.name = run.env.get("APP_NAME") or run.ctx.container_name
        self.log = _Lines()

    def line(self, t: float, level: str, message: str) -> None:
        self.log.add(t, f"{self.run.at(t).strftime('%Y-%m-%dT%H:%M:%SZ')} {level} {message}")

    def klog(self, t: float, level: str, where: str, message: str) -> None:
        """A client-go (klog) line: ``E1123 10:00:00.500000       1 reflector.go:138] ...``."""
        self.log.add(t, _klog(self.run, t, level, where, message))

    def memory(self, default_mib: int) -> int:
        return max(1, _env_int(self.env, "MEMORY_MB", default_mib)) * MiB

    def fatal(self, t: float, message: str, code: int) -> Program:
        self.line(t, "FATAL", message)
        return _exit(self.log, code, memory=6 * MiB)

    def port(self) -> int | str:
        """The HTTP port (``--port=N`` flag or PORT env, default 8080), or the FATAL message if invalid."""
        opts, _ = _options(self.run.args, frozenset({"--port"}))
        raw = opts.get("--port") or self.env.get("PORT") or "8080"
        if not raw.isdigit() or not 0 < int(raw) < 65536:
            return f'config: invalid PORT "{raw}": strconv.Atoi: parsing "{raw}": invalid syntax'
        return int(raw)


_WEB_PATHS = frozenset({"/", "/healthz", "/ready", "/metrics"})
_SANDBOX_VERSIONS = {"1.0": "1.0", "1.1": "1.1", "2.0": "2.0", "latest": "2.0"}


def _serve_web(app: _App, port: int, t: float) -> Program:
    app.line(t, "INFO", f"listening addr=:{port}")
    app.line(t + 0.1, "INFO", "ready paths=/,/healthz,/ready,/metrics")
    periodic = "{ts} INFO request method=GET path=/healthz status=200 duration_ms=1 remote=10.244.0.1"
    return _serve(app.log, {port: _WEB_PATHS}, memory=app.memory(32),
                  cpu=_env_int(app.env, "CPU_MILLICORES", 5), periodic=periodic)


def _sandbox_web(run: _Run) -> Program:
    app = _App(run)
    port = app.port()
    app.line(0.0, "INFO", f"starting {app.name} version={run.version} port={port}")
    if isinstance(port, str):
        return app.fatal(0.5, port, 1)
    return _serve_web(app, port, 0.05)


def _config_problem(path: str, text: str) -> str | None:
    """A YAML/JSON syntax error in the api's config file, worded like Go's yaml/json packages."""
    if path.endswith(".json"):
        try:
            json.loads(text)
        except ValueError as e:
            return f"config: parse {path}: invalid character at offset {getattr(e, 'pos', 0)}"
        return None
    if not path.endswith((".yaml", ".yml")):
        return None
    try:
        import yaml
    except ImportError:   # pragma: no cover - pyyaml is a project dependency
        return None
    try:
        yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        problem = getattr(e, "problem", None) or "invalid YAML"
        return f"config: yaml: line {mark.line + 1 if mark else 1}: {problem}"
    return None


_UPSTREAM_ATTEMPTS = 6
_UPSTREAM_BACKOFF = 2.0


def _sandbox_api(run: _Run) -> Program:
    app = _App(run)
    port = app.port()
    app.line(0.0, "INFO", f"starting {app.name} version={run.version} port={port}")
    if isinstance(port, str):
        return app.fatal(0.5, port, 1)
    required = [v.strip() for v in app.env.get("REQUIRE_ENV", "DATABASE_URL").split(",") if v.strip()]
    for var in required:
        if not app.env.get(var):
            return app.fatal(1.0, f"config: required environment variable {var} is not set", 1)
    config = app.env.get("CONFIG_FILE")
    if config:
        path = _normpath(config)
        if path not in run.ctx.files:
            return app.fatal(1.0, f"config: open {config}: no such file or directory", 2)
        problem = _config_problem(path, run.ctx.files[path])
        if problem:
            return app.fatal(1.0, problem, 2)
        app.line(0.1, "INFO", f"config loaded path={config} bytes={len(run.ctx.files[path].encode())}")
    else:
        app.line(0.1, "INFO", f"config loaded source=env keys={len(required)}")
    upstream = app.env.get("UPSTREAM", "").strip()
    if upstream:
        host, _, port_text = upstream.rpartition(":") if re.search(r":\d+$", upstream) else (upstream, "", "")
        upstream_port = int(port_text) if port_text else 80
        app.line(0.2, "INFO", f"connecting upstream={host}:{upstream_port}")
        answer = run.reach(host)
        if answer != ServiceLookup.OK:
            if answer == ServiceLookup.MISSING:
                error = f"dial tcp: lookup {host} on 10.96.0.10:53: no such host"
            else:
                error = f"dial tcp {cluster_ip(host, run.ctx.namespace)}:{upstream_port}: connect: connection refused"
            # Like most services, it retries its upstream for a while before giving up.
            attempts = _UPSTREAM_ATTEMPTS
            retries = tuple(1.0 + _UPSTREAM_BACKOFF * k for k in range(attempts))
            for k, t in enumerate(retries, start=1):
                app.line(t, "WARN", f"upstream not reachable, retrying in {_UPSTREAM_BACKOFF:g}s "
                                    f"attempt={k}/{attempts} error=\"{error}\"")
            program = app.fatal(retries[-1] + _UPSTREAM_BACKOFF, f"upstream: {error}", 1)
            return replace(program, retry_at=retries)
        app.line(0.3, "INFO", f"upstream reachable upstream={host}:{upstream_port}")
    return _serve_web(app, port, 0.4)


def _sandbox_worker(run: _Run) -> Program:
    app = _App(run)
    seconds = _env_float(app.env, "WORK_SECONDS", 3.0)
    code = _env_int(app.env, "EXIT_CODE", 0) & 0xFF
    app.line(0.0, "INFO", f"starting {app.name} version={run.version} job={run.ctx.pod_name}")
    steps = max(1, min(10, math.ceil(seconds)))
    items = steps * 10
    for k in range(1, steps + (0 if code else 1)):
        t = seconds * k / steps
        app.line(t, "INFO", f"progress {k * 100 // steps}% items={k * 10}/{items}")
    if code:
        app.line(seconds, "ERROR", app.env.get("FAIL_MESSAGE") or "job failed: upstream returned 503")
    else:
        app.line(seconds, "INFO", f"job complete items={items} duration={seconds:g}s")
    return _exit(app.log, code, seconds, memory=app.memory(16), cpu=250)


def _sandbox_memhog(run: _Run) -> Program:
    app = _App(run)
    target = max(1, _env_int(app.env, "MEMORY_MB", 512))
    ramp = _env_float(app.env, "RAMP_SECONDS", 2.0)
    overhead = 2 * MiB     # the Go runtime on top of what it allocates
    app.line(0.0, "INFO", f"starting {app.name} version={run.version} target={target}MiB ramp={ramp:g}s")
    steps = 8
    for k in range(1, steps + 1):
        t = 0.05 + ramp * k / steps
        app.line(t, "INFO", f"allocated {target * k // steps}MiB/{target}MiB")
    done = 0.05 + ramp
    app.line(done, "INFO", f"allocation complete holding={target}MiB")
    app.line(done, "INFO", "listening addr=:8080")
    memory = target * MiB + overhead
    program = _serve(app.log, {8080: frozenset({"/", "/healthz"})}, memory=memory, cpu=10)
    limit = run.ctx.memory_limit_bytes
    if limit is not None and memory > limit:
        crossing = 0.05 + ramp * max(0.0, (limit - overhead) / (target * MiB))
        return _apply_oom(program, limit, ramp=max(0.1, min(crossing, done)))
    return program


_KINDS = {"pods": "Pod", "deployments": "Deployment", "services": "Service", "configmaps": "ConfigMap",
          "secrets": "Secret", "nodes": "Node", "namespaces": "Namespace", "events": "Event",
          "endpoints": "Endpoints", "endpointslices": "EndpointSlice", "replicasets": "ReplicaSet",
          "statefulsets": "StatefulSet", "daemonsets": "DaemonSet", "jobs": "Job", "cronjobs": "CronJob",
          "ingresses": "Ingress", "leases": "Lease", "serviceaccounts": "ServiceAccount",
          "persistentvolumeclaims": "PersistentVolumeClaim", "persistentvolumes": "PersistentVolume"}


def _klog(run: _Run, t: float, level: str, where: str, message: str) -> str:
    return f"{level}{run.at(t).strftime('%m%d %H:%M:%S.%f')}       1 {where}] {message}"


def _sandbox_k8s_client(run: _Run) -> Program:
    app = _App(run)
    env = app.env
    verb = env.get("VERB") or "list"
    resource = env.get("RESOURCE") or "pods"
    group = env.get("API_GROUP", "")
    interval = _env_float(env, "INTERVAL_SECONDS", 5.0) or 5.0
    kind = _KINDS.get(resource) or resource.rstrip("s").capitalize()
    ns = run.ctx.namespace
    app.line(0.0, "INFO", f"starting {app.name} version={run.version} verb={verb} resource={resource} "
                          f"group={group or 'core'} namespace={ns}")
    denied = run.ctx.can_i(verb, resource, group)
    if denied is not None:
        if verb in ("list", "watch"):
            for t in (0.5, 1.5):
                where = "k8s.io/client-go/tools/cache/reflector.go:243"
                failed = f"failed to list *v1.{kind}: {denied}"
                app.klog(t, "W", "reflector.go:561", f"{where}: {failed}")
                app.klog(t, "E", "reflector.go:138", f"failed to list *v1.{kind}: {denied}")
            app.klog(2.0, "E", "main.go:71", "error: timed out waiting for caches to sync")
        else:
            for t in (0.5, 1.5):
                app.klog(t, "E", "main.go:88", f"failed to {verb} {resource}: {denied}")
            app.klog(2.0, "E", "main.go:92", f"giving up after 2 attempts: {verb} {resource}")
        return _exit(app.log, 1, 2.0, memory=app.memory(24), cpu=5)
    app.klog(0.2, "I", "shared_informer.go:313", f"Waiting for caches to sync for {app.name}")
    app.klog(0.4, "I", "shared_informer.go:320", f"Caches are synced for {app.name}")
    app.line(0.5, "INFO", f"{verb} {resource} ok namespace={ns} sync=0")
    return _serve(app.log, {8080: frozenset({"/healthz", "/metrics"})}, memory=app.memory(24), cpu=5,
                  periodic=f"{{ts}} INFO synced {resource} namespace={ns} sync={{n}}", period=interval)


_PANIC = [
    "panic: runtime error: invalid memory address or nil pointer dereference",
    "[signal SIGSEGV: segmentation violation code=0x1 addr=0x28 pc=0x6c1a5e]",
    "",
    "goroutine 37 [running]:",
    "main.(*Server).handleOrder(0xc0000b2000, {0x8a5d20, 0xc0001c8000}, 0xc0001d6000)",
    "\t/src/cmd/flaky/main.go:87 +0x3e",
    "net/http.HandlerFunc.ServeHTTP(0xc0000a6090?, {0x8a5d20?, 0xc0001c8000?}, 0x0?)",
    "\t/usr/local/go/src/net/http/server.go:2220 +0x29",
    "net/http.(*ServeMux).ServeHTTP(0x0?, {0x8a5d20, 0xc0001c8000}, 0xc0001d6000)",
    "\t/usr/local/go/src/net/http/server.go:2747 +0x1ca",
    "net/http.serverHandler.ServeHTTP({0xc0000b6060?}, {0x8a5d20?, 0xc0001c8000?}, 0x6?)",
    "\t/usr/local/go/src/net/http/server.go:3210 +0x8e",
    "net/http.(*conn).serve(0xc0000c4000, {0x8a6310, 0xc0000b4f60})",
    "\t/usr/local/go/src/net/http/server.go:2092 +0x5d0",
    "created by net/http.(*Server).Serve in goroutine 1",
    "\t/usr/local/go/src/net/http/server.go:3360 +0x485",
]


def _sandbox_flaky(run: _Run) -> Program:
    app = _App(run)
    crash = _env_float(app.env, "CRASH_AFTER", 20.0)
    port = app.port()
    app.line(0.0, "INFO", f"starting {app.name} version={run.version} port={port}")
    if isinstance(port, str):
        return app.fatal(0.5, port, 1)
    app.line(0.05, "INFO", f"listening addr=:{port}")
    t = 5.0
    while t < crash and t <= 600:
        app.line(t, "INFO", "request method=GET path=/ status=200 duration_ms=3")
        t += 5.0
    app.log.add(crash, *_PANIC)
    return Program("exit", after_seconds=round(crash, 3), exit_code=2, logs=app.log.lines,
                   serves={port: _WEB_PATHS}, memory_bytes=app.memory(20), cpu_millicores=5)


for _name, _handler, _size in [("web", _sandbox_web, 9_800_000), ("api", _sandbox_api, 11_300_000),
                               ("worker", _sandbox_worker, 8_900_000), ("memhog", _sandbox_memhog, 7_400_000),
                               ("k8s-client", _sandbox_k8s_client, 14_600_000),
                               ("flaky", _sandbox_flaky, 9_100_000)]:
    _register(_Image(f"sandbox/{_name}", ("1.0", "1.1", "2.0", "latest"), size_bytes=_size,
                     entrypoint=(f"/usr/local/bin/{_name}",), shell="busybox", binaries={_name: _handler},
                     versions=_SANDBOX_VERSIONS))
