"""The image catalog: resolution, what each image does, the sandbox/* knobs, OOM, start errors, probes."""

from __future__ import annotations

from collections.abc import Callable
from decimal import ROUND_HALF_UP, Decimal, localcontext

import pytest

from kubecopilot.sandbox.simulator._catalog import (
    LOG_EPOCH,
    ContainerContext,
    ImageRef,
    Program,
    PullError,
    ServiceLookup,
    catalog_images,
    cluster_ip,
    exec_probe,
    resolve_image,
    start,
)

MiB = 1024 * 1024


def ctx(image: str, command: list[str] | None = None, args: list[str] | None = None,
        env: dict[str, str] | None = None, files: dict[str, str] | None = None, memory: int | None = None,
        resolve: Callable[[str], ServiceLookup] | None = None,
        can_i: Callable[[str, str, str], str | None] | None = None) -> ContainerContext:
    extra: dict[str, object] = {}
    if resolve is not None:
        extra["resolve_service"] = resolve
    if can_i is not None:
        extra["can_i"] = can_i
    return ContainerContext(image=image, command=command or [], args=args or [], env=env or {},
                            files=files or {}, memory_limit_bytes=memory, namespace="shop", pod_name="app-1",
                            container_name="billing-api", **extra)  # type: ignore[arg-type]


def run(image: str, **kw: object) -> Program:
    return start(ctx(image, **kw))  # type: ignore[arg-type]


def lines(p: Program) -> list[str]:
    return [line for _, line in p.logs]


def answers(mapping: dict[str, ServiceLookup]) -> Callable[[str], ServiceLookup]:
    return lambda host: mapping.get(host, ServiceLookup.MISSING)


# -- image resolution --------------------------------------------------------------------------------------


@pytest.mark.parametrize(("image", "repository", "tag", "reference"), [
    ("nginx", "docker.io/library/nginx", "latest", "docker.io/library/nginx:latest"),
    ("nginx:1.25", "docker.io/library/nginx", "1.25", "docker.io/library/nginx:1.25"),
    ("docker.io/library/redis:7", "docker.io/library/redis", "7", "docker.io/library/redis:7"),
    ("docker.io/redis:7", "docker.io/library/redis", "7", "docker.io/library/redis:7"),
    ("index.docker.io/library/redis:7", "docker.io/library/redis", "7", "docker.io/library/redis:7"),
    ("library/busybox:1.36", "docker.io/library/busybox", "1.36", "docker.io/library/busybox:1.36"),
    ("bitnami/redis", "docker.io/bitnami/redis", "latest", "docker.io/bitnami/redis:latest"),
    ("quay.io/prometheus/busybox:latest", "quay.io/prometheus/busybox", "latest",
     "quay.io/prometheus/busybox:latest"),
    ("registry.k8s.io/pause:3.9", "registry.k8s.io/pause", "3.9", "registry.k8s.io/pause:3.9"),
    ("k8s.gcr.io/pause:3.9", "registry.k8s.io/pause", "3.9", "registry.k8s.io/pause:3.9"),
    ("ghcr.io/stefanprodan/podinfo:6.7.1", "ghcr.io/stefanprodan/podinfo", "6.7.1",
     "ghcr.io/stefanprodan/podinfo:6.7.1"),
    ("sandbox/api:1.0", "sandbox/api", "1.0", "sandbox/api:1.0"),
    ("sandbox/web", "sandbox/web", "latest", "sandbox/web:latest"),
])
def test_resolve_normalises_like_containerd(image: str, repository: str, tag: str, reference: str) -> None:
    ref = resolve_image(image)
    assert isinstance(ref, ImageRef)
    assert (ref.repository, ref.tag, ref.reference) == (repository, tag, reference)
    assert ref.size_bytes > 0


def test_digests_are_accepted_for_catalog_images() -> None:
    digest = "sha256:" + "ab" * 32
    ref = resolve_image(f"nginx@{digest}")
    assert isinstance(ref, ImageRef)
    assert ref.reference == f"docker.io/library/nginx@{digest}"
    ref = resolve_image(f"nginx:1.25@{digest}")
    assert isinstance(ref, ImageRef)
    assert ref.reference == f"docker.io/library/nginx:1.25@{digest}"


