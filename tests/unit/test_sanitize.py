"""The sanitizer: what must be redacted is, what Kubernetes needs to stay readable stays, and it reverses."""

from __future__ import annotations

import base64
import json

import pytest

from kubecopilot.ai import Redactor
from kubecopilot.ai._sanitize import scrub_credentials

JWT = "eyJhbGciOiJSUzI1NiIsImtpZCI6IjEifQ.eyJpc3MiOiJrdWJlcm5ldGVzIiwic3ViIjoiYWRtaW4ifQ.c2lnbmF0dXJlLWJ5dGVzLTEyMw"
DIGEST = "sha256:" + "4f3c2a1b" * 8
PEM = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo\n4lgOEePzNm0tRgeLezV6ffAt0gunVTLw\n" \
      "-----END RSA PRIVATE KEY-----"


@pytest.mark.parametrize(("text", "original", "category", "prefix"), [
    ("dial tcp 10.96.4.7:5432: connect: connection refused", "10.96.4.7", "ip", "IP"),
    ("upstream [2001:db8::8a2e:370:7334]:443 reset", "2001:db8::8a2e:370:7334", "ip", "IP"),
    ("peer fe80::1%eth0 unreachable", "fe80::1%eth0", "ip", "IP"),
    ("login failed for alice.smith+ops@example.com", "alice.smith+ops@example.com", "email", "EMAIL"),
    ("request 3f1c2b4a-1111-2222-3333-444455556666 failed", "3f1c2b4a-1111-2222-3333-444455556666", "uuid", "UUID"),
    (f"pulled docker.io/library/nginx@{DIGEST}", DIGEST.split(":")[1], "hash", "HASH"),
    ("commit 9fceb02d0ae598e95dc970b74767f19372d61af8 deployed", "9fceb02d0ae598e95dc970b74767f19372d61af8", "hash",
     "HASH"),
    (f"Authorization: Bearer {JWT}", JWT, "jwt", "JWT"),
    (f"token {JWT} expired", JWT, "jwt", "JWT"),
    ("Authorization: Bearer 0a1B2c3D4e5F6g7H8", "0a1B2c3D4e5F6g7H8", "bearer", "TOKEN"),
    ("Authorization: Basic YWRtaW46czNjcjN0", "YWRtaW46czNjcjN0", "bearer", "TOKEN"),
    ("OPENAI key sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8t in env", "sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8t", "api_key", "APIKEY"),
    ("aws AKIAIOSFODNN7EXAMPLE used", "AKIAIOSFODNN7EXAMPLE", "api_key", "APIKEY"),
    ("git clone with ghp_16C7e42F292c6912E7710c838347Ae178B4a", "ghp_16C7e42F292c6912E7710c838347Ae178B4a",
     "api_key", "APIKEY"),
    ("starting with DB_PASSWORD=s3cr3t-Pa55 and more", "s3cr3t-Pa55", "kv_secret", "SECRET"),
    ('config {"api_key": "k-12345-abc"} loaded', "k-12345-abc", "kv_secret", "SECRET"),
    ("client_secret: qwertyuiop1 (from env)", "qwertyuiop1", "kv_secret", "SECRET"),
    (f"mounted key {PEM} ok", PEM, "pem", "PEM"),
])
def test_each_category_is_redacted_and_counted(text: str, original: str, category: str, prefix: str) -> None:
    r = Redactor()
    out = r.redact(text)
    assert original not in out
    assert f"<{prefix}_1>" in out
    assert r.counts == {category: 1}
    assert r.restore(out) == text


@pytest.mark.parametrize("text", [
    'resourceVersion "1234567" generation 42',
    "image nginx:1.25 and redis:7.2.4-alpine and python:3.12-slim",
    "2026-11-23T10:00:00Z last seen 2026-11-23T10:00:05.123456Z",
    "E1123 10:00:00.500000       1 reflector.go:138] failed",
    "requests cpu=10m memory=500Mi limits cpu=1 memory=1Gi ephemeral-storage=2G",
    "pod web-7d4b9c8f5d-x2k9p pod-template-hash=7d4b9c8f5d controller-revision-hash=6c9f8d7b5",
    "listen 0.0.0.0:8080 and 127.0.0.1:9090 and [::]:80 and ::1",
    "kubelet v1.20.2 and app v1.2.3.4 build 1.2.3",
    "Back-off restarting failed container app in pod web_shop(uid)",
    'MountVolume.SetUp failed for volume "secret-vol" : secret "db-creds" not found',
    "secretName: db-creds secretKeyRef key=password",
    "Basic authentication required",
    "pod sk-learn-worker-deployment-abcdefghij ok",
    "token=true password=null",
    "mac 12:34:56:78:9a:bc at 10:00:00",
    "std::vector<int> and a::b",
    "0/3 nodes are available: 3 Insufficient memory.",
])
def test_kubernetes_isms_survive(text: str) -> None:
    r = Redactor()
    assert r.redact(text) == text, r.counts
    assert r.counts == {}


