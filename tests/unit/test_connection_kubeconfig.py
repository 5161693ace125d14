"""Kubeconfig loading and validation, $KUBECONFIG merging, JWT facts and redaction (no cluster needed)."""

from __future__ import annotations

import base64
import json
import logging
import os
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubecopilot.cluster import Connection, TokenFacts, load_kubeconfig, token_facts
from kubecopilot.cluster._connection import parse_api_path
from kubecopilot.cluster._kubeconfig import decode_jwt_claims, in_cluster_kubeconfig
from kubecopilot.errors import ClusterUnreachableError, ContextNotFoundError, KubeconfigError

SECRET = "s3cr3t-t0ken-value-do-not-leak"
CERT_DATA = base64.b64encode(b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n").decode()


def config(**over: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "apiVersion": "v1", "kind": "Config",
        "clusters": [{"name": "c1", "cluster": {"server": "https://127.0.0.1:6443"}},
                     {"name": "c2", "cluster": {"server": "https://10.0.0.2:443"}}],
        "users": [{"name": "u1", "user": {"token": SECRET}}],
        "contexts": [{"name": "prod", "context": {"cluster": "c1", "user": "u1", "namespace": "payments"}},
                     {"name": "staging", "context": {"cluster": "c2", "user": "u1"}}],
        "current-context": "prod",
    }
    doc.update(over)
    return doc


def jwt(claims: dict[str, Any]) -> str:
    def b64(obj: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")
    return f"{b64({'alg': 'RS256', 'kid': 'k'})}.{b64(claims)}.c2lnbmF0dXJl"


# -- sources -------------------------------------------------------------------------------------------------


def test_dict_text_and_path_give_the_same_contexts(tmp_path: Path) -> None:
    path = tmp_path / "config"
    path.write_text(yaml.safe_dump(config()))
    for source in (config(), yaml.safe_dump(config()), str(path), path):
        kc = load_kubeconfig(source)
        assert kc.context_names() == ["prod", "staging"]
        r = kc.resolve()
        assert (r.name, r.server, r.namespace, r.user_name) == ("prod", "https://127.0.0.1:6443", "payments", "u1")
        assert kc.resolve("staging").namespace == "default"


def test_kubeconfig_env_merges_first_wins(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    a.write_text(yaml.safe_dump({
        "clusters": [{"name": "shared", "cluster": {"server": "https://first:1"}}],
        "users": [{"name": "ua", "user": {"token": "ta"}}],
        "contexts": [{"name": "ctx-a", "context": {"cluster": "shared", "user": "ua"}}],
        "current-context": "ctx-a"}))
    b.write_text(yaml.safe_dump({
        "clusters": [{"name": "shared", "cluster": {"server": "https://second:2"}},
                     {"name": "only-b", "cluster": {"server": "https://b:3"}}],
        "users": [{"name": "ub", "user": {"token": "tb"}}],
        "contexts": [{"name": "ctx-b", "context": {"cluster": "only-b", "user": "ub"}},
                     {"name": "ctx-shared", "context": {"cluster": "shared", "user": "ub"}}],
        "current-context": "ctx-b"}))
    env = {"KUBECONFIG": os.pathsep.join([str(a), str(tmp_path / "missing"), str(b)]), "HOME": str(tmp_path)}
    kc = load_kubeconfig(None, environ=env)
    assert kc.sources == [str(a), str(b)]
    assert kc.context_names() == ["ctx-a", "ctx-b", "ctx-shared"]
    assert kc.current_context == "ctx-a"  # first file wins (kubectl semantics)
    assert kc.resolve("ctx-shared").server == "https://first:1"
    assert kc.resolve("ctx-b").server == "https://b:3"


def test_default_location_and_nothing_found(tmp_path: Path) -> None:
    (tmp_path / ".kube").mkdir()
    with pytest.raises(KubeconfigError, match="no kubeconfig found"):
        load_kubeconfig(None, environ={"HOME": str(tmp_path)})
    (tmp_path / ".kube" / "config").write_text(yaml.safe_dump(config()))
    assert load_kubeconfig(None, environ={"HOME": str(tmp_path)}).current_context == "prod"


def test_relative_paths_resolve_against_the_file(tmp_path: Path) -> None:
    (tmp_path / "ca.crt").write_text("x")
    (tmp_path / "config").write_text(yaml.safe_dump(config(clusters=[
        {"name": "c1", "cluster": {"server": "https://h:1", "certificate-authority": "ca.crt"}}],
        contexts=[{"name": "prod", "context": {"cluster": "c1"}}])))
    r = load_kubeconfig(str(tmp_path / "config")).resolve()
    assert r.cluster.body["certificate-authority"] == str(tmp_path / "ca.crt")


def test_in_cluster(tmp_path: Path) -> None:
    (tmp_path / "token").write_text(SECRET)
    (tmp_path / "ca.crt").write_text("ca")
    (tmp_path / "namespace").write_text("team-a\n")
    kc = in_cluster_kubeconfig({"KUBERNETES_SERVICE_HOST": "10.96.0.1", "KUBERNETES_SERVICE_PORT": "443"}, tmp_path)
    r = kc.resolve()
    assert (r.server, r.namespace, r.credential_kind) == ("https://10.96.0.1:443", "team-a", "token")
    assert SECRET in r.secrets() and SECRET not in repr(kc) + repr(r)
    with pytest.raises(KubeconfigError, match="KUBERNETES_SERVICE_HOST"):
        in_cluster_kubeconfig({}, tmp_path)


# -- validation errors name the source and field, never the secret ---------------------------------------------


def _users(user: dict[str, Any]) -> dict[str, Any]:
    return config(users=[{"name": "u1", "user": user}])


CASES = [
    (config(users=[{"name": "u1", "user": {"token": 12345}}]), "users[0].user.token", "expected a string"),
    (_users({"token": SECRET + "\n" + SECRET}), "users[0].user.token", "whitespace or a line break"),
    (_users({"client-certificate-data": CERT_DATA, "client-key-data": SECRET + "!!"}),
     "users[0].user.client-key-data", "not valid base64"),
    (_users({"client-certificate-data": CERT_DATA}), "users[0].user.client-key", "needs both"),
    (_users({"username": "admin"}), "users[0].user.password", "needs both"),
    (_users({"exec": {"apiVersion": "client.authentication.k8s.io/v1beta1"}}), "users[0].user.exec.command",
     "missing"),
    (config(clusters=[{"name": "c1", "cluster": {"server": "https://127.0.0.1:6443"}},
                      {"name": "c2", "cluster": {"server": "not a url"}}]),
     "clusters[1].cluster.server", "not an API server URL"),
    (config(clusters=[{"name": "c1", "cluster": {}}]), "clusters[0].cluster.server", "missing"),
    (config(clusters=[{"name": "c1", "cluster": {"server": "https://h:1", "certificate-authority-data": "%%%"}}]),
     "clusters[0].cluster.certificate-authority-data", "not valid base64"),
    (config(contexts=[{"name": "prod", "context": {"user": "u1"}}]), "contexts[0].context.cluster", "missing"),
    (config(contexts="prod"), "contexts", "expected a list"),
    (config(users=[{"user": {"token": SECRET}}]), "users[0].name", "missing"),
    (config(clusters=[{"name": "c1", "cluster": {"server": "https://a:1"}},
                      {"name": "c1", "cluster": {"server": "https://b:1"}}]), "clusters[1].name", "duplicate"),
    ([1, 2], "(top level)", "expected a mapping"),
]


@pytest.mark.parametrize(("doc", "field", "problem"), CASES, ids=[c[1] + ":" + c[2] for c in CASES])
@pytest.mark.parametrize("form", ["dict", "text", "file"])
def test_validation_errors_name_source_and_field(doc: Any, field: str, problem: str, form: str,
                                                 tmp_path: Path) -> None:
    if form == "dict" and not isinstance(doc, dict):
        # Passed as a Python object, a list is a wrong argument type, not a malformed kubeconfig.
        with pytest.raises(TypeError, match="kubeconfig must be a path, YAML text, a dict or None, not list"):
            load_kubeconfig(doc)
        return
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(doc))
    source, label = {"dict": (doc, "<dict>"), "text": ("---\n" + yaml.safe_dump(doc), "<text>"),
                     "file": (str(path), str(path))}[form]
    with pytest.raises(KubeconfigError) as info:
        load_kubeconfig(source)
    e = info.value
    assert (e.source, e.field) == (label, field)
    assert problem in str(e) and label in str(e) and field in str(e)
    assert SECRET not in str(e)


@pytest.mark.parametrize(("context", "field", "problem"), [
    ("prod", "contexts[0].context.cluster", "refers to cluster 'nope'"),
    ("staging", "contexts[1].context.user", "refers to user 'ghost'"),
])
def test_dangling_references(tmp_path: Path, context: str, field: str, problem: str) -> None:
    doc = config(contexts=[{"name": "prod", "context": {"cluster": "nope", "user": "u1"}},
                           {"name": "staging", "context": {"cluster": "c1", "user": "ghost"}}])
    path = tmp_path / "kc"
    path.write_text(yaml.safe_dump(doc))
    with pytest.raises(KubeconfigError) as info:
        load_kubeconfig(str(path)).resolve(context)
    assert (info.value.source, info.value.field) == (str(path), field)
    assert problem in str(info.value)


def test_missing_referenced_file(tmp_path: Path) -> None:
    doc = config(users=[{"name": "u1", "user": {"tokenFile": "missing-token"}}])
    (tmp_path / "kc").write_text(yaml.safe_dump(doc))
    with pytest.raises(KubeconfigError, match=r"users\[0\]\.user\.tokenFile: file .*missing-token does not exist"):
        load_kubeconfig(str(tmp_path / "kc")).resolve()


def test_invalid_yaml_names_line_without_quoting(tmp_path: Path) -> None:
    text = f"apiVersion: v1\nusers:\n- name: u1\n  user:\n    token: {SECRET}: oops\n"
    with pytest.raises(KubeconfigError) as info:
        load_kubeconfig(text)
    assert info.value.field.startswith("line 5") and "invalid YAML" in str(info.value)
    assert SECRET not in str(info.value)
    (tmp_path / "empty").write_text("")
    with pytest.raises(KubeconfigError, match="empty"):
        load_kubeconfig(str(tmp_path / "empty"))
    with pytest.raises(KubeconfigError, match="does not exist"):
        load_kubeconfig(str(tmp_path / "nope"))


def test_unknown_context_lists_available_and_closest() -> None:
    kc = load_kubeconfig(config())
    with pytest.raises(ContextNotFoundError) as info:
        kc.resolve("prd")
    e = info.value
    assert e.available == ["prod", "staging"] and e.closest == "prod"
    assert "prod, staging" in str(e) and "Did you mean 'prod'" in str(e)
    with pytest.raises(ContextNotFoundError, match="'missing'"):
        load_kubeconfig(config(**{"current-context": "missing"})).resolve()


# -- JWT facts -----------------------------------------------------------------------------------------------


def test_jwt_facts_valid_expired_legacy_and_opaque() -> None:
    now = int(time.time())
    bound = jwt({"iss": "https://kubernetes.default.svc", "sub": "system:serviceaccount:team:robot",
                 "aud": ["https://kubernetes.default.svc"], "iat": now - 60, "exp": now + 3600,
                 "kubernetes.io": {"namespace": "team", "serviceaccount": {"name": "robot", "uid": "1"}}})
    f = token_facts(bound)
    assert (f.kind, f.issuer, f.subject, f.service_account) == (
        "jwt", "https://kubernetes.default.svc", "system:serviceaccount:team:robot", "team/robot")
    assert f.expired is False and int(f.expires_at.timestamp()) == now + 3600
    assert f.audience == ("https://kubernetes.default.svc",)
    assert "expires" in f.describe() and bound not in f.describe()

    expired = token_facts("Bearer " + jwt({"iss": "x", "sub": "me", "exp": now - 10}))
    assert expired.expired is True and "EXPIRED" in expired.describe()

    legacy = token_facts(jwt({"iss": "kubernetes/serviceaccount", "sub": "system:serviceaccount:ns:sa",
                              "kubernetes.io/serviceaccount/namespace": "ns",
                              "kubernetes.io/serviceaccount/service-account.name": "sa"}))
    assert legacy.expires_at is None and legacy.expired is None and legacy.service_account == "ns/sa"
    assert "no expiry" in legacy.describe()

    assert token_facts(SECRET).kind == "opaque" and token_facts(None).kind == "none"
    assert decode_jwt_claims("a.b.c") is None and decode_jwt_claims("not-a-jwt") is None
    assert SECRET not in repr(token_facts(SECRET)) and bound not in repr(f)
    assert isinstance(f, TokenFacts)


# -- redaction ------------------------------------------------------------------------------------------------


def test_no_secret_in_reprs_errors_or_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    doc = config(users=[{"name": "u1", "user": {"token": SECRET}}],
                 clusters=[{"name": "c1", "cluster": {"server": "https://user:pw-" + SECRET + "@127.0.0.1:1"}}],
                 contexts=[{"name": "prod", "context": {"cluster": "c1", "user": "u1"}}])
    kc = load_kubeconfig(doc)
    conn = Connection(kc, "prod", connect_timeout=1)
    try:
        texts = [repr(kc), repr(kc.resolve()), repr(conn), conn.server, str(kc.contexts), str(kc.users)]
        with pytest.raises(ClusterUnreachableError) as info:
            conn.get("/version")
        texts += [str(info.value), repr(info.value)]
        assert "127.0.0.1:1" in str(info.value) and "1 s" in str(info.value)
        texts += [r.getMessage() for r in caplog.records]
        for text in texts:
            assert SECRET not in text
    finally:
        conn.close()


def test_private_credential_dir_is_removed_on_close() -> None:
    key = base64.b64encode(b"-----BEGIN PRIVATE KEY-----\n" + SECRET.encode() + b"\n").decode()
    doc = config(users=[{"name": "u1", "user": {"client-certificate-data": CERT_DATA, "client-key-data": key}}],
                 clusters=[{"name": "c1", "cluster": {"server": "http://127.0.0.1:1"}}],
                 contexts=[{"name": "prod", "context": {"cluster": "c1", "user": "u1"}}])
    conn = Connection(load_kubeconfig(doc), connect_timeout=1)
    d = Path(conn._dir)
    assert d.is_dir() and (d.stat().st_mode & 0o777) == 0o700
    conn.close()
    assert not d.exists()


def test_parse_api_path() -> None:
    assert parse_api_path("/api/v1/namespaces/ns/pods/p/log") == {
        "group": "", "version": "v1", "namespace": "ns", "resource": "pods/log", "name": "p"}
    assert parse_api_path("/apis/apps/v1/deployments")["resource"] == "deployments"
    assert parse_api_path("/api/v1/namespaces/x") == {
        "group": "", "version": "v1", "namespace": None, "resource": "namespaces", "name": "x"}