def test_unknown_tag_is_not_found() -> None:
    err = resolve_image("nginx:1.99")
    assert err == PullError("not-found", 'rpc error: code = NotFound desc = failed to pull and unpack image '
                                         '"docker.io/library/nginx:1.99": failed to resolve reference '
                                         '"docker.io/library/nginx:1.99": '
                                         "docker.io/library/nginx:1.99: not found")
    assert isinstance(resolve_image("sandbox/api:9.9"), PullError)


def test_unknown_repository_is_repository_not_found() -> None:
    err = resolve_image("ngnix")
    assert err == PullError(
        "repository-not-found",
        'rpc error: code = Unknown desc = failed to pull and unpack image "docker.io/library/ngnix:latest": '
        'failed to resolve reference "docker.io/library/ngnix:latest": pull access denied, repository does '
        "not exist or may require authorization: server message: insufficient_scope: authorization failed")
    for image in ("myorg/private-app:1.0", "quay.io/nobody/nothing:1", "ghcr.io/nobody/nothing",
                  "registry.k8s.io/nothing:1", "sandbox/nothing:1.0"):
        err = resolve_image(image)
        assert isinstance(err, PullError)
        assert err.reason == "repository-not-found", image


def test_unknown_registry_host() -> None:
    err = resolve_image("registry.example.com/app:1")
    assert err == PullError(
        "unknown-host",
        'rpc error: code = Unknown desc = failed to pull and unpack image "registry.example.com/app:1": '
        'failed to resolve reference "registry.example.com/app:1": failed to do request: Head '
        '"https://registry.example.com/v2/app/manifests/1": '
        "dial tcp: lookup registry.example.com: no such host")
    err = resolve_image("localhost:5000/team/app")
    assert isinstance(err, PullError)
    assert err.reason == "unknown-host"
    assert "localhost:5000/team/app:latest" in err.message


@pytest.mark.parametrize("image", ["Nginx", "nginx:", "nginx@sha256:short", "", "a//b", "nginx:bad tag"])
def test_invalid_references(image: str) -> None:
    err = resolve_image(image)
    assert isinstance(err, PullError)
    assert err.reason == "invalid-reference"
    assert "invalid reference format" in err.message


def test_nginx_tags_from_the_brief() -> None:
    for tag in ("latest", "stable", "alpine", "1.25", "1.25.3", "1.26", "1.27", "1.27-alpine"):
        assert isinstance(resolve_image(f"nginx:{tag}"), ImageRef), tag


def test_sizes_are_plausible_and_stable() -> None:
    full, alpine = resolve_image("nginx:1.27"), resolve_image("nginx:1.27-alpine")
    assert isinstance(full, ImageRef) and isinstance(alpine, ImageRef)
    assert 50e6 < full.size_bytes < 100e6
    assert alpine.size_bytes < full.size_bytes / 2
    pause = resolve_image("registry.k8s.io/pause:3.9")
    assert isinstance(pause, ImageRef) and pause.size_bytes < 1e6
    assert resolve_image("nginx:1.27") == full


CATALOG = [(repo, tag) for repo, tags in catalog_images().items() for tag in tags]


@pytest.mark.parametrize(("repo", "tag"), CATALOG)
def test_every_catalog_image_resolves_and_starts(repo: str, tag: str) -> None:
    image = repo.removeprefix("docker.io/library/") + ":" + tag
    ref = resolve_image(image)
    assert isinstance(ref, ImageRef), image
    assert "latest" in catalog_images()[repo]
    p = start(ctx(image))
    assert p.outcome in ("run", "exit"), (image, p)
    assert p.memory_bytes > 0
    assert start(ctx(image)) == p        # deterministic


# -- public servers ------------------------------------------------------------------------------------------


def test_nginx_serves_port_80_with_real_looking_logs() -> None:
    p = run("nginx:1.25.3")
    assert p.outcome == "run"
    assert p.serves[80] is not None and {"/", "/index.html"} <= p.serves[80]
    out = lines(p)
    assert out[0] == ("/docker-entrypoint.sh: /docker-entrypoint.d/ is not empty, "
                      "will attempt to perform configuration")
    assert "/docker-entrypoint.sh: Configuration complete; ready for start up" in out
    assert "2026/11/23 10:00:00 [notice] 1#1: nginx/1.25.3" in out
    assert p.periodic_log is not None
    assert "{ts}" in p.periodic_log and '"GET / HTTP/1.1" 200' in p.periodic_log
    assert 4 * MiB <= p.memory_bytes <= 16 * MiB