def test_same_original_same_placeholder_and_numbering_per_category() -> None:
    r = Redactor()
    out = r.redact(["db 10.0.0.7 down", "retrying 10.0.0.7", "fallback 10.0.0.8", "mail a@b.io"])
    assert out == ["db <IP_1> down", "retrying <IP_1>", "fallback <IP_2>", "mail <EMAIL_1>"]
    assert r.counts == {"ip": 3, "email": 1}
    assert len(r) == 3


def test_nested_structures_keys_and_values_are_walked() -> None:
    secret = "hunter2-prod-pass"
    r = Redactor(secret_values=[secret])
    obj = {
        "metadata": {"uid": "3f1c2b4a-1111-2222-3333-444455556666", "resourceVersion": "981",
                     "annotations": {"note": f"pw is {secret}"}},
        "status": {"podIP": "10.244.1.5", "hostIP": "172.18.0.2", "restartCount": 4, "ready": False},
        "data": {secret: "used as a key"},
        "list": [("tuple", "10.244.1.5"), None, 3.5],
    }
    out = r.redact(obj)
    text = json.dumps(out)
    for original in (secret, "10.244.1.5", "172.18.0.2", "3f1c2b4a-1111-2222-3333-444455556666"):
        assert original not in text
    assert out["metadata"]["resourceVersion"] == "981"
    assert out["status"]["restartCount"] == 4 and out["status"]["ready"] is False
    assert out["list"][0] == ["tuple", out["status"]["podIP"]]     # consistent across the tree
    assert out["list"][1:] == [None, 3.5]
    restored = r.restore(out)
    assert restored["data"] == {secret: "used as a key"}
    assert restored["metadata"]["annotations"]["note"] == f"pw is {secret}"
    assert restored["status"]["podIP"] == "10.244.1.5"


def test_secret_values_and_their_base64_forms() -> None:
    value = "s3cr3t?>value~~"   # base64 of it contains '+' and '/', so url-safe differs from standard
    std = base64.b64encode(value.encode()).decode()
    url = base64.urlsafe_b64encode(value.encode()).decode()
    assert std != url
    r = Redactor(secret_values=[value, b"bytes-secret", "ab", ""])
    out = r.redact(f"plain {value} std {std} url {url} nopad {std.rstrip('=')} bytes bytes-secret ab")
    for form in (value, std, url, "bytes-secret"):
        assert form not in out
    assert out.endswith(" ab")            # too short to redact by value: it would blank out every "ab"
    assert r.counts["secret_value"] == 5
    assert r.restore(out).startswith(f"plain {value} std {std}")


def test_secret_value_that_looks_like_something_else_is_still_a_secret() -> None:
    r = Redactor(secret_values=["10.1.2.3"])
    assert r.redact("connect 10.1.2.3") == "connect <SECRET_1>"
    assert r.counts == {"secret_value": 1}


def test_structural_secrets_in_mappings_and_pod_env() -> None:
    r = Redactor()
    out = r.redact({
        "password": "correct horse battery staple",
        "secretName": "db-creds",                    # a reference, not a secret
        "tokenExpirationSeconds": "3600",
        "env": [{"name": "DB_PASSWORD", "value": "plain text pw"}, {"name": "LOG_LEVEL", "value": "debug"},
                {"name": "API_TOKEN", "valueFrom": {"secretKeyRef": {"name": "api", "key": "token"}}}],
    })
    assert out["password"] == "<SECRET_1>"
    assert out["secretName"] == "db-creds"
    assert out["tokenExpirationSeconds"] == "3600"
    assert out["env"][0] == {"name": "DB_PASSWORD", "value": "<SECRET_2>"}
    assert out["env"][1] == {"name": "LOG_LEVEL", "value": "debug"}
    assert out["env"][2]["valueFrom"] == {"secretKeyRef": {"name": "api", "key": "token"}}
    # the same secret inside a JSON string (last-applied-configuration annotations)
    applied = json.dumps({"env": [{"name": "DB_PASSWORD", "value": "plain text pw2"}]}, separators=(",", ":"))
    assert "plain text pw2" not in r.redact(applied)