def test_nginx_reads_mounted_config() -> None:
    conf = ("server {\n  listen 8080;\n  location / { root /usr/share/nginx/html; }\n"
            "  location /healthz { return 200; }\n}\n")
    p = run("nginx", files={"/etc/nginx/conf.d/default.conf": conf})
    assert p.serves == {8080: frozenset({"/", "/index.html", "/healthz"})}
    broken = run("nginx", files={"/etc/nginx/conf.d/default.conf": "server {\n listen 80;\n}\n}\n"})
    assert (broken.outcome, broken.exit_code) == ("exit", 1)
    assert 'nginx: [emerg] unexpected "}" in /etc/nginx/conf.d/default.conf:4' in lines(broken)


def test_nginx_proxy_pass_to_a_missing_service_fails_at_startup() -> None:
    conf = "server { listen 80; location / { proxy_pass http://backend:8080; } }\n"
    files = {"/etc/nginx/conf.d/default.conf": conf}
    p = run("nginx", files=files, resolve=answers({}))
    assert p.exit_code == 1
    assert lines(p)[-1] == ('nginx: [emerg] host not found in upstream "backend:8080" in '
                            "/etc/nginx/conf.d/default.conf:1")
    resolves = answers({"backend": ServiceLookup.NO_ENDPOINTS})
    assert run("nginx", files=files, resolve=resolves).outcome == "run"


def test_nginx_without_daemon_off_forks_and_exits() -> None:
    p = run("nginx", command=["nginx"])
    assert (p.outcome, p.exit_code) == ("exit", 0)


def test_httpd_redis_memcached_rabbitmq_traefik_pause() -> None:
    httpd = run("httpd:2.4")
    assert httpd.outcome == "run" and 80 in httpd.serves
    assert any("AH00094: Command line: 'httpd -D FOREGROUND'" in line for line in lines(httpd))
    redis = run("redis:7")
    assert redis.serves == {6379: None}
    assert any("Ready to accept connections tcp" in line for line in lines(redis))
    assert 5 * MiB <= redis.memory_bytes <= 20 * MiB
    assert run("redis", args=["--port", "6380"]).serves == {6380: None}
    assert run("memcached").serves == {11211: None}
    rabbit = run("rabbitmq:3-management")
    assert 5672 in rabbit.serves and 15672 in rabbit.serves
    assert any("Server startup complete" in line for line in lines(rabbit))
    traefik = run("traefik:v3.1", args=["--ping=true", "--entrypoints.web.address=:8000"])
    assert traefik.outcome == "run"
    assert 8000 in traefik.serves and traefik.serves[8080] == frozenset({"/ping"})
    pause = run("registry.k8s.io/pause:3.9")
    assert (pause.outcome, pause.logs, pause.periodic_log) == ("run", [], None)


def test_redis_with_a_missing_config_file() -> None:
    p = run("redis", args=["/etc/redis/redis.conf"])
    assert p.exit_code == 1
    assert "Fatal error, can't open config file '/etc/redis/redis.conf': No such file or directory" \
        in lines(p)
    ok = run("redis", args=["/etc/redis/redis.conf"], files={"/etc/redis/redis.conf": "port 7000\n"})
    assert ok.serves == {7000: None}


def test_postgres_needs_a_password() -> None:
    p = run("postgres:16")
    assert (p.outcome, p.exit_code) == ("exit", 1)
    out = lines(p)
    assert out[0] == "Error: Database is uninitialized and superuser password is not specified."
    assert "       You must specify POSTGRES_PASSWORD to a non-empty value for the" in out
    assert '       You may also use "POSTGRES_HOST_AUTH_METHOD=trust" to allow all' in out
    for env in ({"POSTGRES_PASSWORD": "s3cret"}, {"POSTGRES_HOST_AUTH_METHOD": "trust"}):
        ok = run("postgres:16", env=env)
        assert ok.outcome == "run", env
        assert ok.serves == {5432: None}
        assert any("database system is ready to accept connections" in line for line in lines(ok))
        assert 30 * MiB <= ok.memory_bytes <= 60 * MiB
    assert any("WARNING: POSTGRES_HOST_AUTH_METHOD" in line
               for line in lines(run("postgres", env={"POSTGRES_HOST_AUTH_METHOD": "trust"})))