def test_pem_block_even_when_truncated() -> None:
    r = Redactor()
    truncated = "log: -----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC"
    assert r.redact(truncated) == "log: <PEM_1>"


def test_realistic_pod_keeps_what_a_diagnosis_needs() -> None:
    pod = {
        "metadata": {"name": "web-7d4b9c8f5d-x2k9p", "namespace": "shop", "uid": "0f8fad5b-d9cb-469f-a165-70867728950e",
                     "resourceVersion": "48213", "creationTimestamp": "2026-11-23T10:00:00Z",
                     "labels": {"app": "web", "pod-template-hash": "7d4b9c8f5d"},
                     "ownerReferences": [{"kind": "ReplicaSet", "name": "web-7d4b9c8f5d",
                                          "uid": "9b1deb4d-3b7d-4bad-9bdd-2b0d7b3dcb6d"}]},
        "spec": {"containers": [{"name": "app", "image": "nginx:1.25",
                                 "resources": {"limits": {"memory": "500Mi", "cpu": "250m"}}}],
                 "nodeName": "sandbox-node-1"},
        "status": {"phase": "Running", "podIP": "10.244.2.17", "hostIP": "172.18.0.3",
                   "containerStatuses": [{"name": "app", "restartCount": 7,
                                          "imageID": f"docker.io/library/nginx@{DIGEST}",
                                          "containerID": "containerd://" + "ab12" * 16,
                                          "lastState": {"terminated": {"exitCode": 137, "reason": "OOMKilled"}}}]},
    }
    r = Redactor()
    out = r.redact(pod)
    assert out["metadata"]["name"] == "web-7d4b9c8f5d-x2k9p"
    assert out["metadata"]["labels"] == {"app": "web", "pod-template-hash": "7d4b9c8f5d"}
    assert out["metadata"]["resourceVersion"] == "48213"
    assert out["metadata"]["creationTimestamp"] == "2026-11-23T10:00:00Z"
    assert out["spec"] == pod["spec"]
    cs = out["status"]["containerStatuses"][0]
    assert cs["lastState"] == pod["status"]["containerStatuses"][0]["lastState"]
    assert cs["imageID"] == "docker.io/library/nginx@sha256:<HASH_1>"
    assert cs["containerID"] == "containerd://<HASH_2>"
    assert r.counts == {"hash": 2, "ip": 2, "uuid": 2}
    assert r.restore(out) == pod


def test_restore_leaves_unknown_placeholders_and_plain_text() -> None:
    r = Redactor()
    r.redact("10.0.0.9")
    assert r.restore("<IP_1> and <IP_7> and <b>bold</b>") == "10.0.0.9 and <IP_7> and <b>bold</b>"
    assert r.restore(42) == 42


def test_repr_never_shows_originals() -> None:
    r = Redactor(secret_values=["topsecret-value"])
    r.redact("x topsecret-value 10.9.8.7")
    text = repr(r) + str(r) + str(r.placeholders())
    assert "topsecret" not in text and "10.9.8.7" not in text
    assert "secret_value" in repr(r)


def test_scrub_credentials_keeps_endpoints() -> None:
    key = "sk-test-FAKEKEY0123456789abcdefXYZ"
    text = f"POST http://10.0.0.5:8000/v1 with {key} failed (Bearer {JWT})"
    out = scrub_credentials(text, key)
    assert key not in out and JWT not in out
    assert "10.0.0.5:8000" in out


def test_many_secret_values_with_shared_prefixes_longest_wins() -> None:
    values = [f"tenant-{i:04d}-key" for i in range(500)] + ["tenant-0001-key-extended", "pass.word*1", "pass.word"]
    r = Redactor(secret_values=values)
    text = "a tenant-0001-key-extended b tenant-0001-key c tenant-0499-key d pass.word*1 e pass.word f tenant-0500-key"
    out = r.redact(text)
    assert out == ("a <SECRET_1> b <SECRET_2> c <SECRET_3> d <SECRET_4> e <SECRET_5> f tenant-0500-key")
    assert r.restore(out) == text


def test_a_certificate_sized_secret_value() -> None:
    cert_body = "\n".join("MIIB" + "x" * 60 + str(i) for i in range(60))     # ~4 kB, multi-line
    r = Redactor(secret_values=[cert_body])
    assert r.redact(f"mounted:\n{cert_body}\nend") == "mounted:\n<SECRET_1>\nend"