def test_postgres_run_directly_as_root_is_refused() -> None:
    p = run("postgres", command=["postgres"], env={"POSTGRES_PASSWORD": "x"})
    assert p.exit_code == 1
    assert lines(p)[0] == '"root" execution of the PostgreSQL server is not permitted.'


def test_mysql_needs_a_password_option() -> None:
    p = run("mysql:8.0")
    assert (p.outcome, p.exit_code) == ("exit", 1)
    assert any("[ERROR] [Entrypoint]: Database is uninitialized and password option is not specified" in line
               for line in lines(p))
    for var in ("MYSQL_ROOT_PASSWORD", "MYSQL_ALLOW_EMPTY_PASSWORD", "MYSQL_RANDOM_ROOT_PASSWORD"):
        ok = run("mysql:8.0", env={var: "yes"})
        assert ok.outcome == "run", var
        assert 3306 in ok.serves
    ready = run("mysql:8.0", env={"MYSQL_ROOT_PASSWORD": "x"})
    stamp = next(line for line in lines(ready) if "ready for connections" in line)
    t = next(t for t, line in ready.logs if line == stamp)
    assert stamp.startswith((LOG_EPOCH.replace(second=int(t))).strftime("%Y-%m-%dT%H:%M:%S"))


# -- interpreters --------------------------------------------------------------------------------------------


def test_python_default_is_a_repl_that_exits() -> None:
    p = run("python:3.12")
    assert (p.outcome, p.exit_code, p.after_seconds, p.logs) == ("exit", 0, 0.0, [])


def test_python_http_server() -> None:
    p = run("python", command=["python", "-m", "http.server"])
    assert p.outcome == "run"
    assert p.serves == {8000: frozenset({"/"})}
    assert 10 * MiB <= p.memory_bytes <= 40 * MiB
    assert run("python", command=["python3", "-m", "http.server", "9000"]).serves == {9000: frozenset({"/"})}
    unbuffered = run("python", command=["python", "-u", "-m", "http.server", "8080"])
    assert lines(unbuffered) == ["Serving HTTP on 0.0.0.0 port 8080 (http://0.0.0.0:8080/) ..."]


def test_python_c() -> None:
    assert run("python", command=["python", "-c", "x = 1 + 1"]).logs == []
    assert run("python", command=["python", "-c", "x = 1 + 1"]).exit_code == 0
    assert run("python", command=["python", "-c", "import sys; sys.exit(3)"]).exit_code == 3
    boom = run("python", command=["python", "-c", "raise RuntimeError('boom')"])
    assert boom.exit_code == 1
    assert lines(boom) == ["Traceback (most recent call last):", '  File "<string>", line 1, in <module>',
                           "RuntimeError: boom"]


def test_python_missing_script_is_resolved_against_root() -> None:
    p = run("python", command=["python", "app.py"])
    assert p.exit_code == 2
    assert lines(p) == ["python: can't open file '/app.py': [Errno 2] No such file or directory"]
    p = run("python", command=["python", "/app/app.py"])
    assert lines(p) == ["python: can't open file '/app/app.py': [Errno 2] No such file or directory"]


def test_python_script_from_a_configmap() -> None:
    missing_dep = run("python", command=["python", "/app/main.py"], files={"/app/main.py": "import flask\n"})
    assert missing_dep.exit_code == 1
    assert lines(missing_dep)[-1] == "ModuleNotFoundError: No module named 'flask'"
    server = ("import os\nfrom http.server import HTTPServer, BaseHTTPRequestHandler\n"
              "PORT = int(os.environ.get('PORT', '8000'))\nHTTPServer(('', PORT), BaseHTTPRequestHandler)"
              ".serve_forever()\n")
    p = run("python", command=["python", "/app/main.py"], env={"PORT": "9090"},
            files={"/app/main.py": server})
    assert p.outcome == "run" and 9090 in p.serves
    syntax = run("python", command=["python", "/app/main.py"], files={"/app/main.py": "print('x'\n"})
    assert syntax.exit_code == 1
    assert lines(syntax)[-1] == "SyntaxError: '(' was never closed"


def test_node() -> None:
    assert run("node:20").outcome == "exit"
    assert run("node:20").exit_code == 0
    p = run("node:20", command=["node", "server.js"])
    assert p.exit_code == 1
    assert "Error: Cannot find module '/server.js'" in lines(p)
    app = ("const http = require('http');\n"
           "http.createServer((q, r) => r.end('ok')).listen(process.env.PORT || 3000);\n")
    served = run("node:20", args=["server.js"], files={"/server.js": app})
    assert served.outcome == "run" and 3000 in served.serves
    assert 3001 in run("node:20", args=["/server.js"], files={"/server.js": app}, env={"PORT": "3001"}).serves


def test_perl_pi_job() -> None:
    p = run("perl:5.34.0", command=["perl", "-Mbignum=bpi", "-wle", "print bpi(2000)"])
    assert (p.outcome, p.exit_code) == ("exit", 0)
    assert 3 <= p.after_seconds <= 10
    (digits,) = lines(p)
    assert digits.startswith("3.14159265358979323846264338327950288419716939937510")
    assert len(digits) == 2001
    assert digits == _pi_gauss_legendre(2000)


def _pi_gauss_legendre(significant: int) -> str:
    """pi by another algorithm than the catalog's (Machin), rounded to `significant` digits."""
    with localcontext() as dec:
        dec.prec = significant + 20
        a, b, t, p = Decimal(1), Decimal(1) / Decimal(2).sqrt(), Decimal(1) / 4, Decimal(1)
        for _ in range(14):
            a, b, t, p = (a + b) / 2, (a * b).sqrt(), t - p * ((a - b) / 2) ** 2, p * 2
        pi = (a + b) ** 2 / (4 * t)
        dec.rounding = ROUND_HALF_UP
        return str(pi.quantize(Decimal(1).scaleb(-(significant - 1))))


# -- shell images --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("image", ["busybox", "alpine:3.20", "ubuntu:22.04", "debian:bookworm"])
def test_shell_images_exit_immediately_without_a_tty(image: str) -> None:
    p = run(image)
    assert (p.outcome, p.exit_code, p.after_seconds) == ("exit", 0, 0.0)


def test_shell_images_run_commands() -> None:
    p = run("busybox:1.36", command=["sh", "-c", "echo hi; sleep 5; exit 3"])
    assert (p.outcome, p.exit_code, p.after_seconds, lines(p)) == ("exit", 3, 5.0, ["hi"])
    assert run("busybox", command=["sleep", "3600"]).after_seconds == 3600.0
    assert run("alpine", args=["sleep", "10"]).after_seconds == 10.0
    for path in ("/bin/sleep", "/usr/bin/sleep", "/usr/local/bin/sleep"):
        assert run("busybox", command=[path, "1"]).outcome == "exit", path
    hostname = run("busybox", command=["hostname"], env={"HOSTNAME": "app-1"})
    assert lines(hostname) == ["app-1"]


def test_shell_scripts_use_the_images_programs() -> None:
    p = run("nginx", command=["sh", "-c", "echo starting; exec nginx -g 'daemon off;'"])
    assert p.outcome == "run"
    assert lines(p)[0] == "starting"
    assert 80 in p.serves


def test_init_container_waiting_for_a_service() -> None:
    script = ["sh", "-c",
              "until nslookup mydb.shop.svc.cluster.local; do echo waiting for mydb; sleep 2; done"]
    waiting = run("busybox:1.28", command=script, resolve=answers({}))
    assert waiting.outcome == "run"
    assert waiting.periodic_log is not None and "waiting for mydb" in waiting.periodic_log
    ready = run("busybox:1.28", command=script,
                resolve=answers({"mydb.shop.svc.cluster.local": ServiceLookup.NO_ENDPOINTS}))
    assert (ready.outcome, ready.exit_code) == ("exit", 0)


# -- sandbox/* images ----------------------------------------------------------------------------------------


def test_sandbox_web_defaults_and_knobs() -> None:
    p = run("sandbox/web:1.0")
    assert p.outcome == "run"
    assert p.serves == {8080: frozenset({"/", "/healthz", "/ready", "/metrics"})}
    assert p.memory_bytes == 32 * MiB
    assert lines(p)[0] == "2026-11-23T10:00:00Z INFO starting billing-api version=1.0 port=8080"
    assert p.periodic_log is not None and p.periodic_log.startswith("{ts} INFO ")
    custom = run("sandbox/web:2.0", env={"PORT": "9090", "MEMORY_MB": "100", "APP_NAME": "shop-web"})
    assert custom.serves.keys() == {9090}
    assert custom.memory_bytes == 100 * MiB
    assert "starting shop-web version=2.0 port=9090" in lines(custom)[0]
    bad = run("sandbox/web", env={"PORT": "http"})
    assert (bad.outcome, bad.exit_code) == ("exit", 1)


def test_sandbox_api_requires_database_url_by_default() -> None:
    p = run("sandbox/api:1.0")
    assert (p.outcome, p.exit_code) == ("exit", 1)
    assert 0.5 <= p.after_seconds <= 2
    assert lines(p)[-1] == ("2026-11-23T10:00:01Z FATAL config: "
                            "required environment variable DATABASE_URL is not set")
    assert run("sandbox/api:1.0", env={"DATABASE_URL": ""}).exit_code == 1
    ok = run("sandbox/api:1.0", env={"DATABASE_URL": "postgres://db/app"})
    assert ok.outcome == "run"
    assert ok.serves == {8080: frozenset({"/", "/healthz", "/ready", "/metrics"})}


def test_sandbox_api_require_env_list() -> None:
    env = {"REQUIRE_ENV": "API_KEY, REGION", "API_KEY": "k"}
    p = run("sandbox/api:1.1", env=env)
    assert lines(p)[-1].endswith("FATAL config: required environment variable REGION is not set")
    assert run("sandbox/api:1.1", env={**env, "REGION": "eu"}).outcome == "run"
    assert run("sandbox/api:1.1", env={"REQUIRE_ENV": ""}).outcome == "run"


def test_sandbox_api_config_file() -> None:
    env = {"DATABASE_URL": "x", "CONFIG_FILE": "/etc/app/config.yaml"}
    p = run("sandbox/api", env=env)
    assert p.exit_code == 2
    assert lines(p)[-1].endswith("FATAL config: open /etc/app/config.yaml: no such file or directory")
    assert run("sandbox/api", env=env, files={"/etc/app/config.yaml": "db: main\n"}).outcome == "run"
    broken = run("sandbox/api", env=env, files={"/etc/app/config.yaml": "a: [1\nb: 2\n"})
    assert broken.exit_code == 2
    assert "FATAL config: yaml: line 2" in lines(broken)[-1]


def test_sandbox_api_upstream() -> None:
    env = {"DATABASE_URL": "x", "UPSTREAM": "payments-db:5432"}
    missing = run("sandbox/api", env=env, resolve=answers({}))
    assert missing.exit_code == 1
    assert lines(missing)[-1].endswith(
        "FATAL upstream: dial tcp: lookup payments-db on 10.96.0.10:53: no such host")
    refused = run("sandbox/api", env=env, resolve=answers({"payments-db": ServiceLookup.NO_ENDPOINTS}))
    assert refused.exit_code == 1
    ip = cluster_ip("payments-db", "shop")
    assert lines(refused)[-1].endswith(f"FATAL upstream: dial tcp {ip}:5432: connect: connection refused")
    assert run("sandbox/api", env=env, resolve=answers({"payments-db": ServiceLookup.OK})).outcome == "run"


@pytest.mark.parametrize("host", ["payments", "payments.billing", "payments.billing.svc",
                                  "payments.billing.svc.cluster.local"])
def test_sandbox_api_passes_the_upstream_host_as_written(host: str) -> None:
    asked: list[str] = []

    def resolve(name: str) -> ServiceLookup:
        asked.append(name)
        return ServiceLookup.OK

    assert run("sandbox/api", env={"DATABASE_URL": "x", "UPSTREAM": host}, resolve=resolve).outcome == "run"
    assert asked == [host]


def test_sandbox_worker() -> None:
    p = run("sandbox/worker:1.0")
    assert (p.outcome, p.exit_code, p.after_seconds) == ("exit", 0, 3.0)
    assert "INFO job complete" in lines(p)[-1]
    failing = run("sandbox/worker", env={"EXIT_CODE": "3", "WORK_SECONDS": "7"})
    assert (failing.exit_code, failing.after_seconds) == (3, 7.0)
    assert lines(failing)[-1].endswith("ERROR job failed: upstream returned 503")
    custom = run("sandbox/worker", env={"EXIT_CODE": "1", "FAIL_MESSAGE": "no input files"})
    assert lines(custom)[-1].endswith("ERROR no input files")
    assert all(t <= custom.after_seconds for t, _ in custom.logs)


def test_sandbox_memhog() -> None:
    p = run("sandbox/memhog")
    assert p.outcome == "run"
    assert p.memory_bytes >= 512 * MiB
    assert p.serves == {8080: frozenset({"/", "/healthz"})}
    assert any("allocated 256MiB/512MiB" in line for line in lines(p))
    oom = run("sandbox/memhog", env={"MEMORY_MB": "512", "RAMP_SECONDS": "4"}, memory=256 * MiB)
    assert (oom.outcome, oom.exit_code) == ("oom", 137)
    assert 1.5 < oom.after_seconds < 2.5     # half of the ramp
    assert all(t < oom.after_seconds for t, _ in oom.logs)
    assert not any("allocation complete" in line for line in lines(oom))
    assert run("sandbox/memhog", env={"MEMORY_MB": "100"}, memory=256 * MiB).outcome == "run"


FORBIDDEN = ('pods is forbidden: User "system:serviceaccount:shop:default" cannot list resource "pods" '
             'in API group "" in the namespace "shop"')


def test_sandbox_k8s_client_allowed() -> None:
    asked: list[tuple[str, str, str]] = []

    def can_i(verb: str, resource: str, group: str) -> str | None:
        asked.append((verb, resource, group))
        return None

    p = run("sandbox/k8s-client", can_i=can_i)
    assert p.outcome == "run"
    assert asked == [("list", "pods", "")]
    assert p.periodic_log is not None and "{n}" in p.periodic_log and "pods" in p.periodic_log
    run("sandbox/k8s-client", can_i=can_i,
        env={"VERB": "watch", "RESOURCE": "deployments", "API_GROUP": "apps"})
    assert asked[-1] == ("watch", "deployments", "apps")


def test_sandbox_k8s_client_forbidden() -> None:
    p = run("sandbox/k8s-client", can_i=lambda verb, resource, group: FORBIDDEN)
    assert (p.outcome, p.exit_code) == ("exit", 1)
    assert 1 <= p.after_seconds <= 3
    errors = [line for line in lines(p) if line.startswith("E1123 ")]
    assert any(line.endswith(f"reflector.go:138] failed to list *v1.Pod: {FORBIDDEN}") for line in errors)


def test_sandbox_flaky() -> None:
    p = run("sandbox/flaky")
    assert (p.outcome, p.exit_code, p.after_seconds) == ("exit", 2, 20.0)
    out = lines(p)
    assert "panic: runtime error: invalid memory address or nil pointer dereference" in out
    assert out[-1].startswith("\t/usr/local/go/src/")
    assert 8080 in p.serves
    assert run("sandbox/flaky", env={"CRASH_AFTER": "3"}).after_seconds == 3.0


@pytest.mark.parametrize("c", [
    ctx("nginx"), ctx("postgres", env={"POSTGRES_PASSWORD": "x"}),
    ctx("mysql", env={"MYSQL_ROOT_PASSWORD": "x"}),
    ctx("bitnami/redis", env={"ALLOW_EMPTY_PASSWORD": "yes"}), ctx("sandbox/flaky"), ctx("sandbox/worker"),
    ctx("sandbox/memhog", memory=100 * MiB), ctx("busybox", command=["sh", "-c", "echo a; sleep 2; echo b"]),
    ctx("python", command=["python", "-c", "print('a'); raise SystemExit(4)"]),
    ctx("node", command=["sh", "-c", "sleep 1; node /x.js"]),
], ids=lambda c: c.image)
def test_log_timelines_are_ordered_and_end_with_the_program(c: ContainerContext) -> None:
    p = start(c)
    offsets = [t for t, _ in p.logs]
    assert offsets == sorted(offsets)
    if p.outcome in ("exit", "oom"):
        assert all(t <= p.after_seconds for t in offsets)


def test_logs_are_deterministic() -> None:
    c = ctx("sandbox/api:1.0", env={"DATABASE_URL": "x"})
    assert start(c) == start(c)


# -- universal rules -----------------------------------------------------------------------------------------


def test_oom_when_the_working_set_exceeds_the_limit() -> None:
    p = run("nginx", memory=4 * MiB)
    assert (p.outcome, p.exit_code) == ("oom", 137)
    assert 1.0 <= p.after_seconds <= 3.0
    assert all(t < p.after_seconds for t, _ in p.logs)
    assert run("nginx", memory=64 * MiB).outcome == "run"
    assert run("mysql", env={"MYSQL_ROOT_PASSWORD": "x"}, memory=256 * MiB).outcome == "oom"
    batch = run("sandbox/worker", env={"MEMORY_MB": "64"}, memory=32 * MiB)
    assert batch.outcome == "oom"
    assert batch.after_seconds <= 3.0


def test_start_error_for_a_missing_executable() -> None:
    p = run("nginx", command=["myapp"])
    assert (p.outcome, p.exit_code) == ("start-error", 128)
    assert p.message == ("failed to create containerd task: failed to create shim task: OCI runtime create "
                         "failed: runc create failed: unable to start container process: "
                         'exec: "myapp": executable file not found in $PATH: unknown')
    assert run("registry.k8s.io/pause", command=["sh"]).outcome == "start-error"
    assert run("busybox", command=["/opt/sleep", "1"]).outcome == "start-error"
    assert "no such file or directory" in run("busybox", command=["/app/run"]).message


def test_args_to_an_entrypoint_that_cannot_exec_them() -> None:
    p = run("nginx", args=["myapp"])
    assert (p.outcome, p.exit_code) == ("exit", 127)
    assert lines(p) == ["/docker-entrypoint.sh: line 1: exec: myapp: not found"]


# -- exec probes ---------------------------------------------------------------------------------------------


def test_exec_probe_cat_true_false() -> None:
    c = ctx("busybox", command=["sleep", "3600"], files={"/tmp/healthy": "ok\n"})
    assert exec_probe(c, ["cat", "/tmp/healthy"]) == (True, "ok")
    ok, out = exec_probe(c, ["cat", "/tmp/missing"])
    assert (ok, out) == (False, "cat: can't open '/tmp/missing': No such file or directory")
    assert exec_probe(c, ["true"])[0] is True
    assert exec_probe(c, ["false"])[0] is False


def test_exec_probe_through_the_shell() -> None:
    c = ctx("alpine", command=["sleep", "3600"], env={"READY": "1"})
    assert exec_probe(c, ["sh", "-c", '[ "$READY" = 1 ] && echo ready']) == (True, "ready")
    assert exec_probe(c, ["sh", "-c", "exit 3"])[0] is False
    assert exec_probe(c, ["/bin/sh", "-c", "sleep 100; echo late"]) == (True, "late")   # instant


def test_exec_probe_database_clients() -> None:
    good = ctx("postgres:16", env={"POSTGRES_PASSWORD": "x"})
    accepting = "/var/run/postgresql:5432 - accepting connections"
    assert exec_probe(good, ["pg_isready", "-U", "postgres"]) == (True, accepting)
    bad = ctx("postgres:16")
    assert exec_probe(bad, ["pg_isready"]) == (False, "/var/run/postgresql:5432 - no response")
    assert exec_probe(ctx("redis"), ["redis-cli", "ping"]) == (True, "PONG")
    mysql = ctx("mysql", env={"MYSQL_ROOT_PASSWORD": "x"})
    assert exec_probe(mysql, ["mysqladmin", "ping"]) == (True, "mysqld is alive")


def test_exec_probe_unknown_binary() -> None:
    assert exec_probe(ctx("nginx"), ["x"]) == (
        False, "OCI runtime exec failed: exec failed: unable to start container process: "
               'exec: "x": executable file not found in $PATH: unknown')
    assert exec_probe(ctx("registry.k8s.io/pause"), ["cat", "/etc/hostname"])[0] is False


def test_exec_probe_http_against_own_listeners() -> None:
    c = ctx("sandbox/web")
    assert exec_probe(c, ["wget", "-q", "-O-", "http://localhost:8080/healthz"])[0] is True
    assert exec_probe(c, ["wget", "-q", "-O-", "http://localhost:8080/nope"]) == (
        False, "wget: server returned error: HTTP/1.1 404 Not Found")
